/* tests/test_fit.c — the sequential model (nn/sequential.h) and the training loop (nn/fit.h):
 * the layer text's parser and names, the forward against the same layers called by hand, tg_fit
 * against the hand-written loop it stands for (same bits), validation keeping the best epoch's
 * weights, early stopping, and the refusals. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "autograd/ops.h"
#include "nn/fit.h"
#include "nn/sequential.h"

static tg_dataset train, test;

static void setup(void)
{
    tg_error err;
    cr_assert_eq(tg_dataset_synthetic(&train, "train", 1024, 28, 28, 1, &err), TG_OK);
    cr_assert_eq(tg_dataset_synthetic(&test, "t10k", 512, 28, 28, 1, &err), TG_OK);
}

static void teardown(void)
{
    tg_dataset_free(&train);
    tg_dataset_free(&test);
}

TestSuite(fit, .init = setup, .fini = teardown);

static tg_fit_config quiet_config(long epochs)
{
    tg_fit_config cfg = tg_fit_defaults();
    cfg.epochs = epochs, cfg.log = NULL;
    return cfg;
}

Test(fit, builds_layers_named_by_position)
{
    tg_sequential s;
    tg_error err;
    cr_assert_eq(tg_seq_build(&s, NULL, 784, "dense:32 relu, dropout:0.25 layer_norm dense:10:nobias", 1, &err), TG_OK,
                 "%s", err.msg);
    cr_assert_eq(s.count, 5);
    cr_assert_eq(s.width, 10);
    const char *names[] = {"0.weight", "0.bias", "3.weight", "3.bias", "4.weight"};
    cr_assert_eq(s.params.count, 5);
    for (int k = 0; k < 5; k++)
        cr_assert_str_eq(s.params.items[k]->name, names[k]);
    cr_assert_eq(s.layers[1].act.kind, TG_ACT_RELU);
    cr_assert_float_eq(s.layers[2].rate, 0.25f, 0.0f);
    cr_assert_eq(s.params.items[2]->value.data[7], 1.0f, "layer norm's gamma starts at 1");
    cr_assert_eq(s.params.items[3]->value.data[7], 0.0f, "and beta at 0");
    tg_seq_free(&s);
    cr_assert_eq(tg_seq_build(&s, "block2", 8, "layer_norm dense:4", 1, &err), TG_OK);
    cr_assert_str_eq(s.params.items[0]->name, "block2.0.weight");
    cr_assert_str_eq(s.params.items[3]->name, "block2.1.bias");
    tg_seq_free(&s);
}

Test(fit, refuses_bad_layer_words_naming_them)
{
    const char *bad[] = {"dense:0", "dense:x", "dense:10:bias", "dropout:1", "dropout:-0.1", "dropout:", "conv:3", "",
                         "  ,  "};
    const char *named[] = {"dense:0", "dense:x", "dense:10:bias", "dropout:1", "dropout:-0.1", "dropout:", "conv:3",
                           "no layer", "no layer"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        tg_sequential s;
        tg_error err = {0};
        cr_assert_eq(tg_seq_build(&s, NULL, 8, bad[k], 1, &err), TG_ERR_ARG, "\"%s\" was accepted", bad[k]);
        cr_assert(strstr(err.msg, named[k]), "\"%s\": the message \"%s\" does not say \"%s\"", bad[k], err.msg, named[k]);
        cr_assert_eq(s.count, 0);
        cr_assert_null(s.layers);
        tg_seq_free(&s); /* safe on the emptied model */
    }
}

/* The He-normal choice before relu, Glorot-uniform otherwise: Glorot's bound is sqrt(6/(in+out)). */
Test(fit, picks_the_initializer_from_the_next_layer)
{
    tg_sequential s;
    tg_error err;
    cr_assert_eq(tg_seq_build(&s, NULL, 100, "dense:100 relu dense:100 tanh", 1, &err), TG_OK);
    const float glorot = sqrtf(6.0f / 200.0f);
    float max_he = 0.0f, max_glorot = 0.0f;
    for (size_t i = 0; i < 10000; i++) {
        max_he = fmaxf(max_he, fabsf(s.params.items[0]->value.data[i]));
        max_glorot = fmaxf(max_glorot, fabsf(s.params.items[2]->value.data[i]));
    }
    cr_assert_gt(max_he, glorot * 1.2f, "the layer before relu is not He-normal (max |w| %g)", max_he);
    cr_assert_leq(max_glorot, glorot, "the layer before tanh is not Glorot-uniform (max |w| %g)", max_glorot);
    tg_seq_free(&s);
}

