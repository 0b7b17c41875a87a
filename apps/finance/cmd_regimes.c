/* cmd_regimes.c: `moe-finance regimes`: the walk-forward market regimes of each symbol, the same
 * ones `backtest` and `run` trade on (regime_walk.h), with the hindsight label (the last refit's model
 * read over the whole series) beside them; as text, JSON, CSV and database rows written incrementally. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "commands.h"
#include "hmm.h"
#include "moecore/log.h"
#include "regime_walk.h"

typedef struct {
    fin_regime_walk walk;
    const char *output;
    int store, rebuild, new_only;
    fin_bad_rows policy;
    int json;
} regimes_opts;

static const mc_option options[] = {
    {"states", 0, "2|3", "number of regimes (as backtest's and run's --states)", "2"},
    {"refit", 0, "N", "days between refits of the walk-forward model (as backtest's and run's --refit)", "252"},
    {"output", 'o', "FILE", "CSV date,symbol,state,label,p_state,pf_bull,pf_bear,label_full,p_bull,p_bear per bar; '-' for stdout", NULL},
    {"store", 0, NULL, "store the regimes of the days not stored yet, the model in force and the fits in the database", NULL},
    {"rebuild", 0, NULL, "with --store: rewrite every stored day of each symbol, not only the new ones", NULL},
    {"new-only", 0, NULL, "with --store: the CSV holds only the rows stored by this run", NULL},
    {"bad-rows", 0, "reject|drop", "a bad price row rejects its file, or is dropped with a warning", "reject"},
};

static int on_option(const mc_ctx *ctx, void *user, int index, const char *arg) {
    regimes_opts *o = user;
    long v;
    switch (index) {
    case 0:
        if (mc_cli_int(ctx, "states", arg, 2, 3, &v) != 0) return -1;
        o->walk.states = (int)v;
        return 0;
    case 1:
        if (mc_cli_int(ctx, "refit", arg, 1, 100000, &v) != 0) return -1;
        o->walk.refit = (int)v;
        return 0;
    case 2: o->output = arg; return 0;
    case 3: o->store = 1; return 0;
    case 4: o->rebuild = 1; return 0;
    case 5: o->new_only = 1; return 0;
    default: return fin_parse_bad_rows(ctx, arg, &o->policy);
    }
}

/* The hindsight view: the model of the walk's last refit (fitted on every return up to that day)
 * read over the whole series, backwards too: its Viterbi labels and smoothed bull and bear
 * probabilities per bar (NULL / NAN at bar 0, which has no return). No fit of its own, so a nightly
 * run's cost follows the new data. */
typedef struct {
    const char **bar_label; /* (n) */
    double *p_bull, *p_bear; /* (n) */
} full_fit;

static void full_free(full_fit *f) {
    free(f->bar_label);
    free(f->p_bull);
    free(f->p_bear);
    memset(f, 0, sizeof *f);
}

static int full_sample(const fin_regime_detail *d, const fin_prices *p, full_fit *f, char *reason, size_t size) {
    const fin_hmm *m = &d->last;
    int n = p->n, T = n - 1, rc = -1;
    memset(f, 0, sizeof *f);
    double *x = malloc(sizeof(double) * (size_t)n), *gamma = malloc(sizeof(double) * (size_t)n * (size_t)m->K);
    int *path = malloc(sizeof(int) * (size_t)n);
    f->bar_label = calloc((size_t)n, sizeof *f->bar_label);
    f->p_bull = malloc(sizeof(double) * (size_t)n);
    f->p_bear = malloc(sizeof(double) * (size_t)n);
    if (!x || !gamma || !path || !f->bar_label || !f->p_bull || !f->p_bear) {
        snprintf(reason, size, "out of memory");
        goto done;
    }
    for (int i = 0; i < T; i++) x[i] = 100.0 * log(p->close[i + 1] / p->close[i]);
    if (fin_hmm_viterbi(m, x, T, path) != 0 || fin_hmm_posteriors(m, x, T, gamma, NULL) != 0) {
        snprintf(reason, size, "%s: the regime model of %s: degenerate covariance", p->symbol, d->last_fit);
        goto done;
    }
    f->p_bull[0] = f->p_bear[0] = NAN;
    for (int i = 0; i < T; i++) {
        f->bar_label[i + 1] = d->last_label[path[i]];
        fin_regime_mass(gamma + (size_t)i * m->K, m->K, d->last_label, &f->p_bull[i + 1], &f->p_bear[i + 1]);
    }
    rc = 0;
done:
    free(x);
    free(gamma);
    free(path);
    return rc;
}

/* The model in force at the last bar, as JSON: per state its label, mean and variance of the daily
 * return (%) and expected spell in days; the transitions. */
static json_t *model_json(const fin_hmm *m, const char *const *label) {
    json_t *states = json_array(), *A = json_array();
    for (int k = 0; k < m->K; k++) {
        double stay = m->A[k * m->K + k];
        json_array_append_new(states, json_pack("{s:i, s:s, s:f, s:f, s:f}", "state", k, "label", label[k], "mean", m->mu[k],
                                                "var", m->cov[k], "expected_days", stay < 1 ? 1.0 / (1.0 - stay) : 1e308));
        json_t *row = json_array();
        for (int j = 0; j < m->K; j++) json_array_append_new(row, json_real(m->A[k * m->K + j]));
        json_array_append_new(A, row);
    }
    return json_pack("{s:o, s:o}", "states", states, "transitions", A);
}

