/* threads.c: OpenMP threads that follow the free cores (threads.h). */
#include "moecore/threads.h"

#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "moecore/log.h"

#define WINDOW_S 0.25 /* the shortest interval the other processes' use is measured over */

static struct {
    int following;     /* whether the count follows the free cores */
    int max;           /* the cores this process may run on */
    int current;       /* the count set now */
    pthread_t owner;   /* the thread that called mc_threads_init */
    long ticks_per_s;  /* /proc/stat's unit */
    double wall, own;  /* at the last sample: monotonic time and this process's CPU time, in seconds */
    double busy;       /* at the last sample: the machine's busy time, in seconds of one core */
} st;

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The machine's busy time (every core's, in seconds of one core) from /proc/stat's first line; time
 * stolen by a hypervisor counts as busy. Returns -1 when it cannot be read. */
static double machine_busy_s(void) {
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    unsigned long long user, nice, sys, idle, iowait, irq, softirq, steal = 0;
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &sys, &idle, &iowait, &irq,
                   &softirq, &steal);
    fclose(f);
    if (n < 7) return -1;
    return (double)(user + nice + sys + irq + softirq + steal) / (double)st.ticks_per_s;
}

/* Threads of other processes running now, from /proc/loadavg's count of runnable threads less this
 * one: the least of five reads a millisecond apart, so that a process that only passes by is not
 * counted. Returns -1 when it cannot be read. */
static int others_running_now(void) {
    int least = -1;
    for (int i = 0; i < 5; i++) {
        FILE *f = fopen("/proc/loadavg", "r");
        if (!f) return -1;
        int running = 0;
        int ok = fscanf(f, "%*f %*f %*f %d/", &running) == 1;
        fclose(f);
        if (!ok) return -1;
        if (least < 0 || running - 1 < least) least = running - 1 < 0 ? 0 : running - 1;
        if (i < 4) nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    return least;
}

static void set_count(int n, double others) {
    if (n < 1) n = 1;
    if (n > st.max) n = st.max;
    if (n == st.current) return;
    if (st.current != 0 || n < st.max) mc_log_debug("threads: %d (other processes keep %.1f of %d cores busy)", n, others, st.max);
    st.current = n;
    omp_set_num_threads(n);
}

static void sample(void) {
    st.wall = clock_s(CLOCK_MONOTONIC);
    st.own = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    st.busy = machine_busy_s();
}

void mc_threads_init(int requested, int may_follow) {
    st.owner = pthread_self();
    st.max = omp_get_num_procs();
    st.current = 0;
    st.following = 0;
    const char *env = getenv("OMP_NUM_THREADS");
    if (requested > 0 || (!may_follow && !(env && *env))) {
        omp_set_num_threads(requested > 0 ? requested : st.max);
        return;
    }
    st.ticks_per_s = sysconf(_SC_CLK_TCK);
    st.following = !(env && *env) && st.max > 1 && st.ticks_per_s > 0;
    if (!st.following) return;
    sample();
    if (st.busy < 0) {
        st.following = 0;
        return;
    }
    int others = others_running_now();
    set_count(st.max - (others > 0 ? others : 0), others);
}

void mc_threads_follow(void) {
    if (!st.following || omp_in_parallel() || !pthread_equal(pthread_self(), st.owner)) return;
    double wall = clock_s(CLOCK_MONOTONIC), dt = wall - st.wall;
    if (dt < WINDOW_S) return;
    double prev_own = st.own, prev_busy = st.busy;
    sample();
    if (st.busy < 0) {
        st.following = 0;
        return;
    }
    /* cores kept busy by everything but this process over the window */
    double others = ((st.busy - prev_busy) - (st.own - prev_own)) / dt;
    if (others < 0) others = 0;
    set_count((int)((double)st.max - others + 0.5), others);
}

int mc_threads_following(void) { return st.following; }
