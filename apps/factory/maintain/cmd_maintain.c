/* cmd_maintain.c: `moe-factory maintain synth|train|predict|eval`: failure warnings from sensor
 * logs (docs/factory.md, "Predictive maintenance"). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "command_run.h"
#include "commands.h"
#include "fleet_synth.h"
#include "maint_eval.h"
#include "maint_model.h"
#include "maint_schema.h"
#include "moecore/inputs.h"
#include "moecore/log.h"
#include "moecore/plot.h"
#include "moecore/run.h"
#include "sensor_log.h"

/* ---- synth ------------------------------------------------------------------------------------ */

typedef struct {
    const char *out;
    long machines;
} synth_opts;

static const mc_option synth_options[] = {
    {"out", 0, "DIR", "folder to write sensors.csv and failures.csv into (created when absent)", NULL},
    {"machines", 0, "N", "machines in the fleet", "40"},
};

static int synth_option(const mc_ctx *ctx, void *user, int index, const char *arg) {
    synth_opts *o = user;
    if (index == 0) {
        o->out = arg;
        return 0;
    }
    return mc_cli_int(ctx, "machines", arg, 1, 100000, &o->machines);
}

/* Opens DIR/name.tmp for writing; the final name goes into final. */
static FILE *open_tmp(const char *dir, const char *name, char *final, char *tmp, size_t size) {
    snprintf(final, size, "%s/%s", dir, name);
    snprintf(tmp, size, "%s/.%s.tmp.%ld", dir, name, (long)getpid());
    return fopen(tmp, "w");
}

static int maintain_synth(mc_ctx *ctx, int argc, char **argv) {
    static const mc_cli_spec spec = {
        .usage = "--out DIR [--machines N] [--seed S]",
        .description = "Writes a synthetic fleet run to failure in the manner of C-MAPSS: three operating conditions,\n"
                       "three failure modes (bearing wear, overheating, seal leak) with their own sensor signatures,\n"
                       "sensor noise, missing samples, gaps and irregular timestamps; a quarter of the machines are\n"
                       "still running at the end of their log. Equations in docs/factory.md.",
        .options = synth_options,
        .n_options = 2,
        .min_args = 0,
        .max_args = 0,
    };
    synth_opts o = {.machines = 40};
    int code;
    if (mc_cli_parse(ctx, &spec, argc, argv, synth_option, &o, &code) < 0) return code;
    if (!o.out) {
        mc_cli_usage_error(ctx, "the output folder is required: --out DIR");
        return MC_EXIT_USAGE;
    }
    if (mkdir(o.out, 0777) != 0 && errno != EEXIST) {
        mc_log_error("%s: cannot create: %s", o.out, strerror(errno));
        return MC_EXIT_FAILURE;
    }
    char sf[4200], st[4200], ff[4200], ft[4200];
    FILE *s = open_tmp(o.out, "sensors.csv", sf, st, sizeof sf), *f = open_tmp(o.out, "failures.csv", ff, ft, sizeof ff);
    mc_rng *rng = mc_rng_create(ctx->seed);
    fab_synth_summary sum;
    int ok = s && f && rng && fab_synth_fleet((int)o.machines, rng, s, f, &sum) == 0;
    ok &= (s ? fclose(s) == 0 : 0) & (f ? fclose(f) == 0 : 0);
    ok = ok && rename(st, sf) == 0 && rename(ft, ff) == 0;
    mc_rng_destroy(rng);
    if (!ok) {
        mc_log_error("%s: cannot write the fleet: %s", o.out, strerror(errno));
        unlink(st);
        unlink(ft);
        return MC_EXIT_FAILURE;
    }
    if (ctx->json) {
        mc_cli_print_json(json_pack("{s:s, s:s, s:i, s:i, s:i, s:I, s:{s:i, s:i, s:i}}", "sensors", sf, "failures", ff,
                                    "machines", sum.machines, "failed", sum.failed, "censored", sum.censored, "samples",
                                    (json_int_t)sum.samples, "modes", "bearing", sum.by_mode[0], "overheat",
                                    sum.by_mode[1], "seal", sum.by_mode[2]));
    } else {
        printf("%s\t%d machines\t%d failed (bearing %d, overheat %d, seal %d)\t%d still running\t%ld samples\n", sf,
               sum.machines, sum.failed, sum.by_mode[0], sum.by_mode[1], sum.by_mode[2], sum.censored, sum.samples);
    }
    return MC_EXIT_OK;
}

/* ---- shared: the run, the inputs ---------------------------------------------------------------- */

/* Reads the sensor log and, when failures is set, the failure list; a bad file is rejected in run.
 * Returns 0, or -1 after the rejection. */
static int read_inputs(mc_run *run, const char *sensors, const char *failures, fab_sensor_log *log) {
    char reason[700];
    if (fab_sensor_log_read(sensors, log, reason, sizeof reason) != 0) {
        mc_run_input_rejected(run, sensors, reason);
        return -1;
    }
    if (failures && fab_failures_read(failures, log, reason, sizeof reason) < 0) {
        mc_run_input_rejected(run, failures, reason);
        fab_sensor_log_free(log);
        return -1;
    }
    return 0;
}

/* Whether log has the model's columns in the model's order; reason otherwise. */
static int columns_match(const fab_feature_spec *spec, const fab_sensor_log *log, char *reason, size_t size) {
    int same = log->n_sensors == spec->n_sensors;
    for (int s = 0; same && s < spec->n_sensors; s++) same = strcmp(log->sensor[s], spec->sensor[s]) == 0;
    if (same) return 0;
    int n = snprintf(reason, size, "columns differ from the model's: expected machine_id,timestamp");
    for (int s = 0; s < spec->n_sensors && n > 0 && (size_t)n < size; s++)
        n += snprintf(reason + n, size - (size_t)n, ",%s", spec->sensor[s]);
    return -1;
}

/* Rows of every machine of log (their blocks in machine order). */
static int all_rows(const fab_feature_spec *spec, const fab_sensor_log *log, fab_rows *r) {
    for (int i = 0; i < log->n_machines; i++)
        if (fab_rows_add_machine(r, spec, log, i) != 0) return -1;
    return 0;
}

static unsigned char label_of(const fab_rows *r, int i, double horizon) {
    return !isnan(r->rul[i]) && r->rul[i] <= horizon;
}

/* Whether row i's label at the horizon is known: a failure, or at least horizon hours observed after it. */
static int label_known(const fab_rows *r, int i, double horizon) { return !isnan(r->rul[i]) || r->left[i] >= horizon; }

/* ---- train ------------------------------------------------------------------------------------ */

typedef struct {
    const char *sensors, *failures, *out;
    double horizon, cap, window, stride, val_fraction;
    long conditions, epochs, sustain;
} train_opts;

