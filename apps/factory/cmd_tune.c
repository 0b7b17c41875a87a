/* cmd_tune.c: `moe-factory tune`: process tuning. `tune bench` runs the simulation study (the fixed
 * recipe, random search, grid search and the surrogate optimiser on a stationary process; the same
 * plus PPO on a drifting one) and stores it; `tune propose` reads a line's logged batches and its
 * bounds and prints the next recipes to try (docs/factory.md, section "Process tuning: tune"). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "moecore/log.h"
#include "moecore/plot.h"
#include "moecore/run.h"
#include "ppo.h"
#include "process_sim.h"
#include "surrogate_opt.h"
#include "tune_schema.h"

/* ================================ tune bench ====================================================== */

enum { M_FIXED, M_RANDOM, M_GRID, M_SURROGATE, M_PROPOSE, M_PPO, M_COUNT };
static const char *const method_names[M_COUNT] = {"fixed", "random", "grid", "surrogate", "propose", "ppo"};

typedef struct bench_opts {
    int all_processes;
    fab_process_kind kind;
    int seeds, budget, horizon;
    long ppo_steps;
    double within;  /* percent */
    int stationary, drift;
    const char *plot, *plot_drift, *save_policy;
} bench_opts;

static const mc_option bench_options[] = {
    {"process", 0, "moulding|reactor|all", "the simulated process", "moulding"},
    {"seeds", 0, "N", "repetitions with seeds SEED, SEED+1, ...", "5"},
    {"budget", 0, "B", "batches each optimiser may try (stationary study; exploration under drift)", "40"},
    {"horizon", 0, "H", "batches of the drift study", "200"},
    {"ppo-steps", 0, "N", "simulated batches PPO trains on, per seed", "102400"},
    {"within", 0, "X", "a recipe counts as reached within X% of the optimum", "1"},
    {"study", 0, "stationary|drift|both", "which studies to run", "both"},
    {"plot", 0, "FILE.png", "learning curves of the stationary study (regret against samples)", NULL},
    {"plot-drift", 0, "FILE.png", "true yield batch by batch in the drift study", NULL},
    {"save-policy", 0, "FILE", "save the PPO policy of the first seed (safetensors)", NULL},
};

static int bench_on_option(const mc_ctx *ctx, void *user, int index, const char *arg) {
    bench_opts *o = user;
    long v;
    double r;
    switch (index) {
    case 0:
        o->all_processes = strcmp(arg, "all") == 0;
        if (!o->all_processes && fab_process_parse(arg, &o->kind) != 0)
            return mc_cli_usage_error(ctx, "--process expects moulding, reactor or all, got '%s'", arg);
        return 0;
    case 1:
        if (mc_cli_int(ctx, "seeds", arg, 1, 100, &v) != 0) return -1;
        o->seeds = (int)v;
        return 0;
    case 2:
        if (mc_cli_int(ctx, "budget", arg, 2, 1000, &v) != 0) return -1;
        o->budget = (int)v;
        return 0;
    case 3:
        if (mc_cli_int(ctx, "horizon", arg, 2, 100000, &v) != 0) return -1;
        o->horizon = (int)v;
        return 0;
    case 4:
        if (mc_cli_int(ctx, "ppo-steps", arg, 256, 100000000, &v) != 0) return -1;
        o->ppo_steps = v;
        return 0;
    case 5:
        if (mc_cli_real(ctx, "within", arg, 0.001, 100, &r) != 0) return -1;
        o->within = r;
        return 0;
    case 6:
        o->stationary = strcmp(arg, "stationary") == 0 || strcmp(arg, "both") == 0;
        o->drift = strcmp(arg, "drift") == 0 || strcmp(arg, "both") == 0;
        if (!o->stationary && !o->drift)
            return mc_cli_usage_error(ctx, "--study expects stationary, drift or both, got '%s'", arg);
        return 0;
    case 7: o->plot = arg; return 0;
    case 8: o->plot_drift = arg; return 0;
    default: o->save_policy = arg; return 0;
    }
}

/* A stationary optimiser asked for one recipe at a time (unit coordinates), told each result. */
typedef struct sampler {
    int method, d, budget, n;
    const fab_process *proc;
    double *X, *y;   /* tried points and their measured objective */
    int *order;      /* grid: cell indices in the order tried */
    int levels;      /* grid: levels per parameter */
    double *design;  /* surrogate: the initial Latin hypercube */
    int n_init;
    int window;      /* propose: fit the last `window` batches only (0 = all) */
    fab_surrogate_config cfg;
} sampler;

static void sampler_free(sampler *s) {
    free(s->X);
    free(s->y);
    free(s->order);
    free(s->design);
}

static int sampler_init(sampler *s, int method, const fab_process *p, int budget, mc_rng *rng) {
    memset(s, 0, sizeof *s);
    s->method = method;
    s->proc = p;
    s->d = p->n_params;
    s->budget = budget;
    s->X = malloc(sizeof(double) * (size_t)budget * (size_t)s->d);
    s->y = malloc(sizeof(double) * (size_t)budget);
    if (!s->X || !s->y) return -1;
    fab_surrogate_config_default(&s->cfg);
    if (method == M_GRID) {
        /* the fewest levels whose grid holds the budget, cells tried in a seeded order */
        int cells = 1;
        s->levels = 1;
        while (cells < budget) {
            s->levels++;
            cells = 1;
            for (int i = 0; i < s->d; i++) cells *= s->levels;
        }
        if (!(s->order = malloc(sizeof(int) * (size_t)cells))) return -1;
        for (int i = 0; i < cells; i++) s->order[i] = i;
        mc_rng_shuffle(rng, s->order, cells);
    } else if (method == M_SURROGATE) {
        /* a Latin hypercube of d points (at most the rest of the budget) before the surrogate takes over */
        s->n_init = s->d < budget - 1 ? s->d : budget - 1;
        int *perm = malloc(sizeof(int) * (size_t)s->n_init);
        s->design = malloc(sizeof(double) * (size_t)s->n_init * (size_t)s->d);
        if (!perm || !s->design) {
            free(perm);
            return -1;
        }
        for (int i = 0; i < s->d; i++) {
            for (int k = 0; k < s->n_init; k++) perm[k] = k;
            mc_rng_shuffle(rng, perm, s->n_init);
            for (int k = 0; k < s->n_init; k++)
                s->design[(size_t)k * s->d + i] = (perm[k] + mc_rng_uniform(rng)) / s->n_init;
        }
        free(perm);
    }
    return 0;
}

static void to_physical(const fab_process *p, const double *u, double *x) {
    for (int i = 0; i < p->n_params; i++) x[i] = p->lo[i] + u[i] * (p->hi[i] - p->lo[i]);
    fab_process_clip(p, x);
}

/* The advisory mode run online: the surrogate on the last batches, one recipe within max_step of
 * the current (last) one. */
static mc_status propose_next(sampler *s, mc_rng *rng, double *u) {
    const fab_process *p = s->proc;
    int d = s->d, first = s->window > 0 && s->n > s->window ? s->n - s->window : 0, m = s->n - first;
    double *X = malloc(sizeof(double) * (size_t)m * (size_t)d), x[FAB_MAX_PARAMS];
    if (!X) return MC_ERR_NOMEM;
    for (int k = 0; k < m; k++) to_physical(p, s->X + (size_t)(first + k) * d, X + (size_t)k * d);
    fab_recipe_space sp = {d, p->param_names, p->lo, p->hi, p->max_step, X + (size_t)(m - 1) * d};
    mc_error err;
    mc_status st = fab_propose_recipes(&s->cfg, &sp, X, s->y + first, m, 1, 1, rng, x, NULL, NULL, NULL, &err);
    free(X);
    for (int i = 0; st == MC_OK && i < d; i++) u[i] = (x[i] - p->lo[i]) / (p->hi[i] - p->lo[i]);
    return st;
}

