/* nn/params.c — the named parameter list (see params.h). */
#include "params.h"

#include <stdlib.h>
#include <string.h>

void tg_param_list_init(tg_param_list *l)
{
    l->items = NULL;
    l->count = 0;
    l->cap_ = 0;
}

void tg_param_list_free(tg_param_list *l)
{
    free(l->items);
    tg_param_list_init(l);
}

tg_param *tg_param_list_find(const tg_param_list *l, const char *name)
{
    for (int i = 0; name && i < l->count; i++)
        if (!strcmp(l->items[i]->name, name))
            return l->items[i];
    return NULL;
}

/* TG_OK when p may join l, else the error (in err) that says why not. */
static int check_new(const tg_param_list *l, const tg_param *p, tg_error *err)
{
    if (!p)
        return tg_error_set(err, TG_ERR_ARG, "param list: NULL parameter");
    if (!p->name[0])
        return tg_error_set(err, TG_ERR_ARG, "param list: a parameter without a name");
    for (int i = 0; i < l->count; i++) {
        if (l->items[i] == p)
            return tg_error_set(err, TG_ERR_ARG, "param list: %s is already listed", p->name);
        if (!strcmp(l->items[i]->name, p->name))
            return tg_error_set(err, TG_ERR_ARG, "param list: two parameters named %s", p->name);
    }
    return TG_OK;
}

/* Room for `more` further items. */
static int reserve(tg_param_list *l, int more, tg_error *err)
{
    if (l->count + more <= l->cap_)
        return TG_OK;
    int cap = l->cap_ ? l->cap_ : 8;
    while (cap < l->count + more)
        cap *= 2;
    tg_param **items = realloc(l->items, sizeof *items * (size_t)cap);
    if (!items)
        return tg_error_set(err, TG_ERR_NOMEM, "param list: out of memory for %d entries", cap);
    l->items = items;
    l->cap_ = cap;
    return TG_OK;
}

int tg_param_list_add(tg_param_list *l, tg_param *p, tg_error *err)
{
    int rc = check_new(l, p, err);
    if (rc || (rc = reserve(l, 1, err)))
        return rc;
    l->items[l->count++] = p;
    return TG_OK;
}

int tg_param_list_add_dense(tg_param_list *l, tg_dense *d, tg_error *err)
{
    if (!d)
        return tg_error_set(err, TG_ERR_ARG, "param list: NULL Dense layer");
    tg_param *ps[2];
    int n = tg_dense_params(d, ps), rc = reserve(l, n, err);
    for (int i = 0; i < n && !rc; i++)
        rc = check_new(l, ps[i], err);
    if (!rc && n == 2 && !strcmp(ps[0]->name, ps[1]->name))
        rc = tg_error_set(err, TG_ERR_ARG, "param list: two parameters named %s", ps[0]->name);
    for (int i = 0; i < n && !rc; i++)
        l->items[l->count++] = ps[i];
    return rc;
}

size_t tg_param_list_numel(const tg_param_list *l)
{
    size_t n = 0;
    for (int i = 0; i < l->count; i++)
        n += l->items[i]->value.size;
    return n;
}
