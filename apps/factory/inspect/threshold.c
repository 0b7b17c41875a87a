/* threshold.c: threshold calibration by cost, by target recall, by a quantile of good scores, or by a
 * target false-alarm rate from an extreme-value law fitted to the good scores. */
#include "threshold.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fab_threshold_opts_default(fab_threshold_opts *o) {
    o->method = FAB_THRESHOLD_FPR;
    o->target_fpr = 0.01;
    o->logit = 0;
    o->cost_ratio = 20;
    o->recall = 0.95;
    o->quantile = 0.99;
}

const char *fab_threshold_method_name(fab_threshold_method m) {
    return m == FAB_THRESHOLD_COST ? "cost" : m == FAB_THRESHOLD_RECALL ? "recall" : m == FAB_THRESHOLD_FPR ? "fpr" : "quantile";
}

int fab_threshold_method_parse(const char *s, fab_threshold_method *out) {
    if (strcmp(s, "cost") == 0) *out = FAB_THRESHOLD_COST;
    else if (strcmp(s, "recall") == 0) *out = FAB_THRESHOLD_RECALL;
    else if (strcmp(s, "quantile") == 0) *out = FAB_THRESHOLD_QUANTILE;
    else if (strcmp(s, "fpr") == 0) *out = FAB_THRESHOLD_FPR;
    else return -1;
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A threshold just below s when nothing lies between: s minus a small relative step. */
static double just_below(double s) { return s - (fabs(s) * 1e-6 + 1e-9); }

static double just_above(double s) { return s + (fabs(s) * 1e-6 + 1e-9); }

/* Every score, sorted, with 1 for defects. */
typedef struct labelled {
    double s;
    int defect;
} labelled;

static int cmp_labelled(const void *a, const void *b) {
    double x = ((const labelled *)a)->s, y = ((const labelled *)b)->s;
    return (x > y) - (x < y);
}

static mc_status by_cost(const double *good, int ng, const double *defect, int nd, double ratio, double *t) {
    int n = ng + nd;
    labelled *v = malloc(sizeof(labelled) * (size_t)n);
    if (!v) return MC_ERR_NOMEM;
    for (int i = 0; i < ng; i++) v[i] = (labelled){good[i], 0};
    for (int i = 0; i < nd; i++) v[ng + i] = (labelled){defect[i], 1};
    qsort(v, (size_t)n, sizeof *v, cmp_labelled);
    /* threshold below everything: every image flagged; then move it up past each distinct score */
    int fn = 0, fp = ng;
    double best = ratio * fn + fp, best_t = just_below(v[0].s);
    for (int i = 0; i < n;) {
        int j = i;
        for (; j < n && v[j].s == v[i].s; j++) {
            if (v[j].defect) fn++;
            else fp--;
        }
        double t = j < n ? 0.5 * (v[i].s + v[j].s) : just_above(v[i].s);
        double cost = ratio * fn + fp;
        if (cost < best) { /* strictly better: among equal costs the lowest threshold (fewest misses) stays */
            best = cost;
            best_t = t;
        }
        i = j;
    }
    free(v);
    *t = best_t;
    return MC_OK;
}

static mc_status by_recall(const double *good, int ng, const double *defect, int nd, double recall, double *t) {
    double *d = malloc(sizeof(double) * (size_t)nd);
    if (!d) return MC_ERR_NOMEM;
    memcpy(d, defect, sizeof(double) * (size_t)nd);
    qsort(d, (size_t)nd, sizeof *d, cmp_double);
    int k = (int)ceil(recall * nd - 1e-9); /* defects that must score above the threshold */
    if (k < 1) k = 1;
    double dk = d[nd - k];
    /* the highest score of either class below dk: the threshold goes halfway down to it */
    double below = -INFINITY;
    for (int i = 0; i < ng; i++)
        if (good[i] < dk && good[i] > below) below = good[i];
    for (int i = 0; i < nd; i++)
        if (d[i] < dk && d[i] > below) below = d[i];
    *t = isinf(below) ? just_below(dk) : 0.5 * (below + dk);
    free(d);
    return MC_OK;
}

static mc_status by_quantile(const double *good, int ng, double q, double *t) {
    double *g = malloc(sizeof(double) * (size_t)ng);
    if (!g) return MC_ERR_NOMEM;
    memcpy(g, good, sizeof(double) * (size_t)ng);
    qsort(g, (size_t)ng, sizeof *g, cmp_double);
    double pos = q * (ng - 1);
    int lo = (int)floor(pos);
    int hi = lo + 1 < ng ? lo + 1 : lo;
    *t = g[lo] + (pos - lo) * (g[hi] - g[lo]);
    free(g);
    return MC_OK;
}

/* The 1 - f quantile of the Gumbel law with the mean and standard deviation of the good scores
 * (of their log-odds when logit): scale b = sd sqrt(6) / pi, location m = mean - 0.5772 b,
 * quantile m - b ln(-ln(1 - f)). */
static mc_status by_fpr(const double *good, int ng, double f, int logit, double *t) {
    double sum = 0, sq = 0;
    for (int i = 0; i < ng; i++) {
        double v = good[i];
        if (logit) {
            v = v < 1e-12 ? 1e-12 : v > 1 - 1e-12 ? 1 - 1e-12 : v;
            v = log(v / (1 - v));
        }
        sum += v;
        sq += v * v;
    }
    double mean = sum / ng, var = (sq - sum * mean) / (ng - 1);
    double b = sqrt(var > 0 ? var : 0) * sqrt(6.0) / M_PI, m = mean - 0.5772156649 * b;
    double q = m - b * log(-log1p(-f));
    *t = logit ? 1 / (1 + exp(-q)) : q;
    return MC_OK;
}

mc_status fab_threshold_calibrate(const double *good, int n_good, const double *defect, int n_defect,
                                  const fab_threshold_opts *o, double *threshold, char *why, size_t why_size) {
    if (!o || !threshold || n_good < 0 || n_defect < 0) return MC_ERR_ARG;
    for (int i = 0; i < n_good; i++)
        if (!isfinite(good[i])) return snprintf(why, why_size, "a good score is not finite"), MC_ERR_ARG;
    for (int i = 0; i < n_defect; i++)
        if (!isfinite(defect[i])) return snprintf(why, why_size, "a defect score is not finite"), MC_ERR_ARG;
    switch (o->method) {
    case FAB_THRESHOLD_COST:
    case FAB_THRESHOLD_RECALL:
        if (n_good < 1 || n_defect < 1) {
            snprintf(why, why_size, "%s calibration needs validation scores of good and defect images (%d good, %d defect)",
                     fab_threshold_method_name(o->method), n_good, n_defect);
            return MC_ERR_ARG;
        }
        if (o->method == FAB_THRESHOLD_COST) {
            if (!(o->cost_ratio > 0)) return snprintf(why, why_size, "cost ratio must be positive"), MC_ERR_ARG;
            return by_cost(good, n_good, defect, n_defect, o->cost_ratio, threshold);
        }
        if (!(o->recall > 0 && o->recall <= 1)) return snprintf(why, why_size, "recall must be in (0, 1]"), MC_ERR_ARG;
        return by_recall(good, n_good, defect, n_defect, o->recall, threshold);
    case FAB_THRESHOLD_QUANTILE:
        if (n_good < 2) {
            snprintf(why, why_size, "quantile calibration needs at least 2 good validation scores (%d)", n_good);
            return MC_ERR_ARG;
        }
        if (!(o->quantile > 0 && o->quantile < 1)) return snprintf(why, why_size, "quantile must be in (0, 1)"), MC_ERR_ARG;
        return by_quantile(good, n_good, o->quantile, threshold);
    case FAB_THRESHOLD_FPR:
        if (n_good < 2) {
            snprintf(why, why_size, "fpr calibration needs at least 2 good validation scores (%d)", n_good);
            return MC_ERR_ARG;
        }
        if (!(o->target_fpr > 0 && o->target_fpr < 0.5)) return snprintf(why, why_size, "target false-alarm rate must be in (0, 0.5)"), MC_ERR_ARG;
        return by_fpr(good, n_good, o->target_fpr, o->logit, threshold);
    }
    return MC_ERR_ARG;
}
