/* maint_run_inputs.c: reading a maintain sub-command's sensor log and failure list within its run. */
#include "maint_run_inputs.h"

int fab_maint_read_inputs(mc_run *run, const char *sensors, const char *failures, fab_sensor_log *log) {
    char reason[700];
    if (fab_sensor_log_read(sensors, log, reason, sizeof reason) != 0) {
        mc_run_input_rejected(run, sensors, reason);
        return -1;
    }
    if (failures && fab_failures_read(failures, log, reason, sizeof reason) < 0) {
        mc_run_input_rejected(run, failures, reason);
        fab_sensor_log_free(log);
        return -1;
    }
    return 0;
}
