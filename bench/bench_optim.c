/* bench/bench_optim.c — one optimizer step over a dense autoencoder's parameters, against the
 * time its memory traffic takes with no division or square root.
 *
 *   bench_optim [--optimizer sgd|adam|adamw|rmsprop] [--input D] [--hidden H] [--threads N]
 *
 * The parameters are the CAE's (models/cae): encoder W [D,H] and b [H], decoder V [H,D] and c [D];
 * 784 and 64 give its 101,200.  The optimizer has its defaults (optim.h: plain SGD, Adam, AdamW,
 * RMSprop without momentum or centering).  Each step first writes every gradient (as a backward
 * pass does, on the threads that will update it; untimed), then times tg_optim_step_zero_grad,
 * the call the training loops make.  The floor makes the step's passes over the same arrays
 * with only multiplies and adds: the check of every gradient, then one pass over the weights,
 * the gradients (zeroed) and the optimizer's own state, each split over the threads as the
 * optimizer splits its work.  It is the step's time if its arithmetic cost nothing.  Prints the
 * medians of ROUNDS rounds, threads being those the step splits over (1 below the optimizer's
 * threshold, nn/optim.c):
 *
 *   optimizer=adam params=101200 threads=2 step_us=19.1 floor_us=13.4 ratio=1.43
 *
 * (ratio = step ÷ floor: near 1, the step is bound by memory; well above, by its arithmetic).
 * Bad arguments exit 2 with one line, as the programs do. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/param.h"
#include "nn/optim.h"
#include "nn/optim_rules.h"
#include "tensor/parallel.h"
#include "tensor/tensor.h"
#include "tensor/vmath.h"

#include "bench_args.h"
#include "bench_median.h"

enum { N_PARAMS = 4, MAX_STATES = 3, ROUNDS = 9, STEPS_PER_ROUND = 200, MAX_SIDE = 4096 };

typedef struct bench {
    tg_param param[N_PARAMS];
    tg_param *params[N_PARAMS];
    tg_optimizer *optim;
    int states;   /* the optimizer's state arrays per parameter: 0 (plain SGD) to MAX_STATES */
    size_t parts; /* runs per parameter, as the optimizer cuts them (tg_optim_parts) */
    atomic_bool non_finite; /* the floor's check found an inf or NaN (it never does) */
} bench;

static void die(const char *what, const tg_error *err)
{
    fprintf(stderr, "bench_optim: %s: %s\n", what, err->msg);
    exit(1);
}

static void bench_init(bench *b, size_t D, size_t H)
{
    const size_t shapes[N_PARAMS][2] = {{D, H}, {1, H}, {H, D}, {1, D}};
    const char *names[N_PARAMS] = {"enc.weight", "enc.bias", "dec.weight", "dec.bias"};
    tg_error err;
    for (int i = 0; i < N_PARAMS; i++) {
        if (tg_param_init(&b->param[i], names[i], 2, shapes[i], &err))
            die(names[i], &err);
        b->params[i] = &b->param[i];
        for (size_t k = 0, n = b->param[i].value.size; k < n; k++)
            b->param[i].value.data[k] = 0.01f * (float)(k % 13) - 0.06f;
    }
}

static void bench_free(bench *b)
{
    for (int i = 0; i < N_PARAMS; i++)
        tg_param_free(&b->param[i]);
}

/* ---- work split as the optimizer splits it (tg_optim_chunk_run) ---- */

typedef void (*run_fn)(bench *b, int param, size_t lo, size_t hi, long step);

typedef struct runs_job {
    bench *b;
    run_fn fn;
    long step;
} runs_job;

static void run_chunks(size_t c0, size_t c1, void *ctx)
{
    runs_job *job = ctx;
    for (size_t c = c0; c < c1; c++) {
        int i;
        size_t lo, hi;
        tg_optim_chunk_run(job->b->optim, job->b->parts, c, &i, &lo, &hi);
        if (lo < hi)
            job->fn(job->b, i, lo, hi, job->step);
    }
}

static void for_runs(bench *b, run_fn fn, long step)
{
    runs_job job = {b, fn, step};
    tg_parallel_for(b->parts * N_PARAMS, 1, run_chunks, &job);
}

/* Gradient elements [lo, hi) written, different each step: a backward pass's stores, on the
 * threads that will update them (the products' split gives each its own rows). */
static void write_gradient_run(bench *b, int i, size_t lo, size_t hi, long step)
{
    float *g = b->param[i].grad.data;
    for (size_t k = lo; k < hi; k++)
        g[k] = 1e-3f * (float)((k + (size_t)step) % 7) - 3e-3f;
}

/* The floor's pass over elements [lo, hi): the gradient read and zeroed, each of `states` state
 * arrays read and written, the weight moved, with multiplies and adds only.  Inlined with a
 * constant `states`, so that each count is a loop without branches (which GCC vectorizes). */
static inline __attribute__((always_inline)) void floor_pass(float *restrict w, float *restrict g,
                                                             float *restrict s0, float *restrict s1,
                                                             float *restrict s2, int states, size_t lo, size_t hi)
{
    for (size_t k = lo; k < hi; k++) {
        float d = g[k], step = d;
        g[k] = 0.0f;
        if (states > 0)
            s0[k] = 0.9f * s0[k] + 0.1f * d, step += s0[k];
        if (states > 1)
            s1[k] = 0.999f * s1[k] + 0.001f * (d * d), step += s1[k];
        if (states > 2)
            s2[k] = 0.99f * s2[k] + 0.01f * d, step += s2[k];
        w[k] -= 1e-3f * step;
    }
}

