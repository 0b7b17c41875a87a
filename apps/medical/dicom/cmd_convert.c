/* cmd_convert.c: `moe-medical convert`: CT series to NIfTI-1 volumes in Hounsfield units with the
 * scanner's geometry (RAS affine in qform and sform). A series is given as a folder, or as a Series
 * Instance UID found under --in; each series is one input, rejected with its problem when it cannot
 * become a volume, and the batch goes on. */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "med_schema.h"
#include "moecore/log.h"
#include "moecore/safe_name.h"
#include "moecore/run.h"
#include "nifti_out.h"
#include "series.h"

typedef struct {
    med_series_options series;
    const char *output;
    const char *in;
    int store;
    const char *salt;
} convert_opts;

static const mc_option options[] = {
    {"output", 'o', "PATH", "a .nii/.nii.gz file for one series, else a folder that gets SERIES_UID.nii.gz per series", NULL},
    {"in", 0, "DIR", "the folder to look in when the arguments are Series Instance UIDs; no arguments: every CT series", NULL},
    {"gaps", 0, "reject|resample", "missing slices or uneven spacing reject a series, or are resampled to the usual step", "reject"},
    {"min-slices", 0, "N", "fewer slices reject a series", "10"},
    {"store", 0, NULL, "record the series and the volumes written in the database", NULL},
    {"id-salt", 0, "TEXT", "salt of the stored patient pseudonyms; else $MOESUITE_ID_SALT", NULL},
};

