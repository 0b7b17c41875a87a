/* test_loss.c: the training losses. Values against PyTorch's definitions written out here in
 * double (and hand-computed cases), gradients by central differences at several gradient scales and
 * input ranges, accumulation into the gradient, the ignore rule of cross-entropy, stability on
 * large logits, and focal loss reducing to BCE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "moecore/loss.h"

/* Gradient checks. The losses are computed in double from float inputs, so the only noise is the
 * perturbation of x: with h = 2^-10, x +- h is exact in float for |x| < 16, and the central
 * difference is off by its truncation error h^2 f''' / 6 ~ 2e-7 relative, plus the rounding of the
 * analytic gradient to float (6e-8). Gradients below FLOOR = 1e-4 are compared absolutely.
 * GRAD_TOL = 1e-5 is six times the measured worst (1.6e-6, a focal-loss gradient of 8e-6, under
 * the floor); a wrong factor or sign in a derivative gives errors of order 1. */
#define STEP (1.0 / 1024)
#define FLOOR 1e-4
#define GRAD_TOL 1e-5
#define CHECKS 200

/* Loss values: computed in double on both sides, so they agree to ~1e-15 relative; 1e-12 absolute
 * leaves room for the different summation orders. */
#define VAL_TOL 1e-12

enum { MSE, HUBER, BCE, CE, FOCAL, N_KINDS };
static const char *const names[N_KINDS] = {"mse", "huber", "bce", "cross-entropy", "focal"};

typedef struct {
    int kind;
    int N, K;
    float *x, *t, *grad, scale;
    int32_t *labels;
    float delta, pos_weight, alpha, gamma;
} loss_ctx;

static double run_loss(loss_ctx *c, float *grad) {
    const int64_t n = (int64_t)c->N * c->K;
    switch (c->kind) {
    case MSE: return mc_mse_loss(grad, c->scale, c->x, c->t, n);
    case HUBER: return mc_huber_loss(grad, c->scale, c->x, c->t, n, c->delta);
    case BCE: return mc_bce_logits_loss(grad, c->scale, c->x, c->t, n, c->pos_weight);
    case CE: return mc_cross_entropy_loss(grad, c->scale, c->x, c->labels, c->N, c->K);
    default: return mc_focal_loss(grad, c->scale, c->x, c->t, n, c->alpha, c->gamma);
    }
}

static double loss_only(void *p) { return run_loss(p, NULL); }

/* ---- references: PyTorch's definitions, written directly (no stable forms needed in range) ---------- */

static double sig(double x) { return 1.0 / (1.0 + exp(-x)); }

static double reference(const loss_ctx *c) {
    const int64_t n = (int64_t)c->N * c->K;
    double s = 0;
    if (c->kind == CE) {
        int count = 0;
        for (int r = 0; r < c->N; r++) {
            if (c->labels[r] < 0) continue;
            double z = 0;
            for (int k = 0; k < c->K; k++) z += exp(c->x[r * c->K + k]);
            s += -log(exp(c->x[r * c->K + c->labels[r]]) / z);
            count++;
        }
        return s / count;
    }
    for (int64_t i = 0; i < n; i++) {
        const double x = c->x[i], t = c->t[i], d = x - t, p = sig(x);
        const double bce = -(t * log(p) + (1 - t) * log(1 - p));
        switch (c->kind) {
        case MSE: s += d * d; break;
        case HUBER: s += fabs(d) < c->delta ? 0.5 * d * d : c->delta * (fabs(d) - 0.5 * c->delta); break;
        case BCE: s += -(c->pos_weight * t * log(p) + (1 - t) * log(1 - p)); break;
        default: {
            const double pt = p * t + (1 - p) * (1 - t);
            const double at = c->alpha >= 0 ? c->alpha * t + (1 - c->alpha) * (1 - t) : 1.0;
            s += at * bce * pow(1 - pt, c->gamma);
        }
        }
    }
    return s / (double)n;
}

static void assert_close(double got, double want, double tol) {
    if (!(fabs(got - want) <= tol)) fail_msg("got %.15g, want %.15g (tolerance %.3g)", got, want, tol);
}

/* Value against the reference; for each gradient scale, the gradient by central differences, and
 * the same call on a buffer that already holds values adds exactly that gradient to them. */
static void check_loss(loss_ctx *c) {
    const int n = c->N * c->K;
    static const float scales[] = {1.0f, 0.25f, 3.0f};
    float *grad = malloc(sizeof(float) * n), *acc = malloc(sizeof(float) * n), *start = malloc(sizeof(float) * n);
    assert_non_null(grad);
    assert_non_null(acc);
    assert_non_null(start);
    for (int i = 0; i < n; i++) start[i] = 0.5f - (float)(i % 3);
    assert_close(loss_only(c), reference(c), VAL_TOL * (1 + fabs(reference(c))));
    for (size_t s = 0; s < sizeof scales / sizeof scales[0]; s++) {
        c->scale = scales[s];
        memset(grad, 0, sizeof(float) * n);
        memcpy(acc, start, sizeof(float) * n);
        assert_close(run_loss(c, grad), loss_only(c), 0); /* asking for the gradient leaves the value alone */
        run_loss(c, acc);
        for (int i = 0; i < n; i++) {
            assert_true(acc[i] == start[i] + grad[i]);
            grad[i] /= scales[s];
        }
        assert_true(gc_check(names[c->kind], c->x, grad, n, loss_only, c, STEP, FLOOR, CHECKS, GRAD_TOL) < GRAD_TOL);
    }
    free(grad);
    free(acc);
    free(start);
}

