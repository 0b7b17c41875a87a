/* test_tune_gp.c: the Gaussian process and the Bayesian-optimisation engine of tune propose: the
 * likelihood's gradient against finite differences, the posterior worked out by hand, length scales
 * that find the input that matters, fantasies, log expected improvement far into its tail, and the
 * proposals: a closed loop that finds a known optimum, batches that spread, pending batches not
 * repeated, and exploratory proposals for too little history or a constant objective. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "tune/gp.h"
#include "tune/recipe_propose.h"

static double wave(const double *x) { return sin(6 * x[0]) + 0.5 * x[0]; } /* x[1] does not matter */

static void test_gradient(void **state) {
    (void)state;
    mc_rng *r = mc_rng_create(3);
    double X[15 * 3], y[15], w[15];
    for (int i = 0; i < 15; i++) {
        for (int k = 0; k < 3; k++) X[i * 3 + k] = mc_rng_uniform(r);
        y[i] = wave(X + i * 3) + 0.3 * X[i * 3 + 2] + 0.05 * mc_rng_normal(r);
        w[i] = 1 + i % 3;
    }
    fab_gp *g;
    mc_error err;
    assert_int_equal(fab_gp_fit(&g, X, y, w, 15, 3, 1, r, &err), MC_OK);
    for (int trial = 0; trial < 5; trial++) {
        double theta[5], grad[5];
        for (int k = 0; k < 3; k++) theta[k] = log(0.1 + mc_rng_uniform(r));
        theta[3] = 0.5 * mc_rng_normal(r);
        theta[4] = log(0.01 + 0.1 * mc_rng_uniform(r));
        fab_gp_log_posterior(g, theta, grad);
        for (int k = 0; k < 5; k++) {
            double h = 1e-5, tp[5], tm[5];
            memcpy(tp, theta, sizeof tp);
            memcpy(tm, theta, sizeof tm);
            tp[k] += h;
            tm[k] -= h;
            double fd = (fab_gp_log_posterior(g, tp, NULL) - fab_gp_log_posterior(g, tm, NULL)) / (2 * h);
            if (fabs(fd - grad[k]) > 1e-4 * (1 + fabs(fd))) fail_msg("theta %d: analytic %.8g, numeric %.8g", k, grad[k], fd);
        }
    }
    fab_gp_destroy(g);
    mc_rng_destroy(r);
}

/* Two observations: the posterior mean and variance at a third point from the 2 x 2 system by hand. */
static void test_posterior_by_hand(void **state) {
    (void)state;
    mc_rng *r = mc_rng_create(5);
    double X[2] = {0.2, 0.6}, y[2] = {1.0, 3.0}, x = 0.35;
    fab_gp *g;
    mc_error err;
    assert_int_equal(fab_gp_fit(&g, X, y, NULL, 2, 1, 2, r, &err), MC_OK);
    fab_gp_hyper h;
    fab_gp_hyperparameters(g, &h, NULL);
    double mean, sd, ym, ys;
    fab_gp_scale(g, &ym, &ys);
    assert_true(fabs(ym - 2.0) < 1e-15 && fabs(ys - 1.0) < 1e-15);
    assert_int_equal(fab_gp_predict(g, &x, 1, &mean, &sd), MC_OK);
#define M52(r) (h.signal * (1 + sqrt(5.0) * (r) + 5.0 / 3.0 * (r) * (r)) * exp(-sqrt(5.0) * (r)))
    double k01 = M52(0.4 / h.length[0]), a = h.signal + h.noise + 1e-9, det = a * a - k01 * k01;
    double k0 = M52(0.15 / h.length[0]), k1 = M52(0.25 / h.length[0]);
    double t[2] = {-1, 1}; /* standardised y */
    double al0 = (a * t[0] - k01 * t[1]) / det, al1 = (a * t[1] - k01 * t[0]) / det;
    double mu = 2.0 + (k0 * al0 + k1 * al1);
    double var = h.signal - (a * k0 * k0 - 2 * k01 * k0 * k1 + a * k1 * k1) / det;
    assert_true(fabs(mean - mu) < 1e-9);
    assert_true(fabs(sd - sqrt(var)) < 1e-9);
    fab_gp_destroy(g);
    mc_rng_destroy(r);
}

