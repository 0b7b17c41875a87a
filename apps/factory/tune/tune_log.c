/* tune_log.c: strict readers of a line's batch log and parameter bounds (tune_log.h). */
#include "tune_log.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_LINE 4096
#define MAX_COLS FAB_SURROGATE_MAX_DIM + 2

/* A CSV file read line by line: fields split on commas (no quoting), surrounding blanks and a
 * trailing CR removed; the FNV-1a hash of the bytes read. */
typedef struct csv_reader {
    FILE *f;
    const char *path;
    int line;
    char buf[MAX_LINE + 2];
    char *field[MAX_COLS + 1];
    int n_fields;
    uint64_t hash;
} csv_reader;

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) s[--n] = '\0';
    return s;
}

/* Next non-blank line into fields: 1, 0 at the end, -1 with reason. */
static int csv_next(csv_reader *r, char *reason, size_t size) {
    for (;;) {
        if (!fgets(r->buf, sizeof r->buf, r->f)) {
            if (ferror(r->f)) {
                snprintf(reason, size, "cannot read: %s", strerror(errno));
                return -1;
            }
            return 0;
        }
        r->line++;
        size_t len = strlen(r->buf);
        for (size_t i = 0; i < len; i++) r->hash = (r->hash ^ (unsigned char)r->buf[i]) * 1099511628211u;
        if (len > MAX_LINE || (len == MAX_LINE && r->buf[len - 1] != '\n' && !feof(r->f))) {
            snprintf(reason, size, "line %d: longer than %d bytes", r->line, MAX_LINE);
            return -1;
        }
        if (len + 1 < sizeof r->buf && !feof(r->f) && (len == 0 || r->buf[len - 1] != '\n')) {
            snprintf(reason, size, "line %d: binary data (a NUL byte)", r->line);
            return -1;
        }
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)r->buf[i] < 0x20 && r->buf[i] != '\t' && r->buf[i] != '\r' && r->buf[i] != '\n') {
                snprintf(reason, size, "line %d: binary data (control character 0x%02x)", r->line,
                         (unsigned char)r->buf[i]);
                return -1;
            }
        char *s = trim(r->buf);
        if (*s == '\0') continue;
        r->n_fields = 0;
        for (char *p = s;;) {
            if (r->n_fields == MAX_COLS) {
                snprintf(reason, size, "line %d: more than %d columns", r->line, MAX_COLS);
                return -1;
            }
            char *comma = strchr(p, ',');
            if (comma) *comma = '\0';
            r->field[r->n_fields++] = trim(p);
            if (!comma) break;
            p = comma + 1;
        }
        return 1;
    }
}

/* A finite number: 0; -1 when s is not a number; -2 when it is one but infinite or out of range. */
static int parse_number(const char *s, double *out) {
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || isnan(*out)) return -1;
    return errno == 0 && isfinite(*out) ? 0 : -2;
}

/* A cell that says "not measured yet": empty, NA or NaN (any case). */
static int is_missing(const char *s) {
    return *s == '\0' || strcasecmp(s, "na") == 0 || strcasecmp(s, "nan") == 0;
}

/* A timestamp as seconds: ISO 8601 (YYYY-MM-DD, optionally [T ]HH:MM[:SS[.fff]] and Z), or a plain
 * number of seconds. -1 when it is neither. */
static int parse_timestamp(const char *s, double *out) {
    if (parse_number(s, out) == 0) return 0;
    int Y, M, D, h = 0, m = 0, n = 0, k = 0;
    double sec = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &Y, &M, &D, &n) != 3 || n != 10) return -1;
    const char *p = s + 10;
    if (*p == 'T' || *p == ' ') {
        if (sscanf(p + 1, "%2d:%2d%n", &h, &m, &k) != 2 || k != 5) return -1;
        p += 6;
        if (*p == ':') {
            char *end;
            if (!(p[1] >= '0' && p[1] <= '9')) return -1;
            sec = strtod(p + 1, &end);
            if (end - (p + 1) < 2 || sec >= 61) return -1;
            p = end;
        }
        if (*p == 'Z') p++;
    }
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
    if (*p || M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || (M == 2 && D == 29 && !leap) || h > 23 || m > 59)
        return -1;
    /* days from 1970-01-01 (civil-from-days inverse) */
    int y = Y - (M <= 2);
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (M + (M > 2 ? -3 : 9)) + 2) / 5 + D - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    double days = (double)era * 146097 + doe - 719468;
    *out = days * 86400 + h * 3600 + m * 60 + sec;
    return 0;
}


static int header_index(const csv_reader *r, const char *name) {
    for (int i = 0; i < r->n_fields; i++)
        if (strcmp(r->field[i], name) == 0) return i;
    return -1;
}

