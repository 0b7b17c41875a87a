/* test_conv.c: 2D and 3D convolution: output sizes, oneDNN against the reference loops for the
 * forward pass and every gradient, central-difference gradients, accumulation, gradients left
 * NULL, the primitive cache (repeat calls, new data, eviction) and calls from several threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "moecore/nn.h"
#include "moecore/nn_ref.h"

/* A convolution with the same settings on every spatial axis unless the case spells them out. */
#define P2(n_, ic_, oc_, g_, h_, w_, kh_, kw_, sh_, sw_, ph_, pw_, dh_, dw_)                                  \
    ((mc_conv_params){.dims = 2, .N = n_, .IC = ic_, .OC = oc_, .groups = g_, .in = {h_, w_}, .k = {kh_, kw_}, \
                      .stride = {sh_, sw_}, .pad = {ph_, pw_}, .dil = {dh_, dw_}})
#define P3(n_, ic_, oc_, g_, d_, h_, w_, k_, s_, p_, dl_)                                                       \
    ((mc_conv_params){.dims = 3, .N = n_, .IC = ic_, .OC = oc_, .groups = g_, .in = {d_, h_, w_},               \
                      .k = {k_, k_, k_}, .stride = {s_, s_, s_}, .pad = {p_, p_, p_}, .dil = {dl_, dl_, dl_}})

static int64_t spatial(const int *v, int dims) {
    int64_t s = 1;
    for (int d = 0; d < dims; d++) s *= v[d];
    return s;
}
static int64_t in_len(const mc_conv_params *p) { return (int64_t)p->N * p->IC * spatial(p->in, p->dims); }
static int64_t out_len(const mc_conv_params *p) { return (int64_t)p->N * p->OC * spatial(p->out, p->dims); }
static int64_t w_len(const mc_conv_params *p) { return (int64_t)p->OC * (p->IC / p->groups) * spatial(p->k, p->dims); }

/* max |a - b| / max |b|: the error relative to the tensor's scale */
static double rel_err(const float *a, const float *b, int64_t n) {
    double num = 0.0, den = 0.0;
    for (int64_t i = 0; i < n; i++) {
        num = fmax(num, fabs((double)a[i] - b[i]));
        den = fmax(den, fabs((double)b[i]));
    }
    return num / fmax(den, 1e-30);
}

/* Buffers for one convolution: inputs, a fixed dL/dout, and outputs and gradients. */
typedef struct conv_bufs {
    mc_conv_params p;
    int64_t ni, no, nw;
    float *in, *w, *b, *r, *out, *din, *dw, *db;
} conv_bufs;

static void bufs_init(conv_bufs *f, mc_conv_params p, uint64_t seed) {
    assert_int_equal(mc_conv_params_init(&p), MC_OK);
    f->p = p;
    f->ni = in_len(&p);
    f->no = out_len(&p);
    f->nw = w_len(&p);
    f->in = malloc((size_t)f->ni * sizeof(float));
    f->w = malloc((size_t)f->nw * sizeof(float));
    f->b = malloc((size_t)p.OC * sizeof(float));
    f->r = malloc((size_t)f->no * sizeof(float));
    f->out = calloc((size_t)f->no, sizeof(float));
    f->din = calloc((size_t)f->ni, sizeof(float));
    f->dw = calloc((size_t)f->nw, sizeof(float));
    f->db = calloc((size_t)p.OC, sizeof(float));
    assert_non_null(f->db);
    mc_rng *rng = mc_rng_create(seed);
    gc_fill(f->in, f->ni, -1.0f, 1.0f, rng);
    gc_fill(f->w, f->nw, -0.5f, 0.5f, rng);
    gc_fill(f->b, p.OC, -0.5f, 0.5f, rng);
    gc_fill(f->r, f->no, -1.0f, 1.0f, rng);
    mc_rng_destroy(rng);
}

