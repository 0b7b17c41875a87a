/* med_schema.c: moe-medical's tables, their migrations, and the rows of scan and convert. */
#include "med_schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "detect/findings_schema.h"
#include "dicom/nifti_out.h"
#include "eval/eval_schema.h"
#include "moecore/log.h"

static const char *const med_migrations[] = {
    /* 1: the series found by scan and the volumes written by convert */
    "CREATE TABLE med_series ("
    " series_uid TEXT PRIMARY KEY,"
    " study_uid TEXT NOT NULL,"
    " patient_hash TEXT,"
    " modality TEXT NOT NULL,"
    " study_date TEXT,"
    " description TEXT,"
    " manufacturer TEXT,"
    " transfer_syntax TEXT,"
    " folder TEXT NOT NULL,"
    " n_files INTEGER NOT NULL,"
    " n_slices INTEGER NOT NULL,"
    " cols INTEGER NOT NULL,"
    " rows INTEGER NOT NULL,"
    " spacing_x REAL,"
    " spacing_y REAL,"
    " spacing_z REAL,"
    " slice_thickness REAL,"
    " origin_x REAL,"
    " origin_y REAL,"
    " origin_z REAL,"
    " orientation TEXT,"
    " usable INTEGER NOT NULL CHECK (usable IN (0, 1)),"
    " problems TEXT NOT NULL,"
    " run_id TEXT NOT NULL REFERENCES runs(run_id)) STRICT;"
    "CREATE INDEX med_series_study ON med_series(study_uid);"
    "CREATE INDEX med_series_patient ON med_series(patient_hash);"
    "CREATE TABLE med_volumes ("
    " series_uid TEXT NOT NULL REFERENCES med_series(series_uid),"
    " path TEXT NOT NULL,"
    " nx INTEGER NOT NULL,"
    " ny INTEGER NOT NULL,"
    " nz INTEGER NOT NULL,"
    " spacing_x REAL NOT NULL,"
    " spacing_y REAL NOT NULL,"
    " spacing_z REAL NOT NULL,"
    " affine TEXT NOT NULL,"
    " resampled INTEGER NOT NULL CHECK (resampled IN (0, 1)),"
    " hu_min REAL NOT NULL,"
    " hu_max REAL NOT NULL,"
    " run_id TEXT NOT NULL REFERENCES runs(run_id),"
    " PRIMARY KEY (series_uid, path)) STRICT;",
};

mc_status med_schema_migrate(mc_store *s) {
    mc_status st = mc_store_migrate(s, "med", med_migrations, (int)(sizeof med_migrations / sizeof *med_migrations));
    if (st == MC_OK) st = med_findings_migrate(s);
    if (st == MC_OK) st = med_eval_migrate(s);
    return st;
}

const char *med_id_salt(const char *opt) {
    if (opt && opt[0]) return opt;
    const char *env = getenv("MOESUITE_ID_SALT");
    return env && env[0] ? env : NULL;
}

int med_id_left_out(mc_store *st, const med_series *s, const char *salt, int known_ok) {
    if (salt || !s->patient_id[0]) return 0;
    if (!known_ok) return 1;
    sqlite3_stmt *q;
    if (mc_store_stmt(st, "SELECT 1 FROM med_series WHERE series_uid = ?1 AND patient_hash IS NULL", &q) != MC_OK)
        return 1;
    sqlite3_bind_text(q, 1, s->series_uid, -1, SQLITE_STATIC);
    int known = sqlite3_step(q) == SQLITE_ROW;
    sqlite3_reset(q);
    return !known;
}

void med_warn_id_left_out(void) {
    static int warned;
    if (warned) return;
    warned = 1;
    mc_log_warn("patient IDs are not stored: set MOESUITE_ID_SALT (a secret, the same every night) or --id-salt to "
                "store patient pseudonyms");
}

void med_patient_hash(const char *salt, const char *id, char out[41]) {
    out[0] = '\0';
    if (!salt || !salt[0] || !id || !id[0]) return;
    size_t ns = strlen(salt), ni = strlen(id);
    char *buf = malloc(ns + 1 + ni);
    if (!buf) return;
    memcpy(buf, salt, ns + 1);
    memcpy(buf + ns + 1, id, ni);
    if (med_dicom_sha1_hex(buf, ns + 1 + ni, out) != MC_OK) out[0] = '\0';
    free(buf);
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *v) {
    if (v && v[0]) sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(st, i);
}

static mc_status step(sqlite3_stmt *q) { return sqlite3_step(q) == SQLITE_DONE ? MC_OK : MC_ERR_DB; }

