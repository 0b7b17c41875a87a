/* cmd_tune.c: `moe-factory tune`: process tuning. Dispatches `tune bench` (tune_bench.c), and runs
 * `tune propose` (reads a line's logged batches and its bounds and prints the next recipes to try)
 * and `tune simulate` (a simulated line's log) (docs/factory.md, section "Process tuning: tune"). */
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
#include "tune_log.h"

/* ================================ tune propose ==================================================== */

typedef struct propose_opts {
    const char *history, *bounds, *objective;
    int maximize, direction_set, n, recent;
    fab_propose_config cfg;
} propose_opts;

static const mc_option propose_options[] = {
    {"history", 0, "H.csv", "logged batches: timestamp,<parameter>...,<objective>; an empty, NA or NaN objective is a"
                            " pending batch (not measured yet)", NULL},
    {"bounds", 0, "B.csv", "name,min,max,max_step per parameter", NULL},
    {"objective", 0, "NAME", "the history column to optimise", "quality"},
    {"maximize", 0, NULL, "larger objective is better (the default)", NULL},
    {"minimize", 0, NULL, "smaller objective is better", NULL},
    {"n", 'n', "N", "recipes to propose, 1 to 100 (a batch of trials)", "1"},
    {"recent", 0, "N", "fit only the last N batches (a drifting line); 0 = all", "0"},
    {"half-life", 0, "N", "a drifting line: a batch's noise doubles every N batches of age, so old batches count"
                          " less; 0 = off", "0"},
    {"engine", 0, "gp|mlp", "the model: a Gaussian process, or a bootstrap ensemble of small MLPs", "gp"},
    {"acquisition", 0, "ei|ucb", "expected improvement, or the upper confidence bound mean + kappa * sd (gp only)",
     "ei"},
    {"kappa", 0, "K", "the confidence bound's width in standard deviations, 0 to 10", "2"},
    {"xi", 0, "X", "expected improvement's margin over the best batch, in standard deviations of the objective",
     "0.01"},
};

static int propose_on_option(const mc_ctx *ctx, void *user, int index, const char *arg) {
    propose_opts *o = user;
    long v;
    switch (index) {
    case 0: o->history = arg; return 0;
    case 1: o->bounds = arg; return 0;
    case 2: o->objective = arg; return 0;
    case 3:
    case 4:
        if (o->direction_set && o->maximize != (index == 3))
            return mc_cli_usage_error(ctx, "--maximize and --minimize exclude each other");
        o->maximize = index == 3;
        o->direction_set = 1;
        return 0;
    case 5:
        if (mc_cli_int(ctx, "n", arg, 1, 100, &v) != 0) return -1;
        o->n = (int)v;
        return 0;
    case 6:
        if (mc_cli_int(ctx, "recent", arg, 0, 100000000, &v) != 0) return -1;
        o->recent = (int)v;
        return 0;
    case 7: return mc_cli_real(ctx, "half-life", arg, 0, 1e9, &o->cfg.half_life);
    case 8:
        if (strcmp(arg, "gp") == 0) o->cfg.engine = FAB_ENGINE_GP;
        else if (strcmp(arg, "mlp") == 0) o->cfg.engine = FAB_ENGINE_MLP;
        else return mc_cli_usage_error(ctx, "--engine expects gp or mlp, got '%s'", arg);
        return 0;
    case 9:
        if (strcmp(arg, "ei") == 0) o->cfg.acquisition = FAB_ACQ_EI;
        else if (strcmp(arg, "ucb") == 0) o->cfg.acquisition = FAB_ACQ_UCB;
        else return mc_cli_usage_error(ctx, "--acquisition expects ei or ucb, got '%s'", arg);
        return 0;
    case 10: return mc_cli_real(ctx, "kappa", arg, 0, 10, &o->cfg.kappa);
    default: return mc_cli_real(ctx, "xi", arg, 0, 10, &o->cfg.xi);
    }
}

/* Significant digits of every number propose prints or stores: recipes, predictions and their
 * uncertainty read the same in the CSV, the JSON and the database. */
#define PRINT_DIGITS 8

/* x formatted with the fewest significant digits (PRINT_DIGITS to 17) whose value stays within
 * [lo, hi]; returns the digits used. Only a limit that itself needs more than 15 digits (a held
 * parameter at 0.1 + 0.2, say) takes more than 15. */
