/* tests/reference/problem.h — the small fixed problem of the reference trajectories (issue 25).
 *
 * Shared by tests/reference/dump_problem.c (which prints the problem for make_reference.py) and
 * tests/test_reference.c (which replays it and compares with the committed float64 results), so
 * both build the very same inputs, initial weights and steps:
 *
 *   data      the first 64 images of the synthetic set (split "train", seed 1) at 6x6 pixels,
 *             D = 36, as floats byte/255; their labels for the MLP
 *   batches   no shuffle: step s (from 1) takes images [(s-1)·B mod 64, +B), B divides 64
 *   CAE       hidden 6, initialized as `cae train` does (Glorot from stream 0x1417 of the
 *             variant's seed, zero biases); each step as cae_train's train_step: set the step,
 *             cae_build (all terms), backward, optimizer step
 *   MLP       36 -> hidden widths -> 10 logits, built from Dense layers and tg_softmax_xent
 *             as mlp_model.c does (He normal for relu-like activations, else Glorot; Glorot
 *             for the output layer), from stream 0x1417 of the variant's seed
 *
 * At 6x6 the Gram route (tg_affine_mse_gram_pays) is taken at batch 64 with hidden 6 and not at
 * batch 16, so the batch chooses the decoder's route for linear/mse variants. */
#ifndef TG_REFERENCE_PROBLEM_H
#define TG_REFERENCE_PROBLEM_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cae_model.h"
#include "nn/dense.h"
#include "nn/io/data.h"
#include "nn/optim.h"

enum { REF_IMAGES = 64, REF_SIDE = 6, REF_D = REF_SIDE * REF_SIDE, REF_HIDDEN = 6, REF_CLASSES = 10, REF_STEPS = 30 };
#define REF_DATA_SEED 1
#define REF_INIT_STREAM 0x1417 /* cae_train's initialization stream */
#define REF_MAX_LAYERS 4

typedef enum { REF_CAE, REF_MLP } ref_model_kind;

typedef struct ref_variant {
    const char *name;
    ref_model_kind model;
    const char *activation; /* tg_activation_parse's text */
    /* CAE */
    bool sigmoid_decoder, bce, tied;
    double lambda, gamma, sigma;
    size_t corruptions;
    /* MLP: hidden widths, 0-terminated */
    size_t layers[REF_MAX_LAYERS];
    /* training */
    size_t batch;
    tg_opt_kind opt;
    float lr, momentum;
    bool nesterov;
    uint64_t seed;
} ref_variant;

#define CAE_ADAM(act) .model = REF_CAE, .activation = act, .opt = TG_OPT_ADAM, .lr = 1e-2f
#define CAE_SGDM(act) .model = REF_CAE, .activation = act, .opt = TG_OPT_SGD, .lr = 0.1f, .momentum = 0.9f

/* λ 0.1 (MSE) and 1 (BCE, whose reconstruction is a sum over 36 pixels): the penalty's share of the
 * gradient is then a tenth to a third, so a wrong penalty moves the weights by far more than 1e-5. */
