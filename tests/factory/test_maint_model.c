/* test_maint_model.c: the maintenance model on a generated fleet: it learns (ranking of
 * failure-within-horizon rows and RUL error on held-out machines), its file round-trips bit for bit
 * with its alarm goal and held-out figures, a RUL near the cap is censored, bad metadata and foreign
 * model files are refused, and occlusion attribution is exact where it must be. */
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

#include "maintain/fleet_synth.h"
#include "maintain/maint_model.h"

static char *tmp_path(const char *name) {
    static char path[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/maint-model-%s-%ld", getenv("MC_TEST_TMP") ? getenv("MC_TEST_TMP") : "/tmp", name,
             (long)getpid());
    return path[k];
}

/* A fleet of n machines from seed, read back as a log with its failures. */
static void fleet(int n, uint64_t seed, fab_sensor_log *log) {
    char *sp = tmp_path("sensors.csv"), *fp = tmp_path("failures.csv");
    FILE *s = fopen(sp, "w"), *f = fopen(fp, "w");
    assert_non_null(s);
    assert_non_null(f);
    mc_rng *rng = mc_rng_create(seed);
    fab_synth_summary sum;
    assert_int_equal(fab_synth_fleet(n, rng, s, f, &sum), 0);
    assert_int_equal(sum.machines, n);
    assert_int_equal(sum.failed + sum.censored, n);
    mc_rng_destroy(rng);
    fclose(s);
    fclose(f);
    char reason[256];
    assert_int_equal(fab_sensor_log_read(sp, log, reason, sizeof reason), 0);
    assert_int_equal(fab_failures_read(fp, log, reason, sizeof reason), sum.failed);
    unlink(sp);
    unlink(fp);
}

/* Area under the ROC curve of score for label (ties count one half). */
static double auc(const double *score, const unsigned char *label, int n) {
    double pos = 0, neg = 0, sum = 0;
    for (int i = 0; i < n; i++) {
        if (!label[i]) continue;
        pos++;
        for (int j = 0; j < n; j++)
            if (!label[j]) sum += score[i] > score[j] ? 1 : score[i] == score[j] ? 0.5 : 0;
    }
    for (int j = 0; j < n; j++) neg += !label[j];
    return pos && neg ? sum / (pos * neg) : NAN;
}

