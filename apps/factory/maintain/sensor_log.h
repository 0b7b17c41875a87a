/* sensor_log.h: the inputs of predictive maintenance: sensor logs (`machine_id,timestamp,<sensor>...`,
 * ISO 8601 times, any sampling, gaps allowed) and failure lists (`machine_id,failure_time`).
 *
 * Column roles follow the header names: a column named `setting_*` is an operating setting
 * (used to find operating conditions, not as a health signal), a column named `vib*` is a
 * vibration channel (its spectrum becomes features); every other column is a plain sensor. An
 * empty cell is a missing reading. */
#ifndef MOE_FACTORY_SENSOR_LOG_H
#define MOE_FACTORY_SENSOR_LOG_H

#include <stddef.h>

#define FAB_MAX_SENSORS 32
#define FAB_ID_MAX 64

/* One machine's samples in time order. */
typedef struct fab_machine {
    char id[FAB_ID_MAX];
    int n;          /* samples */
    double *t;      /* hours since 1970-01-01T00:00:00Z, strictly increasing */
    double *v;      /* (n, n_sensors), NAN where the cell was empty */
    double failure; /* failure time in hours, NAN when the machine has not failed (censored) */
} fab_machine;

typedef struct fab_sensor_log {
    int n_sensors;
    char sensor[FAB_MAX_SENSORS][FAB_ID_MAX];
    int n_machines;
    fab_machine *m;
} fab_sensor_log;

/* Parses "YYYY-MM-DDTHH:MM[:SS[.fff]][Z]" (a space may replace the T) into hours since the Unix
 * epoch, UTC. Returns 0, or -1 when the text is not such a time or names an impossible date. */
int fab_parse_time(const char *s, double *hours);

/* Writes hours since the epoch as "YYYY-MM-DDTHH:MM:SSZ" (size >= 21). */
void fab_format_time(double hours, char *buf, size_t size);

/* Reads a sensor log. Machines may come in any order and interleave; each machine's timestamps
 * must increase strictly. Returns 0, or -1 with reason naming the line and the problem (empty file,
 * missing columns, a non-numeric value, an unsorted or duplicate timestamp, ...). Every machine's
 * failure is NAN until fab_failures_read. Free with fab_sensor_log_free. */
int fab_sensor_log_read(const char *path, fab_sensor_log *out, char *reason, size_t size);

/* Reads a failure list into log's machines: one failure per machine at most, naming only machines
 * of the log, no earlier than the machine's first sample. Returns the number of failures, or -1
 * with reason naming the line. */
int fab_failures_read(const char *path, fab_sensor_log *log, char *reason, size_t size);

/* The index of the column called name, or -1. */
int fab_sensor_index(const fab_sensor_log *log, const char *name);

void fab_sensor_log_free(fab_sensor_log *log);

#endif
