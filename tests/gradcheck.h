/* gradcheck.h: central-difference gradient checks for the layer tests. A test writes a function
 * that runs the forward pass and returns a scalar loss L = sum(out * R) for a fixed random R (so that
 * dL/dout = R is what it feeds to backward); gc_check perturbs each checked element of a parameter
 * or input, recomputes L, and compares (L(x+h) - L(x-h)) / 2h with the analytic gradient. */
#ifndef MC_TESTS_GRADCHECK_H
#define MC_TESTS_GRADCHECK_H

#include <stdint.h>

#include "moecore/rng.h"

typedef double (*gc_loss_fn)(void *ctx);

/* Checks up to max_checks elements of x (n elements; all when n <= max_checks, else a seeded
 * random subset) against grad. Returns the largest error |a - d| / max(|a| + |d|, floor), where a is
 * analytic and d numerical. Prints the worst element when it exceeds tol (for diagnosis only:
 * the test asserts on the returned value). */
double gc_check(const char *what, float *x, const float *grad, int64_t n, gc_loss_fn loss, void *ctx,
                double h, double floor, int max_checks, double tol);

/* Fills v (n) with uniform values in [lo, hi). */
void gc_fill(float *v, int64_t n, float lo, float hi, mc_rng *rng);

/* sum(out * r) in double. */
double gc_dot(const float *out, const float *r, int64_t n);

#endif
