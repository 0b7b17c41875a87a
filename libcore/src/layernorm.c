/* layernorm.c: layer normalisation over the last axis, forward and backward, with PyTorch's
 * LayerNorm semantics: biased variance, eps inside the square root, affine weight and bias per
 * feature. Row statistics run in double; every sum runs in a fixed order, so results do not depend
 * on the number of threads. */
#include <math.h>
#include <omp.h>

#include "moecore/nn.h"

void mc_layernorm_forward(float *out, float *mean, float *rstd, const float *in, const float *w, const float *b, int N,
                          int C, float eps) {
    #pragma omp parallel for schedule(static) if ((int64_t)N * C > 32768)
    for (int n = 0; n < N; n++) {
        const float *x = in + (int64_t)n * C;
        float *y = out + (int64_t)n * C;
        double m = 0.0, v = 0.0;
        for (int c = 0; c < C; c++) m += x[c];
        m /= C;
        for (int c = 0; c < C; c++) v += (x[c] - m) * (x[c] - m);
        v /= C;
        const float r = (float)(1.0 / sqrt(v + eps)), mf = (float)m;
        mean[n] = mf;
        rstd[n] = r;
        for (int c = 0; c < C; c++) y[c] = (x[c] - mf) * r * w[c] + b[c];
    }
}

void mc_layernorm_backward(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                           const float *mean, const float *rstd, int N, int C) {
    /* dw (C) += sum over rows of dout * xhat, db (C) += sum over rows of dout: each thread owns a
     * range of features and walks the rows in order */
    if (dw || db) {
        #pragma omp parallel if ((int64_t)N * C > 32768)
        {
            const int nt = omp_get_num_threads(), id = omp_get_thread_num();
            const int lo = (int)((int64_t)C * id / nt), hi = (int)((int64_t)C * (id + 1) / nt);
            for (int n = 0; n < N; n++) {
                const float *x = in + (int64_t)n * C, *g = dout + (int64_t)n * C;
                const float m = mean[n], r = rstd[n];
                if (dw)
                    for (int c = lo; c < hi; c++) dw[c] += g[c] * ((x[c] - m) * r);
                if (db)
                    for (int c = lo; c < hi; c++) db[c] += g[c];
            }
        }
    }
    if (!din) return;
    /* din = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), with dxhat = dout * w */
    #pragma omp parallel for schedule(static) if ((int64_t)N * C > 32768)
    for (int n = 0; n < N; n++) {
        const float *x = in + (int64_t)n * C, *g = dout + (int64_t)n * C;
        float *d = din + (int64_t)n * C;
        const double m = mean[n], r = rstd[n];
        double a = 0.0, bsum = 0.0;
        for (int c = 0; c < C; c++) {
            const double xh = (x[c] - m) * r, dn = (double)g[c] * w[c];
            a += dn;
            bsum += dn * xh;
        }
        a /= C;
        bsum /= C;
        for (int c = 0; c < C; c++) {
            const double xh = (x[c] - m) * r;
            d[c] += (float)(((double)g[c] * w[c] - a - xh * bsum) * r);
        }
    }
}
