/* lenet.c — LeNet-5 on Fashion-MNIST (or any 28×28 IDX set, or the built-in synthetic one):
 *
 *   lenet [--data DIR|synthetic] [--epochs N] [--threads N] [--limit N] [--batch N] [--cosine] [--bench]
 *
 * x [B,784] -> [B,1,28,28] -> conv 1→6 5×5 pad 2, relu, max-pool 2 -> [B,6,14,14]
 *   -> conv 6→16 5×5, relu, max-pool 2 -> [B,16,5,5] -> [B,400] -> dense 120 relu, 84 relu, 10,
 * softmax cross-entropy, Adam 1e-3, batch 64: ../shared/peers/torch_lenet.py's network and training
 * (--cosine: the rate down a cosine to 0 over the run instead, which ends higher: docs/tutorial.md).
 * Trained by tg_fit (nn/fit.h), which prints `epoch=… loss=… test_acc=… seconds=…` per epoch
 * (seconds: the training alone); then a final `test_acc=…`.  --bench trains without evaluating and prints
 * `lenet batch=… threads=… best_epoch_s=… samples_per_s=…` (the fastest epoch).
 * As a test it trains two epochs of the synthetic set and must reach 90%. */
#include <stdlib.h>

#include "autograd/ops.h"
#include "nn/conv.h"
#include "nn/fit.h"
#include "nn/sequential.h"
#include "tensor/parallel.h"

#include "example_data.h"

typedef struct lenet {
    tg_conv2d_layer c1, c2;
    tg_sequential head;   /* 400 -> 120 -> 84 -> 10 */
    tg_param_list params; /* c1.*, c2.*, head.* */
} lenet;

static int init(lenet *m, tg_error *err)
{
    tg_rng rng;
    tg_rng_seed(&rng, 1, 0);
    tg_param_list_init(&m->params);
    tg_param *p[2];
    int rc = tg_conv2d_layer_init(&m->c1, "c1", 1, 6, 5, 1, 2, TG_INIT_HE_UNIFORM, &rng, err) ||
             tg_conv2d_layer_init(&m->c2, "c2", 6, 16, 5, 1, 0, TG_INIT_HE_UNIFORM, &rng, err) ||
             tg_seq_build(&m->head, "head", 400, "dense:120 relu dense:84 relu dense:10", 2, err);
    for (int k = 0; k < 2 && !rc; k++) {
        tg_conv2d_layer_params(k ? &m->c2 : &m->c1, p);
        rc = tg_param_list_add(&m->params, p[0], err) || tg_param_list_add(&m->params, p[1], err);
    }
    for (int i = 0; i < m->head.params.count && !rc; i++)
        rc = tg_param_list_add(&m->params, m->head.params.items[i], err);
    return rc ? TG_ERR_ARG : TG_OK;
}

static void release(lenet *m)
{
    tg_conv2d_layer_free(&m->c1), tg_conv2d_layer_free(&m->c2), tg_seq_free(&m->head);
    tg_param_list_free(&m->params);
}

/* Logits [B,10] of images x [B,784]. */
static tg_node *forward(tg_tape *t, void *self, tg_node *x, uint64_t step)
{
    lenet *m = self;
    size_t B = x ? x->value.shape[0] : 0;
    tg_node *h = tg_reshape(t, x, 4, (size_t[]){B, 1, 28, 28});
    h = tg_max_pool2d(t, tg_relu(t, tg_conv2d_layer_forward(t, &m->c1, h)), 2, 0, 0); // [B,6,14,14]
    h = tg_max_pool2d(t, tg_relu(t, tg_conv2d_layer_forward(t, &m->c2, h)), 2, 0, 0); // [B,16,5,5]
    return tg_seq_forward(t, &m->head, tg_reshape(t, h, 2, (size_t[]){B, 400}), step); // [B,10]
}

typedef struct options {
    example_args data;
    long threads, batch;
    bool bench, cosine;
} options;

static bool parse(int argc, char **argv, options *o)
{
    *o = (options){{"synthetic", 2, 0}, 0, 64, false, false};
    for (int k = 1; k < argc; k++) {
        const char *v = k + 1 < argc ? argv[k + 1] : NULL;
        bool ok = true;
        if (!strcmp(argv[k], "--bench"))
            o->bench = true;
        else if (!strcmp(argv[k], "--cosine"))
            o->cosine = true;
        else if (v && !strcmp(argv[k], "--data"))
            o->data.dir = v, k++;
        else if (v && !strcmp(argv[k], "--epochs"))
            ok = example_whole("lenet", argv[k], v, 1, EXAMPLE_MAX_EPOCHS, &o->data.epochs), k++;
        else if (v && !strcmp(argv[k], "--limit"))
            ok = example_whole("lenet", argv[k], v, 1, LONG_MAX, &o->data.limit), k++;
        else if (v && !strcmp(argv[k], "--threads"))
            ok = example_whole("lenet", argv[k], v, 1, TG_MAX_THREADS, &o->threads), k++;
        else if (v && !strcmp(argv[k], "--batch"))
            ok = example_whole("lenet", argv[k], v, 1, 65536, &o->batch), k++;
        else
            return fprintf(stderr, "usage: lenet [--data DIR|synthetic] [--epochs N] [--threads N] [--limit N] "
                                   "[--batch N] [--cosine] [--bench]\n"),
                   false;
        if (!ok)
            return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    options opt;
    lenet m;
    tg_dataset train, test;
    tg_error err;
    tg_fit_result res;
    if (!parse(argc, argv, &opt))
        return 2;
    if (opt.threads > 0)
        tg_set_threads((int)opt.threads);
    tg_fit_config cfg = tg_fit_defaults(); /* Adam 1e-3, shuffled batches from seed 1 */
    cfg.epochs = opt.data.epochs, cfg.batch = (size_t)opt.batch, cfg.test = opt.bench ? NULL : &test;
    if (opt.cosine) /* the rate from 1e-3 down a cosine to 0 over the run (the default is constant: the peer's) */
        cfg.schedule.kind = TG_SCHED_COSINE;
    tg_model model = {.self = &m, .forward = forward, .params = &m.params};
    if (example_load(&opt.data, true, &train, &test, &err))
        return example_bad_data("lenet", &err);
    if (train.rows != 28 || train.cols != 28) {
        fprintf(stderr, "lenet: %s: images are %zux%zu, LeNet-5 here takes 28x28\n", opt.data.dir, train.rows,
                train.cols);
        tg_dataset_free(&train), tg_dataset_free(&test);
        return 2;
    }
    if (init(&m, &err))
        return example_fail("lenet", &err);
    if (tg_fit(model, &train, &cfg, &res, &err))
        return example_fail("lenet", &err);
    if (opt.bench)
        printf("lenet batch=%ld threads=%d best_epoch_s=%.3f samples_per_s=%.0f\n", opt.batch, tg_get_threads(),
               res.best_epoch_s, (double)train.n / res.best_epoch_s);
    else
        printf("test_acc=%.4f\n", res.test_acc);
    release(&m), tg_dataset_free(&train), tg_dataset_free(&test);
    return !opt.bench && !strcmp(opt.data.dir, "synthetic") && res.test_acc < 0.9 ? 1 : 0;
}
