/* nn_cuda.h: the layers, losses and optimisers of nn.h, loss.h and optim.h on a CUDA device. Each
 * function mirrors its CPU counterpart one for one: same arguments in the same order with the same
 * meaning and shapes, except that the context comes first, every array is a device pointer, and
 * the function returns a status (the CPU kernels return nothing, the losses their value, which
 * here goes to *loss). Forward writes; backward accumulates (+=) into every gradient it is given,
 * and any gradient pointer may be NULL. Work is queued on the context's stream in order; a
 * function returns once its work is queued, except the losses and the gradient norm, which wait
 * for their value. GEMMs go through cuBLAS (in the context's math mode), convolutions through
 * cuDNN, everything else through our kernels. Self-attention has no device version yet. Without
 * the CUDA backend every function returns MC_ERR_DEVICE. */
#ifndef MOECORE_NN_CUDA_H
#define MOECORE_NN_CUDA_H

#include <stdint.h>

#include "moecore/cuda.h"
#include "moecore/nn.h"
#include "moecore/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- GEMM through cuBLAS (cuda/blas.cu) ------------------------------------------------------------ */

/* Row-major C (M, N) = alpha op(A) op(B) + beta C, op(A) (M, K), op(B) (K, N); ta/tb: A is stored
 * transposed as (K, M) with leading dimension lda, likewise B as (N, K). Context's math mode. */
mc_status mc_cuda_gemm(mc_cuda_ctx *c, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                       const float *B, int ldb, float beta, float *C, int ldc);

/* One GEMM of a group: contiguous row-major matrices, op(A) (M, K), op(B) (K, N), C (M, N). */
typedef struct mc_cuda_gemm_group {
    int M, N, K;
    const float *A, *B;
    float *C;
} mc_cuda_gemm_group;

/* C_g = op(A_g) op(B_g) + beta C_g for g in [0, G), with the same ta/tb for all, as one grouped
 * GEMM (cublasGemmGroupedBatchedEx) where cuBLAS has it for the math mode, else one GEMM per
 * group. Groups with M, N or K of 0 are skipped. */
mc_status mc_cuda_gemm_grouped(mc_cuda_ctx *c, int ta, int tb, int G, const mc_cuda_gemm_group *g, float beta);

/* ---- linear (cuda/linear.cu) ------------------------------------------------------------------- */

/* out (N, OC) = in (N, C) @ w (OC, C)^T + b (OC); b may be NULL. */
mc_status mc_cuda_linear_forward(mc_cuda_ctx *c, float *out, const float *in, const float *w, const float *b, int N,
                                 int C, int OC);
/* din (N, C) += dout @ w; dw (OC, C) += dout^T @ in; db (OC) += column sums of dout. */
mc_status mc_cuda_linear_backward(mc_cuda_ctx *c, float *din, float *dw, float *db, const float *dout, const float *in,
                                  const float *w, int N, int C, int OC);

/* ---- activations (cuda/activation.cu) ----------------------------------------------------------- */

/* out (n) = act(in (n)); out may equal in. */
mc_status mc_cuda_act_forward(mc_cuda_ctx *c, float *out, const float *in, int64_t n, mc_act a);
/* din (n) += dout * act'(in), with out = act(in). */
mc_status mc_cuda_act_backward(mc_cuda_ctx *c, float *din, const float *dout, const float *in, const float *out,
                               int64_t n, mc_act a);

/* ---- softmax over the last axis (cuda/softmax.cu) ------------------------------------------------- */

mc_status mc_cuda_softmax_forward(mc_cuda_ctx *c, float *out, const float *in, int R, int C);
mc_status mc_cuda_softmax_backward(mc_cuda_ctx *c, float *din, const float *dout, const float *out, int R, int C);

/* ---- dropout (cuda/dropout.cu) --------------------------------------------------------------------------- */

/* As mc_dropout_forward; mask (n bytes) is device memory. The mask is drawn on the host from rng in
 * the CPU's order and copied over, so both backends drop the same elements. */
mc_status mc_cuda_dropout_forward(mc_cuda_ctx *c, float *out, uint8_t *mask, const float *in, int64_t n, float p,
                                  mc_rng *rng);
mc_status mc_cuda_dropout_backward(mc_cuda_ctx *c, float *din, const float *dout, const uint8_t *mask, int64_t n,
                                   float p);

/* ---- layer norm over the last axis (cuda/layernorm.cu) ------------------------------------------- */

mc_status mc_cuda_layernorm_forward(mc_cuda_ctx *c, float *out, float *mean, float *rstd, const float *in,
                                    const float *w, const float *b, int N, int C, float eps);
mc_status mc_cuda_layernorm_backward(mc_cuda_ctx *c, float *din, float *dw, float *db, const float *dout,
                                     const float *in, const float *w, const float *mean, const float *rstd, int N,
                                     int C);

/* ---- batch norm over (N, spatial) per channel (cuda/batchnorm.cu) --------------------------------- */

/* As mc_batchnorm_forward: training (batch statistics, running update) or evaluation (train = 0). */
mc_status mc_cuda_batchnorm_forward(mc_cuda_ctx *c, float *out, float *mean, float *rstd, float *running_mean,
                                    float *running_var, const float *in, const float *gamma, const float *beta,
                                    int N, int C, int64_t S, float eps, float momentum, int train);
