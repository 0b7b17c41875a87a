/* history.c: the stored bars of each series (fin_store_state), one 8-byte entry per bar: its day
 * number and a 32-bit hash of its date and prices, both little-endian. The entries, not just one
 * hash of them all, so that a changed past is named by its first differing date. */
#include "history.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch.h"
#include "csv.h"
#include "moecore/log.h"

enum { ENTRY = 8 };

/* FNV-1a over the date and the bit patterns of the five numbers (as parsed, so the same text gives
 * the same bits), folded to 32 bits: a changed bar goes unnoticed once in 4 billion. */
static uint32_t bar_hash(const fin_prices *p, int t) {
    uint64_t h = 0xcbf29ce484222325u;
    for (int i = 0; i < 10; i++) h = (h ^ (unsigned char)p->date[t][i]) * 0x100000001b3u;
    const double x[5] = {p->open[t], p->high[t], p->low[t], p->close[t], p->volume[t]};
    for (int k = 0; k < 5; k++) {
        uint64_t bits;
        memcpy(&bits, &x[k], sizeof bits);
        for (int i = 0; i < 8; i++) h = (h ^ ((bits >> (8 * i)) & 0xff)) * 0x100000001b3u;
    }
    return (uint32_t)(h ^ (h >> 32));
}

static void put32(unsigned char *b, uint32_t v) {
    for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *b) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void entry(const fin_prices *p, int t, unsigned char *e) {
    put32(e, (uint32_t)fin_date_days(p->date[t]));
    put32(e + 4, bar_hash(p, t));
}

/* "YYYY-MM-DD" of a day number. */
static void day_date(int days, char out[11]) {
    time_t secs = (time_t)days * 86400;
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

/* The series in words: "GBMA", or "GBMA (forecasts of m.safetensors, 5-day)". */
static void label(const fin_history_key *k, char *out, size_t size) {
    if (k->model[0])
        snprintf(out, size, "%s (forecasts of %s, %d-day)", k->symbol, k->model, k->horizon);
    else
        snprintf(out, size, "%s", k->symbol);
}

static void bind_key(sqlite3_stmt *st, const fin_history_key *k) {
    sqlite3_bind_text(st, 1, k->command, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, k->symbol, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, k->model, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, k->horizon);
}

/* Compares p's bars up to the stored ones' last day with them: *from as fin_history_start. */
static int compare(const fin_history_key *k, const fin_prices *p, const unsigned char *stored, int m, int *from) {
    int last = (int)get32(stored + (size_t)(m - 1) * ENTRY), upto = 0;
    while (upto < p->n && fin_date_days(p->date[upto]) <= last) upto++;
    char what[160], date[11];
    label(k, what, sizeof what);
    day_date(last, date);
    if (upto == p->n && fin_date_days(p->date[p->n - 1]) < last) {
        mc_log_warn("%s: the file ends on %s, before %s, the last day stored: nothing stored; give --rebuild to "
                    "rewrite its rows", what, p->date[p->n - 1], date);
        return FIN_HISTORY_CHANGED;
    }
    int i = 0;
    for (unsigned char e[ENTRY]; i < upto && i < m; i++) {
        entry(p, i, e);
        if (memcmp(e, stored + (size_t)i * ENTRY, ENTRY) != 0) break;
    }
    if (i == upto && i == m) {
        *from = upto;
        return FIN_HISTORY_NEW;
    }
    /* the first day that differs: a changed or added bar of the file's, or a stored one it lacks */
    int day = i < upto ? fin_date_days(p->date[i]) : last;
    if (i < m && (int)get32(stored + (size_t)i * ENTRY) < day) day = (int)get32(stored + (size_t)i * ENTRY);
    char first[11];
    day_date(day, first);
    mc_log_warn("%s: the bars stored up to %s differ from the file's from %s on: nothing stored; give --rebuild to "
                "rewrite its rows", what, date, first);
    return FIN_HISTORY_CHANGED;
}

int fin_history_start(mc_store *s, const fin_history_key *k, const fin_prices *p, int rebuild, int *from, char *reason,
                      size_t size) {
    *from = 0;
    if (rebuild || p->n == 0) return FIN_HISTORY_NEW;
    sqlite3_stmt *st;
    if (fin_store_prepare(s, "SELECT bars FROM fin_store_state WHERE command = ?1 AND symbol = ?2 AND model = ?3 AND horizon = ?4",
                          &st, reason, size) != 0)
        return -1;
    bind_key(st, k);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) return FIN_HISTORY_NEW;
    if (rc != SQLITE_ROW) {
        snprintf(reason, size, "database: %s", sqlite3_errmsg(mc_store_db(s)));
        return -1;
    }
    int m = sqlite3_column_bytes(st, 0) / ENTRY;
    const unsigned char *stored = sqlite3_column_blob(st, 0);
    return m > 0 ? compare(k, p, stored, m, from) : FIN_HISTORY_NEW;
}

int fin_history_save(mc_store *s, const fin_history_key *k, const fin_prices *p, const char *run_id, char *reason,
                     size_t size) {
    if (p->n == 0) return 0;
    unsigned char *bars = malloc((size_t)p->n * ENTRY);
    if (!bars) {
        snprintf(reason, size, "out of memory");
        return -1;
    }
    for (int t = 0; t < p->n; t++) entry(p, t, bars + (size_t)t * ENTRY);
    sqlite3_stmt *st;
    int rc = fin_store_prepare(s, "INSERT INTO fin_store_state(command, symbol, model, horizon, last_date, bars, run_id)"
                                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(command, symbol, model, horizon)"
                                  " DO UPDATE SET last_date = excluded.last_date, bars = excluded.bars, run_id = excluded.run_id",
                               &st, reason, size);
    if (rc == 0) {
        bind_key(st, k);
        sqlite3_bind_text(st, 5, p->date[p->n - 1], 10, SQLITE_STATIC);
        sqlite3_bind_blob(st, 6, bars, p->n * ENTRY, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, run_id, -1, SQLITE_STATIC);
        rc = fin_store_step(s, st, reason, size);
    }
    free(bars);
    return rc;
}
