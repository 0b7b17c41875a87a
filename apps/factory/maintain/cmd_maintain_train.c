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
    double horizon, target_horizon, cap, window, stride, val_fraction;
    long conditions, epochs, sustain;
    fab_alarm_goal goal;
} train_opts;

static const mc_option train_options[] = {
    {"sensors", 0, "FILE", "sensor log: machine_id,timestamp,<sensor>...", NULL},
    {"failures", 0, "FILE", "failure list: machine_id,failure_time", NULL},
    {"output", 'o', "MODEL", "model file to write (safetensors)", NULL},
    {"horizon", 0, "HOURS", "warn of failures within this many hours", "72"},
    {"target-horizon", 0, "HOURS", "train the failure output on failures within this many hours", "horizon"},
    {"cap", 0, "HOURS", "remaining useful life target cap (piecewise-linear target)", "200"},
    {"window", 0, "HOURS", "hours of samples behind each evaluation time", "48"},
    {"stride", 0, "HOURS", "hours between evaluation times", "6"},
    {"conditions", 0, "K", "operating conditions found by k-means over the setting_* columns", "3"},
    {"epochs", 0, "N", "training epochs (early stopping on the held-out machines, patience 8)", "60"},
    {"val-fraction", 0, "X", "share of machines held out for early stopping and threshold calibration", "0.25"},
    {"sustain", 0, "N", "consecutive evaluation times above the threshold that make an alarm", "2"},
    {"alarm-goal", 0, "GOAL", "alarm threshold goal on the held-out machines: precision:P (highest recall with"
                              " precision >= P) or cost:R (fewest false alarms + R x missed failures)", "precision:0.85"},
};

static int train_option(const mc_ctx *ctx, void *user, int index, const char *arg) {
    train_opts *o = user;
    switch (index) {
    case 0: o->sensors = arg; return 0;
    case 1: o->failures = arg; return 0;
    case 2: o->out = arg; return 0;
    case 3: return mc_cli_real(ctx, "horizon", arg, 1, 24 * 365, &o->horizon);
    case 4: return mc_cli_real(ctx, "target-horizon", arg, 1, 24 * 365, &o->target_horizon);
    case 5: return mc_cli_real(ctx, "cap", arg, 1, 24 * 3650, &o->cap);
    case 6: return mc_cli_real(ctx, "window", arg, 8, 24 * 30, &o->window);
    case 7: return mc_cli_real(ctx, "stride", arg, 0.25, 24 * 30, &o->stride);
    case 8: return mc_cli_int(ctx, "conditions", arg, 1, FAB_MAX_CONDITIONS, &o->conditions);
    case 9: return mc_cli_int(ctx, "epochs", arg, 1, 1000, &o->epochs);
    case 10: return mc_cli_real(ctx, "val-fraction", arg, 0.05, 0.5, &o->val_fraction);
    case 11: return mc_cli_int(ctx, "sustain", arg, 1, FAB_MAX_SUSTAIN, &o->sustain);
    default:
        if (fab_alarm_goal_parse(arg, &o->goal) == 0) return 0;
        return mc_cli_usage_error(ctx, "--alarm-goal expects precision:P (0 < P <= 1) or cost:R (0 < R <= 1e6), got '%s'",
                                  arg ? arg : "");
    }
}

/* F1 of detections against false alarms and misses. */
static double alarm_f1(const fab_alarm_stats *s) {
    int missed = s->failures - s->detected;
    return s->detected ? 2.0 * s->detected / (2.0 * s->detected + s->false_alarms + missed) : 0;
}

/* The held-out rows r with score as alarm rows. */
static fab_alarm_rows alarm_rows(const fab_rows *r, const double *score, const fab_sensor_log *log) {
    return (fab_alarm_rows){.n = r->n, .score = score, .t = r->t, .machine = r->machine, .machines = log->m};
}

/* The one-sensor baseline: the sensor, direction and threshold on its recent level that serve the
 * goal best on the held-out machines. Returns 0, or -1 when out of memory. */
static int fit_baseline(fab_maint_model *m, const fab_rows *val, const fab_sensor_log *log, const fab_alarm_goal *goal,
                        double warn_window, fab_alarm_stats *best) {
    double *score = malloc(sizeof(double) * (size_t)(val->n ? val->n : 1));
    int found = 0, ok = score != NULL;
    for (int s = 0; score && s < m->spec.n_sensors; s++) {
        int k = fab_feature_recent(&m->spec, s);
        if (k < 0) continue;
        for (int sign = -1; sign <= 1; sign += 2) {
            for (int i = 0; i < val->n; i++) score[i] = sign * val->x[(size_t)i * val->F + k];
            fab_alarm_rows ar = alarm_rows(val, score, log);
            fab_alarm_stats st;
            if (fab_alarm_choose(&ar, m->sustain, warn_window, m->horizon, goal, &st) != 0) {
                free(score);
                return -1;
            }
            if (!found || fab_alarm_better(&st, best, goal, m->horizon)) {
                found = 1;
                *best = st;
                m->base_feature = k;
                m->base_sign = sign;
                m->base_threshold = st.threshold;
            }
        }
    }
    free(score);
    return ok && found ? 0 : -1;
}

