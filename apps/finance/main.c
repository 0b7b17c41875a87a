/* main.c: moe-finance, the command-line entry point; each command lives in a file of its own. */
#include "moecore/cli.h"

static const mc_program program = {
    .name = "moe-finance",
    .summary = "Market factors, HMM regimes, a Mixture-of-Experts return forecaster, position sizing and walk-forward backtests.",
    .commands = NULL,
    .n_commands = 0,
};

int main(int argc, char **argv) { return mc_cli_main(&program, argc, argv); }
