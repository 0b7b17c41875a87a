/* performance.h: a strategy's performance from its daily returns, with the definitions of
 * empyrical (252 trading days a year, zero risk-free rate): CAGR, annual volatility, Sharpe,
 * Sortino, maximum drawdown, Calmar; plus turnover, hit rate and trade count from the backtest. */
#ifndef MOE_FINANCE_PERFORMANCE_H
#define MOE_FINANCE_PERFORMANCE_H

#define FIN_DAYS_PER_YEAR 252.0

typedef struct fin_performance {
    int days;             /* daily returns measured */
    double total_return;  /* prod(1 + r) - 1 */
    double cagr;          /* (1 + total)^(252 / days) - 1 (empyrical annual_return) */
    double annual_vol;    /* std(r, ddof 1) * sqrt(252) */
    double sharpe;        /* mean(r) / std(r, ddof 1) * sqrt(252) */
    double sortino;       /* mean(r) * 252 / (sqrt(mean(min(r, 0)^2)) * sqrt(252)) */
    double max_drawdown;  /* min over t of V_t / max_{s<=t} V_s - 1, V_0 = 1 included (<= 0) */
    double calmar;        /* cagr / -max_drawdown (NaN without a drawdown) */
    /* Filled by the backtest, NaN (or 0 for trades) for a passive portfolio: */
    double turnover;      /* traded notional / equity, summed per year */
    double hit_rate;      /* share of trades with a positive result */
    int trades;           /* round trips, an open one at the end included */
} fin_performance;

/* The return-based fields of *p from r (n daily simple returns); turnover and hit rate NaN,
 * trades 0. Fields that n is too short for (n < 2 for volatility) are NaN. */
void fin_performance_compute(const double *r, int n, fin_performance *p);

#endif
