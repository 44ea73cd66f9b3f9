/* tests/test_cae_deep.c — the CAE's contractive penalty by the generic route (models/cae/cae_deep.c):
 * inside the one-layer model it equals the fused op's value and gradients for every activation;
 * a deep model's exact penalty, and the closed-form norms that `cae eval` reports, equal ‖J‖_F²
 * of the Jacobian that tg_jacobian builds column by column; Hutchinson's probes give the same
 * bits on any thread count; a deep model survives a checkpoint round trip. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/jvp.h"
#include "cae_model.h"
#include "tensor/parallel.h"

/* (in place: the model's params point into it) */
static void make_model(cae_model *m, cae_config cfg, uint64_t seed)
{
    tg_rng rng;
    tg_rng_seed(&rng, seed, 3);
    tg_error err = {0};
    cr_assert_eq(cae_model_init(m, &cfg, &rng, &err), TG_OK, "%s", err.msg);
    for (int p = 0; p < m->n_params; p++) /* non-zero biases: no special point */
        if (m->params[p]->value.ndim == 1)
            tg_rng_fill_uniform(&rng, m->params[p]->value.data, m->params[p]->value.size, -0.5f, 0.5f);
}

static cae_config deep_config(const char *encoder, tg_activation act)
{
    cae_config cfg = cae_config_default();
    tg_error err = {0};
    cr_assert_eq(cae_config_set_encoder(&cfg, encoder, &err), TG_OK, "%s", err.msg);
    cfg.act = act;
    return cfg;
}

static void fill_inputs(tg_tensor *x, size_t B, size_t D, uint64_t seed)
{
    cr_assert_eq(tg_tensor_zeros2(x, B, D, NULL), TG_OK);
    tg_rng rng;
    tg_rng_seed(&rng, seed, 9);
    tg_rng_fill_uniform(&rng, x->data, x->size, 0.0f, 1.0f);
}

/* The penalty term P of the model on x with the given route, and every parameter's gradient of
 * it, concatenated into grads (room for all of them). */
static float penalty_and_grads(cae_model *m, tg_tensor *x, cae_penalty_kind route, float *grads)
{
    m->cfg.penalty = route;
    m->noise_held = true;
    tg_tape *t = tg_tape_new(NULL);
    tg_params_zero_grad(m->params, m->n_params);
    cae_graph g;
    cr_assert_eq(cae_build(t, m, tg_input(t, x), CAE_TERMS_PENALTY, &g), TG_OK, "%s", tg_tape_error(t));
    tg_error err = {0};
    cr_assert_eq(tg_backward(t, g.loss, &err), TG_OK, "%s", err.msg);
    size_t at = 0;
    for (int p = 0; p < m->n_params; p++) {
        memcpy(grads + at, m->params[p]->grad.data, m->params[p]->grad.size * sizeof(float));
        at += m->params[p]->grad.size;
    }
    float value = g.loss->value.data[0];
    tg_tape_free(t);
    return value;
}

static size_t param_count(const cae_model *m)
{
    size_t n = 0;
    for (int p = 0; p < m->n_params; p++)
        n += m->params[p]->value.size;
    return n;
}

/* The bar, inside the model: for every activation (and a non-default parameter), tied
 * or not, the generic exact penalty equals the fused op's value and gradients within 1e-5
 * relative (of the value; of the largest gradient). */
