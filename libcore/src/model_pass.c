/* model_pass.c: the forward and backward passes of a network: one walk over its layers each way,
 * every layer reading the previous one's output in the workspace (model_layout.c); and the MoE
 * layers' statistics of the last forward pass. */
#include <stdint.h>
#include <string.h>

#include "model_layers.h"
#include "moecore/threads.h"

static int spatial_size(const layer *l, int *sp) {
    int dims = l->in_nd - 1;
    for (int d = 0; d < dims; d++) sp[d] = l->in_sh[1 + d];
    return dims;
}

static mc_layout out_layout(const layer *l) { return l->blk ? MC_LAYOUT_BLOCKED16 : MC_LAYOUT_PLAIN; }
static mc_layout in_layout(const mc_model *m, int i) { return i > 0 ? out_layout(&m->L[i - 1]) : MC_LAYOUT_PLAIN; }

static mc_conv_params conv_params(const mc_model *m, int i, int N) {
    const layer *l = &m->L[i];
    mc_conv_params p = {.dims = l->in_nd - 1, .N = N, .IC = l->in_sh[0], .OC = l->out_features, .groups = l->groups,
                        .in_layout = in_layout(m, i), .out_layout = out_layout(l)};
    for (int d = 0; d < p.dims; d++) {
        p.in[d] = l->in_sh[1 + d];
        p.k[d] = l->k;
        p.stride[d] = l->stride;
        p.pad[d] = l->pad;
        p.dil[d] = l->dil;
    }
    mc_conv_params_init(&p);
    return p;
}

static mc_pool_params pool_params(const layer *l, int N) {
    mc_pool_params p = {.dims = l->in_nd - 1, .kind = l->type == L_MAXPOOL ? MC_POOL_MAX : MC_POOL_AVG, .N = N, .C = l->in_sh[0],
                        .layout = out_layout(l)};
    for (int d = 0; d < p.dims; d++) {
        p.in[d] = l->in_sh[1 + d];
        p.k[d] = l->k;
        p.stride[d] = l->stride;
        p.pad[d] = l->pad;
    }
    mc_pool_params_init(&p);
    return p;
}

/* ---- forward and backward -------------------------------------------------------------------------- */

mc_status mc_model_forward(mc_model *m, const float *x, int N, int train, mc_rng *rng, const float **out) {
    if (!m || !x || N < 1 || !out) return MC_ERR_ARG;
    mc_threads_follow();
    mc_status st = mc_model_workspace(m, N);
    if (st != MC_OK) return st;
    const float *in = x;
    for (int i = 0; i < m->n_layers; i++) {
        layer *l = &m->L[i];
        float *p = m->params + l->p_off;
        int64_t n = (int64_t)N * l->in_size, C = l->in_sh[0], last = l->in_sh[l->in_nd - 1], rows = n / last;
        int64_t S = l->in_nd > 1 ? prod(l->in_sh + 1, l->in_nd - 1) : 1;
        int sp[3], dims = spatial_size(l, sp);
        switch (l->type) {
        case L_LINEAR:
            mc_linear_forward(l->out, in, p, l->bias ? p + (int64_t)l->out_features * last : NULL, (int)rows, (int)last, l->out_features);
            break;
        case L_ACT:
            if (!(i > 0 && m->L[i - 1].relu_fused)) mc_act_forward(l->out, in, (int64_t)N * out_stored(l), l->act);
            break;
        case L_LAYERNORM: mc_layernorm_forward(l->out, l->s1, l->s2, in, p, p + last, (int)rows, (int)last, l->eps); break;
        case L_DROPOUT:
            if (train && l->p > 0)
                mc_dropout_forward(l->out, l->mask, in, n, l->p, rng);
            else
                memcpy(l->out, in, (size_t)n * sizeof *in);
            break;
        case L_MOE:
            if ((st = mc_moe_forward(l->moe, l->out, in, (int)rows, train, rng)) != MC_OK) return st;
            break;
        case L_CONV: {
            mc_conv_params cp = conv_params(m, i, N);
            int64_t kk = 1;
            for (int d = 0; d < dims; d++) kk *= l->k;
            mc_conv_forward(l->out, in, p, l->bias ? p + (int64_t)l->out_features * (C / l->groups) * kk : NULL, &cp);
            break;
        }
        case L_BATCHNORM:
            if (l->blk)
                mc_batchnorm_forward_blocked(l->out, l->s1, l->s2, m->state + l->s_off, m->state + l->s_off + C, in, p, p + C, N,
                                             (int)C, S, l->eps, l->momentum, train, l->relu_fused);
            else
                mc_batchnorm_forward(l->out, l->s1, l->s2, m->state + l->s_off, m->state + l->s_off + C, in, p, p + C, N, (int)C, S,
                                     l->eps, l->momentum, train);
            break;
        case L_MAXPOOL:
        case L_AVGPOOL: {
            mc_pool_params pp = pool_params(l, N);
            mc_pool_forward(l->out, l->type == L_MAXPOOL ? l->i1 : NULL, in, &pp);
            break;
        }
        case L_GLOBALPOOL: mc_global_avgpool_forward(l->out, in, N, (int)C, S); break;
        case L_SE: {
            int R = (int)(C / l->reduction > 0 ? C / l->reduction : 1);
            mc_se_forward(l->out, l->s1, l->s2, l->s3, in, p, p + (int64_t)R * C, p + (int64_t)R * C + R, p + 2 * (int64_t)R * C + R,
                          N, (int)C, R, S);
            break;
        }
        case L_SPATIAL: {
            int64_t kk = 1;
            for (int d = 0; d < dims; d++) kk *= l->k;
            mc_spatial_attention_forward(l->out, l->s1, l->i1, l->s2, in, p, p + 2 * kk, N, (int)C, dims, sp, l->k);
            break;
        }
        case L_MHSA: {
            int T = l->in_sh[0];
            mc_mhsa_forward(l->out, l->s1, l->s2, l->s3, in, p, p + 3 * last * last, p + 3 * last * last + 3 * last,
                            p + 4 * last * last + 3 * last, N, T, (int)last, l->heads);
            break;
        }
        case L_ADD: {
            const float *other = m->L[l->from].out;
            #pragma omp parallel for simd schedule(static) if (n > 65536)
            for (int64_t q = 0; q < n; q++) l->out[q] = in[q] + other[q];
            break;
        }
        case L_FLATTEN: memcpy(l->out, in, (size_t)n * sizeof *in); break;
        case L_COUNT: return MC_ERR_INTERNAL;
        }
        in = l->out;
    }
    m->N = N;
    m->x = x;
    m->trained = train;
    *out = in;
    return MC_OK;
}

