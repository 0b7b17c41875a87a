/* threshold.h: the decision threshold of a model, calibrated on validation scores. An image is a
 * defect when its score is above the threshold. Three ways:
 *   - cost: with good and defect scores, the threshold minimising cost_ratio * missed defects +
 *     false alarms (default 20:1), counted on the validation sets;
 *   - recall: the highest threshold that still flags the target fraction of the defects;
 *   - quantile: with good scores only, that quantile of the good scores (linear interpolation, as
 *     numpy's default), so about 1 - q of good images would raise an alarm.
 * Candidate thresholds lie halfway between neighbouring distinct scores, never on a score. */
#ifndef MOE_FACTORY_THRESHOLD_H
#define MOE_FACTORY_THRESHOLD_H

#include <stddef.h>

#include "moecore/status.h"

typedef enum fab_threshold_method {
    FAB_THRESHOLD_COST = 0,
    FAB_THRESHOLD_RECALL,
    FAB_THRESHOLD_QUANTILE,
    FAB_THRESHOLD_FPR
} fab_threshold_method;

typedef struct fab_threshold_opts {
    fab_threshold_method method;
    double cost_ratio; /* cost of a missed defect over a false alarm, > 0 */
    double recall;     /* target recall in (0, 1] */
    double quantile;   /* good-score quantile in (0, 1) */
    double target_fpr; /* target false-alarm rate in (0, 0.5) */
    int logit;         /* fpr: the scores are probabilities in (0, 1) */
} fab_threshold_opts;

/* Defaults: fpr 0.01, cost 20:1, recall 0.95, quantile 0.99. */
void fab_threshold_opts_default(fab_threshold_opts *o);

/* The name of a method ("cost", "recall", "quantile", "fpr") and its parse (0, or -1 when unknown). */
const char *fab_threshold_method_name(fab_threshold_method m);
int fab_threshold_method_parse(const char *s, fab_threshold_method *out);

/* Calibrates *threshold from good[n_good] and defect[n_defect] scores. cost and recall need both
 * classes; quantile and fpr need at least two good scores and ignore defects. On MC_ERR_ARG why says what
 * is missing. */
mc_status fab_threshold_calibrate(const double *good, int n_good, const double *defect, int n_defect,
                                  const fab_threshold_opts *o, double *threshold, char *why, size_t why_size);

#endif
