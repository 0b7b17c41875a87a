/* cmd_eval.c: `moe-medical eval`: a detector's predictions against nodule annotations, the LUNA16
 * way (froc.h): sensitivity at 1/8 .. 8 false positives per scan, the CPM, a bootstrap interval over
 * scans, the FROC curve as PNG, and one row per evaluation in med_froc_evals. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "froc.h"
#include "luna_csv.h"
#include "med_schema.h"
#include "moecore/log.h"
#include "moecore/plot.h"
#include "moecore/run.h"

typedef struct eval_opts {
    const char *annotations, *predictions, *excluded, *scans, *plot;
    int bootstrap;
    double level;
} eval_opts;

static const mc_option options[] = {
    {"annotations", 'a', "CSV", "nodules: seriesuid,coordX,coordY,coordZ,diameter_mm (world mm)", NULL},
    {"predictions", 'p', "CSV", "detections: seriesuid,coordX,coordY,coordZ,probability", NULL},
    {"excluded", 0, "CSV", "irrelevant findings (annotations_excluded.csv): hits on them are ignored", NULL},
    {"scans", 0, "LIST", "the scans evaluated, one seriesuid per line (default: every scan named in the CSVs)", NULL},
    {"plot", 0, "PNG", "write the FROC curve (log-x) with its bootstrap band", NULL},
    {"bootstrap", 0, "N", "bootstrap resamples of the scans for the intervals; 0 for none", "1000"},
    {"level", 0, "P", "confidence level of the bootstrap intervals", "0.95"},
};

static int on_option(const mc_ctx *ctx, void *user, int index, const char *arg) {
    eval_opts *o = user;
    long v;
    switch (index) {
    case 0: o->annotations = arg; return 0;
    case 1: o->predictions = arg; return 0;
    case 2: o->excluded = arg; return 0;
    case 3: o->scans = arg; return 0;
    case 4: o->plot = arg; return 0;
    case 5:
        if (mc_cli_int(ctx, "bootstrap", arg, 0, 1000000, &v) != 0) return -1;
        o->bootstrap = (int)v;
        return 0;
    default: return mc_cli_real(ctx, "level", arg, 0.5, 0.999, &o->level);
    }
}

/* FNV-1a 64 over the bytes of a file, continuing from h; 0 on success. */
static int hash_file(const char *path, uint64_t *h) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    unsigned char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        for (size_t i = 0; i < n; i++) *h = (*h ^ buf[i]) * 0x100000001b3ULL;
    int bad = ferror(f);
    fclose(f);
    return bad ? -1 : 0;
}

static void hash_bytes(uint64_t *h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) *h = (*h ^ b[i]) * 0x100000001b3ULL;
}

/* The evaluation's identity: the content of every input and the options that change its numbers. */
static int eval_key(const eval_opts *o, uint64_t seed, char key[17]) {
    uint64_t h = 0xcbf29ce484222325ULL;
    const char *files[4] = {o->annotations, o->predictions, o->excluded, o->scans};
    for (int i = 0; i < 4; i++) {
        unsigned char tag = files[i] ? (unsigned char)(i + 1) : 0;
        hash_bytes(&h, &tag, 1);
        if (files[i] && hash_file(files[i], &h) != 0) return -1;
    }
    hash_bytes(&h, &o->bootstrap, sizeof o->bootstrap);
    hash_bytes(&h, &o->level, sizeof o->level);
    hash_bytes(&h, &seed, sizeof seed);
    snprintf(key, 17, "%016" PRIx64, h);
    return 0;
}

static int cmp_cstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The scans named in the marks files, each once, sorted; pointers into the marks (not owned). */
static char **scans_of(const med_marks *const *m, int n_m, int *n) {
    int total = 0;
    for (int i = 0; i < n_m; i++) total += m[i] ? m[i]->n : 0;
    char **v = malloc(sizeof *v * (size_t)(total > 0 ? total : 1));
    if (!v) return NULL;
    int k = 0;
    for (int i = 0; i < n_m; i++)
        for (int j = 0; m[i] && j < m[i]->n; j++) v[k++] = m[i]->v[j].seriesuid;
    qsort(v, (size_t)k, sizeof *v, cmp_cstr);
    int u = 0;
    for (int i = 0; i < k; i++)
        if (u == 0 || strcmp(v[u - 1], v[i]) != 0) v[u++] = v[i];
    *n = u;
    return v;
}