mc_status mc_cuda_batchnorm_backward(mc_cuda_ctx *c, float *din, float *dgamma, float *dbeta, const float *dout,
                                     const float *in, const float *gamma, const float *mean, const float *rstd,
                                     int N, int C, int64_t S);

/* ---- convolution, 2D and 3D, through cuDNN (cuda/conv.cu) ------------------------------------------ */

/* p as filled by mc_conv_params_init. The algorithm for each shape, direction and math mode is
 * chosen once (cuDNN's heuristics) and cached on the context. */
mc_status mc_cuda_conv_forward(mc_cuda_ctx *c, float *out, const float *in, const float *w, const float *b,
                               const mc_conv_params *p);
mc_status mc_cuda_conv_backward(mc_cuda_ctx *c, float *din, float *dw, float *db, const float *dout, const float *in,
                                const float *w, const mc_conv_params *p);

/* ---- pooling, 2D and 3D (cuda/pool.cu) --------------------------------------------------------------- */

/* As mc_pool_forward: argmax (same size as out) receives, for max pooling, the flat index within
 * each input plane of the chosen element; it may be NULL for average pooling. */
mc_status mc_cuda_pool_forward(mc_cuda_ctx *c, float *out, int32_t *argmax, const float *in, const mc_pool_params *p);
mc_status mc_cuda_pool_backward(mc_cuda_ctx *c, float *din, const float *dout, const int32_t *argmax,
                                const mc_pool_params *p);
mc_status mc_cuda_global_avgpool_forward(mc_cuda_ctx *c, float *out, const float *in, int N, int C, int64_t S);
mc_status mc_cuda_global_avgpool_backward(mc_cuda_ctx *c, float *din, const float *dout, int N, int C, int64_t S);

/* ---- channel attention: squeeze-excitation (cuda/attention_se.cu) ------------------------------------ */

mc_status mc_cuda_se_forward(mc_cuda_ctx *c, float *out, float *pooled, float *hidden, float *gate, const float *in,
                             const float *w1, const float *b1, const float *w2, const float *b2, int N, int C, int R,
                             int64_t S);
mc_status mc_cuda_se_backward(mc_cuda_ctx *c, float *din, float *dw1, float *db1, float *dw2, float *db2,
                              const float *dout, const float *in, const float *w1, const float *w2, const float *pooled,
                              const float *hidden, const float *gate, int N, int C, int R, int64_t S);

/* ---- spatial attention, CBAM (cuda/attention_spatial.cu) --------------------------------------------- */

/* As mc_spatial_attention_forward/backward; argmax_c (N, S) is device memory. */
mc_status mc_cuda_spatial_attention_forward(mc_cuda_ctx *c, float *out, float *desc, int32_t *argmax_c, float *gate,
                                            const float *in, const float *w, const float *b, int N, int C, int dims,
                                            const int *sp, int k);
mc_status mc_cuda_spatial_attention_backward(mc_cuda_ctx *c, float *din, float *dw, float *db, const float *dout,
                                             const float *in, const float *w, const float *desc,
                                             const int32_t *argmax_c, const float *gate, int N, int C, int dims,
                                             const int *sp, int k);

/* ---- losses (cuda/loss.cu): *loss receives the value loss.h's function returns ----------------------- */

mc_status mc_cuda_mse_loss(mc_cuda_ctx *c, double *loss, float *grad, float scale, const float *pred,
                           const float *target, int64_t n);
mc_status mc_cuda_huber_loss(mc_cuda_ctx *c, double *loss, float *grad, float scale, const float *pred,
                             const float *target, int64_t n, float delta);
mc_status mc_cuda_bce_logits_loss(mc_cuda_ctx *c, double *loss, float *grad, float scale, const float *logits,
                                  const float *target, int64_t n, float pos_weight);
mc_status mc_cuda_cross_entropy_loss(mc_cuda_ctx *c, double *loss, float *grad, float scale, const float *logits,
                                     const int32_t *labels, int N, int K);
mc_status mc_cuda_focal_loss(mc_cuda_ctx *c, double *loss, float *grad, float scale, const float *logits,
                             const float *target, int64_t n, float alpha, float gamma);

/* ---- optimisers (cuda/optim.cu): optim.h's mc_optim with its state on the device -------------------- */

typedef struct mc_cuda_optim mc_cuda_optim;

/* SGD-momentum or AdamW for n parameters, state zeroed on the device. Owned by the caller. */
mc_status mc_cuda_optim_create(mc_cuda_optim **out, mc_cuda_ctx *c, const mc_optim_config *cfg, int64_t n);
void mc_cuda_optim_destroy(mc_cuda_optim *o); /* accepts NULL */
void mc_cuda_optim_begin_step(mc_cuda_optim *o);
/* As mc_optim_update, one fused kernel: params (device) updated from grads (device) with the
 * state at [offset, offset + n), learning rate lr, decoupled weight decay wd. */
mc_status mc_cuda_optim_update(mc_cuda_optim *o, float *params, const float *grads, int64_t offset, int64_t n,
                               float lr, float wd);

/* As mc_clip_grad_norm: scales grads (n, device) to global L2 norm at most max_norm; *norm gets
 * the norm before clipping (non-finite: grads left as they are). */
mc_status mc_cuda_clip_grad_norm(mc_cuda_ctx *c, double *norm, float *grads, int64_t n, double max_norm);

#ifdef __cplusplus
}
#endif
#endif
