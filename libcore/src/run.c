/* run.c: the life of one command invocation in the results store: runs row, input counts,
 * rejections, metrics file and exit code. */
#include "moecore/run.h"

#include <jansson.h>
#include <stdlib.h>
#include <sys/time.h>

#include "moecore/log.h"
#include "moecore/metrics.h"
#include "moecore/version.h"

struct mc_run {
    const mc_ctx *ctx;
    mc_store *store;
    char id[MC_UUID_LEN];
    double started_at;
    int64_t n_ok;
    int64_t n_rejected;
};

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

mc_status mc_run_begin(mc_run **out, const mc_ctx *ctx, mc_error *err) {
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
    mc_status st = mc_store_open(&r->store, ctx->db_path, err);
    if (st == MC_OK) {
        st = mc_store_run_begin(r->store, ctx->program, ctx->command, args, mc_version(), mc_build_info(), r->id);
        if (st != MC_OK && err) *err = *mc_store_error(r->store);
    }
    free(args);
    if (st != MC_OK) {
        write_metrics(ctx, r->started_at, 0, 0, 0);
        mc_store_close(r->store);
        free(r);
        return st;
    }
    mc_log_debug("run %s: %s %s into %s", r->id, ctx->program, ctx->command, ctx->db_path);
    *out = r;
    return MC_OK;
}

mc_store *mc_run_store(mc_run *r) { return r ? r->store : NULL; }

const char *mc_run_id(const mc_run *r) { return r ? r->id : NULL; }

void mc_run_input_ok(mc_run *r) {
    if (r) r->n_ok++;
}

void mc_run_input_rejected(mc_run *r, const char *input, const char *reason) {
    if (!r) return;
    mc_store_rollback(r->store);
    r->n_rejected++;
    const char *keys[] = {"input", "reason"};
    const char *values[] = {input, reason};
    mc_log_fields(MC_LOG_ERROR, "rejected", 2, keys, values);
    if (mc_store_input_error(r->store, r->id, input, reason) != MC_OK)
        mc_log_error("%s: cannot record the rejection of %s: %s", r->ctx->db_path, input,
                     mc_store_error(r->store)->msg);
}

int64_t mc_run_n_ok(const mc_run *r) { return r ? r->n_ok : 0; }

int64_t mc_run_n_rejected(const mc_run *r) { return r ? r->n_rejected : 0; }

int mc_run_end(mc_run *r, mc_status failure) {
    if (!r) return MC_EXIT_FAILURE;
    mc_store_rollback(r->store);
    const char *status = failure != MC_OK ? "failed" : r->n_rejected > 0 ? "partial" : "ok";
    int code = failure != MC_OK ? MC_EXIT_FAILURE : r->n_rejected > 0 ? MC_EXIT_PARTIAL : MC_EXIT_OK;
    if (mc_store_run_finish(r->store, r->id, status, r->n_ok, r->n_rejected) != MC_OK) {
        mc_log_error("%s", mc_store_error(r->store)->msg);
        code = MC_EXIT_FAILURE;
    }
    if (write_metrics(r->ctx, r->started_at, r->n_ok, r->n_rejected, code != MC_EXIT_FAILURE) != 0)
        code = MC_EXIT_FAILURE;
    mc_log_debug("run %s: %s, %lld done, %lld rejected", r->id, status, (long long)r->n_ok, (long long)r->n_rejected);
    mc_store_close(r->store);
    free(r);
    return code;
}
