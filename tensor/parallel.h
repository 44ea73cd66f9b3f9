/* tensor/parallel.h — the worker-thread count used by every parallel kernel.
 *
 * Kernels split output rows or columns on fixed boundaries that do not depend on the thread
 * count, so results are bitwise identical for any setting. Without OpenMP everything runs on
 * one thread and tg_set_threads only records the value. */
#ifndef TG_PARALLEL_H
#define TG_PARALLEL_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The body of a parallel loop: processes items [lo, hi). */
typedef void (*tg_range_fn)(size_t lo, size_t hi, void *ctx);

/* Runs body over [0, n) in chunks of `grain` items (the last one shorter), spread over
 * tg_get_threads() threads.  Chunk boundaries depend on n and grain only, never on the thread
 * count (one thread runs the same chunks in order), so a body whose chunks are independent gives
 * the same bits on any number of threads.  Choose grain so one chunk's work outweighs
 * handing it to another thread, or the fork costs more than it saves. */
void tg_parallel_for(size_t n, size_t grain, tg_range_fn body, void *ctx);

/* Runs fn(ctx) on the calling thread while tg_get_threads() - 1 helper threads wait for its
 * parallel loops: every tg_parallel_for (hence every threaded kernel) that fn runs is shared
 * with them without waking a team of threads for each loop, and without waiting for a helper
 * that has lost its core to another process (its chunks are taken over).  The caller also
 * times its loops and, when running them alone proves faster (a busy or badly placed second
 * core), runs them alone, trying the team again now and then.  For a training loop, which runs
 * thousands of short parallel kernels.  Results are the same bits as without it.
 * Nested calls, calls while another thread's team runs, and builds without OpenMP just call fn. */
typedef void (*tg_team_fn)(void *ctx);
void tg_team_run(tg_team_fn fn, void *ctx);

/* n >= 1; values above the processor count are allowed (they only cost time). */
void tg_set_threads(int n);
int tg_get_threads(void);
/* Seconds on a monotonic clock: for timing kernels, profiles and epochs (differences only). */
double tg_now_seconds(void);

/* Processors available to this process (1 when unknown). */
int tg_available_cores(void);
bool tg_have_openmp(void);

#ifdef __cplusplus
}
#endif

#endif
