/* test_maint_features.c: the windowed features of moe-factory maintenance against hand-worked
 * values: least-squares slope, the power spectrum of known sines through GSL's FFT, resampling,
 * the features of a constructed machine, and operating conditions found by k-means. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "assert_double.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "maintain/maint_features.h"

static void test_slope(void **state) {
    (void)state;
    double t[] = {0, 1, 2, 3}, y[] = {1, 3, 5, 7}, y2[] = {1, 2, 2, 5};
    assert_double_equal(fab_slope(t, y, 4), 2.0, 1e-12);
    /* mean t 1.5, mean y 2.5: sum (t - 1.5)(y - 2.5) = 6, sum (t - 1.5)^2 = 5 */
    assert_double_equal(fab_slope(t, y2, 4), 1.2, 1e-12);
    double t3[] = {0, 10, 11}, y3[] = {4, 4, 4};
    assert_double_equal(fab_slope(t3, y3, 3), 0.0, 0);
    assert_double_equal(fab_slope(t, y, 1), 0.0, 0);
}

static void test_spectrum(void **state) {
    (void)state;
    enum { N = 48 };
    double x[N], p[N / 2 + 1];
    /* offset 3 plus a sine of amplitude 2 at bin 6 (a period of 8 samples): all power at bin 6, A^2/2 = 2 */
    for (int i = 0; i < N; i++) x[i] = 3 + 2 * sin(2 * M_PI * 6 * i / N + 0.3);
    assert_int_equal(fab_power_spectrum(x, N, p), 0);
    int peak = 0;
    for (int k = 1; k <= N / 2; k++)
        if (p[k] > p[peak]) peak = k;
    assert_int_equal(peak, 6);
    assert_double_equal(p[6], 2.0, 1e-10);
    assert_double_equal(p[0], 0.0, 1e-20); /* the mean is removed */
    double rest = 0;
    for (int k = 0; k <= N / 2; k++) rest += k == 6 ? 0 : p[k];
    assert_true(rest < 1e-20);
    /* two sines at bins 3 and 10 with amplitudes 1 and 0.5, plus the Nyquist alternation of amplitude 0.25 */
    for (int i = 0; i < N; i++) x[i] = cos(2 * M_PI * 3 * i / N) + 0.5 * sin(2 * M_PI * 10 * i / N) + 0.25 * (i % 2 ? -1 : 1);
    assert_int_equal(fab_power_spectrum(x, N, p), 0);
    assert_double_equal(p[3], 0.5, 1e-10);
    assert_double_equal(p[10], 0.125, 1e-10);
    assert_double_equal(p[24], 0.0625, 1e-10);
    /* Parseval: the powers add up to the variance */
    double var = 0, mean = 0, sum = 0;
    for (int i = 0; i < N; i++) mean += x[i] / N;
    for (int i = 0; i < N; i++) var += (x[i] - mean) * (x[i] - mean) / N;
    for (int k = 0; k <= N / 2; k++) sum += p[k];
    assert_double_equal(sum, var, 1e-10);
    /* an odd length (mixed-radix FFT): a sine at bin 4 of 45 samples */
    double y[45], q[23];
    for (int i = 0; i < 45; i++) y[i] = 1.5 * sin(2 * M_PI * 4 * i / 45);
    assert_int_equal(fab_power_spectrum(y, 45, q), 0);
    assert_double_equal(q[4], 1.125, 1e-10);
}

static void test_resample(void **state) {
    (void)state;
    double t[] = {1.0, 2.5, 4.0}, y[] = {10, 13, 7}, out[6];
    fab_resample(t, y, 3, 0, 1, 6, out);
    assert_double_equal(out[0], 10, 1e-12); /* before the first sample: held */
    assert_double_equal(out[1], 10, 1e-12);
    assert_double_equal(out[2], 12, 1e-12); /* 10 + 3 * (1 / 1.5) */
    assert_double_equal(out[3], 11, 1e-12); /* 13 - 6 * (0.5 / 1.5) */
    assert_double_equal(out[4], 7, 1e-12);
    assert_double_equal(out[5], 7, 1e-12); /* after the last: held */
}

/* A log of one machine sampled hourly at t = 0 .. 100 h: temp = 0.5 t, vib = sin(2 pi t / 8). */
static void make_machine(fab_sensor_log *fleet, fab_machine *m, double *t, double *v) {
    memset(fleet, 0, sizeof *fleet);
    fleet->n_sensors = 2;
    strcpy(fleet->sensor[0], "temp");
    strcpy(fleet->sensor[1], "vib_x");
    fleet->n_machines = 1;
    fleet->m = m;
    memset(m, 0, sizeof *m);
    strcpy(m->id, "A");
    m->n = 101;
    m->t = t;
    m->v = v;
    m->failure = NAN;
    for (int i = 0; i <= 100; i++) {
        t[i] = i;
        v[2 * i] = 0.5 * i;
        v[2 * i + 1] = sin(2 * M_PI * i / 8);
    }
}

