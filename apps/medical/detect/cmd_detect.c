/* cmd_detect.c: `moe-medical detect`: finds lung nodules in CT series with the trained detector
 * (detector.h): candidates, CNN scores, each candidate's diameter bounded by its measured extent,
 * 3D non-maximum suppression by that extent, then per finding its world position, the candidate's
 * blob diameter, the CNN's probability, (bounded) diameter and type, Lung-RADS category and, with
 * clinical data, the fused
 * malignancy risk and the Brock risk (fusion.h). Results go to stdout, optionally to the database,
 * to a LUNA16-style predictions CSV and to PNG images (each finding's axial slice, and one montage
 * per series). Each series is one input, rejected by name when it cannot be read, and the batch goes on. */
#include <cairo.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "commands.h"
#include "detector.h"
#include "findings_schema.h"
#include "med_schema.h"
#include "risk/fusion.h"
#include "moecore/log.h"
#include "moecore/model_io.h"
#include "moecore/outfile.h"
#include "moecore/run.h"
#include "moecore/safe_name.h"
#include "resample.h"

#define DEFAULT_MODEL "data/samples/medical/detector.safetensors"

typedef struct {
    const char *model_path, *clinical, *candidates_out, *images;
    int store;
    double threshold;
    long max_findings, max_candidates;
} detect_opts;

static const mc_option options[] = {
    {"model", 'm', "PATH", "the detector (moe-medical train)", DEFAULT_MODEL},
    {"clinical", 0, "CSV", "clinical records (seriesuid or patient_id, age, sex, smoking, ...): adds malignancy and Brock risks", NULL},
    {"candidates-out", 0, "CSV", "write every scored candidate after suppression: seriesuid,coordX,coordY,coordZ,probability,diameter_mm,response,type,cnn_diameter_mm,density_type", NULL},
    {"images", 0, "DIR", "write a PNG per finding (axial slice, nodule circled) and a montage per series", NULL},
    {"store", 0, NULL, "record the findings in the database", NULL},
    {"threshold", 0, "P", "smallest nodule probability reported as a finding (0.08 false positives per scan on the\n"
                               "shifted evaluation studies, 0.2 on standard ones: docs/medical.md)", "0.8"},
    {"max-findings", 0, "N", "findings per series at most, most probable first", "10"},
    {"max-candidates", 0, "N", "candidates per series the network scores, strongest blobs first (more: more sensitive, slower)", "300"},
};

static int on_option(const mc_ctx *ctx, void *user, int index, const char *arg) {
    detect_opts *o = user;
    switch (index) {
    case 0: o->model_path = arg; return 0;
    case 1: o->clinical = arg; return 0;
    case 2: o->candidates_out = arg; return 0;
    case 3: o->images = arg; return 0;
    case 4: o->store = 1; return 0;
    case 5: return mc_cli_real(ctx, "threshold", arg, 0, 1, &o->threshold);
    case 6: return mc_cli_int(ctx, "max-findings", arg, 1, 1000, &o->max_findings);
    default: return mc_cli_int(ctx, "max-candidates", arg, 1, 100000, &o->max_candidates);
    }
}

/* The model's identity: FNV-1a 64 of its file's bytes, as 16 hex digits. */
static int model_hash(const char *path, char out[17]) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    uint64_t h = 0xcbf29ce484222325ULL;
    unsigned char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        for (size_t i = 0; i < n; i++) h = (h ^ buf[i]) * 0x100000001b3ULL;
    int bad = ferror(f);
    fclose(f);
    snprintf(out, 17, "%016" PRIx64, h);
    return bad ? -1 : 0;
}

typedef struct {
    mc_model *model;
    char hash[17];
    med_fusion fusion;
    int has_fusion;
    med_clinical *rows;
    int n_rows;
    FILE *csv;          /* --candidates-out, written to out's temporary file */
    mc_outfile out;
} detect_env;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Draws the axial slice k of v, windowed for the lungs, with a circle around each finding on it.
 * The region (x0, y0, w, h) in voxels is drawn scaled by zoom into cr at (dx, dy). */
