/* run.h: one command invocation over a batch of inputs. It opens the results store, records the
 * run in `runs`, counts inputs done and rejected (each rejection named on stderr and recorded in
 * `input_errors`), and at the end closes the run, writes the Prometheus metrics file when
 * --metrics-dir is given, and turns the outcome into the exit code (0, 1 or 3).
 *
 * SIGTERM and SIGINT: from mc_run_begin to mc_run_end a termination signal only sets a flag. At the
 * next safe point (mc_run_begin's end, mc_run_input_ok, mc_run_input_rejected, mc_progress_add and
 * mc_run_end, on the thread that began the run and outside parallel regions) the open transaction
 * is rolled back, the run is recorded as 'failed' with its counts, the metrics file is written,
 * and the process ends by the same signal (the shell reports 143 for SIGTERM, 130 for SIGINT). A
 * second signal before a safe point kills the process at once, leaving the run 'running'.
 *
 * A closed stdout (a pipe into `head`): the run goes on to its end and writes nothing more there
 * (mc_cli_stdout_closed); its status and exit code are those of its inputs, and mc_run_end says on
 * stderr that the output was cut short. */
#ifndef MOECORE_RUN_H
#define MOECORE_RUN_H

#include <stdint.h>

#include "moecore/cli.h"
#include "moecore/status.h"
#include "moecore/store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mc_run mc_run;

/* Brings a program's own tables up to date (its components' mc_store_migrate calls); returns the
 * store's status, its message in mc_store_error. */
typedef mc_status (*mc_migrate_fn)(mc_store *s);

/* Opens ctx->db_path (creating it and migrating the core tables), brings the command's tables up to
 * date with migrate (NULL: none), and only then records a 'running' row: a database that is not
 * ours, or holds a component newer than this build, is refused before anything is written to it.
 * On failure *out is NULL and err says why. */
mc_status mc_run_begin(mc_run **out, const mc_ctx *ctx, mc_migrate_fn migrate, mc_error *err);

/* The store and run id, for the command's own writes. */
mc_store *mc_run_store(mc_run *r);
const char *mc_run_id(const mc_run *r);

/* One input finished and its transaction committed. After each input the run's counts are written
 * to its row in runs, so that a run killed on the way says what it committed. A safe point (above). */
void mc_run_input_ok(mc_run *r);

/* One input rejected: rolls back any open transaction, logs "rejected: INPUT: REASON" as an
 * error, records it in input_errors, and counts it; when the store failed meanwhile, the run fails
 * instead (mc_run_fail). A safe point (above). */
void mc_run_input_rejected(mc_run *r, const char *input, const char *reason);

/* A failure that is not an input's: the results store failing, an output file that cannot be
 * written. Logs "MESSAGE; run ID will be recorded as failed" as an error; the batch may go on, and
 * mc_run_end records the run as failed and returns MC_EXIT_FAILURE. mc_run_input_rejected calls it
 * itself when the store failed (mc_store_storage_failures) while the input was in progress: a
 * full disk, an I/O error, a corrupt page or a lock held past the busy timeout blames no input. */
void mc_run_fail(mc_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Counts so far. */
int64_t mc_run_n_ok(const mc_run *r);
int64_t mc_run_n_rejected(const mc_run *r);

/* Ends the run: failure is MC_OK when the command completed (rejected inputs allowed), else the
 * status that stopped it. Records status and counts in runs, writes metrics, frees r, and returns
 * the exit code: MC_EXIT_OK, MC_EXIT_PARTIAL when inputs were rejected, MC_EXIT_FAILURE. */
int mc_run_end(mc_run *r, mc_status failure);

#ifdef __cplusplus
}
#endif
#endif
