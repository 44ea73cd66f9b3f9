/* autograd/ops_math.c — elementwise math and reductions along an axis: div, max, min (two
 * inputs, broadcast as ops_broadcast.c says), sqrt, pow, abs, neg, clamp, rsub (one input, constants in the
 * node's typed params), softmax and log_softmax (rows of the last dimension), sum_axis,
 * mean_axis, max_axis ([M,N], axis 0 or 1), and tg_argmax_rows (no gradient: a plain function).
 *
 * Every loop is plain and sequential, row by row, so the results are the same bits for any
 * thread count.  Backward functions accumulate (+=), as everywhere (ops_elementwise.c says why;
 * one-input ops need no tg_wants_grad check for the same reason).
 *
 * Where a rule is not smooth, the choice is fixed and documented:
 *  - max/min: the gradient goes to a where a >= b (max) or a <= b (min), ties included, else b;
 *  - abs: sign(0) = 0, so |x|'s gradient at 0 is 0;
 *  - clamp: the gradient passes where lo <= x <= hi (bounds included), 0 where x was cut;
 *  - max_axis, argmax: the first maximum along the axis wins a tie.
 * NaN propagates: max/min/clamp/max_axis return a NaN input (max_axis and argmax pick the first
 * NaN), and the gradient follows the value that was returned. */
#include "ops_internal.h"

#include <stdio.h>

#include <stdint.h>

/* ---- binary ops: y = a ∘ b; these loops for b a's shape or one row broadcast over a's rows,
 * the general walk of ops_broadcast.c for every other broadcast ------------------------------ */

/* Element (i,j) of b is b[i·stride + j]: stride N for a's shape, 0 for a broadcast row (whose
 * backward's `db[0·i + j] +=` then sums over the rows it was used in). */
static size_t row_stride_of_b(const tg_node *n)
{
    return n->in[1]->value.size == n->value.size ? tg_cols(n) : 0;
}

// a [M,N], b [M,N] or [1,N] -> y [M,N]
TG_ALWAYS_INLINE void binary_forward_loops(const tg_binary_kind kind, tg_node *n)
{
    if (!tg_binary_a_full_b_row(n)) {
        tg_binary_general_forward(n, kind);
        return;
    }
    const float *a = n->in[0]->value.data, *b = n->in[1]->value.data;
    float *y = n->value.data;
    size_t M = tg_rows(n), N = tg_cols(n), bs = row_stride_of_b(n);
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++)
            y[i * N + j] = tg_binary_value(kind, a[i * N + j], b[i * bs + j]);
}

TG_VECTORIZE void tg_op_div_forward(tg_node *n) { binary_forward_loops(TG_BINARY_DIV, n); }
TG_VECTORIZE void tg_op_max_forward(tg_node *n) { binary_forward_loops(TG_BINARY_MAX, n); }
TG_VECTORIZE void tg_op_min_forward(tg_node *n) { binary_forward_loops(TG_BINARY_MIN, n); }

/* y = a/b:  ∂y/∂a = 1/b, ∂y/∂b = -a/b², so da += dy/b and db -= dy·a/b² (a broadcast row sums
 * over the rows).  div(x, x) works: both loops read values and add into the same gradient. */
TG_VECTORIZE void tg_op_div_backward(tg_node *n)
{
    if (!tg_binary_a_full_b_row(n)) {
        tg_binary_general_backward(n, TG_BINARY_DIV);
        return;
    }
    tg_node *a = n->in[0], *b = n->in[1];
    const float *dy = n->grad.data, *av = a->value.data, *bv = b->value.data;
    size_t M = tg_rows(n), N = tg_cols(n), bs = row_stride_of_b(n);
    if (tg_wants_grad(a))
        for (size_t i = 0; i < M; i++)
            for (size_t j = 0; j < N; j++)
                a->grad.data[i * N + j] += dy[i * N + j] / bv[i * bs + j];
    if (tg_wants_grad(b))
        for (size_t i = 0; i < M; i++)
            for (size_t j = 0; j < N; j++) {
                float bij = bv[i * bs + j];
                b->grad.data[i * bs + j] -= dy[i * N + j] * av[i * N + j] / (bij * bij);
            }
}

