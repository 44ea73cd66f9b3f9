/* bench/bench_jvp.c — a 784→64 CAE training step (sigmoid encoder, linear decoder, MSE) with the
 * contractive penalty by each route, against the plain autoencoder step (λ = 0), on random data:
 * forward + backward, median of the repeats.  Prints key=value lines:
 *     bench=jvp route=plain|fused|hutchinson1 batch=B seconds=… ratio=… (to plain)
 * usage: bench_jvp [BATCH (default 64)] [REPEATS (default 30, at most 1000)] */
#include <stdio.h>
#include <stdlib.h>

#include "autograd/fused/fused.h"
#include "autograd/jvp.h"
#include "autograd/ops.h"
#include "tensor/parallel.h"
#include "tensor/rng.h"

#include "bench_args.h"
#include "bench_median.h"

enum { D = 784, H = 64, ROUTES = 3 };

typedef struct cae {
    tg_param W, b, V, c;
    tg_tensor x;
} cae;

static tg_node *step_loss(tg_tape *t, cae *m, int route)
{
    tg_node *x = tg_input(t, &m->x), *W = tg_param_leaf(t, &m->W);
    tg_node *h = tg_sigmoid(t, tg_affine(t, x, W, tg_param_leaf(t, &m->b), false));
    tg_node *recon = tg_affine_mse(t, h, tg_param_leaf(t, &m->V), tg_param_leaf(t, &m->c), false, x, TG_REDUCE_MEAN);
    if (route == 0)
        return recon;
    tg_node *p = route == 1 ? tg_jacobian_penalty(t, h, W, tg_activation_of(TG_ACT_SIGMOID))
                            : tg_contractive_hutchinson(t, h, x, 1, 17);
    return tg_add(t, recon, tg_scale(t, p, 0.1f));
}

int main(int argc, char **argv)
{
    if (argc > 3)
        return fprintf(stderr, "usage: bench_jvp [BATCH (default 64)] [REPEATS (default 30)]\n"), 2;
    size_t batch = argc > 1 ? (size_t)bench_whole("bench_jvp", "BATCH", argv[1], 1, 65536) : 64;
    int repeats = argc > 2 ? (int)bench_whole("bench_jvp", "REPEATS", argv[2], 1, 1000) : 30;
    cae m;
    tg_rng rng;
    tg_rng_seed(&rng, 1, 1);
    if (tg_param_init(&m.W, "W", 2, (size_t[]){D, H}, NULL) || tg_param_init(&m.b, "b", 1, (size_t[]){H}, NULL) ||
        tg_param_init(&m.V, "V", 2, (size_t[]){H, D}, NULL) || tg_param_init(&m.c, "c", 1, (size_t[]){D}, NULL) ||
        tg_tensor_zeros2(&m.x, batch, D, NULL))
        return 1;
    tg_rng_fill_uniform(&rng, m.W.value.data, D * H, -0.05f, 0.05f);
    tg_rng_fill_uniform(&rng, m.V.value.data, D * H, -0.05f, 0.05f);
    tg_rng_fill_uniform(&rng, m.x.data, m.x.size, 0.0f, 1.0f);
    tg_tape *t = tg_tape_new(NULL);
    double median[ROUTES], seconds[1000];
    static const char *const name[ROUTES] = {"plain", "fused", "hutchinson1"};
    for (int route = 0; route < ROUTES; route++) {
        for (int r = -3; r < repeats; r++) { /* three warm-up steps */
            double start = tg_now_seconds();
            tg_tape_reset(t);
            if (tg_backward(t, step_loss(t, &m, route), NULL))
                return 1;
            if (r >= 0)
                seconds[r] = tg_now_seconds() - start;
        }
        median[route] = bench_median(seconds, (size_t)repeats);
        printf("bench=jvp route=%s batch=%zu threads=%d seconds=%.6f ratio=%.2f\n", name[route], batch,
               tg_get_threads(), median[route], median[route] / median[0]);
    }
    tg_tape_free(t);
    return 0;
}
