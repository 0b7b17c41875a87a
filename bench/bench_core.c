/* bench_core.c: forward + backward times of libmoecore on the CPU, for the cases that
 * docs/benchmarks.md compares with PyTorch:
 *   moe     the MoE layer: T 8192 tokens, d_model 256, d_ff 512, 16 experts, top-2, 1 shared expert
 *   conv3d  a 3D conv stack on 8 patches of 32^3 (conv 1->16, BN, ReLU, conv 16->32 /2, BN, ReLU, conv 32->32, ReLU)
 *   conv2d  a 2D conv stack on 8 images of 256^2 (conv 3->16, BN, ReLU, conv 16->32 /2, BN, ReLU, conv 32->32, ReLU)
 * A step is a training step: forward, then backward to every parameter, not to the input (as
 * torch_ref.py, whose inputs require no gradient).
 * Usage: bench_core CASE [REPS]. Prints one JSON line with the median milliseconds per step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "moecore/model.h"

static const struct {
    const char *name;
    int N;
    const char *arch;
} cases[] = {
    {"moe", 8192,
     "{\"input\":[256],\"layers\":[{\"type\":\"moe\",\"d_ff\":512,\"experts\":16,\"top_k\":2,\"shared\":1,\"act\":\"gelu\"}]}"},
    {"conv3d", 8,
     "{\"input\":[1,32,32,32],\"layers\":[{\"type\":\"conv\",\"out\":16,\"k\":3,\"pad\":1},{\"type\":\"batchnorm\"},"
     "{\"type\":\"act\",\"fn\":\"relu\"},{\"type\":\"conv\",\"out\":32,\"k\":3,\"pad\":1,\"stride\":2},{\"type\":\"batchnorm\"},"
     "{\"type\":\"act\",\"fn\":\"relu\"},{\"type\":\"conv\",\"out\":32,\"k\":3,\"pad\":1},{\"type\":\"act\",\"fn\":\"relu\"}]}"},
    {"conv2d", 8,
     "{\"input\":[3,256,256],\"layers\":[{\"type\":\"conv\",\"out\":16,\"k\":3,\"pad\":1},{\"type\":\"batchnorm\"},"
     "{\"type\":\"act\",\"fn\":\"relu\"},{\"type\":\"conv\",\"out\":32,\"k\":3,\"pad\":1,\"stride\":2},{\"type\":\"batchnorm\"},"
     "{\"type\":\"act\",\"fn\":\"relu\"},{\"type\":\"conv\",\"out\":32,\"k\":3,\"pad\":1},{\"type\":\"act\",\"fn\":\"relu\"}]}"},
};

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_core moe|conv3d|conv2d [REPS]\n");
        return 2;
    }
    int reps = argc > 2 ? atoi(argv[2]) : 10, c = -1;
    for (int i = 0; i < 3; i++)
        if (strcmp(argv[1], cases[i].name) == 0) c = i;
    if (c < 0 || reps < 1) {
        fprintf(stderr, "bench_core: unknown case '%s'\n", argv[1]);
        return 2;
    }
    mc_model *m;
    mc_error err;
    if (mc_model_create(&m, cases[c].arch, &err) != MC_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    mc_rng *rng = mc_rng_create(1);
    mc_model_init(m, rng);
    int N = cases[c].N;
    int64_t in = mc_model_input_size(m) * N, out = mc_model_output_size(m) * N;
    float *x = malloc(sizeof(float) * (size_t)in), *dout = malloc(sizeof(float) * (size_t)out);
    for (int64_t i = 0; i < in; i++) x[i] = (float)mc_rng_normal(rng);
    for (int64_t i = 0; i < out; i++) dout[i] = (float)mc_rng_normal(rng) * 1e-3f;
    double *ms = malloc(sizeof(double) * (size_t)reps);
    for (int r = -2; r < reps; r++) { /* two warm-up steps (primitive creation, workspace) */
        const float *y;
        double t0 = bench_now_ms();
        mc_model_zero_grad(m);
        if (mc_model_forward(m, x, N, 1, rng, &y) != MC_OK || mc_model_backward(m, dout, NULL) != MC_OK) return 1;
        double t1 = bench_now_ms();
        if (r >= 0) ms[r] = t1 - t0;
    }
    double med = bench_median(ms, reps);
    printf("{\"case\":\"%s\",\"impl\":\"moesuite\",\"ms\":%.2f,\"min_ms\":%.2f}\n", cases[c].name, med, ms[0]);
    free(ms);
    free(x);
    free(dout);
    mc_rng_destroy(rng);
    mc_model_destroy(m);
    return 0;
}
