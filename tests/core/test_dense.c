/* test_dense.c: the dense layers (linear, activations, softmax, dropout, layer norm) and
 * multi-head self-attention: gradients of every input and weight by central differences, forward
 * values against references computed here in double, accumulation into gradients, and results that
 * do not depend on the number of threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "moecore/nn.h"

/* Gradient checks. Forward passes run in float32 and L = <out, r> sums 10..200 outputs of size ~1,
 * so L carries a rounding noise of ~1e-7..1e-6. The step h = 2^-7 is a power of two, so x +- h is
 * exact in float; the difference quotient then has a noise of ~1e-6 / 2h ~ 1e-4 at worst and a
 * truncation error h^2 f''' / 6 ~ 1e-5. Gradients below FLOOR = 1e-2 are compared absolutely
 * against it, so the expected error is a few 1e-3 at most (measured worst: 1.5e-3, on an
 * attention weight); GRAD_TOL = 1e-2 keeps a margin of six to seven. A wrong formula (a missing
 * term, a transposed index, a wrong head offset) gives errors of order 1. */
#define STEP (1.0 / 128)
#define FLOOR 1e-2
#define GRAD_TOL 1e-2
#define CHECKS 100

/* Forward values: float32 results against double references agree to a few ulps of the largest
 * intermediate (values ~1..10), so 1e-5 absolute; the softmax and layer-norm identities hold to
 * float rounding (1e-6). */
#define FWD_TOL 1e-5

static void grad_ok(const char *what, float *x, const float *grad, int64_t n, gc_loss_fn loss, void *ctx) {
    assert_true(gc_check(what, x, grad, n, loss, ctx, STEP, FLOOR, CHECKS, GRAD_TOL) < GRAD_TOL);
}

/* Test buffers, all freed by the teardown of each test. */
static void *owned[128];
static int n_owned;

static void *keep(void *p) {
    assert_non_null(p);
    assert_true(n_owned < (int)(sizeof owned / sizeof owned[0]));
    owned[n_owned++] = p;
    return p;
}

static float *zeros(int64_t n) { return keep(calloc((size_t)n, sizeof(float))); }

static float *uniform(int64_t n, float lo, float hi, mc_rng *r) {
    float *v = keep(malloc(sizeof(float) * (size_t)n));
    gc_fill(v, n, lo, hi, r);
    return v;
}

static int free_owned(void **state) {
    (void)state;
    while (n_owned > 0) free(owned[--n_owned]);
    return 0;
}

static void assert_close(double got, double want, double tol) {
    if (!(fabs(got - want) <= tol)) fail_msg("got %.9g, want %.9g (tolerance %.3g)", got, want, tol);
}

/* ---- linear ------------------------------------------------------------------------------------------ */

typedef struct {
    float *out, *x, *w, *b, *r;
    int N, C, OC;
} linear_ctx;

static double linear_loss(void *p) {
    linear_ctx *c = p;
    mc_linear_forward(c->out, c->x, c->w, c->b, c->N, c->C, c->OC);
    return gc_dot(c->out, c->r, (int64_t)c->N * c->OC);
}

static void test_linear(void **state) {
    (void)state;
    mc_rng *g = mc_rng_create(1);
    enum { N = 5, C = 7, OC = 4 };
    linear_ctx c = {.N = N, .C = C, .OC = OC};
    c.x = uniform(N * C, -1, 1, g);
    c.w = uniform(OC * C, -1, 1, g);
    c.b = uniform(OC, -1, 1, g);
    c.out = zeros(N * OC);
    c.r = uniform(N * OC, -1, 1, g);

    /* forward against the definition, with and without bias */
    for (int with_bias = 0; with_bias < 2; with_bias++) {
        mc_linear_forward(c.out, c.x, c.w, with_bias ? c.b : NULL, N, C, OC);
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++) {
                double s = with_bias ? c.b[o] : 0.0;
                for (int k = 0; k < C; k++) s += (double)c.x[n * C + k] * c.w[o * C + k];
                assert_close(c.out[n * OC + o], s, FWD_TOL);
            }
    }

    float *dx = zeros(N * C), *dw = zeros(OC * C), *db = zeros(OC);
    mc_linear_backward(dx, dw, db, c.r, c.x, c.w, N, C, OC);
    grad_ok("linear x", c.x, dx, N * C, linear_loss, &c);
    grad_ok("linear w", c.w, dw, OC * C, linear_loss, &c);
    grad_ok("linear b", c.b, db, OC, linear_loss, &c);

    /* backward accumulates: a second call doubles what it is given and leaves NULLs alone */
    float *dw1 = keep(malloc(sizeof(float) * OC * C));
    memcpy(dw1, dw, sizeof(float) * OC * C);
    mc_linear_backward(NULL, dw, NULL, c.r, c.x, c.w, N, C, OC);
    for (int i = 0; i < OC * C; i++) assert_close(dw[i], 2.0 * dw1[i], 1e-6 * (1 + fabs(dw1[i])));
    mc_rng_destroy(g);
}

