/* tests/test_jacobian.c — the fused contractive penalty against an explicit Jacobian.
 *
 * Model: z = x·W + b, h = f(z) with x [B,D], W [D,H], b [1,H] all params (B=3, D=5, H=4).
 * The reference builds, for each sample b, the Jacobian J_b = diag(f'(z_b))·Wᵀ [H,D] from
 * generic registry ops (a one-hot matmul picks row b of f'(z), mul with the identity makes the
 * diagonal matrix, matmul_nt multiplies by Wᵀ), then P = (1/B) Σ_b Σ ‖J_b‖² via square, sum,
 * add, scale.  f'(z) is composed from generic ops too: h - h² (sigmoid), 1 - h² (tanh), the
 * constant mask [z>0] (relu: its derivative is 0 wherever it exists), σ(z) (softplus).
 * The fused op must give the same value and the same gradients for x, W and b, and the value
 * is also compared with a plain double-precision loop.  The second half does the same for the
 * higher-order (CAE+H) penalty, P = (1/R) Σ_r ‖J(x_{r mod B}) - J(x̃_r)‖², against explicit
 * Jacobians at the clean and the corrupted inputs. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "autograd/fused/fused.h"
#include "autograd/ops.h"
#include "tensor/rng.h"

enum { B = 3, D = 5, H = 4 };
#define REL_TOL 1e-5

typedef struct model {
    tg_activation act;
    tg_param x, W, b;
    tg_tensor W_frozen;   /* a copy of W's values: W as a constant in the penalty */
    tg_tensor ones;       /* [B,H] of 1 */
    tg_tensor eye;        /* [H,H] identity */
    tg_tensor onehot[B];  /* e_b [1,B] */
    tg_tensor relu_mask;  /* [B,H] = [z > 0] */
    double z[B][H];       /* z in double, for the independent checks */
} model;

/* f'(z) in double, from z (the op reads it off h). */
static double fprime_double(tg_activation act, double z)
{
    switch (act.kind) {
    case TG_ACT_SIGMOID: { double s = 1.0 / (1.0 + exp(-z)); return s * (1.0 - s); }
    case TG_ACT_TANH: { double th = tanh(z); return 1.0 - th * th; }
    case TG_ACT_RELU: return z > 0.0 ? 1.0 : 0.0;
    case TG_ACT_LEAKY_RELU: return z > 0.0 ? 1.0 : act.param;
    case TG_ACT_ELU: return z > 0.0 ? 1.0 : act.param * exp(z);
    default: return 1.0 / (1.0 + exp(-z)); /* softplus' = σ */
    }
}

/* Each kind, with a parameter away from its default (0.6) for those that take one. */
static tg_activation activation_for_test(int kind)
{
    tg_activation act = tg_activation_of((tg_activation_kind)kind);
    if (tg_activation_param_name(act.kind))
        act.param = 0.6f;
    return act;
}

/* relu and leaky_relu: f' is piecewise constant, so the penalty reaches z by no path. */
static bool slope_is_piecewise_constant(int kind) { return kind == TG_ACT_RELU || kind == TG_ACT_LEAKY_RELU; }

