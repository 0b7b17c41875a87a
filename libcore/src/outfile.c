/* outfile.c: output files by temporary file and rename (outfile.h). */
#include "moecore/outfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TMP_PREFIX ".tmp-"

/* The folder part of path ("." when it has none) into dir. Returns 0, or -1 when it does not fit. */
static int folder_of(const char *path, char *dir, size_t size) {
    const char *slash = strrchr(path, '/');
    if (!slash) return snprintf(dir, size, ".") < (int)size ? 0 : -1;
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= size) return -1;
    memcpy(dir, path, n);
    dir[n] = '\0';
    return 0;
}

/* Folders cleaned by this process already. */
static pthread_mutex_t cleaned_lock = PTHREAD_MUTEX_INITIALIZER;
static char *cleaned[64];
static int n_cleaned;

/* Whether dir is new to this process; it is then remembered (while there is room). */
static int first_time(const char *dir) {
    pthread_mutex_lock(&cleaned_lock);
    int seen = 0;
    for (int i = 0; i < n_cleaned && !seen; i++) seen = strcmp(cleaned[i], dir) == 0;
    if (!seen && n_cleaned < (int)(sizeof cleaned / sizeof *cleaned)) {
        char *copy = strdup(dir);
        if (copy) cleaned[n_cleaned++] = copy;
    }
    pthread_mutex_unlock(&cleaned_lock);
    return !seen;
}

/* The process id in a temporary file's name ".tmp-PID-NAME", or 0 when it is not one. */
static long pid_of(const char *name) {
    if (strncmp(name, TMP_PREFIX, strlen(TMP_PREFIX)) != 0) return 0;
    char *end;
    long pid = strtol(name + strlen(TMP_PREFIX), &end, 10);
    return pid > 0 && *end == '-' && end[1] != '\0' ? pid : 0;
}

static void clean_folder(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    int fd = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long pid = pid_of(e->d_name);
        if (pid == 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive, or not ours to judge */
        struct stat st;
        if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) unlinkat(fd, e->d_name, 0);
    }
    closedir(d);
}

void mc_outfile_clean_stale(const char *path) {
    char dir[MC_OUTFILE_PATH_MAX];
    if (path && folder_of(path, dir, sizeof dir) == 0) clean_folder(dir);
}

mc_status mc_outfile_begin(mc_outfile *o, const char *path, mc_error *err) {
    if (!o || !path || !*path) return mc_error_set(err, MC_ERR_ARG, "mc_outfile_begin: invalid arguments");
    memset(o, 0, sizeof *o);
    if (snprintf(o->path, sizeof o->path, "%s", path) >= (int)sizeof o->path)
        return mc_error_set(err, MC_ERR_IO, "%.200s...: the output's name is too long", path);
    struct stat st;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return mc_error_set(err, MC_ERR_IO, "%s: is a folder, not a file", path);
        if (!S_ISREG(st.st_mode)) {
            o->in_place = 1;
            snprintf(o->tmp, sizeof o->tmp, "%s", path);
            return MC_OK;
        }
    }
    char dir[MC_OUTFILE_PATH_MAX];
    if (folder_of(path, dir, sizeof dir) != 0) return mc_error_set(err, MC_ERR_IO, "%s: the output's name is too long", path);
    if (first_time(dir)) clean_folder(dir);
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    if (!*name) return mc_error_set(err, MC_ERR_IO, "%s: is a folder, not a file", path);
    int n = slash ? snprintf(o->tmp, sizeof o->tmp, "%.*s" TMP_PREFIX "%ld-%s", (int)(name - path), path, (long)getpid(), name)
                  : snprintf(o->tmp, sizeof o->tmp, TMP_PREFIX "%ld-%s", (long)getpid(), name);
    if (n >= (int)sizeof o->tmp) return mc_error_set(err, MC_ERR_IO, "%s: the output's name is too long", path);
    return MC_OK;
}

/* Makes a rename in the folder of path durable (errors ignored: not every file system can). */
static void sync_folder(const char *path) {
    char dir[MC_OUTFILE_PATH_MAX];
    if (folder_of(path, dir, sizeof dir) != 0) return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return;
    fsync(fd);
    close(fd);
}

mc_status mc_outfile_commit(mc_outfile *o, mc_error *err) {
    if (!o) return mc_error_set(err, MC_ERR_ARG, "mc_outfile_commit: invalid arguments");
    if (o->in_place) return MC_OK;
    if (rename(o->tmp, o->path) != 0) {
        mc_status st = mc_error_set(err, MC_ERR_IO, "%s: cannot put the new file in place: %s", o->path, strerror(errno));
        unlink(o->tmp);
        return st;
    }
    sync_folder(o->path);
    return MC_OK;
}

void mc_outfile_abort(mc_outfile *o) {
    if (o && !o->in_place && o->tmp[0]) unlink(o->tmp);
}
