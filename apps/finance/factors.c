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

/* KBAR and PRICE factors (index 0..12 in names order) of one bar into y. Qlib's Alpha158 has no vwap
 * here, so VWAP0 uses the typical price (high + low + close) / 3 as its proxy. */
static void bar_factors(double o, double h, double l, double c, double *y) {
    double top = fmax(o, c), bottom = fmin(o, c), range = h - l + 1e-12;
    y[0] = (c - o) / o;               /* KMID */
    y[1] = (h - l) / o;               /* KLEN */
    y[2] = (c - o) / range;           /* KMID2 */
    y[3] = (h - top) / o;             /* KUP */
    y[4] = (h - top) / range;         /* KUP2 */
    y[5] = (bottom - l) / o;          /* KLOW */
    y[6] = (bottom - l) / range;      /* KLOW2 */
    y[7] = (2 * c - h - l) / o;       /* KSFT */
    y[8] = (2 * c - h - l) / range;   /* KSFT2 */
    y[9] = o / c;                     /* OPEN0 */
    y[10] = h / c;                    /* HIGH0 */
    y[11] = l / c;                    /* LOW0 */
    y[12] = (h + l + c) / 3.0 / c;    /* VWAP0 */
}

/* ---- Alpha158: rolling windows ----------------------------------------------------------------- */

/* The series the rolling operators read: the bars and those derived from them; a derived series is
 * NAN on bar 0, where it needs the previous bar. */
enum {
    S_HIGH, S_LOW, S_CLOSE, S_VOLUME,
    S_CHG,          /* close - previous close */
    S_RET,          /* close / previous close */
    S_ROSE, S_FELL, /* 1 when close is above (below) the previous close, else 0 */
    S_LOG_VOL,      /* log(volume + 1) */
    S_LOG_VOL_RET,  /* log(volume / previous volume + 1) */
    S_VCHG,         /* volume - previous volume */
    S_WVOL,         /* |close / previous close - 1| * volume */
    N_SERIES
};

enum { N_DERIVED = N_SERIES - S_CHG };

typedef struct {
    int n;
    const double *x[N_SERIES];
    /* run[k][t]: how many bars in a row up to bar t have a finite x[k]; a window of d bars ending at
     * t is reported when run[k][t] >= d for every series k it reads */
    int *run[N_SERIES];
} bars;

/* Fills the derived series (space: N_DERIVED series of n) and the runs (runs: N_SERIES of n). */
static void derive(bars *b, double *space, int *runs) {
    int n = b->n;
    double *chg = space, *ret = chg + n, *rose = ret + n, *fell = rose + n, *log_vol = fell + n,
           *log_vol_ret = log_vol + n, *vchg = log_vol_ret + n, *wvol = vchg + n;
    const double *c = b->x[S_CLOSE], *v = b->x[S_VOLUME];
    for (int t = 0; t < n; t++) {
        log_vol[t] = log(v[t] + 1);
        if (t == 0) {
            chg[t] = ret[t] = rose[t] = fell[t] = log_vol_ret[t] = vchg[t] = wvol[t] = NAN;
            continue;
        }
        chg[t] = c[t] - c[t - 1];
        ret[t] = c[t] / c[t - 1];
        rose[t] = c[t] > c[t - 1];
        fell[t] = c[t] < c[t - 1];
        log_vol_ret[t] = log(v[t] / v[t - 1] + 1);
        vchg[t] = v[t] - v[t - 1];
        wvol[t] = fabs(ret[t] - 1) * v[t];
    }
    b->x[S_CHG] = chg, b->x[S_RET] = ret, b->x[S_ROSE] = rose, b->x[S_FELL] = fell;
    b->x[S_LOG_VOL] = log_vol, b->x[S_LOG_VOL_RET] = log_vol_ret, b->x[S_VCHG] = vchg, b->x[S_WVOL] = wvol;
    for (int k = 0; k < N_SERIES; k++) {
        int *r = b->run[k] = runs + (size_t)k * n;
        for (int t = 0; t < n; t++) r[t] = isfinite(b->x[k][t]) ? (t ? r[t - 1] : 0) + 1 : 0;
    }
}

static int complete(const bars *b, int k, int t, int d) { return b->run[k][t] >= d; }

/* The sums of a window the operators read: of the deviations of close, log volume, return, log volume
 * ratio, volume and weighted volume from their anchors (see block), their squares, the products the
 * correlations need, and the close deviations times their bar's position; the rises and falls; the
 * gains, losses and absolute moves of close and of volume. */
