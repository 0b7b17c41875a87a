/* process_sim.c: the injection-moulding and batch-reactor simulators, their drift and noise, the
 * dense search for their optimum, and the batch-by-batch tuning environment (docs/factory.md). */
#include "process_sim.h"

#include <gsl/gsl_multimin.h>
#include <math.h>
#include <string.h>

/* ---- injection moulding ------------------------------------------------------------------------- */

static const char *const mould_params[] = {"melt_temp", "inject_pressure", "hold_time", "cool_time", "mould_temp"};
static const char *const mould_outputs[] = {"yield", "defect_rate", "short_shot", "flash",
                                            "sink", "shrink_dev", "dim_error", "cycle_time"};
static const double mould_lo[] = {210, 60, 2, 8, 30};
static const double mould_hi[] = {270, 140, 10, 32, 80};
static const double mould_nominal[] = {236.5, 93.4, 7.5, 19.8, 57.5};
static const double mould_step[] = {2, 3, 0.25, 0.6, 1.5};
/* The moulding process in its reference state (fab_process_init): lots of 25 batches, wear 1/200 per batch. */
static const fab_process mould = {.kind = FAB_PROCESS_MOULDING, .n_params = 5, .n_outputs = 8, .param_names = mould_params,
                                  .output_names = mould_outputs, .lo = mould_lo, .hi = mould_hi, .nominal = mould_nominal,
                                  .max_step = mould_step, .lot_size = 25, .wear_rate = 1.0 / 200};

/* x = (melt temperature degC, injection pressure MPa, hold time s, cooling time s, mould temperature
 * degC); wear w; lot = (viscosity shift degC, shrinkage shift %). */
static void mould_outcome(const fab_process *p, const double *x, double *out) {
    double Tm = x[0], P = x[1], th = x[2], tc = x[3], Tw = x[4], w = p->wear;
    double fill = (Tm - 235 - p->lot[0]) / 20 + (P - 95) / 25;
    double h_short = 0.1 * exp(-4 * (fill + 0.5));
    double h_flash = 0.1 * exp(4 * (fill - 0.5) + 3 * w);
    double h_sink = 0.3 * exp(-th * P / 200);
    double h_burn = 0.05 * exp((Tm - 280) / 8);
    double h = h_short + h_flash + h_sink + h_burn;
    double defect = 1 - exp(-h);
    double dev = p->lot[1] + 0.08 * w + 0.012 * (Tm - 240) - 0.006 * (P - 100) - 0.05 * (th - 6) + 0.01 * (Tw - 50) -
                 0.015 * (tc - 20);
    double tw = (Tw - 50) / 40;
    double warp = 0.4 * exp(-tc / 8) * (1 + tw * tw);
    double err = fabs(dev) + warp;
    double q = exp(-(err / 0.3) * (err / 0.3));
    double cycle = 2 + 60 / P + th + tc;
    out[0] = (1 - defect) * q * exp(-fmax(0, cycle - 30) / 2);
    out[1] = defect;
    out[2] = defect * h_short / h;
    out[3] = defect * h_flash / h;
    out[4] = defect * h_sink / h;
    out[5] = dev;
    out[6] = err;
    out[7] = cycle;
}

static void mould_noise(mc_rng *rng, double *out) {
    out[0] += 0.01 * mc_rng_normal(rng);
    for (int i = 1; i <= 4; i++) out[i] = fmax(0, out[i] + 0.005 * mc_rng_normal(rng));
    out[5] += 0.01 * mc_rng_normal(rng);
    out[6] = fabs(out[6] + 0.01 * mc_rng_normal(rng));
    out[7] += 0.05 * mc_rng_normal(rng);
}

/* ---- batch reactor ------------------------------------------------------------------------------ */

static const char *const reactor_params[] = {"temperature", "time", "catalyst", "feed_ratio"};
static const char *const reactor_outputs[] = {"net_yield", "yield_b", "conversion", "byproduct", "heat_rate"};
static const double reactor_lo[] = {330, 0.2, 0.2, 1.0};
static const double reactor_hi[] = {390, 6, 2, 2.5};
static const double reactor_nominal[] = {352, 2.6, 1.6, 1.5};
static const double reactor_step[] = {1.5, 0.1, 0.05, 0.05};
/* The reactor in its reference state (fab_process_init): lots of 20 batches, wear 1/250 per batch. */
static const fab_process reactor = {.kind = FAB_PROCESS_REACTOR, .n_params = 4, .n_outputs = 5, .param_names = reactor_params,
                                    .output_names = reactor_outputs, .lo = reactor_lo, .hi = reactor_hi,
                                    .nominal = reactor_nominal, .max_step = reactor_step, .lot_size = 20,
                                    .wear_rate = 1.0 / 250};

/* A -> B -> C, first order, Arrhenius about 360 K; x = (temperature K, time h, catalyst wt%, feed
 * ratio); wear = catalyst activity loss; lot = (log activity shift, purity shift). */
