/* cuda/attention_se.cu: squeeze-excitation channel attention on the device, as attention_se.c:
 * gate = sigmoid(w2 relu(w1 mean + b1) + b2) scales each channel of (N, C, S); built from the
 * device's global average pooling, linear and activation layers, plus the channel scaling and its
 * backward here. */
#include "context.h"

/* out (planes, S) = in * gate (planes) */
__global__ void scale_planes_kernel(float *out, const float *in, const float *gate, int64_t planes, int64_t S) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < planes * S; i += (int64_t)gridDim.x * blockDim.x)
        out[i] = in[i] * gate[i / S];
}

/* One block a plane: dgate = sum over S of dout * in (double); din += dout * gate. */
__global__ void scale_planes_backward_kernel(float *dgate, float *din, const float *dout, const float *in,
                                             const float *gate, int64_t planes, int64_t S) {
    for (int64_t pl = blockIdx.x; pl < planes; pl += gridDim.x) {
        const float *x = in + pl * S, *dy = dout + pl * S;
        double s = 0.0;
        for (int64_t i = threadIdx.x; i < S; i += blockDim.x) s += (double)dy[i] * x[i];
        s = mc_block_sum(s);
        if (threadIdx.x == 0) dgate[pl] = (float)s;
        if (din)
            for (int64_t i = threadIdx.x; i < S; i += blockDim.x) din[pl * S + i] += dy[i] * gate[pl];
    }
}

#define TRY(call)                     \
    do {                              \
        mc_status st_ = (call);       \
        if (st_ != MC_OK) return st_; \
    } while (0)

extern "C" mc_status mc_cuda_se_forward(mc_cuda_ctx *c, float *out, float *pooled, float *hidden, float *gate,
                                        const float *in, const float *w1, const float *b1, const float *w2,
                                        const float *b2, int N, int C, int R, int64_t S) {
    if (!c) return MC_ERR_ARG;
    MC_CU_ARG(c, N > 0 && C > 0 && R > 0 && S > 0, "bad size");
    int64_t planes = (int64_t)N * C;
    TRY(mc_cuda_global_avgpool_forward(c, pooled, in, N, C, S));
    TRY(mc_cuda_linear_forward(c, hidden, pooled, w1, b1, N, C, R));
    TRY(mc_cuda_act_forward(c, hidden, hidden, (int64_t)N * R, MC_ACT_RELU));
    TRY(mc_cuda_linear_forward(c, gate, hidden, w2, b2, N, R, C));
    TRY(mc_cuda_act_forward(c, gate, gate, planes, MC_ACT_SIGMOID));
    scale_planes_kernel<<<mc_cuda_blocks(planes * S), MC_CUDA_THREADS, 0, c->stream>>>(out, in, gate, planes, S);
    MC_CU_LAUNCHED(c, scale_planes_kernel);
    return MC_OK;
}

/* The gradients through the bottleneck, with dgate, dz (N, C) and dhidden, dh (N, R) in tmp. */
static mc_status se_backward(mc_cuda_ctx *c, float *tmp, float *din, float *dw1, float *db1, float *dw2, float *db2,
                             const float *dout, const float *in, const float *w1, const float *w2, const float *pooled,
                             const float *hidden, const float *gate, int N, int C, int R, int64_t S) {
    int64_t planes = (int64_t)N * C, NR = (int64_t)N * R;
    float *dgate = tmp, *dz = dgate + planes, *dhidden = dz + planes, *dh = dhidden + NR;
    MC_CU(c, cudaMemsetAsync(tmp, 0, (size_t)(2 * planes + 2 * NR) * sizeof(float), c->stream));
    unsigned blocks = (unsigned)(planes > 65536 ? 65536 : planes);
    scale_planes_backward_kernel<<<blocks, MC_CUDA_THREADS, 0, c->stream>>>(dgate, din, dout, in, gate, planes, S);
    MC_CU_LAUNCHED(c, scale_planes_backward_kernel);
    TRY(mc_cuda_act_backward(c, dz, dgate, NULL, gate, planes, MC_ACT_SIGMOID));
    TRY(mc_cuda_linear_backward(c, dhidden, dw2, db2, dz, hidden, w2, N, R, C));
    /* hidden = relu(pre) is positive exactly where pre is, so it stands in for pre */
    TRY(mc_cuda_act_backward(c, dh, dhidden, hidden, hidden, NR, MC_ACT_RELU));
    float *dpooled = dgate;
    MC_CU(c, cudaMemsetAsync(dpooled, 0, (size_t)planes * sizeof(float), c->stream));
    TRY(mc_cuda_linear_backward(c, din ? dpooled : NULL, dw1, db1, dh, pooled, w1, N, C, R));
    if (din) TRY(mc_cuda_global_avgpool_backward(c, din, dpooled, N, C, S));
    return MC_OK;
}

extern "C" mc_status mc_cuda_se_backward(mc_cuda_ctx *c, float *din, float *dw1, float *db1, float *dw2, float *db2,
                                         const float *dout, const float *in, const float *w1, const float *w2,
                                         const float *pooled, const float *hidden, const float *gate, int N, int C,
                                         int R, int64_t S) {
    if (!c) return MC_ERR_ARG;
    MC_CU_ARG(c, N > 0 && C > 0 && R > 0 && S > 0, "bad size");
    if (!din && !dw1 && !db1 && !dw2 && !db2) return MC_OK;
    /* its own buffer: the linear layers use the context's scratch */
    float *tmp = NULL;
    MC_CU(c, cudaMalloc((void **)&tmp, (size_t)(2 * (int64_t)N * C + 2 * (int64_t)N * R) * sizeof(float)));
    mc_status st = se_backward(c, tmp, din, dw1, db1, dw2, db2, dout, in, w1, w2, pooled, hidden, gate, N, C, R, S);
    cudaStreamSynchronize(c->stream);
    cudaFree(tmp);
    return st;
}
