/* overlay.h: the heatmap overlay of an inspected image: the image in grey, its defect map
 * upsampled smoothly and drawn in red with opacity growing with the defect evidence, and the
 * bounding box of the defect region in yellow; drawn with cairo, written as an 8-bit RGB PNG. */
#ifndef MOE_FACTORY_OVERLAY_H
#define MOE_FACTORY_OVERLAY_H

#include "moecore/status.h"
#include "png_io.h"

/* Writes the overlay of img (any channels) with heat (M x M, values in [0, 1]) to path; box (x0,
 * y0, x1, y1 in image pixels, inclusive) is drawn when not NULL. */
mc_status fab_overlay_write(const char *path, const fab_image *img, const float *heat, int M, const int *box,
                            mc_error *err);

#endif
