/* cuda/context.h: what the CUDA backend's files share: the context's contents, the one error
 * check that turns a CUDA, cuBLAS or cuDNN failure into an mc_status with "call at file:line:
 * message", the scratch workspace and the launch geometry of the grid-stride kernels. */
#ifndef MOECORE_CUDA_CONTEXT_H
#define MOECORE_CUDA_CONTEXT_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <stdint.h>

#include "moecore/cuda.h"
#include "moecore/nn_cuda.h"

/* One convolution algorithm choice, cached per shape, direction and math mode (conv.cu). */
typedef struct mc_cuda_conv_algo {
    mc_conv_params p;
    int direction; /* 0 forward, 1 backward data, 2 backward filter */
    mc_cuda_math math;
    int algo;
    size_t workspace;
} mc_cuda_conv_algo;

struct mc_cuda_ctx {
    int device;
    cudaStream_t stream;
    cublasHandle_t blas;
    cudnnHandle_t dnn;
    mc_cuda_math math;
    void *work;            /* scratch, grown on demand, reused by every call in stream order */
    size_t work_bytes;
    const void **group_ptrs; /* device: A, B and C pointer arrays of a grouped GEMM */
    int cap_groups;
    double *partials;      /* MC_CUDA_PARTIALS doubles for the reductions' first pass */
    mc_cuda_conv_algo *conv_algos;
    int n_conv_algos, cap_conv_algos;
    mc_error err;
};

/* The error check: MC_OK for success, else records "call at file:line: message" on c (which may be
 * NULL) and returns MC_ERR_NOMEM for an allocation failure, MC_ERR_DEVICE for anything else. */
mc_status mc_cuda_check(mc_cuda_ctx *c, cudaError_t e, const char *call, const char *file, int line);
mc_status mc_cuda_check(mc_cuda_ctx *c, cublasStatus_t e, const char *call, const char *file, int line);
mc_status mc_cuda_check(mc_cuda_ctx *c, cudnnStatus_t e, const char *call, const char *file, int line);

/* Returns from the enclosing function with the status when call fails. */
#define MC_CU(c, call)                                                                  \
    do {                                                                                \
        mc_status mc_st_ = mc_cuda_check((c), (call), #call, __FILE__, __LINE__);       \
        if (mc_st_ != MC_OK) return mc_st_;                                             \
    } while (0)

/* After a kernel launch: reports a launch failure (bad configuration, no device code for this GPU). */
#define MC_CU_LAUNCHED(c, kernel)                                                                      \
    do {                                                                                               \
        mc_status mc_st_ = mc_cuda_check((c), cudaGetLastError(), "launch of " #kernel, __FILE__, __LINE__); \
        if (mc_st_ != MC_OK) return mc_st_;                                                            \
    } while (0)

/* Records an argument error on c and returns it. */
mc_status mc_cuda_arg_error(mc_cuda_ctx *c, const char *func, const char *what);
#define MC_CU_ARG(c, cond, what) \
    do {                         \
        if (!(cond)) return mc_cuda_arg_error((c), __func__, (what)); \
    } while (0)

/* *out = at least bytes of scratch on the device (valid until the next call that asks for
 * scratch on this context). */
mc_status mc_cuda_scratch(mc_cuda_ctx *c, size_t bytes, void **out);

#define MC_CUDA_PARTIALS 1024

/* Grid-stride kernels: 256 threads a block, at most 65536 blocks. */
#define MC_CUDA_THREADS 256
static inline unsigned mc_cuda_blocks(int64_t n) {
    int64_t b = (n + MC_CUDA_THREADS - 1) / MC_CUDA_THREADS;
    return (unsigned)(b < 1 ? 1 : b > 65536 ? 65536 : b);
}

/* One block's tree sum of each thread's value in double (blockDim.x == MC_CUDA_THREADS); every
 * thread gets the total. */
static __device__ __forceinline__ double mc_block_sum(double v) {
    __shared__ double s[MC_CUDA_THREADS];
    s[threadIdx.x] = v;
    __syncthreads();
    for (int half = MC_CUDA_THREADS / 2; half > 0; half /= 2) {
        if ((int)threadIdx.x < half) s[threadIdx.x] += s[threadIdx.x + half];
        __syncthreads();
    }
    double total = s[0];
    __syncthreads();
    return total;
}

/* The cuBLAS compute type of a math mode. */
cublasComputeType_t mc_cuda_compute_type(mc_cuda_math m);

/* mc_cuda_gemm in the given math mode rather than the context's (the MoE router runs in FP32). */
mc_status mc_cuda_gemm_math(mc_cuda_ctx *c, mc_cuda_math math, int ta, int tb, int M, int N, int K, float alpha,
                            const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* Deterministic sum of n doubles on the device into *host_sum (two passes, fixed order; v may
 * live in the scratch). */
mc_status mc_cuda_sum_doubles(mc_cuda_ctx *c, const double *v, int64_t n, double *host_sum);
/* Likewise the sum of squares of n floats, in double. */
mc_status mc_cuda_sum_squares(mc_cuda_ctx *c, const float *v, int64_t n, double *host_sum);

#endif
