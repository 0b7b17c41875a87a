/* book.c: the shared setup of `backtest` and `run` (book.h). */
#include "book.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "moecore/log.h"

static void opts_default(fin_book_opts *o) {
    memset(o, 0, sizeof *o);
    fin_bt_config_default(&o->bt);
    fin_regime_walk_default(&o->walk);
}

int fin_book_on_option(const mc_ctx *ctx, fin_book_opts *o, int index, const char *arg) {
    fin_bt_config *c = &o->bt;
    long v;
    switch (index) {
    case 0: o->model = arg; return 0;
    case 1: o->start_given = 1; return fin_parse_date(ctx, "start", arg, &o->start);
    case 2: return fin_parse_date(ctx, "end", arg, &o->end);
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
    case 17:
        if (strcmp(arg, "next-open") == 0) c->fill = FIN_FILL_NEXT_OPEN;
        else if (strcmp(arg, "next-close") == 0) c->fill = FIN_FILL_NEXT_CLOSE;
        else return mc_cli_usage_error(ctx, "--fill expects next-open or next-close, got '%s'", arg);
        return 0;
    default: return fin_parse_bad_rows(ctx, arg, &o->policy);
    }
}

/* Checks the options together after parsing and takes the seed; 0, or a usage error. */
static int check(const mc_ctx *ctx, fin_book_opts *o) {
    o->walk.seed = ctx->seed;
    if (o->start && o->end && strcmp(o->start, o->end) > 0)
        return mc_cli_usage_error(ctx, "--start %s is after --end %s", o->start, o->end);
    return 0;
}

int fin_book_parse(mc_ctx *ctx, const char *description, const mc_option *options, int n_options, mc_option_fn on_option,
                   void *user, fin_book_opts *o, int argc, char **argv, int *code) {
    const mc_cli_spec spec = {
        .usage = "[options] PRICES...",
        .description = description,
        .options = options,
        .n_options = n_options,
        .min_args = 1,
        .max_args = -1,
    };
    opts_default(o);
    int first = mc_cli_parse(ctx, &spec, argc, argv, on_option, user, code);
    if (first < 0) return -1;
    if (check(ctx, o) != 0) {
        *code = MC_EXIT_USAGE;
        return -1;
    }
    return first;
}

static void free_signals(fin_bt_asset *a) {
    free((void *)a->p_bull);
    free((void *)a->p_bear);
    free((void *)a->forecast);
}

void fin_book_free(fin_book *k) {
    for (int i = 0; i < k->n_assets; i++) free_signals(&k->assets[i]);
    for (int i = 0; i < k->n_files; i++) fin_prices_free(k->files[i], k->file_n[i]);
    free(k->files);
    free(k->file_n);
    free(k->assets);
    if (k->f.model) fin_forecaster_free(&k->f);
    memset(k, 0, sizeof *k);
}

/* Signals of one symbol into a; returns 0 or -1 with reason. */
static int symbol_signals(const fin_book_opts *o, fin_forecaster *f, const fin_prices *p, fin_bt_asset *a, char *reason,
                          size_t size) {
    size_t n = (size_t)(p->n ? p->n : 1);
    double *bull = malloc(sizeof(double) * n), *bear = malloc(sizeof(double) * n);
    double *fc = f->model ? malloc(sizeof(double) * n) : NULL;
    *a = (fin_bt_asset){.p = p, .p_bull = bull, .p_bear = bear, .forecast = fc, .horizon = f->model ? f->horizon : 1};
    if (!bull || !bear || (f->model && !fc)) {
        snprintf(reason, size, "out of memory");
        return -1;
    }
    if (fin_regime_walk_run(&o->walk, p, bull, bear, NULL, reason, size) != 0) return -1;
    if (fc && fin_forecast_path(f, p, fc) != 0) {
        snprintf(reason, size, "out of memory");
        return -1;
    }
    return 0;
}

/* The last day of the forecaster's training rows ("fin.dates" = "first..last") into buf, or NULL. */
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

