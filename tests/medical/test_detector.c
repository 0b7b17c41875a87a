/* test_detector.c: the nodule detector's pieces on hand-worked cases: patch sampling (identity, flip,
 * outside the volume, the 2 mm context channel), 3D non-maximum suppression, LUNA16's hit rule,
 * nodule type and solid part from densities, decoding the network's heads, the multi-task loss
 * (hand-worked value, gradient by central differences), the training targets of a patch set,
 * batched scoring equal to one-at-a-time scoring and to explicitly flipped patches, the fusion
 * layer's fit (its optimality conditions), its JSON form, and the Brock risk of a finding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "assert_double.h"
#include "detect/detector.h"
#include "risk/fusion.h"
#include "moecore/rng.h"
#include "detect/nodule_train.h"

static med_volume *cube(int n, float fill) {
    const double sp[3] = {1, 1, 1}, org[3] = {0, 0, 0}, dir[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
    return med_volume_new(n, n, n, sp, org, dir, fill);
}

static void test_patch(void **state) {
    (void)state;
    med_volume *v = cube(30, 0);
    for (int k = 0; k < 30; k++)
        for (int j = 0; j < 30; j++)
            for (int i = 0; i < 30; i++) v->hu[med_volume_index(v, i, j, k)] = -1000.0f + 10.0f * (float)i;
    float *p = malloc(sizeof *p * MED_PATCH * MED_PATCH * MED_PATCH);
    const double eye[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, flip[3][3] = {{-1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
    /* patch x samples column 15 + x - 11.5: HU -965 + 10 x, windowed (HU + 1000) / 1400 */
    double c[3] = {15, 15, 15};
    med_patch_extract(v, c, eye, p);
    assert_double_equal(p[0], 35.0 / 1400, 1e-6);
    assert_double_equal(p[23], 265.0 / 1400, 1e-6);
    assert_double_equal(p[(5 * MED_PATCH + 7) * MED_PATCH + 4], 75.0 / 1400, 1e-6);
    med_patch_extract(v, c, flip, p);
    assert_double_equal(p[0], 265.0 / 1400, 1e-6);
    assert_double_equal(p[23], 35.0 / 1400, 1e-6);
    /* at the volume's edge: columns below 0 are air (0 after windowing) */
    double e[3] = {0, 15, 15};
    med_patch_extract(v, e, eye, p);
    assert_double_equal(p[0], 0, 0);
    assert_double_equal(p[23], 115.0 / 1400, 1e-6);
    free(p);
    /* the network's input: channel 0 as above, channel 1 at 2 mm: offset d samples 15 + 2 d, so column
     * x of row (y, z) = (11, 11) (at 14, 14) samples column 2 x - 8, HU -1080 + 20 x inside the 30
     * columns, air outside */
    float *in = malloc(sizeof *in * MED_INPUT_SIZE);
    const size_t ch = (size_t)MED_PATCH * MED_PATCH * MED_PATCH, row = ch + (11 * MED_PATCH + 11) * MED_PATCH;
    med_patch_input(v, c, eye, in);
    assert_double_equal(in[23], 265.0 / 1400, 1e-6);
    assert_double_equal(in[row + 0], 0, 0);                 /* column -8 */
    assert_double_equal(in[row + 10], 120.0 / 1400, 1e-6);  /* column 12 */
    assert_double_equal(in[row + 18], 280.0 / 1400, 1e-6);  /* column 28 */
    assert_double_equal(in[row + 19], 0, 0);                /* column 30 */
    assert_double_equal(in[ch + 10], 0, 0);                 /* row (0, 0) lies at -8, -8: outside */
    assert_double_equal(in[ch + (5 * MED_PATCH + 7) * MED_PATCH + 5], 20.0 / 1400, 1e-6); /* column 2 */
    med_patch_input(v, c, flip, in);
    assert_double_equal(in[row + 5], 280.0 / 1400, 1e-6);
    assert_double_equal(in[row + 13], 120.0 / 1400, 1e-6);
    free(in);
    med_volume_free(v);
}

