/* gru_adding.c — a GRU on the adding problem (Hochreiter & Schmidhuber's long-memory benchmark):
 *
 *   gru_adding [--steps N] [--length T] [--threads N] [--seed N] [--check MSE]
 *
 * Each sequence has T steps (--length, default 50); step t's input is (v_t, m_t): a value v_t uniform in [0,1] and a
 * marker m_t, 1 at two steps (one in each half of the sequence) and 0 elsewhere.  The target is
 * the sum of the two marked values.  Predicting the mean, 1, always scores the variance of a sum of
 * two uniforms, 2/12 = 0.167: a model must remember the marked values across up to 49 steps.
 *
 * Model: GRU 2 -> HIDDEN (nn/recurrent.h), Dense HIDDEN -> 1 on the last state, MSE on the last
 * step only; Adam on batches of fresh sequences, gradient norm clipped at 1.  The sequence runs
 * through tg_recurrent_tbptt with a window of T (full BPTT: with a loss at the last step only, a
 * shorter window would cut the gradient before it reaches the markers), the optimizer step in its
 * window_done.  Prints `step=… train_mse=…` now and then, and `eval_mse=… baseline=0.1667` on a
 * fixed set of EVAL_N sequences.  --check MSE: exit 1 unless eval_mse < MSE (the test suite runs a
 * short problem that way: tests/meson.build's arguments).  The full budget is --steps 2000. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "nn/dense.h"
#include "nn/optim.h"
#include "nn/params.h"
#include "nn/recurrent.h"
#include "tensor/parallel.h"

#include "example_data.h"

enum { HIDDEN = 32, BATCH = 64, EVAL_N = 1024 };
#define BASELINE (2.0 / 12.0)
#define DEFAULT_STEPS 700

typedef struct adding {
    tg_recurrent gru;
    tg_dense head;
    tg_param_list params;
    tg_optimizer opt;
    size_t T;         /* the sequences' length */
    tg_tensor seq;    /* [BATCH,T,2]: the batch being run */
    tg_tensor target; /* [BATCH,1] */
    tg_error *err;
} adding;

/* A batch of fresh sequences and their targets from rng. */
static void make_batch(adding *m, tg_rng *rng)
{
    const size_t T = m->T;
    for (size_t b = 0; b < BATCH; b++) {
        float *x = m->seq.data + b * T * 2;
        size_t first = tg_rng_below(rng, T / 2), second = T / 2 + tg_rng_below(rng, T / 2);
        for (size_t t = 0; t < T; t++)
            x[2 * t] = tg_rng_uniform(rng), x[2 * t + 1] = t == first || t == second;
        m->target.data[b] = x[2 * first] + x[2 * second];
    }
}

static tg_node *input(tg_tape *t, void *ctx, int step)
{
    return tg_sequence_input(t, &((adding *)ctx)->seq, step);
}

/* The MSE of the prediction from the last state; no loss at the other steps. */
static tg_node *loss(tg_tape *t, void *ctx, int step, tg_rnn_state s)
{
    adding *m = ctx;
    if ((size_t)step != m->T - 1)
        return NULL;
    return tg_mse(t, tg_dense_forward(t, &m->head, s.h), tg_input(t, &m->target), TG_REDUCE_MEAN);
}

static int optimizer_step(void *ctx, int first, int count, tg_error *err)
{
    (void)first, (void)count;
    return tg_optim_step_zero_grad(&((adding *)ctx)->opt, err);
}

/* The MSE of one batch: trained on when `train` (gradients and an Adam step), else only measured. */
static double run_batch(tg_tape *t, adding *m, bool train, tg_error *err)
{
    tg_rnn_carry carry;
    tg_tbptt_stats stats = {0};
    tg_tbptt cfg = {(int)m->T, (int)m->T, input, loss, train ? optimizer_step : NULL, m};
    tg_tape_set_grad_enabled(t, train);
    int rc = tg_rnn_carry_init(&carry, &m->gru, BATCH, err);
    if (rc == TG_OK)
        rc = tg_recurrent_tbptt(t, &m->gru, &cfg, &carry, &stats, err);
    tg_rnn_carry_free(&carry);
    return rc == TG_OK ? stats.loss : -1.0;
}

static double evaluate(tg_tape *t, adding *m, tg_error *err)
{
    tg_rng rng;
    tg_rng_seed(&rng, 12345, 9); /* the same evaluation set every time */
    double sum = 0.0;
    for (int k = 0; k < EVAL_N / BATCH; k++) {
        make_batch(m, &rng);
        double mse = run_batch(t, m, false, err);
        if (mse < 0.0)
            return -1.0;
        sum += mse;
    }
    return sum / (EVAL_N / BATCH);
}

