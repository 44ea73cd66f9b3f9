/* tests/test_cae_directions.c — the contraction ratio by kind of direction (models/cae/
 * cae_directions.c) against answers worked out by hand: the tangent subspace of a Jacobian built
 * from known singular vectors; encoders that are linear on the data (relu with a large bias), so
 * that h(x + r·u) − h(x) = r·J·u and every ratio is ‖J·u‖. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cae_directions.h"
#include "cae_eval.h"
#include "cae_model.h"

/* Rows of Q [n,d] orthonormal, from a seeded Gaussian by Gram-Schmidt (n <= d). */
static void random_orthonormal(double *Q, size_t n, size_t d, uint64_t seed)
{
    tg_rng rng;
    tg_rng_seed(&rng, seed, 9);
    float *g = malloc(n * d * sizeof *g);
    tg_rng_fill_normal(&rng, g, n * d, 0.0f, 1.0f);
    for (size_t a = 0; a < n; a++) {
        double *q = Q + a * d;
        for (size_t i = 0; i < d; i++)
            q[i] = g[a * d + i];
        for (int pass = 0; pass < 2; pass++)
            for (size_t b = 0; b < a; b++) {
                double c = 0.0;
                for (size_t i = 0; i < d; i++)
                    c += q[i] * Q[b * d + i];
                for (size_t i = 0; i < d; i++)
                    q[i] -= c * Q[b * d + i];
            }
        double norm = 0.0;
        for (size_t i = 0; i < d; i++)
            norm += q[i] * q[i];
        for (size_t i = 0; i < d; i++)
            q[i] /= sqrt(norm);
    }
    free(g);
}

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* J = Σ_q σ_q·u_q·v_qᵀ [H,D] with σ_q = 2^-q and random orthonormal u, v: its right singular
 * vectors are the v_q, and k = 4 of its values are >= 0.1·σ_0 (2^-3 = 0.125, 2^-4 = 0.0625).
 * H = 40 > k_max + 8 = 14, so the subspace iteration has to iterate to find them. */
