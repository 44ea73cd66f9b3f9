/* tests/test_recurrent.c — the recurrent layers of nn/recurrent.c: names and shapes; one step of
 * each cell against a double-precision reference written from PyTorch's formulas (recurrent.h),
 * reading the gates out of the fused weights by the documented column order; gradients through an
 * unrolled sequence against central differences; truncated BPTT (a window >= T is full BPTT to
 * the bit, forward values never depend on the window, the tape's size does not grow with T); the
 * same bits on 1 and 2 threads; shape errors naming the layer. */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include "autograd/gradcheck.h"
#include "autograd/op.h"
#include "autograd/ops.h"
#include "nn/recurrent.h"
#include "tensor/parallel.h"

enum { B = 2, IN = 3, H = 2, MAXG = 4 };

static tg_recurrent make(tg_cell_kind kind, size_t in, size_t hidden, uint64_t seed)
{
    tg_recurrent r;
    tg_rng rng;
    tg_error err = {0};
    tg_rng_seed(&rng, seed, 3);
    cr_assert_eq(tg_recurrent_init(&r, kind, "rec", in, hidden, &rng, &err), TG_OK, "%s", err.msg);
    return r;
}

static void fill(float *x, size_t n, double scale, double phase)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(scale * sin(1.7 * (double)i + phase));
}

Test(recurrent, names_shapes_and_init_range)
{
    const char *kinds[] = {"rnn", "gru", "lstm"};
    for (int k = 0; k < 3; k++) {
        tg_recurrent r = make((tg_cell_kind)k, 5, 4, 1);
        size_t g = (size_t)(k == 0 ? 1 : k == 1 ? 3 : 4);
        cr_assert_str_eq(tg_cell_name(r.kind), kinds[k]);
        cr_assert_str_eq(r.weight_ih.name, "rec.weight_ih");
        cr_assert_str_eq(r.weight_hh.name, "rec.weight_hh");
        cr_assert_str_eq(r.bias_ih.name, "rec.bias_ih");
        cr_assert_str_eq(r.bias_hh.name, "rec.bias_hh");
        cr_assert(r.weight_ih.value.shape[0] == 5 && r.weight_ih.value.shape[1] == g * 4);
        cr_assert(r.weight_hh.value.shape[0] == 4 && r.weight_hh.value.shape[1] == g * 4);
        cr_assert(r.bias_ih.value.ndim == 1 && r.bias_hh.value.shape[0] == g * 4);
        tg_param *ps[4];
        cr_assert_eq(tg_recurrent_params(&r, ps), 4);
        for (int p = 0; p < 4; p++)
            for (size_t i = 0; i < ps[p]->value.size; i++)
                cr_assert(fabsf(ps[p]->value.data[i]) <= 0.5f, "outside [-1/sqrt(H), 1/sqrt(H)]");
        tg_recurrent_free(&r);
    }
    tg_recurrent r;
    tg_rng rng;
    tg_error err = {0};
    tg_rng_seed(&rng, 1, 1);
    cr_assert_eq(tg_recurrent_init(&r, TG_CELL_GRU, "g", 0, 4, &rng, &err), TG_ERR_ARG);
    cr_assert_eq(tg_recurrent_init(&r, (tg_cell_kind)7, "g", 2, 4, &rng, &err), TG_ERR_ARG);
    tg_recurrent_free(&r);
}

/* ---- one step against the formulas ------------------------------------------------------------ */

static double sigm(double v) { return 1.0 / (1.0 + exp(-v)); }

/* Gate g's pre-activation parts for row b, unit j: a = x·W_ig + b_ig, c = h·W_hg + b_hg, with the
 * gate's columns g·H..g·H+H-1 of the fused [.., G·H] weights. */
static void gate_parts(const tg_recurrent *r, const float *x, const float *h, size_t b, size_t g, size_t j,
                       double *a, double *c)
{
    size_t cols = r->gates * r->hidden, col = g * r->hidden + j;
    *a = r->bias_ih.value.data[col];
    *c = r->bias_hh.value.data[col];
    for (size_t i = 0; i < r->in; i++)
        *a += (double)x[b * r->in + i] * r->weight_ih.value.data[i * cols + col];
    for (size_t i = 0; i < r->hidden; i++)
        *c += (double)h[b * r->hidden + i] * r->weight_hh.value.data[i * cols + col];
}

