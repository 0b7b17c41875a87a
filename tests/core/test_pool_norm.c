/* test_pool_norm.c: max, average and global average pooling (output sizes, hand-computed outputs,
 * argmax, central-difference gradients, accumulation) and batch normalisation (training output and
 * saved statistics, the running update, evaluation with the running statistics, gradients); both
 * in the blocked layout against the plain one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "moecore/nn.h"

static int64_t pool_in_len(const mc_pool_params *p) {
    int64_t n = (int64_t)p->N * p->C;
    for (int d = 0; d < p->dims; d++) n *= p->in[d];
    return n;
}
static int64_t pool_out_len(const mc_pool_params *p) {
    int64_t n = (int64_t)p->N * p->C;
    for (int d = 0; d < p->dims; d++) n *= p->out[d];
    return n;
}

/* n distinct values -1 + (2 j + 1) / n in random order: neighbours 2 / n apart, so that a
 * perturbation smaller than 1 / n never changes which element a max picks */
static void fill_distinct(float *v, int64_t n, mc_rng *rng) {
    int *perm = malloc((size_t)n * sizeof *perm);
    for (int64_t i = 0; i < n; i++) perm[i] = (int)i;
    mc_rng_shuffle(rng, perm, (int)n);
    for (int64_t i = 0; i < n; i++) v[i] = (float)(-1.0 + (2.0 * perm[i] + 1.0) / (double)n);
    free(perm);
}

/* ---- pooling -------------------------------------------------------------------------------------- */

static void test_pool_params(void **state) {
    (void)state;
    mc_pool_params p = {.dims = 2, .kind = MC_POOL_MAX, .N = 2, .C = 3, .in = {7, 8}, .k = {3, 2},
                        .stride = {2, 2}, .pad = {1, 0}};
    assert_int_equal(mc_pool_params_init(&p), MC_OK);
    assert_int_equal(p.out[0], 4); /* (7 + 2 - 3) / 2 + 1 */
    assert_int_equal(p.out[1], 4); /* (8 - 2) / 2 + 1 */
    p = (mc_pool_params){.dims = 3, .kind = MC_POOL_AVG, .N = 1, .C = 1, .in = {5, 6, 7}, .k = {3, 3, 2},
                         .stride = {2, 2, 1}, .pad = {1, 1, 1}};
    assert_int_equal(mc_pool_params_init(&p), MC_OK);
    assert_int_equal(p.out[0], 3); /* (5 + 2 - 3) / 2 + 1 */
    assert_int_equal(p.out[1], 3); /* (6 + 2 - 3) / 2 + 1 */
    assert_int_equal(p.out[2], 8); /* (7 + 2 - 2) / 1 + 1 */
    mc_pool_params bad[] = {
        {.dims = 2, .kind = MC_POOL_MAX, .N = 1, .C = 1, .in = {4, 4}, .k = {2, 2}, .stride = {1, 1}, .pad = {2, 0}},
        {.dims = 2, .kind = MC_POOL_MAX, .N = 1, .C = 1, .in = {2, 4}, .k = {5, 2}, .stride = {1, 1}, .pad = {1, 0}},
        {.dims = 2, .kind = MC_POOL_AVG, .N = 1, .C = 1, .in = {4, 4}, .k = {2, 2}, .stride = {0, 1}, .pad = {0, 0}},
        {.dims = 1, .kind = MC_POOL_AVG, .N = 1, .C = 1, .in = {4, 4}, .k = {2, 2}, .stride = {1, 1}, .pad = {0, 0}},
        {.dims = 2, .kind = (mc_pool_kind)7, .N = 1, .C = 1, .in = {4, 4}, .k = {2, 2}, .stride = {1, 1}},
        {.dims = 2, .kind = MC_POOL_AVG, .N = 0, .C = 1, .in = {4, 4}, .k = {2, 2}, .stride = {1, 1}},
        {.dims = 3, .kind = MC_POOL_MAX, .N = 1, .C = 1, .in = {4, 4, 0}, .k = {2, 2, 1}, .stride = {1, 1, 1}},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) assert_int_equal(mc_pool_params_init(&bad[i]), MC_ERR_ARG);
    assert_int_equal(mc_pool_params_init(NULL), MC_ERR_ARG);
}

static const float grid4[16] = {1, 3, 2, 0,
                                4, 0, 1, 5,
                                7, 2, 9, 8,
                                6, 1, 3, 4};

