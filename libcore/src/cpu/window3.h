/* window3.h: the spatial geometry of a sliding-window operation (convolution, pooling) on 2D or 3D
 * data, as 3D: a 2D operation gets a leading depth axis of size 1, so one loop nest serves both. */
#ifndef MOECORE_CPU_WINDOW3_H
#define MOECORE_CPU_WINDOW3_H

#include <stdint.h>

typedef struct window3 {
    int64_t in[3], k[3], stride[3], pad[3], dil[3], out[3];
    int64_t in_sp, out_sp, k_sp; /* elements in one plane of the input, the output, the kernel */
} window3;

/* dims is 2 or 3; the arrays hold dims sizes each; dil may be NULL (no dilation). */
static inline window3 window3_of(int dims, const int *in, const int *k, const int *stride, const int *pad,
                                 const int *dil, const int *out) {
    window3 g;
    int lead = 3 - dims; /* leading axes of size 1 */
    g.in_sp = g.out_sp = g.k_sp = 1;
    for (int d = 0; d < 3; d++) {
        int j = d - lead;
        g.in[d] = j < 0 ? 1 : in[j];
        g.k[d] = j < 0 ? 1 : k[j];
        g.stride[d] = j < 0 ? 1 : stride[j];
        g.pad[d] = j < 0 ? 0 : pad[j];
        g.dil[d] = j < 0 || !dil ? 1 : dil[j];
        g.out[d] = j < 0 ? 1 : out[j];
        g.in_sp *= g.in[d];
        g.out_sp *= g.out[d];
        g.k_sp *= g.k[d];
    }
    return g;
}

#endif
