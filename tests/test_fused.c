/* tests/test_fused.c — each fused op (autograd/fused/) against its reference composition of
 * generic ops (fused/reference.c): the same value and the same gradients for every parameter,
 * to float rounding, over shapes, transposes, reductions and every activation.  Both sides are
 * also checked on their own: the fused ops by gradcheck and test_jacobian.c, the generic ops by
 * gradcheck, so agreement here ties the fused arithmetic to the definition. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/fused/fused.h"
#include "tensor/rng.h"

enum { MAX_PARAMS = 4 };

/* A loss over up to four parameters, either way. */
typedef struct fused_case {
    tg_param p[MAX_PARAMS];
    int n;
    bool trans_w;
    tg_reduction red;
    tg_activation act;
    char label[128];
} fused_case;

typedef tg_node *(*build_fn)(tg_tape *t, const fused_case *c, tg_node *const *in);

/* The loss's value and every parameter's gradient, built by `build`. */
static float run(fused_case *c, build_fn build, float *grads[MAX_PARAMS])
{
    tg_tape *t = tg_tape_new(NULL);
    tg_node *in[MAX_PARAMS];
    for (int k = 0; k < c->n; k++) {
        tg_param_zero_grad(&c->p[k]);
        in[k] = tg_param_leaf(t, &c->p[k]);
    }
    tg_node *loss = build(t, c, in);
    cr_assert(loss, "%s: %s", c->label, tg_tape_error(t));
    cr_assert_eq(tg_backward(t, loss, NULL), TG_OK, "%s: %s", c->label, tg_tape_error(t));
    float value = loss->value.data[0];
    for (int k = 0; k < c->n; k++) {
        grads[k] = malloc(c->p[k].grad.size * sizeof(float));
        memcpy(grads[k], c->p[k].grad.data, c->p[k].grad.size * sizeof(float));
    }
    tg_tape_free(t);
    return value;
}

static float max_abs(const float *a, size_t n)
{
    float m = 0.0f;
    for (size_t k = 0; k < n; k++)
        m = fmaxf(m, fabsf(a[k]));
    return m;
}

/* fused and reference agree: the value to rel_tol, each gradient element to rel_tol of its
 * parameter's largest gradient (elements near zero are rounding either way). */
static void expect_same(fused_case *c, build_fn fused, build_fn reference, double rel_tol)
{
    float *gf[MAX_PARAMS], *gr[MAX_PARAMS];
    float vf = run(c, fused, gf), vr = run(c, reference, gr);
    cr_assert_float_eq(vf, vr, rel_tol * fmax(fabs(vr), 1e-6), "%s: fused %.9g vs reference %.9g", c->label,
                       (double)vf, (double)vr);
    bool some_gradient = false;
    for (int k = 0; k < c->n; k++) {
        size_t size = c->p[k].grad.size;
        float scale = fmaxf(max_abs(gr[k], size), 1e-6f);
        some_gradient |= max_abs(gr[k], size) > 1e-5f;
        for (size_t e = 0; e < size; e++)
            cr_assert_float_eq(gf[k][e], gr[k][e], rel_tol * scale, "%s: d%s[%zu] fused %.9g vs reference %.9g",
                               c->label, c->p[k].name, e, (double)gf[k][e], (double)gr[k][e]);
        free(gf[k]);
        free(gr[k]);
    }
    cr_assert(some_gradient, "%s: every gradient is zero, a comparison of nothing", c->label);
}

static tg_param *add_param(fused_case *c, tg_rng *rng, const char *name, size_t rows, size_t cols, float lo, float hi)
{
    tg_param *p = &c->p[c->n++];
    cr_assert_eq(tg_param_init(p, name, 2, (size_t[]){rows, cols}, NULL), TG_OK);
    tg_rng_fill_uniform(rng, p->value.data, p->value.size, lo, hi);
    return p;
}

static void free_case(fused_case *c)
{
    for (int k = 0; k < c->n; k++)
        tg_param_free(&c->p[k]);
}

/* ---- affine_mse and affine_mse_gram ---------------------------------------------------------- */

static tg_node *affine_mse_fused(tg_tape *t, const fused_case *c, tg_node *const *in)
{
    return tg_affine_mse(t, in[0], in[1], in[2], c->trans_w, in[3], c->red);
}
static tg_node *affine_mse_gram_fused(tg_tape *t, const fused_case *c, tg_node *const *in)
{
    return tg_affine_mse_gram(t, in[0], in[1], in[2], c->trans_w, in[3], c->red);
}
static tg_node *affine_mse_reference(tg_tape *t, const fused_case *c, tg_node *const *in)
{
    return tg_affine_mse_reference(t, in[0], in[1], in[2], c->trans_w, in[3], c->red);
}