Test(cae_deep, one_layer_model_generic_exact_equals_fused_for_every_activation)
{
    enum { B = 5, D = 12, H = 7 };
    tg_tensor x;
    fill_inputs(&x, B, D, 1);
    for (int kind = 0; kind < TG_ACT_COUNT; kind++)
        for (int variant = 0; variant < (tg_activation_param_name((tg_activation_kind)kind) ? 2 : 1); variant++)
            for (int tied = 0; tied < 2; tied++) {
                cae_config cfg = cae_config_default();
                cfg.input = D;
                cfg.hidden = H;
                cfg.tied = tied;
                cfg.act = tg_activation_of((tg_activation_kind)kind);
                if (variant)
                    cfg.act.param = 1.7f;
                cae_model m;
                make_model(&m, cfg, 20 + (uint64_t)kind);
                size_t n = param_count(&m);
                float *g_fused = calloc(n, sizeof(float)), *g_exact = calloc(n, sizeof(float));
                float fused = penalty_and_grads(&m, &x, CAE_PENALTY_FUSED, g_fused);
                float exact = penalty_and_grads(&m, &x, CAE_PENALTY_EXACT, g_exact);
                const char *name = tg_activation_name(cfg.act.kind);
                cr_assert_gt(fused, 0.0f, "%s: a zero penalty proves nothing", name);
                cr_assert_leq(fabs(exact - fused), 1e-5 * fabs(fused), "%s tied=%d: exact %.9g vs fused %.9g", name, tied,
                              exact, fused);
                double scale = 0.0;
                for (size_t k = 0; k < n; k++)
                    scale = fmax(scale, fabs(g_fused[k]));
                cr_assert_gt(scale, 0.0);
                for (size_t k = 0; k < n; k++)
                    cr_assert_leq(fabs(g_exact[k] - g_fused[k]), 1e-5 * scale, "%s tied=%d: gradient %zu: %.9g vs %.9g",
                                  name, tied, k, g_exact[k], g_fused[k]);
                free(g_fused);
                free(g_exact);
                cae_model_free(&m);
            }
    tg_tensor_free(&x);
}

/* Σ of squares of the batch's Jacobian, built column by column (tg_jacobian), divided by B: the
 * rows do not mix, so the off-diagonal blocks are zero and this is the mean of ‖J_b‖². */
static double jacobian_by_columns(cae_model *m, tg_tensor *x)
{
    tg_tape *t = tg_tape_new(NULL);
    tg_node *xn = tg_input(t, x);
    tg_node *h = cae_encode(t, m, xn);
    tg_tensor J = {0};
    tg_error err = {0};
    cr_assert_eq(tg_jacobian(t, h, xn, TG_JACOBIAN_COLUMNS, &J, &err), TG_OK, "%s", err.msg);
    double sum = 0.0;
    for (size_t k = 0; k < J.size; k++)
        sum += (double)J.data[k] * J.data[k];
    tg_tensor_free(&J);
    tg_tape_free(t);
    return sum / (double)tg_tensor_nrows(x);
}

/* A deep encoder (three layers, and two with other activations): its exact penalty, the value
 * cae eval reports (CAE_TERMS_RECON, cae_jacobian_norms' closed form) and the Jacobian built by
 * columns agree.  A penalty that skipped a layer, or norms that left out one of its weights or
 * slopes, would differ by far more than rounding. */
Test(cae_deep, exact_penalty_is_the_squared_norm_of_the_column_built_jacobian)
{
    static const char *const encoders[] = {"10,8,7,5", "10,12,4", "10,6,9"};
    static const tg_activation_kind acts[] = {TG_ACT_SIGMOID, TG_ACT_TANH, TG_ACT_SOFTPLUS};
    for (int c = 0; c < 3; c++) {
        cae_model m;
        make_model(&m, deep_config(encoders[c], tg_activation_of(acts[c])), 30 + (uint64_t)c);
        cr_assert_eq(cae_model_depth(&m), c == 0 ? 3u : 2u);
        tg_tensor x;
        fill_inputs(&x, 4, 10, 2 + (uint64_t)c);
        double want = jacobian_by_columns(&m, &x);
        float *grads = calloc(param_count(&m), sizeof(float));
        float exact = penalty_and_grads(&m, &x, CAE_PENALTY_EXACT, grads);
        cr_assert_leq(fabs(exact - want), 1e-5 * want, "%s: exact penalty %.9g vs ‖J‖² by columns %.9g", encoders[c],
                      exact, want);
        tg_tape *t = tg_tape_new(NULL);
        tg_tape_set_grad_enabled(t, false);
        cae_graph g;
        cr_assert_eq(cae_build(t, &m, tg_input(t, &x), CAE_TERMS_RECON, &g), TG_OK);
        cr_assert_leq(fabs(g.penalty->value.data[0] - want), 1e-5 * want, "%s: reported %.9g vs %.9g", encoders[c],
                      g.penalty->value.data[0], want);
        tg_tape_free(t);
        free(grads);
        tg_tensor_free(&x);
        cae_model_free(&m);
    }
}

