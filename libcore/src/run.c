/* run.c: the life of one command invocation in the results store: runs row, input counts,
 * rejections, metrics file and exit code; and its end on SIGTERM or SIGINT, at a safe point. */
#include "moecore/run.h"

#include <jansson.h>
#include <omp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "moecore/log.h"
#include "moecore/metrics.h"
#include "moecore/threads.h"
#include "moecore/version.h"
#include "run_safe_point.h"

struct mc_run {
    const mc_ctx *ctx;
    mc_store *store;
    char id[MC_UUID_LEN];
    double started_at;
    int64_t n_ok;
    int64_t n_rejected;
    uint64_t storage_mark; /* mc_store_storage_failures at the start of the input in progress */
    int failed;            /* the store or an output failed: the run fails at its end */
    pthread_t thread; /* the thread that began the run: the only one that may end it at a safe point */
};

/* ---- termination signals ------------------------------------------------------------------------
 * While a run is in progress, SIGTERM and SIGINT only set caught_signal; the safe points end the
 * run. The handlers reset themselves when they fire (SA_RESETHAND), so a second signal kills the
 * process at once, as it did before the run began. A signal the process ignores stays ignored. */

static const int stop_signals[] = {SIGTERM, SIGINT};
#define N_STOP_SIGNALS ((int)(sizeof stop_signals / sizeof *stop_signals))

static volatile sig_atomic_t caught_signal;
static mc_run *current;                            /* the run the handlers were installed for */
static struct sigaction saved[N_STOP_SIGNALS];     /* the dispositions before it */
static int installed[N_STOP_SIGNALS];

static void on_stop_signal(int sig) { caught_signal = sig; }

