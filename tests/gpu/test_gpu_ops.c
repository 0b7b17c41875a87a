/* test_gpu_ops.c: every kernel of nn_cuda.h against its CPU counterpart on random inputs,
 * forward and backward (gradients start from random values, to check that backward accumulates):
 * GEMMs in each transposition against a double-precision loop and in FP32/TF32/BF16, the grouped
 * GEMM, linear, activations, softmax, dropout (same mask, exact results), layer and batch norm, 2D and 3D convolutions (against the
 * plain reference loops of nn_ref.h), pooling, squeeze-excitation, the losses, AdamW/SGD and
 * clipping.
 * Tolerances (NMSE, and largest absolute error): 1e-10 for float32 work whose only difference from
 * the CPU is the order of sums and libm's last bit; 1e-8 for cuDNN's convolutions, whose FP32
 * algorithms include Winograd and FFT forms with larger rounding; 1e-5 for TF32 GEMMs (10-bit mantissa); 1e-3
 * for BF16 (8-bit mantissa); the optimisers, written with explicit roundings, must agree to 1e-12.
 * Exits 77 without a CUDA device. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_check.h"
#include "moecore/loss.h"
#include "moecore/nn.h"
#include "moecore/nn_cuda.h"
#include "moecore/nn_ref.h"
#include "moecore/optim.h"

static mc_cuda_ctx *c;
static mc_rng *rng;

#define FP32_NMSE 1e-10
#define FP32_MAX 1e-4
#define CONV_NMSE 1e-8

static float *rnd(int64_t n, float lo, float hi) {
    float *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    gc_uniform(v, n, lo, hi, rng);
    return v;
}

/* Brings d back and compares it with want. */
static void expect(const char *name, const float *d, const float *want, int64_t n, double nmse, double mx) {
    float *got = malloc((size_t)n * sizeof *got);
    gc_down(c, got, d, n);
    gc_compare(name, got, want, n, nmse, mx);
    free(got);
}

/* row-major C (M, N) = alpha op(A) op(B) + beta C in double */
static void gemm_ref(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                     float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0.0;
            for (int k = 0; k < K; k++) s += (double)(ta ? A[k * lda + i] : A[i * lda + k]) * (tb ? B[j * ldb + k] : B[k * ldb + j]);
            C[i * ldc + j] = (float)(alpha * s + beta * C[i * ldc + j]);
        }
}

static void test_gemm(void) {
    const int M = 37, N = 29, K = 53;
    static const struct {
        mc_cuda_math math;
        const char *name;
        double nmse;
    } modes[] = {{MC_CUDA_MATH_FP32, "fp32", FP32_NMSE}, {MC_CUDA_MATH_TF32, "tf32", 1e-5}, {MC_CUDA_MATH_BF16, "bf16", 1e-3}};
    for (int m = 0; m < 3; m++) {
        gc_ok(c, mc_cuda_set_math(c, modes[m].math), "set math");
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                float *A = rnd((int64_t)M * K, -1, 1), *B = rnd((int64_t)K * N, -1, 1), *C = rnd((int64_t)M * N, -1, 1);
                float *dA = gc_up(c, A, (int64_t)M * K), *dB = gc_up(c, B, (int64_t)K * N), *dC = gc_up(c, C, (int64_t)M * N);
                int lda = ta ? M : K, ldb = tb ? K : N;
                gemm_ref(ta, tb, M, N, K, 0.75f, A, lda, B, ldb, 0.5f, C, N);
                gc_ok(c, mc_cuda_gemm(c, ta, tb, M, N, K, 0.75f, dA, lda, dB, ldb, 0.5f, dC, N), "gemm");
                char name[64];
                snprintf(name, sizeof name, "gemm %s ta=%d tb=%d", modes[m].name, ta, tb);
                expect(name, dC, C, (int64_t)M * N, modes[m].nmse, m == 0 ? FP32_MAX : 0.2);
                mc_cuda_free(c, dA), mc_cuda_free(c, dB), mc_cuda_free(c, dC);
                free(A), free(B), free(C);
            }
    }
    /* grouped: three groups of different M (one empty), op(A) stored transposed, accumulating */
    gc_ok(c, mc_cuda_set_math(c, MC_CUDA_MATH_FP32), "set math");
    const int G = 4, Ms[4] = {13, 0, 40, 7}, GN = 24, GK = 31;
    mc_cuda_gemm_group g[4];
    float *hA[4], *hB[4], *hC[4], *dA[4], *dB[4], *dC[4];
    for (int i = 0; i < G; i++) {
        int64_t na = (int64_t)Ms[i] * GK, nb = (int64_t)GK * GN, nc = (int64_t)Ms[i] * GN;
        hA[i] = rnd(na, -1, 1), hB[i] = rnd(nb, -1, 1), hC[i] = rnd(nc, -1, 1);
        dA[i] = gc_up(c, hA[i], na > 0 ? na : 1), dB[i] = gc_up(c, hB[i], nb), dC[i] = gc_up(c, hC[i], nc > 0 ? nc : 1);
        g[i] = (mc_cuda_gemm_group){Ms[i], GN, GK, dA[i], dB[i], dC[i]};
        gemm_ref(1, 1, Ms[i], GN, GK, 1.0f, hA[i], Ms[i], hB[i], GK, 1.0f, hC[i], GN);
    }
    gc_ok(c, mc_cuda_gemm_grouped(c, 1, 1, G, g, 1.0f), "grouped gemm");
    for (int i = 0; i < G; i++) {
        char name[64];
        snprintf(name, sizeof name, "grouped gemm group %d (M=%d)", i, Ms[i]);
        if (Ms[i]) expect(name, dC[i], hC[i], (int64_t)Ms[i] * GN, FP32_NMSE, FP32_MAX);
        mc_cuda_free(c, dA[i]), mc_cuda_free(c, dB[i]), mc_cuda_free(c, dC[i]);
        free(hA[i]), free(hB[i]), free(hC[i]);
    }
}

