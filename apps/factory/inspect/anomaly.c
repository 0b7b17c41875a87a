/* anomaly.c: Gaussian-derivative patch features, a k-center coreset memory bank, and nearest-
 * neighbour scoring. */
#include "anomaly.h"


#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

const float fab_anomaly_sigma[FAB_ANOMALY_SCALES] = {1.0f, 2.0f, 4.0f};
const char fab_anomaly_features_name[] =
    "Gaussian derivatives of orders 0-2 at sigma 1, 2, 4 px and their local energies, stride 4, margin 8, standardised";

#define MAX_RADIUS 32 /* 4 sigma for the widest filter, the energy window of the largest scale */

/* The sampled Gaussian of scale sigma, normalised to sum 1, and its first and second derivatives:
 * k[o][r + t] for t in -r..r, r = the radius (4 sigma, rounded). */
static int kernels(float sigma, float k[3][2 * MAX_RADIUS + 1]) {
    int r = (int)(4.0f * sigma + 0.5f);
    double g[2 * MAX_RADIUS + 1], sum = 0, s2 = (double)sigma * sigma;
    for (int t = -r; t <= r; t++) sum += g[t + r] = exp(-0.5 * t * t / s2);
    for (int t = -r; t <= r; t++) {
        double p = g[t + r] / sum;
        k[0][t + r] = (float)p;
        k[1][t + r] = (float)(-t / s2 * p);
        k[2][t + r] = (float)((t * t / s2 - 1.0) / s2 * p);
    }
    return r;
}

/* Index i mirrored into 0..S-1 (the edge sample repeated: ... b a | a b ...). */
static inline int mirror(int i, int S) {
    while (i < 0 || i >= S) i = i < 0 ? -i - 1 : 2 * S - i - 1;
    return i;
}

/* The first patch centre: the first of STRIDE / 2 + STRIDE k at least MARGIN from the border. */
static int first_centre(void) {
    int k = (FAB_ANOMALY_MARGIN - FAB_ANOMALY_STRIDE / 2 + FAB_ANOMALY_STRIDE - 1) / FAB_ANOMALY_STRIDE;
    return FAB_ANOMALY_STRIDE / 2 + FAB_ANOMALY_STRIDE * (k > 0 ? k : 0);
}

int fab_anomaly_grid(int S) {
    int n = 0;
    for (int c = first_centre(); c < S - FAB_ANOMALY_MARGIN; c += FAB_ANOMALY_STRIDE) n++;
    return n;
}

/* Scratch: 3 row-filtered images, one full response, one row-filtered energy on the grid's
 * columns, one padded row. */
size_t fab_anomaly_scratch(int S) {
    return 4 * (size_t)S * S + (size_t)S * fab_anomaly_grid(S) + (size_t)S + 2 * MAX_RADIUS;
}

/* row (S) extended by r mirrored samples on each side into pad (S + 2r). */
static void pad_row(const float *row, int S, int r, float *pad) {
    for (int i = -r; i < S + r; i++) pad[i + r] = row[mirror(i, S)];
}

/* out (S x S) = in convolved along rows with k (radius r). */
static void rows_full(const float *in, int S, const float *k, int r, float *out, float *pad) {
    for (int y = 0; y < S; y++) {
        pad_row(in + (size_t)y * S, S, r, pad);
        float *o = out + (size_t)y * S;
        for (int x = 0; x < S; x++) o[x] = 0;
        for (int t = -r; t <= r; t++) {
            const float kt = k[t + r], *p = pad + r - t;
            for (int x = 0; x < S; x++) o[x] += kt * p[x];
        }
    }
}

/* out (S x S) = in convolved along columns with k (radius r). */
static void cols_full(const float *in, int S, const float *k, int r, float *out) {
    for (int y = 0; y < S; y++) {
        float *o = out + (size_t)y * S;
        for (int x = 0; x < S; x++) o[x] = 0;
        for (int t = -r; t <= r; t++) {
            const float kt = k[t + r], *p = in + (size_t)mirror(y - t, S) * S;
            for (int x = 0; x < S; x++) o[x] += kt * p[x];
        }
    }
}

