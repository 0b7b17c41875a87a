/* nifti_out.h: a CT volume written as NIfTI-1 (.nii or .nii.gz) for viewers such as 3D Slicer and
 * ITK-SNAP, with the scanner's geometry in both qform and sform.
 *
 * NIfTI's world is RAS (+x towards the patient's right, +y anterior, +z superior), DICOM's is LPS
 * (+x left, +y posterior, +z superior): the NIfTI affine is the DICOM voxel -> world mapping with
 * its x and y rows negated, so that every voxel sits where the scanner put it. */
#ifndef MOE_MEDICAL_NIFTI_OUT_H
#define MOE_MEDICAL_NIFTI_OUT_H

#include "moecore/status.h"
#include "volume.h"

/* The voxel (i, j, k, 1) -> RAS mm affine of v. */
void med_nifti_affine(const med_volume *v, double m[4][4]);

/* Writes v to path (gzip-compressed at level 1 when the name ends with .gz: four times faster than
 * the default level for files a few percent larger): int16 when every value is a whole
 * number in its range, float32 otherwise; units mm; qform and sform code 1 (scanner
 * anatomical). The file appears complete or not at all (written aside, then renamed). */
mc_status med_nifti_write(const char *path, const med_volume *v, mc_error *err);

#endif
