/* nn/optim.c — SGD, Adam, AdamW and RMSprop, parameter groups, applying a schedule (formulas and
 * state in optim.h; the schedules themselves are in schedule.c). */
#include "optim.h"
#include "optim_rules.h"

#include "tensor/cache_hints.h"
#include "tensor/parallel.h"

#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* torch.nn.utils.clip_grad_norm_ adds this to the norm before dividing by it. */
#define CLIP_NORM_EPS 1e-6

tg_opt_config tg_opt_config_default(tg_opt_kind kind)
{
    tg_opt_config c = {.kind = kind, .weight_decay = 0.0f, .clip_norm = 0.0f, .nesterov = false};
    switch (kind) {
    case TG_OPT_ADAM:
    case TG_OPT_ADAMW:
        c.lr = 1e-3f;
        c.beta1 = 0.9f;
        c.beta2 = 0.999f;
        c.eps = 1e-8f;
        c.weight_decay = kind == TG_OPT_ADAMW ? 0.01f : 0.0f;
        break;
    case TG_OPT_RMSPROP:
        c.lr = 0.01f;
        c.alpha = 0.99f;
        c.eps = 1e-8f;
        break;
    case TG_OPT_SGD:
    default:
        c.lr = 0.01f;
        c.momentum = 0.0f;
        break;
    }
    return c;
}

static const char *const kind_names[] = {"sgd", "adam", "adamw", "rmsprop"};
#define N_KINDS ((int)(sizeof kind_names / sizeof kind_names[0]))

const char *tg_opt_kind_name(tg_opt_kind kind)
{
    return (int)kind >= 0 && (int)kind < N_KINDS ? kind_names[kind] : "unknown";
}

int tg_opt_kind_parse(const char *name)
{
    for (int k = 0; name && k < N_KINDS; k++)
        if (strcmp(name, kind_names[k]) == 0)
            return k;
    return -1;
}

/* Adam and AdamW share their moments and their update loop. */
static bool is_adam(tg_opt_kind kind)
{
    return kind == TG_OPT_ADAM || kind == TG_OPT_ADAMW;
}

/* ---- validation ------------------------------------------------------------------------- */

/* x in [0, 1); false for NaN too. */
static bool in_unit_interval(float x)
{
    return x >= 0.0f && x < 1.0f;
}

/* The fields of one kind (check_config has checked the ones they all share). */
static int check_kind_fields(const tg_opt_config *c, const char *k, tg_error *err)
{
    if (c->nesterov && c->kind != TG_OPT_SGD)
        return tg_error_set(err, TG_ERR_ARG, "optim %s: nesterov applies to sgd only", k);
    if (c->centered && c->kind != TG_OPT_RMSPROP)
        return tg_error_set(err, TG_ERR_ARG, "optim %s: centered applies to rmsprop only", k);
    if (c->kind == TG_OPT_SGD || c->kind == TG_OPT_RMSPROP) {
        if (!in_unit_interval(c->momentum))
            return tg_error_set(err, TG_ERR_ARG, "optim %s: momentum = %g (must be in [0, 1))", k, c->momentum);
        if (c->nesterov && c->momentum == 0.0f)
            return tg_error_set(err, TG_ERR_ARG, "optim sgd: nesterov needs momentum > 0 (momentum = 0)");
    }
    if (is_adam(c->kind)) {
        if (!in_unit_interval(c->beta1))
            return tg_error_set(err, TG_ERR_ARG, "optim %s: beta1 = %g (must be in [0, 1))", k, c->beta1);
        if (!in_unit_interval(c->beta2))
            return tg_error_set(err, TG_ERR_ARG, "optim %s: beta2 = %g (must be in [0, 1))", k, c->beta2);
    }
    if (c->kind == TG_OPT_RMSPROP && !in_unit_interval(c->alpha))
        return tg_error_set(err, TG_ERR_ARG, "optim rmsprop: alpha = %g (must be in [0, 1))", c->alpha);
    /* Normal, not just > 0: the update flushes subnormals (see update_chunks), and a subnormal eps
     * would be a zero there, 0/0 for an element whose moments are zero. */
    if (c->kind != TG_OPT_SGD && !(isfinite(c->eps) && c->eps >= FLT_MIN))
        return tg_error_set(err, TG_ERR_ARG, "optim %s: eps = %g (must be finite and >= %g, the smallest normal float)",
                            k, c->eps, FLT_MIN);
    return TG_OK;
}