/* y = a or b, whichever was picked: dy goes to that one (ties: to a). */
static void minmax_backward(tg_node *n, bool is_max)
{
    if (!tg_binary_a_full_b_row(n)) {
        tg_binary_general_backward(n, is_max ? TG_BINARY_MAX : TG_BINARY_MIN);
        return;
    }
    tg_node *a = n->in[0], *b = n->in[1];
    const float *dy = n->grad.data, *av = a->value.data, *bv = b->value.data;
    size_t M = tg_rows(n), N = tg_cols(n), bs = row_stride_of_b(n);
    bool da = tg_wants_grad(a), db = tg_wants_grad(b);
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++) {
            size_t k = i * N + j;
            if (tg_picks_a(is_max, av[k], bv[i * bs + j])) {
                if (da)
                    a->grad.data[k] += dy[k];
            } else if (db) {
                b->grad.data[i * bs + j] += dy[k];
            }
        }
}

void tg_op_max_backward(tg_node *n) { minmax_backward(n, true); }
void tg_op_min_backward(tg_node *n) { minmax_backward(n, false); }

/* (Their constructors are with add's, sub's and mul's in ops_broadcast.c.) */

/* ---- one-input ops: y = f(x), same shape; constants in typed params ------------------------ */

typedef struct clamp_params {
    float lo, hi;
} clamp_params;
TG_OP_PARAMS(clamp_params)

typedef struct rsub_params {
    float c;
} rsub_params;
TG_OP_PARAMS(rsub_params)

typedef enum math_unary_kind { MU_SQUARE, MU_EXP, MU_LOG, MU_SQRT, MU_POW, MU_ABS, MU_NEG, MU_CLAMP, MU_RSUB } math_unary_kind;

/* The constants (c0, c1) of a node of `kind`: pow (p, -), clamp (lo, hi), rsub (c, -). */
static void unary_constants(const tg_node *n, math_unary_kind kind, float *c0, float *c1)
{
    *c0 = *c1 = 0.0f;
    if (kind == MU_POW)
        *c0 = pow_params_of(n).p;
    else if (kind == MU_RSUB)
        *c0 = rsub_params_of(n).c;
    else if (kind == MU_CLAMP) {
        *c0 = clamp_params_of(n).lo;
        *c1 = clamp_params_of(n).hi;
    }
}

TG_ALWAYS_INLINE float unary_value(math_unary_kind kind, float x, float c0, float c1)
{
    switch (kind) {
    case MU_SQUARE: return x * x;
    case MU_EXP: return expf(x);
    case MU_LOG: return logf(x); /* C's results outside the domain: ln 0 = -inf, ln of x < 0 = NaN */
    case MU_SQRT: return sqrtf(x);
    case MU_POW: return powf(x, c0);
    case MU_ABS: return fabsf(x);
    case MU_NEG: return -x;
    case MU_CLAMP: return x < c0 ? c0 : x > c1 ? c1 : x;
    default: return c0 - x;
    }
}

/* dy·f'(x):  (x²)' = 2x;  (eˣ)' = eˣ = y;  (ln x)' = 1/x;  (√x)' = 1/(2√x) = 1/(2y) (+inf at 0, as 1/0);  (x^p)' = p·x^{p-1} (0 for p = 0,
 * where powf(0, -1) would make 0·inf);  |x|' = sign(x);  (-x)' = -1;  clamp' = 1 between the
 * bounds (included), 0 outside;  (c - x)' = -1 */
