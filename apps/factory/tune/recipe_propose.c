/* recipe_propose.c: the proposal engine of recipe_propose.h. */
#include "recipe_propose.h"

#include <math.h>
#include <nlopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gp.h"
#include "moecore/log.h"

#define MAX_D FAB_SURROGATE_MAX_DIM
#define LOCAL_CENTRES 5   /* best observed points whose neighbourhoods are searched */
#define LOCAL_STARTS 5    /* candidates refined by the local optimiser */
#define LOCAL_MAX_EVAL 200
#define DESIGN_CANDIDATES 2000

void fab_propose_config_default(fab_propose_config *c) {
    c->engine = FAB_ENGINE_GP;
    c->acquisition = FAB_ACQ_EI;
    c->xi = 0.01;
    c->kappa = 2.0;
    c->half_life = 0;
    c->gp_starts = 5;
    fab_surrogate_config_default(&c->mlp);
}

double fab_log_ei_unit(double z) {
    if (z > -6) {
        double h = exp(-0.5 * z * z) / sqrt(2 * M_PI) + z * 0.5 * erfc(-z / sqrt(2.0));
        return h > 0 ? log(h) : -HUGE_VAL;
    }
    /* phi(z) + z Phi(z) = phi(z) (1 - t R(t)) with t = -z and Mills' ratio R(t) = Phi(-t) / phi(t),
     * whose asymptotic series gives 1 - t R(t) = 1/t^2 - 3/t^4 + 15/t^6 - 105/t^8 ... */
    double t = -z, u = 1 / (t * t);
    return -0.5 * z * z - 0.5 * log(2 * M_PI) + log(u * (1 - 3 * u * (1 - 5 * u * (1 - 7 * u))));
}

static double dist2(const double *a, const double *b, int d) {
    double s = 0;
    for (int i = 0; i < d; i++) s += (a[i] - b[i]) * (a[i] - b[i]);
    return s;
}

/* Exploratory proposals: one after the other, the candidate (uniform in the box) farthest from
 * every logged batch and every proposal before it (a greedy maximin design). */
static void explore(const double *U, int n, int d, const double *lo, const double *hi, int n_out, mc_rng *rng,
                    double *x_out) {
    double c[MAX_D];
    for (int k = 0; k < n_out; k++) {
        double best = -1;
        for (int j = 0; j < DESIGN_CANDIDATES; j++) {
            for (int i = 0; i < d; i++) c[i] = lo[i] + (hi[i] - lo[i]) * mc_rng_uniform(rng);
            double near = HUGE_VAL;
            for (int r = 0; r < n; r++) near = fmin(near, dist2(c, U + (size_t)r * d, d));
            for (int q = 0; q < k; q++) near = fmin(near, dist2(c, x_out + (size_t)q * d, d));
            if (near > best) {
                best = near;
                memcpy(x_out + (size_t)k * d, c, sizeof(double) * (size_t)d);
            }
        }
    }
}

/* ---- the Gaussian-process engine ------------------------------------------------------------- */

typedef struct acq_ctx {
    const fab_gp *g;
    const fab_propose_config *cfg;
    double best, y_sd;
    int d, n_free, free_idx[MAX_D];
    double x[MAX_D]; /* the full point; free coordinates filled in by the optimiser */
} acq_ctx;

/* The acquisition to maximise at a ctx->x: log expected improvement (a smooth landscape where EI
 * itself underflows to 0) or the upper confidence bound, in standardised units. */
static double acquisition_of(const acq_ctx *a, double mu, double s) {
    if (a->cfg->acquisition == FAB_ACQ_UCB) return (mu + a->cfg->kappa * s) / a->y_sd;
    return log(s / a->y_sd) + fab_log_ei_unit((mu - a->best - a->cfg->xi * a->y_sd) / s);
}

