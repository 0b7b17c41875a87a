/* prices.c: reading and validating daily price bars from CSV. */
#include "prices.h"

#include "csv.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LINE_MAX_BYTES 4096
#define MAX_FIELDS 64

enum { COL_DATE, COL_OPEN, COL_HIGH, COL_LOW, COL_CLOSE, COL_VOLUME, COL_SYMBOL, N_COLS };
static const char *const col_names[N_COLS] = {"date", "open", "high", "low", "close", "volume", "symbol"};

/* A plain decimal (digits with at most one point, at most 15 digits) read without strtod, which
 * takes half the time of reading prices: its digits as an integer (below 2^53) and the power of ten
 * (at most 1e15) are exact doubles, so that their quotient is correctly rounded, strtod's value.
 * Returns 0 for any other form. */
static int parse_plain(const char *s, double *v) {
    static const double pow10[16] = {1,    1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    int64_t m = 0;
    int digits = 0, frac = -1;
    for (const char *p = s; *p; p++) {
        if (*p >= '0' && *p <= '9') {
            if (++digits > 15) return 0;
            m = m * 10 + (*p - '0');
            frac += frac >= 0;
        } else if (*p == '.' && frac < 0) {
            frac = 0;
        } else {
            return 0;
        }
    }
    if (digits == 0) return 0;
    *v = (double)m / pow10[frac > 0 ? frac : 0];
    return 1;
}

static int parse_number(const char *s, double *v) {
    if (parse_plain(s, v)) return 1;
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return *s != '\0' && *end == '\0' && errno != ERANGE && isfinite(*v);
}

static fin_prices *symbol_slot(fin_prices **list, int *n, const char *symbol) {
    for (int i = 0; i < *n; i++)
        if (strcmp((*list)[i].symbol, symbol) == 0) return &(*list)[i];
    fin_prices *grown = realloc(*list, sizeof **list * (size_t)(*n + 1));
    if (!grown) return NULL;
    *list = grown;
    fin_prices *p = &grown[(*n)++];
    memset(p, 0, sizeof *p);
    snprintf(p->symbol, sizeof p->symbol, "%s", symbol);
    return p;
}

static int append(fin_prices *p, const char *date, const double v[5]) {
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 256;
        void *d = realloc(p->date, sizeof *p->date * (size_t)cap);
        if (!d) return -1;
        p->date = d;
        double **cols[5] = {&p->open, &p->high, &p->low, &p->close, &p->volume};
        for (int k = 0; k < 5; k++) {
            double *c = realloc(*cols[k], sizeof(double) * (size_t)cap);
            if (!c) return -1;
            *cols[k] = c;
        }
        p->cap = cap;
    }
    memcpy(p->date[p->n], date, 11);
    p->open[p->n] = v[0];
    p->high[p->n] = v[1];
    p->low[p->n] = v[2];
    p->close[p->n] = v[3];
    p->volume[p->n] = v[4];
    p->n++;
    return 0;
}

/* The symbol of a one-symbol file: its base name without the extension, upper case. */
static void symbol_from_path(const char *path, char *out, size_t size) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strcspn(base, ".");
    if (n >= size) n = size - 1;
    for (size_t i = 0; i < n; i++) out[i] = (char)toupper((unsigned char)base[i]);
    out[n] = '\0';
}

/* Checks one row; returns NULL or the problem. */
static const char *check_row(char **f, const int *col, int nf, double v[5], const fin_prices *p) {
    for (int c = 0; c < COL_SYMBOL; c++)
        if (col[c] >= nf) return "too few fields";
    const char *date = f[col[COL_DATE]];
    if (fin_date_days(date) == INT_MIN) return "invalid date (expected YYYY-MM-DD)";
    for (int k = 0; k < 5; k++)
        if (!parse_number(f[col[COL_OPEN + k]], &v[k])) return k == 4 ? "volume is not a number" : "a price is not a number";
    if (v[0] <= 0 || v[1] <= 0 || v[2] <= 0 || v[3] <= 0) return "non-positive price";
    if (v[1] < v[2]) return "high < low";
    if (v[1] < v[0] || v[1] < v[3]) return "high below open or close";
    if (v[2] > v[0] || v[2] > v[3]) return "low above open or close";
    if (v[4] < 0) return "negative volume";
    if (p && p->n > 0) {
        int cmp = strcmp(date, p->date[p->n - 1]);
        if (cmp == 0) return "duplicate date";
        if (cmp < 0) return "date before the previous row (unsorted)";
    }
    return NULL;
}