static int check_config(const tg_opt_config *c, tg_error *err)
{
    if ((int)c->kind < 0 || (int)c->kind >= N_KINDS)
        return tg_error_set(err, TG_ERR_ARG, "optim: kind = %d is not sgd, adam, adamw or rmsprop (0 to %d)",
                            (int)c->kind, N_KINDS - 1);
    const char *k = tg_opt_kind_name(c->kind);
    if (!(isfinite(c->lr) && c->lr > 0.0f))
        return tg_error_set(err, TG_ERR_ARG, "optim %s: lr = %g (must be finite and > 0)", k, c->lr);
    if (!(isfinite(c->weight_decay) && c->weight_decay >= 0.0f))
        return tg_error_set(err, TG_ERR_ARG, "optim %s: weight_decay = %g (must be finite and >= 0)", k,
                            c->weight_decay);
    if (!(isfinite(c->clip_norm) && c->clip_norm >= 0.0f))
        return tg_error_set(err, TG_ERR_ARG, "optim %s: clip_norm = %g (must be finite and >= 0; 0 = off)", k,
                            c->clip_norm);
    return check_kind_fields(c, k, err);
}

static int check_params(tg_param *const *params, int n_params, tg_error *err)
{
    if (!params)
        return tg_error_set(err, TG_ERR_ARG, "optim: the parameter array is NULL");
    if (n_params < 1)
        return tg_error_set(err, TG_ERR_ARG, "optim: n_params = %d (need at least 1)", n_params);
    for (int i = 0; i < n_params; i++) {
        const tg_param *p = params[i];
        if (!p)
            return tg_error_set(err, TG_ERR_ARG, "optim: parameter %d is NULL", i);
        if (!p->value.data || !p->grad.data)
            return tg_error_set(err, TG_ERR_ARG, "optim: parameter %d (%s) is not allocated", i, p->name);
        if (!tg_tensor_same_shape(&p->value, &p->grad)) {
            char vs[64], gs[64];
            return tg_error_set(err, TG_ERR_SHAPE, "optim: parameter %d (%s): value %s but grad %s", i, p->name,
                                tg_tensor_shape_str(vs, sizeof vs, &p->value),
                                tg_tensor_shape_str(gs, sizeof gs, &p->grad));
        }
        /* Listed twice, a parameter would be updated twice per step. */
        for (int j = 0; j < i; j++)
            if (params[j] == p)
                return tg_error_set(err, TG_ERR_ARG, "optim: parameter %s is listed twice (%d and %d)", p->name,
                                    j, i);
    }
    return TG_OK;
}

/* ---- lifetime --------------------------------------------------------------------------- */

/* One zeroed tensor per parameter, shaped like its value. */
static int alloc_state(tg_tensor **out, tg_param *const *params, int n, tg_error *err)
{
    tg_tensor *s = calloc((size_t)n, sizeof *s);
    if (!s)
        return tg_error_set(err, TG_ERR_NOMEM, "optim: cannot allocate state for %d parameters", n);
    *out = s; /* set first, so the caller's cleanup frees what was allocated so far */
    for (int i = 0; i < n; i++) {
        int rc = tg_tensor_zeros(&s[i], params[i]->value.ndim, params[i]->value.shape, err);
        if (rc)
            return rc;
    }
    return TG_OK;
}

static void free_state(tg_tensor *s, int n)
{
    if (!s)
        return;
    for (int i = 0; i < n; i++)
        tg_tensor_free(&s[i]);
    free(s);
}

int tg_optim_init(tg_optimizer *o, const tg_opt_config *cfg, tg_param *const *params, int n_params,
                  tg_error *err)
{
    memset(o, 0, sizeof *o);
    if (!cfg)
        return tg_error_set(err, TG_ERR_ARG, "optim: config is NULL");
    int rc = check_config(cfg, err);
    if (rc == TG_OK)
        rc = check_params(params, n_params, err);
    if (rc)
        return rc;

    o->cfg = *cfg;
    o->n_params = n_params;
    o->params = malloc((size_t)n_params * sizeof *o->params);
    if (!o->params) {
        tg_optim_free(o);
        return tg_error_set(err, TG_ERR_NOMEM, "optim: cannot allocate %d parameter pointers", n_params);
    }
    memcpy(o->params, params, (size_t)n_params * sizeof *o->params);

    o->group_of = calloc((size_t)n_params, sizeof *o->group_of);
    if (!o->group_of) {
        tg_optim_free(o);
        return tg_error_set(err, TG_ERR_NOMEM, "optim: cannot allocate the groups of %d parameters", n_params);
    }

    bool needs_m = is_adam(cfg->kind) || cfg->momentum > 0.0f;
    bool needs_v = cfg->kind != TG_OPT_SGD;
    bool needs_grad_avg = cfg->kind == TG_OPT_RMSPROP && cfg->centered;
    if (needs_m)
        rc = alloc_state(&o->m, params, n_params, err);
    if (rc == TG_OK && needs_v)
        rc = alloc_state(&o->v, params, n_params, err);
    if (rc == TG_OK && needs_grad_avg)
        rc = alloc_state(&o->grad_avg, params, n_params, err);
    if (rc)
        tg_optim_free(o);
    return rc;
}