static double acquisition(const acq_ctx *a, const double *x, double *mean, double *sd) {
    double mu, s;
    fab_gp_predict(a->g, x, 1, &mu, &s);
    if (mean) *mean = mu;
    if (sd) *sd = s;
    return acquisition_of(a, mu, s);
}

static double nlopt_acq(unsigned n, const double *u, double *grad, void *data) {
    (void)grad;
    acq_ctx *a = data;
    for (unsigned k = 0; k < n; k++) a->x[a->free_idx[k]] = u[k];
    double v = acquisition(a, a->x, NULL, NULL);
    return isfinite(v) ? v : -1e300;
}

/* The point of the box [lo, hi] with the largest acquisition: scored candidates (uniform in the box,
 * Gaussian steps around the best observed points, the current recipe), the best few refined by
 * BOBYQA over the coordinates the box leaves free. */
static mc_status maximise_acquisition(acq_ctx *a, const double *lo, const double *hi, const double *centres,
                                      int n_centres, const double *current, mc_rng *rng, double *x_best) {
    int d = a->d, n_uni = 500 + 150 * d, n_loc = n_centres > 0 ? 2 * n_uni / 3 : 0, m = n_uni + n_loc + 1;
    double *c = malloc(sizeof(double) * (size_t)m * (size_t)d), *v = malloc(sizeof(double) * (size_t)m);
    double *sd = malloc(sizeof(double) * (size_t)m);
    if (!c || !v || !sd) {
        free(c);
        free(v);
        free(sd);
        return MC_ERR_NOMEM;
    }
    for (int j = 0; j < m; j++) {
        double *x = c + (size_t)j * d;
        const double *centre = j < n_uni ? NULL : j < m - 1 ? centres + (size_t)(j % n_centres) * d : current;
        for (int i = 0; i < d; i++) {
            double w = hi[i] - lo[i], scale = j % 2 ? 0.15 : 0.03;
            double u = j == m - 1 ? centre[i]
                       : centre   ? centre[i] + scale * w * mc_rng_normal(rng)
                                  : lo[i] + w * mc_rng_uniform(rng);
            x[i] = fmin(hi[i], fmax(lo[i], u));
        }
    }
    if (fab_gp_predict(a->g, c, m, v, sd) != MC_OK) { /* the candidates scored in one pass */
        free(c);
        free(v);
        free(sd);
        return MC_ERR_NOMEM;
    }
    for (int j = 0; j < m; j++) {
        v[j] = acquisition_of(a, v[j], sd[j]);
        if (!isfinite(v[j])) v[j] = -1e300;
    }
    free(sd);
    a->n_free = 0;
    double flo[MAX_D], fhi[MAX_D], u[MAX_D];
    for (int i = 0; i < d; i++)
        if (hi[i] - lo[i] > 1e-12) {
            flo[a->n_free] = lo[i];
            fhi[a->n_free] = hi[i];
            a->free_idx[a->n_free++] = i;
        }
    int best_j = 0;
    for (int j = 1; j < m; j++)
        if (v[j] > v[best_j]) best_j = j;
    memcpy(x_best, c + (size_t)best_j * d, sizeof(double) * (size_t)d);
    double best_v = v[best_j];
    nlopt_opt opt = a->n_free > 0 ? nlopt_create(a->n_free >= 2 ? NLOPT_LN_BOBYQA : NLOPT_LN_COBYLA, (unsigned)a->n_free)
                                  : NULL;
    if (opt) {
        nlopt_set_lower_bounds(opt, flo);
        nlopt_set_upper_bounds(opt, fhi);
        nlopt_set_max_objective(opt, nlopt_acq, a);
        nlopt_set_maxeval(opt, LOCAL_MAX_EVAL);
        nlopt_set_xtol_rel(opt, 1e-6);
        double step[MAX_D];
        for (int k = 0; k < a->n_free; k++) step[k] = 0.05 * (fhi[k] - flo[k]);
        nlopt_set_initial_step(opt, step);
    }
    for (int s = 0; opt && s < LOCAL_STARTS; s++) { /* the best candidates, each taken once */
        int j = -1;
        for (int q = 0; q < m; q++)
            if (v[q] > -HUGE_VAL && (j < 0 || v[q] > v[j])) j = q;
        if (j < 0) break;
        memcpy(a->x, c + (size_t)j * d, sizeof(double) * (size_t)d);
        v[j] = -HUGE_VAL;
        for (int k = 0; k < a->n_free; k++) u[k] = a->x[a->free_idx[k]];
        double val = -HUGE_VAL;
        nlopt_result r = nlopt_optimize(opt, u, &val);
        if (r > 0 || r == NLOPT_ROUNDOFF_LIMITED) {
            for (int k = 0; k < a->n_free; k++) a->x[a->free_idx[k]] = fmin(fhi[k], fmax(flo[k], u[k]));
            val = acquisition(a, a->x, NULL, NULL);
            if (isfinite(val) && val > best_v) {
                best_v = val;
                memcpy(x_best, a->x, sizeof(double) * (size_t)d);
            }
        }
    }
    if (opt) nlopt_destroy(opt);
    free(c);
    free(v);
    return MC_OK;
}

