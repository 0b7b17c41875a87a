/* sensor_log.c: readers of sensor logs and failure lists, with errors naming the line at fault. */
#include "sensor_log.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Days from 1970-01-01 to the civil date y-m-d (proleptic Gregorian). */
static long days_from_civil(long y, long m, long d) {
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int digits(const char *s, int n, long *out) {
    long v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int fab_parse_time(const char *s, double *hours) {
    long y, mo, d, h, mi, sec = 0;
    if (strlen(s) < 16 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != ' ') || digits(s + 11, 2, &h) || s[13] != ':' ||
        digits(s + 14, 2, &mi))
        return -1;
    const char *p = s + 16;
    double frac = 0;
    if (*p == ':') {
        if (digits(p + 1, 2, &sec)) return -1;
        p += 3;
        if (*p == '.') {
            double scale = 0.1;
            if (!isdigit((unsigned char)p[1])) return -1;
            for (p++; isdigit((unsigned char)*p); p++, scale /= 10) frac += (*p - '0') * scale;
        }
    }
    if (*p == 'Z') p++;
    if (*p) return -1;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) || h > 23 || mi > 59 ||
        sec > 59)
        return -1;
    *hours = days_from_civil(y, mo, d) * 24.0 + h + mi / 60.0 + (sec + frac) / 3600.0;
    return 0;
}

void fab_format_time(double hours, char *buf, size_t size) {
    long long s = llround(hours * 3600.0);
    long long days = s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
    long long rem = s - days * 86400;
    /* civil date from days since the epoch */
    long long z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    long long doe = z - era * 146097, yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    long long d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9, y = yoe + era * 400 + (m <= 2);
    snprintf(buf, size, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lldZ", y, m, d, rem / 3600, rem / 60 % 60, rem % 60);
}

/* Splits line in place at commas into at most max fields; returns the count (max + 1 when more). */
static int split(char *line, char **field, int max) {
    int n = 0;
    for (char *p = line;; p++) {
        if (n > max) return n;
        field[n++] = p;
        p = strchr(p, ',');
        if (!p) return n;
        *p = '\0';
    }
}

/* The next line without its end of line, or NULL at the end; -2 in *len for a NUL byte. */
static char *next_line(FILE *f, char **buf, size_t *cap, long *len) {
    ssize_t n = getline(buf, cap, f);
    if (n < 0) return NULL;
    if ((size_t)n != strlen(*buf)) {
        *len = -2;
        return *buf;
    }
    while (n > 0 && ((*buf)[n - 1] == '\n' || (*buf)[n - 1] == '\r')) (*buf)[--n] = '\0';
    *len = n;
    return *buf;
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) *--e = '\0';
    return s;
}

static int find_machine(const fab_sensor_log *log, const char *id, int hint) {
    if (hint >= 0 && hint < log->n_machines && strcmp(log->m[hint].id, id) == 0) return hint;
    for (int i = 0; i < log->n_machines; i++)
        if (strcmp(log->m[i].id, id) == 0) return i;
    return -1;
}

static int push_sample(fab_machine *m, int *cap, int S, double t, const double *v) {
    if (m->n == *cap) {
        int nc = *cap ? *cap * 2 : 256;
        double *nt = realloc(m->t, sizeof(double) * (size_t)nc);
        if (!nt) return -1;
        m->t = nt;
        double *nv = realloc(m->v, sizeof(double) * (size_t)nc * (size_t)S);
        if (!nv) return -1;
        m->v = nv;
        *cap = nc;
    }
    m->t[m->n] = t;
    memcpy(m->v + (size_t)m->n * S, v, sizeof(double) * (size_t)S);
    m->n++;
    return 0;
}

#define FAIL(...)                                \
    do {                                         \
        snprintf(reason, size, __VA_ARGS__);     \
        goto fail;                               \
    } while (0)

