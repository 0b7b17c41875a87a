/* batch.c: the shared frame of moe-finance's batch commands. */
#include "batch.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "moecore/log.h"
#include "schema.h"

int fin_batch_begin(fin_batch *b, const mc_ctx *ctx, char **paths, int n, int store, const char *output) {
    memset(b, 0, sizeof *b);
    mc_error err;
    if (mc_inputs_collect(&b->in, paths, n, ".csv", &err) != MC_OK) {
        mc_log_error("%s", err.msg);
        return MC_EXIT_FAILURE;
    }
    if (mc_run_begin(&b->run, ctx, &err) != MC_OK) {
        mc_log_error("%s", err.msg);
        mc_inputs_free(&b->in);
        return MC_EXIT_FAILURE;
    }
    if (store && (b->failure = fin_schema_migrate(mc_run_store(b->run))) != MC_OK)
        mc_log_error("%s", mc_store_error(mc_run_store(b->run))->msg);
    b->output = output;
    if (b->failure == MC_OK && output) {
        if (strcmp(output, "-") == 0) {
            b->csv = stdout;
        } else {
            snprintf(b->tmp, sizeof b->tmp, "%s.tmp.%ld", output, (long)getpid());
            if (!(b->csv = fopen(b->tmp, "w"))) {
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
        if (b->failure == MC_OK && (bad || rename(b->tmp, b->output) != 0)) {
            mc_log_error("%s: cannot write: %s", b->output, strerror(errno));
            b->failure = MC_ERR_IO;
        }
        if (b->failure != MC_OK) unlink(b->tmp);
    }
    mc_inputs_free(&b->in);
    return mc_run_end(b->run, b->failure);
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

void fin_warn_row(void *user, const char *path, const char *message) {
    (void)user;
    mc_log_warn("%s: %s", path, message);
}
