/* test_parity.c: libmoecore against PyTorch. Each test reads a fixture that
 * tests/parity/make_fixtures.py wrote with PyTorch (inputs, weights, the upstream gradient `dout`,
 * and PyTorch's outputs and gradients), runs the same computation through libmoecore's kernels
 * and compares every output and gradient.
 *
 * Measure: the largest absolute difference divided by the largest |reference| value of the tensor
 * (so a tensor is judged on its own scale and a near-zero element cannot blow the ratio up).
 * Tolerances, for float32 on both sides (unit roundoff 6e-8):
 *   TOL_FWD 1e-5   forward values. Both sides sum the same terms in different orders (BLAS and
 *                  oneDNN blocking, double accumulators here, float there), which moves a result by
 *                  a few ulps of its largest partial sum: about 1e-7..1e-6 at these sizes. An indexing,
 *                  layout or formula mistake moves it by 1e-3 or more, far above the bar.
 *   TOL_GRAD 1e-4  gradients, and values derived from gradients. They pass through the forward
 *                  values and through more roundings, with cancellations (normalisation backward
 *                  subtracts the mean of the gradient; softmax backward subtracts a dot product),
 *                  which amplify the forward differences by up to about 10x more.
 *   TOL_ADAM 2e-3  AdamW parameters, measured against how far the reference moved them from their
 *                  initial values (see test_optim_adamw): the first step (lr 6e-6 in the warmup)
 *                  moves a parameter by about 6e-6, and one float32 ulp of a parameter of 0.05 is
 *                  4e-9, so a single ulp of rounding difference is already 6e-4 of that change.
 * Integer results (argmax, expert load, dropped pairs) must match exactly.
 *
 * Every measured error is printed, so a run documents how close the two implementations are. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moecore/loss.h"
#include "moecore/model_io.h"
#include "moecore/moe.h"
#include "moecore/nn.h"
#include "moecore/optim.h"
#include "moecore/rng.h"

#ifndef PARITY_DIR
#error "PARITY_DIR must name the folder that holds the fixture files (tests/parity)"
#endif

#define TOL_FWD 1e-5
#define TOL_GRAD 1e-4
#define TOL_ADAM 2e-3

/* ---- fixtures ------------------------------------------------------------------------------------ */

/* One open fixture file, the case whose tensors are being read ("<case>.<name>"), and the number
 * of comparisons that failed so far. */
typedef struct fixture {
    mc_safetensors *f;
    char file[64];
    char prefix[64];
    int failures;
} fixture;

static void fx_open(fixture *x, const char *file) {
    char path[1024];
    mc_error err;
    memset(x, 0, sizeof *x);
    snprintf(x->file, sizeof x->file, "%s", file);
    snprintf(path, sizeof path, "%s/%s.safetensors", PARITY_DIR, file);
    mc_status st = mc_safetensors_open(&x->f, path, &err);
    if (st != MC_OK) fail_msg("%s: %s (regenerate with tests/parity/make_fixtures.py)", path, err.msg);
    print_message("%s\n", path);
}

static void fx_case(fixture *x, const char *name) {
    snprintf(x->prefix, sizeof x->prefix, "%s", name ? name : "");
    if (name) print_message(" %s\n", name);
}

static const mc_st_tensor *fx_tensor(fixture *x, const char *name, mc_dtype dtype) {
    char full[160];
    snprintf(full, sizeof full, "%s%s%s", x->prefix, x->prefix[0] ? "." : "", name);
    const mc_st_tensor *t = mc_safetensors_find(x->f, full);
    if (!t) fail_msg("%s: no tensor %s", x->file, full);
    if (t->dtype != dtype) fail_msg("%s: %s is %s, expected %s", x->file, full, mc_dtype_name(t->dtype), mc_dtype_name(dtype));
    return t;
}

