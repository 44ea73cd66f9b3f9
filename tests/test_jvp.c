/* tests/test_jvp.c — what is built on forward mode (autograd/jvp.h): the generic contractive
 * penalty against the fused one, Jacobians both ways, Hessian-vector products, Hutchinson's
 * estimate, and the sweep's edges.  (Every op's tangent rule is checked by the generated suite
 * jvp::<op> in test_gradcheck.c.) */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "autograd/fused/fused.h"
#include "autograd/jvp.h"
#include "autograd/ops.h"
#include "tensor/parallel.h"
#include "tensor/rng.h"

/* ---- a one-layer encoder h = f(x·W + b): x an input [B,D], W [D,H] and b [H] params --------- */

typedef struct encoder {
    tg_tensor x;
    tg_param W, b;
    tg_activation act;
} encoder;

static void encoder_init(encoder *e, size_t B, size_t D, size_t H, tg_activation act, uint64_t seed)
{
    memset(e, 0, sizeof *e);
    e->act = act;
    tg_rng rng;
    tg_rng_seed(&rng, seed, 3);
    cr_assert_eq(tg_tensor_zeros2(&e->x, B, D, NULL), TG_OK);
    cr_assert_eq(tg_param_init(&e->W, "W", 2, (size_t[]){D, H}, NULL), TG_OK);
    cr_assert_eq(tg_param_init(&e->b, "b", 1, (size_t[]){H}, NULL), TG_OK);
    tg_rng_fill_uniform(&rng, e->x.data, e->x.size, -1.0f, 1.0f);
    tg_rng_fill_uniform(&rng, e->W.value.data, e->W.value.size, -0.6f, 0.6f);
    tg_rng_fill_uniform(&rng, e->b.value.data, e->b.value.size, -0.5f, 0.5f);
}

static void encoder_free(encoder *e)
{
    tg_tensor_free(&e->x);
    tg_param_free(&e->W);
    tg_param_free(&e->b);
}

typedef enum penalty_route { FUSED, EXACT, HUTCHINSON } penalty_route;

/* The penalty by one route; *x_out and *h_out the encoder's input and output nodes. */
static tg_node *penalty(tg_tape *t, encoder *e, penalty_route route, int k, uint64_t seed)
{
    tg_node *x = tg_input(t, &e->x), *W = tg_param_leaf(t, &e->W);
    tg_node *h = tg_activate(t, tg_affine(t, x, W, tg_param_leaf(t, &e->b), false), e->act);
    if (route == FUSED)
        return tg_jacobian_penalty(t, h, W, e->act);
    return route == EXACT ? tg_contractive_exact(t, h, x) : tg_contractive_hutchinson(t, h, x, k, seed);
}

/* value and the gradients of W and b (concatenated into grads) */
static float penalty_and_grads(tg_tape *t, encoder *e, penalty_route route, int k, uint64_t seed, float *grads)
{
    tg_tape_reset(t);
    tg_param_zero_grad(&e->W);
    tg_param_zero_grad(&e->b);
    tg_node *p = penalty(t, e, route, k, seed);
    tg_error err = {0};
    cr_assert_eq(tg_backward(t, p, &err), TG_OK, "%s", err.msg);
    memcpy(grads, e->W.grad.data, e->W.grad.size * sizeof(float));
    memcpy(grads + e->W.grad.size, e->b.grad.data, e->b.grad.size * sizeof(float));
    return p->value.data[0];
}

static double max_abs(const float *a, size_t n)
{
    double m = 0.0;
    for (size_t k = 0; k < n; k++)
        m = fmax(m, fabs(a[k]));
    return m;
}

/* The bar: for every activation (and a non-default parameter), the generic exact penalty
 * equals the fused op's value and gradients within 1e-5 relative. */
Test(contractive, exact_equals_the_fused_penalty_for_every_activation)
{
    enum { B = 6, D = 9, H = 7 };
    for (int kind = 0; kind < TG_ACT_COUNT; kind++)
        for (int variant = 0; variant < (tg_activation_param_name((tg_activation_kind)kind) ? 2 : 1); variant++) {
            tg_activation act = tg_activation_of((tg_activation_kind)kind);
            if (variant)
                act.param = 1.7f;
            encoder e;
            encoder_init(&e, B, D, H, act, 40 + (uint64_t)kind);
            tg_tape *t = tg_tape_new(NULL);
            float g_fused[D * H + H], g_exact[D * H + H];
            float fused = penalty_and_grads(t, &e, FUSED, 0, 0, g_fused);
            float exact = penalty_and_grads(t, &e, EXACT, 0, 0, g_exact);
            const char *name = tg_activation_name(act.kind);
            cr_assert_gt(fused, 0.0f, "%s: a zero penalty proves nothing", name);
            cr_assert_leq(fabs(exact - fused), 1e-5 * fabs(fused), "%s: exact %.9g vs fused %.9g", name, exact, fused);
            double scale = max_abs(g_fused, D * H + H);
            for (size_t k = 0; k < D * H + H; k++)
                cr_assert_leq(fabs(g_exact[k] - g_fused[k]), 1e-5 * scale, "%s: gradient %zu: exact %.9g vs fused %.9g",
                              name, k, g_exact[k], g_fused[k]);
            tg_tape_free(t);
            encoder_free(&e);
        }
}

