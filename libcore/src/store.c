/* store.c: the results store on SQLite: connection rules, per-component migrations, a cache of
 * prepared statements, one transaction per input, and the shared tables runs and input_errors. */
#include "moecore/store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

struct mc_store {
    sqlite3 *db;
    char *path;
    mc_error err;
    int busy_ms; /* the busy timeout */
    struct cached_stmt {
        char *sql;
        sqlite3_stmt *st;
    } *cache; /* grows, never evicts: a returned statement stays valid until mc_store_close */
    int n_cache, cap_cache;
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
    /* 2: latest_runs shows finished runs only: a run killed on the way stays 'running' */
    "DROP VIEW latest_runs;"
    "CREATE VIEW latest_runs AS"
    " SELECT run_id, program, command, arguments, version, build, host, pid, started_at, finished_at, status, n_ok, n_rejected"
    " FROM (SELECT *, row_number() OVER (PARTITION BY program, command ORDER BY started_at DESC, rowid DESC) AS newest"
    "       FROM runs WHERE status <> 'running')"
    " WHERE newest = 1;",
};

#define JOURNAL_RETRY_MS 5

#define NOW "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"

#define N_CORE ((int)(sizeof core_migrations / sizeof *core_migrations)) /* the core version of this build */

/* The application id, the number of tables, indexes and views of the file's own, and the user
 * version, read in one statement so that all come from the same snapshot. */
#define IDENTITY_SQL                                                                                                   \
    "SELECT (SELECT application_id FROM pragma_application_id),"                                                       \
    " (SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'),"                                            \
    " (SELECT user_version FROM pragma_user_version)"

/* What the file says of itself, read before anything is written to it. */
typedef struct identity {
    int app;          /* PRAGMA application_id */
    int objects;      /* tables, indexes and views */
    int user_version; /* PRAGMA user_version: the core version of a moesuite file */
} identity;

/* The status for an SQLite result code: a lock held too long, or any other database error. */
static mc_status status_of(int rc) {
    rc &= 0xff;
    return rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? MC_ERR_BUSY : MC_ERR_DB;
}

/* ---- failures of the storage ----------------------------------------------------------------------
 * SQLite reports a full disk, an I/O error or a corrupt page met by a statement that aborts to its
 * error log, whichever code stepped it; the failures of our own statements (a lock held past the
 * busy timeout at BEGIN IMMEDIATE, a full disk at COMMIT) are seen here. Both count
 * (mc_store_storage_failures). */

static pthread_mutex_t storage_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t storage_count;
static char storage_msg[MC_ERRMSG_MAX];

static int storage_code(int rc) {
    switch (rc & 0xff) {
    case SQLITE_BUSY: case SQLITE_LOCKED: case SQLITE_FULL: case SQLITE_IOERR: case SQLITE_CORRUPT:
    case SQLITE_NOTADB: case SQLITE_READONLY: case SQLITE_CANTOPEN: case SQLITE_NOMEM: case SQLITE_PROTOCOL:
    case SQLITE_NOLFS: case SQLITE_PERM:
        return 1;
    default:
        return 0;
    }
}

static void storage_failed(const char *msg) {
    pthread_mutex_lock(&storage_lock);
    storage_count++;
    snprintf(storage_msg, sizeof storage_msg, "%s", msg);
    pthread_mutex_unlock(&storage_lock);
}

static void on_sqlite_log(void *user, int rc, const char *msg) {
    (void)user;
    (void)msg;
    if (storage_code(rc)) storage_failed(sqlite3_errstr(rc));
}

/* Before SQLite's first use in the process: its error log, when it can still be set. */
static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static void install_log(void) { sqlite3_config(SQLITE_CONFIG_LOG, on_sqlite_log, NULL); }

/* How long a writer waits for another's lock: MOESUITE_BUSY_TIMEOUT_MS when set to a number of
 * milliseconds up to an hour, else MC_STORE_BUSY_TIMEOUT_MS. */
static int busy_timeout_ms(void) {
    const char *env = getenv("MOESUITE_BUSY_TIMEOUT_MS");
    char *end;
    long ms = env && *env ? strtol(env, &end, 10) : -1;
    return env && *env && *end == '\0' && ms >= 0 && ms <= 3600000 ? (int)ms : MC_STORE_BUSY_TIMEOUT_MS;
}