/* ---- activations --------------------------------------------------------------------------------- */

typedef struct {
    float *out, *x, *r;
    int64_t n;
    mc_act act;
} act_ctx;

static double act_loss(void *p) {
    act_ctx *c = p;
    mc_act_forward(c->out, c->x, c->n, c->act);
    return gc_dot(c->out, c->r, c->n);
}

static double act_ref(mc_act a, double x) {
    switch (a) {
    case MC_ACT_RELU: return x > 0 ? x : 0;
    case MC_ACT_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case MC_ACT_SILU: return x / (1 + exp(-x));
    case MC_ACT_SIGMOID: return 1 / (1 + exp(-x));
    case MC_ACT_TANH: return tanh(x);
    default: return x;
    }
}

static void test_activations(void **state) {
    (void)state;
    mc_rng *g = mc_rng_create(2);
    enum { N = 60 };
    act_ctx c = {.n = N};
    c.x = uniform(N, -3, 3, g);
    /* keep inputs away from ReLU's kink by more than the difference step */
    for (int i = 0; i < N; i++)
        if (fabsf(c.x[i]) < 0.05f) c.x[i] = 0.25f;
    c.out = zeros(N);
    c.r = uniform(N, -1, 1, g);
    float *d = zeros(N);
    for (int k = MC_ACT_NONE; k <= MC_ACT_TANH; k++) {
        c.act = (mc_act)k;
        mc_act_forward(c.out, c.x, N, c.act);
        /* the values against libm in double; GELU's fast form is documented within 5e-7 */
        for (int i = 0; i < N; i++) assert_close(c.out[i], act_ref(c.act, c.x[i]), 2e-6);
        memset(d, 0, sizeof(float) * N);
        mc_act_backward(d, c.r, c.x, c.out, N, c.act);
        grad_ok(mc_act_name(c.act), c.x, d, N, act_loss, &c);
    }
    mc_act parsed;
    assert_int_equal(mc_act_parse("silu", &parsed), 0);
    assert_int_equal(parsed, MC_ACT_SILU);
    assert_string_equal(mc_act_name(MC_ACT_GELU), "gelu");
    assert_int_equal(mc_act_parse("swish", &parsed), -1);
    mc_rng_destroy(g);
}

/* ---- softmax ------------------------------------------------------------------------------------------ */

typedef struct {
    float *out, *x, *r;
    int R, C;
} softmax_ctx;

static double softmax_loss(void *p) {
    softmax_ctx *c = p;
    mc_softmax_forward(c->out, c->x, c->R, c->C);
    return gc_dot(c->out, c->r, (int64_t)c->R * c->C);
}

static void test_softmax(void **state) {
    (void)state;
    /* known values: softmax(0, log 2, log 5) = (1, 2, 5) / 8; huge logits neither overflow nor NaN */
    float row[3] = {0.0f, (float)log(2.0), (float)log(5.0)}, y[3];
    mc_softmax_forward(y, row, 1, 3);
    assert_close(y[0], 0.125, 1e-7);
    assert_close(y[1], 0.25, 1e-7);
    assert_close(y[2], 0.625, 1e-7);
    float big[3] = {1000.0f, 0.0f, -1000.0f};
    mc_softmax_forward(big, big, 1, 3); /* in place */
    assert_close(big[0], 1.0, 0);
    assert_close(big[1], 0.0, 1e-30);
    assert_close(big[2], 0.0, 0);

    mc_rng *g = mc_rng_create(3);
    enum { R = 4, C = 6 };
    softmax_ctx c = {.R = R, .C = C};
    c.x = uniform(R * C, -3, 3, g);
    c.out = zeros(R * C);
    c.r = uniform(R * C, -1, 1, g);
    mc_softmax_forward(c.out, c.x, R, C);
    for (int r = 0; r < R; r++) {
        double z = 0, sum = 0;
        for (int k = 0; k < C; k++) z += exp(c.x[r * C + k]);
        for (int k = 0; k < C; k++) {
            assert_close(c.out[r * C + k], exp(c.x[r * C + k]) / z, 1e-6);
            sum += c.out[r * C + k];
        }
        assert_close(sum, 1.0, 1e-6);
    }
    float *d = zeros(R * C);
    mc_softmax_backward(d, c.r, c.out, R, C);
    grad_ok("softmax", c.x, d, R * C, softmax_loss, &c);
    mc_rng_destroy(g);
}

