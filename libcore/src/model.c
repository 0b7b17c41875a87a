/* model.c: networks as plain arrays of layers built from a JSON architecture: each layer's
 * settings, shapes and parameter count read and checked from its JSON object, one contiguous
 * parameter array (and one for state), the model's lifecycle and accessors. The layouts and the
 * workspace are in model_layout.c, the parameter blocks in model_params.c, the passes in
 * model_pass.c, model files in model_file.c. */
#include "moecore/model.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_layers.h"

const char *const mc_layer_type_name[L_COUNT] = {
    "linear", "act", "layernorm", "dropout", "moe", "conv", "batchnorm", "maxpool", "avgpool",
    "globalavgpool", "se", "spatial_attention", "mhsa", "add", "flatten",
};

/* ---- architecture parsing ------------------------------------------------------------------------ */

/* Reads an integer field with a default and a range; a default outside the range makes the field
 * required (a linear layer's "out"; an add layer's "from" on the first two layers). */
static int get_int(json_t *o, const char *key, int dflt, int lo, int hi, int *out, int li, mc_error *err) {
    json_t *v = json_object_get(o, key);
    if (!v) {
        if (dflt < lo || dflt > hi) {
            mc_error_set(err, MC_ERR_FORMAT, "architecture: layer %d: \"%s\" is required (an integer from %d to %d)", li, key, lo, hi);
            return -1;
        }
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
        if (strcmp(tn, mc_layer_type_name[i]) == 0) t = i;
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
    mc_model_plan_layouts(m);
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
