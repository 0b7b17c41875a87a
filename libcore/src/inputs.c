/* inputs.c: expanding command-line paths into a sorted list of input files. */
#include "moecore/inputs.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static int push(mc_inputs *in, const char *path) {
    char **grown = realloc(in->paths, sizeof *grown * (size_t)(in->n + 1));
    if (!grown) return -1;
    in->paths = grown;
    if (!(in->paths[in->n] = strdup(path))) return -1;
    in->n++;
    return 0;
}

static int has_suffix(const char *name, const char *suffix) {
    size_t a = strlen(name), b = suffix ? strlen(suffix) : 0;
    return !suffix || (a >= b && strcasecmp(name + a - b, suffix) == 0);
}

static int by_path(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Walks dir; depth limits runaway symlink loops. */
static mc_status walk(mc_inputs *in, const char *dir, const char *suffix, int depth, mc_error *err) {
    if (depth > 32) return mc_error_set(err, MC_ERR_IO, "%s: folders nested too deep (a symlink loop?)", dir);
    DIR *d = opendir(dir);
    if (!d) return mc_error_set(err, MC_ERR_IO, "%s: cannot read folder: %s", dir, strerror(errno));
    struct dirent *e;
    mc_status st = MC_OK;
    while (st == MC_OK && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) continue;
        struct stat sb;
        if (stat(path, &sb) != 0) continue; /* a dangling link */
        if (S_ISDIR(sb.st_mode))
            st = walk(in, path, suffix, depth + 1, err);
        else if (S_ISREG(sb.st_mode) && has_suffix(e->d_name, suffix) && push(in, path) != 0)
            st = mc_error_set(err, MC_ERR_NOMEM, "out of memory");
    }
    closedir(d);
    return st;
}

mc_status mc_inputs_collect(mc_inputs *out, char *const *paths, int n, const char *suffix, mc_error *err) {
    if (!out || (n > 0 && !paths)) return mc_error_set(err, MC_ERR_ARG, "mc_inputs_collect: invalid arguments");
    out->paths = NULL;
    out->n = 0;
    for (int i = 0; i < n; i++) {
        struct stat sb;
        mc_status st = MC_OK;
        if (stat(paths[i], &sb) != 0) {
            st = mc_error_set(err, MC_ERR_IO, "%s: %s", paths[i], strerror(errno));
        } else if (S_ISDIR(sb.st_mode)) {
            int first = out->n;
            st = walk(out, paths[i], suffix, 0, err);
            if (st == MC_OK) qsort(out->paths + first, (size_t)(out->n - first), sizeof *out->paths, by_path);
        } else if (push(out, paths[i]) != 0) {
            st = mc_error_set(err, MC_ERR_NOMEM, "out of memory");
        }
        if (st != MC_OK) {
            mc_inputs_free(out);
            return st;
        }
    }
    return MC_OK;
}

void mc_inputs_free(mc_inputs *in) {
    if (!in) return;
    for (int i = 0; i < in->n; i++) free(in->paths[i]);
    free(in->paths);
    in->paths = NULL;
    in->n = 0;
}
