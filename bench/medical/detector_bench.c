/* detector_bench.c: the forward pass of moe-medical's nodule detector (a trained model file, in
 * evaluation mode as detect runs it) on a batch of two-channel 24^3 patches, timed; the patches and
 * the network's outputs are written to OUT_DIR so that torch_detector.py runs the same weights on the
 * same patches in PyTorch, checks the outputs and times it in the same run (bench/medical/run.sh).
 * The patches are cut from a generated chest CT volume (a lung with blobs and tubes) around random
 * points, through med_patch_input, so they look like what detect feeds the network.
 * Usage: detector_bench MODEL BATCH REPS OUT_DIR
 *   -> one JSON line {"case", "batch", "ms", "threads"} */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"
#include "detect/detector.h"

/* A 96^3 volume at 1 mm: lung (-850 HU) with 40 balls of 3-20 mm (solid or ground-glass) and 30
 * straight vessels, from rng. */
static med_volume *lung_volume(mc_rng *rng) {
    enum { N = 96 };
    const double sp[3] = {1, 1, 1}, org[3] = {0, 0, 0}, dir[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
    med_volume *v = med_volume_new(N, N, N, sp, org, dir, -850.0f);
    if (!v) return NULL;
    for (int b = 0; b < 70; b++) {
        double c[3], e[3], r = b < 40 ? 1.5 + 8.5 * mc_rng_uniform(rng) : 1 + 2 * mc_rng_uniform(rng);
        for (int a = 0; a < 3; a++) c[a] = N * mc_rng_uniform(rng), e[a] = mc_rng_normal(rng);
        double len = sqrt(e[0] * e[0] + e[1] * e[1] + e[2] * e[2]);
        float hu = b < 40 && mc_rng_uniform(rng) < 0.3 ? -550.0f : 40.0f;
        for (int k = 0; k < N; k++)
            for (int j = 0; j < N; j++)
                for (int i = 0; i < N; i++) {
                    double d[3] = {i - c[0], j - c[1], k - c[2]};
                    if (b >= 40) { /* a vessel: distance to the line through c along e */
                        double t = (d[0] * e[0] + d[1] * e[1] + d[2] * e[2]) / len;
                        for (int a = 0; a < 3; a++) d[a] -= t * e[a] / len;
                    }
                    if (d[0] * d[0] + d[1] * d[1] + d[2] * d[2] <= r * r) v->hu[med_volume_index(v, i, j, k)] = hu;
                }
    }
    return v;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: detector_bench MODEL BATCH REPS OUT_DIR\n");
        return 2;
    }
    int batch = atoi(argv[2]), reps = atoi(argv[3]);
    if (batch < 1 || reps < 1) {
        fprintf(stderr, "detector_bench: BATCH and REPS must be positive\n");
        return 2;
    }
    mc_model *m;
    mc_error err;
    if (mc_model_load(&m, argv[1], NULL, &err) != MC_OK || med_detector_check(m, &err) != MC_OK) {
        fprintf(stderr, "detector_bench: %s: %s\n", argv[1], err.msg);
        return 1;
    }
    mc_rng *rng = mc_rng_create(1);
    med_volume *v = lung_volume(rng);
    float *x = malloc(sizeof *x * MED_INPUT_SIZE * (size_t)batch);
    double *t = malloc(sizeof *t * (size_t)reps);
    if (!v || !x || !t) {
        fprintf(stderr, "detector_bench: out of memory\n");
        return 1;
    }
    const double eye[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
    for (int i = 0; i < batch; i++) {
        double c[3] = {12 + 72 * mc_rng_uniform(rng), 12 + 72 * mc_rng_uniform(rng), 12 + 72 * mc_rng_uniform(rng)};
        med_patch_input(v, c, eye, x + MED_INPUT_SIZE * (size_t)i);
    }
    const float *out;
    for (int i = 0; i < 3; i++) mc_model_forward(m, x, batch, 0, NULL, &out);
    for (int i = 0; i < reps; i++) {
        double t0 = bench_now_ms();
        mc_model_forward(m, x, batch, 0, NULL, &out);
        t[i] = bench_now_ms() - t0;
    }
    double med = bench_median(t, reps);
    char path[4200];
    snprintf(path, sizeof path, "%s/input.f32", argv[4]);
    int bad = bench_write_f32(path, x, MED_INPUT_SIZE * (size_t)batch);
    snprintf(path, sizeof path, "%s/output.f32", argv[4]);
    bad |= bench_write_f32(path, out, (size_t)MED_HEADS * (size_t)batch);
    if (bad) {
        fprintf(stderr, "detector_bench: cannot write to %s\n", argv[4]);
        return 1;
    }
    printf("{\"case\": \"detector%d\", \"batch\": %d, \"ms\": %.4f, \"threads\": %d}\n", batch, batch, med,
           omp_get_max_threads());
    free(t);
    free(x);
    med_volume_free(v);
    mc_rng_destroy(rng);
    mc_model_destroy(m);
    return 0;
}