enum {
    M_C, M_CC, M_JC, M_L, M_LL, M_CL, M_R, M_RR, M_Q, M_QQ, M_RQ, M_V, M_VV, M_W, M_WW,
    M_UP, M_DOWN, M_GAIN, M_LOSS, M_MOVE, M_VGAIN, M_VLOSS, M_VMOVE, N_SUMS
};

/* The series measured from anchors, in the order of block.anchor. */
enum { A_CLOSE, A_LOG_VOL, A_RET, A_LOG_VOL_RET, A_VOLUME, A_WVOL, N_ANCHORS };
static const int anchored[N_ANCHORS] = {S_CLOSE, S_LOG_VOL, S_RET, S_LOG_VOL_RET, S_VOLUME, S_WVOL};

/* Room for the longest window (and one bar more while a bar enters before the oldest leaves). */
enum { MAX_WINDOW = 64 };

/* Adds bar j, at position pos, to the sums s. */
static void add_bar(const bars *b, int j, int pos, const double *anchor, double *s) {
    const double *const *x = b->x;
    double c = x[S_CLOSE][j] - anchor[A_CLOSE], l = x[S_LOG_VOL][j] - anchor[A_LOG_VOL],
           r = x[S_RET][j] - anchor[A_RET], q = x[S_LOG_VOL_RET][j] - anchor[A_LOG_VOL_RET],
           v = x[S_VOLUME][j] - anchor[A_VOLUME], w = x[S_WVOL][j] - anchor[A_WVOL];
    double chg = x[S_CHG][j], vchg = x[S_VCHG][j];
    s[M_C] += c, s[M_CC] += c * c, s[M_JC] += pos * c;
    s[M_L] += l, s[M_LL] += l * l, s[M_CL] += c * l;
    s[M_R] += r, s[M_RR] += r * r, s[M_Q] += q, s[M_QQ] += q * q, s[M_RQ] += r * q;
    s[M_V] += v, s[M_VV] += v * v, s[M_W] += w, s[M_WW] += w * w;
    s[M_UP] += x[S_ROSE][j], s[M_DOWN] += x[S_FELL][j];
    s[M_GAIN] += chg > 0 ? chg : 0, s[M_LOSS] += chg < 0 ? -chg : 0, s[M_MOVE] += fabs(chg);
    s[M_VGAIN] += vchg > 0 ? vchg : 0, s[M_VLOSS] += vchg < 0 ? -vchg : 0, s[M_VMOVE] += fabs(vchg);
}

/* The window sums of the bars [start, end), windows of d bars. A running sum (adding the bar that
 * enters, subtracting the one that leaves) would keep the rounding of every bar that has left and
 * could never move its anchors. Instead the bars are cut into blocks of d: a window ending in a block
 * is a tail of the block before and a head of its own, the tails summed backwards and the heads
 * forwards, each from zero, so that a sum only ever holds bars of its window and is as accurate as
 * the window summed directly, at two additions a bar. The anchors are the values on the block's first
 * bar, which every window ending in the block holds: deviations stay within the window's range, so
 * that squares lose no digits to the mean (and a flat window sums exact zeros). Positions count from
 * the block's first bar. */
typedef struct {
    int start, end;
    double anchor[N_ANCHORS];
    double sum[MAX_WINDOW][N_SUMS]; /* sum[t - start]: over the window ending at bar t (t >= d - 1) */
} block;

static void block_sums(const bars *b, int d, int start, block *k) {
    k->start = start;
    k->end = start + d < b->n ? start + d : b->n;
    for (int a = 0; a < N_ANCHORS; a++) k->anchor[a] = b->x[anchored[a]][start];
    double tail[MAX_WINDOW][N_SUMS], head[N_SUMS] = {0}; /* tail[i]: bars start - i .. start - 1 */
    memset(tail[0], 0, sizeof tail[0]);
    for (int i = 1; i < d && i <= start; i++) {
        memcpy(tail[i], tail[i - 1], sizeof tail[i]);
        add_bar(b, start - i, -i, k->anchor, tail[i]);
    }
    for (int t = start; t < k->end; t++) {
        add_bar(b, t, t - start, k->anchor, head);
        int i = d - 1 - (t - start); /* bars of the block before in the window */
        if (i > start) {             /* the window would begin before bar 0: not reported */
            memset(k->sum[t - start], 0, sizeof k->sum[0]);
            continue;
        }
        for (int m = 0; m < N_SUMS; m++) k->sum[t - start][m] = head[m] + tail[i][m];
    }
}

