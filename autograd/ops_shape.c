/* autograd/ops_shape.c — shapes and constants: reshape, slice, concat, transpose, const,
 * add_scalar (c - x is rsub, in ops_math.c).
 *
 * The shape ops move values without arithmetic, so their forwards are copies and their
 * backwards add dy back to where each value came from.  reshape copies nothing: its value is a
 * view of its input's storage (tg_tape_record_view, op.h: values are contiguous and no op writes
 * into an input's value), valid as long as that storage is, which covers the tape's step whatever
 * the input is (a parameter, a caller's tensor, another node).  Its gradient is not shared: the
 * view's own buffer is added into the input's, as every other op's backward does.
 * A dimension `dim` splits a tensor into [outer, D, inner]: outer = the product of the
 * dimensions before dim, D = shape[dim], inner = the product of those after it; a range of dim
 * is then, for each of the outer blocks, one contiguous run of (range length)·inner floats. */
#include "ops_internal.h"

#include <string.h>

/* outer and inner of x's dimension dim (see above) */
static void split_at(const tg_tensor *x, int dim, size_t *outer, size_t *inner)
{
    *outer = *inner = 1;
    for (int d = 0; d < x->ndim; d++) {
        if (d < dim)
            *outer *= x->shape[d];
        else if (d > dim)
            *inner *= x->shape[d];
    }
}

/* dst + o·dst_step = (or +=) src + o·src_step, `count` floats, for each block o < outer. */
static void copy_blocks(float *dst, size_t dst_step, const float *src, size_t src_step, size_t outer, size_t count,
                        bool add)
{
    for (size_t o = 0; o < outer; o++) {
        float *d = dst + o * dst_step;
        const float *s = src + o * src_step;
        if (!add) {
            memcpy(d, s, count * sizeof(float));
            continue;
        }
        for (size_t k = 0; k < count; k++)
            d[k] += s[k];
    }
}

/* ---- reshape: the same elements in another shape ------------------------------------------- */

// x [any], y [shape], the same element count: y's value is x's storage already (a view)
void tg_op_reshape_forward(tg_node *n) { (void)n; }

/* dx += dy, element for element (the order of the elements is the same; dy is the view's own
 * buffer, never x's gradient: see the top of this file) */
void tg_op_reshape_backward(tg_node *n)
{
    copy_blocks(n->in[0]->grad.data, 0, n->grad.data, 0, 1, n->value.size, true);
}

tg_node *tg_reshape(tg_tape *t, tg_node *x, int ndim, const size_t *shape)
{
    if (!tg_tape_check_inputs(t, "reshape", 1, x))
        return NULL;
    if (!shape)
        return tg_tape_fail(t, TG_ERR_ARG, "reshape: shape is NULL");
    size_t count;
    tg_error err;
    if (tg_shape_numel(ndim, shape, &count, &err))
        return tg_tape_fail(t, err.code, "reshape: %s to a new shape: %s", SHAPE(x), err.msg);
    if (count != x->value.size) {
        char s[64];
        return tg_tape_fail(t, TG_ERR_SHAPE, "reshape: %s -> %s: element counts differ (%zu vs %zu)", SHAPE(x),
                            tg_shape_str(s, sizeof s, ndim, shape), x->value.size, count);
    }
    tg_node *n = tg_tape_record_view(t, &tg_op_reshape, x, ndim, shape);
    return tg_tape_forward(t, n);
}

/* ---- slice: a range of one dimension ---------------------------------------------------------- */

typedef struct slice_params {
    int dim;
    size_t start, length;
} slice_params;
TG_OP_PARAMS(slice_params)

// x [.., D, ..] -> y [.., length, ..]: y[o, k, r] = x[o, start + k, r]
void tg_op_slice_forward(tg_node *n)
{
    const tg_tensor *x = &n->in[0]->value;
    slice_params p = slice_params_of(n);
    size_t outer, inner, D = x->shape[p.dim];
    split_at(x, p.dim, &outer, &inner);
    copy_blocks(n->value.data, p.length * inner, x->data + p.start * inner, D * inner, outer, p.length * inner, false);
}

/* dx[o, start + k, r] += dy[o, k, r]; the rest of dx gets nothing */
void tg_op_slice_backward(tg_node *n)
{
    const tg_tensor *x = &n->in[0]->value;
    slice_params p = slice_params_of(n);
    size_t outer, inner, D = x->shape[p.dim];
    split_at(x, p.dim, &outer, &inner);
    copy_blocks(n->in[0]->grad.data + p.start * inner, D * inner, n->grad.data, p.length * inner, outer,
                p.length * inner, true);
}

