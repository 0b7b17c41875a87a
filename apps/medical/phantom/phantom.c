/* phantom.c: the synthetic chest CT generator (phantom.h). Anatomy is drawn in world millimetres
 * (DICOM LPS: +x patient left, +y posterior, +z head) around the body centre, then sampled on the
 * scanner's voxel grid, degraded like a scanner would, and written slice by slice through GDCM. */
#include "phantom.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dicom/dicom.h"
#include "moecore/rng.h"
#include "volume.h"

#define AIR_HU -1000.0f
#define LUNG_HU -860.0f
#define SOFT_HU 40.0f
#define FAT_HU -100.0f
#define BONE_HU 650.0f
#define MAX_SEGMENTS 8192
#define MAX_NODULES 6
#define MAX_PLUGS 3
#define MAX_STREAKS 5

/* The ranges a variant draws from (phantom.h). */
typedef struct {
    int branches;               /* vessel trees per hilum and kind (artery, vein) */
    int max_depth;              /* generations of a vessel tree */
    double vessel_min_mm;       /* radius where a vessel tree stops */
    double step_mm[8];          /* slice spacings, drawn uniformly */
    int n_steps;
    double fov_mm[2];
    double blur_mm[2];          /* in-plane blur, standard deviation */
    double noise_hu[2];
    double size_mm[2];          /* nodule diameters, log-uniform */
    double type_cut[2];         /* u below [0]: solid, below [1]: part-solid, else ground-glass */
    double touch_cut[2];        /* u below [0]: free, below [1]: against the pleura, else a vessel */
    int max_nodules;            /* 0 to this many nodules per study */
    /* what only the varied variant draws (0 in the others, which then draw no more numbers) */
    int fissures;               /* an oblique fissure in each lung */
    double calcified;           /* share of solid nodules that are calcified */
    int plugs;                  /* airway branches filled with mucus */
    int streaks;                /* streak artefacts across every slice */
    double sharpen;             /* unsharp-mask gain of a sharp reconstruction kernel */
} style;

static const style styles[] = {
    [MED_PHANTOM_STANDARD] = {3, 9, 0.6, {0.625, 0.8, 1.0, 1.25, 1.5, 2.0, 2.5}, 7, {330, 420}, {0.4, 1.1},
                              {8, 35}, {3, 30}, {0.6, 0.8}, {0.5, 0.75}, 4},
    [MED_PHANTOM_SHIFTED] = {5, 11, 0.45, {2.0, 2.5, 3.0}, 3, {300, 360}, {0.25, 0.45}, {35, 60}, {4, 25},
                             {0.4, 0.65}, {0.35, 0.65}, 4},
};

static double uniform(mc_rng *r, double lo, double hi) { return lo + (hi - lo) * mc_rng_uniform(r); }

/* The varied variant's settings of one study (phantom.h), each drawn on its own: the scanner (slice
 * spacing 0.625-5 mm, field of view, kernel, noise), the vessel trees, the nodule mix and the extra
 * anatomy and artefacts. */
static void draw_varied(mc_rng *r, style *s) {
    static const double steps[] = {0.625, 0.8, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0};
    double step = steps[mc_rng_below(r, sizeof steps / sizeof steps[0])];
    double fov = uniform(r, 300, 420), blur = uniform(r, 0.3, 1.1), noise = exp(uniform(r, log(5), log(45)));
    double solid = uniform(r, 0.35, 0.65), part = solid + uniform(r, 0.1, 0.2), free_share = uniform(r, 0.25, 0.5);
    *s = (style){.branches = 2 + (int)mc_rng_below(r, 3), .max_depth = 8 + (int)mc_rng_below(r, 3),
                 .vessel_min_mm = uniform(r, 0.5, 0.9), .step_mm = {step}, .n_steps = 1, .fov_mm = {fov, fov},
                 .blur_mm = {blur, blur}, .noise_hu = {noise, noise}, .size_mm = {3, 30}, .type_cut = {solid, part},
                 .touch_cut = {free_share, free_share + uniform(r, 0.2, 0.3)}, .max_nodules = MAX_NODULES};
    s->fissures = mc_rng_uniform(r) < 0.7;
    s->calcified = mc_rng_uniform(r) < 0.3 ? 0.3 : 0;
    s->plugs = (int)mc_rng_below(r, MAX_PLUGS + 1);
    s->streaks = mc_rng_uniform(r) < 0.3 ? 2 + (int)mc_rng_below(r, MAX_STREAKS - 1) : 0;
    s->sharpen = mc_rng_uniform(r) < 0.4 ? uniform(r, 0.4, 1.2) : 0;
}

/* A "2.25." UID (an OID derived from a 128-bit number), drawn from r. */
static void make_uid(mc_rng *r, char out[65]) {
    int n = snprintf(out, 65, "2.25.%d", 1 + (int)mc_rng_below(r, 9));
    for (int i = 0; i < 37; i++) out[n++] = (char)('0' + mc_rng_below(r, 10));
    out[n] = '\0';
}

/* A tube from a to b: vessels, airways and spicules. */
typedef struct {
    double a[3], b[3], r;
} segment;

