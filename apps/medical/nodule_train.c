/* nodule_train.c: the detector's training set (positives with augmentation, hard negatives), the split
 * by study, and training with the core's recipe (nodule_train.h). */
#include "nodule_train.h"

#include "moecore/roc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "moecore/log.h"

#define PATCH_SIZE ((size_t)MED_PATCH * MED_PATCH * MED_PATCH)

void med_patch_set_free(med_patch_set *s) {
    if (!s) return;
    free(s->x);
    free(s->y);
    free(s->study);
    memset(s, 0, sizeof *s);
}

static int reserve(med_patch_set *s, int extra) {
    if (s->n + extra <= s->cap) return 0;
    int cap = s->cap ? s->cap : 256;
    while (cap < s->n + extra) cap *= 2;
    float *x = realloc(s->x, sizeof *x * PATCH_SIZE * (size_t)cap);
    if (!x) return -1;
    s->x = x;
    float *y = realloc(s->y, sizeof *y * (size_t)cap);
    if (!y) return -1;
    s->y = y;
    int *st = realloc(s->study, sizeof *st * (size_t)cap);
    if (!st) return -1;
    s->study = st;
    s->cap = cap;
    return 0;
}

/* A random augmentation: axis permutation (90-degree rotations and transpositions), a flip of each
 * axis, and when scale is set a zoom of 0.85-1.15. */
static void random_transform(mc_rng *rng, int scale, double a[3][3]) {
    static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    const int *p = perms[mc_rng_below(rng, 6)];
    double z = scale ? 0.85 + 0.3 * mc_rng_uniform(rng) : 1.0;
    memset(a, 0, sizeof(double) * 9);
    for (int r = 0; r < 3; r++) a[r][p[r]] = (mc_rng_below(rng, 2) ? -1.0 : 1.0) * z;
}

static void add_patch(med_patch_set *s, const med_volume *v, const double c[3], const double a[3][3], float label,
                      int study) {
    med_patch_extract(v, c, a, s->x + PATCH_SIZE * (size_t)s->n);
    s->y[s->n] = label;
    s->study[s->n] = study;
    s->n++;
    if (label > 0.5f) s->n_pos++;
    else s->n_neg++;
}

mc_status med_patch_set_add(med_patch_set *s, const med_prepared *p, int study, const double *ann, int n_ann,
                            int pos_copies, int max_neg, mc_rng *rng, mc_error *err) {
    int n_match = 0;
    for (int i = 0; i < p->n_cand; i++) {
        double w[3] = {p->cand[i].x, p->cand[i].y, p->cand[i].z};
        if (med_match_annotation(w, ann, n_ann) >= 0) n_match++;
    }
    int n_neg = p->n_cand - n_match < max_neg ? p->n_cand - n_match : max_neg;
    if (reserve(s, (n_ann + n_match) * pos_copies + n_neg) != 0) return mc_error_set(err, MC_ERR_NOMEM, "out of memory");
    double a[3][3];
    for (int q = 0; q < n_ann; q++) {
        double ijk[3];
        med_volume_to_voxel(p->iso, ann + 4 * q, ijk);
        for (int c = 0; c < pos_copies; c++) {
            double j[3];
            for (int d = 0; d < 3; d++) j[d] = ijk[d] + (c ? 4.0 * mc_rng_uniform(rng) - 2.0 : 0.0);
            random_transform(rng, c > 0, a);
            add_patch(s, p->iso, j, a, 1.0f, study);
        }
    }
    /* negatives: a seeded draw of max_neg of the unmatched candidates, over the whole range of responses */
    int *neg = malloc(sizeof *neg * (size_t)(p->n_cand + 1));
    if (!neg) return mc_error_set(err, MC_ERR_NOMEM, "out of memory");
    int n_unmatched = 0;
    for (int i = 0; i < p->n_cand; i++) {
        double w[3] = {p->cand[i].x, p->cand[i].y, p->cand[i].z};
        double ijk[3] = {p->cand[i].i, p->cand[i].j, p->cand[i].k};
        if (med_match_annotation(w, ann, n_ann) < 0) {
            neg[n_unmatched++] = i;
            continue;
        }
        for (int c = 0; c < pos_copies; c++) {
            random_transform(rng, c > 0, a);
            add_patch(s, p->iso, ijk, a, 1.0f, study);
        }
    }
    mc_rng_shuffle(rng, neg, n_unmatched);
    for (int q = 0; q < n_neg; q++) {
        const med_candidate *c = &p->cand[neg[q]];
        double ijk[3] = {c->i, c->j, c->k};
        random_transform(rng, 0, a);
        add_patch(s, p->iso, ijk, a, 0.0f, study);
    }
    free(neg);
    return MC_OK;
}

