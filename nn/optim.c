/* nn/optim.c — SGD and Adam (formulas and state in optim.h). */
#include "optim.h"

#include "tensor/parallel.h"
#include "tensor/vmath.h"

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
    if (kind == TG_OPT_ADAM) {
        c.lr = 1e-3f;
        c.beta1 = 0.9f;
        c.beta2 = 0.999f;
        c.eps = 1e-8f;
    } else {
        c.lr = 0.01f;
        c.momentum = 0.0f;
    }
    return c;
}

const char *tg_opt_kind_name(tg_opt_kind kind)
{
    switch (kind) {
    case TG_OPT_SGD: return "sgd";
    case TG_OPT_ADAM: return "adam";
    }
    return "unknown";
}

int tg_opt_kind_parse(const char *name)
{
    if (name && strcmp(name, "sgd") == 0)
        return TG_OPT_SGD;
    if (name && strcmp(name, "adam") == 0)
        return TG_OPT_ADAM;
    return -1;
}

/* ---- validation ------------------------------------------------------------------------- */

/* x in [0, 1); false for NaN too. */
static bool in_unit_interval(float x)
{
    return x >= 0.0f && x < 1.0f;
}

static int check_config(const tg_opt_config *c, tg_error *err)
{
    if (c->kind != TG_OPT_SGD && c->kind != TG_OPT_ADAM)
        return tg_error_set(err, TG_ERR_ARG, "optim: kind = %d is not sgd (%d) or adam (%d)", (int)c->kind,
                            TG_OPT_SGD, TG_OPT_ADAM);
    const char *k = tg_opt_kind_name(c->kind);
    if (!(isfinite(c->lr) && c->lr > 0.0f))
        return tg_error_set(err, TG_ERR_ARG, "optim %s: lr = %g (must be finite and > 0)", k, c->lr);
    if (!(isfinite(c->weight_decay) && c->weight_decay >= 0.0f))
        return tg_error_set(err, TG_ERR_ARG, "optim %s: weight_decay = %g (must be finite and >= 0)", k,
                            c->weight_decay);
    if (!(isfinite(c->clip_norm) && c->clip_norm >= 0.0f))
        return tg_error_set(err, TG_ERR_ARG, "optim %s: clip_norm = %g (must be finite and >= 0; 0 = off)", k,
                            c->clip_norm);
    if (c->kind == TG_OPT_SGD) {
        if (!in_unit_interval(c->momentum))
            return tg_error_set(err, TG_ERR_ARG, "optim sgd: momentum = %g (must be in [0, 1))", c->momentum);
        if (c->nesterov && c->momentum == 0.0f)
            return tg_error_set(err, TG_ERR_ARG, "optim sgd: nesterov needs momentum > 0 (momentum = 0)");
    } else {
        if (!in_unit_interval(c->beta1))
            return tg_error_set(err, TG_ERR_ARG, "optim adam: beta1 = %g (must be in [0, 1))", c->beta1);
        if (!in_unit_interval(c->beta2))
            return tg_error_set(err, TG_ERR_ARG, "optim adam: beta2 = %g (must be in [0, 1))", c->beta2);
        if (!(isfinite(c->eps) && c->eps > 0.0f))
            return tg_error_set(err, TG_ERR_ARG, "optim adam: eps = %g (must be finite and > 0)", c->eps);
    }
    return TG_OK;
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

    bool needs_m = cfg->kind == TG_OPT_ADAM || cfg->momentum > 0.0f;
    bool needs_v = cfg->kind == TG_OPT_ADAM;
    if (needs_m)
        rc = alloc_state(&o->m, params, n_params, err);
    if (rc == TG_OK && needs_v)
        rc = alloc_state(&o->v, params, n_params, err);
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
    }
    o->step = 0;
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

/* Whether g[0..n) holds a NaN or Inf: an all-ones exponent, tested on the bits with an OR
 * reduction so the loop vectorizes (an early-exit isfinite() loop does not). */
TG_VECTORIZE static bool any_non_finite(const float *g, size_t n)
{
    uint32_t all_ones_seen = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &g[i], sizeof bits);
        all_ones_seen |= (uint32_t)((bits & 0x7f800000u) == 0x7f800000u);
    }
    return all_ones_seen != 0;
}

/* TG_ERR_NUMERIC naming the first non-finite gradient element: the slow scan, run only after
 * the fast check (any_non_finite, in optim_step) found one. */
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

