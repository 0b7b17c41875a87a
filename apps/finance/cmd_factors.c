/* cmd_factors.c: `moe-finance factors`: price CSVs in, factor values out, as CSV and in the
 * results store, one transaction per input file. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "commands.h"
#include "csv.h"
#include "factors.h"
#include "fundamentals.h"
#include "history.h"
#include "moecore/log.h"
#include "moecore/progress.h"

typedef struct {
    fin_bad_rows policy;
    const char *output;
    int store, rebuild, new_only;
    const char *fundamentals;
    int lag;
} factors_opts;

/* Fundamental columns: the z-scores of each field, per symbol (n bars x count), named fz_<field>. */
typedef struct {
    const fin_fundamentals *f;
    int count;
} fund_cols;

static const mc_option options[] = {
    {"output", 'o', "FILE", "write the factors as CSV (date,symbol,<factor>...) to FILE, '-' for stdout", NULL},
    {"store", 0, NULL, "also store the factors in the database (table fin_factors): the days after the last stored", NULL},
    {"bad-rows", 0, "reject|drop", "a bad row rejects its file, or is dropped with a warning", "reject"},
    {"fundamentals", 0, "FILE", "CSV date,symbol,<field>...: each field joined as of each date and z-scored across symbols", NULL},
    {"lag", 0, "DAYS", "reporting lag: a report counts from its date + DAYS calendar days", "0"},
    {"rebuild", 0, NULL, "with --store: rewrite every stored day of each symbol given", NULL},
    {"new-only", 0, NULL, "with --store: the CSV holds only the rows this run stores", NULL},
};

static int on_option(const mc_ctx *ctx, void *user, int index, const char *arg) {
    factors_opts *o = user;
    switch (index) {
    case 0: o->output = arg; return 0;
    case 1: o->store = 1; return 0;
    case 3: o->fundamentals = arg; return 0;
    case 4: {
        long v;
        if (mc_cli_int(ctx, "lag", arg, 0, 3650, &v) != 0) return -1;
        o->lag = (int)v;
        return 0;
    }
    case 5: o->rebuild = 1; return 0;
    case 6: o->new_only = 1; return 0;
    default: return fin_parse_bad_rows(ctx, arg, &o->policy);
    }
}

static void write_header(FILE *out, const fund_cols *fc) {
    fputs("date,symbol", out);
    for (int f = 0; f < fin_factor_count(); f++) fprintf(out, ",%s", fin_factor_name(f));
    for (int k = 0; k < fc->count; k++) fprintf(out, ",fz_%s", fin_fundamentals_field(fc->f, k));
    fputc('\n', out);
}

static void put_value(FILE *out, double x) {
    char buf[40];
    buf[0] = ',';
    int n = isnan(x) ? 0 : fin_format_g10(x, buf + 1);
    fwrite(buf, 1, (size_t)n + 1, out);
}

/* The rows of bars from..n-1; v holds the factors of the bars from v0 on. */
static void write_rows(FILE *out, const fin_prices *p, int from, const double *v, int v0, const double *fz, int K) {
    int nf = fin_factor_count();
    for (int t = from; t < p->n; t++) {
        fprintf(out, "%s,%s", p->date[t], p->symbol);
        for (int f = 0; f < nf; f++) put_value(out, v[(int64_t)(t - v0) * nf + f]);
        for (int k = 0; k < K; k++) put_value(out, fz[(int64_t)t * K + k]);
        fputc('\n', out);
    }
}

/* INSERT INTO fin_factors(symbol, date, run_id, "KMID", ...) VALUES (?1, ?2, ?3, ?4, ...): the column
 * of each factor under its name, in fin_factor_name's order. */