static void bufs_free(conv_bufs *f) {
    free(f->in);
    free(f->w);
    free(f->b);
    free(f->r);
    free(f->out);
    free(f->din);
    free(f->dw);
    free(f->db);
}

static const mc_conv_params parity_cases[] = {
    P2(2, 3, 4, 1, 7, 9, 3, 3, 1, 1, 1, 1, 1, 1),         /* odd sizes, "same" padding */
    P2(2, 4, 6, 1, 11, 8, 3, 2, 2, 2, 1, 0, 1, 1),        /* stride 2, rectangular kernel */
    P2(1, 3, 5, 1, 10, 9, 3, 3, 1, 2, 2, 1, 2, 2),        /* dilation 2 */
    P2(2, 4, 6, 2, 8, 7, 3, 3, 1, 1, 1, 1, 1, 1),         /* groups 2 */
    P2(2, 6, 6, 6, 9, 9, 3, 3, 2, 1, 1, 1, 1, 1),         /* depthwise */
    P2(2, 16, 32, 1, 13, 13, 3, 3, 1, 1, 1, 1, 1, 1),     /* channels in oneDNN's blocks */
    P2(2, 32, 32, 2, 12, 11, 3, 3, 2, 2, 1, 1, 1, 1),     /* blocked, groups 2, stride 2 */
    P2(2, 16, 16, 16, 15, 14, 5, 5, 1, 1, 4, 4, 2, 2),    /* blocked depthwise, dilated */
    P2(3, 16, 24, 1, 9, 10, 1, 1, 1, 1, 0, 0, 1, 1),      /* 1x1 */
    P3(2, 3, 4, 1, 5, 6, 7, 3, 1, 1, 1),                  /* 3D "same" */
    P3(1, 4, 8, 1, 7, 6, 9, 3, 2, 1, 1),                  /* 3D stride 2 */
    P3(1, 2, 3, 1, 7, 8, 6, 3, 1, 2, 2),                  /* 3D dilation 2 */
    P3(2, 4, 4, 2, 5, 5, 5, 3, 1, 1, 1),                  /* 3D groups 2 */
    P3(2, 8, 8, 8, 6, 7, 5, 3, 2, 1, 1),                  /* 3D depthwise, stride 2 */
    P3(2, 16, 16, 1, 8, 8, 8, 3, 1, 1, 1),                /* 3D blocked */
    P3(1, 1, 16, 1, 9, 9, 9, 3, 2, 1, 1),                 /* 3D stem: one input channel */
};

/* Every output of the oneDNN path against the reference loops, with and without bias. */
static void test_parity_with_reference(void **state) {
    (void)state;
    double worst = 0.0;
    for (size_t c = 0; c < sizeof parity_cases / sizeof *parity_cases; c++) {
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            conv_bufs f;
            bufs_init(&f, parity_cases[c], 100 + c);
            const float *b = with_bias ? f.b : NULL;
            float *ref_out = calloc((size_t)f.no, sizeof(float));
            float *ref_din = calloc((size_t)f.ni, sizeof(float));
            float *ref_dw = calloc((size_t)f.nw, sizeof(float));
            float *ref_db = calloc((size_t)f.p.OC, sizeof(float));
            mc_conv_forward(f.out, f.in, f.w, b, &f.p);
            mc_conv_ref_forward(ref_out, f.in, f.w, b, &f.p);
            mc_conv_backward(f.din, f.dw, f.db, f.r, f.in, f.w, &f.p);
            mc_conv_ref_backward(ref_din, ref_dw, ref_db, f.r, f.in, f.w, &f.p);
            double e[4] = {rel_err(f.out, ref_out, f.no), rel_err(f.din, ref_din, f.ni),
                           rel_err(f.dw, ref_dw, f.nw), rel_err(f.db, ref_db, f.p.OC)};
            for (int i = 0; i < 4; i++) {
                if (e[i] >= 1e-4)
                    fprintf(stderr, "case %zu bias %d: output %d relative error %.3g\n", c, with_bias, i, e[i]);
                assert_true(e[i] < 1e-4);
                worst = fmax(worst, e[i]);
            }
            free(ref_out);
            free(ref_din);
            free(ref_dw);
            free(ref_db);
            bufs_free(&f);
        }
    }
    printf("conv oneDNN against reference: worst relative error %.3g\n", worst);
}

