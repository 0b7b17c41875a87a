/* conv_ref.c: reference 2D/3D convolution by direct loops over every output, input and kernel
 * element, summing in double. A 2D convolution runs as a 3D one of depth 1. */
#include <stdint.h>

#include "moecore/nn_ref.h"

/* The sizes of a convolution with the spatial axes as (depth, height, width). */
typedef struct geom {
    int64_t N, IC, OC, ICg, OCg;   /* ICg, OCg: channels per group */
    int64_t in[3], k[3], stride[3], pad[3], dil[3], out[3];
    int64_t in_sp, out_sp, k_sp;   /* elements in one plane of each */
} geom;

static geom geom_of(const mc_conv_params *p) {
    geom g;
    g.N = p->N;
    g.IC = p->IC;
    g.OC = p->OC;
    g.ICg = p->IC / p->groups;
    g.OCg = p->OC / p->groups;
    int lead = 3 - p->dims; /* leading axes of size 1 */
    g.in_sp = g.out_sp = g.k_sp = 1;
    for (int d = 0; d < 3; d++) {
        int j = d - lead;
        g.in[d] = j < 0 ? 1 : p->in[j];
        g.k[d] = j < 0 ? 1 : p->k[j];
        g.stride[d] = j < 0 ? 1 : p->stride[j];
        g.pad[d] = j < 0 ? 0 : p->pad[j];
        g.dil[d] = j < 0 ? 1 : p->dil[j];
        g.out[d] = j < 0 ? 1 : p->out[j];
        g.in_sp *= g.in[d];
        g.out_sp *= g.out[d];
        g.k_sp *= g.k[d];
    }
    return g;
}

/* The flat input index that output element o reads through kernel element kk, or -1 where that
 * falls in the padding. */
static int64_t tap_in(const geom *g, int64_t o, int64_t kk) {
    int64_t oc[3] = {o / (g->out[1] * g->out[2]), o / g->out[2] % g->out[1], o % g->out[2]};
    int64_t kc[3] = {kk / (g->k[1] * g->k[2]), kk / g->k[2] % g->k[1], kk % g->k[2]};
    int64_t idx = 0;
    for (int d = 0; d < 3; d++) {
        int64_t i = oc[d] * g->stride[d] - g->pad[d] + kc[d] * g->dil[d];
        if (i < 0 || i >= g->in[d]) return -1;
        idx = idx * g->in[d] + i;
    }
    return idx;
}

/* The flat output index that reads input element i through kernel element kk, or -1 where no
 * output does (the inverse of tap_in). */
static int64_t tap_out(const geom *g, int64_t i, int64_t kk) {
    int64_t ic[3] = {i / (g->in[1] * g->in[2]), i / g->in[2] % g->in[1], i % g->in[2]};
    int64_t kc[3] = {kk / (g->k[1] * g->k[2]), kk / g->k[2] % g->k[1], kk % g->k[2]};
    int64_t idx = 0;
    for (int d = 0; d < 3; d++) {
        int64_t t = ic[d] + g->pad[d] - kc[d] * g->dil[d];
        if (t < 0 || t % g->stride[d]) return -1;
        t /= g->stride[d];
        if (t >= g->out[d]) return -1;
        idx = idx * g->out[d] + t;
    }
    return idx;
}

void mc_conv_ref_forward(float *out, const float *in, const float *w, const float *b, const mc_conv_params *p) {
    geom g = geom_of(p);
    #pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < g.N; n++) {
        for (int64_t oc = 0; oc < g.OC; oc++) {
            int64_t ic0 = oc / g.OCg * g.ICg; /* first input channel of the group */
            for (int64_t o = 0; o < g.out_sp; o++) {
                double s = b ? b[oc] : 0.0;
                for (int64_t c = 0; c < g.ICg; c++) {
                    const float *x = in + (n * g.IC + ic0 + c) * g.in_sp;
                    const float *wk = w + (oc * g.ICg + c) * g.k_sp;
                    for (int64_t kk = 0; kk < g.k_sp; kk++) {
                        int64_t i = tap_in(&g, o, kk);
                        if (i >= 0) s += (double)x[i] * wk[kk];
                    }
                }
                out[(n * g.OC + oc) * g.out_sp + o] = (float)s;
            }
        }
    }
}

void mc_conv_ref_backward(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                          const mc_conv_params *p) {
    geom g = geom_of(p);
    if (din) {
        /* din[n, ic, i] += sum over the group's oc and kernel taps of dout * w */
        #pragma omp parallel for collapse(2) schedule(static)
        for (int64_t n = 0; n < g.N; n++) {
            for (int64_t ic = 0; ic < g.IC; ic++) {
                int64_t oc0 = ic / g.ICg * g.OCg, c = ic % g.ICg;
                for (int64_t i = 0; i < g.in_sp; i++) {
                    double s = 0.0;
                    for (int64_t oc = oc0; oc < oc0 + g.OCg; oc++) {
                        const float *dy = dout + (n * g.OC + oc) * g.out_sp;
                        const float *wk = w + (oc * g.ICg + c) * g.k_sp;
                        for (int64_t kk = 0; kk < g.k_sp; kk++) {
                            int64_t o = tap_out(&g, i, kk);
                            if (o >= 0) s += (double)dy[o] * wk[kk];
                        }
                    }
                    din[(n * g.IC + ic) * g.in_sp + i] += (float)s;
                }
            }
        }
    }
    if (dw) {
        /* dw[oc, c, kk] += sum over batch and outputs of dout * the input the tap reads */
        #pragma omp parallel for collapse(2) schedule(static)
        for (int64_t oc = 0; oc < g.OC; oc++) {
            for (int64_t c = 0; c < g.ICg; c++) {
                int64_t ic = oc / g.OCg * g.ICg + c;
                for (int64_t kk = 0; kk < g.k_sp; kk++) {
                    double s = 0.0;
                    for (int64_t n = 0; n < g.N; n++) {
                        const float *x = in + (n * g.IC + ic) * g.in_sp;
                        const float *dy = dout + (n * g.OC + oc) * g.out_sp;
                        for (int64_t o = 0; o < g.out_sp; o++) {
                            int64_t i = tap_in(&g, o, kk);
                            if (i >= 0) s += (double)dy[o] * x[i];
                        }
                    }
                    dw[(oc * g.ICg + c) * g.k_sp + kk] += (float)s;
                }
            }
        }
    }
    if (db) {
        #pragma omp parallel for schedule(static)
        for (int64_t oc = 0; oc < g.OC; oc++) {
            double s = 0.0;
            for (int64_t n = 0; n < g.N; n++)
                for (int64_t o = 0; o < g.out_sp; o++) s += dout[(n * g.OC + oc) * g.out_sp + o];
            db[oc] += (float)s;
        }
    }
}
