/* tests/test_optim.c — SGD and Adam against updates computed here, independently, in double
 * from the published formulas (PyTorch's torch.optim.SGD / torch.optim.Adam documentation). */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include "nn/optim.h"
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

Test(optim, sgd_momentum_matches_reference) { check_sgd_momentum(false); }
Test(optim, sgd_nesterov_matches_reference) { check_sgd_momentum(true); }

Test(optim, sgd_momentum_and_nesterov_differ)
{
    /* Guards the two reference checks above against both paths doing the same thing. */
    tg_param a, b, *pa = &a, *pb = &b;
    make_param(&a, "a", P0, 3);
    make_param(&b, "b", P0, 3);
    tg_opt_config cfg = tg_opt_config_default(TG_OPT_SGD);
    cfg.momentum = 0.9f;
    tg_optimizer oa = make_optim(&cfg, &pa, 1);
    cfg.nesterov = true;
    tg_optimizer ob = make_optim(&cfg, &pb, 1);
    for (int s = 0; s < 2; s++) {
        set_grad(&a, GRADS[s]);
        set_grad(&b, GRADS[s]);
        tg_optim_step(&oa, NULL);
        tg_optim_step(&ob, NULL);
    }
    cr_assert_neq(a.value.data[0], b.value.data[0]);
    tg_optim_free(&oa);
    tg_optim_free(&ob);
    tg_param_free(&a);
    tg_param_free(&b);
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

Test(optim, adam_matches_reference)
{
    tg_param p, *pp = &p;
    make_param(&p, "w", P0, 3);
    tg_opt_config cfg = tg_opt_config_default(TG_OPT_ADAM);
    cfg.lr = 0.05f;
    tg_optimizer o = make_optim(&cfg, &pp, 1);

    double ref[3], m[3] = {0}, v[3] = {0};
    memcpy(ref, P0, sizeof ref);
    for (int s = 0; s < 3; s++) {
        adam_reference(ref, m, v, GRADS[s], 3, s + 1, cfg.lr, cfg.beta1, cfg.beta2, cfg.eps);
        set_grad(&p, GRADS[s]);
        cr_assert_eq(tg_optim_step(&o, NULL), TG_OK);
        assert_close(&p, ref, 2e-6, "adam");
        for (int i = 0; i < 3; i++) {
            cr_assert(fabs(o.m[0].data[i] - m[i]) <= 1e-6 * (1 + fabs(m[i])), "adam m[%d]", i);
            cr_assert(fabs(o.v[0].data[i] - v[i]) <= 1e-6 * (1 + fabs(v[i])), "adam v[%d]", i);
        }
    }
    cr_assert_eq(o.step, 3);
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

Test(optim, adam_weight_decay_matches_reference)
{
    const double wd = 0.05;
    tg_param p, *pp = &p;
    make_param(&p, "w", P0, 3);
    tg_opt_config cfg = tg_opt_config_default(TG_OPT_ADAM);
    cfg.lr = 0.05f;
    cfg.weight_decay = (float)wd;
    tg_optimizer o = make_optim(&cfg, &pp, 1);

    double ref[3], m[3] = {0}, v[3] = {0}, g[3];
    memcpy(ref, P0, sizeof ref);
    for (int s = 0; s < 3; s++) {
        for (int i = 0; i < 3; i++)
            g[i] = GRADS[s][i] + (double)(float)wd * ref[i]; /* L2 decay joins the gradient */
        adam_reference(ref, m, v, g, 3, s + 1, cfg.lr, cfg.beta1, cfg.beta2, cfg.eps);
        set_grad(&p, GRADS[s]);
        tg_optim_step(&o, NULL);
        assert_close(&p, ref, 2e-6, "adam+wd");
    }
    tg_optim_free(&o);
    tg_param_free(&p);
}

/* ---- clipping and the gradient norm ----------------------------------------------------- */

Test(optim, grad_norm_is_global)
{
    tg_param a, b;
    tg_param *ps[2] = {&a, &b};
    make_param(&a, "a", (double[]){0, 0}, 2);
    make_param(&b, "b", (double[]){0}, 1);
    set_grad(&a, (double[]){3, 4});
    set_grad(&b, (double[]){12});
    tg_optimizer o = make_optim(&(tg_opt_config){.kind = TG_OPT_SGD, .lr = 1}, ps, 2);
    cr_assert_float_eq(tg_optim_grad_norm(&o), 13.0, 1e-12); /* sqrt(9 + 16 + 144) */
    tg_optim_free(&o);
    tg_param_free(&a);
    tg_param_free(&b);
}

Test(optim, sgd_clipping_by_hand)
{
    /* Global norm of (3 | 4) is 5 > 1, so both grads scale by 1/(5 + 1e-6);  lr 1, p0 = 0:
     * a = -3/5.000001, b = -4/5.000001.  A second optimizer with clip 10 leaves them alone. */
    tg_param a, b;
    tg_param *ps[2] = {&a, &b};
    make_param(&a, "a", (double[]){0}, 1);
    make_param(&b, "b", (double[]){0}, 1);
    set_grad(&a, (double[]){3});
    set_grad(&b, (double[]){4});
    tg_optimizer o = make_optim(&(tg_opt_config){.kind = TG_OPT_SGD, .lr = 1, .clip_norm = 1}, ps, 2);
    cr_assert_eq(tg_optim_step(&o, NULL), TG_OK);
    assert_close(&a, (double[]){-3.0 / 5.000001}, 1e-6, "clipped a");
    assert_close(&b, (double[]){-4.0 / 5.000001}, 1e-6, "clipped b");
    cr_assert_eq(a.grad.data[0], 3.0f, "the step must not rewrite the gradients");
    tg_optim_free(&o);

    a.value.data[0] = b.value.data[0] = 0;
    o = make_optim(&(tg_opt_config){.kind = TG_OPT_SGD, .lr = 1, .clip_norm = 10}, ps, 2);
    tg_optim_step(&o, NULL);
    assert_close(&a, (double[]){-3.0}, 1e-7, "unclipped a");
    assert_close(&b, (double[]){-4.0}, 1e-7, "unclipped b");
    tg_optim_free(&o);
    tg_param_free(&a);
    tg_param_free(&b);
}

Test(optim, adam_clipping_then_decay_matches_reference)
{
    /* Clipping scales the raw gradients (norm 5 -> 1 on step 1; step 2's norm 0.5 is left alone),
     * then weight decay is added: the order of torch's clip_grad_norm_ before Adam.step. */
    static const double G[2][2] = {{3.0, 4.0}, {0.3, -0.4}};
    const double clip = 1.0, wd = 0.01;
    static const double p0[2] = {1.0, -1.0};
    tg_param p, *pp = &p;
    make_param(&p, "w", p0, 2);
    tg_opt_config cfg = tg_opt_config_default(TG_OPT_ADAM);
    cfg.lr = 0.1f;
    cfg.clip_norm = (float)clip;
    cfg.weight_decay = (float)wd;
    tg_optimizer o = make_optim(&cfg, &pp, 1);

    double ref[2] = {p0[0], p0[1]}, m[2] = {0}, v[2] = {0}, g[2];
    for (int s = 0; s < 2; s++) {
        double norm = sqrt(G[s][0] * G[s][0] + G[s][1] * G[s][1]);
        double scale = norm > clip ? clip / (norm + 1e-6) : 1.0;
        for (int i = 0; i < 2; i++)
            g[i] = scale * G[s][i] + (double)(float)wd * ref[i];
        adam_reference(ref, m, v, g, 2, s + 1, cfg.lr, cfg.beta1, cfg.beta2, cfg.eps);
        set_grad(&p, G[s]);
        tg_optim_step(&o, NULL);
        assert_close(&p, ref, 2e-6, "adam clip");
    }
    tg_optim_free(&o);
    tg_param_free(&p);
}

/* ---- failures --------------------------------------------------------------------------- */

static void check_bad_gradient_rejected(float bad)
{
    tg_param a, b;
    tg_param *ps[2] = {&a, &b};
    make_param(&a, "enc.weight", (double[]){1, 2}, 2);
    make_param(&b, "enc.bias", (double[]){3, 4, 5}, 3);
    set_grad(&a, (double[]){0.5, 0.5});
    set_grad(&b, (double[]){0.5, 0.5, 0.5});
    b.grad.data[2] = bad; /* the last element of the last parameter: everything before is fine */
    tg_opt_config cfg = tg_opt_config_default(TG_OPT_ADAM);
    tg_optimizer o = make_optim(&cfg, ps, 2);

    tg_error err = {0};
    cr_assert_eq(tg_optim_step(&o, &err), TG_ERR_NUMERIC);
    cr_assert(strstr(err.msg, "enc.bias") != NULL, "message names the parameter: %s", err.msg);
    cr_assert(a.value.data[0] == 1 && a.value.data[1] == 2, "a changed");
    cr_assert(b.value.data[0] == 3 && b.value.data[1] == 4 && b.value.data[2] == 5, "b changed");
    cr_assert_eq(o.step, 0);
    cr_assert(o.m[0].data[0] == 0 && o.v[0].data[0] == 0, "state changed");

    /* A good gradient afterwards steps normally, as the first step. */
    b.grad.data[2] = 0.5f;
    cr_assert_eq(tg_optim_step(&o, &err), TG_OK);
    cr_assert_eq(o.step, 1);
    cr_assert(a.value.data[0] < 1);
    tg_optim_free(&o);
    tg_param_free(&a);
    tg_param_free(&b);
}

Test(optim, nan_gradient_rejected_nothing_changed) { check_bad_gradient_rejected(NAN); }
Test(optim, inf_gradient_rejected_nothing_changed) { check_bad_gradient_rejected(-INFINITY); }

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
    tg_param a, b;
    tg_param *ps[2] = {&a, &b};
    make_param(&a, "enc.weight", (double[]){1, 2}, 2);
    make_param(&b, "enc.bias", (double[]){3}, 1);
    set_grad(&a, (double[]){0.5, -2});
    set_grad(&b, (double[]){4});
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
    tg_param_free(&a);
    tg_param_free(&b);
}

Test(optim, restored_state_resumes_exactly)
{
    /* Two steps in one go == one step, copy the state into a fresh optimizer, one more step. */
    tg_param a, b, *pa = &a, *pb = &b;
    make_param(&a, "w", P0, 3);
    make_param(&b, "w", P0, 3);
    tg_opt_config cfg = tg_opt_config_default(TG_OPT_ADAM);
    cfg.lr = 0.05f;
    tg_optimizer oa = make_optim(&cfg, &pa, 1), ob = make_optim(&cfg, &pb, 1);
    set_grad(&a, GRADS[0]);
    set_grad(&b, GRADS[0]);
    tg_optim_step(&oa, NULL);
    tg_optim_step(&ob, NULL);

    tg_optimizer oc = make_optim(&cfg, &pb, 1);
    char name[TG_OPT_STATE_NAME_MAX];
    for (int k = 0; k < tg_optim_state_count(&ob); k++)
        cr_assert_eq(tg_tensor_copy(tg_optim_state_tensor(&oc, k, name), tg_optim_state_tensor(&ob, k, name), NULL),
                     TG_OK);
    oc.step = ob.step;
    set_grad(&a, GRADS[1]);
    set_grad(&b, GRADS[1]);
    tg_optim_step(&oa, NULL);
    tg_optim_step(&oc, NULL);
    cr_assert(memcmp(a.value.data, b.value.data, 3 * sizeof(float)) == 0, "resumed run differs");
    tg_optim_free(&oa);
    tg_optim_free(&ob);
    tg_optim_free(&oc);
    tg_param_free(&a);
    tg_param_free(&b);
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
    cr_assert_eq(tg_opt_kind_parse("adamw"), -1);
    cr_assert_str_eq(tg_opt_kind_name(TG_OPT_ADAM), "adam");
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
        tg_rng_fill_normal(&rng, p[i].value.data, p[i].value.size, 0.0f, 1.0f);
        tg_rng_fill_normal(&rng, p[i].grad.data, p[i].grad.size, 0.0f, 0.1f);
    }
}

