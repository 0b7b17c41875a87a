/* candidates.c: multi-scale Hessian blob filter, local maxima and non-maximum suppression. */
#include "candidates.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void med_candidate_opts_default(med_candidate_opts *o) {
    o->min_diameter_mm = 3;
    o->max_diameter_mm = 30;
    o->scales = 8;
    o->min_response = 30;
    o->max_candidates = 300;
    o->ceiling_hu = -400;
    o->outside_hu = -860;
}

typedef struct box {
    int x0, y0, z0, nx, ny, nz; /* the region worked on, in voxels of the volume */
} box;

static size_t bidx(const box *b, int i, int j, int k) {
    return ((size_t)k * (size_t)b->ny + (size_t)j) * (size_t)b->nx + (size_t)i;
}

/* One pass of the separable Gaussian along axis (0, 1, 2) of the box, replicating the edges. Along
 * y and z whole rows are weighted and summed, so the inner loop runs over contiguous memory. */
static void blur_axis(const float *src, float *dst, const box *b, int axis, const float *w, int r) {
    int len = axis == 0 ? b->nx : axis == 1 ? b->ny : b->nz;
#pragma omp parallel for collapse(2) schedule(static)
    for (int k = 0; k < b->nz; k++) {
        for (int j = 0; j < b->ny; j++) {
            float *out = dst + bidx(b, 0, j, k);
            if (axis == 0) {
                const float *row = src + bidx(b, 0, j, k);
                for (int i = 0; i < b->nx; i++) {
                    float acc = 0;
                    for (int t = -r; t <= r; t++) {
                        int q = i + t;
                        q = q < 0 ? 0 : q >= len ? len - 1 : q;
                        acc += w[t + r] * row[q];
                    }
                    out[i] = acc;
                }
                continue;
            }
            int p = axis == 1 ? j : k;
            for (int i = 0; i < b->nx; i++) out[i] = 0;
            for (int t = -r; t <= r; t++) {
                int q = p + t;
                q = q < 0 ? 0 : q >= len ? len - 1 : q;
                const float *row = src + (axis == 1 ? bidx(b, 0, q, k) : bidx(b, 0, j, q));
                float wt = w[t + r];
                for (int i = 0; i < b->nx; i++) out[i] += wt * row[i];
            }
        }
    }
}

/* Smooths src into dst (tmp as scratch) with a Gaussian of sigma mm. Returns -1 when out of memory. */
static int blur(const float *src, float *dst, float *tmp, const box *b, const double spacing[3], double sigma) {
    for (int axis = 0; axis < 3; axis++) {
        double s = sigma / spacing[axis];
        int r = (int)ceil(3 * s);
        float *w = malloc(sizeof(float) * (size_t)(2 * r + 1));
        if (!w) return -1;
        double sum = 0;
        for (int t = -r; t <= r; t++) sum += w[t + r] = (float)exp(-0.5 * t * t / (s * s));
        for (int t = 0; t < 2 * r + 1; t++) w[t] = (float)(w[t] / sum);
        /* x: src -> dst, y: dst -> tmp, z: tmp -> dst */
        const float *in = axis == 0 ? src : axis == 1 ? dst : tmp;
        float *out = axis == 1 ? tmp : dst;
        blur_axis(in, out, b, axis, w, r);
        free(w);
    }
    return 0;
}

/* Eigenvalues of the symmetric matrix [a b c; b d e; c e f], ascending. */
static void eig3(double a, double b, double c, double d, double e, double f, double l[3]) {
    double p1 = b * b + c * c + e * e;
    double q = (a + d + f) / 3;
    double p2 = (a - q) * (a - q) + (d - q) * (d - q) + (f - q) * (f - q) + 2 * p1;
    if (p2 < 1e-30) {
        l[0] = l[1] = l[2] = q;
        return;
    }
    double p = sqrt(p2 / 6);
    double A = (a - q) / p, B = b / p, C = c / p, D = (d - q) / p, E = e / p, F = (f - q) / p;
    double r = (A * (D * F - E * E) - B * (B * F - E * C) + C * (B * E - D * C)) / 2;
    r = r < -1 ? -1 : r > 1 ? 1 : r;
    double phi = acos(r) / 3;
    double hi = q + 2 * p * cos(phi), lo = q + 2 * p * cos(phi + 2.0943951023931955); /* + 2 pi / 3 */
    l[0] = lo;
    l[1] = 3 * q - hi - lo;
    l[2] = hi;
}

