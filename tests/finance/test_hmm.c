/* test_hmm.c: moe-finance's Gaussian HMM against hmmlearn's GaussianHMM (fixture written by
 * tests/finance/make_hmm_fixtures.py), plus BIC, constant series, bad input, determinism, the
 * labels, the persistence bound and the matching of states across fits. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <jansson.h>

#include "hmm.h"

#ifndef HMM_FIXTURE
#error "HMM_FIXTURE must name tests/finance/hmm_fixture.json"
#endif

/* Agreement tolerances with hmmlearn's fit of the same series. Both fits stop when an EM iteration
 * gains less than 1e-6 nats, so they sit at the same optimum up to EM's slow final steps; the
 * tolerances are a small fraction of the sampling error of each estimate on T = 600 bars (about
 * 0.04 for the bull means, 0.15 for the bear means, 0.007 for a transition probability), so
 * passing means the same optimum was found, not merely a nearby one. */
#define TOL_MEAN 0.005   /* absolute, percent returns */
#define TOL_TRANS 0.001  /* absolute, probabilities */
#define TOL_COV_REL 0.01 /* relative to the largest entry of the state's covariance */

static json_t *fixture;

static int load_fixture(void **state)
{
    (void)state;
    json_error_t e;
    fixture = json_load_file(HMM_FIXTURE, 0, &e);
    if (!fixture)
        fprintf(stderr, "cannot read %s: %s (line %d)\n", HMM_FIXTURE, e.text, e.line);
    return fixture ? 0 : -1;
}

static int free_fixture(void **state)
{
    (void)state;
    json_decref(fixture);
    return 0;
}

/* Appends the numbers of a (nested) JSON array to v, row-major. Returns the new count. */
static size_t flatten(const json_t *a, double *v, size_t n)
{
    if (json_is_array(a)) {
        size_t i;
        const json_t *e;
        json_array_foreach(a, i, e) n = flatten(e, v, n);
        return n;
    }
    assert_true(json_is_number(a));
    v[n] = json_number_value(a);
    return n + 1;
}

/* Numbers of the field name of a fixture entry, n of them exactly. Caller frees. */
static double *numbers(const json_t *entry, const char *name, size_t n)
{
    const json_t *a = json_object_get(entry, name);
    assert_non_null(a);
    double *v = malloc(sizeof(double) * n);
    assert_non_null(v);
    assert_int_equal(flatten(a, v, 0), n);
    return v;
}

typedef struct series {
    const json_t *entry;
    int T, D;
    double *x;
} series;

static series get_series(const char *name)
{
    series s;
    s.entry = json_object_get(fixture, name);
    assert_non_null(s.entry);
    s.T = (int)json_integer_value(json_object_get(s.entry, "T"));
    s.D = (int)json_integer_value(json_object_get(s.entry, "D"));
    s.x = numbers(s.entry, "x", (size_t)s.T * s.D);
    return s;
}

static double ref_loglik(const series *s)
{
    return json_number_value(json_object_get(s->entry, "loglik"));
}

/* hmmlearn's fitted parameters as a model (owned by the caller, fin_hmm_free). */
static fin_hmm reference_model(const series *s, int K)
{
    fin_hmm m = {0};
    m.K = K;
    m.D = s->D;
    m.pi = numbers(s->entry, "startprob", K);
    m.A = numbers(s->entry, "transmat", (size_t)K * K);
    m.mu = numbers(s->entry, "means", (size_t)K * s->D);
    m.cov = numbers(s->entry, "covars", (size_t)K * s->D * s->D);
    m.loglik = ref_loglik(s);
    return m;
}

/* perm[k] = the reference state matching our state k: the permutation with the closest means.
 * Exhaustive over K! orders (K <= 4 here). */
