/* regime_cache.h: the walk-forward regime fits kept in the database (fin_regime_fits), so that a
 * nightly run refits only when its schedule says so: a fit is found again by the symbol, the
 * walk's settings, the number of returns it was fitted on and a hash of those returns, and is
 * used only when all of them match. */
#ifndef MOE_FINANCE_REGIME_CACHE_H
#define MOE_FINANCE_REGIME_CACHE_H

#include <stdint.h>

#include "hmm.h"
#include "moecore/run.h"

/* The settings a fit depends on besides its data. */
typedef struct fin_regime_fit_key {
    const char *symbol;
    int states, min_days, restarts;
    unsigned long long seed;
    int returns;    /* the fit's returns: the first `returns` of the symbol */
    uint64_t hash;  /* fin_regime_hash of them */
} fin_regime_fit_key;

/* FNV-1a over the bytes of x (n doubles), continuing from h (FIN_REGIME_HASH_START for a new one),
 * so that the hash of a longer prefix goes on from a shorter one's. */
#define FIN_REGIME_HASH_START 14695981039346656037ull
uint64_t fin_regime_hash(uint64_t h, const double *x, int n);

/* 1 with *m the stored fit of key (free with fin_hmm_free), 0 when there is none (or it cannot be
 * read: the caller fits instead). */
int fin_regime_cache_get(mc_run *run, const fin_regime_fit_key *key, fin_hmm *m);

/* Keeps m as the fit of key in the run's database. A failure is only logged as a warning: the
 * result does not depend on the cache. */
void fin_regime_cache_put(mc_run *run, const fin_regime_fit_key *key, const fin_hmm *m);

#endif
