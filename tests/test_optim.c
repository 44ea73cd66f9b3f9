/* tests/test_optim.c — the optimizers of nn/optim.c: SGD, Adam, AdamW and RMSprop against updates
 * computed here, independently, in double from the published formulas (PyTorch's torch.optim
 * documentation; the 100-step runs use optim_reference.h); parameter groups; clipping, rejected
 * gradients and configurations, the state a checkpoint saves and an exact resume from it, and
 * threaded updates. */
#include <criterion/criterion.h>

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/optim.h"
#include "nn/optim_rules.h"
#include "optim_reference.h"
#include "table_test.h"
#include "tensor/parallel.h"
#include "tensor/rng.h"

/* A 1-D parameter holding `values`, gradient zero. */
static void make_param(tg_param *p, const char *name, const double *values, size_t n)
{
    cr_assert_eq(tg_param_init(p, name, 1, (size_t[]){n}, NULL), TG_OK);
    for (size_t i = 0; i < n; i++)
        p->value.data[i] = (float)values[i];
}

static void set_grad(tg_param *p, const double *g)
{
    for (size_t i = 0; i < p->grad.size; i++)
        p->grad.data[i] = (float)g[i];
}

/* Parameters named, valued and with gradients as their specs say; ps[i] = &p[i]. */
typedef struct param_spec {
    const char *name;
    size_t n;
    double value[4], grad[4];
} param_spec;

static void make_params(tg_param *p, tg_param **ps, const param_spec *spec, int count)
{
    for (int i = 0; i < count; i++) {
        make_param(&p[i], spec[i].name, spec[i].value, spec[i].n);
        set_grad(&p[i], spec[i].grad);
        ps[i] = &p[i];
    }
}

static void free_params(tg_param *p, int count)
{
    for (int i = 0; i < count; i++)
        tg_param_free(&p[i]);
}

static void assert_close(const tg_param *p, const double *expected, double tol, const char *what)
{
    for (size_t i = 0; i < p->value.size; i++)
        cr_assert(fabs((double)p->value.data[i] - expected[i]) <= tol * (1.0 + fabs(expected[i])),
                  "%s: %s[%zu] = %.9g, expected %.9g", what, p->name, i, p->value.data[i], expected[i]);
}

static tg_optimizer make_optim(const tg_opt_config *cfg, tg_param **params, int n)
{
    tg_optimizer o;
    tg_error err = {0};
    cr_assert_eq(tg_optim_init(&o, cfg, params, n, &err), TG_OK, "%s", err.msg);
    return o;
}

/* Three steps of gradients for a 3-element parameter (signs and sizes vary). */
static const double P0[3] = {1.0, -2.0, 0.5};
static const double GRADS[3][3] = {{0.5, -1.0, 2.0}, {-0.25, 0.75, 1.0}, {2.0, 0.0, -3.0}};

/* ---- SGD -------------------------------------------------------------------------------- */

Test(optim, sgd_plain_matches_hand_computation)
{
    tg_param p, *pp = &p;
    make_param(&p, "w", P0, 3);
    tg_opt_config cfg = tg_opt_config_default(TG_OPT_SGD);
    cfg.lr = 0.1f;
    tg_optimizer o = make_optim(&cfg, &pp, 1);
    cr_assert_null(o.m, "plain SGD keeps no momentum buffer");

    /* p -= 0.1·g, written out by hand for the three steps. */
    static const double expected[3][3] = {
        {1.0 - 0.05, -2.0 + 0.1, 0.5 - 0.2},
        {0.95 + 0.025, -1.9 - 0.075, 0.3 - 0.1},
        {0.975 - 0.2, -1.975 - 0.0, 0.2 + 0.3},
    };
    for (int s = 0; s < 3; s++) {
        set_grad(&p, GRADS[s]);
        cr_assert_eq(tg_optim_step(&o, NULL), TG_OK);
        assert_close(&p, expected[s], 1e-6, "sgd");
    }
    cr_assert_eq(o.step, 3);
    tg_optim_free(&o);
    tg_param_free(&p);
}

/* Runs 3 SGD steps with momentum mu (and Nesterov or not) and compares with the reference:
 *   buf = mu·buf + g   (buf_1 = g);   p -= lr·buf,  or Nesterov: p -= lr·(g + mu·buf). */
static void check_sgd_momentum(bool nesterov)
{
    const double lr = 0.1, mu = 0.9;
    tg_param p, *pp = &p;
    make_param(&p, "w", P0, 3);
    tg_opt_config cfg = tg_opt_config_default(TG_OPT_SGD);
    cfg.lr = (float)lr;
    cfg.momentum = (float)mu;
    cfg.nesterov = nesterov;
    tg_optimizer o = make_optim(&cfg, &pp, 1);

    double ref[3], buf[3] = {0, 0, 0};
    memcpy(ref, P0, sizeof ref);
    for (int s = 0; s < 3; s++) {
        for (int i = 0; i < 3; i++) {
            double g = GRADS[s][i];
            buf[i] = (double)(float)mu * buf[i] + g;
            double d = nesterov ? g + (double)(float)mu * buf[i] : buf[i];
            ref[i] -= (double)(float)lr * d;
        }
        set_grad(&p, GRADS[s]);
        cr_assert_eq(tg_optim_step(&o, NULL), TG_OK);
        assert_close(&p, ref, 1e-6, nesterov ? "nesterov" : "momentum");
        for (int i = 0; i < 3; i++)
            cr_assert(fabs(o.m[0].data[i] - buf[i]) <= 1e-6 * (1 + fabs(buf[i])), "momentum buffer [%d]", i);
    }
    tg_optim_free(&o);
    tg_param_free(&p);
}

static const struct {
    const char *name;
    bool nesterov;
} momenta[] = {{"momentum", false}, {"nesterov", true}};

TABLE_TEST(optim, sgd_momentum_matches_reference, momenta) { check_sgd_momentum(momenta[*row].nesterov); }

/* Two parameters holding P0, each with its own optimizer: runs to compare with each other. */
typedef struct twins {
    tg_param p[2];
    tg_param *ps[2];
    tg_optimizer o[2];
} twins;

static void twins_init(twins *t, const tg_opt_config *cfg_a, const tg_opt_config *cfg_b)
{
    for (int i = 0; i < 2; i++) {
        make_param(&t->p[i], i ? "b" : "a", P0, 3);
        t->ps[i] = &t->p[i];
        t->o[i] = make_optim(i ? cfg_b : cfg_a, &t->ps[i], 1);
    }
}

/* One step of both, with the same gradient g. */
static void twins_step(twins *t, const double *g)
{
    for (int i = 0; i < 2; i++) {
        set_grad(&t->p[i], g);
        cr_assert_eq(tg_optim_step(&t->o[i], NULL), TG_OK);
    }
}

static void twins_free(twins *t)
{
    for (int i = 0; i < 2; i++) {
        tg_optim_free(&t->o[i]);
        tg_param_free(&t->p[i]);
    }
}

Test(optim, sgd_momentum_and_nesterov_differ)
{
    /* Guards the two reference checks above against both paths doing the same thing. */
    tg_opt_config momentum = tg_opt_config_default(TG_OPT_SGD);
    momentum.momentum = 0.9f;
    tg_opt_config nesterov = momentum;
    nesterov.nesterov = true;
    twins t;
    twins_init(&t, &momentum, &nesterov);
    for (int s = 0; s < 2; s++)
        twins_step(&t, GRADS[s]);
    cr_assert_neq(t.p[0].value.data[0], t.p[1].value.data[0]);
    twins_free(&t);
}

Test(optim, sgd_weight_decay_by_hand)
{
    /* g' = g + wd·p = 0.5 + 0.1·2 = 0.7;  p = 2 - 0.1·0.7 = 1.93.
     * Second step, g = -1: g' = -1 + 0.1·1.93 = -0.807;  p = 1.93 + 0.0807 = 2.0107. */
    tg_param p, *pp = &p;
    make_param(&p, "w", (double[]){2.0}, 1);
    tg_opt_config cfg = tg_opt_config_default(TG_OPT_SGD);
    cfg.lr = 0.1f;
    cfg.weight_decay = 0.1f;
    tg_optimizer o = make_optim(&cfg, &pp, 1);
    set_grad(&p, (double[]){0.5});
    tg_optim_step(&o, NULL);
    assert_close(&p, (double[]){1.93}, 1e-6, "wd step 1");
    set_grad(&p, (double[]){-1.0});
    tg_optim_step(&o, NULL);
    assert_close(&p, (double[]){2.0107}, 1e-6, "wd step 2");
    tg_optim_free(&o);
    tg_param_free(&p);
}

/* ---- Adam ------------------------------------------------------------------------------- */

/* The reference Adam step (PyTorch docs, amsgrad off), all in double; g already includes any
 * clipping and weight decay.  t is the 1-based step. */
static void adam_reference(double *p, double *m, double *v, const double *g, size_t n, long t, double lr,
                           double b1, double b2, double eps)
{
    for (size_t i = 0; i < n; i++) {
        m[i] = b1 * m[i] + (1.0 - b1) * g[i];
        v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
        double m_hat = m[i] / (1.0 - pow(b1, (double)t));
        double v_hat = v[i] / (1.0 - pow(b2, (double)t));
        p[i] -= lr * m_hat / (sqrt(v_hat) + eps);
    }
}

