/* nn.h: the layers of libmoecore on the CPU, each a forward/backward pair in llm.c's style:
 * outputs first, then inputs and weights, then sizes; shapes in the comments; row-major float32;
 * images NCHW and volumes NCDHW, or the blocked layout (mc_layout) where a function says so.
 * Forward writes its outputs (and what backward needs into the buffers the caller passes); backward
 * ACCUMULATES (+=) into every gradient it is given (the _set variants overwrite the input
 * gradient instead), and any gradient pointer may be NULL when not wanted. These are kernels: they
 * trust their callers (the network in model.h checks shapes) and return nothing. OpenMP is their
 * only parallelism; GEMMs go through OpenBLAS and convolutions through oneDNN (with plain reference
 * loops in nn_ref.h for the tests); pooling, normalisation and the rest are OpenMP loops, being
 * memory bound. */
#ifndef MOECORE_NN_H
#define MOECORE_NN_H

#include <stdint.h>

#include "moecore/rng.h"
#include "moecore/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- linear (linear.c) ------------------------------------------------------------------------ */

/* out (N, OC) = in (N, C) @ w (OC, C)^T + b (OC); b may be NULL. */
void mc_linear_forward(float *out, const float *in, const float *w, const float *b, int N, int C, int OC);
/* din (N, C) += dout @ w; dw (OC, C) += dout^T @ in; db (OC) += column sums of dout. */
void mc_linear_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                        const float *w, int N, int C, int OC);

/* ---- activations (activation.c) ----------------------------------------------------------------- */

typedef enum mc_act { MC_ACT_NONE = 0, MC_ACT_RELU, MC_ACT_GELU, MC_ACT_SILU, MC_ACT_SIGMOID, MC_ACT_TANH } mc_act;

const char *mc_act_name(mc_act a);            /* "relu", ... */
int mc_act_parse(const char *name, mc_act *out); /* 0 or -1 */

/* out (n) = act(in (n)); out may equal in. GELU is the exact erf form, as PyTorch's default. */
void mc_act_forward(float *out, const float *in, int64_t n, mc_act a);
/* din (n) += dout * act'(in); out = act(in) is passed too (sigmoid/tanh use it). */
void mc_act_backward(float *din, const float *dout, const float *in, const float *out, int64_t n, mc_act a);
/* din (n) = dout * act'(in), overwritten rather than accumulated. */
void mc_act_backward_set(float *din, const float *dout, const float *in, const float *out, int64_t n, mc_act a);

/* ---- softmax over the last axis (softmax.c) -------------------------------------------------------- */

/* out (R, C) = softmax(in (R, C)) along C, numerically stable. */
void mc_softmax_forward(float *out, const float *in, int R, int C);
/* din (R, C) += (dout - sum(dout * out)) * out. */
void mc_softmax_backward(float *din, const float *dout, const float *out, int R, int C);

/* ---- dropout (dropout.c) ------------------------------------------------------------------------- */

/* Training: mask (n) = 1 with probability 1 - p, out = in * mask / (1 - p). p in [0, 1). */
void mc_dropout_forward(float *out, uint8_t *mask, const float *in, int64_t n, float p, mc_rng *rng);
/* din (n) += dout * mask / (1 - p). */
void mc_dropout_backward(float *din, const float *dout, const uint8_t *mask, int64_t n, float p);

/* ---- layer norm over the last axis (layernorm.c) --------------------------------------------------- */

/* out (N, C) = (in - mean) * rstd * w (C) + b (C); saves mean (N), rstd (N). */
void mc_layernorm_forward(float *out, float *mean, float *rstd, const float *in, const float *w,
                          const float *b, int N, int C, float eps);
void mc_layernorm_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                           const float *w, const float *mean, const float *rstd, int N, int C);

/* ---- activation layouts (layout.c) ------------------------------------------------------------------ */

/* Activations of convolutional stacks come in two layouts. Plain: (N, C, spatial...), row-major.
 * Blocked: oneDNN's nChw16c / nCdhw16c, (N, ceil(C / 16), spatial..., 16): channels in blocks of
 * 16 lanes, innermost; the lanes past C in the last block are padding and hold zeros (every kernel
 * that writes a blocked tensor keeps them zero, and none lets them into statistics or gradients).
 * Inside a network, runs of convolution, batch norm, activation and pooling layers keep their
 * activations blocked, so that the convolutions read and write them without reorders. */