Test(fit, forward_is_the_layers_called_by_hand)
{
    tg_sequential s;
    tg_error err;
    cr_assert_eq(tg_seq_build(&s, NULL, 784, "dense:16 tanh layer_norm dense:10", 7, &err), TG_OK);
    tg_tape *t = tg_tape_new(&err);
    tg_node *x = tg_input_new(t, 2, (size_t[]){5, 784});
    tg_dataset_images_to_float(&train, NULL, 5, x->value.data);
    tg_node *y = tg_seq_forward(t, &s, x, 3);
    tg_node *h = tg_tanh(t, tg_dense_forward(t, &s.layers[0].dense, x));
    h = tg_layer_norm(t, h, tg_param_leaf(t, &s.layers[2].gamma), tg_param_leaf(t, &s.layers[2].beta), 1e-5f);
    tg_node *want = tg_dense_forward(t, &s.layers[3].dense, h);
    cr_assert_eq(tg_tape_status(t), TG_OK);
    cr_assert_eq(y->value.size, 50);
    cr_assert(!memcmp(y->value.data, want->value.data, 50 * sizeof(float)));
    tg_tape_free(t);
    tg_seq_free(&s);
}

/* tg_fit's documented step, written out: batcher seeded by cfg.seed, epoch e seeks (e, 0),
 * xent of the gathered labels, Adam. */
static void train_by_hand(tg_sequential *s, size_t batch, uint64_t seed, long epochs)
{
    tg_error err;
    tg_tape *t = tg_tape_new(&err);
    tg_optimizer opt;
    tg_batcher b;
    tg_opt_config cfg = tg_opt_config_default(TG_OPT_ADAM);
    cr_assert_eq(tg_optim_init(&opt, &cfg, s->params.items, s->params.count, &err), TG_OK);
    cr_assert_eq(tg_batcher_init(&b, &train, batch, 0, true, seed, &err), TG_OK);
    const uint32_t *idx;
    size_t n;
    uint64_t step = 0;
    for (long e = 1; e <= epochs; e++) {
        tg_batcher_seek(&b, (uint64_t)e, 0);
        while ((n = tg_batcher_next(&b, &idx)) > 0) {
            tg_tape_reset(t);
            tg_node *x = tg_input_new(t, 2, (size_t[]){n, 784});
            tg_dataset_images_to_float(&train, idx, n, x->value.data);
            tg_node *loss = tg_softmax_xent_gather(t, tg_seq_forward(t, s, x, ++step), train.labels, idx);
            cr_assert_eq(tg_backward(t, loss, &err), TG_OK);
            cr_assert_eq(tg_optim_step_zero_grad(&opt, &err), TG_OK);
        }
    }
    tg_batcher_free(&b);
    tg_optim_free(&opt);
    tg_tape_free(t);
}

