/* detector.c: either inspection model behind one interface, and its model file. */
#include "detector.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inspector.h"

const char *fab_mode_name(fab_mode m) { return m == FAB_MODE_ANOMALY ? "anomaly" : "supervised"; }

mc_status fab_detector_run(fab_detector *d, const float *x, int n, float *map, double *score) {
    if (d->mode == FAB_MODE_ANOMALY) {
        mc_error err;
        return fab_anomaly_score(&d->anomaly, x, n, map, score, &err);
    }
    const float *logits;
    mc_status st = mc_model_forward(d->net, x, n, 0, NULL, &logits);
    if (st != MC_OK) return st;
    const int MM = d->map * d->map;
    for (int k = 0; k < n; k++)
        score[k] = fab_inspector_score(logits + (size_t)k * MM, MM, d->topk, map + (size_t)k * MM);
    return MC_OK;
}

mc_status fab_detector_save(const fab_detector *d, const char *path, const char *extra_json, const mc_st_meta *provenance,
                            int n_meta, mc_error *err) {
    json_t *j = json_pack("{s:s, s:i, s:i, s:i, s:f, s:s, s:s}", "mode", fab_mode_name(d->mode), "size", d->size, "map",
                          d->map, "topk", d->topk, "threshold", d->threshold, "threshold_method", d->method,
                          "preprocess", "grey (0.299 R + 0.587 G + 0.114 B), area resize to size x size, per-image standardisation");
    if (!j) return mc_error_set(err, MC_ERR_NOMEM, "%s: out of memory", path);
    if (d->mode == FAB_MODE_ANOMALY) json_object_set_new(j, "features", json_string(fab_anomaly_features_name));
    if (extra_json) {
        json_t *extra = json_loads(extra_json, 0, NULL);
        if (json_is_object(extra)) json_object_update(j, extra);
        json_decref(extra);
    }
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    mc_st_meta *meta = malloc(sizeof(mc_st_meta) * (size_t)(n_meta + 1));
    if (!text || !meta) {
        free(text);
        free(meta);
        return mc_error_set(err, MC_ERR_NOMEM, "%s: out of memory", path);
    }
    meta[0] = (mc_st_meta){"moesuite.inspect", text};
    for (int i = 0; i < n_meta; i++) meta[i + 1] = provenance[i];
    mc_status st;
    if (d->mode == FAB_MODE_SUPERVISED) {
        st = mc_model_save(d->net, path, NULL, 0, meta, n_meta + 1, err);
    } else {
        const fab_anomaly *a = &d->anomaly;
        mc_st_tensor t[3] = {
            {"anomaly.mean", MC_F32, 1, {FAB_ANOMALY_DIM}, a->mean, sizeof(float) * FAB_ANOMALY_DIM},
            {"anomaly.std", MC_F32, 1, {FAB_ANOMALY_DIM}, a->std, sizeof(float) * FAB_ANOMALY_DIM},
            {"anomaly.bank", MC_F32, 2, {a->n_bank, FAB_ANOMALY_DIM}, a->bank, sizeof(float) * (size_t)a->n_bank * FAB_ANOMALY_DIM},
        };
        st = mc_safetensors_save(path, t, 3, meta, n_meta + 1, err);
    }
    free(text);
    free(meta);
    return st;
}

