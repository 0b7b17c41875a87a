/* cmd_forecast.c: `moe-finance forecast`: the trained forecaster's prediction of the next days'
 * return for each symbol given, on its latest bar (or every bar). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "commands.h"
#include "forecaster.h"
#include "history.h"
#include "moecore/log.h"

typedef struct {
    const char *model;
    const char *output;
    int all, store, rebuild, new_only;
    fin_bad_rows policy;
} forecast_opts;

static const mc_option options[] = {
    {"model", 'm', "MODEL", "a model file written by `moe-finance train`", NULL},
    {"all", 0, NULL, "forecast from every bar with defined inputs, not only the latest", NULL},
    {"output", 'o', "FILE", "CSV date,symbol,horizon,forecast; '-' for stdout", NULL},
    {"store", 0, NULL, "store the forecasts in the database (table fin_forecasts): those of days after the last stored", NULL},
    {"bad-rows", 0, "reject|drop", "a bad price row rejects its file, or is dropped with a warning", "reject"},
    {"rebuild", 0, NULL, "with --store: rewrite the stored forecasts of each symbol given by this model", NULL},
    {"new-only", 0, NULL, "with --store: the CSV holds only the forecasts this run stores", NULL},
};

static int on_option(const mc_ctx *ctx, void *user, int index, const char *arg) {
    forecast_opts *o = user;
    switch (index) {
    case 0: o->model = arg; return 0;
    case 1: o->all = 1; return 0;
    case 2: o->output = arg; return 0;
    case 3: o->store = 1; return 0;
    case 5: o->rebuild = 1; return 0;
    case 6: o->new_only = 1; return 0;
    default: return fin_parse_bad_rows(ctx, arg, &o->policy);
    }
}

static int store_forecast(fin_batch *b, const forecast_opts *o, int horizon, const char *symbol, const char *date,
                          double v, char *reason, size_t size) {
    mc_store *s = mc_run_store(b->run);
    sqlite3_stmt *st;
    if (fin_store_prepare(s, "INSERT INTO fin_forecasts(symbol, date, horizon, model, forecast, run_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                   " ON CONFLICT(symbol, date, horizon, model) DO UPDATE SET forecast = excluded.forecast,"
                   " run_id = excluded.run_id", &st, reason, size) != 0)
        return -1;
    sqlite3_bind_text(st, 1, symbol, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, date, 10, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, horizon);
    sqlite3_bind_text(st, 4, o->model, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 5, v);
    sqlite3_bind_text(st, 6, mc_run_id(b->run), -1, SQLITE_STATIC);
    return fin_store_step(s, st, reason, size);
}

/* Under --store: the first bar whose forecast is stored (p->n: none, -1 on a database error); with
 * --rebuild, the stored forecasts of the symbol by this model go first. */
static int store_from(fin_batch *b, const forecast_opts *o, const fin_history_key *key, const fin_prices *p,
                      char *reason, size_t size) {
    if (!o->store) return p->n;
    mc_store *s = mc_run_store(b->run);
    int from, rc = fin_history_start(s, key, p, o->rebuild, &from, reason, size);
    if (rc < 0) return -1;
    if (o->rebuild) {
        sqlite3_stmt *st;
        if (fin_store_prepare(s, "DELETE FROM fin_forecasts WHERE symbol = ?1 AND horizon = ?2 AND model = ?3", &st, reason, size) != 0)
            return -1;
        sqlite3_bind_text(st, 1, p->symbol, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, key->horizon);
        sqlite3_bind_text(st, 3, o->model, -1, SQLITE_STATIC);
        if (fin_store_step(s, st, reason, size) != 0) return -1;
    }
    return rc == FIN_HISTORY_CHANGED ? p->n : from;
}

/* One symbol: rows, predictions, output. Forecasts are made from the latest bar (every bar with
 * --all); those of bars from `from` on are stored; the CSV gets them all, or with --new-only the
 * stored ones. Returns 0 or -1 with reason. */