static void test_linear(void) {
    const int N = 64, C = 96, OC = 80;
    static const struct {
        mc_cuda_math math;
        const char *name;
        double nmse, mx;
    } modes[] = {{MC_CUDA_MATH_FP32, "fp32", FP32_NMSE, FP32_MAX}, {MC_CUDA_MATH_TF32, "tf32", 1e-5, 0.05},
                 {MC_CUDA_MATH_BF16, "bf16", 1e-3, 0.5}};
    for (int m = 0; m < 3; m++) {
        gc_ok(c, mc_cuda_set_math(c, modes[m].math), "set math");
        float *in = rnd((int64_t)N * C, -1, 1), *w = rnd((int64_t)OC * C, -0.3f, 0.3f), *b = rnd(OC, -1, 1);
        float *out = rnd((int64_t)N * OC, 0, 0), *dout = rnd((int64_t)N * OC, -1, 1);
        float *din = rnd((int64_t)N * C, -1, 1), *dw = rnd((int64_t)OC * C, -1, 1), *db = rnd(OC, -1, 1);
        float *d_in = gc_up(c, in, (int64_t)N * C), *d_w = gc_up(c, w, (int64_t)OC * C), *d_b = gc_up(c, b, OC);
        float *d_out = gc_zeros(c, (int64_t)N * OC), *d_dout = gc_up(c, dout, (int64_t)N * OC);
        float *d_din = gc_up(c, din, (int64_t)N * C), *d_dw = gc_up(c, dw, (int64_t)OC * C), *d_db = gc_up(c, db, OC);
        mc_linear_forward(out, in, w, b, N, C, OC);
        mc_linear_backward(din, dw, db, dout, in, w, N, C, OC);
        gc_ok(c, mc_cuda_linear_forward(c, d_out, d_in, d_w, d_b, N, C, OC), "linear forward");
        gc_ok(c, mc_cuda_linear_backward(c, d_din, d_dw, d_db, d_dout, d_in, d_w, N, C, OC), "linear backward");
        char name[64];
        snprintf(name, sizeof name, "linear %s out", modes[m].name);
        expect(name, d_out, out, (int64_t)N * OC, modes[m].nmse, modes[m].mx);
        snprintf(name, sizeof name, "linear %s din", modes[m].name);
        expect(name, d_din, din, (int64_t)N * C, modes[m].nmse, modes[m].mx);
        snprintf(name, sizeof name, "linear %s dw", modes[m].name);
        expect(name, d_dw, dw, (int64_t)OC * C, modes[m].nmse, modes[m].mx * 4);
        snprintf(name, sizeof name, "linear %s db", modes[m].name);
        expect(name, d_db, db, OC, FP32_NMSE, FP32_MAX);
        float *all[] = {in, w, b, out, dout, din, dw, db}, *dall[] = {d_in, d_w, d_b, d_out, d_dout, d_din, d_dw, d_db};
        for (int i = 0; i < 8; i++) free(all[i]), mc_cuda_free(c, dall[i]);
    }
    gc_ok(c, mc_cuda_set_math(c, MC_CUDA_MATH_FP32), "set math");
}