void tg_optim_free(tg_optimizer *o)
{
    if (!o)
        return;
    free_state(o->m, o->n_params);
    free_state(o->v, o->n_params);
    free_state(o->grad_avg, o->n_params);
    free(o->group_of);
    free(o->groups);
    free(o->params);
    memset(o, 0, sizeof *o);
}

void tg_optim_reset(tg_optimizer *o)
{
    for (int i = 0; i < o->n_params; i++) {
        if (o->m)
            tg_tensor_fill(&o->m[i], 0.0f);
        if (o->v)
            tg_tensor_fill(&o->v[i], 0.0f);
        if (o->grad_avg)
            tg_tensor_fill(&o->grad_avg[i], 0.0f);
    }
    o->step = 0;
}

/* ---- groups and schedules --------------------------------------------------------------- */

/* params' index in the optimizer's list, -1 when it is not there. */
static int param_index(const tg_optimizer *o, const tg_param *p)
{
    for (int i = 0; i < o->n_params; i++)
        if (o->params[i] == p)
            return i;
    return -1;
}

/* Checks everything first, so that a refused group changes nothing. */
static int check_group(const tg_optimizer *o, tg_param *const *params, int n, tg_opt_group g, tg_error *err)
{
    if (!o || !o->params)
        return tg_error_set(err, TG_ERR_STATE, "optim: a group for an optimizer that is not initialized");
    if (!(isfinite(g.lr_scale) && g.lr_scale >= 0.0f))
        return tg_error_set(err, TG_ERR_ARG, "optim group: lr_scale = %g (must be finite and >= 0)", g.lr_scale);
    if (!(isfinite(g.weight_decay) && g.weight_decay >= 0.0f))
        return tg_error_set(err, TG_ERR_ARG, "optim group: weight_decay = %g (must be finite and >= 0)",
                            g.weight_decay);
    if (!params || n < 1)
        return tg_error_set(err, TG_ERR_ARG, "optim group: %d parameters (need at least 1)", params ? n : 0);
    for (int k = 0; k < n; k++) {
        int i = params[k] ? param_index(o, params[k]) : -1;
        if (i < 0)
            return tg_error_set(err, TG_ERR_ARG, "optim group: parameter %d (%s) is not one of the optimizer's", k,
                                params[k] ? params[k]->name : "NULL");
        if (o->group_of[i] != 0)
            return tg_error_set(err, TG_ERR_ARG, "optim group: parameter %s is already in group %d", params[k]->name,
                                o->group_of[i]);
        for (int j = 0; j < k; j++)
            if (params[j] == params[k])
                return tg_error_set(err, TG_ERR_ARG, "optim group: parameter %s is listed twice (%d and %d)",
                                    params[k]->name, j, k);
    }
    return TG_OK;
}

int tg_optim_add_group(tg_optimizer *o, tg_param *const *params, int n_params, tg_opt_group g, tg_error *err)
{
    int rc = check_group(o, params, n_params, g, err);
    if (rc)
        return rc;
    tg_opt_group *groups = realloc(o->groups, (size_t)(o->n_groups + 1) * sizeof *groups);
    if (!groups)
        return tg_error_set(err, TG_ERR_NOMEM, "optim group: cannot allocate group %d", o->n_groups + 1);
    o->groups = groups;
    o->groups[o->n_groups++] = g;
    for (int k = 0; k < n_params; k++)
        o->group_of[param_index(o, params[k])] = o->n_groups;
    return TG_OK;
}

