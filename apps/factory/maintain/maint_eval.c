/* maint_eval.c: RUL metrics, sustained alarms and maintenance policies. */
#include "maint_eval.h"

#include <math.h>
#include <stdlib.h>

double fab_cmapss_score(const double *pred, const double *truth, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) {
        double d = pred[i] - truth[i];
        s += d < 0 ? exp(-d / 13.0) - 1 : exp(d / 10.0) - 1;
    }
    return s;
}

double fab_rmse(const double *pred, const double *truth, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (pred[i] - truth[i]) * (pred[i] - truth[i]);
    return n ? sqrt(s / n) : NAN;
}

int fab_alarm_starts(const double *t, const unsigned char *flag, int n, int sustain, double *starts) {
    int run = 0, k = 0;
    for (int i = 0; i < n; i++) {
        run = flag[i] ? run + 1 : 0;
        if (run == sustain) starts[k++] = t[i];
    }
    return k;
}

void fab_policy_add(const fab_policy *p, double first, double last, double failure, const double *starts, int n_starts,
                    fab_policy_result *acc) {
    int failed = !isnan(failure);
    double end = failed ? failure : last, life = end - first;
    acc->machines++;
    acc->observed_h += life;
    int false_alarms = 0;
    double detect = NAN;
    for (int i = 0; i < n_starts && isnan(detect); i++) {
        if (starts[i] >= end) break;
        if (failed && failure - starts[i] <= p->warn_window)
            detect = starts[i];
        else
            false_alarms++;
    }
    acc->false_alarms += false_alarms;
    /* run to failure */
    acc->down_rtf += failed ? p->unplanned_h : 0;
    acc->up_rtf += life;
    /* fixed interval: a service every interval hours renews the machine */
    if (failed && life <= p->interval) {
        acc->down_fixed += p->unplanned_h;
        acc->up_fixed += life;
    } else if (failed) {
        acc->down_fixed += p->planned_h;
        acc->up_fixed += p->interval;
    } else {
        acc->down_fixed += p->planned_h * floor(life / p->interval);
        acc->up_fixed += life;
    }
    /* service at alarm */
    acc->down_alarm += p->planned_h * false_alarms;
    if (failed) {
        acc->failures++;
        if (!isnan(detect)) {
            acc->lead[acc->detected++] = failure - detect;
            acc->down_alarm += p->planned_h;
            acc->up_alarm += detect - first;
        } else {
            acc->down_alarm += p->unplanned_h;
            acc->up_alarm += life;
        }
    } else {
        acc->up_alarm += life;
    }
}

void fab_policy_add_machine(const fab_policy *p, const fab_machine *m, const double *t, const unsigned char *flag, int n,
                            int sustain, double *starts, fab_policy_result *acc) {
    int n_starts = fab_alarm_starts(t, flag, n, sustain, starts);
    fab_policy_add(p, m->t[0], m->t[m->n - 1], m->failure, starts, n_starts, acc);
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double fab_quantile(double *v, int n, double q) {
    qsort(v, (size_t)n, sizeof *v, by_value);
    double pos = q * (n - 1);
    int lo = (int)floor(pos);
    if (lo >= n - 1) return v[n - 1];
    return v[lo] + (pos - lo) * (v[lo + 1] - v[lo]);
}
