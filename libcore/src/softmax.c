/* softmax.c: softmax over the last axis, forward and backward. */
#include <math.h>

#include "moecore/nn.h"

void mc_softmax_forward(float *out, const float *in, int R, int C) {
    #pragma omp parallel for schedule(static) if ((int64_t)R * C > 32768)
    for (int r = 0; r < R; r++) {
        const float *x = in + (int64_t)r * C;
        float *y = out + (int64_t)r * C;
        float mx = x[0];
        for (int c = 1; c < C; c++) mx = x[c] > mx ? x[c] : mx;
        double sum = 0.0;
        for (int c = 0; c < C; c++) {
            y[c] = expf(x[c] - mx);
            sum += y[c];
        }
        float inv = (float)(1.0 / sum);
        for (int c = 0; c < C; c++) y[c] *= inv;
    }
}

void mc_softmax_backward(float *din, const float *dout, const float *out, int R, int C) {
    if (!din) return;
    #pragma omp parallel for schedule(static) if ((int64_t)R * C > 32768)
    for (int r = 0; r < R; r++) {
        const float *g = dout + (int64_t)r * C, *y = out + (int64_t)r * C;
        float *d = din + (int64_t)r * C;
        double dot = 0.0;
        for (int c = 0; c < C; c++) dot += (double)g[c] * y[c];
        for (int c = 0; c < C; c++) d[c] += (float)((g[c] - dot) * y[c]);
    }
}
