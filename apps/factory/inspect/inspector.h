/* inspector.h: the supervised defect detector, a small fully convolutional network (convolutions
 * with batch normalisation, channel attention by squeeze-excitation, spatial attention as in CBAM),
 * built from model.h's JSON architecture. Input: one standardised grey image [1, S, S]; output: defect logits at 1/8 of
 * the resolution [1, S/8, S/8] (the defect map). The image score is the sigmoid of the mean of the
 * top-k map logits. Training draws balanced mini-batches (half good, half defect, seeded, with the
 * eight flips and rotations as augmentation) and minimises the focal loss on the map cells whose
 * pixels are labelled (good images, defects with masks) plus a binary cross-entropy on the image
 * score, so defects without masks (weak, image-level labels) still teach the network. */
#ifndef MOE_FACTORY_INSPECTOR_H
#define MOE_FACTORY_INSPECTOR_H

#include "image_set.h"
#include "moecore/model.h"

#define FAB_MAP_STRIDE 8 /* input pixels per defect-map cell along each axis */

/* The architecture for S x S inputs (S a multiple of 8), as JSON text in buf. */
void fab_inspector_arch(char *buf, size_t size, int S);

typedef struct fab_inspector_opts {
    int epochs;          /* passes over the training images */
    int min_steps;       /* more epochs when they make fewer optimiser steps than this */
    int batch;           /* images per step, half good and half defect */
    int topk;            /* map cells averaged into the image score */
    float lr;            /* AdamW peak learning rate, warmup then cosine */
    float weight_decay;
    float focal_alpha, focal_gamma;
    float image_weight;  /* weight of the image-score loss beside the map loss */
    float mask_cover;    /* a map cell is a defect when at least this fraction of its pixels is */
} fab_inspector_opts;

/* Defaults: 40 epochs but at least 1500 steps, batch 16, top-4, lr 1e-2, weight decay 1e-4, focal alpha 0.75 gamma 2,
 * image weight 0.5, mask cover 0.02. */
void fab_inspector_opts_default(fab_inspector_opts *o);

/* Called after each epoch (of epochs) with its mean training loss and the held-out log loss (NaN
 * when not measured); non-zero stops training. */
typedef int (*fab_epoch_fn)(void *user, int epoch, int epochs, double loss, double val_loss);

/* Creates a network for train->size inputs, initialises it from rng and trains it on train (both
 * labels needed). With val (may be NULL or empty), early stopping: after each epoch from the first
 * fifth of them on, the log loss of the image scores of val is measured, and the network returned
 * has the parameters of the epoch where it was lowest. *out is owned by the caller. */
mc_status fab_inspector_train(mc_model **out, const fab_image_set *train, const fab_image_set *val,
                              const fab_inspector_opts *o, mc_rng *rng, fab_epoch_fn on_epoch, void *user, mc_error *err);

/* The inference form of a trained network: every batch normalisation folded into the convolution
 * before it (w' = w * gamma / sqrt(var + eps), b' = (b - mean) * gamma / sqrt(var + eps) + beta),
 * which saves a pass over each activation. arch is the trained network's architecture and f its
 * model file. MC_ERR_UNSUPPORTED when a layer is not one of those fab_inspector_arch uses or a batch
 * norm does not follow a convolution with bias. *out is owned by the caller. */
mc_status fab_inspector_fold(mc_model **out, const char *arch, const mc_safetensors *f, mc_error *err);

/* The image score of one map of n logits: sigmoid(mean of the top-k logits). prob (n, may be NULL)
 * receives the per-cell defect probabilities. */
double fab_inspector_score(const float *logits, int n, int topk, float *prob);

#endif
