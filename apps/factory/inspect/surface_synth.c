/* surface_synth.c: textured surfaces and their defects, drawn from a seeded generator. */
#include "surface_synth.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "png_io.h"

#define LATTICE 64 /* value-noise lattice, wrapped */

static const double PI = 3.14159265358979323846;

const char *fab_texture_name(fab_texture_family f) {
    static const char *names[] = {"brushed", "woven", "granular", "painted", "printed"};
    return f < FAB_TEX_COUNT ? names[f] : "unknown";
}

const char *fab_defect_name(fab_defect_kind k) {
    static const char *names[] = {"scratch", "crack", "dent", "spot", "stain", "missing_thread"};
    return k < FAB_DEFECT_COUNT ? names[k] : "unknown";
}

static double uniform(mc_rng *r, double lo, double hi) { return lo + (hi - lo) * mc_rng_uniform(r); }

/* Smooth random field: a wrapped lattice of uniform values, interpolated with smoothstep. */
typedef struct noise {
    float v[LATTICE][LATTICE];
} noise;

static void noise_init(noise *n, mc_rng *r) {
    for (int i = 0; i < LATTICE; i++)
        for (int j = 0; j < LATTICE; j++) n->v[i][j] = (float)(2 * mc_rng_uniform(r) - 1);
}

static double noise_at(const noise *n, double x, double y) {
    double fx = floor(x), fy = floor(y);
    int ix = (int)fx, iy = (int)fy;
    double tx = x - fx, ty = y - fy;
    tx = tx * tx * (3 - 2 * tx);
    ty = ty * ty * (3 - 2 * ty);
    int x0 = ((ix % LATTICE) + LATTICE) % LATTICE, y0 = ((iy % LATTICE) + LATTICE) % LATTICE;
    int x1 = (x0 + 1) % LATTICE, y1 = (y0 + 1) % LATTICE;
    double a = n->v[y0][x0] + tx * (n->v[y0][x1] - n->v[y0][x0]);
    double b = n->v[y1][x0] + tx * (n->v[y1][x1] - n->v[y1][x0]);
    return a + ty * (b - a);
}

/* Two octaves of noise at feature size s (pixels). */
static double fbm(const noise *n, double x, double y, double s) {
    return 0.67 * noise_at(n, x / s, y / s) + 0.33 * noise_at(n, 2 * x / s + 17.3, 2 * y / s + 5.1);
}

void fab_texture_for_class(fab_texture *t, int c, mc_rng *rng) {
    t->family = (fab_texture_family)(c % FAB_TEX_COUNT);
    t->angle = uniform(rng, 0, PI);
    t->mean = uniform(rng, 0.3, 0.7);
    t->contrast = uniform(rng, 0.06, 0.2);
    t->grain = uniform(rng, 0.01, 0.04);
    switch (t->family) {
    case FAB_TEX_BRUSHED: t->scale = uniform(rng, 2, 5); break;
    case FAB_TEX_WOVEN: t->scale = uniform(rng, 5, 10); break;
    case FAB_TEX_GRANULAR: t->scale = uniform(rng, 1.5, 3); break;
    case FAB_TEX_PAINTED: t->scale = uniform(rng, 20, 50); break;
    default: t->scale = uniform(rng, 4, 8); break;
    }
}

static float clamp01(double v) { return (float)(v < 0 ? 0 : v > 1 ? 1 : v); }

