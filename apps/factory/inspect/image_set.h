/* image_set.h: labelled image folders for training and evaluation: good images, defect images and
 * their optional masks (masks/NAME.png beside defect/NAME.png), each image read, made grey, resized
 * by area averaging to size x size and standardised (fab_preprocess), each mask resized the same
 * way to the fraction of defect pixels per cell. */
#ifndef MOE_FACTORY_IMAGE_SET_H
#define MOE_FACTORY_IMAGE_SET_H

#include <stdint.h>

#include "moecore/status.h"
#include "png_io.h"

/* x (size, size) = grey(img) resized to size x size by area averaging, then standardised by the
 * image's own mean and standard deviation (a floor of 1e-3 on the deviation), so that brightness
 * and contrast, which vary from class to class and camera to camera, do not decide a verdict. */
mc_status fab_preprocess(float *x, const fab_image *img, int size);

typedef struct fab_image_set {
    int n, cap, size;
    float *x;         /* n x size^2 preprocessed images */
    float *mask;      /* n x size^2 fraction of defect pixels; zeros for good images and missing masks */
    uint8_t *label;   /* n: 1 = defect */
    uint8_t *has_mask;/* n: 1 when the pixels are labelled (good images, defects with a mask) */
    char **path;      /* n paths, owned */
} fab_image_set;

/* Called for each image: reason is NULL when it was added, else why it was refused. */
typedef void (*fab_image_fn)(void *user, const char *path, const char *reason);

/* An empty set of size x size images. */
void fab_image_set_init(fab_image_set *s, int size);
void fab_image_set_free(fab_image_set *s);

/* Adds every .png below dir with label (1 = defect). For defects, mask_dir (may be NULL) is searched
 * for a mask of the same relative name: found, it labels the pixels (non-zero = defect); absent, the
 * image counts as a weak, image-level label. An unreadable image or mask, or a mask of another size,
 * refuses that image through fn and the rest go on. MC_ERR_IO when dir cannot be read. */
mc_status fab_image_set_add_dir(fab_image_set *s, const char *dir, int label, const char *mask_dir, fab_image_fn fn,
                                void *user, mc_error *err);

/* Splits s into train and val, copies of its images: a seeded random fraction of each label goes to
 * val (fraction[0] of the good images, fraction[1] of the defects; at least one of a label with two
 * or more images when its fraction is above 0), the rest to train. Both are initialised here; s is
 * not changed, so one set read once can be split for several models. */
mc_status fab_image_set_split(const fab_image_set *s, const double fraction[2], uint64_t seed, fab_image_set *train,
                              fab_image_set *val);

int fab_image_set_count(const fab_image_set *s, int label);

#endif
