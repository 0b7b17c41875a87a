/* plot.c: line charts as PNG through cairo: frame, "nice" ticks (linear, or logarithmic on x),
 * shaded bands, series as lines or markers, legend. See plot.h. */
#include "moecore/plot.h"

#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "moecore/outfile.h"

static const double palette[][3] = {
    {0.12, 0.47, 0.71}, {0.84, 0.15, 0.16}, {0.17, 0.63, 0.17}, {1.00, 0.50, 0.05},
    {0.58, 0.40, 0.74}, {0.55, 0.34, 0.29}, {0.89, 0.47, 0.76}, {0.50, 0.50, 0.50},
};
enum { N_PALETTE = (int)(sizeof palette / sizeof palette[0]) };

/* A tick step of 1, 2 or 5 times a power of ten giving about `target` intervals over span. */
static double nice_step(double span, int target) {
    double raw = span / target, p = pow(10.0, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1.0 : f < 3.5 ? 2.0 : f < 7.5 ? 5.0 : 10.0) * p;
}

static void data_range(const mc_plot_series *s, int n, int axis_x, int log_x, double *lo, double *hi) {
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int k = 0; k < n; k++)
        for (int i = 0; i < s[k].n; i++) {
            double v = axis_x ? s[k].x[i] : s[k].y[i];
            if (!isfinite(v) || (axis_x && log_x && v <= 0)) continue;
            if (!isfinite(axis_x ? s[k].y[i] : s[k].x[i])) continue;
            if (v < *lo) *lo = v;
            if (v > *hi) *hi = v;
        }
    if (!isfinite(*lo)) {
        *lo = log_x && axis_x ? 1.0 : 0.0;
        *hi = *lo + 1.0;
    }
    if (*hi <= *lo) {
        double d = fabs(*lo) > 0 ? fabs(*lo) * 0.1 : 1.0;
        *lo -= log_x && axis_x ? 0 : d;
        *hi += d;
    }
}

typedef struct {
    double x0, y0, w, h; /* plot area in pixels */
    double xlo, xhi, ylo, yhi;
    int log_x;
} frame;

static double px(const frame *f, double x) {
    double t = f->log_x ? (log(x) - log(f->xlo)) / (log(f->xhi) - log(f->xlo)) : (x - f->xlo) / (f->xhi - f->xlo);
    return f->x0 + t * f->w;
}
static double py(const frame *f, double y) { return f->y0 + f->h - (y - f->ylo) / (f->yhi - f->ylo) * f->h; }

static void label_at(cairo_t *cr, const char *text, double x, double y, double ax, double ay) {
    cairo_text_extents_t e;
    cairo_text_extents(cr, text, &e);
    cairo_move_to(cr, x - ax * e.width - e.x_bearing, y - ay * e.height - e.y_bearing);
    cairo_show_text(cr, text);
}

static void fmt_tick(char *buf, size_t n, double v, double step) {
    if (fabs(v) < step * 1e-9) v = 0;
    int digits = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (fabs(v) >= 1e5 || (v != 0 && fabs(v) < 1e-4)) snprintf(buf, n, "%.2g", v);
    else snprintf(buf, n, "%.*f", digits, v);
}

/* A vertical grid line at x value v, labelled below the frame. */
static void x_tick(cairo_t *cr, const frame *f, double v, const char *label) {
    double x = px(f, v);
    cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
    cairo_move_to(cr, x, f->y0);
    cairo_line_to(cr, x, f->y0 + f->h);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    label_at(cr, label, x, f->y0 + f->h + 6, 0.5, 0.0);
}

static void draw_axes(cairo_t *cr, const frame *f) {
    char buf[32];
    cairo_set_font_size(cr, 12);
    cairo_set_line_width(cr, 1);
    double ystep = nice_step(f->yhi - f->ylo, 6);
    for (double v = ceil(f->ylo / ystep) * ystep; v <= f->yhi + ystep * 1e-9; v += ystep) {
        double y = py(f, v);
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, f->x0, y);
        cairo_line_to(cr, f->x0 + f->w, y);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        fmt_tick(buf, sizeof buf, v, ystep);
        label_at(cr, buf, f->x0 - 6, y, 1.0, 0.5);
    }
    if (f->log_x) {
        double base = f->xhi / f->xlo >= 4 ? 2.0 : 10.0;
        for (double v = pow(base, ceil(log(f->xlo) / log(base) - 1e-9)); v <= f->xhi * (1 + 1e-9); v *= base) {
            if (v >= 1) snprintf(buf, sizeof buf, "%g", v);
            else snprintf(buf, sizeof buf, "1/%g", 1.0 / v);
            x_tick(cr, f, v, buf);
        }
    } else {
        double xstep = nice_step(f->xhi - f->xlo, 8);
        for (double v = ceil(f->xlo / xstep) * xstep; v <= f->xhi + xstep * 1e-9; v += xstep) {
            fmt_tick(buf, sizeof buf, v, xstep);
            x_tick(cr, f, v, buf);
        }
    }
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_rectangle(cr, f->x0, f->y0, f->w, f->h);
    cairo_stroke(cr);
}

