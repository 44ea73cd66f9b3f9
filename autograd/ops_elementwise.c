/* autograd/ops_elementwise.c — elementwise ops: add, sub, mul (with broadcasting), scale, and the
 * constructors of the two-input ops (div, max and min compute in ops_math.c; the one-input math
 * is there too; the activations are in ops_activation.c).
 *
 * Every loop is a plain loop over contiguous floats, so the compiler can vectorize the
 * arithmetic ones (the transcendental ones call libm per element).  Backward functions
 * accumulate (+=): a value used twice (mul(x, x)) gets both contributions, because each loop
 * reads input *values* and writes one input's *grad*.  A one-input op's backward needs no
 * tg_wants_grad check: the tape runs it only when the node requires a gradient, which it can
 * only have inherited from that input. */
#include "ops_internal.h"

#include <string.h>

#include "tensor/parallel.h"

/* ---- binary ops: y = a ∘ b, with broadcasting -------------------------------------------------
 *
 * In the 2-D reading (rows = shape[0], cols = the rest), either operand may be the other's shape,
 * a row [1,N] or [N], a column [M,1] or a scalar [1]; a column and a row meet in [M,N].  The
 * common case, a full and b full or a row (every Dense-like bias add), has its own loops and
 * threads below; every other form goes through the strided loops of "other broadcasts". */

/* Element (i,j) of b is b[i·stride + j]: stride N when b has a's shape, 0 when b is one row
 * [1,N] (or [N]) broadcast over a's M rows.  The same loops then serve both cases, and for a
 * broadcast row the backward's `db[0·i + j] +=` sums the gradient over every row b was used in. */
static size_t b_row_stride(const tg_node *n)
{
    return n->in[1]->value.size == n->value.size ? tg_cols(n) : 0;
}

/* Whether n is the common case: a has the output's shape and b has it too or is a row of it. */
static bool a_full_b_row(const tg_node *n)
{
    const tg_node *a = n->in[0], *b = n->in[1];
    return a->value.size == n->value.size &&
           (b->value.size == n->value.size || (tg_rows(b) == 1 && tg_cols(b) == tg_cols(n)));
}

/* Rows per work chunk of add's loops: fixed, so chunks never depend on the thread count; small
 * enough that a batch of 32 rows is split across two cores. */
enum { ADD_ROWS_PER_CHUNK = 16 };

typedef enum binary_kind { BINARY_ADD, BINARY_SUB, BINARY_MUL } binary_kind;

typedef struct add_job {
    const float *a, *b; /* forward inputs; backward: a = dy */
    float *y;           /* forward output; backward: da */
    size_t N, bs;
    binary_kind kind;   /* forward: which operation */
} add_job;

TG_ALWAYS_INLINE void binary_rows(const binary_kind kind, const add_job *job, size_t lo, size_t hi)
{
    size_t N = job->N, bs = job->bs;
    for (size_t i = lo; i < hi; i++)
        for (size_t j = 0; j < N; j++) {
            float a = job->a[i * N + j], b = job->b[i * bs + j];
            job->y[i * N + j] = kind == BINARY_ADD ? a + b : kind == BINARY_SUB ? a - b : a * b;
        }
}

/* Rows [lo, hi) of y = a ∘ b, specialized per operation. */
TG_VECTORIZE static void binary_forward_rows(size_t lo, size_t hi, void *ctx)
{
    const add_job *job = ctx;
    switch (job->kind) {
    case BINARY_ADD: binary_rows(BINARY_ADD, job, lo, hi); break;
    case BINARY_SUB: binary_rows(BINARY_SUB, job, lo, hi); break;
    default: binary_rows(BINARY_MUL, job, lo, hi); break;
    }
}

/* ---- other broadcasts: both operands read through strides -----------------------------------
 *
 * Element (i,j) of an operand x is x[i·row + j·col] with row = x's cols (0 when x is one row)
 * and col = 1 (0 when x is one column): a stride of 0 repeats x along that direction.  In the
 * backward every (i,j) that read an element of x adds into that element's gradient. */

typedef struct strides {
    size_t row, col;
} strides;

/* x's strides in the output [M,N] (its rows are 1 or M, its cols 1 or N: checked by binary()). */
static strides strides_of(const tg_node *x)
{
    return (strides){tg_rows(x) == 1 ? 0 : tg_cols(x), tg_cols(x) == 1 ? 0 : 1};
}

