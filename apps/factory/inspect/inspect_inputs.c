/* inspect_inputs.c: the images of an inspect run and their heatmap names (inspect_inputs.h). */
#define _GNU_SOURCE /* realpath */
#include "inspect_inputs.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "moecore/inputs.h"
#include "moecore/safe_name.h"
#include "moecore/sha256.h"

/* One image: where it is read from, where it is (the absolute path: what tells two images apart),
 * and the part of that path its heatmap is named after (from start). */
typedef struct entry {
    char *path, *ident;
    size_t start;
    int hashed; /* the name carries a hash of ident */
    int missing; /* does not exist: no heatmap, and no say in the others' names */
    char name[FAB_HEATMAP_NAME_MAX];
} entry;

typedef struct list {
    entry *e;
    int n, cap;
} list;

static void list_free(list *l) {
    for (int i = 0; i < l->n; i++) {
        free(l->e[i].path);
        free(l->e[i].ident);
    }
    free(l->e);
    memset(l, 0, sizeof *l);
}

/* Appends path with identity prefix + sep + rest (rest may be NULL), its name starting at start. */
static int list_push(list *l, const char *path, const char *prefix, const char *rest, size_t start) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        entry *e = realloc(l->e, sizeof *e * (size_t)cap);
        if (!e) return -1;
        l->e = e;
        l->cap = cap;
    }
    size_t np = strlen(prefix), nr = rest ? strlen(rest) : 0;
    int sep = rest && (np == 0 || prefix[np - 1] != '/');
    entry *e = &l->e[l->n];
    memset(e, 0, sizeof *e);
    e->path = strdup(path);
    e->ident = malloc(np + (size_t)sep + nr + 1);
    if (!e->path || !e->ident) {
        free(e->path);
        free(e->ident);
        return -1;
    }
    memcpy(e->ident, prefix, np);
    if (sep) e->ident[np] = '/';
    if (rest) memcpy(e->ident + np + sep, rest, nr);
    e->ident[np + (size_t)sep + nr] = '\0';
    e->start = start;
    l->n++;
    return 0;
}

/* Where the last component of s starts. */
static size_t last_component(const char *s) {
    const char *slash = strrchr(s, '/');
    return slash ? (size_t)(slash - s) + 1 : 0;
}

/* 1 when rel (a path below a folder given) lies in a folder named masks. */
static int under_masks(const char *rel) {
    for (const char *p = rel, *slash; (slash = strchr(p, '/')); p = slash + 1)
        if (slash - p == 5 && strncmp(p, "masks", 5) == 0) return 1;
    return 0;
}

/* e's heatmap name from its identity after start. */
static void name_entry(entry *e) {
    const char *raw = e->ident + e->start;
    size_t n = strlen(raw);
    if (n > 4 && strcasecmp(raw + n - 4, ".png") == 0) n -= 4;
    char *stem = strndup(raw, n);
    mc_safe_name(e->name, MC_SAFE_NAME_SIZE, stem ? stem : raw);
    free(stem);
    size_t k = strlen(e->name);
    if (e->hashed) {
        char hex[MC_SHA256_HEX];
        mc_sha256_hex((const unsigned char *)e->ident, strlen(e->ident), hex);
        e->name[k++] = '-';
        memcpy(e->name + k, hex, 8);
        k += 8;
    }
    memcpy(e->name + k, ".png", 5);
}

/* Moves e's start to the folder before it; 0 when there is none. */
static int extend(entry *e) {
    size_t k = e->start;
    while (k > 0 && e->ident[k - 1] == '/') k--;
    if (k == 0) return 0;
    while (k > 0 && e->ident[k - 1] != '/') k--;
    e->start = k;
    return 1;
}

static int by_name(const void *a, const void *b) {
    const entry *x = *(entry *const *)a, *y = *(entry *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->ident, y->ident);
}

