/* batch.h: what every moe-finance command over price files shares: collecting the inputs, the run
 * in the results store, the fin_ tables, the --bad-rows policy, and the CSV output, written to a
 * temporary file and renamed into place only when the batch completes. */
#ifndef MOE_FINANCE_BATCH_H
#define MOE_FINANCE_BATCH_H

#include <stdio.h>

#include "moecore/inputs.h"
#include "moecore/outfile.h"
#include "moecore/run.h"
#include "prices.h"

typedef struct fin_batch {
    mc_inputs in;
    mc_run *run;
    mc_status failure;  /* set when the batch cannot go on (the run still ends, as failed) */
    FILE *csv;          /* NULL without an output; stdout for "-" */
    const char *output;
    mc_outfile out;     /* the CSV's temporary file, renamed over output at the end */
} fin_batch;

/* Collects the .csv inputs under paths, begins the run, brings the fin_ tables up to date when
 * store is set, and opens output (may be NULL). Returns 0 with b->run set (b->failure tells whether
 * the batch can go on), or MC_EXIT_FAILURE after logging when no run could begin. */
int fin_batch_begin(fin_batch *b, const mc_ctx *ctx, char **paths, int n, int store, const char *output);

/* Renames the CSV into place (or removes it when the batch failed), frees the inputs and ends the
 * run; returns the exit code. */
int fin_batch_end(fin_batch *b);

/* The work on one symbol of an input file: its database rows inside the file's transaction, its
 * CSV rows to rows (NULL without an output). index is the symbol's position in the file. Returns 0,
 * or -1 with reason. */
typedef int (*fin_symbol_fn)(void *user, fin_batch *b, int index, const fin_prices *p, FILE *rows, char *reason,
                             size_t size);

/* One input file already read: fn on each of its symbols, in one transaction when store is set,
 * with the file's CSV rows held in memory until it commits; the file then counts as done, or as
 * rejected with nothing of it stored or written. Returns 0 when done. */
int fin_batch_file(fin_batch *b, const char *path, const fin_prices *sym, int n_sym, int store, fin_symbol_fn fn,
                   void *user);

/* Reads input i of b under policy into *sym (n_sym symbols; fin_prices_free them). Returns 0, or -1
 * with the input rejected, the reason in the run. */
int fin_batch_read(fin_batch *b, int i, fin_bad_rows policy, fin_prices **sym, int *n_sym);

/* Reads every input (an unreadable one is rejected) and runs fin_batch_file on it, with a progress
 * bar called label. */
void fin_batch_each_file(fin_batch *b, const char *label, fin_bad_rows policy, int store, fin_symbol_fn fn, void *user);

/* A cached statement of the store (mc_store_stmt), and a write stepped to its end: 0, or -1 with
 * the database's message in reason. */
int fin_store_prepare(mc_store *s, const char *sql, sqlite3_stmt **st, char *reason, size_t size);
int fin_store_step(mc_store *s, sqlite3_stmt *st, char *reason, size_t size);

/* --bad-rows reject|drop; a usage error otherwise. */
int fin_parse_bad_rows(const mc_ctx *ctx, const char *arg, fin_bad_rows *out);

/* --NAME DATE: a valid YYYY-MM-DD into *out (arg itself); a usage error otherwise. */
int fin_parse_date(const mc_ctx *ctx, const char *name, const char *arg, const char **out);

/* Binds v to parameter i of st, or NULL when v is not finite (a value not known yet). */
void fin_bind_real(sqlite3_stmt *st, int i, double v);

/* Logs a dropped row as a warning naming the file. */
void fin_warn_row(void *user, const char *path, const char *message);

#endif
