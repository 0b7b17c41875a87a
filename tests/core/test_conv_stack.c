/* test_conv_stack.c: convolutional stacks through mc_model, whose runs of conv, batch norm,
 * activation and pooling keep their activations in the blocked layout, against the same layers
 * computed here one by one in the plain layout with the reference convolution loops (nn_ref.h):
 * training forward outputs, the input gradient, every parameter gradient, the batch-norm running
 * statistics (through an evaluation forward) and a second step without the input gradient (the
 * accumulation of parameter gradients).
 * The stacks: the two of bench_core at reduced sizes, and stacks with channel counts that are not
 * multiples of the block of 16, max and average pooling, stride-2 and grouped convolutions. The layout
 * conversions of layout.c and the blocked layers on their own are checked too. */
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
#include "moecore/model.h"
#include "moecore/nn.h"
#include "moecore/nn_ref.h"

enum { CONV, BN, RELU, GELU, MAXPOOL, AVGPOOL };

typedef struct spec {
    int type, out, k, stride, pad; /* out: conv channels */
    int groups;                    /* conv: 0 or 1 = none */
} spec;

#define MAX_L 12

/* One layer of the plain walk: its shapes and buffers. */
typedef struct step {
    spec s;
    int C, OC, in[3], out[3];
    int64_t in_n, out_n; /* elements for the whole batch */
    int64_t wn;          /* conv: weights before the bias */
    float *y, *dy, *mean, *rstd;
    int32_t *argmax;
    mc_conv_params cp;
    mc_pool_params pp;
} step;

static char *arch_json(const spec *s, int n, int C, int dims, int size) {
    static char buf[4096];
    int len = snprintf(buf, sizeof buf, "{\"input\":[%d,%d,%d%s", C, size, size, dims == 3 ? "," : "");
    if (dims == 3) len += snprintf(buf + len, sizeof buf - (size_t)len, "%d", size);
    len += snprintf(buf + len, sizeof buf - (size_t)len, "],\"layers\":[");
    for (int i = 0; i < n; i++) {
        const char *sep = i ? "," : "";
        switch (s[i].type) {
        case CONV:
            len += snprintf(buf + len, sizeof buf - (size_t)len,
                            "%s{\"type\":\"conv\",\"out\":%d,\"k\":%d,\"stride\":%d,\"pad\":%d,\"groups\":%d}", sep, s[i].out,
                            s[i].k, s[i].stride, s[i].pad, s[i].groups > 1 ? s[i].groups : 1);
            break;
        case BN: len += snprintf(buf + len, sizeof buf - (size_t)len, "%s{\"type\":\"batchnorm\"}", sep); break;
        case RELU: len += snprintf(buf + len, sizeof buf - (size_t)len, "%s{\"type\":\"act\",\"fn\":\"relu\"}", sep); break;
        case GELU: len += snprintf(buf + len, sizeof buf - (size_t)len, "%s{\"type\":\"act\",\"fn\":\"gelu\"}", sep); break;
        default:
            len += snprintf(buf + len, sizeof buf - (size_t)len, "%s{\"type\":\"%s\",\"k\":%d,\"stride\":%d,\"pad\":%d}", sep,
                            s[i].type == MAXPOOL ? "maxpool" : "avgpool", s[i].k, s[i].stride, s[i].pad);
            break;
        }
    }
    snprintf(buf + len, sizeof buf - (size_t)len, "]}");
    return buf;
}

/* Largest |a - b| over the largest |b| (at least 1e-3), so that the tolerance is relative to the
 * tensor's scale. */
static double rel_err(const float *a, const float *b, int64_t n) {
    double d = 0.0, scale = 1e-3;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (!(e <= d)) d = e; /* NaN wins */
        if (fabs(b[i]) > scale) scale = fabs(b[i]);
    }
    return d / scale;
}

/* ||a - b|| / ||b|| (L2 norms, in double). */
static double rel_l2(const float *a, const float *b, int64_t n) {
    double d = 0.0, r = 0.0;
    for (int64_t i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        r += (double)b[i] * b[i];
    }
    return sqrt(d / (r > 0 ? r : 1e-30));
}

static int64_t spatial_n(int dims, const int *sz) {
    int64_t n = 1;
    for (int d = 0; d < dims; d++) n *= sz[d];
    return n;
}

