/* test_attention_cnn.c: squeeze-excitation and CBAM spatial attention (2D and 3D): forward passes
 * against the formulas evaluated in double, central-difference gradients of the input and every
 * parameter, accumulation and gradients left NULL. */
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

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

static float *fvec(int64_t n) {
    float *v = calloc((size_t)n, sizeof(float));
    assert_non_null(v);
    return v;
}

/* ---- squeeze-excitation ------------------------------------------------------------------------------ */

typedef struct se_ctx {
    int N, C, R;
    int64_t S, n;
    float *in, *w1, *b1, *w2, *b2, *r;                 /* inputs, parameters, dL/dout */
    float *out, *pooled, *hidden, *gate;               /* forward */
    float *din, *dw1, *db1, *dw2, *db2;                /* gradients */
} se_ctx;

static void se_init(se_ctx *s, int N, int C, int R, int64_t S, uint64_t seed) {
    *s = (se_ctx){.N = N, .C = C, .R = R, .S = S, .n = (int64_t)N * C * S};
    s->in = fvec(s->n);
    s->r = fvec(s->n);
    s->out = fvec(s->n);
    s->din = fvec(s->n);
    s->w1 = fvec((int64_t)R * C);
    s->dw1 = fvec((int64_t)R * C);
    s->w2 = fvec((int64_t)C * R);
    s->dw2 = fvec((int64_t)C * R);
    s->b1 = fvec(R);
    s->db1 = fvec(R);
    s->b2 = fvec(C);
    s->db2 = fvec(C);
    s->pooled = fvec((int64_t)N * C);
    s->gate = fvec((int64_t)N * C);
    s->hidden = fvec((int64_t)N * R);
    mc_rng *rng = mc_rng_create(seed);
    gc_fill(s->in, s->n, -1.0f, 2.0f, rng);
    gc_fill(s->r, s->n, -1.0f, 1.0f, rng);
    gc_fill(s->w1, (int64_t)R * C, -1.0f, 1.0f, rng);
    gc_fill(s->w2, (int64_t)C * R, -1.0f, 1.0f, rng);
    gc_fill(s->b1, R, -0.3f, 0.3f, rng);
    gc_fill(s->b2, C, -0.3f, 0.3f, rng);
    mc_rng_destroy(rng);
    /* keep every ReLU input at least 0.05 from its kink, beyond what any perturbation of a
     * gradient check moves it, by shifting the bias of a unit that comes too close */
    for (int j = 0; j < R; j++) {
        for (int tries = 0; tries < 100; tries++) {
            int close = 0;
            for (int n = 0; n < N; n++) {
                double pre = s->b1[j];
                for (int c = 0; c < C; c++) {
                    double mean = 0.0;
                    for (int64_t i = 0; i < S; i++) mean += s->in[((int64_t)n * C + c) * S + i];
                    pre += s->w1[j * C + c] * mean / S;
                }
                close |= fabs(pre) < 0.05;
            }
            if (!close) break;
            s->b1[j] += 0.07f;
        }
    }
}

static void se_free(se_ctx *s) {
    float *all[] = {s->in, s->r, s->out, s->din, s->w1, s->dw1, s->w2, s->dw2, s->b1, s->db1, s->b2, s->db2,
                    s->pooled, s->gate, s->hidden};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(all[i]);
}

static void se_fwd(se_ctx *s) {
    mc_se_forward(s->out, s->pooled, s->hidden, s->gate, s->in, s->w1, s->b1, s->w2, s->b2, s->N, s->C, s->R, s->S);
}

static void se_bwd(se_ctx *s, float *din, float *dw1, float *db1, float *dw2, float *db2) {
    mc_se_backward(din, dw1, db1, dw2, db2, s->r, s->in, s->w1, s->w2, s->pooled, s->hidden, s->gate, s->N, s->C,
                   s->R, s->S);
}

/* out = in * sigmoid(w2 relu(w1 mean(in) + b1) + b2), with the saved pooled, hidden and gate. */
static void test_se_forward(void **state) {
    (void)state;
    se_ctx s;
    se_init(&s, 3, 6, 2, 10, 1);
    se_fwd(&s);
    for (int n = 0; n < s.N; n++) {
        double pooled[6], hidden[2];
        for (int c = 0; c < s.C; c++) {
            pooled[c] = 0.0;
            for (int64_t i = 0; i < s.S; i++) pooled[c] += s.in[((int64_t)n * s.C + c) * s.S + i];
            pooled[c] /= s.S;
            assert_float_equal(s.pooled[n * s.C + c], pooled[c], 1e-6);
        }
        for (int j = 0; j < s.R; j++) {
            double h = s.b1[j];
            for (int c = 0; c < s.C; c++) h += s.w1[j * s.C + c] * pooled[c];
            hidden[j] = h > 0.0 ? h : 0.0;
            assert_float_equal(s.hidden[n * s.R + j], hidden[j], 1e-5);
        }
        for (int c = 0; c < s.C; c++) {
            double z = s.b2[c];
            for (int j = 0; j < s.R; j++) z += s.w2[c * s.R + j] * hidden[j];
            double g = sigmoid(z);
            assert_float_equal(s.gate[n * s.C + c], g, 1e-6);
            for (int64_t i = 0; i < s.S; i++) {
                int64_t k = ((int64_t)n * s.C + c) * s.S + i;
                assert_float_equal(s.out[k], s.in[k] * g, 1e-5);
            }
        }
    }
    se_free(&s);
}

