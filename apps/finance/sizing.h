/* sizing.h: position sizing in moe-finance: the target weight of one asset from its EWMA
 * volatility (volatility targeting), the forecast (fractional Kelly) and the regime probabilities
 * (regime-conditional scaling). */
#ifndef MOE_FINANCE_SIZING_H
#define MOE_FINANCE_SIZING_H

typedef struct fin_sizing {
    int long_short;      /* 0: long or flat; 1: long or short */
    double target_vol;   /* annual volatility aimed at by the whole book, e.g. 0.15 */
    double max_leverage; /* cap on |weight| of one asset */
    double kelly;        /* fraction of the Kelly weight mu / sigma^2 (0: volatility targeting only) */
    double scale[3];     /* multiplier of the weight in bull, sideways and bear regimes */
} fin_sizing;

/* long/flat, 15% target volatility, leverage 1, half Kelly, regime scales 1, 0.5, 0. */
void fin_sizing_default(fin_sizing *s);

/* RiskMetrics EWMA variance of daily log returns r (n): var[t] = lambda var[t-1] + (1 - lambda)
 * r[t]^2, seeded with the mean square of the first `warmup` returns and NAN before that. */
void fin_ewma_variance(const double *r, int n, double lambda, int warmup, double *var);

/* The weight of one of n_assets assets given its daily variance var, the forecast mean daily log
 * return mu (NAN without a forecaster) and the filtered probabilities of the bull and bear regimes
 * (sideways takes the rest):
 *   vol weight  v = target_vol / (sqrt(252 var) sqrt(n_assets))  (an equal risk budget per asset)
 *   direction   d = sign(mu); without a forecaster +1 long/flat, sign(p_bull - p_bear) long/short
 *   size        m = min(v, kelly |mu| / var) with a forecaster and kelly > 0, else v
 *   regime      g = scale . (p_bull, p_side, p_bear) for longs, mirrored (bear scale on p_bull) for shorts
 *   weight      d m g, clipped to [-max_leverage, max_leverage], negative weights to 0 when long/flat.
 * Returns 0 when an input is missing (NAN). */
double fin_target_weight(const fin_sizing *s, double var, double mu, double p_bull, double p_bear, int n_assets);

#endif