static int init(adding *m, uint64_t seed, tg_error *err)
{
    tg_rng rng;
    tg_rng_seed(&rng, seed, 1);
    tg_opt_config cfg = tg_opt_config_default(TG_OPT_ADAM);
    cfg.lr = 3e-3f, cfg.clip_norm = 1.0f;
    tg_param_list_init(&m->params);
    return tg_recurrent_init(&m->gru, TG_CELL_GRU, "gru", 2, HIDDEN, &rng, err) ||
           tg_dense_init(&m->head, "head", HIDDEN, 1, TG_INIT_GLOROT_UNIFORM, &rng, err) ||
           tg_param_list_add_recurrent(&m->params, &m->gru, err) || tg_param_list_add_dense(&m->params, &m->head, err) ||
           tg_optim_init(&m->opt, &cfg, m->params.items, m->params.count, err) ||
           tg_tensor_zeros(&m->seq, 3, (size_t[]){BATCH, m->T, 2}, err) || tg_tensor_zeros2(&m->target, BATCH, 1, err);
}

typedef struct options {
    long steps, length, seed;
    double check; /* 0: none */
} options;

static bool usage(void)
{
    fprintf(stderr, "usage: gru_adding [--steps N] [--length T (2..100000)] [--threads N] [--seed N] [--check MSE]\n");
    return false;
}

static bool parse(int argc, char **argv, options *o)
{
    *o = (options){DEFAULT_STEPS, 50, 1, 0.0};
    long threads = 0;
    bool ok = true;
    if (argc % 2 == 0) /* an option without its value */
        return usage();
    for (int k = 1; ok && k + 1 < argc; k += 2) {
        const char *option = argv[k], *v = argv[k + 1];
        if (!strcmp(option, "--steps"))
            ok = example_whole("gru_adding", option, v, 1, 1000000000L, &o->steps);
        else if (!strcmp(option, "--length"))
            ok = example_whole("gru_adding", option, v, 2, 100000, &o->length);
        else if (!strcmp(option, "--threads"))
            ok = example_whole("gru_adding", option, v, 1, TG_MAX_THREADS, &threads);
        else if (!strcmp(option, "--seed"))
            ok = example_whole("gru_adding", option, v, 0, LONG_MAX, &o->seed);
        else if (!strcmp(option, "--check"))
            ok = example_real("gru_adding", option, v, 0.0, 1e6, &o->check);
        else
            return usage();
    }
    if (ok && threads > 0)
        tg_set_threads((int)threads);
    return ok;
}

int main(int argc, char **argv)
{
    options o;
    if (!parse(argc, argv, &o))
        return 2;
    const long steps = o.steps;
    tg_error err = {0};
    adding m = {.err = &err, .T = (size_t)o.length};
    tg_tape *t = tg_tape_new(&err);
    if (!t || init(&m, (uint64_t)o.seed, &err))
        return fprintf(stderr, "gru_adding: %s\n", err.msg), 1;
    tg_rng data;
    tg_rng_seed(&data, (uint64_t)o.seed, 2);
    double start = tg_now_seconds(), train = 0.0;
    for (long s = 1; s <= steps; s++) {
        make_batch(&m, &data);
        double mse = run_batch(t, &m, true, &err);
        if (mse < 0.0)
            return fprintf(stderr, "gru_adding: %s\n", err.msg), 1;
        train += mse;
        if (s % 100 == 0 || s == steps)
            printf("step=%ld train_mse=%.4f seconds=%.1f\n", s, train / (s % 100 ? s % 100 : 100),
                   tg_now_seconds() - start), train = 0.0;
    }
    double eval = evaluate(t, &m, &err);
    if (eval < 0.0)
        return fprintf(stderr, "gru_adding: %s\n", err.msg), 1;
    printf("eval_mse=%.4f baseline=%.4f steps=%ld length=%zu threads=%d seconds=%.1f\n", eval, BASELINE, steps, m.T,
           tg_get_threads(), tg_now_seconds() - start);
    tg_optim_free(&m.opt), tg_param_list_free(&m.params), tg_recurrent_free(&m.gru), tg_dense_free(&m.head);
    tg_tensor_free(&m.seq), tg_tensor_free(&m.target), tg_tape_free(t);
    return o.check > 0.0 && !(eval < o.check) ? 1 : 0;
}
