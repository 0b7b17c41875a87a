/* maint_features.c: operating conditions, condition-normalised windows and their features. */
#include "maint_features.h"

#include <gsl/gsl_fft_real.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double fab_slope(const double *t, const double *y, int n) {
    if (n < 2) return 0;
    double mt = 0, my = 0, sxy = 0, sxx = 0;
    for (int i = 0; i < n; i++) {
        mt += t[i];
        my += y[i];
    }
    mt /= n;
    my /= n;
    for (int i = 0; i < n; i++) {
        sxy += (t[i] - mt) * (y[i] - my);
        sxx += (t[i] - mt) * (t[i] - mt);
    }
    return sxx > 0 ? sxy / sxx : 0;
}

int fab_power_spectrum(const double *x, int n, double *power) {
    double *d = malloc(sizeof(double) * (size_t)n), mean = 0;
    gsl_fft_real_wavetable *wt = gsl_fft_real_wavetable_alloc((size_t)n);
    gsl_fft_real_workspace *ws = gsl_fft_real_workspace_alloc((size_t)n);
    int rc = -1;
    if (d && wt && ws) {
        for (int i = 0; i < n; i++) mean += x[i] / n;
        for (int i = 0; i < n; i++) d[i] = x[i] - mean;
        gsl_fft_real_transform(d, 1, (size_t)n, wt, ws);
        /* half-complex layout: d[0] = X_0; d[2k-1], d[2k] = Re, Im X_k; d[n-1] = X_{n/2} for even n */
        double nn = (double)n * n;
        power[0] = d[0] * d[0] / nn;
        for (int k = 1; k <= n / 2; k++) {
            if (2 * k == n)
                power[k] = d[n - 1] * d[n - 1] / nn;
            else
                power[k] = 2 * (d[2 * k - 1] * d[2 * k - 1] + d[2 * k] * d[2 * k]) / nn;
        }
        rc = 0;
    }
    free(d);
    gsl_fft_real_wavetable_free(wt);
    gsl_fft_real_workspace_free(ws);
    return rc;
}

void fab_resample(const double *t, const double *y, int n, double t0, double step, int m, double *out) {
    int i = 0;
    for (int j = 0; j < m; j++) {
        double tj = t0 + j * step;
        while (i + 1 < n && t[i + 1] <= tj) i++;
        if (tj <= t[0])
            out[j] = y[0];
        else if (i + 1 >= n)
            out[j] = y[n - 1];
        else
            out[j] = y[i] + (y[i + 1] - y[i]) * (tj - t[i]) / (t[i + 1] - t[i]);
    }
}

void fab_spec_init(fab_feature_spec *spec, const fab_sensor_log *log, double window, double stride) {
    memset(spec, 0, sizeof *spec);
    spec->n_sensors = log->n_sensors;
    for (int s = 0; s < log->n_sensors; s++) {
        memcpy(spec->sensor[s], log->sensor[s], FAB_ID_MAX);
        spec->role[s] = strncmp(log->sensor[s], "setting_", 8) == 0 ? FAB_ROLE_SETTING
                        : strncmp(log->sensor[s], "vib", 3) == 0    ? FAB_ROLE_VIBRATION
                                                                     : FAB_ROLE_SENSOR;
        spec->set_sd[s] = 1;
    }
    spec->window = window;
    spec->stride = stride;
    spec->n_cond = 1;
    for (int s = 0; s < log->n_sensors; s++) spec->cond_sd[0][s] = 1;
}

int fab_spec_match(const fab_feature_spec *spec, const fab_sensor_log *log, char *reason, size_t size) {
    int same = log->n_sensors == spec->n_sensors;
    for (int s = 0; same && s < spec->n_sensors; s++) same = strcmp(log->sensor[s], spec->sensor[s]) == 0;
    if (same) return 0;
    int n = snprintf(reason, size, "columns differ from the model's: expected machine_id,timestamp");
    for (int s = 0; s < spec->n_sensors && n > 0 && (size_t)n < size; s++)
        n += snprintf(reason + n, size - (size_t)n, ",%s", spec->sensor[s]);
    return -1;
}

