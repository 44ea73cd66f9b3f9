/* tests/test_stability.c — the saturating ops at extreme inputs (±100, ±1e4): finite values,
 * finite gradients, and the right limits.  A naive 1/(1+exp(-x)) or log(1+exp(x)) overflows
 * here (exp(1e4) = inf in float), and inf/inf or inf - inf make NaNs. */
#include <criterion/criterion.h>
#include <math.h>

#include "autograd/fused/fused.h"
#include "autograd/ops.h"

static const float extremes[] = {-1e4f, -100.0f, 100.0f, 1e4f};
#define N_EXTREMES 4

/* x = the extremes as a param [1,4]; y = op(x); L = Σ y; backward: dL/dx = op'(x). */
typedef struct fixture {
    tg_tape *t;
    tg_param x;
    tg_node *y, *loss;
} fixture;

static void run_unary(fixture *f, tg_node *(*op)(tg_tape *, tg_node *))
{
    f->t = tg_tape_new(NULL);
    cr_assert_eq(tg_param_init(&f->x, "x", 2, (size_t[]){1, N_EXTREMES}, NULL), TG_OK);
    for (int k = 0; k < N_EXTREMES; k++)
        f->x.value.data[k] = extremes[k];
    f->y = op(f->t, tg_param_leaf(f->t, &f->x));
    f->loss = tg_sum(f->t, f->y);
    tg_error err = {0};
    cr_assert_eq(tg_backward(f->t, f->loss, &err), TG_OK, "%s", err.msg);
    for (int k = 0; k < N_EXTREMES; k++) {
        double x = extremes[k], y = f->y->value.data[k], g = f->x.grad.data[k];
        cr_assert(isfinite(y), "value at x=%g is %g", x, y);
        cr_assert(isfinite(g), "gradient at x=%g is %g", x, g);
    }
}

static void done(fixture *f)
{
    tg_param_free(&f->x);
    tg_tape_free(f->t);
}

/* y[k] and dy/dx[k] against the expected limits (absolute tolerance). */
static void expect_at(const fixture *f, int k, float value, float grad, float tol)
{
    cr_assert_float_eq(f->y->value.data[k], value, tol, "value at x=%g: %g, expected %g", (double)extremes[k],
                       (double)f->y->value.data[k], (double)value);
    cr_assert_float_eq(f->x.grad.data[k], grad, tol, "gradient at x=%g: %g, expected %g", (double)extremes[k],
                       (double)f->x.grad.data[k], (double)grad);
}

Test(stability, sigmoid)
{
    fixture f;
    run_unary(&f, tg_sigmoid);
    expect_at(&f, 0, 0.0f, 0.0f, 0.0f); /* exactly: e^{-1e4} underflows to 0 */
    expect_at(&f, 1, 0.0f, 0.0f, 1e-40f);
    expect_at(&f, 2, 1.0f, 0.0f, 0.0f);
    expect_at(&f, 3, 1.0f, 0.0f, 0.0f); /* sigmoid(1e4) = 1 */
    cr_assert_gt(f.y->value.data[1], 0.0f, "sigmoid(-100) = 3.7e-44 is a (denormal) positive number");
    done(&f);
}

Test(stability, softplus)
{
    fixture f;
    run_unary(&f, tg_softplus);
    expect_at(&f, 0, 0.0f, 0.0f, 0.0f);         /* softplus(-1e4) = 0 */
    expect_at(&f, 1, 0.0f, 0.0f, 1e-40f);       /* e^{-100} = 3.7e-44 */
    expect_at(&f, 2, 100.0f, 1.0f, 0.0f);
    expect_at(&f, 3, 1e4f, 1.0f, 0.0f);          /* softplus(1e4) = 1e4 */
    done(&f);
}

Test(stability, tanh)
{
    fixture f;
    run_unary(&f, tg_tanh);
    expect_at(&f, 0, -1.0f, 0.0f, 0.0f);
    expect_at(&f, 1, -1.0f, 0.0f, 0.0f);
    expect_at(&f, 2, 1.0f, 0.0f, 0.0f);
    expect_at(&f, 3, 1.0f, 0.0f, 0.0f);
    done(&f);
}

