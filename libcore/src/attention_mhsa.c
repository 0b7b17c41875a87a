/* attention_mhsa.c: multi-head self-attention over sequences (no mask), forward and backward.
 * Projections through mc_linear_*; per (batch, head) pair the score and value GEMMs run on strided
 * views of the fused qkv buffer, pairs spread over OpenMP threads. Backward allocates its own
 * temporaries (dy, dqkv and the score gradients) and frees them before returning. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "moecore/nn.h"

void mc_mhsa_forward(float *out, float *qkv, float *att, float *y, const float *x, const float *w_qkv,
                     const float *b_qkv, const float *w_o, const float *b_o, int B, int T, int C, int H) {
    const int hd = C / H, C3 = 3 * C;
    const float scale = 1.0f / sqrtf((float)hd);
    mc_linear_forward(qkv, x, w_qkv, b_qkv, B * T, C, C3);
    #pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * H; bh++) {
        int b = bh / H, h = bh % H;
        const float *q = qkv + (int64_t)b * T * C3 + h * hd, *k = q + C, *v = q + 2 * C;
        float *a = att + (int64_t)bh * T * T;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, scale, q, C3, k, C3, 0.0f, a, T);
        mc_softmax_forward(a, a, T, T);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, 1.0f, a, T, v, C3, 0.0f,
                    y + (int64_t)b * T * C + h * hd, C);
    }
    mc_linear_forward(out, y, w_o, b_o, B * T, C, C);
}

void mc_mhsa_backward(float *dx, float *dw_qkv, float *db_qkv, float *dw_o, float *db_o, const float *dout,
                      const float *x, const float *w_qkv, const float *w_o, const float *qkv, const float *att,
                      const float *y, int B, int T, int C, int H) {
    const int hd = C / H, C3 = 3 * C;
    const float scale = 1.0f / sqrtf((float)hd);
    float *dy = calloc((size_t)B * T * C, sizeof *dy), *dqkv = calloc((size_t)B * T * C3, sizeof *dqkv);
    float *ds = malloc(sizeof *ds * (size_t)B * H * T * T);
    if (!dy || !dqkv || !ds) { /* kernels have no status: leave the gradients untouched */
        free(dy);
        free(dqkv);
        free(ds);
        return;
    }
    mc_linear_backward(dy, dw_o, db_o, dout, y, w_o, B * T, C, C);
    #pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * H; bh++) {
        int b = bh / H, h = bh % H;
        const int64_t base = (int64_t)b * T * C3 + h * hd;
        const float *q = qkv + base, *k = q + C, *v = q + 2 * C, *a = att + (int64_t)bh * T * T;
        float *dq = dqkv + base, *dk = dq + C, *dv = dq + 2 * C, *d = ds + (int64_t)bh * T * T;
        const float *dyh = dy + (int64_t)b * T * C + h * hd;
        /* datt = dy_h v^T; dv = att^T dy_h */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, 1.0f, dyh, C, v, C3, 0.0f, d, T);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, 1.0f, a, T, dyh, C, 1.0f, dv, C3);
        /* through the softmax, in place */
        for (int i = 0; i < T; i++) {
            float *row = d + (int64_t)i * T;
            const float *p = a + (int64_t)i * T;
            double dot = 0.0;
            for (int j = 0; j < T; j++) dot += (double)row[j] * p[j];
            for (int j = 0; j < T; j++) row[j] = (float)((row[j] - dot) * p[j]);
        }
        /* dq = scale dS k; dk = scale dS^T q */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, scale, d, T, k, C3, 1.0f, dq, C3);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, scale, d, T, q, C3, 1.0f, dk, C3);
    }
    mc_linear_backward(dx, dw_qkv, db_qkv, dqkv, x, w_qkv, B * T, C, C3);
    free(dy);
    free(dqkv);
    free(ds);
}
