/* sparse_dae.c — a sparse denoising autoencoder on the images (Fashion-MNIST, or any IDX set):
 *
 *   sparse_dae [--data DIR|synthetic] [--epochs N] [--limit N] [--l1 LAMBDA]
 *
 * Each training image is corrupted by masking noise (every pixel set to 0 with probability
 * MASK, fresh each step, drawn from the seed); the network must give back the clean image:
 *
 *   x̃ = mask ⊙ x    h = tanh(x̃ · W1 + b1) [B,128]    logits = h · W2 + b2 [B,784]
 *   loss = Σ_pixels BCE(σ(logits), x)  +  λ · Σ_j |h_j|         (both averaged over the batch)
 *
 * The decoder's sigmoid lives inside tg_bce_logits (stable for any logit); the L1 penalty on the
 * code (tg_abs, tg_sum, tg_scale) pulls the units towards 0 (tanh's ±1 costs most): raising λ
 * with --l1 trades reconstruction for a sparser code (code_abs falls).
 * The noise is data, not an op: the corrupted copy is an input node and the clean image the
 * target.  Prints `epoch=… loss=…` per epoch, then on the test set `test_mse=…` (the mean squared
 * error per pixel of σ(logits) against the clean image, from the clean input),
 * `test_mse_masked=…` (the same from a masked input: the denoising) and `code_abs=…` (the mean
 * |h_j|, the sparsity).  Trained on masked inputs only, the model may rebuild masked images
 * better than clean ones, whose inputs are 1/(1-MASK) brighter on average.  baseline_mse is the
 * mean image's.  As a test it runs two epochs of the synthetic set and fails unless the loss fell
 * and both test MSEs are below SYNTHETIC_FACTOR × baseline_mse. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "nn/dense.h"
#include "nn/io/data.h"
#include "nn/optim.h"
#include "nn/params.h"

#include "example_data.h"

enum { CODE = 128, BATCH = 128 };
#define SYNTHETIC_FACTOR 0.93 /* half the gain two synthetic epochs make over the baseline (0.86 of its MSE) */
static const float MASK = 0.25f;
static float lambda = 0.5f; /* --l1 */

typedef struct dae {
    tg_dense enc, dec;
    tg_param_list params;
} dae;

/* The images idx[0..n) of data as an input node; masked: each pixel zeroed with probability MASK. */
static tg_node *batch(tg_tape *t, const tg_dataset *data, const uint32_t *idx, size_t n, tg_rng *mask)
{
    tg_node *x = tg_images_input(t, data, idx, n);
    for (size_t k = 0; x && mask && k < x->value.size; k++)
        if (tg_rng_uniform(mask) < MASK)
            x->value.data[k] = 0.0f;
    return x;
}

/* The loss [1] of rebuilding the clean x from x_in; *code and *logits are left for the caller. */
static tg_node *forward(tg_tape *t, dae *m, tg_node *x_in, tg_node *x, tg_node **code, tg_node **logits)
{
    float inv_n = x ? 1.0f / (float)x->value.shape[0] : 1.0f;
    *code = tg_tanh(t, tg_dense_forward(t, &m->enc, x_in));                    // [n,128]
    *logits = tg_dense_forward(t, &m->dec, *code);                             // [n,784]
    tg_node *rec = tg_bce_logits(t, *logits, x, TG_REDUCE_ROW_SUM);            // Σ pixels, mean over images
    tg_node *l1 = tg_scale(t, tg_sum(t, tg_abs(t, *code)), lambda * inv_n);   // λ·Σ|h| per image
    return tg_add(t, rec, l1);
}

/* Over the test set, from clean (masked false) or masked inputs: the mean squared error per pixel
 * of σ(logits) against the clean image, and the mean |h_j| in *code_abs. */
