/* test_regimes_ref.c: on the daily log returns of a real series (TTR's ttrc, tests/finance), the
 * Gaussian HMM of moe-finance reaches at least the log-likelihood that statsmodels' Markov switching
 * regression with switching mean and variance reaches (tests/finance/markov_fixture.json, written by
 * make_markov_fixture.py), for 2 and 3 regimes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmm.h"

static int read_returns(const char *path, double *ret, int cap) {
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[512];
    assert_non_null(fgets(line, sizeof line, f)); /* date,open,high,low,close,volume */
    double prev = NAN;
    int n = 0;
    while (fgets(line, sizeof line, f) && n < cap) {
        double o, h, l, c, v;
        char date[16];
        assert_int_equal(sscanf(line, "%15[^,],%lf,%lf,%lf,%lf,%lf", date, &o, &h, &l, &c, &v), 6);
        if (!isnan(prev)) ret[n++] = 100.0 * log(c / prev);
        prev = c;
    }
    fclose(f);
    return n;
}

static void test_at_least_statsmodels(void **state) {
    (void)state;
    static double ret[4000];
    int T = read_returns(FIN_TEST_DIR "/ttrc.csv", ret, 4000);
    json_error_t je;
    json_t *fx = json_load_file(FIN_TEST_DIR "/markov_fixture.json", 0, &je);
    assert_non_null(fx);
    assert_int_equal(json_integer_value(json_object_get(fx, "T")), T);
    for (int K = 2; K <= 3; K++) {
        char key[16];
        snprintf(key, sizeof key, "%d", K);
        double ref = json_real_value(json_object_get(json_object_get(fx, "statsmodels"), key));
        fin_hmm_options o;
        fin_hmm_options_default(&o);
        o.K = K;
        o.seed = 42;
        fin_hmm m = {0};
        char err[256];
        assert_int_equal(fin_hmm_fit(ret, T, 1, &o, &m, err, sizeof err), 0);
        printf("K=%d: moe-finance loglik %.4f, statsmodels %.4f\n", K, m.loglik, ref);
        /* statsmodels fixes the first regime probabilities to the chain's stationary distribution
         * while the HMM estimates them: the HMM's optimum can only be higher; 1e-6 relative absorbs
         * EM's stopping tolerance */
        assert_true(m.loglik >= ref - 1e-6 * fabs(ref));
        fin_hmm_free(&m);
    }
    json_decref(fx);
}

/* Filtered probabilities use the data up to each day only: computed on a prefix of the series they
 * are bit-identical to the full series' rows; smoothed ones are not. At the last day the two agree. */
static void test_filtered_no_look_ahead(void **state) {
    (void)state;
    static double ret[4000], full[4000 * 2], cut[4000 * 2], smooth[4000 * 2];
    int T = read_returns(FIN_TEST_DIR "/ttrc.csv", ret, 4000), C = 600;
    fin_hmm_options o;
    fin_hmm_options_default(&o);
    o.K = 2;
    fin_hmm m = {0};
    char err[256];
    assert_int_equal(fin_hmm_fit(ret, T, 1, &o, &m, err, sizeof err), 0);
    assert_int_equal(fin_hmm_filtered(&m, ret, T, full), 0);
    assert_int_equal(fin_hmm_filtered(&m, ret, C, cut), 0);
    assert_memory_equal(cut, full, sizeof(double) * (size_t)C * 2);
    double ll;
    assert_int_equal(fin_hmm_posteriors(&m, ret, C, smooth, &ll), 0);
    double differ = 0;
    for (int i = 0; i < C * 2; i++) differ = fmax(differ, fabs(smooth[i] - full[i]));
    assert_true(differ > 0.05); /* smoothing looks ahead: it moves some probabilities a lot */
    assert_float_equal(smooth[(C - 1) * 2], cut[(C - 1) * 2], 1e-12);
    for (int t = 0; t < T; t++) assert_float_equal(full[2 * t] + full[2 * t + 1], 1.0, 1e-12);
    fin_hmm_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_at_least_statsmodels),
                                       cmocka_unit_test(test_filtered_no_look_ahead)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