/* The next recipe to try, in unit coordinates. */
static mc_status sampler_next(sampler *s, mc_rng *rng, double *u) {
    int d = s->d;
    const fab_process *p = s->proc;
    if (s->n == 0 || s->method == M_FIXED) { /* every method starts from the current (fixed) recipe */
        for (int i = 0; i < d; i++) u[i] = (p->nominal[i] - p->lo[i]) / (p->hi[i] - p->lo[i]);
        return MC_OK;
    }
    switch (s->method) {
    case M_RANDOM:
        for (int i = 0; i < d; i++) u[i] = mc_rng_uniform(rng);
        return MC_OK;
    case M_GRID: {
        int cell = s->order[s->n - 1];
        for (int i = 0; i < d; i++) {
            u[i] = (cell % s->levels + 0.5) / s->levels;
            cell /= s->levels;
        }
        return MC_OK;
    }
    case M_PROPOSE:
        return propose_next(s, rng, u);
    default:
        break;
    }
    if (s->n <= s->n_init) {
        memcpy(u, s->design + (size_t)(s->n - 1) * d, sizeof(double) * (size_t)d);
        return MC_OK;
    }
    double lo[FAB_MAX_PARAMS], hi[FAB_MAX_PARAMS];
    for (int i = 0; i < d; i++) {
        lo[i] = 0;
        hi[i] = 1;
    }
    fab_surrogate *sur;
    mc_error err;
    mc_status st = fab_surrogate_fit(&sur, &s->cfg, s->X, s->y, s->n, d, rng, &err);
    if (st != MC_OK) return st;
    st = fab_surrogate_propose(sur, lo, hi, 1, rng, u, NULL, NULL, NULL);
    fab_surrogate_destroy(sur);
    return st;
}

static void sampler_tell(sampler *s, const double *u, double y) {
    memcpy(s->X + (size_t)s->n * s->d, u, sizeof(double) * (size_t)s->d);
    s->y[s->n++] = y;
}

/* Index of the best measured result so far. */
static int sampler_best(const sampler *s) {
    int b = 0;
    for (int k = 1; k < s->n; k++)
        if (s->y[k] > s->y[b]) b = k;
    return b;
}

static double true_objective(const fab_process *p, const double *x) {
    double out[FAB_MAX_OUTPUTS];
    fab_process_outcome(p, x, out);
    return out[0];
}

/* One method's curve for one seed: the true objective of each batch, of the recipe recommended so
 * far (stationary), and the optimum at that batch. */
typedef struct curve {
    double *value, *best, *optimum;
    int n;
} curve;

typedef struct bench_result {
    double mean_yield, regret, within_frac;
    int samples_to_within; /* 0 = never */
} bench_result;

static uint64_t seed_of(const mc_ctx *ctx, int s, int stream) {
    return ctx->seed + (uint64_t)s * 1000003u + (uint64_t)stream * 7919u;
}

/* The stationary process of one seed: a random state (wear up to 0.6, a random lot) held still, in
 * which the fixed recipe is stale; its optimum. */
static double stationary_process(const mc_ctx *ctx, fab_process_kind kind, int seed, fab_process *p) {
    fab_process_init(p, kind, 0);
    mc_rng *rng = mc_rng_create(seed_of(ctx, seed, 200));
    if (!rng) return NAN;
    fab_process_randomize(p, 0.6, rng);
    mc_rng_destroy(rng);
    return fab_process_optimum(p, 9, p->nominal, NULL);
}

/* Stationary study of one optimiser and seed. */
static mc_status run_stationary(const mc_ctx *ctx, const bench_opts *o, const fab_process *p, double f_star, int method,
                                int seed, curve *c, bench_result *r) {
    mc_rng *rng = mc_rng_create(seed_of(ctx, seed, method));
    sampler s = {0};
    mc_status st = rng && sampler_init(&s, method, p, o->budget, rng) == 0 ? MC_OK : MC_ERR_NOMEM;
    double sum = 0, tol = o->within / 100 * fabs(f_star);
    r->samples_to_within = 0;
    for (int k = 0; k < o->budget && st == MC_OK; k++) {
        double u[FAB_MAX_PARAMS], x[FAB_MAX_PARAMS], out[FAB_MAX_OUTPUTS];
        if ((st = sampler_next(&s, rng, u)) != MC_OK) break;
        to_physical(p, u, x);
        fab_process_observe(p, x, rng, out);
        sampler_tell(&s, u, out[0]);
        double f = true_objective(p, x);
        to_physical(p, s.X + (size_t)sampler_best(&s) * s.d, x);
        double fb = true_objective(p, x);
        c->value[k] = f;
        c->best[k] = fb;
        c->optimum[k] = f_star;
        sum += f;
        if (!r->samples_to_within && f_star - fb <= tol) r->samples_to_within = k + 1;
    }
    c->n = o->budget;
    r->mean_yield = sum / o->budget;
    r->regret = f_star - c->best[o->budget - 1];
    r->within_frac = NAN;
    sampler_free(&s);
    mc_rng_destroy(rng);
    return st;
}

/* The optimum batch by batch of the drift scenario of one seed (the same for every method). */
static int drift_optimum(const mc_ctx *ctx, const bench_opts *o, fab_process_kind kind, int seed, double *f_star) {
    fab_process p;
    fab_process_init(&p, kind, 1);
    mc_rng *drift = mc_rng_create(seed_of(ctx, seed, 100));
    if (!drift) return -1;
    double x[FAB_MAX_PARAMS];
    memcpy(x, p.nominal, sizeof(double) * (size_t)p.n_params);
    for (int t = 0; t < o->horizon; t++) {
        fab_process_advance(&p, drift);
        f_star[t] = fab_process_optimum(&p, 5, x, x);
    }
    mc_rng_destroy(drift);
    return 0;
}

static void drift_metrics(const bench_opts *o, curve *c, bench_result *r) {
    double sum = 0, reg = 0;
    int within = 0;
    for (int t = 0; t < c->n; t++) {
        sum += c->value[t];
        reg += c->optimum[t] - c->value[t];
        within += c->optimum[t] - c->value[t] <= o->within / 100 * fabs(c->optimum[t]);
    }
    r->mean_yield = sum / c->n;
    r->regret = reg / c->n;
    r->within_frac = (double)within / c->n;
    r->samples_to_within = 0;
}

/* Drift study of a stationary optimiser (or the fixed recipe): it explores for its budget, then
 * keeps its best measured recipe; propose instead moves every batch, from the last 30 batches. */
static mc_status run_drift_sampler(const mc_ctx *ctx, const bench_opts *o, fab_process_kind kind, int method, int seed,
                                   curve *c, bench_result *r) {
    fab_process p;
    fab_process_init(&p, kind, 1);
    mc_rng *rng = mc_rng_create(seed_of(ctx, seed, 10 + method)), *drift = mc_rng_create(seed_of(ctx, seed, 100));
    sampler s = {0};
    int budget = o->budget < o->horizon && method != M_PROPOSE ? o->budget : o->horizon;
    mc_status st = rng && drift && sampler_init(&s, method, &p, budget, rng) == 0 ? MC_OK : MC_ERR_NOMEM;
    s.window = 30;
    for (int t = 0; t < o->horizon && st == MC_OK; t++) {
        double u[FAB_MAX_PARAMS], x[FAB_MAX_PARAMS], out[FAB_MAX_OUTPUTS];
        if (t < budget) {
            if ((st = sampler_next(&s, rng, u)) != MC_OK) break;
        } else {
            memcpy(u, s.X + (size_t)sampler_best(&s) * s.d, sizeof(double) * (size_t)s.d);
        }
        to_physical(&p, u, x);
        fab_process_advance(&p, drift);
        fab_process_observe(&p, x, rng, out);
        if (t < budget) sampler_tell(&s, u, out[0]);
        c->value[t] = true_objective(&p, x);
    }
    c->n = o->horizon;
    drift_metrics(o, c, r);
    sampler_free(&s);
    mc_rng_destroy(rng);
    mc_rng_destroy(drift);
    return st;
}

