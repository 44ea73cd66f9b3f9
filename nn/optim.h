/* nn/optim.h — optimizers over an array of parameters: SGD (momentum, Nesterov), Adam, AdamW and
 * RMSprop; parameter groups; learning-rate schedules (step, cosine, linear warm-up).
 *
 * The updates follow PyTorch's torch.optim.SGD (dampening 0), Adam (amsgrad off, L2 weight decay
 * added to the gradient), AdamW (decoupled weight decay) and RMSprop.  For each parameter p with
 * gradient g, learning rate lr and weight decay wd (its group's, below):
 *
 *   clipping      c = min(1, clip_norm / (‖G‖ + 1e-6)) when clip_norm > 0, else 1, where ‖G‖ is
 *                 the global L2 norm of all the gradients (torch.nn.utils.clip_grad_norm_)
 *   g' = c·g + wd·p                                 (AdamW: g' = c·g; its decay is decoupled)
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
 *   AdamW         p ← p·(1 - lr·wd), then Adam's update with g' = c·g
 *
 *   RMSprop       s = alpha·s + (1-alpha)·g'²                      (square_avg)
 *                 centered: a = alpha·a + (1-alpha)·g'             (grad_avg)
 *                           d = sqrt(max(s - a², 0)) + eps         (max: rounding can make s - a² < 0)
 *                 else      d = sqrt(s) + eps
 *                 momentum > 0: buf = momentum·buf + g'/d,  p -= lr·buf
 *                 else          p -= lr·g'/d
 *
 * A step reads the gradients and never writes them: it neither zeroes them (call
 * tg_params_zero_grad before the next backward) nor scales them in place for clipping.
 * Before changing anything, a step checks every gradient: a NaN or Inf makes it return
 * TG_ERR_NUMERIC naming the parameter, with every parameter and all the state unchanged.
 * The update is a plain loop per parameter (one fused pass over the parameter and its state), so
 * the same inputs give the same bits.  It runs with subnormal floats flushed to zero
 * (tg_subnormals_flush, tensor/tensor.h): a moment whose gradient has stopped decays through the
 * subnormal range, where x86 arithmetic is many times slower, and is stored as 0 instead; what
 * changes is below 1.2e-38 (PyTorch, which does not flush by default, keeps such values), and
 * eps must be at least that (FLT_MIN).
 *
 * Parameter groups (tg_optim_add_group): a group's parameters take their weight decay and a
 * learning-rate factor from the group instead of cfg, e.g. no decay on biases and norms
 * (tg_optim_no_decay_1d).  Parameters in no group use cfg.lr and cfg.weight_decay (group 0).
 *
 * Schedules (tg_optim_set_schedule): the learning rate of step t = 1, 2, ... is
 * tg_schedule_lr(schedule, base, t - 1) for each group's base rate, cfg.lr·lr_scale (PyTorch's
 * order: scheduler.step() after each optimizer.step(), so the first step uses the schedule at 0).
 * The schedule is a pure function of the step count, so saving `step` saves its position.
 *
 * State, public for checkpoints (save it and restore it to resume exactly):
 *   step         the number of successful steps taken (Adam's t of the last step)
 *   m[i]         SGD and RMSprop: the momentum buffer of params[i] (NULL without momentum);
 *                Adam and AdamW: the first moment.
 *   v[i]         Adam and AdamW: the second moment; RMSprop: square_avg; NULL for SGD.
 *   grad_avg[i]  RMSprop centered: the running mean of the gradient; NULL otherwise.
 * Each state tensor has its parameter's shape.  tg_optim_state_count/tg_optim_state_tensor list
 * them under checkpoint names ("adam.m/enc.weight", "adam.v/enc.weight", "sgd.momentum/...",
 * "adamw.m/...", "rmsprop.square_avg/...", "rmsprop.momentum/...", "rmsprop.grad_avg/...");
 * restore by copying into the tensors they return and setting `step`.  The configuration, the
 * groups and the schedule are settings, not state: a resumed run sets them up as the first did.
 * cfg.lr may be changed between steps (a schedule of one's own); change nothing else. */
#ifndef TG_NN_OPTIM_H
#define TG_NN_OPTIM_H

#include <stdbool.h>

#include "autograd/param.h"
#include "tensor/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { TG_OPT_SGD = 0, TG_OPT_ADAM, TG_OPT_ADAMW, TG_OPT_RMSPROP } tg_opt_kind;