void fab_anomaly_features(const float *x, int S, float *feat, float *scratch) {
    const int G = fab_anomaly_grid(S), off = first_centre(), D = FAB_ANOMALY_DIM, ST = FAB_ANOMALY_STRIDE;
    float *h = scratch;                       /* 3 x S x S: rows filtered by orders 0, 1, 2 */
    float *resp = h + 3 * (size_t)S * S;      /* S x S: one response */
    float *eh = resp + (size_t)S * S;         /* S x G: its square filtered along rows, grid columns */
    float *pad = eh + (size_t)S * G;          /* S + 2 MAX_RADIUS */
    /* (order along x, order along y) of each derivative */
    static const int ox[6] = {0, 1, 0, 2, 1, 0}, oy[6] = {0, 0, 1, 0, 1, 2};
    for (int s = 0; s < FAB_ANOMALY_SCALES; s++) {
        float k[3][2 * MAX_RADIUS + 1], ke[3][2 * MAX_RADIUS + 1];
        int r = kernels(fab_anomaly_sigma[s], k), re = kernels(2 * fab_anomaly_sigma[s], ke);
        for (int o = 0; o < 3; o++) rows_full(x, S, k[o], r, h + (size_t)o * S * S, pad);
        for (int c = 0; c < 6; c++) {
            cols_full(h + (size_t)ox[c] * S * S, S, k[oy[c]], r, resp);
            const int raw = 6 * s + c, energy = 6 * FAB_ANOMALY_SCALES + 6 * s + c;
            for (int jy = 0; jy < G; jy++)
                for (int jx = 0; jx < G; jx++)
                    feat[((size_t)jy * G + jx) * D + raw] = resp[(size_t)(off + ST * jy) * S + off + ST * jx];
            /* the local energy: the squared response smoothed at twice the scale, on the grid */
            for (size_t i = 0; i < (size_t)S * S; i++) resp[i] *= resp[i];
            for (int y = 0; y < S; y++) {
                pad_row(resp + (size_t)y * S, S, re, pad);
                for (int jx = 0; jx < G; jx++) {
                    const float *p = pad + off + ST * jx; /* pad[re + cx - re .. re + cx + re] */
                    float acc = 0;
                    for (int t = 0; t <= 2 * re; t++) acc += ke[0][t] * p[t];
                    eh[(size_t)y * G + jx] = acc;
                }
            }
            for (int jy = 0; jy < G; jy++) {
                const int cy = off + ST * jy;
                for (int jx = 0; jx < G; jx++) {
                    float acc = 0;
                    for (int t = -re; t <= re; t++) acc += ke[0][t + re] * eh[(size_t)mirror(cy - t, S) * G + jx];
                    feat[((size_t)jy * G + jx) * D + energy] = sqrtf(acc);
                }
            }
        }
    }
}

/* Greedy k-center selection of m of the n rows of all (n x D): bank (m x D) receives them, the
 * first row drawn from rng. Each step measures every row's squared distance to the row last added,
 * keeps each row's distance to the nearest selected one, and takes the farthest row next. The rows
 * are walked feature by feature (a transposed copy) in blocks that stay in the cache. */
