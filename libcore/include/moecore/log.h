/* log.h: messages to stderr, as human-readable lines or, with --json, one JSON object per line.
 * The level is set once per process from -q/-v. Results never go through here: they go to stdout. */
#ifndef MOECORE_LOG_H
#define MOECORE_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mc_log_level {
    MC_LOG_ERROR = 0, /* always shown, even with -q */
    MC_LOG_WARN = 1,
    MC_LOG_INFO = 2,  /* the default threshold */
    MC_LOG_DEBUG = 3  /* -v */
} mc_log_level;

/* Sets the program name shown on each line, the highest level shown, and the format. */
void mc_log_setup(const char *program, mc_log_level max_level, int json);

/* Whether a message at level would be shown. */
int mc_log_enabled(mc_log_level level);

/* Whether lines are JSON (--json). */
int mc_log_json(void);

/* Human: "moe-finance: warning: message". JSON: {"ts":..,"level":..,"program":..,"msg":..}. */
void mc_log(mc_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A message with named fields, n pairs of keys[i] = values[i]. Human: "program: level: msg:
 * v1: v2" (values only, as in "moe-finance: error: rejected: prices/x.csv: line 3: high < low");
 * JSON: the fields become members of the object. */
void mc_log_fields(mc_log_level level, const char *msg, int n, const char *const *keys,
                   const char *const *values);

#define mc_log_error(...) mc_log(MC_LOG_ERROR, __VA_ARGS__)
#define mc_log_warn(...) mc_log(MC_LOG_WARN, __VA_ARGS__)
#define mc_log_info(...) mc_log(MC_LOG_INFO, __VA_ARGS__)
#define mc_log_debug(...) mc_log(MC_LOG_DEBUG, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
