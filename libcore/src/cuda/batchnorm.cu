/* cuda/batchnorm.cu: batch normalisation per channel of (N, C, S) on the device, PyTorch's
 * conventions as batchnorm.c: training normalises with the batch mean and biased variance and moves
 * the running statistics towards the mean and the unbiased variance; evaluation uses the running
 * statistics. One block a channel, sums in double, two passes for the variance. */
#include "context.h"

#define BN_AT(base, n, c, i) (base)[((int64_t)(n) * C + (c)) * S + (i)]

__global__ void batchnorm_forward_kernel(float *out, float *mean, float *rstd, float *running_mean, float *running_var,
                                         const float *in, const float *gamma, const float *beta, int N, int C,
                                         int64_t S, float eps, float momentum, int train) {
    const int64_t M = (int64_t)N * S;
    for (int c = blockIdx.x; c < C; c += gridDim.x) {
        double mu, rs;
        if (train) {
            double s = 0.0, v = 0.0;
            for (int64_t j = threadIdx.x; j < M; j += blockDim.x) s += BN_AT(in, j / S, c, j % S);
            mu = mc_block_sum(s) / (double)M;
            for (int64_t j = threadIdx.x; j < M; j += blockDim.x) {
                double d = BN_AT(in, j / S, c, j % S) - mu;
                v += d * d;
            }
            v = mc_block_sum(v);
            double var = v / (double)M;
            rs = 1.0 / sqrt(var + eps);
            double unbiased = M > 1 ? v / (double)(M - 1) : var;
            if (threadIdx.x == 0) {
                if (running_mean) running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mu);
                if (running_var) running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * unbiased);
            }
        } else {
            mu = running_mean[c];
            rs = 1.0 / sqrt((double)running_var[c] + eps);
        }
        if (threadIdx.x == 0) {
            if (mean) mean[c] = (float)mu;
            if (rstd) rstd[c] = (float)rs;
        }
        float muf = (float)mu, a = (float)(gamma[c] * rs), b = beta[c];
        for (int64_t j = threadIdx.x; j < M; j += blockDim.x) {
            int64_t n = j / S, i = j % S;
            BN_AT(out, n, c, i) = (BN_AT(in, n, c, i) - muf) * a + b;
        }
    }
}

/* din = gamma rstd (dy - mean(dy) - xhat mean(dy xhat)); dbeta = sum dy; dgamma = sum dy xhat */
__global__ void batchnorm_backward_kernel(float *din, float *dgamma, float *dbeta, const float *dout, const float *in,
                                          const float *gamma, const float *mean, const float *rstd, int N, int C,
                                          int64_t S) {
    const int64_t M = (int64_t)N * S;
    for (int c = blockIdx.x; c < C; c += gridDim.x) {
        float mu = mean[c], rs = rstd[c];
        double sdy = 0.0, sdyx = 0.0;
        for (int64_t j = threadIdx.x; j < M; j += blockDim.x) {
            int64_t n = j / S, i = j % S;
            float dy = BN_AT(dout, n, c, i);
            sdy += dy;
            sdyx += (double)dy * ((BN_AT(in, n, c, i) - mu) * rs);
        }
        sdy = mc_block_sum(sdy);
        sdyx = mc_block_sum(sdyx);
        if (threadIdx.x == 0) {
            if (dbeta) dbeta[c] += (float)sdy;
            if (dgamma) dgamma[c] += (float)sdyx;
        }
        if (!din) continue;
        float k = gamma[c] * rs, mdy = (float)(sdy / (double)M), mdyx = (float)(sdyx / (double)M);
        for (int64_t j = threadIdx.x; j < M; j += blockDim.x) {
            int64_t n = j / S, i = j % S;
            BN_AT(din, n, c, i) += k * (BN_AT(dout, n, c, i) - mdy - (BN_AT(in, n, c, i) - mu) * rs * mdyx);
        }
    }
}

static unsigned channel_blocks(int C) { return (unsigned)(C < 1 ? 1 : C > 65536 ? 65536 : C); }

extern "C" mc_status mc_cuda_batchnorm_forward(mc_cuda_ctx *c, float *out, float *mean, float *rstd,
                                               float *running_mean, float *running_var, const float *in,
                                               const float *gamma, const float *beta, int N, int C, int64_t S,
                                               float eps, float momentum, int train) {
    if (!c) return MC_ERR_ARG;
    MC_CU_ARG(c, N > 0 && C > 0 && S > 0, "bad size");
    MC_CU_ARG(c, train || (running_mean && running_var), "evaluation needs the running statistics");
    batchnorm_forward_kernel<<<channel_blocks(C), MC_CUDA_THREADS, 0, c->stream>>>(
        out, mean, rstd, running_mean, running_var, in, gamma, beta, N, C, S, eps, momentum, train);
    MC_CU_LAUNCHED(c, batchnorm_forward_kernel);
    return MC_OK;
}

extern "C" mc_status mc_cuda_batchnorm_backward(mc_cuda_ctx *c, float *din, float *dgamma, float *dbeta,
                                                const float *dout, const float *in, const float *gamma,
                                                const float *mean, const float *rstd, int N, int C, int64_t S) {
    if (!c) return MC_ERR_ARG;
    MC_CU_ARG(c, N > 0 && C > 0 && S > 0, "bad size");
    batchnorm_backward_kernel<<<channel_blocks(C), MC_CUDA_THREADS, 0, c->stream>>>(din, dgamma, dbeta, dout, in, gamma,
                                                                                   mean, rstd, N, C, S);
    MC_CU_LAUNCHED(c, batchnorm_backward_kernel);
    return MC_OK;
}