static void test_gradients(void **state) {
    (void)state;
    mc_rng *g = mc_rng_create(11);
    enum { N = 6, K = 5 };
    float x[N * K], t[N * K], soft[N * K];
    int32_t labels[N] = {0, 4, -1, 2, 1, -7};
    gc_fill(t, N * K, 0, 1, g);
    for (int i = 0; i < N * K; i++) soft[i] = t[i] < 0.5f ? 0.0f : 1.0f;
    /* two input ranges: moderate, and logits far enough out that the naive forms are tested */
    const float ranges[2] = {1.5f, 7.0f};
    for (int r = 0; r < 2; r++) {
        gc_fill(x, N * K, -ranges[r], ranges[r], g);
        loss_ctx c = {.N = N, .K = K, .x = x, .t = t, .labels = labels};
        c.kind = MSE;
        check_loss(&c);
        /* Huber: inputs kept more than a step away from the kinks at |d| = delta */
        c.kind = HUBER;
        c.delta = 0.5f;
        for (int i = 0; i < N * K; i++)
            if (fabsf(fabsf(x[i] - t[i]) - c.delta) < 0.01f) x[i] += 0.05f;
        check_loss(&c);
        c.kind = BCE;
        c.pos_weight = 1.0f;
        check_loss(&c);
        c.pos_weight = 2.5f;
        check_loss(&c);
        c.kind = CE;
        check_loss(&c);
        c.kind = FOCAL;
        const float alphas[2] = {0.25f, -1.0f}, gammas[3] = {2.0f, 0.5f, 0.0f};
        for (int a = 0; a < 2; a++)
            for (int k = 0; k < 3; k++) {
                c.alpha = alphas[a];
                c.gamma = gammas[k];
                c.t = t; /* soft targets */
                check_loss(&c);
                c.t = soft; /* hard targets */
                check_loss(&c);
            }
    }
    mc_rng_destroy(g);
}

/* ---- known values ------------------------------------------------------------------------------- */

static void test_mse_huber(void **state) {
    (void)state;
    float p[2] = {1.0f, 2.0f}, t[2] = {0.0f, 0.0f}, grad[2] = {0, 0};
    assert_close(mc_mse_loss(grad, 1.0f, p, t, 2), 2.5, VAL_TOL); /* (1 + 4) / 2 */
    assert_close(grad[0], 1.0, 0);                                 /* 2 (p - t) / n */
    assert_close(grad[1], 2.0, 0);

    /* delta 1: d = 3 is linear, 1 (3 - 0.5); d = -0.2 is quadratic, 0.5 * 0.04 */
    float hp[2] = {3.0f, -0.2f}, hg[2] = {0, 0};
    assert_close(mc_huber_loss(hg, 2.0f, hp, t, 2, 1.0f), (2.5 + 0.02) / 2, 1e-8); /* -0.2f is not exact */
    assert_close(hg[0], 1.0, 0);                                                     /* 2 * delta / n */
    assert_close(hg[1], -0.2, 1e-7);                                                 /* 2 * d / n */
    /* delta 2: d = 3 gives 2 (3 - 1) = 4; both pieces meet at |d| = delta */
    assert_close(mc_huber_loss(NULL, 0, hp, t, 1, 2.0f), 4.0, 0);
    float edge = 2.0f;
    assert_close(mc_huber_loss(NULL, 0, &edge, t, 1, 2.0f), 2.0, 0);
}

static void test_bce(void **state) {
    (void)state;
    float zeros[4] = {0}, ones[4] = {1, 1, 1, 1};
    assert_close(mc_bce_logits_loss(NULL, 0, zeros, ones, 4, 1.0f), log(2.0), VAL_TOL);
    assert_close(mc_bce_logits_loss(NULL, 0, zeros, ones, 4, 3.0f), 3 * log(2.0), VAL_TOL);
    /* x = 2, t = 0.25: 0.25 log(1 + e^-2) + 0.75 log(1 + e^2); pos_weight only weights the first */
    float x = 2.0f, t = 0.25f, gr = 0;
    assert_close(mc_bce_logits_loss(&gr, 1.0f, &x, &t, 1, 4.0f), 1.0 * log(1 + exp(-2.0)) + 0.75 * log(1 + exp(2.0)),
                 VAL_TOL);
    assert_close(gr, 0.75 * sig(2) - 4 * 0.25 * sig(-2), 1e-7);

    /* large logits: no overflow, no NaN, exact limits */
    float big[4] = {100.0f, -100.0f, 1e4f, -1e4f}, tb[4] = {1, 0, 0, 1}, gb[4] = {0, 0, 0, 0};
    assert_true(mc_bce_logits_loss(NULL, 0, big, tb, 2, 1.0f) < 1e-40);
    assert_close(mc_bce_logits_loss(gb, 1.0f, big + 2, tb + 2, 2, 1.0f), 1e4, 1e-9); /* mean of 1e4 and 1e4 */
    assert_close(gb[0], 0.5, 0);                                                    /* sigmoid(1e4) / 2 */
    assert_close(gb[1], -0.5, 0);
}