typedef struct broadcast_job {
    const float *a, *b;
    float *y;
    size_t N;
    strides as, bs;
    binary_kind kind;
} broadcast_job;

TG_ALWAYS_INLINE void broadcast_rows(const binary_kind kind, const broadcast_job *job, size_t lo, size_t hi)
{
    strides as = job->as, bs = job->bs;
    for (size_t i = lo; i < hi; i++)
        for (size_t j = 0; j < job->N; j++) {
            float a = job->a[i * as.row + j * as.col], b = job->b[i * bs.row + j * bs.col];
            job->y[i * job->N + j] = kind == BINARY_ADD ? a + b : kind == BINARY_SUB ? a - b : a * b;
        }
}

/* Rows [lo, hi) of y = a ∘ b, both operands read through their strides. */
TG_VECTORIZE static void broadcast_forward_rows(size_t lo, size_t hi, void *ctx)
{
    const broadcast_job *job = ctx;
    switch (job->kind) {
    case BINARY_ADD: broadcast_rows(BINARY_ADD, job, lo, hi); break;
    case BINARY_SUB: broadcast_rows(BINARY_SUB, job, lo, hi); break;
    default: broadcast_rows(BINARY_MUL, job, lo, hi); break;
    }
}

// a, b: [M,N] or a row, column or scalar of it; y [M,N]  (split over threads by rows, as add)
static void broadcast_forward(tg_node *n, binary_kind kind)
{
    broadcast_job job = {n->in[0]->value.data, n->in[1]->value.data, n->value.data, tg_cols(n),
                         strides_of(n->in[0]), strides_of(n->in[1]), kind};
    tg_parallel_for(tg_rows(n), ADD_ROWS_PER_CHUNK, broadcast_forward_rows, &job);
}

/* g_ij = dy_ij·w_ij: w is mul's other operand (read through its strides), or NULL for 1. */
TG_ALWAYS_INLINE float grad_term(const float *dy, const float *w, strides ws, size_t N, size_t i, size_t j)
{
    return w ? dy[i * N + j] * w[i * ws.row + j * ws.col] : dy[i * N + j];
}

/* dx[i·s.row + j·s.col] += sign·Σ g_ij, the sum over every (i,j) that read that element of x.
 * A repeated element's sum is taken in double, in a fixed order (rows, then columns), and
 * rounded once: the same bits on any thread count (this runs on the calling thread). */
static void broadcast_grad(float *dx, strides s, const float *dy, const float *w, strides ws, size_t M, size_t N,
                           float sign)
{
    bool spans_rows = s.row || M == 1, spans_cols = s.col || N == 1;
    if (spans_rows && spans_cols) { /* x has y's shape: one term per element */
        for (size_t i = 0; i < M; i++)
            for (size_t j = 0; j < N; j++)
                dx[i * s.row + j * s.col] += sign * grad_term(dy, w, ws, N, i, j);
    } else if (spans_cols) { /* x a row: sums over the rows, a block of columns at a time */
        for (size_t j0 = 0; j0 < N; j0 += TG_COL_BLOCK) {
            size_t width = N - j0 < TG_COL_BLOCK ? N - j0 : TG_COL_BLOCK;
            double acc[TG_COL_BLOCK] = {0};
            for (size_t i = 0; i < M; i++)
                for (size_t j = 0; j < width; j++)
                    acc[j] += grad_term(dy, w, ws, N, i, j0 + j);
            for (size_t j = 0; j < width; j++)
                dx[(j0 + j) * s.col] += (float)(sign * acc[j]);
        }
    } else { /* x a column (sums along each row) or a scalar (the sum of those) */
        double total = 0.0;
        for (size_t i = 0; i < M; i++) {
            double row = 0.0;
            for (size_t j = 0; j < N; j++)
                row += grad_term(dy, w, ws, N, i, j);
            if (spans_rows)
                dx[i * s.row] += (float)(sign * row);
            else
                total += row;
        }
        if (!spans_rows)
            dx[0] += (float)(sign * total);
    }
}

