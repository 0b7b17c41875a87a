/* maint_model.h: the predictive-maintenance model: an MoE network from libmoecore with two outputs
 * on the windowed features: the remaining useful life (capped, piecewise-linear target as in
 * C-MAPSS practice, predicted as cap * sigmoid(out0)) and the logit of a failure within the target
 * horizon (out1; by default the warning horizon itself); both heads trained with binary
 * cross-entropy on logits (the RUL head on its [0, 1] target fraction). The model file carries the feature specification, the input standardisation, the
 * alarm threshold chosen on held-out machines for a goal (maint_alarm.h) with what it achieved
 * there, the one-sensor baseline and the fixed service interval of the comparison policies. */
#ifndef MOE_FACTORY_MAINT_MODEL_H
#define MOE_FACTORY_MAINT_MODEL_H

#include "maint_alarm.h"
#include "maint_features.h"
#include "moecore/model.h"
#include "moecore/train.h"

#define FAB_MAX_SUSTAIN 8

/* A predicted RUL at or above (1 - FAB_RUL_CENSOR_TOL) x cap is censored: the target stops at the
 * cap, so the model can only tell that at least about cap hours remain. */
#define FAB_RUL_CENSOR_TOL 0.05

typedef struct fab_maint_model {
    mc_model *net;
    fab_feature_spec spec;
    int n_features;
    double mean[FAB_MAX_FEATURES], sd[FAB_MAX_FEATURES]; /* standardisation of the inputs */
    double horizon;        /* hours: the warning the planner wants (alarms judged against it) */
    double target_horizon; /* hours: output 1 is trained on "fails within target_horizon" (>= horizon) */
    double cap;            /* hours: the RUL target is min(RUL, cap) */
    double threshold;      /* alarm when p >= threshold */
    fab_alarm_goal goal;   /* what the threshold was chosen for */
    fab_alarm_stats alarm; /* what it achieved on the held-out machines (val_*: NAN in older files) */
    int sustain;           /* consecutive evaluation times at or above it make a sustained alarm */
    int base_feature;      /* the one-sensor baseline: alarm when base_sign * x[base_feature] >= base_threshold */
    int base_sign;
    double base_threshold;
    double fixed_interval; /* hours between services of the fixed-interval policy */
} fab_maint_model;

/* Whether a predicted RUL (hours) is censored at the model's cap (FAB_RUL_CENSOR_TOL). */
int fab_rul_censored(const fab_maint_model *m, double rul);

/* Feature rows of machines at their evaluation times. */
typedef struct fab_rows {
    int n, cap, F;
    double *x;     /* (n, F) */
    double *t;     /* evaluation time, hours */
    double *rul;   /* failure - t, NAN for a machine without a failure */
    double *left;  /* last observed time (the failure or the last sample) - t */
    int *machine;  /* index into the log's machines */
} fab_rows;

/* Appends the rows of machine i of log up to its failure (or its last sample). Returns 0, or -1
 * when out of memory. */
int fab_rows_add_machine(fab_rows *r, const fab_feature_spec *spec, const fab_sensor_log *log, int i);
void fab_rows_free(fab_rows *r);

/* Whether row i has known targets for training: a failure, or at least span hours observed after it. */
int fab_row_trainable(const fab_rows *r, int i, double span);

/* The hours that must follow a row of a machine without a failure for both of m's targets to be
 * known: the larger of the cap and the target horizon. */
double fab_maint_known_span(const fab_maint_model *m);

/* The network for F inputs: linear 32, GELU, layer norm, an MoE layer (4 experts, top-2, one shared
 * expert, bias balancing) with a residual connection, and a linear layer of 2 outputs. */
const char *fab_maint_arch(int F, char *buf, size_t size);

/* Sets the standardisation from the trainable rows of train, builds and trains the network (AdamW,
 * early stopping on val's loss) with seed. m->spec, horizon, target_horizon (>= horizon) and cap must
 * be set. */
mc_status fab_maint_fit(fab_maint_model *m, const fab_rows *train, const fab_rows *val, uint64_t seed, int epochs,
                        mc_train_result *res, mc_error *err);

/* RUL in hours and probability of failure within the horizon for rows x (n, F); either output may
 * be NULL. */
mc_status fab_maint_predict(fab_maint_model *m, const double *x, int n, double *rul, double *p);

/* Occlusion attribution of one row x (F): for every column s of the log, the failure logit minus
 * the logit with that column's features set to their training mean (0 for settings). */
mc_status fab_maint_drivers(fab_maint_model *m, const double *x, double *score);

/* Saves the network with everything above in its metadata, plus provenance entries. */
mc_status fab_maint_save(const fab_maint_model *m, const char *path, const mc_st_meta *meta, int n_meta, mc_error *err);

/* Loads and checks a model file (untrusted input). */
mc_status fab_maint_load(fab_maint_model *m, const char *path, mc_error *err);

void fab_maint_free(fab_maint_model *m);

#endif
