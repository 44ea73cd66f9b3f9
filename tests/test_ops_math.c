/* tests/test_ops_math.c — the math ops of autograd/ops_math.c against values worked out by hand:
 * each op's value and its gradient (through sum, or through Σ w·y when a plain sum would give
 * zeros or hide a wrong element), the documented choices at kinks and ties, NaN, argmax, the
 * constructors' checks.  (The gradients against finite differences: test_gradcheck.c.) */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "autograd/ops.h"
#include "tensor/parallel.h"

#include "tape_test.h"

#define TOL 1e-6f

static tg_tape *new_tape(void)
{
    tg_error err = {0};
    tg_tape *t = tg_tape_new(&err);
    cr_assert_not_null(t, "%s", err.msg);
    return t;
}

/* A param [rows, cols] holding values (rows 0: a 1-D [cols]). */
static void param_of(tg_param *p, size_t rows, size_t cols, const float *values)
{
    int ndim = rows ? 2 : 1;
    size_t shape[2] = {rows ? rows : cols, cols};
    cr_assert_eq(tg_param_init(p, "p", ndim, rows ? shape : &shape[1], NULL), TG_OK);
    memcpy(p->value.data, values, p->value.size * sizeof(float));
}

/* A constant input with the given shape and values (arena memory of the tape). */
static tg_node *input_of(tg_tape *t, size_t rows, size_t cols, const float *values)
{
    tg_node *n = tg_input_new(t, 2, (size_t[]){rows, cols});
    cr_assert_not_null(n);
    memcpy(n->value.data, values, rows * cols * sizeof(float));
    return n;
}

static void expect_values(const float *got, const float *want, size_t n, const char *what)
{
    for (size_t k = 0; k < n; k++)
        cr_assert_float_eq(got[k], want[k], TOL, "%s[%zu]: %g, expected %g", what, k, (double)got[k], (double)want[k]);
}

/* L = Σ y, then backward: every dy is 1. */
static void backward_of_sum(tg_tape *t, tg_node *y)
{
    cr_assert_not_null(y, "%s", tg_tape_error(t));
    cr_assert_eq(tg_backward(t, tg_sum(t, y), NULL), TG_OK, "%s", tg_tape_error(t));
}

/* L = Σ w ⊙ y, then backward: dy = w. */
static void backward_of_weighted(tg_tape *t, tg_node *y, tg_node *w)
{
    cr_assert_not_null(y, "%s", tg_tape_error(t));
    cr_assert_eq(tg_backward(t, tg_sum(t, tg_mul(t, y, w)), NULL), TG_OK, "%s", tg_tape_error(t));
}

/* ---- two inputs ------------------------------------------------------------------------- */

Test(ops_math, div_same_shape_and_row)
{
    tg_tape *t = new_tape();
    tg_param a, b;
    param_of(&a, 1, 3, (float[]){6, -3, 1});
    param_of(&b, 1, 3, (float[]){2, 4, -0.5f});
    tg_node *y = tg_div(t, tg_param_leaf(t, &a), tg_param_leaf(t, &b));
    expect_values(y->value.data, (float[]){3, -0.75f, -2}, 3, "a/b");
    backward_of_sum(t, y);
    expect_values(a.grad.data, (float[]){0.5f, 0.25f, -2}, 3, "da = 1/b");
    expect_values(b.grad.data, (float[]){-1.5f, 0.1875f, -4}, 3, "db = -a/b²");
    tg_param_free(&a);
    tg_param_free(&b);

    /* b a row [2] over a [2,2]: db_j = -Σ_i a_ij / b_j² */
    tg_tape_reset(t);
    param_of(&a, 2, 2, (float[]){1, 2, 3, 4});
    param_of(&b, 0, 2, (float[]){2, 4});
    y = tg_div(t, tg_param_leaf(t, &a), tg_param_leaf(t, &b));
    expect_values(y->value.data, (float[]){0.5f, 0.5f, 1.5f, 1}, 4, "a/row");
    backward_of_sum(t, y);
    expect_values(b.grad.data, (float[]){-1, -0.375f}, 2, "db of a row");
    tg_param_free(&a);
    tg_param_free(&b);
    tg_tape_free(t);
}