static void test_pool_known_2d(void **state) {
    (void)state;
    float out[16], din[16];
    int32_t am[16];
    /* 2x2, stride 2 */
    mc_pool_params p = {.dims = 2, .kind = MC_POOL_MAX, .N = 1, .C = 1, .in = {4, 4}, .k = {2, 2}, .stride = {2, 2}};
    assert_int_equal(mc_pool_params_init(&p), MC_OK);
    mc_pool_forward(out, am, grid4, &p);
    const float max2[4] = {4, 5, 7, 9};
    const int32_t am2[4] = {4, 7, 8, 10};
    for (int i = 0; i < 4; i++) {
        assert_float_equal(out[i], max2[i], 0.0f);
        assert_int_equal(am[i], am2[i]);
    }
    const float dy[4] = {1.0f, -2.0f, 0.5f, 3.0f};
    memset(din, 0, sizeof din);
    mc_pool_backward(din, dy, am, &p);
    for (int i = 0; i < 16; i++) {
        float want = 0.0f;
        for (int j = 0; j < 4; j++) want += am2[j] == i ? dy[j] : 0.0f;
        assert_float_equal(din[i], want, 0.0f);
    }
    p.kind = MC_POOL_AVG;
    mc_pool_forward(out, NULL, grid4, &p);
    const float avg2[4] = {2.0f, 2.0f, 4.0f, 6.0f};
    for (int i = 0; i < 4; i++) assert_float_equal(out[i], avg2[i], 1e-6f);
    memset(din, 0, sizeof din);
    mc_pool_backward(din, dy, NULL, &p);
    assert_float_equal(din[0], 0.25f, 0.0f);   /* window 0 */
    assert_float_equal(din[7], -0.5f, 0.0f);   /* window 1 */
    assert_float_equal(din[13], 0.125f, 0.0f); /* window 2 */
    assert_float_equal(din[15], 0.75f, 0.0f);  /* window 3 */

    /* 3x3, stride 1, padding 1: padding never wins a max and is not counted in an average */
    p = (mc_pool_params){.dims = 2, .kind = MC_POOL_MAX, .N = 1, .C = 1, .in = {4, 4}, .k = {3, 3},
                         .stride = {1, 1}, .pad = {1, 1}};
    assert_int_equal(mc_pool_params_init(&p), MC_OK);
    assert_int_equal(p.out[0], 4);
    mc_pool_forward(out, am, grid4, &p);
    assert_float_equal(out[0], 4.0f, 0.0f); /* rows 0-1, cols 0-1 */
    assert_int_equal(am[0], 4);
    assert_float_equal(out[3], 5.0f, 0.0f); /* rows 0-1, cols 2-3 */
    assert_int_equal(am[3], 7);
    assert_float_equal(out[15], 9.0f, 0.0f); /* rows 2-3, cols 2-3 */
    assert_int_equal(am[15], 10);
    p.kind = MC_POOL_AVG;
    mc_pool_forward(out, NULL, grid4, &p);
    assert_float_equal(out[0], 8.0f / 4.0f, 1e-6f);                     /* 1 3 4 0 */
    assert_float_equal(out[1], 11.0f / 6.0f, 1e-6f);                    /* 1 3 2 4 0 1 */
    assert_float_equal(out[5], 29.0f / 9.0f, 1e-6f);                    /* rows 0-2, cols 0-2 */
    assert_float_equal(out[15], 24.0f / 4.0f, 1e-6f);                   /* 9 8 3 4 */
    /* backward of an all-ones dout: each element gets sum over its windows of 1 / window size */
    float ones[16];
    for (int i = 0; i < 16; i++) ones[i] = 1.0f;
    memset(din, 0, sizeof din);
    mc_pool_backward(din, ones, NULL, &p);
    /* element (0, 0) lies in the windows of outputs (0,0) 4, (0,1) 6, (1,0) 6, (1,1) 9 elements */
    assert_float_equal(din[0], 1.0f / 4 + 1.0f / 6 + 1.0f / 6 + 1.0f / 9, 1e-6f);
}

static void test_pool_known_3d(void **state) {
    (void)state;
    /* 2 channels of 2x2x3; a 2x2x2 window, stride 1 gives 1x1x2 per channel */
    const float in[24] = {0, 5, 1, 2, 3, 4, 6, -1, 7, 2, 8, 0,      /* channel 0 */
                          -1, -2, -3, -4, -5, -6, -7, -8, -9, -10, -11, -12}; /* channel 1 */
    mc_pool_params p = {.dims = 3, .kind = MC_POOL_MAX, .N = 1, .C = 2, .in = {2, 2, 3}, .k = {2, 2, 2},
                        .stride = {1, 1, 1}};
    assert_int_equal(mc_pool_params_init(&p), MC_OK);
    assert_int_equal(p.out[0] * p.out[1] * p.out[2], 2);
    float out[4];
    int32_t am[4];
    mc_pool_forward(out, am, in, &p);
    /* channel 0, window at w 0-1: {0,5,2,3,6,-1,2,8} -> 8 at (1,1,1) = 10 */
    assert_float_equal(out[0], 8.0f, 0.0f);
    assert_int_equal(am[0], 10);
    /* window at w 1-2: {5,1,3,4,-1,7,8,0} -> 8 again */
    assert_float_equal(out[1], 8.0f, 0.0f);
    assert_int_equal(am[1], 10);
    assert_float_equal(out[2], -1.0f, 0.0f);
    assert_int_equal(am[2], 0);
    assert_float_equal(out[3], -2.0f, 0.0f);
    assert_int_equal(am[3], 1);
    p.kind = MC_POOL_AVG;
    mc_pool_forward(out, NULL, in, &p);
    assert_float_equal(out[0], 25.0f / 8.0f, 1e-6f);
    assert_float_equal(out[1], 27.0f / 8.0f, 1e-6f);
    assert_float_equal(out[2], -(1 + 2 + 4 + 5 + 7 + 8 + 10 + 11) / 8.0f, 1e-6f);
    /* global average */
    float g[2];
    mc_global_avgpool_forward(g, in, 1, 2, 12);
    assert_float_equal(g[0], 37.0f / 12.0f, 1e-6f);
    assert_float_equal(g[1], -78.0f / 12.0f, 1e-6f);
    float din[24] = {0}, dg[2] = {1.2f, -2.4f};
    mc_global_avgpool_backward(din, dg, 1, 2, 12);
    assert_float_equal(din[5], 0.1f, 1e-7f);
    assert_float_equal(din[17], -0.2f, 1e-7f);
}

