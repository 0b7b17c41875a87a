/* roc.h: the receiver operating characteristic of scores against binary labels: the area under it
 * (AUROC, ties counted half, as scikit-learn's roc_auc_score) and the curve itself for plotting. */
#ifndef MOECORE_ROC_H
#define MOECORE_ROC_H

#include <stdint.h>

#include "moecore/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* AUROC of scores (n) against labels (n, 1 = positive, 0 = negative): the probability that a
 * random positive scores above a random negative, ties counted half. MC_ERR_ARG when either class
 * is absent. */
mc_status mc_auroc(const float *scores, const uint8_t *labels, int64_t n, double *auroc);

/* The ROC curve at every distinct score, from (0, 0) to (1, 1), thinned to at most max_points
 * points (the first and last kept): fpr and tpr (max_points each, allocated by the caller) and
 * *n_points. */
mc_status mc_roc_curve(const float *scores, const uint8_t *labels, int64_t n, double *fpr, double *tpr,
                       int max_points, int *n_points);

#ifdef __cplusplus
}
#endif
#endif
