/* candidates.h: nodule candidates in a CT volume: bright blobs found by a multi-scale Hessian
 * eigenvalue filter inside the lung mask, as world positions with a diameter estimate and a response.
 *
 * The filter sees the lungs alone: outside the mask the volume is taken as parenchyma (-860 HU), and
 * inside it no value counts above a ceiling (-400 HU). So the chest wall and mediastinum no longer
 * drown a nodule against them, and a faint ground-glass nodule beside a vessel stands out as much as
 * the vessel does.
 *
 * At each scale sigma (log-spaced so that the diameters 2 sqrt(3) sigma span the range asked for) the
 * volume is smoothed by a Gaussian and its Hessian taken; where all three eigenvalues are negative
 * (l1 <= l2 <= l3 < 0: bright in every direction) the response is the scale-normalised dot filter
 * sigma^2 l3^2 / |l1| (Li, Sone and Doi 2003), in HU; a tube (l3 near 0) or a sheet answers little.
 * Each voxel keeps its best scale; candidates are the 3D local maxima (26 neighbours) of that best
 * response inside the mask, refined to sub-voxel position and scale by parabolas, then thinned by
 * non-maximum suppression: a candidate within the radius of a stronger one is dropped. */
#ifndef MOE_MEDICAL_CANDIDATES_H
#define MOE_MEDICAL_CANDIDATES_H

#include <stdint.h>

#include "moecore/status.h"
#include "volume.h"

typedef struct med_candidate {
    double x, y, z;     /* world position, mm */
    double i, j, k;     /* voxel coordinates (sub-voxel) */
    double diameter_mm; /* 2 sqrt(3) sigma at the best scale: a ball's diameter */
    double response;    /* the dot filter at the best scale, HU */
    float hu;           /* the voxel's value */
} med_candidate;

typedef struct med_candidate_opts {
    double min_diameter_mm; /* 3 */
    double max_diameter_mm; /* 30 */
    int scales;             /* 8 */
    double min_response;    /* 30 HU */
    int max_candidates;     /* 300, strongest first */
    double ceiling_hu;      /* -400: values above count as this */
    double outside_hu;      /* -860: the value taken outside the mask (not above the ceiling) */
} med_candidate_opts;

void med_candidate_opts_default(med_candidate_opts *o);

/* Candidates of v inside mask (NULL: everywhere), strongest first. *out is owned by the caller (free);
 * *n may be 0. The work covers the mask's bounding box plus a margin. MC_ERR_ARG for bad options. */
mc_status med_candidates_find(const med_volume *v, const uint8_t *mask, const med_candidate_opts *o,
                              med_candidate **out, int *n, mc_error *err);

#endif
