/* threads.h: how many OpenMP threads a program's work uses.
 *
 * With --threads N (mc_threads_init(N)) the count is N. By default (--threads 0) it follows the free
 * cores: OpenMP's waiting threads spin, so on a machine where another process holds one of two
 * cores two threads run slower than one would. At the start the count is the cores less the other
 * processes' threads running then (/proc/loadavg); afterwards, between inputs, at progress updates
 * and at each network forward pass (mc_threads_follow), at most every quarter second, the CPU time
 * the machine spent outside this process since the last look is read from /proc/stat and the count
 * becomes the cores that left free (at least one, at most the cores this process may run on).
 * OMP_NUM_THREADS in the environment fixes the count as well. The same inputs and seed give the same
 * bits only with the same count, so the commands that fit models (mc_cli_spec.trains) never follow:
 * there --threads 0 means every core. OpenBLAS (its OpenMP build), oneDNN
 * and the library's own loops take the count of the calling thread at each call. */
#ifndef MOECORE_THREADS_H
#define MOECORE_THREADS_H

#ifdef __cplusplus
extern "C" {
#endif

/* Sets the count: requested > 0 fixes it; 0 follows the free cores when may_follow, else (a command
 * that fits a model, whose bits depend on the count) fixes it at every core this process may run
 * on. OMP_NUM_THREADS, when set, stands for 0. Called on the thread that runs the program's work
 * (mc_cli_parse does). */
void mc_threads_init(int requested, int may_follow);

/* Re-reads the free cores when the count follows them and a quarter second has passed since the
 * last look; does nothing on other threads or inside a parallel region. */
void mc_threads_follow(void);

/* Whether the count follows the free cores (after mc_threads_init). */
int mc_threads_following(void);

#ifdef __cplusplus
}
#endif
#endif
