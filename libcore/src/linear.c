/* linear.c: the fully connected layer, forward and backward, as OpenBLAS GEMMs. */
#include <cblas.h>
#include <omp.h>
#include <string.h>

#include "moecore/nn.h"

void mc_linear_forward(float *out, const float *in, const float *w, const float *b, int N, int C, int OC) {
    if (N == 0 || OC == 0) return;
    if (b) {
        #pragma omp parallel for schedule(static) if ((int64_t)N * OC > 65536)
        for (int n = 0; n < N; n++) memcpy(out + (int64_t)n * OC, b, (size_t)OC * sizeof *out);
    }
    /* out (N, OC) = in (N, C) @ w^T (C, OC) [+ out] */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, in, C, w, C, b ? 1.0f : 0.0f, out, OC);
}

void mc_linear_backward(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                        int N, int C, int OC) {
    if (N == 0) return;
    /* din (N, C) += dout (N, OC) @ w (OC, C) */
    if (din) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dout, OC, w, C, 1.0f, din, C);
    /* dw (OC, C) += dout^T (OC, N) @ in (N, C) */
    if (dw) cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dout, OC, in, C, 1.0f, dw, C);
    if (db) {
        /* column sums, rows outer so the inner loop runs along memory; columns split over threads */
        #pragma omp parallel if ((int64_t)N * OC > 65536)
        {
            int nt = omp_get_num_threads(), id = omp_get_thread_num();
            int lo = (int)((int64_t)OC * id / nt), hi = (int)((int64_t)OC * (id + 1) / nt);
            for (int n = 0; n < N; n++) {
                const float *row = dout + (int64_t)n * OC;
                #pragma omp simd
                for (int o = lo; o < hi; o++) db[o] += row[o];
            }
        }
    }
}
