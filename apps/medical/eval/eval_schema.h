/* eval_schema.h: the evaluations of eval in the results store (component "med_eval", docs/schema.md):
 * one row per evaluation, keyed by the content of its inputs and options. */
#ifndef MOE_MEDICAL_EVAL_SCHEMA_H
#define MOE_MEDICAL_EVAL_SCHEMA_H

#include "moecore/store.h"

/* Brings the med_eval tables up to date. */
mc_status med_eval_migrate(mc_store *s);

#endif
