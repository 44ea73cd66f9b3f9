/* autograd/jvp_rules.c — the tangent rules of the products, the elementwise ops, the shape ops
 * and the reductions (jvp_internal.h says what a rule is; the formulas are ops.def's, each
 * differentiated along its inputs' tangents ẋ).
 *
 * Each rule uses the node's own inputs and output as nodes (not their numbers), so that the
 * tangent stays differentiable in them: reverse mode through it gives second derivatives.  Where
 * a derivative is piecewise constant (max's choice, abs's sign, clamp's range) it enters as a
 * constant input of 0/±1 read off the values: its own derivative is zero wherever it exists. */
#include "jvp_internal.h"

#include <string.h>

/* ---- products: (A·B)˙ = Ȧ·B + A·Ḃ, with the op's transposes ---------------------------------- */

static tg_node *matmul_jvp(tg_tape *t, tg_node *n, tg_node *const *dx, bool ta, bool tb)
{
    tg_node *A = n->in[0], *B = n->in[1];
    tg_node *left = dx[0] ? tg_matmul(t, dx[0], B, ta, tb) : NULL;
    return jvp_sum(t, left, dx[1] ? tg_matmul(t, A, dx[1], ta, tb) : NULL);
}

tg_node *tg_op_matmul_nn_jvp(tg_tape *t, tg_node *n, tg_node *const *dx) { return matmul_jvp(t, n, dx, false, false); }
tg_node *tg_op_matmul_nt_jvp(tg_tape *t, tg_node *n, tg_node *const *dx) { return matmul_jvp(t, n, dx, false, true); }
tg_node *tg_op_matmul_tn_jvp(tg_tape *t, tg_node *n, tg_node *const *dx) { return matmul_jvp(t, n, dx, true, false); }
tg_node *tg_op_matmul_tt_jvp(tg_tape *t, tg_node *n, tg_node *const *dx) { return matmul_jvp(t, n, dx, true, true); }

/* Ẏ = Ẋ·op(W) + ḃ + X·op(Ẇ): the first two as one affine when both are there */
tg_node *tg_op_affine_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    bool tw = affine_params_of(n).trans_w;
    tg_node *X = n->in[0], *W = n->in[1];
    tg_node *dY = NULL;
    if (dx[0] && dx[2])
        dY = tg_affine(t, dx[0], W, dx[2], tw);
    else if (dx[0])
        dY = tg_matmul(t, dx[0], W, false, tw);
    dY = jvp_sum(t, dY, dx[1] ? tg_matmul(t, X, dx[1], false, tw) : NULL);
    if (dx[2] && !dx[0])
        dY = jvp_as_shape_of(t, jvp_sum(t, dY, dx[2]), n);
    return dY;
}

/* ---- add, sub, mul (broadcast: the ops broadcast the tangents the same way) ------------------ */

tg_node *tg_op_add_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    return jvp_as_shape_of(t, jvp_sum(t, dx[0], dx[1]), n);
}

tg_node *tg_op_sub_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    return jvp_as_shape_of(t, jvp_diff(t, dx[0], dx[1]), n);
}

/* ȧ⊙b + a⊙ḃ */
tg_node *tg_op_mul_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    tg_node *a = n->in[0], *b = n->in[1];
    tg_node *d = jvp_sum(t, dx[0] ? tg_mul(t, dx[0], b) : NULL, dx[1] ? tg_mul(t, a, dx[1]) : NULL);
    return jvp_as_shape_of(t, d, n);
}

/* ---- shapes and constants: linear, so the tangent is the op applied to the tangent ----------- */

tg_node *tg_op_reshape_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    return tg_reshape(t, dx[0], n->value.ndim, n->value.shape);
}

tg_node *tg_op_slice_jvp(tg_tape *t, tg_node *n, tg_node *const *dx) { return jvp_reapply(t, n, dx); }

