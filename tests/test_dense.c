/* test_dense.c: gradient checks (central differences) of the dense layers, self-attention and the
 * losses, and the optimisers, schedule and clipping against values computed here in double. */
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
#include "moecore/nn.h"
#include "moecore/optim.h"

/* Float32 forward passes, h = 1e-2 (1e-3 for the losses): relative error of central differences
 * stays below ~1e-2 where |gradient| is not tiny (floor 1e-2), hence the tolerance 2e-2. */
#define H 1e-2
#define FLOOR 1e-2
#define TOL 2e-2

/* Test vectors, freed together at the end of each test. */
static void *owned[64];
static int n_owned;

static float *vec(int64_t n, float lo, float hi, mc_rng *r) {
    float *v = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    gc_fill(v, n, lo, hi, r);
    owned[n_owned++] = v;
    return v;
}

static int free_vectors(void **state) {
    (void)state;
    while (n_owned > 0) free(owned[--n_owned]);
    return 0;
}

/* ---- one context for all layer checks: the layer runs forward into out, L = <out, r> ---------- */
typedef struct {
    int kind, N, C, OC, T, Hh;
    mc_act act;
    float *x, *w, *b, *w2, *b2, *out, *r, *s1, *s2, *s3;
    uint8_t *mask;
} ctx;

enum { K_LINEAR, K_ACT, K_SOFTMAX, K_LAYERNORM, K_DROPOUT, K_MHSA };

static int64_t out_n(const ctx *c) { return (int64_t)c->N * (c->kind == K_LINEAR ? c->OC : c->C); }

static double forward(void *p) {
    ctx *c = p;
    switch (c->kind) {
    case K_LINEAR: mc_linear_forward(c->out, c->x, c->w, c->b, c->N, c->C, c->OC); break;
    case K_ACT: mc_act_forward(c->out, c->x, (int64_t)c->N * c->C, c->act); break;
    case K_SOFTMAX: mc_softmax_forward(c->out, c->x, c->N, c->C); break;
    case K_LAYERNORM: mc_layernorm_forward(c->out, c->s1, c->s2, c->x, c->w, c->b, c->N, c->C, 1e-5f); break;
    case K_DROPOUT: { /* the saved mask applied again, as backward sees it */
        for (int64_t i = 0; i < (int64_t)c->N * c->C; i++) c->out[i] = c->mask[i] ? c->x[i] / 0.75f : 0.0f;
        break;
    }
    case K_MHSA:
        mc_mhsa_forward(c->out, c->s1, c->s2, c->s3, c->x, c->w, c->b, c->w2, c->b2, c->N, c->T, c->C, c->Hh);
        break;
    }
    return gc_dot(c->out, c->r, c->kind == K_MHSA ? (int64_t)c->N * c->T * c->C : out_n(c));
}

static void test_linear_and_activations(void **state) {
    (void)state;
    mc_rng *g = mc_rng_create(1);
    ctx c = {.kind = K_LINEAR, .N = 5, .C = 7, .OC = 4};
    c.x = vec(35, -1, 1, g);
    c.w = vec(28, -1, 1, g);
    c.b = vec(4, -1, 1, g);
    c.out = vec(20, 0, 0, g);
    c.r = vec(20, -1, 1, g);
    float *dx = calloc(35, 4), *dw = calloc(28, 4), *db = calloc(4, 4);
    forward(&c);
    mc_linear_backward(dx, dw, db, c.r, c.x, c.w, 5, 7, 4);
    assert_true(gc_check("linear x", c.x, dx, 35, forward, &c, H, FLOOR, 100, TOL) < TOL);
    assert_true(gc_check("linear w", c.w, dw, 28, forward, &c, H, FLOOR, 100, TOL) < TOL);
    assert_true(gc_check("linear b", c.b, db, 4, forward, &c, H, FLOOR, 100, TOL) < TOL);
    /* accumulation: a second backward doubles every gradient */
    float before = dw[3];
    mc_linear_backward(NULL, dw, NULL, c.r, c.x, c.w, 5, 7, 4);
    assert_float_equal(dw[3], 2 * before, 1e-5 * (1 + fabsf(before)));

    ctx a = {.kind = K_ACT, .N = 6, .C = 9};
    a.x = vec(54, -2, 2, g);
    a.out = vec(54, 0, 0, g);
    a.r = vec(54, -1, 1, g);
    for (int k = MC_ACT_NONE; k <= MC_ACT_TANH; k++) {
        a.act = (mc_act)k;
        /* keep ReLU's inputs away from its kink */
        for (int i = 0; i < 54; i++)
            if (fabsf(a.x[i]) < 0.05f) a.x[i] = 0.3f;
        float *d = calloc(54, 4);
        forward(&a);
        mc_act_backward(d, a.r, a.x, a.out, 54, a.act);
        assert_true(gc_check(mc_act_name(a.act), a.x, d, 54, forward, &a, 1e-3, FLOOR, 100, TOL) < TOL);
        free(d);
    }
    mc_act parsed;
    assert_int_equal(mc_act_parse("silu", &parsed), 0);
    assert_int_equal(parsed, MC_ACT_SILU);
    assert_int_equal(mc_act_parse("swish", &parsed), -1);
    free(dx); free(dw); free(db);
    mc_rng_destroy(g);
}

