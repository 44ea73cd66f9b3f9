/* autograd/jvp.c — the forward-mode sweep (jvp.h): one tangent per node, recorded as ops.
 *
 * The tape is already in execution order, so forward mode needs no graph search: from the first
 * seeded node to the output, each node whose inputs carry a tangent gets one from its op's rule
 * (jvp_internal.h), in that order.  The tangents are kept in a table indexed by node position,
 * in the tape's arena (it lives as long as the nodes it points to); a zero tangent is NULL. */
#include "jvp_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- the rules, one per line of ops.def ---------------------------------------------------- */

typedef tg_node *(*jvp_rule)(tg_tape *t, tg_node *n, tg_node *const *dx);

typedef struct rule_entry {
    const tg_op_def *op;
    jvp_rule rule;
} rule_entry;

static const rule_entry rules[] = {
#define TG_OP(name, formula) {&tg_op_##name, tg_op_##name##_jvp},
#include "ops.def"
#undef TG_OP
};

static jvp_rule rule_of(const tg_op_def *op)
{
    for (size_t k = 0; k < sizeof rules / sizeof rules[0]; k++)
        if (rules[k].op == op)
            return rules[k].rule;
    return NULL;
}

/* ---- the sweep ------------------------------------------------------------------------------ */

/* Tangents of the nodes first..last (table), and of nodes before `first` that a sub-sweep
 * inherits (outer: pairs node -> tangent, the fused op's inputs). */
typedef struct sweep {
    int first, last;
    tg_node **table;
    int n_outer;
    tg_node *const *outer_nodes;
    tg_node *const *outer_tangents;
} sweep;

static tg_node *tangent_of(const sweep *s, const tg_node *x)
{
    if (x->index >= s->first && x->index <= s->last)
        return s->table[x->index - s->first];
    for (int k = 0; k < s->n_outer; k++)
        if (s->outer_nodes[k] == x)
            return s->outer_tangents[k];
    return NULL;
}

/* A table of last-first+1 tangents, all zero, in the arena (scratch is floats: rounded up). */
static bool sweep_alloc(tg_tape *t, sweep *s)
{
    size_t count = (size_t)(s->last - s->first + 1);
    size_t floats = (count * sizeof(tg_node *) + sizeof(float) - 1) / sizeof(float);
    s->table = (tg_node **)(void *)tg_tape_scratch(t, floats);
    if (!s->table)
        return false;
    memset(s->table, 0, count * sizeof(tg_node *));
    return true;
}

/* Runs the rules of nodes first..last whose tangent is not set yet and that `last` depends on
 * (skip[i - first] marks the others, and the seeds, which keep theirs; NULL: none). */
static bool sweep_run(tg_tape *t, sweep *s, const bool *skip)
{
    for (int i = s->first; i <= s->last; i++) {
        tg_node *n = tg_tape_node(t, i);
        if (skip && skip[i - s->first])
            continue;
        tg_node *dx[TG_MAX_INPUTS] = {0};
        bool any = false;
        for (int k = 0; k < n->n_in; k++) {
            dx[k] = tangent_of(s, n->in[k]);
            any |= dx[k] != NULL;
        }
        if (!any)
            continue;
        jvp_rule rule = rule_of(n->op);
        if (!rule) {
            tg_tape_fail(t, TG_ERR_ARG, "jvp: op '%s' (node %d) has no tangent rule", n->op->name, i);
            return false;
        }
        s->table[i - s->first] = rule(t, n, dx);
        if (tg_tape_status(t))
            return false;
    }
    return true;
}

static bool same_shape(const tg_node *a, const tg_node *b) { return tg_tensor_same_shape(&a->value, &b->value); }

