/* The CAE's parameters, its loss on the tape, and its checkpoints. */
#include "cae_model.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cae_deep.h"
#include "cli.h"
#include "nn/io/atomic_file.h"
#include "nn/init.h"
#include "tensor/parallel.h"
#include "tensor/vmath.h"

cae_config cae_config_default(void)
{
    return (cae_config){
        .input = 784, .hidden = 64, .lambda = 1e-4, .act = tg_activation_of(TG_ACT_SIGMOID),
        .sigmoid_decoder = false, .loss = CAE_LOSS_MSE, .tied = false,
        .gamma = 0.0, .corruptions = 4, .sigma = 0.1, .noise_seed = 1, .depth = 1, .penalty = CAE_PENALTY_FUSED,
        .probes = 1,
    };
}

int cae_config_check(const cae_config *cfg, tg_error *err)
{
    if (cfg->input < 1)
        return tg_error_set(err, TG_ERR_ARG, "input size must be >= 1");
    if (cfg->hidden < 1 || cfg->hidden > 65536)
        return tg_error_set(err, TG_ERR_ARG, "--hidden: %zu outside 1..65536", cfg->hidden);
    if (!isfinite(cfg->lambda) || cfg->lambda < 0)
        return tg_error_set(err, TG_ERR_ARG, "--lambda: %g must be finite and >= 0", cfg->lambda);
    int rc = tg_cli_check_activation(cfg->act, err);
    if (rc)
        return rc;
    if (!isfinite(cfg->gamma) || cfg->gamma < 0)
        return tg_error_set(err, TG_ERR_ARG, "--gamma: %g must be finite and >= 0", cfg->gamma);
    if (cfg->corruptions < 1 || cfg->corruptions > CAE_MAX_CORRUPTIONS)
        return tg_error_set(err, TG_ERR_ARG, "--corruptions: %zu outside 1..%d", cfg->corruptions, CAE_MAX_CORRUPTIONS);
    if (!isfinite(cfg->sigma) || cfg->sigma <= 0)
        return tg_error_set(err, TG_ERR_ARG, "--sigma: %g must be finite and > 0", cfg->sigma);
    if (cfg->loss == CAE_LOSS_BCE && !cfg->sigmoid_decoder)
        return tg_error_set(err, TG_ERR_ARG, "--loss bce needs --decoder sigmoid (it is computed from the decoder's logits)");
    if (cfg->depth < 1 || cfg->depth > CAE_MAX_LAYERS || (cfg->depth > 1 && cfg->widths[cfg->depth - 1] != cfg->hidden))
        return tg_error_set(err, TG_ERR_ARG, "--encoder: %zu layers ending in %zu units, for a code of %zu", cfg->depth,
                            cfg->depth > 1 ? cfg->widths[cfg->depth - 1] : cfg->hidden, cfg->hidden);
    if (cfg->depth > 1 && cfg->penalty == CAE_PENALTY_FUSED)
        return tg_error_set(err, TG_ERR_ARG, "--penalty fused is the one-layer op: a deep --encoder takes hutchinson or exact");
    if (cfg->depth > 1 && cfg->gamma > 0)
        return tg_error_set(err, TG_ERR_ARG, "--gamma: the higher-order term is the one-layer model's (not with --encoder)");
    if (cfg->probes < 1 || cfg->probes > CAE_MAX_PROBES)
        return tg_error_set(err, TG_ERR_ARG, "--probes: %zu outside 1..%d", cfg->probes, CAE_MAX_PROBES);
    double level = cfg->noise_level;
    if ((cfg->noise == CAE_NOISE_GAUSSIAN && !(level > 0 && level <= CAE_MAX_SIGMA)) ||
        (cfg->noise == CAE_NOISE_MASK && !(level > 0 && level < 1)))
        return tg_error_set(err, TG_ERR_ARG, "--noise: %g is outside %s", level,
                            cfg->noise == CAE_NOISE_MASK ? "0 < P < 1" : "0 < SIGMA <= 1000");
    return TG_OK;
}

