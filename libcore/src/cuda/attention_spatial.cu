/* cuda/attention_spatial.cu: CBAM spatial attention on the device, as attention_spatial.c: the
 * mean and the max over the channels at every position (NaN wins the max), a 2 -> 1 channel
 * convolution with "same" padding through cuDNN, a sigmoid, and every channel scaled by the gate;
 * 2D and 3D. One thread a position for the channel reductions. */
#include <math.h>

#include "../attention_spatial_desc.h"
#include "context.h"

/* desc (N, 2, S) = [mean, max] over C of in (N, C, S); argmax_c (N, S) the channel of the max */
__global__ void channel_desc_kernel(float *desc, int32_t *argmax_c, const float *in, int N, int C, int64_t S) {
    for (int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; j < (int64_t)N * S; j += (int64_t)gridDim.x * blockDim.x) {
        int64_t n = j / S, s = j % S;
        float *d = desc + n * 2 * S + s;
        argmax_c[j] = channel_mean_max(d, d + S, in + n * C * S + s, C, S);
    }
}

/* out (N, C, S) = in * gate (N, S) */
__global__ void scale_positions_kernel(float *out, const float *in, const float *gate, int N, int C, int64_t S) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (int64_t)N * C * S; i += (int64_t)gridDim.x * blockDim.x)
        out[i] = in[i] * gate[i / ((int64_t)C * S) * S + i % S];
}

/* dgate (N, S) = sum over C of dout * in */
__global__ void gate_grad_kernel(float *dgate, const float *dout, const float *in, int N, int C, int64_t S) {
    for (int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; j < (int64_t)N * S; j += (int64_t)gridDim.x * blockDim.x) {
        int64_t n = j / S, s = j % S;
        const float *x = in + n * C * S + s, *dy = dout + n * C * S + s;
        double sum = 0.0;
        for (int c = 0; c < C; c++) sum += (double)dy[(int64_t)c * S] * x[(int64_t)c * S];
        dgate[j] = (float)sum;
    }
}

/* din += dout * gate + ddesc[mean] / C + ddesc[max] at the channel of the max */
__global__ void spatial_din_kernel(float *din, const float *dout, const float *gate, const float *ddesc,
                                   const int32_t *argmax_c, int N, int C, int64_t S) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (int64_t)N * C * S; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t n = i / ((int64_t)C * S), c = i / S % C, s = i % S;
        const float *dmean = ddesc + n * 2 * S, *dmax = dmean + S;
        din[i] += dout[i] * gate[n * S + s] + dmean[s] / (float)C + (argmax_c[n * S + s] == c ? dmax[s] : 0.0f);
    }
}

/* The convolution of the descriptor (N, 2, sp...) into the gate (N, 1, sp...), output size = input
 * size; returns the positions S, or -1 for invalid sizes. */
static int64_t gate_conv(mc_conv_params *cp, int N, int dims, const int *sp, int k) {
    *cp = mc_conv_params{};
    cp->dims = dims, cp->N = N, cp->IC = 2, cp->OC = 1, cp->groups = 1;
    if ((dims != 2 && dims != 3) || k < 1 || k % 2 == 0 || N < 1) return -1;
    int64_t S = 1;
    for (int d = 0; d < dims; d++) {
        if (sp[d] < 1) return -1;
        cp->in[d] = cp->out[d] = sp[d];
        cp->k[d] = k;
        cp->stride[d] = 1;
        cp->pad[d] = k / 2;
        cp->dil[d] = 1;
        S *= sp[d];
    }
    return S;
}

#define TRY(call)                     \
    do {                              \
        mc_status st_ = (call);       \
        if (st_ != MC_OK) return st_; \
    } while (0)

extern "C" mc_status mc_cuda_spatial_attention_forward(mc_cuda_ctx *c, float *out, float *desc, int32_t *argmax_c,
                                                       float *gate, const float *in, const float *w, const float *b,
                                                       int N, int C, int dims, const int *sp, int k) {
    if (!c) return MC_ERR_ARG;
    mc_conv_params cp;
    int64_t S = sp ? gate_conv(&cp, N, dims, sp, k) : -1;
    MC_CU_ARG(c, S > 0 && C > 0, "bad sizes (dims 2 or 3, odd k, positive sizes)");
    channel_desc_kernel<<<mc_cuda_blocks((int64_t)N * S), MC_CUDA_THREADS, 0, c->stream>>>(desc, argmax_c, in, N, C, S);
    MC_CU_LAUNCHED(c, channel_desc_kernel);
    TRY(mc_cuda_conv_forward(c, gate, desc, w, b, &cp));
    TRY(mc_cuda_act_forward(c, gate, gate, (int64_t)N * S, MC_ACT_SIGMOID));
    scale_positions_kernel<<<mc_cuda_blocks((int64_t)N * C * S), MC_CUDA_THREADS, 0, c->stream>>>(out, in, gate, N, C, S);
    MC_CU_LAUNCHED(c, scale_positions_kernel);
    return MC_OK;
}

/* The backward pass with dgate, dpre (N, S) and ddesc (N, 2, S) in tmp. */
static mc_status spatial_backward(mc_cuda_ctx *c, float *tmp, float *din, float *dw, float *db, const float *dout,
                                  const float *in, const float *w, const float *desc, const int32_t *argmax_c,
                                  const float *gate, int N, int C, int64_t S, const mc_conv_params *cp) {
    const int64_t NS = (int64_t)N * S;
    float *dgate = tmp, *dpre = dgate + NS, *ddesc = din ? dpre + NS : NULL;
    MC_CU(c, cudaMemsetAsync(tmp, 0, (size_t)(din ? 4 : 2) * NS * sizeof(float), c->stream));
    gate_grad_kernel<<<mc_cuda_blocks(NS), MC_CUDA_THREADS, 0, c->stream>>>(dgate, dout, in, N, C, S);
    MC_CU_LAUNCHED(c, gate_grad_kernel);
    TRY(mc_cuda_act_backward(c, dpre, dgate, NULL, gate, NS, MC_ACT_SIGMOID));
    TRY(mc_cuda_conv_backward(c, ddesc, dw, db, dpre, desc, w, cp));
    if (din) {
        spatial_din_kernel<<<mc_cuda_blocks(NS * C), MC_CUDA_THREADS, 0, c->stream>>>(din, dout, gate, ddesc, argmax_c, N,
                                                                                      C, S);
        MC_CU_LAUNCHED(c, spatial_din_kernel);
    }
    return MC_OK;
}

extern "C" mc_status mc_cuda_spatial_attention_backward(mc_cuda_ctx *c, float *din, float *dw, float *db,
                                                        const float *dout, const float *in, const float *w,
                                                        const float *desc, const int32_t *argmax_c, const float *gate,
                                                        int N, int C, int dims, const int *sp, int k) {
    if (!c) return MC_ERR_ARG;
    mc_conv_params cp;
    int64_t S = sp ? gate_conv(&cp, N, dims, sp, k) : -1;
    MC_CU_ARG(c, S > 0 && C > 0, "bad sizes (dims 2 or 3, odd k, positive sizes)");
    if (!din && !dw && !db) return MC_OK;
    /* its own buffer: the convolution uses the context's scratch */
    float *tmp = NULL;
    MC_CU(c, cudaMalloc((void **)&tmp, (size_t)4 * N * S * sizeof(float)));
    mc_status st = spatial_backward(c, tmp, din, dw, db, dout, in, w, desc, argmax_c, gate, N, C, S, &cp);
    cudaStreamSynchronize(c->stream);
    cudaFree(tmp);
    return st;
}
