/* cmd_train.c: `moe-finance train`: fits the MoE return forecaster on the factors of the price
 * files given, validating on the last part of each symbol's history (walk-forward holdout), and
 * writes a self-describing model file. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "commands.h"
#include "csv.h"
#include "forecaster.h"
#include "moecore/log.h"
#include "moecore/train.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>

typedef struct {
    const char *model_out;
    long horizon, epochs, batch, walk_forward;
    double lr, val_fraction, curriculum;
    int regimes;
    const char *features, *end;
    long experts, top_k, width;
    fin_bad_rows policy;
} train_opts;

static const mc_option options[] = {
    {"output", 'o', "MODEL", "model file to write (safetensors)", NULL},
    {"horizon", 0, "DAYS", "forecast the log return over the next DAYS days, in percent", "1"},
    {"epochs", 0, "N", "training epochs (early stopping on the validation loss, patience 5)", "30"},
    {"batch", 0, "N", "mini-batch size", "256"},
    {"lr", 0, "X", "peak learning rate of AdamW (warmup 5%, then cosine)", "0.001"},
    {"val-fraction", 0, "X", "share of the latest rows (by date) held out for validation and early stopping", "0.2"},
    {"walk-forward", 0, "DAYS", "also predict the second half of the dates out of sample, DAYS at a time, each block by\n"
                                "                              models trained on every row whose target is known before it (0: off)", "0"},
    {"curriculum", 0, "X", "start on the easiest X of the rows (smallest targets), all of them by the fifth epoch (0: off)", "0"},
    {"regimes", 0, NULL, "add the walk-forward filtered bull and bear probabilities (2-state HMM) to the inputs", NULL},
    {"features", 0, "LIST", "comma-separated inputs instead of every factor that compares across symbols: factor names\n"
                            "                              and regime_p_bull, regime_p_bear (docs/finance.md)", NULL},
    {"experts", 0, "N", "routed experts of the MoE layer", "8"},
    {"top-k", 0, "K", "experts each row is routed to (besides the shared one)", "2"},
    {"expert-width", 0, "N", "hidden units of each expert", "64"},
    {"bad-rows", 0, "reject|drop", "a bad price row rejects its file, or is dropped with a warning", "reject"},
    {"end", 0, "DATE", "use the prices up to DATE only: the rows whose target is known by then (default: all)", NULL},
};
enum { N_OPTIONS = (int)(sizeof options / sizeof options[0]) };

static int on_option(const mc_ctx *ctx, void *user, int index, const char *arg) {
    train_opts *o = user;
    switch (index) {
    case 0: o->model_out = arg; return 0;
    case 1: return mc_cli_int(ctx, "horizon", arg, 1, 250, &o->horizon);
    case 2: return mc_cli_int(ctx, "epochs", arg, 1, 10000, &o->epochs);
    case 3: return mc_cli_int(ctx, "batch", arg, 1, 65536, &o->batch);
    case 4: return mc_cli_real(ctx, "lr", arg, 1e-7, 1.0, &o->lr);
    case 5: return mc_cli_real(ctx, "val-fraction", arg, 0.05, 0.5, &o->val_fraction);
    case 6: return mc_cli_int(ctx, "walk-forward", arg, 0, 100000, &o->walk_forward);
    case 7: return mc_cli_real(ctx, "curriculum", arg, 0, 1, &o->curriculum);
    case 8: o->regimes = 1; return 0;
    case 9: o->features = arg; return 0;
    case 10: return mc_cli_int(ctx, "experts", arg, 1, 64, &o->experts);
    case 11: return mc_cli_int(ctx, "top-k", arg, 1, 64, &o->top_k);
    case 12: return mc_cli_int(ctx, "expert-width", arg, 1, 4096, &o->width);
    case 13: return fin_parse_bad_rows(ctx, arg, &o->policy);
    default: return fin_parse_date(ctx, "end", arg, &o->end);
    }
}

/* Growable float rows, each with the day of its bar and the day its target is known (the bar
 * horizon days later), as days since 1970. */
