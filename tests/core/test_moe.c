/* test_moe.c: the Mixture-of-Experts layer: gradients of every parameter and of the input by
 * central differences in each routing and balancing mode, sparse dispatch against a dense
 * reference, capacity dropping, load statistics and the auxiliary-loss-free bias update. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "moecore/moe.h"

typedef struct {
    mc_moe *m;
    mc_moe_config c;
    float *params, *grads, *x, *dx, *out, *r;
    int T;
} fixture;

static void setup(fixture *f, const mc_moe_config *c, int T, uint64_t seed) {
    memset(f, 0, sizeof *f);
    f->c = *c;
    f->T = T;
    int64_t np = mc_moe_num_params(c);
    f->params = calloc((size_t)np, sizeof(float));
    f->grads = calloc((size_t)np, sizeof(float));
    f->x = calloc((size_t)T * c->d_model, sizeof(float));
    f->dx = calloc((size_t)T * c->d_model, sizeof(float));
    f->out = calloc((size_t)T * c->d_model, sizeof(float));
    f->r = calloc((size_t)T * c->d_model, sizeof(float));
    assert_int_equal(mc_moe_create(&f->m, c, f->params, f->grads, NULL), MC_OK);
    mc_rng *rng = mc_rng_create(seed);
    mc_moe_init_params(f->m, rng);
    /* larger router weights so the top-k choice has clear margins under small perturbations */
    mc_moe_weights w = mc_moe_weights_at(c, f->params);
    for (int64_t i = 0; i < (int64_t)c->n_experts * c->d_model; i++) w.w_router[i] *= 4.0f;
    gc_fill(f->x, (int64_t)T * c->d_model, -1.0f, 1.0f, rng);
    gc_fill(f->r, (int64_t)T * c->d_model, -1.0f, 1.0f, rng);
    /* redraw tokens whose k-th and (k+1)-th router scores are closer than 0.05, so that no
     * perturbation of a gradient check flips a routing decision (the choice is piecewise constant) */
    int D = c->d_model, E = c->n_experts, k = c->top_k;
    for (int t = 0; t < T && k < E; t++) {
        for (int tries = 0; tries < 1000; tries++) {
            double sc[64], mx = -1e30, sum = 0.0;
            for (int e = 0; e < E; e++) {
                sc[e] = 0.0;
                for (int d = 0; d < D; d++) sc[e] += (double)w.w_router[e * D + d] * f->x[t * D + d];
                mx = fmax(mx, sc[e]);
            }
            for (int e = 0; e < E; e++) {
                sc[e] = c->score == MC_ROUTER_SOFTMAX ? exp(sc[e] - mx) : 1.0 / (1.0 + exp(-sc[e]));
                sum += sc[e];
            }
            /* sorted descending by insertion */
            double v[64];
            for (int e = 0; e < E; e++) {
                double s = c->score == MC_ROUTER_SOFTMAX ? sc[e] / sum : sc[e];
                int i = e;
                while (i > 0 && v[i - 1] < s) {
                    v[i] = v[i - 1];
                    i--;
                }
                v[i] = s;
            }
            if (v[k - 1] - v[k] >= 0.05) break;
            gc_fill(f->x + t * D, D, -1.0f, 1.0f, rng);
        }
    }
    mc_rng_destroy(rng);
}

static void teardown(fixture *f) {
    mc_moe_destroy(f->m);
    free(f->params);
    free(f->grads);
    free(f->x);
    free(f->dx);
    free(f->out);
    free(f->r);
}

/* L = sum(out * R) + balance loss + z-loss, so backward gets dout = R. */
static double loss(void *ctx) {
    fixture *f = ctx;
    assert_int_equal(mc_moe_forward(f->m, f->out, f->x, f->T, 1, NULL), MC_OK);
    const mc_moe_stats *s = mc_moe_get_stats(f->m);
    return gc_dot(f->out, f->r, (int64_t)f->T * f->c.d_model) + s->aux_loss + s->z_loss;
}

/* Checks the input and every parameter block with step h; returns the worst relative error.
 * Float32 forward with h = 1e-2 (1e-3 where routing decisions are close): truncation and rounding
 * errors stay below ~1e-2 relative where gradients are not tiny (floor 1e-2 absolute on
 * |a| + |d|), hence tolerance 3e-2. Top-k choice and capacity are piecewise constant: the test
 * data keep every decision clear of the perturbation. */
