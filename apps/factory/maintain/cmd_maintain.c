/* cmd_maintain.c: `moe-factory maintain synth|train|predict|eval`: failure warnings from sensor
 * logs (docs/factory.md, "Predictive maintenance"). Dispatches to the sub-commands, one file each
 * (cmd_maintain.h). */
#include <stdio.h>
#include <string.h>

#include "cmd_maintain.h"
#include "commands.h"

typedef struct {
    const char *name, *command, *summary;
    int (*run)(mc_ctx *ctx, int argc, char **argv);
} subcommand;

static const subcommand subcommands[] = {
    {"synth", "maintain synth", "write a synthetic fleet run to failure (sensors.csv, failures.csv)", fab_maintain_synth},
    {"train", "maintain train", "train the MoE maintenance model and calibrate its alarm", fab_maintain_train},
    {"predict", "maintain predict", "warn per machine: remaining hours, failure probability, alarm, drivers",
     fab_maintain_predict},
    {"eval", "maintain eval", "judge warnings on machines with known failures, beside a one-sensor baseline",
     fab_maintain_eval},
};

int fab_cmd_maintain(mc_ctx *ctx, int argc, char **argv) {
    int n = (int)(sizeof subcommands / sizeof *subcommands);
    if (argc >= 2)
        for (int i = 0; i < n; i++)
            if (strcmp(argv[1], subcommands[i].name) == 0) {
                ctx->command = subcommands[i].command;
                return subcommands[i].run(ctx, argc - 1, argv + 1);
            }
    int help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
    FILE *f = help ? stdout : stderr;
    if (!help) {
        if (argc >= 2)
            fprintf(f, "%s maintain: unknown sub-command '%s'\n", ctx->program, argv[1]);
        else
            fprintf(f, "%s maintain: missing sub-command\n", ctx->program);
    }
    fprintf(f, "Usage: %s maintain SUBCOMMAND [options]\n\nFailure warnings from sensor logs (docs/factory.md).\n\n",
            ctx->program);
    for (int i = 0; i < n; i++) fprintf(f, "  %-8s %s\n", subcommands[i].name, subcommands[i].summary);
    fprintf(f, "\nRun '%s maintain SUBCOMMAND --help' for its options.\n", ctx->program);
    return help ? MC_EXIT_OK : MC_EXIT_USAGE;
}
