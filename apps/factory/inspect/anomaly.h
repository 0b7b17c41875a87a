/* anomaly.h: the good-only anomaly model, of the PatchCore family, on a fixed filter bank.
 *
 * Features: on the standardised S x S image, the Gaussian derivatives of orders 0 to 2 (the smoothed
 * image, both first derivatives, the three second derivatives) at scales sigma 1, 2 and 4 pixels,
 * and the local energy of each (the square root of its square smoothed at twice the scale): 36
 * numbers that describe the local grey level, gradient and curvature at three sizes and how
 * strongly the texture around varies, sampled on a grid of stride 4 (a patch every 4 x 4 pixels),
 * each standardised over the good patches. No
 * pretrained network can be downloaded and none is needed: the filter bank is fixed and the same
 * for every line, so a model is only its statistics and memory bank. No patch is taken within 8
 * pixels (twice the largest sigma) of the border, where the filters would see mostly the image's
 * mirror rather than the surface: defects wholly inside that frame are not seen.
 *
 * Memory bank: the good images' patches thinned by greedy k-center coreset selection (start from a
 * random patch, then always add the patch farthest from those kept), so the bank covers every kind
 * of good patch with a fraction of them. Score: each patch's Euclidean distance to its nearest bank
 * patch, found exactly with FAISS (nn_index.h). The map at 1/8 of the input (M = S / 8) holds each
 * 8 x 8 cell's largest patch distance; the image score is the largest cell's. */
#ifndef MOE_FACTORY_ANOMALY_H
#define MOE_FACTORY_ANOMALY_H

#include "image_set.h"
#include "moecore/rng.h"
#include "nn_index.h"

#define FAB_ANOMALY_SCALES 3
#define FAB_ANOMALY_DIM (12 * FAB_ANOMALY_SCALES) /* feature channels per patch */
#define FAB_ANOMALY_STRIDE 4                     /* pixels between patches along each axis */
#define FAB_ANOMALY_MARGIN 8                     /* no patch closer to the border (2 x the largest sigma) */

/* The scales, in pixels of the S x S input, and a one-line description for model files. */
extern const float fab_anomaly_sigma[FAB_ANOMALY_SCALES];
extern const char fab_anomaly_features_name[];

typedef struct fab_anomaly {
    int size;                      /* input side S, a multiple of 8 */
    float mean[FAB_ANOMALY_DIM];   /* feature means over the good patches */
    float std[FAB_ANOMALY_DIM];    /* and standard deviations */
    float *bank;                   /* n_bank x DIM standardised features */
    int n_bank;
    fab_nn_index *index;           /* over bank */
} fab_anomaly;

/* Patches per row of an S x S image: the patch centres STRIDE / 2 + STRIDE k at least MARGIN
 * from either border. */
int fab_anomaly_grid(int S);

/* The raw features of one S x S image: feat (G^2, DIM), G = fab_anomaly_grid(S), patch (j, i)
 * centred on the j-th row and i-th column of the grid, channel 6 s + k for scale s and derivative k in
 * the order d/1, d/dx, d/dy, d2/dx2, d2/dxdy, d2/dy2 (x along a row), channel 18 + 6 s + k its
 * local energy. The image is extended by
 * mirroring at its borders. scratch holds fab_anomaly_scratch(S) floats. */
size_t fab_anomaly_scratch(int S);
void fab_anomaly_features(const float *x, int S, float *feat, float *scratch);

/* Builds the model from the good images of good for which use[i] is set (use NULL: every good
 * image; defects are ignored): the feature statistics and a coreset bank of at most bank_size
 * patches, the first drawn from rng. */
mc_status fab_anomaly_fit(fab_anomaly *a, const fab_image_set *good, const uint8_t *use, int bank_size, mc_rng *rng,
                          mc_error *err);

/* Scores every good image of good by a model that did not see it: the good images are dealt at
 * random into folds, and each fold is scored by a model fitted (as fab_anomaly_fit) on the
 * others. score[i] receives image i's score (NaN for defects). These are the scores of images new
 * to a model, from every good image, that calibrate the threshold of the model fitted on them all. */
mc_status fab_anomaly_crossfit(const fab_image_set *good, int folds, int bank_size, mc_rng *rng, double *score,
                               mc_error *err);

/* The model for S x S inputs from saved statistics and bank (copied). */
mc_status fab_anomaly_from_tensors(fab_anomaly *a, int S, const float *mean, const float *std, const float *bank,
                                   int n_bank, mc_error *err);

void fab_anomaly_free(fab_anomaly *a);

/* For n preprocessed images x (n, S, S): map (n, M, M), M = S/8, = the largest distance of the
 * patches centred in each cell (0 for cells in the border frame); score (n) = the largest of each
 * image. */
mc_status fab_anomaly_score(fab_anomaly *a, const float *x, int n, float *map, double *score, mc_error *err);

#endif
