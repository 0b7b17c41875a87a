/* batch.c: the shared frame of moe-finance's batch commands. */
#include "batch.h"

#include <errno.h>
#include <math.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include <stdlib.h>

#include "csv.h"
#include "moecore/log.h"
#include "moecore/progress.h"
#include "schema.h"

int fin_batch_begin(fin_batch *b, const mc_ctx *ctx, char **paths, int n, int store, const char *output) {
    memset(b, 0, sizeof *b);
    mc_error err;
    if (mc_inputs_collect(&b->in, paths, n, ".csv", &err) != MC_OK) {
        mc_log_error("%s", err.msg);
        return MC_EXIT_FAILURE;
    }
    if (mc_run_begin(&b->run, ctx, store ? fin_schema_migrate : NULL, &err) != MC_OK) {
        mc_log_error("%s", err.msg);
        mc_inputs_free(&b->in);
        return MC_EXIT_FAILURE;
    }
    b->output = output;
    if (b->failure == MC_OK && output) {
        if (strcmp(output, "-") == 0) {
            b->csv = stdout;
        } else {
            mc_error err;
            if (mc_outfile_begin(&b->out, output, &err) != MC_OK) {
                mc_log_error("%s", err.msg);
                b->failure = MC_ERR_IO;
            } else if (!(b->csv = fopen(b->out.tmp, "w"))) {
                mc_log_error("%s: cannot write: %s", output, strerror(errno));
                b->failure = MC_ERR_IO;
            }
        }
    }
    return 0;
}

int fin_batch_end(fin_batch *b) {
    if (b->csv && b->csv != stdout) {
        int bad = fclose(b->csv) != 0;
        mc_error err;
        if (b->failure == MC_OK && bad) {
            mc_log_error("%s: cannot write: %s", b->output, strerror(errno));
            b->failure = MC_ERR_IO;
        } else if (b->failure == MC_OK && mc_outfile_commit(&b->out, &err) != MC_OK) {
            mc_log_error("%s", err.msg);
            b->failure = MC_ERR_IO;
        }
        if (b->failure != MC_OK) mc_outfile_abort(&b->out);
    }
    mc_inputs_free(&b->in);
    return mc_run_end(b->run, b->failure);
}

int fin_batch_file(fin_batch *b, const char *path, const fin_prices *sym, int n_sym, int store, fin_symbol_fn fn,
                   void *user) {
    char reason[600] = "";
    char *rows = NULL;
    size_t rows_len = 0;
    mc_store *s = mc_run_store(b->run);
    FILE *mem = b->csv ? open_memstream(&rows, &rows_len) : NULL;
    int ok = !b->csv || mem;
    if (!ok) snprintf(reason, sizeof reason, "out of memory");
    if (ok && store && mc_store_begin(s) != MC_OK) {
        snprintf(reason, sizeof reason, "%s", mc_store_error(s)->msg);
        ok = 0;
    }
    for (int i = 0; i < n_sym && ok; i++) ok = fn(user, b, i, &sym[i], mem, reason, sizeof reason) == 0;
    if (ok && store && mc_store_commit(s) != MC_OK) {
        snprintf(reason, sizeof reason, "%s", mc_store_error(s)->msg);
        ok = 0;
    }
    if (mem) fclose(mem);
    if (ok) {
        if (b->csv) fwrite(rows, 1, rows_len, b->csv);
        mc_run_input_ok(b->run);
    } else {
        mc_run_input_rejected(b->run, path, reason); /* rolls back what the file wrote */
    }
    free(rows);
    return ok ? 0 : -1;
}

int fin_batch_read(fin_batch *b, int i, fin_bad_rows policy, fin_prices **sym, int *n_sym) {
    char reason[600];
    if (fin_prices_read(b->in.paths[i], policy, fin_warn_row, NULL, sym, n_sym, reason, sizeof reason) == 0) return 0;
    mc_run_input_rejected(b->run, b->in.paths[i], reason);
    return -1;
}

void fin_batch_each_file(fin_batch *b, const char *label, fin_bad_rows policy, int store, fin_symbol_fn fn, void *user) {
    mc_progress *bar = mc_progress_start(label, b->in.n);
    for (int i = 0; i < b->in.n && b->failure == MC_OK; i++) {
        fin_prices *sym;
        int n_sym;
        if (fin_batch_read(b, i, policy, &sym, &n_sym) == 0) {
            fin_batch_file(b, b->in.paths[i], sym, n_sym, store, fn, user);
            fin_prices_free(sym, n_sym);
        }
        mc_progress_add(bar, 1);
    }
    mc_progress_finish(bar);
}

int fin_store_prepare(mc_store *s, const char *sql, sqlite3_stmt **st, char *reason, size_t size) {
    if (mc_store_stmt(s, sql, st) == MC_OK) return 0;
    snprintf(reason, size, "%s", mc_store_error(s)->msg);
    return -1;
}

int fin_store_step(mc_store *s, sqlite3_stmt *st, char *reason, size_t size) {
    if (sqlite3_step(st) == SQLITE_DONE) return 0;
    snprintf(reason, size, "database: %s", sqlite3_errmsg(mc_store_db(s)));
    return -1;
}

int fin_parse_bad_rows(const mc_ctx *ctx, const char *arg, fin_bad_rows *out) {
    if (strcmp(arg, "reject") == 0)
        *out = FIN_BAD_ROWS_REJECT;
    else if (strcmp(arg, "drop") == 0)
        *out = FIN_BAD_ROWS_DROP;
    else
        return mc_cli_usage_error(ctx, "--bad-rows expects reject or drop, got '%s'", arg);
    return 0;
}

int fin_parse_date(const mc_ctx *ctx, const char *name, const char *arg, const char **out) {
    if (fin_date_days(arg) == INT_MIN || strlen(arg) != 10)
        return mc_cli_usage_error(ctx, "--%s expects a date YYYY-MM-DD, got '%s'", name, arg);
    *out = arg;
    return 0;
}

void fin_warn_row(void *user, const char *path, const char *message) {
    (void)user;
    mc_log_warn("%s: %s", path, message);
}

void fin_bind_real(sqlite3_stmt *st, int i, double v) {
    if (isfinite(v)) sqlite3_bind_double(st, i, v);
    else sqlite3_bind_null(st, i);
}