/* Forward outputs agree elementwise to 2e-4 of their scale (typically 1e-6). Gradients agree to
 * about 5e-7 in the L2 norm, except that an activation within rounding of a ReLU's kink can take
 * the other side in one of the two computations, which moves that element's gradient by all of
 * it: one such element in a few thousand makes an L2 error of about 5e-3. GRAD_TOL allows a
 * couple of those; a wrong index, a padding lane let in or a lost accumulation make errors of 0.1
 * and more. */
#define GRAD_TOL 2e-2

/* Runs the stack through mc_model and the plain walk for two training steps (parameter gradients
 * accumulate over both), then one evaluation forward, comparing all of it. */
static void check_stack(const spec *s, int n, int N, int C0, int dims, int size, uint64_t seed) {
    mc_model *m;
    mc_error err;
    if (mc_model_create(&m, arch_json(s, n, C0, dims, size), &err) != MC_OK) fail_msg("%s", err.msg);
    mc_rng *rng = mc_rng_create(seed);
    mc_model_init(m, rng);
    const float *params = mc_model_params(m);
    int64_t np = mc_model_num_params(m);

    /* the plain walk's shapes and buffers */
    step st[MAX_L];
    int C = C0, sz[3] = {size, size, size};
    int64_t p_off[MAX_L], off = 0;
    for (int i = 0; i < n; i++) {
        step *t = &st[i];
        memset(t, 0, sizeof *t);
        t->s = s[i];
        t->C = C;
        memcpy(t->in, sz, sizeof sz);
        t->OC = C;
        p_off[i] = off;
        if (s[i].type == CONV) {
            int groups = s[i].groups > 1 ? s[i].groups : 1;
            t->cp = (mc_conv_params){.dims = dims, .N = N, .IC = C, .OC = s[i].out, .groups = groups};
            for (int d = 0; d < dims; d++) {
                t->cp.in[d] = sz[d];
                t->cp.k[d] = s[i].k;
                t->cp.stride[d] = s[i].stride;
                t->cp.pad[d] = s[i].pad;
                t->cp.dil[d] = 1;
            }
            assert_int_equal(mc_conv_params_init(&t->cp), MC_OK);
            memcpy(t->out, t->cp.out, sizeof t->out);
            t->OC = s[i].out;
            int64_t kk = 1;
            for (int d = 0; d < dims; d++) kk *= s[i].k;
            t->wn = (int64_t)t->OC * (C / groups) * kk;
            off += t->wn + t->OC;
        } else if (s[i].type == MAXPOOL || s[i].type == AVGPOOL) {
            t->pp = (mc_pool_params){.dims = dims, .kind = s[i].type == MAXPOOL ? MC_POOL_MAX : MC_POOL_AVG, .N = N, .C = C};
            for (int d = 0; d < dims; d++) {
                t->pp.in[d] = sz[d];
                t->pp.k[d] = s[i].k;
                t->pp.stride[d] = s[i].stride;
                t->pp.pad[d] = s[i].pad;
            }
            assert_int_equal(mc_pool_params_init(&t->pp), MC_OK);
            memcpy(t->out, t->pp.out, sizeof t->out);
        } else {
            memcpy(t->out, sz, sizeof sz);
            if (s[i].type == BN) off += 2 * (int64_t)C;
        }
        t->in_n = (int64_t)N * C * spatial_n(dims, t->in);
        t->out_n = (int64_t)N * t->OC * spatial_n(dims, t->out);
        t->y = calloc((size_t)t->out_n, sizeof(float));
        t->dy = calloc((size_t)t->out_n, sizeof(float));
        t->argmax = calloc((size_t)t->out_n, sizeof(int32_t));
        t->mean = calloc((size_t)t->OC, sizeof(float));
        t->rstd = calloc((size_t)t->OC, sizeof(float));
        C = t->OC;
        memcpy(sz, t->out, sizeof sz);
    }
    assert_int_equal(off, np);
    float *running = calloc((size_t)(2 * np), sizeof(float)); /* running mean/var by layer, at p_off */
    for (int i = 0; i < n; i++)
        if (s[i].type == BN)
            for (int c = 0; c < st[i].C; c++) running[2 * p_off[i] + st[i].C + c] = 1.0f;

    int64_t in_n = st[0].in_n, out_n = st[n - 1].out_n;
    float *x = malloc(sizeof(float) * (size_t)in_n), *dout = malloc(sizeof(float) * (size_t)out_n);
    float *dx_m = malloc(sizeof(float) * (size_t)in_n), *dx_p = malloc(sizeof(float) * (size_t)in_n);
    float *g_p = calloc((size_t)np, sizeof(float));
    mc_model_zero_grad(m);
    for (int pass = 0; pass < 3; pass++) {
        int train = pass < 2;
        gc_fill(x, in_n, -1, 1, rng);
        gc_fill(dout, out_n, -1, 1, rng);
        const float *y_m;
        assert_int_equal(mc_model_forward(m, x, N, train, NULL, &y_m), MC_OK);
        /* the plain walk, forward */
        const float *in = x;
        for (int i = 0; i < n; i++) {
            step *t = &st[i];
            const float *p = params + p_off[i];
            int64_t S = spatial_n(dims, t->in);
            switch (t->s.type) {
            case CONV: mc_conv_ref_forward(t->y, in, p, p + t->wn, &t->cp); break;
            case BN:
                mc_batchnorm_forward(t->y, t->mean, t->rstd, running + 2 * p_off[i], running + 2 * p_off[i] + t->C, in, p, p + t->C,
                                     N, t->C, S, 1e-5f, 0.1f, train);
                break;
            case RELU: mc_act_forward(t->y, in, t->in_n, MC_ACT_RELU); break;
            case GELU: mc_act_forward(t->y, in, t->in_n, MC_ACT_GELU); break;
            default: mc_pool_forward(t->y, t->argmax, in, &t->pp); break;
            }
            in = t->y;
        }
        double e = rel_err(y_m, in, out_n);
        if (!(e < 2e-4)) fail_msg("pass %d: forward output differs by %g", pass, e);
        if (!train) break;

        /* the second step asks for no input gradient, which the first convolution then skips */
        assert_int_equal(mc_model_backward(m, dout, pass == 0 ? dx_m : NULL), MC_OK);
        /* the plain walk, backward */
        for (int i = 0; i < n; i++) memset(st[i].dy, 0, sizeof(float) * (size_t)st[i].out_n);
        memset(dx_p, 0, sizeof(float) * (size_t)in_n);
        memcpy(st[n - 1].dy, dout, sizeof(float) * (size_t)out_n);
        for (int i = n - 1; i >= 0; i--) {
            step *t = &st[i];
            const float *p = params + p_off[i], *xin = i ? st[i - 1].y : x;
            float *g = g_p + p_off[i], *din = i ? st[i - 1].dy : dx_p;
            int64_t S = spatial_n(dims, t->in);
            switch (t->s.type) {
            case CONV: mc_conv_ref_backward(din, g, g + t->wn, t->dy, xin, p, &t->cp); break;
            case BN: mc_batchnorm_backward(din, g, g + t->C, t->dy, xin, p, t->mean, t->rstd, N, t->C, S); break;
            case RELU: mc_act_backward(din, t->dy, xin, t->y, t->in_n, MC_ACT_RELU); break;
            case GELU: mc_act_backward(din, t->dy, xin, t->y, t->in_n, MC_ACT_GELU); break;
            default: mc_pool_backward(din, t->dy, t->argmax, &t->pp); break;
            }
        }
        e = pass == 0 ? rel_l2(dx_m, dx_p, in_n) : 0.0;
        if (!(e < GRAD_TOL)) fail_msg("pass %d: input gradient differs by %g", pass, e);
        for (int i = 0; i < n; i++) {
            int64_t len = (i + 1 < n ? p_off[i + 1] : np) - p_off[i];
            if (len == 0) continue;
            e = rel_l2(mc_model_grads(m) + p_off[i], g_p + p_off[i], len);
            if (!(e < GRAD_TOL)) fail_msg("pass %d: layer %d: parameter gradients differ by %g", pass, i, e);
        }
    }
    for (int i = 0; i < n; i++) {
        free(st[i].y);
        free(st[i].dy);
        free(st[i].argmax);
        free(st[i].mean);
        free(st[i].rstd);
    }
    free(running);
    free(x);
    free(dout);
    free(dx_m);
    free(dx_p);
    free(g_p);
    mc_rng_destroy(rng);
    mc_model_destroy(m);
}