static const mc_option train_options[] = {
    {"sensors", 0, "FILE", "sensor log: machine_id,timestamp,<sensor>...", NULL},
    {"failures", 0, "FILE", "failure list: machine_id,failure_time", NULL},
    {"output", 'o', "MODEL", "model file to write (safetensors)", NULL},
    {"horizon", 0, "HOURS", "warn of failures within this many hours", "72"},
    {"cap", 0, "HOURS", "remaining useful life target cap (piecewise-linear target)", "200"},
    {"window", 0, "HOURS", "hours of samples behind each evaluation time", "48"},
    {"stride", 0, "HOURS", "hours between evaluation times", "6"},
    {"conditions", 0, "K", "operating conditions found by k-means over the setting_* columns", "3"},
    {"epochs", 0, "N", "training epochs (early stopping on the held-out machines, patience 8)", "60"},
    {"val-fraction", 0, "X", "share of machines held out for early stopping and threshold calibration", "0.25"},
    {"sustain", 0, "N", "consecutive evaluation times above the threshold that make an alarm", "2"},
};

static int train_option(const mc_ctx *ctx, void *user, int index, const char *arg) {
    train_opts *o = user;
    switch (index) {
    case 0: o->sensors = arg; return 0;
    case 1: o->failures = arg; return 0;
    case 2: o->out = arg; return 0;
    case 3: return mc_cli_real(ctx, "horizon", arg, 1, 24 * 365, &o->horizon);
    case 4: return mc_cli_real(ctx, "cap", arg, 1, 24 * 3650, &o->cap);
    case 5: return mc_cli_real(ctx, "window", arg, 8, 24 * 30, &o->window);
    case 6: return mc_cli_real(ctx, "stride", arg, 0.25, 24 * 30, &o->stride);
    case 7: return mc_cli_int(ctx, "conditions", arg, 1, FAB_MAX_CONDITIONS, &o->conditions);
    case 8: return mc_cli_int(ctx, "epochs", arg, 1, 1000, &o->epochs);
    case 9: return mc_cli_real(ctx, "val-fraction", arg, 0.05, 0.5, &o->val_fraction);
    default: return mc_cli_int(ctx, "sustain", arg, 1, FAB_MAX_SUSTAIN, &o->sustain);
    }
}

/* Event-level quality of alarms on score over the held-out rows r (one block per machine of log):
 * the F1 of detections (alarms within the warning window) against false alarms and misses, less 1
 * when the median lead time falls short of the horizon, so that thresholds warning a horizon ahead
 * win. */
static double alarm_quality(const double *score, double thr, const fab_rows *r, const fab_sensor_log *log, int sustain,
                            double horizon, unsigned char *flag, double *starts, double *lead) {
    fab_policy pol = {.warn_window = 3 * horizon, .unplanned_h = 24, .planned_h = 4, .interval = 1e9};
    fab_policy_result res = {.lead = lead};
    for (int i = 0; i < r->n; i++) flag[i] = score[i] >= thr;
    for (int a = 0; a < r->n;) {
        int b = a;
        while (b < r->n && r->machine[b] == r->machine[a]) b++;
        const fab_machine *mc = &log->m[r->machine[a]];
        int n = fab_alarm_starts(r->t + a, flag + a, b - a, sustain, starts);
        fab_policy_add(&pol, mc->t[0], mc->t[mc->n - 1], mc->failure, starts, n, &res);
        a = b;
    }
    int missed = res.failures - res.detected;
    double f1 = res.detected ? 2.0 * res.detected / (2.0 * res.detected + res.false_alarms + missed) : 0;
    return res.detected && fab_quantile(lead, res.detected, 0.5) >= horizon ? f1 : f1 - 1;
}

/* The threshold on score among 200 quantiles of its held-out values with the best alarm quality;
 * where several reach it, the middle one of them, to stay clear of both edges of the plateau.
 * Returns the quality; *thr receives the threshold. */
static double best_alarm_threshold(const double *score, const fab_rows *r, const fab_sensor_log *log, int sustain,
                                   double horizon, double *thr) {
    enum { CANDIDATES = 200 };
    double best = -INFINITY, cand[CANDIDATES], quality[CANDIDATES];
    int n = r->n;
    double *sorted = malloc(sizeof(double) * (size_t)(n ? n : 1)), *starts = malloc(sizeof(double) * (size_t)(n ? n : 1)),
           *lead = malloc(sizeof(double) * (size_t)(log->n_machines + 1));
    unsigned char *flag = malloc((size_t)(n ? n : 1));
    if (sorted && starts && lead && flag && n > 0) {
        memcpy(sorted, score, sizeof(double) * (size_t)n);
        fab_quantile(sorted, n, 0.5); /* sorts */
        for (int q = 0; q < CANDIDATES; q++) {
            cand[q] = sorted[(int)((double)q / CANDIDATES * (n - 1))];
            quality[q] = alarm_quality(score, cand[q], r, log, sustain, horizon, flag, starts, lead);
            if (quality[q] > best) best = quality[q];
        }
        int at_best = 0;
        for (int q = 0; q < CANDIDATES; q++) at_best += quality[q] == best;
        for (int q = 0, k = 0; q < CANDIDATES; q++)
            if (quality[q] == best && k++ == at_best / 2) *thr = cand[q];
    }
    free(sorted);
    free(starts);
    free(lead);
    free(flag);
    return best;
}

/* The one-sensor baseline: the sensor, direction and threshold on its recent level with the best
 * alarm quality on the held-out machines. Returns the quality. */
static double fit_baseline(fab_maint_model *m, const fab_rows *val, const fab_sensor_log *log) {
    double best = -INFINITY, *score = malloc(sizeof(double) * (size_t)(val->n ? val->n : 1));
    for (int s = 0; score && s < m->spec.n_sensors; s++) {
        int k = fab_feature_recent(&m->spec, s);
        if (k < 0) continue;
        for (int sign = -1; sign <= 1; sign += 2) {
            for (int i = 0; i < val->n; i++) score[i] = sign * val->x[(size_t)i * val->F + k];
            double thr = 0, q = best_alarm_threshold(score, val, log, m->sustain, m->horizon, &thr);
            if (q > best) {
                best = q;
                m->base_feature = k;
                m->base_sign = sign;
                m->base_threshold = thr;
            }
        }
    }
    free(score);
    return best;
}

/* The alarm threshold on the held-out machines. Returns the quality, or -INFINITY when out of memory. */
static double calibrate(fab_maint_model *m, const fab_rows *val, const fab_sensor_log *log) {
    double *p = malloc(sizeof(double) * (size_t)(val->n ? val->n : 1)), q = -INFINITY;
    m->threshold = 0.5;
    if (p && fab_maint_predict(m, val->x, val->n, NULL, p) == MC_OK)
        q = best_alarm_threshold(p, val, log, m->sustain, m->horizon, &m->threshold);
    free(p);
    return q;
}

