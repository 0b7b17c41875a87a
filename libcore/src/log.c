/* log.c: human or JSON log lines on stderr, filtered by level. */
#include "moecore/log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static const char *log_program = "moesuite";
static mc_log_level log_max = MC_LOG_INFO;
static int log_as_json = 0;

static const char *const level_name[] = {"error", "warning", "info", "debug"};

void mc_log_setup(const char *program, mc_log_level max_level, int json) {
    if (program) log_program = program;
    log_max = max_level;
    log_as_json = json;
}

int mc_log_enabled(mc_log_level level) { return level <= log_max; }

int mc_log_json(void) { return log_as_json; }

/* UTC time with milliseconds: 2026-11-28T16:08:42.123Z */
static void now_iso8601(char out[32]) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(tv.tv_usec / 1000));
}

static void emit(mc_log_level level, const char *msg, int n, const char *const *keys,
                 const char *const *values) {
    if (!mc_log_enabled(level)) return;
    if (log_as_json) {
        char ts[32];
        now_iso8601(ts);
        json_t *o = json_object();
        json_object_set_new(o, "ts", json_string(ts));
        json_object_set_new(o, "level", json_string(level_name[level]));
        json_object_set_new(o, "program", json_string(log_program));
        json_object_set_new(o, "msg", json_string(msg));
        for (int i = 0; i < n; i++) json_object_set_new(o, keys[i], json_string(values[i]));
        char *line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
        json_decref(o);
        if (line) {
            fprintf(stderr, "%s\n", line);
            free(line);
        }
        return;
    }
    flockfile(stderr);
    if (level == MC_LOG_INFO)
        fprintf(stderr, "%s: %s", log_program, msg);
    else
        fprintf(stderr, "%s: %s: %s", log_program, level_name[level], msg);
    for (int i = 0; i < n; i++) fprintf(stderr, ": %s", values[i]);
    fputc('\n', stderr);
    funlockfile(stderr);
}

void mc_log(mc_log_level level, const char *fmt, ...) {
    if (!mc_log_enabled(level)) return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    emit(level, msg, 0, NULL, NULL);
}

void mc_log_fields(mc_log_level level, const char *msg, int n, const char *const *keys,
                   const char *const *values) {
    emit(level, msg, n, keys, values);
}
