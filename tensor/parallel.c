/* tensor/parallel.c — thread count, parallel loops, and the library's team of helper threads.
 *
 * The team: helper threads the library starts on the first parallel loop that wants them, parked
 * between loops (spinning briefly, then asleep) and stopped at exit.  A thread that runs a
 * parallel loop becomes the team's thread 0 for that loop: it posts the loop, and each thread
 * owns a contiguous share of the loop's chunks (as a static schedule gives) and, done with it,
 * takes the chunks nobody has claimed yet from the others' shares.  The caller waits only for
 * chunks a helper has actually started: a helper that the operating system has not scheduled
 * (another process holds its core) costs nothing, where a fork/join would wait for it to arrive
 * and do its share.  One caller at a time owns the team; a loop started while another thread
 * owns it runs on its caller alone.  tg_team_run keeps the team for a whole function (a training
 * loop), which saves taking and releasing it around each of thousands of short loops.
 *
 * Either way a chunk's bounds depend on n and grain alone, so which thread runs it changes no
 * bit of the result. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT: the cores this process may use */
#include "parallel.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* 0 until first use: then tg_set_threads's value, or the default (default_threads).  Atomic:
 * loop bodies on helper threads read it (a product inside a body asks how many threads it may use). */
static _Atomic int g_threads;

int tg_available_cores(void)
{
#ifdef CPU_COUNT
    cpu_set_t set; /* the cores this process may run on (taskset, a container's limit) */
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) >= 1)
        return CPU_COUNT(&set);
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= 1 ? (int)n : 1;
}

/* A thread count from the environment variable `name`: its leading whole number (OMP_NUM_THREADS
 * may hold a list, "4,2", whose first entry is the outer level's); 0 when unset.  A value that is
 * not a number from 1 to TG_MAX_THREADS is reported once and ignored. */
static int threads_from_env(const char *name)
{
    const char *text = getenv(name);
    if (!text || !*text)
        return 0;
    char *end;
    long n = strtol(text, &end, 10);
    if (end == text || (*end != '\0' && *end != ',') || n < 1 || n > TG_MAX_THREADS) {
        fprintf(stderr, "tapegrad: %s=%s is not a thread count from 1 to %d; ignored\n", name, text,
                TG_MAX_THREADS);
        return 0;
    }
    return (int)n;
}

/* TG_THREADS, else OMP_NUM_THREADS, else every core this process may use. */
static int default_threads(void)
{
    int n = threads_from_env("TG_THREADS");
    if (n == 0)
        n = threads_from_env("OMP_NUM_THREADS");
    return n ? n : tg_available_cores();
}

void tg_set_threads(int n)
{
    atomic_store(&g_threads, n < 0 ? 1 : n > TG_MAX_THREADS ? TG_MAX_THREADS : n); /* 0: the default, later */
}

int tg_get_threads(void)
{
    int n = atomic_load(&g_threads);
    if (n == 0) {
        int expected = 0;
        atomic_compare_exchange_strong(&g_threads, &expected, default_threads());
        n = atomic_load(&g_threads);
    }
    return n;
}

double tg_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Items [lo, hi) of chunk c. */
static void chunk_bounds(size_t n, size_t grain, size_t c, size_t *lo, size_t *hi)
{
    *lo = c * grain;
    *hi = *lo + grain < n ? *lo + grain : n;
}

static void run_serially(size_t n, size_t grain, size_t chunks, tg_range_fn body, void *ctx)
{
    for (size_t c = 0; c < chunks; c++) {
        size_t lo, hi;
        chunk_bounds(n, grain, c, &lo, &hi);
        body(lo, hi, ctx);
    }
}

/* ---- the team ----------------------------------------------------------------------------- */

enum {
    TEAM_MAX = TG_MAX_THREADS,
    /* Polls of the job counter before a helper sleeps: about half a millisecond, longer than the
     * serial stretches inside a training step, far shorter than an evaluation between epochs. */
    SPINS_BEFORE_SLEEP = 1 << 14,
    SPINS_BEFORE_YIELD = 1 << 10, /* the caller's wait for a helper's last chunk */
};
/* A wait for a helper this long, and this many times what the caller's own share took, is a
 * time slice lost to another process (a scheduler's slices last milliseconds), not a chunk that
 * costs more than the others (a zero-skipping product's row blocks differ by tens of percent). */
