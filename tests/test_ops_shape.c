/* tests/test_ops_shape.c — the shape ops, constants and broadcasting (autograd/ops_shape.c and
 * the broadcasts of ops_broadcast.c and ops_elementwise.c): values and gradients against numbers worked out by hand
 * here, and each constructor's shape errors with their exact messages.  Gradients against finite
 * differences are in test_gradcheck.c. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "autograd/ops.h"

#include "tape_test.h"

#define MAX_PARAMS 3

typedef struct fixture {
    tg_tape *t;
    tg_param p[MAX_PARAMS];
    int n_params;
} fixture;

static void begin(fixture *f)
{
    memset(f, 0, sizeof *f);
    f->t = tg_tape_new(NULL);
    cr_assert_not_null(f->t);
}

static void end(fixture *f)
{
    for (int i = 0; i < f->n_params; i++)
        tg_param_free(&f->p[i]);
    tg_tape_free(f->t);
}

/* A parameter leaf of the given shape and values (its gradient is what the tests read). */
static tg_node *param(fixture *f, int ndim, const size_t *shape, const float *values)
{
    cr_assert_lt(f->n_params, MAX_PARAMS);
    tg_param *p = &f->p[f->n_params++];
    cr_assert_eq(tg_param_init(p, "p", ndim, shape, NULL), TG_OK);
    memcpy(p->value.data, values, p->value.size * sizeof(float));
    return tg_param_leaf(f->t, p);
}

static tg_node *input(fixture *f, int ndim, const size_t *shape, const float *values)
{
    tg_node *n = tg_input_new(f->t, ndim, shape);
    cr_assert_not_null(n, "%s", tg_tape_error(f->t));
    memcpy(n->value.data, values, n->value.size * sizeof(float));
    return n;
}

/* t's shape is `shape` and its elements are `values`, exactly (the ops here copy, add or multiply
 * small integers: no rounding). */
static void expect_tensor(const tg_tensor *t, int ndim, const size_t *shape, const float *values, const char *what)
{
    char got[64], want[64];
    tg_tensor_shape_str(got, sizeof got, t);
    tg_shape_str(want, sizeof want, ndim, shape);
    cr_assert_str_eq(got, want, "%s: shape %s, expected %s", what, got, want);
    for (size_t k = 0; k < t->size; k++)
        cr_assert_eq(t->data[k], values[k], "%s: element %zu is %g, expected %g", what, k, (double)t->data[k],
                     (double)values[k]);
}

/* Runs the backward of L = Σ y ⊙ w: dL/dy = w, so each input's gradient is w carried back through
 * the op, which the tests then compare with the one worked out by hand. */
static void backward_with(fixture *f, tg_node *y, const float *w)
{
    cr_assert_not_null(y, "%s", tg_tape_error(f->t));
    tg_node *wn = input(f, y->value.ndim, y->value.shape, w);
    tg_error err = {0};
    cr_assert_eq(tg_backward(f->t, tg_sum(f->t, tg_mul(f->t, y, wn)), &err), TG_OK, "%s", err.msg);
}

#define SHAPE(...) (const size_t[]){__VA_ARGS__}
#define VALUES(...) (const float[]){__VA_ARGS__}

/* ---- reshape ------------------------------------------------------------------------------ */

Test(ops_shape, reshape_is_a_view_of_its_input)
{
    fixture f;
    begin(&f);
    tg_node *x = param(&f, 2, SHAPE(2, 3), VALUES(1, 2, 3, 4, 5, 6));
    size_t used = tg_tape_arena_used(f.t);
    tg_node *y = tg_reshape(f.t, x, 3, SHAPE(3, 1, 2));
    cr_assert_not_null(y, "%s", tg_tape_error(f.t));
    cr_assert_eq(y->op, &tg_op_reshape);
    cr_assert(y->is_view);
    expect_tensor(&y->value, 3, SHAPE(3, 1, 2), VALUES(1, 2, 3, 4, 5, 6), "reshape [2,3] -> [3,1,2]");
    cr_assert_eq(y->value.data, x->value.data, "reshape shares its input's storage");
    cr_assert_null(y->value.owned, "a view owns nothing");
    size_t node_bytes = (sizeof(tg_node) + TG_ALIGN - 1) / TG_ALIGN * TG_ALIGN;
    cr_assert_eq(tg_tape_arena_used(f.t) - used, node_bytes, "the node, and no value buffer, in the arena");
    f.p[0].value.data[0] = 99.0f; /* the view follows its input */
    cr_assert_eq(y->value.data[0], 99.0f);
    tg_node *z = tg_reshape(f.t, y, 1, SHAPE(6)); /* a view of a view: still x's storage */
    cr_assert_eq(z->value.data, x->value.data);
    expect_tensor(&z->value, 1, SHAPE(6), VALUES(99, 2, 3, 4, 5, 6), "reshape -> [6]");
    backward_with(&f, y, VALUES(10, 20, 30, 40, 50, 60));
    cr_assert_neq(y->grad.data, f.p[0].grad.data, "the gradient is the view's own buffer");
    expect_tensor(&f.p[0].grad, 2, SHAPE(2, 3), VALUES(10, 20, 30, 40, 50, 60), "d reshape");
    end(&f);
}