static void model_init(model *m, tg_activation act, uint64_t seed)
{
    memset(m, 0, sizeof *m);
    m->act = act;
    tg_rng rng;
    tg_rng_seed(&rng, seed, 3);
    cr_assert_eq(tg_param_init(&m->x, "x", 2, (size_t[]){B, D}, NULL), TG_OK);
    cr_assert_eq(tg_param_init(&m->W, "W", 2, (size_t[]){D, H}, NULL), TG_OK);
    cr_assert_eq(tg_param_init(&m->b, "b", 2, (size_t[]){1, H}, NULL), TG_OK);
    tg_rng_fill_uniform(&rng, m->x.value.data, B * D, -1.0f, 1.0f);
    tg_rng_fill_uniform(&rng, m->W.value.data, D * H, -0.6f, 0.6f);
    tg_rng_fill_uniform(&rng, m->b.value.data, H, -0.5f, 0.5f);
    if (act.kind == TG_ACT_RELU)
        m->b.value.data[0] = 3.0f; /* at least one active unit for sure: |x·W| <= 3 */

    cr_assert_eq(tg_tensor_clone(&m->W_frozen, &m->W.value, NULL), TG_OK);
    cr_assert_eq(tg_tensor_zeros2(&m->ones, B, H, NULL), TG_OK);
    tg_tensor_fill(&m->ones, 1.0f);
    cr_assert_eq(tg_tensor_zeros2(&m->eye, H, H, NULL), TG_OK);
    for (int j = 0; j < H; j++)
        m->eye.data[j * H + j] = 1.0f;
    for (int s = 0; s < B; s++) {
        cr_assert_eq(tg_tensor_zeros2(&m->onehot[s], 1, B, NULL), TG_OK);
        m->onehot[s].data[s] = 1.0f;
    }
    cr_assert_eq(tg_tensor_zeros2(&m->relu_mask, B, H, NULL), TG_OK);
    for (int s = 0; s < B; s++)
        for (int j = 0; j < H; j++) {
            double z = m->b.value.data[j];
            for (int i = 0; i < D; i++)
                z += (double)m->x.value.data[s * D + i] * m->W.value.data[i * H + j];
            m->z[s][j] = z;
            m->relu_mask.data[s * H + j] = z > 0.0 ? 1.0f : 0.0f;
        }
}

static void model_free(model *m)
{
    tg_param_free(&m->x);
    tg_param_free(&m->W);
    tg_param_free(&m->b);
    tg_tensor_free(&m->W_frozen);
    tg_tensor_free(&m->ones);
    tg_tensor_free(&m->eye);
    for (int s = 0; s < B; s++)
        tg_tensor_free(&m->onehot[s]);
    tg_tensor_free(&m->relu_mask);
}

/* P = (1/B) Σ_b Σ_ij (f'(z_bj) W_ij)², in double, straight from the definition. */
static double penalty_double(const model *m)
{
    double P = 0.0;
    for (int s = 0; s < B; s++)
        for (int i = 0; i < D; i++)
            for (int j = 0; j < H; j++) {
                double Jji = fprime_double(m->act, m->z[s][j]) * m->W.value.data[i * H + j];
                P += Jji * Jji;
            }
    return P / B;
}

typedef struct encoder {
    tg_node *x, *W, *b, *z, *h;
} encoder;

static encoder encode(tg_tape *t, model *m)
{
    encoder e;
    e.x = tg_param_leaf(t, &m->x);
    e.W = tg_param_leaf(t, &m->W);
    e.b = tg_param_leaf(t, &m->b);
    e.z = tg_add(t, tg_matmul(t, e.x, e.W, false, false), e.b);
    e.h = tg_activate(t, e.z, m->act);
    return e;
}

/* The penalty's W factor: the param itself, or a constant copy of its values. */
static tg_node *penalty_W(tg_tape *t, model *m, const encoder *e, bool W_constant)
{
    return W_constant ? tg_input(t, &m->W_frozen) : e->W;
}

static tg_node *fused_penalty(tg_tape *t, model *m, bool W_constant)
{
    encoder e = encode(t, m);
    return tg_jacobian_penalty(t, e.h, penalty_W(t, m, &e, W_constant), m->act);
}

