/* test_gpu_attention.c: CBAM spatial attention on the GPU against the CPU layer (whose gate
 * convolution runs through oneDNN, hence a test of its own: the other GPU tests stay free of
 * oneDNN), 2D and 3D, forward and backward with gradients starting from random values: output,
 * gate and descriptor within NMSE 1e-8 (cuDNN's convolution algorithms), the channel of each max
 * identical, din, dw, db within NMSE 1e-8. Exits 77 without a CUDA device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_check.h"
#include "moecore/nn.h"
#include "moecore/nn_cuda.h"

static mc_cuda_ctx *c;
static mc_rng *rng;

static float *rnd(int64_t n, float lo, float hi) {
    float *v = malloc((size_t)n * sizeof *v);
    gc_uniform(v, n, lo, hi, rng);
    return v;
}

static void expect(const char *label, const char *what, const float *d, const float *want, int64_t n) {
    char name[96];
    snprintf(name, sizeof name, "%s %s", label, what);
    float *got = malloc((size_t)n * sizeof *got);
    gc_down(c, got, d, n);
    gc_compare(name, got, want, n, 1e-8, 1e-4);
    free(got);
}

static void spatial_case(const char *label, int N, int C, int dims, const int *sp, int k) {
    int64_t S = 1, kk = 1;
    for (int d = 0; d < dims; d++) S *= sp[d], kk *= k;
    const int64_t n = (int64_t)N * C * S, NS = (int64_t)N * S, nw = 2 * kk;
    float *in = rnd(n, -1, 1), *w = rnd(nw, -0.4f, 0.4f), *b = rnd(1, -0.2f, 0.2f), *out = rnd(n, 0, 0);
    float *desc = rnd(2 * NS, 0, 0), *gate = rnd(NS, 0, 0), *dout = rnd(n, -1, 1), *din = rnd(n, -1, 1);
    float *dw = rnd(nw, -1, 1), *db = rnd(1, -1, 1);
    int32_t *am = calloc((size_t)NS, sizeof *am), *am_got = calloc((size_t)NS, sizeof *am_got);
    float *h[] = {in, w, b, out, desc, gate, dout, din, dw, db};
    const int64_t sizes[] = {n, nw, 1, n, 2 * NS, NS, n, n, nw, 1};
    float *d[10];
    for (int i = 0; i < 10; i++) d[i] = gc_up(c, h[i], sizes[i]);
    int32_t *d_am = gc_up_bytes(c, NULL, (size_t)NS * sizeof(int32_t));
    mc_spatial_attention_forward(out, desc, am, gate, in, w, b, N, C, dims, sp, k);
    mc_spatial_attention_backward(din, dw, db, dout, in, w, desc, am, gate, N, C, dims, sp, k);
    gc_ok(c, mc_cuda_spatial_attention_forward(c, d[3], d[4], d_am, d[5], d[0], d[1], d[2], N, C, dims, sp, k),
          "spatial attention forward");
    gc_ok(c, mc_cuda_spatial_attention_backward(c, d[7], d[8], d[9], d[6], d[0], d[1], d[4], d_am, d[5], N, C, dims, sp, k),
          "spatial attention backward");
    expect(label, "out", d[3], out, n);
    expect(label, "desc", d[4], desc, 2 * NS);
    expect(label, "gate", d[5], gate, NS);
    expect(label, "din", d[7], din, n);
    expect(label, "dw", d[8], dw, nw);
    expect(label, "db", d[9], db, 1);
    gc_ok(c, mc_cuda_to_host(c, am_got, d_am, (size_t)NS * sizeof(int32_t)), "copy argmax");
    int same = memcmp(am, am_got, (size_t)NS * sizeof(int32_t)) == 0;
    gc_failures += !same;
    printf("%s %s channel of the max identical\n", same ? "ok" : "FAIL", label);
    for (int i = 0; i < 10; i++) free(h[i]), mc_cuda_free(c, d[i]);
    free(am), free(am_got);
    mc_cuda_free(c, d_am);
}

int main(void) {
    c = gc_gpu_open("test_gpu_attention");
    rng = mc_rng_create(31);
    const int sp2[2] = {9, 7}, sp3[3] = {5, 6, 4};
    spatial_case("spatial attention 2d k7", 2, 5, 2, sp2, 7);
    spatial_case("spatial attention 3d k3", 1, 4, 3, sp3, 3);
    mc_rng_destroy(rng);
    mc_cuda_ctx_destroy(c);
    return gc_finish("test_gpu_attention");
}
