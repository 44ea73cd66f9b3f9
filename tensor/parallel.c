/* tensor/parallel.c — thread count, parallel loops, and the team of helper threads.
 *
 * Two ways to run a parallel loop:
 *
 *   fork/join   outside a team, tg_parallel_for is an OpenMP `parallel for` over the fixed chunks:
 *               threads are woken for the loop and the caller waits for all of them at its end.
 *   team        inside tg_team_run, the OpenMP threads stay in one parallel region for the whole
 *               run and wait for loops posted by the caller.  Each thread owns a contiguous share
 *               of a loop's chunks (as the static schedule gives) and, done with it, takes the
 *               chunks nobody has claimed yet from the others' shares.  The caller waits only for
 *               chunks a helper has actually started: a helper that the operating system has not
 *               scheduled (another process holds its core) costs nothing, where a fork/join
 *               waits for it to arrive and do its share.
 *
 * Either way a chunk's bounds depend on n and grain alone, so which thread runs it changes no
 * bit of the result. */
#include "parallel.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* 0 until first use: then the core count.  Atomic: loop bodies on helper threads read it (a
 * product inside a body asks how many threads it may use). */
static _Atomic int g_threads;

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
    atomic_store(&g_threads, n >= 1 ? n : 1);
}

int tg_get_threads(void)
{
    int n = atomic_load(&g_threads);
    if (n == 0) {
        int expected = 0;
        atomic_compare_exchange_strong(&g_threads, &expected, tg_available_cores());
        n = atomic_load(&g_threads);
    }
    return n;
}

bool tg_have_openmp(void)
{
#ifdef _OPENMP
    return true;
#else
    return false;
#endif
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
    TEAM_MAX = 256,
    /* Polls of the job counter before a helper sleeps: about half a millisecond, longer than the
     * serial stretches inside a training step, far shorter than an evaluation between epochs. */
    SPINS_BEFORE_SLEEP = 1 << 14,
    SPINS_BEFORE_YIELD = 1 << 10, /* the caller's wait for a helper's last chunk */
};

/* A claim cursor packs a loop's number (high 32 bits) with the next unclaimed chunk of one
 * thread's share (low 32 bits), so a helper still working on an older loop can never claim a
 * chunk of the current one: its compare-and-swap sees another loop number and fails.  (Unless
 * the number came round again: 2^32 loops while that helper was descheduled, half a day at
 * 100,000 loops a second.) */
#define CURSOR(job, chunk) (((uint64_t)(job) << 32) | (uint64_t)(chunk))
#define CURSOR_JOB(c) ((uint32_t)((c) >> 32))
#define CURSOR_CHUNK(c) ((size_t)((c) & 0xffffffffu))

typedef struct team {
    _Atomic bool busy;        /* a tg_team_run is in progress (one team per process) */
    int size;                 /* threads, caller included (set while busy) */
    _Atomic uint32_t job;     /* bumped when a loop is posted; helpers wait for it to change */
    _Atomic bool shutdown;
    /* The posted loop.  Atomic because a late helper may read them while the caller posts the
     * next loop; that helper's claims then all fail (see CURSOR), so it never uses what it read. */
    _Atomic(tg_range_fn) body;
    _Atomic(void *) ctx;
    _Atomic size_t n, grain, chunks;
    _Atomic uint64_t cursor[TEAM_MAX]; /* per thread: CURSOR(job, next chunk of its share) */
    _Atomic size_t done;               /* chunks of the current loop finished */
    _Atomic int sleepers;              /* helpers blocked on `wake` */
    pthread_mutex_t lock;
    pthread_cond_t wake;
} team;

static team g_team = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};
static _Thread_local bool t_team_caller;  /* this thread runs a team's fn */
static _Thread_local bool t_in_team_loop; /* ... and is inside one of its loops (a body) */

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
static size_t claim_chunk(team *tm, uint32_t job, int owner)
{
    size_t end = share_begin(atomic_load(&tm->chunks), tm->size, owner + 1);
    uint64_t c = atomic_load(&tm->cursor[owner]);
    for (;;) {
        if (CURSOR_JOB(c) != job || CURSOR_CHUNK(c) >= end)
            return SIZE_MAX;
        if (atomic_compare_exchange_weak(&tm->cursor[owner], &c, c + 1))
            return CURSOR_CHUNK(c);
    }
}