/* A view of an intermediate node (arena storage) and of a caller's tensor (tg_input); the
 * gradient of x used both directly and through a view gets both terms, in a buffer of its own. */
Test(ops_shape, reshape_views_nodes_and_inputs_and_keeps_gradients_apart)
{
    fixture f;
    begin(&f);
    tg_node *x = param(&f, 2, SHAPE(2, 2), VALUES(1, 2, 3, 4));
    tg_node *h = tg_scale(f.t, x, 2.0f);
    tg_node *v = tg_reshape(f.t, h, 1, SHAPE(4));
    cr_assert_eq(v->value.data, h->value.data);
    float caller[4] = {5, 6, 7, 8};
    tg_tensor c;
    cr_assert_eq(tg_tensor_wrap(&c, caller, 2, SHAPE(2, 2), NULL), TG_OK);
    tg_node *cv = tg_reshape(f.t, tg_input(f.t, &c), 1, SHAPE(4));
    cr_assert_eq(cv->value.data, caller);
    /* L = Σ w ⊙ (h as [4] + h as [4]) with w = 1..4: dh = 2w, dx = 2·dh = 4w */
    tg_node *sum = tg_add(f.t, tg_reshape(f.t, h, 1, SHAPE(4)), v);
    backward_with(&f, sum, VALUES(1, 2, 3, 4));
    cr_assert_neq(v->grad.data, h->grad.data);
    expect_tensor(&h->grad, 2, SHAPE(2, 2), VALUES(2, 4, 6, 8), "dh through two views");
    expect_tensor(&f.p[0].grad, 2, SHAPE(2, 2), VALUES(4, 8, 12, 16), "dx");
    end(&f);
}

/* A small model, tanh(x·W + b) against a target, through three reshapes ([4,5] -> [20] -> [2,10]
 * -> [4,5]) and without them: the loss and the gradients are the same bits (a reshape moves no
 * value, whether it copies, as it used to, or is a view). */
static float model_loss(fixture *f, const tg_tensor *x, const tg_tensor *target, bool reshapes)
{
    tg_tape_reset(f->t);
    for (int i = 0; i < f->n_params; i++)
        tg_param_zero_grad(&f->p[i]);
    tg_node *h = tg_affine(f->t, tg_input(f->t, x), tg_param_leaf(f->t, &f->p[0]), tg_param_leaf(f->t, &f->p[1]),
                           false);
    if (reshapes)
        h = tg_reshape(f->t, tg_reshape(f->t, tg_reshape(f->t, h, 1, SHAPE(20)), 2, SHAPE(2, 10)), 2, SHAPE(4, 5));
    tg_node *loss = tg_mse(f->t, tg_tanh(f->t, h), tg_input(f->t, target), TG_REDUCE_MEAN);
    tg_error err = {0};
    cr_assert_eq(tg_backward(f->t, loss, &err), TG_OK, "%s", err.msg);
    return loss->value.data[0];
}

Test(ops_shape, a_model_through_reshapes_gets_the_same_bits)
{
    fixture f;
    begin(&f);
    float xv[24], tv[20], wv[30], bv[5];
    for (int k = 0; k < 30; k++) {
        wv[k] = sinf(0.7f * (float)k);
        if (k < 24)
            xv[k] = cosf(1.3f * (float)k);
        if (k < 20)
            tv[k] = sinf(0.3f * (float)k + 1.0f);
        if (k < 5)
            bv[k] = 0.1f * (float)k - 0.2f;
    }
    param(&f, 2, SHAPE(6, 5), wv);
    param(&f, 1, SHAPE(5), bv);
    tg_tensor x, target;
    tg_tensor_wrap(&x, xv, 2, SHAPE(4, 6), NULL);
    tg_tensor_wrap(&target, tv, 2, SHAPE(4, 5), NULL);
    float plain = model_loss(&f, &x, &target, false), dw[30], db[5];
    memcpy(dw, f.p[0].grad.data, sizeof dw);
    memcpy(db, f.p[1].grad.data, sizeof db);
    float viewed = model_loss(&f, &x, &target, true);
    cr_assert_eq(memcmp(&plain, &viewed, sizeof plain), 0, "loss %.9g vs %.9g", (double)plain, (double)viewed);
    cr_assert_eq(memcmp(dw, f.p[0].grad.data, sizeof dw), 0, "dW differs");
    cr_assert_eq(memcmp(db, f.p[1].grad.data, sizeof db), 0, "db differs");
    end(&f);
}