static double conv_loss(void *ctx) {
    conv_bufs *f = ctx;
    mc_conv_forward(f->out, f->in, f->w, f->b, &f->p);
    return gc_dot(f->out, f->r, f->no);
}

/* Central differences of L = sum(out * R) for the input, weights and bias. The convolution is linear
 * in each of them, so the quotient carries only float32 rounding: L is a sum of a few hundred
 * products of O(1) terms, rounded at about 1e-6 absolute, which is 5e-5 in the quotient at
 * h = 1e-2 against gradients of order 1; a tolerance of 1e-2 (floor 1e-3 for the rare gradient
 * near zero) leaves two orders of magnitude of margin yet catches any wrong index or tap. */
static void test_gradients(void **state) {
    (void)state;
    static const mc_conv_params cases[] = {
        P2(2, 4, 6, 1, 11, 8, 3, 2, 2, 2, 1, 0, 1, 1),
        P2(1, 3, 5, 1, 10, 9, 3, 3, 1, 2, 2, 1, 2, 2),
        P2(2, 4, 6, 2, 8, 7, 3, 3, 1, 1, 1, 1, 1, 1),
        P2(2, 6, 6, 6, 9, 9, 3, 3, 2, 1, 1, 1, 1, 1),
        P3(1, 4, 8, 1, 7, 6, 9, 3, 2, 1, 1),
        P3(1, 2, 3, 1, 7, 8, 6, 3, 1, 2, 2),
        P3(2, 4, 4, 2, 5, 5, 5, 3, 1, 1, 1),
        P3(2, 8, 8, 8, 6, 7, 5, 3, 2, 1, 1),
    };
    double worst = 0.0;
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        conv_bufs f;
        bufs_init(&f, cases[c], 200 + c);
        mc_conv_backward(f.din, f.dw, f.db, f.r, f.in, f.w, &f.p);
        double e_in = gc_check("conv din", f.in, f.din, f.ni, conv_loss, &f, 1e-2, 1e-3, 60, 1e-2);
        double e_w = gc_check("conv dw", f.w, f.dw, f.nw, conv_loss, &f, 1e-2, 1e-3, 60, 1e-2);
        double e_b = gc_check("conv db", f.b, f.db, f.p.OC, conv_loss, &f, 1e-2, 1e-3, 60, 1e-2);
        assert_true(e_in < 1e-2);
        assert_true(e_w < 1e-2);
        assert_true(e_b < 1e-2);
        worst = fmax(worst, fmax(e_in, fmax(e_w, e_b)));
        bufs_free(&f);
    }
    printf("conv gradient check: worst relative error %.3g\n", worst);
}

