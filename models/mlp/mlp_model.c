/* The MLP's layers, its forward pass on the tape, and its checkpoints (see mlp_model.h). */
#include "mlp_model.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "nn/io/atomic_file.h"
#include "nn/init.h"

/* Largest input/classes accepted from a checkpoint's metadata: far above any real data set,
 * low enough that D·h1 floats cannot overflow a size_t. */
#define MLP_MAX_FEATURES ((size_t)1 << 24)

/* A whole number written with digits only (no sign, no spaces, no leading '+'), in 1..max,
 * from the `len` bytes at s.  strtoul would accept " 12", "+12" and "-1" (as a huge value). */
static bool parse_count(const char *s, size_t len, size_t max, size_t *out)
{
    if (len == 0)
        return false;
    size_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (size_t)(s[i] - '0');
        if (v > max) /* checked every digit, so v never overflows */
            return false;
    }
    *out = v;
    return v >= 1;
}

int mlp_parse_layers(const char *text, mlp_config *cfg, tg_error *err)
{
    if (!text || !*text)
        return tg_error_set(err, TG_ERR_ARG, "--layers: empty (give hidden widths such as 256,128)");
    size_t widths[MLP_MAX_HIDDEN];
    int n = 0;
    for (const char *p = text;; p++) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (n == MLP_MAX_HIDDEN)
            return tg_error_set(err, TG_ERR_ARG, "--layers %s: more than %d hidden layers", text,
                                MLP_MAX_HIDDEN);
        if (!parse_count(p, len, MLP_MAX_WIDTH, &widths[n]))
            return tg_error_set(err, TG_ERR_ARG, "--layers %s: '%.*s' is not a width in 1..%d", text,
                                (int)len, p, MLP_MAX_WIDTH);
        n++;
        if (!comma)
            break;
        p = comma;
    }
    memcpy(cfg->hidden, widths, (size_t)n * sizeof widths[0]);
    cfg->n_hidden = n;
    return TG_OK;
}

void mlp_format_layers(const mlp_config *cfg, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int k = 0; k < cfg->n_hidden && used < len; k++)
        used += (size_t)snprintf(buf + used, len - used, "%s%zu", k ? "," : "", cfg->hidden[k]);
}

double mlp_param_count(const mlp_config *cfg)
{
    double count = 0.0, in = (double)cfg->input;
    for (int k = 0; k <= cfg->n_hidden; k++) {
        double out = (double)(k < cfg->n_hidden ? cfg->hidden[k] : cfg->classes);
        count += in * out + out; /* weight and bias */
        in = out;
    }
    return count;
}

int mlp_config_check(const mlp_config *cfg, tg_error *err)
{
    if (cfg->input < 1 || cfg->input > MLP_MAX_FEATURES)
        return tg_error_set(err, TG_ERR_ARG, "input size %zu outside 1..%zu", cfg->input, MLP_MAX_FEATURES);
    if (cfg->classes < 2 || cfg->classes > MLP_MAX_FEATURES)
        return tg_error_set(err, TG_ERR_ARG, "%zu classes: a classifier needs 2..%zu", cfg->classes, MLP_MAX_FEATURES);
    if (cfg->n_hidden < 1 || cfg->n_hidden > MLP_MAX_HIDDEN)
        return tg_error_set(err, TG_ERR_ARG, "%d hidden layers: outside 1..%d", cfg->n_hidden, MLP_MAX_HIDDEN);
    for (int k = 0; k < cfg->n_hidden; k++)
        if (cfg->hidden[k] < 1 || cfg->hidden[k] > MLP_MAX_WIDTH)
            return tg_error_set(err, TG_ERR_ARG, "hidden layer %d: width %zu outside 1..%d", k, cfg->hidden[k],
                                MLP_MAX_WIDTH);
    return tg_cli_check_activation(cfg->act, err);
}