typedef struct {
    double c[3];      /* world centre */
    double d;         /* diameter, mm */
    int type;         /* 0 solid, 1 part-solid, 2 ground-glass */
    int shape;        /* 0 spherical, 1 lobulated, 2 spiculated */
    int touches;      /* 0 free, 1 pleura, 2 vessel */
    int calcified;    /* a solid nodule of calcium density */
    double lobe[6];   /* lobulation harmonics */
    segment spike[10];
    int n_spikes;
} nodule;

static const char *const type_name[] = {"solid", "part-solid", "ground-glass"};
static const char *const shape_name[] = {"spherical", "lobulated", "spiculated"};
static const char *const touch_name[] = {"none", "pleura", "vessel"};

/* The anatomy of one patient, relative to the body centre (bx, by) and the lung centre zc. */
typedef struct {
    double bx, by, zc;
    double body_a, body_b;     /* body ellipse semi-axes, mm */
    double lung_x, lung_a, lung_b, lung_c; /* lung centres at +-lung_x, semi-axes */
    double rib_phase;
    int emphysema;
    segment vessel[MAX_SEGMENTS];
    int n_vessel;
    segment airway[256];
    int n_airway;
    nodule nod[MAX_NODULES];
    int n_nod;
    double fissure[2][4];      /* per lung (right, left) the plane n . p = d of its oblique fissure */
    int n_fissures;
    segment plug[MAX_PLUGS];   /* airway branches filled with mucus */
    int n_plugs;
    double streak[MAX_STREAKS][4]; /* in-plane line through (x, y) at angle, and its HU */
    int n_streaks;
    float texture[16][16][16]; /* smooth parenchymal texture on an 8 mm lattice */
} anatomy;

/* Inside-lung test on world coordinates; returns the normalised ellipsoid radius (< 1 inside).
 * The lungs end inside the ribs (body ellipse radius 0.85) and outside the heart. */
static double lung_rho(const anatomy *an, const double p[3]) {
    double bx = (p[0] - an->bx) / an->body_a, by = (p[1] - an->by) / an->body_b;
    if (bx * bx + by * by > 0.85 * 0.85) return 2;
    double best = 1e9;
    for (int side = -1; side <= 1; side += 2) {
        double x = (p[0] - an->bx - side * an->lung_x) / an->lung_a;
        double y = (p[1] - an->by) / an->lung_b;
        double z = (p[2] - an->zc) / an->lung_c;
        double rho = sqrt(x * x + y * y + z * z);
        if (rho < best) best = rho;
    }
    /* the heart takes the front of the middle */
    double hx = (p[0] - an->bx) / 60.0, hy = (p[1] - an->by + 25) / 55.0, hz = (p[2] - an->zc + 45) / 70.0;
    if (hx * hx + hy * hy + hz * hz < 1) return 2;
    return best;
}

static double seg_dist(const segment *s, const double p[3]) {
    double ab[3], ap[3];
    for (int a = 0; a < 3; a++) {
        ab[a] = s->b[a] - s->a[a];
        ap[a] = p[a] - s->a[a];
    }
    double l2 = ab[0] * ab[0] + ab[1] * ab[1] + ab[2] * ab[2];
    double t = l2 > 0 ? (ap[0] * ab[0] + ap[1] * ab[1] + ap[2] * ab[2]) / l2 : 0;
    t = fmin(1, fmax(0, t));
    double d2 = 0;
    for (int a = 0; a < 3; a++) {
        double q = ap[a] - t * ab[a];
        d2 += q * q;
    }
    return sqrt(d2);
}

/* A unit vector turned from d by angle (radians) about a random perpendicular axis. */
static void turn(mc_rng *r, const double d[3], double angle, double out[3]) {
    double rnd[3] = {mc_rng_normal(r), mc_rng_normal(r), mc_rng_normal(r)};
    double k = rnd[0] * d[0] + rnd[1] * d[1] + rnd[2] * d[2];
    double perp[3] = {rnd[0] - k * d[0], rnd[1] - k * d[1], rnd[2] - k * d[2]};
    double n = sqrt(perp[0] * perp[0] + perp[1] * perp[1] + perp[2] * perp[2]);
    if (n < 1e-9) {
        memcpy(out, d, sizeof(double) * 3);
        return;
    }
    for (int a = 0; a < 3; a++) out[a] = cos(angle) * d[a] + sin(angle) * perp[a] / n;
}

/* A branching tree of tubes from p along d, into segs (n, at most cap). */
static void grow(mc_rng *r, const anatomy *an, segment *segs, int *n, int cap, const double p[3], const double d[3],
                 double len, double radius, double min_radius, int depth, int max_depth) {
    if (*n >= cap || radius < min_radius || depth > max_depth) return;
    segment *s = &segs[(*n)++];
    memcpy(s->a, p, sizeof s->a);
    for (int a = 0; a < 3; a++) s->b[a] = p[a] + len * d[a];
    s->r = radius;
    if (lung_rho(an, s->b) > 1.02 && depth > 1) return;
    for (int c = 0; c < 2; c++) {
        double nd[3];
        turn(r, d, uniform(r, 0.35, 0.7), nd);
        grow(r, an, segs, n, cap, s->b, nd, len * uniform(r, 0.7, 0.9), radius * uniform(r, 0.68, 0.8), min_radius,
             depth + 1, max_depth);
    }
}