static void draw_slice(cairo_t *cr, const med_volume *v, int k, int x0, int y0, int w, int h, double zoom, double dx,
                       double dy) {
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(s);
        return;
    }
    cairo_surface_flush(s);
    unsigned char *px = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int i = x0 + x, j = y0 + y;
            float hu = i >= 0 && j >= 0 && i < v->nx && j < v->ny && k >= 0 && k < v->nz ? v->hu[med_volume_index(v, i, j, k)]
                                                                                          : -1000.0f;
            float g;
            med_window(&hu, 1, -600, 1500, &g);
            uint32_t c = (uint32_t)(g * 255 + 0.5f);
            ((uint32_t *)(px + (size_t)y * (size_t)stride))[x] = c << 16 | c << 8 | c;
        }
    cairo_surface_mark_dirty(s);
    cairo_save(cr);
    cairo_translate(cr, dx, dy);
    cairo_scale(cr, zoom, zoom);
    cairo_set_source_surface(cr, s, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_BILINEAR);
    cairo_paint(cr);
    cairo_restore(cr);
    cairo_surface_destroy(s);
}

/* A circle of radius r around (cx, cy) and its label, both kept inside the box (x0, y0, w, h): the
 * label goes right of the circle where it fits, else left of it. */
static void draw_circle(cairo_t *cr, double x0, double y0, double w, double h, double cx, double cy, double r,
                        const char *label) {
    cairo_save(cr);
    cairo_rectangle(cr, x0, y0, w, h);
    cairo_clip(cr);
    cairo_set_source_rgb(cr, 1.0, 0.2, 0.1);
    cairo_set_line_width(cr, 2);
    cairo_new_path(cr);
    cairo_arc(cr, cx, cy, r, 0, 2 * M_PI);
    cairo_stroke(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 12);
    cairo_text_extents_t ext;
    cairo_text_extents(cr, label, &ext);
    double lx = cx + r + 3 + ext.x_advance <= x0 + w ? cx + r + 3 : cx - r - 3 - ext.x_advance;
    lx = fmax(x0 + 2, fmin(lx, x0 + w - ext.x_advance - 2));
    double ly = fmax(y0 + 14, fmin(cy - r, y0 + h - 4));
    cairo_move_to(cr, lx, ly);
    cairo_show_text(cr, label);
    cairo_restore(cr);
}

static mc_status write_png(cairo_surface_t *s, const char *path, mc_error *err) {
    if (cairo_surface_write_to_png(s, path) != CAIRO_STATUS_SUCCESS)
        return mc_error_set(err, MC_ERR_IO, "%s: cannot write the image", path);
    return MC_OK;
}

/* DIR/UID_N.png for each finding (the whole axial slice through it, zoomed 2x), and DIR/UID.png, a
 * montage of 64 mm crops around every finding (a blank tile with the series UID when none). */
