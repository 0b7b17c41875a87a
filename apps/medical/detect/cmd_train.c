/* cmd_train.c: `moe-medical train`: trains the nodule detector on the CT series under a folder and
 * their LUNA16-style annotations, with each nodule's type where the file has a type column
 * (nodule_train.h), validating on a split by series, and saves it as safetensors with how it was
 * trained in its metadata. Each series is one input: one that cannot be
 * read or holds no lungs is rejected by name and the others go on. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "detector.h"
#include "risk/fusion.h"
#include "risk/brock.h"
#include "eval/luna_csv.h"
#include "med_schema.h"
#include "moecore/log.h"
#include "moecore/run.h"
#include "nodule_train.h"

typedef struct {
    const char *data, *annotations, *output, *nodules, *clinical, *truth;
    long epochs, pos_copies, max_neg, hard_neg;
    double val_fraction;
} train_opts;

static const mc_option options[] = {
    {"data", 0, "DIR", "the folder holding the training CT series (DICOM)", NULL},
    {"annotations", 0, "CSV", "nodules: seriesuid,coordX,coordY,coordZ,diameter_mm (world mm, LPS), optional type column (solid, part-solid, ground-glass) to train the type head", NULL},
    {"output", 'o', "MODEL", "the model file to write (safetensors)", NULL},
    {"epochs", 0, "N", "most epochs (early stopping on the validation loss, patience 4)", "12"},
    {"pos-copies", 0, "N", "augmented copies of each nodule patch", "8"},
    {"max-neg", 0, "N", "hard negatives per series at most (a seeded draw of the candidates that match no nodule)", "120"},
    {"val-fraction", 0, "F", "share of the series held out for validation (at least one when there are two)", "0.2"},
    {"hard-negatives", 0, "N", "then per series the N candidates matching no nodule that the first model scores highest are\n"
                               "added (2 copies each) and the detector is trained again from the start; 0: one round", "0"},
    {"nodules", 0, "CSV", "with --clinical and --truth: fit the malignancy fusion on each series' largest nodule (seriesuid,diameter_mm,type)", NULL},
    {"clinical", 0, "CSV", "the clinical records of the fusion's studies", NULL},
    {"truth", 0, "CSV", "the fusion's labels: seriesuid,malignant", NULL},
};

static int on_option(const mc_ctx *ctx, void *user, int index, const char *arg) {
    train_opts *o = user;
    switch (index) {
    case 0: o->data = arg; return 0;
    case 1: o->annotations = arg; return 0;
    case 2: o->output = arg; return 0;
    case 3: return mc_cli_int(ctx, "epochs", arg, 1, 1000, &o->epochs);
    case 4: return mc_cli_int(ctx, "pos-copies", arg, 1, 100, &o->pos_copies);
    case 5: return mc_cli_int(ctx, "max-neg", arg, 1, 100000, &o->max_neg);
    case 6: return mc_cli_real(ctx, "val-fraction", arg, 0, 0.9, &o->val_fraction);
    case 7: return mc_cli_int(ctx, "hard-negatives", arg, 0, 10000, &o->hard_neg);
    case 8: o->nodules = arg; return 0;
    case 9: o->clinical = arg; return 0;
    default: o->truth = arg; return 0;
    }
}

/* The type of each mark of m, read from the type column of the file it came from (path): type[i] a
 * med_nodule_type, or -1 where the file has no such column or the cell is empty. *n_typed counts the
 * known ones. err names the file and line of a type it does not know. */
static mc_status annotation_types(const char *path, const med_marks *m, int *type, int *n_typed, mc_error *err) {
    for (int i = 0; i < m->n; i++) type[i] = -1;
    *n_typed = 0;
    med_csv c;
    mc_status st = med_csv_open(&c, path, err);
    if (st != MC_OK) return st;
    int r = med_csv_next(&c, err), col = r == 1 ? med_csv_find(&c, "type") : -1, next = 0;
    while (col >= 0 && (r = med_csv_next(&c, err)) == 1) {
        while (next < m->n && m->v[next].line < c.line) next++;
        if (next >= m->n || m->v[next].line != c.line || col >= c.n || !c.field[col][0]) continue;
        med_nodule_type t;
        if (med_nodule_type_parse(c.field[col], &t) != 0) {
            st = mc_error_set(err, MC_ERR_FORMAT, "%s: line %ld: type '%s' is not solid, part-solid or ground-glass", path,
                              c.line, c.field[col]);
            break;
        }
        type[next] = (int)t;
        (*n_typed)++;
    }
    if (r < 0) st = MC_ERR_FORMAT;
    med_csv_close(&c);
    return st;
}