static void test_learns_and_roundtrips(void **state) {
    (void)state;
    fab_sensor_log train_log, test_log;
    fleet(40, 101, &train_log);
    fleet(12, 9001, &test_log); /* a fleet from a seed never used in training */
    fab_maint_model m = {.horizon = 72, .target_horizon = 72, .cap = 200, .sustain = 2, .threshold = 0.5, .base_feature = 1, .base_sign = 1,
                         .base_threshold = 1.5, .fixed_interval = 400, .goal = {FAB_GOAL_COST, 20},
                         .alarm = {.machines = 10, .failures = 8, .detected = 7, .false_alarms = 1, .precision = 0.875,
                                   .recall = 0.875, .lead_median = 81.5, .goal_met = 1}};
    fab_spec_init(&m.spec, &train_log, 48, 6);
    mc_rng *rng = mc_rng_create(3);
    assert_int_equal(fab_conditions_fit(&m.spec, &train_log, 3, rng), 0);
    mc_rng_destroy(rng);
    assert_int_equal(m.spec.n_cond, 3);
    fab_rows tr = {0}, va = {0}, te = {0};
    for (int i = 0; i < train_log.n_machines; i++)
        assert_int_equal(fab_rows_add_machine(i % 4 == 0 ? &va : &tr, &m.spec, &train_log, i), 0);
    for (int i = 0; i < test_log.n_machines; i++) assert_int_equal(fab_rows_add_machine(&te, &m.spec, &test_log, i), 0);
    assert_true(tr.n > 1000);
    mc_train_result res;
    mc_error err;
    assert_int_equal(fab_maint_fit(&m, &tr, &va, 5, 40, &res, &err), MC_OK);
    assert_true(res.epochs_run >= 1);

    /* on the held-out fleet: failure-within-72-h rows rank above the others, RUL within tens of hours */
    double *p = malloc(sizeof(double) * (size_t)te.n), *rul = malloc(sizeof(double) * (size_t)te.n),
           *truth = malloc(sizeof(double) * (size_t)te.n), *pred = malloc(sizeof(double) * (size_t)te.n);
    unsigned char *label = malloc((size_t)te.n);
    assert_int_equal(fab_maint_predict(&m, te.x, te.n, rul, p), MC_OK);
    int n_known = 0, n_rul = 0;
    double *ps = malloc(sizeof(double) * (size_t)te.n);
    for (int i = 0; i < te.n; i++) {
        assert_true(p[i] >= 0 && p[i] <= 1);
        assert_true(rul[i] >= 0 && rul[i] <= m.cap);
        if (!isnan(te.rul[i])) {
            truth[n_rul] = fmin(te.rul[i], m.cap);
            pred[n_rul++] = rul[i];
        }
        if (!isnan(te.rul[i]) || te.left[i] >= m.horizon) {
            ps[n_known] = p[i];
            label[n_known++] = !isnan(te.rul[i]) && te.rul[i] <= m.horizon;
        }
    }
    double a = auc(ps, label, n_known);
    double err2 = 0;
    for (int i = 0; i < n_rul; i++) err2 += (pred[i] - truth[i]) * (pred[i] - truth[i]) / n_rul;
    print_message("held-out fleet: %d rows, AUC %.4f, RUL RMSE %.1f h\n", te.n, a, sqrt(err2));
    assert_true(a > 0.95);
    assert_true(sqrt(err2) < 45);

    /* a target horizon of 144 h: the rows 72-120 h before a failure are positives of that model and
     * negatives of the 72 h one, so its probability there is high where the other's is low */
    fab_maint_model wide = {.horizon = 72, .target_horizon = 144, .cap = 200, .spec = m.spec};
    mc_train_result res_wide;
    assert_int_equal(fab_maint_fit(&wide, &tr, &va, 5, 40, &res_wide, &err), MC_OK);
    double *pw = malloc(sizeof(double) * (size_t)te.n), mid72 = 0, mid144 = 0;
    int n_mid = 0;
    assert_int_equal(fab_maint_predict(&wide, te.x, te.n, NULL, pw), MC_OK);
    for (int i = 0; i < te.n; i++)
        if (te.rul[i] > 72 && te.rul[i] <= 120) {
            mid72 += p[i];
            mid144 += pw[i];
            n_mid++;
        }
    assert_true(n_mid > 20);
    print_message("rows 72-120 h before a failure: mean p %.3f (target 72 h), %.3f (target 144 h)\n", mid72 / n_mid,
                  mid144 / n_mid);
    assert_true(mid72 / n_mid < 0.25);
    assert_true(mid144 / n_mid > 0.4 && mid144 > 2 * mid72);
    free(pw);
    fab_maint_free(&wide);
    /* a target horizon shorter than the horizon is refused */
    fab_maint_model bad = {.horizon = 72, .target_horizon = 48, .cap = 200, .spec = m.spec};
    assert_int_equal(fab_maint_fit(&bad, &tr, &va, 5, 1, &res_wide, &err), MC_ERR_ARG);
    assert_non_null(strstr(err.msg, "target horizon"));

    /* the file round-trips: the same predictions, bit for bit, and the same metadata */
    char *path = tmp_path("m.safetensors");
    assert_int_equal(fab_maint_save(&m, path, NULL, 0, &err), MC_OK);
    fab_maint_model back;
    assert_int_equal(fab_maint_load(&back, path, &err), MC_OK);
    assert_int_equal(back.n_features, m.n_features);
    assert_true(back.threshold == m.threshold && back.base_threshold == m.base_threshold && back.sustain == 2);
    assert_double_equal(back.target_horizon, 72, 0);
    assert_true(back.mean[3] == m.mean[3] && back.sd[7] == m.sd[7]);
    assert_true(back.spec.cond_mean[2][4] == m.spec.cond_mean[2][4]);
    /* the alarm goal and its held-out figures */
    assert_int_equal(back.goal.kind, FAB_GOAL_COST);
    assert_double_equal(back.goal.value, 20, 0);
    assert_int_equal(back.alarm.detected, 7);
    assert_int_equal(back.alarm.false_alarms, 1);
    assert_double_equal(back.alarm.precision, 0.875, 0);
    assert_double_equal(back.alarm.lead_median, 81.5, 0);
    assert_int_equal(back.alarm.goal_met, 1);
    /* a predicted RUL within 5% of the cap is censored */
    assert_int_equal(fab_rul_censored(&back, 189.9), 0);
    assert_int_equal(fab_rul_censored(&back, 190), 1);
    assert_int_equal(fab_rul_censored(&back, 199.99), 1);
    double *p2 = malloc(sizeof(double) * (size_t)te.n);
    assert_int_equal(fab_maint_predict(&back, te.x, te.n, NULL, p2), MC_OK);
    assert_memory_equal(p, p2, sizeof(double) * (size_t)te.n);

    /* occlusion: a row at the training means has no drivers; pushing temp alone makes temp the only one */
    int S = m.spec.n_sensors, temp = fab_sensor_index(&test_log, "temp");
    double x[FAB_MAX_FEATURES], score[FAB_MAX_SENSORS];
    memcpy(x, m.mean, sizeof(double) * (size_t)m.n_features);
    assert_int_equal(fab_maint_drivers(&back, x, score), MC_OK);
    for (int s = 0; s < S; s++) assert_double_equal(score[s], 0, 1e-5); /* the same row in another batch position */
    for (int k = 0; k < m.n_features; k++)
        if (fab_feature_sensor(&m.spec, k) == temp) x[k] = m.mean[k] + 6 * m.sd[k];
    assert_int_equal(fab_maint_drivers(&back, x, score), MC_OK);
    for (int s = 0; s < S; s++)
        if (s != temp) assert_double_equal(score[s], 0, 1e-5);
    assert_true(fabs(score[temp]) > 0.1);
    fab_maint_free(&back);

    /* bad metadata is refused */
    m.threshold = 2;
    assert_int_equal(fab_maint_save(&m, path, NULL, 0, &err), MC_OK);
    assert_int_equal(fab_maint_load(&back, path, &err), MC_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "does not match"));
    /* a model file of another kind */
    assert_int_equal(mc_model_save(m.net, path, NULL, 0, NULL, 0, &err), MC_OK);
    assert_int_equal(fab_maint_load(&back, path, &err), MC_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "not a moe-factory maintenance model"));
    unlink(path);

    free(p);
    free(p2);
    free(ps);
    free(rul);
    free(truth);
    free(pred);
    free(label);
    fab_rows_free(&tr);
    fab_rows_free(&va);
    fab_rows_free(&te);
    fab_maint_free(&m);
    fab_sensor_log_free(&train_log);
    fab_sensor_log_free(&test_log);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_learns_and_roundtrips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