int mlp_model_init(mlp_model *m, const mlp_config *cfg, tg_rng *rng, tg_error *err)
{
    memset(m, 0, sizeof *m);
    int rc = mlp_config_check(cfg, err);
    if (rc)
        return rc;
    m->cfg = *cfg;
    /* He keeps the variance of relu activations constant through the layers (relu zeroes
     * half of them); Glorot does the same for the symmetric activations and for the logits. */
    tg_activation_kind k = cfg->act.kind;
    bool relu_like = k == TG_ACT_RELU || k == TG_ACT_LEAKY_RELU || k == TG_ACT_ELU;
    tg_init_kind hidden_init = relu_like ? TG_INIT_HE_NORMAL : TG_INIT_GLOROT_UNIFORM;
    size_t in = cfg->input;
    for (int k = 0; k <= cfg->n_hidden; k++) {
        bool is_output = k == cfg->n_hidden;
        size_t out = is_output ? cfg->classes : cfg->hidden[k];
        char name[16];
        snprintf(name, sizeof name, "layer%d", k);
        rc = tg_dense_init(&m->layers[k], name, in, out, is_output ? TG_INIT_GLOROT_UNIFORM : hidden_init, rng, err);
        if (rc) {
            mlp_model_free(m);
            return rc;
        }
        m->n_layers = k + 1;
        m->n_params += tg_dense_params(&m->layers[k], &m->params[m->n_params]);
        in = out;
    }
    return TG_OK;
}

void mlp_model_free(mlp_model *m)
{
    for (int k = 0; k < m->n_layers; k++)
        tg_dense_free(&m->layers[k]);
    m->n_layers = 0;
    m->n_params = 0;
}

tg_node *mlp_logits(tg_tape *t, mlp_model *m, tg_node *x)
{
    tg_node *h = x;                                            // [B,D]
    for (int k = 0; k < m->cfg.n_hidden; k++)
        h = tg_activate(t, tg_dense_forward(t, &m->layers[k], h), m->cfg.act); // [B,h_k]
    return tg_dense_forward(t, &m->layers[m->cfg.n_hidden], h); // [B,C], no activation: logits
}

size_t mlp_argmax(const float *row, size_t n)
{
    size_t best = 0;
    for (size_t j = 1; j < n; j++)
        if (row[j] > row[best])
            best = j;
    return best;
}

/* ---- checkpoints ------------------------------------------------------------------------ */

int mlp_model_to_checkpoint(const mlp_model *m, tg_checkpoint *ck, tg_error *err)
{
    char layers[MLP_MAX_HIDDEN * 8];
    mlp_format_layers(&m->cfg, layers, sizeof layers);
    int rc;
    if ((rc = tg_ckpt_set_meta(ck, "model", "mlp", err)) || (rc = tg_ckpt_set_meta(ck, "layers", layers, err)) ||
        (rc = tg_cli_set_meta_activation(ck, m->cfg.act, err)) ||
        (rc = tg_ckpt_set_meta_fmt(ck, "input", err, "%zu", m->cfg.input)) ||
        (rc = tg_ckpt_set_meta_fmt(ck, "classes", err, "%zu", m->cfg.classes)))
        return rc;
    return tg_ckpt_add_params(ck, m->params, m->n_params, err);
}

/* The metadata value under key, or NULL after setting a "PATH: ..." error. */
static const char *required_meta(const tg_checkpoint *ck, const char *path, const char *key, tg_error *err)
{
    const char *v = tg_ckpt_get_meta(ck, key);
    if (!v)
        tg_file_error(err, TG_ERR_FORMAT, path, "metadata key '%s' is missing (not an mlp checkpoint?)", key);
    return v;
}

