/* factors.c: the factor library of moe-finance. Two families over one symbol's daily bars:
 *   - Qlib's Alpha158 (kbar, price and rolling operators over 5/10/20/30/60 bars), with Qlib's
 *     formulas; where Qlib evaluates a rolling window with fewer bars than its length
 *     (min_periods=1), the value here is NAN until the whole window exists;
 *   - classic indicators computed as R's TTR package (0.24.3) computes them, oscillators on
 *     TA-Lib's 0..100 scale; tests/finance/ttr_reference.R produces the reference values.
 * docs/finance.md ("Factors") lists every formula. Inputs are expected finite (prices.c checks
 * them); every non-finite result is reported as NAN. */
#include "factors.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- names ------------------------------------------------------------------------------------- */

#define ROLLING(op) op "5", op "10", op "20", op "30", op "60"

enum { N_BAR = 13, N_ROLLING_OPS = 29, N_WINDOWS = 5 };

/* Classic indicators, in output order after the Alpha158 family. */
enum {
    T_SMA_20, T_EMA_20, T_WMA_20, T_RSI_14, T_MACD, T_MACD_SIGNAL, T_BB_LOWER, T_BB_MID, T_BB_UPPER,
    T_BB_PCTB, T_TR, T_ATR_14, T_PLUS_DI_14, T_MINUS_DI_14, T_ADX_14, T_CCI_20, T_STOCH_FASTK,
    T_STOCH_FASTD, T_STOCH_SLOWD, T_WILLR_14, T_OBV, T_MFI_14, T_ROC_10, T_CMO_14, T_AROON_UP_25,
    T_AROON_DN_25, T_AROON_OSC_25, T_TRIX_15, T_ULTOSC, T_CHAIKIN_AD, T_CMF_20, T_DONCHIAN_HIGH_20,
    T_DONCHIAN_LOW_20, T_SAR, T_RUNSD_20, N_TTR
};

enum { N_ALPHA158 = N_BAR + N_ROLLING_OPS * N_WINDOWS, N_FACTORS = N_ALPHA158 + N_TTR };

static const int windows[N_WINDOWS] = {5, 10, 20, 30, 60};

static const char *const names[] = {
    "KMID", "KLEN", "KMID2", "KUP", "KUP2", "KLOW", "KLOW2", "KSFT", "KSFT2",
    "OPEN0", "HIGH0", "LOW0", "VWAP0",
    ROLLING("ROC"), ROLLING("MA"), ROLLING("STD"), ROLLING("BETA"), ROLLING("RSQR"),
    ROLLING("RESI"), ROLLING("MAX"), ROLLING("MIN"), ROLLING("QTLU"), ROLLING("QTLD"),
    ROLLING("RANK"), ROLLING("RSV"), ROLLING("IMAX"), ROLLING("IMIN"), ROLLING("IMXD"),
    ROLLING("CORR"), ROLLING("CORD"), ROLLING("CNTP"), ROLLING("CNTN"), ROLLING("CNTD"),
    ROLLING("SUMP"), ROLLING("SUMN"), ROLLING("SUMD"), ROLLING("VMA"), ROLLING("VSTD"),
    ROLLING("WVMA"), ROLLING("VSUMP"), ROLLING("VSUMN"), ROLLING("VSUMD"),
    "sma_20", "ema_20", "wma_20", "rsi_14", "macd", "macd_signal", "bb_lower", "bb_mid", "bb_upper",
    "bb_pctb", "tr", "atr_14", "plus_di_14", "minus_di_14", "adx_14", "cci_20", "stoch_fastk",
    "stoch_fastd", "stoch_slowd", "willr_14", "obv", "mfi_14", "roc_10", "cmo_14", "aroon_up_25",
    "aroon_dn_25", "aroon_osc_25", "trix_15", "ultosc", "chaikin_ad", "cmf_20", "donchian_high_20",
    "donchian_low_20", "sar", "runsd_20",
};

_Static_assert(sizeof names / sizeof names[0] == N_FACTORS, "one name per factor");

int fin_factor_count(void) { return N_FACTORS; }

const char *fin_factor_name(int i) { return i >= 0 && i < N_FACTORS ? names[i] : NULL; }

int fin_factor_index(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < N_FACTORS; i++)
        if (strcmp(names[i], name) == 0) return i;
    return -1;
}

/* ---- Alpha158: one bar ------------------------------------------------------------------------- */

/* KBAR and PRICE factors (index 0..12 in names order) of one bar. Qlib's Alpha158 has no vwap
 * here, so VWAP0 uses the typical price (high + low + close) / 3 as its proxy. */
