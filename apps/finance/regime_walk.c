/* regime_walk.c: walk-forward regime probabilities (regime_walk.h). */
#include "regime_walk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regime_cache.h"

void fin_regime_walk_default(fin_regime_walk *w) {
    *w = (fin_regime_walk){.states = 2, .first = 252, .refit = 252, .restarts = 2, .min_days = 20, .seed = 42};
}

void fin_regime_walk_hmm_options(const fin_regime_walk *w, fin_hmm_options *o) {
    fin_hmm_options_default(o);
    o->K = w->states;
    o->restarts = w->restarts;
    o->seed = w->seed;
    o->min_stay = 1.0 - 1.0 / w->min_days;
}

void fin_regime_mass(const double *p, int K, const char *const *label, double *bull, double *bear) {
    *bull = *bear = 0;
    for (int k = 0; k < K; k++) {
        if (strcmp(label[k], "bull") == 0) *bull += p[k];
        else if (strcmp(label[k], "bear") == 0) *bear += p[k];
    }
}

void fin_regime_detail_free(fin_regime_detail *d) {
    if (!d) return;
    free(d->state);
    free(d->p_state);
    free(d->label);
    fin_hmm_free(&d->last);
    memset(d, 0, sizeof *d);
}

/* Renumbers m's states so that state k becomes perm[k]. */
static void renumber(fin_hmm *m, const int *perm) {
    int K = m->K, D = m->D;
    fin_hmm c = {.K = K, .D = D};
    c.pi = malloc(sizeof(double) * (size_t)K);
    c.A = malloc(sizeof(double) * (size_t)K * K);
    c.mu = malloc(sizeof(double) * (size_t)K * D);
    c.cov = malloc(sizeof(double) * (size_t)K * D * D);
    if (!c.pi || !c.A || !c.mu || !c.cov) {
        fin_hmm_free(&c);
        return; /* out of memory: the numbering stays, the labels are still right */
    }
    for (int k = 0; k < K; k++) {
        int j = perm[k];
        c.pi[j] = m->pi[k];
        for (int l = 0; l < K; l++) c.A[j * K + perm[l]] = m->A[k * K + l];
        memcpy(c.mu + (size_t)j * D, m->mu + (size_t)k * D, sizeof(double) * D);
        memcpy(c.cov + (size_t)j * D * D, m->cov + (size_t)k * D * D, sizeof(double) * D * D);
    }
    memcpy(m->pi, c.pi, sizeof(double) * K);
    memcpy(m->A, c.A, sizeof(double) * K * K);
    memcpy(m->mu, c.mu, sizeof(double) * K * D);
    memcpy(m->cov, c.cov, sizeof(double) * K * D * D);
    fin_hmm_free(&c);
}

/* Labels of a new fit m, with m's states renumbered to continue those of prev (when there is one),
 * so that a state keeps its number across refits and its label changes only when its own drift
 * and risk do (fin_hmm_label). */
static void label_fit(fin_hmm *m, const fin_hmm *prev, const char **label) {
    int perm[8];
    if (prev && fin_hmm_match(prev, m, perm) == 0) renumber(m, perm);
    fin_hmm_label(m, label);
}

