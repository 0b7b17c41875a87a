/* png_io.c: PNG reading and writing through libpng, with libpng's errors caught by setjmp/longjmp
 * and reported as one message naming the file. */
#include "png_io.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "moecore/outfile.h"

void fab_image_free(fab_image *im) {
    if (!im) return;
    free(im->px);
    memset(im, 0, sizeof *im);
}

/* What libpng's callbacks share with the decoder: the input buffer and the first message. */
typedef struct png_source {
    const uint8_t *data;
    size_t size, pos;
    char msg[256];
} png_source;

static void on_error(png_structp png, png_const_charp msg) {
    png_source *src = png_get_error_ptr(png);
    if (src && !src->msg[0]) snprintf(src->msg, sizeof src->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg; /* warnings (an ancillary chunk with a bad CRC, ...) are harmless: the chunk is skipped */
}

static void read_bytes(png_structp png, png_bytep out, size_t n) {
    png_source *src = png_get_io_ptr(png);
    if (n > src->size - src->pos) {
        snprintf(src->msg, sizeof src->msg, "truncated: the file ends inside the image data");
        png_longjmp(png, 1);
    }
    memcpy(out, src->data + src->pos, n);
    src->pos += n;
}

mc_status fab_png_decode(fab_image *out, const uint8_t *data, size_t size, const char *name, int64_t max_pixels,
                         mc_error *err) {
    memset(out, 0, sizeof *out);
    if (size < 8 || png_sig_cmp(data, 0, 8) != 0)
        return mc_error_set(err, MC_ERR_FORMAT, "%s: not a PNG file (no PNG signature)", name);
    png_source src = {data, size, 8, ""};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return mc_error_set(err, MC_ERR_NOMEM, "%s: out of memory", name);
    }
    uint8_t *volatile raw = NULL;
    png_bytep *volatile rows = NULL;
    float *volatile px = NULL;
    volatile mc_status st = MC_ERR_FORMAT;
    if (setjmp(png_jmpbuf(png))) {
        if (st == MC_ERR_FORMAT) mc_error_set(err, st, "%s: corrupt PNG: %s", name, src.msg[0] ? src.msg : "unknown error");
        goto done;
    }
    png_set_read_fn(png, &src, read_bytes);
    png_set_sig_bytes(png, 8);
    png_set_user_limits(png, 1u << 20, 1u << 20);
    png_read_info(png, info);
    png_uint_32 w, h;
    int depth, type, interlace;
    png_get_IHDR(png, info, &w, &h, &depth, &type, &interlace, NULL, NULL);
    if ((int64_t)w * (int64_t)h > max_pixels) {
        st = mc_error_set(err, MC_ERR_FORMAT, "%s: image is %u x %u pixels, above the limit of %lld pixels", name,
                          (unsigned)w, (unsigned)h, (long long)max_pixels);
        goto done;
    }
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int c = png_get_channels(png, info);
    int bits = png_get_bit_depth(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (c < 1 || c > 4 || (bits != 8 && bits != 16) || rowbytes != (size_t)w * (size_t)c * (size_t)(bits / 8)) {
        st = mc_error_set(err, MC_ERR_UNSUPPORTED, "%s: unsupported PNG layout (%d channels, %d bits)", name, c, bits);
        goto done;
    }
    raw = malloc(rowbytes * h);
    rows = malloc(sizeof(png_bytep) * h);
    px = malloc(sizeof(float) * (size_t)w * h * (size_t)c);
    if (!raw || !rows || !px) {
        st = mc_error_set(err, MC_ERR_NOMEM, "%s: out of memory for %u x %u pixels", name, (unsigned)w, (unsigned)h);
        goto done;
    }
    for (png_uint_32 y = 0; y < h; y++) rows[y] = raw + rowbytes * y;
    png_read_image(png, rows);
    size_t n = (size_t)w * h * (size_t)c;
    if (bits == 8) {
        for (size_t i = 0; i < n; i++) px[i] = raw[i] / 255.0f;
    } else {
        for (size_t i = 0; i < n; i++) px[i] = (float)((raw[2 * i] << 8) | raw[2 * i + 1]) / 65535.0f;
    }
    out->w = (int)w;
    out->h = (int)h;
    out->c = c;
    out->px = px;
    px = NULL;
    st = MC_OK;
done:
    png_destroy_read_struct(&png, &info, NULL);
    free(raw);
    free(rows);
    free(px);
    return st;
}

int fab_png_decode_cost(const char *path, size_t *bytes, int *w, int *h) {
    unsigned char head[33]; /* signature, IHDR length and type, width, height, depth, colour type, ... */
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t got = fread(head, 1, sizeof head, f);
    int seek = fseek(f, 0, SEEK_END);
    long size = seek == 0 ? ftell(f) : -1;
    fclose(f);
    if (got < sizeof head || png_sig_cmp(head, 0, 8) != 0 || memcmp(head + 12, "IHDR", 4) != 0 || size < 0) return -1;
    uint32_t width = (uint32_t)head[16] << 24 | (uint32_t)head[17] << 16 | (uint32_t)head[18] << 8 | head[19];
    uint32_t height = (uint32_t)head[20] << 24 | (uint32_t)head[21] << 16 | (uint32_t)head[22] << 8 | head[23];
    int depth = head[24], type = head[25];
    if (width == 0 || height == 0 || width > (1u << 20) || height > (1u << 20)) return -1;
    int channels = type == 4 ? 2 : type == 0 ? 2 : 4; /* grey + alpha (or tRNS), otherwise up to RGBA */
    double pixels = (double)width * height, sample = depth == 16 ? 2 : 1;
    double need = (double)size + pixels * channels * (sample + sizeof(float));
    *bytes = need > (double)SIZE_MAX / 2 ? SIZE_MAX / 2 : (size_t)need;
    *w = (int)width;
    *h = (int)height;
    return 0;
}

mc_status fab_png_read(fab_image *out, const char *path, int64_t max_pixels, uint8_t **bytes, size_t *n_bytes,
                       mc_error *err) {
    memset(out, 0, sizeof *out);
    if (bytes) *bytes = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return mc_error_set(err, MC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1 << 16;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return mc_error_set(err, MC_ERR_NOMEM, "%s: out of memory", path);
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return mc_error_set(err, MC_ERR_IO, "%s: read error", path);
    }
    mc_status st = fab_png_decode(out, buf, n, path, max_pixels, err);
    if (st == MC_OK && bytes) {
        *bytes = buf;
        *n_bytes = n;
    } else {
        free(buf);
    }
    return st;
}

mc_status fab_image_to_grey(fab_image *out, const fab_image *in) {
    memset(out, 0, sizeof *out);
    if (!in || !in->px || in->c < 1 || in->c > 4) return MC_ERR_ARG;
    size_t n = (size_t)in->w * (size_t)in->h;
    float *g = malloc(sizeof(float) * (n ? n : 1));
    if (!g) return MC_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const float *p = in->px + i * (size_t)in->c;
        g[i] = in->c >= 3 ? 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2] : p[0];
    }
    out->w = in->w;
    out->h = in->h;
    out->c = 1;
    out->px = g;
    return MC_OK;
}

