/* test_froc.c: moe-medical's LUNA16 FROC analysis on hand-worked cases (matching, ties, irrelevant
 * findings, scans without nodules, interpolation), its bootstrap interval, and the CSV readers'
 * errors on malformed files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval/froc.h"
#include "eval/luna_csv.h"

#define assert_near(a, b, eps)                                                                   \
    do {                                                                                         \
        double a_ = (a), b_ = (b);                                                               \
        if (!(fabs(a_ - b_) <= (eps))) fail_msg("%s = %.17g, want %.17g", #a, a_, b_);           \
    } while (0)

static char *tmp_path(const char *name) {
    static char path[4096];
    snprintf(path, sizeof path, "%s/froc-%s-%ld.csv", getenv("MC_TEST_TMP") ? getenv("MC_TEST_TMP") : "/tmp", name,
             (long)getpid());
    return path;
}

static const char *write_file(const char *name, const char *text, size_t len) {
    const char *p = tmp_path(name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
    return p;
}

static med_marks read_marks(const char *name, const char *text, med_marks_kind kind) {
    med_marks m;
    mc_error err = {0};
    const char *p = write_file(name, text, strlen(text));
    if (med_marks_read(p, kind, &m, &err) != MC_OK) fail_msg("%s", err.msg);
    unlink(p);
    return m;
}

/* Sensitivities and CPM of annotations/predictions (and excluded) over the scans listed. */
static void evaluate(const char *ann, const char *exc, const char *pred, char **scans, int n_scans,
                     double sens[MED_FROC_N_RATES], double *cpm, med_froc_counts *counts) {
    med_marks a = read_marks("ann", ann, MED_MARKS_ANNOTATIONS);
    med_marks x = {0};
    if (exc) x = read_marks("exc", exc, MED_MARKS_EXCLUDED);
    med_marks p = read_marks("pred", pred, MED_MARKS_PREDICTIONS);
    med_froc_data *d;
    mc_error err = {0};
    if (med_froc_prepare(&d, &a, exc ? &x : NULL, &p, scans, n_scans, &err) != MC_OK) fail_msg("%s", err.msg);
    assert_int_equal(med_froc_sensitivities(d, sens, cpm, &err), MC_OK);
    *counts = *med_froc_counts_of(d);
    med_froc_data_free(d);
    med_marks_free(&a);
    med_marks_free(&x);
    med_marks_free(&p);
}

static const char *ANN =
    "seriesuid,coordX,coordY,coordZ,diameter_mm\n"
    "A,0,0,0,10\n"
    "A,50,0,0,6\n"
    "B,0,0,0,8\n";
/* A: p1 and p2 hit the 10 mm nodule (best 0.9), p4 the 6 mm one, p5 lies exactly on its radius
 * (not a hit: the distance must be below it), p3 is far. B: p6 hits, p7 and p8 do not. Sorted:
 * 0.95 FP, 0.9 TP, 0.8 FP, 0.7 FP, 0.6 TP, 0.4 FP, 0.3 TP; curve with 2 scans and 3 nodules:
 * (0,0) (.5,0) (.5,1/3) (1,1/3) (1.5,1/3) (1.5,2/3) (2,2/3) (2,1). */
static const char *PRED =
    "seriesuid,coordX,coordY,coordZ,probability\n"
    "A,1,1,1,0.9\n"
    "A,0,0,4,0.5\n"
    "A,100,0,0,0.8\n"
    "A,52,0,0,0.3\n"
    "A,53,0,0,0.7\n"
    "B,0,0,3.9,0.6\n"
    "B,20,0,0,0.4\n"
    "B,30,0,0,0.95\n";