/* Adam against the reference step by step: the parameter, and the moments m and v of the
 * gradient it saw — which is the raw gradient clipped to the global norm `clip` (scaled by
 * clip / (norm + 1e-6), the order of torch's clip_grad_norm_ before Adam.step), then with the
 * L2 decay wd·p added. */
static const struct {
    const char *name;
    size_t n;
    int steps;
    double p0[3], g[3][3];
    double lr, wd, clip;
} adam_runs[] = {
    {"adam", 3, 3, {1.0, -2.0, 0.5}, {{0.5, -1.0, 2.0}, {-0.25, 0.75, 1.0}, {2.0, 0.0, -3.0}}, 0.05, 0, 0},
    {"adam, weight decay 0.05", 3, 3, {1.0, -2.0, 0.5}, {{0.5, -1.0, 2.0}, {-0.25, 0.75, 1.0}, {2.0, 0.0, -3.0}},
     0.05, 0.05, 0},
    /* norm 5 -> 1 on step 1; step 2's norm 0.5 is left alone */
    {"adam, clipping to 1 then weight decay 0.01", 2, 2, {1.0, -1.0}, {{3.0, 4.0}, {0.3, -0.4}}, 0.1, 0.01, 1.0},
};

TABLE_TEST(optim, adam_matches_reference, adam_runs)
{
    const char *name = adam_runs[*row].name;
    size_t n = adam_runs[*row].n;
    double clip = adam_runs[*row].clip, wd = adam_runs[*row].wd;
    tg_param p, *pp = &p;
    make_param(&p, "w", adam_runs[*row].p0, n);
    tg_opt_config cfg = tg_opt_config_default(TG_OPT_ADAM);
    cfg.lr = (float)adam_runs[*row].lr;
    cfg.weight_decay = (float)wd;
    cfg.clip_norm = (float)clip;
    tg_optimizer o = make_optim(&cfg, &pp, 1);

    double ref[3], m[3] = {0}, v[3] = {0}, g[3];
    memcpy(ref, adam_runs[*row].p0, sizeof ref);
    for (int s = 0; s < adam_runs[*row].steps; s++) {
        const double *raw = adam_runs[*row].g[s];
        double norm = 0;
        for (size_t i = 0; i < n; i++)
            norm += raw[i] * raw[i];
        norm = sqrt(norm);
        double scale = clip > 0 && norm > clip ? clip / (norm + 1e-6) : 1.0;
        for (size_t i = 0; i < n; i++)
            g[i] = scale * raw[i] + (double)(float)wd * ref[i];
        adam_reference(ref, m, v, g, n, s + 1, cfg.lr, cfg.beta1, cfg.beta2, cfg.eps);
        set_grad(&p, raw);
        cr_assert_eq(tg_optim_step(&o, NULL), TG_OK, "%s: step %d", name, s + 1);
        assert_close(&p, ref, 2e-6, name);
        for (size_t i = 0; i < n; i++) {
            cr_assert(fabs(o.m[0].data[i] - m[i]) <= 1e-6 * (1 + fabs(m[i])), "%s: step %d, m[%zu]", name, s + 1, i);
            cr_assert(fabs(o.v[0].data[i] - v[i]) <= 1e-6 * (1 + fabs(v[i])), "%s: step %d, v[%zu]", name, s + 1, i);
        }
    }
    cr_assert_eq(o.step, adam_runs[*row].steps, "%s", name);
    tg_optim_free(&o);
    tg_param_free(&p);
}

Test(optim, adam_first_step_moves_by_lr_times_sign)
{
    /* After one step m̂ = g and v̂ = g², so Δp = -lr·g/(|g| + eps) ≈ -lr·sign(g) whatever |g|. */
    static const double g[5] = {1e-3, -5.0, 100.0, -1e-2, 0.3};
    static const double p0[5] = {0.0, 1.0, -1.0, 2.0, 0.0};
    tg_param p, *pp = &p;
    make_param(&p, "w", p0, 5);
    set_grad(&p, g);
    tg_opt_config cfg = tg_opt_config_default(TG_OPT_ADAM);
    cfg.lr = 0.01f;
    tg_optimizer o = make_optim(&cfg, &pp, 1);
    cr_assert_eq(tg_optim_step(&o, NULL), TG_OK);
    for (int i = 0; i < 5; i++) {
        double moved = (double)p.value.data[i] - p0[i];
        double expected = -0.01 * (g[i] > 0 ? 1.0 : -1.0);
        cr_assert(fabs(moved - expected) < 1e-6, "element %d moved %.9g, expected %.9g", i, moved, expected);
    }
    tg_optim_free(&o);
    tg_param_free(&p);
}

/* ---- 100 steps against PyTorch's formulas ----------------------------------------------- */

/* Each optimizer, 100 steps of the fixed problem of optim_reference.h, every parameter element
 * within 1e-6 (relative) of the reference after every step.  Rates and decays are powers of two
 * where the decay is decoupled, so that AdamW's factor 1 − lr·wd is a float exactly and the
 * comparison measures the update rule, not the rounding of one constant. */
static const struct {
    const char *name;
    tg_opt_config cfg;
} reference_runs[] = {
    {"sgd", {.kind = TG_OPT_SGD, .lr = 0.05f}},
    {"sgd, momentum 0.9, weight decay 0.01", {.kind = TG_OPT_SGD, .lr = 0.02f, .momentum = 0.9f, .weight_decay = 0.01f}},
    {"sgd, nesterov", {.kind = TG_OPT_SGD, .lr = 0.02f, .momentum = 0.9f, .nesterov = true}},
    {"adam, weight decay 0.05", {.kind = TG_OPT_ADAM, .lr = 0.03f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                                 .weight_decay = 0.05f}},
    {"adamw", {.kind = TG_OPT_ADAMW, .lr = 0.03125f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
               .weight_decay = 0.25f}},
    {"adamw, betas 0.8 0.99, eps 1e-3", {.kind = TG_OPT_ADAMW, .lr = 0.0625f, .beta1 = 0.8f, .beta2 = 0.99f,
                                         .eps = 1e-3f, .weight_decay = 0.125f}},
    {"rmsprop", {.kind = TG_OPT_RMSPROP, .lr = 0.01f, .alpha = 0.99f, .eps = 1e-8f}},
    {"rmsprop, weight decay 0.1", {.kind = TG_OPT_RMSPROP, .lr = 0.01f, .alpha = 0.99f, .eps = 1e-8f,
                                   .weight_decay = 0.1f}},
    {"rmsprop, momentum 0.9", {.kind = TG_OPT_RMSPROP, .lr = 0.001f, .alpha = 0.99f, .eps = 1e-8f,
                               .momentum = 0.9f}},
    {"rmsprop, centered", {.kind = TG_OPT_RMSPROP, .lr = 0.01f, .alpha = 0.99f, .eps = 1e-8f, .centered = true}},
    /* (With alpha 0.9 this run drifts 1.8e-6 from the reference in double, the library's bits
     * being those of the formula evaluated in float: s − a² cancels 50-fold on "b" there.) */
    {"rmsprop, centered, momentum 0.5, eps 1e-6, weight decay 0.1",
     {.kind = TG_OPT_RMSPROP, .lr = 0.002f, .alpha = 0.99f, .eps = 1e-6f, .momentum = 0.5f, .centered = true,
      .weight_decay = 0.1f}},
};

TABLE_TEST(optim, matches_pytorch_formulas_over_100_steps, reference_runs)
{
    ref_setup s = {.cfg = reference_runs[*row].cfg};
    double worst = ref_compare_run(&s, 100, 1e-6, reference_runs[*row].name);
    cr_log_info("%-60s max relative error %.2e", reference_runs[*row].name, worst);
}

/* ---- parameter groups ------------------------------------------------------------------- */

/* "b" in a group of its own (its own rate factor and decay), "w" on cfg's: each follows the
 * reference with its own settings for 100 steps. */
static const struct {
    const char *name;
    tg_opt_config cfg;
    tg_opt_group group;
} group_runs[] = {
    {"adamw, no decay on b", {.kind = TG_OPT_ADAMW, .lr = 0.03125f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                              .weight_decay = 0.25f}, {.lr_scale = 1.0f, .weight_decay = 0.0f}},
    {"adamw, b at half the rate, decay 0.5", {.kind = TG_OPT_ADAMW, .lr = 0.03125f, .beta1 = 0.9f, .beta2 = 0.999f,
                                              .eps = 1e-8f, .weight_decay = 0.25f}, {.lr_scale = 0.5f, .weight_decay = 0.5f}},
    {"sgd momentum, b with decay 0.2 at twice the rate", {.kind = TG_OPT_SGD, .lr = 0.01f, .momentum = 0.9f},
     {.lr_scale = 2.0f, .weight_decay = 0.2f}},
    {"rmsprop centered, b without decay", {.kind = TG_OPT_RMSPROP, .lr = 0.01f, .alpha = 0.99f, .eps = 1e-8f,
                                           .centered = true, .weight_decay = 0.1f}, {.lr_scale = 1.0f}},
    {"adam, b frozen", {.kind = TG_OPT_ADAM, .lr = 0.03f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f},
     {.lr_scale = 0.0f}},
};

