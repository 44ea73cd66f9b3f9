/* bench/bench_conv.c — throughput of the convolution kernels (tensor/conv.h) on LeNet-5's layers.
 *
 *   bench_conv [--threads N] [--path auto|scalar|avx2|avx512|neon] [--batch N] [--clock wall|cpu]
 *
 * For each layer of LeNet-5 at batch B (default 64) it times the forward (forward_kept: keeping
 * its patches for the weight gradient, as training does), the input gradient
 * (dx alone) and the weight gradient (dw and db; weight_grad_kept: from the patches a forward kept,
 * as training does), and prints one line per pass:
 *
 *   layer=conv2 B=64 C=6 H=14 W=14 O=16 K=5 pass=forward path=avx512 threads=1 gflops=...
 *
 * GFLOP/s count the convolution's multiply-adds (2·B·O·OH·OW·C·K·K), so the passes compare with
 * each other and with a plain product: after each layer, `pass=gemm` is tg_gemm on the same product
 * done as one matrix (W [O,C·K·K] times a ready [C·K·K, B·OH·OW] matrix), the rate the panels
 * aim at (issue 21: at least 60% of it).  Timing as bench_matmul: 3 warm-up calls, then the best
 * of 5 loops of at least 0.06 s each.  --clock cpu times with the process's CPU time instead of the
 * wall clock: on one thread, on a machine where other work runs, that leaves out the time spent
 * waiting for the core (not the caches it left cold); on more threads it adds theirs up. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tensor/conv.h"
#include "tensor/parallel.h"
#include "tensor/rng.h"
#include "tensor/tensor.h"

#include "bench_args.h"

enum { WARMUP_CALLS = 3, REPEATS = 5 };
static const double MIN_LOOP_SECONDS = 0.06;
static bool cpu_clock; /* --clock cpu */

static double now(void)
{
    if (!cpu_clock)
        return tg_now_seconds();
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef enum { FORWARD, FORWARD_KEPT, INPUT_GRAD, WEIGHT_GRAD, WEIGHT_GRAD_KEPT, GEMM, N_PASSES } pass;
static const char *const PASS_NAME[N_PASSES] = {"forward",     "forward_kept",     "input_grad",
                                                "weight_grad", "weight_grad_kept", "gemm"};

typedef struct bench {
    tg_conv_geom g;
    tg_simd_path path;
    float *x, *w, *b, *y, *dy, *dx, *dw, *db, *scratch, *col, *kept;
} bench;

static float *random_floats(tg_rng *rng, size_t n)
{
    float *v = tg_aligned_alloc(n * sizeof(float));
    if (!v) {
        fprintf(stderr, "bench_conv: out of memory\n");
        exit(1);
    }
    tg_rng_fill_uniform(rng, v, n, -1.0f, 1.0f);
    return v;
}

static void run_pass(bench *bn, pass p)
{
    const tg_conv_geom *g = &bn->g;
    size_t K = g->C * g->KH * g->KW, N = g->B * g->OH * g->OW;
    const float *x = bn->x, *w = bn->w, *dy = bn->dy;
    switch (p) {
    case FORWARD: tg_conv2d_forward(bn->path, g, x, w, bn->b, bn->y, bn->scratch, NULL); break;
    case FORWARD_KEPT: tg_conv2d_forward(bn->path, g, x, w, bn->b, bn->y, bn->scratch, bn->kept); break;
    case INPUT_GRAD: tg_conv2d_backward(bn->path, g, x, w, dy, bn->dx, NULL, NULL, bn->scratch, NULL); break;
    case WEIGHT_GRAD: tg_conv2d_backward(bn->path, g, x, w, dy, NULL, bn->dw, bn->db, bn->scratch, NULL); break;
    case WEIGHT_GRAD_KEPT: tg_conv2d_backward(bn->path, g, x, w, dy, NULL, bn->dw, bn->db, bn->scratch, bn->kept); break;
    default: tg_gemm_path(bn->path, TG_NOTRANS, TG_NOTRANS, g->O, N, K, 1.0f, bn->w, K, bn->col, N, 0.0f, bn->y, N);
    }
}

/* The best seconds per call over REPEATS loops. */
static double time_pass(bench *bn, pass p)
{
    for (int k = 0; k < WARMUP_CALLS; k++)
        run_pass(bn, p);
    double best = 1e30;
    for (int r = 0; r < REPEATS; r++) {
        long calls = 0;
        double start = now(), elapsed;
        do {
            run_pass(bn, p);
            calls++;
        } while ((elapsed = now() - start) < MIN_LOOP_SECONDS);
        if (elapsed / (double)calls < best)
            best = elapsed / (double)calls;
    }
    return best;
}

static void bench_layer(const char *name, tg_conv_geom g, tg_simd_path path)
{
    tg_rng rng;
    tg_rng_seed(&rng, 1, 0);
    if (!tg_conv_geom_init(&g)) {
        fprintf(stderr, "bench_conv: bad geometry\n");
        exit(1);
    }
    size_t nx = g.B * g.C * g.H * g.W, nw = g.O * g.C * g.KH * g.KW, ny = g.B * g.O * g.OH * g.OW;
    size_t K = g.C * g.KH * g.KW, N = g.B * g.OH * g.OW;
    bench bn = {g, path, random_floats(&rng, nx), random_floats(&rng, nw), random_floats(&rng, g.O),
                random_floats(&rng, ny), random_floats(&rng, ny), random_floats(&rng, nx), random_floats(&rng, nw),
                random_floats(&rng, g.O), random_floats(&rng, tg_conv_scratch_floats(&g)), random_floats(&rng, K * N),
                random_floats(&rng, tg_conv_cols_floats(&g))};
    tg_conv2d_forward(path, &bn.g, bn.x, bn.w, bn.b, bn.y, bn.scratch, bn.kept); /* what weight_grad_kept reads */
    double flops = 2.0 * (double)ny * (double)K;
    for (int p = 0; p < N_PASSES; p++)
        printf("layer=%s B=%zu C=%zu H=%zu W=%zu O=%zu K=%zu pass=%s path=%s threads=%d gflops=%.1f\n", name, g.B, g.C,
               g.H, g.W, g.O, g.KH, PASS_NAME[p], tg_simd_name(tg_simd_resolve(path)), tg_get_threads(),
               flops / time_pass(&bn, (pass)p) * 1e-9);
    float *all[] = {bn.x, bn.w, bn.b, bn.y, bn.dy, bn.dx, bn.dw, bn.db, bn.scratch, bn.col, bn.kept};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++)
        free(all[k]);
}