/* The annotations of one series as rows of (x, y, z, diameter) with their types (type_of per mark of
 * m); *n of them. NULL when out of memory. */
static double *series_annotations(const med_marks *m, const int *type_of, const char *uid, int **type, int *n) {
    double *a = malloc(sizeof *a * 4 * (size_t)(m->n > 0 ? m->n : 1));
    *type = malloc(sizeof **type * (size_t)(m->n > 0 ? m->n : 1));
    *n = 0;
    if (!a || !*type) {
        free(a);
        free(*type);
        *type = NULL;
        return NULL;
    }
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->v[i].seriesuid, uid) == 0) {
            (*type)[*n] = type_of[i];
            double *r = a + 4 * (*n)++;
            r[0] = m->v[i].x;
            r[1] = m->v[i].y;
            r[2] = m->v[i].z;
            r[3] = m->v[i].value;
        }
    return a;
}

static json_t *real_or_null(double v) { return isnan(v) ? json_null() : json_real(v); }

static mc_status save_model(const mc_model *m, const train_opts *o, uint64_t seed, int n_series, int n_val,
                            const med_patch_set *tr, const med_patch_set *va, const mc_train_result *res,
                            const med_patch_metrics *vm, int n_typed, const med_fusion *fusion, mc_error *err) {
    json_t *j = json_pack("{s:s, s:s, s:I, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:b, s:f, s:f}",
                          "data", o->data, "annotations", o->annotations, "seed", (json_int_t)seed, "epochs",
                          (int)o->epochs, "epochs_run", res->epochs_run, "best_epoch", res->best_epoch, "series",
                          n_series, "val_series", n_val, "train_pos", tr->n_pos, "train_neg", tr->n_neg, "val_pos",
                          va->n_pos, "val_neg", va->n_neg, "patch", MED_PATCH, "stopped_early", res->stopped_early,
                          "train_loss", res->epochs_run > 0 ? res->train_loss[res->epochs_run - 1] : NAN,
                          "val_loss", res->best_val);
    json_object_set_new(j, "val_auc", real_or_null(vm->auc));
    json_object_set_new(j, "val_diameter_mae_mm", real_or_null(vm->diameter_mae_mm));
    json_object_set_new(j, "val_type_accuracy", real_or_null(vm->type_accuracy));
    json_object_set_new(j, "typed_nodules", json_integer(n_typed));
    json_object_set_new(j, "channels", json_integer(MED_CHANNELS));
    json_object_set_new(j, "heads", json_integer(MED_HEADS));
    json_object_set_new(j, "pos_copies", json_integer(o->pos_copies));
    json_object_set_new(j, "max_neg", json_integer(o->max_neg));
    json_object_set_new(j, "hard_negatives", json_integer(o->hard_neg));
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!text) return mc_error_set(err, MC_ERR_NOMEM, "out of memory");
    char *fus = fusion ? med_fusion_to_json(fusion) : NULL;
    mc_st_meta meta[] = {{"med.detector", text}, {"med.fusion", fus}};
    mc_status st = fusion && !fus ? mc_error_set(err, MC_ERR_NOMEM, "out of memory")
                                  : mc_model_save(m, o->output, NULL, 0, meta, fus ? 2 : 1, err);
    free(text);
    free(fus);
    return st;
}

/* The candidates of each study of the first round, kept for the second. */
typedef struct {
    med_candidate *cand;
    int n;
} study_candidates;

/* Hard negatives: each used series (series[used[u]], study u) read again with the candidates of the
 * first round (cand[u]), its candidates scored by model m, and the o->hard_neg unmatched ones scored
 * highest added to tr or va (by val_of[u]). */