/* Hutchinson's estimate is unbiased: its mean over many probes approaches the exact value (the
 * standard error over 4000 probes is ~1.5% here; 5% is ~3 of them). */
Test(contractive, hutchinson_mean_approaches_the_exact_value)
{
    encoder e;
    encoder_init(&e, 4, 10, 6, tg_activation_of(TG_ACT_TANH), 7);
    tg_tape *t = tg_tape_new(NULL);
    float g_exact[66], g_hutch[66];
    float exact = penalty_and_grads(t, &e, EXACT, 0, 0, g_exact);
    float estimate = penalty_and_grads(t, &e, HUTCHINSON, 4000, 99, g_hutch);
    cr_assert_leq(fabs(estimate - exact), 0.05 * exact, "Hutchinson %g vs exact %g", estimate, exact);
    float one = penalty_and_grads(t, &e, HUTCHINSON, 1, 99, g_hutch);
    cr_assert_neq(one, estimate, "one probe is one sample, not the mean");
    tg_tape_free(t);
    encoder_free(&e);
}

/* The probes depend on (seed, probe) alone: the same bits on 1 and 4 threads, other bits for
 * another seed. */
Test(contractive, hutchinson_is_the_same_for_any_thread_count)
{
    encoder e;
    encoder_init(&e, 32, 40, 24, tg_activation_of(TG_ACT_SIGMOID), 8);
    tg_tape *t = tg_tape_new(NULL);
    float g1[40 * 24 + 24], g4[40 * 24 + 24];
    int threads = tg_get_threads();
    tg_set_threads(1);
    float one = penalty_and_grads(t, &e, HUTCHINSON, 3, 5, g1);
    tg_set_threads(4);
    float four = penalty_and_grads(t, &e, HUTCHINSON, 3, 5, g4);
    tg_set_threads(threads);
    cr_assert_eq(memcmp(&one, &four, sizeof one), 0, "%.9g vs %.9g", one, four);
    cr_assert_eq(memcmp(g1, g4, sizeof g1), 0, "gradients differ with the thread count");
    cr_assert_neq(penalty_and_grads(t, &e, HUTCHINSON, 3, 6, g4), one, "another seed, other probes");
    tg_tape_free(t);
    encoder_free(&e);
}

/* ---- Jacobians ---------------------------------------------------------------------------------- */

/* Columns by sweeps and rows by backward passes give one matrix, and it is diag(f')·Wᵀ per row
 * of a one-layer encoder (B = 1). */
