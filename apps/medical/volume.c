/* volume.c: allocation of CT volumes and the voxel <-> world (DICOM LPS, mm) mapping. */
#include "volume.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

med_volume *med_volume_new(int nx, int ny, int nz, const double spacing[3], const double origin[3],
                           const double dir[3][3], float fill) {
    if (nx <= 0 || ny <= 0 || nz <= 0) return NULL;
    size_t n = (size_t)nx * (size_t)ny;
    if (n > SIZE_MAX / sizeof(float) / (size_t)nz) return NULL;
    n *= (size_t)nz;
    med_volume *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->hu = malloc(n * sizeof(float));
    if (!v->hu) {
        free(v);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) v->hu[i] = fill;
    v->nx = nx;
    v->ny = ny;
    v->nz = nz;
    memcpy(v->spacing, spacing, sizeof v->spacing);
    memcpy(v->origin, origin, sizeof v->origin);
    memcpy(v->dir, dir, sizeof v->dir);
    return v;
}

void med_volume_free(med_volume *v) {
    if (!v) return;
    free(v->hu);
    free(v);
}

void med_volume_to_world(const med_volume *v, const double ijk[3], double xyz[3]) {
    for (int a = 0; a < 3; a++) {
        xyz[a] = v->origin[a];
        for (int d = 0; d < 3; d++) xyz[a] += ijk[d] * v->spacing[d] * v->dir[d][a];
    }
}

/* The three directions are orthonormal, so the inverse is the transpose. */
void med_volume_to_voxel(const med_volume *v, const double xyz[3], double ijk[3]) {
    double rel[3] = {xyz[0] - v->origin[0], xyz[1] - v->origin[1], xyz[2] - v->origin[2]};
    for (int d = 0; d < 3; d++)
        ijk[d] = (rel[0] * v->dir[d][0] + rel[1] * v->dir[d][1] + rel[2] * v->dir[d][2]) / v->spacing[d];
}
