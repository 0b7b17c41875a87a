/* commands.h: the commands of moe-medical, one file each. */
#ifndef MOE_MEDICAL_COMMANDS_H
#define MOE_MEDICAL_COMMANDS_H

#include "moecore/cli.h"

#endif