static int64_t st_numel(const mc_st_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

static const float *fx_f32(fixture *x, const char *name) { return fx_tensor(x, name, MC_F32)->data; }
static const int32_t *fx_i32(fixture *x, const char *name) { return fx_tensor(x, name, MC_I32)->data; }
static float fx_float(fixture *x, const char *name) { return fx_f32(x, name)[0]; }
static int fx_int(fixture *x, const char *name, int i) { return fx_i32(x, name)[i]; }
static int64_t fx_numel(fixture *x, const char *name) { return st_numel(fx_tensor(x, name, MC_F32)); }

/* Size of axis `axis` of a float tensor; negative axes count from the end. */
static int fx_dim(fixture *x, const char *name, int axis) {
    const mc_st_tensor *t = fx_tensor(x, name, MC_F32);
    if (axis < 0) axis += t->ndim;
    assert_true(axis >= 0 && axis < t->ndim);
    return (int)t->shape[axis];
}

static int fx_ndim(fixture *x, const char *name) { return fx_tensor(x, name, MC_F32)->ndim; }

/* A zeroed buffer of n floats, owned by the caller. */
static float *zeros(int64_t n) {
    float *p = calloc((size_t)(n > 0 ? n : 1), sizeof *p);
    assert_non_null(p);
    return p;
}

/* A writable copy of a float tensor, owned by the caller. */
static float *fx_copy(fixture *x, const char *name) {
    int64_t n = fx_numel(x, name);
    float *p = zeros(n);
    memcpy(p, fx_f32(x, name), (size_t)n * sizeof *p);
    return p;
}

static void report(fixture *x, const char *what, double err, double tol) {
    int ok = err <= tol; /* false for NaN too */
    print_message("   %-22s %9.2e  (tol %.0e)%s\n", what, err, tol, ok ? "" : "  FAILED");
    if (!ok) x->failures++;
}

/* Compares got (n) with factor * reference tensor `ref`: max |got - factor ref| / max |factor ref|
 * (the absolute difference when the reference is all zero). */
static double compare_scaled(fixture *x, const char *what, const float *got, const char *ref, double factor, double tol) {
    const mc_st_tensor *t = fx_tensor(x, ref, MC_F32);
    const float *r = t->data;
    double max_diff = 0.0, max_ref = 0.0;
    for (int64_t i = 0; i < st_numel(t); i++) {
        double d = fabs((double)got[i] - factor * r[i]);
        if (!(d <= max_diff)) max_diff = d; /* NaN sticks */
        if (fabs(factor * r[i]) > max_ref) max_ref = fabs(factor * r[i]);
    }
    double err = max_ref > 0.0 ? max_diff / max_ref : max_diff;
    report(x, what, err, tol);
    return err;
}

static double compare(fixture *x, const char *what, const float *got, const char *ref, double tol) {
    return compare_scaled(x, what, got, ref, 1.0, tol);
}

/* Compares a scalar with a one-element reference tensor, relative to |reference|. */
static void compare_value(fixture *x, const char *what, double got, const char *ref, double tol) {
    float g = (float)got;
    compare(x, what, &g, ref, tol);
}

static void compare_exact(fixture *x, const char *what, const int32_t *got, const char *ref) {
    const mc_st_tensor *t = fx_tensor(x, ref, MC_I32);
    const int32_t *r = t->data;
    int64_t bad = 0;
    for (int64_t i = 0; i < st_numel(t); i++) bad += got[i] != r[i];
    print_message("   %-22s %9s  (%" PRId64 " of %" PRId64 " differ)%s\n", what, "exact", bad, st_numel(t),
                  bad ? "  FAILED" : "");
    if (bad) x->failures++;
}

static void fx_close(fixture *x) {
    mc_safetensors_close(x->f);
    x->f = NULL;
    if (x->failures) fail_msg("%s: %d comparisons with PyTorch failed (listed above)", x->file, x->failures);
}

/* ---- layers -------------------------------------------------------------------------------------- */

static void test_linear(void **state) {
    (void)state;
    fixture x;
    fx_open(&x, "linear");
    int N = fx_dim(&x, "x", 0), C = fx_dim(&x, "x", 1), OC = fx_dim(&x, "w", 0);
    float *out = zeros((int64_t)N * OC), *dx = zeros((int64_t)N * C), *dw = zeros((int64_t)OC * C), *db = zeros(OC);
    mc_linear_forward(out, fx_f32(&x, "x"), fx_f32(&x, "w"), fx_f32(&x, "b"), N, C, OC);
    compare(&x, "out", out, "out", TOL_FWD);
    mc_linear_backward(dx, dw, db, fx_f32(&x, "dout"), fx_f32(&x, "x"), fx_f32(&x, "w"), N, C, OC);
    compare(&x, "dx", dx, "dx", TOL_GRAD);
    compare(&x, "dw", dw, "dw", TOL_GRAD);
    compare(&x, "db", db, "db", TOL_GRAD);
    free(out), free(dx), free(dw), free(db);
    fx_close(&x);
}

static void test_activations(void **state) {
    (void)state;
    static const mc_act acts[] = {MC_ACT_RELU, MC_ACT_GELU, MC_ACT_SILU, MC_ACT_SIGMOID, MC_ACT_TANH};
    fixture x;
    fx_open(&x, "activation");
    int64_t n = fx_numel(&x, "x");
    float *out = zeros(n), *dx = zeros(n);
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) {
        char ref[64];
        const char *name = mc_act_name(acts[i]);
        mc_act_forward(out, fx_f32(&x, "x"), n, acts[i]);
        snprintf(ref, sizeof ref, "%s.out", name);
        compare(&x, ref, out, ref, TOL_FWD);
        memset(dx, 0, (size_t)n * sizeof *dx);
        mc_act_backward(dx, fx_f32(&x, "dout"), fx_f32(&x, "x"), out, n, acts[i]);
        snprintf(ref, sizeof ref, "%s.dx", name);
        compare(&x, ref, dx, ref, TOL_GRAD);
    }
    free(out), free(dx);
    fx_close(&x);
}

