/* attention_spatial.c: CBAM spatial attention. Every position of (N, C, spatial...) is scaled by a
 * gate computed from the mean and the max over the channels there: a 2 -> 1 channel convolution
 * with "same" padding (kernel k odd, padding k / 2) and a sigmoid. 2D and 3D. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "attention_spatial_desc.h"
#include "moecore/nn.h"

#define PAR_THRESHOLD 32768

/* The convolution of the descriptor (N, 2, sp...) into the gate (N, 1, sp...); returns the number of
 * positions S. */
static int64_t gate_conv(mc_conv_params *cp, int N, int dims, const int *sp, int k) {
    *cp = (mc_conv_params){.dims = dims, .N = N, .IC = 2, .OC = 1, .groups = 1};
    int64_t S = 1;
    for (int d = 0; d < dims; d++) {
        cp->in[d] = sp[d];
        cp->k[d] = k;
        cp->stride[d] = 1;
        cp->pad[d] = k / 2;
        cp->dil[d] = 1;
        S *= sp[d];
    }
    (void)mc_conv_params_init(cp);
    return S;
}

void mc_spatial_attention_forward(float *out, float *desc, int32_t *argmax_c, float *gate, const float *in,
                                  const float *w, const float *b, int N, int C, int dims, const int *sp, int k) {
    mc_conv_params cp;
    int64_t S = gate_conv(&cp, N, dims, sp, k);
    /* desc[n, 0] = mean over C, desc[n, 1] = max over C (NaN wins, as in PyTorch) */
    #pragma omp parallel for collapse(2) schedule(static) if ((int64_t)N * C * S > PAR_THRESHOLD)
    for (int n = 0; n < N; n++) {
        for (int64_t s = 0; s < S; s++) {
            float *d = desc + (int64_t)n * 2 * S + s;
            argmax_c[(int64_t)n * S + s] = channel_mean_max(d, d + S, in + (int64_t)n * C * S + s, C, S);
        }
    }
    mc_conv_forward(gate, desc, w, b, &cp);
    mc_act_forward(gate, gate, (int64_t)N * S, MC_ACT_SIGMOID);
    #pragma omp parallel for collapse(2) schedule(static) if ((int64_t)N * C * S > PAR_THRESHOLD)
    for (int n = 0; n < N; n++) {
        for (int c = 0; c < C; c++) {
            const float *x = in + ((int64_t)n * C + c) * S, *g = gate + (int64_t)n * S;
            float *y = out + ((int64_t)n * C + c) * S;
            for (int64_t s = 0; s < S; s++) y[s] = x[s] * g[s];
        }
    }
}

void mc_spatial_attention_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                                   const float *w, const float *desc, const int32_t *argmax_c,
                                   const float *gate, int N, int C, int dims, const int *sp, int k) {
    if (!din && !dw && !db) return;
    mc_conv_params cp;
    int64_t S = gate_conv(&cp, N, dims, sp, k), NS = (int64_t)N * S;
    /* scratch: dgate and dpre (N, S) after and before the sigmoid, ddesc (N, 2, S) */
    float *scratch = calloc((size_t)(din ? 4 * NS : 2 * NS), sizeof(float));
    if (!scratch) return;
    float *dgate = scratch, *dpre = dgate + NS, *ddesc = din ? dpre + NS : NULL;
    /* out = in * gate: dgate = sum over C of dout * in */
    #pragma omp parallel for collapse(2) schedule(static) if ((int64_t)N * C * S > PAR_THRESHOLD)
    for (int n = 0; n < N; n++) {
        for (int64_t s = 0; s < S; s++) {
            const float *x = in + (int64_t)n * C * S + s, *dy = dout + (int64_t)n * C * S + s;
            double sum = 0.0;
            for (int c = 0; c < C; c++) sum += (double)dy[(int64_t)c * S] * x[(int64_t)c * S];
            dgate[(int64_t)n * S + s] = (float)sum;
        }
    }
    mc_act_backward(dpre, dgate, NULL, gate, NS, MC_ACT_SIGMOID);
    mc_conv_backward(ddesc, dw, db, dpre, desc, w, &cp);
    if (din) {
        /* din += dout * gate + ddesc[mean] / C + ddesc[max] at the channel of the max */
        #pragma omp parallel for collapse(2) schedule(static) if ((int64_t)N * C * S > PAR_THRESHOLD)
        for (int n = 0; n < N; n++) {
            for (int c = 0; c < C; c++) {
                const float *dy = dout + ((int64_t)n * C + c) * S, *g = gate + (int64_t)n * S;
                const float *dmean = ddesc + (int64_t)n * 2 * S, *dmax = dmean + S;
                const int32_t *am = argmax_c + (int64_t)n * S;
                float *dx = din + ((int64_t)n * C + c) * S;
                for (int64_t s = 0; s < S; s++) dx[s] += dy[s] * g[s] + dmean[s] / (float)C + (am[s] == c ? dmax[s] : 0.0f);
            }
        }
    }
    free(scratch);
}
