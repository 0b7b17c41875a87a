/* test_store.c: the results store: connection rules, migrations (from an empty file and from each
 * earlier version, refusal of newer schemas, atomic failure), foreign files, one transaction per
 * input, idempotent re-runs, a reader in a second process during writes, and a writer killed with
 * SIGKILL mid-batch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    assert_int_equal(q_int(s, "PRAGMA user_version"), 1);
    assert_int_equal(q_int(s, "PRAGMA application_id"), MC_STORE_APPLICATION_ID);
    assert_string_equal(q_text(s, "PRAGMA journal_mode", buf, sizeof buf), "wal");
    assert_int_equal(q_int(s, "PRAGMA foreign_keys"), 1);
    assert_int_equal(q_int(s, "SELECT version FROM schema_versions WHERE component = 'core'"), 1);
    assert_int_equal(q_int(s, "SELECT count(*) FROM sqlite_schema WHERE name IN ('runs', 'input_errors', 'latest_runs')"), 3);
    assert_int_equal(q_int(s, "SELECT strict FROM pragma_table_list WHERE name = 'runs'"), 1);
    mc_store_close(s);
    /* reopening changes nothing */
    assert_int_equal(mc_store_open(&s, p, &e), MC_OK);
    assert_int_equal(q_int(s, "PRAGMA user_version"), 1);
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
        /* running the migrations again does nothing */
        assert_int_equal(mc_store_migrate(s, "test", items_v, 3), MC_OK);
        assert_int_equal(q_int(s, "SELECT count(*) FROM sqlite_schema WHERE name = 'test_items_value'"), 1);
        mc_store_close(s);
        remove_db(p);
    }

    /* a database from a newer build is refused and left as it is */
    const char *p = db_path("newer");
    remove_db(p);
    mc_store *s;
    assert_int_equal(mc_store_open(&s, p, &e), MC_OK);
    assert_int_equal(mc_store_migrate(s, "test", items_v, 4), MC_OK);
    assert_int_equal(mc_store_migrate(s, "test", items_v, 3), MC_ERR_SCHEMA);
    assert_non_null(strstr(mc_store_error(s)->msg, "version 4"));
    int v;
    assert_int_equal(mc_store_schema_version(s, "test", &v), MC_OK);
    assert_int_equal(v, 4);
    /* a failing step leaves version and tables as they were */
    const char *const broken[] = {items_v[0], items_v[1], items_v[2], items_v[3], "CREATE TABLE test_x (a INTEGER) STRICT;",
                                  "CREATE TABLE oops (;"};
    assert_int_equal(mc_store_migrate(s, "test", broken, 6), MC_ERR_DB);
    assert_non_null(strstr(mc_store_error(s)->msg, "version 6"));
    assert_int_equal(mc_store_schema_version(s, "test", &v), MC_OK);
    assert_int_equal(v, 4);
    assert_int_equal(q_int(s, "SELECT count(*) FROM sqlite_schema WHERE name = 'test_x'"), 0);
    mc_store_close(s);
    /* the core schema of a newer build is refused at open */
    sqlite3 *raw;
    assert_int_equal(sqlite3_open(p, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw, "UPDATE schema_versions SET version = 9 WHERE component = 'core'", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    assert_int_equal(mc_store_open(&s, p, &e), MC_ERR_SCHEMA);
    assert_null(s);
    assert_non_null(strstr(e.msg, "upgrade moesuite"));
    remove_db(p);
}

static void test_foreign_files(void **state) {
    (void)state;
    mc_error e;
    mc_store *s;
    const char *p = db_path("text");
    FILE *f = fopen(p, "w");
    fputs("this is not a database, just some text that is long enough to have a header\n", f);
    fclose(f);
    assert_int_equal(mc_store_open(&s, p, &e), MC_ERR_DB);
    assert_null(s);
    assert_non_null(strstr(e.msg, p));
    f = fopen(p, "r");
    char line[128];
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_non_null(strstr(line, "not a database")); /* left unchanged */
    remove_db(p);

    p = db_path("other");
    remove_db(p);
    sqlite3 *raw;
    assert_int_equal(sqlite3_open(p, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw, "PRAGMA application_id = 1234; CREATE TABLE t (x);", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    assert_int_equal(mc_store_open(&s, p, &e), MC_ERR_SCHEMA);
    assert_non_null(strstr(e.msg, "not a moesuite database"));
    /* an SQLite file of another application without an id but with tables is refused too */
    remove_db(p);
    assert_int_equal(sqlite3_open(p, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw, "CREATE TABLE t (x);", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    assert_int_equal(mc_store_open(&s, p, &e), MC_ERR_SCHEMA);
    remove_db(p);
    assert_int_equal(mc_store_open(NULL, p, &e), MC_ERR_ARG);
    assert_int_equal(mc_store_open(&s, NULL, &e), MC_ERR_ARG);
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
    }
    assert_string_equal(q_text(s, "SELECT status FROM latest_runs WHERE program = 'moe-test'", buf, sizeof buf), "ok");
    assert_int_equal(q_int(s, "SELECT count(*) FROM runs WHERE finished_at >= started_at AND started_at LIKE '____-__-__T__:__:__.___Z'"), 2);
    /* bad arguments */
    assert_int_equal(mc_store_run_finish(s, r1, "bogus", 0, 0), MC_ERR_ARG);
    assert_int_equal(mc_store_input_error(s, "no-such-run", "x", "y"), MC_ERR_DB); /* foreign key */
    mc_store_close(s);
    remove_db(p);
}

static void sleep_ms(int ms) { nanosleep(&(struct timespec){0, ms * 1000000L}, NULL); }

/* Child: N inputs of rows_per rows each, one transaction per input. */
static void writer(const char *p, int n, int rows_per, int pause_ms) {
    mc_store *s;
    mc_error e;
    if (mc_store_open(&s, p, &e) != MC_OK || mc_store_migrate(s, "test", items_v, 3) != MC_OK) _exit(2);
    char run[MC_UUID_LEN];
    if (mc_store_run_begin(s, "moe-test", "ingest", "[]", "0", "b", run) != MC_OK) _exit(3);
    for (int i = 0; i < n; i++) {
        if (mc_store_begin(s) != MC_OK) _exit(4);
        for (int r = 0; r < rows_per; r++) {
            char key[32];
            snprintf(key, sizeof key, "%d/%d", i, r);
            sqlite3_stmt *st;
            if (mc_store_stmt(s, "INSERT INTO test_items(key, value, run_id) VALUES (?1, ?2, ?3) ON CONFLICT(key) DO NOTHING", &st) != MC_OK) _exit(5);
            sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
            sqlite3_bind_double(st, 2, i);
            sqlite3_bind_text(st, 3, run, -1, SQLITE_TRANSIENT);
            if (sqlite3_step(st) != SQLITE_DONE) _exit(6);
        }
        if (mc_store_commit(s) != MC_OK) _exit(7);
        if (pause_ms) sleep_ms(pause_ms);
    }
    mc_store_run_finish(s, run, "ok", n, 0);
    mc_store_close(s);
    _exit(0);
}

static void test_reader_during_writes(void **state) {
    (void)state;
    const char *p = db_path("reader");
    remove_db(p);
    mc_store *s;
    mc_error e;
    assert_int_equal(mc_store_open(&s, p, &e), MC_OK);
    assert_int_equal(mc_store_migrate(s, "test", items_v, 3), MC_OK);
    pid_t pid = fork();
    if (pid == 0) writer(p, 60, 5, 5);
    int64_t last = 0, reads = 0;
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        int64_t n = q_int(s, "SELECT count(*) FROM test_items");
        assert_true(n >= last);
        assert_int_equal(n % 5, 0); /* never a half-written input */
        last = n;
        reads++;
        sleep_ms(2);
    }
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(reads > 10);
    assert_int_equal(q_int(s, "SELECT count(*) FROM test_items"), 300);
    mc_store_close(s);
    remove_db(p);
}

static void test_killed_writer(void **state) {
    (void)state;
    const char *p = db_path("killed");
    remove_db(p);
    mc_store *s;
    mc_error e;
    assert_int_equal(mc_store_open(&s, p, &e), MC_OK);
    assert_int_equal(mc_store_migrate(s, "test", items_v, 3), MC_OK);
    const int N = 2000, R = 10;
    pid_t pid = fork();
    if (pid == 0) writer(p, N, R, 0);
    int64_t n = 0;
    for (int i = 0; i < 5000 && n < 200; i++) {
        n = q_int(s, "SELECT count(*) FROM test_items");
        sleep_ms(1);
    }
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status));
    mc_store_close(s);

    assert_int_equal(mc_store_open(&s, p, &e), MC_OK);
    char buf[64];
    assert_string_equal(q_text(s, "PRAGMA integrity_check", buf, sizeof buf), "ok");
    n = q_int(s, "SELECT count(*) FROM test_items");
    assert_true(n > 0 && n < (int64_t)N * R);
    assert_int_equal(n % R, 0);
    assert_string_equal(q_text(s, "SELECT status FROM runs", buf, sizeof buf), "running");
    /* a re-run completes the batch without duplicates */
    pid = fork();
    if (pid == 0) writer(p, N, R, 0);
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(q_int(s, "SELECT count(*) FROM test_items"), (int64_t)N * R);
    assert_int_equal(q_int(s, "SELECT count(*) FROM runs WHERE status = 'ok'"), 1);
    mc_store_close(s);
    remove_db(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_new),           cmocka_unit_test(test_migrations),
        cmocka_unit_test(test_foreign_files),      cmocka_unit_test(test_transactions_and_reruns),
        cmocka_unit_test(test_reader_during_writes), cmocka_unit_test(test_killed_writer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