static void match_states(const fin_hmm *ours, const fin_hmm *ref, int *perm)
{
    int K = ours->K, D = ours->D, p[4], best = -1;
    double best_d = HUGE_VAL;
    int total = 1;
    for (int k = 2; k <= K; k++)
        total *= k;
    for (int code = 0; code < total; code++) {
        int used[4] = {0}, c = code;
        for (int k = 0; k < K; k++) { /* decode a mixed-radix index into a permutation */
            int r = c % (K - k), j = 0;
            c /= K - k;
            for (;; j++)
                if (!used[j] && r-- == 0)
                    break;
            used[j] = 1;
            p[k] = j;
        }
        double d = 0.0;
        for (int k = 0; k < K; k++)
            for (int i = 0; i < D; i++) {
                double e = ours->mu[k * D + i] - ref->mu[p[k] * D + i];
                d += e * e;
            }
        if (d < best_d) {
            best_d = d;
            best = code;
            memcpy(perm, p, sizeof(int) * K);
        }
    }
    assert_true(best >= 0);
}

/* (a) our fit reaches hmmlearn's optimum: log-likelihood, parameters up to a permutation of states,
 * and the Viterbi path. */
static void test_fit_matches_hmmlearn(void **state)
{
    (void)state;
    series s = get_series("two_state");
    fin_hmm ref = reference_model(&s, 2), ours;
    fin_hmm_options o;
    fin_hmm_options_default(&o);
    char err[256] = "";
    assert_int_equal(fin_hmm_fit(s.x, s.T, s.D, &o, &ours, err, sizeof err), 0);
    double dl = ours.loglik - ref.loglik;
    assert_true(dl >= -1e-3 * fabs(ref.loglik));

    int perm[2], K = 2, D = s.D;
    match_states(&ours, &ref, perm);
    double emu = 0.0, eA = 0.0, ecov = 0.0;
    for (int k = 0; k < K; k++) {
        int r = perm[k];
        for (int i = 0; i < D; i++)
            emu = fmax(emu, fabs(ours.mu[k * D + i] - ref.mu[r * D + i]));
        for (int j = 0; j < K; j++)
            eA = fmax(eA, fabs(ours.A[k * K + j] - ref.A[r * K + perm[j]]));
        double scale = 0.0;
        for (int i = 0; i < D * D; i++)
            scale = fmax(scale, fabs(ref.cov[r * D * D + i]));
        for (int i = 0; i < D * D; i++)
            ecov = fmax(ecov, fabs(ours.cov[k * D * D + i] - ref.cov[r * D * D + i]) / scale);
    }
    int *path = malloc(sizeof(int) * s.T);
    assert_non_null(path);
    assert_int_equal(fin_hmm_viterbi(&ours, s.x, s.T, path), 0);
    const json_t *rp = json_object_get(s.entry, "viterbi");
    int same = 0;
    for (int t = 0; t < s.T; t++)
        same += perm[path[t]] == (int)json_integer_value(json_array_get(rp, t));
    double agree = (double)same / s.T;
    print_message("two_state: loglik ours %.6f hmmlearn %.6f (diff %.3g), max |mean err| %.3g, "
                  "max |A err| %.3g, max cov err %.3g (relative), Viterbi agreement %.4f, "
                  "%d EM iterations\n", ours.loglik, ref.loglik, dl, emu, eA, ecov, agree,
                  ours.iterations);
    assert_true(emu < TOL_MEAN);
    assert_true(eA < TOL_TRANS);
    assert_true(ecov < TOL_COV_REL);
    assert_true(agree >= 0.99);

    /* The 1-D 3-state series: the log-likelihood must not fall short of hmmlearn's either. */
    series s3 = get_series("three_state");
    fin_hmm ours3;
    o.K = 3;
    assert_int_equal(fin_hmm_fit(s3.x, s3.T, s3.D, &o, &ours3, err, sizeof err), 0);
    print_message("three_state: loglik ours %.6f hmmlearn %.6f\n", ours3.loglik, ref_loglik(&s3));
    assert_true(ours3.loglik >= ref_loglik(&s3) - 1e-3 * fabs(ref_loglik(&s3)));

    fin_hmm_free(&ours3);
    free(s3.x);
    free(path);
    fin_hmm_free(&ours);
    fin_hmm_free(&ref);
    free(s.x);
}