static int on_option(const mc_ctx *ctx, void *user, int index, const char *arg) {
    convert_opts *o = user;
    long v;
    switch (index) {
    case 0: o->output = arg; return 0;
    case 1: o->in = arg; return 0;
    case 2:
        if (med_gap_policy_parse(arg, &o->series.gaps) != 0)
            return mc_cli_usage_error(ctx, "--gaps expects reject or resample, got '%s'", arg);
        return 0;
    case 3:
        if (mc_cli_int(ctx, "min-slices", arg, 1, 100000, &v) != 0) return -1;
        o->series.min_slices = (int)v;
        return 0;
    case 4: o->store = 1; return 0;
    default: o->salt = arg; return 0;
    }
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static json_t *volume_json(const med_series *s, const med_volume *v, const char *path, int resampled) {
    double a[4][4];
    med_nifti_affine(v, a);
    json_t *aff = json_array();
    for (int r = 0; r < 4; r++) json_array_append_new(aff, json_pack("[f,f,f,f]", a[r][0], a[r][1], a[r][2], a[r][3]));
    return json_pack("{s:s, s:s, s:[i,i,i], s:[f,f,f], s:o, s:b}", "series_uid", s->series_uid, "path", path, "size",
                     v->nx, v->ny, v->nz, "spacing", v->spacing[0], v->spacing[1], v->spacing[2], "affine", aff,
                     "resampled", resampled);
}

/* One series to path: read, write, record. Returns 0; -1 with reason when the series is at fault; 1
 * when the volume could not be written (the run's failure, reported with mc_run_fail). */
static int convert_one(const mc_ctx *ctx, const convert_opts *o, mc_run *run, const char *salt, const med_series *s,
                       const char *path, char *reason, size_t size) {
    mc_error err;
    med_volume *v;
    if (med_series_read(s, &o->series, &v, &err) != MC_OK) {
        snprintf(reason, size, "%s", err.msg);
        return -1;
    }
    int resampled = s->uneven && o->series.gaps == MED_GAPS_RESAMPLE;
    if (resampled) mc_log_warn("%s: %s", s->series_uid, s->problems[s->n_problems - 1]);
    int rc = 0;
    mc_store *st = mc_run_store(run);
    if (o->store && med_id_left_out(st, s, salt, 1)) med_warn_id_left_out();
    if (o->store && (mc_store_begin(st) != MC_OK || med_store_series(st, mc_run_id(run), s, salt) != MC_OK ||
                     med_store_volume(st, mc_run_id(run), s, v, path, resampled) != MC_OK)) {
        snprintf(reason, size, "database: %s", sqlite3_errmsg(mc_store_db(st)));
        rc = -1;
    }
    if (rc == 0 && med_nifti_write(path, v, &err) != MC_OK) {
        mc_store_rollback(st);
        mc_run_fail(run, "%s: not converted: %s", s->series_uid, err.msg);
        rc = 1;
    }
    if (rc == 0 && o->store && mc_store_commit(st) != MC_OK) {
        snprintf(reason, size, "database: %s", sqlite3_errmsg(mc_store_db(st)));
        remove(path);
        rc = -1;
    }
    if (rc == 0) {
        if (ctx->json) mc_cli_print_json(volume_json(s, v, path, resampled));
        else printf("%s\t%s\t%dx%dx%d\t%.3fx%.3fx%.3f mm%s\n", s->series_uid, path, v->nx, v->ny, v->nz, v->spacing[0],
                    v->spacing[1], v->spacing[2], resampled ? "\tresampled" : "");
    }
    med_volume_free(v);
    return rc;
}

int med_cmd_convert(mc_ctx *ctx, int argc, char **argv) {
    static const mc_cli_spec spec = {
        .usage = "[options] -o OUT SERIES...",
        .description = "Reads each CT series (a folder of DICOM files, or a Series Instance UID under --in) into a volume\n"
                       "in Hounsfield units and writes it as NIfTI-1 with the scanner's geometry (docs/medical.md).\n"
                       "With a folder holding several series, each CT series is converted.",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
        .min_args = 0,
        .max_args = -1,
    };
    convert_opts o = {.series = MED_SERIES_OPTIONS_DEFAULT};
    int code;
    int first = mc_cli_parse(ctx, &spec, argc, argv, on_option, &o, &code);
    if (first < 0) return code;
    if (!o.output || (!o.in && first == argc)) {
        mc_cli_usage_error(ctx, o.output ? "give SERIES folders, or --in DIR" : "-o OUT is required");
        return MC_EXIT_USAGE;
    }
    int to_file = ends_with(o.output, ".nii") || ends_with(o.output, ".nii.gz");
    const char *salt = med_id_salt(o.salt);

    mc_error err;
    med_collection c;
    const char *in = o.in;
    const char *const *roots = o.in ? &in : (const char *const *)(argv + first);
    if (med_collection_scan(&c, roots, o.in ? 1 : argc - first, &o.series, &err) != MC_OK) {
        mc_log_error("%s", err.msg);
        return MC_EXIT_FAILURE;
    }
    /* the series asked for: the named UIDs, or every CT series found */
    const med_series **todo = calloc((size_t)c.n_series + 1, sizeof *todo);
    int n_todo = 0;
    if (!todo) {
        med_collection_free(&c);
        mc_log_error("out of memory");
        return MC_EXIT_FAILURE;
    }
    for (int i = 0; i < c.n_series; i++) {
        const med_series *s = &c.series[i];
        int wanted = !o.in || first == argc;
        for (int a = first; o.in && a < argc && !wanted; a++) wanted = strcmp(argv[a], s->series_uid) == 0;
        if (!wanted) continue;
        if (s->skipped) mc_log_info("skipped: %s: %s: %s", s->series_uid, s->folder, s->problems[0]);
        else todo[n_todo++] = s;
    }
    if (to_file && n_todo > 1) {
        free(todo);
        med_collection_free(&c);
        mc_cli_usage_error(ctx, "%d CT series found: -o must be a folder, not %s", n_todo, o.output);
        return MC_EXIT_USAGE;
    }
    mc_run *run;
    if (mc_run_begin(&run, ctx, med_schema_migrate, &err) != MC_OK) {
        mc_log_error("%s", err.msg);
        free(todo);
        med_collection_free(&c);
        return MC_EXIT_FAILURE;
    }
    mc_status failure = MC_OK;
    if (!to_file && mkdir(o.output, 0777) != 0 && errno != EEXIST) {
        mc_log_error("%s: cannot create the folder: %s", o.output, strerror(errno));
        failure = MC_ERR_IO;
    }
    for (int i = 0; i < c.n_files && failure == MC_OK; i++)
        if (c.files[i].unreadable)
            mc_run_input_rejected(run, c.files[i].path, c.files[i].problem);
    for (int a = first; o.in && a < argc && failure == MC_OK; a++) {
        int found = 0;
        for (int i = 0; i < c.n_series && !found; i++) found = strcmp(argv[a], c.series[i].series_uid) == 0;
        if (!found) {
            char reason[4200];
            snprintf(reason, sizeof reason, "no series with this UID under %s", o.in);
            mc_run_input_rejected(run, argv[a], reason);
        }
    }
    if (failure == MC_OK && n_todo == 0 && !o.in) mc_log_warn("no CT series found");
    for (int i = 0; i < n_todo && failure == MC_OK; i++) {
        char path[4200], reason[4800], name[128];
        mc_safe_name(name, sizeof name, todo[i]->series_uid); /* the UID is read from the files */
        if (to_file) snprintf(path, sizeof path, "%s", o.output);
        else snprintf(path, sizeof path, "%s/%s.nii.gz", o.output, name);
        int rc = convert_one(ctx, &o, run, salt, todo[i], path, reason, sizeof reason);
        if (rc == 0) mc_run_input_ok(run);
        else if (rc < 0) mc_run_input_rejected(run, todo[i]->series_uid, reason);
    }
    free(todo);
    med_collection_free(&c);
    return mc_run_end(run, failure);
}
