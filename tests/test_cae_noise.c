/* tests/test_cae_noise.c — the CAE+H corruptions (cae_corrupt): their distribution, and that
 * they depend on (seed, step, row) only: not on the thread count, not on the input. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cae_model.h"
#include "tensor/parallel.h"

static cae_config config(size_t input, size_t corruptions, double sigma, uint64_t seed)
{
    cae_config cfg = cae_config_default();
    cfg.input = input;
    cfg.corruptions = corruptions;
    cfg.sigma = sigma;
    cfg.noise_seed = seed;
    return cfg;
}

/* x_tilde [k·B,D] for inputs x [B,D]; the caller frees it. */
static float *corrupt(const cae_config *cfg, uint64_t step, const float *x, size_t B)
{
    float *x_tilde = malloc(cfg->corruptions * B * cfg->input * sizeof *x_tilde);
    cr_assert_not_null(x_tilde);
    cae_corrupt(cfg, step, x, B, x_tilde);
    return x_tilde;
}

/* On zero inputs the corruptions are the noise: ~1.6 million N(0, σ²) samples, standardized. */
Test(cae_noise, normal_with_the_given_sigma)
{
    const size_t B = 256, D = 784;
    cae_config cfg = config(D, 8, 0.25, 42);
    float *zeros = calloc(B * D, sizeof *zeros);
    float *noise = corrupt(&cfg, 7, zeros, B);
    const size_t n = cfg.corruptions * B * D;
    double sum = 0, sum2 = 0, sum4 = 0;
    size_t beyond2 = 0, beyond4 = 0;
    for (size_t i = 0; i < n; i++) {
        double z = noise[i] / cfg.sigma;
        sum += z;
        sum2 += z * z;
        sum4 += z * z * z * z;
        beyond2 += fabs(z) > 2.0;
        beyond4 += fabs(z) > 4.0;
    }
    double mean = sum / n, var = sum2 / n - mean * mean, kurtosis = sum4 / n / (var * var);
    /* Tolerances of about 5 standard errors of each estimate at this n. */
    cr_assert_lt(fabs(mean), 0.004, "mean %g", mean);
    cr_assert_lt(fabs(var - 1.0), 0.006, "variance %g (want 1)", var);
    cr_assert_lt(fabs(kurtosis - 3.0), 0.03, "kurtosis %g (want 3)", kurtosis);
    cr_assert_lt(fabs((double)beyond2 / n - 0.0455), 0.0009, "P(|z| > 2) = %g (want 0.0455)", (double)beyond2 / n);
    cr_assert_lt(fabs((double)beyond4 / n - 6.33e-5), 4e-5, "P(|z| > 4) = %g (want 6.3e-5)", (double)beyond4 / n);
    free(zeros);
    free(noise);
}

/* Row c·B + b is x_b plus its noise: the input is added to, not replaced; rows differ. */
Test(cae_noise, adds_to_each_input_row_and_rows_differ)
{
    const size_t B = 3, D = 5; /* odd D: a last half pair per row */
    cae_config cfg = config(D, 2, 0.1, 1);
    float x[15], zeros[15] = {0};
    for (size_t i = 0; i < B * D; i++)
        x[i] = 0.1f * (float)i;
    float *shifted = corrupt(&cfg, 3, x, B), *noise = corrupt(&cfg, 3, zeros, B);
    for (size_t r = 0; r < cfg.corruptions * B; r++)
        for (size_t i = 0; i < D; i++) {
            float want = x[(r % B) * D + i] + noise[r * D + i];
            cr_assert_eq(shifted[r * D + i], want, "row %zu element %zu: %.9g, want %.9g", r, i,
                         (double)shifted[r * D + i], (double)want);
            cr_assert_neq(noise[r * D + i], 0.0f, "row %zu element %zu has no noise", r, i);
        }
    for (size_t r = 1; r < cfg.corruptions * B; r++)
        cr_assert(memcmp(noise, noise + r * D, D * sizeof *noise) != 0, "rows 0 and %zu drew the same noise", r);
    free(shifted);
    free(noise);
}

/* The same (seed, step) gives the same bits on 1, 2 and 3 threads; another step or seed does not. */
Test(cae_noise, depends_on_seed_and_step_not_threads)
{
    const size_t B = 64, D = 97;
    cae_config cfg = config(D, 4, 0.1, 5);
    float *zeros = calloc(B * D, sizeof *zeros);
    const size_t bytes = cfg.corruptions * B * D * sizeof(float);
    tg_set_threads(1);
    float *one = corrupt(&cfg, 11, zeros, B);
    for (int threads = 2; threads <= 3; threads++) {
        tg_set_threads(threads);
        float *many = corrupt(&cfg, 11, zeros, B);
        cr_assert(memcmp(one, many, bytes) == 0, "%d threads drew other noise than 1", threads);
        free(many);
    }
    float *next_step = corrupt(&cfg, 12, zeros, B);
    cr_assert(memcmp(one, next_step, bytes) != 0, "steps 11 and 12 drew the same noise");
    cae_config other = config(D, 4, 0.1, 6);
    float *other_seed = corrupt(&other, 11, zeros, B);
    cr_assert(memcmp(one, other_seed, bytes) != 0, "seeds 5 and 6 drew the same noise");
    tg_set_threads(tg_available_cores());
    free(zeros);
    free(one);
    free(next_step);
    free(other_seed);
}

/* ---- the denoising corruption (--noise, cae_corrupt_input) ----------------------------------- */

