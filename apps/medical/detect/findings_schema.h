/* findings_schema.h: the detector's findings in the results store (component "med_find",
 * docs/schema.md): one row per finding of a model on a series, and the view of the latest ones. */
#ifndef MOE_MEDICAL_FINDINGS_SCHEMA_H
#define MOE_MEDICAL_FINDINGS_SCHEMA_H

#include "detector.h"
#include "moecore/store.h"

/* Brings the med_find tables up to date. */
mc_status med_findings_migrate(mc_store *s);

/* Replaces the findings of model (its content hash) on series_uid with f[0 .. n), written by run_id,
 * inside the caller's transaction: running again on the same series and model leaves one set of rows.
 * MC_ERR_DB on failure (sqlite3_errmsg of the store's connection says why). */
mc_status med_store_findings(mc_store *s, const char *run_id, const char *series_uid, const char *model,
                             const char *model_path, const med_finding *f, int n);

#endif
