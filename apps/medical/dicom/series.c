/* series.c: series building, checks, slice ordering and volume reading (series.h). */
#include "series.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moecore/budget.h"

#define POS_TOL_MM 0.01    /* two positions closer than this are the same */
#define TILT_TOL_DEG 0.1   /* gantry tilts below this are rounding */
#define ORIENT_TOL 1e-4    /* direction cosines that differ less are the same orientation */

/* What a CT series can be: pixels of 0.05 to 10 mm, slices 0.1 to 20 mm apart, at most a metre across
 * and three metres long. Outside these the file is wrong, and resampling it would take gigabytes. */
#define PIXEL_MM_MIN 0.05
#define PIXEL_MM_MAX 10.0
#define STEP_MM_MIN 0.1
#define STEP_MM_MAX 20.0
#define ACROSS_MM_MAX 1000.0
#define ALONG_MM_MAX 3000.0
/* The memory the heaviest command (detect) needs for a series, in float voxels: the volume as read
 * (resampled along the slices when it has gaps), and four volumes of 1 mm voxels (the isotropic
 * volume, the lung mask and the candidate filter's working copies; measured peak below half that) */
#define ISO_VOLUMES 4.0

int med_parse_numbers(const char *text, double *v, int n) {
    int k = 0;
    const char *p = text;
    while (k < n && *p) {
        char *end;
        double x = strtod(p, &end);
        if (end == p || !isfinite(x)) return k;
        v[k++] = x;
        while (*end == ' ') end++;
        if (*end != '\\') break;
        p = end + 1;
    }
    return k;
}

int med_gap_policy_parse(const char *text, med_gap_policy *out) {
    if (strcmp(text, "reject") == 0) *out = MED_GAPS_REJECT;
    else if (strcmp(text, "resample") == 0) *out = MED_GAPS_RESAMPLE;
    else return -1;
    return 0;
}

static void problem(med_series *s, int fatal, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void problem(med_series *s, int fatal, const char *fmt, ...) {
    if (s->n_problems == MED_MAX_PROBLEMS) {
        if (fatal) s->usable = 0;
        return;
    }
    if (fatal && s->usable) s->fatal = s->n_problems;
    if (fatal) s->usable = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->problems[s->n_problems++], MED_PROBLEM_LEN, fmt, ap);
    va_end(ap);
}

static void cross(const double a[3], const double b[3], double c[3]) {
    c[0] = a[1] * b[2] - a[2] * b[1];
    c[1] = a[2] * b[0] - a[0] * b[2];
    c[2] = a[0] * b[1] - a[1] * b[0];
}

static double dot(const double a[3], const double b[3]) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

