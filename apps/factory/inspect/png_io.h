/* png_io.h: PNG images in and out through libpng. Reading accepts every colour type and bit depth
 * (1/2/4/8/16-bit grey, grey + alpha, palette with tRNS, RGB, RGBA, Adam7 interlacing), checks the
 * pixel count against a limit before allocating anything (decompression bombs), and turns every
 * libpng error or truncation into one message naming the file; libpng itself never prints. Pixels
 * become floats in [0, 1]; helpers convert to grey and resize by area averaging. Writing produces
 * 8-bit grey, RGB or RGBA files atomically (a temporary file, then a rename). */
#ifndef MOE_FACTORY_PNG_IO_H
#define MOE_FACTORY_PNG_IO_H

#include <stddef.h>
#include <stdint.h>

#include "moecore/status.h"

/* Largest image accepted by default: 64 Mi pixels (8192 x 8192). */
#define FAB_PNG_MAX_PIXELS (64LL * 1024 * 1024)

/* An image: px (h, w, c) row-major with interleaved channels, values in [0, 1]. c is 1 (grey),
 * 2 (grey + alpha), 3 (RGB) or 4 (RGBA). Owned by the holder: fab_image_free. */
typedef struct fab_image {
    int w, h, c;
    float *px;
} fab_image;

void fab_image_free(fab_image *im); /* frees px and zeroes im; accepts NULL */

/* Decodes a PNG held in memory (name is used in messages only). The channels are the file's own
 * after expansion: a palette becomes RGB, or RGBA when it has tRNS; a tRNS colour on grey or RGB
 * becomes an alpha channel; 1/2/4-bit grey is scaled to [0, 1] like every other depth (sample /
 * (2^depth - 1)). Images above max_pixels (w * h) are refused before their pixels are read. */
mc_status fab_png_decode(fab_image *out, const uint8_t *data, size_t size, const char *name, int64_t max_pixels,
                         mc_error *err);

/* What decoding the PNG at path will take, from its header alone: *bytes (the file, the samples as
 * decoded and the float image kept; a palette or a tRNS chunk counted as an alpha channel), *w, *h.
 * Returns 0, or -1 when the file does not start with a PNG header (decoding it will say why). */
int fab_png_decode_cost(const char *path, size_t *bytes, int *w, int *h);

/* Reads the whole file at path into *bytes (owned by the caller, free) for hashing, then decodes it. bytes
 * may be NULL when the caller does not need them. */
mc_status fab_png_read(fab_image *out, const char *path, int64_t max_pixels, uint8_t **bytes, size_t *n_bytes,
                       mc_error *err);

/* out = the luminance of in (0.299 R + 0.587 G + 0.114 B for colour; grey as it is); alpha is
 * dropped. out must not be in. */
mc_status fab_image_to_grey(fab_image *out, const fab_image *in);

/* out (h, w, in->c) = in resized by area averaging: each output pixel is the mean of the input area
 * it covers, partly covered pixels weighted by their covered fraction. */
mc_status fab_image_resize(fab_image *out, const fab_image *in, int w, int h);

/* The problem of an error message about path without the leading "path: " (for callers that
 * name the input themselves, as mc_run_input_rejected does). */
const char *fab_png_problem(const char *msg, const char *path);

/* Writes 8-bit pixels px (h, w, channels), channels 1, 3 or 4, to path atomically. */
mc_status fab_png_write(const char *path, const uint8_t *px, int w, int h, int channels, mc_error *err);

#endif
