/* models/cae/cae_model.h — the contractive autoencoder, a client of tapegrad.
 *
 *   z = x·W + b          x [B,D], W [D,H] ("enc.weight"), b [H] ("enc.bias")
 *   h = f(z)             f: sigmoid | tanh | relu | softplus
 *   y = g(h·V + c)       V [H,D] ("dec.weight"; Wᵀ when tied), c [D] ("dec.bias"), g: linear | sigmoid
 *   L = R(x, y) + λ·P + γ·Q,
 *        P = (1/B) Σ_b ‖J_h(x_b)‖_F² = (1/B) Σ_b Σ_j f'(z_bj)² Σ_i W_ij²
 *        Q = (1/(k·B)) Σ_b Σ_c ‖J_h(x_b) - J_h(x_b + ε_bc)‖_F²,  ε_bc ~ N(0, σ²I), k corruptions
 *
 * Q is the higher-order term of CAE+H (Rifai, Mesnil et al., ECML 2011): it asks the Jacobian
 * to change little around each input (for small σ, Q ≈ σ² times the squared norm of the
 * Hessian ∂²h/∂x²).  It is built only when γ > 0, with the fused tg_jacobian_diff_penalty op on
 * the corrupted inputs' activations, which are computed by the ordinary ops from the same W and
 * b.  The corruptions of a training step depend only on (seed, step), so a resumed run draws
 * the same ones (see cae_model.noise_step).
 *
 * A denoising AE (Vincent et al. 2008; a baseline of Rifai et al. 2011) is the same loss with a
 * corrupted x̃ in the encoder (cfg.noise: Gaussian or masking noise, drawn per step like Q's
 * corruptions) and the clean x as R's target; P and Q are then taken at x̃.
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
#include <stdint.h>

#include "autograd/fused/fused.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "nn/io/checkpoint.h"
#include "nn/io/data.h"
#include "tensor/rng.h"

typedef enum cae_loss_kind { CAE_LOSS_MSE = 0, CAE_LOSS_BCE } cae_loss_kind;

/* The weights' initialization: Glorot-uniform U(±sqrt(6/(D+H))) (the default, Keras'), or four
 * times that range, the convention for sigmoid units that Rifai et al.'s code uses (metadata
 * init=glorot_uniform_x4; nn/init.h has no such kind, so it is the CAE's own). */
typedef enum cae_init_kind { CAE_INIT_GLOROT = 0, CAE_INIT_GLOROT_X4 } cae_init_kind;
#define CAE_INIT_X4_NAME "glorot_uniform_x4"
/* --preset rifai2011: the settings of Rifai et al. (ICML 2011) as their code ran them. */
#define CAE_PRESET_RIFAI2011 "rifai2011"

#define CAE_MAX_CORRUPTIONS 64
/* Largest λ (contractive penalty) and γ (higher-order term) and σ accepted from an option or a
 * checkpoint: far past any useful value, small enough that the loss stays finite in float. */
#define CAE_MAX_LAMBDA 1e6
#define CAE_MAX_GAMMA 1e6
#define CAE_MAX_SIGMA 1e3

/* A deep encoder (--encoder D,W1,..,H): at most this many layers, each at most CAE_MAX_WIDTH
 * units; the Hutchinson estimate takes at most CAE_MAX_PROBES probes per step. */
#define CAE_MAX_LAYERS 8
#define CAE_MAX_WIDTH 65536
#define CAE_MAX_PROBES 64

/* How the contractive penalty P is computed: the fused one-layer op (tg_jacobian_penalty), or the
 * generic route of autograd/jvp.h on the whole encoder: Hutchinson's estimate with `probes`
 * Rademacher probes per step, or the exact ‖J‖_F² by one JVP per input pixel. */
typedef enum cae_penalty_kind { CAE_PENALTY_FUSED = 0, CAE_PENALTY_HUTCHINSON, CAE_PENALTY_EXACT } cae_penalty_kind;