static int normalise(double v[3]) {
    double n = sqrt(dot(v, v));
    if (!(n > 1e-6)) return -1;
    for (int a = 0; a < 3; a++) v[a] /= n;
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorting the slices of one series by their position along the normal. */
typedef struct {
    const med_dicom_header *h;
    double along;
} slice_key;

static int cmp_slice(const void *a, const void *b) {
    const slice_key *x = a, *y = b;
    if (x->along != y->along) return (x->along > y->along) - (x->along < y->along);
    return strcmp(x->h->path, y->h->path);
}

static int cmp_series_member(const void *a, const void *b) {
    const med_dicom_header *x = *(const med_dicom_header *const *)a, *y = *(const med_dicom_header *const *)b;
    int c = strcmp(x->series_uid, y->series_uid);
    return c ? c : strcmp(x->path, y->path);
}

/* The longest common folder of the paths of s's files. */
static void common_folder(med_series *s, const med_dicom_header *const *files, int n) {
    snprintf(s->folder, sizeof s->folder, "%s", files[0]->path);
    char *slash = strrchr(s->folder, '/');
    if (slash) *slash = '\0';
    else snprintf(s->folder, sizeof s->folder, ".");
    for (int i = 1; i < n; i++) {
        size_t len = strlen(s->folder);
        while (strncmp(files[i]->path, s->folder, len) != 0 || files[i]->path[len] != '/') {
            char *cut = strrchr(s->folder, '/');
            if (!cut) {
                snprintf(s->folder, sizeof s->folder, ".");
                return;
            }
            *cut = '\0';
            len = strlen(s->folder);
        }
    }
}

/* Refuses a series whose pixel spacing (ps, row and column) or extent is not a CT's, or whose volumes
 * would take more than the memory budget (budget.h). */
static void plausible_size(med_series *s, const double ps[2], int n) {
    if (!(ps[0] >= PIXEL_MM_MIN && ps[0] <= PIXEL_MM_MAX && ps[1] >= PIXEL_MM_MIN && ps[1] <= PIXEL_MM_MAX)) {
        problem(s, 1, "pixels of %g x %g mm: not a CT series (%.2f to %.0f mm)", ps[0], ps[1], PIXEL_MM_MIN, PIXEL_MM_MAX);
        return;
    }
    double wide = s->cols * ps[1], high = s->rows * ps[0], along = n > 1 ? s->along[n - 1] - s->along[0] : 0;
    if (wide > ACROSS_MM_MAX || high > ACROSS_MM_MAX || along > ALONG_MM_MAX) {
        problem(s, 1, "%.0f x %.0f x %.0f mm: larger than a body (at most %.0f mm across, %.0f mm long)", wide, high,
                along, ACROSS_MM_MAX, ALONG_MM_MAX);
        return;
    }
    double slices = n > 1 && s->uneven ? along / s->spacing[2] + 1 : n;
    double voxels = (double)s->cols * s->rows * slices + ISO_VOLUMES * (wide + 1) * (high + 1) * (along + 1);
    double need = 4.0 * voxels, budget = (double)mc_memory_budget();
    if (need > budget)
        problem(s, 1, "needs about %.0f MiB to resample (%.0f x %.0f x %.0f mm), above the memory budget of %.0f MiB "
                      "(MOESUITE_MEMORY_MB)", need / 1048576.0, wide, high, along, budget / 1048576.0);
}

/* Checks the geometry of the non-localizer files and orders them; sets s->slice, along, spacing. */
static int check_geometry(med_series *s, const med_dicom_header *const *files, int n, const med_series_options *opt) {
    slice_key *keys = malloc(sizeof *keys * (size_t)n);
    double *pos = malloc(sizeof(double) * 3 * (size_t)n);
    if (!keys || !pos) {
        free(keys);
        free(pos);
        return -1;
    }
    double iop[6], ps[2];
    int ok = 1;
    if (med_parse_numbers(files[0]->orientation, iop, 6) != 6) {
        problem(s, 1, "no Image Orientation (Patient) in %s", files[0]->path);
        ok = 0;
    }
    if (ok && med_parse_numbers(files[0]->pixel_spacing, ps, 2) != 2) {
        problem(s, 1, "no Pixel Spacing in %s", files[0]->path);
        ok = 0;
    }
    if (ok && (!(ps[0] > 0) || !(ps[1] > 0))) {
        problem(s, 1, "Pixel Spacing %s is not positive in %s", files[0]->pixel_spacing, files[0]->path);
        ok = 0;
    }
    if (ok) {
        memcpy(s->row_dir, iop, sizeof s->row_dir);
        memcpy(s->col_dir, iop + 3, sizeof s->col_dir);
        cross(s->row_dir, s->col_dir, s->normal);
        if (normalise(s->row_dir) || normalise(s->col_dir) || normalise(s->normal)) {
            problem(s, 1, "Image Orientation %s is degenerate in %s", files[0]->orientation, files[0]->path);
            ok = 0;
        }
    }
    for (int i = 0; ok && i < n; i++) {
        double o[6], sz[2];
        if (med_parse_numbers(files[i]->position, pos + 3 * i, 3) != 3) {
            problem(s, 1, "no Image Position (Patient) in %s", files[i]->path);
            ok = 0;
        } else if (med_parse_numbers(files[i]->orientation, o, 6) != 6) {
            problem(s, 1, "no Image Orientation (Patient) in %s", files[i]->path);
            ok = 0;
        } else if (atoi(files[i]->rows) != s->rows || atoi(files[i]->columns) != s->cols) {
            problem(s, 1, "mixed image sizes: %sx%s in %s, %dx%d in %s", files[i]->columns, files[i]->rows,
                    files[i]->path, s->cols, s->rows, files[0]->path);
            ok = 0;
        } else if (med_parse_numbers(files[i]->pixel_spacing, sz, 2) != 2 || fabs(sz[0] - ps[0]) > 1e-4 ||
                   fabs(sz[1] - ps[1]) > 1e-4) {
            problem(s, 1, "mixed pixel spacings: %s in %s, %s in %s", files[i]->pixel_spacing, files[i]->path,
                    files[0]->pixel_spacing, files[0]->path);
            ok = 0;
        } else {
            for (int a = 0; a < 6 && ok; a++) {
                if (fabs(o[a] - iop[a]) > ORIENT_TOL) {
                    problem(s, 1, "mixed orientations: %s in %s, %s in %s", files[i]->orientation, files[i]->path,
                            files[0]->orientation, files[0]->path);
                    ok = 0;
                }
            }
        }
        keys[i].h = files[i];
        keys[i].along = ok ? dot(pos + 3 * i, s->normal) : 0;
    }
    if (!ok) goto done;
    qsort(keys, (size_t)n, sizeof *keys, cmp_slice);
    s->slice = malloc(sizeof *s->slice * (size_t)n);
    s->along = malloc(sizeof *s->along * (size_t)n);
    if (!s->slice || !s->along) {
        free(keys);
        free(pos);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        s->slice[i] = keys[i].h;
        s->along[i] = keys[i].along;
    }
    s->n_slices = n;
    s->spacing[0] = ps[1];
    s->spacing[1] = ps[0];
    s->spacing[2] = s->slice_thickness;
    med_parse_numbers(keys[0].h->position, s->origin, 3);

    double tilt = 0;
    if (med_parse_numbers(files[0]->gantry_tilt, &tilt, 1) == 1 && fabs(tilt) > TILT_TOL_DEG)
        problem(s, 1, "gantry tilt of %g degrees: the slices are sheared", tilt);
    if (n >= 2 && s->usable) {
        double first[3], last[3], d[3];
        med_parse_numbers(keys[0].h->position, first, 3);
        med_parse_numbers(keys[n - 1].h->position, last, 3);
        for (int a = 0; a < 3; a++) d[a] = last[a] - first[a];
        double along = dot(d, s->normal), across = sqrt(fmax(0, dot(d, d) - along * along));
        double angle = atan2(across, fabs(along)) * 180.0 / M_PI;
        if (angle > TILT_TOL_DEG)
            problem(s, 1, "gantry tilt: the slice positions drift %.2f degrees off the slice normal", angle);
    }
    for (int i = 1; i < n && s->usable; i++) {
        if (s->along[i] - s->along[i - 1] < POS_TOL_MM)
            problem(s, 1, "duplicate slice position %.3f mm: %s and %s", s->along[i], s->slice[i - 1]->path,
                    s->slice[i]->path);
    }
    if (n < opt->min_slices) problem(s, 1, "too few slices: %d (at least %d needed)", n, opt->min_slices);
    if (n >= 2 && s->usable) {
        double *steps = malloc(sizeof(double) * (size_t)(n - 1));
        if (!steps) {
            free(keys);
            free(pos);
            return -1;
        }
        for (int i = 1; i < n; i++) steps[i - 1] = s->along[i] - s->along[i - 1];
        qsort(steps, (size_t)(n - 1), sizeof *steps, cmp_double);
        double med = steps[(n - 1) / 2];
        free(steps);
        s->spacing[2] = med;
        double tol = fmax(0.02, 0.01 * med);
        int missing = 0, uneven = 0, first_gap = -1;
        for (int i = 1; i < n; i++) {
            double step = s->along[i] - s->along[i - 1];
            if (fabs(step - med) <= tol) continue;
            double k = round(step / med);
            if (k >= 2 && fabs(step - k * med) <= tol) missing += (int)k - 1;
            else uneven++;
            if (first_gap < 0) first_gap = i;
        }
        if (s->usable && (!(med >= STEP_MM_MIN) || !(med <= STEP_MM_MAX)))
            problem(s, 1, "slices %.3f mm apart: not a CT series (%.1f to %.0f mm)", med, STEP_MM_MIN, STEP_MM_MAX);
        if (missing || uneven) {
            s->uneven = 1;
            int fatal = opt->gaps == MED_GAPS_REJECT;
            const char *what = fatal ? "" : " (resampled)";
            if (missing && !uneven)
                problem(s, fatal, "missing slices: %d absent at %.3f mm spacing, the first gap after %s%s", missing, med,
                        s->slice[first_gap - 1]->path, what);
            else
                problem(s, fatal, "uneven slice spacing: steps differ from %.3f mm, first between %s and %s%s", med,
                        s->slice[first_gap - 1]->path, s->slice[first_gap]->path, what);
        }
    }
    if (s->usable) plausible_size(s, ps, n);
done:
    free(keys);
    free(pos);
    return 0;
}

/* One series from its files (all with the same Series UID). */
static int build_one(med_series *s, const med_dicom_header *const *files, int n, const med_series_options *opt) {
    const med_dicom_header *h = files[0];
    memset(s, 0, sizeof *s);
    snprintf(s->series_uid, sizeof s->series_uid, "%s", h->series_uid);
    snprintf(s->study_uid, sizeof s->study_uid, "%s", h->study_uid);
    snprintf(s->modality, sizeof s->modality, "%s", h->modality);
    snprintf(s->patient_id, sizeof s->patient_id, "%s", h->patient_id);
    snprintf(s->study_date, sizeof s->study_date, "%s", h->study_date);
    snprintf(s->description, sizeof s->description, "%s", h->series_description);
    snprintf(s->manufacturer, sizeof s->manufacturer, "%s", h->manufacturer);
    snprintf(s->transfer_syntax, sizeof s->transfer_syntax, "%s", h->transfer_syntax);
    common_folder(s, files, n);
    s->n_files = n;
    s->usable = 1;
    s->fatal = -1;
    s->cols = atoi(h->columns);
    s->rows = atoi(h->rows);
    med_parse_numbers(h->slice_thickness, &s->slice_thickness, 1);
    if (strcmp(h->modality, "CT") != 0) {
        s->skipped = 1;
        problem(s, 1, "not CT (modality %s)", h->modality[0] ? h->modality : "absent");
        return 0;
    }
    const med_dicom_header **kept = malloc(sizeof *kept * (size_t)n);
    if (!kept) return -1;
    int n_kept = 0;
    for (int i = 0; i < n; i++)
        if (!strstr(files[i]->image_type, "LOCALIZER")) kept[n_kept++] = files[i];
    int rc = 0;
    if (n_kept == 0) {
        s->skipped = 1;
        problem(s, 1, "a localizer series");
    } else {
        if (n_kept < n) problem(s, 0, "%d localizer images left out", n - n_kept);
        int spp = kept[0]->samples_per_pixel[0] ? atoi(kept[0]->samples_per_pixel) : 1;
        int frames = kept[0]->frames[0] ? atoi(kept[0]->frames) : 1;
        s->cols = atoi(kept[0]->columns);
        s->rows = atoi(kept[0]->rows);
        if (spp != 1)
            problem(s, 1, "colour images (%d samples per pixel)", spp);
        else if (frames > 1)
            problem(s, 1, "multi-frame image (%d frames in %s): not supported", frames, kept[0]->path);
        else if (s->cols <= 0 || s->rows <= 0)
            problem(s, 1, "no image size in %s", kept[0]->path);
        else
            rc = check_geometry(s, kept, n_kept, opt);
    }
    free(kept);
    return rc;
}

/* Series in order of study, series number (as a number), then UID. */
static int cmp_series(const void *a, const void *b) {
    const med_series *x = a, *y = b;
    int c = strcmp(x->study_uid, y->study_uid);
    if (c) return c;
    int nx = x->slice ? atoi(x->slice[0]->series_number) : 0, ny = y->slice ? atoi(y->slice[0]->series_number) : 0;
    if (nx != ny) return (nx > ny) - (nx < ny);
    return strcmp(x->series_uid, y->series_uid);
}

mc_status med_series_build(const med_dicom_header *h, int n, const med_series_options *opt, med_series **out,
                           int *n_series, mc_error *err) {
    *out = NULL;
    *n_series = 0;
    const med_dicom_header **ptr = malloc(sizeof *ptr * (size_t)(n > 0 ? n : 1));
    med_series *s = calloc((size_t)(n > 0 ? n : 1), sizeof *s);
    if (!ptr || !s) {
        free(ptr);
        free(s);
        return mc_error_set(err, MC_ERR_NOMEM, "out of memory");
    }
    int m = 0;
    for (int i = 0; i < n; i++) /* DICOMDIRs and other objects without a series are not images */
        if (!h[i].unreadable && h[i].series_uid[0]) ptr[m++] = &h[i];
    qsort(ptr, (size_t)m, sizeof *ptr, cmp_series_member);
    const med_dicom_header **group = malloc(sizeof *group * (size_t)(m > 0 ? m : 1));
    int ns = 0;
    mc_status st = group ? MC_OK : MC_ERR_NOMEM;
    for (int i = 0; i < m && st == MC_OK;) {
        int j = i;
        while (j < m && strcmp(ptr[j]->series_uid, ptr[i]->series_uid) == 0) {
            group[j - i] = ptr[j];
            j++;
        }
        if (build_one(&s[ns++], group, j - i, opt) != 0) st = MC_ERR_NOMEM;
        i = j;
    }
    free(group);
    free(ptr);
    if (st != MC_OK) {
        med_series_free(s, ns);
        return mc_error_set(err, st, "out of memory");
    }
    qsort(s, (size_t)ns, sizeof *s, cmp_series);
    *out = s;
    *n_series = ns;
    return MC_OK;
}

void med_series_free(med_series *s, int n) {
    if (!s) return;
    for (int i = 0; i < n; i++) {
        free(s[i].slice);
        free(s[i].along);
    }
    free(s);
}

/* Decodes slice i of s into dst (cols * rows values), or only checks that it decodes to the series'
 * size when dst is NULL. */
static mc_status read_slice(const med_series *s, int i, float *dst, mc_error *err) {
    med_dicom_image img;
    mc_status st = med_dicom_read_image(s->slice[i]->path, &img, err);
    if (st != MC_OK) return st;
    if (img.cols != s->cols || img.rows != s->rows || img.frames != 1)
        st = mc_error_set(err, MC_ERR_FORMAT, "%s: pixel data is %dx%dx%d, the series is %dx%d", s->slice[i]->path,
                          img.cols, img.rows, img.frames, s->cols, s->rows);
    else if (dst)
        memcpy(dst, img.values, sizeof(float) * (size_t)s->cols * (size_t)s->rows);
    med_dicom_image_free(&img);
    return st;
}

mc_status med_series_read(const med_series *s, const med_series_options *opt, med_volume **out, mc_error *err) {
    *out = NULL;
    if (!s->usable) return mc_error_set(err, MC_ERR_FORMAT, "%s: %s", s->folder, s->fatal >= 0 ? s->problems[s->fatal] : "unusable");
    int resample = s->uneven && opt->gaps == MED_GAPS_RESAMPLE;
    double span = (s->along[s->n_slices - 1] - s->along[0]) / s->spacing[2];
    if (resample && span > 4.0 * s->n_slices)
        return mc_error_set(err, MC_ERR_FORMAT, "%s: resampling would need %.0f slices for the %d there are", s->folder,
                            span + 1, s->n_slices);
    int nz = resample ? (int)lround(span) + 1 : s->n_slices;
    /* the first slice is decoded before the volume is allocated: a header claiming a huge image
     * without the pixel data to match costs nothing */
    mc_status st = read_slice(s, 0, NULL, err);
    if (st != MC_OK) return st;
    double dir[3][3];
    memcpy(dir[0], s->row_dir, sizeof dir[0]);
    memcpy(dir[1], s->col_dir, sizeof dir[1]);
    memcpy(dir[2], s->normal, sizeof dir[2]);
    med_volume *v = med_volume_new(s->cols, s->rows, nz, s->spacing, s->origin, dir, 0.0f);
    if (!v) return mc_error_set(err, MC_ERR_NOMEM, "series %s: out of memory for %dx%dx%d voxels", s->series_uid,
                                s->cols, s->rows, nz);
    size_t plane = (size_t)s->cols * (size_t)s->rows;
    if (!resample) {
        for (int i = 0; i < s->n_slices && st == MC_OK; i++) st = read_slice(s, i, v->hu + (size_t)i * plane, err);
    } else {
        float *stack = malloc(sizeof(float) * plane * (size_t)s->n_slices);
        if (!stack) st = mc_error_set(err, MC_ERR_NOMEM, "series %s: out of memory", s->series_uid);
        for (int i = 0; i < s->n_slices && st == MC_OK; i++) st = read_slice(s, i, stack + (size_t)i * plane, err);
        int lo = 0;
        for (int k = 0; k < nz && st == MC_OK; k++) {
            double t = s->along[0] + k * s->spacing[2];
            while (lo + 2 < s->n_slices && s->along[lo + 1] <= t) lo++;
            int hi = lo + 1 < s->n_slices ? lo + 1 : lo;
            double w = hi == lo ? 0 : (t - s->along[lo]) / (s->along[hi] - s->along[lo]);
            w = fmin(1, fmax(0, w));
            const float *a = stack + (size_t)lo * plane, *b = stack + (size_t)hi * plane;
            float *d = v->hu + (size_t)k * plane;
            for (size_t p = 0; p < plane; p++) d[p] = (float)((1 - w) * a[p] + w * b[p]);
        }
        free(stack);
    }
    if (st != MC_OK) {
        med_volume_free(v);
        return st;
    }
    *out = v;
    return MC_OK;
}

mc_status med_collection_scan(med_collection *c, const char *const *paths, int n, const med_series_options *opt,
                              mc_error *err) {
    memset(c, 0, sizeof *c);
    mc_status st = med_dicom_scan(paths, n, &c->files, &c->n_files, &c->n_other, err);
    if (st == MC_OK) st = med_series_build(c->files, c->n_files, opt, &c->series, &c->n_series, err);
    if (st != MC_OK) med_collection_free(c);
    return st;
}

void med_collection_free(med_collection *c) {
    med_series_free(c->series, c->n_series);
    med_dicom_headers_free(c->files, c->n_files);
    memset(c, 0, sizeof *c);
}
