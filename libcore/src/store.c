/* store.c: the results store on SQLite: connection rules, per-component migrations, a cache of
 * prepared statements, one transaction per input, and the shared tables runs and input_errors. */
#include "moecore/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define STMT_CACHE 64

struct mc_store {
    sqlite3 *db;
    char *path;
    mc_error err;
    struct {
        char *sql;
        sqlite3_stmt *st;
    } cache[STMT_CACHE];
    int n_cache;
};

static const char *const core_migrations[] = {
    /* 1: runs and input errors */
    "CREATE TABLE runs ("
    " run_id TEXT PRIMARY KEY,"
    " program TEXT NOT NULL,"
    " command TEXT NOT NULL,"
    " arguments TEXT NOT NULL,"
    " version TEXT NOT NULL,"
    " build TEXT NOT NULL,"
    " host TEXT NOT NULL,"
    " pid INTEGER NOT NULL,"
    " started_at TEXT NOT NULL,"
    " finished_at TEXT,"
    " status TEXT NOT NULL CHECK (status IN ('running', 'ok', 'partial', 'failed')),"
    " n_ok INTEGER NOT NULL DEFAULT 0,"
    " n_rejected INTEGER NOT NULL DEFAULT 0) STRICT;"
    "CREATE INDEX runs_program_started ON runs(program, started_at);"
    "CREATE TABLE input_errors ("
    " run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,"
    " input TEXT NOT NULL,"
    " reason TEXT NOT NULL,"
    " recorded_at TEXT NOT NULL,"
    " PRIMARY KEY (run_id, input)) STRICT;"
    "CREATE INDEX input_errors_input ON input_errors(input);"
    "CREATE VIEW latest_runs AS"
    " SELECT run_id, program, command, arguments, version, build, host, pid, started_at, finished_at, status, n_ok, n_rejected"
    " FROM (SELECT *, row_number() OVER (PARTITION BY program, command ORDER BY started_at DESC, rowid DESC) AS newest FROM runs)"
    " WHERE newest = 1;",
};

#define NOW "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"

