/* store.h: the results store, one SQLite file shared by every program.
 *
 * Rules (docs/schema.md): WAL journal, a busy timeout, foreign keys on, writers take the lock up
 * front with BEGIN IMMEDIATE, prepared statements only, STRICT tables, one transaction per input.
 * The schema is versioned per component ("core", "fin", "med", "fab") in the table
 * schema_versions; the core version is mirrored in PRAGMA user_version, and PRAGMA application_id
 * marks the file as ours. Each component brings its forward migrations as an array of SQL texts:
 * element i takes the component from version i to version i + 1. Run ids are random UUIDs, so
 * databases written on several machines merge without collisions. */
#ifndef MOECORE_STORE_H
#define MOECORE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>

#include "moecore/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MC_STORE_APPLICATION_ID 0x4d6f4553 /* "MoES" */
#define MC_STORE_BUSY_TIMEOUT_MS 30000 /* unless MOESUITE_BUSY_TIMEOUT_MS says otherwise */
#define MC_UUID_LEN 37                      /* 36 characters and the terminating NUL */

typedef struct mc_store mc_store;

/* Opens (creating if needed) the database at path, sets the connection rules above, checks the
 * application id and brings the core tables (runs, input_errors) up to date. On failure *out is
 * NULL and err says why: MC_ERR_SCHEMA for a file that is another application's database or was
 * written by a newer moesuite, MC_ERR_DB for SQLite errors, MC_ERR_BUSY for a lock held too long. */
mc_status mc_store_open(mc_store **out, const char *path, mc_error *err);

/* Failures of the storage under the database rather than of a statement's data: the disk full, an
 * I/O error, a corrupt or foreign file, a read-only file, a lock held past the busy timeout. The
 * number since the process began (every store, whichever code ran the statement) and, in msg when
 * not NULL, the last one's message. mc_run compares the number before and after an input to tell a
 * store that fails from an input that does. */
uint64_t mc_store_storage_failures(char *msg, size_t size);

/* Closes the database, finalising every cached statement. Accepts NULL. */
void mc_store_close(mc_store *s);

/* The last error recorded on s (code MC_OK when the last call succeeded). */
const mc_error *mc_store_error(const mc_store *s);

/* The underlying connection, for components that bind their own statements. */
sqlite3 *mc_store_db(mc_store *s);

/* Applies, in one BEGIN IMMEDIATE transaction, migrations[v .. n-1] of component, where v is the
 * version the database holds (0 when the component is new), then records version n. Returns
 * MC_ERR_SCHEMA when the database holds a version above n (written by a newer build). */
mc_status mc_store_migrate(mc_store *s, const char *component, const char *const *migrations, int n);

/* The schema version of component in the database, 0 when absent. */
mc_status mc_store_schema_version(mc_store *s, const char *component, int *version);

/* A prepared statement for sql, compiled once per store and cached (keyed by the SQL text),
 * returned reset with its bindings cleared. Owned by s: do not finalise it. */
mc_status mc_store_stmt(mc_store *s, const char *sql, sqlite3_stmt **out);

/* Runs a statement without results (no parameters), e.g. a view definition in a migration. */
mc_status mc_store_exec(mc_store *s, const char *sql);

/* One input's writes: BEGIN IMMEDIATE ... COMMIT, or ROLLBACK so that a failed input leaves no
 * rows. mc_store_rollback is safe to call when no transaction is open. */
mc_status mc_store_begin(mc_store *s);
mc_status mc_store_commit(mc_store *s);
void mc_store_rollback(mc_store *s);

/* Records the start of a command invocation in runs (status 'running') and writes its new UUID
 * into run_id. arguments_json is a JSON array of the command-line words. */
mc_status mc_store_run_begin(mc_store *s, const char *program, const char *command,
                             const char *arguments_json, const char *version, const char *build,
                             char run_id[MC_UUID_LEN]);

/* Records the end of a run: status is "ok", "partial" (some inputs rejected) or "failed". */
mc_status mc_store_run_finish(mc_store *s, const char *run_id, const char *status, int64_t n_ok,
                              int64_t n_rejected);

/* Records the counts of a run in progress (after each input), so that a run killed before its end
 * still says how many inputs it committed. */
mc_status mc_store_run_counts(mc_store *s, const char *run_id, int64_t n_ok, int64_t n_rejected);

/* Records in input_errors that run_id rejected input for reason (its own transaction; call it
 * after the input's own transaction was rolled back). A second call for the same run and input
 * replaces the reason. */
mc_status mc_store_input_error(mc_store *s, const char *run_id, const char *input,
                               const char *reason);

#ifdef __cplusplus
}
#endif
#endif
