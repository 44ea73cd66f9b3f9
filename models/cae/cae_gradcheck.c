/* models/cae/cae_gradcheck.c — `cae gradcheck`: the model's analytic gradients, term by term,
 * against central differences of its loss on a small model (cae_main.c reads the options). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/gradcheck.h"
#include "cae_gradcheck.h"
#include "cae_model.h"

#define GRADCHECK_SAMPLE 64 /* elements checked per parameter without --all */

typedef struct gradcheck_ctx {
    cae_model *model;
    tg_tensor x; /* [B,D] */
    cae_terms terms;
    float scale; /* the loss is multiplied by this constant (1: as built) */
} gradcheck_ctx;

static tg_node *gradcheck_loss(tg_tape *tape, void *ctx)
{
    gradcheck_ctx *g = ctx;
    cae_graph graph;
    cae_build(tape, g->model, tg_input(tape, &g->x), g->terms, &graph);
    return g->scale == 1.0f ? graph.loss : tg_scale(tape, graph.loss, g->scale);
}

/* The higher-order term is small (~1e-3 for σ = 0.1), so its gradients would sit below the
 * check's floor, where errors are measured in absolute terms and a wrong gradient could pass.
 * Checking Q/Q₀ instead, with Q₀ its value at the checked point (a constant), puts it near 1:
 * the relative errors are the same, and the floor no longer hides them. */
static float unit_scale(tg_tape *tape, gradcheck_ctx *g)
{
    g->scale = 1.0f;
    bool grad = tg_tape_grad_enabled(tape);
    tg_tape_set_grad_enabled(tape, false);
    tg_tape_reset(tape);
    tg_node *loss = gradcheck_loss(tape, g);
    float value = loss ? fabsf(loss->value.data[0]) : 0.0f;
    tg_tape_reset(tape);
    tg_tape_set_grad_enabled(tape, grad);
    return value > 0.0f && isfinite(1.0f / value) ? 1.0f / value : 1.0f;
}

/* The pre-activations z_j = x·W_j + b_j of one input row: z [H]. */
static void preactivations(const cae_model *m, const float *x, double *z)
{
    const size_t D = m->cfg.input, H = m->cfg.hidden;
    for (size_t j = 0; j < H; j++) {
        z[j] = m->enc_b.value.data[j];
        for (size_t i = 0; i < D; i++)
            z[j] += (double)x[i] * m->enc_w.value.data[i * H + j];
    }
}

/* How row b sits against relu's kink: the smallest |z| of the row and, when the model has the
 * γ term, of its corrupted copies x_b + noise[c·B + b] (noise [k·B,D]: the fixed corruptions of
 * the check); how many units are active (z > 0: the penalty is zero without any); and how many
 * (copy, unit) pairs have z and z̃ on opposite sides, the only places where relu's γ term is
 * not zero.  copy: room for D floats; z: for 2·H doubles. */
typedef struct kink_position {
    double nearest;
    size_t active, crossings;
} kink_position;

static kink_position row_kink_position(const cae_model *m, const float *row, const float *noise, size_t b, size_t B,
                                       float *copy, double *z)
{
    const size_t D = m->cfg.input, H = m->cfg.hidden;
    double *zc = z + H;
    preactivations(m, row, z);
    kink_position k = {INFINITY, 0, 0};
    for (size_t j = 0; j < H; j++) {
        k.nearest = fmin(k.nearest, fabs(z[j]));
        k.active += z[j] > 0;
    }
    for (size_t c = 0; noise && c < m->cfg.corruptions; c++) {
        for (size_t i = 0; i < D; i++)
            copy[i] = row[i] + noise[(c * B + b) * D + i];
        preactivations(m, copy, zc);
        for (size_t j = 0; j < H; j++) {
            k.nearest = fmin(k.nearest, fabs(zc[j]));
            k.crossings += (z[j] > 0) != (zc[j] > 0);
        }
    }
    return k;
}

/* Redraws input rows until no pre-activation (of the inputs, and of their corrupted copies when
 * there is a γ term) lies within `margin` of relu's kink at 0, so that a step of ±eps on any
 * parameter cannot cross it (a finite difference across a kink measures nothing).  Also until
 * some unit is active and, with a γ term, some copy lies across the kink from its input:
 * otherwise the penalty (or the γ term) and all its gradients are zero, and its check would
 * test nothing.  Returns false if the inputs cannot be placed. */
