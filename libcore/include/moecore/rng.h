/* rng.h: the seeded random generator that every random choice draws from (weight initialisation,
 * dropout masks, noisy routing, shuffling, augmentation). Never global state: callers pass one in.
 * Backed by GSL's MT19937; its state can be saved and restored for exact resume. */
#ifndef MOECORE_RNG_H
#define MOECORE_RNG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mc_rng mc_rng;

/* A generator seeded with seed; NULL when out of memory. Owned by the caller. */
mc_rng *mc_rng_create(uint64_t seed);
void mc_rng_destroy(mc_rng *r); /* accepts NULL */

double mc_rng_uniform(mc_rng *r);              /* in [0, 1) */
double mc_rng_normal(mc_rng *r);               /* standard normal */
uint64_t mc_rng_below(mc_rng *r, uint64_t n);  /* uniform in [0, n), n >= 1 */
void mc_rng_shuffle(mc_rng *r, int *v, int n); /* Fisher-Yates */

/* The generator's state as bytes, for checkpoints: size, a pointer to it, and restoring it. */
size_t mc_rng_state_size(const mc_rng *r);
const void *mc_rng_state(const mc_rng *r);
int mc_rng_set_state(mc_rng *r, const void *state, size_t size); /* 0, or -1 on a size mismatch */

#ifdef __cplusplus
}
#endif
#endif
