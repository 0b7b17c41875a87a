/* progress.c: the terminal progress bar (count, rate, ETA), redrawn at most ten times a second. */
#include "moecore/progress.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "moecore/log.h"
#include "run_safe_point.h"
#include "moecore/threads.h"

struct mc_progress {
    char label[64];
    int64_t total;
    int64_t done;
    double start;
    double last_draw;
    int color;
    omp_lock_t lock;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void format_duration(char *buf, size_t size, double s) {
    if (s < 0 || s > 359999) {
        snprintf(buf, size, "--:--");
        return;
    }
    int t = (int)(s + 0.5); /* at most 99:59:59 */
    if (t >= 3600)
        snprintf(buf, size, "%d:%02d:%02d", t / 3600 % 100, t / 60 % 60, t % 60);
    else
        snprintf(buf, size, "%d:%02d", t / 60 % 60, t % 60);
}

void mc_progress_format(char *buf, size_t size, const char *label, int64_t done, int64_t total,
                        double elapsed_s, int width, int color) {
    double rate = elapsed_s > 0 ? (double)done / elapsed_s : 0.0;
    char eta[32] = "--:--";
    if (total > 0 && rate > 0) format_duration(eta, sizeof eta, (double)(total - done) / rate);
    if (total <= 0) {
        char el[32];
        format_duration(el, sizeof el, elapsed_s);
        snprintf(buf, size, "%s %lld %.1f/s %s", label, (long long)done, rate, el);
        return;
    }
    char bar[256];
    if (width > (int)sizeof bar - 1) width = (int)sizeof bar - 1;
    int filled = (int)((double)width * (double)(done > total ? total : done) / (double)total);
    for (int i = 0; i < width; i++) bar[i] = i < filled ? '=' : (i == filled ? '>' : ' ');
    if (filled >= width && width > 0) bar[width - 1] = '=';
    bar[width] = '\0';
    snprintf(buf, size, "%s [%s%s%s] %lld/%lld %.1f/s ETA %s", label, color ? "\033[32m" : "", bar,
             color ? "\033[0m" : "", (long long)done, (long long)total, rate, eta);
}

mc_progress *mc_progress_start(const char *label, int64_t total) {
    if (!isatty(STDERR_FILENO) || mc_log_json() || !mc_log_enabled(MC_LOG_INFO)) return NULL;
    mc_progress *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    p->total = total;
    p->start = now_s();
    const char *term = getenv("TERM");
    p->color = getenv("NO_COLOR") == NULL && !(term && strcmp(term, "dumb") == 0);
    omp_init_lock(&p->lock);
    return p;
}

static void draw(mc_progress *p, double t) {
    char line[512];
    mc_progress_format(line, sizeof line, p->label, p->done, p->total, t - p->start, 30, p->color);
    fprintf(stderr, "\r%s\033[K", line);
    fflush(stderr);
    p->last_draw = t;
}

void mc_progress_add(mc_progress *p, int64_t n) {
    mc_run_safe_point();
    mc_threads_follow();
    if (!p) return;
    omp_set_lock(&p->lock);
    p->done += n;
    double t = now_s();
    if (t - p->last_draw >= 0.1) draw(p, t);
    omp_unset_lock(&p->lock);
}

void mc_progress_finish(mc_progress *p) {
    if (!p) return;
    draw(p, now_s());
    fputc('\n', stderr);
    omp_destroy_lock(&p->lock);
    free(p);
}