typedef struct {
    float *x, *y, *difficulty;
    int *day, *tday;
    int n, cap, F;
} rowset;

static void rowset_free(rowset *r) {
    free(r->x);
    free(r->y);
    free(r->difficulty);
    free(r->day);
    free(r->tday);
    memset(r, 0, sizeof *r);
}

static int reserve(rowset *r, int need) {
    if (need <= r->cap) return 0;
    int cap = need * 2 + 1024;
    float *nx = realloc(r->x, sizeof(float) * (size_t)cap * (size_t)r->F);
    if (nx) r->x = nx;
    float *ny = nx ? realloc(r->y, sizeof(float) * (size_t)cap) : NULL;
    if (ny) r->y = ny;
    float *nd = ny ? realloc(r->difficulty, sizeof(float) * (size_t)cap) : NULL;
    if (nd) r->difficulty = nd;
    int *d = nd ? realloc(r->day, sizeof(int) * (size_t)cap) : NULL;
    if (d) r->day = d;
    int *td = d ? realloc(r->tday, sizeof(int) * (size_t)cap) : NULL;
    if (td) r->tday = td;
    if (!td) return -1;
    r->cap = cap;
    return 0;
}

/* Appends row i of `from`. */
static int push_row(rowset *r, const rowset *from, int i) {
    if (reserve(r, r->n + 1) != 0) return -1;
    memcpy(r->x + (size_t)r->n * r->F, from->x + (size_t)i * r->F, sizeof(float) * (size_t)r->F);
    r->y[r->n] = from->y[i];
    r->difficulty[r->n] = from->difficulty[i];
    r->day[r->n] = from->day[i];
    r->tday[r->n++] = from->tday[i];
    return 0;
}

/* The rows of one symbol from fin_forecaster_rows. */
static int push_symbol(rowset *r, const fin_prices *p, int horizon, const double *x, const double *y, const int *bar,
                       int rows) {
    if (reserve(r, r->n + rows) != 0) return -1;
    for (int i = 0; i < rows; i++, r->n++) {
        for (int k = 0; k < r->F; k++) r->x[(size_t)r->n * r->F + k] = (float)x[(size_t)i * r->F + k];
        r->y[r->n] = (float)y[i];
        r->difficulty[r->n] = (float)fabs(y[i]);
        r->day[r->n] = fin_date_days(p->date[bar[i]]);
        r->tday[r->n] = fin_date_days(p->date[bar[i] + horizon]);
    }
    return 0;
}

/* Rows for a model that must not see day `cut` or later: fit = rows whose target is known before
 * cut; test = rows with lo <= day < hi. Either output may be NULL. */
static int split(const rowset *all, int cut, rowset *fit, int lo, int hi, rowset *test) {
    for (int i = 0; i < all->n; i++) {
        if (fit && all->tday[i] < cut && push_row(fit, all, i) != 0) return -1;
        if (test && all->day[i] >= lo && all->day[i] < hi && push_row(test, all, i) != 0) return -1;
    }
    return 0;
}

static int cmp_int(const void *a, const void *b) { return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b); }

/* The day before which a share q of the rows lies (rows sorted by day). */
static int day_quantile(const rowset *r, double q) {
    int *d = malloc(sizeof(int) * (size_t)r->n);
    if (!d) return 0;
    memcpy(d, r->day, sizeof(int) * (size_t)r->n);
    qsort(d, (size_t)r->n, sizeof *d, cmp_int);
    int k = (int)(q * r->n);
    int v = d[k < r->n ? k : r->n - 1];
    free(d);
    return v;
}

/* Out-of-sample quality of forecasts p against outcomes y. */
typedef struct {
    double ic;      /* Pearson correlation */
    double rank_ic; /* Spearman correlation (average ranks for ties) */
    double hit;     /* share of rows whose sign is right */
    double mse;
} quality;

