/* cuda/conv.cu: 2D and 3D convolutions through cuDNN 9 with N-d descriptors: forward, and the
 * backward passes for data, filter and bias, all accumulating (beta = 1) as nn.h's backward does.
 * The algorithm for a shape, direction and math mode is picked once from cuDNN's heuristics
 * (preferring deterministic ones for the backward passes) and cached on the context; its
 * workspace comes from the context's scratch. FP32 math excludes TF32 (CUDNN_FMA_MATH); the TF32
 * and BF16 modes let cuDNN use TF32 tensor cores (the arrays stay float32). */
#include <stdlib.h>
#include <string.h>

#include "context.h"

enum { DIR_FWD = 0, DIR_BWD_DATA = 1, DIR_BWD_FILTER = 2 };

/* The descriptors of one convolution, created per call. */
typedef struct conv_descs {
    cudnnTensorDescriptor_t x, y, bias;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
} conv_descs;

static void descs_destroy(conv_descs *d) {
    if (d->x) cudnnDestroyTensorDescriptor(d->x);
    if (d->y) cudnnDestroyTensorDescriptor(d->y);
    if (d->bias) cudnnDestroyTensorDescriptor(d->bias);
    if (d->w) cudnnDestroyFilterDescriptor(d->w);
    if (d->conv) cudnnDestroyConvolutionDescriptor(d->conv);
}

static mc_status descs_create(mc_cuda_ctx *c, conv_descs *d, const mc_conv_params *p) {
    memset(d, 0, sizeof *d);
    const int nd = p->dims + 2;
    int xd[5] = {p->N, p->IC}, yd[5] = {p->N, p->OC}, wd[5] = {p->OC, p->IC / p->groups}, bd[5] = {1, p->OC};
    for (int i = 0; i < p->dims; i++) {
        xd[2 + i] = p->in[i];
        yd[2 + i] = p->out[i];
        wd[2 + i] = p->k[i];
        bd[2 + i] = 1;
    }
    MC_CU(c, cudnnCreateTensorDescriptor(&d->x));
    MC_CU(c, cudnnCreateTensorDescriptor(&d->y));
    MC_CU(c, cudnnCreateTensorDescriptor(&d->bias));
    MC_CU(c, cudnnCreateFilterDescriptor(&d->w));
    MC_CU(c, cudnnCreateConvolutionDescriptor(&d->conv));
    MC_CU(c, cudnnSetTensorNdDescriptorEx(d->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, nd, xd));
    MC_CU(c, cudnnSetTensorNdDescriptorEx(d->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, nd, yd));
    MC_CU(c, cudnnSetTensorNdDescriptorEx(d->bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, nd, bd));
    MC_CU(c, cudnnSetFilterNdDescriptor(d->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, nd, wd));
    MC_CU(c, cudnnSetConvolutionNdDescriptor(d->conv, p->dims, p->pad, p->stride, p->dil, CUDNN_CROSS_CORRELATION,
                                             CUDNN_DATA_FLOAT));
    MC_CU(c, cudnnSetConvolutionGroupCount(d->conv, p->groups));
    MC_CU(c, cudnnSetConvolutionMathType(d->conv, c->math == MC_CUDA_MATH_FP32 ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH));
    return MC_OK;
}

static int same_key(const mc_cuda_conv_algo *a, const mc_conv_params *p, int dir, mc_cuda_math math) {
    return a->direction == dir && a->math == math && memcmp(&a->p, p, sizeof *p) == 0;
}

/* Picks from cuDNN's ranked list: the first that succeeded, deterministic when asked. */
#define PICK(perf, n, want_det, out_algo, out_ws)                                                        \
    do {                                                                                                 \
        for (int pass = want_det ? 0 : 1; pass < 2 && *(out_algo) < 0; pass++)                          \
            for (int i = 0; i < (n); i++)                                                                \
                if ((perf)[i].status == CUDNN_STATUS_SUCCESS &&                                          \
                    (pass == 1 || (perf)[i].determinism == CUDNN_DETERMINISTIC)) {                      \
                    *(out_algo) = (int)(perf)[i].algo;                                                   \
                    *(out_ws) = (perf)[i].memory;                                                        \
                    break;                                                                               \
                }                                                                                        \
    } while (0)

