/* nn/sequential.h — a stack of layers, each feeding the next, built from one line of text:
 *
 *     tg_sequential net;
 *     tg_seq_build(&net, NULL, 784, "dense:256 relu dropout:0.1 dense:10", 1, err);
 *     tg_node *logits = tg_seq_forward(t, &net, x, step);   // x [B,784] -> [B,10]
 *     tg_fit(tg_seq_model(&net), &train, &cfg, &result, err);  // nn/fit.h
 *
 * The layers, separated by spaces or commas:
 *   dense:N          Dense to N outputs (nn/dense.h); dense:N:nobias without the bias.  Weights
 *                    are He-normal when the next layer is relu, leaky_relu or elu, Glorot-uniform
 *                    otherwise, drawn in layer order from `seed`.
 *   relu, tanh, ...  any activation of tg_activation_parse ("leaky_relu:0.2", "elu:1")
 *   dropout:P        tg_dropout with rate P in [0,1); identity in the tape's eval mode
 *   layer_norm       tg_layer_norm over the last dimension, γ = 1, β = 0 at the start
 *
 * Parameters are named after the layer's position, as PyTorch's nn.Sequential names them:
 * "0.weight", "0.bias", "3.weight" ... (with a name: "block1.0.weight"); net.params lists them all for the optimizer and the
 * checkpoint helpers.  Nothing is hidden from the tape: tg_seq_forward records the layers' ops
 * one after the other, exactly what a hand-written forward would. */
#ifndef TG_NN_SEQUENTIAL_H
#define TG_NN_SEQUENTIAL_H

#include <stddef.h>
#include <stdint.h>

#include "autograd/ops.h"
#include "nn/dense.h"
#include "nn/fit.h"
#include "nn/params.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tg_seq_kind { TG_SEQ_DENSE, TG_SEQ_ACTIVATION, TG_SEQ_DROPOUT, TG_SEQ_LAYER_NORM } tg_seq_kind;

typedef struct tg_seq_layer {
    tg_seq_kind kind;
    tg_dense dense;          /* DENSE */
    tg_activation act;       /* ACTIVATION */
    float rate;              /* DROPOUT */
    tg_param gamma, beta;    /* LAYER_NORM: [width] */
} tg_seq_layer;

typedef struct tg_sequential {
    tg_seq_layer *layers; /* layers[0..count) in order */
    int count;
    size_t inputs, width; /* the first layer's input width; the last one's output width */
    char name[TG_PARAM_NAME_MAX / 2]; /* the parameters' prefix ("" for none) */
    tg_param_list params; /* every parameter, in layer order */
} tg_sequential;

/* Builds the layers of `spec` on inputs of width `inputs`; `name` (or NULL) prefixes the
 * parameters' names, so that several stacks can live in one model and one checkpoint.  TG_ERR_ARG naming the word for an
 * unknown layer, a bad number, a first layer that needs a width it does not have; TG_ERR_NOMEM.
 * On failure *s is empty (safe to free). */
int tg_seq_build(tg_sequential *s, const char *name, size_t inputs, const char *spec, uint64_t seed,
                 tg_error *err);
void tg_seq_free(tg_sequential *s);
/* The output [B,width] of x [B,inputs], recorded on the tape.  `step` seeds the dropout masks (a
 * fresh mask every step: pass the training step; any value in eval mode). */
tg_node *tg_seq_forward(tg_tape *t, void *s, tg_node *x, uint64_t step);
/* The network as a model for tg_fit / tg_evaluate. */
tg_model tg_seq_model(tg_sequential *s);

#ifdef __cplusplus
}
#endif

#endif
