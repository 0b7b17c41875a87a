/* sizing.c: volatility targeting, fractional Kelly and regime scaling (sizing.h). */
#include "sizing.h"

#include <math.h>

#include "performance.h"

void fin_sizing_default(fin_sizing *s) {
    *s = (fin_sizing){.long_short = 0, .target_vol = 0.15, .max_leverage = 1.0, .kelly = 0.5, .scale = {1.0, 0.5, 0.0}};
}

void fin_ewma_variance(const double *r, int n, double lambda, int warmup, double *var) {
    double v = 0;
    for (int t = 0; t < n; t++) {
        if (t < warmup) {
            v += r[t] * r[t] / warmup;
            var[t] = t == warmup - 1 ? v : NAN;
        } else {
            v = lambda * v + (1 - lambda) * r[t] * r[t];
            var[t] = v;
        }
    }
}

double fin_target_weight(const fin_sizing *s, double var, double mu, double p_bull, double p_bear, int n_assets) {
    if (!(var > 0) || !isfinite(p_bull) || !isfinite(p_bear) || n_assets < 1) return 0;
    int forecaster = !isnan(mu);
    if (forecaster && !isfinite(mu)) return 0;
    double v = s->target_vol / (sqrt(FIN_DAYS_PER_YEAR * var) * sqrt((double)n_assets));
    double d = forecaster ? (mu > 0) - (mu < 0) : s->long_short ? (p_bull > p_bear) - (p_bull < p_bear) : 1;
    double m = forecaster && s->kelly > 0 ? fmin(v, s->kelly * fabs(mu) / var) : v;
    double p_side = fmax(0.0, 1.0 - p_bull - p_bear);
    double g = d >= 0 ? s->scale[0] * p_bull + s->scale[1] * p_side + s->scale[2] * p_bear
                      : s->scale[0] * p_bear + s->scale[1] * p_side + s->scale[2] * p_bull;
    double w = d * m * g;
    if (w > s->max_leverage) w = s->max_leverage;
    if (w < -s->max_leverage) w = -s->max_leverage;
    if (!s->long_short && w < 0) w = 0;
    return w + 0.0;
}