static double setting_distance(const fab_feature_spec *spec, const double *row, const double *centroid) {
    double d = 0;
    for (int s = 0; s < spec->n_sensors; s++) {
        if (spec->role[s] != FAB_ROLE_SETTING || isnan(row[s])) continue;
        double z = (row[s] - spec->set_mean[s]) / spec->set_sd[s] - centroid[s];
        d += z * z;
    }
    return d;
}

int fab_condition_of(const fab_feature_spec *spec, const double *row) {
    int best = 0;
    double bd = INFINITY;
    for (int c = 0; c < spec->n_cond; c++) {
        double d = setting_distance(spec, row, spec->centroid[c]);
        if (d < bd) {
            bd = d;
            best = c;
        }
    }
    return best;
}

/* Mean and standard deviation of each setting over the samples where it is present. */
static void setting_stats(fab_feature_spec *spec, const fab_sensor_log *log) {
    int S = spec->n_sensors;
    for (int s = 0; s < S; s++) {
        if (spec->role[s] != FAB_ROLE_SETTING) continue;
        double sum = 0, sq = 0;
        long n = 0;
        for (int i = 0; i < log->n_machines; i++)
            for (int j = 0; j < log->m[i].n; j++) {
                double v = log->m[i].v[(size_t)j * S + s];
                if (isnan(v)) continue;
                sum += v;
                sq += v * v;
                n++;
            }
        spec->set_mean[s] = n ? sum / n : 0;
        double var = n ? sq / n - spec->set_mean[s] * spec->set_mean[s] : 0;
        spec->set_sd[s] = var > 1e-12 ? sqrt(var) : 1;
    }
}

int fab_conditions_fit(fab_feature_spec *spec, const fab_sensor_log *log, int k, mc_rng *rng) {
    int S = spec->n_sensors, n_set = 0;
    long n = 0;
    for (int s = 0; s < S; s++) n_set += spec->role[s] == FAB_ROLE_SETTING;
    for (int i = 0; i < log->n_machines; i++) n += log->m[i].n;
    if (n == 0) return -1;
    if (k > FAB_MAX_CONDITIONS) k = FAB_MAX_CONDITIONS;
    spec->n_cond = n_set ? k : 1;
    setting_stats(spec, log);
    const double **row = malloc(sizeof *row * (size_t)n);
    double *d2 = malloc(sizeof(double) * (size_t)n);
    int *label = malloc(sizeof(int) * (size_t)n);
    if (!row || !d2 || !label) {
        free(row);
        free(d2);
        free(label);
        return -1;
    }
    long r = 0;
    for (int i = 0; i < log->n_machines; i++)
        for (int j = 0; j < log->m[i].n; j++) row[r++] = log->m[i].v + (size_t)j * S;
    memset(spec->centroid, 0, sizeof spec->centroid);
    if (n_set) {
        /* k-means++ seeding: the first centre uniformly, the next ones with probability ~ squared distance */
        const double *first = row[mc_rng_below(rng, (uint64_t)n)];
        for (int s = 0; s < S; s++)
            if (spec->role[s] == FAB_ROLE_SETTING && !isnan(first[s]))
                spec->centroid[0][s] = (first[s] - spec->set_mean[s]) / spec->set_sd[s];
        for (int c = 1; c < spec->n_cond; c++) {
            double total = 0;
            for (long i = 0; i < n; i++) {
                double best = INFINITY;
                for (int q = 0; q < c; q++) {
                    double d = setting_distance(spec, row[i], spec->centroid[q]);
                    if (d < best) best = d;
                }
                total += d2[i] = best;
            }
            double pick = mc_rng_uniform(rng) * total;
            long chosen = n - 1;
            for (long i = 0; i < n; i++)
                if ((pick -= d2[i]) < 0) {
                    chosen = i;
                    break;
                }
            for (int s = 0; s < S; s++)
                if (spec->role[s] == FAB_ROLE_SETTING && !isnan(row[chosen][s]))
                    spec->centroid[c][s] = (row[chosen][s] - spec->set_mean[s]) / spec->set_sd[s];
        }
        /* Lloyd iterations until no sample changes its condition */
        for (long i = 0; i < n; i++) label[i] = -1;
        for (int it = 0; it < 100; it++) {
            int changed = 0;
            for (long i = 0; i < n; i++) {
                int c = fab_condition_of(spec, row[i]);
                changed |= c != label[i];
                label[i] = c;
            }
            if (!changed) break;
            double sum[FAB_MAX_CONDITIONS][FAB_MAX_SENSORS] = {{0}};
            long cnt[FAB_MAX_CONDITIONS][FAB_MAX_SENSORS] = {{0}};
            for (long i = 0; i < n; i++)
                for (int s = 0; s < S; s++)
                    if (spec->role[s] == FAB_ROLE_SETTING && !isnan(row[i][s])) {
                        sum[label[i]][s] += (row[i][s] - spec->set_mean[s]) / spec->set_sd[s];
                        cnt[label[i]][s]++;
                    }
            for (int c = 0; c < spec->n_cond; c++)
                for (int s = 0; s < S; s++)
                    if (cnt[c][s]) spec->centroid[c][s] = sum[c][s] / cnt[c][s];
        }
    }
    /* each condition's level and spread of every sensor; the whole fleet's where a condition has too few */
    for (int s = 0; s < S; s++) {
        double gs = 0, gq = 0, cs[FAB_MAX_CONDITIONS] = {0}, cq[FAB_MAX_CONDITIONS] = {0};
        long gn = 0, cn[FAB_MAX_CONDITIONS] = {0};
        for (long i = 0; i < n; i++) {
            double v = row[i][s];
            if (isnan(v)) continue;
            int c = n_set ? fab_condition_of(spec, row[i]) : 0;
            gs += v;
            gq += v * v;
            gn++;
            cs[c] += v;
            cq[c] += v * v;
            cn[c]++;
        }
        double gm = gn ? gs / gn : 0, gv = gn ? gq / gn - gm * gm : 0;
        for (int c = 0; c < spec->n_cond; c++) {
            double m = cn[c] >= 2 ? cs[c] / cn[c] : gm, v = cn[c] >= 2 ? cq[c] / cn[c] - m * m : gv;
            spec->cond_mean[c][s] = m;
            spec->cond_sd[c][s] = v > 1e-12 ? sqrt(v) : 1;
        }
    }
    free(row);
    free(d2);
    free(label);
    return 0;
}

