/* tests/test_parallel.c — tg_parallel_for on the library's team, inside tg_team_run or not: every
 * chunk runs exactly once with the bounds its index gives, helpers really take part, a helper that
 * is slow or asleep loses nothing, any thread count computes the same bits, nesting falls back
 * safely, the thread count follows TG_THREADS / OMP_NUM_THREADS, and a helper the system refuses
 * to start leaves a working loop behind. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "emulated.h"
#include "tensor/matmul.h"
#include "tensor/parallel.h"
#include "tensor/rng.h"


/* ---- a loop body that records what ran ----------------------------------------------------- */

enum { MAX_ITEMS = 5000 };

typedef struct tally {
    _Atomic int runs[MAX_ITEMS];  /* how many times each item was covered */
    _Atomic int bad_bounds;       /* chunks whose [lo, hi) is not grain-aligned */
    size_t n, grain;
    int slow_helper_us;           /* sleep this long in each chunk run off the calling thread */
    int slow_caller_us;           /* ... and this long in each chunk the caller runs */
    _Atomic int by_helpers;       /* chunks run by a thread other than the caller */
    _Atomic double helper_done_at; /* when a helper last finished a chunk */
    int team_size;                /* threads the loops may use (tg_get_threads) */
    int loops_helped;             /* loops_after_pauses: loops in which a helper ran a chunk */
    int helped_before_slowdown;   /* loops_where_the_helper_slows_down: helpers' chunks in the first half */
    int clear_stalls;             /* loops_where_the_helper_stalls: loops the helper clearly held up */
    double stall_ended_at[2];     /* ... when the first two of them ended */
    double loop_began, loop_ended; /* around the last tg_parallel_for of check_loop */
    double caller_done_at;        /* when the caller last finished a chunk */
} tally;

static pthread_t g_caller; /* the thread that runs the loops under test */

/* 0 on the loops' caller, 1 on a helper. */
static int thread_number(void) { return pthread_equal(pthread_self(), g_caller) ? 0 : 1; }

static void sleep_us(int us)
{
    struct timespec ts = {0, (long)us * 1000L};
    nanosleep(&ts, NULL);
}

static void record_chunk(size_t lo, size_t hi, void *ctx)
{
    tally *t = ctx;
    size_t expected_hi = lo + t->grain < t->n ? lo + t->grain : t->n;
    if (lo % t->grain != 0 || hi != expected_hi)
        atomic_fetch_add(&t->bad_bounds, 1);
    bool on_helper = thread_number() != 0;
    if (on_helper) {
        atomic_fetch_add(&t->by_helpers, 1);
        if (t->slow_helper_us)
            sleep_us(t->slow_helper_us);
    } else if (t->slow_caller_us) {
        sleep_us(t->slow_caller_us);
    }
    for (size_t i = lo; i < hi; i++)
        atomic_fetch_add(&t->runs[i], 1);
    if (on_helper)
        atomic_store(&t->helper_done_at, tg_now_seconds());
    else
        t->caller_done_at = tg_now_seconds();
}

/* One loop over n items in chunks of grain; checks every item ran once and every chunk's bounds. */
static void check_loop(tally *t, size_t n, size_t grain)
{
    memset(t->runs, 0, sizeof t->runs);
    t->n = n, t->grain = grain;
    atomic_store(&t->bad_bounds, 0);
    g_caller = pthread_self();
    t->loop_began = t->caller_done_at = tg_now_seconds();
    tg_parallel_for(n, grain, record_chunk, t);
    t->loop_ended = tg_now_seconds();
    cr_assert_eq(atomic_load(&t->bad_bounds), 0, "n=%zu grain=%zu: a chunk with wrong bounds", n, grain);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(atomic_load(&t->runs[i]), 1, "n=%zu grain=%zu: item %zu ran %d times", n, grain, i,
                     atomic_load(&t->runs[i]));
}

/* The threads the calling function's loops may use. */
static int current_team_size(void) { return tg_get_threads(); }