Test(fused, affine_mse_and_its_gram_form_match_mse_of_affine)
{
    static const size_t shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {32, 16, 70}, {40, 8, 33}}; /* M, K, N */
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int trans_w = 0; trans_w < 2; trans_w++)
            for (int red = 0; red < 2; red++) {
                size_t M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
                fused_case c = {.trans_w = trans_w, .red = (tg_reduction)red};
                tg_rng rng;
                tg_rng_seed(&rng, 40 + s, (uint64_t)(2 * trans_w + red));
                add_param(&c, &rng, "x", M, K, -1.0f, 1.0f);
                add_param(&c, &rng, "w", trans_w ? N : K, trans_w ? K : N, -0.5f, 0.5f);
                add_param(&c, &rng, "b", 1, N, -0.5f, 0.5f);
                tg_param *target = add_param(&c, &rng, "target", M, N, 0.0f, 1.0f);
                for (size_t e = 0; e < target->value.size; e += 2)
                    target->value.data[e] = 0.0f; /* an image's zeros: the zero-skipping paths run */
                snprintf(c.label, sizeof c.label, "affine_mse M=%zu K=%zu N=%zu trans_w=%d red=%d", M, K, N, trans_w,
                         red);
                expect_same(&c, affine_mse_fused, affine_mse_reference, 1e-5);
                /* the Gram form's value cancels terms of ‖T‖² (fused.h): a looser value bound */
                snprintf(c.label, sizeof c.label, "affine_mse_gram M=%zu K=%zu N=%zu trans_w=%d red=%d", M, K, N,
                         trans_w, red);
                expect_same(&c, affine_mse_gram_fused, affine_mse_reference, 1e-4);
                free_case(&c);
            }
}

/* ---- the Jacobian penalties ------------------------------------------------------------------- */

/* h = act(x·W + b) built inside the loss, so the comparison covers the whole encoder's gradients. */
static tg_node *encode(tg_tape *t, const fused_case *c, tg_node *x, tg_node *const *in)
{
    return tg_activate(t, tg_affine(t, x, in[1], in[2], false), c->act);
}

static tg_node *penalty_fused(tg_tape *t, const fused_case *c, tg_node *const *in)
{
    return tg_jacobian_penalty(t, encode(t, c, in[0], in), in[1], c->act);
}
static tg_node *penalty_reference(tg_tape *t, const fused_case *c, tg_node *const *in)
{
    return tg_jacobian_penalty_reference(t, encode(t, c, in[0], in), in[1], c->act);
}
/* in[3] holds the corruptions x̃ [k·B,D] as a parameter of their own */
static tg_node *diff_penalty_fused(tg_tape *t, const fused_case *c, tg_node *const *in)
{
    return tg_jacobian_diff_penalty(t, encode(t, c, in[0], in), encode(t, c, in[3], in), in[1], c->act);
}
static tg_node *diff_penalty_reference(tg_tape *t, const fused_case *c, tg_node *const *in)
{
    return tg_jacobian_diff_penalty_reference(t, encode(t, c, in[0], in), encode(t, c, in[3], in), in[1], c->act);
}

Test(fused, jacobian_penalties_match_their_compositions_for_every_activation)
{
    for (int kind = 0; kind < TG_ACT_COUNT; kind++)
        for (int variant = 0; variant < 2; variant++) {
            tg_activation act = tg_activation_of((tg_activation_kind)kind);
            if (variant == 1) {
                if (!tg_activation_param_name(act.kind))
                    continue;
                act.param = 0.4f;
            }
            size_t B = 6, D = 9, H = 70, k = 3; /* H crosses the ops' 32- and 64-column blocks */
            fused_case c = {.act = act};
            tg_rng rng;
            tg_rng_seed(&rng, 70 + (uint64_t)kind, (uint64_t)variant);
            add_param(&c, &rng, "x", B, D, -1.0f, 1.0f);
            add_param(&c, &rng, "W", D, H, -0.6f, 0.6f);
            add_param(&c, &rng, "b", 1, H, -0.5f, 0.5f);
            add_param(&c, &rng, "x_tilde", k * B, D, -1.2f, 1.2f);
            char name[48];
            tg_activation_format(act, name, sizeof name);
            snprintf(c.label, sizeof c.label, "jacobian_penalty %s", name);
            expect_same(&c, penalty_fused, penalty_reference, 1e-4);
            snprintf(c.label, sizeof c.label, "jacobian_diff_penalty %s", name);
            expect_same(&c, diff_penalty_fused, diff_penalty_reference, 1e-4);
            free_case(&c);
        }
}