/* ---- slice -------------------------------------------------------------------------------- */

Test(ops_shape, slice_takes_rows_columns_or_a_range_of_any_dimension)
{
    fixture f;
    begin(&f);
    tg_node *x = input(&f, 2, SHAPE(3, 4), VALUES(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11));
    expect_tensor(&tg_slice(f.t, x, 0, 1, 2)->value, 2, SHAPE(2, 4), VALUES(4, 5, 6, 7, 8, 9, 10, 11), "rows 1..2");
    expect_tensor(&tg_slice(f.t, x, 1, 1, 2)->value, 2, SHAPE(3, 2), VALUES(1, 2, 5, 6, 9, 10), "columns 1..2");
    expect_tensor(&tg_slice(f.t, x, 1, 3, 1)->value, 2, SHAPE(3, 1), VALUES(3, 7, 11), "the last column");
    tg_node *z = input(&f, 3, SHAPE(2, 3, 2), VALUES(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11));
    expect_tensor(&tg_slice(f.t, z, 1, 2, 1)->value, 3, SHAPE(2, 1, 2), VALUES(4, 5, 10, 11), "[2,3,2] dim 1 [2,3)");
    expect_tensor(&tg_slice(f.t, z, 2, 1, 1)->value, 3, SHAPE(2, 3, 1), VALUES(1, 3, 5, 7, 9, 11), "dim 2 [1,2)");
    expect_tensor(&tg_slice(f.t, z, 0, 0, 2)->value, 3, SHAPE(2, 3, 2), z->value.data, "all of dim 0");
    end(&f);
}

Test(ops_shape, slice_gradient_lands_in_its_range_and_zeros_elsewhere)
{
    fixture f;
    begin(&f);
    tg_node *x = param(&f, 2, SHAPE(3, 4), VALUES(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11));
    backward_with(&f, tg_slice(f.t, x, 1, 1, 2), VALUES(1, 2, 3, 4, 5, 6));
    expect_tensor(&f.p[0].grad, 2, SHAPE(3, 4), VALUES(0, 1, 2, 0, 0, 3, 4, 0, 0, 5, 6, 0), "d slice of columns");
    tg_tape_reset(f.t);
    tg_param_zero_grad(&f.p[0]);
    /* two slices of x that overlap in row 1: its gradient gets both */
    x = tg_param_leaf(f.t, &f.p[0]);
    tg_node *y = tg_add(f.t, tg_slice(f.t, x, 0, 0, 2), tg_slice(f.t, x, 0, 1, 2));
    backward_with(&f, y, VALUES(1, 1, 1, 1, 2, 2, 2, 2));
    expect_tensor(&f.p[0].grad, 2, SHAPE(3, 4), VALUES(1, 1, 1, 1, 3, 3, 3, 3, 2, 2, 2, 2), "d two slices");
    end(&f);
}

/* ---- concat ------------------------------------------------------------------------------- */

Test(ops_shape, concat_joins_along_a_dimension_and_splits_the_gradient)
{
    fixture f;
    begin(&f);
    tg_node *a = param(&f, 2, SHAPE(2, 2), VALUES(1, 2, 3, 4));
    tg_node *b = param(&f, 2, SHAPE(2, 1), VALUES(5, 6));
    tg_node *y = tg_concat(f.t, a, b, 1);
    cr_assert_not_null(y, "%s", tg_tape_error(f.t));
    expect_tensor(&y->value, 2, SHAPE(2, 3), VALUES(1, 2, 5, 3, 4, 6), "concat columns");
    backward_with(&f, y, VALUES(10, 20, 30, 40, 50, 60));
    expect_tensor(&f.p[0].grad, 2, SHAPE(2, 2), VALUES(10, 20, 40, 50), "da");
    expect_tensor(&f.p[1].grad, 2, SHAPE(2, 1), VALUES(30, 60), "db");

    tg_node *r = input(&f, 2, SHAPE(1, 3), VALUES(1, 2, 3)), *s = input(&f, 2, SHAPE(2, 3), VALUES(4, 5, 6, 7, 8, 9));
    expect_tensor(&tg_concat(f.t, r, s, 0)->value, 2, SHAPE(3, 3), VALUES(1, 2, 3, 4, 5, 6, 7, 8, 9), "concat rows");
    tg_node *u = input(&f, 3, SHAPE(2, 1, 2), VALUES(1, 2, 3, 4)), *v = input(&f, 3, SHAPE(2, 1, 1), VALUES(8, 9));
    expect_tensor(&tg_concat(f.t, u, v, 2)->value, 3, SHAPE(2, 1, 3), VALUES(1, 2, 8, 3, 4, 9), "concat 3-D dim 2");
    end(&f);
}

