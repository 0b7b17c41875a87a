/* fusion.c: the malignancy fusion layer (logistic regression fitted by Newton's method), its fitting
 * from the studies' CSV files, its JSON form, and the Brock risk beside it (fusion.h). */
#include "fusion.h"

#include <gsl/gsl_linalg.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"

static const char *const feature_names[MED_FUSION_N] = {
    "intercept", "diameter", "part_solid", "ground_glass", "age", "female",
    "family_history", "emphysema", "pack_years", "current_smoker", "former_smoker"};

void med_fusion_features(const med_clinical *c, double diameter_mm, med_nodule_type t, double f[MED_FUSION_N]) {
    memset(f, 0, sizeof(double) * MED_FUSION_N);
    f[0] = 1;
    f[1] = (diameter_mm - 8) / 10;
    f[2] = t == MED_NODULE_PART_SOLID;
    f[3] = t == MED_NODULE_GROUND_GLASS;
    if (!c) return;
    if (!isnan(c->age)) f[4] = (c->age - 62) / 10;
    f[5] = c->sex == MED_SEX_FEMALE;
    f[6] = c->family_history == 1;
    f[7] = c->emphysema == 1;
    if (!isnan(c->pack_years)) f[8] = c->pack_years / 10;
    f[9] = c->smoking == MED_SMOKING_CURRENT;
    f[10] = c->smoking == MED_SMOKING_FORMER;
}

double med_fusion_risk(const med_fusion *m, const double f[MED_FUSION_N]) {
    double z = 0;
    for (int i = 0; i < MED_FUSION_N; i++) z += m->w[i] * f[i];
    return 1 / (1 + exp(-z));
}

mc_status med_fusion_fit(const double *X, const int *y, int n, double lambda, med_fusion *out, mc_error *err) {
    enum { P = MED_FUSION_N };
    int pos = 0;
    for (int i = 0; i < n; i++) pos += y[i] != 0;
    if (pos == 0 || pos == n)
        return mc_error_set(err, MC_ERR_ARG, "fusion: %d of %d studies malignant: both classes are needed", pos, n);
    memset(out, 0, sizeof *out);
    out->n_fit = n;
    out->n_positive = pos;
    out->w[0] = log((double)pos / (n - pos));
    double H[P * P], g[P], step[P];
    for (int it = 0; it < 50; it++) {
        memset(H, 0, sizeof H);
        for (int a = 0; a < P; a++) g[a] = a ? lambda * out->w[a] : 0;
        for (int a = 1; a < P; a++) H[a * P + a] = lambda;
        for (int i = 0; i < n; i++) {
            const double *x = X + (size_t)i * P;
            double p = med_fusion_risk(out, x), wt = p * (1 - p);
            for (int a = 0; a < P; a++) {
                g[a] += (p - (y[i] != 0)) * x[a];
                for (int b = 0; b < P; b++) H[a * P + b] += wt * x[a] * x[b];
            }
        }
        for (int a = 0; a < P; a++) H[a * P + a] += 1e-9; /* features that never vary */
        gsl_matrix_view hm = gsl_matrix_view_array(H, P, P);
        gsl_vector_view gv = gsl_vector_view_array(g, P), sv = gsl_vector_view_array(step, P);
        gsl_error_handler_t *old = gsl_set_error_handler_off();
        int bad = gsl_linalg_cholesky_decomp1(&hm.matrix) || gsl_linalg_cholesky_solve(&hm.matrix, &gv.vector, &sv.vector);
        gsl_set_error_handler(old);
        if (bad) return mc_error_set(err, MC_ERR_ARG, "fusion: the fit is singular");
        double norm = 0;
        for (int a = 0; a < P; a++) {
            out->w[a] -= step[a];
            norm += step[a] * step[a];
        }
        if (norm < 1e-20) break;
    }
    return MC_OK;
}

typedef struct {
    char *uid;
    double diameter;
    med_nodule_type type;
} largest;