static void test_softmax(void **state) {
    (void)state;
    fixture x;
    fx_open(&x, "softmax");
    int R = fx_dim(&x, "x", 0), C = fx_dim(&x, "x", 1);
    float *out = zeros((int64_t)R * C), *dx = zeros((int64_t)R * C);
    mc_softmax_forward(out, fx_f32(&x, "x"), R, C);
    compare(&x, "out", out, "out", TOL_FWD);
    mc_softmax_backward(dx, fx_f32(&x, "dout"), out, R, C);
    compare(&x, "dx", dx, "dx", TOL_GRAD);
    free(out), free(dx);
    fx_close(&x);
}

static void test_layernorm(void **state) {
    (void)state;
    fixture x;
    fx_open(&x, "layernorm");
    int N = fx_dim(&x, "x", 0), C = fx_dim(&x, "x", 1);
    float *out = zeros((int64_t)N * C), *mean = zeros(N), *rstd = zeros(N);
    float *dx = zeros((int64_t)N * C), *dw = zeros(C), *db = zeros(C);
    const float *in = fx_f32(&x, "x"), *w = fx_f32(&x, "w");
    mc_layernorm_forward(out, mean, rstd, in, w, fx_f32(&x, "b"), N, C, fx_float(&x, "eps"));
    compare(&x, "out", out, "out", TOL_FWD);
    compare(&x, "mean", mean, "mean", TOL_FWD);
    compare(&x, "rstd", rstd, "rstd", TOL_FWD);
    mc_layernorm_backward(dx, dw, db, fx_f32(&x, "dout"), in, w, mean, rstd, N, C);
    compare(&x, "dx", dx, "dx", TOL_GRAD);
    compare(&x, "dw", dw, "dw", TOL_GRAD);
    compare(&x, "db", db, "db", TOL_GRAD);
    free(out), free(mean), free(rstd), free(dx), free(dw), free(db);
    fx_close(&x);
}

static void test_batchnorm(void **state) {
    (void)state;
    static const char *const cases[] = {"bn2d", "bn1d"};
    fixture x;
    fx_open(&x, "batchnorm");
    float eps = fx_float(&x, "eps"), momentum = fx_float(&x, "momentum");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        fx_case(&x, cases[c]);
        int N = fx_dim(&x, "x", 0), C = fx_dim(&x, "x", 1);
        int64_t S = fx_numel(&x, "x") / ((int64_t)N * C), n = fx_numel(&x, "x");
        float *out = zeros(n), *mean = zeros(C), *rstd = zeros(C), *dx = zeros(n), *dg = zeros(C), *dbeta = zeros(C);
        float *rm = fx_copy(&x, "running_mean"), *rv = fx_copy(&x, "running_var");
        const float *in = fx_f32(&x, "x"), *gamma = fx_f32(&x, "gamma"), *beta = fx_f32(&x, "beta");
        mc_batchnorm_forward(out, mean, rstd, rm, rv, in, gamma, beta, N, C, S, eps, momentum, 1);
        compare(&x, "train out", out, "out", TOL_FWD);
        compare(&x, "batch mean", mean, "mean", TOL_FWD);
        compare(&x, "batch rstd", rstd, "rstd", TOL_FWD);
        compare(&x, "running_mean", rm, "running_mean_after", TOL_FWD);
        compare(&x, "running_var", rv, "running_var_after", TOL_FWD);
        mc_batchnorm_backward(dx, dg, dbeta, fx_f32(&x, "dout"), in, gamma, mean, rstd, N, C, S);
        compare(&x, "dx", dx, "dx", TOL_GRAD);
        compare(&x, "dgamma", dg, "dgamma", TOL_GRAD);
        compare(&x, "dbeta", dbeta, "dbeta", TOL_GRAD);
        /* evaluation with the running statistics this step produced */
        mc_batchnorm_forward(out, mean, rstd, rm, rv, fx_f32(&x, "x_eval"), gamma, beta, N, C, S, eps, momentum, 0);
        compare(&x, "eval out", out, "out_eval", TOL_FWD);
        compare(&x, "running_mean (eval)", rm, "running_mean_after", TOL_FWD);
        free(out), free(mean), free(rstd), free(dx), free(dg), free(dbeta), free(rm), free(rv);
    }
    fx_close(&x);
}