/* Many loops of many shapes, back to back: helpers are busy, late or spinning at every one. */
static void many_loops(void *ctx)
{
    tally *t = ctx;
    t->team_size = current_team_size();
    for (int rep = 0; rep < 2000; rep++) {
        size_t n = 1 + (size_t)(rep * 37) % MAX_ITEMS, grain = 1 + (size_t)(rep * 13) % 300;
        check_loop(t, n, grain);
    }
}

static tally g_tally; /* big: not on the stack */

/* Runs fn on a fresh tally in a team of `threads`; returns the seconds it took. */
static double in_team(int threads, tg_team_fn fn)
{
    tg_set_threads(threads);
    memset(&g_tally, 0, sizeof g_tally);
    double start = tg_now_seconds();
    tg_team_run(fn, &g_tally);
    tg_set_threads(1);
    return tg_now_seconds() - start;
}

/* Without tg_team_run each loop takes the library's team itself: helpers take part all the same. */
Test(parallel, every_chunk_once_without_a_team)
{
    for (int threads = 1; threads <= 3; threads++) {
        tg_set_threads(threads);
        memset(&g_tally, 0, sizeof g_tally);
        many_loops(&g_tally);
        if (threads > 1)
            cr_assert_gt(atomic_load(&g_tally.by_helpers), 0, "%d threads: the helpers never ran a chunk", threads);
        else
            cr_assert_eq(atomic_load(&g_tally.by_helpers), 0, "one thread: a helper ran a chunk");
    }
    tg_set_threads(1);
}

Test(parallel, every_chunk_once_in_a_team)
{
    for (int threads = 1; threads <= 4; threads++) {
        in_team(threads, many_loops);
        if (threads > 1)
            cr_assert_gt(atomic_load(&g_tally.by_helpers), 0, "%d threads: the helpers never ran a chunk", threads);
    }
    tg_set_threads(1);
}

/* A helper that takes long over each chunk (as one whose core another process holds): the caller
 * takes over the chunks nobody has started, and everything still runs exactly once. */
static void loops_with_slow_helper(void *ctx)
{
    tally *t = ctx;
    t->team_size = current_team_size();
    t->slow_helper_us = 2000;
    for (int rep = 0; rep < 20; rep++)
        check_loop(t, 64, 1);
    t->slow_helper_us = 0;
}

Test(parallel, slow_helper_loses_nothing)
{
    double seconds = in_team(2, loops_with_slow_helper);
    /* Had the helper done its static half (32 chunks of 2 ms) every time, 20 loops would take over
     * 1.2 s; taking its chunks over keeps it near one chunk per loop. */
    cr_assert_eq(g_tally.team_size, 2);
    cr_assert_lt(seconds, 0.6, "the caller waited for the slow helper's share (%.3f s)", seconds);
}

/* Pauses longer than a helper spins, so every loop after one has to wake a sleeping helper.  The
 * caller takes 200 us over each of its chunks, so a helper that wakes up has time to take part;
 * one that is never woken leaves every chunk to the caller, which check_loop alone would not
 * notice. */
static void loops_after_pauses(void *ctx)
{
    tally *t = ctx;
    t->team_size = current_team_size();
    t->slow_caller_us = 200;
    for (int rep = 0; rep < 30; rep++) {
        sleep_us(3000);
        atomic_store(&t->by_helpers, 0);
        check_loop(t, 20, 1);
        t->loops_helped += atomic_load(&t->by_helpers) > 0;
    }
    t->slow_caller_us = 0;
}

Test(parallel, helpers_wake_up_after_sleeping)
{
    in_team(2, loops_after_pauses);
    cr_assert_eq(g_tally.team_size, 2); /* (20 of 30 leaves room for a loaded machine; 30 is usual) */
    cr_assert_geq(g_tally.loops_helped, 20, "a sleeping helper woke for only %d of 30 loops", g_tally.loops_helped);
}

/* A team slower than its caller alone (a helper that takes 2 ms over every chunk, the caller
 * nothing): at the first probe (a window of team loops after 20 ms, then as many on the caller
 * alone) the caller switches to running loops alone, and the helper gets no more chunks.  (2 ms,
 * not less: on a busy machine the helper may run in few of the window's loops, and those few
 * must still make the team clearly slower; the next probe comes 32 windows later.) */
