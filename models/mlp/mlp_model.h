/* models/mlp/mlp_model.h — a multi-layer perceptron classifier built from Dense layers.
 *
 *   h_0 = x [B,D]
 *   h_k = act(h_{k-1} · W_k + b_k)        k = 1..H   (the hidden layers, widths from --layers)
 *   z   = h_H · W_out + b_out    [B,C]    (logits; softmax cross-entropy on integer labels)
 *
 * Layers are named layer0, layer1, ... in order, the output layer last, so a checkpoint holds
 * layer0.weight [D,h1], layer0.bias [h1], ..., layerH.weight [hH,C], layerH.bias [C]
 * (shared/spec/checkpoint.md), with metadata model=mlp, layers=h1,h2,..., activation, input,
 * classes. */
#ifndef MLP_MODEL_H
#define MLP_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "autograd/ops.h"
#include "autograd/tape.h"
#include "nn/io/checkpoint.h"
#include "nn/dense.h"
#include "tensor/rng.h"

#define MLP_MAX_HIDDEN 16     /* hidden layers at most */
#define MLP_MAX_WIDTH 65536   /* units per hidden layer at most */
#define MLP_MAX_LAYERS (MLP_MAX_HIDDEN + 1)

typedef struct mlp_config {
    size_t input;                  /* D: features per example (pixels) */
    size_t classes;                /* C: output units, >= 2 */
    int n_hidden;                  /* 1..MLP_MAX_HIDDEN */
    size_t hidden[MLP_MAX_HIDDEN]; /* widths, each 1..MLP_MAX_WIDTH */
    tg_activation act;             /* of every hidden layer */
} mlp_config;

typedef struct mlp_model {
    mlp_config cfg;
    int n_layers;                              /* n_hidden + 1 (the output layer) */
    tg_dense layers[MLP_MAX_LAYERS];
    tg_param *params[2 * MLP_MAX_LAYERS];      /* weight, bias of each layer, in order */
    int n_params;
} mlp_model;

/* Parses a comma-separated list of hidden widths ("256,128") into cfg->hidden / n_hidden.
 * Strict: only digits and single commas; every width 1..MLP_MAX_WIDTH; 1..MLP_MAX_HIDDEN
 * entries.  On failure cfg is unchanged and err says what is wrong with `text`. */
int mlp_parse_layers(const char *text, mlp_config *cfg, tg_error *err);
/* Writes the widths back as "256,128" (always NUL-terminated, truncated to fit). */
void mlp_format_layers(const mlp_config *cfg, char *buf, size_t len);

/* TG_ERR_ARG naming the field when a value is outside its range. */
/* The parameters of the model cfg describes (weights and biases), as a double: no overflow. */
double mlp_param_count(const mlp_config *cfg);
int mlp_config_check(const mlp_config *cfg, tg_error *err);

/* Creates the layers; hidden weights use He (normal) initialization when the activation is
 * relu, Glorot (uniform) otherwise, and the output layer, whose logits are not followed by an
 * activation, Glorot.  Biases start at zero.  On failure *m is left empty (safe to free). */
int mlp_model_init(mlp_model *m, const mlp_config *cfg, tg_rng *rng, tg_error *err);
void mlp_model_free(mlp_model *m);

/* The logits [B,C] of the inputs x [B,D], recorded on the tape. */
tg_node *mlp_logits(tg_tape *t, mlp_model *m, tg_node *x);

/* Index of the largest of row[0..n) (the first one on ties): the predicted class. */
size_t mlp_argmax(const float *row, size_t n);

/* Puts the metadata and the weights into ck (tensors named after the layers). */
int mlp_model_to_checkpoint(const mlp_model *m, tg_checkpoint *ck, tg_error *err);
/* Builds the model a checkpoint describes and loads its weights.  TG_ERR_FORMAT naming `path`
 * when the file is not an mlp checkpoint, its metadata is missing or malformed, or a tensor is
 * missing or has the wrong shape.  On failure *m is left empty. */
int mlp_model_from_checkpoint(mlp_model *m, const tg_checkpoint *ck, const char *path, tg_error *err);
/* tg_ckpt_read + mlp_model_from_checkpoint. */
int mlp_model_load_file(mlp_model *m, const char *path, tg_error *err);

/* Pre-training (Rifai et al. 2011): the activation of the encoder a CAE checkpoint holds
 * (metadata model=cae, activation=...).  TG_ERR_FORMAT naming `path` when ck is not a CAE
 * checkpoint or its activation is unknown. */
int mlp_encoder_activation(const tg_checkpoint *ck, const char *path, tg_activation *act, tg_error *err);
/* Copies the CAE encoder's layers into hidden layers first, first+1, ... (*used of them): the
 * one-layer model's enc.weight [D,H] and enc.bias [H], or a deep encoder's enc0.*, enc1.*, ...
 * (layer<k>.weight [in,h], layer<k>.bias [h] have the same form z = x·W + b).  Checked first,
 * nothing changed on failure: ck is a CAE checkpoint (TG_ERR_FORMAT naming `path`), each
 * layer's inputs equal the model's (the data's pixels for layer 0), its units the width of
 * --layers there, and the encoder's activation the model's (TG_ERR_ARG naming the option, the
 * file and both values). */
int mlp_init_from_encoder(mlp_model *m, int first, const tg_checkpoint *ck, const char *path, int *used, tg_error *err);

#endif
