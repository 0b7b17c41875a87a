/* loss.h: training losses with their gradients. Each returns the loss reduced as PyTorch does by
 * default (mean over elements, or over rows for cross-entropy) and, when grad is not NULL,
 * ACCUMULATES scale * dLoss/dinput into it, so a multi-objective loss is a sum of calls with weights. */
#ifndef MOECORE_LOSS_H
#define MOECORE_LOSS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* mean((pred - target)^2) over n. */
double mc_mse_loss(float *grad, float scale, const float *pred, const float *target, int64_t n);

/* mean Huber loss with threshold delta (PyTorch's HuberLoss): 0.5 d^2 for |d| <= delta,
 * else delta (|d| - 0.5 delta). */
double mc_huber_loss(float *grad, float scale, const float *pred, const float *target, int64_t n, float delta);

/* Binary cross-entropy on logits, stable form, mean over n; pos_weight multiplies the positive
 * term (1 = none), as PyTorch's BCEWithLogitsLoss. target in [0, 1]. */
double mc_bce_logits_loss(float *grad, float scale, const float *logits, const float *target, int64_t n,
                          float pos_weight);

/* Softmax cross-entropy: logits (N, K), labels (N) in [0, K); mean over the N rows. Rows whose
 * label is outside [0, K) (e.g. -1 for "no label") are ignored and excluded from the mean; with
 * every row ignored the loss is 0 and no gradient is added. */
double mc_cross_entropy_loss(float *grad, float scale, const float *logits, const int32_t *labels, int N, int K);

/* Binary focal loss on logits (Lin et al. 2017): mean of -alpha_t (1 - p_t)^gamma log(p_t), with
 * alpha_t = alpha for positives and 1 - alpha for negatives (alpha < 0: no weighting), as
 * torchvision's sigmoid_focal_loss with reduction "mean". */
double mc_focal_loss(float *grad, float scale, const float *logits, const float *target, int64_t n, float alpha,
                     float gamma);

#ifdef __cplusplus
}
#endif
#endif