typedef struct ppo_progress {
    const char *process;
    int seed;
} ppo_progress;

static void log_ppo_progress(void *user, int64_t steps, double mean_return) {
    ppo_progress *pp = user;
    mc_log_debug("ppo %s seed %d: %lld steps, mean episode return %.3f", pp->process, pp->seed, (long long)steps,
                 mean_return);
}

/* Drift study of PPO: trained on random drift episodes of 64 batches (wear up to 0.9), then run
 * with its mean action over the seed's drift scenario. */
static mc_status run_drift_ppo(const mc_ctx *ctx, const bench_opts *o, fab_process_kind kind, int seed, curve *c,
                               bench_result *r, mc_error *err) {
    fab_tune_env train = {0}, eval = {0};
    fab_process_init(&train.proc, kind, 1);
    train.horizon = 64;
    train.start_wear = 0.9;
    fab_process_init(&eval.proc, kind, 1);
    eval.horizon = o->horizon;
    mc_rng *rng = mc_rng_create(seed_of(ctx, seed, 20));
    eval.drift_rng = mc_rng_create(seed_of(ctx, seed, 100));
    fab_ppo_config cfg;
    fab_ppo_config_default(&cfg);
    fab_ppo *learner = NULL;
    int od = fab_tune_env_obs_dim(&train), ad = train.proc.n_params;
    mc_status st = rng && eval.drift_rng ? fab_ppo_create(&learner, od, ad, &cfg, rng, err)
                                         : mc_error_set(err, MC_ERR_NOMEM, "out of memory");
    fab_ppo_env env = {&train, od, ad, fab_tune_env_reset, fab_tune_env_step};
    ppo_progress pp = {fab_process_name(kind), seed};
    if (st == MC_OK) st = fab_ppo_learn(learner, &env, o->ppo_steps, rng, log_ppo_progress, &pp, err);
    if (st == MC_OK) {
        float obs[64], act[FAB_MAX_PARAMS];
        int done = 0;
        fab_tune_env_reset(&eval, rng, obs);
        for (int t = 0; t < o->horizon && !done && st == MC_OK; t++) {
            st = fab_ppo_act(learner, obs, 1, NULL, act);
            fab_tune_env_step(&eval, act, rng, obs, &done);
            c->value[t] = eval.true_objective;
        }
        c->n = o->horizon;
        drift_metrics(o, c, r);
    }
    if (st == MC_OK && seed == 0 && o->save_policy) {
        char steps[32];
        snprintf(steps, sizeof steps, "%ld", o->ppo_steps);
        mc_st_meta meta[] = {{"moesuite.process", fab_process_name(kind)}, {"moesuite.trained_steps", steps}};
        st = fab_ppo_save(learner, o->save_policy, meta, 2, err);
    }
    fab_ppo_destroy(learner);
    mc_rng_destroy(rng);
    mc_rng_destroy(eval.drift_rng);
    return st;
}

static mc_status store_bench(mc_store *s, const char *run_id, const char *process, const char *study, int method,
                             int seed, const char *settings, const curve *c, const bench_result *r) {
    sqlite3_stmt *st;
    if (mc_store_stmt(s, "INSERT INTO fab_tune_bench(process, study, method, seed, settings, optimum, mean_yield, regret,"
                         " samples_to_within, within_frac, run_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
                         " ON CONFLICT(process, study, method, seed, settings) DO UPDATE SET optimum = excluded.optimum,"
                         " mean_yield = excluded.mean_yield, regret = excluded.regret,"
                         " samples_to_within = excluded.samples_to_within, within_frac = excluded.within_frac,"
                         " run_id = excluded.run_id", &st) != MC_OK)
        return MC_ERR_DB;
    double opt = 0;
    for (int t = 0; t < c->n; t++) opt += c->optimum[t];
    sqlite3_bind_text(st, 1, process, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, study, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, method_names[method], -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, seed);
    sqlite3_bind_text(st, 5, settings, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 6, opt / c->n);
    sqlite3_bind_double(st, 7, r->mean_yield);
    sqlite3_bind_double(st, 8, r->regret);
    if (r->samples_to_within) sqlite3_bind_int(st, 9, r->samples_to_within);
    if (!isnan(r->within_frac)) sqlite3_bind_double(st, 10, r->within_frac);
    sqlite3_bind_text(st, 11, run_id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) return MC_ERR_DB;
    for (int t = 0; t < c->n; t++) {
        if (mc_store_stmt(s, "INSERT INTO fab_tune_curves(process, study, method, seed, settings, step, yield, best,"
                             " optimum, run_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                             " ON CONFLICT(process, study, method, seed, settings, step) DO UPDATE SET"
                             " yield = excluded.yield, best = excluded.best, optimum = excluded.optimum,"
                             " run_id = excluded.run_id", &st) != MC_OK)
            return MC_ERR_DB;
        sqlite3_bind_text(st, 1, process, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, study, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, method_names[method], -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, seed);
        sqlite3_bind_text(st, 5, settings, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 6, t + 1);
        sqlite3_bind_double(st, 7, c->value[t]);
        if (c->best) sqlite3_bind_double(st, 8, c->best[t]);
        sqlite3_bind_double(st, 9, c->optimum[t]);
        sqlite3_bind_text(st, 10, run_id, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) return MC_ERR_DB;
    }
    return MC_OK;
}

/* Mean over seeds and the report line of one method. */
static void report(const mc_ctx *ctx, const char *process, const char *study, int method, const bench_opts *o,
                   double optimum, const bench_result *r, int n) {
    double y = 0, reg = 0, reg2 = 0, reach = 0, wf = 0;
    int reached = 0;
    for (int s = 0; s < n; s++) {
        y += r[s].mean_yield;
        reg += r[s].regret;
        reg2 += r[s].regret * r[s].regret;
        wf += r[s].within_frac;
        if (r[s].samples_to_within) {
            reach += r[s].samples_to_within;
            reached++;
        }
    }
    y /= n;
    reg /= n;
    wf /= n;
    double sd = n > 1 ? sqrt(fmax(0, (reg2 - n * reg * reg) / (n - 1))) : 0;
    int drift = strcmp(study, "drift") == 0;
    if (ctx->json) {
        json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:i, s:f, s:f, s:f, s:f, s:f}", "process", process, "study", study,
                              "method", method_names[method], "seeds", n, drift ? "horizon" : "budget",
                              drift ? o->horizon : o->budget, "within_pct", o->within, "optimum", optimum,
                              "mean_yield", y, drift ? "mean_regret" : "final_regret", reg, "regret_sd", sd);
        if (drift) {
            json_object_set_new(j, "within_frac", json_real(wf));
        } else {
            json_object_set_new(j, "samples_to_within", reached ? json_real(reach / reached) : json_null());
            json_object_set_new(j, "reached", json_integer(reached));
        }
        mc_cli_print_json(j);
    } else if (drift) {
        printf("%-9s drift       %-10s mean yield %.4f  mean regret %.4f (sd %.4f)  batches within %g%%: %.0f%%\n",
               process, method_names[method], y, reg, sd, o->within, 100 * wf);
    } else {
        printf("%-9s stationary  %-10s mean yield %.4f  final regret %.4f (sd %.4f)  ", process, method_names[method], y,
               reg, sd);
        if (reached)
            printf("within %g%% after %.1f samples (%d/%d seeds)\n", o->within, reach / reached, reached, n);
        else
            printf("never within %g%% (0/%d seeds)\n", o->within, n);
    }
}