int cae_noise_parse(const char *text, cae_config *cfg, tg_error *err)
{
    static const char *const kinds[] = {"none", "gaussian:", "mask:"};
    for (int k = 0; k < 3; k++) {
        size_t n = strlen(kinds[k]);
        if (strncmp(text, kinds[k], n) != 0 || (k == 0 && text[n]))
            continue;
        char *end;
        errno = 0;
        double level = k == 0 ? 0.0 : strtod(text + n, &end);
        if (k > 0 && (end == text + n || *end || errno || !isfinite(level)))
            break;
        cae_config c = *cfg;
        c.noise = (cae_noise_kind)k;
        c.noise_level = level;
        if (cae_config_check(&c, err))
            return TG_ERR_ARG;
        *cfg = c;
        return TG_OK;
    }
    return tg_error_set(err, TG_ERR_ARG, "--noise: '%s' is not none, gaussian:SIGMA (0 < SIGMA <= 1000) or mask:P (0 < P < 1)",
                        text);
}

int cae_model_init(cae_model *m, const cae_config *cfg, tg_rng *rng, tg_error *err)
{
    *m = (cae_model){.cfg = *cfg}; /* nothing allocated: cae_model_free is safe from here on */
    int rc = cae_config_check(cfg, err);
    if (rc)
        return rc;
    m->noise_step = 1;
    if (cfg->depth > 1) {
        if ((rc = cae_deep_init(m, rng, err)))
            cae_model_free(m);
        return rc;
    }
    size_t D = cfg->input, H = cfg->hidden;
    if ((rc = tg_param_init(&m->enc_w, "enc.weight", 2, (size_t[]){D, H}, err)) ||
        (rc = tg_param_init(&m->enc_b, "enc.bias", 1, (size_t[]){H}, err)) ||
        (!cfg->tied && (rc = tg_param_init(&m->dec_w, "dec.weight", 2, (size_t[]){H, D}, err))) ||
        (rc = tg_param_init(&m->dec_b, "dec.bias", 1, (size_t[]){D}, err))) {
        cae_model_free(m);
        return rc;
    }
    if (cfg->init == CAE_INIT_GLOROT_X4) { /* U(±4·sqrt(6/(D+H))), drawn as tg_init_glorot_uniform draws */
        float a = (float)(4.0 * sqrt(6.0 / ((double)D + (double)H)));
        tg_rng_fill_uniform(rng, m->enc_w.value.data, m->enc_w.value.size, -a, a);
        if (!cfg->tied)
            tg_rng_fill_uniform(rng, m->dec_w.value.data, m->dec_w.value.size, -a, a);
    } else {
        tg_init_glorot_uniform(&m->enc_w.value, D, H, rng);
        if (!cfg->tied)
            tg_init_glorot_uniform(&m->dec_w.value, H, D, rng);
    }
    m->params[m->n_params++] = &m->enc_w;
    m->params[m->n_params++] = &m->enc_b;
    if (!cfg->tied)
        m->params[m->n_params++] = &m->dec_w;
    m->params[m->n_params++] = &m->dec_b;
    return TG_OK;
}

void cae_model_free(cae_model *m)
{
    tg_param_free(&m->enc_w);
    tg_param_free(&m->enc_b);
    tg_param_free(&m->dec_w);
    tg_param_free(&m->dec_b);
    for (size_t k = 0; k < 2 * CAE_MAX_LAYERS; k++) {
        tg_param_free(&m->deep_w[k]);
        tg_param_free(&m->deep_b[k]);
    }
    m->n_params = 0;
}

tg_node *cae_encode(tg_tape *tape, cae_model *m, tg_node *x)
{
    return cae_deep_encode(tape, m, x, NULL); /* f(x·W + b) for one layer */
}

/* The corruptions' rng stream numbers: one per step (its rows seed it differently, corrupt_rows),
 * apart from the streams of the initialization and the epochs' shuffles, which use small
 * stream numbers with the same seed. */
#define NOISE_STREAM_BASE 0x6e6f697365000000ull /* "noise" */
/* The denoising corruption's (--noise), apart from those: "input". */
#define INPUT_NOISE_STREAM_BASE 0x696e707574000000ull