static void draw_series(cairo_t *cr, const frame *f, const mc_plot_series *s, int k) {
    const double *c = palette[k % N_PALETTE];
    cairo_set_source_rgb(cr, c[0], c[1], c[2]);
    cairo_set_line_width(cr, 1.6);
    double dash[] = {6.0, 4.0};
    cairo_set_dash(cr, dash, s->style == 1 ? 2 : 0, 0);
    int pen = 0;
    for (int i = 0; i < s->n; i++) {
        double x = s->x[i], y = s->y[i];
        if (!isfinite(x) || !isfinite(y) || (f->log_x && x <= 0)) {
            pen = 0;
            continue;
        }
        double X = px(f, x), Y = py(f, y);
        if (s->style == 2) {
            cairo_new_sub_path(cr);
            cairo_arc(cr, X, Y, 2.5, 0, 2 * M_PI);
            cairo_fill(cr);
            continue;
        }
        if (pen) cairo_line_to(cr, X, Y);
        else cairo_move_to(cr, X, Y);
        pen = 1;
    }
    if (s->style != 2) cairo_stroke(cr);
    cairo_set_dash(cr, NULL, 0, 0);
}

static void draw_legend(cairo_t *cr, const frame *f, const mc_plot_series *s, int n) {
    int rows = 0;
    double wmax = 0;
    cairo_set_font_size(cr, 12);
    for (int k = 0; k < n; k++) {
        if (!s[k].label) continue;
        cairo_text_extents_t e;
        cairo_text_extents(cr, s[k].label, &e);
        if (e.x_advance > wmax) wmax = e.x_advance;
        rows++;
    }
    if (!rows) return;
    double bw = wmax + 44, bh = rows * 18 + 8, bx = f->x0 + 10, by = f->y0 + 10;
    cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
    cairo_rectangle(cr, bx, by, bw, bh);
    cairo_fill(cr);
    int r = 0;
    for (int k = 0; k < n; k++) {
        if (!s[k].label) continue;
        const double *c = palette[k % N_PALETTE];
        double y = by + 13 + 18 * r++;
        cairo_set_source_rgb(cr, c[0], c[1], c[2]);
        if (s[k].style == 2) {
            cairo_new_sub_path(cr);
            cairo_arc(cr, bx + 18, y, 3, 0, 2 * M_PI);
            cairo_fill(cr);
        } else {
            double dash[] = {6.0, 4.0};
            cairo_set_dash(cr, dash, s[k].style == 1 ? 2 : 0, 0);
            cairo_set_line_width(cr, 2);
            cairo_move_to(cr, bx + 6, y);
            cairo_line_to(cr, bx + 30, y);
            cairo_stroke(cr);
            cairo_set_dash(cr, NULL, 0, 0);
        }
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        label_at(cr, s[k].label, bx + 36, y, 0.0, 0.5);
    }
}