/* Reads the architecture from the metadata; every defect is a TG_ERR_FORMAT naming the file. */
static int config_from_checkpoint(const tg_checkpoint *ck, const char *path, mlp_config *cfg, tg_error *err)
{
    const char *model = required_meta(ck, path, "model", err);
    if (!model)
        return TG_ERR_FORMAT;
    if (strcmp(model, "mlp") != 0)
        return tg_file_error(err, TG_ERR_FORMAT, path, "model=%s is not an mlp checkpoint", model);
    const char *layers = required_meta(ck, path, "layers", err), *act = required_meta(ck, path, "activation", err),
               *input = required_meta(ck, path, "input", err), *classes = required_meta(ck, path, "classes", err);
    if (!layers || !act || !input || !classes)
        return TG_ERR_FORMAT;
    mlp_config c = {0};
    tg_error why;
    if (mlp_parse_layers(layers, &c, &why))
        return tg_file_error(err, TG_ERR_FORMAT, path, "metadata layers=%s is malformed", layers);
    int rc = tg_cli_meta_activation(ck, path, &c.act, err);
    if (rc)
        return rc;
    if (!parse_count(input, strlen(input), MLP_MAX_FEATURES, &c.input) ||
        !parse_count(classes, strlen(classes), MLP_MAX_FEATURES, &c.classes))
        return tg_file_error(err, TG_ERR_FORMAT, path, "metadata input=%s classes=%s: not valid sizes", input,
                            classes);
    if (mlp_config_check(&c, &why))
        return tg_file_error(err, TG_ERR_FORMAT, path, "%s", why.msg);
    *cfg = c;
    return TG_OK;
}

int mlp_model_from_checkpoint(mlp_model *m, const tg_checkpoint *ck, const char *path, tg_error *err)
{
    memset(m, 0, sizeof *m);
    mlp_config cfg;
    int rc = config_from_checkpoint(ck, path, &cfg, err);
    if (rc)
        return rc;
    /* Every layer's weight must be in the file with the shape the metadata implies before anything
     * is allocated from the metadata: a forged input=16777216 would otherwise ask for gigabytes. */
    size_t in = cfg.input;
    for (int k = 0; k <= cfg.n_hidden; k++) {
        size_t out = k < cfg.n_hidden ? cfg.hidden[k] : cfg.classes;
        char name[32];
        snprintf(name, sizeof name, "layer%d.weight", k);
        const tg_tensor *w = tg_ckpt_find(ck, name);
        if (!w)
            return tg_file_error(err, TG_ERR_FORMAT, path, "missing tensor %s", name);
        if (w->ndim != 2 || w->shape[0] != in || w->shape[1] != out) {
            char shape[64];
            return tg_file_error(err, TG_ERR_SHAPE, path, "tensor %s has shape %s but the metadata says [%zu,%zu]",
                                name, tg_tensor_shape_str(shape, sizeof shape, w), in, out);
        }
        in = out;
    }
    tg_rng unused;
    tg_rng_seed(&unused, 0, 0); /* the initial weights are overwritten by the checkpoint's */
    if ((rc = mlp_model_init(m, &cfg, &unused, err)))
        return rc;
    if ((rc = tg_ckpt_load_params(ck, path, m->params, m->n_params, err)))
        mlp_model_free(m);
    return rc;
}

static int load_model(const tg_checkpoint *ck, const char *path, void *m, tg_error *err)
{
    return mlp_model_from_checkpoint(m, ck, path, err);
}

int mlp_model_load_file(mlp_model *m, const char *path, tg_error *err)
{
    memset(m, 0, sizeof *m); /* mlp_model_free is safe even when the file cannot be read */
    return tg_ckpt_read_with(path, load_model, m, err);
}

/* ---- pre-training: the first layer from a CAE's encoder ----------------------------------- */

int mlp_encoder_activation(const tg_checkpoint *ck, const char *path, tg_activation *act, tg_error *err)
{
    const char *model = tg_ckpt_get_meta(ck, "model");
    if (!model || strcmp(model, "cae") != 0)
        return tg_file_error(err, TG_ERR_FORMAT, path, "model=%s: --init-encoder needs a cae checkpoint",
                            model ? model : "(missing)");
    tg_activation kind = tg_activation_of(TG_ACT_SIGMOID); /* the CAE's default when absent */
    int rc = tg_cli_meta_activation(ck, path, &kind, err);
    if (rc == TG_OK)
        *act = kind;
    return rc;
}

/* The encoder layers a CAE checkpoint holds: the one-layer model's enc.weight [D,H] and enc.bias
 * [H], or a deep encoder's enc0.*, enc1.*, ... (cae train --encoder); W[k], b[k] in order. */
