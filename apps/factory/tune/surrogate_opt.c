/* surrogate_opt.c: the bootstrap MLP ensemble, expected improvement and the proposal search of
 * surrogate_opt.h. */
#include "surrogate_opt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moecore/loss.h"
#include "moecore/model.h"
#include "moecore/optim.h"
#include "moecore/train.h"

#define LOCAL_STARTS 5

struct fab_surrogate {
    fab_surrogate_config cfg;
    int n, d;
    double *X, *y;
    double y_mean, y_std;
    mc_model **members;
    float *xbuf; /* network inputs, scratch */
    int xbuf_rows;
};

void fab_surrogate_config_default(fab_surrogate_config *c) {
    c->members = 5;
    c->hidden = 32;
    c->steps = 300;
    c->lr = 0.01;
    c->weight_decay = 1e-4;
    c->candidates = 2000;
    c->xi = 0.01;
    c->min_dist = 0.05;
}

void fab_surrogate_destroy(fab_surrogate *s) {
    if (!s) return;
    for (int k = 0; s->members && k < s->cfg.members; k++) mc_model_destroy(s->members[k]);
    free(s->members);
    free(s->X);
    free(s->y);
    free(s->xbuf);
    free(s);
}

/* Network inputs: unit coordinates mapped to [-1, 1]. */
static float *inputs(fab_surrogate *s, const double *X, int m) {
    if (m > s->xbuf_rows) {
        float *b = realloc(s->xbuf, sizeof(float) * (size_t)m * (size_t)s->d);
        if (!b) return NULL;
        s->xbuf = b;
        s->xbuf_rows = m;
    }
    for (int64_t i = 0; i < (int64_t)m * s->d; i++) s->xbuf[i] = (float)(2 * X[i] - 1);
    return s->xbuf;
}

