/* bench/bench_team.c — what one parallel loop costs beyond its work: the hand-off to the library's
 * helper threads and the wait for them (tensor/parallel.c).
 *
 *   bench_team [--loops N]
 *
 * A loop of 2 chunks, each a fixed stretch of arithmetic (a dependent chain of adds, so it takes
 * the same time on any core and is not memory-bound), is run N times (default 20000) back to
 * back on 1 thread and on 2, for chunks of about 1, 3 and 10 microseconds.  For each it prints
 *
 *   chunk_us=2.8 threads=1 loop_us=5.60
 *   chunk_us=2.8 threads=2 loop_us=3.65 overhead_us=0.85
 *
 * chunk_us: one chunk's time on 1 thread (loop_us / 2); overhead_us: the 2-thread loop's time
 * beyond one chunk, i.e. what posting the loop, the helper's start and the final wait cost.  The
 * median of 5 repetitions.  The loops run outside tg_team_run, as a user's own loop does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/parallel.h"

static volatile double g_sink; /* keeps the chain from being optimized away */

/* Chunk [lo, hi) of a loop whose chunks are `*(size_t *)ctx` additions each. */
static void add_chain(size_t lo, size_t hi, void *ctx)
{
    const size_t steps = *(const size_t *)ctx;
    double s = 0.0;
    for (size_t i = lo * steps; i < hi * steps; i++)
        s += (double)i * 1e-9;
    g_sink = s;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median over 5 repetitions of one 2-chunk loop's microseconds, on `threads` threads. */
static double loop_us(int threads, size_t steps, long loops)
{
    tg_set_threads(threads);
    double us[5];
    for (int rep = 0; rep < 5; rep++) {
        double start = tg_now_seconds();
        for (long k = 0; k < loops; k++)
            tg_parallel_for(2, 1, add_chain, &steps);
        us[rep] = (tg_now_seconds() - start) / (double)loops * 1e6;
    }
    qsort(us, 5, sizeof us[0], compare_doubles);
    return us[2];
}

int main(int argc, char **argv)
{
    long loops = 20000;
    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--loops") && a + 1 < argc) {
            loops = strtol(argv[++a], NULL, 10);
        } else {
            fprintf(stderr, "usage: bench_team [--loops N (100..10000000)]\n");
            return 2;
        }
    }
    if (loops < 100 || loops > 10000000) {
        fprintf(stderr, "bench_team: --loops must be 100..10000000\n");
        return 2;
    }
    const size_t chain[] = {2000, 5000, 18000}; /* additions per chunk: about 1, 3 and 10 us */
    for (size_t c = 0; c < sizeof chain / sizeof chain[0]; c++) {
        double one = loop_us(1, chain[c], loops);
        printf("chunk_us=%.2f threads=1 loop_us=%.2f\n", one / 2.0, one);
        double two = loop_us(2, chain[c], loops);
        printf("chunk_us=%.2f threads=2 loop_us=%.2f overhead_us=%.2f\n", one / 2.0, two, two - one / 2.0);
        fflush(stdout);
    }
    return 0;
}
