/* cmd_eval.c: `moe-factory eval`: a model against labelled folders: accuracy, precision, recall
 * and F1 at the model's threshold, image AUROC, pixel AUROC when masks exist, time per image, and
 * the ROC curve as a PNG chart; one row per model and data set in fab_inspect_evals. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command_run.h"
#include "commands.h"
#include "detector.h"
#include "image_set.h"
#include "inspect_schema.h"
#include "moecore/log.h"
#include "moecore/plot.h"
#include "moecore/run.h"
#include "moecore/roc.h"

#define MAX_DIRS 32
#define ROC_POINTS 512

typedef struct {
    const char *model, *roc;
    const char *good[MAX_DIRS], *defect[MAX_DIRS], *masks[MAX_DIRS];
    int n_good, n_defect, n_masks;
} eval_opts;

static const mc_option options[] = {
    {"model", 'm', "MODEL", "model file written by train (required)", NULL},
    {"good", 0, "DIR", "folder of good images (repeatable)", NULL},
    {"defect", 0, "DIR", "folder of defect images (repeatable)", NULL},
    {"masks", 0, "DIR", "masks of the defect images, same relative names (repeatable, in --defect order)", NULL},
    {"roc", 0, "PNG", "write the ROC curve chart to PNG", NULL},
};

static int add_dir(const mc_ctx *ctx, const char **list, int *n, const char *name, const char *arg) {
    if (*n >= MAX_DIRS) return mc_cli_usage_error(ctx, "--%s given more than %d times", name, MAX_DIRS);
    list[(*n)++] = arg;
    return 0;
}

static int on_option(const mc_ctx *ctx, void *user, int index, const char *arg) {
    eval_opts *o = user;
    switch (index) {
    case 0: o->model = arg; return 0;
    case 1: return add_dir(ctx, o->good, &o->n_good, "good", arg);
    case 2: return add_dir(ctx, o->defect, &o->n_defect, "defect", arg);
    case 3: return add_dir(ctx, o->masks, &o->n_masks, "masks", arg);
    default: o->roc = arg; return 0;
    }
}

static void on_image(void *user, const char *path, const char *reason) {
    mc_run *run = user;
    if (reason) mc_run_input_rejected(run, path, reason);
    else mc_run_input_ok(run);
}

typedef struct eval_result {
    int n_good, n_defect, tp, fp, tn, fn;
    double accuracy, precision, recall, f1, auroc, pixel_auroc, ms;
} eval_result;

/* Pixel AUROC over the images with labelled pixels: each map cell's value spread over its
 * 8 x 8 pixels, against the mask (a pixel is a defect when more than half of it is). NaN when no
 * labelled image holds a defect pixel. */
static double pixel_auroc(const fab_detector *d, const fab_image_set *set, const float *maps) {
    const int S = set->size, M = d->map, st = S / M;
    int64_t n = 0;
    for (int i = 0; i < set->n; i++) n += set->has_mask[i] ? (int64_t)S * S : 0;
    float *score = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    uint8_t *label = malloc((size_t)(n > 0 ? n : 1));
    double auc = NAN;
    if (!score || !label || n == 0) goto done;
    int64_t k = 0;
    for (int i = 0; i < set->n; i++) {
        if (!set->has_mask[i]) continue;
        const float *map = maps + (size_t)i * M * M, *mask = set->mask + (size_t)i * S * S;
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++, k++) {
                score[k] = map[(y / st) * M + x / st];
                label[k] = mask[(size_t)y * S + x] > 0.5f;
            }
    }
    if (mc_auroc(score, label, n, &auc) != MC_OK) auc = NAN;
done:
    free(score);
    free(label);
    return auc;
}

/* SHA-256 of the data set's identity: each image's path, label and whether its pixels are labelled,
 * in order. */
static void data_hash(const fab_image_set *set, char hex[MC_SHA256_HEX]) {
    size_t len = 0;
    for (int i = 0; i < set->n; i++) len += strlen(set->path[i]) + 5;
    char *buf = malloc(len + 1), *p = buf;
    if (!buf) {
        snprintf(hex, MC_SHA256_HEX, "unknown");
        return;
    }
    for (int i = 0; i < set->n; i++) p += sprintf(p, "%s\t%d\t%d\n", set->path[i], set->label[i], set->has_mask[i]);
    mc_sha256_hex((const uint8_t *)buf, (size_t)(p - buf), hex);
    free(buf);
}

