/* maint_run_inputs.h: the sensor log and failure list of a maintain sub-command, read within its run:
 * a file that cannot be read is rejected there (mc_run_input_rejected) with the reader's reason. */
#ifndef MOE_FACTORY_MAINT_RUN_INPUTS_H
#define MOE_FACTORY_MAINT_RUN_INPUTS_H

#include "moecore/run.h"
#include "sensor_log.h"

/* Reads the sensor log and, when failures is set, the failure list; a bad file is rejected in run.
 * Returns 0, or -1 after the rejection (log then holds nothing to free). */
int fab_maint_read_inputs(mc_run *run, const char *sensors, const char *failures, fab_sensor_log *log);

#endif
