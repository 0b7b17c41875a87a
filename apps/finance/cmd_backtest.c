/* cmd_backtest.c: `moe-finance backtest`: walk-forward regimes (and a trained forecaster when
 * given) drive sized positions with stops over one portfolio of every symbol given; the statistics
 * beside buy-and-hold as text or JSON, the per-day signals as CSV, a chart, database rows. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backtest.h"
#include "batch.h"
#include "commands.h"
#include "csv.h"
#include "moecore/log.h"
#include "moecore/plot.h"
#include "signals.h"

typedef struct {
    fin_bt_config bt;
    fin_regime_walk walk;
    const char *model, *start, *end, *signals_out, *chart;
    int store;
    fin_bad_rows policy;
} backtest_opts;

static const mc_option options[] = {
    {"model", 'm', "MODEL", "a forecaster from `moe-finance train`; without one, regimes alone time the trades", NULL},
    {"start", 0, "DATE", "first day (default: the first with signals, after the forecaster's training data)", NULL},
    {"end", 0, "DATE", "last day traded", NULL},
    {"long-short", 0, NULL, "allow short positions (default: long or flat)", NULL},
    {"target-vol", 0, "X", "annual volatility the book aims at", "0.15"},
    {"max-leverage", 0, "X", "largest |weight| of one asset", "1"},
    {"max-gross", 0, "X", "largest sum of |weights|", "1"},
    {"kelly", 0, "X", "fraction of the Kelly weight mu/sigma^2 with a forecaster (0: volatility targeting only)", "0.5"},
    {"regime-scale", 0, "B,S,B", "weight multipliers in bull, sideways and bear regimes", "1,0.5,0"},
    {"states", 0, "2|3", "regimes of the walk-forward HMM", "2"},
    {"refit", 0, "N", "days between refits of the regime model (expanding window)", "252"},
    {"atr-days", 0, "N", "chandelier stop window (highest high, ATR)", "22"},
    {"atr-mult", 0, "X", "chandelier stop distance in ATRs", "3"},
    {"max-loss", 0, "X", "stop at this fractional loss from the entry (0: off)", "0.10"},
    {"cost-bps", 0, "X", "commission, basis points of traded notional", "5"},
    {"slippage-bps", 0, "X", "fill price moved against each order, basis points", "5"},
    {"rebalance-band", 0, "X", "keep a position while its weight is within X of the target", "0.05"},
    {"signals-out", 0, "FILE", "CSV date,symbol,regime,p_bull,forecast,target_weight,stop; '-' for stdout", NULL},
    {"chart", 0, "FILE.png", "equity against buy-and-hold, bear regimes shaded, drawdowns below", NULL},
    {"store", 0, NULL, "store the statistics in the database (table fin_backtests)", NULL},
    {"bad-rows", 0, "reject|drop", "a bad price row rejects its file, or is dropped with a warning", "reject"},
};
enum { N_OPTIONS = (int)(sizeof options / sizeof options[0]) };

static int date_arg(const mc_ctx *ctx, const char *name, const char *arg, const char **out) {
    if (fin_date_days(arg) == INT_MIN || strlen(arg) != 10)
        return mc_cli_usage_error(ctx, "--%s expects a date YYYY-MM-DD, got '%s'", name, arg);
    *out = arg;
    return 0;
}

static int on_option(const mc_ctx *ctx, void *user, int index, const char *arg) {
    backtest_opts *o = user;
    fin_bt_config *c = &o->bt;
    long v;
    switch (index) {
    case 0: o->model = arg; return 0;
    case 1: return date_arg(ctx, "start", arg, &o->start);
    case 2: return date_arg(ctx, "end", arg, &o->end);
    case 3: c->sizing.long_short = 1; return 0;
    case 4: return mc_cli_real(ctx, "target-vol", arg, 1e-4, 5, &c->sizing.target_vol);
    case 5: return mc_cli_real(ctx, "max-leverage", arg, 0, 10, &c->sizing.max_leverage);
    case 6: return mc_cli_real(ctx, "max-gross", arg, 0, 10, &c->max_gross);
    case 7: return mc_cli_real(ctx, "kelly", arg, 0, 1, &c->sizing.kelly);
    case 8: {
        double s[3];
        char tail;
        if (sscanf(arg, "%lf,%lf,%lf%c", &s[0], &s[1], &s[2], &tail) != 3)
            return mc_cli_usage_error(ctx, "--regime-scale expects three numbers BULL,SIDEWAYS,BEAR, got '%s'", arg);
        for (int k = 0; k < 3; k++) {
            if (!(s[k] >= 0 && s[k] <= 1)) return mc_cli_usage_error(ctx, "--regime-scale: each multiplier lies in 0..1");
            c->sizing.scale[k] = s[k];
        }
        return 0;
    }
    case 9:
        if (mc_cli_int(ctx, "states", arg, 2, 3, &v) != 0) return -1;
        o->walk.states = (int)v;
        return 0;
    case 10:
        if (mc_cli_int(ctx, "refit", arg, 1, 100000, &v) != 0) return -1;
        o->walk.refit = (int)v;
        return 0;
    case 11:
        if (mc_cli_int(ctx, "atr-days", arg, 1, 1000, &v) != 0) return -1;
        c->atr_days = (int)v;
        return 0;
    case 12: return mc_cli_real(ctx, "atr-mult", arg, 0.1, 100, &c->atr_mult);
    case 13: return mc_cli_real(ctx, "max-loss", arg, 0, 0.99, &c->max_loss);
    case 14: return mc_cli_real(ctx, "cost-bps", arg, 0, 1000, &c->cost_bps);
    case 15: return mc_cli_real(ctx, "slippage-bps", arg, 0, 1000, &c->slippage_bps);
    case 16: return mc_cli_real(ctx, "rebalance-band", arg, 0, 1, &c->rebalance_band);
    case 17: o->signals_out = arg; return 0;
    case 18: o->chart = arg; return 0;
    case 19: o->store = 1; return 0;
    default: return fin_parse_bad_rows(ctx, arg, &o->policy);
    }
}

/* The portfolio being assembled: every symbol of every accepted file with its signals. */
typedef struct {
    fin_prices **files; /* the arrays read, freed at the end */
    int *file_n, n_files;
    fin_bt_asset *assets;
    int n_assets;
} portfolio;