static int encoder_layers(const tg_checkpoint *ck, const char *path, const tg_tensor **W, const tg_tensor **b, int *n,
                          tg_error *err)
{
    W[0] = tg_ckpt_find(ck, "enc.weight");
    b[0] = tg_ckpt_find(ck, "enc.bias");
    *n = W[0] || b[0] ? 1 : 0;
    for (int k = 0; *n == k && k < MLP_MAX_HIDDEN; k++) { /* a deep encoder's, while there are more */
        char name[32];
        snprintf(name, sizeof name, "enc%d.weight", k);
        W[k] = tg_ckpt_find(ck, name);
        snprintf(name, sizeof name, "enc%d.bias", k);
        b[k] = tg_ckpt_find(ck, name);
        *n += W[k] || b[k];
    }
    bool ok = *n > 0;
    for (int k = 0; ok && k < *n; k++)
        ok = W[k] && W[k]->ndim == 2 && b[k] && b[k]->ndim == 1 && b[k]->shape[0] == W[k]->shape[1] &&
             (k == 0 || W[k]->shape[0] == W[k - 1]->shape[1]);
    return ok ? TG_OK
              : tg_error_set(err, TG_ERR_FORMAT, "%s: no encoder: enc.weight [D,H] and enc.bias [H] are missing or malformed",
                             path);
}

int mlp_init_from_encoder(mlp_model *m, int first, const tg_checkpoint *ck, const char *path, int *used, tg_error *err)
{
    tg_activation act = tg_activation_of(TG_ACT_SIGMOID);
    int rc = mlp_encoder_activation(ck, path, &act, err);
    if (rc)
        return rc;
    const tg_tensor *W[MLP_MAX_HIDDEN], *b[MLP_MAX_HIDDEN];
    int n;
    if ((rc = encoder_layers(ck, path, W, b, &n, err)))
        return rc;
    if (first + n > m->cfg.n_hidden)
        return tg_error_set(err, TG_ERR_ARG, "--init-encoder %s: its %d encoder layer%s from hidden layer %d on, but --layers has %d",
                            path, n, n > 1 ? "s" : "", first + 1, m->cfg.n_hidden);
    for (int k = 0; k < n; k++) {
        size_t D = W[k]->shape[0], H = W[k]->shape[1], layer = (size_t)first + (size_t)k;
        size_t in = layer ? m->cfg.hidden[layer - 1] : m->cfg.input;
        if (D != in && layer == 0)
            return tg_error_set(err, TG_ERR_ARG, "--init-encoder %s: the encoder takes %zu inputs but the data's images have %zu pixels",
                                path, D, in);
        if (D != in)
            return tg_error_set(err, TG_ERR_ARG, "--init-encoder %s: the encoder takes %zu inputs but hidden layer %zu has %zu units",
                                path, D, layer, in);
        if (H != m->cfg.hidden[layer] && layer == 0)
            return tg_error_set(err, TG_ERR_ARG, "--init-encoder %s: the encoder has %zu hidden units but --layers starts with %zu",
                                path, H, m->cfg.hidden[0]);
        if (H != m->cfg.hidden[layer])
            return tg_error_set(err, TG_ERR_ARG, "--init-encoder %s: the encoder has %zu hidden units but --layers has %zu at position %zu",
                                path, H, m->cfg.hidden[layer], layer + 1);
    }
    if (act.kind != m->cfg.act.kind || act.param != m->cfg.act.param) {
        char encoder_act[48], mlp_act[48];
        tg_activation_format(act, encoder_act, sizeof encoder_act);
        tg_activation_format(m->cfg.act, mlp_act, sizeof mlp_act);
        return tg_error_set(err, TG_ERR_ARG, "--init-encoder %s: the encoder's activation is %s but --activation is %s",
                            path, encoder_act, mlp_act);
    }
    /* Same layout: the CAE's z = x·W + b with W [D,H] input-major, as the Dense layer's. */
    for (int k = 0; k < n; k++) {
        tg_dense *layer = &m->layers[first + k];
        if ((rc = tg_tensor_copy(&layer->weight.value, W[k], err)) || (rc = tg_tensor_copy(&layer->bias.value, b[k], err)))
            return rc;
    }
    *used = n;
    return TG_OK;
}
