/* test_plot.c: charts through cairo: the PNG's size, where a known line and band land in pixels,
 * stacked panels, and clear errors for bad arguments and unwritable paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cairo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "moecore/plot.h"

static const char *tmp_path(const char *name) {
    static char buf[512];
    const char *dir = getenv("MC_TEST_TMP") ? getenv("MC_TEST_TMP") : "/tmp";
    snprintf(buf, sizeof buf, "%s/plot-%s-%ld.png", dir, name, (long)getpid());
    return buf;
}

/* The pixel (x, y) of an RGB24 surface as 0xRRGGBB. */
static uint32_t pixel(cairo_surface_t *s, int x, int y) {
    const unsigned char *d = cairo_image_surface_get_data(s);
    return *(const uint32_t *)(d + (size_t)y * (size_t)cairo_image_surface_get_stride(s) + 4 * (size_t)x) & 0xffffff;
}

static void test_line_and_band_positions(void **state) {
    (void)state;
    const char *path = tmp_path("line");
    double x[2] = {0, 1}, y[2] = {0.5, 0.5}, b0 = 0.6, b1 = 0.8;
    mc_plot_series s = {.label = NULL, .x = x, .y = y, .n = 2};
    mc_plot_opts o = {.width = 400, .height = 300, .x_lo = 0, .x_hi = 1, .y_lo = 0, .y_hi = 1,
                      .band_x0 = &b0, .band_x1 = &b1, .n_bands = 1};
    mc_error err;
    assert_int_equal(mc_plot_lines(path, &o, &s, 1, &err), MC_OK);
    cairo_surface_t *img = cairo_image_surface_create_from_png(path);
    assert_int_equal(cairo_surface_status(img), CAIRO_STATUS_SUCCESS);
    assert_int_equal(cairo_image_surface_get_width(img), 400);
    assert_int_equal(cairo_image_surface_get_height(img), 300);
    /* Plot area: x 70..380, y 16..266; y = 0.5 is row 141, x = 0.7 column 287. */
    assert_int_equal(pixel(img, 5, 5), 0xffffff);
    uint32_t on = pixel(img, 150, 141), off = pixel(img, 150, 200), band = pixel(img, 287, 60);
    assert_true((on & 0xff) > ((on >> 16) & 0xff) + 60); /* the first series is blue */
    assert_int_equal(off, 0xffffff);
    assert_true(((band >> 16) & 0xff) > (band & 0xff) + 10); /* the band is tinted red */
    assert_int_equal(pixel(img, 150, 60), 0xffffff);
    cairo_surface_destroy(img);
    unlink(path);
}

static void test_panels_stack(void **state) {
    (void)state;
    const char *path = tmp_path("panels");
    double x[2] = {0, 1}, y[2] = {0.5, 0.5};
    mc_plot_series s = {.x = x, .y = y, .n = 2};
    mc_plot_panel p[2] = {{.opts = {.x_lo = 0, .x_hi = 1, .y_lo = 0, .y_hi = 1}, .series = &s, .n_series = 1, .weight = 2},
                          {.opts = {.x_lo = 0, .x_hi = 1, .y_lo = 0, .y_hi = 1}, .series = &s, .n_series = 1, .weight = 1}};
    mc_error err;
    assert_int_equal(mc_plot_panels(path, 400, 600, p, 2, &err), MC_OK);
    cairo_surface_t *img = cairo_image_surface_create_from_png(path);
    assert_int_equal(cairo_image_surface_get_height(img), 600);
    /* Top panel 0..400: area 16..366, line at 191; bottom 400..600: area 416..566, line at 491. */
    uint32_t top = pixel(img, 150, 191), bottom = pixel(img, 150, 491), gap = pixel(img, 150, 300);
    assert_true((top & 0xff) > ((top >> 16) & 0xff) + 60);
    assert_true((bottom & 0xff) > ((bottom >> 16) & 0xff) + 60);
    assert_int_equal(gap, 0xffffff);
    cairo_surface_destroy(img);
    unlink(path);
}

static void test_errors(void **state) {
    (void)state;
    double x[1] = {0};
    mc_plot_series bad = {.x = x, .y = NULL, .n = 1};
    mc_plot_opts o = {0};
    mc_error err;
    assert_int_equal(mc_plot_lines(tmp_path("bad"), &o, &bad, 1, &err), MC_ERR_ARG);
    assert_non_null(strstr(err.msg, "series 0"));
    o.width = 50;
    assert_int_equal(mc_plot_lines(tmp_path("small"), &o, NULL, 0, &err), MC_ERR_ARG);
    o.width = 0;
    assert_int_equal(mc_plot_lines("/nonexistent-dir/chart.png", &o, NULL, 0, &err), MC_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/chart.png"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_and_band_positions),
        cmocka_unit_test(test_panels_stack),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