static void test_conv(void **state) {
    (void)state;
    static const char *const cases[] = {"c2d_s2g2", "c2d_dil", "c2d_all", "c3d_p1"};
    fixture x;
    fx_open(&x, "conv");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        fx_case(&x, cases[c]);
        mc_conv_params p = {.dims = fx_ndim(&x, "x") - 2};
        p.N = fx_dim(&x, "x", 0);
        p.IC = fx_dim(&x, "x", 1);
        p.OC = fx_dim(&x, "w", 0);
        p.groups = fx_int(&x, "groups", 0);
        for (int d = 0; d < p.dims; d++) {
            p.in[d] = fx_dim(&x, "x", 2 + d);
            p.k[d] = fx_int(&x, "k", d);
            p.stride[d] = fx_int(&x, "stride", d);
            p.pad[d] = fx_int(&x, "pad", d);
            p.dil[d] = fx_int(&x, "dil", d);
        }
        assert_int_equal(mc_conv_params_init(&p), MC_OK);
        for (int d = 0; d < p.dims; d++) assert_int_equal(p.out[d], fx_dim(&x, "out", 2 + d));
        float *out = zeros(fx_numel(&x, "out")), *dx = zeros(fx_numel(&x, "x"));
        float *dw = zeros(fx_numel(&x, "w")), *db = zeros(fx_numel(&x, "b"));
        mc_conv_forward(out, fx_f32(&x, "x"), fx_f32(&x, "w"), fx_f32(&x, "b"), &p);
        compare(&x, "out", out, "out", TOL_FWD);
        mc_conv_backward(dx, dw, db, fx_f32(&x, "dout"), fx_f32(&x, "x"), fx_f32(&x, "w"), &p);
        compare(&x, "dx", dx, "dx", TOL_GRAD);
        compare(&x, "dw", dw, "dw", TOL_GRAD);
        compare(&x, "db", db, "db", TOL_GRAD);
        free(out), free(dx), free(dw), free(db);
    }
    fx_close(&x);
}

static void test_pool(void **state) {
    (void)state;
    static const char *const cases[] = {"max2d", "max2d_overlap", "avg2d", "max3d", "avg3d"};
    fixture x;
    fx_open(&x, "pool");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        fx_case(&x, cases[c]);
        mc_pool_params p = {.dims = fx_ndim(&x, "x") - 2, .kind = (mc_pool_kind)fx_int(&x, "kind", 0)};
        p.N = fx_dim(&x, "x", 0);
        p.C = fx_dim(&x, "x", 1);
        for (int d = 0; d < p.dims; d++) {
            p.in[d] = fx_dim(&x, "x", 2 + d);
            p.k[d] = fx_int(&x, "k", d);
            p.stride[d] = fx_int(&x, "stride", d);
            p.pad[d] = fx_int(&x, "pad", d);
        }
        assert_int_equal(mc_pool_params_init(&p), MC_OK);
        for (int d = 0; d < p.dims; d++) assert_int_equal(p.out[d], fx_dim(&x, "out", 2 + d));
        int64_t n_out = fx_numel(&x, "out");
        float *out = zeros(n_out), *dx = zeros(fx_numel(&x, "x"));
        int32_t *argmax = p.kind == MC_POOL_MAX ? calloc((size_t)n_out, sizeof *argmax) : NULL;
        mc_pool_forward(out, argmax, fx_f32(&x, "x"), &p);
        compare(&x, "out", out, "out", TOL_FWD);
        if (argmax) compare_exact(&x, "argmax", argmax, "argmax");
        mc_pool_backward(dx, fx_f32(&x, "dout"), argmax, &p);
        compare(&x, "dx", dx, "dx", TOL_GRAD);
        free(out), free(dx), free(argmax);
    }
    fx_case(&x, "gap");
    int N = fx_dim(&x, "x", 0), C = fx_dim(&x, "x", 1);
    int64_t S = fx_numel(&x, "x") / ((int64_t)N * C);
    float *out = zeros((int64_t)N * C), *dx = zeros(fx_numel(&x, "x"));
    mc_global_avgpool_forward(out, fx_f32(&x, "x"), N, C, S);
    compare(&x, "out", out, "out", TOL_FWD);
    mc_global_avgpool_backward(dx, fx_f32(&x, "dout"), N, C, S);
    compare(&x, "dx", dx, "dx", TOL_GRAD);
    free(out), free(dx);
    fx_close(&x);
}