static double test_mse(tg_tape *t, dae *m, const tg_dataset *test, bool masked, double *code_abs)
{
    uint32_t idx[EXAMPLE_TEST_BATCH];
    double se = 0.0, abs_sum = 0.0;
    tg_rng rng;
    tg_rng_seed(&rng, 7, 1);
    tg_tape_set_grad_enabled(t, false);
    for (size_t start = 0; start < test->n; start += EXAMPLE_TEST_BATCH) {
        size_t n = tg_batch_in_order(test, start, EXAMPLE_TEST_BATCH, idx);
        tg_tape_reset(t);
        tg_node *x = batch(t, test, idx, n, NULL), *x_in = masked ? batch(t, test, idx, n, &rng) : x;
        tg_node *code, *logits;
        forward(t, m, x_in, x, &code, &logits);
        tg_node *mse = tg_mse(t, tg_sigmoid(t, logits), x, TG_REDUCE_MEAN);
        se += mse ? mse->value.data[0] * (double)n : NAN;
        for (size_t k = 0; code && k < code->value.size; k++)
            abs_sum += fabsf(code->value.data[k]);
    }
    tg_tape_set_grad_enabled(t, true);
    *code_abs = abs_sum / ((double)test->n * CODE);
    return se / (double)test->n;
}

int main(int argc, char **argv)
{
    example_args args;
    double l1 = lambda;
    if (!example_parse(argc, argv, "sparse_dae", "--l1", &l1, &args))
        return 2;
    lambda = (float)l1;
    tg_error err;
    tg_dataset train, test;
    if (example_load(&args, false, &train, &test, &err))
        return example_bad_data("sparse_dae", &err);
    dae m;
    tg_rng rng, noise;
    tg_rng_seed(&rng, 1, 0);
    tg_rng_seed(&noise, 1, 2); /* the masks of the training steps */
    tg_param_list_init(&m.params);
    tg_optimizer opt;
    tg_batcher batches;
    tg_tape *t = tg_tape_new(&err);
    tg_opt_config cfg = tg_opt_config_default(TG_OPT_ADAM);
    size_t pixels = train.rows * train.cols;
    if (!t || tg_dense_init(&m.enc, "enc", pixels, CODE, TG_INIT_GLOROT_UNIFORM, &rng, &err) ||
        tg_dense_init(&m.dec, "dec", CODE, pixels, TG_INIT_GLOROT_UNIFORM, &rng, &err) ||
        tg_param_list_add_dense(&m.params, &m.enc, &err) || tg_param_list_add_dense(&m.params, &m.dec, &err) ||
        tg_optim_init(&opt, &cfg, m.params.items, m.params.count, &err) ||
        tg_batcher_init(&batches, &train, BATCH, 0, true, 1, &err))
        return example_fail("sparse_dae", &err);
    double first = NAN, last = NAN;
    const uint32_t *idx;
    size_t n;
    for (long epoch = 1; epoch <= args.epochs; epoch++) {
        tg_batcher_seek(&batches, (uint64_t)epoch, 0);
        double loss_sum = 0.0;
        while ((n = tg_batcher_next(&batches, &idx)) > 0) {
            tg_tape_reset(t);
            tg_node *x = batch(t, &train, idx, n, NULL), *x_in = batch(t, &train, idx, n, &noise), *code, *logits;
            tg_node *loss = forward(t, &m, x_in, x, &code, &logits);
            if (tg_backward(t, loss, &err) || tg_optim_step_zero_grad(&opt, &err))
                return example_fail("sparse_dae", &err);
            loss_sum += loss->value.data[0] * (double)n;
        }
        last = loss_sum / (double)train.n;
        first = epoch == 1 ? last : first;
        printf("epoch=%ld loss=%.4f\n", epoch, last);
    }
    double code_abs, masked_abs, mse = test_mse(t, &m, &test, false, &code_abs);
    double mse_masked = test_mse(t, &m, &test, true, &masked_abs);
    double base_mse, base_bce;
    example_mean_image_baseline(&train, &test, &base_mse, &base_bce);
    printf("test_mse=%.5f test_mse_masked=%.5f code_abs=%.4f baseline_mse=%.5f\n", mse, mse_masked, code_abs, base_mse);
    tg_optim_free(&opt), tg_batcher_free(&batches), tg_tape_free(t), tg_param_list_free(&m.params);
    tg_dense_free(&m.enc), tg_dense_free(&m.dec), tg_dataset_free(&train), tg_dataset_free(&test);
    /* the test: the loss fell, and both reconstructions beat the mean image by SYNTHETIC_FACTOR */
    return !strcmp(args.dir, "synthetic") && (!isfinite(mse) || (args.epochs >= 2 && !(last < first)) ||
                                              !(mse < SYNTHETIC_FACTOR * base_mse) ||
                                              !(mse_masked < SYNTHETIC_FACTOR * base_mse));
}
