/* plot.h: line charts written as PNG through cairo (equity curves, ROC and FROC curves, learning
 * curves). One call draws axes with ticks, a title, axis labels, a legend and any number of series. */
#ifndef MOECORE_PLOT_H
#define MOECORE_PLOT_H

#include "moecore/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One line: n points (x[i], y[i]); non-finite points break the line. style 0 draws a solid line,
 * 1 a dashed one, 2 markers only. Colours follow the series order. */
typedef struct mc_plot_series {
    const char *label; /* legend text, or NULL for none */
    const double *x;
    const double *y;
    int n;
    int style;
} mc_plot_series;

typedef struct mc_plot_opts {
    const char *title;  /* may be NULL */
    const char *xlabel; /* may be NULL */
    const char *ylabel; /* may be NULL */
    int width, height;  /* pixels; 0 takes 900 x 540 */
    int log_x;          /* 1: logarithmic x axis (base 2 ticks when the range allows, as FROC plots use) */
    /* Axis ranges; when lo >= hi the range is taken from the data with a small margin. */
    double x_lo, x_hi, y_lo, y_hi;
    /* Optional vertical bands shaded behind the lines, e.g. bear regimes: band i spans
     * [band_x0[i], band_x1[i]]. n_bands may be 0. */
    const double *band_x0, *band_x1;
    int n_bands;
} mc_plot_opts;

/* Draws the series into a PNG at path (written to path.tmp, then renamed). */
mc_status mc_plot_lines(const char *path, const mc_plot_opts *opts, const mc_plot_series *series,
                        int n_series, mc_error *err);

/* One chart of a stack: its options (width and height are ignored) and series, and its share of
 * the image height relative to the other panels. */
typedef struct mc_plot_panel {
    mc_plot_opts opts;
    const mc_plot_series *series;
    int n_series;
    double weight;
} mc_plot_panel;

/* Panels stacked top to bottom in one width x height PNG (0 takes 900 x 540), e.g. an equity curve
 * over its drawdown. */
mc_status mc_plot_panels(const char *path, int width, int height, const mc_plot_panel *panels, int n_panels,
                         mc_error *err);

#ifdef __cplusplus
}
#endif
#endif