/* h' (and c') from PyTorch's documented equations. */
static void reference_step(const tg_recurrent *r, const float *x, const float *h, const float *c, double *h2,
                           double *c2)
{
    for (size_t b = 0; b < B; b++)
        for (size_t j = 0; j < H; j++) {
            double a[MAXG], p[MAXG];
            for (size_t g = 0; g < r->gates; g++)
                gate_parts(r, x, h, b, g, j, &a[g], &p[g]);
            size_t o = b * H + j;
            if (r->kind == TG_CELL_RNN) {
                h2[o] = tanh(a[0] + p[0]);
            } else if (r->kind == TG_CELL_GRU) { /* r, z, n */
                double rr = sigm(a[0] + p[0]), z = sigm(a[1] + p[1]), n = tanh(a[2] + rr * p[2]);
                h2[o] = (1.0 - z) * n + z * h[o];
            } else { /* i, f, g, o */
                double i = sigm(a[0] + p[0]), f = sigm(a[1] + p[1]), g = tanh(a[2] + p[2]), og = sigm(a[3] + p[3]);
                c2[o] = f * c[o] + i * g;
                h2[o] = og * tanh(c2[o]);
            }
        }
}

static void check_one_step(tg_cell_kind kind)
{
    tg_recurrent r = make(kind, IN, H, 5);
    tg_param *ps[4];
    tg_recurrent_params(&r, ps);
    for (int p = 0; p < 4; p++) /* larger than the initialisation, so every gate matters */
        fill(ps[p]->value.data, ps[p]->value.size, 0.9, p);
    float x[B * IN], h[B * H], c[B * H];
    fill(x, B * IN, 1.0, 0.3), fill(h, B * H, 0.8, 1.1), fill(c, B * H, 1.5, 2.0);
    tg_tensor xt, ht, ct;
    tg_tensor_wrap(&xt, x, 2, (size_t[]){B, IN}, NULL);
    tg_tensor_wrap(&ht, h, 2, (size_t[]){B, H}, NULL);
    tg_tensor_wrap(&ct, c, 2, (size_t[]){B, H}, NULL);
    tg_tape *t = tg_tape_new(NULL);
    tg_rnn_state s = {tg_input(t, &ht), kind == TG_CELL_LSTM ? tg_input(t, &ct) : NULL};
    tg_rnn_state s2 = tg_recurrent_step(t, &r, tg_input(t, &xt), s);
    cr_assert_eq(tg_tape_status(t), TG_OK, "%s", tg_tape_error(t));
    double h2[B * H], c2[B * H];
    reference_step(&r, x, h, c, h2, c2);
    for (size_t i = 0; i < B * H; i++) {
        cr_assert_float_eq(s2.h->value.data[i], h2[i], 2e-6, "%s h'[%zu]: %g vs %g", tg_cell_name(kind), i,
                           s2.h->value.data[i], h2[i]);
        if (kind == TG_CELL_LSTM)
            cr_assert_float_eq(s2.c->value.data[i], c2[i], 4e-6, "lstm c'[%zu]", i);
    }
    cr_assert_eq(s2.c == NULL, kind != TG_CELL_LSTM);
    tg_tape_free(t);
    tg_recurrent_free(&r);
}

Test(recurrent, rnn_step_matches_the_formula) { check_one_step(TG_CELL_RNN); }
Test(recurrent, gru_step_matches_the_formula) { check_one_step(TG_CELL_GRU); }
Test(recurrent, lstm_step_matches_the_formula) { check_one_step(TG_CELL_LSTM); }

/* ---- gradients through an unrolled sequence --------------------------------------------------- */

enum { T = 4 };

typedef struct unrolled {
    tg_recurrent r;
    tg_param seq;       /* [B,T,IN]: the input, as a leaf so its gradient is checked too */
    tg_tensor weights;  /* [B,H]: the loss weighs every step's h by these */
} unrolled;

/* Σ_t Σ weights ⊙ h_t over an unroll of seq's steps from the zero state. */
static tg_node *unrolled_loss(tg_tape *t, void *ctx)
{
    unrolled *u = ctx;
    tg_node *seq = tg_param_leaf(t, &u->seq), *w = tg_input(t, &u->weights), *xs[T], *hs[T];
    for (int k = 0; k < T; k++)
        xs[k] = tg_sequence_step(t, seq, k);
    tg_recurrent_unroll(t, &u->r, xs, T, tg_recurrent_zero_state(t, &u->r, B), hs);
    tg_node *loss = NULL;
    for (int k = 0; k < T; k++) {
        tg_node *l = tg_sum(t, tg_mul(t, hs[k], w));
        loss = loss ? tg_add(t, loss, l) : l;
    }
    return loss;
}