int tg_optim_no_decay_1d(tg_optimizer *o, tg_error *err)
{
    if (!o || !o->params)
        return tg_error_set(err, TG_ERR_STATE, "optim: a group for an optimizer that is not initialized");
    tg_param **chosen = malloc((size_t)o->n_params * sizeof *chosen);
    if (!chosen)
        return tg_error_set(err, TG_ERR_NOMEM, "optim: cannot allocate %d parameter pointers", o->n_params);
    int n = 0;
    for (int i = 0; i < o->n_params; i++)
        if (o->params[i]->value.ndim <= 1 && o->group_of[i] == 0)
            chosen[n++] = o->params[i];
    int rc = n ? tg_optim_add_group(o, chosen, n, (tg_opt_group){.lr_scale = 1.0f, .weight_decay = 0.0f}, err)
               : TG_OK;
    free(chosen);
    return rc;
}

int tg_optim_set_schedule(tg_optimizer *o, const tg_schedule *s, tg_error *err)
{
    if (!o || !o->params)
        return tg_error_set(err, TG_ERR_STATE, "optim: a schedule for an optimizer that is not initialized");
    int rc = s ? tg_schedule_check(s, err) : TG_OK;
    if (rc)
        return rc;
    o->scheduled = s != NULL;
    if (s)
        o->schedule = *s;
    return TG_OK;
}

/* Group g's rate for step t + 1: its base cfg.lr·lr_scale (exactly cfg.lr for group 0), through the
 * schedule if there is one. */
static float group_lr(const tg_optimizer *o, int g, long t)
{
    double base = g == 0 ? (double)o->cfg.lr : (double)o->cfg.lr * (double)o->groups[g - 1].lr_scale;
    return (float)(o->scheduled ? tg_schedule_lr(&o->schedule, base, t) : base);
}

float tg_optim_lr(const tg_optimizer *o, int group)
{
    if (!o || !o->params || group < 0 || group > o->n_groups)
        return -1.0f;
    return group_lr(o, group, o->step);
}

/* ---- gradients -------------------------------------------------------------------------- */

static double grad_sum_of_squares(const tg_param *p)
{
    double s = 0.0;
    for (size_t i = 0; i < p->grad.size; i++)
        s += (double)p->grad.data[i] * (double)p->grad.data[i];
    return s;
}

double tg_optim_grad_norm(const tg_optimizer *o)
{
    double s = 0.0;
    for (int i = 0; i < o->n_params; i++)
        s += grad_sum_of_squares(o->params[i]);
    return sqrt(s);
}

/* TG_ERR_NUMERIC naming the first non-finite gradient element: the slow scan, run only after
 * the fast check (tg_floats_finite, in optim_step) found one. */
static int report_non_finite(const tg_optimizer *o, tg_error *err)
{
    for (int i = 0; i < o->n_params; i++) {
        const tg_param *p = o->params[i];
        for (size_t j = 0; j < p->grad.size; j++)
            if (!isfinite(p->grad.data[j]))
                return tg_error_set(err, TG_ERR_NUMERIC,
                                    "optim %s step %ld: gradient of %s is %g at element %zu; nothing updated",
                                    tg_opt_kind_name(o->cfg.kind), o->step + 1, p->name, p->grad.data[j], j);
    }
    return tg_error_set(err, TG_ERR_NUMERIC, "optim: a gradient is not finite; nothing updated");
}

/* The factor all gradients are multiplied by: min(1, clip_norm / (‖G‖ + 1e-6)), as
 * torch.nn.utils.clip_grad_norm_ computes it; exactly 1 when clipping is off or not needed. */
static float clip_scale(const tg_optimizer *o)
{
    if (o->cfg.clip_norm == 0.0f)
        return 1.0f;
    double coef = (double)o->cfg.clip_norm / (tg_optim_grad_norm(o) + CLIP_NORM_EPS);
    return coef < 1.0 ? (float)coef : 1.0f;
}

/* ---- a step: the check, then the update rules (optim_rules.h), one parallel loop each ---- */

/* Below this many elements in all, threads cost more than they save; the 784-64-784 CAE
 * (101,200 parameters) is above it and gains (docs/performance.md). */
#define OPTIM_PARALLEL_MIN 65536
/* Runs start on 64-byte boundaries, so no cache line is written by two threads. */
#define OPTIM_RUN_ALIGN 16

size_t tg_optim_parts(size_t elements) { return elements >= OPTIM_PARALLEL_MIN ? (size_t)tg_get_threads() : 1; }

void tg_optim_chunk_run(const tg_optimizer *o, size_t parts, size_t chunk, int *param, size_t *lo, size_t *hi)
{
    const size_t n_params = (size_t)o->n_params, part = chunk / n_params;
    *param = (int)(chunk % n_params);
    const size_t n = o->params[*param]->value.size;
    *lo = n * part / parts / OPTIM_RUN_ALIGN * OPTIM_RUN_ALIGN;
    *hi = part + 1 == parts ? n : n * (part + 1) / parts / OPTIM_RUN_ALIGN * OPTIM_RUN_ALIGN;
}

