/* model.c: networks as plain arrays of layers built from a JSON architecture; one contiguous
 * parameter array, a workspace for activations, forward/backward, and model files.
 *
 * Layouts: a run of layers from a convolution through batch norms, activations (not sigmoid) and
 * poolings to the next convolution keeps its activations and their gradients in oneDNN's blocked
 * layout (nn.h, mc_layout), so that both convolutions read and write them without reorders. Every
 * other tensor is plain: the input, the output, and whatever a layer without a blocked form reads
 * (a run ending at a flatten or global pooling, say, or one whose output an "add" layer reads). */
#include "moecore/model.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moecore/nn.h"
#include "moecore/tensor.h"

typedef enum {
    L_LINEAR, L_ACT, L_LAYERNORM, L_DROPOUT, L_MOE, L_CONV, L_BATCHNORM, L_MAXPOOL, L_AVGPOOL,
    L_GLOBALPOOL, L_SE, L_SPATIAL, L_MHSA, L_ADD, L_FLATTEN, L_COUNT
} ltype;

static const char *const ltype_name[L_COUNT] = {
    "linear", "act", "layernorm", "dropout", "moe", "conv", "batchnorm", "maxpool", "avgpool",
    "globalavgpool", "se", "spatial_attention", "mhsa", "add", "flatten",
};

typedef struct layer {
    ltype type;
    int in_nd, in_sh[4], out_nd, out_sh[4];
    int64_t in_size, out_size;   /* per sample */
    int blk;                     /* the output (and its gradient) is in the blocked layout */
    int add_reads;               /* an "add" layer reads the output (and adds into its gradient) */
    int relu_fused;              /* batch norm: the ReLU after it runs inside it (both blocked) */
    int64_t p_off, p_n;          /* parameters in the model's flat array */
    int64_t s_off;               /* state (batch-norm running statistics) in the model's state array */
    /* settings */
    int out_features, bias, k, stride, pad, dil, groups, heads, reduction, from;
    mc_act act;
    float eps, p, momentum;
    mc_moe_config moe_cfg;
    mc_moe *moe;
    /* workspace for the current batch */
    float *out, *dout, *s1, *s2, *s3;
    int32_t *i1;
    uint8_t *mask;
} layer;

struct mc_model {
    char *arch;
    int n_layers;
    layer L[MC_MODEL_MAX_LAYERS];
    int in_nd, in_sh[4];
    int64_t n_params, n_state;
    float *params, *grads, *state;
    mc_arena *ws;
    int ws_N;                    /* batch size the workspace is laid out for */
    float *dx;                   /* (N, input) */
    int N;                       /* batch of the last forward */
    const float *x;              /* input of the last training forward */
    int trained;                 /* the last forward was a training pass */
};

/* ---- architecture parsing ------------------------------------------------------------------------ */

static int64_t prod(const int *v, int n) {
    int64_t p = 1;
    for (int i = 0; i < n; i++) p *= v[i];
    return p;
}

/* Reads an integer field with a default and a range. */
static int get_int(json_t *o, const char *key, int dflt, int lo, int hi, int *out, int li, mc_error *err) {
    json_t *v = json_object_get(o, key);
    if (!v) {
        *out = dflt;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        mc_error_set(err, MC_ERR_FORMAT, "architecture: layer %d: \"%s\" must be an integer from %d to %d", li, key, lo, hi);
        return -1;
    }
    *out = (int)json_integer_value(v);
    return 0;
}

static int get_real(json_t *o, const char *key, float dflt, double lo, double hi, float *out, int li, mc_error *err) {
    json_t *v = json_object_get(o, key);
    if (!v) {
        *out = dflt;
        return 0;
    }
    if (!json_is_number(v) || json_number_value(v) < lo || json_number_value(v) > hi) {
        mc_error_set(err, MC_ERR_FORMAT, "architecture: layer %d: \"%s\" must be a number from %g to %g", li, key, lo, hi);
        return -1;
    }
    *out = (float)json_number_value(v);
    return 0;
}