static void test_hand_worked(void **state) {
    (void)state;
    char *scans[] = {"A", "B"};
    double s[MED_FROC_N_RATES], cpm;
    med_froc_counts c;
    evaluate(ANN, NULL, PRED, scans, 2, s, &cpm, &c);
    const double want[MED_FROC_N_RATES] = {0, 0, 1.0 / 3, 1.0 / 3, 1, 1, 1};
    for (int r = 0; r < MED_FROC_N_RATES; r++) assert_near(s[r], want[r], 1e-12);
    assert_near(cpm, 11.0 / 21.0, 1e-12);
    assert_int_equal(c.scans, 2);
    assert_int_equal(c.nodules, 3);
    assert_int_equal(c.detected, 3);
    assert_int_equal(c.predictions, 8);
    assert_int_equal(c.false_positives, 4);
    assert_int_equal(c.ignored, 0);

    /* the curve itself */
    med_marks a = read_marks("ann", ANN, MED_MARKS_ANNOTATIONS), p = read_marks("pred", PRED, MED_MARKS_PREDICTIONS);
    med_froc_data *d;
    assert_int_equal(med_froc_prepare(&d, &a, NULL, &p, scans, 2, NULL), MC_OK);
    double *f, *se, *t;
    int n;
    assert_int_equal(med_froc_curve(d, &f, &se, &t, &n, NULL), MC_OK);
    const double wf[] = {0, .5, .5, 1, 1.5, 1.5, 2, 2}, ws[] = {0, 0, 1. / 3, 1. / 3, 1. / 3, 2. / 3, 2. / 3, 1};
    const double wt[] = {INFINITY, .95, .9, .8, .7, .6, .4, .3};
    assert_int_equal(n, 8);
    for (int i = 0; i < n; i++) {
        assert_near(f[i], wf[i], 1e-12);
        assert_near(se[i], ws[i], 1e-12);
        assert_true(t[i] == wt[i]);
    }
    free(f);
    free(se);
    free(t);
    med_froc_data_free(d);

    /* a third scan without nodules or marks stretches the false-positive axis by 3/2:
     * (0,0) (1/3,0) (1/3,1/3) (2/3,1/3) (1,1/3) (1,2/3) (4/3,2/3) (4/3,1) */
    char *three[] = {"A", "B", "C"};
    assert_int_equal(med_froc_prepare(&d, &a, NULL, &p, three, 3, NULL), MC_OK);
    assert_int_equal(med_froc_sensitivities(d, s, &cpm, NULL), MC_OK);
    const double want3[MED_FROC_N_RATES] = {0, 0, 1.0 / 3, 2.0 / 3, 1, 1, 1};
    for (int r = 0; r < MED_FROC_N_RATES; r++) assert_near(s[r], want3[r], 1e-12);
    assert_near(cpm, 4.0 / 7.0, 1e-12);
    med_froc_data_free(d);

    /* a scan listed twice is refused */
    char *twice[] = {"A", "B", "A"};
    mc_error err = {0};
    assert_int_equal(med_froc_prepare(&d, &a, NULL, &p, twice, 3, &err), MC_ERR_ARG);
    assert_null(d);
    assert_string_equal(err.msg, "FROC: scan A listed twice");

    /* only scan A: B's nodule and marks are left out and counted */
    char *only_a[] = {"A"};
    assert_int_equal(med_froc_prepare(&d, &a, NULL, &p, only_a, 1, NULL), MC_OK);
    assert_int_equal(med_froc_counts_of(d)->outside, 3);
    assert_int_equal(med_froc_counts_of(d)->nodules_outside, 1);
    assert_int_equal(med_froc_counts_of(d)->nodules, 2);
    /* A alone: 0.9 TP, 0.8 FP, 0.7 FP, 0.3 TP: (0,0) (0,.5) (1,.5) (2,.5) (2,1) */
    assert_int_equal(med_froc_sensitivities(d, s, &cpm, NULL), MC_OK);
    const double want_a[MED_FROC_N_RATES] = {.5, .5, .5, .5, 1, 1, 1};
    for (int r = 0; r < MED_FROC_N_RATES; r++) assert_near(s[r], want_a[r], 1e-12);
    med_froc_data_free(d);
    med_marks_free(&a);
    med_marks_free(&p);
}

/* A hit and a false positive with the same score form one step: the curve goes straight from (0,0)
 * to (1,1) and the sensitivity at r < 1 is r. */
