/* test_png.c: moe-factory's PNG reader against the corpus of tests/factory/make_png_fixtures.py:
 * every colour type, bit depth and interlacing decodes to exactly the samples PIL decodes; every
 * corrupt or hostile file fails with one message naming it; area resizing matches the numpy
 * reference; written PNGs read back unchanged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inspect/png_io.h"

#ifndef FAB_PNG_DIR
#error FAB_PNG_DIR must name tests/factory/png
#endif

static int read_expected(const char *name, int *w, int *h, int *c, long *maxval, long **samples) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.txt", FAB_PNG_DIR, name);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    if (fscanf(f, "%d %d %d %ld", w, h, c, maxval) != 4) {
        fclose(f);
        return -1;
    }
    size_t n = (size_t)*w * *h * *c;
    *samples = malloc(sizeof(long) * n);
    for (size_t i = 0; i < n; i++)
        if (fscanf(f, "%ld", &(*samples)[i]) != 1) {
            fclose(f);
            return -1;
        }
    fclose(f);
    return 0;
}

static void test_every_variant_matches(void **state) {
    (void)state;
    DIR *d = opendir(FAB_PNG_DIR);
    assert_non_null(d);
    int checked = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".txt") != 0 || strcmp(e->d_name, "resize.txt") == 0) continue;
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(len - 4), e->d_name);
        int w, h, c;
        long maxval, *want = NULL;
        assert_int_equal(read_expected(name, &w, &h, &c, &maxval, &want), 0);
        char path[1024];
        snprintf(path, sizeof path, "%s/%s.png", FAB_PNG_DIR, name);
        fab_image im;
        mc_error err;
        mc_status st = fab_png_read(&im, path, FAB_PNG_MAX_PIXELS, NULL, NULL, &err);
        if (st != MC_OK) fail_msg("%s: %s", name, err.msg);
        if (im.w != w || im.h != h || im.c != c) fail_msg("%s: %dx%dx%d, want %dx%dx%d", name, im.w, im.h, im.c, w, h, c);
        for (size_t i = 0; i < (size_t)w * h * c; i++) {
            float expect = (float)want[i] / (float)maxval;
            if (im.px[i] != expect) fail_msg("%s: sample %zu is %.9g, want %.9g", name, i, im.px[i], expect);
        }
        fab_image_free(&im);
        free(want);
        checked++;
    }
    closedir(d);
    assert_true(checked >= 30); /* the whole corpus, not a part of it */
}

static void expect_error(const char *name, const char *words) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.png", FAB_PNG_DIR, name);
    fab_image im;
    mc_error err;
    mc_status st = fab_png_read(&im, path, FAB_PNG_MAX_PIXELS, NULL, NULL, &err);
    if (st == MC_OK) fail_msg("%s decoded, want an error", name);
    assert_null(im.px);
    if (!strstr(err.msg, path)) fail_msg("%s: message does not name the file: %s", name, err.msg);
    if (!strstr(err.msg, words)) fail_msg("%s: message '%s' lacks '%s'", name, err.msg, words);
}

static void test_corrupt_files(void **state) {
    (void)state;
    expect_error("bad_crc", "CRC");
    expect_error("bad_idat_data", "corrupt PNG");
    expect_error("bad_truncated", "truncated");
    expect_error("bad_depth", "corrupt PNG");
    expect_error("bad_zero_width", "corrupt PNG");
    expect_error("bad_huge", "corrupt PNG");
    expect_error("bad_bomb", "30000 x 30000 pixels, above the limit");
    expect_error("bad_zlib", "corrupt PNG");
    expect_error("bad_no_idat", "corrupt PNG");
    expect_error("bad_signature_only", "truncated");
    expect_error("bad_empty", "not a PNG file");
    expect_error("bad_text", "not a PNG file");
    expect_error("no_such_file", "cannot open");
}

