/* inspect_inputs.h: the images an inspect run covers, and the file name of each one's heatmap.
 *
 * Each argument is a PNG file, taken whatever its name, or a folder: every .png below it, leaving
 * out hidden entries and the folders named `masks` below it (the ground-truth masks of train and
 * eval, not images of the line). An argument that does not exist is kept as it is, so that reading
 * it rejects it and the rest of the batch goes on.
 *
 * A heatmap is named after its image's path relative to the argument it came from: for a folder,
 * the folder's own name and the path inside it (`class01/good/0000.png`); for a file, its base
 * name. The ".png" is dropped, the rest made safe by mc_safe_name (every byte outside
 * [A-Za-z0-9._-] and a leading '.' become '_', and "-" and a short hash of that path without ".png"
 * are added when anything changed), and ".png" added: `class01_good_0000-<16 hex digits>.png`. Two different images never
 * get the same name: where their names are equal, each takes the next folder of its absolute path in
 * front until they differ (`class01/good/0000.png` and `class02/good/0000.png` from the folders
 * class01/good and class02/good); names still equal when no folder is left get "-" and a short hash
 * of the absolute path. */
#ifndef MOE_FACTORY_INSPECT_INPUTS_H
#define MOE_FACTORY_INSPECT_INPUTS_H

#include "moecore/safe_name.h"
#include "moecore/status.h"

/* the longest heatmap name, with its NUL: mc_safe_name's, "-" and 8 hex digits, ".png" */
#define FAB_HEATMAP_NAME_MAX (MC_SAFE_NAME_SIZE + 13)

typedef struct fab_inspect_inputs {
    int n;
    char **path;    /* n image paths: as given, or the folder as given joined with the path below it */
    char **heatmap; /* n heatmap file names, without a folder; "" for a path that does not exist */
} fab_inspect_inputs;

/* Collects args[0 .. n_args) in order, each folder's images sorted by path, and names their
 * heatmaps. MC_ERR_IO naming the folder when one cannot be read; MC_ERR_NOMEM. On error in is
 * left empty. The caller frees in with fab_inspect_inputs_free. */
mc_status fab_inspect_inputs_collect(fab_inspect_inputs *in, char *const *args, int n_args, mc_error *err);

void fab_inspect_inputs_free(fab_inspect_inputs *in);

#endif
