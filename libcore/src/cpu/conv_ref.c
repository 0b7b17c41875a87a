/* conv_ref.c: reference 2D/3D convolution by direct loops over every output, input and kernel
 * element, summing in double. A 2D convolution runs as a 3D one of depth 1. */
#include <stdint.h>

#include "moecore/nn_ref.h"
#include "window3.h"

/* The sizes of a convolution with the spatial axes as (depth, height, width). */
typedef struct geom {
    int64_t N, IC, OC, ICg, OCg;   /* ICg, OCg: channels per group */
    window3 w;
} geom;

static geom geom_of(const mc_conv_params *p) {
    geom g;
    g.N = p->N;
    g.IC = p->IC;
    g.OC = p->OC;
    g.ICg = p->IC / p->groups;
    g.OCg = p->OC / p->groups;
    g.w = window3_of(p->dims, p->in, p->k, p->stride, p->pad, p->dil, p->out);
    return g;
}

/* The flat input index that output element o reads through kernel element kk, or -1 where that
 * falls in the padding. */
static int64_t tap_in(const geom *g, int64_t o, int64_t kk) {
    int64_t oc[3] = {o / (g->w.out[1] * g->w.out[2]), o / g->w.out[2] % g->w.out[1], o % g->w.out[2]};
    int64_t kc[3] = {kk / (g->w.k[1] * g->w.k[2]), kk / g->w.k[2] % g->w.k[1], kk % g->w.k[2]};
    int64_t idx = 0;
    for (int d = 0; d < 3; d++) {
        int64_t i = oc[d] * g->w.stride[d] - g->w.pad[d] + kc[d] * g->w.dil[d];
        if (i < 0 || i >= g->w.in[d]) return -1;
        idx = idx * g->w.in[d] + i;
    }
    return idx;
}

/* The flat output index that reads input element i through kernel element kk, or -1 where no
 * output does (the inverse of tap_in). */
static int64_t tap_out(const geom *g, int64_t i, int64_t kk) {
    int64_t ic[3] = {i / (g->w.in[1] * g->w.in[2]), i / g->w.in[2] % g->w.in[1], i % g->w.in[2]};
    int64_t kc[3] = {kk / (g->w.k[1] * g->w.k[2]), kk / g->w.k[2] % g->w.k[1], kk % g->w.k[2]};
    int64_t idx = 0;
    for (int d = 0; d < 3; d++) {
        int64_t t = ic[d] + g->w.pad[d] - kc[d] * g->w.dil[d];
        if (t < 0 || t % g->w.stride[d]) return -1;
        t /= g->w.stride[d];
        if (t >= g->w.out[d]) return -1;
        idx = idx * g->w.out[d] + t;
    }
    return idx;
}

void mc_conv_ref_forward(float *out, const float *in, const float *w, const float *b, const mc_conv_params *p) {
    geom g = geom_of(p);
    #pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < g.N; n++) {
        for (int64_t oc = 0; oc < g.OC; oc++) {
            int64_t ic0 = oc / g.OCg * g.ICg; /* first input channel of the group */
            for (int64_t o = 0; o < g.w.out_sp; o++) {
                double s = b ? b[oc] : 0.0;
                for (int64_t c = 0; c < g.ICg; c++) {
                    const float *x = in + (n * g.IC + ic0 + c) * g.w.in_sp;
                    const float *wk = w + (oc * g.ICg + c) * g.w.k_sp;
                    for (int64_t kk = 0; kk < g.w.k_sp; kk++) {
                        int64_t i = tap_in(&g, o, kk);
                        if (i >= 0) s += (double)x[i] * wk[kk];
                    }
                }
                out[(n * g.OC + oc) * g.w.out_sp + o] = (float)s;
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
                for (int64_t i = 0; i < g.w.in_sp; i++) {
                    double s = 0.0;
                    for (int64_t oc = oc0; oc < oc0 + g.OCg; oc++) {
                        const float *dy = dout + (n * g.OC + oc) * g.w.out_sp;
                        const float *wk = w + (oc * g.ICg + c) * g.w.k_sp;
                        for (int64_t kk = 0; kk < g.w.k_sp; kk++) {
                            int64_t o = tap_out(&g, i, kk);
                            if (o >= 0) s += (double)dy[o] * wk[kk];
                        }
                    }
                    din[(n * g.IC + ic) * g.w.in_sp + i] += (float)s;
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
                for (int64_t kk = 0; kk < g.w.k_sp; kk++) {
                    double s = 0.0;
                    for (int64_t n = 0; n < g.N; n++) {
                        const float *x = in + (n * g.IC + ic) * g.w.in_sp;
                        const float *dy = dout + (n * g.OC + oc) * g.w.out_sp;
                        for (int64_t o = 0; o < g.w.out_sp; o++) {
                            int64_t i = tap_in(&g, o, kk);
                            if (i >= 0) s += (double)dy[o] * x[i];
                        }
                    }
                    dw[(oc * g.ICg + c) * g.w.k_sp + kk] += (float)s;
                }
            }
        }
    }
    if (db) {
        #pragma omp parallel for schedule(static)
        for (int64_t oc = 0; oc < g.OC; oc++) {
            double s = 0.0;
            for (int64_t n = 0; n < g.N; n++)
                for (int64_t o = 0; o < g.w.out_sp; o++) s += dout[(n * g.OC + oc) * g.w.out_sp + o];
            db[oc] += (float)s;
        }
    }
}
