/* status.c: descriptions of status codes and the error record. */
#include "moecore/status.h"

#include <stdarg.h>
#include <stdio.h>

static const char *const status_text[MC_STATUS_COUNT] = {
    [MC_OK] = "ok",
    [MC_ERR_ARG] = "invalid argument",
    [MC_ERR_NOMEM] = "out of memory",
    [MC_ERR_IO] = "input/output error",
    [MC_ERR_FORMAT] = "malformed input",
    [MC_ERR_UNSUPPORTED] = "unsupported",
    [MC_ERR_DB] = "database error",
    [MC_ERR_BUSY] = "database busy",
    [MC_ERR_SCHEMA] = "incompatible database schema",
    [MC_ERR_NOT_FOUND] = "not found",
    [MC_ERR_DEVICE] = "compute device error",
    [MC_ERR_INTERNAL] = "internal error",
};

const char *mc_status_str(mc_status s) {
    if ((unsigned)s >= MC_STATUS_COUNT) return "unknown status";
    return status_text[s];
}

mc_status mc_error_set(mc_error *e, mc_status code, const char *fmt, ...) {
    if (e) {
        e->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void mc_error_clear(mc_error *e) {
    if (e) {
        e->code = MC_OK;
        e->msg[0] = '\0';
    }
}
