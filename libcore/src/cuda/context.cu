/* cuda/context.cu: the CUDA backend's context: device, stream, cuBLAS and cuDNN handles, math
 * mode, the scratch workspace and the last error. */
#include <stdlib.h>
#include <string.h>

#include "context.h"

/* Creates every part of c; on failure the error is on c and the caller destroys it. */
static mc_status ctx_init(mc_cuda_ctx *c, int device) {
    int n = 0;
    MC_CU(c, cudaGetDeviceCount(&n));
    if (device < 0 || device >= n) return mc_error_set(&c->err, MC_ERR_DEVICE, "CUDA device %d: there are %d", device, n);
    c->device = device;
    MC_CU(c, cudaSetDevice(device));
    MC_CU(c, cudaStreamCreate(&c->stream));
    MC_CU(c, cublasCreate(&c->blas));
    MC_CU(c, cublasSetStream(c->blas, c->stream));
    MC_CU(c, cudnnCreate(&c->dnn));
    MC_CU(c, cudnnSetStream(c->dnn, c->stream));
    MC_CU(c, cudaMalloc((void **)&c->partials, MC_CUDA_PARTIALS * sizeof(double)));
    return MC_OK;
}

extern "C" mc_status mc_cuda_ctx_create(mc_cuda_ctx **out, int device, mc_error *err) {
    if (!out) return mc_error_set(err, MC_ERR_ARG, "mc_cuda_ctx_create: no output pointer");
    *out = NULL;
    mc_cuda_ctx *c = (mc_cuda_ctx *)calloc(1, sizeof *c);
    if (!c) return mc_error_set(err, MC_ERR_NOMEM, "mc_cuda_ctx_create: out of host memory");
    mc_status st = ctx_init(c, device);
    if (st != MC_OK) {
        if (err) *err = c->err;
        mc_cuda_ctx_destroy(c);
        return st;
    }
    *out = c;
    return MC_OK;
}

extern "C" void mc_cuda_ctx_destroy(mc_cuda_ctx *c) {
    if (!c) return;
    if (c->stream) cudaStreamSynchronize(c->stream);
    cudaFree(c->work);
    cudaFree(c->partials);
    cudaFree(c->group_ptrs);
    if (c->dnn) cudnnDestroy(c->dnn);
    if (c->blas) cublasDestroy(c->blas);
    if (c->stream) cudaStreamDestroy(c->stream);
    free(c->conv_algos);
    free(c);
}

extern "C" const mc_error *mc_cuda_error(const mc_cuda_ctx *c) { return &c->err; }

extern "C" mc_status mc_cuda_set_math(mc_cuda_ctx *c, mc_cuda_math math) {
    if (!c) return MC_ERR_ARG;
    MC_CU_ARG(c, math >= MC_CUDA_MATH_FP32 && math <= MC_CUDA_MATH_BF16, "unknown math mode");
    c->math = math;
    return MC_OK;
}

extern "C" mc_cuda_math mc_cuda_get_math(const mc_cuda_ctx *c) { return c->math; }

mc_status mc_cuda_scratch(mc_cuda_ctx *c, size_t bytes, void **out) {
    if (bytes > c->work_bytes) {
        MC_CU(c, cudaStreamSynchronize(c->stream));
        cudaFree(c->work);
        c->work = NULL;
        c->work_bytes = 0;
        size_t grown = bytes + bytes / 4;
        MC_CU(c, cudaMalloc(&c->work, grown));
        c->work_bytes = grown;
    }
    *out = c->work;
    return MC_OK;
}

cublasComputeType_t mc_cuda_compute_type(mc_cuda_math m) {
    switch (m) {
    case MC_CUDA_MATH_TF32: return CUBLAS_COMPUTE_32F_FAST_TF32;
    case MC_CUDA_MATH_BF16: return CUBLAS_COMPUTE_32F_FAST_16BF;
    default: return CUBLAS_COMPUTE_32F;
    }
}
