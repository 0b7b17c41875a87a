/* main.c: moe-medical, the command-line entry point; each command lives in a file of its own. */
#include "moecore/cli.h"

static const mc_program program = {
    .name = "moe-medical",
    .summary = "Chest CT analysis: lung-nodule detection and malignancy risk (in development: no commands yet).",
    .commands = NULL,
    .n_commands = 0,
};

int main(int argc, char **argv) { return mc_cli_main(&program, argc, argv); }
