/* resample.c: trilinear resampling with the world geometry kept, and HU windowing. */
#include "resample.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* Per output index along one axis: the lower input index and the weight of the upper one. */
static int axis_table(int n_in, double s_in, double s_out, int n_out, int **lo, float **w) {
    *lo = malloc(sizeof(int) * (size_t)n_out);
    *w = malloc(sizeof(float) * (size_t)n_out);
    if (!*lo || !*w) return -1;
    for (int i = 0; i < n_out; i++) {
        double u = i * s_out / s_in;
        int l = (int)floor(u);
        if (l >= n_in - 1) { /* the last input voxel, or past it by rounding */
            l = n_in > 1 ? n_in - 2 : 0;
            u = n_in > 1 ? n_in - 1 : 0;
        }
        (*lo)[i] = l;
        (*w)[i] = (float)(u - l);
    }
    return 0;
}

mc_status med_resample(const med_volume *in, const double spacing[3], med_volume **out, mc_error *err) {
    *out = NULL;
    int n_out[3];
    const int n_in[3] = {in->nx, in->ny, in->nz};
    size_t total = 1;
    for (int a = 0; a < 3; a++) {
        if (!(spacing[a] > 0 && spacing[a] <= 100) || !(in->spacing[a] > 0))
            return mc_error_set(err, MC_ERR_ARG, "resample: spacing %g mm (from %g mm) is not usable", spacing[a],
                                in->spacing[a]);
        double n = floor((n_in[a] - 1) * in->spacing[a] / spacing[a] + 1e-9) + 1;
        if (n > (double)MED_RESAMPLE_MAX_VOXELS)
            return mc_error_set(err, MC_ERR_ARG, "resample: output too large");
        n_out[a] = (int)n;
        total *= (size_t)n_out[a];
        if (total > MED_RESAMPLE_MAX_VOXELS)
            return mc_error_set(err, MC_ERR_ARG, "resample: output of %d x %d x %d voxels too large", n_out[0],
                                n_out[1], (int)n);
    }
    med_volume *v = med_volume_new(n_out[0], n_out[1], n_out[2], spacing, in->origin, in->dir, 0.0f);
    int *lo[3] = {NULL, NULL, NULL};
    float *w[3] = {NULL, NULL, NULL};
    int bad = !v;
    for (int a = 0; a < 3 && !bad; a++) bad = axis_table(n_in[a], in->spacing[a], spacing[a], n_out[a], &lo[a], &w[a]);
    if (bad) {
        med_volume_free(v);
        for (int a = 0; a < 3; a++) {
            free(lo[a]);
            free(w[a]);
        }
        return mc_error_set(err, MC_ERR_NOMEM, "resample: out of memory");
    }
    /* a single voxel along an axis: both neighbours are that voxel */
    size_t sx = in->nx > 1 ? 1 : 0, sy = in->ny > 1 ? (size_t)in->nx : 0,
           sz = in->nz > 1 ? (size_t)in->nx * (size_t)in->ny : 0;
    const float *src = in->hu;
#pragma omp parallel for schedule(static)
    for (int k = 0; k < n_out[2]; k++) {
        float wz = w[2][k];
        for (int j = 0; j < n_out[1]; j++) {
            float wy = w[1][j];
            float *dst = v->hu + med_volume_index(v, 0, j, k);
            size_t row = ((size_t)lo[2][k] * (size_t)in->ny + (size_t)lo[1][j]) * (size_t)in->nx;
            for (int i = 0; i < n_out[0]; i++) {
                float wx = w[0][i];
                const float *p = src + row + (size_t)lo[0][i];
                float c00 = p[0] + wx * (p[sx] - p[0]);
                float c01 = p[sy] + wx * (p[sy + sx] - p[sy]);
                float c10 = p[sz] + wx * (p[sz + sx] - p[sz]);
                float c11 = p[sz + sy] + wx * (p[sz + sy + sx] - p[sz + sy]);
                float c0 = c00 + wy * (c01 - c00), c1 = c10 + wy * (c11 - c10);
                dst[i] = c0 + wz * (c1 - c0);
            }
        }
    }
    for (int a = 0; a < 3; a++) {
        free(lo[a]);
        free(w[a]);
    }
    *out = v;
    return MC_OK;
}

mc_status med_resample_isotropic(const med_volume *in, double mm, med_volume **out, mc_error *err) {
    const double s[3] = {mm, mm, mm};
    return med_resample(in, s, out, err);
}

void med_window(const float *hu, size_t n, double level, double width, float *out) {
    float lo = (float)(level - width / 2), scale = (float)(1 / width);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float t = (hu[i] - lo) * scale;
        out[i] = t < 0 ? 0 : t > 1 ? 1 : t;
    }
}
