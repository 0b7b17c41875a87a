/* nodule_train.c: the detector's training set (positives with augmentation, diameter and type
 * targets, hard negatives), the split by study, its metrics, and the training step loop with the
 * masked multi-task loss (nodule_train.h). */
#include "nodule_train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "moecore/log.h"
#include "moecore/loss.h"
#include "moecore/optim.h"
#include "moecore/roc.h"

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
    float *x = realloc(s->x, sizeof *x * MED_INPUT_SIZE * (size_t)cap);
    if (!x) return -1;
    s->x = x;
    float *y = realloc(s->y, sizeof *y * MED_TARGETS * (size_t)cap);
    if (!y) return -1;
    s->y = y;
    int *st = realloc(s->study, sizeof *st * (size_t)cap);
    if (!st) return -1;
    s->study = st;
    s->cap = cap;
    return 0;
}

/* A random augmentation: axis permutation (90-degree rotations and transpositions), a flip of each
 * axis, and when scale is set a zoom of 0.85-1.15. Returns the zoom. */
static double random_transform(mc_rng *rng, int scale, double a[3][3]) {
    static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    const int *p = perms[mc_rng_below(rng, 6)];
    double z = scale ? 0.85 + 0.3 * mc_rng_uniform(rng) : 1.0;
    memset(a, 0, sizeof(double) * 9);
    for (int r = 0; r < 3; r++) a[r][p[r]] = (mc_rng_below(rng, 2) ? -1.0 : 1.0) * z;
    return z;
}

/* A patch at c with transform a; a positive (diameter > 0) shows its nodule at diameter / zoom. */
static void add_patch(med_patch_set *s, const med_volume *v, const double c[3], const double a[3][3], double zoom,
                      double diameter, int type, int study) {
    med_patch_input(v, c, a, s->x + MED_INPUT_SIZE * (size_t)s->n);
    float *y = s->y + MED_TARGETS * (size_t)s->n;
    int pos = diameter > 0;
    y[0] = pos ? 1.0f : 0.0f;
    y[1] = pos ? (float)log(diameter / zoom / MED_DIAMETER_REF_MM) : 0.0f;
    y[2] = pos ? (float)type : -1.0f;
    s->study[s->n] = study;
    s->n++;
    if (pos) s->n_pos++;
    else s->n_neg++;
}

mc_status med_patch_set_add(med_patch_set *s, const med_prepared *p, int study, const double *ann, const int *type,
                            int n_ann, int pos_copies, int max_neg, mc_rng *rng, mc_error *err) {
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
            double zoom = random_transform(rng, c > 0, a);
            add_patch(s, p->iso, j, a, zoom, ann[4 * q + 3], type ? type[q] : -1, study);
        }
    }
    /* negatives: a seeded draw of max_neg of the unmatched candidates, over the whole range of responses */
    int *neg = malloc(sizeof *neg * (size_t)(p->n_cand + 1));
    if (!neg) return mc_error_set(err, MC_ERR_NOMEM, "out of memory");
    int n_unmatched = 0;
    for (int i = 0; i < p->n_cand; i++) {
        double w[3] = {p->cand[i].x, p->cand[i].y, p->cand[i].z};
        double ijk[3] = {p->cand[i].i, p->cand[i].j, p->cand[i].k};
        int q = med_match_annotation(w, ann, n_ann);
        if (q < 0) {
            neg[n_unmatched++] = i;
            continue;
        }
        for (int c = 0; c < pos_copies; c++) {
            double zoom = random_transform(rng, c > 0, a);
            add_patch(s, p->iso, ijk, a, zoom, ann[4 * q + 3], type ? type[q] : -1, study);
        }
    }
    mc_rng_shuffle(rng, neg, n_unmatched);
    for (int q = 0; q < n_neg; q++) {
        const med_candidate *c = &p->cand[neg[q]];
        double ijk[3] = {c->i, c->j, c->k};
        random_transform(rng, 0, a);
        add_patch(s, p->iso, ijk, a, 1.0, 0.0, -1, study);
    }
    free(neg);
    return MC_OK;
}