static void test_ties_interpolate(void **state) {
    (void)state;
    char *scans[] = {"S"};
    double s[MED_FROC_N_RATES], cpm;
    med_froc_counts c;
    evaluate("seriesuid,coordX,coordY,coordZ,diameter_mm\nS,0,0,0,10\n", NULL,
             "seriesuid,coordX,coordY,coordZ,probability\nS,0,0,0,0.5\nS,40,0,0,0.5\n", scans, 1, s, &cpm, &c);
    const double want[MED_FROC_N_RATES] = {0.125, 0.25, 0.5, 1, 1, 1, 1};
    for (int r = 0; r < MED_FROC_N_RATES; r++) assert_near(s[r], want[r], 1e-12);
    assert_near(cpm, 4.875 / 7, 1e-12);
    /* no false positives at all: every rate reads the final sensitivity; a missed nodule counts */
    evaluate("seriesuid,coordX,coordY,coordZ,diameter_mm\nS,0,0,0,10\nS,90,0,0,10\n", NULL,
             "seriesuid,coordX,coordY,coordZ,probability\nS,1,0,0,0.2\n", scans, 1, s, &cpm, &c);
    for (int r = 0; r < MED_FROC_N_RATES; r++) assert_near(s[r], 0.5, 1e-12);
    assert_int_equal(c.detected, 1);
    assert_int_equal(c.false_positives, 0);
    /* numpy.interp itself: repeated abscissae take the last value; beyond the ends the end values */
    const double xp[] = {0, 1, 1, 3}, fp[] = {0, .2, .6, 1};
    assert_near(med_froc_interp(1, xp, fp, 4), .6, 1e-15);
    assert_near(med_froc_interp(2, xp, fp, 4), .8, 1e-15);
    assert_near(med_froc_interp(.5, xp, fp, 4), .1, 1e-15);
    assert_near(med_froc_interp(9, xp, fp, 4), 1, 1e-15);
    assert_near(med_froc_interp(-1, xp, fp, 4), 0, 1e-15);
}

/* Irrelevant findings: a mark on one only is ignored, not a false positive; a mark on both a nodule
 * and a finding counts for the nodule; a finding of unknown size (-1) is 10 mm across. */
/* As in LUNA16, one mark inside two overlapping nodules detects both. */
static void test_one_mark_two_nodules(void **state) {
    (void)state;
    char *scans[] = {"A"};
    double s[MED_FROC_N_RATES], cpm;
    med_froc_counts c;
    evaluate("seriesuid,coordX,coordY,coordZ,diameter_mm\nA,0,0,0,10\nA,6,0,0,10\n", NULL,
             "seriesuid,coordX,coordY,coordZ,probability\nA,3,0,0,0.7\nA,50,0,0,0.9\n", scans, 1, s, &cpm, &c);
    assert_int_equal(c.detected, 2);
    assert_int_equal(c.false_positives, 1);
    /* 0.9 FP, 0.7 both nodules: (0,0) (1,0) (1,1) */
    const double want[MED_FROC_N_RATES] = {0, 0, 0, 1, 1, 1, 1};
    for (int r = 0; r < MED_FROC_N_RATES; r++) assert_near(s[r], want[r], 1e-12);
}

static void test_excluded(void **state) {
    (void)state;
    const char *ann = "seriesuid,coordX,coordY,coordZ,diameter_mm\nA,0,0,0,10\n";
    const char *exc = "seriesuid,coordX,coordY,coordZ,diameter_mm\nA,20,0,0,-1\nA,3,0,0,4\n";
    const char *pred = "seriesuid,coordX,coordY,coordZ,probability\n"
                       "A,0,0,1,0.9\nA,24,0,0,0.95\nA,4,0,0,0.8\nA,100,0,0,0.85\n";
    char *scans[] = {"A"};
    double s[MED_FROC_N_RATES], cpm;
    med_froc_counts c;
    /* without them: 0.95 FP, 0.9 TP, 0.85 FP: (0,0) (1,0) (1,1) (2,1) */
    evaluate(ann, NULL, pred, scans, 1, s, &cpm, &c);
    assert_near(cpm, 4.0 / 7.0, 1e-12);
    assert_int_equal(c.false_positives, 2);
    assert_int_equal(c.ignored, 0);
    /* with them: 0.95 ignored: (0,0) (0,1) (1,1) */
    evaluate(ann, exc, pred, scans, 1, s, &cpm, &c);
    assert_near(cpm, 1.0, 1e-12);
    assert_int_equal(c.false_positives, 1);
    assert_int_equal(c.ignored, 1);
    assert_int_equal(c.detected, 1);
}

/* n copies of a two-scan pattern (one scan with a nodule found at 0.9 and false positives at 0.95
 * and 0.5; one with a missed nodule and a false positive at 0.7), named P<i> and Q<i>. */