/* Draws one chart into the rectangle (ox, oy, W, H) of cr. */
static void draw_panel(cairo_t *cr, double ox, double oy, double W, double H, const mc_plot_opts *o,
                       const mc_plot_series *s, int n) {
    frame f = {.x0 = ox + 70, .y0 = oy + (o->title ? 36 : 16), .log_x = o->log_x};
    f.w = W - 70 - 20;
    f.h = H - (f.y0 - oy) - (o->xlabel ? 52 : 34);
    if (o->x_lo < o->x_hi && (!o->log_x || o->x_lo > 0)) {
        f.xlo = o->x_lo;
        f.xhi = o->x_hi;
    } else {
        data_range(s, n, 1, o->log_x, &f.xlo, &f.xhi);
    }
    if (o->y_lo < o->y_hi) {
        f.ylo = o->y_lo;
        f.yhi = o->y_hi;
    } else {
        data_range(s, n, 0, 0, &f.ylo, &f.yhi);
        double m = (f.yhi - f.ylo) * 0.05;
        f.ylo -= m;
        f.yhi += m;
    }

    cairo_save(cr);
    cairo_rectangle(cr, f.x0, f.y0, f.w, f.h);
    cairo_clip(cr);
    cairo_set_source_rgba(cr, 0.84, 0.15, 0.16, 0.12);
    for (int i = 0; i < o->n_bands; i++) {
        double a = px(&f, o->band_x0[i]), b = px(&f, o->band_x1[i]);
        cairo_rectangle(cr, a, f.y0, b - a, f.h);
    }
    cairo_fill(cr);
    cairo_restore(cr);

    draw_axes(cr, &f);
    cairo_save(cr);
    cairo_rectangle(cr, f.x0, f.y0, f.w, f.h);
    cairo_clip(cr);
    for (int k = 0; k < n; k++) draw_series(cr, &f, &s[k], k);
    cairo_restore(cr);
    draw_legend(cr, &f, s, n);

    cairo_set_source_rgb(cr, 0, 0, 0);
    if (o->title) {
        cairo_set_font_size(cr, 15);
        label_at(cr, o->title, ox + W / 2.0, oy + 10, 0.5, 0.0);
    }
    cairo_set_font_size(cr, 13);
    if (o->xlabel) label_at(cr, o->xlabel, f.x0 + f.w / 2, oy + H - 8, 0.5, 1.0);
    if (o->ylabel) {
        cairo_save(cr);
        cairo_translate(cr, ox + 16, f.y0 + f.h / 2);
        cairo_rotate(cr, -M_PI / 2);
        label_at(cr, o->ylabel, 0, 0, 0.5, 0.5);
        cairo_restore(cr);
    }
}

static mc_status check_series(const mc_plot_series *s, int n, mc_error *err) {
    if (n < 0 || (n > 0 && !s)) return mc_error_set(err, MC_ERR_ARG, "plot: missing series");
    for (int k = 0; k < n; k++)
        if (s[k].n < 0 || (s[k].n > 0 && (!s[k].x || !s[k].y)))
            return mc_error_set(err, MC_ERR_ARG, "plot: series %d has no points", k);
    return MC_OK;
}

mc_status mc_plot_panels(const char *path, int width, int height, const mc_plot_panel *p, int n_panels, mc_error *err) {
    if (!path || !p || n_panels < 1) return mc_error_set(err, MC_ERR_ARG, "plot: missing path or panels");
    int W = width > 0 ? width : 900, H = height > 0 ? height : 540;
    if (W < 200 || H < 150 || W > 8000 || H > 8000)
        return mc_error_set(err, MC_ERR_ARG, "plot: size %dx%d outside 200x150..8000x8000", W, H);
    double total = 0;
    for (int i = 0; i < n_panels; i++) {
        mc_status st = check_series(p[i].series, p[i].n_series, err);
        if (st != MC_OK) return st;
        if (!(p[i].weight > 0)) return mc_error_set(err, MC_ERR_ARG, "plot: panel %d has no height", i);
        total += p[i].weight;
    }

    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    cairo_t *cr = cairo_create(surf);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    double y = 0;
    for (int i = 0; i < n_panels; i++) {
        double h = H * p[i].weight / total;
        draw_panel(cr, 0, y, W, h, &p[i].opts, p[i].series, p[i].n_series);
        y += h;
    }
    cairo_destroy(cr);

    mc_outfile out;
    if (mc_outfile_begin(&out, path, err) != MC_OK) {
        cairo_surface_destroy(surf);
        return err ? err->code : MC_ERR_IO;
    }
    cairo_status_t st = cairo_surface_write_to_png(surf, out.tmp);
    cairo_surface_destroy(surf);
    if (st != CAIRO_STATUS_SUCCESS) {
        mc_outfile_abort(&out);
        return mc_error_set(err, MC_ERR_IO, "%s: cannot write the chart: %s", path, cairo_status_to_string(st));
    }
    return mc_outfile_commit(&out, err);
}

mc_status mc_plot_lines(const char *path, const mc_plot_opts *o, const mc_plot_series *s, int n, mc_error *err) {
    if (!o) return mc_error_set(err, MC_ERR_ARG, "plot: missing options");
    mc_plot_panel panel = {.opts = *o, .series = s, .n_series = n, .weight = 1};
    return mc_plot_panels(path, o->width, o->height, &panel, 1, err);
}