/* max and min: the gradient follows the value taken; a tie (2 vs 2) goes to a. */
Test(ops_math, max_min_ties_go_to_a)
{
    tg_tape *t = new_tape();
    tg_param a, b;
    param_of(&a, 1, 3, (float[]){1, 2, 3});
    param_of(&b, 1, 3, (float[]){2, 2, 1});
    tg_node *y = tg_max(t, tg_param_leaf(t, &a), tg_param_leaf(t, &b));
    expect_values(y->value.data, (float[]){2, 2, 3}, 3, "max");
    backward_of_sum(t, y);
    expect_values(a.grad.data, (float[]){0, 1, 1}, 3, "max da");
    expect_values(b.grad.data, (float[]){1, 0, 0}, 3, "max db");

    tg_tape_reset(t);
    tg_param_zero_grad(&a);
    tg_param_zero_grad(&b);
    y = tg_min(t, tg_param_leaf(t, &a), tg_param_leaf(t, &b));
    expect_values(y->value.data, (float[]){1, 2, 1}, 3, "min");
    backward_of_sum(t, y);
    expect_values(a.grad.data, (float[]){1, 1, 0}, 3, "min da");
    expect_values(b.grad.data, (float[]){0, 0, 1}, 3, "min db");
    tg_param_free(&a);
    tg_param_free(&b);
    tg_tape_free(t);
}

Test(ops_math, max_min_clamp_propagate_nan)
{
    tg_tape *t = new_tape();
    tg_node *a = input_of(t, 1, 2, (float[]){NAN, 1}), *b = input_of(t, 1, 2, (float[]){1, NAN});
    tg_node *hi = tg_max(t, a, b), *lo = tg_min(t, a, b), *c = tg_clamp(t, a, 0.0f, 0.5f);
    for (int k = 0; k < 2; k++) {
        cr_assert(isnan(hi->value.data[k]), "max[%d] = %g", k, (double)hi->value.data[k]);
        cr_assert(isnan(lo->value.data[k]), "min[%d] = %g", k, (double)lo->value.data[k]);
    }
    cr_assert(isnan(c->value.data[0]));
    cr_assert_float_eq(c->value.data[1], 0.5f, TOL);
    tg_tape_free(t);
}

/* ---- one input ---------------------------------------------------------------------------- */

/* op(x) and, through Σ, dx, for x [1,n] */
static void check_unary(tg_node *(*apply)(tg_tape *, tg_node *), size_t n, const float *x, const float *y,
                        const float *dx, const char *name)
{
    tg_tape *t = new_tape();
    tg_param p;
    param_of(&p, 1, n, x);
    tg_node *out = apply(t, tg_param_leaf(t, &p));
    cr_assert_not_null(out, "%s: %s", name, tg_tape_error(t));
    cr_assert_str_eq(out->op->name, name);
    expect_values(out->value.data, y, n, name);
    backward_of_sum(t, out);
    expect_values(p.grad.data, dx, n, name);
    tg_param_free(&p);
    tg_tape_free(t);
}

static tg_node *pow3(tg_tape *t, tg_node *x) { return tg_pow(t, x, 3.0f); }
static tg_node *pow_half(tg_tape *t, tg_node *x) { return tg_pow(t, x, 0.5f); }
static tg_node *pow0(tg_tape *t, tg_node *x) { return tg_pow(t, x, 0.0f); }
static tg_node *clamp_m1_2(tg_tape *t, tg_node *x) { return tg_clamp(t, x, -1.0f, 2.0f); }
static tg_node *rsub3(tg_tape *t, tg_node *x) { return tg_rsub(t, x, 3.0f); }

