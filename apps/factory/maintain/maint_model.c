/* maint_model.c: rows, network, training, prediction, attribution and model file of predictive
 * maintenance. */
#include "maint_model.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAB_MODEL_PROGRAM "moe-factory maintain"

static int rows_grow(fab_rows *r, int need) {
    if (need <= r->cap) return 0;
    int cap = need * 2 + 256;
    double *x = realloc(r->x, sizeof(double) * (size_t)cap * (size_t)r->F);
    if (!x) return -1;
    r->x = x;
    double **arr[] = {&r->t, &r->rul, &r->left};
    for (int k = 0; k < 3; k++) {
        double *p = realloc(*arr[k], sizeof(double) * (size_t)cap);
        if (!p) return -1;
        *arr[k] = p;
    }
    int *mi = realloc(r->machine, sizeof(int) * (size_t)cap);
    if (!mi) return -1;
    r->machine = mi;
    r->cap = cap;
    return 0;
}

int fab_rows_add_machine(fab_rows *r, const fab_feature_spec *spec, const fab_sensor_log *log, int i) {
    const fab_machine *m = &log->m[i];
    r->F = fab_feature_count(spec);
    double end = isnan(m->failure) ? m->t[m->n - 1] : m->failure;
    double reach = fmin(end, m->t[m->n - 1] + spec->window); /* no window past it holds a sample */
    int max = (int)((reach - m->t[0]) / spec->stride) + 2;
    if (max < 1) return 0;
    double *times = malloc(sizeof(double) * (size_t)max);
    if (!times || rows_grow(r, r->n + max) != 0) {
        free(times);
        return -1;
    }
    int nt = fab_eval_times(spec, m, reach, times, max);
    for (int k = 0; k < nt; k++) {
        if (fab_features_at(spec, m, times[k], r->x + (size_t)r->n * r->F) != 0) continue;
        r->t[r->n] = times[k];
        r->rul[r->n] = isnan(m->failure) ? NAN : m->failure - times[k];
        r->left[r->n] = end - times[k];
        r->machine[r->n] = i;
        r->n++;
    }
    free(times);
    return 0;
}

void fab_rows_free(fab_rows *r) {
    free(r->x);
    free(r->t);
    free(r->rul);
    free(r->left);
    free(r->machine);
    memset(r, 0, sizeof *r);
}

int fab_rul_censored(const fab_maint_model *m, double rul) { return rul >= (1 - FAB_RUL_CENSOR_TOL) * m->cap; }

int fab_row_trainable(const fab_rows *r, int i, double span) { return !isnan(r->rul[i]) || r->left[i] >= span; }

double fab_maint_known_span(const fab_maint_model *m) { return fmax(m->cap, m->target_horizon); }

const char *fab_maint_arch(int F, char *buf, size_t size) {
    snprintf(buf, size,
             "{\"input\":[%d],\"layers\":[{\"type\":\"linear\",\"out\":32},{\"type\":\"act\",\"fn\":\"gelu\"},"
             "{\"type\":\"layernorm\"},{\"type\":\"moe\",\"d_ff\":32,\"experts\":4,\"top_k\":2,\"shared\":1,"
             "\"balance\":\"bias\",\"bias_gamma\":0.001},{\"type\":\"add\",\"from\":-2},{\"type\":\"linear\",\"out\":2}]}",
             F);
    return buf;
}

/* Standardised inputs and targets of the trainable rows of r. */
static int make_set(const fab_maint_model *m, const fab_rows *r, float **x, float **y) {
    int F = m->n_features, n = 0;
    *x = malloc(sizeof(float) * (size_t)(r->n ? r->n : 1) * (size_t)F);
    *y = malloc(sizeof(float) * 2 * (size_t)(r->n ? r->n : 1));
    if (!*x || !*y) return -1;
    for (int i = 0; i < r->n; i++) {
        if (!fab_row_trainable(r, i, fab_maint_known_span(m))) continue;
        for (int k = 0; k < F; k++) (*x)[(size_t)n * F + k] = (float)((r->x[(size_t)i * F + k] - m->mean[k]) / m->sd[k]);
        double rul = isnan(r->rul[i]) ? m->cap : fmin(r->rul[i], m->cap);
        (*y)[2 * n] = (float)(rul / m->cap);
        (*y)[2 * n + 1] = !isnan(r->rul[i]) && r->rul[i] <= m->target_horizon ? 1.0f : 0.0f;
        n++;
    }
    return n;
}