static void portfolio_free(portfolio *pf) {
    for (int i = 0; i < pf->n_assets; i++) {
        free((void *)pf->assets[i].p_bull);
        free((void *)pf->assets[i].p_bear);
        free((void *)pf->assets[i].forecast);
    }
    for (int i = 0; i < pf->n_files; i++) fin_prices_free(pf->files[i], pf->file_n[i]);
    free(pf->files);
    free(pf->file_n);
    free(pf->assets);
}

/* Signals of one symbol into a; returns 0 or -1 with reason. */
static int symbol_signals(const backtest_opts *o, fin_forecaster *f, const fin_prices *p, fin_bt_asset *a, char *reason,
                          size_t size) {
    memset(a, 0, sizeof *a);
    a->p = p;
    double *bull = malloc(sizeof(double) * (size_t)(p->n ? p->n : 1)), *bear = malloc(sizeof(double) * (size_t)(p->n ? p->n : 1));
    double *fc = f->model ? malloc(sizeof(double) * (size_t)(p->n ? p->n : 1)) : NULL;
    a->p_bull = bull;
    a->p_bear = bear;
    a->forecast = fc;
    a->horizon = f->model ? f->horizon : 1;
    if (!bull || !bear || (f->model && !fc)) {
        snprintf(reason, size, "out of memory");
        return -1;
    }
    if (fin_regime_walk_run(&o->walk, p, bull, bear, reason, size) != 0) return -1;
    if (fc && fin_forecast_path(f, p, fc) != 0) {
        snprintf(reason, size, "out of memory");
        return -1;
    }
    return 0;
}

