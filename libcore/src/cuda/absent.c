/* cuda/absent.c: the CUDA API (cuda.h, nn_cuda.h, moe_cuda.h) in a build without the CUDA
 * backend: no context can be made, and every call answers MC_ERR_DEVICE. */
#include "moecore/moe_cuda.h"
#include "moecore/nn_cuda.h"

#define NO_CUDA "this build has no CUDA backend (built with MC_CUDA=OFF or without the toolkit)"

static const mc_error absent_error = {MC_ERR_DEVICE, NO_CUDA};

mc_status mc_cuda_ctx_create(mc_cuda_ctx **out, int device, mc_error *err) {
    (void)device;
    if (out) *out = NULL;
    return mc_error_set(err, MC_ERR_DEVICE, NO_CUDA);
}
void mc_cuda_ctx_destroy(mc_cuda_ctx *c) { (void)c; }
const mc_error *mc_cuda_error(const mc_cuda_ctx *c) {
    (void)c;
    return &absent_error;
}
mc_cuda_math mc_cuda_get_math(const mc_cuda_ctx *c) {
    (void)c;
    return MC_CUDA_MATH_FP32;
}
void mc_cuda_free(mc_cuda_ctx *c, void *p) { (void)c, (void)p; }
mc_status mc_cuda_optim_create(mc_cuda_optim **out, mc_cuda_ctx *c, const mc_optim_config *cfg, int64_t n) {
    (void)c, (void)cfg, (void)n;
    if (out) *out = NULL;
    return MC_ERR_DEVICE;
}
void mc_cuda_optim_destroy(mc_cuda_optim *o) { (void)o; }
void mc_cuda_optim_begin_step(mc_cuda_optim *o) { (void)o; }
mc_status mc_moe_cuda_create(mc_moe_cuda **out, mc_cuda_ctx *c, const mc_moe_config *cfg, float *params, float *grads,
                             mc_error *err) {
    (void)c, (void)cfg, (void)params, (void)grads;
    if (out) *out = NULL;
    return mc_error_set(err, MC_ERR_DEVICE, NO_CUDA);
}
void mc_moe_cuda_destroy(mc_moe_cuda *m) { (void)m; }
const mc_moe_stats *mc_moe_cuda_get_stats(const mc_moe_cuda *m) {
    (void)m;
    return NULL;
}

/* The remaining functions all answer MC_ERR_DEVICE, whatever their arguments. */
#define ABSENT(name, ...)                 \
    mc_status name(__VA_ARGS__) {         \
        return MC_ERR_DEVICE;             \
    }
#pragma GCC diagnostic ignored "-Wunused-parameter"
ABSENT(mc_cuda_set_math, mc_cuda_ctx *c, mc_cuda_math math)
ABSENT(mc_cuda_malloc, mc_cuda_ctx *c, void **out, size_t bytes)
ABSENT(mc_cuda_memset, mc_cuda_ctx *c, void *p, int v, size_t bytes)
ABSENT(mc_cuda_to_device, mc_cuda_ctx *c, void *dst, const void *src, size_t bytes)
ABSENT(mc_cuda_to_host, mc_cuda_ctx *c, void *dst, const void *src, size_t bytes)
ABSENT(mc_cuda_copy, mc_cuda_ctx *c, void *dst, const void *src, size_t bytes)
ABSENT(mc_cuda_sync, mc_cuda_ctx *c)
ABSENT(mc_cuda_gemm, mc_cuda_ctx *c, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
       const float *B, int ldb, float beta, float *C, int ldc)
ABSENT(mc_cuda_gemm_grouped, mc_cuda_ctx *c, int ta, int tb, int G, const mc_cuda_gemm_group *g, float beta)
ABSENT(mc_cuda_linear_forward, mc_cuda_ctx *c, float *out, const float *in, const float *w, const float *b, int N, int C,
       int OC)
ABSENT(mc_cuda_linear_backward, mc_cuda_ctx *c, float *din, float *dw, float *db, const float *dout, const float *in,
       const float *w, int N, int C, int OC)
ABSENT(mc_cuda_act_forward, mc_cuda_ctx *c, float *out, const float *in, int64_t n, mc_act a)
ABSENT(mc_cuda_act_backward, mc_cuda_ctx *c, float *din, const float *dout, const float *in, const float *out, int64_t n,
       mc_act a)
ABSENT(mc_cuda_softmax_forward, mc_cuda_ctx *c, float *out, const float *in, int R, int C)
ABSENT(mc_cuda_softmax_backward, mc_cuda_ctx *c, float *din, const float *dout, const float *out, int R, int C)
ABSENT(mc_cuda_dropout_forward, mc_cuda_ctx *c, float *out, uint8_t *mask, const float *in, int64_t n, float p,
       mc_rng *rng)
