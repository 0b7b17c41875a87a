/* test_roc.c: AUROC and the ROC curve against hand-worked values, ties included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "moecore/roc.h"

static void test_auroc(void **state) {
    (void)state;
    /* positives 0.9 0.4 0.55, negatives 0.5 0.1 0.6 0.2: pairs won 4 + 2 + 3 = 9 of 12 */
    const float s[] = {0.9f, 0.4f, 0.55f, 0.5f, 0.1f, 0.6f, 0.2f};
    const uint8_t y[] = {1, 1, 1, 0, 0, 0, 0};
    double auc;
    assert_int_equal(mc_auroc(s, y, 7, &auc), MC_OK);
    assert_true(fabs(auc - 9.0 / 12) < 1e-12);
    /* ties count half: positive 0.5 against negatives 0.5 and 0.2 -> (0.5 + 1) / 2 */
    const float t[] = {0.5f, 0.5f, 0.2f};
    const uint8_t ty[] = {1, 0, 0};
    assert_int_equal(mc_auroc(t, ty, 3, &auc), MC_OK);
    assert_true(fabs(auc - 0.75) < 1e-12);
    const uint8_t one_class[] = {1, 1, 1};
    assert_int_equal(mc_auroc(t, one_class, 3, &auc), MC_ERR_ARG);
}

static void test_roc_curve(void **state) {
    (void)state;
    const float s[] = {0.9f, 0.4f, 0.55f, 0.5f, 0.1f, 0.6f, 0.2f};
    const uint8_t y[] = {1, 1, 1, 0, 0, 0, 0};
    double fpr[16], tpr[16];
    int n;
    assert_int_equal(mc_roc_curve(s, y, 7, fpr, tpr, 16, &n), MC_OK);
    /* thresholds down the sorted scores 0.9d 0.6g 0.55d 0.5g 0.4d 0.2g 0.1g */
    const double wf[] = {0, 0, 0.25, 0.25, 0.5, 0.5, 0.75, 1}, wt[] = {0, 1.0 / 3, 1.0 / 3, 2.0 / 3, 2.0 / 3, 1, 1, 1};
    assert_int_equal(n, 8);
    for (int i = 0; i < n; i++) {
        assert_true(fabs(fpr[i] - wf[i]) < 1e-12);
        assert_true(fabs(tpr[i] - wt[i]) < 1e-12);
    }
    /* thinned: the ends are kept */
    assert_int_equal(mc_roc_curve(s, y, 7, fpr, tpr, 3, &n), MC_OK);
    assert_int_equal(n, 3);
    assert_true(fpr[0] == 0 && tpr[0] == 0 && fpr[2] == 1 && tpr[2] == 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auroc),
        cmocka_unit_test(test_roc_curve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
