/* dropout.c: inverted dropout. The mask is drawn from the generator passed in, one uniform number
 * per element in index order on the calling thread, so it depends only on the generator's state,
 * never on the number of threads; applying it is parallel. */
#include "moecore/nn.h"

void mc_dropout_forward(float *out, uint8_t *mask, const float *in, int64_t n, float p, mc_rng *rng) {
    for (int64_t i = 0; i < n; i++) mask[i] = mc_rng_uniform(rng) >= p; /* kept with probability 1 - p */
    const float scale = 1.0f / (1.0f - p);
    #pragma omp parallel for simd schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) out[i] = mask[i] ? in[i] * scale : 0.0f;
}

void mc_dropout_backward(float *din, const float *dout, const uint8_t *mask, int64_t n, float p) {
    if (!din) return;
    const float scale = 1.0f / (1.0f - p);
    #pragma omp parallel for simd schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) din[i] += mask[i] ? dout[i] * scale : 0.0f;
}