Test(jacobian, columns_and_rows_agree_with_the_formula)
{
    encoder e;
    encoder_init(&e, 1, 5, 3, tg_activation_of(TG_ACT_SIGMOID), 9);
    tg_tape *t = tg_tape_new(NULL);
    tg_param xp;
    cr_assert_eq(tg_param_init(&xp, "x", 2, (size_t[]){1, 5}, NULL), TG_OK);
    memcpy(xp.value.data, e.x.data, 5 * sizeof(float));
    tg_node *x = tg_param_leaf(t, &xp);
    tg_node *h = tg_sigmoid(t, tg_affine(t, x, tg_param_leaf(t, &e.W), tg_param_leaf(t, &e.b), false));
    tg_tensor cols = {0}, rows = {0}, autom = {0};
    tg_error err = {0};
    cr_assert_eq(tg_jacobian(t, h, x, TG_JACOBIAN_COLUMNS, &cols, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(tg_jacobian(t, h, x, TG_JACOBIAN_ROWS, &rows, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(tg_jacobian(t, h, x, TG_JACOBIAN_AUTO, &autom, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(cols.shape[0], 3);
    cr_assert_eq(cols.shape[1], 5);
    for (size_t j = 0; j < 3; j++)
        for (size_t i = 0; i < 5; i++) {
            double hj = h->value.data[j], expect = hj * (1.0 - hj) * e.W.value.data[i * 3 + j];
            cr_assert_float_eq(cols.data[j * 5 + i], expect, 1e-6);
            cr_assert_float_eq(rows.data[j * 5 + i], expect, 1e-6);
            cr_assert_float_eq(autom.data[j * 5 + i], expect, 1e-6);
        }
    for (size_t k = 0; k < xp.grad.size; k++)
        cr_assert_eq(xp.grad.data[k], 0.0f, "rows leave the parameters' gradients as they were");
    tg_tensor_free(&cols), tg_tensor_free(&rows), tg_tensor_free(&autom);
    tg_param_free(&xp);
    tg_tape_free(t);
    encoder_free(&e);
}

/* ---- Hessian-vector products: reverse over forward -------------------------------------------- */

typedef struct hvp_ctx {
    tg_param x, W;
} hvp_ctx;

/* f(x) = Σ softplus(x·W)² + Σ x³ /3: a nonzero Hessian with off-diagonal terms */
static tg_node *hvp_f(tg_tape *t, hvp_ctx *c, tg_node **x_out)
{
    tg_node *x = tg_param_leaf(t, &c->x);
    tg_node *z = tg_matmul(t, x, tg_param_leaf(t, &c->W), false, false);
    *x_out = x;
    return tg_add(t, tg_sum(t, tg_square(t, tg_softplus(t, z))), tg_scale(t, tg_sum(t, tg_pow(t, x, 3.0f)), 1.0f / 3));
}

/* ∇f(x + s·v) into g */
static void hvp_gradient_at(tg_tape *t, hvp_ctx *c, const float *v, double s, double *g)
{
    float keep[12];
    memcpy(keep, c->x.value.data, sizeof keep);
    for (int k = 0; k < 12; k++)
        c->x.value.data[k] = (float)(keep[k] + s * v[k]);
    tg_tape_reset(t);
    tg_param_zero_grad(&c->x);
    tg_node *x;
    cr_assert_eq(tg_backward(t, hvp_f(t, c, &x), NULL), TG_OK);
    for (int k = 0; k < 12; k++)
        g[k] = c->x.grad.data[k];
    memcpy(c->x.value.data, keep, sizeof keep);
}

Test(hvp, matches_central_differences_of_gradients)
{
    hvp_ctx c;
    cr_assert_eq(tg_param_init(&c.x, "x", 2, (size_t[]){3, 4}, NULL), TG_OK);
    cr_assert_eq(tg_param_init(&c.W, "W", 2, (size_t[]){4, 5}, NULL), TG_OK);
    tg_rng rng;
    tg_rng_seed(&rng, 11, 1);
    tg_rng_fill_uniform(&rng, c.x.value.data, 12, -1.0f, 1.0f);
    tg_rng_fill_uniform(&rng, c.W.value.data, 20, -0.7f, 0.7f);
    tg_tensor v = {0};
    cr_assert_eq(tg_tensor_zeros2(&v, 3, 4, NULL), TG_OK);
    tg_rng_fill_uniform(&rng, v.data, 12, -1.0f, 1.0f);

    tg_tape *t = tg_tape_new(NULL);
    tg_node *x;
    tg_node *f = hvp_f(t, &c, &x);
    float hv[12];
    tg_error err = {0};
    cr_assert_eq(tg_hvp(t, f, x, tg_input(t, &v), hv, &err), TG_OK, "%s", err.msg);
    const double eps = 1e-2;
    double up[12], down[12], scale = 0.0;
    hvp_gradient_at(t, &c, v.data, eps, up);
    hvp_gradient_at(t, &c, v.data, -eps, down);
    for (int k = 0; k < 12; k++)
        scale = fmax(scale, fabs(hv[k]));
    cr_assert_gt(scale, 0.1);
    for (int k = 0; k < 12; k++) {
        double numeric = (up[k] - down[k]) / (2 * eps);
        cr_assert_leq(fabs(hv[k] - numeric), 1e-2 * scale, "element %d: H·v %g vs differences %g", k, hv[k], numeric);
    }
    tg_tensor_free(&v);
    tg_param_free(&c.x), tg_param_free(&c.W);
    tg_tape_free(t);
}

/* ---- the sweep's edges ---------------------------------------------------------------------- */

/* A branch that does not depend on x records nothing; an output that does not depends on x is a
 * constant 0; an op without a rule fails the tape, naming it. */
static void twice_forward(tg_node *n)
{
    for (size_t k = 0; k < n->value.size; k++)
        n->value.data[k] = 2.0f * n->in[0]->value.data[k];
}
static const tg_op_def twice_def = {"twice", twice_forward, NULL};

Test(jvp_sweep, zero_tangents_record_nothing_and_unknown_ops_fail)
{
    tg_tape *t = tg_tape_new(NULL);
    tg_node *x = tg_const(t, 0.5f, 1, (size_t[]){3}), *c = tg_const(t, 2.0f, 1, (size_t[]){3});
    tg_node *y = tg_add(t, tg_exp(t, x), tg_exp(t, c)); /* exp(c) does not depend on x */
    tg_node *v = tg_const(t, 1.0f, 1, (size_t[]){3});
    int before = tg_tape_node_count(t);
    tg_node *dy = tg_jvp(t, y, x, v);
    cr_assert_not_null(dy, "%s", tg_tape_error(t));
    cr_assert_eq(tg_tape_node_count(t) - before, 1, "exp's tangent is one mul; add passes it on; nothing else");
    cr_assert_float_eq(dy->value.data[0], expf(0.5f), 1e-6);
    tg_node *zero = tg_jvp(t, tg_exp(t, c), x, v);
    cr_assert(zero && zero->value.data[0] == 0.0f);

    tg_node *w = tg_tape_forward(t, tg_tape_record(t, &twice_def, 1, &x, 1, (size_t[]){3}));
    cr_assert_null(tg_jvp(t, w, x, v));
    cr_assert_str_eq(tg_tape_error(t), "jvp: op 'twice' (node 9) has no tangent rule");
    tg_tape_free(t);
}