static void test_softmax_layernorm_dropout(void **state) {
    (void)state;
    mc_rng *g = mc_rng_create(2);
    ctx s = {.kind = K_SOFTMAX, .N = 4, .C = 6};
    s.x = vec(24, -3, 3, g);
    s.out = vec(24, 0, 0, g);
    s.r = vec(24, -1, 1, g);
    float *d = calloc(24, 4);
    forward(&s);
    for (int n = 0; n < 4; n++) {
        double sum = 0;
        for (int k = 0; k < 6; k++) sum += s.out[n * 6 + k];
        assert_float_equal(sum, 1.0, 1e-6);
    }
    mc_softmax_backward(d, s.r, s.out, 4, 6);
    assert_true(gc_check("softmax", s.x, d, 24, forward, &s, 1e-3, FLOOR, 100, TOL) < TOL);

    ctx l = {.kind = K_LAYERNORM, .N = 5, .C = 8};
    l.x = vec(40, -2, 2, g);
    l.w = vec(8, 0.5f, 1.5f, g);
    l.b = vec(8, -1, 1, g);
    l.out = vec(40, 0, 0, g);
    l.r = vec(40, -1, 1, g);
    l.s1 = vec(5, 0, 0, g);
    l.s2 = vec(5, 0, 0, g);
    float *dx = calloc(40, 4), *dw = calloc(8, 4), *db = calloc(8, 4);
    forward(&l);
    /* each normalised row has mean 0 and variance 1 before the affine part */
    double m = 0, v = 0;
    for (int c = 0; c < 8; c++) m += (l.out[c] - l.b[c]) / l.w[c];
    for (int c = 0; c < 8; c++) v += pow((l.out[c] - l.b[c]) / l.w[c] - m / 8, 2);
    assert_float_equal(m / 8, 0.0, 1e-5);
    assert_float_equal(v / 8, 1.0, 1e-3);
    mc_layernorm_backward(dx, dw, db, l.r, l.x, l.w, l.s1, l.s2, 5, 8);
    assert_true(gc_check("layernorm x", l.x, dx, 40, forward, &l, 1e-3, FLOOR, 100, TOL) < TOL);
    assert_true(gc_check("layernorm w", l.w, dw, 8, forward, &l, H, FLOOR, 100, TOL) < TOL);
    assert_true(gc_check("layernorm b", l.b, db, 8, forward, &l, H, FLOOR, 100, TOL) < TOL);

    ctx o = {.kind = K_DROPOUT, .N = 10, .C = 100};
    o.x = vec(1000, -1, 1, g);
    o.out = vec(1000, 0, 0, g);
    o.r = vec(1000, -1, 1, g);
    o.mask = malloc(1000);
    owned[n_owned++] = o.mask;
    mc_rng *dr = mc_rng_create(9);
    mc_dropout_forward(o.out, o.mask, o.x, 1000, 0.25f, dr);
    int kept = 0;
    for (int i = 0; i < 1000; i++) {
        kept += o.mask[i];
        assert_float_equal(o.out[i], o.mask[i] ? o.x[i] / 0.75f : 0.0f, 1e-6);
    }
    assert_true(kept > 700 && kept < 800); /* 750 expected, binomial sd about 14 */
    float *dd = calloc(1000, 4);
    mc_dropout_backward(dd, o.r, o.mask, 1000, 0.25f);
    assert_true(gc_check("dropout", o.x, dd, 1000, forward, &o, H, FLOOR, 100, TOL) < TOL);
    /* the same seed gives the same mask */
    uint8_t *mask2 = malloc(1000);
    mc_rng_destroy(dr);
    dr = mc_rng_create(9);
    mc_dropout_forward(o.out, mask2, o.x, 1000, 0.25f, dr);
    assert_memory_equal(mask2, o.mask, 1000);
    mc_rng_destroy(dr);
    free(mask2); free(dd); free(d); free(dx); free(dw); free(db);
    mc_rng_destroy(g);
}

