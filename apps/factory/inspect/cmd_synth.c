/* cmd_synth.c: `moe-factory synth`: writes a synthetic inspection data set (surface_synth.h). */
#include <string.h>

#include "commands.h"
#include "moecore/log.h"
#include "moecore/run.h"
#include "surface_synth.h"

typedef struct {
    const char *out;
    int classes, good, defect, size;
} synth_opts;

static const mc_option options[] = {
    {"out", 'o', "DIR", "folder to write DIR/classNN/{good,defect,masks}/ into (required)", NULL},
    {"classes", 0, "N", "texture classes", "6"},
    {"good", 0, "N", "good images per class", "20"},
    {"defect", 0, "N", "defect images (each with a mask) per class", "10"},
    {"size", 0, "PIXELS", "image width and height", "256"},
};

static int on_option(const mc_ctx *ctx, void *user, int index, const char *arg) {
    synth_opts *o = user;
    long v;
    switch (index) {
    case 0: o->out = arg; return 0;
    case 1: if (mc_cli_int(ctx, "classes", arg, 1, 99, &v) != 0) return -1; o->classes = (int)v; return 0;
    case 2: if (mc_cli_int(ctx, "good", arg, 0, 100000, &v) != 0) return -1; o->good = (int)v; return 0;
    case 3: if (mc_cli_int(ctx, "defect", arg, 0, 100000, &v) != 0) return -1; o->defect = (int)v; return 0;
    default: if (mc_cli_int(ctx, "size", arg, 16, 4096, &v) != 0) return -1; o->size = (int)v; return 0;
    }
}

int fab_cmd_synth(mc_ctx *ctx, int argc, char **argv) {
    static const mc_cli_spec spec = {
        .usage = "--out DIR [options]",
        .description = "Writes textured surfaces in the style of the DAGM 2007 benchmark: each class has its own\n"
                       "texture (brushed, woven, granular, painted, printed) and look; defect images carry one\n"
                       "scratch, crack, dent, spot, stain or missing thread with its mask. The layout is the one\n"
                       "train and eval read (docs/factory.md). The same --seed gives the same files.",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
        .min_args = 0,
        .max_args = 0,
    };
    synth_opts o = {NULL, 6, 20, 10, 256};
    int code;
    if (mc_cli_parse(ctx, &spec, argc, argv, on_option, &o, &code) < 0) return code;
    if (!o.out) return mc_cli_usage_error(ctx, "--out DIR is required"), MC_EXIT_USAGE;
    mc_run *run;
    mc_error err;
    if (mc_run_begin(&run, ctx, NULL, &err) != MC_OK) {
        mc_log_error("%s", err.msg);
        return MC_EXIT_FAILURE;
    }
    mc_status st = fab_synth_write(o.out, o.classes, o.good, o.defect, o.size, ctx->seed, &err);
    if (st != MC_OK) {
        mc_log_error("%s", err.msg);
    } else {
        mc_log_info("wrote %d classes of %d good and %d defect images (%d x %d) to %s", o.classes, o.good, o.defect,
                    o.size, o.size, o.out);
        if (ctx->json)
            mc_cli_print_json(json_pack("{s:s, s:i, s:i, s:i, s:i}", "out", o.out, "classes", o.classes, "good", o.good,
                                        "defect", o.defect, "size", o.size));
    }
    return mc_run_end(run, st);
}