Test(cae_directions, the_tangent_space_of_a_jacobian_with_known_singular_vectors)
{
    enum { H = 40, D = 60, K = 6 };
    double *U = malloc(H * H * sizeof *U), *Vt = malloc(H * D * sizeof *Vt), *V = malloc(K * D * sizeof *V);
    float *J = calloc(H * D, sizeof *J);
    double sigma[K];
    random_orthonormal(U, H, H, 1);
    random_orthonormal(Vt, H, D, 2);
    for (size_t q = 0; q < H; q++)
        for (size_t j = 0; j < H; j++)
            for (size_t i = 0; i < D; i++)
                J[j * D + i] += (float)(ldexp(1.0, -(int)q) * U[q * H + j] * Vt[q * D + i]);
    size_t k = 99;
    tg_error err;
    cr_assert_eq(cae_tangent_space(J, H, D, K, 0.1, V, sigma, &k, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(k, 4, "k = %zu: singular values 1, 1/2, 1/4, 1/8 are at least a tenth of the first", k);
    for (size_t q = 0; q < K; q++) {
        double want = ldexp(1.0, -(int)q);
        cr_assert(fabs(sigma[q] - want) <= 1e-5 * want, "sigma_%zu = %.9g, want %g", q, sigma[q], want);
        double along = fabs(dot(V + q * D, Vt + q * D, D));
        cr_assert(along > 1 - 1e-5, "v_%zu . (the true v_%zu) = %.9g, want +-1", q, q, along);
    }
    cr_assert_eq(cae_tangent_space(J, H, D, 2, 0.1, V, sigma, &k, &err), TG_OK);
    cr_assert_eq(k, 2, "at most k_max");
    cr_assert_eq(cae_tangent_space(J, H, D, K, 0.6, V, sigma, &k, &err), TG_OK);
    cr_assert_eq(k, 1, "only sigma_0 is at least 0.6 of itself");
    memset(J, 0, H * D * sizeof *J);
    cr_assert_eq(cae_tangent_space(J, H, D, K, 0.1, V, sigma, &k, &err), TG_OK);
    cr_assert_eq(k, 0, "J = 0 has no tangent direction");
    cr_assert_eq(sigma[0], 0.0);
    free(U), free(Vt), free(V), free(J);
}

/* cae_tangent_space on a J [H,D] of uniform entries (seeded by `seed`; no planted structure, a
 * slowly falling spectrum) against the exact (Jacobi) decomposition of cae_jacobian_svd: the first
 * K singular values, and the first `vectors` directions up to sign. */
static void agrees_with_the_full_svd(size_t H, size_t D, size_t K, uint64_t seed, size_t vectors)
{
    float *J = malloc(H * D * sizeof *J), *all_sigma = malloc(H * sizeof *all_sigma), *exact = malloc(K * D * sizeof *exact);
    double *V = malloc(K * D * sizeof *V), *sigma = malloc(K * sizeof *sigma);
    tg_rng rng;
    tg_rng_seed(&rng, seed, 1);
    tg_rng_fill_uniform(&rng, J, H * D, -1.0f, 1.0f);
    tg_error err;
    size_t k;
    cr_assert_eq(cae_jacobian_svd(J, H, D, all_sigma, exact, K, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(cae_tangent_space(J, H, D, K, 0.0, V, sigma, &k, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(k, K);
    for (size_t q = 0; q < K; q++)
        cr_assert(fabs(sigma[q] - all_sigma[q]) <= 1e-5 * all_sigma[q], "sigma_%zu %.9g vs %.9g", q, sigma[q],
                  (double)all_sigma[q]);
    for (size_t q = 0; q < vectors; q++) {
        double along = 0.0;
        for (size_t i = 0; i < D; i++)
            along += V[q * D + i] * exact[q * D + i];
        cr_assert(fabs(along) > 1 - 1e-4, "v_%zu . exact = %.9g", q, along);
    }
    free(J), free(all_sigma), free(exact), free(V), free(sigma);
}

Test(cae_directions, the_tangent_space_agrees_with_the_full_svd) { agrees_with_the_full_svd(30, 50, 3, 5, 3); }

/* k_max = 20: 28 vectors in the subspace iteration, more than the 24 its products take at once
 * (cae_directions.c, GROUP): the singular values still agree. */
Test(cae_directions, more_vectors_than_one_group_of_the_block_products) { agrees_with_the_full_svd(36, 50, 20, 6, 0); }

Test(cae_directions, unit_directions_of_each_kind)
{
    enum { D = 4 };
    const float x[D] = {1, 2, 3, 4}, partner[D] = {1, 5, 3, 0};
    const double V[2 * D] = {1, 0, 0, 0, 0, 0, 1, 0}; /* span(e0, e2) */
    double u[D];
    float scratch[D];
    tg_rng rng;
    tg_rng_seed(&rng, 3, 0);
    cr_assert(cae_unit_direction(CAE_DIR_DATA, x, partner, NULL, 0, D, &rng, scratch, u));
    cr_assert(fabs(u[1] - 0.6) < 1e-12 && fabs(u[3] + 0.8) < 1e-12 && u[0] == 0 && u[2] == 0,
              "(x_j - x)/|x_j - x| = (0, 3, 0, -4)/5");
    cr_assert(!cae_unit_direction(CAE_DIR_DATA, x, x, NULL, 0, D, &rng, scratch, u), "no direction to itself");
    for (int draw = 0; draw < 20; draw++) {
        cr_assert(cae_unit_direction(CAE_DIR_TANGENT, x, NULL, V, 2, D, &rng, scratch, u));
        cr_assert(u[1] == 0 && u[3] == 0 && fabs(u[0] * u[0] + u[2] * u[2] - 1) < 1e-12, "in span(e0, e2), unit");
        cr_assert(cae_unit_direction(CAE_DIR_ORTHOGONAL, x, NULL, V, 2, D, &rng, scratch, u));
        cr_assert(fabs(u[0]) < 1e-12 && fabs(u[2]) < 1e-12 && fabs(u[1] * u[1] + u[3] * u[3] - 1) < 1e-12,
                  "orthogonal to span(e0, e2), unit");
        cr_assert(cae_unit_direction(CAE_DIR_RANDOM, x, NULL, NULL, 0, D, &rng, scratch, u));
        cr_assert(fabs(dot(u, u, D) - 1) < 1e-12);
    }
    cr_assert(!cae_unit_direction(CAE_DIR_TANGENT, x, NULL, V, 0, D, &rng, scratch, u), "k = 0: none");
    const double all[D * D] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
    cr_assert(!cae_unit_direction(CAE_DIR_ORTHOGONAL, x, NULL, all, D, D, &rng, scratch, u), "V spans R^D: none");
}

/* A relu encoder that is linear on the data: h = relu(x·W + 30), |x·W| < 30 within radius 3 of
 * any image (pixels in [0,1], |W_ij| <= 3, D = 4), so h(x + r·u) − h(x) = r·J·u, J = Wᵀ. */
static cae_model linear_encoder(size_t D, size_t H, const float *W)
{
    cae_config cfg = cae_config_default();
    cfg.input = D;
    cfg.hidden = H;
    cfg.act = tg_activation_of(TG_ACT_RELU);
    tg_rng rng;
    tg_rng_seed(&rng, 1, 3);
    cae_model m;
    tg_error err;
    cr_assert_eq(cae_model_init(&m, &cfg, &rng, &err), TG_OK, "%s", err.msg);
    memcpy(m.enc_w.value.data, W, D * H * sizeof *W);
    for (size_t j = 0; j < H; j++)
        m.enc_b.value.data[j] = 30.0f;
    return m;
}

static cae_eval_options all_directions(void)
{
    cae_eval_options o = cae_eval_options_default();
    o.hess_corruptions = 0;
    o.directions = CAE_DIRECTIONS_ALL;
    return o;
}

/* W's columns 3·e0 and 3·e1 (D = 4, H = 2): J = 3·[e0; e1] has singular values 3, 3 and right
 * singular vectors spanning {e0, e1}: the tangent subspace (k = 2).  Along it ‖J·u‖ = 3; across
 * it (span(e2, e3), which the encoder ignores) 0.  The images vary in pixels 2 and 3 only, so
 * every data direction lies in the ignored subspace too: 0. */
Test(cae_directions, an_encoder_that_ignores_a_subspace)
{
    enum { N = 9, D = 4, H = 2 };
    const float W[D * H] = {3, 0, 0, 3, 0, 0, 0, 0}; /* W [D,H] */
    uint8_t pixels[N * D];
    for (size_t i = 0; i < N; i++) {
        pixels[i * D + 0] = 40;
        pixels[i * D + 1] = 200;
        pixels[i * D + 2] = (uint8_t)(17 * i);
        pixels[i * D + 3] = (uint8_t)(255 - 29 * i);
    }
    tg_dataset ds = {.images = pixels, .n = N, .rows = 2, .cols = 2};
    cae_model m = linear_encoder(D, H, W);
    cae_eval_options o = all_directions();
    cae_eval_result r;
    tg_error err;
    cr_assert_eq(cae_evaluate(&m, &ds, NULL, &o, &r, &err), TG_OK, "%s", err.msg);
    for (int q = 0; q < o.n_radii; q++) {
        cr_assert(fabs(r.contraction[CAE_DIR_TANGENT][q] - 3) < 1e-5, "tangent, radius %g: %.9g, want 3", o.radii[q],
                  r.contraction[CAE_DIR_TANGENT][q]);
        cr_assert(fabs(r.contraction[CAE_DIR_ORTHOGONAL][q]) < 1e-5, "orthogonal: %.9g, want 0",
                  r.contraction[CAE_DIR_ORTHOGONAL][q]);
        cr_assert(fabs(r.contraction[CAE_DIR_DATA][q]) < 1e-5, "data: %.9g, want 0", r.contraction[CAE_DIR_DATA][q]);
        cr_assert(r.contraction[CAE_DIR_RANDOM][q] > 0.3 && r.contraction[CAE_DIR_RANDOM][q] < 3);
    }
    cr_assert_eq(r.tangent_k, 2.0);
    cr_assert_eq(r.tangent_images, N);
    cr_assert_eq(r.direction_images[CAE_DIR_DATA], N);
    cr_assert(isinf(r.anisotropy) && r.anisotropy > 0, "tangent / orthogonal = 3 / 0: %g", r.anisotropy);
    cr_assert(fabs(r.anisotropy_data) < 1e-5, "data / random = 0: %g", r.anisotropy_data);
    cae_model_free(&m);
}

/* W = c·R with R a rotation (D = H = 4): ‖J·u‖ = c for every unit u, so every kind contracts by
 * exactly c; all four singular values are c, so the tangent subspace is all of R^D (k = 4) and
 * there is no orthogonal direction: NaN, and so is the anisotropy. */
Test(cae_directions, an_isotropic_encoder_contracts_alike_in_every_kind)
{
    enum { N = 6, D = 4, H = 4 };
    const double c = 0.75, a = 0.6;
    const float W[D * H] = {(float)(c * cos(a)), (float)(-c * sin(a)), 0, 0, (float)(c * sin(a)), (float)(c * cos(a)), 0, 0,
                            0, 0, (float)c, 0, 0, 0, 0, (float)-c};
    uint8_t pixels[N * D];
    for (size_t i = 0; i < N * D; i++)
        pixels[i] = (uint8_t)((i * 97 + 13) % 251);
    tg_dataset ds = {.images = pixels, .n = N, .rows = 2, .cols = 2};
    cae_model m = linear_encoder(D, H, W);
    cae_eval_options o = all_directions();
    cae_eval_result r;
    tg_error err;
    cr_assert_eq(cae_evaluate(&m, &ds, NULL, &o, &r, &err), TG_OK, "%s", err.msg);
    for (int d = CAE_DIR_RANDOM; d <= CAE_DIR_TANGENT; d++)
        for (int q = 0; q < o.n_radii; q++)
            cr_assert(fabs(r.contraction[d][q] - c) < 1e-5, "%s, radius %g: %.9g, want %g",
                      cae_direction_name((cae_direction)d), o.radii[q], r.contraction[d][q], c);
    cr_assert_eq(r.tangent_k, 4.0);
    cr_assert_eq(r.direction_images[CAE_DIR_ORTHOGONAL], 0);
    cr_assert(isnan(r.contraction[CAE_DIR_ORTHOGONAL][0]) && isnan(r.anisotropy));
    cr_assert(fabs(r.anisotropy_data - 1) < 1e-5, "data / random = 1: %g", r.anisotropy_data);
    cae_model_free(&m);
}

/* Asking for more kinds draws them from streams of their own: the random ratios stay the same,
 * bit for bit; another seed changes them. */
Test(cae_directions, more_kinds_leave_the_random_ratios_alone)
{
    enum { N = 20, D = 4, H = 3 };
    cae_config cfg = cae_config_default();
    cfg.input = D;
    cfg.hidden = H;
    tg_rng rng;
    tg_rng_seed(&rng, 2, 3);
    cae_model m;
    tg_error err;
    cr_assert_eq(cae_model_init(&m, &cfg, &rng, &err), TG_OK);
    tg_rng_fill_uniform(&rng, m.enc_w.value.data, m.enc_w.value.size, -2.0f, 2.0f);
    uint8_t pixels[N * D];
    for (size_t i = 0; i < N * D; i++)
        pixels[i] = (uint8_t)((i * 53 + 7) % 256);
    tg_dataset ds = {.images = pixels, .n = N, .rows = 2, .cols = 2};
    cae_eval_options only = cae_eval_options_default(), all = all_directions(), other = all_directions();
    only.hess_corruptions = 0;
    other.seed = 2;
    cae_eval_result a, b, c;
    cr_assert_eq(cae_evaluate(&m, &ds, NULL, &only, &a, &err), TG_OK);
    cr_assert_eq(cae_evaluate(&m, &ds, NULL, &all, &b, &err), TG_OK);
    cr_assert_eq(cae_evaluate(&m, &ds, NULL, &other, &c, &err), TG_OK);
    cr_assert(isnan(a.contraction[CAE_DIR_DATA][0]) && isnan(a.contraction[CAE_DIR_TANGENT][0]), "not asked: NaN");
    for (int q = 0; q < only.n_radii; q++) {
        cr_assert_eq(a.contraction[CAE_DIR_RANDOM][q], b.contraction[CAE_DIR_RANDOM][q]);
        cr_assert_neq(b.contraction[CAE_DIR_RANDOM][q], c.contraction[CAE_DIR_RANDOM][q], "the seed draws them");
    }
    cae_model_free(&m);
}

Test(cae_directions, radii_must_be_positive_finite_and_increasing)
{
    double radii[CAE_MAX_RADII + 1];
    for (int k = 0; k <= CAE_MAX_RADII; k++)
        radii[k] = 0.5 * (k + 1);
    tg_error err;
    cr_assert_eq(cae_eval_check_radii(radii, CAE_MAX_RADII, &err), TG_OK);
    cr_assert_eq(cae_eval_check_radii(radii, CAE_MAX_RADII + 1, &err), TG_ERR_ARG);
    cr_assert_eq(cae_eval_check_radii(radii, 0, &err), TG_ERR_ARG);
    const double bad[][2] = {{0, 1}, {-1, 1}, {1, INFINITY}, {NAN, 1}, {2, 2}, {3, 1}};
    for (size_t t = 0; t < sizeof bad / sizeof bad[0]; t++)
        cr_assert_eq(cae_eval_check_radii(bad[t], 2, &err), TG_ERR_ARG, "%g,%g", bad[t][0], bad[t][1]);
    cr_assert_str_eq(err.msg, "the radii must increase (1 after 3)");
    cr_assert(CAE_MAX_RADII >= 40, "issue 23: up to 40 radii at least");
}
