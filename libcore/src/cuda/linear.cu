/* cuda/linear.cu: the fully connected layer on the device: cuBLAS GEMMs, a bias broadcast and
 * column sums for the bias gradient (in the scratch workspace). */
#include "context.h"
#include "moecore/nn_cuda.h"

/* out (N, OC) rows = b (OC) */
__global__ void fill_rows_kernel(float *out, const float *b, int64_t N, int OC) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < N * OC; i += (int64_t)gridDim.x * blockDim.x)
        out[i] = b[i % OC];
}

/* Column sums in two deterministic passes, so that tall matrices keep every SM busy: partial
 * (chunks, OC) = sums of each chunk of ROWS_PER_CHUNK rows, then db (OC) += the partials in order. */
#define ROWS_PER_CHUNK 128

__global__ void column_partials_kernel(float *partial, const float *dout, int N, int OC) {
    int chunks = (N + ROWS_PER_CHUNK - 1) / ROWS_PER_CHUNK;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (int64_t)chunks * OC;
         i += (int64_t)gridDim.x * blockDim.x) {
        int chunk = (int)(i / OC), o = (int)(i % OC), end = min(N, (chunk + 1) * ROWS_PER_CHUNK);
        float s = 0.0f;
        for (int n = chunk * ROWS_PER_CHUNK; n < end; n++) s += dout[(int64_t)n * OC + o];
        partial[i] = s;
    }
}

__global__ void column_totals_kernel(float *db, const float *partial, int chunks, int OC) {
    for (int o = blockIdx.x * blockDim.x + threadIdx.x; o < OC; o += gridDim.x * blockDim.x) {
        float s = 0.0f;
        for (int c = 0; c < chunks; c++) s += partial[(int64_t)c * OC + o];
        db[o] += s;
    }
}

extern "C" mc_status mc_cuda_linear_forward(mc_cuda_ctx *c, float *out, const float *in, const float *w, const float *b,
                                            int N, int C, int OC) {
    if (!c) return MC_ERR_ARG;
    MC_CU_ARG(c, N >= 0 && C >= 0 && OC >= 0, "negative size");
    if (N == 0 || OC == 0) return MC_OK;
    if (b) {
        fill_rows_kernel<<<mc_cuda_blocks((int64_t)N * OC), MC_CUDA_THREADS, 0, c->stream>>>(out, b, N, OC);
        MC_CU_LAUNCHED(c, fill_rows_kernel);
    }
    return mc_cuda_gemm_math(c, c->math, 0, 1, N, OC, C, 1.0f, in, C, w, C, b ? 1.0f : 0.0f, out, OC);
}

extern "C" mc_status mc_cuda_linear_backward(mc_cuda_ctx *c, float *din, float *dw, float *db, const float *dout,
                                             const float *in, const float *w, int N, int C, int OC) {
    if (!c) return MC_ERR_ARG;
    MC_CU_ARG(c, N >= 0 && C >= 0 && OC >= 0, "negative size");
    if (N == 0) return MC_OK;
    mc_status st;
    if (din && (st = mc_cuda_gemm_math(c, c->math, 0, 0, N, C, OC, 1.0f, dout, OC, w, C, 1.0f, din, C)) != MC_OK) return st;
    if (dw && (st = mc_cuda_gemm_math(c, c->math, 1, 0, OC, C, N, 1.0f, dout, OC, in, C, 1.0f, dw, C)) != MC_OK) return st;
    if (db) {
        int chunks = (N + ROWS_PER_CHUNK - 1) / ROWS_PER_CHUNK;
        void *partial;
        if ((st = mc_cuda_scratch(c, (size_t)chunks * OC * sizeof(float), &partial)) != MC_OK) return st;
        column_partials_kernel<<<mc_cuda_blocks((int64_t)chunks * OC), MC_CUDA_THREADS, 0, c->stream>>>(
            (float *)partial, dout, N, OC);
        MC_CU_LAUNCHED(c, column_partials_kernel);
        column_totals_kernel<<<mc_cuda_blocks(OC), MC_CUDA_THREADS, 0, c->stream>>>(db, (const float *)partial, chunks, OC);
        MC_CU_LAUNCHED(c, column_totals_kernel);
    }
    return MC_OK;
}
