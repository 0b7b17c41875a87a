/* detector.c: study preparation, multi-scale patches, CNN scoring with test-time flips and the
 * decoding of its heads, 3D non-maximum suppression, and the density rule for a nodule's type and
 * solid part, for the lung-nodule detector (detector.h). */
#include "detector.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lung_mask.h"
#include "resample.h"

/* Residual block with squeeze-excitation and spatial attention between two pooling stages, then the
 * heads on the pooled features:
 *   24^3x2 -> conv8 -> 12^3 -> conv8, [conv8, conv8] + skip -> SE -> spatial attention -> 6^3
 *   -> conv32 -> global average -> linear 32 -> 5 outputs */
static const char arch_json[] =
    "{\"input\": [2, 24, 24, 24], \"layers\": ["
    "{\"type\": \"conv\", \"out\": 8, \"k\": 3, \"pad\": 1}, {\"type\": \"batchnorm\"}, {\"type\": \"act\", \"fn\": \"relu\"},"
    "{\"type\": \"maxpool\", \"k\": 2, \"stride\": 2},"
    "{\"type\": \"conv\", \"out\": 8, \"k\": 3, \"pad\": 1}, {\"type\": \"batchnorm\"}, {\"type\": \"act\", \"fn\": \"relu\"},"
    "{\"type\": \"conv\", \"out\": 8, \"k\": 3, \"pad\": 1}, {\"type\": \"batchnorm\"}, {\"type\": \"act\", \"fn\": \"relu\"},"
    "{\"type\": \"conv\", \"out\": 8, \"k\": 3, \"pad\": 1}, {\"type\": \"batchnorm\"},"
    "{\"type\": \"add\", \"from\": -6}, {\"type\": \"act\", \"fn\": \"relu\"},"
    "{\"type\": \"se\", \"reduction\": 2}, {\"type\": \"spatial_attention\", \"k\": 5},"
    "{\"type\": \"maxpool\", \"k\": 2, \"stride\": 2},"
    "{\"type\": \"conv\", \"out\": 32, \"k\": 3, \"pad\": 1}, {\"type\": \"batchnorm\"}, {\"type\": \"act\", \"fn\": \"relu\"},"
    "{\"type\": \"globalavgpool\"}, {\"type\": \"linear\", \"out\": 32}, {\"type\": \"act\", \"fn\": \"relu\"},"
    "{\"type\": \"linear\", \"out\": 5}]}";

const char *med_detector_arch(void) { return arch_json; }

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void med_prepared_free(med_prepared *p) {
    if (!p) return;
    med_volume_free(p->iso);
    free(p->cand);
    memset(p, 0, sizeof *p);
}

/* Reads series s and resamples it to 1 mm into p->iso (p zeroed first), with the seconds each took. */
static mc_status prepare_volume(const med_series *s, const med_series_options *so, med_prepared *p, mc_error *err) {
    memset(p, 0, sizeof *p);
    med_volume *v = NULL;
    double t0 = now_s();
    mc_status st = med_series_read(s, so, &v, err);
    if (st != MC_OK) return st;
    double t1 = now_s();
    st = med_resample_isotropic(v, 1.0, &p->iso, err);
    med_volume_free(v);
    p->t_read = t1 - t0;
    p->t_resample = now_s() - t1;
    return st;
}

mc_status med_prepare_again(const med_series *s, const med_series_options *so, const med_candidate *cand, int n,
                            med_prepared *p, mc_error *err) {
    mc_status st = prepare_volume(s, so, p, err);
    if (st == MC_OK && !(p->cand = malloc(sizeof *cand * (size_t)(n + 1))))
        st = mc_error_set(err, MC_ERR_NOMEM, "out of memory");
    if (st != MC_OK) {
        med_prepared_free(p);
        return st;
    }
    if (n > 0) memcpy(p->cand, cand, sizeof *cand * (size_t)n);
    p->n_cand = n;
    return MC_OK;
}

mc_status med_prepare(const med_series *s, const med_series_options *so, const med_candidate_opts *o,
                      med_prepared *p, mc_error *err) {
    uint8_t *mask = NULL;
    mc_status st = prepare_volume(s, so, p, err);
    if (st != MC_OK) {
        med_prepared_free(p);
        return st;
    }
    double t2 = now_s();
    med_lung_mask_opts mo;
    med_lung_mask_opts_default(&mo);
    med_lung_mask_info info;
    if ((st = med_lung_mask(p->iso, &mo, &mask, &info, err)) != MC_OK) goto fail;
    double t3 = now_s();
    if (info.components == 0) {
        st = mc_error_set(err, MC_ERR_FORMAT, "no lungs found: not a chest CT");
        goto fail;
    }
    p->lung_ml = info.mask_ml;
    if ((st = med_candidates_find(p->iso, mask, o, &p->cand, &p->n_cand, err)) != MC_OK) goto fail;
    free(mask);
    double t4 = now_s();
    p->t_mask = t3 - t2;
    p->t_candidates = t4 - t3;
    return MC_OK;
fail:
    free(mask);
    med_prepared_free(p);
    return st;
}