/* The alarm threshold on the failure-within-horizon probability of the held-out machines, for the
 * model's goal. Returns 0, or -1 when out of memory. */
static int calibrate(fab_maint_model *m, const fab_rows *val, const fab_sensor_log *log, double warn_window) {
    double *p = malloc(sizeof(double) * (size_t)(val->n ? val->n : 1));
    int rc = -1;
    if (p && fab_maint_predict(m, val->x, val->n, NULL, p) == MC_OK) {
        fab_alarm_rows ar = alarm_rows(val, p, log);
        rc = fab_alarm_choose(&ar, m->sustain, warn_window, m->horizon, &m->goal, &m->alarm);
        m->threshold = m->alarm.threshold;
    }
    free(p);
    return rc;
}

int fab_maintain_train(mc_ctx *ctx, int argc, char **argv) {
    static const mc_cli_spec spec = {
        .usage = "--sensors S.csv --failures F.csv -o MODEL [options]",
        .description = "Trains the maintenance model: windowed, condition-normalised features of every machine, an MoE\n"
                       "network for the remaining useful life and the probability of failure within the horizon,\n"
                       "the alarm threshold chosen on held-out machines for --alarm-goal (by default the highest\n"
                       "recall with precision >= 0.85), and a one-sensor threshold baseline chosen the same way, all\n"
                       "in one model file.",
        .options = train_options,
        .n_options = 13,
        .min_args = 0,
        .max_args = 0,
        .trains = 1,
    };
    train_opts o = {.horizon = 72, .target_horizon = NAN, .cap = 200, .window = 48, .stride = 6, .conditions = 3,
                    .epochs = 60,
                    .val_fraction = 0.25, .sustain = 2, .goal = {FAB_GOAL_PRECISION, 0.85}};
    int code;
    if (mc_cli_parse(ctx, &spec, argc, argv, train_option, &o, &code) < 0) return code;
    if (!o.sensors || !o.failures || !o.out) {
        mc_cli_usage_error(ctx, "--sensors, --failures and -o MODEL are required");
        return MC_EXIT_USAGE;
    }
    if (isnan(o.target_horizon)) o.target_horizon = o.horizon;
    if (o.target_horizon < o.horizon) {
        mc_cli_usage_error(ctx, "--target-horizon must be at least --horizon");
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
    fab_maint_model m = {.horizon = o.horizon, .target_horizon = o.target_horizon, .cap = o.cap,
                         .sustain = (int)o.sustain, .goal = o.goal};
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
    /* alarms judged as eval judges them by default: a warning window of 3 horizons */
    double warn_window = 3 * m.horizon;
    fab_alarm_stats base = {0};
    char goal_text[48];
    fab_alarm_goal_format(&m.goal, goal_text, sizeof goal_text);
    if (failure == MC_OK && va.n < 1) {
        mc_log_error("%s: the %d held-out machines give no feature rows to choose the alarm threshold on: use more"
                     " machines or a larger --val-fraction", o.sensors, n_val);
        failure = MC_ERR_ARG;
    }
    if (failure == MC_OK && (calibrate(&m, &va, &log, warn_window) != 0 ||
                             fit_baseline(&m, &va, &log, &m.goal, warn_window, &base) != 0))
        failure = MC_ERR_NOMEM;
    if (failure == MC_OK && !m.alarm.goal_met)
        mc_log_warn("%s: no alarm threshold reaches %s on the %d held-out machines: the best precision is %.3f"
                    " (%.3f short), recall %.3f",
                    o.out, goal_text, m.alarm.machines, m.alarm.precision, fab_alarm_shortfall(&m.alarm, &m.goal),
                    m.alarm.recall);
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
                              " val_machines, train_rows, val_rows, threshold, val_f1, baseline, baseline_f1, epochs, run_id,"
                              " alarm_goal, goal_met, goal_shortfall, val_precision, val_recall, val_lead_median_h)"
                              " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,"
                              " ?19, ?20, ?21)"
                              " ON CONFLICT(path) DO UPDATE SET horizon_h = excluded.horizon_h, cap_h = excluded.cap_h,"
                              " features = excluded.features, conditions = excluded.conditions,"
                              " train_machines = excluded.train_machines, val_machines = excluded.val_machines,"
                              " train_rows = excluded.train_rows, val_rows = excluded.val_rows, threshold = excluded.threshold,"
                              " val_f1 = excluded.val_f1, baseline = excluded.baseline, baseline_f1 = excluded.baseline_f1,"
                              " epochs = excluded.epochs, run_id = excluded.run_id, alarm_goal = excluded.alarm_goal,"
                              " goal_met = excluded.goal_met, goal_shortfall = excluded.goal_shortfall,"
                              " val_precision = excluded.val_precision, val_recall = excluded.val_recall,"
                              " val_lead_median_h = excluded.val_lead_median_h", &q) != MC_OK) {
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
            sqlite3_bind_double(q, 11, alarm_f1(&m.alarm));
            sqlite3_bind_text(q, 12, base_name, -1, SQLITE_STATIC);
            sqlite3_bind_double(q, 13, alarm_f1(&base));
            sqlite3_bind_int(q, 14, res.epochs_run);
            sqlite3_bind_text(q, 15, mc_run_id(run), -1, SQLITE_STATIC);
            sqlite3_bind_text(q, 16, goal_text, -1, SQLITE_STATIC);
            sqlite3_bind_int(q, 17, m.alarm.goal_met);
            sqlite3_bind_double(q, 18, fab_alarm_shortfall(&m.alarm, &m.goal));
            sqlite3_bind_double(q, 19, m.alarm.precision);
            sqlite3_bind_double(q, 20, m.alarm.recall);
            if (isnan(m.alarm.lead_median))
                sqlite3_bind_null(q, 21);
            else
                sqlite3_bind_double(q, 21, m.alarm.lead_median);
            if (sqlite3_step(q) != SQLITE_DONE) failure = MC_ERR_DB;
        }
        if (failure == MC_ERR_DB) mc_log_error("%s: %s", ctx->db_path, sqlite3_errmsg(mc_store_db(st)));
    }
    if (failure == MC_OK) {
        mc_run_input_ok(run);
        const fab_alarm_stats *a = &m.alarm;
        if (ctx->json) {
            json_t *j = json_pack("{s:s, s:f, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:s, s:b, s:f, s:f, s:f, s:o, s:i,"
                                  " s:i, s:i, s:f, s:b}",
                                  "model", o.out, "horizon_h", m.horizon, "features", m.n_features, "conditions",
                                  m.spec.n_cond, "train_machines", log.n_machines - n_val, "val_machines", n_val,
                                  "train_rows", tr.n, "val_rows", va.n, "epochs", res.epochs_run, "threshold", m.threshold,
                                  "alarm_goal", goal_text, "goal_met", a->goal_met, "goal_shortfall",
                                  fab_alarm_shortfall(a, &m.goal), "val_precision", a->precision, "val_recall", a->recall,
                                  "val_lead_median_h", isnan(a->lead_median) ? json_null() : json_real(a->lead_median),
                                  "val_failures", a->failures, "val_detected", a->detected, "val_false_alarms",
                                  a->false_alarms, "val_f1", alarm_f1(a), "val_lead_ok",
                                  a->detected && a->lead_median >= m.horizon);
            json_object_update_new(j, json_pack("{s:s, s:f, s:f, s:f, s:b, s:f, s:f, s:f}", "baseline", base_name,
                                                "baseline_precision", base.precision, "baseline_recall", base.recall,
                                                "baseline_f1", alarm_f1(&base), "baseline_lead_ok",
                                                base.detected && base.lead_median >= m.horizon, "fixed_interval_h",
                                                m.fixed_interval, "val_loss", res.best_val, "target_horizon_h",
                                                m.target_horizon));
            mc_cli_print_json(j);
        } else {
            char lead[32] = "none";
            if (!isnan(a->lead_median)) snprintf(lead, sizeof lead, "%.0f h", a->lead_median);
            printf("%s\t%d features\t%d conditions\t%d/%d machines\t%d/%d rows\t%d epochs\tthreshold %.3f (%s %s;"
                   " held-out precision %.3f, recall %.3f, median lead %s)\tbaseline %s (precision %.3f, recall %.3f)\n",
                   o.out, m.n_features, m.spec.n_cond, log.n_machines - n_val, n_val, tr.n, va.n, res.epochs_run,
                   m.threshold, goal_text, a->goal_met ? "met" : "NOT met", a->precision, a->recall, lead, base_name,
                   base.precision, base.recall);
        }
    }
    free(order);
    mc_rng_destroy(rng);
    fab_rows_free(&tr);
    fab_rows_free(&va);
    fab_maint_free(&m);
    fab_sensor_log_free(&log);
    return mc_run_end(run, failure);
}
