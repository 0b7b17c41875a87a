/* image_set.c: reading labelled image folders into memory, preprocessed, and splitting them. */
#include "image_set.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "moecore/inputs.h"
#include "moecore/rng.h"

mc_status fab_preprocess(float *x, const fab_image *img, int size) {
    fab_image grey = {0}, small = {0};
    const fab_image *g = img;
    mc_status st = MC_OK;
    if (img->c != 1) {
        if ((st = fab_image_to_grey(&grey, img)) != MC_OK) return st;
        g = &grey;
    }
    if ((st = fab_image_resize(&small, g, size, size)) != MC_OK) {
        fab_image_free(&grey);
        return st;
    }
    int64_t n = (int64_t)size * size;
    double mean = 0, var = 0;
    for (int64_t i = 0; i < n; i++) mean += small.px[i];
    mean /= (double)n;
    for (int64_t i = 0; i < n; i++) var += (small.px[i] - mean) * (small.px[i] - mean);
    double sd = sqrt(var / (double)n);
    if (sd < 1e-3) sd = 1e-3;
    for (int64_t i = 0; i < n; i++) x[i] = (float)((small.px[i] - mean) / sd);
    fab_image_free(&grey);
    fab_image_free(&small);
    return MC_OK;
}

void fab_image_set_init(fab_image_set *s, int size) {
    memset(s, 0, sizeof *s);
    s->size = size;
}

void fab_image_set_free(fab_image_set *s) {
    if (!s) return;
    for (int i = 0; i < s->n; i++) free(s->path[i]);
    free(s->path);
    free(s->x);
    free(s->mask);
    free(s->label);
    free(s->has_mask);
    int size = s->size;
    memset(s, 0, sizeof *s);
    s->size = size;
}

static int grow(fab_image_set *s) {
    if (s->n < s->cap) return 0;
    int cap = s->cap ? 2 * s->cap : 64;
    size_t px = (size_t)s->size * s->size;
    float *x = realloc(s->x, sizeof(float) * px * cap);
    if (x) s->x = x;
    float *m = realloc(s->mask, sizeof(float) * px * cap);
    if (m) s->mask = m;
    uint8_t *l = realloc(s->label, (size_t)cap);
    if (l) s->label = l;
    uint8_t *h = realloc(s->has_mask, (size_t)cap);
    if (h) s->has_mask = h;
    char **p = realloc(s->path, sizeof(char *) * cap);
    if (p) s->path = p;
    if (!x || !m || !l || !h || !p) return -1;
    s->cap = cap;
    return 0;
}

/* Reads the mask at path into m (size^2 fractions), checking it matches the image's w x h. */
static int read_mask(float *m, const char *path, int w, int h, int size, char *reason, size_t rsize) {
    fab_image im = {0}, grey = {0}, small = {0};
    mc_error err;
    if (fab_png_read(&im, path, FAB_PNG_MAX_PIXELS, NULL, NULL, &err) != MC_OK) {
        snprintf(reason, rsize, "mask %s", err.msg);
        return -1;
    }
    int rc = -1;
    if (im.w != w || im.h != h) {
        snprintf(reason, rsize, "mask %s is %d x %d, the image %d x %d", path, im.w, im.h, w, h);
        goto done;
    }
    if (fab_image_to_grey(&grey, &im) != MC_OK) goto oom;
    for (int64_t i = 0; i < (int64_t)w * h; i++) grey.px[i] = grey.px[i] > 0 ? 1.0f : 0.0f;
    if (fab_image_resize(&small, &grey, size, size) != MC_OK) goto oom;
    memcpy(m, small.px, sizeof(float) * (size_t)size * size);
    rc = 0;
    goto done;
oom:
    snprintf(reason, rsize, "out of memory");
done:
    fab_image_free(&im);
    fab_image_free(&grey);
    fab_image_free(&small);
    return rc;
}