Test(ops_shape, concat_of_a_node_with_itself_adds_both_gradients)
{
    fixture f;
    begin(&f);
    tg_node *x = param(&f, 2, SHAPE(1, 2), VALUES(1, 2));
    tg_node *y = tg_concat(f.t, x, x, 0);
    expect_tensor(&y->value, 2, SHAPE(2, 2), VALUES(1, 2, 1, 2), "concat(x, x)");
    backward_with(&f, y, VALUES(1, 2, 3, 4));
    expect_tensor(&f.p[0].grad, 2, SHAPE(1, 2), VALUES(4, 6), "dx");
    end(&f);
}

/* ---- transpose ---------------------------------------------------------------------------- */

Test(ops_shape, transpose_swaps_rows_and_columns)
{
    fixture f;
    begin(&f);
    tg_node *x = param(&f, 2, SHAPE(2, 3), VALUES(1, 2, 3, 4, 5, 6));
    tg_node *y = tg_transpose_of(f.t, x);
    cr_assert_not_null(y, "%s", tg_tape_error(f.t));
    expect_tensor(&y->value, 2, SHAPE(3, 2), VALUES(1, 4, 2, 5, 3, 6), "xᵀ");
    backward_with(&f, y, VALUES(1, 2, 3, 4, 5, 6)); /* dx_ij = w_ji, w [3,2] */
    expect_tensor(&f.p[0].grad, 2, SHAPE(2, 3), VALUES(1, 3, 5, 2, 4, 6), "d xᵀ");
    tg_node *row = input(&f, 1, SHAPE(3), VALUES(7, 8, 9));
    expect_tensor(&tg_transpose_of(f.t, row)->value, 2, SHAPE(3, 1), VALUES(7, 8, 9), "[3]ᵀ");
    end(&f);
}

/* ---- constants ---------------------------------------------------------------------------- */

Test(ops_shape, const_is_a_leaf_filled_with_its_value)
{
    fixture f;
    begin(&f);
    tg_node *k = tg_const(f.t, 2.5f, 2, SHAPE(2, 3));
    cr_assert_not_null(k, "%s", tg_tape_error(f.t));
    cr_assert_eq(k->op, &tg_op_const);
    cr_assert_eq(k->n_in, 0);
    cr_assert_not(k->requires_grad);
    expect_tensor(&k->value, 2, SHAPE(2, 3), VALUES(2.5, 2.5, 2.5, 2.5, 2.5, 2.5), "const");
    tg_node *x = param(&f, 1, SHAPE(3), VALUES(1, 2, 3));
    tg_node *y = tg_mul(f.t, x, tg_const(f.t, -3.0f, 1, SHAPE(1))); /* x·(-3) through a scalar const */
    expect_tensor(&y->value, 1, SHAPE(3), VALUES(-3, -6, -9), "x * const");
    backward_with(&f, y, VALUES(1, 1, 2));
    expect_tensor(&f.p[0].grad, 1, SHAPE(3), VALUES(-3, -3, -6), "dx");
    end(&f);
}

Test(ops_shape, add_scalar_and_rsub)
{
    fixture f;
    begin(&f);
    tg_node *x = param(&f, 2, SHAPE(1, 3), VALUES(1, -2, 0.5));
    expect_tensor(&tg_add_scalar(f.t, x, 1.5f)->value, 2, SHAPE(1, 3), VALUES(2.5, -0.5, 2), "x + 1.5");
    tg_node *y = tg_rsub(f.t, x, 1.0f);
    expect_tensor(&y->value, 2, SHAPE(1, 3), VALUES(0, 3, 0.5), "1 - x");
    backward_with(&f, y, VALUES(1, 2, 3));
    expect_tensor(&f.p[0].grad, 2, SHAPE(1, 3), VALUES(-1, -2, -3), "d(1 - x)");
    tg_tape_reset(f.t);
    tg_param_zero_grad(&f.p[0]);
    backward_with(&f, tg_add_scalar(f.t, tg_param_leaf(f.t, &f.p[0]), 1.5f), VALUES(1, 2, 3));
    expect_tensor(&f.p[0].grad, 2, SHAPE(1, 3), VALUES(1, 2, 3), "d(x + 1.5)");
    end(&f);
}

/* ---- broadcasting ------------------------------------------------------------------------- */