static void loops_where_the_team_loses(void *ctx)
{
    tally *t = ctx;
    t->team_size = current_team_size();
    t->slow_helper_us = 2000;
    for (int rep = 0; rep < 1024 + 256; rep++)
        check_loop(t, 4, 1);
    atomic_store(&t->by_helpers, 0);
    for (int rep = 0; rep < 100; rep++)
        check_loop(t, 4, 1);
    t->slow_helper_us = 0;
}

/* The helper's chunks in 100 loops of a caller that rightly runs alone: none, but for a probe of
 * the team that falls among them (a loaded machine that holds the caller past its phase's end,
 * as when the suite's tests run side by side).  A probe's loops stall on a slow helper, and it
 * ends after two stalls: a chunk or two, or a few when the caller lost its own core in one of
 * those loops (no stall then).  A caller that never went alone gives the helper about 100. */
enum { PROBE_CHUNKS = 4 };

/* Under an emulator (tests/emulated.h) a spinning helper and a sleeping one cost about the same,
 * so which mode is faster is not clear enough for the chooser to be judged: the tests that judge
 * it skip there. */
static void skip_under_an_emulator(void)
{
    if (tg_test_emulated())
        cr_skip("under an emulator the team's and the caller's timings are not what they are natively");
}

Test(parallel, caller_goes_alone_when_the_team_is_slower)
{
    skip_under_an_emulator();
    in_team(2, loops_where_the_team_loses);
    cr_assert_eq(g_tally.team_size, 2);
    /* On the team every one of the 100 loops gives the helper a chunk.  Alone, none does, but for
     * a probe of the team that falls among them. */
    cr_assert_leq(atomic_load(&g_tally.by_helpers), PROBE_CHUNKS, "helpers still ran %d chunks after the probe",
                  atomic_load(&g_tally.by_helpers));
}

/* Runs loops of 4 chunks for `seconds`, then 100 more; returns the chunks helpers ran in those 100. */
static int helped_after(tally *t, double seconds)
{
    for (double end = tg_now_seconds() + seconds; tg_now_seconds() < end;)
        check_loop(t, 4, 1);
    atomic_store(&t->by_helpers, 0);
    for (int rep = 0; rep < 100; rep++)
        check_loop(t, 4, 1);
    return atomic_load(&t->by_helpers);
}

/* The load changes in the middle of a run: first every chunk costs 50 µs on either thread, so the
 * team halves a loop's time and the caller keeps it; then the helper's chunks cost 5 ms (its core
 * went to another process).  The phases are timed, so within a phase and a probe (well under the
 * 3 s given here) the caller runs alone. */
static void team_wins_then_helper_slows_down(tally *t)
{
    t->team_size = current_team_size();
    t->slow_helper_us = t->slow_caller_us = 50;
    t->helped_before_slowdown = helped_after(t, 0.5);
    t->slow_helper_us = 5000;
}

static void loops_where_the_helper_slows_down(void *ctx)
{
    tally *t = ctx;
    team_wins_then_helper_slows_down(t);
    atomic_store(&t->by_helpers, helped_after(t, 3.0));
    t->slow_helper_us = t->slow_caller_us = 0;
}

Test(parallel, caller_goes_alone_when_the_helper_slows_down_later)
{
    skip_under_an_emulator();
    in_team(2, loops_where_the_helper_slows_down);
    /* On a busy machine (the suite's other tests, a sanitizer's overhead) the helper may get no
     * time in the first half, the caller rightly goes alone from the start, and there is no switch
     * left to test. */
    if (g_tally.helped_before_slowdown == 0)
        cr_skip("the team never beat the caller alone here (the machine gave the helper no time): "
                "the switch away from it is not tested");
    cr_assert_leq(atomic_load(&g_tally.by_helpers), PROBE_CHUNKS, "helpers still ran %d chunks 3 s after slowing down",
                 atomic_load(&g_tally.by_helpers));
}