static void reactor_outcome(const fab_process *p, const double *x, double *out) {
    double T = x[0], t = x[1], c = x[2], r = x[3];
    double a = (1 - 0.7 * p->wear) * exp(p->lot[0]);
    double k1 = pow(c, 0.8) * sqrt(r) * a * exp(-7216.7 * (1 / T - 1.0 / 360));
    double k2 = 0.1 * exp(-10825.1 * (1 / T - 1.0 / 360));
    double purity = 0.98 + p->lot[1];
    double conv = 1 - exp(-k1 * t);
    double yb = fabs(k2 - k1) > 1e-9 ? k1 / (k2 - k1) * (exp(-k1 * t) - exp(-k2 * t)) : k1 * t * exp(-k1 * t);
    yb *= purity;
    out[0] = yb - 0.06 * c - 0.015 * t - 0.04 * (r - 1) - 0.2 * fmax(0, k1 - 3);
    out[1] = yb;
    out[2] = conv;
    out[3] = purity * conv - yb;
    out[4] = k1;
}

static void reactor_noise(mc_rng *rng, double *out) {
    double e = 0.01 * mc_rng_normal(rng);
    out[0] += e;
    out[1] += e;
    out[2] += 0.01 * mc_rng_normal(rng);
    out[3] += 0.01 * mc_rng_normal(rng);
    out[4] *= exp(0.02 * mc_rng_normal(rng));
}

/* ---- the common part ---------------------------------------------------------------------------- */

void fab_process_init(fab_process *p, fab_process_kind kind, int drifting) {
    *p = kind == FAB_PROCESS_REACTOR ? reactor : mould;
    p->drifting = drifting;
}

int fab_process_parse(const char *name, fab_process_kind *out) {
    for (int k = 0; k < FAB_PROCESS_COUNT; k++)
        if (strcmp(name, fab_process_name((fab_process_kind)k)) == 0) {
            *out = (fab_process_kind)k;
            return 0;
        }
    return -1;
}

const char *fab_process_name(fab_process_kind kind) { return kind == FAB_PROCESS_REACTOR ? "reactor" : "moulding"; }

void fab_process_outcome(const fab_process *p, const double *x, double *out) {
    if (p->kind == FAB_PROCESS_REACTOR)
        reactor_outcome(p, x, out);
    else
        mould_outcome(p, x, out);
}

void fab_process_observe(const fab_process *p, const double *x, mc_rng *rng, double *out) {
    fab_process_outcome(p, x, out);
    if (p->kind == FAB_PROCESS_REACTOR)
        reactor_noise(rng, out);
    else
        mould_noise(rng, out);
}

/* A new material lot: moulding (viscosity shift N(0, 6) degC, shrinkage shift N(0, 0.06) %),
 * reactor (log activity N(0, 0.25), purity shift N(0, 0.01) within +-0.03). */
static void new_lot(fab_process *p, mc_rng *rng) {
    if (p->kind == FAB_PROCESS_REACTOR) {
        p->lot[0] = 0.25 * mc_rng_normal(rng);
        p->lot[1] = fmax(-0.03, fmin(0.03, 0.01 * mc_rng_normal(rng)));
    } else {
        p->lot[0] = 6 * mc_rng_normal(rng);
        p->lot[1] = 0.06 * mc_rng_normal(rng);
    }
}

void fab_process_advance(fab_process *p, mc_rng *rng) {
    if (!p->drifting) return;
    p->batch++;
    p->wear = fmin(1, p->wear + p->wear_rate);
    if (p->batch % p->lot_size == 0) new_lot(p, rng);
}

void fab_process_randomize(fab_process *p, double max_wear, mc_rng *rng) {
    p->wear = max_wear * mc_rng_uniform(rng);
    p->batch = (int64_t)mc_rng_below(rng, (uint64_t)p->lot_size);
    new_lot(p, rng);
}

void fab_process_clip(const fab_process *p, double *x) {
    for (int i = 0; i < p->n_params; i++) x[i] = fmin(p->hi[i], fmax(p->lo[i], x[i]));
}

static double objective(const fab_process *p, const double *x) {
    double out[FAB_MAX_OUTPUTS];
    fab_process_outcome(p, x, out);
    return out[0];
}

/* The objective at unit coordinates u (each clipped into [0, 1]), negated for GSL's minimiser. */
static double neg_objective_unit(const gsl_vector *u, void *params) {
    const fab_process *p = params;
    double x[FAB_MAX_PARAMS];
    for (int i = 0; i < p->n_params; i++) {
        double v = fmin(1, fmax(0, gsl_vector_get(u, (size_t)i)));
        x[i] = p->lo[i] + v * (p->hi[i] - p->lo[i]);
    }
    return -objective(p, x);
}

/* Nelder-Mead (GSL's nmsimplex2) from x, improved in place, restarted until a restart gains
 * nothing: initial simplex steps of 5% of each range, stopping at a simplex size of 1e-7 (unit
 * coordinates). Returns the objective at x. */
