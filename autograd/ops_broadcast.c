/* autograd/ops_broadcast.c — broadcasting for the two-input elementwise ops (add, sub, mul, div,
 * max, min): the shape rule, their constructors, and the general loops every op uses when its
 * shapes are not one of the forms with loops of their own.
 *
 * The rule (numpy's): a and b are aligned from the right, the one with fewer dimensions padded
 * with ones on the left; in each position the two sizes are equal or one of them is 1, and y takes
 * the larger.  An operand of size 1 in a position where y is larger is repeated along it, and its
 * gradient sums dy over the repeats.  So [2,3,4] + [3,1] is [2,3,4] (b[j] added along i and k),
 * [4] - [2,3,4] is [2,3,4], and [2,1,4] * [3,1] is [2,3,4].
 *
 * The ops keep their own loops for the common forms, where they were written and threaded
 * (their bits are the programs' checkpoints): add, sub, mul (ops_elementwise.c) for a of y's
 * shape with b of it or a row of it, and for operands that are each y's shape, a row, a column
 * or a scalar in the 2-D reading; div, max, min (ops_math.c) for a of y's shape with b of it or a
 * row of it.  Everything else comes here: one walk over y with a stride per dimension and
 * operand, 0 where the operand repeats. */
#include "ops_internal.h"

#include <stdio.h>
#include <string.h>

_Static_assert(TG_MAX_DIMS == 4, "the walk below has one loop per dimension");

/* ---- the shape rule ---------------------------------------------------------------------- */

/* y's shape for a ∘ b (the rule above), or false with the first position (from the right) whose
 * sizes differ described in why. */
static bool broadcast_shape(const tg_tensor *a, const tg_tensor *b, int *ndim, size_t shape[TG_MAX_DIMS], char *why,
                            size_t why_cap)
{
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int k = 1; k <= nd; k++) { /* the k-th dimension from the right */
        size_t sa = k <= a->ndim ? a->shape[a->ndim - k] : 1, sb = k <= b->ndim ? b->shape[b->ndim - k] : 1;
        if (sa != sb && sa != 1 && sb != 1) {
            snprintf(why, why_cap, "a's dimension %d is %zu, b's dimension %d is %zu", a->ndim - k, sa, b->ndim - k,
                     sb);
            return false;
        }
        shape[nd - k] = sa == 1 ? sb : sa;
    }
    for (int d = nd; d < TG_MAX_DIMS; d++)
        shape[d] = 1;
    *ndim = nd;
    return true;
}

static const char *binary_symbol(const tg_op_def *op)
{
    return op == &tg_op_add ? "+" : op == &tg_op_sub ? "-" : op == &tg_op_mul ? "*" : op == &tg_op_div ? "/" : "and";
}

tg_node *tg_binary_op(tg_tape *t, const tg_op_def *op, tg_node *a, tg_node *b)
{
    if (!tg_tape_check_inputs(t, op->name, 2, a, b))
        return NULL;
    int ndim;
    size_t shape[TG_MAX_DIMS];
    char why[128];
    if (!broadcast_shape(&a->value, &b->value, &ndim, shape, why, sizeof why))
        return tg_tape_fail(t, TG_ERR_SHAPE,
                            "%s: %s %s %s: shapes do not broadcast: %s (aligned from the right, each pair of "
                            "sizes must be equal or one of them 1)",
                            op->name, SHAPE(a), binary_symbol(op), SHAPE(b), why);
    tg_node *in[2] = {a, b};
    tg_node *n = tg_tape_record(t, op, 2, in, ndim, shape);
    return tg_tape_forward(t, n);
}

tg_node *tg_add(tg_tape *t, tg_node *a, tg_node *b) { return tg_binary_op(t, &tg_op_add, a, b); }
tg_node *tg_sub(tg_tape *t, tg_node *a, tg_node *b) { return tg_binary_op(t, &tg_op_sub, a, b); }
tg_node *tg_mul(tg_tape *t, tg_node *a, tg_node *b) { return tg_binary_op(t, &tg_op_mul, a, b); }
tg_node *tg_div(tg_tape *t, tg_node *a, tg_node *b) { return tg_binary_op(t, &tg_op_div, a, b); }
tg_node *tg_max(tg_tape *t, tg_node *a, tg_node *b) { return tg_binary_op(t, &tg_op_max, a, b); }
tg_node *tg_min(tg_tape *t, tg_node *a, tg_node *b) { return tg_binary_op(t, &tg_op_min, a, b); }

bool tg_binary_a_full_b_row(const tg_node *n)
{
    const tg_node *a = n->in[0], *b = n->in[1];
    return a->value.size == n->value.size &&
           (b->value.size == n->value.size || (tg_rows(b) == 1 && tg_cols(b) == tg_cols(n)));
}

/* ---- the general loops --------------------------------------------------------------------- */

enum { Y, A, B }; /* the arrays a walk reads: y (or dy), a, b */

/* A walk over y: its dimensions padded on the left with ones to TG_MAX_DIMS, in the order walked
 * (outermost first), and each array's stride along each (in elements; 0 where an operand of
 * size 1 repeats along a larger dimension of y). */
