/* process_sim.h: simulated production processes for process tuning: an injection-moulding cell
 * and a batch reactor with a narrow ridge optimum (equations in docs/factory.md, section "Process
 * tuning: tune"). Each maps a recipe (physical units) to measured outcomes, drifts slowly from
 * batch to batch (tool wear or catalyst ageing, material lots), adds measurement noise from a seeded
 * generator, and knows its own optimum by a dense search. A tuning environment wraps a drifting
 * process for a reinforcement-learning policy that changes the recipe batch by batch. */
#ifndef MOE_FACTORY_PROCESS_SIM_H
#define MOE_FACTORY_PROCESS_SIM_H

#include <stdint.h>

#include "moecore/rng.h"

#define FAB_MAX_PARAMS 8
#define FAB_MAX_OUTPUTS 8

typedef enum fab_process_kind { FAB_PROCESS_MOULDING = 0, FAB_PROCESS_REACTOR, FAB_PROCESS_COUNT } fab_process_kind;

/* A process and its drift state. Outcome 0 is always the objective to maximise. */
typedef struct fab_process {
    fab_process_kind kind;
    int n_params, n_outputs;
    const char *const *param_names;  /* n_params */
    const char *const *output_names; /* n_outputs */
    const double *lo, *hi;           /* bounds of each parameter */
    const double *nominal;           /* the fixed recipe: optimal for the new tool / fresh catalyst and the reference lot */
    const double *max_step;          /* largest change of a parameter from one batch to the next */
    int drifting;                    /* 0: stationary (the reference state forever) */
    int64_t batch;                   /* batches run since the start */
    double wear;                     /* moulding: tool wear 0 (new) .. 1; reactor: catalyst activity loss 0 .. 1 */
    double lot[2];                   /* the current material lot's deviations (see docs/factory.md) */
    int lot_size;                    /* batches per material lot */
    double wear_rate;                /* wear added per batch */
} fab_process;

/* Sets p up in the reference state (no wear, reference lot). drifting = 0 keeps it there. */
void fab_process_init(fab_process *p, fab_process_kind kind, int drifting);

/* "moulding" or "reactor"; -1 for an unknown name. */
int fab_process_parse(const char *name, fab_process_kind *out);
const char *fab_process_name(fab_process_kind kind);

/* Noise-free outcomes of recipe x (n_params, physical units) in the current state: out[n_outputs],
 * out[0] the objective. */
void fab_process_outcome(const fab_process *p, const double *x, double *out);

/* Measured outcomes: the noise-free ones plus measurement noise drawn from rng. */
void fab_process_observe(const fab_process *p, const double *x, mc_rng *rng, double *out);

/* One batch later: wear grows, and a new material lot (drawn from rng) starts every lot_size
 * batches. Nothing changes for a stationary process. */
void fab_process_advance(fab_process *p, mc_rng *rng);

/* A random state (wear uniform in [0, max_wear], a random lot), for training episodes. */
void fab_process_randomize(fab_process *p, double max_wear, mc_rng *rng);

/* The best noise-free objective in the current state and its recipe (x_best, may be NULL): a grid
 * of `levels` points per parameter over the bounds, then Nelder-Mead (GSL) with restarts from the
 * 4 best grid points and from start, when not NULL. */
double fab_process_optimum(const fab_process *p, int levels, const double *start, double *x_best);

/* Recipe x clipped into the bounds. */
void fab_process_clip(const fab_process *p, double *x);

/* The tuning environment: each step is one batch. The learner sees the recipe (scaled to [-1, 1] over
 * the bounds) and the last batch's measured outcomes; its action a in [-1, 1]^n_params moves each
 * parameter by a * max_step (clipped into the bounds); the reward is the measured objective. An
 * episode starts from the fixed recipe and lasts `horizon` batches. */
typedef struct fab_tune_env {
    fab_process proc;
    double x[FAB_MAX_PARAMS];    /* the current recipe */
    double last[FAB_MAX_OUTPUTS]; /* the last measured outcomes */
    int horizon, t;
    double start_wear;           /* reset: wear uniform in [0, start_wear] (0: the reference state) */
    double true_objective;       /* the last batch's noise-free objective */
    mc_rng *drift_rng;           /* draws the material lots when not NULL (else the step's generator), so
                                  * that several policies can meet the same drift */
} fab_tune_env;

int fab_tune_env_obs_dim(const fab_tune_env *e);

/* Starts an episode of env (a fab_tune_env; void * so that a learner can call it through a function
 * pointer); writes the first observation (obs_dim). */
void fab_tune_env_reset(void *env, mc_rng *rng, float *obs);

/* Applies action (n_params, clipped to [-1, 1]), runs a batch, writes the next observation and
 * returns the reward; *done is set after the last batch of the episode. */
double fab_tune_env_step(void *env, const float *action, mc_rng *rng, float *obs, int *done);

#endif