/* Area weights of one axis: output cell o covers [o * scale, (o + 1) * scale) of the input; for
 * each output cell the first input index, the count and the weights (summing to 1). */
typedef struct area_axis {
    int *first, *count;
    float *weight; /* out * (max count) */
    int stride;
} area_axis;

static int area_axis_init(area_axis *a, int in, int out) {
    double scale = (double)in / out;
    a->stride = (int)scale + 2;
    a->first = malloc(sizeof(int) * (size_t)out);
    a->count = malloc(sizeof(int) * (size_t)out);
    a->weight = calloc((size_t)out * (size_t)a->stride, sizeof(float));
    if (!a->first || !a->count || !a->weight) return -1;
    for (int o = 0; o < out; o++) {
        double lo = o * scale, hi = (o + 1) * scale;
        int i0 = (int)lo, i1 = (int)hi;
        if (i1 >= in || (double)i1 == hi) i1--;
        if (i1 < i0) i1 = i0;
        a->first[o] = i0;
        a->count[o] = i1 - i0 + 1;
        for (int i = i0; i <= i1; i++) {
            double l = i > lo ? i : lo, r = i + 1 < hi ? i + 1 : hi;
            a->weight[(size_t)o * a->stride + (i - i0)] = (float)((r - l) / scale);
        }
    }
    return 0;
}