static void test_length_scales_and_fit(void **state) {
    (void)state;
    mc_rng *r = mc_rng_create(7);
    double X[40 * 2], y[40];
    for (int i = 0; i < 40; i++) {
        X[2 * i] = mc_rng_uniform(r);
        X[2 * i + 1] = mc_rng_uniform(r);
        y[i] = wave(X + 2 * i) + 0.01 * mc_rng_normal(r);
    }
    fab_gp *g;
    mc_error err;
    assert_int_equal(fab_gp_fit(&g, X, y, NULL, 40, 2, 5, r, &err), MC_OK);
    fab_gp_hyper h;
    fab_gp_hyperparameters(g, &h, NULL);
    assert_true(h.length[1] > 5 * h.length[0]); /* the second input does not matter */
    assert_true(h.noise < 0.01);                /* noise sd 0.01 against y's sd of about 0.7 */
    double T[2], se = 0, mean, sd;
    for (int i = 0; i < 100; i++) {
        T[0] = 0.05 + 0.9 * mc_rng_uniform(r);
        T[1] = 0.05 + 0.9 * mc_rng_uniform(r);
        assert_int_equal(fab_gp_predict(g, T, 1, &mean, &sd), MC_OK);
        se += (mean - wave(T)) * (mean - wave(T));
    }
    assert_true(sqrt(se / 100) < 0.03);
    /* a fantasy counts as one more noisy observation: among 40 it pulls the mean a quarter of the way
     * to its value (0.2 above) and narrows the uncertainty */
    double f[2] = {0.5, 0.5}, before_sd;
    assert_int_equal(fab_gp_predict(g, f, 1, &mean, &before_sd), MC_OK);
    assert_int_equal(fab_gp_add(g, f, mean + 0.2), MC_OK);
    double after, after_sd;
    assert_int_equal(fab_gp_predict(g, f, 1, &after, &after_sd), MC_OK);
    assert_true(after - mean > 0.03 && after - mean < 0.1 && after_sd < 0.95 * before_sd);
    fab_gp_destroy(g);
    mc_rng_destroy(r);
}

/* 400 rows: the hyperparameters come from the last 300, the model conditions on all 400; the
 * first 100 rows cover x0 < 0.3 only, so a good fit there shows that they count. */
static void test_long_history(void **state) {
    (void)state;
    mc_rng *r = mc_rng_create(8);
    double X[400 * 2], y[400];
    for (int i = 0; i < 400; i++) {
        X[2 * i] = i < 100 ? 0.3 * mc_rng_uniform(r) : 0.3 + 0.7 * mc_rng_uniform(r);
        X[2 * i + 1] = mc_rng_uniform(r);
        y[i] = wave(X + 2 * i) + 0.01 * mc_rng_normal(r);
    }
    fab_gp *g;
    mc_error err;
    assert_int_equal(fab_gp_fit(&g, X, y, NULL, 400, 2, 3, r, &err), MC_OK);
    fab_gp_hyper h;
    fab_gp_hyperparameters(g, &h, NULL);
    assert_true(h.length[1] > 5 * h.length[0]);
    double T[2], se = 0, mean, sd;
    for (int i = 0; i < 50; i++) {
        T[0] = 0.02 + 0.26 * mc_rng_uniform(r);
        T[1] = 0.05 + 0.9 * mc_rng_uniform(r);
        assert_int_equal(fab_gp_predict(g, T, 1, &mean, &sd), MC_OK);
        se += (mean - wave(T)) * (mean - wave(T));
    }
    assert_true(sqrt(se / 50) < 0.02);
    fab_gp_destroy(g);
    mc_rng_destroy(r);
}

