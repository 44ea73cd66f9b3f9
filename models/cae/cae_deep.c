/* models/cae/cae_deep.c — the CAE with a deep encoder (--encoder D,W1,..,H): its layers, its
 * mirrored decoder, the contractive penalty of the whole encoder by forward mode, and the exact
 * Jacobian norms that evaluation reports.
 *
 *   h_0 = x,  h_k = f(h_{k-1}·W_k + b_k)          encoder layers k = 1..n (h = h_n, the code)
 *   decoder: the same widths back, f between, the output layer linear or sigmoid; untied, or
 *   with --tied each decoder layer's weight the transpose of its mirror encoder layer's
 *   P = (1/B) Σ_b ‖∂h_b/∂x_b‖_F²                    the whole encoder's Jacobian
 *
 * P goes through autograd/jvp.h: tg_contractive_hutchinson (k probes, the default) or
 * tg_contractive_exact (one sweep per pixel), whose gradients reach every encoder layer by
 * reverse-over-forward.  The one-layer model keeps the fused tg_jacobian_penalty unless told
 * otherwise (--penalty), and the tests compare the two routes on it. */
#include "cae_deep.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/jvp.h"
#include "autograd/op.h"
#include "cli.h"
#include "nn/init.h"
#include "nn/io/atomic_file.h"
#include "tensor/matmul.h"

size_t cae_model_depth(const cae_model *m) { return m->cfg.depth > 1 ? m->cfg.depth : 1; }

size_t cae_layer_width(const cae_config *cfg, size_t k) { return cfg->depth > 1 ? cfg->widths[k] : cfg->hidden; }

size_t cae_layer_inputs(const cae_config *cfg, size_t k) { return k == 0 ? cfg->input : cfg->widths[k - 1]; }

tg_param *cae_enc_weight(cae_model *m, size_t k) { return cae_model_depth(m) == 1 ? &m->enc_w : &m->deep_w[k]; }

tg_param *cae_enc_bias(cae_model *m, size_t k) { return cae_model_depth(m) == 1 ? &m->enc_b : &m->deep_b[k]; }

tg_param *cae_dec_weight(cae_model *m, size_t k)
{
    if (m->cfg.tied)
        return NULL;
    return cae_model_depth(m) == 1 ? &m->dec_w : &m->deep_w[m->cfg.depth + k];
}

tg_param *cae_dec_bias(cae_model *m, size_t k)
{
    return cae_model_depth(m) == 1 ? &m->dec_b : &m->deep_b[m->cfg.depth + k];
}

/* ---- the option and the metadata ------------------------------------------------------------ */

/* A whole number of digits only in 1..max from the len bytes at s. */
static bool parse_count(const char *s, size_t len, size_t max, size_t *out)
{
    size_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (size_t)(s[i] - '0');
        if (v > max) /* checked every digit: no overflow */
            return false;
    }
    *out = v;
    return len > 0 && v >= 1;
}

int cae_config_set_encoder(cae_config *cfg, const char *text, tg_error *err)
{
    size_t n = 0, v[CAE_MAX_LAYERS + 1];
    for (const char *p = text;; p++) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p), max = n == 0 ? (size_t)1 << 24 : CAE_MAX_WIDTH;
        if (n == CAE_MAX_LAYERS + 1)
            return tg_error_set(err, TG_ERR_ARG, "--encoder %s: more than %d layers", text, CAE_MAX_LAYERS);
        if (!parse_count(p, len, max, &v[n]))
            return tg_error_set(err, TG_ERR_ARG, "--encoder %s: '%.*s' is not a %s in 1..%zu", text, (int)len, p,
                                n == 0 ? "pixel count" : "layer width", max);
        n++;
        if (!comma)
            break;
        p = comma;
    }
    if (n < 2)
        return tg_error_set(err, TG_ERR_ARG, "--encoder %s: give the pixel count and the layer widths, e.g. 784,256,64", text);
    cfg->input = v[0];
    cfg->depth = n - 1;
    memcpy(cfg->widths, v + 1, (n - 1) * sizeof v[0]);
    cfg->hidden = v[n - 1];
    if (cfg->depth > 1 && cfg->penalty == CAE_PENALTY_FUSED)
        cfg->penalty = CAE_PENALTY_HUTCHINSON; /* the fused op is one layer's */
    return TG_OK;
}