/* Runs what thread `self` can claim of loop `job`: its own share first, then the others'. */
static void work_on(team *tm, uint32_t job, int self)
{
    tg_range_fn body = atomic_load(&tm->body);
    void *ctx = atomic_load(&tm->ctx);
    size_t n = atomic_load(&tm->n), grain = atomic_load(&tm->grain);
    for (int k = 0; k < tm->size; k++) {
        int owner = (self + k) % tm->size;
        size_t c;
        while ((c = claim_chunk(tm, job, owner)) != SIZE_MAX) {
            size_t lo, hi;
            chunk_bounds(n, grain, c, &lo, &hi);
            body(lo, hi, ctx);
            atomic_fetch_add(&tm->done, 1);
        }
    }
}

/* Posts a loop, works on it, and returns when every chunk has run. */
static void team_loop(team *tm, size_t n, size_t grain, size_t chunks, tg_range_fn body, void *ctx)
{
    uint32_t job = atomic_load(&tm->job) + 1;
    /* Cursors first: from here on no claim for an older loop can succeed, so a late helper
     * cannot pair the fields below with an old cursor. */
    for (int t = 0; t < tm->size; t++)
        atomic_store(&tm->cursor[t], CURSOR(job, share_begin(chunks, tm->size, t)));
    atomic_store(&tm->body, body);
    atomic_store(&tm->ctx, ctx);
    atomic_store(&tm->n, n);
    atomic_store(&tm->grain, grain);
    atomic_store(&tm->chunks, chunks);
    atomic_store(&tm->done, 0);
    atomic_store(&tm->job, job);
    if (atomic_load(&tm->sleepers) > 0) {
        pthread_mutex_lock(&tm->lock);
        pthread_cond_broadcast(&tm->wake);
        pthread_mutex_unlock(&tm->lock);
    }
    t_in_team_loop = true; /* a body's own loops run serially: the team is busy with this one */
    work_on(tm, job, 0);
    t_in_team_loop = false;
    /* Only chunks a helper claimed and is still running are left.  If that takes long, the
     * helper has probably lost its core: yield ours, in case the system wants to run it here. */
    for (int spins = 0; atomic_load(&tm->done) != chunks; spins++) {
        if (spins < SPINS_BEFORE_YIELD)
            cpu_relax();
        else
            sched_yield();
    }
}

/* ---- the team or the caller alone: whichever is faster on this machine now ----------------
 *
 * Two threads are not always faster than one.  On a machine shared with other work, a helper
 * may share its core with another process, or (in a virtual machine) the two virtual cores may
 * sit on different cache complexes for a while, so that every line the threads pass between
 * them costs a trip through main memory: on this project's machine such spells made two-thread
 * epochs slower than one-thread ones, for minutes, while pure arithmetic still gained from the
 * second thread (docs/performance.md).  So the caller keeps measuring: it runs the team's loops
 * in phases, and at the end of each phase tries the other way (the team, or itself alone) for
 * PROBE_LOOPS loops; if that took under 90% of the time the last PROBE_LOOPS loops of the phase
 * took, it switches.  A training step repeats the same loops, so the two windows hold the same
 * work.  Which thread runs a chunk changes no bit, so neither does this. */
enum {
    PROBE_LOOPS = 256,
    FIRST_PHASE_LOOPS = 1024,  /* the first decision comes early: a slow spell may be on now */
    PHASE_LOOPS = 32768,       /* probing costs a slow window per phase: 1% of a phase at most */
};

typedef struct mode_chooser {
    bool solo, probing;        /* the mode in use; whether this is a probe of the other one */
    long left;                 /* loops left in the current phase or probe */
    double window_s;           /* seconds of the phase's last PROBE_LOOPS loops */
    double probe_s;            /* seconds of the probe so far */
} mode_chooser;

