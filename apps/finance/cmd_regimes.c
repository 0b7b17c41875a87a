/* cmd_regimes.c: `moe-finance regimes`: a Gaussian HMM per symbol over daily return features,
 * with its Viterbi path, smoothed probabilities, labelled states, transition matrix, expected
 * durations, log-likelihood and BIC; as JSON, CSV and database rows. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "commands.h"
#include "hmm.h"

enum { F_RET = 1, F_VOL = 2, F_VOLCHG = 4 };

typedef struct {
    int k;          /* 0 = auto (2..4 by BIC) */
    int features;   /* F_* bits */
    int window;     /* realised volatility window */
    int restarts;
    const char *output;
    int store;
    fin_bad_rows policy;
} regimes_opts;

static const mc_option options[] = {
    {"states", 0, "2|3|4|auto", "number of regimes; auto picks 2 to 4 by BIC", "auto"},
    {"features", 0, "LIST", "comma-separated: ret (log return, %), vol (realised volatility), volchg (volume change, %)", "ret"},
    {"window", 0, "N", "days of the realised volatility", "20"},
    {"restarts", 0, "N", "seeded restarts of Baum-Welch; the best likelihood wins", "5"},
    {"output", 'o', "FILE", "CSV of date,symbol,state,label,p_<label>... per bar; '-' for stdout", NULL},
    {"store", 0, NULL, "store the models and the per-date regimes in the database", NULL},
    {"bad-rows", 0, "reject|drop", "a bad price row rejects its file, or is dropped with a warning", "reject"},
};

static int on_option(const mc_ctx *ctx, void *user, int index, const char *arg) {
    regimes_opts *o = user;
    long v;
    switch (index) {
    case 0:
        if (strcmp(arg, "auto") == 0) {
            o->k = 0;
            return 0;
        }
        if (mc_cli_int(ctx, "states", arg, 2, 4, &v) != 0) return -1;
        o->k = (int)v;
        return 0;
    case 1: {
        o->features = 0;
        char buf[128];
        snprintf(buf, sizeof buf, "%s", arg);
        for (char *t = strtok(buf, ","); t; t = strtok(NULL, ",")) {
            if (strcmp(t, "ret") == 0) o->features |= F_RET;
            else if (strcmp(t, "vol") == 0) o->features |= F_VOL;
            else if (strcmp(t, "volchg") == 0) o->features |= F_VOLCHG;
            else return mc_cli_usage_error(ctx, "--features: unknown feature '%s' (ret, vol, volchg)", t);
        }
        if (!(o->features & F_RET)) return mc_cli_usage_error(ctx, "--features must include ret");
        return 0;
    }
    case 2:
        if (mc_cli_int(ctx, "window", arg, 2, 250, &v) != 0) return -1;
        o->window = (int)v;
        return 0;
    case 3:
        if (mc_cli_int(ctx, "restarts", arg, 1, 100, &v) != 0) return -1;
        o->restarts = (int)v;
        return 0;
    case 4: o->output = arg; return 0;
    case 5: o->store = 1; return 0;
    default: return fin_parse_bad_rows(ctx, arg, &o->policy);
    }
}