static int maintain_train(mc_ctx *ctx, int argc, char **argv) {
    static const mc_cli_spec spec = {
        .usage = "--sensors S.csv --failures F.csv -o MODEL [options]",
        .description = "Trains the maintenance model: windowed, condition-normalised features of every machine, an MoE\n"
                       "network for the remaining useful life and the probability of failure within the horizon,\n"
                       "the alarm threshold calibrated on held-out machines (maximum F1), and a one-sensor threshold\n"
                       "baseline calibrated the same way, all in one model file.",
        .options = train_options,
        .n_options = 11,
        .min_args = 0,
        .max_args = 0,
    };
    train_opts o = {.horizon = 72, .cap = 200, .window = 48, .stride = 6, .conditions = 3, .epochs = 60,
                    .val_fraction = 0.25, .sustain = 2};
    int code;
    if (mc_cli_parse(ctx, &spec, argc, argv, train_option, &o, &code) < 0) return code;
    if (!o.sensors || !o.failures || !o.out) {
        mc_cli_usage_error(ctx, "--sensors, --failures and -o MODEL are required");
        return MC_EXIT_USAGE;
    }
    if (o.cap < o.horizon) {
        mc_cli_usage_error(ctx, "--cap must be at least --horizon");
        return MC_EXIT_USAGE;
    }
    mc_run *run = fab_command_run_begin(ctx, fab_maint_schema_migrate);
    if (!run) return MC_EXIT_FAILURE;
    fab_sensor_log log;
    if (read_inputs(run, o.sensors, o.failures, &log) != 0) return mc_run_end(run, MC_ERR_FORMAT);
    mc_status failure = MC_OK;
    fab_maint_model m = {.horizon = o.horizon, .cap = o.cap, .sustain = (int)o.sustain};
    fab_rows tr = {0}, va = {0};
    int *order = malloc(sizeof(int) * (size_t)log.n_machines);
    mc_rng *rng = mc_rng_create(ctx->seed);
    fab_spec_init(&m.spec, &log, o.window, o.stride);
    if (log.n_machines < 2) {
        mc_log_error("%s: %d machine: at least 2 are needed (some are held out)", o.sensors, log.n_machines);
        failure = MC_ERR_ARG;
    } else if (!order || !rng || fab_feature_count(&m.spec) < 1 || fab_feature_count(&m.spec) > FAB_MAX_FEATURES ||
               fab_conditions_fit(&m.spec, &log, (int)o.conditions, rng) != 0) {
        mc_log_error("%s: no sensor columns to learn from, or out of memory", o.sensors);
        failure = MC_ERR_ARG;
    }
    int n_failed = 0;
    for (int i = 0; i < log.n_machines; i++) n_failed += !isnan(log.m[i].failure);
    if (failure == MC_OK && n_failed < 2) {
        mc_log_error("%s: %d failure%s: at least 2 are needed to learn and calibrate warnings", o.failures, n_failed,
                     n_failed == 1 ? "" : "s");
        failure = MC_ERR_ARG;
    }
    int n_val = 0;
    if (failure == MC_OK) {
        for (int i = 0; i < log.n_machines; i++) order[i] = i;
        mc_rng_shuffle(rng, order, log.n_machines);
        n_val = (int)ceil(o.val_fraction * log.n_machines);
        for (int k = 0; k < log.n_machines && failure == MC_OK; k++)
            if (fab_rows_add_machine(k < n_val ? &va : &tr, &m.spec, &log, order[k]) != 0) failure = MC_ERR_NOMEM;
    }
    mc_error err;
    mc_train_result res = {0};
    if (failure == MC_OK && (failure = fab_maint_fit(&m, &tr, &va, ctx->seed, (int)o.epochs, &res, &err)) != MC_OK)
        mc_log_error("train: %s", err.msg);
    double f1 = 0, base_f1 = 0;
    if (failure == MC_OK) {
        f1 = calibrate(&m, &va, &log);
        base_f1 = fit_baseline(&m, &va, &log);
        if (f1 == -INFINITY || base_f1 == -INFINITY) failure = MC_ERR_NOMEM;
    }
    /* the fixed-interval policy services at the 10th percentile of the observed lifetimes */
    double *life = malloc(sizeof(double) * (size_t)(log.n_machines ? log.n_machines : 1));
    int n_life = 0;
    for (int i = 0; life && i < log.n_machines; i++)
        if (!isnan(log.m[i].failure)) life[n_life++] = log.m[i].failure - log.m[i].t[0];
    m.fixed_interval = n_life ? fab_quantile(life, n_life, 0.1) : 720;
    free(life);
    char base_name[160] = "";
    if (failure == MC_OK) {
        char fname[96];
        fab_feature_name(&m.spec, m.base_feature, fname, sizeof fname);
        snprintf(base_name, sizeof base_name, "%s %s %.4g", fname, m.base_sign > 0 ? ">=" : "<=",
                 m.base_sign * m.base_threshold);
        char s_seed[32], s_rows[64];
        snprintf(s_seed, sizeof s_seed, "%llu", (unsigned long long)ctx->seed);
        snprintf(s_rows, sizeof s_rows, "%d training, %d held-out", tr.n, va.n);
        mc_st_meta meta[] = {{"fab.seed", s_seed}, {"fab.rows", s_rows}};
        if ((failure = fab_maint_save(&m, o.out, meta, 2, &err)) != MC_OK) mc_log_error("%s", err.msg);
    }
    if (failure == MC_OK) {
        mc_store *st = mc_run_store(run);
        sqlite3_stmt *q;
        if (mc_store_stmt(st, "INSERT INTO fab_maint_models(path, horizon_h, cap_h, features, conditions, train_machines,"
                              " val_machines, train_rows, val_rows, threshold, val_f1, baseline, baseline_f1, epochs, run_id)"
                              " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
                              " ON CONFLICT(path) DO UPDATE SET horizon_h = excluded.horizon_h, cap_h = excluded.cap_h,"
                              " features = excluded.features, conditions = excluded.conditions,"
                              " train_machines = excluded.train_machines, val_machines = excluded.val_machines,"
                              " train_rows = excluded.train_rows, val_rows = excluded.val_rows, threshold = excluded.threshold,"
                              " val_f1 = excluded.val_f1, baseline = excluded.baseline, baseline_f1 = excluded.baseline_f1,"
                              " epochs = excluded.epochs, run_id = excluded.run_id", &q) != MC_OK) {
            failure = MC_ERR_DB;
        } else {
            sqlite3_bind_text(q, 1, o.out, -1, SQLITE_STATIC);
            sqlite3_bind_double(q, 2, m.horizon);
            sqlite3_bind_double(q, 3, m.cap);
            sqlite3_bind_int(q, 4, m.n_features);
            sqlite3_bind_int(q, 5, m.spec.n_cond);
            sqlite3_bind_int(q, 6, log.n_machines - n_val);
            sqlite3_bind_int(q, 7, n_val);
            sqlite3_bind_int(q, 8, tr.n);
            sqlite3_bind_int(q, 9, va.n);
            sqlite3_bind_double(q, 10, m.threshold);
            sqlite3_bind_double(q, 11, f1 < 0 ? f1 + 1 : f1);
            sqlite3_bind_text(q, 12, base_name, -1, SQLITE_STATIC);
            sqlite3_bind_double(q, 13, base_f1 < 0 ? base_f1 + 1 : base_f1);
            sqlite3_bind_int(q, 14, res.epochs_run);
            sqlite3_bind_text(q, 15, mc_run_id(run), -1, SQLITE_STATIC);
            if (sqlite3_step(q) != SQLITE_DONE) failure = MC_ERR_DB;
        }
        if (failure == MC_ERR_DB) mc_log_error("%s: %s", ctx->db_path, sqlite3_errmsg(mc_store_db(st)));
    }
    if (failure == MC_OK) {
        mc_run_input_ok(run);
        if (ctx->json)
            mc_cli_print_json(json_pack("{s:s, s:f, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:b, s:s, s:f, s:b, s:f, s:f}",
                                        "model", o.out, "horizon_h", m.horizon, "features", m.n_features, "conditions",
                                        m.spec.n_cond, "train_machines", log.n_machines - n_val, "val_machines", n_val,
                                        "train_rows", tr.n, "val_rows", va.n, "epochs", res.epochs_run, "threshold",
                                        m.threshold, "val_f1", f1 < 0 ? f1 + 1 : f1, "val_lead_ok", f1 >= 0, "baseline",
                                        base_name, "baseline_f1", base_f1 < 0 ? base_f1 + 1 : base_f1, "baseline_lead_ok",
                                        base_f1 >= 0,
                                        "fixed_interval_h", m.fixed_interval, "val_loss", res.best_val));
        else
            printf("%s\t%d features\t%d conditions\t%d/%d machines\t%d/%d rows\t%d epochs\tthreshold %.3f (held-out alarm"
                   " F1 %.3f, median lead %s the horizon)\tbaseline %s (F1 %.3f, lead %s)\n",
                   o.out, m.n_features, m.spec.n_cond, log.n_machines - n_val, n_val, tr.n, va.n, res.epochs_run,
                   m.threshold, f1 < 0 ? f1 + 1 : f1, f1 >= 0 ? ">=" : "<", base_name,
                   base_f1 < 0 ? base_f1 + 1 : base_f1, base_f1 >= 0 ? ">=" : "<");
    }
    free(order);
    mc_rng_destroy(rng);
    fab_rows_free(&tr);
    fab_rows_free(&va);
    fab_maint_free(&m);
    fab_sensor_log_free(&log);
    return mc_run_end(run, failure);
}

