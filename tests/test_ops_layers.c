/* tests/test_ops_layers.c — the layer ops of autograd/ops_layers.c and the tape's train/eval
 * mode: values worked out by hand, dropout's mask statistics and reproducibility (seed, thread
 * count, eval mode), layer_norm's stability, embedding's gather and scatter-add, and the
 * constructors' checks.  (The gradients against finite differences: test_gradcheck.c.) */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "autograd/ops.h"
#include "tensor/parallel.h"

static tg_tape *new_tape(void)
{
    tg_error err = {0};
    tg_tape *t = tg_tape_new(&err);
    cr_assert_not_null(t, "%s", err.msg);
    return t;
}

static void param_of(tg_param *p, int ndim, const size_t *shape, const float *values)
{
    cr_assert_eq(tg_param_init(p, "p", ndim, shape, NULL), TG_OK);
    if (values)
        memcpy(p->value.data, values, p->value.size * sizeof(float));
}

/* ---- the tape's mode -------------------------------------------------------------------- */

Test(tape_mode, defaults_to_training_and_survives_reset)
{
    tg_tape *t = new_tape();
    cr_assert(tg_tape_training(t));
    tg_tape_set_training(t, false);
    tg_tape_reset(t);
    cr_assert(!tg_tape_training(t));
    cr_assert(tg_tape_grad_enabled(t), "the mode is not the gradient mode");
    tg_tape_set_training(t, true);
    cr_assert(tg_tape_training(t));
    tg_tape_free(t);
}

/* ---- dropout ---------------------------------------------------------------------------- */

#define DN 4096

/* dropout of a ones [64,64] param with (p, seed), training or not; copies y into out */
static void dropout_ones(float p, uint64_t seed, bool training, float *out, float *grad)
{
    tg_param x;
    param_of(&x, 2, (size_t[]){64, 64}, NULL);
    for (size_t k = 0; k < DN; k++)
        x.value.data[k] = 1.0f;
    tg_tape *t = new_tape();
    tg_tape_set_training(t, training);
    tg_node *y = tg_dropout(t, tg_param_leaf(t, &x), p, seed);
    cr_assert_not_null(y, "%s", tg_tape_error(t));
    memcpy(out, y->value.data, DN * sizeof(float));
    if (grad) {
        cr_assert_eq(tg_backward(t, tg_sum(t, y), NULL), TG_OK);
        memcpy(grad, x.grad.data, DN * sizeof(float));
    }
    tg_tape_free(t);
    tg_param_free(&x);
}

Test(dropout, training_zeroes_about_p_and_scales_the_rest)
{
    static float y[DN], g[DN];
    dropout_ones(0.25f, 7, true, y, g);
    size_t zeros = 0;
    for (size_t k = 0; k < DN; k++) {
        cr_assert(y[k] == 0.0f || y[k] == (float)(1.0 / 0.75), "y[%zu] = %g", k, (double)y[k]);
        cr_assert_eq(g[k], y[k], "the gradient is the mask");
        zeros += y[k] == 0.0f;
    }
    /* binomial(4096, 0.25): mean 1024, sd 27.7 */
    cr_assert(zeros > 1024 - 140 && zeros < 1024 + 140, "%zu zeros of %d", zeros, DN);
}

Test(dropout, p_zero_keeps_everything_and_eval_is_the_identity)
{
    static float y[DN], g[DN];
    dropout_ones(0.0f, 3, true, y, NULL);
    for (size_t k = 0; k < DN; k++)
        cr_assert_eq(y[k], 1.0f);
    dropout_ones(0.9f, 3, false, y, g);
    for (size_t k = 0; k < DN; k++) {
        cr_assert_eq(y[k], 1.0f);
        cr_assert_eq(g[k], 1.0f);
    }
}