static double pearson(const double *a, const double *b, int n) {
    double ma = 0, mb = 0, sa = 0, sb = 0, c = 0;
    for (int i = 0; i < n; i++) {
        ma += a[i];
        mb += b[i];
    }
    ma /= n;
    mb /= n;
    for (int i = 0; i < n; i++) {
        c += (a[i] - ma) * (b[i] - mb);
        sa += (a[i] - ma) * (a[i] - ma);
        sb += (b[i] - mb) * (b[i] - mb);
    }
    return sa > 0 && sb > 0 ? c / sqrt(sa * sb) : 0.0;
}

static const double *rank_key;
static int by_key(const void *x, const void *y) {
    double a = rank_key[*(const int *)x], b = rank_key[*(const int *)y];
    return (a > b) - (a < b);
}

/* Average ranks of v (n) into r. */
static void ranks(const double *v, int n, double *r, int *idx) {
    for (int i = 0; i < n; i++) idx[i] = i;
    rank_key = v;
    qsort(idx, (size_t)n, sizeof *idx, by_key);
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && v[idx[j + 1]] == v[idx[i]]) j++;
        for (int k = i; k <= j; k++) r[idx[k]] = 0.5 * (i + j);
        i = j + 1;
    }
}

static quality assess(const float *p, const float *y, int n) {
    quality q = {0};
    double *a = malloc(sizeof(double) * (size_t)n * 4);
    int *idx = malloc(sizeof(int) * (size_t)n);
    if (!a || !idx) {
        free(a);
        free(idx);
        return q;
    }
    double *b = a + n, *ra = a + 2 * n, *rb = a + 3 * n;
    int h = 0;
    for (int i = 0; i < n; i++) {
        a[i] = p[i];
        b[i] = y[i];
        h += (p[i] > 0) == (y[i] > 0);
        q.mse += (a[i] - b[i]) * (a[i] - b[i]) / n;
    }
    q.ic = pearson(a, b, n);
    ranks(a, n, ra, idx);
    ranks(b, n, rb, idx);
    q.rank_ic = pearson(ra, rb, n);
    q.hit = (double)h / n;
    free(a);
    free(idx);
    return q;
}

/* Ridge regression baseline on the same standardised rows: w = (X'X + lambda n I)^-1 X'y with an
 * unpenalised intercept; predictions for the validation rows into p. Returns 0 or -1. */
static int ridge_baseline(const rowset *tr, const rowset *va, double lambda, float *p) {
    int F = tr->F;
    gsl_matrix *A = gsl_matrix_calloc((size_t)F + 1, (size_t)F + 1);
    gsl_vector *rhs = gsl_vector_calloc((size_t)F + 1);
    if (!A || !rhs) {
        gsl_matrix_free(A);
        gsl_vector_free(rhs);
        return -1;
    }
    for (int i = 0; i < tr->n; i++) {
        const float *x = tr->x + (size_t)i * F;
        for (int a = 0; a <= F; a++) {
            double xa = a < F ? x[a] : 1.0;
            *gsl_vector_ptr(rhs, (size_t)a) += xa * tr->y[i];
            for (int b = a; b <= F; b++) *gsl_matrix_ptr(A, (size_t)a, (size_t)b) += xa * (b < F ? x[b] : 1.0);
        }
    }
    for (int a = 0; a <= F; a++)
        for (int b = 0; b < a; b++) gsl_matrix_set(A, (size_t)a, (size_t)b, gsl_matrix_get(A, (size_t)b, (size_t)a));
    for (int a = 0; a < F; a++) *gsl_matrix_ptr(A, (size_t)a, (size_t)a) += lambda * tr->n;
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    int rc = gsl_linalg_cholesky_decomp1(A) == 0 && gsl_linalg_cholesky_svx(A, rhs) == 0 ? 0 : -1;
    gsl_set_error_handler(old);
    for (int i = 0; rc == 0 && i < va->n; i++) {
        double s = gsl_vector_get(rhs, (size_t)F);
        for (int a = 0; a < F; a++) s += va->x[(size_t)i * F + a] * gsl_vector_get(rhs, (size_t)a);
        p[i] = (float)s;
    }
    gsl_matrix_free(A);
    gsl_vector_free(rhs);
    return rc;
}