typedef struct pool_ctx {
    mc_pool_params p;
    int64_t ni, no;
    float *in, *out, *r, *din;
    int32_t *am;
} pool_ctx;

static double pool_loss(void *ctx) {
    pool_ctx *c = ctx;
    mc_pool_forward(c->out, c->am, c->in, &c->p);
    return gc_dot(c->out, c->r, c->no);
}

static double gap_loss(void *ctx) {
    pool_ctx *c = ctx;
    mc_global_avgpool_forward(c->out, c->in, c->p.N, c->p.C, c->ni / ((int64_t)c->p.N * c->p.C));
    return gc_dot(c->out, c->r, c->no);
}

static void pool_ctx_init(pool_ctx *c, mc_pool_params p, uint64_t seed) {
    assert_int_equal(mc_pool_params_init(&p), MC_OK);
    c->p = p;
    c->ni = pool_in_len(&p);
    c->no = pool_out_len(&p);
    c->in = malloc((size_t)c->ni * sizeof(float));
    c->din = calloc((size_t)c->ni, sizeof(float));
    c->out = malloc((size_t)c->no * sizeof(float));
    c->r = malloc((size_t)c->no * sizeof(float));
    c->am = malloc((size_t)c->no * sizeof(int32_t));
    mc_rng *rng = mc_rng_create(seed);
    fill_distinct(c->in, c->ni, rng);
    gc_fill(c->r, c->no, -1.0f, 1.0f, rng);
    mc_rng_destroy(rng);
}

static void pool_ctx_free(pool_ctx *c) {
    free(c->in);
    free(c->din);
    free(c->out);
    free(c->r);
    free(c->am);
}

/* Central differences with h = 1e-3 below half the spacing of the distinct inputs, so no max
 * changes hands: pooling is then linear in its input and the quotient carries only float32
 * rounding of the few outputs an element touches (about 1e-7 in L, 5e-5 in the quotient), while
 * elements no output reads give exactly 0 on both sides. Tolerance 1e-2, floor 1e-3. */
static void test_pool_gradients(void **state) {
    (void)state;
    static const mc_pool_params cases[] = {
        {.dims = 2, .kind = MC_POOL_MAX, .N = 2, .C = 3, .in = {9, 8}, .k = {3, 3}, .stride = {2, 2}, .pad = {1, 1}},
        {.dims = 2, .kind = MC_POOL_AVG, .N = 2, .C = 3, .in = {9, 8}, .k = {3, 3}, .stride = {2, 2}, .pad = {1, 1}},
        {.dims = 2, .kind = MC_POOL_MAX, .N = 1, .C = 2, .in = {6, 7}, .k = {2, 2}, .stride = {2, 2}, .pad = {0, 0}},
        {.dims = 3, .kind = MC_POOL_MAX, .N = 1, .C = 2, .in = {5, 6, 7}, .k = {3, 3, 2}, .stride = {2, 2, 1},
         .pad = {1, 1, 1}},
        {.dims = 3, .kind = MC_POOL_AVG, .N = 2, .C = 2, .in = {5, 4, 6}, .k = {3, 3, 3}, .stride = {1, 1, 2},
         .pad = {1, 1, 1}},
    };
    double worst = 0.0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        pool_ctx c;
        pool_ctx_init(&c, cases[i], 10 + i);
        mc_pool_forward(c.out, c.am, c.in, &c.p);
        mc_pool_backward(c.din, c.r, c.am, &c.p);
        double e = gc_check(cases[i].kind == MC_POOL_MAX ? "max pool din" : "avg pool din", c.in, c.din, c.ni,
                            pool_loss, &c, 1e-3, 1e-3, 120, 1e-2);
        assert_true(e < 1e-2);
        worst = fmax(worst, e);
        pool_ctx_free(&c);
    }
    /* global average pooling over S = 30 */
    pool_ctx c;
    pool_ctx_init(&c, (mc_pool_params){.dims = 2, .kind = MC_POOL_AVG, .N = 3, .C = 4, .in = {5, 6}, .k = {5, 6},
                                       .stride = {1, 1}},
                  20);
    mc_global_avgpool_backward(c.din, c.r, 3, 4, 30);
    double e = gc_check("global avg pool din", c.in, c.din, c.ni, gap_loss, &c, 1e-3, 1e-3, 120, 1e-2);
    assert_true(e < 1e-2);
    worst = fmax(worst, e);
    pool_ctx_free(&c);
    printf("pooling gradient check: worst relative error %.3g\n", worst);
}

