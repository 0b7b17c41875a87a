/* outfile.h: an output file that appears whole or not at all.
 *
 * A program writes a result file (CSV, PNG, NIfTI, model, metrics) to a temporary file beside it,
 * ".tmp-PID-NAME" in the same folder, and renames it over NAME when complete, so that a reader, or
 * last night's file, never sees half of one; a failed or interrupted write leaves the old file as it
 * was. A temporary file left by a process that was killed is removed by the next program that writes
 * into that folder (once per folder and process, for temporary files whose process is gone).
 *
 * An output that exists and is not a regular file (a device such as /dev/null, a FIFO) is written in
 * place: renaming over it would replace it with an ordinary file. "-" for stdout is the caller's. */
#ifndef MOECORE_OUTFILE_H
#define MOECORE_OUTFILE_H

#include "moecore/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MC_OUTFILE_PATH_MAX 4096

typedef struct mc_outfile {
    char path[MC_OUTFILE_PATH_MAX];       /* the output as named */
    char tmp[MC_OUTFILE_PATH_MAX + 64];  /* what to write: the temporary file, or path itself in place */
    int in_place;                         /* 1: path is written directly (not a regular file) */
} mc_outfile;

/* Prepares to write path: o->tmp is the file to create and write. Fails (MC_ERR_IO, naming path) when
 * the name is too long or path is a folder. */
mc_status mc_outfile_begin(mc_outfile *o, const char *path, mc_error *err);

/* Puts the finished file in place (a rename over path, and the folder synced to disk); on failure the
 * temporary file is removed and path is as it was. */
mc_status mc_outfile_commit(mc_outfile *o, mc_error *err);

/* Gives up: removes the temporary file (nothing when written in place). */
void mc_outfile_abort(mc_outfile *o);

/* Removes the temporary files of processes that are gone from the folder of path (done by
 * mc_outfile_begin once per folder and process). */
void mc_outfile_clean_stale(const char *path);

#ifdef __cplusplus
}
#endif
#endif
