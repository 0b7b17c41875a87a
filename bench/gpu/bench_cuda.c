/* bench_cuda.c: GPU timings of libmoecore's CUDA backend, for docs/benchmarks.md (GPU section),
 * side by side with torch_cuda.py on the same device:
 *   moe      the MoE layer forward + backward: T tokens (default 8192), d_model 256, d_ff 512,
 *            16 experts, top-2, 1 shared expert, GELU, auxiliary loss (bench_core's MoE case)
 *   grouped  the experts' first GEMM (rows n_e x 512 x 256 per expert, n_e from a real routing of
 *            T x 2 pairs over 16 experts) as one grouped GEMM, against one dense GEMM of the same
 *            total FLOPs (T*2 x 512 x 256): TFLOP/s of each and their ratio
 *   conv3d   bench_core's 3D conv stack forward + backward on 8 patches of 32^3 (conv 1->16, BN,
 *            ReLU, conv 16->32 /2, BN, ReLU, conv 32->32, ReLU); TOKENS is the batch (default 8)
 *   conv2d   the same layers in 2D on 8 images of 3 x 256^2
 * each in math fp32, tf32 and bf16 (convolutions use TF32 in the bf16 mode).
 * Usage: bench_cuda moe|grouped|conv3d|conv2d [TOKENS] [REPS]. Prints one JSON line per
 * measurement (median milliseconds over REPS after two warm-up runs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "moecore/device.h"
#include "moecore/moe_cuda.h"
#include "moecore/nn_cuda.h"

enum { D = 256, F = 512, E = 16, K = 2 };

static const struct {
    mc_cuda_math math;
    const char *name;
} modes[] = {{MC_CUDA_MATH_FP32, "fp32"}, {MC_CUDA_MATH_TF32, "tf32"}, {MC_CUDA_MATH_BF16, "bf16"}};

static int fail(mc_cuda_ctx *c, mc_status st, const char *what) {
    fprintf(stderr, "bench_cuda: %s: %s: %s\n", what, mc_status_str(st), c ? mc_cuda_error(c)->msg : "");
    return 1;
}

#define TRY(call, what)                          \
    do {                                         \
        mc_status st_ = (call);                  \
        if (st_ != MC_OK) return fail(c, st_, what); \
    } while (0)

static float *device_random(mc_cuda_ctx *c, int64_t n, float scale, mc_rng *rng) {
    float *h = malloc((size_t)n * sizeof *h), *d = NULL;
    for (int64_t i = 0; i < n; i++) h[i] = scale * (float)(2.0 * mc_rng_uniform(rng) - 1.0);
    if (mc_cuda_malloc(c, (void **)&d, (size_t)n * sizeof *d) != MC_OK || mc_cuda_to_device(c, d, h, (size_t)n * sizeof *d) != MC_OK) {
        mc_cuda_free(c, d);
        d = NULL;
    }
    free(h);
    return d;
}

static float *device_const(mc_cuda_ctx *c, int64_t n, float value) {
    float *h = malloc((size_t)n * sizeof *h), *d = NULL;
    for (int64_t i = 0; i < n; i++) h[i] = value;
    if (mc_cuda_malloc(c, (void **)&d, (size_t)n * sizeof *d) != MC_OK || mc_cuda_to_device(c, d, h, (size_t)n * sizeof *d) != MC_OK) {
        mc_cuda_free(c, d);
        d = NULL;
    }
    free(h);
    return d;
}

static int bench_moe(mc_cuda_ctx *c, int T, int reps, mc_rng *rng) {
    mc_moe_config cfg;
    mc_moe_config_default(&cfg);
    cfg.d_model = D, cfg.d_ff = F, cfg.n_experts = E, cfg.top_k = K, cfg.n_shared = 1;
    int64_t np = mc_moe_num_params(&cfg);
    float *params = device_random(c, np, 0.0625f, rng), *grads = device_random(c, np, 0.0f, rng);
    float *x = device_random(c, (int64_t)T * D, 1.0f, rng), *dout = device_random(c, (int64_t)T * D, 1e-3f, rng);
    float *out = device_random(c, (int64_t)T * D, 0.0f, rng), *dx = device_random(c, (int64_t)T * D, 0.0f, rng);
    if (!params || !grads || !x || !dout || !out || !dx) return fail(c, MC_ERR_NOMEM, "moe buffers");
    mc_moe_cuda *m;
    mc_error err;
    if (mc_moe_cuda_create(&m, c, &cfg, params, grads, &err) != MC_OK) return fail(NULL, err.code, err.msg);
    double *ms = malloc(sizeof(double) * (size_t)reps);
    for (size_t md = 0; md < sizeof modes / sizeof modes[0]; md++) {
        TRY(mc_cuda_set_math(c, modes[md].math), "math");
        for (int r = -2; r < reps; r++) {
            TRY(mc_cuda_sync(c), "sync");
            double t0 = bench_now_ms();
            TRY(mc_cuda_memset(c, grads, 0, (size_t)np * sizeof(float)), "zero grads");
            TRY(mc_cuda_memset(c, dx, 0, (size_t)T * D * sizeof(float)), "zero dx");
            TRY(mc_moe_cuda_forward(m, out, x, T, 1, NULL), "moe forward");
            TRY(mc_moe_cuda_backward(m, dx, dout), "moe backward");
            TRY(mc_cuda_sync(c), "sync");
            if (r >= 0) ms[r] = bench_now_ms() - t0;
        }
        printf("{\"case\":\"moe\",\"impl\":\"moesuite\",\"math\":\"%s\",\"tokens\":%d,\"ms\":%.3f}\n", modes[md].name, T,
               bench_median(ms, reps));
    }
    free(ms);
    mc_moe_cuda_destroy(m);
    float *all[] = {params, grads, x, dout, out, dx};
    for (int i = 0; i < 6; i++) mc_cuda_free(c, all[i]);
    return 0;
}

static int bench_grouped(mc_cuda_ctx *c, int T, int reps, mc_rng *rng) {
    /* expert sizes of a routing: T tokens, two distinct experts each, skewed router preferences */
    int rows[E] = {0}, P = T * K;
    for (int t = 0; t < T; t++) {
        int a = (int)mc_rng_below(rng, E), b = (int)mc_rng_below(rng, E - 1);
        if (mc_rng_uniform(rng) < 0.3) a = a / 2; /* the lower half of the experts is more popular */
        b = b >= a ? b + 1 : b;
        rows[a]++, rows[b]++;
    }
    float *x = device_random(c, (int64_t)P * D, 1.0f, rng), *w = device_random(c, (int64_t)E * F * D, 0.0625f, rng);
    float *y = device_random(c, (int64_t)P * F, 0.0f, rng);
    if (!x || !w || !y) return fail(c, MC_ERR_NOMEM, "grouped buffers");
    mc_cuda_gemm_group g[E];
    for (int e = 0, o = 0; e < E; o += rows[e], e++)
        g[e] = (mc_cuda_gemm_group){rows[e], F, D, x + (int64_t)o * D, w + (int64_t)e * F * D, y + (int64_t)o * F};
    double flops = 2.0 * P * F * D, *ms = malloc(sizeof(double) * (size_t)reps), *msd = malloc(sizeof(double) * (size_t)reps);
    for (size_t md = 0; md < sizeof modes / sizeof modes[0]; md++) {
        TRY(mc_cuda_set_math(c, modes[md].math), "math");
        for (int r = -2; r < reps; r++) {
            TRY(mc_cuda_sync(c), "sync");
            double t0 = bench_now_ms();
            TRY(mc_cuda_gemm_grouped(c, 0, 1, E, g, 0.0f), "grouped gemm");
            TRY(mc_cuda_sync(c), "sync");
            double t1 = bench_now_ms();
            TRY(mc_cuda_gemm(c, 0, 1, P, F, D, 1.0f, x, D, w, D, 0.0f, y, F), "dense gemm");
            TRY(mc_cuda_sync(c), "sync");
            if (r >= 0) ms[r] = t1 - t0, msd[r] = bench_now_ms() - t1;
        }
        double tg = bench_median(ms, reps), td = bench_median(msd, reps);
        printf("{\"case\":\"grouped\",\"impl\":\"moesuite\",\"math\":\"%s\",\"tokens\":%d,\"grouped_ms\":%.4f,"
               "\"dense_ms\":%.4f,\"grouped_tflops\":%.2f,\"dense_tflops\":%.2f,\"fraction_of_dense\":%.3f}\n",
               modes[md].name, T, tg, td, flops / tg * 1e-9, flops / td * 1e-9, td / tg);
    }
    free(ms), free(msd);
    mc_cuda_free(c, x), mc_cuda_free(c, w), mc_cuda_free(c, y);
    return 0;
}

