/* attention_spatial_desc.h: the channel descriptor of spatial attention at one position, the mean
 * and the max over the channels, shared by the CPU layer (attention_spatial.c) and the CUDA kernel
 * (cuda/attention_spatial.cu). */
#ifndef MOECORE_ATTENTION_SPATIAL_DESC_H
#define MOECORE_ATTENTION_SPATIAL_DESC_H

#include <math.h>
#include <stdint.h>

#include "host_device.h"

/* *mean and *top (the max) over the C channels of x, S apart (NaN wins the max, as in PyTorch);
 * returns the channel of the max. */
static inline MC_HOST_DEVICE int channel_mean_max(float *mean, float *top, const float *x, int C, int64_t S) {
    double sum = 0.0;
    int best = 0;
    for (int c = 0; c < C; c++) {
        float v = x[(int64_t)c * S];
        sum += v;
        if (v > x[(int64_t)best * S] || isnan(v)) best = c;
    }
    *mean = (float)(sum / C);
    *top = x[(int64_t)best * S];
    return best;
}

#endif
