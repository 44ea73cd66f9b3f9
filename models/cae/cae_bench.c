/* models/cae/cae_bench.c — the matrix-product rate that bounds a CAE training epoch. */
#include "cae_bench.h"

#include "tensor/matmul.h"
#include "tensor/parallel.h"
#include "tensor/rng.h"
#include "tensor/tensor.h"

#include <stdbool.h>
#include <stdlib.h>

enum { TIMED_LOOPS = 5 };
static const double MIN_LOOP_SECONDS = 0.05;

typedef struct step_operands {
    size_t B, D, H;
    float *x, *h, *dy, *dz; /* [B,D] [B,H] [B,D] [B,H] */
    float *W, *V;           /* encoder [D,H], decoder [H,D] */
    float *z, *y, *dh;      /* outputs [B,H] [B,D] [B,H] */
    float *dV, *dW;         /* gradients [H,D] [D,H] (accumulated, as in backward) */
    double best_seconds;    /* of one round of the five products */
} step_operands;

/* The five products of a step, in the tape's order, computed densely (the zero-skipping path the
 * tape takes for x·W and xᵀ·dz is left out: this is the dense rate the FLOP limit is counted at).
 * All have beta = 1, as there: gradients are added into, and the affine op's forward adds its
 * product to the bias row (here C itself: the same flops). */
static void step_products(step_operands *o)
{
    size_t B = o->B, D = o->D, H = o->H;
    tg_gemm(TG_NOTRANS, TG_NOTRANS, B, H, D, 1.0f, o->x, D, o->W, H, 1.0f, o->z, H);  /* z += x·W */
    tg_gemm(TG_NOTRANS, TG_NOTRANS, B, D, H, 1.0f, o->h, H, o->V, D, 1.0f, o->y, D);  /* y += h·V */
    tg_gemm(TG_NOTRANS, TG_TRANS, B, H, D, 1.0f, o->dy, D, o->V, D, 1.0f, o->dh, H);  /* dh += dy·Vᵀ */
    tg_gemm(TG_TRANS, TG_NOTRANS, H, D, B, 1.0f, o->h, H, o->dy, D, 1.0f, o->dV, D);  /* dV += hᵀ·dy */
    tg_gemm(TG_TRANS, TG_NOTRANS, D, H, B, 1.0f, o->x, D, o->dz, H, 1.0f, o->dW, H);  /* dW += xᵀ·dz */
}

static void time_step_products(void *ctx)
{
    step_operands *o = ctx;
    step_products(o); /* warm-up: caches, packing buffers, the team */
    o->best_seconds = 0.0;
    for (int loop = 0; loop < TIMED_LOOPS; loop++) {
        long rounds = 0;
        double start = tg_now_seconds(), elapsed;
        do {
            step_products(o);
            rounds++;
        } while ((elapsed = tg_now_seconds() - start) < MIN_LOOP_SECONDS);
        double per_round = elapsed / (double)rounds;
        if (o->best_seconds == 0.0 || per_round < o->best_seconds)
            o->best_seconds = per_round;
    }
}

double cae_matmul_gflop(size_t images, size_t input, size_t hidden)
{
    enum { STEP_PRODUCTS = 5 };
    return STEP_PRODUCTS * 2.0 * (double)images * (double)input * (double)hidden / 1e9;
}

double cae_step_matmul_gflops(size_t batch, size_t input, size_t hidden)
{
    step_operands o = {.B = batch, .D = input, .H = hidden};
    size_t bd = batch * input, bh = batch * hidden, dh = input * hidden;
    float **buffers[] = {&o.x, &o.dy, &o.y, &o.h, &o.dz, &o.z, &o.dh, &o.W, &o.V, &o.dV, &o.dW};
    size_t sizes[] = {bd, bd, bd, bh, bh, bh, bh, dh, dh, dh, dh};
    enum { N_BUFFERS = sizeof sizes / sizeof sizes[0] };
    tg_rng rng;
    tg_rng_seed(&rng, 1, 0);
    bool ok = true;
    for (int k = 0; k < N_BUFFERS; k++) {
        *buffers[k] = tg_aligned_alloc(sizes[k] * sizeof(float));
        ok = ok && *buffers[k];
        if (*buffers[k])
            tg_rng_fill_uniform(&rng, *buffers[k], sizes[k], 0.0f, 1.0f);
    }
    double gflops = 0.0;
    if (ok) {
        tg_team_run(time_step_products, &o);
        gflops = cae_matmul_gflop(batch, input, hidden) / o.best_seconds;
    }
    for (int k = 0; k < N_BUFFERS; k++)
        free(*buffers[k]);
    return gflops;
}