static int forecast_symbol(fin_batch *b, const mc_ctx *ctx, const forecast_opts *o, fin_forecaster *f, const fin_prices *p,
                           FILE *mem, char *reason, size_t size) {
    fin_history_key key = {"forecast", p->symbol, o->model, f->horizon};
    int from = store_from(b, o, &key, p, reason, size), csv_all = mem && !o->new_only;
    if (from < 0) return -1;
    if (o->store && from == p->n && !csv_all) return 0; /* nothing new, nothing to write */
    /* the first bar to compute the inputs of: the latest (an earlier one only when it lacks an input) */
    int first = !o->all ? p->n - 1 : o->store && !csv_all ? from : 0;
    double *x, *y, *pred = NULL;
    int *bar;
    int rows = fin_forecaster_rows(f, p, first, 0, &x, &y, &bar), rc = 0;
    if (rows == 0 && first > 0 && !o->all) {
        free(x);
        free(y);
        free(bar);
        rows = fin_forecaster_rows(f, p, first = 0, 0, &x, &y, &bar);
    }
    if (rows < 0) {
        snprintf(reason, size, "out of memory");
        return -1;
    }
    if (rows == 0 && first == 0) {
        snprintf(reason, size, "%s: no bar with every input defined (the factors need 60 days of history)", p->symbol);
        rc = -1;
        goto done;
    }
    int lo = o->all ? 0 : rows - 1;
    if (rows > 0 && (!(pred = malloc(sizeof(double) * (size_t)rows)) ||
                     fin_forecaster_predict(f, x + (size_t)lo * f->n_features, rows - lo, pred) != MC_OK)) {
        snprintf(reason, size, "out of memory");
        rc = -1;
        goto done;
    }
    for (int i = lo; i < rows && rc == 0; i++) {
        const char *date = p->date[bar[i]];
        double v = pred[i - lo];
        int stored = o->store && bar[i] >= from;
        if (stored) rc = store_forecast(b, o, f->horizon, p->symbol, date, v, reason, size);
        if (mem && (csv_all || stored)) fprintf(mem, "%s,%s,%d,%.6f\n", date, p->symbol, f->horizon, v);
        if (i == rows - 1 && b->csv != stdout) {
            if (ctx->json)
                mc_cli_print_json(json_pack("{s:s, s:s, s:i, s:f}", "symbol", p->symbol, "date", date, "horizon", f->horizon,
                                            "forecast", v));
            else
                printf("%s\t%s\t%d-day return forecast %+.3f%%\n", p->symbol, date, f->horizon, v);
        }
    }
    if (rc == 0 && o->store && from < p->n) rc = fin_history_save(mc_run_store(b->run), &key, p, mc_run_id(b->run), reason, size);
done:
    free(pred);
    free(x);
    free(y);
    free(bar);
    return rc;
}

typedef struct {
    const mc_ctx *ctx;
    const forecast_opts *o;
    fin_forecaster *f;
} forecast_job;

static int forecast_one(void *user, fin_batch *b, int index, const fin_prices *p, FILE *rows, char *reason, size_t size) {
    forecast_job *j = user;
    (void)index;
    return forecast_symbol(b, j->ctx, j->o, j->f, p, rows, reason, size);
}

int fin_cmd_forecast(mc_ctx *ctx, int argc, char **argv) {
    static const mc_cli_spec spec = {
        .usage = "[options] --model MODEL PRICES...",
        .description = "Forecasts each symbol's log return (%) over the model's horizon from its latest bar (docs/finance.md).",
        .options = options,
        .n_options = 7,
        .min_args = 1,
        .max_args = -1,
    };
    forecast_opts o = {0};
    int code;
    int first = mc_cli_parse(ctx, &spec, argc, argv, on_option, &o, &code);
    if (first < 0) return code;
    if (!o.model) {
        mc_cli_usage_error(ctx, "the model is required: --model MODEL");
        return MC_EXIT_USAGE;
    }
    if ((o.rebuild || o.new_only) && !o.store) {
        mc_cli_usage_error(ctx, "--%s goes with --store", o.rebuild ? "rebuild" : "new-only");
        return MC_EXIT_USAGE;
    }
    fin_batch b;
    if (fin_batch_begin(&b, ctx, argv + first, argc - first, o.store, o.output) != 0) return MC_EXIT_FAILURE;
    fin_forecaster f = {0};
    mc_error err;
    if (b.failure == MC_OK && (b.failure = fin_forecaster_load(&f, o.model, &err)) != MC_OK) mc_log_error("%s", err.msg);
    if (b.csv) fputs("date,symbol,horizon,forecast\n", b.csv);
    forecast_job job = {ctx, &o, &f};
    fin_batch_each_file(&b, "forecast", o.policy, o.store, forecast_one, &job);
    if (f.model) fin_forecaster_free(&f);
    return fin_batch_end(&b);
}