Test(fit, is_the_hand_written_loop_bit_for_bit)
{
    tg_sequential a, b;
    tg_error err;
    const char *spec = "dense:24 relu dropout:0.2 dense:10";
    cr_assert_eq(tg_seq_build(&a, NULL, 784, spec, 5, &err), TG_OK);
    cr_assert_eq(tg_seq_build(&b, NULL, 784, spec, 5, &err), TG_OK);
    tg_fit_config cfg = quiet_config(2);
    cfg.batch = 50, cfg.seed = 9;
    tg_fit_result r;
    cr_assert_eq(tg_fit(tg_seq_model(&a), &train, &cfg, &r, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(r.epochs, 2);
    train_by_hand(&b, 50, 9, 2);
    for (int k = 0; k < a.params.count; k++)
        cr_assert(!memcmp(a.params.items[k]->value.data, b.params.items[k]->value.data,
                          a.params.items[k]->value.size * sizeof(float)),
                  "%s differs from the hand-written loop's", a.params.items[k]->name);
    double acc;
    cr_assert_eq(tg_evaluate(tg_seq_model(&a), &test, &acc, &err), TG_OK);
    cr_assert_gt(acc, 0.6, "test accuracy %g after 2 epochs (chance: 0.1)", acc);
    tg_seq_free(&a);
    tg_seq_free(&b);
}

/* A model trained the wrong way from its second epoch on: while training (step > 0) the forward
 * negates the logits after the first epoch's steps, so the loss pushes the right class down and
 * the plain (eval) accuracy falls.  The best epoch is then the first. */
typedef struct sabotaged {
    tg_sequential net;
    uint64_t first_epoch_steps;
} sabotaged;

static tg_node *sabotaged_forward(tg_tape *t, void *self, tg_node *x, uint64_t step)
{
    sabotaged *m = self;
    tg_node *y = tg_seq_forward(t, &m->net, x, step);
    return step > m->first_epoch_steps ? tg_neg(t, y) : y;
}

Test(fit, keeps_the_best_epoch_and_stops_after_patience)
{
    sabotaged m;
    tg_error err;
    cr_assert_eq(tg_seq_build(&m.net, NULL, 784, "dense:24 relu dense:10", 2, &err), TG_OK);
    tg_fit_config cfg = quiet_config(6);
    cfg.valid = 200, cfg.patience = 2, cfg.batch = 32, cfg.test = &test;
    m.first_epoch_steps = (1024 - 200 + 31) / 32;
    tg_model model = {.self = &m, .forward = sabotaged_forward, .params = &m.net.params};
    tg_fit_result r;
    cr_assert_eq(tg_fit(model, &train, &cfg, &r, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(r.best_epoch, 1);
    cr_assert_eq(r.epochs, 3, "patience 2 after the best epoch 1 stops after epoch 3, not %ld", r.epochs);
    cr_assert_gt(r.valid_acc, 0.5);
    /* the same held-out images (the split is seeded by cfg.seed) score the kept weights the same */
    tg_dataset rest, held;
    cr_assert_eq(tg_dataset_split(&train, 0, 200, cfg.seed, &rest, &held, &err), TG_OK);
    double acc;
    cr_assert_eq(tg_evaluate(model, &held, &acc, &err), TG_OK);
    cr_assert_eq(acc, r.valid_acc, "the model holds weights scoring %g, the best epoch scored %g", acc, r.valid_acc);
    cr_assert_eq(tg_evaluate(model, &test, &acc, &err), TG_OK);
    cr_assert_eq(acc, r.test_acc, "result.test_acc %g is not the returned model's %g", r.test_acc, acc);
    tg_dataset_free(&rest);
    tg_dataset_free(&held);
    tg_seq_free(&m.net);
}

Test(fit, refuses_bad_settings_naming_them)
{
    tg_sequential s;
    tg_error err = {0};
    cr_assert_eq(tg_seq_build(&s, NULL, 784, "dense:10", 1, &err), TG_OK);
    tg_fit_config cfg = quiet_config(0);
    cr_assert_eq(tg_fit(tg_seq_model(&s), &train, &cfg, NULL, &err), TG_ERR_ARG);
    cr_assert(strstr(err.msg, "epochs"), "%s", err.msg);
    cfg = quiet_config(1), cfg.patience = 2;
    cr_assert_eq(tg_fit(tg_seq_model(&s), &train, &cfg, NULL, &err), TG_ERR_ARG);
    cr_assert(strstr(err.msg, "patience"), "%s", err.msg);
    cfg = quiet_config(1), cfg.valid = 1024;
    cr_assert_eq(tg_fit(tg_seq_model(&s), &train, &cfg, NULL, &err), TG_ERR_ARG);
    cr_assert(strstr(err.msg, "held-out"), "%s", err.msg);
    tg_dataset unlabelled = train;
    unlabelled.labels = NULL;
    cfg = quiet_config(1);
    cr_assert_eq(tg_fit(tg_seq_model(&s), &unlabelled, &cfg, NULL, &err), TG_ERR_ARG);
    cr_assert(strstr(err.msg, "labels"), "%s", err.msg);
    tg_sequential wrong; /* built for 100 inputs, given 784: the dense layer's shape error */
    cr_assert_eq(tg_seq_build(&wrong, NULL, 100, "dense:7", 1, &err), TG_OK);
    cr_assert_neq(tg_fit(tg_seq_model(&wrong), &train, &cfg, NULL, &err), TG_OK);
    tg_seq_free(&wrong);
    tg_seq_free(&s);
}