typedef struct walk {
    size_t dim[TG_MAX_DIMS];
    size_t stride[3][TG_MAX_DIMS];
} walk;

/* x's strides along y's padded dimensions ydim: x's own row-major strides, 0 where it repeats. */
static void strides_along(const tg_tensor *x, const size_t *ydim, size_t *stride)
{
    int pad = TG_MAX_DIMS - x->ndim;
    size_t step = 1;
    for (int d = TG_MAX_DIMS - 1; d >= 0; d--) {
        size_t size = d < pad ? 1 : x->shape[d - pad];
        stride[d] = size == ydim[d] ? step : 0;
        step *= size;
    }
}

static walk walk_of(const tg_node *n)
{
    walk w;
    int pad = TG_MAX_DIMS - n->value.ndim;
    for (int d = 0; d < TG_MAX_DIMS; d++)
        w.dim[d] = d < pad ? 1 : n->value.shape[d - pad];
    strides_along(&n->value, w.dim, w.stride[Y]);
    strides_along(&n->in[0]->value, w.dim, w.stride[A]);
    strides_along(&n->in[1]->value, w.dim, w.stride[B]);
    return w;
}

/* The next index of the walk (the last dimension fastest), moving the three offsets with it. */
static inline void walk_step(const walk *w, size_t idx[TG_MAX_DIMS], size_t off[3])
{
    for (int d = TG_MAX_DIMS - 1; d >= 0; d--) {
        for (int k = 0; k < 3; k++)
            off[k] += w->stride[k][d];
        if (++idx[d] < w->dim[d])
            return;
        for (int k = 0; k < 3; k++)
            off[k] -= w->stride[k][d] * w->dim[d];
        idx[d] = 0;
    }
}

/* dy·∂y/∂a (wrt A) or dy·∂y/∂b (wrt B) at one element: the registry's formulas (ops.def). */
static inline float binary_grad(tg_binary_kind kind, int wrt, float dy, float a, float b)
{
    switch (kind) {
    case TG_BINARY_ADD: return dy;
    case TG_BINARY_SUB: return wrt == A ? dy : -dy;
    case TG_BINARY_MUL: return wrt == A ? dy * b : dy * a;
    case TG_BINARY_DIV: return wrt == A ? dy / b : -(dy * a / (b * b));
    case TG_BINARY_MAX: return tg_picks_a(true, a, b) == (wrt == A) ? dy : 0.0f;
    default: return tg_picks_a(false, a, b) == (wrt == A) ? dy : 0.0f;
    }
}

void tg_binary_general_forward(tg_node *n, tg_binary_kind kind)
{
    walk w = walk_of(n);
    const float *a = n->in[0]->value.data, *b = n->in[1]->value.data;
    float *y = n->value.data;
    size_t idx[TG_MAX_DIMS] = {0}, off[3] = {0};
    for (size_t k = 0; k < n->value.size; k++, walk_step(&w, idx, off))
        y[off[Y]] = tg_binary_value(kind, a[off[A]], b[off[B]]);
}

/* The walk reordered for the gradient of operand `wrt`: the dimensions it spans first, those it
 * repeats along last, so that the terms of each of its elements come one after the other.
 * *repeats is the number of those terms (the product of the dimensions it repeats along). */
static walk walk_for_grad(const walk *w, int wrt, size_t *repeats)
{
    walk r;
    int next = 0;
    *repeats = 1;
    for (int last = 0; last < 2; last++) /* 0: the dimensions it spans, 1: those it repeats along */
        for (int d = 0; d < TG_MAX_DIMS; d++) {
            bool repeated = w->stride[wrt][d] == 0 && w->dim[d] > 1;
            if (repeated != (last == 1))
                continue;
            r.dim[next] = w->dim[d];
            for (int k = 0; k < 3; k++)
                r.stride[k][next] = w->stride[k][d];
            if (repeated)
                *repeats *= w->dim[d];
            next++;
        }
    return r;
}

/* dx += Σ dy·∂y/∂x over the elements of y that read each element of x (x = a or b, `wrt`):
 * each sum taken in double over its terms in y's order, rounded once. */
static void general_grad(tg_node *n, tg_binary_kind kind, int wrt)
{
    walk whole = walk_of(n);
    size_t repeats;
    walk w = walk_for_grad(&whole, wrt, &repeats);
    const float *dy = n->grad.data, *a = n->in[0]->value.data, *b = n->in[1]->value.data;
    float *dx = n->in[wrt == A ? 0 : 1]->grad.data;
    size_t idx[TG_MAX_DIMS] = {0}, off[3] = {0};
    for (size_t e = 0; e < n->value.size / repeats; e++) {
        size_t x_at = off[wrt];
        double sum = 0.0;
        for (size_t r = 0; r < repeats; r++, walk_step(&w, idx, off))
            sum += binary_grad(kind, wrt, dy[off[Y]], a[off[A]], b[off[B]]);
        dx[x_at] += (float)sum;
    }
}

void tg_binary_general_backward(tg_node *n, tg_binary_kind kind)
{
    if (tg_wants_grad(n->in[0]))
        general_grad(n, kind, A);
    if (tg_wants_grad(n->in[1]))
        general_grad(n, kind, B);
}