/* ---- predict ---------------------------------------------------------------------------------- */

typedef struct {
    const char *sensors, *model;
    long top;
} predict_opts;

static const mc_option predict_options[] = {
    {"sensors", 0, "PATH", "sensor log, or a folder of them (*.csv); each file is one input", NULL},
    {"model", 0, "MODEL", "model file written by 'maintain train'", NULL},
    {"top", 0, "N", "sensors named as the drivers of each warning", "3"},
};

static int predict_option(const mc_ctx *ctx, void *user, int index, const char *arg) {
    predict_opts *o = user;
    switch (index) {
    case 0: o->sensors = arg; return 0;
    case 1: o->model = arg; return 0;
    default: return mc_cli_int(ctx, "top", arg, 1, FAB_MAX_SENSORS, &o->top);
    }
}

/* The top sensors by occlusion score as a JSON array of {sensor, score}. */
static json_t *drivers_json(const fab_maint_model *m, const double *score, int top) {
    int used[FAB_MAX_SENSORS] = {0};
    json_t *a = json_array();
    for (int r = 0; r < top; r++) {
        int best = -1;
        for (int s = 0; s < m->spec.n_sensors; s++)
            if (!used[s] && m->spec.role[s] != FAB_ROLE_SETTING && (best < 0 || score[s] > score[best])) best = s;
        if (best < 0) break;
        used[best] = 1;
        json_array_append_new(a, json_pack("{s:s, s:f}", "sensor", m->spec.sensor[best], "score", score[best]));
    }
    return a;
}

/* One machine's warning at its last sample: RUL, probability, sustained alarm and drivers; stored
 * and printed. Returns 1 when done, 0 when its log is too short, -1 with reason. */
static int predict_machine(const mc_ctx *ctx, mc_run *run, fab_maint_model *m, const predict_opts *o,
                           const char *path, const fab_machine *mc, char *reason, size_t size) {
    int F = m->n_features, K = m->sustain;
    double x[FAB_MAX_FEATURES * FAB_MAX_SUSTAIN], rul[FAB_MAX_SUSTAIN], p[FAB_MAX_SUSTAIN], score[FAB_MAX_SENSORS];
    double t_last = mc->t[mc->n - 1];
    for (int k = 0; k < K; k++)
        if (t_last - k * m->spec.stride - m->spec.window < mc->t[0] - 1e-9 ||
            fab_features_at(&m->spec, mc, t_last - k * m->spec.stride, x + (size_t)k * F) != 0)
            return 0;
    if (fab_maint_predict(m, x, K, rul, p) != MC_OK || fab_maint_drivers(m, x, score) != MC_OK) {
        snprintf(reason, size, "out of memory");
        return -1;
    }
    int alarm = 1;
    for (int k = 0; k < K; k++) alarm &= p[k] >= m->threshold;
    char as_of[32];
    fab_format_time(t_last, as_of, sizeof as_of);
    json_t *drivers = drivers_json(m, score, (int)o->top);
    char *dtext = json_dumps(drivers, JSON_COMPACT | JSON_REAL_PRECISION(6));
    mc_store *st = mc_run_store(run);
    sqlite3_stmt *q;
    int rc = 1;
    if (mc_store_stmt(st, "INSERT INTO fab_maint_predictions(machine_id, as_of, model, sensors, horizon_h, rul_h, p_fail,"
                          " alarm, drivers, run_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                          " ON CONFLICT(machine_id, as_of, model) DO UPDATE SET sensors = excluded.sensors,"
                          " horizon_h = excluded.horizon_h, rul_h = excluded.rul_h, p_fail = excluded.p_fail,"
                          " alarm = excluded.alarm, drivers = excluded.drivers, run_id = excluded.run_id", &q) != MC_OK ||
        !dtext) {
        rc = -1;
    } else {
        sqlite3_bind_text(q, 1, mc->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, as_of, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, o->model, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 4, path, -1, SQLITE_STATIC);
        sqlite3_bind_double(q, 5, m->horizon);
        sqlite3_bind_double(q, 6, rul[0]);
        sqlite3_bind_double(q, 7, p[0]);
        sqlite3_bind_int(q, 8, alarm);
        sqlite3_bind_text(q, 9, dtext, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 10, mc_run_id(run), -1, SQLITE_STATIC);
        if (sqlite3_step(q) != SQLITE_DONE) rc = -1;
    }
    if (rc < 0) snprintf(reason, size, "database: %s", sqlite3_errmsg(mc_store_db(st)));
    if (rc > 0 && ctx->json) {
        mc_cli_print_json(json_pack("{s:s, s:s, s:s, s:f, s:f, s:f, s:b, s:O}", "machine_id", mc->id, "as_of", as_of,
                                    "sensors", path, "horizon_h", m->horizon, "rul_h", rul[0], "p_fail", p[0], "alarm",
                                    alarm, "drivers", drivers));
    } else if (rc > 0) {
        printf("%s\t%s\tRUL %.0f h\tp(failure within %.0f h) %.3f\talarm %s\tdrivers", mc->id, as_of, rul[0],
               m->horizon, p[0], alarm ? "yes" : "no");
        for (size_t k = 0; k < json_array_size(drivers); k++) {
            json_t *d = json_array_get(drivers, k);
            printf("%s %s %+.2f", k ? "," : "", json_string_value(json_object_get(d, "sensor")),
                   json_number_value(json_object_get(d, "score")));
        }
        printf("\n");
    }
    free(dtext);
    json_decref(drivers);
    return rc;
}

