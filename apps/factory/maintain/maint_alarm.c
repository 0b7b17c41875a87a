/* maint_alarm.c: the alarm threshold for a precision or cost goal (maint_alarm.h). */
#include "maint_alarm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maint_eval.h"

int fab_alarm_goal_parse(const char *text, fab_alarm_goal *goal) {
    const char *colon = text ? strchr(text, ':') : NULL;
    if (!colon) return -1;
    char *end;
    double v = strtod(colon + 1, &end);
    if (end == colon + 1 || *end != '\0' || !isfinite(v)) return -1;
    size_t len = (size_t)(colon - text);
    if (len == 9 && strncmp(text, "precision", 9) == 0 && v > 0 && v <= 1) {
        *goal = (fab_alarm_goal){FAB_GOAL_PRECISION, v};
        return 0;
    }
    if (len == 4 && strncmp(text, "cost", 4) == 0 && v > 0 && v <= 1e6) {
        *goal = (fab_alarm_goal){FAB_GOAL_COST, v};
        return 0;
    }
    return -1;
}

const char *fab_alarm_goal_format(const fab_alarm_goal *goal, char *buf, size_t size) {
    snprintf(buf, size, "%s:%g", goal->kind == FAB_GOAL_PRECISION ? "precision" : "cost", goal->value);
    return buf;
}

int fab_alarm_judge(const fab_alarm_rows *r, double thr, int sustain, double warn_window, const fab_alarm_goal *goal,
                    fab_alarm_stats *out) {
    size_t n = (size_t)(r->n > 0 ? r->n : 1);
    unsigned char *flag = malloc(n);
    double *starts = malloc(sizeof(double) * n), *lead = malloc(sizeof(double) * n);
    if (!flag || !starts || !lead) {
        free(flag);
        free(starts);
        free(lead);
        return -1;
    }
    /* only the alarms matter here: no service interval */
    fab_policy pol = {.warn_window = warn_window, .unplanned_h = 1, .planned_h = 1, .interval = INFINITY};
    fab_policy_result res = {.lead = lead};
    for (int i = 0; i < r->n; i++) flag[i] = r->score[i] >= thr;
    for (int a = 0; a < r->n;) {
        int b = a;
        while (b < r->n && r->machine[b] == r->machine[a]) b++;
        fab_policy_add_machine(&pol, &r->machines[r->machine[a]], r->t + a, flag + a, b - a, sustain, starts, &res);
        a = b;
    }
    double R = goal->kind == FAB_GOAL_COST ? goal->value : 1;
    *out = (fab_alarm_stats){
        .threshold = thr,
        .machines = res.machines,
        .failures = res.failures,
        .detected = res.detected,
        .false_alarms = res.false_alarms,
        .precision = res.detected + res.false_alarms ? (double)res.detected / (res.detected + res.false_alarms) : 0,
        .recall = res.failures ? (double)res.detected / res.failures : 0,
        .lead_median = res.detected ? fab_quantile(lead, res.detected, 0.5) : NAN,
        .cost = res.false_alarms + R * (res.failures - res.detected),
    };
    /* a relative tolerance keeps P = 17/20 = 0.85 met despite rounding */
    out->goal_met = goal->kind == FAB_GOAL_COST || out->precision >= goal->value - 1e-12;
    free(flag);
    free(starts);
    free(lead);
    return 0;
}

double fab_alarm_shortfall(const fab_alarm_stats *s, const fab_alarm_goal *goal) {
    return goal->kind == FAB_GOAL_PRECISION && !s->goal_met ? goal->value - s->precision : 0;
}

/* Compares two values, larger better: 1, -1, or 0 when equal. */
static int cmp(double a, double b) { return (a > b) - (a < b); }

int fab_alarm_better(const fab_alarm_stats *a, const fab_alarm_stats *b, const fab_alarm_goal *goal, double horizon) {
    int lead_a = a->detected && a->lead_median >= horizon, lead_b = b->detected && b->lead_median >= horizon;
    double ka[4], kb[4];
    if (goal->kind == FAB_GOAL_COST) {
        ka[0] = -a->cost, kb[0] = -b->cost;
        ka[1] = lead_a, kb[1] = lead_b;
        ka[2] = a->recall, kb[2] = b->recall;
        ka[3] = kb[3] = 0;
    } else {
        /* met goals first, ranked by recall; unmet ones by precision, then recall */
        ka[0] = a->goal_met, kb[0] = b->goal_met;
        ka[1] = a->goal_met ? a->recall : a->precision, kb[1] = b->goal_met ? b->recall : b->precision;
        ka[2] = lead_a, kb[2] = lead_b;
        ka[3] = a->goal_met ? 0 : a->recall, kb[3] = b->goal_met ? 0 : b->recall;
    }
    for (int k = 0; k < 4; k++) {
        int c = cmp(ka[k], kb[k]);
        if (c) return c > 0;
    }
    return 0;
}

static int ascending(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int fab_alarm_choose(const fab_alarm_rows *r, int sustain, double warn_window, double horizon,
                     const fab_alarm_goal *goal, fab_alarm_stats *best) {
    enum { CANDIDATES = 200 };
    if (r->n < 1) return -1;
    double *sorted = malloc(sizeof(double) * (size_t)r->n);
    fab_alarm_stats *st = malloc(sizeof *st * CANDIDATES);
    int n_cand = 0, rc = 0;
    if (!sorted || !st) rc = -1;
    if (rc == 0) {
        memcpy(sorted, r->score, sizeof(double) * (size_t)r->n);
        qsort(sorted, (size_t)r->n, sizeof *sorted, ascending);
        for (int q = 0; q < CANDIDATES && rc == 0; q++) {
            double thr = sorted[(int)lround((double)q / (CANDIDATES - 1) * (r->n - 1))];
            if (n_cand > 0 && thr == st[n_cand - 1].threshold) continue;
            rc = fab_alarm_judge(r, thr, sustain, warn_window, goal, &st[n_cand++]);
        }
    }
    if (rc == 0) {
        int top = 0, at_top = 0;
        for (int c = 1; c < n_cand; c++)
            if (fab_alarm_better(&st[c], &st[top], goal, horizon)) top = c;
        for (int c = 0; c < n_cand; c++) at_top += !fab_alarm_better(&st[top], &st[c], goal, horizon);
        for (int c = 0, k = 0; c < n_cand; c++)
            if (!fab_alarm_better(&st[top], &st[c], goal, horizon) && k++ == at_top / 2) *best = st[c];
    }
    free(sorted);
    free(st);
    return rc;
}
