/* ppo.c: the PPO learner of ppo.h: rollouts, GAE, the clipped objective with its gradients through
 * libmoecore networks, running normalisation, and the policy file. */
#include "ppo.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moecore/loss.h"
#include "moecore/model.h"
#include "moecore/optim.h"

#define LOG_2PI 1.8378770664093453

/* Running mean and variance over a stream of vectors, merged as VecNormalize's RunningMeanStd. */
typedef struct running_stats {
    int dim;
    double count;
    double *mean, *var;
} running_stats;

struct fab_ppo {
    fab_ppo_config cfg;
    int obs_dim, act_dim;
    mc_model *policy, *value;
    float *log_std, *log_std_grad;
    int64_t n_pol, n_val;
    mc_optim *opt;
    running_stats obs_rms, ret_rms;
    double ret; /* discounted return so far in the episode, for reward normalisation */
};

void fab_ppo_config_default(fab_ppo_config *c) {
    c->n_steps = 512;
    c->batch_size = 64;
    c->n_epochs = 10;
    c->hidden = 64;
    c->lr = 3e-4;
    c->gamma = 0.99;
    c->gae_lambda = 0.95;
    c->clip_range = 0.2;
    c->ent_coef = 0.0;
    c->vf_coef = 0.5;
    c->max_grad_norm = 0.5;
    c->clip_obs = 10.0;
    c->norm_reward = 1;
}

static int stats_init(running_stats *s, int dim) {
    s->dim = dim;
    s->count = 1e-4;
    s->mean = calloc((size_t)dim, sizeof(double));
    s->var = malloc(sizeof(double) * (size_t)dim);
    if (!s->mean || !s->var) return -1;
    for (int i = 0; i < dim; i++) s->var[i] = 1.0;
    return 0;
}

static void stats_free(running_stats *s) {
    free(s->mean);
    free(s->var);
}

/* Merges one observation (a batch of 1 with zero variance). */
static void stats_update(running_stats *s, const double *x) {
    double total = s->count + 1;
    for (int i = 0; i < s->dim; i++) {
        double delta = x[i] - s->mean[i];
        s->mean[i] += delta / total;
        s->var[i] = (s->var[i] * s->count + delta * delta * s->count / total) / total;
    }
    s->count = total;
}

static void normalize_obs(const fab_ppo *a, const float *obs, float *out) {
    for (int i = 0; i < a->obs_dim; i++) {
        double z = (obs[i] - a->obs_rms.mean[i]) / sqrt(a->obs_rms.var[i] + 1e-8);
        out[i] = (float)fmax(-a->cfg.clip_obs, fmin(a->cfg.clip_obs, z));
    }
}

static char *mlp_arch(int in, int hidden, int out) {
    char *s = malloc(512);
    if (s)
        snprintf(s, 512,
                 "{\"input\":[%d],\"layers\":[{\"type\":\"linear\",\"out\":%d},{\"type\":\"act\",\"fn\":\"tanh\"},"
                 "{\"type\":\"linear\",\"out\":%d},{\"type\":\"act\",\"fn\":\"tanh\"},{\"type\":\"linear\",\"out\":%d}]}",
                 in, hidden, hidden, out);
    return s;
}

/* Allocates everything but the networks' parameters' values. */
static mc_status alloc_learner(fab_ppo **out, int obs_dim, int act_dim, const fab_ppo_config *cfg,
                             const char *policy_arch, const char *value_arch, mc_error *err) {
    *out = NULL;
    fab_ppo *a = calloc(1, sizeof *a);
    if (!a) return mc_error_set(err, MC_ERR_NOMEM, "out of memory");
    a->cfg = *cfg;
    a->obs_dim = obs_dim;
    a->act_dim = act_dim;
    mc_status st;
    if ((st = mc_model_create(&a->policy, policy_arch, err)) != MC_OK ||
        (st = mc_model_create(&a->value, value_arch, err)) != MC_OK) {
        fab_ppo_destroy(a);
        return st;
    }
    a->n_pol = mc_model_num_params(a->policy);
    a->n_val = mc_model_num_params(a->value);
    mc_optim_config oc = {.kind = MC_OPTIM_ADAMW, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-5f};
    a->opt = mc_optim_create(&oc, a->n_pol + a->n_val + act_dim);
    a->log_std = calloc((size_t)act_dim, sizeof(float));
    a->log_std_grad = calloc((size_t)act_dim, sizeof(float));
    if (!a->opt || !a->log_std || !a->log_std_grad || stats_init(&a->obs_rms, obs_dim) != 0 ||
        stats_init(&a->ret_rms, 1) != 0) {
        fab_ppo_destroy(a);
        return mc_error_set(err, MC_ERR_NOMEM, "out of memory");
    }
    *out = a;
    return MC_OK;
}

