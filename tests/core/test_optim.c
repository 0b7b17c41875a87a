/* test_optim.c: AdamW and SGD with momentum against torch.optim's update rules written out here in
 * double, decoupled weight decay, several parameter ranges in one step, the step count and state
 * for checkpoints, the warmup + cosine schedule, and clipping by global norm. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "moecore/optim.h"

/* Parameters of size ~1 updated in float32 for a few steps: each step rounds p, m and v once or
 * twice (6e-8 relative), so the float results stay within a few 1e-7 of the double reference
 * (measured worst: 1.9e-7); PARAM_TOL = 2e-6 leaves a margin, while any rule written differently
 * (coupled decay, no bias correction, eps inside the square root, momentum dampening) moves p by
 * 1e-4 or more. Moments m and v are compared relatively at 1e-6 (a few roundings each). */
#define PARAM_TOL 2e-6

static void assert_close(double got, double want, double tol) {
    if (!(fabs(got - want) <= tol)) fail_msg("got %.12g, want %.12g (tolerance %.3g)", got, want, tol);
}

static const mc_optim_config ADAMW = {.kind = MC_OPTIM_ADAMW, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};

enum { NP = 4, STEPS = 5 };

/* The gradient of parameter i at step t (1-based): signs and sizes vary, one is zero at step 2. */
static float grad_at(int i, int t) {
    static const float g[NP] = {0.1f, -0.3f, 2.0f, 0.02f};
    return t == 2 && i == 3 ? 0.0f : g[i] * (float)(t % 2 ? 1 : -0.5) * (float)(1 + i * t) / 3.0f;
}

static void test_adamw(void **state) {
    (void)state;
    mc_optim *o = mc_optim_create(&ADAMW, NP);
    assert_non_null(o);
    assert_int_equal(mc_optim_size(o), NP);
    float p[NP] = {1.0f, -2.0f, 0.5f, 0.0f};
    double pd[NP], m[NP] = {0}, v[NP] = {0};
    for (int i = 0; i < NP; i++) pd[i] = p[i];
    /* the hyperparameters as the optimiser holds them, in float: 1 - 0.999f is 1.3e-5 away from 0.001 */
    const double lr = 0.01f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    const double wd[NP] = {0.1, 0.1, 0.0, 0.0}; /* two ranges: decayed weights, then undecayed ones */
    for (int t = 1; t <= STEPS; t++) {
        float g[NP];
        for (int i = 0; i < NP; i++) g[i] = grad_at(i, t);
        mc_optim_begin_step(o);
        mc_optim_update(o, p, g, 0, 2, (float)lr, 0.1f);
        mc_optim_update(o, p + 2, g + 2, 2, 2, (float)lr, 0.0f);
        for (int i = 0; i < NP; i++) {
            pd[i] *= 1 - lr * wd[i];
            m[i] = b1 * m[i] + (1 - b1) * g[i];
            v[i] = b2 * v[i] + (1 - b2) * (double)g[i] * g[i];
            pd[i] -= lr * (m[i] / (1 - pow(b1, t))) / (sqrt(v[i] / (1 - pow(b2, t))) + eps);
        }
    }
    assert_int_equal(mc_optim_step_count(o), STEPS);
    for (int i = 0; i < NP; i++) {
        assert_close(p[i], pd[i], PARAM_TOL);
        assert_close(mc_optim_m(o)[i], m[i], 1e-6 * fabs(m[i]));
        assert_close(mc_optim_v(o)[i], v[i], 1e-6 * fabs(v[i]));
    }
    mc_optim_destroy(o);

    /* the first step moves each parameter by lr against the sign of its gradient: the bias
     * corrections make m / sqrt(v) = g / |g| (up to eps / |g| = 1e-7) */
    o = mc_optim_create(&ADAMW, 3);
    float q[3] = {0.5f, 0.5f, 0.5f}, gq[3] = {0.1f, -3.0f, 0.05f};
    mc_optim_begin_step(o);
    mc_optim_update(o, q, gq, 0, 3, 0.01f, 0.0f);
    assert_close(q[0], 0.49, 1e-7);
    assert_close(q[1], 0.51, 1e-7);
    assert_close(q[2], 0.49, 1e-7);
    mc_optim_destroy(o);
}

