/* lung_mask.c: lung segmentation by threshold, connected components, closing and hole filling. */
#include "lung_mask.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FAR 1e20

void med_lung_mask_opts_default(med_lung_mask_opts *o) {
    o->threshold_hu = -400;
    o->closing_mm = 10;
    o->dilation_mm = 2;
    o->min_volume_ml = 50;
    o->second_fraction = 0.2;
}

/* One line of the transform: d[p] = min_q f[q] + (h (p - q))^2, in place; v, z scratch of n and n + 1. */
static void edt_line(double *f, int n, double h, int *v, double *z, double *out) {
    int k = 0;
    double h2 = h * h;
    v[0] = 0;
    z[0] = -FAR;
    z[1] = FAR;
    for (int q = 1; q < n; q++) {
        double s;
        for (;;) {
            int r = v[k];
            s = ((f[q] + h2 * q * q) - (f[r] + h2 * r * r)) / (2 * h2 * (q - r));
            if (s <= z[k] && k > 0) k--;
            else break;
        }
        if (s <= z[k]) { /* k == 0 and the new parabola is lower everywhere */
            v[0] = q;
            z[0] = -FAR;
            z[1] = FAR;
            continue;
        }
        k++;
        v[k] = q;
        z[k] = s;
        z[k + 1] = FAR;
    }
    k = 0;
    for (int p = 0; p < n; p++) {
        while (z[k + 1] < p) k++;
        double d = h * (p - v[k]);
        out[p] = f[v[k]] + d * d;
    }
}

mc_status med_distance_sq(const uint8_t *m, uint8_t value, int nx, int ny, int nz, const double spacing[3],
                          float *dist) {
    const int n[3] = {nx, ny, nz};
    int maxn = nx > ny ? nx : ny;
    if (nz > maxn) maxn = nz;
    size_t total = (size_t)nx * (size_t)ny * (size_t)nz;
    for (size_t i = 0; i < total; i++) dist[i] = m[i] == value ? 0.0f : (float)FAR;
    int failed = 0;
    for (int axis = 0; axis < 3; axis++) {
        size_t stride = axis == 0 ? 1 : axis == 1 ? (size_t)nx : (size_t)nx * (size_t)ny;
        int len = n[axis];
        /* the lines along this axis: indexed by the other two coordinates */
        int a1 = axis == 0 ? ny : nx, a2 = axis == 2 ? ny : nz;
        size_t s1 = axis == 0 ? (size_t)nx : 1, s2 = axis == 2 ? (size_t)nx : (size_t)nx * (size_t)ny;
#pragma omp parallel
        {
            double *f = malloc(sizeof(double) * (size_t)maxn), *out = malloc(sizeof(double) * (size_t)maxn);
            double *z = malloc(sizeof(double) * ((size_t)maxn + 1));
            int *v = malloc(sizeof(int) * (size_t)maxn);
            if (!f || !out || !z || !v) {
#pragma omp atomic write
                failed = 1;
            } else {
#pragma omp for collapse(2) schedule(static)
                for (int b = 0; b < a2; b++) {
                    for (int a = 0; a < a1; a++) {
                        float *line = dist + (size_t)a * s1 + (size_t)b * s2;
                        int any = 0;
                        for (int p = 0; p < len; p++) {
                            f[p] = line[(size_t)p * stride];
                            any |= f[p] < FAR;
                        }
                        if (!any) continue;
                        edt_line(f, len, spacing[axis], v, z, out);
                        for (int p = 0; p < len; p++) line[(size_t)p * stride] = (float)(out[p] < FAR ? out[p] : FAR);
                    }
                }
            }
            free(f);
            free(out);
            free(z);
            free(v);
        }
        if (failed) return MC_ERR_NOMEM;
    }
    return MC_OK;
}

/* Flood fill over 6-neighbours from the voxels already set to to in m, through voxels equal to from,
 * setting them to to. queue holds the seeds (n_seeds) and has room for every voxel. Returns the
 * number of voxels filled, seeds included. */