mc_status fab_image_set_add_dir(fab_image_set *s, const char *dir, int label, const char *mask_dir, fab_image_fn fn,
                                void *user, mc_error *err) {
    mc_inputs in;
    char *paths[1] = {(char *)dir};
    mc_status st = mc_inputs_collect(&in, paths, 1, ".png", err);
    if (st != MC_OK) return st;
    size_t px = (size_t)s->size * s->size;
    size_t dlen = strlen(dir);
    while (dlen > 1 && dir[dlen - 1] == '/') dlen--;
    for (int i = 0; i < in.n && st == MC_OK; i++) {
        const char *path = in.paths[i];
        char reason[4400] = "";
        fab_image im;
        mc_error e;
        if (grow(s) != 0) {
            st = mc_error_set(err, MC_ERR_NOMEM, "out of memory reading %s", dir);
            break;
        }
        if (fab_png_read(&im, path, FAB_PNG_MAX_PIXELS, NULL, NULL, &e) != MC_OK) {
            fn(user, path, fab_png_problem(e.msg, path));
            continue;
        }
        float *x = s->x + px * s->n, *m = s->mask + px * s->n;
        int has_mask = !label;
        memset(m, 0, sizeof(float) * px);
        if (fab_preprocess(x, &im, s->size) != MC_OK) snprintf(reason, sizeof reason, "out of memory");
        if (!reason[0] && label && mask_dir) {
            const char *rel = strncmp(path, dir, dlen) == 0 && path[dlen] == '/' ? path + dlen + 1 : strrchr(path, '/');
            if (!rel) rel = path;
            while (*rel == '/') rel++;
            char mpath[4200];
            snprintf(mpath, sizeof mpath, "%s/%s", mask_dir, rel);
            struct stat sb;
            if (stat(mpath, &sb) == 0) has_mask = read_mask(m, mpath, im.w, im.h, s->size, reason, sizeof reason) == 0;
        }
        fab_image_free(&im);
        if (reason[0]) {
            fn(user, path, reason);
            continue;
        }
        if (!(s->path[s->n] = strdup(path))) {
            st = mc_error_set(err, MC_ERR_NOMEM, "out of memory reading %s", dir);
            break;
        }
        s->label[s->n] = (uint8_t)label;
        s->has_mask[s->n] = (uint8_t)has_mask;
        s->n++;
        fn(user, path, NULL);
    }
    mc_inputs_free(&in);
    return st;
}

/* Appends image i of src to dst. */
static int take(fab_image_set *dst, const fab_image_set *src, int i) {
    char *path = strdup(src->path[i]);
    if (!path || grow(dst) != 0) {
        free(path);
        return -1;
    }
    size_t px = (size_t)src->size * src->size;
    memcpy(dst->x + px * dst->n, src->x + px * i, sizeof(float) * px);
    memcpy(dst->mask + px * dst->n, src->mask + px * i, sizeof(float) * px);
    dst->label[dst->n] = src->label[i];
    dst->has_mask[dst->n] = src->has_mask[i];
    dst->path[dst->n] = path;
    dst->n++;
    return 0;
}

mc_status fab_image_set_split(const fab_image_set *s, const double fraction[2], uint64_t seed, fab_image_set *train,
                              fab_image_set *val) {
    fab_image_set_init(train, s->size);
    fab_image_set_init(val, s->size);
    mc_rng *rng = mc_rng_create(seed);
    int *order = malloc(sizeof(int) * (size_t)(s->n > 0 ? s->n : 1));
    uint8_t *to_val = calloc((size_t)(s->n > 0 ? s->n : 1), 1);
    mc_status st = rng && order && to_val ? MC_OK : MC_ERR_NOMEM;
    for (int label = 0; label < 2 && st == MC_OK; label++) {
        int k = 0;
        for (int i = 0; i < s->n; i++)
            if (s->label[i] == label) order[k++] = i;
        mc_rng_shuffle(rng, order, k);
        int nv = (int)lround(fraction[label] * k);
        if (nv < 1 && k >= 2 && fraction[label] > 0) nv = 1;
        for (int j = 0; j < nv; j++) to_val[order[j]] = 1;
    }
    for (int i = 0; i < s->n && st == MC_OK; i++)
        if (take(to_val[i] ? val : train, s, i) != 0) st = MC_ERR_NOMEM;
    free(order);
    free(to_val);
    mc_rng_destroy(rng);
    return st;
}

int fab_image_set_count(const fab_image_set *s, int label) {
    int k = 0;
    for (int i = 0; i < s->n; i++) k += s->label[i] == label;
    return k;
}