TG_ALWAYS_INLINE float unary_grad(math_unary_kind kind, float dy, float x, float y, float c0, float c1)
{
    switch (kind) {
    case MU_SQUARE: return 2.0f * x * dy;
    case MU_EXP: return y * dy;
    case MU_LOG: return dy / x;
    case MU_SQRT: return dy / (2.0f * y);
    case MU_POW: return c0 == 0.0f ? 0.0f : dy * c0 * powf(x, c0 - 1.0f);
    case MU_ABS: return x > 0.0f ? dy : x < 0.0f ? -dy : 0.0f;
    case MU_CLAMP: return x < c0 || x > c1 ? 0.0f : dy;
    default: return -dy; /* neg, rsub */
    }
}

TG_ALWAYS_INLINE void unary_loops(const math_unary_kind kind, tg_node *n, bool backward)
{
    const float *x = n->in[0]->value.data, *y = n->value.data, *dy = n->grad.data;
    float c0, c1;
    unary_constants(n, kind, &c0, &c1);
    if (backward) {
        float *dx = n->in[0]->grad.data;
        for (size_t k = 0; k < n->value.size; k++)
            dx[k] += unary_grad(kind, dy[k], x[k], y[k], c0, c1);
    } else {
        float *out = n->value.data;
        for (size_t k = 0; k < n->value.size; k++)
            out[k] = unary_value(kind, x[k], c0, c1);
    }
}

// x [M,N] -> y [M,N], or (backward) dx += dy·f'(x)
TG_VECTORIZE static void unary_pass(tg_node *n, math_unary_kind kind, bool backward)
{
    switch (kind) {
    case MU_SQUARE: unary_loops(MU_SQUARE, n, backward); break;
    case MU_EXP: unary_loops(MU_EXP, n, backward); break;
    case MU_LOG: unary_loops(MU_LOG, n, backward); break;
    case MU_SQRT: unary_loops(MU_SQRT, n, backward); break;
    case MU_POW: unary_loops(MU_POW, n, backward); break;
    case MU_ABS: unary_loops(MU_ABS, n, backward); break;
    case MU_NEG: unary_loops(MU_NEG, n, backward); break;
    case MU_CLAMP: unary_loops(MU_CLAMP, n, backward); break;
    default: unary_loops(MU_RSUB, n, backward); break;
    }
}

#define MATH_UNARY_OP(name, kind)                                            \
    void tg_op_##name##_forward(tg_node *n) { unary_pass(n, kind, false); } \
    void tg_op_##name##_backward(tg_node *n) { unary_pass(n, kind, true); }
MATH_UNARY_OP(square, MU_SQUARE)
MATH_UNARY_OP(exp, MU_EXP)
MATH_UNARY_OP(log, MU_LOG)
MATH_UNARY_OP(sqrt, MU_SQRT)
MATH_UNARY_OP(pow, MU_POW)
MATH_UNARY_OP(abs, MU_ABS)
MATH_UNARY_OP(neg, MU_NEG)
MATH_UNARY_OP(clamp, MU_CLAMP)
MATH_UNARY_OP(rsub, MU_RSUB)
#undef MATH_UNARY_OP

/* Records op on x (its shape) after the caller's checks; the caller stores the params before
 * the forward runs. */
static tg_node *record_unary(tg_tape *t, const tg_op_def *op, tg_node *x)
{
    return tg_tape_record(t, op, 1, &x, x->value.ndim, x->value.shape);
}

static tg_node *unary_op(tg_tape *t, const tg_op_def *op, tg_node *x)
{
    if (!tg_tape_check_inputs(t, op->name, 1, x))
        return NULL;
    return tg_tape_forward(t, record_unary(t, op, x));
}

tg_node *tg_square(tg_tape *t, tg_node *x) { return unary_op(t, &tg_op_square, x); }
tg_node *tg_exp(tg_tape *t, tg_node *x) { return unary_op(t, &tg_op_exp, x); }
tg_node *tg_log(tg_tape *t, tg_node *x) { return unary_op(t, &tg_op_log, x); }
tg_node *tg_sqrt(tg_tape *t, tg_node *x) { return unary_op(t, &tg_op_sqrt, x); }
tg_node *tg_abs(tg_tape *t, tg_node *x) { return unary_op(t, &tg_op_abs, x); }
tg_node *tg_neg(tg_tape *t, tg_node *x) { return unary_op(t, &tg_op_neg, x); }