static int find_largest(const largest *v, int n, const char *uid) {
    for (int i = 0; i < n; i++)
        if (strcmp(v[i].uid, uid) == 0) return i;
    return -1;
}

/* The largest nodule of each series in the nodules file. */
static mc_status read_largest(const char *path, largest **out, int *n_out, mc_error *err) {
    med_csv c;
    mc_status st = med_csv_open(&c, path, err);
    if (st != MC_OK) return st;
    largest *v = NULL;
    int n = 0, r, cu = -1, cd = -1, ct = -1;
    st = MC_OK;
    while (st == MC_OK && (r = med_csv_next(&c, err)) == 1) {
        if (cu < 0) {
            cu = med_csv_find(&c, "seriesuid");
            cd = med_csv_find(&c, "diameter_mm");
            ct = med_csv_find(&c, "type");
            if (cu < 0 || cd < 0 || ct < 0)
                st = mc_error_set(err, MC_ERR_FORMAT, "%s:%ld: the header needs seriesuid, diameter_mm and type", path,
                                  c.line);
            continue;
        }
        double d;
        med_nodule_type t;
        if (c.n <= cu || c.n <= cd || c.n <= ct || med_csv_real(c.field[cd], &d) != 0 || !(d > 0) ||
            med_nodule_type_parse(c.field[ct], &t) != 0) {
            st = mc_error_set(err, MC_ERR_FORMAT, "%s:%ld: a row needs a seriesuid, a diameter_mm > 0 and a nodule type",
                              path, c.line);
            break;
        }
        int i = find_largest(v, n, c.field[cu]);
        if (i < 0) {
            largest *g = realloc(v, sizeof *v * (size_t)(n + 1));
            char *u = strdup(c.field[cu]);
            if (!g || !u) {
                free(u);
                if (g) v = g;
                st = mc_error_set(err, MC_ERR_NOMEM, "out of memory");
                break;
            }
            v = g;
            v[n] = (largest){u, d, t};
            n++;
        } else if (d > v[i].diameter) {
            v[i].diameter = d;
            v[i].type = t;
        }
    }
    if (st == MC_OK && r < 0) st = err->code;
    med_csv_close(&c);
    if (st != MC_OK) {
        for (int i = 0; i < n; i++) free(v[i].uid);
        free(v);
        return st;
    }
    *out = v;
    *n_out = n;
    return MC_OK;
}

/* The truth labels: 0/1 per series of the largest-nodule list, -1 where the truth file has none. */
static mc_status read_truth(const char *path, const largest *v, int n, int *label, mc_error *err) {
    med_csv c;
    mc_status st = med_csv_open(&c, path, err);
    if (st != MC_OK) return st;
    for (int i = 0; i < n; i++) label[i] = -1;
    int r, cu = -1, cm = -1;
    while (st == MC_OK && (r = med_csv_next(&c, err)) == 1) {
        if (cu < 0) {
            cu = med_csv_find(&c, "seriesuid");
            cm = med_csv_find(&c, "malignant");
            if (cu < 0 || cm < 0)
                st = mc_error_set(err, MC_ERR_FORMAT, "%s:%ld: the header needs seriesuid and malignant", path, c.line);
            continue;
        }
        double m;
        if (c.n <= cu || c.n <= cm || med_csv_real(c.field[cm], &m) != 0 || (m != 0 && m != 1)) {
            st = mc_error_set(err, MC_ERR_FORMAT, "%s:%ld: malignant must be 0 or 1", path, c.line);
            break;
        }
        int i = find_largest(v, n, c.field[cu]);
        if (i >= 0) label[i] = (int)m;
    }
    if (st == MC_OK && r < 0) st = err->code;
    med_csv_close(&c);
    return st;
}