static void test_mhsa(void **state) {
    (void)state;
    mc_rng *g = mc_rng_create(3);
    const int B = 2, T = 5, C = 8, Hh = 2;
    ctx c = {.kind = K_MHSA, .N = B, .C = C, .T = T, .Hh = Hh};
    c.x = vec(B * T * C, -1, 1, g);
    c.w = vec(3 * C * C, -0.5f, 0.5f, g);
    c.b = vec(3 * C, -0.2f, 0.2f, g);
    c.w2 = vec(C * C, -0.5f, 0.5f, g);
    c.b2 = vec(C, -0.2f, 0.2f, g);
    c.out = vec(B * T * C, 0, 0, g);
    c.r = vec(B * T * C, -1, 1, g);
    c.s1 = vec(B * T * 3 * C, 0, 0, g);
    c.s2 = vec(B * Hh * T * T, 0, 0, g);
    c.s3 = vec(B * T * C, 0, 0, g);
    float *dx = calloc(B * T * C, 4), *dw = calloc(3 * C * C, 4), *db = calloc(3 * C, 4), *dw2 = calloc(C * C, 4),
          *db2 = calloc(C, 4);
    forward(&c);
    /* attention rows are distributions */
    for (int i = 0; i < B * Hh * T; i++) {
        double s = 0;
        for (int j = 0; j < T; j++) s += c.s2[i * T + j];
        assert_float_equal(s, 1.0, 1e-5);
    }
    mc_mhsa_backward(dx, dw, db, dw2, db2, c.r, c.x, c.w, c.w2, c.s1, c.s2, c.s3, B, T, C, Hh);
    assert_true(gc_check("mhsa x", c.x, dx, B * T * C, forward, &c, H, FLOOR, 80, TOL) < TOL);
    assert_true(gc_check("mhsa w_qkv", c.w, dw, 3 * C * C, forward, &c, H, FLOOR, 80, TOL) < TOL);
    assert_true(gc_check("mhsa b_qkv", c.b, db, 3 * C, forward, &c, H, FLOOR, 80, TOL) < TOL);
    assert_true(gc_check("mhsa w_o", c.w2, dw2, C * C, forward, &c, H, FLOOR, 80, TOL) < TOL);
    assert_true(gc_check("mhsa b_o", c.b2, db2, C, forward, &c, H, FLOOR, 80, TOL) < TOL);
    free(dx); free(dw); free(db); free(dw2); free(db2);
    mc_rng_destroy(g);
}

/* ---- losses ------------------------------------------------------------------------------------- */
typedef struct {
    int kind, N, K;
    float *x, *t;
    int32_t *labels;
} lctx;

static double loss_of(void *p) {
    lctx *c = p;
    int64_t n = (int64_t)c->N * c->K;
    switch (c->kind) {
    case 0: return mc_mse_loss(NULL, 0, c->x, c->t, n);
    case 1: return mc_huber_loss(NULL, 0, c->x, c->t, n, 0.5f);
    case 2: return mc_bce_logits_loss(NULL, 0, c->x, c->t, n, 2.0f);
    case 3: return mc_cross_entropy_loss(NULL, 0, c->x, c->labels, c->N, c->K);
    default: return mc_focal_loss(NULL, 0, c->x, c->t, n, 0.25f, 2.0f);
    }
}

