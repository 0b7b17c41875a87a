/* factors.h: the factor library of moe-finance: the Qlib Alpha158 family and classic technical
 * indicators defined as R's TTR package computes them, over one symbol's daily bars. */
#ifndef MOE_FINANCE_FACTORS_H
#define MOE_FINANCE_FACTORS_H

/* One symbol's bars in date order, n >= 0. */
typedef struct fin_series {
    int n;
    const double *open, *high, *low, *close, *volume;
} fin_series;

/* Number of factors and their names ("KMID", "ROC5", ..., "rsi_14", "macd", ...), in output order. */
int fin_factor_count(void);
const char *fin_factor_name(int i);

/* Index of the factor called name, or -1. */
int fin_factor_index(const char *name);

/* out (n, fin_factor_count()) row-major: out[t * count + f] is factor f on bar t, NAN while its
 * window warms up (or where it is undefined, e.g. a zero division). Returns 0, or -1 when out of
 * memory or given NULL arrays with n > 0. */
int fin_factors_compute(const fin_series *s, double *out);

/* The same values for the bars from `from` on only, into out (n - from, fin_factor_count()), bit for
 * bit: every indicator and window still passes over every bar (one pass each), only the rows asked
 * for are written. Returns 0 (nothing written when from >= n), or -1 as fin_factors_compute or on
 * from < 0. */
int fin_factors_compute_from(const fin_series *s, int from, double *out);

/* Chandelier exit levels over w bars (LeBeau): long_stop[t] = highest high - mult * ATR(w) and
 * short_stop[t] = lowest low + mult * ATR(w), ATR with Wilder's smoothing of the true range as
 * TTR's ATR; NAN until bar w. Returns 0, or -1 when out of memory or given bad arguments. */
int fin_chandelier(const fin_series *s, int w, double mult, double *long_stop, double *short_stop);

#endif
