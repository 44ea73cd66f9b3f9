/* Evaluation of a trained CAE: reconstruction, Jacobian norm, contraction, saturation, and a
 * linear probe — all computed with the framework's own ops on a no-grad tape. */
#include "cae_eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/dense.h"
#include "nn/fit.h"
#include "nn/optim.h"
#include "tensor/linalg.h"

#define EVAL_CHUNK 500 /* test images per tape step: bounded memory for any test-set size */

cae_eval_options cae_eval_options_default(void)
{
    return (cae_eval_options){.radii = {0.1, 1.0, 3.0}, .n_radii = 3, .directions = 1u << CAE_DIR_RANDOM, .seed = 1,
                              .max_images = 0, .hess_sigma = 0.0, .hess_corruptions = 4};
}

int cae_eval_check_radii(const double *radii, int n, tg_error *err)
{
    if (n < 1 || n > CAE_MAX_RADII)
        return tg_error_set(err, TG_ERR_ARG, "%d radii (1..%d)", n, CAE_MAX_RADII);
    for (int k = 0; k < n; k++) {
        if (!(radii[k] > 0) || !(radii[k] <= CAE_MAX_RADIUS))
            return tg_error_set(err, TG_ERR_ARG, "radius %.9g is not a positive number up to %g", radii[k],
                                CAE_MAX_RADIUS);
        if (k > 0 && !(radii[k] > radii[k - 1]))
            return tg_error_set(err, TG_ERR_ARG, "the radii must increase (%g after %g)", radii[k], radii[k - 1]);
    }
    return TG_OK;
}

double cae_eval_hess_sigma(const cae_model *m, const cae_eval_options *o)
{
    if (o->hess_sigma > 0)
        return o->hess_sigma;
    return m->cfg.gamma > 0 ? m->cfg.sigma : CAE_EVAL_HESS_SIGMA;
}

int cae_eval_parse_radii(const char *text, double *radii, int *n, tg_error *err)
{
    int count = 0;
    double parsed[CAE_MAX_RADII];
    for (const char *p = text;; p++) {
        char *end;
        double r = strtod(p, &end);
        if (end == p || (*end != ',' && *end != '\0'))
            return tg_error_set(err, TG_ERR_ARG, "'%s' is not a list of numbers separated by commas", text);
        if (count == CAE_MAX_RADII)
            return tg_error_set(err, TG_ERR_ARG, "more than %d radii", CAE_MAX_RADII);
        parsed[count++] = r;
        if (*(p = end) == '\0')
            break;
    }
    int rc = cae_eval_check_radii(parsed, count, err);
    if (rc == TG_OK) {
        memcpy(radii, parsed, (size_t)count * sizeof *radii);
        *n = count;
    }
    return rc;
}

/* A unit is saturated when its activation sits on a flat part of f: sigmoid h < 0.05 or > 0.95;
 * tanh |h| > 0.9; relu h == 0 (inactive); softplus h < 0.05 (the flat left tail); any other
 * activation where its slope f' is below 0.19, the slope at tanh's threshold (leaky_relu with a
 * small slope: h <= 0; elu: z < ln 0.19 for alpha 1). */
static bool is_saturated(tg_activation act, float h)
{
    switch (act.kind) {
    case TG_ACT_SIGMOID: return h < 0.05f || h > 0.95f;
    case TG_ACT_TANH: return fabsf(h) > 0.9f;
    case TG_ACT_RELU: return h <= 0.0f;
    case TG_ACT_SOFTPLUS: return h < 0.05f;
    default: return tg_activation_slope(act, h) < 0.19;
    }
}

/* A unit is off on an image when its activation is below 0.01 (sigmoid, tanh, softplus and the
 * others), or not above 0 for the relu-like ones (relu, leaky_relu, elu: their negative side);
 * a unit off on more than 99% of the images is dead. */
static bool is_off(tg_activation act, float h)
{
    switch (act.kind) {
    case TG_ACT_RELU:
    case TG_ACT_LEAKY_RELU:
    case TG_ACT_ELU: return h <= 0.0f;
    default: return h < 0.01f;
    }
}

/* Per hidden unit, over the images seen so far: on how many it was off, on how many saturated;
 * and Σ_i W_ij², the squared norm of its weights (‖J(x)‖_F² = Σ_j f'(z_j)²·Σ_i W_ij²). */
typedef struct unit_counts {
    size_t *off, *saturated;
    double *w2;
} unit_counts;

