/* test_backtest.c: moe-finance's performance statistics against empyrical's definitions worked
 * with numpy, the sizing rules on hand-worked cases, and the simulation on made-up bars whose
 * equity can be followed by hand: next-open fills, commissions, the rebalancing band, an intraday
 * maximum-loss stop, the block on re-entry and its release. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backtest.h"
#include "performance.h"
#include "sizing.h"
#include "assert_double.h"

static void test_performance_matches_empyrical(void **state) {
    (void)state;
    /* numpy: v = cumprod(1 + r); cagr = v[-1] ** (252 / 5) - 1; vol = r.std(ddof=1) * sqrt(252);
     * sharpe = r.mean() / r.std(ddof=1) * sqrt(252); sortino = r.mean() * 252 /
     * (sqrt(mean(min(r, 0) ** 2)) * sqrt(252)); drawdown over [1, v...]. */
    const double r[5] = {0.1, -0.05, 0.02, -0.1, 0.04};
    fin_performance p;
    fin_performance_compute(r, 5, &p);
    assert_int_equal(p.days, 5);
    assert_double_equal(p.total_return, -0.0023176000000000307, 1e-12);
    assert_double_equal(p.cagr, -0.11036374807059468, 1e-12);
    assert_double_equal(p.annual_vol, 1.2418695583675448, 1e-12);
    assert_double_equal(p.sharpe, 0.40583972495671394, 1e-12);
    assert_double_equal(p.sortino, 0.6349803146555018, 1e-12);
    assert_double_equal(p.max_drawdown, -0.1279, 1e-12);
    assert_double_equal(p.calmar, -0.862890915329121, 1e-12);
    /* a first-day loss counts as a drawdown from the starting value */
    const double down[2] = {-0.2, 0.1};
    fin_performance_compute(down, 2, &p);
    assert_double_equal(p.max_drawdown, -0.2, 1e-15);
    /* no losing day: Sortino and Calmar undefined, not infinite */
    const double up[3] = {0.01, 0.02, 0.0};
    fin_performance_compute(up, 3, &p);
    assert_true(isnan(p.sortino));
    assert_true(isnan(p.calmar));
    assert_double_equal(p.max_drawdown, 0.0, 0.0);
}

static void test_sizing_rules(void **state) {
    (void)state;
    fin_sizing s;
    fin_sizing_default(&s);
    double var = 1e-4, v = 0.15 / (sqrt(252.0) * 0.01); /* 0.9449 */
    /* volatility targeting, bull: the whole vol weight */
    assert_double_equal(fin_target_weight(&s, var, NAN, 1.0, 0.0, 1), v, 1e-12);
    /* two assets share the risk budget: / sqrt(2) */
    assert_double_equal(fin_target_weight(&s, var, NAN, 1.0, 0.0, 2), v / sqrt(2.0), 1e-12);
    /* regime mix: 1 * 0.2 + 0.5 * 0.5 + 0 * 0.3 */
    assert_double_equal(fin_target_weight(&s, var, NAN, 0.2, 0.3, 1), v * 0.45, 1e-12);
    /* half Kelly 0.5 * 1e-4 / 1e-4 = 0.5 is below the vol weight; 5e-4 gives 2.5, above it */
    assert_double_equal(fin_target_weight(&s, var, 1e-4, 1.0, 0.0, 1), 0.5, 1e-12);
    assert_double_equal(fin_target_weight(&s, var, 5e-4, 1.0, 0.0, 1), v, 1e-12);
    /* a negative forecast is flat when long/flat, short (bear scale mirrored) when long/short */
    assert_double_equal(fin_target_weight(&s, var, -1e-4, 0.0, 1.0, 1), 0.0, 0.0);
    s.long_short = 1;
    assert_double_equal(fin_target_weight(&s, var, -1e-4, 0.0, 1.0, 1), -0.5, 1e-12);
    assert_double_equal(fin_target_weight(&s, var, -1e-4, 1.0, 0.0, 1), 0.0, 0.0);
    /* the leverage cap and missing inputs */
    s.max_leverage = 0.3;
    assert_double_equal(fin_target_weight(&s, var, NAN, 1.0, 0.0, 1), 0.3, 1e-15);
    assert_double_equal(fin_target_weight(&s, NAN, NAN, 1.0, 0.0, 1), 0.0, 0.0);
    assert_double_equal(fin_target_weight(&s, var, NAN, NAN, 0.0, 1), 0.0, 0.0);
    /* EWMA: the mean square of the warm-up, then the recursion */
    const double r[4] = {0.01, -0.03, 0.02, 0.0};
    double out[4];
    fin_ewma_variance(r, 4, 0.9, 2, out);
    assert_true(isnan(out[0]));
    assert_double_equal(out[1], (1e-4 + 9e-4) / 2, 1e-15);
    assert_double_equal(out[2], 0.9 * 5e-4 + 0.1 * 4e-4, 1e-15);
    assert_double_equal(out[3], 0.9 * out[2], 1e-15);
}