TABLE_TEST(optim, groups_apply_their_own_settings, group_runs)
{
    ref_setup s = {.cfg = group_runs[*row].cfg, .bias_group = true, .group = group_runs[*row].group};
    ref_compare_run(&s, 100, 1e-6, group_runs[*row].name);
}

Test(optim, groups_change_the_update)
{
    /* Guards the test above against groups being ignored: the same run without the group ends
     * elsewhere for "b" and in the same place for "w". */
    tg_opt_config cfg = tg_opt_config_default(TG_OPT_ADAMW);
    cfg.weight_decay = 0.5f;
    cfg.lr = 0.05f;
    ref_setup grouped = {.cfg = cfg, .bias_group = true, .group = {.lr_scale = 1.0f, .weight_decay = 0.0f}};
    ref_setup plain = {.cfg = cfg};
    ref_lib a, b;
    ref_lib_init(&a, &grouped);
    ref_lib_init(&b, &plain);
    for (int t = 0; t < 10; t++)
        for (int j = 0; j < REF_PARAMS; j++) {
            for (size_t e = 0; e < REF_SIZE[j]; e++)
                a.p[j].grad.data[e] = b.p[j].grad.data[e] = 0.1f * (float)(e + 1);
            if (j == REF_PARAMS - 1) {
                cr_assert_eq(tg_optim_step(&a.o, NULL), TG_OK);
                cr_assert_eq(tg_optim_step(&b.o, NULL), TG_OK);
            }
        }
    cr_assert(memcmp(a.p[0].value.data, b.p[0].value.data, 6 * sizeof(float)) == 0, "w is in neither group");
    cr_assert_neq(a.p[1].value.data[0], b.p[1].value.data[0], "b's group did not change its update");
    ref_lib_free(&a);
    ref_lib_free(&b);
}

