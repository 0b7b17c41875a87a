/* resample.h: the intensity and geometry preprocessing of a CT volume before detection: resampling
 * to a given (usually isotropic, 1 mm) voxel spacing by trilinear interpolation with the world
 * geometry kept, and Hounsfield-unit windowing to [0, 1]. */
#ifndef MOE_MEDICAL_RESAMPLE_H
#define MOE_MEDICAL_RESAMPLE_H

#include "moecore/status.h"
#include "volume.h"

#define MED_RESAMPLE_MAX_VOXELS ((size_t)1 << 31) /* refuse outputs larger than this */

/* A new volume with spacing[] mm between columns, rows and slices, the same directions and the same
 * origin (voxel (0, 0, 0) stays where it was), covering the input: n' = floor((n - 1) * s / s') + 1
 * voxels per axis. Output voxel i' lies at input voxel coordinate i' * s' / s and takes the trilinear
 * interpolation of the 8 input voxels around it, so every output voxel sits at the world position it
 * claims. *out is owned by the caller (med_volume_free). MC_ERR_ARG for a spacing not in
 * (0, 100] mm or an output over MED_RESAMPLE_MAX_VOXELS. */
mc_status med_resample(const med_volume *in, const double spacing[3], med_volume **out, mc_error *err);

/* med_resample with the same spacing on every axis (1 mm for the detector). */
mc_status med_resample_isotropic(const med_volume *in, double mm, med_volume **out, mc_error *err);

/* out[i] = clamp((hu[i] - (level - width / 2)) / width, 0, 1) for the n values; width > 0.
 * The lung window is level -600, width 1500. */
void med_window(const float *hu, size_t n, double level, double width, float *out);

#endif
