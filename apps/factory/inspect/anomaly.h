/* anomaly.h: the good-only anomaly model, of the PatchCore family: patch features from a fixed
 * convolutional network with seeded random weights (no pretrained weights exist here to download;
 * random convolution features are a known texture descriptor), each standardised, at 1/8 of the
 * input resolution; a memory bank of the good images' patch features thinned by greedy k-center
 * coreset selection; and, per patch of a new image, the distance to its nearest neighbour in the
 * bank. The image score is the largest patch distance.
 * The feature network: 64 random 7 x 7 filters with ReLU, 4 x 4 average pooling, 64 random 3 x 3
 * filters with ReLU, 2 x 2 max pooling: one 64-vector per 8 x 8 cell. */
#ifndef MOE_FACTORY_ANOMALY_H
#define MOE_FACTORY_ANOMALY_H

#include "image_set.h"
#include "moecore/model.h"

#define FAB_ANOMALY_DIM 64 /* feature channels */

typedef struct fab_anomaly {
    mc_model *net;   /* the feature network, [1, S, S] -> [DIM, S/8, S/8] */
    float *mean;     /* DIM feature means over the good patches */
    float *std;      /* DIM feature standard deviations */
    float *bank;     /* n_bank x DIM standardised features */
    float *bank_sq;  /* n_bank squared norms */
    int n_bank;
} fab_anomaly;

/* The feature network for S x S inputs, as JSON text in buf. */
void fab_anomaly_arch(char *buf, size_t size, int S);

/* Builds the model from the good images of good (others ignored): a feature network initialised
 * from rng, the feature statistics and a coreset bank of at most bank_size patches. */
mc_status fab_anomaly_fit(fab_anomaly *a, const fab_image_set *good, int bank_size, mc_rng *rng, mc_error *err);

/* Takes ownership of net and copies the bank tensors (from a model file). */
mc_status fab_anomaly_from_tensors(fab_anomaly *a, mc_model *net, const float *mean, const float *std,
                                   const float *bank, int n_bank);

void fab_anomaly_free(fab_anomaly *a);

/* For n preprocessed images x (n, S, S): map (n, M, M), M = S/8, = the nearest-neighbour distance of
 * each patch; score (n) = the largest of each image. */
mc_status fab_anomaly_score(fab_anomaly *a, const float *x, int n, float *map, double *score);

#endif
