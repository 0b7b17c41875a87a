/* loss.c: training losses and their gradients, reduced as PyTorch does by default, accumulated in
 * double, numerically stable on logits. */
#include <math.h>

#include "moecore/loss.h"

/* log(1 + exp(x)) without overflow */
static inline double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static inline double sigmoid(double x) { return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x)); }

double mc_mse_loss(float *grad, float scale, const float *pred, const float *target, int64_t n) {
    if (n <= 0) return 0.0;
    double s = 0.0, g = 2.0 * scale / (double)n;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)pred[i] - target[i];
        s += d * d;
        if (grad) grad[i] += (float)(g * d);
    }
    return s / (double)n;
}

double mc_huber_loss(float *grad, float scale, const float *pred, const float *target, int64_t n, float delta) {
    if (n <= 0) return 0.0;
    double s = 0.0, g = scale / (double)n;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)pred[i] - target[i], a = fabs(d);
        if (a <= delta) {
            s += 0.5 * d * d;
            if (grad) grad[i] += (float)(g * d);
        } else {
            s += delta * (a - 0.5 * delta);
            if (grad) grad[i] += (float)(g * delta * (d > 0 ? 1.0 : -1.0));
        }
    }
    return s / (double)n;
}

double mc_bce_logits_loss(float *grad, float scale, const float *logits, const float *target, int64_t n, float pos_weight) {
    if (n <= 0) return 0.0;
    double s = 0.0, g = scale / (double)n;
    for (int64_t i = 0; i < n; i++) {
        double x = logits[i], t = target[i];
        s += pos_weight * t * softplus(-x) + (1.0 - t) * softplus(x);
        if (grad) {
            double p = sigmoid(x);
            grad[i] += (float)(g * (pos_weight * t * (p - 1.0) + (1.0 - t) * p));
        }
    }
    return s / (double)n;
}

double mc_cross_entropy_loss(float *grad, float scale, const float *logits, const int32_t *labels, int N, int K) {
    int count = 0;
    for (int n = 0; n < N; n++) count += labels[n] >= 0 && labels[n] < K;
    if (count == 0) return 0.0;
    double s = 0.0, g = scale / (double)count;
    for (int n = 0; n < N; n++) {
        int y = labels[n];
        if (y < 0 || y >= K) continue;
        const float *l = logits + (int64_t)n * K;
        double mx = l[0];
        for (int k = 1; k < K; k++) mx = l[k] > mx ? l[k] : mx;
        double z = 0.0;
        for (int k = 0; k < K; k++) z += exp(l[k] - mx);
        s += log(z) + mx - l[y];
        if (grad)
            for (int k = 0; k < K; k++) grad[(int64_t)n * K + k] += (float)(g * (exp(l[k] - mx) / z - (k == y)));
    }
    return s / (double)count;
}

double mc_focal_loss(float *grad, float scale, const float *logits, const float *target, int64_t n, float alpha,
                     float gamma) {
    if (n <= 0) return 0.0;
    double s = 0.0, g = scale / (double)n;
    for (int64_t i = 0; i < n; i++) {
        double x = logits[i], t = target[i], p = sigmoid(x);
        double ce = t * softplus(-x) + (1.0 - t) * softplus(x);
        double pt = p * t + (1.0 - p) * (1.0 - t), q = 1.0 - pt;
        double at = alpha >= 0 ? alpha * t + (1.0 - alpha) * (1.0 - t) : 1.0;
        double mod = gamma == 0 ? 1.0 : pow(q, gamma);
        s += at * ce * mod;
        if (grad) {
            /* d/dx [ce (1 - p_t)^gamma] = (p - t)(1 - p_t)^gamma - ce gamma (1 - p_t)^(gamma-1) (2t - 1) p (1 - p) */
            double d = (p - t) * mod;
            if (gamma != 0 && q > 0) d -= ce * gamma * pow(q, gamma - 1.0) * (2.0 * t - 1.0) * p * (1.0 - p);
            grad[i] += (float)(g * at * d);
        }
    }
    return s / (double)n;
}