static mc_status add_hard_negatives(const train_opts *o, const med_collection *c, const int *used, int n_used,
                                    const study_candidates *cand, const int *val_of, const med_marks *ann,
                                    const int *ann_type, mc_model *m, med_patch_set *tr, med_patch_set *va, mc_rng *rng,
                                    int *n_added, mc_error *err) {
    med_series_options so = MED_SERIES_OPTIONS_DEFAULT;
    mc_status st = MC_OK;
    *n_added = 0;
    for (int u = 0; u < n_used && st == MC_OK; u++) {
        const med_series *s = &c->series[used[u]];
        med_prepared p;
        if ((st = med_prepare_again(s, &so, cand[u].cand, cand[u].n, &p, err)) != MC_OK) break;
        int n_ann, *type = NULL, n_neg = 0;
        double *a = series_annotations(ann, ann_type, s->series_uid, &type, &n_ann);
        med_score *sc = malloc(sizeof *sc * (size_t)(p.n_cand + 1));
        float *prob = malloc(sizeof *prob * (size_t)(p.n_cand + 1));
        int *neg = malloc(sizeof *neg * (size_t)(p.n_cand + 1)), *rank = malloc(sizeof *rank * (size_t)(p.n_cand + 1));
        if (!a || !sc || !prob || !neg || !rank) st = mc_error_set(err, MC_ERR_NOMEM, "out of memory");
        if (st == MC_OK) st = med_detector_score(m, p.iso, p.cand, p.n_cand, sc, err);
        /* the unmatched candidates, most probable first */
        for (int i = 0; i < p.n_cand && st == MC_OK; i++) {
            double w[3] = {p.cand[i].x, p.cand[i].y, p.cand[i].z};
            if (med_match_annotation(w, a, n_ann) < 0) {
                prob[n_neg] = sc[i].probability;
                neg[n_neg++] = i;
            }
        }
        if (st == MC_OK && med_rank_by_probability(prob, n_neg, rank) != 0) st = mc_error_set(err, MC_ERR_NOMEM, "out of memory");
        if (st == MC_OK) {
            int k = n_neg < o->hard_neg ? n_neg : (int)o->hard_neg;
            for (int q = 0; q < k; q++) rank[q] = neg[rank[q]];
            st = med_patch_set_add_negatives(val_of[u] ? va : tr, &p, u, rank, k, 2, rng, err);
            *n_added += 2 * k;
            mc_log_info("%s: %d hard negatives, scored %.3f to %.3f by the first model", s->series_uid, k,
                        k ? sc[rank[0]].probability : 0.0, k ? sc[rank[k - 1]].probability : 0.0);
        }
        free(a);
        free(type);
        free(sc);
        free(prob);
        free(neg);
        free(rank);
        med_prepared_free(&p);
    }
    return st;
}

