/* cuda/pool.cu: max and average pooling over 2D and 3D windows and global average pooling on the
 * device, with pool.c's conventions (PyTorch's): padding never wins a max, a NaN always does, and
 * an average divides by the number of input elements inside the window. One thread per output
 * element; the backward passes scatter with atomic adds, since windows may overlap. A 2D pooling
 * runs as a 3D one of depth 1. */
#include "context.h"

/* Sizes as (depth, height, width). */
typedef struct pool_geom3 {
    int64_t planes;
    int in[3], k[3], stride[3], pad[3], out[3];
    int64_t in_sp, out_sp;
} pool_geom3;

static pool_geom3 geom_of(const mc_pool_params *p) {
    pool_geom3 g;
    int lead = 3 - p->dims; /* 2D: depth 1 */
    for (int d = 0; d < 3; d++) {
        int s = d - lead;
        g.in[d] = s < 0 ? 1 : p->in[s];
        g.k[d] = s < 0 ? 1 : p->k[s];
        g.stride[d] = s < 0 ? 1 : p->stride[s];
        g.pad[d] = s < 0 ? 0 : p->pad[s];
        g.out[d] = s < 0 ? 1 : p->out[s];
    }
    g.planes = (int64_t)p->N * p->C;
    g.in_sp = (int64_t)g.in[0] * g.in[1] * g.in[2];
    g.out_sp = (int64_t)g.out[0] * g.out[1] * g.out[2];
    return g;
}

/* The window of output o (within a plane) clipped to the input; returns its element count. */
static __device__ int64_t window_of(const pool_geom3 &g, int64_t o, int lo[3], int hi[3]) {
    int oc[3] = {(int)(o / ((int64_t)g.out[1] * g.out[2])), (int)(o / g.out[2] % g.out[1]), (int)(o % g.out[2])};
    int64_t count = 1;
    for (int d = 0; d < 3; d++) {
        int start = oc[d] * g.stride[d] - g.pad[d];
        lo[d] = start > 0 ? start : 0;
        hi[d] = start + g.k[d] < g.in[d] ? start + g.k[d] : g.in[d];
        count *= hi[d] - lo[d];
    }
    return count;
}

__global__ void pool_forward_kernel(float *out, int32_t *argmax, const float *in, pool_geom3 g, int is_max) {
    for (int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; j < g.planes * g.out_sp;
         j += (int64_t)gridDim.x * blockDim.x) {
        int64_t pl = j / g.out_sp, o = j % g.out_sp;
        const float *x = in + pl * g.in_sp;
        int lo[3], hi[3];
        int64_t count = window_of(g, o, lo, hi);
        int64_t best = -1;
        float s = 0.0f;
        for (int d = lo[0]; d < hi[0]; d++)
            for (int h = lo[1]; h < hi[1]; h++)
                for (int w = lo[2]; w < hi[2]; w++) {
                    int64_t i = ((int64_t)d * g.in[1] + h) * g.in[2] + w;
                    if (is_max) {
                        if (best < 0 || x[i] > x[best] || isnan(x[i])) best = i;
                    } else {
                        s += x[i];
                    }
                }
        if (is_max) {
            out[j] = x[best];
            if (argmax) argmax[j] = (int32_t)best;
        } else {
            out[j] = s / (float)count;
        }
    }
}

__global__ void pool_backward_kernel(float *din, const float *dout, const int32_t *argmax, pool_geom3 g, int is_max) {
    for (int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; j < g.planes * g.out_sp;
         j += (int64_t)gridDim.x * blockDim.x) {
        int64_t pl = j / g.out_sp, o = j % g.out_sp;
        float *dx = din + pl * g.in_sp;
        if (is_max) {
            atomicAdd(dx + argmax[j], dout[j]);
            continue;
        }
        int lo[3], hi[3];
        float v = dout[j] / (float)window_of(g, o, lo, hi);
        for (int d = lo[0]; d < hi[0]; d++)
            for (int h = lo[1]; h < hi[1]; h++)
                for (int w = lo[2]; w < hi[2]; w++) atomicAdd(dx + ((int64_t)d * g.in[1] + h) * g.in[2] + w, v);
    }
}