mc_status med_fusion_fit_files(const char *nodules, const char *clinical, const char *truth, med_fusion *out,
                               mc_error *err) {
    largest *v = NULL;
    int n = 0, n_rows = 0;
    med_clinical *rows = NULL;
    mc_status st = read_largest(nodules, &v, &n, err);
    if (st != MC_OK) return st;
    int *label = malloc(sizeof *label * (size_t)(n + 1)), *y = malloc(sizeof *y * (size_t)(n + 1));
    double *X = malloc(sizeof *X * MED_FUSION_N * (size_t)(n + 1));
    if (!label || !y || !X) st = mc_error_set(err, MC_ERR_NOMEM, "out of memory");
    if (st == MC_OK) st = read_truth(truth, v, n, label, err);
    if (st == MC_OK) st = med_clinical_read(clinical, &rows, &n_rows, err);
    if (st == MC_OK) {
        int m = 0;
        for (int i = 0; i < n; i++) {
            if (label[i] < 0) continue;
            med_fusion_features(med_clinical_find(rows, n_rows, v[i].uid, NULL), v[i].diameter, v[i].type,
                                X + (size_t)m * MED_FUSION_N);
            y[m++] = label[i];
        }
        st = med_fusion_fit(X, y, m, 1.0, out, err);
    }
    for (int i = 0; i < n; i++) free(v[i].uid);
    free(v);
    free(label);
    free(y);
    free(X);
    med_clinical_free(rows, n_rows);
    return st;
}

char *med_fusion_to_json(const med_fusion *m) {
    json_t *names = json_array(), *w = json_array();
    for (int i = 0; i < MED_FUSION_N; i++) {
        json_array_append_new(names, json_string(feature_names[i]));
        json_array_append_new(w, json_real(m->w[i]));
    }
    json_t *j = json_pack("{s:o, s:o, s:i, s:i}", "features", names, "w", w, "n_fit", m->n_fit, "n_positive",
                          m->n_positive);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

mc_status med_fusion_from_json(const char *text, med_fusion *m, mc_error *err) {
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j) return mc_error_set(err, MC_ERR_FORMAT, "fusion: not JSON: %s", je.text);
    json_t *w = json_object_get(j, "w");
    mc_status st = MC_OK;
    memset(m, 0, sizeof *m);
    if (!json_is_array(w) || json_array_size(w) != MED_FUSION_N) {
        st = mc_error_set(err, MC_ERR_FORMAT, "fusion: \"w\" must hold %d numbers", MED_FUSION_N);
    } else {
        for (int i = 0; i < MED_FUSION_N && st == MC_OK; i++) {
            json_t *x = json_array_get(w, (size_t)i);
            if (!json_is_number(x) || !isfinite(json_number_value(x)))
                st = mc_error_set(err, MC_ERR_FORMAT, "fusion: weight %d is not a finite number", i);
            else m->w[i] = json_number_value(x);
        }
        m->n_fit = (int)json_integer_value(json_object_get(j, "n_fit"));
        m->n_positive = (int)json_integer_value(json_object_get(j, "n_positive"));
    }
    json_decref(j);
    return st;
}

const med_clinical *med_clinical_find(const med_clinical *rows, int n, const char *series_uid, const char *patient_id) {
    for (int i = 0; i < n; i++)
        if (rows[i].id_is_series && series_uid && strcmp(rows[i].id, series_uid) == 0) return &rows[i];
    for (int i = 0; i < n; i++)
        if (!rows[i].id_is_series && patient_id && patient_id[0] && strcmp(rows[i].id, patient_id) == 0) return &rows[i];
    return NULL;
}

double med_brock_of(const med_clinical *c, double diameter_mm, med_nodule_type t, int count) {
    if (!c || isnan(c->age) || c->sex == MED_SEX_UNKNOWN) return NAN;
    med_brock_input in = {.age = c->age,
                          .female = c->sex == MED_SEX_FEMALE,
                          .family_history = c->family_history == 1,
                          .emphysema = c->emphysema == 1,
                          .size_mm = diameter_mm,
                          .type = t,
                          .upper_lobe = 0,
                          .nodule_count = count < 1 ? 1 : count,
                          .spiculation = 0};
    double logit, p;
    return med_brock(&in, &logit, &p, NULL) == MC_OK ? p : NAN;
}
