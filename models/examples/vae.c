/* vae.c — a variational autoencoder on the images (Fashion-MNIST, or any IDX set):
 *
 *   vae [--data DIR|synthetic] [--epochs N] [--limit N]
 *
 * Encoder x [B,784] -> Dense 256, relu -> Dense 2·Z, whose columns are split with tg_slice into
 * μ [B,Z] and log σ² [B,Z] (one layer, two heads).  The reparameterisation trick keeps the sample
 * differentiable: z = μ + σ⊙ε with σ = exp(½·log σ²) and ε ~ N(0,1) an input node filled from the
 * seed (the noise is data; the gradient flows through μ and σ).  Decoder z -> Dense 256, relu ->
 * Dense 784: logits of each pixel's Bernoulli.  The loss is the negative ELBO per image:
 *
 *   loss = Σ_pixels BCE(σ(logits), x)  +  KL(q(z|x) ‖ N(0,1)),
 *   KL   = −½ Σ_j (1 + log σ²_j − μ_j² − σ²_j)                      (both averaged over the batch)
 *
 * The KL is plain tape ops: tg_square, tg_exp, tg_sub, tg_add_scalar for the "1 +", tg_sum and
 * tg_scale for −½/B.  Prints `epoch=… loss=… kl=…` per epoch and `test_elbo=…` (the negative loss on
 * the test set, one draw of ε per image; higher is better).  As a test it runs two epochs of the
 * synthetic set and fails unless the loss fell and test_elbo beats baseline_elbo, the mean
 * image's (a decoder that ignores its code), by SYNTHETIC_MARGIN. */
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

enum { HIDDEN = 256, Z = 16, BATCH = 128 };
#define SYNTHETIC_MARGIN 10.0 /* nats: half of what two synthetic epochs gain over the baseline (18.3) */

typedef struct vae {
    tg_dense enc, head, dec, out; /* head: [HIDDEN, 2·Z], μ in columns 0..Z-1, log σ² in Z..2Z-1 */
    tg_param_list params;
} vae;

static int init(vae *m, size_t pixels, tg_error *err)
{
    tg_rng rng;
    tg_rng_seed(&rng, 1, 0);
    tg_param_list_init(&m->params);
    return tg_dense_init(&m->enc, "enc", pixels, HIDDEN, TG_INIT_HE_NORMAL, &rng, err) ||
           tg_dense_init(&m->head, "head", HIDDEN, 2 * Z, TG_INIT_GLOROT_UNIFORM, &rng, err) ||
           tg_dense_init(&m->dec, "dec", Z, HIDDEN, TG_INIT_HE_NORMAL, &rng, err) ||
           tg_dense_init(&m->out, "out", HIDDEN, pixels, TG_INIT_GLOROT_UNIFORM, &rng, err) ||
           tg_param_list_add_dense(&m->params, &m->enc, err) || tg_param_list_add_dense(&m->params, &m->head, err) ||
           tg_param_list_add_dense(&m->params, &m->dec, err) || tg_param_list_add_dense(&m->params, &m->out, err);
}

/* The loss node [1] of the images x [n,784], with ε drawn from rng; *kl gets the KL term. */
static tg_node *forward(tg_tape *t, vae *m, tg_node *x, tg_rng *rng, tg_node **kl)
{
    size_t n = x ? x->value.shape[0] : 1;
    tg_node *h = tg_relu(t, tg_dense_forward(t, &m->enc, x));                         // [n,256]
    tg_node *stats = tg_dense_forward(t, &m->head, h);                                // [n,2Z]
    tg_node *mu = tg_slice(t, stats, 1, 0, Z), *logvar = tg_slice(t, stats, 1, Z, Z); // [n,Z] each
    tg_node *eps = tg_input_new(t, 2, (size_t[]){n, Z});
    if (eps)
        tg_rng_fill_normal(rng, eps->value.data, n * Z, 0.0f, 1.0f);
    tg_node *sigma = tg_exp(t, tg_scale(t, logvar, 0.5f));
    tg_node *z = tg_add(t, mu, tg_mul(t, sigma, eps));                                // reparameterised
    tg_node *logits = tg_dense_forward(t, &m->out, tg_relu(t, tg_dense_forward(t, &m->dec, z)));
    tg_node *rec = tg_bce_logits(t, logits, x, TG_REDUCE_ROW_SUM); /* Σ pixels, mean over images */
    tg_node *inner = tg_add_scalar(t, tg_sub(t, tg_sub(t, logvar, tg_square(t, mu)), tg_exp(t, logvar)), 1.0f);
    *kl = tg_scale(t, tg_sum(t, inner), -0.5f / (float)n);
    return tg_add(t, rec, *kl);
}