/* The saturated fraction, the per-unit counts and ‖J‖_F of each of `count` images' h [count,H]. */
static void unit_stats(const cae_model *m, const float *h, size_t count, unit_counts *u, cae_eval_result *sums)
{
    const size_t H = m->cfg.hidden;
    for (size_t b = 0; b < count; b++) {
        size_t sat = 0;
        double fro2 = 0.0;
        for (size_t j = 0; j < H; j++) {
            float v = h[b * H + j];
            bool s = is_saturated(m->cfg.act, v);
            double slope = tg_activation_slope(m->cfg.act, v);
            sat += s;
            u->saturated[j] += s;
            u->off[j] += is_off(m->cfg.act, v);
            fro2 += slope * slope * u->w2[j];
        }
        sums->saturated += (double)sat / (double)H;
        sums->jac_fro += sqrt(fro2);
    }
}

/* dead and switching from the counts over n images. */
static void unit_fractions(const unit_counts *u, size_t H, size_t n, cae_eval_result *r)
{
    size_t dead = 0, switching = 0;
    for (size_t j = 0; j < H; j++) {
        dead += (double)u->off[j] > 0.99 * (double)n;
        switching += u->saturated[j] > 0 && u->saturated[j] < n;
    }
    r->dead = (double)dead / (double)H;
    r->switching = (double)switching / (double)H;
}

static size_t eval_count(const tg_dataset *test, const cae_eval_options *o)
{
    return o->max_images > 0 && o->max_images < test->n ? o->max_images : test->n;
}

static uint32_t *iota_indices(size_t n)
{
    uint32_t *idx = malloc(n * sizeof *idx);
    if (idx)
        for (size_t i = 0; i < n; i++)
            idx[i] = (uint32_t)i;
    return idx;
}

/* Encodes images idx[0..count) of `ds` into h [count,H] (copied out of the tape). */
static int encode_images(tg_tape *tape, cae_model *m, const tg_dataset *ds, const uint32_t *idx, size_t count,
                         float *h_out, tg_error *err)
{
    tg_tape_reset(tape);
    tg_node *h = cae_encode(tape, m, tg_images_input(tape, ds, idx, count));
    if (!h)
        return tg_tape_get_error(tape, err);
    memcpy(h_out, h->value.data, h->value.size * sizeof(float));
    return TG_OK;
}

/* Σ over the chunk's images of the mean over k corruptions of ‖J(x) - J(x+ε)‖², added to
 * sums->hess_fro2.  The corruptions come from cae_corrupt with the evaluation's own seed and σ,
 * and the chunk's number as the "step": the same images get the same corruptions in any run. */
static int hessian_chunk(tg_tape *tape, cae_model *m, const tg_dataset *test, const uint32_t *idx, size_t count,
                         const cae_eval_options *o, uint64_t chunk, cae_eval_result *sums, tg_error *err)
{
    cae_config noise = m->cfg;
    noise.noise_seed = o->seed;
    noise.sigma = cae_eval_hess_sigma(m, o);
    noise.corruptions = o->hess_corruptions;
    tg_tape_reset(tape);
    tg_node *x = tg_input_new(tape, 2, (size_t[]){count, m->cfg.input});                          // [B,D]
    tg_node *x_tilde = tg_input_new(tape, 2, (size_t[]){noise.corruptions * count, m->cfg.input}); // [k·B,D]
    if (x && x_tilde) {
        tg_dataset_images_to_float(test, idx, count, x->value.data);
        cae_corrupt(&noise, chunk, x->value.data, count, x_tilde->value.data);
    }
    tg_node *Q = tg_jacobian_diff_penalty(tape, cae_encode(tape, m, x), cae_encode(tape, m, x_tilde),
                                          tg_param_leaf(tape, &m->enc_w), m->cfg.act);
    if (!Q)
        return tg_tape_get_error(tape, err);
    sums->hess_fro2 += (double)Q->value.data[0] * (double)count; /* Q = mean over the k·B pairs */
    return TG_OK;
}

/* Reconstruction error, Jacobian norm, saturation and the random and data contractions on one
 * chunk of the n evaluated images. */