static void read_inputs(fin_book *k, fin_batch *b, const fin_book_opts *o) {
    for (int i = 0; i < b->in.n; i++) {
        const char *path = b->in.paths[i];
        char reason[600];
        fin_prices *sym;
        int n_sym;
        if (fin_batch_read(b, i, o->policy, &sym, &n_sym) != 0) continue;
        fin_prices **files = realloc(k->files, sizeof *files * (size_t)(k->n_files + 1));
        if (files) k->files = files;
        int *file_n = files ? realloc(k->file_n, sizeof *file_n * (size_t)(k->n_files + 1)) : NULL;
        if (file_n) k->file_n = file_n;
        fin_bt_asset *assets = file_n ? realloc(k->assets, sizeof *assets * (size_t)(k->n_assets + n_sym)) : NULL;
        if (!assets) {
            fin_prices_free(sym, n_sym);
            mc_log_error("out of memory");
            b->failure = MC_ERR_NOMEM;
            return;
        }
        k->assets = assets;
        int ok = 1, added = 0;
        for (; added < n_sym && ok; added++)
            ok = symbol_signals(o, &k->f, &sym[added], &k->assets[k->n_assets + added], reason, sizeof reason) == 0;
        if (!ok) {
            for (int s = 0; s < added; s++) free_signals(&k->assets[k->n_assets + s]);
            fin_prices_free(sym, n_sym);
            mc_run_input_rejected(b->run, path, reason);
            continue;
        }
        k->files[k->n_files] = sym;
        k->file_n[k->n_files++] = n_sym;
        k->n_assets += n_sym;
        mc_run_input_ok(b->run);
    }
}

/* The first date after day among the assets' bars into k->after; 0, or -1 when there is none. */
static int first_day_after(fin_book *k, const char *day) {
    k->after[0] = '\0';
    for (int i = 0; i < k->n_assets; i++) {
        const fin_prices *p = k->assets[i].p;
        for (int t = 0; t < p->n; t++)
            if (strcmp(p->date[t], day) > 0) {
                if (!k->after[0] || strcmp(p->date[t], k->after) < 0) memcpy(k->after, p->date[t], 11);
                break;
            }
    }
    return k->after[0] ? 0 : -1;
}

/* Leaves out of the book, with a warning, every symbol without a bar between start and end: it
 * has nothing to trade there (a series that ended before the forecaster's training data did). */
static void drop_idle(fin_book *k, const fin_book_opts *o) {
    int kept = 0;
    for (int i = 0; i < k->n_assets; i++) {
        fin_bt_asset *a = &k->assets[i];
        int active = 0;
        for (int t = 0; t < a->p->n && !active; t++)
            active = (!o->start || strcmp(a->p->date[t], o->start) >= 0) && (!o->end || strcmp(a->p->date[t], o->end) <= 0);
        if (active) {
            k->assets[kept++] = *a;
            continue;
        }
        mc_log_warn("%s: no bar between %s and %s (its bars run from %s to %s): left out of the book", a->p->symbol,
                    o->start ? o->start : "the first date", o->end ? o->end : "the last date",
                    a->p->n ? a->p->date[0] : "-", a->p->n ? a->p->date[a->p->n - 1] : "-");
        free_signals(a);
    }
    k->n_assets = kept;
}

void fin_book_open(fin_book *k, fin_batch *b, fin_book_opts *o) {
    memset(k, 0, sizeof *k);
    mc_error err;
    if (b->failure != MC_OK) return;
    if (o->model) {
        if ((b->failure = fin_forecaster_load(&k->f, o->model, &err)) != MC_OK) {
            mc_log_error("%s", err.msg);
            return;
        }
        if (training_end(o->model, k->trained) && o->start && strcmp(o->start, k->trained) <= 0)
            mc_log_warn("%s: trained on data up to %s: the days up to it are in-sample", o->model, k->trained);
    }
    read_inputs(k, b, o);
    if (b->failure != MC_OK) return;
    if (!o->start && k->trained[0]) {
        /* the book opens on the first day after the forecaster's training data */
        if (first_day_after(k, k->trained) != 0) {
            mc_log_error("%s: trained on data up to %s, and no price is later: nothing out of sample to trade (--start "
                         "trades in-sample days; `moe-finance train --end` keeps days out of training)", o->model, k->trained);
            b->failure = MC_ERR_ARG;
            return;
        }
        o->start = k->after;
    }
    if (!o->start_given) {
        for (int i = 0; i < k->n_assets; i++) {
            const fin_bt_asset *a = &k->assets[i];
            for (int t = 0; t < a->p->n; t++)
                if (isfinite(a->p_bull[t]) && (!a->forecast || isfinite(a->forecast[t]))) {
                    if (!k->ready[0] || strcmp(a->p->date[t], k->ready) < 0) memcpy(k->ready, a->p->date[t], 11);
                    break;
                }
        }
        if (k->ready[0] && (!o->start || strcmp(o->start, k->ready) < 0)) o->start = k->ready;
    }
    drop_idle(k, o);
}

