/* cmd_train.c: `moe-finance train`: fits the MoE return forecaster on the factors of the price
 * files given, validating on the last part of each symbol's history (walk-forward holdout), and
 * writes a self-describing model file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "commands.h"
#include "forecaster.h"
#include "moecore/log.h"
#include "moecore/train.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>

typedef struct {
    const char *model_out;
    long horizon, epochs, batch;
    double lr, val_fraction;
    fin_bad_rows policy;
} train_opts;

static const mc_option options[] = {
    {"output", 'o', "MODEL", "model file to write (safetensors)", NULL},
    {"horizon", 0, "DAYS", "forecast the log return over the next DAYS days, in percent", "1"},
    {"epochs", 0, "N", "training epochs (early stopping on the validation loss, patience 5)", "30"},
    {"batch", 0, "N", "mini-batch size", "256"},
    {"lr", 0, "X", "peak learning rate of AdamW (warmup 5%, then cosine)", "0.001"},
    {"val-fraction", 0, "X", "share of each symbol's latest rows held out for validation", "0.2"},
    {"bad-rows", 0, "reject|drop", "a bad price row rejects its file, or is dropped with a warning", "reject"},
};

static int on_option(const mc_ctx *ctx, void *user, int index, const char *arg) {
    train_opts *o = user;
    switch (index) {
    case 0: o->model_out = arg; return 0;
    case 1: return mc_cli_int(ctx, "horizon", arg, 1, 250, &o->horizon);
    case 2: return mc_cli_int(ctx, "epochs", arg, 1, 10000, &o->epochs);
    case 3: return mc_cli_int(ctx, "batch", arg, 1, 65536, &o->batch);
    case 4: return mc_cli_real(ctx, "lr", arg, 1e-7, 1.0, &o->lr);
    case 5: return mc_cli_real(ctx, "val-fraction", arg, 0.05, 0.5, &o->val_fraction);
    default: return fin_parse_bad_rows(ctx, arg, &o->policy);
    }
}

/* Growable float rows. */
typedef struct {
    float *x, *y;
    int n, cap, F;
} rowset;