tg_node *tg_jvp_many(tg_tape *t, tg_node *y, int n, tg_node *const *x, tg_node *const *v)
{
    if (tg_tape_status(t))
        return NULL;
    if (!y || n < 1 || !x || !v)
        return tg_tape_fail(t, TG_ERR_ARG, "jvp: needs an output and at least one input with its tangent");
    sweep s = {.first = y->index, .last = y->index};
    for (int k = 0; k < n; k++) {
        if (!x[k] || !v[k])
            return tg_tape_fail(t, TG_ERR_ARG, "jvp: input %d or its tangent is NULL", k);
        char a[64], b[64];
        if (!same_shape(x[k], v[k]))
            return tg_tape_fail(t, TG_ERR_SHAPE, "jvp: input %s with a tangent %s: shapes differ",
                                tg_tensor_shape_str(a, sizeof a, &x[k]->value),
                                tg_tensor_shape_str(b, sizeof b, &v[k]->value));
        if (x[k]->index > y->index || tg_tape_node(t, x[k]->index) != x[k])
            return tg_tape_fail(t, TG_ERR_ARG, "jvp: input %d is not a node of this tape recorded before the output",
                                k);
        s.first = x[k]->index < s.first ? x[k]->index : s.first;
    }
    if (!sweep_alloc(t, &s))
        return NULL;
    /* skip: the nodes y does not depend on (one reverse pass over the inputs, as tg_backward's),
     * such as the tangents of earlier sweeps, and the seeds */
    bool *skip = (bool *)(void *)tg_tape_scratch(t, (size_t)(s.last - s.first) / sizeof(float) + 1);
    if (!skip)
        return NULL;
    memset(skip, 1, (size_t)(s.last - s.first + 1));
    skip[s.last - s.first] = false;
    for (int i = s.last; i >= s.first; i--)
        for (int k = 0; !skip[i - s.first] && k < tg_tape_node(t, i)->n_in; k++) {
            int in = tg_tape_node(t, i)->in[k]->index;
            if (in >= s.first)
                skip[in - s.first] = false;
        }
    for (int k = 0; k < n; k++) {
        tg_node **slot = &s.table[x[k]->index - s.first];
        *slot = *slot ? tg_add(t, *slot, v[k]) : v[k]; /* one input listed twice: both directions */
        skip[x[k]->index - s.first] = true;
    }
    if (!sweep_run(t, &s, skip))
        return NULL;
    tg_node *dy = s.table[y->index - s.first];
    return dy ? dy : tg_const(t, 0.0f, y->value.ndim, y->value.shape);
}

tg_node *tg_jvp(tg_tape *t, tg_node *y, tg_node *x, tg_node *v) { return tg_jvp_many(t, y, 1, &x, &v); }

tg_node *tg_jvp_by_reference(tg_tape *t, tg_node *n, tg_node *const *dx, tg_jvp_reference_fn reference)
{
    int first = tg_tape_node_count(t);
    tg_node *r = reference(t, n);
    if (!r)
        return NULL;
    sweep s = {.first = first, .last = r->index, .n_outer = n->n_in, .outer_nodes = n->in, .outer_tangents = dx};
    if (!sweep_alloc(t, &s) || !sweep_run(t, &s, NULL))
        return NULL;
    return s.table[r->index - first];
}

/* ---- helpers of the rules (jvp_internal.h) ---------------------------------------------------- */

tg_node *jvp_as_shape_of(tg_tape *t, tg_node *d, const tg_node *n)
{
    if (!d || same_shape(d, n))
        return d;
    return tg_add(t, tg_const(t, 0.0f, n->value.ndim, n->value.shape), d);
}

tg_node *jvp_constant_like(tg_tape *t, const tg_node *like)
{
    return tg_input_new(t, like->value.ndim, like->value.shape);
}

tg_node *jvp_reapply(tg_tape *t, const tg_node *n, tg_node *const *in)
{
    for (int k = 0; k < n->n_in; k++)
        if (!in[k])
            return tg_tape_fail(t, TG_ERR_ARG, "jvp: %s: input %d is NULL", n->op->name, k);
    tg_node *r = tg_tape_record(t, n->op, n->n_in, in, n->value.ndim, n->value.shape);
    if (r) {
        r->params = n->params;
        r->assigns_input_grads = n->assigns_input_grads;
    }
    return tg_tape_forward(t, r);
}

/* ---- Jacobians and Hessian-vector products ---------------------------------------------------- */

/* The parameter gradients of the nodes up to `last`, saved (or put back) so that the backward
 * passes of tg_jacobian and tg_hvp leave them as they were. */
typedef struct saved_grads {
    int count;
    tg_param **param;
    float **copy;
} saved_grads;

static int grads_save(tg_tape *t, int last, saved_grads *s, tg_error *err)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i <= last; i++)
        s->count += tg_tape_node(t, i)->param != NULL;
    s->param = calloc((size_t)s->count + 1, sizeof *s->param);
    s->copy = calloc((size_t)s->count + 1, sizeof *s->copy);
    if (!s->param || !s->copy)
        return tg_error_set(err, TG_ERR_NOMEM, "jacobian: out of memory");
    int k = 0;
    for (int i = 0; i <= last; i++) {
        tg_param *p = tg_tape_node(t, i)->param;
        if (!p)
            continue;
        s->param[k] = p;
        s->copy[k] = malloc(p->grad.size * sizeof(float));
        if (!s->copy[k])
            return tg_error_set(err, TG_ERR_NOMEM, "jacobian: out of memory");
        memcpy(s->copy[k++], p->grad.data, p->grad.size * sizeof(float));
    }
    return TG_OK;
}