static int format_within(char *buf, size_t size, double x, double lo, double hi) {
    for (int p = PRINT_DIGITS; p <= 17; p++) {
        snprintf(buf, size, "%.*g", p, x);
        double v = strtod(buf, NULL);
        if (v >= lo && v <= hi) return p;
    }
    return 17;
}

/* x rounded to PRINT_DIGITS significant digits (NAN stays NAN). */
static double rounded(double x) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.*g", PRINT_DIGITS, x);
    return strtod(buf, NULL);
}

static const char *engine_name(const fab_propose_config *c) { return c->engine == FAB_ENGINE_MLP ? "mlp" : "gp"; }
static const char *acquisition_name(const fab_propose_config *c) { return c->acquisition == FAB_ACQ_UCB ? "ucb" : "ei"; }

static void bind_real_or_null(sqlite3_stmt *q, int col, double v) {
    if (isfinite(v)) sqlite3_bind_double(q, col, rounded(v));
    else sqlite3_bind_null(q, col);
}

static mc_status store_proposals(mc_run *run, const propose_opts *o, const fab_bounds_table *b,
                                 const fab_history_table *h, const fab_propose_info *info, uint64_t seed,
                                 char (*text)[FAB_SURROGATE_MAX_DIM][32], const int *digits, const double *pred,
                                 const double *unc, const double *acq) {
    mc_store *s = mc_run_store(run);
    char hh[17], bh[17];
    snprintf(hh, sizeof hh, "%016llx", (unsigned long long)h->hash);
    snprintf(bh, sizeof bh, "%016llx", (unsigned long long)b->hash);
    int ucb = o->cfg.acquisition == FAB_ACQ_UCB;
    mc_status st = mc_store_begin(s);
    for (int k = 0; k < o->n && st == MC_OK; k++) {
        json_t *j = json_object();
        for (int i = 0; i < b->d; i++) json_object_set_new(j, b->names[i], json_real(strtod(text[k][i], NULL)));
        char *settings = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(digits[k]));
        json_decref(j);
        sqlite3_stmt *q;
        if (!settings || (st = mc_store_stmt(s, "INSERT INTO fab_tune_proposals(history_hash, bounds_hash, objective,"
                                                 " direction, engine, acquisition, n, seed, rank, history, settings, kind,"
                                                 " predicted, uncertainty, expected_improvement, confidence_bound,"
                                                 " measured, pending, run_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
                                                 " ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)"
                                                 " ON CONFLICT(history_hash, bounds_hash, objective, direction, engine,"
                                                 " acquisition, n, seed, rank) DO UPDATE SET history = excluded.history,"
                                                 " settings = excluded.settings, kind = excluded.kind,"
                                                 " predicted = excluded.predicted, uncertainty = excluded.uncertainty,"
                                                 " expected_improvement = excluded.expected_improvement,"
                                                 " confidence_bound = excluded.confidence_bound,"
                                                 " measured = excluded.measured, pending = excluded.pending,"
                                                 " run_id = excluded.run_id", &q)) != MC_OK) {
            free(settings);
            return st != MC_OK ? st : MC_ERR_NOMEM;
        }
        sqlite3_bind_text(q, 1, hh, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, bh, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, o->objective, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 4, o->maximize ? "maximize" : "minimize", -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 5, engine_name(&o->cfg), -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 6, acquisition_name(&o->cfg), -1, SQLITE_STATIC);
        sqlite3_bind_int(q, 7, o->n);
        sqlite3_bind_int64(q, 8, (sqlite3_int64)seed);
        sqlite3_bind_int(q, 9, k + 1);
        sqlite3_bind_text(q, 10, o->history, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 11, settings, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 12, info->exploratory ? "exploratory" : "model", -1, SQLITE_STATIC);
        bind_real_or_null(q, 13, pred[k]);
        bind_real_or_null(q, 14, unc[k]);
        bind_real_or_null(q, 15, ucb ? NAN : acq[k]);
        bind_real_or_null(q, 16, ucb ? acq[k] : NAN);
        sqlite3_bind_int(q, 17, info->measured);
        sqlite3_bind_int(q, 18, info->pending);
        sqlite3_bind_text(q, 19, mc_run_id(run), -1, SQLITE_STATIC);
        if (sqlite3_step(q) != SQLITE_DONE) st = MC_ERR_DB;
        free(settings);
    }
    if (st == MC_OK) st = mc_store_commit(s);
    return st;
}

