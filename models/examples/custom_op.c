/* custom_op.c — extending tapegrad from OUTSIDE the library: a new op, "swish",
 *
 *     y = x·σ(x),    σ(x) = 1 / (1 + e⁻ˣ),
 *
 * written in this file, used in a small network like any built-in op, and checked against
 * finite differences with the public gradient check.  Nothing in the library changes.
 *
 * The steps a user follows (see autograd/op.h for the interface):
 *
 *   1. Write the forward:  void f(tg_node *n)  reads n->in[i]->value, writes n->value (already
 *      allocated by the tape with the shape the constructor asked for).
 *   2. Derive and write the backward:  void b(tg_node *n)  reads n->grad (dL/dy) and ADDS (+=)
 *      dL/dx into n->in[i]->grad, only for inputs with tg_wants_grad(n->in[i]).  Adding, not
 *      assigning, is what makes a value used twice receive both contributions.
 *   3. Put them in a tg_op_def {name, forward, backward}; the name shows in tg_tape_print,
 *      tg_tape_write_dot, the profiler and error messages.
 *   4. Write the constructor: check the inputs (tg_tape_check_inputs), check shapes (fail
 *      with tg_tape_fail and a message naming the op and the shapes), record the node with
 *      its output shape (tg_tape_record), run it (tg_tape_forward).
 *   5. Check the backward with tg_gradcheck on a small network, and make sure the check can
 *      fail: below, a deliberately wrong backward is run through the same check.
 *
 * Run: build/models/examples/custom_op     Exit status 0 only when the correct backward passes
 * the check and the wrong one is caught. */
#include <math.h>
#include <stdio.h>

#include "autograd/gradcheck.h"
#include "autograd/op.h"
#include "autograd/ops.h"
#include "nn/dense.h"

/* σ(x) without overflow: for x < 0, e^x/(1+e^x) only ever exponentiates a negative number. */
static float sigmoid(float x)
{
    return x >= 0.0f ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x));
}

/* Step 1 — forward, elementwise.  x [M,N] -> y [M,N] */
static void swish_forward(tg_node *n)
{
    const float *x = n->in[0]->value.data;
    float *y = n->value.data;
    for (size_t k = 0; k < n->value.size; k++)
        y[k] = x[k] * sigmoid(x[k]);
}

/* Step 2 — backward.  With s = σ(x) and σ' = s(1 - s):
 *     dy/dx = s + x·s(1 - s) = s·(1 + x(1 - s))
 * so dx += dy · s·(1 + x(1 - s)).  σ is recomputed from x rather than saved by the forward:
 * one exp per element is cheaper than keeping an extra buffer alive until the backward. */
static void swish_backward(tg_node *n)
{
    tg_node *in = n->in[0];
    if (!tg_wants_grad(in))
        return;
    const float *x = in->value.data, *dy = n->grad.data;
    float *dx = in->grad.data;
    for (size_t k = 0; k < n->value.size; k++) {
        float s = sigmoid(x[k]);
        dx[k] += dy[k] * s * (1.0f + x[k] * (1.0f - s));
    }
}

/* Step 3 — the op definition.  (Not const only so that main() can swap in a wrong backward
 * for a moment, to show that the gradient check catches it; a real op would be const.) */
static tg_op_def swish_def = {"swish", swish_forward, swish_backward};

/* Step 4 — the constructor: same shape out as in, so there is no shape to check beyond the
 * input itself.  A NULL input (an earlier op failed) or a tape in error returns NULL. */
static tg_node *swish(tg_tape *t, tg_node *x)
{
    if (!tg_tape_check_inputs(t, "swish", 1, x))
        return NULL;
    tg_node *n = tg_tape_record(t, &swish_def, 1, &x, x->value.ndim, x->value.shape);
    return tg_tape_forward(t, n);
}

/* A WRONG backward, for step 5: it forgets the x·σ'(x) term (the kind of slip a derivation
 * makes) and passes on dx += dy·σ(x) only. */
static void swish_backward_wrong(tg_node *n)
{
    tg_node *in = n->in[0];
    if (tg_wants_grad(in))
        for (size_t k = 0; k < n->value.size; k++)
            in->grad.data[k] += n->grad.data[k] * sigmoid(in->value.data[k]);
}