static void test_mhsa(void **state) {
    (void)state;
    fixture x;
    fx_open(&x, "attention");
    fx_case(&x, "mhsa");
    int B = fx_dim(&x, "x", 0), T = fx_dim(&x, "x", 1), C = fx_dim(&x, "x", 2), H = fx_int(&x, "heads", 0);
    int64_t BTC = (int64_t)B * T * C;
    float *out = zeros(BTC), *qkv = zeros(3 * BTC), *att = zeros((int64_t)B * H * T * T), *y = zeros(BTC);
    float *dx = zeros(BTC), *dwqkv = zeros(3 * C * C), *dbqkv = zeros(3 * C), *dwo = zeros(C * C), *dbo = zeros(C);
    const float *in = fx_f32(&x, "x"), *w_qkv = fx_f32(&x, "w_qkv"), *w_o = fx_f32(&x, "w_o");
    mc_mhsa_forward(out, qkv, att, y, in, w_qkv, fx_f32(&x, "b_qkv"), w_o, fx_f32(&x, "b_o"), B, T, C, H);
    compare(&x, "out", out, "out", TOL_FWD);
    compare(&x, "qkv", qkv, "qkv", TOL_FWD);
    compare(&x, "att", att, "att", TOL_FWD);
    compare(&x, "y", y, "y", TOL_FWD);
    mc_mhsa_backward(dx, dwqkv, dbqkv, dwo, dbo, fx_f32(&x, "dout"), in, w_qkv, w_o, qkv, att, y, B, T, C, H);
    compare(&x, "dx", dx, "dx", TOL_GRAD);
    compare(&x, "dw_qkv", dwqkv, "dw_qkv", TOL_GRAD);
    compare(&x, "db_qkv", dbqkv, "db_qkv", TOL_GRAD);
    compare(&x, "dw_o", dwo, "dw_o", TOL_GRAD);
    compare(&x, "db_o", dbo, "db_o", TOL_GRAD);
    free(out), free(qkv), free(att), free(y), free(dx), free(dwqkv), free(dbqkv), free(dwo), free(dbo);
    fx_close(&x);
}

static void test_squeeze_excitation(void **state) {
    (void)state;
    fixture x;
    fx_open(&x, "attention");
    fx_case(&x, "se");
    int N = fx_dim(&x, "x", 0), C = fx_dim(&x, "x", 1), R = fx_dim(&x, "w1", 0);
    int64_t n = fx_numel(&x, "x"), S = n / ((int64_t)N * C);
    float *out = zeros(n), *pooled = zeros((int64_t)N * C), *hidden = zeros((int64_t)N * R), *gate = zeros((int64_t)N * C);
    float *dx = zeros(n), *dw1 = zeros((int64_t)R * C), *db1 = zeros(R), *dw2 = zeros((int64_t)C * R), *db2 = zeros(C);
    const float *in = fx_f32(&x, "x"), *w1 = fx_f32(&x, "w1"), *w2 = fx_f32(&x, "w2");
    mc_se_forward(out, pooled, hidden, gate, in, w1, fx_f32(&x, "b1"), w2, fx_f32(&x, "b2"), N, C, R, S);
    compare(&x, "out", out, "out", TOL_FWD);
    compare(&x, "pooled", pooled, "pooled", TOL_FWD);
    compare(&x, "hidden", hidden, "hidden", TOL_FWD);
    compare(&x, "gate", gate, "gate", TOL_FWD);
    mc_se_backward(dx, dw1, db1, dw2, db2, fx_f32(&x, "dout"), in, w1, w2, pooled, hidden, gate, N, C, R, S);
    compare(&x, "dx", dx, "dx", TOL_GRAD);
    compare(&x, "dw1", dw1, "dw1", TOL_GRAD);
    compare(&x, "db1", db1, "db1", TOL_GRAD);
    compare(&x, "dw2", dw2, "dw2", TOL_GRAD);
    compare(&x, "db2", db2, "db2", TOL_GRAD);
    free(out), free(pooled), free(hidden), free(gate), free(dx), free(dw1), free(db1), free(dw2), free(db2);
    fx_close(&x);
}

static void test_spatial_attention(void **state) {
    (void)state;
    static const char *const cases[] = {"sa2d", "sa3d"};
    fixture x;
    fx_open(&x, "attention");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        fx_case(&x, cases[c]);
        int dims = fx_ndim(&x, "x") - 2, N = fx_dim(&x, "x", 0), C = fx_dim(&x, "x", 1), k = fx_int(&x, "k", 0);
        int sp[3] = {0, 0, 0};
        int64_t S = 1, n = fx_numel(&x, "x");
        for (int d = 0; d < dims; d++) S *= sp[d] = fx_dim(&x, "x", 2 + d);
        float *out = zeros(n), *desc = zeros((int64_t)N * 2 * S), *gate = zeros((int64_t)N * S), *dx = zeros(n);
        float *dw = zeros(fx_numel(&x, "w")), *db = zeros(1);
        int32_t *argmax_c = calloc((size_t)N * S, sizeof *argmax_c);
        const float *in = fx_f32(&x, "x"), *w = fx_f32(&x, "w");
        mc_spatial_attention_forward(out, desc, argmax_c, gate, in, w, fx_f32(&x, "b"), N, C, dims, sp, k);
        compare(&x, "out", out, "out", TOL_FWD);
        compare(&x, "desc", desc, "desc", TOL_FWD);
        compare_exact(&x, "argmax_c", argmax_c, "argmax_c");
        compare(&x, "gate", gate, "gate", TOL_FWD);
        mc_spatial_attention_backward(dx, dw, db, fx_f32(&x, "dout"), in, w, desc, argmax_c, gate, N, C, dims, sp, k);
        compare(&x, "dx", dx, "dx", TOL_GRAD);
        compare(&x, "dw", dw, "dw", TOL_GRAD);
        compare(&x, "db", db, "db", TOL_GRAD);
        free(out), free(desc), free(gate), free(dx), free(dw), free(db), free(argmax_c);
    }
    fx_close(&x);
}

