/* med_schema.h: moe-medical's tables in the results store (components med, med_find and med_eval,
 * docs/schema.md) and the writes of the reading stage: one row per series found, one per volume
 * written. */
#ifndef MOE_MEDICAL_MED_SCHEMA_H
#define MOE_MEDICAL_MED_SCHEMA_H

#include "moecore/store.h"
#include "dicom/series.h"

/* Brings every table of moe-medical up to date: the components med (series and volumes), med_find
 * (detect/findings_schema.h) and med_eval (eval/eval_schema.h). Every command that opens the
 * database calls it before anything else, so that all the tables exist whichever commands ran. */
mc_status med_schema_migrate(mc_store *s);

/* The salt of patient pseudonyms: opt when not NULL, else $MOESUITE_ID_SALT, else NULL. */
const char *med_id_salt(const char *opt);

/* Whether storing series s with salt leaves a Patient ID out unsaid: s has a Patient ID, salt is
 * NULL, and (when known_ok) med_series does not already hold s without a pseudonym, which the
 * command that stored it said. known_ok is 0 for scan, which says it every time, and 1 for convert,
 * which after a scan of the same series has nothing new to say. */
int med_id_left_out(mc_store *st, const med_series *s, const char *salt, int known_ok);

/* Warns, once per process, that patient IDs are not stored and how to store their pseudonyms. */
void med_warn_id_left_out(void);

/* The pseudonym of a patient ID: SHA-1 of salt, a NUL byte and the ID, as 40 hex digits. Empty
 * (no pseudonym) when salt or id is NULL or empty. */
void med_patient_hash(const char *salt, const char *id, char out[41]);

/* Inserts or updates the row of series s (by Series UID) written by run_id. The patient ID is
 * stored only as med_patient_hash(salt, id); names and birth dates are never read. Returns
 * MC_ERR_DB on failure (sqlite3_errmsg of the store's connection says why). */
mc_status med_store_series(mc_store *st, const char *run_id, const med_series *s, const char *salt);

/* Records that run_id wrote v (from series s) to path; resampled tells that uneven spacing was
 * interpolated. */
mc_status med_store_volume(mc_store *st, const char *run_id, const med_series *s, const med_volume *v,
                           const char *path, int resampled);

#endif