/* One convolution of the stack with what follows it (batch norm and/or ReLU), its activations and
 * gradients: conv -> c, batch norm -> b, ReLU -> r (each NULL when absent). */
typedef struct conv_stage {
    mc_conv_params p;
    int bn;
    int64_t n_out;
    float *w, *bias, *dw, *dbias, *c, *dc;
    float *gamma, *beta, *dgamma, *dbeta, *mean, *rstd, *rmean, *rvar, *b, *db;
    float *r, *dr;
} conv_stage;

static int bench_conv(mc_cuda_ctx *c, int dims, int batch, int reps, mc_rng *rng) {
    const int in_ch = dims == 3 ? 1 : 3, size = dims == 3 ? 32 : 256;
    const int outs[3] = {16, 32, 32}, strides[3] = {1, 2, 1}, bns[3] = {1, 1, 0};
    conv_stage st[3];
    memset(st, 0, sizeof st);
    int ch = in_ch, sp[3] = {size, size, size};
    int64_t n_in = (int64_t)batch * in_ch;
    for (int d = 0; d < dims; d++) n_in *= size;
    float *x = device_random(c, n_in, 1.0f, rng), *dx = device_random(c, n_in, 0.0f, rng);
    if (!x || !dx) return fail(c, MC_ERR_NOMEM, "conv input");
    for (int l = 0; l < 3; l++) {
        conv_stage *s = &st[l];
        s->p = (mc_conv_params){.dims = dims, .N = batch, .IC = ch, .OC = outs[l], .groups = 1};
        int64_t spatial = 1;
        for (int d = 0; d < dims; d++) {
            s->p.in[d] = sp[d], s->p.k[d] = 3, s->p.stride[d] = strides[l], s->p.pad[d] = 1, s->p.dil[d] = 1;
            s->p.out[d] = (sp[d] + 2 - 3) / strides[l] + 1;
            sp[d] = s->p.out[d];
            spatial *= sp[d];
        }
        s->bn = bns[l];
        s->n_out = (int64_t)batch * outs[l] * spatial;
        int64_t nw = (int64_t)outs[l] * ch * (dims == 3 ? 27 : 9);
        s->w = device_random(c, nw, 0.1f, rng), s->dw = device_random(c, nw, 0.0f, rng);
        s->bias = device_random(c, outs[l], 0.1f, rng), s->dbias = device_random(c, outs[l], 0.0f, rng);
        s->c = device_random(c, s->n_out, 0.0f, rng), s->dc = device_random(c, s->n_out, 0.0f, rng);
        s->r = device_random(c, s->n_out, 0.0f, rng), s->dr = device_random(c, s->n_out, 0.0f, rng);
        if (!s->w || !s->dw || !s->bias || !s->dbias || !s->c || !s->dc || !s->r || !s->dr) return fail(c, MC_ERR_NOMEM, "conv");
        if (s->bn) {
            float **v[] = {&s->gamma, &s->beta, &s->dgamma, &s->dbeta, &s->mean, &s->rstd, &s->rmean, &s->rvar};
            for (int i = 0; i < 8; i++) /* gamma and the running variance 1, the rest 0, as PyTorch starts */
                if (!(*v[i] = device_const(c, outs[l], i == 0 || i == 7 ? 1.0f : 0.0f))) return fail(c, MC_ERR_NOMEM, "bn");
            s->b = device_random(c, s->n_out, 0.0f, rng), s->db = device_random(c, s->n_out, 0.0f, rng);
            if (!s->b || !s->db) return fail(c, MC_ERR_NOMEM, "bn");
        }
        ch = outs[l];
    }
    float *dout = device_const(c, st[2].n_out, 1e-3f); /* dL/dout, as torch_ref.py */
    if (!dout) return fail(c, MC_ERR_NOMEM, "conv output gradient");
    double *ms = malloc(sizeof(double) * (size_t)reps);
    for (size_t md = 0; md < sizeof modes / sizeof modes[0]; md++) {
        TRY(mc_cuda_set_math(c, modes[md].math), "math");
        for (int r = -2; r < reps; r++) {
            TRY(mc_cuda_sync(c), "sync");
            double t0 = bench_now_ms();
            const float *in = x;
            for (int l = 0; l < 3; l++) {
                conv_stage *s = &st[l];
                TRY(mc_cuda_conv_forward(c, s->c, in, s->w, s->bias, &s->p), "conv forward");
                const float *pre = s->c;
                if (s->bn) {
                    int64_t S = s->n_out / ((int64_t)batch * s->p.OC);
                    TRY(mc_cuda_batchnorm_forward(c, s->b, s->mean, s->rstd, s->rmean, s->rvar, s->c, s->gamma, s->beta,
                                                  batch, s->p.OC, S, 1e-5f, 0.1f, 1),
                        "batchnorm forward");
                    pre = s->b;
                }
                TRY(mc_cuda_act_forward(c, s->r, pre, s->n_out, MC_ACT_RELU), "relu");
                in = s->r;
            }
            TRY(mc_cuda_memset(c, dx, 0, (size_t)n_in * sizeof(float)), "zero");
            TRY(mc_cuda_copy(c, st[2].dr, dout, (size_t)st[2].n_out * sizeof(float)), "output gradient");
            for (int l = 2; l >= 0; l--) {
                conv_stage *s = &st[l];
                TRY(mc_cuda_memset(c, s->dc, 0, (size_t)s->n_out * sizeof(float)), "zero");
                TRY(mc_cuda_memset(c, s->dw, 0, (size_t)s->p.OC * s->p.IC * (dims == 3 ? 27 : 9) * sizeof(float)), "zero");
                TRY(mc_cuda_memset(c, s->dbias, 0, (size_t)s->p.OC * sizeof(float)), "zero");
                const float *pre = s->bn ? s->b : s->c;
                float *dpre = s->bn ? s->db : s->dc;
                if (s->bn) TRY(mc_cuda_memset(c, s->db, 0, (size_t)s->n_out * sizeof(float)), "zero");
                TRY(mc_cuda_act_backward(c, dpre, s->dr, pre, s->r, s->n_out, MC_ACT_RELU), "relu backward");
                if (s->bn) {
                    int64_t S = s->n_out / ((int64_t)batch * s->p.OC);
                    TRY(mc_cuda_batchnorm_backward(c, s->dc, s->dgamma, s->dbeta, s->db, s->c, s->gamma, s->mean, s->rstd,
                                                   batch, s->p.OC, S),
                        "batchnorm backward");
                }
                float *din = l > 0 ? st[l - 1].dr : dx;
                if (l > 0) TRY(mc_cuda_memset(c, din, 0, (size_t)st[l - 1].n_out * sizeof(float)), "zero");
                TRY(mc_cuda_conv_backward(c, din, s->dw, s->dbias, s->dc, l > 0 ? st[l - 1].r : x, s->w, &s->p), "conv backward");
            }
            TRY(mc_cuda_sync(c), "sync");
            if (r >= 0) ms[r] = bench_now_ms() - t0;
        }
        printf("{\"case\":\"conv%dd\",\"impl\":\"moesuite\",\"math\":\"%s\",\"batch\":%d,\"ms\":%.3f}\n", dims,
               modes[md].name, batch, bench_median(ms, reps));
    }
    free(ms);
    return 0;
}