Test(dropout, reproducible_from_the_seed_on_one_and_two_threads)
{
    static float a[DN], b[DN], c[DN], other[DN];
    int saved = tg_get_threads();
    tg_set_threads(1);
    dropout_ones(0.5f, 42, true, a, NULL);
    tg_set_threads(2);
    dropout_ones(0.5f, 42, true, b, NULL);
    dropout_ones(0.5f, 42, true, c, NULL);
    dropout_ones(0.5f, 43, true, other, NULL);
    tg_set_threads(saved);
    cr_assert(memcmp(a, b, sizeof a) == 0, "1 vs 2 threads");
    cr_assert(memcmp(b, c, sizeof b) == 0, "two runs");
    cr_assert(memcmp(a, other, sizeof a) != 0, "another seed, another mask");
}

Test(dropout, eval_gives_identical_outputs_for_identical_inputs)
{
    static float a[DN], b[DN];
    dropout_ones(0.5f, 1, false, a, NULL);
    dropout_ones(0.5f, 2, false, b, NULL);
    cr_assert(memcmp(a, b, sizeof a) == 0);
}

Test(dropout, two_dropouts_in_one_step_draw_different_masks)
{
    tg_param x;
    param_of(&x, 1, (size_t[]){256}, NULL);
    for (size_t k = 0; k < 256; k++)
        x.value.data[k] = 1.0f;
    tg_tape *t = new_tape();
    tg_node *xl = tg_param_leaf(t, &x);
    tg_node *y1 = tg_dropout(t, xl, 0.5f, 9), *y2 = tg_dropout(t, xl, 0.5f, 9);
    cr_assert(memcmp(y1->value.data, y2->value.data, 256 * sizeof(float)) != 0);
    tg_tape_free(t);
    tg_param_free(&x);
}

Test(dropout, rejects_p_outside_0_1)
{
    tg_param x;
    param_of(&x, 1, (size_t[]){4}, NULL);
    const float bad[] = {1.0f, -0.1f, NAN};
    for (int i = 0; i < 3; i++) {
        tg_tape *t = new_tape();
        cr_assert_null(tg_dropout(t, tg_param_leaf(t, &x), bad[i], 1));
        cr_assert_eq(tg_tape_status(t), TG_ERR_ARG);
        cr_assert(strstr(tg_tape_error(t), "dropout: p = ") == tg_tape_error(t), "%s", tg_tape_error(t));
        tg_tape_free(t);
    }
    tg_param_free(&x);
}

/* ---- layer_norm ------------------------------------------------------------------------- */

Test(layer_norm, normalizes_rows_then_scales_and_shifts)
{
    tg_param x, g, b;
    param_of(&x, 2, (size_t[]){2, 4}, (float[]){1, 2, 3, 4, -1, -1, 1, 1});
    param_of(&g, 1, (size_t[]){4}, (float[]){1, 2, 1, 1});
    param_of(&b, 1, (size_t[]){4}, (float[]){0, 0, 0, 10});
    tg_tape *t = new_tape();
    tg_node *y = tg_layer_norm(t, tg_param_leaf(t, &x), tg_param_leaf(t, &g), tg_param_leaf(t, &b), 1e-5f);
    cr_assert_not_null(y, "%s", tg_tape_error(t));
    /* row 0: μ = 2.5, σ² = 1.25; row 1: μ = 0, σ² = 1 */
    double r0 = 1.0 / sqrt(1.25 + 1e-5), r1 = 1.0 / sqrt(1.0 + 1e-5);
    double want[8] = {-1.5 * r0, 2 * -0.5 * r0, 0.5 * r0, 1.5 * r0 + 10, -r1, -2 * r1, r1, r1 + 10};
    for (int k = 0; k < 8; k++)
        cr_assert_float_eq(y->value.data[k], want[k], 1e-5, "y[%d] = %g, want %g", k, (double)y->value.data[k], want[k]);
    /* Σ of a normalized row is constant in x: dx of sum(layer_norm(x)) without γ is 0 */
    tg_tape_reset(t);
    cr_assert_eq(tg_backward(t, tg_sum(t, tg_layer_norm(t, tg_param_leaf(t, &x), NULL, tg_param_leaf(t, &b), 1e-5f)), NULL),
                 TG_OK);
    for (int k = 0; k < 8; k++)
        cr_assert_float_eq(x.grad.data[k], 0.0f, 1e-5);
    cr_assert_eq(b.grad.data[3], 2.0f, "dβ = Σ_rows dy");
    tg_tape_free(t);
    tg_param_free(&x);
    tg_param_free(&g);
    tg_param_free(&b);
}

