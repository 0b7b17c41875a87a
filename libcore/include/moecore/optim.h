/* optim.h: optimisers, learning-rate schedules and gradient clipping over flat float arrays
 * (a model keeps every parameter in one contiguous allocation, and its gradients in another). */
#ifndef MOECORE_OPTIM_H
#define MOECORE_OPTIM_H

#include <stdint.h>

#include "moecore/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mc_optim_kind { MC_OPTIM_SGD = 0, MC_OPTIM_ADAMW } mc_optim_kind;

typedef struct mc_optim_config {
    mc_optim_kind kind;
    float momentum;      /* SGD: heavy-ball momentum as PyTorch's SGD (dampening 0, no Nesterov) */
    float beta1, beta2;  /* AdamW, defaults 0.9, 0.999 */
    float eps;           /* AdamW, default 1e-8 */
} mc_optim_config;

typedef struct mc_optim mc_optim;

/* An optimiser for n parameters; its state (momentum; Adam moments) is zero. NULL when out of
 * memory. Owned by the caller. */
mc_optim *mc_optim_create(const mc_optim_config *cfg, int64_t n);
void mc_optim_destroy(mc_optim *o); /* accepts NULL */

/* Starts an update: increments the step count t (Adam's bias correction uses it). */
void mc_optim_begin_step(mc_optim *o);

/* Updates params[0 .. n) from grads[0 .. n), whose state sits at [offset, offset + n) of the
 * optimiser, with learning rate lr and decoupled weight decay wd (AdamW: p -= lr * wd * p before
 * the Adam update; SGD: wd is added to the gradient as PyTorch's SGD does). Several ranges with
 * different wd make one step (e.g. no decay on biases and norms). */
void mc_optim_update(mc_optim *o, float *params, const float *grads, int64_t offset, int64_t n, float lr, float wd);

/* The step count and the state arrays, for checkpoints: m is the momentum (SGD) or first moment,
 * v the second moment (NULL for SGD); each has n elements. mc_optim_set_step restores t. */
int64_t mc_optim_step_count(const mc_optim *o);
void mc_optim_set_step(mc_optim *o, int64_t t);
float *mc_optim_m(mc_optim *o);
float *mc_optim_v(mc_optim *o);
int64_t mc_optim_size(const mc_optim *o);

/* The learning rate of step (counted from 0): lr * (step + 1) / warmup during the warmup steps,
 * then min_lr + (lr - min_lr) (1 + cos(pi (step - warmup) / (total - warmup))) / 2, and min_lr from
 * step total on. */
typedef struct mc_lr_schedule {
    float lr;
    float min_lr;
    int64_t warmup;
    int64_t total;
} mc_lr_schedule;

float mc_lr_at(const mc_lr_schedule *s, int64_t step);

/* Scales grads (n) so their global L2 norm is at most max_norm (PyTorch's clip_grad_norm_);
 * returns the norm before clipping. */
double mc_clip_grad_norm(float *grads, int64_t n, double max_norm);

#ifdef __cplusplus
}
#endif
#endif
