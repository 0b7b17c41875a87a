/* inspect_schema.c: the inspection tables and their migrations. */
#include "inspect_schema.h"

#include <math.h>

static const char *const migrations[] = {
    /* 1: models, per-image verdicts, evaluations */
    "CREATE TABLE fab_inspect_models ("
    " model_sha256 TEXT PRIMARY KEY,"
    " path TEXT NOT NULL,"
    " mode TEXT NOT NULL CHECK (mode IN ('supervised', 'anomaly')),"
    " input_size INTEGER NOT NULL,"
    " threshold REAL NOT NULL,"
    " threshold_method TEXT NOT NULL,"
    " train_good INTEGER,"
    " train_defect INTEGER,"
    " val_good INTEGER,"
    " val_defect INTEGER,"
    " val_auroc REAL,"
    " run_id TEXT NOT NULL REFERENCES runs(run_id)) STRICT;"
    "CREATE TABLE fab_inspections ("
    " image_sha256 TEXT NOT NULL,"
    " model_sha256 TEXT NOT NULL REFERENCES fab_inspect_models(model_sha256),"
    " path TEXT NOT NULL,"
    " width INTEGER NOT NULL,"
    " height INTEGER NOT NULL,"
    " verdict TEXT NOT NULL CHECK (verdict IN ('ok', 'defect')),"
    " score REAL NOT NULL,"
    " threshold REAL NOT NULL,"
    " bbox_x0 INTEGER,"
    " bbox_y0 INTEGER,"
    " bbox_x1 INTEGER,"
    " bbox_y1 INTEGER,"
    " defect_fraction REAL NOT NULL,"
    " ms REAL NOT NULL,"
    " heatmap TEXT,"
    " inspected_at TEXT NOT NULL,"
    " run_id TEXT NOT NULL REFERENCES runs(run_id),"
    " PRIMARY KEY (image_sha256, model_sha256)) STRICT, WITHOUT ROWID;"
    "CREATE INDEX fab_inspections_path ON fab_inspections(path);"
    "CREATE INDEX fab_inspections_run ON fab_inspections(run_id);"
    "CREATE VIEW fab_latest_inspections AS"
    " SELECT i.* FROM fab_inspections i"
    " JOIN (SELECT path, max(inspected_at) AS inspected_at FROM fab_inspections GROUP BY path) l USING (path, inspected_at);"
    "CREATE TABLE fab_inspect_evals ("
    " model_sha256 TEXT NOT NULL REFERENCES fab_inspect_models(model_sha256),"
    " data_sha256 TEXT NOT NULL,"
    " n_good INTEGER NOT NULL,"
    " n_defect INTEGER NOT NULL,"
    " threshold REAL NOT NULL,"
    " accuracy REAL NOT NULL,"
    " precision REAL,"
    " recall REAL NOT NULL,"
    " f1 REAL,"
    " image_auroc REAL NOT NULL,"
    " pixel_auroc REAL,"
    " ms_per_image REAL NOT NULL,"
    " roc_png TEXT,"
    " evaluated_at TEXT NOT NULL,"
    " run_id TEXT NOT NULL REFERENCES runs(run_id),"
    " PRIMARY KEY (model_sha256, data_sha256)) STRICT, WITHOUT ROWID;",
    /* the latest inspection of a finished run: a run killed on the way stays 'running' and is left out */
    "DROP VIEW fab_latest_inspections;"
    "CREATE VIEW fab_latest_inspections AS"
    " WITH done AS (SELECT i.* FROM fab_inspections i JOIN runs r USING (run_id) WHERE r.status <> 'running')"
    " SELECT d.* FROM done d"
    " JOIN (SELECT path, max(inspected_at) AS inspected_at FROM done GROUP BY path) l USING (path, inspected_at);",
};

mc_status fab_inspect_schema_migrate(mc_store *s) {
    return mc_store_migrate(s, "fab_inspect", migrations, (int)(sizeof migrations / sizeof *migrations));
}

mc_status fab_inspect_record_model(mc_store *s, const char *run_id, const char *sha256, const char *path, const char *mode,
                                   int input_size, double threshold, const char *method, const fab_model_counts *counts) {
    sqlite3_stmt *st;
    mc_status rc = mc_store_stmt(s,
                                 counts ? "INSERT OR REPLACE INTO fab_inspect_models VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
                                        : "INSERT OR IGNORE INTO fab_inspect_models VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                                 &st);
    if (rc != MC_OK) return rc;
    sqlite3_bind_text(st, 1, sha256, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, mode, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, input_size);
    sqlite3_bind_double(st, 5, threshold);
    sqlite3_bind_text(st, 6, method, -1, SQLITE_STATIC);
    if (counts) {
        sqlite3_bind_int(st, 7, counts->train_good);
        sqlite3_bind_int(st, 8, counts->train_defect);
        sqlite3_bind_int(st, 9, counts->val_good);
        sqlite3_bind_int(st, 10, counts->val_defect);
        if (isfinite(counts->val_auroc)) sqlite3_bind_double(st, 11, counts->val_auroc);
    }
    sqlite3_bind_text(st, 12, run_id, -1, SQLITE_STATIC);
    return sqlite3_step(st) == SQLITE_DONE ? MC_OK : MC_ERR_DB;
}