/* Bars rising 1% a day from 100: close_t = 100 * 1.01^t, open_t = close_{t-1} * 1.002. */
enum { N_BARS = 40 };
typedef struct {
    fin_prices p;
    char date[N_BARS][11];
    double open[N_BARS], high[N_BARS], low[N_BARS], close[N_BARS], volume[N_BARS];
    double bull[N_BARS], bear[N_BARS];
} market;

static void make_market(market *m) {
    memset(m, 0, sizeof *m);
    for (int t = 0; t < N_BARS; t++) {
        snprintf(m->date[t], sizeof m->date[t], "2020-%02u-%02u", (unsigned)(1 + t / 28) % 100u, (unsigned)(1 + t % 28) % 100u);
        m->close[t] = 100 * pow(1.01, t);
        m->open[t] = t ? m->close[t - 1] * 1.002 : 100;
        m->high[t] = fmax(m->open[t], m->close[t]) * 1.001;
        m->low[t] = fmin(m->open[t], m->close[t]) * 0.999;
        m->volume[t] = 1000;
        m->bull[t] = 1;
        m->bear[t] = 0;
    }
    snprintf(m->p.symbol, sizeof m->p.symbol, "TEST");
    m->p.n = N_BARS;
    m->p.date = m->date;
    m->p.open = m->open;
    m->p.high = m->high;
    m->p.low = m->low;
    m->p.close = m->close;
    m->p.volume = m->volume;
}

/* Full investment (the leverage cap binds), no stops, no costs, rebalanced every day. */
static void plain_config(fin_bt_config *c) {
    fin_bt_config_default(c);
    c->sizing.target_vol = 5;
    c->sizing.max_leverage = 1;
    c->atr_mult = 100;
    c->max_loss = 0;
    c->cost_bps = 0;
    c->slippage_bps = 0;
    c->rebalance_band = 0;
}

static void run(const fin_bt_config *c, market *m, fin_bt_result *r) {
    fin_bt_asset a = {.p = &m->p, .p_bull = m->bull, .p_bear = m->bear, .forecast = NULL, .horizon = 1};
    char err[200];
    assert_int_equal(fin_backtest_run(c, &a, 1, m->date[20], NULL, r, err, sizeof err), 0);
}