int main(int argc, char **argv) {
    const char *cases[] = {"moe", "grouped", "conv3d", "conv2d"};
    int which = -1;
    for (int i = 0; i < 4; i++)
        if (argc > 1 && strcmp(argv[1], cases[i]) == 0) which = i;
    if (which < 0) {
        fprintf(stderr, "usage: bench_cuda moe|grouped|conv3d|conv2d [TOKENS] [REPS]\n");
        return 2;
    }
    int T = argc > 2 ? atoi(argv[2]) : which >= 2 ? 8 : 8192, reps = argc > 3 ? atoi(argv[3]) : 10;
    if (T < 1 || reps < 1) {
        fprintf(stderr, "bench_cuda: TOKENS and REPS must be positive\n");
        return 2;
    }
    char why[256];
    mc_cuda_describe(why, sizeof why);
    if (mc_cuda_device_count() == 0) {
        fprintf(stderr, "bench_cuda: %s\n", why);
        return 77;
    }
    mc_cuda_ctx *c;
    mc_error err;
    if (mc_cuda_ctx_create(&c, 0, &err) != MC_OK) return fail(NULL, err.code, err.msg);
    mc_rng *rng = mc_rng_create(1);
    int rc = which == 0 ? bench_moe(c, T, reps, rng)
             : which == 1 ? bench_grouped(c, T, reps, rng)
                          : bench_conv(c, which == 2 ? 3 : 2, T, reps, rng);
    mc_rng_destroy(rng);
    mc_cuda_ctx_destroy(c);
    return rc;
}
