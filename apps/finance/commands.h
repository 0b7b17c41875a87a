/* commands.h: the commands of moe-finance, one file each. */
#ifndef MOE_FINANCE_COMMANDS_H
#define MOE_FINANCE_COMMANDS_H

#include "moecore/cli.h"

int fin_cmd_factors(mc_ctx *ctx, int argc, char **argv);
int fin_cmd_regimes(mc_ctx *ctx, int argc, char **argv);
int fin_cmd_train(mc_ctx *ctx, int argc, char **argv);
int fin_cmd_forecast(mc_ctx *ctx, int argc, char **argv);
int fin_cmd_backtest(mc_ctx *ctx, int argc, char **argv);
int fin_cmd_run(mc_ctx *ctx, int argc, char **argv);

#endif