/* The sum of squared deviations from the mean, from the sum and the sum of squares of d values;
 * rounding can take a zero just below it. */
static double dev_squares(double s, double ss, int d) { return fmax(ss - s * s / d, 0); }

/* Qlib drops Rsquare and Corr where a window's standard deviation is within 2e-5 of zero. */
#define FLAT_SD 2e-5

/* The correlation from the cross products and the squared deviations of two series over d values. */
static double corr(double sab, double saa, double sbb, int d) {
    if (sqrt(saa / (d - 1)) <= FLAT_SD || sqrt(sbb / (d - 1)) <= FLAT_SD) return NAN;
    return sab / sqrt(saa * sbb);
}

/* (gain_weight * gain + loss_weight * loss) / (move + 1e-12), from a window's sums of positive
 * changes, negated negative changes and absolute changes: weights (1, 0) give SUMP, (0, 1) SUMN,
 * (1, -1) SUMD. */
static double move_ratio(double gain, double loss, double move, double gain_weight, double loss_weight) {
    return (gain_weight * gain + loss_weight * loss) / (move + 1e-12);
}

/* Bar indices of a sliding window, those that a later bar of the window beats (or matches, unless
 * the first of equal extremes is wanted) dropped, so that the front is the window's extreme:
 * amortised O(1) a bar. at has room for an index a bar. */
typedef struct {
    int *at, head, tail;
    int bad; /* the latest bar with a non-finite value, or -1 */
} deque;

static deque deque_new(int *at) { return (deque){at, 0, 0, -1}; }

/* Adds bar t of x: sign 1 keeps the highest, -1 the lowest; first keeps the first of equal values. */
static void deque_push(deque *q, const double *x, int t, double sign, int first) {
    if (!isfinite(x[t])) {
        q->bad = t;
        q->head = q->tail;
        return;
    }
    while (q->tail > q->head) {
        double back = sign * x[q->at[q->tail - 1]], now = sign * x[t];
        if (back > now || (first && back == now)) break;
        q->tail--;
    }
    q->at[q->tail++] = t;
}

/* The extreme's index among the bars from oldest on, or -1 when one of them is not finite. */
static int deque_front(deque *q, int oldest) {
    if (q->bad >= oldest) return -1;
    while (q->at[q->head] < oldest) q->head++;
    return q->at[q->head];
}

/* The finite closes of the latest d bars in ascending order, kept bar by bar for QTLU and QTLD, and
 * how many of them are below and equal to the latest close, for RANK (a window with a non-finite
 * close is not reported). */
typedef struct {
    double v[MAX_WINDOW];
    int n, below, equal;
} sorted_window;

/* How many values of s are below x and equal to it: a binary search whose steps are conditional
 * moves (its branches would be a coin toss), then a scan over the equal values, usually none. */
static void count_around(const sorted_window *s, double x, int *below, int *equal) {
    const double *v = s->v;
    int n = s->n;
    while (n > 1) { /* every value before v is below x, none from v + n on */
        int half = n / 2;
        v = v[half - 1] < x ? v + half : v;
        n -= half;
    }
    int lt = (int)(v - s->v) + (n == 1 && v[0] < x), eq = 0;
    while (lt + eq < s->n && s->v[lt + eq] == x) eq++;
    *below = lt;
    *equal = eq;
}

/* Adds the latest close x, after its equals. */
static void sorted_insert(sorted_window *s, double x) {
    count_around(s, x, &s->below, &s->equal);
    int at = s->below + s->equal;
    memmove(s->v + at + 1, s->v + at, sizeof(double) * (size_t)(s->n - at));
    s->v[at] = x;
    s->n++;
    s->equal++;
}

/* Removes one value equal to x (it is there), a close older than latest. */
static void sorted_remove(sorted_window *s, double x, double latest) {
    int at, equal;
    count_around(s, x, &at, &equal);
    memmove(s->v + at, s->v + at + 1, sizeof(double) * (size_t)(s->n - at - 1));
    s->n--;
    s->below -= x < latest;
    s->equal -= x == latest;
}

/* Quantile q of the d sorted values, with linear interpolation between order statistics (pandas'
 * default). */
static double quantile(const sorted_window *s, int d, double q) {
    double pos = q * (d - 1);
    int lo = (int)pos;
    if (lo + 1 >= d) return s->v[lo];
    return s->v[lo] + (s->v[lo + 1] - s->v[lo]) * (pos - lo);
}