/* Whether layer i's backward writes its input gradient whole instead of adding into it: a
 * convolution, an activation or a blocked batch norm whose input no "add" layer reads (no other
 * writer). */
static int overwrites_din(const mc_model *m, int i) {
    const layer *l = &m->L[i];
    return (l->type == L_CONV || l->type == L_ACT || (l->type == L_BATCHNORM && l->blk)) && !(i > 0 && m->L[i - 1].add_reads);
}

mc_status mc_model_backward(mc_model *m, const float *dout, float *dx) {
    if (!m || !dout) return MC_ERR_ARG;
    if (!m->trained) return MC_ERR_ARG;
    const int N = m->N;
    /* Gradients accumulate, so each buffer starts at zero, except where a layer overwrites its
     * input gradient and where the first layer can skip the gradient of the input nobody asked for. */
    const layer *first = &m->L[0];
    int need_dx = dx || !(first->type == L_CONV || first->type == L_BATCHNORM || first->type == L_ACT);
    for (int i = 0; i < m->n_layers - 1; i++)
        if (!overwrites_din(m, i + 1)) memset(m->L[i].dout, 0, (size_t)N * out_stored(&m->L[i]) * sizeof(float));
    if (need_dx && !overwrites_din(m, 0)) memset(m->dx, 0, (size_t)N * mc_model_input_size(m) * sizeof(float));
    layer *top = &m->L[m->n_layers - 1];
    memcpy(top->dout, dout, (size_t)N * top->out_size * sizeof(float));
    for (int i = m->n_layers - 1; i >= 0; i--) {
        layer *l = &m->L[i];
        const float *in = i > 0 ? m->L[i - 1].out : m->x;
        float *din = i > 0 ? m->L[i - 1].dout : need_dx ? m->dx : NULL;
        float *p = m->params + l->p_off, *g = m->grads + l->p_off;
        int64_t n = (int64_t)N * l->in_size, C = l->in_sh[0], last = l->in_sh[l->in_nd - 1], rows = n / last;
        int64_t S = l->in_nd > 1 ? prod(l->in_sh + 1, l->in_nd - 1) : 1;
        int sp[3], dims = spatial_size(l, sp);
        switch (l->type) {
        case L_LINEAR: {
            int64_t wn = (int64_t)l->out_features * last;
            mc_linear_backward(din, g, l->bias ? g + wn : NULL, l->dout, in, p, (int)rows, (int)last, l->out_features);
            break;
        }
        case L_ACT:
            if (i > 0 && m->L[i - 1].relu_fused) break; /* the batch norm before runs it */
            (overwrites_din(m, i) ? mc_act_backward_set : mc_act_backward)(din, l->dout, in, l->out, (int64_t)N * out_stored(l),
                                                                         l->act);
            break;
        case L_LAYERNORM: mc_layernorm_backward(din, g, g + last, l->dout, in, p, l->s1, l->s2, (int)rows, (int)last); break;
        case L_DROPOUT:
            if (l->p > 0) {
                mc_dropout_backward(din, l->dout, l->mask, n, l->p);
            } else {
                for (int64_t q = 0; q < n; q++) din[q] += l->dout[q];
            }
            break;
        case L_MOE: mc_moe_backward(l->moe, din, l->dout); break;
        case L_CONV: {
            mc_conv_params cp = conv_params(m, i, N);
            int64_t kk = 1;
            for (int d = 0; d < dims; d++) kk *= l->k;
            int64_t wn = (int64_t)l->out_features * (C / l->groups) * kk;
            if (din && overwrites_din(m, i)) {
                mc_conv_backward_data_set(din, l->dout, p, &cp);
                din = NULL;
            }
            mc_conv_backward(din, g, l->bias ? g + wn : NULL, l->dout, in, p, &cp);
            break;
        }
        case L_BATCHNORM:
            if (l->blk)
                mc_batchnorm_backward_blocked(din, g, g + C, l->relu_fused ? m->L[i + 1].dout : l->dout,
                                              l->relu_fused ? m->L[i + 1].out : NULL, in, p, l->s1, l->s2, N, (int)C, S,
                                              !overwrites_din(m, i));
            else
                mc_batchnorm_backward(din, g, g + C, l->dout, in, p, l->s1, l->s2, N, (int)C, S);
            break;
        case L_MAXPOOL:
        case L_AVGPOOL: {
            mc_pool_params pp = pool_params(l, N);
            mc_pool_backward(din, l->dout, l->type == L_MAXPOOL ? l->i1 : NULL, &pp);
            break;
        }
        case L_GLOBALPOOL: mc_global_avgpool_backward(din, l->dout, N, (int)C, S); break;
        case L_SE: {
            int R = (int)(C / l->reduction > 0 ? C / l->reduction : 1);
            int64_t o1 = (int64_t)R * C, o2 = o1 + R, o3 = 2 * (int64_t)R * C + R;
            mc_se_backward(din, g, g + o1, g + o2, g + o3, l->dout, in, p, p + o2, l->s1, l->s2, l->s3, N, (int)C, R, S);
            break;
        }
        case L_SPATIAL: {
            int64_t kk = 1;
            for (int d = 0; d < dims; d++) kk *= l->k;
            mc_spatial_attention_backward(din, g, g + 2 * kk, l->dout, in, p, l->s1, l->i1, l->s2, N, (int)C, dims, sp, l->k);
            break;
        }
        case L_MHSA: {
            int T = l->in_sh[0];
            int64_t ob = 3 * last * last, ow = ob + 3 * last, oo = ow + last * last;
            mc_mhsa_backward(din, g, g + ob, g + ow, g + oo, l->dout, in, p, p + ow, l->s1, l->s2, l->s3, N, T, (int)last, l->heads);
            break;
        }
        case L_ADD: {
            float *other = m->L[l->from].dout;
            for (int64_t q = 0; q < n; q++) {
                din[q] += l->dout[q];
                other[q] += l->dout[q];
            }
            break;
        }
        case L_FLATTEN:
            for (int64_t q = 0; q < n; q++) din[q] += l->dout[q];
            break;
        case L_COUNT: return MC_ERR_INTERNAL;
        }
    }
    if (dx) memcpy(dx, m->dx, (size_t)N * mc_model_input_size(m) * sizeof(float));
    return MC_OK;
}