static void test_activations(void) {
    const int64_t n = 10007;
    for (int a = MC_ACT_NONE; a <= MC_ACT_TANH; a++) {
        float *in = rnd(n, -6, 6), *out = rnd(n, 0, 0), *dout = rnd(n, -1, 1), *din = rnd(n, -1, 1);
        float *d_in = gc_up(c, in, n), *d_out = gc_zeros(c, n), *d_dout = gc_up(c, dout, n), *d_din = gc_up(c, din, n);
        mc_act_forward(out, in, n, (mc_act)a);
        mc_act_backward(din, dout, in, out, n, (mc_act)a);
        gc_ok(c, mc_cuda_act_forward(c, d_out, d_in, n, (mc_act)a), "act forward");
        gc_ok(c, mc_cuda_act_backward(c, d_din, d_dout, d_in, d_out, n, (mc_act)a), "act backward");
        char name[64];
        snprintf(name, sizeof name, "act %s forward", mc_act_name((mc_act)a));
        expect(name, d_out, out, n, FP32_NMSE, 2e-6);
        snprintf(name, sizeof name, "act %s backward", mc_act_name((mc_act)a));
        expect(name, d_din, din, n, FP32_NMSE, 2e-6);
        free(in), free(out), free(dout), free(din);
        mc_cuda_free(c, d_in), mc_cuda_free(c, d_out), mc_cuda_free(c, d_dout), mc_cuda_free(c, d_din);
    }
}

static void test_softmax(void) {
    const int R = 37, C = 300;
    const int64_t n = (int64_t)R * C;
    float *in = rnd(n, -8, 8), *out = rnd(n, 0, 0), *dout = rnd(n, -1, 1), *din = rnd(n, -1, 1);
    float *d_in = gc_up(c, in, n), *d_out = gc_zeros(c, n), *d_dout = gc_up(c, dout, n), *d_din = gc_up(c, din, n);
    mc_softmax_forward(out, in, R, C);
    mc_softmax_backward(din, dout, out, R, C);
    gc_ok(c, mc_cuda_softmax_forward(c, d_out, d_in, R, C), "softmax forward");
    gc_ok(c, mc_cuda_softmax_backward(c, d_din, d_dout, d_out, R, C), "softmax backward");
    expect("softmax forward", d_out, out, n, FP32_NMSE, 1e-6);
    expect("softmax backward", d_din, din, n, FP32_NMSE, 1e-5);
    free(in), free(out), free(dout), free(din);
    mc_cuda_free(c, d_in), mc_cuda_free(c, d_out), mc_cuda_free(c, d_dout), mc_cuda_free(c, d_din);
}

static void test_dropout(void) {
    const int64_t n = 10000;
    const float p = 0.3f;
    float *in = rnd(n, -1, 1), *out = rnd(n, 0, 0), *dout = rnd(n, -1, 1), *din = rnd(n, -1, 1);
    uint8_t *mask = calloc((size_t)n, 1), *got = calloc((size_t)n, 1);
    float *d_in = gc_up(c, in, n), *d_out = gc_zeros(c, n), *d_dout = gc_up(c, dout, n), *d_din = gc_up(c, din, n);
    uint8_t *d_mask = gc_up_bytes(c, NULL, (size_t)n);
    mc_rng *a = mc_rng_create(5), *b = mc_rng_create(5);
    mc_dropout_forward(out, mask, in, n, p, a);
    mc_dropout_backward(din, dout, mask, n, p);
    gc_ok(c, mc_cuda_dropout_forward(c, d_out, d_mask, d_in, n, p, b), "dropout forward");
    gc_ok(c, mc_cuda_dropout_backward(c, d_din, d_dout, d_mask, n, p), "dropout backward");
    gc_ok(c, mc_cuda_to_host(c, got, d_mask, (size_t)n), "copy mask");
    int same = memcmp(mask, got, (size_t)n) == 0;
    gc_failures += !same;
    printf("%s dropout mask identical\n", same ? "ok" : "FAIL");
    expect("dropout out", d_out, out, n, 0.0, 0.0);
    expect("dropout din", d_din, din, n, 0.0, 0.0);
    mc_rng_destroy(a), mc_rng_destroy(b);
    free(in), free(out), free(dout), free(din), free(mask), free(got);
    mc_cuda_free(c, d_in), mc_cuda_free(c, d_out), mc_cuda_free(c, d_dout), mc_cuda_free(c, d_din), mc_cuda_free(c, d_mask);
}