/* [ȧ, ḃ]: a zero tangent is a constant 0 of its input's shape here (concat needs both parts) */
tg_node *tg_op_concat_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    tg_node *in[2];
    for (int k = 0; k < 2; k++) {
        const tg_tensor *x = &n->in[k]->value;
        in[k] = dx[k] ? dx[k] : tg_const(t, 0.0f, x->ndim, x->shape);
    }
    return jvp_reapply(t, n, in);
}

tg_node *tg_op_transpose_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    (void)n;
    return tg_transpose_of(t, dx[0]);
}

/* a leaf: no input, so never called with a tangent (the sweep skips it); zero */
tg_node *tg_op_const_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    (void)t, (void)n, (void)dx;
    return NULL;
}

tg_node *tg_op_add_scalar_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    (void)t, (void)n;
    return dx[0];
}

tg_node *tg_op_scale_jvp(tg_tape *t, tg_node *n, tg_node *const *dx) { return jvp_reapply(t, n, dx); }

tg_node *tg_op_sum_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    (void)n;
    return tg_sum(t, dx[0]);
}

tg_node *tg_op_mean_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    (void)n;
    return tg_mean(t, dx[0]);
}

/* ---- one-input math ---------------------------------------------------------------------------- */

/* 2x⊙ẋ */
tg_node *tg_op_square_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    return tg_scale(t, tg_mul(t, n->in[0], dx[0]), 2.0f);
}

/* y⊙ẋ */
tg_node *tg_op_exp_jvp(tg_tape *t, tg_node *n, tg_node *const *dx) { return tg_mul(t, n, dx[0]); }

/* ẋ/x */
tg_node *tg_op_log_jvp(tg_tape *t, tg_node *n, tg_node *const *dx) { return tg_div(t, dx[0], n->in[0]); }

/* ẋ/(2y) */
tg_node *tg_op_sqrt_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    return tg_div(t, tg_scale(t, dx[0], 0.5f), n);
}

/* p·x^(p-1)⊙ẋ; zero for p = 0 (y = 1) */
tg_node *tg_op_pow_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    float p = pow_params_of(n).p;
    if (p == 0.0f)
        return NULL;
    tg_node *slope = p == 1.0f ? NULL : tg_scale(t, tg_pow(t, n->in[0], p - 1.0f), p);
    return slope ? tg_mul(t, slope, dx[0]) : dx[0];
}

tg_node *tg_op_neg_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    (void)n;
    return tg_neg(t, dx[0]);
}

tg_node *tg_op_rsub_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    (void)n;
    return tg_neg(t, dx[0]);
}

/* sign(x)⊙ẋ, sign(0) = 0 (abs's backward's choice) */
tg_node *tg_op_abs_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    tg_node *sign = jvp_constant_like(t, n);
    if (!sign)
        return NULL;
    const float *x = n->in[0]->value.data;
    for (size_t k = 0; k < n->value.size; k++)
        sign->value.data[k] = (float)((x[k] > 0.0f) - (x[k] < 0.0f));
    return tg_mul(t, sign, dx[0]);
}

/* [lo <= x <= hi]⊙ẋ: inside the range clamp's output is its input, outside a bound */
tg_node *tg_op_clamp_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    tg_node *inside = jvp_constant_like(t, n);
    if (!inside)
        return NULL;
    const float *x = n->in[0]->value.data;
    for (size_t k = 0; k < n->value.size; k++)
        inside->value.data[k] = n->value.data[k] == x[k] ? 1.0f : 0.0f;
    return tg_mul(t, inside, dx[0]);
}

/* ---- div, max, min ----------------------------------------------------------------------------- */

/* (ȧ - y⊙ḃ) / b */
tg_node *tg_op_div_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    tg_node *b = n->in[1];
    tg_node *top = jvp_diff(t, dx[0], dx[1] ? tg_mul(t, n, dx[1]) : NULL);
    return jvp_as_shape_of(t, tg_div(t, top, b), n);
}

/* ẏ = ȧ + m⊙(ḃ - ȧ), m = [b wins] as a node: the slope of relu(b - a) (max; ties go to a, as
 * in the backward) or of relu(a - b) (min).  All ops, so the broadcasts are the ops' own. */
