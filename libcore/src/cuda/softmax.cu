/* cuda/softmax.cu: softmax over the last axis on the device, forward and backward: one block a
 * row, sums in double with a fixed tree, so results do not depend on the launch. */
#include <float.h>

#include "context.h"

/* The largest of each thread's value over the block. */
static __device__ float block_max(float v) {
    __shared__ float s[MC_CUDA_THREADS];
    s[threadIdx.x] = v;
    __syncthreads();
    for (int half = MC_CUDA_THREADS / 2; half > 0; half /= 2) {
        if ((int)threadIdx.x < half) s[threadIdx.x] = fmaxf(s[threadIdx.x], s[threadIdx.x + half]);
        __syncthreads();
    }
    float m = s[0];
    __syncthreads();
    return m;
}

__global__ void softmax_forward_kernel(float *out, const float *in, int R, int C) {
    for (int r = blockIdx.x; r < R; r += gridDim.x) {
        const float *x = in + (int64_t)r * C;
        float *y = out + (int64_t)r * C;
        float mx = -FLT_MAX;
        for (int c = threadIdx.x; c < C; c += blockDim.x) mx = fmaxf(mx, x[c]);
        mx = block_max(mx);
        double sum = 0.0;
        for (int c = threadIdx.x; c < C; c += blockDim.x) {
            float e = expf(x[c] - mx);
            y[c] = e;
            sum += e;
        }
        double inv = 1.0 / mc_block_sum(sum);
        for (int c = threadIdx.x; c < C; c += blockDim.x) y[c] = (float)(y[c] * inv);
    }
}

__global__ void softmax_backward_kernel(float *din, const float *dout, const float *out, int R, int C) {
    for (int r = blockIdx.x; r < R; r += gridDim.x) {
        const float *g = dout + (int64_t)r * C, *y = out + (int64_t)r * C;
        float *d = din + (int64_t)r * C;
        double dot = 0.0;
        for (int c = threadIdx.x; c < C; c += blockDim.x) dot += (double)g[c] * y[c];
        dot = mc_block_sum(dot);
        for (int c = threadIdx.x; c < C; c += blockDim.x) d[c] += (float)((g[c] - dot) * y[c]);
    }
}

static unsigned row_blocks(int R) { return (unsigned)(R < 1 ? 1 : R > 65536 ? 65536 : R); }

extern "C" mc_status mc_cuda_softmax_forward(mc_cuda_ctx *c, float *out, const float *in, int R, int C) {
    if (!c) return MC_ERR_ARG;
    MC_CU_ARG(c, R >= 0 && C >= 0, "negative size");
    if (R == 0 || C == 0) return MC_OK;
    softmax_forward_kernel<<<row_blocks(R), MC_CUDA_THREADS, 0, c->stream>>>(out, in, R, C);
    MC_CU_LAUNCHED(c, softmax_forward_kernel);
    return MC_OK;
}

extern "C" mc_status mc_cuda_softmax_backward(mc_cuda_ctx *c, float *din, const float *dout, const float *out, int R,
                                              int C) {
    if (!c) return MC_ERR_ARG;
    MC_CU_ARG(c, R >= 0 && C >= 0, "negative size");
    if (R == 0 || C == 0 || !din) return MC_OK;
    softmax_backward_kernel<<<row_blocks(R), MC_CUDA_THREADS, 0, c->stream>>>(din, dout, out, R, C);
    MC_CU_LAUNCHED(c, softmax_backward_kernel);
    return MC_OK;
}
