/* model.h: networks composed of libmoecore layers, described by a JSON architecture, with every
 * parameter in one contiguous array (and the gradients in another), a workspace for activations,
 * and self-describing model files.
 *
 * A network is a plain array of layers, each consuming the previous layer's output; an "add" layer
 * adds the output of an earlier layer (a residual connection). Architecture, per-sample input shape
 * first:
 *   {"input": [C] | [C, H, W] | [C, D, H, W] | [T, C],
 *    "layers": [ {"type": "linear", "out": 64, "bias": true},
 *                {"type": "act", "fn": "relu|gelu|silu|sigmoid|tanh"},
 *                {"type": "layernorm", "eps": 1e-5},
 *                {"type": "dropout", "p": 0.1},
 *                {"type": "moe", "d_ff": 128, "experts": 8, "top_k": 2, "shared": 1, "d_ff_shared": 0,
 *                 "act": "gelu", "score": "softmax|sigmoid", "norm_topk": true, "noise": 0,
 *                 "balance": "aux|bias|none", "aux_alpha": 0.01, "bias_gamma": 0.001, "z_coef": 0,
 *                 "capacity": 0},
 *                {"type": "conv", "out": 16, "k": 3, "stride": 1, "pad": 1, "dil": 1, "groups": 1, "bias": true},
 *                {"type": "batchnorm", "eps": 1e-5, "momentum": 0.1},
 *                {"type": "maxpool" | "avgpool", "k": 2, "stride": 2, "pad": 0},
 *                {"type": "globalavgpool"},
 *                {"type": "se", "reduction": 4},
 *                {"type": "spatial_attention", "k": 7},
 *                {"type": "mhsa", "heads": 4},
 *                {"type": "add", "from": -3},
 *                {"type": "flatten"} ]}
 * "from" counts back from the add layer (-1 = the layer just before it); the two shapes must match.
 * Linear, layernorm, dropout, act and moe act on the last axis of any shape (rows = the rest);
 * conv, batchnorm, pooling, se and spatial_attention on [C, H, W] or [C, D, H, W]; mhsa on [T, C]. */
#ifndef MOECORE_MODEL_H
#define MOECORE_MODEL_H

#include <stdint.h>

#include "moecore/model_io.h"
#include "moecore/moe.h"
#include "moecore/rng.h"
#include "moecore/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MC_MODEL_MAX_LAYERS 256

typedef struct mc_model mc_model;

/* Builds a network from its JSON architecture with zeroed parameters. err names the layer and
 * field at fault. Owned by the caller: mc_model_destroy. */
mc_status mc_model_create(mc_model **out, const char *arch_json, mc_error *err);
void mc_model_destroy(mc_model *m); /* accepts NULL */

/* The architecture as compact JSON (owned by m). */
const char *mc_model_arch(const mc_model *m);

/* PyTorch's default initialisation for every layer (uniform +-1/sqrt(fan_in) for linear and conv
 * weights and biases; ones and zeros for norms), from rng. */
void mc_model_init(mc_model *m, mc_rng *rng);

int64_t mc_model_num_params(const mc_model *m);
float *mc_model_params(mc_model *m);
float *mc_model_grads(mc_model *m);
void mc_model_zero_grad(mc_model *m);

/* Per-sample input and output shapes (ndim, shape[]), without the batch axis. */
int mc_model_input_shape(const mc_model *m, int *shape);
int mc_model_output_shape(const mc_model *m, int *shape);
int64_t mc_model_input_size(const mc_model *m);  /* product of the input shape */
int64_t mc_model_output_size(const mc_model *m);

/* Runs the network on x (N, input shape). *out points at the output (N, output shape), owned by m
 * and valid until the next forward. train = 1 uses batch statistics, dropout and MoE noise and
 * keeps what backward needs; x must then stay unchanged until backward. */
mc_status mc_model_forward(mc_model *m, const float *x, int N, int train, mc_rng *rng, const float **out);

/* Backward of the last training forward from dout (N, output shape): parameter gradients
 * accumulate; when dx is not NULL it receives dL/dx (N, input shape), overwritten. The MoE layers'
 * balance and z-loss gradients are included. */
mc_status mc_model_backward(mc_model *m, const float *dout, float *dx);

/* Sum of the MoE layers' balance and z losses in the last forward (to add to the logged loss). */
double mc_model_aux_loss(const mc_model *m);

/* Expected expert FLOPs per sample of the last forward: for every MoE layer, the multiply-adds of
 * the experts actually run, per sample; a cost term for multi-objective training. */
double mc_model_expert_flops(const mc_model *m);

/* After each optimiser step: the MoE layers' auxiliary-loss-free bias updates. */
void mc_model_after_step(mc_model *m);

/* Which parameters take weight decay: 1 for weights of linear, conv, moe and attention layers, 0 for
 * biases and norm parameters. Calls fn(user, offset, n, decay) for each contiguous range. */
void mc_model_param_ranges(const mc_model *m, void (*fn)(void *user, int64_t offset, int64_t n, int decay),
                           void *user);

/* Copies parameters, batch-norm running statistics and MoE selection biases from src, which must
 * have the same architecture (MC_ERR_ARG otherwise). */
mc_status mc_model_copy(mc_model *dst, const mc_model *src);

/* MoE layers in order (for their statistics); NULL past the last. */
mc_moe *mc_model_moe(mc_model *m, int i);

/* Saves the model as safetensors: one tensor per parameter block ("3.conv.weight", ...), the
 * running statistics of batch norms and the MoE selection biases, the architecture under
 * __metadata__ "moesuite.arch", plus extra tensors (e.g. optimiser state in a checkpoint; names
 * must not start with a digit) and extra metadata entries (e.g. training provenance). */
mc_status mc_model_save(const mc_model *m, const char *path, const mc_st_tensor *extra_tensors, int n_tensors,
                        const mc_st_meta *extra_meta, int n_meta, mc_error *err);

/* Rebuilds a model from a file written by mc_model_save, checking every tensor's presence, dtype
 * and shape against the architecture, and that every floating-point value in the file is finite
 * (a NaN or an infinity: MC_ERR_FORMAT naming the file and the tensor). On success *f_out (if not NULL) keeps the open file for
 * reading further metadata; the caller closes it. */
mc_status mc_model_load(mc_model **out, const char *path, mc_safetensors **f_out, mc_error *err);

#ifdef __cplusplus
}
#endif
#endif
