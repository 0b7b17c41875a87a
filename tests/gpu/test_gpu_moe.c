/* test_gpu_moe.c: the MoE layer on the GPU (moe_cuda.h) against the CPU layer (moe.h) with the
 * same configuration, weights and inputs, in every routing mode: softmax and sigmoid scores,
 * renormalised or raw gates, top-1/2/3, shared experts (with their own width), the auxiliary loss,
 * the auxiliary-loss-free bias (with its update), the z-loss, capacity dropping and dropless, and
 * noisy top-k with the same seed. Checked: the output, dx and every parameter gradient (NMSE <= 1e-10,
 * float32 throughout; 1e-5 in one TF32 case), the per-expert loads and dropped pairs exactly (the
 * routing must be identical), the balance and z-loss values and the load CV (relative 1e-6), and
 * the bias after mc_moe_cuda_update_bias. T = 300 tokens, so the counting sort spans two chunks of
 * 256 pairs with a partial one. Exits 77 without a CUDA device. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_check.h"
#include "moecore/moe.h"
#include "moecore/moe_cuda.h"

static mc_cuda_ctx *c;

typedef struct moe_case {
    const char *name;
    mc_router_score score;
    int norm_topk, top_k, n_shared, d_ff_shared;
    mc_balance balance;
    float z_coef, capacity, noise;
    mc_act act;
    mc_cuda_math math;
} moe_case;

static void run_case(const moe_case *k) {
    const int T = 300, D = 32, F = 48, E = 8;
    mc_moe_config cfg;
    mc_moe_config_default(&cfg);
    cfg.d_model = D, cfg.d_ff = F, cfg.n_experts = E, cfg.top_k = k->top_k, cfg.n_shared = k->n_shared;
    cfg.d_ff_shared = k->d_ff_shared, cfg.act = k->act, cfg.score = k->score, cfg.norm_topk = k->norm_topk;
    cfg.balance = k->balance, cfg.z_coef = k->z_coef, cfg.capacity_factor = k->capacity, cfg.noise_std = k->noise;
    cfg.bias_gamma = 0.01f;
    const int64_t np = mc_moe_num_params(&cfg), nx = (int64_t)T * D;
    mc_rng *rng = mc_rng_create(7);
    float *params = calloc((size_t)np, sizeof(float)), *grads = calloc((size_t)np, sizeof(float));
    float *x = malloc((size_t)nx * sizeof(float)), *dout = malloc((size_t)nx * sizeof(float));
    float *out = malloc((size_t)nx * sizeof(float)), *dx = calloc((size_t)nx, sizeof(float));
    mc_moe *cpu = NULL;
    mc_moe_cuda *gpu = NULL;
    mc_error err;
    if (mc_moe_create(&cpu, &cfg, params, grads, &err) != MC_OK) {
        printf("FAIL %s: cpu layer: %s\n", k->name, err.msg);
        gc_failures++;
        return;
    }
    mc_moe_init_params(cpu, rng);
    gc_uniform(x, nx, -1, 1, rng);
    gc_uniform(dout, nx, -1, 1, rng);
    float *d_params = gc_up(c, params, np), *d_grads = gc_zeros(c, np), *d_x = gc_up(c, x, nx), *d_dout = gc_up(c, dout, nx);
    float *d_out = gc_zeros(c, nx), *d_dx = gc_zeros(c, nx);
    gc_ok(c, mc_cuda_set_math(c, k->math), "set math");
    if (mc_moe_cuda_create(&gpu, c, &cfg, d_params, d_grads, &err) != MC_OK) {
        printf("FAIL %s: gpu layer: %s\n", k->name, err.msg);
        gc_failures++;
        return;
    }
    if (k->balance == MC_BALANCE_BIAS) {
        /* a bias that changes choices: it must act on selection only */
        float bias[8];
        for (int e = 0; e < E; e++) bias[e] = 0.05f * (float)(e % 3) - 0.04f;
        memcpy(mc_moe_bias(cpu), bias, sizeof bias);
        gc_ok(c, mc_moe_cuda_set_bias(gpu, bias), "set bias");
    }
    double nmse = k->math == MC_CUDA_MATH_FP32 ? 1e-10 : 1e-5, mx = k->math == MC_CUDA_MATH_FP32 ? 1e-4 : 0.05;
    mc_rng *noise_cpu = mc_rng_create(99), *noise_gpu = mc_rng_create(99);
    for (int pass = 0; pass < 2; pass++) { /* the second pass after a bias update */
        char name[128];
        memset(grads, 0, (size_t)np * sizeof(float));
        memset(dx, 0, (size_t)nx * sizeof(float));
        gc_ok(c, mc_cuda_memset(c, d_grads, 0, (size_t)np * sizeof(float)), "zero grads");
        gc_ok(c, mc_cuda_memset(c, d_dx, 0, (size_t)nx * sizeof(float)), "zero dx");
        if (mc_moe_forward(cpu, out, x, T, 1, noise_cpu) != MC_OK) gc_failures++;
        mc_moe_backward(cpu, dx, dout);
        gc_ok(c, mc_moe_cuda_forward(gpu, d_out, d_x, T, 1, noise_gpu), "moe forward");
        gc_ok(c, mc_moe_cuda_backward(gpu, d_dx, d_dout), "moe backward");
        const mc_moe_stats *sc = mc_moe_get_stats(cpu), *sg = mc_moe_cuda_get_stats(gpu);
        int same_load = sg && sc->dropped == sg->dropped && memcmp(sc->load, sg->load, (size_t)E * sizeof(int64_t)) == 0;
        gc_failures += !same_load;
        printf("%s %s pass %d: routing identical (loads", same_load ? "ok" : "FAIL", k->name, pass);
        for (int e = 0; e < E; e++) printf(" %lld", (long long)sc->load[e]);
        printf("; dropped %lld)\n", (long long)sc->dropped);
        if (!sg) return;
        snprintf(name, sizeof name, "%s pass %d out", k->name, pass);
        float *got = malloc((size_t)(np > nx ? np : nx) * sizeof(float));
        gc_down(c, got, d_out, nx);
        gc_compare(name, got, out, nx, nmse, mx);
        snprintf(name, sizeof name, "%s pass %d dx", k->name, pass);
        gc_down(c, got, d_dx, nx);
        gc_compare(name, got, dx, nx, nmse, mx);
        snprintf(name, sizeof name, "%s pass %d param grads", k->name, pass);
        gc_down(c, got, d_grads, np);
        gc_compare(name, got, grads, np, nmse, mx * 10);
        free(got);
        if (sc->aux_loss > 0) {
            snprintf(name, sizeof name, "%s pass %d aux loss", k->name, pass);
            gc_compare_scalar(name, sg->aux_loss, sc->aux_loss, 1e-6);
        }
        if (sc->z_loss > 0) {
            snprintf(name, sizeof name, "%s pass %d z loss", k->name, pass);
            gc_compare_scalar(name, sg->z_loss, sc->z_loss, 1e-6);
        }
        snprintf(name, sizeof name, "%s pass %d load cv", k->name, pass);
        gc_compare_scalar(name, sg->balance_cv + 1.0, sc->balance_cv + 1.0, 1e-12);
        mc_moe_update_bias(cpu);
        gc_ok(c, mc_moe_cuda_update_bias(gpu), "update bias");
        if (k->balance == MC_BALANCE_BIAS) {
            float bias[8];
            gc_ok(c, mc_moe_cuda_get_bias(gpu, bias), "get bias");
            snprintf(name, sizeof name, "%s pass %d bias after update", k->name, pass);
            gc_compare(name, bias, mc_moe_bias(cpu), E, 0.0, 0.0);
        }
    }
    gc_ok(c, mc_cuda_set_math(c, MC_CUDA_MATH_FP32), "set math");
    mc_moe_cuda_destroy(gpu);
    mc_moe_destroy(cpu);
    mc_rng_destroy(noise_cpu), mc_rng_destroy(noise_gpu), mc_rng_destroy(rng);
    free(params), free(grads), free(x), free(dout), free(out), free(dx);
    float *dall[] = {d_params, d_grads, d_x, d_dout, d_out, d_dx};
    for (int i = 0; i < 6; i++) mc_cuda_free(c, dall[i]);
}

