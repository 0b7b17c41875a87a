/* test_fundamentals.c: dates, the as-of join with a reporting lag, and cross-sectional z-scores of
 * moe-finance's fundamentals, on small hand-checked cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csv.h"
#include "fundamentals.h"

static void test_dates(void **state) {
    (void)state;
    assert_int_equal(fin_date_days("1970-01-01"), 0);
    assert_int_equal(fin_date_days("1970-01-02"), 1);
    assert_int_equal(fin_date_days("1969-12-31"), -1);
    assert_int_equal(fin_date_days("2000-03-01") - fin_date_days("2000-02-28"), 2); /* 2000 is a leap year */
    assert_int_equal(fin_date_days("1900-03-01") - fin_date_days("1900-02-28"), 1); /* 1900 is not */
    assert_int_equal(fin_date_days("2024-12-31") - fin_date_days("2024-01-01"), 365);
    assert_int_equal(fin_date_days("2023-02-29"), INT_MIN);
    assert_int_equal(fin_date_days("2024-13-01"), INT_MIN);
    assert_int_equal(fin_date_days("2024-1-01"), INT_MIN);
    assert_int_equal(fin_date_days("20240101"), INT_MIN);
    char line[] = " a , b,,c \r\n", *f[4];
    assert_int_equal(fin_csv_split(line, f, 4), 4);
    assert_string_equal(f[0], "a");
    assert_string_equal(f[1], "b");
    assert_string_equal(f[2], "");
    assert_string_equal(f[3], "c");
    char line2[] = "1,2,3";
    assert_int_equal(fin_csv_split(line2, f, 2), -1);
}

static const char *write_file(const char *name, const char *text) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s-%ld.csv", getenv("MC_TEST_TMP") ? getenv("MC_TEST_TMP") : "/tmp", name, (long)getpid());
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_asof_and_zscore(void **state) {
    (void)state;
    char err[256];
    /* reports out of order; B's second report has no pe */
    const char *p = write_file("fund", "date,symbol,pe,book\n"
                                       "2024-01-10,A,10,1\n"
                                       "2024-01-03,A,8,\n"
                                       "2024-01-05,B,20,3\n"
                                       "2024-01-08,B,,4\n"
                                       "2024-01-05,C,30,5\n");
    fin_fundamentals *f = fin_fundamentals_read(p, err, sizeof err);
    assert_non_null(f);
    unlink(p);
    assert_int_equal(fin_fundamentals_count(f), 2);
    assert_string_equal(fin_fundamentals_field(f, 1), "book");
    const char dates[4][11] = {"2024-01-04", "2024-01-06", "2024-01-09", "2024-01-12"};
    double a[8], b[8], c[8];
    fin_fundamentals_asof(f, "A", dates, 4, 0, a);
    assert_float_equal(a[0], 8, 0);  /* the 01-03 report */
    assert_true(isnan(a[1]));         /* book not reported yet */
    assert_float_equal(a[6], 10, 0); /* 01-10 report on 01-12 */
    assert_float_equal(a[7], 1, 0);
    fin_fundamentals_asof(f, "A", dates, 4, 2, a); /* two days of lag: 01-10 counts from 01-12 */
    assert_true(isnan(a[0]));                       /* 01-03 + 2 = 01-05 > 01-04 */
    assert_float_equal(a[2], 8, 0);
    assert_float_equal(a[6], 10, 0);
    fin_fundamentals_asof(f, "B", dates, 4, 0, b);
    assert_true(isnan(b[0]));
    assert_float_equal(b[4], 20, 0); /* pe kept from 01-05 when 01-08 leaves it empty */
    assert_float_equal(b[5], 4, 0);
    fin_fundamentals_asof(f, "C", dates, 4, 0, c);
    fin_fundamentals_asof(f, "A", dates, 4, 0, a);
    fin_fundamentals_asof(f, "Z", dates, 4, 0, a); /* unknown symbol: all NAN */
    for (int i = 0; i < 8; i++) assert_true(isnan(a[i]));
    fin_fundamentals_asof(f, "A", dates, 4, 0, a);

    /* on 01-06: pe A 8, B 20, C 30 -> mean 58/3, population sd sqrt(((8-m)^2+(20-m)^2+(30-m)^2)/3) */
    double *vals[3] = {a, b, c};
    const char(*d3[3])[11] = {dates, dates, dates};
    int n[3] = {4, 4, 4};
    fin_fundamentals_zscore(vals, d3, n, 3, 2);
    double m = 58.0 / 3, sd = sqrt((pow(8 - m, 2) + pow(20 - m, 2) + pow(30 - m, 2)) / 3);
    assert_float_equal(a[2], (8 - m) / sd, 1e-12);
    assert_float_equal(b[2], (20 - m) / sd, 1e-12);
    assert_float_equal(c[2], (30 - m) / sd, 1e-12);
    assert_true(isnan(a[0]));  /* on 01-04 only A has a pe: no cross-section */
    assert_true(isnan(a[3]));  /* book of A on 01-06 not reported */
    assert_float_equal(b[3], -1.0, 1e-12); /* book: B 3, C 5 -> z = -1 and +1 */
    assert_float_equal(c[3], 1.0, 1e-12);
    fin_fundamentals_free(f);

    /* bad files are named with their line */
    const char *bad[][2] = {
        {"date,symbol\n2024-01-01,A\n", "expected a header"},
        {"date,symbol,pe\n2024-02-30,A,1\n", "line 2: invalid date"},
        {"date,symbol,pe\n2024-01-01,A,abc\n", "line 2: field 'pe' is not a finite number"},
        {"date,symbol,pe\n2024-01-01,,1\n", "line 2: bad symbol"},
        {"", "expected a header"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p = write_file("badfund", bad[i][0]);
        assert_null(fin_fundamentals_read(p, err, sizeof err));
        if (!strstr(err, bad[i][1]) || !strstr(err, p)) fail_msg("case %zu: %s", i, err);
        unlink(p);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_dates), cmocka_unit_test(test_asof_and_zscore)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