Test(optim, no_decay_1d_groups_biases)
{
    /* A matrix, a bias and a norm-like [1]: the two vectors go in one group without decay. */
    tg_param p[3], *ps[3] = {&p[0], &p[1], &p[2]};
    tg_param_init(&p[0], "dense.weight", 2, (size_t[]){2, 3}, NULL);
    tg_param_init(&p[1], "dense.bias", 1, (size_t[]){3}, NULL);
    tg_param_init(&p[2], "norm.gain", 1, (size_t[]){1}, NULL);
    tg_opt_config cfg = tg_opt_config_default(TG_OPT_ADAMW);
    tg_optimizer o = make_optim(&cfg, ps, 3);
    tg_error err = {0};
    cr_assert_eq(tg_optim_no_decay_1d(&o, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(o.n_groups, 1);
    cr_assert(o.group_of[0] == 0 && o.group_of[1] == 1 && o.group_of[2] == 1);
    cr_assert(o.groups[0].lr_scale == 1.0f && o.groups[0].weight_decay == 0.0f);
    cr_assert_eq(tg_optim_lr(&o, 1), cfg.lr);
    cr_assert_eq(tg_optim_no_decay_1d(&o, &err), TG_OK, "nothing left to group is not an error");
    cr_assert_eq(o.n_groups, 1);
    cr_assert_eq(tg_optim_lr(&o, 2), -1.0f, "no group 2");
    tg_optim_free(&o);
    free_params(p, 3);
}

Test(optim, bad_groups_rejected_changing_nothing)
{
    static const param_spec spec[2] = {{"w", 2, {1, 2}, {0, 0}}, {"b", 1, {3}, {0}}};
    tg_param p[2], *ps[2], stranger;
    make_params(p, ps, spec, 2);
    make_param(&stranger, "stranger", (double[]){0}, 1);
    tg_opt_config cfg = tg_opt_config_default(TG_OPT_SGD);
    tg_optimizer o = make_optim(&cfg, ps, 2);
    tg_opt_group ok = {.lr_scale = 1.0f};
    struct {
        tg_param *list[2];
        int n;
        tg_opt_group g;
        const char *says;
    } cases[] = {
        {{&p[1], &stranger}, 2, ok, "stranger"},
        {{&p[1], &p[1]}, 2, ok, "twice"},
        {{&p[1]}, 1, {.lr_scale = -1.0f}, "lr_scale"},
        {{&p[1]}, 1, {.lr_scale = NAN}, "lr_scale"},
        {{&p[1]}, 1, {.lr_scale = 1.0f, .weight_decay = -0.5f}, "weight_decay"},
        {{&p[1]}, 0, ok, "at least 1"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        tg_error err = {0};
        cr_assert_eq(tg_optim_add_group(&o, cases[k].list, cases[k].n, cases[k].g, &err), TG_ERR_ARG, "case %zu", k);
        cr_assert(strstr(err.msg, cases[k].says) != NULL, "case %zu: '%s' does not say %s", k, err.msg, cases[k].says);
        cr_assert(o.n_groups == 0 && o.group_of[1] == 0, "case %zu: a refused group changed something", k);
    }
    tg_error err = {0};
    cr_assert_eq(tg_optim_add_group(&o, &ps[1], 1, ok, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(tg_optim_add_group(&o, &ps[1], 1, ok, &err), TG_ERR_ARG);
    cr_assert(strstr(err.msg, "already in group 1") != NULL, "%s", err.msg);
    tg_optim_free(&o);
    tg_optimizer empty = {0};
    cr_assert_eq(tg_optim_add_group(&empty, &ps[1], 1, ok, &err), TG_ERR_STATE);
    cr_assert_eq(tg_optim_no_decay_1d(&empty, &err), TG_ERR_STATE);
    free_params(p, 2);
    tg_param_free(&stranger);
}

/* ---- clipping and the gradient norm ----------------------------------------------------- */

Test(optim, grad_norm_is_global)
{
    static const param_spec spec[2] = {{"a", 2, {0, 0}, {3, 4}}, {"b", 1, {0}, {12}}};
    tg_param p[2], *ps[2];
    make_params(p, ps, spec, 2);
    tg_optimizer o = make_optim(&(tg_opt_config){.kind = TG_OPT_SGD, .lr = 1}, ps, 2);
    cr_assert_float_eq(tg_optim_grad_norm(&o), 13.0, 1e-12); /* sqrt(9 + 16 + 144) */
    tg_optim_free(&o);
    free_params(p, 2);
}

Test(optim, sgd_clipping_by_hand)
{
    /* Global norm of (3 | 4) is 5 > 1, so both grads scale by 1/(5 + 1e-6);  lr 1, p0 = 0:
     * a = -3/5.000001, b = -4/5.000001.  A second optimizer with clip 10 leaves them alone. */
    static const param_spec spec[2] = {{"a", 1, {0}, {3}}, {"b", 1, {0}, {4}}};
    tg_param p[2], *ps[2];
    make_params(p, ps, spec, 2);
    tg_optimizer o = make_optim(&(tg_opt_config){.kind = TG_OPT_SGD, .lr = 1, .clip_norm = 1}, ps, 2);
    cr_assert_eq(tg_optim_step(&o, NULL), TG_OK);
    assert_close(&p[0], (double[]){-3.0 / 5.000001}, 1e-6, "clipped a");
    assert_close(&p[1], (double[]){-4.0 / 5.000001}, 1e-6, "clipped b");
    cr_assert_eq(p[0].grad.data[0], 3.0f, "the step must not rewrite the gradients");
    tg_optim_free(&o);

    p[0].value.data[0] = p[1].value.data[0] = 0;
    o = make_optim(&(tg_opt_config){.kind = TG_OPT_SGD, .lr = 1, .clip_norm = 10}, ps, 2);
    tg_optim_step(&o, NULL);
    assert_close(&p[0], (double[]){-3.0}, 1e-7, "unclipped a");
    assert_close(&p[1], (double[]){-4.0}, 1e-7, "unclipped b");
    tg_optim_free(&o);
    free_params(p, 2);
}

/* ---- failures --------------------------------------------------------------------------- */

/* A non-finite gradient in the last element of the last parameter (everything before is fine)
 * stops the step before anything changes; a good gradient afterwards steps as the first step. */
static const struct {
    const char *name;
    float bad;
} bad_gradients[] = {{"NaN", NAN}, {"-inf", -INFINITY}};

TABLE_TEST(optim, bad_gradient_rejected_nothing_changed, bad_gradients)
{
    const char *what = bad_gradients[*row].name;
    static const param_spec spec[2] = {{"enc.weight", 2, {1, 2}, {0.5, 0.5}},
                                       {"enc.bias", 3, {3, 4, 5}, {0.5, 0.5, 0.5}}};
    tg_param p[2], *ps[2];
    make_params(p, ps, spec, 2);
    p[1].grad.data[2] = bad_gradients[*row].bad;
    tg_opt_config cfg = tg_opt_config_default(TG_OPT_ADAM);
    tg_optimizer o = make_optim(&cfg, ps, 2);

    tg_error err = {0};
    cr_assert_eq(tg_optim_step(&o, &err), TG_ERR_NUMERIC, "%s", what);
    cr_assert(strstr(err.msg, "enc.bias") != NULL, "%s: message names the parameter: %s", what, err.msg);
    cr_assert(p[0].value.data[0] == 1 && p[0].value.data[1] == 2, "%s: a changed", what);
    cr_assert(p[1].value.data[0] == 3 && p[1].value.data[1] == 4 && p[1].value.data[2] == 5, "%s: b changed", what);
    cr_assert_eq(o.step, 0, "%s", what);
    cr_assert(o.m[0].data[0] == 0 && o.v[0].data[0] == 0, "%s: state changed", what);

    p[1].grad.data[2] = 0.5f;
    cr_assert_eq(tg_optim_step(&o, &err), TG_OK, "%s", what);
    cr_assert_eq(o.step, 1, "%s", what);
    cr_assert(p[0].value.data[0] < 1, "%s", what);
    tg_optim_free(&o);
    free_params(p, 2);
}

Test(optim, bad_configs_rejected_naming_the_field)
{
    struct {
        tg_opt_config cfg;
        const char *field;
    } cases[] = {
        {{.kind = TG_OPT_SGD, .lr = 0}, "lr"},
        {{.kind = TG_OPT_SGD, .lr = -0.1f}, "lr"},
        {{.kind = TG_OPT_SGD, .lr = NAN}, "lr"},
        {{.kind = TG_OPT_SGD, .lr = INFINITY}, "lr"},
        {{.kind = TG_OPT_SGD, .lr = 0.1f, .momentum = 1.0f}, "momentum"},
        {{.kind = TG_OPT_SGD, .lr = 0.1f, .momentum = -0.1f}, "momentum"},
        {{.kind = TG_OPT_SGD, .lr = 0.1f, .momentum = NAN}, "momentum"},
        {{.kind = TG_OPT_SGD, .lr = 0.1f, .nesterov = true}, "nesterov"},
        {{.kind = TG_OPT_SGD, .lr = 0.1f, .weight_decay = -1}, "weight_decay"},
        {{.kind = TG_OPT_SGD, .lr = 0.1f, .clip_norm = -1}, "clip_norm"},
        {{.kind = TG_OPT_SGD, .lr = 0.1f, .clip_norm = NAN}, "clip_norm"},
        {{.kind = TG_OPT_ADAM, .lr = 0.1f, .beta1 = 1.0f, .beta2 = 0.999f, .eps = 1e-8f}, "beta1"},
        {{.kind = TG_OPT_ADAM, .lr = 0.1f, .beta1 = 0.9f, .beta2 = -0.5f, .eps = 1e-8f}, "beta2"},
        {{.kind = TG_OPT_ADAM, .lr = 0.1f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 0}, "eps"},
        {{.kind = TG_OPT_ADAM, .lr = 0.1f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = NAN}, "eps"},
        {{.kind = (tg_opt_kind)7, .lr = 0.1f}, "kind"},
        {{.kind = TG_OPT_ADAMW, .lr = 0.1f, .beta1 = 0.9f, .beta2 = 1.0f, .eps = 1e-8f}, "beta2"},
        {{.kind = TG_OPT_ADAMW, .lr = 0.1f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = -1}, "eps"},
        {{.kind = TG_OPT_ADAMW, .lr = 0.1f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = NAN},
         "weight_decay"},
        {{.kind = TG_OPT_RMSPROP, .lr = 0.1f, .alpha = 1.0f, .eps = 1e-8f}, "alpha"},
        {{.kind = TG_OPT_RMSPROP, .lr = 0.1f, .alpha = NAN, .eps = 1e-8f}, "alpha"},
        {{.kind = TG_OPT_RMSPROP, .lr = 0.1f, .alpha = 0.99f, .eps = 0}, "eps"},
        {{.kind = TG_OPT_RMSPROP, .lr = 0.1f, .alpha = 0.99f, .eps = 1e-40f}, "eps"}, /* subnormal: 0 in the update */
        {{.kind = TG_OPT_RMSPROP, .lr = 0.1f, .alpha = 0.99f, .eps = 1e-8f, .momentum = 1.0f}, "momentum"},
        {{.kind = TG_OPT_RMSPROP, .lr = 0.1f, .alpha = 0.99f, .eps = 1e-8f, .momentum = 0.9f, .nesterov = true},
         "nesterov"},
        {{.kind = TG_OPT_SGD, .lr = 0.1f, .centered = true}, "centered"},
        {{.kind = TG_OPT_ADAM, .lr = 0.1f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .centered = true}, "centered"},
    };
    tg_param p, *pp = &p;
    make_param(&p, "w", (double[]){0}, 1);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        tg_optimizer o;
        tg_error err = {0};
        cr_assert_eq(tg_optim_init(&o, &cases[k].cfg, &pp, 1, &err), TG_ERR_ARG, "case %zu accepted", k);
        cr_assert(strstr(err.msg, cases[k].field) != NULL, "case %zu: '%s' does not name %s", k, err.msg,
                  cases[k].field);
        cr_assert_null(o.params, "case %zu: state left behind", k);
        tg_optim_free(&o); /* safe on the empty optimizer */
    }
    tg_param_free(&p);
}

Test(optim, bad_parameter_lists_rejected)
{
    tg_param p, empty = {0};
    make_param(&p, "w", (double[]){0}, 1);
    tg_opt_config cfg = tg_opt_config_default(TG_OPT_SGD);
    tg_optimizer o;
    tg_error err = {0};

    cr_assert_eq(tg_optim_init(&o, &cfg, (tg_param *[]){&p}, 0, &err), TG_ERR_ARG);
    cr_assert_eq(tg_optim_init(&o, &cfg, NULL, 1, &err), TG_ERR_ARG);
    cr_assert_eq(tg_optim_init(&o, &cfg, (tg_param *[]){&p, NULL}, 2, &err), TG_ERR_ARG);
    cr_assert(strstr(err.msg, "parameter 1") != NULL, "%s", err.msg);
    cr_assert_eq(tg_optim_init(&o, &cfg, (tg_param *[]){&p, &p}, 2, &err), TG_ERR_ARG);
    cr_assert(strstr(err.msg, "twice") != NULL, "%s", err.msg);
    cr_assert_eq(tg_optim_init(&o, &cfg, (tg_param *[]){&empty}, 1, &err), TG_ERR_ARG);
    tg_param_free(&p);
}

Test(optim, step_on_empty_optimizer_is_an_error)
{
    tg_optimizer o = {0};
    tg_error err = {0};
    cr_assert_eq(tg_optim_step(&o, &err), TG_ERR_STATE);
    cr_assert_neq(err.msg[0], '\0');
}

/* ---- convergence, state, defaults ------------------------------------------------------- */

Test(optim, adam_converges_on_a_quadratic)
{
    /* f(p) = Σ c_i (p_i - t_i)², badly scaled (c spans 1000x); gradient 2 c_i (p_i - t_i). */
    static const double c[3] = {10.0, 1.0, 0.01};
    static const double target[3] = {1.5, -2.0, 0.25};
    tg_param p, *pp = &p;
    make_param(&p, "w", (double[]){0, 0, 0}, 3);
    tg_opt_config cfg = tg_opt_config_default(TG_OPT_ADAM);
    cfg.lr = 0.05f;
    tg_optimizer o = make_optim(&cfg, &pp, 1);
    for (int s = 0; s < 3000; s++) {
        for (int i = 0; i < 3; i++)
            p.grad.data[i] = (float)(2.0 * c[i] * (p.value.data[i] - target[i]));
        cr_assert_eq(tg_optim_step(&o, NULL), TG_OK);
    }
    for (int i = 0; i < 3; i++)
        cr_assert(fabs(p.value.data[i] - target[i]) < 1e-3, "p[%d] = %g, target %g", i, p.value.data[i],
                  target[i]);
    tg_optim_free(&o);
    tg_param_free(&p);
}

Test(optim, state_tensors_are_listed_with_checkpoint_names)
{
    static const param_spec spec[2] = {{"enc.weight", 2, {1, 2}, {0.5, -2}}, {"enc.bias", 1, {3}, {4}}};
    tg_param p[2], *ps[2];
    make_params(p, ps, spec, 2);
    tg_opt_config cfg = tg_opt_config_default(TG_OPT_ADAM);
    tg_optimizer o = make_optim(&cfg, ps, 2);
    tg_optim_step(&o, NULL);

    cr_assert_eq(tg_optim_state_count(&o), 4);
    cr_assert_str_eq(tg_optim_step_name(&o), "adam.step");
    char name[TG_OPT_STATE_NAME_MAX];
    static const char *names[4] = {"adam.m/enc.weight", "adam.v/enc.weight", "adam.m/enc.bias", "adam.v/enc.bias"};
    for (int k = 0; k < 4; k++) {
        tg_tensor *t = tg_optim_state_tensor(&o, k, name);
        cr_assert_not_null(t);
        cr_assert_str_eq(name, names[k]);
    }
    /* After one step: m = 0.1·g, v = 0.001·g². */
    tg_tensor *m_w = tg_optim_state_tensor(&o, 0, name), *v_b = tg_optim_state_tensor(&o, 3, name);
    cr_assert_eq(m_w->size, 2);
    cr_assert_float_eq(m_w->data[1], -0.2f, 1e-6);
    cr_assert_float_eq(v_b->data[0], 0.016f, 1e-6);
    cr_assert_null(tg_optim_state_tensor(&o, 4, name));
    cr_assert_null(tg_optim_state_tensor(&o, -1, name));

    tg_optim_reset(&o);
    cr_assert_eq(o.step, 0);
    cr_assert_eq(m_w->data[1], 0.0f);
    tg_optim_free(&o);

    tg_opt_config sgd = {.kind = TG_OPT_SGD, .lr = 0.1f, .momentum = 0.5f};
    o = make_optim(&sgd, ps, 2);
    cr_assert_eq(tg_optim_state_count(&o), 2);
    tg_optim_state_tensor(&o, 1, name);
    cr_assert_str_eq(name, "sgd.momentum/enc.bias");
    tg_optim_free(&o);
    sgd.momentum = 0;
    o = make_optim(&sgd, ps, 2);
    cr_assert_eq(tg_optim_state_count(&o), 0);
    tg_optim_free(&o);
    free_params(p, 2);
}

Test(optim, restored_state_resumes_exactly)
{
    /* Two steps in one go == one step, copy the state into a fresh optimizer, one more step. */
    tg_opt_config cfg = tg_opt_config_default(TG_OPT_ADAM);
    cfg.lr = 0.05f;
    twins t;
    twins_init(&t, &cfg, &cfg);
    twins_step(&t, GRADS[0]);

    tg_optimizer fresh = make_optim(&cfg, &t.ps[1], 1);
    char name[TG_OPT_STATE_NAME_MAX];
    for (int k = 0; k < tg_optim_state_count(&t.o[1]); k++) {
        tg_tensor *saved = tg_optim_state_tensor(&t.o[1], k, name);
        cr_assert_eq(tg_tensor_copy(tg_optim_state_tensor(&fresh, k, name), saved, NULL), TG_OK);
    }
    fresh.step = t.o[1].step;
    tg_optim_free(&t.o[1]);
    t.o[1] = fresh;
    twins_step(&t, GRADS[1]);
    cr_assert(memcmp(t.p[0].value.data, t.p[1].value.data, 3 * sizeof(float)) == 0, "resumed run differs");
    twins_free(&t);
}

/* The names a checkpoint stores each kind's state under, in tg_optim_state_tensor's order, and
 * which of them hold means of squares. */
static const struct {
    const char *name;
    tg_opt_config cfg;
    int count;
    const char *names[6]; /* of the state tensors, for parameters "w" and "b" */
    int nonnegative;      /* bit k: state tensor k is a mean of squares */
    const char *step;
} state_layouts[] = {
    {"adamw", {.kind = TG_OPT_ADAMW, .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f}, 4,
     {"adamw.m/w", "adamw.v/w", "adamw.m/b", "adamw.v/b"}, 0xa, "adamw.step"},
    {"rmsprop", {.kind = TG_OPT_RMSPROP, .lr = 0.01f, .alpha = 0.99f, .eps = 1e-8f}, 2,
     {"rmsprop.square_avg/w", "rmsprop.square_avg/b"}, 0x3, "rmsprop.step"},
    {"rmsprop, momentum", {.kind = TG_OPT_RMSPROP, .lr = 0.01f, .alpha = 0.99f, .eps = 1e-8f, .momentum = 0.9f}, 4,
     {"rmsprop.momentum/w", "rmsprop.square_avg/w", "rmsprop.momentum/b", "rmsprop.square_avg/b"}, 0xa,
     "rmsprop.step"},
    {"rmsprop, centered", {.kind = TG_OPT_RMSPROP, .lr = 0.01f, .alpha = 0.99f, .eps = 1e-8f, .centered = true}, 4,
     {"rmsprop.square_avg/w", "rmsprop.grad_avg/w", "rmsprop.square_avg/b", "rmsprop.grad_avg/b"}, 0x5,
     "rmsprop.step"},
    {"rmsprop, centered, momentum",
     {.kind = TG_OPT_RMSPROP, .lr = 0.01f, .alpha = 0.99f, .eps = 1e-8f, .momentum = 0.9f, .centered = true}, 6,
     {"rmsprop.momentum/w", "rmsprop.square_avg/w", "rmsprop.grad_avg/w", "rmsprop.momentum/b",
      "rmsprop.square_avg/b", "rmsprop.grad_avg/b"},
     0x12, "rmsprop.step"},
    {"adam", {.kind = TG_OPT_ADAM, .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f}, 4,
     {"adam.m/w", "adam.v/w", "adam.m/b", "adam.v/b"}, 0xa, "adam.step"},
    {"sgd, momentum", {.kind = TG_OPT_SGD, .lr = 0.01f, .momentum = 0.9f}, 2, {"sgd.momentum/w", "sgd.momentum/b"}, 0,
     "sgd.step"},
};

TABLE_TEST(optim, state_layout_per_kind, state_layouts)
{
    const char *what = state_layouts[*row].name;
    ref_setup s = {.cfg = state_layouts[*row].cfg};
    ref_lib l;
    ref_lib_init(&l, &s);
    cr_assert_eq(tg_optim_state_count(&l.o), state_layouts[*row].count, "%s", what);
    char name[TG_OPT_STATE_NAME_MAX];
    for (int k = 0; k < state_layouts[*row].count; k++) {
        tg_tensor *t = tg_optim_state_tensor(&l.o, k, name);
        cr_assert_not_null(t, "%s: %d", what, k);
        cr_assert_str_eq(name, state_layouts[*row].names[k], "%s: state %d", what, k);
        cr_assert_eq(t->size, REF_SIZE[k / (state_layouts[*row].count / 2)], "%s: state %d has its parameter's shape",
                     what, k);
        cr_assert_eq(tg_optim_state_nonnegative(&l.o, k), (state_layouts[*row].nonnegative >> k & 1) != 0, "%s: %d",
                     what, k);
    }
    cr_assert_null(tg_optim_state_tensor(&l.o, state_layouts[*row].count, name));
    cr_assert(!tg_optim_state_nonnegative(&l.o, -1));
    cr_assert_str_eq(tg_optim_step_name(&l.o), state_layouts[*row].step);
    ref_lib_free(&l);
}

Test(optim, long_parameter_names_fit_in_state_names)
{
    char long_name[TG_PARAM_NAME_MAX];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    tg_param p, *pp = &p;
    make_param(&p, long_name, (double[]){1}, 1);
    tg_opt_config cfg = tg_opt_config_default(TG_OPT_RMSPROP);
    cfg.centered = true;
    tg_optimizer o = make_optim(&cfg, &pp, 1);
    char name[TG_OPT_STATE_NAME_MAX];
    tg_optim_state_tensor(&o, 0, name);
    cr_assert_eq(strlen(name), strlen("rmsprop.square_avg/") + strlen(long_name), "%s", name);
    tg_optim_free(&o);
    tg_param_free(&p);
}

/* The gradient of the fixed problem at the library's own parameters (a run without a reference). */
static void own_gradients(ref_lib *l, long t)
{
    for (int j = 0; j < REF_PARAMS; j++)
        for (size_t e = 0; e < REF_SIZE[j]; e++)
            l->p[j].grad.data[e] = (float)(REF_CURVE[j][e] * ((double)l->p[j].value.data[e] - REF_TARGET[j][e]) +
                                           0.5 * sin(0.7 * (double)t + 1.3 * (double)e + j));
}

static void own_steps(ref_lib *l, long from, long to)
{
    for (long t = from; t <= to; t++) {
        own_gradients(l, t);
        cr_assert_eq(tg_optim_step_zero_grad(&l->o, NULL), TG_OK);
    }
}

/* Saves the optimizer's state as a checkpoint does (each tensor under its name, the step as a
 * float), starts a fresh optimizer set up the same way, and restores it by name. */
static void checkpoint_and_restore(ref_lib *l, const ref_setup *s)
{
    enum { MAX_STATE = 3 * REF_PARAMS };
    int n = tg_optim_state_count(&l->o);
    cr_assert(n <= MAX_STATE);
    char names[MAX_STATE][TG_OPT_STATE_NAME_MAX];
    tg_tensor saved[MAX_STATE];
    for (int k = 0; k < n; k++) {
        const tg_tensor *t = tg_optim_state_tensor(&l->o, k, names[k]);
        cr_assert_eq(tg_tensor_zeros(&saved[k], t->ndim, t->shape, NULL), TG_OK);
        cr_assert_eq(tg_tensor_copy(&saved[k], t, NULL), TG_OK);
    }
    float step = (float)l->o.step;
    tg_optim_free(&l->o);

    ref_lib_optim(l, s);
    cr_assert_eq(tg_optim_state_count(&l->o), n);
    char name[TG_OPT_STATE_NAME_MAX];
    for (int k = n - 1; k >= 0; k--) { /* by name, not by position */
        tg_tensor *mine = tg_optim_state_tensor(&l->o, k, name);
        int found = -1;
        for (int i = 0; i < n; i++)
            if (strcmp(names[i], name) == 0)
                found = found < 0 ? i : -2;
        cr_assert(found >= 0, "state %s: missing or saved twice", name);
        cr_assert_eq(tg_tensor_copy(mine, &saved[found], NULL), TG_OK);
    }
    l->o.step = (long)step;
    for (int k = 0; k < n; k++)
        tg_tensor_free(&saved[k]);
}

static const tg_schedule WARM_COSINE = {.kind = TG_SCHED_COSINE, .warmup_steps = 10, .warmup_start = 0.1f,
                                        .t_max = 80, .eta_min = 1e-4f};
static const tg_schedule WARM_STEP = {.kind = TG_SCHED_STEP, .warmup_steps = 5, .step_size = 20, .gamma = 0.5f};

static const struct {
    const char *name;
    ref_setup setup;
} resumes[] = {
    {"sgd, momentum, groups, cosine", {.cfg = {.kind = TG_OPT_SGD, .lr = 0.02f, .momentum = 0.9f, .weight_decay = 0.01f},
                                       .bias_group = true, .group = {.lr_scale = 2.0f}, .schedule = &WARM_COSINE}},
    {"adam", {.cfg = {.kind = TG_OPT_ADAM, .lr = 0.03f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f}}},
    {"adamw, groups, step schedule",
     {.cfg = {.kind = TG_OPT_ADAMW, .lr = 0.03f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.1f},
      .bias_group = true, .group = {.lr_scale = 1.0f}, .schedule = &WARM_STEP}},
    {"rmsprop, centered, momentum, cosine",
     {.cfg = {.kind = TG_OPT_RMSPROP, .lr = 0.002f, .alpha = 0.99f, .eps = 1e-8f, .momentum = 0.5f, .centered = true,
              .weight_decay = 0.1f},
      .schedule = &WARM_COSINE}},
    {"rmsprop", {.cfg = {.kind = TG_OPT_RMSPROP, .lr = 0.01f, .alpha = 0.99f, .eps = 1e-8f}}},
};

/* 100 steps in one go, and 40 steps, a checkpoint, a fresh optimizer restored from it, and 60 more:
 * the same bits, parameters and state. */
TABLE_TEST(optim, resume_mid_run_is_bitwise_exact, resumes)
{
    const char *what = resumes[*row].name;
    const ref_setup *s = &resumes[*row].setup;
    ref_lib whole, resumed;
    ref_lib_init(&whole, s);
    ref_lib_init(&resumed, s);
    own_steps(&whole, 1, 100);
    own_steps(&resumed, 1, 40);
    checkpoint_and_restore(&resumed, s);
    own_steps(&resumed, 41, 100);
    cr_assert_eq(resumed.o.step, 100);
    for (int j = 0; j < REF_PARAMS; j++)
        cr_assert(memcmp(whole.p[j].value.data, resumed.p[j].value.data, REF_SIZE[j] * sizeof(float)) == 0,
                  "%s: %s differs after the resume", what, REF_NAMES[j]);
    for (int k = 0; k < tg_optim_state_count(&whole.o); k++) {
        const tg_tensor *a = tg_optim_state_tensor(&whole.o, k, NULL), *b = tg_optim_state_tensor(&resumed.o, k, NULL);
        cr_assert(memcmp(a->data, b->data, a->size * sizeof(float)) == 0, "%s: state %d differs", what, k);
    }
    /* ... and the run did move: a resume that restored nothing would differ from it. */
    ref_lib fresh;
    ref_lib_init(&fresh, s);
    own_steps(&fresh, 1, 40);
    tg_optim_free(&fresh.o);
    ref_lib_optim(&fresh, s);
    own_steps(&fresh, 41, 100);
    cr_assert(memcmp(whole.p[0].value.data, fresh.p[0].value.data, REF_SIZE[0] * sizeof(float)) != 0,
              "%s: losing the state changes nothing, so this test shows nothing", what);
    ref_lib_free(&fresh);
    ref_lib_free(&whole);
    ref_lib_free(&resumed);
}

Test(optim, defaults_and_names)
{
    tg_opt_config adam = tg_opt_config_default(TG_OPT_ADAM);
    cr_assert_eq(adam.beta1, 0.9f);
    cr_assert_eq(adam.beta2, 0.999f);
    cr_assert_eq(adam.eps, 1e-8f);
    cr_assert_eq(adam.lr, 1e-3f);
    cr_assert_eq(adam.weight_decay, 0.0f);
    cr_assert_eq(adam.clip_norm, 0.0f);
    tg_opt_config sgd = tg_opt_config_default(TG_OPT_SGD);
    cr_assert_eq(sgd.momentum, 0.0f);
    cr_assert(!sgd.nesterov);
    cr_assert_eq(tg_opt_kind_parse("adam"), TG_OPT_ADAM);
    cr_assert_eq(tg_opt_kind_parse("sgd"), TG_OPT_SGD);
    cr_assert_eq(tg_opt_kind_parse("adamw"), TG_OPT_ADAMW);
    cr_assert_eq(tg_opt_kind_parse("rmsprop"), TG_OPT_RMSPROP);
    cr_assert_eq(tg_opt_kind_parse("lion"), -1);
    cr_assert_str_eq(tg_opt_kind_name(TG_OPT_ADAM), "adam");
    cr_assert_str_eq(tg_opt_kind_name(TG_OPT_RMSPROP), "rmsprop");
    cr_assert_str_eq(tg_opt_kind_name((tg_opt_kind)9), "unknown");
    tg_opt_config adamw = tg_opt_config_default(TG_OPT_ADAMW);
    cr_assert(adamw.lr == 1e-3f && adamw.beta1 == 0.9f && adamw.beta2 == 0.999f && adamw.eps == 1e-8f);
    cr_assert_eq(adamw.weight_decay, 0.01f, "torch.optim.AdamW's default decay");
    tg_opt_config rms = tg_opt_config_default(TG_OPT_RMSPROP);
    cr_assert(rms.lr == 0.01f && rms.alpha == 0.99f && rms.eps == 1e-8f && rms.momentum == 0.0f && !rms.centered);
    cr_assert_eq(rms.weight_decay, 0.0f);
}

/* Parameters large enough for the update to go multi-threaded (over 1M elements in all): a tall
 * matrix, a vector, and a wide matrix with odd sizes. */
enum { BIG_PARAMS = 3 };

static void make_big_params(tg_param p[BIG_PARAMS], uint64_t seed)
{
    tg_rng rng;
    tg_rng_seed(&rng, seed, 3);
    tg_param_init(&p[0], "tall.weight", 2, (size_t[]){1100, 1000}, NULL);
    tg_param_init(&p[1], "vector", 1, (size_t[]){5000}, NULL);
    tg_param_init(&p[2], "wide.weight", 2, (size_t[]){37, 2003}, NULL);
    for (int i = 0; i < BIG_PARAMS; i++) {
        tg_rng_fill_uniform(&rng, p[i].value.data, p[i].value.size, -1.7f, 1.7f);
        tg_rng_fill_uniform(&rng, p[i].grad.data, p[i].grad.size, -0.17f, 0.17f);
    }
}

/* The configurations the threaded split must not change: each update loop, with groups (the
 * vector without decay) and a schedule on the new ones.  SGD and RMSprop compile one loop per
 * variant (optim_rules.c): the plain ones and SGD's momentum are here beside the fullest ones. */
static const struct {
    const char *name;
    tg_opt_config cfg;
    bool groups_and_schedule;
} threaded[] = {
    {"adam", {.kind = TG_OPT_ADAM, .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f}, false},
    {"adamw", {.kind = TG_OPT_ADAMW, .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f},
     true},
    {"rmsprop, centered, momentum",
     {.kind = TG_OPT_RMSPROP, .lr = 1e-3f, .alpha = 0.99f, .eps = 1e-8f, .momentum = 0.9f, .centered = true,
      .weight_decay = 0.01f},
     true},
    {"sgd, nesterov", {.kind = TG_OPT_SGD, .lr = 1e-2f, .momentum = 0.9f, .nesterov = true, .weight_decay = 1e-3f},
     true},
    {"sgd", {.kind = TG_OPT_SGD, .lr = 1e-2f}, false},
    {"sgd, momentum", {.kind = TG_OPT_SGD, .lr = 1e-2f, .momentum = 0.9f}, false},
    {"rmsprop", {.kind = TG_OPT_RMSPROP, .lr = 1e-3f, .alpha = 0.99f, .eps = 1e-8f}, false},
};

/* Runs three steps of threaded[row] on fresh parameters with `threads` threads; fused zeroing when
 * asked. */
static void three_steps(size_t row, tg_param p[BIG_PARAMS], int threads, bool fused_zero)
{
    make_big_params(p, 11);
    tg_param *params[BIG_PARAMS] = {&p[0], &p[1], &p[2]};
    tg_optimizer o = make_optim(&threaded[row].cfg, params, BIG_PARAMS);
    if (threaded[row].groups_and_schedule) {
        cr_assert_eq(tg_optim_no_decay_1d(&o, NULL), TG_OK);
        cr_assert_eq(tg_optim_set_schedule(&o, &WARM_COSINE, NULL), TG_OK);
    }
    tg_set_threads(threads);
    for (int step = 0; step < 3; step++) {
        tg_rng rng;
        tg_rng_seed(&rng, 100 + (uint64_t)step, 0);
        for (int i = 0; i < BIG_PARAMS; i++)
            tg_rng_fill_uniform(&rng, p[i].grad.data, p[i].grad.size, -0.17f, 0.17f);
        cr_assert_eq(fused_zero ? tg_optim_step_zero_grad(&o, NULL) : tg_optim_step(&o, NULL), TG_OK);
    }
    tg_optim_free(&o);
}

/* Threads split each parameter: the same bits as one thread, and (the fused zeroing reaching
 * every gradient element) no element left out. */
TABLE_TEST(optim, threaded_update_is_bitwise_identical_and_fused_zeroing_matches, threaded)
{
    const char *what = threaded[*row].name;
    tg_param one[BIG_PARAMS], two[BIG_PARAMS], three[BIG_PARAMS], fused[BIG_PARAMS];
    three_steps(*row, one, 1, false);
    three_steps(*row, two, 2, false);
    three_steps(*row, three, 3, false);
    three_steps(*row, fused, 2, true);
    tg_set_threads(1);
    for (int i = 0; i < BIG_PARAMS; i++) {
        size_t bytes = one[i].value.size * sizeof(float);
        cr_assert(memcmp(one[i].value.data, two[i].value.data, bytes) == 0, "%s: %s: 1 vs 2 threads differ", what,
                  one[i].name);
        cr_assert(memcmp(one[i].value.data, three[i].value.data, bytes) == 0, "%s: %s: 1 vs 3 threads differ", what,
                  one[i].name);
        cr_assert(memcmp(one[i].value.data, fused[i].value.data, bytes) == 0, "%s: %s: fused zeroing changed the update",
                  what, one[i].name);
        for (size_t k = 0; k < fused[i].grad.size; k++)
            cr_assert_eq(fused[i].grad.data[k], 0.0f, "%s: %s: gradient %zu not zeroed", what, fused[i].name, k);
        cr_assert_neq(one[i].grad.data[0], 0.0f, "tg_optim_step must leave gradients alone");
    }
    for (int i = 0; i < BIG_PARAMS; i++) {
        tg_param_free(&one[i]);
        tg_param_free(&two[i]);
        tg_param_free(&three[i]);
        tg_param_free(&fused[i]);
    }
}

/* A bad element anywhere (the vector, near the end or the start of the wide parameter) stops the
 * step on any thread count before anything changes. */
Test(optim, fused_zeroing_changes_nothing_on_a_bad_gradient)
{
    static const struct { int param; size_t element; } bad[] = {{1, 4321}, {2, 36 * 2003 + 2001}, {2, 17}};
    for (size_t t = 0; t < sizeof bad / sizeof bad[0]; t++) {
        tg_set_threads(1 + (int)t % 2);
        tg_param p[BIG_PARAMS];
        make_big_params(p, 5);
        p[bad[t].param].grad.data[bad[t].element] = NAN;
        float g0 = p[0].grad.data[0], w0 = p[0].value.data[0], w2 = p[2].value.data[5];
        tg_param *params[BIG_PARAMS] = {&p[0], &p[1], &p[2]};
        tg_opt_config cfg = tg_opt_config_default(TG_OPT_ADAM);
        tg_optimizer o = make_optim(&cfg, params, BIG_PARAMS);
        tg_error err;
        cr_assert_eq(tg_optim_step_zero_grad(&o, &err), TG_ERR_NUMERIC, "case %zu", t);
        cr_assert(strstr(err.msg, p[bad[t].param].name) != NULL, "message names the parameter: %s", err.msg);
        cr_assert_eq(p[0].grad.data[0], g0, "gradients must survive a rejected step");
        cr_assert_eq(p[0].value.data[0], w0);
        cr_assert_eq(p[2].value.data[5], w2);
        cr_assert_eq(o.step, 0);
        tg_optim_free(&o);
        for (int i = 0; i < BIG_PARAMS; i++)
            tg_param_free(&p[i]);
    }
    tg_set_threads(1);
}

/* ---- subnormal state -------------------------------------------------------------------- */

/* Whether x is subnormal: nonzero and below FLT_MIN in magnitude. */
static bool subnormal(float x) { return x != 0.0f && fabsf(x) < FLT_MIN; }

static const tg_opt_kind DECAYING[] = {TG_OPT_SGD, TG_OPT_ADAM, TG_OPT_RMSPROP};

/* Every optimizer with a decaying state, on two threads and a parameter big enough to be split
 * between them: even elements get one tiny gradient and then zeros (the moment decays by beta1 or
 * the momentum and would pass ~150 steps through the subnormal range), odd ones a constant
 * 1e-20 (whose square is subnormal: Adam's v and RMSprop's square average would be, from the
 * first step).  No state element may ever be subnormal, and the calling thread's own arithmetic
 * must keep its subnormals after the steps. */
TABLE_TEST(optim, state_never_goes_subnormal, DECAYING)
{
    enum { N = 70000, STEPS = 300 };
    tg_fp_mode saved = tg_subnormals_flush();
    volatile float tiny = 1e-30f;
    volatile float product = tiny * 1e-10f; /* volatile: made before the restore, not moved past it */
    tg_subnormals_restore(saved);
    bool flushes = product == 0.0f;
    if (!flushes) /* valgrind ignores MXCSR's FTZ and DAZ; some processors have no such mode */
        cr_skip("subnormals cannot be flushed here: the optimizers keep them (and run slower)");
    tg_set_threads(2);
    tg_param p, *pp = &p;
    cr_assert_eq(tg_param_init(&p, "w", 1, (size_t[]){N}, NULL), TG_OK);
    for (size_t i = 0; i < N; i++)
        p.value.data[i] = 0.5f;
    tg_opt_config cfg = tg_opt_config_default(DECAYING[*row]);
    cfg.momentum = DECAYING[*row] == TG_OPT_SGD ? 0.9f : cfg.momentum;
    tg_optimizer o = make_optim(&cfg, &pp, 1);
    long nonzero_late = 0; /* state elements still nonzero after 100 steps: the test saw decay */
    for (int s = 1; s <= STEPS; s++) {
        for (size_t i = 0; i < N; i++)
            p.grad.data[i] = i % 2 ? 1e-20f : s == 1 ? 1e-30f : 0.0f;
        cr_assert_eq(tg_optim_step(&o, NULL), TG_OK);
        for (int k = 0; k < tg_optim_state_count(&o); k++) {
            char name[TG_OPT_STATE_NAME_MAX];
            const tg_tensor *t = tg_optim_state_tensor(&o, k, name);
            for (size_t i = 0; i < t->size; i++) {
                cr_assert(!subnormal(t->data[i]), "%s[%zu] = %g after step %d is subnormal", name, i, t->data[i], s);
                nonzero_late += s > 100 && i % 2 == 0 && t->data[i] != 0.0f;
            }
        }
    }
    if (DECAYING[*row] != TG_OPT_RMSPROP) /* its square average of 1e-30² is zero from the start */
        cr_assert(nonzero_late > 0, "the pulse's moment decayed to zero too soon to test anything");
    cr_assert(subnormal(tiny * 1e-10f), "after a step the calling thread flushes subnormals: its mode was not restored");
    tg_optim_free(&o);
    tg_param_free(&p);
    tg_set_threads(1);
}

/* ---- the two builds of Adam's update (nn/optim_rules.c) -------------------------------------- */

/* One build's run over n elements from the same start: w, g, m, v, with gradients, moments and
 * weights spread over many binades (zeros, tiny and large values included). */
typedef struct adam_state {
    tg_param p;
    tg_tensor m, v;
} adam_state;

static void adam_state_init(adam_state *s, size_t n, uint64_t seed)
{
    cr_assert_eq(tg_param_init(&s->p, "w", 1, (size_t[]){n}, NULL), TG_OK);
    cr_assert_eq(tg_tensor_zeros1(&s->m, n, NULL), TG_OK);
    cr_assert_eq(tg_tensor_zeros1(&s->v, n, NULL), TG_OK);
    tg_rng rng;
    tg_rng_seed(&rng, seed, 3);
    for (size_t i = 0; i < n; i++) {
        double scale = ldexp(1.0, (int)(tg_rng_uniform(&rng) * 40.0) - 30);
        s->p.value.data[i] = (float)((tg_rng_uniform(&rng) - 0.5) * 4.0);
        s->p.grad.data[i] = i % 7 == 0 ? 0.0f : (float)((tg_rng_uniform(&rng) - 0.5) * scale);
        s->m.data[i] = (float)((tg_rng_uniform(&rng) - 0.5) * scale * 0.1);
        s->v.data[i] = (float)(tg_rng_uniform(&rng) * scale * scale * 0.01);
    }
}

static void adam_state_free(adam_state *s)
{
    tg_param_free(&s->p);
    tg_tensor_free(&s->m);
    tg_tensor_free(&s->v);
}

static bool same_bits(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof *a) == 0; }

/* Why a test of the optimizers' 512-bit builds skips (tensor/vmath.h's TG_HAVE_DIVIDES512). */
#define NO_512_BIT_BUILD_BECAUSE "(no AVX-512, not GCC on x86-64, or a sanitizer build)"

/* The 512-bit build (Zen 5's) against the 256-bit one, bit for bit, on any processor that can run
 * both: Adam and AdamW, with and without the fused zeroing, over a run that is no multiple of a
 * vector (and starts at an odd element). */
Test(optim, adam_builds_for_256_and_512_bits_agree)
{
    enum { N = 100003 };
    const size_t lo = 5, hi = N;
    for (int kind = 0; kind < 2; kind++)
        for (int zero = 0; zero < 2; zero++) {
            tg_opt_config cfg = tg_opt_config_default(kind ? TG_OPT_ADAMW : TG_OPT_ADAM);
            cfg.weight_decay = 0.01f;
            adam_factors f = tg_adam_factors_for(cfg.kind, (step_settings){.lr = 1e-3f, .wd = 0.01f}, 0.1, 0.001);
            adam_state narrow, wide;
            adam_state_init(&narrow, N, 7);
            adam_state_init(&wide, N, 7);
            cr_assert(tg_adam_update_built_for(256, &cfg, &narrow.p, &narrow.m, &narrow.v, 0.5f, f, zero, lo, hi));
            bool ran = tg_adam_update_built_for(512, &cfg, &wide.p, &wide.m, &wide.v, 0.5f, f, zero, lo, hi);
            if (ran) {
                cr_assert(same_bits(narrow.p.value.data, wide.p.value.data, N), "kind %d zero %d: w", kind, zero);
                cr_assert(same_bits(narrow.p.grad.data, wide.p.grad.data, N), "kind %d zero %d: g", kind, zero);
                cr_assert(same_bits(narrow.m.data, wide.m.data, N), "kind %d zero %d: m", kind, zero);
                cr_assert(same_bits(narrow.v.data, wide.v.data, N), "kind %d zero %d: v", kind, zero);
            }
            adam_state_free(&narrow);
            adam_state_free(&wide);
            if (!ran)
                cr_skip_test("no 512-bit build of Adam's update here " NO_512_BIT_BUILD_BECAUSE);
        }
}

/* ---- SGD's and RMSprop's vectorized loops against plain ones ------------------------------ */

/* The update rules of optim.h element by element, with their flags tested at every element: the
 * plain twins of optim_rules.c's per-variant loops.  (sgd: buf NULL without momentum.) */
static void sgd_plain(const tg_opt_config *c, step_settings set, float *w, float *g, float *buf, float grad_scale,
                      bool zero_grad, size_t lo, size_t hi)
{
    for (size_t i = lo; i < hi; i++) {
        float d = grad_scale * g[i] + set.wd * w[i];
        if (zero_grad)
            g[i] = 0.0f;
        if (buf) {
            buf[i] = c->momentum * buf[i] + d;
            d = c->nesterov ? d + c->momentum * buf[i] : buf[i];
        }
        w[i] -= set.lr * d;
    }
}

static void rmsprop_plain(const tg_opt_config *c, step_settings set, float *w, float *g, float *sq, float *buf,
                          float *avg, float grad_scale, bool zero_grad, size_t lo, size_t hi)
{
    for (size_t i = lo; i < hi; i++) {
        float d = grad_scale * g[i] + set.wd * w[i];
        if (zero_grad)
            g[i] = 0.0f;
        sq[i] = c->alpha * sq[i] + (1.0f - c->alpha) * (d * d);
        float var = sq[i];
        if (avg) {
            avg[i] = c->alpha * avg[i] + (1.0f - c->alpha) * d;
            var = sq[i] - avg[i] * avg[i];
            var = var > 0.0f ? var : 0.0f;
        }
        float denom = sqrtf(var) + c->eps;
        if (buf) {
            buf[i] = c->momentum * buf[i] + d / denom;
            w[i] -= set.lr * buf[i];
        } else {
            w[i] -= set.lr * d / denom;
        }
    }
}

enum { RULE_N = 10007, RULE_ARRAYS = 5 }; /* w, g and up to three state arrays */

/* Two identical sets of RULE_ARRAYS arrays of RULE_N floats: values of many scales, every
 * seventh gradient zero.  state[.][0] (a mean of squares: RMSprop's square_avg) is >= 0;
 * state[.][1] and [2] (a momentum buffer, RMSprop's centered grad_avg) take either sign. */
static void rule_arrays(tg_param *p, float *state[2][3], uint64_t seed)
{
    tg_rng rng;
    tg_rng_seed(&rng, seed, 9);
    for (int copy = 0; copy < 2; copy++)
        cr_assert_eq(tg_param_init(&p[copy], "w", 1, (size_t[]){RULE_N}, NULL), TG_OK);
    for (int k = 0; k < 3; k++)
        for (int copy = 0; copy < 2; copy++)
            cr_assert_not_null(state[copy][k] = calloc(RULE_N, sizeof(float)));
    for (size_t i = 0; i < RULE_N; i++) {
        double scale = ldexp(1.0, (int)(tg_rng_uniform(&rng) * 30.0) - 20);
        float x[RULE_ARRAYS];
        for (int a = 0; a < RULE_ARRAYS; a++)
            x[a] = (float)((tg_rng_uniform(&rng) - 0.5) * scale);
        x[1] = i % 7 == 0 ? 0.0f : x[1];
        /* square_avg >= 0, drawn apart from grad_avg (x[4]): a centered variance square_avg -
         * grad_avg² is often negative, so the clamp to 0 is exercised */
        x[2] = x[2] * x[2] + x[3] * x[3];
        for (int copy = 0; copy < 2; copy++) {
            p[copy].value.data[i] = x[0], p[copy].grad.data[i] = x[1];
            state[copy][0][i] = x[2], state[copy][1][i] = x[3], state[copy][2][i] = x[4];
        }
    }
}

static void rule_arrays_free(tg_param *p, float *state[2][3])
{
    for (int copy = 0; copy < 2; copy++) {
        tg_param_free(&p[copy]);
        for (int k = 0; k < 3; k++)
            free(state[copy][k]);
    }
}

static void rule_arrays_agree(tg_param *p, float *state[2][3], const char *what)
{
    cr_assert(same_bits(p[0].value.data, p[1].value.data, RULE_N), "%s: weights differ", what);
    cr_assert(same_bits(p[0].grad.data, p[1].grad.data, RULE_N), "%s: gradients differ", what);
    for (int k = 0; k < 3; k++)
        cr_assert(same_bits(state[0][k], state[1][k], RULE_N), "%s: state array %d differs", what, k);
    rule_arrays_free(p, state);
}

/* What both tests below run their rules with: weight decay and a gradient scale on, over a run
 * [RULE_LO, RULE_HI) that starts at an odd element and is no multiple of a vector. */
enum { RULE_LO = 5, RULE_HI = RULE_N - 2 };
static const step_settings RULE_SET = {.lr = 0.01f, .wd = 0.02f};
static const float RULE_GRAD_SCALE = 0.75f;

/* Every variant of SGD (plain, momentum, Nesterov; each with and without zeroing): the same bits
 * as the plain loop, and nothing outside the run touched. */
Test(optim, sgd_loops_match_their_plain_twin)
{
    for (int variant = 0; variant < 6; variant++) { /* 0-1 plain, 2-3 momentum, 4-5 Nesterov */
        bool zero = variant & 1, momentum = variant >= 2;
        tg_param p[2];
        float *state[2][3];
        char what[64];
        rule_arrays(p, state, 40 + (uint64_t)variant);
        tg_opt_config c = tg_opt_config_default(TG_OPT_SGD);
        c.momentum = 0.9f;
        c.nesterov = variant >= 4;
        tg_tensor buf = {.data = state[1][0]};
        sgd_plain(&c, RULE_SET, p[0].value.data, p[0].grad.data, momentum ? state[0][0] : NULL, RULE_GRAD_SCALE, zero,
                  RULE_LO, RULE_HI);
        tg_sgd_update(&c, RULE_SET, &p[1], momentum ? &buf : NULL, RULE_GRAD_SCALE, zero, RULE_LO, RULE_HI);
        snprintf(what, sizeof what, "sgd momentum %d nesterov %d zero %d", momentum, c.nesterov, zero);
        rule_arrays_agree(p, state, what);
    }
}

/* RMSprop's eight variants (momentum, centered, zeroing: each on or off) in both builds (256 and
 * 512 bits, where the processor runs the second), as for SGD above. */
Test(optim, rmsprop_builds_match_their_plain_twin)
{
    bool ran512 = true;
    for (int bits = 256; bits <= 512; bits += 256)
        for (int variant = 0; variant < 8; variant++) {
            bool momentum = variant & 4, centered = variant & 2, zero = variant & 1;
            tg_param p[2];
            float *state[2][3];
            char what[80];
            rule_arrays(p, state, 60 + (uint64_t)variant);
            tg_opt_config c = tg_opt_config_default(TG_OPT_RMSPROP);
            c.momentum = 0.9f;
            float *buf[2] = {momentum ? state[0][1] : NULL, momentum ? state[1][1] : NULL};
            float *avg[2] = {centered ? state[0][2] : NULL, centered ? state[1][2] : NULL};
            rmsprop_plain(&c, RULE_SET, p[0].value.data, p[0].grad.data, state[0][0], buf[0], avg[0], RULE_GRAD_SCALE,
                          zero, RULE_LO, RULE_HI);
            bool ran = tg_rmsprop_update_built_for(bits, &c, RULE_SET, &p[1], state[1][0], buf[1], avg[1],
                                                   RULE_GRAD_SCALE, zero, RULE_LO, RULE_HI);
            cr_assert(ran || bits == 512, "the 256-bit build must run everywhere");
            ran512 = ran512 && ran;
            snprintf(what, sizeof what, "rmsprop %d bits momentum %d centered %d zero %d", bits, momentum, centered,
                     zero);
            if (ran)
                rule_arrays_agree(p, state, what);
            else
                rule_arrays_free(p, state);
        }
    if (!ran512)
        cr_skip_test("no 512-bit build of RMSprop's update here " NO_512_BIT_BUILD_BECAUSE "; 256 bits checked");
}
