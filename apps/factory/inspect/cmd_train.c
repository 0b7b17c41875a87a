/* cmd_train.c: `moe-factory train`: trains an inspection model (supervised network or good-only
 * anomaly model) on folders of PNG images, calibrates its threshold on a held-out part, and saves
 * it as safetensors with its settings in the metadata. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command_run.h"
#include "commands.h"
#include "detector.h"
#include "inspect_schema.h"
#include "inspector.h"
#include "moecore/log.h"
#include "moecore/run.h"
#include "moecore/roc.h"
#include "threshold.h"

#define MAX_DIRS 32

enum { MODE_AUTO = -1 };

typedef struct {
    const char *good[MAX_DIRS], *defect[MAX_DIRS], *masks[MAX_DIRS];
    int n_good, n_defect, n_masks;
    int mode; /* fab_mode, or MODE_AUTO */
    const char *output;
    int size, bank, folds;
    double val_fraction;
    int threshold_set;
    fab_threshold_opts thr;
    fab_inspector_opts net;
} train_opts;

static const mc_option options[] = {
    {"good", 0, "DIR", "folder of good images (repeatable)", NULL},
    {"defect", 0, "DIR", "folder of defect images (repeatable)", NULL},
    {"masks", 0, "DIR", "masks of the defect images, same relative names (repeatable, in --defect order)", NULL},
    {"mode", 0, "supervised|anomaly|auto", "auto: supervised with at least 10 defect images, else anomaly", "auto"},
    {"output", 'o', "MODEL", "model file to write (required)", NULL},
    {"size", 0, "PIXELS", "images are resized to PIXELS x PIXELS (a multiple of 8)", "128"},
    {"epochs", 0, "N", "supervised: passes over the training images (more to make --min-steps)", "40"},
    {"batch", 0, "N", "supervised: images per step, half good and half defect", "16"},
    {"lr", 0, "RATE", "supervised: AdamW peak learning rate", "0.01"},
    {"bank", 0, "N", "anomaly: memory-bank patches kept by the coreset", "2000"},
    {"val-fraction", 0, "F", "fraction of each label held out to calibrate the threshold", "0.25"},
    {"threshold", 0, "fpr|cost|recall|quantile", "calibration; cost and recall need defect images", "fpr"},
    {"cost-ratio", 0, "R", "cost of a missed defect over a false alarm", "20"},
    {"recall", 0, "R", "target recall for --threshold recall", "0.95"},
    {"quantile", 0, "Q", "quantile of good scores for --threshold quantile", "0.99"},
    {"target-fpr", 0, "F", "false-alarm rate on good images for --threshold fpr, in [0.0001, 0.2]", "0.01"},
    {"folds", 0, "K", "anomaly: folds of good images scored by models that did not see them, 2-20", "4"},
    {"min-steps", 0, "N", "supervised: at least this many optimiser steps", "1500"},
};

static int add_dir(const mc_ctx *ctx, const char **list, int *n, const char *name, const char *arg) {
    if (*n >= MAX_DIRS) return mc_cli_usage_error(ctx, "--%s given more than %d times", name, MAX_DIRS);
    list[(*n)++] = arg;
    return 0;
}