static const double STALL_MIN_S = 0.0005;
enum { STALL_SHARE_FACTOR = 4 };

/* A claim cursor packs a loop's number (high 32 bits) with the next unclaimed chunk of one
 * thread's share (low 32 bits), so a helper still working on an older loop can never claim a
 * chunk of the current one: its compare-and-swap sees another loop number and fails.  (Unless
 * the number came round again: 2^32 loops while that helper was descheduled, half a day at
 * 100,000 loops a second.) */
#define CURSOR(job, chunk) (((uint64_t)(job) << 32) | (uint64_t)(chunk))
#define CURSOR_JOB(c) ((uint32_t)((c) >> 32))
#define CURSOR_CHUNK(c) ((size_t)((c) & 0xffffffffu))

/* A per-thread claim cursor on a cache line of its own: the threads' claims do not contend. */
typedef struct padded_cursor {
    _Alignas(64) _Atomic uint64_t value; /* CURSOR(job, next chunk of the thread's share) */
} padded_cursor;

typedef struct team {
    /* The posted loop and the count of its finished chunks share one cache line, written by the
     * caller when it posts: a helper that sees a new job has the whole loop in the same transfer
     * (each cache line passed between two cores costs a few hundred nanoseconds, and a loop of
     * a training step lasts a few microseconds).  The fields are atomic because a late helper
     * may read them while the caller posts the next loop; that helper's claims then all fail
     * (see CURSOR), so it never uses what it read. */
    _Alignas(64) _Atomic uint32_t job; /* bumped when a loop is posted; helpers wait for it to change */
    _Atomic bool shutdown;             /* (here: the helpers poll it with job) */
    _Atomic int size;                  /* threads taking part in the owner's loops, owner included */
    _Atomic(tg_range_fn) body;
    _Atomic(void *) ctx;
    _Atomic size_t n, grain, chunks;
    _Atomic size_t done;               /* chunks of the current loop finished */
    padded_cursor cursor[TEAM_MAX];
    /* Written when a thread takes or releases the team, which helpers never read: a line of
     * its own, so taking the team does not wait for the helpers' copy to be given up. */
    _Alignas(64) _Atomic bool busy;    /* a thread owns the team (one team per process) */
    int helpers;                       /* helper threads started (by an owner, or stop_helpers) */
    _Atomic int sleepers;              /* helpers blocked on `wake` */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    _Atomic int stoppers;              /* threads in tg_stop_threads waiting for the team */
    pthread_cond_t released;           /* signalled (under lock) when the team is released to them */
    pthread_t helper_id[TEAM_MAX];
} team;

static team g_team = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER,
                      .released = PTHREAD_COND_INITIALIZER};
/* The process is exiting: the helpers are stopped for good (a tg_stop_threads in a later atexit
 * handler must not let a loop start new ones while the process tears down). */
static _Atomic bool g_exiting;
/* One joiner at a time: exit on one thread while another is in tg_stop_threads. */
static pthread_mutex_t g_join_lock = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local bool t_team_owner;   /* this thread owns the team (a loop, or tg_team_run) */
static _Thread_local bool t_in_team_loop; /* ... and is inside one of its loops (a body) */
static _Thread_local bool t_helper;       /* this thread is one of the team's helpers */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Thread t's share of a loop: chunks [share_begin(t), share_begin(t + 1)). */
static size_t share_begin(size_t chunks, int size, int t)
{
    return (size_t)((uint64_t)chunks * (uint64_t)t / (uint64_t)size); /* (no overflow with a 32-bit size_t) */
}

