/* test_gpu_oom.c: failures on the GPU become statuses with messages, never aborts: a 1 PiB
 * allocation (context and arena), a context on a device that does not exist, a kernel called with
 * invalid parameters; after each the context still works (a small allocation, a copy round trip,
 * a zeroed CUDA arena block). Exits 77 without a CUDA device. */
#include <stdio.h>
#include <string.h>

#include "gpu_check.h"
#include "moecore/nn_cuda.h"
#include "moecore/tensor.h"

static void expect(int cond, const char *what, const char *detail) {
    gc_failures += !cond;
    printf("%s %s%s%s\n", cond ? "ok" : "FAIL", what, detail ? ": " : "", detail ? detail : "");
}

int main(void) {
    mc_cuda_ctx *c = gc_gpu_open("test_gpu_oom");
    const size_t pib = (size_t)1 << 50;
    void *p = NULL;
    mc_status st = mc_cuda_malloc(c, &p, pib);
    const char *msg = mc_cuda_error(c)->msg;
    expect((st == MC_ERR_NOMEM || st == MC_ERR_DEVICE) && p == NULL, "1 PiB cudaMalloc returns an error", mc_status_str(st));
    expect(strstr(msg, "cudaMalloc") != NULL && strstr(msg, ".cu:") != NULL, "message names the call and file:line", msg);

    /* the context still works */
    float h[1000], back[1000];
    for (int i = 0; i < 1000; i++) h[i] = (float)i * 0.5f;
    float *d = NULL;
    st = mc_cuda_malloc(c, (void **)&d, sizeof h);
    if (st == MC_OK) st = mc_cuda_to_device(c, d, h, sizeof h);
    if (st == MC_OK) st = mc_cuda_to_host(c, back, d, sizeof h);
    expect(st == MC_OK && memcmp(h, back, sizeof h) == 0, "small allocation and copy round trip afterwards", NULL);
    mc_cuda_free(c, d);

    /* CUDA arenas */
    mc_arena *a = mc_arena_create(MC_DEVICE_CUDA, 1 << 20);
    expect(a != NULL, "CUDA arena created", NULL);
    if (a) {
        expect(mc_arena_alloc(a, pib) == NULL, "1 PiB arena allocation returns NULL", NULL);
        mc_tensor t;
        int64_t shape[2] = {10, 100};
        st = mc_arena_tensor(a, &t, MC_F32, 2, shape);
        expect(st == MC_OK && t.device == MC_DEVICE_CUDA, "arena tensor on the device", NULL);
        if (st == MC_OK) {
            for (int i = 0; i < 1000; i++) back[i] = 1.0f;
            st = mc_cuda_to_host(c, back, t.data, sizeof back);
            int zero = st == MC_OK;
            for (int i = 0; i < 1000; i++) zero &= back[i] == 0.0f;
            expect(zero, "arena tensor is zeroed", NULL);
        }
        mc_arena_destroy(a);
    }

    /* a device that does not exist */
    mc_cuda_ctx *none = NULL;
    mc_error err;
    st = mc_cuda_ctx_create(&none, 4096, &err);
    expect(st == MC_ERR_DEVICE && none == NULL && err.msg[0], "context on device 4096 refused", err.msg);

    /* invalid convolution parameters: an argument error, with a message */
    mc_conv_params bad = {.dims = 2, .N = 1, .IC = 3, .OC = 4, .groups = 2, .in = {8, 8}, .k = {3, 3},
                          .stride = {1, 1}, .pad = {1, 1}, .dil = {1, 1}, .out = {8, 8}};
    st = mc_cuda_conv_forward(c, NULL, NULL, NULL, NULL, &bad);
    expect(st == MC_ERR_ARG && strstr(mc_cuda_error(c)->msg, "convolution"), "conv with IC not divisible by groups refused",
           mc_cuda_error(c)->msg);

    mc_cuda_ctx_destroy(c);
    return gc_finish("test_gpu_oom");
}
