/* gpu_check.c: the helpers of the GPU tests (gpu_check.h). */
#include "gpu_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "moecore/device.h"

int gc_failures = 0;
static int checks = 0;

mc_cuda_ctx *gc_gpu_open(const char *test) {
    char why[256];
    if (mc_cuda_device_count() == 0) {
        mc_cuda_describe(why, sizeof why);
        printf("skip %s: %s\n", test, why);
        exit(77);
    }
    mc_cuda_describe(why, sizeof why);
    printf("device: %s\n", why);
    mc_cuda_ctx *c;
    mc_error err;
    if (mc_cuda_ctx_create(&c, 0, &err) != MC_OK) {
        printf("FAIL %s: context: %s\n", test, err.msg);
        exit(1);
    }
    return c;
}

int gc_ok(mc_cuda_ctx *c, mc_status st, const char *what) {
    if (st == MC_OK) return 1;
    gc_failures++;
    printf("FAIL %s: %s: %s\n", what, mc_status_str(st), c ? mc_cuda_error(c)->msg : "");
    return 0;
}

void gc_uniform(float *v, int64_t n, float lo, float hi, mc_rng *rng) {
    for (int64_t i = 0; i < n; i++) v[i] = lo + (hi - lo) * (float)mc_rng_uniform(rng);
}

void *gc_up_bytes(mc_cuda_ctx *c, const void *h, size_t bytes) {
    void *d = NULL;
    if (!gc_ok(c, mc_cuda_malloc(c, &d, bytes), "cuda malloc")) return NULL;
    if (h && !gc_ok(c, mc_cuda_to_device(c, d, h, bytes), "copy to device")) return d;
    if (!h) gc_ok(c, mc_cuda_memset(c, d, 0, bytes), "memset");
    return d;
}

float *gc_up(mc_cuda_ctx *c, const float *h, int64_t n) { return gc_up_bytes(c, h, (size_t)n * sizeof(float)); }

float *gc_zeros(mc_cuda_ctx *c, int64_t n) { return gc_up_bytes(c, NULL, (size_t)n * sizeof(float)); }

void gc_down(mc_cuda_ctx *c, float *h, const float *d, int64_t n) {
    gc_ok(c, mc_cuda_to_host(c, h, d, (size_t)n * sizeof(float)), "copy to host");
}

int gc_compare(const char *name, const float *got, const float *want, int64_t n, double nmse_tol, double max_tol) {
    double num = 0.0, den = 0.0, mx = 0.0;
    int finite = 1;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)got[i] - want[i];
        finite &= isfinite(got[i]) == isfinite(want[i]);
        num += d * d;
        den += (double)want[i] * want[i];
        if (fabs(d) > mx || isnan(d)) mx = fabs(d);
    }
    double nmse = den > 0 ? num / den : num;
    int pass = finite && nmse <= nmse_tol && mx <= max_tol;
    checks++;
    if (!pass) gc_failures++;
    printf("%s %s n=%lld nmse=%.3g (<= %.0e) max_err=%.3g (<= %.0e)\n", pass ? "ok" : "FAIL", name, (long long)n, nmse,
           nmse_tol, mx, max_tol);
    return pass;
}

int gc_compare_scalar(const char *name, double got, double want, double rel_tol) {
    double rel = fabs(got - want) / fmax(fabs(want), 1e-30);
    int pass = rel <= rel_tol;
    checks++;
    if (!pass) gc_failures++;
    printf("%s %s gpu=%.9g cpu=%.9g rel_err=%.3g (<= %.0e)\n", pass ? "ok" : "FAIL", name, got, want, rel, rel_tol);
    return pass;
}

int gc_finish(const char *test) {
    printf("%s: %d checks, %d failures\n", test, checks, gc_failures);
    return gc_failures ? 1 : 0;
}