int main(int argc, char **argv)
{
    size_t batch = 64;
    tg_simd_path path = TG_PATH_AUTO;
    for (int k = 1; k + 1 < argc; k += 2) {
        if (!strcmp(argv[k], "--threads"))
            tg_set_threads((int)bench_whole("bench_conv", argv[k], argv[k + 1], 1, TG_MAX_THREADS));
        else if (!strcmp(argv[k], "--batch"))
            batch = (size_t)bench_whole("bench_conv", argv[k], argv[k + 1], 1, 65536);
        else if (!strcmp(argv[k], "--path") && tg_simd_parse(argv[k + 1]) >= 0)
            path = (tg_simd_path)tg_simd_parse(argv[k + 1]);
        else if (!strcmp(argv[k], "--clock") && (!strcmp(argv[k + 1], "cpu") || !strcmp(argv[k + 1], "wall")))
            cpu_clock = !strcmp(argv[k + 1], "cpu");
        else
            argc = 0; /* refuse below */
    }
    if (argc % 2 != 1) {
        fprintf(stderr, "usage: bench_conv [--threads N] [--path auto|scalar|avx2|avx512|neon] [--batch N] "
                        "[--clock wall|cpu]\n");
        return 2;
    }
    bench_layer("conv1", (tg_conv_geom){.B = batch, .C = 1, .H = 28, .W = 28, .O = 6, .KH = 5, .KW = 5, .stride_h = 1,
                                        .stride_w = 1, .pad_h = 2, .pad_w = 2, .dil_h = 1, .dil_w = 1}, path);
    bench_layer("conv2", (tg_conv_geom){.B = batch, .C = 6, .H = 14, .W = 14, .O = 16, .KH = 5, .KW = 5, .stride_h = 1,
                                        .stride_w = 1, .dil_h = 1, .dil_w = 1}, path);
    return 0;
}