int fab_feature_count(const fab_feature_spec *spec) {
    int F = 0;
    for (int s = 0; s < spec->n_sensors; s++)
        F += spec->role[s] == FAB_ROLE_SETTING ? 0 : FAB_PER_SENSOR + (spec->role[s] == FAB_ROLE_VIBRATION ? FAB_BANDS : 0);
    return F;
}

/* Column and position within the column's block of feature k. */
static int locate(const fab_feature_spec *spec, int k, int *pos) {
    for (int s = 0; s < spec->n_sensors; s++) {
        if (spec->role[s] == FAB_ROLE_SETTING) continue;
        int w = FAB_PER_SENSOR + (spec->role[s] == FAB_ROLE_VIBRATION ? FAB_BANDS : 0);
        if (k < w) {
            *pos = k;
            return s;
        }
        k -= w;
    }
    *pos = -1;
    return -1;
}

void fab_feature_name(const fab_feature_spec *spec, int k, char *buf, size_t size) {
    static const char *const kind[FAB_PER_SENSOR] = {"mean", "recent", "sd", "slope"};
    int pos, s = locate(spec, k, &pos);
    if (s < 0)
        snprintf(buf, size, "?");
    else if (pos < FAB_PER_SENSOR)
        snprintf(buf, size, "%s.%s", spec->sensor[s], kind[pos]);
    else
        snprintf(buf, size, "%s.band%d", spec->sensor[s], pos - FAB_PER_SENSOR);
}

int fab_feature_sensor(const fab_feature_spec *spec, int k) {
    int pos;
    return locate(spec, k, &pos);
}

