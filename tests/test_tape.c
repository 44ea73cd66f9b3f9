/* tests/test_tape.c — the engine: accumulation, the backward rule, sticky errors, gradient
 * buffers, arena reuse, introspection and profiling. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/fused/fused.h"
#include "autograd/ops.h"
#include "tensor/parallel.h"
#include "tensor/rng.h"

#include "tape_test.h"

static tg_tape *new_tape(void)
{
    tg_error err = {0};
    tg_tape *t = tg_tape_new(&err);
    cr_assert_not_null(t, "%s", err.msg);
    return t;
}

static void param2(tg_param *p, const char *name, size_t rows, size_t cols, const float *values)
{
    cr_assert_eq(tg_param_init(p, name, 2, (size_t[]){rows, cols}, NULL), TG_OK);
    if (values)
        memcpy(p->value.data, values, rows * cols * sizeof(float));
}

/* ---- gradients --------------------------------------------------------------------------- */

Test(tape, value_used_twice_accumulates)
{
    tg_tape *t = new_tape();
    tg_param x;
    param2(&x, "x", 1, 3, (float[]){1.5f, -2.0f, 0.25f});
    tg_node *xn = tg_param_leaf(t, &x);
    tg_node *loss = tg_sum(t, tg_mul(t, xn, xn)); /* Σ x·x: both inputs are the same node */
    cr_assert_eq(tg_backward(t, loss, NULL), TG_OK);
    cr_assert_float_eq(x.grad.data[0], 3.0f, 1e-6f);
    cr_assert_float_eq(x.grad.data[1], -4.0f, 1e-6f);
    cr_assert_float_eq(x.grad.data[2], 0.5f, 1e-6f);
    tg_param_free(&x);
    tg_tape_free(t);
}

Test(tape, value_used_by_two_ops_accumulates)
{
    tg_tape *t = new_tape();
    tg_param x;
    param2(&x, "x", 1, 2, (float[]){2.0f, -1.0f});
    tg_node *xn = tg_param_leaf(t, &x);
    /* L = Σ x² + Σ 3x:  dL/dx = 2x + 3 */
    tg_node *loss = tg_add(t, tg_sum(t, tg_square(t, xn)), tg_sum(t, tg_scale(t, xn, 3.0f)));
    cr_assert_eq(tg_backward(t, loss, NULL), TG_OK);
    cr_assert_float_eq(x.grad.data[0], 7.0f, 1e-6f);
    cr_assert_float_eq(x.grad.data[1], 1.0f, 1e-6f);
    tg_param_free(&x);
    tg_tape_free(t);
}

Test(tape, backward_twice_doubles_param_grads_not_intermediates)
{
    tg_tape *t = new_tape();
    tg_param x;
    param2(&x, "x", 1, 2, (float[]){3.0f, -0.5f});
    tg_node *sq = tg_square(t, tg_param_leaf(t, &x));
    tg_node *loss = tg_sum(t, tg_scale(t, sq, 2.0f)); /* L = Σ 2x²: dL/dsq = 2, dL/dx = 4x */
    cr_assert_eq(tg_backward(t, loss, NULL), TG_OK);
    cr_assert_float_eq(x.grad.data[0], 12.0f, 1e-6f);
    cr_assert_float_eq(sq->grad.data[0], 2.0f, 1e-6f);
    cr_assert_eq(tg_backward(t, loss, NULL), TG_OK); /* the documented rule: params accumulate */
    cr_assert_float_eq(x.grad.data[0], 24.0f, 1e-6f);
    cr_assert_float_eq(x.grad.data[1], -4.0f, 1e-6f);
    cr_assert_float_eq(sq->grad.data[0], 2.0f, 1e-6f, "intermediate gradients start from zero each time");
    cr_assert_float_eq(loss->grad.data[0], 1.0f, 1e-6f);
    tg_param_zero_grad(&x);
    cr_assert(x.grad.data[0] == 0.0f && x.grad.data[1] == 0.0f);
    cr_assert_eq(tg_backward(t, loss, NULL), TG_OK);
    cr_assert_float_eq(x.grad.data[0], 12.0f, 1e-6f, "after zero_grad: one step's gradient again");
    tg_param_free(&x);
    tg_tape_free(t);
}

/* Intermediate gradient buffers are zero-filled lazily (or assigned by their first writer):
 * after a backward, every gradient reads as it would from zero-filled buffers, including those
 * of nodes no gradient reached, even when the arena holds the previous backward's values. */
Test(tape, gradients_no_backward_wrote_read_as_zero)
{
    tg_tape *t = new_tape();
    tg_param x;
    param2(&x, "x", 1, 3, (float[]){1.0f, -2.0f, 4.0f});
    for (int pass = 0; pass < 2; pass++) {
        tg_node *xn = tg_param_leaf(t, &x);
        tg_node *unused = tg_scale(t, xn, 5.0f);                    /* requires grad, not on the loss path */
        tg_node *twice = tg_scale(t, xn, 2.0f);
        tg_node *target = tg_scale(t, xn, pass == 0 ? 7.0f : 1.0f); /* pass 1: 1·x, equal to x */
        tg_node *loss = tg_mse(t, twice, target, TG_REDUCE_MEAN);   /* pass 1: mean (2x - x)² */
        cr_assert_eq(tg_backward(t, loss, NULL), TG_OK);
        for (size_t k = 0; k < 3; k++) {
            float d = (pass == 0 ? -5.0f : 1.0f) * x.value.data[k], g = 2.0f * d / 3.0f;
            cr_assert_eq(unused->grad.data[k], 0.0f, "pass %d: unused gradient %g", pass, (double)unused->grad.data[k]);
            cr_assert_float_eq(twice->grad.data[k], g, 1e-6f, "pass %d", pass);
            cr_assert_float_eq(target->grad.data[k], -g, 1e-6f, "pass %d", pass);
        }
        if (pass == 0) { /* leave stale values where the next pass's buffers will be */
            tg_tensor_fill(&unused->grad, 99.0f);
            tg_param_zero_grad(&x);
            tg_tape_reset(t);
        }
    }
    tg_param_free(&x);
    tg_tape_free(t);
}

