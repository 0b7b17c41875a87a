/* brock.h: the Brock University (PanCan) probability that a lung nodule found on a baseline screening
 * CT is cancer: the full logistic model with spiculation of McWilliams et al., "Probability of cancer
 * in pulmonary nodules detected on first screening CT", N Engl J Med 2013;369:910-9 (model 2b).
 *
 *   logit = -6.7892
 *         + 0.0287 * (age - 62)
 *         + 0.6011 * female
 *         + 0.2961 * family history of lung cancer
 *         + 0.2953 * emphysema
 *         - 5.3854 * ((size / 10) ^ -0.5 - 1.58113883)     size in mm
 *         + type: 0 solid, 0.377 part-solid, -0.1276 ground-glass (non-solid)
 *         + 0.6581 * upper lobe
 *         - 0.0824 * (nodule count - 4)
 *         + 0.7729 * spiculation
 *   probability = 1 / (1 + exp(-logit))
 *
 * The coefficients and centring are the paper's (its supplementary table of model 2b): age about 62
 * years, size through the transform (size / 10)^-0.5 about 1.58113883 = sqrt(2.5) (a 4 mm nodule),
 * count about 4. Size is the nodule's longest diameter in mm, as PanCan measured it. */
#ifndef MOE_MEDICAL_BROCK_H
#define MOE_MEDICAL_BROCK_H

#include "moecore/status.h"

typedef enum med_nodule_type {
    MED_NODULE_SOLID = 0,
    MED_NODULE_PART_SOLID,
    MED_NODULE_GROUND_GLASS /* non-solid */
} med_nodule_type;

typedef struct med_brock_input {
    double age;             /* years */
    int female;             /* 1 female, 0 male */
    int family_history;     /* of lung cancer: 1 or 0 */
    int emphysema;          /* on the CT: 1 or 0 */
    double size_mm;         /* > 0 */
    med_nodule_type type;
    int upper_lobe;         /* 1 when in an upper lobe */
    int nodule_count;       /* nodules on the scan, >= 1 */
    int spiculation;        /* 1 or 0 */
} med_brock_input;

/* The model's log-odds and probability of cancer. MC_ERR_ARG (with err saying which input) when an
 * input is out of range: age outside 0..120, size not in (0, 300] mm, count < 1, a flag not 0 or 1. */
mc_status med_brock(const med_brock_input *in, double *logit, double *probability, mc_error *err);

/* "solid", "part-solid", "ground-glass"; and back, accepting also "partsolid", "part_solid",
 * "nonsolid", "non-solid", "ggn", "ggo", "gg" (case-insensitive); "subsolid" is refused as
 * ambiguous. Returns 0 or -1. */
const char *med_nodule_type_name(med_nodule_type t);
int med_nodule_type_parse(const char *s, med_nodule_type *out);

#endif