/* A one-input op with constants c (pow: p; clamp: lo, hi; rsub: c): refused, naming the op and
 * `why`, unless `valid`; the constants go into the node's params before the forward runs. */
static tg_node *unary_with_constants(tg_tape *t, const tg_op_def *op, tg_node *x, bool valid, const char *why,
                                     const float c[2])
{
    if (!tg_tape_check_inputs(t, op->name, 1, x))
        return NULL;
    if (!valid)
        return tg_tape_fail(t, TG_ERR_ARG, "%s: %s", op->name, why);
    tg_node *n = record_unary(t, op, x);
    if (n && op == &tg_op_pow)
        pow_params_set(n, (pow_params){c[0]});
    else if (n && op == &tg_op_clamp)
        clamp_params_set(n, (clamp_params){c[0], c[1]});
    else if (n)
        rsub_params_set(n, (rsub_params){c[0]});
    return tg_tape_forward(t, n);
}

tg_node *tg_pow(tg_tape *t, tg_node *x, float p)
{
    char why[64];
    snprintf(why, sizeof why, "exponent %g is not finite", (double)p);
    return unary_with_constants(t, &tg_op_pow, x, isfinite(p), why, (float[2]){p, 0.0f});
}

tg_node *tg_clamp(tg_tape *t, tg_node *x, float lo, float hi)
{
    char why[96];
    snprintf(why, sizeof why, "bounds [%g, %g]: need lo <= hi", (double)lo, (double)hi);
    /* !(lo <= hi) also refuses a NaN bound */
    return unary_with_constants(t, &tg_op_clamp, x, lo <= hi, why, (float[2]){lo, hi});
}

tg_node *tg_rsub(tg_tape *t, tg_node *x, float c)
{
    char why[64];
    snprintf(why, sizeof why, "constant %g is not finite", (double)c);
    return unary_with_constants(t, &tg_op_rsub, x, isfinite(c), why, (float[2]){c, 0.0f});
}

tg_node *tg_one_minus(tg_tape *t, tg_node *x) { return tg_rsub(t, x, 1.0f); }

/* ---- softmax and log_softmax over the last dimension ---------------------------------------
 *
 * Stable: each row is shifted by its maximum m, so every exponent is <= 0 and the sum s of
 * e^{x-m} is in [1, C] (its largest term is e⁰ = 1); s is summed in double.  log_softmax is
 * computed as (x - m) - ln s, never as ln(softmax), which would underflow to -inf. */

/* Rows and row length of the last-dimension reading: C = shape[ndim-1], R = size / C. */
static size_t last_dim(const tg_node *n) { return n->value.shape[n->value.ndim - 1]; }


// x [R,C] -> y [R,C], each row softmax(x_i) (log: log_softmax(x_i))
static void softmax_forward(tg_node *n, bool log_of)
{
    const float *x = n->in[0]->value.data;
    float *y = n->value.data;
    size_t C = last_dim(n), R = n->value.size / C;
    for (size_t i = 0; i < R; i++) {
        double log_s;
        float m = row_max_log_sum(x + i * C, C, &log_s);
        for (size_t j = 0; j < C; j++) {
            double shifted = (double)x[i * C + j] - (double)m - log_s; /* ln softmax */
            y[i * C + j] = (float)(log_of ? shifted : exp(shifted));
        }
    }
}

void tg_op_softmax_forward(tg_node *n) { softmax_forward(n, false); }
void tg_op_log_softmax_forward(tg_node *n) { softmax_forward(n, true); }

/* y = softmax(x) per row: ∂y_j/∂x_k = y_j(δ_jk - y_k), so
 *     dx_k = Σ_j dy_j·y_j(δ_jk - y_k) = y_k·(dy_k - Σ_j dy_j·y_j). */