/* Whether the last loop of check_loop was one the helper clearly held up: from the caller's last
 * chunk to the helper's, over 1 ms and over 1.5 times the library's STALL_SHARE_FACTOR (4) times
 * as long as the caller's chunks took.  The margin keeps out the loops the library may rightly
 * not call a stall: a caller that lost its own core in its share (or a helper that took two
 * chunks while it did) took long over its share, not waited long.  A caller that lost its core
 * after the helper finished (its wait timed longer than it was) leaves the loop out too. */
static bool helper_held_up_the_loop(const tally *t, int helped_before)
{
    double own_s = t->caller_done_at - t->loop_began;
    double waited_s = atomic_load(&t->helper_done_at) - t->caller_done_at;
    bool caller_slow_after = t->loop_ended - atomic_load(&t->helper_done_at) > 0.0005;
    return atomic_load(&t->by_helpers) > helped_before && !caller_slow_after && waited_s > 0.001 &&
           waited_s > 6 * own_s;
}

/* A helper that loses its core in the middle of the run: loops of 4 chunks of 50 µs for 0.5 s
 * (the team wins), then the helper's chunks take 5 ms, a scheduler's time slice or two.  The caller
 * does not wait for the next window of loops (a phase of at least 0.2 s): the second loop that
 * kept it waiting sends it alone, and no chunk goes to the helper in the next 30 loops. */
static void loops_where_the_helper_stalls(void *ctx)
{
    tally *t = ctx;
    team_wins_then_helper_slows_down(t);
    atomic_store(&t->by_helpers, 0);
    t->clear_stalls = 0;
    for (int rep = 0; rep < 100 && t->clear_stalls < 2; rep++) { /* (the skips below judge the timing) */
        int helped = atomic_load(&t->by_helpers);
        check_loop(t, 4, 1);
        if (helper_held_up_the_loop(t, helped))
            t->stall_ended_at[t->clear_stalls++] = t->loop_ended;
    }
    atomic_store(&t->by_helpers, 0);
    for (int rep = 0; rep < 30; rep++)
        check_loop(t, 4, 1);
    t->slow_helper_us = t->slow_caller_us = 0;
}

Test(parallel, caller_goes_alone_at_once_when_a_helper_stalls)
{
    skip_under_an_emulator();
    in_team(2, loops_where_the_helper_stalls);
    /* On a busy machine the helper may get too little time to take part, or the library may have
     * counted a loop this test cannot call a clear stall and gone alone before two clear ones. */
    if (g_tally.helped_before_slowdown == 0 || g_tally.clear_stalls < 2)
        cr_skip("too few clear stalls to react to (%d helper chunks before the slowdown, %d loops held up after)",
                g_tally.helped_before_slowdown, g_tally.clear_stalls);
    double apart = g_tally.stall_ended_at[1] - g_tally.stall_ended_at[0];
    if (apart > 0.04)
        cr_skip("the helper's two stalls came %.0f ms apart: on a machine this busy one at a time is "
                "the system's own work", 1e3 * apart);
    cr_assert_eq(atomic_load(&g_tally.by_helpers), 0,
                 "after two stalled loops the helper still ran %d chunks of the next 30 loops",
                 atomic_load(&g_tally.by_helpers));
}

/* ---- nesting ------------------------------------------------------------------------------- */

static void inner(void *ctx)
{
    many_loops(ctx);
}

static void nested_team(void *ctx)
{
    tg_team_run(inner, ctx); /* runs inner on this thread, with the same team */
    check_loop(ctx, 777, 7);
}

Test(parallel, nested_team_run_is_a_plain_call) { in_team(2, nested_team); }

/* A loop body that runs a loop of its own: on a helper it runs serially (no fork, no deadlock). */
typedef struct nested_ctx {
    _Atomic int inner_items;
} nested_ctx;

static void count_items(size_t lo, size_t hi, void *ctx)
{
    nested_ctx *c = ctx;
    atomic_fetch_add(&c->inner_items, (int)(hi - lo));
}

static void outer_chunk(size_t lo, size_t hi, void *ctx)
{
    for (size_t i = lo; i < hi; i++)
        tg_parallel_for(100, 3, count_items, ctx);
}

static void loop_of_loops(void *ctx)
{
    tg_parallel_for(40, 1, outer_chunk, ctx);
}

