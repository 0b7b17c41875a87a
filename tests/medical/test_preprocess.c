/* test_preprocess.c: moe-medical's CT preprocessing on volumes built here: resampling keeps every
 * voxel's world position (a linear field is reproduced exactly under a rotated, anisotropic
 * geometry), windowing, the distance transform against brute force, the lung mask of a chest
 * phantom (two lungs in a body wall, a juxtapleural nodule kept inside by the closing, mediastinum
 * and outside air left out), and the blob candidates (every planted sphere found within two voxels,
 * the juxtapleural one too, each above the vessel). Set MED_PREPROCESS_BENCH=256 to time mask and candidates on a 256^3 phantom. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "detect/candidates.h"
#include "detect/lung_mask.h"
#include "moecore/rng.h"
#include "detect/resample.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static const double IDENTITY[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};

/* ---- resampling ---------------------------------------------------------------------------------- */

static double field(const double w[3]) { return 0.5 * w[0] - 1.25 * w[1] + 2.0 * w[2] + 7; }

static void test_resample_geometry(void **state) {
    (void)state;
    /* rotated 30 degrees about z, then 10 about x; anisotropic spacing */
    double c = cos(M_PI / 6), s = sin(M_PI / 6), c2 = cos(M_PI / 18), s2 = sin(M_PI / 18);
    double dir[3][3] = {{c, s, 0}, {-s * c2, c * c2, s2}, {0, 0, 0}};
    dir[2][0] = dir[0][1] * dir[1][2] - dir[0][2] * dir[1][1];
    dir[2][1] = dir[0][2] * dir[1][0] - dir[0][0] * dir[1][2];
    dir[2][2] = dir[0][0] * dir[1][1] - dir[0][1] * dir[1][0];
    const double sp[3] = {0.7, 0.9, 2.5}, origin[3] = {-40, 12.5, -300};
    med_volume *v = med_volume_new(40, 30, 12, sp, origin, (const double(*)[3])dir, 0);
    assert_non_null(v);
    for (int k = 0; k < v->nz; k++)
        for (int j = 0; j < v->ny; j++)
            for (int i = 0; i < v->nx; i++) {
                double ijk[3] = {i, j, k}, w[3];
                med_volume_to_world(v, ijk, w);
                v->hu[med_volume_index(v, i, j, k)] = (float)field(w);
            }
    med_volume *r;
    mc_error err = {0};
    assert_int_equal(med_resample_isotropic(v, 1.0, &r, &err), MC_OK);
    /* n' = floor((n - 1) s / 1) + 1 */
    assert_int_equal(r->nx, 28); /* floor(39 * 0.7) + 1 */
    assert_int_equal(r->ny, 27); /* floor(29 * 0.9) + 1 */
    assert_int_equal(r->nz, 28); /* floor(11 * 2.5) + 1 */
    for (int a = 0; a < 3; a++) {
        assert_true(r->origin[a] == origin[a]);
        assert_true(r->spacing[a] == 1.0);
        for (int b = 0; b < 3; b++) assert_true(r->dir[a][b] == dir[a][b]);
    }
    /* trilinear interpolation reproduces a linear field: each voxel holds the field at its world position */
    double worst = 0;
    for (int k = 0; k < r->nz; k++)
        for (int j = 0; j < r->ny; j++)
            for (int i = 0; i < r->nx; i++) {
                double ijk[3] = {i, j, k}, w[3];
                med_volume_to_world(r, ijk, w);
                double d = fabs(r->hu[med_volume_index(r, i, j, k)] - field(w));
                if (d > worst) worst = d;
            }
    if (worst > 2e-3) fail_msg("resampled field off by %g", worst);
    /* a known voxel: output (5, 0, 0) is input column 5 / 0.7 = 7.142857 */
    double a = v->hu[med_volume_index(v, 7, 0, 0)], b = v->hu[med_volume_index(v, 8, 0, 0)];
    assert_true(fabs(r->hu[med_volume_index(r, 5, 0, 0)] - (a + (5 / 0.7 - 7) * (b - a))) < 1e-3);
    med_volume_free(r);
    const double bad[3] = {1, 0, 1};
    assert_int_equal(med_resample(v, bad, &r, &err), MC_ERR_ARG);
    assert_null(r);
    med_volume_free(v);

    float hu[5] = {-2000, -1350, -600, 150, 3000}, out[5];
    med_window(hu, 5, -600, 1500, out);
    const float want[5] = {0, 0, 0.5f, 1, 1};
    for (int i = 0; i < 5; i++) assert_true(fabs(out[i] - want[i]) < 1e-6);
    med_window(hu + 2, 1, -600, 3000, out);
    assert_true(fabs(out[0] - 0.5f) < 1e-6);
}

