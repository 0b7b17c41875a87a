/* commands.h: the commands of moe-medical, one file each. */
#ifndef MOE_MEDICAL_COMMANDS_H
#define MOE_MEDICAL_COMMANDS_H

#include "moecore/cli.h"

int med_cmd_eval(mc_ctx *ctx, int argc, char **argv);
int med_cmd_scan(mc_ctx *ctx, int argc, char **argv);
int med_cmd_convert(mc_ctx *ctx, int argc, char **argv);
int med_cmd_phantom(mc_ctx *ctx, int argc, char **argv);
int med_cmd_train(mc_ctx *ctx, int argc, char **argv);
int med_cmd_detect(mc_ctx *ctx, int argc, char **argv);

#endif
