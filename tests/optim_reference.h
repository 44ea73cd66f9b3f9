/* tests/optim_reference.h — what the tests of nn/optim.c and nn/schedule.c share: the updates of
 * SGD, Adam, AdamW and RMSprop written out in double from PyTorch's documentation (the algorithm
 * boxes of torch.optim.SGD, Adam, AdamW and RMSprop), nothing taken from the code under test, and a
 * fixed small problem on which a run of the library is compared with them step by step.
 *
 * The problem: two parameters, "w" (6 elements) and "b" (3), and the gradient of
 *     f = Σ c_e/2 · (p_e − target_e)²,   plus a drift 0.5·sin(0.7·s + 1.3·e + j) at step s
 * (so the gradient never settles and every term of every update keeps mattering), evaluated at the
 * reference's parameters and rounded to float: the library and the reference see the same
 * gradients.  The hyperparameters the reference uses are the library's floats, widened.  Targets
 * and starting points are positive and apart from 0, so a relative tolerance means what it says.
 *
 * Everything here is static inline, so a test file uses what it needs without warnings. */
#ifndef TG_TESTS_OPTIM_REFERENCE_H
#define TG_TESTS_OPTIM_REFERENCE_H

#include <criterion/criterion.h>

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "nn/optim.h"

enum { REF_PARAMS = 2, REF_MAX = 6 };

static const char *const REF_NAMES[REF_PARAMS] = {"w", "b"};
static const size_t REF_SIZE[REF_PARAMS] = {6, 3};
static const double REF_P0[REF_PARAMS][REF_MAX] = {{1.0, 1.5, 2.0, 2.5, 3.0, 1.25}, {2.0, 1.5, 3.0}};
static const double REF_TARGET[REF_PARAMS][REF_MAX] = {{3.0, 2.0, 4.0, 2.5, 5.0, 3.5}, {1.5, 4.0, 2.0}};
static const double REF_CURVE[REF_PARAMS][REF_MAX] = {{1.0, 0.5, 2.0, 1.0, 0.25, 4.0}, {1.0, 3.0, 0.5}};

/* The reference's state of one parameter: p, and the optimizer's buffers as PyTorch names them. */
typedef struct ref_param {
    double p[REF_MAX];
    double buf[REF_MAX];      /* SGD, RMSprop: momentum_buffer */
    double exp_avg[REF_MAX];  /* Adam, AdamW: m */
    double sq[REF_MAX];       /* Adam, AdamW: v (exp_avg_sq); RMSprop: square_avg */
    double grad_avg[REF_MAX]; /* RMSprop centered */
} ref_param;

/* The gradient of parameter j at step s (1-based) at the reference's p, rounded to float. */
static inline void ref_gradient(const ref_param *r, int j, long s, float *g)
{
    for (size_t e = 0; e < REF_SIZE[j]; e++)
        g[e] = (float)(REF_CURVE[j][e] * (r->p[e] - REF_TARGET[j][e]) + 0.5 * sin(0.7 * (double)s + 1.3 * (double)e + j));
}

/* One step t (1-based) of cfg's optimizer on one parameter of n elements, with gradient g, rate lr
 * and weight decay wd (the parameter's group's), from PyTorch's documented algorithms. */