/* f'(z) from generic ops, for h = f(z) and the constants mask = [z > 0] and ones of z's shape. */
static tg_node *generic_fprime_of(tg_tape *t, tg_activation act, tg_node *h, tg_node *z, const tg_tensor *mask,
                                  const tg_tensor *ones)
{
    tg_node *active = tg_input(t, mask), *inactive = tg_sub(t, tg_input(t, ones), active);
    switch (act.kind) {
    case TG_ACT_SIGMOID: return tg_sub(t, h, tg_square(t, h));               /* h - h² */
    case TG_ACT_TANH: return tg_sub(t, tg_input(t, ones), tg_square(t, h));  /* 1 - h² */
    case TG_ACT_RELU: return active;                                         /* [z > 0] */
    case TG_ACT_LEAKY_RELU: return tg_add(t, active, tg_scale(t, inactive, act.param)); /* + slope·[z <= 0] */
    case TG_ACT_ELU: /* [z > 0] + [z <= 0]·(h + alpha) */
        return tg_add(t, active, tg_mul(t, inactive, tg_add(t, h, tg_scale(t, tg_input(t, ones), act.param))));
    default: return tg_sigmoid(t, z);                                        /* σ(z) */
    }
}

/* f'(z) [B,H] from generic ops. */
static tg_node *generic_fprime(tg_tape *t, model *m, const encoder *e)
{
    return generic_fprime_of(t, m->act, e->h, e->z, &m->relu_mask, &m->ones);
}

static tg_node *explicit_jacobian_penalty(tg_tape *t, model *m, bool W_constant)
{
    encoder e = encode(t, m);
    tg_node *W = penalty_W(t, m, &e, W_constant);
    tg_node *fp = generic_fprime(t, m, &e);                                   // [B,H]
    tg_node *eye = tg_input(t, &m->eye);                                      // [H,H]
    tg_node *total = NULL;
    for (int s = 0; s < B; s++) {
        tg_node *row = tg_matmul(t, tg_input(t, &m->onehot[s]), fp, false, false); // f'(z_s) [1,H]
        tg_node *diag = tg_mul(t, eye, row);                                       // diag(f'(z_s)) [H,H]
        tg_node *J = tg_matmul(t, diag, W, false, true);                           // J_s = diag·Wᵀ [H,D]
        tg_node *fro = tg_sum(t, tg_square(t, J));                                 // ‖J_s‖²_F [1]
        total = total ? tg_add(t, total, fro) : fro;
    }
    return tg_scale(t, total, 1.0f / B);
}

/* Zero grads, build, backward; returns the value and copies the three gradients out. */
typedef struct grads {
    float x[B * D], W[D * H], b[H];
    float value;
} grads;

static grads run(model *m, tg_node *(*build)(tg_tape *, model *, bool), bool W_constant)
{
    tg_param *ps[] = {&m->x, &m->W, &m->b};
    tg_params_zero_grad(ps, 3);
    tg_tape *t = tg_tape_new(NULL);
    tg_node *P = build(t, m, W_constant);
    tg_error err = {0};
    cr_assert_eq(tg_backward(t, P, &err), TG_OK, "%s", err.msg);
    grads g;
    g.value = P->value.data[0];
    memcpy(g.x, m->x.grad.data, sizeof g.x);
    memcpy(g.W, m->W.grad.data, sizeof g.W);
    memcpy(g.b, m->b.grad.data, sizeof g.b);
    tg_tape_free(t);
    return g;
}

static float max_abs(const float *a, int n)
{
    float m = 0.0f;
    for (int k = 0; k < n; k++)
        m = fmaxf(m, fabsf(a[k]));
    return m;
}

/* Elementwise |a-b| <= tolerance·max(|a|, |b|, floor_frac·max|a|): relative, except for entries
 * far below the tensor's largest, which are what is left of paths (direct and through z) that
 * nearly cancel, and carry the rounding of the larger terms (~1e-7 of max|a|). */
static void expect_close_floor(const char *what, const model *m, const float *a, const float *b, int n,
                               float floor_frac, double tolerance)
{
    float floor = floor_frac * max_abs(a, n);
    for (int k = 0; k < n; k++) {
        double scale = fmax(fmax(fabs(a[k]), fabs(b[k])), floor);
        double rel = scale > 0 ? fabs((double)a[k] - b[k]) / scale : 0.0;
        cr_assert_leq(rel, tolerance, "%s %s[%d]: fused %.9g vs explicit %.9g (rel %.2g)",
                      tg_activation_name(m->act.kind), what, k, (double)a[k], (double)b[k], rel);
    }
}