static mc_status write_images(const char *dir, const char *uid, const med_volume *v, const med_finding *f, int n,
                              mc_error *err) {
    char path[4600], label[64], name[128];
    mc_safe_name(name, sizeof name, uid); /* the UID is read from the files */
    mc_status st = MC_OK;
    for (int a = 0; a < n && st == MC_OK; a++) {
        const double zoom = 2;
        cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)(v->nx * zoom), (int)(v->ny * zoom));
        cairo_t *cr = cairo_create(s);
        draw_slice(cr, v, (int)lround(f[a].k), 0, 0, v->nx, v->ny, zoom, 0, 0);
        snprintf(label, sizeof label, "#%d p=%.2f %.1f mm", f[a].index, f[a].probability, f[a].diameter_mm);
        draw_circle(cr, 0, 0, v->nx * zoom, v->ny * zoom, (f[a].i + 0.5) * zoom, (f[a].j + 0.5) * zoom,
                    fmax(f[a].diameter_mm / 2 + 2, 4) * zoom, label);
        cairo_destroy(cr);
        snprintf(path, sizeof path, "%s/%s_%d.png", dir, name, f[a].index);
        st = write_png(s, path, err);
        cairo_surface_destroy(s);
    }
    if (st != MC_OK) return st;
    enum { TILE = 64, ZOOM = 3, COLS = 4 };
    int cols = n < COLS ? (n > 0 ? n : 1) : COLS, rows = n > 0 ? (n + COLS - 1) / COLS : 1;
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, cols * TILE * ZOOM, rows * TILE * ZOOM + 20);
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_paint(cr);
    for (int a = 0; a < n; a++) {
        double tx = (a % COLS) * TILE * ZOOM, ty = 20 + (a / COLS) * TILE * ZOOM;
        int x0 = (int)lround(f[a].i) - TILE / 2, y0 = (int)lround(f[a].j) - TILE / 2;
        draw_slice(cr, v, (int)lround(f[a].k), x0, y0, TILE, TILE, ZOOM, tx, ty);
        snprintf(label, sizeof label, "#%d %.2f", f[a].index, f[a].probability);
        draw_circle(cr, tx, ty, TILE * ZOOM, TILE * ZOOM, tx + (f[a].i + 0.5 - x0) * ZOOM, ty + (f[a].j + 0.5 - y0) * ZOOM,
                    fmax(f[a].diameter_mm / 2 + 2, 4) * ZOOM, label);
    }
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_set_font_size(cr, 12);
    snprintf(path, sizeof path, "%s: %d finding%s", uid, n, n == 1 ? "" : "s");
    cairo_text_extents_t ext;
    cairo_text_extents(cr, path, &ext);
    double room = cols * TILE * ZOOM - 8; /* a narrow montage shrinks its title to fit */
    if (ext.x_advance > room) cairo_set_font_size(cr, 12 * room / ext.x_advance);
    cairo_move_to(cr, 4, 14);
    cairo_show_text(cr, path);
    cairo_destroy(cr);
    snprintf(path, sizeof path, "%s/%s.png", dir, name);
    st = write_png(s, path, err);
    cairo_surface_destroy(s);
    return st;
}

static json_t *finding_json(const char *uid, const med_finding *f) {
    json_t *j = json_pack("{s:s, s:i, s:f, s:f, s:f, s:f, s:f, s:s, s:f, s:s}", "series_uid", uid, "finding", f->index,
                          "x_mm", f->x, "y_mm", f->y, "z_mm", f->z, "diameter_mm", f->diameter_mm, "probability",
                          f->probability, "type", med_nodule_type_name(f->type), "solid_mm", f->solid_mm, "lungrads",
                          med_lungrads_name(f->lungrads));
    json_object_set_new(j, "blob_diameter_mm", json_real(f->blob_diameter_mm));
    json_object_set_new(j, "malignancy", isnan(f->malignancy) ? json_null() : json_real(f->malignancy));
    json_object_set_new(j, "brock", isnan(f->brock) ? json_null() : json_real(f->brock));
    const char *unsure = med_unsure_name(f->uncertain);
    json_object_set_new(j, "uncertain", unsure ? json_string(unsure) : json_null());
    return j;
}