typedef struct last_range {
    int64_t offset, n;
} last_range;

static void find_last_weights(void *user, int64_t offset, int64_t n, int decay) {
    if (decay) {
        last_range *r = user;
        r->offset = offset;
        r->n = n;
    }
}

mc_status fab_ppo_create(fab_ppo **out, int obs_dim, int act_dim, const fab_ppo_config *cfg, mc_rng *rng,
                         mc_error *err) {
    *out = NULL;
    if (obs_dim < 1 || act_dim < 1 || cfg->n_steps < 2 || cfg->batch_size < 2 || cfg->n_epochs < 1 || cfg->hidden < 1)
        return mc_error_set(err, MC_ERR_ARG, "ppo: invalid dimensions or configuration");
    char *pa = mlp_arch(obs_dim, cfg->hidden, act_dim), *va = mlp_arch(obs_dim, cfg->hidden, 1);
    mc_status st = pa && va ? alloc_learner(out, obs_dim, act_dim, cfg, pa, va, err)
                            : mc_error_set(err, MC_ERR_NOMEM, "out of memory");
    free(pa);
    free(va);
    if (st != MC_OK) return st;
    fab_ppo *a = *out;
    mc_model_init(a->policy, rng);
    mc_model_init(a->value, rng);
    last_range r = {0, 0};
    mc_model_param_ranges(a->policy, find_last_weights, &r);
    float *p = mc_model_params(a->policy);
    for (int64_t i = 0; i < r.n; i++) p[r.offset + i] *= 0.01f;
    return MC_OK;
}

void fab_ppo_destroy(fab_ppo *a) {
    if (!a) return;
    mc_model_destroy(a->policy);
    mc_model_destroy(a->value);
    mc_optim_destroy(a->opt);
    free(a->log_std);
    free(a->log_std_grad);
    stats_free(&a->obs_rms);
    stats_free(&a->ret_rms);
    free(a);
}

double fab_ppo_action_std(const fab_ppo *a, int i) { return exp(a->log_std[i]); }

/* Policy mean and value of one normalised observation. */
static mc_status evaluate(fab_ppo *a, const float *nobs, float *mean, float *value) {
    const float *o;
    mc_status st = mc_model_forward(a->policy, nobs, 1, 0, NULL, &o);
    if (st != MC_OK) return st;
    memcpy(mean, o, sizeof(float) * (size_t)a->act_dim);
    if (value) {
        if ((st = mc_model_forward(a->value, nobs, 1, 0, NULL, &o)) != MC_OK) return st;
        *value = o[0];
    }
    return MC_OK;
}

mc_status fab_ppo_act(fab_ppo *a, const float *obs, int deterministic, mc_rng *rng, float *action) {
    float nobs[256], mean[64];
    if (a->obs_dim > 256 || a->act_dim > 64) return MC_ERR_ARG;
    normalize_obs(a, obs, nobs);
    mc_status st = evaluate(a, nobs, mean, NULL);
    if (st != MC_OK) return st;
    for (int i = 0; i < a->act_dim; i++) {
        double v = deterministic ? mean[i] : mean[i] + exp(a->log_std[i]) * mc_rng_normal(rng);
        action[i] = (float)fmax(-1.0, fmin(1.0, v));
    }
    return MC_OK;
}

/* The rollout buffer: normalised observations, raw Gaussian draws, their log-probabilities,
 * values, (normalised) rewards and episode ends, then advantages and returns. */
