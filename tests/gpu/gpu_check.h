/* gpu_check.h: what the GPU tests share: the skip when there is no device (exit 77), random
 * inputs, host/device copies that count failures instead of aborting, and the comparison of a
 * device result with the CPU reference by normalised mean squared error and largest absolute
 * error, printed one line per check. */
#ifndef MOECORE_TESTS_GPU_CHECK_H
#define MOECORE_TESTS_GPU_CHECK_H

#include <stdint.h>

#include "moecore/cuda.h"
#include "moecore/rng.h"

/* A context on device 0, or exit(77) with the reason when there is no device; exit(1) when a
 * device exists but the context cannot be made. */
mc_cuda_ctx *gc_gpu_open(const char *test);

/* Failures so far (checks that did not hold, device calls that failed). */
extern int gc_failures;

/* Counts a failed status with the context's message; returns st == MC_OK. */
int gc_ok(mc_cuda_ctx *c, mc_status st, const char *what);

/* n floats uniform in [lo, hi). */
void gc_uniform(float *v, int64_t n, float lo, float hi, mc_rng *rng);

/* Device copies of host arrays and back (a failure is counted and gives NULL / leaves dst). */
float *gc_up(mc_cuda_ctx *c, const float *h, int64_t n);
void *gc_up_bytes(mc_cuda_ctx *c, const void *h, size_t bytes);
float *gc_zeros(mc_cuda_ctx *c, int64_t n);
void gc_down(mc_cuda_ctx *c, float *h, const float *d, int64_t n);

/* Compares got (device result brought back) with want (CPU): NMSE = sum (got - want)^2 /
 * sum want^2 and max |got - want|; passes when nmse <= nmse_tol and max <= max_tol. Prints
 * "ok|FAIL name nmse=.. max=.. (tolerances)". Returns 1 when it passed. */
int gc_compare(const char *name, const float *got, const float *want, int64_t n, double nmse_tol, double max_tol);

/* Compares two scalars by relative error. */
int gc_compare_scalar(const char *name, double got, double want, double rel_tol);

/* Prints the summary line and returns the exit status (0 or 1). */
int gc_finish(const char *test);

#endif