/* One series: detection, outputs, record. Returns 0, or -1 with reason. */
static int detect_one(const mc_ctx *ctx, const detect_opts *o, detect_env *env, mc_run *run, const med_series *s,
                      char *reason, size_t size) {
    mc_error err = {0};
    med_series_options so = MED_SERIES_OPTIONS_DEFAULT;
    med_candidate_opts co;
    med_candidate_opts_default(&co);
    co.max_candidates = (int)o->max_candidates;
    med_prepared p;
    if (med_prepare(s, &so, &co, &p, &err) != MC_OK) {
        snprintf(reason, size, "%s", err.msg);
        return -1;
    }
    int rc = -1, kept = 0, nf = 0;
    med_score *score = malloc(sizeof *score * (size_t)(p.n_cand + 1));
    float *prob = malloc(sizeof *prob * (size_t)(p.n_cand + 1));
    int *order = malloc(sizeof *order * (size_t)(p.n_cand + 1));
    double *diameter = malloc(sizeof *diameter * (size_t)(p.n_cand + 1)), *radius = malloc(sizeof *radius * (size_t)(p.n_cand + 1));
    med_finding *f = calloc((size_t)o->max_findings, sizeof *f);
    double t0 = now_s(), t1 = t0;
    if (!score || !prob || !order || !diameter || !radius || !f) {
        snprintf(reason, size, "out of memory");
        goto done;
    }
    if (med_detector_score(env->model, p.iso, p.cand, p.n_cand, score, &err) != MC_OK) {
        snprintf(reason, size, "%s", err.msg);
        goto done;
    }
    /* each candidate's diameter as a finding would report it, and suppression by that extent */
    for (int a = 0; a < p.n_cand; a++) {
        double ijk[3] = {p.cand[a].i, p.cand[a].j, p.cand[a].k};
        med_extent e = med_nodule_extent(p.iso, ijk);
        prob[a] = score[a].probability;
        diameter[a] = med_reported_diameter(score[a].diameter_mm, &e);
        radius[a] = diameter[a] / 2;
    }
    t1 = now_s();
    if ((kept = med_nms3d(p.cand, prob, radius, p.n_cand, 3.0, order)) < 0) {
        snprintf(reason, size, "out of memory");
        goto done;
    }
    const med_clinical *rec = env->rows ? med_clinical_find(env->rows, env->n_rows, s->series_uid, s->patient_id) : NULL;
    if (env->rows && !rec) mc_log_warn("%s: no clinical record: no malignancy or Brock risk", s->series_uid);
    for (int a = 0; a < kept && nf < o->max_findings; a++) {
        const med_candidate *c = &p.cand[order[a]];
        if (prob[order[a]] < o->threshold) break;
        med_finding *g = &f[nf];
        g->index = nf + 1;
        g->x = c->x, g->y = c->y, g->z = c->z;
        g->i = c->i, g->j = c->j, g->k = c->k;
        const med_score *sc = &score[order[a]];
        g->diameter_mm = diameter[order[a]];
        g->blob_diameter_mm = c->diameter_mm;
        g->probability = sc->probability;
        double ijk[3] = {c->i, c->j, c->k}, solid;
        /* the network's type when it is sure of it, else the density rule's over the reported ball */
        g->type = sc->type_probability >= MED_TYPE_SURE ? sc->type : med_nodule_type_of(p.iso, ijk, g->diameter_mm, &solid);
        g->uncertain = (sc->type_probability < MED_TYPE_SURE ? MED_UNSURE_TYPE : 0) |
                       (fabs(g->diameter_mm - sc->diameter_mm) > 0.25 * sc->diameter_mm ? MED_UNSURE_SIZE : 0);
        g->solid_mm = med_solid_part_mm(p.iso, ijk, g->diameter_mm, g->type);
        med_lungrads_nodule ln = {g->type, g->diameter_mm, g->solid_mm, 0, 0, 0};
        if (med_lungrads_category(&ln, &g->lungrads, &err) != MC_OK) g->lungrads = MED_LUNGRADS_2;
        g->malignancy = NAN;
        g->brock = NAN;
        nf++;
    }
    for (int a = 0; a < nf && rec; a++) {
        if (env->has_fusion) {
            double x[MED_FUSION_N];
            med_fusion_features(rec, f[a].diameter_mm, f[a].type, x);
            f[a].malignancy = f[a].probability * med_fusion_risk(&env->fusion, x);
        }
        f[a].brock = med_brock_of(rec, f[a].diameter_mm, f[a].type, nf);
    }
    mc_store *st = mc_run_store(run);
    if (o->store && (mc_store_begin(st) != MC_OK ||
                     med_store_findings(st, mc_run_id(run), s->series_uid, env->hash, o->model_path, f, nf) != MC_OK)) {
        snprintf(reason, size, "database: %s", sqlite3_errmsg(mc_store_db(st)));
        goto done;
    }
    /* pictures that cannot be written fail the run, not the series: its findings are stored */
    if (o->images && write_images(o->images, s->series_uid, p.iso, f, nf, &err) != MC_OK)
        mc_run_fail(run, "%s: pictures not written: %s", s->series_uid, err.msg);
    if (o->store && mc_store_commit(st) != MC_OK) {
        snprintf(reason, size, "database: %s", sqlite3_errmsg(mc_store_db(st)));
        goto done;
    }
    if (env->csv) {
        for (int a = 0; a < kept; a++) {
            const med_candidate *c = &p.cand[order[a]];
            const med_score *sc = &score[order[a]];
            double ijk[3] = {c->i, c->j, c->k}, solid;
            med_nodule_type density = med_nodule_type_of(p.iso, ijk, diameter[order[a]], &solid);
            fprintf(env->csv, "%s,%.3f,%.3f,%.3f,%.6f,%.2f,%.3f,%s,%.2f,%s\n", s->series_uid, c->x, c->y, c->z,
                    sc->probability, c->diameter_mm, c->response, med_nodule_type_name(sc->type), diameter[order[a]],
                    med_nodule_type_name(density));
        }
        fflush(env->csv);
    }
    for (int a = 0; a < nf; a++) {
        if (ctx->json) {
            mc_cli_print_json(finding_json(s->series_uid, &f[a]));
        } else {
            printf("%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f mm\tp=%.3f\t%s\tLung-RADS %s", s->series_uid, f[a].index, f[a].x,
                   f[a].y, f[a].z, f[a].diameter_mm, f[a].probability, med_nodule_type_name(f[a].type),
                   med_lungrads_name(f[a].lungrads));
            if (!isnan(f[a].malignancy)) printf("\tmalignancy %.3f", f[a].malignancy);
            if (!isnan(f[a].brock)) printf("\tBrock %.3f", f[a].brock);
            if (f[a].uncertain) printf("\tuncertain: %s", med_unsure_name(f[a].uncertain));
            putchar('\n');
        }
    }
    mc_log_info("%s: %d candidates, %d after suppression, %d findings (read %.2f s, resample %.2f s, lungs %.2f s, "
                "candidates %.2f s, CNN %.2f s)",
                s->series_uid, p.n_cand, kept, nf, p.t_read, p.t_resample, p.t_mask, p.t_candidates, t1 - t0);
    rc = 0;
done:
    if (rc != 0) mc_store_rollback(mc_run_store(run));
    free(score);
    free(prob);
    free(order);
    free(diameter);
    free(radius);
    free(f);
    med_prepared_free(&p);
    return rc;
}