/* One broadcast: y = a ∘ b, and with L = Σ w ⊙ y (w = 1..6 over y [2,3]) the gradients da, db. */
typedef struct broadcast_case {
    const char *name;
    char op; /* '+', '-', '*' */
    int a_ndim, b_ndim;
    size_t a_shape[2], b_shape[2];
    float a[6], b[6], y[6], da[6], db[6];
} broadcast_case;

static const broadcast_case broadcast_cases[] = {
    /* a [2,3] = 1..6 with b a column {10, 20}: db_i = Σ_j w_ij = {6, 15} */
    {"a + column", '+', 2, 2, {2, 3}, {2, 1}, {1, 2, 3, 4, 5, 6}, {10, 20},
     {11, 12, 13, 24, 25, 26}, {1, 2, 3, 4, 5, 6}, {6, 15}},
    {"a - column", '-', 2, 2, {2, 3}, {2, 1}, {1, 2, 3, 4, 5, 6}, {10, 20},
     {-9, -8, -7, -16, -15, -14}, {1, 2, 3, 4, 5, 6}, {-6, -15}},
    /* da = w ⊙ b; db_i = Σ_j w_ij·a_ij = {1+4+9, 16+25+36} */
    {"a * column", '*', 2, 2, {2, 3}, {2, 1}, {1, 2, 3, 4, 5, 6}, {10, 20},
     {10, 20, 30, 80, 100, 120}, {10, 20, 30, 80, 100, 120}, {14, 77}},
    /* b a scalar 2: db = Σ w ⊙ a = 91 */
    {"a * scalar", '*', 2, 1, {2, 3}, {1}, {1, 2, 3, 4, 5, 6}, {2},
     {2, 4, 6, 8, 10, 12}, {2, 4, 6, 8, 10, 12}, {91}},
    /* the scalar on the left: 10 - b, d(10) = Σ w = 21, db = -w */
    {"scalar - b", '-', 1, 2, {1}, {2, 3}, {10}, {1, 2, 3, 4, 5, 6},
     {9, 8, 7, 6, 5, 4}, {21}, {-1, -2, -3, -4, -5, -6}},
    /* a row on the left: da_j = Σ_i w_ij = {5, 7, 9} */
    {"row - b", '-', 2, 2, {1, 3}, {2, 3}, {1, 2, 3}, {10, 20, 30, 40, 50, 60},
     {-9, -18, -27, -39, -48, -57}, {5, 7, 9}, {-1, -2, -3, -4, -5, -6}},
    /* a column {1,2} and a row {10,20,30} meet in [2,3] */
    {"column + row", '+', 2, 2, {2, 1}, {1, 3}, {1, 2}, {10, 20, 30},
     {11, 21, 31, 12, 22, 32}, {6, 15}, {5, 7, 9}},
    /* da_i = Σ_j w_ij·b_j = {10+40+90, 40+100+180}; db_j = Σ_i w_ij·a_i = {1+8, 2+10, 3+12} */
    {"column * row", '*', 2, 2, {2, 1}, {1, 3}, {1, 2}, {10, 20, 30},
     {10, 20, 30, 20, 40, 60}, {140, 320}, {9, 12, 15}},
};

Test(ops_shape, broadcasts_rows_columns_and_scalars_either_way)
{
    for (size_t c = 0; c < sizeof broadcast_cases / sizeof broadcast_cases[0]; c++) {
        const broadcast_case *bc = &broadcast_cases[c];
        fixture f;
        begin(&f);
        tg_node *a = param(&f, bc->a_ndim, bc->a_shape, bc->a), *b = param(&f, bc->b_ndim, bc->b_shape, bc->b);
        tg_node *y = bc->op == '+' ? tg_add(f.t, a, b) : bc->op == '-' ? tg_sub(f.t, a, b) : tg_mul(f.t, a, b);
        cr_assert_not_null(y, "%s: %s", bc->name, tg_tape_error(f.t));
        expect_tensor(&y->value, 2, SHAPE(2, 3), bc->y, bc->name);
        backward_with(&f, y, VALUES(1, 2, 3, 4, 5, 6));
        expect_tensor(&f.p[0].grad, bc->a_ndim, bc->a_shape, bc->da, bc->name);
        expect_tensor(&f.p[1].grad, bc->b_ndim, bc->b_shape, bc->db, bc->name);
        end(&f);
    }
}

/* Broadcasts aligned from the right that are none of the 2-D forms (the general walk), for
 * each op: y = a ∘ b and, with L = Σ w ⊙ y, w = 1, 2, 3, ... over y, the gradients da, db.
 * Every number below was worked out by hand (w's flat index in y [I,J,K]: (i·J + j)·K + k). */