static int push_rows(rowset *r, const double *x, const double *y, int from, int to) {
    int need = r->n + (to - from);
    if (need > r->cap) {
        int cap = need * 2 + 1024;
        float *nx = realloc(r->x, sizeof(float) * (size_t)cap * (size_t)r->F), *ny = NULL;
        if (nx) r->x = nx;
        if (nx && (ny = realloc(r->y, sizeof(float) * (size_t)cap))) r->y = ny;
        if (!nx || !ny) return -1;
        r->cap = cap;
    }
    for (int i = from; i < to; i++, r->n++) {
        for (int k = 0; k < r->F; k++) r->x[(size_t)r->n * r->F + k] = (float)x[(size_t)i * r->F + k];
        r->y[r->n] = (float)y[i];
    }
    return 0;
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

int fin_cmd_train(mc_ctx *ctx, int argc, char **argv) {
    static const mc_cli_spec spec = {
        .usage = "[options] -o MODEL PRICES...",
        .description = "Trains the MoE forecaster of the next days' return on the factors of every symbol given\n"
                       "(docs/finance.md). The latest part of each symbol's history validates; the model file holds\n"
                       "the network, the feature list and statistics, the horizon and the training provenance.",
        .options = options,
        .n_options = 7,
        .min_args = 1,
        .max_args = -1,
    };
    train_opts o = {.horizon = 1, .epochs = 30, .batch = 256, .lr = 1e-3, .val_fraction = 0.2};
    int code;
    int first = mc_cli_parse(ctx, &spec, argc, argv, on_option, &o, &code);
    if (first < 0) return code;
    if (!o.model_out) {
        mc_cli_usage_error(ctx, "the model file is required: -o MODEL");
        return MC_EXIT_USAGE;
    }
    fin_batch b;
    if (fin_batch_begin(&b, ctx, argv + first, argc - first, 1, NULL) != 0) return MC_EXIT_FAILURE;
    fin_forecaster f = {.horizon = (int)o.horizon};
    f.n_features = fin_forecaster_default_features(f.factor);
    rowset tr = {.F = f.n_features}, va = {.F = f.n_features};
    char first_date[11] = "9999-99-99", last_date[11] = "0000-00-00";
    for (int i = 0; i < b.in.n && b.failure == MC_OK; i++) {
        char reason[600];
        fin_prices *sym;
        int n_sym;
        if (fin_prices_read(b.in.paths[i], o.policy, fin_warn_row, NULL, &sym, &n_sym, reason, sizeof reason) != 0) {
            mc_run_input_rejected(b.run, b.in.paths[i], reason);
            continue;
        }
        int ok = 1;
        for (int s = 0; s < n_sym && ok; s++) {
            double *x, *y;
            int *bar;
            int rows = fin_forecaster_rows(&f, &sym[s], 1, &x, &y, &bar);
            if (rows < 0) {
                b.failure = MC_ERR_NOMEM;
                break;
            }
            if (rows < 20) {
                snprintf(reason, sizeof reason, "%s: %d usable rows, too short for the factors' 60-day windows", sym[s].symbol, rows);
                ok = 0;
            } else {
                int cut = rows - (int)ceil(o.val_fraction * rows);
                if (push_rows(&tr, x, y, 0, cut) != 0 || push_rows(&va, x, y, cut, rows) != 0) b.failure = MC_ERR_NOMEM;
                if (strcmp(sym[s].date[bar[0]], first_date) < 0) memcpy(first_date, sym[s].date[bar[0]], 11);
                if (strcmp(sym[s].date[bar[rows - 1]], last_date) > 0) memcpy(last_date, sym[s].date[bar[rows - 1]], 11);
            }
            free(x);
            free(y);
            free(bar);
        }
        if (ok)
            mc_run_input_ok(b.run);
        else
            mc_run_input_rejected(b.run, b.in.paths[i], reason);
        fin_prices_free(sym, n_sym);
    }
    if (b.failure == MC_OK && (tr.n < 50 || va.n < 10)) {
        mc_log_error("train: %d training and %d validation rows: too few to train on", tr.n, va.n);
        b.failure = MC_ERR_ARG;
    }
    mc_error err;
    char arch[1024];
    if (b.failure == MC_OK && (b.failure = mc_model_create(&f.model, fin_forecaster_arch(f.n_features, arch, sizeof arch), &err)) != MC_OK)
        mc_log_error("%s", err.msg);
    if (b.failure == MC_OK) {
        /* standardise with the training rows' statistics */
        for (int k = 0; k < f.n_features; k++) {
            double m = 0, v = 0;
            for (int i = 0; i < tr.n; i++) m += tr.x[(size_t)i * tr.F + k];
            m /= tr.n;
            for (int i = 0; i < tr.n; i++) v += pow(tr.x[(size_t)i * tr.F + k] - m, 2);
            f.mean[k] = m;
            f.sd[k] = sqrt(v / tr.n) > 1e-12 ? sqrt(v / tr.n) : 1.0;
        }
        rowset *sets[2] = {&tr, &va};
        for (int s = 0; s < 2; s++)
            for (int i = 0; i < sets[s]->n; i++)
                for (int k = 0; k < f.n_features; k++) {
                    float *v = &sets[s]->x[(size_t)i * f.n_features + k];
                    *v = (float)((*v - f.mean[k]) / f.sd[k]);
                }
        mc_rng *rng = mc_rng_create(ctx->seed);
        mc_model_init(f.model, rng);
        mc_rng_destroy(rng);
        mc_train_config cfg;
        mc_train_config_default(&cfg);
        cfg.epochs = (int)o.epochs;
        cfg.batch = (int)o.batch;
        cfg.lr = (float)o.lr;
        cfg.loss = MC_LOSS_HUBER;
        cfg.patience = 5;
        cfg.seed = ctx->seed;
        mc_dataset dtr = {tr.x, tr.y, tr.n, 1, NULL}, dva = {va.x, va.y, va.n, 1, NULL};
        mc_train_result res;
        if ((b.failure = mc_train(f.model, &cfg, &dtr, &dva, &res, &err)) != MC_OK) {
            mc_log_error("train: %s", err.msg);
        } else {
            /* the MoE forecaster and two baselines on the same rows: ridge regression and a dense MLP
             * with the MoE layer's active width (top-2 experts plus the shared one: 192 units) */
            float *p = malloc(sizeof(float) * (size_t)va.n);
            quality q_moe = {0}, q_ridge = {0}, q_mlp = {0};
            if (!p || predict_rows(f.model, &va, p) != MC_OK) {
                b.failure = MC_ERR_NOMEM;
            } else {
                q_moe = assess(p, va.y, va.n);
                if (ridge_baseline(&tr, &va, 1e-2, p) == 0) q_ridge = assess(p, va.y, va.n);
                char dense[1024];
                snprintf(dense, sizeof dense,
                         "{\"input\":[%d],\"layers\":[{\"type\":\"linear\",\"out\":64},{\"type\":\"act\",\"fn\":\"gelu\"},"
                         "{\"type\":\"layernorm\"},{\"type\":\"linear\",\"out\":192},{\"type\":\"act\",\"fn\":\"gelu\"},"
                         "{\"type\":\"linear\",\"out\":64},{\"type\":\"add\",\"from\":-4},{\"type\":\"linear\",\"out\":1}]}",
                         f.n_features);
                mc_model *mlp;
                mc_train_result r2;
                if (mc_model_create(&mlp, dense, &err) == MC_OK) {
                    mc_rng *r = mc_rng_create(ctx->seed);
                    mc_model_init(mlp, r);
                    mc_rng_destroy(r);
                    if (mc_train(mlp, &cfg, &dtr, &dva, &r2, &err) == MC_OK && predict_rows(mlp, &va, p) == MC_OK)
                        q_mlp = assess(p, va.y, va.n);
                    mc_model_destroy(mlp);
                }
            }
            free(p);
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
                }
            }
        }
    }
    free(tr.x);
    free(tr.y);
    free(va.x);
    free(va.y);
    fin_forecaster_free(&f);
    return fin_batch_end(&b);
}
