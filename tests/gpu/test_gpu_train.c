/* test_gpu_train.c: 20 steps of training a small regressor, linear (16 -> 32) -> GELU -> MoE
 * (8 experts, top-2, one shared expert, auxiliary balance loss) -> linear (32 -> 1), with MSE,
 * gradient clipping at 1.0 and AdamW (lr 1e-2, weight decay 0.01), once on the CPU with nn.h, moe.h,
 * loss.h and optim.h and once on the GPU with their mirrors, from the same initial parameters and
 * data. The loss curves (MSE + balance loss) must agree within a relative 1e-3 at every step (float32
 * rounding differences grow slowly through the updates; the routing is the same), the final
 * parameters within NMSE 1e-6, and the loss must fall by half (so the curves compared are real
 * training). Exits 77 without a CUDA device. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_check.h"
#include "moecore/loss.h"
#include "moecore/moe.h"
#include "moecore/moe_cuda.h"
#include "moecore/nn.h"
#include "moecore/nn_cuda.h"
#include "moecore/optim.h"

enum { N = 256, IN = 16, D = 32, STEPS = 20 };

/* Offsets of the blocks in the flat parameter array. */
typedef struct layout {
    int64_t w1, b1, moe, w2, b2, total;
} layout;

static layout layout_of(const mc_moe_config *cfg) {
    layout l;
    l.w1 = 0;
    l.b1 = l.w1 + (int64_t)D * IN;
    l.moe = l.b1 + D;
    l.w2 = l.moe + mc_moe_num_params(cfg);
    l.b2 = l.w2 + D;
    l.total = l.b2 + 1;
    return l;
}

