/* inspector.c: the supervised defect network: its architecture, its training loop, its inference
 * form with the batch norms folded, and its score. */
#include "inspector.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moecore/log.h"
#include "moecore/loss.h"
#include "moecore/optim.h"
#include "moecore/train.h"

void fab_inspector_arch(char *buf, size_t size, int S) {
    snprintf(buf, size,
             "{\"input\": [1, %d, %d], \"layers\": ["
             "{\"type\": \"conv\", \"out\": 8, \"k\": 3, \"stride\": 2, \"pad\": 1}, {\"type\": \"batchnorm\"}, {\"type\": \"act\", \"fn\": \"relu\"},"
             "{\"type\": \"conv\", \"out\": 16, \"k\": 3, \"stride\": 2, \"pad\": 1}, {\"type\": \"batchnorm\"}, {\"type\": \"act\", \"fn\": \"relu\"},"
             "{\"type\": \"conv\", \"out\": 32, \"k\": 3, \"stride\": 2, \"pad\": 1}, {\"type\": \"batchnorm\"}, {\"type\": \"act\", \"fn\": \"relu\"},"
             "{\"type\": \"se\", \"reduction\": 4},"
             "{\"type\": \"conv\", \"out\": 32, \"k\": 3, \"pad\": 2, \"dil\": 2}, {\"type\": \"batchnorm\"}, {\"type\": \"act\", \"fn\": \"relu\"},"
             "{\"type\": \"spatial_attention\", \"k\": 7},"
             "{\"type\": \"conv\", \"out\": 1, \"k\": 1}]}",
             S, S);
}

void fab_inspector_opts_default(fab_inspector_opts *o) {
    o->epochs = 40;
    o->min_steps = 1500;
    o->batch = 16;
    o->topk = 4;
    o->lr = 1e-2f;
    o->weight_decay = 1e-4f;
    o->focal_alpha = 0.75f;
    o->focal_gamma = 2.0f;
    o->image_weight = 0.5f;
    o->mask_cover = 0.02f;
}

/* The tensor "I.TYPE.BLOCK" of f as floats with n elements, or NULL. */
static const float *block(const mc_safetensors *f, int i, const char *type, const char *name, int64_t n) {
    char key[96];
    snprintf(key, sizeof key, "%d.%s.%s", i, type, name);
    const mc_st_tensor *t = mc_safetensors_find(f, key);
    return t && t->dtype == MC_F32 && t->nbytes == sizeof(float) * (size_t)n ? t->data : NULL;
}

/* Appends n floats to the growing array *p (size *len, capacity *cap); NULL when out of memory. */
static float *grow_params(float **p, int64_t *len, int64_t *cap, int64_t n) {
    if (*len + n > *cap) {
        int64_t c = 2 * (*len + n);
        float *q = realloc(*p, sizeof(float) * (size_t)c);
        if (!q) return NULL;
        *p = q;
        *cap = c;
    }
    float *at = *p + *len;
    *len += n;
    return at;
}

/* Copies count blocks of layer i (type) named names[] with sizes sz[] onto p. 0, or -1 when one is
 * missing or of the wrong size, or memory ran out. */
static int copy_blocks(const mc_safetensors *f, int i, const char *type, const char *const *names, const int64_t *sz,
                       int count, float **p, int64_t *len, int64_t *cap) {
    for (int j = 0; j < count; j++) {
        const float *src = block(f, i, type, names[j], sz[j]);
        float *dst = src ? grow_params(p, len, cap, sz[j]) : NULL;
        if (!dst) return -1;
        memcpy(dst, src, sizeof(float) * (size_t)sz[j]);
    }
    return 0;
}

/* Appends conv layer i's weight and bias, with the batch norm at layer i + 1 folded in when bn. */
static int fold_conv(const mc_safetensors *f, int i, int oc, int64_t per, int bn, double eps, float **p, int64_t *len,
                     int64_t *cap) {
    const float *w = block(f, i, "conv", "weight", oc * per), *b = block(f, i, "conv", "bias", oc);
    const float *gamma = bn ? block(f, i + 1, "batchnorm", "weight", oc) : NULL;
    const float *beta = bn ? block(f, i + 1, "batchnorm", "bias", oc) : NULL;
    const float *mean = bn ? block(f, i + 1, "batchnorm", "running_mean", oc) : NULL;
    const float *var = bn ? block(f, i + 1, "batchnorm", "running_var", oc) : NULL;
    if (!w || !b || (bn && (!gamma || !beta || !mean || !var))) return -1;
    float *dst = grow_params(p, len, cap, oc * per + oc);
    if (!dst) return -1;
    for (int o = 0; o < oc; o++) {
        double scale = bn ? gamma[o] / sqrt((double)var[o] + eps) : 1.0;
        for (int64_t j = 0; j < per; j++) dst[o * per + j] = (float)(w[o * per + j] * scale);
        dst[oc * per + o] = (float)(bn ? (b[o] - mean[o]) * scale + beta[o] : b[o]);
    }
    return 0;
}