/* The cached algorithm of direction dir for p, chosen now when it is the first time. */
static mc_status algo_for(mc_cuda_ctx *c, const conv_descs *d, const mc_conv_params *p, int dir, int *algo, size_t *ws) {
    for (int i = 0; i < c->n_conv_algos; i++) {
        if (same_key(&c->conv_algos[i], p, dir, c->math)) {
            *algo = c->conv_algos[i].algo;
            *ws = c->conv_algos[i].workspace;
            return MC_OK;
        }
    }
    enum { MAX_ALGOS = 16 };
    int n = 0, chosen = -1;
    size_t need = 0;
    if (dir == DIR_FWD) {
        cudnnConvolutionFwdAlgoPerf_t perf[MAX_ALGOS];
        MC_CU(c, cudnnGetConvolutionForwardAlgorithm_v7(c->dnn, d->x, d->w, d->conv, d->y, MAX_ALGOS, &n, perf));
        PICK(perf, n, 0, &chosen, &need);
    } else if (dir == DIR_BWD_DATA) {
        cudnnConvolutionBwdDataAlgoPerf_t perf[MAX_ALGOS];
        MC_CU(c, cudnnGetConvolutionBackwardDataAlgorithm_v7(c->dnn, d->w, d->y, d->conv, d->x, MAX_ALGOS, &n, perf));
        PICK(perf, n, 1, &chosen, &need);
    } else {
        cudnnConvolutionBwdFilterAlgoPerf_t perf[MAX_ALGOS];
        MC_CU(c, cudnnGetConvolutionBackwardFilterAlgorithm_v7(c->dnn, d->x, d->y, d->conv, d->w, MAX_ALGOS, &n, perf));
        PICK(perf, n, 1, &chosen, &need);
    }
    if (chosen < 0)
        return mc_error_set(&c->err, MC_ERR_UNSUPPORTED, "cuDNN has no %s algorithm for this %dD convolution",
                            dir == DIR_FWD ? "forward" : dir == DIR_BWD_DATA ? "backward-data" : "backward-filter", p->dims);
    if (c->n_conv_algos == c->cap_conv_algos) {
        int cap = c->cap_conv_algos ? 2 * c->cap_conv_algos : 16;
        mc_cuda_conv_algo *grown = (mc_cuda_conv_algo *)realloc(c->conv_algos, (size_t)cap * sizeof *grown);
        if (!grown) return mc_error_set(&c->err, MC_ERR_NOMEM, "convolution algorithm cache: out of host memory");
        c->conv_algos = grown;
        c->cap_conv_algos = cap;
    }
    mc_cuda_conv_algo *e = &c->conv_algos[c->n_conv_algos++];
    e->p = *p;
    e->direction = dir;
    e->math = c->math;
    e->algo = chosen;
    e->workspace = need;
    *algo = chosen;
    *ws = need;
    return MC_OK;
}

/* The geometry mc_conv_params_init fills in, checked here without calling it, so that GPU programs
 * do not link the CPU convolutions (and oneDNN with them). */
static int geometry_ok(const mc_conv_params *p) {
    if ((p->dims != 2 && p->dims != 3) || p->N < 1 || p->IC < 1 || p->OC < 1 || p->groups < 1 ||
        p->IC % p->groups != 0 || p->OC % p->groups != 0)
        return 0;
    for (int d = 0; d < p->dims; d++) {
        if (p->in[d] < 1 || p->k[d] < 1 || p->stride[d] < 1 || p->pad[d] < 0 || p->dil[d] < 1) return 0;
        int64_t span = (int64_t)p->dil[d] * (p->k[d] - 1) + 1, padded = (int64_t)p->in[d] + 2 * (int64_t)p->pad[d];
        if (padded < span || p->out[d] != (padded - span) / p->stride[d] + 1) return 0;
    }
    return 1;
}