/* ---- Step 5: a tiny network using the op, and the gradient check -------------------------- */

enum { BATCH = 4, IN = 3, HIDDEN = 6, OUT = 2 };

typedef struct network {
    tg_dense l1, l2;
    tg_param *params[4];
    tg_tensor x, target; /* [BATCH,IN], [BATCH,OUT] */
} network;

/* L = mean (swish(x·W1 + b1)·W2 + b2 - target)².  tg_gradcheck calls this many times on a
 * reset tape; it takes the parameters through their layers, so it always uses their current
 * values. */
static tg_node *network_loss(tg_tape *t, void *ctx)
{
    network *net = ctx;
    tg_node *h = swish(t, tg_dense_forward(t, &net->l1, tg_input(t, &net->x))); // [4,6]
    tg_node *y = tg_dense_forward(t, &net->l2, h);                              // [4,2]
    return tg_mse(t, y, tg_input(t, &net->target), TG_REDUCE_MEAN);
}

/* Checks every element of the four parameters; returns tg_gradcheck's code. */
static int check(tg_tape *t, network *net, const char *label)
{
    /* swish is smooth everywhere: eps 1e-2 keeps float rounding noise (~1e-5) far below the
     * tolerance, and the truncation error (~eps²) too. */
    tg_gradcheck_opts opts = {.eps = 1e-2, .tolerance = 1e-2};
    tg_gradcheck_result res;
    tg_error err;
    int rc = tg_gradcheck(t, network_loss, net, net->params, 4, &opts, &res, &err);
    printf("%s: max_rel_err=%.3g checked=%zu %s\n", label, res.max_rel_err, res.checked, rc ? "FAILED" : "passed");
    if (rc)
        printf("  %s\n", err.msg);
    return rc;
}

int main(void)
{
    tg_error err;
    network net;
    tg_rng rng;
    tg_rng_seed(&rng, 3, 0);
    if (tg_dense_init(&net.l1, "l1", IN, HIDDEN, TG_INIT_GLOROT_UNIFORM, &rng, &err) ||
        tg_dense_init(&net.l2, "l2", HIDDEN, OUT, TG_INIT_GLOROT_UNIFORM, &rng, &err) ||
        tg_tensor_create(&net.x, 2, (size_t[]){BATCH, IN}, &err) ||
        tg_tensor_create(&net.target, 2, (size_t[]){BATCH, OUT}, &err)) {
        fprintf(stderr, "custom_op: %s\n", err.msg);
        return 1;
    }
    tg_dense_params(&net.l1, net.params);
    tg_dense_params(&net.l2, net.params + 2);
    /* Random inputs, targets and biases: a check at zero biases would test a special point. */
    tg_rng_fill_uniform(&rng, net.x.data, net.x.size, -2.0f, 2.0f);
    tg_rng_fill_uniform(&rng, net.target.data, net.target.size, -1.0f, 1.0f);
    tg_rng_fill_uniform(&rng, net.l1.bias.value.data, HIDDEN, -0.5f, 0.5f);

    tg_tape *t = tg_tape_new(&err);
    if (!t) {
        fprintf(stderr, "custom_op: %s\n", err.msg);
        return 1;
    }
    /* The custom op sits on the tape like any built-in one. */
    network_loss(t, &net);
    printf("the tape of one loss evaluation:\n");
    tg_tape_print(t, stdout);
    tg_tape_reset(t);

    int right = check(t, &net, "swish, correct backward");
    /* Break the backward on purpose, run the same check, restore: a check that cannot fail
     * proves nothing. */
    swish_def.backward = swish_backward_wrong;
    int wrong = check(t, &net, "swish, deliberately wrong backward");
    swish_def.backward = swish_backward;
    int status = right == TG_OK && wrong == TG_ERR_NUMERIC ? 0 : 1;
    if (status)
        fprintf(stderr, "custom_op: %s\n", right ? "the correct backward failed the gradient check"
                                                 : "the gradient check missed a wrong backward");

    tg_tape_free(t);
    tg_dense_free(&net.l1);
    tg_dense_free(&net.l2);
    tg_tensor_free(&net.x);
    tg_tensor_free(&net.target);
    return status;
}
