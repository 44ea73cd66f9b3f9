/* models/cae/cae_deep.h — what cae_model.c takes from cae_deep.c (private to models/cae): the
 * layers of a deep encoder and its mirrored decoder, and the generic contractive penalty.  The
 * public side (accessors, Jacobian norms) is in cae_model.h. */
#ifndef CAE_DEEP_H
#define CAE_DEEP_H

#include "cae_model.h"
#include "cli.h"

/* The options --encoder, --penalty and --probes of `cae train` and `cae gradcheck` into cfg (after
 * the other model options: --encoder sets hidden); false after one stderr line naming the option. */
bool cae_cli_encoder_options(const tg_cli *c, cae_config *cfg);

/* A deep model's parameters (cfg->depth >= 2): Glorot-uniform weights (4× the range with
 * CAE_INIT_GLOROT_X4) drawn layer by layer, the encoder's first, then the decoder's; zero biases.
 * Fills m->params in checkpoint order.  On error the caller frees the model. */
int cae_deep_init(cae_model *m, tg_rng *rng, tg_error *err);

/* The encoder's layers on x [B,D]; layer k's weight and bias leaves go to leaves[2k], leaves[2k+1]
 * when leaves is not NULL (the tied decoder and the γ term reuse them).  Returns the code h [B,H]. */
tg_node *cae_deep_encode(tg_tape *tape, cae_model *m, tg_node *x, tg_node **leaves);

/* The decoder's hidden layers (all but the output layer) on the code h: returns their output,
 * the input of the output layer (h itself for one layer). */
tg_node *cae_deep_decode_hidden(tg_tape *tape, cae_model *m, tg_node *h, tg_node *const *leaves);

/* P by the generic route of autograd/jvp.h (cfg.penalty hutchinson or exact) on the encoder that
 * maps x to h; Hutchinson's probes are drawn from (noise_seed, noise_step).  For CAE_TERMS_RECON
 * (P not in the loss, only reported) a deep model's P is the exact mean ‖J‖² of
 * cae_jacobian_norms, as a value. */
tg_node *cae_generic_penalty(tg_tape *tape, cae_model *m, tg_node *x, tg_node *h, cae_terms terms);

/* The metadata keys encoder, penalty and probes (written only when not the one-layer defaults)
 * and their reading into `cfg` (whose input and hidden are read already). */
int cae_deep_meta_write(const cae_config *c, tg_checkpoint *ck, tg_error *err);
int cae_deep_meta_read(const tg_checkpoint *ck, const char *path, cae_config *cfg, tg_error *err);
/* The encoder's weights in the checkpoint have the shapes the metadata says (checked before a
 * model is allocated from those sizes). */
int cae_deep_check_shapes(const tg_checkpoint *ck, const char *path, const cae_config *cfg, tg_error *err);

#endif