/* x[0..n) += N(0, sd²) samples, two at a time by Marsaglia's polar method: a point (u, v)
 * uniform in the unit disc (drawn in the square, rejected outside: 21% of draws) gives two
 * independent normals u·f and v·f, f = sqrt(-2 ln s / s), s = u² + v².  No trigonometry and one
 * logarithm per pair.  In two passes over blocks of pairs: the draws (sequential: one rng)
 * and then f, whose inlined logarithm (tg_logf) lets that loop vectorize: the corruptions of a
 * step are k·B·D numbers, and with libm's log in double the pairs took most of a CAE+H step. */
static TG_VECTORIZE void add_normal_noise(tg_rng *rng, float *x, size_t n, float sd)
{
    enum { PAIRS_PER_BLOCK = 256 };
    float u[PAIRS_PER_BLOCK], v[PAIRS_PER_BLOCK], s[PAIRS_PER_BLOCK];
    for (size_t i0 = 0; i0 < n; i0 += 2 * PAIRS_PER_BLOCK) {
        size_t pairs = (n - i0 + 1) / 2 < PAIRS_PER_BLOCK ? (n - i0 + 1) / 2 : PAIRS_PER_BLOCK;
        /* Every candidate is stored, and the next one overwrites it unless it was inside the
         * disc: no branch on the 21% rejections, which mispredicted.  u, v are multiples of
         * 2^-23 in [-1, 1), exact, so s = 0 only at u = v = 0. */
        for (size_t p = 0; p < pairs;) {
            u[p] = 2.0f * tg_rng_next_uniform(rng) - 1.0f;
            v[p] = 2.0f * tg_rng_next_uniform(rng) - 1.0f;
            s[p] = u[p] * u[p] + v[p] * v[p];
            p += s[p] < 1.0f && s[p] != 0.0f;
        }
        float *xb = x + i0;
        size_t full = n - i0 >= 2 * pairs ? pairs : pairs - 1; /* an odd n leaves a last half pair */
        for (size_t p = 0; p < full; p++) {
            float f = sd * sqrtf(-2.0f * tg_logf(s[p]) / s[p]);
            xb[2 * p] += u[p] * f;
            xb[2 * p + 1] += v[p] * f;
        }
        if (full < pairs)
            xb[2 * full] += u[full] * (sd * sqrtf(-2.0f * tg_logf(s[full]) / s[full]));
    }
}

/* x[0..n): each element set to 0 with probability p (masking noise), one uniform per element. */
static void mask_pixels(tg_rng *rng, float *x, size_t n, float p)
{
    for (size_t i = 0; i < n; i++)
        if (tg_rng_next_uniform(rng) < p)
            x[i] = 0.0f;
}

typedef struct corrupt_job {
    uint64_t seed, stream;  /* the rows' rng: seed and stream of the step (corrupt_rows) */
    cae_noise_kind kind;
    float level;            /* σ (gaussian) or P (mask) */
    const float *x;
    size_t B, D;
    float *x_tilde;
} corrupt_job;

/* Rows [lo, hi) of x_tilde: row r = c·B + b is x_b corrupted from an rng stream of its own,
 * seeded from (seed, stream = base + step, r), so a row's numbers do not depend on which thread
 * fills it or on what the other rows drew (the polar method's rejections make the draws per row
 * vary). */
static void corrupt_rows(size_t lo, size_t hi, void *ctx)
{
    const corrupt_job *job = ctx;
    const size_t D = job->D;
    for (size_t r = lo; r < hi; r++) {
        float *row = job->x_tilde + r * D;
        memcpy(row, job->x + (r % job->B) * D, D * sizeof *row);
        tg_rng rng; /* the seeds of one step's rows are spread over PCG's 2^64 states by a golden-ratio step */
        tg_rng_seed(&rng, job->seed + 0x9e3779b97f4a7c15ull * (r + 1), job->stream);
        if (job->kind == CAE_NOISE_MASK)
            mask_pixels(&rng, row, D, job->level);
        else
            add_normal_noise(&rng, row, D, job->level);
    }
}