/* Backward adds into din: twice from d0 gives d0 + 2 (once - d0). */
static void test_pool_accumulates(void **state) {
    (void)state;
    for (int kind = MC_POOL_MAX; kind <= MC_POOL_AVG; kind++) {
        pool_ctx c;
        pool_ctx_init(&c, (mc_pool_params){.dims = 3, .kind = (mc_pool_kind)kind, .N = 2, .C = 2, .in = {4, 5, 6},
                                           .k = {3, 3, 3}, .stride = {1, 2, 2}, .pad = {1, 1, 1}},
                      30 + kind);
        mc_rng *rng = mc_rng_create(40);
        gc_fill(c.din, c.ni, -1.0f, 1.0f, rng);
        mc_rng_destroy(rng);
        float *d0 = malloc((size_t)c.ni * sizeof(float)), *d1 = malloc((size_t)c.ni * sizeof(float));
        memcpy(d0, c.din, (size_t)c.ni * sizeof(float));
        mc_pool_forward(c.out, c.am, c.in, &c.p);
        mc_pool_backward(c.din, c.r, c.am, &c.p);
        memcpy(d1, c.din, (size_t)c.ni * sizeof(float));
        mc_pool_backward(c.din, c.r, c.am, &c.p);
        for (int64_t i = 0; i < c.ni; i++) assert_float_equal(c.din[i] - d0[i], 2.0f * (d1[i] - d0[i]), 1e-5f);
        free(d0);
        free(d1);
        pool_ctx_free(&c);
    }
    float din[6] = {1, 2, 3, 4, 5, 6}, dout[2] = {6, 12};
    mc_global_avgpool_backward(din, dout, 1, 2, 3);
    mc_global_avgpool_backward(din, dout, 1, 2, 3);
    assert_float_equal(din[0], 5.0f, 0.0f);
    assert_float_equal(din[5], 14.0f, 0.0f);
}

/* ---- batch norm ------------------------------------------------------------------------------------ */

typedef struct bn_ctx {
    int N, C;
    int64_t S, n;
    float eps, momentum;
    float *in, *gamma, *beta, *out, *r, *mean, *rstd, *rm, *rv, *din, *dgamma, *dbeta;
} bn_ctx;

static void bn_init(bn_ctx *b, int N, int C, int64_t S, uint64_t seed) {
    b->N = N;
    b->C = C;
    b->S = S;
    b->n = (int64_t)N * C * S;
    b->eps = 1e-5f;
    b->momentum = 0.1f;
    b->in = malloc((size_t)b->n * sizeof(float));
    b->out = malloc((size_t)b->n * sizeof(float));
    b->r = malloc((size_t)b->n * sizeof(float));
    b->din = calloc((size_t)b->n, sizeof(float));
    float **perc[] = {&b->gamma, &b->beta, &b->mean, &b->rstd, &b->rm, &b->rv, &b->dgamma, &b->dbeta};
    for (size_t i = 0; i < sizeof perc / sizeof *perc; i++) *perc[i] = calloc((size_t)C, sizeof(float));
    mc_rng *rng = mc_rng_create(seed);
    /* each channel with its own offset and spread, so statistics are far from 0 and 1 */
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) gc_fill(b->in + ((int64_t)n * C + c) * S, S, 2.0f * c - 1.0f, 3.0f * c + 0.5f, rng);
    gc_fill(b->gamma, C, 0.5f, 1.5f, rng);
    gc_fill(b->beta, C, -0.5f, 0.5f, rng);
    gc_fill(b->r, b->n, -1.0f, 1.0f, rng);
    gc_fill(b->rm, C, -0.2f, 0.2f, rng);
    gc_fill(b->rv, C, 0.5f, 2.0f, rng);
    mc_rng_destroy(rng);
}

static void bn_free(bn_ctx *b) {
    float *all[] = {b->in, b->out, b->r, b->din, b->gamma, b->beta, b->mean, b->rstd, b->rm, b->rv, b->dgamma, b->dbeta};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(all[i]);
}