/* Predictions of model m for the validation rows into p. */
static mc_status predict_rows(mc_model *m, const rowset *va, float *p) {
    for (int s = 0; s < va->n; s += 256) {
        int n = va->n - s < 256 ? va->n - s : 256;
        const float *pred;
        mc_status st = mc_model_forward(m, va->x + (size_t)s * va->F, n, 0, NULL, &pred);
        if (st != MC_OK) return st;
        memcpy(p + s, pred, sizeof(float) * (size_t)n);
    }
    return MC_OK;
}

static json_t *quality_json(const quality *q) {
    return json_pack("{s:f, s:f, s:f, s:f}", "ic", q->ic, "rank_ic", q->rank_ic, "hit_rate", q->hit, "mse", q->mse);
}

/* Standardises the rows of every set with the statistics of the first, kept in f. */
static void standardise(fin_forecaster *f, rowset *const *sets, int n_sets) {
    const rowset *fit = sets[0];
    for (int k = 0; k < f->n_features; k++) {
        double m = 0, v = 0;
        for (int i = 0; i < fit->n; i++) m += fit->x[(size_t)i * fit->F + k];
        m /= fit->n;
        for (int i = 0; i < fit->n; i++) v += pow(fit->x[(size_t)i * fit->F + k] - m, 2);
        f->mean[k] = m;
        f->sd[k] = sqrt(v / fit->n) > 1e-12 ? sqrt(v / fit->n) : 1.0;
    }
    for (int s = 0; s < n_sets; s++)
        for (int i = 0; i < sets[s]->n; i++)
            for (int k = 0; k < f->n_features; k++) {
                float *v = &sets[s]->x[(size_t)i * f->n_features + k];
                *v = (float)((*v - f->mean[k]) / f->sd[k]);
            }
}

/* The forecaster f (its network created and trained here), ridge regression and the dense MLP
 * of the MoE layer's active width (top-k experts plus the shared one), all fitted on
 * fit with early stopping on val, predicting test into pred[0], pred[1], pred[2]. The sets are
 * standardised in place with fit's statistics. */
static mc_status fit_models(const train_opts *o, uint64_t seed, fin_forecaster *f, rowset *fit, rowset *val, rowset *test,
                            float *const pred[3], mc_train_result *res, mc_error *err) {
    rowset *sets[3] = {fit, val, test};
    standardise(f, sets, test == val ? 2 : 3);
    char arch[1024], dense[1024];
    fin_moe_shape shape = {(int)o->experts, (int)o->top_k, (int)o->width};
    if (f->model) mc_model_destroy(f->model);
    f->model = NULL;
    mc_status st = mc_model_create(&f->model, fin_forecaster_arch(f->n_features, shape, arch, sizeof arch), err);
    if (st != MC_OK) return st;
    mc_rng *rng = mc_rng_create(seed);
    mc_model_init(f->model, rng);
    mc_rng_destroy(rng);
    mc_train_config cfg;
    mc_train_config_default(&cfg);
    cfg.epochs = (int)o->epochs;
    cfg.batch = (int)o->batch;
    cfg.lr = (float)o->lr;
    cfg.loss = MC_LOSS_HUBER;
    cfg.patience = 5;
    cfg.seed = seed;
    if (o->curriculum > 0) {
        cfg.curriculum_start = (float)o->curriculum;
        cfg.curriculum_epochs = 5;
    }
    mc_dataset dfit = {fit->x, fit->y, fit->n, 1, o->curriculum > 0 ? fit->difficulty : NULL}, dval = {val->x, val->y, val->n, 1, NULL};
    if ((st = mc_train(f->model, &cfg, &dfit, &dval, res, err)) != MC_OK) return st;
    if ((st = predict_rows(f->model, test, pred[0])) != MC_OK) return mc_error_set(err, st, "forecaster: prediction failed");
    if (ridge_baseline(fit, test, 1e-2, pred[1]) != 0)
        for (int i = 0; i < test->n; i++) pred[1][i] = 0.0f;
    fin_forecaster_dense_arch(f->n_features, shape, dense, sizeof dense);
    mc_model *mlp;
    mc_train_result r2;
    if ((st = mc_model_create(&mlp, dense, err)) != MC_OK) return st;
    rng = mc_rng_create(seed);
    mc_model_init(mlp, rng);
    mc_rng_destroy(rng);
    if ((st = mc_train(mlp, &cfg, &dfit, &dval, &r2, err)) == MC_OK && (st = predict_rows(mlp, test, pred[2])) != MC_OK)
        mc_error_set(err, st, "dense baseline: prediction failed");
    mc_model_destroy(mlp);
    return st;
}

