/* ppo.h: proximal policy optimisation (Schulman et al. 2017) configured as Stable-Baselines3's
 * PPO: a Gaussian policy MLP (state-independent log standard deviation) and a separate value MLP,
 * two hidden tanh layers of 64 each, the clipped surrogate objective, generalised advantage
 * estimation, advantages normalised per minibatch, Adam(W) with gradient clipping by global norm,
 * and running observation (and return-based reward) normalisation as VecNormalize does. Actions
 * are clipped to [-1, 1] when acted on. The policy file is safetensors: the policy network, its
 * log standard deviation, the value network, and the observation normalisation in __metadata__. */
#ifndef MOE_FACTORY_PPO_H
#define MOE_FACTORY_PPO_H

#include <stdint.h>

#include "moecore/model_io.h"
#include "moecore/rng.h"
#include "moecore/status.h"

typedef struct fab_ppo_config {
    int n_steps;          /* transitions collected per update */
    int batch_size;       /* minibatch size */
    int n_epochs;         /* passes over each rollout */
    int hidden;           /* width of the two hidden layers */
    double lr;            /* Adam learning rate (constant) */
    double gamma;         /* discount */
    double gae_lambda;    /* GAE lambda */
    double clip_range;    /* epsilon of the clipped objective */
    double ent_coef;      /* entropy bonus weight */
    double vf_coef;       /* value loss weight */
    double max_grad_norm; /* global gradient norm limit */
    double clip_obs;      /* normalised observations and rewards are clipped to +-clip_obs */
    int norm_reward;      /* divide rewards by the running std of the discounted return */
} fab_ppo_config;

/* Stable-Baselines3's defaults, except n_steps 512 (SB3: 2048): eight 64-batch episodes per update
 * suit short training budgets. */
void fab_ppo_config_default(fab_ppo_config *c);

/* The environment as the learner sees it: reset writes the first observation; step acts, writes the
 * next observation, sets *done at the end of an episode (the next step starts a new one after a
 * reset the learner calls) and returns the reward. */
typedef struct fab_ppo_env {
    void *user;
    int obs_dim, act_dim;
    void (*reset)(void *user, mc_rng *rng, float *obs);
    double (*step)(void *user, const float *action, mc_rng *rng, float *obs, int *done);
} fab_ppo_env;

typedef struct fab_ppo fab_ppo;

/* A new learner with initialised networks (PyTorch's default initialisation, the action head's
 * weights scaled by 0.01 as SB3's orthogonal gain does, log std 0). Owned by the caller. */
mc_status fab_ppo_create(fab_ppo **out, int obs_dim, int act_dim, const fab_ppo_config *cfg, mc_rng *rng,
                         mc_error *err);
void fab_ppo_destroy(fab_ppo *a); /* accepts NULL */

/* After each update: environment steps so far and the mean (raw) return of the episodes that
 * ended in the rollout (NAN when none did). */
typedef void (*fab_ppo_progress_fn)(void *user, int64_t steps, double mean_episode_return);

/* Trains for total_steps environment steps (rounded up to whole rollouts), all randomness from rng. */
mc_status fab_ppo_learn(fab_ppo *a, const fab_ppo_env *env, int64_t total_steps, mc_rng *rng,
                        fab_ppo_progress_fn progress, void *progress_user, mc_error *err);

/* The action (act_dim, in [-1, 1]) for a raw observation, normalised with the running statistics
 * (which acting does not update): the policy mean when deterministic, else a draw from rng. */
mc_status fab_ppo_act(fab_ppo *a, const float *obs, int deterministic, mc_rng *rng, float *action);

/* The current standard deviation of action i. */
double fab_ppo_action_std(const fab_ppo *a, int i);

/* Saves / loads the learner (extra metadata, e.g. the process it was trained on, is added to the
 * file; fab_ppo_load checks every tensor and the metadata against each other). */
mc_status fab_ppo_save(const fab_ppo *a, const char *path, const mc_st_meta *extra, int n_extra, mc_error *err);
mc_status fab_ppo_load(fab_ppo **out, const char *path, mc_error *err);

#endif
