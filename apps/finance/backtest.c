/* backtest.c: the daily simulation of backtest.h. Per calendar day: orders decided at the last
 * close fill at the open (a position whose stop the open has gapped through is closed there
 * instead), stops fill intraday at their level, the book is marked at the close, and the new
 * targets are decided from the signals of that close. With fills at the next close, the held
 * position meets its stop during the day first and the order fills at the close. A target whose
 * stop the close has already crossed is published flat: the position would be stopped at once. */
#include "backtest.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "factors.h"

void fin_bt_config_default(fin_bt_config *c) {
    c->fill = FIN_FILL_NEXT_OPEN;
    fin_sizing_default(&c->sizing);
    c->ewma_lambda = 0.94;
    c->atr_days = 22;
    c->atr_mult = 3.0;
    c->max_loss = 0.10;
    c->max_gross = 1.0;
    c->rebalance_band = 0.05;
    c->cost_bps = 5.0;
    c->slippage_bps = 5.0;
}

void fin_bt_result_free(fin_bt_result *r) {
    if (!r) return;
    free(r->date);
    free(r->equity);
    free(r->benchmark);
    free(r->weight);
    free(r->stop);
    memset(r, 0, sizeof *r);
}

/* The state of one asset through the simulation. */
typedef struct {
    const fin_bt_asset *a;
    double *var;           /* (n) EWMA variance of daily log returns */
    double *chand_long;    /* (n) chandelier levels */
    double *chand_short;
    signed char *breakout; /* (n) +1 close above the highest high of the previous atr_days bars, -1 below the lowest low */
    int next;              /* next bar not yet reached */
    int last;              /* last bar reached (-1 before any) */
    double shares;         /* held, negative when short */
    double pending;        /* shares wanted, set at a close, filled at the next open */
    int has_pending;
    double stop;           /* level of the stop of the held position, NAN when none */
    double entry;          /* fill price of the position's entry */
    int blocked;           /* side (+1/-1) stopped out: not re-entered until the signal goes flat or
                            * reverses, or the price breaks out in that direction */
    double trade_cash;     /* cash flows of the open trade */
    double bh_base;        /* close at which buy-and-hold bought */
} asset_state;

static int side_of(double x) { return (x > 0) - (x < 0); }

typedef struct {
    const fin_bt_config *c;
    double cash, traded;
    int trades, wins;
} book;

/* Trades q shares (signed) of asset s at price px before slippage. */
static void trade(book *b, asset_state *s, double q, double px) {
    if (q == 0) return;
    double fill = px * (1 + side_of(q) * b->c->slippage_bps * 1e-4), notional = fabs(q) * fill;
    double flow = -q * fill - notional * b->c->cost_bps * 1e-4;
    b->cash += flow;
    b->traded += notional;
    s->trade_cash += flow;
    s->shares += q;
    if (fabs(s->shares) < 1e-12) s->shares = 0;
}

static void close_trade(book *b, asset_state *s, double mark) {
    double pnl = s->trade_cash + s->shares * mark;
    b->trades++;
    b->wins += pnl > 0;
    s->trade_cash = 0;
}

/* The stop of a new position on side (+1/-1) entered at entry after bar prev's close: the
 * chandelier level of that bar or the maximum-loss level, whichever is closer; NAN when neither. */
static double initial_stop(const fin_bt_config *c, const asset_state *s, int side, double entry, int prev) {
    double lv = prev >= 0 ? (side > 0 ? s->chand_long[prev] : s->chand_short[prev]) : NAN;
    double mv = c->max_loss > 0 ? entry * (1 - side * c->max_loss) : NAN;
    if (isnan(lv)) return mv;
    if (isnan(mv)) return lv;
    return side > 0 ? fmax(lv, mv) : fmin(lv, mv);
}

/* Moves asset s to q shares at price px (the bar's open), closing and opening trades on the way;
 * a new position gets its initial stop from bar prev. */