static void expect_close(const char *what, const model *m, const float *a, const float *b, int n)
{
    expect_close_floor(what, m, a, b, n, 1e-2f, REL_TOL);
}

Test(jacobian, fused_matches_explicit_jacobian)
{
    for (int act = 0; act < TG_ACT_COUNT; act++) {
        for (uint64_t seed = 1; seed <= 3; seed++) {
            model m;
            model_init(&m, activation_for_test(act), seed);
            grads fused = run(&m, fused_penalty, false);
            grads ref = run(&m, explicit_jacobian_penalty, false);
            double exact = penalty_double(&m);
            cr_assert_gt(exact, 1e-3, "a degenerate model");
            cr_assert_leq(fabs(fused.value - exact) / exact, REL_TOL, "%s: fused P %.9g vs double %.9g",
                          tg_activation_name(m.act.kind), (double)fused.value, exact);
            cr_assert_leq(fabs(ref.value - exact) / exact, REL_TOL, "%s: explicit P %.9g vs double %.9g",
                          tg_activation_name(m.act.kind), (double)ref.value, exact);
            expect_close("dW", &m, fused.W, ref.W, D * H);
            expect_close("db", &m, fused.b, ref.b, H);
            expect_close("dx", &m, fused.x, ref.x, B * D);
            if (slope_is_piecewise_constant(act)) { /* f' is piecewise constant: only the direct path exists */
                cr_assert_eq(max_abs(fused.x, B * D), 0.0f);
                cr_assert_eq(max_abs(fused.b, H), 0.0f);
            } else {
                cr_assert_gt(max_abs(fused.x, B * D), 1e-4f, "%s: no gradient reached x", tg_activation_name(m.act.kind));
            }
            model_free(&m);
        }
    }
}

/* The gradient reaches W through s_j = Σ_i W_ij² as well as through z.  With the penalty's W
 * replaced by a constant copy (the widely copied Keras CAE), only the path through z is left:
 * the fused and explicit versions must agree on that too, the full gradient must differ from it,
 * and the difference must be exactly the direct term 2 W_ij · (1/B) Σ_b f'(z_bj)². */
Test(jacobian, gradient_reaches_W_through_sum_of_squares)
{
    for (int act = 0; act < TG_ACT_COUNT; act++) {
        model m;
        model_init(&m, activation_for_test(act), 11);
        grads full = run(&m, fused_penalty, false);
        grads frozen = run(&m, fused_penalty, true);
        cr_assert_float_eq(full.value, frozen.value, 0.0f, "the value does not depend on W's role");
        if (slope_is_piecewise_constant(act)) {
            /* relu's f' is piecewise constant: with W constant the penalty has no gradient at
             * all (the explicit version does not even depend on a param) — the Keras CAE with
             * relu units gets nothing from its contractive term. */
            cr_assert_eq(max_abs(frozen.W, D * H), 0.0f);
        } else {
            grads frozen_ref = run(&m, explicit_jacobian_penalty, true);
            expect_close("dW (W constant)", &m, frozen.W, frozen_ref.W, D * H);
            expect_close("dx (W constant)", &m, frozen.x, frozen_ref.x, B * D);
        }

        float direct[D * H], difference[D * H];
        for (int i = 0; i < D; i++)
            for (int j = 0; j < H; j++) {
                double mean_fp2 = 0.0;
                for (int s = 0; s < B; s++)
                    mean_fp2 += pow(fprime_double(m.act, m.z[s][j]), 2) / B;
                direct[i * H + j] = (float)(2.0 * m.W.value.data[i * H + j] * mean_fp2);
                difference[i * H + j] = full.W[i * H + j] - frozen.W[i * H + j];
            }
        cr_assert_gt(max_abs(direct, D * H), 0.1f * max_abs(full.W, D * H),
                     "%s: the direct term is a large part of dW", tg_activation_name(m.act.kind));
        for (int k = 0; k < D * H; k++) /* a difference of two float sums: an absolute bound */
            cr_assert_float_eq(difference[k], direct[k], 1e-5f * max_abs(full.W, D * H),
                               "%s dW[%d]: full - constant = %.9g, direct term %.9g", tg_activation_name(m.act.kind),
                               k, (double)difference[k], (double)direct[k]);
        model_free(&m);
    }
}

