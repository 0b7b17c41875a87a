/* cuda/dropout.cu: inverted dropout on the device. The mask is drawn on the host from the generator
 * passed in, exactly as dropout.c draws it (one uniform number per element in index order), and
 * copied to the device, so CPU and GPU with the same generator state drop the same elements. */
#include <stdlib.h>

#include "context.h"

__global__ void dropout_forward_kernel(float *out, const uint8_t *mask, const float *in, int64_t n, float scale) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        out[i] = mask[i] ? in[i] * scale : 0.0f;
}

__global__ void dropout_backward_kernel(float *din, const float *dout, const uint8_t *mask, int64_t n, float scale) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        din[i] = __fadd_rn(din[i], mask[i] ? __fmul_rn(dout[i], scale) : 0.0f); /* two roundings, as the CPU */
}

extern "C" mc_status mc_cuda_dropout_forward(mc_cuda_ctx *c, float *out, uint8_t *mask, const float *in, int64_t n,
                                             float p, mc_rng *rng) {
    if (!c) return MC_ERR_ARG;
    MC_CU_ARG(c, n >= 0 && p >= 0.0f && p < 1.0f && rng, "bad size, probability or generator");
    if (n == 0) return MC_OK;
    uint8_t *h = (uint8_t *)malloc((size_t)n);
    if (!h) return mc_error_set(&c->err, MC_ERR_NOMEM, "mc_cuda_dropout_forward: out of host memory for the mask");
    for (int64_t i = 0; i < n; i++) h[i] = mc_rng_uniform(rng) >= p;
    mc_status st = mc_cuda_to_device(c, mask, h, (size_t)n);
    free(h);
    if (st != MC_OK) return st;
    dropout_forward_kernel<<<mc_cuda_blocks(n), MC_CUDA_THREADS, 0, c->stream>>>(out, mask, in, n, 1.0f / (1.0f - p));
    MC_CU_LAUNCHED(c, dropout_forward_kernel);
    return MC_OK;
}

extern "C" mc_status mc_cuda_dropout_backward(mc_cuda_ctx *c, float *din, const float *dout, const uint8_t *mask,
                                              int64_t n, float p) {
    if (!c) return MC_ERR_ARG;
    MC_CU_ARG(c, n >= 0 && p >= 0.0f && p < 1.0f, "bad size or probability");
    if (n == 0 || !din) return MC_OK;
    dropout_backward_kernel<<<mc_cuda_blocks(n), MC_CUDA_THREADS, 0, c->stream>>>(din, dout, mask, n, 1.0f / (1.0f - p));
    MC_CU_LAUNCHED(c, dropout_backward_kernel);
    return MC_OK;
}