static mc_status coreset(const float *all, int64_t n, int m, float *bank, mc_rng *rng, mc_error *err) {
    const int D = FAB_ANOMALY_DIM;
    enum { BLOCK = 2048 };
    float *t = malloc(sizeof(float) * (size_t)n * D), *mind = malloc(sizeof(float) * (size_t)n);
    if (!t || !mind) {
        free(t);
        free(mind);
        return mc_error_set(err, MC_ERR_NOMEM, "out of memory selecting a coreset of %lld patches", (long long)n);
    }
    #pragma omp parallel for
    for (int64_t i = 0; i < n; i++) {
        for (int c = 0; c < D; c++) t[(size_t)c * n + i] = all[i * D + c];
        mind[i] = FLT_MAX;
    }
    int64_t next = (int64_t)mc_rng_below(rng, (uint64_t)n);
    for (int j = 0; j < m; j++) {
        float p[FAB_ANOMALY_DIM];
        memcpy(p, all + next * D, sizeof p);
        memcpy(bank + (size_t)j * D, p, sizeof p);
        float best = -1;
        int64_t arg = 0;
        #pragma omp parallel
        {
            float lbest = -1, d[BLOCK];
            int64_t larg = 0;
            #pragma omp for schedule(static)
            for (int64_t b0 = 0; b0 < n; b0 += BLOCK) {
                int len = n - b0 < BLOCK ? (int)(n - b0) : BLOCK;
                for (int i = 0; i < len; i++) d[i] = 0;
                for (int c = 0; c < D; c++) {
                    const float *tc = t + (size_t)c * n + b0, pc = p[c];
                    for (int i = 0; i < len; i++) d[i] += (tc[i] - pc) * (tc[i] - pc);
                }
                float *mb = mind + b0;
                for (int i = 0; i < len; i++) {
                    if (d[i] < mb[i]) mb[i] = d[i];
                    if (mb[i] > lbest) {
                        lbest = mb[i];
                        larg = b0 + i;
                    }
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
    free(t);
    free(mind);
    return MC_OK;
}

mc_status fab_anomaly_fit(fab_anomaly *a, const fab_image_set *good, const uint8_t *use, int bank_size, mc_rng *rng,
                          mc_error *err) {
    memset(a, 0, sizeof *a);
    const int D = FAB_ANOMALY_DIM, S = good->size, G = fab_anomaly_grid(S), P = G * G;
    int n_good = 0;
    for (int i = 0; i < good->n; i++) n_good += !good->label[i] && (!use || use[i]);
    if (n_good < 1) return mc_error_set(err, MC_ERR_ARG, "the anomaly model needs good images");
    if (S % 8 || S < 32) return mc_error_set(err, MC_ERR_ARG, "the anomaly model needs a side that is a multiple of 8 and at least 32, got %d", S);
    a->size = S;
    int64_t n = (int64_t)n_good * P;
    float *all = malloc(sizeof(float) * (size_t)n * D);
    int *which = malloc(sizeof(int) * (size_t)n_good);
    int m = n < bank_size ? (int)n : bank_size;
    a->bank = malloc(sizeof(float) * (size_t)m * D);
    float *scratch = malloc(sizeof(float) * fab_anomaly_scratch(S) * (size_t)omp_get_max_threads());
    mc_status st = MC_OK;
    if (!all || !which || !a->bank || !scratch) {
        st = mc_error_set(err, MC_ERR_NOMEM, "out of memory for %lld patch features", (long long)n);
        goto done;
    }
    for (int i = 0, k = 0; i < good->n; i++)
        if (!good->label[i] && (!use || use[i])) which[k++] = i;
    #pragma omp parallel for schedule(dynamic)
    for (int k = 0; k < n_good; k++)
        fab_anomaly_features(good->x + (size_t)which[k] * S * S, S, all + (size_t)k * P * D,
                             scratch + fab_anomaly_scratch(S) * (size_t)omp_get_thread_num());
    /* standardise each feature over the good patches */
    for (int c = 0; c < D; c++) {
        double mu = 0, v = 0;
        for (int64_t i = 0; i < n; i++) mu += all[i * D + c];
        mu /= (double)n;
        for (int64_t i = 0; i < n; i++) v += (all[i * D + c] - mu) * (all[i * D + c] - mu);
        double sd = sqrt(v / (double)n);
        a->mean[c] = (float)mu;
        a->std[c] = (float)(sd > 1e-6 ? sd : 1e-6);
        for (int64_t i = 0; i < n; i++) all[i * D + c] = (all[i * D + c] - a->mean[c]) / a->std[c];
    }
    if ((st = coreset(all, n, m, a->bank, rng, err)) != MC_OK) goto done;
    a->n_bank = m;
    st = fab_nn_create(&a->index, a->bank, m, D, err);
done:
    free(all);
    free(which);
    free(scratch);
    if (st != MC_OK) fab_anomaly_free(a);
    return st;
}

mc_status fab_anomaly_crossfit(const fab_image_set *good, int folds, int bank_size, mc_rng *rng, double *score,
                               mc_error *err) {
    const int S = good->size, M = S / 8;
    int *fold = malloc(sizeof(int) * (size_t)(good->n > 0 ? good->n : 1)), *order = malloc(sizeof(int) * (size_t)(good->n > 0 ? good->n : 1));
    uint8_t *use = malloc((size_t)(good->n > 0 ? good->n : 1));
    float *x = malloc(sizeof(float) * (size_t)S * S * 16), *map = malloc(sizeof(float) * (size_t)M * M * 16);
    mc_status st = fold && order && use && x && map ? MC_OK : mc_error_set(err, MC_ERR_NOMEM, "out of memory");
    int k = 0;
    for (int i = 0; i < good->n; i++) {
        score[i] = NAN;
        if (!good->label[i]) order[k++] = i;
    }
    if (st == MC_OK && k < folds) st = mc_error_set(err, MC_ERR_ARG, "%d good images cannot be split in %d folds", k, folds);
    if (st == MC_OK) {
        mc_rng_shuffle(rng, order, k);
        for (int j = 0; j < k; j++) fold[order[j]] = j % folds;
    }
    for (int f = 0; f < folds && st == MC_OK; f++) {
        for (int i = 0; i < good->n; i++) use[i] = !good->label[i] && fold[i] != f;
        fab_anomaly a;
        if ((st = fab_anomaly_fit(&a, good, use, bank_size, rng, err)) != MC_OK) break;
        /* the fold's images, scored in batches of 16 */
        int idx[16], nb = 0;
        for (int i = 0; i <= good->n && st == MC_OK; i++) {
            int in = i < good->n && !good->label[i] && fold[i] == f;
            if (in) {
                memcpy(x + (size_t)nb * S * S, good->x + (size_t)i * S * S, sizeof(float) * (size_t)S * S);
                idx[nb++] = i;
            }
            if (nb == 16 || (i == good->n && nb > 0)) {
                double s[16];
                st = fab_anomaly_score(&a, x, nb, map, s, err);
                for (int j = 0; j < nb; j++) score[idx[j]] = s[j];
                nb = 0;
            }
        }
        fab_anomaly_free(&a);
    }
    free(fold);
    free(order);
    free(use);
    free(x);
    free(map);
    return st;
}

mc_status fab_anomaly_from_tensors(fab_anomaly *a, int S, const float *mean, const float *std, const float *bank,
                                   int n_bank, mc_error *err) {
    memset(a, 0, sizeof *a);
    const int D = FAB_ANOMALY_DIM;
    a->size = S;
    a->bank = malloc(sizeof(float) * (size_t)n_bank * D);
    if (!a->bank) return mc_error_set(err, MC_ERR_NOMEM, "out of memory for a bank of %d patches", n_bank);
    memcpy(a->mean, mean, sizeof a->mean);
    memcpy(a->std, std, sizeof a->std);
    memcpy(a->bank, bank, sizeof(float) * (size_t)n_bank * D);
    a->n_bank = n_bank;
    mc_status st = fab_nn_create(&a->index, a->bank, n_bank, D, err);
    if (st != MC_OK) fab_anomaly_free(a);
    return st;
}

void fab_anomaly_free(fab_anomaly *a) {
    if (!a) return;
    fab_nn_free(a->index);
    free(a->bank);
    memset(a, 0, sizeof *a);
}

mc_status fab_anomaly_score(fab_anomaly *a, const float *x, int n, float *map, double *score, mc_error *err) {
    const int D = FAB_ANOMALY_DIM, S = a->size, G = fab_anomaly_grid(S), P = G * G, M = S / 8, off = first_centre();
    float *feat = malloc(sizeof(float) * (size_t)n * P * D), *dist = malloc(sizeof(float) * (size_t)n * P);
    float *scratch = malloc(sizeof(float) * fab_anomaly_scratch(S) * (size_t)omp_get_max_threads());
    if (!feat || !dist || !scratch) {
        free(feat);
        free(dist);
        free(scratch);
        return mc_error_set(err, MC_ERR_NOMEM, "out of memory scoring %d images", n);
    }
    #pragma omp parallel for schedule(dynamic)
    for (int k = 0; k < n; k++) {
        float *f = feat + (size_t)k * P * D;
        fab_anomaly_features(x + (size_t)k * S * S, S, f, scratch + fab_anomaly_scratch(S) * (size_t)omp_get_thread_num());
        for (int i = 0; i < P; i++)
            for (int c = 0; c < D; c++) f[(size_t)i * D + c] = (f[(size_t)i * D + c] - a->mean[c]) / a->std[c];
    }
    mc_status st = fab_nn_search(a->index, feat, n * P, dist, err);
    for (int k = 0; k < n && st == MC_OK; k++) {
        const float *dk = dist + (size_t)k * P;
        float *mk = map + (size_t)k * M * M;
        memset(mk, 0, sizeof(float) * (size_t)M * M);
        double top = 0;
        for (int jy = 0; jy < G; jy++)
            for (int jx = 0; jx < G; jx++) {
                float v = dk[jy * G + jx];
                float *cell = mk + ((off + FAB_ANOMALY_STRIDE * jy) / 8) * M + (off + FAB_ANOMALY_STRIDE * jx) / 8;
                if (v > *cell) *cell = v;
                if (v > top) top = v;
            }
        score[k] = top;
    }
    free(feat);
    free(dist);
    free(scratch);
    return st;
}
