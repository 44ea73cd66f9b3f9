/* tests/test_batch_norm.c — the batch_norm op and the nn/batch_norm.h layer: values worked out by
 * hand, running statistics after two training steps (PyTorch's momentum convention, unbiased
 * variance), eval mode (identical outputs, statistics untouched), the same bits on 1 and 2 threads,
 * and a checkpoint round trip of the running statistics.  (Gradients: test_gradcheck.c.) */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "autograd/ops.h"
#include "nn/batch_norm.h"
#include "tensor/parallel.h"
#include "tensor/rng.h"

static tg_tape *new_tape(void)
{
    tg_error err = {0};
    tg_tape *t = tg_tape_new(&err);
    cr_assert_not_null(t, "%s", err.msg);
    return t;
}

static void new_layer(tg_bnorm *bn, size_t n, float eps)
{
    tg_error err = {0};
    cr_assert_eq(tg_bnorm_init(bn, "bn", n, eps, 0.1f, &err), TG_OK, "%s", err.msg);
}

/* y = the layer on x [B,N] (copied into an input param), in the tape's given mode */
static tg_node *run(tg_tape *t, tg_bnorm *bn, tg_param *x, bool training)
{
    tg_tape_reset(t);
    tg_tape_set_training(t, training);
    tg_node *y = tg_bnorm_forward(t, bn, tg_param_leaf(t, x));
    cr_assert_not_null(y, "%s", tg_tape_error(t));
    return y;
}

static void param_of(tg_param *p, size_t B, size_t N, const float *values)
{
    cr_assert_eq(tg_param_init(p, "x", 2, (size_t[]){B, N}, NULL), TG_OK);
    memcpy(p->value.data, values, B * N * sizeof(float));
}

/* step 1: column 0 = 1,2,3,6 (μ 3, σ² 14/4 = 3.5, unbiased 14/3); column 1 = 0,0,4,4 (μ 2, σ² 4, unbiased 16/3)
 * step 2: column 0 = 0,0,0,4 (μ 1, unbiased 12/3 = 4); column 1 = 2,2,2,2 (μ 2, variance 0) */
static const float X1[8] = {1, 0, 2, 0, 3, 4, 6, 4};
static const float X2[8] = {0, 2, 0, 2, 0, 2, 4, 2};

Test(batch_norm, training_values_by_hand)
{
    tg_bnorm bn;
    new_layer(&bn, 2, 0.5f); /* σ² + eps: 4 and 4.5 */
    bn.gamma.value.data[0] = 2.0f, bn.gamma.value.data[1] = -1.0f;
    bn.beta.value.data[0] = 0.5f, bn.beta.value.data[1] = 1.0f;
    tg_param x;
    param_of(&x, 4, 2, X1);
    tg_tape *t = new_tape();
    tg_node *y = run(t, &bn, &x, true);
    /* column 0: x̂ = (x-3)/2 = -1, -0.5, 0, 1.5, y = 2x̂ + 0.5; column 1: x̂ = ±2/√4.5 = ±a, y = 1 - x̂ */
    double a = 2.0 * sqrt(2.0) / 3.0;
    double want[8] = {-1.5, 1 + a, -0.5, 1 + a, 0.5, 1 - a, 3.5, 1 - a};
    for (int k = 0; k < 8; k++)
        cr_assert_float_eq(y->value.data[k], want[k], 1e-6, "y[%d] = %.9g, want %.9g", k, (double)y->value.data[k],
                           want[k]);
    tg_tape_free(t);
    tg_param_free(&x);
    tg_bnorm_free(&bn);
}

