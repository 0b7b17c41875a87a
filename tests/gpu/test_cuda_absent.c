/* test_cuda_absent.c: the CUDA API on a machine (or a build) without a usable CUDA device: the
 * context is refused with MC_ERR_DEVICE and a message saying why, CUDA arenas are not created,
 * and the layer functions refuse a missing context. Runs in every build; exits 77 where a device
 * is present (the tests of label "gpu" cover that case). */
#include <stdio.h>
#include <string.h>

#include "moecore/config.h"
#include "moecore/device.h"
#include "moecore/moe_cuda.h"
#include "moecore/nn_cuda.h"
#include "moecore/tensor.h"

static int failures = 0;

static void expect(int cond, const char *what, const char *detail) {
    failures += !cond;
    printf("%s %s%s%s\n", cond ? "ok" : "FAIL", what, detail ? ": " : "", detail ? detail : "");
}

int main(void) {
    if (mc_cuda_device_count() > 0) {
        printf("skip test_cuda_absent: a CUDA device is present\n");
        return 77;
    }
    mc_cuda_ctx *c = (mc_cuda_ctx *)&failures; /* must be reset to NULL */
    mc_error err;
    mc_status st = mc_cuda_ctx_create(&c, 0, &err);
    expect(st == MC_ERR_DEVICE && c == NULL, "context refused with MC_ERR_DEVICE", mc_status_str(st));
    expect(err.code == MC_ERR_DEVICE && strlen(err.msg) > 10, "with a message", err.msg);
#if MC_HAVE_CUDA
    expect(strstr(err.msg, "cudaGetDeviceCount") != NULL, "naming the failed call", NULL);
#else
    expect(strstr(err.msg, "no CUDA backend") != NULL, "saying the build has no CUDA backend", NULL);
#endif
    expect(mc_arena_create(MC_DEVICE_CUDA, 1 << 20) == NULL, "no CUDA arena", NULL);
    mc_arena *a = mc_arena_create(MC_DEVICE_CPU, 1 << 16);
    expect(a != NULL && mc_arena_alloc(a, 100) != NULL, "CPU arenas unaffected", NULL);
    mc_arena_destroy(a);
    expect(mc_cuda_linear_forward(NULL, NULL, NULL, NULL, NULL, 1, 1, 1) != MC_OK, "a kernel without a context refused", NULL);
    mc_moe_config cfg;
    mc_moe_config_default(&cfg);
    cfg.d_model = 4, cfg.d_ff = 8, cfg.n_experts = 2, cfg.top_k = 1;
    mc_moe_cuda *m = NULL;
    float p[1];
    st = mc_moe_cuda_create(&m, NULL, &cfg, p, NULL, &err);
    expect(st != MC_OK && m == NULL && err.msg[0], "MoE layer without a context refused", err.msg);
    printf("test_cuda_absent: %d failures\n", failures);
    return failures ? 1 : 0;
}
