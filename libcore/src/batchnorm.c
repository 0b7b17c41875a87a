/* batchnorm.c: batch normalisation per channel over the batch and spatial axes of (N, C, S),
 * with PyTorch's conventions: training normalises with the batch mean and the biased batch
 * variance and moves the running statistics towards the batch mean and the unbiased batch
 * variance by momentum; evaluation normalises with the running statistics. Statistics are summed
 * in double, two passes for the variance. OpenMP over channels. */
#include <math.h>
#include <stdint.h>

#include "moecore/nn.h"

void mc_batchnorm_forward(float *out, float *mean, float *rstd, float *running_mean, float *running_var,
                          const float *in, const float *gamma, const float *beta, int N, int C, int64_t S,
                          float eps, float momentum, int train) {
    int64_t M = (int64_t)N * S; /* elements per channel */
    #pragma omp parallel for schedule(static) if (M * C > 32768)
    for (int c = 0; c < C; c++) {
        double mu, rs;
        if (train) {
            double s = 0.0, v = 0.0;
            for (int n = 0; n < N; n++) {
                const float *x = in + ((int64_t)n * C + c) * S;
                for (int64_t i = 0; i < S; i++) s += x[i];
            }
            mu = s / (double)M;
            for (int n = 0; n < N; n++) {
                const float *x = in + ((int64_t)n * C + c) * S;
                for (int64_t i = 0; i < S; i++) v += (x[i] - mu) * (x[i] - mu);
            }
            double var = v / (double)M;
            rs = 1.0 / sqrt(var + eps);
            /* the unbiased variance needs two elements; with one, PyTorch refuses to train, and
             * the biased one (zero) is used here */
            double unbiased = M > 1 ? v / (double)(M - 1) : var;
            if (running_mean) running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mu);
            if (running_var) running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * unbiased);
        } else {
            mu = running_mean[c];
            rs = 1.0 / sqrt((double)running_var[c] + eps);
        }
        if (mean) mean[c] = (float)mu;
        if (rstd) rstd[c] = (float)rs;
        float muf = (float)mu, a = (float)(gamma[c] * rs), b = beta[c];
        for (int n = 0; n < N; n++) {
            const float *x = in + ((int64_t)n * C + c) * S;
            float *y = out + ((int64_t)n * C + c) * S;
            for (int64_t i = 0; i < S; i++) y[i] = (x[i] - muf) * a + b;
        }
    }
}

/* With xhat = (x - mean) * rstd: dbeta = sum dy, dgamma = sum dy xhat, and
 * din = gamma rstd (dy - mean(dy) - xhat mean(dy xhat)). */
void mc_batchnorm_backward(float *din, float *dgamma, float *dbeta, const float *dout, const float *in,
                           const float *gamma, const float *mean, const float *rstd, int N, int C, int64_t S) {
    int64_t M = (int64_t)N * S;
    #pragma omp parallel for schedule(static) if (M * C > 32768)
    for (int c = 0; c < C; c++) {
        float mu = mean[c], rs = rstd[c];
        double sdy = 0.0, sdyx = 0.0;
        for (int n = 0; n < N; n++) {
            const float *x = in + ((int64_t)n * C + c) * S;
            const float *dy = dout + ((int64_t)n * C + c) * S;
            for (int64_t i = 0; i < S; i++) {
                sdy += dy[i];
                sdyx += (double)dy[i] * ((x[i] - mu) * rs);
            }
        }
        if (dbeta) dbeta[c] += (float)sdy;
        if (dgamma) dgamma[c] += (float)sdyx;
        if (!din) continue;
        float k = gamma[c] * rs, mdy = (float)(sdy / (double)M), mdyx = (float)(sdyx / (double)M);
        for (int n = 0; n < N; n++) {
            const float *x = in + ((int64_t)n * C + c) * S;
            const float *dy = dout + ((int64_t)n * C + c) * S;
            float *dx = din + ((int64_t)n * C + c) * S;
            for (int64_t i = 0; i < S; i++) dx[i] += k * (dy[i] - mdy - (x[i] - mu) * rs * mdyx);
        }
    }
}