Test(ops_math, unary_values_and_gradients)
{
    check_unary(tg_sqrt, 3, (float[]){4, 0.25f, 9}, (float[]){2, 0.5f, 3}, (float[]){0.25f, 1, 1.0f / 6}, "sqrt");
    check_unary(pow3, 3, (float[]){2, -3, 0}, (float[]){8, -27, 0}, (float[]){12, 27, 0}, "pow");
    check_unary(pow_half, 2, (float[]){4, 0.25f}, (float[]){2, 0.5f}, (float[]){0.25f, 1}, "pow");
    /* p = 0: x⁰ = 1 everywhere and the gradient 0, also at x = 0 (not 0·0⁻¹ = NaN) */
    check_unary(pow0, 2, (float[]){0, 5}, (float[]){1, 1}, (float[]){0, 0}, "pow");
    /* sign(0) = 0 */
    check_unary(tg_abs, 3, (float[]){-2, 0, 3}, (float[]){2, 0, 3}, (float[]){-1, 0, 1}, "abs");
    check_unary(tg_neg, 2, (float[]){1.5f, -2}, (float[]){-1.5f, 2}, (float[]){-1, -1}, "neg");
    /* the bounds themselves pass the gradient; values cut off do not */
    check_unary(clamp_m1_2, 5, (float[]){-3, -1, 0.5f, 2, 5}, (float[]){-1, -1, 0.5f, 2, 2}, (float[]){0, 1, 1, 1, 0},
                "clamp");
    check_unary(rsub3, 2, (float[]){1, -2}, (float[]){2, 5}, (float[]){-1, -1}, "rsub");
    check_unary(tg_one_minus, 2, (float[]){0.25f, 2}, (float[]){0.75f, -1}, (float[]){-1, -1}, "rsub");
}

/* ---- softmax and log_softmax ------------------------------------------------------------ */

/* Row 0: e^x = 1, 2, 3 -> 1/6, 1/3, 1/2; row 1: equal logits of 1000 (the shift by the max
 * keeps e^x finite) -> 1/3 each.  Through Σ w·y with w = (1, 0, 0) in each row:
 *   softmax:      dx_k = y_k·(w_k - Σ_j w_j y_j) = y_k·(w_k - y_0)
 *   log_softmax:  dx_k = w_k - softmax_k·Σ_j w_j = w_k - softmax_k */
Test(ops_math, softmax_and_log_softmax)
{
    const float x[6] = {0, logf(2), logf(3), 1000, 1000, 1000}, w[6] = {1, 0, 0, 1, 0, 0};
    const float third = 1.0f / 3;
    tg_tape *t = new_tape();
    tg_param p;
    param_of(&p, 2, 3, x);
    tg_node *y = tg_softmax(t, tg_param_leaf(t, &p));
    expect_values(y->value.data, (float[]){1.0f / 6, third, 0.5f, third, third, third}, 6, "softmax");
    backward_of_weighted(t, y, input_of(t, 2, 3, w));
    expect_values(p.grad.data,
                  (float[]){5.0f / 36, -1.0f / 18, -1.0f / 12, third * (1 - third), -third * third, -third * third}, 6,
                  "softmax dx");

    tg_tape_reset(t);
    tg_param_zero_grad(&p);
    y = tg_log_softmax(t, tg_param_leaf(t, &p));
    expect_values(y->value.data, (float[]){-logf(6), -logf(3), -logf(2), -logf(3), -logf(3), -logf(3)}, 6,
                  "log_softmax");
    backward_of_weighted(t, y, input_of(t, 2, 3, w));
    expect_values(p.grad.data, (float[]){5.0f / 6, -third, -0.5f, 1 - third, -third, -third}, 6, "log_softmax dx");
    tg_param_free(&p);
    tg_tape_free(t);
}

/* Far-apart logits: softmax is exactly (0, 1), log_softmax (-1000, 0), never -inf or NaN. */
Test(ops_math, softmax_stable_for_large_logits)
{
    tg_tape *t = new_tape();
    tg_node *x = input_of(t, 1, 2, (float[]){-1000, 0});
    expect_values(tg_softmax(t, x)->value.data, (float[]){0, 1}, 2, "softmax");
    expect_values(tg_log_softmax(t, x)->value.data, (float[]){-1000, 0}, 2, "log_softmax");
    tg_tape_free(t);
}

/* Rows are the last dimension: [2,1,3] gives the rows of [2,3]. */
Test(ops_math, softmax_over_the_last_dimension)
{
    const float x[6] = {0.5f, -1, 2, 3, 0, 1};
    tg_tape *t = new_tape();
    tg_node *x3 = tg_input_new(t, 3, (size_t[]){2, 1, 3});
    memcpy(x3->value.data, x, sizeof x);
    tg_node *y3 = tg_softmax(t, x3), *y2 = tg_softmax(t, input_of(t, 2, 3, x));
    cr_assert_eq(y3->value.ndim, 3);
    cr_assert_eq(memcmp(y3->value.data, y2->value.data, sizeof x), 0);
    tg_tape_free(t);
}