static void test_losses(void **state) {
    (void)state;
    mc_rng *g = mc_rng_create(4);
    lctx c = {.N = 6, .K = 4};
    c.x = vec(24, -3, 3, g);
    c.t = vec(24, 0, 1, g);
    int32_t labels[6] = {0, 3, -1, 2, 1, 3};
    c.labels = labels;
    for (int k = 0; k < 5; k++) {
        c.kind = k;
        float *gr = calloc(24, 4);
        const float scale = 1.5f;
        double l = 0;
        switch (k) {
        case 0: l = mc_mse_loss(gr, scale, c.x, c.t, 24); break;
        case 1: l = mc_huber_loss(gr, scale, c.x, c.t, 24, 0.5f); break;
        case 2: l = mc_bce_logits_loss(gr, scale, c.x, c.t, 24, 2.0f); break;
        case 3: l = mc_cross_entropy_loss(gr, scale, c.x, labels, 6, 4); break;
        default: l = mc_focal_loss(gr, scale, c.x, c.t, 24, 0.25f, 2.0f); break;
        }
        assert_true(l > 0);
        for (int i = 0; i < 24; i++) gr[i] /= scale;
        assert_true(gc_check("loss", c.x, gr, 24, loss_of, &c, 1e-3, 1e-4, 100, TOL) < TOL);
        free(gr);
    }
    /* known values */
    float zeros[8] = {0}, ones[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    int32_t lab2[2] = {1, 5};
    assert_float_equal(mc_cross_entropy_loss(NULL, 0, zeros, lab2, 2, 4), log(4.0), 1e-9); /* the label 5 is ignored */
    assert_float_equal(mc_mse_loss(NULL, 0, zeros, ones, 8), 1.0, 1e-12);
    assert_float_equal(mc_bce_logits_loss(NULL, 0, zeros, ones, 8, 1.0f), log(2.0), 1e-9);
    float big[2] = {100.0f, -100.0f}, tgt[2] = {1.0f, 0.0f};
    assert_true(mc_bce_logits_loss(NULL, 0, big, tgt, 2, 1.0f) < 1e-40); /* no overflow on large logits */
    float d2[2] = {3.0f, 0.2f}, z2[2] = {0, 0};
    assert_float_equal(mc_huber_loss(NULL, 0, d2, z2, 2, 1.0f), ((3 - 0.5) + 0.5 * 0.04) / 2, 1e-7);
    /* focal with gamma 0 and no alpha is BCE */
    assert_float_equal(mc_focal_loss(NULL, 0, c.x, c.t, 24, -1.0f, 0.0f), mc_bce_logits_loss(NULL, 0, c.x, c.t, 24, 1.0f), 1e-12);
    mc_rng_destroy(g);
}

/* ---- optimisers ------------------------------------------------------------------------------------ */
static void test_optimisers(void **state) {
    (void)state;
    mc_optim_config ac = {.kind = MC_OPTIM_ADAMW, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    mc_optim *o = mc_optim_create(&ac, 3);
    float p[3] = {1.0f, -2.0f, 0.5f};
    double pd[3] = {1.0, -2.0, 0.5}, m[3] = {0}, v[3] = {0};
    for (int t = 1; t <= 3; t++) {
        float gsteps[3] = {0.1f * t, -0.3f, 2.0f / t};
        mc_optim_begin_step(o);
        mc_optim_update(o, p, gsteps, 0, 3, 0.01f, 0.1f);
        for (int i = 0; i < 3; i++) {
            pd[i] *= 1 - 0.01 * 0.1;
            m[i] = 0.9 * m[i] + 0.1 * gsteps[i];
            v[i] = 0.999 * v[i] + 0.001 * gsteps[i] * gsteps[i];
            pd[i] -= 0.01 * (m[i] / (1 - pow(0.9, t))) / (sqrt(v[i] / (1 - pow(0.999, t))) + 1e-8);
        }
    }
    for (int i = 0; i < 3; i++) assert_float_equal(p[i], pd[i], 1e-6);
    assert_int_equal(mc_optim_step_count(o), 3);
    assert_float_equal(mc_optim_m(o)[1], m[1], 1e-7);
    mc_optim_destroy(o);

    mc_optim_config sc = {.kind = MC_OPTIM_SGD, .momentum = 0.9f};
    o = mc_optim_create(&sc, 1);
    assert_null(mc_optim_v(o));
    float q = 1.0f, gq = 0.5f;
    double qd = 1.0, buf = 0.0;
    for (int t = 0; t < 4; t++) {
        mc_optim_begin_step(o);
        mc_optim_update(o, &q, &gq, 0, 1, 0.1f, 0.01f);
        buf = 0.9 * buf + (0.5 + 0.01 * qd);
        qd -= 0.1 * buf;
    }
    assert_float_equal(q, qd, 1e-6);
    mc_optim_destroy(o);

    mc_lr_schedule s = {.lr = 3e-5f, .min_lr = 0.0f, .warmup = 10, .total = 110};
    assert_float_equal(mc_lr_at(&s, 0), 3e-6, 1e-12);
    assert_float_equal(mc_lr_at(&s, 9), 3e-5, 1e-12);
    assert_float_equal(mc_lr_at(&s, 10), 3e-5, 1e-12);
    assert_float_equal(mc_lr_at(&s, 60), 1.5e-5, 1e-11);
    assert_float_equal(mc_lr_at(&s, 200), 0.0, 1e-15);

    float gr[2] = {3.0f, 4.0f};
    assert_float_equal(mc_clip_grad_norm(gr, 2, 1.0), 5.0, 1e-9);
    assert_float_equal(sqrt(gr[0] * gr[0] + gr[1] * gr[1]), 1.0, 1e-5);
    float small[2] = {0.3f, 0.4f};
    mc_clip_grad_norm(small, 2, 1.0);
    assert_float_equal(small[0], 0.3f, 0); /* under the limit: untouched */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_linear_and_activations, free_vectors),
        cmocka_unit_test_teardown(test_softmax_layernorm_dropout, free_vectors),
        cmocka_unit_test_teardown(test_mhsa, free_vectors),
        cmocka_unit_test_teardown(test_losses, free_vectors),
        cmocka_unit_test_teardown(test_optimisers, free_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