static mc_status propose_gp(const fab_propose_config *cfg, const double *U, const double *v, const double *w,
                            const unsigned char *pending, int n, int d, const double *lo, const double *hi,
                            const double *current, int n_out, mc_rng *rng, double *x_out, double *pred, double *unc,
                            double *acq, mc_error *err) {
    /* the measured rows, with their weights */
    int m = 0;
    double *Um = malloc(sizeof(double) * (size_t)n * (size_t)d), *vm = malloc(sizeof(double) * (size_t)n);
    double *wm = malloc(sizeof(double) * (size_t)n), *mu = malloc(sizeof(double) * (size_t)n);
    double *sd = malloc(sizeof(double) * (size_t)n), *centres = malloc(sizeof(double) * LOCAL_CENTRES * (size_t)d);
    fab_gp *g = NULL;
    mc_status st = Um && vm && wm && mu && sd && centres ? MC_OK : mc_error_set(err, MC_ERR_NOMEM, "out of memory");
    for (int i = 0; st == MC_OK && i < n; i++)
        if (!pending || !pending[i]) {
            memcpy(Um + (size_t)m * d, U + (size_t)i * d, sizeof(double) * (size_t)d);
            vm[m] = v[i];
            wm[m++] = w[i];
        }
    if (st == MC_OK) st = fab_gp_fit(&g, Um, vm, wm, m, d, cfg->gp_starts, rng, err);
    /* the incumbent: the best posterior mean at a measured batch (robust to measurement noise), and
     * the neighbourhoods of the best few searched first */
    double best = -HUGE_VAL, y_sd = 1;
    int n_centres = 0;
    if (st == MC_OK && (st = fab_gp_predict(g, Um, m, mu, sd)) != MC_OK) mc_error_set(err, st, "out of memory");
    if (st == MC_OK) {
        fab_gp_hyper h;
        double lp;
        fab_gp_hyperparameters(g, &h, &lp);
        char ls[FAB_GP_MAX_DIM * 12] = "";
        for (int i = 0, o = 0; i < d && o < (int)sizeof ls - 12; i++) o += snprintf(ls + o, sizeof ls - (size_t)o, " %.3g", h.length[i]);
        mc_log_debug("gp on %d batches: length scales%s, signal %.3g, noise %.3g (standardised), log posterior %.4g", m,
                     ls, h.signal, h.noise, lp);
        fab_gp_scale(g, NULL, &y_sd);
        for (int i = 0; i < m; i++) best = fmax(best, mu[i]);
        for (; n_centres < LOCAL_CENTRES && n_centres < m; n_centres++) {
            int b = 0;
            for (int i = 1; i < m; i++)
                if (mu[i] > mu[b]) b = i;
            memcpy(centres + (size_t)n_centres * d, Um + (size_t)b * d, sizeof(double) * (size_t)d);
            mu[b] = -HUGE_VAL;
        }
    }
    /* pending batches as fantasies at their predicted mean, as batch members below */
    for (int i = 0; st == MC_OK && pending && i < n; i++)
        if (pending[i]) {
            double pm, ps;
            if ((st = fab_gp_predict(g, U + (size_t)i * d, 1, &pm, &ps)) == MC_OK) st = fab_gp_add(g, U + (size_t)i * d, pm);
            if (st != MC_OK) mc_error_set(err, st, "gp: %s", mc_status_str(st));
            best = fmax(best, pm);
        }
    acq_ctx a = {.g = g, .cfg = cfg, .best = best, .y_sd = y_sd, .d = d};
    for (int k = 0; st == MC_OK && k < n_out; k++) {
        double *x = x_out + (size_t)k * d, pm, ps;
        if ((st = maximise_acquisition(&a, lo, hi, centres, n_centres, current, rng, x)) != MC_OK) {
            mc_error_set(err, st, "out of memory");
            break;
        }
        double val = acquisition(&a, x, &pm, &ps);
        if (pred) pred[k] = pm;
        if (unc) unc[k] = ps;
        if (acq) acq[k] = cfg->acquisition == FAB_ACQ_UCB ? val * y_sd : exp(val) * y_sd;
        /* the kriging believer: the next proposal sees this one as measured at its predicted mean,
         * which may become the incumbent */
        if (k + 1 < n_out && (st = fab_gp_add(g, x, pm)) != MC_OK) mc_error_set(err, st, "gp: %s", mc_status_str(st));
        a.best = fmax(a.best, pm);
    }
    fab_gp_destroy(g);
    free(Um);
    free(vm);
    free(wm);
    free(mu);
    free(sd);
    free(centres);
    return st;
}