static mc_status db_error(mc_store *s, const char *what) {
    int code = sqlite3_extended_errcode(s->db) & 0xff;
    mc_status st = code == SQLITE_BUSY || code == SQLITE_LOCKED ? MC_ERR_BUSY : MC_ERR_DB;
    return mc_error_set(&s->err, st, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

static mc_status ok(mc_store *s) {
    mc_error_clear(&s->err);
    return MC_OK;
}

mc_status mc_store_exec(mc_store *s, const char *sql) {
    if (!s || !sql) return MC_ERR_ARG;
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int code = sqlite3_extended_errcode(s->db) & 0xff;
        mc_status st = code == SQLITE_BUSY || code == SQLITE_LOCKED ? MC_ERR_BUSY : MC_ERR_DB;
        mc_error_set(&s->err, st, "%s: %s", s->path, msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return st;
    }
    return ok(s);
}

mc_status mc_store_stmt(mc_store *s, const char *sql, sqlite3_stmt **out) {
    if (!s || !sql || !out) return MC_ERR_ARG;
    for (int i = 0; i < s->n_cache; i++) {
        if (strcmp(s->cache[i].sql, sql) == 0) {
            sqlite3_reset(s->cache[i].st);
            sqlite3_clear_bindings(s->cache[i].st);
            *out = s->cache[i].st;
            return ok(s);
        }
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) return db_error(s, "prepare");
    if (s->n_cache == STMT_CACHE) { /* full: drop the oldest */
        sqlite3_finalize(s->cache[0].st);
        free(s->cache[0].sql);
        memmove(&s->cache[0], &s->cache[1], sizeof s->cache[0] * (STMT_CACHE - 1));
        s->n_cache--;
    }
    char *copy = strdup(sql);
    if (!copy) {
        sqlite3_finalize(st);
        return mc_error_set(&s->err, MC_ERR_NOMEM, "out of memory");
    }
    s->cache[s->n_cache].sql = copy;
    s->cache[s->n_cache].st = st;
    s->n_cache++;
    *out = st;
    return ok(s);
}

mc_status mc_store_begin(mc_store *s) {
    if (!s) return MC_ERR_ARG;
    return mc_store_exec(s, "BEGIN IMMEDIATE");
}

mc_status mc_store_commit(mc_store *s) {
    if (!s) return MC_ERR_ARG;
    return mc_store_exec(s, "COMMIT");
}

void mc_store_rollback(mc_store *s) {
    if (s && !sqlite3_get_autocommit(s->db)) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Runs one statement to completion (a step that may return rows it ignores). */
static int step_done(sqlite3_stmt *st) {
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    }
    return rc == SQLITE_DONE ? 0 : -1;
}

mc_status mc_store_schema_version(mc_store *s, const char *component, int *version) {
    if (!s || !component || !version) return MC_ERR_ARG;
    sqlite3_stmt *st;
    mc_status r = mc_store_stmt(s, "SELECT version FROM schema_versions WHERE component = ?1", &st);
    if (r != MC_OK) return r;
    sqlite3_bind_text(st, 1, component, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *version = sqlite3_column_int(st, 0);
    else if (rc == SQLITE_DONE)
        *version = 0;
    else
        return db_error(s, "reading schema_versions");
    sqlite3_reset(st);
    return ok(s);
}

mc_status mc_store_migrate(mc_store *s, const char *component, const char *const *migrations, int n) {
    if (!s || !component || (n > 0 && !migrations) || n < 0) return MC_ERR_ARG;
    mc_status st = mc_store_begin(s);
    if (st != MC_OK) return st;
    int v;
    if ((st = mc_store_schema_version(s, component, &v)) != MC_OK) goto fail;
    if (v > n) {
        st = mc_error_set(&s->err, MC_ERR_SCHEMA, "%s: database schema '%s' is version %d, this build knows up to %d: upgrade moesuite",
                          s->path, component, v, n);
        goto fail;
    }
    for (int i = v; i < n; i++) {
        if ((st = mc_store_exec(s, migrations[i])) != MC_OK) {
            mc_error_set(&s->err, st, "%s: migrating '%s' to version %d: %s", s->path, component, i + 1, s->err.msg);
            goto fail;
        }
    }
    if (v < n) {
        sqlite3_stmt *q;
        if ((st = mc_store_stmt(s, "INSERT INTO schema_versions(component, version, updated_at) VALUES (?1, ?2, " NOW ")"
                                   " ON CONFLICT(component) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at",
                                &q)) != MC_OK)
            goto fail;
        sqlite3_bind_text(q, 1, component, -1, SQLITE_STATIC);
        sqlite3_bind_int(q, 2, n);
        if (step_done(q) != 0) {
            st = db_error(s, "recording the schema version");
            goto fail;
        }
        if (strcmp(component, "core") == 0) {
            char pragma[64];
            snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", n);
            if ((st = mc_store_exec(s, pragma)) != MC_OK) goto fail;
        }
    }
    if ((st = mc_store_commit(s)) != MC_OK) goto fail;
    return ok(s);
fail:
    mc_store_rollback(s);
    return st;
}

/* Reads a single integer from a pragma or query. */
static int query_int(mc_store *s, const char *sql, int *out) {
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *out = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

mc_status mc_store_open(mc_store **out, const char *path, mc_error *err) {
    if (!out || !path) return mc_error_set(err, MC_ERR_ARG, "mc_store_open: invalid arguments");
    *out = NULL;
    mc_store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return mc_error_set(err, MC_ERR_NOMEM, "out of memory");
    }
    mc_status st = MC_OK;
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        st = mc_error_set(&s->err, MC_ERR_DB, "%s: cannot open: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto done;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, MC_STORE_BUSY_TIMEOUT_MS);
    int app = 0, tables = 0;
    if (query_int(s, "PRAGMA application_id", &app) != 0 ||
        query_int(s, "SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'", &tables) != 0) {
        st = mc_error_set(&s->err, MC_ERR_DB, "%s: not an SQLite database: %s", path, sqlite3_errmsg(s->db));
        goto done;
    }
    if (app != MC_STORE_APPLICATION_ID && (app != 0 || tables > 0)) {
        st = mc_error_set(&s->err, MC_ERR_SCHEMA, "%s: not a moesuite database (application_id 0x%08x)", path, (unsigned)app);
        goto done;
    }
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &q, NULL) != SQLITE_OK || sqlite3_step(q) != SQLITE_ROW ||
        strcmp((const char *)sqlite3_column_text(q, 0), "wal") != 0) {
        sqlite3_finalize(q);
        st = mc_error_set(&s->err, MC_ERR_DB, "%s: cannot switch to WAL mode: %s", path, sqlite3_errmsg(s->db));
        goto done;
    }
    sqlite3_finalize(q);
    char pragma[96];
    snprintf(pragma, sizeof pragma, "PRAGMA application_id = %d", MC_STORE_APPLICATION_ID);
    if ((st = mc_store_exec(s, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON")) != MC_OK ||
        (app == 0 && (st = mc_store_exec(s, pragma)) != MC_OK) ||
        (st = mc_store_exec(s, "CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY,"
                               " version INTEGER NOT NULL, updated_at TEXT NOT NULL) STRICT")) != MC_OK ||
        (st = mc_store_migrate(s, "core", core_migrations, (int)(sizeof core_migrations / sizeof *core_migrations))) != MC_OK)
        goto done;
done:
    if (st != MC_OK) {
        if (err) *err = s->err;
        mc_store_close(s);
        return st;
    }
    *out = s;
    return MC_OK;
}

void mc_store_close(mc_store *s) {
    if (!s) return;
    for (int i = 0; i < s->n_cache; i++) {
        sqlite3_finalize(s->cache[i].st);
        free(s->cache[i].sql);
    }
    sqlite3_close(s->db);
    free(s->path);
    free(s);
}

const mc_error *mc_store_error(const mc_store *s) { return &s->err; }

sqlite3 *mc_store_db(mc_store *s) { return s ? s->db : NULL; }

/* A random (version 4) UUID. */
static int uuid4(char out[MC_UUID_LEN]) {
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) return -1;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, MC_UUID_LEN, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
             b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    return 0;
}

/* Runs a prepared write in its own transaction unless one is open. */
static mc_status write_one(mc_store *s, sqlite3_stmt *st, const char *what) {
    int own = sqlite3_get_autocommit(s->db);
    mc_status r;
    if (own && (r = mc_store_begin(s)) != MC_OK) return r;
    if (step_done(st) != 0) {
        r = db_error(s, what);
        if (own) mc_store_rollback(s);
        return r;
    }
    if (own && (r = mc_store_commit(s)) != MC_OK) {
        mc_store_rollback(s);
        return r;
    }
    return ok(s);
}

mc_status mc_store_run_begin(mc_store *s, const char *program, const char *command, const char *arguments_json,
                             const char *version, const char *build, char run_id[MC_UUID_LEN]) {
    if (!s || !program || !command || !arguments_json || !version || !build || !run_id) return MC_ERR_ARG;
    if (uuid4(run_id) != 0) return mc_error_set(&s->err, MC_ERR_IO, "cannot read random bytes for a run id");
    char host[256] = "unknown";
    gethostname(host, sizeof host - 1);
    sqlite3_stmt *st;
    mc_status r = mc_store_stmt(s, "INSERT INTO runs(run_id, program, command, arguments, version, build, host, pid, started_at, status)"
                                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, " NOW ", 'running')", &st);
    if (r != MC_OK) return r;
    sqlite3_bind_text(st, 1, run_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, program, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, command, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, arguments_json, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, version, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, build, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, host, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, (sqlite3_int64)getpid());
    return write_one(s, st, "recording the run");
}

mc_status mc_store_run_finish(mc_store *s, const char *run_id, const char *status, int64_t n_ok, int64_t n_rejected) {
    if (!s || !run_id || !status) return MC_ERR_ARG;
    if (strcmp(status, "ok") && strcmp(status, "partial") && strcmp(status, "failed"))
        return mc_error_set(&s->err, MC_ERR_ARG, "unknown run status '%s'", status);
    sqlite3_stmt *st;
    mc_status r = mc_store_stmt(s, "UPDATE runs SET finished_at = " NOW ", status = ?2, n_ok = ?3, n_rejected = ?4 WHERE run_id = ?1", &st);
    if (r != MC_OK) return r;
    sqlite3_bind_text(st, 1, run_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, n_ok);
    sqlite3_bind_int64(st, 4, n_rejected);
    return write_one(s, st, "finishing the run");
}

mc_status mc_store_input_error(mc_store *s, const char *run_id, const char *input, const char *reason) {
    if (!s || !run_id || !input || !reason) return MC_ERR_ARG;
    sqlite3_stmt *st;
    mc_status r = mc_store_stmt(s, "INSERT INTO input_errors(run_id, input, reason, recorded_at) VALUES (?1, ?2, ?3, " NOW ")"
                                   " ON CONFLICT(run_id, input) DO UPDATE SET reason = excluded.reason, recorded_at = excluded.recorded_at",
                                &st);
    if (r != MC_OK) return r;
    sqlite3_bind_text(st, 1, run_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, input, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
    return write_one(s, st, "recording an input error");
}
