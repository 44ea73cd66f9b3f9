/* nn/dense.c — the Dense layer (see dense.h). */
#include "dense.h"

#include <stdio.h>
#include <string.h>

#include "autograd/op.h"
#include "autograd/ops.h"

/* Writes "<layer>.<suffix>" into out; false when it would not fit a parameter name. */
static bool param_name(char out[TG_PARAM_NAME_MAX], const char *layer, const char *suffix)
{
    int n = snprintf(out, TG_PARAM_NAME_MAX, "%s.%s", layer, suffix);
    return n > 0 && n < TG_PARAM_NAME_MAX;
}

int tg_dense_init(tg_dense *d, const char *name, size_t in, size_t out, tg_init_kind init,
                  tg_rng *rng, tg_error *err)
{
    return tg_dense_init_ex(d, name, in, out, true, init, rng, err);
}

int tg_dense_init_ex(tg_dense *d, const char *name, size_t in, size_t out, bool bias, tg_init_kind init,
                     tg_rng *rng, tg_error *err)
{
    memset(d, 0, sizeof *d);
    if (!name || !name[0])
        return tg_error_set(err, TG_ERR_ARG, "dense: layer name is empty");
    if (in == 0 || out == 0)
        return tg_error_set(err, TG_ERR_ARG, "dense %s: in=%zu out=%zu (both must be >= 1)", name, in, out);
    if (!rng)
        return tg_error_set(err, TG_ERR_ARG, "dense %s: rng is NULL", name);
    if (!tg_init_kind_valid(init))
        return tg_error_set(err, TG_ERR_ARG, "dense %s: unknown initializer kind %d", name, (int)init);

    char weight_name[TG_PARAM_NAME_MAX], bias_name[TG_PARAM_NAME_MAX];
    if (!param_name(weight_name, name, "weight") || !param_name(bias_name, name, "bias"))
        return tg_error_set(err, TG_ERR_ARG, "dense %s: name too long (\"%s.weight\" must fit %d bytes)",
                            name, name, TG_PARAM_NAME_MAX - 1);

    int rc = tg_param_init(&d->weight, weight_name, 2, (size_t[]){in, out}, err);
    if (rc == TG_OK && bias)
        rc = tg_param_init(&d->bias, bias_name, 1, (size_t[]){out}, err); /* zero: tg_param_init */
    if (rc == TG_OK)
        rc = tg_init_apply(&d->weight.value, init, in, out, rng, err);
    if (rc != TG_OK) {
        tg_dense_free(d);
        return rc;
    }
    d->in = in;
    d->out = out;
    d->no_bias = !bias;
    return TG_OK;
}

void tg_dense_free(tg_dense *d)
{
    if (!d)
        return;
    tg_param_free(&d->weight);
    tg_param_free(&d->bias);
    memset(d, 0, sizeof *d);
}

tg_node *tg_dense_forward(tg_tape *t, tg_dense *d, tg_node *x)
{
    if (!tg_tape_check_inputs(t, "dense", 1, x))
        return NULL;
    if (!d || !d->weight.value.data)
        return tg_tape_fail(t, TG_ERR_ARG, "dense: layer is not initialized");
    /* Checked here as well as in affine so the message names the layer, not just the op. */
    if (tg_cols(x) != d->in) {
        char xs[64], ws[64];
        int layer_len = (int)(strlen(d->weight.name) - strlen(".weight")); /* "enc.weight" -> "enc" */
        return tg_tape_fail(t, TG_ERR_SHAPE, "dense %.*s: input %s has %zu features, weight %s expects %zu",
                            layer_len, d->weight.name, tg_tensor_shape_str(xs, sizeof xs, &x->value),
                            tg_cols(x), tg_tensor_shape_str(ws, sizeof ws, &d->weight.value), d->in);
    }
    tg_node *w = tg_param_leaf(t, &d->weight);             // W [in,out]
    if (d->no_bias)
        return tg_matmul(t, x, w, false, false);           // x [B,in] · W -> [B,out]
    tg_node *b = tg_param_leaf(t, &d->bias);               // b [out]
    return tg_affine(t, x, w, b, false);                   // x [B,in] · W + b -> [B,out], one op
}

int tg_dense_params(tg_dense *d, tg_param **out)
{
    out[0] = &d->weight;
    if (d->no_bias)
        return 1;
    out[1] = &d->bias;
    return 2;
}
