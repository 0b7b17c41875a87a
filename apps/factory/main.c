/* main.c: moe-factory, the command-line entry point; each command lives in a file of its own. */
#include "commands.h"

static const mc_command commands[] = {
    {"inspect", "Inspect PNG images for defects: verdict, score, location, heatmap; rows in the database.", fab_cmd_inspect},
    {"train", "Train an inspection model (supervised or good-only) and calibrate its threshold.", fab_cmd_train},
    {"eval", "Evaluate an inspection model on labelled folders: accuracy, F1, image and pixel AUROC.", fab_cmd_eval},
    {"synth", "Write a synthetic inspection data set: textured surfaces with defects and masks.", fab_cmd_synth},
    {"maintain", "Predictive maintenance from sensor logs: synth, train, predict, eval.", fab_cmd_maintain},
    {"tune", "Process tuning: next recipes for a real line (propose), simulation study (bench), simulated logs.", fab_cmd_tune},
    {NULL, NULL, NULL},
};

static const mc_program program = {
    .name = "moe-factory",
    .summary = "Production-line inspection, process tuning and maintenance warnings.",
    .commands = commands,
    .n_commands = (int)(sizeof commands / sizeof commands[0]) - 1,
};

int main(int argc, char **argv) { return mc_cli_main(&program, argc, argv); }