/* Training: outputs, saved statistics and the running update against the formulas in double. */
static void test_batchnorm_train_forward(void **state) {
    (void)state;
    static const int shapes[][3] = {{4, 3, 10}, {8, 5, 1}, {2, 2, 27}};
    for (size_t t = 0; t < 3; t++) {
        bn_ctx b;
        bn_init(&b, shapes[t][0], shapes[t][1], shapes[t][2], 50 + t);
        float *rm0 = malloc((size_t)b.C * sizeof(float)), *rv0 = malloc((size_t)b.C * sizeof(float));
        memcpy(rm0, b.rm, (size_t)b.C * sizeof(float));
        memcpy(rv0, b.rv, (size_t)b.C * sizeof(float));
        mc_batchnorm_forward(b.out, b.mean, b.rstd, b.rm, b.rv, b.in, b.gamma, b.beta, b.N, b.C, b.S, b.eps,
                             b.momentum, 1);
        int64_t M = (int64_t)b.N * b.S;
        for (int c = 0; c < b.C; c++) {
            double s = 0.0, v = 0.0;
            for (int n = 0; n < b.N; n++)
                for (int64_t i = 0; i < b.S; i++) s += b.in[((int64_t)n * b.C + c) * b.S + i];
            double mu = s / M;
            for (int n = 0; n < b.N; n++)
                for (int64_t i = 0; i < b.S; i++) {
                    double d = b.in[((int64_t)n * b.C + c) * b.S + i] - mu;
                    v += d * d;
                }
            double var = v / M, unbiased = v / (M - 1), rstd = 1.0 / sqrt(var + b.eps);
            assert_float_equal(b.mean[c], mu, 1e-6 * fmax(1.0, fabs(mu)));
            assert_float_equal(b.rstd[c], rstd, 1e-6 * rstd);
            /* PyTorch: running = (1 - momentum) running + momentum batch, unbiased variance */
            double want_rm = (1.0 - b.momentum) * rm0[c] + b.momentum * mu;
            double want_rv = (1.0 - b.momentum) * rv0[c] + b.momentum * unbiased;
            assert_float_equal(b.rm[c], want_rm, 1e-6 * fmax(1.0, fabs(want_rm)));
            assert_float_equal(b.rv[c], want_rv, 1e-6 * want_rv);
            for (int n = 0; n < b.N; n++)
                for (int64_t i = 0; i < b.S; i++) {
                    int64_t j = ((int64_t)n * b.C + c) * b.S + i;
                    double want = (b.in[j] - mu) * rstd * b.gamma[c] + b.beta[c];
                    assert_float_equal(b.out[j], want, 1e-5);
                }
        }
        free(rm0);
        free(rv0);
        bn_free(&b);
    }
}

/* Evaluation normalises with the running statistics and leaves them alone. */
static void test_batchnorm_eval(void **state) {
    (void)state;
    bn_ctx b;
    bn_init(&b, 3, 4, 7, 60);
    float rm0[4], rv0[4];
    memcpy(rm0, b.rm, sizeof rm0);
    memcpy(rv0, b.rv, sizeof rv0);
    mc_batchnorm_forward(b.out, NULL, NULL, b.rm, b.rv, b.in, b.gamma, b.beta, b.N, b.C, b.S, b.eps, b.momentum, 0);
    assert_memory_equal(b.rm, rm0, sizeof rm0);
    assert_memory_equal(b.rv, rv0, sizeof rv0);
    for (int n = 0; n < b.N; n++)
        for (int c = 0; c < b.C; c++)
            for (int64_t i = 0; i < b.S; i++) {
                int64_t j = ((int64_t)n * b.C + c) * b.S + i;
                double want = (b.in[j] - (double)rm0[c]) / sqrt((double)rv0[c] + b.eps) * b.gamma[c] + b.beta[c];
                assert_float_equal(b.out[j], want, 1e-5 * fmax(1.0, fabs(want)));
            }
    /* after a training step the running statistics moved, and evaluation follows them */
    float *train_out = malloc((size_t)b.n * sizeof(float)), *eval2 = malloc((size_t)b.n * sizeof(float));
    mc_batchnorm_forward(train_out, b.mean, b.rstd, b.rm, b.rv, b.in, b.gamma, b.beta, b.N, b.C, b.S, b.eps,
                         b.momentum, 1);
    mc_batchnorm_forward(eval2, NULL, NULL, b.rm, b.rv, b.in, b.gamma, b.beta, b.N, b.C, b.S, b.eps, b.momentum, 0);
    int64_t j = 2 * b.S + 3; /* n 0, channel 2 */
    double want = (b.in[j] - (double)b.rm[2]) / sqrt((double)b.rv[2] + b.eps) * b.gamma[2] + b.beta[2];
    assert_float_equal(eval2[j], want, 1e-5 * fmax(1.0, fabs(want)));
    assert_true(fabs(eval2[j] - b.out[j]) > 1e-3);
    assert_true(fabs(eval2[j] - train_out[j]) > 1e-3);
    free(train_out);
    free(eval2);
    bn_free(&b);
}

static double bn_loss(void *ctx) {
    bn_ctx *b = ctx;
    mc_batchnorm_forward(b->out, b->mean, b->rstd, b->rm, b->rv, b->in, b->gamma, b->beta, b->N, b->C, b->S, b->eps,
                         b->momentum, 1);
    return gc_dot(b->out, b->r, b->n);
}