typedef enum mc_layout { MC_LAYOUT_PLAIN = 0, MC_LAYOUT_BLOCKED16 } mc_layout;

#define MC_LAYOUT_BLOCK 16

/* Channels a tensor of C channels occupies in layout l: C plain, C rounded up to 16 blocked. */
int64_t mc_layout_channels(mc_layout l, int C);
/* dst (N, ceil(C / 16), S, 16) = src (N, C, S), padding lanes zeroed. */
void mc_layout_to_blocked(float *dst, const float *src, int N, int C, int64_t S);
/* dst (N, C, S) = src (N, ceil(C / 16), S, 16), padding lanes dropped. */
void mc_layout_to_plain(float *dst, const float *src, int N, int C, int64_t S);

/* ---- batch norm over (N, spatial) per channel (batchnorm.c) ------------------------------------------ */

/* in/out (N, C, S) with S the spatial size (1 for (N, C) inputs). Training: normalise with the
 * batch statistics, save mean (C) and rstd (C), and update running_mean/running_var (C) with
 * momentum (PyTorch's convention: running = (1 - momentum) * running + momentum * batch, with the
 * unbiased batch variance). Evaluation (train = 0): normalise with the running statistics. */
void mc_batchnorm_forward(float *out, float *mean, float *rstd, float *running_mean, float *running_var,
                          const float *in, const float *gamma, const float *beta, int N, int C, int64_t S,
                          float eps, float momentum, int train);
/* Backward of the training-mode forward. */
void mc_batchnorm_backward(float *din, float *dgamma, float *dbeta, const float *dout, const float *in,
                           const float *gamma, const float *mean, const float *rstd, int N, int C, int64_t S);
/* The same two on the blocked layout: in, out, dout, din (N, ceil(C / 16), S, 16); the padding
 * lanes of out are written as zeros. With relu = 1 the forward writes relu(batchnorm(in)) instead;
 * its backward then takes dout after the ReLU and relu_out, the forward's output (NULL: no ReLU),
 * which saves the ReLU's passes over memory. Backward adds into din when acc, else overwrites it
 * (padding lanes zeroed). */
void mc_batchnorm_forward_blocked(float *out, float *mean, float *rstd, float *running_mean, float *running_var,
                                  const float *in, const float *gamma, const float *beta, int N, int C, int64_t S,
                                  float eps, float momentum, int train, int relu);
void mc_batchnorm_backward_blocked(float *din, float *dgamma, float *dbeta, const float *dout, const float *relu_out,
                                   const float *in, const float *gamma, const float *mean, const float *rstd, int N,
                                   int C, int64_t S, int acc);

/* ---- convolution, 2D and 3D (conv.c) -------------------------------------------------------------- */

typedef struct mc_conv_params {
    int dims;       /* 2 (NCHW) or 3 (NCDHW) */
    int N, IC, OC;  /* batch, input and output channels */
    int groups;     /* IC and OC divisible by groups */
    int in[3];      /* input spatial size: {H, W, -} or {D, H, W} */
    int k[3];       /* kernel size */
    int stride[3];
    int pad[3];     /* symmetric zero padding */
    int dil[3];     /* dilation, 1 = none */
    int out[3];     /* output spatial size, filled by mc_conv_params_init */
    mc_layout in_layout, out_layout; /* of in / din and of out / dout; zero = plain */
} mc_conv_params;

/* Checks p and fills p->out: out = (in + 2 pad - dil (k - 1) - 1) / stride + 1. */
mc_status mc_conv_params_init(mc_conv_params *p);

/* out (N, OC, out...) = conv(in (N, IC, in...), w (OC, IC/groups, k...)) + b (OC); b may be NULL. */
void mc_conv_forward(float *out, const float *in, const float *w, const float *b, const mc_conv_params *p);
/* din += dL/din, dw += dL/dw, db += dL/db. */
void mc_conv_backward(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                      const mc_conv_params *p);
/* din = dL/din, overwritten rather than accumulated (saves the pass that adds it in). */
void mc_conv_backward_data_set(float *din, const float *dout, const float *w, const mc_conv_params *p);