/* Operators in names order. */
enum {
    O_ROC, O_MA, O_STD, O_BETA, O_RSQR, O_RESI, O_MAX, O_MIN, O_QTLU, O_QTLD, O_RANK, O_RSV, O_IMAX, O_IMIN,
    O_IMXD, O_CORR, O_CORD, O_CNTP, O_CNTN, O_CNTD, O_SUMP, O_SUMN, O_SUMD, O_VMA, O_VSTD, O_WVMA,
    O_VSUMP, O_VSUMN, O_VSUMD, N_OPS
};

_Static_assert((int)N_OPS == (int)N_ROLLING_OPS, "one operator per rolling name");

/* Every non-finite result is reported as NAN. */
static double finite_or_nan(double x) { return isfinite(x) ? x : NAN; }

/* y: a row's operator values of one window size, op at y[op * N_WINDOWS]. */
static void put(double *y, int op, int reported, double value) {
    y[op * N_WINDOWS] = reported ? finite_or_nan(value) : NAN;
}

/* MA, STD, BETA, RSQR, RESI and CORR of the window of d bars ending at bar t: least squares of the
 * closes against x = 1..d, Std the sample standard deviation (ddof = 1, as pandas). */
static void close_stats(const bars *b, const block *k, int t, int d, double *y) {
    const double *s = k->sum[t - k->start];
    double c = b->x[S_CLOSE][t], xm = (d + 1) / 2.0, sxx = d * (d * d - 1) / 12.0;
    double ym = s[M_C] / d, syy = dev_squares(s[M_C], s[M_CC], d), sd = sqrt(syy / (d - 1));
    double sxy = s[M_JC] + (k->start - t + d - xm) * s[M_C]; /* positions from the window's first bar */
    double slope = sxy / sxx, intercept = ym - slope * xm;
    int ok = complete(b, S_CLOSE, t, d);
    put(y, O_MA, ok, (k->anchor[A_CLOSE] + ym) / c);
    put(y, O_STD, ok, sd / c);
    put(y, O_BETA, ok, slope / c);
    put(y, O_RSQR, ok && sd > FLAT_SD, sxy * sxy / (sxx * syy));
    put(y, O_RESI, ok, (c - k->anchor[A_CLOSE] - (slope * d + intercept)) / c);
    double sll = dev_squares(s[M_L], s[M_LL], d), scl = s[M_CL] - s[M_C] * s[M_L] / d;
    put(y, O_CORR, ok && complete(b, S_LOG_VOL, t, d), corr(scl, syy, sll, d));
}

/* CORD, CNT*, SUM*, VMA, VSTD, WVMA and VSUM*. */
static void move_stats(const bars *b, const block *k, int t, int d, double *y) {
    const double *s = k->sum[t - k->start];
    double srr = dev_squares(s[M_R], s[M_RR], d), sqq = dev_squares(s[M_Q], s[M_QQ], d);
    put(y, O_CORD, complete(b, S_RET, t, d) && complete(b, S_LOG_VOL_RET, t, d),
        corr(s[M_RQ] - s[M_R] * s[M_Q] / d, srr, sqq, d));
    int up = complete(b, S_ROSE, t, d), down = complete(b, S_FELL, t, d);
    put(y, O_CNTP, up, s[M_UP] / d);
    put(y, O_CNTN, down, s[M_DOWN] / d);
    put(y, O_CNTD, up && down, s[M_UP] / d - s[M_DOWN] / d);
    int chg = complete(b, S_CHG, t, d);
    put(y, O_SUMP, chg, move_ratio(s[M_GAIN], s[M_LOSS], s[M_MOVE], 1, 0));
    put(y, O_SUMN, chg, move_ratio(s[M_GAIN], s[M_LOSS], s[M_MOVE], 0, 1));
    put(y, O_SUMD, chg, move_ratio(s[M_GAIN], s[M_LOSS], s[M_MOVE], 1, -1));
    double v = b->x[S_VOLUME][t] + 1e-12;
    int vol = complete(b, S_VOLUME, t, d), wvol = complete(b, S_WVOL, t, d), vchg = complete(b, S_VCHG, t, d);
    put(y, O_VMA, vol, (k->anchor[A_VOLUME] + s[M_V] / d) / v);
    put(y, O_VSTD, vol, sqrt(dev_squares(s[M_V], s[M_VV], d) / (d - 1)) / v);
    put(y, O_WVMA, wvol, sqrt(dev_squares(s[M_W], s[M_WW], d) / (d - 1)) / (k->anchor[A_WVOL] + s[M_W] / d + 1e-12));
    put(y, O_VSUMP, vchg, move_ratio(s[M_VGAIN], s[M_VLOSS], s[M_VMOVE], 1, 0));
    put(y, O_VSUMN, vchg, move_ratio(s[M_VGAIN], s[M_VLOSS], s[M_VMOVE], 0, 1));
    put(y, O_VSUMD, vchg, move_ratio(s[M_VGAIN], s[M_VLOSS], s[M_VMOVE], 1, -1));
}

