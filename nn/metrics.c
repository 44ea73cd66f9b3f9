/* nn/metrics.c — accuracy and the L1/L2 penalties (see metrics.h). */
#include "metrics.h"

#include <math.h>

#include "autograd/op.h"
#include "autograd/ops.h"

/* The index of row's first maximum over C entries (a NaN counts as the maximum, the first wins). */
static size_t first_argmax(const float *row, size_t C)
{
    size_t best = 0;
    for (size_t j = 1; j < C && !isnan(row[best]); j++)
        if (row[j] > row[best] || isnan(row[j]))
            best = j;
    return best;
}

/* Rows of logits (over the last dimension) whose argmax equals their label, over the rows;
 * label_of(ctx, i) gives row i's label. */
static double accuracy_of(const tg_tensor *logits, long long (*label_of)(const void *, const uint32_t *, size_t),
                          const void *labels, const uint32_t *idx)
{
    if (!logits || !labels || logits->ndim == 0 || logits->size == 0)
        return 0.0;
    size_t C = logits->shape[logits->ndim - 1], R = logits->size / C, hits = 0;
    for (size_t i = 0; i < R; i++)
        hits += (long long)first_argmax(logits->data + i * C, C) == label_of(labels, idx, i);
    return (double)hits / (double)R;
}

static long long label_i32(const void *labels, const uint32_t *idx, size_t i)
{
    return ((const int32_t *)labels)[idx ? idx[i] : i];
}

static long long label_u8(const void *labels, const uint32_t *idx, size_t i)
{
    return ((const uint8_t *)labels)[idx ? idx[i] : i];
}

double tg_accuracy(const tg_tensor *logits, const int32_t *labels)
{
    return accuracy_of(logits, label_i32, labels, NULL);
}

double tg_accuracy_u8(const tg_tensor *logits, const uint8_t *labels, const uint32_t *idx)
{
    return accuracy_of(logits, label_u8, labels, idx);
}

/* Σ over params of Σ each(leaf): the penalty's composition, params added in order. */
static tg_node *penalty(tg_tape *t, const char *name, tg_param *const *params, int n,
                        tg_node *(*each)(tg_tape *, tg_node *))
{
    if (tg_tape_status(t))
        return NULL;
    if (!params || n < 1)
        return tg_tape_fail(t, TG_ERR_ARG, "%s: needs at least one parameter", name);
    tg_node *total = NULL;
    for (int i = 0; i < n; i++) {
        tg_node *term = tg_sum(t, each(t, tg_param_leaf(t, params[i])));
        total = total ? tg_add(t, total, term) : term;
    }
    return total;
}

tg_node *tg_l1_penalty(tg_tape *t, tg_param *const *params, int n)
{
    return penalty(t, "l1_penalty", params, n, tg_abs);
}

tg_node *tg_l2_penalty(tg_tape *t, tg_param *const *params, int n)
{
    return penalty(t, "l2_penalty", params, n, tg_square);
}
