/* quickstart.c — a classifier in about 30 lines: 784 -> 64 (relu) -> 10 on the built-in
 * synthetic images, Adam, softmax cross-entropy, shuffled mini-batches.  docs/tutorial.md
 * walks through it.  Exit status 0 only when the test accuracy reaches 90%. */
#include <stdio.h>

#include "autograd/ops.h"
#include "nn/io/data.h"
#include "nn/dense.h"
#include "nn/optim.h"

static int fail(const tg_error *err)
{
    fprintf(stderr, "quickstart: %s\n", err->msg);
    return 1;
}

/* Logits [B,10] of the images idx[0..n) of `data`, with the labels copied to labels[0..n). */
static tg_node *forward(tg_tape *tape, tg_dense *l1, tg_dense *l2, const tg_dataset *data,
                        const uint32_t *idx, size_t n, int32_t *labels)
{
    tg_node *x = tg_input_new(tape, 2, (size_t[]){n, 784});          // [B,784], in the arena
    if (x)
        tg_dataset_images_to_float(data, idx, n, x->value.data);
    for (size_t i = 0; i < n; i++)
        labels[i] = data->labels[idx[i]];
    tg_node *h = tg_relu(tape, tg_dense_forward(tape, l1, x));      // [B,64]
    return tg_dense_forward(tape, l2, h);                           // [B,10]
}

int main(void)
{
    tg_error err;
    tg_dataset train, test;
    tg_rng rng;
    tg_rng_seed(&rng, 1, 0);
    tg_dense l1, l2;
    if (tg_dataset_synthetic(&train, "train", 2048, 28, 28, 1, &err) ||
        tg_dataset_synthetic(&test, "t10k", 512, 28, 28, 1, &err) ||
        tg_dense_init(&l1, "l1", 784, 64, TG_INIT_HE_NORMAL, &rng, &err) ||
        tg_dense_init(&l2, "l2", 64, 10, TG_INIT_GLOROT_UNIFORM, &rng, &err))
        return fail(&err);
    tg_param *params[4];
    tg_dense_params(&l1, params);
    tg_dense_params(&l2, params + 2);
    tg_opt_config cfg = tg_opt_config_default(TG_OPT_ADAM); // lr 1e-3
    tg_optimizer opt;
    tg_batcher batches;
    tg_tape *tape = tg_tape_new(&err);
    if (!tape || tg_optim_init(&opt, &cfg, params, 4, &err) ||
        tg_batcher_init(&batches, &train, 64, 0, true, 1, &err))
        return fail(&err);

    int32_t labels[512];
    const uint32_t *idx;
    size_t n;
    for (int epoch = 1; epoch <= 3; epoch++) {
        tg_batcher_seek(&batches, (uint64_t)epoch, 0); /* a new seeded shuffle per epoch */
        double loss_sum = 0;
        while ((n = tg_batcher_next(&batches, &idx)) > 0) {
            tg_tape_reset(tape);                   /* forget the last step, keep the memory */
            tg_node *loss = tg_softmax_xent(tape, forward(tape, &l1, &l2, &train, idx, n, labels), labels);
            tg_params_zero_grad(params, 4);
            if (tg_backward(tape, loss, &err) || tg_optim_step(&opt, &err))
                return fail(&err);
            loss_sum += loss->value.data[0] * (double)n;
        }
        printf("epoch=%d loss=%.4f\n", epoch, loss_sum / (double)train.n);
    }

    /* Test accuracy: one batch of all 512 test images, no gradients needed. */
    tg_tape_reset(tape);
    tg_tape_set_grad_enabled(tape, false);
    uint32_t all[512];
    for (uint32_t i = 0; i < 512; i++)
        all[i] = i;
    tg_node *logits = forward(tape, &l1, &l2, &test, all, 512, labels);
    if (tg_tape_get_error(tape, &err))
        return fail(&err);
    int right = 0;
    for (int i = 0; i < 512; i++) {
        const float *z = logits->value.data + i * 10;
        int best = 0;
        for (int c = 1; c < 10; c++)
            best = z[c] > z[best] ? c : best;
        right += best == labels[i];
    }
    printf("test_acc=%.4f\n", right / 512.0);

    tg_tape_free(tape);
    tg_batcher_free(&batches);
    tg_optim_free(&opt);
    tg_dense_free(&l1);
    tg_dense_free(&l2);
    tg_dataset_free(&train);
    tg_dataset_free(&test);
    return right >= 0.9 * 512 ? 0 : 1;
}