mc_status fab_maint_fit(fab_maint_model *m, const fab_rows *train, const fab_rows *val, uint64_t seed, int epochs,
                        mc_train_result *res, mc_error *err) {
    if (!(m->target_horizon >= m->horizon))
        return mc_error_set(err, MC_ERR_ARG, "target horizon %g h is shorter than the horizon %g h", m->target_horizon,
                            m->horizon);
    int F = m->n_features = fab_feature_count(&m->spec);
    long n = 0;
    for (int k = 0; k < F; k++) m->mean[k] = m->sd[k] = 0;
    for (int i = 0; i < train->n; i++) {
        if (!fab_row_trainable(train, i, fab_maint_known_span(m))) continue;
        for (int k = 0; k < F; k++) m->mean[k] += train->x[(size_t)i * F + k];
        n++;
    }
    if (n < 20) return mc_error_set(err, MC_ERR_ARG, "%ld training rows: too few to train on", n);
    for (int k = 0; k < F; k++) m->mean[k] /= n;
    for (int i = 0; i < train->n; i++) {
        if (!fab_row_trainable(train, i, fab_maint_known_span(m))) continue;
        for (int k = 0; k < F; k++) m->sd[k] += pow(train->x[(size_t)i * F + k] - m->mean[k], 2) / n;
    }
    for (int k = 0; k < F; k++) m->sd[k] = m->sd[k] > 1e-12 ? sqrt(m->sd[k]) : 1;
    char arch[1024];
    mc_status st = mc_model_create(&m->net, fab_maint_arch(F, arch, sizeof arch), err);
    if (st != MC_OK) return st;
    float *xt = NULL, *yt = NULL, *xv = NULL, *yv = NULL;
    int nt = make_set(m, train, &xt, &yt), nv = val ? make_set(m, val, &xv, &yv) : 0;
    if (nt < 0 || nv < 0) {
        st = mc_error_set(err, MC_ERR_NOMEM, "out of memory");
    } else {
        mc_rng *rng = mc_rng_create(seed);
        mc_model_init(m->net, rng);
        mc_rng_destroy(rng);
        mc_train_config cfg;
        mc_train_config_default(&cfg);
        cfg.epochs = epochs;
        cfg.batch = 64;
        cfg.lr = 1e-3f;
        cfg.loss = MC_LOSS_BCE;
        cfg.patience = nv > 0 ? 8 : 0;
        cfg.seed = seed;
        mc_dataset dt = {xt, yt, nt, 2, NULL}, dv = {xv, yv, nv, 2, NULL};
        st = mc_train(m->net, &cfg, &dt, nv > 0 ? &dv : NULL, res, err);
    }
    free(xt);
    free(yt);
    free(xv);
    free(yv);
    return st;
}

mc_status fab_maint_predict(fab_maint_model *m, const double *x, int n, double *rul, double *p) {
    int F = m->n_features;
    float *in = malloc(sizeof(float) * 256 * (size_t)F);
    if (!in) return MC_ERR_NOMEM;
    mc_status st = MC_OK;
    for (int s = 0; s < n && st == MC_OK; s += 256) {
        int b = n - s < 256 ? n - s : 256;
        for (int i = 0; i < b; i++)
            for (int k = 0; k < F; k++)
                in[(size_t)i * F + k] = (float)((x[(size_t)(s + i) * F + k] - m->mean[k]) / m->sd[k]);
        const float *y;
        if ((st = mc_model_forward(m->net, in, b, 0, NULL, &y)) != MC_OK) break;
        for (int i = 0; i < b; i++) {
            if (rul) rul[s + i] = m->cap / (1.0 + exp(-(double)y[2 * i]));
            if (p) p[s + i] = 1.0 / (1.0 + exp(-(double)y[2 * i + 1]));
        }
    }
    free(in);
    return st;
}

