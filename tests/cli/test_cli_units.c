/* test_cli_units.c: unit tests of the plumbing behind the programs: status texts, progress bar
 * lines, device choice, the Prometheus metrics file, and a run ended by SIGTERM at a safe point. */
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
#include <unistd.h>

#include "moecore/device.h"
#include "moecore/metrics.h"
#include "moecore/progress.h"
#include "moecore/run.h"
#include "moecore/status.h"

static void test_status_text(void **state) {
    (void)state;
    assert_string_equal(mc_status_str(MC_OK), "ok");
    assert_string_equal(mc_status_str(MC_ERR_FORMAT), "malformed input");
    assert_string_equal(mc_status_str((mc_status)999), "unknown status");
    for (int s = 0; s < MC_STATUS_COUNT; s++) assert_non_null(mc_status_str((mc_status)s));
    mc_error e;
    assert_int_equal(mc_error_set(&e, MC_ERR_IO, "%s: %d", "file.csv", 7), MC_ERR_IO);
    assert_int_equal(e.code, MC_ERR_IO);
    assert_string_equal(e.msg, "file.csv: 7");
    assert_int_equal(mc_error_set(NULL, MC_ERR_ARG, "x"), MC_ERR_ARG);
    mc_error_clear(&e);
    assert_int_equal(e.code, MC_OK);
    assert_string_equal(e.msg, "");
}

static void test_progress_format(void **state) {
    (void)state;
    char buf[256];
    mc_progress_format(buf, sizeof buf, "files", 40, 100, 4.0, 10, 0);
    assert_string_equal(buf, "files [====>     ] 40/100 10.0/s ETA 0:06");
    mc_progress_format(buf, sizeof buf, "files", 100, 100, 8.0, 10, 0);
    assert_string_equal(buf, "files [==========] 100/100 12.5/s ETA 0:00");
    mc_progress_format(buf, sizeof buf, "files", 0, 100, 0.0, 4, 0);
    assert_string_equal(buf, "files [>   ] 0/100 0.0/s ETA --:--");
    mc_progress_format(buf, sizeof buf, "rows", 7200, 0, 3725.0, 10, 0);
    assert_string_equal(buf, "rows 7200 1.9/s 1:02:05");
    mc_progress_format(buf, sizeof buf, "files", 1, 2, 1.0, 2, 1);
    assert_non_null(strstr(buf, "\033[32m=>\033[0m"));
    /* NULL handles are accepted everywhere */
    mc_progress_add(NULL, 1);
    mc_progress_finish(NULL);
}