/* What a window size carries from bar to bar: its length, the sums of its current block, its
 * extremes of high and low, its closes in order. */
typedef struct {
    int d;
    block k;
    deque high, low;
    sorted_window close;
} window_state;

/* ROC, MAX, MIN, QTLU, QTLD, RANK, RSV, IMAX, IMIN, IMXD on bar t, after st has taken it in. IdxMax
 * and IdxMin count 1-based from the window's oldest bar; RANK is today's close's percentile, ties at
 * their average rank (pandas rank(pct=True)). */
static void order_stats(const bars *b, window_state *st, int t, int d, double *y) {
    const double *h = b->x[S_HIGH], *l = b->x[S_LOW], *close = b->x[S_CLOSE];
    double c = close[t];
    put(y, O_ROC, t >= d, t >= d ? close[t - d] / c : 0);
    int oldest = t - d + 1, hi = oldest < 0 ? -1 : deque_front(&st->high, oldest),
        lo = oldest < 0 ? -1 : deque_front(&st->low, oldest);
    double hh = hi < 0 ? 0 : h[hi], ll = lo < 0 ? 0 : l[lo];
    put(y, O_MAX, hi >= 0, hh / c);
    put(y, O_MIN, lo >= 0, ll / c);
    put(y, O_RSV, hi >= 0 && lo >= 0, (c - ll) / (hh - ll + 1e-12));
    put(y, O_IMAX, hi >= 0, (hi - oldest + 1.0) / d);
    put(y, O_IMIN, lo >= 0, (lo - oldest + 1.0) / d);
    put(y, O_IMXD, hi >= 0 && lo >= 0, (double)(hi - lo) / d);
    int ok = complete(b, S_CLOSE, t, d);
    const sorted_window *s = &st->close;
    put(y, O_QTLU, ok, ok ? quantile(s, d, 0.8) / c : 0);
    put(y, O_QTLD, ok, ok ? quantile(s, d, 0.2) / c : 0);
    put(y, O_RANK, ok, (s->below + (s->equal + 1) / 2.0) / d);
}

/* Takes bar t into the deques and the sorted closes of a window of d bars. */
static void window_step(const bars *b, window_state *st, int t, int d) {
    const double *close = b->x[S_CLOSE];
    deque_push(&st->high, b->x[S_HIGH], t, 1, 1);
    deque_push(&st->low, b->x[S_LOW], t, -1, 1);
    if (isfinite(close[t])) sorted_insert(&st->close, close[t]);
    if (t >= d && isfinite(close[t - d])) sorted_remove(&st->close, close[t - d], close[t]);
}

/* A window of d bars before bar 0; at: room for 2n indices. */
static void window_init(window_state *st, int d, int *at, int n) {
    st->d = d;
    st->k.start = st->k.end = 0;
    st->high = deque_new(at);
    st->low = deque_new(at + n);
    st->close.n = 0;
}

/* The rolling operators of window st on bar t, the bars taken in order, into y (y[op * N_WINDOWS]):
 * O(1) a bar and operator but for the sorted closes' insertions. */
static void rolling_bar(const bars *b, window_state *st, int t, double *y) {
    int d = st->d;
    if (t == st->k.end) block_sums(b, d, t, &st->k);
    window_step(b, st, t, d);
    order_stats(b, st, t, d, y);
    close_stats(b, &st->k, t, d, y);
    move_stats(b, &st->k, t, d, y);
}

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

/* runMax (sign 1) / runMin (sign -1) over w values; at: room for n indices. */
static void run_extreme(double *y, const double *x, int n, int w, double sign, int *at) {
    int f = first_defined(x, n);
    fill_nan(y, n);
    deque q = deque_new(at);
    for (int i = f; i < n; i++) {
        deque_push(&q, x, i, sign, 1);
        int j = i >= f + w - 1 ? deque_front(&q, i - w + 1) : -1;
        if (j >= 0) y[i] = x[j];
    }
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
 * sign * x) among the last w + 1 bars (w on the first reported bar); at: room for n indices. */
