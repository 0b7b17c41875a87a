/* tune_schema.h: the process-tuning tables of moe-factory in the results store (component
 * "fab_tune", docs/schema.md, section "moe-factory tuning"). */
#ifndef MOE_FACTORY_TUNE_SCHEMA_H
#define MOE_FACTORY_TUNE_SCHEMA_H

#include "moecore/store.h"

/* Brings the fab_tune_ tables up to date. */
mc_status fab_tune_schema_migrate(mc_store *s);

#endif