/* `copies`·B corrupted rows of x [B,D] into x_tilde, in parallel. */
static void corrupt(corrupt_job job, size_t copies)
{
    /* A row of normals is little work: chunks of 8 rows keep the cost of handing work to a
     * thread small beside the work handed. */
    enum { ROWS_PER_CHUNK = 8 };
    tg_parallel_for(copies * job.B, ROWS_PER_CHUNK, corrupt_rows, &job);
}

void cae_corrupt(const cae_config *cfg, uint64_t step, const float *x, size_t B, float *x_tilde)
{
    corrupt((corrupt_job){cfg->noise_seed, NOISE_STREAM_BASE + step, CAE_NOISE_GAUSSIAN, (float)cfg->sigma, x, B,
                          cfg->input, x_tilde},
            cfg->corruptions);
}

void cae_corrupt_input(const cae_config *cfg, uint64_t step, const float *x, size_t B, float *x_tilde)
{
    corrupt((corrupt_job){cfg->noise_seed, INPUT_NOISE_STREAM_BASE + step, cfg->noise, (float)cfg->noise_level, x, B,
                          cfg->input, x_tilde},
            1);
}

void cae_model_set_step(cae_model *m, uint64_t step)
{
    m->noise_step = step;
}

/* Q = mean over the k·B pairs of ‖J(x) - J(x̃)‖²: x̃ = x + ε is encoded by the ordinary ops on the
 * same W and b leaves, so Q's gradient reaches them through h̃ as well as through h and Σ W². */
static tg_node *build_hessian_term(tg_tape *tape, cae_model *m, tg_node *x, tg_node *W, tg_node *b, tg_node *h)
{
    if (!x || !h)
        return NULL; /* the tape is in error already */
    size_t B = tg_tensor_nrows(&x->value);
    tg_node *x_tilde = tg_input_new(tape, 2, (size_t[]){m->cfg.corruptions * B, m->cfg.input}); /* [k·B,D] */
    if (!x_tilde)
        return NULL;
    cae_corrupt(&m->cfg, m->noise_step, x->value.data, B, x_tilde->value.data);
    tg_node *z_tilde = tg_affine(tape, x_tilde, W, b, false);                        /* [k·B,H] */
    tg_node *h_tilde = tg_activate(tape, z_tilde, m->cfg.act);
    return tg_jacobian_diff_penalty(tape, h, h_tilde, W, m->cfg.act);
}

/* x̃ [B,D]: the denoising corruption of the batch x for the step being built (data: no gradient). */
static tg_node *corrupted_input(tg_tape *tape, cae_model *m, tg_node *x)
{
    tg_node *x_tilde = x ? tg_input_new(tape, 2, (size_t[]){tg_rows(x), m->cfg.input}) : NULL;
    if (x_tilde)
        cae_corrupt_input(&m->cfg, m->noise_step, x->value.data, tg_rows(x), x_tilde->value.data);
    return x_tilde;
}