static void make_anatomy(mc_rng *r, const style *sty, anatomy *an, double bx, double by, double zc) {
    memset(an, 0, sizeof *an);
    an->bx = bx;
    an->by = by;
    an->zc = zc;
    an->body_a = uniform(r, 145, 175);
    an->body_b = uniform(r, 100, 125);
    an->lung_a = an->body_a * uniform(r, 0.36, 0.42);
    an->lung_x = an->body_a * uniform(r, 0.42, 0.47);
    an->lung_b = an->body_b * uniform(r, 0.62, 0.72);
    an->lung_c = uniform(r, 110, 140);
    an->rib_phase = uniform(r, 0, 28);
    an->emphysema = mc_rng_uniform(r) < 0.25;
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++)
            for (int k = 0; k < 16; k++) an->texture[i][j][k] = (float)mc_rng_normal(r);
    /* trachea and main bronchi, then the airway trees */
    segment *aw = an->airway;
    double top[3] = {bx, by - 15, zc + an->lung_c}, carina[3] = {bx, by - 10, zc + 0.35 * an->lung_c};
    aw[0] = (segment){{top[0], top[1], top[2]}, {carina[0], carina[1], carina[2]}, 8};
    an->n_airway = 1;
    for (int side = -1; side <= 1; side += 2) {
        double d[3] = {side * 0.8, 0.05, -0.6};
        double nrm = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
        for (int a = 0; a < 3; a++) d[a] /= nrm;
        grow(r, an, aw, &an->n_airway, 256, carina, d, 30, 5.5, 1.6, 0, 9);
    }
    /* vessel trees from each hilum, arteries and veins */
    for (int side = -1; side <= 1; side += 2) {
        for (int t = 0; t < 2; t++) {
            double hilum[3] = {bx + side * 35, by + uniform(r, -8, 8), zc + uniform(r, -10, 20)};
            for (int b = 0; b < sty->branches; b++) {
                double d[3] = {side * uniform(r, 0.4, 1.0), uniform(r, -0.6, 0.6), uniform(r, -0.9, 0.9)};
                double nrm = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
                for (int a = 0; a < 3; a++) d[a] /= nrm;
                grow(r, an, an->vessel, &an->n_vessel, MAX_SEGMENTS, hilum, d, uniform(r, 22, 32),
                     uniform(r, 4.0, 5.5), sty->vessel_min_mm, 0, sty->max_depth);
            }
        }
    }
    /* oblique fissures: planes tilted 34-57 degrees from the vertical, from the front of the apex to the
     * back of the base (a real oblique fissure slopes the other way) */
    for (int side = 0; side < 2 && sty->fissures; side++) {
        double tilt = uniform(r, 0.6, 1.0), n[3] = {uniform(r, -0.15, 0.15), cos(tilt), sin(tilt)};
        double c[3] = {bx + (side ? 1 : -1) * an->lung_x, by + uniform(r, -10, 10), zc + uniform(r, -15, 15)};
        memcpy(an->fissure[an->n_fissures], n, sizeof n);
        an->fissure[an->n_fissures++][3] = n[0] * c[0] + n[1] * c[1] + n[2] * c[2];
    }
    /* mucus plugs: airway branches past the main bronchi filled with soft tissue */
    for (int i = 0; i < sty->plugs && an->n_airway > 4; i++)
        an->plug[an->n_plugs++] = an->airway[3 + (int)mc_rng_below(r, (uint64_t)(an->n_airway - 3))];
    for (int i = 0; i < sty->streaks; i++) {
        double *l = an->streak[an->n_streaks++];
        l[0] = bx + uniform(r, -30, 30);
        l[1] = by + an->body_b * 0.62 + uniform(r, -20, 20); /* from the spine */
        l[2] = uniform(r, 0, 3.14159265);
        l[3] = (mc_rng_below(r, 2) ? 1 : -1) * uniform(r, 40, 150);
    }
}

/* A point inside the lungs at least margin mm from their surface, within [z0, z1]. */
static int lung_point(mc_rng *r, const anatomy *an, double margin, double z0, double z1, double p[3]) {
    for (int tries = 0; tries < 2000; tries++) {
        int side = mc_rng_below(r, 2) ? 1 : -1;
        p[0] = an->bx + side * an->lung_x + uniform(r, -1, 1) * an->lung_a;
        p[1] = an->by + uniform(r, -1, 1) * an->lung_b;
        p[2] = uniform(r, z0, z1);
        double rho = lung_rho(an, p);
        double scale = fmin(an->lung_a, fmin(an->lung_b, an->lung_c));
        if (rho < 1 - margin / scale) return 0;
    }
    return -1;
}

