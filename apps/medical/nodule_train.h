/* nodule_train.h: the training set of the nodule detector and its training. Positives are patches
 * around annotated nodules (their centres, and the candidates that fall within a nodule's radius as
 * LUNA16 counts a hit), each copied with augmentation: a random flip of every axis, a random 90-degree
 * rotation (axis permutation), a scale of 0.85-1.15 and a jitter of up to 2 mm; negatives are
 * candidates that match no nodule (hard negatives: vessels, airway walls, bone edges), a seeded draw
 * over all their responses (the weak ones are what the detector meets most), each once with a random
 * flip or rotation. The validation split is by series, so no study lends patches to both sides. */
#ifndef MOE_MEDICAL_NODULE_TRAIN_H
#define MOE_MEDICAL_NODULE_TRAIN_H

#include "detector.h"
#include "moecore/rng.h"
#include "moecore/train.h"

/* Patches (n, MED_PATCH^3), labels y (n) and the index of the study each came from. */
typedef struct med_patch_set {
    float *x;
    float *y;
    int *study;
    int n, cap;
    int n_pos, n_neg;
} med_patch_set;

void med_patch_set_free(med_patch_set *s); /* accepts a zeroed one */

/* Adds the patches of prepared study p (index study) with its n_ann annotations (x, y, z, diameter
 * mm, 4 doubles each): pos_copies augmented copies of every positive, and max_neg of the unmatched
 * candidates drawn at random (all when fewer). MC_ERR_NOMEM on failure. */
mc_status med_patch_set_add(med_patch_set *s, const med_prepared *p, int study, const double *ann, int n_ann,
                            int pos_copies, int max_neg, mc_rng *rng, mc_error *err);

/* Splits s by study: the studies with val_of[study] = 1 go to val, the rest to train (copies). */
mc_status med_patch_set_split(const med_patch_set *s, const int *val_of, med_patch_set *train, med_patch_set *val,
                              mc_error *err);


/* Trains a new detector on train (early stopping on val when it has both classes) with the core's
 * recipe: AdamW, warmup and cosine, BCE with positives weighted up to balance the classes, clipping.
 * *out owned by the caller; *val_auc the validation AUC (NAN without validation). */
mc_status med_detector_train(const med_patch_set *train, const med_patch_set *val, int epochs, uint64_t seed,
                             mc_model **out, mc_train_result *res, double *val_auc, mc_error *err);

#endif
