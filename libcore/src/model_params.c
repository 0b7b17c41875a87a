/* model_params.c: a network's parameter blocks: every layer's weights, biases and state as named,
 * shaped views of the model's flat arrays, in the arrays' order, with their initialisation and
 * whether they take weight decay. Model files name their tensors after them (model_file.c). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "model_layers.h"

static block *add_block(block *b, int *n, const char *name, float *ptr, int decay, int init, float bound, int ndim, ...) {
    block *x = &b[(*n)++];
    memset(x, 0, sizeof *x);
    snprintf(x->name, sizeof x->name, "%s", name);
    x->ptr = ptr;
    x->decay = decay;
    x->init = init;
    x->bound = bound;
    x->ndim = ndim;
    va_list ap;
    va_start(ap, ndim);
    for (int i = 0; i < ndim; i++) x->shape[i] = va_arg(ap, int64_t);
    va_end(ap);
    return x;
}

int mc_layer_blocks(mc_model *m, int li, block *b) {
    layer *l = &m->L[li];
    float *p = m->params + l->p_off;
    int n = 0, sp = l->in_nd - 1;
    int64_t C = l->in_sh[0], last = l->in_sh[l->in_nd - 1];
    switch (l->type) {
    case L_LINEAR: {
        float bd = 1.0f / sqrtf((float)last);
        add_block(b, &n, "weight", p, 1, INIT_UNIFORM, bd, 2, (int64_t)l->out_features, last);
        if (l->bias) add_block(b, &n, "bias", p + l->out_features * last, 0, INIT_UNIFORM, bd, 1, (int64_t)l->out_features);
        break;
    }
    case L_LAYERNORM:
        add_block(b, &n, "weight", p, 0, INIT_ONES, 0, 1, last);
        add_block(b, &n, "bias", p + last, 0, INIT_ZEROS, 0, 1, last);
        break;
    case L_MOE: {
        const mc_moe_config *c = &l->moe_cfg;
        int64_t D = c->d_model, F = c->d_ff, E = c->n_experts, S = c->n_shared, Fs = c->d_ff_shared ? c->d_ff_shared : F;
        mc_moe_weights w = mc_moe_weights_at(c, p);
        /* initialised by mc_moe_init_params */
        add_block(b, &n, "router", w.w_router, 1, INIT_NONE, 0, 2, E, D);
        add_block(b, &n, "w1", w.w1, 1, INIT_NONE, 0, 3, E, F, D);
        add_block(b, &n, "b1", w.b1, 0, INIT_NONE, 0, 2, E, F);
        add_block(b, &n, "w2", w.w2, 1, INIT_NONE, 0, 3, E, D, F);
        add_block(b, &n, "b2", w.b2, 0, INIT_NONE, 0, 2, E, D);
        if (S > 0) {
            add_block(b, &n, "shared_w1", w.ws1, 1, INIT_NONE, 0, 3, S, Fs, D);
            add_block(b, &n, "shared_b1", w.bs1, 0, INIT_NONE, 0, 2, S, Fs);
            add_block(b, &n, "shared_w2", w.ws2, 1, INIT_NONE, 0, 3, S, D, Fs);
            add_block(b, &n, "shared_b2", w.bs2, 0, INIT_NONE, 0, 2, S, D);
        }
        block *x = add_block(b, &n, "selection_bias", mc_moe_bias(l->moe), 0, INIT_NONE, 0, 1, E);
        x->state = 1;
        break;
    }
    case L_CONV: {
        int64_t icg = C / l->groups, kk = 1;
        for (int d = 0; d < sp; d++) kk *= l->k;
        float bd = 1.0f / sqrtf((float)(icg * kk));
        block *w = add_block(b, &n, "weight", p, 1, INIT_UNIFORM, bd, 2, (int64_t)l->out_features, icg);
        for (int d = 0; d < sp; d++) w->shape[w->ndim++] = l->k;
        if (l->bias) add_block(b, &n, "bias", p + l->out_features * icg * kk, 0, INIT_UNIFORM, bd, 1, (int64_t)l->out_features);
        break;
    }
    case L_BATCHNORM: {
        add_block(b, &n, "weight", p, 0, INIT_ONES, 0, 1, C);
        add_block(b, &n, "bias", p + C, 0, INIT_ZEROS, 0, 1, C);
        add_block(b, &n, "running_mean", m->state + l->s_off, 0, INIT_NONE, 0, 1, C)->state = 1;
        add_block(b, &n, "running_var", m->state + l->s_off + C, 0, INIT_NONE, 0, 1, C)->state = 1;
        break;
    }
    case L_SE: {
        int64_t R = C / l->reduction > 0 ? C / l->reduction : 1;
        float b1 = 1.0f / sqrtf((float)C), b2 = 1.0f / sqrtf((float)R);
        add_block(b, &n, "w1", p, 1, INIT_UNIFORM, b1, 2, R, C);
        add_block(b, &n, "b1", p + R * C, 0, INIT_UNIFORM, b1, 1, R);
        add_block(b, &n, "w2", p + R * C + R, 1, INIT_UNIFORM, b2, 2, C, R);
        add_block(b, &n, "b2", p + 2 * R * C + R, 0, INIT_UNIFORM, b2, 1, C);
        break;
    }
    case L_SPATIAL: {
        int64_t kk = 1;
        for (int d = 0; d < sp; d++) kk *= l->k;
        float bd = 1.0f / sqrtf((float)(2 * kk));
        block *w = add_block(b, &n, "weight", p, 1, INIT_UNIFORM, bd, 2, (int64_t)1, (int64_t)2);
        for (int d = 0; d < sp; d++) w->shape[w->ndim++] = l->k;
        add_block(b, &n, "bias", p + 2 * kk, 0, INIT_UNIFORM, bd, 1, (int64_t)1);
        break;
    }
    case L_MHSA: {
        float xav = sqrtf(6.0f / (float)(last + 3 * last)), bo = 1.0f / sqrtf((float)last);
        add_block(b, &n, "w_qkv", p, 1, INIT_UNIFORM, xav, 2, 3 * last, last);
        add_block(b, &n, "b_qkv", p + 3 * last * last, 0, INIT_ZEROS, 0, 1, 3 * last);
        add_block(b, &n, "w_o", p + 3 * last * last + 3 * last, 1, INIT_UNIFORM, bo, 2, last, last);
        add_block(b, &n, "b_o", p + 4 * last * last + 3 * last, 0, INIT_ZEROS, 0, 1, last);
        break;
    }
    default: break;
    }
    return n;
}