static double se_loss(void *ctx) {
    se_ctx *s = ctx;
    se_fwd(s);
    return gc_dot(s->out, s->r, s->n);
}

/* Central differences, h = 1e-2. The layer is smooth (every ReLU input kept 0.05 from its kink),
 * so the quotient's truncation error is of order h^2 times the third derivative, about 1e-4
 * relative; float32 rounding of L (about 1e-6) adds 5e-5 absolute. Tolerance 2e-2 with a floor
 * of 1e-2 for gradients near zero. */
static void test_se_gradients(void **state) {
    (void)state;
    se_ctx s;
    se_init(&s, 2, 6, 3, 12, 2);
    se_fwd(&s);
    se_bwd(&s, s.din, s.dw1, s.db1, s.dw2, s.db2);
    double h = 1e-2, fl = 1e-2, tol = 2e-2;
    double e[5] = {gc_check("se din", s.in, s.din, s.n, se_loss, &s, h, fl, 80, tol),
                   gc_check("se dw1", s.w1, s.dw1, (int64_t)s.R * s.C, se_loss, &s, h, fl, 80, tol),
                   gc_check("se db1", s.b1, s.db1, s.R, se_loss, &s, h, fl, 80, tol),
                   gc_check("se dw2", s.w2, s.dw2, (int64_t)s.C * s.R, se_loss, &s, h, fl, 80, tol),
                   gc_check("se db2", s.b2, s.db2, s.C, se_loss, &s, h, fl, 80, tol)};
    double worst = 0.0;
    for (int i = 0; i < 5; i++) {
        assert_true(e[i] < tol);
        worst = fmax(worst, e[i]);
    }
    printf("squeeze-excitation gradient check: worst relative error %.3g\n", worst);
    se_free(&s);
}

/* Backward adds into its gradients, and a NULL gradient leaves the others as they were. */
static void test_se_accumulates(void **state) {
    (void)state;
    se_ctx s;
    se_init(&s, 2, 4, 2, 9, 3);
    se_fwd(&s);
    se_bwd(&s, s.din, s.dw1, s.db1, s.dw2, s.db2);
    int64_t len[5] = {s.n, (int64_t)s.R * s.C, s.R, (int64_t)s.C * s.R, s.C};
    float *g[5] = {s.din, s.dw1, s.db1, s.dw2, s.db2}, *once[5], *alone[5];
    for (int i = 0; i < 5; i++) {
        once[i] = fvec(len[i]);
        alone[i] = fvec(len[i]);
        memcpy(once[i], g[i], (size_t)len[i] * sizeof(float));
    }
    se_bwd(&s, s.din, s.dw1, s.db1, s.dw2, s.db2);
    for (int i = 0; i < 5; i++)
        for (int64_t j = 0; j < len[i]; j++) assert_float_equal(g[i][j], 2.0f * once[i][j], 1e-6f);
    /* one gradient at a time */
    for (int i = 0; i < 5; i++) {
        float *only[5] = {NULL, NULL, NULL, NULL, NULL};
        only[i] = alone[i];
        se_bwd(&s, only[0], only[1], only[2], only[3], only[4]);
        for (int64_t j = 0; j < len[i]; j++) assert_float_equal(alone[i][j], once[i][j], 1e-6f);
    }
    for (int i = 0; i < 5; i++) {
        free(once[i]);
        free(alone[i]);
    }
    se_free(&s);
}

/* ---- spatial attention ------------------------------------------------------------------------------- */

typedef struct sa_ctx {
    int N, C, dims, k, sp[3];
    int64_t S, n, nw;
    float *in, *w, b[1], *r;
    float *out, *desc, *gate;
    int32_t *am;
    float *din, *dw, db[1];
} sa_ctx;

