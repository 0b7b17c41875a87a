/* lungrads.h: the Lung-RADS v2022 category of a nodule on a baseline (first) screening CT from its
 * size and type (American College of Radiology, Lung-RADS v2022):
 *
 *   solid          < 6 mm: 2     6 to < 8 mm: 3     8 to < 15 mm: 4A     >= 15 mm: 4B
 *   part-solid     < 6 mm: 2     >= 6 mm with solid part < 6 mm: 3
 *                  solid part 6 to < 8 mm: 4A       solid part >= 8 mm: 4B
 *   ground-glass   < 30 mm: 2    >= 30 mm: 3
 *
 * Sizes are mean diameters (average of the long and short axes) rounded to one decimal place, as
 * v2022 asks, before the thresholds apply. Also from v2022: a solid nodule < 10 mm with benign
 * juxtapleural or perifissural features is 2; a segmental or more proximal airway nodule is 4A; a
 * category 3 or 4 nodule with features that raise the suspicion of cancer (e.g. spiculation) is 4X.
 * The exam's category is the highest of its nodules', 1 with none. Follow-up scans (growth, new
 * nodules, stability) are not covered. */
#ifndef MOE_MEDICAL_LUNGRADS_H
#define MOE_MEDICAL_LUNGRADS_H

#include "brock.h"
#include "moecore/status.h"

typedef enum med_lungrads {
    MED_LUNGRADS_1 = 1, /* negative: no nodules */
    MED_LUNGRADS_2,     /* benign appearance */
    MED_LUNGRADS_3,     /* probably benign */
    MED_LUNGRADS_4A,    /* suspicious */
    MED_LUNGRADS_4B,    /* very suspicious */
    MED_LUNGRADS_4X     /* 3 or 4 with additional features */
} med_lungrads;

typedef struct med_lungrads_nodule {
    med_nodule_type type;
    double diameter_mm;   /* mean diameter of the whole nodule */
    double solid_mm;      /* part-solid: mean diameter of the solid component (<= diameter_mm) */
    int perifissural;     /* solid with benign juxtapleural/perifissural features */
    int airway;           /* segmental or more proximal airway nodule */
    int suspicious;       /* additional features of malignancy (spiculation, ...) */
} med_lungrads_nodule;

/* The baseline category of one nodule. MC_ERR_ARG when a size is negative or not finite, or the solid
 * component of a part-solid nodule is larger than the nodule. */
mc_status med_lungrads_category(const med_lungrads_nodule *n, med_lungrads *out, mc_error *err);

/* The exam's category: the highest of cats[0 .. n), MED_LUNGRADS_1 when n is 0. */
med_lungrads med_lungrads_exam(const med_lungrads *cats, int n);

/* "1", "2", "3", "4A", "4B", "4X". */
const char *med_lungrads_name(med_lungrads c);

#endif
