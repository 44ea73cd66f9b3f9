/* autograd/gradcheck.h — compare the tape's gradients with finite differences.
 *
 * A hand-written backward is a claim; a gradient check tests it.  For each checked element
 * θ of each parameter:
 *
 *     numeric  = (L(θ + eps) - L(θ - eps)) / (2·eps)       (central difference, O(eps²) error)
 *     noise    = 4 ulps of the two losses / (2·eps)         (what float rounding of L can fake)
 *     analytic = the gradient tg_backward put into the parameter
 *     rel_err  = max(0, |analytic - numeric| - noise) / max(|analytic|, |numeric|, floor)
 *
 * and the check passes when the largest rel_err is <= tolerance.  The floor keeps tiny
 * gradients (where float rounding dominates) from failing on noise: below it, errors are
 * measured in absolute terms, tolerance·floor.  Both the noise term and the floor scale with the
 * loss's magnitude (a summed BCE of ~10 has ulps 100 times a loss of ~0.1's, and every float
 * rounding on the way to it too): the floor used is opts' floor · max(1, |L|), so a loss ≤ 1
 * keeps the absolute floor (res->floor says which was used).  The "every gradient is zero" test
 * keeps the caller's floor.
 *
 * Inputs.  An op's input gradient can be checked directly, not only through an upstream op:
 * hold the input in a tg_param, take it in the loss function through tg_param_leaf, and list it
 * in opts.inputs (or among the params: the only difference is the name in messages).
 *
 * Kinks.  When the worst element fails and its one-sided slopes (L(θ)-L(θ-eps))/eps and
 * (L(θ+eps)-L(θ))/eps disagree beyond rounding while the analytic gradient matches one of them
 * (relu at 0, a max tie: the backward picked a side), the message ends "at a kink: the left and
 * right slopes differ (left .., right ..)" and res->worst_at_kink is set.  It is still a failure:
 * move the input away from the kink.
 *
 * An element that fails is measured again before it counts as a failure: with steps 2·eps and
 * eps/2, and with Richardson's extrapolations (4·D(h) - D(2h))/3 of the pairs, each with its own
 * noise; it passes if one of these passes (the one with the least noise is reported).  A longer
 * step beats rounding, a shorter one and the extrapolations beat truncation (large third
 * derivatives); a wrong backward is wrong by the same amount at every step, so it still fails,
 * with the rel_err of the step eps.  res->retried counts the elements measured again.
 *
 * Usage:
 *
 *     static tg_node *my_loss(tg_tape *t, void *ctx)          // builds the loss on a reset tape
 *     {
 *         my_model *m = ctx;
 *         tg_node *W = tg_param_leaf(t, &m->W);                // params as leaves, every time
 *         return tg_sum(t, tg_square(t, tg_matmul(t, tg_input(t, &m->x), W, false, false)));
 *     }
 *     tg_param *params[] = {&m.W};
 *     tg_gradcheck_result res;
 *     tg_error err;
 *     if (tg_gradcheck(tape, my_loss, &m, params, 1, NULL, &res, &err) != TG_OK)
 *         puts(err.msg);  // "gradcheck: param 'W' element 5: analytic 0.25 vs numeric 0.5 ..."
 *
 * Precision.  Values are float32: a loss near 1 is known to ~6e-8, so the numeric gradient
 * carries noise ~6e-8/eps.  eps 1e-3 gives ~1e-4 absolute noise, fine for gradients of order
 * 1e-1..1; for smooth ops eps 1e-2 is often better (truncation error ~eps², noise ~1e-5).  Keep
 * inputs away from kinks (relu at 0) and domain edges (log near 0) by more than eps (2·eps for
 * the retries to help: a retry's estimate across a kink measures nothing, and rescues nothing). */
#ifndef TG_GRADCHECK_H
#define TG_GRADCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "param.h"
#include "tape.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Builds the loss (a one-element node) on `tape`, which tg_gradcheck has just reset, taking the
 * parameters through tg_param_leaf so that their current values are used.  Called many times;
 * it must compute the same function each time (no randomness, no state it changes). */