/* Features of one symbol: rows where every feature is defined; first[i] is the bar of row i. */
static int build_features(const fin_prices *p, const regimes_opts *o, double **x_out, int **bar_out, int *D_out) {
    int D = 1 + !!(o->features & F_VOL) + !!(o->features & F_VOLCHG);
    double *x = malloc(sizeof(double) * (size_t)D * (size_t)(p->n > 0 ? p->n : 1));
    int *bar = malloc(sizeof(int) * (size_t)(p->n > 0 ? p->n : 1));
    double *ret = malloc(sizeof(double) * (size_t)(p->n > 0 ? p->n : 1));
    if (!x || !bar || !ret) {
        free(x); free(bar); free(ret);
        return -1;
    }
    int T = 0;
    for (int t = 1; t < p->n; t++) {
        ret[t] = 100.0 * log(p->close[t] / p->close[t - 1]);
        double vol = NAN, volchg = NAN;
        if (o->features & F_VOL) {
            if (t >= o->window) { /* sample standard deviation of the last window returns */
                double m = 0, s = 0;
                for (int j = t - o->window + 1; j <= t; j++) m += ret[j];
                m /= o->window;
                for (int j = t - o->window + 1; j <= t; j++) s += (ret[j] - m) * (ret[j] - m);
                vol = sqrt(s / (o->window - 1));
            }
            if (isnan(vol)) continue;
        }
        if (o->features & F_VOLCHG) volchg = 100.0 * log((p->volume[t] + 1.0) / (p->volume[t - 1] + 1.0));
        double *row = x + (int64_t)T * D;
        int d = 0;
        row[d++] = ret[t];
        if (o->features & F_VOL) row[d++] = vol;
        if (o->features & F_VOLCHG) row[d++] = volchg;
        bar[T++] = t;
    }
    free(ret);
    *x_out = x;
    *bar_out = bar;
    *D_out = D;
    return T;
}

static const char *features_name(int f) {
    static char buf[32];
    snprintf(buf, sizeof buf, "ret%s%s", f & F_VOL ? ",vol" : "", f & F_VOLCHG ? ",volchg" : "");
    return buf;
}

/* The model as JSON: states with label, mean, covariance, expected duration; the transitions. */
static json_t *model_json(const fin_hmm *m, const char **label, const char *symbol, int T, double bic, const char *today) {
    json_t *states = json_array();
    for (int k = 0; k < m->K; k++) {
        json_t *mu = json_array(), *cov = json_array();
        for (int d = 0; d < m->D; d++) json_array_append_new(mu, json_real(m->mu[(int64_t)k * m->D + d]));
        for (int d = 0; d < m->D * m->D; d++) json_array_append_new(cov, json_real(m->cov[(int64_t)k * m->D * m->D + d]));
        double stay = m->A[(int64_t)k * m->K + k];
        json_array_append_new(states, json_pack("{s:i, s:s, s:o, s:o, s:f}", "state", k, "label", label[k], "mean", mu,
                                                "cov", cov, "expected_days", stay < 1 ? 1.0 / (1.0 - stay) : 1e308));
    }
    json_t *A = json_array();
    for (int i = 0; i < m->K; i++) {
        json_t *row = json_array();
        for (int j = 0; j < m->K; j++) json_array_append_new(row, json_real(m->A[(int64_t)i * m->K + j]));
        json_array_append_new(A, row);
    }
    return json_pack("{s:s, s:i, s:i, s:f, s:f, s:i, s:o, s:o, s:s}", "symbol", symbol, "states", m->K, "bars", T,
                     "loglik", m->loglik, "bic", bic, "iterations", m->iterations, "model", states, "transitions", A,
                     "date", today);
}

/* Probability mass of the states labelled want in row t of probs (T, K). */
static double mass(const fin_hmm *m, const char **label, const double *probs, int t, const char *want) {
    double s = 0;
    for (int k = 0; k < m->K; k++)
        if (strcmp(label[k], want) == 0) s += probs[(int64_t)t * m->K + k];
    return s;
}