/* Central differences of the training-mode layer. In gamma and beta it is linear (exact up to
 * float32 rounding); in the input it is smooth, with a truncation error of order h^2 = 1e-4
 * relative at h = 1e-2, and float32 rounding of L (about 1e-6) adds 5e-5 absolute to the quotient.
 * Input gradients of a normalised layer partly cancel (they sum to zero per channel), so some are
 * small: a floor of 1e-2 and a tolerance of 2e-2 cover both effects with margin. */
static void test_batchnorm_gradients(void **state) {
    (void)state;
    static const int shapes[][3] = {{4, 3, 6}, {6, 2, 1}};
    double worst = 0.0;
    for (size_t t = 0; t < 2; t++) {
        bn_ctx b;
        bn_init(&b, shapes[t][0], shapes[t][1], shapes[t][2], 70 + t);
        mc_batchnorm_forward(b.out, b.mean, b.rstd, b.rm, b.rv, b.in, b.gamma, b.beta, b.N, b.C, b.S, b.eps,
                             b.momentum, 1);
        mc_batchnorm_backward(b.din, b.dgamma, b.dbeta, b.r, b.in, b.gamma, b.mean, b.rstd, b.N, b.C, b.S);
        double e[3] = {gc_check("batchnorm din", b.in, b.din, b.n, bn_loss, &b, 1e-2, 1e-2, 80, 2e-2),
                       gc_check("batchnorm dgamma", b.gamma, b.dgamma, b.C, bn_loss, &b, 1e-2, 1e-2, 80, 2e-2),
                       gc_check("batchnorm dbeta", b.beta, b.dbeta, b.C, bn_loss, &b, 1e-2, 1e-2, 80, 2e-2)};
        for (int i = 0; i < 3; i++) {
            assert_true(e[i] < 2e-2);
            worst = fmax(worst, e[i]);
        }
        bn_free(&b);
    }
    printf("batchnorm gradient check: worst relative error %.3g\n", worst);
}

/* Backward adds into din, dgamma and dbeta, and skips any that is NULL. */
static void test_batchnorm_accumulates(void **state) {
    (void)state;
    bn_ctx b;
    bn_init(&b, 3, 4, 5, 80);
    mc_batchnorm_forward(b.out, b.mean, b.rstd, b.rm, b.rv, b.in, b.gamma, b.beta, b.N, b.C, b.S, b.eps, b.momentum, 1);
    mc_batchnorm_backward(b.din, b.dgamma, b.dbeta, b.r, b.in, b.gamma, b.mean, b.rstd, b.N, b.C, b.S);
    float *din1 = malloc((size_t)b.n * sizeof(float)), dg1[4], db1[4];
    memcpy(din1, b.din, (size_t)b.n * sizeof(float));
    memcpy(dg1, b.dgamma, sizeof dg1);
    memcpy(db1, b.dbeta, sizeof db1);
    mc_batchnorm_backward(b.din, b.dgamma, b.dbeta, b.r, b.in, b.gamma, b.mean, b.rstd, b.N, b.C, b.S);
    for (int64_t i = 0; i < b.n; i++) assert_float_equal(b.din[i], 2.0f * din1[i], 1e-6f);
    for (int c = 0; c < 4; c++) {
        assert_float_equal(b.dgamma[c], 2.0f * dg1[c], 1e-6f);
        assert_float_equal(b.dbeta[c], 2.0f * db1[c], 1e-6f);
    }
    mc_batchnorm_backward(NULL, b.dgamma, NULL, b.r, b.in, b.gamma, b.mean, b.rstd, b.N, b.C, b.S);
    for (int c = 0; c < 4; c++) {
        assert_float_equal(b.dgamma[c], 3.0f * dg1[c], 1e-5f);
        assert_float_equal(b.dbeta[c], 2.0f * db1[c], 1e-6f);
    }
    free(din1);
    bn_free(&b);
}

/* ---- the blocked layout --------------------------------------------------------------------------- */

/* Largest |a - b| over n elements. */
static double max_diff(const float *a, const float *b, int64_t n) {
    double d = 0.0;
    for (int64_t i = 0; i < n; i++)
        if (!(fabs((double)a[i] - b[i]) <= d)) d = fabs((double)a[i] - b[i]);
    return d;
}

/* Pooling in the blocked layout against the plain one, 20 channels (a block and a part): the same
 * outputs exactly, argmax naming the same plane positions, padding lanes zero, and the same
 * accumulated gradients. */