/* ---- the higher-order (CAE+H) penalty against explicit Jacobians ----------------------------
 *
 * Same model, plus K fixed corruptions of each input: x̃ = T·x + E, with T [R,B] (R = K·B) the
 * constant matrix that stacks K copies of x (row r is x_{r mod B}) and E [R,D] fixed noise, and
 * h̃ = f(x̃·W + b) through the ordinary ops.  The reference builds both Jacobians of every pair
 * explicitly, J_b = diag(f'(z_b))·Wᵀ and J̃_r = diag(f'(z̃_r))·Wᵀ [H,D], and sums the squares of
 * their difference: P = (1/R) Σ_r ‖J_{r mod B} - J̃_r‖²_F.  The fused op must give the same value
 * and the same gradients for x, W and b (each reaches P through h, h̃ and, for W, Σ_i W_ij²). */

enum { K = 2, R = K * B };

typedef struct corrupted {
    tg_tensor tile;             /* T [R,B] */
    tg_tensor noise;            /* E [R,D] */
    tg_tensor onehot[R];        /* e_r [1,R] */
    tg_tensor ones;             /* [R,H] of 1 */
    tg_tensor relu_mask;        /* [R,H] = [z̃ > 0] */
    double z[R][H];             /* z̃ in double */
} corrupted;

static void corrupted_init(corrupted *c, const model *m, float sigma, uint64_t seed)
{
    memset(c, 0, sizeof *c);
    tg_rng rng;
    tg_rng_seed(&rng, seed, 5);
    cr_assert_eq(tg_tensor_zeros2(&c->tile, R, B, NULL), TG_OK);
    cr_assert_eq(tg_tensor_zeros2(&c->noise, R, D, NULL), TG_OK);
    cr_assert_eq(tg_tensor_zeros2(&c->ones, R, H, NULL), TG_OK);
    cr_assert_eq(tg_tensor_zeros2(&c->relu_mask, R, H, NULL), TG_OK);
    tg_tensor_fill(&c->ones, 1.0f);
    tg_rng_fill_normal(&rng, c->noise.data, R * D, 0.0f, sigma);
    for (int r = 0; r < R; r++) {
        c->tile.data[r * B + r % B] = 1.0f;
        cr_assert_eq(tg_tensor_zeros2(&c->onehot[r], 1, R, NULL), TG_OK);
        c->onehot[r].data[r] = 1.0f;
        for (int j = 0; j < H; j++) {
            double z = m->b.value.data[j];
            for (int i = 0; i < D; i++)
                z += ((double)m->x.value.data[(r % B) * D + i] + c->noise.data[r * D + i]) * m->W.value.data[i * H + j];
            c->z[r][j] = z;
            c->relu_mask.data[r * H + j] = z > 0.0 ? 1.0f : 0.0f;
        }
    }
}

static void corrupted_free(corrupted *c)
{
    tg_tensor_free(&c->tile);
    tg_tensor_free(&c->noise);
    tg_tensor_free(&c->ones);
    tg_tensor_free(&c->relu_mask);
    for (int r = 0; r < R; r++)
        tg_tensor_free(&c->onehot[r]);
}