/* ---- the MLP engine ------------------------------------------------------------------------------- */

static mc_status propose_mlp(const fab_propose_config *cfg, const double *U, const double *v,
                             const unsigned char *pending, int n, int d, const double *lo, const double *hi, int n_out,
                             mc_rng *rng, double *x_out, double *pred, double *unc, double *acq, mc_error *err) {
    double *Um = malloc(sizeof(double) * (size_t)n * (size_t)d), *vm = malloc(sizeof(double) * (size_t)n);
    int m = 0;
    mc_status st = Um && vm ? MC_OK : mc_error_set(err, MC_ERR_NOMEM, "out of memory");
    for (int i = 0; st == MC_OK && i < n; i++)
        if (!pending || !pending[i]) {
            memcpy(Um + (size_t)m * d, U + (size_t)i * d, sizeof(double) * (size_t)d);
            vm[m++] = v[i];
        }
    fab_surrogate *s = NULL;
    if (st == MC_OK) st = fab_surrogate_fit(&s, &cfg->mlp, Um, vm, m, d, rng, err);
    if (st == MC_OK && (st = fab_surrogate_propose(s, lo, hi, n_out, rng, x_out, pred, unc, acq)) != MC_OK)
        mc_error_set(err, st, "surrogate: %s", mc_status_str(st));
    fab_surrogate_destroy(s);
    free(Um);
    free(vm);
    return st;
}

/* ---- the recipe space ---------------------------------------------------------------------------- */