int fin_prices_read(const char *path, fin_bad_rows policy, fin_row_warning warn, void *user, fin_prices **out,
                    int *n_out, char *err, size_t err_size) {
    *out = NULL;
    *n_out = 0;
    FILE *fp = fopen(path, "r");
    if (!fp) {
        snprintf(err, err_size, "cannot open: %s", strerror(errno));
        return -1;
    }
    char line[LINE_MAX_BYTES + 2], *f[MAX_FIELDS];
    int col[N_COLS], lineno = 0, rc = -1;
    fin_prices *list = NULL;
    int n = 0;
    char file_symbol[64];
    symbol_from_path(path, file_symbol, sizeof file_symbol);

    if (!fgets(line, sizeof line, fp)) {
        snprintf(err, err_size, "empty file (expected a header: date,open,high,low,close,volume)");
        goto done;
    }
    lineno = 1;
    if (strlen(line) > LINE_MAX_BYTES) {
        snprintf(err, err_size, "line 1: header longer than %d bytes", LINE_MAX_BYTES);
        goto done;
    }
    int nf = fin_csv_split(line, f, MAX_FIELDS);
    for (int c = 0; c < N_COLS; c++) col[c] = MAX_FIELDS;
    for (int i = 0; i < nf; i++)
        for (int c = 0; c < N_COLS; c++)
            if (strcasecmp(f[i], col_names[c]) == 0) col[c] = i;
    for (int c = 0; c < COL_SYMBOL; c++) {
        if (col[c] == MAX_FIELDS) {
            snprintf(err, err_size, "line 1: header has no '%s' column (expected date,open,high,low,close,volume[,symbol])", col_names[c]);
            goto done;
        }
    }
    int has_symbol = col[COL_SYMBOL] != MAX_FIELDS;
    int dropped = 0;
    while (fgets(line, sizeof line, fp)) {
        lineno++;
        size_t len = strlen(line);
        if (len > LINE_MAX_BYTES || (len == sizeof line - 1 && line[len - 1] != '\n')) {
            snprintf(err, err_size, "line %d: longer than %d bytes", lineno, LINE_MAX_BYTES);
            goto done;
        }
        if (line[0] == '\n' || (line[0] == '\r' && line[1] == '\n')) continue;
        nf = fin_csv_split(line, f, MAX_FIELDS);
        const char *sym = file_symbol;
        if (has_symbol) sym = col[COL_SYMBOL] < nf && f[col[COL_SYMBOL]][0] ? f[col[COL_SYMBOL]] : NULL;
        fin_prices *p = NULL;
        const char *problem = NULL;
        double v[5];
        if (nf < 0) {
            problem = "too many fields";
        } else if (!sym) {
            problem = "empty symbol";
        } else if (strlen(sym) >= sizeof list->symbol) {
            problem = "symbol longer than 63 characters";
        } else {
            for (int i = 0; i < n; i++)
                if (strcmp(list[i].symbol, sym) == 0) p = &list[i];
            problem = check_row(f, col, nf, v, p);
        }
        if (problem) {
            if (policy == FIN_BAD_ROWS_REJECT) {
                snprintf(err, err_size, "line %d: %s", lineno, problem);
                goto done;
            }
            char msg[160];
            snprintf(msg, sizeof msg, "line %d: %s (row dropped)", lineno, problem);
            if (warn) warn(user, path, msg);
            dropped++;
            continue;
        }
        if (!p && !(p = symbol_slot(&list, &n, sym))) {
            snprintf(err, err_size, "out of memory");
            goto done;
        }
        if (append(p, f[col[COL_DATE]], v) != 0) {
            snprintf(err, err_size, "out of memory");
            goto done;
        }
    }
    if (ferror(fp)) {
        snprintf(err, err_size, "read error: %s", strerror(errno));
        goto done;
    }
    if (n == 0) {
        if (dropped)
            snprintf(err, err_size, "no valid rows (%d dropped)", dropped);
        else
            snprintf(err, err_size, "no rows after the header");
        goto done;
    }
    rc = 0;
done:
    fclose(fp);
    if (rc != 0) {
        fin_prices_free(list, n);
        return -1;
    }
    *out = list;
    *n_out = n;
    return 0;
}

void fin_prices_free(fin_prices *p, int n) {
    if (!p) return;
    for (int i = 0; i < n; i++) {
        free(p[i].date);
        free(p[i].open);
        free(p[i].high);
        free(p[i].low);
        free(p[i].close);
        free(p[i].volume);
    }
    free(p);
}
