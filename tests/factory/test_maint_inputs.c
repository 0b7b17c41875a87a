/* test_maint_inputs.c: moe-factory maintenance inputs: ISO 8601 times, sensor logs and failure
 * lists, good and bad, each bad case rejected with its line and problem. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "assert_double.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "maintain/sensor_log.h"

/* Writes bytes to a file under MC_TEST_TMP named after name; returns its path (static buffer). */
static const char *write_bytes(const char *name, const char *bytes, size_t n) {
    static char path[512];
    snprintf(path, sizeof path, "%s/maint-%s-%ld.csv", getenv("MC_TEST_TMP") ? getenv("MC_TEST_TMP") : "/tmp", name,
             (long)getpid());
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(bytes, 1, n, f);
    fclose(f);
    return path;
}

static const char *write_text(const char *name, const char *text) { return write_bytes(name, text, strlen(text)); }

static void test_times(void **state) {
    (void)state;
    double h;
    assert_int_equal(fab_parse_time("1970-01-01T00:00:00Z", &h), 0);
    assert_true(h == 0);
    assert_int_equal(fab_parse_time("1970-01-02T01:30:00Z", &h), 0);
    assert_double_equal(h, 25.5, 1e-12);
    assert_int_equal(fab_parse_time("2026-01-01T00:00:00Z", &h), 0);
    assert_double_equal(h, 20454 * 24.0, 1e-9); /* 56 years with 14 leap days */
    assert_int_equal(fab_parse_time("2024-02-29 12:00", &h), 0); /* space, no seconds, no Z */
    double h2;
    assert_int_equal(fab_parse_time("2024-03-01T00:00:00.500Z", &h2), 0);
    assert_double_equal(h2 - h, 12 + 0.5 / 3600, 1e-9);
    assert_int_equal(fab_parse_time("2023-02-29T00:00:00Z", &h), -1);
    assert_int_equal(fab_parse_time("2024-13-01T00:00:00Z", &h), -1);
    assert_int_equal(fab_parse_time("2024-01-01T24:00:00Z", &h), -1);
    assert_int_equal(fab_parse_time("2024-01-01", &h), -1);
    assert_int_equal(fab_parse_time("2024-01-01T00:00:00+01:00", &h), -1);
    char buf[32];
    assert_int_equal(fab_parse_time("1999-12-31T23:59:59Z", &h), 0);
    fab_format_time(h, buf, sizeof buf);
    assert_string_equal(buf, "1999-12-31T23:59:59Z");
    fab_format_time(20454 * 24.0 + 36.25, buf, sizeof buf);
    assert_string_equal(buf, "2026-01-02T12:15:00Z");
}

static void test_good_log(void **state) {
    (void)state;
    const char *path = write_text("good", "machine_id,timestamp,setting_load,temp,vib\n"
                                          "A,2026-01-01T00:00:00Z,0.5,60.5,1.25\n"
                                          "B,2026-01-01T00:10:00Z,0.7,,1.5\n"
                                          "A,2026-01-01T01:02:00Z,0.5,61,1.0\n"
                                          "\n"
                                          "B,2026-01-01T03:00:00Z, 0.7 ,62.25,2\r\n");
    fab_sensor_log log;
    char reason[256];
    assert_int_equal(fab_sensor_log_read(path, &log, reason, sizeof reason), 0);
    assert_int_equal(log.n_sensors, 3);
    assert_string_equal(log.sensor[2], "vib");
    assert_int_equal(fab_sensor_index(&log, "temp"), 1);
    assert_int_equal(fab_sensor_index(&log, "pressure"), -1);
    assert_int_equal(log.n_machines, 2);
    assert_string_equal(log.m[0].id, "A");
    assert_int_equal(log.m[0].n, 2);
    assert_int_equal(log.m[1].n, 2);
    assert_double_equal(log.m[0].t[1] - log.m[0].t[0], 62.0 / 60, 1e-9);
    assert_true(isnan(log.m[1].v[1]));             /* B's first temp is empty */
    assert_double_equal(log.m[1].v[3], 0.7, 0); /* B's second load, spaces trimmed */
    assert_double_equal(log.m[1].v[5], 2.0, 0);
    assert_true(isnan(log.m[0].failure));

    const char *fail = write_text("fail", "machine_id,failure_time\nB,2026-01-02T00:00:00Z\n");
    assert_int_equal(fab_failures_read(fail, &log, reason, sizeof reason), 1);
    assert_true(isnan(log.m[0].failure));
    assert_double_equal(log.m[1].failure - log.m[1].t[0], 24 - 10.0 / 60, 1e-9);
    fab_sensor_log_free(&log);
}

/* Expects the log to be rejected with a reason containing want. */
static void expect_bad_log(const char *name, const char *bytes, size_t n, const char *want) {
    fab_sensor_log log;
    char reason[256] = "";
    const char *path = write_bytes(name, bytes, n);
    int rc = fab_sensor_log_read(path, &log, reason, sizeof reason);
    if (rc == 0 || !strstr(reason, want)) fail_msg("%s: got rc %d reason '%s', wanted '%s'", name, rc, reason, want);
}

#define BAD_LOG(name, text, want) expect_bad_log(name, text, sizeof text - 1, want)

