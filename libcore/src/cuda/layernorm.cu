/* cuda/layernorm.cu: layer normalisation over the last axis on the device, PyTorch's semantics
 * (biased variance, eps inside the square root). Forward and din: one block a row, statistics in
 * double; dw and db: one thread a feature walking the rows in order. */
#include "context.h"

__global__ void layernorm_forward_kernel(float *out, float *mean, float *rstd, const float *in, const float *w,
                                         const float *b, int N, int C, float eps) {
    for (int n = blockIdx.x; n < N; n += gridDim.x) {
        const float *x = in + (int64_t)n * C;
        float *y = out + (int64_t)n * C;
        double s = 0.0;
        for (int c = threadIdx.x; c < C; c += blockDim.x) s += x[c];
        double m = mc_block_sum(s) / C, v = 0.0;
        for (int c = threadIdx.x; c < C; c += blockDim.x) v += (x[c] - m) * (x[c] - m);
        v = mc_block_sum(v) / C;
        float r = (float)(1.0 / sqrt(v + eps)), mf = (float)m;
        if (threadIdx.x == 0) {
            mean[n] = mf;
            rstd[n] = r;
        }
        for (int c = threadIdx.x; c < C; c += blockDim.x) y[c] = (x[c] - mf) * r * w[c] + b[c];
    }
}

/* din = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), dxhat = dout * w */
__global__ void layernorm_din_kernel(float *din, const float *dout, const float *in, const float *w,
                                     const float *mean, const float *rstd, int N, int C) {
    for (int n = blockIdx.x; n < N; n += gridDim.x) {
        const float *x = in + (int64_t)n * C, *g = dout + (int64_t)n * C;
        float *d = din + (int64_t)n * C;
        double m = mean[n], r = rstd[n], a = 0.0, bs = 0.0;
        for (int c = threadIdx.x; c < C; c += blockDim.x) {
            double xh = (x[c] - m) * r, dn = (double)g[c] * w[c];
            a += dn;
            bs += dn * xh;
        }
        a = mc_block_sum(a) / C;
        bs = mc_block_sum(bs) / C;
        for (int c = threadIdx.x; c < C; c += blockDim.x) {
            double xh = (x[c] - m) * r;
            d[c] += (float)(((double)g[c] * w[c] - a - xh * bs) * r);
        }
    }
}

__global__ void layernorm_dwdb_kernel(float *dw, float *db, const float *dout, const float *in, const float *mean,
                                      const float *rstd, int N, int C) {
    for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < C; c += gridDim.x * blockDim.x) {
        float sw = dw ? dw[c] : 0.0f, sb = db ? db[c] : 0.0f;
        for (int n = 0; n < N; n++) {
            float g = dout[(int64_t)n * C + c];
            sw += g * ((in[(int64_t)n * C + c] - mean[n]) * rstd[n]);
            sb += g;
        }
        if (dw) dw[c] = sw;
        if (db) db[c] = sb;
    }
}

static unsigned row_blocks(int R) { return (unsigned)(R < 1 ? 1 : R > 65536 ? 65536 : R); }

extern "C" mc_status mc_cuda_layernorm_forward(mc_cuda_ctx *c, float *out, float *mean, float *rstd, const float *in,
                                               const float *w, const float *b, int N, int C, float eps) {
    if (!c) return MC_ERR_ARG;
    MC_CU_ARG(c, N >= 0 && C > 0, "bad size");
    if (N == 0) return MC_OK;
    layernorm_forward_kernel<<<row_blocks(N), MC_CUDA_THREADS, 0, c->stream>>>(out, mean, rstd, in, w, b, N, C, eps);
    MC_CU_LAUNCHED(c, layernorm_forward_kernel);
    return MC_OK;
}

extern "C" mc_status mc_cuda_layernorm_backward(mc_cuda_ctx *c, float *din, float *dw, float *db, const float *dout,
                                                const float *in, const float *w, const float *mean, const float *rstd,
                                                int N, int C) {
    if (!c) return MC_ERR_ARG;
    MC_CU_ARG(c, N >= 0 && C > 0, "bad size");
    if (N == 0) return MC_OK;
    if (dw || db) {
        layernorm_dwdb_kernel<<<mc_cuda_blocks(C), MC_CUDA_THREADS, 0, c->stream>>>(dw, db, dout, in, mean, rstd, N, C);
        MC_CU_LAUNCHED(c, layernorm_dwdb_kernel);
    }
    if (din) {
        layernorm_din_kernel<<<row_blocks(N), MC_CUDA_THREADS, 0, c->stream>>>(din, dout, in, w, mean, rstd, N, C);
        MC_CU_LAUNCHED(c, layernorm_din_kernel);
    }
    return MC_OK;
}
