/* performance.c: empyrical's definitions of the usual performance statistics (performance.h). */
#include "performance.h"

#include <math.h>

void fin_performance_compute(const double *r, int n, fin_performance *p) {
    p->days = n;
    p->turnover = NAN;
    p->hit_rate = NAN;
    p->trades = 0;
    double value = 1.0, peak = 1.0, dd = 0.0, sum = 0.0, down = 0.0;
    for (int t = 0; t < n; t++) {
        value *= 1.0 + r[t];
        if (value > peak) peak = value;
        if (value / peak - 1.0 < dd) dd = value / peak - 1.0;
        sum += r[t];
        if (r[t] < 0) down += r[t] * r[t];
    }
    p->total_return = value - 1.0;
    p->max_drawdown = dd;
    p->cagr = n > 0 && value > 0 ? pow(value, FIN_DAYS_PER_YEAR / n) - 1.0 : n > 0 ? -1.0 : NAN;
    double mean = n > 0 ? sum / n : NAN, ss = 0.0;
    for (int t = 0; t < n; t++) ss += (r[t] - mean) * (r[t] - mean);
    double sd = n > 1 ? sqrt(ss / (n - 1)) : NAN;
    p->annual_vol = sd * sqrt(FIN_DAYS_PER_YEAR);
    p->sharpe = sd > 0 ? mean / sd * sqrt(FIN_DAYS_PER_YEAR) : NAN;
    double downside = n > 0 ? sqrt(down / n) * sqrt(FIN_DAYS_PER_YEAR) : NAN;
    p->sortino = downside > 0 ? mean * FIN_DAYS_PER_YEAR / downside : NAN;
    p->calmar = dd < 0 ? p->cagr / -dd : NAN;
}
