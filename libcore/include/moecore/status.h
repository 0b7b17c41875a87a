/* status.h: status codes shared by every libmoecore function, and the error record that carries
 * the last message. Public functions return an mc_status; handles keep their last mc_error. */
#ifndef MOECORE_STATUS_H
#define MOECORE_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mc_status {
    MC_OK = 0,          /* success */
    MC_ERR_ARG,         /* an argument is invalid (NULL, out of range, inconsistent sizes) */
    MC_ERR_NOMEM,       /* an allocation failed */
    MC_ERR_IO,          /* a file could not be opened, read, written or renamed */
    MC_ERR_FORMAT,      /* an input file is malformed, truncated or hostile */
    MC_ERR_UNSUPPORTED, /* valid input that this build cannot handle (dtype, transfer syntax, ...) */
    MC_ERR_DB,          /* the results store reported an error */
    MC_ERR_BUSY,        /* the database stayed locked past the busy timeout */
    MC_ERR_SCHEMA,      /* the database schema is newer than this build or not ours */
    MC_ERR_NOT_FOUND,   /* a named item (tensor, series, symbol) does not exist */
    MC_ERR_DEVICE,      /* the requested compute device is absent or failed */
    MC_ERR_INTERNAL,    /* a bug: an invariant did not hold */
    MC_STATUS_COUNT
} mc_status;

/* A short English description of a status code ("invalid argument", ...). Never NULL. */
const char *mc_status_str(mc_status s);

#define MC_ERRMSG_MAX 512

/* The last error: its code and a message naming the input and the problem. */
typedef struct mc_error {
    mc_status code;
    char msg[MC_ERRMSG_MAX];
} mc_error;

/* Records code and a printf-style message in e (which may be NULL) and returns code, so that
 * callers can write `return mc_error_set(err, MC_ERR_FORMAT, "%s: header too short", path);`. */
mc_status mc_error_set(mc_error *e, mc_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Resets e to MC_OK with an empty message. e may be NULL. */
void mc_error_clear(mc_error *e);

#ifdef __cplusplus
}
#endif
#endif
