/* tests/test_cae_eval.c — the numbers of `cae eval` (models/cae/cae_eval.c) against answers
 * computed here: the encoder's Jacobian and jac_fro2 against central finite differences of an
 * encoder written out in double precision; contraction ratios, jac_fro2, saturation and the
 * reconstruction error of an encoder that is linear on the data (relu with a large bias and an
 * orthogonal W times c), where every ratio is c and ‖J‖_F² = c²·H. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cae_eval.h"
#include "cae_model.h"

/* Images of rows x cols bytes, made up from a formula; no labels. */
static tg_dataset images(uint8_t *pixels, size_t n, size_t rows, size_t cols)
{
    for (size_t i = 0; i < n * rows * cols; i++)
        pixels[i] = (uint8_t)((i * 97 + 13) % 251);
    return (tg_dataset){.images = pixels, .n = n, .rows = rows, .cols = cols};
}

static cae_model make_model(size_t D, size_t H, tg_activation act, uint64_t seed)
{
    cae_config cfg = cae_config_default();
    cfg.input = D;
    cfg.hidden = H;
    cfg.act = act;
    tg_rng rng;
    tg_rng_seed(&rng, seed, 3);
    cae_model m;
    tg_error err;
    cr_assert_eq(cae_model_init(&m, &cfg, &rng, &err), TG_OK, "%s", err.msg);
    tg_rng_fill_uniform(&rng, m.enc_w.value.data, m.enc_w.value.size, -1.0f, 1.0f);
    tg_rng_fill_uniform(&rng, m.enc_b.value.data, m.enc_b.value.size, -0.5f, 0.5f);
    return m;
}

/* h_j(x) = f(b_j + Σ_i x_i W_ij) in double: the reference encoder. */
static double reference_unit(const cae_model *m, const double *x, size_t j)
{
    const size_t D = m->cfg.input, H = m->cfg.hidden;
    double z = m->enc_b.value.data[j];
    for (size_t i = 0; i < D; i++)
        z += x[i] * m->enc_w.value.data[i * H + j];
    const double p = m->cfg.act.param;
    switch (m->cfg.act.kind) {
    case TG_ACT_SIGMOID: return 1.0 / (1.0 + exp(-z));
    case TG_ACT_TANH: return tanh(z);
    case TG_ACT_RELU: return z > 0 ? z : 0.0;
    case TG_ACT_SOFTPLUS: return log1p(exp(z));
    case TG_ACT_LEAKY_RELU: return z > 0 ? z : p * z;
    case TG_ACT_ELU: return z > 0 ? z : p * expm1(z);
    default: cr_assert_fail("no reference for activation %d", (int)m->cfg.act.kind); return 0.0;
    }
}

/* J [H,D] at x by central differences of the reference encoder. */
static void finite_difference_jacobian(const cae_model *m, const double *x, double *J)
{
    const size_t D = m->cfg.input, H = m->cfg.hidden;
    const double step = 1e-5;
    double *xp = malloc(D * sizeof *xp);
    memcpy(xp, x, D * sizeof *xp);
    for (size_t i = 0; i < D; i++) {
        for (size_t j = 0; j < H; j++) {
            xp[i] = x[i] + step;
            double up = reference_unit(m, xp, j);
            xp[i] = x[i] - step;
            double down = reference_unit(m, xp, j);
            J[j * D + i] = (up - down) / (2 * step);
        }
        xp[i] = x[i];
    }
    free(xp);
}

static void image_as_doubles(const tg_dataset *ds, size_t k, double *x)
{
    const size_t D = ds->rows * ds->cols;
    for (size_t i = 0; i < D; i++)
        x[i] = (double)((float)ds->images[k * D + i] / 255.0f);
}

static cae_eval_options options_without_hessian(void)
{
    cae_eval_options o = cae_eval_options_default();
    o.hess_corruptions = 0;
    return o;
}

/* For each image: cae_jacobian_at against the finite differences, element by element; then
 * cae_evaluate's jac_fro2 against the mean of their squared norms. */