/* ---- the MoE layers after a pass ------------------------------------------------------------------- */

double mc_model_aux_loss(const mc_model *m) {
    double s = 0.0;
    for (int i = 0; i < m->n_layers; i++) {
        if (!m->L[i].moe) continue;
        const mc_moe_stats *st = mc_moe_get_stats(m->L[i].moe);
        s += st->aux_loss + st->z_loss;
    }
    return s;
}

double mc_model_expert_flops(const mc_model *m) {
    double f = 0.0;
    for (int i = 0; i < m->n_layers; i++) {
        const layer *l = &m->L[i];
        if (!l->moe || m->N == 0) continue;
        const mc_moe_config *c = &l->moe_cfg;
        const mc_moe_stats *st = mc_moe_get_stats(l->moe);
        int64_t pairs = 0;
        for (int e = 0; e < c->n_experts; e++) pairs += st->load[e];
        pairs -= st->dropped;
        int64_t Fs = c->d_ff_shared ? c->d_ff_shared : c->d_ff;
        f += ((double)pairs * 2.0 * c->d_model * c->d_ff + (double)st->tokens * c->n_shared * 2.0 * c->d_model * Fs +
              (double)st->tokens * c->d_model * c->n_experts) / m->N;
    }
    return f;
}

void mc_model_after_step(mc_model *m) {
    for (int i = 0; i < m->n_layers; i++)
        if (m->L[i].moe) mc_moe_update_bias(m->L[i].moe);
}