/* da += Σ dy (⊙ b for mul);  db += ±Σ dy (⊙ a for mul), each summed over where it was repeated */
static void broadcast_backward(tg_node *n, binary_kind kind)
{
    tg_node *a = n->in[0], *b = n->in[1];
    const float *dy = n->grad.data;
    size_t M = tg_rows(n), N = tg_cols(n);
    strides as = strides_of(a), bs = strides_of(b);
    bool mul = kind == BINARY_MUL;
    if (tg_wants_grad(a))
        broadcast_grad(a->grad.data, as, dy, mul ? b->value.data : NULL, bs, M, N, 1.0f);
    if (tg_wants_grad(b))
        broadcast_grad(b->grad.data, bs, dy, mul ? a->value.data : NULL, as, M, N, kind == BINARY_SUB ? -1.0f : 1.0f);
}

/* ---- the binary ops: the common case's loops, else the strided ones above -------------------- */

// a [M,N], b [M,N] or [1,N], y [M,N]  (add: the bias add of every Dense layer, split over threads)
static void binary_forward(tg_node *n, binary_kind kind)
{
    if (!a_full_b_row(n)) {
        broadcast_forward(n, kind);
        return;
    }
    add_job job = {n->in[0]->value.data, n->in[1]->value.data, n->value.data, tg_cols(n), b_row_stride(n), kind};
    tg_parallel_for(tg_rows(n), ADD_ROWS_PER_CHUNK, binary_forward_rows, &job);
}

void tg_op_add_forward(tg_node *n) { binary_forward(n, BINARY_ADD); }
void tg_op_sub_forward(tg_node *n) { binary_forward(n, BINARY_SUB); }
void tg_op_mul_forward(tg_node *n) { binary_forward(n, BINARY_MUL); }

TG_VECTORIZE static void accumulate_rows(size_t lo, size_t hi, void *ctx)
{
    const add_job *job = ctx;
    for (size_t k = lo * job->N; k < hi * job->N; k++)
        job->y[k] += job->a[k];
}

/* Columns per chunk of tg_add_column_sums: 128 floats, two cache lines of each row. */
enum { COLS_PER_CHUNK = 128 };

typedef struct column_sums_job {
    const float *dy;
    float *db;
    size_t M, N;
} column_sums_job;

/* db_j += Σ_i dy_ij for the columns [lo, hi), adding the rows in order: each column's sum is
 * the same whichever thread runs its chunk. */
TG_VECTORIZE static void add_column_sums(size_t lo, size_t hi, void *ctx)
{
    const column_sums_job *job = ctx;
    for (size_t i = 0; i < job->M; i++)
        for (size_t j = lo; j < hi; j++)
            job->db[j] += job->dy[i * job->N + j];
}

void tg_add_column_sums(const float *dy, size_t M, size_t N, float *db)
{
    column_sums_job job = {dy, db, M, N};
    tg_parallel_for(N, COLS_PER_CHUNK, add_column_sums, &job);
}

typedef struct add_scaled_job {
    float *dst;
    const float *src;
    float alpha;
} add_scaled_job;

TG_VECTORIZE static void add_scaled_range(size_t lo, size_t hi, void *ctx)
{
    const add_scaled_job *job = ctx;
    for (size_t k = lo; k < hi; k++)
        job->dst[k] += job->alpha * job->src[k];
}

void tg_add_scaled(float *dst, const float *src, float alpha, size_t n)
{
    enum { ELEMENTS_PER_CHUNK = 8192 };
    add_scaled_job job = {dst, src, alpha};
    tg_parallel_for(n, ELEMENTS_PER_CHUNK, add_scaled_range, &job);
}

/* dy [M,N] added into a gradient of the same shape (split over threads by rows). */
static void accumulate(const float *dy, size_t M, size_t N, float *dx)
{
    add_job job = {.a = dy, .y = dx, .N = N};
    tg_parallel_for(M, ADD_ROWS_PER_CHUNK, accumulate_rows, &job);
}

/* da += dy;  db += dy, or for a broadcast row db_j += Σ_i dy_ij */
void tg_op_add_backward(tg_node *n)
{
    if (!a_full_b_row(n)) {
        broadcast_backward(n, BINARY_ADD);
        return;
    }
    tg_node *a = n->in[0], *b = n->in[1];
    const float *dy = n->grad.data;
    size_t M = tg_rows(n), N = tg_cols(n);
    if (tg_wants_grad(a))
        accumulate(dy, M, N, a->grad.data);
    if (tg_wants_grad(b)) {
        if (b_row_stride(n))
            accumulate(dy, M, N, b->grad.data);
        else
            tg_add_column_sums(dy, M, N, b->grad.data);
    }
}

