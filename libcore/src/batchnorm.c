/* batchnorm.c: batch normalisation per channel over the batch and spatial axes of (N, C, S),
 * with PyTorch's conventions: training normalises with the batch mean and the biased batch
 * variance and moves the running statistics towards the batch mean and the unbiased batch
 * variance by momentum; evaluation normalises with the running statistics. Statistics are summed
 * in double. Plain layout (N, C, S): two passes for the variance, OpenMP over channels. Blocked
 * layout (N, ceil(C / 16), S, 16): one pass for the sums and sums of squares of up to 256 channels
 * at once (in double, the variance as E[x^2] - mean^2), vectorised over the 16 lanes of a block,
 * OpenMP over the batch, block and spatial axes so that two threads share even a single block. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "moecore/nn.h"

/* Training statistics of channel c from its batch mean mu and biased variance var over M values:
 * moves the running statistics (when given) towards mu and the unbiased variance, and returns
 * 1 / sqrt(var + eps). The unbiased variance needs two values; with one, PyTorch refuses to train,
 * and the biased one (zero) is used here. */
static double channel_stats(int64_t c, double mu, double var, int64_t M, float eps, float momentum,
                            float *running_mean, float *running_var) {
    double unbiased = M > 1 ? var * (double)M / (double)(M - 1) : var;
    if (running_mean) running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mu);
    if (running_var) running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * unbiased);
    return 1.0 / sqrt(var + eps);
}

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
            rs = channel_stats(c, mu, v / (double)M, M, eps, momentum, running_mean, running_var);
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

/* ---- blocked layout ------------------------------------------------------------------------------- */

#define B MC_LAYOUT_BLOCK
#define GROUP 16 /* channel blocks per parallel pass: 256 channels */
#define PAR_ELEMS 32768

/* Per lane j over positions [lo, hi) of one block: l1[j] = sum of x, l2[j] = sum of x (y - c[j]), or
 * of x^2 when y is NULL; x counts only where mask > 0 when mask is given. Compiled for AVX-512, AVX2
 * and the baseline (the loader picks one), so that the float-to-double sums vectorise. */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void span_sums(double *l1, double *l2, const float *x,
                                                                               const float *mask, const float *y,
                                                                               const float *c, int64_t lo, int64_t hi) {
    double r1[B] = {0}, r2[B] = {0};
    for (int64_t i = lo; i < hi; i++) {
        const float *xv = x + i * B;
        if (mask) {
            const float *mv = mask + i * B, *yv = y + i * B;
            #pragma omp simd
            for (int j = 0; j < B; j++) {
                /* x where mask > 0, else +0, as a bit mask (a select here would not vectorise) */
                uint32_t bits;
                float xm;
                memcpy(&bits, xv + j, sizeof bits);
                bits &= -(uint32_t)(mv[j] > 0.0f);
                memcpy(&xm, &bits, sizeof xm);
                r1[j] += xm;
                r2[j] += (double)xm * (yv[j] - c[j]);
            }
        } else if (y) {
            const float *yv = y + i * B;
            #pragma omp simd
            for (int j = 0; j < B; j++) {
                r1[j] += xv[j];
                r2[j] += (double)xv[j] * (yv[j] - c[j]);
            }
        } else {
            #pragma omp simd
            for (int j = 0; j < B; j++) {
                r1[j] += xv[j];
                r2[j] += (double)xv[j] * xv[j];
            }
        }
    }
    for (int j = 0; j < B; j++) {
        l1[j] = r1[j];
        l2[j] = r2[j];
    }
}

/* Over channel blocks [cb0, cb0 + G) of x and y (N, Cb, S, 16), per channel c of the group:
 * s1[c] = sum of x, and s2[c] = sum of x (y - c2[c]), or of x^2 when y is NULL; where mask is
 * given, x counts only where mask > 0. Each thread sums spans of CHUNK positions of one block and
 * adds them into its copy of the group's sums. */
#define CHUNK 2048
static void group_sums(double *s1, double *s2, const float *x, const float *mask, const float *y, const float *c2,
                       int N, int64_t Cb, int64_t cb0, int G, int64_t S) {
    double a1[GROUP * B] = {0}, a2[GROUP * B] = {0};
    int64_t chunks = (S + CHUNK - 1) / CHUNK;
    #pragma omp parallel for collapse(3) schedule(static) reduction(+ : a1, a2) if ((int64_t)N * G * S * B > PAR_ELEMS)
    for (int n = 0; n < N; n++)
        for (int g = 0; g < G; g++)
            for (int64_t ch = 0; ch < chunks; ch++) {
                int64_t base = ((int64_t)n * Cb + cb0 + g) * S * B, lo = ch * CHUNK, hi = lo + CHUNK < S ? lo + CHUNK : S;
                double l1[B], l2[B];
                span_sums(l1, l2, x + base, mask ? mask + base : NULL, y ? y + base : NULL, c2 ? c2 + g * B : NULL, lo, hi);
                for (int j = 0; j < B; j++) {
                    a1[g * B + j] += l1[j];
                    a2[g * B + j] += l2[j];
                }
            }
    for (int c = 0; c < G * B; c++) {
        s1[c] = a1[c];
        s2[c] = a2[c];
    }
}

