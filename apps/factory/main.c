/* main.c: moe-factory, the command-line entry point; each command lives in a file of its own. */
#include "commands.h"

static const mc_command commands[] = {
    {"maintain", "Predictive maintenance from sensor logs: synth, train, predict, eval.", fab_cmd_maintain},
    {"tune", "Process tuning: simulation study (bench) and next recipes for a real line (propose).", fab_cmd_tune},
    {NULL, NULL, NULL},
};

static const mc_program program = {
    .name = "moe-factory",
    .summary = "Production-line inspection, process tuning and maintenance warnings.",
    .commands = commands,
    .n_commands = (int)(sizeof commands / sizeof commands[0]) - 1,
};

int main(int argc, char **argv) { return mc_cli_main(&program, argc, argv); }