static int eval_chunk(tg_tape *tape, cae_model *m, const tg_dataset *test, const uint32_t *idx, size_t count, size_t n,
                      const cae_eval_options *o, tg_rng *rngs, unit_counts *units, cae_eval_result *sums, tg_error *err)
{
    const size_t D = m->cfg.input, H = m->cfg.hidden;
    tg_tape_reset(tape);
    tg_node *x = tg_input_new(tape, 2, (size_t[]){count, D});
    if (x)
        tg_dataset_images_to_float(test, idx, count, x->value.data);
    cae_graph g;
    /* The loss itself is not used; CAE_TERMS_RECON keeps the model's training corruptions out
     * (hess_fro2 draws its own, with the evaluation's seed). */
    if (cae_build(tape, m, x, CAE_TERMS_RECON, &g))
        return tg_tape_get_error(tape, err);
    for (size_t b = 0; b < count; b++) {
        double se = 0.0;
        for (size_t i = 0; i < D; i++) {
            double d = (double)x->value.data[b * D + i] - (double)g.y->value.data[b * D + i];
            se += d * d;
        }
        sums->test_mse += se / (double)D;
    }
    unit_stats(m, g.h->value.data, count, units, sums);
    sums->jac_fro2 += (double)g.penalty->value.data[0] * (double)count; /* penalty = mean over the batch */
    float *h0 = malloc(count * H * sizeof *h0); /* out of the tape, which the contractions reuse */
    if (!h0)
        return tg_error_set(err, TG_ERR_NOMEM, "eval: out of memory");
    memcpy(h0, g.h->value.data, count * H * sizeof *h0);
    int rc = cae_chunk_contractions(tape, m, test, idx, count, n, o, rngs, h0, sums, err);
    free(h0);
    return rc;
}

/* ---- linear probe ------------------------------------------------------------------------- */

typedef struct features {
    float *h;      /* [n,H] standardized hidden features */
    size_t n, H;
} features;

static int encode_all(tg_tape *tape, cae_model *m, const tg_dataset *ds, size_t n, features *f, tg_error *err)
{
    f->n = n;
    f->H = m->cfg.hidden;
    f->h = malloc(n * f->H * sizeof(float));
    uint32_t *idx = iota_indices(n);
    int rc = (!f->h || !idx) ? tg_error_set(err, TG_ERR_NOMEM, "probe: out of memory for %zu features", n) : TG_OK;
    for (size_t first = 0; first < n && rc == TG_OK; first += EVAL_CHUNK) {
        size_t count = n - first < EVAL_CHUNK ? n - first : EVAL_CHUNK;
        rc = encode_images(tape, m, ds, idx + first, count, f->h + first * f->H, err);
    }
    free(idx);
    return rc;
}

/* Standardizes both sets with the training set's per-feature mean and standard deviation. */
static void standardize(features *train, features *test)
{
    const size_t H = train->H;
    for (size_t j = 0; j < H; j++) {
        double mean = 0.0, var = 0.0;
        for (size_t i = 0; i < train->n; i++)
            mean += train->h[i * H + j];
        mean /= (double)train->n;
        for (size_t i = 0; i < train->n; i++) {
            double d = train->h[i * H + j] - mean;
            var += d * d;
        }
        double inv_std = 1.0 / sqrt(var / (double)train->n + 1e-8);
        for (size_t i = 0; i < train->n; i++)
            train->h[i * H + j] = (float)((train->h[i * H + j] - mean) * inv_std);
        for (size_t i = 0; i < test->n; i++)
            test->h[i * H + j] = (float)((test->h[i * H + j] - mean) * inv_std);
    }
}

/* Softmax regression on the frozen features, trained with the framework (Dense + softmax
 * cross-entropy + Adam); returns the test accuracy. */