/* Trains one member on the bootstrap resample idx (n rows) of standardised targets t. */
static mc_status train_member(fab_surrogate *s, mc_model *m, const float *x_all, const float *t_all, const int *idx,
                              mc_rng *rng) {
    int n = s->n, d = s->d;
    float *x = malloc(sizeof(float) * (size_t)n * (size_t)d), *t = malloc(sizeof(float) * (size_t)n);
    float *g = malloc(sizeof(float) * (size_t)n);
    mc_optim_config oc = {.kind = MC_OPTIM_ADAMW, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    mc_optim *opt = mc_optim_create(&oc, mc_model_num_params(m));
    mc_status st = x && t && g && opt ? MC_OK : MC_ERR_NOMEM;
    if (st == MC_OK) {
        for (int i = 0; i < n; i++) {
            memcpy(x + (size_t)i * d, x_all + (size_t)idx[i] * d, sizeof(float) * (size_t)d);
            t[i] = t_all[idx[i]];
        }
        mc_model_init(m, rng);
    }
    for (int step = 0; step < s->cfg.steps && st == MC_OK; step++) {
        const float *pred;
        mc_model_zero_grad(m);
        if ((st = mc_model_forward(m, x, n, 1, rng, &pred)) != MC_OK) break;
        memset(g, 0, sizeof(float) * (size_t)n);
        mc_mse_loss(g, 1.0f, pred, t, n);
        if ((st = mc_model_backward(m, g, NULL)) != MC_OK) break;
        mc_train_update(m, opt, (float)s->cfg.lr, (float)s->cfg.weight_decay);
    }
    mc_optim_destroy(opt);
    free(x);
    free(t);
    free(g);
    return st;
}

mc_status fab_surrogate_fit(fab_surrogate **out, const fab_surrogate_config *cfg, const double *X, const double *y,
                            int n, int d, mc_rng *rng, mc_error *err) {
    *out = NULL;
    if (n < 1 || d < 1 || d > FAB_SURROGATE_MAX_DIM || cfg->members < 1 || cfg->hidden < 1 || cfg->steps < 0)
        return mc_error_set(err, MC_ERR_ARG, "surrogate: invalid sizes");
    fab_surrogate *s = calloc(1, sizeof *s);
    if (!s) return mc_error_set(err, MC_ERR_NOMEM, "out of memory");
    s->cfg = *cfg;
    s->n = n;
    s->d = d;
    s->X = malloc(sizeof(double) * (size_t)n * (size_t)d);
    s->y = malloc(sizeof(double) * (size_t)n);
    s->members = calloc((size_t)cfg->members, sizeof(mc_model *));
    float *t = malloc(sizeof(float) * (size_t)n);
    int *idx = malloc(sizeof(int) * (size_t)n);
    mc_status st = s->X && s->y && s->members && t && idx ? MC_OK : MC_ERR_NOMEM;
    if (st == MC_OK) {
        memcpy(s->X, X, sizeof(double) * (size_t)n * (size_t)d);
        memcpy(s->y, y, sizeof(double) * (size_t)n);
        double mean = 0, var = 0;
        for (int i = 0; i < n; i++) mean += y[i];
        mean /= n;
        for (int i = 0; i < n; i++) var += (y[i] - mean) * (y[i] - mean);
        s->y_mean = mean;
        s->y_std = n > 1 && var > 0 ? sqrt(var / n) : 1.0;
        for (int i = 0; i < n; i++) t[i] = (float)((y[i] - mean) / s->y_std);
    }
    char arch[400];
    snprintf(arch, sizeof arch,
             "{\"input\":[%d],\"layers\":[{\"type\":\"linear\",\"out\":%d},{\"type\":\"act\",\"fn\":\"tanh\"},"
             "{\"type\":\"linear\",\"out\":%d},{\"type\":\"act\",\"fn\":\"tanh\"},{\"type\":\"linear\",\"out\":1}]}",
             d, cfg->hidden, cfg->hidden);
    const float *x_all = st == MC_OK ? inputs(s, X, n) : NULL;
    if (st == MC_OK && !x_all) st = MC_ERR_NOMEM;
    for (int k = 0; k < cfg->members && st == MC_OK; k++) {
        if ((st = mc_model_create(&s->members[k], arch, err)) != MC_OK) break;
        for (int i = 0; i < n; i++) idx[i] = k == 0 ? i : (int)mc_rng_below(rng, (uint64_t)n);
        st = train_member(s, s->members[k], x_all, t, idx, rng);
    }
    free(t);
    free(idx);
    if (st != MC_OK) {
        fab_surrogate_destroy(s);
        return err && err->code != MC_OK ? st : mc_error_set(err, st, "surrogate: %s", mc_status_str(st));
    }
    *out = s;
    return MC_OK;
}

mc_status fab_surrogate_predict(fab_surrogate *s, const double *X, int m, double *mean, double *std) {
    if (m < 1) return MC_OK;
    const float *x = inputs(s, X, m);
    if (!x) return MC_ERR_NOMEM;
    for (int i = 0; i < m; i++) mean[i] = std[i] = 0;
    for (int k = 0; k < s->cfg.members; k++) {
        const float *o;
        mc_status st = mc_model_forward(s->members[k], x, m, 0, NULL, &o);
        if (st != MC_OK) return st;
        for (int i = 0; i < m; i++) {
            mean[i] += o[i];
            std[i] += (double)o[i] * o[i];
        }
    }
    int K = s->cfg.members;
    for (int i = 0; i < m; i++) {
        double mu = mean[i] / K, var = std[i] / K - mu * mu;
        mean[i] = s->y_mean + s->y_std * mu;
        std[i] = s->y_std * sqrt(var > 0 ? var : 0);
    }
    return MC_OK;
}

double fab_expected_improvement(double mean, double std, double best, double xi) {
    double gain = mean - best - xi;
    if (!(std > 1e-12)) return gain > 0 ? gain : 0;
    double z = gain / std;
    double cdf = 0.5 * erfc(-z / sqrt(2.0));
    double pdf = exp(-0.5 * z * z) / sqrt(2 * M_PI);
    return gain * cdf + std * pdf;
}

static double dist2(const double *a, const double *b, int d) {
    double s = 0;
    for (int i = 0; i < d; i++) s += (a[i] - b[i]) * (a[i] - b[i]);
    return s;
}

mc_status fab_surrogate_propose(fab_surrogate *s, const double *box_lo, const double *box_hi, int n_out, mc_rng *rng,
                                double *x_out, double *mean, double *std, double *ei) {
    int d = s->d, n_uni = s->cfg.candidates > 0 ? s->cfg.candidates : 1;
    int n_loc = s->n > 0 ? n_uni : 0; /* local candidates around the best observations, when there are any */
    int m = n_uni + n_loc;
    if (n_out < 1 || n_out > m) return MC_ERR_ARG;
    double *c = calloc((size_t)m * (size_t)d, sizeof(double)), *mu = malloc(sizeof(double) * (size_t)m);
    double *sd = malloc(sizeof(double) * (size_t)m), *score = malloc(sizeof(double) * (size_t)m);
    double *obs_mu = malloc(sizeof(double) * (size_t)(s->n + 1)), *obs_sd = malloc(sizeof(double) * (size_t)(s->n + 1));
    int *taken = calloc((size_t)m, sizeof(int));
    mc_status st = c && mu && sd && score && obs_mu && obs_sd && taken ? MC_OK : MC_ERR_NOMEM;
    /* the incumbent: the best predicted mean at an observed point (robust to measurement noise) */
    double best = -INFINITY;
    if (st == MC_OK && s->n > 0 && (st = fab_surrogate_predict(s, s->X, s->n, obs_mu, obs_sd)) == MC_OK)
        for (int i = 0; i < s->n; i++) best = fmax(best, obs_mu[i]);
    if (st == MC_OK) {
        int top[LOCAL_STARTS] = {0}, n_top = 0; /* the best observations, best first */
        for (; n_top < LOCAL_STARTS && n_top < s->n; n_top++) {
            int b = -1;
            for (int i = 0; i < s->n; i++) {
                int used = 0;
                for (int q = 0; q < n_top; q++) used |= top[q] == i;
                if (!used && (b < 0 || s->y[i] > s->y[b])) b = i;
            }
            top[n_top] = b;
        }
        for (int j = 0; j < m; j++) {
            double *x = c + (size_t)j * d;
            const double *centre = j < n_uni ? NULL : s->X + (size_t)top[j % n_top] * d;
            for (int i = 0; i < d; i++) {
                double w = box_hi[i] - box_lo[i];
                double scale = j % 2 ? 0.1 : 0.02; /* local candidates at two scales */
                double v = centre ? centre[i] + scale * w * mc_rng_normal(rng) : box_lo[i] + w * mc_rng_uniform(rng);
                x[i] = fmin(box_hi[i], fmax(box_lo[i], v));
            }
        }
        st = fab_surrogate_predict(s, c, m, mu, sd);
    }
    if (st == MC_OK) {
        for (int j = 0; j < m; j++) score[j] = fab_expected_improvement(mu[j], sd[j], best, s->cfg.xi * s->y_std);
        double min_d2 = s->cfg.min_dist * s->cfg.min_dist;
        for (int k = 0; k < n_out; k++) {
            int pick = -1;
            for (int pass = 0; pass < 2 && pick < 0; pass++) {
                for (int j = 0; j < m; j++) {
                    if (taken[j] || (pick >= 0 && score[j] <= score[pick])) continue;
                    int far = 1;
                    for (int q = 0; pass == 0 && q < k && far; q++) far = dist2(c + (size_t)j * d, x_out + (size_t)q * d, d) >= min_d2;
                    if (far) pick = j;
                }
            }
            taken[pick] = 1;
            memcpy(x_out + (size_t)k * d, c + (size_t)pick * d, sizeof(double) * (size_t)d);
            if (mean) mean[k] = mu[pick];
            if (std) std[k] = sd[pick];
            if (ei) ei[k] = score[pick];
        }
    }
    free(c);
    free(mu);
    free(sd);
    free(score);
    free(obs_mu);
    free(obs_sd);
    free(taken);
    return st;
}
