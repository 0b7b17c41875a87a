/* maint_schema.h: the tables of moe-factory's predictive maintenance (component "fab_maintain",
 * docs/schema.md). */
#ifndef MOE_FACTORY_MAINT_SCHEMA_H
#define MOE_FACTORY_MAINT_SCHEMA_H

#include "moecore/store.h"

/* Brings the fab_maint_ tables up to date. */
mc_status fab_maint_schema_migrate(mc_store *s);

#endif