mc_status med_store_series(mc_store *st, const char *run_id, const med_series *s, const char *salt) {
    sqlite3_stmt *q;
    mc_status rc = mc_store_stmt(
        st,
        "INSERT INTO med_series(series_uid, study_uid, patient_hash, modality, study_date, description, manufacturer,"
        " transfer_syntax, folder, n_files, n_slices, cols, rows, spacing_x, spacing_y, spacing_z, slice_thickness,"
        " origin_x, origin_y, origin_z, orientation, usable, problems, run_id)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22,"
        " ?23, ?24)"
        " ON CONFLICT(series_uid) DO UPDATE SET study_uid = excluded.study_uid, patient_hash = excluded.patient_hash,"
        " modality = excluded.modality, study_date = excluded.study_date, description = excluded.description,"
        " manufacturer = excluded.manufacturer, transfer_syntax = excluded.transfer_syntax, folder = excluded.folder,"
        " n_files = excluded.n_files, n_slices = excluded.n_slices, cols = excluded.cols, rows = excluded.rows,"
        " spacing_x = excluded.spacing_x, spacing_y = excluded.spacing_y, spacing_z = excluded.spacing_z,"
        " slice_thickness = excluded.slice_thickness, origin_x = excluded.origin_x, origin_y = excluded.origin_y,"
        " origin_z = excluded.origin_z, orientation = excluded.orientation, usable = excluded.usable,"
        " problems = excluded.problems, run_id = excluded.run_id",
        &q);
    if (rc != MC_OK) return rc;
    char hash[41];
    med_patient_hash(salt, s->patient_id, hash);
    int geometry = s->n_slices > 0;
    sqlite3_bind_text(q, 1, s->series_uid, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, s->study_uid, -1, SQLITE_STATIC);
    bind_text_or_null(q, 3, hash);
    sqlite3_bind_text(q, 4, s->modality, -1, SQLITE_STATIC);
    bind_text_or_null(q, 5, s->study_date);
    bind_text_or_null(q, 6, s->description);
    bind_text_or_null(q, 7, s->manufacturer);
    bind_text_or_null(q, 8, s->transfer_syntax);
    sqlite3_bind_text(q, 9, s->folder, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 10, s->n_files);
    sqlite3_bind_int(q, 11, s->n_slices);
    sqlite3_bind_int(q, 12, s->cols);
    sqlite3_bind_int(q, 13, s->rows);
    char orient[200] = "";
    if (geometry) {
        for (int a = 0; a < 3; a++) sqlite3_bind_double(q, 14 + a, s->spacing[a]);
        for (int a = 0; a < 3; a++) sqlite3_bind_double(q, 18 + a, s->origin[a]);
        snprintf(orient, sizeof orient, "[%.6g,%.6g,%.6g,%.6g,%.6g,%.6g]", s->row_dir[0], s->row_dir[1], s->row_dir[2],
                 s->col_dir[0], s->col_dir[1], s->col_dir[2]);
    }
    if (s->slice_thickness > 0) sqlite3_bind_double(q, 17, s->slice_thickness);
    bind_text_or_null(q, 21, orient);
    sqlite3_bind_int(q, 22, s->usable);
    json_t *pr = json_array();
    for (int i = 0; i < s->n_problems; i++) json_array_append_new(pr, json_string(s->problems[i]));
    char *problems = json_dumps(pr, JSON_COMPACT);
    json_decref(pr);
    sqlite3_bind_text(q, 23, problems ? problems : "[]", -1, SQLITE_TRANSIENT);
    free(problems);
    sqlite3_bind_text(q, 24, run_id, -1, SQLITE_STATIC);
    return step(q);
}

mc_status med_store_volume(mc_store *st, const char *run_id, const med_series *s, const med_volume *v,
                           const char *path, int resampled) {
    sqlite3_stmt *q;
    mc_status rc = mc_store_stmt(
        st,
        "INSERT INTO med_volumes(series_uid, path, nx, ny, nz, spacing_x, spacing_y, spacing_z, affine, resampled,"
        " hu_min, hu_max, run_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
        " ON CONFLICT(series_uid, path) DO UPDATE SET nx = excluded.nx, ny = excluded.ny, nz = excluded.nz,"
        " spacing_x = excluded.spacing_x, spacing_y = excluded.spacing_y, spacing_z = excluded.spacing_z,"
        " affine = excluded.affine, resampled = excluded.resampled, hu_min = excluded.hu_min,"
        " hu_max = excluded.hu_max, run_id = excluded.run_id",
        &q);
    if (rc != MC_OK) return rc;
    double a[4][4];
    med_nifti_affine(v, a);
    char affine[600];
    int len = 0;
    for (int r = 0; r < 4; r++)
        len += snprintf(affine + len, sizeof affine - (size_t)len, "%s[%.6f,%.6f,%.6f,%.6f]", r ? "," : "[", a[r][0],
                        a[r][1], a[r][2], a[r][3]);
    snprintf(affine + len, sizeof affine - (size_t)len, "]");
    size_t n = (size_t)v->nx * (size_t)v->ny * (size_t)v->nz;
    float lo = v->hu[0], hi = v->hu[0];
    for (size_t i = 1; i < n; i++) {
        if (v->hu[i] < lo) lo = v->hu[i];
        if (v->hu[i] > hi) hi = v->hu[i];
    }
    sqlite3_bind_text(q, 1, s->series_uid, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, path, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 3, v->nx);
    sqlite3_bind_int(q, 4, v->ny);
    sqlite3_bind_int(q, 5, v->nz);
    for (int d = 0; d < 3; d++) sqlite3_bind_double(q, 6 + d, v->spacing[d]);
    sqlite3_bind_text(q, 9, affine, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 10, resampled);
    sqlite3_bind_double(q, 11, lo);
    sqlite3_bind_double(q, 12, hi);
    sqlite3_bind_text(q, 13, run_id, -1, SQLITE_STATIC);
    return step(q);
}