static size_t flood(uint8_t *m, int nx, int ny, int nz, uint32_t *queue, size_t n_seeds, uint8_t from, uint8_t to) {
    size_t head = 0, tail = n_seeds;
    size_t sxy = (size_t)nx * (size_t)ny;
    while (head < tail) {
        size_t p = queue[head++];
        int i = (int)(p % (size_t)nx), j = (int)(p / (size_t)nx % (size_t)ny), k = (int)(p / sxy);
        size_t nb[6];
        int c = 0;
        if (i > 0) nb[c++] = p - 1;
        if (i < nx - 1) nb[c++] = p + 1;
        if (j > 0) nb[c++] = p - (size_t)nx;
        if (j < ny - 1) nb[c++] = p + (size_t)nx;
        if (k > 0) nb[c++] = p - sxy;
        if (k < nz - 1) nb[c++] = p + sxy;
        for (int t = 0; t < c; t++) {
            if (m[nb[t]] != from) continue;
            m[nb[t]] = to;
            queue[tail++] = (uint32_t)nb[t];
        }
    }
    return tail;
}

/* Fills, slice by slice, the background enclosed by the mask (not reachable from the slice's edge). */
static int fill_holes(uint8_t *mask, int nx, int ny, int nz) {
    int failed = 0;
#pragma omp parallel
    {
        uint32_t *queue = malloc(sizeof(uint32_t) * (size_t)nx * (size_t)ny);
        uint8_t *s = malloc((size_t)nx * (size_t)ny);
        if (!queue || !s) {
#pragma omp atomic write
            failed = 1;
        } else {
#pragma omp for schedule(dynamic, 4)
            for (int k = 0; k < nz; k++) {
                uint8_t *slice = mask + (size_t)k * (size_t)nx * (size_t)ny;
                size_t n_seeds = 0;
                for (size_t p = 0; p < (size_t)nx * (size_t)ny; p++) s[p] = slice[p] ? 1 : 0;
                for (int j = 0; j < ny; j++)
                    for (int i = 0; i < nx; i++) {
                        if (i != 0 && j != 0 && i != nx - 1 && j != ny - 1) continue;
                        size_t p = (size_t)j * (size_t)nx + (size_t)i;
                        if (s[p] == 0) {
                            s[p] = 2;
                            queue[n_seeds++] = (uint32_t)p;
                        }
                    }
                flood(s, nx, ny, 1, queue, n_seeds, 0, 2);
                for (size_t p = 0; p < (size_t)nx * (size_t)ny; p++)
                    if (s[p] == 0) slice[p] = 1;
            }
        }
        free(queue);
        free(s);
    }
    return failed ? -1 : 0;
}

/* A box of voxels: the bounding box of the voxels of m that pass keep(), grown by margin_mm and
 * clipped to the volume. Returns 0 for an empty selection. */
typedef struct sub {
    int lo[3], n[3];
} sub;

static size_t sub_size(const sub *b) { return (size_t)b->n[0] * (size_t)b->n[1] * (size_t)b->n[2]; }

static int sub_of(const uint8_t *m, const med_volume *v, uint8_t lo_label, uint8_t hi_label, double margin_mm, sub *b) {
    int lo[3] = {v->nx, v->ny, v->nz}, hi[3] = {-1, -1, -1};
    for (int k = 0; k < v->nz; k++)
        for (int j = 0; j < v->ny; j++)
            for (int i = 0; i < v->nx; i++) {
                uint8_t x = m[med_volume_index(v, i, j, k)];
                if (x < lo_label || x > hi_label) continue;
                int c[3] = {i, j, k};
                for (int a = 0; a < 3; a++) {
                    if (c[a] < lo[a]) lo[a] = c[a];
                    if (c[a] > hi[a]) hi[a] = c[a];
                }
            }
    if (hi[0] < 0) return 0;
    const int dims[3] = {v->nx, v->ny, v->nz};
    for (int a = 0; a < 3; a++) {
        int g = (int)ceil(margin_mm / v->spacing[a]) + 1;
        int l = lo[a] - g < 0 ? 0 : lo[a] - g, h = hi[a] + g >= dims[a] ? dims[a] - 1 : hi[a] + g;
        b->lo[a] = l;
        b->n[a] = h - l + 1;
    }
    return 1;
}