uint64_t mc_store_storage_failures(char *msg, size_t size) {
    pthread_mutex_lock(&storage_lock);
    uint64_t n = storage_count;
    if (msg && size > 0) snprintf(msg, size, "%s", storage_msg);
    pthread_mutex_unlock(&storage_lock);
    return n;
}

/* Records the connection's last SQLite error on s, naming the database and what was being done. */
static mc_status db_error(mc_store *s, const char *what) {
    int rc = sqlite3_extended_errcode(s->db);
    mc_status st = mc_error_set(&s->err, status_of(rc), "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
    if (storage_code(rc)) storage_failed(s->err.msg);
    return st;
}

static mc_status bad_arg(mc_store *s, const char *fn) {
    return mc_error_set(s ? &s->err : NULL, MC_ERR_ARG, "%s: invalid arguments", fn);
}

static mc_status ok(mc_store *s) {
    mc_error_clear(&s->err);
    return MC_OK;
}

/* Runs sql (one or more statements, no parameters); on failure records "PATH: what: message". */
static mc_status exec_sql(mc_store *s, const char *sql, const char *what) {
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = sqlite3_extended_errcode(s->db);
        mc_status st = mc_error_set(&s->err, status_of(rc), "%s: %s: %s", s->path, what, msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        if (storage_code(rc)) storage_failed(s->err.msg);
        return st;
    }
    return ok(s);
}

mc_status mc_store_exec(mc_store *s, const char *sql) {
    if (!s || !sql) return bad_arg(s, "mc_store_exec");
    return exec_sql(s, sql, "executing SQL");
}

mc_status mc_store_stmt(mc_store *s, const char *sql, sqlite3_stmt **out) {
    if (!s || !sql || !out) return bad_arg(s, "mc_store_stmt");
    for (int i = 0; i < s->n_cache; i++) {
        if (strcmp(s->cache[i].sql, sql) == 0) {
            sqlite3_reset(s->cache[i].st);
            sqlite3_clear_bindings(s->cache[i].st);
            *out = s->cache[i].st;
            return ok(s);
        }
    }
    if (s->n_cache == s->cap_cache) {
        int cap = s->cap_cache ? 2 * s->cap_cache : 16;
        struct cached_stmt *grown = realloc(s->cache, (size_t)cap * sizeof *grown);
        if (!grown) return mc_error_set(&s->err, MC_ERR_NOMEM, "%s: out of memory", s->path);
        s->cache = grown;
        s->cap_cache = cap;
    }
    char *copy = strdup(sql);
    if (!copy) return mc_error_set(&s->err, MC_ERR_NOMEM, "%s: out of memory", s->path);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        free(copy);
        return db_error(s, "preparing a statement");
    }
    s->cache[s->n_cache].sql = copy;
    s->cache[s->n_cache].st = st;
    s->n_cache++;
    *out = st;
    return ok(s);
}

mc_status mc_store_begin(mc_store *s) {
    if (!s) return bad_arg(s, "mc_store_begin");
    return exec_sql(s, "BEGIN IMMEDIATE", "starting a transaction");
}

mc_status mc_store_commit(mc_store *s) {
    if (!s) return bad_arg(s, "mc_store_commit");
    return exec_sql(s, "COMMIT", "committing");
}

void mc_store_rollback(mc_store *s) {
    if (s && s->db && !sqlite3_get_autocommit(s->db)) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Runs one statement to completion (a step that may return rows it ignores); SQLITE_DONE or the
 * error code. */
static int step_done(sqlite3_stmt *st) {
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    }
    return rc;
}

