/* test_tune_surrogate.c: the surrogate optimiser of moe-factory tune: expected improvement against
 * SciPy's normal distribution, the ensemble's fit and its uncertainty away from the data, a
 * proposal that moves toward a known optimum, and a property test: over many random histories and
 * bounds, every proposal lies within the bounds and within max_step of the current recipe. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "tune/recipe_propose.h"
#include "tune/surrogate_opt.h"

static void test_expected_improvement(void **state) {
    (void)state;
    /* 0.5 Phi(0.5) + phi(0.5); (-0.3) Phi(-0.75) + 0.4 phi(-0.75) (scipy.stats.norm) */
    assert_true(fabs(fab_expected_improvement(1.0, 1.0, 0.5, 0.0) - 0.697796557401306) < 1e-12);
    assert_true(fabs(fab_expected_improvement(0.0, 0.4, 0.2, 0.1) - 0.0524667671488613) < 1e-12);
    assert_true(fab_expected_improvement(0.7, 0.0, 0.5, 0.0) == 0.7 - 0.5);
    assert_true(fab_expected_improvement(0.3, 0.0, 0.5, 0.0) == 0.0);
}

static double bowl(const double *x) { return 1.0 - 4 * (x[0] - 0.3) * (x[0] - 0.3) - 2 * (x[1] - 0.2) * (x[1] - 0.2); }

static void test_fit_and_uncertainty(void **state) {
    (void)state;
    mc_rng *r = mc_rng_create(4);
    double X[60 * 2], y[60];
    for (int i = 0; i < 60; i++) { /* data only in [0, 0.5]^2 */
        X[2 * i] = 0.5 * mc_rng_uniform(r);
        X[2 * i + 1] = 0.5 * mc_rng_uniform(r);
        y[i] = bowl(X + 2 * i);
    }
    fab_surrogate_config cfg;
    fab_surrogate_config_default(&cfg);
    fab_surrogate *s;
    mc_error err;
    assert_int_equal(fab_surrogate_fit(&s, &cfg, X, y, 60, 2, r, &err), MC_OK);
    double T[50 * 2], mean[50], sd[50], se = 0, sd_in = 0;
    for (int i = 0; i < 50; i++) {
        T[2 * i] = 0.05 + 0.4 * mc_rng_uniform(r);
        T[2 * i + 1] = 0.05 + 0.4 * mc_rng_uniform(r);
    }
    assert_int_equal(fab_surrogate_predict(s, T, 50, mean, sd), MC_OK);
    for (int i = 0; i < 50; i++) {
        se += (mean[i] - bowl(T + 2 * i)) * (mean[i] - bowl(T + 2 * i));
        sd_in += sd[i] / 50;
    }
    /* y spans about 0.5 inside the data; the fit is within a few hundredths */
    assert_true(sqrt(se / 50) < 0.03);
    double far[2] = {1.0, 1.0}, fm, fs;
    assert_int_equal(fab_surrogate_predict(s, far, 1, &fm, &fs), MC_OK);
    assert_true(fs > 3 * sd_in); /* the ensemble disagrees away from the data */
    /* proposals in a box around (0.5, 0.5) with a step of 0.3 go toward the optimum (0.3, 0.2) */
    double lo[2] = {0.2, 0.2}, hi[2] = {0.8, 0.8}, x[2];
    assert_int_equal(fab_surrogate_propose(s, lo, hi, 1, r, x, NULL, NULL, NULL), MC_OK);
    assert_true(x[0] >= 0.2 && x[0] <= 0.4 && x[1] >= 0.2 && x[1] <= 0.3);
    fab_surrogate_destroy(s);
    mc_rng_destroy(r);
}

/* Many random bounds, step limits and histories (some parameters fixed by min == max or a zero
 * step, current recipes outside the bounds but within a step of them, pending batches), for both
 * engines and both acquisitions. */
