/* cmd_maintain_predict.c: `moe-factory maintain predict`: each machine's warning at its last
 * sample (remaining useful life, probability of failure within the target horizon, sustained alarm, the
 * sensors that drove it), printed and stored in fab_maint_predictions. */
#include <stdio.h>
#include <stdlib.h>

#include "cmd_maintain.h"
#include "command_run.h"
#include "maint_run_inputs.h"
#include "maint_model.h"
#include "maint_schema.h"
#include "moecore/inputs.h"
#include "moecore/log.h"

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
    int alarm = 1, censored = fab_rul_censored(m, rul[0]);
    for (int k = 0; k < K; k++) alarm &= p[k] >= m->threshold;
    char as_of[32];
    fab_format_time(t_last, as_of, sizeof as_of);
    json_t *drivers = drivers_json(m, score, (int)o->top);
    char *dtext = json_dumps(drivers, JSON_COMPACT | JSON_REAL_PRECISION(6));
    mc_store *st = mc_run_store(run);
    sqlite3_stmt *q;
    int rc = 1;
    if (mc_store_stmt(st, "INSERT INTO fab_maint_predictions(machine_id, as_of, model, sensors, horizon_h, rul_h, p_fail,"
                          " alarm, drivers, run_id, rul_censored) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
                          " ON CONFLICT(machine_id, as_of, model) DO UPDATE SET sensors = excluded.sensors,"
                          " horizon_h = excluded.horizon_h, rul_h = excluded.rul_h, p_fail = excluded.p_fail,"
                          " alarm = excluded.alarm, drivers = excluded.drivers, run_id = excluded.run_id,"
                          " rul_censored = excluded.rul_censored", &q) != MC_OK ||
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
        sqlite3_bind_int(q, 11, censored);
        if (sqlite3_step(q) != SQLITE_DONE) rc = -1;
    }
    if (rc < 0) snprintf(reason, size, "database: %s", sqlite3_errmsg(mc_store_db(st)));
    if (rc > 0 && ctx->json) {
        mc_cli_print_json(json_pack("{s:s, s:s, s:s, s:f, s:f, s:f, s:b, s:f, s:f, s:b, s:O}", "machine_id", mc->id,
                                    "as_of", as_of, "sensors", path, "horizon_h", m->horizon, "target_horizon_h",
                                    m->target_horizon, "rul_h", rul[0], "rul_censored", censored, "rul_cap_h", m->cap,
                                    "p_fail", p[0], "alarm", alarm, "drivers", drivers));
    } else if (rc > 0) {
        /* a censored RUL says only that at least about the cap remains */
        printf("%s\t%s\tRUL %s%.0f h\tp(failure within %.0f h) %.3f\talarm %s\tdrivers", mc->id, as_of,
               censored ? "> " : "", censored ? m->cap : rul[0], m->target_horizon, p[0], alarm ? "yes" : "no");
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

int fab_maintain_predict(mc_ctx *ctx, int argc, char **argv) {
    static const mc_cli_spec spec = {
        .usage = "--sensors PATH --model MODEL [--top N] [--json]",
        .description = "Warns per machine at its last sample: the estimated remaining useful life in hours (\"> CAP h\"\n"
                       "when it is within 5% of the model's cap: the model can tell no more), the\n"
                       "probability of failure within the model's target horizon, whether the alarm holds (the\n"
                       "threshold crossed at the last --sustain evaluation times), and the sensors that drove it\n"
                       "(occlusion: how much the failure logit falls when a sensor's features are replaced by\n"
                       "their training mean). Rows go to fab_maint_predictions; a re-run on the same log adds none.",
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
        if (fab_maint_read_inputs(run, in.paths[f], NULL, &log) != 0) continue;
        int ok = fab_spec_match(&m.spec, &log, reason, sizeof reason) == 0;
        if (ok && mc_store_begin(mc_run_store(run)) != MC_OK) {
            snprintf(reason, sizeof reason, "%s", mc_store_error(mc_run_store(run))->msg);
            ok = 0;
        }
        for (int i = 0; ok && i < log.n_machines; i++) {
            int rc = predict_machine(ctx, run, &m, &o, in.paths[f], &log.m[i], reason, sizeof reason);
            if (rc == 0)
                mc_log_warn("%s: machine %s: less than %.0f hours of samples, no warning", in.paths[f], log.m[i].id,
                            m.spec.window + (m.sustain - 1) * m.spec.stride);
            ok = rc >= 0;
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