static tg_node *choice_jvp(tg_tape *t, tg_node *n, tg_node *const *dx, bool max)
{
    tg_node *a = n->in[0], *b = n->in[1];
    tg_activation relu = tg_activation_of(TG_ACT_RELU);
    tg_node *b_wins = tg_activation_slope_of(t, tg_relu(t, max ? tg_sub(t, b, a) : tg_sub(t, a, b)), relu);
    tg_node *d = jvp_sum(t, dx[0], tg_mul(t, b_wins, jvp_diff(t, dx[1], dx[0])));
    return jvp_as_shape_of(t, d, n);
}

tg_node *tg_op_max_jvp(tg_tape *t, tg_node *n, tg_node *const *dx) { return choice_jvp(t, n, dx, true); }
tg_node *tg_op_min_jvp(tg_tape *t, tg_node *n, tg_node *const *dx) { return choice_jvp(t, n, dx, false); }

/* ---- softmax, log_softmax: rows of the last dimension ------------------------------------------ */

/* A node as [rows, last dimension] (itself when it already is). */
static tg_node *as_rows(tg_tape *t, tg_node *x)
{
    size_t C = x->value.shape[x->value.ndim - 1];
    if (x->value.ndim == 2)
        return x;
    return tg_reshape(t, x, 2, (size_t[]){x->value.size / C, C});
}

static tg_node *like(tg_tape *t, tg_node *d, const tg_node *n)
{
    return n->value.ndim == 2 ? d : tg_reshape(t, d, n->value.ndim, n->value.shape);
}

/* ẏ = y⊙(ẋ - Σ_k y_k ẋ_k) per row */
tg_node *tg_op_softmax_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    tg_node *y = as_rows(t, n), *d = as_rows(t, dx[0]);
    tg_node *mean = tg_sum_axis(t, tg_mul(t, y, d), 1); /* [R,1] */
    return like(t, tg_mul(t, y, tg_sub(t, d, mean)), n);
}

/* ẏ = ẋ - Σ_k softmax_k ẋ_k per row, softmax = e^y */
tg_node *tg_op_log_softmax_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    tg_node *y = as_rows(t, n), *d = as_rows(t, dx[0]);
    tg_node *mean = tg_sum_axis(t, tg_mul(t, tg_exp(t, y), d), 1);
    return like(t, tg_sub(t, d, mean), n);
}

/* ---- reductions along an axis: the axis read off the shapes ------------------------------------
 * axis 0 gives [1,N], axis 1 [M,1]; the two agree only when x is [1,1], where either is right. */

static int axis_of(const tg_node *n)
{
    return tg_rows(n) == 1 && tg_cols(n) == tg_cols(n->in[0]) ? 0 : 1;
}

tg_node *tg_op_sum_axis_jvp(tg_tape *t, tg_node *n, tg_node *const *dx) { return tg_sum_axis(t, dx[0], axis_of(n)); }
tg_node *tg_op_mean_axis_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    return tg_mean_axis(t, dx[0], axis_of(n));
}

/* ẋ at the first maximum of each row (axis 1) or column (axis 0): Σ along the axis of
 * onehot⊙ẋ, the one-hot a constant (the backward's choice, ties: the first) */
tg_node *tg_op_max_axis_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    tg_node *x = n->in[0], *pick = jvp_constant_like(t, x);
    if (!pick)
        return NULL;
    int axis = axis_of(n);
    size_t M = tg_rows(x), N = tg_cols(x), lines = axis ? M : N, along = axis ? N : M;
    memset(pick->value.data, 0, x->value.size * sizeof(float));
    for (size_t l = 0; l < lines; l++)
        for (size_t k = 0; k < along; k++) {
            size_t at = axis ? l * N + k : k * N + l;
            float v = x->value.data[at], m = n->value.data[l];
            if (v == m || (isnan(v) && isnan(m))) {
                pick->value.data[at] = 1.0f;
                break;
            }
        }
    return tg_sum_axis(t, tg_mul(t, pick, dx[0]), axis);
}
