/* autograd/tape.h — the tape: reverse-mode automatic differentiation.
 *
 * How it works (see docs/autograd.md for a worked example):
 *  - Building the loss *executes* it: every op call computes its value at once and appends a
 *    node to the tape, in execution order.  Shapes are checked when the node is created.
 *  - tg_backward(loss) seeds d(loss)/d(loss) = 1 and walks the tape in reverse (a plain loop,
 *    no recursion), calling each node's backward, which accumulates (+=) into its inputs'
 *    gradients.  A value used twice simply receives two contributions.  (Intermediate
 *    gradient buffers are zero-filled lazily, and an op that writes a whole input gradient
 *    first may assign it instead: assigns_input_grads, tg_grad_first_write in op.h.)
 *  - Parameters (param.h) are leaves that live outside the tape; their gradients accumulate
 *    into tg_param.grad.  Inputs/constants carry no gradient, and no gradient buffer is
 *    allocated for any node that does not depend on a parameter.
 *  - Node values and gradients live in the tape's arena, which grows on demand (a list of
 *    blocks) and is reset in O(1) by tg_tape_reset: after the first step, a training loop of
 *    identical steps allocates nothing.
 *  - Errors are sticky: a shape mismatch or bad argument puts the tape into an error state
 *    with a message naming the op and the shapes; every later op returns NULL and does
 *    nothing, and tg_backward returns the error.  Check tg_tape_status() (or tg_backward's
 *    result) once, after building the loss.
 *
 * Lifetime: nodes and their values are valid until the next tg_tape_reset or tg_tape_free.
 *
 * Backward semantics (documented idempotence rule): each tg_backward call recomputes the
 * intermediate gradients from zero, and ADDS the result into the parameters' gradients.
 * Calling it twice without tg_param_zero_grad in between therefore doubles the parameter
 * gradients, exactly like two accumulation steps; the tape itself is left unchanged. */
#ifndef TG_TAPE_H
#define TG_TAPE_H

#include <stdbool.h>
#include <stdio.h>

#include "param.h"
#include "tensor/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TG_MAX_INPUTS 4

typedef struct tg_tape tg_tape;
typedef struct tg_node tg_node;
typedef struct tg_op_def tg_op_def;

/* An op's parameters, stored in its node: each op reads the block as its own struct (declared
 * with TG_OP_PARAMS in op.h).  64 bytes hold a convolution's geometry; the other members only
 * align the block for any struct of numbers and pointers. */
typedef union tg_op_params {
    unsigned char bytes[64];
    double align_double;
    void *align_pointer;
} tg_op_params;

struct tg_node {
    const tg_op_def *op;        /* what computed this node (leaf ops for params and inputs) */
    int index;                  /* position on the tape */
    int n_in;
    tg_node *in[TG_MAX_INPUTS];
    tg_tensor value;            /* the forward result (a view into the arena or a param/input, or,
                                   for a view node, of its input's value: is_view) */
    tg_tensor grad;             /* d(loss)/d(value); empty (data == NULL) unless requires_grad
                                   and a backward pass is running or has run */
    bool requires_grad;         /* true when some parameter leads to this node */
    tg_param *param;            /* for parameter leaves: the parameter */
    tg_op_params params;        /* the op's parameters (a scale, a reduction, an activation, ...):
                                   written once by its constructor, read through TG_OP_PARAMS (op.h) */
    float *saved;               /* values the forward saved for the backward (arena) */
    bool skipped_zeros;         /* the forward skipped an operand's zeros (affine: X's; affine_mse_gram:
                                   T's), a choice made from its values: the backward's product with
                                   it does the same */
    bool assigns_input_grads;   /* set by the constructor: this node's backward writes an input
                                   gradient nothing has written yet with = (tg_grad_first_write) */
    bool grad_unwritten;        /* during tg_backward: nothing has written this intermediate
                                   gradient yet, its buffer holds stale data (see tape.c) */
    bool is_view;               /* the value shares in[0]'s storage (reshape): no buffer of its own;
                                   its gradient is still its own (tg_tape_record_view, op.h) */
};

tg_tape *tg_tape_new(tg_error *err);
void tg_tape_free(tg_tape *tape);
/* Forgets every node in O(1), keeps the arena's memory for the next step, clears the error. */
void tg_tape_reset(tg_tape *tape);

/* Gradient mode (default on).  Off: nodes get no gradient bookkeeping (evaluation). */
void tg_tape_set_grad_enabled(tg_tape *tape, bool enabled);
bool tg_tape_grad_enabled(const tg_tape *tape);

/* Training mode (default: training).  Ops that behave differently when training (dropout) read
 * the mode when they are recorded: in eval mode dropout is the identity.  Independent of the
 * gradient mode, and kept across tg_tape_reset. */
void tg_tape_set_training(tg_tape *tape, bool training);
bool tg_tape_training(const tg_tape *tape);

/* The sticky error: TG_OK while everything is fine. */
int tg_tape_status(const tg_tape *tape);
const char *tg_tape_error(const tg_tape *tape);
/* Copies the sticky error into err (if any) and returns its code. */
int tg_tape_get_error(const tg_tape *tape, tg_error *err);

/* Leaves. */
/* A parameter: its value is used in place; its gradient accumulates into p->grad. */
tg_node *tg_param_leaf(tg_tape *tape, tg_param *p);
/* A constant input, used in place (not copied): `t` must stay valid until the next reset. */
tg_node *tg_input(tg_tape *tape, const tg_tensor *t);
/* A constant input whose storage is a fresh arena buffer for the caller to fill (for example a
 * mini-batch converted straight into it). Contents are uninitialized. */
tg_node *tg_input_new(tg_tape *tape, int ndim, const size_t *shape);

/* Reverse pass from `loss`, which must hold exactly one element and depend on a parameter.
 * Returns the sticky error if the tape is in error. */
int tg_backward(tg_tape *tape, tg_node *loss, tg_error *err);

/* Introspection for learners. */
int tg_tape_node_count(const tg_tape *tape);
tg_node *tg_tape_node(const tg_tape *tape, int index);
/* Bytes the arena holds (capacity), and bytes used by the current step. */
size_t tg_tape_arena_capacity(const tg_tape *tape);
size_t tg_tape_arena_used(const tg_tape *tape);
/* One line per node: index, op, output shape, inputs, bytes (value + grad). */
void tg_tape_print(const tg_tape *tape, FILE *f);
/* The tape as a Graphviz DOT digraph (render with `dot -Tsvg`). */
void tg_tape_write_dot(const tg_tape *tape, FILE *f);

/* Per-op-kind timing, off by default; accumulates over steps until reset. */
void tg_tape_set_profile(tg_tape *tape, bool enabled);
void tg_tape_profile_reset(tg_tape *tape);
/* Prints "op=NAME calls=N forward_s=… backward_s=…" lines, largest total first. */
void tg_tape_profile_print(const tg_tape *tape, FILE *f);
/* Total forward / backward seconds of one op kind by name (0 when unknown). */
double tg_tape_profile_seconds(const tg_tape *tape, const char *op_name, bool backward);

#ifdef __cplusplus
}
#endif

#endif