static const char *const PENALTIES[] = {"fused", "hutchinson", "exact"};

bool cae_cli_encoder_options(const tg_cli *c, cae_config *cfg)
{
    const char *encoder = tg_cli_value(c, "--encoder");
    tg_error err;
    if (encoder && tg_cli_given(c, "--hidden")) {
        tg_cli_say("cae", "--encoder and --hidden exclude each other (--hidden N is --encoder D,N)");
        return false;
    }
    if (encoder && cae_config_set_encoder(cfg, encoder, &err)) {
        tg_cli_say("cae", "%s", err.msg);
        return false;
    }
    int penalty = cfg->penalty; /* after --encoder, which may change it */
    long probes = (long)cfg->probes;
    if (!tg_cli_choice(c, "--penalty", PENALTIES, 3, &penalty) || !tg_cli_long(c, "--probes", 1, CAE_MAX_PROBES, &probes))
        return false;
    if (tg_cli_given(c, "--probes") && penalty != CAE_PENALTY_HUTCHINSON) {
        tg_cli_say("cae", "--probes: only with --penalty hutchinson (the default with a deep --encoder)");
        return false;
    }
    cfg->penalty = (cae_penalty_kind)penalty;
    cfg->probes = (size_t)probes;
    return true;
}

int cae_deep_meta_write(const cae_config *c, tg_checkpoint *ck, tg_error *err)
{
    int rc = TG_OK;
    if (c->depth > 1) {
        char text[(CAE_MAX_LAYERS + 1) * 12];
        int used = snprintf(text, sizeof text, "%zu", c->input);
        for (size_t k = 0; k < c->depth; k++)
            used += snprintf(text + used, sizeof text - (size_t)used, ",%zu", c->widths[k]);
        rc = tg_ckpt_set_meta(ck, "encoder", text, err);
    }
    if (rc == TG_OK && c->penalty != CAE_PENALTY_FUSED &&
        !(rc = tg_ckpt_set_meta(ck, "penalty", PENALTIES[c->penalty], err)))
        rc = tg_ckpt_set_meta_fmt(ck, "probes", err, "%zu", c->probes);
    return rc;
}

int cae_deep_meta_read(const tg_checkpoint *ck, const char *path, cae_config *cfg, tg_error *err)
{
    const char *encoder = tg_ckpt_get_meta(ck, "encoder"), *penalty = tg_ckpt_get_meta(ck, "penalty");
    cae_config c = *cfg;
    tg_error why;
    if (encoder && cae_config_set_encoder(&c, encoder, &why))
        return tg_file_error(err, TG_ERR_FORMAT, path, "metadata encoder=%s is malformed", encoder);
    if (encoder && (c.input != cfg->input || c.hidden != cfg->hidden))
        return tg_file_error(err, TG_ERR_FORMAT, path, "metadata encoder=%s disagrees with input=%zu hidden=%zu", encoder,
                             cfg->input, cfg->hidden);
    if (penalty) {
        int kind = -1;
        for (int i = 0; i < 3; i++)
            kind = strcmp(penalty, PENALTIES[i]) == 0 ? i : kind;
        if (kind < 0)
            return tg_file_error(err, TG_ERR_FORMAT, path, "metadata penalty=%s is not a known value", penalty);
        c.penalty = (cae_penalty_kind)kind;
    }
    uint64_t probes = c.probes;
    int rc = tg_ckpt_meta_uint(ck, path, "probes", false, 1, CAE_MAX_PROBES, &probes, err);
    c.probes = (size_t)probes;
    if (rc == TG_OK)
        *cfg = c;
    return rc;
}

int cae_deep_check_shapes(const tg_checkpoint *ck, const char *path, const cae_config *cfg, tg_error *err)
{
    for (size_t k = 0; k < cfg->depth && cfg->depth > 1; k++) {
        char name[32];
        snprintf(name, sizeof name, "enc%zu.weight", k);
        const tg_tensor *w = tg_ckpt_find(ck, name);
        if (!w)
            return tg_file_error(err, TG_ERR_FORMAT, path, "missing tensor %s", name);
        if (w->ndim != 2 || w->shape[0] != cae_layer_inputs(cfg, k) || w->shape[1] != cfg->widths[k]) {
            char shape[64];
            return tg_error_set(err, TG_ERR_SHAPE, "%s: tensor %s has shape %s but the metadata's encoder says [%zu,%zu]",
                                path, name, tg_tensor_shape_str(shape, sizeof shape, w), cae_layer_inputs(cfg, k),
                                cfg->widths[k]);
        }
    }
    return TG_OK;
}

