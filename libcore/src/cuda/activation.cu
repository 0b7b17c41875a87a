/* cuda/activation.cu: elementwise activations and their derivatives on the device, one
 * grid-stride kernel each way. GELU is the exact erf form. */
#include "context.h"

static __device__ __forceinline__ float act_value(float x, mc_act a) {
    switch (a) {
    case MC_ACT_RELU: return x > 0.0f ? x : 0.0f;
    case MC_ACT_GELU: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case MC_ACT_SILU: return x * (1.0f / (1.0f + expf(-x)));
    case MC_ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case MC_ACT_TANH: return tanhf(x);
    default: return x;
    }
}

/* d act / d x at x, with y = act(x) */
static __device__ __forceinline__ float act_slope(float x, float y, mc_act a) {
    switch (a) {
    case MC_ACT_RELU: return x > 0.0f ? 1.0f : 0.0f;
    case MC_ACT_GELU: {
        float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752f));
        float pdf = 0.3989422804014327f * expf(-0.5f * x * x);
        return cdf + x * pdf;
    }
    case MC_ACT_SILU: {
        float s = 1.0f / (1.0f + expf(-x));
        return s * (1.0f + x * (1.0f - s));
    }
    case MC_ACT_SIGMOID: return y * (1.0f - y);
    case MC_ACT_TANH: return 1.0f - y * y;
    default: return 1.0f;
    }
}

__global__ void act_forward_kernel(float *out, const float *in, int64_t n, mc_act a) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        out[i] = act_value(in[i], a);
}

__global__ void act_backward_kernel(float *din, const float *dout, const float *in, const float *out, int64_t n,
                                    mc_act a) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        din[i] += dout[i] * act_slope(in ? in[i] : 0.0f, out ? out[i] : 0.0f, a);
}

extern "C" mc_status mc_cuda_act_forward(mc_cuda_ctx *c, float *out, const float *in, int64_t n, mc_act a) {
    if (!c) return MC_ERR_ARG;
    MC_CU_ARG(c, n >= 0 && (unsigned)a <= MC_ACT_TANH, "bad size or activation");
    if (n == 0) return MC_OK;
    act_forward_kernel<<<mc_cuda_blocks(n), MC_CUDA_THREADS, 0, c->stream>>>(out, in, n, a);
    MC_CU_LAUNCHED(c, act_forward_kernel);
    return MC_OK;
}

extern "C" mc_status mc_cuda_act_backward(mc_cuda_ctx *c, float *din, const float *dout, const float *in,
                                          const float *out, int64_t n, mc_act a) {
    if (!c) return MC_ERR_ARG;
    MC_CU_ARG(c, n >= 0 && (unsigned)a <= MC_ACT_TANH, "bad size or activation");
    MC_CU_ARG(c, a == MC_ACT_SIGMOID || a == MC_ACT_TANH ? out != NULL : in != NULL || a == MC_ACT_NONE,
              "sigmoid and tanh need out, the others in");
    if (n == 0 || !din) return MC_OK;
    act_backward_kernel<<<mc_cuda_blocks(n), MC_CUDA_THREADS, 0, c->stream>>>(din, dout, in, out, n, a);
    MC_CU_LAUNCHED(c, act_backward_kernel);
    return MC_OK;
}