/* The dot filter of the smoothed box g at (i, j, k) (not on the box's edge). */
static float dot_response(const float *g, const box *bx, int i, int j, int k, const double h[3], double sigma) {
    size_t sx = 1, sy = (size_t)bx->nx, sz = (size_t)bx->nx * (size_t)bx->ny, p = bidx(bx, i, j, k);
    double c = g[p];
    double xx = (g[p + sx] - 2 * c + g[p - sx]) / (h[0] * h[0]);
    double yy = (g[p + sy] - 2 * c + g[p - sy]) / (h[1] * h[1]);
    double zz = (g[p + sz] - 2 * c + g[p - sz]) / (h[2] * h[2]);
    double xy = (g[p + sx + sy] - g[p + sx - sy] - g[p - sx + sy] + g[p - sx - sy]) / (4 * h[0] * h[1]);
    double xz = (g[p + sx + sz] - g[p + sx - sz] - g[p - sx + sz] + g[p - sx - sz]) / (4 * h[0] * h[2]);
    double yz = (g[p + sy + sz] - g[p + sy - sz] - g[p - sy + sz] + g[p - sy - sz]) / (4 * h[1] * h[2]);
    double l[3];
    eig3(xx, xy, xz, yy, yz, zz, l);
    if (l[2] >= 0) return 0;
    return (float)(sigma * sigma * l[2] * l[2] / -l[0]);
}

static int cmp_response(const void *a, const void *b) {
    double x = ((const med_candidate *)a)->response, y = ((const med_candidate *)b)->response;
    return x > y ? -1 : x < y;
}

/* Vertex offset of the parabola through (-1, a), (0, b), (1, c), within [-0.5, 0.5]. */
static double peak_offset(double a, double b, double c) {
    double den = a - 2 * b + c;
    if (den >= 0) return 0;
    double t = 0.5 * (a - c) / den;
    return t < -0.5 ? -0.5 : t > 0.5 ? 0.5 : t;
}