static int train_probe(const features *train, const uint8_t *train_labels, const features *test,
                       const uint8_t *test_labels, int n_classes, uint64_t seed, double *accuracy, tg_error *err)
{
    enum { PROBE_EPOCHS = 10, PROBE_BATCH = 256 };
    const size_t H = train->H;
    tg_rng rng;
    tg_rng_seed(&rng, seed, 0x9b0be);
    tg_dense layer;
    int rc = tg_dense_init(&layer, "probe", H, (size_t)n_classes, TG_INIT_GLOROT_UNIFORM, &rng, err);
    if (rc)
        return rc;
    tg_param *params[2] = {&layer.weight, &layer.bias};
    tg_opt_config cfg = tg_opt_config_default(TG_OPT_ADAM);
    cfg.lr = 1e-2f;
    tg_optimizer opt;
    tg_tape *tape = NULL;
    uint32_t *order = iota_indices(train->n);
    int32_t labels[PROBE_BATCH];
    if ((rc = tg_optim_init(&opt, &cfg, params, 2, err))) {
        free(order);
        tg_dense_free(&layer);
        return rc;
    }
    if (!order || !(tape = tg_tape_new(err)))
        rc = tg_error_set(err, TG_ERR_NOMEM, "probe: out of memory");
    for (int epoch = 0; epoch < PROBE_EPOCHS && rc == TG_OK; epoch++) {
        tg_rng_shuffle_u32(&rng, order, train->n);
        for (size_t first = 0; first < train->n && rc == TG_OK; first += PROBE_BATCH) {
            size_t count = train->n - first < PROBE_BATCH ? train->n - first : PROBE_BATCH;
            tg_tape_reset(tape);
            tg_node *x = tg_input_new(tape, 2, (size_t[]){count, H});
            if (!x)
                break;
            for (size_t b = 0; b < count; b++) {
                memcpy(x->value.data + b * H, train->h + (size_t)order[first + b] * H, H * sizeof(float));
                labels[b] = train_labels[order[first + b]];
            }
            tg_node *loss = tg_softmax_xent(tape, tg_dense_forward(tape, &layer, x), labels);
            tg_params_zero_grad(params, 2);
            if ((rc = tg_backward(tape, loss, err)) == TG_OK)
                rc = tg_optim_step(&opt, err);
        }
        if (rc == TG_OK)
            rc = tg_tape_get_error(tape, err);
    }
    /* Accuracy: argmax of the logits, test set in chunks. */
    size_t correct = 0;
    if (tape)
        tg_tape_set_grad_enabled(tape, false);
    for (size_t first = 0; first < test->n && rc == TG_OK; first += EVAL_CHUNK) {
        size_t count = test->n - first < EVAL_CHUNK ? test->n - first : EVAL_CHUNK;
        tg_tape_reset(tape);
        tg_tensor xt;
        tg_tensor_wrap(&xt, test->h + first * H, 2, (size_t[]){count, H}, NULL);
        tg_node *logits = tg_dense_forward(tape, &layer, tg_input(tape, &xt));
        if (!logits) {
            rc = tg_tape_get_error(tape, err);
            break;
        }
        for (size_t b = 0; b < count; b++) {
            const float *row = logits->value.data + b * (size_t)n_classes;
            int best = 0;
            for (int c = 1; c < n_classes; c++)
                if (row[c] > row[best])
                    best = c;
            correct += best == test_labels[first + b];
        }
    }
    *accuracy = (double)correct / (double)test->n;
    tg_tape_free(tape);
    free(order);
    tg_optim_free(&opt);
    tg_dense_free(&layer);
    return rc;
}

static int linear_probe(cae_model *m, const tg_dataset *train, const tg_dataset *test, size_t n_test, uint64_t seed,
                        double *accuracy, tg_error *err)
{
    tg_tape *tape = tg_tape_new(err);
    if (!tape)
        return err ? err->code : TG_ERR_NOMEM;
    tg_tape_set_grad_enabled(tape, false);
    features ftrain = {0}, ftest = {0};
    int n_classes = train->n_classes > test->n_classes ? train->n_classes : test->n_classes;
    int rc = encode_all(tape, m, train, train->n, &ftrain, err);
    if (rc == TG_OK)
        rc = encode_all(tape, m, test, n_test, &ftest, err);
    tg_tape_free(tape);
    if (rc == TG_OK) {
        standardize(&ftrain, &ftest);
        rc = train_probe(&ftrain, train->labels, &ftest, test->labels, n_classes, seed, accuracy, err);
    }
    free(ftrain.h);
    free(ftest.h);
    return rc;
}

/* ---- the whole evaluation ---------------------------------------------------------------- */

/* The sums of cae_evaluate turned into means over the n images (and the contractions over the
 * images each kind measured); the anisotropies from them. */
static void finish_means(const cae_eval_options *o, size_t n, cae_eval_result *r)
{
    r->images = n;
    r->test_mse /= (double)n;
    r->jac_fro2 /= (double)n;
    r->jac_fro /= (double)n;
    r->saturated /= (double)n;
    r->hess_fro2 /= (double)n;
    for (int d = 0; d < CAE_N_DIRECTIONS; d++)
        for (int k = 0; k < CAE_MAX_RADII; k++)
            r->contraction[d][k] = k < o->n_radii && r->direction_images[d] > 0
                                       ? r->contraction[d][k] / (double)r->direction_images[d] : NAN;
    r->tangent_k = r->tangent_images > 0 ? r->tangent_k / (double)r->tangent_images : NAN;
    /* NaN / x is NaN: a ratio whose kinds were not both measured stays NaN */
    r->anisotropy = r->contraction[CAE_DIR_TANGENT][0] / r->contraction[CAE_DIR_ORTHOGONAL][0];
    r->anisotropy_data = r->contraction[CAE_DIR_DATA][0] / r->contraction[CAE_DIR_RANDOM][0];
}