/* The denoising autoencoder's corruption of the encoder's input (--noise; Vincent et al. 2008, the
 * baselines of Rifai et al. 2011): none, x + N(0, level²) per pixel, or each pixel set to 0 with
 * probability level ("masking noise").  The reconstruction target stays the clean x. */
typedef enum cae_noise_kind { CAE_NOISE_NONE = 0, CAE_NOISE_GAUSSIAN, CAE_NOISE_MASK } cae_noise_kind;

typedef struct cae_config {
    size_t input;          /* D: pixels per image */
    size_t hidden;         /* H: the code size (the last encoder layer's width) */
    size_t depth;          /* encoder layers: 1 (the one-layer model, --hidden) or 2..CAE_MAX_LAYERS */
    size_t widths[CAE_MAX_LAYERS]; /* a deep encoder's layer widths (widths[depth-1] = hidden) */
    cae_penalty_kind penalty; /* fused: one layer only (its default); deep: hutchinson (default) or exact */
    size_t probes;         /* Hutchinson probes per step, 1..CAE_MAX_PROBES */
    double lambda;         /* weight of the contractive penalty */
    tg_activation act;     /* encoder activation */
    bool sigmoid_decoder;  /* false: linear decoder */
    cae_loss_kind loss;
    bool tied;             /* decoder weights are Wᵀ */
    double gamma;          /* weight of the higher-order (CAE+H) term; 0: off */
    size_t corruptions;    /* k: corrupted copies of each input for that term */
    double sigma;          /* standard deviation of the Gaussian corruption */
    uint64_t noise_seed;   /* seeds the corruptions (the run's --seed) */
    cae_noise_kind noise;  /* the denoising corruption of the training input (none) */
    double noise_level;    /* its σ (gaussian, 0 < σ <= CAE_MAX_SIGMA) or P (mask, 0 < P < 1) */
    cae_init_kind init;    /* the weights' initialization (cae_model_init) */
    const char *preset;    /* the --preset the run was given (informational metadata), or NULL */
} cae_config;

/* The spec's defaults: 784 -> 64 sigmoid, linear decoder, mse, λ = 1e-4, untied; γ = 0 (no
 * higher-order term), 4 corruptions of σ = 0.1, noise seed 1; one layer, the fused penalty. */
cae_config cae_config_default(void);
/* Sets the encoder from "D,W1,..,H" (--encoder): input, depth, widths and hidden ("D,H" is the
 * one-layer model), and for two layers or more the Hutchinson penalty in place of the fused one,
 * which is one layer's.  The message names --encoder. */
int cae_config_set_encoder(cae_config *cfg, const char *text, tg_error *err);
/* The units of encoder layer k (k < depth), and its inputs (layer 0: the pixels). */
size_t cae_layer_width(const cae_config *cfg, size_t k);
size_t cae_layer_inputs(const cae_config *cfg, size_t k);
/* Checks the combination (e.g. bce needs the sigmoid decoder); message names the option. */
int cae_config_check(const cae_config *cfg, tg_error *err);
/* Sets cfg's noise from "none", "gaussian:SIGMA" or "mask:P" (--noise, the metadata key noise);
 * TG_ERR_ARG with a message saying what is expected (the caller names the option or file). */
int cae_noise_parse(const char *text, cae_config *cfg, tg_error *err);