static int store_symbol(mc_run *run, const fin_prices *p, const fin_hmm *m, const char **label, const int *path,
                        const double *gamma, const double *filt, const int *bar, int T, const char *features,
                        const char *model, double bic, char *reason, size_t size) {
    mc_store *s = mc_run_store(run);
    sqlite3_stmt *st;
    if (mc_store_stmt(s, "INSERT INTO fin_regime_models(symbol, features, states, loglik, bic, model, run_id)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(symbol) DO UPDATE SET features = excluded.features,"
                         " states = excluded.states, loglik = excluded.loglik, bic = excluded.bic, model = excluded.model,"
                         " run_id = excluded.run_id", &st) != MC_OK)
        goto db_error;
    sqlite3_bind_text(st, 1, p->symbol, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, features, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, m->K);
    sqlite3_bind_double(st, 4, m->loglik);
    sqlite3_bind_double(st, 5, bic);
    sqlite3_bind_text(st, 6, model, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, mc_run_id(run), -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) goto db_error;
    /* a new fit replaces the symbol's previous path */
    if (mc_store_stmt(s, "DELETE FROM fin_regimes WHERE symbol = ?1", &st) != MC_OK) goto db_error;
    sqlite3_bind_text(st, 1, p->symbol, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) goto db_error;
    for (int i = 0; i < T; i++) {
        if (mc_store_stmt(s, "INSERT INTO fin_regimes(symbol, date, state, label, p_state, p_bull, p_bear, pf_bull, pf_bear, run_id)"
                             " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?9, ?10, ?8)", &st) != MC_OK)
            goto db_error;
        sqlite3_bind_text(st, 1, p->symbol, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, p->date[bar[i]], 10, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, path[i]);
        sqlite3_bind_text(st, 4, label[path[i]], -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 5, gamma[(int64_t)i * m->K + path[i]]);
        sqlite3_bind_double(st, 6, mass(m, label, gamma, i, "bull"));
        sqlite3_bind_double(st, 7, mass(m, label, gamma, i, "bear"));
        sqlite3_bind_text(st, 8, mc_run_id(run), -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 9, mass(m, label, filt, i, "bull"));
        sqlite3_bind_double(st, 10, mass(m, label, filt, i, "bear"));
        if (sqlite3_step(st) != SQLITE_DONE) goto db_error;
    }
    return 0;
db_error:
    snprintf(reason, size, "database: %s", sqlite3_errmsg(mc_store_db(s)));
    return -1;
}

