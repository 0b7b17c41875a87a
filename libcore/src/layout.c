/* layout.c: the blocked activation layout of convolutional stacks (oneDNN's nChw16c / nCdhw16c):
 * its padded channel count and conversions to and from the plain layout, as OpenMP loops. The
 * networks (model_layout.c) convert only where a run of blocked layers meets the rest (the
 * convolutions do it there through oneDNN's reorders); these loops serve the reference fallback of
 * conv.c and the tests. */
#include <stdint.h>
#include <string.h>

#include "moecore/nn.h"

#define B MC_LAYOUT_BLOCK

int64_t mc_layout_channels(mc_layout l, int C) {
    return l == MC_LAYOUT_BLOCKED16 ? ((int64_t)C + B - 1) / B * B : C;
}

void mc_layout_to_blocked(float *dst, const float *src, int N, int C, int64_t S) {
    int64_t Cb = (C + B - 1) / B;
    #pragma omp parallel for collapse(2) schedule(static) if ((int64_t)N * Cb * S > 32768)
    for (int n = 0; n < N; n++)
        for (int64_t cb = 0; cb < Cb; cb++) {
            float *d = dst + ((int64_t)n * Cb + cb) * S * B;
            int lanes = C - (int)cb * B < B ? C - (int)cb * B : B;
            if (lanes < B) memset(d, 0, (size_t)(S * B) * sizeof *d);
            for (int j = 0; j < lanes; j++) {
                const float *s = src + ((int64_t)n * C + cb * B + j) * S;
                for (int64_t i = 0; i < S; i++) d[i * B + j] = s[i];
            }
        }
}

void mc_layout_to_plain(float *dst, const float *src, int N, int C, int64_t S) {
    int64_t Cb = (C + B - 1) / B;
    #pragma omp parallel for collapse(2) schedule(static) if ((int64_t)N * Cb * S > 32768)
    for (int n = 0; n < N; n++)
        for (int64_t cb = 0; cb < Cb; cb++) {
            const float *s = src + ((int64_t)n * Cb + cb) * S * B;
            int lanes = C - (int)cb * B < B ? C - (int)cb * B : B;
            for (int j = 0; j < lanes; j++) {
                float *d = dst + ((int64_t)n * C + cb * B + j) * S;
                for (int64_t i = 0; i < S; i++) d[i] = s[i * B + j];
            }
        }
}