static cae_config denoising(size_t input, cae_noise_kind kind, double level, uint64_t seed)
{
    cae_config cfg = config(input, 4, 0.1, seed);
    cfg.noise = kind;
    cfg.noise_level = level;
    return cfg;
}

/* Gaussian: x + N(0, σ²) per pixel, σ as given (on zero inputs the output is the noise). */
Test(cae_noise, gaussian_input_noise_has_the_given_sd)
{
    const size_t B = 128, D = 784, n = B * D;
    cae_config cfg = denoising(D, CAE_NOISE_GAUSSIAN, 0.3, 9);
    float *zeros = calloc(n, sizeof *zeros), *out = malloc(n * sizeof *out);
    cae_corrupt_input(&cfg, 5, zeros, B, out);
    double sum = 0, sum2 = 0;
    for (size_t i = 0; i < n; i++) {
        sum += out[i];
        sum2 += (double)out[i] * out[i];
    }
    double mean = sum / n, sd = sqrt(sum2 / n - mean * mean);
    cr_assert_lt(fabs(mean), 0.005, "mean %g", mean);
    cr_assert_lt(fabs(sd - 0.3), 0.003, "sd %g (want 0.3)", sd); /* ~5 standard errors */
    free(zeros);
    free(out);
}

/* The same (seed, step) gives the same bits on 1 and 2 threads; the stream is not the γ term's. */
Test(cae_noise, input_noise_depends_on_seed_and_step_not_threads)
{
    const size_t B = 40, D = 97, n = B * D;
    cae_config cfg = denoising(D, CAE_NOISE_MASK, 0.5, 3);
    cfg.corruptions = 1;
    float *ones = malloc(n * sizeof *ones), *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    for (size_t i = 0; i < n; i++)
        ones[i] = 1.0f;
    tg_set_threads(1);
    cae_corrupt_input(&cfg, 8, ones, B, a);
    tg_set_threads(2);
    cae_corrupt_input(&cfg, 8, ones, B, b);
    cr_assert(memcmp(a, b, n * sizeof *a) == 0, "2 threads masked other pixels than 1");
    cae_corrupt_input(&cfg, 9, ones, B, b);
    cr_assert(memcmp(a, b, n * sizeof *a) != 0, "steps 8 and 9 masked the same pixels");
    cfg.noise = CAE_NOISE_GAUSSIAN;
    cae_corrupt_input(&cfg, 8, ones, B, a);
    cae_corrupt(&cfg, 8, ones, B, b);
    cr_assert(memcmp(a, b, n * sizeof *a) != 0, "the denoising noise is the γ term's corruption");
    tg_set_threads(tg_available_cores());
    free(ones);
    free(a);
    free(b);
}

/* A training step of a masking DAE: the encoder sees x with about P of its pixels zeroed (the
 * others exact), the batch x itself is untouched, and the reconstruction term is taken against
 * the clean x (a sigmoid decoder, so y is on the tape to recompute it from). */
Test(cae_noise, masking_dae_step_encodes_masked_and_reconstructs_clean)
{
    const size_t B = 64, D = 784, n = B * D;
    const double P = 0.25;
    cae_config cfg = denoising(D, CAE_NOISE_MASK, P, 11);
    cfg.hidden = 8;
    cfg.sigmoid_decoder = true;
    tg_rng rng;
    tg_rng_seed(&rng, 1, 2);
    cae_model m;
    tg_error err;
    cr_assert_eq(cae_model_init(&m, &cfg, &rng, &err), TG_OK, "%s", err.msg);
    tg_tape *t = tg_tape_new(&err);
    tg_node *x = tg_input_new(t, 2, (size_t[]){B, D});
    for (size_t i = 0; i < n; i++)
        x->value.data[i] = 0.2f + 0.6f * (float)(i % 7) / 7.0f; /* no zero pixel */
    float *clean = malloc(n * sizeof *clean);
    memcpy(clean, x->value.data, n * sizeof *clean);
    cae_model_set_step(&m, 3);
    cae_graph g;
    cr_assert_eq(cae_build(t, &m, x, CAE_TERMS_ALL, &g), TG_OK, "%s", tg_tape_error(t));
    cr_assert_neq(g.input, x, "the encoder's input is x itself");
    size_t zeroed = 0;
    for (size_t i = 0; i < n; i++) {
        float v = g.input->value.data[i];
        zeroed += v == 0.0f;
        cr_assert(v == 0.0f || v == clean[i], "pixel %zu: %g is neither 0 nor x's %g", i, (double)v, (double)clean[i]);
    }
    double frac = (double)zeroed / n;
    cr_assert_lt(fabs(frac - P), 0.01, "%.4f of the pixels zeroed, want %.2f", frac, P); /* ~5 standard errors */
    cr_assert(memcmp(x->value.data, clean, n * sizeof *clean) == 0, "the batch (the target) was changed");
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)g.y->value.data[i] - clean[i];
        sum += d * d;
    }
    cr_assert_float_eq(g.recon->value.data[0], sum / n, 1e-6, "recon %g is not the MSE against the clean x (%g)",
                       (double)g.recon->value.data[0], sum / n);
    /* CAE_TERMS_RECON (eval, render) encodes x as given */
    cae_graph r;
    cr_assert_eq(cae_build(t, &m, x, CAE_TERMS_RECON, &r), TG_OK, "%s", tg_tape_error(t));
    cr_assert_eq(r.input, x);
    tg_tape_free(t);
    cae_model_free(&m);
    free(clean);
}
