/* backtest.h: the daily portfolio simulation of moe-finance. Signals known at a bar's close set
 * the target weights; orders fill at the next bar's open (or, as a choice, its close) with costs
 * and slippage; positions carry
 * an ATR chandelier trailing stop and a maximum-loss stop that fill intraday; the result is the
 * equity curve beside buy-and-hold on the same dates, with empyrical's statistics. */
#ifndef MOE_FINANCE_BACKTEST_H
#define MOE_FINANCE_BACKTEST_H

#include <stddef.h>

#include "performance.h"
#include "prices.h"
#include "sizing.h"

/* When an order decided at a close fills. */
typedef enum fin_fill {
    FIN_FILL_NEXT_OPEN,  /* the next bar's open (a price file of closes only, whose opens are the
                          * previous closes, fills there at the deciding close) */
    FIN_FILL_NEXT_CLOSE  /* the next bar's close: a full day after the decision */
} fin_fill;

typedef struct fin_bt_config {
    fin_fill fill;          /* FIN_FILL_NEXT_OPEN */
    fin_sizing sizing;
    double ewma_lambda;     /* EWMA decay of the variance (RiskMetrics 0.94) */
    int atr_days;           /* chandelier window: highest high (lowest low) and ATR over atr_days (22) */
    double atr_mult;        /* chandelier distance in ATRs (3) */
    double max_loss;        /* exit when the price moves this fraction against the entry (0.10; 0 off) */
    double max_gross;       /* cap on the sum of |weights| (1) */
    double rebalance_band;  /* keep a position while its weight is within this of the target (0.05) */
    double cost_bps;        /* commission on traded notional, basis points (5) */
    double slippage_bps;    /* fill price moved against the order, basis points (5) */
} fin_bt_config;

void fin_bt_config_default(fin_bt_config *c);

/* One asset: its bars and its signals per bar, each known at that bar's close (NAN where not yet
 * known). forecast (the forecaster's h-day log return, %) is NULL without a forecaster. */
typedef struct fin_bt_asset {
    const fin_prices *p;
    const double *p_bull, *p_bear;
    const double *forecast;
    int horizon;
} fin_bt_asset;

typedef struct fin_bt_result {
    int n_days, n_assets;
    char (*date)[11];     /* (n_days) the calendar: every date any asset has a bar, start..end */
    double *equity;       /* (n_days) strategy value at each close, 1 at the first */
    double *benchmark;    /* (n_days) equal-weight buy-and-hold bought at the first close */
    double *weight;       /* (n_days, n_assets) target weight decided at each close */
    double *stop;         /* (n_days, n_assets) stop level in force for the next day, NAN when none */
    fin_performance strategy, buy_and_hold;
    fin_performance at_bh_vol; /* the strategy's daily returns scaled by buy-and-hold's volatility over
                                * its own (constant leverage, no extra costs): its return at
                                * buy-and-hold's risk */
} fin_bt_result;

/* Simulates the assets from the first date >= start to the last date <= end (either may be NULL).
 * Returns 0, or -1 with err (no date in the range, fewer than 2 days, out of memory). */
int fin_backtest_run(const fin_bt_config *c, const fin_bt_asset *assets, int n_assets, const char *start,
                     const char *end, fin_bt_result *out, char *err, size_t err_size);

void fin_bt_result_free(fin_bt_result *r);

#endif
