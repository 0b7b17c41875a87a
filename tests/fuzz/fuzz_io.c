/* fuzz_io.c: the harnesses' own folder of input files, and the split of an input into parts. */
#define _GNU_SOURCE
#include "fuzz_io.h"

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char dir[PATH_MAX];

static void fail(const char *what, const char *path) {
    fprintf(stderr, "fuzz harness: cannot %s %s\n", what, path);
    abort();
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* Removes path and everything under it. */
static void remove_tree(const char *path) { nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

static void remove_dir(void) { remove_tree(dir); }

const char *fuzz_dir(void) {
    if (dir[0]) return dir;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/moe-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) fail("make a folder like", dir);
    atexit(remove_dir);
    return dir;
}

const char *fuzz_write(const char *name, const uint8_t *data, size_t size) {
    static char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
    FILE *f = fopen(path, "wb");
    if (!f) fail("write", path);
    int short_write = size > 0 && fwrite(data, 1, size, f) != size;
    if (fclose(f) != 0 || short_write) fail("write", path);
    return path;
}

const char *fuzz_mkdir(const char *name) {
    static char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
    remove_tree(path);
    if (mkdir(path, 0700) != 0) fail("make the folder", path);
    return path;
}

int fuzz_split(const uint8_t *data, size_t size, const char *sep, fuzz_part *parts, int max) {
    size_t n_sep = strlen(sep);
    int n = 0;
    while (n < max - 1) {
        const uint8_t *at = memmem(data, size, sep, n_sep);
        if (!at) break;
        parts[n++] = (fuzz_part){data, (size_t)(at - data)};
        size -= (size_t)(at - data) + n_sep;
        data = at + n_sep;
    }
    parts[n++] = (fuzz_part){data, size};
    return n;
}
