/* inspect_schema.h: the tables of moe-factory's inspection (component "fab_inspect"; docs/schema.md,
 * section moe-factory inspection). */
#ifndef MOE_FACTORY_INSPECT_SCHEMA_H
#define MOE_FACTORY_INSPECT_SCHEMA_H

#include "moecore/store.h"

/* Brings the fab_inspect tables up to date. */
mc_status fab_inspect_schema_migrate(mc_store *s);

/* The counts of a model's training, or -1 where unknown (a model trained elsewhere). */
typedef struct fab_model_counts {
    int train_good, train_defect, val_good, val_defect;
    double val_auroc; /* NaN when unknown */
} fab_model_counts;

/* Records the model in fab_inspect_models when its hash is new; with counts (train) a known model's
 * row is replaced. Inside the caller's transaction. */
mc_status fab_inspect_record_model(mc_store *s, const char *run_id, const char *sha256, const char *path, const char *mode,
                                   int input_size, double threshold, const char *method, const fab_model_counts *counts);

#endif
