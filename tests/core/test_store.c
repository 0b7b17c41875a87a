/* test_store.c: the results store: connection rules, migrations (from an empty file and from each
 * earlier version, refusal of newer schemas, atomic failure), foreign files, one transaction per
 * input, idempotent re-runs, lock timeouts, processes opening a new file at once, a reader in a
 * second process during writes, and a writer killed with SIGKILL mid-batch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "moecore/store.h"

static char *db_path(const char *name) {
    static char buf[4][512];
    static int k;
    char *p = buf[k++ % 4];
    const char *dir = getenv("MC_TEST_TMP") ? getenv("MC_TEST_TMP") : "/tmp";
    snprintf(p, 512, "%s/store-%s-%ld.db", dir, name, (long)getpid());
    return p;
}

static void remove_db(const char *path) {
    char side[600];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

/* The whole content of a file (caller frees), its size in *n. */
static char *slurp(const char *path, long *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = ftell(f);
    rewind(f);
    char *b = malloc((size_t)*n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)*n, f), (size_t)*n);
    fclose(f);
    return b;
}

static int exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

static int64_t q_int(mc_store *s, const char *sql) {
    sqlite3_stmt *st;
    assert_int_equal(mc_store_stmt(s, sql, &st), MC_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return v;
}

static const char *q_text(mc_store *s, const char *sql, char *buf, size_t n) {
    sqlite3_stmt *st;
    assert_int_equal(mc_store_stmt(s, sql, &st), MC_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    snprintf(buf, n, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    return buf;
}

/* A component with three versions: a table, an added column filled from the old data, an index
 * and a view. */
static const char *const items_v[] = {
    "CREATE TABLE test_items (key TEXT PRIMARY KEY, value REAL NOT NULL, run_id TEXT NOT NULL REFERENCES runs(run_id)) STRICT;",
    "ALTER TABLE test_items ADD COLUMN doubled REAL; UPDATE test_items SET doubled = 2 * value;",
    "CREATE INDEX test_items_value ON test_items(value); CREATE VIEW test_big AS SELECT key FROM test_items WHERE value > 10;",
    "CREATE TABLE test_future (x INTEGER) STRICT;",
};

static void test_open_new(void **state) {
    (void)state;
    const char *p = db_path("new");
    remove_db(p);
    mc_store *s;
    mc_error e;
    assert_int_equal(mc_store_open(&s, p, &e), MC_OK);
    char buf[64];
    assert_int_equal(q_int(s, "PRAGMA user_version"), 2);
    assert_int_equal(q_int(s, "PRAGMA application_id"), MC_STORE_APPLICATION_ID);
    assert_string_equal(q_text(s, "PRAGMA journal_mode", buf, sizeof buf), "wal");
    assert_int_equal(q_int(s, "PRAGMA foreign_keys"), 1);
    assert_int_equal(q_int(s, "PRAGMA synchronous"), 1); /* NORMAL */
    assert_int_equal(q_int(s, "PRAGMA busy_timeout"), MC_STORE_BUSY_TIMEOUT_MS);
    assert_int_equal(q_int(s, "SELECT version FROM schema_versions WHERE component = 'core'"), 2);
    assert_int_equal(q_int(s, "SELECT count(*) FROM schema_versions"), 1);
    assert_int_equal(q_int(s, "SELECT count(*) FROM sqlite_schema WHERE name IN ('runs', 'input_errors', 'latest_runs')"), 3);
    assert_int_equal(q_int(s, "SELECT count(*) FROM pragma_table_list WHERE name IN ('runs', 'input_errors', 'schema_versions') AND strict"), 3);
    assert_int_equal(q_int(s, "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name IN ('runs_program_started', 'input_errors_input')"), 2);
    assert_int_equal(mc_store_error(s)->code, MC_OK);
    mc_store_close(s);
    /* reopening changes nothing */
    assert_int_equal(mc_store_open(&s, p, &e), MC_OK);
    assert_int_equal(q_int(s, "PRAGMA user_version"), 2);
    mc_store_close(s);
    mc_store_close(NULL);
    remove_db(p);
}

static void insert_item(mc_store *s, const char *run, const char *key, double v) {
    sqlite3_stmt *st;
    assert_int_equal(mc_store_stmt(s, "INSERT INTO test_items(key, value, run_id) VALUES (?1, ?2, ?3)"
                                      " ON CONFLICT(key) DO UPDATE SET value = excluded.value, run_id = excluded.run_id", &st), MC_OK);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(st, 2, v);
    sqlite3_bind_text(st, 3, run, -1, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
}

static void test_migrations(void **state) {
    (void)state;
    mc_error e;
    for (int from = 0; from <= 2; from++) {
        const char *p = db_path("mig");
        remove_db(p);
        mc_store *s;
        assert_int_equal(mc_store_open(&s, p, &e), MC_OK);
        char run[MC_UUID_LEN];
        assert_int_equal(mc_store_run_begin(s, "moe-test", "t", "[]", "0", "b", run), MC_OK);
        if (from > 0) {
            assert_int_equal(mc_store_migrate(s, "test", items_v, from), MC_OK);
            insert_item(s, run, "a", 4.0);
            insert_item(s, run, "b", 20.0);
        }
        int v;
        assert_int_equal(mc_store_schema_version(s, "test", &v), MC_OK);
        assert_int_equal(v, from);
        assert_int_equal(mc_store_migrate(s, "test", items_v, 3), MC_OK);
        assert_int_equal(mc_store_schema_version(s, "test", &v), MC_OK);
        assert_int_equal(v, 3);
        if (from > 0) {
            assert_int_equal(q_int(s, "SELECT count(*) FROM test_items"), 2);
            /* rows written at version 1 got the new column from migration 2; rows written at
             * version 2 by code that does not fill it have NULL */
            if (from == 1)
                assert_int_equal(q_int(s, "SELECT doubled FROM test_items WHERE key = 'a'"), 8);
            else
                assert_int_equal(q_int(s, "SELECT count(*) FROM test_items WHERE doubled IS NULL"), 2);
            assert_int_equal(q_int(s, "SELECT count(*) FROM test_big"), 1);
        }
        /* reopening and running the migrations again does nothing */
        char before[64];
        q_text(s, "SELECT updated_at FROM schema_versions WHERE component = 'test'", before, sizeof before);
        mc_store_close(s);
        assert_int_equal(mc_store_open(&s, p, &e), MC_OK);
        assert_int_equal(mc_store_migrate(s, "test", items_v, 3), MC_OK);
        assert_int_equal(mc_store_schema_version(s, "test", &v), MC_OK);
        assert_int_equal(v, 3);
        char after[64];
        assert_string_equal(q_text(s, "SELECT updated_at FROM schema_versions WHERE component = 'test'", after, sizeof after), before);
        assert_int_equal(q_int(s, "SELECT count(*) FROM sqlite_schema WHERE name = 'test_items_value'"), 1);
        assert_int_equal(q_int(s, "SELECT count(*) FROM test_items"), from > 0 ? 2 : 0);
        if (from > 0) assert_int_equal(q_int(s, "SELECT sum(value) FROM test_items"), 24);
        mc_store_close(s);
        remove_db(p);
    }

    /* a database from a newer build is refused and left as it is */
    const char *p = db_path("newer");
    remove_db(p);
    mc_store *s;
    assert_int_equal(mc_store_open(&s, p, &e), MC_OK);
    assert_int_equal(mc_store_migrate(s, "test", items_v, 4), MC_OK);
    int64_t objects = q_int(s, "SELECT count(*) FROM sqlite_schema");
    assert_int_equal(mc_store_migrate(s, "test", items_v, 3), MC_ERR_SCHEMA);
    assert_int_equal(mc_store_error(s)->code, MC_ERR_SCHEMA);
    assert_non_null(strstr(mc_store_error(s)->msg, "'test' is version 4, this build knows up to 3"));
    int v;
    assert_int_equal(mc_store_schema_version(s, "test", &v), MC_OK);
    assert_int_equal(v, 4);
    assert_int_equal(q_int(s, "SELECT count(*) FROM sqlite_schema"), objects);
    assert_int_equal(q_int(s, "SELECT count(*) FROM sqlite_schema WHERE name = 'test_future'"), 1);
    /* a failing step leaves version and tables as they were */
    const char *const broken[] = {items_v[0], items_v[1], items_v[2], items_v[3], "CREATE TABLE test_x (a INTEGER) STRICT;",
                                  "CREATE TABLE oops (;"};
    assert_int_equal(mc_store_migrate(s, "test", broken, 6), MC_ERR_DB);
    assert_non_null(strstr(mc_store_error(s)->msg, "migrating 'test' to version 6"));
    assert_non_null(strstr(mc_store_error(s)->msg, p));
    assert_int_equal(mc_store_schema_version(s, "test", &v), MC_OK);
    assert_int_equal(v, 4);
    assert_int_equal(q_int(s, "SELECT count(*) FROM sqlite_schema WHERE name = 'test_x'"), 0);
    assert_int_equal(q_int(s, "SELECT count(*) FROM sqlite_schema"), objects);
    /* the core version of a file follows its migrations, not those of other components */
    assert_int_equal(q_int(s, "PRAGMA user_version"), 2);
    mc_store_close(s);
    /* the core schema of a newer build is refused at open */
    sqlite3 *raw;
    assert_int_equal(sqlite3_open(p, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw, "UPDATE schema_versions SET version = 9 WHERE component = 'core'", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    assert_int_equal(mc_store_open(&s, p, &e), MC_ERR_SCHEMA);
    assert_null(s);
    assert_non_null(strstr(e.msg, "'core' is version 9, this build knows up to 2: upgrade moesuite"));
    assert_int_equal(sqlite3_open(p, &raw), SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(raw, "SELECT version FROM schema_versions WHERE component = 'core'", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 9);
    sqlite3_finalize(q);
    /* a newer core by PRAGMA user_version alone is refused too, before anything is written: the
     * file keeps every byte and gets no run */
    assert_int_equal(sqlite3_exec(raw,
                                  "UPDATE schema_versions SET version = 2 WHERE component = 'core';"
                                  " PRAGMA user_version = 99; PRAGMA journal_mode = DELETE;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(raw);
    long n0, n1;
    char *before = slurp(p, &n0);
    assert_int_equal(mc_store_open(&s, p, &e), MC_ERR_SCHEMA);
    assert_null(s);
    assert_non_null(strstr(e.msg, p));
    assert_non_null(strstr(e.msg, "'core' is version 99 (PRAGMA user_version), this build knows up to 2: upgrade moesuite"));
    char *after = slurp(p, &n1);
    assert_int_equal(n1, n0); /* not even switched back to WAL */
    assert_memory_equal(after, before, (size_t)n0);
    free(before);
    free(after);
    remove_db(p);
}

static void test_foreign_files(void **state) {
    (void)state;
    mc_error e;
    mc_store *s;
    const char *p = db_path("text");
    const char *text = "this is not a database, just some text that is long enough to have a header\n";
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
    assert_int_equal(mc_store_open(&s, p, &e), MC_ERR_DB);
    assert_null(s);
    assert_non_null(strstr(e.msg, p));
    assert_non_null(strstr(e.msg, "not an SQLite database"));
    long n;
    char *back = slurp(p, &n);
    assert_int_equal(n, strlen(text)); /* left unchanged */
    assert_memory_equal(back, text, (size_t)n);
    free(back);
    remove_db(p);

    p = db_path("other");
    remove_db(p);
    sqlite3 *raw;
    assert_int_equal(sqlite3_open(p, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw, "PRAGMA application_id = 1234; CREATE TABLE t (x); INSERT INTO t VALUES (1);", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    long n0;
    char *orig = slurp(p, &n0);
    assert_int_equal(mc_store_open(&s, p, &e), MC_ERR_SCHEMA);
    assert_null(s);
    assert_non_null(strstr(e.msg, p));
    assert_non_null(strstr(e.msg, "not a moesuite database (application_id 0x000004d2)"));
    back = slurp(p, &n);
    assert_int_equal(n, n0); /* not touched, not even switched to WAL */
    assert_memory_equal(back, orig, (size_t)n);
    free(back);
    free(orig);
    char wal[600];
    snprintf(wal, sizeof wal, "%s-wal", p);
    assert_false(exists(wal));
    /* an SQLite file of another application without an id but with tables is refused too */
    remove_db(p);
    assert_int_equal(sqlite3_open(p, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw, "CREATE TABLE t (x);", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    assert_int_equal(mc_store_open(&s, p, &e), MC_ERR_SCHEMA);
    assert_non_null(strstr(e.msg, "application_id 0x00000000"));
    remove_db(p);
    /* and so is one without tables but with a user version of its own */
    assert_int_equal(sqlite3_open(p, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw, "PRAGMA user_version = 3;", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    orig = slurp(p, &n0);
    assert_int_equal(mc_store_open(&s, p, &e), MC_ERR_SCHEMA);
    assert_null(s);
    assert_non_null(strstr(e.msg, "not a moesuite database (application_id 0x00000000, yet not empty: 0 tables, "
                                  "indexes or views, user_version 3)"));
    back = slurp(p, &n);
    assert_int_equal(n, n0);
    assert_memory_equal(back, orig, (size_t)n);
    free(back);
    free(orig);
    remove_db(p);

    /* a folder that does not exist */
    p = "/nonexistent-moesuite-folder/results.db";
    assert_int_equal(mc_store_open(&s, p, &e), MC_ERR_DB);
    assert_null(s);
    assert_non_null(strstr(e.msg, p));
    assert_false(exists(p));
}

static void test_transactions_and_reruns(void **state) {
    (void)state;
    const char *p = db_path("tx");
    remove_db(p);
    mc_store *s;
    mc_error e;
    assert_int_equal(mc_store_open(&s, p, &e), MC_OK);
    assert_int_equal(mc_store_migrate(s, "test", items_v, 3), MC_OK);
    char r1[MC_UUID_LEN], r2[MC_UUID_LEN];
    assert_int_equal(mc_store_run_begin(s, "moe-test", "ingest", "[\"x\"]", "0.1", "b", r1), MC_OK);
    /* a failed input leaves nothing */
    assert_int_equal(mc_store_begin(s), MC_OK);
    insert_item(s, r1, "a", 1);
    insert_item(s, r1, "b", 2);
    mc_store_rollback(s);
    mc_store_rollback(s); /* harmless with no transaction open */
    assert_int_equal(q_int(s, "SELECT count(*) FROM test_items"), 0);
    assert_int_equal(mc_store_input_error(s, r1, "in/bad.csv", "line 3: high < low"), MC_OK);
    assert_int_equal(mc_store_input_error(s, r1, "in/bad.csv", "line 4: high < low"), MC_OK);
    char buf[128];
    assert_string_equal(q_text(s, "SELECT reason FROM input_errors", buf, sizeof buf), "line 4: high < low");
    assert_int_equal(q_int(s, "SELECT count(*) FROM input_errors"), 1);
    /* a committed input keeps its rows */
    assert_int_equal(mc_store_begin(s), MC_OK);
    insert_item(s, r1, "a", 1);
    insert_item(s, r1, "b", 2);
    assert_int_equal(mc_store_commit(s), MC_OK);
    assert_int_equal(mc_store_run_finish(s, r1, "partial", 1, 1), MC_OK);
    /* a re-run over the same keys adds nothing */
    assert_int_equal(mc_store_run_begin(s, "moe-test", "ingest", "[\"x\"]", "0.1", "b", r2), MC_OK);
    assert_int_equal(mc_store_begin(s), MC_OK);
    insert_item(s, r2, "a", 1);
    insert_item(s, r2, "b", 2);
    assert_int_equal(mc_store_commit(s), MC_OK);
    assert_int_equal(mc_store_run_finish(s, r2, "ok", 1, 0), MC_OK);
    assert_int_equal(q_int(s, "SELECT count(*) FROM test_items"), 2);
    assert_int_equal(q_int(s, "SELECT count(*) FROM runs"), 2);
    assert_string_not_equal(r1, r2);
    for (const char *r = r1; r; r = r == r1 ? r2 : NULL) {
        assert_int_equal(strlen(r), 36);
        assert_true(r[8] == '-' && r[13] == '-' && r[14] == '4' && r[18] == '-' && r[23] == '-');
        assert_non_null(strchr("89ab", r[19]));
        assert_int_equal(strspn(r, "0123456789abcdef-"), 36);
    }
    assert_string_equal(q_text(s, "SELECT status FROM latest_runs WHERE program = 'moe-test'", buf, sizeof buf), "ok");
    assert_int_equal(q_int(s, "SELECT count(*) FROM runs WHERE finished_at >= started_at AND started_at LIKE '____-__-__T__:__:__.___Z'"), 2);
    assert_int_equal(q_int(s, "SELECT n_ok * 10 + n_rejected FROM runs WHERE status = 'partial'"), 11);
    /* unknown runs */
    assert_int_equal(mc_store_input_error(s, "no-such-run", "x", "y"), MC_ERR_DB); /* foreign key */
    assert_non_null(strstr(mc_store_error(s)->msg, "FOREIGN KEY"));
    assert_int_equal(mc_store_run_finish(s, "no-such-run", "ok", 0, 0), MC_ERR_NOT_FOUND);
    assert_int_equal(q_int(s, "SELECT count(*) FROM input_errors"), 1);
    mc_store_close(s);
    remove_db(p);
}

static void test_arguments(void **state) {
    (void)state;
    const char *p = db_path("args");
    remove_db(p);
    mc_store *s;
    memset(&s, 0xa5, sizeof s); /* poisoned: a failed open must set it to NULL */
    mc_error e;
    assert_int_equal(mc_store_open(NULL, p, &e), MC_ERR_ARG);
    assert_int_equal(e.code, MC_ERR_ARG);
    assert_int_equal(mc_store_open(&s, NULL, &e), MC_ERR_ARG);
    assert_null(s);
    assert_int_equal(mc_store_open(&s, NULL, NULL), MC_ERR_ARG);
    assert_false(exists(p));
    assert_int_equal(mc_store_open(&s, p, &e), MC_OK);
    char run[MC_UUID_LEN];
    assert_int_equal(mc_store_run_begin(s, "moe-test", "t", "[]", "0", "b", run), MC_OK);
    assert_int_equal(mc_store_run_finish(s, run, "bogus", 0, 0), MC_ERR_ARG);
    assert_int_equal(mc_store_error(s)->code, MC_ERR_ARG);
    assert_non_null(strstr(mc_store_error(s)->msg, "bogus"));
    char buf[32];
    assert_string_equal(q_text(s, "SELECT status FROM runs", buf, sizeof buf), "running");
    assert_int_equal(mc_store_error(s)->code, MC_OK); /* cleared by the next success */
    sqlite3_stmt *st;
    assert_int_equal(mc_store_stmt(s, "SELECT 1", NULL), MC_ERR_ARG);
    assert_int_equal(mc_store_stmt(s, NULL, &st), MC_ERR_ARG);
    assert_int_equal(mc_store_error(s)->code, MC_ERR_ARG);
    assert_int_equal(mc_store_stmt(s, "SELECT nonsense FROM nowhere", &st), MC_ERR_DB);
    assert_non_null(strstr(mc_store_error(s)->msg, "no such table: nowhere"));
    assert_int_equal(mc_store_migrate(s, NULL, items_v, 1), MC_ERR_ARG);
    assert_int_equal(mc_store_migrate(s, "test", NULL, 1), MC_ERR_ARG);
    assert_int_equal(mc_store_migrate(s, "test", items_v, -1), MC_ERR_ARG);
    assert_int_equal(mc_store_run_begin(s, NULL, "t", "[]", "0", "b", run), MC_ERR_ARG);
    assert_int_equal(mc_store_input_error(s, run, NULL, "r"), MC_ERR_ARG);
    assert_int_equal(mc_store_begin(NULL), MC_ERR_ARG);
    assert_int_equal(mc_store_exec(NULL, "SELECT 1"), MC_ERR_ARG);
    assert_int_equal(mc_store_error(NULL)->code, MC_ERR_ARG);
    assert_null(mc_store_db(NULL));
    mc_store_rollback(NULL);
    mc_store_close(NULL);
    mc_store_close(s);
    remove_db(p);
}

/* A second writer waits for the lock up to the busy timeout, then gets MC_ERR_BUSY. */
static void test_busy(void **state) {
    (void)state;
    const char *p = db_path("busy");
    remove_db(p);
    mc_store *a, *b;
    mc_error e;
    assert_int_equal(mc_store_open(&a, p, &e), MC_OK);
    assert_int_equal(mc_store_open(&b, p, &e), MC_OK);
    sqlite3_busy_timeout(mc_store_db(b), 50);
    assert_int_equal(mc_store_begin(a), MC_OK);
    assert_int_equal(mc_store_begin(b), MC_ERR_BUSY);
    assert_int_equal(mc_store_error(b)->code, MC_ERR_BUSY);
    assert_non_null(strstr(mc_store_error(b)->msg, p));
    char run[MC_UUID_LEN];
    assert_int_equal(mc_store_run_begin(b, "moe-test", "t", "[]", "0", "b", run), MC_ERR_BUSY);
    /* a reader is not blocked by the writer */
    assert_int_equal(q_int(b, "SELECT count(*) FROM runs"), 0);
    mc_store_rollback(a);
    assert_int_equal(mc_store_begin(b), MC_OK);
    assert_int_equal(mc_store_commit(b), MC_OK);
    mc_store_close(a);
    mc_store_close(b);
    remove_db(p);
}

/* Several processes opening one new file at once: each sets it up or finds it set up, and the
 * migrations run exactly once (a second run of CREATE TABLE runs would fail). */
static void test_concurrent_open(void **state) {
    (void)state;
    const char *p = db_path("race");
    enum { ROUNDS = 8, PROCS = 4 };
    for (int round = 0; round < ROUNDS; round++) {
        remove_db(p);
        pid_t pids[PROCS];
        for (int i = 0; i < PROCS; i++) {
            pids[i] = fork();
            assert_true(pids[i] >= 0);
            if (pids[i] == 0) {
                mc_store *s;
                mc_error e;
                if (mc_store_open(&s, p, &e) != MC_OK) _exit(2);
                if (mc_store_migrate(s, "test", items_v, 3) != MC_OK) _exit(3);
                mc_store_close(s);
                _exit(0);
            }
        }
        for (int i = 0; i < PROCS; i++) {
            int status;
            assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
            assert_true(WIFEXITED(status));
            assert_int_equal(WEXITSTATUS(status), 0);
        }
        mc_store *s;
        mc_error e;
        assert_int_equal(mc_store_open(&s, p, &e), MC_OK);
        assert_int_equal(q_int(s, "PRAGMA application_id"), MC_STORE_APPLICATION_ID);
        assert_int_equal(q_int(s, "SELECT group_concat(component || '=' || version) = 'core=2,test=3' FROM"
                                  " (SELECT * FROM schema_versions ORDER BY component)"), 1);
        mc_store_close(s);
    }
    remove_db(p);
}

static void sleep_ms(int ms) { nanosleep(&(struct timespec){0, ms * 1000000L}, NULL); }

/* Child: N inputs of rows_per rows each, one transaction per input, pausing pause_ms in the middle
 * of each input's transaction. */
static void writer(const char *p, int n, int rows_per, int pause_ms) {
    mc_store *s = NULL;
    mc_error e;
    int step = 1;
    if (mc_store_open(&s, p, &e) != MC_OK) goto fail;
    step++;
    if (mc_store_migrate(s, "test", items_v, 3) != MC_OK) goto fail;
    step++;
    char run[MC_UUID_LEN];
    if (mc_store_run_begin(s, "moe-test", "ingest", "[]", "0", "b", run) != MC_OK) goto fail;
    step++;
    for (int i = 0; i < n; i++) {
        if (mc_store_begin(s) != MC_OK) goto fail;
        for (int r = 0; r < rows_per; r++) {
            char key[32];
            snprintf(key, sizeof key, "%d/%d", i, r);
            sqlite3_stmt *st;
            if (mc_store_stmt(s, "INSERT INTO test_items(key, value, run_id) VALUES (?1, ?2, ?3) ON CONFLICT(key) DO NOTHING", &st) != MC_OK)
                goto fail;
            sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
            sqlite3_bind_double(st, 2, i);
            sqlite3_bind_text(st, 3, run, -1, SQLITE_TRANSIENT);
            if (sqlite3_step(st) != SQLITE_DONE) {
                fprintf(stderr, "writer: %s\n", sqlite3_errmsg(mc_store_db(s)));
                _exit(10);
            }
            if (pause_ms && r == rows_per / 2) sleep_ms(pause_ms);
        }
        if (mc_store_commit(s) != MC_OK) goto fail;
    }
    step++;
    if (mc_store_run_finish(s, run, "ok", n, 0) != MC_OK) goto fail;
    mc_store_close(s);
    _exit(0);
fail:
    fprintf(stderr, "writer, step %d: %s\n", step, s ? mc_store_error(s)->msg : e.msg);
    _exit(step + 1);
}

/* Creates the file at p with the test component, then closes it: a process must not fork while
 * it holds a connection to the file its child will open. */
static void prepare(const char *p) {
    remove_db(p);
    mc_store *s;
    mc_error e;
    assert_int_equal(mc_store_open(&s, p, &e), MC_OK);
    assert_int_equal(mc_store_migrate(s, "test", items_v, 3), MC_OK);
    mc_store_close(s);
}

static void test_reader_during_writes(void **state) {
    (void)state;
    const char *p = db_path("reader");
    prepare(p);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) writer(p, 60, 5, 3);
    mc_store *s;
    mc_error e;
    assert_int_equal(mc_store_open(&s, p, &e), MC_OK);
    int64_t last = 0, reads = 0;
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        int64_t n = q_int(s, "SELECT count(*) FROM test_items"); /* asserts SQLITE_ROW: never busy */
        assert_true(n >= last);
        assert_int_equal(n % 5, 0); /* never a half-written input */
        last = n;
        reads++;
        sleep_ms(2);
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_true(reads > 10);
    assert_int_equal(q_int(s, "SELECT count(*) FROM test_items"), 300);
    assert_int_equal(q_int(s, "SELECT count(*) FROM runs WHERE status = 'ok' AND n_ok = 60"), 1);
    mc_store_close(s);
    remove_db(p);
}

static void test_killed_writer(void **state) {
    (void)state;
    const char *p = db_path("killed");
    prepare(p);
    const int N = 2000, R = 10;
    /* the pause inside each transaction makes the batch last seconds and the kill land, most
     * likely, between an input's first and last row */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) writer(p, N, R, 2);
    mc_store *s;
    mc_error e;
    assert_int_equal(mc_store_open(&s, p, &e), MC_OK);
    int64_t n = 0;
    for (int i = 0; i < 10000 && n < 200; i++) {
        n = q_int(s, "SELECT count(*) FROM test_items");
        sleep_ms(1);
    }
    assert_true(n >= 200);
    mc_store_close(s);
    kill(pid, SIGKILL);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);

    assert_int_equal(mc_store_open(&s, p, &e), MC_OK);
    char buf[64];
    assert_string_equal(q_text(s, "PRAGMA integrity_check", buf, sizeof buf), "ok");
    assert_int_equal(q_int(s, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
    n = q_int(s, "SELECT count(*) FROM test_items");
    assert_true(n >= 200 && n < (int64_t)N * R);
    assert_int_equal(n % R, 0);
    /* the inputs present are whole and the first ones */
    assert_int_equal(q_int(s, "SELECT count(DISTINCT value) * 10 = count(*) AND max(value) + 1 = count(DISTINCT value) FROM test_items"), 1);
    assert_string_equal(q_text(s, "SELECT status FROM runs", buf, sizeof buf), "running");
    assert_int_equal(q_int(s, "SELECT finished_at IS NULL FROM runs"), 1);
    mc_store_close(s);
    /* a re-run completes the batch without duplicates */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) writer(p, N, R, 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(mc_store_open(&s, p, &e), MC_OK);
    assert_int_equal(q_int(s, "SELECT count(*) FROM test_items"), (int64_t)N * R);
    assert_int_equal(q_int(s, "SELECT count(*) FROM runs WHERE status = 'ok'"), 1);
    assert_int_equal(q_int(s, "SELECT count(*) FROM runs WHERE status = 'running'"), 1);
    mc_store_close(s);
    remove_db(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_new),
        cmocka_unit_test(test_migrations),
        cmocka_unit_test(test_foreign_files),
        cmocka_unit_test(test_transactions_and_reruns),
        cmocka_unit_test(test_arguments),
        cmocka_unit_test(test_busy),
        cmocka_unit_test(test_concurrent_open),
        cmocka_unit_test(test_reader_during_writes),
        cmocka_unit_test(test_killed_writer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
