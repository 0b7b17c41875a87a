/* cmd_run.c: `moe-finance run`: the nightly step from today's prices to tomorrow's positions.
 * The book of `backtest` is carried through every symbol's whole history to its last close; the
 * weight decided there, with its stop, regime and forecast, is each symbol's target for the next
 * session. Positions and the refreshed statistics go to the database, one chart per symbol. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "book.h"
#include "commands.h"
#include "moecore/log.h"
#include "moecore/plot.h"
#include "moecore/safe_name.h"

typedef struct {
    fin_book_opts book;
    const char *output, *charts;
} run_opts;

static const mc_option options[] = {
    FIN_BOOK_OPTIONS,
    {"output", 'o', "FILE", "CSV date,symbol,regime,p_bull,p_bear,forecast,target_weight,stop; '-' for stdout", NULL},
    {"charts", 0, "DIR", "one PNG per symbol: closes, stop and bear regimes above, the target weight below", NULL},
};
enum { N_OPTIONS = (int)(sizeof options / sizeof options[0]) };

static int on_option(const mc_ctx *ctx, void *user, int index, const char *arg) {
    run_opts *o = user;
    switch (index - FIN_BOOK_N_OPTIONS) {
    case 0: o->output = arg; return 0;
    case 1: o->charts = arg; return 0;
    default: return fin_book_on_option(ctx, &o->book, index, arg);
    }
}

/* Tomorrow's position of one symbol: the decision at its last close. */
typedef struct {
    const fin_bt_asset *a;
    int bar, day; /* its last bar, and that date's index in the calendar (-1 when outside it) */
    double weight, stop, forecast;
} position;

static void find_positions(const fin_bt_result *r, const fin_book *k, position *pos) {
    for (int i = 0; i < k->n_assets; i++) {
        const fin_bt_asset *a = &k->assets[i];
        position *p = &pos[i];
        *p = (position){.a = a, .bar = a->p->n - 1, .day = -1, .weight = 0, .stop = NAN, .forecast = NAN};
        for (int t = r->n_days - 1; t >= 0 && p->day < 0; t--)
            if (strcmp(r->date[t], a->p->date[p->bar]) == 0) p->day = t;
        if (p->day >= 0) {
            p->weight = r->weight[(size_t)p->day * k->n_assets + i];
            p->stop = r->stop[(size_t)p->day * k->n_assets + i];
        }
        if (a->forecast) p->forecast = a->forecast[p->bar];
    }
}

static int store_positions(mc_run *run, const position *pos, int n) {
    mc_store *s = mc_run_store(run);
    int rc = mc_store_begin(s) == MC_OK ? 0 : -1;
    for (int i = 0; i < n && rc == 0; i++) {
        const position *p = &pos[i];
        sqlite3_stmt *st;
        if (mc_store_stmt(s, "INSERT INTO fin_positions(symbol, date, regime, p_bull, p_bear, forecast, target_weight, stop, run_id)"
                             " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT(symbol, date) DO UPDATE SET"
                             " regime = excluded.regime, p_bull = excluded.p_bull, p_bear = excluded.p_bear,"
                             " forecast = excluded.forecast, target_weight = excluded.target_weight, stop = excluded.stop,"
                             " run_id = excluded.run_id",
                          &st) != MC_OK) {
            rc = -1;
            break;
        }
        const char *regime = fin_regime_of(p->a->p_bull[p->bar], p->a->p_bear[p->bar]);
        sqlite3_bind_text(st, 1, p->a->p->symbol, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, p->a->p->date[p->bar], 10, SQLITE_STATIC);
        if (regime[0]) sqlite3_bind_text(st, 3, regime, -1, SQLITE_STATIC);
        else sqlite3_bind_null(st, 3);
        fin_bind_real(st, 4, p->a->p_bull[p->bar]);
        fin_bind_real(st, 5, p->a->p_bear[p->bar]);
        fin_bind_real(st, 6, p->forecast);
        sqlite3_bind_double(st, 7, p->weight);
        fin_bind_real(st, 8, p->stop);
        sqlite3_bind_text(st, 9, mc_run_id(run), -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) rc = -1;
    }
    if (rc == 0 && mc_store_commit(s) != MC_OK) rc = -1;
    if (rc != 0) {
        mc_log_error("database: %s", sqlite3_errmsg(mc_store_db(s)));
        mc_store_rollback(s);
    }
    return rc;
}

/* DIR/NAME.png, NAME the symbol made safe as a file name (mc_safe_name): the closes since the
 * book opened with the stop in force and the bear regime shaded, and below the weight decided at
 * each close. */
