/* main.c: moe-factory, the command-line entry point; each command lives in a file of its own. */
#include "moecore/cli.h"

static const mc_program program = {
    .name = "moe-factory",
    .summary = "Production-line inspection, process tuning and maintenance warnings (in development: no commands yet).",
    .commands = NULL,
    .n_commands = 0,
};

int main(int argc, char **argv) { return mc_cli_main(&program, argc, argv); }
