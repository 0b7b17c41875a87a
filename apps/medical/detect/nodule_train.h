/* nodule_train.h: the training set of the nodule detector and its training. Positives are patches
 * around annotated nodules (their centres, and the candidates that fall within a nodule's radius as
 * LUNA16 counts a hit), each copied with augmentation: a random flip of every axis, a random 90-degree
 * rotation (axis permutation), a scale of 0.85-1.15 and a jitter of up to 2 mm; negatives are
 * candidates that match no nodule (hard negatives: vessels, airway walls, bone edges), a seeded draw
 * over all their responses (the weak ones are what the detector meets most), each once with a random
 * flip or rotation. Each positive carries its nodule's diameter (divided by the augmentation's scale,
 * as the patch shows it) and, where known, its type. The validation split is by series, so no study
 * lends patches to both sides.
 *
 * The loss is multi-task, the last two terms over the positives of a batch only:
 *   binary cross-entropy of the nodule logit (positives weighted by the negative:positive ratio)
 *   + MED_W_DIAMETER Huber(ln(diameter / 10 mm), delta MED_HUBER_DELTA)
 *   + MED_W_TYPE cross-entropy of the three type logits (positives of known type). */
#ifndef MOE_MEDICAL_NODULE_TRAIN_H
#define MOE_MEDICAL_NODULE_TRAIN_H

#include "detector.h"
#include "moecore/rng.h"
#include "moecore/train.h"

#define MED_TARGETS 3           /* per patch: label (0/1), ln(diameter / 10 mm), type index or -1 */
#define MED_W_DIAMETER 1.0f
#define MED_W_TYPE 0.5f
#define MED_HUBER_DELTA 0.5f

/* Patches x (n, MED_INPUT_SIZE), targets y (n, MED_TARGETS) and the index of the study each came from. */
typedef struct med_patch_set {
    float *x;
    float *y;
    int *study;
    int n, cap;
    int n_pos, n_neg;
} med_patch_set;

void med_patch_set_free(med_patch_set *s); /* accepts a zeroed one */

/* Adds the patches of prepared study p (index study) with its n_ann annotations (x, y, z, diameter
 * mm, 4 doubles each) and their types (type[a] a med_nodule_type, or -1 when unknown; type NULL:
 * all unknown): pos_copies augmented copies of every positive, and max_neg of the unmatched
 * candidates drawn at random (all when fewer). MC_ERR_NOMEM on failure. */
mc_status med_patch_set_add(med_patch_set *s, const med_prepared *p, int study, const double *ann, const int *type,
                            int n_ann, int pos_copies, int max_neg, mc_rng *rng, mc_error *err);

/* Adds copies copies of each of the n candidates idx[] of prepared study p (index study) as negatives,
 * the first as it is and the others flipped or rotated at random: the hard negatives a first model
 * scored highest. MC_ERR_NOMEM on failure. */
mc_status med_patch_set_add_negatives(med_patch_set *s, const med_prepared *p, int study, const int *idx, int n,
                                      int copies, mc_rng *rng, mc_error *err);

/* Splits s by study: the studies with val_of[study] = 1 go to val, the rest to train (copies). */
mc_status med_patch_set_split(const med_patch_set *s, const int *val_of, med_patch_set *train, med_patch_set *val,
                              mc_error *err);

/* How well a detector does on a patch set: nodule-vs-other AUC, and on the positives the diameter's
 * mean absolute error (mm) and the share of typed positives whose type is right. NAN where undefined. */
typedef struct med_patch_metrics {
    double auc, diameter_mae_mm, type_accuracy;
} med_patch_metrics;

mc_status med_patch_metrics_of(mc_model *m, const med_patch_set *s, med_patch_metrics *out, mc_error *err);

/* The multi-task loss above of the network's outputs out (b, MED_HEADS) against targets y
 * (b, MED_TARGETS), mean over the batch (the diameter and type terms over its positives); when dout
 * is not NULL it receives the gradient (b, MED_HEADS), overwritten. NAN when out of memory. */
double med_detector_loss(const float *out, const float *y, int b, float pos_weight, float *dout);

/* Trains a new detector on train (early stopping on the validation loss when val has both classes):
 * AdamW, 5% warmup then cosine from 2e-3 to 1e-5, weight decay 0.01 on weights, gradient clipping at
 * 1, batch 32, the multi-task loss above. *out owned by the caller; *val the validation metrics
 * (all NAN without validation). Epochs count from 1, as the log does: res->best_epoch is the epoch
 * whose parameters *out holds (0 when none), res->train_loss[e - 1] the training loss of epoch e. */
mc_status med_detector_train(const med_patch_set *train, const med_patch_set *val, int epochs, uint64_t seed,
                             mc_model **out, mc_train_result *res, med_patch_metrics *val_metrics, mc_error *err);

#endif