/* mse(y, y) with y computed: its backward writes y's gradient first (=) as pred, then adds the
 * target's share into the same buffer; with another consumer of y before or after it. */
Test(tape, mse_of_a_node_with_itself)
{
    tg_tape *t = new_tape();
    tg_param x;
    param2(&x, "x", 1, 3, (float[]){1.0f, -2.0f, 4.0f});
    for (int order = 0; order < 2; order++) {
        tg_node *y = tg_scale(t, tg_param_leaf(t, &x), 3.0f);
        tg_node *loss = order == 0 ? tg_add(t, tg_mse(t, y, y, TG_REDUCE_MEAN), tg_sum(t, y))
                                   : tg_add(t, tg_sum(t, y), tg_mse(t, y, y, TG_REDUCE_MEAN));
        cr_assert_eq(tg_backward(t, loss, NULL), TG_OK);
        for (size_t k = 0; k < 3; k++) {
            cr_assert_eq(y->grad.data[k], 1.0f, "order %d: y gradient %g", order, (double)y->grad.data[k]);
            cr_assert_eq(x.grad.data[k], 3.0f, "order %d", order);
        }
        tg_param_zero_grad(&x);
        tg_tape_reset(t);
    }
    tg_param_free(&x);
    tg_tape_free(t);
}

Test(tape, params_zero_grad_clears_all)
{
    tg_param a, b;
    param2(&a, "a", 2, 2, NULL);
    param2(&b, "b", 1, 3, NULL);
    tg_tensor_fill(&a.grad, 5.0f);
    tg_tensor_fill(&b.grad, -1.0f);
    tg_param *ps[] = {&a, &b};
    tg_params_zero_grad(ps, 2);
    for (size_t k = 0; k < 4; k++)
        cr_assert_eq(a.grad.data[k], 0.0f);
    for (size_t k = 0; k < 3; k++)
        cr_assert_eq(b.grad.data[k], 0.0f);
    tg_param_free(&a);
    tg_param_free(&b);
}

Test(tape, no_gradient_buffer_without_a_param_upstream)
{
    tg_tape *t = new_tape();
    tg_param W;
    param2(&W, "W", 2, 2, (float[]){1, 2, 3, 4});
    tg_tensor x;
    cr_assert_eq(tg_tensor_zeros2(&x, 3, 2, NULL), TG_OK);
    tg_tensor_fill(&x, 0.5f);
    tg_node *xn = tg_input(t, &x);
    tg_node *xs = tg_sigmoid(t, xn);                          /* constant: no param upstream */
    tg_node *y = tg_matmul(t, xs, tg_param_leaf(t, &W), false, false);
    tg_node *loss = tg_sum(t, y);
    cr_assert_eq(tg_backward(t, loss, NULL), TG_OK);
    cr_assert_null(xn->grad.data, "input got a gradient buffer");
    cr_assert_null(xs->grad.data, "a constant intermediate got a gradient buffer");
    cr_assert(!xn->requires_grad && !xs->requires_grad);
    cr_assert_not_null(y->grad.data);
    /* dL/dW_kj = Σ_i xs_ik = 3·σ(0.5) */
    cr_assert_float_eq(W.grad.data[0], 3.0f / (1.0f + expf(-0.5f)), 1e-5f);
    tg_tensor_free(&x);
    tg_param_free(&W);
    tg_tape_free(t);
}

/* ---- errors ------------------------------------------------------------------------------ */

Test(tape, sticky_error_from_a_shape_mismatch)
{
    tg_tape *t = new_tape();
    tg_node *x = tg_input_new(t, 2, (size_t[]){32, 784});
    tg_node *w = tg_input_new(t, 2, (size_t[]){64, 784});
    cr_assert_not_null(x);
    cr_assert_null(tg_matmul(t, x, w, false, false));
    cr_assert_eq(tg_tape_status(t), TG_ERR_SHAPE);
    cr_assert_str_eq(tg_tape_error(t), "matmul: [32,784] x [64,784]: inner dimensions differ");
    int nodes = tg_tape_node_count(t);
    /* Later ops are no-ops returning NULL, even well-formed ones; the first message is kept. */
    cr_assert_null(tg_add(t, x, x));
    cr_assert_null(tg_sigmoid(t, x));
    cr_assert_null(tg_input_new(t, 1, (size_t[]){4}));
    cr_assert_eq(tg_tape_node_count(t), nodes);
    cr_assert_str_eq(tg_tape_error(t), "matmul: [32,784] x [64,784]: inner dimensions differ");
    tg_error err = {0};
    cr_assert_eq(tg_backward(t, NULL, &err), TG_ERR_SHAPE);
    cr_assert_str_eq(err.msg, "matmul: [32,784] x [64,784]: inner dimensions differ");
    /* reset clears the error */
    tg_tape_reset(t);
    cr_assert_eq(tg_tape_status(t), TG_OK);
    cr_assert_not_null(tg_input_new(t, 1, (size_t[]){4}));
    tg_tape_free(t);
}

