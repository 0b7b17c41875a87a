/* maint_alarm.h: the alarm threshold chosen for a maintenance planner's goal, on machines with known
 * outcomes. Alarms are judged as maint_eval.h judges them (sustained alarms; the first alarm starting
 * within the warning window before a failure detects it; earlier alarms, and alarms on machines that
 * did not fail, are false). Two goals:
 *
 *   precision:P  the highest recall with precision >= P; where no threshold reaches P, the highest
 *                precision (the shortfall is reported);
 *   cost:R       the lowest cost false alarms + R x missed failures (a missed failure costs R
 *                needless services).
 *
 * Ties are broken by a median lead time of at least the horizon, then by taking the middle of the
 * tied thresholds, away from both edges of the plateau. */
#ifndef MOE_FACTORY_MAINT_ALARM_H
#define MOE_FACTORY_MAINT_ALARM_H

#include <stddef.h>

#include "sensor_log.h"

typedef enum { FAB_GOAL_PRECISION, FAB_GOAL_COST } fab_goal_kind;

typedef struct fab_alarm_goal {
    fab_goal_kind kind;
    double value; /* precision floor in (0, 1], or R > 0, the cost of a missed failure in false alarms */
} fab_alarm_goal;

/* Parses "precision:P" (0 < P <= 1) or "cost:R" (0 < R <= 1e6). Returns 0, or -1 when text is neither. */
int fab_alarm_goal_parse(const char *text, fab_alarm_goal *goal);

/* Writes the goal in the form fab_alarm_goal_parse reads, e.g. "precision:0.85". */
const char *fab_alarm_goal_format(const fab_alarm_goal *goal, char *buf, size_t size);

/* What the alarms of one threshold achieve. */
typedef struct fab_alarm_stats {
    double threshold;
    int machines, failures, detected, false_alarms;
    double precision;   /* detected / (detected + false alarms); 0 without any alarm */
    double recall;      /* detected / failures; 0 without failures */
    double lead_median; /* hours, NAN without detections */
    double cost;        /* false alarms + R x missed (R of a cost goal, else 1) */
    int goal_met;       /* precision goal: precision >= P; cost goal: always 1 */
} fab_alarm_stats;

/* Alarm rows: n evaluation times t of machines machine[i] (indices into machines), each machine's
 * rows contiguous and in time order; an alarm flag is score >= threshold. */
typedef struct fab_alarm_rows {
    int n;
    const double *score, *t;
    const int *machine;
    const fab_machine *machines;
} fab_alarm_rows;

/* Judges threshold thr: the sustained alarms (sustain consecutive flags) against the machines'
 * failures, an alarm detecting a failure when it starts at most warn_window hours before it.
 * Returns 0, or -1 when out of memory. */
int fab_alarm_judge(const fab_alarm_rows *r, double thr, int sustain, double warn_window, const fab_alarm_goal *goal,
                    fab_alarm_stats *out);

/* How far the precision falls short of a precision goal (P - precision when unmet, else 0; 0 for a
 * cost goal). */
double fab_alarm_shortfall(const fab_alarm_stats *s, const fab_alarm_goal *goal);

/* Whether a serves goal better than b (strictly), horizon breaking ties by median lead. */
int fab_alarm_better(const fab_alarm_stats *a, const fab_alarm_stats *b, const fab_alarm_goal *goal, double horizon);

/* The threshold serving goal best among the distinct scores (at most 200 of their quantiles,
 * both extremes included); of those that tie, the middle one. Returns 0, or -1 when there are no
 * rows or memory runs out. */
int fab_alarm_choose(const fab_alarm_rows *r, int sustain, double warn_window, double horizon,
                     const fab_alarm_goal *goal, fab_alarm_stats *best);

#endif