Test(batch_norm, running_statistics_after_two_steps)
{
    tg_bnorm bn;
    new_layer(&bn, 2, 1e-5f);
    tg_param x1, x2;
    param_of(&x1, 4, 2, X1);
    param_of(&x2, 4, 2, X2);
    tg_tape *t = new_tape();
    run(t, &bn, &x1, true);
    /* mean 0.9·0 + 0.1·μ; var 0.9·1 + 0.1·unbiased */
    double m1[2] = {0.3, 0.2}, v1[2] = {0.9 + 1.4 / 3.0, 0.9 + 1.6 / 3.0};
    for (int j = 0; j < 2; j++) {
        cr_assert_float_eq(bn.running_mean.data[j], m1[j], 1e-6);
        cr_assert_float_eq(bn.running_var.data[j], v1[j], 1e-6);
    }
    run(t, &bn, &x2, true);
    double m2[2] = {0.9 * 0.3 + 0.1 * 1, 0.9 * 0.2 + 0.1 * 2}; /* 0.37, 0.38 */
    double v2[2] = {0.9 * v1[0] + 0.1 * 4, 0.9 * v1[1] + 0.0}; /* 1.63, 1.29 */
    for (int j = 0; j < 2; j++) {
        cr_assert_float_eq(bn.running_mean.data[j], m2[j], 1e-6, "mean[%d] = %.9g", j, (double)bn.running_mean.data[j]);
        cr_assert_float_eq(bn.running_var.data[j], v2[j], 1e-6, "var[%d] = %.9g", j, (double)bn.running_var.data[j]);
    }
    cr_assert_float_eq(bn.running_var.data[0], 1.63, 1e-6);
    cr_assert_float_eq(bn.running_var.data[1], 1.29, 1e-6);

    /* eval: normalizes by the running statistics and leaves them alone; the same input gives the same bits */
    float mean[2], var[2], y1[8], y2[8];
    memcpy(mean, bn.running_mean.data, sizeof mean);
    memcpy(var, bn.running_var.data, sizeof var);
    memcpy(y1, run(t, &bn, &x1, false)->value.data, sizeof y1);
    run(t, &bn, &x2, false);
    memcpy(y2, run(t, &bn, &x1, false)->value.data, sizeof y2);
    cr_assert(memcmp(y1, y2, sizeof y1) == 0, "eval: identical outputs for identical inputs");
    cr_assert(memcmp(mean, bn.running_mean.data, sizeof mean) == 0 && memcmp(var, bn.running_var.data, sizeof var) == 0,
              "eval must not update the running statistics");
    for (int k = 0; k < 8; k++) {
        int j = k % 2;
        double want = ((double)X1[k] - m2[j]) / sqrt(v2[j] + 1e-5);
        cr_assert_float_eq(y1[k], want, 1e-5, "eval y[%d] = %.9g, want %.9g", k, (double)y1[k], want);
    }
    tg_tape_free(t);
    tg_param_free(&x1);
    tg_param_free(&x2);
    tg_bnorm_free(&bn);
}

/* one training step (forward, backward of Σ y ⊙ x) on fixed data: y, dx, dγ, dβ and the running statistics */
enum { TB = 64, TN = 16 };
typedef struct {
    float y[TB * TN], dx[TB * TN], dg[TN], db[TN], rm[TN], rv[TN];
} step_bits;

static void train_step(step_bits *out)
{
    tg_bnorm bn;
    new_layer(&bn, TN, 1e-5f);
    tg_rng rng;
    tg_rng_seed(&rng, 7, 0);
    tg_param x;
    cr_assert_eq(tg_param_init(&x, "x", 2, (size_t[]){TB, TN}, NULL), TG_OK);
    tg_rng_fill_normal(&rng, x.value.data, TB * TN, 0.5f, 2.0f);
    tg_rng_fill_normal(&rng, bn.gamma.value.data, TN, 1.0f, 0.3f);
    tg_rng_fill_normal(&rng, bn.beta.value.data, TN, 0.0f, 0.3f);
    tg_tape *t = new_tape();
    tg_node *xn = tg_param_leaf(t, &x);
    tg_node *y = tg_bnorm_forward(t, &bn, xn);
    cr_assert_eq(tg_backward(t, tg_sum(t, tg_mul(t, y, xn)), NULL), TG_OK, "%s", tg_tape_error(t));
    memcpy(out->y, y->value.data, sizeof out->y);
    memcpy(out->dx, x.grad.data, sizeof out->dx);
    memcpy(out->dg, bn.gamma.grad.data, sizeof out->dg);
    memcpy(out->db, bn.beta.grad.data, sizeof out->db);
    memcpy(out->rm, bn.running_mean.data, sizeof out->rm);
    memcpy(out->rv, bn.running_var.data, sizeof out->rv);
    tg_tape_free(t);
    tg_param_free(&x);
    tg_bnorm_free(&bn);
}

Test(batch_norm, training_bits_identical_on_one_and_two_threads)
{
    static step_bits a, b;
    int saved = tg_get_threads();
    tg_set_threads(1);
    train_step(&a);
    tg_set_threads(2);
    train_step(&b);
    tg_set_threads(saved);
    cr_assert(memcmp(&a, &b, sizeof a) == 0, "1 vs 2 threads");
}

