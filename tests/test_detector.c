/* test_detector.c: the nodule detector's pieces on hand-worked cases: patch sampling (identity, flip,
 * outside the volume), 3D non-maximum suppression, LUNA16's hit rule, nodule type from densities,
 * batched scoring equal to one-at-a-time scoring, the fusion layer's fit (its
 * optimality conditions), its JSON form, and the Brock risk of a finding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "assert_double.h"
#include "detector.h"
#include "fusion.h"
#include "moecore/rng.h"
#include "nodule_train.h"

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
    med_volume_free(v);
}

static void test_nms_and_match(void **state) {
    (void)state;
    med_candidate c[4] = {{.x = 0, .diameter_mm = 10}, {.x = 3, .diameter_mm = 4}, {.x = 20, .diameter_mm = 4},
                          {.x = 21, .diameter_mm = 2}};
    float prob[4] = {0.9f, 0.8f, 0.7f, 0.95f};
    int order[4];
    /* D (0.95) kept; A (0.9) 21 mm away kept; B within A's 5 mm radius dropped; C within D's 3 mm floor */
    assert_int_equal(med_nms3d(c, prob, 4, 3.0, order), 2);
    assert_int_equal(order[0], 3);
    assert_int_equal(order[1], 0);
    /* with no floor C is 1 mm from D whose radius is 1 mm: not strictly inside, so kept */
    assert_int_equal(med_nms3d(c, prob, 4, 0.0, order), 3);
    assert_int_equal(order[2], 2);
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
    med_volume_free(v);
}

static void test_batched_scores(void **state) {
    (void)state;
    mc_model *m;
    mc_error err;
    assert_int_equal(mc_model_create(&m, med_detector_arch(), &err), MC_OK);
    assert_int_equal(mc_model_input_size(m), MED_PATCH * MED_PATCH * MED_PATCH);
    assert_int_equal(mc_model_output_size(m), 1);
    mc_rng *r = mc_rng_create(3);
    mc_model_init(m, r);
    med_volume *v = cube(48, -850);
    for (size_t i = 0; i < (size_t)48 * 48 * 48; i++) v->hu[i] = (float)(-900 + 900 * mc_rng_uniform(r));
    enum { N = 40 }; /* more than one batch */
    med_candidate c[N];
    for (int i = 0; i < N; i++)
        c[i] = (med_candidate){.i = 10 + 28 * mc_rng_uniform(r), .j = 10 + 28 * mc_rng_uniform(r),
                               .k = 10 + 28 * mc_rng_uniform(r)};
    float all[N], one;
    assert_int_equal(med_detector_score(m, v, c, N, all, &err), MC_OK);
    for (int i = 0; i < N; i++) {
        assert_int_equal(med_detector_score(m, v, &c[i], 1, &one, &err), MC_OK);
        assert_double_equal(all[i], one, 1e-6);
        assert_true(all[i] > 0 && all[i] < 1);
    }
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
        cmocka_unit_test(test_patch),       cmocka_unit_test(test_nms_and_match), cmocka_unit_test(test_type),
        cmocka_unit_test(test_batched_scores), cmocka_unit_test(test_fusion_fit),
        cmocka_unit_test(test_brock_of),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
