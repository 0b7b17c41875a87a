/* test_threads.c: the OpenMP thread count follows the free cores (threads.h). Other processes are
 * busy loops in child processes, one fewer than this process's cores, so that one core is left:
 * the count must come down to one at the start and after a look at /proc/stat, and come back up
 * when they stop. A fixed count (--threads N, OMP_NUM_THREADS, a command that fits a model) never
 * moves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <omp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "moecore/threads.h"

enum { MAX_SPINNERS = 256 };
static pid_t spinners[MAX_SPINNERS];
static int n_spinners;

static void start_spinners(int n) {
    n_spinners = n < MAX_SPINNERS ? n : MAX_SPINNERS;
    for (int i = 0; i < n_spinners; i++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            volatile unsigned long x = 0;
            for (;;) x++;
        }
        spinners[i] = pid;
    }
}

static void stop_spinners(void) {
    for (int i = 0; i < n_spinners; i++) {
        kill(spinners[i], SIGKILL);
        waitpid(spinners[i], NULL, 0);
    }
    n_spinners = 0;
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* A quarter second passes, with this process idle, before each look. */
static void look(void) {
    sleep_s(0.35);
    mc_threads_follow();
}

static void follows_free_cores(void **state) {
    (void)state;
    int cores = omp_get_num_procs();
    if (cores < 2) skip();
    unsetenv("OMP_NUM_THREADS");
    start_spinners(cores - 1);
    sleep_s(0.1); /* the spinners are running */
    mc_threads_init(0, 1);
    assert_true(mc_threads_following());
    assert_int_equal(omp_get_max_threads(), 1); /* at the start: from the threads running now */
    look();
    assert_int_equal(omp_get_max_threads(), 1); /* measured over a window */
    stop_spinners();
    /* with nothing else running the count comes back up; another test may hold a core meanwhile,
     * so only more than one is asserted, and only with four cores or more */
    look();
    if (cores >= 4) assert_true(omp_get_max_threads() > 1);
    assert_true(omp_get_max_threads() <= cores);
}

static void requested_count_is_fixed(void **state) {
    (void)state;
    int cores = omp_get_num_procs();
    if (cores < 2) skip();
    start_spinners(cores - 1);
    mc_threads_init(3, 1);
    assert_false(mc_threads_following());
    assert_int_equal(omp_get_max_threads(), 3);
    look();
    assert_int_equal(omp_get_max_threads(), 3);
    stop_spinners();
}

/* A command that fits a model: every core, whatever the load. */
static void training_count_is_every_core(void **state) {
    (void)state;
    int cores = omp_get_num_procs();
    if (cores < 2) skip();
    unsetenv("OMP_NUM_THREADS");
    start_spinners(cores - 1);
    sleep_s(0.1);
    mc_threads_init(0, 0);
    assert_false(mc_threads_following());
    assert_int_equal(omp_get_max_threads(), cores);
    look();
    assert_int_equal(omp_get_max_threads(), cores);
    stop_spinners();
}

static void environment_count_is_fixed(void **state) {
    (void)state;
    int cores = omp_get_num_procs();
    if (cores < 2) skip();
    omp_set_num_threads(2);
    setenv("OMP_NUM_THREADS", "2", 1);
    start_spinners(cores - 1);
    mc_threads_init(0, 1);
    assert_false(mc_threads_following());
    look();
    assert_int_equal(omp_get_max_threads(), 2);
    stop_spinners();
    unsetenv("OMP_NUM_THREADS");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(follows_free_cores),
        cmocka_unit_test(requested_count_is_fixed),
        cmocka_unit_test(training_count_is_every_core),
        cmocka_unit_test(environment_count_is_fixed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
