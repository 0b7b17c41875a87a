/* fuzz_sensor_log.c: moe-factory's predictive-maintenance readers on arbitrary bytes: the sensor
 * log (fab_sensor_log_read) and, over what it read, the failure list (fab_failures_read). An input
 * holds the log, then a line "--8<--" and the failure list. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_io.h"
#include "maintain/sensor_log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_part part[2];
    int n = fuzz_split(data, size, FUZZ_FILE_SEP, part, 2);
    const char *path = fuzz_write("sensors.csv", part[0].data, part[0].size);
    fab_sensor_log log;
    char reason[512];
    if (fab_sensor_log_read(path, &log, reason, sizeof reason) != 0) {
        if (!reason[0]) abort(); /* a rejection always says why */
        return 0;
    }
    for (int m = 0; m < log.n_machines; m++)
        for (int i = 1; i < log.m[m].n; i++)
            if (!(log.m[m].t[i] > log.m[m].t[i - 1])) abort(); /* times must increase strictly */
    if (n == 2) {
        path = fuzz_write("failures.csv", part[1].data, part[1].size);
        int failures = fab_failures_read(path, &log, reason, sizeof reason);
        if (failures < 0 && !reason[0]) abort();
        for (int m = 0; failures > 0 && m < log.n_machines; m++)
            if (!isnan(log.m[m].failure) && log.m[m].n > 0 && log.m[m].failure < log.m[m].t[0]) abort();
    }
    fab_sensor_log_free(&log);
    return 0;
}
