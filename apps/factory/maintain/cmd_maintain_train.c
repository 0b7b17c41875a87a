/* cmd_maintain_train.c: `moe-factory maintain train`: trains the maintenance model (maint_model.h)
 * on a fleet's sensor log and failures, calibrates its alarm threshold and a one-sensor baseline on
 * held-out machines, saves the model and records it in fab_maint_models. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_maintain.h"
#include "command_run.h"
#include "maint_eval.h"
#include "maint_run_inputs.h"
#include "maint_model.h"
#include "maint_schema.h"
#include "moecore/log.h"

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
        fab_policy_add_machine(&pol, &log->m[r->machine[a]], r->t + a, flag + a, b - a, sustain, starts, &res);
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

int fab_maintain_train(mc_ctx *ctx, int argc, char **argv) {
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
        .trains = 1,
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
    if (fab_maint_read_inputs(run, o.sensors, o.failures, &log) != 0) return mc_run_end(run, MC_ERR_FORMAT);
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