static void test_layernorm(void) {
    const int N = 33, C = 200;
    const int64_t n = (int64_t)N * C;
    float *in = rnd(n, -2, 3), *w = rnd(C, 0.5f, 1.5f), *b = rnd(C, -1, 1), *out = rnd(n, 0, 0), *mean = rnd(N, 0, 0),
          *rstd = rnd(N, 0, 0), *dout = rnd(n, -1, 1), *din = rnd(n, -1, 1), *dw = rnd(C, -1, 1), *db = rnd(C, -1, 1);
    float *d_in = gc_up(c, in, n), *d_w = gc_up(c, w, C), *d_b = gc_up(c, b, C), *d_out = gc_zeros(c, n),
          *d_mean = gc_zeros(c, N), *d_rstd = gc_zeros(c, N), *d_dout = gc_up(c, dout, n), *d_din = gc_up(c, din, n),
          *d_dw = gc_up(c, dw, C), *d_db = gc_up(c, db, C);
    mc_layernorm_forward(out, mean, rstd, in, w, b, N, C, 1e-5f);
    mc_layernorm_backward(din, dw, db, dout, in, w, mean, rstd, N, C);
    gc_ok(c, mc_cuda_layernorm_forward(c, d_out, d_mean, d_rstd, d_in, d_w, d_b, N, C, 1e-5f), "layernorm forward");
    gc_ok(c, mc_cuda_layernorm_backward(c, d_din, d_dw, d_db, d_dout, d_in, d_w, d_mean, d_rstd, N, C), "layernorm backward");
    expect("layernorm out", d_out, out, n, FP32_NMSE, FP32_MAX);
    expect("layernorm mean", d_mean, mean, N, FP32_NMSE, FP32_MAX);
    expect("layernorm rstd", d_rstd, rstd, N, FP32_NMSE, FP32_MAX);
    expect("layernorm din", d_din, din, n, FP32_NMSE, FP32_MAX);
    expect("layernorm dw", d_dw, dw, C, FP32_NMSE, FP32_MAX);
    expect("layernorm db", d_db, db, C, FP32_NMSE, FP32_MAX);
    float *all[] = {in, w, b, out, mean, rstd, dout, din, dw, db},
          *dall[] = {d_in, d_w, d_b, d_out, d_mean, d_rstd, d_dout, d_din, d_dw, d_db};
    for (int i = 0; i < 10; i++) free(all[i]), mc_cuda_free(c, dall[i]);
}

static void test_batchnorm(void) {
    const int N = 4, C = 6;
    const int64_t S = 50, n = (int64_t)N * C * S;
    float *in = rnd(n, -1, 2), *g = rnd(C, 0.5f, 1.5f), *b = rnd(C, -1, 1), *out = rnd(n, 0, 0), *mean = rnd(C, 0, 0),
          *rstd = rnd(C, 0, 0), *rm = rnd(C, -0.1f, 0.1f), *rv = rnd(C, 0.9f, 1.1f), *dout = rnd(n, -1, 1),
          *din = rnd(n, -1, 1), *dg = rnd(C, -1, 1), *db = rnd(C, -1, 1);
    float *d_in = gc_up(c, in, n), *d_g = gc_up(c, g, C), *d_b = gc_up(c, b, C), *d_out = gc_zeros(c, n),
          *d_mean = gc_zeros(c, C), *d_rstd = gc_zeros(c, C), *d_rm = gc_up(c, rm, C), *d_rv = gc_up(c, rv, C),
          *d_dout = gc_up(c, dout, n), *d_din = gc_up(c, din, n), *d_dg = gc_up(c, dg, C), *d_db = gc_up(c, db, C);
    mc_batchnorm_forward(out, mean, rstd, rm, rv, in, g, b, N, C, S, 1e-5f, 0.1f, 1);
    mc_batchnorm_backward(din, dg, db, dout, in, g, mean, rstd, N, C, S);
    gc_ok(c, mc_cuda_batchnorm_forward(c, d_out, d_mean, d_rstd, d_rm, d_rv, d_in, d_g, d_b, N, C, S, 1e-5f, 0.1f, 1),
          "batchnorm forward");
    gc_ok(c, mc_cuda_batchnorm_backward(c, d_din, d_dg, d_db, d_dout, d_in, d_g, d_mean, d_rstd, N, C, S), "batchnorm backward");
    expect("batchnorm train out", d_out, out, n, FP32_NMSE, FP32_MAX);
    expect("batchnorm running mean", d_rm, rm, C, FP32_NMSE, FP32_MAX);
    expect("batchnorm running var", d_rv, rv, C, FP32_NMSE, FP32_MAX);
    expect("batchnorm din", d_din, din, n, FP32_NMSE, FP32_MAX);
    expect("batchnorm dgamma", d_dg, dg, C, FP32_NMSE, FP32_MAX);
    expect("batchnorm dbeta", d_db, db, C, FP32_NMSE, FP32_MAX);
    mc_batchnorm_forward(out, NULL, NULL, rm, rv, in, g, b, N, C, S, 1e-5f, 0.1f, 0);
    gc_ok(c, mc_cuda_batchnorm_forward(c, d_out, NULL, NULL, d_rm, d_rv, d_in, d_g, d_b, N, C, S, 1e-5f, 0.1f, 0),
          "batchnorm eval");
    expect("batchnorm eval out", d_out, out, n, FP32_NMSE, FP32_MAX);
    float *all[] = {in, g, b, out, mean, rstd, rm, rv, dout, din, dg, db},
          *dall[] = {d_in, d_g, d_b, d_out, d_mean, d_rstd, d_rm, d_rv, d_dout, d_din, d_dg, d_db};
    for (int i = 0; i < 12; i++) free(all[i]), mc_cuda_free(c, dall[i]);
}