/* (b) the forward log-likelihood, posteriors and Viterbi path of hmmlearn's own parameters. */
static void test_reference_parameters(void **state)
{
    (void)state;
    series s = get_series("two_state");
    fin_hmm ref = reference_model(&s, 2);
    double *gamma = malloc(sizeof(double) * s.T * 2), ll = 0.0;
    int *path = malloc(sizeof(int) * s.T);
    assert_non_null(gamma);
    assert_non_null(path);
    assert_int_equal(fin_hmm_posteriors(&ref, s.x, s.T, gamma, &ll), 0);
    double rel = fabs(ll - ref.loglik) / fabs(ref.loglik);
    double *post = numbers(s.entry, "posteriors_first50", 100);
    double egam = 0.0;
    for (int i = 0; i < 100; i++)
        egam = fmax(egam, fabs(gamma[i] - post[i]));
    print_message("hmmlearn parameters: loglik relative error %.3g, max posterior error %.3g\n",
                  rel, egam);
    assert_true(rel < 1e-6);
    assert_true(egam < 1e-6);
    /* Without gamma only the log-likelihood is computed, identically. */
    double ll2 = 0.0;
    assert_int_equal(fin_hmm_posteriors(&ref, s.x, s.T, NULL, &ll2), 0);
    assert_true(ll2 == ll);

    assert_int_equal(fin_hmm_viterbi(&ref, s.x, s.T, path), 0);
    const json_t *rp = json_object_get(s.entry, "viterbi");
    for (int t = 0; t < s.T; t++)
        assert_int_equal(path[t], json_integer_value(json_array_get(rp, t)));

    free(post);
    free(path);
    free(gamma);
    fin_hmm_free(&ref);
    free(s.x);
}

/* (c) BIC: the number of states the series were drawn with has a lower BIC than its neighbours. */
static void test_bic(void **state)
{
    (void)state;
    fin_hmm_options o;
    fin_hmm_options_default(&o);
    char err[256] = "";
    const char *names[2] = {"two_state", "three_state"};
    int want[2] = {2, 3};
    for (int c = 0; c < 2; c++) {
        series s = get_series(names[c]);
        fin_hmm m;
        o.K = want[c];
        assert_int_equal(fin_hmm_fit(s.x, s.T, s.D, &o, &m, err, sizeof err), 0);
        for (int K = want[c] - 1; K <= want[c] + 1; K += 2) {
            fin_hmm n;
            o.K = K;
            assert_int_equal(fin_hmm_fit(s.x, s.T, s.D, &o, &n, err, sizeof err), 0);
            assert_true(fin_hmm_bic(&m, s.T) < fin_hmm_bic(&n, s.T));
            fin_hmm_free(&n);
        }
        fin_hmm_free(&m);
        free(s.x);
    }
    /* BIC by hand for K = 2, D = 2: p = 1 + 2 + 4 + 6 = 13. */
    fin_hmm h = {.K = 2, .D = 2, .loglik = -100.0};
    assert_true(fabs(fin_hmm_bic(&h, 50) - (200.0 + 13.0 * log(50.0))) < 1e-12);
}

