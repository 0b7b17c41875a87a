/* rng.c: the seeded generator, on GSL's MT19937. */
#include "moecore/rng.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <stdlib.h>
#include <string.h>

struct mc_rng {
    gsl_rng *g;
};

mc_rng *mc_rng_create(uint64_t seed) {
    mc_rng *r = malloc(sizeof *r);
    if (!r) return NULL;
    r->g = gsl_rng_alloc(gsl_rng_mt19937);
    if (!r->g) {
        free(r);
        return NULL;
    }
    /* fold the 64-bit seed into MT19937's 32-bit seed */
    gsl_rng_set(r->g, (unsigned long)((seed ^ (seed >> 32)) & 0xffffffffu));
    return r;
}

void mc_rng_destroy(mc_rng *r) {
    if (!r) return;
    gsl_rng_free(r->g);
    free(r);
}

double mc_rng_uniform(mc_rng *r) { return gsl_rng_uniform(r->g); }

double mc_rng_normal(mc_rng *r) { return gsl_ran_gaussian_ziggurat(r->g, 1.0); }

uint64_t mc_rng_below(mc_rng *r, uint64_t n) {
    if (n <= gsl_rng_max(r->g)) return gsl_rng_uniform_int(r->g, (unsigned long)n);
    uint64_t hi = gsl_rng_get(r->g), lo = gsl_rng_get(r->g);
    return ((hi << 32) | lo) % n;
}

void mc_rng_shuffle(mc_rng *r, int *v, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)gsl_rng_uniform_int(r->g, (unsigned long)i + 1);
        int t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

size_t mc_rng_state_size(const mc_rng *r) { return gsl_rng_size(r->g); }

const void *mc_rng_state(const mc_rng *r) { return gsl_rng_state(r->g); }

int mc_rng_set_state(mc_rng *r, const void *state, size_t size) {
    if (size != gsl_rng_size(r->g)) return -1;
    memcpy(gsl_rng_state(r->g), state, size);
    return 0;
}