Test(parallel, loops_inside_loop_bodies)
{
    tg_set_threads(2);
    nested_ctx c = {0};
    tg_team_run(loop_of_loops, &c);
    cr_assert_eq(atomic_load(&c.inner_items), 4000);
    atomic_store(&c.inner_items, 0);
    loop_of_loops(&c); /* and without a team */
    cr_assert_eq(atomic_load(&c.inner_items), 4000);
    tg_set_threads(1);
}

/* Loops whose chunks each run loops of their own, as a body that runs a whole model step does:
 * 1 ms asleep and ten small inner loops per chunk, so the team, running the two chunks at once,
 * halves each outer loop.  The chooser must weigh the two modes over the same outer loops: when
 * the inner loops a body ran alone counted as loops too, a probe of the caller alone held a
 * fraction of the team's work, won, and kept the caller alone for good. */
typedef struct nesting_tally {
    nested_ctx inner;       /* the inner loops' items (count_items) */
    _Atomic int by_helpers; /* outer chunks run by a helper */
    _Atomic int late;       /* outer chunks that took over 3 ms: the machine held a thread back */
} nesting_tally;

static void sleepy_outer_chunk(size_t lo, size_t hi, void *ctx)
{
    (void)lo, (void)hi;
    nesting_tally *t = ctx;
    double began = tg_now_seconds();
    if (thread_number() != 0)
        atomic_fetch_add(&t->by_helpers, 1);
    sleep_us(1000);
    for (int k = 0; k < 10; k++)
        tg_parallel_for(8, 2, count_items, &t->inner);
    if (tg_now_seconds() - began > 0.003)
        atomic_fetch_add(&t->late, 1);
}

static void sleepy_loops_of_loops(void *ctx)
{
    nesting_tally *t = ctx;
    g_caller = pthread_self();
    for (double end = tg_now_seconds() + 0.6; tg_now_seconds() < end;)
        tg_parallel_for(2, 1, sleepy_outer_chunk, t);
    atomic_store(&t->by_helpers, 0);
    atomic_store(&t->inner.inner_items, 0);
    for (int rep = 0; rep < 50; rep++)
        tg_parallel_for(2, 1, sleepy_outer_chunk, t);
}

Test(parallel, team_kept_when_loop_bodies_run_loops)
{
    skip_under_an_emulator();
    /* A machine that holds a thread back (another process on its core) may rightly send the
     * caller alone: such a run is tried again, three times in all.  With the miscount the caller
     * went alone on every run of a quiet machine, mostly with no chunk late (two runs of three
     * failed here; the third saw a late chunk and skipped). */
    static nesting_tally t;
    int late = 0;
    for (int attempt = 0; attempt < 3; attempt++) {
        memset(&t, 0, sizeof t);
        tg_set_threads(2);
        tg_team_run(sleepy_loops_of_loops, &t);
        tg_set_threads(1);
        cr_assert_eq(atomic_load(&t.inner.inner_items), 50 * 2 * 10 * 8);
        if (atomic_load(&t.by_helpers) >= 40)
            return;
        late += atomic_load(&t.late);
    }
    if (late > 0)
        cr_skip("the caller went alone, but %d chunks ran over 3 ms: the machine held a thread back", late);
    cr_assert_fail("helpers ran %d of the last 100 outer chunks, on a machine that held no chunk back: "
                   "the caller went alone", atomic_load(&t.by_helpers));
}

/* ---- stopping the helpers --------------------------------------------------------------------- */

/* Threads of this process now (the entries of /proc/self/task), or -1 without /proc. */
static int process_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* process_threads() once it equals `want`, polling for up to two seconds (a joined thread leaves
 * /proc a moment after its join returns); the last count otherwise. */
static int threads_settled_at(int want)
{
    int n = process_threads();
    for (int i = 0; i < 200 && n != want; i++, n = process_threads())
        sleep_us(10000);
    return n;
}

typedef struct stop_tally {
    atomic_int items, by_helpers;
} stop_tally;