static med_froc_data *pattern(int copies, med_marks *a, med_marks *p, char ***scans) {
    char *ann = malloc(64 + 80 * (size_t)copies), *pred = malloc(64 + 200 * (size_t)copies);
    char *sa = ann + sprintf(ann, "seriesuid,coordX,coordY,coordZ,diameter_mm\n");
    char *sp = pred + sprintf(pred, "seriesuid,coordX,coordY,coordZ,probability\n");
    *scans = malloc(sizeof(char *) * 2 * (size_t)copies);
    for (int i = 0; i < copies; i++) {
        double d = 6 + i % 5; /* vary something per copy */
        sa += sprintf(sa, "P%d,0,0,0,%g\nQ%d,10,10,10,5\n", i, d, i);
        sp += sprintf(sp, "P%d,1,0,0,%g\nP%d,60,0,0,0.95\nP%d,70,0,0,0.5\nQ%d,40,0,0,0.7\n", i, 0.9 - 0.01 * (i % 7),
                      i, i, i);
        (*scans)[2 * i] = malloc(16);
        (*scans)[2 * i + 1] = malloc(16);
        sprintf((*scans)[2 * i], "P%d", i);
        sprintf((*scans)[2 * i + 1], "Q%d", i);
    }
    *a = read_marks("bann", ann, MED_MARKS_ANNOTATIONS);
    *p = read_marks("bpred", pred, MED_MARKS_PREDICTIONS);
    free(ann);
    free(pred);
    med_froc_data *d;
    assert_int_equal(med_froc_prepare(&d, a, NULL, p, *scans, 2 * copies, NULL), MC_OK);
    return d;
}

static void test_bootstrap(void **state) {
    (void)state;
    double width[2], cpm_of[2];
    int copies[2] = {5, 80};
    for (int k = 0; k < 2; k++) {
        med_marks a, p;
        char **scans;
        med_froc_data *d = pattern(copies[k], &a, &p, &scans);
        double s[MED_FROC_N_RATES], cpm;
        assert_int_equal(med_froc_sensitivities(d, s, &cpm, NULL), MC_OK);
        med_froc_bootstrap bs, bs2;
        mc_rng *rng = mc_rng_create(7);
        assert_int_equal(med_froc_bootstrap_run(d, 400, 0.95, rng, &bs, NULL), MC_OK);
        mc_rng_destroy(rng);
        assert_int_equal(bs.samples, 400);
        assert_true(bs.used > 390);
        assert_true(bs.cpm_lo <= cpm && cpm <= bs.cpm_hi);
        assert_true(bs.cpm_lo < bs.cpm_hi);
        for (int r = 0; r < MED_FROC_N_RATES; r++) assert_true(bs.sens_lo[r] <= s[r] + 1e-12 && s[r] <= bs.sens_hi[r] + 1e-12);
        assert_near(bs.grid[0], 0.125, 1e-15);
        assert_near(bs.grid[MED_FROC_N_GRID - 1], 8, 1e-12);
        /* the same seed gives the same interval */
        rng = mc_rng_create(7);
        assert_int_equal(med_froc_bootstrap_run(d, 400, 0.95, rng, &bs2, NULL), MC_OK);
        mc_rng_destroy(rng);
        assert_true(bs2.cpm_lo == bs.cpm_lo && bs2.cpm_hi == bs.cpm_hi);
        width[k] = bs.cpm_hi - bs.cpm_lo;
        cpm_of[k] = cpm;
        med_froc_data_free(d);
        med_marks_free(&a);
        med_marks_free(&p);
        for (int i = 0; i < 2 * copies[k]; i++) free(scans[i]);
        free(scans);
    }
    /* about 1/sqrt(16) as wide with 16 times the scans; the point estimates are close */
    assert_true(width[1] < 0.5 * width[0]);
    assert_true(fabs(cpm_of[0] - cpm_of[1]) < 0.1);
    assert_int_equal(med_froc_bootstrap_run(NULL, 0, 0.95, NULL, &(med_froc_bootstrap){0}, NULL), MC_ERR_ARG);
}

