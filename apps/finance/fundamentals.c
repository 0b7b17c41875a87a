/* fundamentals.c: fundamental data read from CSV, joined to bars as of each date with a reporting
 * lag, and z-scored across symbols. */
#include "fundamentals.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "csv.h"

#define MAX_FIELDS 64
#define LINE_MAX_BYTES 4096

typedef struct report {
    char symbol[64];
    int day;            /* days since 1970-01-01 */
    double *v;          /* (count) NAN where not reported */
} report;

struct fin_fundamentals {
    int count;
    char field[MAX_FIELDS][48];
    report *r;          /* sorted by symbol, then day */
    int n;
    double *values;     /* the reports' values, n * count */
};

static int by_symbol_day(const void *a, const void *b) {
    const report *x = a, *y = b;
    int c = strcmp(x->symbol, y->symbol);
    return c ? c : (x->day > y->day) - (x->day < y->day);
}

fin_fundamentals *fin_fundamentals_read(const char *path, char *err, size_t err_size) {
    FILE *fp = fopen(path, "r");
    if (!fp) {
        snprintf(err, err_size, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    fin_fundamentals *f = calloc(1, sizeof *f);
    char line[LINE_MAX_BYTES + 2], *fld[MAX_FIELDS + 2];
    int lineno = 1, cap = 0, date_col = -1, sym_col = -1, col[MAX_FIELDS], nf;
    if (!f) goto oom;
    if (!fgets(line, sizeof line, fp) || (nf = fin_csv_split(line, fld, MAX_FIELDS + 2)) < 0) {
        snprintf(err, err_size, "%s: line 1: expected a header date,symbol,<field>... (at most %d fields)", path, MAX_FIELDS);
        goto fail;
    }
    for (int i = 0; i < nf; i++) {
        if (strcasecmp(fld[i], "date") == 0) date_col = i;
        else if (strcasecmp(fld[i], "symbol") == 0) sym_col = i;
        else if (fld[i][0] && strlen(fld[i]) < sizeof f->field[0]) {
            col[f->count] = i;
            snprintf(f->field[f->count++], sizeof f->field[0], "%s", fld[i]);
        } else {
            snprintf(err, err_size, "%s: line 1: empty or over-long column name", path);
            goto fail;
        }
    }
    if (date_col < 0 || sym_col < 0 || f->count == 0) {
        snprintf(err, err_size, "%s: line 1: expected a header date,symbol,<field>...", path);
        goto fail;
    }
    while (fgets(line, sizeof line, fp)) {
        lineno++;
        size_t len = strlen(line);
        if (len > LINE_MAX_BYTES) {
            snprintf(err, err_size, "%s: line %d: longer than %d bytes", path, lineno, LINE_MAX_BYTES);
            goto fail;
        }
        if (line[0] == '\n' || (line[0] == '\r' && line[1] == '\n')) continue;
        nf = fin_csv_split(line, fld, MAX_FIELDS + 2);
        if (nf <= date_col || nf <= sym_col) {
            snprintf(err, err_size, "%s: line %d: too few fields", path, lineno);
            goto fail;
        }
        int day = fin_date_days(fld[date_col]);
        if (day == INT_MIN || !fld[sym_col][0] || strlen(fld[sym_col]) >= sizeof f->r->symbol) {
            snprintf(err, err_size, "%s: line %d: %s", path, lineno, day == INT_MIN ? "invalid date (expected YYYY-MM-DD)" : "bad symbol");
            goto fail;
        }
        if (f->n == cap) {
            cap = cap ? 2 * cap : 256;
            report *r = realloc(f->r, sizeof *r * (size_t)cap);
            double *v = realloc(f->values, sizeof *v * (size_t)cap * (size_t)f->count);
            if (r) f->r = r;
            if (v) f->values = v;
            if (!r || !v) goto oom;
        }
        report *r = &f->r[f->n];
        snprintf(r->symbol, sizeof r->symbol, "%s", fld[sym_col]);
        r->day = day;
        double *v = f->values + (size_t)f->n * f->count;
        for (int k = 0; k < f->count; k++) {
            const char *s = col[k] < nf ? fld[col[k]] : "";
            char *end;
            v[k] = NAN;
            if (!*s) continue;
            errno = 0;
            v[k] = strtod(s, &end);
            if (*end || errno == ERANGE || !isfinite(v[k])) {
                snprintf(err, err_size, "%s: line %d: field '%s' is not a finite number", path, lineno, f->field[k]);
                goto fail;
            }
        }
        f->n++;
    }
    fclose(fp);
    for (int i = 0; i < f->n; i++) f->r[i].v = f->values + (size_t)i * f->count; /* after the last realloc */
    if (f->n > 0) qsort(f->r, (size_t)f->n, sizeof *f->r, by_symbol_day); /* f->r is NULL without rows */
    return f;
oom:
    snprintf(err, err_size, "%s: out of memory", path);
fail:
    fclose(fp);
    fin_fundamentals_free(f);
    return NULL;
}

void fin_fundamentals_free(fin_fundamentals *f) {
    if (!f) return;
    free(f->r);
    free(f->values);
    free(f);
}

int fin_fundamentals_count(const fin_fundamentals *f) { return f ? f->count : 0; }

const char *fin_fundamentals_field(const fin_fundamentals *f, int i) { return f->field[i]; }

void fin_fundamentals_asof(const fin_fundamentals *f, const char *symbol, const char (*dates)[11], int n, int lag_days,
                           double *out) {
    int K = f->count, lo = 0;
    while (lo < f->n && strcmp(f->r[lo].symbol, symbol) < 0) lo++;
    double last[MAX_FIELDS];
    for (int k = 0; k < K; k++) last[k] = NAN;
    int j = lo;
    for (int t = 0; t < n; t++) {
        int cutoff = fin_date_days(dates[t]) - lag_days;
        for (; j < f->n && strcmp(f->r[j].symbol, symbol) == 0 && f->r[j].day <= cutoff; j++)
            for (int k = 0; k < K; k++)
                if (!isnan(f->r[j].v[k])) last[k] = f->r[j].v[k];
        memcpy(out + (size_t)t * K, last, sizeof(double) * (size_t)K);
    }
}

typedef struct {
    const char *date;
    int s, t;
} cell;

static int by_date(const void *a, const void *b) { return strcmp(((const cell *)a)->date, ((const cell *)b)->date); }

void fin_fundamentals_zscore(double **values, const char (**dates)[11], const int *n, int S, int count) {
    size_t total = 0;
    for (int s = 0; s < S; s++) total += (size_t)n[s];
    cell *c = malloc(sizeof *c * (total ? total : 1));
    if (!c) { /* cannot standardise: leave no misleading raw values behind */
        for (int s = 0; s < S; s++)
            for (size_t i = 0; i < (size_t)n[s] * (size_t)count; i++) values[s][i] = NAN;
        return;
    }
    size_t m = 0;
    for (int s = 0; s < S; s++)
        for (int t = 0; t < n[s]; t++) c[m++] = (cell){dates[s][t], s, t};
    qsort(c, m, sizeof *c, by_date);
    for (size_t a = 0; a < m;) {
        size_t b = a;
        while (b < m && strcmp(c[b].date, c[a].date) == 0) b++;
        for (int k = 0; k < count; k++) {
            double sum = 0, sq = 0;
            int cnt = 0;
            for (size_t i = a; i < b; i++) {
                double v = values[c[i].s][(size_t)c[i].t * count + k];
                if (isnan(v)) continue;
                sum += v;
                cnt++;
            }
            double mean = cnt ? sum / cnt : NAN;
            for (size_t i = a; i < b; i++) {
                double v = values[c[i].s][(size_t)c[i].t * count + k];
                if (!isnan(v)) sq += (v - mean) * (v - mean);
            }
            double sd = cnt ? sqrt(sq / cnt) : 0;
            for (size_t i = a; i < b; i++) {
                double *v = &values[c[i].s][(size_t)c[i].t * count + k];
                *v = (cnt < 2 || sd == 0 || isnan(*v)) ? NAN : (*v - mean) / sd;
            }
        }
        a = b;
    }
    free(c);
}
