/* command_run.h: the run of a moe-factory command that writes to the database: begun with
 * libmoecore's mc_run_begin, and its part of the schema (inspect_schema.h, tune_schema.h,
 * maint_schema.h) brought up to date before the command's first write. */
#ifndef MOE_FACTORY_COMMAND_RUN_H
#define MOE_FACTORY_COMMAND_RUN_H

#include "moecore/run.h"

/* Begins the run of ctx and migrates its tables with migrate. Returns the run (the caller ends it
 * with mc_run_end), or NULL after logging why; a run whose tables could not be migrated is ended
 * as failed first. */
mc_run *fab_command_run_begin(const mc_ctx *ctx, mc_status (*migrate)(mc_store *s));

#endif
