/* fusion.h: the malignancy risk of a finding: a learned fusion layer, logistic regression over the
 * nodule's image features (diameter, type) and the patient's clinical fields (age, sex, smoking,
 * pack-years, family history, emphysema), fitted on labelled studies (the phantom's truth.csv), and
 * multiplied by the detector's probability that the finding is a nodule at all; with the Brock
 * (PanCan) risk computed beside it from the same finding and record.
 *
 * Features (MED_FUSION_N, the first the intercept): 1, (diameter - 8) / 10, part-solid, ground-glass,
 * (age - 62) / 10, female, family history, emphysema, pack-years / 10, current smoker, former smoker;
 * an unknown clinical field contributes 0 (its centre). */
#ifndef MOE_MEDICAL_FUSION_H
#define MOE_MEDICAL_FUSION_H

#include "brock.h"
#include "clinical.h"
#include "moecore/status.h"

#define MED_FUSION_N 11

typedef struct med_fusion {
    double w[MED_FUSION_N];
    int n_fit;      /* studies it was fitted on */
    int n_positive; /* of which malignant */
} med_fusion;

/* The feature vector of a nodule of diameter mm and type t in a patient with record c (NULL: all
 * unknown). */
void med_fusion_features(const med_clinical *c, double diameter_mm, med_nodule_type t, double f[MED_FUSION_N]);

/* Fits w by Newton's method (iteratively reweighted least squares) on X (n, MED_FUSION_N) and 0/1
 * labels y, with an L2 penalty lambda on every weight but the intercept. MC_ERR_ARG without both
 * classes. */
mc_status med_fusion_fit(const double *X, const int *y, int n, double lambda, med_fusion *out, mc_error *err);

/* The probability of malignancy of features f: 1 / (1 + exp(-w . f)). */
double med_fusion_risk(const med_fusion *m, const double f[MED_FUSION_N]);

/* Fits the fusion on labelled studies: the largest nodule of each series in nodules (seriesuid,
 * diameter_mm, type), its record in clinical, its label in truth (seriesuid, malignant); series
 * without nodules are left out. err names the file and line at fault. */
mc_status med_fusion_fit_files(const char *nodules, const char *clinical, const char *truth, med_fusion *out,
                               mc_error *err);

/* As JSON text {"features": [...names], "w": [...], "n_fit": N, "n_positive": P} (caller frees), and
 * back (MC_ERR_FORMAT naming what is wrong). */
char *med_fusion_to_json(const med_fusion *m);
mc_status med_fusion_from_json(const char *text, med_fusion *m, mc_error *err);

/* The record of a series in rows: by seriesuid, else by patient_id; NULL when none. */
const med_clinical *med_clinical_find(const med_clinical *rows, int n, const char *series_uid, const char *patient_id);

/* The Brock risk of a nodule of diameter mm and type t, one of count on the scan, for record c; NAN
 * when the record lacks the age or the sex. Spiculation and the lobe are not measured: taken as 0. */
double med_brock_of(const med_clinical *c, double diameter_mm, med_nodule_type t, int count);

#endif
