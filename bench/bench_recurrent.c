/* bench/bench_recurrent.c — the tape's size and the time of a recurrent layer's training pass over
 * long sequences, with full BPTT and with truncated BPTT windows (nn/recurrent.h).
 *
 *   bench_recurrent [--cell rnn|gru|lstm] [--batch N] [--hidden N] [--in N] [--reps N]
 *
 * For T = 50 and 500 and windows of T (full BPTT), 50 and 25, it runs tg_recurrent_tbptt on a fresh
 * tape over one batch of random sequences (a loss at every step: the sum of h ⊙ a fixed weight),
 * and prints one line each:
 *
 *   cell=gru T=500 window=50 windows=10 nodes=… arena_used=… arena_capacity=… seconds=… us_per_step=…
 *
 * nodes and arena_used are the most one window put on the tape; arena_capacity is the arena's
 * size at the end.  seconds: the best of --reps runs (default 3) of the whole sequence. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "nn/recurrent.h"
#include "tensor/parallel.h"

#include "bench_args.h"

typedef struct task {
    tg_tensor seq, weights;
} task;

static tg_node *input(tg_tape *t, void *ctx, int step) { return tg_sequence_input(t, &((task *)ctx)->seq, step); }

static tg_node *loss(tg_tape *t, void *ctx, int step, tg_rnn_state s)
{
    (void)step;
    return tg_sum(t, tg_mul(t, s.h, tg_input(t, &((task *)ctx)->weights)));
}

static int run(tg_recurrent *r, size_t batch, int steps, int window, int reps, tg_error *err)
{
    task k;
    tg_rng rng;
    tg_rng_seed(&rng, 1, 5);
    if (tg_tensor_zeros(&k.seq, 3, (size_t[]){batch, (size_t)steps, r->in}, err) ||
        tg_tensor_zeros2(&k.weights, batch, r->hidden, err))
        return err->code;
    tg_rng_fill_uniform(&rng, k.seq.data, k.seq.size, -1.0f, 1.0f);
    tg_rng_fill_uniform(&rng, k.weights.data, k.weights.size, -1.0f, 1.0f);
    tg_tbptt cfg = {steps, window, input, loss, NULL, &k};
    tg_tbptt_stats st = {0};
    tg_rnn_carry carry;
    double best = 1e30;
    int rc = tg_rnn_carry_init(&carry, r, batch, err);
    for (int rep = 0; rep < reps && rc == TG_OK; rep++) {
        tg_tape *t = tg_tape_new(err); /* fresh: the capacity is this run's */
        tg_rnn_carry_zero(&carry);
        double t0 = tg_now_seconds();
        rc = t ? tg_recurrent_tbptt(t, r, &cfg, &carry, &st, err) : TG_ERR_NOMEM;
        double s = tg_now_seconds() - t0;
        best = s < best ? s : best;
        tg_tape_free(t);
    }
    if (rc == TG_OK)
        printf("cell=%s T=%d window=%d windows=%d nodes=%d arena_used=%zu arena_capacity=%zu seconds=%.4f "
               "us_per_step=%.1f\n",
               tg_cell_name(r->kind), steps, window, st.windows, st.max_nodes, st.max_arena_used, st.arena_capacity,
               best, best * 1e6 / steps);
    tg_rnn_carry_free(&carry), tg_tensor_free(&k.seq), tg_tensor_free(&k.weights);
    return rc;
}

int main(int argc, char **argv)
{
    const char *cell = "gru";
    long batch = 32, hidden = 64, in = 8, reps = 3;
    struct { const char *name; long *value, hi; } sizes[] = {
        {"--batch", &batch, 65536}, {"--hidden", &hidden, 4096}, {"--in", &in, 4096}, {"--reps", &reps, 1000}};
    enum { N_SIZES = sizeof sizes / sizeof sizes[0] };
    for (int a = 1; a < argc; a += 2) {
        int s = 0;
        while (s < N_SIZES && strcmp(argv[a], sizes[s].name))
            s++;
        if (a + 1 < argc && !strcmp(argv[a], "--cell"))
            cell = argv[a + 1];
        else if (a + 1 < argc && s < N_SIZES)
            *sizes[s].value = bench_whole("bench_recurrent", argv[a], argv[a + 1], 1, sizes[s].hi);
        else
            return fprintf(stderr, "usage: bench_recurrent [--cell rnn|gru|lstm] [--batch N] [--hidden N] [--in N] "
                                   "[--reps N]\n"), 2;
    }
    tg_cell_kind kind = TG_CELL_RNN; /* the cell whose library name (tg_cell_name) is `cell` */
    while (kind <= TG_CELL_LSTM && strcmp(cell, tg_cell_name(kind)))
        kind++;
    if (kind > TG_CELL_LSTM)
        return fprintf(stderr, "bench_recurrent: --cell %s: must be rnn, gru or lstm\n", cell), 2;
    tg_recurrent r;
    tg_rng rng;
    tg_error err = {0};
    tg_rng_seed(&rng, 1, 1);
    if (tg_recurrent_init(&r, kind, "rec", (size_t)in, (size_t)hidden, &rng, &err))
        return fprintf(stderr, "bench_recurrent: %s\n", err.msg), 2;
    printf("cell=%s batch=%ld hidden=%ld in=%ld threads=%d\n", tg_cell_name(kind), batch, hidden, in, tg_get_threads());
    static const int runs[][2] = {{50, 50}, {500, 500}, {50, 25}, {500, 50}, {500, 25}};
    for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++)
        if (run(&r, (size_t)batch, runs[k][0], runs[k][1], (int)reps, &err))
            return fprintf(stderr, "bench_recurrent: %s\n", err.msg), 1;
    tg_recurrent_free(&r);
    return 0;
}