/* Claims the next chunk of thread `owner`'s share for loop `job`; SIZE_MAX when none is left. */
static size_t claim_chunk(team *tm, uint32_t job, int size, int owner)
{
    size_t end = share_begin(atomic_load(&tm->chunks), size, owner + 1);
    uint64_t c = atomic_load(&tm->cursor[owner].value);
    for (;;) {
        if (CURSOR_JOB(c) != job || CURSOR_CHUNK(c) >= end)
            return SIZE_MAX;
        if (atomic_compare_exchange_weak(&tm->cursor[owner].value, &c, c + 1))
            return CURSOR_CHUNK(c);
    }
}

/* Runs what thread `self` can claim of loop `job`: its own share first, then the others'. */
static void work_on(team *tm, uint32_t job, int self)
{
    tg_range_fn body = atomic_load(&tm->body);
    void *ctx = atomic_load(&tm->ctx);
    size_t n = atomic_load(&tm->n), grain = atomic_load(&tm->grain);
    int size = atomic_load(&tm->size);
    if (self >= size)
        return; /* a helper beyond this owner's thread count sits the loop out */
    for (int k = 0; k < size; k++) {
        int owner = (self + k) % size;
        size_t c;
        while ((c = claim_chunk(tm, job, size, owner)) != SIZE_MAX) {
            size_t lo, hi;
            chunk_bounds(n, grain, c, &lo, &hi);
            body(lo, hi, ctx);
            atomic_fetch_add(&tm->done, 1);
        }
    }
}

/* Waits until every chunk of the loop has run; returns the seconds it waited past the first
 * SPINS_BEFORE_YIELD polls (0 for a wait shorter than those). */
static double wait_for_helpers(team *tm, size_t chunks)
{
    double yielding_since = 0.0;
    for (int spins = 0; atomic_load(&tm->done) != chunks; spins++) {
        if (spins < SPINS_BEFORE_YIELD) {
            cpu_relax();
            continue;
        }
        /* The helper has probably lost its core: yield ours, in case the system wants to run
         * it here. */
        if (yielding_since == 0.0)
            yielding_since = tg_now_seconds();
        sched_yield();
    }
    return yielding_since == 0.0 ? 0.0 : tg_now_seconds() - yielding_since;
}

/* Posts a loop, works on it, and returns when every chunk has run: true if the helpers kept the
 * caller waiting STALL_SHARE_FACTOR times as long as its own share took (and over STALL_MIN_S),
 * the mark of a helper that lost its core in the middle of a chunk. */
static bool team_loop(team *tm, size_t n, size_t grain, size_t chunks, tg_range_fn body, void *ctx, double start)
{
    uint32_t job = atomic_load(&tm->job) + 1;
    int size = atomic_load(&tm->size);
    /* Cursors first: from here on no claim for an older loop can succeed, so a late helper
     * cannot pair the fields below with an old cursor.  Release stores keep that order for any
     * thread that reads a field below (its loads are acquire or stronger) and let the cores
     * fetch the lines in parallel; sequentially consistent stores each waited for their cache
     * line to come back from the helper's core, one after the other, which made posting a loop
     * cost more than the helper's whole trip (docs/performance.md).  Only job keeps the full
     * fence: the wake-up below pairs it with the helpers' `sleepers`. */
    const memory_order rel = memory_order_release;
    for (int t = 0; t < size; t++)
        atomic_store_explicit(&tm->cursor[t].value, CURSOR(job, share_begin(chunks, size, t)), rel);
    atomic_store_explicit(&tm->body, body, rel);
    atomic_store_explicit(&tm->ctx, ctx, rel);
    atomic_store_explicit(&tm->n, n, rel);
    atomic_store_explicit(&tm->grain, grain, rel);
    atomic_store_explicit(&tm->chunks, chunks, rel);
    atomic_store_explicit(&tm->done, 0, rel);
    atomic_store(&tm->job, job);
    if (atomic_load(&tm->sleepers) > 0) {
        pthread_mutex_lock(&tm->lock);
        pthread_cond_broadcast(&tm->wake);
        pthread_mutex_unlock(&tm->lock);
    }
    t_in_team_loop = true; /* a body's own loops run serially: the team is busy with this one */
    work_on(tm, job, 0);
    t_in_team_loop = false;
    double own_share_s = tg_now_seconds() - start;
    /* Only chunks a helper claimed and is still running are left. */
    double waited_s = wait_for_helpers(tm, chunks);
    return waited_s > STALL_MIN_S && waited_s > STALL_SHARE_FACTOR * own_share_s;
}