/* The first bar after the symbol's stored days (all of them deleted first with rebuild); a warning
 * when the stored last day no longer matches this run's value for it (prices or settings changed).
 * -1 on a database error. */
static int first_new_bar(mc_store *s, const fin_prices *p, const fin_regime_detail *d, const double *pf_bull, int rebuild) {
    sqlite3_stmt *st;
    if (rebuild) {
        if (mc_store_stmt(s, "DELETE FROM fin_regimes WHERE symbol = ?1", &st) != MC_OK) return -1;
        sqlite3_bind_text(st, 1, p->symbol, -1, SQLITE_STATIC);
        return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    }
    if (mc_store_stmt(s, "SELECT date, label, pf_bull FROM fin_regimes WHERE symbol = ?1 ORDER BY date DESC LIMIT 1", &st) != MC_OK)
        return -1;
    sqlite3_bind_text(st, 1, p->symbol, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? 0 : -1;
    }
    char last[11], label[16];
    snprintf(last, sizeof last, "%s", (const char *)sqlite3_column_text(st, 0));
    snprintf(label, sizeof label, "%s", (const char *)sqlite3_column_text(st, 1));
    double stored = sqlite3_column_double(st, 2);
    sqlite3_reset(st);
    if (p->n > 0 && strcmp(p->date[p->n - 1], last) < 0)
        mc_log_warn("%s: the file ends on %s, before %s, the last day stored: nothing stored; --rebuild rewrites the "
                    "stored days", p->symbol, p->date[p->n - 1], last);
    int t = 0;
    while (t < p->n && strcmp(p->date[t], last) <= 0) t++;
    int at = t - 1; /* the stored last day's bar, when the file has that day */
    if (at >= 0 && strcmp(p->date[at], last) == 0 && d->label[at] &&
        (strcmp(d->label[at], label) != 0 || !(fabs(pf_bull[at] - stored) <= 1e-9)))
        mc_log_warn("%s: the stored regime of %s (%s, p_bull %.4f) differs from this run's (%s, %.4f): the prices or the "
                    "settings changed; the stored days are kept, --rebuild rewrites them",
                    p->symbol, last, label, stored, d->label[at], pf_bull[at]);
    return t;
}

/* Stores the model in force and the days from the first not stored yet, whose bar goes to *from. */
static int store_symbol(mc_run *run, const regimes_opts *o, const fin_prices *p, const fin_regime_detail *d, const double *pf_bull,
                        const double *pf_bear, const full_fit *f, const char *model, int *from, char *reason, size_t size) {
    mc_store *s = mc_run_store(run);
    sqlite3_stmt *st;
    if (mc_store_stmt(s, "INSERT INTO fin_regime_models(symbol, features, states, loglik, bic, model, fit_date, run_id)"
                         " VALUES (?1, 'ret', ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(symbol) DO UPDATE SET features = excluded.features,"
                         " states = excluded.states, loglik = excluded.loglik, bic = excluded.bic, model = excluded.model,"
                         " fit_date = excluded.fit_date, run_id = excluded.run_id", &st) != MC_OK)
        goto db_error;
    sqlite3_bind_text(st, 1, p->symbol, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, d->last.K);
    sqlite3_bind_double(st, 3, d->last.loglik);
    sqlite3_bind_double(st, 4, fin_hmm_bic(&d->last, d->last.T));
    sqlite3_bind_text(st, 5, model, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, d->last_fit, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, mc_run_id(run), -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) goto db_error;
    if ((*from = first_new_bar(s, p, d, pf_bull, o->rebuild)) < 0) goto db_error;
    for (int t = *from; t < p->n; t++) {
        if (!d->label[t]) continue;
        if (mc_store_stmt(s, "INSERT INTO fin_regimes(symbol, date, state, label, p_state, pf_bull, pf_bear, label_full, p_bull,"
                             " p_bear, run_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)", &st) != MC_OK)
            goto db_error;
        sqlite3_bind_text(st, 1, p->symbol, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, p->date[t], 10, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, d->state[t]);
        sqlite3_bind_text(st, 4, d->label[t], -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 5, d->p_state[t]);
        sqlite3_bind_double(st, 6, pf_bull[t]);
        sqlite3_bind_double(st, 7, pf_bear[t]);
        sqlite3_bind_text(st, 8, f->bar_label[t], -1, SQLITE_STATIC);
        fin_bind_real(st, 9, f->p_bull[t]);
        fin_bind_real(st, 10, f->p_bear[t]);
        sqlite3_bind_text(st, 11, mc_run_id(run), -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) goto db_error;
    }
    return 0;
db_error:
    snprintf(reason, size, "database: %s", sqlite3_errmsg(mc_store_db(s)));
    return -1;
}