/* Mean over seeds of one method's curve (best = 1: the recommended recipe's regret, else the batch's
 * value), for the plots. */
static void mean_curve(curve *const *c, int method, int seeds, int n, int regret, double *out) {
    for (int t = 0; t < n; t++) {
        double s = 0;
        for (int k = 0; k < seeds; k++) {
            const curve *cv = &c[k][method];
            s += regret ? cv->optimum[t] - cv->best[t] : cv->value[t];
        }
        out[t] = s / seeds;
    }
}

static mc_status plot_curves(const char *path, const char *title, const char *ylabel, curve *const *c, const int *methods,
                             int n_methods, int seeds, int n, int regret, int with_optimum, mc_error *err) {
    double *x = malloc(sizeof(double) * (size_t)n), *y = malloc(sizeof(double) * (size_t)n * (size_t)(n_methods + 1));
    if (!x || !y) {
        free(x);
        free(y);
        return mc_error_set(err, MC_ERR_NOMEM, "out of memory");
    }
    mc_plot_series series[M_COUNT + 1];
    for (int t = 0; t < n; t++) x[t] = t + 1;
    for (int m = 0; m < n_methods; m++) {
        mean_curve(c, methods[m], seeds, n, regret, y + (size_t)m * n);
        series[m] = (mc_plot_series){method_names[methods[m]], x, y + (size_t)m * n, n, 0};
    }
    int ns = n_methods;
    if (with_optimum) {
        double *yo = y + (size_t)n_methods * n;
        for (int t = 0; t < n; t++) {
            double s = 0;
            for (int k = 0; k < seeds; k++) s += c[k][methods[0]].optimum[t];
            yo[t] = s / seeds;
        }
        series[ns++] = (mc_plot_series){"optimum", x, yo, n, 1};
    }
    mc_plot_opts po = {.title = title, .xlabel = regret ? "samples" : "batch", .ylabel = ylabel};
    mc_status st = mc_plot_lines(path, &po, series, ns, err);
    free(x);
    free(y);
    return st;
}

/* The whole study of one process, stored in one transaction. */
static int bench_process(const mc_ctx *ctx, const bench_opts *o, fab_process_kind kind, mc_run *run) {
    const char *name = fab_process_name(kind);
    char settings[160], reason[600] = "";
    snprintf(settings, sizeof settings, "budget=%d;horizon=%d;ppo_steps=%ld;within=%g", o->budget, o->horizon,
             o->ppo_steps, o->within);
    int n = o->budget > o->horizon ? o->budget : o->horizon;
    curve **c = calloc((size_t)o->seeds, sizeof *c);
    bench_result *res = calloc((size_t)o->seeds * M_COUNT * 2, sizeof *res);
    double *buf = malloc(sizeof(double) * (size_t)o->seeds * M_COUNT * 2 * 3 * (size_t)n);
    double *f_star = malloc(sizeof(double) * (size_t)o->horizon);
    curve *cs = calloc((size_t)o->seeds * M_COUNT * 2, sizeof *cs);
    mc_status st = c && res && buf && f_star && cs ? MC_OK : MC_ERR_NOMEM;
    mc_error err = {MC_OK, ""};
    /* curves: [seed][method] for the stationary study, then [seed][M_COUNT + method] under drift */
    for (int k = 0; st == MC_OK && k < o->seeds * M_COUNT * 2; k++) {
        cs[k].value = buf + (size_t)k * 3 * n;
        cs[k].best = cs[k].value + n;
        cs[k].optimum = cs[k].best + n;
    }
    for (int s = 0; st == MC_OK && s < o->seeds; s++) c[s] = cs + (size_t)s * M_COUNT * 2;

    double opt = 0;
    if (st == MC_OK && o->stationary) {
        mc_log_info("%s: stationary study, %d seeds x budget %d", name, o->seeds, o->budget);
        for (int s = 0; s < o->seeds && st == MC_OK; s++) {
            fab_process p;
            double f_star = stationary_process(ctx, kind, s, &p);
            if (isnan(f_star)) st = MC_ERR_NOMEM;
            opt += f_star / o->seeds;
            for (int m = M_FIXED; m <= M_PROPOSE && st == MC_OK; m++)
                st = run_stationary(ctx, o, &p, f_star, m, s, &c[s][m], &res[(size_t)m * o->seeds + s]);
        }
    }
    if (st == MC_OK && o->drift) {
        mc_log_info("%s: drift study, %d seeds x %d batches, PPO trained on %ld batches per seed", name, o->seeds,
                    o->horizon, o->ppo_steps);
        for (int s = 0; s < o->seeds && st == MC_OK; s++) {
            if (drift_optimum(ctx, o, kind, s, f_star) != 0) {
                st = MC_ERR_NOMEM;
                break;
            }
            for (int m = M_FIXED; m < M_COUNT && st == MC_OK; m++) {
                curve *cv = &c[s][M_COUNT + m];
                bench_result *r = &res[(size_t)(M_COUNT + m) * o->seeds + s];
                memcpy(cv->optimum, f_star, sizeof(double) * (size_t)o->horizon);
                st = m == M_PPO ? run_drift_ppo(ctx, o, kind, s, cv, r, &err)
                                : run_drift_sampler(ctx, o, kind, m, s, cv, r);
                cv->best = NULL;
            }
        }
    }
    if (st != MC_OK) {
        snprintf(reason, sizeof reason, "%s", err.code != MC_OK ? err.msg : mc_status_str(st));
    } else {
        mc_store *db = mc_run_store(run);
        st = mc_store_begin(db);
        for (int m = 0; m < M_COUNT * 2 && st == MC_OK; m++) {
            int drift = m >= M_COUNT, method = m % M_COUNT;
            if ((drift && !o->drift) || (!drift && (!o->stationary || method == M_PPO))) continue;
            for (int s = 0; s < o->seeds && st == MC_OK; s++)
                st = store_bench(db, mc_run_id(run), name, drift ? "drift" : "stationary", method, s, settings,
                                 &c[s][m], &res[(size_t)m * o->seeds + s]);
        }
        if (st == MC_OK) st = mc_store_commit(db);
        if (st != MC_OK) snprintf(reason, sizeof reason, "database: %s", sqlite3_errmsg(mc_store_db(db)));
    }
    if (st == MC_OK) {
        for (int m = M_FIXED; o->stationary && m <= M_PROPOSE; m++)
            report(ctx, name, "stationary", m, o, opt, &res[(size_t)m * o->seeds], o->seeds);
        double mean_opt = 0;
        for (int s = 0; o->drift && s < o->seeds; s++)
            for (int t = 0; t < o->horizon; t++) mean_opt += c[s][M_COUNT].optimum[t] / (o->seeds * o->horizon);
        for (int m = M_FIXED; o->drift && m < M_COUNT; m++)
            report(ctx, name, "drift", m, o, mean_opt, &res[(size_t)(M_COUNT + m) * o->seeds], o->seeds);
    }
    /* plots: one process per file (with --process all, the first one) */
    static const int stat_methods[] = {M_FIXED, M_RANDOM, M_GRID, M_SURROGATE, M_PROPOSE};
    static const int drift_methods[] = {M_FIXED, M_RANDOM, M_GRID, M_SURROGATE, M_PROPOSE, M_PPO};
    char title[128];
    if (st == MC_OK && o->plot && o->stationary && !(o->all_processes && kind != FAB_PROCESS_MOULDING)) {
        snprintf(title, sizeof title, "%s: regret of the recommended recipe, mean of %d seeds", name, o->seeds);
        if (plot_curves(o->plot, title, "regret", c, stat_methods, 5, o->seeds, o->budget, 1, 0, &err) != MC_OK)
            mc_log_error("%s", err.msg);
    }
    if (st == MC_OK && o->plot_drift && o->drift && !(o->all_processes && kind != FAB_PROCESS_MOULDING)) {
        curve **cd = malloc(sizeof *cd * (size_t)o->seeds);
        for (int s = 0; cd && s < o->seeds; s++) cd[s] = c[s] + M_COUNT;
        snprintf(title, sizeof title, "%s under drift: true yield per batch, mean of %d seeds", name, o->seeds);
        if (!cd || plot_curves(o->plot_drift, title, "yield", cd, drift_methods, 6, o->seeds, o->horizon, 0, 1, &err) != MC_OK)
            mc_log_error("%s", cd ? err.msg : "out of memory");
        free(cd);
    }
    free(c);
    free(res);
    free(buf);
    free(f_star);
    free(cs);
    if (st != MC_OK) {
        mc_run_input_rejected(run, name, reason);
        return -1;
    }
    mc_run_input_ok(run);
    return 0;
}