static void area_axis_free(area_axis *a) {
    free(a->first);
    free(a->count);
    free(a->weight);
}

mc_status fab_image_resize(fab_image *out, const fab_image *in, int w, int h) {
    memset(out, 0, sizeof *out);
    if (!in || !in->px || w < 1 || h < 1 || in->w < 1 || in->h < 1) return MC_ERR_ARG;
    const int c = in->c;
    area_axis ax = {0}, ay = {0};
    float *tmp = malloc(sizeof(float) * (size_t)in->h * (size_t)w * (size_t)c);
    float *dst = malloc(sizeof(float) * (size_t)h * (size_t)w * (size_t)c);
    mc_status st = MC_ERR_NOMEM;
    if (!tmp || !dst || area_axis_init(&ax, in->w, w) != 0 || area_axis_init(&ay, in->h, h) != 0) goto done;
    /* horizontal pass: (in->h, w, c) */
    for (int y = 0; y < in->h; y++) {
        const float *src = in->px + (size_t)y * in->w * c;
        for (int x = 0; x < w; x++) {
            for (int k = 0; k < c; k++) {
                double s = 0;
                for (int j = 0; j < ax.count[x]; j++)
                    s += (double)ax.weight[(size_t)x * ax.stride + j] * src[(size_t)(ax.first[x] + j) * c + k];
                tmp[((size_t)y * w + x) * c + k] = (float)s;
            }
        }
    }
    /* vertical pass */
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w * c; x++) {
            double s = 0;
            for (int j = 0; j < ay.count[y]; j++)
                s += (double)ay.weight[(size_t)y * ay.stride + j] * tmp[(size_t)(ay.first[y] + j) * w * c + x];
            dst[(size_t)y * w * c + x] = (float)s;
        }
    }
    out->w = w;
    out->h = h;
    out->c = c;
    out->px = dst;
    dst = NULL;
    st = MC_OK;
done:
    area_axis_free(&ax);
    area_axis_free(&ay);
    free(tmp);
    free(dst);
    return st;
}

const char *fab_png_problem(const char *msg, const char *path) {
    size_t n = strlen(path);
    return strncmp(msg, path, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ' ? msg + n + 2 : msg;
}

mc_status fab_png_write(const char *path, const uint8_t *px, int w, int h, int channels, mc_error *err) {
    if (!path || !px || w < 1 || h < 1 || (channels != 1 && channels != 3 && channels != 4))
        return mc_error_set(err, MC_ERR_ARG, "png write: invalid arguments");
    mc_outfile out;
    if (mc_outfile_begin(&out, path, err) != MC_OK) return err ? err->code : MC_ERR_IO;
    FILE *f = fopen(out.tmp, "wb");
    if (!f) return mc_error_set(err, MC_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    png_source src = {NULL, 0, 0, ""};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &src, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    png_bytep *volatile rows = NULL;
    volatile mc_status st = MC_ERR_IO;
    if (!info) {
        mc_error_set(err, MC_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    if (setjmp(png_jmpbuf(png))) {
        mc_error_set(err, MC_ERR_IO, "%s: cannot write PNG: %s", path, src.msg);
        goto done;
    }
    rows = malloc(sizeof(png_bytep) * (size_t)h);
    if (!rows) {
        mc_error_set(err, MC_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (int y = 0; y < h; y++) rows[y] = (png_bytep)(px + (size_t)y * w * channels);
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8,
                 channels == 1 ? PNG_COLOR_TYPE_GRAY : channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_RGBA,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, info);
    st = MC_OK;
done:
    png_destroy_write_struct(&png, &info);
    free(rows);
    if (fclose(f) != 0 && st == MC_OK) st = mc_error_set(err, MC_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    if (st == MC_OK) st = mc_outfile_commit(&out, err);
    else mc_outfile_abort(&out);
    return st;
}