mc_status mc_store_schema_version(mc_store *s, const char *component, int *version) {
    if (!s || !component || !version) return bad_arg(s, "mc_store_schema_version");
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
    if (!s || !component || n < 0 || (n > 0 && !migrations)) return bad_arg(s, "mc_store_migrate");
    for (int i = 0; i < n; i++)
        if (!migrations[i]) return bad_arg(s, "mc_store_migrate");
    /* Most opens find the schema up to date: take the write lock only when there is work, and
     * read the version again under it, since another process may have migrated in the meantime. */
    int v, locked = 0;
    mc_status st = mc_store_schema_version(s, component, &v);
    if (st == MC_OK && v < n) {
        if ((st = mc_store_begin(s)) != MC_OK) return st;
        locked = 1;
        st = mc_store_schema_version(s, component, &v);
    }
    if (st != MC_OK) goto fail;
    if (v > n) {
        st = mc_error_set(&s->err, MC_ERR_SCHEMA, "%s: database schema '%s' is version %d, this build knows up to %d: upgrade moesuite",
                          s->path, component, v, n);
        goto fail;
    }
    for (int i = v; i < n; i++) {
        char what[160];
        snprintf(what, sizeof what, "migrating '%s' to version %d", component, i + 1);
        if ((st = exec_sql(s, migrations[i], what)) != MC_OK) goto fail;
    }
    if (v < n) {
        sqlite3_stmt *q;
        if ((st = mc_store_stmt(s, "INSERT INTO schema_versions(component, version, updated_at) VALUES (?1, ?2, " NOW ")"
                                   " ON CONFLICT(component) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at",
                                &q)) != MC_OK)
            goto fail;
        sqlite3_bind_text(q, 1, component, -1, SQLITE_STATIC);
        sqlite3_bind_int(q, 2, n);
        if (step_done(q) != SQLITE_DONE) {
            st = db_error(s, "recording the schema version");
            goto fail;
        }
        if (strcmp(component, "core") == 0) {
            char pragma[64]; /* a pragma takes no parameters; n is an int of ours, not input text */
            snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", n);
            if ((st = exec_sql(s, pragma, "recording the core schema version")) != MC_OK) goto fail;
        }
    }
    if (locked && (st = mc_store_commit(s)) != MC_OK) goto fail;
    return ok(s);
fail:
    if (locked) mc_store_rollback(s);
    return st;
}

/* Reads the application id, the count of the file's own schema objects and the user version. */
static mc_status read_identity(mc_store *s, identity *id) {
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, IDENTITY_SQL, -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        id->app = sqlite3_column_int(st, 0);
        id->objects = sqlite3_column_int(st, 1);
        id->user_version = sqlite3_column_int(st, 2);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_OK) return MC_OK;
    if ((sqlite3_extended_errcode(s->db) & 0xff) == SQLITE_NOTADB)
        return mc_error_set(&s->err, MC_ERR_DB, "%s: not an SQLite database: %s", s->path, sqlite3_errmsg(s->db));
    return db_error(s, "reading the file header");
}

/* The version of the 'core' row of schema_versions in *version, 0 when the table or the row is
 * absent. */
static mc_status read_core_row(mc_store *s, int *version) {
    static const char *const sql[] = {
        "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_versions'",
        "SELECT version FROM schema_versions WHERE component = 'core'",
    };
    *version = 0;
    for (int i = 0; i < 2; i++) {
        sqlite3_stmt *st;
        int rc = sqlite3_prepare_v2(s->db, sql[i], -1, &st, NULL);
        int value = 0;
        if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) value = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_error(s, "reading schema_versions");
        if (i == 0 && value == 0) return MC_OK;
        if (i == 1) *version = value;
    }
    return MC_OK;
}

static mc_status newer_core(mc_store *s, int version, const char *where) {
    return mc_error_set(&s->err, MC_ERR_SCHEMA,
                        "%s: database schema 'core' is version %d%s, this build knows up to %d: upgrade moesuite", s->path,
                        version, where, N_CORE);
}

/* Checks, before anything is written, that the file is ours or new: our application id, or none
 * and nothing in it at all (no tables, user version 0); and that no newer build wrote its core
 * schema, by PRAGMA user_version or by the 'core' row of schema_versions. */
static mc_status check_ours(mc_store *s, const identity *id) {
    if (id->app != MC_STORE_APPLICATION_ID && id->app != 0)
        return mc_error_set(&s->err, MC_ERR_SCHEMA, "%s: not a moesuite database (application_id 0x%08x)", s->path,
                            (unsigned)id->app);
    if (id->app == 0 && (id->objects > 0 || id->user_version != 0))
        return mc_error_set(&s->err, MC_ERR_SCHEMA,
                            "%s: not a moesuite database (application_id 0x00000000, yet not empty: %d tables, indexes or "
                            "views, user_version %d)",
                            s->path, id->objects, id->user_version);
    if (id->user_version > N_CORE) return newer_core(s, id->user_version, " (PRAGMA user_version)");
    int core = 0;
    mc_status st;
    if (id->app == MC_STORE_APPLICATION_ID && (st = read_core_row(s, &core)) != MC_OK) return st;
    return core > N_CORE ? newer_core(s, core, "") : MC_OK;
}

