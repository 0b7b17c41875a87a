/* inputs.h: the inputs of a batch command: files given directly, and the files under folders
 * given (recursively) whose names end with a suffix, in a stable sorted order. */
#ifndef MOECORE_INPUTS_H
#define MOECORE_INPUTS_H

#include "moecore/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mc_inputs {
    char **paths; /* n paths, each owned by the list */
    int n;
} mc_inputs;

/* Collects paths[0 .. n): a file is taken as it is (whatever its name); a folder contributes every
 * regular file below it whose name ends with suffix (case-insensitive; NULL = all), sorted by path;
 * hidden entries (".name") are skipped. A path that does not exist is MC_ERR_IO naming it. */
mc_status mc_inputs_collect(mc_inputs *out, char *const *paths, int n, const char *suffix, mc_error *err);

void mc_inputs_free(mc_inputs *in);

#ifdef __cplusplus
}
#endif
#endif