/* Walk-forward evaluation: the second half of the dates in blocks of o->walk_forward days, each
 * predicted by the three models trained on every row whose target is known before the block
 * (early stopping on the latest val_fraction of those). q[3] gets the pooled out-of-sample quality. */
static mc_status walk_forward(const train_opts *o, uint64_t seed, const fin_forecaster *proto, const rowset *all, quality q[3],
                              int *folds, int *rows, mc_error *err) {
    int *days = malloc(sizeof(int) * (size_t)all->n);
    float *pred[3] = {malloc(sizeof(float) * (size_t)all->n), malloc(sizeof(float) * (size_t)all->n),
                      malloc(sizeof(float) * (size_t)all->n)};
    float *ys = malloc(sizeof(float) * (size_t)all->n);
    mc_status st = days && pred[0] && pred[1] && pred[2] && ys ? MC_OK : mc_error_set(err, MC_ERR_NOMEM, "out of memory");
    int n_days = 0, n_out = 0;
    *folds = 0;
    if (st == MC_OK) {
        memcpy(days, all->day, sizeof(int) * (size_t)all->n);
        qsort(days, (size_t)all->n, sizeof *days, cmp_int);
        for (int i = 0; i < all->n; i++)
            if (n_days == 0 || days[n_days - 1] != days[i]) days[n_days++] = days[i];
    }
    int first = st == MC_OK ? day_quantile(all, 0.5) : 0, start = 0;
    while (start < n_days && days[start] < first) start++;
    for (int b = start; st == MC_OK && b < n_days; b += (int)o->walk_forward) {
        int lo = days[b], hi = b + o->walk_forward < n_days ? days[b + o->walk_forward] : days[n_days - 1] + 1;
        rowset before = {.F = all->F}, fit = {.F = all->F}, val = {.F = all->F}, test = {.F = all->F};
        if (split(all, lo, &before, lo, hi, &test) != 0) st = mc_error_set(err, MC_ERR_NOMEM, "out of memory");
        int v = st == MC_OK && before.n > 0 ? day_quantile(&before, 1 - o->val_fraction) : 0;
        if (st == MC_OK && split(&before, v, &fit, v, INT32_MAX, &val) != 0) st = mc_error_set(err, MC_ERR_NOMEM, "out of memory");
        if (st == MC_OK && fit.n >= 50 && val.n >= 10 && test.n > 0) {
            fin_forecaster f = *proto;
            f.model = NULL;
            float *out[3] = {pred[0] + n_out, pred[1] + n_out, pred[2] + n_out};
            mc_train_result res;
            st = fit_models(o, seed, &f, &fit, &val, &test, out, &res, err);
            if (f.model) mc_model_destroy(f.model);
            memcpy(ys + n_out, test.y, sizeof(float) * (size_t)test.n);
            n_out += test.n;
            ++*folds;
        }
        rowset_free(&before);
        rowset_free(&fit);
        rowset_free(&val);
        rowset_free(&test);
    }
    if (st == MC_OK && n_out == 0) st = mc_error_set(err, MC_ERR_ARG, "walk-forward: no block had enough rows before it");
    for (int k = 0; st == MC_OK && k < 3; k++) q[k] = assess(pred[k], ys, n_out);
    *rows = n_out;
    free(days);
    free(ys);
    for (int k = 0; k < 3; k++) free(pred[k]);
    return st;
}