/* (d) repeated prices: all-zero returns keep finite, positive definite parameters. */
static void test_constant_series(void **state)
{
    (void)state;
    enum { T = 300, D = 2 };
    double *x = calloc((size_t)T * D, sizeof(double));
    double *gamma = malloc(sizeof(double) * T * 3), ll = NAN;
    int *path = malloc(sizeof(int) * T);
    assert_non_null(x);
    assert_non_null(gamma);
    assert_non_null(path);
    fin_hmm_options o;
    fin_hmm_options_default(&o);
    o.K = 3;
    char err[256] = "";
    fin_hmm m;
    assert_int_equal(fin_hmm_fit(x, T, D, &o, &m, err, sizeof err), 0);
    assert_true(isfinite(m.loglik));
    for (int k = 0; k < m.K; k++) {
        assert_true(isfinite(m.pi[k]));
        for (int j = 0; j < m.K; j++)
            assert_true(isfinite(m.A[k * m.K + j]));
        double L[D * D];
        memcpy(L, m.cov + k * D * D, sizeof L);
        for (int i = 0; i < D * D; i++)
            assert_true(isfinite(L[i]));
        gsl_matrix_view v = gsl_matrix_view_array(L, D, D);
        gsl_error_handler_t *old = gsl_set_error_handler_off();
        assert_int_equal(gsl_linalg_cholesky_decomp1(&v.matrix), GSL_SUCCESS);
        gsl_set_error_handler(old);
    }
    assert_int_equal(fin_hmm_posteriors(&m, x, T, gamma, &ll), 0);
    assert_true(fabs(ll - m.loglik) < 1e-9 * fabs(ll) + 1e-9);
    for (int i = 0; i < T * m.K; i++)
        assert_true(isfinite(gamma[i]) && gamma[i] >= 0.0 && gamma[i] <= 1.0 + 1e-12);
    assert_int_equal(fin_hmm_viterbi(&m, x, T, path), 0);
    for (int t = 0; t < T; t++)
        assert_true(path[t] >= 0 && path[t] < m.K);
    fin_hmm_free(&m);
    free(path);
    free(gamma);
    free(x);
}

/* (e) too few rows and non-finite values are refused with a message. */
static void test_errors(void **state)
{
    (void)state;
    double x[40];
    for (int i = 0; i < 40; i++)
        x[i] = sin(i * 0.7);
    fin_hmm_options o;
    fin_hmm_options_default(&o);
    char err[256];
    fin_hmm m;

    err[0] = '\0';
    assert_int_equal(fin_hmm_fit(x, 7, 2, &o, &m, err, sizeof err), -1); /* needs 2 (2 + 2) = 8 */
    assert_non_null(strstr(err, "too few"));
    assert_null(m.pi);
    assert_int_equal(fin_hmm_fit(x, 8, 2, &o, &m, err, sizeof err), 0);
    fin_hmm_free(&m);

    x[13] = NAN;
    err[0] = '\0';
    assert_int_equal(fin_hmm_fit(x, 20, 2, &o, &m, err, sizeof err), -1);
    assert_non_null(strstr(err, "non-finite value at row 6, column 1"));
    x[13] = INFINITY;
    assert_int_equal(fin_hmm_fit(x, 20, 2, &o, &m, err, sizeof err), -1);
    x[13] = 0.5;

    o.K = 9;
    err[0] = '\0';
    assert_int_equal(fin_hmm_fit(x, 20, 1, &o, &m, err, sizeof err), -1);
    assert_true(strlen(err) > 0);
    fin_hmm_options_default(&o);
    assert_int_equal(fin_hmm_fit(NULL, 20, 1, &o, &m, NULL, 0), -1);

    /* Decoding refuses non-finite input too. */
    assert_int_equal(fin_hmm_fit(x, 20, 2, &o, &m, err, sizeof err), 0);
    int path[20];
    double ll;
    x[3] = NAN;
    assert_int_equal(fin_hmm_viterbi(&m, x, 20, path), -1);
    assert_int_equal(fin_hmm_posteriors(&m, x, 20, NULL, &ll), -1);
    fin_hmm_free(&m);
    fin_hmm_free(&m); /* freeing twice is harmless: the fields are NULL */
    fin_hmm_free(NULL);
}