/* Each constructor's shape/argument check, with its exact message, on a fresh tape. */
Test(tape, constructor_messages)
{
    tg_tape *t = new_tape();
#define NODE(...) tg_input_new(t, 2, (size_t[]){__VA_ARGS__})
#define EXPECT_ERROR(call, code, message) EXPECT_TAPE_ERROR(t, call, code, message)
    EXPECT_ERROR(tg_matmul(t, NODE(32, 784), NODE(64, 784), false, false), TG_ERR_SHAPE,
                 "matmul: [32,784] x [64,784]: inner dimensions differ");
    EXPECT_ERROR(tg_matmul(t, NODE(32, 784), NODE(784, 64), false, true), TG_ERR_SHAPE,
                 "matmul: [32,784] x [784,64]ᵀ: inner dimensions differ");
    EXPECT_ERROR(tg_add(t, NODE(32, 64), NODE(32, 10)), TG_ERR_SHAPE,
                 "add: [32,64] + [32,10]: shapes do not broadcast: a's dimension 1 is 64, b's dimension 1 is 10"
                 " (aligned from the right, each pair of sizes must be equal or one of them 1)");
    EXPECT_ERROR(tg_sub(t, NODE(3, 4), NODE(2, 4)), TG_ERR_SHAPE,
                 "sub: [3,4] - [2,4]: shapes do not broadcast: a's dimension 0 is 3, b's dimension 0 is 2"
                 " (aligned from the right, each pair of sizes must be equal or one of them 1)");
    EXPECT_ERROR(tg_mul(t, NODE(3, 4), NODE(4, 3)), TG_ERR_SHAPE,
                 "mul: [3,4] * [4,3]: shapes do not broadcast: a's dimension 1 is 4, b's dimension 1 is 3"
                 " (aligned from the right, each pair of sizes must be equal or one of them 1)");
    EXPECT_ERROR(tg_scale(t, NODE(2, 2), NAN), TG_ERR_ARG, "scale: factor nan is not finite");
    EXPECT_ERROR(tg_mse(t, NODE(4, 3), NODE(4, 2), TG_REDUCE_MEAN), TG_ERR_SHAPE,
                 "mse: pred [4,3] vs target [4,2]: shapes differ");
    EXPECT_ERROR(tg_affine_mse(t, NODE(4, 3), NODE(2, 5), NODE(1, 5), false, NODE(4, 5), TG_REDUCE_MEAN),
                 TG_ERR_SHAPE, "affine_mse: [4,3] x [2,5]: inner dimensions differ");
    EXPECT_ERROR(tg_affine_mse(t, NODE(4, 3), NODE(3, 5), NODE(1, 4), false, NODE(4, 5), TG_REDUCE_MEAN),
                 TG_ERR_SHAPE, "affine_mse: bias [1,4], expected [5] or [1,5]");
    EXPECT_ERROR(tg_affine_mse(t, NODE(4, 3), NODE(5, 3), NODE(1, 5), true, NODE(5, 4), TG_REDUCE_MEAN),
                 TG_ERR_SHAPE, "affine_mse: target [5,4], expected [4,5] (the layer's output)");
    EXPECT_ERROR(tg_affine_mse(t, NODE(4, 3), NODE(3, 5), NODE(1, 5), false, NODE(4, 5), (tg_reduction)7),
                 TG_ERR_ARG, "affine_mse: unknown reduction 7");
    EXPECT_ERROR(tg_bce_logits(t, NODE(4, 3), NODE(3, 4), TG_REDUCE_ROW_SUM), TG_ERR_SHAPE,
                 "bce_logits: logits [4,3] vs target [3,4]: shapes differ");
    EXPECT_ERROR(tg_bce_logits(t, NODE(4, 3), NODE(4, 3), (tg_reduction)5), TG_ERR_ARG,
                 "bce_logits: unknown reduction 5");
    int32_t labels[5] = {0, 9, 3, 12, 1};
    EXPECT_ERROR(tg_softmax_xent(t, NODE(5, 10), labels), TG_ERR_ARG,
                 "softmax_xent: label 12 at row 3 outside 0..9");
    labels[3] = -1;
    EXPECT_ERROR(tg_softmax_xent(t, NODE(5, 10), labels), TG_ERR_ARG,
                 "softmax_xent: label -1 at row 3 outside 0..9");
    EXPECT_ERROR(tg_softmax_xent(t, NODE(5, 10), NULL), TG_ERR_ARG, "softmax_xent: labels are NULL");
    const tg_activation sigmoid = tg_activation_of(TG_ACT_SIGMOID);
    EXPECT_ERROR(tg_activate(t, NODE(2, 2), (tg_activation){(tg_activation_kind)9, 0.0f}), TG_ERR_ARG,
                 "activate: unknown activation 9 (expected 0..5)");
    EXPECT_ERROR(tg_leaky_relu(t, NODE(2, 2), -0.5f), TG_ERR_ARG,
                 "activate: leaky_relu's slope -0.5 must be finite and >= 0");
    EXPECT_ERROR(tg_elu(t, NODE(2, 2), NAN), TG_ERR_ARG, "activate: elu's alpha nan must be finite and >= 0");
    EXPECT_ERROR(tg_jacobian_penalty(t, NODE(32, 64), NODE(784, 32), sigmoid), TG_ERR_SHAPE,
                 "jacobian_penalty: h [32,64] vs W [784,32]: hidden sizes differ (h must be [B,H], W [D,H])");
    EXPECT_ERROR(tg_jacobian_penalty(t, tg_tanh(t, NODE(8, 4)), NODE(5, 4), sigmoid), TG_ERR_ARG,
                 "jacobian_penalty: h was computed by tanh, not sigmoid");
    EXPECT_ERROR(tg_jacobian_penalty(t, tg_leaky_relu(t, NODE(8, 4), 0.2f), NODE(5, 4),
                                     tg_activation_of(TG_ACT_LEAKY_RELU)),
                 TG_ERR_ARG, "jacobian_penalty: h was computed by leaky_relu:0.2, not leaky_relu:0.01");
    EXPECT_ERROR(tg_jacobian_penalty(t, NODE(8, 4), NODE(5, 4), (tg_activation){TG_ACT_COUNT, 0.0f}), TG_ERR_ARG,
                 "jacobian_penalty: unknown activation 6 (expected 0..5)");
    EXPECT_ERROR(tg_jacobian_diff_penalty(t, NODE(8, 4), NODE(8, 4), NODE(5, 4), (tg_activation){TG_ACT_ELU, -1.0f}),
                 TG_ERR_ARG, "jacobian_diff_penalty: elu's alpha -1 must be finite and >= 0");
#undef EXPECT_ERROR
#undef NODE
    tg_tape_free(t);
}