int main(void) {
    mc_cuda_ctx *c = gc_gpu_open("test_gpu_train");
    mc_moe_config cfg;
    mc_moe_config_default(&cfg);
    cfg.d_model = D, cfg.d_ff = 64, cfg.n_experts = 8, cfg.top_k = 2, cfg.n_shared = 1;
    const layout L = layout_of(&cfg);
    mc_rng *rng = mc_rng_create(11);
    float *p = calloc((size_t)L.total, sizeof(float)), *g = calloc((size_t)L.total, sizeof(float));
    float *x = malloc(sizeof(float) * N * IN), *y = malloc(sizeof(float) * N);
    gc_uniform(x, (int64_t)N * IN, -1, 1, rng);
    for (int i = 0; i < N; i++) y[i] = sinf(2.0f * x[i * IN]) + x[i * IN + 1] * x[i * IN + 2] - 0.5f * fabsf(x[i * IN + 3]);
    gc_uniform(p + L.w1, (int64_t)D * IN, -0.25f, 0.25f, rng);
    gc_uniform(p + L.b1, D, -0.25f, 0.25f, rng);
    gc_uniform(p + L.w2, D, -0.18f, 0.18f, rng);
    mc_moe *cpu_moe;
    mc_error err;
    if (mc_moe_create(&cpu_moe, &cfg, p + L.moe, g + L.moe, &err) != MC_OK) {
        printf("FAIL moe: %s\n", err.msg);
        return 1;
    }
    mc_moe_init_params(cpu_moe, rng);

    /* GPU copies of everything, before the CPU trains */
    float *dp = gc_up(c, p, L.total), *dg = gc_zeros(c, L.total), *dxin = gc_up(c, x, (int64_t)N * IN), *dy = gc_up(c, y, N);
    float *dh1 = gc_zeros(c, N * D), *da1 = gc_zeros(c, N * D), *dh2 = gc_zeros(c, N * D), *dpred = gc_zeros(c, N);
    float *ddpred = gc_zeros(c, N), *ddh2 = gc_zeros(c, N * D), *dda1 = gc_zeros(c, N * D), *ddh1 = gc_zeros(c, N * D);
    mc_moe_cuda *gpu_moe = NULL;
    if (mc_moe_cuda_create(&gpu_moe, c, &cfg, dp + L.moe, dg + L.moe, &err) != MC_OK) {
        printf("FAIL gpu moe: %s\n", err.msg);
        return 1;
    }
    mc_optim_config oc = {.kind = MC_OPTIM_ADAMW, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    mc_optim *opt = mc_optim_create(&oc, L.total);
    mc_cuda_optim *gopt = NULL;
    gc_ok(c, mc_cuda_optim_create(&gopt, c, &oc, L.total), "optim");

    float *h1 = malloc(sizeof(float) * N * D), *a1 = malloc(sizeof(float) * N * D), *h2 = malloc(sizeof(float) * N * D);
    float *pred = malloc(sizeof(float) * N), *dpr = malloc(sizeof(float) * N), *dh2c = malloc(sizeof(float) * N * D);
    float *da1c = malloc(sizeof(float) * N * D), *dh1c = malloc(sizeof(float) * N * D);
    double cpu_loss[STEPS], gpu_loss[STEPS];
    for (int s = 0; s < STEPS; s++) {
        /* CPU step */
        memset(g, 0, sizeof(float) * (size_t)L.total);
        mc_linear_forward(h1, x, p + L.w1, p + L.b1, N, IN, D);
        mc_act_forward(a1, h1, (int64_t)N * D, MC_ACT_GELU);
        mc_moe_forward(cpu_moe, h2, a1, N, 1, NULL);
        mc_linear_forward(pred, h2, p + L.w2, p + L.b2, N, D, 1);
        memset(dpr, 0, sizeof(float) * N);
        cpu_loss[s] = mc_mse_loss(dpr, 1.0f, pred, y, N) + mc_moe_get_stats(cpu_moe)->aux_loss;
        memset(dh2c, 0, sizeof(float) * N * D), memset(da1c, 0, sizeof(float) * N * D), memset(dh1c, 0, sizeof(float) * N * D);
        mc_linear_backward(dh2c, g + L.w2, g + L.b2, dpr, h2, p + L.w2, N, D, 1);
        mc_moe_backward(cpu_moe, da1c, dh2c);
        mc_act_backward(dh1c, da1c, h1, a1, (int64_t)N * D, MC_ACT_GELU);
        mc_linear_backward(NULL, g + L.w1, g + L.b1, dh1c, x, p + L.w1, N, IN, D);
        mc_clip_grad_norm(g, L.total, 1.0);
        mc_optim_begin_step(opt);
        mc_optim_update(opt, p, g, 0, L.total, 1e-2f, 0.01f);

        /* GPU step */
        double mse = 0.0, norm = 0.0;
        gc_ok(c, mc_cuda_memset(c, dg, 0, sizeof(float) * (size_t)L.total), "zero grads");
        gc_ok(c, mc_cuda_linear_forward(c, dh1, dxin, dp + L.w1, dp + L.b1, N, IN, D), "linear 1");
        gc_ok(c, mc_cuda_act_forward(c, da1, dh1, (int64_t)N * D, MC_ACT_GELU), "gelu");
        gc_ok(c, mc_moe_cuda_forward(gpu_moe, dh2, da1, N, 1, NULL), "moe forward");
        gc_ok(c, mc_cuda_linear_forward(c, dpred, dh2, dp + L.w2, dp + L.b2, N, D, 1), "linear 2");
        gc_ok(c, mc_cuda_memset(c, ddpred, 0, sizeof(float) * N), "zero");
        gc_ok(c, mc_cuda_mse_loss(c, &mse, ddpred, 1.0f, dpred, dy, N), "mse");
        gpu_loss[s] = mse + mc_moe_cuda_get_stats(gpu_moe)->aux_loss;
        gc_ok(c, mc_cuda_memset(c, ddh2, 0, sizeof(float) * N * D), "zero");
        gc_ok(c, mc_cuda_memset(c, dda1, 0, sizeof(float) * N * D), "zero");
        gc_ok(c, mc_cuda_memset(c, ddh1, 0, sizeof(float) * N * D), "zero");
        gc_ok(c, mc_cuda_linear_backward(c, ddh2, dg + L.w2, dg + L.b2, ddpred, dh2, dp + L.w2, N, D, 1), "linear 2 back");
        gc_ok(c, mc_moe_cuda_backward(gpu_moe, dda1, ddh2), "moe backward");
        gc_ok(c, mc_cuda_act_backward(c, ddh1, dda1, dh1, da1, (int64_t)N * D, MC_ACT_GELU), "gelu back");
        gc_ok(c, mc_cuda_linear_backward(c, NULL, dg + L.w1, dg + L.b1, ddh1, dxin, dp + L.w1, N, IN, D), "linear 1 back");
        gc_ok(c, mc_cuda_clip_grad_norm(c, &norm, dg, L.total, 1.0), "clip");
        mc_cuda_optim_begin_step(gopt);
        gc_ok(c, mc_cuda_optim_update(gopt, dp, dg, 0, L.total, 1e-2f, 0.01f), "adamw");
        printf("step %2d loss cpu %.7f gpu %.7f\n", s, cpu_loss[s], gpu_loss[s]);
    }
    double worst = 0.0;
    for (int s = 0; s < STEPS; s++) worst = fmax(worst, fabs(gpu_loss[s] - cpu_loss[s]) / cpu_loss[s]);
    int close = worst <= 1e-3, learned = cpu_loss[STEPS - 1] < 0.5 * cpu_loss[0];
    gc_failures += !close + !learned;
    printf("%s loss curves agree: worst relative difference %.3g (<= 1e-3)\n", close ? "ok" : "FAIL", worst);
    printf("%s training learns: loss %.5f -> %.5f (< half)\n", learned ? "ok" : "FAIL", cpu_loss[0], cpu_loss[STEPS - 1]);
    float *got = malloc(sizeof(float) * (size_t)L.total);
    gc_down(c, got, dp, L.total);
    gc_compare("parameters after 20 steps", got, p, L.total, 1e-6, 1e-2);
    free(got);

    mc_moe_cuda_destroy(gpu_moe);
    mc_cuda_optim_destroy(gopt);
    float *dall[] = {dp, dg, dxin, dy, dh1, da1, dh2, dpred, ddpred, ddh2, dda1, ddh1};
    for (int i = 0; i < 12; i++) mc_cuda_free(c, dall[i]);
    mc_moe_destroy(cpu_moe);
    mc_optim_destroy(opt);
    mc_rng_destroy(rng);
    free(p), free(g), free(x), free(y), free(h1), free(a1), free(h2), free(pred), free(dpr), free(dh2c), free(da1c), free(dh1c);
    mc_cuda_ctx_destroy(c);
    return gc_finish("test_gpu_train");
}