/* The box's voxels of m, as 1 where lo_label <= m <= hi_label, into one (box-sized). */
static void sub_extract(const uint8_t *m, const med_volume *v, const sub *b, uint8_t lo_label, uint8_t hi_label,
                        uint8_t *one) {
    for (int k = 0; k < b->n[2]; k++)
        for (int j = 0; j < b->n[1]; j++) {
            const uint8_t *row = m + med_volume_index(v, b->lo[0], b->lo[1] + j, b->lo[2] + k);
            uint8_t *out = one + ((size_t)k * (size_t)b->n[1] + (size_t)j) * (size_t)b->n[0];
            for (int i = 0; i < b->n[0]; i++) out[i] = row[i] >= lo_label && row[i] <= hi_label;
        }
}

/* The squared distance (mm^2) to the nearest voxel labelled label, in the box of those voxels grown
 * by r mm: *b the box, *one (box-sized) 1 on them, *dist (box-sized) the distances; the caller
 * frees *one and *dist. Returns 1, 0 when no voxel has the label (nothing allocated), or -1 when out
 * of memory (nothing left allocated). */
static int label_distance(const uint8_t *m, const med_volume *v, uint8_t label, double r, sub *b, uint8_t **one,
                          float **dist) {
    if (!sub_of(m, v, label, label, r, b)) return 0;
    size_t n = sub_size(b);
    *one = calloc(n, 1);
    *dist = malloc(sizeof(float) * n);
    if (*one && *dist) {
        sub_extract(m, v, b, label, label, *one);
        if (med_distance_sq(*one, 1, b->n[0], b->n[1], b->n[2], v->spacing, *dist) == MC_OK) return 1;
    }
    free(*one);
    free(*dist);
    return -1;
}

/* Closing of the voxels labelled label with a ball of radius r mm, computed in their box: dilate
 * (within r of them), then erode (farther than r from outside the dilation). Tissue voxels (< 4)
 * the closing takes in become 6. Returns -1 when out of memory. */
static int close_label(uint8_t *m, const med_volume *v, uint8_t label, double r) {
    sub b;
    uint8_t *one;
    float *dist;
    int got = label_distance(m, v, label, r, &b, &one, &dist);
    if (got <= 0) return got;
    size_t n = sub_size(&b);
    double r2 = r * r;
    for (size_t p = 0; p < n; p++) one[p] = dist[p] <= r2;
    int bad = med_distance_sq(one, 0, b.n[0], b.n[1], b.n[2], v->spacing, dist) != MC_OK;
    for (int k = 0; !bad && k < b.n[2]; k++)
        for (int j = 0; j < b.n[1]; j++) {
            uint8_t *row = m + med_volume_index(v, b.lo[0], b.lo[1] + j, b.lo[2] + k);
            const float *d = dist + ((size_t)k * (size_t)b.n[1] + (size_t)j) * (size_t)b.n[0];
            for (int i = 0; i < b.n[0]; i++)
                if (d[i] > r2 && row[i] < 4) row[i] = 6;
        }
    free(one);
    free(dist);
    return bad ? -1 : 0;
}

/* Grows the 0/1 mask m by r mm, in the box of its voxels. Returns -1 when out of memory. */
static int dilate(uint8_t *m, const med_volume *v, double r) {
    sub b;
    uint8_t *one;
    float *dist;
    int got = label_distance(m, v, 1, r, &b, &one, &dist);
    if (got <= 0) return got;
    for (int k = 0; k < b.n[2]; k++)
        for (int j = 0; j < b.n[1]; j++) {
            uint8_t *row = m + med_volume_index(v, b.lo[0], b.lo[1] + j, b.lo[2] + k);
            const float *d = dist + ((size_t)k * (size_t)b.n[1] + (size_t)j) * (size_t)b.n[0];
            for (int i = 0; i < b.n[0]; i++) row[i] = d[i] <= r * r;
        }
    free(one);
    free(dist);
    return 0;
}

