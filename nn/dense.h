/* nn/dense.h — the fully connected (Dense) layer:  z [B,out] = x [B,in] · W [in,out] + b [out].
 *
 * The layer owns two parameters, named after the layer so checkpoints can find them:
 * "<name>.weight" [in,out] and "<name>.bias" [out].  The weight is drawn from an initializer
 * (init.h) with fan_in = in, fan_out = out; the bias starts at zero.
 *
 * The forward pass is an ordinary composition of tape ops (param leaves, tg_matmul, tg_add with
 * the bias row broadcast over the batch), so its backward is the ops' backward:
 *     dL/dW = xᵀ · dL/dz   [in,out]      dL/db = Σ_rows dL/dz   [out]      dL/dx = dL/dz · Wᵀ
 * An activation, if any, is applied by the caller (tg_activate) on the returned node. */
#ifndef TG_NN_DENSE_H
#define TG_NN_DENSE_H

#include <stdbool.h>
#include <stddef.h>

#include "autograd/param.h"
#include "autograd/tape.h"
#include "nn/init.h"
#include "tensor/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_dense {
    tg_param weight; /* [in,out] */
    tg_param bias;   /* [out]; empty (data NULL) for a layer without bias */
    size_t in, out;
    bool no_bias;    /* tg_dense_init_ex(bias = false): z = x · W */
} tg_dense;

/* Creates the parameters ("enc" -> "enc.weight", "enc.bias"), draws the weight from `init`
 * using `rng`, zeroes the bias.  TG_ERR_ARG for in or out of 0, an empty or too long name
 * (the parameter names must fit TG_PARAM_NAME_MAX-1 bytes, so they are never truncated into
 * each other), a NULL rng or an unknown init kind.  On failure *d is left empty (safe to free). */
int tg_dense_init(tg_dense *d, const char *name, size_t in, size_t out, tg_init_kind init,
                  tg_rng *rng, tg_error *err);
/* tg_dense_init with a choice: bias false makes z = x · W, with no "<name>.bias" parameter (for a
 * layer followed by a norm whose β does the shift).  The weight draws the same numbers either way. */
int tg_dense_init_ex(tg_dense *d, const char *name, size_t in, size_t out, bool bias, tg_init_kind init,
                     tg_rng *rng, tg_error *err);
void tg_dense_free(tg_dense *d);

/* z [B,out] = x [B,in] · W + b (without bias: x · W), recorded on the tape.  x's 2-D reading
 * must have `in` columns; otherwise the tape gets a sticky shape error naming the layer.  NULL in
 * (or a tape already in error), NULL out. */
tg_node *tg_dense_forward(tg_tape *t, tg_dense *d, tg_node *x);

/* The layer's parameters, for an optimizer or a checkpoint: out[0] = &d->weight,
 * out[1] = &d->bias (with a bias).  Returns their count: 2, or 1 without bias. */
int tg_dense_params(tg_dense *d, tg_param **out);

#ifdef __cplusplus
}
#endif

#endif