typedef struct rollout {
    float *obs, *act, *logp, *val, *rew, *adv, *ret;
    unsigned char *done;
    /* minibatch scratch */
    float *mb_obs, *mb_dmean, *mb_ret;
    int *idx;
} rollout;

static void rollout_free(rollout *b) {
    free(b->obs); free(b->act); free(b->logp); free(b->val); free(b->rew); free(b->adv); free(b->ret);
    free(b->done); free(b->mb_obs); free(b->mb_dmean); free(b->mb_ret); free(b->idx);
}

static int rollout_alloc(rollout *b, int n, int obs_dim, int act_dim, int mb) {
    memset(b, 0, sizeof *b);
    size_t N = (size_t)n;
    b->obs = malloc(sizeof(float) * N * (size_t)obs_dim);
    b->act = malloc(sizeof(float) * N * (size_t)act_dim);
    b->logp = malloc(sizeof(float) * N);
    b->val = malloc(sizeof(float) * N);
    b->rew = malloc(sizeof(float) * N);
    b->adv = malloc(sizeof(float) * N);
    b->ret = malloc(sizeof(float) * N);
    b->done = malloc(N);
    b->mb_obs = malloc(sizeof(float) * (size_t)mb * (size_t)obs_dim);
    b->mb_dmean = malloc(sizeof(float) * (size_t)mb * (size_t)act_dim);
    b->mb_ret = malloc(sizeof(float) * (size_t)mb);
    b->idx = malloc(sizeof(int) * N);
    if (!b->obs || !b->act || !b->logp || !b->val || !b->rew || !b->adv || !b->ret || !b->done || !b->mb_obs ||
        !b->mb_dmean || !b->mb_ret || !b->idx) {
        rollout_free(b);
        return -1;
    }
    return 0;
}

static double gaussian_logp(const float *act, const float *mean, const float *log_std, int d) {
    double lp = 0;
    for (int i = 0; i < d; i++) {
        double z = (act[i] - mean[i]) / exp(log_std[i]);
        lp += -0.5 * z * z - log_std[i] - 0.5 * LOG_2PI;
    }
    return lp;
}