static void test_nms_and_match(void **state) {
    (void)state;
    med_candidate c[4] = {{.x = 0, .diameter_mm = 10}, {.x = 3, .diameter_mm = 4}, {.x = 20, .diameter_mm = 4},
                          {.x = 21, .diameter_mm = 2}};
    double radius[4] = {5, 2, 0.8, 1};
    float prob[4] = {0.9f, 0.8f, 0.7f, 0.95f};
    int order[4];
    /* D (0.95) kept; A (0.9) 21 mm away kept; B 3 mm from A (radii 5 and 2: the smaller does not
     * reach) kept; C within D's 3 mm floor dropped */
    assert_int_equal(med_nms3d(c, prob, radius, 4, 3.0, order), 3);
    assert_int_equal(order[0], 3);
    assert_int_equal(order[1], 0);
    assert_int_equal(order[2], 1);
    /* with B's reported radius 3.5, each lies within the other's: B dropped */
    radius[1] = 3.5;
    assert_int_equal(med_nms3d(c, prob, radius, 4, 3.0, order), 2);
    /* with no floor C is 1 mm from D, and neither radius (0.8, 1) exceeds that: kept */
    assert_int_equal(med_nms3d(c, prob, radius, 4, 0.0, order), 3);
    assert_int_equal(order[2], 2);
    /* both radii must reach: C's 1.5 with D's 1 does not, 1.5 with 1.5 does */
    radius[2] = 1.5;
    assert_int_equal(med_nms3d(c, prob, radius, 4, 0.0, order), 3);
    radius[3] = 1.5;
    assert_int_equal(med_nms3d(c, prob, radius, 4, 0.0, order), 2);
    double ann[8] = {0, 0, 0, 10, 50, 50, 50, 4};
    double in[3] = {4.99, 0, 0}, edge[3] = {5, 0, 0}, second[3] = {51, 51, 50};
    assert_int_equal(med_match_annotation(in, ann, 2), 0);
    assert_int_equal(med_match_annotation(edge, ann, 2), -1);
    assert_int_equal(med_match_annotation(second, ann, 2), 1);
}

static void ball(med_volume *v, double r, float hu) {
    for (int k = 0; k < v->nz; k++)
        for (int j = 0; j < v->ny; j++)
            for (int i = 0; i < v->nx; i++) {
                double dx = i - 20, dy = j - 20, dz = k - 20;
                if (dx * dx + dy * dy + dz * dz <= r * r) v->hu[med_volume_index(v, i, j, k)] = hu;
            }
}

/* A 20 mm solid nodule with two candidates on it, 8 mm apart, whose blob filter saw 4 mm balls: the
 * network's 20 mm is within the measured extent, so both report about 20 mm and one finding is left
 * (suppression by the blob radius kept both). A 3.8 mm nodule the network calls 1.6 mm reports at
 * least its narrowest measured line. */
