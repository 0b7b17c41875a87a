/* schema.h: moe-finance's tables in the results store (component "fin"). */
#ifndef MOE_FINANCE_SCHEMA_H
#define MOE_FINANCE_SCHEMA_H

#include "moecore/store.h"

/* Brings the fin_ tables up to date. */
mc_status fin_schema_migrate(mc_store *s);

#endif
