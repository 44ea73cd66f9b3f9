/* autograd/ops_elementwise.c — elementwise ops: add, sub, mul (with a row broadcast), scale,
 * (square, exp, log and the other one-input math: ops_math.c; the activations: ops_activation.c).
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

/* ---- binary ops: y = a ∘ b, b either a's shape or one row broadcast over a's rows ------------ */

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

// a [M,N], b [M,N] or [1,N], y [M,N]  (add: the bias add of every Dense layer, split over threads)
static void binary_forward(tg_node *n, binary_kind kind)
{
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

/* b must have a's shape, or be one row (b [1,N] or [N]) with a's row length N. */
tg_node *tg_binary_op(tg_tape *t, const tg_op_def *op, tg_node *a, tg_node *b)
{
    if (!tg_tape_check_inputs(t, op->name, 2, a, b))
        return NULL;
    bool same = tg_tensor_same_shape(&a->value, &b->value);
    bool row = tg_rows(b) == 1 && tg_cols(b) == tg_cols(a);
    if (!same && !row)
        return tg_tape_fail(t, TG_ERR_SHAPE, "%s: %s %s %s: shapes differ (b must be %s or a row [1,%zu])",
                            op->name, SHAPE(a), binary_symbol(op), SHAPE(b), SHAPE(a), tg_cols(a));
    tg_node *in[2] = {a, b};
    tg_node *n = tg_tape_record(t, op, 2, in, a->value.ndim, a->value.shape);
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

