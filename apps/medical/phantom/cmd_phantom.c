/* cmd_phantom.c: `moe-medical phantom`: writes synthetic chest CT studies as DICOM series with
 * their nodule annotations, clinical data and malignancy truth (phantom.h). */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "moecore/log.h"
#include "phantom.h"

typedef struct {
    const char *out;
    med_phantom_options p;
} phantom_opts;

static const mc_option options[] = {
    {"out", 'o', "DIR", "the folder to write (created when absent)", NULL},
    {"n", 0, "N", "number of studies", "10"},
    {"size", 0, "N", "rows and columns of each slice", "128"},
    {"slices", 0, "N", "slices per series; 0 = as many as cover 110-160 mm at the drawn spacing", "0"},
    {"variant", 0, "NAME", "standard (the tests' studies), varied (each study its own scanner, vessels and nodule\n"
                           "mix, with fissures, mucus plugs and streaks: what the sample detector trains on) or shifted\n"
                           "(evaluation only: denser vessels, 2-3 mm slices, sharp kernel and 35-60 HU noise, more\n"
                           "subsolid and attached nodules)", "standard"},
};

static int on_option(const mc_ctx *ctx, void *user, int index, const char *arg) {
    phantom_opts *o = user;
    long v;
    switch (index) {
    case 0: o->out = arg; return 0;
    case 1:
        if (mc_cli_int(ctx, "n", arg, 1, 100000, &v) != 0) return -1;
        o->p.n = (int)v;
        return 0;
    case 2:
        if (mc_cli_int(ctx, "size", arg, 32, 1024, &v) != 0) return -1;
        o->p.size = (int)v;
        return 0;
    case 3:
        if (mc_cli_int(ctx, "slices", arg, 0, 2000, &v) != 0) return -1;
        o->p.slices = (int)v;
        return 0;
    default:
        if (strcmp(arg, "standard") == 0) o->p.variant = MED_PHANTOM_STANDARD;
        else if (strcmp(arg, "shifted") == 0) o->p.variant = MED_PHANTOM_SHIFTED;
        else if (strcmp(arg, "varied") == 0) o->p.variant = MED_PHANTOM_VARIED;
        else return mc_cli_usage_error(ctx, "--variant must be standard, varied or shifted, not '%s'", arg);
        return 0;
    }
}

static void report(void *user, const med_phantom_study *s) {
    const mc_ctx *ctx = user;
    if (ctx->json)
        mc_cli_print_json(json_pack("{s:s, s:s, s:[i,i,i], s:[f,f,f], s:i, s:s, s:b}", "series_uid", s->series_uid,
                                    "folder", s->folder, "size", s->cols, s->rows, s->slices, "spacing", s->spacing[0],
                                    s->spacing[1], s->spacing[2], "nodules", s->n_nodules, "transfer_syntax", s->codec,
                                    "descending", s->descending));
    else
        printf("%s\t%s\t%dx%dx%d\t%.3fx%.3fx%.3f mm\t%d nodules\t%s%s\n", s->series_uid, s->folder, s->cols, s->rows,
               s->slices, s->spacing[0], s->spacing[1], s->spacing[2], s->n_nodules, s->codec,
               s->descending ? "\tdescending" : "");
}

int med_cmd_phantom(mc_ctx *ctx, int argc, char **argv) {
    static const mc_cli_spec spec = {
        .usage = "--out DIR [options]",
        .description = "Writes synthetic chest CT studies as DICOM series (GDCM), with annotations.csv (LUNA16 format,\n"
                       "world mm), nodules.csv, clinical.csv and truth.csv (docs/medical.md). The same --seed gives the\n"
                       "same files.",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
        .min_args = 0,
        .max_args = 0,
    };
    phantom_opts o = {.p = {.n = 10, .size = 128, .slices = 0}};
    int code;
    int first = mc_cli_parse(ctx, &spec, argc, argv, on_option, &o, &code);
    if (first < 0) return code;
    if (!o.out) {
        mc_cli_usage_error(ctx, "--out DIR is required");
        return MC_EXIT_USAGE;
    }
    o.p.seed = ctx->seed;
    mc_error err;
    if (med_phantom_write(o.out, &o.p, report, ctx, &err) != MC_OK) {
        mc_log_error("%s", err.msg);
        return MC_EXIT_FAILURE;
    }
    return MC_EXIT_OK;
}