static inline void ref_step(const tg_opt_config *cfg, ref_param *r, const float *grad, size_t n, double lr, double wd,
                            long t)
{
    const double mu = cfg->momentum, b1 = cfg->beta1, b2 = cfg->beta2, eps = cfg->eps, alpha = cfg->alpha;
    for (size_t i = 0; i < n; i++) {
        double g = grad[i];
        double *p = &r->p[i];
        switch (cfg->kind) {
        case TG_OPT_SGD:
            g += wd * *p;
            if (mu != 0) {
                r->buf[i] = t == 1 ? g : mu * r->buf[i] + g;
                g = cfg->nesterov ? g + mu * r->buf[i] : r->buf[i];
            }
            *p -= lr * g;
            break;
        case TG_OPT_ADAM:
        case TG_OPT_ADAMW:
            if (cfg->kind == TG_OPT_ADAMW)
                *p -= lr * wd * *p; /* θ ← θ − γλθ */
            else
                g += wd * *p;
            r->exp_avg[i] = b1 * r->exp_avg[i] + (1 - b1) * g;
            r->sq[i] = b2 * r->sq[i] + (1 - b2) * g * g;
            *p -= lr * (r->exp_avg[i] / (1 - pow(b1, (double)t))) / (sqrt(r->sq[i] / (1 - pow(b2, (double)t))) + eps);
            break;
        case TG_OPT_RMSPROP: {
            g += wd * *p;
            r->sq[i] = alpha * r->sq[i] + (1 - alpha) * g * g;
            double v = r->sq[i];
            if (cfg->centered) {
                r->grad_avg[i] = alpha * r->grad_avg[i] + (1 - alpha) * g;
                v -= r->grad_avg[i] * r->grad_avg[i];
            }
            if (mu > 0) {
                r->buf[i] = mu * r->buf[i] + g / (sqrt(v) + eps);
                *p -= lr * r->buf[i];
            } else {
                *p -= lr * g / (sqrt(v) + eps);
            }
            break;
        }
        }
    }
}

/* A run to compare: the library's configuration, "b" in a group of its own or not, a schedule for
 * the library and the reference's own formula for it (NULL: constant rate). */
typedef struct ref_setup {
    tg_opt_config cfg;
    bool bias_group;
    tg_opt_group group;
    const tg_schedule *schedule;
    double (*ref_lr)(double base_lr, long t); /* the rate of step t + 1 */
} ref_setup;

/* The library's side of a run: the parameters and the optimizer over them. */
typedef struct ref_lib {
    tg_param p[REF_PARAMS];
    tg_param *ps[REF_PARAMS];
    tg_optimizer o;
} ref_lib;

/* Sets up the optimizer of `s` over l->ps (already made): groups, then the schedule. */
static inline void ref_lib_optim(ref_lib *l, const ref_setup *s)
{
    tg_error err = {0};
    cr_assert_eq(tg_optim_init(&l->o, &s->cfg, l->ps, REF_PARAMS, &err), TG_OK, "%s", err.msg);
    if (s->bias_group)
        cr_assert_eq(tg_optim_add_group(&l->o, &l->ps[1], 1, s->group, &err), TG_OK, "%s", err.msg);
    if (s->schedule)
        cr_assert_eq(tg_optim_set_schedule(&l->o, s->schedule, &err), TG_OK, "%s", err.msg);
}

static inline void ref_lib_init(ref_lib *l, const ref_setup *s)
{
    for (int j = 0; j < REF_PARAMS; j++) {
        cr_assert_eq(tg_param_init(&l->p[j], REF_NAMES[j], 1, (size_t[]){REF_SIZE[j]}, NULL), TG_OK);
        for (size_t e = 0; e < REF_SIZE[j]; e++)
            l->p[j].value.data[e] = (float)REF_P0[j][e];
        l->ps[j] = &l->p[j];
    }
    ref_lib_optim(l, s);
}

static inline void ref_lib_free(ref_lib *l)
{
    tg_optim_free(&l->o);
    for (int j = 0; j < REF_PARAMS; j++)
        tg_param_free(&l->p[j]);
}

static inline void ref_init(ref_param r[REF_PARAMS])
{
    memset(r, 0, REF_PARAMS * sizeof *r);
    for (int j = 0; j < REF_PARAMS; j++)
        memcpy(r[j].p, REF_P0[j], REF_SIZE[j] * sizeof(double));
}

/* The reference's rate and decay for parameter j at step t (1-based). */
static inline void ref_settings(const ref_setup *s, int j, long t, double *lr, double *wd)
{
    bool grouped = s->bias_group && j == 1;
    double base = (double)s->cfg.lr * (grouped ? (double)s->group.lr_scale : 1.0);
    *lr = s->ref_lr ? s->ref_lr(base, t - 1) : base;
    *wd = grouped ? (double)s->group.weight_decay : (double)s->cfg.weight_decay;
}