/* P = (1/R) Σ_r Σ_ij ((f'(z_bj) - f'(z̃_rj)) W_ij)², b = r mod B, in double. */
static double diff_penalty_double(const model *m, const corrupted *c)
{
    double P = 0.0;
    for (int r = 0; r < R; r++)
        for (int i = 0; i < D; i++)
            for (int j = 0; j < H; j++) {
                double d = (fprime_double(m->act, m->z[r % B][j]) - fprime_double(m->act, c->z[r][j])) *
                           m->W.value.data[i * H + j];
                P += d * d;
            }
    return P / R;
}

/* The explicit version subtracts two Jacobians that are close (J(x) - J(x̃)) in float, and the
 * fused op two f' values: their rounding, relative to the difference, is |J|/|J - J̃| times
 * larger than in the first-order test.  Measured over these models: differences up to 1.2e-6 of
 * the largest entry, and up to 9.5e-6 relative for entries above 5% of the largest (softplus dx).
 * So: relative from 5% of the largest entry on, within 5e-5. */
#define REL_TOL_DIFF 5e-5
static void expect_diff_close(const char *what, const model *m, const float *a, const float *b, int n)
{
    expect_close_floor(what, m, a, b, n, 5e-2f, REL_TOL_DIFF);
}

static corrupted *g_corrupted; /* the corruptions of the current test (the builders' signature is fixed) */

/* The corrupted encoder, on the same W and b leaves as the clean one `e`. */
static encoder encode_corrupted(tg_tape *t, model *m, const encoder *e)
{
    corrupted *c = g_corrupted;
    encoder ec = *e;
    ec.x = tg_add(t, tg_matmul(t, tg_input(t, &c->tile), e->x, false, false), tg_input(t, &c->noise)); // x̃ [R,D]
    ec.z = tg_add(t, tg_matmul(t, ec.x, e->W, false, false), e->b);                                  // z̃ [R,H]
    ec.h = tg_activate(t, ec.z, m->act);
    return ec;
}

static tg_node *fused_diff_penalty(tg_tape *t, model *m, bool W_constant)
{
    encoder e = encode(t, m);
    encoder ec = encode_corrupted(t, m, &e);
    return tg_jacobian_diff_penalty(t, e.h, ec.h, penalty_W(t, m, &e, W_constant), m->act);
}

/* f'(z̃) [R,H] from generic ops (as generic_fprime, with the corrupted encoder's mask). */
static tg_node *generic_fprime_corrupted(tg_tape *t, model *m, const encoder *ec)
{
    return generic_fprime_of(t, m->act, ec->h, ec->z, &g_corrupted->relu_mask, &g_corrupted->ones);
}

/* J_b = diag(e_b·F)·Wᵀ for row b of F [N,H], picked by the one-hot `pick` [1,N]. */
static tg_node *explicit_jacobian(tg_tape *t, model *m, tg_node *F, const tg_tensor *pick, tg_node *W)
{
    tg_node *row = tg_matmul(t, tg_input(t, pick), F, false, false); // [1,H]
    tg_node *diag = tg_mul(t, tg_input(t, &m->eye), row);            // [H,H]
    return tg_matmul(t, diag, W, false, true);                       // [H,D]
}

static tg_node *explicit_diff_penalty(tg_tape *t, model *m, bool W_constant)
{
    encoder e = encode(t, m);
    encoder ec = encode_corrupted(t, m, &e);
    tg_node *W = penalty_W(t, m, &e, W_constant);
    tg_node *fp = generic_fprime(t, m, &e), *fp_tilde = generic_fprime_corrupted(t, m, &ec);
    tg_node *total = NULL;
    for (int r = 0; r < R; r++) {
        tg_node *J = explicit_jacobian(t, m, fp, &m->onehot[r % B], W);                  // J(x_b)
        tg_node *J_tilde = explicit_jacobian(t, m, fp_tilde, &g_corrupted->onehot[r], W); // J(x̃_r)
        tg_node *fro = tg_sum(t, tg_square(t, tg_sub(t, J, J_tilde)));
        total = total ? tg_add(t, total, fro) : fro;
    }
    return tg_scale(t, total, 1.0f / R);
}