static void test_log_ei(void **state) {
    (void)state;
    for (double z = -5.9; z < 4; z += 0.37) {
        double direct = log(exp(-0.5 * z * z) / sqrt(2 * M_PI) + z * 0.5 * erfc(-z / sqrt(2.0)));
        assert_true(fabs(fab_log_ei_unit(z) - direct) < 1e-12 * (1 + fabs(direct)));
    }
    /* the tail, from long double where the difference still holds enough digits */
    for (long double z = -6.5L; z > -12; z -= 1.5L) {
        long double h = expl(-0.5L * z * z) / sqrtl(2 * (long double)M_PI) + z * 0.5L * erfcl(-z / sqrtl(2.0L));
        assert_true(fabsl((long double)fab_log_ei_unit((double)z) - logl(h)) < 2e-3L);
    }
    assert_true(isfinite(fab_log_ei_unit(-40)) && fab_log_ei_unit(-40) < fab_log_ei_unit(-39));
}

static double bowl(const double *x) { return 1.0 - 4 * (x[0] - 0.7) * (x[0] - 0.7) - 3 * (x[1] - 0.25) * (x[1] - 0.25); }

static const char *const names[] = {"a", "b"};
static const double mn[2] = {0, 0}, mx[2] = {1, 1}, step[2] = {1, 1};

/* A closed loop from 3 batches: 12 single proposals reach the optimum of a noisy bowl. */
static void test_closed_loop(void **state) {
    (void)state;
    mc_rng *r = mc_rng_create(11);
    fab_propose_config cfg;
    fab_propose_config_default(&cfg);
    double X[20 * 2] = {0.1, 0.9, 0.2, 0.8, 0.15, 0.6}, y[20];
    int n = 3;
    for (int i = 0; i < n; i++) y[i] = bowl(X + 2 * i) + 0.01 * mc_rng_normal(r);
    for (int it = 0; it < 12; it++, n++) {
        fab_recipe_space sp = {2, names, mn, mx, step, X + 2 * (n - 1)};
        fab_propose_info info;
        mc_error err;
        assert_int_equal(fab_propose_recipes(&cfg, &sp, X, y, NULL, n, 1, 1, r, X + 2 * n, NULL, NULL, NULL, &info, &err),
                         MC_OK);
        assert_false(info.exploratory);
        y[n] = bowl(X + 2 * n) + 0.01 * mc_rng_normal(r);
    }
    double best = -1;
    for (int i = 0; i < n; i++) best = fmax(best, bowl(X + 2 * i));
    assert_true(1.0 - best < 0.01);
    mc_rng_destroy(r);
}