static void test_decoupled_decay(void **state) {
    (void)state;
    /* zero gradients: the moments stay zero, the Adam part moves nothing, and only p *= 1 - lr wd
     * acts (an L2 penalty added to the gradient would instead move p by about lr each step) */
    mc_optim *o = mc_optim_create(&ADAMW, 2);
    float p[2] = {2.0f, -1.0f}, g[2] = {0, 0};
    for (int t = 0; t < 3; t++) {
        mc_optim_begin_step(o);
        mc_optim_update(o, p, g, 0, 2, 0.1f, 0.5f);
    }
    assert_close(p[0], 2.0 * pow(0.95, 3), 1e-6);
    assert_close(p[1], -pow(0.95, 3), 1e-6);
    assert_true(mc_optim_m(o)[0] == 0.0f && mc_optim_v(o)[1] == 0.0f);
    mc_optim_destroy(o);
}

static void test_sgd(void **state) {
    (void)state;
    mc_optim_config sc = {.kind = MC_OPTIM_SGD, .momentum = 0.9f};
    mc_optim *o = mc_optim_create(&sc, NP);
    assert_non_null(o);
    assert_null(mc_optim_v(o));
    float p[NP] = {1.0f, -2.0f, 0.5f, 0.0f};
    double pd[NP], buf[NP] = {0};
    for (int i = 0; i < NP; i++) pd[i] = p[i];
    const double lr = 0.1f, mu = 0.9f, wd = 0.01f;
    for (int t = 1; t <= STEPS; t++) {
        float g[NP];
        for (int i = 0; i < NP; i++) g[i] = grad_at(i, t);
        mc_optim_begin_step(o);
        mc_optim_update(o, p, g, 0, NP, (float)lr, (float)wd);
        for (int i = 0; i < NP; i++) {
            const double d = g[i] + wd * pd[i];
            buf[i] = t == 1 ? d : mu * buf[i] + d; /* torch: the buffer starts as the first d */
            pd[i] -= lr * buf[i];
        }
    }
    for (int i = 0; i < NP; i++) {
        assert_close(p[i], pd[i], PARAM_TOL);
        assert_close(mc_optim_m(o)[i], buf[i], 1e-6 * fabs(buf[i]));
    }
    mc_optim_destroy(o);

    /* no momentum: p -= lr (g + wd p) */
    sc.momentum = 0.0f;
    o = mc_optim_create(&sc, 1);
    float q = 2.0f, gq = 0.5f;
    mc_optim_begin_step(o);
    mc_optim_update(o, &q, &gq, 0, 1, 0.1f, 0.25f);
    assert_close(q, 2.0 - 0.1 * (0.5 + 0.25 * 2.0), 1e-7);
    mc_optim_destroy(o);
}

/* Resuming from a checkpoint (step count, m and v copied into a fresh optimiser) continues exactly
 * as if training had not stopped. */
static void test_state_round_trip(void **state) {
    (void)state;
    mc_optim *a = mc_optim_create(&ADAMW, NP), *b = mc_optim_create(&ADAMW, NP);
    float pa[NP] = {1.0f, -2.0f, 0.5f, 0.0f}, g[NP];
    for (int t = 1; t <= 3; t++) {
        for (int i = 0; i < NP; i++) g[i] = grad_at(i, t);
        mc_optim_begin_step(a);
        mc_optim_update(a, pa, g, 0, NP, 0.01f, 0.1f);
    }
    assert_int_equal(mc_optim_step_count(a), 3);
    assert_int_equal(mc_optim_step_count(b), 0);
    float pb[NP];
    memcpy(pb, pa, sizeof pb);
    memcpy(mc_optim_m(b), mc_optim_m(a), sizeof(float) * NP);
    memcpy(mc_optim_v(b), mc_optim_v(a), sizeof(float) * NP);
    mc_optim_set_step(b, mc_optim_step_count(a));
    assert_int_equal(mc_optim_step_count(b), 3);
    for (int t = 4; t <= 5; t++) {
        for (int i = 0; i < NP; i++) g[i] = grad_at(i, t);
        mc_optim_begin_step(a);
        mc_optim_begin_step(b);
        mc_optim_update(a, pa, g, 0, NP, 0.01f, 0.1f);
        mc_optim_update(b, pb, g, 0, NP, 0.01f, 0.1f);
    }
    assert_memory_equal(pa, pb, sizeof pa);
    assert_int_equal(mc_optim_step_count(b), 5);
    mc_optim_set_step(b, 7);
    assert_int_equal(mc_optim_step_count(b), 7);
    mc_optim_destroy(a);
    mc_optim_destroy(b);

    /* edge cases of creation */
    mc_optim *empty = mc_optim_create(&ADAMW, 0);
    assert_non_null(empty);
    assert_int_equal(mc_optim_size(empty), 0);
    mc_optim_destroy(empty);
    assert_null(mc_optim_create(NULL, 4));
    assert_null(mc_optim_create(&ADAMW, -1));
    mc_optim_destroy(NULL);
}