Test(jacobian, diff_penalty_matches_explicit_jacobians)
{
    for (int act = 0; act < TG_ACT_COUNT; act++) {
        for (uint64_t seed = 1; seed <= 3; seed++) {
            model m;
            corrupted c;
            model_init(&m, activation_for_test(act), seed);
            corrupted_init(&c, &m, 1.0f, seed);
            g_corrupted = &c;
            grads fused = run(&m, fused_diff_penalty, false);
            grads ref = run(&m, explicit_diff_penalty, false);
            double exact = diff_penalty_double(&m, &c);
            cr_assert_gt(exact, 1e-4, "%s seed %d: a degenerate model", tg_activation_name(m.act.kind), (int)seed);
            cr_assert_leq(fabs(fused.value - exact) / exact, REL_TOL_DIFF, "%s: fused P %.9g vs double %.9g",
                          tg_activation_name(m.act.kind), (double)fused.value, exact);
            cr_assert_leq(fabs(ref.value - exact) / exact, REL_TOL_DIFF, "%s: explicit P %.9g vs double %.9g",
                          tg_activation_name(m.act.kind), (double)ref.value, exact);
            expect_diff_close("dW", &m, fused.W, ref.W, D * H);
            expect_diff_close("db", &m, fused.b, ref.b, H);
            expect_diff_close("dx", &m, fused.x, ref.x, B * D);
            if (slope_is_piecewise_constant(act)) { /* f' is piecewise constant: only the direct path exists */
                cr_assert_eq(max_abs(fused.x, B * D), 0.0f);
                cr_assert_eq(max_abs(fused.b, H), 0.0f);
            } else {
                cr_assert_gt(max_abs(fused.x, B * D), 1e-4f, "%s: no gradient reached x", tg_activation_name(m.act.kind));
            }
            corrupted_free(&c);
            model_free(&m);
        }
    }
}

/* As for the first-order penalty: with the op's W replaced by a constant copy, the gradient loses
 * exactly the direct term 2 W_ij · (1/R) Σ_r (f'(z_bj) - f'(z̃_rj))². */
Test(jacobian, diff_penalty_gradient_reaches_W_through_sum_of_squares)
{
    for (int act = 0; act < TG_ACT_COUNT; act++) {
        model m;
        corrupted c;
        model_init(&m, activation_for_test(act), 11);
        corrupted_init(&c, &m, 1.0f, 11);
        g_corrupted = &c;
        grads full = run(&m, fused_diff_penalty, false);
        grads frozen = run(&m, fused_diff_penalty, true);
        if (!slope_is_piecewise_constant(act)) {
            grads frozen_ref = run(&m, explicit_diff_penalty, true);
            expect_diff_close("dW (W constant)", &m, frozen.W, frozen_ref.W, D * H);
        }
        float direct[D * H];
        for (int i = 0; i < D; i++)
            for (int j = 0; j < H; j++) {
                double mean_d2 = 0.0;
                for (int r = 0; r < R; r++)
                    mean_d2 += pow(fprime_double(m.act, m.z[r % B][j]) - fprime_double(m.act, c.z[r][j]), 2) / R;
                direct[i * H + j] = (float)(2.0 * m.W.value.data[i * H + j] * mean_d2);
            }
        cr_assert_gt(max_abs(direct, D * H), 0.1f * max_abs(full.W, D * H),
                     "%s: the direct term is a large part of dW", tg_activation_name(m.act.kind));
        for (int k = 0; k < D * H; k++)
            cr_assert_float_eq(full.W[k] - frozen.W[k], direct[k], 1e-5f * max_abs(full.W, D * H),
                               "%s dW[%d]: full - constant = %.9g, direct term %.9g", tg_activation_name(m.act.kind), k,
                               (double)(full.W[k] - frozen.W[k]), (double)direct[k]);
        corrupted_free(&c);
        model_free(&m);
    }
}