int cae_build(tg_tape *tape, cae_model *m, tg_node *x, cae_terms terms, cae_graph *g)
{
    memset(g, 0, sizeof *g);
    tg_node *leaves[2 * CAE_MAX_LAYERS] = {0}; /* encoder layer k's weight and bias leaves at 2k, 2k+1 */
    g->input = terms == CAE_TERMS_ALL && m->cfg.noise != CAE_NOISE_NONE ? corrupted_input(tape, m, x) : x;
    g->h = cae_deep_encode(tape, m, g->input, leaves);                              /* [B,H] */
    tg_node *W = leaves[0], *b = leaves[1];                                         /* layer 1's */
    tg_node *top = cae_deep_decode_hidden(tape, m, g->h, leaves); /* the output layer's input */

    /* Decoder logits: top·V + c, or top·W_1ᵀ + c with tied weights (W_1 then gets both gradients). */
    tg_node *c = tg_param_leaf(tape, cae_dec_bias(m, cae_model_depth(m) - 1));
    tg_node *V = m->cfg.tied ? W : tg_param_leaf(tape, cae_dec_weight(m, cae_model_depth(m) - 1));
    const bool fuse_decoder_and_loss =
        tg_tape_grad_enabled(tape) && m->cfg.loss == CAE_LOSS_MSE && !m->cfg.sigmoid_decoder;
    if (fuse_decoder_and_loss) {
        /* mse(top·V + c, x), through V·Vᵀ when that is fewer flops (hidden 64 at batch 256) */
        const bool gram = top && tg_affine_mse_gram_pays(tg_rows(x), tg_cols(top), tg_cols(x));
        g->recon = gram ? tg_affine_mse_gram(tape, top, V, c, m->cfg.tied, x, TG_REDUCE_MEAN)
                        : tg_affine_mse(tape, top, V, c, m->cfg.tied, x, TG_REDUCE_MEAN);
    } else {
        tg_node *logits = tg_affine(tape, top, V, c, m->cfg.tied);                 /* [B,D] */
        g->y = m->cfg.sigmoid_decoder ? tg_sigmoid(tape, logits) : logits;
        if (m->cfg.loss == CAE_LOSS_BCE)
            g->recon = tg_bce_logits(tape, logits, x, TG_REDUCE_ROW_SUM); /* sum over pixels, mean over batch */
        else
            g->recon = tg_mse(tape, g->y, x, TG_REDUCE_MEAN);            /* (1/B) Σ_b (1/D) Σ_i (x-y)² */
    }
    /* The fused op for one layer (always when only reported), else the generic route. */
    g->penalty = m->cfg.penalty == CAE_PENALTY_FUSED || (cae_model_depth(m) == 1 && terms == CAE_TERMS_RECON)
                     ? tg_jacobian_penalty(tape, g->h, W, m->cfg.act)
                     : cae_generic_penalty(tape, m, g->input, g->h, terms);
    bool with_hessian = terms == CAE_TERMS_HESSIAN || (terms == CAE_TERMS_ALL && m->cfg.gamma > 0);
    if (with_hessian)
        g->hessian = build_hessian_term(tape, m, g->input, W, b, g->h);

    switch (terms) {
    case CAE_TERMS_RECON: g->loss = g->recon; break;
    case CAE_TERMS_PENALTY: g->loss = g->penalty; break;
    case CAE_TERMS_HESSIAN: g->loss = g->hessian; break;
    default:
        g->loss = tg_add(tape, g->recon, tg_scale(tape, g->penalty, (float)m->cfg.lambda));
        if (with_hessian)
            g->loss = tg_add(tape, g->loss, tg_scale(tape, g->hessian, (float)m->cfg.gamma));
        /* One training step built: the next one draws the next step's corruptions. */
        if (tg_tape_grad_enabled(tape) && !m->noise_held)
            m->noise_step++;
        break;
    }
    return tg_tape_status(tape);
}

/* ---- checkpoints ------------------------------------------------------------------------ */

/* The shortest decimal that reads back as exactly x ("0.0001", not 17 digits of noise): a resumed
 * run must see the very same λ, γ and σ, or it would not be byte-identical. */
typedef struct decimal_text {
    char s[32];
} decimal_text;

static decimal_text exact_decimal(double x)
{
    decimal_text d;
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(d.s, sizeof d.s, "%.*g", digits, x);
        if (strtod(d.s, NULL) == x)
            break;
    }
    return d;
}