static void test_one_finding_per_nodule(void **state) {
    (void)state;
    med_volume *v = cube(60, -860);
    for (int k = 0; k < 60; k++)
        for (int j = 0; j < 60; j++)
            for (int i = 0; i < 60; i++) {
                double dx = i - 30, dy = j - 30, dz = k - 30, d = sqrt(dx * dx + dy * dy + dz * dz);
                /* a 10 mm radius, blurred over 1 mm like a scanner's */
                double w = fmin(1, fmax(0, 10.5 - d));
                v->hu[med_volume_index(v, i, j, k)] = (float)(-860 + w * 905);
            }
    const double at[2][3] = {{30, 30, 30}, {38, 30, 30}};
    med_candidate c[2] = {{.x = 30, .y = 30, .z = 30, .diameter_mm = 4}, {.x = 38, .y = 30, .z = 30, .diameter_mm = 4}};
    double radius[2], blob[2] = {2, 2};
    float prob[2] = {0.99f, 0.97f};
    for (int a = 0; a < 2; a++) {
        med_extent e = med_nodule_extent(v, at[a]);
        assert_true(e.min_mm <= e.median_mm && e.median_mm <= e.max_mm);
        radius[a] = med_reported_diameter(20, &e) / 2;
        if (a == 0) {
            /* through the centre every line crosses the whole ball: 21 mm within a sample */
            assert_double_equal(e.min_mm, 21, 1.0);
            assert_double_equal(e.max_mm, 21, 1.0);
            assert_double_equal(radius[0], 10.5, 0.5);
            /* the network's size is bounded by what is there */
            assert_double_equal(med_reported_diameter(1.6, &e), e.min_mm, 0);
            assert_double_equal(med_reported_diameter(45, &e), e.max_mm, 0);
        }
    }
    int order[2];
    assert_true(radius[1] > 8);
    assert_int_equal(med_nms3d(c, prob, radius, 2, 3.0, order), 1);
    assert_int_equal(order[0], 0);
    assert_int_equal(med_nms3d(c, prob, blob, 2, 3.0, order), 2);
    /* lung alone: nothing to measure, the network's diameter stands */
    const double air[3] = {5, 5, 5};
    med_extent none = med_nodule_extent(v, air);
    assert_double_equal(none.max_mm, 0, 0);
    assert_double_equal(med_reported_diameter(7, &none), 7, 0);
    /* a 3.8 mm ground-glass nodule (-560 HU) */
    for (size_t q = 0; q < (size_t)60 * 60 * 60; q++) v->hu[q] = -860;
    for (int k = 25; k < 36; k++)
        for (int j = 25; j < 36; j++)
            for (int i = 25; i < 36; i++) {
                double dx = i - 30, dy = j - 30, dz = k - 30, d = sqrt(dx * dx + dy * dy + dz * dz);
                double w = fmin(1, fmax(0, 1.9 + 0.5 - d));
                v->hu[med_volume_index(v, i, j, k)] = (float)(-860 + w * 300);
            }
    med_extent small = med_nodule_extent(v, at[0]);
    assert_true(small.min_mm >= 3 && small.max_mm <= 6);
    assert_true(med_reported_diameter(1.6, &small) >= 3);
    med_volume_free(v);
}

static void test_type(void **state) {
    (void)state;
    const double c[3] = {20, 20, 20};
    double solid;
    med_volume *v = cube(40, -850);
    ball(v, 5, 40);
    assert_int_equal(med_nodule_type_of(v, c, 10, &solid), MED_NODULE_SOLID);
    assert_double_equal(solid, 10, 0);
    ball(v, 5, -600);
    assert_int_equal(med_nodule_type_of(v, c, 10, &solid), MED_NODULE_GROUND_GLASS);
    assert_double_equal(solid, 0, 0);
    ball(v, 3, 40); /* a 6 mm solid core in a 10 mm ground-glass ball */
    assert_int_equal(med_nodule_type_of(v, c, 10, &solid), MED_NODULE_PART_SOLID);
    assert_double_equal(solid, 6, 0.4);
    /* the solid part for a type given (the network's): whole, none, or the rule's measure */
    assert_double_equal(med_solid_part_mm(v, c, 10, MED_NODULE_PART_SOLID), solid, 1e-12);
    assert_double_equal(med_solid_part_mm(v, c, 10, MED_NODULE_SOLID), 10, 0);
    assert_double_equal(med_solid_part_mm(v, c, 10, MED_NODULE_GROUND_GLASS), 0, 0);
    med_volume_free(v);
}

static void test_score_of(void **state) {
    (void)state;
    const float h[MED_HEADS] = {0.0f, (float)log(2.0), 0.1f, 0.5f, 0.2f};
    med_score sc = med_score_of(h);
    assert_double_equal(sc.probability, 0.5, 1e-7);
    assert_double_equal(sc.diameter_mm, 20, 1e-5);
    assert_int_equal(sc.type, MED_NODULE_PART_SOLID);
    /* softmax of (0.1, 0.5, 0.2) at 0.5 */
    assert_double_equal(sc.type_probability, exp(0.5) / (exp(0.1) + exp(0.5) + exp(0.2)), 1e-6);
    const float g[MED_HEADS] = {(float)log(3.0), (float)log(0.45), -1.0f, -2.0f, 3.0f};
    sc = med_score_of(g);
    assert_double_equal(sc.probability, 0.75, 1e-7);
    assert_double_equal(sc.diameter_mm, 4.5, 1e-5);
    assert_int_equal(sc.type, MED_NODULE_GROUND_GLASS);
}