static bool keep_away_from_kink(const cae_model *m, tg_tensor *x, double margin, tg_rng *rng)
{
    const size_t D = m->cfg.input, B = tg_tensor_nrows(x);
    bool copies = m->cfg.gamma > 0;
    /* The corruptions do not depend on x: those of zero inputs are the noise itself. */
    float *zeros = copies ? calloc(B * D, sizeof *zeros) : NULL;
    float *noise = copies ? malloc(m->cfg.corruptions * B * D * sizeof *noise) : NULL;
    float *copy = malloc(D * sizeof *copy);
    double *z = malloc(2 * m->cfg.hidden * sizeof *z);
    bool ok = copy && z && (!copies || (zeros && noise));
    if (ok && copies)
        cae_corrupt(&m->cfg, m->noise_step, zeros, B, noise);
    for (int round = 0; ok; round++) {
        size_t active = 0, crossings = 0;
        for (size_t b = 0; b < B && ok; b++) {
            float *row = x->data + b * D;
            kink_position k;
            int tries = 0;
            while (ok && (k = row_kink_position(m, row, noise, b, B, copy, z)).nearest < margin) {
                ok = ++tries <= 10000;
                tg_rng_fill_uniform(rng, row, D, 0.05f, 0.95f);
            }
            active += k.active;
            crossings += k.crossings;
        }
        if (active > 0 && (!copies || crossings > 0))
            break;
        ok = ok && round < 100;
        tg_rng_fill_uniform(rng, x->data, B * D, 0.05f, 0.95f);
    }
    free(zeros);
    free(noise);
    free(copy);
    free(z);
    return ok;
}

/* The model to check: --model FILE, or a small random one with the model options and non-zero
 * biases (so that the check does not sit at a special point).  TG_EXIT_OK or an exit status. */
static int gradcheck_model(const tg_cli *c, const cae_config *cfg, tg_rng *rng, cae_model *m)
{
    if (c->n_repeats == 1) {
        tg_error err;
        int rc = cae_model_load_file(m, c->repeats[0], &err);
        return rc ? tg_cli_fail(c, rc, &err) : TG_EXIT_OK;
    }
    if (c->n_repeats > 1) {
        tg_cli_say("cae gradcheck", "give at most one --model");
        return TG_EXIT_USAGE;
    }
    tg_error err;
    int rc = cae_model_init(m, cfg, rng, &err);
    if (rc) {
        tg_cli_say("cae gradcheck", "%s", err.msg);
        return tg_cli_exit_status(rc);
    }
    tg_rng_fill_uniform(rng, m->enc_b.value.data, m->enc_b.value.size, -0.5f, 0.5f);
    tg_rng_fill_uniform(rng, m->dec_b.value.data, m->dec_b.value.size, -0.2f, 0.2f);
    return TG_EXIT_OK;
}

/* The check's settings for one term: the higher-order term is checked as Q/Q₀ (see unit_scale),
 * with a step and a floor of its own. */
static tg_gradcheck_opts term_options(tg_tape *tape, gradcheck_ctx *ctx, const tg_gradcheck_opts *opts)
{
    tg_gradcheck_opts term_opts = *opts;
    ctx->scale = 1.0f;
    if (ctx->terms == CAE_TERMS_HESSIAN) {
        ctx->scale = unit_scale(tape, ctx);
        /* Q is made of differences f'(z) - f'(z̃) of float activations, so its value is
         * noisier (relative to its changes) than the other terms', and its third
         * derivatives are larger: eps 1e-2 gives truncation errors up to 9.7e-3 (tanh),
         * eps 3e-3 rounding noise up to 2.3e-2 on gradients ~3e-3.  A middle step, and a
         * floor of 3e-2 (about 4e-4 of the largest gradient, ~0.5..1 after the scaling),
         * measured over every activation, decoder, tying and seeds 1..6: at most 3.2e-3. */
        term_opts.eps = 5e-3;
        term_opts.floor = 3e-2;
    }
    return term_opts;
}

/* Checks every loss term separately (so a small λ cannot hide a wrong penalty gradient), then
 * the whole loss, one stderr line each; prints the largest error over all of them. */