static double bar_factor(int k, double o, double h, double l, double c) {
    double top = fmax(o, c), bottom = fmin(o, c), range = h - l + 1e-12;
    switch (k) {
    case 0: return (c - o) / o;               /* KMID */
    case 1: return (h - l) / o;               /* KLEN */
    case 2: return (c - o) / range;           /* KMID2 */
    case 3: return (h - top) / o;             /* KUP */
    case 4: return (h - top) / range;         /* KUP2 */
    case 5: return (bottom - l) / o;          /* KLOW */
    case 6: return (bottom - l) / range;      /* KLOW2 */
    case 7: return (2 * c - h - l) / o;       /* KSFT */
    case 8: return (2 * c - h - l) / range;   /* KSFT2 */
    case 9: return o / c;                     /* OPEN0 */
    case 10: return h / c;                    /* HIGH0 */
    case 11: return l / c;                    /* LOW0 */
    default: return (h + l + c) / 3.0 / c;    /* VWAP0 */
    }
}

/* ---- Alpha158: rolling windows ----------------------------------------------------------------- */

/* The bars and the series derived from them that the rolling operators read; a derived series is
 * NAN on bar 0, where it needs the previous bar. */
typedef struct {
    int n;
    const double *high, *low, *close, *volume;
    double *chg;          /* close - previous close */
    double *ret;          /* close / previous close */
    double *rose, *fell;  /* 1 when close is above (below) the previous close, else 0 */
    double *log_vol;      /* log(volume + 1) */
    double *log_vol_ret;  /* log(volume / previous volume + 1) */
    double *vchg;         /* volume - previous volume */
    double *wvol;         /* |close / previous close - 1| * volume */
    /* the finite closes of the latest windows[w] bars in ascending order, kept bar by bar for
     * QTLU and QTLD (a window with a non-finite close is NAN anyway) */
    double sorted_close[N_WINDOWS][64];
    int n_sorted[N_WINDOWS];
} bars;

enum { N_DERIVED = 8 };

static void derive(bars *b, double *space) {
    double **series[N_DERIVED] = {&b->chg, &b->ret, &b->rose, &b->fell, &b->log_vol, &b->log_vol_ret,
                                  &b->vchg, &b->wvol};
    for (int k = 0; k < N_DERIVED; k++) *series[k] = space + (size_t)k * b->n;
    const double *c = b->close, *v = b->volume;
    for (int t = 0; t < b->n; t++) {
        b->log_vol[t] = log(v[t] + 1);
        if (t == 0) {
            b->chg[t] = b->ret[t] = b->rose[t] = b->fell[t] = b->log_vol_ret[t] = b->vchg[t] = b->wvol[t] = NAN;
            continue;
        }
        b->chg[t] = c[t] - c[t - 1];
        b->ret[t] = c[t] / c[t - 1];
        b->rose[t] = c[t] > c[t - 1];
        b->fell[t] = c[t] < c[t - 1];
        b->log_vol_ret[t] = log(v[t] / v[t - 1] + 1);
        b->vchg[t] = v[t] - v[t - 1];
        b->wvol[t] = fabs(b->ret[t] - 1) * v[t];
    }
}

/* The d values of x ending at bar t, or NULL when the window starts before bar 0 or holds a
 * non-finite value. */
static const double *window(const double *x, int t, int d) {
    if (t < d - 1) return NULL;
    const double *w = x + t - d + 1;
    for (int i = 0; i < d; i++)
        if (!isfinite(w[i])) return NULL;
    return w;
}

static double mean(const double *w, int d) {
    double s = 0;
    for (int i = 0; i < d; i++) s += w[i];
    return s / d;
}

/* Sample standard deviation (ddof = 1, as pandas' rolling std). */
static double stdev(const double *w, int d) {
    double m = mean(w, d), s = 0;
    for (int i = 0; i < d; i++) s += (w[i] - m) * (w[i] - m);
    return sqrt(s / (d - 1));
}

/* Position of the first largest (sign = 1) or smallest (sign = -1) value. */
static int argext(const double *w, int d, double sign) {
    int best = 0;
    for (int i = 1; i < d; i++)
        if (sign * w[i] > sign * w[best]) best = i;
    return best;
}

/* Quantile q of the d values of s, sorted ascending, with linear interpolation between order
 * statistics (pandas' default). */
static double quantile_sorted(const double *s, int d, double q) {
    double pos = q * (d - 1);
    int lo = (int)pos;
    if (lo + 1 >= d) return s[lo];
    return s[lo] + (s[lo + 1] - s[lo]) * (pos - lo);
}

/* Inserts x into the ascending array s of *n values (room for one more). */
static void sorted_insert(double *s, int *n, double x) {
    int lo = 0, hi = *n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (s[mid] <= x) lo = mid + 1;
        else hi = mid;
    }
    memmove(s + lo + 1, s + lo, sizeof(double) * (size_t)(*n - lo));
    s[lo] = x;
    (*n)++;
}

