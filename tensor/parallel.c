#include "parallel.h"

#include <time.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

static int g_threads; /* 0 until first use: then the core count */

int tg_available_cores(void)
{
#ifdef _OPENMP
    int n = omp_get_num_procs();
#else
    long n = sysconf(_SC_NPROCESSORS_ONLN);
#endif
    return n >= 1 ? (int)n : 1;
}

void tg_set_threads(int n)
{
    g_threads = n >= 1 ? n : 1;
}

int tg_get_threads(void)
{
    if (g_threads == 0)
        g_threads = tg_available_cores();
    return g_threads;
}

bool tg_have_openmp(void)
{
#ifdef _OPENMP
    return true;
#else
    return false;
#endif
}

void tg_parallel_for(size_t n, size_t grain, tg_range_fn body, void *ctx)
{
    if (grain == 0)
        grain = 1;
    size_t chunks = (n + grain - 1) / grain;
    /* Always chunk by chunk, even on one thread: a body that keeps per-chunk partial sums then
     * sees the same chunks whatever the thread count. */
#ifdef _OPENMP
    int threads = tg_get_threads();
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && chunks > 1)
#endif
    for (size_t c = 0; c < chunks; c++) {
        size_t lo = c * grain, hi = lo + grain < n ? lo + grain : n;
        body(lo, hi, ctx);
    }
}

double tg_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