/* The model file's bytes hashed (the identity of the model in the results store). */
static mc_status hash_file(const char *path, char hex[MC_SHA256_HEX], mc_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return mc_error_set(err, MC_ERR_IO, "%s: cannot open", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    int ok = buf && fread(buf, 1, (size_t)n, f) == (size_t)n;
    fclose(f);
    if (ok) mc_sha256_hex(buf, (size_t)n, hex);
    free(buf);
    return ok ? MC_OK : mc_error_set(err, MC_ERR_IO, "%s: read error", path);
}

static const float *tensor_f32(const mc_safetensors *f, const char *name, int ndim, int64_t d0, int64_t d1) {
    const mc_st_tensor *t = mc_safetensors_find(f, name);
    if (!t || t->dtype != MC_F32 || t->ndim != ndim || t->shape[0] < 1 || (d0 > 0 && t->shape[0] != d0) ||
        (ndim == 2 && t->shape[1] != d1))
        return NULL;
    return t->data;
}

/* The settings common to both modes from the "moesuite.inspect" JSON j into d; 0 when they hold. */
static int read_settings(fab_detector *d, const json_t *j) {
    json_t *thr = json_object_get(j, "threshold");
    const char *method = json_string_value(json_object_get(j, "threshold_method"));
    d->size = (int)json_integer_value(json_object_get(j, "size"));
    d->map = (int)json_integer_value(json_object_get(j, "map"));
    d->topk = (int)json_integer_value(json_object_get(j, "topk"));
    if (!json_is_number(thr) || !isfinite(json_number_value(thr)) || !method || d->size < 16 || d->size > 4096 ||
        d->size % 8 || d->map != d->size / 8 || d->topk < 1 || d->topk > 64)
        return -1;
    d->threshold = json_number_value(thr);
    snprintf(d->method, sizeof d->method, "%s", method);
    return 0;
}

/* The supervised network of the model file at path, checked against d's settings. */
static mc_status load_supervised(fab_detector *d, const char *path, mc_error *err) {
    mc_model *net = NULL;
    mc_safetensors *f = NULL;
    mc_status st = mc_model_load(&net, path, &f, err);
    if (st != MC_OK) return st;
    int shape[4], in_shape[4];
    int ndim = mc_model_output_shape(net, shape), in_dim = mc_model_input_shape(net, in_shape);
    if (in_dim != 3 || in_shape[0] != 1 || in_shape[1] != d->size || in_shape[2] != d->size || ndim != 3 ||
        shape[0] != 1 || shape[1] != d->map || shape[2] != d->map) {
        st = mc_error_set(err, MC_ERR_FORMAT, "%s: the supervised network does not fit the model's settings", path);
    } else {
        /* inference runs with the batch norms folded into the convolutions */
        mc_model *folded = NULL;
        mc_error ferr;
        if (fab_inspector_fold(&folded, mc_model_arch(net), f, &ferr) == MC_OK) {
            d->net = folded;
            mc_model_destroy(net);
        } else {
            d->net = net;
        }
        net = NULL;
    }
    mc_model_destroy(net);
    mc_safetensors_close(f);
    return st;
}

/* The anomaly model's statistics and bank from the open model file f. */
static mc_status load_anomaly(fab_detector *d, const json_t *j, const mc_safetensors *f, const char *path, mc_error *err) {
    const char *features = json_string_value(json_object_get(j, "features"));
    if (!features || strcmp(features, fab_anomaly_features_name) != 0)
        return mc_error_set(err, MC_ERR_FORMAT, "%s: an anomaly model with other patch features (\"%s\"); this build uses \"%s\": train it again",
                            path, features ? features : "random convolutions", fab_anomaly_features_name);
    mc_status st = mc_safetensors_check_finite(f, path, err);
    if (st != MC_OK) return st;
    const float *mean = tensor_f32(f, "anomaly.mean", 1, FAB_ANOMALY_DIM, 0);
    const float *sd = tensor_f32(f, "anomaly.std", 1, FAB_ANOMALY_DIM, 0);
    const float *bank = tensor_f32(f, "anomaly.bank", 2, 0, FAB_ANOMALY_DIM);
    int sd_ok = sd != NULL;
    for (int c = 0; sd_ok && c < FAB_ANOMALY_DIM; c++) sd_ok = sd[c] > 0;
    if (!mean || !sd_ok || !bank || mc_safetensors_find(f, "anomaly.bank")->shape[0] > 100000000)
        return mc_error_set(err, MC_ERR_FORMAT, "%s: the anomaly model's statistics or memory bank are missing or malformed", path);
    int n_bank = (int)mc_safetensors_find(f, "anomaly.bank")->shape[0];
    mc_error e;
    if ((st = fab_anomaly_from_tensors(&d->anomaly, d->size, mean, sd, bank, n_bank, &e)) != MC_OK)
        return mc_error_set(err, st, "%s: %s", path, e.msg);
    return MC_OK;
}

mc_status fab_detector_load(fab_detector **out, const char *path, mc_error *err) {
    *out = NULL;
    fab_detector *d = calloc(1, sizeof *d);
    if (!d) return mc_error_set(err, MC_ERR_NOMEM, "%s: out of memory", path);
    mc_safetensors *f = NULL;
    json_t *j = NULL;
    mc_status st = mc_safetensors_open(&f, path, err);
    if (st != MC_OK) goto fail;
    const char *info = mc_safetensors_meta(f, "moesuite.inspect");
    j = info ? json_loads(info, 0, NULL) : NULL;
    const char *mode = json_string_value(json_object_get(j, "mode"));
    if (!j || !mode || (strcmp(mode, "supervised") != 0 && strcmp(mode, "anomaly") != 0) || read_settings(d, j) != 0) {
        st = mc_error_set(err, MC_ERR_FORMAT, "%s: not an inspection model (its \"moesuite.inspect\" settings are missing or invalid)", path);
        goto fail;
    }
    d->info = strdup(info);
    d->mode = strcmp(mode, "anomaly") == 0 ? FAB_MODE_ANOMALY : FAB_MODE_SUPERVISED;
    st = d->mode == FAB_MODE_ANOMALY ? load_anomaly(d, j, f, path, err) : load_supervised(d, path, err);
    if (st != MC_OK || (st = hash_file(path, d->sha256, err)) != MC_OK) goto fail;
    json_decref(j);
    mc_safetensors_close(f);
    *out = d;
    return MC_OK;
fail:
    json_decref(j);
    mc_safetensors_close(f);
    fab_detector_free(d);
    return st;
}

void fab_detector_clear(fab_detector *d) {
    if (!d) return;
    mc_model_destroy(d->net);
    fab_anomaly_free(&d->anomaly);
    free(d->info);
    memset(d, 0, sizeof *d);
}

void fab_detector_free(fab_detector *d) {
    fab_detector_clear(d);
    free(d);
}
