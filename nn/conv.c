/* nn/conv.c — the 2-D convolution layer (see conv.h). */
#include "conv.h"

#include <stdio.h>
#include <string.h>

#include "autograd/ops.h"

int tg_conv2d_layer_init(tg_conv2d_layer *c, const char *name, size_t in, size_t out, size_t kernel, int stride,
                         int padding, tg_init_kind init, tg_rng *rng, tg_error *err)
{
    memset(c, 0, sizeof *c);
    if (!name || !name[0])
        return tg_error_set(err, TG_ERR_ARG, "conv2d layer: name is empty");
    if (!in || !out || !kernel || stride < 1 || padding < 0)
        return tg_error_set(err, TG_ERR_ARG, "conv2d %s: in=%zu out=%zu kernel=%zu stride=%d padding=%d (sizes and "
                            "stride must be >= 1, padding >= 0)", name, in, out, kernel, stride, padding);
    if (!rng || !tg_init_kind_valid(init))
        return tg_error_set(err, TG_ERR_ARG, "conv2d %s: %s", name, rng ? "unknown initializer kind" : "rng is NULL");
    char weight_name[TG_PARAM_NAME_MAX], bias_name[TG_PARAM_NAME_MAX];
    int nw = snprintf(weight_name, sizeof weight_name, "%s.weight", name);
    snprintf(bias_name, sizeof bias_name, "%s.bias", name);
    if (nw < 0 || nw >= TG_PARAM_NAME_MAX)
        return tg_error_set(err, TG_ERR_ARG, "conv2d %s: name too long (\"%s.weight\" must fit %d bytes)", name, name,
                            TG_PARAM_NAME_MAX - 1);
    int rc = tg_param_init(&c->weight, weight_name, 4, (size_t[]){out, in, kernel, kernel}, err);
    if (rc == TG_OK)
        rc = tg_param_init(&c->bias, bias_name, 1, (size_t[]){out}, err);
    if (rc == TG_OK) /* one output sums in·k² inputs; one input reaches out·k² outputs */
        rc = tg_init_apply(&c->weight.value, init, in * kernel * kernel, out * kernel * kernel, rng, err);
    if (rc != TG_OK) {
        tg_conv2d_layer_free(c);
        return rc;
    }
    c->in = in, c->out = out, c->kernel = kernel, c->stride = stride, c->padding = padding;
    return TG_OK;
}

void tg_conv2d_layer_free(tg_conv2d_layer *c)
{
    if (!c)
        return;
    tg_param_free(&c->weight);
    tg_param_free(&c->bias);
    memset(c, 0, sizeof *c);
}

tg_node *tg_conv2d_layer_forward(tg_tape *t, tg_conv2d_layer *c, tg_node *x)
{
    if (!tg_tape_check_inputs(t, "conv2d layer", 1, x))
        return NULL;
    if (!c || !c->weight.value.data)
        return tg_tape_fail(t, TG_ERR_ARG, "conv2d layer: not initialized");
    return tg_conv2d(t, x, tg_param_leaf(t, &c->weight), tg_param_leaf(t, &c->bias), c->stride, c->padding, 1);
}

int tg_conv2d_layer_params(tg_conv2d_layer *c, tg_param **out)
{
    out[0] = &c->weight;
    out[1] = &c->bias;
    return 2;
}