void tg_op_softmax_backward(tg_node *n)
{
    const float *y = n->value.data, *dy = n->grad.data;
    float *dx = n->in[0]->grad.data;
    size_t C = last_dim(n), R = n->value.size / C;
    for (size_t i = 0; i < R; i++) {
        double dot = 0.0;
        for (size_t j = 0; j < C; j++)
            dot += (double)dy[i * C + j] * y[i * C + j];
        for (size_t j = 0; j < C; j++)
            dx[i * C + j] += (float)((double)y[i * C + j] * ((double)dy[i * C + j] - dot));
    }
}

/* y = x - lse(x) per row: ∂y_j/∂x_k = δ_jk - softmax_k = δ_jk - e^{y_k}, so
 *     dx_k = dy_k - e^{y_k}·Σ_j dy_j. */
void tg_op_log_softmax_backward(tg_node *n)
{
    const float *y = n->value.data, *dy = n->grad.data;
    float *dx = n->in[0]->grad.data;
    size_t C = last_dim(n), R = n->value.size / C;
    for (size_t i = 0; i < R; i++) {
        double total = lanes_sum(dy + i * C, C);
        for (size_t j = 0; j < C; j++)
            dx[i * C + j] += (float)((double)dy[i * C + j] - exp((double)y[i * C + j]) * total);
    }
}

tg_node *tg_softmax(tg_tape *t, tg_node *x) { return unary_op(t, &tg_op_softmax, x); }
tg_node *tg_log_softmax(tg_tape *t, tg_node *x) { return unary_op(t, &tg_op_log_softmax, x); }

/* ---- reductions along an axis of x [M,N]: axis 0 -> y [1,N], axis 1 -> y [M,1] -------------
 *
 * Sums accumulate in double and round once (ops_reduce.c says why); the mean divides that sum
 * by the count before rounding, as tg_mean does. */

typedef struct axis_params {
    int axis;
} axis_params;
TG_OP_PARAMS(axis_params)

/* The index k < count of the first maximum of x[0], x[stride], ..., x[(count-1)·stride]; a NaN
 * counts as the maximum (the first NaN wins), so that max_axis propagates it. */
static size_t first_max(const float *x, size_t count, size_t stride)
{
    size_t best = 0;
    for (size_t k = 1; k < count && !isnan(x[best * stride]); k++)
        if (x[k * stride] > x[best * stride] || isnan(x[k * stride]))
            best = k;
    return best;
}

// x [M,N] -> y [1,N] (axis 0) or [M,1] (axis 1), scale·Σ along the axis (sum: 1, mean: 1/count)
static void axis_sum_forward(tg_node *n, bool mean)
{
    const float *x = n->in[0]->value.data;
    float *y = n->value.data;
    size_t M = tg_rows(n->in[0]), N = tg_cols(n->in[0]);
    bool rows = axis_params_of(n).axis == 0;
    double count = mean ? (double)(rows ? M : N) : 1.0;
    if (!rows) {
        for (size_t i = 0; i < M; i++)
            y[i] = (float)(lanes_sum(x + i * N, N) / count);
        return;
    }
    for (size_t j0 = 0; j0 < N; j0 += TG_COL_BLOCK) { /* row by row, a block of columns at a time */
        size_t width = N - j0 < TG_COL_BLOCK ? N - j0 : TG_COL_BLOCK;
        double acc[TG_COL_BLOCK] = {0};
        for (size_t i = 0; i < M; i++)
            for (size_t j = 0; j < width; j++)
                acc[j] += x[i * N + j0 + j];
        for (size_t j = 0; j < width; j++)
            y[j0 + j] = (float)(acc[j] / count);
    }
}