/* Reads every input; a file whose symbols all get their signals joins the portfolio. */
static void assemble(fin_batch *b, const backtest_opts *o, fin_forecaster *f, portfolio *pf) {
    for (int i = 0; i < b->in.n; i++) {
        const char *path = b->in.paths[i];
        char reason[600];
        fin_prices *sym;
        int n_sym;
        if (fin_prices_read(path, o->policy, fin_warn_row, NULL, &sym, &n_sym, reason, sizeof reason) != 0) {
            mc_run_input_rejected(b->run, path, reason);
            continue;
        }
        fin_prices **files = realloc(pf->files, sizeof *files * (size_t)(pf->n_files + 1));
        int *file_n = files ? realloc(pf->file_n, sizeof *file_n * (size_t)(pf->n_files + 1)) : NULL;
        fin_bt_asset *assets = file_n ? realloc(pf->assets, sizeof *assets * (size_t)(pf->n_assets + n_sym)) : NULL;
        if (files) pf->files = files;
        if (file_n) pf->file_n = file_n;
        if (!assets) {
            fin_prices_free(sym, n_sym);
            mc_log_error("out of memory");
            b->failure = MC_ERR_NOMEM;
            return;
        }
        pf->assets = assets;
        int ok = 1, added = 0;
        for (int s = 0; s < n_sym && ok; s++, added++)
            ok = symbol_signals(o, f, &sym[s], &pf->assets[pf->n_assets + s], reason, sizeof reason) == 0;
        if (!ok) {
            for (int s = 0; s < added; s++) {
                free((void *)pf->assets[pf->n_assets + s].p_bull);
                free((void *)pf->assets[pf->n_assets + s].p_bear);
                free((void *)pf->assets[pf->n_assets + s].forecast);
            }
            fin_prices_free(sym, n_sym);
            mc_run_input_rejected(b->run, path, reason);
            continue;
        }
        pf->files[pf->n_files] = sym;
        pf->file_n[pf->n_files++] = n_sym;
        pf->n_assets += n_sym;
        mc_run_input_ok(b->run);
    }
}