/* ---- dropout --------------------------------------------------------------------------------------- */

typedef struct {
    float *out, *x, *r;
    uint8_t *mask;
    int64_t n;
    float p;
    uint64_t seed;
} dropout_ctx;

/* A fresh generator with the same seed draws the same mask on every call. */
static double dropout_loss(void *p) {
    dropout_ctx *c = p;
    mc_rng *rng = mc_rng_create(c->seed);
    mc_dropout_forward(c->out, c->mask, c->x, c->n, c->p, rng);
    mc_rng_destroy(rng);
    return gc_dot(c->out, c->r, c->n);
}

static void test_dropout(void **state) {
    (void)state;
    mc_rng *g = mc_rng_create(4);
    enum { N = 1000 };
    dropout_ctx c = {.n = N, .p = 0.25f, .seed = 9};
    c.x = uniform(N, -1, 1, g);
    c.out = zeros(N);
    c.r = uniform(N, -1, 1, g);
    c.mask = keep(malloc(N));
    dropout_loss(&c);
    int kept = 0;
    for (int i = 0; i < N; i++) {
        assert_true(c.mask[i] <= 1);
        kept += c.mask[i];
        assert_close(c.out[i], c.mask[i] ? c.x[i] / 0.75 : 0.0, 2e-7); /* the scale 1/(1 - p) in float: an ulp */
    }
    assert_in_range(kept, 700, 800); /* 750 expected, binomial sd about 14: +-3.6 sd */

    /* the mask is the generator's uniform draws in index order, kept when u >= p */
    mc_rng *twin = mc_rng_create(c.seed);
    for (int i = 0; i < N; i++) assert_int_equal(c.mask[i], mc_rng_uniform(twin) >= c.p);
    mc_rng_destroy(twin);

    float *d = zeros(N);
    mc_dropout_backward(d, c.r, c.mask, N, c.p);
    for (int i = 0; i < N; i++) assert_close(d[i], c.mask[i] ? c.r[i] / 0.75 : 0.0, 2e-7);
    grad_ok("dropout", c.x, d, N, dropout_loss, &c);

    /* p = 0 keeps everything unscaled */
    mc_rng *r0 = mc_rng_create(1);
    mc_dropout_forward(c.out, c.mask, c.x, N, 0.0f, r0);
    mc_rng_destroy(r0);
    for (int i = 0; i < N; i++) assert_true(c.mask[i] == 1 && c.out[i] == c.x[i]);

    /* a size that runs in parallel: the same mask and output with one thread and with several */
    enum { BIG = 200000 };
    float *xb = uniform(BIG, -1, 1, g), *o1 = zeros(BIG), *o2 = zeros(BIG);
    uint8_t *m1 = keep(malloc(BIG)), *m2 = keep(malloc(BIG));
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    mc_rng *ra = mc_rng_create(77);
    mc_dropout_forward(o1, m1, xb, BIG, 0.5f, ra);
    omp_set_num_threads(threads > 1 ? threads : 2);
    mc_rng *rb = mc_rng_create(77);
    mc_dropout_forward(o2, m2, xb, BIG, 0.5f, rb);
    omp_set_num_threads(threads);
    assert_memory_equal(m1, m2, BIG);
    assert_memory_equal(o1, o2, sizeof(float) * BIG);
    mc_rng_destroy(ra);
    mc_rng_destroy(rb);
    mc_rng_destroy(g);
}

/* ---- layer norm ------------------------------------------------------------------------------------ */

typedef struct {
    float *out, *mean, *rstd, *x, *w, *b, *r;
    int N, C;
} ln_ctx;

static const float LN_EPS = 1e-5f;

static double ln_loss(void *p) {
    ln_ctx *c = p;
    mc_layernorm_forward(c->out, c->mean, c->rstd, c->x, c->w, c->b, c->N, c->C, LN_EPS);
    return gc_dot(c->out, c->r, (int64_t)c->N * c->C);
}