static void test_bad_logs(void **state) {
    (void)state;
    BAD_LOG("empty", "", "empty file");
    BAD_LOG("header_only", "machine_id,timestamp,temp\n", "no samples after the header");
    BAD_LOG("no_sensor", "machine_id,timestamp\nA,2026-01-01T00:00:00Z\n", "line 1: header must be");
    BAD_LOG("wrong_header", "machine,time,temp\nA,2026-01-01T00:00:00Z,1\n", "line 1: header must be");
    BAD_LOG("dup_column", "machine_id,timestamp,temp,temp\nA,2026-01-01T00:00:00Z,1,2\n", "'temp' appears twice");
    BAD_LOG("missing_column", "machine_id,timestamp,temp,vib\nA,2026-01-01T00:00:00Z,1,2\nA,2026-01-01T01:00:00Z,1\n",
            "line 3: fewer columns than the header's 4");
    BAD_LOG("extra_column", "machine_id,timestamp,temp\nA,2026-01-01T00:00:00Z,1,2\n", "line 2: more columns");
    BAD_LOG("non_numeric", "machine_id,timestamp,temp\nA,2026-01-01T00:00:00Z,1\nA,2026-01-01T01:00:00Z,hot\n",
            "line 3: temp value 'hot' is not a number");
    BAD_LOG("nan_value", "machine_id,timestamp,temp\nA,2026-01-01T00:00:00Z,nan\n", "line 2: temp value 'nan'");
    BAD_LOG("huge_value", "machine_id,timestamp,temp\nA,2026-01-01T00:00:00Z,1e999\n", "is not a number");
    BAD_LOG("bad_time", "machine_id,timestamp,temp\nA,2026-02-30T00:00:00Z,1\n", "line 2: timestamp '2026-02-30T00:00:00Z'");
    BAD_LOG("unsorted",
            "machine_id,timestamp,temp\nA,2026-01-01T05:00:00Z,1\nB,2026-01-01T01:00:00Z,1\nA,2026-01-01T04:00:00Z,1\n",
            "line 4: machine A: timestamp 2026-01-01T04:00:00Z is before the previous one");
    BAD_LOG("duplicate", "machine_id,timestamp,temp\nA,2026-01-01T05:00:00Z,1\nA,2026-01-01T05:00:00Z,2\n",
            "line 3: machine A: timestamp 2026-01-01T05:00:00Z duplicates the previous one");
    BAD_LOG("no_id", "machine_id,timestamp,temp\n,2026-01-01T05:00:00Z,1\n", "line 2: empty or too long machine_id");
    BAD_LOG("nul", "machine_id,timestamp,temp\nA,2026-01-01T0\0:00:00Z,1\n", "line 2: binary data");
    /* random bytes: rejected at the header, never a crash */
    char noise[2048];
    unsigned s = 12345;
    for (size_t i = 0; i < sizeof noise; i++) noise[i] = (char)((s = s * 1103515245u + 12345u) >> 16);
    fab_sensor_log log;
    char reason[256];
    assert_int_equal(fab_sensor_log_read(write_bytes("noise", noise, sizeof noise), &log, reason, sizeof reason), -1);
    assert_int_equal(fab_sensor_log_read("/nonexistent/dir/x.csv", &log, reason, sizeof reason), -1);
    assert_non_null(strstr(reason, "cannot open"));
}

static void expect_bad_failures(const char *name, const char *text, const char *want) {
    fab_sensor_log log;
    char reason[256] = "";
    const char *path = write_text("log", "machine_id,timestamp,temp\nA,2026-01-01T00:00:00Z,1\nB,2026-01-01T00:00:00Z,1\n");
    assert_int_equal(fab_sensor_log_read(path, &log, reason, sizeof reason), 0);
    int rc = fab_failures_read(write_text(name, text), &log, reason, sizeof reason);
    if (rc >= 0 || !strstr(reason, want)) fail_msg("%s: got rc %d reason '%s', wanted '%s'", name, rc, reason, want);
    for (int i = 0; i < log.n_machines; i++) assert_true(isnan(log.m[i].failure)); /* nothing half-read */
    fab_sensor_log_free(&log);
}

static void test_bad_failures(void **state) {
    (void)state;
    expect_bad_failures("f_empty", "", "empty file");
    expect_bad_failures("f_header", "machine,failed\nA,2026-01-02T00:00:00Z\n", "line 1: header must be machine_id,failure_time");
    expect_bad_failures("f_unknown", "machine_id,failure_time\nA,2026-01-02T00:00:00Z\nZ9,2026-01-02T00:00:00Z\n",
                        "line 3: unknown machine 'Z9'");
    expect_bad_failures("f_twice", "machine_id,failure_time\nA,2026-01-02T00:00:00Z\nA,2026-01-03T00:00:00Z\n",
                        "line 3: machine A has a second failure");
    expect_bad_failures("f_early", "machine_id,failure_time\nB,2025-12-31T00:00:00Z\n", "line 2: machine B fails before its first sample");
    expect_bad_failures("f_time", "machine_id,failure_time\nB,yesterday\n", "line 2: failure_time 'yesterday'");
    expect_bad_failures("f_columns", "machine_id,failure_time\nB\n", "line 2: expected 2 columns");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_good_log),
        cmocka_unit_test(test_bad_logs),
        cmocka_unit_test(test_bad_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
