/* regime_cache.c: regime fits kept across runs (regime_cache.h). The model is stored as JSON with
 * every number written to 17 significant digits, so a fit read back is the fit that was stored. */
#include "regime_cache.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "moecore/log.h"
#include "moecore/store.h"

uint64_t fin_regime_hash(uint64_t h, const double *x, int n) {
    const unsigned char *b = (const unsigned char *)x;
    for (size_t i = 0; i < sizeof(double) * (size_t)(n > 0 ? n : 0); i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static void bind_key(sqlite3_stmt *st, const fin_regime_fit_key *k) {
    sqlite3_bind_text(st, 1, k->symbol, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, k->returns);
    sqlite3_bind_int(st, 3, k->states);
    sqlite3_bind_int(st, 4, k->min_days);
    sqlite3_bind_int(st, 5, k->restarts);
    sqlite3_bind_int64(st, 6, (sqlite3_int64)k->seed);
}

/* The n numbers of array a into out; 0, or -1 when a is not an array of n numbers. */
static int read_array(json_t *a, double *out, size_t n) {
    if (!json_is_array(a) || json_array_size(a) != n) return -1;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_number(v)) return -1;
        out[i] = json_number_value(v);
    }
    return 0;
}

static json_t *array_of(const double *x, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, json_real(x[i]));
    return a;
}

int fin_regime_cache_get(mc_run *run, const fin_regime_fit_key *key, fin_hmm *m) {
    mc_store *s = mc_run_store(run);
    sqlite3_stmt *st;
    memset(m, 0, sizeof *m);
    if (!s || mc_store_stmt(s, "SELECT data_hash, model FROM fin_regime_fits WHERE symbol = ?1 AND returns = ?2 AND states = ?3"
                               " AND min_days = ?4 AND restarts = ?5 AND seed = ?6", &st) != MC_OK)
        return 0;
    bind_key(st, key);
    if (sqlite3_step(st) != SQLITE_ROW || (uint64_t)sqlite3_column_int64(st, 0) != key->hash) {
        sqlite3_reset(st);
        return 0;
    }
    json_t *j = json_loads((const char *)sqlite3_column_text(st, 1), 0, NULL);
    sqlite3_reset(st);
    size_t K = (size_t)key->states;
    int ok = j != NULL;
    if (ok) {
        m->K = key->states;
        m->D = 1;
        m->T = key->returns;
        m->pi = malloc(sizeof(double) * K);
        m->A = malloc(sizeof(double) * K * K);
        m->mu = malloc(sizeof(double) * K);
        m->cov = malloc(sizeof(double) * K);
        ok = m->pi && m->A && m->mu && m->cov && read_array(json_object_get(j, "pi"), m->pi, K) == 0 &&
             read_array(json_object_get(j, "A"), m->A, K * K) == 0 && read_array(json_object_get(j, "mean"), m->mu, K) == 0 &&
             read_array(json_object_get(j, "var"), m->cov, K) == 0 && json_is_number(json_object_get(j, "loglik"));
        if (ok) {
            m->loglik = json_number_value(json_object_get(j, "loglik"));
            m->iterations = (int)json_integer_value(json_object_get(j, "iterations"));
        }
    }
    json_decref(j);
    if (!ok) {
        fin_hmm_free(m);
        memset(m, 0, sizeof *m);
    }
    return ok;
}

void fin_regime_cache_put(mc_run *run, const fin_regime_fit_key *key, const fin_hmm *m) {
    mc_store *s = mc_run_store(run);
    sqlite3_stmt *st;
    if (!s || m->D != 1) return;
    size_t K = (size_t)m->K;
    json_t *j = json_pack("{s:o, s:o, s:o, s:o, s:f, s:i}", "pi", array_of(m->pi, K), "A", array_of(m->A, K * K), "mean",
                          array_of(m->mu, K), "var", array_of(m->cov, K), "loglik", m->loglik, "iterations", m->iterations);
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(j);
    if (!text || mc_store_stmt(s, "INSERT INTO fin_regime_fits(symbol, returns, states, min_days, restarts, seed, data_hash, model, run_id)"
                                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO UPDATE SET data_hash = excluded.data_hash,"
                                  " model = excluded.model, run_id = excluded.run_id", &st) != MC_OK) {
        free(text);
        mc_log_warn("%s: the regime fit on %d returns is not kept: %s", key->symbol, key->returns, mc_store_error(s)->msg);
        return;
    }
    bind_key(st, key);
    sqlite3_bind_int64(st, 7, (sqlite3_int64)key->hash);
    sqlite3_bind_text(st, 8, text, -1, free);
    sqlite3_bind_text(st, 9, mc_run_id(run), -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        mc_log_warn("%s: the regime fit on %d returns is not kept: %s", key->symbol, key->returns, sqlite3_errmsg(mc_store_db(s)));
    sqlite3_reset(st);
}