/* ---- losses ------------------------------------------------------------------------------------- */

/* Checks one loss: CALL (an expression that uses the variable `scale` and accumulates into grad)
 * runs first with scale 1 into a zeroed buffer, then with scale 2 into the same buffer: loss.h's
 * contract is grad += scale * dLoss/dinput, so the buffer must then hold 3x the reference. */
#define CHECK_LOSS(x, grad, n, CALL)                                   \
    do {                                                               \
        memset(grad, 0, (size_t)(n) * sizeof *(grad));                 \
        float scale = 1.0f;                                            \
        double value = CALL;                                           \
        compare_value(x, "loss", value, "loss", TOL_FWD);              \
        compare(x, "grad", grad, "grad", TOL_GRAD);                    \
        scale = 2.0f;                                                  \
        (void)(CALL);                                                  \
        compare_scaled(x, "grad (+= 2x)", grad, "grad", 3.0, TOL_GRAD); \
    } while (0)

static void test_losses(void **state) {
    (void)state;
    fixture x;
    fx_open(&x, "loss");
    float *g = zeros(256);

    fx_case(&x, "mse");
    int64_t n = fx_numel(&x, "pred");
    CHECK_LOSS(&x, g, n, mc_mse_loss(g, scale, fx_f32(&x, "pred"), fx_f32(&x, "target"), n));

    fx_case(&x, "huber");
    n = fx_numel(&x, "pred");
    CHECK_LOSS(&x, g, n, mc_huber_loss(g, scale, fx_f32(&x, "pred"), fx_f32(&x, "target"), n, fx_float(&x, "delta")));

    fx_case(&x, "bce");
    n = fx_numel(&x, "logits");
    CHECK_LOSS(&x, g, n,
               mc_bce_logits_loss(g, scale, fx_f32(&x, "logits"), fx_f32(&x, "target"), n, fx_float(&x, "pos_weight")));

    fx_case(&x, "ce");
    int N = fx_dim(&x, "logits", 0), K = fx_dim(&x, "logits", 1);
    CHECK_LOSS(&x, g, (int64_t)N * K, mc_cross_entropy_loss(g, scale, fx_f32(&x, "logits"), fx_i32(&x, "labels"), N, K));

    static const char *const focal[] = {"focal", "focal_noalpha"};
    for (int i = 0; i < 2; i++) {
        fx_case(&x, focal[i]);
        n = fx_numel(&x, "logits");
        CHECK_LOSS(&x, g, n,
                   mc_focal_loss(g, scale, fx_f32(&x, "logits"), fx_f32(&x, "target"), n, fx_float(&x, "alpha"),
                                 fx_float(&x, "gamma")));
    }
    free(g);
    fx_close(&x);
}

/* ---- Mixture of Experts ------------------------------------------------------------------------- */