static int symbol_chart(const char *dir, const fin_bt_result *r, const fin_book *k, int i, mc_error *err) {
    const fin_bt_asset *a = &k->assets[i];
    int T = r->n_days, n = 0, nb = 0, in_band = 0, bar = 0;
    double *x = malloc(sizeof(double) * (size_t)T * 6);
    if (!x) {
        mc_error_set(err, MC_ERR_NOMEM, "%s: out of memory", a->p->symbol);
        return -1;
    }
    double *close = x + T, *stop = x + 2 * T, *w = x + 3 * T, *b0 = x + 4 * T, *b1 = x + 5 * T;
    for (int t = 0; t < T; t++) {
        while (bar < a->p->n && strcmp(a->p->date[bar], r->date[t]) < 0) bar++;
        if (bar >= a->p->n || strcmp(a->p->date[bar], r->date[t]) != 0) continue;
        x[n] = fin_decimal_year(r->date[t]);
        close[n] = a->p->close[bar];
        stop[n] = r->stop[(size_t)t * k->n_assets + i];
        w[n] = r->weight[(size_t)t * k->n_assets + i];
        int is_bear = isfinite(a->p_bear[bar]) && a->p_bear[bar] > 0.5;
        if (is_bear && !in_band) b0[nb] = x[n];
        if (!is_bear && in_band) b1[nb++] = x[n];
        in_band = is_bear;
        n++;
    }
    if (in_band && n > 0) b1[nb++] = x[n - 1];
    char name[MC_SAFE_NAME_SIZE], path[4200], title[160];
    mc_safe_name(name, sizeof name, a->p->symbol);
    snprintf(path, sizeof path, "%s/%s.png", dir, name);
    snprintf(title, sizeof title, "%s: close and stop, bear regimes shaded", a->p->symbol);
    mc_plot_series top[2] = {{"close", x, close, n, 0}, {"stop", x, stop, n, 1}};
    mc_plot_series bottom[1] = {{NULL, x, w, n, 0}};
    mc_plot_panel panels[2] = {
        {.opts = {.title = title, .ylabel = "price", .band_x0 = b0, .band_x1 = b1, .n_bands = nb}, .series = top, .n_series = 2, .weight = 2},
        {.opts = {.xlabel = "year", .ylabel = "target weight", .band_x0 = b0, .band_x1 = b1, .n_bands = nb}, .series = bottom, .n_series = 1, .weight = 1},
    };
    mc_status st = n >= 2 ? mc_plot_panels(path, 1000, 650, panels, 2, err) : MC_OK;
    free(x);
    return st == MC_OK ? 0 : -1;
}

int fin_cmd_run(mc_ctx *ctx, int argc, char **argv) {
    static const char description[] =
        "The nightly step: carries the book of `backtest` (same options) through each symbol's history to\n"
        "its last close and writes the weight decided there, with its stop, regime and forecast, as the\n"
        "target position for the next session (table fin_positions), with the book's statistics\n"
        "(fin_backtests) and a chart per symbol (docs/finance.md).";
    run_opts o = {0};
    int code;
    int first = fin_book_parse(ctx, description, options, N_OPTIONS, on_option, &o, &o.book, argc, argv, &code);
    if (first < 0) return code;

    fin_batch b;
    if (fin_batch_begin(&b, ctx, argv + first, argc - first, 1, o.output) != 0) return MC_EXIT_FAILURE;
    if (b.failure == MC_OK && o.charts && mkdir(o.charts, 0777) != 0 && errno != EEXIST) {
        mc_log_error("%s: cannot create the chart folder: %s", o.charts, strerror(errno));
        b.failure = MC_ERR_IO;
    }
    fin_book book;
    o.book.walk.cache = b.run; /* the regime fits are kept, so that tomorrow's run refits only on schedule */
    fin_book_open(&book, &b, &o.book);
    fin_bt_result r;
    position *pos = NULL;
    if (fin_book_simulate(&book, &b, &o.book, "run", &r) == 0 && !(pos = malloc(sizeof *pos * (size_t)book.n_assets)))
        b.failure = MC_ERR_NOMEM;
    if (b.failure == MC_OK) {
        find_positions(&r, &book, pos);
        if (store_positions(b.run, pos, book.n_assets) != 0 || fin_book_store_stats(b.run, &r, &book, &o.book) != 0)
            b.failure = MC_ERR_DB;
        if (b.csv) fputs("date,symbol,regime,p_bull,p_bear,forecast,target_weight,stop\n", b.csv);
        for (int i = 0; i < book.n_assets && b.failure == MC_OK; i++) {
            const position *p = &pos[i];
            const fin_bt_asset *a = p->a;
            const char *date = a->p->date[p->bar], *regime = fin_regime_of(a->p_bull[p->bar], a->p_bear[p->bar]);
            mc_error err;
            if (o.charts && symbol_chart(o.charts, &r, &book, i, &err) != 0) {
                mc_log_error("%s", err.msg);
                b.failure = err.code;
            }
            if (b.csv) {
                fprintf(b.csv, "%s,%s,%s,%.6f,%.6f,", date, a->p->symbol, regime, a->p_bull[p->bar], a->p_bear[p->bar]);
                if (isfinite(p->forecast)) fprintf(b.csv, "%.6f", p->forecast);
                fprintf(b.csv, ",%.6f,", p->weight);
                if (isfinite(p->stop)) fprintf(b.csv, "%.6f", p->stop);
                fputc('\n', b.csv);
            }
            if (ctx->json) {
                mc_cli_print_json(json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:f, s:o}", "symbol", a->p->symbol, "date", date,
                                            "regime", regime, "p_bull", isfinite(a->p_bull[p->bar]) ? json_real(a->p_bull[p->bar]) : json_null(),
                                            "p_bear", isfinite(a->p_bear[p->bar]) ? json_real(a->p_bear[p->bar]) : json_null(),
                                            "forecast", isfinite(p->forecast) ? json_real(p->forecast) : json_null(),
                                            "target_weight", p->weight, "stop", isfinite(p->stop) ? json_real(p->stop) : json_null()));
            } else if (b.csv != stdout) {
                printf("%s\t%s\t%-8s\ttarget %+.3f", a->p->symbol, date, regime[0] ? regime : "-", p->weight);
                if (isfinite(p->stop)) printf("\tstop %.4f", p->stop);
                if (isfinite(p->forecast)) printf("\tforecast %+.3f%%", p->forecast);
                putchar('\n');
            }
        }
    }
    free(pos);
    fin_bt_result_free(&r);
    fin_book_free(&book);
    return fin_batch_end(&b);
}