/* ---- pooling, 2D and 3D (pool.c) ------------------------------------------------------------------ */

typedef enum mc_pool_kind { MC_POOL_MAX = 0, MC_POOL_AVG } mc_pool_kind;

typedef struct mc_pool_params {
    int dims;       /* 2 or 3 */
    mc_pool_kind kind;
    int N, C;
    int in[3], k[3], stride[3], pad[3];
    int out[3];     /* filled by mc_pool_params_init */
    mc_layout layout; /* of in, out, din, dout and argmax; zero = plain */
} mc_pool_params;

/* Checks p and fills p->out = (in + 2 pad - k) / stride + 1. Average pooling excludes padding. */
mc_status mc_pool_params_init(mc_pool_params *p);

/* out (N, C, out...) = pool(in (N, C, in...)); for max pooling argmax (same size as out) receives
 * the flat index within each input channel plane of the chosen element. In the blocked layout the
 * channels are padded to 16 in all five (argmax too); padding lanes stay zero. */
void mc_pool_forward(float *out, int32_t *argmax, const float *in, const mc_pool_params *p);
void mc_pool_backward(float *din, const float *dout, const int32_t *argmax, const mc_pool_params *p);

/* Global average pooling: out (N, C) = mean over S of in (N, C, S). */
void mc_global_avgpool_forward(float *out, const float *in, int N, int C, int64_t S);
void mc_global_avgpool_backward(float *din, const float *dout, int N, int C, int64_t S);

/* ---- channel attention: squeeze-excitation (attention_se.c) ---------------------------------------- */

/* out (N, C, S) = in * sigmoid(w2 (C, R) @ relu(w1 (R, C) @ avgpool(in) + b1 (R)) + b2 (C)).
 * Saves pooled (N, C), hidden (N, R) after ReLU and gate (N, C) after the sigmoid. */
void mc_se_forward(float *out, float *pooled, float *hidden, float *gate, const float *in, const float *w1,
                   const float *b1, const float *w2, const float *b2, int N, int C, int R, int64_t S);
void mc_se_backward(float *din, float *dw1, float *db1, float *dw2, float *db2, const float *dout,
                    const float *in, const float *w1, const float *w2, const float *pooled, const float *hidden,
                    const float *gate, int N, int C, int R, int64_t S);

/* ---- spatial attention, CBAM (attention_spatial.c) ------------------------------------------------- */

/* desc (N, 2, sp...) = [mean over C, max over C] of in (N, C, sp...); gate (N, 1, sp...) =
 * sigmoid(conv(desc, w (1, 2, k...), b (1)) with "same" padding); out = in * gate. dims 2 or 3,
 * sp = spatial sizes, k odd. Saves desc, argmax_c (N, S: the channel of the max) and gate. */
void mc_spatial_attention_forward(float *out, float *desc, int32_t *argmax_c, float *gate, const float *in,
                                  const float *w, const float *b, int N, int C, int dims, const int *sp, int k);
void mc_spatial_attention_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                                   const float *w, const float *desc, const int32_t *argmax_c,
                                   const float *gate, int N, int C, int dims, const int *sp, int k);

/* ---- multi-head self-attention (attention_mhsa.c) --------------------------------------------------- */

/* x (B, T, C) -> out (B, T, C) with H heads (C divisible by H), no mask:
 * qkv (B, T, 3C) = x @ w_qkv (3C, C)^T + b_qkv (3C); per head h, q, k, v (T, C/H);
 * att (B, H, T, T) = softmax(q k^T / sqrt(C/H)); y (B, T, C) = att v (heads concatenated);
 * out = y @ w_o (C, C)^T + b_o (C). Saves qkv, att and y for backward. */
void mc_mhsa_forward(float *out, float *qkv, float *att, float *y, const float *x, const float *w_qkv,
                     const float *b_qkv, const float *w_o, const float *b_o, int B, int T, int C, int H);
void mc_mhsa_backward(float *dx, float *dw_qkv, float *db_qkv, float *dw_o, float *db_o, const float *dout,
                      const float *x, const float *w_qkv, const float *w_o, const float *qkv, const float *att,
                      const float *y, int B, int T, int C, int H);

#ifdef __cplusplus
}
#endif
#endif