typedef struct {
    tg_opt_kind kind;
    float lr;           /* > 0 */
    float momentum;     /* SGD, RMSprop: [0, 1); 0 = none */
    float beta1, beta2; /* Adam, AdamW: [0, 1) */
    float eps;          /* Adam, AdamW, RMSprop: > 0 */
    float weight_decay; /* >= 0; L2 penalty added to the gradient (AdamW: decoupled, see above) */
    float clip_norm;    /* >= 0; 0 = no clipping */
    bool nesterov;      /* SGD: Nesterov momentum (needs momentum > 0) */
    float alpha;        /* RMSprop: the smoothing constant of square_avg, [0, 1) */
    bool centered;      /* RMSprop: divide by the gradient's estimated standard deviation */
} tg_opt_config;

/* PyTorch's defaults.  SGD: lr 0.01, no momentum.  Adam: lr 0.001, betas 0.9 / 0.999, eps 1e-8.
 * AdamW: Adam's, and weight decay 0.01.  RMSprop: lr 0.01, alpha 0.99, eps 1e-8, no momentum,
 * not centered.  All: no clipping; no weight decay but AdamW's. */
tg_opt_config tg_opt_config_default(tg_opt_kind kind);

/* The ranges a learning rate, SGD momentum and Adam epsilon are accepted in, from an option or a
 * checkpoint alike: positive rates and epsilons that a float holds without becoming 0 (1e-50
 * would, and an update of 0 trains nothing), momentum below 1 (at 1 the velocity never decays). */
#define TG_OPT_MIN_LR 1e-30
#define TG_OPT_MAX_LR 1e9
#define TG_OPT_MAX_MOMENTUM 0.999999
#define TG_OPT_MIN_EPS 1e-30
#define TG_OPT_MAX_EPS 1.0
/* "sgd" / "adam" / "adamw" / "rmsprop"; "unknown" otherwise.  parse: the inverse, -1 for an
 * unknown name. */
const char *tg_opt_kind_name(tg_opt_kind kind);
int tg_opt_kind_parse(const char *name);

/* ---- learning-rate schedules (nn/schedule.c) ---------------------------------------------------
 * Pure functions of t, the number of steps taken before the one the rate is for (0 for the first
 * step), each giving the rate for a base rate `base_lr`, as PyTorch's closed forms do: */

/* StepLR:            base_lr · gamma^⌊t / step_size⌋ */
double tg_lr_step(double base_lr, long t, long step_size, double gamma);
/* CosineAnnealingLR: eta_min + (base_lr - eta_min)·(1 + cos(π·t / t_max))/2 for t <= t_max, and
 *                    eta_min after it (PyTorch's formula would climb again) */
double tg_lr_cosine(double base_lr, long t, long t_max, double eta_min);
/* LinearLR to 1:     base_lr · (start + (1 - start)·t / warmup_steps) for t < warmup_steps,
 *                    base_lr after (start 0 starts from a rate of 0, as Hugging Face's warm-up) */
double tg_lr_warmup(double base_lr, long t, long warmup_steps, double start);

typedef enum { TG_SCHED_CONSTANT = 0, TG_SCHED_STEP, TG_SCHED_COSINE } tg_sched_kind;

/* A schedule: an optional linear warm-up, then `kind` counted from the warm-up's end (PyTorch's
 * SequentialLR of LinearLR and the schedule, milestone warmup_steps):
 *   t <  warmup_steps   tg_lr_warmup(base_lr, t, warmup_steps, warmup_start)
 *   t >= warmup_steps   kind's rate at t - warmup_steps (CONSTANT: base_lr)
 * E.g. (tg_schedule){.kind = TG_SCHED_COSINE, .t_max = 9000, .warmup_steps = 1000}. */
typedef struct tg_schedule {
    tg_sched_kind kind;
    long warmup_steps;  /* >= 0; 0 = no warm-up */
    float warmup_start; /* [0, 1]: the warm-up's first factor */
    long step_size;     /* STEP: >= 1 steps per decay */
    float gamma;        /* STEP: > 0, the factor per decay */
    long t_max;         /* COSINE: >= 1 steps from base_lr down to eta_min */
    float eta_min;      /* COSINE: >= 0, the final rate (absolute, the same for every group) */
} tg_schedule;

/* The rate of step t + 1 (t >= 0 steps taken) for base_lr; base_lr for t < 0. */
double tg_schedule_lr(const tg_schedule *s, double base_lr, long t);
/* TG_ERR_ARG naming the field and its value when a field the kind uses is out of range. */
int tg_schedule_check(const tg_schedule *s, tg_error *err);

/* ---- the optimizer --------------------------------------------------------------------------- */

/* A parameter group's settings: its rate is cfg.lr·lr_scale (so a schedule, or cfg.lr changed by
 * hand, moves every group together), its weight decay its own. */
