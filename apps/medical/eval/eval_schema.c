/* eval_schema.c: the med_froc_evals table, written by eval. */
#include "eval_schema.h"

/* The component med_eval: evaluations, keyed by the content of their inputs and options. */
static const char *const eval_migrations[] = {
    "CREATE TABLE med_froc_evals ("
    " eval_key TEXT PRIMARY KEY,"
    " annotations TEXT NOT NULL,"
    " predictions TEXT NOT NULL,"
    " excluded TEXT,"
    " scan_list TEXT,"
    " scans INTEGER NOT NULL,"
    " nodules INTEGER NOT NULL,"
    " detected INTEGER NOT NULL,"
    " marks INTEGER NOT NULL,"
    " false_positives INTEGER NOT NULL,"
    " ignored INTEGER NOT NULL,"
    " sens_fp_0125 REAL NOT NULL,"
    " sens_fp_025 REAL NOT NULL,"
    " sens_fp_05 REAL NOT NULL,"
    " sens_fp_1 REAL NOT NULL,"
    " sens_fp_2 REAL NOT NULL,"
    " sens_fp_4 REAL NOT NULL,"
    " sens_fp_8 REAL NOT NULL,"
    " cpm REAL NOT NULL,"
    " bootstrap INTEGER NOT NULL,"
    " cpm_lo REAL,"
    " cpm_hi REAL,"
    " result TEXT NOT NULL,"
    " run_id TEXT NOT NULL REFERENCES runs(run_id)) STRICT;"
    "CREATE INDEX med_froc_evals_run ON med_froc_evals(run_id);",
};

mc_status med_eval_migrate(mc_store *s) {
    return mc_store_migrate(s, "med_eval", eval_migrations, (int)(sizeof eval_migrations / sizeof eval_migrations[0]));
}