static void stop_from_a_body(size_t lo, size_t hi, void *ctx)
{
    stop_tally *st = ctx;
    tg_stop_threads(); /* the team is running this very loop: no effect (on a helper, no wait) */
    atomic_fetch_add(&st->items, (int)(hi - lo));
    if (thread_number() != 0)
        atomic_fetch_add(&st->by_helpers, 1);
    sleep_us(300); /* worth the team's while */
}

/* Unless a helper has run a chunk since by_helpers was last zeroed: loops of 8 chunks, every one
 * 100 us asleep (so a busy machine's cores are no obstacle), until a helper has run one or 5 s
 * have passed: long enough for a caller that chose to run alone (as it rightly may for
 * many_loops' tiny loops) to probe the team several times, and the team wins such loops.
 * Returns the helpers' chunks. */
static int helpers_took_part(tally *t)
{
    t->slow_helper_us = t->slow_caller_us = 100;
    for (double end = tg_now_seconds() + 5.0; atomic_load(&t->by_helpers) == 0 && tg_now_seconds() < end;)
        check_loop(t, 8, 1);
    t->slow_helper_us = t->slow_caller_us = 0;
    return atomic_load(&t->by_helpers);
}

static void stop_then_loops(void *ctx)
{
    tg_stop_threads(); /* inside tg_team_run: no effect */
    many_loops(ctx);
    helpers_took_part(ctx);
}

Test(parallel, stop_threads_ends_the_helpers_and_the_next_loop_starts_them)
{
    tg_stop_threads();
    const int before = process_threads();
    if (before < 0)
        cr_skip("no /proc/self/task to count threads in");
    tg_set_threads(3);
    memset(&g_tally, 0, sizeof g_tally);
    check_loop(&g_tally, 1000, 10);
    cr_assert_eq(threads_settled_at(before + 2), before + 2, "three threads: two helpers");
    tg_stop_threads();
    cr_assert_eq(threads_settled_at(before), before, "after tg_stop_threads the helpers are gone");
    tg_stop_threads(); /* nothing left to stop */

    many_loops(&g_tally); /* every item once */
    cr_assert_gt(helpers_took_part(&g_tally), 0, "the helpers did not come back");
    cr_assert_eq(threads_settled_at(before + 2), before + 2);

    /* Until a helper has run a body (the caller may be running its loops alone for a while). */
    stop_tally st = {0};
    g_caller = pthread_self();
    for (int rep = 1; rep <= 100 && atomic_load(&st.by_helpers) == 0; rep++) {
        tg_parallel_for(64, 1, stop_from_a_body, &st);
        cr_assert_eq(atomic_load(&st.items), 64 * rep);
    }
    /* Said at info level (--verbose): Criterion exits 1 after any cr_log_warn, even with every
     * test passing, and a loaded machine or an emulator often keeps the caller alone here. */
    if (atomic_load(&st.by_helpers) == 0)
        cr_log_info("no helper ran a loop body here (the caller stayed alone): the helpers' case untested");
    cr_assert_eq(threads_settled_at(before + 2), before + 2, "a stop from a loop body stopped the team");
    memset(&g_tally, 0, sizeof g_tally);
    tg_team_run(stop_then_loops, &g_tally);
    cr_assert_gt(atomic_load(&g_tally.by_helpers), 0, "a stop inside tg_team_run stopped its team");
    cr_assert_eq(threads_settled_at(before + 2), before + 2);
    tg_stop_threads();
    tg_set_threads(1);
    cr_assert_eq(threads_settled_at(before), before);
}

/* A thread that runs loops (in tg_team_run, or each on its own) while the test's thread stops
 * the helpers: the stop waits for the team, the loops lose no item. */
typedef struct loop_thread {
    bool in_team_run;
    atomic_bool started, stop_requested, bad;
    tally t;
} loop_thread;

static void loops_until_asked(void *ctx)
{
    loop_thread *lt = ctx;
    atomic_store(&lt->started, true);
    for (int rep = 0; rep < 20000 && !atomic_load(&lt->stop_requested); rep++) {
        size_t n = 1 + (size_t)(rep * 37) % MAX_ITEMS, grain = 1 + (size_t)(rep * 13) % 300;
        memset(lt->t.runs, 0, sizeof lt->t.runs);
        lt->t.n = n, lt->t.grain = grain;
        tg_parallel_for(n, grain, record_chunk, &lt->t);
        for (size_t i = 0; i < n; i++)
            if (atomic_load(&lt->t.runs[i]) != 1)
                atomic_store(&lt->bad, true);
        if (atomic_load(&lt->t.bad_bounds))
            atomic_store(&lt->bad, true);
    }
}

