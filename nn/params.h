/* nn/params.h — a model's parameters collected in one named list, so nobody counts `params[14]`
 * by hand.  Append each parameter (or a Dense layer's two) once while building the model; then
 * hand the list's array to the optimizer, the checkpoint helpers and the penalties:
 *
 *     tg_param_list ps;
 *     tg_param_list_init(&ps);
 *     tg_param_list_add_dense(&ps, &enc, err);           // "enc.weight", "enc.bias"
 *     tg_param_list_add(&ps, &gamma, err);               // any tg_param
 *     tg_optim_init(&opt, &cfg, ps.items, ps.count, err);
 *     tg_ckpt_add_params(ck, ps.items, ps.count, err);   // tg_ckpt_load_params alike
 *     for (int i = 0; i < ps.count; i++) use(ps.items[i]);
 *     tg_param_list_free(&ps);                           // frees the array, not the parameters
 *
 * The list holds pointers: the parameters stay the model's (they must not move while listed).
 * Names are the checkpoint's keys, so a list refuses a second parameter of the same name, and the
 * same parameter twice (an optimizer would step it twice): TG_ERR_ARG naming it.  A failed append
 * leaves the list as it was. */
#ifndef TG_NN_PARAMS_H
#define TG_NN_PARAMS_H

#include "autograd/param.h"
#include "nn/dense.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_param_list {
    tg_param **items; /* items[0..count): in the order appended; the array optimizers take */
    int count;
    int cap_;         /* private */
} tg_param_list;

/* An empty list (no allocation yet). */
void tg_param_list_init(tg_param_list *l);
/* Releases the array (never the parameters) and leaves the list empty.  Safe on an empty list. */
void tg_param_list_free(tg_param_list *l);
/* Appends p.  TG_ERR_ARG for NULL, an empty name, p already listed or a name already listed;
 * TG_ERR_NOMEM when the array cannot grow. */
int tg_param_list_add(tg_param_list *l, tg_param *p, tg_error *err);
/* Appends the layer's weight and, when it has one, its bias (tg_dense_params), all or nothing. */
int tg_param_list_add_dense(tg_param_list *l, tg_dense *d, tg_error *err);
/* The listed parameter named `name`, or NULL. */
tg_param *tg_param_list_find(const tg_param_list *l, const char *name);
/* Σ of the listed parameters' element counts (for a "params=" line). */
size_t tg_param_list_numel(const tg_param_list *l);

#ifdef __cplusplus
}
#endif

#endif