/* one block a plane: out = mean of the plane, summed in double */
__global__ void global_avgpool_forward_kernel(float *out, const float *in, int64_t planes, int64_t S) {
    for (int64_t pl = blockIdx.x; pl < planes; pl += gridDim.x) {
        double s = 0.0;
        for (int64_t i = threadIdx.x; i < S; i += blockDim.x) s += in[pl * S + i];
        s = mc_block_sum(s);
        if (threadIdx.x == 0) out[pl] = (float)(s / (double)S);
    }
}

__global__ void global_avgpool_backward_kernel(float *din, const float *dout, int64_t planes, int64_t S) {
    for (int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; j < planes * S; j += (int64_t)gridDim.x * blockDim.x)
        din[j] += (float)(dout[j / S] / (double)S);
}

static mc_status check_params(mc_cuda_ctx *c, const mc_pool_params *p, const char *func) {
    if (!p) return mc_cuda_arg_error(c, func, "no parameters");
    mc_pool_params q = *p;
    if (mc_pool_params_init(&q) != MC_OK || q.out[0] != p->out[0] || q.out[1] != p->out[1] || q.out[2] != p->out[2])
        return mc_cuda_arg_error(c, func, "invalid pooling parameters (fill them with mc_pool_params_init)");
    return MC_OK;
}

extern "C" mc_status mc_cuda_pool_forward(mc_cuda_ctx *c, float *out, int32_t *argmax, const float *in,
                                          const mc_pool_params *p) {
    if (!c) return MC_ERR_ARG;
    mc_status st = check_params(c, p, __func__);
    if (st != MC_OK) return st;
    pool_geom3 g = geom_of(p);
    pool_forward_kernel<<<mc_cuda_blocks(g.planes * g.out_sp), MC_CUDA_THREADS, 0, c->stream>>>(out, argmax, in, g,
                                                                                               p->kind == MC_POOL_MAX);
    MC_CU_LAUNCHED(c, pool_forward_kernel);
    return MC_OK;
}

extern "C" mc_status mc_cuda_pool_backward(mc_cuda_ctx *c, float *din, const float *dout, const int32_t *argmax,
                                           const mc_pool_params *p) {
    if (!c) return MC_ERR_ARG;
    mc_status st = check_params(c, p, __func__);
    if (st != MC_OK) return st;
    MC_CU_ARG(c, argmax || p->kind != MC_POOL_MAX, "max pooling needs argmax");
    if (!din) return MC_OK;
    pool_geom3 g = geom_of(p);
    pool_backward_kernel<<<mc_cuda_blocks(g.planes * g.out_sp), MC_CUDA_THREADS, 0, c->stream>>>(din, dout, argmax, g,
                                                                                                p->kind == MC_POOL_MAX);
    MC_CU_LAUNCHED(c, pool_backward_kernel);
    return MC_OK;
}

extern "C" mc_status mc_cuda_global_avgpool_forward(mc_cuda_ctx *c, float *out, const float *in, int N, int C, int64_t S) {
    if (!c) return MC_ERR_ARG;
    MC_CU_ARG(c, N >= 0 && C >= 0 && S > 0, "bad size");
    int64_t planes = (int64_t)N * C;
    if (planes == 0) return MC_OK;
    global_avgpool_forward_kernel<<<(unsigned)(planes > 65536 ? 65536 : planes), MC_CUDA_THREADS, 0, c->stream>>>(
        out, in, planes, S);
    MC_CU_LAUNCHED(c, global_avgpool_forward_kernel);
    return MC_OK;
}

extern "C" mc_status mc_cuda_global_avgpool_backward(mc_cuda_ctx *c, float *din, const float *dout, int N, int C,
                                                     int64_t S) {
    if (!c) return MC_ERR_ARG;
    MC_CU_ARG(c, N >= 0 && C >= 0 && S > 0, "bad size");
    int64_t planes = (int64_t)N * C;
    if (planes == 0 || !din) return MC_OK;
    global_avgpool_backward_kernel<<<mc_cuda_blocks(planes * S), MC_CUDA_THREADS, 0, c->stream>>>(din, dout, planes, S);
    MC_CU_LAUNCHED(c, global_avgpool_backward_kernel);
    return MC_OK;
}
