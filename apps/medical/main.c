/* main.c: moe-medical, the command-line entry point; each command lives in a file of its own. */
#include "commands.h"

static const mc_command commands[] = {
    {NULL, NULL, NULL},
};

static const mc_program program = {
    .name = "moe-medical",
    .summary = "Chest CT: DICOM series, lung-nodule detection, malignancy risk and FROC evaluation.",
    .commands = commands,
    .n_commands = (int)(sizeof commands / sizeof commands[0]) - 1,
};

int main(int argc, char **argv) { return mc_cli_main(&program, argc, argv); }