/* ---- a fused op against the ops it fuses ------------------------------------------------------ */

typedef struct decoder_grads {
    float loss;
    float *dX, *dW, *db; /* copies (free them) */
} decoder_grads;

static float *copy_floats(const float *x, size_t n)
{
    float *c = malloc(n * sizeof *c);
    cr_assert_not_null(c);
    memcpy(c, x, n * sizeof *c);
    return c;
}

/* How decoder_loss builds its loss. */
typedef struct decoder_case {
    size_t M, K, N;   /* X [M,K], op(W) [K,N] */
    bool trans_w;     /* W stored [N,K] */
    tg_reduction red;
    bool x_as_target; /* T is X itself (needs N = K): X's gradient from both sides */
    bool half_zeros;  /* every other element of T (and X) is 0, as in images: the zero-skipping products */
} decoder_case;

/* How the decoder's loss is built: tg_affine then tg_mse, tg_affine_mse, tg_affine_mse_gram. */
typedef enum decoder_route { UNFUSED, FUSED, GRAM } decoder_route;

/* L = mse(X·op(W) + b, T), fused or as affine then mse, X, W and b params, T a constant input
 * or X; `backwards` backward passes (the gradients accumulate). */
typedef struct decoder_inputs {
    tg_param X, W, b;
    tg_tensor T;
} decoder_inputs;

/* The case's X, W, b and T, from a fixed seed. */
static void decoder_inputs_make(decoder_inputs *in, decoder_case c)
{
    tg_rng rng;
    tg_rng_seed(&rng, 42, 1);
    param2(&in->X, "X", c.M, c.K, NULL);
    param2(&in->W, "W", c.trans_w ? c.N : c.K, c.trans_w ? c.K : c.N, NULL);
    cr_assert_eq(tg_param_init(&in->b, "b", 1, (size_t[]){c.N}, NULL), TG_OK);
    tg_rng_fill_uniform(&rng, in->X.value.data, c.M * c.K, 0.0f, 1.0f);
    tg_rng_fill_uniform(&rng, in->W.value.data, c.K * c.N, -0.3f, 0.3f);
    tg_rng_fill_uniform(&rng, in->b.value.data, c.N, -0.1f, 0.1f);
    cr_assert_eq(tg_tensor_zeros2(&in->T, c.M, c.N, NULL), TG_OK);
    tg_rng_fill_uniform(&rng, in->T.data, c.M * c.N, 0.0f, 1.0f);
    for (size_t k = 0; c.half_zeros && k < c.M * c.N; k += 2)
        in->T.data[k] = 0.0f;
    for (size_t k = 0; c.half_zeros && k < c.M * c.K; k += 2)
        in->X.value.data[k] = 0.0f;
}

static void decoder_inputs_free(decoder_inputs *in)
{
    tg_tensor_free(&in->T);
    tg_param_free(&in->X);
    tg_param_free(&in->W);
    tg_param_free(&in->b);
}

static decoder_grads decoder_loss(decoder_route route, decoder_case c, int backwards)
{
    decoder_inputs in;
    decoder_inputs_make(&in, c);
    tg_tape *t = new_tape();
    tg_node *x = tg_param_leaf(t, &in.X), *w = tg_param_leaf(t, &in.W), *bias = tg_param_leaf(t, &in.b);
    tg_node *target = c.x_as_target ? x : tg_input(t, &in.T);
    tg_node *loss = route == FUSED  ? tg_affine_mse(t, x, w, bias, c.trans_w, target, c.red)
                    : route == GRAM ? tg_affine_mse_gram(t, x, w, bias, c.trans_w, target, c.red)
                                    : tg_mse(t, tg_affine(t, x, w, bias, c.trans_w), target, c.red);
    cr_assert_not_null(loss, "%s", tg_tape_error(t));
    for (int i = 0; i < backwards; i++)
        cr_assert_eq(tg_backward(t, loss, NULL), TG_OK, "%s", tg_tape_error(t));
    decoder_grads g = {loss->value.data[0], copy_floats(in.X.grad.data, c.M * c.K),
                       copy_floats(in.W.grad.data, c.K * c.N), copy_floats(in.b.grad.data, c.N)};
    tg_tape_free(t);
    decoder_inputs_free(&in);
    return g;
}

static void free_decoder_grads(decoder_grads *g)
{
    free(g->dX);
    free(g->dW);
    free(g->db);
}

/* affine_mse is mse(affine(...)) with its loss's gradient 1: the same gradient bits for X and W
 * (it stores mse's dY and runs the affine's products on it; with X its own target, X's two
 * gradients are added in the two ops' order), the loss and db within float rounding (it sums
 * them per square of its grid), with W and Wᵀ, both reductions, on 1 and 2 threads (the CAE
 * decoder's shape: several squares of the loss's grid; 300 > 256 is two K blocks; 600 rows are
 * many rows of squares, 20 columns a narrow last strip), and a second backward finds its saved
 * gradient intact. */