static mc_status write_roc(const char *path, const eval_opts *o, const float *s, const uint8_t *y, int n, double auc,
                           mc_error *err) {
    double fpr[ROC_POINTS], tpr[ROC_POINTS], diag[2] = {0, 1};
    int np;
    mc_status st = mc_roc_curve(s, y, n, fpr, tpr, ROC_POINTS, &np);
    if (st != MC_OK) return mc_error_set(err, st, "%s: ROC curve needs good and defect images", path);
    char label[64], title[600];
    snprintf(label, sizeof label, "model (AUROC %.3f)", auc);
    snprintf(title, sizeof title, "ROC: %.500s", o->model);
    mc_plot_series series[2] = {{label, fpr, tpr, np, 0}, {"chance", diag, diag, 2, 1}};
    mc_plot_opts po = {.title = title, .xlabel = "false positive rate", .ylabel = "true positive rate",
                       .width = 640, .height = 560, .x_lo = 0, .x_hi = 1, .y_lo = 0, .y_hi = 1.02};
    return mc_plot_lines(path, &po, series, 2, err);
}

static int store_eval(mc_run *run, const fab_detector *d, const char *model, const char *dsha, const eval_result *r,
                      const char *roc) {
    mc_store *s = mc_run_store(run);
    sqlite3_stmt *st;
    if (mc_store_begin(s) != MC_OK) return -1;
    if (fab_inspect_record_model(s, mc_run_id(run), d->sha256, model, fab_mode_name(d->mode), d->size, d->threshold, d->method,
                                 NULL) != MC_OK ||
        mc_store_stmt(s, "INSERT OR REPLACE INTO fab_inspect_evals VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,"
                         " ?12, ?13, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?14)",
                      &st) != MC_OK) {
        mc_store_rollback(s);
        return -1;
    }
    sqlite3_bind_text(st, 1, d->sha256, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, dsha, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, r->n_good);
    sqlite3_bind_int(st, 4, r->n_defect);
    sqlite3_bind_double(st, 5, d->threshold);
    sqlite3_bind_double(st, 6, r->accuracy);
    if (isfinite(r->precision)) sqlite3_bind_double(st, 7, r->precision);
    sqlite3_bind_double(st, 8, r->recall);
    if (isfinite(r->f1)) sqlite3_bind_double(st, 9, r->f1);
    sqlite3_bind_double(st, 10, r->auroc);
    if (isfinite(r->pixel_auroc)) sqlite3_bind_double(st, 11, r->pixel_auroc);
    sqlite3_bind_double(st, 12, r->ms);
    if (roc) sqlite3_bind_text(st, 13, roc, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 14, mc_run_id(run), -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE || mc_store_commit(s) != MC_OK) {
        mc_store_rollback(s);
        return -1;
    }
    return 0;
}

static json_t *real_or_null(double v) { return isfinite(v) ? json_real(v) : json_null(); }

