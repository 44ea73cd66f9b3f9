/* autograd/jvp.h — forward mode on the tape: Jacobian-vector products as tape ops, and what is
 * built on them (Jacobians, Hessian-vector products, the contractive penalty of any encoder).
 *
 * Reverse mode (tape.h) gives vᵀ·J for all inputs at once, one backward pass per output.  Forward
 * mode gives J·v, the change of every node along one direction v of one input, in one forward
 * sweep.  Here that sweep records ordinary ops: each op of the registry (ops.def) has a tangent
 * rule tg_op_<name>_jvp (autograd/jvp_rules*.c) that builds ẏ from its inputs' tangents ẋ_k and
 * its inputs and output, with the existing ops (ẏ of exp is mul(y, ẋ), of matmul
 * matmul(Ȧ, B) + matmul(A, Ḃ), ...).  The tangent is therefore a node of the same tape:
 * tg_backward can differentiate through it (reverse-over-forward), which is how Hessian-vector
 * products and the gradient of a Jacobian penalty come out.
 *
 * Zero tangents.  A node that does not depend on the seeded input has tangent zero, kept as "no
 * node" during the sweep: nothing is recorded or allocated for it, and an op whose inputs all
 * have zero tangent records nothing.  Only when the requested output itself does not depend on x
 * does tg_jvp record a constant 0 (it must return a node).
 *
 * Ops without a tangent.  const has no input (its tangent is zero); argmax is not an op (it
 * returns integers); piecewise-constant derivatives (relu's, max's, abs's, clamp's, the masks of
 * dropout) enter the tangent as constant inputs of 0/1 (or the mask's) values, whose own
 * derivative is zero wherever it exists.  An op of the caller's own (op.h) has no rule: a sweep
 * that reaches it with a nonzero tangent fails the tape ("jvp: op 'swish' (node 7) has no tangent
 * rule").
 *
 * Costs, for y = f(x) with x of D numbers and y of H (see docs/autograd.md):
 *   tg_jvp                one forward sweep over the nodes from x to y (about one more forward);
 *   tg_jacobian           D sweeps (columns) or H backward passes (rows): the fewer;
 *   tg_hvp                one sweep and one backward through it (about 2 forwards + 2 backwards);
 *   tg_contractive_exact  D sweeps; tg_contractive_hutchinson k sweeps. */
#ifndef TG_JVP_H
#define TG_JVP_H

#include <stdint.h>

#include "tape.h"

#ifdef __cplusplus
extern "C" {
#endif

/* J_y(x)·v as a node of the tape: the derivative of y along v, v a node of x's shape (usually an
 * input).  Walks the nodes recorded from x to y in order, recording each one's tangent.  NULL
 * (sticky error) on a shape mismatch, x recorded after y, or an op without a rule on the way. */
tg_node *tg_jvp(tg_tape *t, tg_node *y, tg_node *x, tg_node *v);
/* The same with several inputs moved at once: Σ_k J_y(x_k)·v_k (every x_k a node recorded
 * before y, v_k of its shape). */
tg_node *tg_jvp_many(tg_tape *t, tg_node *y, int n, tg_node *const *x, tg_node *const *v);

typedef enum tg_jacobian_mode {
    TG_JACOBIAN_AUTO = 0, /* columns when x is smaller than y or is not a parameter, else rows */
    TG_JACOBIAN_COLUMNS,  /* by JVPs: one sweep per element of x */
    TG_JACOBIAN_ROWS,     /* by VJPs: one tg_backward per element of y (x must be a parameter leaf) */
} tg_jacobian_mode;

/* J [size(y), size(x)] (row-major, J_ij = ∂y_i/∂x_j) into `out`, which the call (re)allocates:
 * for inspection and tests.  Records nodes on the tape (rows: a probe per row; columns: a sweep
 * per column); the parameters' gradients are left as they were.  0 or the error's code. */
int tg_jacobian(tg_tape *t, tg_node *y, tg_node *x, tg_jacobian_mode mode, tg_tensor *out, tg_error *err);

/* Hessian-vector product by reverse-over-forward: H·v = ∇_x (∇f(x)·v), f a one-element node and
 * x a parameter leaf: records the directional derivative g = tg_jvp(f, x, v) and runs tg_backward
 * through it.  Writes H·v (x's shape) into hv; x's parameter gradient is left as it was (the other
 * parameters' gradients receive ∂g/∂θ, the mixed second derivatives).  0 or the error's code. */
int tg_hvp(tg_tape *t, tg_node *f, tg_node *x, tg_node *v, float *hv, tg_error *err);

/* The contractive penalty of any encoder h = E(x) that treats the rows of x [B,D] (a batch)
 * independently: the mean over the batch of ‖∂h_b/∂x_b‖²_F, as a node that tg_backward
 * differentiates (to every parameter of E).
 *   exact:      Σ_i ‖J e_i‖² / B, one sweep per input column e_i (D sweeps): for checking, small D;
 *   hutchinson: Σ_p ‖J v_p‖² / (k·B), v_p of Rademacher ±1 entries drawn from (seed, p) alone
 *               (the same bits for any thread count), an unbiased estimate with k sweeps: for
 *               training.  Pass a seed that changes each step for fresh probes. */
tg_node *tg_contractive_exact(tg_tape *t, tg_node *h, tg_node *x);
tg_node *tg_contractive_hutchinson(tg_tape *t, tg_node *h, tg_node *x, int k, uint64_t seed);

#ifdef __cplusplus
}
#endif

#endif