static int tune_bench(mc_ctx *ctx, int argc, char **argv) {
    static const mc_cli_spec spec = {
        .usage = "bench [options]",
        .description = "Simulation study of process tuning (docs/factory.md). Stationary study: the fixed recipe, random\n"
                       "search, grid search, the surrogate optimiser (bootstrap MLP ensemble, expected improvement) and\n"
                       "propose (the same within max_step of the last recipe) each try --budget recipes; reported are\n"
                       "the mean true yield of the recipes tried, the regret of the best measured recipe against the\n"
                       "simulator's optimum, and the samples needed to come within --within % of it. Drift study: over\n"
                       "--horizon batches of a drifting process, the optimisers explore for --budget batches and then\n"
                       "keep their best recipe; propose and PPO change the recipe every batch. Rows go to\n"
                       "fab_tune_bench and fab_tune_curves.",
        .options = bench_options,
        .n_options = (int)(sizeof bench_options / sizeof bench_options[0]),
        .min_args = 0,
        .max_args = 0,
    };
    bench_opts o = {.kind = FAB_PROCESS_MOULDING, .seeds = 5, .budget = 40, .horizon = 200, .ppo_steps = 102400,
                    .within = 1, .stationary = 1, .drift = 1};
    int code;
    if (mc_cli_parse(ctx, &spec, argc, argv, bench_on_option, &o, &code) < 0) return code;
    mc_run *run;
    mc_error err;
    if (mc_run_begin(&run, ctx, &err) != MC_OK) {
        mc_log_error("%s", err.msg);
        return MC_EXIT_FAILURE;
    }
    mc_status failure = fab_tune_schema_migrate(mc_run_store(run));
    if (failure != MC_OK) mc_log_error("%s", mc_store_error(mc_run_store(run))->msg);
    for (int k = 0; k < FAB_PROCESS_COUNT && failure == MC_OK; k++)
        if (o.all_processes || (int)o.kind == k) bench_process(ctx, &o, (fab_process_kind)k, run);
    return mc_run_end(run, failure);
}

/* ================================ tune propose ==================================================== */

typedef struct propose_opts {
    const char *history, *bounds, *objective;
    int maximize, n, recent;
} propose_opts;

static const mc_option propose_options[] = {
    {"history", 0, "H.csv", "logged batches: timestamp,<parameter>...,<objective>", NULL},
    {"bounds", 0, "B.csv", "name,min,max,max_step per parameter", NULL},
    {"objective", 0, "NAME", "the history column to optimise", "quality"},
    {"maximize", 0, NULL, "larger objective is better (the default)", NULL},
    {"minimize", 0, NULL, "smaller objective is better", NULL},
    {"n", 'n', "N", "recipes to propose", "1"},
    {"recent", 0, "N", "fit only the last N batches (a drifting line); 0 = all", "0"},
};

static int propose_on_option(const mc_ctx *ctx, void *user, int index, const char *arg) {
    propose_opts *o = user;
    long v;
    switch (index) {
    case 0: o->history = arg; return 0;
    case 1: o->bounds = arg; return 0;
    case 2: o->objective = arg; return 0;
    case 3: o->maximize = 1; return 0;
    case 4: o->maximize = 0; return 0;
    case 5:
        if (mc_cli_int(ctx, "n", arg, 1, 100, &v) != 0) return -1;
        o->n = (int)v;
        return 0;
    default:
        if (mc_cli_int(ctx, "recent", arg, 0, 100000000, &v) != 0) return -1;
        o->recent = (int)v;
        return 0;
    }
}

#define MAX_LINE 4096
#define MAX_COLS FAB_SURROGATE_MAX_DIM + 2

/* A CSV file read line by line: fields split on commas (no quoting), surrounding blanks and a
 * trailing CR removed; the FNV-1a hash of the bytes read. */
typedef struct csv_reader {
    FILE *f;
    const char *path;
    int line;
    char buf[MAX_LINE + 2];
    char *field[MAX_COLS + 1];
    int n_fields;
    uint64_t hash;
} csv_reader;

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) s[--n] = '\0';
    return s;
}

/* Next non-blank line into fields: 1, 0 at the end, -1 with reason. */
static int csv_next(csv_reader *r, char *reason, size_t size) {
    for (;;) {
        if (!fgets(r->buf, sizeof r->buf, r->f)) {
            if (ferror(r->f)) {
                snprintf(reason, size, "cannot read: %s", strerror(errno));
                return -1;
            }
            return 0;
        }
        r->line++;
        size_t len = strlen(r->buf);
        for (size_t i = 0; i < len; i++) r->hash = (r->hash ^ (unsigned char)r->buf[i]) * 1099511628211u;
        if (len > MAX_LINE || (len == MAX_LINE && r->buf[len - 1] != '\n' && !feof(r->f))) {
            snprintf(reason, size, "line %d: longer than %d bytes", r->line, MAX_LINE);
            return -1;
        }
        if (len + 1 < sizeof r->buf && !feof(r->f) && (len == 0 || r->buf[len - 1] != '\n')) {
            snprintf(reason, size, "line %d: binary data (a NUL byte)", r->line);
            return -1;
        }
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)r->buf[i] < 0x20 && r->buf[i] != '\t' && r->buf[i] != '\r' && r->buf[i] != '\n') {
                snprintf(reason, size, "line %d: binary data (control character 0x%02x)", r->line,
                         (unsigned char)r->buf[i]);
                return -1;
            }
        char *s = trim(r->buf);
        if (*s == '\0') continue;
        r->n_fields = 0;
        for (char *p = s;;) {
            if (r->n_fields == MAX_COLS) {
                snprintf(reason, size, "line %d: more than %d columns", r->line, MAX_COLS);
                return -1;
            }
            char *comma = strchr(p, ',');
            if (comma) *comma = '\0';
            r->field[r->n_fields++] = trim(p);
            if (!comma) break;
            p = comma + 1;
        }
        return 1;
    }
}

static int parse_number(const char *s, double *out) {
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    return *s != '\0' && *end == '\0' && errno == 0 && isfinite(*out) ? 0 : -1;
}

/* A timestamp as seconds: ISO 8601 (YYYY-MM-DD, optionally [T ]HH:MM[:SS[.fff]] and Z), or a plain
 * number of seconds. -1 when it is neither. */
