/* main.c: moe-finance, the command-line entry point; each command lives in a file of its own. */
#include "commands.h"

static const mc_command commands[] = {
    {"factors", "compute the factor library for price files into CSV and the database", fin_cmd_factors},
};

static const mc_program program = {
    .name = "moe-finance",
    .summary = "Factors for daily market prices, into CSV and the results database; regimes, forecasts and backtests are in development.",
    .commands = commands,
    .n_commands = (int)(sizeof commands / sizeof commands[0]),
};

int main(int argc, char **argv) { return mc_cli_main(&program, argc, argv); }