/* One gradient step on the minibatch idx[0 .. m): clipped objective, entropy and value losses. */
static mc_status update_minibatch(fab_ppo *a, rollout *b, const int *idx, int m) {
    int D = a->obs_dim, A = a->act_dim;
    const fab_ppo_config *c = &a->cfg;
    for (int k = 0; k < m; k++) {
        memcpy(b->mb_obs + (size_t)k * D, b->obs + (size_t)idx[k] * D, sizeof(float) * (size_t)D);
        b->mb_ret[k] = b->ret[idx[k]];
    }
    /* advantages normalised over the minibatch (unbiased std, as torch.std) */
    double am = 0, av = 0;
    for (int k = 0; k < m; k++) am += b->adv[idx[k]];
    am /= m;
    for (int k = 0; k < m; k++) av += (b->adv[idx[k]] - am) * (b->adv[idx[k]] - am);
    double as = sqrt(av / (m - 1)) + 1e-8;

    mc_model_zero_grad(a->policy);
    mc_model_zero_grad(a->value);
    memset(a->log_std_grad, 0, sizeof(float) * (size_t)A);
    const float *mean;
    mc_status st = mc_model_forward(a->policy, b->mb_obs, m, 1, NULL, &mean);
    if (st != MC_OK) return st;
    double lo = 1 - c->clip_range, hi = 1 + c->clip_range;
    for (int k = 0; k < m; k++) {
        const float *act = b->act + (size_t)idx[k] * A;
        const float *mu = mean + (size_t)k * A;
        double adv = (b->adv[idx[k]] - am) / as;
        double ratio = exp(gaussian_logp(act, mu, a->log_std, A) - b->logp[idx[k]]);
        double clipped = fmax(lo, fmin(hi, ratio));
        /* d/dratio of min(ratio * adv, clip(ratio) * adv): adv where the unclipped term is taken */
        int active = (ratio >= lo && ratio <= hi) || ratio * adv < clipped * adv;
        double dlogp = active ? -adv * ratio / m : 0.0; /* dL/dlogp, L = -mean(min(...)) */
        for (int i = 0; i < A; i++) {
            double var = exp(2.0 * a->log_std[i]);
            double diff = act[i] - mu[i];
            b->mb_dmean[(size_t)k * A + i] = (float)(dlogp * diff / var);
            a->log_std_grad[i] += (float)(dlogp * (diff * diff / var - 1.0));
        }
    }
    for (int i = 0; i < A; i++) a->log_std_grad[i] -= (float)c->ent_coef; /* entropy = sum log_std + const */
    if ((st = mc_model_backward(a->policy, b->mb_dmean, NULL)) != MC_OK) return st;

    const float *v;
    if ((st = mc_model_forward(a->value, b->mb_obs, m, 1, NULL, &v)) != MC_OK) return st;
    float *dv = b->mb_dmean; /* free again: reuse as dL/dV (m) */
    memset(dv, 0, sizeof(float) * (size_t)m);
    mc_mse_loss(dv, (float)c->vf_coef, v, b->mb_ret, m);
    if ((st = mc_model_backward(a->value, dv, NULL)) != MC_OK) return st;

    /* clip the gradient of everything together by its global norm */
    float *gp = mc_model_grads(a->policy), *gv = mc_model_grads(a->value);
    double sq = 0;
    for (int64_t i = 0; i < a->n_pol; i++) sq += (double)gp[i] * gp[i];
    for (int64_t i = 0; i < a->n_val; i++) sq += (double)gv[i] * gv[i];
    for (int i = 0; i < A; i++) sq += (double)a->log_std_grad[i] * a->log_std_grad[i];
    double norm = sqrt(sq);
    if (norm > c->max_grad_norm) {
        float s = (float)(c->max_grad_norm / (norm + 1e-6));
        for (int64_t i = 0; i < a->n_pol; i++) gp[i] *= s;
        for (int64_t i = 0; i < a->n_val; i++) gv[i] *= s;
        for (int i = 0; i < A; i++) a->log_std_grad[i] *= s;
    }
    float lr = (float)c->lr;
    mc_optim_begin_step(a->opt);
    mc_optim_update(a->opt, mc_model_params(a->policy), gp, 0, a->n_pol, lr, 0);
    mc_optim_update(a->opt, mc_model_params(a->value), gv, a->n_pol, a->n_val, lr, 0);
    mc_optim_update(a->opt, a->log_std, a->log_std_grad, a->n_pol + a->n_val, A, lr, 0);
    return MC_OK;
}

/* Collects one rollout of n_steps from the environment (continuing its current episode, whose raw
 * observation is in raw_obs); returns the bootstrap value of the observation after the last step. */
static mc_status collect(fab_ppo *a, const fab_ppo_env *env, rollout *b, float *raw_obs, mc_rng *rng,
                         double *ep_return, double *sum_returns, int *n_episodes, float *last_value) {
    int D = a->obs_dim, A = a->act_dim, n = a->cfg.n_steps;
    double tmp[256];
    float mean[64], clipped[64];
    mc_status st;
    for (int t = 0; t < n; t++) {
        float *nobs = b->obs + (size_t)t * D;
        normalize_obs(a, raw_obs, nobs);
        float *act = b->act + (size_t)t * A;
        if ((st = evaluate(a, nobs, mean, &b->val[t])) != MC_OK) return st;
        for (int i = 0; i < A; i++) {
            act[i] = (float)(mean[i] + exp(a->log_std[i]) * mc_rng_normal(rng));
            clipped[i] = fmaxf(-1.0f, fminf(1.0f, act[i]));
        }
        b->logp[t] = (float)gaussian_logp(act, mean, a->log_std, A);
        int done = 0;
        double r = env->step(env->user, clipped, rng, raw_obs, &done);
        *ep_return += r;
        for (int i = 0; i < D; i++) tmp[i] = raw_obs[i];
        stats_update(&a->obs_rms, tmp);
        double rn = r;
        if (a->cfg.norm_reward) {
            a->ret = a->ret * a->cfg.gamma + r;
            stats_update(&a->ret_rms, &a->ret);
            rn = fmax(-a->cfg.clip_obs, fmin(a->cfg.clip_obs, r / sqrt(a->ret_rms.var[0] + 1e-8)));
        }
        b->rew[t] = (float)rn;
        b->done[t] = (unsigned char)done;
        if (done) {
            *sum_returns += *ep_return;
            (*n_episodes)++;
            *ep_return = 0;
            a->ret = 0;
            env->reset(env->user, rng, raw_obs);
            for (int i = 0; i < D; i++) tmp[i] = raw_obs[i];
            stats_update(&a->obs_rms, tmp);
        }
    }
    float nobs[256];
    normalize_obs(a, raw_obs, nobs);
    return evaluate(a, nobs, mean, last_value);
}