static void test_moe(void **state) {
    (void)state;
    static const char *const cases[] = {"softmax_cap", "sigmoid"};
    static const char *const names[] = {"w_router", "w1", "b1", "w2", "b2", "ws1", "bs1", "ws2", "bs2"};
    fixture x;
    fx_open(&x, "moe");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        fx_case(&x, cases[c]);
        mc_moe_config cfg;
        mc_moe_config_default(&cfg);
        int T = fx_dim(&x, "x", 0);
        cfg.d_model = fx_dim(&x, "x", 1);
        cfg.d_ff = fx_dim(&x, "w1", 1);
        cfg.n_experts = fx_dim(&x, "w_router", 0);
        cfg.top_k = fx_int(&x, "top_k", 0);
        cfg.n_shared = fx_dim(&x, "ws1", 0);
        cfg.d_ff_shared = fx_int(&x, "d_ff_shared", 0);
        cfg.act = (mc_act)fx_int(&x, "act", 0);
        cfg.score = (mc_router_score)fx_int(&x, "score", 0);
        cfg.norm_topk = fx_int(&x, "norm_topk", 0);
        cfg.balance = (mc_balance)fx_int(&x, "balance", 0);
        cfg.aux_alpha = fx_float(&x, "aux_alpha");
        cfg.z_coef = fx_float(&x, "z_coef");
        cfg.capacity_factor = fx_float(&x, "capacity_factor");
        cfg.noise_std = 0.0f;

        /* the fixture's parameters, one by one, into the flat layout of moe.h */
        int64_t np = mc_moe_num_params(&cfg), total = 0;
        float *params = zeros(np), *grads = zeros(np);
        mc_moe_weights pw = mc_moe_weights_at(&cfg, params), gw = mc_moe_weights_at(&cfg, grads);
        float *const pp[] = {pw.w_router, pw.w1, pw.b1, pw.w2, pw.b2, pw.ws1, pw.bs1, pw.ws2, pw.bs2};
        float *const gp[] = {gw.w_router, gw.w1, gw.b1, gw.w2, gw.b2, gw.ws1, gw.bs1, gw.ws2, gw.bs2};
        for (int i = 0; i < 9; i++) {
            int64_t n = fx_numel(&x, names[i]);
            memcpy(pp[i], fx_f32(&x, names[i]), (size_t)n * sizeof(float));
            total += n;
        }
        assert_int_equal(total, np);

        mc_moe *m = NULL;
        mc_error err;
        assert_int_equal(mc_moe_create(&m, &cfg, params, grads, &err), MC_OK);
        mc_rng *rng = mc_rng_create(1);
        int D = cfg.d_model, E = cfg.n_experts;
        float *out = zeros((int64_t)T * D), *dx = zeros((int64_t)T * D);
        assert_int_equal(mc_moe_forward(m, out, fx_f32(&x, "x"), T, 1, rng), MC_OK);
        compare(&x, "out", out, "out", TOL_FWD);
        const mc_moe_stats *st = mc_moe_get_stats(m);
        compare_value(&x, "aux_loss", st->aux_loss, "aux_loss", TOL_FWD);
        compare_value(&x, "z_loss", st->z_loss, "z_loss", TOL_FWD);
        int32_t load[4096], dropped = (int32_t)st->dropped;
        for (int e = 0; e < E; e++) load[e] = (int32_t)st->load[e];
        compare_exact(&x, "load", load, "load");
        compare_exact(&x, "dropped", &dropped, "dropped");

        /* the loss behind the reference gradients is sum(out * dout) + aux_loss + z_loss */
        mc_moe_backward(m, dx, fx_f32(&x, "dout"));
        compare(&x, "dx", dx, "dx", TOL_GRAD);
        for (int i = 0; i < 9; i++) {
            char ref[32];
            snprintf(ref, sizeof ref, "d%s", names[i]);
            compare(&x, ref, gp[i], ref, TOL_GRAD);
        }
        mc_moe_destroy(m);
        mc_rng_destroy(rng);
        free(params), free(grads), free(out), free(dx);
    }
    fx_close(&x);
}

/* ---- optimisers --------------------------------------------------------------------------------- */

/* A linear regression y ~ x w^T + b with the MSE loss, its parameters flat as [w (O, C) | b (O)]:
 * fills grads (zeroed first) and returns the loss. */
static double regression_grads(float *grads, const float *params, const float *xs, const float *ys, int N, int C,
                               int O) {
    float *pred = zeros((int64_t)N * O), *dpred = zeros((int64_t)N * O);
    memset(grads, 0, (size_t)(O * C + O) * sizeof *grads);
    mc_linear_forward(pred, xs, params, params + O * C, N, C, O);
    double loss = mc_mse_loss(dpred, 1.0f, pred, ys, (int64_t)N * O);
    mc_linear_backward(NULL, grads, grads + O * C, dpred, xs, params, N, C, O);
    free(pred), free(dpred);
    return loss;
}

/* max |got - ref| / max |ref - init|: the error relative to how far the reference moved from init. */
static double moved_error(const float *got, const float *ref, const float *init, int64_t n) {
    double max_diff = 0.0, max_move = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]);
        if (!(d <= max_diff)) max_diff = d; /* NaN sticks */
        max_move = fmax(max_move, fabs((double)ref[i] - init[i]));
    }
    return max_move > 0 ? max_diff / max_move : max_diff;
}

/* 20 steps of AdamW (decay on the weight, none on the bias) with warmup + cosine and clipping. The
 * parameters are compared after every step against how far the reference moved them (TOL_ADAM):
 * relative to the parameters themselves any optimiser would pass, the steps being 1e-4 of them. */