/* Logits z at the extremes, targets 0 and 1: the loss per element is softplus(z) - t·z. */
Test(stability, bce_logits)
{
    static const float targets[2] = {0.0f, 1.0f};
    for (int ti = 0; ti < 2; ti++) {
        tg_tape *t = tg_tape_new(NULL);
        tg_param z;
        cr_assert_eq(tg_param_init(&z, "z", 2, (size_t[]){1, N_EXTREMES}, NULL), TG_OK);
        tg_tensor target;
        cr_assert_eq(tg_tensor_zeros2(&target, 1, N_EXTREMES, NULL), TG_OK);
        for (int k = 0; k < N_EXTREMES; k++) {
            z.value.data[k] = extremes[k];
            target.data[k] = targets[ti];
        }
        /* ROW_SUM: L = Σ_k ℓ_k (one row), so dL/dz_k = σ(z_k) - t. */
        tg_node *loss = tg_bce_logits(t, tg_param_leaf(t, &z), tg_input(t, &target), TG_REDUCE_ROW_SUM);
        tg_error err = {0};
        cr_assert_eq(tg_backward(t, loss, &err), TG_OK, "%s", err.msg);
        float L = loss->value.data[0];
        cr_assert(isfinite(L));
        /* t = 0: ℓ = softplus(z): 0 + 0 + 100 + 1e4.  t = 1: ℓ = softplus(-z): 1e4 + 100 + 0 + 0. */
        cr_assert_float_eq(L, 10100.0f, 1e-2f, "target %g: loss %g", (double)targets[ti], (double)L);
        for (int k = 0; k < N_EXTREMES; k++) {
            float expect = (extremes[k] > 0 ? 1.0f : 0.0f) - targets[ti];
            cr_assert(isfinite(z.grad.data[k]));
            cr_assert_float_eq(z.grad.data[k], expect, 1e-6f, "target %g, z %g: grad %g", (double)targets[ti],
                               (double)extremes[k], (double)z.grad.data[k]);
        }
        tg_tensor_free(&target);
        tg_param_free(&z);
        tg_tape_free(t);
    }
}

/* Rows of logits {a, 0, -a} for a = 100 and 1e4: label 0 is confidently right (loss ≈ 0), label
 * 1 wrong by a (loss ≈ a), label 2 wrong by 2a. */
Test(stability, softmax_xent)
{
    static const float scales[2] = {100.0f, 1e4f};
    for (int s = 0; s < 2; s++) {
        float a = scales[s];
        for (int32_t label = 0; label < 3; label++) {
            tg_tape *t = tg_tape_new(NULL);
            tg_param z;
            cr_assert_eq(tg_param_init(&z, "z", 2, (size_t[]){1, 3}, NULL), TG_OK);
            z.value.data[0] = a;
            z.value.data[1] = 0.0f;
            z.value.data[2] = -a;
            tg_node *loss = tg_softmax_xent(t, tg_param_leaf(t, &z), &label);
            tg_error err = {0};
            cr_assert_eq(tg_backward(t, loss, &err), TG_OK, "%s", err.msg);
            float L = loss->value.data[0], expect = (float)label * a;
            cr_assert(isfinite(L));
            cr_assert_float_eq(L, expect, 1e-6f * a, "a=%g label %d: loss %g, expected %g", (double)a, label,
                               (double)L, (double)expect);
            /* softmax ≈ (1, 0, 0): dL/dz = softmax - onehot(label) */
            for (int j = 0; j < 3; j++) {
                float g = z.grad.data[j], want = (j == 0 ? 1.0f : 0.0f) - (j == label ? 1.0f : 0.0f);
                cr_assert(isfinite(g));
                cr_assert_float_eq(g, want, 1e-6f, "a=%g label %d: dz[%d] = %g", (double)a, label, j, (double)g);
            }
            tg_param_free(&z);
            tg_tape_free(t);
        }
    }
}

/* The Jacobian penalty's f' from h at saturated activations: finite, and 0 where f saturates. */
Test(stability, jacobian_penalty_saturated)
{
    for (int act = 0; act < TG_ACT_COUNT; act++) {
        tg_tape *t = tg_tape_new(NULL);
        tg_param x, W;
        cr_assert_eq(tg_param_init(&x, "x", 2, (size_t[]){1, 1}, NULL), TG_OK);
        cr_assert_eq(tg_param_init(&W, "W", 2, (size_t[]){1, N_EXTREMES}, NULL), TG_OK);
        x.value.data[0] = 1.0f;
        for (int k = 0; k < N_EXTREMES; k++)
            W.value.data[k] = extremes[k]; /* z = x·W = the extremes */
        tg_node *xn = tg_param_leaf(t, &x), *Wn = tg_param_leaf(t, &W);
        tg_node *h = tg_activate(t, tg_matmul(t, xn, Wn, false, false), tg_activation_of((tg_activation_kind)act));
        tg_node *P = tg_jacobian_penalty(t, h, Wn, tg_activation_of((tg_activation_kind)act));
        tg_error err = {0};
        cr_assert_eq(tg_backward(t, P, &err), TG_OK, "%s", err.msg);
        cr_assert(isfinite(P->value.data[0]), "%s: P = %g", tg_activation_name((tg_activation_kind)act), (double)P->value.data[0]);
        for (int k = 0; k < N_EXTREMES; k++)
            cr_assert(isfinite(W.grad.data[k]), "%s: dW[%d] = %g", tg_activation_name((tg_activation_kind)act), k, (double)W.grad.data[k]);
        cr_assert(isfinite(x.grad.data[0]));
        tg_param_free(&x);
        tg_param_free(&W);
        tg_tape_free(t);
    }
}
