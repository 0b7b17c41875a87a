/* metrics.h: Prometheus textfile output for node_exporter's textfile collector. With
 * --metrics-dir DIR each run of a program replaces DIR/<program>.prom atomically (write to a
 * temporary file, then rename), so the collector never reads half a file. */
#ifndef MOECORE_METRICS_H
#define MOECORE_METRICS_H

#include <stdint.h>

#include "moecore/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mc_run_metrics {
    const char *program;  /* "moe-finance": the file name and the `program` label */
    const char *command;  /* "factors": the `command` label */
    double started_at;    /* Unix time, seconds */
    double finished_at;   /* Unix time, seconds */
    int64_t n_ok;         /* inputs processed */
    int64_t n_rejected;   /* inputs rejected */
    int succeeded;        /* the run finished without failure (rejected inputs allowed) */
} mc_run_metrics;

/* Writes DIR/<program>.prom with these samples, each labelled {program, command}:
 *   moesuite_last_run_timestamp_seconds, moesuite_last_success_timestamp_seconds (kept from the
 *   previous file when this run failed), moesuite_run_duration_seconds,
 *   moesuite_inputs_processed, moesuite_inputs_rejected, moesuite_last_run_success (1 or 0). */
mc_status mc_metrics_write(const char *dir, const mc_run_metrics *m, mc_error *err);

#ifdef __cplusplus
}
#endif
#endif