/* da += dy;  db -= dy (a broadcast row: db_j -= Σ_i dy_ij) */
TG_VECTORIZE void tg_op_sub_backward(tg_node *n)
{
    if (!a_full_b_row(n)) {
        broadcast_backward(n, BINARY_SUB);
        return;
    }
    tg_node *a = n->in[0], *b = n->in[1];
    const float *dy = n->grad.data;
    size_t M = tg_rows(n), N = tg_cols(n), bs = b_row_stride(n);
    if (tg_wants_grad(a))
        for (size_t k = 0; k < M * N; k++)
            a->grad.data[k] += dy[k];
    if (tg_wants_grad(b))
        for (size_t i = 0; i < M; i++)
            for (size_t j = 0; j < N; j++)
                b->grad.data[i * bs + j] -= dy[i * N + j];
}

/* da += dy ⊙ b;  db += dy ⊙ a (a broadcast row: db_j += Σ_i dy_ij·a_ij).
 * mul(x, x) works: both loops read values and add into the same gradient, giving 2x·dy. */
TG_VECTORIZE void tg_op_mul_backward(tg_node *n)
{
    if (!a_full_b_row(n)) {
        broadcast_backward(n, BINARY_MUL);
        return;
    }
    tg_node *a = n->in[0], *b = n->in[1];
    const float *dy = n->grad.data, *av = a->value.data, *bv = b->value.data;
    size_t M = tg_rows(n), N = tg_cols(n), bs = b_row_stride(n);
    if (tg_wants_grad(a))
        for (size_t i = 0; i < M; i++)
            for (size_t j = 0; j < N; j++)
                a->grad.data[i * N + j] += dy[i * N + j] * bv[i * bs + j];
    if (tg_wants_grad(b))
        for (size_t i = 0; i < M; i++)
            for (size_t j = 0; j < N; j++)
                b->grad.data[i * bs + j] += dy[i * N + j] * av[i * N + j];
}

static const char *binary_symbol(const tg_op_def *op)
{
    return op == &tg_op_add ? "+" : op == &tg_op_sub ? "-" : op == &tg_op_mul ? "*" : op == &tg_op_div ? "/" : "and";
}

/* Whether x broadcasts to `to` (to's shape is the result): x has to's shape, or (2-D reading)
 * is a row of to's cols, a column of its rows, or a scalar. */
static bool broadcasts_to(const tg_node *x, const tg_node *to)
{
    return tg_tensor_same_shape(&x->value, &to->value) || x->value.size == 1 ||
           (tg_rows(x) == 1 && tg_cols(x) == tg_cols(to)) || (tg_cols(x) == 1 && tg_rows(x) == tg_rows(to));
}

/* The result's shape: a's when b broadcasts to it, else b's when a broadcasts to b, else [M,N]
 * for a column [M,1] and a row [1,N] (either way round); false when none applies. */
static bool broadcast_shape(const tg_node *a, const tg_node *b, int *ndim, size_t shape[TG_MAX_DIMS])
{
    const tg_node *to = broadcasts_to(b, a) ? a : broadcasts_to(a, b) ? b : NULL;
    if (to) {
        *ndim = to->value.ndim;
        memcpy(shape, to->value.shape, sizeof to->value.shape);
        return true;
    }
    const tg_node *col = tg_cols(a) == 1 ? a : b, *row = col == a ? b : a;
    if (tg_cols(col) != 1 || tg_rows(row) != 1)
        return false;
    *ndim = 2;
    shape[0] = tg_rows(col);
    shape[1] = tg_cols(row);
    return true;
}

/* Broadcasting: add, sub and mul take a and b of the same shape, or one a row, a column or a
 * scalar of the other, or a column and a row; div, max and min (ops_math.c) take b of a's shape or
 * a row of it. */