static void test_pool_blocked(void **state) {
    (void)state;
    mc_rng *rng = mc_rng_create(31);
    for (int dims = 2; dims <= 3; dims++) {
        for (int kind = 0; kind < 2; kind++) {
            mc_pool_params p = {.dims = dims, .kind = (mc_pool_kind)kind, .N = 2, .C = 20};
            for (int d = 0; d < dims; d++) {
                p.in[d] = 7 - d;
                p.k[d] = 3;
                p.stride[d] = 2;
                p.pad[d] = 1;
            }
            assert_int_equal(mc_pool_params_init(&p), MC_OK);
            mc_pool_params q = p;
            q.layout = MC_LAYOUT_BLOCKED16;
            int64_t Si = 1, So = 1;
            for (int d = 0; d < dims; d++) {
                Si *= p.in[d];
                So *= p.out[d];
            }
            int64_t ni = pool_in_len(&p), no = pool_out_len(&p), nib = 2 * 32 * Si, nob = 2 * 32 * So;
            float *x = malloc(sizeof(float) * (size_t)ni), *xb = malloc(sizeof(float) * (size_t)nib);
            float *y = malloc(sizeof(float) * (size_t)no), *yb = malloc(sizeof(float) * (size_t)nob);
            float *yp = malloc(sizeof(float) * (size_t)no), *dy = malloc(sizeof(float) * (size_t)no);
            float *dyb = malloc(sizeof(float) * (size_t)nob), *dx = calloc((size_t)ni, sizeof(float));
            float *dxb = calloc((size_t)nib, sizeof(float)), *dxp = malloc(sizeof(float) * (size_t)ni);
            int32_t *am = malloc(sizeof(int32_t) * (size_t)no), *amb = malloc(sizeof(int32_t) * (size_t)nob);
            fill_distinct(x, ni, rng);
            gc_fill(dy, no, -1, 1, rng);
            mc_layout_to_blocked(xb, x, 2, 20, Si);
            mc_layout_to_blocked(dyb, dy, 2, 20, So);
            int32_t *want_am = kind == MC_POOL_MAX ? am : NULL, *want_amb = kind == MC_POOL_MAX ? amb : NULL;
            mc_pool_forward(y, want_am, x, &p);
            mc_pool_forward(yb, want_amb, xb, &q);
            mc_layout_to_plain(yp, yb, 2, 20, So);
            assert_true(max_diff(yp, y, no) == 0.0);
            for (int n = 0; n < 2; n++)
                for (int64_t o = 0; o < So; o++) {
                    /* channel 17 = block 1, lane 1; lanes 4.. of block 1 are padding */
                    if (kind == MC_POOL_MAX) assert_int_equal(amb[((n * 2 + 1) * So + o) * 16 + 1], am[(n * 20 + 17) * So + o]);
                    for (int j = 4; j < 16; j++) assert_true(yb[((n * 2 + 1) * So + o) * 16 + j] == 0.0f);
                }
            for (int rep = 0; rep < 2; rep++) { /* twice: both accumulate */
                mc_pool_backward(dx, dy, want_am, &p);
                mc_pool_backward(dxb, dyb, want_amb, &q);
            }
            mc_layout_to_plain(dxp, dxb, 2, 20, Si);
            assert_true(max_diff(dxp, dx, ni) < 1e-6);
            free(x), free(xb), free(y), free(yb), free(yp), free(dy), free(dyb), free(dx), free(dxb), free(dxp);
            free(am), free(amb);
        }
    }
    mc_rng_destroy(rng);
}

/* Batch norm in the blocked layout against the plain one, 21 channels with means far from zero:
 * outputs, saved and running statistics, evaluation mode, padding lanes zero, accumulated
 * gradients, and the fused ReLU with an overwritten gradient. */
