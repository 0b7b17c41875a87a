/* tune_bench.c: `moe-factory tune bench`: the simulation study. On a stationary process the fixed
 * recipe, random search, grid search, the surrogate optimiser and propose run batch by batch; on a
 * drifting one the same plus PPO; regret against the simulator's optimum, yield, samples needed,
 * learning curves as PNG, rows in the database (docs/factory.md, section "Process tuning: tune"). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "command_run.h"
#include "commands.h"
#include "moecore/log.h"
#include "moecore/plot.h"
#include "moecore/run.h"
#include "ppo.h"
#include "process_sim.h"
#include "recipe_propose.h"
#include "surrogate_opt.h"
#include "tune_schema.h"
#include "tune_bench.h"

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
    fab_surrogate_config cfg;
    fab_propose_config propose; /* propose: the engine of tune propose, as shipped */
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
    fab_propose_config_default(&s->propose);
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

/* The advisory mode run online: tune propose's engine on the batches so far, one recipe within
 * max_step of the current (last) one. */
static mc_status propose_next(sampler *s, mc_rng *rng, double *u) {
    const fab_process *p = s->proc;
    int d = s->d, m = s->n;
    double *X = malloc(sizeof(double) * (size_t)m * (size_t)d), x[FAB_MAX_PARAMS];
    if (!X) return MC_ERR_NOMEM;
    for (int k = 0; k < m; k++) to_physical(p, s->X + (size_t)k * d, X + (size_t)k * d);
    fab_recipe_space sp = {d, p->param_names, p->lo, p->hi, p->max_step, X + (size_t)(m - 1) * d};
    mc_error err;
    mc_status st = fab_propose_recipes(&s->propose, &sp, X, s->y, NULL, m, 1, 1, rng, x, NULL, NULL, NULL, NULL,
                                         &err);
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
 * keeps its best measured recipe; propose instead moves every batch, from all batches so far with
 * a half-life of 30 batches (tune propose --half-life 30). */
static mc_status run_drift_sampler(const mc_ctx *ctx, const bench_opts *o, fab_process_kind kind, int method, int seed,
                                   curve *c, bench_result *r) {
    fab_process p;
    fab_process_init(&p, kind, 1);
    mc_rng *rng = mc_rng_create(seed_of(ctx, seed, 10 + method)), *drift = mc_rng_create(seed_of(ctx, seed, 100));
    sampler s = {0};
    int budget = o->budget < o->horizon && method != M_PROPOSE ? o->budget : o->horizon;
    mc_status st = rng && drift && sampler_init(&s, method, &p, budget, rng) == 0 ? MC_OK : MC_ERR_NOMEM;
    s.propose.half_life = 30;
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

int fab_tune_bench(mc_ctx *ctx, int argc, char **argv) {
    static const mc_cli_spec spec = {
        .usage = "[options]",
        .description = "Simulation study of process tuning (docs/factory.md). Stationary study: the fixed recipe, random\n"
                       "search, grid search, the surrogate optimiser (bootstrap MLP ensemble, expected improvement) and\n"
                       "propose (tune propose's engine, a Gaussian process with expected improvement, within max_step\n"
                       "of the last recipe) each try --budget recipes; reported are\n"
                       "the mean true yield of the recipes tried, the regret of the best measured recipe against the\n"
                       "simulator's optimum, and the samples needed to come within --within % of it. Drift study: over\n"
                       "--horizon batches of a drifting process, the optimisers explore for --budget batches and then\n"
                       "keep their best recipe; propose and PPO change the recipe every batch. Rows go to\n"
                       "fab_tune_bench and fab_tune_curves.",
        .options = bench_options,
        .n_options = (int)(sizeof bench_options / sizeof bench_options[0]),
        .min_args = 0,
        .max_args = 0,
        .trains = 1,
    };
    bench_opts o = {.kind = FAB_PROCESS_MOULDING, .seeds = 5, .budget = 40, .horizon = 200, .ppo_steps = 102400,
                    .within = 1, .stationary = 1, .drift = 1};
    int code;
    if (mc_cli_parse(ctx, &spec, argc, argv, bench_on_option, &o, &code) < 0) return code;
    mc_run *run = fab_command_run_begin(ctx, fab_tune_schema_migrate);
    if (!run) return MC_EXIT_FAILURE;
    for (int k = 0; k < FAB_PROCESS_COUNT; k++)
        if (o.all_processes || (int)o.kind == k) bench_process(ctx, &o, (fab_process_kind)k, run);
    return mc_run_end(run, MC_OK);
}