static void test_next_open_fills_and_rebalancing(void **state) {
    (void)state;
    market *m = malloc(sizeof *m);
    make_market(m);
    fin_bt_config c;
    plain_config(&c);
    fin_bt_result r;
    run(&c, m, &r);
    assert_int_equal(r.n_days, N_BARS - 20);
    /* bar 20 is the first with a variance: weight 1 decided at its close, bought at the next open
     * (0.2% above that close): cash -0.002, then the position gains 1% */
    assert_double_equal(r.equity[0], 1.0, 0);
    assert_double_equal(r.weight[0], 1.0, 1e-15);
    assert_double_equal(r.equity[1], 1.008, 1e-12);
    /* rebalanced at the next open to 1.008 of stock: sells 0.002/close21 shares at close21 * 1.002 */
    assert_double_equal(r.equity[2], -0.002 + 0.002 * 1.002 + 1.008 * 1.01, 1e-12);
    /* buy-and-hold from the close of bar 20 */
    assert_double_equal(r.benchmark[5], pow(1.01, 5), 1e-12);
    assert_double_equal(r.buy_and_hold.total_return, pow(1.01, N_BARS - 21) - 1, 1e-12);
    assert_int_equal(r.strategy.trades, 1);
    fin_bt_result_free(&r);

    /* 10 bp commission on the first fill: 0.001 * open21 / close20 */
    c.cost_bps = 10;
    run(&c, m, &r);
    assert_double_equal(r.equity[1], 1.008 - 0.001 * 1.002, 1e-12);
    fin_bt_result_free(&r);
    free(m);
}

static void test_stop_block_and_release(void **state) {
    (void)state;
    market *m = malloc(sizeof *m);
    make_market(m);
    /* bar 26 opens 1% down and trades down to 15% below the previous close */
    double c25 = m->close[25];
    m->open[26] = c25 * 0.99;
    m->low[26] = c25 * 0.85;
    m->close[26] = c25 * 0.86;
    m->high[26] = m->open[26] * 1.001;
    for (int t = 27; t < N_BARS; t++) {
        m->close[t] = m->close[t - 1] * 1.01;
        m->open[t] = m->close[t - 1] * 1.002;
        m->high[t] = fmax(m->open[t], m->close[t]) * 1.001;
        m->low[t] = fmin(m->open[t], m->close[t]) * 0.999;
    }
    /* the signal goes flat on bar 32 only (the bear regime scales the weight to 0) */
    m->bull[32] = 0;
    m->bear[32] = 1;
    fin_bt_config c;
    plain_config(&c);
    c.max_loss = 0.10;
    c.rebalance_band = 0.5; /* holds the shares bought at bar 21's open */
    fin_bt_result r;
    run(&c, m, &r);
    double c20 = m->close[20], entry = c20 * 1.002, stop = entry * 0.9;
    assert_double_equal(r.stop[0], c20 * 0.9, 1e-9); /* the planned stop from bar 20's close */
    assert_double_equal(r.stop[5], stop, 1e-9);
    assert_double_equal(r.equity[5], -0.002 + c25 / c20, 1e-12);
    /* out at the stop level during bar 26 */
    assert_double_equal(r.equity[6], -0.002 + stop / c20, 1e-12);
    /* blocked from re-entering while the signal stays long and no breakout comes */
    for (int t = 26; t < 32; t++) assert_double_equal(r.weight[t - 20], 0.0, 0.0);
    assert_double_equal(r.equity[11], r.equity[6], 1e-15);
    /* the flat day releases the block: long again from bar 33's close */
    assert_double_equal(r.weight[32 - 20], 0.0, 0.0);
    assert_double_equal(r.weight[33 - 20], 1.0, 1e-15);
    assert_true(r.equity[N_BARS - 21] > r.equity[13]);
    assert_int_equal(r.strategy.trades, 2);
    assert_double_equal(r.strategy.hit_rate, 0.5, 1e-15);
    fin_bt_result_free(&r);
    free(m);
}

/* Fills at the next close: the shares decided at bar 20's close (1 / close20) are bought at bar
 * 21's close, 1% dearer, so the first day earns nothing and the book holds 1.01 of stock on 1 of
 * equity through the second day (gaining 1.01%). */
