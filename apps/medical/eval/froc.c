/* froc.c: LUNA16's matching of predictions to nodules, its FROC curve, the CPM and the bootstrap. */
#include "froc.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

const double med_froc_rates[MED_FROC_N_RATES] = {0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0};

/* One entry of the sweep: a detected nodule (gt 1, its best hit's score) or a false positive. */
typedef struct entry {
    double score;
    int scan;
    int gt;
} entry;

struct med_froc_data {
    med_froc_counts counts;
    int *nodules;  /* per scan */
    entry *e;      /* sorted by score, highest first */
    int n_e;
};

typedef struct uid_index {
    const char *uid;
    int scan;
} uid_index;

static int cmp_uid(const void *a, const void *b) {
    return strcmp(((const uid_index *)a)->uid, ((const uid_index *)b)->uid);
}

static int cmp_entry(const void *a, const void *b) {
    const entry *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    if (x->scan != y->scan) return x->scan - y->scan;
    return x->gt - y->gt;
}

/* The scan of uid, or -1 when it is not in the list. */
static int find_scan(const uid_index *idx, int n, const char *uid) {
    uid_index key = {uid, 0};
    const uid_index *hit = bsearch(&key, idx, (size_t)n, sizeof *idx, cmp_uid);
    return hit ? hit->scan : -1;
}

/* Marks grouped by scan: the marks of scan s are order[start[s] .. start[s + 1]). */
typedef struct grouped {
    int *start, *order;
} grouped;

static int group_marks(const med_marks *m, const uid_index *idx, int n_scans, grouped *g, int *outside) {
    int n = m ? m->n : 0;
    g->start = calloc((size_t)n_scans + 2, sizeof(int));
    g->order = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    int *scan = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    if (!g->start || !g->order || !scan) {
        free(scan);
        return -1;
    }
    *outside = 0;
    for (int i = 0; i < n; i++) {
        scan[i] = find_scan(idx, n_scans, m->v[i].seriesuid);
        if (scan[i] < 0) (*outside)++;
        else g->start[scan[i] + 2]++;
    }
    for (int s = 0; s < n_scans; s++) g->start[s + 2] += g->start[s + 1];
    for (int i = 0; i < n; i++)
        if (scan[i] >= 0) g->order[g->start[scan[i] + 1]++] = i;
    free(scan);
    return 0;
}

static void grouped_free(grouped *g) {
    free(g->start);
    free(g->order);
}

static int hits(const med_mark *nodule, const med_mark *p) {
    double dx = nodule->x - p->x, dy = nodule->y - p->y, dz = nodule->z - p->z;
    double r = nodule->value / 2.0;
    return dx * dx + dy * dy + dz * dz < r * r;
}

void med_froc_data_free(med_froc_data *d) {
    if (!d) return;
    free(d->nodules);
    free(d->e);
    free(d);
}

const med_froc_counts *med_froc_counts_of(const med_froc_data *d) { return &d->counts; }

mc_status med_froc_prepare(med_froc_data **out, const med_marks *annotations, const med_marks *excluded,
                           const med_marks *predictions, char *const *uids, int n_scans, mc_error *err) {
    *out = NULL;
    if (!annotations || !predictions || !uids || n_scans <= 0)
        return mc_error_set(err, MC_ERR_ARG, "FROC: annotations, predictions and at least one scan are needed");
    med_froc_data *d = calloc(1, sizeof *d);
    uid_index *idx = malloc(sizeof *idx * (size_t)n_scans);
    grouped ga = {0}, gx = {0}, gp = {0};
    char *state = NULL; /* per prediction: 0 unmatched, 1 on a nodule, 2 on an irrelevant finding */
    int out_x = 0;
    if (!d || !idx) goto nomem;
    for (int s = 0; s < n_scans; s++) idx[s] = (uid_index){uids[s], s};
    qsort(idx, (size_t)n_scans, sizeof *idx, cmp_uid);
    for (int s = 1; s < n_scans; s++) {
        if (strcmp(idx[s - 1].uid, idx[s].uid) == 0) {
            mc_status st = mc_error_set(err, MC_ERR_ARG, "FROC: scan %.80s listed twice", idx[s].uid);
            free(idx);
            free(d);
            return st;
        }
    }
    if (group_marks(annotations, idx, n_scans, &ga, &d->counts.nodules_outside) != 0 ||
        group_marks(excluded, idx, n_scans, &gx, &out_x) != 0 ||
        group_marks(predictions, idx, n_scans, &gp, &d->counts.outside) != 0)
        goto nomem;
    d->counts.scans = n_scans;
    d->counts.nodules = annotations->n - d->counts.nodules_outside;
    d->counts.predictions = predictions->n - d->counts.outside;
    d->nodules = malloc(sizeof(int) * (size_t)n_scans);
    d->e = malloc(sizeof(entry) * (size_t)(d->counts.nodules + d->counts.predictions + 1));
    state = calloc((size_t)(predictions->n + 1), 1);
    if (!d->nodules || !d->e || !state) goto nomem;
    for (int s = 0; s < n_scans; s++) {
        d->nodules[s] = ga.start[s + 1] - ga.start[s];
        for (int a = ga.start[s]; a < ga.start[s + 1]; a++) {
            const med_mark *nod = &annotations->v[ga.order[a]];
            int found = 0;
            double best = 0;
            for (int q = gp.start[s]; q < gp.start[s + 1]; q++) {
                int p = gp.order[q];
                if (!hits(nod, &predictions->v[p])) continue;
                if (!found || predictions->v[p].value > best) best = predictions->v[p].value;
                found = 1;
                state[p] = 1;
            }
            if (found) {
                d->e[d->n_e++] = (entry){best, s, 1};
                d->counts.detected++;
            }
        }
        for (int a = excluded ? gx.start[s] : 0; excluded && a < gx.start[s + 1]; a++) {
            const med_mark *finding = &excluded->v[gx.order[a]];
            for (int q = gp.start[s]; q < gp.start[s + 1]; q++) {
                int p = gp.order[q];
                if (state[p] == 0 && hits(finding, &predictions->v[p])) {
                    state[p] = 2;
                    d->counts.ignored++;
                }
            }
        }
        for (int q = gp.start[s]; q < gp.start[s + 1]; q++) {
            int p = gp.order[q];
            if (state[p] == 0) {
                d->e[d->n_e++] = (entry){predictions->v[p].value, s, 0};
                d->counts.false_positives++;
            }
        }
    }
    qsort(d->e, (size_t)d->n_e, sizeof *d->e, cmp_entry);
    free(idx);
    free(state);
    grouped_free(&ga);
    grouped_free(&gx);
    grouped_free(&gp);
    *out = d;
    return MC_OK;
nomem:
    free(idx);
    free(state);
    grouped_free(&ga);
    grouped_free(&gx);
    grouped_free(&gp);
    med_froc_data_free(d);
    return mc_error_set(err, MC_ERR_NOMEM, "FROC: out of memory");
}

