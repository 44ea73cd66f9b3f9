/* tensor/parallel.h — the worker-thread count used by every parallel kernel, and parallel loops.
 *
 * Kernels split output rows or columns on fixed boundaries that do not depend on the thread
 * count, so results are bitwise identical for any setting.  The library keeps its own team of
 * helper threads (started on the first loop that wants them, parked in between, stopped at exit
 * or by tg_stop_threads): a plain user loop gets the same threads as the programs, with nothing
 * to manage.  The thread count is tg_set_threads's, else the environment's TG_THREADS, else
 * OMP_NUM_THREADS, else the number of cores this process may run on. */
#ifndef TG_PARALLEL_H
#define TG_PARALLEL_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The most threads a loop uses (larger settings are cut to it). */
#define TG_MAX_THREADS 256

/* The body of a parallel loop: processes items [lo, hi). */
typedef void (*tg_range_fn)(size_t lo, size_t hi, void *ctx);

/* Runs body over [0, n) in chunks of `grain` items (the last one shorter), spread over
 * tg_get_threads() threads.  Chunk boundaries depend on n and grain only, never on the thread
 * count (one thread runs the same chunks in order), so a body whose chunks are independent gives
 * the same bits on any number of threads.  Choose grain so one chunk's work outweighs
 * handing it to another thread, or the fork costs more than it saves.  A loop that a body runs
 * (an op called from a chunk) runs serially on that chunk's thread. */
void tg_parallel_for(size_t n, size_t grain, tg_range_fn body, void *ctx);

/* Runs fn(ctx) on the calling thread with the team reserved for it: every parallel loop fn runs
 * (hence every threaded kernel) is shared with the helpers without taking the team for each one.
 * Loops outside it take the team themselves, so this is an economy for a function that runs
 * thousands of short loops (a training loop), not a requirement.  Either way a helper that has
 * lost its core to another process costs nothing (its chunks are taken over), and the caller
 * times its loops and, when running them alone proves faster (a busy or badly placed second
 * core), runs them alone, trying the team again now and then.  Results are the same bits as
 * without it.  Nested calls and calls while another thread owns the team just call fn. */
typedef void (*tg_team_fn)(void *ctx);
void tg_team_run(tg_team_fn fn, void *ctx);

/* Stops the library's helper threads and waits for them to end (they also stop at exit); the
 * next parallel loop that wants them starts them again.  For a program that wants its threads
 * back between phases of work, or before unloading the library.  If another thread is in a
 * loop or in tg_team_run, this waits (asleep) for that to end; that thread's further loops run
 * on it alone until the helpers are stopped.  Called from a loop body or inside tg_team_run it
 * does nothing (the team is working for its caller), and during exit too. */
void tg_stop_threads(void);

/* n >= 1 threads from now on (more than TG_MAX_THREADS is TG_MAX_THREADS), over the environment;
 * 0: the default again (TG_THREADS, OMP_NUM_THREADS, the cores: read at the next loop).  Values
 * above the processor count are allowed (they only cost time). */
void tg_set_threads(int n);
int tg_get_threads(void);
/* Seconds on a monotonic clock: for timing kernels, profiles and epochs (differences only). */
double tg_now_seconds(void);

/* Processors this process may run on (its affinity mask; 1 when unknown). */
int tg_available_cores(void);

#ifdef __cplusplus
}
#endif

#endif
