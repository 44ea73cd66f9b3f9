/* autograd/param.h — parameters: persistent leaves that live outside the tape.
 *
 * A parameter owns its value and its gradient (same shape).  The tape never frees or resets
 * them: gradients accumulate (+=) across backward passes until tg_param_zero_grad is called.
 * Typical step:  zero grads -> build the loss on the tape -> tg_backward -> optimizer step. */
#ifndef TG_PARAM_H
#define TG_PARAM_H

#include "tensor/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TG_PARAM_NAME_MAX 64

typedef struct tg_param {
    char name[TG_PARAM_NAME_MAX]; /* e.g. "enc.weight"; checkpoints use it */
    tg_tensor value;
    tg_tensor grad;
} tg_param;

/* Allocates value and grad (both zero). `name` is truncated to TG_PARAM_NAME_MAX-1 bytes. */
int tg_param_init(tg_param *p, const char *name, int ndim, const size_t *shape, tg_error *err);
void tg_param_free(tg_param *p);
void tg_param_zero_grad(tg_param *p);
void tg_params_zero_grad(tg_param *const *params, int n);

#ifdef __cplusplus
}
#endif

#endif