/* The curve of a resampling where scan s counts w[s] times (w NULL: once each); nodules is the
 * total number of nodules it holds (> 0). Writes n_e + 1 points at most; returns their number. */
static int sweep(const med_froc_data *d, const int *w, double nodules, double *fps, double *sens, double *thr) {
    double tp = 0, fp = 0, scans = d->counts.scans;
    int n = 0;
    fps[n] = 0;
    sens[n] = 0;
    if (thr) thr[n] = INFINITY;
    n++;
    for (int i = 0; i < d->n_e;) {
        double t = d->e[i].score;
        for (; i < d->n_e && d->e[i].score == t; i++) {
            double k = w ? w[d->e[i].scan] : 1;
            if (d->e[i].gt) tp += k;
            else fp += k;
        }
        fps[n] = fp / scans;
        sens[n] = tp / nodules;
        if (thr) thr[n] = t;
        n++;
    }
    return n;
}

double med_froc_interp(double x, const double *xp, const double *fp, int n) {
    if (x < xp[0]) return fp[0];
    if (x >= xp[n - 1]) return fp[n - 1];
    int lo = 0, hi = n - 1; /* the last j with xp[j] <= x lies in [lo, hi) */
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (xp[mid] <= x) lo = mid;
        else hi = mid;
    }
    return fp[lo] + (fp[lo + 1] - fp[lo]) * (x - xp[lo]) / (xp[lo + 1] - xp[lo]);
}

mc_status med_froc_curve(const med_froc_data *d, double **fps, double **sens, double **thr, int *n, mc_error *err) {
    *fps = *sens = *thr = NULL;
    *n = 0;
    if (d->counts.nodules <= 0)
        return mc_error_set(err, MC_ERR_ARG, "FROC: no nodules in the evaluated scans: sensitivity is undefined");
    size_t m = (size_t)d->n_e + 1;
    *fps = malloc(sizeof(double) * m);
    *sens = malloc(sizeof(double) * m);
    *thr = malloc(sizeof(double) * m);
    if (!*fps || !*sens || !*thr) {
        free(*fps);
        free(*sens);
        free(*thr);
        *fps = *sens = *thr = NULL;
        return mc_error_set(err, MC_ERR_NOMEM, "FROC: out of memory");
    }
    *n = sweep(d, NULL, d->counts.nodules, *fps, *sens, *thr);
    return MC_OK;
}

static double cpm_of(const double *fps, const double *sens, int n, double out[MED_FROC_N_RATES]) {
    double sum = 0;
    for (int r = 0; r < MED_FROC_N_RATES; r++) {
        out[r] = med_froc_interp(med_froc_rates[r], fps, sens, n);
        sum += out[r];
    }
    return sum / MED_FROC_N_RATES;
}

mc_status med_froc_sensitivities(const med_froc_data *d, double sens[MED_FROC_N_RATES], double *cpm, mc_error *err) {
    double *f, *s, *t;
    int n;
    mc_status st = med_froc_curve(d, &f, &s, &t, &n, err);
    if (st != MC_OK) return st;
    *cpm = cpm_of(f, s, n, sens);
    free(f);
    free(s);
    free(t);
    return MC_OK;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* numpy.percentile(v, 100 q) with linear interpolation; sorts v. */
static double percentile(double *v, int n, double q) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double pos = q * (n - 1);
    int lo = (int)floor(pos);
    if (lo >= n - 1) return v[n - 1];
    return v[lo] + (v[lo + 1] - v[lo]) * (pos - lo);
}