static const char *type_of(json_t *layer) {
    const char *t = json_string_value(json_object_get(layer, "type"));
    return t ? t : "";
}

mc_status fab_inspector_fold(mc_model **out, const char *arch, const mc_safetensors *f, mc_error *err) {
    *out = NULL;
    json_t *a = json_loads(arch, 0, NULL), *layers = json_object_get(a, "layers"), *kept = json_array();
    mc_model *m = NULL;
    float *p = NULL;
    int64_t n = 0, cap = 0;
    mc_status st = MC_ERR_UNSUPPORTED;
    if (!json_is_array(layers) || !kept) goto done;
    int c = (int)json_integer_value(json_array_get(json_object_get(a, "input"), 0));
    size_t nl = json_array_size(layers);
    /* the parameters block after block in layer order, as the model lays them out */
    for (size_t i = 0; i < nl; i++) {
        json_t *l = json_array_get(layers, i);
        const char *type = type_of(l);
        int rc = 0;
        if (strcmp(type, "conv") == 0) {
            int oc = (int)json_integer_value(json_object_get(l, "out"));
            int k = (int)json_integer_value(json_object_get(l, "k"));
            json_t *g = json_object_get(l, "groups"), *next = json_array_get(layers, i + 1), *eps;
            int groups = json_is_integer(g) ? (int)json_integer_value(g) : 1;
            int bn = next && strcmp(type_of(next), "batchnorm") == 0;
            eps = bn ? json_object_get(next, "eps") : NULL;
            if (oc < 1 || k < 1 || groups < 1 || c % groups) goto done;
            rc = fold_conv(f, (int)i, oc, (int64_t)(c / groups) * k * k, bn, json_is_number(eps) ? json_number_value(eps) : 1e-5,
                           &p, &n, &cap);
            c = oc;
        } else if (strcmp(type, "se") == 0) {
            int64_t r = c / json_integer_value(json_object_get(l, "reduction"));
            static const char *const names[] = {"w1", "b1", "w2", "b2"};
            const int64_t sz[] = {r * c, r, c * r, c};
            rc = copy_blocks(f, (int)i, "se", names, sz, 4, &p, &n, &cap);
        } else if (strcmp(type, "spatial_attention") == 0) {
            int64_t k = json_integer_value(json_object_get(l, "k"));
            static const char *const names[] = {"weight", "bias"};
            const int64_t sz[] = {2 * k * k, 1};
            rc = copy_blocks(f, (int)i, "spatial_attention", names, sz, 2, &p, &n, &cap);
        } else if (strcmp(type, "batchnorm") == 0) {
            continue; /* folded into the convolution before it */
        } else if (strcmp(type, "act") != 0) {
            goto done;
        }
        if (rc != 0 || json_array_append(kept, l) != 0) goto done;
    }
    json_object_set(a, "layers", kept);
    char *text = json_dumps(a, JSON_COMPACT);
    st = text ? mc_model_create(&m, text, err) : MC_ERR_NOMEM;
    free(text);
    if (st != MC_OK) goto done;
    if (mc_model_num_params(m) != n) {
        st = MC_ERR_UNSUPPORTED;
        goto done;
    }
    memcpy(mc_model_params(m), p, sizeof(float) * (size_t)n);
    *out = m;
    m = NULL;
done:
    if (st == MC_ERR_UNSUPPORTED) mc_error_set(err, st, "the network cannot be folded for inference");
    mc_model_destroy(m);
    free(p);
    json_decref(kept);
    json_decref(a);
    return st;
}

