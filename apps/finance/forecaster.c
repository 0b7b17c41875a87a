/* forecaster.c: features, targets, network and model file of the MoE return forecaster. */
#include "forecaster.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regime_walk.h"

/* Factors measured in price units (or cumulated volume), which do not compare across symbols or
 * across years of one symbol. */
static const char *const level_factors[] = {
    "sma_20", "ema_20", "wma_20", "macd", "macd_signal", "bb_lower", "bb_mid", "bb_upper", "tr", "atr_14", "obv",
    "chaikin_ad", "donchian_high_20", "donchian_low_20", "sar", "runsd_20",
};

int fin_forecaster_default_features(int *factor) {
    int n = 0;
    for (int i = 0; i < fin_factor_count() && n < FIN_MAX_FEATURES; i++) {
        int level = 0;
        for (size_t j = 0; j < sizeof level_factors / sizeof *level_factors; j++)
            level |= strcmp(fin_factor_name(i), level_factors[j]) == 0;
        if (!level) factor[n++] = i;
    }
    return n;
}

int fin_forecaster_parse_features(const char *list, int *factor, char *msg, size_t size) {
    int n = 0;
    for (const char *p = list;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char name[64];
        if (len == 0 || len >= sizeof name) {
            snprintf(msg, size, "--features: %s in \"%s\"", len ? "a name too long" : "an empty name", list);
            return -1;
        }
        memcpy(name, p, len);
        name[len] = '\0';
        int i = fin_input_index(name);
        if (i < 0) {
            snprintf(msg, size, "--features: unknown input \"%s\" (factor names as `moe-finance factors` writes them, "
                                "regime_p_bull, regime_p_bear)", name);
            return -1;
        }
        for (int k = 0; k < n; k++)
            if (factor[k] == i) {
                snprintf(msg, size, "--features: \"%s\" given twice", name);
                return -1;
            }
        if (n == FIN_MAX_FEATURES) {
            snprintf(msg, size, "--features: more than %d inputs", FIN_MAX_FEATURES);
            return -1;
        }
        factor[n++] = i;
        if (!end) return n;
        p = end + 1;
    }
}

const char *fin_input_name(int i) {
    if (i == FIN_INPUT_P_BULL) return "regime_p_bull";
    if (i == FIN_INPUT_P_BEAR) return "regime_p_bear";
    return fin_factor_name(i);
}

int fin_input_index(const char *name) {
    if (strcmp(name, "regime_p_bull") == 0) return FIN_INPUT_P_BULL;
    if (strcmp(name, "regime_p_bear") == 0) return FIN_INPUT_P_BEAR;
    return fin_factor_index(name);
}

const char *fin_forecaster_arch(int n_inputs, fin_moe_shape s, char *buf, size_t size) {
    snprintf(buf, size,
             "{\"input\":[%d],\"layers\":[{\"type\":\"linear\",\"out\":64},{\"type\":\"act\",\"fn\":\"gelu\"},"
             "{\"type\":\"layernorm\"},{\"type\":\"moe\",\"d_ff\":%d,\"experts\":%d,\"top_k\":%d,\"shared\":1,"
             "%s\"balance\":\"bias\",\"bias_gamma\":0.001},{\"type\":\"add\",\"from\":-2},"
             "{\"type\":\"linear\",\"out\":1}]}",
             n_inputs, s.width, s.experts, s.top_k, s.top_k == 1 ? "\"norm_topk\":false," : "");
    return buf;
}

const char *fin_forecaster_dense_arch(int n_inputs, fin_moe_shape s, char *buf, size_t size) {
    snprintf(buf, size,
             "{\"input\":[%d],\"layers\":[{\"type\":\"linear\",\"out\":64},{\"type\":\"act\",\"fn\":\"gelu\"},"
             "{\"type\":\"layernorm\"},{\"type\":\"linear\",\"out\":%d},{\"type\":\"act\",\"fn\":\"gelu\"},"
             "{\"type\":\"linear\",\"out\":64},{\"type\":\"add\",\"from\":-4},{\"type\":\"linear\",\"out\":1}]}",
             n_inputs, (s.top_k + 1) * s.width);
    return buf;
}