typedef struct nd_case {
    const char *name;
    tg_node *(*op)(tg_tape *, tg_node *, tg_node *);
    int a_ndim, b_ndim, y_ndim;
    size_t a_shape[4], b_shape[4], y_shape[4];
    float a[24], b[24], y[24], da[24], db[24];
} nd_case;

#define IOTA24 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23
#define W24 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24

static const nd_case nd_cases[] = {
    /* a = 0..23, b = {100, 200, 300} along dimension 1: y = a + 100(j+1);
     * db_j = Σ_{i,k} w_ijk = {(1+2+3+4)+(13+..+16), (5+..+8)+(17+..+20), (9+..+12)+(21+..+24)} */
    {"[2,3,4] + [3,1]", tg_add, 3, 2, 3, {2, 3, 4}, {3, 1}, {2, 3, 4}, {IOTA24}, {100, 200, 300},
     {100, 101, 102, 103, 204, 205, 206, 207, 308, 309, 310, 311,
      112, 113, 114, 115, 216, 217, 218, 219, 320, 321, 322, 323},
     {W24}, {68, 100, 132}},
    /* a [2,1,4] = 1..8, b [3,1] = {1, 10, 100}: y_ijk = a_ik·b_j;
     * da_ik = Σ_j w_ijk·b_j = (w_i0k + 10 w_i1k + 100 w_i2k), db_j = Σ_{i,k} w_ijk·a_ik */
    {"[2,1,4] * [3,1]", tg_mul, 3, 2, 3, {2, 1, 4}, {3, 1}, {2, 3, 4}, {1, 2, 3, 4, 5, 6, 7, 8}, {1, 10, 100},
     {1, 2, 3, 4, 10, 20, 30, 40, 100, 200, 300, 400, 5, 6, 7, 8, 50, 60, 70, 80, 500, 600, 700, 800},
     {951, 1062, 1173, 1284, 2283, 2394, 2505, 2616}, {412, 556, 700}},
    /* a [4] = {1000, .., 4000} along the last dimension, b = 0..23: y = 1000(k+1) - (12i + 4j + k);
     * da_k = Σ_{i,j} w_ijk = 60 + 6(k+1), db = -w */
    {"[4] - [2,3,4]", tg_sub, 1, 3, 3, {4}, {2, 3, 4}, {2, 3, 4}, {1000, 2000, 3000, 4000}, {IOTA24},
     {1000, 1999, 2998, 3997, 996, 1995, 2994, 3993, 992, 1991, 2990, 3989,
      988, 1987, 2986, 3985, 984, 1983, 2982, 3981, 980, 1979, 2978, 3977},
     {66, 72, 78, 84},
     {-1, -2, -3, -4, -5, -6, -7, -8, -9, -10, -11, -12, -13, -14, -15, -16, -17, -18, -19, -20, -21, -22, -23, -24}},
    /* a [2,1,3] = {1,5,9; 2,6,10}, b [2,1] = {4, 7} along dimension 1: y_ijk = max(a_ik, b_j);
     * da: w where a won (a >= b), db: w where b won: b=4 at (0,0,0), (1,0,0); b=7 at (0,1,0..1), (1,1,0..1) */
    {"max([2,1,3], [2,1])", tg_max, 3, 2, 3, {2, 1, 3}, {2, 1}, {2, 2, 3}, {1, 5, 9, 2, 6, 10}, {4, 7},
     {4, 5, 9, 7, 7, 9, 4, 6, 10, 7, 7, 10}, {0, 2, 9, 0, 8, 21}, {1 + 7, 4 + 5 + 10 + 11}},
    /* the same with min: y_ijk = min(a_ik, b_j); a wins where a <= b */
    {"min([2,1,3], [2,1])", tg_min, 3, 2, 3, {2, 1, 3}, {2, 1}, {2, 2, 3}, {1, 5, 9, 2, 6, 10}, {4, 7},
     {1, 4, 4, 1, 5, 7, 2, 4, 4, 2, 6, 7}, {1 + 4, 5, 0, 7 + 10, 11, 0}, {2 + 3 + 8 + 9, 6 + 12}},
    /* a column [2,1] = {6, 12} over b [3] = {1, 2, 3}: y_ij = a_i / b_j; da_i = Σ_j w_ij / b_j,
     * db_j = -Σ_i w_ij·a_i / b_j² = {-(6 + 48)/1, -(12 + 60)/4, -(18 + 72)/9} */
    {"[2,1] / [3]", tg_div, 2, 1, 2, {2, 1}, {3}, {2, 3}, {6, 12}, {1, 2, 3}, {6, 3, 2, 12, 6, 4},
     {1 + 1 + 1, 4 + 2.5f + 2}, {-54, -18, -10}},
    /* four dimensions: a [2,1,1,2] = 1..4, b [2,1,1] = {10, 20} -> y [2,2,1,2]: y_ijl = a_il + b_j;
     * da_il = Σ_j w: {1+3, 2+4, 5+7, 6+8}, db_j = Σ_{i,l} w: {1+2+5+6, 3+4+7+8} */
    {"[2,1,1,2] + [2,1,1]", tg_add, 4, 3, 4, {2, 1, 1, 2}, {2, 1, 1}, {2, 2, 1, 2}, {1, 2, 3, 4}, {10, 20},
     {11, 12, 21, 22, 13, 14, 23, 24}, {4, 6, 12, 14}, {14, 22}},
};

