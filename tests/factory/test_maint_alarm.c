/* test_maint_alarm.c: the alarm threshold chosen for a goal, on hand-worked fleets: the precision
 * goal picks a threshold the maximum-F1 rule would not, an unreachable goal falls back to the best
 * precision with its shortfall, the cost goal trades false alarms against misses, early alarms are
 * false, and goals parse and print. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "assert_double.h"

#include <math.h>
#include <string.h>

#include "maintain/maint_alarm.h"

/* Seven machines, one evaluation time each at t = 100 h. A to D fail at 200 h (an alarm at 100 h
 * detects the failure 100 h ahead, within the 216 h window); E, F, G never fail (any alarm on them
 * is false). With sustain 1, threshold thr flags every machine whose score is >= thr:
 *
 *   thr   detected  false  precision  recall  F1 = 2d / (2d + false + missed)
 *   0.9   1 (A)     0      1          0.25    2/5  = 0.400
 *   0.8   2 (A,B)   0      1          0.50    4/6  = 0.667
 *   0.6   2         1 (E)  0.667      0.50    4/7  = 0.571
 *   0.5   3 (+C)    1      0.75       0.75    6/8  = 0.750
 *   0.4   3         2 (F)  0.6        0.75    6/9  = 0.667
 *   0.3   4 (+D)    2      0.667      1       8/10 = 0.800   <- maximum F1, precision 0.667
 *   0.2   4         3 (G)  0.571      1       8/11 = 0.727
 */
static double t_life[] = {0, 150};
static fab_machine machines[7];
static double t_rows[7] = {100, 100, 100, 100, 100, 100, 100};
static int machine_of[7] = {0, 1, 2, 3, 4, 5, 6};

static void fleet(void) {
    for (int i = 0; i < 7; i++) machines[i] = (fab_machine){.n = 2, .t = t_life, .failure = i < 4 ? 200 : NAN};
}

static fab_alarm_rows rows(const double *score) {
    fleet();
    return (fab_alarm_rows){.n = 7, .score = score, .t = t_rows, .machine = machine_of, .machines = machines};
}

static void test_precision_goal_beats_max_f1(void **state) {
    (void)state;
    double score[7] = {0.9, 0.8, 0.5, 0.3, 0.6, 0.4, 0.2};
    fab_alarm_rows r = rows(score);
    fab_alarm_goal g = {FAB_GOAL_PRECISION, 0.85};
    fab_alarm_stats s;
    /* the judge reproduces the table */
    assert_int_equal(fab_alarm_judge(&r, 0.3, 1, 216, &g, &s), 0);
    assert_int_equal(s.detected, 4);
    assert_int_equal(s.false_alarms, 2);
    assert_double_equal(s.precision, 4.0 / 6, 1e-12);
    assert_double_equal(s.recall, 1, 0);
    assert_double_equal(s.lead_median, 100, 0);
    assert_int_equal(s.goal_met, 0);
    assert_int_equal(fab_alarm_judge(&r, 0.5, 1, 216, &g, &s), 0);
    assert_int_equal(s.detected, 3);
    assert_int_equal(s.false_alarms, 1);
    /* precision >= 0.85: only 0.9 and 0.8 qualify; 0.8 has the higher recall */
    assert_int_equal(fab_alarm_choose(&r, 1, 216, 72, &g, &s), 0);
    assert_double_equal(s.threshold, 0.8, 0);
    assert_double_equal(s.precision, 1, 0);
    assert_double_equal(s.recall, 0.5, 0);
    assert_int_equal(s.goal_met, 1);
    assert_double_equal(fab_alarm_shortfall(&s, &g), 0, 0);
    /* precision >= 0.7 admits 0.5 (precision 0.75, recall 0.75) */
    g.value = 0.7;
    assert_int_equal(fab_alarm_choose(&r, 1, 216, 72, &g, &s), 0);
    assert_double_equal(s.threshold, 0.5, 0);
    assert_double_equal(s.recall, 0.75, 0);
    /* exactly at the floor counts as met: 0.75 >= 0.75 */
    g.value = 0.75;
    assert_int_equal(fab_alarm_choose(&r, 1, 216, 72, &g, &s), 0);
    assert_double_equal(s.threshold, 0.5, 0);
    assert_int_equal(s.goal_met, 1);
}

static void test_unreachable_precision(void **state) {
    (void)state;
    /* E, which never fails, now scores highest: every threshold that flags anything flags E
     * first. thr 0.95: E only (precision 0); 0.9: 1 of 2; 0.8: 2 of 3; 0.5: 3 of 4 = 0.75 (the best);
     * 0.4: 3 of 5; 0.3: 4 of 6; 0.2: 4 of 7. */
    double score[7] = {0.9, 0.8, 0.5, 0.3, 0.95, 0.4, 0.2};
    fab_alarm_rows r = rows(score);
    fab_alarm_goal g = {FAB_GOAL_PRECISION, 0.85};
    fab_alarm_stats s;
    assert_int_equal(fab_alarm_choose(&r, 1, 216, 72, &g, &s), 0);
    assert_int_equal(s.goal_met, 0);
    assert_double_equal(s.threshold, 0.5, 0);
    assert_double_equal(s.precision, 0.75, 1e-12);
    assert_double_equal(s.recall, 0.75, 1e-12);
    assert_double_equal(fab_alarm_shortfall(&s, &g), 0.10, 1e-12);
}