/* Removes one value equal to x from the ascending array s of *n values (it is there). */
static void sorted_remove(double *s, int *n, double x) {
    int lo = 0, hi = *n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (s[mid] < x) lo = mid + 1;
        else hi = mid;
    }
    memmove(s + lo, s + lo + 1, sizeof(double) * (size_t)(*n - lo - 1));
    (*n)--;
}

/* Least squares of w against x = 1..d; sd is the sample standard deviation of w. */
typedef struct { double slope, intercept, r2, sd; } fit;

static fit regress(const double *w, int d) {
    double xm = (d + 1) / 2.0, ym = mean(w, d), sxy = 0, syy = 0, sxx = 0;
    for (int i = 0; i < d; i++) {
        double dx = i + 1 - xm, dy = w[i] - ym;
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    fit f = {sxy / sxx, 0, sxy * sxy / (sxx * syy), sqrt(syy / (d - 1))};
    f.intercept = ym - f.slope * xm;
    return f;
}

/* Qlib drops Rsquare and Corr where a window's standard deviation is within 2e-5 of zero. */
#define FLAT_SD 2e-5

static double corr(const double *a, const double *b, int d) {
    double ma = mean(a, d), mb = mean(b, d), sab = 0, saa = 0, sbb = 0;
    for (int i = 0; i < d; i++) {
        sab += (a[i] - ma) * (b[i] - mb);
        saa += (a[i] - ma) * (a[i] - ma);
        sbb += (b[i] - mb) * (b[i] - mb);
    }
    if (sqrt(saa / (d - 1)) <= FLAT_SD || sqrt(sbb / (d - 1)) <= FLAT_SD) return NAN;
    return sab / sqrt(saa * sbb);
}

/* (gain_weight * gains + loss_weight * losses) / (|changes| + 1e-12) over a window of changes, where
 * gains and losses are the sums of the positive and of the negated negative changes: weights
 * (1, 0) give SUMP, (0, 1) SUMN, (1, -1) SUMD. */
static double move_ratio(const double *w, int d, double gain_weight, double loss_weight) {
    double gain = 0, loss = 0, total = 0;
    for (int i = 0; i < d; i++) {
        gain += w[i] > 0 ? w[i] : 0; /* fmax(w, 0) without the libm call: w is finite */
        loss += w[i] < 0 ? -w[i] : 0;
        total += fabs(w[i]);
    }
    return (gain_weight * gain + loss_weight * loss) / (total + 1e-12);
}

typedef double (*rolling_op)(const bars *b, int t, int d);

/* Declares w, the window of series x ending at bar t, and returns NAN when there is none. */
#define WINDOW_OR_NAN(x)                          \
    const double *w = window(b->x, t, d);         \
    if (!w) return NAN

static double op_roc(const bars *b, int t, int d) { return t >= d ? b->close[t - d] / b->close[t] : NAN; }
static double op_ma(const bars *b, int t, int d) { WINDOW_OR_NAN(close); return mean(w, d) / b->close[t]; }
static double op_std(const bars *b, int t, int d) { WINDOW_OR_NAN(close); return stdev(w, d) / b->close[t]; }
static double op_beta(const bars *b, int t, int d) { WINDOW_OR_NAN(close); return regress(w, d).slope / b->close[t]; }
static double op_rsqr(const bars *b, int t, int d) {
    WINDOW_OR_NAN(close);
    fit f = regress(w, d);
    return f.sd <= FLAT_SD ? NAN : f.r2;
}

static double op_resi(const bars *b, int t, int d) {
    WINDOW_OR_NAN(close);
    fit f = regress(w, d);
    return (w[d - 1] - (f.slope * d + f.intercept)) / b->close[t];
}

static double op_max(const bars *b, int t, int d) { WINDOW_OR_NAN(high); return w[argext(w, d, 1)] / b->close[t]; }
static double op_min(const bars *b, int t, int d) { WINDOW_OR_NAN(low); return w[argext(w, d, -1)] / b->close[t]; }
static double close_quantile(const bars *b, int t, int d, double q) {
    if (!window(b->close, t, d)) return NAN;
    int k = 0;
    while (windows[k] != d) k++;
    return quantile_sorted(b->sorted_close[k], d, q) / b->close[t];
}
static double op_qtlu(const bars *b, int t, int d) { return close_quantile(b, t, d, 0.8); }
static double op_qtld(const bars *b, int t, int d) { return close_quantile(b, t, d, 0.2); }

/* Percentile of today's close in the window, ties at their average rank (pandas rank(pct=True)). */
static double op_rank(const bars *b, int t, int d) {
    WINDOW_OR_NAN(close);
    double today = w[d - 1];
    int less = 0, equal = 0;
    for (int i = 0; i < d; i++) {
        less += w[i] < today;
        equal += w[i] == today;
    }
    return (less + (equal + 1) / 2.0) / d;
}

static double op_rsv(const bars *b, int t, int d) {
    const double *h = window(b->high, t, d), *l = window(b->low, t, d);
    if (!h || !l) return NAN;
    double hh = h[argext(h, d, 1)], ll = l[argext(l, d, -1)];
    return (b->close[t] - ll) / (hh - ll + 1e-12);
}

/* IdxMax/IdxMin: 1-based position of the extreme counted from the window's oldest bar. */
static double op_imax(const bars *b, int t, int d) { WINDOW_OR_NAN(high); return (argext(w, d, 1) + 1.0) / d; }
static double op_imin(const bars *b, int t, int d) { WINDOW_OR_NAN(low); return (argext(w, d, -1) + 1.0) / d; }

static double op_imxd(const bars *b, int t, int d) {
    const double *h = window(b->high, t, d), *l = window(b->low, t, d);
    if (!h || !l) return NAN;
    return (double)(argext(h, d, 1) - argext(l, d, -1)) / d;
}

static double op_corr(const bars *b, int t, int d) {
    const double *x = window(b->close, t, d), *y = window(b->log_vol, t, d);
    return x && y ? corr(x, y, d) : NAN;
}

static double op_cord(const bars *b, int t, int d) {
    const double *x = window(b->ret, t, d), *y = window(b->log_vol_ret, t, d);
    return x && y ? corr(x, y, d) : NAN;
}

static double op_cntp(const bars *b, int t, int d) { WINDOW_OR_NAN(rose); return mean(w, d); }
static double op_cntn(const bars *b, int t, int d) { WINDOW_OR_NAN(fell); return mean(w, d); }

static double op_cntd(const bars *b, int t, int d) {
    const double *up = window(b->rose, t, d), *down = window(b->fell, t, d);
    return up && down ? mean(up, d) - mean(down, d) : NAN;
}

static double op_sump(const bars *b, int t, int d) { WINDOW_OR_NAN(chg); return move_ratio(w, d, 1, 0); }
static double op_sumn(const bars *b, int t, int d) { WINDOW_OR_NAN(chg); return move_ratio(w, d, 0, 1); }
static double op_sumd(const bars *b, int t, int d) { WINDOW_OR_NAN(chg); return move_ratio(w, d, 1, -1); }
static double op_vma(const bars *b, int t, int d) { WINDOW_OR_NAN(volume); return mean(w, d) / (b->volume[t] + 1e-12); }
static double op_vstd(const bars *b, int t, int d) { WINDOW_OR_NAN(volume); return stdev(w, d) / (b->volume[t] + 1e-12); }
static double op_wvma(const bars *b, int t, int d) { WINDOW_OR_NAN(wvol); return stdev(w, d) / (mean(w, d) + 1e-12); }
static double op_vsump(const bars *b, int t, int d) { WINDOW_OR_NAN(vchg); return move_ratio(w, d, 1, 0); }
static double op_vsumn(const bars *b, int t, int d) { WINDOW_OR_NAN(vchg); return move_ratio(w, d, 0, 1); }
static double op_vsumd(const bars *b, int t, int d) { WINDOW_OR_NAN(vchg); return move_ratio(w, d, 1, -1); }

#undef WINDOW_OR_NAN

/* In names order. */
static const rolling_op rolling_ops[N_ROLLING_OPS] = {
    op_roc, op_ma, op_std, op_beta, op_rsqr, op_resi, op_max, op_min, op_qtlu, op_qtld,
    op_rank, op_rsv, op_imax, op_imin, op_imxd, op_corr, op_cord, op_cntp, op_cntn, op_cntd,
    op_sump, op_sumn, op_sumd, op_vma, op_vstd, op_wvma, op_vsump, op_vsumn, op_vsumd,
};

/* ---- TTR building blocks ----------------------------------------------------------------------- */
/* Each reproduces the arithmetic of TTR's C routine of the same name, including how it skips the
 * leading NAs of its input, so that results agree to rounding. y never aliases x. */

static int first_defined(const double *x, int n) {
    int f = 0;
    while (f < n && isnan(x[f])) f++;
    return f;
}

static void fill_nan(double *y, int n) {
    for (int i = 0; i < n; i++) y[i] = NAN;
}

/* runSum: the sum of the first w defined values, then y[i] = y[i-1] + x[i] - x[i-w]. */
static void run_sum(double *y, const double *x, int n, int w) {
    int f = first_defined(x, n);
    fill_nan(y, n);
    if (f + w > n) return;
    double s = 0;
    for (int i = f; i < f + w; i++) s += x[i];
    y[f + w - 1] = s;
    for (int i = f + w; i < n; i++) y[i] = y[i - 1] + x[i] - x[i - w];
}

/* SMA = runSum / w. */
static void sma(double *y, const double *x, int n, int w) {
    run_sum(y, x, n, w);
    for (int i = 0; i < n; i++) y[i] /= w;
}

/* EMA: seeded with the mean of the first w defined values, then y = x * ratio + y[-1] * (1 - ratio);
 * ratio 2 / (w + 1), or 1 / w for Wilder's smoothing. */
static void ema(double *y, const double *x, int n, int w, int wilder) {
    double ratio = wilder ? 1.0 / w : 2.0 / (w + 1);
    int f = first_defined(x, n);
    fill_nan(y, n);
    if (f + w > n) return;
    double seed = 0;
    for (int i = f; i < f + w; i++) seed += x[i] / w;
    y[f + w - 1] = seed;
    for (int i = f + w; i < n; i++) y[i] = x[i] * ratio + y[i - 1] * (1 - ratio);
}

/* wilderSum: s = the sum of the first w - 1 defined values, then y = x + y[-1] * (w - 1) / w with
 * y[-1] = s on the first reported bar (the w-th defined value). */
static void wilder_sum(double *y, const double *x, int n, int w) {
    int f = first_defined(x, n);
    fill_nan(y, n);
    if (f + w > n) return;
    double s = 0;
    for (int i = f; i < f + w - 1; i++) s += x[i];
    for (int i = f + w - 1; i < n; i++) s = y[i] = x[i] + s * (w - 1) / w;
}

/* True range: max(high, previous close) - min(low, previous close); NAN on the first bar. */
static void true_range(double *y, const double *h, const double *l, const double *c, int n) {
    for (int i = 0; i < n; i++) y[i] = i ? fmax(h[i], c[i - 1]) - fmin(l[i], c[i - 1]) : NAN;
}

/* runMax (sign 1) / runMin (sign -1) over w values. */
static void run_extreme(double *y, const double *x, int n, int w, double sign) {
    int f = first_defined(x, n);
    fill_nan(y, n);
    for (int i = f + w - 1; i < n; i++) y[i] = x[i - w + 1 + argext(x + i - w + 1, w, sign)];
}

/* runSD: sqrt(runCov(x, x)): the mean as a sum of x / w from the oldest value, the squares summed
 * from the newest, divisor w - 1 (sample) or w. */
static void run_sd(double *y, const double *x, int n, int w, int sample) {
    int f = first_defined(x, n);
    fill_nan(y, n);
    for (int i = f + w - 1; i < n; i++) {
        double m = 0, s = 0;
        for (int j = i - w + 1; j <= i; j++) m += x[j] / w;
        for (int j = 0; j < w; j++) s += (x[i - j] - m) * (x[i - j] - m);
        y[i] = sqrt(s / (sample ? w - 1 : w));
    }
}

/* runMAD(x, w, center, stat = "mean"): the mean of |x[j] - center[i]| over the window. */
static void run_mean_dev(double *y, const double *x, const double *center, int n, int w) {
    int f = first_defined(x, n);
    fill_nan(y, n);
    for (int i = f + w - 1; i < n; i++) {
        double s = 0;
        for (int j = 0; j < w; j++) s += fabs(x[i - j] - center[i]) / w;
        y[i] = s;
    }
}

/* aroon_max: 100 * (w - k) / w where k is the number of bars since the latest extreme (largest of
 * sign * x) among the last w + 1 bars (w on the first reported bar). */
static void aroon(double *y, const double *x, int n, int w, double sign) {
    int f = first_defined(x, n);
    fill_nan(y, n);
    for (int i = f + w - 1; i < n; i++) {
        int lo = i - w > f ? i - w : f, best = i;
        for (int j = i - 1; j >= lo; j--)
            if (sign * x[j] > sign * x[best]) best = j;
        y[i] = 100.0 * (w - (i - best)) / w;
    }
}

/* R's cumsum: accumulated in long double. */
static void cumsum(double *y, const double *x, int n) {
    long double s = 0;
    for (int i = 0; i < n; i++) y[i] = (double)(s += x[i]);
}

/* R's mean of (h, l, c), the typical price: a long double sum, divided, then corrected once. */
static double typical(double h, double l, double c) {
    long double s = ((long double)h + l + c) / 3;
    long double r = ((h - s) + (l - s) + (c - s)) / 3;
    return (double)(s + r);
}

/* Close location value: ((c - l) - (h - c)) / (h - l), 0 where undefined. */
static double clv(double h, double l, double c) {
    double v = ((c - l) - (h - c)) / (h - l);
    return isfinite(v) ? v : 0;
}

/* R's sd of (high - low) over all bars: two passes, long double sums. */
static double range_sd(const double *h, const double *l, int n) {
    if (n < 2) return NAN;
    long double m = 0, s = 0;
    for (int i = 0; i < n; i++) m += h[i] - l[i];
    m /= n;
    for (int i = 0; i < n; i++) s += ((h[i] - l[i]) - m) * ((h[i] - l[i]) - m);
    return (double)sqrtl(s / (n - 1));
}

/* SAR as TTR's sar(): starts long at low[0] - sd(high - low); the acceleration factor grows by
 * step after each new extreme and is held only when it equals max exactly. As in TTR 0.24.3, the
 * sum of steps (0.02 added ten times is 0.19999999999999998) never equals 0.2, so with the default
 * parameters the factor keeps growing past 0.2 until the trend reverses. */
static void sar(double *y, const double *h, const double *l, int n, double step, double max) {
    fill_nan(y, n);
    if (n == 0) return;
    int sig = 1;
    double xpt = h[0], af = step;
    y[0] = l[0] - range_sd(h, l, n);
    for (int i = 1; i < n; i++) {
        int sig1 = sig;
        double xpt1 = xpt, af1 = af;
        double lmin = fmin(l[i - 1], l[i]), lmax = fmax(h[i - 1], h[i]);
        if (sig1 == 1) {
            sig = l[i] > y[i - 1] ? 1 : -1;
            xpt = fmax(lmax, xpt1);
        } else {
            sig = h[i] < y[i - 1] ? -1 : 1;
            xpt = fmin(lmin, xpt1);
        }
        if (sig == sig1) {
            y[i] = y[i - 1] + (xpt1 - y[i - 1]) * af1;
            af = af1 == max ? max : step + af1;
            if (sig == 1) {
                af = xpt > xpt1 ? af : af1;
                y[i] = fmin(y[i], lmin);
            } else {
                af = xpt < xpt1 ? af : af1;
                y[i] = fmax(y[i], lmax);
            }
        } else {
            af = step;
            y[i] = xpt;
        }
    }
}

/* ---- classic indicators ------------------------------------------------------------------------ */

enum { N_TEMP = 6 };

/* Fills col[T_...] (n values each) from the bars; tmp holds N_TEMP scratch series. */
static void classic(const fin_series *s, double *const col[N_TTR], double *const tmp[N_TEMP]) {
    int n = s->n;
    const double *h = s->high, *l = s->low, *c = s->close, *v = s->volume;
    double *a = tmp[0], *b = tmp[1], *d = tmp[2], *e = tmp[3], *f = tmp[4], *g = tmp[5];

    /* moving averages: SMA, EMA, WMA(wts = 1:20) */
    sma(col[T_SMA_20], c, n, 20);
    ema(col[T_EMA_20], c, n, 20, 0);
    for (int i = 0; i < n; i++) {
        double num = 0;
        if (i >= 19)
            for (int j = 0; j < 20; j++) num += c[i - 19 + j] * (j + 1);
        col[T_WMA_20][i] = i >= 19 ? num / 210.0 : NAN;
    }

    /* RSI: Wilder-smoothed up and down moves */
    for (int i = 0; i < n; i++) {
        double m = i ? c[i] - c[i - 1] : NAN;
        a[i] = m < 0 ? 0 : m;
        b[i] = m < 0 ? -m : m * 0;
    }
    ema(d, a, n, 14, 1);
    ema(e, b, n, 14, 1);
    for (int i = 0; i < n; i++) col[T_RSI_14][i] = 100 * d[i] / (d[i] + e[i]);

    /* MACD(12, 26, 9), percent = FALSE */
    ema(a, c, n, 12, 0);
    ema(b, c, n, 26, 0);
    for (int i = 0; i < n; i++) col[T_MACD][i] = a[i] - b[i];
    ema(col[T_MACD_SIGNAL], col[T_MACD], n, 9, 0);

    /* BBands(close, 20, sd = 2): population standard deviation */
    sma(col[T_BB_MID], c, n, 20);
    run_sd(a, c, n, 20, 0);
    for (int i = 0; i < n; i++) {
        double up = col[T_BB_MID][i] + 2 * a[i], dn = col[T_BB_MID][i] - 2 * a[i];
        col[T_BB_UPPER][i] = up;
        col[T_BB_LOWER][i] = dn;
        col[T_BB_PCTB][i] = (c[i] - dn) / (up - dn);
    }

    /* true range (a), true low (b); ATR(14) Wilder */
    true_range(a, h, l, c, n);
    for (int i = 0; i < n; i++) b[i] = i ? fmin(l[i], c[i - 1]) : NAN;
    memcpy(col[T_TR], a, (size_t)n * sizeof *a);
    ema(col[T_ATR_14], a, n, 14, 1);

    /* ADX(14): directional movement (d, e), Wilder sums, DX (f), Wilder-smoothed ADX */
    for (int i = 0; i < n; i++) {
        double up = i ? h[i] - h[i - 1] : NAN, down = i ? l[i - 1] - l[i] : NAN;
        int none = up == down || (up < 0 && down < 0);
        d[i] = i ? (none ? 0 : up > down ? up : 0) : NAN;
        e[i] = i ? (none ? 0 : up < down ? down : 0) : NAN;
    }
    wilder_sum(f, a, n, 14);
    wilder_sum(g, d, n, 14);
    for (int i = 0; i < n; i++) col[T_PLUS_DI_14][i] = 100 * g[i] / f[i];
    wilder_sum(g, e, n, 14);
    for (int i = 0; i < n; i++) col[T_MINUS_DI_14][i] = 100 * g[i] / f[i];
    for (int i = 0; i < n; i++) {
        double p = col[T_PLUS_DI_14][i], m = col[T_MINUS_DI_14][i];
        f[i] = 100 * (fabs(p - m) / (p + m));
    }
    ema(col[T_ADX_14], f, n, 14, 1);

    /* ultimateOscillator(7, 14, 28; weights 4, 2, 1): buying pressure close - true low over true range */
    static const int uo_n[3] = {7, 14, 28};
    static const double uo_w[3] = {4, 2, 1};
    for (int i = 0; i < n; i++) {
        d[i] = c[i] - b[i];
        col[T_ULTOSC][i] = d[i] * 0;
    }
    for (int k = 0; k < 3; k++) {
        run_sum(e, d, n, uo_n[k]);
        run_sum(f, a, n, uo_n[k]);
        for (int i = 0; i < n; i++) col[T_ULTOSC][i] += uo_w[k] * (e[i] / f[i]);
    }
    for (int i = 0; i < n; i++) col[T_ULTOSC][i] = 100 * col[T_ULTOSC][i] / 7;

    /* typical price (a): CCI(20) with the mean deviation; MFI(14) */
    for (int i = 0; i < n; i++) a[i] = typical(h[i], l[i], c[i]);
    sma(b, a, n, 20);
    run_mean_dev(d, a, b, n, 20);
    for (int i = 0; i < n; i++) col[T_CCI_20][i] = (a[i] - b[i]) / (0.015 * d[i]);
    for (int i = 0; i < n; i++) {
        double mf = a[i] * v[i];
        b[i] = i ? (a[i] > a[i - 1] ? mf : 0) : NAN;
        d[i] = i ? (a[i] < a[i - 1] ? mf : 0) : NAN;
    }
    run_sum(e, b, n, 14);
    run_sum(f, d, n, 14);
    for (int i = 0; i < n; i++) {
        double mfi = 100 - (100 / (1 + e[i] / f[i]));
        if (f[i] == 0) mfi = e[i] == 0 ? 50 : 100;
        col[T_MFI_14][i] = mfi;
    }

    /* stoch(14, 3, 3) on the 0..100 scale (fastK smoothed by SMA(1) as TTR does); Williams %R */
    run_extreme(a, h, n, 14, 1);
    run_extreme(b, l, n, 14, -1);
    for (int i = 0; i < n; i++) {
        d[i] = c[i] - b[i];
        e[i] = a[i] - b[i];
        double pct_r = (a[i] - c[i]) / (a[i] - b[i]);
        col[T_WILLR_14][i] = i >= 13 && isnan(pct_r) ? -50 : -100 * pct_r;
    }
    sma(f, d, n, 1);
    sma(g, e, n, 1);
    for (int i = 0; i < n; i++) {
        double k = f[i] / g[i];
        d[i] = isinf(k) ? 0.5 : k;
    }
    sma(e, d, n, 3);
    sma(f, e, n, 3);
    for (int i = 0; i < n; i++) {
        col[T_STOCH_FASTK][i] = 100 * d[i];
        col[T_STOCH_FASTD][i] = 100 * e[i];
        col[T_STOCH_SLOWD][i] = 100 * f[i];
    }

    /* OBV: +volume on a rise, -volume on a fall, 0 when |log change| < sqrt(DBL_EPSILON) */
    for (int i = 0; i < n; i++) {
        double chg = i ? log(c[i]) - log(c[i - 1]) : 0;
        a[i] = i == 0 ? v[0] : fabs(chg) < sqrt(DBL_EPSILON) ? 0 : chg > 0 ? v[i] : -v[i];
    }
    cumsum(col[T_OBV], a, n);

    /* ROC(10, "discrete"); CMO(14) */
    for (int i = 0; i < n; i++) col[T_ROC_10][i] = i >= 10 ? c[i] / c[i - 10] - 1 : NAN;
    for (int i = 0; i < n; i++) {
        double m = i ? c[i] - c[i - 1] : NAN;
        a[i] = i ? (m > 0 ? m : 0) : NAN;
        b[i] = i ? (m < 0 ? fabs(m) : 0) : NAN;
    }
    run_sum(d, a, n, 14);
    run_sum(e, b, n, 14);
    for (int i = 0; i < n; i++) col[T_CMO_14][i] = 100 * (d[i] - e[i]) / (d[i] + e[i]);

    /* aroon(25) */
    aroon(col[T_AROON_UP_25], h, n, 25, 1);
    aroon(col[T_AROON_DN_25], l, n, 25, -1);
    for (int i = 0; i < n; i++) col[T_AROON_OSC_25][i] = col[T_AROON_UP_25][i] - col[T_AROON_DN_25][i];

    /* TRIX(15): percent change of the triple EMA */
    ema(a, c, n, 15, 0);
    ema(b, a, n, 15, 0);
    ema(d, b, n, 15, 0);
    for (int i = 0; i < n; i++) col[T_TRIX_15][i] = i ? 100 * (d[i] / d[i - 1] - 1) : NAN;

    /* chaikinAD; CMF(20) */
    for (int i = 0; i < n; i++) a[i] = clv(h[i], l[i], c[i]) * v[i];
    cumsum(col[T_CHAIKIN_AD], a, n);
    run_sum(b, a, n, 20);
    run_sum(d, v, n, 20);
    for (int i = 0; i < n; i++) col[T_CMF_20][i] = b[i] / d[i];

    /* DonchianChannel(20); SAR(0.02, 0.2); runSD(20, sample) */
    run_extreme(col[T_DONCHIAN_HIGH_20], h, n, 20, 1);
    run_extreme(col[T_DONCHIAN_LOW_20], l, n, 20, -1);
    sar(col[T_SAR], h, l, n, 0.02, 0.2);
    run_sd(col[T_RUNSD_20], c, n, 20, 1);
}

/* ---- everything -------------------------------------------------------------------------------- */

int fin_factors_compute(const fin_series *s, double *out) { return fin_factors_compute_from(s, 0, out); }

int fin_factors_compute_from(const fin_series *s, int from, double *out) {
    if (!s || from < 0) return -1;
    int n = s->n;
    if (n <= from) return 0;
    if (!out || !s->open || !s->high || !s->low || !s->close || !s->volume) return -1;
    double *space = malloc((size_t)n * (N_DERIVED + N_TTR + N_TEMP) * sizeof *space);
    if (!space) return -1;

    bars b = {.n = n, .high = s->high, .low = s->low, .close = s->close, .volume = s->volume};
    derive(&b, space);
    double *col[N_TTR], *tmp[N_TEMP];
    for (int k = 0; k < N_TTR; k++) col[k] = space + (size_t)n * (N_DERIVED + k);
    for (int k = 0; k < N_TEMP; k++) tmp[k] = space + (size_t)n * (N_DERIVED + N_TTR + k);
    classic(s, col, tmp);

    for (int t = 0; t < n; t++) {
        for (int w = 0; w < N_WINDOWS; w++) {
            if (isfinite(s->close[t])) sorted_insert(b.sorted_close[w], &b.n_sorted[w], s->close[t]);
            int gone = t - windows[w];
            if (gone >= 0 && isfinite(s->close[gone])) sorted_remove(b.sorted_close[w], &b.n_sorted[w], s->close[gone]);
        }
        if (t < from) continue; /* the sorted windows are kept from bar 0 all the same */
        double *row = out + (size_t)(t - from) * N_FACTORS;
        for (int k = 0; k < N_BAR; k++) row[k] = bar_factor(k, s->open[t], s->high[t], s->low[t], s->close[t]);
        for (int op = 0; op < N_ROLLING_OPS; op++)
            for (int w = 0; w < N_WINDOWS; w++) row[N_BAR + op * N_WINDOWS + w] = rolling_ops[op](&b, t, windows[w]);
        for (int k = 0; k < N_TTR; k++) row[N_ALPHA158 + k] = col[k][t];
        for (int f = 0; f < N_FACTORS; f++)
            if (!isfinite(row[f])) row[f] = NAN;
    }
    free(space);
    return 0;
}

int fin_chandelier(const fin_series *s, int w, double mult, double *long_stop, double *short_stop) {
    int n = s ? s->n : 0;
    if (!s || n < 0 || w < 1 || !long_stop || !short_stop || (n > 0 && (!s->high || !s->low || !s->close))) return -1;
    if (n == 0) return 0;
    double *tmp = malloc((size_t)n * 4 * sizeof *tmp);
    if (!tmp) return -1;
    double *tr = tmp, *atr = tmp + n, *hh = tmp + 2 * n, *ll = tmp + 3 * n;
    true_range(tr, s->high, s->low, s->close, n);
    ema(atr, tr, n, w, 1);
    run_extreme(hh, s->high, n, w, 1);
    run_extreme(ll, s->low, n, w, -1);
    for (int i = 0; i < n; i++) {
        long_stop[i] = hh[i] - mult * atr[i];
        short_stop[i] = ll[i] + mult * atr[i];
    }
    free(tmp);
    return 0;
}
