/* test_inspect_train.c: both inspection models learn on generated surfaces. The supervised network
 * trained on four texture classes separates good from defect images of two classes it never saw
 * (image AUROC with a bound well above chance 0.5); the good-only anomaly model fitted on good
 * images of one class separates its held-out images; a saved model loads back with the same
 * scores (the supervised one with its batch norms folded), its hash is the file's, and a damaged
 * model file is refused with a message naming it. The anomaly model's filter bank gives the
 * values worked out by hand on a ramp and a cosine, and its cross-fitted scores (each good image
 * scored by a model that did not see it) lie above the scores of the model that did. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inspect/detector.h"
#include "inspect/image_set.h"
#include "inspect/inspector.h"
#include "moecore/roc.h"
#include "inspect/surface_synth.h"

#define S 64

static char root[1024];

static void on_image(void *user, const char *path, const char *reason) {
    (void)user;
    if (reason) fail_msg("%s refused: %s", path, reason);
}

static void add_class(fab_image_set *s, int c) {
    char g[1200], d[1200], m[1200];
    mc_error err;
    snprintf(g, sizeof g, "%s/class%02d/good", root, c);
    snprintf(d, sizeof d, "%s/class%02d/defect", root, c);
    snprintf(m, sizeof m, "%s/class%02d/masks", root, c);
    assert_int_equal(fab_image_set_add_dir(s, g, 0, NULL, on_image, NULL, &err), MC_OK);
    assert_int_equal(fab_image_set_add_dir(s, d, 1, m, on_image, NULL, &err), MC_OK);
}

static double auroc_of(fab_detector *d, const fab_image_set *s, double *scores) {
    float *map = malloc(sizeof(float) * (size_t)s->n * d->map * d->map), *sf = malloc(sizeof(float) * (size_t)s->n);
    assert_int_equal(fab_detector_run(d, s->x, s->n, map, scores), MC_OK);
    for (int i = 0; i < s->n; i++) sf[i] = (float)scores[i];
    double auc;
    assert_int_equal(mc_auroc(sf, s->label, s->n, &auc), MC_OK);
    free(map);
    free(sf);
    return auc;
}

static int setup(void **state) {
    (void)state;
    const char *tmp = getenv("MC_TEST_TMP");
    snprintf(root, sizeof root, "%s/inspect_train", tmp ? tmp : ".");
    mc_error err;
    return fab_synth_write(root, 6, 16, 12, S, 2026, &err) == MC_OK ? 0 : -1;
}

static void test_masks_read(void **state) {
    (void)state;
    fab_image_set s;
    fab_image_set_init(&s, S);
    add_class(&s, 1);
    assert_int_equal(s.n, 28);
    assert_int_equal(fab_image_set_count(&s, 1), 12);
    for (int i = 0; i < s.n; i++) {
        double m = 0, x = 0, xx = 0;
        for (int k = 0; k < S * S; k++) {
            m += s.mask[(size_t)i * S * S + k];
            x += s.x[(size_t)i * S * S + k];
            xx += s.x[(size_t)i * S * S + k] * s.x[(size_t)i * S * S + k];
        }
        assert_true(s.has_mask[i]);
        if (s.label[i]) assert_true(m >= 1); /* every generated defect marks pixels */
        else assert_true(m == 0);
        assert_true(fabs(x / (S * S)) < 1e-4); /* standardised: mean 0, variance 1 */
        assert_true(fabs(xx / (S * S) - 1) < 1e-3);
    }
    fab_image_set_free(&s);
}