static void compute_gae(const fab_ppo *a, rollout *b, float last_value) {
    const fab_ppo_config *c = &a->cfg;
    double gae = 0;
    for (int t = c->n_steps - 1; t >= 0; t--) {
        double next_v = t == c->n_steps - 1 ? last_value : b->val[t + 1];
        double nonterminal = b->done[t] ? 0.0 : 1.0;
        double delta = b->rew[t] + c->gamma * next_v * nonterminal - b->val[t];
        gae = delta + c->gamma * c->gae_lambda * nonterminal * gae;
        b->adv[t] = (float)gae;
        b->ret[t] = (float)(gae + b->val[t]);
    }
}

mc_status fab_ppo_learn(fab_ppo *a, const fab_ppo_env *env, int64_t total_steps, mc_rng *rng,
                        fab_ppo_progress_fn progress, void *progress_user, mc_error *err) {
    if (env->obs_dim != a->obs_dim || env->act_dim != a->act_dim || a->obs_dim > 256 || a->act_dim > 64)
        return mc_error_set(err, MC_ERR_ARG, "ppo: the environment's dimensions differ from the learner's");
    const fab_ppo_config *c = &a->cfg;
    int mb = c->batch_size < c->n_steps ? c->batch_size : c->n_steps;
    rollout b;
    if (rollout_alloc(&b, c->n_steps, a->obs_dim, a->act_dim, mb) != 0)
        return mc_error_set(err, MC_ERR_NOMEM, "out of memory");
    float raw_obs[256];
    double tmp[256];
    env->reset(env->user, rng, raw_obs);
    for (int i = 0; i < a->obs_dim; i++) tmp[i] = raw_obs[i];
    stats_update(&a->obs_rms, tmp);
    a->ret = 0;
    double ep_return = 0;
    mc_status st = MC_OK;
    for (int64_t steps = 0; steps < total_steps && st == MC_OK;) {
        double sum_returns = 0;
        int n_episodes = 0;
        float last_value;
        if ((st = collect(a, env, &b, raw_obs, rng, &ep_return, &sum_returns, &n_episodes, &last_value)) != MC_OK)
            break;
        steps += c->n_steps;
        compute_gae(a, &b, last_value);
        for (int epoch = 0; epoch < c->n_epochs && st == MC_OK; epoch++) {
            for (int i = 0; i < c->n_steps; i++) b.idx[i] = i;
            mc_rng_shuffle(rng, b.idx, c->n_steps);
            for (int s = 0; s + 1 < c->n_steps && st == MC_OK; s += mb) {
                int m = c->n_steps - s < mb ? c->n_steps - s : mb;
                if (m >= 2) st = update_minibatch(a, &b, b.idx + s, m);
            }
        }
        if (progress) progress(progress_user, steps, n_episodes ? sum_returns / n_episodes : NAN);
    }
    rollout_free(&b);
    if (st != MC_OK) return mc_error_set(err, st, "ppo: update failed: %s", mc_status_str(st));
    return MC_OK;
}

/* ---- the policy file ---------------------------------------------------------------------------- */

