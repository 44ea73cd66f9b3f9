/* tests/test_metrics.c — cross-entropy on uint8_t labels (plain and gathered through an index
 * array) against the int32 path, accuracy, and the L1/L2 penalties. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "autograd/ops.h"
#include "nn/metrics.h"
#include "tensor/rng.h"

#define M 7
#define C 5

static tg_tape *tape;
static tg_param z;

static void setup(void)
{
    tg_error err;
    tape = tg_tape_new(&err);
    cr_assert(tape);
    cr_assert_eq(tg_param_init(&z, "z", 2, (size_t[]){M, C}, &err), TG_OK);
    tg_rng rng;
    tg_rng_seed(&rng, 20, 5);
    for (size_t k = 0; k < z.value.size; k++)
        z.value.data[k] = 4.0f * ((float)tg_rng_u32(&rng) / 4294967296.0f) - 2.0f;
}

static void teardown(void)
{
    tg_param_free(&z);
    tg_tape_free(tape);
}

/* The loss's value and z's gradient from a softmax_xent built by `kind`: 0 int32, 1 uint8,
 * 2 uint8 gathered through idx. */
static float xent_run(int kind, const int32_t *l32, const uint8_t *l8, const uint32_t *idx, float *grad)
{
    tg_param_zero_grad(&z);
    tg_tape_reset(tape);
    tg_node *x = tg_param_leaf(tape, &z);
    tg_node *loss = kind == 0 ? tg_softmax_xent(tape, x, l32)
                  : kind == 1 ? tg_softmax_xent_u8(tape, x, l8)
                              : tg_softmax_xent_gather(tape, x, l8, idx);
    cr_assert(loss, "softmax_xent failed: %d", tg_tape_status(tape));
    tg_error err;
    cr_assert_eq(tg_backward(tape, loss, &err), TG_OK);
    memcpy(grad, z.grad.data, sizeof(float) * M * C);
    return loss->value.data[0];
}

TestSuite(metrics, .init = setup, .fini = teardown);

Test(metrics, xent_u8_and_gather_match_int32_bits)
{
    const uint8_t data_labels[10] = {3, 0, 4, 1, 1, 2, 0, 4, 3, 2};
    const uint32_t idx[M] = {9, 2, 2, 0, 5, 7, 1};
    int32_t l32[M];
    uint8_t l8[M];
    for (int i = 0; i < M; i++)
        l8[i] = data_labels[idx[i]], l32[i] = data_labels[idx[i]];
    float g32[M * C], g8[M * C], gg[M * C];
    float v32 = xent_run(0, l32, NULL, NULL, g32);
    float v8 = xent_run(1, NULL, l8, NULL, g8);
    float vg = xent_run(2, NULL, data_labels, idx, gg);
    cr_assert(v32 > 0.0f);
    cr_assert_eq(memcmp(&v32, &v8, sizeof v8), 0, "value: int32 %.9g vs uint8 %.9g", v32, v8);
    cr_assert_eq(memcmp(&v32, &vg, sizeof vg), 0, "value: int32 %.9g vs gather %.9g", v32, vg);
    cr_assert_eq(memcmp(g32, g8, sizeof g8), 0, "gradient: int32 vs uint8 differ");
    cr_assert_eq(memcmp(g32, gg, sizeof gg), 0, "gradient: int32 vs gather differ");
}

Test(metrics, xent_u8_checks_labels_and_idx)
{
    uint8_t bad[M] = {0, 1, 2, 3, 4, 5, 0}; /* 5 >= C */
    cr_assert_null(tg_softmax_xent_u8(tape, tg_param_leaf(tape, &z), bad));
    cr_assert_eq(tg_tape_status(tape), TG_ERR_ARG);
    tg_tape_reset(tape);
    const uint8_t ok[M] = {0};
    cr_assert_null(tg_softmax_xent_gather(tape, tg_param_leaf(tape, &z), ok, NULL));
    cr_assert_eq(tg_tape_status(tape), TG_ERR_ARG);
    tg_tape_reset(tape);
    const uint32_t idx[M] = {0, 0, 0, 0, 0, 0, 1};
    cr_assert_null(tg_softmax_xent_gather(tape, tg_param_leaf(tape, &z), bad + 4, idx)); /* bad[5] */
    cr_assert_eq(tg_tape_status(tape), TG_ERR_ARG);
}

Test(metrics, accuracy_counts_first_argmax)
{
    /* rows: argmax 2; a tie between 0 and 3 (first: 0); argmax 1; a NaN at 4 (counts as the max) */
    float v[4 * C] = {0, 1, 5, 2, 3,   7, 1, 2, 7, 0,   0, 9, 1, 2, 3,   1, 2, 3, 4, NAN};
    tg_tensor x;
    tg_tensor_wrap(&x, v, 2, (size_t[]){4, C}, NULL);
    const int32_t l32[4] = {2, 0, 3, 4};
    cr_assert_float_eq(tg_accuracy(&x, l32), 0.75, 1e-12);
    const int32_t tie_last[4] = {2, 3, 1, 4};
    cr_assert_float_eq(tg_accuracy(&x, tie_last), 0.75, 1e-12);
    const uint8_t l8[6] = {9, 1, 4, 2, 0, 3};
    const uint32_t idx[4] = {3, 4, 1, 2}; /* labels 2, 0, 1, 4: all right */
    cr_assert_float_eq(tg_accuracy_u8(&x, l8, idx), 1.0, 1e-12);
    cr_assert_float_eq(tg_accuracy_u8(&x, l8, NULL), 0.0, 1e-12); /* 9, 1, 4, 2 */
}

Test(metrics, penalties_value_and_gradient)
{
    tg_param w;
    tg_error err;
    cr_assert_eq(tg_param_init(&w, "w", 1, (size_t[]){3}, &err), TG_OK);
    const float wv[3] = {-1.5f, 0.0f, 2.0f};
    memcpy(w.value.data, wv, sizeof wv);
    tg_param *ps[2] = {&z, &w};
    double l1 = 0.0, l2 = 0.0;
    for (size_t k = 0; k < z.value.size; k++)
        l1 += fabs(z.value.data[k]), l2 += (double)z.value.data[k] * z.value.data[k];
    l1 += 3.5, l2 += 6.25;

    tg_params_zero_grad(ps, 2);
    tg_node *p1 = tg_l1_penalty(tape, ps, 2);
    cr_assert(p1);
    cr_assert_float_eq(p1->value.data[0], l1, 1e-4 * l1);
    cr_assert_eq(tg_backward(tape, p1, &err), TG_OK);
    cr_assert_eq(w.grad.data[0], -1.0f);
    cr_assert_eq(w.grad.data[1], 0.0f);
    cr_assert_eq(w.grad.data[2], 1.0f);
    cr_assert_eq(z.grad.data[3], z.value.data[3] > 0 ? 1.0f : -1.0f);

    tg_tape_reset(tape);
    tg_params_zero_grad(ps, 2);
    tg_node *p2 = tg_l2_penalty(tape, ps, 2);
    cr_assert(p2);
    cr_assert_float_eq(p2->value.data[0], l2, 1e-4 * l2);
    cr_assert_eq(tg_backward(tape, p2, &err), TG_OK);
    cr_assert_eq(w.grad.data[0], -3.0f);
    cr_assert_eq(w.grad.data[2], 4.0f);
    cr_assert_eq(z.grad.data[5], 2.0f * z.value.data[5]);

    tg_tape_reset(tape);
    cr_assert_null(tg_l2_penalty(tape, ps, 0));
    cr_assert_eq(tg_tape_status(tape), TG_ERR_ARG);
    tg_param_free(&w);
}
