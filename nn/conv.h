/* nn/conv.h — the 2-D convolution layer:  y [B,O,OH,OW] = conv2d(x [B,C,H,W], W [O,C,K,K]) + b [O].
 *
 * Like the Dense layer (dense.h), it owns two parameters named after the layer, "<name>.weight"
 * [O,C,K,K] and "<name>.bias" [O] (PyTorch's names and shapes, so checkpoints map one to one).  The
 * weight is drawn from an initializer (init.h) with fan_in = C·K·K (the inputs of one output) and
 * fan_out = O·K·K; the bias starts at zero.  The forward is one tg_conv2d op (autograd/ops.h; NCHW).
 * An activation, if any, is the caller's (tg_relu on the returned node). */
#ifndef TG_NN_CONV_H
#define TG_NN_CONV_H

#include <stddef.h>

#include "autograd/param.h"
#include "autograd/tape.h"
#include "nn/init.h"
#include "tensor/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_conv2d_layer {
    tg_param weight; /* [out,in,kernel,kernel] */
    tg_param bias;   /* [out] */
    size_t in, out, kernel;
    int stride, padding;
} tg_conv2d_layer;

/* Creates the parameters ("c1" -> "c1.weight", "c1.bias"), draws the weight from `init` using rng,
 * zeroes the bias.  TG_ERR_ARG for a zero size, stride < 1, padding < 0, an empty or too long name,
 * a NULL rng or an unknown init kind; on failure *c is left empty (safe to free). */
int tg_conv2d_layer_init(tg_conv2d_layer *c, const char *name, size_t in, size_t out, size_t kernel, int stride,
                         int padding, tg_init_kind init, tg_rng *rng, tg_error *err);
void tg_conv2d_layer_free(tg_conv2d_layer *c);
/* y = conv2d(x, W) + b (dilation 1), recorded on the tape; x [B,in,H,W]. */
tg_node *tg_conv2d_layer_forward(tg_tape *t, tg_conv2d_layer *c, tg_node *x);
/* out[0] = &c->weight, out[1] = &c->bias; returns 2 (tg_param_list_add each, or tg_conv2d_layer_add). */
int tg_conv2d_layer_params(tg_conv2d_layer *c, tg_param **out);

#ifdef __cplusplus
}
#endif

#endif
