/* surrogate_opt.h: a sample-efficient optimiser for a stationary recipe (Bayesian optimisation
 * with a neural surrogate). The surrogate is a bootstrap ensemble of small MLPs on libmoecore
 * networks: each member is trained on a resample of the observations, their mean is the prediction
 * and their spread the uncertainty. Proposals maximise expected improvement over random and local
 * candidates inside a box, which callers set to the bounds intersected with the step limits.
 * Coordinates are unit coordinates: each parameter scaled to [0, 1] over its bounds. The objective
 * is maximised (negate it to minimise). */
#ifndef MOE_FACTORY_SURROGATE_OPT_H
#define MOE_FACTORY_SURROGATE_OPT_H

#include "moecore/rng.h"
#include "moecore/status.h"

#define FAB_SURROGATE_MAX_DIM 32

typedef struct fab_surrogate_config {
    int members;         /* ensemble size */
    int hidden;          /* width of the two hidden tanh layers */
    int steps;           /* full-batch AdamW steps per member */
    double lr;           /* AdamW learning rate */
    double weight_decay; /* AdamW decoupled weight decay */
    int candidates;      /* uniform candidates per proposal (plus as many local ones) */
    double xi;           /* expected-improvement margin, in standard deviations of the observations */
    double min_dist;     /* least distance between two proposals of one batch, unit coordinates */
} fab_surrogate_config;

/* 5 members, 32 hidden, 300 steps, lr 0.01, weight decay 1e-4, 2000 candidates, xi 0.01, min_dist 0.05. */
void fab_surrogate_config_default(fab_surrogate_config *c);

typedef struct fab_surrogate fab_surrogate;

/* Fits the ensemble to n observations (X: n x d unit coordinates, y: n values), n >= 1, d <= 32,
 * all randomness from rng. Owned by the caller. */
mc_status fab_surrogate_fit(fab_surrogate **out, const fab_surrogate_config *cfg, const double *X, const double *y,
                            int n, int d, mc_rng *rng, mc_error *err);
void fab_surrogate_destroy(fab_surrogate *s); /* accepts NULL */

/* Predicted mean and standard deviation (in y's units) at m points X (m x d). */
mc_status fab_surrogate_predict(fab_surrogate *s, const double *X, int m, double *mean, double *std);

/* Expected improvement of a maximiser over best at a prediction (mean, std), with margin xi. */
double fab_expected_improvement(double mean, double std, double best, double xi);

/* Proposes n_out points (x_out: n_out x d) inside [box_lo, box_hi] (unit coordinates) with their
 * predicted mean, standard deviation and expected improvement (each may be NULL): a fitted
 * surrogate scores uniform candidates in the box and Gaussian perturbations of the best observed
 * points; proposals are taken greedily by expected improvement, each at least min_dist from the
 * ones before (relaxed when the box is too small for that). */
mc_status fab_surrogate_propose(fab_surrogate *s, const double *box_lo, const double *box_hi, int n_out, mc_rng *rng,
                                double *x_out, double *mean, double *std, double *ei);

#endif