/* ---- parameters and layers ------------------------------------------------------------------- */

static int layer_init(tg_param *w, tg_param *b, const char *side, size_t k, size_t in, size_t out, cae_init_kind init,
                      tg_rng *rng, tg_error *err)
{
    char name[TG_PARAM_NAME_MAX];
    snprintf(name, sizeof name, "%s%zu.weight", side, k);
    int rc = w ? tg_param_init(w, name, 2, (size_t[]){in, out}, err) : TG_OK;
    snprintf(name, sizeof name, "%s%zu.bias", side, k);
    if (rc || (rc = tg_param_init(b, name, 1, (size_t[]){out}, err)) || !w)
        return rc;
    if (init == CAE_INIT_GLOROT_X4) { /* as cae_model_init draws the one-layer model's */
        float a = (float)(4.0 * sqrt(6.0 / ((double)in + (double)out)));
        tg_rng_fill_uniform(rng, w->value.data, w->value.size, -a, a);
    } else {
        tg_init_glorot_uniform(&w->value, in, out, rng);
    }
    return TG_OK;
}

int cae_deep_init(cae_model *m, tg_rng *rng, tg_error *err)
{
    const cae_config *c = &m->cfg;
    const size_t n = c->depth;
    int rc = TG_OK;
    for (size_t k = 0; k < n && rc == TG_OK; k++)
        rc = layer_init(&m->deep_w[k], &m->deep_b[k], "enc", k, cae_layer_inputs(c, k), c->widths[k], c->init, rng, err);
    for (size_t k = 0; k < n && rc == TG_OK; k++) /* decoder layer k mirrors encoder layer n-1-k */
        rc = layer_init(c->tied ? NULL : &m->deep_w[n + k], &m->deep_b[n + k], "dec", k, c->widths[n - 1 - k],
                        cae_layer_inputs(c, n - 1 - k), c->init, rng, err);
    for (size_t k = 0; k < 2 * n && rc == TG_OK; k++) {
        if (k < n || !c->tied)
            m->params[m->n_params++] = &m->deep_w[k];
        m->params[m->n_params++] = &m->deep_b[k];
    }
    return rc;
}

tg_node *cae_deep_encode(tg_tape *tape, cae_model *m, tg_node *x, tg_node **leaves)
{
    tg_node *h = x;
    for (size_t k = 0; k < cae_model_depth(m); k++) {
        tg_node *W = tg_param_leaf(tape, cae_enc_weight(m, k)), *b = tg_param_leaf(tape, cae_enc_bias(m, k));
        if (leaves) {
            leaves[2 * k] = W;
            leaves[2 * k + 1] = b;
        }
        h = tg_activate(tape, tg_affine(tape, h, W, b, false), m->cfg.act); /* f(h·W + b) */
    }
    return h;
}

tg_node *cae_deep_decode_hidden(tg_tape *tape, cae_model *m, tg_node *h, tg_node *const *leaves)
{
    const size_t n = cae_model_depth(m);
    for (size_t k = 0; k + 1 < n; k++) {
        tg_node *V = m->cfg.tied ? leaves[2 * (n - 1 - k)] : tg_param_leaf(tape, cae_dec_weight(m, k));
        h = tg_activate(tape, tg_affine(tape, h, V, tg_param_leaf(tape, cae_dec_bias(m, k)), m->cfg.tied), m->cfg.act);
    }
    return h;
}

/* ---- the penalty ------------------------------------------------------------------------------ */

/* The probes' seed of a step: a different Rademacher sequence each step, the same for the same
 * (seed, step) on any thread count, so a resumed run draws what the uninterrupted one drew. */
static uint64_t probe_seed(const cae_model *m) { return m->cfg.noise_seed + 0x9e3779b97f4a7c15ull * (m->noise_step + 1); }

