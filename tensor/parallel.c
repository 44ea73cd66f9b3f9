#include "parallel.h"

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