/* The output sizes, as mc_conv_params_init gives them (which lives beside the oneDNN
 * convolutions that this test does not link). */
static void conv_out_sizes(mc_conv_params *p) {
    for (int d = 0; d < p->dims; d++) p->out[d] = (p->in[d] + 2 * p->pad[d] - p->dil[d] * (p->k[d] - 1) - 1) / p->stride[d] + 1;
}

static void conv_case(const char *label, mc_conv_params p) {
    conv_out_sizes(&p);
    int64_t sp_in = 1, sp_out = 1, kk = 1;
    for (int d = 0; d < p.dims; d++) sp_in *= p.in[d], sp_out *= p.out[d], kk *= p.k[d];
    int64_t nin = p.N * p.IC * sp_in, nout = p.N * p.OC * sp_out, nw = p.OC * (p.IC / p.groups) * kk;
    float *in = rnd(nin, -1, 1), *w = rnd(nw, -0.5f, 0.5f), *b = rnd(p.OC, -1, 1), *out = rnd(nout, 0, 0),
          *dout = rnd(nout, -1, 1), *din = rnd(nin, -1, 1), *dw = rnd(nw, -1, 1), *db = rnd(p.OC, -1, 1);
    float *d_in = gc_up(c, in, nin), *d_w = gc_up(c, w, nw), *d_b = gc_up(c, b, p.OC), *d_out = gc_zeros(c, nout),
          *d_dout = gc_up(c, dout, nout), *d_din = gc_up(c, din, nin), *d_dw = gc_up(c, dw, nw), *d_db = gc_up(c, db, p.OC);
    mc_conv_ref_forward(out, in, w, b, &p);
    mc_conv_ref_backward(din, dw, db, dout, in, w, &p);
    gc_ok(c, mc_cuda_conv_forward(c, d_out, d_in, d_w, d_b, &p), "conv forward");
    gc_ok(c, mc_cuda_conv_backward(c, d_din, d_dw, d_db, d_dout, d_in, d_w, &p), "conv backward");
    char name[96];
    snprintf(name, sizeof name, "%s out", label);
    expect(name, d_out, out, nout, CONV_NMSE, 1e-3);
    snprintf(name, sizeof name, "%s din", label);
    expect(name, d_din, din, nin, CONV_NMSE, 1e-3);
    snprintf(name, sizeof name, "%s dw", label);
    expect(name, d_dw, dw, nw, CONV_NMSE, 1e-3);
    snprintf(name, sizeof name, "%s db", label);
    expect(name, d_db, db, p.OC, CONV_NMSE, 1e-3);
    float *all[] = {in, w, b, out, dout, din, dw, db}, *dall[] = {d_in, d_w, d_b, d_out, d_dout, d_din, d_dw, d_db};
    for (int i = 0; i < 8; i++) free(all[i]), mc_cuda_free(c, dall[i]);
}

static void test_conv(void) {
    conv_case("conv2d s2 p1 g2", (mc_conv_params){.dims = 2, .N = 2, .IC = 4, .OC = 6, .groups = 2, .in = {9, 11},
                                                  .k = {3, 3}, .stride = {2, 2}, .pad = {1, 1}, .dil = {1, 1}});
    conv_case("conv2d 5x3 dil2", (mc_conv_params){.dims = 2, .N = 3, .IC = 3, .OC = 5, .groups = 1, .in = {12, 10},
                                                  .k = {5, 3}, .stride = {1, 1}, .pad = {2, 1}, .dil = {2, 1}});
    conv_case("conv3d k3 p1", (mc_conv_params){.dims = 3, .N = 2, .IC = 3, .OC = 4, .groups = 1, .in = {6, 7, 5},
                                               .k = {3, 3, 3}, .stride = {1, 1, 1}, .pad = {1, 1, 1}, .dil = {1, 1, 1}});
    conv_case("conv3d s2", (mc_conv_params){.dims = 3, .N = 1, .IC = 4, .OC = 8, .groups = 2, .in = {8, 8, 8},
                                            .k = {3, 3, 3}, .stride = {2, 2, 2}, .pad = {1, 1, 1}, .dil = {1, 1, 1}});
}