tg_node *cae_generic_penalty(tg_tape *tape, cae_model *m, tg_node *x, tg_node *h, cae_terms terms)
{
    if (!x || !h)
        return NULL; /* the tape holds the error */
    if (terms == CAE_TERMS_RECON) { /* reported, not differentiated: exact and cheap */
        size_t B = tg_rows(x);
        double *fro2 = malloc(B * sizeof *fro2), sum = 0.0;
        tg_error err = {0};
        if (!fro2 || cae_jacobian_norms(m, x->value.data, B, fro2, &err)) {
            free(fro2);
            return tg_tape_fail(tape, fro2 ? err.code : TG_ERR_NOMEM, "%s", fro2 ? err.msg : "penalty: out of memory");
        }
        for (size_t b = 0; b < B; b++)
            sum += fro2[b];
        free(fro2);
        tg_node *p = tg_input_new(tape, 1, (size_t[]){1});
        if (p)
            p->value.data[0] = (float)(sum / (double)B);
        return p;
    }
    if (m->cfg.penalty == CAE_PENALTY_EXACT)
        return tg_contractive_exact(tape, h, x);
    return tg_contractive_hutchinson(tape, h, x, (int)m->cfg.probes, probe_seed(m));
}

/* ---- exact Jacobians, without the tape -------------------------------------------------------- */

/* Every layer's slopes f'(z) at the rows of x [B,D]: slopes[k] [B, w_k], read off the activations. */
static int layer_slopes(cae_model *m, const float *x, size_t B, float **slopes, tg_error *err)
{
    tg_tape *tape = tg_tape_new(err);
    if (!tape)
        return err ? err->code : TG_ERR_NOMEM;
    tg_tape_set_grad_enabled(tape, false);
    tg_tensor xt;
    tg_tensor_wrap(&xt, (float *)x, 2, (size_t[]){B, m->cfg.input}, NULL);
    tg_node *h = tg_input(tape, &xt);
    int rc = TG_OK;
    for (size_t k = 0; k < cae_model_depth(m) && rc == TG_OK; k++) {
        h = tg_activate(tape, tg_affine(tape, h, tg_param_leaf(tape, cae_enc_weight(m, k)),
                                        tg_param_leaf(tape, cae_enc_bias(m, k)), false), m->cfg.act);
        if (!h) {
            rc = tg_tape_get_error(tape, err);
            break;
        }
        for (size_t e = 0; e < h->value.size; e++)
            slopes[k][e] = (float)tg_activation_slope(m->cfg.act, h->value.data[e]);
    }
    tg_tape_free(tape);
    return rc;
}

/* R = S_n W_nᵀ S_{n-1} ⋯ W_2ᵀ S_1 [H, w_1] at row b: the code's derivatives with respect to layer
 * 1's pre-activations (J_b = R·W_1ᵀ).  R and tmp: room for H·max width floats. */
static void code_rows(cae_model *m, float *const *slopes, size_t b, float *R, float *tmp)
{
    const size_t n = cae_model_depth(m), H = m->cfg.hidden;
    memset(R, 0, H * H * sizeof *R);
    for (size_t j = 0; j < H; j++)
        R[j * H + j] = slopes[n - 1][b * H + j];
    for (size_t k = n - 1; k >= 1; k--) { /* R [H, w_k] -> R·W_kᵀ ⊙ s_{k-1}: [H, w_{k-1}] */
        const size_t in = cae_layer_inputs(&m->cfg, k), out = m->cfg.widths[k];
        tg_gemm(TG_NOTRANS, TG_TRANS, H, in, out, 1.0f, R, out, cae_enc_weight(m, k)->value.data, out, 0.0f, tmp, in);
        for (size_t j = 0; j < H; j++)
            for (size_t a = 0; a < in; a++)
                R[j * in + a] = tmp[j * in + a] * slopes[k - 1][b * in + a];
    }
}

static size_t widest(const cae_config *c)
{
    size_t w = c->input;
    for (size_t k = 0; k < c->depth; k++)
        w = c->widths[k] > w ? c->widths[k] : w;
    return w > c->hidden ? w : c->hidden;
}

typedef struct jacobian_work {
    float *slopes[CAE_MAX_LAYERS];
    float *R, *tmp, *G; /* G = W_1ᵀW_1 [w_1, w_1], or NULL when J is formed instead */
} jacobian_work;

static void work_free(jacobian_work *w)
{
    for (size_t k = 0; k < CAE_MAX_LAYERS; k++)
        free(w->slopes[k]);
    free(w->R);
    free(w->tmp);
    free(w->G);
    *w = (jacobian_work){0};
}