/* ---- reductions along an axis ------------------------------------------------------------- */

/* x = [[1,2,3],[4,5,6]]; the weights tell the rows (or columns) of dy apart. */
Test(ops_math, sum_and_mean_along_an_axis)
{
    const float x[6] = {1, 2, 3, 4, 5, 6};
    tg_tape *t = new_tape();
    tg_param p;
    param_of(&p, 2, 3, x);
    struct {
        tg_node *(*op)(tg_tape *, tg_node *, int);
        int axis;
        size_t rows, cols;
        float y[3], w[3], dx[6];
    } cases[] = {
        {tg_sum_axis, 0, 1, 3, {5, 7, 9}, {1, 2, 3}, {1, 2, 3, 1, 2, 3}},
        {tg_sum_axis, 1, 2, 1, {6, 15}, {1, 2}, {1, 1, 1, 2, 2, 2}},
        {tg_mean_axis, 0, 1, 3, {2.5f, 3.5f, 4.5f}, {1, 2, 3}, {0.5f, 1, 1.5f, 0.5f, 1, 1.5f}},
        {tg_mean_axis, 1, 2, 1, {2, 5}, {3, 6}, {1, 1, 1, 2, 2, 2}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        tg_tape_reset(t);
        tg_param_zero_grad(&p);
        tg_node *y = cases[c].op(t, tg_param_leaf(t, &p), cases[c].axis);
        cr_assert_not_null(y, "%s", tg_tape_error(t));
        cr_assert(y->value.ndim == 2 && y->value.shape[0] == cases[c].rows && y->value.shape[1] == cases[c].cols,
                  "case %zu: shape", c);
        expect_values(y->value.data, cases[c].y, cases[c].rows * cases[c].cols, y->op->name);
        backward_of_weighted(t, y, input_of(t, cases[c].rows, cases[c].cols, cases[c].w));
        expect_values(p.grad.data, cases[c].dx, 6, y->op->name);
    }
    tg_param_free(&p);
    tg_tape_free(t);
}

/* x = [[1,5,7],[7,2,7]]: column 2 and row 1 tie at 7; the first one takes the gradient. */
Test(ops_math, max_axis_ties_go_to_the_first)
{
    tg_tape *t = new_tape();
    tg_param p;
    param_of(&p, 2, 3, (float[]){1, 5, 7, 7, 2, 7});
    tg_node *y = tg_max_axis(t, tg_param_leaf(t, &p), 0);
    expect_values(y->value.data, (float[]){7, 5, 7}, 3, "max_axis 0");
    backward_of_sum(t, y);
    expect_values(p.grad.data, (float[]){0, 1, 1, 1, 0, 0}, 6, "max_axis 0 dx");

    tg_tape_reset(t);
    tg_param_zero_grad(&p);
    y = tg_max_axis(t, tg_param_leaf(t, &p), 1);
    expect_values(y->value.data, (float[]){7, 7}, 2, "max_axis 1");
    backward_of_sum(t, y);
    expect_values(p.grad.data, (float[]){0, 0, 1, 1, 0, 0}, 6, "max_axis 1 dx");
    tg_param_free(&p);
    tg_tape_free(t);
}

Test(ops_math, argmax_rows)
{
    tg_tensor x = {0};
    cr_assert_eq(tg_tensor_zeros2(&x, 3, 3, NULL), TG_OK);
    memcpy(x.data, (float[]){1, 5, 5, 7, 2, 7, -1, NAN, 3}, 9 * sizeof(float));
    int32_t idx[3] = {-1, -1, -1};
    cr_assert_eq(tg_argmax_rows(&x, idx), 3);
    cr_assert_eq(idx[0], 1, "a tie: the first");
    cr_assert_eq(idx[1], 0);
    cr_assert_eq(idx[2], 1, "a NaN counts as the maximum");
    tg_tensor_free(&x);

    cr_assert_eq(tg_tensor_zeros1(&x, 4, NULL), TG_OK); /* 1-D: one row */
    x.data[2] = 0.5f;
    cr_assert_eq(tg_argmax_rows(&x, idx), 1);
    cr_assert_eq(idx[0], 2);
    tg_tensor_free(&x);
}

/* ---- the constructors' checks ------------------------------------------------------------- */

Test(ops_math, constructor_messages)
{
    tg_tape *t = new_tape();
#define NODE(...) tg_input_new(t, 2, (size_t[]){__VA_ARGS__})
#define EXPECT_ERROR(call, code, message) EXPECT_TAPE_ERROR(t, call, code, message)
    EXPECT_ERROR(tg_div(t, NODE(3, 4), NODE(2, 4)), TG_ERR_SHAPE,
                 "div: [3,4] / [2,4]: shapes do not broadcast: a's dimension 0 is 3, b's dimension 0 is 2"
                 " (aligned from the right, each pair of sizes must be equal or one of them 1)");
    EXPECT_ERROR(tg_max(t, NODE(3, 4), NODE(1, 3)), TG_ERR_SHAPE,
                 "max: [3,4] and [1,3]: shapes do not broadcast: a's dimension 1 is 4, b's dimension 1 is 3"
                 " (aligned from the right, each pair of sizes must be equal or one of them 1)");
    EXPECT_ERROR(tg_min(t, NODE(4, 1), NODE(3, 2)), TG_ERR_SHAPE,
                 "min: [4,1] and [3,2]: shapes do not broadcast: a's dimension 0 is 4, b's dimension 0 is 3"
                 " (aligned from the right, each pair of sizes must be equal or one of them 1)");
    EXPECT_ERROR(tg_pow(t, NODE(2, 2), INFINITY), TG_ERR_ARG, "pow: exponent inf is not finite");
    EXPECT_ERROR(tg_clamp(t, NODE(2, 2), 1.0f, 0.0f), TG_ERR_ARG, "clamp: bounds [1, 0]: need lo <= hi");
    EXPECT_ERROR(tg_clamp(t, NODE(2, 2), NAN, 0.0f), TG_ERR_ARG, "clamp: bounds [nan, 0]: need lo <= hi");
    EXPECT_ERROR(tg_rsub(t, NODE(2, 2), NAN), TG_ERR_ARG, "rsub: constant nan is not finite");
    EXPECT_ERROR(tg_sum_axis(t, NODE(2, 2), 2), TG_ERR_ARG, "sum_axis: axis 2: must be 0 (over rows) or 1 (over columns)");
    EXPECT_ERROR(tg_max_axis(t, tg_input_new(t, 3, (size_t[]){2, 2, 2}), 0), TG_ERR_SHAPE,
                 "max_axis: [2,2,2]: needs a 2-D input [M,N]");
    EXPECT_ERROR(tg_softmax(t, NULL), TG_ERR_ARG, "softmax: input 0 is NULL");
#undef EXPECT_ERROR
#undef NODE
    /* infinite clamp bounds are allowed (a one-sided clamp) */
    tg_tape_reset(t);
    tg_node *y = tg_clamp(t, input_of(t, 1, 2, (float[]){-3, 3}), 0.0f, INFINITY);
    expect_values(y->value.data, (float[]){0, 3}, 2, "clamp(0, inf)");
    tg_tape_free(t);
}

/* Plain row loops: the same bits on one thread and four. */
Test(ops_math, same_bits_for_any_thread_count)
{
    enum { M = 64, N = 37 };
    static float x[M * N], out[2][4][M * N];
    for (int k = 0; k < M * N; k++)
        x[k] = sinf(0.37f * (float)k) * 5.0f;
    for (int run = 0; run < 2; run++) {
        tg_set_threads(run ? 4 : 1);
        tg_tape *t = new_tape();
        tg_node *in = input_of(t, M, N, x);
        memcpy(out[run][0], tg_softmax(t, in)->value.data, sizeof x);
        memcpy(out[run][1], tg_log_softmax(t, in)->value.data, sizeof x);
        memcpy(out[run][2], tg_sum_axis(t, in, 0)->value.data, N * sizeof(float));
        memcpy(out[run][3], tg_mean_axis(t, in, 1)->value.data, M * sizeof(float));
        tg_tape_free(t);
    }
    tg_set_threads(0);
    cr_assert_eq(memcmp(out[0], out[1], sizeof out[0]), 0);
}