int med_cmd_train(mc_ctx *ctx, int argc, char **argv) {
    static const mc_cli_spec spec = {
        .usage = "--data DIR --annotations CSV -o MODEL [options]",
        .description = "Trains the nodule detector (docs/medical.md): every CT series under --data is resampled to 1 mm,\n"
                       "its lungs masked and its candidates found; 1 mm and 2 mm patches around annotated nodules\n"
                       "(augmented) and around candidates that match no nodule train a 3D CNN with attention to score\n"
                       "nodules, regress their diameter and, where --annotations has a type column, classify their type;\n"
                       "a share of the series, drawn with --seed, validates and stops training early. The model file\n"
                       "records how it was made.",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
        .min_args = 0,
        .max_args = 0,
        .trains = 1,
    };
    train_opts o = {.epochs = 12, .pos_copies = 8, .max_neg = 120, .val_fraction = 0.2};
    int code;
    if (mc_cli_parse(ctx, &spec, argc, argv, on_option, &o, &code) < 0) return code;
    if (!o.data || !o.annotations || !o.output) {
        mc_cli_usage_error(ctx, "--data, --annotations and -o are required");
        return MC_EXIT_USAGE;
    }
    if ((o.nodules || o.clinical || o.truth) && !(o.nodules && o.clinical && o.truth)) {
        mc_cli_usage_error(ctx, "the fusion needs all of --nodules, --clinical and --truth");
        return MC_EXIT_USAGE;
    }
    mc_error err = {0};
    med_fusion fusion;
    if (o.nodules) {
        if (med_fusion_fit_files(o.nodules, o.clinical, o.truth, &fusion, &err) != MC_OK) {
            mc_log_error("%s", err.msg);
            return MC_EXIT_FAILURE;
        }
        mc_log_info("malignancy fusion fitted on %d studies (%d malignant)", fusion.n_fit, fusion.n_positive);
    }
    med_marks ann = {0};
    if (med_marks_read(o.annotations, MED_MARKS_ANNOTATIONS, &ann, &err) != MC_OK) {
        mc_log_error("%s", err.msg);
        return MC_EXIT_FAILURE;
    }
    int *ann_type = malloc(sizeof *ann_type * (size_t)(ann.n + 1)), n_typed = 0;
    if (!ann_type || annotation_types(o.annotations, &ann, ann_type, &n_typed, &err) != MC_OK) {
        mc_log_error("%s", ann_type ? err.msg : "out of memory");
        free(ann_type);
        med_marks_free(&ann);
        return MC_EXIT_FAILURE;
    }
    if (n_typed == 0) mc_log_warn("%s: no type column: the type head is not trained", o.annotations);
    med_series_options so = MED_SERIES_OPTIONS_DEFAULT;
    med_collection c;
    if (med_collection_scan(&c, &o.data, 1, &so, &err) != MC_OK) {
        mc_log_error("%s", err.msg);
        free(ann_type);
        med_marks_free(&ann);
        return MC_EXIT_FAILURE;
    }
    mc_run *run;
    if (mc_run_begin(&run, ctx, med_schema_migrate, &err) != MC_OK) {
        mc_log_error("%s", err.msg);
        med_collection_free(&c);
        free(ann_type);
        med_marks_free(&ann);
        return MC_EXIT_FAILURE;
    }
    mc_status failure = MC_OK;
    mc_rng *rng = mc_rng_create(ctx->seed);
    med_patch_set all = {0}, tr = {0}, va = {0};
    int *val_of = calloc((size_t)c.n_series + 1, sizeof *val_of), *order = calloc((size_t)c.n_series + 1, sizeof *order);
    int *used = calloc((size_t)c.n_series + 1, sizeof *used);
    study_candidates *kept = calloc((size_t)c.n_series + 1, sizeof *kept);
    int n_used = 0;
    mc_model *m = NULL;
    if (!rng || !val_of || !order || !used || !kept) {
        failure = mc_error_set(&err, MC_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (failure != MC_OK) goto done;
    med_candidate_opts co;
    med_candidate_opts_default(&co);
    for (int i = 0; i < c.n_files; i++)
        if (c.files[i].unreadable)
            mc_run_input_rejected(run, c.files[i].path, c.files[i].problem);
    for (int i = 0; i < c.n_series && failure == MC_OK; i++) {
        const med_series *s = &c.series[i];
        if (s->skipped) {
            mc_log_info("skipped: %s: %s: %s", s->series_uid, s->folder, s->problems[0]);
            continue;
        }
        med_prepared p;
        if (med_prepare(s, &so, &co, &p, &err) != MC_OK) {
            mc_run_input_rejected(run, s->series_uid, err.msg);
            continue;
        }
        int n_ann, *type = NULL;
        double *a = series_annotations(&ann, ann_type, s->series_uid, &type, &n_ann);
        if (!a || med_patch_set_add(&all, &p, n_used, a, type, n_ann, (int)o.pos_copies, (int)o.max_neg, rng, &err) != MC_OK)
            failure = mc_error_set(&err, MC_ERR_NOMEM, "out of memory");
        mc_log_info("%s: %d candidates, %d nodules annotated (read %.2f s, resample %.2f s, lungs %.2f s, candidates %.2f s)",
                    s->series_uid, p.n_cand, n_ann, p.t_read, p.t_resample, p.t_mask, p.t_candidates);
        free(a);
        free(type);
        if (failure == MC_OK) {
            kept[n_used] = (study_candidates){p.cand, p.n_cand}; /* for the hard negatives */
            p.cand = NULL;
            used[n_used++] = i;
            mc_run_input_ok(run);
        }
        med_prepared_free(&p);
    }
    if (failure != MC_OK) goto done;
    if (n_used == 0) {
        failure = mc_error_set(&err, MC_ERR_ARG, "%s: no usable CT series to train on", o.data);
        goto done;
    }
    /* validation studies: a seeded draw of the series */
    for (int i = 0; i < n_used; i++) order[i] = i;
    mc_rng_shuffle(rng, order, n_used);
    int n_val = (int)floor(o.val_fraction * n_used + 0.5);
    if (n_val == 0 && o.val_fraction > 0 && n_used >= 2) n_val = 1;
    if (n_val >= n_used) n_val = n_used - 1;
    for (int i = 0; i < n_val; i++) val_of[order[i]] = 1;
    if ((failure = med_patch_set_split(&all, val_of, &tr, &va, &err)) != MC_OK) goto done;
    med_patch_set_free(&all);
    mc_log_info("training on %d series (%d nodule, %d other patches), validating on %d (%d, %d)", n_used - n_val,
                tr.n_pos, tr.n_neg, n_val, va.n_pos, va.n_neg);
    mc_train_result res;
    med_patch_metrics vm;
    if ((failure = med_detector_train(&tr, &va, (int)o.epochs, ctx->seed, &m, &res, &vm, &err)) != MC_OK) goto done;
    if (o.hard_neg > 0) {
        int added;
        mc_log_info("first model: validation AUC %.4f; scoring every candidate for hard negatives", vm.auc);
        if ((failure = add_hard_negatives(&o, &c, used, n_used, kept, val_of, &ann, ann_type, m, &tr, &va, rng, &added, &err)) !=
            MC_OK)
            goto done;
        mc_model_destroy(m);
        m = NULL;
        mc_log_info("training again with %d hard negative patches: %d nodule, %d other patches", added, tr.n_pos, tr.n_neg);
        if ((failure = med_detector_train(&tr, &va, (int)o.epochs, ctx->seed, &m, &res, &vm, &err)) != MC_OK) goto done;
    }
    if ((failure = save_model(m, &o, ctx->seed, n_used, n_val, &tr, &va, &res, &vm, n_typed,
                              o.nodules ? &fusion : NULL, &err)) != MC_OK)
        goto done;
    json_t *j = json_pack("{s:s, s:i, s:i, s:i, s:i, s:f, s:f}", "model", o.output, "series", n_used, "val_series",
                          n_val, "epochs_run", res.epochs_run, "best_epoch", res.best_epoch, "train_loss",
                          res.train_loss[res.epochs_run - 1], "val_loss", res.best_val);
    json_object_set_new(j, "val_auc", real_or_null(vm.auc));
    json_object_set_new(j, "val_diameter_mae_mm", real_or_null(vm.diameter_mae_mm));
    json_object_set_new(j, "val_type_accuracy", real_or_null(vm.type_accuracy));
    if (ctx->json) {
        mc_cli_print_json(j);
    } else {
        printf("%s: %d series (%d validating), %d epochs (best %d), train loss %.4f, validation loss %.4f, AUC %.4f, "
               "diameter error %.2f mm, type accuracy %.3f\n",
               o.output, n_used, n_val, res.epochs_run, res.best_epoch, res.train_loss[res.epochs_run - 1],
               res.best_val, vm.auc, vm.diameter_mae_mm, vm.type_accuracy);
        json_decref(j);
    }
done:
    if (failure != MC_OK) mc_log_error("%s", err.msg);
    mc_model_destroy(m);
    med_patch_set_free(&all);
    med_patch_set_free(&tr);
    med_patch_set_free(&va);
    free(val_of);
    free(order);
    for (int u = 0; kept && u < n_used; u++) free(kept[u].cand);
    free(kept);
    free(used);
    mc_rng_destroy(rng);
    med_collection_free(&c);
    free(ann_type);
    med_marks_free(&ann);
    return mc_run_end(run, failure);
}