/* bench_core's stacks: conv, BN, ReLU, conv /2, BN, ReLU, conv, ReLU. */
static const spec bench_stack[] = {
    {CONV, 16, 3, 1, 1, 0}, {BN, 0, 0, 0, 0, 0}, {RELU, 0, 0, 0, 0, 0}, {CONV, 32, 3, 2, 1, 0},
    {BN, 0, 0, 0, 0, 0},    {RELU, 0, 0, 0, 0, 0}, {CONV, 32, 3, 1, 1, 0}, {RELU, 0, 0, 0, 0, 0},
};

static void test_bench_stack_3d(void **state) {
    (void)state;
    check_stack(bench_stack, 8, 2, 1, 3, 10, 11);
}

static void test_bench_stack_2d(void **state) {
    (void)state;
    check_stack(bench_stack, 8, 2, 3, 2, 24, 12);
}

/* 20 and 5 channels (a block and a part, a part alone), max pooling with padding, average
 * pooling, stride-2 convolutions, GELU, and a run ending at the output after a pooling. */
static void test_odd_channels_2d(void **state) {
    (void)state;
    const spec s[] = {
        {CONV, 20, 3, 1, 1, 0},  {BN, 0, 0, 0, 0, 0},     {RELU, 0, 0, 0, 0, 0}, {MAXPOOL, 0, 3, 2, 1, 0},
        {CONV, 5, 3, 2, 1, 0},   {BN, 0, 0, 0, 0, 0},     {GELU, 0, 0, 0, 0, 0}, {AVGPOOL, 0, 3, 1, 1, 0},
        {CONV, 24, 1, 1, 0, 0},  {RELU, 0, 0, 0, 0, 0},   {MAXPOOL, 0, 2, 2, 0, 0},
    };
    check_stack(s, 11, 3, 3, 2, 21, 13);
}

