/* gp.c: the Gaussian process of gp.h. */
#include "gp.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <nlopt.h>
#include <stdlib.h>
#include <string.h>

/* Priors, on the log of the length scales and the signal variance (unit-cube inputs, standardised
 * outputs), weak enough that the fit is close to maximum likelihood and only keeps it away from
 * degenerate corners: length scales log-normal around 1 (scale 2: 0.02 to 50 within two standard
 * deviations), the signal variance around 1 (scale 3). The noise variance has none: an informative
 * one (around e^-4, scale 1.5) blurred objectives whose noise is tiny beside their range (the
 * Rosenbrock valley) and gained nothing elsewhere. Bounds keep the factorisation sane. */
#define PRIOR_LOG_LENGTH_MEAN 0.0
#define PRIOR_LOG_LENGTH_SD 2.0
#define PRIOR_LOG_SIGNAL_SD 3.0
#define START_LOG_NOISE (-4.0) /* where the fit starts, and the spread of random starts */
#define START_LOG_NOISE_SD 1.5
#define LOG_LENGTH_MIN (-4.6) /* 0.01 */
#define LOG_LENGTH_MAX 4.6    /* 100 */
#define LOG_SIGNAL_MIN (-6.9)
#define LOG_SIGNAL_MAX 6.9
#define LOG_NOISE_MIN (-13.8) /* 1e-6 */
#define LOG_NOISE_MAX 0.7     /* 2 */
#define JITTER 1e-9
#define FIT_MAX_EVAL 250
#define FIT_MAX_ROWS 300 /* the hyperparameters of a longer history are fitted on its last 300 rows */

struct fab_gp {
    int n, cap, d;
    double *X, *y, *w;  /* observations (cap rows), y standardised */
    double y_mean, y_sd;
    fab_gp_hyper h;
    double log_post;
    double *L, *alpha;  /* Cholesky factor of K (lower, row-major n x n) and K^-1 y */
    double *work;       /* n x n scratch */
};

static const double SQRT5 = 2.23606797749978969640;

/* Scaled distance between rows a and b: r^2 = sum ((a - b) / l)^2. */
static double scaled_dist2(const double *a, const double *b, const double *inv_l2, int d) {
    double s = 0;
    for (int k = 0; k < d; k++) s += (a[k] - b[k]) * (a[k] - b[k]) * inv_l2[k];
    return s;
}

static double matern52(double r, double signal) { return signal * (1 + SQRT5 * r + 5.0 / 3.0 * r * r) * exp(-SQRT5 * r); }

/* Kernel matrix into K (n x n, full) at hyperparameters h. */
static void kernel_matrix(const fab_gp *g, const fab_gp_hyper *h, double *K) {
    int n = g->n, d = g->d;
    double inv_l2[FAB_GP_MAX_DIM];
    for (int k = 0; k < d; k++) inv_l2[k] = 1 / (h->length[k] * h->length[k]);
    for (int i = 0; i < n; i++) {
        K[(size_t)i * n + i] = h->signal + h->noise * g->w[i] + JITTER;
        for (int j = 0; j < i; j++) {
            double v = matern52(sqrt(scaled_dist2(g->X + (size_t)i * d, g->X + (size_t)j * d, inv_l2, d)), h->signal);
            K[(size_t)i * n + j] = K[(size_t)j * n + i] = v;
        }
    }
}