/* A step's work as one parallel loop: each parameter cut into `parts` contiguous runs, chunk
 * c = run c / n_params of parameter c % n_params.  With parts = the thread count,
 * tg_parallel_for gives thread t the chunks [t·n_params, (t+1)·n_params): run t of every
 * parameter, the same part of each as the products' row split gives it, so a thread mostly
 * updates gradient and weight rows its own core wrote or will read.  (Threads given whole
 * parameters traded cache lines, and two threads were hardly faster than one.)  One loop for all the
 * parameters, and one for the check before it, instead of one per parameter and a check on
 * the calling thread: each loop costs a hand-off and a wait, and batch 32 takes 1875 steps an
 * epoch.  Elementwise work: the bits do not depend on the split. */
typedef struct step_job {
    tg_optimizer *o;
    size_t parts;
    float grad_scale;
    double bc1, bc2; /* Adam and AdamW: 1 - beta1^t, 1 - beta2^t */
    bool zero_grads;
    atomic_bool non_finite; /* the check: some gradient element is inf or NaN */
} step_job;

typedef void (*run_fn)(step_job *job, int param, size_t lo, size_t hi);

static void for_runs(size_t c0, size_t c1, step_job *job, run_fn fn)
{
    for (size_t c = c0; c < c1; c++) {
        int param;
        size_t lo, hi;
        tg_optim_chunk_run(job->o, job->parts, c, &param, &lo, &hi);
        if (lo < hi)
            fn(job, param, lo, hi);
    }
}

static void check_run(step_job *job, int param, size_t lo, size_t hi)
{
    if (!tg_floats_finite(job->o->params[param]->grad.data + lo, hi - lo))
        atomic_store_explicit(&job->non_finite, true, memory_order_relaxed);
}

/* The update walks a run in blocks of UPDATE_BLOCK elements and, before each, claims the
 * weights CLAIM_AHEAD elements on for writing (tensor/cache_hints.h): the products' threads
 * read every weight since the last step, so most lines this thread writes are also in another
 * core's cache (two threads' Adam over such weights: docs/performance.md, sixth session). */
enum { UPDATE_BLOCK = 256, CLAIM_AHEAD = 512 };

/* Updates elements [lo, hi) of one parameter and, if asked, zeroes their gradient in the same
 * pass (which saves the training loop one; a memset after the update cost a third as much as
 * the update itself). */
static void update_run(step_job *job, int i, size_t lo, size_t hi)
{
    tg_optimizer *o = job->o;
    const int group = o->group_of[i];
    const step_settings set = {.lr = group_lr(o, group, o->step - 1),
                               .wd = group ? o->groups[group - 1].weight_decay : o->cfg.weight_decay};
    const adam_factors factors = is_adam(o->cfg.kind) ? tg_adam_factors_for(o->cfg.kind, set, job->bc1, job->bc2)
                                                      : (adam_factors){0};
    tg_param *p = o->params[i];
    float *buf = o->m ? o->m[i].data : NULL;
    for (size_t b = lo; b < hi; b += UPDATE_BLOCK) {
        const size_t e = hi - b > UPDATE_BLOCK ? b + UPDATE_BLOCK : hi;
        if (hi - b > CLAIM_AHEAD) { /* the block CLAIM_AHEAD on, cut at the run's end */
            const size_t ahead = b + CLAIM_AHEAD;
            tg_claim_for_write(p->value.data + ahead, hi - ahead < UPDATE_BLOCK ? hi - ahead : UPDATE_BLOCK);
        }
        if (is_adam(o->cfg.kind))
            tg_adam_update(&o->cfg, p, &o->m[i], &o->v[i], job->grad_scale, factors, job->zero_grads, b, e);
        else if (o->cfg.kind == TG_OPT_RMSPROP)
            tg_rmsprop_update(&o->cfg, set, p, o->v[i].data, buf, o->grad_avg ? o->grad_avg[i].data : NULL,
                              job->grad_scale, job->zero_grads, b, e);
        else
            tg_sgd_update(&o->cfg, set, p, o->m ? &o->m[i] : NULL, job->grad_scale, job->zero_grads, b, e);
    }
}

