/* commands.h: the commands of moe-factory, one file each. */
#ifndef MOE_FACTORY_COMMANDS_H
#define MOE_FACTORY_COMMANDS_H

#include "moecore/cli.h"

int fab_cmd_synth(mc_ctx *ctx, int argc, char **argv);
int fab_cmd_train(mc_ctx *ctx, int argc, char **argv);
int fab_cmd_inspect(mc_ctx *ctx, int argc, char **argv);
int fab_cmd_eval(mc_ctx *ctx, int argc, char **argv);
int fab_cmd_maintain(mc_ctx *ctx, int argc, char **argv);
int fab_cmd_tune(mc_ctx *ctx, int argc, char **argv);

#endif
