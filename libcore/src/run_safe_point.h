/* run_safe_point.h (private to libmoecore): where the run in progress may be ended after SIGTERM
 * or SIGINT. mc_run_begin installs handlers that only set a flag; the library's safe points (between
 * inputs in run.c, progress updates in progress.c) look at it and, when it is set, roll back the
 * open transaction, record the run as failed and end the process by the same signal. */
#ifndef MOECORE_RUN_SAFE_POINT_H
#define MOECORE_RUN_SAFE_POINT_H

/* Ends the run in progress when a termination signal came since mc_run_begin, and then does not
 * return. Does nothing when no signal came, when no run is in progress, on a thread other than the
 * one that began the run, or inside an OpenMP parallel region. */
void mc_run_safe_point(void);

#endif
