/* cmd_maintain_eval.c: `moe-factory maintain eval`: judges a model's warnings, and those of its
 * one-sensor baseline, on machines with known outcomes (maint_eval.h); results printed, stored in
 * fab_maint_evals and, with --plot, drawn as lead-time curves. */
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
#include "moecore/plot.h"

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
    fab_policy_add_machine(pol, mc, r->t + a, flag + a, b - a, sustain, starts, &j->r);
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

int fab_maintain_eval(mc_ctx *ctx, int argc, char **argv) {
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
    if (fab_maint_read_inputs(run, o.sensors, o.failures, &log) != 0) {
        fab_maint_free(&m);
        return mc_run_end(run, MC_ERR_FORMAT);
    }
    mc_status failure = MC_OK;
    if (fab_spec_match(&m.spec, &log, reason, sizeof reason) != 0) {
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