int fab_feature_recent(const fab_feature_spec *spec, int s) {
    int F = fab_feature_count(spec), pos;
    for (int k = 0; k < F; k++)
        if (locate(spec, k, &pos) == s && pos == 1) return k;
    return -1;
}

int fab_features_at(const fab_feature_spec *spec, const fab_machine *m, double t_end, double *out) {
    int S = spec->n_sensors;
    double t0 = t_end - spec->window;
    int lo = 0, hi = m->n; /* first sample after t0 */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (m->t[mid] <= t0) lo = mid + 1;
        else hi = mid;
    }
    int first = lo, last = first;
    while (last < m->n && m->t[last] <= t_end) last++;
    int n = last - first;
    if (n < 4) return -1;
    double *t = malloc(sizeof(double) * (size_t)n), *z = malloc(sizeof(double) * (size_t)n);
    int *cond = malloc(sizeof(int) * (size_t)n);
    int grid = (int)spec->window;
    double *g = malloc(sizeof(double) * (size_t)grid), *power = malloc(sizeof(double) * (size_t)(grid / 2 + 1));
    int rc = t && z && cond && g && power ? 0 : -1;
    for (int i = 0; i < n && rc == 0; i++) cond[i] = fab_condition_of(spec, m->v + (size_t)(first + i) * S);
    int k = 0;
    for (int s = 0; s < S && rc == 0; s++) {
        if (spec->role[s] == FAB_ROLE_SETTING) continue;
        int c = 0;
        double sum = 0, sq = 0, rsum = 0;
        int rn = 0;
        for (int i = 0; i < n; i++) {
            double v = m->v[(size_t)(first + i) * S + s];
            if (isnan(v)) continue;
            t[c] = m->t[first + i];
            z[c] = (v - spec->cond_mean[cond[i]][s]) / spec->cond_sd[cond[i]][s];
            sum += z[c];
            sq += z[c] * z[c];
            if (t[c] > t_end - spec->window / 4) {
                rsum += z[c];
                rn++;
            }
            c++;
        }
        if (c < 4) {
            rc = -1;
            break;
        }
        double mean = sum / c, var = sq / c - mean * mean;
        out[k++] = mean;
        out[k++] = rn ? rsum / rn : z[c - 1];
        out[k++] = var > 0 ? sqrt(var) : 0;
        out[k++] = 24 * fab_slope(t, z, c);
        if (spec->role[s] == FAB_ROLE_VIBRATION) {
            fab_resample(t, z, c, t_end - grid + 1, 1.0, grid, g);
            if (fab_power_spectrum(g, grid, power) != 0) {
                rc = -1;
                break;
            }
            double band[FAB_BANDS] = {0};
            int half = grid / 2;
            for (int b = 1; b <= half; b++) band[(b - 1) * FAB_BANDS / half] += power[b];
            for (int b = 0; b < FAB_BANDS; b++) out[k++] = log(1e-4 + band[b]);
        }
    }
    free(t);
    free(z);
    free(cond);
    free(g);
    free(power);
    return rc;
}

int fab_eval_times(const fab_feature_spec *spec, const fab_machine *m, double end, double *times, int max) {
    int n = 0;
    if (m->n == 0) return 0;
    for (double t = m->t[0] + spec->window; t <= end + 1e-9 && n < max; t += spec->stride) times[n++] = t;
    return n;
}

static const char *const role_name[] = {"sensor", "setting", "vibration"};

static json_t *reals(const double *v, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_real(v[i]));
    return a;
}

json_t *fab_spec_to_json(const fab_feature_spec *spec) {
    int S = spec->n_sensors;
    json_t *names = json_array(), *roles = json_array(), *cent = json_array(), *cm = json_array(), *cs = json_array();
    for (int s = 0; s < S; s++) {
        json_array_append_new(names, json_string(spec->sensor[s]));
        json_array_append_new(roles, json_string(role_name[spec->role[s]]));
    }
    for (int c = 0; c < spec->n_cond; c++) {
        json_array_append_new(cent, reals(spec->centroid[c], S));
        json_array_append_new(cm, reals(spec->cond_mean[c], S));
        json_array_append_new(cs, reals(spec->cond_sd[c], S));
    }
    return json_pack("{s:o, s:o, s:f, s:f, s:i, s:o, s:o, s:o, s:o, s:o}", "sensors", names, "roles", roles, "window",
                     spec->window, "stride", spec->stride, "conditions", spec->n_cond, "setting_mean",
                     reals(spec->set_mean, S), "setting_sd", reals(spec->set_sd, S), "centroids", cent, "cond_mean", cm,
                     "cond_sd", cs);
}