mc_status fab_maint_drivers(fab_maint_model *m, const double *x, double *score) {
    int F = m->n_features, S = m->spec.n_sensors;
    double *rows = malloc(sizeof(double) * (size_t)(S + 1) * (size_t)F), *p = malloc(sizeof(double) * (size_t)(S + 1));
    if (!rows || !p) {
        free(rows);
        free(p);
        return MC_ERR_NOMEM;
    }
    /* row 0 is x itself; row 1 + s has column s's features at their training mean */
    for (int r = 0; r <= S; r++) {
        memcpy(rows + (size_t)r * F, x, sizeof(double) * (size_t)F);
        if (r > 0)
            for (int k = 0; k < F; k++)
                if (fab_feature_sensor(&m->spec, k) == r - 1) rows[(size_t)r * F + k] = m->mean[k];
    }
    mc_status st = fab_maint_predict(m, rows, S + 1, NULL, p);
    if (st == MC_OK) {
        double full = log(p[0] / (1 - p[0] + 1e-300) + 1e-300);
        for (int s = 0; s < S; s++)
            score[s] = m->spec.role[s] == FAB_ROLE_SETTING ? 0 : full - log(p[s + 1] / (1 - p[s + 1] + 1e-300) + 1e-300);
    }
    free(rows);
    free(p);
    return st;
}

mc_status fab_maint_save(const fab_maint_model *m, const char *path, const mc_st_meta *meta, int n_meta, mc_error *err) {
    json_t *mean = json_array(), *sd = json_array();
    for (int k = 0; k < m->n_features; k++) {
        json_array_append_new(mean, json_real(m->mean[k]));
        json_array_append_new(sd, json_real(m->sd[k]));
    }
    char goal[48];
    const fab_alarm_stats *a = &m->alarm;
    json_t *j = json_pack("{s:o, s:o, s:o, s:f, s:f, s:f, s:f, s:i, s:{s:i, s:i, s:f}, s:f}", "features",
                          fab_spec_to_json(&m->spec), "mean", mean, "sd", sd, "horizon", m->horizon, "cap", m->cap,
                          "target_horizon", m->target_horizon,
                          "threshold", m->threshold, "sustain", m->sustain, "baseline", "feature", m->base_feature,
                          "sign", m->base_sign, "threshold", m->base_threshold, "fixed_interval", m->fixed_interval);
    json_object_set_new(j, "alarm",
                        json_pack("{s:s, s:b, s:f, s:i, s:i, s:i, s:i, s:f, s:f, s:o}", "goal",
                                  fab_alarm_goal_format(&m->goal, goal, sizeof goal), "goal_met", a->goal_met,
                                  "shortfall", fab_alarm_shortfall(a, &m->goal), "machines", a->machines, "failures",
                                  a->failures, "detected", a->detected, "false_alarms", a->false_alarms, "precision",
                                  a->precision, "recall", a->recall, "lead_median_h",
                                  isnan(a->lead_median) ? json_null() : json_real(a->lead_median)));
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(j);
    mc_st_meta *all = calloc((size_t)n_meta + 2, sizeof *all);
    mc_status st;
    if (!text || !all) {
        st = mc_error_set(err, MC_ERR_NOMEM, "%s: out of memory", path);
    } else {
        all[0] = (mc_st_meta){"moesuite.program", FAB_MODEL_PROGRAM};
        all[1] = (mc_st_meta){"fab.maintain", text};
        for (int i = 0; i < n_meta; i++) all[2 + i] = meta[i];
        st = mc_model_save(m->net, path, NULL, 0, all, n_meta + 2, err);
    }
    free(text);
    free(all);
    return st;
}

