/* regime_walk.h: walk-forward market regimes of one symbol: a Gaussian HMM on daily log returns
 * refitted on a fixed schedule over an expanding window, read through its filtered probabilities,
 * so that each bar's value uses only the data up to that bar's close. */
#ifndef MOE_FINANCE_REGIME_WALK_H
#define MOE_FINANCE_REGIME_WALK_H

#include <stddef.h>

#include "prices.h"

typedef struct fin_regime_walk {
    int states;        /* HMM states (2 or 3) */
    int first;         /* returns in the first fit (252: a year) */
    int refit;         /* bars between refits on the expanding window (252) */
    int restarts;      /* seeded restarts per fit (2) */
    unsigned long long seed;
} fin_regime_walk;

void fin_regime_walk_default(fin_regime_walk *w);

/* p_bull, p_bear (p->n): filtered probabilities of the bull and bear states of a Gaussian HMM on
 * the daily log return (%), fitted at bar `first` on every return up to it and refitted every
 * `refit` bars on all returns so far; bar t uses the model of the last fit at or before t, and the
 * forward pass of that model over returns up to t. NAN before the first fit. Returns 0, or -1 with
 * err (series too short, a fit that failed, out of memory). */
int fin_regime_walk_run(const fin_regime_walk *w, const fin_prices *p, double *p_bull, double *p_bear, char *err,
                        size_t err_size);

#endif