static int parse_timestamp(const char *s, double *out) {
    if (parse_number(s, out) == 0) return 0;
    int Y, M, D, h = 0, m = 0, n = 0, k = 0;
    double sec = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &Y, &M, &D, &n) != 3 || n != 10) return -1;
    const char *p = s + 10;
    if (*p == 'T' || *p == ' ') {
        if (sscanf(p + 1, "%2d:%2d%n", &h, &m, &k) != 2 || k != 5) return -1;
        p += 6;
        if (*p == ':') {
            char *end;
            if (!(p[1] >= '0' && p[1] <= '9')) return -1;
            sec = strtod(p + 1, &end);
            if (end - (p + 1) < 2 || sec >= 61) return -1;
            p = end;
        }
        if (*p == 'Z') p++;
    }
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
    if (*p || M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || (M == 2 && D == 29 && !leap) || h > 23 || m > 59)
        return -1;
    /* days from 1970-01-01 (civil-from-days inverse) */
    int y = Y - (M <= 2);
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (M + (M > 2 ? -3 : 9)) + 2) / 5 + D - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    double days = (double)era * 146097 + doe - 719468;
    *out = days * 86400 + h * 3600 + m * 60 + sec;
    return 0;
}

typedef struct bounds_table {
    int d;
    char names[FAB_SURROGATE_MAX_DIM][64];
    const char *name_ptr[FAB_SURROGATE_MAX_DIM];
    double min[FAB_SURROGATE_MAX_DIM], max[FAB_SURROGATE_MAX_DIM], step[FAB_SURROGATE_MAX_DIM];
    uint64_t hash;
} bounds_table;

static int header_index(const csv_reader *r, const char *name) {
    for (int i = 0; i < r->n_fields; i++)
        if (strcmp(r->field[i], name) == 0) return i;
    return -1;
}

static int read_bounds(const char *path, bounds_table *b, char *reason, size_t size) {
    csv_reader r = {.path = path, .hash = 14695981039346656037u};
    memset(b, 0, sizeof *b);
    if (!(r.f = fopen(path, "rb"))) {
        snprintf(reason, size, "cannot open: %s", strerror(errno));
        return -1;
    }
    int rc = csv_next(&r, reason, size), col[4];
    static const char *const want[] = {"name", "min", "max", "max_step"};
    if (rc == 0) {
        snprintf(reason, size, "empty file");
        rc = -1;
    }
    for (int k = 0; rc == 1 && k < 4; k++)
        if ((col[k] = header_index(&r, want[k])) < 0) {
            snprintf(reason, size, "line 1: header has no '%s' column (name,min,max,max_step)", want[k]);
            rc = -1;
        }
    int cols = r.n_fields;
    while (rc == 1 && (rc = csv_next(&r, reason, size)) == 1) {
        if (r.n_fields != cols) {
            snprintf(reason, size, "line %d: %d fields, the header has %d", r.line, r.n_fields, cols);
            rc = -1;
            break;
        }
        const char *name = r.field[col[0]];
        if (!*name || strlen(name) >= sizeof b->names[0] || strcmp(name, "timestamp") == 0) {
            snprintf(reason, size, "line %d: invalid parameter name '%.64s'", r.line, name);
            rc = -1;
            break;
        }
        for (int i = 0; i < b->d && rc == 1; i++)
            if (strcmp(b->names[i], name) == 0) {
                snprintf(reason, size, "line %d: parameter '%s' listed twice", r.line, name);
                rc = -1;
            }
        if (rc != 1) break;
        if (b->d == FAB_SURROGATE_MAX_DIM) {
            snprintf(reason, size, "line %d: more than %d parameters", r.line, FAB_SURROGATE_MAX_DIM);
            rc = -1;
            break;
        }
        double v[3];
        for (int k = 0; k < 3 && rc == 1; k++)
            if (parse_number(r.field[col[k + 1]], &v[k]) != 0) {
                snprintf(reason, size, "line %d: %s of '%s' is not a number: '%.40s'", r.line, want[k + 1], name,
                         r.field[col[k + 1]]);
                rc = -1;
            }
        if (rc != 1) break;
        if (v[0] > v[1]) {
            snprintf(reason, size, "line %d: min > max for '%s' (%g > %g)", r.line, name, v[0], v[1]);
            rc = -1;
            break;
        }
        if (v[2] < 0) {
            snprintf(reason, size, "line %d: negative max_step for '%s'", r.line, name);
            rc = -1;
            break;
        }
        snprintf(b->names[b->d], sizeof b->names[0], "%s", name);
        b->name_ptr[b->d] = b->names[b->d];
        b->min[b->d] = v[0];
        b->max[b->d] = v[1];
        b->step[b->d] = v[2];
        b->d++;
    }
    fclose(r.f);
    if (rc == 0 && b->d == 0) {
        snprintf(reason, size, "no parameters");
        rc = -1;
    }
    b->hash = r.hash;
    return rc == 0 ? 0 : -1;
}

/* The logged batches: X (n x d, in the bounds' parameter order) and y. */
typedef struct history_table {
    int n, cap;
    double *X, *y;
    uint64_t hash;
} history_table;

static int read_history(const char *path, const bounds_table *b, const char *objective, history_table *h, char *reason,
                        size_t size) {
    csv_reader r = {.path = path, .hash = 14695981039346656037u};
    memset(h, 0, sizeof *h);
    if (!(r.f = fopen(path, "rb"))) {
        snprintf(reason, size, "cannot open: %s", strerror(errno));
        return -1;
    }
    int rc = csv_next(&r, reason, size), ts_col = -1, obj_col = -1, col[FAB_SURROGATE_MAX_DIM];
    if (rc == 0) {
        snprintf(reason, size, "empty file");
        rc = -1;
    }
    if (rc == 1) {
        ts_col = header_index(&r, "timestamp");
        obj_col = header_index(&r, objective);
        if (ts_col < 0) {
            snprintf(reason, size, "line 1: header has no 'timestamp' column");
            rc = -1;
        } else if (obj_col < 0) {
            snprintf(reason, size, "line 1: header has no '%.64s' column (the objective; see --objective)", objective);
            rc = -1;
        }
        for (int i = 0; i < b->d && rc == 1; i++)
            if (strcmp(b->names[i], objective) == 0) {
                snprintf(reason, size, "the objective '%.64s' is also a parameter of the bounds", objective);
                rc = -1;
            }
        for (int i = 0; i < b->d && rc == 1; i++)
            if ((col[i] = header_index(&r, b->names[i])) < 0) {
                snprintf(reason, size, "line 1: header has no column for parameter '%s' of the bounds", b->names[i]);
                rc = -1;
            }
        for (int j = 0; j < r.n_fields && rc == 1; j++) {
            int known = j == ts_col || j == obj_col;
            for (int i = 0; i < b->d && !known; i++) known = j == col[i];
            for (int k = 0; k < j && known; k++)
                if (strcmp(r.field[k], r.field[j]) == 0) known = 0;
            if (!known) {
                snprintf(reason, size, "line 1: column '%.64s' is not a parameter of the bounds (or is repeated)",
                         r.field[j]);
                rc = -1;
            }
        }
    }
    int cols = r.n_fields;
    double prev = -INFINITY;
    while (rc == 1 && (rc = csv_next(&r, reason, size)) == 1) {
        if (r.n_fields != cols) {
            snprintf(reason, size, "line %d: %d fields, the header has %d", r.line, r.n_fields, cols);
            rc = -1;
            break;
        }
        double ts;
        if (parse_timestamp(r.field[ts_col], &ts) != 0) {
            snprintf(reason, size, "line %d: invalid timestamp '%.40s'", r.line, r.field[ts_col]);
            rc = -1;
            break;
        }
        if (ts == prev) {
            snprintf(reason, size, "line %d: duplicate timestamp '%.40s'", r.line, r.field[ts_col]);
            rc = -1;
            break;
        }
        if (ts < prev) {
            snprintf(reason, size, "line %d: timestamp '%.40s' before the previous row (rows must be sorted by time)",
                     r.line, r.field[ts_col]);
            rc = -1;
            break;
        }
        prev = ts;
        if (h->n == h->cap) {
            int cap = h->cap ? 2 * h->cap : 64;
            double *X = realloc(h->X, sizeof(double) * (size_t)cap * (size_t)b->d), *y = X ? realloc(h->y, sizeof(double) * (size_t)cap) : NULL;
            if (X) h->X = X;
            if (y) h->y = y;
            if (!X || !y) {
                snprintf(reason, size, "out of memory");
                rc = -1;
                break;
            }
            h->cap = cap;
        }
        for (int i = 0; i <= b->d && rc == 1; i++) {
            int c = i < b->d ? col[i] : obj_col;
            double *dst = i < b->d ? &h->X[(size_t)h->n * b->d + i] : &h->y[h->n];
            if (parse_number(r.field[c], dst) != 0) {
                snprintf(reason, size, "line %d: '%.40s' in column '%s' is not a number", r.line, r.field[c],
                         i < b->d ? b->names[i] : objective);
                rc = -1;
            }
        }
        if (rc == 1) h->n++;
    }
    fclose(r.f);
    if (rc == 0 && h->n == 0) {
        snprintf(reason, size, "no batches logged (the history is empty)");
        rc = -1;
    }
    h->hash = r.hash;
    if (rc != 0) {
        free(h->X);
        free(h->y);
        h->X = h->y = NULL;
    }
    return rc == 0 ? 0 : -1;
}

