/* cuda/blas.cu: GEMMs through cuBLAS. Our matrices are row-major and cuBLAS's column-major; this
 * file is the only place that bridges the two: a row-major C = op(A) op(B) is the column-major
 * C^T = op(B)^T op(A)^T, so the operands are passed swapped, each with its own transposition. */
#include <stdlib.h>

#include "context.h"

#define OP(t) ((t) ? CUBLAS_OP_T : CUBLAS_OP_N)

mc_status mc_cuda_gemm_math(mc_cuda_ctx *c, mc_cuda_math math, int ta, int tb, int M, int N, int K, float alpha,
                            const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    if (M == 0 || N == 0) return MC_OK;
    MC_CU(c, cublasGemmEx(c->blas, OP(tb), OP(ta), N, M, K, &alpha, B, CUDA_R_32F, ldb, A, CUDA_R_32F, lda, &beta, C,
                          CUDA_R_32F, ldc, mc_cuda_compute_type(math), CUBLAS_GEMM_DEFAULT));
    return MC_OK;
}

extern "C" mc_status mc_cuda_gemm(mc_cuda_ctx *c, int ta, int tb, int M, int N, int K, float alpha, const float *A,
                                  int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    if (!c || M < 0 || N < 0 || K < 0) return MC_ERR_ARG;
    return mc_cuda_gemm_math(c, c->math, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* Row-major leading dimensions of contiguous operands. */
static int lda_of(int ta, const mc_cuda_gemm_group *g) { return ta ? g->M : g->K; }
static int ldb_of(int tb, const mc_cuda_gemm_group *g) { return tb ? g->K : g->N; }

static mc_status gemm_each(mc_cuda_ctx *c, int ta, int tb, int G, const mc_cuda_gemm_group *g, float beta) {
    for (int i = 0; i < G; i++) {
        mc_status st = mc_cuda_gemm_math(c, c->math, ta, tb, g[i].M, g[i].N, g[i].K, 1.0f, g[i].A, lda_of(ta, g + i),
                                         g[i].B, ldb_of(tb, g + i), beta, g[i].C, g[i].N);
        if (st != MC_OK) return st;
    }
    return MC_OK;
}

/* Host-side arrays of one grouped call, in cuBLAS's (swapped) terms. */
typedef struct grouped_args {
    cublasOperation_t *ta, *tb;
    int *m, *n, *k, *lda, *ldb, *ldc, *size;
    float *alpha, *beta;
    const void **ptrs; /* A[G], B[G], C[G] */
} grouped_args;

static mc_status grouped(mc_cuda_ctx *c, int ta, int tb, int G, const mc_cuda_gemm_group *g, float beta, int *done) {
    *done = 0;
#if CUBLAS_VERSION >= 120500
    if (G == 0) {
        *done = 1;
        return MC_OK;
    }
    if (G > c->cap_groups) {
        MC_CU(c, cudaStreamSynchronize(c->stream));
        cudaFree(c->group_ptrs);
        c->group_ptrs = NULL;
        c->cap_groups = 0;
        MC_CU(c, cudaMalloc((void **)&c->group_ptrs, 3 * (size_t)G * sizeof(void *)));
        c->cap_groups = G;
    }
    size_t n = (size_t)G;
    void *mem = malloc(n * (2 * sizeof(cublasOperation_t) + 7 * sizeof(int) + 2 * sizeof(float) + 3 * sizeof(void *)));
    if (!mem) return mc_error_set(&c->err, MC_ERR_NOMEM, "mc_cuda_gemm_grouped: out of host memory");
    grouped_args a;
    a.ptrs = (const void **)mem;
    a.ta = (cublasOperation_t *)(a.ptrs + 3 * n);
    a.tb = a.ta + n;
    a.m = (int *)(a.tb + n);
    a.n = a.m + n, a.k = a.n + n, a.lda = a.k + n, a.ldb = a.lda + n, a.ldc = a.ldb + n, a.size = a.ldc + n;
    a.alpha = (float *)(a.size + n);
    a.beta = a.alpha + n;
    for (int i = 0; i < G; i++) {
        /* column-major C^T (N, M) = op(B)^T (N, K) op(A)^T (K, M) */
        a.ta[i] = OP(tb);
        a.tb[i] = OP(ta);
        a.m[i] = g[i].N;
        a.n[i] = g[i].M;
        a.k[i] = g[i].K;
        a.lda[i] = ldb_of(tb, g + i);
        a.ldb[i] = lda_of(ta, g + i);
        a.ldc[i] = g[i].N;
        a.size[i] = 1;
        a.alpha[i] = 1.0f;
        a.beta[i] = beta;
        a.ptrs[i] = g[i].B;
        a.ptrs[n + i] = g[i].A;
        a.ptrs[2 * n + i] = g[i].C;
    }
    /* pageable source: the copy has taken the data when the call returns */
    cudaError_t ce = cudaMemcpyAsync(c->group_ptrs, a.ptrs, 3 * n * sizeof(void *), cudaMemcpyHostToDevice, c->stream);
    cublasStatus_t bs = CUBLAS_STATUS_SUCCESS;
    if (ce == cudaSuccess)
        bs = cublasGemmGroupedBatchedEx(c->blas, a.ta, a.tb, a.m, a.n, a.k, a.alpha, c->group_ptrs, CUDA_R_32F, a.lda,
                                        c->group_ptrs + n, CUDA_R_32F, a.ldb, a.beta, (void *const *)(c->group_ptrs + 2 * n),
                                        CUDA_R_32F, a.ldc, G, a.size, mc_cuda_compute_type(c->math));
    free(mem);
    MC_CU(c, ce);
    /* a compute type the grouped GEMM does not take (cuBLAS answers either way): one GEMM per group */
    if (bs == CUBLAS_STATUS_NOT_SUPPORTED || (bs == CUBLAS_STATUS_INVALID_VALUE && c->math != MC_CUDA_MATH_FP32))
        return MC_OK;
    MC_CU(c, bs);
    *done = 1;
#else
    (void)c, (void)ta, (void)tb, (void)G, (void)g, (void)beta;
#endif
    return MC_OK;
}

extern "C" mc_status mc_cuda_gemm_grouped(mc_cuda_ctx *c, int ta, int tb, int G, const mc_cuda_gemm_group *g,
                                          float beta) {
    if (!c || G < 0 || (G > 0 && !g)) return MC_ERR_ARG;
    /* the non-empty groups only */
    mc_cuda_gemm_group *live = (mc_cuda_gemm_group *)malloc(((size_t)G + 1) * sizeof *live);
    if (!live) return mc_error_set(&c->err, MC_ERR_NOMEM, "mc_cuda_gemm_grouped: out of host memory");
    int n = 0;
    for (int i = 0; i < G; i++)
        if (g[i].M > 0 && g[i].N > 0 && g[i].K > 0) live[n++] = g[i];
    int done = 0;
    mc_status st = grouped(c, ta, tb, n, live, beta, &done);
    if (st == MC_OK && !done) st = gemm_each(c, ta, tb, n, live, beta);
    free(live);
    return st;
}