tg_node *tg_slice(tg_tape *t, tg_node *x, int dim, size_t start, size_t length)
{
    if (!tg_tape_check_inputs(t, "slice", 1, x))
        return NULL;
    const tg_tensor *v = &x->value;
    if (dim < 0 || dim >= v->ndim)
        return tg_tape_fail(t, TG_ERR_ARG, "slice: %s: dimension %d outside 0..%d", SHAPE(x), dim, v->ndim - 1);
    if (length == 0 || start >= v->shape[dim] || length > v->shape[dim] - start)
        return tg_tape_fail(t, TG_ERR_SHAPE, "slice: %s: range [%zu, %zu+%zu) of dimension %d (size %zu) is %s",
                            SHAPE(x), start, start, length, dim, v->shape[dim], length ? "out of range" : "empty");
    size_t shape[TG_MAX_DIMS];
    memcpy(shape, v->shape, sizeof shape);
    shape[dim] = length;
    tg_node *n = tg_tape_record(t, &tg_op_slice, 1, &x, v->ndim, shape);
    if (n)
        slice_params_set(n, (slice_params){dim, start, length});
    return tg_tape_forward(t, n);
}

/* ---- concat: a and b one after the other along a dimension --------------------------------- */

typedef struct concat_params {
    int dim;
} concat_params;
TG_OP_PARAMS(concat_params)

/* Runs of A·inner and B·inner floats per outer block: a's first, then b's. */
static void concat_runs(const tg_node *n, size_t *outer, size_t *a_run, size_t *b_run)
{
    int dim = concat_params_of(n).dim;
    size_t inner;
    split_at(&n->value, dim, outer, &inner);
    *a_run = n->in[0]->value.shape[dim] * inner;
    *b_run = n->in[1]->value.shape[dim] * inner;
}

// a [.., A, ..], b [.., B, ..] -> y [.., A+B, ..]
void tg_op_concat_forward(tg_node *n)
{
    size_t outer, A, B;
    concat_runs(n, &outer, &A, &B);
    copy_blocks(n->value.data, A + B, n->in[0]->value.data, A, outer, A, false);
    copy_blocks(n->value.data + A, A + B, n->in[1]->value.data, B, outer, B, false);
}

/* da += dy's first A of each block, db += the B after them (concat(x, x): both add into dx) */
void tg_op_concat_backward(tg_node *n)
{
    size_t outer, A, B;
    concat_runs(n, &outer, &A, &B);
    if (tg_wants_grad(n->in[0]))
        copy_blocks(n->in[0]->grad.data, A, n->grad.data, A + B, outer, A, true);
    if (tg_wants_grad(n->in[1]))
        copy_blocks(n->in[1]->grad.data, B, n->grad.data + A, A + B, outer, B, true);
}

tg_node *tg_concat(tg_tape *t, tg_node *a, tg_node *b, int dim)
{
    if (!tg_tape_check_inputs(t, "concat", 2, a, b))
        return NULL;
    const tg_tensor *av = &a->value, *bv = &b->value;
    if (av->ndim != bv->ndim)
        return tg_tape_fail(t, TG_ERR_SHAPE, "concat: %s and %s: %d vs %d dimensions", SHAPE(a), SHAPE(b),
                            av->ndim, bv->ndim);
    if (dim < 0 || dim >= av->ndim)
        return tg_tape_fail(t, TG_ERR_ARG, "concat: %s and %s: dimension %d outside 0..%d", SHAPE(a), SHAPE(b),
                            dim, av->ndim - 1);
    for (int d = 0; d < av->ndim; d++)
        if (d != dim && av->shape[d] != bv->shape[d])
            return tg_tape_fail(t, TG_ERR_SHAPE, "concat: %s and %s along dimension %d: dimension %d differs", SHAPE(a),
                                SHAPE(b), dim, d);
    size_t shape[TG_MAX_DIMS];
    memcpy(shape, av->shape, sizeof shape);
    shape[dim] += bv->shape[dim];
    tg_node *in[2] = {a, b};
    tg_node *n = tg_tape_record(t, &tg_op_concat, 2, in, av->ndim, shape);
    if (n)
        concat_params_set(n, (concat_params){dim});
    return tg_tape_forward(t, n);
}

/* ---- transpose: [M,N] -> [N,M] -------------------------------------------------------------- */