static void check_jacobians(cae_model *m, const tg_dataset *ds)
{
    const size_t D = m->cfg.input, H = m->cfg.hidden;
    double *x = malloc(D * sizeof *x), *want = malloc(H * D * sizeof *want), fro2 = 0.0, fro = 0.0;
    float *xf = malloc(D * sizeof *xf), *J = malloc(H * D * sizeof *J);
    tg_error err;
    for (size_t k = 0; k < ds->n; k++) {
        image_as_doubles(ds, k, x);
        for (size_t i = 0; i < D; i++)
            xf[i] = (float)x[i];
        finite_difference_jacobian(m, x, want);
        cr_assert_eq(cae_jacobian_at(m, xf, J, &err), TG_OK, "%s", err.msg);
        double image_fro2 = 0.0;
        for (size_t e = 0; e < H * D; e++) {
            image_fro2 += want[e] * want[e];
            cr_assert(fabs(J[e] - want[e]) <= 1e-5 + 1e-4 * fabs(want[e]), "%s image %zu J[%zu,%zu] = %.7g, want %.7g",
                      tg_activation_name(m->cfg.act.kind), k, e / D, e % D, (double)J[e], want[e]);
            fro2 += want[e] * want[e] / (double)ds->n;
        }
        fro += sqrt(image_fro2) / (double)ds->n;
    }
    cae_eval_options o = options_without_hessian();
    cae_eval_result r;
    cr_assert_eq(cae_evaluate(m, ds, NULL, &o, &r, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(r.images, ds->n);
    cr_assert(fabs(r.jac_fro2 - fro2) <= 1e-4 * fro2, "%s: jac_fro2 %.7g, want %.7g", tg_activation_name(m->cfg.act.kind),
              r.jac_fro2, fro2);
    cr_assert(fabs(r.jac_fro - fro) <= 1e-4 * fro, "%s: jac_fro %.7g, want %.7g (the mean norm, not squared)",
              tg_activation_name(m->cfg.act.kind), r.jac_fro, fro);
    cr_assert(isnan(r.probe_acc), "no labels, no probe");
    free(x);
    free(want);
    free(xf);
    free(J);
}

Test(cae_eval, the_jacobian_and_jac_fro2_match_finite_differences)
{
    static const tg_activation_kind smooth[] = {TG_ACT_SIGMOID, TG_ACT_TANH, TG_ACT_SOFTPLUS};
    enum { N = 7, ROWS = 2, COLS = 3 };
    uint8_t pixels[N * ROWS * COLS];
    tg_dataset ds = images(pixels, N, ROWS, COLS);
    for (int a = 0; a < 3; a++)
        for (size_t hidden = 2; hidden <= 10; hidden += 4) { /* fewer, as many and more units than pixels */
            cae_model m = make_model(ROWS * COLS, hidden, tg_activation_of(smooth[a]), 11 + (uint64_t)a);
            check_jacobians(&m, &ds);
            cae_model_free(&m);
        }
}

/* W = c·R with R orthogonal (two plane rotations), biases large enough that every z = x·W + b
 * stays positive within radius 3 of an image: relu is then the identity, h(x+ε) − h(x) = c·ε·R
 * and ‖c·ε·R‖ = c·‖ε‖, so every contraction ratio is c, and J = c·Rᵀ everywhere, ‖J‖_F² = c²·H.
 * A decoder V = Rᵀ/c with bias −(10/c)·1·Rᵀ reconstructs x exactly. */
Test(cae_eval, a_linear_encoder_contracts_by_its_scale)
{
    enum { N = 12, ROWS = 2, COLS = 2, D = ROWS * COLS, H = D };
    const double c = 1.75, bias = 10.0, angle1 = 0.6, angle2 = -1.1;
    const double R[D][D] = {{cos(angle1), -sin(angle1), 0, 0},
                            {sin(angle1), cos(angle1), 0, 0},
                            {0, 0, cos(angle2), -sin(angle2)},
                            {0, 0, sin(angle2), cos(angle2)}};
    uint8_t pixels[N * D];
    tg_dataset ds = images(pixels, N, ROWS, COLS);
    cae_model m = make_model(D, H, tg_activation_of(TG_ACT_RELU), 1);
    for (size_t i = 0; i < D; i++) {
        double row_sum = 0.0;
        for (size_t j = 0; j < H; j++) {
            m.enc_w.value.data[i * H + j] = (float)(c * R[i][j]);
            m.dec_w.value.data[j * D + i] = (float)(R[i][j] / c); /* V = Rᵀ/c */
            row_sum += R[i][j];
        }
        m.enc_b.value.data[i] = (float)bias;
        m.dec_b.value.data[i] = (float)(-bias / c * row_sum);
    }
    cae_eval_options o = options_without_hessian();
    cae_eval_result r;
    tg_error err;
    cr_assert_eq(cae_evaluate(&m, &ds, NULL, &o, &r, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(o.n_radii, 3);
    for (int k = 0; k < o.n_radii; k++)
        cr_assert(fabs(r.contraction[CAE_DIR_RANDOM][k] - c) <= 1e-4 * c, "radius %g: ratio %.7g, want %g", o.radii[k],
                  r.contraction[CAE_DIR_RANDOM][k], c);
    cr_assert(fabs(r.jac_fro2 - c * c * H) <= 1e-5 * c * c * H, "jac_fro2 %.9g, want %g", r.jac_fro2, c * c * H);
    cr_assert_eq(r.saturated, 0.0, "no unit is inactive");
    cr_assert(r.test_mse < 1e-9, "test_mse %g: the decoder undoes the encoder", r.test_mse);
    cae_model_free(&m);
}

/* The same encoder with a zero scale is constant: nothing moves, every unit sits at its bias. */
Test(cae_eval, a_constant_encoder_does_not_move)
{
    enum { N = 5, ROWS = 2, COLS = 2, D = ROWS * COLS, H = 3 };
    uint8_t pixels[N * D];
    tg_dataset ds = images(pixels, N, ROWS, COLS);
    cae_model m = make_model(D, H, tg_activation_of(TG_ACT_SIGMOID), 2);
    memset(m.enc_w.value.data, 0, m.enc_w.value.size * sizeof(float));
    m.enc_b.value.data[0] = 10.0f; /* σ ≈ 1: saturated */
    m.enc_b.value.data[1] = 0.0f;  /* σ = 0.5: not */
    m.enc_b.value.data[2] = -10.0f; /* σ ≈ 0: saturated */
    cae_eval_options o = options_without_hessian();
    cae_eval_result r;
    tg_error err;
    cr_assert_eq(cae_evaluate(&m, &ds, NULL, &o, &r, &err), TG_OK, "%s", err.msg);
    for (int k = 0; k < o.n_radii; k++)
        cr_assert_eq(r.contraction[CAE_DIR_RANDOM][k], 0.0);
    cr_assert_eq(r.jac_fro2, 0.0);
    cr_assert(fabs(r.saturated - 2.0 / 3.0) < 1e-12, "saturated %g", r.saturated);
    cr_assert_eq(r.jac_fro, 0.0);
    cr_assert(fabs(r.dead - 1.0 / 3.0) < 1e-12, "dead %g: only σ(-10) is below 0.01", r.dead);
    cr_assert_eq(r.switching, 0.0, "a constant unit never switches");
    cae_model_free(&m);
}

Test(cae_eval, images_of_another_size_are_refused)
{
    uint8_t pixels[2 * 9];
    tg_dataset ds = images(pixels, 2, 3, 3);
    cae_model m = make_model(4, 2, tg_activation_of(TG_ACT_TANH), 3);
    cae_eval_options o = options_without_hessian();
    cae_eval_result r;
    tg_error err;
    cr_assert_eq(cae_evaluate(&m, &ds, NULL, &o, &r, &err), TG_ERR_ARG);
    cr_assert_str_eq(err.msg, "the test images have 9 pixels (3x3) but the model expects 4");
    cae_model_free(&m);
}

/* Units whose answers are known: 200 images of two pixels, all 0 except pixel 0 of images 7 and 8
 * and pixel 1 of image 7 (255).  Sigmoid units z = w·x_p + b:
 *   0: w 0, b -10            off (σ < 0.01) on every image: dead; saturated always: not switching
 *   1: w 0, b 0              σ = 0.5 always: neither
 *   2: pixel 1, w 40, b -20  off on 199 of 200 (99.5% > 99%): dead; σ(±20) saturated always
 *   3: pixel 0, w 40, b -20  off on 198 of 200 (99%, not more): not dead; saturated always
 *   4: pixel 0, w 4, b -2.5  σ(-2.5) = 0.076 or σ(1.5) = 0.82: neither
 *   5: pixel 1, w 40, b -38  σ(-38) off and saturated on 199, σ(2) = 0.88 on one: dead and switching
 * so dead = 3/6 (units 0, 2, 5) and switching = 1/6 (unit 5). */
Test(cae_eval, dead_and_switching_units_of_a_hand_built_encoder)
{
    enum { N = 200, ROWS = 1, COLS = 2, D = ROWS * COLS, H = 6 };
    static const float w[H] = {0, 0, 40, 40, 4, 40}, b[H] = {-10, 0, -20, -20, -2.5f, -38};
    static const size_t pixel[H] = {0, 0, 1, 0, 0, 1};
    uint8_t pixels[N * D];
    memset(pixels, 0, sizeof pixels);
    pixels[7 * D] = pixels[8 * D] = pixels[7 * D + 1] = 255;
    tg_dataset ds = {.images = pixels, .n = N, .rows = ROWS, .cols = COLS};
    cae_model m = make_model(D, H, tg_activation_of(TG_ACT_SIGMOID), 4);
    memset(m.enc_w.value.data, 0, m.enc_w.value.size * sizeof(float));
    for (size_t j = 0; j < H; j++) {
        m.enc_w.value.data[pixel[j] * H + j] = w[j]; /* W [D,H] */
        m.enc_b.value.data[j] = b[j];
    }
    cae_eval_options o = options_without_hessian();
    cae_eval_result r;
    tg_error err;
    cr_assert_eq(cae_evaluate(&m, &ds, NULL, &o, &r, &err), TG_OK, "%s", err.msg);
    cr_assert(fabs(r.dead - 3.0 / 6.0) < 1e-12, "dead %g, want 0.5 (units 0, 2, 5)", r.dead);
    cr_assert(fabs(r.switching - 1.0 / 6.0) < 1e-12, "switching %g, want 1/6 (unit 5)", r.switching);
    cae_model_free(&m);
}

/* relu: a unit is off only at exactly 0.  Constant units at h = 0 (b -1) and h = 0.005 (b 0.005):
 * only the first is dead, though the second is below sigmoid's 0.01. */
Test(cae_eval, a_relu_unit_is_dead_only_at_zero)
{
    enum { N = 4, ROWS = 2, COLS = 2, D = ROWS * COLS, H = 2 };
    uint8_t pixels[N * D];
    tg_dataset ds = images(pixels, N, ROWS, COLS);
    cae_model m = make_model(D, H, tg_activation_of(TG_ACT_RELU), 5);
    memset(m.enc_w.value.data, 0, m.enc_w.value.size * sizeof(float));
    m.enc_b.value.data[0] = -1.0f;
    m.enc_b.value.data[1] = 0.005f;
    cae_eval_options o = options_without_hessian();
    cae_eval_result r;
    tg_error err;
    cr_assert_eq(cae_evaluate(&m, &ds, NULL, &o, &r, &err), TG_OK, "%s", err.msg);
    cr_assert(fabs(r.dead - 0.5) < 1e-12, "dead %g, want 0.5", r.dead);
    cr_assert_eq(r.switching, 0.0);
    cae_model_free(&m);
}