typedef struct tg_opt_group {
    float lr_scale;     /* >= 0; 1 = cfg.lr, 0 = frozen */
    float weight_decay; /* >= 0 */
} tg_opt_group;

typedef struct tg_optimizer {
    tg_opt_config cfg;
    tg_param **params; /* owned copy of the pointer array; the parameters are not owned */
    int n_params;
    tg_tensor *m;      /* per param: momentum buffer or first moment; see above */
    tg_tensor *v;      /* per param: second moment (Adam, AdamW) or square_avg (RMSprop) */
    long step;
    tg_tensor *grad_avg;  /* per param: RMSprop centered only */
    int *group_of;        /* per param: 0 = cfg's settings, g >= 1 = groups[g - 1] */
    tg_opt_group *groups; /* n_groups, added by tg_optim_add_group */
    int n_groups;
    bool scheduled;       /* whether `schedule` sets the rates */
    tg_schedule schedule;
} tg_optimizer;

/* Checks cfg (TG_ERR_ARG with a message naming the field and its value) and the parameters
 * (at least one; non-NULL, allocated, grad shaped like value, no parameter listed twice), then
 * allocates zeroed state.  On failure *o is left empty (safe to free). */
int tg_optim_init(tg_optimizer *o, const tg_opt_config *cfg, tg_param *const *params, int n_params,
                  tg_error *err);
void tg_optim_free(tg_optimizer *o);

/* Puts params[0..n_params) — each one of the optimizer's, in no group yet — into a new group with
 * the settings g (a group's lr_scale and weight_decay are checked like cfg's).  All or nothing:
 * on error no parameter changes group.  Call before the first step, and again, identically, when
 * resuming. */
int tg_optim_add_group(tg_optimizer *o, tg_param *const *params, int n_params, tg_opt_group g, tg_error *err);
/* The usual group: every parameter of at most one dimension (biases, norm scales and shifts) not
 * yet in a group goes into a new one with lr_scale 1 and no weight decay.  TG_OK, adding no group,
 * when there is none. */
int tg_optim_no_decay_1d(tg_optimizer *o, tg_error *err);
/* From now on, each step's rates come from *s (copied; checked with tg_schedule_check); NULL:
 * no schedule again (the rates are cfg.lr·lr_scale). */
int tg_optim_set_schedule(tg_optimizer *o, const tg_schedule *s, tg_error *err);
/* The learning rate the next step gives group `group` (0: the parameters in no group); -1 for a
 * group that does not exist. */
float tg_optim_lr(const tg_optimizer *o, int group);

/* One update from the parameters' current gradients (formulas above).  TG_ERR_NUMERIC (nothing
 * changed) for a non-finite gradient; TG_ERR_STATE for an optimizer that is not initialized. */
int tg_optim_step(tg_optimizer *o, tg_error *err);
/* The same, then sets every gradient to zero in the same pass (cheaper than tg_optim_step
 * followed by tg_params_zero_grad).  On error nothing changes, gradients included.  Large
 * updates are split over tg_get_threads() threads in fixed chunks: the same bits for any count. */
int tg_optim_step_zero_grad(tg_optimizer *o, tg_error *err);

/* The global L2 norm of all the gradients, sqrt(Σ g²) accumulated in double. */
double tg_optim_grad_norm(const tg_optimizer *o);

/* Zeroes the state (moments, momentum buffers, averages, step), as if freshly initialized; the
 * groups and the schedule stay. */
void tg_optim_reset(tg_optimizer *o);

/* State tensors for checkpoints, per parameter in params' order, each parameter's in the order
 * m, v, grad_avg of those it has: Adam and AdamW 2·n_params (index 2i: m of params[i], 2i+1: v),
 * SGD with momentum n_params, plain SGD 0, RMSprop 1 to 3 per parameter. */
#define TG_OPT_STATE_NAME_MAX (TG_PARAM_NAME_MAX + 24)
int tg_optim_state_count(const tg_optimizer *o);
/* The k-th state tensor, and its checkpoint name in `name` (may be NULL); NULL when k is out of
 * range.  The tensor is the live state: copy into it to restore a checkpoint. */
tg_tensor *tg_optim_state_tensor(tg_optimizer *o, int k, char name[TG_OPT_STATE_NAME_MAX]);
/* Whether the k-th state tensor is a mean of squares (v, square_avg), which a checkpoint loader
 * should refuse when negative: sqrt would make it NaN. */
bool tg_optim_state_nonnegative(const tg_optimizer *o, int k);
/* The checkpoint name of the step counter: "adam.step", "sgd.step", "adamw.step", "rmsprop.step". */
const char *tg_optim_step_name(const tg_optimizer *o);

#ifdef __cplusplus
}
#endif

#endif