void fab_synth_surface(float *img, int size, const fab_texture *t, mc_rng *rng) {
    noise *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    if (!a || !b) {
        free(a);
        free(b);
        for (int i = 0; i < size * size; i++) img[i] = (float)t->mean;
        return;
    }
    noise_init(a, rng);
    noise_init(b, rng);
    /* each image varies a little around its class: brightness, contrast, phase */
    double mean = t->mean + uniform(rng, -0.04, 0.04), c = t->contrast * uniform(rng, 0.85, 1.15);
    double ox = uniform(rng, 0, 1000), oy = uniform(rng, 0, 1000);
    double ca = cos(t->angle), sa = sin(t->angle), s = t->scale;
    for (int y = 0; y < size; y++) {
        for (int x = 0; x < size; x++) {
            double u = ca * x + sa * y + ox, v = -sa * x + ca * y + oy, val = 0;
            switch (t->family) {
            case FAB_TEX_BRUSHED: /* long streaks along u, a slow shading across */
                val = noise_at(a, u / (s * 12), v / s) + 0.4 * noise_at(b, x / 60.0, y / 60.0);
                break;
            case FAB_TEX_WOVEN: { /* threads alternate over and under in a checkerboard of cells */
                double cu = floor(u / s), cv = floor(v / s);
                int over = ((long)cu + (long)cv) & 1;
                double pu = u / s - cu, pv = v / s - cv;
                double prof = over ? sin(PI * pu) : sin(PI * pv);
                double thread = 0.3 * noise_at(b, over ? cu * 7.1 : 3.3, over ? 1.7 : cv * 5.3);
                val = prof - 0.6 + thread + 0.3 * noise_at(a, u / (s * 0.7), v / (s * 0.7));
                break;
            }
            case FAB_TEX_GRANULAR: /* fine grains on a mottled ground */
                val = 1.2 * noise_at(a, u / s, v / s) + 0.5 * fbm(b, x, y, 25);
                break;
            case FAB_TEX_PAINTED: /* smooth shading plus orange peel */
                val = 1.3 * fbm(a, x, y, s) + 0.25 * noise_at(b, u / 2.5, v / 2.5);
                break;
            default: { /* halftone dots whose size follows a slow field */
                double pu = u / s - floor(u / s) - 0.5, pv = v / s - floor(v / s) - 0.5;
                double r = sqrt(pu * pu + pv * pv);
                double radius = 0.28 + 0.1 * noise_at(b, u / (s * 9), v / (s * 9));
                val = 1.4 * (0.5 - 1 / (1 + exp(-(radius - r) * 30))) + 0.2 * noise_at(a, x / 40.0, y / 40.0);
                break;
            }
            }
            img[(size_t)y * size + x] = clamp01(mean + c * val + t->grain * mc_rng_normal(rng));
        }
    }
    free(a);
    free(b);
}

/* Distance from (px, py) to the segment (ax, ay)-(bx, by). */
static double seg_dist(double px, double py, double ax, double ay, double bx, double by) {
    double dx = bx - ax, dy = by - ay, l2 = dx * dx + dy * dy;
    double t = l2 > 0 ? ((px - ax) * dx + (py - ay) * dy) / l2 : 0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    double ex = ax + t * dx - px, ey = ay + t * dy - py;
    return sqrt(ex * ex + ey * ey);
}

/* Draws a polyline of n points: intensity delta with a Gaussian cross profile of width w. */
static void draw_polyline(float *img, float *mask, int size, const double *px, const double *py, int n, double w,
                          double delta) {
    double x0 = size, x1 = 0, y0 = size, y1 = 0;
    for (int i = 0; i < n; i++) {
        x0 = fmin(x0, px[i]); x1 = fmax(x1, px[i]);
        y0 = fmin(y0, py[i]); y1 = fmax(y1, py[i]);
    }
    int pad = (int)ceil(3 * w) + 2;
    for (int y = (int)fmax(0, y0 - pad); y < (int)fmin(size, y1 + pad + 1); y++) {
        for (int x = (int)fmax(0, x0 - pad); x < (int)fmin(size, x1 + pad + 1); x++) {
            double d = 1e9;
            for (int i = 0; i + 1 < n; i++) d = fmin(d, seg_dist(x, y, px[i], py[i], px[i + 1], py[i + 1]));
            size_t k = (size_t)y * size + x;
            img[k] = clamp01(img[k] + delta * exp(-(d * d) / (w * w)));
            if (d <= w + 0.5) mask[k] = 1;
        }
    }
}

/* A random sign with a magnitude relative to the texture contrast, at least min. */
static double defect_contrast(const fab_texture *t, mc_rng *rng, double min) {
    double m = fmax(min, t->contrast * uniform(rng, 0.8, 2.2));
    return mc_rng_uniform(rng) < 0.5 ? -m : m;
}

fab_defect_kind fab_synth_pick_defect(const fab_texture *t, mc_rng *rng) {
    int threads = t->family == FAB_TEX_WOVEN || t->family == FAB_TEX_BRUSHED;
    return (fab_defect_kind)mc_rng_below(rng, threads ? FAB_DEFECT_COUNT : FAB_DEFECT_COUNT - 1);
}

