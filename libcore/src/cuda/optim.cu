/* cuda/optim.cu: optim.h's optimisers with their state on the device: one fused kernel per
 * update (AdamW: decoupled decay, both moments, bias-corrected step; SGD with momentum), the
 * scalars computed on the host exactly as optim.c does, and the operations in optim.c's order with
 * explicit roundings (no fused multiply-add), so a step gives the CPU's result bit for bit. Global
 * norm clipping as clip_grad_norm_. */
#include <math.h>
#include <stdlib.h>

#include "context.h"

struct mc_cuda_optim {
    mc_cuda_ctx *c;
    mc_optim_config cfg;
    int64_t n, t;
    float *m, *v; /* device, n each; v only for AdamW */
};

/* p *= decay; m += w1 (g - m); v = beta2 v + w2 g^2; p -= step m / (sqrt(v) / c2_sqrt + eps) */
__global__ void adamw_kernel(float *p, const float *g, float *m, float *v, int64_t n, float decay, float w1, float w2,
                             float beta2, float eps, float step, float c2_sqrt) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float pi = __fmul_rn(p[i], decay), gi = g[i];
        float mi = __fadd_rn(m[i], __fmul_rn(w1, __fsub_rn(gi, m[i])));
        float vi = __fadd_rn(__fmul_rn(beta2, v[i]), __fmul_rn(w2, __fmul_rn(gi, gi)));
        float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), c2_sqrt), eps);
        p[i] = __fsub_rn(pi, __fmul_rn(step, __fdiv_rn(mi, denom)));
        m[i] = mi;
        v[i] = vi;
    }
}

/* d = g + wd p; with momentum buf = mu buf + d, d = buf; p -= lr d */
__global__ void sgd_kernel(float *p, const float *g, float *m, int64_t n, float lr, float wd, float mu) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float d = __fadd_rn(g[i], __fmul_rn(wd, p[i]));
        if (mu != 0.0f) {
            m[i] = __fadd_rn(__fmul_rn(mu, m[i]), d);
            d = m[i];
        }
        p[i] = __fsub_rn(p[i], __fmul_rn(lr, d));
    }
}

__global__ void scale_kernel(float *v, int64_t n, float s) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        v[i] *= s;
}

extern "C" mc_status mc_cuda_optim_create(mc_cuda_optim **out, mc_cuda_ctx *c, const mc_optim_config *cfg, int64_t n) {
    if (!out || !c) return MC_ERR_ARG;
    *out = NULL;
    MC_CU_ARG(c, cfg && n >= 0, "no configuration or negative size");
    mc_cuda_optim *o = (mc_cuda_optim *)calloc(1, sizeof *o);
    if (!o) return mc_error_set(&c->err, MC_ERR_NOMEM, "mc_cuda_optim_create: out of host memory");
    o->c = c;
    o->cfg = *cfg;
    o->n = n;
    size_t bytes = ((size_t)n + 1) * sizeof(float);
    mc_status st = mc_cuda_check(c, cudaMalloc((void **)&o->m, bytes), "cudaMalloc(m)", __FILE__, __LINE__);
    if (st == MC_OK && cfg->kind == MC_OPTIM_ADAMW)
        st = mc_cuda_check(c, cudaMalloc((void **)&o->v, bytes), "cudaMalloc(v)", __FILE__, __LINE__);
    if (st == MC_OK) st = mc_cuda_check(c, cudaMemsetAsync(o->m, 0, bytes, c->stream), "cudaMemsetAsync(m)", __FILE__, __LINE__);
    if (st == MC_OK && o->v)
        st = mc_cuda_check(c, cudaMemsetAsync(o->v, 0, bytes, c->stream), "cudaMemsetAsync(v)", __FILE__, __LINE__);
    if (st != MC_OK) {
        mc_cuda_optim_destroy(o);
        return st;
    }
    *out = o;
    return MC_OK;
}

extern "C" void mc_cuda_optim_destroy(mc_cuda_optim *o) {
    if (!o) return;
    cudaStreamSynchronize(o->c->stream);
    cudaFree(o->m);
    cudaFree(o->v);
    free(o);
}

extern "C" void mc_cuda_optim_begin_step(mc_cuda_optim *o) { o->t++; }

extern "C" mc_status mc_cuda_optim_update(mc_cuda_optim *o, float *params, const float *grads, int64_t offset, int64_t n,
                                          float lr, float wd) {
    if (!o) return MC_ERR_ARG;
    mc_cuda_ctx *c = o->c;
    MC_CU_ARG(c, offset >= 0 && n >= 0 && offset + n <= o->n, "range outside the optimiser's state");
    if (n == 0) return MC_OK;
    if (o->cfg.kind == MC_OPTIM_SGD) {
        sgd_kernel<<<mc_cuda_blocks(n), MC_CUDA_THREADS, 0, c->stream>>>(params, grads, o->m + offset, n, lr, wd,
                                                                         o->cfg.momentum);
        MC_CU_LAUNCHED(c, sgd_kernel);
        return MC_OK;
    }
    const double b1 = o->cfg.beta1, b2 = o->cfg.beta2, t = (double)o->t;
    const float decay = (float)(1.0 - (double)lr * wd), w1 = (float)(1.0 - b1), w2 = (float)(1.0 - b2);
    const float step = (float)(lr / (1.0 - pow(b1, t))), c2_sqrt = (float)sqrt(1.0 - pow(b2, t));
    adamw_kernel<<<mc_cuda_blocks(n), MC_CUDA_THREADS, 0, c->stream>>>(params, grads, o->m + offset, o->v + offset, n,
                                                                       decay, w1, w2, o->cfg.beta2, o->cfg.eps, step,
                                                                       c2_sqrt);
    MC_CU_LAUNCHED(c, adamw_kernel);
    return MC_OK;
}

extern "C" mc_status mc_cuda_clip_grad_norm(mc_cuda_ctx *c, double *norm, float *grads, int64_t n, double max_norm) {
    if (!c || !norm) return MC_ERR_ARG;
    MC_CU_ARG(c, n >= 0, "negative size");
    double ss;
    mc_status st = mc_cuda_sum_squares(c, grads, n, &ss);
    if (st != MC_OK) return st;
    *norm = sqrt(ss);
    const double coef = max_norm / (*norm + 1e-6);
    if (isfinite(*norm) && coef < 1.0) {
        scale_kernel<<<mc_cuda_blocks(n), MC_CUDA_THREADS, 0, c->stream>>>(grads, n, (float)coef);
        MC_CU_LAUNCHED(c, scale_kernel);
    }
    return MC_OK;
}