static _Thread_local mode_chooser t_mode; /* the caller's (one team per process) */

static void team_or_solo_loop(team *tm, size_t n, size_t grain, size_t chunks, tg_range_fn body, void *ctx)
{
    mode_chooser *mc = &t_mode;
    bool solo = mc->probing ? !mc->solo : mc->solo;
    double start = tg_now_seconds();
    if (solo)
        run_serially(n, grain, chunks, body, ctx);
    else
        team_loop(tm, n, grain, chunks, body, ctx);
    double seconds = tg_now_seconds() - start;
    mc->left--;
    if (mc->probing) {
        mc->probe_s += seconds;
        if (mc->left == 0) {
            if (mc->probe_s < 0.9 * mc->window_s)
                mc->solo = !mc->solo;
            mc->probing = false;
            mc->left = PHASE_LOOPS;
            mc->window_s = 0.0;
        }
        return;
    }
    if (mc->left < PROBE_LOOPS)
        mc->window_s += seconds;
    if (mc->left == 0) {
        mc->probing = true;
        mc->left = PROBE_LOOPS;
        mc->probe_s = 0.0;
    }
}

static void start_choosing(void)
{
    t_mode = (mode_chooser){.solo = false, .left = FIRST_PHASE_LOOPS};
}

#ifdef _OPENMP
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
#endif

void tg_team_run(tg_team_fn fn, void *ctx)
{
    team *tm = &g_team;
    int threads = tg_get_threads();
    if (threads < 2 || t_team_caller || atomic_exchange(&tm->busy, true)) {
        fn(ctx); /* nothing to share, nested, or another thread's team is running */
        return;
    }
    start_choosing(); /* (t_mode belongs to this thread, which becomes the team's thread 0) */
#ifdef _OPENMP
    if (threads > TEAM_MAX)
        threads = TEAM_MAX;
    atomic_store(&tm->shutdown, false);
#pragma omp parallel num_threads(threads)
    {
        int self = omp_get_thread_num();
        uint32_t seen = atomic_load(&tm->job); /* before the barrier, so before any loop is posted */
#pragma omp single
        tm->size = omp_get_num_threads(); /* (the single's barrier publishes it to all) */
        if (self == 0) {
            t_team_caller = true;
            fn(ctx);
            t_team_caller = false;
            pthread_mutex_lock(&tm->lock);
            atomic_store(&tm->shutdown, true);
            pthread_cond_broadcast(&tm->wake);
            pthread_mutex_unlock(&tm->lock);
        } else {
            helper_loop(tm, self, seen);
        }
    }
    tm->size = 0;
#else
    fn(ctx);
#endif
    atomic_store(&tm->busy, false);
}

/* ---- parallel loops ------------------------------------------------------------------------ */

void tg_parallel_for(size_t n, size_t grain, tg_range_fn body, void *ctx)
{
    if (grain == 0)
        grain = 1;
    size_t chunks = (n + grain - 1) / grain;
    /* Always chunk by chunk, even on one thread: a body that keeps per-chunk partial sums then
     * sees the same chunks whatever the thread count. */
    if (chunks > 1 && t_team_caller && !t_in_team_loop && g_team.size > 1 && chunks <= 0xffffffffu) {
        team_or_solo_loop(&g_team, n, grain, chunks, body, ctx);
        return;
    }
#ifdef _OPENMP
    int threads = tg_get_threads();
    if (threads > 1 && chunks > 1 && !omp_in_parallel()) { /* (inside a team: serially) */
#pragma omp parallel for schedule(static) num_threads(threads)
        for (size_t c = 0; c < chunks; c++) {
            size_t lo, hi;
            chunk_bounds(n, grain, c, &lo, &hi);
            body(lo, hi, ctx);
        }
        return;
    }
#endif
    run_serially(n, grain, chunks, body, ctx);
}