static void make_nodules(mc_rng *r, const style *sty, anatomy *an, double z0, double z1) {
    int n = (int)mc_rng_below(r, (uint64_t)sty->max_nodules + 1);
    for (int i = 0; i < n; i++) {
        nodule *nd = &an->nod[an->n_nod];
        memset(nd, 0, sizeof *nd);
        nd->d = exp(uniform(r, log(sty->size_mm[0]), log(sty->size_mm[1])));
        double rad = nd->d / 2;
        double u = mc_rng_uniform(r);
        nd->type = u < sty->type_cut[0] ? 0 : u < sty->type_cut[1] ? 1 : 2;
        nd->calcified = sty->calcified > 0 && nd->type == 0 && mc_rng_uniform(r) < sty->calcified;
        nd->shape = (int)mc_rng_below(r, 3);
        double where = mc_rng_uniform(r);
        nd->touches = where < sty->touch_cut[0] ? 0 : where < sty->touch_cut[1] ? 1 : 2; /* free, pleura, vessel */
        double zlo = z0 + rad + 1, zhi = z1 - rad - 1;
        if (zhi <= zlo) continue;
        if (nd->touches == 2 && an->n_vessel > 0) {
            /* beside a vessel inside the covered range */
            int found = 0;
            for (int t = 0; t < 200 && !found; t++) {
                const segment *v = &an->vessel[mc_rng_below(r, (uint64_t)an->n_vessel)];
                double c[3];
                for (int a = 0; a < 3; a++) c[a] = 0.5 * (v->a[a] + v->b[a]);
                double off[3] = {mc_rng_normal(r), mc_rng_normal(r), mc_rng_normal(r)};
                double k = sqrt(off[0] * off[0] + off[1] * off[1] + off[2] * off[2]);
                for (int a = 0; a < 3; a++) nd->c[a] = c[a] + off[a] / k * (rad + v->r * 0.8);
                found = nd->c[2] > zlo && nd->c[2] < zhi && lung_rho(an, nd->c) < 0.85 && v->r > 1.0;
            }
            if (!found) nd->touches = 0;
        }
        if (nd->touches == 1) {
            /* just inside the lung surface, so that the nodule meets the chest wall */
            int found = 0;
            for (int t = 0; t < 500 && !found; t++) {
                if (lung_point(r, an, 0, zlo, zhi, nd->c) != 0) break;
                int side = nd->c[0] > an->bx ? 1 : -1;
                double x = (nd->c[0] - an->bx - side * an->lung_x) / an->lung_a;
                double y = (nd->c[1] - an->by) / an->lung_b;
                double z = (nd->c[2] - an->zc) / an->lung_c;
                double rho = sqrt(x * x + y * y + z * z);
                if (rho < 0.3) continue;
                double target = 1 - 0.8 * rad / fmin(an->lung_a, an->lung_b);
                nd->c[0] = an->bx + side * an->lung_x + x / rho * target * an->lung_a;
                nd->c[1] = an->by + y / rho * target * an->lung_b;
                nd->c[2] = an->zc + z / rho * target * an->lung_c;
                found = nd->c[2] > zlo && nd->c[2] < zhi && lung_rho(an, nd->c) < 1;
            }
            if (!found) nd->touches = 0;
        }
        if (nd->touches == 0 && lung_point(r, an, rad + 3, zlo, zhi, nd->c) != 0) continue;
        for (int h = 0; h < 6; h++) nd->lobe[h] = nd->shape >= 1 ? uniform(r, -0.12, 0.12) : 0;
        if (nd->shape == 2) {
            nd->n_spikes = 4 + (int)mc_rng_below(r, 7);
            for (int s = 0; s < nd->n_spikes; s++) {
                double d[3] = {mc_rng_normal(r), mc_rng_normal(r), mc_rng_normal(r)};
                double k = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
                double len = rad * uniform(r, 1.4, 2.2);
                for (int a = 0; a < 3; a++) {
                    nd->spike[s].a[a] = nd->c[a];
                    nd->spike[s].b[a] = nd->c[a] + d[a] / k * len;
                }
                nd->spike[s].r = fmax(0.5, rad * 0.12);
            }
        }
        an->n_nod++;
    }
}

/* Smooth lattice noise in [-1, 1]-ish at world point p (8 mm cells, trilinear). */
static double texture(const anatomy *an, const double p[3]) {
    double u[3] = {(p[0] - an->bx) / 8.0 + 64, (p[1] - an->by) / 8.0 + 64, (p[2] - an->zc) / 8.0 + 64};
    int i[3];
    double f[3];
    for (int a = 0; a < 3; a++) {
        i[a] = (int)floor(u[a]);
        f[a] = u[a] - i[a];
    }
    double s = 0;
    for (int c = 0; c < 8; c++) {
        double w = 1;
        int q[3];
        for (int a = 0; a < 3; a++) {
            int bit = (c >> a) & 1;
            w *= bit ? f[a] : 1 - f[a];
            q[a] = (i[a] + bit) & 15;
        }
        s += w * an->texture[q[0]][q[1]][q[2]];
    }
    return s;
}

/* Body, lungs, heart, spine and ribs at world point p. */
static float tissue(const anatomy *an, const double p[3]) {
    double x = p[0] - an->bx, y = p[1] - an->by;
    double e = sqrt((x / an->body_a) * (x / an->body_a) + (y / an->body_b) * (y / an->body_b));
    if (e > 1) return AIR_HU;
    /* spine: vertebral body behind the heart, with the canal behind it */
    double sy = an->body_b * 0.62;
    double dv = sqrt(x * x + (y - sy) * (y - sy)), dc = sqrt(x * x + (y - sy - 24) * (y - sy - 24));
    if (dc < 7) return 15;
    if (dv < 17) return dv > 14 ? 750 : 250;
    /* ribs: bands of the body ellipse that climb towards the back */
    double theta = atan2(y, x);
    double zr = p[2] - an->zc + an->rib_phase + 12 * sin(theta);
    double band = zr - 28 * floor(zr / 28);
    if (e > 0.86 && e < 0.93 && band < 8 && !(theta < -1.2 && theta > -1.95)) return BONE_HU;
    if (e > 0.92) return FAT_HU;
    double rho = lung_rho(an, p);
    if (rho < 1) {
        double t = texture(an, p);
        if (an->emphysema && t > 1.1) return -965;
        return (float)(LUNG_HU + 25 * t);
    }
    return SOFT_HU;
}

