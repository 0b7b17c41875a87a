/* softmax.c: softmax over the last axis, forward and backward (the attention rows, the MoE router
 * scores). Each row's sums run in double and in index order, so results do not depend on threads. */
#include <math.h>

#include "moecore/nn.h"

void mc_softmax_forward(float *out, const float *in, int R, int C) {
    if (C <= 0) return;
    /* out may equal in: each element is read before it is written */
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
        const double inv = 1.0 / sum;
        for (int c = 0; c < C; c++) y[c] = (float)(y[c] * inv);
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