static void check_gradients(tg_cell_kind kind)
{
    unrolled u = {.r = make(kind, IN, H, 9)};
    tg_error err = {0};
    cr_assert_eq(tg_param_init(&u.seq, "seq", 3, (size_t[]){B, T, IN}, &err), TG_OK);
    fill(u.seq.value.data, u.seq.value.size, 1.0, 0.5);
    cr_assert_eq(tg_tensor_zeros2(&u.weights, B, H, &err), TG_OK);
    fill(u.weights.data, u.weights.size, 1.0, 0.2);
    tg_param *ps[4], *inputs[] = {&u.seq};
    tg_recurrent_params(&u.r, ps);
    tg_gradcheck_opts opts = {.eps = 1e-2, .inputs = inputs, .n_inputs = 1};
    tg_gradcheck_result res;
    tg_tape *t = tg_tape_new(NULL);
    int rc = tg_gradcheck(t, unrolled_loss, &u, ps, 4, &opts, &res, &err);
    cr_assert_eq(rc, TG_OK, "%s: %s", tg_cell_name(kind), err.msg);
    cr_assert_gt(res.checked, 20);
    tg_tape_free(t);
    tg_param_free(&u.seq), tg_tensor_free(&u.weights), tg_recurrent_free(&u.r);
}

Test(recurrent, rnn_gradients_through_four_steps) { check_gradients(TG_CELL_RNN); }
Test(recurrent, gru_gradients_through_four_steps) { check_gradients(TG_CELL_GRU); }
Test(recurrent, lstm_gradients_through_four_steps) { check_gradients(TG_CELL_LSTM); }

/* ---- truncated BPTT ---------------------------------------------------------------------------- */

typedef struct seq_task {
    tg_tensor seq;     /* [batch, steps, in] */
    tg_tensor weights; /* [batch, hidden] */
} seq_task;

static tg_node *task_input(tg_tape *t, void *ctx, int step)
{
    return tg_sequence_input(t, &((seq_task *)ctx)->seq, step);
}

static tg_node *task_loss(tg_tape *t, void *ctx, int step, tg_rnn_state s)
{
    (void)step;
    return tg_sum(t, tg_mul(t, s.h, tg_input(t, &((seq_task *)ctx)->weights)));
}

static seq_task make_task(size_t batch, size_t steps, size_t in, size_t hidden)
{
    seq_task task;
    cr_assert_eq(tg_tensor_zeros(&task.seq, 3, (size_t[]){batch, steps, in}, NULL), TG_OK);
    fill(task.seq.data, task.seq.size, 1.0, 0.7);
    cr_assert_eq(tg_tensor_zeros2(&task.weights, batch, hidden, NULL), TG_OK);
    fill(task.weights.data, task.weights.size, 0.5, 0.1);
    return task;
}

static void free_task(seq_task *task) { tg_tensor_free(&task->seq), tg_tensor_free(&task->weights); }

static void copy_grads(tg_param *const *ps, float *out)
{
    for (int p = 0; p < 4; p++) {
        memcpy(out, ps[p]->grad.data, ps[p]->grad.size * sizeof(float));
        out += ps[p]->grad.size;
    }
}

/* The gradients (concatenated into grads) and final h of TBPTT with `window` over the task. */
static tg_tbptt_stats run_tbptt(tg_recurrent *r, seq_task *task, int window, float *grads, float *h_last)
{
    tg_param *ps[4];
    tg_recurrent_params(r, ps);
    tg_params_zero_grad(ps, 4);
    tg_rnn_carry carry;
    tg_error err = {0};
    cr_assert_eq(tg_rnn_carry_init(&carry, r, task->seq.shape[0], &err), TG_OK);
    tg_tbptt cfg = {(int)task->seq.shape[1], window, task_input, task_loss, NULL, task};
    tg_tbptt_stats stats;
    tg_tape *t = tg_tape_new(NULL);
    cr_assert_eq(tg_recurrent_tbptt(t, r, &cfg, &carry, &stats, &err), TG_OK, "%s", err.msg);
    copy_grads(ps, grads);
    memcpy(h_last, carry.h.data, carry.h.size * sizeof(float));
    tg_tape_free(t);
    tg_rnn_carry_free(&carry);
    return stats;
}

/* Full BPTT written out: one unroll over every step, the losses summed in step order. */
static void run_full(tg_recurrent *r, seq_task *task, float *grads)
{
    tg_param *ps[4];
    tg_recurrent_params(r, ps);
    tg_params_zero_grad(ps, 4);
    tg_tape *t = tg_tape_new(NULL);
    int steps = (int)task->seq.shape[1];
    tg_rnn_state s = tg_recurrent_zero_state(t, r, task->seq.shape[0]);
    tg_node *loss = NULL;
    for (int k = 0; k < steps; k++) {
        s = tg_recurrent_step(t, r, task_input(t, task, k), s);
        tg_node *l = task_loss(t, task, k, s);
        loss = loss ? tg_add(t, loss, l) : l;
    }
    cr_assert_eq(tg_backward(t, loss, NULL), TG_OK, "%s", tg_tape_error(t));
    copy_grads(ps, grads);
    tg_tape_free(t);
}

/* The four parameters' element count: G·H·(in + H + 2). */
static size_t grad_count(tg_recurrent *r)
{
    return r->gates * r->hidden * (r->in + r->hidden + 2);
}