static void test_optim_adamw(void **state) {
    (void)state;
    fixture x;
    fx_open(&x, "optim");
    fx_case(&x, "adamw");
    int N = fx_dim(&x, "x", 0), C = fx_dim(&x, "x", 1), O = fx_dim(&x, "y", 1), steps = fx_int(&x, "steps", 0);
    int64_t nw = (int64_t)O * C, np = nw + O;
    assert_int_equal(fx_dim(&x, "w", 0), steps);
    assert_true(steps <= 64 && np <= 64);
    float params[64] = {0}, init[64] = {0}, grads[64] = {0}, ref[64] = {0}, lr[64] = {0}, loss[64] = {0}, norm[64] = {0};
    memcpy(params, fx_f32(&x, "w0"), (size_t)nw * sizeof(float));
    memcpy(params + nw, fx_f32(&x, "b0"), (size_t)O * sizeof(float));
    memcpy(init, params, (size_t)np * sizeof(float));
    mc_optim_config oc = {.kind = MC_OPTIM_ADAMW, .beta1 = fx_float(&x, "beta1"), .beta2 = fx_float(&x, "beta2"),
                          .eps = fx_float(&x, "eps")};
    mc_optim *o = mc_optim_create(&oc, np);
    assert_non_null(o);
    mc_lr_schedule sched = {fx_float(&x, "lr_peak"), fx_float(&x, "min_lr"), fx_int(&x, "warmup", 0), steps};
    float wd = fx_float(&x, "weight_decay"), clip = fx_float(&x, "clip");
    const float *ref_w = fx_f32(&x, "w"), *ref_b = fx_f32(&x, "b");
    double worst = 0.0, first = 0.0, last = 0.0;
    for (int s = 0; s < steps; s++) {
        loss[s] = (float)regression_grads(grads, params, fx_f32(&x, "x"), fx_f32(&x, "y"), N, C, O);
        norm[s] = (float)mc_clip_grad_norm(grads, np, clip);
        lr[s] = mc_lr_at(&sched, s);
        mc_optim_begin_step(o);
        mc_optim_update(o, params, grads, 0, nw, lr[s], wd);
        mc_optim_update(o, params + nw, grads + nw, nw, O, lr[s], 0.0f);
        memcpy(ref, ref_w + s * nw, (size_t)nw * sizeof(float));
        memcpy(ref + nw, ref_b + s * O, (size_t)O * sizeof(float));
        double e = moved_error(params, ref, init, np);
        if (!(e <= worst)) worst = e;
        if (s == 0) first = e;
        last = e;
    }
    compare(&x, "lr (every step)", lr, "lr", TOL_FWD);
    compare(&x, "loss (every step)", loss, "loss", TOL_FWD);
    compare(&x, "grad norm (every step)", norm, "grad_norm", TOL_FWD);
    report(&x, "params after step 1", first, TOL_ADAM);
    report(&x, "params after last step", last, TOL_ADAM);
    report(&x, "params, worst step", worst, TOL_ADAM);
    mc_optim_destroy(o);
    fx_close(&x);
}

static void test_optim_sgd(void **state) {
    (void)state;
    fixture x;
    fx_open(&x, "optim");
    fx_case(&x, "sgd");
    int N = fx_dim(&x, "x", 0), C = fx_dim(&x, "x", 1), O = fx_dim(&x, "y", 1), steps = fx_int(&x, "steps", 0);
    int64_t nw = (int64_t)O * C, np = nw + O;
    float *params = zeros(np), *grads = zeros(np);
    memcpy(params, fx_f32(&x, "w0"), (size_t)nw * sizeof(float));
    memcpy(params + nw, fx_f32(&x, "b0"), (size_t)O * sizeof(float));
    mc_optim_config oc = {.kind = MC_OPTIM_SGD, .momentum = fx_float(&x, "momentum")};
    mc_optim *o = mc_optim_create(&oc, np);
    assert_non_null(o);
    float lr = fx_float(&x, "lr"), wd = fx_float(&x, "weight_decay");
    const float *ref_w = fx_f32(&x, "w"), *ref_b = fx_f32(&x, "b");
    for (int s = 0; s < steps; s++) {
        regression_grads(grads, params, fx_f32(&x, "x"), fx_f32(&x, "y"), N, C, O);
        mc_optim_begin_step(o);
        mc_optim_update(o, params, grads, 0, np, lr, wd);
        double max_diff = 0.0, max_ref = 0.0;
        for (int64_t i = 0; i < np; i++) {
            float r = i < nw ? ref_w[s * nw + i] : ref_b[s * O + (i - nw)];
            max_diff = fmax(max_diff, fabs((double)params[i] - r));
            max_ref = fmax(max_ref, fabs((double)r));
        }
        char what[32];
        snprintf(what, sizeof what, "params after step %d", s + 1);
        report(&x, what, max_diff / max_ref, TOL_GRAD);
    }
    mc_optim_destroy(o);
    free(params), free(grads);
    fx_close(&x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_activations),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_layernorm),
        cmocka_unit_test(test_batchnorm),
        cmocka_unit_test(test_conv),
        cmocka_unit_test(test_pool),
        cmocka_unit_test(test_mhsa),
        cmocka_unit_test(test_squeeze_excitation),
        cmocka_unit_test(test_spatial_attention),
        cmocka_unit_test(test_losses),
        cmocka_unit_test(test_moe),
        cmocka_unit_test(test_optim_adamw),
        cmocka_unit_test(test_optim_sgd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