static void test_lr_schedule(void **state) {
    (void)state;
    /* the result is a float: 1e-7 relative covers its rounding */
    const mc_lr_schedule s = {.lr = 1e-3f, .min_lr = 1e-5f, .warmup = 10, .total = 110};
    const double lr = 1e-3f, mn = 1e-5f, tol = 1e-7 * lr;
    assert_close(mc_lr_at(&s, 0), lr / 10, tol);                        /* warmup starts at lr / warmup */
    assert_close(mc_lr_at(&s, 4), lr * 5 / 10, tol);
    assert_close(mc_lr_at(&s, 9), lr, tol);                             /* the last warmup step reaches lr */
    assert_close(mc_lr_at(&s, 10), lr, tol);                            /* cosine starts at its top */
    assert_close(mc_lr_at(&s, 35), mn + 0.5 * (lr - mn) * (1 + cos(M_PI / 4)), tol);
    assert_close(mc_lr_at(&s, 60), mn + 0.5 * (lr - mn), tol);          /* half way */
    assert_close(mc_lr_at(&s, 109), mn + 0.5 * (lr - mn) * (1 + cos(M_PI * 99 / 100)), tol);
    assert_close(mc_lr_at(&s, 110), mn, 0);                             /* the end */
    assert_close(mc_lr_at(&s, 100000), mn, 0);
    /* no warmup: the cosine from step 0 */
    const mc_lr_schedule c = {.lr = 0.5f, .min_lr = 0.0f, .warmup = 0, .total = 4};
    assert_close(mc_lr_at(&c, 0), 0.5, 0);
    assert_close(mc_lr_at(&c, 2), 0.25, 1e-7);
    assert_close(mc_lr_at(&c, 4), 0.0, 0);
}

static void test_clip(void **state) {
    (void)state;
    /* (3, 4) has norm 5: scaled by 1 / (5 + 1e-6) to norm 1 - 2e-7; the pre-clip norm is returned */
    float g[2] = {3.0f, 4.0f};
    assert_close(mc_clip_grad_norm(g, 2, 1.0), 5.0, 0);
    assert_close(g[0], 3.0 / (5.0 + 1e-6), 1e-7);
    assert_close(g[1], 4.0 / (5.0 + 1e-6), 1e-7);
    assert_close(sqrt((double)g[0] * g[0] + (double)g[1] * g[1]), 5.0 / (5.0 + 1e-6), 1e-7);

    /* a longer vector: the norm computed here in double, and the clipped norm is max_norm */
    enum { N = 1000 };
    float *v = malloc(sizeof(float) * N);
    assert_non_null(v);
    double ss = 0;
    for (int i = 0; i < N; i++) {
        v[i] = (float)sin(0.37 * i) * (1 + i % 7);
        ss += (double)v[i] * v[i];
    }
    assert_close(mc_clip_grad_norm(v, N, 2.5), sqrt(ss), 1e-12 * sqrt(ss));
    ss = 0;
    for (int i = 0; i < N; i++) ss += (double)v[i] * v[i];
    assert_close(sqrt(ss), 2.5, 1e-5); /* float rounding of 1000 scaled elements */
    free(v);

    /* under the limit: untouched */
    float small[2] = {0.3f, 0.4f};
    assert_close(mc_clip_grad_norm(small, 2, 1.0), 0.5, 1e-7);
    assert_true(small[0] == 0.3f && small[1] == 0.4f);
    /* a non-finite gradient: its norm is returned and nothing is scaled */
    float bad[2] = {INFINITY, 1.0f};
    assert_true(isinf(mc_clip_grad_norm(bad, 2, 1.0)));
    assert_true(bad[1] == 1.0f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adamw),       cmocka_unit_test(test_decoupled_decay), cmocka_unit_test(test_sgd),
        cmocka_unit_test(test_state_round_trip), cmocka_unit_test(test_lr_schedule), cmocka_unit_test(test_clip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