/* Grouped convolutions inside a blocked run: 2 groups of 10 channels (groups not aligned to the
 * blocks) and a depthwise convolution of 20 channels. */
static void test_grouped_2d(void **state) {
    (void)state;
    const spec s[] = {
        {CONV, 20, 3, 1, 1, 0}, {BN, 0, 0, 0, 0, 0},     {RELU, 0, 0, 0, 0, 0},
        {CONV, 20, 3, 1, 1, 2}, {RELU, 0, 0, 0, 0, 0},   {CONV, 20, 3, 2, 1, 20},
        {BN, 0, 0, 0, 0, 0},    {GELU, 0, 0, 0, 0, 0},   {CONV, 6, 1, 1, 0, 0},
    };
    check_stack(s, 9, 2, 3, 2, 12, 15);
}

static void test_odd_channels_3d(void **state) {
    (void)state;
    const spec s[] = {
        {CONV, 24, 3, 1, 1, 0}, {BN, 0, 0, 0, 0, 0},  {RELU, 0, 0, 0, 0, 0}, {MAXPOOL, 0, 2, 2, 0, 0},
        {CONV, 8, 3, 2, 1, 0},  {BN, 0, 0, 0, 0, 0},  {RELU, 0, 0, 0, 0, 0}, {CONV, 3, 3, 1, 1, 0},
    };
    check_stack(s, 8, 2, 2, 3, 9, 14);
}

/* The conversions against hand-placed elements, the padding lanes zero, and back. */
static void test_layout_conversion(void **state) {
    (void)state;
    int N = 2, C = 19;
    int64_t S = 5, Cp = mc_layout_channels(MC_LAYOUT_BLOCKED16, C);
    assert_int_equal(Cp, 32);
    assert_int_equal(mc_layout_channels(MC_LAYOUT_PLAIN, C), 19);
    float *a = malloc(sizeof(float) * (size_t)(N * C * S)), *b = malloc(sizeof(float) * (size_t)(N * Cp * S));
    float *c = malloc(sizeof(float) * (size_t)(N * C * S));
    for (int64_t i = 0; i < N * C * S; i++) a[i] = (float)(i + 1);
    for (int64_t i = 0; i < N * Cp * S; i++) b[i] = NAN;
    mc_layout_to_blocked(b, a, N, C, S);
    /* element (n 1, c 17, s 3) = 1 + (1 * 19 + 17) * 5 + 3 = 184 sits at block 1, position 3, lane 1 */
    assert_true(b[((1 * 2 + 1) * S + 3) * 16 + 1] == 184.0f);
    for (int n = 0; n < N; n++)
        for (int64_t s = 0; s < S; s++)
            for (int j = 3; j < 16; j++) assert_true(b[((n * 2 + 1) * S + s) * 16 + j] == 0.0f);
    mc_layout_to_plain(c, b, N, C, S);
    assert_memory_equal(a, c, sizeof(float) * (size_t)(N * C * S));
    free(a);
    free(b);
    free(c);
}