/* Sets the connection rules and, on a new file, the application id and schema_versions. Reads
 * before it writes, so that a file that is not ours is left untouched, and takes the write lock
 * only for a new file, so that opening never waits behind another process's writes. */
static mc_status setup(mc_store *s) {
    identity id;
    mc_status st;
    if ((st = read_identity(s, &id)) != MC_OK || (st = check_ours(s, &id)) != MC_OK) return st;

    /* A new file gets 16 KiB pages, which only an empty file can take (not one in WAL mode): wide
     * rows of about 2 KiB (moe-finance's factors) fill 4 KiB pages two to a page, with a fifth of each
     * page left empty; at 16 KiB nine fit in a page. */
    if (id.app == 0 && id.objects == 0 && (st = exec_sql(s, "PRAGMA page_size = 16384", "setting the page size")) != MC_OK)
        return st;

    /* Changing the journal mode needs the file to itself and does not wait on the busy handler:
     * when another process is opening the same new file, retry up to the busy timeout. */
    sqlite3_stmt *q = NULL;
    int rc;
    for (int waited = 0;; waited += JOURNAL_RETRY_MS) {
        rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &q, NULL);
        if (rc == SQLITE_OK) rc = sqlite3_step(q);
        if (status_of(rc) != MC_ERR_BUSY || waited >= s->busy_ms) break;
        sqlite3_finalize(q);
        q = NULL;
        sqlite3_sleep(JOURNAL_RETRY_MS);
    }
    const char *mode = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(q, 0) : NULL;
    int wal = mode && strcmp(mode, "wal") == 0;
    if (rc == SQLITE_ROW && !wal)
        st = mc_error_set(&s->err, MC_ERR_DB, "%s: cannot use a WAL journal (journal_mode stays '%s')", s->path, mode ? mode : "?");
    else if (rc != SQLITE_ROW)
        st = db_error(s, "switching to a WAL journal");
    sqlite3_finalize(q);
    if (!wal) return st;

    if ((st = exec_sql(s, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON", "setting the connection rules")) != MC_OK ||
        id.app == MC_STORE_APPLICATION_ID || (st = mc_store_begin(s)) != MC_OK)
        return st;
    /* a new file: look again under the write lock, another process may have set it up meanwhile */
    if ((st = read_identity(s, &id)) != MC_OK || (st = check_ours(s, &id)) != MC_OK) goto fail;
    if (id.app == 0) {
        char pragma[64]; /* a pragma takes no parameters; the id is our constant */
        snprintf(pragma, sizeof pragma, "PRAGMA application_id = %d", MC_STORE_APPLICATION_ID);
        if ((st = exec_sql(s, pragma, "setting the application id")) != MC_OK) goto fail;
    }
    if ((st = exec_sql(s,
                       "CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY,"
                       " version INTEGER NOT NULL, updated_at TEXT NOT NULL) STRICT",
                       "creating schema_versions")) != MC_OK ||
        (st = mc_store_commit(s)) != MC_OK)
        goto fail;
    return MC_OK;
fail:
    mc_store_rollback(s);
    return st;
}

mc_status mc_store_open(mc_store **out, const char *path, mc_error *err) {
    if (out) *out = NULL;
    if (!out || !path) return mc_error_set(err, MC_ERR_ARG, "mc_store_open: invalid arguments");
    mc_store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        return mc_error_set(err, MC_ERR_NOMEM, "%s: out of memory", path);
    }
    pthread_once(&log_once, install_log);
    s->busy_ms = busy_timeout_ms();
    mc_status st;
    int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        st = mc_error_set(&s->err, s->db ? status_of(rc) : MC_ERR_NOMEM, "%s: cannot open: %s", path,
                          s->db ? sqlite3_errmsg(s->db) : "out of memory");
    } else {
        sqlite3_extended_result_codes(s->db, 1);
        sqlite3_busy_timeout(s->db, s->busy_ms);
        if ((st = setup(s)) == MC_OK)
            st = mc_store_migrate(s, "core", core_migrations, N_CORE);
    }
    if (st != MC_OK) {
        if (err) *err = s->err;
        mc_store_close(s);
        return st;
    }
    mc_error_clear(err);
    *out = s;
    return MC_OK;
}