/* Paints the tubes onto v: value inside radius (+ extra), only over lung unless everywhere. */
static void paint_tubes(med_volume *v, const segment *segs, int n, double extra, float value, int only_lung) {
    for (int s = 0; s < n; s++) {
        const segment *g = &segs[s];
        double rr = g->r + extra;
        int lo[3], hi[3];
        for (int a = 0; a < 3; a++) {
            double mn = fmin(g->a[a], g->b[a]) - rr - 1, mx = fmax(g->a[a], g->b[a]) + rr + 1;
            double o = v->origin[a], sp = v->spacing[a];
            lo[a] = (int)floor((mn - o) / sp);
            hi[a] = (int)ceil((mx - o) / sp);
        }
        int dims[3] = {v->nx, v->ny, v->nz};
        for (int a = 0; a < 3; a++) {
            if (lo[a] < 0) lo[a] = 0;
            if (hi[a] > dims[a] - 1) hi[a] = dims[a] - 1;
        }
        for (int k = lo[2]; k <= hi[2]; k++)
            for (int j = lo[1]; j <= hi[1]; j++)
                for (int i = lo[0]; i <= hi[0]; i++) {
                    double p[3] = {v->origin[0] + i * v->spacing[0], v->origin[1] + j * v->spacing[1],
                                   v->origin[2] + k * v->spacing[2]};
                    double d = seg_dist(g, p);
                    if (d > rr + 0.5) continue;
                    float *h = &v->hu[med_volume_index(v, i, j, k)];
                    if (only_lung && *h > -500) continue;
                    double w = fmin(1, rr + 0.5 - d); /* partial volume over the last half millimetre */
                    *h = (float)((1 - w) * *h + w * value);
                }
    }
}

static void paint_nodule(med_volume *v, const nodule *nd) {
    double rad = nd->d / 2, reach = rad * 1.3 + 1;
    for (int k = 0; k < v->nz; k++) {
        double z = v->origin[2] + k * v->spacing[2];
        if (fabs(z - nd->c[2]) > reach) continue;
        for (int j = 0; j < v->ny; j++) {
            double y = v->origin[1] + j * v->spacing[1];
            if (fabs(y - nd->c[1]) > reach) continue;
            for (int i = 0; i < v->nx; i++) {
                double x = v->origin[0] + i * v->spacing[0];
                double q[3] = {x - nd->c[0], y - nd->c[1], z - nd->c[2]};
                double d = sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2]);
                if (d > reach) continue;
                double r = rad;
                if (d > 1e-9) {
                    double ux = q[0] / d, uy = q[1] / d, uz = q[2] / d;
                    r *= 1 + nd->lobe[0] * sin(3 * atan2(uy, ux)) + nd->lobe[1] * cos(2 * acos(uz)) +
                         nd->lobe[2] * sin(5 * atan2(uz, ux)) + nd->lobe[3] * cos(4 * atan2(uy, uz));
                }
                double w = fmin(1, fmax(0, r + 0.5 - d));
                float value = nd->type == 0 ? (nd->calcified ? 700.0f : 45.0f) : -560.0f;
                if (nd->type == 1 && d < 0.5 * r) value = 30.0f;
                float *h = &v->hu[med_volume_index(v, i, j, k)];
                if (w > 0) *h = (float)((1 - w) * *h + w * fmax(*h, value));
            }
        }
    }
    segment spikes[10];
    memcpy(spikes, nd->spike, sizeof spikes);
    paint_tubes(v, spikes, nd->n_spikes, 0, nd->type == 0 ? 30.0f : -600.0f, 1);
}

/* In-plane Gaussian blur of standard deviation sigma voxels. */
static void blur_inplane(med_volume *v, double sigma) {
    int rad = (int)ceil(3 * sigma);
    if (rad < 1) return;
    double *kern = malloc(sizeof(double) * (size_t)(2 * rad + 1));
    float *line = malloc(sizeof(float) * (size_t)(v->nx > v->ny ? v->nx : v->ny));
    if (!kern || !line) {
        free(kern);
        free(line);
        return;
    }
    double sum = 0;
    for (int t = -rad; t <= rad; t++) sum += kern[t + rad] = exp(-0.5 * t * t / (sigma * sigma));
    for (int t = 0; t <= 2 * rad; t++) kern[t] /= sum;
    for (int k = 0; k < v->nz; k++) {
        for (int j = 0; j < v->ny; j++) {
            float *row = &v->hu[med_volume_index(v, 0, j, k)];
            for (int i = 0; i < v->nx; i++) {
                double s = 0;
                for (int t = -rad; t <= rad; t++) {
                    int q = i + t < 0 ? 0 : i + t >= v->nx ? v->nx - 1 : i + t;
                    s += kern[t + rad] * row[q];
                }
                line[i] = (float)s;
            }
            memcpy(row, line, sizeof(float) * (size_t)v->nx);
        }
        for (int i = 0; i < v->nx; i++) {
            for (int j = 0; j < v->ny; j++) {
                double s = 0;
                for (int t = -rad; t <= rad; t++) {
                    int q = j + t < 0 ? 0 : j + t >= v->ny ? v->ny - 1 : j + t;
                    s += kern[t + rad] * v->hu[med_volume_index(v, i, q, k)];
                }
                line[j] = (float)s;
            }
            for (int j = 0; j < v->ny; j++) v->hu[med_volume_index(v, i, j, k)] = line[j];
        }
    }
    free(kern);
    free(line);
}