static int on_option(const mc_ctx *ctx, void *user, int index, const char *arg) {
    train_opts *o = user;
    long v;
    double r;
    switch (index) {
    case 0: return add_dir(ctx, o->good, &o->n_good, "good", arg);
    case 1: return add_dir(ctx, o->defect, &o->n_defect, "defect", arg);
    case 2: return add_dir(ctx, o->masks, &o->n_masks, "masks", arg);
    case 3:
        if (strcmp(arg, "supervised") == 0) o->mode = FAB_MODE_SUPERVISED;
        else if (strcmp(arg, "anomaly") == 0) o->mode = FAB_MODE_ANOMALY;
        else if (strcmp(arg, "auto") == 0) o->mode = MODE_AUTO;
        else return mc_cli_usage_error(ctx, "--mode expects supervised, anomaly or auto, got '%s'", arg);
        return 0;
    case 4: o->output = arg; return 0;
    case 5:
        if (mc_cli_int(ctx, "size", arg, 32, 1024, &v) != 0) return -1;
        if (v % 8) return mc_cli_usage_error(ctx, "--size must be a multiple of 8, got %ld", v);
        o->size = (int)v;
        return 0;
    case 6: if (mc_cli_int(ctx, "epochs", arg, 1, 10000, &v) != 0) return -1; o->net.epochs = (int)v; return 0;
    case 7: if (mc_cli_int(ctx, "batch", arg, 2, 1024, &v) != 0) return -1; o->net.batch = (int)v; return 0;
    case 8: if (mc_cli_real(ctx, "lr", arg, 1e-6, 1, &r) != 0) return -1; o->net.lr = (float)r; return 0;
    case 9: if (mc_cli_int(ctx, "bank", arg, 16, 1000000, &v) != 0) return -1; o->bank = (int)v; return 0;
    case 10: return mc_cli_real(ctx, "val-fraction", arg, 0.05, 0.9, &o->val_fraction);
    case 11:
        o->threshold_set = 1;
        if (fab_threshold_method_parse(arg, &o->thr.method) != 0)
            return mc_cli_usage_error(ctx, "--threshold expects fpr, cost, recall or quantile, got '%s'", arg);
        return 0;
    case 12: return mc_cli_real(ctx, "cost-ratio", arg, 1e-3, 1e6, &o->thr.cost_ratio);
    case 13: return mc_cli_real(ctx, "recall", arg, 0.01, 1, &o->thr.recall);
    case 14: return mc_cli_real(ctx, "quantile", arg, 0.5, 0.9999, &o->thr.quantile);
    case 15: return mc_cli_real(ctx, "target-fpr", arg, 1e-4, 0.2, &o->thr.target_fpr);
    case 16: if (mc_cli_int(ctx, "folds", arg, 2, 20, &v) != 0) return -1; o->folds = (int)v; return 0;
    default: if (mc_cli_int(ctx, "min-steps", arg, 1, 10000000, &v) != 0) return -1; o->net.min_steps = (int)v; return 0;
    }
}

static void on_image(void *user, const char *path, const char *reason) {
    mc_run *run = user;
    if (reason) mc_run_input_rejected(run, path, reason);
    else mc_run_input_ok(run);
}

static int on_epoch(void *user, int epoch, int epochs, double loss, double val_loss) {
    (void)user;
    if (epoch == 0 || (epoch + 1) % 10 == 0 || epoch + 1 == epochs)
        mc_log_info("epoch %d: loss %.4f, held-out log loss %.4f", epoch + 1, loss, val_loss);
    else mc_log_debug("epoch %d: loss %.4f, held-out log loss %.4f", epoch + 1, loss, val_loss);
    return 0;
}

/* Scores of every image of set on d: score[i], in batches of 16. */
static mc_status score_set(fab_detector *d, const fab_image_set *set, double *score) {
    float *map = malloc(sizeof(float) * 16 * (size_t)d->map * d->map);
    if (!map) return MC_ERR_NOMEM;
    mc_status st = MC_OK;
    for (int i = 0; i < set->n && st == MC_OK; i += 16)
        st = fab_detector_run(d, set->x + (size_t)i * set->size * set->size, set->n - i < 16 ? set->n - i : 16, map,
                              &score[i]);
    free(map);
    return st;
}

/* What calibration measured on the held-out scores. */
typedef struct held_out {
    double auroc;    /* NaN without both labels */
    double accuracy; /* at the threshold */
    double fpr;      /* good images above the threshold */
    double recall;   /* defects above it (NaN without defects) */
} held_out;

/* Calibrates d's threshold on held-out scores g[ng] of good and def[nd] of defect images; fills
 * method and what the threshold gives on them. */
