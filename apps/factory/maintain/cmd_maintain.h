/* cmd_maintain.h: the sub-commands of `moe-factory maintain`, one file each (cmd_maintain_synth.c,
 * cmd_maintain_train.c, cmd_maintain_predict.c, cmd_maintain_eval.c); cmd_maintain.c dispatches to
 * them. argv[0] is the sub-command's name. */
#ifndef MOE_FACTORY_CMD_MAINTAIN_H
#define MOE_FACTORY_CMD_MAINTAIN_H

#include "moecore/cli.h"

int fab_maintain_synth(mc_ctx *ctx, int argc, char **argv);
int fab_maintain_train(mc_ctx *ctx, int argc, char **argv);
int fab_maintain_predict(mc_ctx *ctx, int argc, char **argv);
int fab_maintain_eval(mc_ctx *ctx, int argc, char **argv);

#endif