static void install_handlers(void) {
    caught_signal = 0;
    for (int i = 0; i < N_STOP_SIGNALS; i++) {
        struct sigaction old, sa = {.sa_handler = on_stop_signal, .sa_flags = SA_RESTART | SA_RESETHAND};
        installed[i] = 0;
        if (sigaction(stop_signals[i], NULL, &old) != 0 || (!(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_IGN))
            continue;
        sigemptyset(&sa.sa_mask);
        installed[i] = sigaction(stop_signals[i], &sa, &saved[i]) == 0;
    }
}

static void restore_handlers(void) {
    for (int i = 0; i < N_STOP_SIGNALS; i++)
        if (installed[i]) sigaction(stop_signals[i], &saved[i], NULL);
    memset(installed, 0, sizeof installed);
}

/* Ends the process by sig, as its default action would have: the shell then reports 128 + sig. */
static void die_by(int sig) {
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
}

static double unix_now(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + 1e-6 * (double)tv.tv_usec;
}

/* The command line as a JSON array of strings (caller frees). */
static char *arguments_json(const mc_ctx *ctx) {
    json_t *a = json_array();
    for (int i = 0; i < ctx->argc; i++) json_array_append_new(a, json_string(ctx->argv[i]));
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

/* Writes the metrics file of a run when --metrics-dir was given; returns 0 or -1 (logged). */
static int write_metrics(const mc_ctx *ctx, double started_at, int64_t n_ok, int64_t n_rejected, int succeeded) {
    if (!ctx->metrics_dir) return 0;
    mc_run_metrics m = {
        .program = ctx->program,
        .command = ctx->command,
        .started_at = started_at,
        .finished_at = unix_now(),
        .n_ok = n_ok,
        .n_rejected = n_rejected,
        .succeeded = succeeded,
    };
    mc_error err;
    if (mc_metrics_write(ctx->metrics_dir, &m, &err) != MC_OK) {
        mc_log_error("%s", err.msg);
        return -1;
    }
    return 0;
}

mc_status mc_run_begin(mc_run **out, const mc_ctx *ctx, mc_migrate_fn migrate, mc_error *err) {
    if (!out || !ctx || !ctx->db_path || !ctx->command) return mc_error_set(err, MC_ERR_ARG, "mc_run_begin: invalid arguments");
    *out = NULL;
    mc_run *r = calloc(1, sizeof *r);
    char *args = arguments_json(ctx);
    if (!r || !args) {
        free(r);
        free(args);
        return mc_error_set(err, MC_ERR_NOMEM, "out of memory");
    }
    r->ctx = ctx;
    r->started_at = unix_now();
    r->thread = pthread_self();
    int owns_signals = current == NULL;
    if (owns_signals) install_handlers();
    mc_status st = mc_store_open(&r->store, ctx->db_path, err);
    if (st == MC_OK && migrate && (st = migrate(r->store)) != MC_OK && err) *err = *mc_store_error(r->store);
    if (st == MC_OK) {
        st = mc_store_run_begin(r->store, ctx->program, ctx->command, args, mc_version(), mc_build_info(), r->id);
        if (st != MC_OK && err) *err = *mc_store_error(r->store);
    }
    free(args);
    if (st != MC_OK) {
        write_metrics(ctx, r->started_at, 0, 0, 0);
        mc_store_close(r->store);
        free(r);
        if (owns_signals) {
            restore_handlers();
            if (caught_signal) die_by(caught_signal);
        }
        return st;
    }
    mc_log_debug("run %s: %s %s into %s", r->id, ctx->program, ctx->command, ctx->db_path);
    if (owns_signals) current = r;
    r->storage_mark = mc_store_storage_failures(NULL, 0);
    *out = r;
    mc_run_safe_point();
    return MC_OK;
}

mc_store *mc_run_store(mc_run *r) { return r ? r->store : NULL; }

const char *mc_run_id(const mc_run *r) { return r ? r->id : NULL; }

/* Between inputs: record the counts, stop writing to a stdout whose reader has gone, end the run
 * after a signal, let the thread count follow the free cores. */
static void between_inputs(mc_run *r) {
    /* the counts so far, for a run that will not reach its end; a failure here is the store's and
     * shows at the next input or at the end */
    mc_store_run_counts(r->store, r->id, r->n_ok, r->n_rejected);
    r->storage_mark = mc_store_storage_failures(NULL, 0);
    mc_cli_stdout_closed(0);
    mc_run_safe_point();
    mc_threads_follow();
}

void mc_run_input_ok(mc_run *r) {
    if (!r) return;
    r->n_ok++;
    between_inputs(r);
}

void mc_run_fail(mc_run *r, const char *fmt, ...) {
    if (!r) return;
    char msg[MC_ERRMSG_MAX + 128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mc_log_error("%s; run %s will be recorded as failed", msg, r->id);
    r->failed = 1;
}

void mc_run_input_rejected(mc_run *r, const char *input, const char *reason) {
    if (!r) return;
    mc_store_rollback(r->store);
    char storage[MC_ERRMSG_MAX];
    if (mc_store_storage_failures(storage, sizeof storage) != r->storage_mark) {
        /* the store failed under this input: the run's failure, not the input's */
        mc_run_fail(r, "%s: the results store failed while storing %s (%s): %s; the input is not counted as rejected",
                    r->ctx->db_path, input, storage, reason);
        between_inputs(r);
        return;
    }
    r->n_rejected++;
    const char *keys[] = {"input", "reason"};
    const char *values[] = {input, reason};
    mc_log_fields(MC_LOG_ERROR, "rejected", 2, keys, values);
    if (mc_store_input_error(r->store, r->id, input, reason) != MC_OK)
        mc_log_error("%s: cannot record the rejection of %s: %s", r->ctx->db_path, input,
                     mc_store_error(r->store)->msg);
    between_inputs(r);
}

int64_t mc_run_n_ok(const mc_run *r) { return r ? r->n_ok : 0; }

int64_t mc_run_n_rejected(const mc_run *r) { return r ? r->n_rejected : 0; }

/* Rolls back any open transaction, records status and counts in runs, writes the metrics file,
 * frees r and gives the signal handlers back when r installed them. Returns code, or
 * MC_EXIT_FAILURE when the run could not be recorded. */
static int finish(mc_run *r, const char *status, int code) {
    mc_store_rollback(r->store);
    if (mc_store_run_finish(r->store, r->id, status, r->n_ok, r->n_rejected) != MC_OK) {
        mc_log_error("%s", mc_store_error(r->store)->msg);
        code = MC_EXIT_FAILURE;
    }
    if (write_metrics(r->ctx, r->started_at, r->n_ok, r->n_rejected, code != MC_EXIT_FAILURE) != 0)
        code = MC_EXIT_FAILURE;
    mc_log_debug("run %s: %s, %lld done, %lld rejected", r->id, status, (long long)r->n_ok, (long long)r->n_rejected);
    mc_store_close(r->store);
    if (r == current) {
        current = NULL;
        restore_handlers();
    }
    free(r);
    return code;
}

/* The end of a run stopped by sig: the transaction of the input in progress rolled back, the run
 * recorded as failed, then the process ends by the signal. Does not return. */
static void end_interrupted(mc_run *r, int sig) {
    mc_log_error("%s: stopping: the input in progress is rolled back and run %s is recorded as failed",
                 sig == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)", r->id);
    finish(r, "failed", MC_EXIT_FAILURE);
    die_by(sig);
}

void mc_run_safe_point(void) {
    int sig = caught_signal;
    if (!sig || !current || !pthread_equal(pthread_self(), current->thread) || omp_in_parallel()) return;
    end_interrupted(current, sig);
}

int mc_run_end(mc_run *r, mc_status failure) {
    if (!r) return MC_EXIT_FAILURE;
    int owns_signals = r == current;
    if (owns_signals && caught_signal) end_interrupted(r, caught_signal);
    if (mc_cli_stdout_closed(1))
        mc_log_info("stdout was closed by its reader: the output after that point was dropped; every result is in %s (run %s)",
                    r->ctx->db_path, r->id);
    if (failure == MC_OK && r->failed) failure = MC_ERR_IO;
    const char *status = failure != MC_OK ? "failed" : r->n_rejected > 0 ? "partial" : "ok";
    int code = failure != MC_OK ? MC_EXIT_FAILURE : r->n_rejected > 0 ? MC_EXIT_PARTIAL : MC_EXIT_OK;
    code = finish(r, status, code);
    /* a signal while the run was being recorded: the run stands as recorded, the process stops */
    if (owns_signals && caught_signal) die_by(caught_signal);
    return code;
}