/* Names every entry, then lengthens the names of different images that share one until none do. */
static mc_status name_all(list *l, mc_error *err) {
    entry **order = malloc(sizeof *order * (size_t)(l->n > 0 ? l->n : 1));
    if (!order) return mc_error_set(err, MC_ERR_NOMEM, "out of memory");
    int n = 0;
    for (int i = 0; i < l->n; i++)
        if (!l->e[i].missing) {
            name_entry(&l->e[i]);
            order[n++] = &l->e[i];
        }
    for (int changed = 1; changed;) {
        changed = 0;
        qsort(order, (size_t)n, sizeof *order, by_name);
        for (int i = 0, j; i < n; i = j) {
            for (j = i + 1; j < n && strcmp(order[j]->name, order[i]->name) == 0; j++) {}
            if (strcmp(order[i]->ident, order[j - 1]->ident) == 0) continue; /* one image (or none shared) */
            int moved = 0;
            for (int k = i; k < j; k++) moved |= extend(order[k]);
            if (!moved) /* no folder left to tell them apart: a hash of each one's absolute path */
                for (int k = i; k < j; k++)
                    if (!order[k]->hashed) order[k]->hashed = moved = 1;
            for (int k = i; k < j && moved; k++) name_entry(order[k]);
            changed |= moved;
        }
    }
    free(order);
    return MC_OK;
}

/* The images below folder arg, its absolute path rp: every .png outside masks/ folders. */
static mc_status add_folder(list *l, const char *arg, const char *rp, mc_error *err) {
    mc_inputs in;
    char *paths[1] = {(char *)arg};
    mc_status st = mc_inputs_collect(&in, paths, 1, ".png", err);
    if (st != MC_OK) return st;
    size_t na = strlen(arg), nr = strlen(rp);
    while (nr > 1 && rp[nr - 1] == '/') nr--;
    size_t start = nr == 1 && rp[0] == '/' ? 1 : last_component(rp);
    for (int i = 0; i < in.n && st == MC_OK; i++) {
        const char *rel = in.paths[i] + na;
        while (*rel == '/') rel++;
        if (under_masks(rel)) continue;
        if (list_push(l, in.paths[i], rp, rel, start) != 0) st = mc_error_set(err, MC_ERR_NOMEM, "out of memory");
    }
    mc_inputs_free(&in);
    return st;
}

mc_status fab_inspect_inputs_collect(fab_inspect_inputs *in, char *const *args, int n_args, mc_error *err) {
    if (!in || (n_args > 0 && !args)) return mc_error_set(err, MC_ERR_ARG, "fab_inspect_inputs_collect: invalid arguments");
    memset(in, 0, sizeof *in);
    list l = {0};
    mc_status st = MC_OK;
    for (int a = 0; a < n_args && st == MC_OK; a++) {
        struct stat sb;
        int exists = stat(args[a], &sb) == 0;
        char *rp = exists ? realpath(args[a], NULL) : NULL;
        const char *ident = rp ? rp : args[a];
        if (exists && S_ISDIR(sb.st_mode)) {
            st = add_folder(&l, args[a], ident, err);
        } else if (list_push(&l, args[a], ident, NULL, last_component(ident)) != 0) {
            st = mc_error_set(err, MC_ERR_NOMEM, "out of memory");
        } else {
            l.e[l.n - 1].missing = !exists;
        }
        free(rp);
    }
    if (st == MC_OK) st = name_all(&l, err);
    if (st == MC_OK) {
        in->path = calloc((size_t)(l.n > 0 ? l.n : 1), sizeof *in->path);
        in->heatmap = calloc((size_t)(l.n > 0 ? l.n : 1), sizeof *in->heatmap);
        if (!in->path || !in->heatmap) st = mc_error_set(err, MC_ERR_NOMEM, "out of memory");
        for (int i = 0; i < l.n && st == MC_OK; i++) {
            in->path[i] = l.e[i].path;
            l.e[i].path = NULL;
            in->n++;
            if (!(in->heatmap[i] = strdup(l.e[i].name))) st = mc_error_set(err, MC_ERR_NOMEM, "out of memory");
        }
    }
    list_free(&l);
    if (st != MC_OK) fab_inspect_inputs_free(in);
    return st;
}

void fab_inspect_inputs_free(fab_inspect_inputs *in) {
    if (!in) return;
    for (int i = 0; i < in->n; i++) {
        free(in->path[i]);
        free(in->heatmap[i]);
    }
    free(in->path);
    free(in->heatmap);
    memset(in, 0, sizeof *in);
}
