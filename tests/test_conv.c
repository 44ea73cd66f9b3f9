/* tests/test_conv.c — the convolution kernels of tensor/conv.c against their direct reference
 * twins on every matmul path (geometries with stride, padding, dilation, panels that span images
 * and panels that cut one), the same bits on 1, 2 and 3 threads, and the conv and pooling ops'
 * checks, tie rule and values worked out by hand.  (Gradients against finite differences:
 * test_gradcheck.c, gradcheck_conv.h.) */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "tape_test.h"
#include "tensor/conv.h"
#include "tensor/parallel.h"
#include "tensor/rng.h"

#define TEST_EVERY_PATH(name, fn)                                  \
    Test(conv, scalar_##name) { fn(TG_PATH_SCALAR); }              \
    Test(conv, avx2_##name) { fn(TG_PATH_AVX2); }                  \
    Test(conv, avx512_##name) { fn(TG_PATH_AVX512); }              \
    Test(conv, neon_##name) { fn(TG_PATH_NEON); }

static void require_path(tg_simd_path path)
{
    if (!tg_simd_supported(path))
        cr_skip_test("path %s is not supported by this build or processor", tg_simd_name(path));
}

/* B C H W  O KH KW  stride pad dil */
static const size_t GEOMS[][10] = {
    {4, 1, 28, 28, 6, 5, 5, 1, 2, 1},  /* LeNet's first layer */
    {4, 6, 14, 14, 16, 5, 5, 1, 0, 1}, /* LeNet's second layer */
    {3, 3, 9, 7, 5, 3, 3, 2, 1, 1},    /* stride 2, odd sizes */
    {2, 2, 11, 10, 3, 3, 2, 1, 2, 2},  /* dilation 2, a non-square kernel, wide padding */
    {2, 3, 6, 5, 4, 1, 1, 3, 0, 1},    /* 1×1, stride 3 */
    {2, 8, 40, 40, 4, 3, 3, 1, 1, 1},  /* K = 72: a panel of 910 columns cuts each 1600-column image */
    {5, 2, 1, 37, 3, 1, 4, 2, 3, 1},   /* a 1-D signal (conv1d's geometry) */
    /* the wide layout (stride 1, no padding): */
    {3, 2, 13, 11, 5, 3, 2, 1, 0, 2},  /* dilation 2, a non-square kernel, odd sizes */
    {1, 1, 9, 9, 12, 3, 3, 1, 0, 1},   /* batch 1, one channel, O = 12 (the transposed dw) */
    {2, 3, 30, 30, 4, 7, 7, 1, 0, 1},  /* K = 147, Q = 714: a panel of 445 columns cuts each image */
    {3, 1, 1, 60, 2, 1, 19, 1, 0, 1},  /* a 1-D signal, KW = 19: two groups of kernel columns */
    {2, 5, 12, 41, 7, 3, 3, 1, 0, 1},  /* runs of 408: 25 interior vectors (pairs, then one), odd C */
    {1, 4, 5, 21, 13, 5, 3, 1, 0, 1},  /* the kernel as tall as the input: one output row, batch 1 */
    /* stride 1, no padding, not wide (Q > 3/2 P): the plain layout's dense fill in every pass */
    {1, 1, 10, 9, 3, 2, 3, 1, 0, 3},   /* batch 1, one channel, dilation 3, odd sizes, O < 12 */
    {2, 3, 12, 12, 13, 9, 9, 1, 0, 1}, /* O >= 12 (the transposed dw), 4x4 outputs */
    /* K = 4480: panels of 16 columns cut each 31-column output row, first rows cut at both ends */
    {2, 64, 1, 100, 5, 1, 70, 1, 0, 1},
};

static tg_conv_geom geom_of(const size_t *v)
{
    tg_conv_geom g = {.B = v[0], .C = v[1], .H = v[2], .W = v[3], .O = v[4], .KH = v[5], .KW = v[6],
                      .stride_h = v[7], .stride_w = v[7], .pad_h = v[8], .pad_w = v[8], .dil_h = v[9], .dil_w = v[9]};
    cr_assert(tg_conv_geom_init(&g));
    return g;
}

static float *random_floats(tg_rng *rng, size_t n)
{
    float *v = malloc(n * sizeof(float));
    cr_assert_not_null(v);
    tg_rng_fill_uniform(rng, v, n, -1.0f, 1.0f);
    return v;
}

static void expect_close(const float *fast, const float *ref, size_t n, const char *what, tg_simd_path path, size_t geom)
{
    double scale = 1.0, worst = 0.0;
    for (size_t k = 0; k < n; k++)
        scale = fmax(scale, fabs(ref[k]));
    for (size_t k = 0; k < n; k++)
        worst = fmax(worst, fabs((double)fast[k] - ref[k]));
    cr_assert_leq(worst, 1e-5 * scale, "%s, %s, geometry %zu: off by %g (scale %g)", tg_simd_name(path), what, geom,
                  worst, scale);
}

/* Where one pass writes: y for the forward; dx, dw, db (each may be NULL) for the backward. */
typedef struct pass_out {
    float *y, *dx, *dw, *db;
} pass_out;

/* The forward (if out.y) and the backward (if any of out.dx, dw, db) with the fast kernels into
 * out and with the reference loops into ref. */
static void fast_and_reference(tg_simd_path path, const tg_conv_geom *g, const float *x, const float *w, const float *b,
                               const float *dy, float *scratch, pass_out out, pass_out ref)
{
    if (out.y) {
        tg_conv2d_forward(path, g, x, w, b, out.y, scratch, NULL);
        tg_conv2d_forward_ref(g, x, w, b, ref.y);
    }
    if (out.dx || out.dw || out.db) {
        tg_conv2d_backward(path, g, x, w, dy, out.dx, out.dw, out.db, scratch, NULL);
        tg_conv2d_backward_ref(g, x, w, dy, ref.dx, ref.dw, ref.db);
    }
}

/* Forward and backward (dx, dw, db added onto random values: the kernels accumulate) against the
 * reference loops. */
static void matches_reference(tg_simd_path path)
{
    require_path(path);
    for (size_t k = 0; k < sizeof GEOMS / sizeof GEOMS[0]; k++) {
        tg_conv_geom g = geom_of(GEOMS[k]);
        tg_rng rng;
        tg_rng_seed(&rng, 40 + k, 1);
        size_t nx = g.B * g.C * g.H * g.W, nw = g.O * g.C * g.KH * g.KW, ny = g.B * g.O * g.OH * g.OW;
        float *x = random_floats(&rng, nx), *w = random_floats(&rng, nw), *b = random_floats(&rng, g.O);
        float *dy = random_floats(&rng, ny), *y = malloc(ny * sizeof(float)), *y_ref = malloc(ny * sizeof(float));
        float *dx = random_floats(&rng, nx), *dw = random_floats(&rng, nw), *db = random_floats(&rng, g.O);
        float *dx_ref = malloc(nx * sizeof(float)), *dw_ref = malloc(nw * sizeof(float)), db_ref[64];
        float *scratch = malloc(tg_conv_scratch_floats(&g) * sizeof(float));
        memcpy(dx_ref, dx, nx * sizeof(float)), memcpy(dw_ref, dw, nw * sizeof(float)), memcpy(db_ref, db, g.O * sizeof(float));
        fast_and_reference(path, &g, x, w, b, dy, scratch, (pass_out){y, dx, dw, db}, (pass_out){y_ref, dx_ref, dw_ref, db_ref});
        expect_close(y, y_ref, ny, "forward", path, k);
        expect_close(dx, dx_ref, nx, "input gradient", path, k);
        expect_close(dw, dw_ref, nw, "weight gradient", path, k);
        expect_close(db, db_ref, g.O, "bias gradient", path, k);
        free(x), free(w), free(b), free(dy), free(y), free(y_ref), free(dx), free(dw), free(db);
        free(dx_ref), free(dw_ref), free(scratch);
    }
}
TEST_EVERY_PATH(matches_reference, matches_reference)

/* Finite, +inf, -inf or NaN. */
static int kind_of(float v) { return isnan(v) ? 3 : isinf(v) ? (v > 0 ? 1 : 2) : 0; }

/* fast and ref hold the same non-finite values at the same places, and close finite ones. */
static void expect_same_non_finite(const float *fast, const float *ref, size_t n, const char *what,
                                   tg_simd_path path, size_t geom)
{
    size_t non_finite = 0;
    for (size_t k = 0; k < n; k++) {
        cr_assert_eq(kind_of(fast[k]), kind_of(ref[k]), "%s, %s, geometry %zu: element %zu is %g, the definition's %g",
                     tg_simd_name(path), what, geom, k, fast[k], ref[k]);
        non_finite += kind_of(ref[k]) != 0;
        if (kind_of(ref[k]) == 0)
            cr_assert_leq(fabs((double)fast[k] - ref[k]), 1e-4 * fmax(1.0, fabs(ref[k])), "%s, %s, geometry %zu: %zu",
                          tg_simd_name(path), what, geom, k);
    }
    cr_assert_gt(non_finite, 0, "%s, geometry %zu: the infinity reached nothing", what, geom);
}

/* An infinite weight (the corner tap, which falls in the padding and, in the wide layout, on the
 * columns past OW) and an infinite dy at an output's corner: y, dx and dw have the definition's
 * infinities and NaNs, not the NaN of 0·inf where the definition has no term. */
static void non_finite_as_the_definition(tg_simd_path path)
{
    require_path(path);
    static const size_t geoms[] = {0, 3, 7, 12}; /* padding 2; dilation and padding; wide; wide, tall kernel */
    for (size_t gi = 0; gi < sizeof geoms / sizeof geoms[0]; gi++) {
        size_t k = geoms[gi];
        tg_conv_geom g = geom_of(GEOMS[k]);
        tg_rng rng;
        tg_rng_seed(&rng, 120 + k, 1);
        size_t nx = g.B * g.C * g.H * g.W, nw = g.O * g.C * g.KH * g.KW, ny = g.B * g.O * g.OH * g.OW;
        float *x = random_floats(&rng, nx), *w = random_floats(&rng, nw), *dy = random_floats(&rng, ny);
        float *y = calloc(ny, sizeof(float)), *y_ref = calloc(ny, sizeof(float));
        float *dx = calloc(nx, sizeof(float)), *dx_ref = calloc(nx, sizeof(float));
        float *dw = calloc(nw, sizeof(float)), *dw_ref = calloc(nw, sizeof(float));
        float *scratch = malloc(tg_conv_scratch_floats(&g) * sizeof(float));
        w[0] = INFINITY;
        fast_and_reference(path, &g, x, w, NULL, dy, scratch, (pass_out){.y = y, .dx = dx}, (pass_out){.y = y_ref, .dx = dx_ref});
        expect_same_non_finite(y, y_ref, ny, "forward, w[0] = inf", path, k);
        expect_same_non_finite(dx, dx_ref, nx, "input gradient, w[0] = inf", path, k);
        w[0] = 0.5f, dy[0] = -INFINITY;
        fast_and_reference(path, &g, x, w, NULL, dy, scratch, (pass_out){.dw = dw}, (pass_out){.dw = dw_ref});
        expect_same_non_finite(dw, dw_ref, nw, "weight gradient, dy[0] = -inf", path, k);
        free(x), free(w), free(dy), free(y), free(y_ref), free(dx), free(dx_ref), free(dw), free(dw_ref), free(scratch);
    }
}
TEST_EVERY_PATH(non_finite_as_the_definition, non_finite_as_the_definition)

/* Every geometry: the forward that keeps its patches (plain layout, filled by the dense fill when
 * stride 1 and no padding) gives y with the same bits as the one that keeps none (wide or plain),
 * and the weight gradient from the kept patches (scratch poisoned) the same bits as the one that
 * unrolls them again, which matches_reference checks against the reference loops. */
static void kept_patches_same_bits(tg_simd_path path)
{
    require_path(path);
    for (size_t k = 0; k < sizeof GEOMS / sizeof GEOMS[0]; k++) {
        tg_conv_geom g = geom_of(GEOMS[k]);
        tg_rng rng;
        tg_rng_seed(&rng, 80 + k, 1);
        size_t nx = g.B * g.C * g.H * g.W, nw = g.O * g.C * g.KH * g.KW, ny = g.B * g.O * g.OH * g.OW;
        size_t ns = tg_conv_scratch_floats(&g);
        float *x = random_floats(&rng, nx), *w = random_floats(&rng, nw), *b = random_floats(&rng, g.O);
        float *dy = random_floats(&rng, ny), *scratch = malloc(ns * sizeof(float));
        float *kept = malloc(tg_conv_cols_floats(&g) * sizeof(float)), *out[2];
        for (int run = 0; run < 2; run++) { /* run 1 keeps its patches */
            float *o = out[run] = calloc(ny + nw + nx, sizeof(float));
            tg_conv2d_forward(path, &g, x, w, b, o, scratch, run ? kept : NULL);
            memset(scratch, 0xff, ns * sizeof(float));
            tg_conv2d_backward(path, &g, x, w, dy, o + ny + nw, o + ny, NULL, scratch, run ? kept : NULL);
        }
        cr_assert(memcmp(out[0], out[1], ny * sizeof(float)) == 0, "%s, geometry %zu: kept: y differs",
                  tg_simd_name(path), k);
        cr_assert(memcmp(out[0] + ny, out[1] + ny, nw * sizeof(float)) == 0, "%s, geometry %zu: kept: dw differs",
                  tg_simd_name(path), k);
        cr_assert(memcmp(out[0] + ny + nw, out[1] + ny + nw, nx * sizeof(float)) == 0,
                  "%s, geometry %zu: kept: dx differs", tg_simd_name(path), k);
        free(x), free(w), free(b), free(dy), free(scratch), free(kept), free(out[0]), free(out[1]);
    }
}
TEST_EVERY_PATH(kept_patches_same_bits, kept_patches_same_bits)

/* LeNet's second layer at batch 64 and the panel-cutting geometry: large enough to run threaded. */
static void same_bits_for_any_thread_count(tg_simd_path path)
{
    require_path(path);
    static const size_t geoms[][10] = {{64, 6, 14, 14, 16, 5, 5, 1, 0, 1}, {3, 8, 40, 40, 4, 3, 3, 1, 1, 1}};
    for (size_t k = 0; k < 2; k++) {
        tg_conv_geom g = geom_of(geoms[k]);
        tg_rng rng;
        tg_rng_seed(&rng, 60 + k, 1);
        size_t nx = g.B * g.C * g.H * g.W, nw = g.O * g.C * g.KH * g.KW, ny = g.B * g.O * g.OH * g.OW;
        float *x = random_floats(&rng, nx), *w = random_floats(&rng, nw), *b = random_floats(&rng, g.O);
        float *dy = random_floats(&rng, ny), *scratch = malloc(tg_conv_scratch_floats(&g) * sizeof(float));
        size_t total = ny + nx + nw + g.O;
        float *out[4], *kept = malloc(tg_conv_cols_floats(&g) * sizeof(float));
        for (int run = 1; run <= 4; run++) { /* 1, 2, 3 threads; then 2 threads with the patches kept */
            tg_set_threads(run == 4 ? 2 : run);
            float *o = out[run - 1] = calloc(total, sizeof(float));
            tg_conv2d_forward(path, &g, x, w, b, o, scratch, run == 4 ? kept : NULL);
            if (run == 4)
                memset(scratch, 0xff, tg_conv_scratch_floats(&g) * sizeof(float)); /* dw must read kept alone */
            tg_conv2d_backward(path, &g, x, w, dy, o + ny, o + ny + nx, o + ny + nx + nw, scratch, run == 4 ? kept : NULL);
        }
        tg_set_threads(0);
        cr_assert(memcmp(out[0], out[1], total * sizeof(float)) == 0, "%s: 1 and 2 threads differ", tg_simd_name(path));
        cr_assert(memcmp(out[0], out[2], total * sizeof(float)) == 0, "%s: 1 and 3 threads differ", tg_simd_name(path));
        cr_assert(memcmp(out[0], out[3], total * sizeof(float)) == 0, "%s: the kept patches give other bits",
                  tg_simd_name(path));
        free(x), free(w), free(b), free(dy), free(scratch), free(kept);
        for (int k = 0; k < 4; k++)
            free(out[k]);
    }
}
TEST_EVERY_PATH(same_bits_for_1_2_3_threads_and_kept_patches, same_bits_for_any_thread_count)

Test(conv, geometry_and_panels)
{
    tg_conv_geom g = {.B = 64, .C = 6, .H = 14, .W = 14, .O = 16, .KH = 5, .KW = 5, .stride_h = 1, .stride_w = 1,
                      .dil_h = 1, .dil_w = 1};
    cr_assert(tg_conv_geom_init(&g));
    cr_assert_eq(g.OH, 10);
    cr_assert_eq(g.OW, 10);
    cr_assert_leq(150 * tg_conv_panel_cols(&g), TG_CONV_PANEL_FLOATS);
    g.stride_h = g.stride_w = 2, g.pad_h = g.pad_w = 1, g.dil_h = g.dil_w = 2; /* (14 + 2 - 8 - 1)/2 + 1 = 4 */
    cr_assert(tg_conv_geom_init(&g));
    cr_assert_eq(g.OH, 4);
    g.KH = 9; /* span 17 > 16 */
    cr_assert_not(tg_conv_geom_init(&g));
}

/* ---- the ops ---------------------------------------------------------------------------- */

static tg_node *input(tg_tape *t, int ndim, const size_t *shape, const float *values)
{
    tg_node *x = tg_input_new(t, ndim, shape);
    cr_assert_not_null(x);
    for (size_t k = 0; k < x->value.size; k++)
        x->value.data[k] = values ? values[k] : 0.0f;
    return x;
}

Test(conv_ops, refuse_bad_shapes_naming_the_op)
{
    tg_tape *t = tg_tape_new(NULL);
    EXPECT_TAPE_ERROR(t, tg_conv2d(t, input(t, 4, (size_t[]){2, 3, 5, 5}, NULL), input(t, 4, (size_t[]){4, 2, 3, 3}, NULL),
                                   NULL, 1, 0, 1),
                      TG_ERR_SHAPE, "conv2d: x [2,3,5,5], w [4,2,3,3]: x has 3 channels, w expects 2");
    EXPECT_TAPE_ERROR(t, tg_conv2d(t, input(t, 2, (size_t[]){2, 75}, NULL), input(t, 4, (size_t[]){4, 3, 3, 3}, NULL), NULL,
                                   1, 0, 1),
                      TG_ERR_SHAPE, "conv2d: x [2,75], w [4,3,3,3]: must be x [B,C,H,W], w [O,C,KH,KW]");
    EXPECT_TAPE_ERROR(t, tg_conv1d(t, input(t, 3, (size_t[]){2, 3, 5}, NULL), input(t, 3, (size_t[]){4, 3, 3}, NULL),
                                   input(t, 1, (size_t[]){3}, NULL), 1, 0, 1),
                      TG_ERR_SHAPE, "conv1d: w [4,3,3], b [3]: the bias must be [4]");
    EXPECT_TAPE_ERROR(t, tg_conv2d(t, input(t, 4, (size_t[]){1, 1, 4, 4}, NULL), input(t, 4, (size_t[]){1, 1, 3, 3}, NULL),
                                   NULL, 1, 0, 2),
                      TG_ERR_SHAPE, "conv2d: x [1,1,4,4], w [1,1,3,3], padding 0, dilation 2: the kernel is larger than "
                                    "the padded input");
    EXPECT_TAPE_ERROR(t, tg_conv2d(t, input(t, 4, (size_t[]){1, 1, 4, 4}, NULL), input(t, 4, (size_t[]){1, 1, 3, 3}, NULL),
                                   NULL, 0, 0, 1),
                      TG_ERR_ARG, "conv2d: stride 0, padding 0, dilation 1: stride and dilation must be >= 1, padding >= 0");
    EXPECT_TAPE_ERROR(t, tg_max_pool2d(t, input(t, 4, (size_t[]){1, 1, 4, 4}, NULL), 2, 0, 2), TG_ERR_ARG,
                      "max_pool2d: kernel 2, stride 2, padding 2: kernel and stride must be >= 1, padding in 0..kernel/2");
    EXPECT_TAPE_ERROR(t, tg_avg_pool2d(t, input(t, 3, (size_t[]){1, 4, 4}, NULL), 2, 0, 0), TG_ERR_SHAPE,
                      "avg_pool2d: x [1,4,4] must be [B,C,H,W]");
    EXPECT_TAPE_ERROR(t, tg_global_avg_pool2d(t, input(t, 2, (size_t[]){4, 4}, NULL)), TG_ERR_SHAPE,
                      "global_avg_pool2d: x [4,4] must be [B,C,H,W]");
    tg_tape_free(t);
}

/* A window of equal values sends its whole gradient to the first in scan order; padding never wins. */
Test(conv_ops, max_pool_ties_go_to_the_first)
{
    tg_tape *t = tg_tape_new(NULL);
    tg_param p;
    cr_assert_eq(tg_param_init(&p, "x", 4, (size_t[]){1, 1, 2, 4}, NULL), TG_OK);
    const float v[8] = {1, 5, 7, 7, 5, 2, 7, 7}; /* windows 2×2: {1,5,5,2} max 5 twice, {7,7,7,7} */
    memcpy(p.value.data, v, sizeof v);
    tg_node *y = tg_max_pool2d(t, tg_param_leaf(t, &p), 2, 0, 0);
    cr_assert_not_null(y, "%s", tg_tape_error(t));
    cr_assert_eq(y->value.data[0], 5.0f);
    cr_assert_eq(y->value.data[1], 7.0f);
    cr_assert_eq(tg_backward(t, tg_sum(t, y), NULL), TG_OK);
    const float want[8] = {0, 1, 1, 0, 0, 0, 0, 0};
    for (int k = 0; k < 8; k++)
        cr_assert_eq(p.grad.data[k], want[k], "element %d: %g", k, (double)p.grad.data[k]);
    tg_tape_reset(t);
    const float neg[8] = {-3, -1, -2, -4, -5, -6, -7, -8}; /* padding 1 around negative values */
    memcpy(p.value.data, neg, sizeof neg);
    y = tg_max_pool2d(t, tg_param_leaf(t, &p), 2, 2, 1); /* [1,1,2,3] */
    cr_assert_eq(y->value.shape[3], 3);
    const float want_y[6] = {-3, -1, -4, -5, -6, -8};
    for (int k = 0; k < 6; k++)
        cr_assert_eq(y->value.data[k], want_y[k], "output %d: %g", k, (double)y->value.data[k]);
    tg_param_free(&p);
    tg_tape_free(t);
}

Test(conv_ops, avg_pool_counts_padding_as_zero)
{
    tg_tape *t = tg_tape_new(NULL);
    const float v[4] = {1, 2, 3, 4};
    tg_node *x = input(t, 4, (size_t[]){1, 1, 2, 2}, v);
    tg_node *y = tg_avg_pool2d(t, x, 2, 1, 1); /* [1,1,3,3]: corners see one pixel, divided by 4 */
    cr_assert_not_null(y, "%s", tg_tape_error(t));
    const float want[9] = {0.25f, 0.75f, 0.5f, 1.0f, 2.5f, 1.5f, 0.75f, 1.75f, 1.0f};
    for (int k = 0; k < 9; k++)
        cr_assert_float_eq(y->value.data[k], want[k], 1e-6, "output %d: %g", k, (double)y->value.data[k]);
    tg_node *m = tg_global_avg_pool2d(t, x);
    cr_assert_eq(m->value.ndim, 2);
    cr_assert_float_eq(m->value.data[0], 2.5f, 1e-6);
    tg_tape_free(t);
}

/* conv1d is conv2d on images one row high (without padding: conv2d would pad the height too). */
Test(conv_ops, conv1d_is_conv2d_of_one_row)
{
    tg_tape *t = tg_tape_new(NULL);
    tg_rng rng;
    tg_rng_seed(&rng, 9, 1);
    float x[2 * 3 * 11], w[4 * 3 * 3], b[4];
    tg_rng_fill_uniform(&rng, x, 66, -1.0f, 1.0f), tg_rng_fill_uniform(&rng, w, 36, -1.0f, 1.0f);
    tg_rng_fill_uniform(&rng, b, 4, -1.0f, 1.0f);
    tg_node *y1 = tg_conv1d(t, input(t, 3, (size_t[]){2, 3, 11}, x), input(t, 3, (size_t[]){4, 3, 3}, w),
                            input(t, 1, (size_t[]){4}, b), 2, 0, 2);
    tg_node *y2 = tg_conv2d(t, input(t, 4, (size_t[]){2, 3, 1, 11}, x), input(t, 4, (size_t[]){4, 3, 1, 3}, w),
                            input(t, 1, (size_t[]){4}, b), 2, 0, 2);
    cr_assert_not_null(y1, "%s", tg_tape_error(t));
    cr_assert_not_null(y2, "%s", tg_tape_error(t));
    cr_assert_eq(y1->value.ndim, 3);
    cr_assert_eq(y1->value.shape[2], 4); /* (11 - 4 - 1)/2 + 1 */
    cr_assert_eq(y2->value.size, y1->value.size);
    cr_assert(memcmp(y1->value.data, y2->value.data, y1->value.size * sizeof(float)) == 0);
    tg_tape_free(t);
}

/* max_pool2d's unrolled 2×2 path against the definition, on values with many ties (0..3). */
Test(conv_ops, max_pool_2x2_matches_the_definition)
{
    tg_tape *t = tg_tape_new(NULL);
    enum { B = 2, C = 3, H = 6, W = 8 };
    float v[B * C * H * W];
    for (size_t k = 0; k < sizeof v / sizeof *v; k++)
        v[k] = (float)((k * 7 + k / 5) % 4);
    tg_node *y = tg_max_pool2d(t, input(t, 4, (size_t[]){B, C, H, W}, v), 2, 2, 0);
    cr_assert_not_null(y, "%s", tg_tape_error(t));
    const int32_t *arg = (const int32_t *)y->saved;
    for (size_t plane = 0; plane < B * C; plane++)
        for (size_t i = 0; i < H / 2; i++)
            for (size_t j = 0; j < W / 2; j++) {
                const float *x = v + plane * H * W;
                size_t best = 2 * i * W + 2 * j; /* the first maximum in scan order */
                for (size_t h = 2 * i; h < 2 * i + 2; h++)
                    for (size_t w = 2 * j; w < 2 * j + 2; w++)
                        best = x[h * W + w] > x[best] ? h * W + w : best;
                size_t out = (plane * (H / 2) + i) * (W / 2) + j;
                cr_assert_eq(y->value.data[out], x[best]);
                cr_assert_eq((size_t)arg[out], best, "plane %zu (%zu,%zu): arg %d, want %zu", plane, i, j, arg[out], best);
            }
    tg_tape_free(t);
}