static void sa_init(sa_ctx *a, int N, int C, int dims, const int *sp, int k, uint64_t seed) {
    *a = (sa_ctx){.N = N, .C = C, .dims = dims, .k = k};
    a->S = 1;
    a->nw = 2;
    for (int d = 0; d < dims; d++) {
        a->sp[d] = sp[d];
        a->S *= sp[d];
        a->nw *= k;
    }
    a->n = (int64_t)N * C * a->S;
    a->in = fvec(a->n);
    a->r = fvec(a->n);
    a->out = fvec(a->n);
    a->din = fvec(a->n);
    a->w = fvec(a->nw);
    a->dw = fvec(a->nw);
    a->desc = fvec(2 * (int64_t)N * a->S);
    a->gate = fvec((int64_t)N * a->S);
    a->am = calloc((size_t)(N * a->S), sizeof(int32_t));
    mc_rng *rng = mc_rng_create(seed);
    /* distinct inputs 2 / n apart: a perturbation below 1 / n never changes the channel of a max */
    int *perm = malloc((size_t)a->n * sizeof *perm);
    for (int64_t i = 0; i < a->n; i++) perm[i] = (int)i;
    mc_rng_shuffle(rng, perm, (int)a->n);
    for (int64_t i = 0; i < a->n; i++) a->in[i] = (float)(-1.0 + (2.0 * perm[i] + 1.0) / (double)a->n);
    free(perm);
    gc_fill(a->r, a->n, -1.0f, 1.0f, rng);
    gc_fill(a->w, a->nw, -0.5f, 0.5f, rng);
    gc_fill(a->b, 1, -0.3f, 0.3f, rng);
    mc_rng_destroy(rng);
    a->db[0] = 0.0f;
}

static void sa_free(sa_ctx *a) {
    float *all[] = {a->in, a->r, a->out, a->din, a->w, a->dw, a->desc, a->gate};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(all[i]);
    free(a->am);
}

static void sa_fwd(sa_ctx *a) {
    mc_spatial_attention_forward(a->out, a->desc, a->am, a->gate, a->in, a->w, a->b, a->N, a->C, a->dims, a->sp, a->k);
}

static void sa_bwd(sa_ctx *a, float *din, float *dw, float *db) {
    mc_spatial_attention_backward(din, dw, db, a->r, a->in, a->w, a->desc, a->am, a->gate, a->N, a->C, a->dims, a->sp,
                                  a->k);
}

/* desc = [mean, max] over channels, gate = sigmoid("same" conv of desc + b), out = in * gate; the
 * convolution is written out here with the spatial axes as (depth, height, width). */
static void sa_check_forward(sa_ctx *a) {
    int lead = 3 - a->dims, size[3], kk[3];
    for (int d = 0; d < 3; d++) {
        size[d] = d < lead ? 1 : a->sp[d - lead];
        kk[d] = d < lead ? 1 : a->k;
    }
    double *desc = calloc((size_t)(2 * a->N * a->S), sizeof(double));
    for (int n = 0; n < a->N; n++)
        for (int64_t s = 0; s < a->S; s++) {
            double sum = 0.0, mx = -INFINITY;
            int arg = -1;
            for (int c = 0; c < a->C; c++) {
                double v = a->in[((int64_t)n * a->C + c) * a->S + s];
                sum += v;
                if (v > mx) {
                    mx = v;
                    arg = c;
                }
            }
            desc[(int64_t)n * 2 * a->S + s] = sum / a->C;
            desc[(int64_t)n * 2 * a->S + a->S + s] = mx;
            assert_float_equal(a->desc[(int64_t)n * 2 * a->S + s], sum / a->C, 1e-6);
            assert_float_equal(a->desc[(int64_t)n * 2 * a->S + a->S + s], mx, 0.0);
            assert_int_equal(a->am[(int64_t)n * a->S + s], arg);
        }
    for (int n = 0; n < a->N; n++)
        for (int z = 0; z < size[0]; z++)
            for (int y = 0; y < size[1]; y++)
                for (int x = 0; x < size[2]; x++) {
                    double pre = a->b[0];
                    for (int c = 0; c < 2; c++)
                        for (int i = 0; i < kk[0]; i++)
                            for (int j = 0; j < kk[1]; j++)
                                for (int l = 0; l < kk[2]; l++) {
                                    int zz = z + i - kk[0] / 2, yy = y + j - kk[1] / 2, xx = x + l - kk[2] / 2;
                                    if (zz < 0 || zz >= size[0] || yy < 0 || yy >= size[1] || xx < 0 || xx >= size[2])
                                        continue;
                                    double dv = desc[(int64_t)n * 2 * a->S + c * a->S +
                                                     ((int64_t)zz * size[1] + yy) * size[2] + xx];
                                    pre += dv * a->w[((c * kk[0] + i) * kk[1] + j) * kk[2] + l];
                                }
                    int64_t s = ((int64_t)z * size[1] + y) * size[2] + x;
                    double g = sigmoid(pre);
                    assert_float_equal(a->gate[(int64_t)n * a->S + s], g, 1e-6);
                    for (int c = 0; c < a->C; c++) {
                        int64_t i = ((int64_t)n * a->C + c) * a->S + s;
                        assert_float_equal(a->out[i], a->in[i] * g, 1e-6);
                    }
                }
    free(desc);
}