int main(void) {
    c = gc_gpu_open("test_gpu_moe");
    static const moe_case cases[] = {
        {"softmax top2 shared aux dropless", MC_ROUTER_SOFTMAX, 1, 2, 1, 0, MC_BALANCE_AUX_LOSS, 0, 0, 0, MC_ACT_GELU, MC_CUDA_MATH_FP32},
        {"sigmoid raw-gates bias z-loss", MC_ROUTER_SIGMOID, 0, 2, 1, 24, MC_BALANCE_BIAS, 1e-3f, 0, 0, MC_ACT_SILU, MC_CUDA_MATH_FP32},
        {"softmax top2 capacity 1.0 aux z", MC_ROUTER_SOFTMAX, 1, 2, 0, 0, MC_BALANCE_AUX_LOSS, 1e-3f, 1.0f, 0, MC_ACT_RELU, MC_CUDA_MATH_FP32},
        {"softmax top1 noisy", MC_ROUTER_SOFTMAX, 1, 1, 0, 0, MC_BALANCE_NONE, 0, 0, 0.1f, MC_ACT_GELU, MC_CUDA_MATH_FP32},
        {"sigmoid top3 capacity 1.25 two shared", MC_ROUTER_SIGMOID, 1, 3, 2, 40, MC_BALANCE_BIAS, 0, 1.25f, 0, MC_ACT_TANH, MC_CUDA_MATH_FP32},
        {"softmax top2 shared aux tf32", MC_ROUTER_SOFTMAX, 1, 2, 1, 0, MC_BALANCE_AUX_LOSS, 0, 0, 0, MC_ACT_GELU, MC_CUDA_MATH_TF32},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
    mc_cuda_ctx_destroy(c);
    return gc_finish("test_gpu_moe");
}