static float sample(const med_volume *v, double x, double y, double z) {
    if (x < 0 || y < 0 || z < 0 || x > v->nx - 1 || y > v->ny - 1 || z > v->nz - 1) return -1000.0f;
    int i = (int)x, j = (int)y, k = (int)z;
    if (i > v->nx - 2) i = v->nx - 2 < 0 ? 0 : v->nx - 2;
    if (j > v->ny - 2) j = v->ny - 2 < 0 ? 0 : v->ny - 2;
    if (k > v->nz - 2) k = v->nz - 2 < 0 ? 0 : v->nz - 2;
    double fx = x - i, fy = y - j, fz = z - k;
    int i1 = i + 1 < v->nx ? i + 1 : i, j1 = j + 1 < v->ny ? j + 1 : j, k1 = k + 1 < v->nz ? k + 1 : k;
    const float *h = v->hu;
    double c00 = h[med_volume_index(v, i, j, k)] * (1 - fx) + h[med_volume_index(v, i1, j, k)] * fx;
    double c10 = h[med_volume_index(v, i, j1, k)] * (1 - fx) + h[med_volume_index(v, i1, j1, k)] * fx;
    double c01 = h[med_volume_index(v, i, j, k1)] * (1 - fx) + h[med_volume_index(v, i1, j, k1)] * fx;
    double c11 = h[med_volume_index(v, i, j1, k1)] * (1 - fx) + h[med_volume_index(v, i1, j1, k1)] * fx;
    double c0 = c00 * (1 - fy) + c10 * fy, c1 = c01 * (1 - fy) + c11 * fy;
    return (float)(c0 * (1 - fz) + c1 * fz);
}

void med_patch_extract(const med_volume *v, const double c[3], const double a[3][3], float *out) {
    const double half = (MED_PATCH - 1) / 2.0;
    const double scale = 1.0 / (MED_PATCH_HU_HI - MED_PATCH_HU_LO);
    for (int z = 0; z < MED_PATCH; z++)
        for (int y = 0; y < MED_PATCH; y++)
            for (int x = 0; x < MED_PATCH; x++) {
                double d[3] = {x - half, y - half, z - half}, q[3];
                for (int r = 0; r < 3; r++) q[r] = c[r] + a[r][0] * d[0] + a[r][1] * d[1] + a[r][2] * d[2];
                double w = (sample(v, q[0], q[1], q[2]) - MED_PATCH_HU_LO) * scale;
                out[((size_t)z * MED_PATCH + (size_t)y) * MED_PATCH + (size_t)x] =
                    (float)(w < 0 ? 0 : w > 1 ? 1 : w);
            }
}

void med_patch_input(const med_volume *v, const double c[3], const double a[3][3], float *out) {
    double b[3][3];
    for (int r = 0; r < 3; r++)
        for (int q = 0; q < 3; q++) b[r][q] = MED_CONTEXT_SCALE * a[r][q];
    med_patch_extract(v, c, a, out);
    med_patch_extract(v, c, b, out + (size_t)MED_PATCH * MED_PATCH * MED_PATCH);
}

med_score med_score_of(const float *h) {
    med_score s = {(float)(1.0 / (1.0 + exp(-(double)h[0]))), (float)(MED_DIAMETER_REF_MM * exp((double)h[1])),
                   MED_NODULE_SOLID, 0};
    for (int t = 1; t < 3; t++)
        if (h[2 + t] > h[2 + (int)s.type]) s.type = (med_nodule_type)t;
    double sum = 0;
    for (int t = 0; t < 3; t++) sum += exp((double)h[2 + t] - (double)h[2 + (int)s.type]);
    s.type_probability = (float)(1.0 / sum);
    return s;
}

const char *med_unsure_name(int uncertain) {
    switch (uncertain & (MED_UNSURE_TYPE | MED_UNSURE_SIZE)) {
    case MED_UNSURE_TYPE: return "type";
    case MED_UNSURE_SIZE: return "size";
    case MED_UNSURE_TYPE | MED_UNSURE_SIZE: return "type,size";
    default: return NULL;
    }
}

mc_status med_detector_check(const mc_model *m, mc_error *err) {
    if (mc_model_input_size(m) != (int64_t)MED_INPUT_SIZE || mc_model_output_size(m) != MED_HEADS)
        return mc_error_set(err, MC_ERR_FORMAT,
                            "not a nodule detector of this version: input %lld values (%zu wanted), %lld outputs (%d wanted)",
                            (long long)mc_model_input_size(m), MED_INPUT_SIZE, (long long)mc_model_output_size(m),
                            MED_HEADS);
    return MC_OK;
}