static const char *insert_sql(void) {
    static char sql[8192];
    if (sql[0]) return sql;
    int nf = fin_factor_count(), n = snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO fin_factors(symbol, date, run_id");
    for (int f = 0; f < nf; f++) n += snprintf(sql + n, sizeof sql - (size_t)n, ", \"%s\"", fin_factor_name(f));
    n += snprintf(sql + n, sizeof sql - (size_t)n, ") VALUES (?1, ?2, ?3");
    for (int f = 0; f < nf; f++) n += snprintf(sql + n, sizeof sql - (size_t)n, ", ?%d", f + 4);
    snprintf(sql + n, sizeof sql - (size_t)n, ")");
    return sql;
}

/* --rebuild: the symbol's rows go before all are written again. */
static int delete_rows(mc_store *s, const char *symbol, char *reason, size_t size) {
    static const char *const sql[] = {"DELETE FROM fin_factors WHERE symbol = ?1",
                                      "DELETE FROM fin_factor_fundamentals WHERE symbol = ?1"};
    for (int i = 0; i < 2; i++) {
        sqlite3_stmt *st;
        if (fin_store_prepare(s, sql[i], &st, reason, size) != 0) return -1;
        sqlite3_bind_text(st, 1, symbol, -1, SQLITE_STATIC);
        if (fin_store_step(s, st, reason, size) != 0) return -1;
    }
    return 0;
}

/* Stores one symbol's rows of bars from..n-1 inside the input's transaction (v and fz as for
 * write_rows): one row of fin_factors per bar, NULL while a factor warms up, and the defined
 * fundamental z-scores. Returns 0 or -1 with reason. */
static int store_values(mc_run *run, const fin_prices *p, int from, const double *v, int v0, const double *fz,
                        const fund_cols *fc, char *reason, size_t size) {
    mc_store *s = mc_run_store(run);
    int nf = fin_factor_count(), K = fc->count;
    for (int t = from; t < p->n; t++) {
        sqlite3_stmt *st;
        if (fin_store_prepare(s, insert_sql(), &st, reason, size) != 0) return -1;
        sqlite3_bind_text(st, 1, p->symbol, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, p->date[t], 10, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, mc_run_id(run), -1, SQLITE_STATIC);
        for (int f = 0; f < nf; f++) {
            double x = v[(int64_t)(t - v0) * nf + f];
            if (!isnan(x)) sqlite3_bind_double(st, f + 4, x); /* unbound: NULL */
        }
        if (fin_store_step(s, st, reason, size) != 0) return -1;
        for (int k = 0; k < K; k++) {
            double x = fz[(int64_t)t * K + k];
            if (isnan(x)) continue;
            char name[64];
            snprintf(name, sizeof name, "fz_%.48s", fin_fundamentals_field(fc->f, k));
            if (fin_store_prepare(s, "INSERT OR REPLACE INTO fin_factor_fundamentals(symbol, date, factor, value, run_id)"
                           " VALUES (?1, ?2, ?3, ?4, ?5)", &st, reason, size) != 0)
                return -1;
            sqlite3_bind_text(st, 1, p->symbol, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, p->date[t], 10, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, name, -1, SQLITE_TRANSIENT);
            sqlite3_bind_double(st, 4, x);
            sqlite3_bind_text(st, 5, mc_run_id(run), -1, SQLITE_STATIC);
            if (fin_store_step(s, st, reason, size) != 0) return -1;
        }
    }
    return 0;
}

/* A price file read in the first pass. */
typedef struct {
    const char *path;
    fin_prices *sym;
    int n_sym;
    double **fz; /* per symbol: (n bars, fundamental count) */
} loaded;

enum { MAX_AHEAD = 16 };

/* A symbol computed ahead of its file's transaction: its factor values and, when a CSV is written,
 * its rows. The values' buffer is kept from symbol to symbol: fresh pages for every symbol cost
 * more than its factors. */
typedef struct {
    int file, sym; /* in the loaded files */
    int ok;        /* 0: out of memory */
    double *v;     /* (bars, factor count) */
    size_t v_size; /* values v has room for */
    char *csv;
    size_t csv_len;
} computed;

/* The symbols of all loaded files in input order, computed a few at a time in parallel (the
 * factors and the formatting of their rows are most of the work) ahead of the transactions, which
 * then store and write them in input order on one thread. */
typedef struct {
    const loaded *L;
    int nl, csv;
    const fund_cols *fc;
    computed held[MAX_AHEAD];
    int n_held;
} ahead;

static void compute_one(const ahead *a, computed *c) {
    const fin_prices *p = &a->L[c->file].sym[c->sym];
    fin_series s = {p->n, p->open, p->high, p->low, p->close, p->volume};
    size_t size = (size_t)(p->n ? p->n : 1) * (size_t)fin_factor_count();
    if (size > c->v_size) {
        free(c->v);
        c->v = malloc(sizeof(double) * size);
        c->v_size = c->v ? size : 0;
    }
    c->ok = c->v && fin_factors_compute(&s, c->v) == 0;
    if (c->ok && a->csv) {
        FILE *mem = open_memstream(&c->csv, &c->csv_len);
        if (mem) write_rows(mem, p, 0, c->v, 0, a->L[c->file].fz ? a->L[c->file].fz[c->sym] : NULL, a->fc->count);
        c->ok = mem && fclose(mem) == 0;
    }
}

/* Forgets the symbols held, keeping their value buffers unless all is set. */
static void ahead_clear(ahead *a, int all) {
    for (int k = 0; k < MAX_AHEAD; k++) {
        free(a->held[k].csv);
        a->held[k].csv = NULL;
        if (all) free(a->held[k].v);
    }
    a->n_held = 0;
}

/* Symbol sym of loaded file `file`, computed with the symbols after it unless it was already. */
static const computed *ahead_get(ahead *a, int file, int sym) {
    for (int k = 0; k < a->n_held; k++)
        if (a->held[k].file == file && a->held[k].sym == sym) return &a->held[k];
    ahead_clear(a, 0);
    int want = 2 * omp_get_max_threads() < MAX_AHEAD ? 2 * omp_get_max_threads() : MAX_AHEAD;
    for (int f = file, s = sym; f < a->nl && a->n_held < want; f++, s = 0)
        for (; s < a->L[f].n_sym && a->n_held < want; s++, a->n_held++) {
            a->held[a->n_held].file = f;
            a->held[a->n_held].sym = s;
        }
#pragma omp parallel for schedule(dynamic, 1)
    for (int k = 0; k < a->n_held; k++) compute_one(a, &a->held[k]);
    return &a->held[0];
}

/* One symbol of a file: store and write what was computed. */
typedef struct {
    const factors_opts *o;
    ahead *ahead;
    int file;          /* in the loaded files */
    double *const *fz; /* the file's fundamental columns per symbol, or NULL */
    const fund_cols *fc;
    long bars;         /* of the file so far */
    long stored;       /* days stored of the file so far */
} factors_job;

/* Where the symbol's stored days start (p->n: none; -1 on a database error), under --store. */
static int store_from(const factors_job *j, fin_batch *b, const fin_prices *p, char *reason, size_t size) {
    if (!j->o->store) return p->n;
    mc_store *s = mc_run_store(b->run);
    fin_history_key key = {"factors", p->symbol, "", 0};
    int from, rc = fin_history_start(s, &key, p, j->o->rebuild, &from, reason, size);
    if (rc < 0 || (j->o->rebuild && delete_rows(s, p->symbol, reason, size) != 0)) return -1;
    return rc == FIN_HISTORY_CHANGED ? p->n : from;
}

static int factors_symbol(void *user, fin_batch *b, int index, const fin_prices *p, FILE *rows, char *reason, size_t size) {
    factors_job *j = user;
    const computed *c = ahead_get(j->ahead, j->file, index);
    if (!c->ok) {
        snprintf(reason, size, "out of memory");
        return -1;
    }
    int from = store_from(j, b, p, reason, size), rc = 0;
    if (from < 0) return -1;
    const double *fzi = j->fz ? j->fz[index] : NULL;
    if (from < p->n) {
        fin_history_key key = {"factors", p->symbol, "", 0};
        rc = store_values(b->run, p, from, c->v, 0, fzi, j->fc, reason, size);
        if (rc == 0) rc = fin_history_save(mc_run_store(b->run), &key, p, mc_run_id(b->run), reason, size);
        if (rc == 0) j->stored += p->n - from;
    }
    /* the CSV: every row, formatted ahead, or with --new-only the rows stored */
    if (rc == 0 && rows) {
        if (j->o->new_only) write_rows(rows, p, from, c->v, 0, fzi, j->fc->count);
        else fwrite(c->csv, 1, c->csv_len, rows);
    }
    j->bars += p->n;
    return rc;
}

/* The line (or JSON object) of a file done; with --store, the days it stored too. */
static void print_summary(const mc_ctx *ctx, const char *path, const fin_prices *sym, int n_sym, const factors_job *j,
                          int factors) {
    if (ctx->json) {
        json_t *syms = json_array();
        for (int i = 0; i < n_sym; i++) json_array_append_new(syms, json_string(sym[i].symbol));
        json_t *o = json_pack("{s:s, s:o, s:I, s:i}", "input", path, "symbols", syms, "bars", (json_int_t)j->bars,
                              "factors", factors);
        if (j->o->store) json_object_set_new(o, "stored_days", json_integer(j->stored));
        mc_cli_print_json(o);
    } else if (j->o->store) {
        printf("%s\t%d symbol%s\t%ld bars\t%ld day%s stored\n", path, n_sym, n_sym == 1 ? "" : "s", j->bars, j->stored,
               j->stored == 1 ? "" : "s");
    } else {
        printf("%s\t%d symbol%s\t%ld bars\n", path, n_sym, n_sym == 1 ? "" : "s", j->bars);
    }
}

/* Joins the fundamentals to every loaded symbol and z-scores them across all of them. */
static int fundamentals_for(loaded *L, int nl, const fund_cols *fc, int lag) {
    int S = 0;
    for (int i = 0; i < nl; i++) S += L[i].n_sym;
    double **vals = calloc((size_t)S + 1, sizeof *vals);
    const char(**dates)[11] = calloc((size_t)S + 1, sizeof *dates);
    int *n = calloc((size_t)S + 1, sizeof *n), k = 0, rc = vals && dates && n ? 0 : -1;
    for (int i = 0; i < nl && rc == 0; i++) {
        if (!(L[i].fz = calloc((size_t)L[i].n_sym, sizeof *L[i].fz))) rc = -1;
        for (int s = 0; s < L[i].n_sym && rc == 0; s++, k++) {
            const fin_prices *p = &L[i].sym[s];
            if (!(L[i].fz[s] = malloc(sizeof(double) * (size_t)(p->n ? p->n : 1) * (size_t)fc->count))) {
                rc = -1;
                break;
            }
            fin_fundamentals_asof(fc->f, p->symbol, (const char(*)[11])p->date, p->n, lag, L[i].fz[s]);
            vals[k] = L[i].fz[s];
            dates[k] = (const char(*)[11])p->date;
            n[k] = p->n;
        }
    }
    if (rc == 0) fin_fundamentals_zscore(vals, dates, n, S, fc->count);
    free(vals);
    free(dates);
    free(n);
    return rc;
}

int fin_cmd_factors(mc_ctx *ctx, int argc, char **argv) {
    static const mc_cli_spec spec = {
        .usage = "[options] PRICES...",
        .description = "Computes every factor (the Qlib Alpha158 family and TTR-compatible indicators; docs/finance.md)\n"
                       "for each symbol of the price files given, or of the .csv files under the folders given.\n"
                       "A price file holds date,open,high,low,close,volume (symbol = file name) or also a symbol column.",
        .options = options,
        .n_options = 7,
        .min_args = 1,
        .max_args = -1,
    };
    factors_opts o = {.policy = FIN_BAD_ROWS_REJECT};
    int code;
    int first = mc_cli_parse(ctx, &spec, argc, argv, on_option, &o, &code);
    if (first < 0) return code;
    if ((o.rebuild || o.new_only) && !o.store) {
        mc_cli_usage_error(ctx, "--%s goes with --store", o.rebuild ? "rebuild" : "new-only");
        return MC_EXIT_USAGE;
    }
    fin_batch b;
    if (fin_batch_begin(&b, ctx, argv + first, argc - first, o.store, o.output) != 0) return MC_EXIT_FAILURE;
    fin_fundamentals *fund = NULL;
    if (b.failure == MC_OK && o.fundamentals) {
        char ferr[600];
        if (!(fund = fin_fundamentals_read(o.fundamentals, ferr, sizeof ferr))) {
            mc_log_error("%s", ferr);
            b.failure = MC_ERR_FORMAT;
        }
    }
    fund_cols fc = {fund, fin_fundamentals_count(fund)};
    if (b.csv) write_header(b.csv, &fc);
    /* first pass: read every file (fundamentals are standardised across all symbols), then one
     * transaction per file */
    loaded *L = calloc((size_t)b.in.n + 1, sizeof *L);
    int nl = 0;
    if (!L) b.failure = MC_ERR_NOMEM;
    for (int i = 0; i < b.in.n && b.failure == MC_OK; i++)
        if (fin_batch_read(&b, i, o.policy, &L[nl].sym, &L[nl].n_sym) == 0) L[nl++].path = b.in.paths[i];
    if (b.failure == MC_OK && fc.count > 0 && fundamentals_for(L, nl, &fc, o.lag) != 0) b.failure = MC_ERR_NOMEM;
    mc_progress *bar = mc_progress_start("factors", nl);
    ahead ah = {.L = L, .nl = nl, .csv = b.csv != NULL && !o.new_only, .fc = &fc};
    for (int i = 0; i < nl && b.failure == MC_OK; i++) {
        factors_job job = {&o, &ah, i, L[i].fz, &fc, 0, 0};
        if (fin_batch_file(&b, L[i].path, L[i].sym, L[i].n_sym, o.store, factors_symbol, &job) == 0 && b.csv != stdout)
            print_summary(ctx, L[i].path, L[i].sym, L[i].n_sym, &job, fin_factor_count() + fc.count);
        mc_progress_add(bar, 1);
    }
    mc_progress_finish(bar);
    ahead_clear(&ah, 1);
    for (int i = 0; i < nl; i++) {
        for (int s = 0; L[i].fz && s < L[i].n_sym; s++) free(L[i].fz[s]);
        free(L[i].fz);
        fin_prices_free(L[i].sym, L[i].n_sym);
    }
    free(L);
    fin_fundamentals_free(fund);
    return fin_batch_end(&b);
}