/* Opens the model (and its fusion layer) and the clinical table. On failure err says why. */
static mc_status env_open(detect_env *env, const detect_opts *o, mc_error *err) {
    mc_safetensors *file = NULL;
    mc_status st = mc_model_load(&env->model, o->model_path, &file, err);
    if (st != MC_OK) return st;
    const char *meta = mc_safetensors_meta(file, "med.detector"), *fus = mc_safetensors_meta(file, "med.fusion");
    mc_error why;
    if (!meta) st = mc_error_set(err, MC_ERR_FORMAT, "%s: not a nodule detector (no med.detector metadata)", o->model_path);
    else if (med_detector_check(env->model, &why) != MC_OK)
        st = mc_error_set(err, MC_ERR_FORMAT, "%s: %s", o->model_path, why.msg);
    else if (fus && (st = med_fusion_from_json(fus, &env->fusion, err)) == MC_OK) env->has_fusion = 1;
    mc_safetensors_close(file);
    if (st != MC_OK) return st;
    if (model_hash(o->model_path, env->hash) != 0)
        return mc_error_set(err, MC_ERR_IO, "%s: cannot read: %s", o->model_path, strerror(errno));
    if (o->clinical) {
        if ((st = med_clinical_read(o->clinical, &env->rows, &env->n_rows, err)) != MC_OK) return st;
        if (!env->has_fusion) mc_log_warn("%s: the model has no fusion layer: Brock risk only", o->model_path);
    }
    if (o->candidates_out) {
        if ((st = mc_outfile_begin(&env->out, o->candidates_out, err)) != MC_OK) return st;
        if (!(env->csv = fopen(env->out.tmp, "w")))
            return mc_error_set(err, MC_ERR_IO, "%s: cannot create: %s", o->candidates_out, strerror(errno));
        fprintf(env->csv, "seriesuid,coordX,coordY,coordZ,probability,diameter_mm,response,type,cnn_diameter_mm,density_type\n");
    }
    if (o->images && mkdir(o->images, 0777) != 0 && errno != EEXIST)
        return mc_error_set(err, MC_ERR_IO, "%s: cannot create the folder: %s", o->images, strerror(errno));
    return MC_OK;
}

