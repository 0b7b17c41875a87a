/* cuda/loss.cu: the losses of loss.h on the device with the same definitions, reductions and
 * stable forms (loss.c): each kernel writes every element's (or row's) loss in double to the
 * scratch and accumulates scale * gradient; a deterministic sum gives the mean. */
#include "context.h"

/* log(1 + exp(x)) and 1 / (1 + exp(-x)) without overflow */
static __device__ double softplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static __device__ double sigmoid(double x) {
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

#define GRID_STRIDE(i, n) \
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

__global__ void mse_kernel(double *each, float *grad, double g, const float *pred, const float *target, int64_t n) {
    GRID_STRIDE(i, n) {
        double d = (double)pred[i] - target[i];
        each[i] = d * d;
        if (grad) grad[i] += (float)(g * d);
    }
}

__global__ void huber_kernel(double *each, float *grad, double g, const float *pred, const float *target, int64_t n,
                             double dl) {
    GRID_STRIDE(i, n) {
        double d = (double)pred[i] - target[i], a = fabs(d);
        if (a < dl) {
            each[i] = 0.5 * d * d;
            if (grad) grad[i] += (float)(g * d);
        } else {
            each[i] = dl * (a - 0.5 * dl);
            if (grad) grad[i] += (float)(g * (d > 0 ? dl : -dl));
        }
    }
}

__global__ void bce_kernel(double *each, float *grad, double g, const float *logits, const float *target, int64_t n,
                           double pw) {
    GRID_STRIDE(i, n) {
        double x = logits[i], t = target[i];
        each[i] = pw * t * softplus(-x) + (1.0 - t) * softplus(x);
        if (grad) grad[i] += (float)(g * ((1.0 - t) * sigmoid(x) - pw * t * sigmoid(-x)));
    }
}

__global__ void focal_kernel(double *each, float *grad, double g, const float *logits, const float *target, int64_t n,
                             float alpha, double ga) {
    GRID_STRIDE(i, n) {
        double x = logits[i], t = target[i], p = sigmoid(x), pm = sigmoid(-x);
        double ce = t * softplus(-x) + (1.0 - t) * softplus(x);
        double q = p * (1.0 - t) + pm * t;
        double at = alpha >= 0 ? alpha * t + (1.0 - alpha) * (1.0 - t) : 1.0;
        double mod = ga == 0 ? 1.0 : pow(q, ga);
        each[i] = at * ce * mod;
        if (grad) {
            double d = (p - t) * mod;
            if (ga != 0 && q > 0) d += ga * ce * pow(q, ga - 1.0) * p * pm * (1.0 - 2.0 * t);
            grad[i] += (float)(g * at * d);
        }
    }
}

__global__ void ce_valid_kernel(double *each, const int32_t *labels, int N, int K) {
    GRID_STRIDE(n, N) each[n] = labels[n] >= 0 && labels[n] < K ? 1.0 : 0.0;
}

/* one thread a row: log-sum-exp(l) - l[y]; gradient softmax(l) - onehot(y) */
__global__ void ce_kernel(double *each, float *grad, double g, const float *logits, const int32_t *labels, int N, int K) {
    GRID_STRIDE(n, N) {
        int y = labels[n];
        each[n] = 0.0;
        if (y < 0 || y >= K) continue;
        const float *l = logits + n * K;
        double mx = l[0];
        for (int k = 1; k < K; k++) mx = l[k] > mx ? l[k] : mx;
        double z = 0.0;
        for (int k = 0; k < K; k++) z += exp(l[k] - mx);
        double lse = mx + log(z);
        each[n] = lse - l[y];
        if (grad) {
            float *gr = grad + n * K;
            for (int k = 0; k < K; k++) gr[k] += (float)(g * (exp(l[k] - lse) - (k == y)));
        }
    }
}

/* The mean of the n values in each, into *loss. */
static mc_status mean_of(mc_cuda_ctx *c, const double *each, int64_t n, double *loss) {
    double s;
    mc_status st = mc_cuda_sum_doubles(c, each, n, &s);
    if (st != MC_OK) return st;
    *loss = s / (double)n;
    return MC_OK;
}

/* Checks the common arguments and gets n doubles of scratch. */
static mc_status begin(mc_cuda_ctx *c, double *loss, int64_t n, double **each) {
    if (!c || !loss) return MC_ERR_ARG;
    *loss = 0.0;
    MC_CU_ARG(c, n >= 0, "negative size");
    if (n == 0) return MC_OK;
    void *w;
    mc_status st = mc_cuda_scratch(c, (size_t)n * sizeof(double), &w);
    *each = (double *)w;
    return st;
}

#define LAUNCH(kernel, n, ...)                                                                   \
    do {                                                                                         \
        kernel<<<mc_cuda_blocks(n), MC_CUDA_THREADS, 0, c->stream>>>(__VA_ARGS__);               \
        MC_CU_LAUNCHED(c, kernel);                                                               \
    } while (0)

extern "C" mc_status mc_cuda_mse_loss(mc_cuda_ctx *c, double *loss, float *grad, float scale, const float *pred,
                                      const float *target, int64_t n) {
    double *each = NULL;
    mc_status st = begin(c, loss, n, &each);
    if (st != MC_OK || n == 0) return st;
    LAUNCH(mse_kernel, n, each, grad, 2.0 * scale / (double)n, pred, target, n);
    return mean_of(c, each, n, loss);
}

extern "C" mc_status mc_cuda_huber_loss(mc_cuda_ctx *c, double *loss, float *grad, float scale, const float *pred,
                                        const float *target, int64_t n, float delta) {
    double *each = NULL;
    mc_status st = begin(c, loss, n, &each);
    if (st != MC_OK || n == 0) return st;
    LAUNCH(huber_kernel, n, each, grad, scale / (double)n, pred, target, n, (double)delta);
    return mean_of(c, each, n, loss);
}

extern "C" mc_status mc_cuda_bce_logits_loss(mc_cuda_ctx *c, double *loss, float *grad, float scale, const float *logits,
                                             const float *target, int64_t n, float pos_weight) {
    double *each = NULL;
    mc_status st = begin(c, loss, n, &each);
    if (st != MC_OK || n == 0) return st;
    LAUNCH(bce_kernel, n, each, grad, scale / (double)n, logits, target, n, (double)pos_weight);
    return mean_of(c, each, n, loss);
}

extern "C" mc_status mc_cuda_focal_loss(mc_cuda_ctx *c, double *loss, float *grad, float scale, const float *logits,
                                        const float *target, int64_t n, float alpha, float gamma) {
    double *each = NULL;
    mc_status st = begin(c, loss, n, &each);
    if (st != MC_OK || n == 0) return st;
    LAUNCH(focal_kernel, n, each, grad, scale / (double)n, logits, target, n, alpha, (double)gamma);
    return mean_of(c, each, n, loss);
}

extern "C" mc_status mc_cuda_cross_entropy_loss(mc_cuda_ctx *c, double *loss, float *grad, float scale,
                                                const float *logits, const int32_t *labels, int N, int K) {
    double *each = NULL;
    mc_status st = begin(c, loss, N, &each);
    if (st != MC_OK || N == 0) return st;
    MC_CU_ARG(c, K > 0, "no classes");
    double count;
    LAUNCH(ce_valid_kernel, N, each, labels, N, K);
    if ((st = mc_cuda_sum_doubles(c, each, N, &count)) != MC_OK || count == 0) return st;
    LAUNCH(ce_kernel, N, each, grad, scale / count, logits, labels, N, K);
    double s;
    if ((st = mc_cuda_sum_doubles(c, each, N, &s)) != MC_OK) return st;
    *loss = s / count;
    return MC_OK;
}
