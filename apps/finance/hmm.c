/* hmm.c: the Gaussian hidden Markov model of moe-finance's regime detection: full-covariance
 * emissions evaluated through GSL's Cholesky factorisation, a scaled forward-backward pass,
 * Baum-Welch with seeded k-means++ restarts (and a bound on persistence), log-space Viterbi, BIC,
 * the labels of the states and their matching across fits. */
#include "hmm.h"

#include <float.h>
#include <pthread.h>
#include <stdint.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_rng.h>

#define HMM_MAX_K 8
#define HMM_LLOYD_STEPS 10
#define HMM_STICKY 0.9
#define HMM_MIN_WEIGHT 1e-10 /* a state with less total responsibility keeps its old emission */

void fin_hmm_options_default(fin_hmm_options *o)
{
    o->K = 2;
    o->restarts = 5;
    o->max_iter = 2000;
    o->tol = 1e-6;
    o->var_floor = 1e-6;
    o->seed = 1;
    o->min_stay = 0.0;
}

void fin_hmm_free(fin_hmm *m)
{
    if (!m)
        return;
    free(m->pi);
    free(m->A);
    free(m->mu);
    free(m->cov);
    m->pi = m->A = m->mu = m->cov = NULL;
}

static void set_err(char *err, size_t err_size, const char *fmt, ...)
{
    if (!err || err_size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
}

/* Allocates m's arrays for K states and D dimensions. Returns 0, or -1 (m's arrays freed). */
static int hmm_alloc(fin_hmm *m, int K, int D)
{
    memset(m, 0, sizeof *m);
    m->K = K;
    m->D = D;
    m->pi = malloc(sizeof(double) * (size_t)K);
    m->A = malloc(sizeof(double) * (size_t)K * (size_t)K);
    m->mu = malloc(sizeof(double) * (size_t)K * (size_t)D);
    m->cov = malloc(sizeof(double) * (size_t)K * (size_t)D * (size_t)D);
    if (!m->pi || !m->A || !m->mu || !m->cov) {
        fin_hmm_free(m);
        return -1;
    }
    return 0;
}

static void hmm_copy(fin_hmm *dst, const fin_hmm *src)
{
    size_t K = (size_t)src->K, D = (size_t)src->D;
    memcpy(dst->pi, src->pi, sizeof(double) * K);
    memcpy(dst->A, src->A, sizeof(double) * K * K);
    memcpy(dst->mu, src->mu, sizeof(double) * K * D);
    memcpy(dst->cov, src->cov, sizeof(double) * K * D * D);
    dst->loglik = src->loglik;
    dst->iterations = src->iterations;
    dst->T = src->T;
}

static int all_finite(const double *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

/* Scratch space of one forward-backward pass over T rows. */
typedef struct hmm_work {
    double *logb;  /* (T, K) log emission densities */
    double *b;     /* (T, K) exp(logb - bmax), each row's largest entry 1 */
    double *bmax;  /* (T) row maxima of logb */
    double *alpha; /* (T, K) forward probabilities, normalised per row */
    double *beta;  /* (T, K) backward probabilities, scaled by the same factors */
    double *c;     /* (T) scale factors: c[t] = P(x_t | x_0..t-1) / exp(bmax[t]) */
    double *chol;  /* (K, D, D) Cholesky factors of the covariances */
    double *z;     /* (D) */
} hmm_work;

static void work_free(hmm_work *w)
{
    free(w->logb);
    memset(w, 0, sizeof *w);
}

static int work_alloc(hmm_work *w, int T, int K, int D)
{
    size_t TK = (size_t)T * (size_t)K;
    size_t n = 4 * TK + 2 * (size_t)T + (size_t)K * (size_t)D * (size_t)D + (size_t)D;
    memset(w, 0, sizeof *w);
    double *p = malloc(sizeof(double) * n);
    if (!p)
        return -1;
    w->logb = p;
    w->b = p + TK;
    w->alpha = p + 2 * TK;
    w->beta = p + 3 * TK;
    w->bmax = p + 4 * TK;
    w->c = w->bmax + T;
    w->chol = w->c + T;
    w->z = w->chol + (size_t)K * (size_t)D * (size_t)D;
    return 0;
}

/* GSL reports a failure through its return code only once its abort handler is off. That handler is
 * one pointer for the whole process, so it is switched off once (every GSL call of moe-finance checks
 * its status) rather than around each call, which fits running in parallel would race on. */
static pthread_once_t gsl_quiet = PTHREAD_ONCE_INIT;
static void gsl_quiet_once(void) { gsl_set_error_handler_off(); }

/* Lower Cholesky factor of a (D, D) in l; -1 when a is not positive definite. */
static int cholesky(double *l, const double *a, int D)
{
    pthread_once(&gsl_quiet, gsl_quiet_once);
    memcpy(l, a, sizeof(double) * (size_t)D * (size_t)D);
    gsl_matrix_view v = gsl_matrix_view_array(l, (size_t)D, (size_t)D);
    return gsl_linalg_cholesky_decomp1(&v.matrix) == GSL_SUCCESS ? 0 : -1;
}

/* logb (T, K) = log N(x_t; mu_k, cov_k). Returns -1 when a covariance is not positive definite. */
static int emission_logpdf(const fin_hmm *m, const double *x, int T, hmm_work *w)
{
    int K = m->K, D = m->D;
    const double log2pi = 1.8378770664093454836; /* log(2 pi) */
    for (int k = 0; k < K; k++) {
        double *L = w->chol + (size_t)k * D * D;
        if (cholesky(L, m->cov + (size_t)k * D * D, D) != 0)
            return -1;
        double logdet = 0.0;
        for (int i = 0; i < D; i++)
            logdet += 2.0 * log(L[i * D + i]);
        const double *mu = m->mu + (size_t)k * D;
        for (int t = 0; t < T; t++) {
            const double *xt = x + (size_t)t * D;
            double q = 0.0;
            for (int i = 0; i < D; i++) { /* forward substitution L z = x - mu */
                double s = xt[i] - mu[i];
                for (int j = 0; j < i; j++)
                    s -= L[i * D + j] * w->z[j];
                w->z[i] = s / L[i * D + i];
                q += w->z[i] * w->z[i];
            }
            w->logb[(size_t)t * K + k] = -0.5 * (D * log2pi + logdet + q);
        }
    }
    return 0;
}

/* Scaled forward pass over w->logb (and the backward pass when with_beta). Returns log P(x), or
 * -HUGE_VAL when the data are impossible under the model (a zero scale factor). */
static double forward_backward(const fin_hmm *m, int T, hmm_work *w, int with_beta)
{
    int K = m->K;
    for (int t = 0; t < T; t++) {
        const double *lb = w->logb + (size_t)t * K;
        double mx = lb[0];
        for (int k = 1; k < K; k++)
            if (lb[k] > mx)
                mx = lb[k];
        w->bmax[t] = mx;
        for (int k = 0; k < K; k++)
            w->b[(size_t)t * K + k] = exp(lb[k] - mx);
    }
    double loglik = 0.0;
    for (int t = 0; t < T; t++) {
        double *a = w->alpha + (size_t)t * K;
        const double *bt = w->b + (size_t)t * K;
        double s = 0.0;
        for (int j = 0; j < K; j++) {
            double p;
            if (t == 0) {
                p = m->pi[j];
            } else {
                const double *ap = a - K;
                p = 0.0;
                for (int i = 0; i < K; i++)
                    p += ap[i] * m->A[i * K + j];
            }
            a[j] = p * bt[j];
            s += a[j];
        }
        if (!(s > 0.0) || !isfinite(s))
            return -HUGE_VAL;
        for (int j = 0; j < K; j++)
            a[j] /= s;
        w->c[t] = s;
        loglik += log(s) + w->bmax[t];
    }
    if (with_beta) {
        double *bl = w->beta + (size_t)(T - 1) * K;
        for (int i = 0; i < K; i++)
            bl[i] = 1.0;
        for (int t = T - 2; t >= 0; t--) {
            double *be = w->beta + (size_t)t * K;
            const double *bn = w->beta + (size_t)(t + 1) * K;
            const double *b1 = w->b + (size_t)(t + 1) * K;
            for (int i = 0; i < K; i++) {
                double s = 0.0;
                for (int j = 0; j < K; j++)
                    s += m->A[i * K + j] * b1[j] * bn[j];
                be[i] = s / w->c[t + 1];
            }
        }
    }
    return loglik;
}

/* gamma (T, K) from the normalised alpha and scaled beta of the last forward_backward. */
static void smoothed(int T, int K, const hmm_work *w, double *gamma)
{
    for (int t = 0; t < T; t++) {
        const double *a = w->alpha + (size_t)t * K, *be = w->beta + (size_t)t * K;
        double *g = gamma + (size_t)t * K, s = 0.0;
        for (int k = 0; k < K; k++) {
            g[k] = a[k] * be[k];
            s += g[k];
        }
        for (int k = 0; k < K; k++)
            g[k] /= s;
    }
}

/* Feature means and population covariance (D, D) of x, and the diagonal floor (D) of each state's
 * covariance: var_floor times the feature's variance, or var_floor itself for a constant feature. */
static void data_moments(const double *x, int T, int D, double var_floor, double *mean,
                         double *cov, double *floor)
{
    for (int i = 0; i < D; i++) {
        double s = 0.0;
        for (int t = 0; t < T; t++)
            s += x[(size_t)t * D + i];
        mean[i] = s / T;
    }
    for (int i = 0; i < D; i++)
        for (int j = 0; j <= i; j++) {
            double s = 0.0;
            for (int t = 0; t < T; t++)
                s += (x[(size_t)t * D + i] - mean[i]) * (x[(size_t)t * D + j] - mean[j]);
            cov[i * D + j] = cov[j * D + i] = s / T;
        }
    for (int i = 0; i < D; i++) {
        double f = var_floor * cov[i * D + i];
        floor[i] = (f > DBL_MIN && isfinite(f)) ? f : var_floor;
    }
}

/* Squared distance of two D-vectors with each feature divided by its variance (1 / iv[i]). */
static double scaled_dist2(const double *a, const double *b, const double *iv, int D)
{
    double s = 0.0;
    for (int i = 0; i < D; i++) {
        double d = a[i] - b[i];
        s += d * d * iv[i];
    }
    return s;
}

/* One restart's starting point: k-means++ seeding of the means on standardised features, refined by
 * HMM_LLOYD_STEPS Lloyd steps; every covariance the data covariance plus the floor; uniform pi;
 * sticky A. d2 (T) and assign (T) are scratch. */
static void init_params(fin_hmm *m, const double *x, int T, const double *dcov, const double *floor,
                        const double *iv, gsl_rng *r, double *d2, int *assign)
{
    int K = m->K, D = m->D;
    memcpy(m->mu, x + (size_t)gsl_rng_uniform_int(r, (unsigned long)T) * D, sizeof(double) * D);
    for (int t = 0; t < T; t++)
        d2[t] = scaled_dist2(x + (size_t)t * D, m->mu, iv, D);
    for (int k = 1; k < K; k++) {
        double total = 0.0;
        for (int t = 0; t < T; t++)
            total += d2[t];
        int pick = T - 1;
        if (total > 0.0) {
            double u = gsl_rng_uniform(r) * total, acc = 0.0;
            for (int t = 0; t < T; t++) {
                acc += d2[t];
                if (u < acc) {
                    pick = t;
                    break;
                }
            }
        } else {
            pick = (int)gsl_rng_uniform_int(r, (unsigned long)T);
        }
        double *ck = m->mu + (size_t)k * D;
        memcpy(ck, x + (size_t)pick * D, sizeof(double) * D);
        for (int t = 0; t < T; t++) {
            double d = scaled_dist2(x + (size_t)t * D, ck, iv, D);
            if (d < d2[t])
                d2[t] = d;
        }
    }
    for (int step = 0; step < HMM_LLOYD_STEPS; step++) {
        for (int t = 0; t < T; t++) {
            int best = 0;
            double bd = HUGE_VAL;
            for (int k = 0; k < K; k++) {
                double d = scaled_dist2(x + (size_t)t * D, m->mu + (size_t)k * D, iv, D);
                if (d < bd) {
                    bd = d;
                    best = k;
                }
            }
            assign[t] = best;
        }
        for (int k = 0; k < K; k++) {
            double *ck = m->mu + (size_t)k * D;
            int n = 0;
            for (int t = 0; t < T; t++)
                n += assign[t] == k;
            if (n == 0)
                continue; /* an empty cluster keeps its seed */
            for (int i = 0; i < D; i++) {
                double s = 0.0;
                for (int t = 0; t < T; t++)
                    if (assign[t] == k)
                        s += x[(size_t)t * D + i];
                ck[i] = s / n;
            }
        }
    }
    for (int k = 0; k < K; k++) {
        double *ck = m->cov + (size_t)k * D * D;
        memcpy(ck, dcov, sizeof(double) * D * D);
        for (int i = 0; i < D; i++)
            ck[i * D + i] += floor[i];
        m->pi[k] = 1.0 / K;
        for (int j = 0; j < K; j++)
            m->A[k * K + j] = K == 1 ? 1.0 : (j == k ? HMM_STICKY : (1.0 - HMM_STICKY) / (K - 1));
    }
}

/* M-step from the last forward_backward: pi, A (from the expected transitions), means and
 * covariances (plus the floor). gamma (T, K) and xi (K, K) are scratch. */
static void m_step(fin_hmm *m, const double *x, int T, const hmm_work *w, const double *floor, double min_stay,
                   double *gamma, double *xi)
{
    int K = m->K, D = m->D;
    smoothed(T, K, w, gamma);
    memset(xi, 0, sizeof(double) * K * K);
    for (int t = 0; t + 1 < T; t++) {
        const double *a = w->alpha + (size_t)t * K;
        const double *b1 = w->b + (size_t)(t + 1) * K, *bn = w->beta + (size_t)(t + 1) * K;
        double inv_c = 1.0 / w->c[t + 1];
        for (int i = 0; i < K; i++)
            for (int j = 0; j < K; j++)
                xi[i * K + j] += a[i] * m->A[i * K + j] * b1[j] * bn[j] * inv_c;
    }
    for (int i = 0; i < K; i++) {
        double s = 0.0;
        for (int j = 0; j < K; j++)
            s += xi[i * K + j];
        if (s > 0.0)
            for (int j = 0; j < K; j++)
                m->A[i * K + j] = xi[i * K + j] / s;
        /* the maximiser under A_ii >= min_stay: A_ii at the bound, the rest in proportion */
        double off = s - xi[i * K + i];
        if (K > 1 && s > 0.0 && m->A[i * K + i] < min_stay)
            for (int j = 0; j < K; j++)
                m->A[i * K + j] = j == i ? min_stay : off > 0.0 ? (1.0 - min_stay) * xi[i * K + j] / off : (1.0 - min_stay) / (K - 1);
        m->pi[i] = gamma[i];
    }
    for (int k = 0; k < K; k++) {
        double n = 0.0;
        for (int t = 0; t < T; t++)
            n += gamma[(size_t)t * K + k];
        if (n < HMM_MIN_WEIGHT)
            continue;
        double *mu = m->mu + (size_t)k * D, *cv = m->cov + (size_t)k * D * D;
        for (int i = 0; i < D; i++) {
            double s = 0.0;
            for (int t = 0; t < T; t++)
                s += gamma[(size_t)t * K + k] * x[(size_t)t * D + i];
            mu[i] = s / n;
        }
        for (int i = 0; i < D; i++)
            for (int j = 0; j <= i; j++) {
                double s = 0.0;
                for (int t = 0; t < T; t++)
                    s += gamma[(size_t)t * K + k] * (x[(size_t)t * D + i] - mu[i]) *
                         (x[(size_t)t * D + j] - mu[j]);
                cv[i * D + j] = cv[j * D + i] = s / n;
            }
        for (int i = 0; i < D; i++)
            cv[i * D + i] += floor[i];
    }
}

/* Baum-Welch from m's current parameters until the gain drops below tol or max_iter E-steps.
 * On return m's parameters are those whose log-likelihood is m->loglik. Returns -1 when an E-step
 * fails (numerically impossible data), leaving m->loglik = -HUGE_VAL. */
static int baum_welch(fin_hmm *m, const double *x, int T, const fin_hmm_options *o,
                      const double *floor, hmm_work *w, double *gamma, double *xi)
{
    double prev = -HUGE_VAL;
    m->loglik = -HUGE_VAL;
    for (int it = 1; it <= o->max_iter; it++) {
        if (emission_logpdf(m, x, T, w) != 0)
            return -1;
        double ll = forward_backward(m, T, w, 1);
        if (!isfinite(ll))
            return -1;
        m->loglik = ll;
        m->iterations = it;
        if (ll - prev < o->tol || it == o->max_iter)
            break;
        m_step(m, x, T, w, floor, o->min_stay, gamma, xi);
        prev = ll;
    }
    return 0;
}

int fin_hmm_fit(const double *x, int T, int D, const fin_hmm_options *o, fin_hmm *out,
                char *err, size_t err_size)
{
    if (!out) {
        set_err(err, err_size, "hmm: no output model given");
        return -1;
    }
    memset(out, 0, sizeof *out);
    if (!x || !o || D < 1 || T < 1) {
        set_err(err, err_size, "hmm: no data (T = %d, D = %d)", T, D);
        return -1;
    }
    if (o->K < 1 || o->K > HMM_MAX_K || o->restarts < 1 || o->max_iter < 1 ||
        !(o->tol >= 0.0) || !isfinite(o->tol) || !(o->var_floor > 0.0) || !isfinite(o->var_floor) ||
        !(o->min_stay >= 0.0 && o->min_stay < 1.0)) {
        set_err(err, err_size,
                "hmm: bad options (K = %d must be 1..%d, restarts and max_iter >= 1, tol >= 0, "
                "var_floor > 0, 0 <= min_stay < 1)", o->K, HMM_MAX_K);
        return -1;
    }
    int K = o->K;
    if ((long long)T < (long long)K * (D + 2)) {
        set_err(err, err_size, "hmm: %d rows are too few for %d states of %d features (need %d)",
                T, K, D, K * (D + 2));
        return -1;
    }
    for (size_t i = 0; i < (size_t)T * D; i++)
        if (!isfinite(x[i])) {
            set_err(err, err_size, "hmm: non-finite value at row %zu, column %zu", i / D, i % D);
            return -1;
        }

    int rc = -1;
    fin_hmm cur = {0};
    hmm_work w = {0};
    gsl_rng *r = NULL;
    size_t TK = (size_t)T * K;
    double *scratch = malloc(sizeof(double) * (TK + (size_t)K * K + (size_t)D * D + 3 * (size_t)D +
                                               (size_t)T));
    int *assign = malloc(sizeof(int) * (size_t)T);
    if (!scratch || !assign || hmm_alloc(out, K, D) != 0 || hmm_alloc(&cur, K, D) != 0 ||
        work_alloc(&w, T, K, D) != 0 || !(r = gsl_rng_alloc(gsl_rng_mt19937))) {
        set_err(err, err_size, "hmm: out of memory");
        goto done;
    }
    double *gamma = scratch, *xi = gamma + TK, *dcov = xi + (size_t)K * K;
    double *mean = dcov + (size_t)D * D, *floor = mean + D, *iv = floor + D, *d2 = iv + D;
    data_moments(x, T, D, o->var_floor, mean, dcov, floor);
    for (int i = 0; i < D; i++)
        iv[i] = dcov[i * D + i] > 0.0 ? 1.0 / dcov[i * D + i] : 1.0;
    gsl_rng_set(r, (unsigned long)o->seed);

    int found = 0;
    for (int rs = 0; rs < o->restarts; rs++) {
        init_params(&cur, x, T, dcov, floor, iv, r, d2, assign);
        if (baum_welch(&cur, x, T, o, floor, &w, gamma, xi) != 0)
            continue;
        if (!found || cur.loglik > out->loglik) {
            hmm_copy(out, &cur);
            found = 1;
        }
    }
    if (!found) {
        set_err(err, err_size, "hmm: every restart failed numerically (K = %d)", K);
        goto done;
    }
    out->T = T;
    rc = 0;
done:
    if (rc != 0) {
        fin_hmm_free(out);
        memset(out, 0, sizeof *out);
    }
    fin_hmm_free(&cur);
    work_free(&w);
    gsl_rng_free(r);
    free(scratch);
    free(assign);
    return rc;
}

static int model_ok(const fin_hmm *m, const double *x, int T)
{
    return m && x && T >= 1 && m->K >= 1 && m->D >= 1 && m->pi && m->A && m->mu && m->cov &&
           all_finite(x, (size_t)T * (size_t)m->D);
}

int fin_hmm_posteriors(const fin_hmm *m, const double *x, int T, double *gamma, double *loglik)
{
    if (!model_ok(m, x, T))
        return -1;
    hmm_work w;
    if (work_alloc(&w, T, m->K, m->D) != 0)
        return -1;
    int rc = -1;
    if (emission_logpdf(m, x, T, &w) == 0) {
        double ll = forward_backward(m, T, &w, gamma != NULL);
        if (isfinite(ll)) {
            if (gamma)
                smoothed(T, m->K, &w, gamma);
            if (loglik)
                *loglik = ll;
            rc = 0;
        }
    }
    work_free(&w);
    return rc;
}

int fin_hmm_filtered(const fin_hmm *m, const double *x, int T, double *alpha)
{
    if (!model_ok(m, x, T) || !alpha)
        return -1;
    hmm_work w;
    if (work_alloc(&w, T, m->K, m->D) != 0)
        return -1;
    int rc = -1;
    if (emission_logpdf(m, x, T, &w) == 0 && isfinite(forward_backward(m, T, &w, 0))) {
        memcpy(alpha, w.alpha, sizeof(double) * (size_t)T * m->K);
        rc = 0;
    }
    work_free(&w);
    return rc;
}

int fin_hmm_viterbi(const fin_hmm *m, const double *x, int T, int *states)
{
    if (!model_ok(m, x, T) || !states)
        return -1;
    int K = m->K;
    hmm_work w;
    if (work_alloc(&w, T, K, m->D) != 0)
        return -1;
    int *psi = malloc(sizeof(int) * (size_t)T * K);
    double *logA = malloc(sizeof(double) * (size_t)K * K);
    double *delta = w.alpha; /* (T, K) log-probabilities of the best paths */
    int rc = -1;
    if (!psi || !logA || emission_logpdf(m, x, T, &w) != 0)
        goto done;
    for (int i = 0; i < K * K; i++)
        logA[i] = log(m->A[i]);
    for (int k = 0; k < K; k++)
        delta[k] = log(m->pi[k]) + w.logb[k];
    for (int t = 1; t < T; t++) {
        const double *dp = delta + (size_t)(t - 1) * K;
        for (int j = 0; j < K; j++) {
            int arg = 0;
            double best = dp[0] + logA[j];
            for (int i = 1; i < K; i++) {
                double v = dp[i] + logA[i * K + j];
                if (v > best) {
                    best = v;
                    arg = i;
                }
            }
            delta[(size_t)t * K + j] = best + w.logb[(size_t)t * K + j];
            psi[(size_t)t * K + j] = arg;
        }
    }
    const double *dl = delta + (size_t)(T - 1) * K;
    int s = 0;
    for (int k = 1; k < K; k++)
        if (dl[k] > dl[s])
            s = k;
    states[T - 1] = s;
    for (int t = T - 1; t > 0; t--) {
        s = psi[(size_t)t * K + s];
        states[t - 1] = s;
    }
    rc = 0;
done:
    free(psi);
    free(logA);
    work_free(&w);
    return rc;
}

double fin_hmm_bic(const fin_hmm *m, int T)
{
    if (!m || T < 1)
        return NAN;
    double K = m->K, D = m->D;
    double p = (K - 1) + K * (K - 1) + K * D + K * D * (D + 1) / 2;
    return -2.0 * m->loglik + p * log((double)T);
}

/* Drift and volatility of state k's first feature. */
static double state_mean(const fin_hmm *m, int k) { return m->mu[(int64_t)k * m->D]; }
static double state_sd(const fin_hmm *m, int k) { return sqrt(m->cov[(int64_t)k * m->D * m->D]); }

/* pi (K) = the stationary distribution of m's transitions (power iteration from uniform). */
static void stationary(const fin_hmm *m, double *pi) {
    int K = m->K;
    double next[HMM_MAX_K];
    for (int k = 0; k < K; k++) pi[k] = 1.0 / K;
    for (int it = 0; it < 10000; it++) {
        double change = 0.0;
        for (int j = 0; j < K; j++) {
            next[j] = 0.0;
            for (int i = 0; i < K; i++) next[j] += pi[i] * m->A[i * K + j];
        }
        for (int k = 0; k < K; k++) {
            change += fabs(next[k] - pi[k]);
            pi[k] = next[k];
        }
        if (change < 1e-12) break;
    }
}

void fin_hmm_label(const fin_hmm *m, const char **label) {
    int K = m->K, wildest = 0;
    double pi[HMM_MAX_K];
    for (int k = 0; k < K; k++) {
        label[k] = "sideways";
        if (state_sd(m, k) > state_sd(m, wildest)) wildest = k;
    }
    if (K < 2) return;
    stationary(m, pi);
    /* the most volatile state gained clearly more than another: not bear */
    int clearly_higher = 0;
    for (int k = 0; k < K; k++) {
        if (k == wildest) continue;
        double nw = pi[wildest] * m->T, nk = pi[k] * m->T;
        double se = nw > 0 && nk > 0 ? sqrt(state_sd(m, wildest) * state_sd(m, wildest) / nw + state_sd(m, k) * state_sd(m, k) / nk) : 0.0;
        if (state_mean(m, wildest) - state_mean(m, k) > 2.0 * se) clearly_higher = 1;
    }
    if (!clearly_higher) label[wildest] = "bear";
    int bull = -1;
    for (int k = 0; k < K; k++) {
        if (k == wildest || !(state_mean(m, k) > 0)) continue;
        if (bull < 0 || state_mean(m, k) / state_sd(m, k) > state_mean(m, bull) / state_sd(m, bull)) bull = k;
    }
    if (bull >= 0) label[bull] = "bull";
}

/* Cost of continuing state a of p with state b of q. */
static double match_cost(const fin_hmm *p, int a, const fin_hmm *q, int b, const double *pooled_sd) {
    int D = p->D;
    double c = 0.0;
    for (int d = 0; d < D; d++) {
        double z = (p->mu[(int64_t)a * D + d] - q->mu[(int64_t)b * D + d]) / pooled_sd[d];
        double v = 0.5 * log(p->cov[(int64_t)a * D * D + d * D + d] / q->cov[(int64_t)b * D * D + d * D + d]);
        c += z * z + v * v;
    }
    return c;
}

/* Depth-first search over the permutations of cost (K, K), cost[b * K + a] for next's b and prev's a. */
static void match_search(const double *cost, int K, int b, int used, double sum, int *cur, double *best, int *perm) {
    if (sum >= *best) return;
    if (b == K) {
        *best = sum;
        memcpy(perm, cur, sizeof(int) * (size_t)K);
        return;
    }
    for (int a = 0; a < K; a++)
        if (!(used >> a & 1)) {
            cur[b] = a;
            match_search(cost, K, b + 1, used | 1 << a, sum + cost[b * K + a], cur, best, perm);
        }
}

int fin_hmm_match(const fin_hmm *prev, const fin_hmm *next, int *perm) {
    int K = prev->K, D = prev->D;
    if (K != next->K || D != next->D || K < 1 || K > HMM_MAX_K) return -1;
    double pooled_sd[64], cost[HMM_MAX_K * HMM_MAX_K];
    if (D > 64) return -1;
    for (int d = 0; d < D; d++) {
        double v = 0.0;
        for (int k = 0; k < K; k++) v += prev->cov[(int64_t)k * D * D + d * D + d] / K;
        pooled_sd[d] = v > 0 ? sqrt(v) : 1.0;
    }
    for (int b = 0; b < K; b++)
        for (int a = 0; a < K; a++) cost[b * K + a] = match_cost(prev, a, next, b, pooled_sd);
    int cur[HMM_MAX_K];
    double best = HUGE_VAL;
    match_search(cost, K, 0, 0, 0.0, cur, &best, perm);
    return 0;
}