int fab_sensor_log_read(const char *path, fab_sensor_log *out, char *reason, size_t size) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(reason, size, "cannot open: %s", strerror(errno));
        return -1;
    }
    char *buf = NULL, *field[FAB_MAX_SENSORS + 3];
    size_t cap = 0;
    long len;
    int *caps = NULL, mcap = 0, hint = -1;
    long line = 1;
    if (!next_line(f, &buf, &cap, &len) || len == 0) FAIL("empty file");
    if (len < 0) FAIL("line 1: binary data (a NUL byte)");
    int nf = split(buf, field, FAB_MAX_SENSORS + 2);
    if (nf < 3 || strcmp(trim(field[0]), "machine_id") != 0 || strcmp(trim(field[1]), "timestamp") != 0)
        FAIL("line 1: header must be machine_id,timestamp,<sensor>... with at least one sensor column");
    if (nf > FAB_MAX_SENSORS + 2) FAIL("line 1: more than %d sensor columns", FAB_MAX_SENSORS);
    out->n_sensors = nf - 2;
    for (int s = 0; s < out->n_sensors; s++) {
        const char *name = trim(field[s + 2]);
        if (!*name || strlen(name) >= FAB_ID_MAX) FAIL("line 1: sensor column %d has an empty or too long name", s + 3);
        for (int k = 0; k < s; k++)
            if (strcmp(out->sensor[k], name) == 0) FAIL("line 1: sensor column '%s' appears twice", name);
        snprintf(out->sensor[s], FAB_ID_MAX, "%s", name);
    }
    int S = out->n_sensors;
    double v[FAB_MAX_SENSORS];
    long rows = 0;
    while (next_line(f, &buf, &cap, &len)) {
        line++;
        if (len < 0) FAIL("line %ld: binary data (a NUL byte)", line);
        if (len == 0) continue;
        nf = split(buf, field, S + 2);
        if (nf != S + 2) FAIL("line %ld: %s columns than the header's %d", line, nf > S + 2 ? "more" : "fewer", S + 2);
        const char *id = trim(field[0]);
        if (!*id || strlen(id) >= FAB_ID_MAX) FAIL("line %ld: empty or too long machine_id", line);
        double t;
        if (fab_parse_time(trim(field[1]), &t) != 0)
            FAIL("line %ld: timestamp '%.40s' is not an ISO 8601 time (YYYY-MM-DDTHH:MM:SSZ)", line, trim(field[1]));
        for (int s = 0; s < S; s++) {
            char *c = trim(field[s + 2]), *end;
            if (!*c) {
                v[s] = NAN;
                continue;
            }
            errno = 0;
            v[s] = strtod(c, &end);
            if (*end || end == c || !isfinite(v[s]) || errno == ERANGE)
                FAIL("line %ld: %s value '%.40s' is not a number", line, out->sensor[s], c);
        }
        int i = find_machine(out, id, hint);
        if (i < 0) {
            if (out->n_machines == mcap) {
                int nc = mcap ? mcap * 2 : 16;
                fab_machine *nm = realloc(out->m, sizeof *nm * (size_t)nc);
                if (!nm) FAIL("out of memory");
                out->m = nm;
                int *ncaps = realloc(caps, sizeof *ncaps * (size_t)nc);
                if (!ncaps) FAIL("out of memory");
                caps = ncaps;
                mcap = nc;
            }
            i = out->n_machines++;
            memset(&out->m[i], 0, sizeof out->m[i]);
            caps[i] = 0;
            snprintf(out->m[i].id, FAB_ID_MAX, "%s", id);
            out->m[i].failure = NAN;
        }
        hint = i;
        fab_machine *m = &out->m[i];
        if (m->n > 0 && t <= m->t[m->n - 1])
            FAIL("line %ld: machine %s: timestamp %s %s the previous one", line, id, trim(field[1]),
                 t == m->t[m->n - 1] ? "duplicates" : "is before");
        if (push_sample(m, &caps[i], S, t, v) != 0) FAIL("out of memory");
        rows++;
    }
    if (ferror(f)) FAIL("read error");
    if (rows == 0) FAIL("no samples after the header");
    free(buf);
    free(caps);
    fclose(f);
    return 0;
fail:
    free(buf);
    free(caps);
    fclose(f);
    fab_sensor_log_free(out);
    return -1;
}

int fab_failures_read(const char *path, fab_sensor_log *log, char *reason, size_t size) {
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(reason, size, "cannot open: %s", strerror(errno));
        return -1;
    }
    char *buf = NULL, *field[4];
    size_t cap = 0;
    long len, line = 1;
    int n = 0;
    if (!next_line(f, &buf, &cap, &len) || len == 0) FAIL("empty file");
    if (len < 0) FAIL("line 1: binary data (a NUL byte)");
    if (split(buf, field, 2) != 2 || strcmp(trim(field[0]), "machine_id") != 0 ||
        strcmp(trim(field[1]), "failure_time") != 0)
        FAIL("line 1: header must be machine_id,failure_time");
    while (next_line(f, &buf, &cap, &len)) {
        line++;
        if (len < 0) FAIL("line %ld: binary data (a NUL byte)", line);
        if (len == 0) continue;
        if (split(buf, field, 2) != 2) FAIL("line %ld: expected 2 columns", line);
        const char *id = trim(field[0]);
        int i = find_machine(log, id, -1);
        if (i < 0) FAIL("line %ld: unknown machine '%.64s' (not in the sensor log)", line, id);
        double t;
        if (fab_parse_time(trim(field[1]), &t) != 0)
            FAIL("line %ld: failure_time '%.40s' is not an ISO 8601 time", line, trim(field[1]));
        fab_machine *m = &log->m[i];
        if (!isnan(m->failure)) FAIL("line %ld: machine %s has a second failure", line, id);
        if (t < m->t[0]) FAIL("line %ld: machine %s fails before its first sample", line, id);
        m->failure = t;
        n++;
    }
    if (ferror(f)) FAIL("read error");
    free(buf);
    fclose(f);
    return n;
fail:
    free(buf);
    fclose(f);
    for (int i = 0; i < log->n_machines; i++) log->m[i].failure = NAN;
    return -1;
}

int fab_sensor_index(const fab_sensor_log *log, const char *name) {
    for (int s = 0; s < log->n_sensors; s++)
        if (strcmp(log->sensor[s], name) == 0) return s;
    return -1;
}

void fab_sensor_log_free(fab_sensor_log *log) {
    if (!log) return;
    for (int i = 0; i < log->n_machines; i++) {
        free(log->m[i].t);
        free(log->m[i].v);
    }
    free(log->m);
    memset(log, 0, sizeof *log);
}