static char *doubles_json(const double *v, int n) {
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(arr, json_real(v[i]));
    char *s = json_dumps(arr, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(arr);
    return s;
}

mc_status fab_ppo_save(const fab_ppo *a, const char *path, const mc_st_meta *extra, int n_extra, mc_error *err) {
    const fab_ppo_config *c = &a->cfg;
    char *mean = doubles_json(a->obs_rms.mean, a->obs_dim), *var = doubles_json(a->obs_rms.var, a->obs_dim);
    char *rvar = doubles_json(a->ret_rms.var, 1);
    char cfg[512], count[64], rcount[64];
    snprintf(cfg, sizeof cfg,
             "{\"obs_dim\":%d,\"act_dim\":%d,\"n_steps\":%d,\"batch_size\":%d,\"n_epochs\":%d,\"hidden\":%d,"
             "\"lr\":%.17g,\"gamma\":%.17g,\"gae_lambda\":%.17g,\"clip_range\":%.17g,\"ent_coef\":%.17g,"
             "\"vf_coef\":%.17g,\"max_grad_norm\":%.17g,\"clip_obs\":%.17g,\"norm_reward\":%d}",
             a->obs_dim, a->act_dim, c->n_steps, c->batch_size, c->n_epochs, c->hidden, c->lr, c->gamma,
             c->gae_lambda, c->clip_range, c->ent_coef, c->vf_coef, c->max_grad_norm, c->clip_obs, c->norm_reward);
    snprintf(count, sizeof count, "%.17g", a->obs_rms.count);
    snprintf(rcount, sizeof rcount, "%.17g", a->ret_rms.count);
    mc_st_meta meta[16];
    int nm = 0;
    meta[nm++] = (mc_st_meta){"moesuite.ppo", cfg};
    meta[nm++] = (mc_st_meta){"moesuite.obs_mean", mean ? mean : "[]"};
    meta[nm++] = (mc_st_meta){"moesuite.obs_var", var ? var : "[]"};
    meta[nm++] = (mc_st_meta){"moesuite.obs_count", count};
    meta[nm++] = (mc_st_meta){"moesuite.ret_var", rvar ? rvar : "[]"};
    meta[nm++] = (mc_st_meta){"moesuite.ret_count", rcount};
    meta[nm++] = (mc_st_meta){"moesuite.value_arch", mc_model_arch(a->value)};
    for (int i = 0; i < n_extra && nm < 16; i++) meta[nm++] = extra[i];
    mc_st_tensor t[2] = {
        {.name = "log_std", .dtype = MC_F32, .ndim = 1, .shape = {a->act_dim}, .data = a->log_std,
         .nbytes = sizeof(float) * (size_t)a->act_dim},
        {.name = "value_params", .dtype = MC_F32, .ndim = 1, .shape = {a->n_val},
         .data = mc_model_params(a->value), .nbytes = sizeof(float) * (size_t)a->n_val},
    };
    mc_status st = mean && var && rvar ? mc_model_save(a->policy, path, t, 2, meta, nm, err)
                                       : mc_error_set(err, MC_ERR_NOMEM, "out of memory");
    free(mean);
    free(var);
    free(rvar);
    return st;
}

/* Reads a JSON array of exactly n finite numbers from metadata key into v. */
static int meta_doubles(const mc_safetensors *f, const char *key, double *v, int n) {
    const char *s = mc_safetensors_meta(f, key);
    json_t *arr = s ? json_loads(s, 0, NULL) : NULL;
    int ok = json_is_array(arr) && (int)json_array_size(arr) == n;
    for (int i = 0; ok && i < n; i++) {
        json_t *x = json_array_get(arr, (size_t)i);
        ok = json_is_number(x) && isfinite(json_number_value(x));
        if (ok) v[i] = json_number_value(x);
    }
    json_decref(arr);
    return ok ? 0 : -1;
}

static int meta_positive(const mc_safetensors *f, const char *key, double *out) {
    const char *s = mc_safetensors_meta(f, key);
    char *end;
    if (!s) return -1;
    *out = strtod(s, &end);
    return *end == '\0' && isfinite(*out) && *out > 0 ? 0 : -1;
}

mc_status fab_ppo_load(fab_ppo **out, const char *path, mc_error *err) {
    *out = NULL;
    mc_model *policy;
    mc_safetensors *f;
    mc_status st = mc_model_load(&policy, path, &f, err);
    if (st != MC_OK) return st;
    const char *cfg_text = mc_safetensors_meta(f, "moesuite.ppo");
    const char *value_arch = mc_safetensors_meta(f, "moesuite.value_arch");
    json_t *j = cfg_text ? json_loads(cfg_text, 0, NULL) : NULL;
    fab_ppo_config c;
    fab_ppo_config_default(&c);
    int obs_dim = 0, act_dim = 0;
    int ok = j && value_arch &&
             json_unpack(j, "{s:i, s:i, s:i, s:i, s:i, s:i, s:F, s:F, s:F, s:F, s:F, s:F, s:F, s:F, s:i}", "obs_dim",
                         &obs_dim, "act_dim", &act_dim, "n_steps", &c.n_steps, "batch_size", &c.batch_size,
                         "n_epochs", &c.n_epochs, "hidden", &c.hidden, "lr", &c.lr, "gamma", &c.gamma, "gae_lambda",
                         &c.gae_lambda, "clip_range", &c.clip_range, "ent_coef", &c.ent_coef, "vf_coef", &c.vf_coef,
                         "max_grad_norm", &c.max_grad_norm, "clip_obs", &c.clip_obs, "norm_reward",
                         &c.norm_reward) == 0;
    json_decref(j);
    ok = ok && obs_dim >= 1 && obs_dim <= 256 && act_dim >= 1 && act_dim <= 64 &&
         mc_model_input_size(policy) == obs_dim && mc_model_output_size(policy) == act_dim;
    fab_ppo *a = NULL;
    if (!ok) {
        st = mc_error_set(err, MC_ERR_FORMAT, "%s: not a PPO policy (missing or inconsistent \"moesuite.ppo\" metadata)", path);
        goto done;
    }
    if ((st = alloc_learner(&a, obs_dim, act_dim, &c, mc_model_arch(policy), value_arch, err)) != MC_OK) goto done;
    const mc_st_tensor *ls = mc_safetensors_find(f, "log_std"), *vp = mc_safetensors_find(f, "value_params");
    if (!ls || ls->dtype != MC_F32 || ls->ndim != 1 || ls->shape[0] != act_dim || !vp || vp->dtype != MC_F32 ||
        vp->ndim != 1 || vp->shape[0] != a->n_val || mc_model_input_size(a->value) != obs_dim ||
        mc_model_output_size(a->value) != 1) {
        st = mc_error_set(err, MC_ERR_FORMAT, "%s: log_std or value network missing or of the wrong shape", path);
        goto done;
    }
    memcpy(a->log_std, ls->data, ls->nbytes);
    memcpy(mc_model_params(a->value), vp->data, vp->nbytes);
    if ((st = mc_model_copy(a->policy, policy)) != MC_OK) {
        mc_error_set(err, st, "%s: policy network does not match", path);
        goto done;
    }
    if (meta_doubles(f, "moesuite.obs_mean", a->obs_rms.mean, obs_dim) != 0 ||
        meta_doubles(f, "moesuite.obs_var", a->obs_rms.var, obs_dim) != 0 ||
        meta_doubles(f, "moesuite.ret_var", a->ret_rms.var, 1) != 0 ||
        meta_positive(f, "moesuite.obs_count", &a->obs_rms.count) != 0 ||
        meta_positive(f, "moesuite.ret_count", &a->ret_rms.count) != 0) {
        st = mc_error_set(err, MC_ERR_FORMAT, "%s: observation normalisation missing or invalid", path);
        goto done;
    }
    for (int i = 0; i < obs_dim; i++)
        if (!(a->obs_rms.var[i] >= 0)) {
            st = mc_error_set(err, MC_ERR_FORMAT, "%s: negative observation variance", path);
            goto done;
        }
    for (int i = 0; i < act_dim; i++)
        if (!isfinite(a->log_std[i])) {
            st = mc_error_set(err, MC_ERR_FORMAT, "%s: log_std is not finite", path);
            goto done;
        }
    *out = a;
    a = NULL;
done:
    fab_ppo_destroy(a);
    mc_model_destroy(policy);
    mc_safetensors_close(f);
    return st;
}