/* Every metric but the probe over the first n images of `test`. */
static int measure(cae_model *m, const tg_dataset *test, size_t n, const cae_eval_options *o, cae_eval_result *r,
                   tg_error *err)
{
    tg_tape *tape = tg_tape_new(err);
    uint32_t *idx = iota_indices(n);
    if (!tape || !idx) {
        tg_tape_free(tape);
        free(idx);
        return tg_error_set(err, TG_ERR_NOMEM, "eval: out of memory");
    }
    tg_tape_set_grad_enabled(tape, false);
    tg_rng rngs[2]; /* random directions (the stream they always had), data partners */
    tg_rng_seed(&rngs[0], o->seed, 0xe7a1);
    tg_rng_seed(&rngs[1], o->seed, 0xda7a);
    const size_t D = m->cfg.input, H = m->cfg.hidden;
    unit_counts units = {calloc(H, sizeof(size_t)), calloc(H, sizeof(size_t)), calloc(H, sizeof(double))};
    int rc = units.off && units.saturated && units.w2 ? TG_OK : tg_error_set(err, TG_ERR_NOMEM, "eval: out of memory");
    /* A deep encoder (cae_deep.c): ‖J‖_F per image from cae_jacobian_norms instead of the per-unit
     * Σ W² (which stays 0), and no hess_fro2 (nan): its fused op is one layer's. */
    const bool deep = cae_model_depth(m) > 1;
    for (size_t i = 0; i < D && rc == TG_OK && !deep; i++)
        for (size_t j = 0; j < H; j++)
            units.w2[j] += (double)m->enc_w.value.data[i * H + j] * m->enc_w.value.data[i * H + j];
    for (size_t first = 0; first < n && rc == TG_OK; first += EVAL_CHUNK) {
        size_t count = n - first < EVAL_CHUNK ? n - first : EVAL_CHUNK;
        rc = eval_chunk(tape, m, test, idx + first, count, n, o, rngs, &units, r, err);
        if (rc == TG_OK && deep)
            rc = cae_jacobian_norm_sums(m, test, idx + first, count, NULL, &r->jac_fro, err);
        else if (rc == TG_OK && o->hess_corruptions > 0)
            rc = hessian_chunk(tape, m, test, idx + first, count, o, first / EVAL_CHUNK, r, err);
    }
    if (deep)
        r->hess_fro2 = NAN;
    if (rc == TG_OK)
        rc = cae_tangent_contractions(m, test, idx, n, o, r, err);
    if (rc == TG_OK)
        unit_fractions(&units, H, n, r);
    tg_tape_free(tape);
    free(idx);
    free(units.off);
    free(units.saturated);
    free(units.w2);
    return rc;
}

int cae_evaluate(cae_model *m, const tg_dataset *test, const tg_dataset *train, const cae_eval_options *o,
                 cae_eval_result *r, tg_error *err)
{
    memset(r, 0, sizeof *r);
    r->probe_acc = NAN;
    if (test->rows * test->cols != m->cfg.input)
        return tg_error_set(err, TG_ERR_ARG, "the test images have %zu pixels (%zux%zu) but the model expects %zu",
                            test->rows * test->cols, test->rows, test->cols, m->cfg.input);
    int rc = cae_eval_check_radii(o->radii, o->n_radii, err);
    size_t n = eval_count(test, o);
    if (rc == TG_OK)
        rc = measure(m, test, n, o, r, err);
    if (rc)
        return rc;
    finish_means(o, n, r);
    r->hess_sigma = cae_eval_hess_sigma(m, o);
    if (train && train->rows * train->cols != m->cfg.input)
        return tg_error_set(err, TG_ERR_ARG, "the train images have %zu pixels (%zux%zu) but the model expects %zu",
                            train->rows * train->cols, train->rows, train->cols, m->cfg.input);
    if (train && train->labels && test->labels && train->n > 0)
        rc = linear_probe(m, train, test, n, o->seed, &r->probe_acc, err);
    return rc;
}

/* ---- Jacobian and its spectrum ---------------------------------------------------------- */