static mc_status check_params(mc_cuda_ctx *c, const mc_conv_params *p, const char *func) {
    if (!p) return mc_cuda_arg_error(c, func, "no parameters");
    if (!geometry_ok(p)) return mc_cuda_arg_error(c, func, "invalid convolution parameters (fill them with mc_conv_params_init)");
    return MC_OK;
}

/* Returns body's status, evaluated with d holding the descriptors of p (destroyed after). */
#define WITH_DESCS(c, p, d, body)                              \
    do {                                                       \
        conv_descs d;                                          \
        mc_status st_ = descs_create((c), &d, (p));            \
        if (st_ == MC_OK) st_ = (body);                        \
        descs_destroy(&d);                                     \
        return st_;                                            \
    } while (0)

static mc_status forward(mc_cuda_ctx *c, const conv_descs *d, float *out, const float *in, const float *w, const float *b,
                         const mc_conv_params *p) {
    int algo;
    size_t ws_bytes;
    void *ws = NULL;
    mc_status st = algo_for(c, d, p, DIR_FWD, &algo, &ws_bytes);
    if (st == MC_OK && ws_bytes) st = mc_cuda_scratch(c, ws_bytes, &ws);
    if (st != MC_OK) return st;
    const float one = 1.0f, zero = 0.0f;
    MC_CU(c, cudnnConvolutionForward(c->dnn, &one, d->x, in, d->w, w, d->conv, (cudnnConvolutionFwdAlgo_t)algo, ws,
                                     ws_bytes, &zero, d->y, out));
    if (b) MC_CU(c, cudnnAddTensor(c->dnn, &one, d->bias, b, &one, d->y, out));
    return MC_OK;
}

static mc_status backward(mc_cuda_ctx *c, const conv_descs *d, float *din, float *dw, float *db, const float *dout,
                          const float *in, const float *w, const mc_conv_params *p) {
    const float one = 1.0f;
    int algo;
    size_t ws_bytes;
    void *ws = NULL;
    mc_status st;
    if (din) {
        if ((st = algo_for(c, d, p, DIR_BWD_DATA, &algo, &ws_bytes)) != MC_OK) return st;
        if (ws_bytes && (st = mc_cuda_scratch(c, ws_bytes, &ws)) != MC_OK) return st;
        MC_CU(c, cudnnConvolutionBackwardData(c->dnn, &one, d->w, w, d->y, dout, d->conv,
                                              (cudnnConvolutionBwdDataAlgo_t)algo, ws, ws_bytes, &one, d->x, din));
    }
    if (dw) {
        if ((st = algo_for(c, d, p, DIR_BWD_FILTER, &algo, &ws_bytes)) != MC_OK) return st;
        if (ws_bytes && (st = mc_cuda_scratch(c, ws_bytes, &ws)) != MC_OK) return st;
        MC_CU(c, cudnnConvolutionBackwardFilter(c->dnn, &one, d->x, in, d->y, dout, d->conv,
                                                (cudnnConvolutionBwdFilterAlgo_t)algo, ws, ws_bytes, &one, d->w, dw));
    }
    if (db) MC_CU(c, cudnnConvolutionBackwardBias(c->dnn, &one, d->y, dout, &one, d->bias, db));
    return MC_OK;
}

extern "C" mc_status mc_cuda_conv_forward(mc_cuda_ctx *c, float *out, const float *in, const float *w, const float *b,
                                          const mc_conv_params *p) {
    if (!c) return MC_ERR_ARG;
    mc_status st = check_params(c, p, __func__);
    if (st != MC_OK) return st;
    WITH_DESCS(c, p, d, forward(c, &d, out, in, w, b, p));
}

extern "C" mc_status mc_cuda_conv_backward(mc_cuda_ctx *c, float *din, float *dw, float *db, const float *dout,
                                           const float *in, const float *w, const mc_conv_params *p) {
    if (!c) return MC_ERR_ARG;
    mc_status st = check_params(c, p, __func__);
    if (st != MC_OK) return st;
    WITH_DESCS(c, p, d, backward(c, &d, din, dw, db, dout, in, w, p));
}