/* One symbol: features, fit, path, probabilities, output. Returns 0 or -1 with reason. */
static int fit_symbol(mc_run *run, const mc_ctx *ctx, const regimes_opts *o, const fin_prices *p, FILE *csv,
                      int csv_on_stdout, char *reason, size_t size) {
    double *x;
    int *bar, D;
    int T = build_features(p, o, &x, &bar, &D);
    if (T < 0) {
        snprintf(reason, size, "out of memory");
        return -1;
    }
    fin_hmm m = {0};
    fin_hmm_options ho;
    fin_hmm_options_default(&ho);
    ho.restarts = o->restarts;
    ho.seed = ctx->seed;
    char err[256];
    int rc = o->k ? (ho.K = o->k, fin_hmm_fit(x, T, D, &ho, &m, err, sizeof err))
                  : fin_hmm_fit_auto(x, T, D, 2, 4, &ho, &m, err, sizeof err);
    int *path = NULL;
    double *gamma = NULL, *filt = NULL;
    if (rc != 0) {
        snprintf(reason, size, "%s: %s", p->symbol, err);
        goto done;
    }
    path = malloc(sizeof(int) * (size_t)T);
    gamma = malloc(sizeof(double) * (size_t)T * (size_t)m.K);
    filt = malloc(sizeof(double) * (size_t)T * (size_t)m.K);
    double ll;
    if (!path || !gamma || !filt || fin_hmm_viterbi(&m, x, T, path) != 0 || fin_hmm_posteriors(&m, x, T, gamma, &ll) != 0 ||
        fin_hmm_filtered(&m, x, T, filt) != 0) {
        snprintf(reason, size, "%s: out of memory", p->symbol);
        rc = -1;
        goto done;
    }
    const char *label[8];
    fin_hmm_label(&m, label);
    double bic = fin_hmm_bic(&m, T);
    json_t *j = model_json(&m, label, p->symbol, T, bic, p->date[bar[T - 1]]);
    json_object_set_new(j, "regime", json_string(label[path[T - 1]]));
    json_object_set_new(j, "p_regime", json_real(gamma[(int64_t)(T - 1) * m.K + path[T - 1]]));
    json_object_set_new(j, "pf_bull", json_real(mass(&m, label, filt, T - 1, "bull")));
    json_object_set_new(j, "pf_bear", json_real(mass(&m, label, filt, T - 1, "bear")));
    char *model = json_dumps(json_object_get(j, "model"), JSON_COMPACT);
    if (o->store)
        rc = store_symbol(run, p, &m, label, path, gamma, filt, bar, T, features_name(o->features), model, bic, reason, size);
    free(model);
    if (rc == 0 && csv) {
        for (int i = 0; i < T; i++) {
            fprintf(csv, "%s,%s,%d,%s", p->date[bar[i]], p->symbol, path[i], label[path[i]]);
            for (int k = 0; k < m.K; k++) fprintf(csv, ",%.6f", gamma[(int64_t)i * m.K + k]);
            for (int k = m.K; k < 4; k++) fputc(',', csv);
            for (int k = 0; k < m.K; k++) fprintf(csv, ",%.6f", filt[(int64_t)i * m.K + k]);
            for (int k = m.K; k < 4; k++) fputc(',', csv);
            fputc('\n', csv);
        }
    }
    if (rc == 0 && !csv_on_stdout) {
        if (ctx->json) {
            mc_cli_print_json(j);
            j = NULL;
        } else {
            int since = T - 1; /* the first day of the current run of today's label */
            while (since > 0 && strcmp(label[path[since - 1]], label[path[T - 1]]) == 0) since--;
            printf("%s\t%d states\tloglik %.2f\tBIC %.2f\t%s since %s (p %.2f)\n", p->symbol, m.K, m.loglik, bic,
                   label[path[T - 1]], p->date[bar[since]], gamma[(int64_t)(T - 1) * m.K + path[T - 1]]);
        }
    }
    json_decref(j);
done:
    free(path);
    free(gamma);
    free(filt);
    free(x);
    free(bar);
    fin_hmm_free(&m);
    return rc;
}

typedef struct {
    const mc_ctx *ctx;
    const regimes_opts *o;
} regimes_job;

static int regimes_symbol(void *user, fin_batch *b, int index, const fin_prices *p, FILE *rows, char *reason, size_t size) {
    regimes_job *j = user;
    (void)index;
    return fit_symbol(b->run, j->ctx, j->o, p, rows, b->csv == stdout, reason, size);
}

int fin_cmd_regimes(mc_ctx *ctx, int argc, char **argv) {
    static const mc_cli_spec spec = {
        .usage = "[options] PRICES...",
        .description = "Fits a Gaussian hidden Markov model to each symbol's daily returns (and optionally realised\n"
                       "volatility and volume change), labels its states bull, bear or sideways, and reports the\n"
                       "regime of every day (docs/finance.md). Each price file is one input.",
        .options = options,
        .n_options = 7,
        .min_args = 1,
        .max_args = -1,
    };
    regimes_opts o = {.k = 0, .features = F_RET, .window = 20, .restarts = 5, .policy = FIN_BAD_ROWS_REJECT};
    int code;
    int first = mc_cli_parse(ctx, &spec, argc, argv, on_option, &o, &code);
    if (first < 0) return code;
    fin_batch b;
    if (fin_batch_begin(&b, ctx, argv + first, argc - first, o.store, o.output) != 0) return MC_EXIT_FAILURE;
    if (b.csv) fputs("date,symbol,state,label,p_state0,p_state1,p_state2,p_state3,pf_state0,pf_state1,pf_state2,pf_state3\n", b.csv);
    regimes_job job = {ctx, &o};
    fin_batch_each_file(&b, "regimes", o.policy, o.store, regimes_symbol, &job);
    return fin_batch_end(&b);
}