/* |got − want| <= rel·|want|, element by element; the largest relative error seen goes to *worst. */
static inline void ref_assert_rel(const float *got, const double *want, size_t n, double rel, double *worst,
                                  const char *what, const char *name, long t)
{
    for (size_t e = 0; e < n; e++) {
        double err = fabs((double)got[e] - want[e]) / fabs(want[e]);
        if (err > *worst)
            *worst = err;
        cr_assert(err <= rel, "%s: step %ld: %s[%zu] = %.9g, reference %.9g (relative error %.2e)", what, t, name, e,
                  (double)got[e], want[e], err);
    }
}

/* The library's state of parameter j against the reference's, within rel of the largest element
 * of each buffer (a moment may cross 0). */
static inline void ref_assert_state(const tg_optimizer *o, const ref_param *r, int j, double rel, const char *what)
{
    const struct {
        const tg_tensor *mine;
        const double *want;
        const char *name;
    } bufs[] = {
        {o->m ? &o->m[j] : NULL, o->cfg.kind == TG_OPT_ADAM || o->cfg.kind == TG_OPT_ADAMW ? r->exp_avg : r->buf, "m"},
        {o->v ? &o->v[j] : NULL, r->sq, "v"},
        {o->grad_avg ? &o->grad_avg[j] : NULL, r->grad_avg, "grad_avg"},
    };
    for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; k++) {
        if (!bufs[k].mine)
            continue;
        double scale = 0;
        for (size_t e = 0; e < REF_SIZE[j]; e++)
            scale = fmax(scale, fabs(bufs[k].want[e]));
        for (size_t e = 0; e < REF_SIZE[j]; e++)
            cr_assert(fabs((double)bufs[k].mine->data[e] - bufs[k].want[e]) <= rel * scale,
                      "%s: %s of %s[%zu] = %.9g, reference %.9g", what, bufs[k].name, REF_NAMES[j], e,
                      (double)bufs[k].mine->data[e], bufs[k].want[e]);
    }
}

/* Runs `steps` steps of the library and of the reference side by side, asserting after each that
 * every parameter element is within `rel` (relative) of the reference, and at the end that the
 * state is too; returns the largest relative error of a parameter element. */
static inline double ref_compare_run(const ref_setup *s, int steps, double rel, const char *what)
{
    ref_lib l;
    ref_lib_init(&l, s);
    ref_param r[REF_PARAMS];
    ref_init(r);
    double worst = 0;
    for (long t = 1; t <= steps; t++) {
        for (int j = 0; j < REF_PARAMS; j++) {
            double lr, wd;
            ref_settings(s, j, t, &lr, &wd);
            cr_assert(fabs((double)tg_optim_lr(&l.o, s->bias_group ? j : 0) - lr) <= 1e-6 * lr,
                      "%s: step %ld: tg_optim_lr %.9g, reference rate %.9g", what, t,
                      (double)tg_optim_lr(&l.o, s->bias_group ? j : 0), lr);
            ref_gradient(&r[j], j, t, l.p[j].grad.data);
            ref_step(&s->cfg, &r[j], l.p[j].grad.data, REF_SIZE[j], lr, wd, t);
        }
        tg_error err = {0};
        cr_assert_eq(tg_optim_step(&l.o, &err), TG_OK, "%s: step %ld: %s", what, t, err.msg);
        for (int j = 0; j < REF_PARAMS; j++)
            ref_assert_rel(l.p[j].value.data, r[j].p, REF_SIZE[j], rel, &worst, what, REF_NAMES[j], t);
    }
    for (int j = 0; j < REF_PARAMS; j++)
        ref_assert_state(&l.o, &r[j], j, rel, what);
    ref_lib_free(&l);
    return worst;
}

#endif