/* A blocked convolution with 5 output channels through oneDNN against the reference loops, its
 * output's padding lanes zero, and the overwriting input gradient against the accumulating one. */
static void test_blocked_conv(void **state) {
    (void)state;
    mc_conv_params p = {.dims = 2, .N = 2, .IC = 18, .OC = 5, .groups = 1, .in = {7, 6}, .k = {3, 3}, .stride = {2, 1},
                        .pad = {1, 1}, .dil = {1, 1}, .in_layout = MC_LAYOUT_BLOCKED16, .out_layout = MC_LAYOUT_BLOCKED16};
    assert_int_equal(mc_conv_params_init(&p), MC_OK);
    mc_conv_params q = p;
    q.in_layout = q.out_layout = MC_LAYOUT_PLAIN;
    int64_t Si = 42, So = (int64_t)p.out[0] * p.out[1], ni = 2 * 18 * Si, no = 2 * 5 * So, nw = 5 * 18 * 9;
    int64_t nib = 2 * 32 * Si, nob = 2 * 16 * So;
    mc_rng *rng = mc_rng_create(5);
    float *x = malloc(sizeof(float) * (size_t)ni), *w = malloc(sizeof(float) * (size_t)nw), *b = malloc(sizeof(float) * 5);
    float *xb = malloc(sizeof(float) * (size_t)nib), *yb = malloc(sizeof(float) * (size_t)nob);
    float *y = malloc(sizeof(float) * (size_t)no), *yr = malloc(sizeof(float) * (size_t)no);
    float *dy = malloc(sizeof(float) * (size_t)no), *dyb = malloc(sizeof(float) * (size_t)nob);
    float *dxb = malloc(sizeof(float) * (size_t)nib), *dx = malloc(sizeof(float) * (size_t)ni), *dxr = calloc((size_t)ni, sizeof(float));
    gc_fill(x, ni, -1, 1, rng);
    gc_fill(w, nw, -1, 1, rng);
    gc_fill(b, 5, -1, 1, rng);
    gc_fill(dy, no, -1, 1, rng);
    mc_layout_to_blocked(xb, x, 2, 18, Si);
    mc_layout_to_blocked(dyb, dy, 2, 5, So);
    for (int64_t i = 0; i < nob; i++) yb[i] = NAN;
    mc_conv_forward(yb, xb, w, b, &p);
    for (int n = 0; n < 2; n++)
        for (int64_t s = 0; s < So; s++)
            for (int j = 5; j < 16; j++) assert_true(yb[(n * So + s) * 16 + j] == 0.0f);
    mc_layout_to_plain(y, yb, 2, 5, So);
    mc_conv_ref_forward(yr, x, w, b, &q);
    assert_true(rel_err(y, yr, no) < 1e-5);
    /* overwritten: stale values in dxb must not survive; padding lanes come back zero */
    for (int64_t i = 0; i < nib; i++) dxb[i] = 7.0f;
    mc_conv_backward_data_set(dxb, dyb, w, &p);
    for (int n = 0; n < 2; n++)
        for (int64_t s = 0; s < Si; s++)
            for (int j = 2; j < 16; j++) assert_true(dxb[((n * 2 + 1) * Si + s) * 16 + j] == 0.0f);
    mc_layout_to_plain(dx, dxb, 2, 18, Si);
    mc_conv_ref_backward(dxr, NULL, NULL, dy, x, w, &q);
    assert_true(rel_err(dx, dxr, ni) < 1e-5);
    /* accumulated: a second call adds the same again */
    mc_conv_backward(dxb, NULL, NULL, dyb, xb, w, &p);
    mc_layout_to_plain(dx, dxb, 2, 18, Si);
    for (int64_t i = 0; i < ni; i++) dxr[i] *= 2.0f;
    assert_true(rel_err(dx, dxr, ni) < 1e-5);
    float *bufs[] = {x, w, b, xb, yb, y, yr, dy, dyb, dxb, dx, dxr};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    mc_rng_destroy(rng);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_conversion),
        cmocka_unit_test(test_blocked_conv),
        cmocka_unit_test(test_bench_stack_3d),
        cmocka_unit_test(test_bench_stack_2d),
        cmocka_unit_test(test_odd_channels_2d),
        cmocka_unit_test(test_odd_channels_3d),
        cmocka_unit_test(test_grouped_2d),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