static void test_loss(void **state) {
    (void)state;
    /* a positive (part-solid, 12 mm) with outputs 0, ln 1.2 - ln 1.2 ... and a negative whose diameter
     * and type outputs must not count: BCE (2 ln 2 + ln 4) / 2 with pos_weight 2 and p(neg) = 3/4,
     * Huber 0.5 ln(1.2)^2, cross-entropy ln 3 weighted by MED_W_TYPE */
    float out[2 * MED_HEADS] = {0, 0, 0, 0, 0, (float)log(3.0), 5, 9, -9, 9};
    const float y[2 * MED_TARGETS] = {1, (float)log(1.2), 1, 0, 0, -1};
    double want = 2 * log(2.0) + MED_W_DIAMETER * 0.5 * log(1.2) * log(1.2) + MED_W_TYPE * log(3.0);
    float d[2 * MED_HEADS];
    assert_double_equal(med_detector_loss(out, y, 2, 2.0f, d), want, 1e-6);
    for (int q = 6; q < 10; q++) assert_double_equal(d[q], 0, 0);
    /* the gradient by central differences at random outputs, a batch of 5 with 3 positives (one of
     * unknown type) and a diameter error beyond the Huber threshold */
    enum { B = 5 };
    float o[B * MED_HEADS], g[B * MED_HEADS];
    const float t[B * MED_TARGETS] = {1, 0.3f, 2, 0, 0, -1, 1, -0.9f, -1, 1, 1.2f, 0, 0, 0, -1};
    mc_rng *r = mc_rng_create(5);
    for (int q = 0; q < B * MED_HEADS; q++) o[q] = (float)mc_rng_normal(r);
    o[MED_HEADS + 1] = 3.0f;
    med_detector_loss(o, t, B, 1.5f, g);
    for (int q = 0; q < B * MED_HEADS; q++) {
        const float h = 1e-2f, keep = o[q];
        o[q] = keep + h;
        double up = med_detector_loss(o, t, B, 1.5f, NULL);
        o[q] = keep - h;
        double down = med_detector_loss(o, t, B, 1.5f, NULL);
        o[q] = keep;
        assert_double_equal(g[q], (up - down) / (2 * h), 2e-4);
    }
    mc_rng_destroy(r);
}

static void test_patch_set_targets(void **state) {
    (void)state;
    /* a 10 mm ball at (20, 20, 20), annotated as part-solid, with one candidate on it and two away */
    med_volume *v = cube(40, -850);
    ball(v, 5, 40);
    med_candidate c[3] = {{.x = 20.5, .y = 20, .z = 20, .i = 20.5, .j = 20, .k = 20, .diameter_mm = 9},
                          {.x = 5, .y = 5, .z = 5, .i = 5, .j = 5, .k = 5, .diameter_mm = 4},
                          {.x = 33, .y = 30, .z = 8, .i = 33, .j = 30, .k = 8, .diameter_mm = 4}};
    med_prepared p = {.iso = v, .cand = c, .n_cand = 3};
    const double ann[4] = {20, 20, 20, 10};
    const int type[1] = {MED_NODULE_PART_SOLID};
    med_patch_set s = {0};
    mc_rng *r = mc_rng_create(9);
    mc_error err;
    assert_int_equal(med_patch_set_add(&s, &p, 0, ann, type, 1, 4, 10, r, &err), MC_OK);
    assert_int_equal(s.n_pos, 8); /* the centre and the matching candidate, 4 copies each */
    assert_int_equal(s.n_neg, 2);
    int unscaled = 0;
    for (int i = 0; i < s.n; i++) {
        const float *y = s.y + MED_TARGETS * (size_t)i;
        if (y[0] > 0.5f) {
            /* ln(10 mm / zoom / 10 mm) with zoom 0.85-1.15; the first copy of each is not zoomed */
            assert_true(y[1] >= -log(1.15) - 1e-6 && y[1] <= -log(0.85) + 1e-6);
            unscaled += y[1] == 0.0f;
            assert_double_equal(y[2], MED_NODULE_PART_SOLID, 0);
        } else {
            assert_double_equal(y[1], 0, 0);
            assert_double_equal(y[2], -1, 0);
        }
    }
    assert_true(unscaled >= 2);
    /* the centre's first copy is the plain patch: its middle voxel is the ball's 40 HU */
    size_t mid = ((size_t)12 * MED_PATCH + 12) * MED_PATCH + 12;
    assert_double_equal(s.x[mid], 1040.0 / 1400, 1e-6);
    /* without types every positive is of unknown type */
    med_patch_set u = {0};
    assert_int_equal(med_patch_set_add(&u, &p, 0, ann, NULL, 1, 2, 10, r, &err), MC_OK);
    for (int i = 0; i < u.n; i++) assert_double_equal(u.y[MED_TARGETS * (size_t)i + 2], -1, 0);
    med_patch_set_free(&s);
    med_patch_set_free(&u);
    mc_rng_destroy(r);
    med_volume_free(v);
}