void mc_store_close(mc_store *s) {
    if (!s) return;
    for (int i = 0; i < s->n_cache; i++) {
        sqlite3_finalize(s->cache[i].st);
        free(s->cache[i].sql);
    }
    free(s->cache);
    sqlite3_close_v2(s->db); /* closes once any statement a component kept is finalised */
    free(s->path);
    free(s);
}

const mc_error *mc_store_error(const mc_store *s) {
    static const mc_error no_store = {MC_ERR_ARG, "no database (the store handle is NULL)"};
    return s ? &s->err : &no_store;
}

sqlite3 *mc_store_db(mc_store *s) { return s ? s->db : NULL; }

/* A random (version 4) UUID, lowercase hex with dashes. */
static int uuid4(char out[MC_UUID_LEN]) {
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) return -1;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, MC_UUID_LEN, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
             b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    return 0;
}

/* Runs a prepared write in its own transaction unless one is open; the number of rows it changed
 * goes to *changes when changes is not NULL. */
static mc_status write_one(mc_store *s, sqlite3_stmt *st, const char *what, int *changes) {
    int own = sqlite3_get_autocommit(s->db);
    mc_status r;
    if (own && (r = mc_store_begin(s)) != MC_OK) return r;
    int rc = step_done(st);
    if (rc != SQLITE_DONE) r = db_error(s, what);
    if (changes) *changes = sqlite3_changes(s->db);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st); /* the bound strings belong to the caller */
    if (rc != SQLITE_DONE) {
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
    if (!s || !program || !command || !arguments_json || !version || !build || !run_id) return bad_arg(s, "mc_store_run_begin");
    if (uuid4(run_id) != 0) return mc_error_set(&s->err, MC_ERR_IO, "cannot read random bytes for a run id");
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0 || !host[0]) snprintf(host, sizeof host, "unknown");
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
    return write_one(s, st, "recording the run", NULL);
}

mc_status mc_store_run_finish(mc_store *s, const char *run_id, const char *status, int64_t n_ok, int64_t n_rejected) {
    if (!s || !run_id || !status) return bad_arg(s, "mc_store_run_finish");
    if (strcmp(status, "ok") != 0 && strcmp(status, "partial") != 0 && strcmp(status, "failed") != 0)
        return mc_error_set(&s->err, MC_ERR_ARG, "unknown run status '%s' (ok, partial or failed)", status);
    sqlite3_stmt *st;
    mc_status r = mc_store_stmt(s, "UPDATE runs SET finished_at = " NOW ", status = ?2, n_ok = ?3, n_rejected = ?4 WHERE run_id = ?1", &st);
    if (r != MC_OK) return r;
    sqlite3_bind_text(st, 1, run_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, n_ok);
    sqlite3_bind_int64(st, 4, n_rejected);
    int changed = 0;
    if ((r = write_one(s, st, "finishing the run", &changed)) != MC_OK) return r;
    if (changed == 0) return mc_error_set(&s->err, MC_ERR_NOT_FOUND, "%s: no run %s to finish", s->path, run_id);
    return MC_OK;
}

mc_status mc_store_run_counts(mc_store *s, const char *run_id, int64_t n_ok, int64_t n_rejected) {
    if (!s || !run_id) return bad_arg(s, "mc_store_run_counts");
    sqlite3_stmt *st;
    mc_status r = mc_store_stmt(s, "UPDATE runs SET n_ok = ?2, n_rejected = ?3 WHERE run_id = ?1", &st);
    if (r != MC_OK) return r;
    sqlite3_bind_text(st, 1, run_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, n_ok);
    sqlite3_bind_int64(st, 3, n_rejected);
    int changed = 0;
    return write_one(s, st, "counting the run's inputs", &changed);
}

mc_status mc_store_input_error(mc_store *s, const char *run_id, const char *input, const char *reason) {
    if (!s || !run_id || !input || !reason) return bad_arg(s, "mc_store_input_error");
    sqlite3_stmt *st;
    mc_status r = mc_store_stmt(s, "INSERT INTO input_errors(run_id, input, reason, recorded_at) VALUES (?1, ?2, ?3, " NOW ")"
                                   " ON CONFLICT(run_id, input) DO UPDATE SET reason = excluded.reason, recorded_at = excluded.recorded_at",
                                &st);
    if (r != MC_OK) return r;
    sqlite3_bind_text(st, 1, run_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, input, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
    return write_one(s, st, "recording an input error", NULL);
}