ABSENT(mc_cuda_dropout_backward, mc_cuda_ctx *c, float *din, const float *dout, const uint8_t *mask, int64_t n, float p)
ABSENT(mc_cuda_layernorm_forward, mc_cuda_ctx *c, float *out, float *mean, float *rstd, const float *in, const float *w,
       const float *b, int N, int C, float eps)
ABSENT(mc_cuda_layernorm_backward, mc_cuda_ctx *c, float *din, float *dw, float *db, const float *dout, const float *in,
       const float *w, const float *mean, const float *rstd, int N, int C)
ABSENT(mc_cuda_batchnorm_forward, mc_cuda_ctx *c, float *out, float *mean, float *rstd, float *running_mean,
       float *running_var, const float *in, const float *gamma, const float *beta, int N, int C, int64_t S, float eps,
       float momentum, int train)
ABSENT(mc_cuda_batchnorm_backward, mc_cuda_ctx *c, float *din, float *dgamma, float *dbeta, const float *dout,
       const float *in, const float *gamma, const float *mean, const float *rstd, int N, int C, int64_t S)
ABSENT(mc_cuda_conv_forward, mc_cuda_ctx *c, float *out, const float *in, const float *w, const float *b,
       const mc_conv_params *p)
ABSENT(mc_cuda_conv_backward, mc_cuda_ctx *c, float *din, float *dw, float *db, const float *dout, const float *in,
       const float *w, const mc_conv_params *p)
ABSENT(mc_cuda_pool_forward, mc_cuda_ctx *c, float *out, int32_t *argmax, const float *in, const mc_pool_params *p)
ABSENT(mc_cuda_pool_backward, mc_cuda_ctx *c, float *din, const float *dout, const int32_t *argmax,
       const mc_pool_params *p)
ABSENT(mc_cuda_global_avgpool_forward, mc_cuda_ctx *c, float *out, const float *in, int N, int C, int64_t S)
ABSENT(mc_cuda_global_avgpool_backward, mc_cuda_ctx *c, float *din, const float *dout, int N, int C, int64_t S)
ABSENT(mc_cuda_se_forward, mc_cuda_ctx *c, float *out, float *pooled, float *hidden, float *gate, const float *in,
       const float *w1, const float *b1, const float *w2, const float *b2, int N, int C, int R, int64_t S)
ABSENT(mc_cuda_se_backward, mc_cuda_ctx *c, float *din, float *dw1, float *db1, float *dw2, float *db2,
       const float *dout, const float *in, const float *w1, const float *w2, const float *pooled, const float *hidden,
       const float *gate, int N, int C, int R, int64_t S)
ABSENT(mc_cuda_spatial_attention_forward, mc_cuda_ctx *c, float *out, float *desc, int32_t *argmax_c, float *gate,
       const float *in, const float *w, const float *b, int N, int C, int dims, const int *sp, int k)
ABSENT(mc_cuda_spatial_attention_backward, mc_cuda_ctx *c, float *din, float *dw, float *db, const float *dout,
       const float *in, const float *w, const float *desc, const int32_t *argmax_c, const float *gate, int N, int C,
       int dims, const int *sp, int k)
ABSENT(mc_cuda_mse_loss, mc_cuda_ctx *c, double *loss, float *grad, float scale, const float *pred, const float *target,
       int64_t n)
ABSENT(mc_cuda_huber_loss, mc_cuda_ctx *c, double *loss, float *grad, float scale, const float *pred,
       const float *target, int64_t n, float delta)
ABSENT(mc_cuda_bce_logits_loss, mc_cuda_ctx *c, double *loss, float *grad, float scale, const float *logits,
       const float *target, int64_t n, float pos_weight)
ABSENT(mc_cuda_cross_entropy_loss, mc_cuda_ctx *c, double *loss, float *grad, float scale, const float *logits,
       const int32_t *labels, int N, int K)
ABSENT(mc_cuda_focal_loss, mc_cuda_ctx *c, double *loss, float *grad, float scale, const float *logits,
       const float *target, int64_t n, float alpha, float gamma)
ABSENT(mc_cuda_optim_update, mc_cuda_optim *o, float *params, const float *grads, int64_t offset, int64_t n, float lr,
       float wd)
ABSENT(mc_cuda_clip_grad_norm, mc_cuda_ctx *c, double *norm, float *grads, int64_t n, double max_norm)
ABSENT(mc_moe_cuda_forward, mc_moe_cuda *m, float *out, const float *x, int T, int train, mc_rng *rng)
ABSENT(mc_moe_cuda_backward, mc_moe_cuda *m, float *dx, const float *dout)
ABSENT(mc_moe_cuda_update_bias, mc_moe_cuda *m)
ABSENT(mc_moe_cuda_get_bias, mc_moe_cuda *m, float *bias)
ABSENT(mc_moe_cuda_set_bias, mc_moe_cuda *m, const float *bias)