static double check_all(fixture *f, const char *mode, double h) {
    loss(f);
    memset(f->grads, 0, (size_t)mc_moe_num_params(&f->c) * sizeof(float));
    memset(f->dx, 0, (size_t)f->T * f->c.d_model * sizeof(float));
    mc_moe_backward(f->m, f->dx, f->r);
    const double floor = 1e-2, tol = 3e-2;
    double worst = gc_check(mode, f->x, f->dx, (int64_t)f->T * f->c.d_model, loss, f, h, floor, 200, tol);
    mc_moe_weights w = mc_moe_weights_at(&f->c, f->params), g = mc_moe_weights_at(&f->c, f->grads);
    const mc_moe_config *c = &f->c;
    int64_t D = c->d_model, F = c->d_ff, E = c->n_experts, S = c->n_shared;
    int64_t Fs = c->d_ff_shared > 0 ? c->d_ff_shared : F;
    struct {
        float *p, *g;
        int64_t n;
    } blocks[] = {
        {w.w_router, g.w_router, E * D}, {w.w1, g.w1, E * F * D}, {w.b1, g.b1, E * F},  {w.w2, g.w2, E * D * F},
        {w.b2, g.b2, E * D},             {w.ws1, g.ws1, S * Fs * D}, {w.bs1, g.bs1, S * Fs}, {w.ws2, g.ws2, S * D * Fs},
        {w.bs2, g.bs2, S * D},
    };
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++) {
        if (blocks[i].n == 0) continue;
        double e = gc_check(mode, blocks[i].p, blocks[i].g, blocks[i].n, loss, f, h, floor, 150, tol);
        if (e > worst) worst = e;
    }
    return worst;
}

static mc_moe_config small_config(void) {
    mc_moe_config c;
    mc_moe_config_default(&c);
    c.d_model = 6;
    c.d_ff = 5;
    c.n_experts = 4;
    c.top_k = 2;
    c.n_shared = 1;
    c.d_ff_shared = 3;
    return c;
}

static void test_grad_softmax_aux_z(void **state) {
    (void)state;
    mc_moe_config c = small_config();
    c.aux_alpha = 0.1f;
    c.z_coef = 0.01f;
    fixture f;
    setup(&f, &c, 9, 1);
    assert_true(check_all(&f, "softmax+aux+z", 1e-2) < 3e-2);
    assert_true(mc_moe_get_stats(f.m)->aux_loss > 0.0);
    assert_true(mc_moe_get_stats(f.m)->z_loss > 0.0);
    teardown(&f);
}

static void test_grad_sigmoid_bias(void **state) {
    (void)state;
    mc_moe_config c = small_config();
    c.score = MC_ROUTER_SIGMOID;
    c.balance = MC_BALANCE_BIAS;
    c.act = MC_ACT_SILU;
    fixture f;
    setup(&f, &c, 8, 2);
    /* a non-zero selection bias changes the choice but has no gradient */
    float *b = mc_moe_bias(f.m);
    b[0] = 0.3f;
    b[3] = -0.2f;
    assert_true(check_all(&f, "sigmoid+bias", 1e-2) < 3e-2);
    assert_true(mc_moe_get_stats(f.m)->aux_loss == 0.0);
    teardown(&f);
}

static void test_grad_switch_top1_no_norm(void **state) {
    (void)state;
    mc_moe_config c = small_config();
    c.top_k = 1;
    c.norm_topk = 0;
    c.n_shared = 0;
    c.act = MC_ACT_TANH;
    fixture f;
    setup(&f, &c, 10, 3);
    assert_true(check_all(&f, "top1", 1e-2) < 3e-2);
    teardown(&f);
}

static void test_grad_capacity_dropping(void **state) {
    (void)state;
    mc_moe_config c = small_config();
    c.capacity_factor = 0.5f;
    fixture f;
    setup(&f, &c, 12, 4);
    assert_true(check_all(&f, "capacity", 1e-3) < 3e-2);
    const mc_moe_stats *s = mc_moe_get_stats(f.m);
    /* capacity ceil(0.5 * 24 / 4) = 3 pairs per expert: at most 12 of the 24 pairs are kept */
    int64_t kept = 0;
    for (int e = 0; e < c.n_experts; e++) kept += s->load[e] < 3 ? s->load[e] : 3;
    assert_int_equal(s->dropped, 24 - kept);
    assert_true(s->dropped >= 12);
    teardown(&f);
}

