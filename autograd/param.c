#include "param.h"

#include <string.h>

int tg_param_init(tg_param *p, const char *name, int ndim, const size_t *shape, tg_error *err)
{
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name ? name : "");
    int rc = tg_tensor_zeros(&p->value, ndim, shape, err);
    if (rc == TG_OK && (rc = tg_tensor_zeros(&p->grad, ndim, shape, err)) != TG_OK)
        tg_tensor_free(&p->value);
    return rc;
}

void tg_param_free(tg_param *p)
{
    tg_tensor_free(&p->value);
    tg_tensor_free(&p->grad);
}

void tg_param_zero_grad(tg_param *p)
{
    memset(p->grad.data, 0, p->grad.size * sizeof(float));
}

void tg_params_zero_grad(tg_param *const *params, int n)
{
    for (int i = 0; i < n; i++)
        tg_param_zero_grad(params[i]);
}
