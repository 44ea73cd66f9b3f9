/* nn/init.c — weight initializers (formulas in init.h). */
#include "init.h"

#include <math.h>
#include <string.h>

void tg_init_glorot_uniform(tg_tensor *w, size_t fan_in, size_t fan_out, tg_rng *rng)
{
    if (fan_in + fan_out == 0)
        return;
    /* U(-a, a) has variance a²/3 = 2/(fan_in + fan_out): the Glorot compromise between keeping
     * the forward activations' and the backward gradients' variance constant. */
    float a = (float)sqrt(6.0 / ((double)fan_in + (double)fan_out));
    tg_rng_fill_uniform(rng, w->data, w->size, -a, a);
}

void tg_init_he_normal(tg_tensor *w, size_t fan_in, tg_rng *rng)
{
    if (fan_in == 0)
        return;
    /* Variance 2/fan_in: a ReLU zeroes half of its inputs, so the weights make up the factor 2. */
    float std = (float)sqrt(2.0 / (double)fan_in);
    tg_rng_fill_normal(rng, w->data, w->size, 0.0f, std);
}

void tg_init_he_uniform(tg_tensor *w, size_t fan_in, tg_rng *rng)
{
    if (fan_in == 0)
        return;
    /* Same variance as he_normal: a²/3 = 2/fan_in. */
    float a = (float)sqrt(6.0 / (double)fan_in);
    tg_rng_fill_uniform(rng, w->data, w->size, -a, a);
}

void tg_init_normal(tg_tensor *w, float mean, float std, tg_rng *rng)
{
    tg_rng_fill_normal(rng, w->data, w->size, mean, std);
}

void tg_init_zeros(tg_tensor *w)
{
    if (w->data)
        memset(w->data, 0, w->size * sizeof(float));
}

int tg_init_apply(tg_tensor *w, tg_init_kind kind, size_t fan_in, size_t fan_out, tg_rng *rng,
                  tg_error *err)
{
    if (!w || !w->data)
        return tg_error_set(err, TG_ERR_ARG, "init: tensor is empty");
    if (!rng)
        return tg_error_set(err, TG_ERR_ARG, "init %s: rng is NULL", tg_init_name(kind));
    if (fan_in == 0 || fan_out == 0)
        return tg_error_set(err, TG_ERR_ARG, "init %s: fan_in=%zu fan_out=%zu (both must be >= 1)",
                            tg_init_name(kind), fan_in, fan_out);
    switch (kind) {
    case TG_INIT_GLOROT_UNIFORM:
        tg_init_glorot_uniform(w, fan_in, fan_out, rng);
        return TG_OK;
    case TG_INIT_HE_NORMAL:
        tg_init_he_normal(w, fan_in, rng);
        return TG_OK;
    case TG_INIT_HE_UNIFORM:
        tg_init_he_uniform(w, fan_in, rng);
        return TG_OK;
    case TG_INIT_NORMAL:
        tg_init_normal(w, 0.0f, TG_INIT_NORMAL_STD, rng);
        return TG_OK;
    }
    return tg_error_set(err, TG_ERR_ARG, "init: unknown initializer kind %d", (int)kind);
}

bool tg_init_kind_valid(tg_init_kind kind)
{
    return kind == TG_INIT_GLOROT_UNIFORM || kind == TG_INIT_HE_NORMAL || kind == TG_INIT_HE_UNIFORM ||
           kind == TG_INIT_NORMAL;
}

const char *tg_init_name(tg_init_kind kind)
{
    switch (kind) {
    case TG_INIT_GLOROT_UNIFORM: return "glorot_uniform";
    case TG_INIT_HE_NORMAL: return "he_normal";
    case TG_INIT_HE_UNIFORM: return "he_uniform";
    case TG_INIT_NORMAL: return "normal";
    }
    return "unknown";
}

int tg_init_parse(const char *name)
{
    if (!name)
        return -1;
    if (strcmp(name, "glorot_uniform") == 0 || strcmp(name, "xavier_uniform") == 0)
        return TG_INIT_GLOROT_UNIFORM;
    if (strcmp(name, "he_normal") == 0)
        return TG_INIT_HE_NORMAL;
    if (strcmp(name, "he_uniform") == 0)
        return TG_INIT_HE_UNIFORM;
    if (strcmp(name, "normal") == 0)
        return TG_INIT_NORMAL;
    return -1;
}