/* Backward adds into what the gradients hold: twice from g0 gives g0 + 2 (once - g0). */
static void test_backward_accumulates(void **state) {
    (void)state;
    static const mc_conv_params cases[] = {
        P2(2, 16, 32, 2, 12, 11, 3, 3, 2, 2, 1, 1, 1, 1),
        P3(1, 4, 8, 1, 7, 6, 9, 3, 2, 1, 1),
    };
    for (size_t c = 0; c < 2; c++) {
        conv_bufs f;
        bufs_init(&f, cases[c], 300 + c);
        mc_rng *rng = mc_rng_create(301);
        gc_fill(f.din, f.ni, -1.0f, 1.0f, rng);
        gc_fill(f.dw, f.nw, -1.0f, 1.0f, rng);
        gc_fill(f.db, f.p.OC, -1.0f, 1.0f, rng);
        mc_rng_destroy(rng);
        int64_t n[3] = {f.ni, f.nw, f.p.OC};
        float *g[3] = {f.din, f.dw, f.db}, *g0[3], *g1[3];
        for (int i = 0; i < 3; i++) {
            g0[i] = malloc((size_t)n[i] * sizeof(float));
            g1[i] = malloc((size_t)n[i] * sizeof(float));
            memcpy(g0[i], g[i], (size_t)n[i] * sizeof(float));
        }
        mc_conv_backward(f.din, f.dw, f.db, f.r, f.in, f.w, &f.p);
        for (int i = 0; i < 3; i++) memcpy(g1[i], g[i], (size_t)n[i] * sizeof(float));
        mc_conv_backward(f.din, f.dw, f.db, f.r, f.in, f.w, &f.p);
        for (int i = 0; i < 3; i++) {
            float *once = malloc((size_t)n[i] * sizeof(float)), *twice = malloc((size_t)n[i] * sizeof(float));
            for (int64_t j = 0; j < n[i]; j++) {
                once[j] = 2.0f * (g1[i][j] - g0[i][j]);
                twice[j] = g[i][j] - g0[i][j];
            }
            /* float rounding of the three sums only */
            assert_true(rel_err(twice, once, n[i]) < 1e-5);
            free(once);
            free(twice);
            free(g0[i]);
            free(g1[i]);
        }
        bufs_free(&f);
    }
}

/* Any gradient may be NULL, and the others come out as when all are asked for. */
static void test_null_gradients(void **state) {
    (void)state;
    conv_bufs f;
    bufs_init(&f, P3(2, 4, 4, 2, 5, 5, 5, 3, 1, 1, 1), 400);
    mc_conv_backward(f.din, f.dw, f.db, f.r, f.in, f.w, &f.p);
    float *din = calloc((size_t)f.ni, sizeof(float)), *dw = calloc((size_t)f.nw, sizeof(float));
    float *db = calloc((size_t)f.p.OC, sizeof(float));
    mc_conv_backward(din, NULL, NULL, f.r, f.in, f.w, &f.p);
    mc_conv_backward(NULL, dw, NULL, f.r, f.in, f.w, &f.p);
    mc_conv_backward(NULL, NULL, db, f.r, f.in, f.w, &f.p);
    mc_conv_backward(NULL, NULL, NULL, f.r, f.in, f.w, &f.p);
    assert_memory_equal(din, f.din, (size_t)f.ni * sizeof(float));
    assert_memory_equal(dw, f.dw, (size_t)f.nw * sizeof(float));
    assert_memory_equal(db, f.db, (size_t)f.p.OC * sizeof(float));
    free(din);
    free(dw);
    free(db);
    bufs_free(&f);
}

/* The cached primitive gives bit-identical outputs on a repeat call, also after another shape ran
 * in between, and reads the new buffers when the data changes. */
static void test_cache_repeat(void **state) {
    (void)state;
    conv_bufs f, other;
    bufs_init(&f, P2(2, 16, 32, 1, 13, 13, 3, 3, 1, 1, 1, 1, 1, 1), 500);
    bufs_init(&other, P3(1, 4, 8, 1, 7, 6, 9, 3, 2, 1, 1), 501);
    float *first = malloc((size_t)f.no * sizeof(float)), *ref = malloc((size_t)f.no * sizeof(float));
    mc_conv_forward(first, f.in, f.w, f.b, &f.p);
    mc_conv_forward(f.out, f.in, f.w, f.b, &f.p);
    assert_memory_equal(first, f.out, (size_t)f.no * sizeof(float));
    mc_conv_forward(other.out, other.in, other.w, other.b, &other.p);
    mc_conv_forward(f.out, f.in, f.w, f.b, &f.p);
    assert_memory_equal(first, f.out, (size_t)f.no * sizeof(float));
    /* new data in fresh buffers of the same shape */
    float *in2 = malloc((size_t)f.ni * sizeof(float)), *w2 = malloc((size_t)f.nw * sizeof(float));
    mc_rng *rng = mc_rng_create(502);
    gc_fill(in2, f.ni, -2.0f, 2.0f, rng);
    gc_fill(w2, f.nw, -1.0f, 1.0f, rng);
    mc_rng_destroy(rng);
    mc_conv_forward(f.out, in2, w2, f.b, &f.p);
    mc_conv_ref_forward(ref, in2, w2, f.b, &f.p);
    assert_true(rel_err(f.out, ref, f.no) < 1e-4);
    free(in2);
    free(w2);
    free(first);
    free(ref);
    bufs_free(&f);
    bufs_free(&other);
}