Test(layer_norm, is_stable_for_a_large_offset)
{
    /* 1e4 + {-1, 1}: E[x²] - μ² in float would lose every digit */
    tg_param x;
    param_of(&x, 2, (size_t[]){1, 4}, (float[]){10001, 9999, 10001, 9999});
    tg_tape *t = new_tape();
    tg_node *y = tg_layer_norm(t, tg_param_leaf(t, &x), NULL, NULL, 1e-6f);
    for (int k = 0; k < 4; k++)
        cr_assert_float_eq(fabsf(y->value.data[k]), 1.0f, 1e-5);
    tg_tape_free(t);
    tg_param_free(&x);
}

Test(layer_norm, checks_gamma_beta_and_eps)
{
    tg_param x, g;
    param_of(&x, 2, (size_t[]){2, 3}, NULL);
    param_of(&g, 1, (size_t[]){2}, NULL);
    tg_tape *t = new_tape();
    cr_assert_null(tg_layer_norm(t, tg_param_leaf(t, &x), tg_param_leaf(t, &g), NULL, 1e-5f));
    cr_assert_str_eq(tg_tape_error(t), "layer_norm: x [2,3]: gamma [2] must be a row [3]");
    tg_tape_reset(t);
    cr_assert_null(tg_layer_norm(t, tg_param_leaf(t, &x), NULL, NULL, 0.0f));
    cr_assert_eq(tg_tape_status(t), TG_ERR_ARG);
    tg_tape_free(t);
    tg_param_free(&x);
    tg_param_free(&g);
}

/* ---- embedding -------------------------------------------------------------------------- */

Test(embedding, gathers_rows_and_scatter_adds_gradients)
{
    tg_param w;
    param_of(&w, 2, (size_t[]){3, 2}, (float[]){0, 1, 10, 11, 20, 21});
    const int32_t idx[] = {2, 0, 2, 2};
    tg_tape *t = new_tape();
    tg_node *y = tg_embedding(t, tg_param_leaf(t, &w), idx, 4);
    cr_assert_not_null(y, "%s", tg_tape_error(t));
    cr_assert_eq(y->value.shape[0], 4);
    cr_assert_eq(y->value.shape[1], 2);
    const float want[] = {20, 21, 0, 1, 20, 21, 20, 21};
    cr_assert(memcmp(y->value.data, want, sizeof want) == 0);
    cr_assert_eq(tg_backward(t, tg_sum(t, y), NULL), TG_OK);
    const float dw[] = {1, 1, 0, 0, 3, 3};
    cr_assert(memcmp(w.grad.data, dw, sizeof dw) == 0);
    tg_tape_free(t);
    tg_param_free(&w);
}

Test(embedding, checks_indices_at_construction)
{
    tg_param w;
    param_of(&w, 2, (size_t[]){3, 2}, NULL);
    tg_tape *t = new_tape();
    cr_assert_null(tg_embedding(t, tg_param_leaf(t, &w), (int32_t[]){0, 3}, 2));
    cr_assert_str_eq(tg_tape_error(t), "embedding: index 3 at 1 outside 0..2 (table [3,2])");
    tg_tape_reset(t);
    cr_assert_null(tg_embedding(t, tg_param_leaf(t, &w), (int32_t[]){-1}, 1));
    cr_assert_eq(tg_tape_status(t), TG_ERR_ARG);
    tg_tape_free(t);
    tg_param_free(&w);
}
