/* autograd/ops_elementwise.c — elementwise ops: add, sub, mul (with broadcasting), scale (div,
 * max and min compute in ops_math.c, the one-input math too; the constructors of the six
 * two-input ops, their shape rule and the general broadcast are in ops_broadcast.c; the
 * activations are in ops_activation.c).
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
 * Shapes broadcast as ops_broadcast.c says (aligned from the right, sizes equal or 1).  Two forms
 * have loops here: the common case, a full and b full or a row (every Dense-like bias add), with
 * its own threads; and the forms where each operand, in the 2-D reading (rows = shape[0], cols =
 * the rest), is y's shape, a row [1,N] or [N], a column [M,1] or a scalar (a column and a row
 * meet in [M,N]), through the strided loops of "other broadcasts".  Every other broadcast walks
 * y in ops_broadcast.c's general loops. */

/* Element (i,j) of b is b[i·stride + j]: stride N when b has a's shape, 0 when b is one row
 * [1,N] (or [N]) broadcast over a's M rows.  The same loops then serve both cases, and for a
 * broadcast row the backward's `db[0·i + j] +=` sums the gradient over every row b was used in. */
static size_t b_row_stride(const tg_node *n)
{
    return n->in[1]->value.size == n->value.size ? tg_cols(n) : 0;
}

/* Rows per work chunk of add's loops: fixed, so chunks never depend on the thread count; small
 * enough that a batch of 32 rows is split across two cores. */
enum { ADD_ROWS_PER_CHUNK = 16 };

typedef struct add_job {
    const float *a, *b; /* forward inputs; backward: a = dy */
    float *y;           /* forward output; backward: da */
    size_t N, bs;
    tg_binary_kind kind;   /* forward: which operation */
} add_job;

TG_ALWAYS_INLINE void binary_rows(const tg_binary_kind kind, const add_job *job, size_t lo, size_t hi)
{
    size_t N = job->N, bs = job->bs;
    for (size_t i = lo; i < hi; i++)
        for (size_t j = 0; j < N; j++) {
            float a = job->a[i * N + j], b = job->b[i * bs + j];
            job->y[i * N + j] = tg_binary_value(kind, a, b);
        }
}

/* Rows [lo, hi) of y = a ∘ b, specialized per operation. */
TG_VECTORIZE static void binary_forward_rows(size_t lo, size_t hi, void *ctx)
{
    const add_job *job = ctx;
    switch (job->kind) {
    case TG_BINARY_ADD: binary_rows(TG_BINARY_ADD, job, lo, hi); break;
    case TG_BINARY_SUB: binary_rows(TG_BINARY_SUB, job, lo, hi); break;
    default: binary_rows(TG_BINARY_MUL, job, lo, hi); break;
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

/* Whether operand x of node n is, in the 2-D reading, y's shape, a scalar, a row of y's cols, or
 * a column of y's rows with y's number of dimensions.  A column of fewer dimensions is not one:
 * aligned from the right, [2,1] against [2,2,3] repeats along dimensions 0 and 2 of y, while the
 * 2-D reading would put its elements along y's rows (dimension 0). */
static bool reads_in_2d(const tg_node *x, const tg_node *n)
{
    return x->value.size == n->value.size || x->value.size == 1 || (tg_rows(x) == 1 && tg_cols(x) == tg_cols(n)) ||
           (tg_cols(x) == 1 && tg_rows(x) == tg_rows(n) && x->value.ndim == n->value.ndim);
}

/* x's strides in the output [M,N] (reads_in_2d(x): its rows are 1 or M, its cols 1 or N). */
static strides strides_of(const tg_node *x)
{
    return (strides){tg_rows(x) == 1 ? 0 : tg_cols(x), tg_cols(x) == 1 ? 0 : 1};
}

typedef struct broadcast_job {
    const float *a, *b;
    float *y;
    size_t N;
    strides as, bs;
    tg_binary_kind kind;
} broadcast_job;

TG_ALWAYS_INLINE void broadcast_rows(const tg_binary_kind kind, const broadcast_job *job, size_t lo, size_t hi)
{
    strides as = job->as, bs = job->bs;
    for (size_t i = lo; i < hi; i++)
        for (size_t j = 0; j < job->N; j++) {
            float a = job->a[i * as.row + j * as.col], b = job->b[i * bs.row + j * bs.col];
            job->y[i * job->N + j] = tg_binary_value(kind, a, b);
        }
}

/* Rows [lo, hi) of y = a ∘ b, both operands read through their strides. */
TG_VECTORIZE static void broadcast_forward_rows(size_t lo, size_t hi, void *ctx)
{
    const broadcast_job *job = ctx;
    switch (job->kind) {
    case TG_BINARY_ADD: broadcast_rows(TG_BINARY_ADD, job, lo, hi); break;
    case TG_BINARY_SUB: broadcast_rows(TG_BINARY_SUB, job, lo, hi); break;
    default: broadcast_rows(TG_BINARY_MUL, job, lo, hi); break;
    }
}

// a, b: [M,N] or a row, column or scalar of it; y [M,N]  (split over threads by rows, as add);
// any other broadcast: the general walk
static void broadcast_forward(tg_node *n, tg_binary_kind kind)
{
    if (!reads_in_2d(n->in[0], n) || !reads_in_2d(n->in[1], n)) {
        tg_binary_general_forward(n, kind);
        return;
    }
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
static void broadcast_backward(tg_node *n, tg_binary_kind kind)
{
    if (!reads_in_2d(n->in[0], n) || !reads_in_2d(n->in[1], n)) {
        tg_binary_general_backward(n, kind);
        return;
    }
    tg_node *a = n->in[0], *b = n->in[1];
    const float *dy = n->grad.data;
    size_t M = tg_rows(n), N = tg_cols(n);
    strides as = strides_of(a), bs = strides_of(b);
    bool mul = kind == TG_BINARY_MUL;
    if (tg_wants_grad(a))
        broadcast_grad(a->grad.data, as, dy, mul ? b->value.data : NULL, bs, M, N, 1.0f);
    if (tg_wants_grad(b))
        broadcast_grad(b->grad.data, bs, dy, mul ? a->value.data : NULL, as, M, N, kind == TG_BINARY_SUB ? -1.0f : 1.0f);
}

/* ---- the binary ops: the common case's loops, else the strided ones above -------------------- */

// a [M,N], b [M,N] or [1,N], y [M,N]  (add: the bias add of every Dense layer, split over threads)
static void binary_forward(tg_node *n, tg_binary_kind kind)
{
    if (!tg_binary_a_full_b_row(n)) {
        broadcast_forward(n, kind);
        return;
    }
    add_job job = {n->in[0]->value.data, n->in[1]->value.data, n->value.data, tg_cols(n), b_row_stride(n), kind};
    tg_parallel_for(tg_rows(n), ADD_ROWS_PER_CHUNK, binary_forward_rows, &job);
}

void tg_op_add_forward(tg_node *n) { binary_forward(n, TG_BINARY_ADD); }
void tg_op_sub_forward(tg_node *n) { binary_forward(n, TG_BINARY_SUB); }
void tg_op_mul_forward(tg_node *n) { binary_forward(n, TG_BINARY_MUL); }

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
    if (!tg_binary_a_full_b_row(n)) {
        broadcast_backward(n, TG_BINARY_ADD);
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
    if (!tg_binary_a_full_b_row(n)) {
        broadcast_backward(n, TG_BINARY_SUB);
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
    if (!tg_binary_a_full_b_row(n)) {
        broadcast_backward(n, TG_BINARY_MUL);
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