typedef struct cae_model {
    cae_config cfg;
    tg_param enc_w, enc_b, dec_w, dec_b; /* the one-layer model's; dec_w unused (empty) when tied */
    /* A deep model's (depth >= 2; the four above are then empty): per encoder layer k, weight
     * [in_k, w_k] and bias in deep_w[k], deep_b[k] ("enc<k>.weight", "enc<k>.bias"); the decoder
     * mirrors it from the code back to the pixels, its layer k in deep_w[depth + k] (absent when
     * tied: layer depth-1-k's weight transposed), deep_b[depth + k] ("dec<k>.weight", ...). */
    tg_param deep_w[2 * CAE_MAX_LAYERS], deep_b[2 * CAE_MAX_LAYERS];
    tg_param *params[4 * CAE_MAX_LAYERS]; /* the trainable ones, in checkpoint order */
    int n_params;
    /* The corruptions of the γ term: cae_build draws them from the rng stream of `noise_step`
     * (the number of the training step being built, from 1) and, on a tape with gradients,
     * advances it by one after building the whole loss, unless `noise_held` (gradcheck: the
     * loss must be the same function at every evaluation).  cae_model_load_weights sets it from
     * the checkpoint's train_step, so a resumed run continues the same sequence. */
    uint64_t noise_step;
    bool noise_held;
} cae_model;

/* Glorot-uniform weights (the Keras default the seed uses; 4× the range with CAE_INIT_GLOROT_X4),
 * zero biases, from `rng`. */
int cae_model_init(cae_model *m, const cae_config *cfg, tg_rng *rng, tg_error *err);
void cae_model_free(cae_model *m);

/* Nodes of one built step. */
typedef struct cae_graph {
    tg_node *input;   /* [B,D] the encoder's input: x, or its corrupted copy (--noise, CAE_TERMS_ALL) */
    tg_node *h;       /* [B,H] hidden activations */
    tg_node *y;       /* [B,D] reconstruction (after the decoder activation); NULL when the
                         decoder and its loss were fused (see cae_build) */
    tg_node *recon;   /* [1] reconstruction term R */
    tg_node *penalty; /* [1] P (not yet multiplied by λ) */
    tg_node *hessian; /* [1] Q (not yet multiplied by γ); NULL when not built (see cae_build) */
    tg_node *loss;    /* [1] R + λ·P (+ γ·Q) */
} cae_graph;

/* Which loss terms to include (gradcheck checks them one by one). */
typedef enum cae_terms { CAE_TERMS_ALL = 0, CAE_TERMS_RECON, CAE_TERMS_PENALTY, CAE_TERMS_HESSIAN } cae_terms;

/* Builds the loss for the batch `x` [B,D] (data: no gradient reaches x through the corrupted
 * copies) on the tape.  With a denoising --noise, CAE_TERMS_ALL (the training and validation
 * loss) encodes a corrupted copy x̃ of x (cae_corrupt_input) and reconstructs the clean x: the
 * penalty (and the γ term's corruptions) are then taken at x̃; the single terms (eval, render,
 * gradcheck) see x as given.  h, recon and penalty are always built; Q is built for
 * CAE_TERMS_HESSIAN, and for CAE_TERMS_ALL when γ > 0.  y is built unless the tape records
 * gradients and the decoder is linear with the MSE loss: training never reads y, so the
 * decoder and its loss are then one op (tg_affine_mse, the same gradients without a node for y; or
 * tg_affine_mse_gram when tg_affine_mse_gram_pays, e.g. hidden 64 at batch 256: other bits, w's
 * gradient within ~3× of tg_affine_mse's error, x's less accurate (fused.h), fewer flops).  The
 * penalty is cfg.penalty's route (cae_deep.h: for a deep encoder the whole encoder's Jacobian);
 * with CAE_TERMS_RECON, where it is only reported, its exact value (the fused op, or a deep
 * model's closed form).  On error the tape holds it (sticky) and the return value is its code. */
int cae_build(tg_tape *tape, cae_model *m, tg_node *x, cae_terms terms, cae_graph *g);

/* The corrupted inputs of step `step`: x_tilde [k·B,D], row c·B + b = x_b + ε with
 * ε ~ N(0, σ²I) drawn from an rng stream of (cfg->noise_seed, step, row), so the same
 * (seed, step) gives the same corruptions on any number of threads.  x [B,D]. */
void cae_corrupt(const cae_config *cfg, uint64_t step, const float *x, size_t B, float *x_tilde);