/* (f) the same seed gives bit-identical parameters. */
static void test_determinism(void **state)
{
    (void)state;
    series s = get_series("two_state");
    fin_hmm_options o;
    fin_hmm_options_default(&o);
    o.K = 3;
    o.seed = 12345;
    char err[256];
    fin_hmm a, b;
    assert_int_equal(fin_hmm_fit(s.x, s.T, s.D, &o, &a, err, sizeof err), 0);
    assert_int_equal(fin_hmm_fit(s.x, s.T, s.D, &o, &b, err, sizeof err), 0);
    size_t K = 3, D = (size_t)s.D;
    assert_memory_equal(a.pi, b.pi, sizeof(double) * K);
    assert_memory_equal(a.A, b.A, sizeof(double) * K * K);
    assert_memory_equal(a.mu, b.mu, sizeof(double) * K * D);
    assert_memory_equal(a.cov, b.cov, sizeof(double) * K * D * D);
    assert_memory_equal(&a.loglik, &b.loglik, sizeof(double));
    assert_int_equal(a.iterations, b.iterations);
    fin_hmm_free(&a);
    fin_hmm_free(&b);
    free(s.x);
}

/* A 1-feature model with the given means, standard deviations, self-transitions and T. */
static fin_hmm toy(int K, const double *mu, const double *sd, const double *stay, int T)
{
    fin_hmm m = {.K = K, .D = 1, .T = T};
    m.pi = malloc(sizeof(double) * K);
    m.A = malloc(sizeof(double) * K * K);
    m.mu = malloc(sizeof(double) * K);
    m.cov = malloc(sizeof(double) * K);
    for (int k = 0; k < K; k++) {
        m.pi[k] = 1.0 / K;
        m.mu[k] = mu[k];
        m.cov[k] = sd[k] * sd[k];
        for (int j = 0; j < K; j++)
            m.A[k * K + j] = j == k ? stay[k] : (1 - stay[k]) / (K - 1);
    }
    return m;
}

static void expect_labels(int K, const double *mu, const double *sd, const double *stay, int T, const char *const *want)
{
    fin_hmm m = toy(K, mu, sd, stay, T);
    const char *label[8];
    fin_hmm_label(&m, label);
    for (int k = 0; k < K; k++)
        if (strcmp(label[k], want[k]) != 0)
            fail_msg("state %d (mean %g, sd %g): %s, expected %s", k, mu[k], sd[k], label[k], want[k]);
    fin_hmm_free(&m);
}

/* The labelling rule of hmm.h on the cases that matter. */
static void test_labels(void **state)
{
    (void)state;
    double stay[3] = {0.98, 0.95, 0.95};
    /* the textbook split: a calm advance and a volatile decline */
    expect_labels(2, (double[]){0.06, -0.10}, (double[]){0.8, 2.0}, stay, 2000, (const char *[]){"bull", "bear"});
    /* the same means, calm and volatile: the calm advance is bull, never bear; the volatile state
     * did not gain clearly more, so it is bear */
    expect_labels(2, (double[]){0.03, 0.04}, (double[]){0.7, 1.6}, stay, 2000, (const char *[]){"bull", "bear"});
    /* states given in the other order */
    expect_labels(2, (double[]){0.04, 0.03}, (double[]){1.6, 0.7}, stay, 2000, (const char *[]){"bear", "bull"});
    /* a volatile rally that gained clearly more (0.73 a day against -0.03, about 9 standard errors
     * on 250 days): neither state is bull or bear */
    expect_labels(2, (double[]){-0.03, 0.73}, (double[]){0.67, 1.73}, (double[]){0.99, 0.97}, 250,
                  (const char *[]){"sideways", "sideways"});
    /* the same means on 25 days are within two standard errors: the volatile state is bear */
    expect_labels(2, (double[]){-0.03, 0.2}, (double[]){0.67, 1.73}, (double[]){0.99, 0.97}, 25,
                  (const char *[]){"sideways", "bear"});
    /* a calm decline beside a volatile one: bear, and no bull */
    expect_labels(2, (double[]){-0.01, -0.05}, (double[]){0.6, 1.9}, stay, 2000, (const char *[]){"sideways", "bear"});
    /* three states: calm advance, middle, crash */
    expect_labels(3, (double[]){0.05, 0.02, -0.2}, (double[]){0.6, 1.1, 2.5}, stay, 3000,
                  (const char *[]){"bull", "sideways", "bear"});
    /* three states where the middle one has the best return per risk */
    expect_labels(3, (double[]){0.01, 0.09, -0.2}, (double[]){0.6, 1.1, 2.5}, stay, 3000,
                  (const char *[]){"sideways", "bull", "bear"});
    /* one state: no regime */
    expect_labels(1, (double[]){0.05}, (double[]){1.0}, (double[]){1.0}, 100, (const char *[]){"sideways"});
}

