/* attention_mhsa.c: multi-head self-attention over sequences (no mask), forward and backward.
 * The projections go through mc_linear_*; for each (batch, head) pair the score GEMM q k^T and the
 * value GEMM att v run through cblas_sgemm on strided views of the fused qkv buffer (no copies),
 * and the pairs are spread over OpenMP threads (OpenBLAS runs single-threaded inside them). The rows
 * of att go through mc_softmax_*. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>

#include "moecore/nn.h"

/* qkv (B, T, 3C) holds q in columns [0, C), k in [C, 2C) and v in [2C, 3C); head h uses columns
 * [h hd, (h + 1) hd) of each, hd = C / H: the row stride of every per-head view is 3C. */

void mc_mhsa_forward(float *out, float *qkv, float *att, float *y, const float *x, const float *w_qkv,
                     const float *b_qkv, const float *w_o, const float *b_o, int B, int T, int C, int H) {
    const int hd = C / H, C3 = 3 * C;
    const float scale = 1.0f / sqrtf((float)hd);
    mc_linear_forward(qkv, x, w_qkv, b_qkv, B * T, C, C3);
    #pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * H; bh++) {
        const int b = bh / H, h = bh % H;
        const float *q = qkv + (int64_t)b * T * C3 + (int64_t)h * hd, *k = q + C, *v = q + 2 * C;
        float *a = att + (int64_t)bh * T * T;
        /* a (T, T) = softmax(q k^T / sqrt(hd)) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, scale, q, C3, k, C3, 0.0f, a, T);
        mc_softmax_forward(a, a, T, T);
        /* y_h (T, hd) = a v */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, 1.0f, a, T, v, C3, 0.0f,
                    y + (int64_t)b * T * C + (int64_t)h * hd, C);
    }
    mc_linear_forward(out, y, w_o, b_o, B * T, C, C);
}

/* Allocates its temporaries with malloc and frees them before returning: dy (B, T, C),
 * dqkv (B, T, 3C), datt and dscores (B, H, T, T). Kernels return no status: should an allocation
 * fail, no gradient is touched. */
void mc_mhsa_backward(float *dx, float *dw_qkv, float *db_qkv, float *dw_o, float *db_o, const float *dout,
                      const float *x, const float *w_qkv, const float *w_o, const float *qkv, const float *att,
                      const float *y, int B, int T, int C, int H) {
    if (B <= 0 || T <= 0) return;
    const int hd = C / H, C3 = 3 * C;
    const float scale = 1.0f / sqrtf((float)hd);
    const size_t n_att = (size_t)B * H * T * T;
    float *dy = calloc((size_t)B * T * C, sizeof *dy), *dqkv = calloc((size_t)B * T * C3, sizeof *dqkv);
    float *datt = malloc(sizeof *datt * n_att), *ds = calloc(n_att, sizeof *ds);
    if (dy && dqkv && datt && ds) {
        mc_linear_backward(dy, dw_o, db_o, dout, y, w_o, B * T, C, C);
        #pragma omp parallel for schedule(static)
        for (int bh = 0; bh < B * H; bh++) {
            const int b = bh / H, h = bh % H;
            const int64_t base = (int64_t)b * T * C3 + (int64_t)h * hd;
            const float *q = qkv + base, *k = q + C, *v = q + 2 * C, *a = att + (int64_t)bh * T * T;
            const float *dyh = dy + (int64_t)b * T * C + (int64_t)h * hd;
            float *dq = dqkv + base, *dk = dq + C, *dv = dq + 2 * C;
            float *da = datt + (int64_t)bh * T * T, *d = ds + (int64_t)bh * T * T;
            /* da (T, T) = dy_h v^T; dv (T, hd) += a^T dy_h */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, 1.0f, dyh, C, v, C3, 0.0f, da, T);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, 1.0f, a, T, dyh, C, 1.0f, dv, C3);
            /* d = dL/dscores through the softmax rows */
            mc_softmax_backward(d, da, a, T, T);
            /* scores = scale q k^T: dq += scale d k; dk += scale d^T q */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, scale, d, T, k, C3, 1.0f, dq, C3);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, scale, d, T, q, C3, 1.0f, dk, C3);
        }
        mc_linear_backward(dx, dw_qkv, db_qkv, dqkv, x, w_qkv, B * T, C, C3);
    }
    free(dy);
    free(dqkv);
    free(datt);
    free(ds);
}
