/* findings_schema.c: the med_findings table and its latest view, and the writes of detect. */
#include "findings_schema.h"

#include <math.h>

static const char *const find_migrations[] = {
    /* 1: findings per (series, model, rank), and the latest detection run's findings per series */
    "CREATE TABLE med_findings ("
    " series_uid TEXT NOT NULL,"
    " model TEXT NOT NULL,"
    " finding_index INTEGER NOT NULL CHECK (finding_index >= 1),"
    " model_path TEXT NOT NULL,"
    " x_mm REAL NOT NULL,"
    " y_mm REAL NOT NULL,"
    " z_mm REAL NOT NULL,"
    " diameter_mm REAL NOT NULL,"
    " probability REAL NOT NULL CHECK (probability BETWEEN 0 AND 1),"
    " nodule_type TEXT NOT NULL CHECK (nodule_type IN ('solid', 'part-solid', 'ground-glass')),"
    " solid_mm REAL NOT NULL,"
    " lungrads TEXT NOT NULL,"
    " malignancy REAL,"
    " brock REAL,"
    " run_id TEXT NOT NULL REFERENCES runs(run_id),"
    " PRIMARY KEY (series_uid, model, finding_index)) STRICT;"
    "CREATE INDEX med_findings_run ON med_findings(run_id);"
    "CREATE VIEW med_findings_latest AS"
    " SELECT f.* FROM med_findings f JOIN runs r ON r.run_id = f.run_id"
    " WHERE r.started_at = (SELECT max(r2.started_at) FROM med_findings f2 JOIN runs r2 ON r2.run_id = f2.run_id"
    "                       WHERE f2.series_uid = f.series_uid);",
    /* 2: the latest finished run's findings: a run killed on the way stays 'running' and is left out */
    "DROP VIEW med_findings_latest;"
    "CREATE VIEW med_findings_latest AS"
    " SELECT f.* FROM med_findings f JOIN runs r ON r.run_id = f.run_id"
    " WHERE r.started_at = (SELECT max(r2.started_at) FROM med_findings f2 JOIN runs r2 ON r2.run_id = f2.run_id"
    "                       WHERE f2.series_uid = f.series_uid AND r2.status <> 'running');",
    /* 3: what a finding's category and risks rest on less firmly: 'type' (the network was unsure of
     * it: the density rule's), 'size' (the network's diameter was bounded by the measured extent),
     * both, or NULL */
    "ALTER TABLE med_findings ADD COLUMN uncertain TEXT CHECK (uncertain IN ('type', 'size', 'type,size'));",
};

mc_status med_findings_migrate(mc_store *s) {
    return mc_store_migrate(s, "med_find", find_migrations, (int)(sizeof find_migrations / sizeof find_migrations[0]));
}

static void bind_real_or_null(sqlite3_stmt *st, int i, double v) {
    if (isnan(v)) sqlite3_bind_null(st, i);
    else sqlite3_bind_double(st, i, v);
}

mc_status med_store_findings(mc_store *s, const char *run_id, const char *series_uid, const char *model,
                             const char *model_path, const med_finding *f, int n) {
    sqlite3_stmt *st;
    if (mc_store_stmt(s, "DELETE FROM med_findings WHERE series_uid = ?1 AND model = ?2", &st) != MC_OK) return MC_ERR_DB;
    sqlite3_bind_text(st, 1, series_uid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, model, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) return MC_ERR_DB;
    for (int i = 0; i < n; i++) {
        if (mc_store_stmt(s,
                          "INSERT INTO med_findings(series_uid, model, finding_index, model_path, x_mm, y_mm, z_mm,"
                          " diameter_mm, probability, nodule_type, solid_mm, lungrads, malignancy, brock, run_id,"
                          " uncertain) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                          &st) != MC_OK)
            return MC_ERR_DB;
        sqlite3_bind_text(st, 1, series_uid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, model, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, f[i].index);
        sqlite3_bind_text(st, 4, model_path, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 5, f[i].x);
        sqlite3_bind_double(st, 6, f[i].y);
        sqlite3_bind_double(st, 7, f[i].z);
        sqlite3_bind_double(st, 8, f[i].diameter_mm);
        sqlite3_bind_double(st, 9, f[i].probability);
        sqlite3_bind_text(st, 10, med_nodule_type_name(f[i].type), -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 11, f[i].solid_mm);
        sqlite3_bind_text(st, 12, med_lungrads_name(f[i].lungrads), -1, SQLITE_STATIC);
        bind_real_or_null(st, 13, f[i].malignancy);
        bind_real_or_null(st, 14, f[i].brock);
        sqlite3_bind_text(st, 15, run_id, -1, SQLITE_STATIC);
        const char *unsure = med_unsure_name(f[i].uncertain);
        if (unsure) sqlite3_bind_text(st, 16, unsure, -1, SQLITE_STATIC);
        else sqlite3_bind_null(st, 16);
        if (sqlite3_step(st) != SQLITE_DONE) return MC_ERR_DB;
    }
    return MC_OK;
}
