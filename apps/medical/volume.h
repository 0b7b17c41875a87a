/* volume.h: a CT volume in Hounsfield units with its place in the patient coordinate system
 * (DICOM LPS, millimetres), the one type every stage of moe-medical passes along. */
#ifndef MOE_MEDICAL_VOLUME_H
#define MOE_MEDICAL_VOLUME_H

#include <stddef.h>

/* Voxel (i, j, k) = column i, row j, slice k lies at
 *   world = origin + i * spacing[0] * row_dir + j * spacing[1] * col_dir + k * spacing[2] * normal
 * where row_dir is the direction of increasing column index (DICOM Image Orientation, first
 * triplet), col_dir that of increasing row index (second triplet), and normal the direction of
 * increasing slice index (their cross product, or its opposite when slices were stored the
 * other way; volumes built by moe-medical always have slices ordered along +row_dir x col_dir).
 * hu[(k * ny + j) * nx + i]. */
typedef struct med_volume {
    int nx, ny, nz;
    double spacing[3];   /* mm between columns, rows, slices */
    double origin[3];    /* world position of voxel (0, 0, 0), mm */
    double dir[3][3];    /* dir[0] = row_dir, dir[1] = col_dir, dir[2] = slice normal; unit vectors */
    float *hu;           /* nx * ny * nz values, owned */
} med_volume;

/* An empty volume of the given size and geometry with every voxel at fill; NULL when out of
 * memory or a size is not positive. Caller frees with med_volume_free. */
med_volume *med_volume_new(int nx, int ny, int nz, const double spacing[3], const double origin[3],
                           const double dir[3][3], float fill);

void med_volume_free(med_volume *v);

/* World position (mm) of the continuous voxel coordinate (i, j, k), and back. */
void med_volume_to_world(const med_volume *v, const double ijk[3], double xyz[3]);
void med_volume_to_voxel(const med_volume *v, const double xyz[3], double ijk[3]);

static inline size_t med_volume_index(const med_volume *v, int i, int j, int k) {
    return ((size_t)k * (size_t)v->ny + (size_t)j) * (size_t)v->nx + (size_t)i;
}

#endif
