/* train.h: the training loop every program uses, with its utilities: seeded mini-batching,
 * AdamW/SGD with warmup + cosine schedule and gradient clipping, early stopping on a validation
 * loss, checkpoints with exact resume, curriculum learning, mixing two data sources at a ratio,
 * adversarial augmentation (FGSM/PGD) and a multi-objective loss. */
#ifndef MOECORE_TRAIN_H
#define MOECORE_TRAIN_H

#include <stdint.h>

#include "moecore/model.h"
#include "moecore/optim.h"
#include "moecore/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mc_loss_kind { MC_LOSS_MSE = 0, MC_LOSS_HUBER, MC_LOSS_BCE, MC_LOSS_CE, MC_LOSS_FOCAL } mc_loss_kind;

/* Samples in memory: x (n, model input size); y (n, y_size) targets (for cross-entropy y_size is
 * 1 and holds the class index as a float; a negative index is ignored). difficulty (n) orders the
 * samples for curriculum learning (NULL when not used). */
typedef struct mc_dataset {
    const float *x;
    const float *y;
    int n;
    int y_size;
    const float *difficulty;
} mc_dataset;

typedef struct mc_train_config {
    int epochs;
    int batch;
    mc_optim_config optim;
    float lr, min_lr;          /* schedule peak and floor */
    float weight_decay;        /* on weights only (mc_model_param_ranges) */
    float warmup;              /* fraction of all steps spent warming up */
    float clip;                /* global gradient-norm limit, 0 = none */
    mc_loss_kind loss;
    float huber_delta, pos_weight, focal_alpha, focal_gamma;
    uint64_t seed;
    int patience;              /* early stopping: epochs without a better validation loss (0 = off) */
    float min_delta;           /* smallest improvement that counts */
    /* curriculum: the easiest fraction start of the samples (by difficulty) in the first epoch,
     * growing linearly to all of them at epoch ramp_epochs */
    float curriculum_start;    /* 0 = off */
    int curriculum_epochs;
    /* mixing: a second source drawn at ratio mix_ratio : 1 (e.g. 3 for domain:general 3:1) */
    const mc_dataset *general;
    float mix_ratio;
    /* adversarial augmentation on the inputs: steps 1 = FGSM, > 1 = PGD with step alpha inside an
     * eps ball (L-infinity); adv_weight mixes the adversarial loss with the clean one */
    int adv_steps;
    float adv_eps, adv_alpha, adv_weight;
    /* multi-objective: the reported objective adds flops_weight * (expert GFLOPs per sample) */
    float flops_weight;
    /* checkpoints: written after each epoch to checkpoint (atomically) when not NULL, with the best
     * epoch's model beside it in checkpoint.best when early stopping is on; with resume set,
     * training continues exactly from the checkpoint when it exists */
    const char *checkpoint;
    int resume;
    /* called after each epoch when not NULL (e.g. for logging); returning non-zero stops */
    int (*on_epoch)(void *user, int epoch, double train_loss, double val_loss, float lr);
    void *user;
} mc_train_config;

/* Defaults: AdamW (0.9, 0.999, 1e-8), lr 1e-3 to 0, weight decay 0.01, warmup 5%, clip 1, MSE,
 * Huber delta 1, focal alpha 0.25 gamma 2, batch 64, 20 epochs, seed 42, everything else off. */
void mc_train_config_default(mc_train_config *c);

typedef struct mc_train_result {
    int epochs_run;
    double train_loss[1024];   /* per epoch (the first 1024) */
    double val_loss[1024];
    int best_epoch;            /* with early stopping: the epoch whose parameters the model holds */
    double best_val;
    int stopped_early;
    int resumed_from;          /* epoch restored from the checkpoint, -1 when none */
} mc_train_result;

/* Trains m on train (validating on val when not NULL) and fills res. Deterministic for a given
 * seed and thread count. With early stopping the model ends with the best epoch's parameters. */
mc_status mc_train(mc_model *m, const mc_train_config *cfg, const mc_dataset *train, const mc_dataset *val,
                   mc_train_result *res, mc_error *err);

/* One optimiser step of m from its gradients, for training loops of their own: begins the
 * optimiser's step, updates every parameter range with learning rate lr and weight decay wd where
 * mc_model_param_ranges says it applies, then lets the MoE layers update their balancing bias. */
void mc_train_update(mc_model *m, mc_optim *o, float lr, float wd);

/* The configured loss of out (N, size) against y (N, y_size), mean over the batch, with its gradient
 * (scaled by scale) accumulated into grad when not NULL. */
double mc_train_loss(const mc_train_config *cfg, float *grad, float scale, const float *out, const float *y, int N,
                     int out_size, int y_size);

/* The adversarial version of a batch x (b, input) with targets y: FGSM when cfg->adv_steps is 1
 * (x + eps * sign(dL/dx)), PGD otherwise (adv_steps steps of adv_alpha * sign(dL/dx), each
 * projected back into the L-infinity ball of radius adv_eps around x). Writes xadv (b, input);
 * leaves the model's gradients zeroed. */
mc_status mc_adversarial(mc_model *m, const mc_train_config *cfg, const float *x, const float *y, int b, int y_size,
                         float *xadv, mc_rng *rng);

/* Mean loss of m over d in evaluation mode, in batches. */
mc_status mc_evaluate(mc_model *m, const mc_train_config *cfg, const mc_dataset *d, double *loss);

/* Curriculum pacing: how many of n samples (easiest first) epoch may use. */
int mc_curriculum_count(float start, int ramp_epochs, int epoch, int n);

#ifdef __cplusplus
}
#endif
#endif
