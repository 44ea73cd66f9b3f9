/* autograd/jvp_internal.h — what the tangent rules share (private to autograd/jvp*.c).
 *
 * A rule has the signature
 *
 *     tg_node *tg_op_<name>_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
 *
 * n is the node (its inputs n->in[k], its value), dx[k] the tangent of n->in[k] or NULL where that
 * tangent is zero (at least one is not).  It records ẏ with ordinary ops and returns it, or returns
 * NULL for a zero tangent (the tape's status tells an error apart).  One rule per line of ops.def,
 * declared here by the registry's X-macro: a line without a rule fails to link. */
#ifndef TG_JVP_INTERNAL_H
#define TG_JVP_INTERNAL_H

#include "jvp.h"
#include "ops_internal.h"

#define TG_OP(name, formula) tg_node *tg_op_##name##_jvp(tg_tape *t, tg_node *n, tg_node *const *dx);
#include "ops.def"
#undef TG_OP

/* The tangent of a fused op by its reference composition: `reference` records the composition
 * on n's inputs (in the same order, from n's parameters) and returns its output; its tangent is
 * then taken by a sweep over the nodes it recorded, seeded with dx. */
typedef tg_node *(*tg_jvp_reference_fn)(tg_tape *t, const tg_node *n);
tg_node *tg_jvp_by_reference(tg_tape *t, tg_node *n, tg_node *const *dx, tg_jvp_reference_fn reference);

/* ---- sums of tangents that may be zero (NULL) ---- */

/* a + b */
static inline tg_node *jvp_sum(tg_tape *t, tg_node *a, tg_node *b)
{
    return !a ? b : !b ? a : tg_add(t, a, b);
}

/* a - b */
static inline tg_node *jvp_diff(tg_tape *t, tg_node *a, tg_node *b)
{
    return !b ? a : !a ? tg_neg(t, b) : tg_sub(t, a, b);
}

/* a ⊙ b where b (a tangent) may be zero */
static inline tg_node *jvp_times(tg_tape *t, tg_node *a, tg_node *b) { return b ? tg_mul(t, a, b) : NULL; }

/* A tangent of node n's shape: d itself, or d (a broadcast operand's tangent) repeated over n's
 * shape by adding it to a constant 0 of that shape. */
tg_node *jvp_as_shape_of(tg_tape *t, tg_node *d, const tg_node *n);

/* A constant input of like's shape whose values the caller writes (NULL on error). */
tg_node *jvp_constant_like(tg_tape *t, const tg_node *like);

/* The op of n recorded again, with n's parameters, on other inputs (the same count and shapes):
 * for an op linear in its inputs, its tangent is the op applied to the tangents. */
tg_node *jvp_reapply(tg_tape *t, const tg_node *n, tg_node *const *in);

#endif