static void pool_case(const char *label, mc_pool_params p) {
    if (mc_pool_params_init(&p) != MC_OK) {
        printf("FAIL %s: bad parameters in the test\n", label);
        gc_failures++;
        return;
    }
    int64_t sp_in = 1, sp_out = 1;
    for (int d = 0; d < p.dims; d++) sp_in *= p.in[d], sp_out *= p.out[d];
    int64_t nin = (int64_t)p.N * p.C * sp_in, nout = (int64_t)p.N * p.C * sp_out;
    float *in = rnd(nin, -1, 1), *out = rnd(nout, 0, 0), *dout = rnd(nout, -1, 1), *din = rnd(nin, -1, 1);
    int32_t *am = calloc((size_t)nout, sizeof *am), *am_got = calloc((size_t)nout, sizeof *am_got);
    float *d_in = gc_up(c, in, nin), *d_out = gc_zeros(c, nout), *d_dout = gc_up(c, dout, nout), *d_din = gc_up(c, din, nin);
    int32_t *d_am = gc_up_bytes(c, NULL, (size_t)nout * sizeof(int32_t));
    mc_pool_forward(out, am, in, &p);
    mc_pool_backward(din, dout, am, &p);
    gc_ok(c, mc_cuda_pool_forward(c, d_out, d_am, d_in, &p), "pool forward");
    gc_ok(c, mc_cuda_pool_backward(c, d_din, d_dout, d_am, &p), "pool backward");
    char name[96];
    snprintf(name, sizeof name, "%s out", label);
    expect(name, d_out, out, nout, FP32_NMSE, 1e-6);
    snprintf(name, sizeof name, "%s din", label);
    expect(name, d_din, din, nin, FP32_NMSE, 1e-5);
    if (p.kind == MC_POOL_MAX) {
        gc_ok(c, mc_cuda_to_host(c, am_got, d_am, (size_t)nout * sizeof(int32_t)), "copy argmax");
        int same = memcmp(am, am_got, (size_t)nout * sizeof(int32_t)) == 0;
        gc_failures += !same;
        printf("%s %s argmax identical\n", same ? "ok" : "FAIL", label);
    }
    free(in), free(out), free(dout), free(din), free(am), free(am_got);
    mc_cuda_free(c, d_in), mc_cuda_free(c, d_out), mc_cuda_free(c, d_dout), mc_cuda_free(c, d_din), mc_cuda_free(c, d_am);
}

static void test_pool(void) {
    pool_case("maxpool2d k3 s2 p1", (mc_pool_params){.dims = 2, .kind = MC_POOL_MAX, .N = 2, .C = 3, .in = {11, 9},
                                                     .k = {3, 3}, .stride = {2, 2}, .pad = {1, 1}});
    pool_case("avgpool2d k2 s2", (mc_pool_params){.dims = 2, .kind = MC_POOL_AVG, .N = 2, .C = 3, .in = {10, 8},
                                                  .k = {2, 2}, .stride = {2, 2}, .pad = {0, 0}});
    pool_case("maxpool3d k2 s2", (mc_pool_params){.dims = 3, .kind = MC_POOL_MAX, .N = 1, .C = 4, .in = {6, 8, 7},
                                                  .k = {2, 2, 2}, .stride = {2, 2, 2}, .pad = {0, 0, 0}});
    pool_case("avgpool3d k3 s1 p1", (mc_pool_params){.dims = 3, .kind = MC_POOL_AVG, .N = 2, .C = 2, .in = {5, 6, 4},
                                                     .k = {3, 3, 3}, .stride = {1, 1, 1}, .pad = {1, 1, 1}});
    const int N = 3, C = 5;
    const int64_t S = 333;
    float *in = rnd(N * C * S, -1, 1), *out = rnd(N * C, 0, 0), *dout = rnd(N * C, -1, 1), *din = rnd(N * C * S, -1, 1);
    float *d_in = gc_up(c, in, N * C * S), *d_out = gc_zeros(c, N * C), *d_dout = gc_up(c, dout, N * C),
          *d_din = gc_up(c, din, N * C * S);
    mc_global_avgpool_forward(out, in, N, C, S);
    mc_global_avgpool_backward(din, dout, N, C, S);
    gc_ok(c, mc_cuda_global_avgpool_forward(c, d_out, d_in, N, C, S), "global avgpool forward");
    gc_ok(c, mc_cuda_global_avgpool_backward(c, d_din, d_dout, N, C, S), "global avgpool backward");
    expect("global avgpool out", d_out, out, N * C, FP32_NMSE, 1e-6);
    expect("global avgpool din", d_din, din, N * C * S, FP32_NMSE, 1e-6);
    free(in), free(out), free(dout), free(din);
    mc_cuda_free(c, d_in), mc_cuda_free(c, d_out), mc_cuda_free(c, d_dout), mc_cuda_free(c, d_din);
}