/* Reads an array of n finite numbers (positive when positive is set). */
static int read_reals(const json_t *a, int n, int positive, double *out) {
    if (!json_is_array(a) || (int)json_array_size(a) != n) return -1;
    for (int i = 0; i < n; i++) {
        const json_t *v = json_array_get(a, (size_t)i);
        if (!json_is_number(v)) return -1;
        out[i] = json_number_value(v);
        if (!isfinite(out[i]) || (positive && !(out[i] > 0))) return -1;
    }
    return 0;
}

int fab_spec_from_json(fab_feature_spec *spec, const json_t *j, char *reason, size_t size) {
    memset(spec, 0, sizeof *spec);
    const json_t *names = json_object_get(j, "sensors"), *roles = json_object_get(j, "roles");
    const json_t *cent = json_object_get(j, "centroids"), *cm = json_object_get(j, "cond_mean"),
                 *cs = json_object_get(j, "cond_sd");
    int S = json_is_array(names) ? (int)json_array_size(names) : 0;
    spec->n_sensors = S;
    spec->window = json_number_value(json_object_get(j, "window"));
    spec->stride = json_number_value(json_object_get(j, "stride"));
    spec->n_cond = (int)json_integer_value(json_object_get(j, "conditions"));
    if (S < 1 || S > FAB_MAX_SENSORS || !json_is_array(roles) || (int)json_array_size(roles) != S ||
        !(spec->window >= 8 && spec->window <= 24 * 30) || !(spec->stride >= 0.25 && spec->stride <= spec->window) ||
        spec->n_cond < 1 || spec->n_cond > FAB_MAX_CONDITIONS || !json_is_array(cent) || !json_is_array(cm) ||
        !json_is_array(cs) || (int)json_array_size(cent) != spec->n_cond || (int)json_array_size(cm) != spec->n_cond ||
        (int)json_array_size(cs) != spec->n_cond) {
        snprintf(reason, size, "feature specification: missing or out-of-range fields");
        return -1;
    }
    for (int s = 0; s < S; s++) {
        const char *name = json_string_value(json_array_get(names, (size_t)s));
        const char *role = json_string_value(json_array_get(roles, (size_t)s));
        if (!name || !*name || strlen(name) >= FAB_ID_MAX || !role) {
            snprintf(reason, size, "feature specification: sensor %d has a bad name or role", s);
            return -1;
        }
        snprintf(spec->sensor[s], FAB_ID_MAX, "%s", name);
        int r = -1;
        for (int q = 0; q < 3; q++)
            if (strcmp(role, role_name[q]) == 0) r = q;
        if (r < 0) {
            snprintf(reason, size, "feature specification: sensor %s has an unknown role '%s'", name, role);
            return -1;
        }
        spec->role[s] = (fab_role)r;
    }
    int bad = read_reals(json_object_get(j, "setting_mean"), S, 0, spec->set_mean) ||
              read_reals(json_object_get(j, "setting_sd"), S, 1, spec->set_sd);
    for (int c = 0; c < spec->n_cond && !bad; c++)
        bad = read_reals(json_array_get(cent, (size_t)c), S, 0, spec->centroid[c]) ||
              read_reals(json_array_get(cm, (size_t)c), S, 0, spec->cond_mean[c]) ||
              read_reals(json_array_get(cs, (size_t)c), S, 1, spec->cond_sd[c]);
    if (bad || fab_feature_count(spec) < 1 || fab_feature_count(spec) > FAB_MAX_FEATURES) {
        snprintf(reason, size, "feature specification: bad statistics or no sensor features");
        return -1;
    }
    return 0;
}