static json_t *result_json(const eval_opts *o, const med_froc_counts *c, const double *sens, double cpm,
                           const med_froc_bootstrap *bs, uint64_t seed) {
    json_t *pts = json_array();
    for (int r = 0; r < MED_FROC_N_RATES; r++) {
        json_t *p = json_pack("{s:f, s:f}", "fp_per_scan", med_froc_rates[r], "sensitivity", sens[r]);
        if (bs) {
            json_object_set_new(p, "lo", json_real(bs->sens_lo[r]));
            json_object_set_new(p, "hi", json_real(bs->sens_hi[r]));
        }
        json_array_append_new(pts, p);
    }
    json_t *j = json_pack("{s:s, s:s, s:o, s:o, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:o, s:f}", "annotations",
                          o->annotations, "predictions", o->predictions, "excluded",
                          o->excluded ? json_string(o->excluded) : json_null(), "scan_list",
                          o->scans ? json_string(o->scans) : json_null(), "scans", c->scans, "nodules", c->nodules,
                          "detected", c->detected, "marks", c->predictions, "false_positives", c->false_positives,
                          "ignored", c->ignored, "marks_left_out", c->outside, "nodules_left_out", c->nodules_outside,
                          "sensitivity", pts, "cpm", cpm);
    json_object_set_new(j, "bootstrap", json_integer(bs ? bs->samples : 0));
    if (bs) {
        json_object_set_new(j, "bootstrap_used", json_integer(bs->used));
        json_object_set_new(j, "level", json_real(bs->level));
        json_object_set_new(j, "cpm_lo", json_real(bs->cpm_lo));
        json_object_set_new(j, "cpm_hi", json_real(bs->cpm_hi));
        json_object_set_new(j, "seed", json_integer((json_int_t)seed));
    }
    return j;
}

static void print_human(const json_t *j, const med_froc_counts *c, const double *sens, double cpm,
                        const med_froc_bootstrap *bs) {
    printf("%s against %s: %d scans, %d nodules (%d detected at any score), %d marks: %d false positives, %d ignored\n",
           json_string_value(json_object_get(j, "predictions")), json_string_value(json_object_get(j, "annotations")),
           c->scans, c->nodules, c->detected, c->predictions, c->false_positives, c->ignored);
    if (bs) printf("FPs/scan  sensitivity  %.0f%% interval\n", 100 * bs->level);
    else printf("FPs/scan  sensitivity\n");
    for (int r = 0; r < MED_FROC_N_RATES; r++) {
        printf("%8.3f  %11.4f", med_froc_rates[r], sens[r]);
        if (bs) printf("  [%.4f, %.4f]", bs->sens_lo[r], bs->sens_hi[r]);
        putchar('\n');
    }
    printf("CPM %.4f", cpm);
    if (bs) printf("  [%.4f, %.4f]", bs->cpm_lo, bs->cpm_hi);
    putchar('\n');
}

static mc_status write_plot(const char *path, const med_froc_data *d, const double *sens, double cpm,
                            const med_froc_bootstrap *bs, mc_error *err) {
    double *f, *s, *t;
    int n;
    mc_status st = med_froc_curve(d, &f, &s, &t, &n, err);
    if (st != MC_OK) return st;
    double gx[MED_FROC_N_GRID], gy[MED_FROC_N_GRID];
    for (int g = 0; g < MED_FROC_N_GRID; g++) {
        gx[g] = med_froc_rates[0] * pow(2.0, 6.0 * g / (MED_FROC_N_GRID - 1));
        gy[g] = med_froc_interp(gx[g], f, s, n);
    }
    mc_plot_series series[4] = {
        {"FROC", gx, gy, MED_FROC_N_GRID, 0},
        {"CPM operating points", med_froc_rates, sens, MED_FROC_N_RATES, 2},
    };
    int ns = 2;
    if (bs) {
        series[ns++] = (mc_plot_series){"bootstrap lower bound", bs->grid, bs->grid_lo, MED_FROC_N_GRID, 1};
        series[ns++] = (mc_plot_series){"bootstrap upper bound", bs->grid, bs->grid_hi, MED_FROC_N_GRID, 1};
    }
    char title[96];
    snprintf(title, sizeof title, "FROC, CPM %.4f", cpm);
    mc_plot_opts po = {.title = title, .xlabel = "average false positives per scan", .ylabel = "sensitivity",
                       .log_x = 1, .x_lo = 0.125, .x_hi = 8, .y_lo = 0, .y_hi = 1};
    st = mc_plot_lines(path, &po, series, ns, err);
    free(f);
    free(s);
    free(t);
    return st;
}