static void test_se(void) {
    const int N = 3, C = 12, R = 4;
    const int64_t S = 77, n = (int64_t)N * C * S;
    float *in = rnd(n, -1, 1), *w1 = rnd((int64_t)R * C, -0.5f, 0.5f), *b1 = rnd(R, -0.2f, 0.2f);
    float *w2 = rnd((int64_t)C * R, -0.5f, 0.5f), *b2 = rnd(C, -0.2f, 0.2f), *out = rnd(n, 0, 0);
    float *pooled = rnd(N * C, 0, 0), *hidden = rnd(N * R, 0, 0), *gate = rnd(N * C, 0, 0), *dout = rnd(n, -1, 1);
    float *din = rnd(n, -1, 1), *dw1 = rnd((int64_t)R * C, -1, 1), *db1 = rnd(R, -1, 1), *dw2 = rnd((int64_t)C * R, -1, 1),
          *db2 = rnd(C, -1, 1);
    float *h[] = {in, w1, b1, w2, b2, out, pooled, hidden, gate, dout, din, dw1, db1, dw2, db2};
    const int64_t sizes[] = {n, R * C, R, C * R, C, n, N * C, N * R, N * C, n, n, R * C, R, C * R, C};
    float *d[15];
    for (int i = 0; i < 15; i++) d[i] = gc_up(c, h[i], sizes[i]);
    mc_se_forward(out, pooled, hidden, gate, in, w1, b1, w2, b2, N, C, R, S);
    mc_se_backward(din, dw1, db1, dw2, db2, dout, in, w1, w2, pooled, hidden, gate, N, C, R, S);
    gc_ok(c, mc_cuda_se_forward(c, d[5], d[6], d[7], d[8], d[0], d[1], d[2], d[3], d[4], N, C, R, S), "se forward");
    gc_ok(c, mc_cuda_se_backward(c, d[10], d[11], d[12], d[13], d[14], d[9], d[0], d[1], d[3], d[6], d[7], d[8], N, C, R, S),
          "se backward");
    const char *names[] = {"se out", "se gate", "se din", "se dw1", "se db1", "se dw2", "se db2"};
    const int which[] = {5, 8, 10, 11, 12, 13, 14};
    for (int i = 0; i < 7; i++) expect(names[i], d[which[i]], h[which[i]], sizes[which[i]], FP32_NMSE, FP32_MAX);
    for (int i = 0; i < 15; i++) free(h[i]), mc_cuda_free(c, d[i]);
}

/* One loss: value and accumulated gradient, CPU against GPU. */
static void loss_check(const char *name, double want, double got, const float *grad, const float *d_grad, int64_t n) {
    char label[64];
    snprintf(label, sizeof label, "%s value", name);
    gc_compare_scalar(label, got, want, 1e-9);
    snprintf(label, sizeof label, "%s grad", name);
    expect(label, d_grad, grad, n, FP32_NMSE, 1e-6);
}

