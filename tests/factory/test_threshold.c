/* test_threshold.c: threshold calibration on hand-made score sets, each value worked out by hand
 * (see the comments); the false-alarm-rate rule on scores drawn from a known Gumbel law, against
 * its true quantile; and the refusals when a method lacks the scores it needs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "inspect/threshold.h"

/* good 0.1 0.2 0.5 0.6 and defect 0.4 0.55 0.9, sorted: 0.1g 0.2g 0.4d 0.5g 0.55d 0.6g 0.9d */
static const double good[] = {0.5, 0.1, 0.6, 0.2};
static const double defect[] = {0.9, 0.4, 0.55};

static double calibrate(fab_threshold_method m, double ratio, double recall, double q, const double *g, int ng,
                        const double *d, int nd) {
    fab_threshold_opts o;
    fab_threshold_opts_default(&o);
    o.method = m;
    o.cost_ratio = ratio;
    o.recall = recall;
    o.quantile = q;
    double t = NAN;
    char why[200];
    assert_int_equal(fab_threshold_calibrate(g, ng, d, nd, &o, &t, why, sizeof why), MC_OK);
    return t;
}

static void test_cost(void **state) {
    (void)state;
    /* 20:1: missing any defect costs more than all 4 false alarms, so t sits below 0.4: 0.3 (cost 2) */
    assert_true(fabs(calibrate(FAB_THRESHOLD_COST, 20, 0, 0, good, 4, defect, 3) - 0.3) < 1e-12);
    /* 0.5:1 costs per threshold: 0.15 -> 3, 0.3 -> 2, 0.45 -> 2.5, 0.525 -> 1.5, 0.575 -> 2,
     * 0.75 -> 1, above 0.9 -> 1.5: the best is 0.75 */
    assert_true(fabs(calibrate(FAB_THRESHOLD_COST, 0.5, 0, 0, good, 4, defect, 3) - 0.75) < 1e-12);
    /* 1:1 ties at cost 2 (0.3, 0.525, 0.75): the lowest threshold, missing fewest defects, wins */
    assert_true(fabs(calibrate(FAB_THRESHOLD_COST, 1, 0, 0, good, 4, defect, 3) - 0.3) < 1e-12);
    /* separated sets: halfway between the highest good and the lowest defect */
    const double g2[] = {0.1, 0.2, 0.3}, d2[] = {0.7, 0.6};
    assert_true(fabs(calibrate(FAB_THRESHOLD_COST, 20, 0, 0, g2, 3, d2, 2) - 0.45) < 1e-12);
    /* every defect below every good score at 1:100: flag nothing, just above the top score */
    const double d3[] = {0.05};
    double t = calibrate(FAB_THRESHOLD_COST, 0.01, 0, 0, g2, 3, d3, 1);
    assert_true(t > 0.3 && t < 0.3001);
}

static void test_recall(void **state) {
    (void)state;
    /* 60% of 3 defects: 2 must be above t; the 2nd highest is 0.55, the next score down 0.5 */
    assert_true(fabs(calibrate(FAB_THRESHOLD_RECALL, 0, 0.6, 0, good, 4, defect, 3) - 0.525) < 1e-12);
    /* all defects: below 0.4, halfway to 0.2 */
    assert_true(fabs(calibrate(FAB_THRESHOLD_RECALL, 0, 1.0, 0, good, 4, defect, 3) - 0.3) < 1e-12);
    /* a third: only 0.9 above, halfway down to 0.6 */
    assert_true(fabs(calibrate(FAB_THRESHOLD_RECALL, 0, 1.0 / 3, 0, good, 4, defect, 3) - 0.75) < 1e-12);
}

static void test_quantile(void **state) {
    (void)state;
    /* sorted good 0.1 0.2 0.5 0.6: q 0.5 -> position 1.5 -> 0.35; q 0.9 -> 2.7 -> 0.57 */
    assert_true(fabs(calibrate(FAB_THRESHOLD_QUANTILE, 0, 0, 0.5, good, 4, NULL, 0) - 0.35) < 1e-12);
    assert_true(fabs(calibrate(FAB_THRESHOLD_QUANTILE, 0, 0, 0.9, good, 4, NULL, 0) - 0.57) < 1e-12);
    /* the threshold is never the lowest good score, whatever q */
    assert_true(calibrate(FAB_THRESHOLD_QUANTILE, 0, 0, 0.01, good, 4, NULL, 0) > 0.1);
    /* defect scores do not move a quantile threshold */
    assert_true(fabs(calibrate(FAB_THRESHOLD_QUANTILE, 0, 0, 0.5, good, 4, defect, 3) - 0.35) < 1e-12);
}