/* ---- the team or the caller alone: whichever is faster on this machine now ----------------
 *
 * Two threads are not always faster than one.  On a machine shared with other work, a helper
 * may share its core with another process, or (in a virtual machine) the two virtual cores may
 * sit on different cache complexes for a while, so that every line the threads pass between
 * them costs a trip through main memory: on this project's machine such spells made two-thread
 * epochs slower than one-thread ones, for minutes, while pure arithmetic still gained from the
 * second thread (docs/performance.md).  So the caller keeps measuring.  It runs its loops in
 * the mode it chose for a phase, then times a window of loops in that mode (WINDOW_MAX_LOOPS, or
 * fewer if they take over WINDOW_MAX_S) and as many in the other (the probe); if the probe took
 * under 90% of the window, it switches.  A training step repeats the same loops, so the two
 * windows hold the same work.
 *
 * Phases are measured in seconds, not loops: the machine's load changes on a clock (another
 * process starts), and a phase counted in loops lasted many seconds in a loop of small products,
 * long enough to run a whole benchmark in the wrong mode.  A phase lasts at least PHASE_MIN_S and
 * at least PHASE_PER_PROBE times the last window and probe, so probing (a slow window when the
 * mode was right) costs a few percent at most.  Which thread runs a chunk changes no bit, so
 * neither does any of this. */
enum {
    WINDOW_MAX_LOOPS = 256,
    WINDOW_MIN_LOOPS = 64,     /* enough to hold a few training steps' loops, whatever their mix */
    PHASE_PER_PROBE = 32,
};
static const double WINDOW_MAX_S = 0.01;  /* a window of long loops ends sooner (but not below MIN) */
static const double FIRST_PHASE_S = 0.02; /* the first decision comes early: a slow spell may be on now */
static const double PHASE_MIN_S = 0.2;
/* One stall may be the system's own work passing by; a second this soon is another process. */
static const double STALL_AGAIN_S = 0.05;
static const double STALL_PHASE_MAX_S = 0.8; /* the longest the caller goes alone after stalls */

typedef enum { RUNNING, WINDOW, PROBE } chooser_stage;

typedef struct mode_chooser {
    bool solo;                 /* the mode in use */
    chooser_stage stage;
    double phase_end;          /* RUNNING: when the window starts (tg_now_seconds) */
    long loops;                /* WINDOW: loops timed so far */
    long left;                 /* PROBE: loops left to time */
    double window_s, probe_s;  /* seconds of the window's and the probe's loops */
    int size;                  /* the team size it measured (another size starts it afresh) */
    double last_stall;         /* when a helper last kept a team loop waiting (see team_loop) */
    double stall_phase_s;      /* how long the caller goes alone after stalls: doubles while they recur */
} mode_chooser;

static _Thread_local mode_chooser t_mode; /* the caller's (one team per process) */

/* The mode chooser of the calling thread: started on its first team loop, and again for a team of
 * another size (tg_set_threads) or a new tg_team_run, whose loops may differ from the last ones. */
static void start_choosing(int size)
{
    t_mode = (mode_chooser){.solo = false, .stage = RUNNING, .phase_end = tg_now_seconds() + FIRST_PHASE_S,
                            .size = size, .stall_phase_s = FIRST_PHASE_S};
}

static mode_chooser *caller_mode(int size)
{
    if (t_mode.size != size)
        start_choosing(size);
    return &t_mode;
}

/* A phase in the mode chosen, from `now`: PHASE_MIN_S, or PHASE_PER_PROBE times the last window
 * and probe if longer. */
static void start_phase(mode_chooser *mc, double now)
{
    double phase_s = PHASE_PER_PROBE * (mc->window_s + mc->probe_s);
    mc->stage = RUNNING;
    mc->phase_end = now + (phase_s > PHASE_MIN_S ? phase_s : PHASE_MIN_S);
}