/* Oblique fissures: a pleural sheet about 0.5 mm thick through each lung, partial volume over the next
 * half millimetre. */
static void paint_fissures(med_volume *v, const anatomy *an) {
    for (int k = 0; k < v->nz; k++)
        for (int j = 0; j < v->ny; j++)
            for (int i = 0; i < v->nx; i++) {
                float *h = &v->hu[med_volume_index(v, i, j, k)];
                if (*h > -500) continue;
                double p[3] = {v->origin[0] + i * v->spacing[0], v->origin[1] + j * v->spacing[1],
                               v->origin[2] + k * v->spacing[2]};
                const double *f = an->fissure[p[0] > an->bx];
                double d = fabs(f[0] * p[0] + f[1] * p[1] + f[2] * p[2] - f[3]);
                if (d >= 0.75 || lung_rho(an, p) >= 1) continue;
                double w = fmin(1, 0.75 - d);
                *h = (float)((1 - w) * *h + w * -250.0);
            }
}

/* A sharp reconstruction kernel: unsharp masking in plane, gain times the detail under 1 voxel. */
static void sharpen_inplane(med_volume *v, double gain) {
    size_t n = (size_t)v->nx * (size_t)v->ny * (size_t)v->nz;
    med_volume *smooth = med_volume_new(v->nx, v->ny, v->nz, v->spacing, v->origin, v->dir, 0);
    if (!smooth) return;
    memcpy(smooth->hu, v->hu, sizeof(float) * n);
    blur_inplane(smooth, 1.0);
    for (size_t p = 0; p < n; p++) v->hu[p] += (float)(gain * (v->hu[p] - smooth->hu[p]));
    med_volume_free(smooth);
}

/* Streak artefacts: narrow bright or dark lines from the spine across every slice inside the body. */
static void paint_streaks(med_volume *v, const anatomy *an) {
    for (int j = 0; j < v->ny; j++)
        for (int i = 0; i < v->nx; i++) {
            double x = v->origin[0] + i * v->spacing[0], y = v->origin[1] + j * v->spacing[1], add = 0;
            double ex = (x - an->bx) / an->body_a, ey = (y - an->by) / an->body_b;
            if (ex * ex + ey * ey > 1) continue;
            for (int s = 0; s < an->n_streaks; s++) {
                const double *l = an->streak[s];
                double d = fabs((x - l[0]) * sin(l[2]) - (y - l[1]) * cos(l[2]));
                add += l[3] * exp(-0.5 * d * d / 0.64);
            }
            for (int k = 0; k < v->nz; k++) v->hu[med_volume_index(v, i, j, k)] += (float)add;
        }
}

