/* autograd/op.h — the interface for writing an op (built-in or your own).
 *
 * An op is a tg_op_def: a name, a forward and a backward function.  The forward reads
 * n->in[i]->value and writes n->value (already allocated with the shape given to
 * tg_tape_record).  The backward reads n->grad (d loss / d output) and ACCUMULATES (+=) into
 * n->in[i]->grad for every input with tg_wants_grad(n->in[i]).  (The tape zero-fills an input
 * gradient nothing has written yet just before the backward runs.  A backward that writes a
 * whole input gradient may skip that pass: its constructor sets n->assigns_input_grads, and the
 * backward asks tg_grad_first_write(input) and assigns (=) when it says so, else adds.)
 *
 * A constructor checks shapes, records the node, and runs it:
 *
 *   tg_node *my_swish(tg_tape *t, tg_node *x)
 *   {
 *       if (!tg_tape_check_inputs(t, "swish", 1, x))
 *           return NULL;
 *       tg_node *n = tg_tape_record(t, &swish_def, 1, &x, x->value.ndim, x->value.shape);
 *       return tg_tape_forward(t, n);
 *   }
 *
 * Built-in ops are listed once in autograd/ops.def (the registry); see docs/autograd.md. */
#ifndef TG_OP_H
#define TG_OP_H

#include <stdarg.h>
#include <string.h>

#include "tape.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*tg_forward_fn)(tg_node *n);
typedef void (*tg_backward_fn)(tg_node *n);

struct tg_op_def {
    const char *name;
    tg_forward_fn forward;   /* NULL for leaves */
    tg_backward_fn backward; /* NULL for leaves and ops without a gradient */
};

/* True when the tape is healthy and every input is non-NULL; otherwise sets the sticky error
 * ("NAME: input 1 is NULL") if there was none yet, and returns false. */
bool tg_tape_check_inputs(tg_tape *tape, const char *name, int n_in, ...);

/* Appends a node for `op` with the given inputs and an arena-allocated value of `shape`.
 * requires_grad is derived from the inputs (and the tape's grad mode).  NULL on error (sticky). */
tg_node *tg_tape_record(tg_tape *tape, const tg_op_def *op, int n_in, tg_node *const *in,
                        int ndim, const size_t *shape);
/* Appends a node for the one-input `op` whose value is a view of x's value in another shape of
 * the same element count (x's storage, not copied: x's values are contiguous and no op writes into
 * an input's value, so the view reads what x holds for the whole step; it owns nothing, and it
 * lives as long as x's storage does: the arena's until the reset, a parameter's or the caller's
 * tensor's as tg_param_leaf and tg_input say).  Only the value is shared: the node's gradient is
 * a buffer of its own, as every node's, and the op's backward adds it into x's (an aliased
 * gradient would be zero-filled or assigned (=) as the view's while holding x's other terms).
 * The caller has checked the counts.  NULL on error (sticky). */
tg_node *tg_tape_record_view(tg_tape *tape, const tg_op_def *op, tg_node *x, int ndim, const size_t *shape);
/* Runs n's forward (timed when profiling) and returns n; NULL in, NULL out. */
tg_node *tg_tape_forward(tg_tape *tape, tg_node *n);
/* Sets the sticky error (only the first error is kept) and returns NULL for convenience. */
tg_node *tg_tape_fail(tg_tape *tape, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* `count` floats of arena scratch, 64-byte aligned, uninitialized; NULL (and sticky error) if
 * out of memory.  Valid until the next reset: use it for values the backward needs. */
float *tg_tape_scratch(tg_tape *tape, size_t count);

/* Declares the struct `type` as an op's parameters: checks at compile time that it fits a node's
 * tg_op_params and defines `type##_set(n, value)` (the constructor stores them) and
 * `type##_of(n)` (the forward and backward read a copy):
 *
 *     typedef struct swish_params { float beta; } swish_params;
 *     TG_OP_PARAMS(swish_params)
 *     ...  swish_params_set(n, (swish_params){.beta = 1.5f});   ...  swish_params_of(n).beta
 *
 * Copies through memcpy: a node's block is bytes, and reading it through a struct pointer would
 * break C's aliasing rules. */
#ifdef __cplusplus
#define TG_PARAMS_FIT_(type) static_assert(sizeof(type) <= sizeof(tg_op_params), #type " must fit tg_op_params");
#else
#define TG_PARAMS_FIT_(type) _Static_assert(sizeof(type) <= sizeof(tg_op_params), #type " must fit tg_op_params");
#endif
#define TG_OP_PARAMS(type)                                                                                  \
    TG_PARAMS_FIT_(type)                                                                                    \
    static inline void type##_set(tg_node *n, type value) { memcpy(n->params.bytes, &value, sizeof value); } \
    static inline type type##_of(const tg_node *n)                                                          \
    {                                                                                                       \
        type value;                                                                                         \
        memcpy(&value, n->params.bytes, sizeof value);                                                      \
        return value;                                                                                       \
    }

/* Whether the backward should accumulate into this input. */
static inline bool tg_wants_grad(const tg_node *n) { return n->grad.data != NULL; }

/* For a backward whose node has assigns_input_grads, about an input it is going to write in full:
 * true (once per pass) when nothing has written x's gradient yet, so the backward must write it
 * with = (the buffer holds stale data); false when it must add. */
static inline bool tg_grad_first_write(tg_node *x)
{
    bool first = x->grad_unwritten;
    x->grad_unwritten = false;
    return first;
}

/* The 2-D reading of a node's value: rows = shape[0], cols = the rest (1-D: one row). */
static inline size_t tg_rows(const tg_node *n) { return tg_tensor_nrows(&n->value); }
static inline size_t tg_cols(const tg_node *n) { return tg_tensor_ncols(&n->value); }

#ifdef __cplusplus
}
#endif

#endif