static void test_batchnorm_blocked(void **state) {
    (void)state;
    mc_rng *rng = mc_rng_create(32);
    int N = 3, C = 21;
    int64_t S = 30, n = (int64_t)N * C * S, nb = (int64_t)N * 32 * S;
    float *x = malloc(sizeof(float) * (size_t)n), *xb = malloc(sizeof(float) * (size_t)nb);
    float *y = malloc(sizeof(float) * (size_t)n), *yb = malloc(sizeof(float) * (size_t)nb), *yp = malloc(sizeof(float) * (size_t)n);
    float *dy = malloc(sizeof(float) * (size_t)n), *dyb = malloc(sizeof(float) * (size_t)nb);
    float *dx = malloc(sizeof(float) * (size_t)n), *dxb = malloc(sizeof(float) * (size_t)nb), *dxp = malloc(sizeof(float) * (size_t)n);
    float g[21], b[21], mean[21], rstd[21], meanb[21], rstdb[21], rm[21], rv[21], rmb[21], rvb[21];
    float dg[21] = {0}, db[21] = {0}, dgb[21] = {0}, dbb[21] = {0};
    gc_fill(x, n, -1, 1, rng);
    for (int64_t i = 0; i < n; i++) x[i] += (float)(i / S % C) - 8.0f; /* channel means -8 .. 12 */
    gc_fill(dy, n, -1, 1, rng);
    gc_fill(g, C, 0.5f, 1.5f, rng);
    gc_fill(b, C, -1, 1, rng);
    for (int c = 0; c < C; c++) {
        rm[c] = rmb[c] = 0.1f * (float)c;
        rv[c] = rvb[c] = 1.0f + 0.05f * (float)c;
    }
    mc_layout_to_blocked(xb, x, N, C, S);
    mc_layout_to_blocked(dyb, dy, N, C, S);
    for (int train = 1; train >= 0; train--) {
        for (int64_t i = 0; i < nb; i++) yb[i] = NAN;
        mc_batchnorm_forward(y, mean, rstd, rm, rv, x, g, b, N, C, S, 1e-5f, 0.1f, train);
        mc_batchnorm_forward_blocked(yb, meanb, rstdb, rmb, rvb, xb, g, b, N, C, S, 1e-5f, 0.1f, train, 0);
        mc_layout_to_plain(yp, yb, N, C, S);
        assert_true(max_diff(yp, y, n) < 1e-5);
        assert_true(max_diff(meanb, mean, C) < 1e-5);
        assert_true(max_diff(rstdb, rstd, C) < 1e-4);
        assert_true(max_diff(rmb, rm, C) < 1e-5);
        assert_true(max_diff(rvb, rv, C) < 1e-5);
        for (int nn = 0; nn < N; nn++)
            for (int64_t i = 0; i < S; i++)
                for (int j = 5; j < 16; j++) assert_true(yb[((nn * 2 + 1) * S + i) * 16 + j] == 0.0f);
        if (!train) break;
        for (int64_t i = 0; i < n; i++) dx[i] = 0.25f;
        mc_layout_to_blocked(dxb, dx, N, C, S);
        for (int rep = 0; rep < 2; rep++) { /* twice: both accumulate */
            mc_batchnorm_backward(dx, dg, db, dy, x, g, mean, rstd, N, C, S);
            mc_batchnorm_backward_blocked(dxb, dgb, dbb, dyb, NULL, xb, g, meanb, rstdb, N, C, S, 1);
        }
        mc_layout_to_plain(dxp, dxb, N, C, S);
        assert_true(max_diff(dxp, dx, n) < 1e-5);
        assert_true(max_diff(dgb, dg, C) < 1e-4);
        assert_true(max_diff(dbb, db, C) < 1e-4);
        for (int nn = 0; nn < N; nn++)
            for (int64_t i = 0; i < S; i++)
                for (int j = 5; j < 16; j++) assert_true(dxb[((nn * 2 + 1) * S + i) * 16 + j] == 0.0f);
    }
    /* with the ReLU fused: against batch norm, then ReLU forward and backward, in the plain layout */
    float *r = malloc(sizeof(float) * (size_t)n), *dr = calloc((size_t)n, sizeof(float));
    mc_batchnorm_forward(y, mean, rstd, NULL, NULL, x, g, b, N, C, S, 1e-5f, 0.1f, 1);
    mc_act_forward(r, y, n, MC_ACT_RELU);
    mc_act_backward(dr, dy, y, r, n, MC_ACT_RELU);
    memset(dx, 0, sizeof(float) * (size_t)n);
    mc_batchnorm_backward(dx, NULL, NULL, dr, x, g, mean, rstd, N, C, S);
    mc_batchnorm_forward_blocked(yb, meanb, rstdb, NULL, NULL, xb, g, b, N, C, S, 1e-5f, 0.1f, 1, 1);
    mc_layout_to_plain(yp, yb, N, C, S);
    assert_true(max_diff(yp, r, n) < 1e-5);
    int zeros = 0;
    for (int64_t i = 0; i < n; i++) zeros += yp[i] == 0.0f;
    assert_true(zeros > n / 4 && zeros < 3 * n / 4); /* the ReLU cut about half */
    for (int64_t i = 0; i < nb; i++) dxb[i] = NAN; /* overwritten, padding lanes included */
    mc_batchnorm_backward_blocked(dxb, NULL, NULL, dyb, yb, xb, g, meanb, rstdb, N, C, S, 0);
    for (int nn = 0; nn < N; nn++)
        for (int64_t i = 0; i < S; i++)
            for (int j = 5; j < 16; j++) assert_true(dxb[((nn * 2 + 1) * S + i) * 16 + j] == 0.0f);
    mc_layout_to_plain(dxp, dxb, N, C, S);
    assert_true(max_diff(dxp, dx, n) < 1e-5);
    free(r), free(dr);
    free(x), free(xb), free(y), free(yb), free(yp), free(dy), free(dyb), free(dx), free(dxb), free(dxp);
    mc_rng_destroy(rng);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_params),
        cmocka_unit_test(test_pool_known_2d),
        cmocka_unit_test(test_pool_known_3d),
        cmocka_unit_test(test_pool_gradients),
        cmocka_unit_test(test_pool_accumulates),
        cmocka_unit_test(test_batchnorm_train_forward),
        cmocka_unit_test(test_batchnorm_eval),
        cmocka_unit_test(test_batchnorm_gradients),
        cmocka_unit_test(test_batchnorm_accumulates),
        cmocka_unit_test(test_pool_blocked),
        cmocka_unit_test(test_batchnorm_blocked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