static void check_chunks(size_t c0, size_t c1, void *ctx) { for_runs(c0, c1, ctx, check_run); }
/* Subnormals flushed: a moment decays by beta (or momentum) each step its gradient is zero and
 * would otherwise spend hundreds of steps as a slow subnormal.  What the flush changes is below
 * FLT_MIN: the moments' stored values, and updates a billion billion times smaller than eps. */
static void update_chunks(size_t c0, size_t c1, void *ctx)
{
    tg_fp_mode saved = tg_subnormals_flush();
    for_runs(c0, c1, ctx, update_run);
    tg_subnormals_restore(saved);
}

static int optim_step(tg_optimizer *o, bool zero_grads, tg_error *err)
{
    if (!o || !o->params)
        return tg_error_set(err, TG_ERR_STATE, "optim: step on an optimizer that is not initialized");
    size_t elements = 0;
    for (int i = 0; i < o->n_params; i++)
        elements += o->params[i]->value.size;
    step_job job = {.o = o, .zero_grads = zero_grads};
    job.parts = tg_optim_parts(elements);
    const size_t chunks = job.parts * (size_t)o->n_params;
    /* Check everything first, so a bad gradient leaves every parameter as it was; the same
     * split as the update, so each thread's check brings in what it will update. */
    atomic_init(&job.non_finite, false);
    tg_parallel_for(chunks, 1, check_chunks, &job);
    if (atomic_load(&job.non_finite))
        return report_non_finite(o, err);
    o->step++;
    job.grad_scale = clip_scale(o);
    if (is_adam(o->cfg.kind)) {
        job.bc1 = 1.0 - pow((double)o->cfg.beta1, (double)o->step);
        job.bc2 = 1.0 - pow((double)o->cfg.beta2, (double)o->step);
    }
    tg_parallel_for(chunks, 1, update_chunks, &job);
    return TG_OK;
}

int tg_optim_step(tg_optimizer *o, tg_error *err) { return optim_step(o, false, err); }
int tg_optim_step_zero_grad(tg_optimizer *o, tg_error *err) { return optim_step(o, true, err); }

/* ---- state for checkpoints -------------------------------------------------------------- */

/* A parameter's state tensors in checkpoint order: m, v, grad_avg, those it has. */
typedef enum { SLOT_M, SLOT_V, SLOT_GRAD_AVG } state_slot;

static int slots_per_param(const tg_optimizer *o)
{
    return (o->m != NULL) + (o->v != NULL) + (o->grad_avg != NULL);
}

/* The slot of the k-th state tensor and its parameter; false when k is out of range. */
static bool find_slot(const tg_optimizer *o, int k, state_slot *slot, int *param)
{
    int per = slots_per_param(o);
    if (k < 0 || per == 0 || k >= per * o->n_params)
        return false;
    *param = k / per;
    int j = k % per;
    if (!o->m)
        j++;
    if (j >= SLOT_V && !o->v)
        j++;
    *slot = (state_slot)j;
    return true;
}

/* The names of a slot, as PyTorch's state keys where it has a short one. */
static const char *slot_name(tg_opt_kind kind, state_slot slot)
{
    switch (slot) {
    case SLOT_M: return is_adam(kind) ? "m" : "momentum";
    case SLOT_V: return kind == TG_OPT_RMSPROP ? "square_avg" : "v";
    case SLOT_GRAD_AVG: return "grad_avg";
    }
    return "?";
}

int tg_optim_state_count(const tg_optimizer *o)
{
    return slots_per_param(o) * o->n_params;
}

tg_tensor *tg_optim_state_tensor(tg_optimizer *o, int k, char name[TG_OPT_STATE_NAME_MAX])
{
    state_slot slot;
    int i;
    if (!find_slot(o, k, &slot, &i))
        return NULL;
    if (name)
        snprintf(name, TG_OPT_STATE_NAME_MAX, "%s.%s/%s", tg_opt_kind_name(o->cfg.kind), slot_name(o->cfg.kind, slot),
                 o->params[i]->name);
    return slot == SLOT_M ? &o->m[i] : slot == SLOT_V ? &o->v[i] : &o->grad_avg[i];
}

bool tg_optim_state_nonnegative(const tg_optimizer *o, int k)
{
    state_slot slot;
    int i;
    return find_slot(o, k, &slot, &i) && slot == SLOT_V;
}

const char *tg_optim_step_name(const tg_optimizer *o)
{
    static const char *const names[] = {"sgd.step", "adam.step", "adamw.step", "rmsprop.step"};
    int k = (int)o->cfg.kind;
    return k >= 0 && k < N_KINDS ? names[k] : "unknown.step";
}