/* Cholesky factor of K into L and alpha = K^-1 y. 0, or -1 when K is not positive definite. */
static int factor(fab_gp *g, const fab_gp_hyper *h, double *L, double *alpha) {
    int n = g->n;
    kernel_matrix(g, h, L);
    if (LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', n, L, n) != 0) return -1;
    memcpy(alpha, g->y, sizeof(double) * (size_t)n);
    return LAPACKE_dpotrs(LAPACK_ROW_MAJOR, 'L', n, 1, L, n, alpha, 1) == 0 ? 0 : -1;
}

static void theta_to_hyper(const double *theta, int d, fab_gp_hyper *h) {
    for (int k = 0; k < d; k++) h->length[k] = exp(theta[k]);
    h->signal = exp(theta[d]);
    h->noise = exp(theta[d + 1]);
}

static double log_prior(const double *theta, int d, double *grad) {
    double lp = 0, mu = PRIOR_LOG_LENGTH_MEAN, s = PRIOR_LOG_LENGTH_SD;
    for (int k = 0; k < d; k++) {
        lp -= 0.5 * (theta[k] - mu) * (theta[k] - mu) / (s * s);
        if (grad) grad[k] = -(theta[k] - mu) / (s * s);
    }
    lp -= 0.5 * theta[d] * theta[d] / (PRIOR_LOG_SIGNAL_SD * PRIOR_LOG_SIGNAL_SD);
    if (grad) {
        grad[d] = -theta[d] / (PRIOR_LOG_SIGNAL_SD * PRIOR_LOG_SIGNAL_SD);
        grad[d + 1] = 0;
    }
    return lp;
}

double fab_gp_log_posterior(const fab_gp *gc, const double *theta, double *grad) {
    fab_gp *g = (fab_gp *)gc; /* scratch only */
    int n = g->n, d = g->d;
    fab_gp_hyper h;
    theta_to_hyper(theta, d, &h);
    double *L = g->work, *alpha = malloc(sizeof(double) * (size_t)n);
    if (!alpha) return -HUGE_VAL;
    if (factor(g, &h, L, alpha) != 0) {
        free(alpha);
        if (grad) memset(grad, 0, sizeof(double) * (size_t)(d + 2));
        return -1e300;
    }
    double lml = -0.5 * n * log(2 * M_PI);
    for (int i = 0; i < n; i++) lml -= 0.5 * g->y[i] * alpha[i] + log(L[(size_t)i * n + i]);
    double lp = log_prior(theta, d, grad);
    if (grad) {
        /* d lml / d theta_j = 1/2 tr((alpha alpha^T - K^-1) dK/dtheta_j) */
        LAPACKE_dpotri(LAPACK_ROW_MAJOR, 'L', n, L, n); /* lower triangle of K^-1 */
        double inv_l2[FAB_GP_MAX_DIM];
        for (int k = 0; k < d; k++) inv_l2[k] = 1 / (h.length[k] * h.length[k]);
        for (int i = 0; i < n; i++) {
            const double *xi = g->X + (size_t)i * d;
            double wii = alpha[i] * alpha[i] - L[(size_t)i * n + i];
            grad[d] += 0.5 * wii * h.signal;
            grad[d + 1] += 0.5 * wii * h.noise * g->w[i];
            for (int j = 0; j < i; j++) {
                const double *xj = g->X + (size_t)j * d;
                double wij = alpha[i] * alpha[j] - L[(size_t)i * n + j]; /* counted twice: i<j and j<i */
                double r = sqrt(scaled_dist2(xi, xj, inv_l2, d)), e = exp(-SQRT5 * r);
                grad[d] += wij * h.signal * (1 + SQRT5 * r + 5.0 / 3.0 * r * r) * e;
                double c = wij * h.signal * (5.0 / 3.0) * (1 + SQRT5 * r) * e;
                for (int k = 0; k < d; k++) grad[k] += c * (xi[k] - xj[k]) * (xi[k] - xj[k]) * inv_l2[k];
            }
        }
    }
    free(alpha);
    return lml + lp;
}

static double nlopt_objective(unsigned n, const double *theta, double *grad, void *data) {
    (void)n;
    return fab_gp_log_posterior(data, theta, grad);
}

static mc_status refactor(fab_gp *g) {
    for (double jitter = 0; jitter < 1e-2; jitter = jitter > 0 ? jitter * 10 : 1e-8) {
        fab_gp_hyper h = g->h;
        h.noise += jitter;
        if (factor(g, &h, g->L, g->alpha) == 0) {
            g->h = h;
            return MC_OK;
        }
    }
    return MC_ERR_INTERNAL;
}

static mc_status reserve(fab_gp *g, int rows) {
    if (rows <= g->cap) return MC_OK;
    int cap = rows > 2 * g->cap ? rows : 2 * g->cap;
    double *X = realloc(g->X, sizeof(double) * (size_t)cap * (size_t)g->d);
    if (X) g->X = X;
    double *y = realloc(g->y, sizeof(double) * (size_t)cap);
    if (y) g->y = y;
    double *w = realloc(g->w, sizeof(double) * (size_t)cap);
    if (w) g->w = w;
    double *a = realloc(g->alpha, sizeof(double) * (size_t)cap);
    if (a) g->alpha = a;
    double *L = realloc(g->L, sizeof(double) * (size_t)cap * (size_t)cap);
    if (L) g->L = L;
    double *wk = realloc(g->work, sizeof(double) * (size_t)cap * (size_t)cap);
    if (wk) g->work = wk;
    if (!X || !y || !w || !a || !L || !wk) return MC_ERR_NOMEM;
    g->cap = cap;
    return MC_OK;
}

void fab_gp_destroy(fab_gp *g) {
    if (!g) return;
    free(g->X);
    free(g->y);
    free(g->w);
    free(g->L);
    free(g->alpha);
    free(g->work);
    free(g);
}

/* A long history: every evaluation of the likelihood costs O(n^3), so the hyperparameters are
 * fitted on the last FIT_MAX_ROWS rows (the ones a drifting line trusts most) and the model then
 * conditions on all n (one factorisation). The signal and noise variances are carried over in the
 * objective's units. */
static mc_status fit_on_recent(fab_gp *g, const double *X, const double *y, const double *w, int n, int d, int starts,
                               mc_rng *rng, fab_gp **out, mc_error *err) {
    int k = FIT_MAX_ROWS;
    fab_gp *sub;
    mc_status st = fab_gp_fit(&sub, X + (size_t)(n - k) * d, y + (n - k), w ? w + (n - k) : NULL, k, d, starts, rng, err);
    if (st != MC_OK) {
        fab_gp_destroy(g);
        return st;
    }
    double r = sub->y_sd > 0 && g->y_sd > 0 ? sub->y_sd / g->y_sd : 1, theta[FAB_GP_MAX_DIM + 2];
    g->h = sub->h;
    g->h.signal = fmin(exp(LOG_SIGNAL_MAX), fmax(exp(LOG_SIGNAL_MIN), g->h.signal * r * r));
    g->h.noise = fmin(exp(LOG_NOISE_MAX), fmax(exp(LOG_NOISE_MIN), g->h.noise * r * r));
    fab_gp_destroy(sub);
    for (int q = 0; q < d; q++) theta[q] = log(g->h.length[q]);
    theta[d] = log(g->h.signal);
    theta[d + 1] = log(g->h.noise);
    g->log_post = fab_gp_log_posterior(g, theta, NULL);
    if (refactor(g) != MC_OK) {
        fab_gp_destroy(g);
        return mc_error_set(err, MC_ERR_INTERNAL, "gp: the kernel matrix is not positive definite");
    }
    *out = g;
    return MC_OK;
}

mc_status fab_gp_fit(fab_gp **out, const double *X, const double *y, const double *w, int n, int d, int starts,
                     mc_rng *rng, mc_error *err) {
    *out = NULL;
    if (n < 1 || d < 1 || d > FAB_GP_MAX_DIM || starts < 1) return mc_error_set(err, MC_ERR_ARG, "gp: invalid sizes");
    fab_gp *g = calloc(1, sizeof *g);
    if (!g) return mc_error_set(err, MC_ERR_NOMEM, "out of memory");
    g->d = d;
    if (reserve(g, n + 8) != MC_OK) {
        fab_gp_destroy(g);
        return mc_error_set(err, MC_ERR_NOMEM, "out of memory");
    }
    g->n = n;
    memcpy(g->X, X, sizeof(double) * (size_t)n * (size_t)d);
    double mean = 0, var = 0;
    for (int i = 0; i < n; i++) mean += y[i];
    mean /= n;
    for (int i = 0; i < n; i++) var += (y[i] - mean) * (y[i] - mean);
    g->y_mean = mean;
    g->y_sd = var > 0 ? sqrt(var / n) : 0;
    double scale = g->y_sd > 0 ? g->y_sd : 1;
    for (int i = 0; i < n; i++) {
        g->y[i] = (y[i] - mean) / scale;
        g->w[i] = w ? w[i] : 1;
    }
    if (n > FIT_MAX_ROWS) return fit_on_recent(g, X, y, w, n, d, starts, rng, out, err);
    int p = d + 2;
    double lb[FAB_GP_MAX_DIM + 2], ub[FAB_GP_MAX_DIM + 2], theta[FAB_GP_MAX_DIM + 2], best[FAB_GP_MAX_DIM + 2];
    for (int k = 0; k < d; k++) {
        lb[k] = LOG_LENGTH_MIN;
        ub[k] = LOG_LENGTH_MAX;
    }
    lb[d] = LOG_SIGNAL_MIN;
    ub[d] = LOG_SIGNAL_MAX;
    lb[d + 1] = LOG_NOISE_MIN;
    ub[d + 1] = LOG_NOISE_MAX;
    double best_val = -HUGE_VAL;
    nlopt_opt opt = nlopt_create(NLOPT_LD_LBFGS, (unsigned)p);
    if (!opt) {
        fab_gp_destroy(g);
        return mc_error_set(err, MC_ERR_NOMEM, "out of memory");
    }
    nlopt_set_lower_bounds(opt, lb);
    nlopt_set_upper_bounds(opt, ub);
    nlopt_set_max_objective(opt, nlopt_objective, g);
    nlopt_set_ftol_rel(opt, 1e-7);
    nlopt_set_maxeval(opt, FIT_MAX_EVAL);
    for (int s = 0; s < starts; s++) {
        /* the prior's centre first, then draws from the priors */
        double mu = PRIOR_LOG_LENGTH_MEAN;
        for (int k = 0; k < d; k++) theta[k] = mu + (s ? PRIOR_LOG_LENGTH_SD * mc_rng_normal(rng) : 0);
        theta[d] = s ? PRIOR_LOG_SIGNAL_SD * mc_rng_normal(rng) : 0;
        theta[d + 1] = START_LOG_NOISE + (s ? START_LOG_NOISE_SD * mc_rng_normal(rng) : 0);
        for (int k = 0; k < p; k++) theta[k] = fmin(ub[k], fmax(lb[k], theta[k]));
        double val = -HUGE_VAL;
        nlopt_result r = nlopt_optimize(opt, theta, &val);
        if (r < 0 && r != NLOPT_ROUNDOFF_LIMITED) val = fab_gp_log_posterior(g, theta, NULL);
        if (isfinite(val) && val > best_val) {
            best_val = val;
            memcpy(best, theta, sizeof(double) * (size_t)p);
        }
    }
    nlopt_destroy(opt);
    if (!(best_val > -1e299)) { /* nothing factorised: the prior's centre with a larger noise */
        double mu = PRIOR_LOG_LENGTH_MEAN;
        for (int k = 0; k < d; k++) best[k] = mu;
        best[d] = 0;
        best[d + 1] = log(1e-2);
        best_val = fab_gp_log_posterior(g, best, NULL);
    }
    theta_to_hyper(best, d, &g->h);
    g->log_post = best_val;
    if (refactor(g) != MC_OK) {
        fab_gp_destroy(g);
        return mc_error_set(err, MC_ERR_INTERNAL, "gp: the kernel matrix is not positive definite");
    }
    *out = g;
    return MC_OK;
}

void fab_gp_hyperparameters(const fab_gp *g, fab_gp_hyper *h, double *log_posterior) {
    if (h) *h = g->h;
    if (log_posterior) *log_posterior = g->log_post;
}

void fab_gp_scale(const fab_gp *g, double *mean, double *sd) {
    if (mean) *mean = g->y_mean;
    if (sd) *sd = g->y_sd;
}

mc_status fab_gp_predict(const fab_gp *g, const double *X, int m, double *mean, double *sd) {
    int n = g->n, d = g->d;
    double *k = malloc(sizeof(double) * (size_t)n);
    if (!k) return MC_ERR_NOMEM;
    double inv_l2[FAB_GP_MAX_DIM], scale = g->y_sd > 0 ? g->y_sd : 1;
    for (int q = 0; q < d; q++) inv_l2[q] = 1 / (g->h.length[q] * g->h.length[q]);
    for (int j = 0; j < m; j++) {
        const double *x = X + (size_t)j * d;
        for (int i = 0; i < n; i++) k[i] = matern52(sqrt(scaled_dist2(x, g->X + (size_t)i * d, inv_l2, d)), g->h.signal);
        double mu = cblas_ddot(n, k, 1, g->alpha, 1);
        cblas_dtrsv(CblasRowMajor, CblasLower, CblasNoTrans, CblasNonUnit, n, g->L, n, k, 1);
        double var = g->h.signal - cblas_ddot(n, k, 1, k, 1);
        mean[j] = g->y_mean + scale * mu;
        sd[j] = scale * sqrt(var > 1e-12 * g->h.signal ? var : 1e-12 * g->h.signal);
    }
    free(k);
    return MC_OK;
}

mc_status fab_gp_add(fab_gp *g, const double *x, double y) {
    if (reserve(g, g->n + 1) != MC_OK) return MC_ERR_NOMEM;
    memcpy(g->X + (size_t)g->n * g->d, x, sizeof(double) * (size_t)g->d);
    g->y[g->n] = (y - g->y_mean) / (g->y_sd > 0 ? g->y_sd : 1);
    g->w[g->n] = 1;
    g->n++;
    return refactor(g);
}