/* The Jacobian of one image (render's tangents, compare's spectrum) is the column-built one. */
Test(cae_deep, deep_jacobian_at_one_image_matches_the_columns)
{
    cae_model m;
    make_model(&m, deep_config("9,6,4", tg_activation_of(TG_ACT_TANH)), 5);
    tg_tensor x;
    fill_inputs(&x, 1, 9, 4);
    float J[4 * 9];
    tg_error err = {0};
    cr_assert_eq(cae_deep_jacobian_at(&m, x.data, J, &err), TG_OK, "%s", err.msg);
    tg_tape *t = tg_tape_new(NULL);
    tg_node *xn = tg_input(t, &x);
    tg_tensor ref = {0};
    cr_assert_eq(tg_jacobian(t, cae_encode(t, &m, xn), xn, TG_JACOBIAN_COLUMNS, &ref, &err), TG_OK, "%s", err.msg);
    for (size_t k = 0; k < 4 * 9; k++)
        cr_assert_float_eq(J[k], ref.data[k], 1e-6, "J[%zu]: %g vs %g", k, J[k], ref.data[k]);
    tg_tensor_free(&ref);
    tg_tape_free(t);
    tg_tensor_free(&x);
    cae_model_free(&m);
}

/* The training step's Hutchinson penalty of a deep model: the same bits on 1 and 3 threads; other
 * probes at the next step. */
Test(cae_deep, hutchinson_step_is_the_same_for_any_thread_count)
{
    cae_model m;
    make_model(&m, deep_config("40,24,8", tg_activation_of(TG_ACT_SIGMOID)), 6);
    tg_tensor x;
    fill_inputs(&x, 16, 40, 7);
    size_t n = param_count(&m);
    float *g1 = calloc(n, sizeof(float)), *g3 = calloc(n, sizeof(float));
    int threads = tg_get_threads();
    tg_set_threads(1);
    float one = penalty_and_grads(&m, &x, CAE_PENALTY_HUTCHINSON, g1);
    tg_set_threads(3);
    float three = penalty_and_grads(&m, &x, CAE_PENALTY_HUTCHINSON, g3);
    tg_set_threads(threads);
    cr_assert_eq(memcmp(&one, &three, sizeof one), 0, "%.9g vs %.9g", one, three);
    cr_assert_eq(memcmp(g1, g3, n * sizeof(float)), 0, "gradients differ with the thread count");
    cae_model_set_step(&m, m.noise_step + 1);
    cr_assert_neq(penalty_and_grads(&m, &x, CAE_PENALTY_HUTCHINSON, g3), one, "another step, other probes");
    free(g1);
    free(g3);
    tg_tensor_free(&x);
    cae_model_free(&m);
}

/* A deep, tied model written to a checkpoint reads back with its layers, its penalty and its
 * weights. */
Test(cae_deep, checkpoint_round_trip)
{
    cae_config cfg = deep_config("12,9,6,3", tg_activation_of(TG_ACT_ELU));
    cfg.tied = true;
    cfg.penalty = CAE_PENALTY_EXACT;
    cae_model m, back;
    make_model(&m, cfg, 8);
    tg_error err = {0};
    tg_checkpoint *ck = tg_ckpt_new(&err);
    cr_assert_eq(cae_model_to_checkpoint(&m, ck, &err), TG_OK, "%s", err.msg);
    cr_assert_str_eq(tg_ckpt_get_meta(ck, "encoder"), "12,9,6,3");
    cr_assert_str_eq(tg_ckpt_get_meta(ck, "penalty"), "exact");
    cr_assert_not_null(tg_ckpt_find(ck, "enc2.weight"));
    cr_assert_null(tg_ckpt_find(ck, "dec0.weight"), "tied: no decoder weights");
    cr_assert_eq(cae_model_from_checkpoint(&back, ck, "mem", &err), TG_OK, "%s", err.msg);
    cr_assert_eq(back.cfg.depth, 3u);
    cr_assert_eq(back.cfg.penalty, CAE_PENALTY_EXACT);
    cr_assert_eq(back.n_params, m.n_params);
    for (int p = 0; p < m.n_params; p++)
        cr_assert_eq(memcmp(back.params[p]->value.data, m.params[p]->value.data, m.params[p]->value.size * sizeof(float)),
                     0, "%s", m.params[p]->name);
    tg_ckpt_free(ck);
    cae_model_free(&back);
    cae_model_free(&m);
}