mc_status med_candidates_find(const med_volume *v, const uint8_t *mask, const med_candidate_opts *o,
                              med_candidate **out, int *n_out, mc_error *err) {
    med_candidate_opts def;
    if (!o) {
        med_candidate_opts_default(&def);
        o = &def;
    }
    *out = NULL;
    *n_out = 0;
    if (!(o->min_diameter_mm > 0 && o->max_diameter_mm >= o->min_diameter_mm) || o->scales < 1 || o->scales > 64 ||
        o->max_candidates < 1 || !(o->outside_hu <= o->ceiling_hu))
        return mc_error_set(err, MC_ERR_ARG,
                            "candidates: diameters %g..%g mm, %d scales, outside %g HU under a ceiling of %g HU are "
                            "not usable", o->min_diameter_mm, o->max_diameter_mm, o->scales, o->outside_hu, o->ceiling_hu);
    double sig_lo = o->min_diameter_mm / (2 * sqrt(3)), sig_hi = o->max_diameter_mm / (2 * sqrt(3));
    double step = o->scales > 1 ? log(sig_hi / sig_lo) / (o->scales - 1) : 0;
    /* the mask's bounding box, with a margin of 3 sigma of the largest scale (and 1 voxel) */
    int lo[3] = {v->nx, v->ny, v->nz}, hi[3] = {-1, -1, -1};
    for (int k = 0; k < v->nz; k++)
        for (int j = 0; j < v->ny; j++)
            for (int i = 0; i < v->nx; i++) {
                if (mask && !mask[med_volume_index(v, i, j, k)]) continue;
                int c[3] = {i, j, k};
                for (int a = 0; a < 3; a++) {
                    if (c[a] < lo[a]) lo[a] = c[a];
                    if (c[a] > hi[a]) hi[a] = c[a];
                }
            }
    if (hi[0] < 0) return MC_OK;
    const int dims[3] = {v->nx, v->ny, v->nz};
    int b0[3], bn[3];
    for (int a = 0; a < 3; a++) {
        int m = (int)ceil(3 * sig_hi / v->spacing[a]) + 1;
        b0[a] = lo[a] - m < 0 ? 0 : lo[a] - m;
        int e = hi[a] + m >= dims[a] ? dims[a] - 1 : hi[a] + m;
        bn[a] = e - b0[a] + 1;
    }
    box bx = {b0[0], b0[1], b0[2], bn[0], bn[1], bn[2]};
    size_t nb = (size_t)bx.nx * (size_t)bx.ny * (size_t)bx.nz;
    float *src = malloc(sizeof(float) * nb), *g = malloc(sizeof(float) * nb), *tmp = malloc(sizeof(float) * nb);
    float *best = calloc(nb, sizeof(float)), *below = calloc(nb, sizeof(float)), *above = calloc(nb, sizeof(float));
    float *prev = calloc(nb, sizeof(float));
    uint8_t *scale = calloc(nb, 1);
    med_candidate *cand = NULL;
    mc_status st = MC_OK;
    if (!src || !g || !tmp || !best || !below || !above || !prev || !scale) goto nomem;
    for (int k = 0; k < bx.nz; k++)
        for (int j = 0; j < bx.ny; j++)
            memcpy(src + bidx(&bx, 0, j, k), v->hu + med_volume_index(v, bx.x0, bx.y0 + j, bx.z0 + k),
                   sizeof(float) * (size_t)bx.nx);
    /* the filter sees the lungs alone: the rest as parenchyma, and no density above the ceiling */
    for (int k = 0; k < bx.nz; k++)
        for (int j = 0; j < bx.ny; j++)
            for (int i = 0; i < bx.nx; i++) {
                float *h = &src[bidx(&bx, i, j, k)];
                if (mask && !mask[med_volume_index(v, bx.x0 + i, bx.y0 + j, bx.z0 + k)]) *h = (float)o->outside_hu;
                else if (*h > o->ceiling_hu) *h = (float)o->ceiling_hu;
            }
    for (int s = 0; s < o->scales; s++) {
        double sigma = sig_lo * exp(step * s);
        if (blur(src, g, tmp, &bx, v->spacing, sigma) != 0) goto nomem;
#pragma omp parallel for schedule(dynamic, 2)
        for (int k = 1; k < bx.nz - 1; k++) {
            for (int j = 1; j < bx.ny - 1; j++) {
                for (int i = 1; i < bx.nx - 1; i++) {
                    size_t p = bidx(&bx, i, j, k);
                    if (mask && !mask[med_volume_index(v, bx.x0 + i, bx.y0 + j, bx.z0 + k)]) continue;
                    float r = dot_response(g, &bx, i, j, k, v->spacing, sigma);
                    if (r > best[p]) {
                        below[p] = s > 0 ? prev[p] : 0;
                        above[p] = 0;
                        best[p] = r;
                        scale[p] = (uint8_t)s;
                    } else if (s > 0 && scale[p] == s - 1 && best[p] > 0) {
                        above[p] = r;
                    }
                    prev[p] = r;
                }
            }
        }
    }
    /* local maxima of the best response */
    int cap = 1024, n = 0;
    cand = malloc(sizeof *cand * (size_t)cap);
    if (!cand) goto nomem;
    size_t sy = (size_t)bx.nx, sz = (size_t)bx.nx * (size_t)bx.ny;
    for (int k = 1; k < bx.nz - 1; k++) {
        for (int j = 1; j < bx.ny - 1; j++) {
            for (int i = 1; i < bx.nx - 1; i++) {
                size_t p = bidx(&bx, i, j, k);
                float r = best[p];
                if (r < o->min_response) continue;
                int is_max = 1;
                for (int dz = -1; dz <= 1 && is_max; dz++)
                    for (int dy = -1; dy <= 1 && is_max; dy++)
                        for (int dx = -1; dx <= 1 && is_max; dx++) {
                            if (!dx && !dy && !dz) continue;
                            size_t q = (size_t)((ptrdiff_t)p + dx + dy * (ptrdiff_t)sy + dz * (ptrdiff_t)sz);
                            /* ties go to the first voxel in memory order */
                            if (best[q] > r || (best[q] == r && q < p)) is_max = 0;
                        }
                if (!is_max) continue;
                if (n == cap) {
                    cap *= 2;
                    med_candidate *nc = realloc(cand, sizeof *cand * (size_t)cap);
                    if (!nc) goto nomem;
                    cand = nc;
                }
                med_candidate *c = &cand[n++];
                double ijk[3] = {bx.x0 + i + peak_offset(best[p - 1], r, best[p + 1]),
                                 bx.y0 + j + peak_offset(best[p - sy], r, best[p + sy]),
                                 bx.z0 + k + peak_offset(best[p - sz], r, best[p + sz])};
                double ls = log(sig_lo) + step * (scale[p] + (o->scales > 1 && scale[p] > 0 && scale[p] < o->scales - 1
                                                                  ? peak_offset(below[p], r, above[p])
                                                                  : 0));
                c->i = ijk[0];
                c->j = ijk[1];
                c->k = ijk[2];
                double xyz[3];
                med_volume_to_world(v, ijk, xyz);
                c->x = xyz[0];
                c->y = xyz[1];
                c->z = xyz[2];
                c->diameter_mm = 2 * sqrt(3) * exp(ls);
                c->response = r;
                c->hu = v->hu[med_volume_index(v, bx.x0 + i, bx.y0 + j, bx.z0 + k)];
            }
        }
    }
    /* non-maximum suppression, strongest first */
    qsort(cand, (size_t)n, sizeof *cand, cmp_response);
    int kept = 0;
    for (int a = 0; a < n && kept < o->max_candidates; a++) {
        int keep = 1;
        for (int b = 0; b < kept && keep; b++) {
            double dx = cand[a].x - cand[b].x, dy = cand[a].y - cand[b].y, dz = cand[a].z - cand[b].z;
            double r = cand[b].diameter_mm / 2;
            if (dx * dx + dy * dy + dz * dz < r * r) keep = 0;
        }
        if (keep) cand[kept++] = cand[a];
    }
    *out = cand;
    *n_out = kept;
    cand = NULL;
    goto done;
nomem:
    st = mc_error_set(err, MC_ERR_NOMEM, "candidates: out of memory");
done:
    free(cand);
    free(src);
    free(g);
    free(tmp);
    free(best);
    free(below);
    free(above);
    free(prev);
    free(scale);
    return st;
}