static void move_to(book *b, asset_state *s, double q, double px, int prev) {
    if (s->shares != 0 && side_of(q) != side_of(s->shares)) {
        trade(b, s, -s->shares, px);
        close_trade(b, s, px);
        s->stop = NAN;
    }
    if (s->shares == 0 && q != 0) {
        trade(b, s, q, px);
        s->entry = px * (1 + side_of(q) * b->c->slippage_bps * 1e-4);
        s->stop = initial_stop(b->c, s, side_of(q), s->entry, prev);
        return;
    }
    trade(b, s, q - s->shares, px);
}

/* Fills s's pending order at px (an open or a close), the stop of a new position from bar prev. The
 * stop the position would have after the fill: a price beyond it closes a held position there
 * (and blocks its side) or cancels an entry. */
static void fill_pending(book *b, asset_state *s, double px, int prev) {
    if (!s->has_pending) return;
    const fin_bt_config *c = b->c;
    double q = s->pending;
    int same = q != 0 && side_of(q) == side_of(s->shares);
    double fill = px * (1 + side_of(q) * c->slippage_bps * 1e-4);
    double level = same ? s->stop : q != 0 ? initial_stop(c, s, side_of(q), fill, prev) : NAN;
    if (q != 0 && !isnan(level) && (q > 0 ? px <= level : px >= level)) {
        if (same) s->blocked = side_of(q);
        q = 0;
    }
    move_to(b, s, q, px, prev);
    s->has_pending = 0;
}

/* A held position whose stop bar's range reaches is closed at the stop (its side blocked).
 * Returns 1 when it was. */
static int stop_intraday(book *b, asset_state *s, int bar) {
    const fin_prices *p = s->a->p;
    if (s->shares == 0 || isnan(s->stop) || !(s->shares > 0 ? p->low[bar] <= s->stop : p->high[bar] >= s->stop)) return 0;
    s->blocked = side_of(s->shares);
    trade(b, s, -s->shares, s->stop);
    close_trade(b, s, s->stop);
    s->stop = NAN;
    return 1;
}

/* The calendar: the sorted distinct dates of every asset within [start, end]. */
static int build_calendar(const fin_bt_asset *a, int n_assets, const char *start, const char *end, char (**out)[11]) {
    int total = 0;
    for (int i = 0; i < n_assets; i++) total += a[i].p->n;
    char(*d)[11] = malloc(sizeof *d * (size_t)(total > 0 ? total : 1));
    if (!d) return -1;
    int n = 0;
    for (int i = 0; i < n_assets; i++)
        for (int t = 0; t < a[i].p->n; t++) {
            const char *x = a[i].p->date[t];
            if ((start && strcmp(x, start) < 0) || (end && strcmp(x, end) > 0)) continue;
            memcpy(d[n++], x, 11);
        }
    qsort(d, (size_t)n, sizeof *d, (int (*)(const void *, const void *))strcmp);
    int m = 0;
    for (int t = 0; t < n; t++)
        if (m == 0 || strcmp(d[m - 1], d[t]) != 0) memmove(d[m++], d[t], 11);
    *out = d;
    return m;
}

static int prepare_asset(const fin_bt_config *c, const fin_bt_asset *a, asset_state *s) {
    const fin_prices *p = a->p;
    int n = p->n;
    memset(s, 0, sizeof *s);
    s->a = a;
    s->last = -1;
    s->stop = NAN;
    s->var = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    s->chand_long = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    s->chand_short = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    s->breakout = calloc((size_t)(n > 0 ? n : 1), 1);
    double *r = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    if (!s->var || !s->chand_long || !s->chand_short || !s->breakout || !r) {
        free(r);
        return -1;
    }
    for (int t = 0; t < n; t++) r[t] = t ? log(p->close[t] / p->close[t - 1]) : 0.0;
    /* r[0] is no return: the variance starts from bar 1 */
    if (n > 1) fin_ewma_variance(r + 1, n - 1, c->ewma_lambda, 20, s->var + 1);
    s->var[0] = NAN;
    free(r);
    for (int t = c->atr_days; t < n; t++) {
        double hi = -INFINITY, lo = INFINITY;
        for (int j = t - c->atr_days; j < t; j++) {
            hi = fmax(hi, p->high[j]);
            lo = fmin(lo, p->low[j]);
        }
        s->breakout[t] = (signed char)((p->close[t] > hi) - (p->close[t] < lo));
    }
    fin_series fs = {.n = n, .open = p->open, .high = p->high, .low = p->low, .close = p->close, .volume = p->volume};
    return fin_chandelier(&fs, c->atr_days, c->atr_mult, s->chand_long, s->chand_short);
}