static const ref_variant ref_variants[] = {
    {"cae_sigmoid_linear_mse_adam", CAE_ADAM("sigmoid"), .lambda = 0.1, .batch = 16, .seed = 1},
    {"cae_tanh_linear_mse_adam", CAE_ADAM("tanh"), .lambda = 0.1, .batch = 16, .seed = 2},
    {"cae_relu_linear_mse_adam", CAE_ADAM("relu"), .lambda = 0.1, .batch = 16, .seed = 3},
    {"cae_softplus_linear_mse_adam", CAE_ADAM("softplus"), .lambda = 0.1, .batch = 16, .seed = 4},
    {"cae_leaky_relu_linear_mse_adam", CAE_ADAM("leaky_relu:0.1"), .lambda = 0.1, .batch = 16, .seed = 5},
    {"cae_elu_linear_mse_sgdm", CAE_SGDM("elu"), .lambda = 0.1, .batch = 16, .seed = 6},
    {"cae_sigmoid_linear_mse_sgd", .model = REF_CAE, .activation = "sigmoid", .opt = TG_OPT_SGD, .lr = 0.5f,
     .lambda = 0.1, .batch = 16, .seed = 7},
    {"cae_sigmoid_sigmoid_mse_sgdm", CAE_SGDM("sigmoid"), .sigmoid_decoder = true, .lambda = 0.1, .batch = 16,
     .seed = 8},
    {"cae_sigmoid_sigmoid_bce_adam", CAE_ADAM("sigmoid"), .sigmoid_decoder = true, .bce = true, .lambda = 1,
     .batch = 16, .seed = 9},
    {"cae_tanh_sigmoid_bce_sgdm", .model = REF_CAE, .activation = "tanh", .opt = TG_OPT_SGD, .lr = 0.01f,
     .momentum = 0.9f, .sigmoid_decoder = true, .bce = true, .lambda = 1, .batch = 16, .seed = 10},
    {"cae_elu_sigmoid_bce_adam", CAE_ADAM("elu:0.5"), .sigmoid_decoder = true, .bce = true, .lambda = 1,
     .batch = 16, .seed = 11},
    {"cae_relu_sigmoid_bce_tied_adam", CAE_ADAM("relu"), .sigmoid_decoder = true, .bce = true, .tied = true,
     .lambda = 1, .batch = 16, .seed = 12},
    {"cae_sigmoid_linear_mse_tied_sgdm", CAE_SGDM("sigmoid"), .tied = true, .lambda = 0.1, .batch = 16,
     .seed = 13},
    {"cae_softplus_sigmoid_mse_tied_adam", CAE_ADAM("softplus"), .sigmoid_decoder = true, .tied = true,
     .lambda = 0.1, .batch = 16, .seed = 14},
    {"cae_softplus_linear_mse_nesterov", CAE_SGDM("softplus"), .nesterov = true, .lambda = 0.1, .batch = 16,
     .seed = 15},
    /* CAE+H: the corruptions of each step come from cae_corrupt (dumped for the script) */
    {"caeh_sigmoid_linear_mse_adam", CAE_ADAM("sigmoid"), .lambda = 0.1, .gamma = 0.5, .corruptions = 2,
     .sigma = 0.3, .batch = 16, .seed = 16},
    {"caeh_tanh_sigmoid_bce_tied_sgdm", .model = REF_CAE, .activation = "tanh", .opt = TG_OPT_SGD, .lr = 0.01f,
     .momentum = 0.9f, .sigmoid_decoder = true, .bce = true, .tied = true, .lambda = 1, .gamma = 1,
     .corruptions = 3, .sigma = 0.2, .batch = 16, .seed = 17},
    /* batch 64: the decoder and its loss go through tg_affine_mse_gram */
    {"cae_gram_sigmoid_linear_mse_adam", CAE_ADAM("sigmoid"), .lambda = 0.1, .batch = 64, .seed = 18},
    {"cae_gram_tanh_linear_mse_tied_sgdm", CAE_SGDM("tanh"), .tied = true, .lambda = 0.1, .batch = 64,
     .seed = 19},
    {"caeh_gram_softplus_linear_mse_adam", CAE_ADAM("softplus"), .lambda = 0.1, .gamma = 0.5, .corruptions = 1,
     .sigma = 0.3, .batch = 64, .seed = 20},
    /* the MLP classifier */
    {"mlp_relu_adam", .model = REF_MLP, .activation = "relu", .layers = {8}, .opt = TG_OPT_ADAM, .lr = 1e-2f,
     .batch = 16, .seed = 21},
    {"mlp_tanh_sgdm", .model = REF_MLP, .activation = "tanh", .layers = {8}, .opt = TG_OPT_SGD, .lr = 0.1f,
     .momentum = 0.9f, .batch = 16, .seed = 22},
    {"mlp_sigmoid_2layers_adam", .model = REF_MLP, .activation = "sigmoid", .layers = {8, 8}, .opt = TG_OPT_ADAM,
     .lr = 1e-2f, .batch = 16, .seed = 23},
    {"mlp_elu_sgd", .model = REF_MLP, .activation = "elu", .layers = {8}, .opt = TG_OPT_SGD, .lr = 0.2f,
     .batch = 32, .seed = 24},
};
#undef CAE_ADAM
#undef CAE_SGDM
enum { REF_N_VARIANTS = sizeof ref_variants / sizeof ref_variants[0] };