/* A warning for every logged batch outside the bounds (it is still used: the line ran it). */
static void warn_outside_bounds(const propose_opts *o, const fab_bounds_table *b, const fab_history_table *h) {
    for (int r = 0; r < h->n; r++)
        for (int i = 0; i < b->d; i++) {
            double x = h->X[(size_t)r * b->d + i];
            if (x < b->min[i] || x > b->max[i])
                mc_log_warn("%s: line %d: %s = %g is outside its bounds [%g, %g]", o->history, h->line[r], b->names[i],
                            x, b->min[i], b->max[i]);
        }
}

static json_t *real_or_null(double v) { return isfinite(v) ? json_real(rounded(v)) : json_null(); }

/* Reads, proposes, prints and stores; rejects the bad input with its reason. */
static void propose(const mc_ctx *ctx, const propose_opts *o, mc_run *run) {
    char reason[600];
    fab_bounds_table b;
    fab_history_table h;
    if (fab_read_bounds(o->bounds, &b, reason, sizeof reason) != 0) {
        mc_run_input_rejected(run, o->bounds, reason);
        FILE *f = fopen(o->history, "rb"); /* not read without bounds, but named too when it cannot be */
        if (f) {
            fclose(f);
        } else {
            snprintf(reason, sizeof reason, "cannot open: %s", strerror(errno));
            mc_run_input_rejected(run, o->history, reason);
        }
        return;
    }
    if (fab_read_history(o->history, &b, o->objective, &h, reason, sizeof reason) != 0) {
        mc_run_input_rejected(run, o->history, reason);
        return;
    }
    warn_outside_bounds(o, &b, &h);
    int d = b.d;
    double *x = malloc(sizeof(double) * (size_t)o->n * (size_t)d);
    double *pred = malloc(sizeof(double) * (size_t)o->n), *unc = malloc(sizeof(double) * (size_t)o->n);
    double *acq = malloc(sizeof(double) * (size_t)o->n);
    char(*text)[FAB_SURROGATE_MAX_DIM][32] = malloc(sizeof *text * (size_t)o->n);
    int *digits = malloc(sizeof(int) * (size_t)o->n); /* per recipe: 15, or more where a value needs it */
    mc_rng *rng = mc_rng_create(ctx->seed);
    mc_error err = {MC_OK, ""};
    const double *cur = h.X + (size_t)(h.n - 1) * d;
    fab_recipe_space sp = {d, b.name_ptr, b.min, b.max, b.step, cur};
    fab_propose_info info = {0};
    int first = o->recent > 0 && o->recent < h.n ? h.n - o->recent : 0;
    mc_status st = x && pred && unc && acq && text && digits && rng
                       ? fab_propose_recipes(&o->cfg, &sp, h.X + (size_t)first * d, h.y + first, h.pending + first,
                                             h.n - first, o->maximize, o->n, rng, x, pred, unc, acq, &info, &err)
                       : mc_error_set(&err, MC_ERR_NOMEM, "out of memory");
    if (st == MC_OK) {
        if (info.exploratory)
            mc_log_warn("%s: exploratory proposals, no model behind them: %s", o->history, info.reason);
        for (int k = 0; k < o->n; k++) {
            digits[k] = 15;
            for (int i = 0; i < d; i++) {
                int p = format_within(text[k][i], sizeof text[k][i], x[(size_t)k * d + i],
                                      fmax(b.min[i], cur[i] - b.step[i]), fmin(b.max[i], cur[i] + b.step[i]));
                if (p > digits[k]) digits[k] = p;
            }
        }
        if (store_proposals(run, o, &b, &h, &info, ctx->seed, text, digits, pred, unc, acq) != MC_OK) {
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
                int ucb = o->cfg.acquisition == FAB_ACQ_UCB;
                mc_cli_print_json_digits(
                    json_pack("{s:i, s:o, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:i, s:i}", "rank", k + 1, "settings", s,
                              "objective", o->objective, "kind", info.exploratory ? "exploratory" : "model", "engine",
                              engine_name(&o->cfg), "acquisition", acquisition_name(&o->cfg), "predicted",
                              real_or_null(pred[k]), "uncertainty", real_or_null(unc[k]), "expected_improvement",
                              real_or_null(ucb ? NAN : acq[k]), "confidence_bound", real_or_null(ucb ? acq[k] : NAN),
                              "batches", info.measured, "pending", info.pending),
                    digits[k]);
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
    free(acq);
    free(text);
    free(digits);
    fab_history_free(&h);
    mc_rng_destroy(rng);
}

static int tune_propose(mc_ctx *ctx, int argc, char **argv) {
    static const mc_cli_spec spec = {
        .usage = "--history H.csv --bounds B.csv [options]",
        .description = "Advisory mode for a real line: Bayesian optimisation over the logged batches. A Gaussian process\n"
                       "(Matern-5/2, a length scale per parameter, fitted by maximum likelihood) models the objective;\n"
                       "the next recipes maximise expected improvement (or a confidence bound) within the bounds and\n"
                       "within max_step of the current recipe (the last logged batch); a batch of --n recipes is\n"
                       "chosen one after the other, each treating the ones before as measured at their prediction.\n"
                       "Pending batches (no objective yet) keep proposals away from them. With fewer measured batches\n"
                       "than parameters + 1, or an objective that never varied, the proposals are exploratory (spread\n"
                       "out, no prediction) and a warning says so. Prints CSV (with --json: one object per recipe with\n"
                       "the prediction, its uncertainty and the acquisition value); rows go to fab_tune_proposals.",
        .options = propose_options,
        .n_options = (int)(sizeof propose_options / sizeof propose_options[0]),
        .min_args = 0,
        .max_args = 0,
        .trains = 1,
    };
    propose_opts o = {.objective = "quality", .maximize = 1, .n = 1};
    fab_propose_config_default(&o.cfg);
    int code;
    if (mc_cli_parse(ctx, &spec, argc, argv, propose_on_option, &o, &code) < 0) return code;
    if (!o.history || !o.bounds) {
        mc_cli_usage_error(ctx, "propose needs --history and --bounds");
        return MC_EXIT_USAGE;
    }
    if (o.cfg.engine == FAB_ENGINE_MLP && o.cfg.acquisition == FAB_ACQ_UCB) {
        mc_cli_usage_error(ctx, "--acquisition ucb needs --engine gp");
        return MC_EXIT_USAGE;
    }
    mc_run *run = fab_command_run_begin(ctx, fab_tune_schema_migrate);
    if (!run) return MC_EXIT_FAILURE;
    propose(ctx, &o, run);
    return mc_run_end(run, MC_OK);
}

/* ================================ tune simulate =================================================== */

typedef struct simulate_opts {
    fab_process_kind kind;
    int batches, stationary, truth, optimum;
    double interval_min;
    const char *bounds_out, *recipes;
} simulate_opts;

static const mc_option simulate_options[] = {
    {"process", 0, "moulding|reactor", "the simulated process", "moulding"},
    {"batches", 0, "N", "batches to log (without --recipes)", "60"},
    {"interval", 0, "MIN", "minutes between batches (the log starts 2026-11-01T06:00:00Z)", "30"},
    {"bounds", 0, "FILE", "also write the process's bounds file (name,min,max,max_step)", NULL},
    {"recipes", 0, "R.csv", "log these recipes (a header of parameter names, a recipe per row) in their order", NULL},
    {"stationary", 0, NULL, "no wear and no new material lots: the process stays in its reference state", NULL},
    {"truth", 0, NULL, "add the noise-free objective as a column true_quality", NULL},
    {"optimum", 0, NULL, "print the reference state's best recipe and its noise-free quality instead (CSV)", NULL},
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
    case 3: o->bounds_out = arg; return 0;
    case 4: o->recipes = arg; return 0;
    case 5: o->stationary = 1; return 0;
    case 6: o->truth = 1; return 0;
    default: o->optimum = 1; return 0;
    }
}

/* A line's log from the simulator: by default the recipe starts at the fixed one and, batch by
 * batch, each parameter moves by a uniform fraction of +-max_step / 2 with probability 1/2 (an
 * engineer's small trials); with --recipes, the given recipes in order. The measured objective is
 * the column `quality`. The same seed gives the same noise batch by batch, so a longer recipes file
 * repeats the measurements of a shorter one it extends (a closed loop can call it each batch). */
static int tune_simulate(mc_ctx *ctx, int argc, char **argv) {
    static const mc_cli_spec spec = {
        .usage = "[options] > history.csv",
        .description = "Writes a history of logged batches of a simulated line as CSV on stdout, in the format\n"
                       "`tune propose` reads (timestamp,<parameter>...,quality), and with --bounds its bounds file.\n"
                       "With --recipes it runs the given recipes (a closed loop against propose); --optimum prints\n"
                       "the best recipe of the reference state instead.",
        .options = simulate_options,
        .n_options = (int)(sizeof simulate_options / sizeof simulate_options[0]),
        .min_args = 0,
        .max_args = 0,
    };
    simulate_opts o = {.kind = FAB_PROCESS_MOULDING, .batches = 60, .interval_min = 30};
    int code;
    if (mc_cli_parse(ctx, &spec, argc, argv, simulate_on_option, &o, &code) < 0) return code;
    fab_process p;
    fab_process_init(&p, o.kind, !o.stationary);
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
    double x[FAB_MAX_PARAMS], out[FAB_MAX_OUTPUTS];
    if (o.optimum) {
        fab_process ref;
        fab_process_init(&ref, o.kind, 0);
        double best = fab_process_optimum(&ref, 9, NULL, x);
        for (int i = 0; i < p.n_params; i++) printf("%s,", p.param_names[i]);
        printf("true_quality\n");
        for (int i = 0; i < p.n_params; i++) printf("%.10g,", x[i]);
        printf("%.10g\n", best);
        return fflush(stdout) == 0 ? MC_EXIT_OK : MC_EXIT_FAILURE;
    }
    double *recipes = NULL;
    char reason[300];
    if (o.recipes && fab_read_recipes(o.recipes, p.n_params, p.param_names, p.lo, p.hi, &recipes, &o.batches, reason,
                                      sizeof reason) != 0) {
        mc_log_error("%s: %s", o.recipes, reason);
        return MC_EXIT_FAILURE;
    }
    mc_rng *rng = mc_rng_create(ctx->seed);
    if (!rng) {
        free(recipes);
        return MC_EXIT_FAILURE;
    }
    memcpy(x, p.nominal, sizeof(double) * (size_t)p.n_params);
    printf("timestamp");
    for (int i = 0; i < p.n_params; i++) printf(",%s", p.param_names[i]);
    printf(",quality%s\n", o.truth ? ",true_quality" : "");
    const time_t start = 1793512800; /* 2026-11-01T06:00:00Z */
    for (int k = 0; k < o.batches; k++) {
        if (recipes)
            memcpy(x, recipes + (size_t)k * p.n_params, sizeof(double) * (size_t)p.n_params);
        else
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
        for (int i = 0; i < p.n_params; i++) printf(recipes ? ",%.10g" : ",%.4f", x[i]);
        printf(",%.4f", out[0]);
        if (o.truth) {
            fab_process_outcome(&p, x, out);
            printf(",%.6f", out[0]);
        }
        putchar('\n');
    }
    free(recipes);
    mc_rng_destroy(rng);
    return fflush(stdout) == 0 ? MC_EXIT_OK : MC_EXIT_FAILURE;
}

/* ================================ dispatch ======================================================== */

/* Each sub-command runs as its full name ("tune propose"): the name its runs are recorded under,
 * and the one its help and usage errors show. */
typedef struct {
    const char *name, *command, *summary;
    int (*run)(mc_ctx *ctx, int argc, char **argv);
} subcommand;

static const subcommand subcommands[] = {
    {"bench", "tune bench",
     "simulation study: fixed recipe, random and grid search, surrogate optimiser, PPO under drift", fab_tune_bench},
    {"propose", "tune propose", "the next recipes to try on a real line, from its logged batches and bounds",
     tune_propose},
    {"simulate", "tune simulate", "a simulated line's log of batches (and its bounds), in the format propose reads",
     tune_simulate},
};

static void tune_help(FILE *f, const mc_ctx *ctx) {
    fprintf(f,
            "Usage: %s tune SUBCOMMAND [options]\n\n"
            "Process tuning (docs/factory.md, section \"Process tuning: tune\").\n\n"
            "Sub-commands:\n",
            ctx->program);
    for (size_t i = 0; i < sizeof subcommands / sizeof *subcommands; i++)
        fprintf(f, "  %-8s %s\n", subcommands[i].name, subcommands[i].summary);
    fprintf(f, "\nRun '%s tune SUBCOMMAND --help' for the options of each.\n", ctx->program);
}

int fab_cmd_tune(mc_ctx *ctx, int argc, char **argv) {
    for (size_t i = 0; argc >= 2 && i < sizeof subcommands / sizeof *subcommands; i++)
        if (strcmp(argv[1], subcommands[i].name) == 0) {
            ctx->command = subcommands[i].command;
            return subcommands[i].run(ctx, argc - 1, argv + 1);
        }
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
