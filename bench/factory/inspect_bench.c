/* inspect_bench.c: the forward pass of moe-factory's supervised inspection network on one
 * SIZE x SIZE grey image, timed as inspect runs it (batch norms folded into the convolutions,
 * fab_inspector_fold) and as trained; the network, its input and the folded network's output are
 * written to OUT_DIR so that torch_inspect.py runs the same network in PyTorch on the same input,
 * checks the output and times it in the same run (bench/factory/run.sh).
 * Usage: inspect_bench SIZE REPS OUT_DIR
 *   -> one JSON line {"case", "size", "ms" (folded), "ms_unfolded", "threads"} */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"
#include "inspect/inspector.h"

/* Median milliseconds of a forward pass of m on x over reps runs, after 3 warm-up runs (the median
 * rather than the mean: the machine may be shared). */
static double time_forward(mc_model *m, const float *x, int reps, const float **out) {
    double *t = malloc(sizeof(double) * (size_t)reps);
    for (int i = 0; i < 3; i++) mc_model_forward(m, x, 1, 0, NULL, out);
    for (int i = 0; i < reps; i++) {
        double t0 = bench_now_ms();
        mc_model_forward(m, x, 1, 0, NULL, out);
        t[i] = bench_now_ms() - t0;
    }
    double med = bench_median(t, reps);
    free(t);
    return med;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: inspect_bench SIZE REPS OUT_DIR\n");
        return 2;
    }
    int S = atoi(argv[1]), reps = atoi(argv[2]);
    if (S < 32 || S % 8 || reps < 1) {
        fprintf(stderr, "inspect_bench: SIZE must be a multiple of 8 (>= 32), REPS >= 1\n");
        return 2;
    }
    char arch[2048], path[4200];
    fab_inspector_arch(arch, sizeof arch, S);
    mc_model *m;
    mc_error err;
    if (mc_model_create(&m, arch, &err) != MC_OK) {
        fprintf(stderr, "inspect_bench: %s\n", err.msg);
        return 1;
    }
    mc_rng *rng = mc_rng_create(1);
    mc_model_init(m, rng);
    float *x = malloc(sizeof(float) * (size_t)S * S);
    for (int i = 0; i < S * S; i++) x[i] = (float)mc_rng_normal(rng);
    /* one training-mode pass gives the batch norms running statistics of their own */
    const float *out;
    mc_model_forward(m, x, 1, 1, rng, &out);
    double ms_unfolded = time_forward(m, x, reps, &out);
    snprintf(path, sizeof path, "%s/inspect_bench.safetensors", argv[3]);
    mc_safetensors *f = NULL;
    mc_model *folded = NULL;
    if (mc_model_save(m, path, NULL, 0, NULL, 0, &err) != MC_OK || mc_safetensors_open(&f, path, &err) != MC_OK ||
        fab_inspector_fold(&folded, mc_model_arch(m), f, &err) != MC_OK) {
        fprintf(stderr, "inspect_bench: %s\n", err.msg);
        return 1;
    }
    double ms = time_forward(folded, x, reps, &out);
    int M = S / FAB_MAP_STRIDE;
    int bad = 0;
    snprintf(path, sizeof path, "%s/input.f32", argv[3]);
    bad |= bench_write_f32(path, x, (size_t)S * S);
    snprintf(path, sizeof path, "%s/output.f32", argv[3]);
    bad |= bench_write_f32(path, out, (size_t)M * M);
    if (bad) {
        fprintf(stderr, "inspect_bench: cannot write to %s\n", argv[3]);
        return 1;
    }
    printf("{\"case\": \"inspect%d\", \"size\": %d, \"ms\": %.4f, \"ms_unfolded\": %.4f, \"threads\": %d}\n", S, S, ms,
           ms_unfolded, omp_get_max_threads());
    mc_safetensors_close(f);
    mc_model_destroy(folded);
    mc_model_destroy(m);
    mc_rng_destroy(rng);
    free(x);
    return 0;
}
