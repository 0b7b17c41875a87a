/* maint_features.h: the windowed features of predictive maintenance. At each evaluation time of a
 * machine, the samples of the preceding window, normalised per operating condition (z-scores with
 * the condition's mean and standard deviation; conditions found by k-means over the setting
 * columns), give per sensor its level (window mean), recent level (mean of the last quarter),
 * variability (standard deviation) and trend (least-squares slope, per day), and per vibration
 * channel the energy in frequency bands of its spectrum (GSL's real FFT over the window resampled
 * hourly). */
#ifndef MOE_FACTORY_MAINT_FEATURES_H
#define MOE_FACTORY_MAINT_FEATURES_H

#include <jansson.h>

#include "moecore/rng.h"
#include "sensor_log.h"

#define FAB_MAX_CONDITIONS 8
#define FAB_MAX_FEATURES 160
#define FAB_BANDS 4
#define FAB_PER_SENSOR 4

typedef enum fab_role { FAB_ROLE_SENSOR = 0, FAB_ROLE_SETTING, FAB_ROLE_VIBRATION } fab_role;

typedef struct fab_feature_spec {
    int n_sensors;                                   /* columns of the log, in its order */
    char sensor[FAB_MAX_SENSORS][FAB_ID_MAX];
    fab_role role[FAB_MAX_SENSORS];
    double window;                                   /* hours of samples behind each evaluation time */
    double stride;                                   /* hours between evaluation times */
    int n_cond;                                      /* operating conditions (1 without setting columns) */
    double set_mean[FAB_MAX_SENSORS], set_sd[FAB_MAX_SENSORS];           /* settings' standardisation */
    double centroid[FAB_MAX_CONDITIONS][FAB_MAX_SENSORS];                /* standardised settings */
    double cond_mean[FAB_MAX_CONDITIONS][FAB_MAX_SENSORS], cond_sd[FAB_MAX_CONDITIONS][FAB_MAX_SENSORS];
} fab_feature_spec;

/* Least-squares slope of y over t (n >= 2 points with distinct t); 0 otherwise. */
double fab_slope(const double *t, const double *y, int n);

/* One-sided power spectrum of x (n >= 2, regular samples) after removing its mean, through GSL's
 * real FFT: power[k] for k = 0 .. n/2, scaled so that a sine of amplitude A at bin k (0 < k < n/2)
 * gives power[k] = A^2 / 2 (its variance). Returns 0, or -1 when out of memory. */
int fab_power_spectrum(const double *x, int n, double *power);

/* Linear interpolation of samples (t[i], y[i]) (t increasing, n >= 1) at m regular times t0 + j
 * step; constant beyond the ends. */
void fab_resample(const double *t, const double *y, int n, double t0, double step, int m, double *out);

/* Roles from the column names of log (setting_*, vib*, others), with the window and stride. */
void fab_spec_init(fab_feature_spec *spec, const fab_sensor_log *log, double window, double stride);

/* Whether log has spec's columns in spec's order (a model's, for predict and eval): 0, or -1 with
 * reason naming the expected header. */
int fab_spec_match(const fab_feature_spec *spec, const fab_sensor_log *log, char *reason, size_t size);

/* Finds k operating conditions by k-means (k-means++ seeding from rng) over the standardised
 * setting columns of every sample, then each condition's mean and standard deviation of every
 * sensor. Returns 0, or -1 when out of memory or without samples. */
int fab_conditions_fit(fab_feature_spec *spec, const fab_sensor_log *log, int k, mc_rng *rng);

/* The condition of one sample (nearest centroid over its present settings; 0 when none). */
int fab_condition_of(const fab_feature_spec *spec, const double *row);

/* Number of features, the name of feature k ("temp.mean", "vib.band2") and the column it comes from. */
int fab_feature_count(const fab_feature_spec *spec);
void fab_feature_name(const fab_feature_spec *spec, int k, char *buf, size_t size);
int fab_feature_sensor(const fab_feature_spec *spec, int k);

/* Index of the recent-level feature of column s (for the one-sensor baseline), or -1. */
int fab_feature_recent(const fab_feature_spec *spec, int s);

/* The features of machine m at time t_end over (t_end - window, t_end] into out. Returns 0, or -1
 * when some sensor has fewer than 4 readings in the window (the row is skipped). */
int fab_features_at(const fab_feature_spec *spec, const fab_machine *m, double t_end, double *out);

/* The evaluation times of m: from its first sample plus one window, every stride hours, up to end.
 * Returns the count written into times (at most max). */
int fab_eval_times(const fab_feature_spec *spec, const fab_machine *m, double end, double *times, int max);

/* The specification as JSON and back; from_json checks every field. */
json_t *fab_spec_to_json(const fab_feature_spec *spec);
int fab_spec_from_json(fab_feature_spec *spec, const json_t *j, char *reason, size_t size);

#endif
