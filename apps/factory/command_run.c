/* command_run.c: beginning a command's run with its tables up to date. */
#include "command_run.h"

#include "moecore/log.h"

mc_run *fab_command_run_begin(const mc_ctx *ctx, mc_status (*migrate)(mc_store *s)) {
    mc_run *run;
    mc_error err;
    if (mc_run_begin(&run, ctx, &err) != MC_OK) {
        mc_log_error("%s", err.msg);
        return NULL;
    }
    mc_status st = migrate(mc_run_store(run));
    if (st != MC_OK) {
        mc_log_error("%s", mc_store_error(mc_run_store(run))->msg);
        mc_run_end(run, st);
        return NULL;
    }
    return run;
}
