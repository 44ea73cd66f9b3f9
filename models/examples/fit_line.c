/* fit_line.c — the smallest tapegrad program: learn y = 3x + 2 with one Dense layer (1 -> 1).
 *
 * Every training program has the same four parts, and here they are with nothing else around
 * them:
 *   1. data      plain tensors that live outside the tape
 *   2. a model   layers own their parameters (weights and biases, with their gradients)
 *   3. an optimizer over the parameters
 *   4. the loop  reset the tape, build the loss (which computes it), backward, step
 *
 * Run: build/models/examples/fit_line     Exit status 0 only when w ≈ 3 and b ≈ 2. */
#include <math.h>
#include <stdio.h>

#include "autograd/ops.h" /* the ops (tg_mse, ...) and the tape */
#include "nn/dense.h"
#include "nn/optim.h"

enum { POINTS = 32, STEPS = 300, PRINT_EVERY = 50 };

/* Library calls return an error code and fill a tg_error with a message; an example just
 * prints it and stops (the operating system frees what was allocated). */
static int fail(const tg_error *err)
{
    fprintf(stderr, "fit_line: %s\n", err->msg);
    return 1;
}

int main(void)
{
    tg_error err;

    /* 1. Data: x evenly spaced in [-1, 1] and y = 3x + 2, as [POINTS,1] tensors: one example
     *    per row, one feature per column, the layout every op expects. */
    tg_tensor x, y;
    if (tg_tensor_zeros2(&x, POINTS, 1, &err) || tg_tensor_zeros2(&y, POINTS, 1, &err))
        return fail(&err);
    for (int i = 0; i < POINTS; i++) {
        x.data[i] = -1.0f + 2.0f * (float)i / (POINTS - 1);
        y.data[i] = 3.0f * x.data[i] + 2.0f;
    }

    /* 2. The model: pred = x·w + b.  The layer owns two parameters, "line.weight" [1,1] (drawn
     *    from a seeded generator) and "line.bias" [1] (zero). */
    tg_rng rng;
    tg_rng_seed(&rng, 42, 0);
    tg_dense line;
    if (tg_dense_init(&line, "line", 1, 1, TG_INIT_GLOROT_UNIFORM, &rng, &err))
        return fail(&err);
    tg_param *params[2];
    tg_dense_params(&line, params);

    /* 3. Plain gradient descent, lr 0.1: the loss is a quadratic bowl, no momentum needed. */
    tg_opt_config cfg = tg_opt_config_default(TG_OPT_SGD);
    cfg.lr = 0.1f;
    tg_optimizer opt;
    if (tg_optim_init(&opt, &cfg, params, 2, &err))
        return fail(&err);

    /* 4. The loop.  The tape records each op as it runs; tg_tape_reset forgets the last step's
     *    nodes in O(1) and reuses their memory, while the parameters, which live outside the
     *    tape, keep their values from step to step. */
    tg_tape *tape = tg_tape_new(&err);
    if (!tape)
        return fail(&err);
    for (int step = 1; step <= STEPS; step++) {
        tg_tape_reset(tape);
        tg_node *pred = tg_dense_forward(tape, &line, tg_input(tape, &x));      // [32,1]
        tg_node *loss = tg_mse(tape, pred, tg_input(tape, &y), TG_REDUCE_MEAN); // [1]
        tg_params_zero_grad(params, 2); /* gradients accumulate (+=): clear the last step's */
        if (tg_backward(tape, loss, &err) || tg_optim_step(&opt, &err))
            return fail(&err);
        if (step % PRINT_EVERY == 0) /* the value was computed when the node was built */
            printf("step=%d loss=%.3g\n", step, (double)loss->value.data[0]);
    }

    /* The check that makes this example a test: the line must have been found. */
    float w = line.weight.value.data[0], b = line.bias.value.data[0];
    printf("w=%.5f b=%.5f\n", (double)w, (double)b);
    int status = fabsf(w - 3.0f) < 1e-3f && fabsf(b - 2.0f) < 1e-3f ? 0 : 1;
    if (status)
        fprintf(stderr, "fit_line: did not converge to w=3, b=2\n");

    tg_tape_free(tape);
    tg_optim_free(&opt);
    tg_dense_free(&line);
    tg_tensor_free(&x);
    tg_tensor_free(&y);
    return status;
}
