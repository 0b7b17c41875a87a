/* maint_schema.c: the fab_maint_ tables and their migrations (docs/schema.md, section
 * "moe-factory maintenance"). */
#include "maint_schema.h"

static const char *const maint_migrations[] = {
    /* 1: trained models, per-machine predictions, evaluations */
    "CREATE TABLE fab_maint_models ("
    " path TEXT PRIMARY KEY,"
    " horizon_h REAL NOT NULL,"
    " cap_h REAL NOT NULL,"
    " features INTEGER NOT NULL,"
    " conditions INTEGER NOT NULL,"
    " train_machines INTEGER NOT NULL,"
    " val_machines INTEGER NOT NULL,"
    " train_rows INTEGER NOT NULL,"
    " val_rows INTEGER NOT NULL,"
    " threshold REAL NOT NULL,"
    " val_f1 REAL NOT NULL,"
    " baseline TEXT NOT NULL,"
    " baseline_f1 REAL NOT NULL,"
    " epochs INTEGER NOT NULL,"
    " run_id TEXT NOT NULL REFERENCES runs(run_id)) STRICT;"
    "CREATE TABLE fab_maint_predictions ("
    " machine_id TEXT NOT NULL,"
    " as_of TEXT NOT NULL,"
    " model TEXT NOT NULL,"
    " sensors TEXT NOT NULL,"
    " horizon_h REAL NOT NULL,"
    " rul_h REAL NOT NULL,"
    " p_fail REAL NOT NULL CHECK (p_fail BETWEEN 0 AND 1),"
    " alarm INTEGER NOT NULL CHECK (alarm IN (0, 1)),"
    " drivers TEXT NOT NULL,"
    " run_id TEXT NOT NULL REFERENCES runs(run_id),"
    " PRIMARY KEY (machine_id, as_of, model)) STRICT, WITHOUT ROWID;"
    "CREATE INDEX fab_maint_predictions_run ON fab_maint_predictions(run_id);"
    "CREATE VIEW fab_maint_latest AS"
    " SELECT p.* FROM fab_maint_predictions p"
    " JOIN (SELECT machine_id, max(as_of) AS as_of FROM fab_maint_predictions GROUP BY machine_id) l"
    " USING (machine_id, as_of);"
    "CREATE TABLE fab_maint_evals ("
    " model TEXT NOT NULL,"
    " sensors TEXT NOT NULL,"
    " failures TEXT NOT NULL,"
    " method TEXT NOT NULL CHECK (method IN ('moe', 'one_sensor')),"
    " machines INTEGER NOT NULL,"
    " failed INTEGER NOT NULL,"
    " detected INTEGER NOT NULL,"
    " false_alarms INTEGER NOT NULL,"
    " precision REAL NOT NULL,"
    " recall REAL NOT NULL,"
    " lead_median_h REAL,"
    " lead_q1_h REAL,"
    " lead_q3_h REAL,"
    " false_alarms_per_month REAL NOT NULL,"
    " downtime_saved_vs_rtf REAL NOT NULL,"
    " downtime_saved_vs_fixed REAL NOT NULL,"
    " rul_rmse_h REAL,"
    " cmapss_score REAL,"
    " metrics TEXT NOT NULL,"
    " run_id TEXT NOT NULL REFERENCES runs(run_id),"
    " PRIMARY KEY (model, sensors, failures, method)) STRICT, WITHOUT ROWID;",
    /* the latest prediction of a finished run: a run killed on the way stays 'running' and is left out */
    "DROP VIEW fab_maint_latest;"
    "CREATE VIEW fab_maint_latest AS"
    " WITH done AS (SELECT p.* FROM fab_maint_predictions p JOIN runs r USING (run_id) WHERE r.status <> 'running')"
    " SELECT d.* FROM done d"
    " JOIN (SELECT machine_id, max(as_of) AS as_of FROM done GROUP BY machine_id) l USING (machine_id, as_of);",
    /* 3: the alarm goal of a model and what it achieved on the held-out machines (NULL for models
     * trained before goals); whether a predicted RUL is censored at the cap */
    "ALTER TABLE fab_maint_models ADD COLUMN alarm_goal TEXT;"
    "ALTER TABLE fab_maint_models ADD COLUMN goal_met INTEGER CHECK (goal_met IN (0, 1));"
    "ALTER TABLE fab_maint_models ADD COLUMN goal_shortfall REAL;"
    "ALTER TABLE fab_maint_models ADD COLUMN val_precision REAL;"
    "ALTER TABLE fab_maint_models ADD COLUMN val_recall REAL;"
    "ALTER TABLE fab_maint_models ADD COLUMN val_lead_median_h REAL;"
    "ALTER TABLE fab_maint_predictions ADD COLUMN rul_censored INTEGER NOT NULL DEFAULT 0"
    " CHECK (rul_censored IN (0, 1));",
};

mc_status fab_maint_schema_migrate(mc_store *s) {
    return mc_store_migrate(s, "fab_maintain", maint_migrations, (int)(sizeof maint_migrations / sizeof *maint_migrations));
}