static void test_features(void **state) {
    (void)state;
    fab_sensor_log fleet;
    fab_machine m;
    double t[101], v[202];
    make_machine(&fleet, &m, t, v);
    fab_feature_spec spec;
    fab_spec_init(&spec, &fleet, 48, 6);
    assert_int_equal(spec.role[0], FAB_ROLE_SENSOR);
    assert_int_equal(spec.role[1], FAB_ROLE_VIBRATION);
    assert_int_equal(fab_feature_count(&spec), 2 * FAB_PER_SENSOR + FAB_BANDS);
    char name[64];
    fab_feature_name(&spec, 3, name, sizeof name);
    assert_string_equal(name, "temp.slope");
    fab_feature_name(&spec, 8, name, sizeof name);
    assert_string_equal(name, "vib_x.band0");
    assert_int_equal(fab_feature_sensor(&spec, 9), 1);
    assert_int_equal(fab_feature_recent(&spec, 1), 5);
    /* one condition with level 0 and spread 1: the z-scores are the raw values */
    double f[16];
    assert_int_equal(fab_features_at(&spec, &m, 100, f), 0);
    /* window (52, 100]: samples 53 .. 100 */
    assert_double_equal(f[0], 0.5 * 76.5, 1e-9);                        /* mean */
    assert_double_equal(f[1], 0.5 * 94.5, 1e-9);                        /* recent: t > 88, samples 89 .. 100 */
    assert_double_equal(f[2], 0.5 * sqrt((48.0 * 48 - 1) / 12), 1e-9);  /* population sd of 48 consecutive steps */
    assert_double_equal(f[3], 24 * 0.5, 1e-9);                          /* slope per day */
    /* vibration: the hourly grid 53 .. 100 holds six whole periods of 8 h: bin 6, band 0, power 1/2 */
    assert_double_equal(f[8], log(1e-4 + 0.5), 1e-9);
    for (int b = 1; b < FAB_BANDS; b++) assert_double_equal(f[8 + b], log(1e-4), 1e-6);
    /* too few samples in the window */
    assert_int_equal(fab_features_at(&spec, &m, 2, f), -1);
    double times[64];
    int n = fab_eval_times(&spec, &m, 100, times, 64);
    assert_int_equal(n, 9); /* 48, 54, ..., 96 */
    assert_double_equal(times[8], 96, 0);
    /* the specification survives JSON */
    json_t *j = fab_spec_to_json(&spec);
    fab_feature_spec back;
    char reason[128];
    assert_int_equal(fab_spec_from_json(&back, j, reason, sizeof reason), 0);
    assert_int_equal(back.role[1], FAB_ROLE_VIBRATION);
    assert_double_equal(back.window, 48, 0);
    json_object_set_new(j, "window", json_real(-1));
    assert_int_equal(fab_spec_from_json(&back, j, reason, sizeof reason), -1);
    json_decref(j);
}

static void test_conditions(void **state) {
    (void)state;
    /* 300 samples in three operating conditions (load 0.2, 0.5, 0.9), temp = 40 + 50 load + noise */
    enum { N = 300 };
    fab_sensor_log fleet = {.n_sensors = 2, .n_machines = 1};
    strcpy(fleet.sensor[0], "setting_load");
    strcpy(fleet.sensor[1], "temp");
    fab_machine m = {.n = N, .failure = NAN};
    double t[N], v[2 * N];
    const double load[3] = {0.2, 0.5, 0.9};
    mc_rng *rng = mc_rng_create(7);
    for (int i = 0; i < N; i++) {
        int c = (i / 10) % 3;
        t[i] = i;
        v[2 * i] = load[c] + 0.01 * mc_rng_normal(rng);
        v[2 * i + 1] = 40 + 50 * load[c] + (i % 2 ? 1 : -1);
    }
    m.t = t;
    m.v = v;
    fleet.m = &m;
    fab_feature_spec spec;
    fab_spec_init(&spec, &fleet, 24, 6);
    assert_int_equal(fab_conditions_fit(&spec, &fleet, 3, rng), 0);
    assert_int_equal(spec.n_cond, 3);
    /* each condition's temperature level is 40 + 50 load with a spread of exactly 1 */
    int seen[3] = {0};
    for (int c = 0; c < 3; c++) {
        int which = -1;
        for (int q = 0; q < 3; q++)
            if (fabs(spec.cond_mean[c][1] - (40 + 50 * load[q])) < 1e-9) which = q;
        assert_true(which >= 0);
        seen[which]++;
        assert_double_equal(spec.cond_sd[c][1], 1.0, 1e-9);
    }
    assert_int_equal(seen[0] + seen[1] + seen[2], 3);
    assert_true(seen[0] == 1 && seen[1] == 1 && seen[2] == 1);
    /* a sample at load 0.5 belongs to the condition whose level is 65 */
    double row[2] = {0.5, NAN};
    assert_double_equal(spec.cond_mean[fab_condition_of(&spec, row)][1], 65, 1e-9);
    mc_rng_destroy(rng);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slope),    cmocka_unit_test(test_spectrum),   cmocka_unit_test(test_resample),
        cmocka_unit_test(test_features), cmocka_unit_test(test_conditions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