static void test_layernorm(void **state) {
    (void)state;
    /* known values: x = (1, 2, 3, 4) has mean 2.5 and biased variance 1.25 */
    float x4[4] = {1, 2, 3, 4}, w4[4] = {1, 1, 2, 1}, b4[4] = {0, 0, 0, 0.5f}, y4[4], m1, r1;
    mc_layernorm_forward(y4, &m1, &r1, x4, w4, b4, 1, 4, LN_EPS);
    const double rs = 1.0 / sqrt(1.25 + 1e-5);
    assert_close(m1, 2.5, 0);
    assert_close(r1, rs, 1e-6);
    assert_close(y4[0], -1.5 * rs, 1e-6);
    assert_close(y4[1], -0.5 * rs, 1e-6);
    assert_close(y4[2], 2 * 0.5 * rs, 1e-6);
    assert_close(y4[3], 1.5 * rs + 0.5, 1e-6);

    mc_rng *g = mc_rng_create(5);
    enum { N = 5, C = 8 };
    ln_ctx c = {.N = N, .C = C};
    c.x = uniform(N * C, -2, 2, g);
    c.w = uniform(C, 0.5f, 1.5f, g);
    c.b = uniform(C, -1, 1, g);
    c.out = zeros(N * C);
    c.mean = zeros(N);
    c.rstd = zeros(N);
    c.r = uniform(N * C, -1, 1, g);
    ln_loss(&c);
    /* every normalised row has mean 0 and variance 1 (to eps / var) */
    for (int n = 0; n < N; n++) {
        double m = 0, v = 0;
        for (int k = 0; k < C; k++) m += (c.out[n * C + k] - c.b[k]) / c.w[k];
        m /= C;
        for (int k = 0; k < C; k++) v += pow((c.out[n * C + k] - c.b[k]) / c.w[k] - m, 2);
        assert_close(m, 0.0, 1e-6);
        assert_close(v / C, 1.0, 1e-4);
    }
    float *dx = zeros(N * C), *dw = zeros(C), *db = zeros(C);
    mc_layernorm_backward(dx, dw, db, c.r, c.x, c.w, c.mean, c.rstd, N, C);
    grad_ok("layernorm x", c.x, dx, N * C, ln_loss, &c);
    grad_ok("layernorm w", c.w, dw, C, ln_loss, &c);
    grad_ok("layernorm b", c.b, db, C, ln_loss, &c);

    /* a size that runs in parallel: every gradient bit-identical with one thread and with several */
    enum { BN = 512, BC = 96 };
    float *x = uniform(BN * BC, -2, 2, g), *w = uniform(BC, 0.5f, 1.5f, g), *b = uniform(BC, -1, 1, g);
    float *dout = uniform(BN * BC, -1, 1, g), *out = zeros(BN * BC), *mean = zeros(BN), *rstd = zeros(BN);
    float *grads[2][3];
    const int threads = omp_get_max_threads();
    for (int run = 0; run < 2; run++) {
        omp_set_num_threads(run == 0 ? 1 : (threads > 1 ? threads : 2));
        grads[run][0] = zeros(BN * BC);
        grads[run][1] = zeros(BC);
        grads[run][2] = zeros(BC);
        mc_layernorm_forward(out, mean, rstd, x, w, b, BN, BC, LN_EPS);
        mc_layernorm_backward(grads[run][0], grads[run][1], grads[run][2], dout, x, w, mean, rstd, BN, BC);
    }
    omp_set_num_threads(threads);
    assert_memory_equal(grads[0][0], grads[1][0], sizeof(float) * BN * BC);
    assert_memory_equal(grads[0][1], grads[1][1], sizeof(float) * BC);
    assert_memory_equal(grads[0][2], grads[1][2], sizeof(float) * BC);
    mc_rng_destroy(g);
}

/* ---- multi-head self-attention ------------------------------------------------------------------------ */

typedef struct {
    float *out, *qkv, *att, *y, *x, *w_qkv, *b_qkv, *w_o, *b_o, *r;
    int B, T, C, H;
} mhsa_ctx;

static double mhsa_loss(void *p) {
    mhsa_ctx *c = p;
    mc_mhsa_forward(c->out, c->qkv, c->att, c->y, c->x, c->w_qkv, c->b_qkv, c->w_o, c->b_o, c->B, c->T, c->C, c->H);
    return gc_dot(c->out, c->r, (int64_t)c->B * c->T * c->C);
}