/* The mean loss over the test set (no gradients), ε from a fixed seed. */
static double test_loss(tg_tape *t, vae *m, const tg_dataset *test)
{
    uint32_t idx[EXAMPLE_TEST_BATCH];
    double sum = 0.0;
    tg_rng rng;
    tg_rng_seed(&rng, 7, 1);
    tg_tape_set_grad_enabled(t, false);
    for (size_t start = 0; start < test->n; start += EXAMPLE_TEST_BATCH) {
        size_t n = tg_batch_in_order(test, start, EXAMPLE_TEST_BATCH, idx);
        tg_tape_reset(t);
        tg_node *kl, *loss = forward(t, m, tg_images_input(t, test, idx, n), &rng, &kl);
        sum += loss ? loss->value.data[0] * (double)n : NAN;
    }
    tg_tape_set_grad_enabled(t, true);
    return sum / (double)test->n;
}

int main(int argc, char **argv)
{
    example_args args;
    if (!example_parse(argc, argv, "vae", NULL, NULL, &args))
        return 2;
    tg_error err;
    tg_dataset train, test;
    if (example_load(&args, false, &train, &test, &err))
        return example_bad_data("vae", &err);
    vae m;
    tg_optimizer opt;
    tg_batcher batches;
    tg_tape *t = tg_tape_new(&err);
    tg_opt_config cfg = tg_opt_config_default(TG_OPT_ADAM);
    if (!t || init(&m, train.rows * train.cols, &err) ||
        tg_optim_init(&opt, &cfg, m.params.items, m.params.count, &err) ||
        tg_batcher_init(&batches, &train, BATCH, 0, true, 1, &err))
        return example_fail("vae", &err);
    tg_rng noise;
    tg_rng_seed(&noise, 1, 2); /* ε of the training steps */
    double first = NAN, last = NAN;
    const uint32_t *idx;
    size_t n;
    for (long epoch = 1; epoch <= args.epochs; epoch++) {
        tg_batcher_seek(&batches, (uint64_t)epoch, 0);
        double loss_sum = 0.0, kl_sum = 0.0;
        while ((n = tg_batcher_next(&batches, &idx)) > 0) {
            tg_tape_reset(t);
            tg_node *kl, *loss = forward(t, &m, tg_images_input(t, &train, idx, n), &noise, &kl);
            if (tg_backward(t, loss, &err) || tg_optim_step_zero_grad(&opt, &err))
                return example_fail("vae", &err);
            loss_sum += loss->value.data[0] * (double)n, kl_sum += kl->value.data[0] * (double)n;
        }
        last = loss_sum / (double)train.n;
        first = epoch == 1 ? last : first;
        printf("epoch=%ld loss=%.4f kl=%.4f\n", epoch, last, kl_sum / (double)train.n);
    }
    double elbo = -test_loss(t, &m, &test), base_mse, base_bce;
    example_mean_image_baseline(&train, &test, &base_mse, &base_bce);
    printf("test_elbo=%.4f baseline_elbo=%.4f\n", elbo, -base_bce);
    tg_optim_free(&opt), tg_batcher_free(&batches), tg_tape_free(t), tg_param_list_free(&m.params);
    tg_dense_free(&m.enc), tg_dense_free(&m.head), tg_dense_free(&m.dec), tg_dense_free(&m.out);
    tg_dataset_free(&train), tg_dataset_free(&test);
    /* the test: the loss fell, and the ELBO beats the mean image's by a margin of SYNTHETIC_MARGIN */
    return !strcmp(args.dir, "synthetic") &&
           (!isfinite(elbo) || (args.epochs >= 2 && !(last < first)) || !(elbo > -base_bce + SYNTHETIC_MARGIN));
}
