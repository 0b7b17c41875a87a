/* metrics.c: the Prometheus textfile of a program, one set of samples per command, replaced
 * atomically after each run. Samples of the program's other commands are carried over from the
 * previous file, and so is the last-success time of this command when this run failed. */
#include "moecore/metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { M_LAST_RUN, M_LAST_SUCCESS, M_DURATION, M_PROCESSED, M_REJECTED, M_SUCCESS, M_COUNT };

static const struct {
    const char *name;
    const char *help;
} metric[M_COUNT] = {
    {"moesuite_last_run_timestamp_seconds", "Unix time at which the last run of the command ended."},
    {"moesuite_last_success_timestamp_seconds", "Unix time at which the last successful run of the command ended."},
    {"moesuite_run_duration_seconds", "Wall-clock duration of the last run of the command."},
    {"moesuite_inputs_processed", "Inputs the last run of the command processed."},
    {"moesuite_inputs_rejected", "Inputs the last run of the command rejected."},
    {"moesuite_last_run_success", "1 when the last run of the command succeeded, else 0."},
};

#define MAX_KEPT 512
#define LABEL_MAX 128

typedef struct {
    int metric;
    char command[LABEL_MAX];
    double value;
} sample;

/* Reads the value of label `command` from a sample line's label set; 0 on success. */
static int parse_command_label(const char *labels, char *out, size_t size) {
    const char *p = strstr(labels, "command=\"");
    if (!p) return -1;
    p += strlen("command=\"");
    size_t n = 0;
    for (; *p && *p != '"'; p++) {
        char c = *p;
        if (c == '\\' && p[1]) {
            p++;
            c = *p == 'n' ? '\n' : *p;
        }
        if (n + 1 >= size) return -1;
        out[n++] = c;
    }
    if (*p != '"') return -1;
    out[n] = '\0';
    return 0;
}

/* Loads the previous file's samples of other commands into kept[] and this command's last
 * success time into *prev_success (left unchanged when absent). Returns the number kept. */
static int load_previous(const char *path, const char *command, sample *kept, double *prev_success) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int n = 0;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        for (int m = 0; m < M_COUNT; m++) {
            size_t len = strlen(metric[m].name);
            if (strncmp(line, metric[m].name, len) != 0 || line[len] != '{') continue;
            char *close = strchr(line + len, '}');
            if (!close) break;
            *close = '\0';
            sample s = {.metric = m};
            if (parse_command_label(line + len, s.command, sizeof s.command) != 0) break;
            char *end;
            s.value = strtod(close + 1, &end);
            if (end == close + 1) break;
            if (strcmp(s.command, command) == 0) {
                if (m == M_LAST_SUCCESS) *prev_success = s.value;
            } else if (n < MAX_KEPT) {
                kept[n++] = s;
            }
            break;
        }
    }
    fclose(f);
    return n;
}

/* Writes s as a label value with Prometheus escapes (backslash, quote, newline). */
static void put_label(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            fprintf(f, "\\%c", *s);
        else if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
}

static void put_sample(FILE *f, int m, const char *program, const char *command, double value) {
    fprintf(f, "%s{program=\"", metric[m].name);
    put_label(f, program);
    fputs("\",command=\"", f);
    put_label(f, command);
    fprintf(f, "\"} %.17g\n", value);
}

mc_status mc_metrics_write(const char *dir, const mc_run_metrics *m, mc_error *err) {
    if (!dir || !m || !m->program || !m->command || strchr(m->program, '/'))
        return mc_error_set(err, MC_ERR_ARG, "mc_metrics_write: invalid arguments");
    char path[4096], tmp[4200];
    if (snprintf(path, sizeof path, "%s/%s.prom", dir, m->program) >= (int)sizeof path)
        return mc_error_set(err, MC_ERR_ARG, "metrics directory path too long: %s", dir);
    snprintf(tmp, sizeof tmp, "%s/.%s.prom.%ld.tmp", dir, m->program, (long)getpid());

    sample *kept = calloc(MAX_KEPT, sizeof *kept);
    if (!kept) return mc_error_set(err, MC_ERR_NOMEM, "%s: out of memory", path);
    double last_success = 0.0;
    int n_kept = load_previous(path, m->command, kept, &last_success);
    if (m->succeeded) last_success = m->finished_at;
    const double value[M_COUNT] = {
        [M_LAST_RUN] = m->finished_at,
        [M_LAST_SUCCESS] = last_success,
        [M_DURATION] = m->finished_at - m->started_at,
        [M_PROCESSED] = (double)m->n_ok,
        [M_REJECTED] = (double)m->n_rejected,
        [M_SUCCESS] = m->succeeded ? 1.0 : 0.0,
    };

    FILE *f = fopen(tmp, "w");
    if (!f) {
        free(kept);
        return mc_error_set(err, MC_ERR_IO, "%s: cannot write metrics: %s", tmp, strerror(errno));
    }
    for (int k = 0; k < M_COUNT; k++) {
        fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", metric[k].name, metric[k].help, metric[k].name);
        for (int i = 0; i < n_kept; i++)
            if (kept[i].metric == k) put_sample(f, k, m->program, kept[i].command, kept[i].value);
        /* a command that never succeeded has no last-success sample */
        if (k != M_LAST_SUCCESS || last_success != 0.0) put_sample(f, k, m->program, m->command, value[k]);
    }
    int bad = ferror(f);
    bad |= fflush(f) != 0;
    bad |= fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    free(kept);
    if (bad || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return mc_error_set(err, MC_ERR_IO, "%s: cannot write metrics: %s", path, strerror(e));
    }
    return MC_OK;
}
