/* recipe_propose.h: the engine of `tune propose`: the next recipes for a real line from its logged
 * batches. By default Bayesian optimisation with a Gaussian process (gp.h) and expected improvement
 * (or an upper confidence bound), maximised within the bounds and within max_step of the current
 * recipe (a trust region), several recipes per batch by the kriging believer, pending batches (no
 * measured objective yet) entered as fantasies so that no proposal repeats them, and older batches
 * down-weighted on a drifting line. The bootstrap MLP ensemble (surrogate_opt.h) stays as an
 * alternative engine. With too little history (fewer measured batches than parameters + 1) or an
 * objective that never varied, proposals are exploratory: spread over the trust region, far from
 * every logged batch, and said to be so. */
#ifndef MOE_FACTORY_RECIPE_PROPOSE_H
#define MOE_FACTORY_RECIPE_PROPOSE_H

#include "moecore/rng.h"
#include "moecore/status.h"
#include "surrogate_opt.h"

typedef enum fab_engine { FAB_ENGINE_GP = 0, FAB_ENGINE_MLP } fab_engine;
typedef enum fab_acquisition { FAB_ACQ_EI = 0, FAB_ACQ_UCB } fab_acquisition;

typedef struct fab_propose_config {
    fab_engine engine;
    fab_acquisition acquisition;
    double xi;           /* EI margin, in standard deviations of the objective (0.01) */
    double kappa;        /* UCB: mean + kappa * sd (2) */
    double half_life;    /* batches: the noise of a batch doubles every half_life batches of age; 0 = off */
    int gp_starts;       /* starting points of the hyperparameter fit (5) */
    fab_surrogate_config mlp; /* the MLP engine's settings */
} fab_propose_config;

void fab_propose_config_default(fab_propose_config *c);

/* A recipe's search space in physical units: each parameter's bounds, its largest change from one
 * batch to the next, and the current recipe (the last logged batch, pending or not). */
typedef struct fab_recipe_space {
    int d;
    const char *const *names; /* for messages */
    const double *min, *max, *max_step, *current;
} fab_recipe_space;

/* What came out of fab_propose_recipes besides the recipes. */
typedef struct fab_propose_info {
    int exploratory;   /* 1: no model was fitted (see reason); pred, unc and acq are NAN */
    char reason[160];
    int measured, pending; /* batches used to fit, and pending ones */
} fab_propose_info;

/* Proposes n_out recipes (x_out: n_out x d, physical units) from n >= 1 logged batches (X: n x d,
 * y: n, pending[i] != 0 for a batch without a measured objective, whose y is ignored; pending may be
 * NULL) that maximise y (maximize = 1) or minimise it. Every proposal lies within the bounds and
 * within max_step of the current recipe. pred, unc and acq (each may be NULL) receive the predicted
 * objective, its standard deviation and the acquisition value (expected improvement in the
 * objective's units, or the bound for UCB). A current recipe farther than max_step outside its
 * bounds leaves no room: MC_ERR_ARG naming the parameter. */
mc_status fab_propose_recipes(const fab_propose_config *cfg, const fab_recipe_space *sp, const double *X,
                              const double *y, const unsigned char *pending, int n, int maximize, int n_out,
                              mc_rng *rng, double *x_out, double *pred, double *unc, double *acq,
                              fab_propose_info *info, mc_error *err);

/* log of expected improvement of a maximiser, in units of sd, at z = (mean - best - xi) / sd:
 * log(phi(z) + z Phi(z)), accurate far into the tail where the plain formula underflows. */
double fab_log_ei_unit(double z);

#endif
