/* model_layout.c: where a network's activations live. A run of layers from a convolution through
 * batch norms, activations (not sigmoid) and poolings to the next convolution keeps its activations
 * and their gradients in oneDNN's blocked layout (nn.h, mc_layout; layout.c), so that both
 * convolutions read and write them without reorders. Every other tensor is plain: the input, the
 * output, and whatever a layer without a blocked form reads (a run ending at a flatten or global
 * pooling, say, or one whose output an "add" layer reads). The workspace holds every layer's output,
 * its gradient and what its backward needs, for a batch. */
#include <stdint.h>

#include "model_layers.h"

/* Layers that read and write the blocked layout alike, leaving it as they find it. */
static int layout_transparent(const layer *l) {
    return l->type == L_BATCHNORM || l->type == L_MAXPOOL || l->type == L_AVGPOOL ||
           (l->type == L_ACT && l->act != MC_ACT_SIGMOID); /* sigmoid(0) would fill the padding lanes */
}

/* Marks the outputs kept blocked: those from a convolution through transparent layers to the next
 * convolution, when no "add" layer reads any of them; and a ReLU after a blocked batch norm to run
 * inside it (the batch norm's own output is then never stored: the ReLU's buffer takes it). */
void mc_model_plan_layouts(mc_model *m) {
    for (int i = 0; i < m->n_layers; i++)
        if (m->L[i].type == L_ADD) m->L[m->L[i].from].add_reads = 1;
    for (int i = 0; i < m->n_layers; i++) {
        if (m->L[i].type != L_CONV) continue;
        int j = i + 1, read = m->L[i].add_reads;
        while (j < m->n_layers && layout_transparent(&m->L[j])) read |= m->L[j++].add_reads;
        if (j < m->n_layers && m->L[j].type == L_CONV && !read)
            for (int e = i; e < j; e++) m->L[e].blk = 1;
    }
    for (int i = 0; i + 1 < m->n_layers; i++) {
        layer *l = &m->L[i], *next = &m->L[i + 1];
        l->relu_fused = l->type == L_BATCHNORM && l->blk && next->type == L_ACT && next->act == MC_ACT_RELU && next->blk;
    }
}

mc_status mc_model_workspace(mc_model *m, int N) {
    if (m->ws && N <= m->ws_N) return MC_OK;
    if (!m->ws && !(m->ws = mc_arena_create(MC_DEVICE_CPU, (size_t)1 << 24))) return MC_ERR_NOMEM;
    mc_arena_reset(m->ws);
    mc_arena *a = m->ws;
#define ALLOC(ptr, count) \
    if (!((ptr) = mc_arena_alloc(a, (size_t)(count) * sizeof *(ptr)))) return MC_ERR_NOMEM
    for (int i = 0; i < m->n_layers; i++) {
        layer *l = &m->L[i];
        int64_t C = l->in_sh[0], last = l->in_sh[l->in_nd - 1], rows = (int64_t)N * (l->in_size / last);
        int64_t S = l->in_nd > 1 ? prod(l->in_sh + 1, l->in_nd - 1) : 1;
        if (i > 0 && m->L[i - 1].relu_fused)
            l->out = m->L[i - 1].out;
        else
            ALLOC(l->out, (int64_t)N * out_stored(l));
        ALLOC(l->dout, (int64_t)N * out_stored(l));
        switch (l->type) {
        case L_LAYERNORM: ALLOC(l->s1, rows); ALLOC(l->s2, rows); break;
        case L_DROPOUT: ALLOC(l->mask, (int64_t)N * l->in_size); break;
        case L_BATCHNORM: ALLOC(l->s1, C); ALLOC(l->s2, C); break;
        case L_MAXPOOL: ALLOC(l->i1, (int64_t)N * out_stored(l)); break;
        case L_SE: {
            int64_t R = C / l->reduction > 0 ? C / l->reduction : 1;
            ALLOC(l->s1, (int64_t)N * C); ALLOC(l->s2, (int64_t)N * R); ALLOC(l->s3, (int64_t)N * C);
            break;
        }
        case L_SPATIAL: ALLOC(l->s1, (int64_t)N * 2 * S); ALLOC(l->i1, (int64_t)N * S); ALLOC(l->s2, (int64_t)N * S); break;
        case L_MHSA: {
            int64_t T = l->in_sh[0];
            ALLOC(l->s1, (int64_t)N * T * 3 * last); ALLOC(l->s2, (int64_t)N * l->heads * T * T); ALLOC(l->s3, (int64_t)N * T * last);
            break;
        }
        default: break;
        }
    }
    ALLOC(m->dx, (int64_t)N * mc_model_input_size(m));
#undef ALLOC
    m->ws_N = N;
    return MC_OK;
}