static void test_proposals_respect_limits(void **state) {
    (void)state;
    mc_rng *r = mc_rng_create(9);
    fab_propose_config cfg;
    fab_propose_config_default(&cfg);
    cfg.mlp.members = 2;
    cfg.mlp.steps = 20;
    cfg.mlp.candidates = 100;
    cfg.gp_starts = 2;
    static const char *const names[] = {"a", "b", "c", "d", "e", "f"};
    int checked = 0, exploratory = 0;
    for (int trial = 0; trial < 300; trial++) {
        cfg.engine = trial % 3 == 0 ? FAB_ENGINE_MLP : FAB_ENGINE_GP;
        cfg.acquisition = trial % 3 == 2 ? FAB_ACQ_UCB : FAB_ACQ_EI;
        cfg.half_life = trial % 4 == 1 ? 5 : 0;
        int d = 1 + (int)mc_rng_below(r, 6), n = 1 + (int)mc_rng_below(r, 25), n_out = 1 + (int)mc_rng_below(r, 5);
        double mn[6], mx[6], step[6], cur[6], X[25 * 6], y[25];
        unsigned char pending[25];
        for (int i = 0; i < d; i++) {
            double scale = pow(10, 4 * mc_rng_uniform(r) - 2);
            mn[i] = scale * (mc_rng_uniform(r) - 0.5);
            mx[i] = mc_rng_below(r, 8) == 0 ? mn[i] : mn[i] + scale * mc_rng_uniform(r);
            step[i] = mc_rng_below(r, 8) == 0 ? 0 : scale * 0.3 * mc_rng_uniform(r);
        }
        for (int k = 0; k < n; k++) {
            for (int i = 0; i < d; i++) {
                double w = mx[i] - mn[i];
                X[k * d + i] = mn[i] - 0.1 * w + 1.2 * w * mc_rng_uniform(r);
            }
            y[k] = mc_rng_normal(r);
            pending[k] = mc_rng_below(r, 6) == 0;
        }
        for (int i = 0; i < d; i++) {
            cur[i] = X[(n - 1) * d + i];
            if (cur[i] < mn[i] - step[i]) cur[i] = X[(n - 1) * d + i] = mn[i] - 0.999 * step[i];
            if (cur[i] > mx[i] + step[i]) cur[i] = X[(n - 1) * d + i] = mx[i] + 0.999 * step[i];
        }
        fab_recipe_space sp = {d, names, mn, mx, step, cur};
        double out[5 * 6], pred[5], unc[5], acq[5];
        mc_error err;
        fab_propose_info info;
        assert_int_equal(fab_propose_recipes(&cfg, &sp, X, y, pending, n, (int)mc_rng_below(r, 2), n_out, r, out, pred,
                                             unc, acq, &info, &err),
                         MC_OK);
        exploratory += info.exploratory;
        for (int k = 0; k < n_out; k++) {
            if (info.exploratory)
                assert_true(isnan(pred[k]) && isnan(unc[k]) && isnan(acq[k]));
            else
                assert_true(isfinite(pred[k]) && unc[k] >= 0 && (cfg.acquisition == FAB_ACQ_UCB || acq[k] >= 0));
            for (int i = 0; i < d; i++) {
                double v = out[k * d + i];
                if (!(v >= mn[i] && v <= mx[i] && v >= cur[i] - step[i] && v <= cur[i] + step[i]))
                    fail_msg("trial %d: %s = %.17g outside [%.17g, %.17g] or beyond %.17g of %.17g", trial, names[i], v,
                             mn[i], mx[i], step[i], cur[i]);
                checked++;
            }
        }
    }
    assert_true(checked > 1000);
    assert_true(exploratory > 10 && exploratory < 200); /* short histories explore, the others do not */
    /* a current recipe farther than max_step outside the bounds leaves no room */
    double mn[2] = {0, 0}, mx[2] = {1, 1}, step[2] = {0.1, 0.1}, X[2] = {0.5, 1.5}, y[1] = {1};
    fab_recipe_space sp = {2, names, mn, mx, step, X};
    double out[2];
    mc_error err;
    assert_int_equal(fab_propose_recipes(&cfg, &sp, X, y, NULL, 1, 1, 1, r, out, NULL, NULL, NULL, NULL, &err),
                     MC_ERR_ARG);
    assert_non_null(strstr(err.msg, "the current b (1.5) is more than max_step"));
    mc_rng_destroy(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expected_improvement),
        cmocka_unit_test(test_fit_and_uncertainty),
        cmocka_unit_test(test_proposals_respect_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
