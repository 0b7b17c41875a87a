/* loss.c: training losses and their gradients, with PyTorch's definitions and default reductions
 * (MSELoss, HuberLoss, BCEWithLogitsLoss, CrossEntropyLoss, torchvision's sigmoid_focal_loss).
 * Sums run in double; logits go through stable forms (softplus, log-sum-exp), so no input
 * overflows. Gradients accumulate scale * dLoss/dinput. */
#include <math.h>

#include "moecore/loss.h"

/* log(1 + exp(x)) without overflow */
static double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }

/* 1 / (1 + exp(-x)) without overflow */
static double sigmoid(double x) {
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    const double e = exp(x);
    return e / (1.0 + e);
}

double mc_mse_loss(float *grad, float scale, const float *pred, const float *target, int64_t n) {
    if (n <= 0) return 0.0;
    const double g = 2.0 * scale / (double)n;
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double d = (double)pred[i] - target[i];
        s += d * d;
        if (grad) grad[i] += (float)(g * d);
    }
    return s / (double)n;
}

double mc_huber_loss(float *grad, float scale, const float *pred, const float *target, int64_t n, float delta) {
    if (n <= 0) return 0.0;
    const double g = scale / (double)n, dl = delta;
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double d = (double)pred[i] - target[i], a = fabs(d);
        /* the two pieces and their slopes meet at |d| = delta */
        if (a < dl) {
            s += 0.5 * d * d;
            if (grad) grad[i] += (float)(g * d);
        } else {
            s += dl * (a - 0.5 * dl);
            if (grad) grad[i] += (float)(g * (d > 0 ? dl : -dl));
        }
    }
    return s / (double)n;
}

/* -[pw t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))] = pw t softplus(-x) + (1 - t) softplus(x);
 * its derivative is (1 - t) sigmoid(x) - pw t sigmoid(-x). */
double mc_bce_logits_loss(float *grad, float scale, const float *logits, const float *target, int64_t n,
                          float pos_weight) {
    if (n <= 0) return 0.0;
    const double g = scale / (double)n, pw = pos_weight;
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double x = logits[i], t = target[i];
        s += pw * t * softplus(-x) + (1.0 - t) * softplus(x);
        if (grad) grad[i] += (float)(g * ((1.0 - t) * sigmoid(x) - pw * t * sigmoid(-x)));
    }
    return s / (double)n;
}

/* Per row: log-sum-exp(l) - l[y]; its gradient is softmax(l) - onehot(y). Labels outside [0, K)
 * are skipped like the negative ones rather than read out of bounds. With no row counted the loss
 * is 0 and no gradient is added (PyTorch's mean over nothing would be NaN). */
double mc_cross_entropy_loss(float *grad, float scale, const float *logits, const int32_t *labels, int N, int K) {
    int count = 0;
    for (int n = 0; n < N; n++) count += labels[n] >= 0 && labels[n] < K;
    if (count == 0) return 0.0;
    const double g = scale / (double)count;
    double s = 0.0;
    for (int n = 0; n < N; n++) {
        const int y = labels[n];
        if (y < 0 || y >= K) continue;
        const float *l = logits + (int64_t)n * K;
        double mx = l[0];
        for (int k = 1; k < K; k++) mx = l[k] > mx ? l[k] : mx;
        double z = 0.0;
        for (int k = 0; k < K; k++) z += exp(l[k] - mx);
        const double lse = mx + log(z);
        s += lse - l[y];
        if (grad) {
            float *gr = grad + (int64_t)n * K;
            for (int k = 0; k < K; k++) gr[k] += (float)(g * (exp(l[k] - lse) - (k == y)));
        }
    }
    return s / (double)count;
}

/* Per element: alpha_t ce (1 - p_t)^gamma with ce the BCE on logits, p = sigmoid(x),
 * p_t = p t + (1 - p)(1 - t); q = 1 - p_t = p (1 - t) + (1 - p) t is formed directly so it keeps
 * its precision when p_t is near 1. d ce/dx = p - t and dq/dx = p (1 - p)(1 - 2t), hence
 * d/dx [ce q^gamma] = (p - t) q^gamma + gamma ce q^(gamma - 1) p (1 - p)(1 - 2t). */
double mc_focal_loss(float *grad, float scale, const float *logits, const float *target, int64_t n, float alpha,
                     float gamma) {
    if (n <= 0) return 0.0;
    const double g = scale / (double)n, ga = gamma;
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double x = logits[i], t = target[i], p = sigmoid(x), pm = sigmoid(-x);
        const double ce = t * softplus(-x) + (1.0 - t) * softplus(x);
        const double q = p * (1.0 - t) + pm * t;
        const double at = alpha >= 0 ? alpha * t + (1.0 - alpha) * (1.0 - t) : 1.0;
        const double mod = ga == 0 ? 1.0 : pow(q, ga);
        s += at * ce * mod;
        if (grad) {
            double d = (p - t) * mod;
            if (ga != 0 && q > 0) d += ga * ce * pow(q, ga - 1.0) * p * pm * (1.0 - 2.0 * t);
            grad[i] += (float)(g * at * d);
        }
    }
    return s / (double)n;
}