/* ---- the distance transform against brute force ------------------------------------------------ */

static void test_distance(void **state) {
    (void)state;
    int nx = 13, ny = 9, nz = 7;
    const double sp[3] = {0.8, 1.1, 2.0};
    uint8_t *m = calloc((size_t)nx * ny * nz, 1);
    float *d = malloc(sizeof(float) * (size_t)nx * ny * nz);
    mc_rng *rng = mc_rng_create(3);
    for (size_t p = 0; p < (size_t)nx * ny * nz; p++) m[p] = mc_rng_uniform(rng) < 0.03;
    m[0] = 1;
    mc_rng_destroy(rng);
    assert_int_equal(med_distance_sq(m, 1, nx, ny, nz, sp, d), MC_OK);
    for (int k = 0; k < nz; k++)
        for (int j = 0; j < ny; j++)
            for (int i = 0; i < nx; i++) {
                double bestd = 1e30;
                for (int c = 0; c < nz; c++)
                    for (int b = 0; b < ny; b++)
                        for (int a = 0; a < nx; a++) {
                            if (!m[((size_t)c * ny + b) * nx + a]) continue;
                            double dx = (a - i) * sp[0], dy = (b - j) * sp[1], dz = (c - k) * sp[2];
                            double e = dx * dx + dy * dy + dz * dz;
                            if (e < bestd) bestd = e;
                        }
                float got = d[((size_t)k * ny + j) * nx + i];
                if (fabs(got - bestd) > 1e-3 * (1 + bestd)) fail_msg("(%d,%d,%d): %g, want %g", i, j, k, got, bestd);
            }
    free(m);
    free(d);
}

/* ---- a chest phantom ------------------------------------------------------------------------------- */

typedef struct sphere {
    double c[3], d;
} sphere;

/* World mm; the chest is centred on (0, 0, Z0). */
#define Z0 (-125.0)
static const double LUNG_C[2][3] = {{-30, 0, Z0}, {30, 0, Z0}}, LUNG_R[3] = {22, 35, 60};
static const sphere NODULES[4] = {
    {{-22, -5, Z0 + 10}, 10},   /* inside the left lung */
    {{28, -15, Z0 + 25}, 6},    /* small, right lung */
    {{47.3, 0, Z0 - 15}, 12},   /* juxtapleural: 2 mm into the right lung's lateral wall (at x = 51.3) */
    {{25, 12, Z0 - 30}, 16},    /* large, right lung */
};
static const double VESSEL[2] = {-38, 12}; /* a vessel along z through the left lung, 5 mm across */
#define VESSEL_R 2.5

static int in_lung(const double w[3]) {
    for (int l = 0; l < 2; l++) {
        double s = 0;
        for (int a = 0; a < 3; a++) s += pow((w[a] - LUNG_C[l][a]) / LUNG_R[a], 2);
        if (s <= 1) return 1;
    }
    return 0;
}

static double phantom_hu(const double w[3]) {
    if (pow(w[0] / 70, 2) + pow(w[1] / 55, 2) > 1) return -1000; /* outside the body */
    for (int n = 0; n < 4; n++) {
        double s = 0;
        for (int a = 0; a < 3; a++) s += pow(w[a] - NODULES[n].c[a], 2);
        if (s <= pow(NODULES[n].d / 2, 2)) return 30;
    }
    if (pow(w[0] - VESSEL[0], 2) + pow(w[1] - VESSEL[1], 2) <= VESSEL_R * VESSEL_R) return 40;
    return in_lung(w) ? -850 : 40;
}

/* The phantom sampled on a grid of n voxels of spacing sp (2 x 2 x 2 supersampling) plus noise. */
static med_volume *phantom(const int n[3], const double sp[3], double noise, uint64_t seed) {
    double origin[3];
    for (int a = 0; a < 3; a++) origin[a] = -(n[a] - 1) * sp[a] / 2;
    origin[2] += Z0;
    med_volume *v = med_volume_new(n[0], n[1], n[2], sp, origin, IDENTITY, 0);
    assert_non_null(v);
#pragma omp parallel for schedule(static)
    for (int k = 0; k < n[2]; k++)
        for (int j = 0; j < n[1]; j++)
            for (int i = 0; i < n[0]; i++) {
                double s = 0;
                for (int q = 0; q < 8; q++) {
                    double ijk[3] = {i + ((q & 1) ? 0.25 : -0.25), j + ((q & 2) ? 0.25 : -0.25), k + ((q & 4) ? 0.25 : -0.25)}, w[3];
                    med_volume_to_world(v, ijk, w);
                    s += phantom_hu(w);
                }
                v->hu[med_volume_index(v, i, j, k)] = (float)(s / 8);
            }
    mc_rng *rng = mc_rng_create(seed);
    for (size_t p = 0; p < (size_t)n[0] * n[1] * n[2]; p++) v->hu[p] += (float)(noise * mc_rng_normal(rng));
    mc_rng_destroy(rng);
    return v;
}