/* The sparse path against a dense loop over every (token, chosen expert). */
static void test_sparse_matches_dense(void **state) {
    (void)state;
    mc_moe_config c = small_config();
    c.n_experts = 8;
    c.top_k = 3;
    c.d_model = 16;
    c.d_ff = 12;
    fixture f;
    const int T = 40;
    setup(&f, &c, T, 5);
    assert_int_equal(mc_moe_forward(f.m, f.out, f.x, T, 0, NULL), MC_OK);
    mc_moe_weights w = mc_moe_weights_at(&c, f.params);
    int D = c.d_model, F = c.d_ff, E = c.n_experts, Fs = c.d_ff_shared;
    double worst = 0.0;
    int64_t load[8] = {0};
    for (int t = 0; t < T; t++) {
        const float *x = f.x + t * D;
        double logit[8], sc[8], mx = -1e30, sum = 0.0;
        for (int e = 0; e < E; e++) {
            logit[e] = 0;
            for (int d = 0; d < D; d++) logit[e] += (double)w.w_router[e * D + d] * x[d];
            mx = fmax(mx, logit[e]);
        }
        for (int e = 0; e < E; e++) sum += sc[e] = exp(logit[e] - mx);
        for (int e = 0; e < E; e++) sc[e] /= sum;
        int chosen[3];
        double gsum = 0.0;
        for (int j = 0; j < 3; j++) {
            int best = -1;
            for (int e = 0; e < E; e++) {
                int taken = 0;
                for (int i = 0; i < j; i++) taken |= chosen[i] == e;
                if (!taken && (best < 0 || sc[e] > sc[best])) best = e;
            }
            chosen[j] = best;
            gsum += sc[best];
            load[best]++;
        }
        double y[16] = {0};
        for (int j = 0; j < 4; j++) {
            /* j < 3: routed expert chosen[j] with its gate; j == 3: the shared expert */
            int shared = j == 3;
            int FF = shared ? Fs : F;
            const float *w1 = shared ? w.ws1 : w.w1 + (int64_t)chosen[j] * F * D;
            const float *b1 = shared ? w.bs1 : w.b1 + (int64_t)chosen[j] * F;
            const float *w2 = shared ? w.ws2 : w.w2 + (int64_t)chosen[j] * D * F;
            const float *b2 = shared ? w.bs2 : w.b2 + (int64_t)chosen[j] * D;
            double gate = shared ? 1.0 : sc[chosen[j]] / gsum;
            double hbuf[16];
            for (int q = 0; q < FF; q++) {
                double a = b1[q];
                for (int d = 0; d < D; d++) a += (double)w1[q * D + d] * x[d];
                hbuf[q] = 0.5 * a * (1.0 + erf(a / sqrt(2.0)));
            }
            for (int d = 0; d < D; d++) {
                double a = b2[d];
                for (int q = 0; q < FF; q++) a += (double)w2[d * FF + q] * hbuf[q];
                y[d] += gate * a;
            }
        }
        for (int d = 0; d < D; d++) worst = fmax(worst, fabs(y[d] - f.out[t * D + d]));
    }
    /* float32 GEMMs of length <= 16 against double: absolute error well below 1e-5 */
    assert_true(worst < 1e-5);
    const mc_moe_stats *s = mc_moe_get_stats(f.m);
    int64_t total = 0;
    for (int e = 0; e < E; e++) {
        assert_int_equal(s->load[e], load[e]);
        total += s->load[e];
    }
    assert_int_equal(total, (int64_t)T * 3); /* work is T * k pairs, whatever E */
    assert_int_equal(s->dropped, 0);
    teardown(&f);
}

static void test_bias_update(void **state) {
    (void)state;
    mc_moe_config c = small_config();
    c.balance = MC_BALANCE_BIAS;
    c.bias_gamma = 0.002f;
    fixture f;
    const int T = 64;
    setup(&f, &c, T, 6);
    assert_int_equal(mc_moe_forward(f.m, f.out, f.x, T, 1, NULL), MC_OK);
    int64_t load[4];
    memcpy(load, mc_moe_get_stats(f.m)->load, sizeof load);
    mc_moe_update_bias(f.m);
    const float *b = mc_moe_bias(f.m);
    double mean = (double)T * c.top_k / c.n_experts;
    for (int e = 0; e < 4; e++) {
        float want = load[e] > mean ? -0.002f : load[e] < mean ? 0.002f : 0.0f;
        assert_float_equal(b[e], want, 1e-7);
    }
    /* repeated updates move the load towards balance */
    double cv0 = mc_moe_get_stats(f.m)->balance_cv, cv_late = 0.0;
    for (int it = 0; it < 400; it++) {
        assert_int_equal(mc_moe_forward(f.m, f.out, f.x, T, 1, NULL), MC_OK);
        if (it >= 300) cv_late += mc_moe_get_stats(f.m)->balance_cv / 100.0;
        mc_moe_update_bias(f.m);
    }
    assert_true(cv_late < 0.5 * cv0);
    teardown(&f);
}

static void test_config_checks(void **state) {
    (void)state;
    mc_moe_config c = small_config();
    mc_error e;
    c.top_k = 5;
    assert_int_equal(mc_moe_config_check(&c, &e), MC_ERR_ARG);
    assert_non_null(strstr(e.msg, "top_k"));
    c = small_config();
    c.capacity_factor = -1;
    assert_int_equal(mc_moe_config_check(&c, &e), MC_ERR_ARG);
    c = small_config();
    /* router E*D + experts E*(F*D + F + D*F + D) + shared (Fs*D + Fs + D*Fs + D) */
    assert_int_equal(mc_moe_num_params(&c), 4 * 6 + 4 * (30 + 5 + 30 + 6) + (18 + 3 + 18 + 6));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grad_softmax_aux_z),   cmocka_unit_test(test_grad_sigmoid_bias),
        cmocka_unit_test(test_grad_switch_top1_no_norm), cmocka_unit_test(test_grad_capacity_dropping),
        cmocka_unit_test(test_sparse_matches_dense), cmocka_unit_test(test_bias_update),
        cmocka_unit_test(test_config_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