static void test_cross_entropy(void **state) {
    (void)state;
    /* uniform logits: log K; the row labelled -1 is left out of the mean and gets no gradient */
    float l[8] = {0, 0, 0, 0, 5, -3, 2, 1}, gr[8] = {0};
    int32_t lab[2] = {1, -1};
    assert_close(mc_cross_entropy_loss(gr, 2.0f, l, lab, 2, 4), log(4.0), VAL_TOL);
    for (int k = 0; k < 4; k++) assert_close(gr[k], 2.0 * (0.25 - (k == 1)), 1e-7);
    for (int k = 4; k < 8; k++) assert_close(gr[k], 0.0, 0);

    /* (1, 2, 3) labelled 2: log(e + e^2 + e^3) - 3 */
    float l3[3] = {1, 2, 3};
    int32_t two = 2;
    assert_close(mc_cross_entropy_loss(NULL, 0, l3, &two, 1, 3), log(exp(1.0) + exp(2.0) + exp(3.0)) - 3, VAL_TOL);

    /* large logits stay finite: (1000, 0) labelled 1 costs 1000 */
    float lb[2] = {1000.0f, 0.0f};
    int32_t one = 1, zero = 0;
    assert_close(mc_cross_entropy_loss(NULL, 0, lb, &one, 1, 2), 1000.0, 1e-9);
    assert_close(mc_cross_entropy_loss(NULL, 0, lb, &zero, 1, 2), 0.0, 1e-300);

    /* every row ignored: 0, and the gradient is untouched; labels past K are skipped too */
    int32_t none[2] = {-1, -100};
    memset(gr, 0, sizeof gr);
    assert_close(mc_cross_entropy_loss(gr, 1.0f, l, none, 2, 4), 0.0, 0);
    int32_t past[2] = {4, 1};
    assert_close(mc_cross_entropy_loss(gr, 1.0f, l + 4, past, 1, 4), 0.0, 0);
    for (int k = 0; k < 8; k++) assert_close(gr[k], 0.0, 0);
}

static void test_focal(void **state) {
    (void)state;
    /* x = 0: p = 0.5, ce = log 2, (1 - p_t)^2 = 0.25; alpha_t 0.25 for a positive, 0.75 for a negative */
    float x[2] = {0, 0}, t[2] = {1, 0};
    assert_close(mc_focal_loss(NULL, 0, x, t, 1, 0.25f, 2.0f), 0.25 * 0.25 * log(2.0), VAL_TOL);
    assert_close(mc_focal_loss(NULL, 0, x + 1, t + 1, 1, 0.25f, 2.0f), 0.75 * 0.25 * log(2.0), VAL_TOL);
    /* gamma 0 and no alpha: BCE, value and gradient */
    mc_rng *g = mc_rng_create(12);
    enum { N = 40 };
    float xs[N], ts[N], gf[N] = {0}, gb[N] = {0};
    gc_fill(xs, N, -6, 6, g);
    gc_fill(ts, N, 0, 1, g);
    assert_close(mc_focal_loss(gf, 1.0f, xs, ts, N, -1.0f, 0.0f), mc_bce_logits_loss(gb, 1.0f, xs, ts, N, 1.0f), 1e-15);
    for (int i = 0; i < N; i++) assert_close(gf[i], gb[i], 1e-9);
    /* a confident correct prediction costs far less than under BCE: x = 4, t = 1, gamma 2 */
    float x4 = 4.0f, one = 1.0f;
    const double ce = log(1 + exp(-4.0)), q = 1 - sig(4);
    assert_close(mc_focal_loss(NULL, 0, &x4, &one, 1, -1.0f, 2.0f), ce * q * q, VAL_TOL);
    /* large logits stay finite */
    float big[2] = {200.0f, -200.0f}, tb[2] = {0, 1}, gr[2] = {0, 0};
    assert_close(mc_focal_loss(gr, 1.0f, big, tb, 2, 0.25f, 2.0f), (0.75 * 200 + 0.25 * 200) / 2, 1e-9);
    assert_true(isfinite(gr[0]) && isfinite(gr[1]));
    assert_close(gr[0], 0.75 / 2, 1e-12); /* the gradient of 0.75 x / 2 */
    assert_close(gr[1], -0.25 / 2, 1e-12);
    mc_rng_destroy(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradients), cmocka_unit_test(test_mse_huber), cmocka_unit_test(test_bce),
        cmocka_unit_test(test_cross_entropy), cmocka_unit_test(test_focal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