static bool broadcasts(const tg_op_def *op, const tg_node *a, const tg_node *b, int *ndim, size_t shape[TG_MAX_DIMS])
{
    if (op == &tg_op_add || op == &tg_op_sub || op == &tg_op_mul)
        return broadcast_shape(a, b, ndim, shape);
    if (!tg_tensor_same_shape(&a->value, &b->value) && !(tg_rows(b) == 1 && tg_cols(b) == tg_cols(a)))
        return false;
    *ndim = a->value.ndim;
    memcpy(shape, a->value.shape, sizeof a->value.shape);
    return true;
}

tg_node *tg_binary_op(tg_tape *t, const tg_op_def *op, tg_node *a, tg_node *b)
{
    if (!tg_tape_check_inputs(t, op->name, 2, a, b))
        return NULL;
    int ndim;
    size_t shape[TG_MAX_DIMS];
    bool general = op == &tg_op_add || op == &tg_op_sub || op == &tg_op_mul;
    if (!general && !broadcasts(op, a, b, &ndim, shape))
        return tg_tape_fail(t, TG_ERR_SHAPE, "%s: %s %s %s: shapes differ (b must be %s or a row [1,%zu])", op->name,
                            SHAPE(a), binary_symbol(op), SHAPE(b), SHAPE(a), tg_cols(a));
    if (general && !broadcasts(op, a, b, &ndim, shape)) {
        const tg_node *big = a->value.size >= b->value.size ? a : b; /* the forms that would fit it */
        return tg_tape_fail(t, TG_ERR_SHAPE,
                            "%s: %s %s %s: shapes do not broadcast (one must have the other's shape or be a row, "
                            "column or scalar of it: for %s, [1,%zu], [%zu,1] or [1]; "
                            "or a column [M,1] and a row [1,N])",
                            op->name, SHAPE(a), binary_symbol(op), SHAPE(b), SHAPE(big), tg_cols(big), tg_rows(big));
    }
    tg_node *in[2] = {a, b};
    tg_node *n = tg_tape_record(t, op, 2, in, ndim, shape);
    return tg_tape_forward(t, n);
}

tg_node *tg_add(tg_tape *t, tg_node *a, tg_node *b) { return tg_binary_op(t, &tg_op_add, a, b); }
tg_node *tg_sub(tg_tape *t, tg_node *a, tg_node *b) { return tg_binary_op(t, &tg_op_sub, a, b); }
tg_node *tg_mul(tg_tape *t, tg_node *a, tg_node *b) { return tg_binary_op(t, &tg_op_mul, a, b); }
/* (div, max and min compute in ops_math.c) */
tg_node *tg_div(tg_tape *t, tg_node *a, tg_node *b) { return tg_binary_op(t, &tg_op_div, a, b); }
tg_node *tg_max(tg_tape *t, tg_node *a, tg_node *b) { return tg_binary_op(t, &tg_op_max, a, b); }
tg_node *tg_min(tg_tape *t, tg_node *a, tg_node *b) { return tg_binary_op(t, &tg_op_min, a, b); }

/* ---- scale: y = c·x ------------------------------------------------------------------------ */

typedef struct scale_params {
    float c;
} scale_params;
TG_OP_PARAMS(scale_params)

// x [M,N], y [M,N]; params: c
TG_VECTORIZE void tg_op_scale_forward(tg_node *n)
{
    const float *x = n->in[0]->value.data;
    float *y = n->value.data, c = scale_params_of(n).c;
    for (size_t k = 0; k < n->value.size; k++)
        y[k] = c * x[k];
}

/* dx += c·dy */
TG_VECTORIZE void tg_op_scale_backward(tg_node *n)
{
    float *dx = n->in[0]->grad.data, c = scale_params_of(n).c;
    const float *dy = n->grad.data;
    for (size_t k = 0; k < n->value.size; k++)
        dx[k] += c * dy[k];
}

tg_node *tg_scale(tg_tape *t, tg_node *x, float c)
{
    if (!tg_tape_check_inputs(t, "scale", 1, x))
        return NULL;
    if (!isfinite(c))
        return tg_tape_fail(t, TG_ERR_ARG, "scale: factor %g is not finite", (double)c);
    tg_node *n = tg_tape_record(t, &tg_op_scale, 1, &x, x->value.ndim, x->value.shape);
    if (n)
        scale_params_set(n, (scale_params){c});
    return tg_tape_forward(t, n);
}

