/* roc.c: AUROC by the rank-sum (Mann-Whitney) form with average ranks for ties, and the ROC curve. */
#include "moecore/roc.h"

#include <stdlib.h>

typedef struct scored {
    float s;
    uint8_t y;
} scored;

static int by_score(const void *a, const void *b) {
    float x = ((const scored *)a)->s, y = ((const scored *)b)->s;
    return (x > y) - (x < y);
}

/* The samples sorted by ascending score into *out (the caller frees it), with the class counts.
 * MC_ERR_NOMEM when out of memory, MC_ERR_ARG (and nothing to free) when a class is empty. */
static mc_status sorted_scores(const float *scores, const uint8_t *labels, int64_t n, scored **out, int64_t *pos,
                               int64_t *neg) {
    scored *v = malloc(sizeof(scored) * (size_t)(n > 0 ? n : 1));
    if (!v) return MC_ERR_NOMEM;
    *pos = *neg = 0;
    for (int64_t i = 0; i < n; i++) {
        v[i].s = scores[i];
        v[i].y = labels[i] ? 1 : 0;
        *pos += v[i].y;
    }
    *neg = n - *pos;
    if (*pos == 0 || *neg == 0) {
        free(v);
        return MC_ERR_ARG;
    }
    qsort(v, (size_t)n, sizeof *v, by_score);
    *out = v;
    return MC_OK;
}

mc_status mc_auroc(const float *scores, const uint8_t *labels, int64_t n, double *auroc) {
    if (!scores || !labels || n < 2 || !auroc) return MC_ERR_ARG;
    int64_t P, N;
    scored *v;
    mc_status st = sorted_scores(scores, labels, n, &v, &P, &N);
    if (st != MC_OK) return st;
    double rank_sum = 0; /* sum of the positives' ranks (1-based, ties averaged) */
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        int64_t pos_in_tie = 0;
        while (j < n && v[j].s == v[i].s) pos_in_tie += v[j++].y;
        rank_sum += pos_in_tie * (0.5 * (double)(i + 1 + j));
        i = j;
    }
    free(v);
    *auroc = (rank_sum - 0.5 * (double)P * (double)(P + 1)) / ((double)P * (double)N);
    return MC_OK;
}

mc_status mc_roc_curve(const float *scores, const uint8_t *labels, int64_t n, double *fpr, double *tpr,
                        int max_points, int *n_points) {
    if (!scores || !labels || n < 2 || !fpr || !tpr || max_points < 2 || !n_points) return MC_ERR_ARG;
    int64_t P, N;
    scored *v;
    mc_status st = sorted_scores(scores, labels, n, &v, &P, &N);
    if (st != MC_OK) return st;
    /* every distinct threshold from the highest score down, then thinned evenly */
    double *fx = malloc(sizeof(double) * (size_t)(n + 1)), *fy = malloc(sizeof(double) * (size_t)(n + 1));
    if (!fx || !fy) {
        free(fx);
        free(fy);
        free(v);
        return MC_ERR_NOMEM;
    }
    int64_t m = 0, tp = 0, fp = 0;
    fx[m] = fy[m] = 0;
    m++;
    for (int64_t i = n - 1; i >= 0;) {
        int64_t j = i;
        for (; j >= 0 && v[j].s == v[i].s; j--) {
            tp += v[j].y;
            fp += !v[j].y;
        }
        fx[m] = (double)fp / (double)N;
        fy[m] = (double)tp / (double)P;
        m++;
        i = j;
    }
    int k = m < max_points ? (int)m : max_points;
    for (int i = 0; i < k; i++) {
        int64_t src = k == 1 ? 0 : (int64_t)((double)i * (double)(m - 1) / (double)(k - 1) + 0.5);
        fpr[i] = fx[src];
        tpr[i] = fy[src];
    }
    free(fx);
    free(fy);
    *n_points = k;
    free(v);
    return MC_OK;
}
