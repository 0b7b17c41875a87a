/* moe_cuda.h: the Mixture-of-Experts layer of moe.h on a CUDA device, with the same configuration,
 * the same flat parameter layout (mc_moe_num_params floats, mc_moe_weights_at order) and the same
 * semantics: softmax or sigmoid router, top-k with the selection bias (ties to the lower expert),
 * renormalised gates, noisy top-k, shared experts, capacity with dropping in token order or
 * dropless, the auxiliary balance loss, the auxiliary-loss-free bias update and the z-loss, with
 * their gradients in backward. Dispatch is sparse: (token, expert) pairs are counted and ordered by
 * expert on the device, inputs gathered into expert order, and the experts' GEMMs run as grouped
 * GEMMs (one call per layer of the experts' MLPs); outputs are scattered back weighted by the
 * gates. The router runs in FP32; the experts in the context's math mode.
 *
 * Noise for noisy top-k is drawn on the host from the generator passed in, in the CPU layer's
 * order, so CPU and GPU layers with the same seed make the same choices. */
#ifndef MOECORE_MOE_CUDA_H
#define MOECORE_MOE_CUDA_H

#include "moecore/cuda.h"
#include "moecore/moe.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mc_moe_cuda mc_moe_cuda;

/* A layer on c whose parameters and gradients are device arrays of mc_moe_num_params floats each
 * (grads may be NULL for inference), owned by the caller. The selection bias starts at zero. */
mc_status mc_moe_cuda_create(mc_moe_cuda **out, mc_cuda_ctx *c, const mc_moe_config *cfg, float *params, float *grads,
                             mc_error *err);
void mc_moe_cuda_destroy(mc_moe_cuda *m); /* accepts NULL */

/* out (T, D) = moe(x (T, D)), device arrays. train = 1 keeps what backward needs (x by pointer:
 * keep it unchanged until backward) and applies the noise. Waits for the routing counts (one
 * device-to-host copy) to size the grouped GEMMs. */
mc_status mc_moe_cuda_forward(mc_moe_cuda *m, float *out, const float *x, int T, int train, mc_rng *rng);

/* dx (T, D) += dL/dx (dx may be NULL), and the parameter gradients += theirs, for the last
 * training forward, balance and z-loss gradients included. */
mc_status mc_moe_cuda_backward(mc_moe_cuda *m, float *dx, const float *dout);

/* The statistics of the last forward (host memory, owned by the layer). */
const mc_moe_stats *mc_moe_cuda_get_stats(const mc_moe_cuda *m);

/* As mc_moe_update_bias. */
mc_status mc_moe_cuda_update_bias(mc_moe_cuda *m);

/* The selection bias (E floats), copied to or from host memory, to save and restore it. */
mc_status mc_moe_cuda_get_bias(mc_moe_cuda *m, float *bias);
mc_status mc_moe_cuda_set_bias(mc_moe_cuda *m, const float *bias);

#ifdef __cplusplus
}
#endif
#endif
