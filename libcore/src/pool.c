/* pool.c: max and average pooling over 2D and 3D windows, and global average pooling, as OpenMP
 * loops over the channel planes (the work is memory bound). A 2D pooling runs as a 3D one of
 * depth 1. Conventions are PyTorch's: padding never wins a max, and an average divides by the
 * number of input elements inside the window (count_include_pad=False). In the blocked layout a
 * plane holds a block of 16 channels, each position its 16 lanes, and the loops run over the lanes
 * as vectors. */
#include <math.h>
#include <stdint.h>

#include "cpu/window3.h"
#include "moecore/nn.h"

#define PAR_THRESHOLD 32768

mc_status mc_pool_params_init(mc_pool_params *p) {
    if (!p || (p->dims != 2 && p->dims != 3) || (p->kind != MC_POOL_MAX && p->kind != MC_POOL_AVG) || p->N < 1 ||
        p->C < 1 || (p->layout != MC_LAYOUT_PLAIN && p->layout != MC_LAYOUT_BLOCKED16))
        return MC_ERR_ARG;
    int64_t plane = 1;
    for (int d = 0; d < p->dims; d++) {
        /* pad <= k / 2, as PyTorch requires, puts at least one input element in every window */
        if (p->in[d] < 1 || p->k[d] < 1 || p->stride[d] < 1 || p->pad[d] < 0 || p->pad[d] > p->k[d] / 2 ||
            (int64_t)p->in[d] + 2 * (int64_t)p->pad[d] < p->k[d])
            return MC_ERR_ARG;
        p->out[d] = (int)(((int64_t)p->in[d] + 2 * (int64_t)p->pad[d] - p->k[d]) / p->stride[d] + 1);
        plane *= p->in[d];
        if (plane > INT32_MAX) return MC_ERR_ARG; /* argmax holds an int32 index within a plane */
    }
    if ((int64_t)p->N * p->C > INT64_MAX / 8 / plane) return MC_ERR_ARG;
    for (int d = p->dims; d < 3; d++) p->out[d] = 0;
    return MC_OK;
}

/* The sizes of a pooling with the spatial axes as (depth, height, width). */
typedef struct pool_geom {
    int64_t planes; /* N * C plain, N * ceil(C / 16) blocked */
    window3 w;
} pool_geom;

static pool_geom geom_of(const mc_pool_params *p) {
    pool_geom g;
    g.planes = (int64_t)p->N * (p->layout == MC_LAYOUT_BLOCKED16 ? (p->C + MC_LAYOUT_BLOCK - 1) / MC_LAYOUT_BLOCK : p->C);
    g.w = window3_of(p->dims, p->in, p->k, p->stride, p->pad, NULL, p->out);
    return g;
}

/* The window of output element o clipped to the input: lo[d] <= i < hi[d]; returns its size. */
static int64_t window(const pool_geom *g, int64_t o, int64_t lo[3], int64_t hi[3]) {
    int64_t oc[3] = {o / (g->w.out[1] * g->w.out[2]), o / g->w.out[2] % g->w.out[1], o % g->w.out[2]};
    int64_t count = 1;
    for (int d = 0; d < 3; d++) {
        int64_t start = oc[d] * g->w.stride[d] - g->w.pad[d];
        lo[d] = start > 0 ? start : 0;
        hi[d] = start + g->w.k[d] < g->w.in[d] ? start + g->w.k[d] : g->w.in[d];
        count *= hi[d] - lo[d];
    }
    return count;
}