int fin_cmd_train(mc_ctx *ctx, int argc, char **argv) {
    static const mc_cli_spec spec = {
        .usage = "[options] -o MODEL PRICES...",
        .description = "Trains the MoE forecaster of the next days' return on the factors of every symbol given\n"
                       "(docs/finance.md). The latest rows by date validate, with ridge regression and a dense MLP\n"
                       "trained on the same rows beside it; --walk-forward adds an out-of-sample evaluation with\n"
                       "retraining on a schedule. The model file holds the network, the feature list and statistics,\n"
                       "the horizon and the training provenance.",
        .options = options,
        .n_options = N_OPTIONS,
        .min_args = 1,
        .max_args = -1,
        .trains = 1,
    };
    train_opts o = {.horizon = 1, .epochs = 30, .batch = 256, .lr = 1e-3, .val_fraction = 0.2, .experts = 8, .top_k = 2, .width = 64};
    int code;
    int first = mc_cli_parse(ctx, &spec, argc, argv, on_option, &o, &code);
    if (first < 0) return code;
    if (!o.model_out) {
        mc_cli_usage_error(ctx, "the model file is required: -o MODEL");
        return MC_EXIT_USAGE;
    }
    if (o.top_k > o.experts) {
        mc_cli_usage_error(ctx, "--top-k %ld is more than the %ld experts", o.top_k, o.experts);
        return MC_EXIT_USAGE;
    }
    fin_forecaster f = {.horizon = (int)o.horizon};
    if (o.features) {
        char msg[256];
        if ((f.n_features = fin_forecaster_parse_features(o.features, f.factor, msg, sizeof msg)) < 0) {
            mc_cli_usage_error(ctx, "%s", msg);
            return MC_EXIT_USAGE;
        }
    } else {
        f.n_features = fin_forecaster_default_features(f.factor);
    }
    for (int k = 0; o.regimes && k < 2; k++) {
        int input = k ? FIN_INPUT_P_BEAR : FIN_INPUT_P_BULL, present = 0;
        for (int j = 0; j < f.n_features; j++) present |= f.factor[j] == input;
        if (!present && f.n_features < FIN_MAX_FEATURES) f.factor[f.n_features++] = input;
    }
    for (int j = 0; j < f.n_features; j++)
        if (f.factor[j] >= fin_factor_count()) f.regime_seed = ctx->seed;
    fin_batch b;
    if (fin_batch_begin(&b, ctx, argv + first, argc - first, 1, NULL) != 0) return MC_EXIT_FAILURE;
    rowset all = {.F = f.n_features}, tr = {.F = f.n_features}, va = {.F = f.n_features};
    char first_date[11] = "9999-99-99", last_date[11] = "0000-00-00";
    for (int i = 0; i < b.in.n && b.failure == MC_OK; i++) {
        char reason[600];
        fin_prices *sym;
        int n_sym;
        if (fin_batch_read(&b, i, o.policy, &sym, &n_sym) != 0) continue;
        int ok = 1, n0 = all.n;
        for (int s = 0; s < n_sym && ok; s++) {
            double *x, *y;
            int *bar;
            int rows = fin_forecaster_rows(&f, &sym[s], 0, 1, &x, &y, &bar);
            if (rows < 0) {
                b.failure = MC_ERR_NOMEM;
                break;
            }
            /* with --end, the rows whose target (the close horizon bars later) is known by then: a prefix */
            while (o.end && rows > 0 && strcmp(sym[s].date[bar[rows - 1] + f.horizon], o.end) > 0) rows--;
            if (rows < 20) {
                snprintf(reason, sizeof reason, "%s: %d usable rows%s%s, too short for the factors' 60-day windows",
                         sym[s].symbol, rows, o.end ? " up to " : "", o.end ? o.end : "");
                ok = 0;
            } else {
                if (push_symbol(&all, &sym[s], f.horizon, x, y, bar, rows) != 0) b.failure = MC_ERR_NOMEM;
                if (strcmp(sym[s].date[bar[0]], first_date) < 0) memcpy(first_date, sym[s].date[bar[0]], 11);
                if (strcmp(sym[s].date[bar[rows - 1]], last_date) > 0) memcpy(last_date, sym[s].date[bar[rows - 1]], 11);
            }
            free(x);
            free(y);
            free(bar);
        }
        if (ok) {
            mc_run_input_ok(b.run);
        } else {
            all.n = n0; /* nothing of a rejected file trains */
            mc_run_input_rejected(b.run, b.in.paths[i], reason);
        }
        fin_prices_free(sym, n_sym);
    }
    /* validation: the latest val_fraction of the rows by date; training: the rows whose target is
     * known before the first validation day */
    int cut = b.failure == MC_OK && all.n > 0 ? day_quantile(&all, 1 - o.val_fraction) : 0;
    if (b.failure == MC_OK && split(&all, cut, &tr, cut, INT32_MAX, &va) != 0) b.failure = MC_ERR_NOMEM;
    if (b.failure == MC_OK && (tr.n < 50 || va.n < 10)) {
        mc_log_error("train: %d training and %d validation rows: too few to train on", tr.n, va.n);
        b.failure = MC_ERR_ARG;
    }
    mc_error err;
    quality wf[3] = {{0}};
    int wf_folds = 0, wf_rows = 0;
    if (b.failure == MC_OK && o.walk_forward > 0 &&
        (b.failure = walk_forward(&o, ctx->seed, &f, &all, wf, &wf_folds, &wf_rows, &err)) != MC_OK)
        mc_log_error("train: %s", err.msg);
    float *pred[3] = {NULL, NULL, NULL};
    mc_train_result res;
    quality q_moe = {0}, q_ridge = {0}, q_mlp = {0};
    if (b.failure == MC_OK) {
        for (int k = 0; k < 3; k++)
            if (!(pred[k] = malloc(sizeof(float) * (size_t)va.n))) b.failure = MC_ERR_NOMEM;
    }
    if (b.failure == MC_OK && (b.failure = fit_models(&o, ctx->seed, &f, &tr, &va, &va, pred, &res, &err)) != MC_OK)
        mc_log_error("train: %s", err.msg);
    if (b.failure == MC_OK) {
        q_moe = assess(pred[0], va.y, va.n);
        q_ridge = assess(pred[1], va.y, va.n);
        q_mlp = assess(pred[2], va.y, va.n);
        double ic = q_moe.ic, hit = q_moe.hit;
        char s_ic[32], s_hit[32], s_rows[64], s_range[32], s_seed[32];
        snprintf(s_ic, sizeof s_ic, "%.6f", ic);
        snprintf(s_hit, sizeof s_hit, "%.6f", hit);
        snprintf(s_rows, sizeof s_rows, "%d training, %d validation", tr.n, va.n);
        snprintf(s_range, sizeof s_range, "%s..%s", first_date, last_date);
        snprintf(s_seed, sizeof s_seed, "%llu", (unsigned long long)ctx->seed);
        /* provenance without the run id, so that the same data, seed and thread count give the same file */
        mc_st_meta meta[] = {{"fin.val_ic", s_ic}, {"fin.val_hit_rate", s_hit}, {"fin.rows", s_rows},
                             {"fin.dates", s_range}, {"fin.seed", s_seed}};
        if ((b.failure = fin_forecaster_save(&f, o.model_out, meta, 5, &err)) != MC_OK) {
            mc_log_error("%s", err.msg);
        } else {
            mc_store *st = mc_run_store(b.run);
            sqlite3_stmt *q;
            json_t *metrics = json_pack("{s:o, s:o, s:o}", "moe", quality_json(&q_moe), "ridge", quality_json(&q_ridge),
                                        "mlp", quality_json(&q_mlp));
            if (wf_folds > 0)
                json_object_set_new(metrics, "walk_forward",
                                    json_pack("{s:i, s:i, s:i, s:o, s:o, s:o}", "days", (int)o.walk_forward, "folds", wf_folds,
                                              "rows", wf_rows, "moe", quality_json(&wf[0]), "ridge", quality_json(&wf[1]),
                                              "mlp", quality_json(&wf[2])));
            char *metrics_text = json_dumps(metrics, JSON_COMPACT);
            if (mc_store_stmt(st, "INSERT INTO fin_models(path, horizon, features, train_rows, val_rows, val_loss, val_ic,"
                                  " val_hit_rate, epochs, metrics, run_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?11, ?10)"
                                  " ON CONFLICT(path) DO UPDATE SET horizon = excluded.horizon, features = excluded.features,"
                                  " train_rows = excluded.train_rows, val_rows = excluded.val_rows, val_loss = excluded.val_loss,"
                                  " val_ic = excluded.val_ic, val_hit_rate = excluded.val_hit_rate, epochs = excluded.epochs,"
                                  " metrics = excluded.metrics, run_id = excluded.run_id", &q) == MC_OK) {
                sqlite3_bind_text(q, 11, metrics_text ? metrics_text : "{}", -1, SQLITE_TRANSIENT);
                sqlite3_bind_text(q, 1, o.model_out, -1, SQLITE_STATIC);
                sqlite3_bind_int(q, 2, f.horizon);
                sqlite3_bind_int(q, 3, f.n_features);
                sqlite3_bind_int(q, 4, tr.n);
                sqlite3_bind_int(q, 5, va.n);
                sqlite3_bind_double(q, 6, res.best_val);
                sqlite3_bind_double(q, 7, ic);
                sqlite3_bind_double(q, 8, hit);
                sqlite3_bind_int(q, 9, res.epochs_run);
                sqlite3_bind_text(q, 10, mc_run_id(b.run), -1, SQLITE_STATIC);
                if (sqlite3_step(q) != SQLITE_DONE) mc_log_error("%s: %s", ctx->db_path, sqlite3_errmsg(mc_store_db(st)));
            }
            free(metrics_text);
            if (ctx->json) {
                json_t *j = json_pack("{s:s, s:i, s:i, s:i, s:i, s:f, s:f, s:f, s:i, s:i}", "model", o.model_out, "horizon",
                                      f.horizon, "features", f.n_features, "train_rows", tr.n, "val_rows", va.n, "val_loss",
                                      res.best_val, "val_ic", ic, "val_hit_rate", hit, "epochs", res.epochs_run,
                                      "best_epoch", res.best_epoch);
                json_object_set_new(j, "validation", metrics);
                mc_cli_print_json(j);
            } else {
                json_decref(metrics);
                printf("%s\t%d-day horizon\t%d features\t%d/%d rows\t%d epochs\n", o.model_out, f.horizon, f.n_features,
                       tr.n, va.n, res.epochs_run);
                const char *names[] = {"moe", "ridge", "mlp"};
                const quality *qs[] = {&q_moe, &q_ridge, &q_mlp};
                for (int k = 0; k < 3; k++)
                    printf("  %-6s IC %+.3f  rank IC %+.3f  hit rate %.3f  MSE %.4f\n", names[k], qs[k]->ic, qs[k]->rank_ic,
                           qs[k]->hit, qs[k]->mse);
                if (wf_folds > 0) {
                    printf("walk-forward: %d blocks of %ld days, %d rows out of sample\n", wf_folds, o.walk_forward, wf_rows);
                    for (int k = 0; k < 3; k++)
                        printf("  %-6s IC %+.3f  rank IC %+.3f  hit rate %.3f  MSE %.4f\n", names[k], wf[k].ic, wf[k].rank_ic,
                               wf[k].hit, wf[k].mse);
                }
            }
        }
    }
    for (int k = 0; k < 3; k++) free(pred[k]);
    rowset_free(&all);
    rowset_free(&tr);
    rowset_free(&va);
    fin_forecaster_free(&f);
    return fin_batch_end(&b);
}