static mc_status store_eval(mc_run *run, const char *key, const eval_opts *o, const med_froc_counts *c,
                            const double *sens, double cpm, const med_froc_bootstrap *bs, const char *result) {
    mc_store *s = mc_run_store(run);
    sqlite3_stmt *st;
    mc_status rc = mc_store_stmt(
        s,
        "INSERT INTO med_froc_evals(eval_key, annotations, predictions, excluded, scan_list, scans, nodules, detected,"
        " marks, false_positives, ignored, sens_fp_0125, sens_fp_025, sens_fp_05, sens_fp_1, sens_fp_2, sens_fp_4,"
        " sens_fp_8, cpm, bootstrap, cpm_lo, cpm_hi, result, run_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
        " ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24) ON CONFLICT(eval_key) DO UPDATE SET"
        " annotations = excluded.annotations, predictions = excluded.predictions, excluded = excluded.excluded,"
        " scan_list = excluded.scan_list, result = excluded.result, run_id = excluded.run_id",
        &st);
    if (rc != MC_OK) return rc;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, o->annotations, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, o->predictions, -1, SQLITE_STATIC);
    if (o->excluded) sqlite3_bind_text(st, 4, o->excluded, -1, SQLITE_STATIC);
    if (o->scans) sqlite3_bind_text(st, 5, o->scans, -1, SQLITE_STATIC);
    int counts[6] = {c->scans, c->nodules, c->detected, c->predictions, c->false_positives, c->ignored};
    for (int i = 0; i < 6; i++) sqlite3_bind_int(st, 6 + i, counts[i]);
    for (int r = 0; r < MED_FROC_N_RATES; r++) sqlite3_bind_double(st, 12 + r, sens[r]);
    sqlite3_bind_double(st, 19, cpm);
    sqlite3_bind_int(st, 20, bs ? bs->samples : 0);
    if (bs) {
        sqlite3_bind_double(st, 21, bs->cpm_lo);
        sqlite3_bind_double(st, 22, bs->cpm_hi);
    }
    sqlite3_bind_text(st, 23, result, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 24, mc_run_id(run), -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) return MC_ERR_DB;
    return MC_OK;
}

/* Reads the inputs and evaluates. On failure err says why, and *bad_input tells whether an input was
 * at fault (unreadable, malformed, nothing to evaluate) rather than the run (memory, output, database). */
