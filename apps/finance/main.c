/* main.c: moe-finance, the command-line entry point; each command lives in a file of its own. */
#include "commands.h"

static const mc_command commands[] = {
    {"factors", "compute the factor library for price files into CSV and the database", fin_cmd_factors},
    {"regimes", "fit a Gaussian HMM per symbol and label each day bull, bear or sideways", fin_cmd_regimes},
    {"train", "train the MoE forecaster of the next days' return on the factors", fin_cmd_train},
    {"forecast", "forecast each symbol's next days' return with a trained model", fin_cmd_forecast},
    {"backtest", "simulate sized, stopped positions from regimes and forecasts against buy-and-hold", fin_cmd_backtest},
    {"run", "the nightly step: tomorrow's target positions, refreshed statistics, a chart per symbol", fin_cmd_run},
};

static const mc_program program = {
    .name = "moe-finance",
    .summary = "Factors, market regimes, MoE return forecasts, position sizing and backtests for daily prices, into CSV and the results database.",
    .commands = commands,
    .n_commands = (int)(sizeof commands / sizeof commands[0]),
};

int main(int argc, char **argv) { return mc_cli_main(&program, argc, argv); }