/* ---- updates ---------------------------------------------------------------------------- */

/* SGD on elements [lo, hi) of one parameter; buf is NULL without momentum.  w, g, buf: [n] (flat).
 * With zero_grad, also sets the gradient to zero once read (in the same pass, while in cache). */
TG_VECTORIZE static void sgd_update(const tg_opt_config *c, tg_param *p, tg_tensor *buf, float grad_scale,
                                    bool zero_grad, size_t lo, size_t hi)
{
    float *restrict w = p->value.data;
    float *restrict g = p->grad.data;
    float *restrict b = buf ? buf->data : NULL;
    const float lr = c->lr, mu = c->momentum, wd = c->weight_decay;
    for (size_t i = lo; i < hi; i++) {
        float d = grad_scale * g[i] + wd * w[i];
        if (zero_grad)
            g[i] = 0.0f;
        if (b) {
            b[i] = mu * b[i] + d;
            /* Nesterov: step along the gradient plus the look-ahead of the updated velocity. */
            d = c->nesterov ? d + mu * b[i] : b[i];
        }
        w[i] -= lr * d;
    }
}

/* The bias corrections of Adam step t, computed once per step in double. */
typedef struct {
    float step_size;    /* lr / (1 - beta1^t) */
    float inv_sqrt_bc2; /* 1 / sqrt(1 - beta2^t) */
} adam_corrections;

static adam_corrections adam_corrections_for(const tg_opt_config *c, long t)
{
    double bc1 = 1.0 - pow((double)c->beta1, (double)t);
    double bc2 = 1.0 - pow((double)c->beta2, (double)t);
    return (adam_corrections){.step_size = (float)((double)c->lr / bc1), .inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2))};
}

/* Adam on elements [lo, hi) of one parameter, one fused pass over w, g, m, v: [n] (flat).
 * lr·m̂/(sqrt(v̂)+eps) is computed as (lr/bc1)·m / (sqrt(v)·(1/sqrt(bc2)) + eps), PyTorch's
 * arrangement except that its division by sqrt(bc2) is a multiplication by the inverse (within
 * an ulp of it): the divider is this loop's bottleneck, so one division fewer per element is a
 * fifth of the update (docs/performance.md). */
TG_VECTORIZE_DIVIDES static void adam_update(const tg_opt_config *c, tg_param *p, tg_tensor *m_t, tg_tensor *v_t,
                                             float grad_scale, adam_corrections bc, bool zero_grad, size_t lo, size_t hi)
{
    /* restrict: value, grad and the moments are distinct buffers, which lets the loop vectorize. */
    float *restrict w = p->value.data;
    float *restrict g = p->grad.data;
    float *restrict m = m_t->data, *restrict v = v_t->data;
    const float b1 = c->beta1, b2 = c->beta2, eps = c->eps, wd = c->weight_decay;
    const float one_minus_b1 = 1.0f - b1, one_minus_b2 = 1.0f - b2;
    for (size_t i = lo; i < hi; i++) {
        float d = grad_scale * g[i] + wd * w[i];
        if (zero_grad)
            g[i] = 0.0f;
        m[i] = b1 * m[i] + one_minus_b1 * d;
        v[i] = b2 * v[i] + one_minus_b2 * (d * d);
        float denom = sqrtf(v[i]) * bc.inv_sqrt_bc2 + eps;
        w[i] -= bc.step_size * m[i] / denom;
    }
}

/* Below this many elements in all, threads cost more than they save; the 784-64-784 CAE
 * (101,200 parameters) is above it and gains (docs/performance.md). */
#define OPTIM_PARALLEL_MIN 65536
/* Runs start on 64-byte boundaries, so no cache line is written by two threads. */
#define OPTIM_RUN_ALIGN 16

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
    adam_corrections bc;
    bool zero_grads;
    atomic_bool non_finite; /* the check: some gradient element is inf or NaN */
} step_job;

/* Elements [lo, hi) of run `part` of a parameter of n elements. */
static void run_bounds(size_t n, size_t parts, size_t part, size_t *lo, size_t *hi)
{
    *lo = n * part / parts / OPTIM_RUN_ALIGN * OPTIM_RUN_ALIGN;
    *hi = part + 1 == parts ? n : n * (part + 1) / parts / OPTIM_RUN_ALIGN * OPTIM_RUN_ALIGN;
}