static mc_status evaluate(const mc_ctx *ctx, mc_run *run, const eval_opts *o, mc_error *err, int *bad_input) {
    med_marks ann = {0}, exc = {0}, pred = {0};
    char **list = NULL, **named = NULL;
    int n_list = 0;
    med_froc_data *d = NULL;
    med_froc_bootstrap bs;
    mc_rng *rng = NULL;
    json_t *j = NULL;
    char *result = NULL;
    double sens[MED_FROC_N_RATES], cpm;
    mc_status st;
    *bad_input = 1;
    if ((st = med_marks_read(o->annotations, MED_MARKS_ANNOTATIONS, &ann, err)) != MC_OK) goto done;
    if (o->excluded && (st = med_marks_read(o->excluded, MED_MARKS_EXCLUDED, &exc, err)) != MC_OK) goto done;
    if ((st = med_marks_read(o->predictions, MED_MARKS_PREDICTIONS, &pred, err)) != MC_OK) goto done;
    if (o->scans) {
        if ((st = med_scan_list_read(o->scans, &list, &n_list, err)) != MC_OK) goto done;
    } else {
        const med_marks *all[3] = {&ann, &exc, &pred};
        if (!(named = scans_of(all, 3, &n_list))) {
            st = mc_error_set(err, MC_ERR_NOMEM, "out of memory");
            goto done;
        }
        if (n_list == 0) {
            st = mc_error_set(err, MC_ERR_FORMAT, "%s: no scans: the annotations and predictions are empty",
                              o->annotations);
            goto done;
        }
    }
    if ((st = med_froc_prepare(&d, &ann, o->excluded ? &exc : NULL, &pred, list ? list : named, n_list, err)) != MC_OK)
        goto done;
    const med_froc_counts *c = med_froc_counts_of(d);
    if (c->nodules == 0) {
        st = mc_error_set(err, MC_ERR_FORMAT, "%s: no nodules on the evaluated scans: sensitivity is undefined",
                          o->annotations);
        goto done;
    }
    *bad_input = 0;
    if (c->outside) mc_log_warn("%s: %d marks on scans not in %s left out", o->predictions, c->outside, o->scans);
    if (c->nodules_outside)
        mc_log_warn("%s: %d nodules on scans not in %s left out", o->annotations, c->nodules_outside, o->scans);
    if ((st = med_froc_sensitivities(d, sens, &cpm, err)) != MC_OK) goto done;
    if (o->bootstrap > 0) {
        if (!(rng = mc_rng_create(ctx->seed))) {
            st = mc_error_set(err, MC_ERR_NOMEM, "out of memory");
            goto done;
        }
        if ((st = med_froc_bootstrap_run(d, o->bootstrap, o->level, rng, &bs, err)) != MC_OK) goto done;
    }
    const med_froc_bootstrap *b = o->bootstrap > 0 ? &bs : NULL;
    if (o->plot) {
        if ((st = write_plot(o->plot, d, sens, cpm, b, err)) != MC_OK) goto done;
        mc_log_info("%s: FROC curve written", o->plot);
    }
    j = result_json(o, c, sens, cpm, b, ctx->seed);
    if (!(result = json_dumps(j, JSON_COMPACT))) {
        st = mc_error_set(err, MC_ERR_NOMEM, "out of memory");
        goto done;
    }
    char key[17];
    if (eval_key(o, ctx->seed, key) != 0) {
        st = mc_error_set(err, MC_ERR_IO, "%s: cannot read again: %s", o->predictions, strerror(errno));
        goto done;
    }
    mc_store *s = mc_run_store(run);
    if ((st = mc_store_begin(s)) != MC_OK || (st = store_eval(run, key, o, c, sens, cpm, b, result)) != MC_OK ||
        (st = mc_store_commit(s)) != MC_OK) {
        st = mc_error_set(err, MC_ERR_DB, "database: %s", sqlite3_errmsg(mc_store_db(s)));
        mc_store_rollback(s);
        goto done;
    }
    if (ctx->json) {
        json_object_set_new(j, "eval_key", json_string(key));
        mc_cli_print_json(j);
        j = NULL;
    } else {
        print_human(j, c, sens, cpm, b);
    }
done:
    json_decref(j);
    free(result);
    mc_rng_destroy(rng);
    med_froc_data_free(d);
    free(named);
    med_scan_list_free(list, n_list);
    med_marks_free(&ann);
    med_marks_free(&exc);
    med_marks_free(&pred);
    return st;
}

int med_cmd_eval(mc_ctx *ctx, int argc, char **argv) {
    static const mc_cli_spec spec = {
        .usage = "--annotations CSV --predictions CSV [options]",
        .description = "Evaluates a nodule detector as LUNA16 does (docs/medical.md): a mark hits a nodule within its\n"
                       "radius; each nodule counts once; marks on no nodule are false positives unless they hit an\n"
                       "irrelevant finding (--excluded). Prints the sensitivity at 1/8 to 8 false positives per scan,\n"
                       "their mean (the CPM) with bootstrap intervals over scans (--seed), and stores the result.",
        .options = options,
        .n_options = 7,
        .min_args = 0,
        .max_args = 0,
    };
    eval_opts o = {.bootstrap = 1000, .level = 0.95};
    int code;
    if (mc_cli_parse(ctx, &spec, argc, argv, on_option, &o, &code) < 0) return code;
    if (!o.annotations || !o.predictions) {
        mc_cli_usage_error(ctx, "--annotations and --predictions are required");
        return MC_EXIT_USAGE;
    }
    mc_run *run;
    mc_error err = {0};
    if (mc_run_begin(&run, ctx, med_schema_migrate, &err) != MC_OK) {
        mc_log_error("%s", err.msg);
        return MC_EXIT_FAILURE;
    }
    int bad_input = 0;
    mc_status failure = MC_OK, st = evaluate(ctx, run, &o, &err, &bad_input);
    if (st != MC_OK && bad_input && st != MC_ERR_NOMEM) {
        /* the evaluation is named by its predictions file; a reason about that file needs no repeat of it */
        size_t len = strlen(o.predictions);
        const char *reason = err.msg;
        if (strncmp(reason, o.predictions, len) == 0 && strncmp(reason + len, ": ", 2) == 0) reason += len + 2;
        mc_run_input_rejected(run, o.predictions, reason);
    } else if (st != MC_OK) {
        mc_log_error("%s", err.msg);
        failure = st;
    } else {
        mc_run_input_ok(run);
    }
    return mc_run_end(run, failure);
}