static void test_spatial_forward(void **state) {
    (void)state;
    sa_ctx a;
    const int sp2[2] = {5, 6}, sp3[3] = {4, 5, 3};
    sa_init(&a, 2, 4, 2, sp2, 3, 10);
    sa_fwd(&a);
    sa_check_forward(&a);
    sa_free(&a);
    sa_init(&a, 1, 3, 2, sp2, 7, 11); /* CBAM's 7x7 kernel, wider than the image */
    sa_fwd(&a);
    sa_check_forward(&a);
    sa_free(&a);
    sa_init(&a, 2, 3, 3, sp3, 3, 12);
    sa_fwd(&a);
    sa_check_forward(&a);
    sa_free(&a);
}

static double sa_loss(void *ctx) {
    sa_ctx *a = ctx;
    sa_fwd(a);
    return gc_dot(a->out, a->r, a->n);
}

/* Central differences. For the input h = 1e-3, below half the spacing of the distinct inputs so the
 * channel of each max stays put; the layer is then smooth, and float32 rounding of L (about 1e-6)
 * is 5e-4 absolute in the quotient. For the weights and bias, h = 1e-2 (truncation about 1e-4
 * relative). Tolerance 2e-2 with a floor of 1e-2 covers both with margin. */
static void test_spatial_gradients(void **state) {
    (void)state;
    const int sp2[2] = {5, 6}, sp3[3] = {4, 5, 3};
    double worst = 0.0;
    for (int t = 0; t < 3; t++) {
        sa_ctx a;
        if (t == 0) sa_init(&a, 2, 4, 2, sp2, 3, 20);
        if (t == 1) sa_init(&a, 1, 3, 2, sp2, 5, 21);
        if (t == 2) sa_init(&a, 1, 3, 3, sp3, 3, 22);
        sa_fwd(&a);
        sa_bwd(&a, a.din, a.dw, a.db);
        double e[3] = {gc_check("spatial attention din", a.in, a.din, a.n, sa_loss, &a, 1e-3, 1e-2, 80, 2e-2),
                       gc_check("spatial attention dw", a.w, a.dw, a.nw, sa_loss, &a, 1e-2, 1e-2, 80, 2e-2),
                       gc_check("spatial attention db", a.b, a.db, 1, sa_loss, &a, 1e-2, 1e-2, 80, 2e-2)};
        for (int i = 0; i < 3; i++) {
            assert_true(e[i] < 2e-2);
            worst = fmax(worst, e[i]);
        }
        sa_free(&a);
    }
    printf("spatial attention gradient check: worst relative error %.3g\n", worst);
}

static void test_spatial_accumulates(void **state) {
    (void)state;
    const int sp3[3] = {3, 4, 5};
    sa_ctx a;
    sa_init(&a, 2, 3, 3, sp3, 3, 30);
    sa_fwd(&a);
    sa_bwd(&a, a.din, a.dw, a.db);
    float *din1 = fvec(a.n), *dw1 = fvec(a.nw), db1 = a.db[0];
    memcpy(din1, a.din, (size_t)a.n * sizeof(float));
    memcpy(dw1, a.dw, (size_t)a.nw * sizeof(float));
    sa_bwd(&a, a.din, a.dw, a.db);
    for (int64_t i = 0; i < a.n; i++) assert_float_equal(a.din[i], 2.0f * din1[i], 1e-6f);
    for (int64_t i = 0; i < a.nw; i++) assert_float_equal(a.dw[i], 2.0f * dw1[i], 1e-5f);
    assert_float_equal(a.db[0], 2.0f * db1, 1e-5f);
    /* din alone, and the weights alone */
    float *din = fvec(a.n), *dw = fvec(a.nw), db = 0.0f;
    sa_bwd(&a, din, NULL, NULL);
    sa_bwd(&a, NULL, dw, &db);
    for (int64_t i = 0; i < a.n; i++) assert_float_equal(din[i], din1[i], 1e-6f);
    for (int64_t i = 0; i < a.nw; i++) assert_float_equal(dw[i], dw1[i], 1e-6f);
    assert_float_equal(db, db1, 1e-6f);
    free(din1);
    free(dw1);
    free(din);
    free(dw);
    sa_free(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_se_forward),
        cmocka_unit_test(test_se_gradients),
        cmocka_unit_test(test_se_accumulates),
        cmocka_unit_test(test_spatial_forward),
        cmocka_unit_test(test_spatial_gradients),
        cmocka_unit_test(test_spatial_accumulates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