static void test_device_choice(void **state) {
    (void)state;
    mc_device_kind d;
    assert_int_equal(mc_device_parse("cuda", &d), 0);
    assert_int_equal(d, MC_DEVICE_CUDA);
    assert_int_equal(mc_device_parse("gpu", &d), -1);
    assert_string_equal(mc_device_name(MC_DEVICE_AUTO), "auto");
    mc_error e;
    assert_int_equal(mc_device_resolve(MC_DEVICE_CPU, &d, &e), MC_OK);
    assert_int_equal(d, MC_DEVICE_CPU);
    assert_int_equal(mc_device_resolve(MC_DEVICE_AUTO, &d, &e), MC_OK);
    char desc[256];
    mc_cuda_describe(desc, sizeof desc);
    if (mc_cuda_device_count() == 0) {
        assert_int_equal(d, MC_DEVICE_CPU);
        assert_int_equal(mc_device_resolve(MC_DEVICE_CUDA, &d, &e), MC_ERR_DEVICE);
        assert_non_null(strstr(e.msg, "no CUDA device"));
        assert_non_null(strstr(desc, "no CUDA device"));
    } else {
        assert_int_equal(d, MC_DEVICE_CUDA);
        assert_null(strstr(desc, "no CUDA device"));
    }
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_metrics_file(void **state) {
    (void)state;
    const char *base = getenv("MC_TEST_TMP") ? getenv("MC_TEST_TMP") : "/tmp";
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/metrics-%ld", base, (long)getpid());
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/moe-test.prom", dir);
    unlink(path);

    mc_run_metrics m = {"moe-test", "train", 1000.0, 1012.5, 7, 2, 1};
    mc_error e;
    assert_int_equal(mc_metrics_write(dir, &m, &e), MC_OK);
    char *s = slurp(path);
    assert_non_null(s);
    assert_non_null(strstr(s, "# TYPE moesuite_run_duration_seconds gauge\n"));
    assert_non_null(strstr(s, "moesuite_run_duration_seconds{program=\"moe-test\",command=\"train\"} 12.5\n"));
    assert_non_null(strstr(s, "moesuite_inputs_processed{program=\"moe-test\",command=\"train\"} 7\n"));
    assert_non_null(strstr(s, "moesuite_inputs_rejected{program=\"moe-test\",command=\"train\"} 2\n"));
    assert_non_null(strstr(s, "moesuite_last_success_timestamp_seconds{program=\"moe-test\",command=\"train\"} 1012.5\n"));

    /* another command joins the file; a failed run keeps the earlier success time */
    mc_run_metrics other = {"moe-test", "eval", 2000.0, 2001.0, 1, 0, 1};
    assert_int_equal(mc_metrics_write(dir, &other, &e), MC_OK);
    mc_run_metrics failed = {"moe-test", "train", 3000.0, 3004.0, 0, 0, 0};
    assert_int_equal(mc_metrics_write(dir, &failed, &e), MC_OK);
    s = slurp(path);
    assert_non_null(strstr(s, "moesuite_last_success_timestamp_seconds{program=\"moe-test\",command=\"train\"} 1012.5\n"));
    assert_non_null(strstr(s, "moesuite_last_run_timestamp_seconds{program=\"moe-test\",command=\"train\"} 3004\n"));
    assert_non_null(strstr(s, "moesuite_last_run_success{program=\"moe-test\",command=\"train\"} 0\n"));
    assert_non_null(strstr(s, "moesuite_last_run_success{program=\"moe-test\",command=\"eval\"} 1\n"));
    assert_non_null(strstr(s, "moesuite_inputs_processed{program=\"moe-test\",command=\"eval\"} 1\n"));
    /* each metric family appears once */
    const char *first = strstr(s, "# TYPE moesuite_last_run_success gauge");
    assert_non_null(first);
    assert_null(strstr(first + 1, "# TYPE moesuite_last_run_success gauge"));

    /* errors: missing directory, program name with a slash */
    char missing[600];
    snprintf(missing, sizeof missing, "%s/no/such/dir", dir);
    assert_int_equal(mc_metrics_write(missing, &m, &e), MC_ERR_IO);
    assert_non_null(strstr(e.msg, "no/such/dir"));
    mc_run_metrics bad = m;
    bad.program = "../x";
    assert_int_equal(mc_metrics_write(dir, &bad, &e), MC_ERR_ARG);
    unlink(path);
    rmdir(dir);
}

static sqlite3_int64 q_int(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    sqlite3_int64 v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* The child of test_signal_ends_run: one input done, a second one half-written when SIGTERM comes;
 * the next safe point (a progress update) must end the run and the process. */
static void signalled_child(const char *db) {
    char *argv[] = {"moe-unit", "work", NULL};
    mc_ctx ctx = {.program = "moe-unit", .command = "work", .db_path = db, .argc = 2, .argv = argv};
    mc_error err;
    mc_run *run;
    if (mc_run_begin(&run, &ctx, NULL, &err) != MC_OK) _exit(10);
    static const char *const items[] = {"CREATE TABLE unit_items (key TEXT PRIMARY KEY, run_id TEXT NOT NULL) STRICT;"};
    mc_store *s = mc_run_store(run);
    if (mc_store_migrate(s, "unit", items, 1) != MC_OK) _exit(11);
    if (mc_store_exec(s, "BEGIN IMMEDIATE; INSERT INTO unit_items VALUES ('first', 'r'); COMMIT;") != MC_OK) _exit(12);
    mc_run_input_ok(run);
    if (mc_store_exec(s, "BEGIN IMMEDIATE; INSERT INTO unit_items VALUES ('half', 'r');") != MC_OK) _exit(13);
    raise(SIGTERM); /* only sets the flag: the process goes on to the safe point */
    mc_progress_add(NULL, 1);
    _exit(14); /* not reached */
}

static void test_signal_ends_run(void **state) {
    (void)state;
    char db[512];
    snprintf(db, sizeof db, "%s/signal-%ld.db", getenv("MC_TEST_TMP") ? getenv("MC_TEST_TMP") : "/tmp", (long)getpid());
    unlink(db);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) signalled_child(db);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status)) fail_msg("the child exited with %d instead of ending by SIGTERM", WEXITSTATUS(status));
    assert_int_equal(WTERMSIG(status), SIGTERM);
    sqlite3 *c;
    assert_int_equal(sqlite3_open(db, &c), SQLITE_OK);
    assert_int_equal(q_int(c, "SELECT count(*) FROM runs"), 1);
    assert_int_equal(q_int(c, "SELECT count(*) FROM runs WHERE status = 'failed' AND finished_at IS NOT NULL AND n_ok = 1"), 1);
    assert_int_equal(q_int(c, "SELECT count(*) FROM unit_items WHERE key = 'first'"), 1);
    assert_int_equal(q_int(c, "SELECT count(*) FROM unit_items WHERE key = 'half'"), 0); /* rolled back */
    sqlite3_close(c);
    unlink(db);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_text),
        cmocka_unit_test(test_progress_format),
        cmocka_unit_test(test_device_choice),
        cmocka_unit_test(test_metrics_file),
        cmocka_unit_test(test_signal_ends_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