Test(tape, affine_mse_matches_affine_then_mse)
{
    static const decoder_case cases[] = {
        {256, 64, 784, false, TG_REDUCE_MEAN, false, false}, {256, 64, 784, true, TG_REDUCE_ROW_SUM, false, false},
        {7, 5, 3, false, TG_REDUCE_ROW_SUM, false, false},   {33, 20, 17, true, TG_REDUCE_MEAN, false, false},
        {40, 300, 300, false, TG_REDUCE_MEAN, true, false},  {9, 12, 12, true, TG_REDUCE_ROW_SUM, true, false},
        {600, 40, 20, false, TG_REDUCE_MEAN, false, false},
    };
    for (size_t s = 0; s < sizeof cases / sizeof cases[0]; s++)
        for (int threads = 1; threads <= 2; threads++) {
            tg_set_threads(threads);
            const decoder_case c = cases[s];
            size_t M = c.M, K = c.K, N = c.N;
            decoder_grads two = decoder_loss(UNFUSED, c, 1), one = decoder_loss(FUSED, c, 1);
            cr_assert_float_eq(one.loss, two.loss, 1e-6f * two.loss, "case %zu: loss %g vs %g", s, one.loss, two.loss);
            cr_assert(memcmp(one.dX, two.dX, M * K * sizeof(float)) == 0, "case %zu: dX differs (%d threads)", s, threads);
            cr_assert(memcmp(one.dW, two.dW, K * N * sizeof(float)) == 0, "case %zu: dW differs (%d threads)", s, threads);
            float db_max = 0.0f; /* db sums in other chunks: affine_mse_loss_and_db_in_their_documented_order */
            for (size_t j = 0; j < N; j++)
                db_max = fmaxf(db_max, fabsf(two.db[j]));
            for (size_t j = 0; j < N; j++)
                cr_assert(fabsf(one.db[j] - two.db[j]) <= 1e-5f * db_max, "case %zu: db[%zu] %g vs %g (%d threads)", s,
                          j, one.db[j], two.db[j], threads);
            if (!c.x_as_target && c.M <= 256) { /* dW's products have one K block (M <= 256): the doubled sum is exact */
                decoder_grads twice = decoder_loss(FUSED, c, 2);
                for (size_t k = 0; k < K * N; k++)
                    cr_assert_eq(twice.dW[k], 2.0f * one.dW[k], "second backward: dW[%zu] %g, expected %g", k,
                                 twice.dW[k], 2.0f * one.dW[k]);
                for (size_t j = 0; j < N; j++) /* the same column sums added to themselves: exact */
                    cr_assert_eq(twice.db[j], 2.0f * one.db[j], "second backward: db[%zu] %g, expected %g", j,
                                 twice.db[j], 2.0f * one.db[j]);
                free_decoder_grads(&twice);
            }
            free_decoder_grads(&one);
            free_decoder_grads(&two);
        }
    tg_set_threads(1);
}

/* The largest |a_k − b_k| over n elements, relative to the largest |b_k|; infinity when a
 * difference is NaN (fmaxf would drop it). */
static float max_rel_diff(const float *a, const float *b, size_t n)
{
    float diff = 0.0f, scale = 0.0f;
    for (size_t k = 0; k < n; k++) {
        float d = fabsf(a[k] - b[k]);
        diff = isnan(d) ? INFINITY : fmaxf(diff, d);
        scale = fmaxf(scale, fabsf(b[k]));
    }
    return scale > 0.0f ? diff / scale : diff;
}

/* affine_mse_gram against its reference twin affine_mse (other arithmetic: within float
 * rounding of the loss's and gradients' sizes), on the CAE decoder's shape and odd ones, W and
 * Wᵀ, both reductions, X as its own target, T half zeros (the products that skip them) or none;
 * and the same bits on 1, 2 and 3 threads. */
Test(tape, affine_mse_gram_matches_affine_mse)
{
    static const decoder_case cases[] = {
        {256, 64, 784, false, TG_REDUCE_MEAN, false, true}, {256, 64, 784, true, TG_REDUCE_ROW_SUM, false, true},
        {256, 64, 784, false, TG_REDUCE_MEAN, false, false}, {7, 5, 3, false, TG_REDUCE_ROW_SUM, false, false},
        {33, 20, 17, true, TG_REDUCE_MEAN, false, true},    {40, 300, 300, false, TG_REDUCE_MEAN, true, false},
        {9, 12, 12, true, TG_REDUCE_ROW_SUM, true, true},   {600, 40, 20, false, TG_REDUCE_MEAN, false, false},
    };
    for (size_t s = 0; s < sizeof cases / sizeof cases[0]; s++) {
        const decoder_case c = cases[s];
        const size_t M = c.M, K = c.K, N = c.N;
        tg_set_threads(2);
        decoder_grads ref = decoder_loss(FUSED, c, 1), gram = decoder_loss(GRAM, c, 1);
        cr_assert_float_eq(gram.loss, ref.loss, 1e-5f * ref.loss, "case %zu: loss %.9g vs %.9g", s, gram.loss, ref.loss);
        cr_assert_leq(max_rel_diff(gram.dX, ref.dX, M * K), 1e-5f, "case %zu: dX", s);
        cr_assert_leq(max_rel_diff(gram.dW, ref.dW, K * N), 1e-5f, "case %zu: dW", s);
        cr_assert_leq(max_rel_diff(gram.db, ref.db, N), 1e-5f, "case %zu: db", s);
        for (int threads = 1; threads <= 3; threads += 2) {
            tg_set_threads(threads);
            decoder_grads other = decoder_loss(GRAM, c, 1);
            cr_assert(memcmp(&other.loss, &gram.loss, sizeof gram.loss) == 0, "case %zu: loss, %d threads", s, threads);
            cr_assert(memcmp(other.dX, gram.dX, M * K * sizeof(float)) == 0, "case %zu: dX, %d threads", s, threads);
            cr_assert(memcmp(other.dW, gram.dW, K * N * sizeof(float)) == 0, "case %zu: dW, %d threads", s, threads);
            cr_assert(memcmp(other.db, gram.db, N * sizeof(float)) == 0, "case %zu: db, %d threads", s, threads);
            free_decoder_grads(&other);
        }
        free_decoder_grads(&ref);
        free_decoder_grads(&gram);
    }
    tg_set_threads(1);
}

/* The Gram route is chosen when it does fewer flops: K < M·N / (2(M + N)). */
Test(tape, affine_mse_gram_pays_for_small_hidden_and_large_batches)
{
    cr_assert(tg_affine_mse_gram_pays(256, 64, 784), "the CAE at batch 256: 64 < 96.5");
    cr_assert(tg_affine_mse_gram_pays(256, 96, 784), "96 < 96.5");
    cr_assert_not(tg_affine_mse_gram_pays(256, 97, 784), "97 > 96.5");
    cr_assert_not(tg_affine_mse_gram_pays(32, 64, 784), "batch 32: 64 > 15.4");
    cr_assert_not(tg_affine_mse_gram_pays(256, 256, 784), "hidden 256");
    cr_assert_not(tg_affine_mse_gram_pays(0, 1, 784), "no rows");
}

