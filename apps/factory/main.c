/* main.c: moe-factory, the command-line entry point; each command lives in a file of its own. */
#include "commands.h"

static const mc_command commands[] = {
    {"inspect", "inspect PNG images for defects: verdict, score, location, heatmap; rows in the database", fab_cmd_inspect},
    {"train", "train an inspection model (supervised or good-only) and calibrate its threshold", fab_cmd_train},
    {"eval", "evaluate an inspection model on labelled folders: accuracy, F1, image and pixel AUROC", fab_cmd_eval},
    {"synth", "write a synthetic inspection data set: textured surfaces with defects and masks", fab_cmd_synth},
    {"maintain", "predictive maintenance from sensor logs: synth, train, predict, eval", fab_cmd_maintain},
    {"tune", "process tuning: next recipes for a real line (propose), simulation study (bench), simulated logs", fab_cmd_tune},
};

static const mc_program program = {
    .name = "moe-factory",
    .summary = "Production-line inspection, process tuning and maintenance warnings.",
    .commands = commands,
    .n_commands = (int)(sizeof commands / sizeof commands[0]),
};

int main(int argc, char **argv) { return mc_cli_main(&program, argc, argv); }