static void test_supervised_generalises(void **state) {
    (void)state;
    fab_image_set train, test;
    fab_image_set_init(&train, S);
    fab_image_set_init(&test, S);
    for (int c = 1; c <= 4; c++) add_class(&train, c);
    for (int c = 5; c <= 6; c++) add_class(&test, c);
    fab_inspector_opts o;
    fab_inspector_opts_default(&o);
    o.epochs = 20;
    o.min_steps = 0; /* the short schedule this bound was set with: 20 epochs of 7 steps */
    mc_rng *rng = mc_rng_create(7);
    fab_detector d = {.mode = FAB_MODE_SUPERVISED, .size = S, .map = S / FAB_MAP_STRIDE, .topk = o.topk, .threshold = 0.5};
    snprintf(d.method, sizeof d.method, "fixed");
    mc_error err;
    assert_int_equal(fab_inspector_train(&d.net, &train, NULL, &o, rng, NULL, NULL, &err), MC_OK);
    double *scores = malloc(sizeof(double) * (size_t)(train.n > test.n ? train.n : test.n));
    double seen = auroc_of(&d, &train, scores), unseen = auroc_of(&d, &test, scores);
    print_message("supervised image AUROC: training classes %.3f, unseen classes %.3f\n", seen, unseen);
    assert_true(seen > 0.8);
    assert_true(unseen > 0.62);

    /* saved and loaded: the same scores, and the hash of the file */
    char path[1200];
    snprintf(path, sizeof path, "%s/supervised.safetensors", root);
    assert_int_equal(fab_detector_save(&d, path, "{\"note\": \"test\"}", NULL, 0, &err), MC_OK);
    fab_detector *back;
    assert_int_equal(fab_detector_load(&back, path, &err), MC_OK);
    assert_int_equal(back->mode, FAB_MODE_SUPERVISED);
    assert_int_equal(back->size, S);
    assert_true(back->threshold == 0.5);
    assert_non_null(strstr(back->info, "\"note\":\"test\""));
    /* loaded in its inference form: batch norms folded into the convolutions, same scores to rounding */
    assert_null(strstr(mc_model_arch(back->net), "batchnorm"));
    assert_non_null(strstr(mc_model_arch(d.net), "batchnorm"));
    double *again = malloc(sizeof(double) * (size_t)test.n);
    auroc_of(back, &test, again);
    for (int i = 0; i < test.n; i++) assert_true(fabs(again[i] - scores[i]) < 1e-5);
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *bytes = malloc((size_t)n);
    assert_int_equal(fread(bytes, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    char hex[MC_SHA256_HEX];
    mc_sha256_hex(bytes, (size_t)n, hex);
    assert_string_equal(hex, back->sha256);
    /* a truncated model file is refused, naming the file */
    char cut[1200];
    snprintf(cut, sizeof cut, "%s/truncated.safetensors", root);
    f = fopen(cut, "wb");
    fwrite(bytes, 1, (size_t)n - 100, f);
    fclose(f);
    fab_detector *bad = NULL;
    assert_int_not_equal(fab_detector_load(&bad, cut, &err), MC_OK);
    assert_null(bad);
    assert_non_null(strstr(err.msg, cut));
    free(bytes);
    free(again);
    free(scores);
    fab_detector_free(back);
    fab_detector_clear(&d);
    fab_image_set_free(&train);
    fab_image_set_free(&test);
    mc_rng_destroy(rng);
}

static void test_anomaly_good_only(void **state) {
    (void)state;
    fab_image_set all, train, test;
    fab_image_set_init(&all, S);
    add_class(&all, 5);
    const double fraction[2] = {0.34, 1.0}; /* a third of the good images and every defect held out */
    assert_int_equal(fab_image_set_split(&all, fraction, 3, &train, &test), MC_OK);
    assert_int_equal(fab_image_set_count(&train, 1), 0);
    assert_int_equal(fab_image_set_count(&test, 1), 12);
    assert_int_equal(fab_image_set_count(&test, 0), 5);
    mc_rng *rng = mc_rng_create(11);
    fab_detector d = {.mode = FAB_MODE_ANOMALY, .size = S, .map = S / FAB_MAP_STRIDE, .topk = 1, .threshold = 1};
    snprintf(d.method, sizeof d.method, "fixed");
    mc_error err;
    assert_int_equal(fab_anomaly_fit(&d.anomaly, &train, NULL, 300, rng, &err), MC_OK);
    assert_int_equal(d.anomaly.n_bank, 300); /* 11 images x 144 patches (12 x 12 inside the margin), thinned to 300 */
    double scores[32];
    double auc = auroc_of(&d, &test, scores);
    print_message("anomaly image AUROC, held-out images of its class: %.3f\n", auc);
    assert_true(auc > 0.7);
    /* saved and loaded: the same bank, the same scores */
    char path[1200];
    snprintf(path, sizeof path, "%s/anomaly.safetensors", root);
    assert_int_equal(fab_detector_save(&d, path, NULL, NULL, 0, &err), MC_OK);
    fab_detector *back;
    assert_int_equal(fab_detector_load(&back, path, &err), MC_OK);
    assert_int_equal(back->mode, FAB_MODE_ANOMALY);
    assert_int_equal(back->anomaly.n_bank, 300);
    double again[32];
    auroc_of(back, &test, again);
    for (int i = 0; i < test.n; i++) assert_true(again[i] == scores[i]);
    fab_detector_free(back);
    fab_detector_clear(&d);
    fab_image_set_free(&all);
    fab_image_set_free(&train);
    fab_image_set_free(&test);
    mc_rng_destroy(rng);
}

/* On a 128 x 128 image, at the patches at least 4 sigma + 1 from the border (where the mirror
 * does not reach): a ramp 0.05 x gives itself smoothed, d/dx = 0.05 and nothing else at every scale; a cosine of
 * y with period 16 (w = 2 pi / 16) is smoothed to exp(-sigma^2 w^2 / 2) of its amplitude, its
 * second derivative is -w^2 times that, its x-derivative 0; and the local energy of its
 * y-derivative at sigma 4 is w exp(-8 w^2) / sqrt(2) (the square's ripple is smoothed away). */
static void test_anomaly_filter_bank(void **state) {
    (void)state;
    enum { N = 128 };
    const int G = fab_anomaly_grid(N), D = FAB_ANOMALY_DIM;
    assert_int_equal(G, 28); /* centres 10, 14, ..., 118 */
    float *x = malloc(sizeof(float) * N * N), *f = malloc(sizeof(float) * (size_t)G * G * D);
    float *scratch = malloc(sizeof(float) * fab_anomaly_scratch(N));
    const double w = 2 * M_PI / 16;
    for (int pass = 0; pass < 2; pass++) {
        for (int y = 0; y < N; y++)
            for (int i = 0; i < N; i++) x[y * N + i] = pass == 0 ? 0.05f * (float)i : (float)cos(w * y);
        fab_anomaly_features(x, N, f, scratch);
        int checked = 0;
        for (int s = 0; s < FAB_ANOMALY_SCALES; s++) {
            const double sg = fab_anomaly_sigma[s], att = exp(-sg * sg * w * w / 2);
            const int far = (int)(4 * sg) + 1 + (pass == 1 && s == 2 ? 32 : 0);
            for (int jy = 0; jy < G; jy++)
                for (int jx = 0; jx < G; jx++) {
                    int cy = 10 + 4 * jy, cx = 10 + 4 * jx;
                    if (cy < far || cy >= N - far || cx < far || cx >= N - far) continue;
                    const float *p = f + ((size_t)jy * G + jx) * D + 6 * s;
                    if (pass == 0) {
                        assert_true(fabs(p[0] - 0.05 * cx) < 1e-3 && fabs(p[1] - 0.05) < 1e-4);
                        /* the sampled second-derivative kernels sum to 1e-4 of the value, not 0 */
                        for (int c = 2; c < 6; c++) assert_true(fabs(p[c]) < 1e-4 * (1 + 0.05 * cx));
                    } else {
                        assert_true(fabs(p[0] - att * cos(w * cy)) < 0.01 * att + 1e-5);
                        assert_true(fabs(p[5] + w * w * att * cos(w * cy)) < 0.01 * w * w * att + 1e-5);
                        assert_true(fabs(p[1]) < 1e-4 && fabs(p[3]) < 1e-4 && fabs(p[4]) < 1e-4);
                        if (s == 2) {
                            double e = w * exp(-8 * w * w) / sqrt(2.0);
                            assert_true(fabs(f[((size_t)jy * G + jx) * D + 18 + 12 + 2] - e) < 0.02 * e);
                        }
                    }
                    checked++;
                }
        }
        assert_true(checked > 300);
    }
    free(x);
    free(f);
    free(scratch);
}

/* Each good image scored by a model of the other folds: finite for every good image, NaN for the
 * defects, and above on average the scores of a model fitted on every good image (which has seen
 * the image's own patches). */
static void test_anomaly_crossfit(void **state) {
    (void)state;
    fab_image_set all;
    fab_image_set_init(&all, S);
    add_class(&all, 2);
    mc_rng *rng = mc_rng_create(5);
    mc_error err;
    double cross[64], own[64];
    assert_int_equal(fab_anomaly_crossfit(&all, 4, 300, rng, cross, &err), MC_OK);
    fab_anomaly a;
    assert_int_equal(fab_anomaly_fit(&a, &all, NULL, 300, rng, &err), MC_OK);
    float *map = malloc(sizeof(float) * (size_t)all.n * (S / 8) * (S / 8));
    assert_int_equal(fab_anomaly_score(&a, all.x, all.n, map, own, &err), MC_OK);
    double sc = 0, so = 0;
    int ng = 0;
    for (int i = 0; i < all.n; i++) {
        if (all.label[i]) {
            assert_true(isnan(cross[i]));
            continue;
        }
        assert_true(isfinite(cross[i]) && cross[i] > 0);
        sc += cross[i];
        so += own[i];
        ng++;
    }
    assert_int_equal(ng, 16);
    print_message("cross-fitted mean good score %.3f, in-sample %.3f\n", sc / ng, so / ng);
    assert_true(sc > so);
    assert_int_equal(fab_anomaly_crossfit(&all, 17, 300, rng, cross, &err), MC_ERR_ARG);
    free(map);
    fab_anomaly_free(&a);
    fab_image_set_free(&all);
    mc_rng_destroy(rng);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_anomaly_filter_bank),
        cmocka_unit_test(test_anomaly_crossfit),
        cmocka_unit_test(test_masks_read),
        cmocka_unit_test(test_supervised_generalises),
        cmocka_unit_test(test_anomaly_good_only),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
