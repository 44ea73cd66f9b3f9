/* nn/optim_rules.h — the optimizers' per-element update rules, one fused pass over a run of a
 * parameter each (internal, not installed: optim.c calls them from its parallel step and the
 * tests call them directly; formulas in optim.h). */
#ifndef TG_OPTIM_RULES_H
#define TG_OPTIM_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "optim.h"

/* What a parameter's group, and the schedule, give its update this step. */
typedef struct {
    float lr, wd;
} step_settings;

/* The factors of an Adam or AdamW update of one parameter, from its rate and decay and the bias
 * corrections 1 - beta^t of the step (computed once per step in double). */
typedef struct {
    float step_size;    /* lr / (1 - beta1^t) */
    float inv_sqrt_bc2; /* 1 / sqrt(1 - beta2^t) */
    float decay;        /* AdamW: 1 - lr·wd; Adam: 1 (an exact no-op) */
    float wd;           /* Adam: the L2 decay added to the gradient; AdamW: 0 */
} adam_factors;

adam_factors tg_adam_factors_for(tg_opt_kind kind, step_settings set, double bc1, double bc2);

/* How a step splits its work (optim.c): each parameter into tg_optim_parts(elements in all)
 * runs, the thread count or 1 for a small model, and one parallel loop over parts·n_params
 * chunks; chunk c is elements [lo, hi) of parameter *param (run c / n_params of parameter
 * c % n_params, starting on a 64-byte boundary; possibly empty). */
size_t tg_optim_parts(size_t elements);
void tg_optim_chunk_run(const tg_optimizer *o, size_t parts, size_t chunk, int *param, size_t *lo, size_t *hi);

/* Elements [lo, hi) of parameter p (w, g and the state tensors: [n], flat), with the gradient
 * scaled by grad_scale (clipping) and, with zero_grad, set to zero once read. */
void tg_sgd_update(const tg_opt_config *c, step_settings set, tg_param *p, tg_tensor *buf, float grad_scale,
                   bool zero_grad, size_t lo, size_t hi);
void tg_adam_update(const tg_opt_config *c, tg_param *p, tg_tensor *m_t, tg_tensor *v_t, float grad_scale,
                    adam_factors f, bool zero_grad, size_t lo, size_t hi);
/* tg_adam_update's build for `bits`-wide vectors: 256 (AVX2 at most) or 512 (AVX-512, where this
 * build has it and the processor runs it); false, doing nothing, for a build that cannot run
 * here.  tg_adam_update picks by tg_divides512_here(); the tests compare the two. */
bool tg_adam_update_built_for(int bits, const tg_opt_config *c, tg_param *p, tg_tensor *m_t, tg_tensor *v_t,
                              float grad_scale, adam_factors f, bool zero_grad, size_t lo, size_t hi);
/* RMSprop: w, g, sq (square_avg) and, when not NULL, buf (momentum) and avg (grad_avg, centered),
 * [n] each; built for 256 and 512 bits and picked like Adam's update. */
void tg_rmsprop_update(const tg_opt_config *c, step_settings set, tg_param *p, float *sq, float *buf, float *avg,
                       float grad_scale, bool zero_grad, size_t lo, size_t hi);
bool tg_rmsprop_update_built_for(int bits, const tg_opt_config *c, step_settings set, tg_param *p, float *sq,
                                 float *buf, float *avg, float grad_scale, bool zero_grad, size_t lo, size_t hi);

#endif