void fab_synth_defect(float *img, float *mask, int size, const fab_texture *t, fab_defect_kind k, mc_rng *rng) {
    double cx = uniform(rng, 0.2, 0.8) * size, cy = uniform(rng, 0.2, 0.8) * size;
    switch (k) {
    case FAB_DEFECT_SCRATCH: { /* a thin straight or slightly bent line */
        double a = uniform(rng, 0, PI), len = uniform(rng, 0.2, 0.5) * size, bend = uniform(rng, -0.08, 0.08) * len;
        double px[3] = {cx - cos(a) * len / 2, cx - sin(a) * bend, cx + cos(a) * len / 2};
        double py[3] = {cy - sin(a) * len / 2, cy + cos(a) * bend, cy + sin(a) * len / 2};
        draw_polyline(img, mask, size, px, py, 3, uniform(rng, 0.8, 2.0), defect_contrast(t, rng, 0.12));
        break;
    }
    case FAB_DEFECT_CRACK: { /* a dark jagged random walk */
        double px[40], py[40], a = uniform(rng, 0, 2 * PI);
        int n = 8 + (int)mc_rng_below(rng, 24);
        px[0] = cx;
        py[0] = cy;
        for (int i = 1; i < n; i++) {
            a += uniform(rng, -0.7, 0.7);
            double step = uniform(rng, 0.01, 0.025) * size;
            px[i] = fmin(size - 1, fmax(0, px[i - 1] + cos(a) * step));
            py[i] = fmin(size - 1, fmax(0, py[i - 1] + sin(a) * step));
        }
        draw_polyline(img, mask, size, px, py, n, uniform(rng, 0.8, 1.6), -fmax(0.15, 2 * t->contrast));
        break;
    }
    case FAB_DEFECT_DENT: { /* a round dent lit from one side: a bright and a dark half */
        double R = uniform(rng, 0.03, 0.09) * size, a = uniform(rng, 0, 2 * PI), amp = fabs(defect_contrast(t, rng, 0.12));
        for (int y = (int)fmax(0, cy - 2 * R); y < (int)fmin(size, cy + 2 * R + 1); y++) {
            for (int x = (int)fmax(0, cx - 2 * R); x < (int)fmin(size, cx + 2 * R + 1); x++) {
                double dx = x - cx, dy = y - cy, r2 = (dx * dx + dy * dy) / (R * R);
                size_t i = (size_t)y * size + x;
                img[i] = clamp01(img[i] + amp * 1.6 * (dx * cos(a) + dy * sin(a)) / R * exp(-r2));
                if (r2 <= 1.2) mask[i] = 1;
            }
        }
        break;
    }
    case FAB_DEFECT_SPOT: /* a small round spot with a soft edge */
    case FAB_DEFECT_STAIN: { /* a large faint blot with a ragged edge */
        int spot = k == FAB_DEFECT_SPOT;
        double R = spot ? uniform(rng, 0.012, 0.035) * size : uniform(rng, 0.08, 0.16) * size;
        double amp = spot ? defect_contrast(t, rng, 0.15) : defect_contrast(t, rng, 0.07) * 0.8;
        double wob[6];
        for (int j = 0; j < 6; j++) wob[j] = spot ? 0 : uniform(rng, -0.25, 0.25);
        double e = spot ? 1 : uniform(rng, 0.6, 1.0), rot = uniform(rng, 0, PI);
        for (int y = (int)fmax(0, cy - 2 * R); y < (int)fmin(size, cy + 2 * R + 1); y++) {
            for (int x = (int)fmax(0, cx - 2 * R); x < (int)fmin(size, cx + 2 * R + 1); x++) {
                double dx = x - cx, dy = y - cy;
                double u = cos(rot) * dx + sin(rot) * dy, v = (-sin(rot) * dx + cos(rot) * dy) / e;
                double th = atan2(v, u), edge = R;
                for (int j = 0; j < 6; j++) edge += R * wob[j] / (j + 1) * sin((j + 2) * th + j);
                double r = sqrt(u * u + v * v);
                double w = 1 / (1 + exp((r - edge) / (spot ? 0.8 : 2.5)));
                size_t i = (size_t)y * size + x;
                img[i] = clamp01(img[i] + amp * w);
                if (r <= edge) mask[i] = 1;
            }
        }
        break;
    }
    default: { /* a missing thread: a band along the texture where its structure is gone */
        double w = uniform(rng, 1.5, 3.5), len = uniform(rng, 0.3, 0.8) * size;
        double shift = defect_contrast(t, rng, 0.08) * 0.7;
        double ca = cos(t->angle), sa = sin(t->angle);
        for (int y = 0; y < size; y++) {
            for (int x = 0; x < size; x++) {
                double u = ca * (x - cx) + sa * (y - cy), v = -sa * (x - cx) + ca * (y - cy);
                if (fabs(u) > len / 2 || fabs(v) > w + 1) continue;
                size_t i = (size_t)y * size + x;
                double inside = fabs(v) <= w ? 1 : w + 1 - fabs(v);
                double flat = t->mean + shift + t->grain * mc_rng_normal(rng);
                img[i] = clamp01((1 - inside) * img[i] + inside * flat);
                if (fabs(v) <= w) mask[i] = 1;
            }
        }
        break;
    }
    }
}

