/* moe_gate_grad.h: one token's gradient from its gates back to its router scores, shared by the
 * CPU layer (moe.c) and the CUDA kernel (cuda/moe.cu). */
#ifndef MOECORE_MOE_GATE_GRAD_H
#define MOECORE_MOE_GATE_GRAD_H

#include <stdint.h>

#include "host_device.h"

/* dst (E) += dL/dscores of one token from dg (k) = dL/dgates: through the renormalisation of its
 * top-k scores to sum 1 when norm_topk, else straight through. idx (k): the token's experts;
 * sc (E): its scores. */
static inline MC_HOST_DEVICE void moe_gate_grad(float *dst, const float *dg, const float *sc, const int32_t *idx, int k,
                                                int norm_topk) {
    if (norm_topk) {
        double sum = 0.0, dot = 0.0;
        for (int j = 0; j < k; j++) {
            sum += sc[idx[j]];
            dot += (double)dg[j] * sc[idx[j]];
        }
        if (sum <= 0) sum = 1e-20;
        for (int j = 0; j < k; j++) dst[idx[j]] += (float)(dg[j] / sum - dot / (sum * sum));
    } else {
        for (int j = 0; j < k; j++) dst[idx[j]] += dg[j];
    }
}

#endif
