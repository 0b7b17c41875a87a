/* train.c: the shared training loop: batches, losses, optimiser and schedule, clipping, early
 * stopping, checkpoints with exact resume, curriculum, source mixing, FGSM/PGD augmentation. */
#include "moecore/train.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "moecore/loss.h"
#include "moecore/rng.h"

void mc_train_config_default(mc_train_config *c) {
    memset(c, 0, sizeof *c);
    c->epochs = 20;
    c->batch = 64;
    c->optim = (mc_optim_config){.kind = MC_OPTIM_ADAMW, .momentum = 0.9f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    c->lr = 1e-3f;
    c->weight_decay = 0.01f;
    c->warmup = 0.05f;
    c->clip = 1.0f;
    c->loss = MC_LOSS_MSE;
    c->huber_delta = 1.0f;
    c->pos_weight = 1.0f;
    c->focal_alpha = 0.25f;
    c->focal_gamma = 2.0f;
    c->seed = 42;
    c->mix_ratio = 3.0f;
}

int mc_curriculum_count(float start, int ramp_epochs, int epoch, int n) {
    if (start <= 0 || start >= 1 || ramp_epochs <= 0 || epoch >= ramp_epochs) return n;
    double f = start + (1.0 - start) * (double)epoch / ramp_epochs;
    int k = (int)ceil(f * n);
    return k < 1 ? 1 : k > n ? n : k;
}

double mc_train_loss(const mc_train_config *cfg, float *grad, float scale, const float *out, const float *y, int N,
                     int out_size, int y_size) {
    int64_t n = (int64_t)N * out_size;
    switch (cfg->loss) {
    case MC_LOSS_MSE: return mc_mse_loss(grad, scale, out, y, n);
    case MC_LOSS_HUBER: return mc_huber_loss(grad, scale, out, y, n, cfg->huber_delta);
    case MC_LOSS_BCE: return mc_bce_logits_loss(grad, scale, out, y, n, cfg->pos_weight);
    case MC_LOSS_FOCAL: return mc_focal_loss(grad, scale, out, y, n, cfg->focal_alpha, cfg->focal_gamma);
    case MC_LOSS_CE: {
        int32_t *labels = malloc((size_t)N * sizeof *labels);
        if (!labels) return NAN;
        for (int i = 0; i < N; i++) labels[i] = (int32_t)lrintf(y[(int64_t)i * y_size]);
        double l = mc_cross_entropy_loss(grad, scale, out, labels, N, out_size);
        free(labels);
        return l;
    }
    }
    return NAN;
}

/* Checks that a dataset fits the model and the loss. */
static mc_status check_dataset(const mc_model *m, const mc_train_config *cfg, const mc_dataset *d, const char *what,
                               mc_error *err) {
    if (!d || !d->x || !d->y || d->n < 1 || d->y_size < 1)
        return mc_error_set(err, MC_ERR_ARG, "%s data: empty or incomplete", what);
    int64_t out = mc_model_output_size(m);
    if (cfg->loss == MC_LOSS_CE ? d->y_size != 1 : d->y_size != out)
        return mc_error_set(err, MC_ERR_ARG, "%s data: %d target values per sample, the model gives %lld outputs", what,
                            d->y_size, (long long)out);
    return MC_OK;
}

mc_status mc_evaluate(mc_model *m, const mc_train_config *cfg, const mc_dataset *d, double *loss) {
    int B = cfg->batch > 0 ? cfg->batch : 64;
    int64_t in = mc_model_input_size(m), out_n = mc_model_output_size(m);
    double sum = 0.0;
    for (int s = 0; s < d->n; s += B) {
        int b = d->n - s < B ? d->n - s : B;
        const float *out;
        mc_status st = mc_model_forward(m, d->x + (int64_t)s * in, b, 0, NULL, &out);
        if (st != MC_OK) return st;
        sum += mc_train_loss(cfg, NULL, 0, out, d->y + (int64_t)s * d->y_size, b, (int)out_n, d->y_size) * b;
    }
    *loss = sum / d->n;
    return MC_OK;
}

/* ---- one epoch's sample list ------------------------------------------------------------------- */

typedef struct {
    int src;   /* 0 = training data, 1 = general data */
    int idx;
} pick;

/* Samples of one epoch: the curriculum's share of the training data, plus general samples at the
 * mixing ratio, shuffled together. Returns the count. */
static int epoch_picks(pick *p, const mc_train_config *cfg, const mc_dataset *train, const int *by_difficulty, int epoch,
                       mc_rng *rng) {
    int n_dom = mc_curriculum_count(cfg->curriculum_start, cfg->curriculum_epochs, epoch, train->n);
    int k = 0;
    for (int i = 0; i < n_dom; i++) p[k++] = (pick){0, by_difficulty ? by_difficulty[i] : i};
    if (cfg->general && cfg->mix_ratio > 0) {
        int n_gen = (int)lround(n_dom / cfg->mix_ratio);
        for (int i = 0; i < n_gen; i++) p[k++] = (pick){1, (int)mc_rng_below(rng, (uint64_t)cfg->general->n)};
    }
    for (int i = k - 1; i > 0; i--) {
        int j = (int)mc_rng_below(rng, (uint64_t)i + 1);
        pick t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
    return k;
}

static int max_picks(const mc_train_config *cfg, const mc_dataset *train) {
    return train->n + (cfg->general && cfg->mix_ratio > 0 ? (int)lround(train->n / cfg->mix_ratio) + 1 : 0);
}

/* ---- checkpoints ----------------------------------------------------------------------------------- */

typedef struct {
    int epoch;          /* epochs completed */
    int64_t step;
    int best_epoch, bad_epochs;
    double best;
} progress;

static mc_status save_checkpoint(const mc_model *m, const mc_model *best, const mc_train_config *cfg, mc_optim *o,
                                 mc_rng *rng, const progress *pg, const mc_train_result *res, mc_error *err) {
    json_t *j = json_pack("{s:i, s:I, s:i, s:i, s:f, s:I}", "epoch", pg->epoch, "step", (json_int_t)pg->step, "best_epoch",
                          pg->best_epoch, "bad_epochs", pg->bad_epochs, "best", isfinite(pg->best) ? pg->best : 1e308,
                          "optim_t", (json_int_t)mc_optim_step_count(o));
    json_t *tl = json_array(), *vl = json_array();
    for (int e = 0; e < pg->epoch && e < 1024; e++) {
        json_array_append_new(tl, json_real(res->train_loss[e]));
        json_array_append_new(vl, json_real(res->val_loss[e]));
    }
    json_object_set_new(j, "train_loss", tl);
    json_object_set_new(j, "val_loss", vl);
    char *state = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    int64_t n = mc_optim_size(o);
    mc_st_tensor t[3];
    int nt = 0;
    t[nt++] = (mc_st_tensor){.name = "train.optim_m", .dtype = MC_F32, .ndim = 1, .shape = {n}, .data = mc_optim_m(o),
                             .nbytes = (size_t)n * sizeof(float)};
    if (mc_optim_v(o))
        t[nt++] = (mc_st_tensor){.name = "train.optim_v", .dtype = MC_F32, .ndim = 1, .shape = {n}, .data = mc_optim_v(o),
                                 .nbytes = (size_t)n * sizeof(float)};
    t[nt++] = (mc_st_tensor){.name = "train.rng", .dtype = MC_U8, .ndim = 1, .shape = {(int64_t)mc_rng_state_size(rng)},
                             .data = mc_rng_state(rng), .nbytes = mc_rng_state_size(rng)};
    mc_st_meta meta = {"moesuite.train_state", state ? state : "{}"};
    mc_status st = MC_OK;
    /* the best epoch's model (parameters, batch-norm statistics, selection biases) beside it; written
     * first: a run killed between the two replays the epoch deterministically and writes the same */
    if (best) {
        char path[4200];
        snprintf(path, sizeof path, "%s.best", cfg->checkpoint);
        st = mc_model_save(best, path, NULL, 0, NULL, 0, err);
    }
    if (st == MC_OK) st = mc_model_save(m, cfg->checkpoint, t, nt, &meta, 1, err);
    free(state);
    return st;
}

/* Restores model, optimiser, generator and progress from the checkpoint. */
static mc_status load_checkpoint(mc_model *m, mc_model *best, const mc_train_config *cfg, mc_optim *o, mc_rng *rng,
                                 progress *pg, mc_train_result *res, mc_error *err) {
    mc_model *saved;
    mc_safetensors *f;
    mc_status st = mc_model_load(&saved, cfg->checkpoint, &f, err);
    if (st != MC_OK) return st;
    if (mc_model_copy(m, saved) != MC_OK) {
        st = mc_error_set(err, MC_ERR_FORMAT, "%s: checkpoint of another architecture", cfg->checkpoint);
        goto done;
    }
    int64_t n = mc_optim_size(o);
    const mc_st_tensor *tm = mc_safetensors_find(f, "train.optim_m"), *tv = mc_safetensors_find(f, "train.optim_v"),
                       *tr = mc_safetensors_find(f, "train.rng");
    const char *state = mc_safetensors_meta(f, "moesuite.train_state");
    json_error_t je;
    json_t *j = state ? json_loads(state, 0, &je) : NULL;
    if (!tm || tm->nbytes != (size_t)n * sizeof(float) || (mc_optim_v(o) && (!tv || tv->nbytes != tm->nbytes)) || !tr ||
        mc_rng_set_state(rng, tr->data, tr->nbytes) != 0 || !json_is_object(j)) {
        json_decref(j);
        st = mc_error_set(err, MC_ERR_FORMAT, "%s: incomplete or mismatched training state", cfg->checkpoint);
        goto done;
    }
    memcpy(mc_optim_m(o), tm->data, tm->nbytes);
    if (mc_optim_v(o)) memcpy(mc_optim_v(o), tv->data, tv->nbytes);
    if (best) {
        char path[4200];
        mc_model *b;
        snprintf(path, sizeof path, "%s.best", cfg->checkpoint);
        if ((st = mc_model_load(&b, path, NULL, err)) != MC_OK) {
            json_decref(j);
            goto done;
        }
        st = mc_model_copy(best, b) == MC_OK ? MC_OK : mc_error_set(err, MC_ERR_FORMAT, "%s: another architecture", path);
        mc_model_destroy(b);
        if (st != MC_OK) {
            json_decref(j);
            goto done;
        }
    }
    mc_optim_set_step(o, json_integer_value(json_object_get(j, "optim_t")));
    pg->epoch = (int)json_integer_value(json_object_get(j, "epoch"));
    pg->step = json_integer_value(json_object_get(j, "step"));
    pg->best_epoch = (int)json_integer_value(json_object_get(j, "best_epoch"));
    pg->bad_epochs = (int)json_integer_value(json_object_get(j, "bad_epochs"));
    pg->best = json_real_value(json_object_get(j, "best"));
    json_t *tl = json_object_get(j, "train_loss"), *vl = json_object_get(j, "val_loss");
    for (int e = 0; e < pg->epoch && e < 1024; e++) {
        res->train_loss[e] = json_real_value(json_array_get(tl, (size_t)e));
        res->val_loss[e] = json_real_value(json_array_get(vl, (size_t)e));
    }
    json_decref(j);
done:
    mc_safetensors_close(f);
    mc_model_destroy(saved);
    return st;
}

/* ---- the loop ---------------------------------------------------------------------------------------- */

typedef struct {
    mc_model *m;
    mc_optim *o;
    float lr, wd;
} range_ctx;

static void update_range(void *user, int64_t off, int64_t n, int decay) {
    range_ctx *c = user;
    mc_optim_update(c->o, mc_model_params(c->m) + off, mc_model_grads(c->m) + off, off, n, c->lr, decay ? c->wd : 0.0f);
}

void mc_train_update(mc_model *m, mc_optim *o, float lr, float wd) {
    mc_optim_begin_step(o);
    range_ctx rc = {m, o, lr, wd};
    mc_model_param_ranges(m, update_range, &rc);
    mc_model_after_step(m);
}

/* Forward + loss + backward on one batch with the loss gradient scaled by scale; dx (when not NULL)
 * receives dL/dx. Returns the loss (task + MoE balance terms). */
static double step_batch(mc_model *m, const mc_train_config *cfg, const float *x, const float *y, int b, int y_size,
                         float *dout, float *dx, float scale, mc_rng *rng, mc_status *st) {
    const float *out;
    int64_t out_n = mc_model_output_size(m);
    if ((*st = mc_model_forward(m, x, b, 1, rng, &out)) != MC_OK) return NAN;
    memset(dout, 0, (size_t)b * out_n * sizeof *dout);
    double loss = mc_train_loss(cfg, dout, scale, out, y, b, (int)out_n, y_size) + mc_model_aux_loss(m);
    *st = mc_model_backward(m, dout, dx);
    return loss;
}

mc_status mc_adversarial(mc_model *m, const mc_train_config *cfg, const float *x, const float *y, int b, int y_size,
                         float *xadv, mc_rng *rng) {
    int64_t n = (int64_t)b * mc_model_input_size(m);
    float *dx = malloc(sizeof(float) * (size_t)n), *dout = malloc(sizeof(float) * (size_t)(b * mc_model_output_size(m)));
    mc_status st = dx && dout ? MC_OK : MC_ERR_NOMEM;
    if (st == MC_OK) memcpy(xadv, x, sizeof(float) * (size_t)n);
    for (int k = 0; k < cfg->adv_steps && st == MC_OK; k++) {
        mc_model_zero_grad(m);
        step_batch(m, cfg, xadv, y, b, y_size, dout, dx, 1.0f, rng, &st);
        float a = cfg->adv_steps == 1 ? cfg->adv_eps : cfg->adv_alpha;
        for (int64_t q = 0; q < n && st == MC_OK; q++) {
            float v = xadv[q] + a * (float)((dx[q] > 0) - (dx[q] < 0));
            float lo = x[q] - cfg->adv_eps, hi = x[q] + cfg->adv_eps;
            xadv[q] = v < lo ? lo : v > hi ? hi : v;
        }
    }
    mc_model_zero_grad(m);
    free(dx);
    free(dout);
    return st;
}

mc_status mc_train(mc_model *m, const mc_train_config *cfg, const mc_dataset *train, const mc_dataset *val,
                   mc_train_result *res, mc_error *err) {
    if (!m || !cfg || !res || cfg->epochs < 1 || cfg->batch < 1)
        return mc_error_set(err, MC_ERR_ARG, "mc_train: invalid arguments (epochs and batch must be positive)");
    mc_status st;
    if ((st = check_dataset(m, cfg, train, "training", err)) != MC_OK) return st;
    if (val && (st = check_dataset(m, cfg, val, "validation", err)) != MC_OK) return st;
    if (cfg->general && ((st = check_dataset(m, cfg, cfg->general, "general", err)) != MC_OK || cfg->general->y_size != train->y_size))
        return st != MC_OK ? st : mc_error_set(err, MC_ERR_ARG, "general data: targets differ from the training data");
    memset(res, 0, sizeof *res);
    res->resumed_from = -1;

    const int64_t in = mc_model_input_size(m), out_n = mc_model_output_size(m), np = mc_model_num_params(m);
    const int B = cfg->batch, ys = train->y_size;
    mc_rng *rng = mc_rng_create(cfg->seed);
    mc_optim *o = mc_optim_create(&cfg->optim, np);
    pick *picks = malloc(sizeof *picks * (size_t)max_picks(cfg, train));
    int *order = cfg->curriculum_start > 0 && train->difficulty ? malloc(sizeof *order * (size_t)train->n) : NULL;
    float *xb = malloc(sizeof(float) * (size_t)(B * in)), *xadv = malloc(sizeof(float) * (size_t)(B * in));
    float *yb = malloc(sizeof(float) * (size_t)(B * ys));
    float *dout = malloc(sizeof(float) * (size_t)(B * out_n));
    mc_model *best = NULL;
    if (cfg->patience > 0) mc_model_create(&best, mc_model_arch(m), NULL);
    if (!rng || !o || !picks || !xb || !xadv || !yb || !dout || (cfg->patience > 0 && !best) ||
        (cfg->curriculum_start > 0 && train->difficulty && !order)) {
        st = mc_error_set(err, MC_ERR_NOMEM, "training: out of memory");
        goto done;
    }
    if (order) {
        /* easiest first; ties keep their order (insertion sort on indices is stable) */
        for (int i = 0; i < train->n; i++) {
            int j = i;
            while (j > 0 && train->difficulty[order[j - 1]] > train->difficulty[i]) {
                order[j] = order[j - 1];
                j--;
            }
            order[j] = i;
        }
    }
    /* total steps for the schedule */
    int64_t total = 0;
    for (int e = 0; e < cfg->epochs; e++) {
        int n_dom = mc_curriculum_count(cfg->curriculum_start, cfg->curriculum_epochs, e, train->n);
        int n = n_dom + (cfg->general && cfg->mix_ratio > 0 ? (int)lround(n_dom / cfg->mix_ratio) : 0);
        total += (n + B - 1) / B;
    }
    mc_lr_schedule sched = {cfg->lr, cfg->min_lr, (int64_t)(cfg->warmup * (double)total), total};

    progress pg = {.epoch = 0, .step = 0, .best_epoch = -1, .best = INFINITY};
    if (best) mc_model_copy(best, m);
    if (cfg->checkpoint && cfg->resume && access(cfg->checkpoint, F_OK) == 0) {
        if ((st = load_checkpoint(m, best, cfg, o, rng, &pg, res, err)) != MC_OK) goto done;
        res->resumed_from = pg.epoch;
    }

    st = MC_OK;
    for (int epoch = pg.epoch; epoch < cfg->epochs; epoch++) {
        int n = epoch_picks(picks, cfg, train, order, epoch, rng);
        double sum = 0.0;
        float lr = 0.0f;
        for (int s = 0; s < n; s += B) {
            int b = n - s < B ? n - s : B;
            for (int i = 0; i < b; i++) {
                const mc_dataset *d = picks[s + i].src ? cfg->general : train;
                memcpy(xb + (int64_t)i * in, d->x + (int64_t)picks[s + i].idx * in, sizeof(float) * (size_t)in);
                memcpy(yb + (int64_t)i * ys, d->y + (int64_t)picks[s + i].idx * ys, sizeof(float) * (size_t)ys);
            }
            double loss;
            if (cfg->adv_steps > 0 && cfg->adv_eps > 0) {
                /* the adversarial example first, then the clean and adversarial losses weighted together */
                if ((st = mc_adversarial(m, cfg, xb, yb, b, ys, xadv, rng)) != MC_OK) goto done;
                mc_model_zero_grad(m);
                float w = cfg->adv_weight;
                loss = (1.0f - w) * step_batch(m, cfg, xb, yb, b, ys, dout, NULL, 1.0f - w, rng, &st);
                if (st != MC_OK) goto done;
                loss += w * step_batch(m, cfg, xadv, yb, b, ys, dout, NULL, w, rng, &st);
            } else {
                mc_model_zero_grad(m);
                loss = step_batch(m, cfg, xb, yb, b, ys, dout, NULL, 1.0f, rng, &st);
            }
            if (st != MC_OK) goto done;
            if (!isfinite(loss)) {
                st = mc_error_set(err, MC_ERR_INTERNAL, "training diverged at epoch %d (loss %g): lower the learning rate", epoch, loss);
                goto done;
            }
            sum += loss * b;
            if (cfg->clip > 0) mc_clip_grad_norm(mc_model_grads(m), np, cfg->clip);
            lr = mc_lr_at(&sched, pg.step);
            mc_train_update(m, o, lr, cfg->weight_decay);
            pg.step++;
        }
        double tl = sum / n, vl = tl;
        if (val && (st = mc_evaluate(m, cfg, val, &vl)) != MC_OK) goto done;
        double objective = vl + cfg->flops_weight * mc_model_expert_flops(m) * 1e-9;
        if (epoch < 1024) {
            res->train_loss[epoch] = tl;
            res->val_loss[epoch] = vl;
        }
        res->epochs_run = epoch + 1;
        pg.epoch = epoch + 1;
        if (objective < pg.best - cfg->min_delta) {
            pg.best = objective;
            pg.best_epoch = epoch;
            pg.bad_epochs = 0;
            if (best) mc_model_copy(best, m);
        } else {
            pg.bad_epochs++;
        }
        if (cfg->checkpoint && (st = save_checkpoint(m, best, cfg, o, rng, &pg, res, err)) != MC_OK) goto done;
        int stop = cfg->on_epoch && cfg->on_epoch(cfg->user, epoch, tl, vl, lr) != 0;
        if (cfg->patience > 0 && pg.bad_epochs >= cfg->patience) {
            res->stopped_early = 1;
            stop = 1;
        }
        if (stop) break;
    }
    res->epochs_run = pg.epoch;
    res->best_epoch = pg.best_epoch;
    res->best_val = pg.best;
    if (best && pg.best_epoch >= 0) mc_model_copy(m, best);
done:
    mc_rng_destroy(rng);
    mc_optim_destroy(o);
    mc_model_destroy(best);
    free(picks);
    free(order);
    free(xb);
    free(xadv);
    free(yb);
    free(dout);
    return st;
}
