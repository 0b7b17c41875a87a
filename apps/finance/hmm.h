/* hmm.h: market-regime detection in moe-finance with a Gaussian hidden Markov model: K hidden
 * regimes, each emitting a D-dimensional feature vector (e.g. returns) from a full-covariance
 * normal, fitted by Baum-Welch with seeded restarts, decoded by Viterbi, scored by BIC. */
#ifndef MOE_FINANCE_HMM_H
#define MOE_FINANCE_HMM_H

#include <stddef.h>

/* A fitted model. The arrays are owned by the struct and released by fin_hmm_free. */
typedef struct fin_hmm {
    int K, D;            /* states, feature dimensions */
    double *pi;          /* (K) initial probabilities */
    double *A;           /* (K, K) transitions, rows sum to 1 */
    double *mu;          /* (K, D) means */
    double *cov;         /* (K, D, D) full covariances */
    double loglik;       /* log-likelihood of the training data under these parameters */
    int T;               /* rows of the training data */
    int iterations;      /* EM iterations (E-steps) of the best restart */
} fin_hmm;

typedef struct fin_hmm_options {
    int K;               /* states, 1..8 (1 is the no-regime baseline); default 2 */
    int restarts;        /* seeded random restarts, the best log-likelihood wins (default 5) */
    int max_iter;        /* EM iterations per restart at most (default 2000: EM crawls when regimes overlap) */
    double tol;          /* ABSOLUTE: stop when an iteration gains less than tol nats of
                          * log-likelihood, as hmmlearn's tol (default 1e-6) */
    double var_floor;    /* RELATIVE: var_floor * var(x[:, d]) is added to diagonal d of every
                          * covariance after each M-step (default 1e-6; a feature of zero variance
                          * gets var_floor itself), so no state collapses, even on repeated prices */
    unsigned long long seed; /* seeds the mt19937 generator of the initialisations (default 1) */
    double min_stay;     /* persistence: every self-transition probability is held at or above this,
                          * so that no state lasts less than 1 / (1 - min_stay) steps on average (the
                          * M-step maximises under that constraint); default 0: unconstrained */
} fin_hmm_options;

void fin_hmm_options_default(fin_hmm_options *o);

/* Fits to x (T, D) row-major by Baum-Welch with a scaled forward-backward pass. Each restart starts
 * from k-means++ seeding refined by a few Lloyd steps for the means, the data covariance for every
 * state, uniform pi and a sticky A (0.9 on the diagonal). On success *out owns new arrays (free with
 * fin_hmm_free) and 0 is returned; otherwise -1 with a message in err (T < K (D + 2), non-finite
 * input, bad options, out of memory) and *out zeroed. */
int fin_hmm_fit(const double *x, int T, int D, const fin_hmm_options *o, fin_hmm *out,
                char *err, size_t err_size);

/* states (T) = the most likely state path (Viterbi in log space). Returns 0, or -1 on bad arguments,
 * non-finite input, a covariance that is not positive definite, or out of memory. */
int fin_hmm_viterbi(const fin_hmm *m, const double *x, int T, int *states);

/* gamma (T, K) = smoothed state probabilities P(s_t = k | x); *loglik (may be NULL) = log P(x).
 * gamma may be NULL to compute only the log-likelihood. Returns 0 or -1 as fin_hmm_viterbi. */
int fin_hmm_posteriors(const fin_hmm *m, const double *x, int T, double *gamma, double *loglik);

/* Filtered state probabilities alpha (T, K): P(state_t | x_0..x_t), each row from the data up to
 * that row only, so a row does not change when later data arrive (smoothed probabilities do). */
int fin_hmm_filtered(const fin_hmm *m, const double *x, int T, double *alpha);

/* Free parameters p = (K-1) + K(K-1) + K D + K D (D+1)/2; returns BIC = -2 loglik + p ln T. */
double fin_hmm_bic(const fin_hmm *m, int T);


/* label[k] = "bull", "bear" or "sideways" for each state, from the mean mu_k and standard deviation
 * sigma_k of the first feature (the return) and the state's expected days n_k (its stationary share
 * of m->T): bear is the most volatile state unless its mean is higher than another state's by more
 * than two standard errors (sqrt(sigma_a^2 / n_a + sigma_b^2 / n_b)); bull is, of the other states
 * with mu_k > 0 except the most volatile, the one with the highest mu_k / sigma_k; every other state
 * is sideways (K = 1: sideways). So a calm advance is never bear, a volatile spell is bear unless it
 * clearly gained more, and a volatile rally is at most sideways. label has room for m->K entries. */
void fin_hmm_label(const fin_hmm *m, const char **label);

/* The states of next matched to those of prev (same K and D): perm[k] is the state of prev that
 * state k of next continues, chosen over all permutations to minimise the summed distance of the
 * means (in units of prev's pooled standard deviation per feature) and of the log variances.
 * Returns 0, or -1 when the shapes differ or K > 8. */
int fin_hmm_match(const fin_hmm *prev, const fin_hmm *next, int *perm);

/* Frees the arrays (NULL fields accepted) and zeroes them; does not free m itself. m may be NULL. */
void fin_hmm_free(fin_hmm *m);

#endif