int fab_read_bounds(const char *path, fab_bounds_table *b, char *reason, size_t size) {
    csv_reader r = {.path = path, .hash = 14695981039346656037u};
    memset(b, 0, sizeof *b);
    if (!(r.f = fopen(path, "rb"))) {
        snprintf(reason, size, "cannot open: %s", strerror(errno));
        return -1;
    }
    int rc = csv_next(&r, reason, size), col[4];
    static const char *const want[] = {"name", "min", "max", "max_step"};
    if (rc == 0) {
        snprintf(reason, size, "empty file");
        rc = -1;
    }
    for (int k = 0; rc == 1 && k < 4; k++)
        if ((col[k] = header_index(&r, want[k])) < 0) {
            snprintf(reason, size, "line 1: header has no '%s' column (name,min,max,max_step)", want[k]);
            rc = -1;
        }
    int cols = r.n_fields;
    while (rc == 1 && (rc = csv_next(&r, reason, size)) == 1) {
        if (r.n_fields != cols) {
            snprintf(reason, size, "line %d: %d fields, the header has %d", r.line, r.n_fields, cols);
            rc = -1;
            break;
        }
        const char *name = r.field[col[0]];
        if (!*name || strlen(name) >= sizeof b->names[0] || strcmp(name, "timestamp") == 0) {
            snprintf(reason, size, "line %d: invalid parameter name '%.64s'", r.line, name);
            rc = -1;
            break;
        }
        for (int i = 0; i < b->d && rc == 1; i++)
            if (strcmp(b->names[i], name) == 0) {
                snprintf(reason, size, "line %d: parameter '%s' listed twice", r.line, name);
                rc = -1;
            }
        if (rc != 1) break;
        if (b->d == FAB_SURROGATE_MAX_DIM) {
            snprintf(reason, size, "line %d: more than %d parameters", r.line, FAB_SURROGATE_MAX_DIM);
            rc = -1;
            break;
        }
        double v[3];
        int bad;
        for (int k = 0; k < 3 && rc == 1; k++)
            if ((bad = parse_number(r.field[col[k + 1]], &v[k])) != 0) {
                snprintf(reason, size, "line %d: %s of '%s' is not %s: '%.40s'", r.line, want[k + 1], name,
                         bad == -2 ? "a finite number" : "a number", r.field[col[k + 1]]);
                rc = -1;
            }
        if (rc != 1) break;
        if (v[0] > v[1]) {
            snprintf(reason, size, "line %d: min > max for '%s' (%g > %g)", r.line, name, v[0], v[1]);
            rc = -1;
            break;
        }
        if (v[2] < 0) {
            snprintf(reason, size, "line %d: negative max_step for '%s'", r.line, name);
            rc = -1;
            break;
        }
        snprintf(b->names[b->d], sizeof b->names[0], "%s", name);
        b->name_ptr[b->d] = b->names[b->d];
        b->min[b->d] = v[0];
        b->max[b->d] = v[1];
        b->step[b->d] = v[2];
        b->d++;
    }
    fclose(r.f);
    if (rc == 0 && b->d == 0) {
        snprintf(reason, size, "no parameters");
        rc = -1;
    }
    b->hash = r.hash;
    return rc == 0 ? 0 : -1;
}