static int maintain_predict(mc_ctx *ctx, int argc, char **argv) {
    static const mc_cli_spec spec = {
        .usage = "--sensors PATH --model MODEL [--top N] [--json]",
        .description = "Warns per machine at its last sample: the estimated remaining useful life in hours, the\n"
                       "probability of failure within the model's horizon, whether the alarm holds (the threshold\n"
                       "crossed at the last --sustain evaluation times), and the sensors that drove it (occlusion:\n"
                       "how much the failure logit falls when a sensor's features are replaced by their training\n"
                       "mean). Rows go to fab_maint_predictions; a re-run on the same log adds none.",
        .options = predict_options,
        .n_options = 3,
        .min_args = 0,
        .max_args = 0,
    };
    predict_opts o = {.top = 3};
    int code;
    if (mc_cli_parse(ctx, &spec, argc, argv, predict_option, &o, &code) < 0) return code;
    if (!o.sensors || !o.model) {
        mc_cli_usage_error(ctx, "--sensors and --model are required");
        return MC_EXIT_USAGE;
    }
    mc_error err;
    fab_maint_model m;
    if (fab_maint_load(&m, o.model, &err) != MC_OK) {
        mc_log_error("%s", err.msg);
        return MC_EXIT_FAILURE;
    }
    mc_inputs in;
    char *paths[1] = {(char *)o.sensors};
    if (mc_inputs_collect(&in, paths, 1, ".csv", &err) != MC_OK) {
        mc_log_error("%s", err.msg);
        fab_maint_free(&m);
        return MC_EXIT_FAILURE;
    }
    mc_run *run = fab_command_run_begin(ctx, fab_maint_schema_migrate);
    mc_status failure = run ? MC_OK : MC_ERR_DB;
    for (int f = 0; f < in.n && failure == MC_OK; f++) {
        fab_sensor_log log;
        char reason[700];
        if (read_inputs(run, in.paths[f], NULL, &log) != 0) continue;
        int ok = columns_match(&m.spec, &log, reason, sizeof reason) == 0;
        if (ok && mc_store_begin(mc_run_store(run)) != MC_OK) {
            snprintf(reason, sizeof reason, "%s", mc_store_error(mc_run_store(run))->msg);
            ok = 0;
        }
        int done = 0;
        for (int i = 0; ok && i < log.n_machines; i++) {
            int rc = predict_machine(ctx, run, &m, &o, in.paths[f], &log.m[i], reason, sizeof reason);
            if (rc == 0)
                mc_log_warn("%s: machine %s: less than %.0f hours of samples, no warning", in.paths[f], log.m[i].id,
                            m.spec.window + (m.sustain - 1) * m.spec.stride);
            ok = rc >= 0;
            done += rc > 0;
        }
        if (ok && mc_store_commit(mc_run_store(run)) != MC_OK) {
            snprintf(reason, sizeof reason, "%s", mc_store_error(mc_run_store(run))->msg);
            ok = 0;
        }
        if (ok)
            mc_run_input_ok(run);
        else
            mc_run_input_rejected(run, in.paths[f], reason);
        fab_sensor_log_free(&log);
    }
    mc_inputs_free(&in);
    fab_maint_free(&m);
    return run ? mc_run_end(run, failure) : MC_EXIT_FAILURE;
}

/* ---- eval ------------------------------------------------------------------------------------- */

typedef struct {
    const char *sensors, *failures, *model, *plot;
    double unplanned, planned, interval, warn;
} eval_opts;

static const mc_option eval_options[] = {
    {"sensors", 0, "FILE", "sensor log of the machines to judge (not used in training)", NULL},
    {"failures", 0, "FILE", "their failures: machine_id,failure_time", NULL},
    {"model", 0, "MODEL", "model file written by 'maintain train'", NULL},
    {"plot", 0, "FILE.png", "chart of the lead times of the model and of the one-sensor baseline", NULL},
    {"unplanned", 0, "HOURS", "downtime of an unplanned failure", "24"},
    {"planned", 0, "HOURS", "downtime of a planned service", "4"},
    {"interval", 0, "HOURS", "service interval of the fixed-interval policy", "the model's"},
    {"warn-window", 0, "HOURS", "an alarm this close to a failure detects it; earlier ones are false", "3 x horizon"},
};

static int eval_option(const mc_ctx *ctx, void *user, int index, const char *arg) {
    eval_opts *o = user;
    switch (index) {
    case 0: o->sensors = arg; return 0;
    case 1: o->failures = arg; return 0;
    case 2: o->model = arg; return 0;
    case 3: o->plot = arg; return 0;
    case 4: return mc_cli_real(ctx, "unplanned", arg, 0, 1e6, &o->unplanned);
    case 5: return mc_cli_real(ctx, "planned", arg, 0, 1e6, &o->planned);
    case 6: return mc_cli_real(ctx, "interval", arg, 1, 1e6, &o->interval);
    default: return mc_cli_real(ctx, "warn-window", arg, 1, 1e6, &o->warn);
    }
}