static int get_bool(json_t *o, const char *key, int dflt, int *out, int li, mc_error *err) {
    json_t *v = json_object_get(o, key);
    if (!v) {
        *out = dflt;
        return 0;
    }
    if (!json_is_boolean(v)) {
        mc_error_set(err, MC_ERR_FORMAT, "architecture: layer %d: \"%s\" must be true or false", li, key);
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

static int get_word(json_t *o, const char *key, const char *dflt, const char *const *words, int n, int *out, int li,
                    mc_error *err) {
    json_t *v = json_object_get(o, key);
    const char *w = v ? json_string_value(v) : dflt;
    for (int i = 0; w && i < n; i++) {
        if (words[i] && strcmp(w, words[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    mc_error_set(err, MC_ERR_FORMAT, "architecture: layer %d: \"%s\" has an unknown value", li, key);
    return -1;
}

/* Rejects fields that the layer type does not know, so that a misspelt field is not ignored. */
static int check_fields(json_t *o, const char *const *known, int li, mc_error *err) {
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        int ok = strcmp(key, "type") == 0;
        for (int i = 0; known[i] && !ok; i++) ok = strcmp(key, known[i]) == 0;
        if (!ok) {
            mc_error_set(err, MC_ERR_FORMAT, "architecture: layer %d: unknown field \"%s\"", li, key);
            return -1;
        }
    }
    return 0;
}

static const char *const act_words[] = {"none", "relu", "gelu", "silu", "sigmoid", "tanh"};

/* Sets the layer's output shape and parameter count from its input shape and settings. */
static int plan_layer(mc_model *m, int li, json_t *o, mc_error *err) {
    layer *l = &m->L[li];
    const char *tn = json_string_value(json_object_get(o, "type"));
    int t = -1;
    for (int i = 0; tn && i < L_COUNT; i++)
        if (strcmp(tn, ltype_name[i]) == 0) t = i;
    if (t < 0) return mc_error_set(err, MC_ERR_FORMAT, "architecture: layer %d: unknown or missing \"type\"", li), -1;
    l->type = (ltype)t;
    const layer *prev = li > 0 ? &m->L[li - 1] : NULL;
    l->in_nd = prev ? prev->out_nd : m->in_nd;
    memcpy(l->in_sh, prev ? prev->out_sh : m->in_sh, sizeof l->in_sh);
    l->in_size = prod(l->in_sh, l->in_nd);
    l->out_nd = l->in_nd;
    memcpy(l->out_sh, l->in_sh, sizeof l->out_sh);
    int last = l->in_sh[l->in_nd - 1], C = l->in_sh[0], sp = l->in_nd - 1;
    int spatial_ok = l->in_nd == 3 || l->in_nd == 4;
    int a;
    switch (l->type) {
    case L_LINEAR: {
        static const char *const k[] = {"out", "bias", NULL};
        if (check_fields(o, k, li, err) || get_int(o, "out", 0, 1, 1 << 20, &l->out_features, li, err) ||
            get_bool(o, "bias", 1, &l->bias, li, err))
            return -1;
        l->out_sh[l->out_nd - 1] = l->out_features;
        l->p_n = (int64_t)l->out_features * last + (l->bias ? l->out_features : 0);
        break;
    }
    case L_ACT: {
        static const char *const k[] = {"fn", NULL};
        if (check_fields(o, k, li, err) || get_word(o, "fn", "relu", act_words, 6, &a, li, err)) return -1;
        l->act = (mc_act)a;
        break;
    }
    case L_LAYERNORM: {
        static const char *const k[] = {"eps", NULL};
        if (check_fields(o, k, li, err) || get_real(o, "eps", 1e-5f, 0, 1, &l->eps, li, err)) return -1;
        l->p_n = 2 * (int64_t)last;
        break;
    }
    case L_DROPOUT: {
        static const char *const k[] = {"p", NULL};
        if (check_fields(o, k, li, err) || get_real(o, "p", 0.1f, 0, 0.99, &l->p, li, err)) return -1;
        break;
    }
    case L_MOE: {
        static const char *const k[] = {"d_ff", "experts", "top_k", "shared", "d_ff_shared", "act", "score", "norm_topk",
                                        "noise", "balance", "aux_alpha", "bias_gamma", "z_coef", "capacity", NULL};
        static const char *const scores[] = {"softmax", "sigmoid"}, *const bal[] = {"none", "aux", "bias"};
        mc_moe_config *c = &l->moe_cfg;
        mc_moe_config_default(c);
        int act, score, balance;
        if (check_fields(o, k, li, err) || get_int(o, "d_ff", 0, 1, 1 << 20, &c->d_ff, li, err) ||
            get_int(o, "experts", 0, 1, 4096, &c->n_experts, li, err) || get_int(o, "top_k", 1, 1, 4096, &c->top_k, li, err) ||
            get_int(o, "shared", 0, 0, 64, &c->n_shared, li, err) ||
            get_int(o, "d_ff_shared", 0, 0, 1 << 20, &c->d_ff_shared, li, err) ||
            get_word(o, "act", "gelu", act_words, 6, &act, li, err) || get_word(o, "score", "softmax", scores, 2, &score, li, err) ||
            get_bool(o, "norm_topk", 1, &c->norm_topk, li, err) || get_real(o, "noise", 0, 0, 10, &c->noise_std, li, err) ||
            get_word(o, "balance", "aux", bal, 3, &balance, li, err) || get_real(o, "aux_alpha", 0.01f, 0, 100, &c->aux_alpha, li, err) ||
            get_real(o, "bias_gamma", 0.001f, 0, 10, &c->bias_gamma, li, err) || get_real(o, "z_coef", 0, 0, 100, &c->z_coef, li, err) ||
            get_real(o, "capacity", 0, 0, 1000, &c->capacity_factor, li, err))
            return -1;
        c->d_model = last;
        c->act = (mc_act)act;
        c->score = (mc_router_score)score;
        c->balance = (mc_balance)balance;
        mc_error e2;
        if (mc_moe_config_check(c, &e2) != MC_OK) return mc_error_set(err, MC_ERR_FORMAT, "architecture: layer %d: %s", li, e2.msg), -1;
        l->p_n = mc_moe_num_params(c);
        break;
    }
    case L_CONV: {
        static const char *const k[] = {"out", "k", "stride", "pad", "dil", "groups", "bias", NULL};
        if (!spatial_ok) return mc_error_set(err, MC_ERR_FORMAT, "architecture: layer %d: conv needs a [C, H, W] or [C, D, H, W] input", li), -1;
        if (check_fields(o, k, li, err) || get_int(o, "out", 0, 1, 1 << 16, &l->out_features, li, err) ||
            get_int(o, "k", 3, 1, 64, &l->k, li, err) || get_int(o, "stride", 1, 1, 64, &l->stride, li, err) ||
            get_int(o, "pad", 0, 0, 64, &l->pad, li, err) || get_int(o, "dil", 1, 1, 64, &l->dil, li, err) ||
            get_int(o, "groups", 1, 1, 1 << 16, &l->groups, li, err) || get_bool(o, "bias", 1, &l->bias, li, err))
            return -1;
        mc_conv_params p = {.dims = sp, .N = 1, .IC = C, .OC = l->out_features, .groups = l->groups};
        for (int d = 0; d < sp; d++) {
            p.in[d] = l->in_sh[1 + d];
            p.k[d] = l->k;
            p.stride[d] = l->stride;
            p.pad[d] = l->pad;
            p.dil[d] = l->dil;
        }
        if (mc_conv_params_init(&p) != MC_OK)
            return mc_error_set(err, MC_ERR_FORMAT, "architecture: layer %d: conv settings do not fit its input", li), -1;
        l->out_sh[0] = l->out_features;
        for (int d = 0; d < sp; d++) l->out_sh[1 + d] = p.out[d];
        l->p_n = (int64_t)l->out_features * (C / l->groups) * (int64_t)pow(l->k, sp) + (l->bias ? l->out_features : 0);
        break;
    }
    case L_BATCHNORM: {
        static const char *const k[] = {"eps", "momentum", NULL};
        if (l->in_nd < 1) return -1;
        if (check_fields(o, k, li, err) || get_real(o, "eps", 1e-5f, 0, 1, &l->eps, li, err) ||
            get_real(o, "momentum", 0.1f, 0, 1, &l->momentum, li, err))
            return -1;
        l->p_n = 2 * (int64_t)C;
        l->s_off = m->n_state;
        m->n_state += 2 * (int64_t)C;
        break;
    }
    case L_MAXPOOL:
    case L_AVGPOOL: {
        static const char *const k[] = {"k", "stride", "pad", NULL};
        if (!spatial_ok) return mc_error_set(err, MC_ERR_FORMAT, "architecture: layer %d: pooling needs a spatial input", li), -1;
        if (check_fields(o, k, li, err) || get_int(o, "k", 2, 1, 64, &l->k, li, err) ||
            get_int(o, "stride", l->k, 1, 64, &l->stride, li, err) || get_int(o, "pad", 0, 0, 32, &l->pad, li, err))
            return -1;
        mc_pool_params p = {.dims = sp, .kind = l->type == L_MAXPOOL ? MC_POOL_MAX : MC_POOL_AVG, .N = 1, .C = C};
        for (int d = 0; d < sp; d++) {
            p.in[d] = l->in_sh[1 + d];
            p.k[d] = l->k;
            p.stride[d] = l->stride;
            p.pad[d] = l->pad;
        }
        if (mc_pool_params_init(&p) != MC_OK)
            return mc_error_set(err, MC_ERR_FORMAT, "architecture: layer %d: pooling settings do not fit its input", li), -1;
        for (int d = 0; d < sp; d++) l->out_sh[1 + d] = p.out[d];
        break;
    }
    case L_GLOBALPOOL: {
        static const char *const k[] = {NULL};
        if (check_fields(o, k, li, err)) return -1;
        if (!spatial_ok) return mc_error_set(err, MC_ERR_FORMAT, "architecture: layer %d: globalavgpool needs a spatial input", li), -1;
        l->out_nd = 1;
        l->out_sh[0] = C;
        break;
    }
    case L_SE: {
        static const char *const k[] = {"reduction", NULL};
        if (!spatial_ok) return mc_error_set(err, MC_ERR_FORMAT, "architecture: layer %d: se needs a spatial input", li), -1;
        if (check_fields(o, k, li, err) || get_int(o, "reduction", 4, 1, 1 << 16, &l->reduction, li, err)) return -1;
        int R = C / l->reduction > 0 ? C / l->reduction : 1;
        l->p_n = 2 * (int64_t)R * C + R + C;
        break;
    }
    case L_SPATIAL: {
        static const char *const k[] = {"k", NULL};
        if (!spatial_ok) return mc_error_set(err, MC_ERR_FORMAT, "architecture: layer %d: spatial_attention needs a spatial input", li), -1;
        if (check_fields(o, k, li, err) || get_int(o, "k", 7, 1, 31, &l->k, li, err)) return -1;
        if (l->k % 2 == 0) return mc_error_set(err, MC_ERR_FORMAT, "architecture: layer %d: spatial_attention k must be odd", li), -1;
        l->p_n = 2 * (int64_t)pow(l->k, sp) + 1;
        break;
    }
    case L_MHSA: {
        static const char *const k[] = {"heads", NULL};
        if (l->in_nd != 2) return mc_error_set(err, MC_ERR_FORMAT, "architecture: layer %d: mhsa needs a [T, C] input", li), -1;
        if (check_fields(o, k, li, err) || get_int(o, "heads", 1, 1, 1024, &l->heads, li, err)) return -1;
        if (last % l->heads) return mc_error_set(err, MC_ERR_FORMAT, "architecture: layer %d: C must be divisible by heads", li), -1;
        l->p_n = 3 * (int64_t)last * last + 3 * last + (int64_t)last * last + last;
        break;
    }
    case L_ADD: {
        static const char *const k[] = {"from", NULL};
        if (check_fields(o, k, li, err) || get_int(o, "from", -2, -li, -1, &l->from, li, err)) return -1;
        l->from += li;
        const layer *src = &m->L[l->from];
        if (src->out_nd != l->in_nd || memcmp(src->out_sh, l->in_sh, sizeof(int) * (size_t)l->in_nd) != 0)
            return mc_error_set(err, MC_ERR_FORMAT, "architecture: layer %d: add: the output of layer %d has another shape", li, l->from), -1;
        break;
    }
    case L_FLATTEN: {
        static const char *const k[] = {NULL};
        if (check_fields(o, k, li, err)) return -1;
        l->out_nd = 1;
        l->out_sh[0] = (int)l->in_size;
        break;
    }
    case L_COUNT: return -1;
    }
    l->out_size = prod(l->out_sh, l->out_nd);
    l->p_off = m->n_params;
    m->n_params += l->p_n;
    return 0;
}

/* Layers that read and write the blocked layout alike, leaving it as they find it. */
static int layout_transparent(const layer *l) {
    return l->type == L_BATCHNORM || l->type == L_MAXPOOL || l->type == L_AVGPOOL ||
           (l->type == L_ACT && l->act != MC_ACT_SIGMOID); /* sigmoid(0) would fill the padding lanes */
}

/* Marks the outputs kept blocked: those from a convolution through transparent layers to the next
 * convolution, when no "add" layer reads any of them; and a ReLU after a blocked batch norm to run
 * inside it (the batch norm's own output is then never stored: the ReLU's buffer takes it). */
static void plan_layouts(mc_model *m) {
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

mc_status mc_model_create(mc_model **out, const char *arch_json, mc_error *err) {
    if (!out || !arch_json) return mc_error_set(err, MC_ERR_ARG, "mc_model_create: invalid arguments");
    *out = NULL;
    json_error_t je;
    json_t *root = json_loads(arch_json, JSON_REJECT_DUPLICATES, &je);
    if (!root) return mc_error_set(err, MC_ERR_FORMAT, "architecture: invalid JSON at line %d: %s", je.line, je.text);
    mc_model *m = calloc(1, sizeof *m);
    mc_status st = MC_OK;
    json_t *input = json_object_get(root, "input"), *layers = json_object_get(root, "layers");
    if (!m) {
        st = mc_error_set(err, MC_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (!json_is_object(root) || !json_is_array(input) || json_array_size(input) < 1 || json_array_size(input) > 4 ||
        !json_is_array(layers) || json_array_size(layers) < 1 || json_array_size(layers) > MC_MODEL_MAX_LAYERS) {
        st = mc_error_set(err, MC_ERR_FORMAT, "architecture: needs \"input\" (1 to 4 sizes) and \"layers\" (1 to %d)", MC_MODEL_MAX_LAYERS);
        goto done;
    }
    m->in_nd = (int)json_array_size(input);
    for (int i = 0; i < m->in_nd; i++) {
        json_t *v = json_array_get(input, (size_t)i);
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > (1 << 24)) {
            st = mc_error_set(err, MC_ERR_FORMAT, "architecture: input sizes must be positive integers");
            goto done;
        }
        m->in_sh[i] = (int)json_integer_value(v);
    }
    m->n_layers = (int)json_array_size(layers);
    for (int i = 0; i < m->n_layers; i++) {
        json_t *o = json_array_get(layers, (size_t)i);
        if (!json_is_object(o)) {
            st = mc_error_set(err, MC_ERR_FORMAT, "architecture: layer %d is not an object", i);
            goto done;
        }
        if (plan_layer(m, i, o, err) != 0) {
            st = err ? err->code : MC_ERR_FORMAT;
            if (st == MC_OK) st = MC_ERR_FORMAT;
            goto done;
        }
    }
    plan_layouts(m);
    if (m->n_params > ((int64_t)1 << 34)) {
        st = mc_error_set(err, MC_ERR_FORMAT, "architecture: %lld parameters is too many", (long long)m->n_params);
        goto done;
    }
    m->params = calloc((size_t)m->n_params + 1, sizeof(float));
    m->grads = calloc((size_t)m->n_params + 1, sizeof(float));
    m->state = calloc((size_t)m->n_state + 1, sizeof(float));
    m->arch = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!m->params || !m->grads || !m->state || !m->arch) {
        st = mc_error_set(err, MC_ERR_NOMEM, "out of memory for %lld parameters", (long long)m->n_params);
        goto done;
    }
    for (int i = 0; i < m->n_layers; i++) {
        layer *l = &m->L[i];
        if (l->type == L_MOE && (st = mc_moe_create(&l->moe, &l->moe_cfg, m->params + l->p_off, m->grads + l->p_off, err)) != MC_OK)
            goto done;
        if (l->type == L_BATCHNORM)
            for (int c = 0; c < l->in_sh[0]; c++) m->state[l->s_off + l->in_sh[0] + c] = 1.0f; /* running_var = 1 */
    }
done:
    json_decref(root);
    if (st != MC_OK) {
        mc_model_destroy(m);
        return st;
    }
    *out = m;
    return MC_OK;
}

void mc_model_destroy(mc_model *m) {
    if (!m) return;
    for (int i = 0; i < m->n_layers; i++) mc_moe_destroy(m->L[i].moe);
    mc_arena_destroy(m->ws);
    free(m->params);
    free(m->grads);
    free(m->state);
    free(m->arch);
    free(m);
}

const char *mc_model_arch(const mc_model *m) { return m->arch; }
int64_t mc_model_num_params(const mc_model *m) { return m->n_params; }
float *mc_model_params(mc_model *m) { return m->params; }
float *mc_model_grads(mc_model *m) { return m->grads; }
void mc_model_zero_grad(mc_model *m) { memset(m->grads, 0, (size_t)m->n_params * sizeof(float)); }

int mc_model_input_shape(const mc_model *m, int *shape) {
    memcpy(shape, m->in_sh, sizeof(int) * (size_t)m->in_nd);
    return m->in_nd;
}

int mc_model_output_shape(const mc_model *m, int *shape) {
    const layer *l = &m->L[m->n_layers - 1];
    memcpy(shape, l->out_sh, sizeof(int) * (size_t)l->out_nd);
    return l->out_nd;
}

int64_t mc_model_input_size(const mc_model *m) { return prod(m->in_sh, m->in_nd); }
int64_t mc_model_output_size(const mc_model *m) { return m->L[m->n_layers - 1].out_size; }

mc_status mc_model_copy(mc_model *dst, const mc_model *src) {
    if (!dst || !src || strcmp(dst->arch, src->arch) != 0) return MC_ERR_ARG;
    memcpy(dst->params, src->params, (size_t)src->n_params * sizeof(float));
    memcpy(dst->state, src->state, (size_t)src->n_state * sizeof(float));
    for (int i = 0; i < src->n_layers; i++)
        if (src->L[i].moe)
            memcpy(mc_moe_bias(dst->L[i].moe), mc_moe_bias(src->L[i].moe), (size_t)src->L[i].moe_cfg.n_experts * sizeof(float));
    return MC_OK;
}

mc_moe *mc_model_moe(mc_model *m, int i) {
    for (int j = 0; j < m->n_layers; j++)
        if (m->L[j].moe && i-- == 0) return m->L[j].moe;
    return NULL;
}

/* ---- parameter blocks --------------------------------------------------------------------------- */

enum { INIT_UNIFORM, INIT_ONES, INIT_ZEROS, INIT_NONE };

typedef struct block {
    char name[24];
    float *ptr;
    int ndim;
    int64_t shape[5];
    int decay;       /* takes weight decay */
    int state;       /* not a parameter: running statistics or selection bias */
    int init;
    float bound;     /* INIT_UNIFORM: +-bound */
} block;

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

/* The parameter and state blocks of layer li, in the order of the flat array. Returns the count. */
static int layer_blocks(mc_model *m, int li, block *b) {
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

static int64_t block_numel(const block *b) {
    int64_t n = 1;
    for (int i = 0; i < b->ndim; i++) n *= b->shape[i];
    return n;
}

void mc_model_init(mc_model *m, mc_rng *rng) {
    block b[12];
    for (int i = 0; i < m->n_layers; i++) {
        if (m->L[i].moe) mc_moe_init_params(m->L[i].moe, rng);
        int n = layer_blocks(m, i, b);
        for (int j = 0; j < n; j++) {
            int64_t cnt = block_numel(&b[j]);
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
        int n = layer_blocks((mc_model *)m, i, b);
        for (int j = 0; j < n; j++)
            if (!b[j].state) fn(user, b[j].ptr - m->params, block_numel(&b[j]), b[j].decay);
    }
}

/* ---- workspace ------------------------------------------------------------------------------------ */

static int spatial_size(const layer *l, int *sp) {
    int dims = l->in_nd - 1;
    for (int d = 0; d < dims; d++) sp[d] = l->in_sh[1 + d];
    return dims;
}

static mc_layout out_layout(const layer *l) { return l->blk ? MC_LAYOUT_BLOCKED16 : MC_LAYOUT_PLAIN; }
static mc_layout in_layout(const mc_model *m, int i) { return i > 0 ? out_layout(&m->L[i - 1]) : MC_LAYOUT_PLAIN; }

/* Floats per sample of layer l's output as stored: the channels padded to the block when blocked. */
static int64_t out_stored(const layer *l) {
    return l->blk ? l->out_size / l->out_sh[0] * mc_layout_channels(MC_LAYOUT_BLOCKED16, l->out_sh[0]) : l->out_size;
}

/* Lays out every activation buffer for a batch of N. */
static mc_status ensure_workspace(mc_model *m, int N) {
    if (m->ws && N <= m->ws_N) return MC_OK;
    if (!m->ws && !(m->ws = mc_arena_create(MC_DEVICE_CPU, (size_t)1 << 24))) return MC_ERR_NOMEM;
    mc_arena_reset(m->ws);
    mc_arena *a = m->ws;
#define ALLOC(ptr, count) \
    if (!((ptr) = mc_arena_alloc(a, (size_t)(count) * sizeof *(ptr)))) return MC_ERR_NOMEM
    for (int i = 0; i < m->n_layers; i++) {
        layer *l = &m->L[i];
        int64_t C = l->in_sh[0], last = l->in_sh[l->in_nd - 1], rows = (int64_t)N * (l->in_size / last);
        int sp[3];
        int64_t S = l->in_nd > 1 ? prod(l->in_sh + 1, l->in_nd - 1) : 1;
        spatial_size(l, sp);
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
    mc_status st = ensure_workspace(m, N);
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

/* ---- model files ------------------------------------------------------------------------------------ */

#define ARCH_KEY "moesuite.arch"

/* "3.conv.weight": layer index, type and block. */
static void tensor_name(char out[64], const mc_model *m, int li, const block *b) {
    snprintf(out, 64, "%d.%.20s.%.23s", li, ltype_name[m->L[li].type], b->name);
}

mc_status mc_model_save(const mc_model *m, const char *path, const mc_st_tensor *extra_tensors, int n_tensors,
                        const mc_st_meta *extra, int n_extra, mc_error *err) {
    int cap = 12 * m->n_layers + n_tensors + 1, nt = 0;
    mc_st_tensor *t = calloc((size_t)cap, sizeof *t);
    char (*names)[64] = calloc((size_t)cap, sizeof *names);
    mc_st_meta *meta = calloc((size_t)n_extra + 2, sizeof *meta);
    if (!t || !names || !meta) {
        free(t);
        free(names);
        free(meta);
        return mc_error_set(err, MC_ERR_NOMEM, "%s: out of memory", path);
    }
    block b[12];
    for (int i = 0; i < m->n_layers; i++) {
        int n = layer_blocks((mc_model *)m, i, b);
        for (int j = 0; j < n; j++) {
            tensor_name(names[nt], m, i, &b[j]);
            t[nt].name = names[nt];
            t[nt].dtype = MC_F32;
            t[nt].ndim = b[j].ndim;
            for (int d = 0; d < b[j].ndim; d++) t[nt].shape[d] = b[j].shape[d];
            t[nt].data = b[j].ptr;
            t[nt].nbytes = (size_t)block_numel(&b[j]) * sizeof(float);
            nt++;
        }
    }
    for (int i = 0; i < n_tensors; i++) t[nt++] = extra_tensors[i];
    meta[0] = (mc_st_meta){ARCH_KEY, m->arch};
    meta[1] = (mc_st_meta){"moesuite.format", "1"};
    for (int i = 0; i < n_extra; i++) meta[2 + i] = extra[i];
    mc_status st = mc_safetensors_save(path, t, nt, meta, n_extra + 2, err);
    free(t);
    free(names);
    free(meta);
    return st;
}

mc_status mc_model_load(mc_model **out, const char *path, mc_safetensors **f_out, mc_error *err) {
    if (!out || !path) return mc_error_set(err, MC_ERR_ARG, "mc_model_load: invalid arguments");
    *out = NULL;
    if (f_out) *f_out = NULL;
    mc_safetensors *f;
    mc_status st = mc_safetensors_open(&f, path, err);
    if (st != MC_OK) return st;
    const char *arch = mc_safetensors_meta(f, ARCH_KEY);
    if (!arch) {
        mc_safetensors_close(f);
        return mc_error_set(err, MC_ERR_FORMAT, "%s: not a moesuite model (no \"%s\" metadata)", path, ARCH_KEY);
    }
    mc_model *m;
    mc_error e2;
    if ((st = mc_model_create(&m, arch, &e2)) != MC_OK) {
        mc_safetensors_close(f);
        return mc_error_set(err, st, "%s: %s", path, e2.msg);
    }
    block b[12];
    for (int i = 0; i < m->n_layers && st == MC_OK; i++) {
        int n = layer_blocks(m, i, b);
        for (int j = 0; j < n && st == MC_OK; j++) {
            char name[64];
            tensor_name(name, m, i, &b[j]);
            const mc_st_tensor *t = mc_safetensors_find(f, name);
            int same = t && t->dtype == MC_F32 && t->ndim == b[j].ndim;
            for (int d = 0; same && d < b[j].ndim; d++) same = t->shape[d] == b[j].shape[d];
            if (!same) {
                st = mc_error_set(err, MC_ERR_FORMAT, "%s: tensor '%s' is %s", path, name,
                                  t ? "of another dtype or shape than the architecture says" : "missing");
                break;
            }
            memcpy(b[j].ptr, t->data, t->nbytes);
        }
    }
    if (st != MC_OK) {
        mc_model_destroy(m);
        mc_safetensors_close(f);
        return st;
    }
    if (f_out)
        *f_out = f;
    else
        mc_safetensors_close(f);
    *out = m;
    return MC_OK;
}