/* More shapes than the cache holds (128 entries): entries are evicted and rebuilt, results stay right. */
static void test_cache_eviction(void **state) {
    (void)state;
    conv_bufs f;
    bufs_init(&f, P2(1, 2, 2, 1, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1), 600);
    float *ref = malloc((size_t)f.no * sizeof(float));
    mc_conv_ref_forward(ref, f.in, f.w, f.b, &f.p);
    for (int round = 0; round < 2; round++) {
        for (int h = 3; h < 3 + 140; h++) {
            mc_conv_params p = P2(1, 2, 2, 1, h, 5, 3, 3, 1, 1, 1, 1, 1, 1);
            assert_int_equal(mc_conv_params_init(&p), MC_OK);
            float *in = calloc((size_t)in_len(&p), sizeof(float)), *out = malloc((size_t)out_len(&p) * sizeof(float));
            in[in_len(&p) - 1] = 1.0f; /* the last element of input channel 1: the last output of channel 1 sees it through the centre tap */
            mc_conv_forward(out, in, f.w, NULL, &p);
            assert_float_equal(out[out_len(&p) - 1], f.w[(1 * 2 + 1) * 9 + 4], 0.0f); /* w[oc 1, ic 1, centre] */
            free(in);
            free(out);
        }
        mc_conv_forward(f.out, f.in, f.w, f.b, &f.p);
        assert_true(rel_err(f.out, ref, f.no) < 1e-4);
    }
    free(ref);
    bufs_free(&f);
}

/* Several threads running the same and different shapes at once get the serial results. */
typedef struct thread_job {
    conv_bufs *f;
    float *out, *din, *dw, *db;
} thread_job;

static void *thread_run(void *arg) {
    thread_job *j = arg;
    for (int it = 0; it < 8; it++) {
        mc_conv_forward(j->out, j->f->in, j->f->w, j->f->b, &j->f->p);
        memset(j->din, 0, (size_t)j->f->ni * sizeof(float));
        memset(j->dw, 0, (size_t)j->f->nw * sizeof(float));
        memset(j->db, 0, (size_t)j->f->p.OC * sizeof(float));
        mc_conv_backward(j->din, j->dw, j->db, j->f->r, j->f->in, j->f->w, &j->f->p);
    }
    return NULL;
}