int fin_forecaster_rows(const fin_forecaster *f, const fin_prices *p, int from, int targets, double **x, double **y,
                        int **bar) {
    int nf = fin_factor_count(), F = f->n_features, regimes = 0;
    for (int k = 0; k < F; k++) regimes |= f->factor[k] >= nf;
    if (from > p->n) from = p->n;
    size_t n = (size_t)(p->n ? p->n : 1);
    double *all = malloc(sizeof(double) * n * (size_t)(nf + 2));
    *x = malloc(sizeof(double) * n * (size_t)F);
    *y = malloc(sizeof(double) * n);
    *bar = malloc(sizeof(int) * n);
    fin_series s = {p->n, p->open, p->high, p->low, p->close, p->volume};
    if (!all || !*x || !*y || !*bar || fin_factors_compute_from(&s, from, all) != 0) {
        free(all);
        free(*x);
        free(*y);
        free(*bar);
        *x = *y = NULL;
        *bar = NULL;
        return -1;
    }
    /* the factors of bar t at all + (t - from) * nf; the regime probabilities after them, (n, 2) at
     * all + n * nf: NAN where the walk has not made its first fit, or cannot on a short series */
    double *pb = all + (size_t)p->n * nf, *pr = pb + p->n;
    for (int t = 0; t < p->n; t++) pb[t] = pr[t] = NAN;
    if (regimes) {
        fin_regime_walk w;
        char msg[256];
        fin_regime_walk_default(&w);
        w.seed = f->regime_seed;
        if (fin_regime_walk_run(&w, p, pb, pr, NULL, msg, sizeof msg) != 0)
            for (int t = 0; t < p->n; t++) pb[t] = pr[t] = NAN;
    }
    int rows = 0;
    for (int t = from; t < p->n; t++) {
        if (targets && t + f->horizon >= p->n) break;
        int ok = 1;
        double *row = *x + (size_t)rows * F;
        for (int k = 0; k < F && ok; k++) {
            int i = f->factor[k];
            row[k] = i == FIN_INPUT_P_BULL ? pb[t] : i == FIN_INPUT_P_BEAR ? pr[t] : all[(size_t)(t - from) * nf + i];
            ok = isfinite(row[k]);
        }
        if (!ok) continue;
        (*y)[rows] = targets ? 100.0 * log(p->close[t + f->horizon] / p->close[t]) : NAN;
        (*bar)[rows++] = t;
    }
    free(all);
    return rows;
}