Test(recurrent, tbptt_with_a_window_of_t_or_more_is_full_bptt_bitwise)
{
    for (int k = 0; k < 3; k++) {
        tg_recurrent r = make((tg_cell_kind)k, 3, 5, 2);
        seq_task task = make_task(4, 7, 3, 5);
        size_t n = grad_count(&r);
        float full[n], win[n], narrow[n], h_full[20], h_narrow[20];
        run_full(&r, &task, full);
        for (int window = 7; window <= 9; window += 2) {
            tg_tbptt_stats st = run_tbptt(&r, &task, window, win, h_full);
            cr_assert_eq(st.windows, 1);
            cr_assert(!memcmp(full, win, sizeof full), "%s: window %d differs from full BPTT", tg_cell_name(r.kind),
                      window);
        }
        /* A window of 2: other gradients (truncated), the same forward values. */
        tg_tbptt_stats st = run_tbptt(&r, &task, 2, narrow, h_narrow);
        cr_assert_eq(st.windows, 4);
        cr_assert(memcmp(full, narrow, sizeof full), "%s: truncation changed nothing", tg_cell_name(r.kind));
        cr_assert(!memcmp(h_full, h_narrow, sizeof h_full), "%s: the carried state depends on the window",
                  tg_cell_name(r.kind));
        free_task(&task);
        tg_recurrent_free(&r);
    }
}

Test(recurrent, tbptt_tape_does_not_grow_with_the_sequence)
{
    tg_recurrent r = make(TG_CELL_LSTM, 3, 8, 4);
    seq_task short_task = make_task(4, 50, 3, 8), long_task = make_task(4, 500, 3, 8);
    size_t n = grad_count(&r);
    float g[n], h[32];
    tg_tbptt_stats a = run_tbptt(&r, &short_task, 10, g, h), b = run_tbptt(&r, &long_task, 10, g, h);
    cr_assert_eq(a.windows, 5);
    cr_assert_eq(b.windows, 50);
    cr_assert_eq(a.max_nodes, b.max_nodes);
    cr_assert_eq(a.max_arena_used, b.max_arena_used);
    cr_assert_eq(a.arena_capacity, b.arena_capacity);
    free_task(&short_task), free_task(&long_task);
    tg_recurrent_free(&r);
}

Test(recurrent, same_bits_on_one_and_two_threads)
{
    tg_recurrent r = make(TG_CELL_GRU, 16, 64, 6);
    seq_task task = make_task(32, 12, 16, 64);
    size_t n = grad_count(&r);
    static float g1[3 * 64 * (16 + 64 + 2)], g2[3 * 64 * (16 + 64 + 2)], h1[32 * 64], h2[32 * 64];
    cr_assert_eq(n, sizeof g1 / sizeof g1[0]);
    tg_set_threads(1);
    run_tbptt(&r, &task, 5, g1, h1);
    tg_set_threads(2);
    run_tbptt(&r, &task, 5, g2, h2);
    tg_set_threads(0);
    cr_assert(!memcmp(g1, g2, sizeof g1), "gradients differ between 1 and 2 threads");
    cr_assert(!memcmp(h1, h2, sizeof h1), "states differ between 1 and 2 threads");
    free_task(&task);
    tg_recurrent_free(&r);
}

/* ---- errors ------------------------------------------------------------------------------------ */

Test(recurrent, shape_errors_name_the_layer)
{
    tg_recurrent r = make(TG_CELL_GRU, 3, 2, 1);
    tg_tape *t = tg_tape_new(NULL);
    tg_node *x = tg_const(t, 1.0f, 2, (size_t[]){4, 5});
    tg_rnn_state s = tg_recurrent_step(t, &r, x, tg_recurrent_zero_state(t, &r, 4));
    cr_assert_null(s.h);
    cr_assert_str_eq(tg_tape_error(t), "gru rec: input [4,5] has 5 features, the layer expects 3");
    tg_tape_reset(t);
    x = tg_const(t, 1.0f, 2, (size_t[]){4, 3});
    s = tg_recurrent_step(t, &r, x, tg_recurrent_zero_state(t, &r, 2));
    cr_assert_null(s.h);
    cr_assert_str_eq(tg_tape_error(t), "gru rec: state h [2,2] is not [4,2] (input [4,3])");
    tg_tape_reset(t);
    tg_tensor seq;
    cr_assert_eq(tg_tensor_zeros(&seq, 3, (size_t[]){2, 3, 3}, NULL), TG_OK);
    cr_assert_null(tg_sequence_input(t, &seq, 3));
    cr_assert_str_eq(tg_tape_error(t), "sequence_input: step 3 of [2,3,3] (a [B,T,in] tensor)");
    tg_tensor_free(&seq);
    tg_tape_free(t);
    tg_recurrent_free(&r);
}