mc_status med_froc_bootstrap_run(const med_froc_data *d, int samples, double level, mc_rng *rng,
                                 med_froc_bootstrap *out, mc_error *err) {
    memset(out, 0, sizeof *out);
    if (samples < 1 || !(level > 0 && level < 1) || !rng)
        return mc_error_set(err, MC_ERR_ARG, "bootstrap: need at least one sample and a level in (0, 1)");
    enum { COLS = MED_FROC_N_RATES + 1 + MED_FROC_N_GRID, CHUNK = 64 };
    int n_scans = d->counts.scans, threads = omp_get_max_threads();
    /* resamples are drawn in order from rng, CHUNK at a time, then swept in parallel: the same
     * seed gives the same intervals whatever the number of threads */
    int *w = malloc(sizeof(int) * (size_t)n_scans * CHUNK);
    double *fps = malloc(sizeof(double) * ((size_t)d->n_e + 1) * (size_t)threads);
    double *sens = malloc(sizeof(double) * ((size_t)d->n_e + 1) * (size_t)threads);
    double *m = malloc(sizeof(double) * COLS * (size_t)samples);
    double *col = malloc(sizeof(double) * (size_t)samples);
    char *has = malloc(CHUNK);
    mc_status st = MC_OK;
    if (!w || !fps || !sens || !m || !col || !has) {
        st = mc_error_set(err, MC_ERR_NOMEM, "bootstrap: out of memory");
        goto done;
    }
    out->samples = samples;
    out->level = level;
    for (int g = 0; g < MED_FROC_N_GRID; g++)
        out->grid[g] = med_froc_rates[0] * pow(2.0, 6.0 * g / (MED_FROC_N_GRID - 1));
    for (int b0 = 0; b0 < samples; b0 += CHUNK) {
        int nb = samples - b0 < CHUNK ? samples - b0 : CHUNK;
        memset(w, 0, sizeof(int) * (size_t)n_scans * (size_t)nb);
        for (int b = 0; b < nb; b++)
            for (int s = 0; s < n_scans; s++) w[(size_t)b * (size_t)n_scans + mc_rng_below(rng, (uint64_t)n_scans)]++;
        double *rows = m + (size_t)COLS * (size_t)out->used;
#pragma omp parallel for schedule(dynamic, 1)
        for (int b = 0; b < nb; b++) {
            const int *wb = w + (size_t)b * (size_t)n_scans;
            double nodules = 0;
            for (int s = 0; s < n_scans; s++) nodules += (double)wb[s] * d->nodules[s];
            has[b] = nodules > 0;
            if (!has[b]) continue;
            size_t t = (size_t)omp_get_thread_num() * ((size_t)d->n_e + 1);
            int n = sweep(d, wb, nodules, fps + t, sens + t, NULL);
            double *row = rows + (size_t)COLS * (size_t)b;
            row[MED_FROC_N_RATES] = cpm_of(fps + t, sens + t, n, row);
            for (int g = 0; g < MED_FROC_N_GRID; g++)
                row[MED_FROC_N_RATES + 1 + g] = med_froc_interp(out->grid[g], fps + t, sens + t, n);
        }
        /* keep the resamples that held a nodule, in order */
        for (int b = 0; b < nb; b++) {
            if (!has[b]) continue;
            if (rows + (size_t)COLS * (size_t)b != m + (size_t)COLS * (size_t)out->used)
                memmove(m + (size_t)COLS * (size_t)out->used, rows + (size_t)COLS * (size_t)b, sizeof(double) * COLS);
            out->used++;
        }
    }
    if (out->used == 0) {
        st = mc_error_set(err, MC_ERR_ARG, "bootstrap: no resample held a nodule");
    } else {
        double lo_q = (1 - level) / 2, hi_q = 1 - lo_q;
        for (int c = 0; c < COLS; c++) {
            double mean = 0;
            for (int b = 0; b < out->used; b++) {
                col[b] = m[(size_t)COLS * (size_t)b + (size_t)c];
                mean += col[b];
            }
            mean /= out->used;
            double lo = percentile(col, out->used, lo_q), hi = percentile(col, out->used, hi_q);
            if (c < MED_FROC_N_RATES) {
                out->sens_lo[c] = lo;
                out->sens_hi[c] = hi;
                out->sens_mean[c] = mean;
            } else if (c == MED_FROC_N_RATES) {
                out->cpm_lo = lo;
                out->cpm_hi = hi;
                out->cpm_mean = mean;
            } else {
                out->grid_lo[c - MED_FROC_N_RATES - 1] = lo;
                out->grid_hi[c - MED_FROC_N_RATES - 1] = hi;
            }
        }
    }
done:
    free(w);
    free(fps);
    free(sens);
    free(m);
    free(col);
    free(has);
    return st;
}