int cae_model_to_checkpoint(const cae_model *m, tg_checkpoint *ck, tg_error *err)
{
    const cae_config *c = &m->cfg;
    int rc;
    if ((rc = tg_ckpt_set_meta(ck, "model", "cae", err)) ||
        (rc = tg_ckpt_set_meta_fmt(ck, "input", err, "%zu", c->input)) ||
        (rc = tg_ckpt_set_meta_fmt(ck, "hidden", err, "%zu", c->hidden)) ||
        (rc = tg_cli_set_meta_activation(ck, c->act, err)) ||
        (rc = tg_ckpt_set_meta(ck, "decoder", c->sigmoid_decoder ? "sigmoid" : "linear", err)) ||
        (rc = tg_ckpt_set_meta(ck, "loss", c->loss == CAE_LOSS_BCE ? "bce" : "mse", err)) ||
        (rc = tg_ckpt_set_meta(ck, "lambda", exact_decimal(c->lambda).s, err)) ||
        (rc = tg_ckpt_set_meta(ck, "tied", c->tied ? "1" : "0", err)) ||
        (rc = tg_ckpt_set_meta(ck, "gamma", exact_decimal(c->gamma).s, err)) ||
        (rc = tg_ckpt_set_meta_fmt(ck, "corruptions", err, "%zu", c->corruptions)) ||
        (rc = tg_ckpt_set_meta(ck, "sigma", exact_decimal(c->sigma).s, err)) ||
        (rc = tg_ckpt_set_meta_fmt(ck, "noise_seed", err, "%llu", (unsigned long long)c->noise_seed)))
        return rc;
    /* Written only when not the defaults, so the default run's checkpoint stays as it was. */
    if ((rc = cae_deep_meta_write(c, ck, err)) ||
        (c->noise != CAE_NOISE_NONE &&
         (rc = tg_ckpt_set_meta_fmt(ck, "noise", err, "%s:%s", c->noise == CAE_NOISE_MASK ? "mask" : "gaussian",
                                    exact_decimal(c->noise_level).s))) ||
        (c->init == CAE_INIT_GLOROT_X4 && (rc = tg_ckpt_set_meta(ck, "init", CAE_INIT_X4_NAME, err))) ||
        (c->preset && (rc = tg_ckpt_set_meta(ck, "preset", c->preset, err))))
        return rc;
    return tg_ckpt_add_params(ck, m->params, m->n_params, err);
}

/* Looks up an optional key whose value must be one of `choices` (index returned in *out). */
static int meta_choice(const tg_checkpoint *ck, const char *path, const char *key, const char *const *choices,
                       int n_choices, int *out, tg_error *err)
{
    const char *v = tg_ckpt_get_meta(ck, key);
    if (!v)
        return TG_OK; /* keep the default */
    for (int i = 0; i < n_choices; i++)
        if (strcmp(v, choices[i]) == 0) {
            *out = i;
            return TG_OK;
        }
    return tg_file_error(err, TG_ERR_FORMAT, path, "metadata %s=%s is not a known value", key, v);
}

int cae_config_from_checkpoint(const tg_checkpoint *ck, const char *path, cae_config *cfg, tg_error *err)
{
    static const char *const decoders[] = {"linear", "sigmoid"};
    static const char *const losses[] = {"mse", "bce"};
    static const char *const flags[] = {"0", "1"};
    static const char *const inits[] = {"glorot_uniform", CAE_INIT_X4_NAME};
    static const char *const presets[] = {CAE_PRESET_RIFAI2011};
    const char *model = tg_ckpt_get_meta(ck, "model");
    if (model && strcmp(model, "cae") != 0)
        return tg_file_error(err, TG_ERR_FORMAT, path, "model=%s is not a cae checkpoint", model);
    cae_config c = cae_config_default();
    int dec = 0, loss = 0, tied = 0, init = 0, preset = -1, rc;
    uint64_t input = 0, hidden = 0, corruptions = c.corruptions, noise_seed = c.noise_seed;
    if ((rc = tg_ckpt_meta_uint(ck, path, "input", true, 1, 1u << 24, &input, err)) ||
        (rc = tg_ckpt_meta_uint(ck, path, "hidden", true, 1, 1u << 24, &hidden, err)) ||
        (rc = tg_cli_meta_activation(ck, path, &c.act, err)) ||
        (rc = meta_choice(ck, path, "decoder", decoders, 2, &dec, err)) ||
        (rc = meta_choice(ck, path, "loss", losses, 2, &loss, err)) ||
        (rc = meta_choice(ck, path, "tied", flags, 2, &tied, err)) ||
        (rc = meta_choice(ck, path, "init", inits, 2, &init, err)) ||
        (rc = meta_choice(ck, path, "preset", presets, 1, &preset, err)))
        return rc;
    /* The ranges of the options: a checkpoint is no more trusted than a command line. */
    if ((rc = tg_ckpt_meta_real(ck, path, "lambda", false, 0, CAE_MAX_LAMBDA, &c.lambda, err)) ||
        (rc = tg_ckpt_meta_real(ck, path, "gamma", false, 0, CAE_MAX_GAMMA, &c.gamma, err)) ||
        (rc = tg_ckpt_meta_uint(ck, path, "corruptions", false, 1, CAE_MAX_CORRUPTIONS, &corruptions, err)) ||
        (rc = tg_ckpt_meta_real(ck, path, "sigma", false, FLT_MIN, CAE_MAX_SIGMA, &c.sigma, err)) ||
        (rc = tg_ckpt_meta_uint(ck, path, "noise_seed", false, 0, UINT64_MAX, &noise_seed, err)))
        return rc;
    c.input = (size_t)input;
    c.hidden = (size_t)hidden;
    c.corruptions = (size_t)corruptions;
    c.noise_seed = noise_seed;
    c.sigmoid_decoder = dec == 1;
    c.loss = (cae_loss_kind)loss;
    c.tied = tied == 1;
    c.init = (cae_init_kind)init;
    c.preset = preset >= 0 ? presets[preset] : NULL;
    if ((rc = cae_deep_meta_read(ck, path, &c, err)))
        return rc;
    tg_error why;
    const char *noise = tg_ckpt_get_meta(ck, "noise");
    if (noise && cae_noise_parse(noise, &c, &why))
        return tg_file_error(err, TG_ERR_FORMAT, path, "metadata noise=%s: %s", noise, why.msg);
    if (cae_config_check(&c, &why))
        return tg_file_error(err, TG_ERR_FORMAT, path, "%s", why.msg);
    *cfg = c;
    return TG_OK;
}