static void test_threads(void **state) {
    (void)state;
    enum { T = 4 };
    conv_bufs f[2];
    bufs_init(&f[0], P2(2, 16, 16, 1, 10, 10, 3, 3, 1, 1, 1, 1, 1, 1), 700);
    bufs_init(&f[1], P3(1, 8, 8, 2, 6, 6, 6, 3, 1, 1, 1), 701);
    for (int s = 0; s < 2; s++) {
        mc_conv_forward(f[s].out, f[s].in, f[s].w, f[s].b, &f[s].p);
        mc_conv_backward(f[s].din, f[s].dw, f[s].db, f[s].r, f[s].in, f[s].w, &f[s].p);
    }
    pthread_t th[T];
    thread_job jobs[T];
    for (int t = 0; t < T; t++) {
        conv_bufs *s = &f[t % 2];
        jobs[t] = (thread_job){s, malloc((size_t)s->no * sizeof(float)), malloc((size_t)s->ni * sizeof(float)),
                               malloc((size_t)s->nw * sizeof(float)), malloc((size_t)s->p.OC * sizeof(float))};
        assert_int_equal(pthread_create(&th[t], NULL, thread_run, &jobs[t]), 0);
    }
    for (int t = 0; t < T; t++) {
        assert_int_equal(pthread_join(th[t], NULL), 0);
        conv_bufs *s = jobs[t].f;
        assert_memory_equal(jobs[t].out, s->out, (size_t)s->no * sizeof(float));
        assert_memory_equal(jobs[t].din, s->din, (size_t)s->ni * sizeof(float));
        assert_memory_equal(jobs[t].dw, s->dw, (size_t)s->nw * sizeof(float));
        assert_memory_equal(jobs[t].db, s->db, (size_t)s->p.OC * sizeof(float));
        free(jobs[t].out);
        free(jobs[t].din);
        free(jobs[t].dw);
        free(jobs[t].db);
    }
    bufs_free(&f[0]);
    bufs_free(&f[1]);
}

/* out = (in + 2 pad - dil (k - 1) - 1) / stride + 1, and what is rejected. */
static void test_params(void **state) {
    (void)state;
    mc_conv_params p = P2(1, 3, 8, 1, 224, 223, 7, 7, 2, 2, 3, 3, 1, 1);
    assert_int_equal(mc_conv_params_init(&p), MC_OK);
    assert_int_equal(p.out[0], 112);
    assert_int_equal(p.out[1], 112);
    p = P2(1, 3, 8, 1, 10, 9, 3, 3, 1, 2, 2, 1, 2, 2);
    assert_int_equal(mc_conv_params_init(&p), MC_OK);
    assert_int_equal(p.out[0], 10); /* (10 + 4 - 5) / 1 + 1 */
    assert_int_equal(p.out[1], 4);  /* (9 + 2 - 5) / 2 + 1 */
    p = P3(2, 4, 4, 2, 7, 8, 6, 3, 2, 0, 1);
    assert_int_equal(mc_conv_params_init(&p), MC_OK);
    assert_int_equal(p.out[0], 3);
    assert_int_equal(p.out[1], 3);
    assert_int_equal(p.out[2], 2);
    mc_conv_params bad[] = {
        P2(1, 3, 8, 2, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1),  /* IC not divisible by groups */
        P2(1, 4, 6, 4, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1),  /* OC not divisible by groups */
        P2(1, 3, 8, 1, 4, 8, 3, 3, 1, 1, 0, 0, 3, 1),  /* dilated kernel wider than the input */
        P2(1, 3, 8, 1, 8, 8, 3, 3, 0, 1, 1, 1, 1, 1),  /* stride 0 */
        P2(1, 3, 8, 1, 8, 8, 3, 3, 1, 1, -1, 1, 1, 1), /* negative padding */
        P2(1, 3, 8, 1, 8, 8, 3, 3, 1, 1, 1, 1, 0, 1),  /* dilation 0 */
        P2(0, 3, 8, 1, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1),  /* empty batch */
        P2(1, 3, 8, 0, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1),  /* groups 0 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) assert_int_equal(mc_conv_params_init(&bad[i]), MC_ERR_ARG);
    p = P2(1, 3, 8, 1, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1);
    p.dims = 4;
    assert_int_equal(mc_conv_params_init(&p), MC_ERR_ARG);
    assert_int_equal(mc_conv_params_init(NULL), MC_ERR_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_parity_with_reference),
        cmocka_unit_test(test_gradients),
        cmocka_unit_test(test_backward_accumulates),
        cmocka_unit_test(test_null_gradients),
        cmocka_unit_test(test_cache_repeat),
        cmocka_unit_test(test_cache_eviction),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