/* dst = src with the axes flipped by the bits of f (1: x, 2: y, 4: z) in every channel. Sampling the
 * patch mirrored gives the same values (the patch centre is symmetric), so one extraction serves all
 * eight flips. */
static void flip_input(const float *src, int f, float *dst) {
    const int n = MED_PATCH, last = MED_PATCH - 1;
    for (int ch = 0; ch < MED_CHANNELS; ch++)
        for (int z = 0; z < n; z++)
            for (int y = 0; y < n; y++) {
                const float *s = src + (((size_t)ch * n + (size_t)(f & 4 ? last - z : z)) * n +
                                        (size_t)(f & 2 ? last - y : y)) * n;
                float *d = dst + (((size_t)ch * n + (size_t)z) * n + (size_t)y) * n;
                for (int x = 0; x < n; x++) d[x] = s[f & 1 ? last - x : x];
            }
}

mc_status med_detector_score(mc_model *m, const med_volume *iso, const med_candidate *c, int n, med_score *out,
                             mc_error *err) {
    enum { BATCH = 32, FLIPS = 8 };
    const double eye[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
    mc_status st = med_detector_check(m, err);
    if (st != MC_OK) return st;
    float *patch = malloc(sizeof *patch * MED_INPUT_SIZE * BATCH), *x = malloc(sizeof *x * MED_INPUT_SIZE * BATCH);
    double *sum = calloc((size_t)MED_HEADS * BATCH, sizeof *sum);
    if (!patch || !x || !sum) {
        st = mc_error_set(err, MC_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int s = 0; s < n; s += BATCH) {
        int b = n - s < BATCH ? n - s : BATCH;
        for (int i = 0; i < b; i++) {
            double ijk[3] = {c[s + i].i, c[s + i].j, c[s + i].k};
            med_patch_input(iso, ijk, eye, patch + MED_INPUT_SIZE * (size_t)i);
        }
        memset(sum, 0, sizeof *sum * MED_HEADS * BATCH);
        for (int f = 0; f < FLIPS; f++) {
            for (int i = 0; i < b; i++)
                flip_input(patch + MED_INPUT_SIZE * (size_t)i, f, x + MED_INPUT_SIZE * (size_t)i);
            const float *y;
            if ((st = mc_model_forward(m, x, b, 0, NULL, &y)) != MC_OK) {
                st = mc_error_set(err, st, "the detector's forward pass failed: %s", mc_status_str(st));
                goto done;
            }
            for (int q = 0; q < b * MED_HEADS; q++) sum[q] += y[q] / (double)FLIPS;
        }
        for (int i = 0; i < b; i++) {
            float h[MED_HEADS];
            for (int q = 0; q < MED_HEADS; q++) h[q] = (float)sum[i * MED_HEADS + q];
            out[s + i] = med_score_of(h);
        }
    }
done:
    free(patch);
    free(x);
    free(sum);
    return st;
}

typedef struct {
    float p;
    int i;
} ranked;

static int cmp_ranked(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return x->i - y->i;
}

int med_rank_by_probability(const float *prob, int n, int *rank) {
    ranked *r = malloc(sizeof *r * (size_t)(n > 0 ? n : 1));
    if (!r) return -1;
    for (int i = 0; i < n; i++) r[i] = (ranked){prob[i], i};
    qsort(r, (size_t)n, sizeof *r, cmp_ranked);
    for (int i = 0; i < n; i++) rank[i] = r[i].i;
    free(r);
    return 0;
}

int med_nms3d(const med_candidate *c, const float *prob, const double *radius_mm, int n, double min_radius_mm,
              int *order) {
    int *rank = malloc(sizeof *rank * (size_t)(n > 0 ? n : 1));
    if (!rank || med_rank_by_probability(prob, n, rank) != 0) {
        free(rank);
        return -1;
    }
    int kept = 0;
    for (int a = 0; a < n; a++) {
        const med_candidate *p = &c[rank[a]];
        int drop = 0;
        for (int b = 0; b < kept && !drop; b++) {
            const med_candidate *q = &c[order[b]];
            double rad = fmax(min_radius_mm, fmin(radius_mm[rank[a]], radius_mm[order[b]]));
            double dx = p->x - q->x, dy = p->y - q->y, dz = p->z - q->z;
            drop = dx * dx + dy * dy + dz * dz < rad * rad;
        }
        if (!drop) order[kept++] = rank[a];
    }
    free(rank);
    return kept;
}

#define LUNG_HU (-850.0)
#define EXTENT_STEP_MM 0.5

/* How far from c along unit direction u (in 1 mm voxels) the run above threshold goes, mm. */
static double run_mm(const med_volume *v, const double c[3], const double u[3], double threshold) {
    double last = 0;
    int below = 0;
    for (double t = EXTENT_STEP_MM; t <= MED_EXTENT_MAX_MM; t += EXTENT_STEP_MM) {
        double p[3] = {c[0] + t * u[0], c[1] + t * u[1], c[2] + t * u[2]};
        if (sample(v, p[0], p[1], p[2]) > threshold) {
            last = t;
            below = 0;
        } else if (++below > 1) {
            break;
        }
    }
    return last + EXTENT_STEP_MM / 2; /* the edge lies between the last sample above and the next */
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

med_extent med_nodule_extent(const med_volume *v, const double c[3]) {
    med_extent e = {0, 0, 0};
    double centre = 0;
    for (int dz = -1; dz <= 1; dz++)
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) {
                double p[3] = {c[0] + dx * 0.5, c[1] + dy * 0.5, c[2] + dz * 0.5};
                centre += sample(v, p[0], p[1], p[2]) / 27.0;
            }
    double threshold = fmin(-700, 0.5 * (centre + LUNG_HU));
    if (centre <= threshold) return e;
    double len[13];
    int m = 0;
    for (int dz = -1; dz <= 1; dz++)
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) {
                /* one of each opposite pair: the first non-zero component positive */
                int first = dz != 0 ? dz : dy != 0 ? dy : dx;
                if (first <= 0) continue;
                double k = sqrt((double)(dx * dx + dy * dy + dz * dz));
                double u[3] = {dx / k, dy / k, dz / k}, w[3] = {-u[0], -u[1], -u[2]};
                len[m++] = run_mm(v, c, u, threshold) + run_mm(v, c, w, threshold);
            }
    qsort(len, 13, sizeof *len, cmp_double);
    e.min_mm = len[0];
    e.median_mm = len[6];
    e.max_mm = len[12];
    return e;
}

double med_reported_diameter(double network_mm, const med_extent *e) {
    if (e->max_mm <= 0) return network_mm;
    return fmin(fmin(e->max_mm, MED_EXTENT_SPREAD * e->median_mm), fmax(e->min_mm, network_mm));
}

/* Of the voxels of the ball of diameter d (at least 2) around c that are denser than lung (> -800 HU),
 * the share above -300 HU (0 when there are none). */
static double solid_fraction(const med_volume *v, const double c[3], double d) {
    double r = d / 2 < 1 ? 1 : d / 2;
    int lo[3], hi[3], n[3] = {v->nx, v->ny, v->nz};
    for (int a = 0; a < 3; a++) {
        lo[a] = (int)floor(c[a] - r);
        hi[a] = (int)ceil(c[a] + r);
        if (lo[a] < 0) lo[a] = 0;
        if (hi[a] > n[a] - 1) hi[a] = n[a] - 1;
    }
    long dense = 0, solid = 0;
    for (int k = lo[2]; k <= hi[2]; k++)
        for (int j = lo[1]; j <= hi[1]; j++)
            for (int i = lo[0]; i <= hi[0]; i++) {
                double dx = i - c[0], dy = j - c[1], dz = k - c[2];
                if (dx * dx + dy * dy + dz * dz > r * r) continue;
                float h = v->hu[med_volume_index(v, i, j, k)];
                if (h > -800) dense++;
                if (h > -300) solid++;
            }
    return dense > 0 ? (double)solid / (double)dense : 0;
}

med_nodule_type med_nodule_type_of(const med_volume *v, const double c[3], double d, double *solid_mm) {
    double f = solid_fraction(v, c, d);
    med_nodule_type t = f >= 0.6 ? MED_NODULE_SOLID : f < 0.15 ? MED_NODULE_GROUND_GLASS : MED_NODULE_PART_SOLID;
    *solid_mm = t == MED_NODULE_SOLID ? d : t == MED_NODULE_GROUND_GLASS ? 0 : d * cbrt(f);
    return t;
}

double med_solid_part_mm(const med_volume *v, const double c[3], double d, med_nodule_type t) {
    if (t == MED_NODULE_SOLID) return d;
    if (t == MED_NODULE_GROUND_GLASS) return 0;
    return d * cbrt(solid_fraction(v, c, d));
}

int med_match_annotation(const double p[3], const double *ann, int n) {
    for (int a = 0; a < n; a++) {
        const double *q = ann + 4 * a;
        double dx = p[0] - q[0], dy = p[1] - q[1], dz = p[2] - q[2], r = q[3] / 2;
        if (dx * dx + dy * dy + dz * dz < r * r) return a;
    }
    return -1;
}