static int mask_at(const med_volume *v, const uint8_t *m, const double w[3]) {
    double ijk[3];
    med_volume_to_voxel(v, w, ijk);
    int i = (int)lround(ijk[0]), j = (int)lround(ijk[1]), k = (int)lround(ijk[2]);
    assert_true(i >= 0 && j >= 0 && k >= 0 && i < v->nx && j < v->ny && k < v->nz);
    return m[med_volume_index(v, i, j, k)];
}

/* The phantom scanned at 0.78 x 0.78 x 1.5 mm, then resampled to 1 mm as the detector sees it. */
static med_volume *scanned_phantom(void) {
    const int n[3] = {192, 150, 100};
    const double sp[3] = {0.78, 0.78, 1.5};
    med_volume *raw = phantom(n, sp, 15, 11), *v;
    assert_int_equal(med_resample_isotropic(raw, 1.0, &v, NULL), MC_OK);
    med_volume_free(raw);
    return v;
}

static void test_lung_mask(void **state) {
    (void)state;
    med_volume *v = scanned_phantom();
    uint8_t *m;
    med_lung_mask_info info;
    mc_error err = {0};
    double t0 = now();
    assert_int_equal(med_lung_mask(v, NULL, &m, &info, &err), MC_OK);
    printf("lung mask of %d x %d x %d voxels: %.2f s, %d components, %.1f + %.1f mL, mask %.1f mL\n", v->nx, v->ny,
           v->nz, now() - t0, info.components, info.volume_ml[0], info.volume_ml[1], info.mask_ml);
    assert_int_equal(info.components, 2);
    /* each lung is an ellipsoid of 4/3 pi 22 35 60 mm^3 = 193.5 mL, less its nodules and vessel */
    assert_true(info.volume_ml[0] > 170 && info.volume_ml[0] < 200);
    assert_true(info.volume_ml[1] > 170 && info.volume_ml[1] < 200);
    /* after the 2 mm dilation about two ellipsoids of 24 x 37 x 62 mm: 2 x 230.6 mL */
    assert_true(info.mask_ml > 440 && info.mask_ml < 480);
    /* every nodule's centre inside the mask, the juxtapleural one included */
    for (int s = 0; s < 4; s++) assert_true(mask_at(v, m, NODULES[s].c));
    /* all of the juxtapleural nodule that bulges into the lung is inside */
    const sphere *jp = &NODULES[2];
    int inside = 0, total = 0, core = 0, core_in = 0; /* the core: within 4 mm of the centre */
    for (double dz = -6; dz <= 6; dz += 1)
        for (double dy = -6; dy <= 6; dy += 1)
            for (double dx = -6; dx <= 6; dx += 1) {
                double w[3] = {jp->c[0] + dx, jp->c[1] + dy, jp->c[2] + dz}, r2 = dx * dx + dy * dy + dz * dz;
                if (r2 > 36 || !in_lung(w)) continue;
                int in = mask_at(v, m, w);
                total++;
                inside += in;
                if (r2 <= 16) core++, core_in += in;
            }
    printf("juxtapleural nodule: %d of %d voxels on the lung side in the mask (core: %d of %d)\n", inside, total,
           core_in, core);
    assert_true(total > 500 && inside == total);
    assert_int_equal(core_in, core);
    const double vessel[3] = {VESSEL[0], VESSEL[1], Z0}, mediastinum[3] = {0, 0, Z0}, wall[3] = {62, 0, Z0},
                 outside[3] = {-72, -55, Z0}, below[3] = {-30, 0, Z0 - 68};
    assert_true(mask_at(v, m, vessel));
    assert_false(mask_at(v, m, mediastinum));
    assert_false(mask_at(v, m, wall));
    assert_false(mask_at(v, m, outside));
    assert_false(mask_at(v, m, below));
    free(m);
    /* without the closing the juxtapleural nodule is left outside */
    med_lung_mask_opts o;
    med_lung_mask_opts_default(&o);
    o.closing_mm = 0;
    o.dilation_mm = 0;
    assert_int_equal(med_lung_mask(v, &o, &m, &info, &err), MC_OK);
    assert_false(mask_at(v, m, jp->c));
    assert_true(mask_at(v, m, NODULES[0].c)); /* an enclosed nodule is filled in as a hole */
    free(m);
    /* a volume of tissue only has no lungs */
    med_volume *solid = med_volume_new(20, 20, 20, v->spacing, v->origin, IDENTITY, 40);
    assert_int_equal(med_lung_mask(solid, NULL, &m, &info, &err), MC_OK);
    assert_int_equal(info.components, 0);
    for (int p = 0; p < 8000; p++) assert_int_equal(m[p], 0);
    free(m);
    med_volume_free(solid);
    med_volume_free(v);
}

