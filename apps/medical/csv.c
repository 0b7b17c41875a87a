/* csv.c: the CSV record reader that moe-medical's tables share (clinical data, LUNA16 files), and
 * the check for a key listed twice. */
#include "csv.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

mc_status med_csv_open(med_csv *c, const char *path, mc_error *err) {
    memset(c, 0, sizeof *c);
    c->path = path;
    c->next_line = 1;
    c->buf = malloc(MED_CSV_MAX_RECORD + 1);
    c->field = malloc(sizeof(char *) * MED_CSV_MAX_FIELDS);
    if (!c->buf || !c->field) {
        med_csv_close(c);
        return mc_error_set(err, MC_ERR_NOMEM, "%s: out of memory", path);
    }
    c->f = fopen(path, "rb");
    if (!c->f) {
        mc_status s = mc_error_set(err, MC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        med_csv_close(c);
        return s;
    }
    return MC_OK;
}

void med_csv_close(med_csv *c) {
    if (c->f) fclose(c->f);
    free(c->buf);
    free(c->field);
    memset(c, 0, sizeof *c);
}

/* Removes the spaces around an unquoted field that starts at buf + start and ends at buf + *len. */
static void trim_field(char *buf, size_t start, size_t *len) {
    while (*len > start && (buf[*len - 1] == ' ' || buf[*len - 1] == '\t')) (*len)--;
}

/* Ends the field that starts at c->buf + start and ends at c->buf + *len: trims it unless it was
 * quoted, terminates it and adds it to the record. Returns -1 with err when the record already has
 * MED_CSV_MAX_FIELDS fields. */
static int end_field(med_csv *c, size_t start, size_t *len, int was_quoted, mc_error *err) {
    if (!was_quoted) trim_field(c->buf, start, len);
    if (c->n >= MED_CSV_MAX_FIELDS) {
        mc_error_set(err, MC_ERR_FORMAT, "%s: line %ld: more than %d fields", c->path, c->line, MED_CSV_MAX_FIELDS);
        return -1;
    }
    c->buf[*len] = '\0';
    c->field[c->n++] = c->buf + start;
    return 0;
}

int med_csv_next(med_csv *c, mc_error *err) {
    for (;;) {
        c->line = c->next_line;
        c->n = 0;
        size_t len = 0, start = 0;
        int quoted = 0, was_quoted = 0, at_start = 1, ch, any = 0;
        for (;;) {
            ch = getc_unlocked(c->f);
            if (ch == EOF) {
                if (ferror(c->f)) {
                    mc_error_set(err, MC_ERR_IO, "%s: line %ld: read error", c->path, c->line);
                    return -1;
                }
                if (quoted) {
                    mc_error_set(err, MC_ERR_FORMAT, "%s: line %ld: unterminated quoted field", c->path, c->line);
                    return -1;
                }
                if (!any) return 0;
                break;
            }
            any = 1;
            if (ch == 0) {
                mc_error_set(err, MC_ERR_FORMAT, "%s: line %ld: binary data (a NUL byte), not a CSV file", c->path,
                             c->next_line);
                return -1;
            }
            if (ch == '\n') c->next_line++;
            if (quoted) {
                if (ch == '"') {
                    int next = getc_unlocked(c->f);
                    if (next == '"') {
                        ch = '"';
                    } else {
                        if (next != EOF) ungetc(next, c->f);
                        quoted = 0;
                        continue;
                    }
                }
            } else if (ch == '"' && at_start) {
                quoted = was_quoted = 1;
                at_start = 0;
                continue;
            } else if (ch == ',' || ch == '\n') {
                if (end_field(c, start, &len, was_quoted, err) != 0) return -1;
                start = ++len;
                at_start = 1;
                was_quoted = 0;
                if (ch == '\n') break;
                continue;
            } else if (ch == '\r') {
                continue;
            } else if ((at_start || was_quoted) && (ch == ' ' || ch == '\t')) {
                continue; /* spaces before a field or after its closing quote */
            }
            at_start = 0;
            if (len >= MED_CSV_MAX_RECORD - 1) {
                mc_error_set(err, MC_ERR_FORMAT, "%s: line %ld: record longer than %d bytes", c->path, c->line,
                             MED_CSV_MAX_RECORD);
                return -1;
            }
            c->buf[len++] = (char)ch;
        }
        if (ch == EOF && end_field(c, start, &len, was_quoted, err) != 0) return -1; /* the last record had no newline */
        if (c->n == 1 && c->field[0][0] == '\0') {
            if (ch == EOF) return 0;
            continue; /* a blank line */
        }
        return 1;
    }
}

int med_csv_find(const med_csv *c, const char *name) {
    for (int i = 0; i < c->n; i++)
        if (strcasecmp(c->field[i], name) == 0) return i;
    return -1;
}

/* Keys by string, then by address: the records' order among equal keys. */
static int cmp_key(const void *a, const void *b) {
    const char *const *x = *(const char *const *const *)a, *const *y = *(const char *const *const *)b;
    int c = strcmp(*x, *y);
    return c ? c : (x > y) - (x < y);
}

int med_csv_repeated(const void *base, int n, size_t size, size_t offset, int *first, int *again) {
    if (n < 2) return 0;
    const char *const **key = malloc(sizeof *key * (size_t)n);
    if (!key) return -1;
    for (int i = 0; i < n; i++) key[i] = (const char *const *)((const char *)base + (size_t)i * size + offset);
    qsort(key, (size_t)n, sizeof *key, cmp_key);
    int found = 0;
    for (int i = 1; i < n && !found; i++) {
        if (strcmp(*key[i - 1], *key[i]) != 0) continue;
        *first = (int)(((const char *)key[i - 1] - (const char *)base) / size);
        *again = (int)(((const char *)key[i] - (const char *)base) / size);
        found = 1;
    }
    free(key);
    return found;
}

int med_csv_real(const char *s, double *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !isfinite(v)) return -1;
    *out = v;
    return 0;
}