static void test_losses(void) {
    const int64_t n = 5000;
    float *pred = rnd(n, -4, 4), *target = rnd(n, 0, 1), *grad = rnd(n, -1, 1);
    float *d_pred = gc_up(c, pred, n), *d_target = gc_up(c, target, n), *d_grad = gc_up(c, grad, n);
    double got = 0.0, want;
    want = mc_mse_loss(grad, 0.7f, pred, target, n);
    gc_ok(c, mc_cuda_mse_loss(c, &got, d_grad, 0.7f, d_pred, d_target, n), "mse");
    loss_check("mse", want, got, grad, d_grad, n);
    want = mc_huber_loss(grad, 1.3f, pred, target, n, 0.8f);
    gc_ok(c, mc_cuda_huber_loss(c, &got, d_grad, 1.3f, d_pred, d_target, n, 0.8f), "huber");
    loss_check("huber", want, got, grad, d_grad, n);
    want = mc_bce_logits_loss(grad, 1.0f, pred, target, n, 2.5f);
    gc_ok(c, mc_cuda_bce_logits_loss(c, &got, d_grad, 1.0f, d_pred, d_target, n, 2.5f), "bce");
    loss_check("bce_logits", want, got, grad, d_grad, n);
    want = mc_focal_loss(grad, 0.5f, pred, target, n, 0.25f, 2.0f);
    gc_ok(c, mc_cuda_focal_loss(c, &got, d_grad, 0.5f, d_pred, d_target, n, 0.25f, 2.0f), "focal");
    loss_check("focal", want, got, grad, d_grad, n);
    /* cross-entropy with some rows unlabelled (-1) or out of range */
    const int N = 250, K = 20;
    int32_t labels[250];
    for (int i = 0; i < N; i++) labels[i] = i % 17 == 0 ? -1 : i % 23 == 0 ? K : (int32_t)mc_rng_below(rng, K);
    int32_t *d_labels = gc_up_bytes(c, labels, sizeof labels);
    want = mc_cross_entropy_loss(grad, 1.0f, pred, labels, N, K);
    gc_ok(c, mc_cuda_cross_entropy_loss(c, &got, d_grad, 1.0f, d_pred, d_labels, N, K), "cross entropy");
    loss_check("cross_entropy", want, got, grad, d_grad, (int64_t)N * K);
    free(pred), free(target), free(grad);
    mc_cuda_free(c, d_pred), mc_cuda_free(c, d_target), mc_cuda_free(c, d_grad), mc_cuda_free(c, d_labels);
}

static void test_optim(void) {
    const int64_t n = 4099, half = 2000;
    for (int kind = MC_OPTIM_SGD; kind <= MC_OPTIM_ADAMW; kind++) {
        mc_optim_config cfg = {.kind = (mc_optim_kind)kind, .momentum = 0.9f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
        mc_optim *o = mc_optim_create(&cfg, n);
        mc_cuda_optim *go = NULL;
        gc_ok(c, mc_cuda_optim_create(&go, c, &cfg, n), "optim create");
        float *p = rnd(n, -1, 1), *d_p = gc_up(c, p, n), *g = rnd(n, 0, 0), *d_g = gc_zeros(c, n);
        for (int step = 0; step < 5; step++) {
            gc_uniform(g, n, -1, 1, rng);
            gc_ok(c, mc_cuda_to_device(c, d_g, g, (size_t)n * sizeof(float)), "copy grads");
            mc_optim_begin_step(o);
            mc_cuda_optim_begin_step(go);
            /* two ranges with different decay, as a model does for weights and biases */
            mc_optim_update(o, p, g, 0, half, 1e-2f, 0.1f);
            mc_optim_update(o, p + half, g + half, half, n - half, 1e-2f, 0.0f);
            gc_ok(c, mc_cuda_optim_update(go, d_p, d_g, 0, half, 1e-2f, 0.1f), "optim update");
            gc_ok(c, mc_cuda_optim_update(go, d_p + half, d_g + half, half, n - half, 1e-2f, 0.0f), "optim update");
        }
        expect(kind == MC_OPTIM_SGD ? "sgd momentum 5 steps params" : "adamw 5 steps params", d_p, p, n, 1e-12, 1e-6);
        mc_optim_destroy(o);
        mc_cuda_optim_destroy(go);
        free(p), free(g);
        mc_cuda_free(c, d_p), mc_cuda_free(c, d_g);
    }
    /* clipping: a norm above the limit scales, one below leaves the gradients alone */
    for (int big = 0; big < 2; big++) {
        const int64_t m = 100003;
        float *g = rnd(m, -1, 1), *d_g = gc_up(c, g, m);
        double limit = big ? 10.0 : 1e4, norm = 0.0, want = mc_clip_grad_norm(g, m, limit);
        gc_ok(c, mc_cuda_clip_grad_norm(c, &norm, d_g, m, limit), "clip");
        gc_compare_scalar(big ? "clip norm (clipped)" : "clip norm (not clipped)", norm, want, 1e-12);
        expect(big ? "clipped grads" : "unclipped grads", d_g, g, m, 1e-12, 1e-7);
        free(g);
        mc_cuda_free(c, d_g);
    }
}

int main(void) {
    c = gc_gpu_open("test_gpu_ops");
    rng = mc_rng_create(20260101);
    test_gemm();
    test_linear();
    test_activations();
    test_softmax();
    test_dropout();
    test_layernorm();
    test_batchnorm();
    test_conv();
    test_pool();
    test_se();
    test_losses();
    test_optim();
    mc_rng_destroy(rng);
    mc_cuda_ctx_destroy(c);
    return gc_finish("test_gpu_ops");
}