/* The mean of the network's outputs over the 8 flips of explicitly flipped patches, decoded. */
static med_score flipped_mean(mc_model *m, const med_volume *v, const double c[3]) {
    float *x = malloc(sizeof *x * MED_INPUT_SIZE), h[MED_HEADS] = {0};
    for (int f = 0; f < 8; f++) {
        const double a[3][3] = {{f & 1 ? -1 : 1, 0, 0}, {0, f & 2 ? -1 : 1, 0}, {0, 0, f & 4 ? -1 : 1}};
        med_patch_input(v, c, a, x);
        const float *out;
        assert_int_equal(mc_model_forward(m, x, 1, 0, NULL, &out), MC_OK);
        for (int q = 0; q < MED_HEADS; q++) h[q] += out[q] / 8;
    }
    free(x);
    return med_score_of(h);
}

static void test_batched_scores(void **state) {
    (void)state;
    mc_model *m;
    mc_error err;
    assert_int_equal(mc_model_create(&m, med_detector_arch(), &err), MC_OK);
    assert_int_equal(mc_model_input_size(m), MED_INPUT_SIZE);
    assert_int_equal(mc_model_output_size(m), MED_HEADS);
    assert_int_equal(med_detector_check(m, &err), MC_OK);
    mc_rng *r = mc_rng_create(3);
    mc_model_init(m, r);
    med_volume *v = cube(48, -850);
    for (size_t i = 0; i < (size_t)48 * 48 * 48; i++) v->hu[i] = (float)(-900 + 900 * mc_rng_uniform(r));
    enum { N = 40 }; /* more than one batch */
    med_candidate c[N];
    for (int i = 0; i < N; i++)
        c[i] = (med_candidate){.i = 10 + 28 * mc_rng_uniform(r), .j = 10 + 28 * mc_rng_uniform(r),
                               .k = 10 + 28 * mc_rng_uniform(r)};
    med_score all[N], one;
    assert_int_equal(med_detector_score(m, v, c, N, all, &err), MC_OK);
    for (int i = 0; i < N; i++) {
        assert_int_equal(med_detector_score(m, v, &c[i], 1, &one, &err), MC_OK);
        assert_double_equal(all[i].probability, one.probability, 1e-6);
        assert_double_equal(all[i].diameter_mm, one.diameter_mm, 1e-5 * one.diameter_mm);
        assert_int_equal(all[i].type, one.type);
        assert_true(all[i].probability > 0 && all[i].probability < 1 && all[i].diameter_mm > 0);
    }
    /* the flips made by mirroring one extraction give what sampling each flip gives */
    for (int i = 0; i < 3; i++) {
        double ijk[3] = {c[i].i, c[i].j, c[i].k};
        med_score want = flipped_mean(m, v, ijk);
        assert_double_equal(all[i].probability, want.probability, 1e-6);
        assert_double_equal(all[i].diameter_mm, want.diameter_mm, 1e-5 * want.diameter_mm);
        assert_int_equal(all[i].type, want.type);
    }
    /* a network of another shape is refused */
    mc_model *other;
    assert_int_equal(mc_model_create(&other, "{\"input\": [13824], \"layers\": [{\"type\": \"linear\", \"out\": 1}]}",
                                     &err), MC_OK);
    assert_int_equal(med_detector_score(other, v, c, 1, &one, &err), MC_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "not a nodule detector"));
    mc_model_destroy(other);
    mc_rng_destroy(r);
    med_volume_free(v);
    mc_model_destroy(m);
}