/* The denoising corruption of step `step` (cfg->noise, which is not none): x_tilde [B,D], row b =
 * x_b corrupted from an rng stream of (cfg->noise_seed, step, b) apart from cae_corrupt's, so it
 * too is the same on any number of threads and on a resumed run. */
void cae_corrupt_input(const cae_config *cfg, uint64_t step, const float *x, size_t B, float *x_tilde);

/* Sets the step whose corruptions the next cae_build draws (the training loop's step number). */
void cae_model_set_step(cae_model *m, uint64_t step);
/* Encoder only: h = f(x·W + b), or the deep encoder's layers (for evaluation, on a no-grad tape). */
tg_node *cae_encode(tg_tape *tape, cae_model *m, tg_node *x);

/* ---- deep encoders (models/cae/cae_deep.c) ---- */

/* Encoder layers: 1 for the one-layer model. */
size_t cae_model_depth(const cae_model *m);
/* The weight and bias of encoder layer k, and of decoder layer k (counted from the code; the
 * weight is NULL when tied). */
tg_param *cae_enc_weight(cae_model *m, size_t k);
tg_param *cae_enc_bias(cae_model *m, size_t k);
tg_param *cae_dec_weight(cae_model *m, size_t k);
tg_param *cae_dec_bias(cae_model *m, size_t k);
/* ‖J_h(x_b)‖_F² of each row of x [B,D] into fro2[B], exactly, for any depth, without a tape
 * sweep per pixel: J_b = S_n W_nᵀ ⋯ S_1 W_1ᵀ (S_k the slopes of layer k at x_b) is formed from
 * the code side down to layer 1, and ‖J_b‖² = Σ_j r_jᵀ (W_1ᵀW_1) r_j for the rows r_j of
 * S_n W_nᵀ ⋯ S_1 when layer 1 is narrower than the input (else from J_b itself).  Values only. */
int cae_jacobian_norms(cae_model *m, const float *x, size_t B, double *fro2, tg_error *err);
/* Adds Σ ‖J‖_F² and Σ ‖J‖_F over the images idx[0..count) of ds to *fro2 and *fro (either may be
 * NULL): cae eval's jac_fro of a deep model. */
int cae_jacobian_norm_sums(cae_model *m, const tg_dataset *ds, const uint32_t *idx, size_t count, double *fro2,
                           double *fro, tg_error *err);
/* The encoder's Jacobian at one image, J [H,D], of any depth (cae_jacobian_at's for a deep model). */
int cae_deep_jacobian_at(cae_model *m, const float *x, float *J, tg_error *err);

/* Checkpoints (docs/checkpoint.md): metadata keys model=cae, input, hidden, activation,
 * decoder, loss, lambda, tied, gamma, corruptions, sigma, noise_seed (the last four optional
 * when read: γ = 0 and the defaults), then encoder (deep only), penalty and probes (unless
 * fused); tensors enc.weight, enc.bias, dec.weight (untied), dec.bias, or a deep model's
 * enc<k>.*, dec<k>.*. */
int cae_model_to_checkpoint(const cae_model *m, tg_checkpoint *ck, tg_error *err);
/* Reads the config from a checkpoint's metadata (message names `path` and the key). */
int cae_config_from_checkpoint(const tg_checkpoint *ck, const char *path, cae_config *cfg, tg_error *err);
/* Creates the model described by the checkpoint and loads its weights. */
int cae_model_from_checkpoint(cae_model *m, const tg_checkpoint *ck, const char *path, tg_error *err);
/* Loads weights into an existing model; the checkpoint's shapes must match.  Also sets
 * noise_step to the checkpoint's train_step + 1 when it has one (a run being resumed). */
int cae_model_load_weights(cae_model *m, const tg_checkpoint *ck, const char *path, tg_error *err);
int cae_model_load_file(cae_model *m, const char *path, tg_error *err);

#endif