/* One symbol: the walk, the hindsight view, the outputs. Returns 0 or -1 with reason. */
static int regimes_symbol(void *user, fin_batch *b, int index, const fin_prices *p, FILE *csv, char *reason, size_t size) {
    const regimes_opts *o = user;
    (void)index;
    fin_regime_walk w = o->walk;
    w.cache = o->store ? b->run : NULL;
    fin_regime_detail d;
    full_fit f = {0};
    json_t *j = NULL;
    char *model = NULL;
    double *pf_bull = malloc(sizeof(double) * (size_t)(p->n ? p->n : 1)), *pf_bear = malloc(sizeof(double) * (size_t)(p->n ? p->n : 1));
    int rc = -1;
    if (!pf_bull || !pf_bear) {
        memset(&d, 0, sizeof d);
        snprintf(reason, size, "out of memory");
        goto done;
    }
    if (fin_regime_walk_run(&w, p, pf_bull, pf_bear, &d, reason, size) != 0 || full_sample(&d, p, &f, reason, size) != 0) goto done;
    int last = p->n - 1, since = last;
    while (since > 0 && d.label[since - 1] && strcmp(d.label[since - 1], d.label[last]) == 0) since--;
    j = model_json(&d.last, d.last_label);
    model = json_dumps(j, JSON_COMPACT);
    int from = 0;
    if (o->store && store_symbol(b->run, o, p, &d, pf_bull, pf_bear, &f, model, &from, reason, size) != 0) goto done;
    if (csv) {
        for (int t = o->new_only ? from : 0; t < p->n; t++) {
            if (!d.label[t]) continue;
            fprintf(csv, "%s,%s,%d,%s,%.6f,%.6f,%.6f,%s,%.6f,%.6f\n", p->date[t], p->symbol, d.state[t], d.label[t], d.p_state[t],
                    pf_bull[t], pf_bear[t], f.bar_label[t], f.p_bull[t], f.p_bear[t]);
        }
    }
    if (b->csv != stdout) {
        if (o->json) {
            json_object_set_new(j, "symbol", json_string(p->symbol));
            json_object_set_new(j, "date", json_string(p->date[last]));
            json_object_set_new(j, "regime", json_string(d.label[last]));
            json_object_set_new(j, "since", json_string(p->date[since]));
            json_object_set_new(j, "p_regime", json_real(d.p_state[last]));
            json_object_set_new(j, "pf_bull", json_real(pf_bull[last]));
            json_object_set_new(j, "pf_bear", json_real(pf_bear[last]));
            json_object_set_new(j, "regime_full", json_string(f.bar_label[last]));
            json_object_set_new(j, "fits", json_integer(d.fits));
            json_object_set_new(j, "last_fit", json_string(d.last_fit));
            json_object_set_new(j, "loglik", json_real(d.last.loglik));
            json_object_set_new(j, "bic", json_real(fin_hmm_bic(&d.last, d.last.T)));
            mc_cli_print_json(j);
            j = NULL;
        } else {
            printf("%s\t%d states\t%s since %s (p %.2f)\thindsight: %s\tlast fit %s\n", p->symbol, d.last.K, d.label[last],
                   p->date[since], d.p_state[last], f.bar_label[last], d.last_fit);
        }
    }
    rc = 0;
done:
    json_decref(j);
    free(model);
    free(pf_bull);
    free(pf_bear);
    fin_regime_detail_free(&d);
    full_free(&f);
    return rc;
}

int fin_cmd_regimes(mc_ctx *ctx, int argc, char **argv) {
    static const mc_cli_spec spec = {
        .usage = "[options] PRICES...",
        .description = "Reports each symbol's market regime (bull, bear or sideways) day by day as the book of backtest and\n"
                       "run sees it: a Gaussian hidden Markov model of the daily returns refitted every --refit days on the\n"
                       "returns so far and read through its filtered probabilities, so a day's regime uses no later data.\n"
                       "Beside it, the hindsight label: the last refit's model read over the whole series. docs/finance.md.\n"
                       "Each price file is one input.",
        .options = options,
        .n_options = 7,
        .min_args = 1,
        .max_args = -1,
    };
    regimes_opts o = {.policy = FIN_BAD_ROWS_REJECT};
    fin_regime_walk_default(&o.walk);
    int code;
    int first = mc_cli_parse(ctx, &spec, argc, argv, on_option, &o, &code);
    if (first < 0) return code;
    if ((o.rebuild || o.new_only) && !o.store) {
        mc_cli_usage_error(ctx, "--%s concerns stored days: it needs --store", o.rebuild ? "rebuild" : "new-only");
        return MC_EXIT_USAGE;
    }
    o.walk.seed = ctx->seed;
    o.json = ctx->json;
    fin_batch b;
    if (fin_batch_begin(&b, ctx, argv + first, argc - first, o.store, o.output) != 0) return MC_EXIT_FAILURE;
    if (b.csv) fputs("date,symbol,state,label,p_state,pf_bull,pf_bear,label_full,p_bull,p_bear\n", b.csv);
    fin_batch_each_file(&b, "regimes", o.policy, o.store, regimes_symbol, &o);
    return fin_batch_end(&b);
}
