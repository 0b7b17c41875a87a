/* command_run.c: beginning a command's run with its tables up to date. */
#include "command_run.h"

#include "moecore/log.h"

mc_run *fab_command_run_begin(const mc_ctx *ctx, mc_status (*migrate)(mc_store *s)) {
    mc_run *run;
    mc_error err;
    if (mc_run_begin(&run, ctx, migrate, &err) != MC_OK) {
        mc_log_error("%s", err.msg);
        return NULL;
    }
    return run;
}