static double polish(const fab_process *p, double *x, double f) {
    int d = p->n_params;
    gsl_multimin_function fn = {neg_objective_unit, (size_t)d, (void *)p};
    gsl_multimin_fminimizer *s = gsl_multimin_fminimizer_alloc(gsl_multimin_fminimizer_nmsimplex2, (size_t)d);
    gsl_vector *u = gsl_vector_alloc((size_t)d), *step = gsl_vector_alloc((size_t)d);
    if (!s || !u || !step) goto done;
    gsl_vector_set_all(step, 0.05);
    for (int restart = 0; restart < 5; restart++) {
        for (int i = 0; i < d; i++) gsl_vector_set(u, (size_t)i, (x[i] - p->lo[i]) / (p->hi[i] - p->lo[i]));
        gsl_multimin_fminimizer_set(s, &fn, u, step);
        for (int iter = 0; iter < 5000; iter++) {
            if (gsl_multimin_fminimizer_iterate(s)) break;
            if (gsl_multimin_test_size(gsl_multimin_fminimizer_size(s), 1e-7) == GSL_SUCCESS) break;
        }
        double g = -gsl_multimin_fminimizer_minimum(s);
        if (!(g > f + 1e-12)) break;
        f = g;
        const gsl_vector *best = gsl_multimin_fminimizer_x(s);
        for (int i = 0; i < d; i++)
            x[i] = p->lo[i] + fmin(1, fmax(0, gsl_vector_get(best, (size_t)i))) * (p->hi[i] - p->lo[i]);
    }
done:
    gsl_vector_free(u);
    gsl_vector_free(step);
    gsl_multimin_fminimizer_free(s);
    return f;
}

#define OPT_STARTS 4

double fab_process_optimum(const fab_process *p, int levels, const double *start, double *x_best) {
    int d = p->n_params;
    double top_x[OPT_STARTS][FAB_MAX_PARAMS], top_f[OPT_STARTS];
    for (int k = 0; k < OPT_STARTS; k++) top_f[k] = -INFINITY;
    int64_t total = 1;
    for (int i = 0; i < d; i++) total *= levels;
    double x[FAB_MAX_PARAMS];
    for (int64_t g = 0; g < total; g++) {
        int64_t r = g;
        for (int i = 0; i < d; i++) {
            x[i] = p->lo[i] + (p->hi[i] - p->lo[i]) * (double)(r % levels) / (levels - 1);
            r /= levels;
        }
        double f = objective(p, x);
        if (f <= top_f[OPT_STARTS - 1]) continue;
        int k = OPT_STARTS - 1;
        while (k > 0 && top_f[k - 1] < f) {
            top_f[k] = top_f[k - 1];
            memcpy(top_x[k], top_x[k - 1], sizeof x);
            k--;
        }
        top_f[k] = f;
        memcpy(top_x[k], x, sizeof x);
    }
    double best = -INFINITY, bx[FAB_MAX_PARAMS];
    for (int k = 0; k <= OPT_STARTS; k++) {
        if (k == OPT_STARTS && !start) break;
        if (k < OPT_STARTS) {
            memcpy(x, top_x[k], sizeof x);
        } else {
            memcpy(x, start, sizeof(double) * (size_t)d);
            fab_process_clip(p, x);
        }
        double f = polish(p, x, objective(p, x));
        if (f > best) {
            best = f;
            memcpy(bx, x, sizeof x);
        }
    }
    if (x_best) memcpy(x_best, bx, sizeof(double) * (size_t)d);
    return best;
}

/* ---- the tuning environment --------------------------------------------------------------------- */

int fab_tune_env_obs_dim(const fab_tune_env *e) { return e->proc.n_params + e->proc.n_outputs; }

static void env_obs(const fab_tune_env *e, float *obs) {
    const fab_process *p = &e->proc;
    for (int i = 0; i < p->n_params; i++) obs[i] = (float)(2 * (e->x[i] - p->lo[i]) / (p->hi[i] - p->lo[i]) - 1);
    for (int j = 0; j < p->n_outputs; j++) obs[p->n_params + j] = (float)e->last[j];
}

void fab_tune_env_reset(void *env, mc_rng *rng, float *obs) {
    fab_tune_env *e = env;
    fab_process *p = &e->proc;
    p->batch = 0;
    p->wear = 0;
    p->lot[0] = p->lot[1] = 0;
    if (e->start_wear > 0) fab_process_randomize(p, e->start_wear, e->drift_rng ? e->drift_rng : rng);
    memcpy(e->x, p->nominal, sizeof(double) * (size_t)p->n_params);
    e->t = 0;
    fab_process_observe(p, e->x, rng, e->last);
    e->true_objective = objective(p, e->x);
    env_obs(e, obs);
}

double fab_tune_env_step(void *env, const float *action, mc_rng *rng, float *obs, int *done) {
    fab_tune_env *e = env;
    fab_process *p = &e->proc;
    for (int i = 0; i < p->n_params; i++) {
        double a = fmax(-1.0, fmin(1.0, (double)action[i]));
        e->x[i] += a * p->max_step[i];
    }
    fab_process_clip(p, e->x);
    fab_process_advance(p, e->drift_rng ? e->drift_rng : rng);
    fab_process_observe(p, e->x, rng, e->last);
    e->true_objective = objective(p, e->x);
    e->t++;
    *done = e->t >= e->horizon;
    env_obs(e, obs);
    return e->last[0];
}
