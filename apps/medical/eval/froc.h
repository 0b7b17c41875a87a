/* froc.h: free-response ROC analysis of a lung-nodule detector exactly as the LUNA16 evaluation
 * script defines it, with the competition performance metric (CPM) and a bootstrap over scans.
 *
 * Matching, per scan: a prediction hits a nodule when its squared distance to the nodule's centre
 * is below (diameter / 2)^2. A nodule hit by several predictions counts once, with the highest
 * score among them; a prediction may hit several nodules. Predictions that hit no nodule are false
 * positives, except those that hit an irrelevant finding (the excluded annotations), which are
 * ignored. Missed nodules count in the sensitivity's denominator.
 *
 * Curve: for every distinct score t, from the highest down, the point
 *   (false positives scoring >= t / scans, nodules detected with score >= t / nodules),
 * starting at (0, 0). The sensitivity at a rate of r false positives per scan is read off this
 * curve by linear interpolation in r (numpy.interp: at a rate shared by several points the highest
 * sensitivity, past the last point the last sensitivity). The CPM is the mean sensitivity at
 * 1/8, 1/4, 1/2, 1, 2, 4 and 8 false positives per scan. */
#ifndef MOE_MEDICAL_FROC_H
#define MOE_MEDICAL_FROC_H

#include "luna_csv.h"
#include "moecore/rng.h"
#include "moecore/status.h"

#define MED_FROC_N_RATES 7
extern const double med_froc_rates[MED_FROC_N_RATES]; /* 0.125 .. 8 false positives per scan */

/* Points of the FROC curve between 1/8 and 8 false positives per scan at which the bootstrap
 * band is computed (log-spaced, both ends included). */
#define MED_FROC_N_GRID 97

/* The matched detections of a set of scans, ready for FROC curves over any resampling of the scans. */
typedef struct med_froc_data med_froc_data;

typedef struct med_froc_counts {
    int scans;          /* scans evaluated */
    int nodules;        /* nodules in those scans */
    int detected;       /* nodules hit by at least one prediction, at any score */
    int predictions;    /* predictions on those scans */
    int false_positives;
    int ignored;        /* predictions on irrelevant findings only */
    int outside;        /* predictions on scans not in the list, left out */
    int nodules_outside;/* annotations on scans not in the list, left out */
} med_froc_counts;

/* Matches predictions to annotations (and to excluded findings when excluded is not NULL) on the
 * scans uids[0 .. n_scans) (distinct). Marks on other scans are left out and counted. On success
 * *out is owned by the caller (med_froc_data_free). */
mc_status med_froc_prepare(med_froc_data **out, const med_marks *annotations, const med_marks *excluded,
                           const med_marks *predictions, char *const *uids, int n_scans, mc_error *err);

void med_froc_data_free(med_froc_data *d);

const med_froc_counts *med_froc_counts_of(const med_froc_data *d);

/* The FROC curve of all scans: n points (fps[i], sens[i]) for scores >= thr[i] (thr[0] = +inf),
 * rates non-decreasing. Arrays owned by the caller (free each). MC_ERR_ARG when there are no nodules. */
mc_status med_froc_curve(const med_froc_data *d, double **fps, double **sens, double **thr, int *n, mc_error *err);

/* Sensitivity at each of MED_FROC_N_RATES rates and the CPM, for all scans. */
mc_status med_froc_sensitivities(const med_froc_data *d, double sens[MED_FROC_N_RATES], double *cpm, mc_error *err);

/* numpy.interp(x, xp, fp) for non-decreasing xp (n >= 1). */
double med_froc_interp(double x, const double *xp, const double *fp, int n);

typedef struct med_froc_bootstrap {
    int samples;     /* resamples drawn */
    int used;        /* those with at least one nodule (the others have no sensitivity) */
    double level;    /* 0.95 */
    double sens_lo[MED_FROC_N_RATES], sens_hi[MED_FROC_N_RATES], sens_mean[MED_FROC_N_RATES];
    double cpm_lo, cpm_hi, cpm_mean;
    double grid[MED_FROC_N_GRID]; /* false positives per scan */
    double grid_lo[MED_FROC_N_GRID], grid_hi[MED_FROC_N_GRID];
} med_froc_bootstrap;

/* Percentile bootstrap over scans: samples resamples of the scans with replacement (as many as there
 * are, drawn from rng), each giving a FROC curve, its sensitivities and its CPM; the interval is the
 * central level share (percentiles by linear interpolation, as numpy.percentile). */
mc_status med_froc_bootstrap_run(const med_froc_data *d, int samples, double level, mc_rng *rng,
                                 med_froc_bootstrap *out, mc_error *err);

#endif
