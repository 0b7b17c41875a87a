/* layernorm.c: layer normalisation over the last axis (biased variance, as PyTorch). */
#include <math.h>

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
        float r = (float)(1.0 / sqrt(v + eps)), mf = (float)m;
        mean[n] = mf;
        rstd[n] = r;
        for (int c = 0; c < C; c++) y[c] = (x[c] - mf) * r * w[c] + b[c];
    }
}

void mc_layernorm_backward(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                           const float *mean, const float *rstd, int N, int C) {
    /* parameter gradients: rows in order so the sums do not depend on threads */
    if (dw || db) {
        for (int n = 0; n < N; n++) {
            const float *x = in + (int64_t)n * C, *g = dout + (int64_t)n * C;
            for (int c = 0; c < C; c++) {
                if (dw) dw[c] += g[c] * (x[c] - mean[n]) * rstd[n];
                if (db) db[c] += g[c];
            }
        }
    }
    if (!din) return;
    #pragma omp parallel for schedule(static) if ((int64_t)N * C > 32768)
    for (int n = 0; n < N; n++) {
        const float *x = in + (int64_t)n * C, *g = dout + (int64_t)n * C;
        float *d = din + (int64_t)n * C;
        double a = 0.0, bsum = 0.0;
        for (int c = 0; c < C; c++) {
            double xh = (x[c] - mean[n]) * rstd[n], dn = (double)g[c] * w[c];
            a += dn;
            bsum += dn * xh;
        }
        a /= C;
        bsum /= C;
        for (int c = 0; c < C; c++) {
            double xh = (x[c] - mean[n]) * rstd[n];
            d[c] += (float)(((double)g[c] * w[c] - a - xh * bsum) * rstd[n]);
        }
    }
}
