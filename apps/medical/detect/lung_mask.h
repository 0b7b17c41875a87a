/* lung_mask.h: the lungs of a chest CT as a voxel mask: air below a threshold (-400 HU) inside the
 * body, with the air outside the body (connected to the sides of the slices) removed, the two largest
 * remaining air components kept (the lungs, or one when they are joined), then a morphological
 * closing with a ball, slice-by-slice hole filling and a small dilation, so that vessels, airway
 * walls and nodules touching the pleura (juxtapleural) lie inside the mask. Also the Euclidean distance transform the
 * closing is built on. */
#ifndef MOE_MEDICAL_LUNG_MASK_H
#define MOE_MEDICAL_LUNG_MASK_H

#include <stdint.h>

#include "moecore/status.h"
#include "volume.h"

typedef struct med_lung_mask_opts {
    double threshold_hu;    /* air below this: -400 */
    double closing_mm;      /* radius of the closing ball: 10 mm fills the dents of juxtapleural nodules */
    double dilation_mm;     /* then a dilation that takes in the pleural surface the closing leaves out near
                             * a nodule's rim: 2 mm */
    double min_volume_ml;   /* air components smaller than this are not lungs: 50 mL */
    double second_fraction; /* the second component is a lung only when at least this share of the first: 0.2 */
} med_lung_mask_opts;

void med_lung_mask_opts_default(med_lung_mask_opts *o);

typedef struct med_lung_mask_info {
    int components;        /* air components kept: 0, 1 or 2 */
    double volume_ml[2];   /* their volumes before closing */
    double mask_ml;        /* the final mask's volume */
} med_lung_mask_info;

/* mask[med_volume_index(v, i, j, k)] = 1 inside the lungs, else 0; *mask is owned by the caller
 * (free). A volume without lungs gives an all-zero mask and components 0 (not an error). */
mc_status med_lung_mask(const med_volume *v, const med_lung_mask_opts *o, uint8_t **mask, med_lung_mask_info *info,
                        mc_error *err);

/* Squared Euclidean distance (mm^2) from every voxel to the nearest voxel where m == value, with the
 * volume's spacing; 1e20 where there is none. dist has nx * ny * nz floats. Exact (separable lower
 * envelopes of parabolas, Felzenszwalb and Huttenlocher 2012). Returns MC_ERR_NOMEM or MC_OK. */
mc_status med_distance_sq(const uint8_t *m, uint8_t value, int nx, int ny, int nz, const double spacing[3],
                          float *dist);

#endif