#define FOR_WINDOW(g, lo, hi, i)                                              \
    for (int64_t i##d = lo[0]; i##d < hi[0]; i##d++)                          \
        for (int64_t i##h = lo[1]; i##h < hi[1]; i##h++)                      \
            for (int64_t i = (i##d * (g).w.in[1] + i##h) * (g).w.in[2] + lo[2],   \
                         i##end = i - lo[2] + hi[2];                          \
                 i < i##end; i++)

#define B MC_LAYOUT_BLOCK

static void pool_forward_blocked(float *out, int32_t *argmax, const float *in, const mc_pool_params *p) {
    pool_geom g = geom_of(p);
    #pragma omp parallel for schedule(static) if (g.planes * g.w.out_sp * B > PAR_THRESHOLD)
    for (int64_t pl = 0; pl < g.planes; pl++) {
        const float *x = in + pl * g.w.in_sp * B;
        for (int64_t o = 0; o < g.w.out_sp; o++) {
            int64_t lo[3], hi[3];
            int64_t count = window(&g, o, lo, hi);
            float *y = out + (pl * g.w.out_sp + o) * B;
            if (p->kind == MC_POOL_MAX) {
                float best[B];
                int32_t at[B];
                int first = 1;
                FOR_WINDOW(g, lo, hi, i) {
                    const float *v = x + i * B;
                    #pragma omp simd
                    for (int j = 0; j < B; j++) {
                        if (first || v[j] > best[j] || isnan(v[j])) {
                            best[j] = v[j];
                            at[j] = (int32_t)i;
                        }
                    }
                    first = 0;
                }
                for (int j = 0; j < B; j++) y[j] = best[j];
                if (argmax)
                    for (int j = 0; j < B; j++) argmax[(pl * g.w.out_sp + o) * B + j] = at[j];
            } else {
                float s[B] = {0};
                FOR_WINDOW(g, lo, hi, i) {
                    #pragma omp simd
                    for (int j = 0; j < B; j++) s[j] += x[i * B + j];
                }
                for (int j = 0; j < B; j++) y[j] = s[j] / (float)count;
            }
        }
    }
}

static void pool_backward_blocked(float *din, const float *dout, const int32_t *argmax, const mc_pool_params *p) {
    pool_geom g = geom_of(p);
    #pragma omp parallel for schedule(static) if (g.planes * g.w.out_sp * B > PAR_THRESHOLD)
    for (int64_t pl = 0; pl < g.planes; pl++) {
        float *dx = din + pl * g.w.in_sp * B;
        for (int64_t o = 0; o < g.w.out_sp; o++) {
            const float *dy = dout + (pl * g.w.out_sp + o) * B;
            if (p->kind == MC_POOL_MAX) {
                const int32_t *am = argmax + (pl * g.w.out_sp + o) * B;
                for (int j = 0; j < B; j++) dx[(int64_t)am[j] * B + j] += dy[j];
            } else {
                int64_t lo[3], hi[3];
                float count = (float)window(&g, o, lo, hi), v[B];
                for (int j = 0; j < B; j++) v[j] = dy[j] / count;
                FOR_WINDOW(g, lo, hi, i) {
                    #pragma omp simd
                    for (int j = 0; j < B; j++) dx[i * B + j] += v[j];
                }
            }
        }
    }
}

void mc_pool_forward(float *out, int32_t *argmax, const float *in, const mc_pool_params *p) {
    if (p->layout == MC_LAYOUT_BLOCKED16) {
        pool_forward_blocked(out, argmax, in, p);
        return;
    }
    pool_geom g = geom_of(p);
    #pragma omp parallel for schedule(static) if (g.planes * g.w.out_sp > PAR_THRESHOLD)
    for (int64_t pl = 0; pl < g.planes; pl++) {
        const float *x = in + pl * g.w.in_sp;
        float *y = out + pl * g.w.out_sp;
        for (int64_t o = 0; o < g.w.out_sp; o++) {
            int64_t lo[3], hi[3];
            int64_t count = window(&g, o, lo, hi);
            if (p->kind == MC_POOL_MAX) {
                int64_t best = -1;
                FOR_WINDOW(g, lo, hi, i) if (best < 0 || x[i] > x[best] || isnan(x[i])) best = i;
                y[o] = x[best];
                if (argmax) argmax[pl * g.w.out_sp + o] = (int32_t)best;
            } else {
                float s = 0.0f;
                FOR_WINDOW(g, lo, hi, i) s += x[i];
                y[o] = s / (float)count;
            }
        }
    }
}

void mc_pool_backward(float *din, const float *dout, const int32_t *argmax, const mc_pool_params *p) {
    if (p->layout == MC_LAYOUT_BLOCKED16) {
        pool_backward_blocked(din, dout, argmax, p);
        return;
    }
    pool_geom g = geom_of(p);
    #pragma omp parallel for schedule(static) if (g.planes * g.w.out_sp > PAR_THRESHOLD)
    for (int64_t pl = 0; pl < g.planes; pl++) {
        float *dx = din + pl * g.w.in_sp;
        const float *dy = dout + pl * g.w.out_sp;
        if (p->kind == MC_POOL_MAX) {
            const int32_t *am = argmax + pl * g.w.out_sp;
            for (int64_t o = 0; o < g.w.out_sp; o++) dx[am[o]] += dy[o];
        } else {
            for (int64_t o = 0; o < g.w.out_sp; o++) {
                int64_t lo[3], hi[3];
                float v = dy[o] / (float)window(&g, o, lo, hi);
                FOR_WINDOW(g, lo, hi, i) dx[i] += v;
            }
        }
    }
}

void mc_global_avgpool_forward(float *out, const float *in, int N, int C, int64_t S) {
    int64_t planes = (int64_t)N * C;
    #pragma omp parallel for schedule(static) if (planes * S > PAR_THRESHOLD)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *x = in + pl * S;
        double s = 0.0;
        for (int64_t i = 0; i < S; i++) s += x[i];
        out[pl] = (float)(s / (double)S);
    }
}

void mc_global_avgpool_backward(float *din, const float *dout, int N, int C, int64_t S) {
    int64_t planes = (int64_t)N * C;
    #pragma omp parallel for schedule(static) if (planes * S > PAR_THRESHOLD)
    for (int64_t pl = 0; pl < planes; pl++) {
        float *dx = din + pl * S;
        float v = (float)(dout[pl] / (double)S);
        for (int64_t i = 0; i < S; i++) dx[i] += v;
    }
}