/* sigmoid's backward runs in parallel chunks of 4096 elements: on [70,70] (two chunks), with its
 * input the param x itself (it adds to x's gradient) or scale(x, 1) (it assigns that node's
 * first write, which then adds to x's), x's gradient gains σ'(x)·dL/dy = y(1-y)·w for
 * L = Σ w·y, on 1 and 2 threads; made by tg_sigmoid or by tg_activate (the CAE's way), the node
 * assigns. */
Test(tape, sigmoid_backward_in_chunks)
{
    enum { R = 70, C = 70 };
    tg_param x, w;
    param2(&x, "x", R, C, NULL);
    param2(&w, "w", R, C, NULL);
    tg_rng rng;
    tg_rng_seed(&rng, 9, 1);
    tg_rng_fill_uniform(&rng, x.value.data, R * C, -3.0f, 3.0f);
    tg_rng_fill_uniform(&rng, w.value.data, R * C, -1.0f, 1.0f);
    for (int threads = 1; threads <= 2; threads++)
        for (int through_scale = 0; through_scale < 2; through_scale++) {
            tg_set_threads(threads);
            for (size_t k = 0; k < (size_t)R * C; k++) /* a param's gradient accumulates: start from 0.5 */
                x.grad.data[k] = 0.5f;
            tg_tape *t = new_tape();
            tg_node *xn = tg_param_leaf(t, &x), *in = through_scale ? tg_scale(t, xn, 1.0f) : xn;
            tg_node *y = through_scale ? tg_activate(t, in, tg_activation_of(TG_ACT_SIGMOID)) : tg_sigmoid(t, in);
            cr_assert(y->assigns_input_grads, "a sigmoid node assigns its input's first gradient write");
            tg_node *loss = tg_sum(t, tg_mul(t, y, tg_param_leaf(t, &w))); /* L = Σ w·y */
            cr_assert_eq(tg_backward(t, loss, NULL), TG_OK, "%s", tg_tape_error(t));
            for (size_t k = 0; k < (size_t)R * C; k++) {
                double s = 1.0 / (1.0 + exp(-(double)x.value.data[k]));
                double expect = 0.5 + s * (1.0 - s) * (double)w.value.data[k]; /* both cases add to the param's */
                cr_assert(fabs((double)x.grad.data[k] - expect) <= 1e-6 * fabs(expect) + 1e-7,
                          "dx[%zu] = %g, expected %g (%d threads%s)", k, (double)x.grad.data[k], expect, threads,
                          through_scale ? ", through scale" : "");
            }
            tg_tape_free(t);
        }
    tg_set_threads(1);
    tg_param_free(&x);
    tg_param_free(&w);
}

/* affine_mse's loss in the order its header comment gives, from Y = X·op(W) + b as tg_affine
 * computes it (the same product): per square of the 16×16 grid, a double per column summing
 * (y − t)² down the rows, the columns then added in order; the squares in row-major order;
 * times the reduction's scale.  Computed here independently of the epilogue's two forms (whole
 * 16-wide strips as vectors, a narrower last strip as plain loops).  The doubles are rounded to
 * a float at the end, so another order inside a square seldom shows; an element missed,
 * counted twice or read from the wrong place does. */
static float affine_mse_by_the_comment(decoder_case c, float *db)
{
    decoder_inputs in;
    decoder_inputs_make(&in, c);
    tg_tape *t = new_tape();
    tg_node *y = tg_affine(t, tg_input(t, &in.X.value), tg_input(t, &in.W.value), tg_input(t, &in.b.value), c.trans_w);
    cr_assert_not_null(y, "%s", tg_tape_error(t));
    const float *Y = y->value.data, *T = in.T.data;
    double total = 0.0;
    for (size_t i0 = 0; i0 < c.M; i0 += 16)
        for (size_t j0 = 0; j0 < c.N; j0 += 16) {
            double square = 0.0;
            for (size_t j = j0; j < j0 + 16 && j < c.N; j++) {
                double column = 0.0;
                for (size_t i = i0; i < i0 + 16 && i < c.M; i++) {
                    double d = (double)Y[i * c.N + j] - (double)T[i * c.N + j];
                    column += d * d;
                }
                square += column;
            }
            total += square;
        }
    double scale = 1.0 / (double)(c.red == TG_REDUCE_MEAN ? c.M * c.N : c.M);
    /* db: D = 0 + g·(Y − T) summed down each square's rows in float, the squares in order, the
     * result added to db's 0 times dL = 1 */
    const float g = (float)(2.0 * scale);
    for (size_t j = 0; j < c.N; j++) {
        float column = 0.0f;
        for (size_t i0 = 0; i0 < c.M; i0 += 16) {
            float square = 0.0f;
            for (size_t i = i0; i < i0 + 16 && i < c.M; i++)
                square += 0.0f + g * (Y[i * c.N + j] - T[i * c.N + j]);
            column += square;
        }
        db[j] = 0.0f + 1.0f * column;
    }
    tg_tape_free(t);
    decoder_inputs_free(&in);
    return (float)(total * scale);
}

/* The fused loss and db have exactly those bits on 1, 2 and 3 threads: with whole strips only
 * (784 = 49·16), a narrow last strip (300 = 18·16 + 12) and that alone (7), a last row block of
 * 9. */