int fab_cmd_eval(mc_ctx *ctx, int argc, char **argv) {
    static const mc_cli_spec spec = {
        .usage = "--model MODEL --good DIR --defect DIR [--masks DIR] [options]",
        .description = "Evaluates a model on labelled folders: accuracy, precision, recall and F1 at the model's\n"
                       "threshold, image AUROC, pixel AUROC when masks are given (each map cell's value over its\n"
                       "8 x 8 pixels), and milliseconds per image (reading, preprocessing and the model).",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
        .min_args = 0,
        .max_args = 0,
    };
    eval_opts o = {0};
    int code;
    if (mc_cli_parse(ctx, &spec, argc, argv, on_option, &o, &code) < 0) return code;
    if (!o.model) return mc_cli_usage_error(ctx, "--model MODEL is required"), MC_EXIT_USAGE;
    if (o.n_good == 0 || o.n_defect == 0) return mc_cli_usage_error(ctx, "--good DIR and --defect DIR are required"), MC_EXIT_USAGE;
    if (o.n_masks > o.n_defect) return mc_cli_usage_error(ctx, "more --masks than --defect folders"), MC_EXIT_USAGE;
    mc_run *run = fab_command_run_begin(ctx, fab_inspect_schema_migrate);
    if (!run) return MC_EXIT_FAILURE;
    mc_error err;
    fab_detector *d = NULL;
    fab_image_set set;
    fab_image_set_init(&set, 8);
    float *maps = NULL, *sf = NULL;
    double *scores = NULL;
    mc_status st;
    if ((st = fab_detector_load(&d, o.model, &err)) != MC_OK) goto fail;
    fab_image_set_init(&set, d->size);
    double t0 = omp_get_wtime();
    for (int i = 0; i < o.n_good && st == MC_OK; i++) st = fab_image_set_add_dir(&set, o.good[i], 0, NULL, on_image, run, &err);
    for (int i = 0; i < o.n_defect && st == MC_OK; i++)
        st = fab_image_set_add_dir(&set, o.defect[i], 1, i < o.n_masks ? o.masks[i] : NULL, on_image, run, &err);
    if (st != MC_OK) goto fail;
    eval_result r = {fab_image_set_count(&set, 0), fab_image_set_count(&set, 1), 0, 0, 0, 0, NAN, NAN, NAN, NAN, NAN, NAN, NAN};
    if (r.n_good == 0 || r.n_defect == 0) {
        st = mc_error_set(&err, MC_ERR_ARG, "evaluation needs good and defect images (%d good, %d defect usable)", r.n_good,
                          r.n_defect);
        goto fail;
    }
    const int MM = d->map * d->map;
    maps = malloc(sizeof(float) * (size_t)set.n * MM);
    scores = malloc(sizeof(double) * (size_t)set.n);
    sf = malloc(sizeof(float) * (size_t)set.n);
    if (!maps || !scores || !sf) {
        st = mc_error_set(&err, MC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (int i = 0; i < set.n && st == MC_OK; i += 16) {
        int n = set.n - i < 16 ? set.n - i : 16;
        st = fab_detector_run(d, set.x + (size_t)i * set.size * set.size, n, maps + (size_t)i * MM, scores + i);
    }
    if (st != MC_OK) {
        mc_error_set(&err, st, "%s: the model failed", o.model);
        goto fail;
    }
    r.ms = (omp_get_wtime() - t0) * 1000.0 / set.n;
    for (int i = 0; i < set.n; i++) {
        int pred = scores[i] > d->threshold, y = set.label[i];
        r.tp += pred && y;
        r.fp += pred && !y;
        r.tn += !pred && !y;
        r.fn += !pred && y;
        sf[i] = (float)scores[i];
    }
    r.accuracy = (double)(r.tp + r.tn) / set.n;
    r.recall = (double)r.tp / r.n_defect;
    r.precision = r.tp + r.fp ? (double)r.tp / (r.tp + r.fp) : NAN;
    r.f1 = r.tp ? 2.0 * r.tp / (2.0 * r.tp + r.fp + r.fn) : 0.0;
    mc_auroc(sf, set.label, set.n, &r.auroc);
    r.pixel_auroc = pixel_auroc(d, &set, maps);
    if (o.roc && (st = write_roc(o.roc, &o, sf, set.label, set.n, r.auroc, &err)) != MC_OK) goto fail;
    char dsha[MC_SHA256_HEX];
    data_hash(&set, dsha);
    if (store_eval(run, d, o.model, dsha, &r, o.roc) != 0) {
        st = mc_error_set(&err, MC_ERR_DB, "database: %s", sqlite3_errmsg(mc_store_db(mc_run_store(run))));
        goto fail;
    }
    if (ctx->json) {
        json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:i, s:f, s:i, s:i, s:i, s:i, s:f, s:f, s:f, s:f}", "model", o.model,
                              "sha256", d->sha256, "mode", fab_mode_name(d->mode), "n_good", r.n_good, "n_defect", r.n_defect,
                              "threshold", d->threshold, "tp", r.tp, "fp", r.fp, "tn", r.tn, "fn", r.fn, "accuracy",
                              r.accuracy, "recall", r.recall, "image_auroc", r.auroc, "ms_per_image", r.ms);
        json_object_set_new(j, "precision", real_or_null(r.precision));
        json_object_set_new(j, "f1", real_or_null(r.f1));
        json_object_set_new(j, "pixel_auroc", real_or_null(r.pixel_auroc));
        json_object_set_new(j, "roc", o.roc ? json_string(o.roc) : json_null());
        mc_cli_print_json(j);
    } else {
        printf("%s\t%s\t%d good, %d defect\taccuracy %.3f\tprecision %.3f\trecall %.3f\tF1 %.3f\timage AUROC %.3f\t",
               o.model, fab_mode_name(d->mode), r.n_good, r.n_defect, r.accuracy, r.precision, r.recall, r.f1, r.auroc);
        if (isfinite(r.pixel_auroc)) printf("pixel AUROC %.3f\t", r.pixel_auroc);
        printf("%.2f ms/image\n", r.ms);
    }
    goto done;
fail:
    mc_log_error("%s", err.msg);
done:
    free(maps);
    free(scores);
    free(sf);
    fab_image_set_free(&set);
    fab_detector_free(d);
    return mc_run_end(run, st);
}
