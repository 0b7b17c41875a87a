/* regime_walk.h: walk-forward market regimes of one symbol: a Gaussian HMM on daily log returns
 * refitted on a fixed schedule over an expanding window, read through its filtered probabilities,
 * so that each bar's value uses only the data up to that bar's close. The labels of each refit
 * continue those of the fit before it (states matched by their parameters), so that a refit does
 * not rename the regimes. */
#ifndef MOE_FINANCE_REGIME_WALK_H
#define MOE_FINANCE_REGIME_WALK_H

#include <stddef.h>

#include "hmm.h"
#include "moecore/run.h"
#include "prices.h"

typedef struct fin_regime_walk {
    int states;        /* HMM states (2 or 3) */
    int first;         /* returns in the first fit (252: a year) */
    int refit;         /* bars between refits on the expanding window (252) */
    int restarts;      /* seeded restarts per fit (2) */
    int min_days;      /* shortest expected spell of a regime, in days (fin_hmm_options.min_stay = 1 - 1 / min_days) */
    unsigned long long seed;
    mc_run *cache;     /* a run whose database keeps the fits (regime_cache.h), or NULL */
} fin_regime_walk;

void fin_regime_walk_default(fin_regime_walk *w);

/* The HMM options of the walk's fits (states, restarts, seed, min_stay from min_days). */
void fin_regime_walk_hmm_options(const fin_regime_walk *w, fin_hmm_options *o);

/* What the walk knows besides the probabilities, for `regimes`: per bar the likeliest filtered state
 * (numbered as the first fit numbers them, -1 before it) and its probability, and the model in force
 * at the last bar with its labels (owned; fin_regime_detail_free). */
typedef struct fin_regime_detail {
    int *state;          /* (n) */
    double *p_state;     /* (n) */
    const char **label;  /* (n) the label of state[t] in the fit in force at t, NULL before the first fit */
    fin_hmm last;        /* states renumbered like state[] */
    const char *last_label[8];
    char last_fit[11];   /* the date of the last fit (its returns: last.T) */
    int fits;
} fin_regime_detail;

void fin_regime_detail_free(fin_regime_detail *d);

/* *bull, *bear = the probability mass of the states labelled bull and bear in p (K states). */
void fin_regime_mass(const double *p, int K, const char *const *label, double *bull, double *bear);

/* p_bull, p_bear (p->n): filtered probabilities of the bull and bear states of a Gaussian HMM on
 * the daily log return (%), fitted at bar `first` on every return up to it and refitted every
 * `refit` bars on all returns so far; bar t uses the model of the last fit at or before t, and the
 * forward pass of that model over returns up to t. NAN before the first fit. The first fit's
 * states are labelled by fin_hmm_label; every later fit's states are matched to the fit before
 * (fin_hmm_match) and keep their labels, unless those would rank a bull state below a bear one by
 * fin_hmm_label's measure, when that fit is labelled afresh. detail may be NULL; otherwise it is
 * filled (and must be freed even on failure). Returns 0, or -1 with err (series too short, a fit
 * that failed, out of memory). */
int fin_regime_walk_run(const fin_regime_walk *w, const fin_prices *p, double *p_bull, double *p_bear,
                        fin_regime_detail *detail, char *err, size_t err_size);

#endif