int fin_book_simulate(const fin_book *k, fin_batch *b, const fin_book_opts *o, const char *label, fin_bt_result *r) {
    memset(r, 0, sizeof *r);
    if (b->failure != MC_OK) return -1;
    if (k->n_assets == 0) {
        mc_log_error("%s: no symbol left to trade", label);
        b->failure = MC_ERR_ARG;
        return -1;
    }
    char msg[300];
    if (fin_backtest_run(&o->bt, k->assets, k->n_assets, o->start, o->end, r, msg, sizeof msg) != 0) {
        if (k->after[0] && o->start == k->after)
            mc_log_error("%s: %s (%s is the first day after the forecaster's training data; `moe-finance train --end` "
                         "keeps days out of training)", label, msg, k->after);
        else
            mc_log_error("%s: %s", label, msg);
        b->failure = MC_ERR_ARG;
        return -1;
    }
    return 0;
}

json_t *fin_book_config(const fin_book_opts *o) {
    const fin_bt_config *c = &o->bt;
    return json_pack("{s:s?, s:s, s:f, s:f, s:f, s:f, s:[f,f,f], s:i, s:i, s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:s, s:I}",
                     "model", o->model, "side", c->sizing.long_short ? "long-short" : "long-flat", "target_vol",
                     c->sizing.target_vol, "max_leverage", c->sizing.max_leverage, "max_gross", c->max_gross, "kelly",
                     c->sizing.kelly, "regime_scale", c->sizing.scale[0], c->sizing.scale[1], c->sizing.scale[2], "states",
                     o->walk.states, "refit", o->walk.refit, "atr_days", c->atr_days, "atr_mult", c->atr_mult, "max_loss",
                     c->max_loss, "cost_bps", c->cost_bps, "slippage_bps", c->slippage_bps, "ewma_lambda", c->ewma_lambda,
                     "rebalance_band", c->rebalance_band, "fill", c->fill == FIN_FILL_NEXT_CLOSE ? "next-close" : "next-open",
                     "seed", (json_int_t)o->walk.seed);
}

int fin_book_store_stats(mc_run *run, const fin_bt_result *r, const fin_book *k, const fin_book_opts *o) {
    mc_store *s = mc_run_store(run);
    json_t *config_json = fin_book_config(o);
    char *config = json_dumps(config_json, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(config_json);
    size_t len = 1;
    for (int i = 0; i < k->n_assets; i++) len += strlen(k->assets[i].p->symbol) + 1;
    char *symbols = calloc(len, 1);
    if (!config || !symbols) {
        free(config);
        free(symbols);
        return -1;
    }
    for (int i = 0; i < k->n_assets; i++) {
        if (i) strcat(symbols, ",");
        strcat(symbols, k->assets[i].p->symbol);
    }
    int rc = mc_store_begin(s) == MC_OK ? 0 : -1;
    const fin_performance *perf[2] = {&r->strategy, &r->buy_and_hold};
    const char *name[2] = {"strategy", "buy_and_hold"};
    for (int j = 0; j < 2 && rc == 0; j++) {
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
        const fin_performance *p = perf[j];
        double v[9] = {p->total_return, p->cagr, p->annual_vol, p->sharpe, p->sortino, p->max_drawdown, p->calmar, p->turnover, p->hit_rate};
        sqlite3_bind_text(st, 1, symbols, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, r->date[0], 10, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, r->date[r->n_days - 1], 10, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, config, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, name[j], -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 6, p->days);
        for (int q = 0; q < 9; q++) fin_bind_real(st, 7 + q, v[q]);
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
    free(config);
    return rc;
}

const char *fin_regime_of(double p_bull, double p_bear) {
    if (!isfinite(p_bull) || !isfinite(p_bear)) return "";
    double side = 1 - p_bull - p_bear;
    return p_bull >= p_bear && p_bull >= side ? "bull" : p_bear >= side ? "bear" : "sideways";
}

double fin_decimal_year(const char *date) {
    int days = fin_date_days(date), y = atoi(date);
    char jan1[11];
    snprintf(jan1, sizeof jan1, "%04d-01-01", y);
    return y + (days - fin_date_days(jan1) + 0.5) / 365.25;
}