void mc_batchnorm_forward_blocked(float *out, float *mean, float *rstd, float *running_mean, float *running_var,
                                  const float *in, const float *gamma, const float *beta, int N, int C, int64_t S,
                                  float eps, float momentum, int train, int relu) {
    int64_t M = (int64_t)N * S, Cb = (C + B - 1) / B;
    for (int64_t cb0 = 0; cb0 < Cb; cb0 += GROUP) {
        int G = (int)(Cb - cb0 < GROUP ? Cb - cb0 : GROUP);
        double s1[GROUP * B], s2[GROUP * B];
        if (train) group_sums(s1, s2, in, NULL, NULL, NULL, N, Cb, cb0, G, S);
        float a[GROUP * B], b[GROUP * B];
        for (int q = 0; q < G * B; q++) {
            int64_t c = cb0 * B + q;
            a[q] = b[q] = 0.0f; /* padding lanes stay zero */
            if (c >= C) continue;
            double mu, rs;
            if (train) {
                mu = s1[q] / (double)M;
                double var = s2[q] / (double)M - mu * mu;
                rs = channel_stats(c, mu, var > 0.0 ? var : 0.0, M, eps, momentum, running_mean, running_var);
            } else {
                mu = running_mean[c];
                rs = 1.0 / sqrt((double)running_var[c] + eps);
            }
            if (mean) mean[c] = (float)mu;
            if (rstd) rstd[c] = (float)rs;
            a[q] = (float)(gamma[c] * rs);
            b[q] = (float)(beta[c] - mu * gamma[c] * rs);
        }
        #pragma omp parallel for collapse(3) schedule(static) if ((int64_t)N * G * S * B > PAR_ELEMS)
        for (int n = 0; n < N; n++)
            for (int g = 0; g < G; g++)
                for (int64_t i = 0; i < S; i++) {
                    int64_t o = (((int64_t)n * Cb + cb0 + g) * S + i) * B;
                    if (relu) {
                        #pragma omp simd
                        for (int j = 0; j < B; j++) {
                            float v = in[o + j] * a[g * B + j] + b[g * B + j];
                            out[o + j] = v > 0.0f ? v : 0.0f;
                        }
                    } else {
                        #pragma omp simd
                        for (int j = 0; j < B; j++) out[o + j] = in[o + j] * a[g * B + j] + b[g * B + j];
                    }
                }
    }
}

/* As the plain backward: din += k (dy - mean(dy) - xhat mean(dy xhat)), k = gamma rstd, which per
 * lane is din += dy k + (x - mean) kx + k0 with kx = -k rstd mean(dy xhat) and k0 = -k mean(dy).
 * With a fused ReLU, dy = dout where its output is positive, else 0. din is added into when acc,
 * else written (its padding lanes as zeros). */
void mc_batchnorm_backward_blocked(float *din, float *dgamma, float *dbeta, const float *dout, const float *relu_out,
                                   const float *in, const float *gamma, const float *mean, const float *rstd, int N,
                                   int C, int64_t S, int acc) {
    int64_t M = (int64_t)N * S, Cb = (C + B - 1) / B;
    for (int64_t cb0 = 0; cb0 < Cb; cb0 += GROUP) {
        int G = (int)(Cb - cb0 < GROUP ? Cb - cb0 : GROUP);
        float mu[GROUP * B], k[GROUP * B], kx[GROUP * B], k0[GROUP * B];
        for (int q = 0; q < G * B; q++) mu[q] = cb0 * B + q < C ? mean[cb0 * B + q] : 0.0f;
        double sdy[GROUP * B], sdyxm[GROUP * B]; /* sums of dy and of dy (x - mean) */
        group_sums(sdy, sdyxm, dout, relu_out, in, mu, N, Cb, cb0, G, S);
        for (int q = 0; q < G * B; q++) {
            int64_t c = cb0 * B + q;
            k[q] = kx[q] = k0[q] = 0.0f;
            if (c >= C) continue;
            double rs = rstd[c], sdyx = sdyxm[q] * rs;
            if (dbeta) dbeta[c] += (float)sdy[q];
            if (dgamma) dgamma[c] += (float)sdyx;
            double kk = gamma[c] * rs, mdy = sdy[q] / (double)M, mdyx = sdyx / (double)M;
            k[q] = (float)kk;
            kx[q] = (float)(-kk * rs * mdyx);
            k0[q] = (float)(-kk * mdy);
        }
        if (!din) continue;
        #pragma omp parallel for collapse(3) schedule(static) if ((int64_t)N * G * S * B > PAR_ELEMS)
        for (int n = 0; n < N; n++)
            for (int g = 0; g < G; g++)
                for (int64_t i = 0; i < S; i++) {
                    int64_t o = (((int64_t)n * Cb + cb0 + g) * S + i) * B;
                    const float *kg = k + g * B, *kxg = kx + g * B, *k0g = k0 + g * B, *mg = mu + g * B;
                    float d[B];
                    #pragma omp simd
                    for (int j = 0; j < B; j++) {
                        float dy = dout[o + j], r = relu_out ? relu_out[o + j] : 1.0f;
                        dy = r > 0.0f ? dy : 0.0f;
                        d[j] = dy * kg[j] + (in[o + j] - mg[j]) * kxg[j] + k0g[j];
                    }
                    if (acc) {
                        #pragma omp simd
                        for (int j = 0; j < B; j++) din[o + j] += d[j];
                    } else {
                        #pragma omp simd
                        for (int j = 0; j < B; j++) din[o + j] = d[j];
                    }
                }
    }
}
