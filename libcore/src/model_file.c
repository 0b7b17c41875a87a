/* model_file.c: a network as a safetensors file (model_io.c): one tensor per parameter block
 * (model_params.c), named "<layer>.<type>.<block>", and the architecture in the metadata, from which
 * loading rebuilds the network before it checks and copies every tensor. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_layers.h"

#define ARCH_KEY "moesuite.arch"

/* "3.conv.weight": layer index, type and block. */
static void tensor_name(char out[64], const mc_model *m, int li, const block *b) {
    snprintf(out, 64, "%d.%.20s.%.23s", li, mc_layer_type_name[m->L[li].type], b->name);
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
        int n = mc_layer_blocks((mc_model *)m, i, b);
        for (int j = 0; j < n; j++) {
            tensor_name(names[nt], m, i, &b[j]);
            t[nt].name = names[nt];
            t[nt].dtype = MC_F32;
            t[nt].ndim = b[j].ndim;
            for (int d = 0; d < b[j].ndim; d++) t[nt].shape[d] = b[j].shape[d];
            t[nt].data = b[j].ptr;
            t[nt].nbytes = (size_t)mc_block_numel(&b[j]) * sizeof(float);
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
    if ((st = mc_safetensors_check_finite(f, path, err)) != MC_OK) {
        mc_safetensors_close(f);
        return st;
    }
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
        int n = mc_layer_blocks(m, i, b);
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