Test(ops_shape, broadcasts_aligned_from_the_right_in_any_dimensions)
{
    for (size_t c = 0; c < sizeof nd_cases / sizeof nd_cases[0]; c++) {
        const nd_case *k = &nd_cases[c];
        fixture f;
        begin(&f);
        tg_node *a = param(&f, k->a_ndim, k->a_shape, k->a), *b = param(&f, k->b_ndim, k->b_shape, k->b);
        tg_node *y = k->op(f.t, a, b);
        cr_assert_not_null(y, "%s: %s", k->name, tg_tape_error(f.t));
        expect_tensor(&y->value, k->y_ndim, k->y_shape, k->y, k->name);
        backward_with(&f, y, VALUES(W24));
        expect_tensor(&f.p[0].grad, k->a_ndim, k->a_shape, k->da, k->name);
        expect_tensor(&f.p[1].grad, k->b_ndim, k->b_shape, k->db, k->name);
        end(&f);
    }
}

/* ---- errors ------------------------------------------------------------------------------- */

Test(ops_shape, constructor_messages)
{
    tg_tape *t = tg_tape_new(NULL);
#define NODE(...) tg_input_new(t, (int)(sizeof SHAPE(__VA_ARGS__) / sizeof(size_t)), SHAPE(__VA_ARGS__))
#define EXPECT_ERROR(call, code, message) EXPECT_TAPE_ERROR(t, call, code, message)
    EXPECT_ERROR(tg_reshape(t, NODE(2, 3), 2, SHAPE(4, 2)), TG_ERR_SHAPE,
                 "reshape: [2,3] -> [4,2]: element counts differ (6 vs 8)");
    EXPECT_ERROR(tg_reshape(t, NODE(2, 3), 5, SHAPE(1, 1, 1, 2, 3)), TG_ERR_SHAPE,
                 "reshape: [2,3] to a new shape: tensor: 5 dimensions (must be 1..4)");
    EXPECT_ERROR(tg_reshape(t, NODE(2, 3), 2, SHAPE(6, 0)), TG_ERR_SHAPE,
                 "reshape: [2,3] to a new shape: tensor: dimension 1 is 0");
    EXPECT_ERROR(tg_reshape(t, NODE(2, 3), 1, NULL), TG_ERR_ARG, "reshape: shape is NULL");
    EXPECT_ERROR(tg_slice(t, NODE(3, 4), 2, 0, 1), TG_ERR_ARG, "slice: [3,4]: dimension 2 outside 0..1");
    EXPECT_ERROR(tg_slice(t, NODE(3, 4), -1, 0, 1), TG_ERR_ARG, "slice: [3,4]: dimension -1 outside 0..1");
    EXPECT_ERROR(tg_slice(t, NODE(3, 4), 1, 3, 2), TG_ERR_SHAPE,
                 "slice: [3,4]: range [3, 3+2) of dimension 1 (size 4) is out of range");
    EXPECT_ERROR(tg_slice(t, NODE(3, 4), 0, 3, 1), TG_ERR_SHAPE,
                 "slice: [3,4]: range [3, 3+1) of dimension 0 (size 3) is out of range");
    EXPECT_ERROR(tg_slice(t, NODE(3, 4), 0, 1, 0), TG_ERR_SHAPE,
                 "slice: [3,4]: range [1, 1+0) of dimension 0 (size 3) is empty");
    EXPECT_ERROR(tg_slice(t, NODE(3, 4), 0, 1, SIZE_MAX), TG_ERR_SHAPE,
                 "slice: [3,4]: range [1, 1+18446744073709551615) of dimension 0 (size 3) is out of range");
    EXPECT_ERROR(tg_concat(t, NODE(2, 3), NODE(6), 0), TG_ERR_SHAPE, "concat: [2,3] and [6]: 2 vs 1 dimensions");
    EXPECT_ERROR(tg_concat(t, NODE(2, 3), NODE(3, 2), 0), TG_ERR_SHAPE,
                 "concat: [2,3] and [3,2] along dimension 0: dimension 1 differs");
    EXPECT_ERROR(tg_concat(t, NODE(2, 3), NODE(2, 3), 2), TG_ERR_ARG,
                 "concat: [2,3] and [2,3]: dimension 2 outside 0..1");
    EXPECT_ERROR(tg_transpose_of(t, NODE(2, 3, 4)), TG_ERR_SHAPE,
                 "transpose: [2,3,4]: 3 dimensions (a [M,N] or [N] tensor is needed)");
    EXPECT_ERROR(tg_const(t, INFINITY, 1, SHAPE(2)), TG_ERR_ARG, "const: value inf is not finite");
    EXPECT_ERROR(tg_const(t, 1.0f, 0, SHAPE(2)), TG_ERR_SHAPE, "const: tensor: 0 dimensions (must be 1..4)");
    EXPECT_ERROR(tg_const(t, 1.0f, 2, NULL), TG_ERR_ARG, "const: shape is NULL");
    EXPECT_ERROR(tg_add_scalar(t, NODE(2, 3), NAN), TG_ERR_ARG, "add_scalar: [2,3] with constant nan: not finite");
    EXPECT_ERROR(tg_rsub(t, NODE(2, 3), -INFINITY), TG_ERR_ARG, "rsub: constant -inf is not finite");
    EXPECT_ERROR(tg_add(t, NODE(2, 3), NODE(3, 1)), TG_ERR_SHAPE,
                 "add: [2,3] + [3,1]: shapes do not broadcast: a's dimension 0 is 2, b's dimension 0 is 3"
                 " (aligned from the right, each pair of sizes must be equal or one of them 1)");
    EXPECT_ERROR(tg_mul(t, NODE(2, 1), NODE(3, 2)), TG_ERR_SHAPE,
                 "mul: [2,1] * [3,2]: shapes do not broadcast: a's dimension 0 is 2, b's dimension 0 is 3"
                 " (aligned from the right, each pair of sizes must be equal or one of them 1)");
    EXPECT_ERROR(tg_sub(t, NODE(2, 3), NODE(1, 2)), TG_ERR_SHAPE,
                 "sub: [2,3] - [1,2]: shapes do not broadcast: a's dimension 1 is 3, b's dimension 1 is 2"
                 " (aligned from the right, each pair of sizes must be equal or one of them 1)");
    /* of different dimensions: the first pair from the right that differs, with its positions */
    EXPECT_ERROR(tg_add(t, NODE(2, 3, 4), NODE(3, 5)), TG_ERR_SHAPE,
                 "add: [2,3,4] + [3,5]: shapes do not broadcast: a's dimension 2 is 4, b's dimension 1 is 5"
                 " (aligned from the right, each pair of sizes must be equal or one of them 1)");
    EXPECT_ERROR(tg_div(t, NODE(4), NODE(2, 3, 5)), TG_ERR_SHAPE,
                 "div: [4] / [2,3,5]: shapes do not broadcast: a's dimension 0 is 4, b's dimension 2 is 5"
                 " (aligned from the right, each pair of sizes must be equal or one of them 1)");
    EXPECT_ERROR(tg_max(t, NODE(2, 1, 3, 4), NODE(5, 2, 1, 1)), TG_ERR_SHAPE,
                 "max: [2,1,3,4] and [5,2,1,1]: shapes do not broadcast: a's dimension 0 is 2, b's dimension 0 is 5"
                 " (aligned from the right, each pair of sizes must be equal or one of them 1)");
    /* the 2-D reading's row of a 3-D tensor's columns is not a broadcast aligned from the right */
    EXPECT_ERROR(tg_add(t, NODE(2, 3, 4), NODE(12)), TG_ERR_SHAPE,
                 "add: [2,3,4] + [12]: shapes do not broadcast: a's dimension 2 is 4, b's dimension 0 is 12"
                 " (aligned from the right, each pair of sizes must be equal or one of them 1)");
#undef EXPECT_ERROR
#undef NODE
    tg_tape_free(t);
}

Test(ops_shape, a_shape_error_is_sticky)
{
    fixture f;
    begin(&f);
    tg_node *x = param(&f, 2, SHAPE(2, 3), VALUES(1, 2, 3, 4, 5, 6));
    cr_assert_null(tg_slice(f.t, x, 1, 2, 2));
    cr_assert_null(tg_reshape(f.t, x, 1, SHAPE(6)), "ops after an error do nothing");
    cr_assert_null(tg_const(f.t, 1.0f, 1, SHAPE(1)));
    tg_error err = {0};
    cr_assert_eq(tg_backward(f.t, tg_sum(f.t, x), &err), TG_ERR_SHAPE);
    cr_assert_str_eq(err.msg, "slice: [2,3]: range [2, 2+2) of dimension 1 (size 3) is out of range");
    end(&f);
}