typedef void (*run_fn)(step_job *job, int param, size_t lo, size_t hi);

static void for_runs(size_t c0, size_t c1, step_job *job, run_fn fn)
{
    const size_t n_params = (size_t)job->o->n_params;
    for (size_t c = c0; c < c1; c++) {
        int param = (int)(c % n_params);
        size_t lo, hi;
        run_bounds(job->o->params[param]->value.size, job->parts, c / n_params, &lo, &hi);
        if (lo < hi)
            fn(job, param, lo, hi);
    }
}

static void check_run(step_job *job, int param, size_t lo, size_t hi)
{
    if (any_non_finite(job->o->params[param]->grad.data + lo, hi - lo))
        atomic_store_explicit(&job->non_finite, true, memory_order_relaxed);
}

/* Updates elements [lo, hi) of one parameter and, if asked, zeroes their gradient in the same
 * pass (which saves the training loop one; a memset after the update cost a third as much as
 * the update itself). */
static void update_run(step_job *job, int i, size_t lo, size_t hi)
{
    tg_optimizer *o = job->o;
    if (o->cfg.kind == TG_OPT_ADAM)
        adam_update(&o->cfg, o->params[i], &o->m[i], &o->v[i], job->grad_scale, job->bc, job->zero_grads, lo, hi);
    else
        sgd_update(&o->cfg, o->params[i], o->m ? &o->m[i] : NULL, job->grad_scale, job->zero_grads, lo, hi);
}

static void check_chunks(size_t c0, size_t c1, void *ctx) { for_runs(c0, c1, ctx, check_run); }
static void update_chunks(size_t c0, size_t c1, void *ctx) { for_runs(c0, c1, ctx, update_run); }

static int optim_step(tg_optimizer *o, bool zero_grads, tg_error *err)
{
    if (!o || !o->params)
        return tg_error_set(err, TG_ERR_STATE, "optim: step on an optimizer that is not initialized");
    size_t elements = 0;
    for (int i = 0; i < o->n_params; i++)
        elements += o->params[i]->value.size;
    step_job job = {.o = o, .zero_grads = zero_grads};
    job.parts = elements >= OPTIM_PARALLEL_MIN ? (size_t)tg_get_threads() : 1;
    const size_t chunks = job.parts * (size_t)o->n_params;
    /* Check everything first, so a bad gradient leaves every parameter as it was; the same
     * split as the update, so each thread's check brings in what it will update. */
    atomic_init(&job.non_finite, false);
    tg_parallel_for(chunks, 1, check_chunks, &job);
    if (atomic_load(&job.non_finite))
        return report_non_finite(o, err);
    o->step++;
    job.grad_scale = clip_scale(o);
    if (o->cfg.kind == TG_OPT_ADAM)
        job.bc = adam_corrections_for(&o->cfg, o->step);
    tg_parallel_for(chunks, 1, update_chunks, &job);
    return TG_OK;
}

int tg_optim_step(tg_optimizer *o, tg_error *err) { return optim_step(o, false, err); }
int tg_optim_step_zero_grad(tg_optimizer *o, tg_error *err) { return optim_step(o, true, err); }

/* ---- state for checkpoints -------------------------------------------------------------- */

int tg_optim_state_count(const tg_optimizer *o)
{
    return (o->m ? o->n_params : 0) + (o->v ? o->n_params : 0);
}

tg_tensor *tg_optim_state_tensor(tg_optimizer *o, int k, char name[TG_OPT_STATE_NAME_MAX])
{
    if (k < 0 || k >= tg_optim_state_count(o))
        return NULL;
    if (o->cfg.kind == TG_OPT_ADAM) {
        int i = k / 2;
        bool second = k % 2 == 1;
        if (name)
            snprintf(name, TG_OPT_STATE_NAME_MAX, "adam.%s/%s", second ? "v" : "m", o->params[i]->name);
        return second ? &o->v[i] : &o->m[i];
    }
    if (name)
        snprintf(name, TG_OPT_STATE_NAME_MAX, "sgd.momentum/%s", o->params[k]->name);
    return &o->m[k];
}

const char *tg_optim_step_name(const tg_optimizer *o)
{
    return o->cfg.kind == TG_OPT_ADAM ? "adam.step" : "sgd.step";
}