static int check_terms(tg_tape *tape, gradcheck_ctx *ctx, const tg_gradcheck_opts *opts)
{
    static const char *const term_names[] = {"all", "reconstruction", "penalty", "hessian"};
    /* The higher-order term alone too when the model has one (γ > 0). */
    static const cae_terms order[] = {CAE_TERMS_RECON, CAE_TERMS_PENALTY, CAE_TERMS_HESSIAN, CAE_TERMS_ALL};
    cae_model *m = ctx->model;
    double worst = 0.0;
    size_t checked = 0;
    int status = TG_EXIT_OK;
    for (int t = 0; t < 4 && status == TG_EXIT_OK; t++) {
        if (order[t] == CAE_TERMS_HESSIAN && !(m->cfg.gamma > 0))
            continue;
        ctx->terms = order[t];
        tg_gradcheck_opts term_opts = term_options(tape, ctx, opts);
        tg_gradcheck_result res;
        tg_error err;
        int rc = tg_gradcheck(tape, gradcheck_loss, ctx, m->params, m->n_params, &term_opts, &res, &err);
        checked += res.checked;
        if (res.max_rel_err > worst)
            worst = res.max_rel_err;
        tg_cli_say("cae gradcheck", "term=%s max_rel_err=%.3g checked=%zu retried=%zu largest_grad=%.3g",
                   term_names[ctx->terms], res.max_rel_err, res.checked, res.retried, res.max_abs_grad);
        if (rc) {
            tg_cli_say("cae gradcheck", "term=%s: %s", term_names[ctx->terms], err.msg);
            status = TG_EXIT_INTERNAL;
        }
    }
    printf("max_rel_err=%.3g checked=%zu\n", worst, checked);
    return status;
}

cae_config cae_gradcheck_config(void)
{
    cae_config cfg = cae_config_default();
    cfg.input = 16, cfg.hidden = 6, cfg.lambda = 0.1; /* small: every element is checked quickly */
    return cfg;
}

int cae_gradcheck(const tg_cli *c, const cae_config *model_cfg, uint64_t seed)
{
    enum { BATCH = 4 };
    cae_config cfg = *model_cfg;
    tg_rng rng;
    tg_rng_seed(&rng, seed, 0x6c);
    cae_model m;
    int status = gradcheck_model(c, &cfg, &rng, &m);
    if (status)
        return status;
    m.noise_held = true; /* fixed corruptions: the loss must be the same function at every evaluation */
    gradcheck_ctx ctx = {.model = &m, .scale = 1.0f};
    tg_error err;
    int rc = tg_tensor_create(&ctx.x, 2, (size_t[]){BATCH, m.cfg.input}, &err);
    tg_tape *tape = rc ? NULL : tg_tape_new(&err);
    if (!tape) {
        tg_tensor_free(&ctx.x);
        cae_model_free(&m);
        return tg_cli_fail(c, TG_ERR_NOMEM, &err);
    }
    tg_rng_fill_uniform(&rng, ctx.x.data, ctx.x.size, 0.05f, 0.95f);
    /* float32 losses: eps 1e-2 keeps rounding noise (~6e-8·|L|/eps) well under the tolerance,
     * and gradients below the floor are compared in absolute terms (see gradcheck.h).
     * A seeded sample of each parameter by default: every element costs two evaluations of the
     * whole loss, so checking all of a wide model (--hidden 65536) would never end. */
    tg_gradcheck_opts opts = {.eps = 1e-2, .floor = 1e-2, .max_per_param = tg_cli_given(c, "--all") ? 0 : GRADCHECK_SAMPLE,
                              .seed = seed};
    if (tg_activation_has_kink(m.cfg.act.kind) && cae_model_depth(&m) > 1) { /* the placement is one layer's */
        tg_cli_say("cae gradcheck", "a deep encoder with %s: the check places inputs away from the kink of one layer only",
                   tg_activation_name(m.cfg.act.kind));
        status = TG_EXIT_USAGE;
    } else if (tg_activation_has_kink(m.cfg.act.kind) && !keep_away_from_kink(&m, &ctx.x, 2.0 * opts.eps, &rng)) {
        tg_cli_say("cae gradcheck", "cannot place inputs away from relu's kink for this model");
        status = TG_EXIT_INTERNAL;
    } else {
        status = check_terms(tape, &ctx, &opts);
    }
    tg_tape_free(tape);
    tg_tensor_free(&ctx.x);
    cae_model_free(&m);
    return status;
}