/* x formatted with the fewest significant digits (8 to 17) whose value stays within [lo, hi]. */
static void format_within(char *buf, size_t size, double x, double lo, double hi) {
    for (int p = 8; p <= 17; p++) {
        snprintf(buf, size, "%.*g", p, x);
        double v = strtod(buf, NULL);
        if (v >= lo && v <= hi) return;
    }
}

static mc_status store_proposals(mc_run *run, const propose_opts *o, const bounds_table *b, const history_table *h,
                                 uint64_t seed, char (*text)[FAB_SURROGATE_MAX_DIM][32], const double *pred,
                                 const double *unc, const double *ei) {
    mc_store *s = mc_run_store(run);
    char hh[17], bh[17];
    snprintf(hh, sizeof hh, "%016llx", (unsigned long long)h->hash);
    snprintf(bh, sizeof bh, "%016llx", (unsigned long long)b->hash);
    mc_status st = mc_store_begin(s);
    for (int k = 0; k < o->n && st == MC_OK; k++) {
        json_t *j = json_object();
        for (int i = 0; i < b->d; i++) json_object_set_new(j, b->names[i], json_real(strtod(text[k][i], NULL)));
        char *settings = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
        json_decref(j);
        sqlite3_stmt *q;
        if (!settings || (st = mc_store_stmt(s, "INSERT INTO fab_tune_proposals(history_hash, bounds_hash, objective,"
                                                 " direction, n, seed, rank, history, settings, predicted, uncertainty,"
                                                 " expected_improvement, run_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
                                                 " ?9, ?10, ?11, ?12, ?13) ON CONFLICT(history_hash, bounds_hash,"
                                                 " objective, direction, n, seed, rank) DO UPDATE SET"
                                                 " history = excluded.history, settings = excluded.settings,"
                                                 " predicted = excluded.predicted, uncertainty = excluded.uncertainty,"
                                                 " expected_improvement = excluded.expected_improvement,"
                                                 " run_id = excluded.run_id", &q)) != MC_OK) {
            free(settings);
            return st != MC_OK ? st : MC_ERR_NOMEM;
        }
        sqlite3_bind_text(q, 1, hh, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, bh, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, o->objective, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 4, o->maximize ? "maximize" : "minimize", -1, SQLITE_STATIC);
        sqlite3_bind_int(q, 5, o->n);
        sqlite3_bind_int64(q, 6, (sqlite3_int64)seed);
        sqlite3_bind_int(q, 7, k + 1);
        sqlite3_bind_text(q, 8, o->history, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 9, settings, -1, SQLITE_TRANSIENT);
        sqlite3_bind_double(q, 10, pred[k]);
        sqlite3_bind_double(q, 11, unc[k]);
        sqlite3_bind_double(q, 12, ei[k]);
        sqlite3_bind_text(q, 13, mc_run_id(run), -1, SQLITE_STATIC);
        if (sqlite3_step(q) != SQLITE_DONE) st = MC_ERR_DB;
        free(settings);
    }
    if (st == MC_OK) st = mc_store_commit(s);
    return st;
}

/* Reads, proposes, prints and stores; rejects the bad input with its reason. */
static void propose(const mc_ctx *ctx, const propose_opts *o, mc_run *run) {
    char reason[600];
    bounds_table b;
    history_table h;
    if (read_bounds(o->bounds, &b, reason, sizeof reason) != 0) {
        mc_run_input_rejected(run, o->bounds, reason);
        return;
    }
    if (read_history(o->history, &b, o->objective, &h, reason, sizeof reason) != 0) {
        mc_run_input_rejected(run, o->history, reason);
        return;
    }
    int d = b.d;
    double *x = malloc(sizeof(double) * (size_t)o->n * (size_t)d);
    double *pred = malloc(sizeof(double) * (size_t)o->n), *unc = malloc(sizeof(double) * (size_t)o->n);
    double *ei = malloc(sizeof(double) * (size_t)o->n);
    char(*text)[FAB_SURROGATE_MAX_DIM][32] = malloc(sizeof *text * (size_t)o->n);
    mc_rng *rng = mc_rng_create(ctx->seed);
    mc_error err = {MC_OK, ""};
    const double *cur = h.X + (size_t)(h.n - 1) * d;
    fab_recipe_space sp = {d, b.name_ptr, b.min, b.max, b.step, cur};
    fab_surrogate_config cfg;
    fab_surrogate_config_default(&cfg);
    int first = o->recent > 0 && o->recent < h.n ? h.n - o->recent : 0;
    mc_status st = x && pred && unc && ei && text && rng
                       ? fab_propose_recipes(&cfg, &sp, h.X + (size_t)first * d, h.y + first, h.n - first, o->maximize,
                                             o->n, rng, x, pred, unc, ei, &err)
                       : mc_error_set(&err, MC_ERR_NOMEM, "out of memory");
    if (st == MC_OK) {
        for (int k = 0; k < o->n; k++)
            for (int i = 0; i < d; i++)
                format_within(text[k][i], sizeof text[k][i], x[(size_t)k * d + i],
                              fmax(b.min[i], cur[i] - b.step[i]), fmin(b.max[i], cur[i] + b.step[i]));
        if (store_proposals(run, o, &b, &h, ctx->seed, text, pred, unc, ei) != MC_OK) {
            snprintf(err.msg, sizeof err.msg, "database: %s", sqlite3_errmsg(mc_store_db(mc_run_store(run))));
            st = MC_ERR_DB;
        }
    }
    if (st == MC_OK) {
        if (!ctx->json) {
            for (int i = 0; i < d; i++) printf("%s%s", i ? "," : "", b.names[i]);
            putchar('\n');
        }
        for (int k = 0; k < o->n; k++) {
            if (ctx->json) {
                json_t *s = json_object();
                for (int i = 0; i < d; i++) json_object_set_new(s, b.names[i], json_real(strtod(text[k][i], NULL)));
                mc_cli_print_json(json_pack("{s:i, s:o, s:s, s:f, s:f, s:f, s:i}", "rank", k + 1, "settings", s,
                                            "objective", o->objective, "predicted", pred[k], "uncertainty", unc[k],
                                            "expected_improvement", ei[k], "batches", h.n));
            } else {
                for (int i = 0; i < d; i++) printf("%s%s", i ? "," : "", text[k][i]);
                putchar('\n');
            }
        }
        mc_run_input_ok(run);
    } else {
        mc_run_input_rejected(run, o->history, err.msg);
    }
    free(x);
    free(pred);
    free(unc);
    free(ei);
    free(text);
    free(h.X);
    free(h.y);
    mc_rng_destroy(rng);
}