/* Each malformed file is refused with its name, its line and the problem. */
static void test_malformed(void **state) {
    (void)state;
    static const char BINARY[] = "seriesuid,coordX,coordY,coordZ,diameter_mm\nA,1,2,3,4\nA\0\1\2,3";
    struct {
        const char *text;
        size_t len;
        med_marks_kind kind;
        const char *want;
    } cases[] = {
        {"", 0, MED_MARKS_ANNOTATIONS, "empty file"},
        {"seriesuid,coordX,coordY,diameter_mm\nA,1,2,3\n", 0, MED_MARKS_ANNOTATIONS, "line 1: header has no 'coordZ' column"},
        {"seriesuid,coordX,coordY,coordZ,probability\nA,1,2,3,0.5\nA,1,2\n", 0, MED_MARKS_PREDICTIONS, "line 3: 3 fields, the header needs 5"},
        {"seriesuid,coordX,coordY,coordZ,probability\nA,1,2,3,0.5\nA,1,x2,3,0.5\n", 0, MED_MARKS_PREDICTIONS, "line 3: coordY 'x2' is not a finite number"},
        {"seriesuid,coordX,coordY,coordZ,probability\nA,1,2,3,nan\n", 0, MED_MARKS_PREDICTIONS, "line 2: probability 'nan' is not a finite number"},
        {"seriesuid,coordX,coordY,coordZ,diameter_mm\nA,1,2,3,0\n", 0, MED_MARKS_ANNOTATIONS, "line 2: diameter_mm 0 is not positive"},
        {"seriesuid,coordX,coordY,coordZ,diameter_mm\n,1,2,3,4\n", 0, MED_MARKS_ANNOTATIONS, "line 2: empty seriesuid"},
        {"seriesuid,coordX,coordY,coordZ,diameter_mm\n\"A,1,2,3,4\n", 0, MED_MARKS_ANNOTATIONS, "line 2: unterminated quoted field"},
        {BINARY, sizeof BINARY - 1, MED_MARKS_ANNOTATIONS, "line 3: binary data"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].text);
        const char *p = write_file("bad", cases[i].text, len);
        med_marks m = {(med_mark *)1, 5};
        mc_error err = {0};
        assert_int_equal(med_marks_read(p, cases[i].kind, &m, &err), MC_ERR_FORMAT);
        assert_null(m.v);
        assert_int_equal(m.n, 0);
        char want[4400];
        snprintf(want, sizeof want, "%s: %s", p, cases[i].want);
        if (strncmp(err.msg, want, strlen(want)) != 0) fail_msg("case %zu: got '%s', want '%s'", i, err.msg, want);
        unlink(p);
    }
    /* a record longer than the limit */
    size_t big = MED_CSV_MAX_RECORD + 100;
    char *text = malloc(big + 64);
    int h = sprintf(text, "seriesuid,coordX,coordY,coordZ,probability\n");
    memset(text + h, 'a', big);
    const char *p = write_file("long", text, (size_t)h + big);
    med_marks m;
    mc_error err = {0};
    assert_int_equal(med_marks_read(p, MED_MARKS_PREDICTIONS, &m, &err), MC_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "line 2: record longer than"));
    unlink(p);
    free(text);
    /* a missing file */
    assert_int_equal(med_marks_read("/nonexistent/a.csv", MED_MARKS_PREDICTIONS, &m, &err), MC_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/a.csv: cannot open"));
    /* scan lists: header skipped, duplicates refused */
    char **uids;
    int n;
    p = write_file("scans", "seriesuid\n1.2.3\n\n1.2.4,extra\n", 28);
    assert_int_equal(med_scan_list_read(p, &uids, &n, &err), MC_OK);
    assert_int_equal(n, 2);
    assert_string_equal(uids[0], "1.2.3");
    assert_string_equal(uids[1], "1.2.4");
    med_scan_list_free(uids, n);
    p = write_file("scans", "1.2.3\n1.2.4\n1.2.3\n", 18);
    assert_int_equal(med_scan_list_read(p, &uids, &n, &err), MC_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "1.2.3 is listed twice"));
    unlink(p);
}

/* Quoted fields: commas, doubled quotes and newlines inside quotes; line numbers count them. */
static void test_csv_quotes(void **state) {
    (void)state;
    const char *text = "a, \"b,c\" ,\"say \"\"hi\"\"\"\r\n\"multi\nline\",x\n\nlast,row";
    const char *p = write_file("q", text, strlen(text));
    med_csv c;
    assert_int_equal(med_csv_open(&c, p, NULL), MC_OK);
    assert_int_equal(med_csv_next(&c, NULL), 1);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.field[0], "a");
    assert_string_equal(c.field[1], "b,c");
    assert_string_equal(c.field[2], "say \"hi\"");
    assert_int_equal(c.line, 1);
    assert_int_equal(med_csv_next(&c, NULL), 1);
    assert_string_equal(c.field[0], "multi\nline");
    assert_string_equal(c.field[1], "x");
    assert_int_equal(med_csv_next(&c, NULL), 1);
    assert_int_equal(c.line, 5);
    assert_string_equal(c.field[1], "row");
    assert_int_equal(med_csv_next(&c, NULL), 0);
    med_csv_close(&c);
    unlink(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_worked), cmocka_unit_test(test_ties_interpolate), cmocka_unit_test(test_excluded), cmocka_unit_test(test_one_mark_two_nodules),
        cmocka_unit_test(test_bootstrap),   cmocka_unit_test(test_malformed),        cmocka_unit_test(test_csv_quotes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
