/* fleet_synth.c: the synthetic run-to-failure fleet (equations in docs/factory.md). */
#include "fleet_synth.h"

#include <math.h>
#include <string.h>

#include "sensor_log.h"

const char *fab_failure_mode_name(fab_failure_mode m) {
    static const char *const names[] = {"bearing", "overheat", "seal"};
    return m < FAB_MODE_COUNT ? names[m] : "?";
}

#define FLEET_EPOCH 490896.0 /* 2026-01-01T00:00:00Z in hours since 1970 */

/* Operating conditions: (load, speed in thousands of rpm). */
static const double condition[3][2] = {{0.4, 1.2}, {0.7, 1.5}, {1.0, 1.8}};

static double uniform(mc_rng *r, double lo, double hi) { return lo + (hi - lo) * mc_rng_uniform(r); }

/* One machine: its life, mode and log. Returns 0, or -1 on a write error. */
static int synth_machine(int index, mc_rng *r, FILE *sensors, FILE *failures, fab_synth_summary *sum) {
    char id[16];
    snprintf(id, sizeof id, "M%04d", index + 1);
    double start = FLEET_EPOCH + floor(uniform(r, 0, 240));
    double life = uniform(r, 350, 1100);          /* hours from installation to failure */
    fab_failure_mode mode = (fab_failure_mode)mc_rng_below(r, FAB_MODE_COUNT);
    double dur = uniform(r, 120, 260);            /* degradation lasts dur hours before the failure */
    double expo = uniform(r, 1.5, 2.5);           /* shape of the health index */
    int censored = mc_rng_uniform(r) < 0.25;
    double end = censored ? (life - dur) * uniform(r, 0.3, 1.0) : life; /* censored logs end while healthy */
    double phase = uniform(r, 0, 2 * M_PI);
    /* machine-to-machine offsets of each sensor, in units of its noise */
    double off_temp = 0.5 * mc_rng_normal(r), off_pres = 0.5 * mc_rng_normal(r), off_vib = 0.5 * mc_rng_normal(r),
           off_cur = 0.5 * mc_rng_normal(r);
    int cond = (int)mc_rng_below(r, 3);
    double next_switch = uniform(r, 12, 72), gap_until = -1;
    for (double hour = 0; hour < end; hour += 1) {
        while (hour >= next_switch) {
            cond = (int)mc_rng_below(r, 3);
            next_switch += uniform(r, 12, 72);
        }
        double t = hour + uniform(r, -0.15, 0.15);
        int dropped = mc_rng_uniform(r) < 0.04;
        if (gap_until < 0 && mc_rng_uniform(r) < 0.01) gap_until = hour + uniform(r, 4, 16);
        if (gap_until >= 0 && hour >= gap_until) gap_until = -1;
        double x[6];
        double u = (t - (life - dur)) / dur, h = u > 0 ? pow(u < 1 ? u : 1, expo) : 0;
        double hb = mode == FAB_MODE_BEARING ? h : 0, ho = mode == FAB_MODE_OVERHEAT ? h : 0,
               hs = mode == FAB_MODE_SEAL ? h : 0;
        double load = condition[cond][0], speed = condition[cond][1];
        x[0] = load + 0.01 * mc_rng_normal(r);
        x[1] = speed + 0.01 * mc_rng_normal(r);
        x[2] = 50 + 30 * load + 12 * ho + 1.0 * (off_temp + mc_rng_normal(r));
        x[3] = 5 + 3 * load - 2.0 * hs + 0.15 * (off_pres + mc_rng_normal(r));
        x[4] = 0.5 + 0.6 * speed + 0.15 * hb + 0.6 * hb * sin(2 * M_PI * t / 5 + phase) + 0.08 * (off_vib + mc_rng_normal(r));
        x[5] = 20 + 15 * load + 3 * ho + 0.8 * hb + 0.5 * (off_cur + mc_rng_normal(r));
        int missing[6];
        for (int k = 0; k < 6; k++) missing[k] = mc_rng_uniform(r) < 0.01;
        if (dropped || gap_until >= 0 || t < 0) continue;
        char ts[32];
        fab_format_time(start + t, ts, sizeof ts);
        fprintf(sensors, "%s,%s", id, ts);
        static const char *const fmt[6] = {",%.3f", ",%.3f", ",%.2f", ",%.3f", ",%.4f", ",%.2f"};
        for (int k = 0; k < 6; k++) {
            if (missing[k])
                fputc(',', sensors);
            else
                fprintf(sensors, fmt[k], x[k]);
        }
        fputc('\n', sensors);
        sum->samples++;
    }
    sum->machines++;
    if (censored) {
        sum->censored++;
    } else {
        char ts[32];
        fab_format_time(start + life, ts, sizeof ts);
        fprintf(failures, "%s,%s\n", id, ts);
        sum->failed++;
        sum->by_mode[mode]++;
    }
    return ferror(sensors) || ferror(failures) ? -1 : 0;
}

int fab_synth_fleet(int machines, mc_rng *rng, FILE *sensors, FILE *failures, fab_synth_summary *sum) {
    memset(sum, 0, sizeof *sum);
    fputs("machine_id,timestamp,setting_load,setting_speed,temp,pressure,vib,current\n", sensors);
    fputs("machine_id,failure_time\n", failures);
    for (int i = 0; i < machines; i++)
        if (synth_machine(i, rng, sensors, failures, sum) != 0) return -1;
    return fflush(sensors) == 0 && fflush(failures) == 0 ? 0 : -1;
}
