/* gp.h: Gaussian-process regression for process tuning: a Matern-5/2 kernel with one length scale
 * per input (ARD), on inputs in unit coordinates and standardised outputs, with a constant mean.
 * The length scales, the signal variance and the noise variance maximise the log marginal
 * likelihood plus weak log-normal priors on the length scales and the signal (a MAP fit), from
 * several starts, by L-BFGS (NLopt) with
 * the analytic gradient; the Cholesky factor and solves are LAPACKE's and CBLAS's. Observations
 * may carry a relative noise weight (older batches of a drifting line count less). Fantasies (points
 * added at a value without refitting the hyperparameters) serve batch proposals by the kriging
 * believer and pending batches. */
#ifndef MOE_FACTORY_GP_H
#define MOE_FACTORY_GP_H

#include "moecore/rng.h"
#include "moecore/status.h"

#define FAB_GP_MAX_DIM 32

typedef struct fab_gp fab_gp;

typedef struct fab_gp_hyper {
    double length[FAB_GP_MAX_DIM]; /* length scale per input, unit coordinates */
    double signal;                 /* signal variance, standardised units */
    double noise;                  /* noise variance, standardised units */
} fab_gp_hyper;

/* Fits a GP to n >= 1 observations (X: n x d unit coordinates, y: n), each with noise weight w[i]
 * (>= 1: the noise variance of row i is noise * w[i]; NULL for all 1), maximising the posterior of
 * the hyperparameters from `starts` starting points (the prior's centre and random draws from rng);
 * beyond 300 observations, on the last 300, the model then conditioning on all n.
 * Owned by the caller; fab_gp_destroy accepts NULL. */
mc_status fab_gp_fit(fab_gp **out, const double *X, const double *y, const double *w, int n, int d, int starts,
                     mc_rng *rng, mc_error *err);
void fab_gp_destroy(fab_gp *g);

/* The fitted hyperparameters and the log posterior they reach. */
void fab_gp_hyperparameters(const fab_gp *g, fab_gp_hyper *h, double *log_posterior);

/* Posterior mean and standard deviation of the latent function (without the noise), in y's units,
 * at m points X (m x d). */
mc_status fab_gp_predict(const fab_gp *g, const double *X, int m, double *mean, double *sd);

/* Adds an observation at x with value y (y's units) and noise weight 1, keeping the hyperparameters
 * (a fantasy: the kriging believer adds the predicted mean). */
mc_status fab_gp_add(fab_gp *g, const double *x, double y);

/* The observations' mean and standard deviation used to standardise y (sd 0 for a constant y). */
void fab_gp_scale(const fab_gp *g, double *mean, double *sd);

/* The log marginal likelihood (with the priors) at hyperparameters theta = (log length[0..d-1],
 * log signal, log noise) and its gradient (may be NULL), for tests and diagnostics. */
double fab_gp_log_posterior(const fab_gp *g, const double *theta, double *grad);

#endif