mc_status fab_maint_load(fab_maint_model *m, const char *path, mc_error *err) {
    memset(m, 0, sizeof *m);
    mc_safetensors *file;
    mc_status st = mc_model_load(&m->net, path, &file, err);
    if (st != MC_OK) return st;
    const char *prog = mc_safetensors_meta(file, "moesuite.program"), *text = mc_safetensors_meta(file, "fab.maintain");
    json_error_t je;
    json_t *j = text ? json_loads(text, 0, &je) : NULL;
    char reason[256];
    int shape[4];
    if (!prog || strcmp(prog, FAB_MODEL_PROGRAM) != 0 || !json_is_object(j)) {
        st = mc_error_set(err, MC_ERR_FORMAT, "%s: not a moe-factory maintenance model", path);
        goto done;
    }
    if (fab_spec_from_json(&m->spec, json_object_get(j, "features"), reason, sizeof reason) != 0) {
        st = mc_error_set(err, MC_ERR_FORMAT, "%s: %s", path, reason);
        goto done;
    }
    m->n_features = fab_feature_count(&m->spec);
    const json_t *mean = json_object_get(j, "mean"), *sd = json_object_get(j, "sd"),
                 *base = json_object_get(j, "baseline");
    m->horizon = json_number_value(json_object_get(j, "horizon"));
    m->cap = json_number_value(json_object_get(j, "cap"));
    /* files written before the target horizon existed trained output 1 on the horizon itself */
    const json_t *target = json_object_get(j, "target_horizon");
    m->target_horizon = target ? json_number_value(target) : m->horizon;
    m->threshold = json_number_value(json_object_get(j, "threshold"));
    m->sustain = (int)json_integer_value(json_object_get(j, "sustain"));
    m->base_feature = (int)json_integer_value(json_object_get(base, "feature"));
    m->base_sign = (int)json_integer_value(json_object_get(base, "sign"));
    m->base_threshold = json_number_value(json_object_get(base, "threshold"));
    m->fixed_interval = json_number_value(json_object_get(j, "fixed_interval"));
    /* the goal and its held-out figures; files written before goals existed lack them */
    const json_t *alarm = json_object_get(j, "alarm");
    m->goal = (fab_alarm_goal){FAB_GOAL_PRECISION, NAN};
    m->alarm = (fab_alarm_stats){.threshold = m->threshold, .precision = NAN, .recall = NAN, .lead_median = NAN};
    if (alarm && (!json_is_object(alarm) ||
                  fab_alarm_goal_parse(json_string_value(json_object_get(alarm, "goal")), &m->goal) != 0)) {
        st = mc_error_set(err, MC_ERR_FORMAT, "%s: maintenance metadata: bad alarm goal", path);
        goto done;
    }
    if (alarm) {
        const json_t *lead = json_object_get(alarm, "lead_median_h");
        m->alarm.goal_met = json_is_true(json_object_get(alarm, "goal_met"));
        m->alarm.machines = (int)json_integer_value(json_object_get(alarm, "machines"));
        m->alarm.failures = (int)json_integer_value(json_object_get(alarm, "failures"));
        m->alarm.detected = (int)json_integer_value(json_object_get(alarm, "detected"));
        m->alarm.false_alarms = (int)json_integer_value(json_object_get(alarm, "false_alarms"));
        m->alarm.precision = json_number_value(json_object_get(alarm, "precision"));
        m->alarm.recall = json_number_value(json_object_get(alarm, "recall"));
        m->alarm.lead_median = json_is_number(lead) ? json_number_value(lead) : NAN;
    }
    int F = m->n_features, bad = !json_is_array(mean) || !json_is_array(sd) || (int)json_array_size(mean) != F ||
                                 (int)json_array_size(sd) != F;
    for (int k = 0; k < F && !bad; k++) {
        m->mean[k] = json_number_value(json_array_get(mean, (size_t)k));
        m->sd[k] = json_number_value(json_array_get(sd, (size_t)k));
        bad = !isfinite(m->mean[k]) || !(m->sd[k] > 0) || !isfinite(m->sd[k]);
    }
    if (bad || !(m->horizon > 0 && m->horizon <= 24 * 365) || !(m->cap >= m->horizon && m->cap <= 24 * 3650) ||
        !(m->target_horizon >= m->horizon && m->target_horizon <= 24 * 365) ||
        !(m->threshold >= 0 && m->threshold <= 1) || m->sustain < 1 || m->sustain > FAB_MAX_SUSTAIN || m->base_feature < 0 ||
        m->base_feature >= F || (m->base_sign != 1 && m->base_sign != -1) || !isfinite(m->base_threshold) ||
        !(m->fixed_interval > 0 && isfinite(m->fixed_interval)) || mc_model_input_size(m->net) != F ||
        mc_model_output_shape(m->net, shape) != 1 || shape[0] != 2) {
        st = mc_error_set(err, MC_ERR_FORMAT, "%s: maintenance metadata does not match its network", path);
        goto done;
    }
done:
    json_decref(j);
    mc_safetensors_close(file);
    if (st != MC_OK) fab_maint_free(m);
    return st;
}

void fab_maint_free(fab_maint_model *m) {
    mc_model_destroy(m->net);
    m->net = NULL;
}
