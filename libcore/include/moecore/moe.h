/* moe.h: the Mixture-of-Experts layer.
 *
 * For tokens x (T, D):
 *   logits (T, E) = x @ w_router (E, D)^T; scores = softmax(logits) or sigmoid(logits);
 *   each token picks its top-k experts by scores (+ a per-expert selection bias with
 *   auxiliary-loss-free balancing, + Gaussian noise during training for noisy top-k); its gates
 *   are the chosen scores, renormalised to sum to 1 over the k when norm_topk is set;
 *   out[t] = sum over chosen e of gate[t,e] * expert_e(x[t]) + sum over shared experts s of shared_s(x[t]),
 * with each expert a two-layer MLP D -> F -> D (bias, activation between). Dispatch is sparse:
 * (token, expert) pairs are ordered by expert with a counting sort, every expert runs one GEMM on
 * its contiguous block of gathered rows, and results are scattered back weighted by the gates; the
 * cost grows with k, not with E. With a capacity factor c > 0 an expert takes at most
 * ceil(c * T * k / E) pairs (in token order) and drops the rest; c = 0 is dropless.
 *
 * Load balancing (one of): the Switch/GShard auxiliary loss alpha * E * sum_e f_e P_e (f_e the
 * fraction of routed pairs sent to e, P_e the mean score of e); or DeepSeek-V3's
 * auxiliary-loss-free balancing (mc_moe_update_bias after each optimiser step: bias_e +=
 * gamma * sign(mean load - load_e); the bias only affects selection, never the gates, and has no
 * gradient). The router z-loss z_coef * mean_t logsumexp(logits_t)^2 may be added to either. The
 * balance and z losses are part of the layer: backward adds their gradients, and their values are
 * reported in mc_moe_stats for the caller to add to the task loss it logs. */
#ifndef MOECORE_MOE_H
#define MOECORE_MOE_H

#include <stdint.h>

#include "moecore/nn.h"
#include "moecore/rng.h"
#include "moecore/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mc_router_score { MC_ROUTER_SOFTMAX = 0, MC_ROUTER_SIGMOID } mc_router_score;
typedef enum mc_balance { MC_BALANCE_NONE = 0, MC_BALANCE_AUX_LOSS, MC_BALANCE_BIAS } mc_balance;

typedef struct mc_moe_config {
    int d_model;           /* D */
    int d_ff;              /* F, hidden size of each routed expert */
    int n_experts;         /* E routed experts */
    int top_k;             /* k, 1 <= k <= E */
    int n_shared;          /* S always-on shared experts (0 = none) */
    int d_ff_shared;       /* hidden size of each shared expert (0 = d_ff) */
    mc_act act;            /* activation inside the experts */
    mc_router_score score; /* softmax or sigmoid scores */
    int norm_topk;         /* renormalise the k gates to sum to 1 */
    float noise_std;       /* noisy top-k: std of the noise added to selection scores in training */
    mc_balance balance;
    float aux_alpha;       /* weight of the auxiliary balance loss (MC_BALANCE_AUX_LOSS) */
    float bias_gamma;      /* bias update speed (MC_BALANCE_BIAS) */
    float z_coef;          /* router z-loss weight (0 = off) */
    float capacity_factor; /* 0 = dropless */
} mc_moe_config;

/* Sets the defaults: softmax, norm_topk 1, no noise, aux loss alpha 0.01, gamma 0.001, z 0,
 * dropless, GELU; sizes are left to the caller. */
void mc_moe_config_default(mc_moe_config *c);

/* Checks c (sizes positive, 1 <= k <= E, ...); err names the bad field. */
mc_status mc_moe_config_check(const mc_moe_config *c, mc_error *err);

/* Number of parameters, in this order in the flat array:
 *   w_router (E, D); w1 (E, F, D); b1 (E, F); w2 (E, D, F); b2 (E, D);
 *   ws1 (S, Fs, D); bs1 (S, Fs); ws2 (S, D, Fs); bs2 (S, D). */
int64_t mc_moe_num_params(const mc_moe_config *c);

/* Named pointers into a flat parameter (or gradient) array. */
typedef struct mc_moe_weights {
    float *w_router, *w1, *b1, *w2, *b2, *ws1, *bs1, *ws2, *bs2;
} mc_moe_weights;

mc_moe_weights mc_moe_weights_at(const mc_moe_config *c, float *flat);

/* What the last forward pass did, for logging and for the caller's loss. */
typedef struct mc_moe_stats {
    int tokens;
    int64_t *load;        /* (E) pairs routed to each expert (before capacity dropping) */
    int64_t dropped;      /* pairs dropped by the capacity limit */
    double aux_loss;      /* the balance loss value (weighted by aux_alpha), 0 when not used */
    double z_loss;        /* the z-loss value (weighted by z_coef), 0 when off */
    double balance_cv;    /* coefficient of variation of load over experts: 0 = perfectly balanced */
} mc_moe_stats;

typedef struct mc_moe mc_moe;

/* A layer whose parameters and gradients live at params/grads (mc_moe_num_params floats each,
 * owned by the caller, e.g. a model's contiguous arrays; grads may be NULL for inference). The
 * selection bias (E) is owned by the layer and starts at zero. */
mc_status mc_moe_create(mc_moe **out, const mc_moe_config *c, float *params, float *grads, mc_error *err);
void mc_moe_destroy(mc_moe *m); /* accepts NULL */

const mc_moe_config *mc_moe_get_config(const mc_moe *m);

/* PyTorch's nn.Linear initialisation: weights and biases uniform in +-1/sqrt(fan_in). */
void mc_moe_init_params(mc_moe *m, mc_rng *rng);

/* out (T, D) = moe(x (T, D)). In training (train = 1) the pass saves what backward needs (x itself
 * by pointer: keep it unchanged until backward) and
 * applies noise (rng) when noise_std > 0; in evaluation no noise. Returns MC_ERR_NOMEM when its
 * workspace cannot grow. */
mc_status mc_moe_forward(mc_moe *m, float *out, const float *x, int T, int train, mc_rng *rng);

/* dx (T, D) += dL/dx, and the parameter gradients += theirs, for the last training forward, with
 * the balance and z-loss gradients added. dx may be NULL. */
void mc_moe_backward(mc_moe *m, float *dx, const float *dout);

const mc_moe_stats *mc_moe_get_stats(const mc_moe *m);

/* Auxiliary-loss-free balancing: after the optimiser step, moves each expert's selection bias by
 * gamma towards the mean load of the last training forward. No-op for other balance modes. */
void mc_moe_update_bias(mc_moe *m);

/* The selection bias (E), to save and restore with the model. */
float *mc_moe_bias(mc_moe *m);

#ifdef __cplusplus
}
#endif
#endif