typedef tg_node *(*tg_loss_fn)(tg_tape *tape, void *ctx);

/* Zero fields take the defaults in brackets. */
typedef struct tg_gradcheck_opts {
    double eps;           /* [1e-3] half the finite-difference step */
    double floor;         /* [1e-3] smallest denominator of the relative error */
    double tolerance;     /* [1e-2] largest accepted relative error */
    size_t max_per_param; /* [0 = every element] else a seeded sample of this many per param */
    uint64_t seed;        /* [0 is a valid seed] which elements the sample picks */
    /* Leaves standing for the loss's inputs, checked after the params: hold an input tensor in a
     * tg_param and let fn take it through tg_param_leaf (not tg_input, whose node has no gradient),
     * so an op's input gradient is checked directly.  Messages call them "input 'name'". */
    tg_param *const *inputs; /* [NULL] */
    int n_inputs;            /* [0] */
} tg_gradcheck_opts;

typedef struct tg_gradcheck_result {
    double max_rel_err;     /* the largest relative error over the checked elements */
    int worst_param;        /* where it occurred: index into params, or n_params + i for inputs[i]
                             * (-1 if nothing checked) */
    size_t worst_index;     /*   and element index in that param */
    double worst_analytic;  /*   the two gradients there */
    double worst_numeric;
    size_t checked;         /* elements compared */
    double max_abs_grad;    /* largest |analytic| or |numeric| seen */
    size_t retried;         /* elements the first step failed, checked again with other steps */
    bool worst_at_kink;     /* the worst element failed on a kink (see "Kinks" above) */
    double worst_left;      /*   its one-sided slopes (L(θ) - L(θ-eps))/eps */
    double worst_right;     /*   and (L(θ+eps) - L(θ))/eps */
    double loss;            /* L at the unperturbed point */
    double floor;           /* the floor used: opts' floor · max(1, |loss|) */
    int n_params;           /* as passed (worst_param >= n_params names an input) */
} tg_gradcheck_result;

/* Checks d loss / d params[0..n_params) for the loss built by fn(tape, ctx).
 *
 *  1. zeroes the params' (and opts' inputs') gradients, builds the loss once, runs tg_backward:
 *     the analytic gradient, which stays in their grads when tg_gradcheck returns; builds it
 *     once more with grad mode off: L, for the floor and the one-sided slopes;
 *  2. for each checked element, sets the value to θ+eps and θ-eps, rebuilds the loss each time
 *     (grad mode off, tape reset before every build), and takes the central difference over
 *     the step actually stored in float (and, for an element that fails, the other steps above;
 *     a step at which the loss is not finite is left out of those);
 *  3. restores every value exactly (also on error), restores the tape's grad mode and resets
 *     the tape.
 * Parameters the loss uses but that are not listed are not zeroed: step 1 adds to their grads.
 *
 * n_params may be 0 when opts lists inputs.
 * Returns TG_OK when max_rel_err <= tolerance; otherwise TG_ERR_NUMERIC with a message naming
 * the param (or input), the element and both gradients (and the kink, if it sits on one).  Also TG_ERR_NUMERIC, "gradcheck: every gradient is
 * (near) zero ...", when every analytic and numeric gradient is below tolerance·floor, since a
 * check of zeros proves nothing; and when a loss or gradient is not finite.  Any tape error
 * raised by fn (or by tg_backward) is returned as is; bad arguments give TG_ERR_ARG.
 * `res` (may be NULL) is filled in every case; `err` may be NULL. */
int tg_gradcheck(tg_tape *tape, tg_loss_fn fn, void *ctx, tg_param *const *params, int n_params,
                 const tg_gradcheck_opts *opts, tg_gradcheck_result *res, tg_error *err);

#ifdef __cplusplus
}
#endif

#endif