static int mkdir_p(const char *path) {
    char buf[4200];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(buf, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

/* The CSV files, open while the studies are written. */
typedef struct {
    FILE *ann, *nod, *clin, *truth;
} csv_files;

/* Draws the clinical record and the malignancy label of a study; writes its rows. */
static void write_clinical(mc_rng *r, const csv_files *f, const char *uid, const char *pid, int age, const char *sex,
                           const anatomy *an) {
    double u = mc_rng_uniform(r);
    const char *smoking = u < 0.3 ? "never" : u < 0.7 ? "former" : "current";
    int pack_years = strcmp(smoking, "never") == 0 ? 0 : 5 + (int)mc_rng_below(r, 60);
    int family = mc_rng_uniform(r) < 0.15;
    double max_d = 0;
    int spiculated = 0, subsolid = 0;
    for (int i = 0; i < an->n_nod; i++) {
        if (an->nod[i].d > max_d) {
            max_d = an->nod[i].d;
            spiculated = an->nod[i].shape == 2;
            subsolid = an->nod[i].type == 1;
        }
    }
    double z = -4.2 + 0.04 * (age - 60) + 0.025 * pack_years + 0.9 * family + 0.6 * an->emphysema +
               0.15 * (max_d - 8) + 1.4 * spiculated + 0.8 * subsolid;
    double risk = an->n_nod ? 1 / (1 + exp(-z)) : 0;
    int malignant = mc_rng_uniform(r) < risk;
    static const char *const symptoms[] = {"no symptoms", "chronic cough", "dyspnoea on exertion",
                                           "weight loss", "haemoptysis", "screening"};
    const char *symptom = symptoms[mc_rng_below(r, 6)];
    char packs[32] = "";
    if (pack_years) snprintf(packs, sizeof packs, ", %d pack-years", pack_years);
    fprintf(f->clin, "%s,%s,%d,%s,%s,%d,%d,\"%s smoker%s, %s%s\"\n", uid, pid, age, sex, smoking, family,
            an->emphysema, smoking, packs, symptom, family ? ", mother had lung cancer" : "");
    fprintf(f->truth, "%s,%d,%.4f\n", uid, malignant, risk);
    for (int i = 0; i < an->n_nod; i++) {
        const nodule *nd = &an->nod[i];
        fprintf(f->ann, "%s,%.3f,%.3f,%.3f,%.3f\n", uid, nd->c[0], nd->c[1], nd->c[2], nd->d);
        fprintf(f->nod, "%s,%.3f,%.3f,%.3f,%.3f,%s,%s,%s\n", uid, nd->c[0], nd->c[1], nd->c[2], nd->d,
                type_name[nd->type], shape_name[nd->shape], touch_name[nd->touches]);
    }
}

static mc_status write_study(mc_rng *r, const char *dir, int index, const med_phantom_options *o, const csv_files *f,
                             anatomy *an, med_phantom_study *out, mc_error *err) {
    style varied;
    const style *sty = &styles[o->variant];
    if (o->variant == MED_PHANTOM_VARIED) {
        draw_varied(r, &varied);
        sty = &varied;
    }
    static const med_dicom_codec codecs[] = {MED_CODEC_EXPLICIT_LE, MED_CODEC_EXPLICIT_LE, MED_CODEC_IMPLICIT_LE,
                                             MED_CODEC_RLE, MED_CODEC_JPEG_LS, MED_CODEC_JPEG_LOSSLESS};
    double fov = uniform(r, sty->fov_mm[0], sty->fov_mm[1]);
    double ps = fov / o->size;
    double dz = sty->step_mm[mc_rng_below(r, (uint64_t)sty->n_steps)];
    int nz = o->slices > 0 ? o->slices : (int)lround(uniform(r, 110, 160) / dz);
    double bx = uniform(r, -15, 15), by = uniform(r, -20, 25), zc = uniform(r, -250, 50);
    make_anatomy(r, sty, an, bx, by, zc);
    /* the scanned range: around the lung centre, shifted */
    double z0 = zc - 0.5 * nz * dz + uniform(r, -0.2, 0.2) * an->lung_c;
    make_nodules(r, sty, an, z0, z0 + (nz - 1) * dz);
    double origin[3] = {bx - fov / 2 + uniform(r, -10, 10), by - fov / 2 + uniform(r, -10, 10), z0};
    double spacing[3] = {ps, ps, dz};
    double dir3[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
    med_volume *v = med_volume_new(o->size, o->size, nz, spacing, origin, dir3, AIR_HU);
    if (!v) return mc_error_set(err, MC_ERR_NOMEM, "phantom: out of memory");
    for (int k = 0; k < nz; k++)
        for (int j = 0; j < o->size; j++)
            for (int i = 0; i < o->size; i++) {
                double p[3] = {origin[0] + i * ps, origin[1] + j * ps, origin[2] + k * dz};
                v->hu[med_volume_index(v, i, j, k)] = tissue(an, p);
            }
    if (an->n_fissures == 2) paint_fissures(v, an);
    paint_tubes(v, an->vessel, an->n_vessel, 0, SOFT_HU, 1);
    paint_tubes(v, an->airway, an->n_airway, 1.5, SOFT_HU, 0);
    paint_tubes(v, an->airway, an->n_airway, 0, AIR_HU, 0);
    paint_tubes(v, an->plug, an->n_plugs, 0, SOFT_HU, 0);
    for (int i = 0; i < an->n_nod; i++) paint_nodule(v, &an->nod[i]);
    blur_inplane(v, uniform(r, sty->blur_mm[0], sty->blur_mm[1]) / ps);
    if (sty->sharpen > 0) sharpen_inplane(v, sty->sharpen);
    if (an->n_streaks) paint_streaks(v, an);
    double noise = uniform(r, sty->noise_hu[0], sty->noise_hu[1]);

    char patient_id[32], name[64], study_uid[65], series_uid[65], frame_uid[65], folder[4200];
    snprintf(patient_id, sizeof patient_id, "PH%06d", (int)mc_rng_below(r, 1000000));
    snprintf(name, sizeof name, "PHANTOM^CASE%03d", index + 1);
    make_uid(r, study_uid);
    make_uid(r, series_uid);
    make_uid(r, frame_uid);
    int age = 50 + (int)mc_rng_below(r, 31);
    const char *sex = mc_rng_below(r, 2) ? "M" : "F";
    char age_s[16], birth[40], date[40];
    snprintf(age_s, sizeof age_s, "%03dY", age);
    int year = 2020 + (int)mc_rng_below(r, 6), month = 1 + (int)mc_rng_below(r, 12), day = 1 + (int)mc_rng_below(r, 28);
    snprintf(date, sizeof date, "%04d%02d%02d", year, month, day);
    snprintf(birth, sizeof birth, "%04d%02d%02d", year - age, month, day);
    med_dicom_codec codec = codecs[mc_rng_below(r, 6)];
    int descending = mc_rng_below(r, 2) == 1;
    int is_unsigned = mc_rng_below(r, 2) == 1;
    double intercept = is_unsigned ? -1024 : (mc_rng_below(r, 2) ? -1024 : 0);
    snprintf(folder, sizeof folder, "%s/study_%03d/series_%d", dir, index + 1, 2 + (int)mc_rng_below(r, 8));
    mc_status st = mkdir_p(folder) == 0 ? MC_OK : mc_error_set(err, MC_ERR_IO, "%s: cannot create: %s", folder, strerror(errno));
    /* the nominal thickness is often more than the spacing (overlapping reconstructions) */
    double thickness = dz * (mc_rng_below(r, 3) == 0 ? 1.6 : 1.0);
    int16_t *pix = malloc(sizeof(int16_t) * (size_t)o->size * (size_t)o->size);
    if (st == MC_OK && !pix) st = mc_error_set(err, MC_ERR_NOMEM, "phantom: out of memory");
    for (int k = 0; k < nz && st == MC_OK; k++) {
        for (int p = 0; p < o->size * o->size; p++) {
            double hu = v->hu[(size_t)k * (size_t)o->size * (size_t)o->size + (size_t)p] + noise * mc_rng_normal(r);
            hu = fmin(3071, fmax(-1024, hu));
            long stored = lround(hu - intercept);
            pix[p] = is_unsigned ? (int16_t)(uint16_t)stored : (int16_t)stored;
        }
        char sop[65], path[4400];
        make_uid(r, sop);
        /* random names: neither the name nor the instance number gives the slice order */
        snprintf(path, sizeof path, "%s/IMG_%08llx.dcm", folder, (unsigned long long)mc_rng_below(r, 0xffffffffULL));
        med_dicom_slice s = {
            .study_uid = study_uid, .series_uid = series_uid, .sop_uid = sop, .frame_of_reference_uid = frame_uid,
            .patient_name = name, .patient_id = patient_id, .patient_birth_date = birth, .patient_sex = sex,
            .patient_age = age_s, .study_date = date, .study_time = "081500", .series_description = "CHEST PHANTOM",
            .manufacturer = "moesuite phantom", .series_number = 2, .rows = o->size, .cols = o->size, .pixels = pix,
            .is_unsigned = is_unsigned, .slope = 1, .intercept = intercept,
            .position = {origin[0], origin[1], origin[2] + k * dz}, .orientation = {1, 0, 0, 0, 1, 0},
            .pixel_spacing = {ps, ps}, .slice_thickness = thickness, .kvp = 120, .codec = codec};
        s.instance_number = descending ? nz - k : k + 1;
        st = med_dicom_write_slice(path, &s, err);
    }
    free(pix);
    if (st == MC_OK) {
        write_clinical(r, f, series_uid, patient_id, age, sex, an);
        snprintf(out->series_uid, sizeof out->series_uid, "%s", series_uid);
        snprintf(out->folder, sizeof out->folder, "%s", folder);
        out->cols = out->rows = o->size;
        out->slices = nz;
        out->spacing[0] = out->spacing[1] = ps;
        out->spacing[2] = dz;
        out->n_nodules = an->n_nod;
        out->codec = med_dicom_codec_name(codec);
        out->descending = descending;
    }
    med_volume_free(v);
    return st;
}

mc_status med_phantom_write(const char *dir, const med_phantom_options *o, med_phantom_fn on_study, void *user,
                            mc_error *err) {
    if (o->n < 1 || o->size < 32 || o->slices < 0 || (o->variant != MED_PHANTOM_STANDARD && o->variant != MED_PHANTOM_SHIFTED && o->variant != MED_PHANTOM_VARIED))
        return mc_error_set(err, MC_ERR_ARG, "phantom: invalid options");
    if (mkdir_p(dir) != 0) return mc_error_set(err, MC_ERR_IO, "%s: cannot create: %s", dir, strerror(errno));
    csv_files f = {0};
    FILE **files[4] = {&f.ann, &f.nod, &f.clin, &f.truth};
    static const char *const names[4] = {"annotations.csv", "nodules.csv", "clinical.csv", "truth.csv"};
    static const char *const headers[4] = {
        "seriesuid,coordX,coordY,coordZ,diameter_mm\n",
        "seriesuid,coordX,coordY,coordZ,diameter_mm,type,shape,touches\n",
        "seriesuid,patient_id,age,sex,smoking,family_history,emphysema,note\n",
        "seriesuid,malignant,risk\n"};
    mc_status st = MC_OK;
    for (int i = 0; i < 4 && st == MC_OK; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (!(*files[i] = fopen(path, "w"))) st = mc_error_set(err, MC_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        else fputs(headers[i], *files[i]);
    }
    mc_rng *r = mc_rng_create(o->seed);
    anatomy *an = malloc(sizeof *an);
    if (st == MC_OK && (!r || !an)) st = mc_error_set(err, MC_ERR_NOMEM, "phantom: out of memory");
    for (int i = 0; i < o->n && st == MC_OK; i++) {
        med_phantom_study s;
        st = write_study(r, dir, i, o, &f, an, &s, err);
        if (st == MC_OK && on_study) on_study(user, &s);
    }
    for (int i = 0; i < 4; i++)
        if (*files[i] && fclose(*files[i]) != 0 && st == MC_OK)
            st = mc_error_set(err, MC_ERR_IO, "%s/%s: cannot write", dir, names[i]);
    free(an);
    mc_rng_destroy(r);
    return st;
}