static void *loop_thread_main(void *arg)
{
    loop_thread *lt = arg;
    g_caller = pthread_self();
    if (lt->in_team_run)
        tg_team_run(loops_until_asked, lt);
    else
        loops_until_asked(lt);
    return NULL;
}

static double stop_beside(loop_thread *lt)
{
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, loop_thread_main, lt), 0);
    while (!atomic_load(&lt->started))
        sleep_us(100);
    sleep_us(20000); /* the loops well under way */
    double start = tg_now_seconds();
    if (lt->in_team_run) /* the stop waits for tg_team_run: let it end a little later */
        atomic_store(&lt->stop_requested, true);
    tg_stop_threads();
    double took = tg_now_seconds() - start;
    atomic_store(&lt->stop_requested, true);
    pthread_join(th, NULL);
    cr_assert_not(atomic_load(&lt->bad), "%s: a loop lost or repeated an item", lt->in_team_run ? "team" : "loops");
    return took;
}

static loop_thread g_loop_thread; /* big: not on the stack */

Test(parallel, stop_threads_beside_another_threads_loops)
{
    tg_stop_threads();
    const int before = process_threads();
    tg_set_threads(2);
    for (int in_team = 0; in_team < 2; in_team++) {
        memset(&g_loop_thread, 0, sizeof g_loop_thread);
        g_loop_thread.in_team_run = in_team;
        double took = stop_beside(&g_loop_thread);
        /* back-to-back loops on the other thread must not keep the stop waiting */
        cr_assert_lt(took, 5.0, "%s: tg_stop_threads waited %.1f s", in_team ? "team" : "loops", took);
        tg_stop_threads(); /* (the other thread's last loops may have started new helpers) */
        if (before >= 0)
            cr_assert_eq(threads_settled_at(before), before, "%s: helpers left", in_team ? "team" : "loops");
    }
    tg_set_threads(1);
}

/* ---- same bits ----------------------------------------------------------------------------- */

typedef struct product {
    size_t M, N, K;
    tg_trans tb;
    float *A, *B, *C;
} product;

static void multiply(void *ctx)
{
    product *p = ctx;
    size_t ldb = p->tb == TG_TRANS ? p->K : p->N;
    tg_gemm(TG_NOTRANS, p->tb, p->M, p->N, p->K, 1.0f, p->A, p->K, p->B, ldb, 0.0f, p->C, p->N);
}

/* One product on one thread, then with `threads` (the team taken per loop, and in tg_team_run): the same bits. */
static void check_same_bits(size_t M, size_t N, size_t K, tg_trans tb, int threads)
{
    product p = {.M = M, .N = N, .K = K, .tb = tb};
    p.A = malloc(M * K * sizeof(float));
    p.B = malloc(N * K * sizeof(float));
    float *one = malloc(M * N * sizeof(float)), *forked = malloc(M * N * sizeof(float));
    float *teamed = malloc(M * N * sizeof(float));
    cr_assert(p.A && p.B && one && forked && teamed);
    tg_rng rng;
    tg_rng_seed(&rng, 12345, 0);
    tg_rng_fill_uniform(&rng, p.A, M * K, -1.0f, 1.0f);
    tg_rng_fill_uniform(&rng, p.B, N * K, -1.0f, 1.0f);
    tg_set_threads(1);
    p.C = one, multiply(&p);
    tg_set_threads(threads);
    p.C = forked, multiply(&p);
    p.C = teamed, tg_team_run(multiply, &p);
    tg_set_threads(1);
    size_t bytes = M * N * sizeof(float);
    cr_assert(memcmp(one, forked, bytes) == 0, "M=%zu N=%zu K=%zu, %d threads: library's team differs from one thread", M, N, K, threads);
    cr_assert(memcmp(one, teamed, bytes) == 0, "M=%zu N=%zu K=%zu, %d threads: the team differs from one thread", M, N, K, threads);
    free(p.A), free(p.B), free(one), free(forked), free(teamed);
}