/* Closes the candidates file, putting it in place unless the run failed (then the last one stays). */
static mc_status env_close(detect_env *env, const detect_opts *o, mc_status failure, mc_error *err) {
    mc_status st = MC_OK;
    if (env->csv && fclose(env->csv) != 0)
        st = mc_error_set(err, MC_ERR_IO, "%s: cannot write: %s", o->candidates_out, strerror(errno));
    if (env->csv && st == MC_OK && failure == MC_OK) st = mc_outfile_commit(&env->out, err);
    else if (env->csv) mc_outfile_abort(&env->out);
    mc_model_destroy(env->model);
    med_clinical_free(env->rows, env->n_rows);
    return st;
}

int med_cmd_detect(mc_ctx *ctx, int argc, char **argv) {
    static const mc_cli_spec spec = {
        .usage = "[options] DIR...",
        .description = "Finds lung nodules in every CT series under the folders (docs/medical.md): candidates, the 3D CNN's\n"
                       "probability, 3D non-maximum suppression; each finding with its world position (mm, DICOM LPS),\n"
                       "diameter (the CNN's; the candidate filter's beside it), the CNN's type, Lung-RADS category, and\n"
                       "with --clinical its malignancy and Brock risks.",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
        .min_args = 1,
        .max_args = -1,
    };
    detect_opts o = {.model_path = DEFAULT_MODEL, .threshold = 0.8, .max_findings = 10, .max_candidates = 300};
    int code;
    int first = mc_cli_parse(ctx, &spec, argc, argv, on_option, &o, &code);
    if (first < 0) return code;
    mc_error err = {0};
    detect_env env = {0};
    med_collection c = {0};
    med_series_options so = MED_SERIES_OPTIONS_DEFAULT;
    mc_run *run;
    if (mc_run_begin(&run, ctx, med_schema_migrate, &err) != MC_OK) {
        mc_log_error("%s", err.msg);
        return MC_EXIT_FAILURE;
    }
    mc_status failure = env_open(&env, &o, &err);
    if (failure != MC_OK) mc_log_error("%s", err.msg);
    if (failure == MC_OK &&
        (failure = med_collection_scan(&c, (const char *const *)(argv + first), argc - first, &so, &err)) != MC_OK)
        mc_log_error("%s", err.msg);
    for (int i = 0; i < c.n_files && failure == MC_OK; i++)
        if (c.files[i].unreadable)
            mc_run_input_rejected(run, c.files[i].path, c.files[i].problem);
    int n_ct = 0;
    for (int i = 0; i < c.n_series && failure == MC_OK; i++) {
        const med_series *s = &c.series[i];
        if (s->skipped) {
            char reason[4800];
            snprintf(reason, sizeof reason, "%s: not a CT series: %s", s->folder, s->problems[0]);
            mc_run_input_rejected(run, s->series_uid, reason);
            continue;
        }
        n_ct++;
        char reason[4800];
        if (detect_one(ctx, &o, &env, run, s, reason, sizeof reason) == 0) mc_run_input_ok(run);
        else mc_run_input_rejected(run, s->series_uid, reason);
    }
    if (failure == MC_OK && n_ct == 0) mc_log_warn("no CT series found");
    mc_status closed = env_close(&env, &o, failure, &err);
    if (failure == MC_OK && closed != MC_OK) {
        mc_log_error("%s", err.msg);
        failure = closed;
    }
    med_collection_free(&c);
    return mc_run_end(run, failure);
}