int cae_jacobian_at(cae_model *m, const float *x, float *J, tg_error *err)
{
    if (cae_model_depth(m) > 1)
        return cae_deep_jacobian_at(m, x, J, err);
    const size_t D = m->cfg.input, H = m->cfg.hidden;
    tg_tape *tape = tg_tape_new(err);
    if (!tape)
        return err ? err->code : TG_ERR_NOMEM;
    tg_tape_set_grad_enabled(tape, false);
    tg_tensor xt;
    tg_tensor_wrap(&xt, (float *)x, 2, (size_t[]){1, D}, NULL);
    tg_node *h = cae_encode(tape, m, tg_input(tape, &xt));
    int rc = h ? TG_OK : tg_tape_get_error(tape, err);
    if (rc == TG_OK) {
        const float *W = m->enc_w.value.data; /* [D,H] */
        for (size_t j = 0; j < H; j++) {
            float slope = (float)tg_activation_slope(m->cfg.act, h->value.data[j]);
            for (size_t i = 0; i < D; i++)
                J[j * D + i] = slope * W[i * H + j]; /* J [H,D] */
        }
    }
    tg_tape_free(tape);
    return rc;
}

/* Leading right singular vectors of J [H,D] (the input directions the features respond to most)
 * and all min(H,D) singular values. */
int cae_jacobian_svd(const float *J, size_t H, size_t D, float *sigma, float *vectors, size_t k, tg_error *err)
{
    if (H <= D)
        return tg_svd_wide(J, H, D, sigma, vectors, k, err);
    if (!vectors || k == 0) { /* the values alone: those of Jᵀ, a wide matrix */
        float *Jt = malloc(H * D * sizeof *Jt);
        if (!Jt)
            return tg_error_set(err, TG_ERR_NOMEM, "svd: out of memory");
        for (size_t j = 0; j < H; j++)
            for (size_t i = 0; i < D; i++)
                Jt[i * H + j] = J[j * D + i];
        int rc = tg_svd_wide(Jt, D, H, sigma, NULL, 0, err);
        free(Jt);
        return rc;
    }
    /* Tall J (more hidden units than pixels): Jᵀ is wide with the same singular values, and J's
     * right singular vectors are the eigenvectors of JᵀJ [D,D]. */
    double *gram = calloc(D * D, sizeof *gram), *eval = malloc(D * sizeof *eval), *evec = malloc(D * D * sizeof *evec);
    int rc = (!gram || !eval || !evec) ? tg_error_set(err, TG_ERR_NOMEM, "svd: out of memory") : TG_OK;
    for (size_t a = 0; a < D && rc == TG_OK; a++)
        for (size_t b = a; b < D; b++) {
            double s = 0.0;
            for (size_t j = 0; j < H; j++)
                s += (double)J[j * D + a] * J[j * D + b];
            gram[a * D + b] = gram[b * D + a] = s;
        }
    if (rc == TG_OK)
        rc = tg_sym_eigen(gram, D, eval, evec, err);
    for (size_t q = 0; q < D && rc == TG_OK; q++)
        sigma[q] = (float)sqrt(eval[q] > 0 ? eval[q] : 0);
    for (size_t q = 0; q < k && rc == TG_OK; q++)
        for (size_t i = 0; i < D; i++)
            vectors[q * D + i] = (float)evec[q * D + i]; /* eigenvectors are rows */
    free(gram);
    free(eval);
    free(evec);
    return rc;
}

int cae_mean_spectrum(cae_model *m, const tg_dataset *test, size_t n, double *sigma, tg_error *err)
{
    const size_t D = m->cfg.input, H = m->cfg.hidden;
    size_t k = H < D ? H : D;
    if (n > test->n)
        n = test->n;
    float *x = malloc(D * sizeof *x), *J = malloc(H * D * sizeof *J), *s = malloc((H > D ? H : D) * sizeof *s);
    int rc = (!x || !J || !s) ? tg_error_set(err, TG_ERR_NOMEM, "spectrum: out of memory") : TG_OK;
    for (size_t j = 0; j < k; j++)
        sigma[j] = 0.0;
    for (size_t i = 0; i < n && rc == TG_OK; i++) {
        uint32_t one = (uint32_t)i;
        tg_dataset_images_to_float(test, &one, 1, x);
        if ((rc = cae_jacobian_at(m, x, J, err)) == TG_OK)
            rc = cae_jacobian_svd(J, H, D, s, NULL, 0, err);
        for (size_t j = 0; j < k && rc == TG_OK; j++)
            sigma[j] += s[j] / (double)n;
    }
    free(x);
    free(J);
    free(s);
    return rc;
}
