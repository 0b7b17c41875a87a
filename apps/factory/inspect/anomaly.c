/* anomaly.c: random-feature patch memory bank with a k-center coreset, and nearest-neighbour scoring. */
#include "anomaly.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fab_anomaly_arch(char *buf, size_t size, int S) {
    snprintf(buf, size,
             "{\"input\": [1, %d, %d], \"layers\": ["
             "{\"type\": \"conv\", \"out\": 64, \"k\": 7, \"pad\": 3}, {\"type\": \"act\", \"fn\": \"relu\"},"
             "{\"type\": \"avgpool\", \"k\": 4, \"stride\": 4},"
             "{\"type\": \"conv\", \"out\": %d, \"k\": 3, \"pad\": 1}, {\"type\": \"act\", \"fn\": \"relu\"},"
             "{\"type\": \"maxpool\", \"k\": 2, \"stride\": 2}]}",
             S, S, FAB_ANOMALY_DIM);
}

/* Features of n images: feat (n, cells, DIM), standardised with a's statistics when stats is set. */
static mc_status features(fab_anomaly *a, const float *x, int n_img, float *feat, int *cells, int stats) {
    const float *out;
    mc_status st = mc_model_forward(a->net, x, n_img, 0, NULL, &out);
    if (st != MC_OK) return st;
    int shape[4];
    mc_model_output_shape(a->net, shape);
    int n = shape[1] * shape[2];
    for (int k = 0; k < n_img; k++)
        for (int c = 0; c < FAB_ANOMALY_DIM; c++)
            for (int i = 0; i < n; i++) {
                float v = out[((size_t)k * FAB_ANOMALY_DIM + c) * n + i];
                feat[((size_t)k * n + i) * FAB_ANOMALY_DIM + c] = stats ? (v - a->mean[c]) / a->std[c] : v;
            }
    *cells = n;
    return MC_OK;
}

static int cells_of(const mc_model *net) {
    int shape[4];
    mc_model_output_shape(net, shape);
    return shape[1] * shape[2];
}

static float sqdist(const float *a, const float *b) {
    float s = 0;
    for (int k = 0; k < FAB_ANOMALY_DIM; k++) s += (a[k] - b[k]) * (a[k] - b[k]);
    return s;
}

mc_status fab_anomaly_fit(fab_anomaly *a, const fab_image_set *good, int bank_size, mc_rng *rng, mc_error *err) {
    memset(a, 0, sizeof *a);
    int n_good = fab_image_set_count(good, 0);
    if (n_good < 1) return mc_error_set(err, MC_ERR_ARG, "the anomaly model needs good images");
    char arch[2048];
    fab_anomaly_arch(arch, sizeof arch, good->size);
    mc_status st = mc_model_create(&a->net, arch, err);
    if (st != MC_OK) return st;
    mc_model_init(a->net, rng);
    const int D = FAB_ANOMALY_DIM, C = cells_of(a->net), S = good->size;
    int64_t n = (int64_t)n_good * C;
    float *all = malloc(sizeof(float) * (size_t)n * D);
    float *mind = malloc(sizeof(float) * (size_t)n);
    a->mean = calloc(D, sizeof(float));
    a->std = calloc(D, sizeof(float));
    if (!all || !mind || !a->mean || !a->std) {
        st = mc_error_set(err, MC_ERR_NOMEM, "out of memory for %lld patch features", (long long)n);
        goto done;
    }
    int64_t k = 0;
    for (int i = 0; i < good->n; i++) {
        if (good->label[i]) continue;
        int cells;
        if ((st = features(a, good->x + (size_t)i * S * S, 1, all + (size_t)k * D, &cells, 0)) != MC_OK) {
            mc_error_set(err, st, "feature network failed");
            goto done;
        }
        k += cells;
    }
    /* standardise each feature over the good patches */
    for (int c = 0; c < D; c++) {
        double m = 0, v = 0;
        for (int64_t i = 0; i < n; i++) m += all[i * D + c];
        m /= (double)n;
        for (int64_t i = 0; i < n; i++) v += (all[i * D + c] - m) * (all[i * D + c] - m);
        double sd = sqrt(v / (double)n);
        a->mean[c] = (float)m;
        a->std[c] = (float)(sd > 1e-6 ? sd : 1e-6);
        for (int64_t i = 0; i < n; i++) all[i * D + c] = (all[i * D + c] - a->mean[c]) / a->std[c];
    }
    /* greedy k-center coreset: start from a random patch, then always add the patch farthest from
     * the bank so far */
    int m = n < bank_size ? (int)n : bank_size;
    a->bank = malloc(sizeof(float) * (size_t)m * D);
    a->bank_sq = malloc(sizeof(float) * (size_t)m);
    if (!a->bank || !a->bank_sq) {
        st = mc_error_set(err, MC_ERR_NOMEM, "out of memory for the memory bank");
        goto done;
    }
    int64_t next = (int64_t)mc_rng_below(rng, (uint64_t)n);
    for (int64_t i = 0; i < n; i++) mind[i] = FLT_MAX;
    for (int j = 0; j < m; j++) {
        const float *p = all + next * D;
        memcpy(a->bank + (size_t)j * D, p, sizeof(float) * D);
        float best = -1;
        int64_t arg = 0;
        #pragma omp parallel
        {
            float lbest = -1;
            int64_t larg = 0;
            #pragma omp for
            for (int64_t i = 0; i < n; i++) {
                float d = sqdist(all + i * D, p);
                if (d < mind[i]) mind[i] = d;
                if (mind[i] > lbest) {
                    lbest = mind[i];
                    larg = i;
                }
            }
            #pragma omp critical
            if (lbest > best || (lbest == best && larg < arg)) {
                best = lbest;
                arg = larg;
            }
        }
        next = arg;
    }
    a->n_bank = m;
    for (int j = 0; j < m; j++) a->bank_sq[j] = sqdist(a->bank + (size_t)j * D, (const float[FAB_ANOMALY_DIM]){0});
done:
    free(all);
    free(mind);
    if (st != MC_OK) fab_anomaly_free(a);
    return st;
}