static void test_fusion_fit(void **state) {
    (void)state;
    enum { N = 300 };
    double X[N * MED_FUSION_N];
    int y[N];
    mc_rng *r = mc_rng_create(11);
    for (int i = 0; i < N; i++) {
        med_clinical c = {.age = 50 + 30 * mc_rng_uniform(r), .sex = mc_rng_below(r, 2) ? MED_SEX_FEMALE : MED_SEX_MALE,
                          .smoking = (med_smoking)(1 + mc_rng_below(r, 3)), .pack_years = 40 * mc_rng_uniform(r),
                          .family_history = (int)mc_rng_below(r, 2), .emphysema = (int)mc_rng_below(r, 2)};
        double d = 4 + 20 * mc_rng_uniform(r);
        med_fusion_features(&c, d, (med_nodule_type)mc_rng_below(r, 3), X + i * MED_FUSION_N);
        double z = -1 + 2.5 * X[i * MED_FUSION_N + 1] + 0.8 * X[i * MED_FUSION_N + 8];
        y[i] = mc_rng_uniform(r) < 1 / (1 + exp(-z));
    }
    med_fusion f;
    mc_error err;
    const double lambda = 1.0;
    assert_int_equal(med_fusion_fit(X, y, N, lambda, &f, &err), MC_OK);
    /* optimality: X'(p - y) + lambda w (intercept unpenalised) = 0 */
    for (int a = 0; a < MED_FUSION_N; a++) {
        double g = a ? lambda * f.w[a] : 0;
        for (int i = 0; i < N; i++) g += (med_fusion_risk(&f, X + i * MED_FUSION_N) - y[i]) * X[i * MED_FUSION_N + a];
        assert_double_equal(g, 0, 1e-6);
    }
    assert_true(f.w[1] > 1.0); /* the planted diameter effect */
    char *text = med_fusion_to_json(&f);
    med_fusion g;
    assert_int_equal(med_fusion_from_json(text, &g, &err), MC_OK);
    for (int a = 0; a < MED_FUSION_N; a++) assert_double_equal(g.w[a], f.w[a], 1e-12 * (1 + fabs(f.w[a])));
    free(text);
    assert_int_equal(med_fusion_from_json("{\"w\": [1, 2]}", &g, &err), MC_ERR_FORMAT);
    assert_int_equal(med_fusion_from_json("not json", &g, &err), MC_ERR_FORMAT);
    int same[3] = {1, 1, 1};
    assert_int_equal(med_fusion_fit(X, same, 3, lambda, &f, &err), MC_ERR_ARG);
    mc_rng_destroy(r);
}

static void test_brock_of(void **state) {
    (void)state;
    /* 62-year-old woman, solid 10 mm, the only nodule, no lobe or spiculation known: -6.7892 + 0.6011
     * + 3.1296650 - 0.0824 * (1 - 4) = -2.8112349, p = 0.0567201 */
    med_clinical c = {.age = 62, .sex = MED_SEX_FEMALE, .family_history = 0, .emphysema = MED_UNKNOWN};
    assert_double_equal(med_brock_of(&c, 10, MED_NODULE_SOLID, 1), 0.0567201, 1e-6);
    c.sex = MED_SEX_UNKNOWN;
    assert_true(isnan(med_brock_of(&c, 10, MED_NODULE_SOLID, 1)));
    assert_true(isnan(med_brock_of(NULL, 10, MED_NODULE_SOLID, 1)));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_patch),       cmocka_unit_test(test_nms_and_match), cmocka_unit_test(test_one_finding_per_nodule),
        cmocka_unit_test(test_type),
        cmocka_unit_test(test_score_of),    cmocka_unit_test(test_loss),          cmocka_unit_test(test_patch_set_targets),
        cmocka_unit_test(test_batched_scores), cmocka_unit_test(test_fusion_fit),
        cmocka_unit_test(test_brock_of),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