/* Split by rows (B transposed, K over two blocks) and by columns (B in place, one K block), on 2
 * and 3 threads (3 makes uneven runs of blocks). */
Test(parallel, team_product_has_the_same_bits)
{
    for (int threads = 2; threads <= 3; threads++) {
        check_same_bits(253, 131, 517, TG_TRANS, threads);
        check_same_bits(40, 700, 200, TG_NOTRANS, threads);
    }
}

/* ---- the thread count and the helpers' lives ------------------------------------------------- */

typedef struct env_case {
    const char *tg_threads, *omp_num_threads; /* NULL: unset */
    int expected;                             /* 0: the cores */
} env_case;

Test(parallel, thread_count_follows_the_environment)
{
    static const env_case cases[] = {
        {"3", NULL, 3},     {NULL, "5", 5},     {"2", "5", 2},  {NULL, "4,2", 4}, /* OMP's list: the outer level */
        {"x", "6", 6},      {"0", NULL, 0},     {"999999", NULL, 0}, {"", "", 0}, /* ignored: the next source */
        {NULL, NULL, 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        if (cases[c].tg_threads) setenv("TG_THREADS", cases[c].tg_threads, 1); else unsetenv("TG_THREADS");
        if (cases[c].omp_num_threads) setenv("OMP_NUM_THREADS", cases[c].omp_num_threads, 1); else unsetenv("OMP_NUM_THREADS");
        tg_set_threads(0); /* back to the default: read the environment again */
        int expected = cases[c].expected ? cases[c].expected : tg_available_cores();
        cr_assert_eq(tg_get_threads(), expected, "TG_THREADS=%s OMP_NUM_THREADS=%s: %d threads, expected %d",
                     cases[c].tg_threads ? cases[c].tg_threads : "(unset)",
                     cases[c].omp_num_threads ? cases[c].omp_num_threads : "(unset)", tg_get_threads(), expected);
    }
    tg_set_threads(7);
    setenv("TG_THREADS", "3", 1);
    cr_assert_eq(tg_get_threads(), 7, "tg_set_threads wins over the environment");
    tg_set_threads(1);
}

/* Virtual memory of this process now, in bytes (/proc/self/statm's first field, in pages). */
static size_t virtual_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    cr_assert(f && fscanf(f, "%lu", &pages) == 1);
    fclose(f);
    return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

/* With no room for a helper's stack (RLIMIT_AS just above what the process uses), starting the
 * team fails: the loops still run every chunk once, on the caller, and the library says so once,
 * in one line on stderr. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1 /* AddressSanitizer's shadow memory cannot live under an address-space limit */
#else
#define UNDER_ASAN 0
#endif
Test(parallel, a_helper_that_cannot_start_leaves_a_working_loop, .init = cr_redirect_stderr, .disabled = UNDER_ASAN)
{
    memset(&g_tally, 0, sizeof g_tally);
    struct rlimit limit = {virtual_bytes() + (512u << 10), RLIM_INFINITY};
    cr_assert_eq(setrlimit(RLIMIT_AS, &limit), 0);
    void *room = mmap(NULL, (size_t)2 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (room != MAP_FAILED) { /* the limit does not bind here (an emulator maps memory its own way) */
        munmap(room, (size_t)2 << 20);
        cr_skip("an address-space limit does not stop a 2 MiB mapping here (an emulator?)");
    }
    tg_set_threads(4);
    for (int rep = 0; rep < 50; rep++) {
        size_t n = 1 + (size_t)(rep * 37) % MAX_ITEMS, grain = 1 + (size_t)(rep * 13) % 300;
        check_loop(&g_tally, n, grain);
    }
    cr_assert_eq(atomic_load(&g_tally.by_helpers), 0, "no helper could start, yet one ran a chunk");
    tg_set_threads(1);
    fflush(stderr);
    cr_assert_stderr_eq_str("tapegrad: cannot start a helper thread (Resource temporarily unavailable); running on 1 thread\n");
}