int fin_backtest_run(const fin_bt_config *c, const fin_bt_asset *a, int n_assets, const char *start, const char *end,
                     fin_bt_result *out, char *err, size_t err_size) {
    memset(out, 0, sizeof *out);
    if (n_assets < 1) {
        snprintf(err, err_size, "no asset to simulate");
        return -1;
    }
    int T = build_calendar(a, n_assets, start, end, &out->date);
    if (T < 0) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    if (T < 2) {
        snprintf(err, err_size, "%d trading day%s between %s and %s: at least 2 are needed", T, T == 1 ? "" : "s",
                 start ? start : "the first date", end ? end : "the last date");
        fin_bt_result_free(out);
        return -1;
    }
    out->n_days = T;
    out->n_assets = n_assets;
    out->equity = malloc(sizeof(double) * (size_t)T);
    out->benchmark = malloc(sizeof(double) * (size_t)T);
    out->weight = malloc(sizeof(double) * (size_t)T * (size_t)n_assets);
    out->stop = malloc(sizeof(double) * (size_t)T * (size_t)n_assets);
    asset_state *st = calloc((size_t)n_assets, sizeof *st);
    double *w = malloc(sizeof(double) * (size_t)n_assets), *ret = malloc(sizeof(double) * (size_t)T);
    int ok = out->equity && out->benchmark && out->weight && out->stop && st && w && ret;
    for (int i = 0; ok && i < n_assets; i++) ok = prepare_asset(c, &a[i], &st[i]) == 0;

    book b = {.c = c, .cash = 1.0};
    double prev_equity = 1.0;
    for (int t = 0; ok && t < T; t++) {
        const char *today = out->date[t];
        /* the open and the day: fills, then stops */
        for (int i = 0; i < n_assets; i++) {
            asset_state *s = &st[i];
            const fin_prices *p = s->a->p;
            while (s->next < p->n && strcmp(p->date[s->next], today) < 0) s->last = s->next++;
            if (s->next >= p->n || strcmp(p->date[s->next], today) != 0) continue;
            int bar = s->next++, prev = s->last;
            s->last = bar;
            if (t == 0) {
                s->bh_base = p->close[bar];
                continue;
            }
            if (c->fill == FIN_FILL_NEXT_OPEN) {
                fill_pending(&b, s, p->open[bar], prev);
                stop_intraday(&b, s, bar);
            } else {
                if (stop_intraday(&b, s, bar)) s->has_pending = 0; /* stopped out: no re-entry at the close */
                fill_pending(&b, s, p->close[bar], bar);
            }
        }
        /* the close: mark, benchmark, decide */
        double equity = b.cash, bench = 0;
        for (int i = 0; i < n_assets; i++) {
            asset_state *s = &st[i];
            const fin_prices *p = s->a->p;
            double close = s->last >= 0 ? p->close[s->last] : NAN;
            if (s->shares != 0) equity += s->shares * close;
            if (s->bh_base == 0 && s->last >= 0) s->bh_base = close; /* an asset that starts trading later */
            bench += s->bh_base > 0 ? close / s->bh_base / n_assets : 1.0 / n_assets;
        }
        out->equity[t] = equity;
        out->benchmark[t] = bench;
        if (t > 0) ret[t - 1] = equity / prev_equity - 1;
        prev_equity = equity;

        double gross = 0;
        for (int i = 0; i < n_assets; i++) {
            asset_state *s = &st[i];
            const fin_bt_asset *x = s->a;
            int bar = s->last;
            int traded_today = bar >= 0 && strcmp(x->p->date[bar], today) == 0;
            double wt = 0;
            if (traded_today) {
                double mu = x->forecast ? x->forecast[bar] / 100.0 / x->horizon : NAN;
                /* with a forecaster, no position before its first forecast */
                if (!x->forecast || !isnan(mu))
                    wt = fin_target_weight(&c->sizing, s->var[bar], mu, x->p_bull[bar], x->p_bear[bar], n_assets);
                int side = side_of(wt);
                if (s->blocked && (side != s->blocked || fabs(wt) < c->rebalance_band || s->breakout[bar] == s->blocked))
                    s->blocked = 0;
                if (s->blocked) wt = 0;
                if (s->shares != 0 && side == side_of(s->shares)) {
                    if (s->shares > 0 && !isnan(s->chand_long[bar])) s->stop = isnan(s->stop) ? s->chand_long[bar] : fmax(s->stop, s->chand_long[bar]);
                    if (s->shares < 0 && !isnan(s->chand_short[bar])) s->stop = isnan(s->stop) ? s->chand_short[bar] : fmin(s->stop, s->chand_short[bar]);
                }
            } else if (s->last >= 0) {
                wt = s->shares * x->p->close[s->last] / equity; /* no bar today: hold */
            }
            w[i] = wt;
            gross += fabs(wt);
        }
        double k = gross > c->max_gross ? c->max_gross / gross : 1.0;
        for (int i = 0; i < n_assets; i++) {
            asset_state *s = &st[i];
            const fin_prices *p = s->a->p;
            double wt = w[i] * k;
            out->weight[(size_t)t * n_assets + i] = wt;
            int traded_today = s->last >= 0 && strcmp(p->date[s->last], today) == 0;
            if (traded_today) {
                double close = p->close[s->last], now = s->shares * close / equity;
                int hold = side_of(wt) == side_of(s->shares) && wt != 0 && fabs(wt - now) < c->rebalance_band;
                s->pending = hold ? s->shares : wt * equity / close;
                s->has_pending = 1;
            }
            /* the stop for tomorrow: the held position's, or a new entry's from today's close; a
             * close already beyond it makes the target flat (a held position leaves, its side
             * blocked), so that no published position contradicts its own stop */
            int ps = s->has_pending ? side_of(s->pending) : side_of(s->shares);
            double level = ps == 0 ? NAN : ps == side_of(s->shares) ? s->stop : initial_stop(c, s, ps, p->close[s->last], s->last);
            if (traded_today && ps != 0 && !isnan(level) && (ps > 0 ? p->close[s->last] <= level : p->close[s->last] >= level)) {
                if (ps == side_of(s->shares)) s->blocked = ps;
                s->pending = 0;
                out->weight[(size_t)t * n_assets + i] = 0;
                level = NAN;
            }
            out->stop[(size_t)t * n_assets + i] = level;
        }
    }
    if (ok) {
        for (int i = 0; i < n_assets; i++)
            if (st[i].shares != 0) close_trade(&b, &st[i], st[i].a->p->close[st[i].last]);
        fin_performance_compute(ret, T - 1, &out->strategy);
        out->strategy.trades = b.trades;
        out->strategy.hit_rate = b.trades ? (double)b.wins / b.trades : NAN;
        double avg = 0;
        for (int t = 0; t < T; t++) avg += out->equity[t] / T;
        out->strategy.turnover = avg > 0 ? b.traded / avg * FIN_DAYS_PER_YEAR / (T - 1) : NAN;
        for (int t = 1; t < T; t++) ret[t - 1] = out->benchmark[t] / out->benchmark[t - 1] - 1;
        fin_performance_compute(ret, T - 1, &out->buy_and_hold);
        double scale = out->strategy.annual_vol > 0 ? out->buy_and_hold.annual_vol / out->strategy.annual_vol : NAN;
        for (int t = 1; t < T; t++) ret[t - 1] = scale * (out->equity[t] / out->equity[t - 1] - 1);
        fin_performance_compute(ret, T - 1, &out->at_bh_vol);
    }
    for (int i = 0; st && i < n_assets; i++) {
        free(st[i].var);
        free(st[i].chand_long);
        free(st[i].chand_short);
        free(st[i].breakout);
    }
    free(st);
    free(w);
    free(ret);
    if (!ok) {
        fin_bt_result_free(out);
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    return 0;
}
