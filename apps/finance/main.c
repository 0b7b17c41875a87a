/* main.c: moe-finance, the command-line entry point; each command lives in a file of its own. */
#include "commands.h"

static const mc_command commands[] = {
    {"factors", "compute the factor library for price files into CSV and the database", fin_cmd_factors},
    {"regimes", "fit a Gaussian HMM per symbol and label each day bull, bear or sideways", fin_cmd_regimes},
};

static const mc_program program = {
    .name = "moe-finance",
    .summary = "Factors and market regimes for daily prices, into CSV and the results database; forecasts and backtests are in development.",
    .commands = commands,
    .n_commands = (int)(sizeof commands / sizeof commands[0]),
};

int main(int argc, char **argv) { return mc_cli_main(&program, argc, argv); }