int fab_read_history(const char *path, const fab_bounds_table *b, const char *objective, fab_history_table *h, char *reason,
                        size_t size) {
    csv_reader r = {.path = path, .hash = 14695981039346656037u};
    memset(h, 0, sizeof *h);
    if (!(r.f = fopen(path, "rb"))) {
        snprintf(reason, size, "cannot open: %s", strerror(errno));
        return -1;
    }
    int rc = csv_next(&r, reason, size), ts_col = -1, obj_col = -1, col[FAB_SURROGATE_MAX_DIM];
    if (rc == 0) {
        snprintf(reason, size, "empty file");
        rc = -1;
    }
    if (rc == 1) {
        ts_col = header_index(&r, "timestamp");
        obj_col = header_index(&r, objective);
        if (ts_col < 0) {
            snprintf(reason, size, "line 1: header has no 'timestamp' column");
            rc = -1;
        } else if (obj_col < 0) {
            snprintf(reason, size, "line 1: header has no '%.64s' column (the objective; see --objective)", objective);
            rc = -1;
        }
        for (int i = 0; i < b->d && rc == 1; i++)
            if (strcmp(b->names[i], objective) == 0) {
                snprintf(reason, size, "the objective '%.64s' is also a parameter of the bounds", objective);
                rc = -1;
            }
        for (int i = 0; i < b->d && rc == 1; i++)
            if ((col[i] = header_index(&r, b->names[i])) < 0) {
                snprintf(reason, size, "line 1: header has no column for parameter '%s' of the bounds", b->names[i]);
                rc = -1;
            }
        for (int j = 0; j < r.n_fields && rc == 1; j++) {
            int known = j == ts_col || j == obj_col;
            for (int i = 0; i < b->d && !known; i++) known = j == col[i];
            for (int k = 0; k < j && known; k++)
                if (strcmp(r.field[k], r.field[j]) == 0) known = 0;
            if (!known) {
                snprintf(reason, size, "line 1: column '%.64s' is not a parameter of the bounds (or is repeated)",
                         r.field[j]);
                rc = -1;
            }
        }
    }
    int cols = r.n_fields;
    double prev = -INFINITY;
    while (rc == 1 && (rc = csv_next(&r, reason, size)) == 1) {
        if (r.n_fields != cols) {
            snprintf(reason, size, "line %d: %d fields, the header has %d", r.line, r.n_fields, cols);
            rc = -1;
            break;
        }
        double ts;
        if (parse_timestamp(r.field[ts_col], &ts) != 0) {
            snprintf(reason, size, "line %d: invalid timestamp '%.40s'", r.line, r.field[ts_col]);
            rc = -1;
            break;
        }
        if (ts == prev) {
            snprintf(reason, size, "line %d: duplicate timestamp '%.40s'", r.line, r.field[ts_col]);
            rc = -1;
            break;
        }
        if (ts < prev) {
            snprintf(reason, size, "line %d: timestamp '%.40s' before the previous row (rows must be sorted by time)",
                     r.line, r.field[ts_col]);
            rc = -1;
            break;
        }
        prev = ts;
        if (h->n == h->cap) {
            int cap = h->cap ? 2 * h->cap : 64;
            double *X = realloc(h->X, sizeof(double) * (size_t)cap * (size_t)b->d);
            if (X) h->X = X;
            double *y = realloc(h->y, sizeof(double) * (size_t)cap);
            if (y) h->y = y;
            unsigned char *pending = realloc(h->pending, (size_t)cap);
            if (pending) h->pending = pending;
            int *line = realloc(h->line, sizeof(int) * (size_t)cap);
            if (line) h->line = line;
            if (!X || !y || !pending || !line) {
                snprintf(reason, size, "out of memory");
                rc = -1;
                break;
            }
            h->cap = cap;
        }
        h->line[h->n] = r.line;
        h->pending[h->n] = is_missing(r.field[obj_col]);
        for (int i = 0; i <= b->d && rc == 1; i++) {
            int c = i < b->d ? col[i] : obj_col;
            double *dst = i < b->d ? &h->X[(size_t)h->n * b->d + i] : &h->y[h->n];
            if (i == b->d && h->pending[h->n]) {
                *dst = NAN; /* a batch not measured yet */
                break;
            }
            int bad = parse_number(r.field[c], dst);
            if (bad) {
                snprintf(reason, size, "line %d: '%.40s' in column '%s' is not %s", r.line, r.field[c],
                         i < b->d ? b->names[i] : objective, bad == -2 ? "a finite number" : "a number");
                rc = -1;
            }
        }
        if (rc == 1) h->n++;
    }
    fclose(r.f);
    if (rc == 0 && h->n == 0) {
        snprintf(reason, size, "no batches logged (the history is empty)");
        rc = -1;
    }
    h->hash = r.hash;
    if (rc != 0) fab_history_free(h);
    return rc == 0 ? 0 : -1;
}

void fab_history_free(fab_history_table *h) {
    free(h->X);
    free(h->y);
    free(h->pending);
    free(h->line);
    h->X = h->y = NULL;
    h->pending = NULL;
    h->line = NULL;
}

int fab_read_recipes(const char *path, int d, const char *const *names, const double *lo, const double *hi, double **X,
                     int *n, char *reason, size_t size) {
    csv_reader r = {.path = path, .hash = 14695981039346656037u};
    int col[FAB_SURROGATE_MAX_DIM], cap = 0, cols = 0;
    *X = NULL;
    *n = 0;
    if (d < 1 || d > FAB_SURROGATE_MAX_DIM) {
        snprintf(reason, size, "invalid number of parameters");
        return -1;
    }
    if (!(r.f = fopen(path, "rb"))) {
        snprintf(reason, size, "cannot open: %s", strerror(errno));
        return -1;
    }
    int rc = csv_next(&r, reason, size);
    if (rc == 0) {
        snprintf(reason, size, "empty file");
        rc = -1;
    }
    for (int i = 0; i < d && rc == 1; i++)
        if ((col[i] = header_index(&r, names[i])) < 0) {
            snprintf(reason, size, "line 1: no column for parameter '%s'", names[i]);
            rc = -1;
        }
    cols = r.n_fields;
    while (rc == 1 && (rc = csv_next(&r, reason, size)) == 1) {
        if (r.n_fields != cols) {
            snprintf(reason, size, "line %d: %d fields, the header has %d", r.line, r.n_fields, cols);
            rc = -1;
            break;
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            double *g = realloc(*X, sizeof(double) * (size_t)cap * (size_t)d);
            if (!g) {
                snprintf(reason, size, "out of memory");
                rc = -1;
                break;
            }
            *X = g;
        }
        for (int i = 0; i < d && rc == 1; i++) {
            double *v = &(*X)[(size_t)*n * d + i];
            if (parse_number(r.field[col[i]], v) != 0 || *v < lo[i] || *v > hi[i]) {
                snprintf(reason, size, "line %d: %s '%.40s' is not a number within [%g, %g]", r.line, names[i],
                         r.field[col[i]], lo[i], hi[i]);
                rc = -1;
            }
        }
        if (rc == 1) (*n)++;
    }
    fclose(r.f);
    if (rc != 0) {
        free(*X);
        *X = NULL;
        *n = 0;
    }
    return rc == 0 ? 0 : -1;
}