int fin_regime_walk_run(const fin_regime_walk *w, const fin_prices *p, double *p_bull, double *p_bear,
                        fin_regime_detail *detail, char *err, size_t err_size) {
    int n = p->n;
    for (int t = 0; t < n; t++) p_bull[t] = p_bear[t] = NAN;
    if (detail) {
        memset(detail, 0, sizeof *detail);
        detail->state = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
        detail->p_state = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
        detail->label = calloc((size_t)(n > 0 ? n : 1), sizeof *detail->label);
        if (!detail->state || !detail->p_state || !detail->label) {
            snprintf(err, err_size, "out of memory");
            return -1;
        }
        for (int t = 0; t < n; t++) {
            detail->state[t] = -1;
            detail->p_state[t] = NAN;
        }
    }
    if (n - 1 < w->first) {
        snprintf(err, err_size, "%s: %d returns, the regime model needs %d before its first fit", p->symbol, n > 0 ? n - 1 : 0,
                 w->first);
        return -1;
    }
    double *x = malloc(sizeof(double) * (size_t)n), *alpha = malloc(sizeof(double) * (size_t)n * (size_t)w->states);
    if (!x || !alpha) {
        free(x);
        free(alpha);
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    /* x[i] is the return into bar i + 1 */
    for (int i = 0; i + 1 < n; i++) x[i] = 100.0 * log(p->close[i + 1] / p->close[i]);
    fin_hmm_options o;
    fin_regime_walk_hmm_options(w, &o);
    int nfits = (n - 1 - w->first) / w->refit + 1, rc = 0;
    fin_hmm *model = calloc((size_t)nfits, sizeof *model);
    fin_regime_fit_key *key = malloc(sizeof *key * (size_t)nfits);
    int *kept = calloc((size_t)nfits, sizeof *kept), *failed = calloc((size_t)nfits, sizeof *failed);
    char(*msg)[256] = calloc((size_t)nfits, sizeof *msg);
    if (!model || !key || !kept || !failed || !msg) {
        snprintf(err, err_size, "out of memory");
        rc = -1;
    }
    /* the fits: found in the cache, or fitted (independent of each other: in parallel), then kept */
    for (int f = 0; rc == 0 && f < nfits; f++) {
        int fit = w->first + f * w->refit, from = f ? key[f - 1].returns : 0;
        key[f] = (fin_regime_fit_key){.symbol = p->symbol, .states = w->states, .min_days = w->min_days,
                                      .restarts = w->restarts, .seed = w->seed, .returns = fit,
                                      .hash = fin_regime_hash(f ? key[f - 1].hash : FIN_REGIME_HASH_START, x + from, fit - from)};
        kept[f] = w->cache && fin_regime_cache_get(w->cache, &key[f], &model[f]);
    }
    #pragma omp parallel for schedule(dynamic, 1) if (rc == 0 && nfits > 1)
    for (int f = 0; f < (rc == 0 ? nfits : 0); f++)
        if (!kept[f]) failed[f] = fin_hmm_fit(x, key[f].returns, 1, &o, &model[f], msg[f], sizeof msg[f]) != 0;
    for (int f = 0; rc == 0 && f < nfits; f++) {
        if (failed[f]) {
            snprintf(err, err_size, "%s: regime model at %s: %s", p->symbol, p->date[key[f].returns], msg[f]);
            rc = -1;
        } else if (!kept[f] && w->cache) {
            fin_regime_cache_put(w->cache, &key[f], &model[f]);
        }
    }
    /* in date order: each fit's states continue the last's, and its filtered probabilities cover the
     * bars up to the next fit */
    fin_hmm *prev = NULL;
    for (int f = 0; rc == 0 && f < nfits; f++) {
        /* bars fit .. fit + refit - 1 (returns up to index bar - 1) use the model fitted on x[0 .. fit - 1] */
        int fit = key[f].returns, upto = fit + w->refit < n ? fit + w->refit : n;
        fin_hmm *m = &model[f];
        const char *label[8];
        label_fit(m, prev, label);
        if (fin_hmm_filtered(m, x, upto - 1, alpha) != 0) {
            snprintf(err, err_size, "%s: regime model at %s: degenerate covariance", p->symbol, p->date[fit]);
            rc = -1;
        }
        for (int bar = fit; rc == 0 && bar < upto; bar++) {
            const double *a = alpha + (size_t)(bar - 1) * m->K;
            int best = 0;
            for (int k = 1; k < m->K; k++)
                if (a[k] > a[best]) best = k;
            fin_regime_mass(a, m->K, label, &p_bull[bar], &p_bear[bar]);
            if (detail) {
                detail->state[bar] = best;
                detail->p_state[bar] = a[best];
                detail->label[bar] = label[best];
            }
        }
        prev = m;
        if (detail) {
            snprintf(detail->last_fit, sizeof detail->last_fit, "%s", p->date[fit]);
            detail->fits++;
        }
    }
    if (detail && rc == 0) {
        detail->last = model[nfits - 1];
        memset(&model[nfits - 1], 0, sizeof model[nfits - 1]);
        fin_hmm_label(&detail->last, detail->last_label);
    }
    for (int f = 0; model && f < nfits; f++) fin_hmm_free(&model[f]);
    free(model);
    free(key);
    free(kept);
    free(failed);
    free(msg);
    free(x);
    free(alpha);
    return rc;
}