/* The options as one JSON object: the configuration a stored result is keyed by. */
static json_t *config_json(const backtest_opts *o) {
    const fin_bt_config *c = &o->bt;
    return json_pack("{s:s?, s:s, s:f, s:f, s:f, s:f, s:[f,f,f], s:i, s:i, s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:I}",
                     "model", o->model, "side", c->sizing.long_short ? "long-short" : "long-flat", "target_vol",
                     c->sizing.target_vol, "max_leverage", c->sizing.max_leverage, "max_gross", c->max_gross, "kelly",
                     c->sizing.kelly, "regime_scale", c->sizing.scale[0], c->sizing.scale[1], c->sizing.scale[2], "states",
                     o->walk.states, "refit", o->walk.refit, "atr_days", c->atr_days, "atr_mult", c->atr_mult, "max_loss",
                     c->max_loss, "cost_bps", c->cost_bps, "slippage_bps", c->slippage_bps, "ewma_lambda", c->ewma_lambda,
                     "rebalance_band", c->rebalance_band, "seed", (json_int_t)o->walk.seed);
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

static void print_text(const fin_bt_result *r, const portfolio *pf) {
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

static const char *regime_of(double bull, double bear) {
    if (!isfinite(bull) || !isfinite(bear)) return "";
    double side = 1 - bull - bear;
    return bull >= bear && bull >= side ? "bull" : bear >= side ? "bear" : "sideways";
}

/* The signals CSV: one row per day and symbol with a bar that day. */
static void write_signals(FILE *out, const fin_bt_result *r, const portfolio *pf) {
    int *next = calloc((size_t)pf->n_assets, sizeof *next);
    if (!next) return;
    for (int t = 0; t < r->n_days; t++)
        for (int i = 0; i < pf->n_assets; i++) {
            const fin_bt_asset *a = &pf->assets[i];
            while (next[i] < a->p->n && strcmp(a->p->date[next[i]], r->date[t]) < 0) next[i]++;
            if (next[i] >= a->p->n || strcmp(a->p->date[next[i]], r->date[t]) != 0) continue;
            int bar = next[i];
            double stop = r->stop[(size_t)t * pf->n_assets + i], fc = a->forecast ? a->forecast[bar] : NAN;
            fprintf(out, "%s,%s,%s,", r->date[t], a->p->symbol, regime_of(a->p_bull[bar], a->p_bear[bar]));
            if (isfinite(a->p_bull[bar])) fprintf(out, "%.6f", a->p_bull[bar]);
            fputc(',', out);
            if (isfinite(fc)) fprintf(out, "%.6f", fc);
            fprintf(out, ",%.6f,", r->weight[(size_t)t * pf->n_assets + i]);
            if (isfinite(stop)) fprintf(out, "%.6f", stop);
            fputc('\n', out);
        }
    free(next);
}

/* Decimal year of a date, for the chart's x axis. */
static double year_of(const char *date) {
    int days = fin_date_days(date), y = atoi(date);
    char jan1[11];
    snprintf(jan1, sizeof jan1, "%04d-01-01", y);
    return y + (days - fin_date_days(jan1) + 0.5) / 365.25;
}

static int draw_chart(const char *path, const fin_bt_result *r, const portfolio *pf, mc_error *err) {
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
        x[t] = year_of(r->date[t]);
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

static int store_result(mc_run *run, const fin_bt_result *r, const portfolio *pf, const char *config) {
    mc_store *s = mc_run_store(run);
    size_t len = 1;
    for (int i = 0; i < pf->n_assets; i++) len += strlen(pf->assets[i].p->symbol) + 1;
    char *symbols = calloc(len, 1);
    if (!symbols) return -1;
    for (int i = 0; i < pf->n_assets; i++) {
        if (i) strcat(symbols, ",");
        strcat(symbols, pf->assets[i].p->symbol);
    }
    int rc = mc_store_begin(s) == MC_OK ? 0 : -1;
    const fin_performance *perf[2] = {&r->strategy, &r->buy_and_hold};
    const char *name[2] = {"strategy", "buy_and_hold"};
    for (int k = 0; k < 2 && rc == 0; k++) {
        sqlite3_stmt *st;
        if (mc_store_stmt(s,
                          "INSERT INTO fin_backtests(symbols, first_date, last_date, config, portfolio, days, total_return, cagr,"
                          " annual_vol, sharpe, sortino, max_drawdown, calmar, turnover, hit_rate, trades, run_id)"
                          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
                          " ON CONFLICT(symbols, first_date, last_date, config, portfolio) DO UPDATE SET days = excluded.days,"
                          " total_return = excluded.total_return, cagr = excluded.cagr, annual_vol = excluded.annual_vol,"
                          " sharpe = excluded.sharpe, sortino = excluded.sortino, max_drawdown = excluded.max_drawdown,"
                          " calmar = excluded.calmar, turnover = excluded.turnover, hit_rate = excluded.hit_rate,"
                          " trades = excluded.trades, run_id = excluded.run_id",
                          &st) != MC_OK) {
            rc = -1;
            break;
        }
        const fin_performance *p = perf[k];
        double v[9] = {p->total_return, p->cagr, p->annual_vol, p->sharpe, p->sortino, p->max_drawdown, p->calmar, p->turnover, p->hit_rate};
        sqlite3_bind_text(st, 1, symbols, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, r->date[0], 10, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, r->date[r->n_days - 1], 10, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, config, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, name[k], -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 6, p->days);
        for (int j = 0; j < 9; j++) {
            if (isfinite(v[j])) sqlite3_bind_double(st, 7 + j, v[j]);
            else sqlite3_bind_null(st, 7 + j);
        }
        sqlite3_bind_int(st, 16, p->trades);
        sqlite3_bind_text(st, 17, mc_run_id(run), -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) rc = -1;
    }
    if (rc == 0 && mc_store_commit(s) != MC_OK) rc = -1;
    if (rc != 0) {
        mc_log_error("database: %s", sqlite3_errmsg(mc_store_db(s)));
        mc_store_rollback(s);
    }
    free(symbols);
    return rc;
}

/* The last day of the forecaster's training data ("fin.dates" = "first..last") into buf, or NULL. */
static const char *training_end(const char *model, char *buf) {
    mc_safetensors *file;
    mc_error err;
    if (mc_safetensors_open(&file, model, &err) != MC_OK) return NULL;
    const char *range = mc_safetensors_meta(file, "fin.dates");
    const char *dots = range ? strstr(range, "..") : NULL;
    int ok = dots && strlen(dots + 2) == 10 && fin_date_days(dots + 2) != INT_MIN;
    if (ok) snprintf(buf, 11, "%s", dots + 2);
    mc_safetensors_close(file);
    return ok ? buf : NULL;
}

int fin_cmd_backtest(mc_ctx *ctx, int argc, char **argv) {
    static const mc_cli_spec spec = {
        .usage = "[options] PRICES...",
        .description = "Simulates one portfolio of every symbol given: walk-forward HMM regimes and, with --model, the\n"
                       "forecaster set volatility-targeted, Kelly-capped, regime-scaled weights; orders fill at the next\n"
                       "open with costs and slippage; chandelier and maximum-loss stops fill intraday. Prints empyrical's\n"
                       "statistics beside buy-and-hold on the same dates (docs/finance.md).",
        .options = options,
        .n_options = N_OPTIONS,
        .min_args = 1,
        .max_args = -1,
    };
    backtest_opts o = {0};
    fin_bt_config_default(&o.bt);
    fin_regime_walk_default(&o.walk);
    int code;
    int first = mc_cli_parse(ctx, &spec, argc, argv, on_option, &o, &code);
    if (first < 0) return code;
    o.walk.seed = ctx->seed;
    int start_given = o.start != NULL;
    if (o.start && o.end && strcmp(o.start, o.end) > 0) {
        mc_cli_usage_error(ctx, "--start %s is after --end %s", o.start, o.end);
        return MC_EXIT_USAGE;
    }

    fin_batch b;
    if (fin_batch_begin(&b, ctx, argv + first, argc - first, o.store, o.signals_out) != 0) return MC_EXIT_FAILURE;
    fin_forecaster f = {0};
    mc_error err;
    char trained[11], after[12];
    if (b.failure == MC_OK && o.model) {
        if ((b.failure = fin_forecaster_load(&f, o.model, &err)) != MC_OK) {
            mc_log_error("%s", err.msg);
        } else if (training_end(o.model, trained)) {
            snprintf(after, sizeof after, "%s~", trained); /* sorts after that day, before the next: dates compare as text */
            if (!o.start) o.start = after;
            else if (strcmp(o.start, trained) <= 0)
                mc_log_warn("%s: trained on data up to %s: the days up to it are in-sample", o.model, trained);
        }
    }
    portfolio pf = {0};
    if (b.failure == MC_OK) assemble(&b, &o, &f, &pf);
    /* by default the book opens on the first day any symbol has its signals */
    char ready[11] = "";
    for (int i = 0; i < pf.n_assets; i++) {
        const fin_bt_asset *a = &pf.assets[i];
        for (int t = 0; t < a->p->n; t++)
            if (isfinite(a->p_bull[t]) && (!a->forecast || isfinite(a->forecast[t]))) {
                if (!ready[0] || strcmp(a->p->date[t], ready) < 0) memcpy(ready, a->p->date[t], 11);
                break;
            }
    }
    if (ready[0] && (!o.start || strcmp(o.start, ready) < 0) && !start_given) o.start = ready;
    fin_bt_result r = {0};
    int simulated = 0;
    if (b.failure == MC_OK && pf.n_assets > 0) {
        char msg[300];
        if (fin_backtest_run(&o.bt, pf.assets, pf.n_assets, o.start, o.end, &r, msg, sizeof msg) != 0) {
            mc_log_error("backtest: %s", msg);
            b.failure = MC_ERR_ARG;
        } else {
            simulated = 1;
        }
    } else if (b.failure == MC_OK) {
        mc_log_error("backtest: no symbol left to trade");
        b.failure = MC_ERR_ARG;
    }
    if (simulated) {
        json_t *config = config_json(&o);
        char *config_text = json_dumps(config, JSON_COMPACT | JSON_SORT_KEYS);
        if (b.csv) {
            fputs("date,symbol,regime,p_bull,forecast,target_weight,stop\n", b.csv);
            write_signals(b.csv, &r, &pf);
        }
        if (o.chart && draw_chart(o.chart, &r, &pf, &err) != 0) {
            mc_log_error("%s", err.msg);
            b.failure = err.code;
        }
        if (o.store && b.failure == MC_OK && (!config_text || store_result(b.run, &r, &pf, config_text) != 0))
            b.failure = MC_ERR_DB;
        if (ctx->json) {
            json_t *syms = json_array();
            for (int i = 0; i < pf.n_assets; i++) json_array_append_new(syms, json_string(pf.assets[i].p->symbol));
            mc_cli_print_json(json_pack("{s:o, s:s, s:s, s:o, s:o, s:o}", "symbols", syms, "first_date", r.date[0], "last_date",
                                        r.date[r.n_days - 1], "config", json_incref(config), "strategy", perf_json(&r.strategy),
                                        "buy_and_hold", perf_json(&r.buy_and_hold)));
        } else if (b.csv != stdout) {
            print_text(&r, &pf);
        }
        free(config_text);
        json_decref(config);
    }
    fin_bt_result_free(&r);
    portfolio_free(&pf);
    if (f.model) fin_forecaster_free(&f);
    return fin_batch_end(&b);
}