Test(batch_norm, checkpoint_round_trip_of_the_running_statistics)
{
    tg_bnorm a, b;
    new_layer(&a, 2, 1e-5f);
    new_layer(&b, 2, 1e-5f);
    tg_param x1, x2;
    param_of(&x1, 4, 2, X1);
    param_of(&x2, 4, 2, X2);
    tg_tape *t = new_tape();
    a.gamma.value.data[1] = 3.0f;
    run(t, &a, &x1, true);
    run(t, &a, &x2, true);

    tg_error err = {0};
    char path[64];
    snprintf(path, sizeof path, "/tmp/tg_test_bn_%ld.tgck", (long)getpid());
    tg_checkpoint *ck = tg_ckpt_new(&err);
    tg_param *pa[2], *pb[2];
    tg_bnorm_params(&a, pa);
    tg_bnorm_params(&b, pb);
    cr_assert_eq(tg_ckpt_add_params(ck, pa, 2, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(tg_bnorm_save(&a, ck, &err), TG_OK, "%s", err.msg);
    cr_assert_not_null(tg_ckpt_find(ck, "bn.running_mean"));
    cr_assert_not_null(tg_ckpt_find(ck, "bn.running_var"));
    cr_assert_eq(tg_ckpt_write(ck, path, &err), TG_OK, "%s", err.msg);
    tg_ckpt_free(ck);

    ck = tg_ckpt_read(path, &err);
    cr_assert_not_null(ck, "%s", err.msg);
    cr_assert_eq(tg_ckpt_load_params(ck, path, pb, 2, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(tg_bnorm_load(&b, ck, path, &err), TG_OK, "%s", err.msg);
    tg_ckpt_free(ck);
    unlink(path);
    cr_assert(memcmp(a.running_mean.data, b.running_mean.data, 2 * sizeof(float)) == 0);
    cr_assert(memcmp(a.running_var.data, b.running_var.data, 2 * sizeof(float)) == 0);

    float ya[8], yb[8];
    memcpy(ya, run(t, &a, &x1, false)->value.data, sizeof ya);
    memcpy(yb, run(t, &b, &x1, false)->value.data, sizeof yb);
    cr_assert(memcmp(ya, yb, sizeof ya) == 0, "eval after load: identical outputs");

    /* a checkpoint without the statistics: refused, nothing changed */
    ck = tg_ckpt_new(&err);
    float before = b.running_mean.data[0];
    cr_assert_neq(tg_bnorm_load(&b, ck, "empty", &err), TG_OK);
    cr_assert(strstr(err.msg, "bn.running_mean") != NULL, "%s", err.msg);
    cr_assert_eq(b.running_mean.data[0], before);
    tg_ckpt_free(ck);
    tg_tape_free(t);
    tg_param_free(&x1);
    tg_param_free(&x2);
    tg_bnorm_free(&a);
    tg_bnorm_free(&b);
}

Test(batch_norm, checks_its_arguments)
{
    tg_bnorm bn;
    tg_error err = {0};
    cr_assert_eq(tg_bnorm_init(&bn, "bn", 0, 1e-5f, 0.1f, &err), TG_ERR_ARG);
    cr_assert_eq(tg_bnorm_init(&bn, "bn", 2, 0.0f, 0.1f, &err), TG_ERR_ARG);
    cr_assert_eq(tg_bnorm_init(&bn, "bn", 2, 1e-5f, 1.5f, &err), TG_ERR_ARG);
    new_layer(&bn, 2, 1e-5f);
    tg_param x;
    param_of(&x, 1, 2, X1);
    tg_tape *t = new_tape();
    cr_assert_null(tg_bnorm_forward(t, &bn, tg_param_leaf(t, &x)), "training on one row");
    cr_assert(strstr(tg_tape_error(t), "batch of 2") != NULL, "%s", tg_tape_error(t));
    tg_tape_reset(t);
    tg_tape_set_training(t, false);
    cr_assert_not_null(tg_bnorm_forward(t, &bn, tg_param_leaf(t, &x)), "eval works on one row");
    tg_tape_reset(t);
    cr_assert_null(tg_batch_norm(t, tg_param_leaf(t, &x), NULL, NULL, 1e-5f, NULL, NULL, NULL), "eval needs statistics");
    tg_tape_free(t);
    tg_param_free(&x);
    tg_bnorm_free(&bn);
}
