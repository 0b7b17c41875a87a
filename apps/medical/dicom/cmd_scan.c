/* cmd_scan.c: `moe-medical scan`: lists the DICOM series under folders (UIDs, modality, slices,
 * size, spacing, problems) and, with --store, records them in med_series. One series is one input:
 * a CT series that cannot become a volume is rejected with its problem, and so is a file that looks
 * like DICOM but cannot be parsed; series of other modalities and localizers are listed as skipped. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "med_schema.h"
#include "moecore/log.h"
#include "moecore/run.h"
#include "series.h"

typedef struct {
    med_series_options series;
    int store;
    const char *salt;
} scan_opts;

static const mc_option options[] = {
    {"store", 0, NULL, "record the series in the database (med_series)", NULL},
    {"gaps", 0, "reject|resample", "missing slices or uneven spacing make a series unusable, or are resampled", "reject"},
    {"min-slices", 0, "N", "fewer slices make a series unusable", "10"},
    {"id-salt", 0, "TEXT", "salt of the stored patient pseudonyms; else $MOESUITE_ID_SALT; without one no patient ID is stored", NULL},
};

static int on_option(const mc_ctx *ctx, void *user, int index, const char *arg) {
    scan_opts *o = user;
    long v;
    switch (index) {
    case 0: o->store = 1; return 0;
    case 1:
        if (med_gap_policy_parse(arg, &o->series.gaps) != 0)
            return mc_cli_usage_error(ctx, "--gaps expects reject or resample, got '%s'", arg);
        return 0;
    case 2:
        if (mc_cli_int(ctx, "min-slices", arg, 1, 100000, &v) != 0) return -1;
        o->series.min_slices = (int)v;
        return 0;
    default: o->salt = arg; return 0;
    }
}

static json_t *series_json(const med_series *s) {
    json_t *problems = json_array();
    for (int i = 0; i < s->n_problems; i++) json_array_append_new(problems, json_string(s->problems[i]));
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:[i,i,i], s:b, s:b, s:o}", "series_uid", s->series_uid,
                          "study_uid", s->study_uid, "modality", s->modality, "folder", s->folder, "files", s->n_files,
                          "slices", s->n_slices, "size", s->cols, s->rows, s->n_slices, "usable", s->usable, "skipped",
                          s->skipped, "problems", problems);
    if (s->n_slices > 0) {
        json_object_set_new(j, "spacing", json_pack("[f,f,f]", s->spacing[0], s->spacing[1], s->spacing[2]));
        json_object_set_new(j, "origin", json_pack("[f,f,f]", s->origin[0], s->origin[1], s->origin[2]));
        json_object_set_new(j, "orientation", json_pack("[f,f,f,f,f,f]", s->row_dir[0], s->row_dir[1], s->row_dir[2],
                                                        s->col_dir[0], s->col_dir[1], s->col_dir[2]));
    }
    if (s->slice_thickness > 0) json_object_set_new(j, "slice_thickness", json_real(s->slice_thickness));
    json_object_set_new(j, "description", json_string(s->description));
    json_object_set_new(j, "transfer_syntax", json_string(s->transfer_syntax));
    return j;
}

static void print_series(const mc_ctx *ctx, const med_series *s) {
    if (ctx->json) {
        mc_cli_print_json(series_json(s));
        return;
    }
    printf("%s\t%s\t%dx%dx%d", s->series_uid, s->modality[0] ? s->modality : "-", s->cols, s->rows, s->n_slices);
    if (s->n_slices > 0) printf("\t%.3fx%.3fx%.3f mm", s->spacing[0], s->spacing[1], s->spacing[2]);
    else printf("\t-");
    printf("\t%s\t%s", s->folder, s->usable ? "ok" : s->skipped ? "skipped" : "unusable");
    for (int i = 0; i < s->n_problems; i++) printf("%s%s", i ? "; " : ": ", s->problems[i]);
    putchar('\n');
}

int med_cmd_scan(mc_ctx *ctx, int argc, char **argv) {
    static const mc_cli_spec spec = {
        .usage = "[options] DIR...",
        .description = "Finds the DICOM files under each folder (recursively), groups them into series and checks each\n"
                       "series: CT or not, slices ordered by position, spacing, missing or duplicate slices,\n"
                       "orientation, gantry tilt (docs/medical.md). Prints one line (or JSON object) per series.",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
        .min_args = 1,
        .max_args = -1,
    };
    scan_opts o = {.series = MED_SERIES_OPTIONS_DEFAULT};
    int code;
    int first = mc_cli_parse(ctx, &spec, argc, argv, on_option, &o, &code);
    if (first < 0) return code;
    const char *salt = med_id_salt(o.salt);
    mc_error err;
    med_collection c;
    if (med_collection_scan(&c, (const char *const *)(argv + first), argc - first, &o.series, &err) != MC_OK) {
        mc_log_error("%s", err.msg);
        return MC_EXIT_FAILURE;
    }
    mc_run *run;
    if (mc_run_begin(&run, ctx, med_schema_migrate, &err) != MC_OK) {
        mc_log_error("%s", err.msg);
        med_collection_free(&c);
        return MC_EXIT_FAILURE;
    }
    mc_store *st = mc_run_store(run);
    mc_status failure = MC_OK;
    mc_log_debug("%d DICOM files, %d other files, %d series", c.n_files, c.n_other, c.n_series);
    for (int i = 0; i < c.n_files && failure == MC_OK; i++)
        if (c.files[i].unreadable)
            mc_run_input_rejected(run, c.files[i].path, c.files[i].problem);
    for (int i = 0; i < c.n_series && failure == MC_OK; i++) {
        const med_series *s = &c.series[i];
        if (o.store && med_id_left_out(st, s, salt, 0)) med_warn_id_left_out();
        if (o.store && (mc_store_begin(st) != MC_OK || med_store_series(st, mc_run_id(run), s, salt) != MC_OK ||
                        mc_store_commit(st) != MC_OK)) {
            char reason[600];
            snprintf(reason, sizeof reason, "database: %s", sqlite3_errmsg(mc_store_db(st)));
            mc_run_input_rejected(run, s->series_uid, reason);
            continue;
        }
        print_series(ctx, s);
        if (s->usable) {
            mc_run_input_ok(run);
        } else if (s->skipped) {
            mc_log_info("skipped: %s: %s: %s", s->series_uid, s->folder, s->problems[0]);
            mc_run_input_ok(run);
        } else {
            char reason[MED_PROBLEM_LEN + 4200];
            snprintf(reason, sizeof reason, "%s: %s", s->folder, s->fatal >= 0 ? s->problems[s->fatal] : "unusable");
            mc_run_input_rejected(run, s->series_uid, reason);
        }
    }
    med_collection_free(&c);
    return mc_run_end(run, failure);
}
