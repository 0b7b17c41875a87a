/* fuzz_png.c: moe-factory's PNG reader (fab_png_read over libpng) on arbitrary bytes, and the grey
 * conversion and resizing that inspection applies to what it decodes. Images are limited to 1 Mi
 * pixels here (the programs allow 64 Mi) so that each input stays fast; the check of the limit is
 * the same code. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_io.h"
#include "inspect/png_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("image.png", data, size);
    fab_image im = {0};
    mc_error err;
    if (fab_png_read(&im, path, 1 << 20, NULL, NULL, &err) != MC_OK) {
        if (!err.msg[0] || im.px) abort(); /* a rejection says why and returns nothing */
        return 0;
    }
    size_t n = (size_t)im.w * (size_t)im.h * (size_t)im.c;
    for (size_t i = 0; i < n; i++)
        if (!(im.px[i] >= 0 && im.px[i] <= 1)) abort();
    fab_image grey = {0}, small = {0};
    if (fab_image_to_grey(&grey, &im) == MC_OK) fab_image_resize(&small, &grey, 16, 16);
    fab_image_free(&small);
    fab_image_free(&grey);
    fab_image_free(&im);
    return 0;
}
