/* peak_flops.c: the machine's single-precision ceiling, the yardstick of the MoE layer's figures in
 * docs/benchmarks.md. Prints one JSON line with
 *   fma_gflops:   the FMA throughput of AVX-512 (or AVX2 when the CPU lacks it) on all threads: every
 *                 thread runs independent chains of fused multiply-adds on registers, no memory
 *                 traffic, so this is the arithmetic peak no kernel can pass;
 *   sgemm_gflops: OpenBLAS's cblas_sgemm on square matrices of N (default 2048), best of REPS runs,
 *                 what a well-tuned GEMM reaches in practice.
 * Threads: OMP_NUM_THREADS, as for the other benchmarks.
 * Usage: bench/peak_flops [N] [REPS] */
#include <cblas.h>
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"

#define CHAINS 12 /* independent accumulators per thread: more than latency x pipes on current cores */

/* FLOPs done by one thread in iters rounds of CHAINS fused multiply-adds of `lanes` floats; the sum
 * of the results goes to *sink so that the compiler keeps the work. */
__attribute__((target("avx512f"))) static double fma_avx512(long iters, float *sink) {
    __m512 acc[CHAINS];
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_set1_ps((float)c);
    for (long i = 0; i < iters; i++)
        for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
    float s = 0;
    for (int c = 0; c < CHAINS; c++) s += _mm512_reduce_add_ps(acc[c]);
    *sink = s;
    return 2.0 * 16 * CHAINS * (double)iters;
}

__attribute__((target("avx2,fma"))) static double fma_avx2(long iters, float *sink) {
    __m256 acc[CHAINS];
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_set1_ps((float)c);
    for (long i = 0; i < iters; i++)
        for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
    float lanes[8], s = 0;
    for (int c = 0; c < CHAINS; c++) {
        _mm256_storeu_ps(lanes, acc[c]);
        for (int l = 0; l < 8; l++) s += lanes[l];
    }
    *sink = s;
    return 2.0 * 8 * CHAINS * (double)iters;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 2048, reps = argc > 2 ? atoi(argv[2]) : 5;
    if (n < 64 || reps < 1) {
        fprintf(stderr, "usage: peak_flops [N >= 64] [REPS >= 1]\n");
        return 2;
    }
    __builtin_cpu_init();
    int avx512 = __builtin_cpu_supports("avx512f");
    const long iters = 200000000L / CHAINS;
    double best_fma = 0;
    float sink = 0;
    for (int r = 0; r < 3; r++) {
        double flops = 0, t0 = bench_now_ms();
#pragma omp parallel reduction(+ : flops)
        {
            float s;
            flops += avx512 ? fma_avx512(iters, &s) : fma_avx2(iters, &s);
#pragma omp atomic
            sink += s;
        }
        double g = flops / ((bench_now_ms() - t0) * 1e6);
        if (g > best_fma) best_fma = g;
    }
    size_t nn = (size_t)n * (size_t)n;
    float *a = malloc(nn * sizeof *a), *b = malloc(nn * sizeof *b), *c = malloc(nn * sizeof *c);
    if (!a || !b || !c) {
        fprintf(stderr, "peak_flops: out of memory for N = %d\n", n);
        return 1;
    }
    for (size_t i = 0; i < nn; i++) {
        a[i] = (float)((i * 7 + 3) % 17) / 17.0f;
        b[i] = (float)((i * 5 + 1) % 13) / 13.0f;
    }
    double best_gemm = 0;
    for (int r = 0; r < reps + 1; r++) {
        double t0 = bench_now_ms();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double g = 2.0 * n * (double)n * n / ((bench_now_ms() - t0) * 1e6);
        if (r > 0 && g > best_gemm) best_gemm = g; /* the first run warms up */
    }
    printf("{\"threads\":%d,\"isa\":\"%s\",\"fma_gflops\":%.1f,\"sgemm_n\":%d,\"sgemm_gflops\":%.1f,\"sink\":%g}\n",
           omp_get_max_threads(), avx512 ? "avx512" : "avx2", best_fma, n, best_gemm, (double)(sink + c[nn / 2]));
    free(a);
    free(b);
    free(c);
    return 0;
}
