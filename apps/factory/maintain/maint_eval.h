/* maint_eval.h: how maintenance warnings are judged: RUL error (RMSE and the asymmetric C-MAPSS
 * score), sustained alarms, lead times, false alarms, and the downtime of three
 * maintenance policies (run to failure, fixed-interval service, service at alarm) under stated costs. */
#ifndef MOE_FACTORY_MAINT_EVAL_H
#define MOE_FACTORY_MAINT_EVAL_H

#include "sensor_log.h"

/* The C-MAPSS score: sum over i of exp(-d/13) - 1 for d < 0 and exp(d/10) - 1 for d >= 0, with
 * d = pred - truth (late predictions cost more than early ones). */
double fab_cmapss_score(const double *pred, const double *truth, int n);

/* Root mean squared error. */
double fab_rmse(const double *pred, const double *truth, int n);

/* Start times of sustained alarms in one machine's evaluation times t (n): an alarm starts at the
 * sustain-th consecutive flagged time and lasts until a time is not flagged. Returns the count
 * written into starts (at most n). */
int fab_alarm_starts(const double *t, const unsigned char *flag, int n, int sustain, double *starts);

/* Costs and windows of the policies. */
typedef struct fab_policy {
    double warn_window;  /* an alarm starting at most this many hours before a failure detects it */
    double unplanned_h;  /* downtime of a failure */
    double planned_h;    /* downtime of a planned service (after an alarm or at the fixed interval) */
    double interval;     /* hours between services of the fixed-interval policy */
} fab_policy;

/* Totals over machines. */
typedef struct fab_policy_result {
    int machines, failures, detected, false_alarms;
    double observed_h;                 /* machine hours observed */
    double *lead;                      /* lead time of each detected failure (caller's array, >= failures) */
    double down_rtf, up_rtf;           /* run to failure: downtime and operating hours */
    double down_fixed, up_fixed;       /* fixed-interval service */
    double down_alarm, up_alarm;       /* service at alarm */
} fab_policy_result;

/* Adds one machine observed from first to last (hours), failing at failure (NAN when it did not),
 * with its sustained-alarm start times. An alarm starting more than warn_window before the failure,
 * or on a machine that did not fail, is a false alarm (one planned service, the machine runs on);
 * the first alarm within the window detects the failure, which is then replaced by a planned
 * service at the alarm. */
void fab_policy_add(const fab_policy *p, double first, double last, double failure, const double *starts, int n_starts,
                    fab_policy_result *acc);

/* fab_policy_add for machine m, observed from its first to its last sample, with the sustained
 * alarms (fab_alarm_starts) of its flags at evaluation times t (n); starts is scratch of n. */
void fab_policy_add_machine(const fab_policy *p, const fab_machine *m, const double *t, const unsigned char *flag, int n,
                            int sustain, double *starts, fab_policy_result *acc);

/* The q-quantile (0..1) of v (n >= 1) by linear interpolation between order statistics, as
 * numpy's default; sorts v. */
double fab_quantile(double *v, int n, double q);

#endif