static int work_alloc(cae_model *m, size_t B, bool gram, jacobian_work *w, tg_error *err)
{
    *w = (jacobian_work){0};
    const size_t n = cae_model_depth(m), H = m->cfg.hidden, W = widest(&m->cfg), w1 = cae_layer_width(&m->cfg, 0);
    bool ok = (w->R = malloc(H * W * sizeof(float))) && (w->tmp = malloc(H * W * sizeof(float)));
    for (size_t k = 0; k < n && ok; k++)
        ok = (w->slopes[k] = malloc(B * cae_layer_width(&m->cfg, k) * sizeof(float))) != NULL;
    if (ok && gram && (ok = (w->G = malloc(w1 * w1 * sizeof(float))) != NULL))
        tg_gemm(TG_TRANS, TG_NOTRANS, w1, w1, m->cfg.input, 1.0f, cae_enc_weight(m, 0)->value.data, w1,
                cae_enc_weight(m, 0)->value.data, w1, 0.0f, w->G, w1);
    if (!ok) {
        work_free(w);
        return tg_error_set(err, TG_ERR_NOMEM, "jacobian: out of memory");
    }
    return TG_OK;
}

int cae_jacobian_norms(cae_model *m, const float *x, size_t B, double *fro2, tg_error *err)
{
    const size_t H = m->cfg.hidden, D = m->cfg.input, w1 = cae_layer_width(&m->cfg, 0);
    const bool gram = w1 < D; /* Σ_j r_jᵀ G r_j: H·w1² per image instead of H·w1·D for J */
    jacobian_work w;
    int rc = work_alloc(m, B, gram, &w, err);
    if (rc == TG_OK && (rc = layer_slopes(m, x, B, w.slopes, err)))
        work_free(&w);
    if (rc)
        return rc;
    const float *W1 = cae_enc_weight(m, 0)->value.data;
    for (size_t b = 0; b < B; b++) {
        code_rows(m, w.slopes, b, w.R, w.tmp);
        size_t cols = gram ? w1 : D; /* tmp = R·G (paired with R), or J = R·W_1ᵀ (squared) */
        if (gram)
            tg_gemm(TG_NOTRANS, TG_NOTRANS, H, w1, w1, 1.0f, w.R, w1, w.G, w1, 0.0f, w.tmp, w1);
        else
            tg_gemm(TG_NOTRANS, TG_TRANS, H, D, w1, 1.0f, w.R, w1, W1, w1, 0.0f, w.tmp, D);
        double sum = 0.0;
        for (size_t e = 0; e < H * cols; e++)
            sum += (double)w.tmp[e] * (gram ? (double)w.R[e] : (double)w.tmp[e]);
        fro2[b] = sum;
    }
    work_free(&w);
    return TG_OK;
}

int cae_jacobian_norm_sums(cae_model *m, const tg_dataset *ds, const uint32_t *idx, size_t count, double *fro2,
                           double *fro, tg_error *err)
{
    float *x = malloc(count * m->cfg.input * sizeof *x);
    double *norms = malloc(count * sizeof *norms);
    int rc = x && norms ? TG_OK : tg_error_set(err, TG_ERR_NOMEM, "jacobian: out of memory");
    if (rc == TG_OK) {
        tg_dataset_images_to_float(ds, idx, count, x);
        rc = cae_jacobian_norms(m, x, count, norms, err);
    }
    for (size_t b = 0; b < count && rc == TG_OK; b++) {
        if (fro2)
            *fro2 += norms[b];
        if (fro)
            *fro += sqrt(norms[b]);
    }
    free(x);
    free(norms);
    return rc;
}

int cae_deep_jacobian_at(cae_model *m, const float *x, float *J, tg_error *err)
{
    const size_t H = m->cfg.hidden, D = m->cfg.input, w1 = cae_layer_width(&m->cfg, 0);
    jacobian_work w;
    int rc = work_alloc(m, 1, false, &w, err);
    if (rc == TG_OK && (rc = layer_slopes(m, x, 1, w.slopes, err)) == TG_OK) {
        code_rows(m, w.slopes, 0, w.R, w.tmp);
        tg_gemm(TG_NOTRANS, TG_TRANS, H, D, w1, 1.0f, w.R, w1, cae_enc_weight(m, 0)->value.data, w1, 0.0f, J, D);
    }
    work_free(&w);
    return rc;
}