/* A batch spreads out; a pending batch at the best spot is not proposed again. */
static void test_batches_and_pending(void **state) {
    (void)state;
    mc_rng *r = mc_rng_create(13);
    fab_propose_config cfg;
    fab_propose_config_default(&cfg);
    double X[31 * 2], y[31], out[3 * 2], pred[3], acq[3];
    unsigned char pending[31] = {0};
    for (int i = 0; i < 30; i++) {
        X[2 * i] = mc_rng_uniform(r);
        X[2 * i + 1] = mc_rng_uniform(r);
        y[i] = bowl(X + 2 * i);
    }
    fab_recipe_space sp = {2, names, mn, mx, step, X + 2 * 29};
    mc_error err;
    assert_int_equal(fab_propose_recipes(&cfg, &sp, X, y, NULL, 30, 1, 3, r, out, pred, NULL, acq, NULL, &err), MC_OK);
    assert_true(hypot(out[0] - 0.7, out[1] - 0.25) < 0.1); /* the first goes to the optimum */
    /* 8 noisy batches leave much unknown: a batch of 4 spreads out */
    double Xs[8 * 2], ys[8], bs[4 * 2];
    for (int i = 0; i < 8; i++) {
        Xs[2 * i] = mc_rng_uniform(r);
        Xs[2 * i + 1] = mc_rng_uniform(r);
        ys[i] = bowl(Xs + 2 * i) + 0.05 * mc_rng_normal(r);
    }
    fab_recipe_space sps = {2, names, mn, mx, step, Xs + 2 * 7};
    assert_int_equal(fab_propose_recipes(&cfg, &sps, Xs, ys, NULL, 8, 1, 4, r, bs, NULL, NULL, NULL, NULL, &err), MC_OK);
    double closest = HUGE_VAL;
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < a; b++) closest = fmin(closest, hypot(bs[2 * a] - bs[2 * b], bs[2 * a + 1] - bs[2 * b + 1]));
    assert_true(closest > 0.05);
    /* the same history with the first proposal logged as pending: the next one goes elsewhere */
    X[60] = out[0];
    X[61] = out[1];
    y[30] = NAN;
    pending[30] = 1;
    double again[2];
    fab_recipe_space sp2 = {2, names, mn, mx, step, X + 60};
    fab_propose_info info;
    assert_int_equal(fab_propose_recipes(&cfg, &sp2, X, y, pending, 31, 1, 1, r, again, NULL, NULL, NULL, &info, &err),
                     MC_OK);
    assert_int_equal(info.pending, 1);
    assert_int_equal(info.measured, 30);
    assert_true(hypot(again[0] - out[0], again[1] - out[1]) > 0.02);
    mc_rng_destroy(r);
}

static void test_exploratory(void **state) {
    (void)state;
    mc_rng *r = mc_rng_create(17);
    fab_propose_config cfg;
    fab_propose_config_default(&cfg);
    double X[4 * 2] = {0.5, 0.5, 0.2, 0.3, 0.8, 0.1, 0.4, 0.9}, y[4] = {1, 2, 3, 4}, out[3 * 2], pred[3];
    fab_recipe_space sp = {2, names, mn, mx, step, X};
    fab_propose_info info;
    mc_error err;
    /* one batch for two parameters */
    assert_int_equal(fab_propose_recipes(&cfg, &sp, X, y, NULL, 1, 1, 3, r, out, pred, NULL, NULL, &info, &err), MC_OK);
    assert_true(info.exploratory && isnan(pred[0]));
    assert_non_null(strstr(info.reason, "1 measured batch for 2 parameters: a model needs at least 3"));
    for (int a = 0; a < 3; a++) { /* spread out: far from the batch and from each other */
        assert_true(hypot(out[2 * a] - 0.5, out[2 * a + 1] - 0.5) > 0.25);
        for (int b = 0; b < a; b++) assert_true(hypot(out[2 * a] - out[2 * b], out[2 * a + 1] - out[2 * b + 1]) > 0.25);
    }
    /* four batches but a constant objective */
    double c[4] = {0.7, 0.7, 0.7, 0.7};
    fab_recipe_space sp4 = {2, names, mn, mx, step, X + 6};
    assert_int_equal(fab_propose_recipes(&cfg, &sp4, X, c, NULL, 4, 1, 1, r, out, pred, NULL, NULL, &info, &err), MC_OK);
    assert_true(info.exploratory);
    assert_non_null(strstr(info.reason, "did not vary over the 4 measured batches"));
    /* four varied batches: a model */
    assert_int_equal(fab_propose_recipes(&cfg, &sp4, X, y, NULL, 4, 1, 1, r, out, pred, NULL, NULL, &info, &err), MC_OK);
    assert_false(info.exploratory);
    assert_true(isfinite(pred[0]));
    mc_rng_destroy(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradient),          cmocka_unit_test(test_posterior_by_hand),
        cmocka_unit_test(test_length_scales_and_fit), cmocka_unit_test(test_long_history),
        cmocka_unit_test(test_log_ei),
        cmocka_unit_test(test_closed_loop),       cmocka_unit_test(test_batches_and_pending),
        cmocka_unit_test(test_exploratory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