/* min_stay: a series with short volatile bursts fits a short-lived state without it and a state of
 * at least 1 / (1 - min_stay) days with it; the constrained fit's likelihood is lower (it is a
 * constrained maximum) but close. */
static void test_min_stay(void **state)
{
    (void)state;
    enum { T = 1500 };
    double *x = malloc(sizeof(double) * T);
    unsigned long long u = 12345;
    for (int t = 0; t < T; t++) {
        /* Box-Muller on a 64-bit LCG; a 3-day burst of volatility every 60 days */
        u = u * 6364136223846793005ull + 1442695040888963407ull;
        double a = ((u >> 11) + 0.5) / 9007199254740992.0;
        u = u * 6364136223846793005ull + 1442695040888963407ull;
        double b = ((u >> 11) + 0.5) / 9007199254740992.0;
        double z = sqrt(-2 * log(a)) * cos(2 * M_PI * b);
        x[t] = t % 60 < 3 ? 4.0 * z : 0.7 * z + 0.03;
    }
    fin_hmm_options o;
    fin_hmm_options_default(&o);
    o.restarts = 3;
    fin_hmm free_fit, held;
    char err[200];
    assert_int_equal(fin_hmm_fit(x, T, 1, &o, &free_fit, err, sizeof err), 0);
    o.min_stay = 0.95;
    assert_int_equal(fin_hmm_fit(x, T, 1, &o, &held, err, sizeof err), 0);
    double shortest_free = fmin(free_fit.A[0], free_fit.A[3]), shortest_held = fmin(held.A[0], held.A[3]);
    assert_true(shortest_free < 0.8);            /* the bursts: about 3 days */
    assert_true(shortest_held >= 0.95 - 1e-12);  /* held at the bound */
    for (int k = 0; k < 2; k++)
        assert_true(fabs(held.A[2 * k] + held.A[2 * k + 1] - 1.0) < 1e-12);
    assert_true(held.loglik < free_fit.loglik);
    assert_true(held.loglik > free_fit.loglik - 0.05 * fabs(free_fit.loglik));
    fin_hmm_free(&held);
    o.min_stay = 1.0;
    assert_int_equal(fin_hmm_fit(x, T, 1, &o, &held, err, sizeof err), -1);
    fin_hmm_free(&free_fit);
    free(x);
}

/* fin_hmm_match recovers a permutation of slightly moved states. */
static void test_match(void **state)
{
    (void)state;
    double stay[3] = {0.98, 0.95, 0.95};
    fin_hmm prev = toy(3, (double[]){0.05, 0.01, -0.2}, (double[]){0.6, 1.1, 2.5}, stay, 1000);
    fin_hmm next = toy(3, (double[]){-0.18, 0.055, 0.0}, (double[]){2.3, 0.65, 1.2}, stay, 1000);
    int perm[3];
    assert_int_equal(fin_hmm_match(&prev, &next, perm), 0);
    assert_int_equal(perm[0], 2);
    assert_int_equal(perm[1], 0);
    assert_int_equal(perm[2], 1);
    fin_hmm two = toy(2, (double[]){0.0, 0.0}, (double[]){1.0, 2.0}, stay, 1000);
    assert_int_equal(fin_hmm_match(&prev, &two, perm), -1);
    fin_hmm_free(&prev);
    fin_hmm_free(&next);
    fin_hmm_free(&two);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fit_matches_hmmlearn),
        cmocka_unit_test(test_reference_parameters),
        cmocka_unit_test(test_bic),
        cmocka_unit_test(test_constant_series),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_min_stay),
        cmocka_unit_test(test_match),
    };
    return cmocka_run_group_tests(tests, load_fixture, free_fixture);
}
