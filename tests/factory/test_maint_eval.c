/* test_maint_eval.c: how moe-factory judges maintenance warnings, on hand-worked cases: the C-MAPSS
 * score and RMSE, sustained alarms, the three maintenance policies and quantiles (against numpy's). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "assert_double.h"

#include <math.h>
#include <string.h>

#include "maintain/maint_eval.h"

static void test_score(void **state) {
    (void)state;
    /* d = pred - truth = -13, 0, 10, 20: (e - 1) + 0 + (e - 1) + (e^2 - 1) */
    double truth[] = {50, 40, 30, 20}, pred[] = {37, 40, 40, 40};
    assert_double_equal(fab_cmapss_score(pred, truth, 4), 2 * (M_E - 1) + (M_E * M_E - 1), 1e-12);
    /* late by 10 costs more than early by 10 */
    double t1[] = {100}, early[] = {90}, late[] = {110};
    assert_true(fab_cmapss_score(late, t1, 1) > fab_cmapss_score(early, t1, 1));
    assert_double_equal(fab_cmapss_score(early, t1, 1), exp(10.0 / 13) - 1, 1e-12);
    assert_double_equal(fab_rmse(pred, truth, 4), sqrt((169.0 + 0 + 100 + 400) / 4), 1e-12);
    assert_double_equal(fab_cmapss_score(pred, truth, 0), 0, 0);
}

static void test_alarm_starts(void **state) {
    (void)state;
    double t[] = {0, 6, 12, 18, 24, 30, 36, 42, 48};
    unsigned char flag[] = {0, 1, 1, 1, 0, 1, 1, 0, 1};
    double starts[9];
    assert_int_equal(fab_alarm_starts(t, flag, 9, 2, starts), 2);
    assert_double_equal(starts[0], 12, 0);
    assert_double_equal(starts[1], 36, 0);
    assert_int_equal(fab_alarm_starts(t, flag, 9, 1, starts), 3);
    assert_double_equal(starts[2], 48, 0);
    assert_int_equal(fab_alarm_starts(t, flag, 9, 3, starts), 1);
    assert_double_equal(starts[0], 18, 0);
}

static void test_policies(void **state) {
    (void)state;
    fab_policy p = {.warn_window = 216, .unplanned_h = 24, .planned_h = 4, .interval = 400};
    double lead[4];
    fab_policy_result r;
    memset(&r, 0, sizeof r);
    r.lead = lead;
    /* fails at 500 h; an alarm at 100 (400 h early: false) and one at 450 (detects it, 50 h ahead) */
    double s1[] = {100, 450};
    fab_policy_add(&p, 0, 480, 500, s1, 2, &r);
    /* still running after 1000 h, one alarm: false */
    double s2[] = {300};
    fab_policy_add(&p, 0, 1000, NAN, s2, 1, &r);
    /* fails at 300 h without any alarm */
    fab_policy_add(&p, 0, 299, 300, NULL, 0, &r);
    assert_int_equal(r.machines, 3);
    assert_int_equal(r.failures, 2);
    assert_int_equal(r.detected, 1);
    assert_double_equal(lead[0], 50, 0);
    assert_int_equal(r.false_alarms, 2);
    assert_double_equal(r.observed_h, 500 + 1000 + 300, 0);
    /* run to failure: two failures over 1800 h */
    assert_double_equal(r.down_rtf, 48, 0);
    assert_double_equal(r.up_rtf, 1800, 0);
    /* fixed interval 400: the first is serviced at 400 (4 h), the second twice (8 h), the third fails (24 h) */
    assert_double_equal(r.down_fixed, 4 + 8 + 24, 0);
    assert_double_equal(r.up_fixed, 400 + 1000 + 300, 0);
    /* at alarm: 4 (false) + 4 (planned at 450), 4 (false), 24 (missed); runs 450 + 1000 + 300 h */
    assert_double_equal(r.down_alarm, 36, 0);
    assert_double_equal(r.up_alarm, 1750, 0);
    /* an alarm after the failure time counts for nothing */
    double s3[] = {700};
    fab_policy_add(&p, 0, 600, 600, s3, 1, &r);
    assert_int_equal(r.false_alarms, 2);
    assert_int_equal(r.detected, 1);
}

static void test_quantile(void **state) {
    (void)state;
    /* numpy.quantile([4, 1, 3, 2], [0.25, 0.5, 0.9]) = 1.75, 2.5, 3.7 */
    double v[] = {4, 1, 3, 2};
    assert_double_equal(fab_quantile(v, 4, 0.25), 1.75, 1e-12);
    assert_double_equal(fab_quantile(v, 4, 0.5), 2.5, 1e-12);
    assert_double_equal(fab_quantile(v, 4, 0.9), 3.7, 1e-12);
    assert_double_equal(fab_quantile(v, 4, 1.0), 4, 0);
    double one[] = {7};
    assert_double_equal(fab_quantile(one, 1, 0.5), 7, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_score),
        cmocka_unit_test(test_alarm_starts),
        cmocka_unit_test(test_policies),
        cmocka_unit_test(test_quantile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