/* Runs three Adam steps on fresh parameters with `threads` threads; fused zeroing when asked. */
static void three_adam_steps(tg_param p[BIG_PARAMS], int threads, bool fused_zero)
{
    make_big_params(p, 11);
    tg_param *params[BIG_PARAMS] = {&p[0], &p[1], &p[2]};
    tg_opt_config cfg = tg_opt_config_default(TG_OPT_ADAM);
    tg_optimizer o = make_optim(&cfg, params, BIG_PARAMS);
    tg_set_threads(threads);
    for (int step = 0; step < 3; step++) {
        tg_rng rng;
        tg_rng_seed(&rng, 100 + (uint64_t)step, 0);
        for (int i = 0; i < BIG_PARAMS; i++)
            tg_rng_fill_normal(&rng, p[i].grad.data, p[i].grad.size, 0.0f, 0.1f);
        cr_assert_eq(fused_zero ? tg_optim_step_zero_grad(&o, NULL) : tg_optim_step(&o, NULL), TG_OK);
    }
    tg_optim_free(&o);
}

/* Threads split each parameter: the same bits as one thread, and (the fused zeroing reaching
 * every gradient element) no element left out. */
Test(optim, threaded_update_is_bitwise_identical_and_fused_zeroing_matches)
{
    tg_param one[BIG_PARAMS], two[BIG_PARAMS], three[BIG_PARAMS], fused[BIG_PARAMS];
    three_adam_steps(one, 1, false);
    three_adam_steps(two, 2, false);
    three_adam_steps(three, 3, false);
    three_adam_steps(fused, 2, true);
    tg_set_threads(1);
    for (int i = 0; i < BIG_PARAMS; i++) {
        size_t bytes = one[i].value.size * sizeof(float);
        cr_assert(memcmp(one[i].value.data, two[i].value.data, bytes) == 0, "%s: 1 vs 2 threads differ", one[i].name);
        cr_assert(memcmp(one[i].value.data, three[i].value.data, bytes) == 0, "%s: 1 vs 3 threads differ", one[i].name);
        cr_assert(memcmp(one[i].value.data, fused[i].value.data, bytes) == 0, "%s: fused zeroing changed the update",
                  one[i].name);
        for (size_t k = 0; k < fused[i].grad.size; k++)
            cr_assert_eq(fused[i].grad.data[k], 0.0f, "%s: gradient %zu not zeroed", fused[i].name, k);
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