int64_t mc_block_numel(const block *b) {
    int64_t n = 1;
    for (int i = 0; i < b->ndim; i++) n *= b->shape[i];
    return n;
}

void mc_model_init(mc_model *m, mc_rng *rng) {
    block b[12];
    for (int i = 0; i < m->n_layers; i++) {
        if (m->L[i].moe) mc_moe_init_params(m->L[i].moe, rng);
        int n = mc_layer_blocks(m, i, b);
        for (int j = 0; j < n; j++) {
            int64_t cnt = mc_block_numel(&b[j]);
            for (int64_t q = 0; q < cnt; q++) {
                if (b[j].init == INIT_UNIFORM)
                    b[j].ptr[q] = (float)((2.0 * mc_rng_uniform(rng) - 1.0) * b[j].bound);
                else if (b[j].init == INIT_ONES)
                    b[j].ptr[q] = 1.0f;
                else if (b[j].init == INIT_ZEROS)
                    b[j].ptr[q] = 0.0f;
            }
        }
    }
}

void mc_model_param_ranges(const mc_model *m, void (*fn)(void *user, int64_t offset, int64_t n, int decay), void *user) {
    block b[12];
    for (int i = 0; i < m->n_layers; i++) {
        int n = mc_layer_blocks((mc_model *)m, i, b);
        for (int j = 0; j < n; j++)
            if (!b[j].state) fn(user, b[j].ptr - m->params, mc_block_numel(&b[j]), b[j].decay);
    }
}
