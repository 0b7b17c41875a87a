/* progress.h: a progress bar (count, rate, ETA) for long loops, drawn on stderr only when stderr is
 * a terminal and neither -q nor --json is in force; coloured unless NO_COLOR is set or TERM=dumb.
 * Every function accepts NULL, so callers never test whether a bar is shown. */
#ifndef MOECORE_PROGRESS_H
#define MOECORE_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mc_progress mc_progress;

/* Starts a bar over total items (0 when unknown). Returns NULL when no bar is to be drawn.
 * Owned by the caller: end it with mc_progress_finish. */
mc_progress *mc_progress_start(const char *label, int64_t total);

/* Adds n finished items; redraws at most ten times a second. Safe to call from OpenMP threads.
 * Called on the thread that began a run, outside parallel regions, it is also a point where a run
 * that received SIGTERM or SIGINT ends (run.h), with or without a bar. */
void mc_progress_add(mc_progress *p, int64_t n);

/* Draws the final state, ends the line and frees p. Accepts NULL. */
void mc_progress_finish(mc_progress *p);

/* Formats one bar line into buf (no carriage return): "label [=====>    ] 40/100 12.5/s ETA 0:05".
 * width is the bar's width in cells; color adds ANSI colours. Exposed for tests. */
void mc_progress_format(char *buf, size_t size, const char *label, int64_t done, int64_t total,
                        double elapsed_s, int width, int color);

#ifdef __cplusplus
}
#endif
#endif