/* mkdir -p for one level (the parent exists). */
static mc_status make_dir(const char *path, mc_error *err) {
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        return mc_error_set(err, MC_ERR_IO, "%s: cannot create folder: %s", path, strerror(errno));
    return MC_OK;
}

static mc_status write_grey(const char *path, const float *img, int size, uint8_t *buf, mc_error *err) {
    for (int i = 0; i < size * size; i++) buf[i] = (uint8_t)lrintf(img[i] * 255.0f);
    return fab_png_write(path, buf, size, size, 1, err);
}

/* The seed of one stream: class c's look (kind 0), its good image i (kind 1) or its defect image i
 * (kind 2), mixed from the run's seed (splitmix64), so an image does not depend on how many others
 * were asked for. */
static uint64_t stream_seed(uint64_t seed, int c, int kind, int i) {
    uint64_t z = seed + 0x9E3779B97F4A7C15ull * (((uint64_t)c * 3 + (uint64_t)kind) << 24 | (uint64_t)(i + 1));
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

mc_status fab_synth_write(const char *dir, int classes, int n_good, int n_defect, int size, uint64_t seed,
                          mc_error *err) {
    if (classes < 1 || n_good < 0 || n_defect < 0 || size < 16)
        return mc_error_set(err, MC_ERR_ARG, "synth: invalid sizes");
    mc_status st = make_dir(dir, err);
    float *img = malloc(sizeof(float) * (size_t)size * size), *mask = malloc(sizeof(float) * (size_t)size * size);
    uint8_t *buf = malloc((size_t)size * size);
    if (st == MC_OK && (!img || !mask || !buf)) st = mc_error_set(err, MC_ERR_NOMEM, "synth: out of memory");
    char path[4200];
    for (int c = 0; c < classes && st == MC_OK; c++) {
        fab_texture t;
        mc_rng *rng = mc_rng_create(stream_seed(seed, c, 0, 0));
        if (!rng) {
            st = mc_error_set(err, MC_ERR_NOMEM, "synth: out of memory");
            break;
        }
        fab_texture_for_class(&t, c, rng);
        mc_rng_destroy(rng);
        static const char *sub[] = {"", "/good", "/defect", "/masks"};
        for (int s = 0; s < 4 && st == MC_OK; s++) {
            snprintf(path, sizeof path, "%s/class%02d%s", dir, c + 1, sub[s]);
            st = make_dir(path, err);
        }
        for (int i = 0; i < n_good + n_defect && st == MC_OK; i++) {
            int defect = i >= n_good, k = defect ? i - n_good : i;
            if (!(rng = mc_rng_create(stream_seed(seed, c, 1 + defect, k)))) {
                st = mc_error_set(err, MC_ERR_NOMEM, "synth: out of memory");
                break;
            }
            fab_synth_surface(img, size, &t, rng);
            snprintf(path, sizeof path, "%s/class%02d/%s/%04d.png", dir, c + 1, defect ? "defect" : "good", k);
            if (defect) {
                memset(mask, 0, sizeof(float) * (size_t)size * size);
                fab_synth_defect(img, mask, size, &t, fab_synth_pick_defect(&t, rng), rng);
            }
            st = write_grey(path, img, size, buf, err);
            if (st == MC_OK && defect) {
                snprintf(path, sizeof path, "%s/class%02d/masks/%04d.png", dir, c + 1, k);
                st = write_grey(path, mask, size, buf, err);
            }
            mc_rng_destroy(rng);
        }
    }
    free(img);
    free(mask);
    free(buf);
    return st;
}
