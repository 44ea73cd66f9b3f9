/* autograd/ops_reduce.c — reductions: sum, mean, sum over rows, sum over columns.
 *
 * Forward sums accumulate in double (in fixed lanes, see lanes_sum) and round once: a float running sum loses ~log2(n) bits
 * and, worse, its rounding noise would swamp the tiny differences a finite-difference gradient
 * check measures.  The backward of a sum is a broadcast: every element that was summed gets
 * the gradient of the sum it went into.  (One input: see ops_elementwise.c on why the
 * backwards need no tg_wants_grad check.) */
#include "ops_internal.h"

// x [M,N] -> y [1]
TG_VECTORIZE void tg_op_sum_forward(tg_node *n)
{
    n->value.data[0] = (float)lanes_sum(n->in[0]->value.data, n->in[0]->value.size);
}

/* dx += dy (the same scalar for every element) */
TG_VECTORIZE void tg_op_sum_backward(tg_node *n)
{
    float *dx = n->in[0]->grad.data, g = n->grad.data[0];
    for (size_t k = 0; k < n->in[0]->value.size; k++)
        dx[k] += g;
}

// x [M,N] -> y [1] = Σ x / (M·N)
TG_VECTORIZE void tg_op_mean_forward(tg_node *n)
{
    size_t count = n->in[0]->value.size;
    n->value.data[0] = (float)(lanes_sum(n->in[0]->value.data, count) / (double)count);
}

/* dx += dy / (M·N) */
TG_VECTORIZE void tg_op_mean_backward(tg_node *n)
{
    size_t count = n->in[0]->value.size;
    float *dx = n->in[0]->grad.data, g = (float)((double)n->grad.data[0] / (double)count);
    for (size_t k = 0; k < count; k++)
        dx[k] += g;
}

// x [M,N] -> y [1,N], y_j = Σ_i x_ij
TG_VECTORIZE void tg_op_sum_over_rows_forward(tg_node *n)
{
    const float *x = n->in[0]->value.data;
    float *y = n->value.data;
    size_t M = tg_rows(n->in[0]), N = tg_cols(n->in[0]);
    /* Walk x row by row (contiguous) with one double accumulator per column, a block of
     * columns at a time so the accumulators fit on the stack. */
    for (size_t j0 = 0; j0 < N; j0 += TG_COL_BLOCK) {
        size_t width = N - j0 < TG_COL_BLOCK ? N - j0 : TG_COL_BLOCK;
        double acc[TG_COL_BLOCK] = {0};
        for (size_t i = 0; i < M; i++)
            for (size_t j = 0; j < width; j++)
                acc[j] += x[i * N + j0 + j];
        for (size_t j = 0; j < width; j++)
            y[j0 + j] = (float)acc[j];
    }
}

/* dx_ij += dy[i·row_step + j·col_step] for x [M,N]: dy broadcast back over the dimension the
 * sum removed (sum_over_rows: dy_j down every row; sum_over_cols: dy_i along each row). */
static void add_broadcast(tg_node *n, size_t row_step, size_t col_step)
{
    float *dx = n->in[0]->grad.data;
    const float *dy = n->grad.data;
    size_t M = tg_rows(n->in[0]), N = tg_cols(n->in[0]);
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++)
            dx[i * N + j] += dy[i * row_step + j * col_step];
}

/* dx_ij += dy_j (the row of gradients copied down every row) */
void tg_op_sum_over_rows_backward(tg_node *n) { add_broadcast(n, 0, 1); }

// x [M,N] -> y [M,1], y_i = Σ_j x_ij
TG_VECTORIZE void tg_op_sum_over_cols_forward(tg_node *n)
{
    const float *x = n->in[0]->value.data;
    float *y = n->value.data;
    size_t M = tg_rows(n->in[0]), N = tg_cols(n->in[0]);
    for (size_t i = 0; i < M; i++) {
        double acc = 0.0;
        for (size_t j = 0; j < N; j++)
            acc += x[i * N + j];
        y[i] = (float)acc;
    }
}

/* dx_ij += dy_i (each row's gradient spread along the row) */
void tg_op_sum_over_cols_backward(tg_node *n) { add_broadcast(n, 1, 0); }

/* ---- constructors: any shape reduces, so only the input is checked ---------------------- */

tg_node *tg_sum(tg_tape *t, tg_node *x)
{
    if (!tg_tape_check_inputs(t, "sum", 1, x))
        return NULL;
    return tg_tape_forward(t, tg_tape_record(t, &tg_op_sum, 1, &x, 1, (size_t[]){1}));
}

tg_node *tg_mean(tg_tape *t, tg_node *x)
{
    if (!tg_tape_check_inputs(t, "mean", 1, x))
        return NULL;
    return tg_tape_forward(t, tg_tape_record(t, &tg_op_mean, 1, &x, 1, (size_t[]){1}));
}

tg_node *tg_sum_over_rows(tg_tape *t, tg_node *x)
{
    if (!tg_tape_check_inputs(t, "sum_over_rows", 1, x))
        return NULL;
    return tg_tape_forward(t, tg_tape_record(t, &tg_op_sum_over_rows, 1, &x, 2, (size_t[]){1, tg_cols(x)}));
}

tg_node *tg_sum_over_cols(tg_tape *t, tg_node *x)
{
    if (!tg_tape_check_inputs(t, "sum_over_cols", 1, x))
        return NULL;
    return tg_tape_forward(t, tg_tape_record(t, &tg_op_sum_over_cols, 1, &x, 2, (size_t[]){tg_rows(x), 1}));
}
