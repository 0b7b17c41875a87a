/* overlay.c: heatmap overlays drawn with cairo. */
#include "overlay.h"

#include <cairo.h>
#include <stdint.h>
#include <stdlib.h>

#include "moecore/status.h"

mc_status fab_overlay_write(const char *path, const fab_image *img, const float *heat, int M, const int *box,
                            mc_error *err) {
    const int W = img->w, H = img->h;
    cairo_surface_t *base = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    cairo_surface_t *hs = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, M, M);
    uint8_t *rgb = malloc((size_t)W * H * 3);
    mc_status st = MC_ERR_NOMEM;
    if (cairo_surface_status(base) != CAIRO_STATUS_SUCCESS || cairo_surface_status(hs) != CAIRO_STATUS_SUCCESS || !rgb) {
        mc_error_set(err, st, "%s: out of memory for the overlay", path);
        goto done;
    }
    /* the image, in grey */
    cairo_surface_flush(base);
    uint8_t *b = cairo_image_surface_get_data(base);
    int bs = cairo_image_surface_get_stride(base);
    for (int y = 0; y < H; y++) {
        for (int x = 0; x < W; x++) {
            const float *p = img->px + ((size_t)y * W + x) * img->c;
            float g = img->c >= 3 ? 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2] : p[0];
            uint32_t v = (uint32_t)(g * 255.0f + 0.5f);
            *(uint32_t *)(b + (size_t)y * bs + 4 * x) = v << 16 | v << 8 | v;
        }
    }
    cairo_surface_mark_dirty(base);
    /* the heat: red, premultiplied alpha up to 0.6 */
    cairo_surface_flush(hs);
    uint8_t *h = cairo_image_surface_get_data(hs);
    int hstride = cairo_image_surface_get_stride(hs);
    for (int y = 0; y < M; y++) {
        for (int x = 0; x < M; x++) {
            float v = heat[(size_t)y * M + x];
            v = v < 0 ? 0 : v > 1 ? 1 : v;
            uint32_t a = (uint32_t)(v * 0.6f * 255.0f + 0.5f);
            *(uint32_t *)(h + (size_t)y * hstride + 4 * x) = a << 24 | a << 16;
        }
    }
    cairo_surface_mark_dirty(hs);
    cairo_t *cr = cairo_create(base);
    cairo_save(cr);
    cairo_scale(cr, (double)W / M, (double)H / M);
    cairo_set_source_surface(cr, hs, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_BILINEAR);
    cairo_pattern_set_extend(cairo_get_source(cr), CAIRO_EXTEND_PAD);
    cairo_paint(cr);
    cairo_restore(cr);
    if (box) {
        double lw = W > 200 ? 2.0 : 1.0;
        cairo_set_source_rgb(cr, 1.0, 0.85, 0.0);
        cairo_set_line_width(cr, lw);
        cairo_rectangle(cr, box[0] + lw / 2, box[1] + lw / 2, box[2] - box[0] + 1 - lw, box[3] - box[1] + 1 - lw);
        cairo_stroke(cr);
    }
    cairo_destroy(cr);
    cairo_surface_flush(base);
    for (int y = 0; y < H; y++) {
        for (int x = 0; x < W; x++) {
            uint32_t v = *(uint32_t *)(b + (size_t)y * bs + 4 * x);
            uint8_t *o = rgb + ((size_t)y * W + x) * 3;
            o[0] = (uint8_t)(v >> 16);
            o[1] = (uint8_t)(v >> 8);
            o[2] = (uint8_t)v;
        }
    }
    st = fab_png_write(path, rgb, W, H, 3, err);
done:
    cairo_surface_destroy(base);
    cairo_surface_destroy(hs);
    free(rgb);
    return st;
}
