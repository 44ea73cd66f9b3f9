/* nn/init.h — weight initializers, all drawn from an explicit tg_rng (same seed, same bits).
 *
 * Every initializer fills the whole tensor in storage order (row-major), so a weight [in,out]
 * initialized from a given rng state is the same on every machine.  fan_in / fan_out are the
 * number of inputs / outputs of the layer (a Dense weight [in,out] has fan_in = in,
 * fan_out = out).
 *
 *   glorot_uniform  U(-a, a),  a = sqrt(6 / (fan_in + fan_out))   Keras' Dense default (the CAE)
 *   he_normal       N(0, s²),  s = sqrt(2 / fan_in)                 for ReLU layers
 *   he_uniform      U(-a, a),  a = sqrt(6 / fan_in)                 same variance 2/fan_in
 *   normal          N(mean, std²)
 *   zeros           0                                               biases
 *
 * The fill functions cannot fail; a fan of 0 (no meaningful scale) leaves the tensor unchanged.
 * tg_init_apply is the checked entry point used by layers. */
#ifndef TG_NN_INIT_H
#define TG_NN_INIT_H

#include <stdbool.h>
#include <stddef.h>

#include "tensor/rng.h"
#include "tensor/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    TG_INIT_GLOROT_UNIFORM = 0,
    TG_INIT_HE_NORMAL,
    TG_INIT_HE_UNIFORM,
    TG_INIT_NORMAL,
} tg_init_kind;

/* The standard deviation TG_INIT_NORMAL uses through tg_init_apply (Keras' RandomNormal
 * default).  Call tg_init_normal directly for another one. */
#define TG_INIT_NORMAL_STD 0.05f

void tg_init_glorot_uniform(tg_tensor *w, size_t fan_in, size_t fan_out, tg_rng *rng);
void tg_init_he_normal(tg_tensor *w, size_t fan_in, tg_rng *rng);
void tg_init_he_uniform(tg_tensor *w, size_t fan_in, tg_rng *rng);
void tg_init_normal(tg_tensor *w, float mean, float std, tg_rng *rng);
void tg_init_zeros(tg_tensor *w);

/* Fills w with the initializer `kind`; TG_ERR_ARG for an unknown kind, a zero fan, a NULL rng
 * or an empty tensor (w is then unchanged). */
int tg_init_apply(tg_tensor *w, tg_init_kind kind, size_t fan_in, size_t fan_out, tg_rng *rng,
                  tg_error *err);

/* True for the four kinds above. */
bool tg_init_kind_valid(tg_init_kind kind);
/* "glorot_uniform", "he_normal", "he_uniform", "normal"; "unknown" for anything else. */
const char *tg_init_name(tg_init_kind kind);
/* The inverse of tg_init_name (also accepts "xavier_uniform"); -1 for an unknown name. */
int tg_init_parse(const char *name);

#ifdef __cplusplus
}
#endif

#endif