mc_status med_patch_set_add_negatives(med_patch_set *s, const med_prepared *p, int study, const int *idx, int n,
                                      int copies, mc_rng *rng, mc_error *err) {
    if (reserve(s, n * copies) != 0) return mc_error_set(err, MC_ERR_NOMEM, "out of memory");
    double a[3][3];
    for (int q = 0; q < n; q++) {
        const med_candidate *c = &p->cand[idx[q]];
        double ijk[3] = {c->i, c->j, c->k};
        for (int k = 0; k < copies; k++) {
            if (k == 0) memcpy(a, (double[3][3]){{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, sizeof a);
            else random_transform(rng, 0, a);
            add_patch(s, p->iso, ijk, a, 1.0, 0.0, -1, study);
        }
    }
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
        memcpy(d->x + MED_INPUT_SIZE * (size_t)d->n, s->x + MED_INPUT_SIZE * (size_t)i, sizeof(float) * MED_INPUT_SIZE);
        memcpy(d->y + MED_TARGETS * (size_t)d->n, s->y + MED_TARGETS * (size_t)i, sizeof(float) * MED_TARGETS);
        d->study[d->n] = s->study[i];
        d->n++;
        if (s->y[MED_TARGETS * (size_t)i] > 0.5f) d->n_pos++;
        else d->n_neg++;
    }
    return MC_OK;
}

double med_detector_loss(const float *out, const float *y, int b, float pos_weight, float *dout) {
    /* the columns the core's losses take: logits and labels of all, diameters and type logits of the
     * positives, each with its gradient */
    float *f = malloc(sizeof *f * (size_t)(b > 0 ? b : 1) * 12);
    int32_t *type_t = malloc(sizeof *type_t * (size_t)(b > 0 ? b : 1));
    if (!f || !type_t) {
        free(f);
        free(type_t);
        return NAN;
    }
    float *logit = f, *label = f + b, *g_logit = f + 2 * b, *diam = f + 3 * b, *diam_t = f + 4 * b;
    float *g_diam = f + 5 * b, *types = f + 6 * b, *g_types = f + 9 * b;
    int np = 0;
    for (int i = 0; i < b; i++) {
        const float *o = out + (size_t)i * MED_HEADS, *t = y + (size_t)i * MED_TARGETS;
        logit[i] = o[0];
        label[i] = t[0];
        g_logit[i] = 0;
        if (t[0] > 0.5f) {
            diam[np] = o[1];
            diam_t[np] = t[1];
            g_diam[np] = 0;
            memcpy(types + 3 * np, o + 2, 3 * sizeof(float));
            memset(g_types + 3 * np, 0, 3 * sizeof(float));
            type_t[np] = (int32_t)t[2];
            np++;
        }
    }
    int grad = dout != NULL;
    double loss = mc_bce_logits_loss(grad ? g_logit : NULL, 1.0f, logit, label, b, pos_weight);
    if (np > 0) {
        loss += MED_W_DIAMETER * mc_huber_loss(grad ? g_diam : NULL, MED_W_DIAMETER, diam, diam_t, np, MED_HUBER_DELTA);
        loss += MED_W_TYPE * mc_cross_entropy_loss(grad ? g_types : NULL, MED_W_TYPE, types, type_t, np, 3);
    }
    for (int i = 0, q = 0; grad && i < b; i++) {
        float *d = dout + (size_t)i * MED_HEADS;
        memset(d, 0, MED_HEADS * sizeof *d);
        d[0] = g_logit[i];
        if (y[(size_t)i * MED_TARGETS] > 0.5f) {
            d[1] = g_diam[q];
            memcpy(d + 2, g_types + 3 * q, 3 * sizeof(float));
            q++;
        }
    }
    free(f);
    free(type_t);
    return loss;
}

enum { BATCH = 32 };

/* The network's outputs (s->n, MED_HEADS) on s in evaluation mode, in batches. */
static mc_status outputs_of(mc_model *m, const med_patch_set *s, float *out) {
    for (int i = 0; i < s->n; i += BATCH) {
        int b = s->n - i < BATCH ? s->n - i : BATCH;
        const float *y;
        mc_status st = mc_model_forward(m, s->x + MED_INPUT_SIZE * (size_t)i, b, 0, NULL, &y);
        if (st != MC_OK) return st;
        memcpy(out + (size_t)i * MED_HEADS, y, sizeof(float) * MED_HEADS * (size_t)b);
    }
    return MC_OK;
}

mc_status med_patch_metrics_of(mc_model *m, const med_patch_set *s, med_patch_metrics *r, mc_error *err) {
    r->auc = r->diameter_mae_mm = r->type_accuracy = NAN;
    mc_status st = med_detector_check(m, err);
    if (st != MC_OK) return st;
    float *out = malloc(sizeof *out * MED_HEADS * (size_t)(s->n + 1)), *logit = malloc(sizeof *logit * (size_t)(s->n + 1));
    uint8_t *label = malloc((size_t)(s->n + 1));
    if (!out || !logit || !label) {
        st = mc_error_set(err, MC_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((st = outputs_of(m, s, out)) != MC_OK) {
        st = mc_error_set(err, st, "the detector's forward pass failed: %s", mc_status_str(st));
        goto done;
    }
    double abs_err = 0;
    int n_pos = 0, n_typed = 0, right = 0;
    for (int i = 0; i < s->n; i++) {
        const float *y = s->y + MED_TARGETS * (size_t)i;
        logit[i] = out[(size_t)i * MED_HEADS];
        label[i] = y[0] > 0.5f;
        if (!label[i]) continue;
        med_score sc = med_score_of(out + (size_t)i * MED_HEADS);
        abs_err += fabs(sc.diameter_mm - MED_DIAMETER_REF_MM * exp((double)y[1]));
        n_pos++;
        if (y[2] >= 0) {
            n_typed++;
            right += (int)sc.type == (int)y[2];
        }
    }
    if (n_pos > 0) r->diameter_mae_mm = abs_err / n_pos;
    if (n_typed > 0) r->type_accuracy = (double)right / n_typed;
    if (n_pos > 0 && n_pos < s->n && mc_auroc(logit, label, s->n, &r->auc) != MC_OK) r->auc = NAN;
done:
    free(out);
    free(logit);
    free(label);
    return st;
}

/* The mean multi-task loss over s in evaluation mode. */
static mc_status mean_loss(mc_model *m, const med_patch_set *s, float pos_weight, double *loss) {
    double sum = 0;
    for (int i = 0; i < s->n; i += BATCH) {
        int b = s->n - i < BATCH ? s->n - i : BATCH;
        const float *y;
        mc_status st = mc_model_forward(m, s->x + MED_INPUT_SIZE * (size_t)i, b, 0, NULL, &y);
        if (st != MC_OK) return st;
        sum += b * med_detector_loss(y, s->y + MED_TARGETS * (size_t)i, b, pos_weight, NULL);
    }
    *loss = s->n > 0 ? sum / s->n : NAN;
    return MC_OK;
}

mc_status med_detector_train(const med_patch_set *train, const med_patch_set *val, int epochs, uint64_t seed,
                             mc_model **out, mc_train_result *res, med_patch_metrics *vm, mc_error *err) {
    const float lr_peak = 2e-3f, lr_min = 1e-5f, weight_decay = 0.01f, clip = 1.0f, warmup = 0.05f;
    const int patience = 4;
    *out = NULL;
    vm->auc = vm->diameter_mae_mm = vm->type_accuracy = NAN;
    memset(res, 0, sizeof *res);
    res->resumed_from = -1;
    res->best_epoch = 0;
    res->best_val = INFINITY;
    if (train->n_pos == 0 || train->n_neg == 0)
        return mc_error_set(err, MC_ERR_ARG, "the training studies give %d nodule and %d other patches: both are needed",
                            train->n_pos, train->n_neg);
    int has_val = val && val->n_pos > 0 && val->n_neg > 0;
    mc_model *m = NULL, *best = NULL;
    mc_status st = mc_model_create(&m, med_detector_arch(), err);
    if (st != MC_OK) return st;
    if (has_val && (st = mc_model_create(&best, med_detector_arch(), err)) != MC_OK) {
        mc_model_destroy(m);
        return st;
    }
    const int64_t np = mc_model_num_params(m);
    mc_optim_config oc = {.kind = MC_OPTIM_ADAMW, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    mc_rng *rng = mc_rng_create(seed);
    mc_optim *o = mc_optim_create(&oc, np);
    int *order = malloc(sizeof *order * (size_t)train->n);
    float *xb = malloc(sizeof *xb * MED_INPUT_SIZE * BATCH), *yb = malloc(sizeof *yb * MED_TARGETS * BATCH);
    float *dout = malloc(sizeof *dout * MED_HEADS * BATCH);
    if (!rng || !o || !order || !xb || !yb || !dout) {
        st = mc_error_set(err, MC_ERR_NOMEM, "out of memory");
        goto done;
    }
    mc_model_init(m, rng);
    const float pos_weight = (float)train->n_neg / (float)train->n_pos;
    const int64_t steps = (int64_t)epochs * ((train->n + BATCH - 1) / BATCH);
    const mc_lr_schedule sched = {lr_peak, lr_min, (int64_t)(warmup * (double)steps), steps};
    for (int i = 0; i < train->n; i++) order[i] = i;
    int64_t step = 0;
    int bad_epochs = 0;
    for (int epoch = 0; epoch < epochs; epoch++) {
        mc_rng_shuffle(rng, order, train->n);
        double sum = 0;
        float lr = 0;
        for (int s = 0; s < train->n; s += BATCH) {
            int b = train->n - s < BATCH ? train->n - s : BATCH;
            for (int i = 0; i < b; i++) {
                memcpy(xb + MED_INPUT_SIZE * (size_t)i, train->x + MED_INPUT_SIZE * (size_t)order[s + i],
                       sizeof *xb * MED_INPUT_SIZE);
                memcpy(yb + MED_TARGETS * (size_t)i, train->y + MED_TARGETS * (size_t)order[s + i],
                       sizeof *yb * MED_TARGETS);
            }
            const float *y;
            mc_model_zero_grad(m);
            if ((st = mc_model_forward(m, xb, b, 1, rng, &y)) != MC_OK) break;
            double loss = med_detector_loss(y, yb, b, pos_weight, dout);
            if ((st = mc_model_backward(m, dout, NULL)) != MC_OK) break;
            if (!isfinite(loss)) {
                st = mc_error_set(err, MC_ERR_INTERNAL, "training diverged at epoch %d (loss %g)", epoch + 1, loss);
                goto done;
            }
            sum += loss * b;
            mc_clip_grad_norm(mc_model_grads(m), np, clip);
            lr = mc_lr_at(&sched, step++);
            mc_train_update(m, o, lr, weight_decay);
        }
        if (st != MC_OK) {
            st = mc_error_set(err, st, "training: %s", mc_status_str(st));
            goto done;
        }
        double tl = sum / train->n, vl = tl;
        if (has_val && (st = mean_loss(m, val, pos_weight, &vl)) != MC_OK) {
            st = mc_error_set(err, st, "validation: %s", mc_status_str(st));
            goto done;
        }
        if (epoch < 1024) {
            res->train_loss[epoch] = tl;
            res->val_loss[epoch] = vl;
        }
        res->epochs_run = epoch + 1;
        mc_log_info("epoch %d: training loss %.4f, validation loss %.4f, learning rate %.2g", epoch + 1, tl, vl,
                    (double)lr);
        if (vl < res->best_val) {
            res->best_val = vl;
            res->best_epoch = epoch + 1;
            bad_epochs = 0;
            if (best) mc_model_copy(best, m);
        } else if (has_val && ++bad_epochs >= patience) {
            res->stopped_early = 1;
            break;
        }
    }
    if (best && res->best_epoch > 0) mc_model_copy(m, best);
    if (has_val) st = med_patch_metrics_of(m, val, vm, err);
done:
    if (st == MC_OK) *out = m;
    else mc_model_destroy(m);
    mc_model_destroy(best);
    mc_rng_destroy(rng);
    mc_optim_destroy(o);
    free(order);
    free(xb);
    free(yb);
    free(dout);
    return st;
}
