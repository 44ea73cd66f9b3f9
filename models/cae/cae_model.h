/* models/cae/cae_model.h — the contractive autoencoder, a client of tapegrad.
 *
 *   z = x·W + b          x [B,D], W [D,H] ("enc.weight"), b [H] ("enc.bias")
 *   h = f(z)             f: sigmoid | tanh | relu | softplus
 *   y = g(h·V + c)       V [H,D] ("dec.weight"; Wᵀ when tied), c [D] ("dec.bias"), g: linear | sigmoid
 *   L = R(x, y) + λ·P,   P = (1/B) Σ_b ‖J_h(x_b)‖_F² = (1/B) Σ_b Σ_j f'(z_bj)² Σ_i W_ij²
 *
 * R is the per-pixel mean squared error averaged over the batch (loss "mse", the seed's), or
 * binary cross-entropy summed over pixels and averaged over the batch (loss "bce", which needs
 * the sigmoid decoder and is computed from the logits, fused).  The penalty is the fused
 * tg_jacobian_penalty op; its gradient reaches W both through f'(z) and through Σ_i W_ij².
 * The step is built on the tape with public ops only. */
#ifndef CAE_MODEL_H
#define CAE_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include "autograd/ops.h"
#include "autograd/tape.h"
#include "nn/checkpoint.h"
#include "tensor/rng.h"

typedef enum cae_loss_kind { CAE_LOSS_MSE = 0, CAE_LOSS_BCE } cae_loss_kind;

typedef struct cae_config {
    size_t input;          /* D: pixels per image */
    size_t hidden;         /* H */
    double lambda;         /* weight of the contractive penalty */
    tg_activation act;     /* encoder activation */
    bool sigmoid_decoder;  /* false: linear decoder */
    cae_loss_kind loss;
    bool tied;             /* decoder weights are Wᵀ */
} cae_config;

/* The spec's defaults: 784 -> 64 sigmoid, linear decoder, mse, λ = 1e-4, untied. */
cae_config cae_config_default(void);
/* Checks the combination (e.g. bce needs the sigmoid decoder); message names the option. */
int cae_config_check(const cae_config *cfg, tg_error *err);

typedef struct cae_model {
    cae_config cfg;
    tg_param enc_w, enc_b, dec_w, dec_b; /* dec_w unused (empty) when tied */
    tg_param *params[4];                 /* the trainable ones, in checkpoint order */
    int n_params;
} cae_model;

/* Glorot-uniform weights (the Keras default the seed uses), zero biases, from `rng`. */
int cae_model_init(cae_model *m, const cae_config *cfg, tg_rng *rng, tg_error *err);
void cae_model_free(cae_model *m);

/* Nodes of one built step. */
typedef struct cae_graph {
    tg_node *h;       /* [B,H] hidden activations */
    tg_node *y;       /* [B,D] reconstruction (after the decoder activation) */
    tg_node *recon;   /* [1] reconstruction term R */
    tg_node *penalty; /* [1] P (not yet multiplied by λ) */
    tg_node *loss;    /* [1] R + λ·P */
} cae_graph;

/* Which loss terms to include (gradcheck checks them one by one). */
typedef enum cae_terms { CAE_TERMS_ALL = 0, CAE_TERMS_RECON, CAE_TERMS_PENALTY } cae_terms;

/* Builds the loss for the batch `x` [B,D] on the tape. On error the tape holds it (sticky) and
 * the return value is its code. */
int cae_build(tg_tape *tape, cae_model *m, tg_node *x, cae_terms terms, cae_graph *g);
/* Encoder only: h = f(x·W + b) (for evaluation, on a no-grad tape). */
tg_node *cae_encode(tg_tape *tape, cae_model *m, tg_node *x);

/* Checkpoints (shared/spec/checkpoint.md): metadata keys model=cae, input, hidden, activation,
 * decoder, loss, lambda, tied; tensors enc.weight, enc.bias, dec.weight (untied), dec.bias. */
int cae_model_to_checkpoint(const cae_model *m, tg_checkpoint *ck, tg_error *err);
/* Reads the config from a checkpoint's metadata (message names `path` and the key). */
int cae_config_from_checkpoint(const tg_checkpoint *ck, const char *path, cae_config *cfg, tg_error *err);
/* Creates the model described by the checkpoint and loads its weights. */
int cae_model_from_checkpoint(cae_model *m, const tg_checkpoint *ck, const char *path, tg_error *err);
/* Loads weights into an existing model; the checkpoint's shapes must match. */
int cae_model_load_weights(cae_model *m, const tg_checkpoint *ck, const char *path, tg_error *err);
int cae_model_load_file(cae_model *m, const char *path, tg_error *err);

#endif