static void test_candidates(void **state) {
    (void)state;
    med_volume *v = scanned_phantom();
    uint8_t *m;
    med_lung_mask_info info;
    assert_int_equal(med_lung_mask(v, NULL, &m, &info, NULL), MC_OK);
    med_candidate *c;
    int n;
    mc_error err = {0};
    double t0 = now();
    med_candidate_opts o;
    med_candidate_opts_default(&o);
    o.min_response = 1; /* weak answers too, so that the vessel's show */
    assert_int_equal(med_candidates_find(v, m, &o, &c, &n, &err), MC_OK);
    printf("candidates of %d x %d x %d voxels: %.2f s, %d found\n", v->nx, v->ny, v->nz, now() - t0, n);
    assert_true(n >= 4);
    for (int i = 1; i < n; i++) assert_true(c[i - 1].response >= c[i].response);
    /* the strongest candidate on the vessel (within 4 mm of its axis) */
    double vessel_best = 0;
    for (int i = 0; i < n; i++)
        if (hypot(c[i].x - VESSEL[0], c[i].y - VESSEL[1]) < VESSEL_R + 1.5 && c[i].response > vessel_best)
            vessel_best = c[i].response;
    for (int s = 0; s < 4; s++) {
        int hit = -1;
        double best = 1e9;
        for (int i = 0; i < n; i++) {
            double d = sqrt(pow(c[i].x - NODULES[s].c[0], 2) + pow(c[i].y - NODULES[s].c[1], 2) +
                            pow(c[i].z - NODULES[s].c[2], 2));
            if (d < best) best = d, hit = i;
        }
        printf("nodule %d (%.0f mm): candidate %d at %.2f mm, diameter %.1f mm, response %.1f (vessel %.1f)\n", s,
               NODULES[s].d, hit, best, c[hit].diameter_mm, c[hit].response, vessel_best);
        /* within two voxels, the juxtapleural nodule too: the filter takes the wall outside the mask as
         * parenchyma, so the wall no longer pulls its apparent centre into the lung */
        assert_true(best <= 2.0);
        assert_true(c[hit].response > vessel_best);
        assert_true(c[hit].diameter_mm > 0.6 * NODULES[s].d && c[hit].diameter_mm < 1.5 * NODULES[s].d);
    }
    /* the vessel never outranks a nodule: the four nodules are the first four candidates */
    for (int i = 0; i < 4; i++) {
        int on_nodule = 0;
        for (int s = 0; s < 4; s++)
            on_nodule |= pow(c[i].x - NODULES[s].c[0], 2) + pow(c[i].y - NODULES[s].c[1], 2) +
                             pow(c[i].z - NODULES[s].c[2], 2) <= 9.0;
        assert_true(on_nodule);
    }
    assert_true(vessel_best > 0);
    free(c);
    free(m);
    o.scales = 0;
    assert_int_equal(med_candidates_find(v, NULL, &o, &c, &n, &err), MC_ERR_ARG);
    med_volume_free(v);
}

/* Timing on a size^3 phantom at 1 mm (not a test: run with MED_PREPROCESS_BENCH=256). */
static void bench(int size) {
    const int n[3] = {size, size, size};
    const double sp[3] = {1, 1, 1};
    med_volume *v = phantom(n, sp, 15, 5);
    uint8_t *m;
    med_lung_mask_info info;
    med_candidate *c;
    int nc;
    double t0 = now();
    if (med_lung_mask(v, NULL, &m, &info, NULL) != MC_OK) return;
    double t1 = now();
    if (med_candidates_find(v, m, NULL, &c, &nc, NULL) != MC_OK) return;
    double t2 = now();
    med_volume *r;
    if (med_resample_isotropic(v, 1.0, &r, NULL) != MC_OK) return;
    double t3 = now();
    printf("%d^3 (%.2f x %.2f x %.2f mm): lung mask %.2f s, candidates %.2f s (%d), resample to 1 mm %.2f s\n", size,
           sp[0], sp[1], sp[2], t1 - t0, t2 - t1, nc, t3 - t2);
    free(m);
    free(c);
    med_volume_free(r);
    med_volume_free(v);
}

int main(void) {
    const char *b = getenv("MED_PREPROCESS_BENCH");
    if (b) {
        bench(atoi(b));
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resample_geometry),
        cmocka_unit_test(test_distance),
        cmocka_unit_test(test_lung_mask),
        cmocka_unit_test(test_candidates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
