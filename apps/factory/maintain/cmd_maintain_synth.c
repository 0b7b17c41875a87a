/* cmd_maintain_synth.c: `moe-factory maintain synth`: writes a synthetic fleet run to failure
 * (fleet_synth.h) as sensors.csv and failures.csv. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd_maintain.h"
#include "fleet_synth.h"
#include "moecore/log.h"
#include "moecore/outfile.h"

typedef struct {
    const char *out;
    long machines;
} synth_opts;

static const mc_option synth_options[] = {
    {"out", 0, "DIR", "folder to write sensors.csv and failures.csv into (created when absent)", NULL},
    {"machines", 0, "N", "machines in the fleet", "40"},
};

static int synth_option(const mc_ctx *ctx, void *user, int index, const char *arg) {
    synth_opts *o = user;
    if (index == 0) {
        o->out = arg;
        return 0;
    }
    return mc_cli_int(ctx, "machines", arg, 1, 100000, &o->machines);
}

/* Opens DIR/name's temporary file for writing (out); NULL when it cannot. */
static FILE *open_out(const char *dir, const char *name, mc_outfile *out) {
    char path[MC_OUTFILE_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return mc_outfile_begin(out, path, NULL) == MC_OK ? fopen(out->tmp, "w") : NULL;
}

int fab_maintain_synth(mc_ctx *ctx, int argc, char **argv) {
    static const mc_cli_spec spec = {
        .usage = "--out DIR [--machines N] [--seed S]",
        .description = "Writes a synthetic fleet run to failure in the manner of C-MAPSS: three operating conditions,\n"
                       "three failure modes (bearing wear, overheating, seal leak) with their own sensor signatures,\n"
                       "sensor noise, missing samples, gaps and irregular timestamps; a quarter of the machines are\n"
                       "still running at the end of their log. Equations in docs/factory.md.",
        .options = synth_options,
        .n_options = 2,
        .min_args = 0,
        .max_args = 0,
    };
    synth_opts o = {.machines = 40};
    int code;
    if (mc_cli_parse(ctx, &spec, argc, argv, synth_option, &o, &code) < 0) return code;
    if (!o.out) {
        mc_cli_usage_error(ctx, "the output folder is required: --out DIR");
        return MC_EXIT_USAGE;
    }
    if (mkdir(o.out, 0777) != 0 && errno != EEXIST) {
        mc_log_error("%s: cannot create: %s", o.out, strerror(errno));
        return MC_EXIT_FAILURE;
    }
    mc_outfile so, fo;
    FILE *s = open_out(o.out, "sensors.csv", &so), *f = open_out(o.out, "failures.csv", &fo);
    const char *sf = so.path, *ff = fo.path;
    mc_rng *rng = mc_rng_create(ctx->seed);
    fab_synth_summary sum;
    int ok = s && f && rng && fab_synth_fleet((int)o.machines, rng, s, f, &sum) == 0;
    ok &= (s ? fclose(s) == 0 : 0) & (f ? fclose(f) == 0 : 0);
    ok = ok && mc_outfile_commit(&so, NULL) == MC_OK && mc_outfile_commit(&fo, NULL) == MC_OK;
    mc_rng_destroy(rng);
    if (!ok) {
        mc_log_error("%s: cannot write the fleet: %s", o.out, strerror(errno));
        mc_outfile_abort(&so);
        mc_outfile_abort(&fo);
        return MC_EXIT_FAILURE;
    }
    if (ctx->json) {
        mc_cli_print_json(json_pack("{s:s, s:s, s:i, s:i, s:i, s:I, s:{s:i, s:i, s:i}}", "sensors", sf, "failures", ff,
                                    "machines", sum.machines, "failed", sum.failed, "censored", sum.censored, "samples",
                                    (json_int_t)sum.samples, "modes", "bearing", sum.by_mode[0], "overheat",
                                    sum.by_mode[1], "seal", sum.by_mode[2]));
    } else {
        printf("%s\t%d machines\t%d failed (bearing %d, overheat %d, seal %d)\t%d still running\t%ld samples\n", sf,
               sum.machines, sum.failed, sum.by_mode[0], sum.by_mode[1], sum.by_mode[2], sum.censored, sum.samples);
    }
    return MC_EXIT_OK;
}
