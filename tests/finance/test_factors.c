/* test_factors.c: the factor library of moe-finance (apps/finance/factors.c).
 *   - every TTR-matched indicator against R's TTR on the ttrc data set (finance/ttr_reference.csv,
 *     written by finance/ttr_reference.R): same warm-up bars, relative error below 1e-6;
 *   - Alpha158 factors of each family on a six-bar handmade series, values worked out by hand
 *     (the correlations and WVMA with R's cor() and sd());
 *   - the name table, and series of 0 and 1 bars. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "factors.h"

#ifndef FIN_TEST_DIR
#error "FIN_TEST_DIR must name the folder holding ttrc.csv and ttr_reference.csv"
#endif

/* The reference is printed with 12 significant digits (rounding: 5e-13 relative) and computed with
 * the same operations in the same order, so agreement is near 1e-12; 1e-6 catches any difference
 * of definition, seeding or window. */
#define TTR_TOL 1e-6

enum { MAX_ROWS = 2000, MAX_COLS = 64, LINE = 8192 };

/* A CSV of numbers with a header, the first column (the date) skipped; empty fields are NAN. */
typedef struct {
    int rows, cols;
    char name[MAX_COLS][32];
    double *v; /* rows x cols */
} table;

static void read_table(const char *file, table *t) {
    char path[512], line[LINE];
    snprintf(path, sizeof path, "%s/%s", FIN_TEST_DIR, file);
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s", path);
    memset(t, 0, sizeof *t);
    assert_non_null(fgets(line, sizeof line, f));
    line[strcspn(line, "\r\n")] = 0;
    char *save = NULL;
    for (char *tok = strtok_r(line, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (t->cols++ == 0) continue; /* date */
        assert_true(t->cols - 1 <= MAX_COLS);
        snprintf(t->name[t->cols - 2], sizeof t->name[0], "%s", tok);
    }
    t->cols--;
    t->v = malloc(sizeof(double) * MAX_ROWS * (size_t)t->cols);
    assert_non_null(t->v);
    while (fgets(line, sizeof line, f)) {
        assert_true(t->rows < MAX_ROWS);
        char *p = strchr(line, ',');
        assert_non_null(p);
        for (int c = 0; c < t->cols; c++) {
            assert_true(*p == ',');
            char *end;
            p++;
            double x = strtod(p, &end);
            t->v[t->rows * t->cols + c] = end == p ? NAN : x;
            p = end;
        }
        t->rows++;
    }
    fclose(f);
}

static int column(const table *t, const char *name) {
    for (int c = 0; c < t->cols; c++)
        if (strcmp(t->name[c], name) == 0) return c;
    fail_msg("column %s missing", name);
    return -1;
}

/* Computes every factor of the ttrc bars: out (rows x fin_factor_count()). */
static double *ttrc_factors(const table *bars) {
    int n = bars->rows, nf = fin_factor_count();
    double *col[5];
    static const char *const fields[5] = {"open", "high", "low", "close", "volume"};
    for (int k = 0; k < 5; k++) {
        col[k] = malloc(sizeof(double) * (size_t)n);
        assert_non_null(col[k]);
        int c = column(bars, fields[k]);
        for (int i = 0; i < n; i++) col[k][i] = bars->v[i * bars->cols + c];
    }
    fin_series s = {n, col[0], col[1], col[2], col[3], col[4]};
    double *out = malloc(sizeof(double) * (size_t)n * (size_t)nf);
    assert_non_null(out);
    assert_int_equal(fin_factors_compute(&s, out), 0);
    for (int k = 0; k < 5; k++) free(col[k]);
    return out;
}

static double rel_err(double got, double want) {
    double scale = fmax(fabs(got), fabs(want));
    return scale == 0 ? 0 : fabs(got - want) / scale;
}

static void test_ttr_parity(void **state) {
    (void)state;
    table bars, ref;
    read_table("ttrc.csv", &bars);
    read_table("ttr_reference.csv", &ref);
    assert_int_equal(bars.rows, 1500);
    assert_int_equal(ref.rows, bars.rows);
    double *out = ttrc_factors(&bars);
    int nf = fin_factor_count();

    /* every classic indicator (from sma_20 to the end of the list) has a reference column */
    int first = fin_factor_index("sma_20");
    assert_true(first > 0);
    assert_int_equal(ref.cols, nf - first);

    for (int c = 0; c < ref.cols; c++) {
        int f = fin_factor_index(ref.name[c]);
        if (f < first) fail_msg("reference column %s is not a classic factor", ref.name[c]);
        double worst = 0;
        int worst_row = -1, defined = 0;
        for (int i = 0; i < ref.rows; i++) {
            double want = ref.v[i * ref.cols + c], got = out[(size_t)i * nf + f];
            if (isnan(want) != isnan(got))
                fail_msg("%s, bar %d: R has %g, we have %g (warm-up differs)", ref.name[c], i, want, got);
            if (isnan(want)) continue;
            defined++;
            double e = rel_err(got, want);
            if (e > worst) worst = e, worst_row = i;
        }
        print_message("%-17s %4d bars  max relative error %.2e (bar %d)\n", ref.name[c], defined, worst, worst_row);
        assert_true(defined > 1400);
        if (!(worst < TTR_TOL))
            fail_msg("%s: relative error %g at bar %d: got %.12g, want %.12g", ref.name[c], worst, worst_row,
                     out[(size_t)worst_row * nf + f], ref.v[worst_row * ref.cols + c]);
    }
    free(out);
    free(bars.v);
    free(ref.v);
}

/* ---- Alpha158 on a handmade series ------------------------------------------------------------- */

enum { HN = 6 };
static const double h_open[HN] = {10, 10, 11, 10, 12, 13};
static const double h_high[HN] = {11, 12, 11, 13, 14, 13.5};
static const double h_low[HN] = {9, 10, 9, 10, 11, 11};
static const double h_close[HN] = {10, 11, 10, 12, 13, 12};
static const double h_volume[HN] = {100, 200, 100, 300, 200, 100};

static double *handmade(void) {
    fin_series s = {HN, h_open, h_high, h_low, h_close, h_volume};
    double *out = malloc(sizeof(double) * HN * (size_t)fin_factor_count());
    assert_non_null(out);
    assert_int_equal(fin_factors_compute(&s, out), 0);
    return out;
}

static double at(const double *out, int t, const char *name) {
    int f = fin_factor_index(name);
    if (f < 0) fail_msg("no factor %s", name);
    return out[(size_t)t * fin_factor_count() + f];
}

static void expect(const double *out, int t, const char *name, double want) {
    double got = at(out, t, name);
    if (!(rel_err(got, want) < 1e-9)) fail_msg("%s at bar %d: got %.15g, want %.15g", name, t, got, want);
}

static void expect_nan(const double *out, int t, const char *name) {
    double got = at(out, t, name);
    if (!isnan(got)) fail_msg("%s at bar %d: got %.15g, want NAN", name, t, got);
}

/* Bar 5: open 13, high 13.5, low 11, close 12 (range 2.5, body top 13, body bottom 12). */
static void test_kbar_price(void **state) {
    (void)state;
    double *out = handmade();
    expect(out, 5, "KMID", -1.0 / 13);
    expect(out, 5, "KLEN", 2.5 / 13);
    expect(out, 5, "KMID2", -1 / 2.5);
    expect(out, 5, "KUP", 0.5 / 13);
    expect(out, 5, "KUP2", 0.5 / 2.5);
    expect(out, 5, "KLOW", 1.0 / 13);
    expect(out, 5, "KLOW2", 1 / 2.5);
    expect(out, 5, "KSFT", -0.5 / 13);
    expect(out, 5, "KSFT2", -0.5 / 2.5);
    expect(out, 5, "OPEN0", 13.0 / 12);
    expect(out, 5, "HIGH0", 13.5 / 12);
    expect(out, 5, "LOW0", 11.0 / 12);
    expect(out, 5, "VWAP0", (13.5 + 11 + 12) / 3 / 12);
    expect(out, 0, "KMID", 0);
    expect(out, 0, "KLEN", 0.2);
    free(out);
}

/* Window of 5 ending at bar 5: closes 11 10 12 13 12 (changes from bar 0: +1 -1 +2 +1 -1),
 * highs 12 11 13 14 13.5, lows 10 9 10 11 11, volumes 200 100 300 200 100. */
static void test_rolling(void **state) {
    (void)state;
    double *out = handmade();
    expect(out, 5, "ROC5", 10.0 / 12);
    expect(out, 5, "MA5", 11.6 / 12);
    expect(out, 5, "STD5", sqrt(5.2 / 4) / 12);          /* squared deviations 0.36 2.56 0.16 1.96 0.16 */
    expect(out, 5, "BETA5", 0.5 / 12);                   /* Sxy = 5 over Sxx = 10 for x = 1..5 */
    expect(out, 5, "RSQR5", 25 / (10 * 5.2));            /* Sxy^2 / (Sxx Syy) */
    expect(out, 5, "RESI5", (12 - (10.1 + 0.5 * 5)) / 12); /* intercept 11.6 - 0.5 * 3 */
    expect(out, 5, "MAX5", 14.0 / 12);
    expect(out, 5, "MIN5", 9.0 / 12);
    expect(out, 5, "QTLU5", 12.2 / 12);                  /* sorted 10 11 12 12 13, position 3.2 */
    expect(out, 5, "QTLD5", 10.8 / 12);                  /* position 0.8 */
    expect(out, 5, "RANK5", (2 + 1.5) / 5);              /* two below, tied with one other 12 */
    expect(out, 5, "RSV5", (12 - 9) / (14 - 9 + 1e-12));
    expect(out, 5, "IMAX5", 4.0 / 5);                    /* high 14 is the 4th of the window */
    expect(out, 5, "IMIN5", 2.0 / 5);                    /* low 9 is the 2nd */
    expect(out, 5, "IMXD5", 2.0 / 5);
    expect(out, 5, "CORR5", 0.45114720648150125);        /* R: cor(closes, log(volumes + 1)) */
    expect(out, 5, "CORD5", 0.87718237071078575);        /* R: cor(c/c[-1], log(v/v[-1] + 1)) */
    expect(out, 5, "CNTP5", 0.6);
    expect(out, 5, "CNTN5", 0.4);
    expect(out, 5, "CNTD5", 0.2);
    expect(out, 5, "SUMP5", 4 / (6 + 1e-12));
    expect(out, 5, "SUMN5", 2 / (6 + 1e-12));
    expect(out, 5, "SUMD5", 2 / (6 + 1e-12));
    expect(out, 5, "VMA5", 180 / (100 + 1e-12));
    expect(out, 5, "VSTD5", sqrt(28000 / 4.0) / 100);
    expect(out, 5, "WVMA5", 0.94663688854644112);        /* R: sd(a) / (mean(a) + 1e-12) */
    expect(out, 5, "VSUMP5", 300 / (600 + 1e-12));       /* volume changes +100 -100 +200 -100 -100 */
    expect(out, 5, "VSUMN5", 300 / (600 + 1e-12));
    expect(out, 5, "VSUMD5", 0);

    /* bar 4: window 5 just complete for MA, one change short for ROC/CNTP/SUMP/WVMA */
    expect(out, 4, "MA5", 11.2 / 13);                    /* closes 10 11 10 12 13 */
    expect(out, 4, "IMAX5", 1.0);
    expect_nan(out, 3, "MA5");
    expect_nan(out, 4, "ROC5");
    expect_nan(out, 4, "CNTP5");
    expect_nan(out, 4, "SUMP5");
    expect_nan(out, 4, "WVMA5");
    expect_nan(out, 4, "CORD5");
    expect_nan(out, 5, "MA10");
    expect_nan(out, 5, "ROC60");
    free(out);
}

/* Flat bars: Qlib's RSQR and CORR are undefined on a window with (near) zero deviation; ties. */
static void test_flat(void **state) {
    (void)state;
    double p[HN] = {5, 5, 5, 5, 5, 5}, v[HN] = {10, 10, 10, 10, 10, 10};
    fin_series s = {HN, p, p, p, p, v};
    double *out = malloc(sizeof(double) * HN * (size_t)fin_factor_count());
    assert_non_null(out);
    assert_int_equal(fin_factors_compute(&s, out), 0);
    expect_nan(out, 5, "RSQR5");
    expect_nan(out, 5, "CORR5");
    expect(out, 5, "STD5", 0);
    expect(out, 5, "BETA5", 0);
    expect(out, 5, "RANK5", 0.6);  /* five ties at average rank 3 */
    expect(out, 5, "IMAX5", 0.2);  /* the first of equal highs */
    expect(out, 5, "RSV5", 0);
    expect(out, 5, "SUMP5", 0);
    expect(out, 5, "KMID2", 0);
    free(out);
}

/* ---- the name table, tiny series --------------------------------------------------------------- */

static void test_names(void **state) {
    (void)state;
    int nf = fin_factor_count();
    assert_true(nf >= 158 + 35);
    for (int i = 0; i < nf; i++) {
        const char *a = fin_factor_name(i);
        assert_non_null(a);
        assert_true(strlen(a) > 0);
        assert_int_equal(fin_factor_index(a), i);
        for (int j = 0; j < i; j++)
            if (strcmp(a, fin_factor_name(j)) == 0) fail_msg("%s appears twice", a);
    }
    assert_null(fin_factor_name(-1));
    assert_null(fin_factor_name(nf));
    assert_int_equal(fin_factor_index("nope"), -1);
    assert_int_equal(fin_factor_index(NULL), -1);
    assert_int_equal(fin_factor_index("KMID"), 0);
    assert_int_equal(fin_factor_index("VSUMD60"), 157);
    assert_int_equal(fin_factor_index("sma_20"), 158);
}

static void test_tiny(void **state) {
    (void)state;
    int nf = fin_factor_count();
    fin_series empty = {0, NULL, NULL, NULL, NULL, NULL};
    assert_int_equal(fin_factors_compute(&empty, NULL), 0);

    double o = 10, h = 12, l = 9, c = 11, v = 1000;
    fin_series one = {1, &o, &h, &l, &c, &v};
    double *out = malloc(sizeof(double) * (size_t)nf);
    assert_non_null(out);
    assert_int_equal(fin_factors_compute(&one, out), 0);
    expect(out, 0, "KMID", 0.1);
    expect(out, 0, "VWAP0", 32.0 / 3 / 11);
    expect(out, 0, "obv", 1000);
    expect(out, 0, "chaikin_ad", (2.0 - 1) / 3 * 1000);
    for (const char *const *name = (const char *const[]){"ROC5", "MA5", "STD60", "CORR5", "sma_20", "tr", "rsi_14",
                                                         "sar", "macd_signal", "runsd_20", NULL};
         *name; name++)
        expect_nan(out, 0, *name);
    free(out);
}

/* The bars from `from` on alone: the same bits as the whole computation's rows, for every from. */
static void test_from(void **state) {
    (void)state;
    enum { N = 150 };
    int nf = fin_factor_count();
    double o[N], h[N], l[N], c[N], v[N], x = 50;
    for (int t = 0; t < N; t++) {
        o[t] = x;
        x *= 1 + 0.02 * sin(0.7 * t) + 0.01 * cos(2.3 * t);
        c[t] = x;
        h[t] = fmax(o[t], c[t]) * 1.01;
        l[t] = fmin(o[t], c[t]) * 0.99;
        v[t] = 1000 + 10 * (t % 7);
    }
    fin_series s = {N, o, h, l, c, v};
    double *all = malloc(sizeof(double) * N * (size_t)nf), *part = malloc(sizeof(double) * N * (size_t)nf);
    assert_non_null(all);
    assert_non_null(part);
    assert_int_equal(fin_factors_compute(&s, all), 0);
    for (int from = 0; from <= N; from += 7) {
        assert_int_equal(fin_factors_compute_from(&s, from, part), 0);
        assert_memory_equal(part, all + (size_t)from * nf, sizeof(double) * (size_t)(N - from) * (size_t)nf);
    }
    assert_int_equal(fin_factors_compute_from(&s, N - 1, part), 0);
    assert_memory_equal(part, all + (size_t)(N - 1) * nf, sizeof(double) * (size_t)nf);
    assert_int_equal(fin_factors_compute_from(&s, -1, part), -1);
    free(all);
    free(part);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ttr_parity), cmocka_unit_test(test_kbar_price), cmocka_unit_test(test_rolling),
        cmocka_unit_test(test_flat),       cmocka_unit_test(test_names),      cmocka_unit_test(test_tiny),
        cmocka_unit_test(test_from),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
