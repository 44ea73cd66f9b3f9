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
 * median of 5 repetitions.  The loops run outside tg_team_run, as a user's own loop does.
 *
 * First, two figures of the machine under every team: how far apart two of its cores are (the two
 * the scheduler gives two spinning threads, as it gives the library's helper, unpinned).
 *
 *   line_round_trip_ns=150.2 remote_read_gbs=85.1
 *
 * line_round_trip_ns: one cache line written by a thread, read by another that writes it back, and
 * read again by the first (the median of 5 runs of 100,000 trips); remote_read_gbs: the rate at
 * which a thread reads 400 KB another thread has just written.  A virtual machine's two cores can
 * sit on one cache complex or on two, and the host may move them while it runs: this project's
 * Zen 5 machine showed 150 ns and 85 GB/s, then 500 ns and 33 GB/s, minutes apart, and whether
 * two threads beat one on a small training step changed with it (docs/performance.md).  Quote
 * these beside any two-thread figure. */
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/parallel.h"

#include "bench_args.h"

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

/* ---- the two cores' distance ------------------------------------------------------------- */

enum { TRIPS = 100000, REMOTE_WORDS = 100000 };

typedef struct probe {
    _Alignas(64) _Atomic long turn; /* odd: the other thread's move; even: the first thread's */
    _Alignas(64) unsigned data[REMOTE_WORDS]; /* integers: the reader's sum is not a chain of float adds */
} probe;

static probe g_probe;

/* Spins until turn is `want` and returns true, or false at LONG_MIN (the end).  It yields its
 * core now and then: where both threads share one core, the other gets to move. */
static bool await_turn(long want)
{
    for (unsigned polls = 1;; polls++) {
        long t = atomic_load(&g_probe.turn);
        if (t == want)
            return true;
        if (t == LONG_MIN)
            return false;
        if (polls % 1024 == 0)
            sched_yield();
    }
}

/* The other thread: answers TRIPS moves, then writes data whenever `turn` asks (a negative turn
 * -2r-1), until turn is LONG_MIN. */
static void *probe_partner(void *arg)
{
    (void)arg;
    for (long k = 0; k < 5L * TRIPS; k++) {
        if (!await_turn(2 * k + 1))
            return NULL;
        atomic_store(&g_probe.turn, 2 * k + 2);
    }
    for (long r = 0;; r++) {
        if (!await_turn(-2 * r - 1))
            return NULL;
        for (size_t i = 0; i < REMOTE_WORDS; i++)
            g_probe.data[i] = (unsigned)(i + (size_t)r);
        atomic_store(&g_probe.turn, -2 * r - 2);
    }
}

/* Prints line_round_trip_ns and remote_read_gbs (medians of 5); 1 when this process has one core
 * (the figures would be the scheduler's) or no second thread starts. */
static int print_core_distance(void)
{
    if (tg_available_cores() < 2)
        return 1;
    pthread_t partner;
    atomic_store(&g_probe.turn, 0);
    if (pthread_create(&partner, NULL, probe_partner, NULL) != 0)
        return 1;
    double ns[5], gbs[5];
    for (long rep = 0, k = 0; rep < 5; rep++) {
        double start = tg_now_seconds();
        for (long end = k + TRIPS; k < end; k++) {
            atomic_store(&g_probe.turn, 2 * k + 1);
            await_turn(2 * k + 2);
        }
        ns[rep] = (tg_now_seconds() - start) / TRIPS * 1e9;
    }
    for (long r = 0; r < 5; r++) {
        atomic_store(&g_probe.turn, -2 * r - 1);
        await_turn(-2 * r - 2);
        double start = tg_now_seconds();
        unsigned sum = 0;
        for (size_t i = 0; i < REMOTE_WORDS; i++)
            sum += g_probe.data[i];
        gbs[r] = sizeof g_probe.data / (tg_now_seconds() - start) / 1e9;
        g_sink = (double)sum;
    }
    atomic_store(&g_probe.turn, LONG_MIN);
    pthread_join(partner, NULL);
    qsort(ns, 5, sizeof ns[0], compare_doubles);
    qsort(gbs, 5, sizeof gbs[0], compare_doubles);
    printf("line_round_trip_ns=%.1f remote_read_gbs=%.1f\n", ns[2], gbs[2]);
    fflush(stdout);
    return 0;
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
            loops = bench_whole("bench_team", argv[a], argv[a + 1], 100, 10000000), a++;
        } else {
            fprintf(stderr, "usage: bench_team [--loops N (100..10000000)]\n");
            return 2;
        }
    }
    if (print_core_distance() != 0)
        fprintf(stderr, "bench_team: one core, or no second thread: no line_round_trip_ns\n");
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