mc_status fab_anomaly_from_tensors(fab_anomaly *a, mc_model *net, const float *mean, const float *std,
                                   const float *bank, int n_bank) {
    memset(a, 0, sizeof *a);
    a->net = net;
    const int D = FAB_ANOMALY_DIM;
    a->mean = malloc(sizeof(float) * D);
    a->std = malloc(sizeof(float) * D);
    a->bank = malloc(sizeof(float) * (size_t)n_bank * D);
    a->bank_sq = malloc(sizeof(float) * (size_t)n_bank);
    if (!a->mean || !a->std || !a->bank || !a->bank_sq) {
        fab_anomaly_free(a);
        return MC_ERR_NOMEM;
    }
    memcpy(a->mean, mean, sizeof(float) * D);
    memcpy(a->std, std, sizeof(float) * D);
    memcpy(a->bank, bank, sizeof(float) * (size_t)n_bank * D);
    a->n_bank = n_bank;
    for (int j = 0; j < n_bank; j++) a->bank_sq[j] = sqdist(a->bank + (size_t)j * D, (const float[FAB_ANOMALY_DIM]){0});
    return MC_OK;
}

void fab_anomaly_free(fab_anomaly *a) {
    if (!a) return;
    mc_model_destroy(a->net);
    free(a->mean);
    free(a->std);
    free(a->bank);
    free(a->bank_sq);
    memset(a, 0, sizeof *a);
}

mc_status fab_anomaly_score(fab_anomaly *a, const float *x, int n, float *map, double *score) {
    const int D = FAB_ANOMALY_DIM, C = cells_of(a->net), m = a->n_bank;
    float *feat = malloc(sizeof(float) * (size_t)n * C * D), *dot = malloc(sizeof(float) * (size_t)C * m);
    int cells;
    mc_status st = feat && dot ? features(a, x, n, feat, &cells, 1) : MC_ERR_NOMEM;
    for (int k = 0; k < n && st == MC_OK; k++) {
        const float *f = feat + (size_t)k * C * D;
        /* dot (C, m) = f (C, D) bank (m, D)^T; squared distance = |f|^2 + |b|^2 - 2 f.b */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, C, m, D, 1.0f, f, D, a->bank, D, 0.0f, dot, m);
        double top = 0;
        for (int i = 0; i < C; i++) {
            float fsq = 0;
            for (int j = 0; j < D; j++) fsq += f[(size_t)i * D + j] * f[(size_t)i * D + j];
            float best = FLT_MAX;
            const float *row = dot + (size_t)i * m;
            for (int j = 0; j < m; j++) {
                float d = fsq + a->bank_sq[j] - 2 * row[j];
                if (d < best) best = d;
            }
            float v = sqrtf(best > 0 ? best : 0);
            map[(size_t)k * C + i] = v;
            if (v > top) top = v;
        }
        score[k] = top;
    }
    free(feat);
    free(dot);
    return st;
}