static void test_pixel_limit(void **state) {
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/grey8_pil.png", FAB_PNG_DIR);
    fab_image im;
    mc_error err;
    assert_int_equal(fab_png_read(&im, path, 13 * 7 - 1, NULL, NULL, &err), MC_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "13 x 7 pixels, above the limit of 90 pixels"));
    assert_int_equal(fab_png_read(&im, path, 13 * 7, NULL, NULL, &err), MC_OK);
    fab_image_free(&im);
}

static void test_resize_area(void **state) {
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/resize.txt", FAB_PNG_DIR);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char name[64];
    int w, h;
    assert_int_equal(fscanf(f, "%63s %d %d", name, &w, &h), 3);
    snprintf(path, sizeof path, "%s/%s.png", FAB_PNG_DIR, name);
    fab_image im, small;
    mc_error err;
    assert_int_equal(fab_png_read(&im, path, FAB_PNG_MAX_PIXELS, NULL, NULL, &err), MC_OK);
    assert_int_equal(fab_image_resize(&small, &im, w, h), MC_OK);
    assert_int_equal(small.w, 5);
    assert_int_equal(small.h, 3);
    for (int i = 0; i < w * h; i++) {
        double want;
        assert_int_equal(fscanf(f, "%lf", &want), 1);
        if (fabs(small.px[i] - want) > 1e-6) fail_msg("resize pixel %d: %.9g, want %.9g", i, small.px[i], want);
    }
    fclose(f);
    /* the mean is kept by area averaging at any ratio */
    double m0 = 0, m1 = 0;
    fab_image odd;
    assert_int_equal(fab_image_resize(&odd, &im, 13 * 3, 7 * 2), MC_OK);
    for (int i = 0; i < 13 * 7; i++) m0 += im.px[i] / (13.0 * 7);
    for (int i = 0; i < 39 * 14; i++) m1 += odd.px[i] / (39.0 * 14);
    assert_true(fabs(m0 - m1) < 1e-6);
    fab_image_free(&odd);
    fab_image_free(&small);
    fab_image_free(&im);
}

static void test_grey_and_write(void **state) {
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/rgb8_pil.png", FAB_PNG_DIR);
    fab_image im, g;
    mc_error err;
    assert_int_equal(fab_png_read(&im, path, FAB_PNG_MAX_PIXELS, NULL, NULL, &err), MC_OK);
    assert_int_equal(fab_image_to_grey(&g, &im), MC_OK);
    assert_int_equal(g.c, 1);
    for (int i = 0; i < im.w * im.h; i++) {
        float want = 0.299f * im.px[3 * i] + 0.587f * im.px[3 * i + 1] + 0.114f * im.px[3 * i + 2];
        assert_true(fabsf(g.px[i] - want) < 1e-7f);
    }
    /* written pixels read back unchanged, in every channel count */
    const char *tmp = getenv("MC_TEST_TMP");
    for (int c = 1; c <= 4; c++) {
        if (c == 2) continue;
        uint8_t px[13 * 7 * 4];
        for (int i = 0; i < 13 * 7 * c; i++) px[i] = (uint8_t)(i * 37 + c);
        char out[1024];
        snprintf(out, sizeof out, "%s/png_write_%d.png", tmp ? tmp : ".", c);
        assert_int_equal(fab_png_write(out, px, 13, 7, c, &err), MC_OK);
        fab_image back;
        assert_int_equal(fab_png_read(&back, out, FAB_PNG_MAX_PIXELS, NULL, NULL, &err), MC_OK);
        assert_int_equal(back.c, c);
        for (int i = 0; i < 13 * 7 * c; i++) assert_true(back.px[i] == px[i] / 255.0f);
        fab_image_free(&back);
    }
    assert_int_equal(fab_png_write("/nonexistent-dir/x.png", (const uint8_t *)"abc", 1, 1, 3, &err), MC_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/x.png"));
    fab_image_free(&g);
    fab_image_free(&im);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_variant_matches), cmocka_unit_test(test_corrupt_files),
        cmocka_unit_test(test_pixel_limit),           cmocka_unit_test(test_resize_area),
        cmocka_unit_test(test_grey_and_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