mc_status med_lung_mask(const med_volume *v, const med_lung_mask_opts *o, uint8_t **mask_out, med_lung_mask_info *info,
                        mc_error *err) {
    med_lung_mask_opts def;
    if (!o) {
        med_lung_mask_opts_default(&def);
        o = &def;
    }
    memset(info, 0, sizeof *info);
    *mask_out = NULL;
    int nx = v->nx, ny = v->ny, nz = v->nz;
    size_t n = (size_t)nx * (size_t)ny * (size_t)nz;
    if (n >= UINT32_MAX) return mc_error_set(err, MC_ERR_ARG, "lung mask: volume of %zu voxels too large", n);
    double voxel_ml = v->spacing[0] * v->spacing[1] * v->spacing[2] / 1000.0;
    uint8_t *m = malloc(n);
    uint32_t *queue = malloc(sizeof(uint32_t) * n);
    if (!m || !queue) goto nomem;
    /* 1 air inside, 2 air outside the body (reached from the sides of the slices), 0 tissue */
    for (size_t p = 0; p < n; p++) m[p] = v->hu[p] < o->threshold_hu;
    size_t n_seeds = 0;
    for (int k = 0; k < nz; k++)
        for (int j = 0; j < ny; j++)
            for (int i = 0; i < nx; i++) {
                if (i != 0 && j != 0 && i != nx - 1 && j != ny - 1) continue;
                size_t p = med_volume_index(v, i, j, k);
                if (m[p] == 1) {
                    m[p] = 2;
                    queue[n_seeds++] = (uint32_t)p;
                }
            }
    flood(m, nx, ny, nz, queue, n_seeds, 1, 2);
    /* the inside air in components, each found from its first voxel and measured (labelled 3); the
     * two largest are then relabelled 4 when they are lungs */
    size_t best[2] = {0, 0}, seed[2] = {0, 0};
    for (size_t p = 0; p < n; p++) {
        if (m[p] != 1) continue;
        m[p] = 3;
        queue[0] = (uint32_t)p;
        size_t size = flood(m, nx, ny, nz, queue, 1, 1, 3);
        if (size > best[0]) {
            best[1] = best[0];
            seed[1] = seed[0];
            best[0] = size;
            seed[0] = p;
        } else if (size > best[1]) {
            best[1] = size;
            seed[1] = p;
        }
    }
    for (int c = 0; c < 2; c++) {
        double ml = (double)best[c] * voxel_ml;
        if (best[c] == 0 || ml < o->min_volume_ml) continue;
        if (c == 1 && (double)best[1] < o->second_fraction * (double)best[0]) continue;
        m[seed[c]] = 4;
        queue[0] = (uint32_t)seed[c];
        flood(m, nx, ny, nz, queue, 1, 3, 4);
        info->volume_ml[info->components++] = ml;
    }
    if (info->components > 0 && o->closing_mm > 0) {
        /* closing, of each lung on its own so that the two never bridge the mediastinum; lung 0 is
         * relabelled 5, lung 1 stays 4, and voxels the closing adds become 6 */
        m[seed[0]] = 5;
        queue[0] = (uint32_t)seed[0];
        if (info->components == 2) flood(m, nx, ny, nz, queue, 1, 4, 5);
        for (int c = 0; c < info->components; c++)
            if (close_label(m, v, (uint8_t)(c == 0 ? 5 : 4), o->closing_mm) != 0) goto nomem;
    }
    for (size_t p = 0; p < n; p++) m[p] = m[p] >= 4;
    if (fill_holes(m, nx, ny, nz) != 0) goto nomem;
    if (info->components > 0 && o->dilation_mm > 0 && dilate(m, v, o->dilation_mm) != 0) goto nomem;
    size_t count = 0;
    for (size_t p = 0; p < n; p++) count += m[p];
    info->mask_ml = (double)count * voxel_ml;
    free(queue);
    *mask_out = m;
    return MC_OK;
nomem:
    free(m);
    free(queue);
    return mc_error_set(err, MC_ERR_NOMEM, "lung mask: out of memory");
}