static int tune_propose(mc_ctx *ctx, int argc, char **argv) {
    static const mc_cli_spec spec = {
        .usage = "propose --history H.csv --bounds B.csv [options]",
        .description = "Advisory mode for a real line: fits the surrogate (a bootstrap ensemble of small MLPs) to the\n"
                       "logged batches and prints the next recipes to try as CSV (with --json: one object per recipe\n"
                       "with the predicted objective, its uncertainty and the expected improvement). Every proposal\n"
                       "stays within the bounds and within max_step of the current recipe (the last logged batch).\n"
                       "Proposals are stored in fab_tune_proposals.",
        .options = propose_options,
        .n_options = (int)(sizeof propose_options / sizeof propose_options[0]),
        .min_args = 0,
        .max_args = 0,
    };
    propose_opts o = {.objective = "quality", .maximize = 1, .n = 1};
    int code;
    if (mc_cli_parse(ctx, &spec, argc, argv, propose_on_option, &o, &code) < 0) return code;
    if (!o.history || !o.bounds) {
        mc_cli_usage_error(ctx, "propose needs --history and --bounds");
        return MC_EXIT_USAGE;
    }
    mc_run *run;
    mc_error err;
    if (mc_run_begin(&run, ctx, &err) != MC_OK) {
        mc_log_error("%s", err.msg);
        return MC_EXIT_FAILURE;
    }
    mc_status failure = fab_tune_schema_migrate(mc_run_store(run));
    if (failure != MC_OK)
        mc_log_error("%s", mc_store_error(mc_run_store(run))->msg);
    else
        propose(ctx, &o, run);
    return mc_run_end(run, failure);
}

/* ================================ tune simulate =================================================== */

typedef struct simulate_opts {
    fab_process_kind kind;
    int batches;
    double interval_min;
    const char *bounds_out;
} simulate_opts;

static const mc_option simulate_options[] = {
    {"process", 0, "moulding|reactor", "the simulated process", "moulding"},
    {"batches", 0, "N", "batches to log", "60"},
    {"interval", 0, "MIN", "minutes between batches (the log starts 2026-11-01T06:00:00Z)", "30"},
    {"bounds", 0, "FILE", "also write the process's bounds file (name,min,max,max_step)", NULL},
};

static int simulate_on_option(const mc_ctx *ctx, void *user, int index, const char *arg) {
    simulate_opts *o = user;
    long v;
    switch (index) {
    case 0:
        if (fab_process_parse(arg, &o->kind) != 0)
            return mc_cli_usage_error(ctx, "--process expects moulding or reactor, got '%s'", arg);
        return 0;
    case 1:
        if (mc_cli_int(ctx, "batches", arg, 1, 1000000, &v) != 0) return -1;
        o->batches = (int)v;
        return 0;
    case 2: return mc_cli_real(ctx, "interval", arg, 0.01, 100000, &o->interval_min);
    default: o->bounds_out = arg; return 0;
    }
}

/* A line's log from the drifting simulator: the recipe starts at the fixed one and, batch by batch,
 * each parameter moves by a uniform fraction of +-max_step / 2 with probability 1/2 (an engineer's
 * small trials); the measured objective is the column `quality`. */
static int tune_simulate(mc_ctx *ctx, int argc, char **argv) {
    static const mc_cli_spec spec = {
        .usage = "simulate [options] > history.csv",
        .description = "Writes a history of logged batches of a simulated line as CSV on stdout, in the format\n"
                       "`tune propose` reads (timestamp,<parameter>...,quality), and with --bounds its bounds file.",
        .options = simulate_options,
        .n_options = (int)(sizeof simulate_options / sizeof simulate_options[0]),
        .min_args = 0,
        .max_args = 0,
    };
    simulate_opts o = {.kind = FAB_PROCESS_MOULDING, .batches = 60, .interval_min = 30};
    int code;
    if (mc_cli_parse(ctx, &spec, argc, argv, simulate_on_option, &o, &code) < 0) return code;
    fab_process p;
    fab_process_init(&p, o.kind, 1);
    if (o.bounds_out) {
        FILE *f = fopen(o.bounds_out, "w");
        if (!f) {
            mc_log_error("%s: cannot write: %s", o.bounds_out, strerror(errno));
            return MC_EXIT_FAILURE;
        }
        fprintf(f, "name,min,max,max_step\n");
        for (int i = 0; i < p.n_params; i++)
            fprintf(f, "%s,%.10g,%.10g,%.10g\n", p.param_names[i], p.lo[i], p.hi[i], p.max_step[i]);
        if (fclose(f) != 0) {
            mc_log_error("%s: cannot write: %s", o.bounds_out, strerror(errno));
            return MC_EXIT_FAILURE;
        }
    }
    mc_rng *rng = mc_rng_create(ctx->seed);
    if (!rng) return MC_EXIT_FAILURE;
    double x[FAB_MAX_PARAMS], out[FAB_MAX_OUTPUTS];
    memcpy(x, p.nominal, sizeof(double) * (size_t)p.n_params);
    printf("timestamp");
    for (int i = 0; i < p.n_params; i++) printf(",%s", p.param_names[i]);
    printf(",quality\n");
    const time_t start = 1793512800; /* 2026-11-01T06:00:00Z */
    for (int k = 0; k < o.batches; k++) {
        for (int i = 0; k > 0 && i < p.n_params; i++)
            if (mc_rng_uniform(rng) < 0.5) x[i] += p.max_step[i] * (mc_rng_uniform(rng) - 0.5);
        fab_process_clip(&p, x);
        fab_process_advance(&p, rng);
        fab_process_observe(&p, x, rng, out);
        time_t ts = start + (time_t)llround(k * o.interval_min * 60);
        struct tm tm;
        char when[32];
        gmtime_r(&ts, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        printf("%s", when);
        for (int i = 0; i < p.n_params; i++) printf(",%.4f", x[i]);
        printf(",%.4f\n", out[0]);
    }
    mc_rng_destroy(rng);
    return fflush(stdout) == 0 ? MC_EXIT_OK : MC_EXIT_FAILURE;
}

/* ================================ dispatch ======================================================== */

static void tune_help(FILE *f, const mc_ctx *ctx) {
    fprintf(f,
            "Usage: %s tune SUBCOMMAND [options]\n\n"
            "Process tuning (docs/factory.md, section \"Process tuning: tune\").\n\n"
            "Sub-commands:\n"
            "  bench    simulation study: fixed recipe, random and grid search, surrogate optimiser, PPO under drift\n"
            "  propose  the next recipes to try on a real line, from its logged batches and bounds\n"
            "  simulate a simulated line's log of batches (and its bounds), in the format propose reads\n\n"
            "Run '%s tune SUBCOMMAND --help' for the options of each.\n",
            ctx->program, ctx->program);
}

int fab_cmd_tune(mc_ctx *ctx, int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "bench") == 0) return tune_bench(ctx, argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "propose") == 0) return tune_propose(ctx, argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "simulate") == 0) return tune_simulate(ctx, argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        tune_help(stdout, ctx);
        return MC_EXIT_OK;
    }
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        static const mc_cli_spec spec = {.usage = "SUBCOMMAND [options]", .min_args = 0, .max_args = 0};
        int code;
        if (mc_cli_parse(ctx, &spec, 2, argv, NULL, NULL, &code) < 0) return code;
    }
    if (argc < 2)
        mc_cli_usage_error(ctx, "missing sub-command (bench, propose or simulate)");
    else
        mc_cli_usage_error(ctx, "unknown sub-command '%s' (bench, propose or simulate)", argv[1]);
    return MC_EXIT_USAGE;
}
