/* regime_walk.c: walk-forward regime probabilities (regime_walk.h). */
#include "regime_walk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmm.h"

void fin_regime_walk_default(fin_regime_walk *w) {
    *w = (fin_regime_walk){.states = 2, .first = 252, .refit = 252, .restarts = 2, .seed = 42};
}

int fin_regime_walk_run(const fin_regime_walk *w, const fin_prices *p, double *p_bull, double *p_bear, char *err,
                        size_t err_size) {
    int n = p->n;
    for (int t = 0; t < n; t++) p_bull[t] = p_bear[t] = NAN;
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
    fin_hmm_options_default(&o);
    o.K = w->states;
    o.restarts = w->restarts;
    o.seed = w->seed;
    int rc = 0;
    for (int fit = w->first; fit < n && rc == 0; fit += w->refit) {
        /* bars fit .. fit + refit - 1 (returns up to index bar - 1) use the model fitted on x[0 .. fit - 1] */
        int upto = fit + w->refit < n ? fit + w->refit : n;
        fin_hmm m;
        char msg[256];
        if (fin_hmm_fit(x, fit, 1, &o, &m, msg, sizeof msg) != 0) {
            snprintf(err, err_size, "%s: regime model at %s: %s", p->symbol, p->date[fit], msg);
            rc = -1;
            break;
        }
        const char *label[8];
        fin_hmm_label(&m, label);
        if (fin_hmm_filtered(&m, x, upto - 1, alpha) != 0) {
            snprintf(err, err_size, "%s: regime model at %s: degenerate covariance", p->symbol, p->date[fit]);
            rc = -1;
        }
        for (int bar = fit; rc == 0 && bar < upto; bar++) {
            double bull = 0, bear = 0;
            for (int k = 0; k < m.K; k++) {
                double a = alpha[(size_t)(bar - 1) * m.K + k];
                if (strcmp(label[k], "bull") == 0) bull += a;
                else if (strcmp(label[k], "bear") == 0) bear += a;
            }
            p_bull[bar] = bull;
            p_bear[bar] = bear;
        }
        fin_hmm_free(&m);
    }
    free(x);
    free(alpha);
    return rc;
}