/* Indices of the k largest of v (n), into idx; returns k clipped to n. */
static int top_k(const float *v, int n, int k, int *idx) {
    if (k > n) k = n;
    for (int j = 0; j < k; j++) idx[j] = -1;
    for (int i = 0; i < n; i++) {
        int j = k - 1;
        if (idx[j] >= 0 && v[i] <= v[idx[j]]) continue;
        while (j > 0 && (idx[j - 1] < 0 || v[i] > v[idx[j - 1]])) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
    return k;
}

double fab_inspector_score(const float *logits, int n, int topk, float *prob) {
    int idx[64];
    int k = top_k(logits, n, topk < 64 ? topk : 64, idx);
    double z = 0;
    for (int j = 0; j < k; j++) z += logits[idx[j]];
    z /= k;
    if (prob)
        for (int i = 0; i < n; i++) prob[i] = (float)(1 / (1 + exp(-(double)logits[i])));
    return 1 / (1 + exp(-z));
}

/* dst (S, S) = the dihedral transform t (0..7) of src (S, S): bit 0 flips x, bit 1 flips y, bit 2
 * transposes. */
static void dihedral(float *dst, const float *src, int S, int t) {
    for (int y = 0; y < S; y++) {
        for (int x = 0; x < S; x++) {
            int sx = x, sy = y;
            if (t & 4) {
                sx = y;
                sy = x;
            }
            if (t & 1) sx = S - 1 - sx;
            if (t & 2) sy = S - 1 - sy;
            dst[(size_t)y * S + x] = src[(size_t)sy * S + sx];
        }
    }
}

/* Map-resolution targets of every image: 1 where at least cover of the cell's pixels is defect. */
static float *map_targets(const fab_image_set *s, float cover) {
    int S = s->size, M = S / FAB_MAP_STRIDE;
    float *t = malloc(sizeof(float) * (size_t)s->n * M * M + 1);
    if (!t) return NULL;
    for (int i = 0; i < s->n; i++) {
        const float *m = s->mask + (size_t)i * S * S;
        for (int cy = 0; cy < M; cy++) {
            for (int cx = 0; cx < M; cx++) {
                double f = 0;
                for (int y = 0; y < FAB_MAP_STRIDE; y++)
                    for (int x = 0; x < FAB_MAP_STRIDE; x++) f += m[(size_t)(cy * FAB_MAP_STRIDE + y) * S + cx * FAB_MAP_STRIDE + x];
                f /= FAB_MAP_STRIDE * FAB_MAP_STRIDE;
                t[((size_t)i * M + cy) * M + cx] = f >= cover && f > 0 ? 1.0f : 0.0f;
            }
        }
    }
    return t;
}

/* The mean log loss of m's image scores on the images of val (evaluation mode), in batches of 16. */
static mc_status val_log_loss(mc_model *m, const fab_image_set *val, int topk, double *loss) {
    const int S = val->size, MM = (S / FAB_MAP_STRIDE) * (S / FAB_MAP_STRIDE);
    double sum = 0;
    for (int i = 0; i < val->n; i += 16) {
        int nb = val->n - i < 16 ? val->n - i : 16;
        const float *logits;
        mc_status st = mc_model_forward(m, val->x + (size_t)i * S * S, nb, 0, NULL, &logits);
        if (st != MC_OK) return st;
        for (int b = 0; b < nb; b++) {
            double p = fab_inspector_score(logits + (size_t)b * MM, MM, topk, NULL);
            p = p < 1e-7 ? 1e-7 : p > 1 - 1e-7 ? 1 - 1e-7 : p;
            sum -= val->label[i + b] ? log(p) : log(1 - p);
        }
    }
    *loss = val->n ? sum / val->n : 0;
    return MC_OK;
}

mc_status fab_inspector_train(mc_model **out, const fab_image_set *train, const fab_image_set *val,
                              const fab_inspector_opts *o, mc_rng *rng, fab_epoch_fn on_epoch, void *user, mc_error *err) {
    *out = NULL;
    const int S = train->size, M = S / FAB_MAP_STRIDE, MM = M * M, B = o->batch;
    int n_good = fab_image_set_count(train, 0), n_def = fab_image_set_count(train, 1);
    if (S % FAB_MAP_STRIDE || S < 32) return mc_error_set(err, MC_ERR_ARG, "image size %d: a multiple of 8, at least 32", S);
    if (n_good < 1 || n_def < 1)
        return mc_error_set(err, MC_ERR_ARG, "supervised training needs good and defect images (%d good, %d defect)",
                            n_good, n_def);
    char arch[2048];
    fab_inspector_arch(arch, sizeof arch, S);
    mc_model *m = NULL, *best = NULL;
    mc_status st = mc_model_create(&m, arch, err);
    if (st != MC_OK) return st;
    mc_model_init(m, rng);
    double best_loss = INFINITY;
    int best_epoch = -1;
    int *good = malloc(sizeof(int) * (size_t)n_good), *def = malloc(sizeof(int) * (size_t)n_def);
    float *x = malloc(sizeof(float) * (size_t)B * S * S), *tgt = malloc(sizeof(float) * (size_t)B * MM);
    float *dout = malloc(sizeof(float) * (size_t)B * MM), *targets = map_targets(train, o->mask_cover);
    int *pick = malloc(sizeof(int) * (size_t)B);
    mc_optim_config oc = {MC_OPTIM_ADAMW, 0, 0.9f, 0.999f, 1e-8f};
    mc_optim *opt = mc_optim_create(&oc, mc_model_num_params(m));
    if (!good || !def || !x || !tgt || !dout || !targets || !pick || !opt) {
        st = mc_error_set(err, MC_ERR_NOMEM, "out of memory for training");
        goto done;
    }
    if (val && val->n > 0 && (st = mc_model_create(&best, arch, err)) != MC_OK) goto done;
    for (int i = 0, a = 0, b = 0; i < train->n; i++) {
        if (train->label[i]) def[b++] = i;
        else good[a++] = i;
    }
    int steps_per_epoch = (train->n + B - 1) / B;
    /* small sets: as many epochs as it takes to make min_steps optimiser steps */
    int epochs = o->epochs;
    if ((int64_t)epochs * steps_per_epoch < o->min_steps) {
        epochs = (o->min_steps + steps_per_epoch - 1) / steps_per_epoch;
        mc_log_info("%d epochs of %d steps, to make at least %d steps", epochs, steps_per_epoch, o->min_steps);
    }
    mc_lr_schedule sched = {o->lr, o->lr * 0.02f, (int64_t)steps_per_epoch * epochs / 20,
                            (int64_t)steps_per_epoch * epochs};
    int64_t step = 0;
    for (int epoch = 0; epoch < epochs; epoch++) {
        double sum = 0;
        for (int s = 0; s < steps_per_epoch; s++, step++) {
            /* a balanced batch: half good, half defect, each with a random flip or rotation */
            for (int b = 0; b < B; b++) {
                int i = b % 2 ? def[mc_rng_below(rng, (uint64_t)n_def)] : good[mc_rng_below(rng, (uint64_t)n_good)];
                int t = (int)mc_rng_below(rng, 8);
                pick[b] = i;
                dihedral(x + (size_t)b * S * S, train->x + (size_t)i * S * S, S, t);
                dihedral(tgt + (size_t)b * MM, targets + (size_t)i * MM, M, t);
            }
            const float *logits;
            if ((st = mc_model_forward(m, x, B, 1, rng, &logits)) != MC_OK) {
                mc_error_set(err, st, "training forward failed");
                goto done;
            }
            memset(dout, 0, sizeof(float) * (size_t)B * MM);
            int n_pix = 0;
            for (int b = 0; b < B; b++) n_pix += train->has_mask[pick[b]];
            double loss = 0;
            for (int b = 0; b < B; b++) {
                const float *lg = logits + (size_t)b * MM;
                float *g = dout + (size_t)b * MM;
                if (train->has_mask[pick[b]])
                    loss += mc_focal_loss(g, 1.0f / n_pix, lg, tgt + (size_t)b * MM, MM, o->focal_alpha, o->focal_gamma) / n_pix;
                /* image score: mean of the top-k logits against the image label */
                int idx[64];
                int k = top_k(lg, MM, o->topk < 64 ? o->topk : 64, idx);
                float z = 0, dz = 0, y = (float)train->label[pick[b]];
                for (int j = 0; j < k; j++) z += lg[idx[j]] / k;
                loss += o->image_weight * mc_bce_logits_loss(&dz, o->image_weight / B, &z, &y, 1, 1.0f) / B;
                for (int j = 0; j < k; j++) g[idx[j]] += dz / k;
            }
            sum += loss;
            mc_model_zero_grad(m);
            if ((st = mc_model_backward(m, dout, NULL)) != MC_OK) {
                mc_error_set(err, st, "training backward failed");
                goto done;
            }
            mc_clip_grad_norm(mc_model_grads(m), mc_model_num_params(m), 1.0);
            mc_train_update(m, opt, mc_lr_at(&sched, step), o->weight_decay);
        }
        /* early stopping: the parameters of the epoch with the lowest held-out log loss, looked at
         * from the end of the first fifth of the epochs on (before, the network is still far off) */
        double vl = NAN;
        if (best && epoch + 1 >= epochs / 5) {
            if ((st = val_log_loss(m, val, o->topk, &vl)) != MC_OK) {
                mc_error_set(err, st, "held-out forward failed");
                goto done;
            }
            if (vl < best_loss) {
                best_loss = vl;
                best_epoch = epoch;
                mc_model_copy(best, m);
            }
        }
        if (on_epoch && on_epoch(user, epoch, epochs, sum / steps_per_epoch, vl)) break;
    }
    if (best && best_epoch >= 0) {
        mc_model_copy(m, best);
        mc_log_info("kept the parameters of epoch %d (held-out log loss %.4f)", best_epoch + 1, best_loss);
    }
    *out = m;
    m = NULL;
done:
    mc_model_destroy(m);
    mc_model_destroy(best);
    mc_optim_destroy(opt);
    free(good);
    free(def);
    free(x);
    free(tgt);
    free(dout);
    free(targets);
    free(pick);
    return st;
}