mc_status fab_propose_recipes(const fab_propose_config *cfg, const fab_recipe_space *sp, const double *X,
                              const double *y, const unsigned char *pending, int n, int maximize, int n_out,
                              mc_rng *rng, double *x_out, double *pred, double *unc, double *acq,
                              fab_propose_info *info, mc_error *err) {
    int d = sp->d;
    fab_propose_info local;
    if (!info) info = &local;
    memset(info, 0, sizeof *info);
    if (d < 1 || d > MAX_D || n < 1 || n_out < 1) return mc_error_set(err, MC_ERR_ARG, "propose: invalid sizes");
    double width[MAX_D], lo[MAX_D], hi[MAX_D], box_lo[MAX_D], box_hi[MAX_D], cur[MAX_D];
    for (int i = 0; i < d; i++) {
        lo[i] = fmax(sp->min[i], sp->current[i] - sp->max_step[i]);
        hi[i] = fmin(sp->max[i], sp->current[i] + sp->max_step[i]);
        if (lo[i] > hi[i])
            return mc_error_set(err, MC_ERR_ARG,
                                "the current %s (%g) is more than max_step (%g) outside its bounds [%g, %g]",
                                sp->names[i], sp->current[i], sp->max_step[i], sp->min[i], sp->max[i]);
        width[i] = sp->max[i] > sp->min[i] ? sp->max[i] - sp->min[i] : 1.0;
        box_lo[i] = (lo[i] - sp->min[i]) / width[i];
        box_hi[i] = (hi[i] - sp->min[i]) / width[i];
        cur[i] = fmin(box_hi[i], fmax(box_lo[i], (sp->current[i] - sp->min[i]) / width[i]));
    }
    double *U = malloc(sizeof(double) * (size_t)n * (size_t)d), *v = malloc(sizeof(double) * (size_t)n);
    double *w = malloc(sizeof(double) * (size_t)n);
    if (!U || !v || !w) {
        free(U);
        free(v);
        free(w);
        return mc_error_set(err, MC_ERR_NOMEM, "out of memory");
    }
    double vmin = HUGE_VAL, vmax = -HUGE_VAL;
    for (int r = 0; r < n; r++) {
        for (int i = 0; i < d; i++) U[(size_t)r * d + i] = (X[(size_t)r * d + i] - sp->min[i]) / width[i];
        int is_pending = pending && pending[r];
        v[r] = is_pending ? NAN : maximize ? y[r] : -y[r];
        w[r] = cfg->half_life > 0 ? exp2((n - 1 - r) / cfg->half_life) : 1;
        if (is_pending) {
            info->pending++;
        } else {
            info->measured++;
            vmin = fmin(vmin, v[r]);
            vmax = fmax(vmax, v[r]);
        }
    }
    mc_status st = MC_OK;
    if (info->measured < d + 1 || !(vmax > vmin)) {
        info->exploratory = 1;
        if (info->measured < d + 1)
            snprintf(info->reason, sizeof info->reason,
                     "%d measured batch%s for %d parameter%s: a model needs at least %d", info->measured,
                     info->measured == 1 ? "" : "es", d, d == 1 ? "" : "s", d + 1);
        else
            snprintf(info->reason, sizeof info->reason, "the objective did not vary over the %d measured batches",
                     info->measured);
        explore(U, n, d, box_lo, box_hi, n_out, rng, x_out);
        for (int k = 0; k < n_out; k++) {
            if (pred) pred[k] = NAN;
            if (unc) unc[k] = NAN;
            if (acq) acq[k] = NAN;
        }
    } else if (cfg->engine == FAB_ENGINE_MLP) {
        st = propose_mlp(cfg, U, v, pending, n, d, box_lo, box_hi, n_out, rng, x_out, pred, unc, acq, err);
    } else {
        st = propose_gp(cfg, U, v, w, pending, n, d, box_lo, box_hi, cur, n_out, rng, x_out, pred, unc, acq, err);
    }
    free(U);
    free(v);
    free(w);
    if (st != MC_OK) return st;
    for (int k = 0; k < n_out; k++) {
        for (int i = 0; i < d; i++) {
            double *x = &x_out[(size_t)k * d + i];
            *x = fmin(hi[i], fmax(lo[i], sp->min[i] + *x * width[i]));
        }
        if (pred && !maximize) pred[k] = -pred[k];
        if (acq && !maximize && cfg->acquisition == FAB_ACQ_UCB && !info->exploratory) acq[k] = -acq[k];
    }
    return MC_OK;
}
