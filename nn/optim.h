/* nn/optim.h — optimizers over an array of parameters: SGD (momentum, Nesterov) and Adam.
 *
 * The updates follow PyTorch's torch.optim.SGD (dampening 0) and torch.optim.Adam (amsgrad off,
 * L2 weight decay added to the gradient, not AdamW).  For each parameter p with gradient g:
 *
 *   clipping      c = min(1, clip_norm / (‖G‖ + 1e-6)) when clip_norm > 0, else 1, where ‖G‖ is
 *                 the global L2 norm of all the gradients (torch.nn.utils.clip_grad_norm_)
 *   g' = c·g + weight_decay·p
 *
 *   SGD           buf = momentum·buf + g'          (buf starts at 0, so the first buf is g')
 *                 p  -= lr·buf                      (plain: momentum 0, p -= lr·g')
 *                 p  -= lr·(g' + momentum·buf)      (nesterov)
 *
 *   Adam (step t = 1, 2, ...)
 *                 m = beta1·m + (1-beta1)·g'        v = beta2·v + (1-beta2)·g'²
 *                 m̂ = m / (1-beta1^t)               v̂ = v / (1-beta2^t)
 *                 p -= lr·m̂ / (sqrt(v̂) + eps)
 *
 * A step reads the gradients and never writes them: it neither zeroes them (call
 * tg_params_zero_grad before the next backward) nor scales them in place for clipping.
 * Before changing anything, a step checks every gradient: a NaN or Inf makes it return
 * TG_ERR_NUMERIC naming the parameter, with every parameter and all the state unchanged.
 * The update is a plain loop per parameter (Adam: one fused pass updating m, v and p), so the
 * same inputs give the same bits.
 *
 * State, public for checkpoints (save it and restore it to resume exactly):
 *   step      the number of successful steps taken (Adam's t of the last step)
 *   m[i]      SGD: the momentum buffer of params[i]; Adam: the first moment.  m is NULL for SGD
 *             without momentum.
 *   v[i]      Adam: the second moment of params[i]; v is NULL for SGD.
 * Each state tensor has its parameter's shape.  tg_optim_state_count/tg_optim_state_tensor list
 * them under checkpoint names ("adam.m/enc.weight", "adam.v/enc.weight", "sgd.momentum/...");
 * restore by copying into the tensors they return and setting `step`.
 * cfg.lr may be changed between steps (a learning-rate schedule); change nothing else. */
#ifndef TG_NN_OPTIM_H
#define TG_NN_OPTIM_H

#include <stdbool.h>

#include "autograd/param.h"
#include "tensor/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { TG_OPT_SGD = 0, TG_OPT_ADAM } tg_opt_kind;

typedef struct {
    tg_opt_kind kind;
    float lr;           /* > 0 */
    float momentum;     /* SGD: [0, 1); 0 = plain SGD */
    float beta1, beta2; /* Adam: [0, 1) */
    float eps;          /* Adam: > 0 */
    float weight_decay; /* >= 0; L2 penalty added to the gradient */
    float clip_norm;    /* >= 0; 0 = no clipping */
    bool nesterov;      /* SGD: Nesterov momentum (needs momentum > 0) */
} tg_opt_config;

/* SGD: lr 0.01, no momentum.  Adam: lr 0.001, betas 0.9 / 0.999, eps 1e-8 (PyTorch's
 * defaults).  Both: no weight decay, no clipping. */
tg_opt_config tg_opt_config_default(tg_opt_kind kind);

/* The ranges a learning rate, SGD momentum and Adam epsilon are accepted in, from an option or a
 * checkpoint alike: positive rates and epsilons that a float holds without becoming 0 (1e-50
 * would, and an update of 0 trains nothing), momentum below 1 (at 1 the velocity never decays). */
#define TG_OPT_MIN_LR 1e-30
#define TG_OPT_MAX_LR 1e9
#define TG_OPT_MAX_MOMENTUM 0.999999
#define TG_OPT_MIN_EPS 1e-30
#define TG_OPT_MAX_EPS 1.0
/* "sgd" / "adam"; "unknown" otherwise.  parse: the inverse, -1 for an unknown name. */
const char *tg_opt_kind_name(tg_opt_kind kind);
int tg_opt_kind_parse(const char *name);

typedef struct tg_optimizer {
    tg_opt_config cfg;
    tg_param **params; /* owned copy of the pointer array; the parameters are not owned */
    int n_params;
    tg_tensor *m;      /* per param: momentum buffer (SGD) or first moment (Adam); see above */
    tg_tensor *v;      /* per param: second moment (Adam only) */
    long step;
} tg_optimizer;

/* Checks cfg (TG_ERR_ARG with a message naming the field and its value) and the parameters
 * (at least one; non-NULL, allocated, grad shaped like value, no parameter listed twice), then
 * allocates zeroed state.  On failure *o is left empty (safe to free). */
int tg_optim_init(tg_optimizer *o, const tg_opt_config *cfg, tg_param *const *params, int n_params,
                  tg_error *err);
void tg_optim_free(tg_optimizer *o);

/* One update from the parameters' current gradients (formulas above).  TG_ERR_NUMERIC (nothing
 * changed) for a non-finite gradient; TG_ERR_STATE for an optimizer that is not initialized. */
int tg_optim_step(tg_optimizer *o, tg_error *err);
/* The same, then sets every gradient to zero in the same pass (cheaper than tg_optim_step
 * followed by tg_params_zero_grad).  On error nothing changes, gradients included.  Large
 * updates are split over tg_get_threads() threads in fixed chunks: the same bits for any count. */
int tg_optim_step_zero_grad(tg_optimizer *o, tg_error *err);

/* The global L2 norm of all the gradients, sqrt(Σ g²) accumulated in double. */
double tg_optim_grad_norm(const tg_optimizer *o);

/* Zeroes the state (moments, momentum buffers, step), as if freshly initialized. */
void tg_optim_reset(tg_optimizer *o);

/* State tensors for checkpoints: Adam 2·n_params (index 2i: m of params[i], 2i+1: v),
 * SGD with momentum n_params, plain SGD 0. */
#define TG_OPT_STATE_NAME_MAX (TG_PARAM_NAME_MAX + 16)
int tg_optim_state_count(const tg_optimizer *o);
/* The k-th state tensor, and its checkpoint name in `name` (may be NULL); NULL when k is out of
 * range.  The tensor is the live state: copy into it to restore a checkpoint. */
tg_tensor *tg_optim_state_tensor(tg_optimizer *o, int k, char name[TG_OPT_STATE_NAME_MAX]);
/* The checkpoint name of the step counter: "adam.step" or "sgd.step". */
const char *tg_optim_step_name(const tg_optimizer *o);

#ifdef __cplusplus
}
#endif

#endif
