/* walkthrough.c — the example of docs/autograd.md: one neuron, y = sigmoid(x·W + b), and its
 * loss (y − t)², forward and backward node by node.  It prints the tape and every node's value
 * and gradient, then checks the gradients against the chain rule written out by hand below.
 *
 *   x = [1, 2], W = [0.5, -1]ᵀ, b = 0.25, t = 1
 *   z = x·W + b = -1.25      y = σ(z) = 0.2227      L = (y − t)² = 0.6042
 *   dL/dy = 2(y − t)         dL/dz = dL/dy · y(1 − y)
 *   dL/dW = xᵀ · dL/dz       dL/db = dL/dz */
#include <math.h>
#include <stdio.h>

#include "autograd/ops.h"

int main(void)
{
    tg_error err;
    tg_param W, b;                                      /* parameters live outside the tape */
    tg_param_init(&W, "W", 2, (size_t[]){2, 1}, &err);  /* [2,1] */
    tg_param_init(&b, "b", 1, (size_t[]){1}, &err);     /* [1] */
    W.value.data[0] = 0.5f;
    W.value.data[1] = -1.0f;
    b.value.data[0] = 0.25f;
    float xs[2] = {1.0f, 2.0f}, ts[1] = {1.0f};
    tg_tensor x, t;
    tg_tensor_wrap(&x, xs, 2, (size_t[]){1, 2}, &err);  /* one row of two inputs */
    tg_tensor_wrap(&t, ts, 2, (size_t[]){1, 1}, &err);

    /* Forward: every call computes its value at once and appends a node to the tape. */
    tg_tape *tape = tg_tape_new(&err);
    tg_node *xn = tg_input(tape, &x);                        /* node 0 */
    tg_node *Wn = tg_param_leaf(tape, &W);                   /* node 1 */
    tg_node *bn = tg_param_leaf(tape, &b);                   /* node 2 */
    tg_node *xw = tg_matmul(tape, xn, Wn, false, false);     /* node 3: x·W */
    tg_node *z = tg_add(tape, xw, bn);                       /* node 4: + b */
    tg_node *y = tg_sigmoid(tape, z);                        /* node 5 */
    tg_node *tn = tg_input(tape, &t);                        /* node 6 */
    tg_node *loss = tg_mse(tape, y, tn, TG_REDUCE_MEAN);     /* node 7 */

    /* Backward: seed dL/dL = 1, walk nodes 7..0, each adds into its inputs' gradients. */
    if (tg_backward(tape, loss, &err) != TG_OK) {
        fprintf(stderr, "walkthrough: %s\n", err.msg);
        return 1;
    }
    tg_tape_print(tape, stdout);
    for (int i = 0; i < tg_tape_node_count(tape); i++) {
        tg_node *n = tg_tape_node(tape, i);
        printf("node %d %-9s value", i, n->op->name);
        for (size_t k = 0; k < n->value.size; k++)
            printf(" %.6g", (double)n->value.data[k]);
        if (n->grad.data) {
            printf("   grad");
            for (size_t k = 0; k < n->grad.size; k++)
                printf(" %.6g", (double)n->grad.data[k]);
        }
        printf("\n");
    }

    /* The chain rule by hand, in double. */
    double zh = 1.0 * 0.5 + 2.0 * -1.0 + 0.25, yh = 1.0 / (1.0 + exp(-zh));
    double dz = 2.0 * (yh - 1.0) * yh * (1.0 - yh);
    double expect[3] = {1.0 * dz, 2.0 * dz, dz}; /* dW0, dW1, db */
    float got[3] = {W.grad.data[0], W.grad.data[1], b.grad.data[0]};
    int ok = 1;
    for (int k = 0; k < 3; k++)
        ok &= fabs(got[k] - expect[k]) <= 1e-5 * fabs(expect[k]);
    printf("dL/dW = [%.6g, %.6g], dL/db = %.6g (by hand: [%.6g, %.6g], %.6g): %s\n", (double)got[0],
           (double)got[1], (double)got[2], expect[0], expect[1], expect[2], ok ? "match" : "MISMATCH");
    tg_tape_free(tape);
    tg_param_free(&W);
    tg_param_free(&b);
    return ok ? 0 : 1;
}
