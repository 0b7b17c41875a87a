/* surface_synth.h: the generator of synthetic inspection data in the style of the DAGM 2007
 * benchmark: textured surfaces (brushed, woven, granular, painted, printed) with defects
 * (scratches, cracks, dents, spots, stains, missing threads), each defect with its pixel mask.
 * Every class has its own texture family and look (scale, orientation, brightness, contrast); the
 * defects vary in size and contrast relative to the texture, so no single grey-level threshold
 * separates them. Everything draws from the seeded generator passed in.
 *
 * On disk (fab_synth_write): DIR/classNN/good/IIII.png, DIR/classNN/defect/IIII.png and
 * DIR/classNN/masks/IIII.png (the defect image's mask, same name; 255 = defect). */
#ifndef MOE_FACTORY_SURFACE_SYNTH_H
#define MOE_FACTORY_SURFACE_SYNTH_H

#include <stdint.h>

#include "moecore/rng.h"
#include "moecore/status.h"

typedef enum fab_texture_family {
    FAB_TEX_BRUSHED = 0, /* streaks along one direction */
    FAB_TEX_WOVEN,       /* over-and-under threads */
    FAB_TEX_GRANULAR,    /* fine grains on a mottled ground */
    FAB_TEX_PAINTED,     /* smooth shading with orange peel */
    FAB_TEX_PRINTED,     /* a halftone dot grid */
    FAB_TEX_COUNT
} fab_texture_family;

typedef enum fab_defect_kind {
    FAB_DEFECT_SCRATCH = 0,
    FAB_DEFECT_CRACK,
    FAB_DEFECT_DENT,
    FAB_DEFECT_SPOT,
    FAB_DEFECT_STAIN,
    FAB_DEFECT_MISSING_THREAD,
    FAB_DEFECT_COUNT
} fab_defect_kind;

const char *fab_texture_name(fab_texture_family f);
const char *fab_defect_name(fab_defect_kind k);

/* The look of one class. */
typedef struct fab_texture {
    fab_texture_family family;
    double angle;    /* orientation, radians */
    double scale;    /* feature size, pixels */
    double mean;     /* mean grey level */
    double contrast; /* amplitude of the texture */
    double grain;    /* sigma of the pixel noise */
} fab_texture;

/* The texture of class index c (family c mod FAB_TEX_COUNT, the rest drawn from rng). */
void fab_texture_for_class(fab_texture *t, int c, mc_rng *rng);

/* img (size, size) = one surface of texture t, values in [0, 1]. */
void fab_synth_surface(float *img, int size, const fab_texture *t, mc_rng *rng);

/* Adds one defect of kind k to img (size, size) and marks it in mask (0 or 1, OR-ed in). */
void fab_synth_defect(float *img, float *mask, int size, const fab_texture *t, fab_defect_kind k, mc_rng *rng);

/* A defect kind suited to texture t (missing threads on woven and brushed surfaces only). */
fab_defect_kind fab_synth_pick_defect(const fab_texture *t, mc_rng *rng);

/* Writes classes classes of n_good good and n_defect defect images (size x size) under dir, as
 * described above. Each class's look and each image come from their own stream of seed, so image i
 * of a class is the same whatever the counts asked for. err names the file that could not be
 * written. */
mc_status fab_synth_write(const char *dir, int classes, int n_good, int n_defect, int size, uint64_t seed,
                          mc_error *err);

#endif
