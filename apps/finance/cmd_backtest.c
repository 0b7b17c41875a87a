/* cmd_backtest.c: `moe-finance backtest`: walk-forward regimes (and a trained forecaster when
 * given) drive sized positions with stops over one portfolio of every symbol given; the statistics
 * beside buy-and-hold as text or JSON, the per-day signals as CSV, a chart, database rows. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "book.h"
#include "commands.h"
#include "moecore/log.h"
#include "moecore/plot.h"

typedef struct {
    fin_book_opts book;
    const char *signals_out, *chart;
    int store;
} backtest_opts;

static const mc_option options[] = {
    FIN_BOOK_OPTIONS,
    {"signals-out", 0, "FILE", "CSV date,symbol,regime,p_bull,forecast,target_weight,stop; '-' for stdout", NULL},
    {"chart", 0, "FILE.png", "equity against buy-and-hold, bear regimes shaded, drawdowns below", NULL},
    {"store", 0, NULL, "store the statistics in the database (table fin_backtests)", NULL},
};
enum { N_OPTIONS = (int)(sizeof options / sizeof options[0]) };

static int on_option(const mc_ctx *ctx, void *user, int index, const char *arg) {
    backtest_opts *o = user;
    switch (index - FIN_BOOK_N_OPTIONS) {
    case 0: o->signals_out = arg; return 0;
    case 1: o->chart = arg; return 0;
    case 2: o->store = 1; return 0;
    default: return fin_book_on_option(ctx, &o->book, index, arg);
    }
}

static json_t *num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *perf_json(const fin_performance *p) {
    json_t *j = json_object();
    json_object_set_new(j, "days", json_integer(p->days));
    json_object_set_new(j, "total_return", num(p->total_return));
    json_object_set_new(j, "cagr", num(p->cagr));
    json_object_set_new(j, "annual_vol", num(p->annual_vol));
    json_object_set_new(j, "sharpe", num(p->sharpe));
    json_object_set_new(j, "sortino", num(p->sortino));
    json_object_set_new(j, "max_drawdown", num(p->max_drawdown));
    json_object_set_new(j, "calmar", num(p->calmar));
    json_object_set_new(j, "turnover", num(p->turnover));
    json_object_set_new(j, "hit_rate", num(p->hit_rate));
    json_object_set_new(j, "trades", json_integer(p->trades));
    return j;
}

static void print_text(const fin_bt_result *r, const fin_book *pf) {
    const fin_performance *s = &r->strategy, *h = &r->buy_and_hold;
    printf("backtest %s .. %s, %d days, %d symbol%s\n", r->date[0], r->date[r->n_days - 1], r->n_days, pf->n_assets,
           pf->n_assets == 1 ? "" : "s");
    printf("%-14s %12s %12s\n", "", "strategy", "buy-and-hold");
    printf("%-14s %11.2f%% %11.2f%%\n", "total return", 100 * s->total_return, 100 * h->total_return);
    printf("%-14s %11.2f%% %11.2f%%\n", "CAGR", 100 * s->cagr, 100 * h->cagr);
    printf("%-14s %11.2f%% %11.2f%%\n", "annual vol", 100 * s->annual_vol, 100 * h->annual_vol);
    printf("%-14s %12.3f %12.3f\n", "Sharpe", s->sharpe, h->sharpe);
    printf("%-14s %12.3f %12.3f\n", "Sortino", s->sortino, h->sortino);
    printf("%-14s %11.2f%% %11.2f%%\n", "max drawdown", 100 * s->max_drawdown, 100 * h->max_drawdown);
    printf("%-14s %12.3f %12.3f\n", "Calmar", s->calmar, h->calmar);
    printf("%-14s %12.2f\n", "turnover/year", s->turnover);
    printf("%-14s %11.1f%%\n", "hit rate", 100 * s->hit_rate);
    printf("%-14s %12d\n", "trades", s->trades);
}

/* The signals CSV: one row per day and symbol with a bar that day. */
static void write_signals(FILE *out, const fin_bt_result *r, const fin_book *pf) {
    int *next = calloc((size_t)pf->n_assets, sizeof *next);
    if (!next) return;
    for (int t = 0; t < r->n_days; t++)
        for (int i = 0; i < pf->n_assets; i++) {
            const fin_bt_asset *a = &pf->assets[i];
            while (next[i] < a->p->n && strcmp(a->p->date[next[i]], r->date[t]) < 0) next[i]++;
            if (next[i] >= a->p->n || strcmp(a->p->date[next[i]], r->date[t]) != 0) continue;
            int bar = next[i];
            double stop = r->stop[(size_t)t * pf->n_assets + i], fc = a->forecast ? a->forecast[bar] : NAN;
            fprintf(out, "%s,%s,%s,", r->date[t], a->p->symbol, fin_regime_of(a->p_bull[bar], a->p_bear[bar]));
            if (isfinite(a->p_bull[bar])) fprintf(out, "%.6f", a->p_bull[bar]);
            fputc(',', out);
            if (isfinite(fc)) fprintf(out, "%.6f", fc);
            fprintf(out, ",%.6f,", r->weight[(size_t)t * pf->n_assets + i]);
            if (isfinite(stop)) fprintf(out, "%.6f", stop);
            fputc('\n', out);
        }
    free(next);
}