/* What one method's alarms achieved. */
typedef struct {
    const char *method;
    fab_policy_result r;
    int row_tp, row_fp, row_fn;
} judged;

static double ratio(double a, double b) { return b > 0 ? a / b : 0; }

static json_t *judged_json(judged *j, double horizon) {
    fab_policy_result *r = &j->r;
    double med = NAN, q1 = NAN, q3 = NAN;
    double *lead = malloc(sizeof(double) * (size_t)(r->detected ? r->detected : 1));
    if (lead && r->detected) {
        memcpy(lead, r->lead, sizeof(double) * (size_t)r->detected);
        q1 = fab_quantile(lead, r->detected, 0.25);
        med = fab_quantile(lead, r->detected, 0.5);
        q3 = fab_quantile(lead, r->detected, 0.75);
    }
    int ahead = 0;
    for (int i = 0; i < r->detected; i++) ahead += r->lead[i] >= horizon;
    free(lead);
    double rate_rtf = ratio(r->down_rtf, r->up_rtf), rate_fixed = ratio(r->down_fixed, r->up_fixed),
           rate_alarm = ratio(r->down_alarm, r->up_alarm);
    json_t *o = json_pack("{s:i, s:i, s:i, s:f, s:f, s:f, s:f}", "detected", r->detected, "missed",
                          r->failures - r->detected, "false_alarms", r->false_alarms, "precision",
                          ratio(r->detected, r->detected + r->false_alarms), "recall", ratio(r->detected, r->failures),
                          "false_alarms_per_machine_month", ratio(r->false_alarms, r->observed_h / 730.0),
                          "row_precision", ratio(j->row_tp, j->row_tp + j->row_fp));
    json_object_set_new(o, "row_recall", json_real(ratio(j->row_tp, j->row_tp + j->row_fn)));
    json_object_set_new(o, "warned_ahead", json_real(ratio(ahead, r->failures)));
    json_object_set_new(o, "lead_h", json_pack("{s:o, s:o, s:o}", "q1", isnan(q1) ? json_null() : json_real(q1), "median",
                                               isnan(med) ? json_null() : json_real(med), "q3",
                                               isnan(q3) ? json_null() : json_real(q3)));
    json_object_set_new(o, "downtime_per_1000h",
                        json_pack("{s:f, s:f, s:f}", "run_to_failure", 1000 * rate_rtf, "fixed_interval",
                                  1000 * rate_fixed, "service_at_alarm", 1000 * rate_alarm));
    json_object_set_new(o, "downtime_saved_vs_run_to_failure", json_real(rate_rtf > 0 ? 1 - rate_alarm / rate_rtf : 0));
    json_object_set_new(o, "downtime_saved_vs_fixed_interval",
                        json_real(rate_fixed > 0 ? 1 - rate_alarm / rate_fixed : 0));
    return o;
}

/* Judges one machine's flags (rows [a, b) of r) for method j. */
static void judge_machine(judged *j, const fab_policy *pol, const fab_machine *mc, const fab_rows *r, int a, int b,
                          const unsigned char *flag, int sustain, double horizon, double *starts) {
    for (int i = a; i < b; i++) {
        if (!label_known(r, i, horizon)) continue;
        int y = label_of(r, i, horizon);
        j->row_tp += flag[i] && y;
        j->row_fp += flag[i] && !y;
        j->row_fn += !flag[i] && y;
    }
    int n = fab_alarm_starts(r->t + a, flag + a, b - a, sustain, starts);
    fab_policy_add(pol, mc->t[0], mc->t[mc->n - 1], mc->failure, starts, n, &j->r);
}

static mc_status plot_leads(const char *path, judged *j, int n, double horizon, mc_error *err) {
    mc_plot_series s[2];
    double *xs[2] = {NULL, NULL}, *ys[2] = {NULL, NULL};
    mc_status st = MC_OK;
    for (int k = 0; k < n && st == MC_OK; k++) {
        int d = j[k].r.detected;
        xs[k] = malloc(sizeof(double) * (size_t)(d + 1));
        ys[k] = malloc(sizeof(double) * (size_t)(d + 1));
        if (!xs[k] || !ys[k]) {
            st = MC_ERR_NOMEM;
            break;
        }
        memcpy(xs[k], j[k].r.lead, sizeof(double) * (size_t)d);
        if (d) fab_quantile(xs[k], d, 0.5); /* sorts */
        for (int i = 0; i < d; i++) ys[k][i] = ratio(d - i, j[k].r.failures);
        s[k] = (mc_plot_series){k == 0 ? "MoE model" : "one-sensor threshold", xs[k], ys[k], d, k};
    }
    double band0 = 0, band1 = horizon, x_hi = 2 * horizon;
    for (int k = 0; k < n && st == MC_OK; k++)
        for (int i = 0; i < j[k].r.detected; i++) x_hi = fmax(x_hi, 1.05 * j[k].r.lead[i]);
    mc_plot_opts opts = {.title = "Failures warned at least x hours ahead (shaded: the horizon)",
                         .xlabel = "lead time (hours)",
                         .ylabel = "share of failures",
                         .x_lo = 0,
                         .x_hi = x_hi,
                         .y_lo = 0,
                         .y_hi = 1.05,
                         .band_x0 = &band0,
                         .band_x1 = &band1,
                         .n_bands = 1};
    if (st == MC_OK) st = mc_plot_lines(path, &opts, s, n, err);
    else mc_error_set(err, st, "%s: out of memory", path);
    for (int k = 0; k < n; k++) {
        free(xs[k]);
        free(ys[k]);
    }
    return st;
}

