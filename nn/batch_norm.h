/* nn/batch_norm.h — the batch norm layer:  y [B,N] = (x - μ)/√(σ² + eps) · γ + β, per column.
 *
 * Training (the tape's mode, tg_tape_training): μ, σ² are the batch's mean and biased variance
 * (the op batch_norm), and after the forward the layer updates its running statistics once, with
 * PyTorch's convention:
 *     running_mean = (1 - momentum)·running_mean + momentum·μ
 *     running_var  = (1 - momentum)·running_var  + momentum·σ²·B/(B-1)   (unbiased)
 * Eval: μ, σ² are the running statistics, which are left alone.
 *
 * The op itself keeps no state (autograd/ops.h, tg_batch_norm): the running statistics live here,
 * plain tensors (not parameters: no gradient), so a gradient check or any rebuild of a node never
 * moves them; only tg_bnorm_forward in training mode does, once per call.
 *
 * Names: parameters "<name>.gamma" [N] (ones) and "<name>.beta" [N] (zeros), for optimizers and
 * tg_ckpt_add_params; running statistics "<name>.running_mean" [N] (zeros) and
 * "<name>.running_var" [N] (ones), saved and loaded by tg_bnorm_save / _load. */
#ifndef TG_NN_BATCH_NORM_H
#define TG_NN_BATCH_NORM_H

#include <stddef.h>

#include "autograd/param.h"
#include "autograd/tape.h"
#include "nn/io/checkpoint.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_bnorm {
    tg_param gamma, beta;                /* [N] */
    tg_tensor running_mean, running_var; /* [N] */
    size_t n;
    float eps, momentum;
    char name[TG_PARAM_NAME_MAX];
} tg_bnorm;

/* n features; eps finite > 0 (PyTorch: 1e-5), momentum in [0, 1] (PyTorch: 0.1).  TG_ERR_ARG for
 * n of 0, a bad eps or momentum, an empty name or one too long for "<name>.running_mean".  On
 * failure *bn is left empty (safe to free). */
int tg_bnorm_init(tg_bnorm *bn, const char *name, size_t n, float eps, float momentum, tg_error *err);
void tg_bnorm_free(tg_bnorm *bn);

/* y [B,N] for x [B,N] on the tape (training needs B >= 2); in training mode also updates the
 * running statistics (once per call).  NULL in (or a tape in error), NULL out. */
tg_node *tg_bnorm_forward(tg_tape *t, tg_bnorm *bn, tg_node *x);

/* out[0] = &bn->gamma, out[1] = &bn->beta; returns 2. */
int tg_bnorm_params(tg_bnorm *bn, tg_param **out);

/* Adds "<name>.running_mean" and "<name>.running_var" to ck (both or neither). */
int tg_bnorm_save(const tg_bnorm *bn, tg_checkpoint *ck, tg_error *err);
/* Copies them back, all or nothing: both present, shape [N], finite, variances >= 0.  `path`
 * names the file in messages. */
int tg_bnorm_load(tg_bnorm *bn, const tg_checkpoint *ck, const char *path, tg_error *err);

#ifdef __cplusplus
}
#endif

#endif
