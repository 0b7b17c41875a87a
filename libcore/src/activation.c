/* activation.c: elementwise activations and their derivatives. The backward pass either adds into
 * the input gradient or overwrites it (for a network whose input gradient has no other writer,
 * which spares zeroing it and reading it back). */
#include <math.h>
#include <omp.h>
#include <stdint.h>
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

/* GELU without libm calls, so that its loops vectorise (about ten times faster than erff/expf
 * per element on AVX-512): exp(x) for x <= 0 as 2^n 2^f, n = round(x log2 e) built in the exponent
 * bits and 2^f, |f| <= 0.5, by a degree-6 Taylor polynomial (relative error below 2e-7); erf by
 * Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7). GELU and its derivative then differ
 * from the libm forms by less than 5e-7. */
static inline float exp_neg(float x) {
    /* x <= 0 (every caller's argument is minus a square), so its bits grow with its magnitude and an
     * unsigned minimum clamps it at -87 (e^-87 is about 2^-125.5, the smallest normal floats), where a
     * floating-point compare and select would keep the loops from vectorising for AVX2 */
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    u = u < 0xc2ae0000u ? u : 0xc2ae0000u; /* -87.0f */
    memcpy(&x, &u, sizeof x);
    float t = x * 1.44269504f;
    float n = (t + 12582912.0f) - 12582912.0f; /* round to nearest by the 1.5 * 2^23 trick */
    float f = (t - n) * 0.69314718f;
    float p = 1.0f + f * (1.0f + f * (0.5f + f * (1.0f / 6 + f * (1.0f / 24 + f * (1.0f / 120 + f * (1.0f / 720))))));
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline float erf_fast(float x) {
    float a = x < 0 ? -x : x, t = 1.0f / (1.0f + 0.3275911f * a);
    float y = 1.0f - t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f)))) *
                         exp_neg(-a * a);
    return x < 0 ? -y : y;
}

/* The loops, compiled for AVX-512, AVX2 and the baseline; the loader picks one per machine. */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void gelu_forward_span(float *out, const float *in,
                                                                                       int64_t n) {
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) out[i] = 0.5f * in[i] * (1.0f + erf_fast(in[i] * (float)M_SQRT1_2));
}

static inline float gelu_grad(float x, float dy) {
    const float inv_sqrt_2pi = 0.3989422804014327f;
    float cdf = 0.5f * (1.0f + erf_fast(x * (float)M_SQRT1_2)), pdf = inv_sqrt_2pi * exp_neg(-0.5f * x * x);
    return dy * (cdf + x * pdf);
}

/* din (+)= dout * gelu'(in): added when acc, else written. */
__attribute__((target_clones("avx512f", "avx2", "default"))) static void gelu_backward_span(float *din, const float *dout,
                                                                                        const float *in, int64_t n,
                                                                                        int acc) {
    if (acc) {
        #pragma omp simd
        for (int64_t i = 0; i < n; i++) din[i] += gelu_grad(in[i], dout[i]);
    } else {
        #pragma omp simd
        for (int64_t i = 0; i < n; i++) din[i] = gelu_grad(in[i], dout[i]);
    }
}

/* Runs span(lo, hi) over [0, n) split among the OpenMP threads. */
#define PARALLEL_SPANS(n, call)                                                     \
    _Pragma("omp parallel if ((n) > 32768)") {                                      \
        int64_t nt_ = omp_get_num_threads(), id_ = omp_get_thread_num();            \
        int64_t lo = (n) * id_ / nt_, len = (n) * (id_ + 1) / nt_ - lo;             \
        call;                                                                       \
    }

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
        PARALLEL_SPANS(n, gelu_forward_span(out + lo, in + lo, len));
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

/* The derivative terms of the backward loops; their arguments are loaded unconditionally, so
 * that the selects vectorise. */
static inline float relu_grad(float x, float dy) { return x > 0.0f ? dy : 0.0f; }
static inline float silu_grad(float x, float dy) {
    float s = sigmoidf(x);
    return dy * s * (1.0f + x * (1.0f - s));
}

/* din[i] += term (acc) or din[i] = term for i in [0, n), as one OpenMP simd loop each. */
#define BACKWARD_LOOP(term)                                                                        \
    do {                                                                                           \
        if (acc) {                                                                                 \
            _Pragma("omp parallel for simd schedule(static) if (n > PAR_THRESHOLD)")               \
            for (int64_t i = 0; i < n; i++) din[i] += (term);                                      \
        } else {                                                                                   \
            _Pragma("omp parallel for simd schedule(static) if (n > PAR_THRESHOLD)")               \
            for (int64_t i = 0; i < n; i++) din[i] = (term);                                       \
        }                                                                                          \
    } while (0)

/* din (n) (+)= dout * act'(in): added when acc, else written. */
static void act_backward(float *din, const float *dout, const float *in, const float *out, int64_t n, mc_act a, int acc) {
    if (!din) return;
    switch (a) {
    case MC_ACT_NONE: BACKWARD_LOOP(dout[i]); break;
    case MC_ACT_RELU: BACKWARD_LOOP(relu_grad(in[i], dout[i])); break;
    case MC_ACT_GELU: PARALLEL_SPANS(n, gelu_backward_span(din + lo, dout + lo, in + lo, len, acc)); break;
    case MC_ACT_SILU: BACKWARD_LOOP(silu_grad(in[i], dout[i])); break;
    case MC_ACT_SIGMOID: BACKWARD_LOOP(dout[i] * out[i] * (1.0f - out[i])); break;
    case MC_ACT_TANH: BACKWARD_LOOP(dout[i] * (1.0f - out[i] * out[i])); break;
    }
}

void mc_act_backward(float *din, const float *dout, const float *in, const float *out, int64_t n, mc_act a) {
    act_backward(din, dout, in, out, n, a, 1);
}

void mc_act_backward_set(float *din, const float *dout, const float *in, const float *out, int64_t n, mc_act a) {
    act_backward(din, dout, in, out, n, a, 0);
}