static void aroon(double *y, const double *x, int n, int w, double sign, int *at) {
    int f = first_defined(x, n);
    fill_nan(y, n);
    deque q = deque_new(at);
    for (int i = f; i < n; i++) {
        deque_push(&q, x, i, sign, 0);
        int best = i >= f + w - 1 ? deque_front(&q, i - w > f ? i - w : f) : -1;
        if (best >= 0) y[i] = 100.0 * (w - (i - best)) / w;
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

/* Fills col[T_...] (n values each) from the bars; tmp holds N_TEMP scratch series, at n indices. */
static void classic(const fin_series *s, double *const col[N_TTR], double *const tmp[N_TEMP], int *at) {
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
    run_extreme(a, h, n, 14, 1, at);
    run_extreme(b, l, n, 14, -1, at);
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
    aroon(col[T_AROON_UP_25], h, n, 25, 1, at);
    aroon(col[T_AROON_DN_25], l, n, 25, -1, at);
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
    run_extreme(col[T_DONCHIAN_HIGH_20], h, n, 20, 1, at);
    run_extreme(col[T_DONCHIAN_LOW_20], l, n, 20, -1, at);
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
    int *at = malloc((size_t)n * (N_SERIES + 2 * N_WINDOWS) * sizeof *at);
    window_state *st = malloc(N_WINDOWS * sizeof *st);
    if (!space || !at || !st) {
        free(space);
        free(at);
        free(st);
        return -1;
    }

    bars b = {.n = n, .x = {[S_HIGH] = s->high, [S_LOW] = s->low, [S_CLOSE] = s->close, [S_VOLUME] = s->volume}};
    derive(&b, space, at + (size_t)2 * N_WINDOWS * n);
    double *col[N_TTR], *tmp[N_TEMP];
    for (int k = 0; k < N_TTR; k++) col[k] = space + (size_t)n * (N_DERIVED + k);
    for (int k = 0; k < N_TEMP; k++) tmp[k] = space + (size_t)n * (N_DERIVED + N_TTR + k);
    classic(s, col, tmp, at);
    for (int w = 0; w < N_WINDOWS; w++) window_init(&st[w], windows[w], at + (size_t)2 * w * n, n);

    /* row by row, each value written once (reading a row back after it was written costs more than
     * checking each value as it goes); the windows pass every bar, the rows before `from` into a
     * scratch row */
    for (int t = 0; t < n; t++) {
        double scratch[N_FACTORS], *row = t < from ? scratch : out + (size_t)(t - from) * N_FACTORS, bar[N_BAR];
        bar_factors(s->open[t], s->high[t], s->low[t], s->close[t], bar);
        for (int k = 0; k < N_BAR; k++) row[k] = finite_or_nan(bar[k]);
        for (int w = 0; w < N_WINDOWS; w++) rolling_bar(&b, &st[w], t, row + N_BAR + w);
        for (int k = 0; k < N_TTR; k++) row[N_ALPHA158 + k] = finite_or_nan(col[k][t]);
    }
    free(space);
    free(at);
    free(st);
    return 0;
}

int fin_chandelier(const fin_series *s, int w, double mult, double *long_stop, double *short_stop) {
    int n = s ? s->n : 0;
    if (!s || n < 0 || w < 1 || !long_stop || !short_stop || (n > 0 && (!s->high || !s->low || !s->close))) return -1;
    if (n == 0) return 0;
    double *tmp = malloc((size_t)n * 4 * sizeof *tmp);
    int *at = malloc((size_t)n * sizeof *at);
    if (!tmp || !at) {
        free(tmp);
        free(at);
        return -1;
    }
    double *tr = tmp, *atr = tmp + n, *hh = tmp + 2 * n, *ll = tmp + 3 * n;
    true_range(tr, s->high, s->low, s->close, n);
    ema(atr, tr, n, w, 1);
    run_extreme(hh, s->high, n, w, 1, at);
    run_extreme(ll, s->low, n, w, -1, at);
    for (int i = 0; i < n; i++) {
        long_stop[i] = hh[i] - mult * atr[i];
        short_stop[i] = ll[i] + mult * atr[i];
    }
    free(tmp);
    free(at);
    return 0;
}