static void test_cost_goal(void **state) {
    (void)state;
    double score[7] = {0.9, 0.8, 0.5, 0.3, 0.6, 0.4, 0.2};
    fab_alarm_rows r = rows(score);
    fab_alarm_stats s;
    /* R = 3: cost = false + 3 missed: 9, 6, 7, 4, 5, 2, 3 -> 0.3 */
    fab_alarm_goal g = {FAB_GOAL_COST, 3};
    assert_int_equal(fab_alarm_choose(&r, 1, 216, 72, &g, &s), 0);
    assert_double_equal(s.threshold, 0.3, 0);
    assert_double_equal(s.cost, 2, 0);
    assert_int_equal(s.goal_met, 1);
    /* R = 0.5: 1.5, 1, 2, 1.5, 2, 2, 3 -> 0.8 */
    g.value = 0.5;
    assert_int_equal(fab_alarm_choose(&r, 1, 216, 72, &g, &s), 0);
    assert_double_equal(s.threshold, 0.8, 0);
    assert_double_equal(s.cost, 1, 0);
    /* R = 1: 0.8, 0.5 and 0.3 all cost 2; the highest recall of them wins */
    g.value = 1;
    assert_int_equal(fab_alarm_choose(&r, 1, 216, 72, &g, &s), 0);
    assert_double_equal(s.threshold, 0.3, 0);
}

static void test_early_alarm_is_false(void **state) {
    (void)state;
    /* one machine failing at 500 h, evaluated every 100 h; sustain 2. Scores 0.1 0.7 0.7 0.7 0.9:
     * at 0.6 the alarm starts at 200 h (300 h ahead: beyond the 216 h window) and never stops, so it
     * is false and the failure is missed; at 0.8 the flags at 400 h alone never sustain. */
    double t[5] = {0, 100, 200, 300, 400}, score[5] = {0.1, 0.7, 0.7, 0.7, 0.9}, life[2] = {0, 450};
    int mi[5] = {0, 0, 0, 0, 0};
    fab_machine m = {.n = 2, .t = life, .failure = 500};
    fab_alarm_rows r = {.n = 5, .score = score, .t = t, .machine = mi, .machines = &m};
    fab_alarm_goal g = {FAB_GOAL_PRECISION, 0.85};
    fab_alarm_stats s;
    assert_int_equal(fab_alarm_judge(&r, 0.6, 2, 216, &g, &s), 0);
    assert_int_equal(s.false_alarms, 1);
    assert_int_equal(s.detected, 0);
    assert_double_equal(s.precision, 0, 0);
    assert_int_equal(fab_alarm_judge(&r, 0.8, 2, 216, &g, &s), 0);
    assert_int_equal(s.false_alarms + s.detected, 0);
    /* with sustain 1 at 0.8 the alarm at 400 h detects it 100 h ahead */
    assert_int_equal(fab_alarm_judge(&r, 0.8, 1, 216, &g, &s), 0);
    assert_int_equal(s.detected, 1);
    assert_double_equal(s.lead_median, 100, 0);
}

static void test_goal_text(void **state) {
    (void)state;
    fab_alarm_goal g;
    char buf[48];
    assert_int_equal(fab_alarm_goal_parse("precision:0.85", &g), 0);
    assert_int_equal(g.kind, FAB_GOAL_PRECISION);
    assert_double_equal(g.value, 0.85, 0);
    assert_string_equal(fab_alarm_goal_format(&g, buf, sizeof buf), "precision:0.85");
    assert_int_equal(fab_alarm_goal_parse("cost:20", &g), 0);
    assert_int_equal(g.kind, FAB_GOAL_COST);
    assert_double_equal(g.value, 20, 0);
    assert_string_equal(fab_alarm_goal_format(&g, buf, sizeof buf), "cost:20");
    const char *bad[] = {"precision:1.5", "precision:0", "precision:", "precision:0.8x", "cost:-1", "recall:0.9",
                         "precision0.8", "", "cost:nan", "costs:3"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) assert_int_equal(fab_alarm_goal_parse(bad[i], &g), -1);
    assert_int_equal(fab_alarm_goal_parse(NULL, &g), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precision_goal_beats_max_f1),
        cmocka_unit_test(test_unreachable_precision),
        cmocka_unit_test(test_cost_goal),
        cmocka_unit_test(test_early_alarm_is_false),
        cmocka_unit_test(test_goal_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