mc_status med_patch_set_split(const med_patch_set *s, const int *val_of, med_patch_set *train, med_patch_set *val,
                              mc_error *err) {
    memset(train, 0, sizeof *train);
    memset(val, 0, sizeof *val);
    for (int i = 0; i < s->n; i++) {
        med_patch_set *d = val_of[s->study[i]] ? val : train;
        if (reserve(d, 1) != 0) {
            med_patch_set_free(train);
            med_patch_set_free(val);
            return mc_error_set(err, MC_ERR_NOMEM, "out of memory");
        }
        memcpy(d->x + PATCH_SIZE * (size_t)d->n, s->x + PATCH_SIZE * (size_t)i, sizeof(float) * PATCH_SIZE);
        d->y[d->n] = s->y[i];
        d->study[d->n] = s->study[i];
        d->n++;
        if (s->y[i] > 0.5f) d->n_pos++;
        else d->n_neg++;
    }
    return MC_OK;
}

static mc_status val_scores(mc_model *m, const med_patch_set *val, float *score) {
    enum { BATCH = 64 };
    for (int s = 0; s < val->n; s += BATCH) {
        int b = val->n - s < BATCH ? val->n - s : BATCH;
        const float *out;
        mc_status st = mc_model_forward(m, val->x + PATCH_SIZE * (size_t)s, b, 0, NULL, &out);
        if (st != MC_OK) return st;
        memcpy(score + s, out, sizeof(float) * (size_t)b);
    }
    return MC_OK;
}

static int log_epoch(void *user, int epoch, double train_loss, double val_loss, float lr) {
    (void)user;
    mc_log_info("epoch %d: training loss %.4f, validation loss %.4f, learning rate %.2g", epoch + 1, train_loss, val_loss,
                (double)lr);
    return 0;
}

mc_status med_detector_train(const med_patch_set *train, const med_patch_set *val, int epochs, uint64_t seed,
                             mc_model **out, mc_train_result *res, double *val_auc, mc_error *err) {
    *out = NULL;
    *val_auc = NAN;
    if (train->n_pos == 0 || train->n_neg == 0)
        return mc_error_set(err, MC_ERR_ARG, "the training studies give %d nodule and %d other patches: both are needed",
                            train->n_pos, train->n_neg);
    mc_model *m;
    mc_status st = mc_model_create(&m, med_detector_arch(), err);
    if (st != MC_OK) return st;
    mc_rng *rng = mc_rng_create(seed);
    if (!rng) {
        mc_model_destroy(m);
        return mc_error_set(err, MC_ERR_NOMEM, "out of memory");
    }
    mc_model_init(m, rng);
    mc_rng_destroy(rng);
    mc_train_config c;
    mc_train_config_default(&c);
    c.epochs = epochs;
    c.batch = 32;
    c.lr = 2e-3f;
    c.min_lr = 1e-5f;
    c.loss = MC_LOSS_BCE;
    c.pos_weight = (float)train->n_neg / (float)train->n_pos;
    c.seed = seed;
    int has_val = val && val->n_pos > 0 && val->n_neg > 0;
    c.patience = has_val ? 4 : 0;
    c.on_epoch = log_epoch;
    mc_dataset dt = {train->x, train->y, train->n, 1, NULL};
    mc_dataset dv = {has_val ? val->x : NULL, has_val ? val->y : NULL, has_val ? val->n : 0, 1, NULL};
    if ((st = mc_train(m, &c, &dt, has_val ? &dv : NULL, res, err)) != MC_OK) {
        mc_model_destroy(m);
        return st;
    }
    if (has_val) {
        float *score = malloc(sizeof *score * (size_t)val->n);
        st = score ? val_scores(m, val, score) : MC_ERR_NOMEM;
        uint8_t *label = st == MC_OK ? malloc((size_t)(val->n > 0 ? val->n : 1)) : NULL;
        for (int i = 0; label && i < val->n; i++) label[i] = val->y[i] > 0.5f;
        if (label && mc_auroc(score, label, val->n, val_auc) != MC_OK) *val_auc = NAN;
        free(label);
        free(score);
        if (st != MC_OK) {
            mc_model_destroy(m);
            return mc_error_set(err, st, "validation: %s", mc_status_str(st));
        }
    }
    *out = m;
    return MC_OK;
}