/* dx_ij += dy_j / count (axis 0) or dy_i / count (axis 1); count 1 for the sum */
static void axis_sum_backward(tg_node *n, bool mean)
{
    float *dx = n->in[0]->grad.data;
    const float *dy = n->grad.data;
    size_t M = tg_rows(n->in[0]), N = tg_cols(n->in[0]);
    bool rows = axis_params_of(n).axis == 0;
    double count = mean ? (double)(rows ? M : N) : 1.0;
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++)
            dx[i * N + j] += (float)((double)dy[rows ? j : i] / count);
}

void tg_op_sum_axis_forward(tg_node *n) { axis_sum_forward(n, false); }
void tg_op_sum_axis_backward(tg_node *n) { axis_sum_backward(n, false); }
void tg_op_mean_axis_forward(tg_node *n) { axis_sum_forward(n, true); }
void tg_op_mean_axis_backward(tg_node *n) { axis_sum_backward(n, true); }

/* axis 0: y_j = x[first max of column j]; axis 1: y_i = x[first max of row i] */
void tg_op_max_axis_forward(tg_node *n)
{
    const float *x = n->in[0]->value.data;
    size_t M = tg_rows(n->in[0]), N = tg_cols(n->in[0]);
    if (axis_params_of(n).axis == 0)
        for (size_t j = 0; j < N; j++)
            n->value.data[j] = x[first_max(x + j, M, N) * N + j];
    else
        for (size_t i = 0; i < M; i++)
            n->value.data[i] = x[i * N + first_max(x + i * N, N, 1)];
}

/* dy goes to the element the forward picked (the same first maximum, found again), 0 elsewhere */
void tg_op_max_axis_backward(tg_node *n)
{
    const float *x = n->in[0]->value.data, *dy = n->grad.data;
    float *dx = n->in[0]->grad.data;
    size_t M = tg_rows(n->in[0]), N = tg_cols(n->in[0]);
    if (axis_params_of(n).axis == 0)
        for (size_t j = 0; j < N; j++)
            dx[first_max(x + j, M, N) * N + j] += dy[j];
    else
        for (size_t i = 0; i < M; i++)
            dx[i * N + first_max(x + i * N, N, 1)] += dy[i];
}

/* x must be 2-D and axis 0 or 1. */
static tg_node *axis_op(tg_tape *t, const tg_op_def *op, tg_node *x, int axis)
{
    if (!tg_tape_check_inputs(t, op->name, 1, x))
        return NULL;
    if (x->value.ndim != 2)
        return tg_tape_fail(t, TG_ERR_SHAPE, "%s: %s: needs a 2-D input [M,N]", op->name, SHAPE(x));
    if (axis != 0 && axis != 1)
        return tg_tape_fail(t, TG_ERR_ARG, "%s: axis %d: must be 0 (over rows) or 1 (over columns)", op->name, axis);
    size_t shape[2] = {axis == 0 ? 1 : tg_rows(x), axis == 0 ? tg_cols(x) : 1};
    tg_node *n = tg_tape_record(t, op, 1, &x, 2, shape);
    if (n)
        axis_params_set(n, (axis_params){axis});
    return tg_tape_forward(t, n);
}

tg_node *tg_sum_axis(tg_tape *t, tg_node *x, int axis) { return axis_op(t, &tg_op_sum_axis, x, axis); }
tg_node *tg_mean_axis(tg_tape *t, tg_node *x, int axis) { return axis_op(t, &tg_op_mean_axis, x, axis); }
tg_node *tg_max_axis(tg_tape *t, tg_node *x, int axis) { return axis_op(t, &tg_op_max_axis, x, axis); }

/* ---- argmax: no gradient, so a plain function rather than an op ---------------------------- */

size_t tg_argmax_rows(const tg_tensor *x, int32_t *idx)
{
    if (x->ndim == 0 || x->size == 0)
        return 0;
    size_t C = x->shape[x->ndim - 1], R = x->size / C;
    for (size_t i = 0; i < R; i++)
        idx[i] = (int32_t)first_max(x->data + i * C, C, 1);
    return R;
}