static void test_next_close_fills(void **state) {
    (void)state;
    market *m = malloc(sizeof *m);
    make_market(m);
    fin_bt_config c;
    plain_config(&c);
    c.fill = FIN_FILL_NEXT_CLOSE;
    fin_bt_result r;
    run(&c, m, &r);
    assert_double_equal(r.equity[1], 1.0, 1e-12);
    assert_double_equal(r.equity[2], 1.0101, 1e-12);
    assert_double_equal(r.weight[1], 1.0, 1e-15);
    fin_bt_result_free(&r);
    /* a stop reached during the day closes the held position there, and the order of the day
     * before (still long) does not buy it back at the close */
    double c25 = m->close[25];
    m->low[26] = c25 * 0.85;
    m->close[26] = c25 * 0.86;
    m->open[26] = c25;
    m->high[26] = c25 * 1.001;
    c.max_loss = 0.10;
    c.rebalance_band = 0.5;
    run(&c, m, &r);
    /* 1 / close20 shares bought at close21 (cash -0.01), sold at 10% below that fill */
    assert_double_equal(r.equity[6], 1.01 * 0.9 - 0.01, 1e-12);
    /* flat through bar 27, whose close breaks out above the highs and re-enters at bar 28's close */
    assert_double_equal(r.equity[7], r.equity[6], 1e-15);
    assert_double_equal(r.equity[8], r.equity[6], 1e-15);
    assert_true(r.weight[7] > 0);
    assert_int_equal(r.strategy.trades, 2);
    fin_bt_result_free(&r);
    free(m);
}

/* No published target contradicts its stop: a close below the stop of a held long makes the
 * target flat, with no stop, instead of a long the next open would stop out. */
static void test_target_agrees_with_stop(void **state) {
    (void)state;
    market *m = malloc(sizeof *m);
    make_market(m);
    fin_bt_config c;
    plain_config(&c);
    c.atr_days = 5;
    c.atr_mult = 1;
    c.rebalance_band = 0.5;
    /* a steady rise, then a bar whose close is below the chandelier level raised at that close
     * (highest high - 1 ATR) while its low stayed above the stop in force before it */
    for (int t = 0; t < N_BARS; t++) {
        m->high[t] = m->close[t] * 1.001;
        m->low[t] = m->close[t] * 0.999;
        m->open[t] = m->close[t];
    }
    fin_bt_result r;
    run(&c, m, &r);
    for (int t = 0; t < r.n_days; t++) {
        double w = r.weight[t], s = r.stop[t], close = m->close[20 + t];
        if (w > 0) assert_true(!isnan(s) && s < close);
    }
    fin_bt_result_free(&r);
    /* bar 30 spikes 5% above the last close and closes 0.4% below it: its low stays above the stop
     * in force (about 1% below the last close), but the level raised at its close, the new high
     * minus one ATR, lies above that close */
    m->open[30] = m->close[29];
    m->high[30] = m->close[29] * 1.05;
    m->low[30] = m->close[29] * 0.995;
    m->close[30] = m->close[29] * 0.996;
    run(&c, m, &r);
    int flat = 0;
    for (int t = 0; t < r.n_days; t++) {
        double w = r.weight[t], s = r.stop[t], close = m->close[20 + t];
        if (w > 0) assert_true(!isnan(s) && s < close);
        flat += t == 10 && w == 0 && isnan(s);
    }
    assert_int_equal(flat, 1);
    fin_bt_result_free(&r);
    free(m);
}

static void test_bad_ranges(void **state) {
    (void)state;
    market *m = malloc(sizeof *m);
    make_market(m);
    fin_bt_config c;
    plain_config(&c);
    fin_bt_asset a = {.p = &m->p, .p_bull = m->bull, .p_bear = m->bear, .horizon = 1};
    fin_bt_result r;
    char err[200];
    assert_int_equal(fin_backtest_run(&c, &a, 1, "2030-01-01", NULL, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "0 trading days"));
    assert_int_equal(fin_backtest_run(&c, &a, 0, NULL, NULL, &r, err, sizeof err), -1);
    free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_performance_matches_empyrical),
        cmocka_unit_test(test_sizing_rules),
        cmocka_unit_test(test_next_open_fills_and_rebalancing),
        cmocka_unit_test(test_stop_block_and_release),
        cmocka_unit_test(test_next_close_fills),
        cmocka_unit_test(test_target_agrees_with_stop),
        cmocka_unit_test(test_bad_ranges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