/* Moves the chooser on after a loop that took `seconds` and ended at `now`. */
static void chooser_after_loop(mode_chooser *mc, double seconds, double now)
{
    switch (mc->stage) {
    case RUNNING:
        if (now < mc->phase_end)
            return;
        if (!mc->solo)
            mc->stall_phase_s = FIRST_PHASE_S; /* a whole phase on the team went by without stalls */
        mc->stage = WINDOW;
        mc->loops = 0;
        mc->window_s = mc->probe_s = 0.0;
        return;
    case WINDOW:
        mc->window_s += seconds;
        mc->loops++;
        if (mc->loops == WINDOW_MAX_LOOPS || (mc->loops >= WINDOW_MIN_LOOPS && mc->window_s >= WINDOW_MAX_S))
            mc->stage = PROBE, mc->left = mc->loops;
        return;
    case PROBE:
        mc->probe_s += seconds;
        if (--mc->left > 0)
            return;
        if (mc->probe_s < 0.9 * mc->window_s)
            mc->solo = !mc->solo;
        start_phase(mc, now);
        return;
    }
}

/* A helper kept the caller of a team loop waiting a time slice (see team_loop).  Twice in a short
 * while: another process has a helper's core now, and every loop on the team may wait as long
 * for the chunks that helper holds, several times slower than the caller alone (a window of
 * loops can miss it: the helper runs in turns with the other process, and a window of
 * WINDOW_MAX_S may fall in one of its turns).  So go alone at once, for a short phase at first
 * (a new thread's first slices, before the system spreads the threads, stall too), twice as long
 * each time the stalls come back, until a whole phase on the team passes without them.  A probe
 * of the team (from running alone) that stalls twice has lost already: it ends, and the caller
 * stays alone for a phase.  Returns whether the mode changed (the loop then counts in no window
 * or probe). */
static bool chooser_stalled(mode_chooser *mc, double now)
{
    bool again = now - mc->last_stall < STALL_AGAIN_S;
    mc->last_stall = now;
    if (!again)
        return false;
    if (mc->stage == PROBE) { /* a team loop in a probe: the caller was running alone */
        start_phase(mc, now);
        return true;
    }
    mc->solo = true;
    mc->stage = RUNNING;
    mc->phase_end = now + mc->stall_phase_s;
    mc->stall_phase_s = 2 * mc->stall_phase_s < STALL_PHASE_MAX_S ? 2 * mc->stall_phase_s : STALL_PHASE_MAX_S;
    return true;
}

static void team_or_solo_loop(team *tm, size_t n, size_t grain, size_t chunks, tg_range_fn body, void *ctx)
{
    mode_chooser *mc = caller_mode(atomic_load(&tm->size));
    bool solo = mc->stage == PROBE ? !mc->solo : mc->solo;
    double start = tg_now_seconds();
    bool stalled = false;
    if (solo) {
        /* A body's own loops run serially here too, as on the team: otherwise each would count as a
         * loop of the window (or probe), which would then hold less work than the other mode's
         * window of as many loops, and the caller alone would look faster than it is. */
        t_in_team_loop = true;
        run_serially(n, grain, chunks, body, ctx);
        t_in_team_loop = false;
    } else
        stalled = team_loop(tm, n, grain, chunks, body, ctx, start);
    double now = tg_now_seconds();
    if (!(stalled && chooser_stalled(mc, now)))
        chooser_after_loop(mc, now - start, now);
}

/* ---- the helpers' lives --------------------------------------------------------------------- */

/* A helper: waits for loops after `seen` (spinning, then asleep) until the team shuts down. */
static void helper_loop(team *tm, int self, uint32_t seen)
{
    for (;;) {
        uint32_t job;
        int spins = 0;
        while ((job = atomic_load(&tm->job)) == seen && !atomic_load(&tm->shutdown)) {
            if (++spins < SPINS_BEFORE_SLEEP) {
                cpu_relax();
                continue;
            }
            /* sleepers is raised before job is read again, and the caller reads sleepers after
             * posting job: one of the two sees the other, so no wake-up is lost. */
            pthread_mutex_lock(&tm->lock);
            atomic_fetch_add(&tm->sleepers, 1);
            while (atomic_load(&tm->job) == seen && !atomic_load(&tm->shutdown))
                pthread_cond_wait(&tm->wake, &tm->lock);
            atomic_fetch_sub(&tm->sleepers, 1);
            pthread_mutex_unlock(&tm->lock);
            spins = 0;
        }
        if (atomic_load(&tm->shutdown))
            return;
        seen = job;
        work_on(tm, job, self);
    }
}

