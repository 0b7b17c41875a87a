/* fleet_synth.h: a synthetic fleet run to failure, in the manner of NASA's C-MAPSS benchmark:
 * machines under several operating conditions, each degrading by one of three failure modes with
 * its own sensor signature, with sensor noise, missing samples and irregular timestamps. The
 * equations are in docs/factory.md ("The synthetic fleet"). */
#ifndef MOE_FACTORY_FLEET_SYNTH_H
#define MOE_FACTORY_FLEET_SYNTH_H

#include <stdint.h>
#include <stdio.h>

#include "moecore/rng.h"

/* The failure modes and their signatures. */
typedef enum fab_failure_mode {
    FAB_MODE_BEARING = 0, /* vibration energy grows at a band (a 5-hour oscillation), current rises a little */
    FAB_MODE_OVERHEAT,    /* temperature and current drift upward */
    FAB_MODE_SEAL,        /* pressure drops */
    FAB_MODE_COUNT
} fab_failure_mode;

const char *fab_failure_mode_name(fab_failure_mode m);

typedef struct fab_synth_summary {
    int machines;
    int failed;                    /* machines whose log ends at a failure */
    int censored;                  /* machines still running at the end of their log */
    int by_mode[FAB_MODE_COUNT];   /* failures per mode */
    long samples;
} fab_synth_summary;

/* Writes machines machine logs to sensors (machine_id,timestamp,setting_load,setting_speed,temp,
 * pressure,vib,current) and their failures to failures (machine_id,failure_time), every random
 * choice drawn from rng. Machine ids are "M0001", "M0002", ... Returns 0, or -1 on a write error. */
int fab_synth_fleet(int machines, mc_rng *rng, FILE *sensors, FILE *failures, fab_synth_summary *sum);

#endif
