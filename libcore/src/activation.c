/* activation.c: elementwise activations and their derivatives. */
#include <math.h>
#include <string.h>

#include "moecore/nn.h"

static const char *const act_names[] = {"none", "relu", "gelu", "silu", "sigmoid", "tanh"};

const char *mc_act_name(mc_act a) { return (unsigned)a <= MC_ACT_TANH ? act_names[a] : "?"; }

int mc_act_parse(const char *name, mc_act *out) {
    for (int a = MC_ACT_NONE; a <= MC_ACT_TANH; a++) {
        if (strcmp(name, act_names[a]) == 0) {
            *out = (mc_act)a;
            return 0;
        }
    }
    return -1;
}

static inline float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

#define PAR_THRESHOLD 32768

void mc_act_forward(float *out, const float *in, int64_t n, mc_act a) {
    switch (a) {
    case MC_ACT_NONE:
        if (out != in) memmove(out, in, (size_t)n * sizeof *out);
        break;
    case MC_ACT_RELU:
        #pragma omp parallel for simd schedule(static) if (n > PAR_THRESHOLD)
        for (int64_t i = 0; i < n; i++) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
        break;
    case MC_ACT_GELU:
        #pragma omp parallel for schedule(static) if (n > PAR_THRESHOLD)
        for (int64_t i = 0; i < n; i++) out[i] = 0.5f * in[i] * (1.0f + erff(in[i] * (float)M_SQRT1_2));
        break;
    case MC_ACT_SILU:
        #pragma omp parallel for schedule(static) if (n > PAR_THRESHOLD)
        for (int64_t i = 0; i < n; i++) out[i] = in[i] * sigmoidf(in[i]);
        break;
    case MC_ACT_SIGMOID:
        #pragma omp parallel for schedule(static) if (n > PAR_THRESHOLD)
        for (int64_t i = 0; i < n; i++) out[i] = sigmoidf(in[i]);
        break;
    case MC_ACT_TANH:
        #pragma omp parallel for schedule(static) if (n > PAR_THRESHOLD)
        for (int64_t i = 0; i < n; i++) out[i] = tanhf(in[i]);
        break;
    }
}

void mc_act_backward(float *din, const float *dout, const float *in, const float *out, int64_t n, mc_act a) {
    if (!din) return;
    switch (a) {
    case MC_ACT_NONE:
        #pragma omp parallel for simd schedule(static) if (n > PAR_THRESHOLD)
        for (int64_t i = 0; i < n; i++) din[i] += dout[i];
        break;
    case MC_ACT_RELU:
        #pragma omp parallel for simd schedule(static) if (n > PAR_THRESHOLD)
        for (int64_t i = 0; i < n; i++) din[i] += in[i] > 0.0f ? dout[i] : 0.0f;
        break;
    case MC_ACT_GELU: {
        const float inv_sqrt_2pi = 0.3989422804014327f;
        #pragma omp parallel for schedule(static) if (n > PAR_THRESHOLD)
        for (int64_t i = 0; i < n; i++) {
            float x = in[i];
            float cdf = 0.5f * (1.0f + erff(x * (float)M_SQRT1_2));
            float pdf = inv_sqrt_2pi * expf(-0.5f * x * x);
            din[i] += dout[i] * (cdf + x * pdf);
        }
        break;
    }
    case MC_ACT_SILU:
        #pragma omp parallel for schedule(static) if (n > PAR_THRESHOLD)
        for (int64_t i = 0; i < n; i++) {
            float s = sigmoidf(in[i]);
            din[i] += dout[i] * s * (1.0f + in[i] * (1.0f - s));
        }
        break;
    case MC_ACT_SIGMOID:
        #pragma omp parallel for simd schedule(static) if (n > PAR_THRESHOLD)
        for (int64_t i = 0; i < n; i++) din[i] += dout[i] * out[i] * (1.0f - out[i]);
        break;
    case MC_ACT_TANH:
        #pragma omp parallel for simd schedule(static) if (n > PAR_THRESHOLD)
        for (int64_t i = 0; i < n; i++) din[i] += dout[i] * (1.0f - out[i] * out[i]);
        break;
    }
}