typedef struct helper_start {
    int self;
    uint32_t seen; /* the last loop posted before it started: it waits for the next */
} helper_start;

static helper_start g_helper_start[TEAM_MAX];

static void *helper_main(void *arg)
{
    const helper_start *h = arg;
    t_helper = true;
    helper_loop(&g_team, h->self, h->seen);
    return NULL;
}

/* At exit: wakes the helpers to stop and waits for them (not for itself, should a loop body on a
 * helper call exit), so nothing runs while the process tears down. */
static void stop_helpers(void)
{
    team *tm = &g_team;
    pthread_mutex_lock(&g_join_lock);
    pthread_mutex_lock(&tm->lock);
    atomic_store(&tm->shutdown, true);
    pthread_cond_broadcast(&tm->wake);
    pthread_mutex_unlock(&tm->lock);
    for (int k = 0; k < tm->helpers; k++)
        if (!pthread_equal(tm->helper_id[k], pthread_self()))
            pthread_join(tm->helper_id[k], NULL);
    tm->helpers = 0;
    pthread_mutex_unlock(&g_join_lock);
}

static void stop_helpers_at_exit(void)
{
    atomic_store(&g_exiting, true);
    stop_helpers();
}

/* In a child after fork: only the forking thread exists, so no helper does (the next loop starts
 * new ones), and the lock may have been held by a thread that is gone. */
static void forget_helpers_in_child(void)
{
    team *tm = &g_team;
    tm->helpers = 0;
    atomic_store(&tm->sleepers, 0);
    atomic_store(&tm->stoppers, 0);
    atomic_store(&tm->busy, t_team_owner); /* a loop of another thread has no thread here */
    if (!atomic_load(&g_exiting))
        atomic_store(&tm->shutdown, false); /* a fork inside another thread's tg_stop_threads */
    pthread_mutex_init(&tm->lock, NULL);
    pthread_cond_init(&tm->wake, NULL);
    pthread_cond_init(&tm->released, NULL);
    pthread_mutex_init(&g_join_lock, NULL);
}

static pthread_once_t g_exit_hooks_once = PTHREAD_ONCE_INIT;

static void install_exit_hooks(void)
{
    atexit(stop_helpers_at_exit);
    pthread_atfork(NULL, NULL, forget_helpers_in_child);
}

/* Wakes the threads in tg_stop_threads waiting for the team. */
static void wake_stoppers(team *tm)
{
    pthread_mutex_lock(&tm->lock);
    pthread_cond_broadcast(&tm->released);
    pthread_mutex_unlock(&tm->lock);
}

/* Starts helpers until `wanted` run (the owner calls this, so helpers never start twice); returns
 * how many run.  A helper the system refuses to start is simply not there: its share of every
 * loop is run by the others. */
static int start_helpers(team *tm, int wanted)
{
    pthread_once(&g_exit_hooks_once, install_exit_hooks);
    while (tm->helpers < wanted && !atomic_load(&tm->shutdown)) {
        int self = tm->helpers + 1;
        g_helper_start[self - 1] = (helper_start){self, atomic_load(&tm->job)};
        /* 2 MiB of stack, not the default 8: loop bodies keep small arrays on it, and a process
         * under a memory limit (ulimit -v) then still gets its helpers */
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, (size_t)2 << 20);
        int rc = pthread_create(&tm->helper_id[tm->helpers], &attr, helper_main, &g_helper_start[self - 1]);
        pthread_attr_destroy(&attr);
        if (rc != 0) {
            static atomic_flag warned = ATOMIC_FLAG_INIT;
            if (!atomic_flag_test_and_set(&warned)) /* one line, once: the run goes on */
                fprintf(stderr, "tapegrad: cannot start a helper thread (%s); running on %d thread%s\n",
                        strerror(rc), tm->helpers + 1, tm->helpers ? "s" : "");
            break;
        }
        tm->helpers++;
    }
    return tm->helpers;
}