/* The definition in double, head by head: out (B, T, C) and att (B, H, T, T). */
static void mhsa_reference(double *out, double *att, const mhsa_ctx *c) {
    const int B = c->B, T = c->T, C = c->C, H = c->H, hd = C / H;
    double *qkv = malloc(sizeof(double) * B * T * 3 * C), *y = malloc(sizeof(double) * B * T * C);
    assert_non_null(qkv);
    assert_non_null(y);
    for (int i = 0; i < B * T; i++)
        for (int o = 0; o < 3 * C; o++) {
            double s = c->b_qkv[o];
            for (int k = 0; k < C; k++) s += (double)c->x[i * C + k] * c->w_qkv[o * C + k];
            qkv[i * 3 * C + o] = s;
        }
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < T; i++) {
                const double *q = qkv + (b * T + i) * 3 * C + h * hd;
                double *a = att + ((b * H + h) * T + i) * T, z = 0;
                for (int j = 0; j < T; j++) {
                    const double *k = qkv + (b * T + j) * 3 * C + C + h * hd;
                    double s = 0;
                    for (int d = 0; d < hd; d++) s += q[d] * k[d];
                    a[j] = exp(s / sqrt(hd));
                    z += a[j];
                }
                for (int j = 0; j < T; j++) a[j] /= z;
                for (int d = 0; d < hd; d++) {
                    double s = 0;
                    for (int j = 0; j < T; j++) s += a[j] * qkv[(b * T + j) * 3 * C + 2 * C + h * hd + d];
                    y[(b * T + i) * C + h * hd + d] = s;
                }
            }
    for (int i = 0; i < B * T; i++)
        for (int o = 0; o < C; o++) {
            double s = c->b_o[o];
            for (int k = 0; k < C; k++) s += y[i * C + k] * c->w_o[o * C + k];
            out[i * C + o] = s;
        }
    free(qkv);
    free(y);
}

static void check_mhsa(int B, int T, int C, int H, uint64_t seed) {
    mc_rng *g = mc_rng_create(seed);
    mhsa_ctx c = {.B = B, .T = T, .C = C, .H = H};
    const int n = B * T * C;
    c.x = uniform(n, -1, 1, g);
    c.w_qkv = uniform(3 * C * C, -0.5f, 0.5f, g);
    c.b_qkv = uniform(3 * C, -0.2f, 0.2f, g);
    c.w_o = uniform(C * C, -0.5f, 0.5f, g);
    c.b_o = uniform(C, -0.2f, 0.2f, g);
    c.r = uniform(n, -1, 1, g);
    c.out = zeros(n);
    c.qkv = zeros(3 * n);
    c.att = zeros(B * H * T * T);
    c.y = zeros(n);
    mhsa_loss(&c);

    double *out = keep(malloc(sizeof(double) * n)), *att = keep(malloc(sizeof(double) * B * H * T * T));
    mhsa_reference(out, att, &c);
    for (int i = 0; i < n; i++) assert_close(c.out[i], out[i], FWD_TOL);
    for (int i = 0; i < B * H * T * T; i++) assert_close(c.att[i], att[i], FWD_TOL);

    float *dx = zeros(n), *dwq = zeros(3 * C * C), *dbq = zeros(3 * C), *dwo = zeros(C * C), *dbo = zeros(C);
    mc_mhsa_backward(dx, dwq, dbq, dwo, dbo, c.r, c.x, c.w_qkv, c.w_o, c.qkv, c.att, c.y, B, T, C, H);
    grad_ok("mhsa x", c.x, dx, n, mhsa_loss, &c);
    grad_ok("mhsa w_qkv", c.w_qkv, dwq, 3 * C * C, mhsa_loss, &c);
    grad_ok("mhsa b_qkv", c.b_qkv, dbq, 3 * C, mhsa_loss, &c);
    grad_ok("mhsa w_o", c.w_o, dwo, C * C, mhsa_loss, &c);
    grad_ok("mhsa b_o", c.b_o, dbo, C, mhsa_loss, &c);

    /* accumulation: a second backward with only dx doubles it */
    float *dx1 = keep(malloc(sizeof(float) * n));
    memcpy(dx1, dx, sizeof(float) * n);
    mc_mhsa_backward(dx, NULL, NULL, NULL, NULL, c.r, c.x, c.w_qkv, c.w_o, c.qkv, c.att, c.y, B, T, C, H);
    for (int i = 0; i < n; i++) assert_close(dx[i], 2.0 * dx1[i], 1e-6 * (1 + fabs(dx1[i])));
    mc_rng_destroy(g);
}

static void test_mhsa(void **state) {
    (void)state;
    check_mhsa(2, 5, 8, 2, 6);
    check_mhsa(1, 7, 12, 3, 7);
    check_mhsa(3, 1, 4, 1, 8); /* one token: attention is the identity */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_linear, free_owned),  cmocka_unit_test_teardown(test_activations, free_owned),
        cmocka_unit_test_teardown(test_softmax, free_owned), cmocka_unit_test_teardown(test_dropout, free_owned),
        cmocka_unit_test_teardown(test_layernorm, free_owned), cmocka_unit_test_teardown(test_mhsa, free_owned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
