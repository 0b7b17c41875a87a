/* bench_util.h: what every benchmark program of bench/ shares: a monotonic clock, the median of a
 * set of timings (the median rather than the mean: the machine may be shared) and raw float32 dumps
 * that the PyTorch side reads to check it computed the same. */
#ifndef MOESUITE_BENCH_UTIL_H
#define MOESUITE_BENCH_UTIL_H

#include <stddef.h>

/* Milliseconds of a monotonic clock. */
double bench_now_ms(void);

/* The median of v (n > 0), sorting v in place: afterwards v[0] is the minimum. */
double bench_median(double *v, int n);

/* Writes n floats to path; 0, or -1 when the file cannot be written. */
int bench_write_f32(const char *path, const float *v, size_t n);

#endif