static mc_status calibrate(fab_detector *d, const double *g, int ng, const double *def, int nd, train_opts *o,
                           held_out *h, mc_error *err) {
    if (nd == 0 && (o->thr.method == FAB_THRESHOLD_COST || o->thr.method == FAB_THRESHOLD_RECALL)) {
        if (o->threshold_set) mc_log_warn("no defect images to calibrate by %s: using a false-alarm rate of %g",
                                          fab_threshold_method_name(o->thr.method), o->thr.target_fpr);
        o->thr.method = FAB_THRESHOLD_FPR;
    }
    o->thr.logit = d->mode == FAB_MODE_SUPERVISED; /* its scores are probabilities */
    char why[300] = "";
    mc_status st = fab_threshold_calibrate(g, ng, def, nd, &o->thr, &d->threshold, why, sizeof why);
    if (st != MC_OK) return mc_error_set(err, st, "threshold calibration: %s", why);
    if (o->thr.method == FAB_THRESHOLD_COST) snprintf(d->method, sizeof d->method, "cost %g:1", o->thr.cost_ratio);
    else if (o->thr.method == FAB_THRESHOLD_RECALL) snprintf(d->method, sizeof d->method, "recall %g", o->thr.recall);
    else if (o->thr.method == FAB_THRESHOLD_FPR) snprintf(d->method, sizeof d->method, "fpr %g", o->thr.target_fpr);
    else snprintf(d->method, sizeof d->method, "quantile %g", o->thr.quantile);
    int n = ng + nd, fp = 0, tp = 0;
    float *sf = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    uint8_t *lab = malloc((size_t)(n > 0 ? n : 1));
    if (!sf || !lab) {
        free(sf);
        free(lab);
        return mc_error_set(err, MC_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < ng; i++) {
        sf[i] = (float)g[i];
        lab[i] = 0;
        fp += g[i] > d->threshold;
    }
    for (int i = 0; i < nd; i++) {
        sf[ng + i] = (float)def[i];
        lab[ng + i] = 1;
        tp += def[i] > d->threshold;
    }
    h->auroc = NAN;
    if (ng > 0 && nd > 0 && mc_auroc(sf, lab, n, &h->auroc) != MC_OK) h->auroc = NAN;
    h->fpr = ng ? (double)fp / ng : NAN;
    h->recall = nd ? (double)tp / nd : NAN;
    h->accuracy = n ? (double)(ng - fp + tp) / n : NAN;
    free(sf);
    free(lab);
    return MC_OK;
}

/* Held-out scores: for the supervised network, its scores of val split by label; for the anomaly
 * model, each training good image scored by a model of the other folds (fab_anomaly_crossfit) and
 * the defects of val by the model itself. g and def hold room for every image of train and val. */
static mc_status held_out_scores(fab_detector *d, const fab_image_set *train, const fab_image_set *val, const train_opts *o,
                                 mc_rng *rng, double *g, int *ng, double *def, int *nd, mc_error *err) {
    double *s = malloc(sizeof(double) * (size_t)(val->n + train->n + 1));
    mc_status st = s ? score_set(d, val, s) : MC_ERR_NOMEM;
    if (st != MC_OK) {
        free(s);
        return mc_error_set(err, st, "scoring the held-out images failed");
    }
    *ng = *nd = 0;
    for (int i = 0; i < val->n; i++) {
        if (val->label[i]) def[(*nd)++] = s[i];
        else g[(*ng)++] = s[i];
    }
    if (d->mode == FAB_MODE_ANOMALY) {
        st = fab_anomaly_crossfit(train, o->folds, o->bank, rng, s, err);
        for (int i = 0; i < train->n && st == MC_OK; i++)
            if (!train->label[i]) g[(*ng)++] = s[i];
    }
    free(s);
    return st;
}

/* A model of one mode, trained and calibrated, with what its held-out images gave. */
typedef struct fitted {
    fab_detector d;
    held_out h;
    train_opts o;               /* the options as calibration left them (its method) */
    int train_good, train_defect, val_good, val_defect;
} fitted;

/* Splits the images of all for mode, trains a model of that mode and calibrates its threshold on
 * images it did not learn from. */
static mc_status fit_mode(fab_mode mode, const fab_image_set *all, const train_opts *o, uint64_t seed, mc_rng *rng,
                          fitted *f, mc_error *err) {
    memset(f, 0, sizeof *f);
    f->o = *o;
    fab_image_set train, val;
    double *g = NULL, *def = NULL;
    /* good-only: defect images are not learnt from, they all go to measuring the model, and every
     * good image is fitted (the held-out good scores come from cross-fitting) */
    double fraction[2] = {mode == FAB_MODE_ANOMALY ? 0.0 : o->val_fraction, mode == FAB_MODE_ANOMALY ? 1.0 : o->val_fraction};
    mc_status st = fab_image_set_split(all, fraction, seed, &train, &val);
    if (st != MC_OK) {
        mc_error_set(err, st, "out of memory");
        goto done;
    }
    f->d.mode = mode;
    f->d.size = o->size;
    f->d.map = o->size / FAB_MAP_STRIDE;
    f->d.topk = o->net.topk;
    mc_log_info("%s training on %d good and %d defect images at %d x %d", fab_mode_name(mode), fab_image_set_count(&train, 0),
                fab_image_set_count(&train, 1), o->size, o->size);
    if (mode == FAB_MODE_SUPERVISED) st = fab_inspector_train(&f->d.net, &train, &val, &o->net, rng, on_epoch, NULL, err);
    else st = fab_anomaly_fit(&f->d.anomaly, &train, NULL, o->bank, rng, err);
    if (st != MC_OK) goto done;
    g = malloc(sizeof(double) * (size_t)(all->n + 1));
    def = malloc(sizeof(double) * (size_t)(all->n + 1));
    if (!g || !def) {
        st = mc_error_set(err, MC_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((st = held_out_scores(&f->d, &train, &val, &f->o, rng, g, &f->val_good, def, &f->val_defect, err)) != MC_OK ||
        (st = calibrate(&f->d, g, f->val_good, def, f->val_defect, &f->o, &f->h, err)) != MC_OK)
        goto done;
    f->train_good = fab_image_set_count(&train, 0);
    f->train_defect = fab_image_set_count(&train, 1);
done:
    if (st != MC_OK) fab_detector_clear(&f->d);
    fab_image_set_free(&train);
    fab_image_set_free(&val);
    free(g);
    free(def);
    return st;
}

int fab_cmd_train(mc_ctx *ctx, int argc, char **argv) {
    static const mc_cli_spec spec = {
        .usage = "--good DIR [--defect DIR [--masks DIR]] -o MODEL [options]",
        .description = "Trains an inspection model on folders of PNG images (any colour type and depth; made grey).\n"
                       "supervised: a small CNN with squeeze-excitation and spatial attention giving a defect map\n"
                       "and an image score, trained with focal loss and balanced batches (masks label pixels;\n"
                       "without them a defect image is an image-level label), early-stopped on held-out images.\n"
                       "anomaly: good images only, a coreset memory bank of Gaussian-derivative patch features\n"
                       "searched with FAISS (PatchCore family). The threshold is calibrated on images the model\n"
                       "did not learn from, by default for 1% false alarms, and saved in the model\n"
                       "(docs/factory.md).",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
        .min_args = 0,
        .max_args = 0,
        .trains = 1,
    };
    train_opts o = {.mode = MODE_AUTO, .size = 128, .bank = 4000, .folds = 4, .val_fraction = 0.25};
    fab_threshold_opts_default(&o.thr);
    fab_inspector_opts_default(&o.net);
    int code;
    if (mc_cli_parse(ctx, &spec, argc, argv, on_option, &o, &code) < 0) return code;
    if (!o.output) return mc_cli_usage_error(ctx, "-o MODEL is required"), MC_EXIT_USAGE;
    if (o.n_good == 0) return mc_cli_usage_error(ctx, "--good DIR is required"), MC_EXIT_USAGE;
    if (o.n_masks > o.n_defect) return mc_cli_usage_error(ctx, "more --masks than --defect folders"), MC_EXIT_USAGE;
    if (o.mode == FAB_MODE_SUPERVISED && o.n_defect == 0)
        return mc_cli_usage_error(ctx, "--mode supervised needs --defect DIR"), MC_EXIT_USAGE;

    mc_run *run = fab_command_run_begin(ctx, fab_inspect_schema_migrate);
    if (!run) return MC_EXIT_FAILURE;
    mc_store *store = mc_run_store(run);
    mc_status st = MC_OK;
    mc_error err;
    fitted fit = {0}, other = {0};
    json_t *ej = NULL;
    mc_rng *rng = mc_rng_create(ctx->seed);
    fab_image_set all;
    fab_image_set_init(&all, o.size);
    for (int i = 0; i < o.n_good && st == MC_OK; i++) st = fab_image_set_add_dir(&all, o.good[i], 0, NULL, on_image, run, &err);
    for (int i = 0; i < o.n_defect && st == MC_OK; i++)
        st = fab_image_set_add_dir(&all, o.defect[i], 1, i < o.n_masks ? o.masks[i] : NULL, on_image, run, &err);
    int n_good = fab_image_set_count(&all, 0), n_def = fab_image_set_count(&all, 1);
    if (st != MC_OK) goto fail;
    /* auto: with 10 defect images or more, both models are trained and the one with the higher
     * held-out AUROC kept (the good-only one on a tie); with fewer, the good-only one */
    int both = o.mode == MODE_AUTO && n_def >= 10;
    if (o.mode == MODE_AUTO) o.mode = both ? FAB_MODE_SUPERVISED : FAB_MODE_ANOMALY;
    int need_good = o.mode == FAB_MODE_SUPERVISED ? 2 : 3;
    if (n_good < need_good || (o.mode == FAB_MODE_SUPERVISED && n_def < 2)) {
        st = mc_error_set(&err, MC_ERR_ARG, "too few usable images for %s training: %d good, %d defect",
                          fab_mode_name((fab_mode)o.mode), n_good, n_def);
        goto fail;
    }
    if ((st = fit_mode((fab_mode)o.mode, &all, &o, ctx->seed, rng, &fit, &err)) != MC_OK) goto fail;
    if (both) {
        if ((st = fit_mode(FAB_MODE_ANOMALY, &all, &o, ctx->seed, rng, &other, &err)) != MC_OK) goto fail;
        double as = isfinite(fit.h.auroc) ? fit.h.auroc : 0, aa = isfinite(other.h.auroc) ? other.h.auroc : 0;
        mc_log_info("auto: held-out AUROC %.3f supervised, %.3f good-only: keeping the %s model", as, aa,
                    aa >= as ? "good-only" : "supervised");
        if (aa >= as) {
            fitted t = fit;
            fit = other;
            other = t;
        }
        fab_detector_clear(&other.d);
    }
    fab_detector d = fit.d;
    held_out h = fit.h;
    o.thr = fit.o.thr;
    int nd = fit.val_defect;
    double auroc = h.auroc, accuracy = h.accuracy;
    /* a model that does poorly on its own held-out images is saved, but said so loudly and marked */
    char quality[200] = "";
    if (isfinite(h.auroc) && h.auroc < 0.9)
        snprintf(quality, sizeof quality, "held-out AUROC %.3f is below 0.9: the model barely tells defects from good images", h.auroc);
    else if (nd > 0 && h.accuracy < 0.9)
        snprintf(quality, sizeof quality, "held-out accuracy %.3f at the threshold is below 0.9 (false alarms %.3f, recall %.3f)",
                 h.accuracy, h.fpr, h.recall);
    else if (h.fpr > 4 * (o.thr.method == FAB_THRESHOLD_FPR ? o.thr.target_fpr : 0.01) && h.fpr > 0.05)
        snprintf(quality, sizeof quality, "held-out false-alarm rate %.3f at the threshold", h.fpr);
    if (quality[0]) mc_log_warn("WARNING: %s: %s", o.output, quality);
    fab_model_counts counts = {fit.train_good, fit.train_defect, fit.val_good, fit.val_defect, auroc};
    ej = json_pack("{s:i, s:i, s:i, s:i}", "train_good", counts.train_good, "train_defect", counts.train_defect,
                           "val_good", counts.val_good, "val_defect", counts.val_defect);
    json_object_set_new(ej, "val_accuracy", isfinite(accuracy) ? json_real(accuracy) : json_null());
    json_object_set_new(ej, "val_auroc", isfinite(auroc) ? json_real(auroc) : json_null());
    json_object_set_new(ej, "val_fpr", isfinite(h.fpr) ? json_real(h.fpr) : json_null());
    json_object_set_new(ej, "val_recall", isfinite(h.recall) ? json_real(h.recall) : json_null());
    if (d.mode == FAB_MODE_ANOMALY) json_object_set_new(ej, "crossfit_folds", json_integer(o.folds));
    json_object_set_new(ej, "quality_warning", quality[0] ? json_string(quality) : json_null());
    /* the held-out figures go into the model's settings and, with --json, to stdout */
    char *extra = json_dumps(ej, JSON_COMPACT);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)ctx->seed);
    mc_st_meta prov[] = {{"moesuite.program", "moe-factory train"}, {"moesuite.seed", seed}};
    st = fab_detector_save(&d, o.output, extra, prov, 2, &err);
    free(extra);
    if (st != MC_OK) goto fail;
    fab_detector *saved;
    if ((st = fab_detector_load(&saved, o.output, &err)) != MC_OK) goto fail;
    if ((st = mc_store_begin(store)) == MC_OK &&
        (st = fab_inspect_record_model(store, mc_run_id(run), saved->sha256, o.output, fab_mode_name(d.mode), d.size,
                                       d.threshold, d.method, &counts)) == MC_OK)
        st = mc_store_commit(store);
    if (st != MC_OK) {
        mc_store_rollback(store);
        mc_error_set(&err, st, "database: %s", sqlite3_errmsg(mc_store_db(store)));
    } else if (ctx->json) {
        json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:f, s:s}", "model", o.output, "sha256", saved->sha256, "mode",
                              fab_mode_name(d.mode), "size", d.size, "threshold", d.threshold, "threshold_method", d.method);
        json_object_update(j, ej);
        mc_cli_print_json(j);
    } else {
        printf("%s\t%s\tthreshold %.6g (%s)\tval accuracy %.3f\tfalse alarms %.3f", o.output, fab_mode_name(d.mode),
               d.threshold, d.method, accuracy, h.fpr);
        if (isfinite(h.recall)) printf("\trecall %.3f", h.recall);
        if (isfinite(auroc)) printf("\tval AUROC %.3f", auroc);
        printf("\n");
    }
    fab_detector_free(saved);
fail:
    if (st != MC_OK) mc_log_error("%s", err.msg);
    json_decref(ej);
    fab_detector_clear(&fit.d);
    fab_image_set_free(&all);
    mc_rng_destroy(rng);
    return mc_run_end(run, st);
}