/* Tiles of this many rows and columns: a tile of dy and one of dx stay in cache while one is
 * read along rows and the other along columns. */
enum { TRANSPOSE_TILE = 32 };

// x [M,N] -> y [N,M], y_ji = x_ij  (the products' transpose kernel, tensor/matmul.h)
void tg_op_transpose_forward(tg_node *n)
{
    size_t M = tg_rows(n->in[0]), N = tg_cols(n->in[0]);
    tg_transpose(n->value.data, M, n->in[0]->value.data, N, M, N);
}

/* dx_ij += dy_ji: dx [M,N] += dyᵀ, dy [N,M] */
void tg_op_transpose_backward(tg_node *n)
{
    float *dx = n->in[0]->grad.data;
    const float *dy = n->grad.data;
    size_t M = tg_cols(n), N = tg_rows(n);
    for (size_t i0 = 0; i0 < M; i0 += TRANSPOSE_TILE)
        for (size_t j0 = 0; j0 < N; j0 += TRANSPOSE_TILE) {
            size_t i1 = i0 + TRANSPOSE_TILE < M ? i0 + TRANSPOSE_TILE : M;
            size_t j1 = j0 + TRANSPOSE_TILE < N ? j0 + TRANSPOSE_TILE : N;
            for (size_t i = i0; i < i1; i++)
                for (size_t j = j0; j < j1; j++)
                    dx[i * N + j] += dy[j * M + i];
        }
}

tg_node *tg_transpose_of(tg_tape *t, tg_node *x)
{
    if (!tg_tape_check_inputs(t, "transpose", 1, x))
        return NULL;
    if (x->value.ndim > 2)
        return tg_tape_fail(t, TG_ERR_SHAPE, "transpose: %s: %d dimensions (a [M,N] or [N] tensor is needed)",
                            SHAPE(x), x->value.ndim);
    tg_node *n = tg_tape_record(t, &tg_op_transpose, 1, &x, 2, (size_t[]){tg_cols(x), tg_rows(x)});
    return tg_tape_forward(t, n);
}

/* ---- constants: a leaf filled with a value, and x + c, c − x ------------------------------- */

typedef struct scalar_params {
    float c;
} scalar_params;
TG_OP_PARAMS(scalar_params)

// y [shape] = c
void tg_op_const_forward(tg_node *n)
{
    float c = scalar_params_of(n).c;
    for (size_t k = 0; k < n->value.size; k++)
        n->value.data[k] = c;
}

/* A leaf: no input, nothing to do (the tape never calls it: a constant wants no gradient). */
void tg_op_const_backward(tg_node *n) { (void)n; }

tg_node *tg_const(tg_tape *t, float value, int ndim, const size_t *shape)
{
    if (tg_tape_status(t))
        return NULL;
    if (!isfinite(value))
        return tg_tape_fail(t, TG_ERR_ARG, "const: value %g is not finite", (double)value);
    if (!shape)
        return tg_tape_fail(t, TG_ERR_ARG, "const: shape is NULL");
    tg_node *n = tg_tape_record(t, &tg_op_const, 0, NULL, ndim, shape);
    if (n)
        scalar_params_set(n, (scalar_params){value});
    return tg_tape_forward(t, n);
}

// x [M,N] -> y [M,N] = x + c
TG_VECTORIZE void tg_op_add_scalar_forward(tg_node *n)
{
    const float *x = n->in[0]->value.data;
    float *y = n->value.data, c = scalar_params_of(n).c;
    for (size_t k = 0; k < n->value.size; k++)
        y[k] = x[k] + c;
}

/* dx += dy */
void tg_op_add_scalar_backward(tg_node *n)
{
    copy_blocks(n->in[0]->grad.data, 0, n->grad.data, 0, 1, n->value.size, true);
}

static tg_node *scalar_op(tg_tape *t, const tg_op_def *op, tg_node *x, float c)
{
    if (!tg_tape_check_inputs(t, op->name, 1, x))
        return NULL;
    if (!isfinite(c))
        return tg_tape_fail(t, TG_ERR_ARG, "%s: %s with constant %g: not finite", op->name, SHAPE(x), (double)c);
    tg_node *n = tg_tape_record(t, op, 1, &x, x->value.ndim, x->value.shape);
    if (n)
        scalar_params_set(n, (scalar_params){c});
    return tg_tape_forward(t, n);
}

tg_node *tg_add_scalar(tg_tape *t, tg_node *x, float c) { return scalar_op(t, &tg_op_add_scalar, x, c); }
