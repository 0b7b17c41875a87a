/* attention_se.c: squeeze-excitation channel attention. Each channel of (N, C, S) is scaled by a
 * gate computed from the channel means through a bottleneck of R units:
 * gate = sigmoid(w2 relu(w1 mean + b1) + b2). Built from the global average pooling, linear and
 * activation layers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "moecore/nn.h"

void mc_se_forward(float *out, float *pooled, float *hidden, float *gate, const float *in, const float *w1,
                   const float *b1, const float *w2, const float *b2, int N, int C, int R, int64_t S) {
    int64_t planes = (int64_t)N * C;
    mc_global_avgpool_forward(pooled, in, N, C, S);
    mc_linear_forward(hidden, pooled, w1, b1, N, C, R);
    mc_act_forward(hidden, hidden, (int64_t)N * R, MC_ACT_RELU);
    mc_linear_forward(gate, hidden, w2, b2, N, R, C);
    mc_act_forward(gate, gate, planes, MC_ACT_SIGMOID);
    #pragma omp parallel for schedule(static) if (planes * S > 32768)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *x = in + pl * S;
        float *y = out + pl * S;
        float g = gate[pl];
        for (int64_t i = 0; i < S; i++) y[i] = x[i] * g;
    }
}

void mc_se_backward(float *din, float *dw1, float *db1, float *dw2, float *db2, const float *dout,
                    const float *in, const float *w1, const float *w2, const float *pooled, const float *hidden,
                    const float *gate, int N, int C, int R, int64_t S) {
    if (!din && !dw1 && !db1 && !dw2 && !db2) return;
    int64_t planes = (int64_t)N * C, NR = (int64_t)N * R;
    /* scratch: dgate (N, C), later reused for dpooled; dz (N, C) before the sigmoid; dhidden and
     * dh (N, R) after and before the ReLU */
    float *scratch = calloc((size_t)(2 * planes + 2 * NR), sizeof(float));
    if (!scratch) return;
    float *dgate = scratch, *dz = dgate + planes, *dhidden = dz + planes, *dh = dhidden + NR;
    /* out = in * gate: dgate = sum over S of dout * in, din += dout * gate */
    #pragma omp parallel for schedule(static) if (planes * S > 32768)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *x = in + pl * S, *dy = dout + pl * S;
        double s = 0.0;
        for (int64_t i = 0; i < S; i++) s += (double)dy[i] * x[i];
        dgate[pl] = (float)s;
        if (din) {
            float *dx = din + pl * S;
            float g = gate[pl];
            for (int64_t i = 0; i < S; i++) dx[i] += dy[i] * g;
        }
    }
    mc_act_backward(dz, dgate, NULL, gate, planes, MC_ACT_SIGMOID);
    mc_linear_backward(dhidden, dw2, db2, dz, hidden, w2, N, R, C);
    /* hidden = relu(pre) is positive exactly where pre is, so it stands in for pre */
    mc_act_backward(dh, dhidden, hidden, hidden, NR, MC_ACT_RELU);
    float *dpooled = dgate;
    memset(dpooled, 0, (size_t)planes * sizeof *dpooled);
    mc_linear_backward(din ? dpooled : NULL, dw1, db1, dh, pooled, w1, N, C, R);
    if (din) mc_global_avgpool_backward(din, dpooled, N, C, S);
    free(scratch);
}