int cae_model_load_weights(cae_model *m, const tg_checkpoint *ck, const char *path, tg_error *err)
{
    int rc = tg_ckpt_load_params(ck, path, m->params, m->n_params, err);
    /* A run's checkpoint says how many steps it took (the training loop writes train_step): the next
     * step's corruptions are those of step train_step + 1, as in the uninterrupted run. */
    const char *steps = tg_ckpt_get_meta(ck, "train_step");
    if (rc == TG_OK && steps) {
        char *end;
        unsigned long long n = strtoull(steps, &end, 10);
        if (end != steps && !*end && steps[0] != '-')
            m->noise_step = (uint64_t)n + 1;
    }
    return rc;
}

/* The one-layer model's enc.weight has the shape [input, hidden] the metadata says. */
static int check_encoder_shape(const tg_checkpoint *ck, const char *path, const cae_config *cfg, tg_error *err)
{
    const tg_tensor *w = tg_ckpt_find(ck, "enc.weight");
    if (!w)
        return tg_file_error(err, TG_ERR_FORMAT, path, "missing tensor enc.weight");
    if (w->ndim != 2 || w->shape[0] != cfg->input || w->shape[1] != cfg->hidden) {
        char shape[64];
        return tg_error_set(err, TG_ERR_SHAPE, "%s: tensor enc.weight has shape %s but the metadata says input=%zu hidden=%zu",
                            path, tg_tensor_shape_str(shape, sizeof shape, w), cfg->input, cfg->hidden);
    }
    return TG_OK;
}

int cae_model_from_checkpoint(cae_model *m, const tg_checkpoint *ck, const char *path, tg_error *err)
{
    cae_config cfg;
    int rc = cae_config_from_checkpoint(ck, path, &cfg, err);
    if (rc)
        return rc;
    /* The metadata's sizes must match a tensor the file really holds before anything is
     * allocated from them: a forged input=16777216 would otherwise ask for terabytes. */
    if ((rc = cfg.depth > 1 ? cae_deep_check_shapes(ck, path, &cfg, err) : check_encoder_shape(ck, path, &cfg, err)))
        return rc;
    tg_rng unused;
    tg_rng_seed(&unused, 0, 0); /* the weights are overwritten by the checkpoint's */
    if ((rc = cae_model_init(m, &cfg, &unused, err)))
        return rc;
    if ((rc = cae_model_load_weights(m, ck, path, err)))
        cae_model_free(m);
    return rc;
}

static int load_model(const tg_checkpoint *ck, const char *path, void *m, tg_error *err)
{
    return cae_model_from_checkpoint(m, ck, path, err);
}

int cae_model_load_file(cae_model *m, const char *path, tg_error *err)
{
    return tg_ckpt_read_with(path, load_model, m, err);
}
