/* gradcheck.c: central-difference gradient checks for the layer tests. */
#include "gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

double gc_check(const char *what, float *x, const float *grad, int64_t n, gc_loss_fn loss, void *ctx,
                double h, double floor, int max_checks, double tol) {
    mc_rng *rng = mc_rng_create(12345);
    double worst = 0.0;
    int64_t worst_i = -1;
    double worst_a = 0.0, worst_d = 0.0;
    int checks = n <= max_checks ? (int)n : max_checks;
    for (int c = 0; c < checks; c++) {
        int64_t i = n <= max_checks ? c : (int64_t)mc_rng_below(rng, (uint64_t)n);
        float keep = x[i];
        x[i] = (float)(keep + h);
        double lp = loss(ctx);
        x[i] = (float)(keep - h);
        double lm = loss(ctx);
        x[i] = keep;
        double d = (lp - lm) / (2.0 * h);
        double a = grad[i];
        double err = fabs(a - d) / fmax(fabs(a) + fabs(d), floor);
        if (err > worst) {
            worst = err;
            worst_i = i;
            worst_a = a;
            worst_d = d;
        }
    }
    mc_rng_destroy(rng);
    if (worst > tol)
        fprintf(stderr, "gradcheck %s: worst element %lld: analytic %.6g numerical %.6g (error %.3g > %.3g)\n", what,
                (long long)worst_i, worst_a, worst_d, worst, tol);
    return worst;
}

void gc_fill(float *v, int64_t n, float lo, float hi, mc_rng *rng) {
    for (int64_t i = 0; i < n; i++) v[i] = lo + (hi - lo) * (float)mc_rng_uniform(rng);
}

double gc_dot(const float *out, const float *r, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)out[i] * (double)r[i];
    return s;
}