mc_status fin_forecaster_save(const fin_forecaster *f, const char *path, const mc_st_meta *meta, int n_meta, mc_error *err) {
    json_t *names = json_array(), *mean = json_array(), *sd = json_array();
    for (int k = 0; k < f->n_features; k++) {
        json_array_append_new(names, json_string(fin_input_name(f->factor[k])));
        json_array_append_new(mean, json_real(f->mean[k]));
        json_array_append_new(sd, json_real(f->sd[k]));
    }
    char *sn = json_dumps(names, JSON_COMPACT), *sm = json_dumps(mean, JSON_COMPACT | JSON_REAL_PRECISION(17)),
         *ss = json_dumps(sd, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(names);
    json_decref(mean);
    json_decref(sd);
    char horizon[16], seed[32];
    snprintf(horizon, sizeof horizon, "%d", f->horizon);
    snprintf(seed, sizeof seed, "%llu", f->regime_seed);
    mc_st_meta *all = calloc((size_t)n_meta + 6, sizeof *all);
    mc_status st;
    if (!sn || !sm || !ss || !all) {
        st = mc_error_set(err, MC_ERR_NOMEM, "%s: out of memory", path);
    } else {
        int n = 0;
        all[n++] = (mc_st_meta){"moesuite.program", "moe-finance forecaster"};
        all[n++] = (mc_st_meta){"fin.features", sn};
        all[n++] = (mc_st_meta){"fin.mean", sm};
        all[n++] = (mc_st_meta){"fin.sd", ss};
        all[n++] = (mc_st_meta){"fin.horizon", horizon};
        all[n++] = (mc_st_meta){"fin.regime_seed", seed};
        for (int i = 0; i < n_meta; i++) all[n++] = meta[i];
        st = mc_model_save(f->model, path, NULL, 0, all, n, err);
    }
    free(sn);
    free(sm);
    free(ss);
    free(all);
    return st;
}

mc_status fin_forecaster_load(fin_forecaster *f, const char *path, mc_error *err) {
    memset(f, 0, sizeof *f);
    mc_safetensors *file;
    mc_status st = mc_model_load(&f->model, path, &file, err);
    if (st != MC_OK) return st;
    const char *prog = mc_safetensors_meta(file, "moesuite.program");
    json_error_t je;
    json_t *names = json_loads(mc_safetensors_meta(file, "fin.features") ? mc_safetensors_meta(file, "fin.features") : "", 0, &je);
    json_t *mean = json_loads(mc_safetensors_meta(file, "fin.mean") ? mc_safetensors_meta(file, "fin.mean") : "", 0, &je);
    json_t *sd = json_loads(mc_safetensors_meta(file, "fin.sd") ? mc_safetensors_meta(file, "fin.sd") : "", 0, &je);
    const char *h = mc_safetensors_meta(file, "fin.horizon"), *rs = mc_safetensors_meta(file, "fin.regime_seed");
    f->regime_seed = rs ? strtoull(rs, NULL, 10) : 0;
    int shape[4];
    if (!prog || strcmp(prog, "moe-finance forecaster") != 0 || !json_is_array(names) || !json_is_array(mean) ||
        !json_is_array(sd) || !h) {
        st = mc_error_set(err, MC_ERR_FORMAT, "%s: not a moe-finance forecaster (missing its features or statistics)", path);
        goto done;
    }
    f->n_features = (int)json_array_size(names);
    f->horizon = atoi(h);
    if (f->n_features < 1 || f->n_features > FIN_MAX_FEATURES || json_array_size(mean) != (size_t)f->n_features ||
        json_array_size(sd) != (size_t)f->n_features || f->horizon < 1 || f->horizon > 250 ||
        mc_model_input_size(f->model) != f->n_features || mc_model_output_shape(f->model, shape) != 1 || shape[0] != 1) {
        st = mc_error_set(err, MC_ERR_FORMAT, "%s: forecaster metadata does not match its network", path);
        goto done;
    }
    for (int k = 0; k < f->n_features; k++) {
        const char *name = json_string_value(json_array_get(names, (size_t)k));
        f->factor[k] = name ? fin_input_index(name) : -1;
        f->mean[k] = json_number_value(json_array_get(mean, (size_t)k));
        f->sd[k] = json_number_value(json_array_get(sd, (size_t)k));
        if (f->factor[k] < 0 || !isfinite(f->mean[k]) || !(f->sd[k] > 0) || !isfinite(f->sd[k])) {
            st = mc_error_set(err, MC_ERR_FORMAT, "%s: feature %d ('%s') is unknown or has bad statistics", path, k,
                              name ? name : "?");
            goto done;
        }
    }
done:
    json_decref(names);
    json_decref(mean);
    json_decref(sd);
    mc_safetensors_close(file);
    if (st != MC_OK) fin_forecaster_free(f);
    return st;
}

mc_status fin_forecaster_predict(fin_forecaster *f, const double *x, int n, double *out) {
    int F = f->n_features;
    float *in = malloc(sizeof(float) * (size_t)(n ? n : 1) * (size_t)F);
    if (!in) return MC_ERR_NOMEM;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < F; k++) in[(size_t)i * F + k] = (float)((x[(size_t)i * F + k] - f->mean[k]) / f->sd[k]);
    /* one row at a time: the GEMM kernels OpenBLAS picks, and so the rounding, depend on the
     * number of rows (and in the MoE layer on how many rows each expert gets), and a forecast must
     * not change with the other rows it happens to be computed with (no look-ahead, bit for bit) */
    mc_status st = MC_OK;
    for (int i = 0; i < n && st == MC_OK; i++) {
        const float *y;
        if ((st = mc_model_forward(f->model, in + (size_t)i * F, 1, 0, NULL, &y)) == MC_OK) out[i] = y[0];
    }
    free(in);
    return st;
}

void fin_forecaster_free(fin_forecaster *f) {
    mc_model_destroy(f->model);
    f->model = NULL;
}

int fin_forecast_path(fin_forecaster *f, const fin_prices *p, double *out) {
    for (int t = 0; t < p->n; t++) out[t] = NAN;
    double *x, *y, *pred = NULL;
    int *bar, rows = fin_forecaster_rows(f, p, 0, 0, &x, &y, &bar), rc = 0;
    if (rows < 0) return -1;
    if (rows > 0) {
        pred = malloc(sizeof(double) * (size_t)rows);
        if (!pred || fin_forecaster_predict(f, x, rows, pred) != MC_OK) rc = -1;
        for (int i = 0; rc == 0 && i < rows; i++) out[bar[i]] = pred[i];
    }
    free(pred);
    free(x);
    free(y);
    free(bar);
    return rc;
}
