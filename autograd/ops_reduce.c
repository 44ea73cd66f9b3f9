/* autograd/ops_reduce.c — reductions to one number: sum, mean (along an axis: ops_math.c).
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

tg_node *tg_sum_over_rows(tg_tape *t, tg_node *x) { return tg_sum_axis(t, x, 0); }

tg_node *tg_sum_over_cols(tg_tape *t, tg_node *x) { return tg_sum_axis(t, x, 1); }