/* The model of one variant: a CAE, or an MLP's Dense layers. */
typedef struct ref_model {
    const ref_variant *v;
    cae_model cae;
    tg_dense dense[REF_MAX_LAYERS + 1];
    int n_dense;
    tg_activation act;
    tg_param *params[2 * (REF_MAX_LAYERS + 1)];
    int n_params;
} ref_model;

/* The 64 images [64,D] and their labels. */
typedef struct ref_data {
    float x[REF_IMAGES * REF_D];
    int32_t labels[REF_IMAGES];
} ref_data;

static inline int ref_data_load(ref_data *d, tg_error *err)
{
    tg_dataset ds;
    int rc = tg_dataset_synthetic(&ds, "train", REF_IMAGES, REF_SIDE, REF_SIDE, REF_DATA_SEED, err);
    if (rc)
        return rc;
    tg_dataset_images_to_float(&ds, NULL, REF_IMAGES, d->x);
    for (size_t i = 0; i < REF_IMAGES; i++)
        d->labels[i] = ds.labels[i];
    tg_dataset_free(&ds);
    return TG_OK;
}

static inline cae_config ref_cae_config(const ref_variant *v, tg_activation act)
{
    cae_config cfg = cae_config_default();
    cfg.input = REF_D;
    cfg.hidden = REF_HIDDEN;
    cfg.lambda = v->lambda;
    cfg.act = act;
    cfg.sigmoid_decoder = v->sigmoid_decoder;
    cfg.loss = v->bce ? CAE_LOSS_BCE : CAE_LOSS_MSE;
    cfg.tied = v->tied;
    cfg.gamma = v->gamma;
    if (v->gamma > 0) {
        cfg.corruptions = v->corruptions;
        cfg.sigma = v->sigma;
    }
    cfg.noise_seed = v->seed;
    return cfg;
}

static inline int ref_model_init(ref_model *m, const ref_variant *v, tg_error *err)
{
    memset(m, 0, sizeof *m);
    m->v = v;
    if (tg_activation_parse(v->activation, &m->act) != 0)
        return tg_error_set(err, TG_ERR_ARG, "%s: bad activation %s", v->name, v->activation);
    tg_rng rng;
    tg_rng_seed(&rng, v->seed, REF_INIT_STREAM);
    int rc;
    if (v->model == REF_CAE) {
        cae_config cfg = ref_cae_config(v, m->act);
        if ((rc = cae_model_init(&m->cae, &cfg, &rng, err)))
            return rc;
        m->n_params = m->cae.n_params;
        memcpy(m->params, m->cae.params, (size_t)m->n_params * sizeof m->params[0]);
        return TG_OK;
    }
    tg_activation_kind k = m->act.kind;
    bool relu_like = k == TG_ACT_RELU || k == TG_ACT_LEAKY_RELU || k == TG_ACT_ELU;
    size_t in = REF_D;
    for (int l = 0; l <= REF_MAX_LAYERS; l++) {
        bool output = l == REF_MAX_LAYERS || v->layers[l] == 0;
        size_t out = output ? REF_CLASSES : v->layers[l];
        char name[16];
        snprintf(name, sizeof name, "layer%d", l);
        tg_init_kind init = output || !relu_like ? TG_INIT_GLOROT_UNIFORM : TG_INIT_HE_NORMAL;
        if ((rc = tg_dense_init(&m->dense[l], name, in, out, init, &rng, err)))
            return rc;
        m->n_dense = l + 1;
        m->n_params += tg_dense_params(&m->dense[l], &m->params[m->n_params]);
        in = out;
        if (output)
            break;
    }
    return TG_OK;
}