static int store_eval(mc_run *run, const eval_opts *o, judged *j, json_t *metrics, const json_t *mj, double rmse,
                      double score) {
    mc_store *st = mc_run_store(run);
    sqlite3_stmt *q;
    char *text = json_dumps(metrics, JSON_COMPACT | JSON_REAL_PRECISION(8));
    const json_t *lead = json_object_get(mj, "lead_h");
    int rc = -1;
    if (text && mc_store_stmt(st, "INSERT INTO fab_maint_evals(model, sensors, failures, method, machines, failed, detected,"
                                  " false_alarms, precision, recall, lead_median_h, lead_q1_h, lead_q3_h,"
                                  " false_alarms_per_month, downtime_saved_vs_rtf, downtime_saved_vs_fixed, rul_rmse_h,"
                                  " cmapss_score, metrics, run_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,"
                                  " ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)"
                                  " ON CONFLICT(model, sensors, failures, method) DO UPDATE SET machines = excluded.machines,"
                                  " failed = excluded.failed, detected = excluded.detected,"
                                  " false_alarms = excluded.false_alarms, precision = excluded.precision,"
                                  " recall = excluded.recall, lead_median_h = excluded.lead_median_h,"
                                  " lead_q1_h = excluded.lead_q1_h, lead_q3_h = excluded.lead_q3_h,"
                                  " false_alarms_per_month = excluded.false_alarms_per_month,"
                                  " downtime_saved_vs_rtf = excluded.downtime_saved_vs_rtf,"
                                  " downtime_saved_vs_fixed = excluded.downtime_saved_vs_fixed,"
                                  " rul_rmse_h = excluded.rul_rmse_h, cmapss_score = excluded.cmapss_score,"
                                  " metrics = excluded.metrics, run_id = excluded.run_id", &q) == MC_OK) {
        sqlite3_bind_text(q, 1, o->model, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, o->sensors, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, o->failures, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 4, j->method, -1, SQLITE_STATIC);
        sqlite3_bind_int(q, 5, j->r.machines);
        sqlite3_bind_int(q, 6, j->r.failures);
        sqlite3_bind_int(q, 7, j->r.detected);
        sqlite3_bind_int(q, 8, j->r.false_alarms);
        sqlite3_bind_double(q, 9, json_number_value(json_object_get(mj, "precision")));
        sqlite3_bind_double(q, 10, json_number_value(json_object_get(mj, "recall")));
        const char *lk[3] = {"median", "q1", "q3"};
        for (int k = 0; k < 3; k++) {
            const json_t *v = json_object_get(lead, lk[k]);
            if (json_is_number(v))
                sqlite3_bind_double(q, 11 + k, json_number_value(v));
            else
                sqlite3_bind_null(q, 11 + k);
        }
        sqlite3_bind_double(q, 14, json_number_value(json_object_get(mj, "false_alarms_per_machine_month")));
        sqlite3_bind_double(q, 15, json_number_value(json_object_get(mj, "downtime_saved_vs_run_to_failure")));
        sqlite3_bind_double(q, 16, json_number_value(json_object_get(mj, "downtime_saved_vs_fixed_interval")));
        if (isnan(rmse)) {
            sqlite3_bind_null(q, 17);
            sqlite3_bind_null(q, 18);
        } else {
            sqlite3_bind_double(q, 17, rmse);
            sqlite3_bind_double(q, 18, score);
        }
        sqlite3_bind_text(q, 19, text, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 20, mc_run_id(run), -1, SQLITE_STATIC);
        rc = sqlite3_step(q) == SQLITE_DONE ? 0 : -1;
    }
    free(text);
    return rc;
}