/* The floor's first pass, as the step's: every gradient element checked for inf and NaN before
 * anything changes (the result is not needed: the gradients are finite). */
static void check_run(bench *b, int i, size_t lo, size_t hi, long step)
{
    (void)step;
    if (!tg_floats_finite(b->param[i].grad.data + lo, hi - lo))
        atomic_store_explicit(&b->non_finite, true, memory_order_relaxed);
}

/* The floor's second pass on elements [lo, hi) of parameter i, over the optimizer's own state arrays. */
TG_VECTORIZE static void floor_run(bench *b, int i, size_t lo, size_t hi, long step)
{
    (void)step;
    float *s[MAX_STATES] = {NULL};
    for (int k = 0; k < b->states; k++)
        s[k] = tg_optim_state_tensor(b->optim, i * b->states + k, NULL)->data;
    float *w = b->param[i].value.data, *g = b->param[i].grad.data;
    switch (b->states) {
    case 0: floor_pass(w, g, s[0], s[1], s[2], 0, lo, hi); break;
    case 1: floor_pass(w, g, s[0], s[1], s[2], 1, lo, hi); break;
    case 2: floor_pass(w, g, s[0], s[1], s[2], 2, lo, hi); break;
    default: floor_pass(w, g, s[0], s[1], s[2], 3, lo, hi); break;
    }
}

/* ---- timing ---- */

/* The median over ROUNDS of the mean time of one step (seconds): the optimizer's, or the floor's. */
static double median_step_s(bench *b, bool floor)
{
    double rounds[ROUNDS];
    long step = 0;
    tg_error err;
    for (int r = 0; r < ROUNDS; r++) {
        double timed = 0.0;
        for (int s = 0; s < STEPS_PER_ROUND; s++) {
            for_runs(b, write_gradient_run, step++);
            double start = tg_now_seconds();
            if (floor) {
                for_runs(b, check_run, 0);
                for_runs(b, floor_run, 0);
            }
            else if (tg_optim_step_zero_grad(b->optim, &err))
                die("step", &err);
            timed += tg_now_seconds() - start;
        }
        rounds[r] = timed / STEPS_PER_ROUND;
    }
    return bench_median(rounds, ROUNDS);
}

#define USAGE "usage: bench_optim [--optimizer sgd|adam|adamw|rmsprop] [--input D (1..%d)] [--hidden H (1..%d)] " \
              "[--threads N (1..%d)]\n"

/* Reads the command line: -1 to go on, else the exit status (0 after --help). */
static int parse_args(int argc, char **argv, long *D, long *H, int *kind)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--input") == 0 && i + 1 < argc) {
            *D = bench_whole("bench_optim", argv[i], argv[i + 1], 1, MAX_SIDE), i++;
        } else if (strcmp(argv[i], "--hidden") == 0 && i + 1 < argc) {
            *H = bench_whole("bench_optim", argv[i], argv[i + 1], 1, MAX_SIDE), i++;
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            tg_set_threads((int)bench_whole("bench_optim", argv[i], argv[i + 1], 1, TG_MAX_THREADS)), i++;
        } else if (strcmp(argv[i], "--optimizer") == 0 && i + 1 < argc) {
            if ((*kind = tg_opt_kind_parse(argv[++i])) < 0) {
                fprintf(stderr, "bench_optim: --optimizer %s: must be sgd, adam, adamw or rmsprop\n", argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf(USAGE, MAX_SIDE, MAX_SIDE, TG_MAX_THREADS);
            return 0;
        } else {
            fprintf(stderr, "bench_optim: %s: not an option here; " USAGE, argv[i], MAX_SIDE, MAX_SIDE, TG_MAX_THREADS);
            return 2;
        }
    }
    return -1;
}

int main(int argc, char **argv)
{
    long D = 784, H = 64;
    int kind = TG_OPT_ADAM;
    int status = parse_args(argc, argv, &D, &H, &kind);
    if (status >= 0)
        return status;
    bench b = {0};
    bench_init(&b, (size_t)D, (size_t)H);
    tg_opt_config cfg = tg_opt_config_default((tg_opt_kind)kind);
    tg_optimizer optim;
    tg_error err;
    if (tg_optim_init(&optim, &cfg, b.params, N_PARAMS, &err))
        die("optimizer", &err);
    size_t count = 0;
    for (int i = 0; i < N_PARAMS; i++)
        count += b.param[i].value.size;
    b.optim = &optim;
    b.states = tg_optim_state_count(&optim) / N_PARAMS;
    b.parts = tg_optim_parts(count);
    atomic_init(&b.non_finite, false);
    if (b.states > MAX_STATES) {
        fprintf(stderr, "bench_optim: %s keeps %d arrays per parameter, the floor at most %d\n",
                tg_opt_kind_name(kind), b.states, MAX_STATES);
        return 1;
    }
    median_step_s(&b, false); /* warm-ups: the helpers, the caches, the moments away from zero */
    median_step_s(&b, true);
    double step_s = median_step_s(&b, false), floor_s = median_step_s(&b, true);
    printf("optimizer=%s params=%zu threads=%zu step_us=%.2f floor_us=%.2f ratio=%.2f\n", tg_opt_kind_name(kind), count,
           b.parts, step_s * 1e6, floor_s * 1e6, step_s / floor_s);
    tg_optim_free(&optim);
    bench_free(&b);
    return 0;
}