/* good 0.1 0.2 0.5 0.6: mean 0.35, sample sd sqrt(0.17 / 3) = 0.2380476; Gumbel scale
 * b = sd sqrt(6) / pi = 0.1856050, location 0.35 - 0.5772157 b = 0.2428659; the 0.99 quantile
 * m - b ln(-ln 0.99) = m + 4.6001492 b = 1.0966764 */
static void test_fpr_by_hand(void **state) {
    (void)state;
    fab_threshold_opts o;
    fab_threshold_opts_default(&o);
    assert_int_equal(o.method, FAB_THRESHOLD_FPR);
    assert_true(o.target_fpr == 0.01);
    double t;
    char why[200];
    assert_int_equal(fab_threshold_calibrate(good, 4, defect, 3, &o, &t, why, sizeof why), MC_OK);
    assert_true(fabs(t - 1.0966764) < 1e-6);
}

/* 20000 scores drawn from Gumbel(3, 0.5) by its inverse distribution function: the threshold for
 * 1% is within 1% of the true quantile 3 + 0.5 * 4.6001492 = 5.3000746, and about 1% of the scores
 * lie above it; the same scores as probabilities (their logistic) give the logistic of that
 * threshold with logit set. */
static void test_fpr_gumbel(void **state) {
    (void)state;
    enum { N = 20000 };
    static double s[N], p[N];
    uint64_t z = 12345;
    for (int i = 0; i < N; i++) {
        z = z * 6364136223846793005ULL + 1442695040888963407ULL;
        double u = ((double)(z >> 11) + 0.5) / 9007199254740992.0;
        s[i] = 3 - 0.5 * log(-log(u));
        p[i] = 1 / (1 + exp(-s[i]));
    }
    fab_threshold_opts o;
    fab_threshold_opts_default(&o);
    double t, tp;
    char why[200];
    assert_int_equal(fab_threshold_calibrate(s, N, NULL, 0, &o, &t, why, sizeof why), MC_OK);
    assert_true(fabs(t - 5.3000746) < 0.053);
    int above = 0;
    for (int i = 0; i < N; i++) above += s[i] > t;
    assert_true(above > 0.008 * N && above < 0.012 * N);
    o.logit = 1;
    assert_int_equal(fab_threshold_calibrate(p, N, NULL, 0, &o, &tp, why, sizeof why), MC_OK);
    assert_true(fabs(tp - 1 / (1 + exp(-t))) < 1e-9);
    /* a stricter rate gives a higher threshold */
    o.logit = 0;
    o.target_fpr = 0.001;
    double t3;
    assert_int_equal(fab_threshold_calibrate(s, N, NULL, 0, &o, &t3, why, sizeof why), MC_OK);
    assert_true(fabs(t3 - (3 - 0.5 * log(-log1p(-0.001)))) < 0.08 && t3 > t);
}

static void test_refusals(void **state) {
    (void)state;
    fab_threshold_opts o;
    fab_threshold_opts_default(&o);
    o.method = FAB_THRESHOLD_COST;
    assert_true(o.cost_ratio == 20);
    double t;
    char why[200] = "";
    assert_int_equal(fab_threshold_calibrate(good, 4, NULL, 0, &o, &t, why, sizeof why), MC_ERR_ARG);
    assert_non_null(strstr(why, "needs validation scores of good and defect images"));
    o.method = FAB_THRESHOLD_FPR;
    assert_int_equal(fab_threshold_calibrate(good, 1, NULL, 0, &o, &t, why, sizeof why), MC_ERR_ARG);
    assert_non_null(strstr(why, "at least 2 good"));
    o.target_fpr = 0.5;
    assert_int_equal(fab_threshold_calibrate(good, 4, NULL, 0, &o, &t, why, sizeof why), MC_ERR_ARG);
    assert_non_null(strstr(why, "false-alarm rate must be in"));
    o.method = FAB_THRESHOLD_QUANTILE;
    assert_int_equal(fab_threshold_calibrate(good, 1, NULL, 0, &o, &t, why, sizeof why), MC_ERR_ARG);
    assert_non_null(strstr(why, "at least 2 good"));
    const double bad[] = {0.1, NAN};
    assert_int_equal(fab_threshold_calibrate(bad, 2, NULL, 0, &o, &t, why, sizeof why), MC_ERR_ARG);
    assert_non_null(strstr(why, "not finite"));
    fab_threshold_method m;
    assert_int_equal(fab_threshold_method_parse("recall", &m), 0);
    assert_int_equal(m, FAB_THRESHOLD_RECALL);
    assert_int_equal(fab_threshold_method_parse("fpr", &m), 0);
    assert_int_equal(m, FAB_THRESHOLD_FPR);
    assert_int_equal(fab_threshold_method_parse("median", &m), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cost),
        cmocka_unit_test(test_recall),
        cmocka_unit_test(test_quantile),
        cmocka_unit_test(test_fpr_by_hand),
        cmocka_unit_test(test_fpr_gumbel),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