/* Takes the team for the calling thread with `threads` threads in all; false when another thread
 * owns it. */
static bool team_acquire(team *tm, int threads)
{
    /* a thread waiting in tg_stop_threads goes first (the caller's loops run on it meanwhile) */
    if (atomic_load(&tm->stoppers) || atomic_exchange(&tm->busy, true))
        return false;
    if (threads > TEAM_MAX)
        threads = TEAM_MAX;
    int helpers = start_helpers(tm, threads - 1);
    int size = helpers + 1 < threads ? helpers + 1 : threads;
    if (atomic_load(&tm->size) != size) /* (a store would take the loop's line from the helpers) */
        atomic_store(&tm->size, size);
    t_team_owner = true;
    return true;
}

static void team_release(team *tm)
{
    t_team_owner = false;
    atomic_store(&tm->busy, false);
    if (atomic_load(&tm->stoppers))
        wake_stoppers(tm);
}

void tg_stop_threads(void)
{
    team *tm = &g_team;
    /* In a loop body or tg_team_run the team works for this call's caller (it would wait for
     * itself); during exit the helpers are already stopped for good. */
    if (t_team_owner || t_helper || atomic_load(&g_exiting))
        return;
    /* Another thread's loop or tg_team_run: asleep until team_release sees a stopper waiting.
     * stoppers is raised before busy is tried, and team_release reads it after clearing busy:
     * one of the two sees the other. */
    pthread_mutex_lock(&tm->lock);
    atomic_fetch_add(&tm->stoppers, 1);
    while (atomic_exchange(&tm->busy, true))
        pthread_cond_wait(&tm->released, &tm->lock);
    atomic_fetch_sub(&tm->stoppers, 1);
    pthread_mutex_unlock(&tm->lock);
    stop_helpers();
    atomic_store(&tm->shutdown, false); /* the next loop starts new helpers */
    team_release(tm);                   /* (which wakes another stopper waiting for this one) */
}

void tg_team_run(tg_team_fn fn, void *ctx)
{
    int threads = tg_get_threads();
    if (t_team_owner || threads < 2 || !team_acquire(&g_team, threads)) {
        fn(ctx); /* nested, nothing to share, or another thread owns the team */
        return;
    }
    start_choosing(atomic_load(&g_team.size));
    fn(ctx);
    team_release(&g_team);
}

/* ---- parallel loops ------------------------------------------------------------------------ */

void tg_parallel_for(size_t n, size_t grain, tg_range_fn body, void *ctx)
{
    if (grain == 0)
        grain = 1;
    size_t chunks = (n + grain - 1) / grain;
    /* Always chunk by chunk, even on one thread: a body that keeps per-chunk partial sums then
     * sees the same chunks whatever the thread count.  A body's own loops run on its thread:
     * the team is busy with the loop that called it.  (A helper does not even ask for the team:
     * the ask writes the team's `busy` line, which would then travel between the cores at every
     * loop of a body that runs many.) */
    if (chunks > 1 && chunks <= 0xffffffffu && !t_in_team_loop && !t_helper) {
        if (t_team_owner) {
            if (atomic_load(&g_team.size) > 1) {
                team_or_solo_loop(&g_team, n, grain, chunks, body, ctx);
                return;
            }
        } else {
            int threads = tg_get_threads();
            if (threads > 1 && team_acquire(&g_team, threads)) {
                if (atomic_load(&g_team.size) > 1)
                    team_or_solo_loop(&g_team, n, grain, chunks, body, ctx);
                else
                    run_serially(n, grain, chunks, body, ctx);
                team_release(&g_team);
                return;
            }
        }
    }
    run_serially(n, grain, chunks, body, ctx);
}
