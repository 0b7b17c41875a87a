/* nn_ref.h: plain-loop reference versions of the layers that nn.h runs through oneDNN. They share
 * nn.h's contract (forward writes, backward accumulates into any non-NULL gradient) and signatures,
 * and are written for clarity rather than speed: the tests check the fast paths against them, and
 * conv.c falls back to them for a shape that oneDNN cannot build a primitive for. */
#ifndef MOECORE_NN_REF_H
#define MOECORE_NN_REF_H

#include "moecore/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* As mc_conv_forward: out (N, OC, out...) = conv(in (N, IC, in...), w (OC, IC/groups, k...)) + b (OC);
 * b may be NULL. Sums in double. */
void mc_conv_ref_forward(float *out, const float *in, const float *w, const float *b, const mc_conv_params *p);
/* As mc_conv_backward: din += dL/din, dw += dL/dw, db += dL/db; any of the three may be NULL. */
void mc_conv_ref_backward(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                          const mc_conv_params *p);

#ifdef __cplusplus
}
#endif
#endif
