/* nn/batch_norm.c — the batch norm layer (see batch_norm.h). */
#include "batch_norm.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "autograd/op.h"
#include "autograd/ops.h"

static bool join(char out[TG_PARAM_NAME_MAX], const char *layer, const char *suffix)
{
    int n = snprintf(out, TG_PARAM_NAME_MAX, "%s.%s", layer, suffix);
    return n > 0 && n < TG_PARAM_NAME_MAX;
}

int tg_bnorm_init(tg_bnorm *bn, const char *name, size_t n, float eps, float momentum, tg_error *err)
{
    memset(bn, 0, sizeof *bn);
    if (!name || !name[0])
        return tg_error_set(err, TG_ERR_ARG, "batch_norm: layer name is empty");
    if (n == 0)
        return tg_error_set(err, TG_ERR_ARG, "batch_norm %s: n=0 (must be >= 1)", name);
    if (!(eps > 0.0f) || !isfinite(eps))
        return tg_error_set(err, TG_ERR_ARG, "batch_norm %s: eps = %g must be finite and > 0", name, (double)eps);
    if (!(momentum >= 0.0f && momentum <= 1.0f))
        return tg_error_set(err, TG_ERR_ARG, "batch_norm %s: momentum = %g outside [0, 1]", name, (double)momentum);
    char g[TG_PARAM_NAME_MAX], b[TG_PARAM_NAME_MAX], rm[TG_PARAM_NAME_MAX];
    if (!join(g, name, "gamma") || !join(b, name, "beta") || !join(rm, name, "running_mean"))
        return tg_error_set(err, TG_ERR_ARG, "batch_norm %s: name too long (\"%s.running_mean\" must fit %d bytes)",
                            name, name, TG_PARAM_NAME_MAX - 1);
    int rc = tg_param_init(&bn->gamma, g, 1, (size_t[]){n}, err);
    if (rc == TG_OK)
        rc = tg_param_init(&bn->beta, b, 1, (size_t[]){n}, err);
    if (rc == TG_OK)
        rc = tg_tensor_zeros1(&bn->running_mean, n, err);
    if (rc == TG_OK)
        rc = tg_tensor_zeros1(&bn->running_var, n, err);
    if (rc != TG_OK) {
        tg_bnorm_free(bn);
        return rc;
    }
    for (size_t j = 0; j < n; j++) {
        bn->gamma.value.data[j] = 1.0f;
        bn->running_var.data[j] = 1.0f;
    }
    bn->n = n;
    bn->eps = eps;
    bn->momentum = momentum;
    memcpy(bn->name, name, strlen(name) + 1);
    return TG_OK;
}

void tg_bnorm_free(tg_bnorm *bn)
{
    if (!bn)
        return;
    tg_param_free(&bn->gamma);
    tg_param_free(&bn->beta);
    tg_tensor_free(&bn->running_mean);
    tg_tensor_free(&bn->running_var);
    memset(bn, 0, sizeof *bn);
}

tg_node *tg_bnorm_forward(tg_tape *t, tg_bnorm *bn, tg_node *x)
{
    if (!tg_tape_check_inputs(t, "batch_norm", 1, x))
        return NULL;
    if (!bn || !bn->gamma.value.data)
        return tg_tape_fail(t, TG_ERR_ARG, "batch_norm: layer is not initialized");
    if (x->value.ndim != 2 || x->value.shape[1] != bn->n)
        return tg_tape_fail(t, TG_ERR_SHAPE, "batch_norm %s: input must be [B,%zu]", bn->name, bn->n);
    bool training = tg_tape_training(t);
    float *stats = NULL; /* [2N]: the batch means, then the biased variances */
    if (training && !(stats = tg_tape_scratch(t, 2 * bn->n)))
        return NULL;
    tg_node *y = tg_batch_norm(t, x, tg_param_leaf(t, &bn->gamma), tg_param_leaf(t, &bn->beta), bn->eps,
                               bn->running_mean.data, bn->running_var.data, stats);
    if (!y || !training)
        return y;
    size_t B = x->value.shape[0], N = bn->n;
    double m = bn->momentum, unbias = (double)B / (double)(B - 1);
    for (size_t j = 0; j < N; j++) {
        float *rm = bn->running_mean.data + j, *rv = bn->running_var.data + j;
        *rm = (float)((1.0 - m) * *rm + m * stats[j]);
        *rv = (float)((1.0 - m) * *rv + m * ((double)stats[N + j] * unbias));
    }
    return y;
}

int tg_bnorm_params(tg_bnorm *bn, tg_param **out)
{
    out[0] = &bn->gamma;
    out[1] = &bn->beta;
    return 2;
}

int tg_bnorm_save(const tg_bnorm *bn, tg_checkpoint *ck, tg_error *err)
{
    char rm[TG_PARAM_NAME_MAX], rv[TG_PARAM_NAME_MAX];
    if (!join(rm, bn->name, "running_mean") || !join(rv, bn->name, "running_var"))
        return tg_error_set(err, TG_ERR_ARG, "batch_norm %s: name too long", bn->name);
    if (tg_ckpt_find(ck, rm) || tg_ckpt_find(ck, rv))
        return tg_error_set(err, TG_ERR_ARG, "batch_norm %s: checkpoint already has its running statistics", bn->name);
    int rc = tg_ckpt_add(ck, rm, &bn->running_mean, err);
    if (rc == TG_OK)
        rc = tg_ckpt_add(ck, rv, &bn->running_var, err); /* cannot be a duplicate: checked above */
    return rc;
}

static int find_stats(const tg_checkpoint *ck, const char *path, const char *name, size_t n, bool non_negative,
                      const tg_tensor **out, tg_error *err)
{
    *out = tg_ckpt_find(ck, name);
    if (!*out)
        return tg_error_set(err, TG_ERR_FORMAT, "%s: missing tensor %s", path, name);
    if ((*out)->ndim != 1 || (*out)->shape[0] != n)
        return tg_error_set(err, TG_ERR_FORMAT, "%s: tensor %s must have shape [%zu]", path, name, n);
    return tg_ckpt_check_values(*out, path, name, non_negative, err);
}

int tg_bnorm_load(tg_bnorm *bn, const tg_checkpoint *ck, const char *path, tg_error *err)
{
    char rm[TG_PARAM_NAME_MAX], rv[TG_PARAM_NAME_MAX];
    if (!path)
        path = "checkpoint";
    if (!join(rm, bn->name, "running_mean") || !join(rv, bn->name, "running_var"))
        return tg_error_set(err, TG_ERR_ARG, "batch_norm %s: name too long", bn->name);
    const tg_tensor *m, *v;
    int rc = find_stats(ck, path, rm, bn->n, false, &m, err);
    if (rc == TG_OK)
        rc = find_stats(ck, path, rv, bn->n, true, &v, err);
    if (rc != TG_OK)
        return rc;
    memcpy(bn->running_mean.data, m->data, bn->n * sizeof(float));
    memcpy(bn->running_var.data, v->data, bn->n * sizeof(float));
    return TG_OK;
}