Test(tape, affine_mse_loss_and_db_in_their_documented_order)
{
    static const decoder_case cases[] = {
        {256, 64, 784, false, TG_REDUCE_MEAN, false, false},
        {41, 30, 300, true, TG_REDUCE_ROW_SUM, false, false},
        {25, 5, 7, false, TG_REDUCE_MEAN, false, false},
    };
    for (size_t s = 0; s < sizeof cases / sizeof cases[0]; s++) {
        float *db = malloc(cases[s].N * sizeof *db);
        cr_assert_not_null(db);
        const float expect = affine_mse_by_the_comment(cases[s], db);
        for (int threads = 1; threads <= 3; threads++) {
            tg_set_threads(threads);
            decoder_grads g = decoder_loss(FUSED, cases[s], 1);
            cr_assert(memcmp(&g.loss, &expect, sizeof expect) == 0, "case %zu, %d threads: loss %a, expected %a", s,
                      threads, (double)g.loss, (double)expect);
            for (size_t j = 0; j < cases[s].N; j++)
                cr_assert(memcmp(&g.db[j], &db[j], sizeof db[j]) == 0, "case %zu, %d threads: db[%zu] %a, expected %a",
                          s, threads, j, (double)g.db[j], (double)db[j]);
            free_decoder_grads(&g);
        }
        free(db);
    }
    tg_set_threads(1);
}

Test(tape, null_inputs)
{
    tg_tape *t = new_tape();
    tg_node *x = tg_input_new(t, 2, (size_t[]){2, 2});
    cr_assert_null(tg_add(t, x, NULL));
    cr_assert_eq(tg_tape_status(t), TG_ERR_ARG);
    cr_assert_str_eq(tg_tape_error(t), "add: input 1 is NULL");
    tg_tape_reset(t);
    cr_assert_null(tg_matmul(t, NULL, NULL, false, false));
    cr_assert_str_eq(tg_tape_error(t), "matmul: input 0 is NULL");
    tg_tape_reset(t);
    cr_assert_null(tg_sum(t, NULL));
    cr_assert_str_eq(tg_tape_error(t), "sum: input 0 is NULL");
    tg_tape_reset(t);
    cr_assert_null(tg_param_leaf(t, NULL));
    cr_assert_eq(tg_tape_status(t), TG_ERR_ARG);
    tg_tape_reset(t);
    cr_assert_null(tg_input(t, NULL));
    cr_assert_eq(tg_tape_status(t), TG_ERR_ARG);
    tg_tape_free(t);
}

Test(tape, backward_refuses_bad_losses)
{
    tg_tape *t = new_tape();
    tg_param W;
    param2(&W, "W", 2, 2, (float[]){1, 2, 3, 4});
    tg_error err = {0};

    tg_node *y = tg_square(t, tg_param_leaf(t, &W)); /* [2,2]: not a scalar */
    cr_assert_eq(tg_backward(t, y, &err), TG_ERR_SHAPE);
    cr_assert_str_eq(err.msg, "backward: loss has shape [2,2], expected one element");

    tg_tape_reset(t);
    tg_node *c = tg_sum(t, tg_input_new(t, 2, (size_t[]){2, 2})); /* no param upstream */
    cr_assert_eq(tg_backward(t, c, &err), TG_ERR_ARG);
    cr_assert_str_eq(err.msg, "backward: the loss does not depend on any parameter");

    cr_assert_eq(tg_backward(t, NULL, &err), TG_ERR_ARG);
    cr_assert_str_eq(err.msg, "backward: loss is NULL");

    tg_tape_reset(t);
    tg_tape_set_grad_enabled(t, false);
    tg_node *l = tg_sum(t, tg_param_leaf(t, &W));
    cr_assert_not_null(l);
    cr_assert(!l->requires_grad);
    cr_assert_eq(tg_backward(t, l, &err), TG_ERR_STATE);
    cr_assert_str_eq(err.msg, "backward: gradients are disabled on this tape (no-grad mode)");
    cr_assert_eq(W.grad.data[0], 0.0f);
    tg_param_free(&W);
    tg_tape_free(t);
}

/* ---- the arena --------------------------------------------------------------------------- */

typedef struct mlp {
    tg_param W1, b1, W2, b2;
    tg_tensor x, y;
} mlp;

/* One training-like step: reset, a 2-layer MLP with a contractive term, backward. */
static float mlp_step(tg_tape *t, mlp *m)
{
    tg_tape_reset(t);
    tg_node *x = tg_input(t, &m->x), *W1 = tg_param_leaf(t, &m->W1);
    tg_node *h = tg_sigmoid(t, tg_add(t, tg_matmul(t, x, W1, false, false), tg_param_leaf(t, &m->b1)));
    tg_node *out = tg_add(t, tg_matmul(t, h, tg_param_leaf(t, &m->W2), false, false), tg_param_leaf(t, &m->b2));
    tg_node *loss = tg_add(t, tg_bce_logits(t, out, tg_input(t, &m->y), TG_REDUCE_ROW_SUM),
                           tg_scale(t, tg_jacobian_penalty(t, h, W1, tg_activation_of(TG_ACT_SIGMOID)), 0.1f));
    tg_error err = {0};
    cr_assert_eq(tg_backward(t, loss, &err), TG_OK, "%s", err.msg);
    return loss->value.data[0];
}

Test(tape, arena_does_not_grow_after_the_first_step)
{
    mlp m;
    tg_rng rng;
    tg_rng_seed(&rng, 1, 1);
    param2(&m.W1, "W1", 16, 12, NULL);
    param2(&m.b1, "b1", 1, 12, NULL);
    param2(&m.W2, "W2", 12, 16, NULL);
    param2(&m.b2, "b2", 1, 16, NULL);
    tg_rng_fill_normal(&rng, m.W1.value.data, m.W1.value.size, 0.0f, 0.3f);
    tg_rng_fill_normal(&rng, m.W2.value.data, m.W2.value.size, 0.0f, 0.3f);
    cr_assert_eq(tg_tensor_zeros2(&m.x, 8, 16, NULL), TG_OK);
    cr_assert_eq(tg_tensor_zeros2(&m.y, 8, 16, NULL), TG_OK);
    tg_rng_fill_uniform(&rng, m.x.data, m.x.size, 0.0f, 1.0f);
    memcpy(m.y.data, m.x.data, m.x.size * sizeof(float));

    tg_tape *t = new_tape();
    float first = mlp_step(t, &m);
    size_t capacity = tg_tape_arena_capacity(t), used = tg_tape_arena_used(t);
    cr_assert_gt(used, 0);
    for (int step = 1; step < 1000; step++) {
        float loss = mlp_step(t, &m);
        cr_assert_eq(loss, first, "step %d: the same inputs gave another loss", step);
        cr_assert_eq(tg_tape_arena_capacity(t), capacity, "step %d: the arena grew", step);
        cr_assert_eq(tg_tape_arena_used(t), used, "step %d", step);
    }
    tg_tape_free(t);
    tg_tensor_free(&m.x);
    tg_tensor_free(&m.y);
    tg_param *ps[] = {&m.W1, &m.b1, &m.W2, &m.b2};
    for (int i = 0; i < 4; i++)
        tg_param_free(ps[i]);
}