static inline void ref_model_free(ref_model *m)
{
    if (m->v && m->v->model == REF_CAE)
        cae_model_free(&m->cae);
    for (int l = 0; l < m->n_dense; l++)
        tg_dense_free(&m->dense[l]);
    memset(m, 0, sizeof *m);
}

/* The first image of step `step`'s batch (steps from 1). */
static inline size_t ref_batch_start(const ref_variant *v, long step)
{
    return (size_t)(step - 1) * v->batch % REF_IMAGES;
}

/* Builds the loss of step `step` on the reset tape (with gradients) and runs the backward; the
 * gradients are added to the params' (zero them first).  *loss: its value. */
static inline int ref_forward_backward(ref_model *m, tg_tape *tape, const ref_data *d, long step, float *loss,
                                tg_error *err)
{
    const ref_variant *v = m->v;
    const size_t first = ref_batch_start(v, step);
    tg_tape_reset(tape);
    tg_node *x = tg_input_new(tape, 2, (size_t[]){v->batch, REF_D}); /* [B,D] */
    if (x)
        memcpy(x->value.data, d->x + first * REF_D, v->batch * REF_D * sizeof(float));
    tg_node *l;
    if (v->model == REF_CAE) {
        cae_model_set_step(&m->cae, (uint64_t)step);
        cae_graph g;
        cae_build(tape, &m->cae, x, CAE_TERMS_ALL, &g);
        l = g.loss;
    } else {
        tg_node *h = x;
        for (int k = 0; k + 1 < m->n_dense; k++)
            h = tg_activate(tape, tg_dense_forward(tape, &m->dense[k], h), m->act);
        l = tg_softmax_xent(tape, tg_dense_forward(tape, &m->dense[m->n_dense - 1], h), d->labels + first);
    }
    int rc = tg_tape_get_error(tape, err);
    if (rc)
        return rc;
    *loss = l->value.data[0];
    return tg_backward(tape, l, err);
}

static inline tg_opt_config ref_opt_config(const ref_variant *v)
{
    tg_opt_config c = tg_opt_config_default(v->opt);
    c.lr = v->lr;
    c.momentum = v->momentum;
    c.nesterov = v->nesterov;
    return c;
}

/* The variant's settings on one line (the script reads them; the reference file repeats them, so
 * the test can tell a stale reference from a wrong result).  Float settings as the float values
 * the library uses, to 9 digits. */
static inline void ref_config_line(const ref_variant *v, char *buf, size_t cap)
{
    tg_activation act;
    tg_activation_parse(v->activation, &act);
    tg_opt_config o = ref_opt_config(v);
    int n = snprintf(buf, cap, "model=%s activation=%s act_param=%.9g batch=%zu steps=%d optimizer=%s lr=%.9g "
                     "momentum=%.9g nesterov=%d beta1=%.9g beta2=%.9g eps=%.9g",
                     v->model == REF_CAE ? "cae" : "mlp", tg_activation_name(act.kind), (double)act.param, v->batch,
                     REF_STEPS, tg_opt_kind_name(o.kind), (double)o.lr, (double)o.momentum, o.nesterov ? 1 : 0,
                     (double)o.beta1, (double)o.beta2, (double)o.eps);
    if (v->model == REF_CAE)
        snprintf(buf + n, cap - (size_t)n, " hidden=%d decoder=%s loss=%s tied=%d lambda=%.9g gamma=%.9g "
                 "corruptions=%zu sigma=%.9g",
                 REF_HIDDEN, v->sigmoid_decoder ? "sigmoid" : "linear", v->bce ? "bce" : "mse", v->tied ? 1 : 0,
                 (double)(float)v->lambda, (double)(float)v->gamma, v->gamma > 0 ? v->corruptions : 0, v->sigma);
    else {
        n += snprintf(buf + n, cap - (size_t)n, " layers=");
        for (int l = 0; l < REF_MAX_LAYERS && v->layers[l]; l++)
            n += snprintf(buf + n, cap - (size_t)n, "%s%zu", l ? "," : "", v->layers[l]);
    }
}

#endif