/* Puts the gradients back (a parameter used twice is restored twice, to the same values). */
static void grads_restore(saved_grads *s)
{
    for (int k = 0; k < s->count; k++)
        if (s->copy && s->copy[k])
            memcpy(s->param[k]->grad.data, s->copy[k], s->param[k]->grad.size * sizeof(float));
    for (int k = 0; s->copy && k < s->count; k++)
        free(s->copy[k]);
    free(s->copy);
    free(s->param);
}

/* Row i of J: x's gradient of y_i = Σ y ⊙ e_i, one backward pass. */
static int jacobian_rows(tg_tape *t, tg_node *y, tg_node *x, float *J, tg_error *err)
{
    size_t H = y->value.size, D = x->value.size;
    for (size_t i = 0; i < H; i++) {
        tg_node *pick = jvp_constant_like(t, y);
        if (!pick)
            return tg_tape_get_error(t, err);
        memset(pick->value.data, 0, H * sizeof(float));
        pick->value.data[i] = 1.0f;
        tg_node *yi = tg_sum(t, tg_mul(t, y, pick));
        tg_param_zero_grad(x->param);
        int rc = tg_backward(t, yi, err);
        if (rc)
            return rc;
        memcpy(J + i * D, x->param->grad.data, D * sizeof(float));
    }
    return TG_OK;
}

/* Column j of J: J·e_j, one sweep. */
static int jacobian_columns(tg_tape *t, tg_node *y, tg_node *x, float *J, tg_error *err)
{
    size_t H = y->value.size, D = x->value.size;
    for (size_t j = 0; j < D; j++) {
        tg_node *e = jvp_constant_like(t, x);
        if (!e)
            return tg_tape_get_error(t, err);
        memset(e->value.data, 0, D * sizeof(float));
        e->value.data[j] = 1.0f;
        tg_node *column = tg_jvp(t, y, x, e);
        if (!column)
            return tg_tape_get_error(t, err);
        for (size_t i = 0; i < H; i++)
            J[i * D + j] = column->value.data[i];
    }
    return TG_OK;
}

int tg_jacobian(tg_tape *t, tg_node *y, tg_node *x, tg_jacobian_mode mode, tg_tensor *out, tg_error *err)
{
    if (tg_tape_status(t))
        return tg_tape_get_error(t, err);
    if (!y || !x || !out)
        return tg_error_set(err, TG_ERR_ARG, "jacobian: y, x and out are needed");
    bool rows_possible = x->param && tg_tape_grad_enabled(t) && y->requires_grad;
    if (mode == TG_JACOBIAN_AUTO)
        mode = rows_possible && y->value.size < x->value.size ? TG_JACOBIAN_ROWS : TG_JACOBIAN_COLUMNS;
    if (mode == TG_JACOBIAN_ROWS && !rows_possible)
        return tg_error_set(err, TG_ERR_ARG, "jacobian: rows by backward passes need x to be a parameter leaf "
                                             "that y depends on, with gradients enabled");
    tg_tensor_free(out);
    int rc = tg_tensor_zeros2(out, y->value.size, x->value.size, err);
    if (rc)
        return rc;
    if (mode == TG_JACOBIAN_COLUMNS)
        return jacobian_columns(t, y, x, out->data, err);
    saved_grads saved;
    rc = grads_save(t, y->index, &saved, err);
    if (rc == TG_OK)
        rc = jacobian_rows(t, y, x, out->data, err);
    grads_restore(&saved);
    return rc;
}

int tg_hvp(tg_tape *t, tg_node *f, tg_node *x, tg_node *v, float *hv, tg_error *err)
{
    if (tg_tape_status(t))
        return tg_tape_get_error(t, err);
    if (!f || !x || !x->param || !hv)
        return tg_error_set(err, TG_ERR_ARG, "hvp: f, a parameter leaf x and an output buffer are needed");
    if (f->value.size != 1)
        return tg_error_set(err, TG_ERR_SHAPE, "hvp: f must hold one element (it holds %zu)", f->value.size);
    tg_node *g = tg_jvp(t, f, x, v); /* ∇f(x)·v, as a node */
    if (!g)
        return tg_tape_get_error(t, err);
    size_t D = x->value.size;
    if (!g->requires_grad) { /* ∇f·v depends on no parameter (f is linear in x): H·v = 0 */
        memset(hv, 0, D * sizeof(float));
        return TG_OK;
    }
    float *before = malloc(D * sizeof(float));
    if (!before)
        return tg_error_set(err, TG_ERR_NOMEM, "hvp: out of memory");
    memcpy(before, x->param->grad.data, D * sizeof(float));
    tg_param_zero_grad(x->param);
    int rc = tg_backward(t, g, err); /* ∇_x (∇f(x)·v) = H·v */
    if (rc == TG_OK)
        memcpy(hv, x->param->grad.data, D * sizeof(float));
    memcpy(x->param->grad.data, before, D * sizeof(float));
    free(before);
    return rc;
}