static int maintain_eval(mc_ctx *ctx, int argc, char **argv) {
    static const mc_cli_spec spec = {
        .usage = "--sensors S.csv --failures F.csv --model MODEL [--plot FILE.png] [--json]",
        .description = "Judges the model on machines with known outcomes: RUL RMSE and the C-MAPSS score, alarm\n"
                       "precision and recall, lead times (failure minus the start of the first sustained alarm within\n"
                       "the warning window), false alarms per machine-month, and the downtime of servicing at alarm\n"
                       "against running to failure and fixed-interval service; the same for the model's one-sensor\n"
                       "threshold baseline. Cost assumptions are options (docs/factory.md).",
        .options = eval_options,
        .n_options = 8,
        .min_args = 0,
        .max_args = 0,
    };
    eval_opts o = {.unplanned = 24, .planned = 4};
    int code;
    if (mc_cli_parse(ctx, &spec, argc, argv, eval_option, &o, &code) < 0) return code;
    if (!o.sensors || !o.failures || !o.model) {
        mc_cli_usage_error(ctx, "--sensors, --failures and --model are required");
        return MC_EXIT_USAGE;
    }
    mc_error err;
    fab_maint_model m;
    if (fab_maint_load(&m, o.model, &err) != MC_OK) {
        mc_log_error("%s", err.msg);
        return MC_EXIT_FAILURE;
    }
    mc_run *run = fab_command_run_begin(ctx, fab_maint_schema_migrate);
    if (!run) {
        fab_maint_free(&m);
        return MC_EXIT_FAILURE;
    }
    fab_sensor_log log;
    char reason[700];
    if (read_inputs(run, o.sensors, o.failures, &log) != 0) {
        fab_maint_free(&m);
        return mc_run_end(run, MC_ERR_FORMAT);
    }
    mc_status failure = MC_OK;
    if (columns_match(&m.spec, &log, reason, sizeof reason) != 0) {
        mc_run_input_rejected(run, o.sensors, reason);
        failure = MC_ERR_FORMAT;
    }
    fab_policy pol = {.warn_window = o.warn > 0 ? o.warn : 3 * m.horizon, .unplanned_h = o.unplanned,
                      .planned_h = o.planned, .interval = o.interval > 0 ? o.interval : m.fixed_interval};
    fab_rows r = {0};
    judged j[2] = {{.method = "moe"}, {.method = "one_sensor"}};
    double *rul = NULL, *p = NULL, *starts = NULL, *truth = NULL, *pred = NULL;
    unsigned char *flag[2] = {NULL, NULL};
    if (failure == MC_OK && all_rows(&m.spec, &log, &r) != 0) failure = MC_ERR_NOMEM;
    int N = r.n ? r.n : 1;
    if (failure == MC_OK) {
        rul = malloc(sizeof(double) * (size_t)N);
        p = malloc(sizeof(double) * (size_t)N);
        starts = malloc(sizeof(double) * (size_t)N);
        truth = malloc(sizeof(double) * (size_t)N);
        pred = malloc(sizeof(double) * (size_t)N);
        flag[0] = malloc((size_t)N);
        flag[1] = malloc((size_t)N);
        for (int k = 0; k < 2; k++) j[k].r.lead = malloc(sizeof(double) * (size_t)(log.n_machines + 1));
        if (!rul || !p || !starts || !truth || !pred || !flag[0] || !flag[1] || !j[0].r.lead || !j[1].r.lead ||
            fab_maint_predict(&m, r.x, r.n, rul, p) != MC_OK)
            failure = MC_ERR_NOMEM;
    }
    int n_truth = 0;
    double rmse = NAN, score = NAN;
    if (failure == MC_OK) {
        for (int i = 0; i < r.n; i++) {
            flag[0][i] = p[i] >= m.threshold;
            flag[1][i] = m.base_sign * r.x[(size_t)i * r.F + m.base_feature] >= m.base_threshold;
            if (!isnan(r.rul[i])) {
                truth[n_truth] = fmin(r.rul[i], m.cap);
                pred[n_truth++] = rul[i];
            }
        }
        for (int a = 0, mi = 0; mi < log.n_machines; mi++) {
            int b = a;
            while (b < r.n && r.machine[b] == mi) b++;
            for (int k = 0; k < 2; k++)
                judge_machine(&j[k], &pol, &log.m[mi], &r, a, b, flag[k], m.sustain, m.horizon, starts);
            a = b;
        }
        if (n_truth) {
            rmse = fab_rmse(pred, truth, n_truth);
            score = fab_cmapss_score(pred, truth, n_truth);
        }
    }
    if (failure == MC_OK) {
        json_t *mj[2] = {judged_json(&j[0], m.horizon), judged_json(&j[1], m.horizon)};
        char base_name[96];
        fab_feature_name(&m.spec, m.base_feature, base_name, sizeof base_name);
        json_t *out = json_pack("{s:s, s:s, s:f, s:i, s:i, s:i, s:o, s:o, s:o, s:o, s:O, s:O}", "model", o.model,
                                "sensors", o.sensors, "horizon_h", m.horizon, "machines", j[0].r.machines, "failed",
                                j[0].r.failures, "rows", r.n, "rul_rmse_h", isnan(rmse) ? json_null() : json_real(rmse),
                                "cmapss_score", isnan(score) ? json_null() : json_real(score), "cmapss_score_per_row",
                                n_truth ? json_real(score / n_truth) : json_null(), "costs",
                                json_pack("{s:f, s:f, s:f, s:f}", "unplanned_h", pol.unplanned_h, "planned_h",
                                          pol.planned_h, "fixed_interval_h", pol.interval, "warn_window_h",
                                          pol.warn_window),
                                "moe", mj[0], "one_sensor", mj[1]);
        json_object_set_new(json_object_get(out, "one_sensor"), "rule",
                            json_pack("{s:s, s:s, s:f}", "feature", base_name, "direction",
                                      m.base_sign > 0 ? ">=" : "<=", "threshold", m.base_sign * m.base_threshold));
        if (mc_store_begin(mc_run_store(run)) != MC_OK || store_eval(run, &o, &j[0], out, mj[0], rmse, score) != 0 ||
            store_eval(run, &o, &j[1], out, mj[1], NAN, NAN) != 0 || mc_store_commit(mc_run_store(run)) != MC_OK) {
            mc_log_error("%s: %s", ctx->db_path, sqlite3_errmsg(mc_store_db(mc_run_store(run))));
            mc_store_rollback(mc_run_store(run));
            failure = MC_ERR_DB;
        }
        if (failure == MC_OK && o.plot && plot_leads(o.plot, j, 2, m.horizon, &err) != MC_OK) {
            mc_log_error("%s", err.msg);
            failure = err.code;
        }
        if (failure == MC_OK) {
            mc_run_input_ok(run);
            if (ctx->json) {
                mc_cli_print_json(json_incref(out));
            } else {
                printf("%s on %s: %d machines, %d failed, RUL RMSE %.1f h, C-MAPSS score %.4g (%.3g per row)\n", o.model,
                       o.sensors, j[0].r.machines, j[0].r.failures, rmse, score, n_truth ? score / n_truth : NAN);
                for (int k = 0; k < 2; k++) {
                    const json_t *lead = json_object_get(mj[k], "lead_h"), *dt = json_object_get(mj[k], "downtime_per_1000h");
                    printf("  %-10s precision %.3f recall %.3f  lead h median %.0f [q1 %.0f, q3 %.0f]  false alarms/machine-month %.3f"
                           "  downtime/1000 h: alarm %.2f, fixed %.2f, run-to-failure %.2f (saved %.0f%% vs run-to-failure)\n",
                           j[k].method, json_number_value(json_object_get(mj[k], "precision")),
                           json_number_value(json_object_get(mj[k], "recall")),
                           json_is_number(json_object_get(lead, "median")) ? json_number_value(json_object_get(lead, "median")) : NAN,
                           json_is_number(json_object_get(lead, "q1")) ? json_number_value(json_object_get(lead, "q1")) : NAN,
                           json_is_number(json_object_get(lead, "q3")) ? json_number_value(json_object_get(lead, "q3")) : NAN,
                           json_number_value(json_object_get(mj[k], "false_alarms_per_machine_month")),
                           json_number_value(json_object_get(dt, "service_at_alarm")),
                           json_number_value(json_object_get(dt, "fixed_interval")),
                           json_number_value(json_object_get(dt, "run_to_failure")),
                           100 * json_number_value(json_object_get(mj[k], "downtime_saved_vs_run_to_failure")));
                }
            }
        }
        json_decref(out);
        json_decref(mj[0]);
        json_decref(mj[1]);
    }
    free(rul);
    free(p);
    free(starts);
    free(truth);
    free(pred);
    free(flag[0]);
    free(flag[1]);
    free(j[0].r.lead);
    free(j[1].r.lead);
    fab_rows_free(&r);
    fab_sensor_log_free(&log);
    fab_maint_free(&m);
    return mc_run_end(run, failure);
}

/* ---- dispatch --------------------------------------------------------------------------------- */

typedef struct {
    const char *name, *command, *summary;
    int (*run)(mc_ctx *ctx, int argc, char **argv);
} subcommand;

static const subcommand subcommands[] = {
    {"synth", "maintain synth", "write a synthetic fleet run to failure (sensors.csv, failures.csv)", maintain_synth},
    {"train", "maintain train", "train the MoE maintenance model and calibrate its alarm", maintain_train},
    {"predict", "maintain predict", "warn per machine: remaining hours, failure probability, alarm, drivers",
     maintain_predict},
    {"eval", "maintain eval", "judge warnings on machines with known failures, beside a one-sensor baseline",
     maintain_eval},
};

int fab_cmd_maintain(mc_ctx *ctx, int argc, char **argv) {
    int n = (int)(sizeof subcommands / sizeof *subcommands);
    if (argc >= 2)
        for (int i = 0; i < n; i++)
            if (strcmp(argv[1], subcommands[i].name) == 0) {
                ctx->command = subcommands[i].command;
                return subcommands[i].run(ctx, argc - 1, argv + 1);
            }
    int help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
    FILE *f = help ? stdout : stderr;
    if (!help) {
        if (argc >= 2)
            fprintf(f, "%s maintain: unknown sub-command '%s'\n", ctx->program, argv[1]);
        else
            fprintf(f, "%s maintain: missing sub-command\n", ctx->program);
    }
    fprintf(f, "Usage: %s maintain SUBCOMMAND [options]\n\nFailure warnings from sensor logs (docs/factory.md).\n\n",
            ctx->program);
    for (int i = 0; i < n; i++) fprintf(f, "  %-8s %s\n", subcommands[i].name, subcommands[i].summary);
    fprintf(f, "\nRun '%s maintain SUBCOMMAND --help' for its options.\n", ctx->program);
    return help ? MC_EXIT_OK : MC_EXIT_USAGE;
}