/* ---- introspection and profiling ----------------------------------------------------------- */

/* W [2,3] (param), x [4,2] (input), y = x·W [4,3], L = Σ y [1]. */
static tg_node *small_graph(tg_tape *t, tg_param *W, tg_tensor *x)
{
    param2(W, "W", 2, 3, (float[]){1, 2, 3, 4, 5, 6});
    cr_assert_eq(tg_tensor_zeros2(x, 4, 2, NULL), TG_OK);
    tg_node *wn = tg_param_leaf(t, W);
    tg_node *xn = tg_input(t, x);
    return tg_sum(t, tg_matmul(t, xn, wn, false, false));
}

static char *capture(void (*print)(const tg_tape *, FILE *), const tg_tape *t)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_not_null(f);
    print(t, f);
    fclose(f);
    return buf;
}

Test(tape, print_lists_every_node)
{
    tg_tape *t = new_tape();
    tg_param W;
    tg_tensor x;
    tg_node *loss = small_graph(t, &W, &x);
    char *before = capture(tg_tape_print, t);
    cr_assert_str_eq(before,
                     "  0 param            [2,3]        in=[] bytes=24 grad param=W\n"
                     "  1 input            [4,2]        in=[] bytes=32\n"
                     "  2 matmul_nn        [4,3]        in=[1,0] bytes=48 grad   C[M,N] = A[M,K]·B[K,N]\n"
                     "  3 sum              [1]          in=[2] bytes=4 grad   y[1] = Σ x\n");
    cr_assert_eq(tg_backward(t, loss, NULL), TG_OK);
    char *after = capture(tg_tape_print, t); /* now with the gradient buffers */
    cr_assert_str_eq(after,
                     "  0 param            [2,3]        in=[] bytes=48 grad param=W\n"
                     "  1 input            [4,2]        in=[] bytes=32\n"
                     "  2 matmul_nn        [4,3]        in=[1,0] bytes=96 grad   C[M,N] = A[M,K]·B[K,N]\n"
                     "  3 sum              [1]          in=[2] bytes=8 grad   y[1] = Σ x\n");
    free(before);
    free(after);
    tg_tensor_free(&x);
    tg_param_free(&W);
    tg_tape_free(t);
}

Test(tape, write_dot_emits_nodes_and_edges)
{
    tg_tape *t = new_tape();
    tg_param W;
    tg_tensor x;
    small_graph(t, &W, &x);
    char *dot = capture(tg_tape_write_dot, t);
    cr_assert_str_eq(dot,
                     "digraph tape {\n"
                     "  rankdir=LR;\n"
                     "  node [shape=box, fontname=\"monospace\"];\n"
                     "  n0 [label=\"0: param\\n[2,3]\\nW\", style=filled, fillcolor=lightblue];\n"
                     "  n1 [label=\"1: input\\n[4,2]\"];\n"
                     "  n2 [label=\"2: matmul_nn\\n[4,3]\"];\n"
                     "  n1 -> n2;\n"
                     "  n0 -> n2;\n"
                     "  n3 [label=\"3: sum\\n[1]\"];\n"
                     "  n2 -> n3;\n"
                     "}\n");
    free(dot);
    tg_tensor_free(&x);
    tg_param_free(&W);
    tg_tape_free(t);
}

static void matmul_step(tg_tape *t, tg_param *A, tg_param *B)
{
    tg_tape_reset(t);
    tg_node *loss = tg_sum(t, tg_matmul(t, tg_param_leaf(t, A), tg_param_leaf(t, B), false, true));
    cr_assert_eq(tg_backward(t, loss, NULL), TG_OK);
}

Test(tape, profiling_times_matmul_when_enabled)
{
    tg_param A, B;
    param2(&A, "A", 64, 128, NULL);
    param2(&B, "B", 96, 128, NULL);
    tg_tensor_fill(&A.value, 0.5f);
    tg_tensor_fill(&B.value, 0.25f);

    tg_tape *off = new_tape();
    matmul_step(off, &A, &B);
    cr_assert_eq(tg_tape_profile_seconds(off, "matmul_nt", false), 0.0, "profiling is off by default");
    tg_tape_free(off);

    tg_tape *t = new_tape();
    tg_tape_set_profile(t, true);
    for (int i = 0; i < 3; i++)
        matmul_step(t, &A, &B);
    cr_assert_gt(tg_tape_profile_seconds(t, "matmul_nt", false), 0.0);
    cr_assert_gt(tg_tape_profile_seconds(t, "matmul_nt", true), 0.0);
    cr_assert_eq(tg_tape_profile_seconds(t, "no_such_op", false), 0.0);
    char *report = capture(tg_tape_profile_print, t);
    cr_assert(strstr(report, "op=matmul_nt calls=3 forward_s=") != NULL, "%s", report);
    cr_assert(strstr(report, "op=sum calls=3 forward_s=") != NULL, "%s", report);
    free(report);
    tg_tape_profile_reset(t);
    cr_assert_eq(tg_tape_profile_seconds(t, "matmul_nt", false), 0.0);
    tg_tape_free(t);
    tg_param_free(&A);
    tg_param_free(&B);
}