static int draw_chart(const char *path, const fin_bt_result *r, const fin_book *pf, mc_error *err) {
    int T = r->n_days;
    double *x = malloc(sizeof(double) * (size_t)T), *dd = malloc(sizeof(double) * (size_t)T * 2);
    double *b0 = malloc(sizeof(double) * (size_t)T), *b1 = malloc(sizeof(double) * (size_t)T);
    int *next = calloc((size_t)pf->n_assets, sizeof *next);
    mc_status st = MC_ERR_NOMEM;
    if (!x || !dd || !b0 || !b1 || !next) {
        mc_error_set(err, MC_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    double peak[2] = {0, 0};
    int nb = 0, in_band = 0;
    for (int t = 0; t < T; t++) {
        x[t] = fin_decimal_year(r->date[t]);
        peak[0] = fmax(peak[0], r->equity[t]);
        peak[1] = fmax(peak[1], r->benchmark[t]);
        dd[t] = 100 * (r->equity[t] / peak[0] - 1);
        dd[T + t] = 100 * (r->benchmark[t] / peak[1] - 1);
        /* shaded where the symbols' mean filtered bear probability exceeds one half */
        double bear = 0;
        int n = 0;
        for (int i = 0; i < pf->n_assets; i++) {
            const fin_bt_asset *a = &pf->assets[i];
            while (next[i] + 1 < a->p->n && strcmp(a->p->date[next[i] + 1], r->date[t]) <= 0) next[i]++;
            int live = strcmp(a->p->date[next[i]], r->date[t]) <= 0 && strcmp(r->date[t], a->p->date[a->p->n - 1]) <= 0;
            if (live && isfinite(a->p_bear[next[i]])) {
                bear += a->p_bear[next[i]];
                n++;
            }
        }
        int is_bear = n > 0 && bear / n > 0.5;
        if (is_bear && !in_band) b0[nb] = x[t];
        if (!is_bear && in_band) b1[nb++] = x[t];
        in_band = is_bear;
    }
    if (in_band) b1[nb++] = x[T - 1];
    mc_plot_series eq[2] = {{"strategy", x, r->equity, T, 0}, {"buy and hold", x, r->benchmark, T, 0}};
    mc_plot_series dds[2] = {{NULL, x, dd, T, 0}, {NULL, x, dd + T, T, 0}};
    char title[160];
    snprintf(title, sizeof title, "%s%s: growth of 1, bear regimes shaded", pf->assets[0].p->symbol,
             pf->n_assets > 1 ? " and others" : "");
    mc_plot_panel panels[2] = {
        {.opts = {.title = title, .ylabel = "value", .band_x0 = b0, .band_x1 = b1, .n_bands = nb}, .series = eq, .n_series = 2, .weight = 2},
        {.opts = {.xlabel = "year", .ylabel = "drawdown %", .band_x0 = b0, .band_x1 = b1, .n_bands = nb}, .series = dds, .n_series = 2, .weight = 1},
    };
    st = mc_plot_panels(path, 1000, 700, panels, 2, err);
done:
    free(x);
    free(dd);
    free(b0);
    free(b1);
    free(next);
    return st == MC_OK ? 0 : -1;
}

int fin_cmd_backtest(mc_ctx *ctx, int argc, char **argv) {
    static const char description[] =
        "Simulates one portfolio of every symbol given: walk-forward HMM regimes and, with --model, the\n"
        "forecaster set volatility-targeted, Kelly-capped, regime-scaled weights; orders fill at the next\n"
        "open with costs and slippage; chandelier and maximum-loss stops fill intraday. Prints empyrical's\n"
        "statistics beside buy-and-hold on the same dates (docs/finance.md).";
    backtest_opts o = {0};
    int code;
    int first = fin_book_parse(ctx, description, options, N_OPTIONS, on_option, &o, &o.book, argc, argv, &code);
    if (first < 0) return code;

    fin_batch b;
    if (fin_batch_begin(&b, ctx, argv + first, argc - first, o.store, o.signals_out) != 0) return MC_EXIT_FAILURE;
    fin_book book;
    if (o.store) o.book.walk.cache = b.run; /* the regime fits are kept with the statistics */
    fin_book_open(&book, &b, &o.book);
    fin_bt_result r;
    int simulated = fin_book_simulate(&book, &b, &o.book, "backtest", &r) == 0;
    if (simulated) {
        mc_error err;
        if (b.csv) {
            fputs("date,symbol,regime,p_bull,forecast,target_weight,stop\n", b.csv);
            write_signals(b.csv, &r, &book);
        }
        if (o.chart && draw_chart(o.chart, &r, &book, &err) != 0) {
            mc_log_error("%s", err.msg);
            b.failure = err.code;
        }
        if (o.store && b.failure == MC_OK && fin_book_store_stats(b.run, &r, &book, &o.book) != 0) b.failure = MC_ERR_DB;
        if (ctx->json) {
            json_t *syms = json_array();
            for (int i = 0; i < book.n_assets; i++) json_array_append_new(syms, json_string(book.assets[i].p->symbol));
            mc_cli_print_json(json_pack("{s:o, s:s, s:s, s:o, s:o, s:o, s:o}", "symbols", syms, "first_date", r.date[0], "last_date",
                                        r.date[r.n_days - 1], "config", fin_book_config(&o.book), "strategy",
                                        perf_json(&r.strategy), "buy_and_hold", perf_json(&r.buy_and_hold), "strategy_at_bh_vol", perf_json(&r.at_bh_vol)));
        } else if (b.csv != stdout) {
            print_text(&r, &book);
        }
    }
    fin_bt_result_free(&r);
    fin_book_free(&book);
    return fin_batch_end(&b);
}
