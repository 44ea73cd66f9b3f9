/* tests/test_matmul.c — the matrix products of tensor/matmul*.c: tg_gemm on every path (the
 * scalar reference kernel included) against the product computed here in double, BLAS edge cases,
 * the zero-skipping product (tg_gemm_sparse_a: same bits as tg_gemm),
 * thread-count determinism, and the checked tensor wrapper. */
#include <criterion/criterion.h>

#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "table_test.h"
#include "tensor/matmul.h"
#include "tensor/cpu.h"
#include "tensor/parallel.h"
#include "tensor/rng.h"
#include "tensor/tensor.h"

/* ---- helpers ----------------------------------------------------------------------------- */

/* Every kernel path; a test of one path the build or processor cannot run skips, saying so. */
static const tg_simd_path ALL_PATHS[] = {TG_PATH_SCALAR, TG_PATH_AVX2, TG_PATH_AVX512, TG_PATH_NEON};

static void require_path(tg_simd_path path)
{
    if (!tg_simd_supported(path))
        cr_skip_test("path %s is not supported by this build or processor", tg_simd_name(path));
}

/* One test per path of a check written once as fn(path). */
#define TEST_EVERY_PATH(name, fn)                                  \
    Test(matmul, scalar_##name) { fn(TG_PATH_SCALAR); }            \
    Test(matmul, avx2_##name) { fn(TG_PATH_AVX2); }                \
    Test(matmul, avx512_##name) { fn(TG_PATH_AVX512); }            \
    Test(matmul, neon_##name) { fn(TG_PATH_NEON); }

/* Written into padding (columns beyond N in C) to check that nothing outside C is touched. */
static const float SENTINEL = -12345.0f;

/* A general product with its operands laid out as tg_gemm expects (row-major, padded leading
 * dimensions). */
typedef struct problem {
    tg_trans ta, tb;
    size_t M, N, K;
    size_t lda, ldb, ldc;
    float alpha, beta;
    float *A, *B, *C0; /* C0: the initial C */
} problem;

static float *alloc_floats(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof(float));
    cr_assert_not_null(p);
    return p;
}

/* Random operands in [-1, 1); `pad` extra floats at the end of every row. */
static problem make_problem(tg_trans ta, tg_trans tb, size_t M, size_t N, size_t K, size_t pad,
                            float alpha, float beta, uint64_t seed)
{
    problem p = {ta, tb, M, N, K, 0, 0, 0, alpha, beta, NULL, NULL, NULL};
    size_t a_rows = ta == TG_TRANS ? K : M, a_cols = ta == TG_TRANS ? M : K;
    size_t b_rows = tb == TG_TRANS ? N : K, b_cols = tb == TG_TRANS ? K : N;
    p.lda = a_cols + pad, p.ldb = b_cols + pad, p.ldc = N + pad;
    p.A = alloc_floats(a_rows * p.lda);
    p.B = alloc_floats(b_rows * p.ldb);
    p.C0 = alloc_floats(M * p.ldc);
    tg_rng rng;
    tg_rng_seed(&rng, seed, 7);
    tg_rng_fill_uniform(&rng, p.A, a_rows * p.lda, -1.0f, 1.0f);
    tg_rng_fill_uniform(&rng, p.B, b_rows * p.ldb, -1.0f, 1.0f);
    tg_rng_fill_uniform(&rng, p.C0, M * p.ldc, -1.0f, 1.0f);
    for (size_t i = 0; i < M; i++)
        for (size_t j = N; j < p.ldc; j++)
            p.C0[i * p.ldc + j] = SENTINEL;
    return p;
}

static void free_problem(problem *p)
{
    free(p->A);
    free(p->B);
    free(p->C0);
}

/* Fills C's M×N elements (not the padding) with NaN: for a product that must not read C. */
static void fill_c_with_nan(problem *p)
{
    for (size_t i = 0; i < p->M; i++)
        for (size_t j = 0; j < p->N; j++)
            p->C0[i * p->ldc + j] = NAN;
}

static float *run_path(const problem *p, tg_simd_path path)
{
    float *C = alloc_floats(p->M * p->ldc);
    memcpy(C, p->C0, p->M * p->ldc * sizeof(float));
    tg_gemm_path(path, p->ta, p->tb, p->M, p->N, p->K, p->alpha, p->A, p->lda, p->B, p->ldb,
                 p->beta, C, p->ldc);
    return C;
}

static float op_a(const problem *p, size_t i, size_t k)
{
    return p->ta == TG_TRANS ? p->A[k * p->lda + i] : p->A[i * p->lda + k];
}

static float op_b(const problem *p, size_t k, size_t j)
{
    return p->tb == TG_TRANS ? p->B[j * p->ldb + k] : p->B[k * p->ldb + j];
}

/* The expected C, computed here from the definition, in double: alpha·op(A)·op(B) + beta·C0 (C0
 * not read when beta is 0), rounded to float once; the padding is C0's.  Not tg_gemm_ref, which is
 * the scalar path under test. */
static float *expected_c(const problem *p)
{
    float *C = alloc_floats(p->M * p->ldc);
    memcpy(C, p->C0, p->M * p->ldc * sizeof(float));
    for (size_t i = 0; i < p->M; i++)
        for (size_t j = 0; j < p->N; j++) {
            double acc = 0.0;
            for (size_t k = 0; k < p->K; k++)
                acc += (double)op_a(p, i, k) * (double)op_b(p, k, j);
            double c = (double)p->alpha * acc;
            if (p->beta != 0.0f)
                c += (double)p->beta * p->C0[i * p->ldc + j];
            C[i * p->ldc + j] = (float)c;
        }
    return C;
}

/* Checks C against the expected R (expected_c) element by element.  Two float sums of the same K terms in
 * different orders (and with or without fused multiply-adds) differ by at most about
 * K·eps·Σ|a·b|, so that (times a safety factor) is the tolerance: a wrong index or a missed term
 * shows up as an error of the size of the terms themselves.  Padding must be left untouched. */
static void expect_close(const problem *p, const float *C, const float *R, const char *what)
{
    for (size_t i = 0; i < p->M; i++) {
        for (size_t j = 0; j < p->N; j++) {
            double magnitude = 0.0;
            for (size_t k = 0; k < p->K; k++)
                magnitude += fabs((double)op_a(p, i, k) * (double)op_b(p, k, j));
            double c0 = p->beta != 0.0f ? fabs((double)p->beta * p->C0[i * p->ldc + j]) : 0.0; /* beta 0: C0 unread */
            magnitude = fabs(p->alpha) * magnitude + c0;
            double tol = 4.0 * (double)(p->K + 2) * FLT_EPSILON * magnitude + 1e-30;
            double got = C[i * p->ldc + j], want = R[i * p->ldc + j];
            cr_assert(fabs(got - want) <= tol,
                      "%s: ta=%d tb=%d M=%zu N=%zu K=%zu alpha=%g beta=%g: C[%zu,%zu] = %.9g, reference %.9g (tol %.3g)",
                      what, p->ta, p->tb, p->M, p->N, p->K, (double)p->alpha, (double)p->beta, i, j,
                      got, want, tol);
        }
        for (size_t j = p->N; j < p->ldc; j++)
            cr_assert(C[i * p->ldc + j] == SENTINEL, "%s: padding C[%zu,%zu] was written", what, i, j);
    }
}

static void compare_with_reference(tg_simd_path path, tg_trans ta, tg_trans tb, size_t M, size_t N,
                                   size_t K, size_t pad, float alpha, float beta)
{
    problem p = make_problem(ta, tb, M, N, K, pad, alpha, beta, M * 1000003u + N * 1009u + K);
    float *C = run_path(&p, path), *R = expected_c(&p);
    expect_close(&p, C, R, tg_simd_name(path));
    free(C);
    free(R);
    free_problem(&p);
}

/* Shapes that exercise full tiles, partial tiles (rows and vector lanes), several K blocks and
 * the CAE products; every size of the list appears in every position at least once. */
static const size_t SHAPES[][3] = { /* M, N, K */
    {1, 1, 1},     {2, 7, 15},    {7, 2, 17},     {15, 17, 2},   {17, 15, 31},  {31, 33, 7},
    {33, 31, 63},  {63, 65, 33},  {65, 63, 127},  {127, 1, 65},  {1, 127, 63},  {2, 33, 784},
    {784, 7, 31},  {15, 784, 33}, {32, 64, 784},  {32, 784, 64}, {64, 784, 32}, {784, 64, 32},
    {65, 127, 1},  {127, 65, 17}, {33, 1, 300},   {7, 63, 1000},
};

static void all_shapes_all_transposes(tg_simd_path path)
{
    require_path(path);
    for (size_t s = 0; s < sizeof SHAPES / sizeof SHAPES[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                compare_with_reference(path, (tg_trans)ta, (tg_trans)tb, SHAPES[s][0], SHAPES[s][1],
                                       SHAPES[s][2], 0, 1.0f, 0.0f);
}

static void padded_and_scaled(tg_simd_path path)
{
    require_path(path);
    static const float ab[][2] = {{1.0f, 1.0f}, {0.5f, 1.5f}, {-2.0f, 0.0f}, {1.0f, -0.25f}};
    static const size_t shapes[][3] = {{17, 33, 65}, {65, 17, 300}, {33, 127, 7}};
    for (size_t s = 0; s < 3; s++)
        for (size_t v = 0; v < 4; v++)
            for (int ta = 0; ta < 2; ta++)
                for (int tb = 0; tb < 2; tb++)
                    compare_with_reference(path, (tg_trans)ta, (tg_trans)tb, shapes[s][0], shapes[s][1],
                                           shapes[s][2], 5 + s, ab[v][0], ab[v][1]);
}

Test(matmul, reference_small_known_product)
{
    /* [[1,2,3],[4,5,6]] · [[7,8],[9,10],[11,12]] = [[58,64],[139,154]], worked by hand */
    const float a[] = {1, 2, 3, 4, 5, 6}, at[] = {1, 4, 2, 5, 3, 6};
    const float b[] = {7, 8, 9, 10, 11, 12}, bt[] = {7, 9, 11, 8, 10, 12};
    const float want[] = {58, 64, 139, 154};
    for (int ta = 0; ta < 2; ta++) {
        for (int tb = 0; tb < 2; tb++) {
            float c[4] = {1, 1, 1, 1};
            tg_gemm_ref((tg_trans)ta, (tg_trans)tb, 2, 2, 3, 1.0f, ta ? at : a, ta ? 2 : 3,
                        tb ? bt : b, tb ? 3 : 2, 0.0f, c, 2);
            for (int i = 0; i < 4; i++)
                cr_assert_float_eq(c[i], want[i], 0.0f, "ta=%d tb=%d c[%d] = %g", ta, tb, i, (double)c[i]);
            float d[4] = {1, 2, 3, 4};
            tg_gemm((tg_trans)ta, (tg_trans)tb, 2, 2, 3, 2.0f, ta ? at : a, ta ? 2 : 3, tb ? bt : b,
                    tb ? 3 : 2, -1.0f, d, 2);
            for (int i = 0; i < 4; i++)
                cr_assert_float_eq(d[i], 2.0f * want[i] - (float)(i + 1), 0.0f, "tg_gemm ta=%d tb=%d", ta, tb);
        }
    }
}

TEST_EVERY_PATH(matches_reference, all_shapes_all_transposes)
Test(matmul, auto_matches_reference) { all_shapes_all_transposes(TG_PATH_AUTO); }

TEST_EVERY_PATH(leading_dimensions_alpha_beta, padded_and_scaled)

/* ---- BLAS conventions -------------------------------------------------------------------- */

Test(matmul, k_zero_scales_c_by_beta)
{
    for (size_t p = 0; p < sizeof ALL_PATHS / sizeof ALL_PATHS[0]; p++) {
        if (!tg_simd_supported(ALL_PATHS[p]))
            continue;
        float c[6] = {1, -2, 3, -4, 5, -6};
        float dummy = NAN; /* A and B have no elements; they must not be read */
        tg_gemm_path(ALL_PATHS[p], TG_NOTRANS, TG_NOTRANS, 2, 3, 0, 1.0f, &dummy, 1, &dummy, 3, 0.5f, c, 3);
        for (int i = 0; i < 6; i++)
            cr_assert_float_eq(c[i], 0.5f * (float)((i % 2 ? -1 : 1) * (i + 1)), 0.0f, "%s", tg_simd_name(ALL_PATHS[p]));
        float d[6] = {NAN, NAN, INFINITY, 1, 2, 3};
        tg_gemm_path(ALL_PATHS[p], TG_NOTRANS, TG_NOTRANS, 2, 3, 0, 1.0f, &dummy, 1, &dummy, 3, 0.0f, d, 3);
        for (int i = 0; i < 6; i++)
            cr_assert(d[i] == 0.0f, "%s: K = 0, beta = 0 must write zeros, got %g", tg_simd_name(ALL_PATHS[p]), (double)d[i]);
    }
}

Test(matmul, alpha_zero_does_not_read_a_or_b)
{
    float A[4 * 5], B[5 * 3];
    for (int i = 0; i < 20; i++)
        A[i] = NAN;
    for (int i = 0; i < 15; i++)
        B[i] = INFINITY;
    for (size_t p = 0; p < sizeof ALL_PATHS / sizeof ALL_PATHS[0]; p++) {
        if (!tg_simd_supported(ALL_PATHS[p]))
            continue;
        float c[12];
        for (int i = 0; i < 12; i++)
            c[i] = (float)i - 4.0f;
        tg_gemm_path(ALL_PATHS[p], TG_NOTRANS, TG_NOTRANS, 4, 3, 5, 0.0f, A, 5, B, 3, 2.0f, c, 3);
        for (int i = 0; i < 12; i++)
            cr_assert_float_eq(c[i], 2.0f * ((float)i - 4.0f), 0.0f, "%s: c[%d] = %g", tg_simd_name(ALL_PATHS[p]), i, (double)c[i]);
    }
}

Test(matmul, beta_zero_ignores_nan_in_c)
{
    static const size_t shapes[][3] = {{7, 33, 17}, {65, 70, 300}, {3, 5, 2}};
    for (size_t p = 0; p < sizeof ALL_PATHS / sizeof ALL_PATHS[0]; p++) {
        if (!tg_simd_supported(ALL_PATHS[p]))
            continue;
        for (size_t s = 0; s < 3; s++) {
            for (int t = 0; t < 4; t++) {
                problem pr = make_problem((tg_trans)(t & 1), (tg_trans)(t >> 1), shapes[s][0], shapes[s][1],
                                          shapes[s][2], 2, 1.5f, 0.0f, 99 + s);
                fill_c_with_nan(&pr);
                float *C = run_path(&pr, ALL_PATHS[p]);
                for (size_t i = 0; i < pr.M * pr.ldc; i++)
                    cr_assert(!isnan(C[i]), "%s: NaN from C leaked into the result at %zu", tg_simd_name(ALL_PATHS[p]), i);
                /* the reference does not read C either, so the NaN-filled C0 is a valid input */
                float *R = expected_c(&pr);
                expect_close(&pr, C, R, tg_simd_name(ALL_PATHS[p]));
                free(C);
                free(R);
                free_problem(&pr);
            }
        }
    }
}

Test(matmul, empty_output_is_a_no_op)
{
    float c = 7.0f, a = 1.0f, b = 1.0f;
    tg_gemm(TG_NOTRANS, TG_NOTRANS, 0, 1, 1, 1.0f, &a, 1, &b, 1, 0.0f, &c, 1);
    tg_gemm(TG_NOTRANS, TG_NOTRANS, 1, 0, 1, 1.0f, &a, 1, &b, 1, 0.0f, &c, 1);
    cr_assert_float_eq(c, 7.0f, 0.0f);
}

/* ---- determinism across thread counts ---------------------------------------------------- */

/* Products big enough to run threaded (above the size at which tg_gemm stays on one thread),
 * with odd sizes so the thread split falls inside vector lanes and row tiles. */
static void same_bits_for_any_thread_count(tg_simd_path path)
{
    require_path(path);
    static const size_t shapes[][3] = {{256, 64, 784}, {64, 784, 256}, {301, 259, 131}, {784, 64, 32}, {33, 784, 64}};
    static const float betas[] = {0.0f, 1.0f};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        for (int t = 0; t < 4; t++) {
            problem p = make_problem((tg_trans)(t & 1), (tg_trans)(t >> 1), shapes[s][0], shapes[s][1],
                                     shapes[s][2], 3, 0.75f, betas[(s + (size_t)t) % 2], 500 + s);
            tg_set_threads(1);
            float *one = run_path(&p, path);
            tg_set_threads(2);
            float *two = run_path(&p, path);
            tg_set_threads(3);
            float *three = run_path(&p, path);
            size_t bytes = p.M * p.ldc * sizeof(float);
            cr_assert(memcmp(one, two, bytes) == 0, "%s: 1 and 2 threads differ (M=%zu N=%zu K=%zu t=%d)",
                      tg_simd_name(path), p.M, p.N, p.K, t);
            cr_assert(memcmp(one, three, bytes) == 0, "%s: 1 and 3 threads differ (M=%zu N=%zu K=%zu t=%d)",
                      tg_simd_name(path), p.M, p.N, p.K, t);
            free(one);
            free(two);
            free(three);
            free_problem(&p);
        }
    }
    tg_set_threads(1);
}

TEST_EVERY_PATH(same_bits_for_1_2_3_threads, same_bits_for_any_thread_count)

/* ---- path selection ---------------------------------------------------------------------- */

Test(matmul, path_names_round_trip)
{
    for (int p = TG_PATH_AUTO; p < TG_PATH_COUNT; p++)
        cr_assert_eq(tg_simd_parse(tg_simd_name((tg_simd_path)p)), p);
    cr_assert_eq(tg_simd_parse("avx"), -1);
    cr_assert_eq(tg_simd_parse(""), -1);
    cr_assert(tg_simd_supported(TG_PATH_SCALAR));
    tg_simd_path active = tg_simd_active();
    cr_assert(active != TG_PATH_AUTO && tg_simd_supported(active), "active path %s", tg_simd_name(active));
}

/* ---- the checked tensor form ------------------------------------------------------------- */

Test(matmul, tensor_matmul_computes_with_transposes)
{
    tg_tensor a, b, c;
    cr_assert_eq(tg_tensor_zeros2(&a, 3, 2, NULL), TG_OK); /* used as aᵀ [2,3] */
    cr_assert_eq(tg_tensor_zeros2(&b, 4, 3, NULL), TG_OK); /* used as bᵀ [3,4] */
    cr_assert_eq(tg_tensor_zeros2(&c, 2, 4, NULL), TG_OK);
    for (size_t i = 0; i < a.size; i++)
        a.data[i] = (float)i + 1.0f;   /* a = [[1,2],[3,4],[5,6]] */
    for (size_t i = 0; i < b.size; i++)
        b.data[i] = (float)(i % 3) - 1.0f; /* every row of b = [-1,0,1] */
    tg_error err = {0};
    cr_assert_eq(tg_tensor_matmul(&c, &a, TG_TRANS, &b, TG_TRANS, 1.0f, 0.0f, &err), TG_OK, "%s", err.msg);
    /* c[i,j] = Σ_k a[k,i]·b[j,k] = a[2,i] - a[0,i]: 4 for both columns of aᵀ */
    for (size_t i = 0; i < c.size; i++)
        cr_assert_float_eq(c.data[i], 4.0f, 0.0f);
    tg_tensor_free(&a);
    tg_tensor_free(&b);
    tg_tensor_free(&c);
}

/* Shapes tg_tensor_matmul checks before it computes: each row gives op(A)·op(B) -> C.  A failure
 * names the shapes and leaves C as it was; a NULL error pointer gives the same result. */
static const struct {
    const char *name;
    size_t a[2], b[2], c[2];
    tg_trans ta, tb;
    int rc;
    const char *message;
} shapes[] = {
    {"inner dimensions differ", {32, 784}, {64, 784}, {32, 64}, TG_NOTRANS, TG_NOTRANS, TG_ERR_SHAPE,
     "matmul: [32,784] x [64,784]: inner dimensions differ"},
    {"inner dimensions differ with Aᵀ", {32, 784}, {64, 784}, {32, 64}, TG_TRANS, TG_NOTRANS, TG_ERR_SHAPE,
     "matmul: [32,784]ᵀ x [64,784]: inner dimensions differ"},
    /* with Bᵀ the product is [32,784]·[784,64]: valid */
    {"valid with Bᵀ", {32, 784}, {64, 784}, {32, 64}, TG_NOTRANS, TG_TRANS, TG_OK, NULL},
    {"output of the wrong shape", {32, 784}, {784, 64}, {32, 10}, TG_NOTRANS, TG_NOTRANS, TG_ERR_SHAPE,
     "matmul: output [32,10], expected [32,64]"},
};

TABLE_TEST(matmul, tensor_matmul_checks_shapes, shapes)
{
    const char *name = shapes[*row].name;
    tg_tensor a, b, c;
    cr_assert_eq(tg_tensor_zeros2(&a, shapes[*row].a[0], shapes[*row].a[1], NULL), TG_OK);
    cr_assert_eq(tg_tensor_zeros2(&b, shapes[*row].b[0], shapes[*row].b[1], NULL), TG_OK);
    cr_assert_eq(tg_tensor_zeros2(&c, shapes[*row].c[0], shapes[*row].c[1], NULL), TG_OK);
    tg_tensor_fill(&c, 3.0f);
    tg_error err = {0};
    int rc = tg_tensor_matmul(&c, &a, shapes[*row].ta, &b, shapes[*row].tb, 1.0f, 0.0f, &err);
    cr_assert_eq(rc, shapes[*row].rc, "%s: rc %d (%s)", name, rc, err.msg);
    if (rc != TG_OK) {
        cr_assert_eq(err.code, rc, "%s", name);
        cr_assert_str_eq(err.msg, shapes[*row].message, "%s", name);
        for (size_t i = 0; i < c.size; i++)
            cr_assert_float_eq(c.data[i], 3.0f, 0.0f, "%s: a failed matmul must not touch its output", name);
    }
    cr_assert_eq(tg_tensor_matmul(&c, &a, shapes[*row].ta, &b, shapes[*row].tb, 1.0f, 0.0f, NULL), rc,
                 "%s: without an error pointer", name);
    tg_tensor_free(&a);
    tg_tensor_free(&b);
    tg_tensor_free(&c);
}

/* ---- tg_gemm_sparse_a: the zero-skipping product ----------------------------------------- */

/* Sets about `fraction` of A's elements (padding included) to zero, half of them -0.0; the
 * first row of op(A) is left dense when `dense_first_row`, so pairs of rows with one zero and
 * one non-zero row at a step are common. */
static void sprinkle_zeros(problem *p, double fraction, bool dense_first_row, uint64_t seed)
{
    tg_rng rng;
    tg_rng_seed(&rng, seed, 11);
    size_t a_rows = p->ta == TG_TRANS ? p->K : p->M;
    for (size_t r = 0; r < a_rows; r++)
        for (size_t c = 0; c < p->lda; c++) {
            size_t op_row = p->ta == TG_TRANS ? c : r;
            if (dense_first_row && op_row == 0)
                continue;
            if (tg_rng_uniform(&rng) < fraction)
                p->A[r * p->lda + c] = (r + c) % 2 ? -0.0f : 0.0f;
        }
}

static float *run_sparse_path(const problem *p, tg_simd_path path)
{
    float *C = alloc_floats(p->M * p->ldc);
    memcpy(C, p->C0, p->M * p->ldc * sizeof(float));
    const tg_gemm_options opt = {.skip_zeros_of_a = true, .path = path};
    tg_gemm_ex(p->ta, p->tb, p->M, p->N, p->K, p->alpha, p->A, p->lda, p->B, p->ldb, p->beta, C, p->ldc, &opt);
    return C;
}

/* The zero-skipping product gives tg_gemm's bits on the same path (padding untouched too), and
 * both are close to the reference: all shapes, transposes, scalings, from no zeros to all. */
static void sparse_a_same_bits_as_dense(tg_simd_path path)
{
    require_path(path);
    static const double fractions[] = {0.0, 0.5, 0.9, 1.0};
    static const float ab[][2] = {{1.0f, 0.0f}, {1.0f, 1.0f}, {0.5f, -1.5f}};
    for (size_t s = 0; s < sizeof SHAPES / sizeof SHAPES[0]; s++)
        for (int t = 0; t < 4; t++)
            for (size_t z = 0; z < 4; z++) {
                size_t v = (s + z) % 3, pad = (s + (size_t)t) % 3;
                problem p = make_problem((tg_trans)(t & 1), (tg_trans)(t >> 1), SHAPES[s][0], SHAPES[s][1],
                                         SHAPES[s][2], pad, ab[v][0], ab[v][1], 900 + s * 4 + (size_t)t);
                sprinkle_zeros(&p, fractions[z], z == 2, 77 + s);
                if (p.beta == 0.0f) /* never read: must not turn into NaN */
                    fill_c_with_nan(&p);
                float *dense = run_path(&p, path), *sparse = run_sparse_path(&p, path), *ref = expected_c(&p);
                cr_assert(memcmp(dense, sparse, p.M * p.ldc * sizeof(float)) == 0,
                          "%s: sparse and dense differ: ta=%d tb=%d M=%zu N=%zu K=%zu zeros=%.1f", tg_simd_name(path),
                          p.ta, p.tb, p.M, p.N, p.K, fractions[z]);
                expect_close(&p, sparse, ref, "sparse_a");
                free(dense);
                free(sparse);
                free(ref);
                free_problem(&p);
            }
}

/* Paths with the kernel (AVX2, AVX-512, NEON) run it; the scalar one falls back to its dense
 * product. */
TEST_EVERY_PATH(sparse_a_same_bits_as_dense, sparse_a_same_bits_as_dense)

Test(matmul, paths_with_a_zero_skipping_kernel)
{
    cr_assert_not(tg_gemm_skips_zeros(TG_PATH_SCALAR));
    for (size_t p = 0; p < sizeof ALL_PATHS / sizeof ALL_PATHS[0]; p++)
        cr_assert_eq(tg_gemm_skips_zeros(ALL_PATHS[p]), ALL_PATHS[p] != TG_PATH_SCALAR && tg_simd_supported(ALL_PATHS[p]),
                     "%s", tg_simd_name(ALL_PATHS[p]));
}

/* The documented exception: a product that underflows to -0 meets a zero step.  Dense turns
 * the -0 into +0 there, the skipping kernel keeps it; the values are equal. */
static void sparse_a_underflow_differs_only_in_the_sign_of_zero(tg_simd_path path)
{
    require_path(path);
    if (!tg_gemm_skips_zeros(path))
        cr_skip_test("path %s has no zero-skipping kernel", tg_simd_name(path));
    const float A[2] = {-1e-30f, 0.0f}, B[2] = {1e-30f, 1.0f};
    float dense = 5.0f, sparse = 5.0f;
    tg_gemm_path(path, TG_NOTRANS, TG_NOTRANS, 1, 1, 2, 1.0f, A, 2, B, 1, 0.0f, &dense, 1);
    const tg_gemm_options opt = {.skip_zeros_of_a = true, .path = path};
    tg_gemm_ex(TG_NOTRANS, TG_NOTRANS, 1, 1, 2, 1.0f, A, 2, B, 1, 0.0f, &sparse, 1, &opt);
    cr_assert(dense == 0.0f && sparse == 0.0f, "%s: both zero: %g %g", tg_simd_name(path), (double)dense, (double)sparse);
    cr_assert(!signbit(dense) && signbit(sparse), "%s: dense +0, skipping -0", tg_simd_name(path));
}

TEST_EVERY_PATH(sparse_a_underflow_differs_only_in_the_sign_of_zero, sparse_a_underflow_differs_only_in_the_sign_of_zero)

static void sparse_a_same_bits_for_any_thread_count(tg_simd_path path)
{
    require_path(path);
    static const size_t shapes[][3] = {{256, 64, 784}, {784, 64, 256}, {301, 259, 131}, {33, 130, 64}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int ta = 0; ta < 2; ta++) {
            problem p = make_problem((tg_trans)ta, TG_NOTRANS, shapes[s][0], shapes[s][1], shapes[s][2], 1,
                                     1.0f, 1.0f, 40 + s);
            sprinkle_zeros(&p, 0.6, false, 41 + s);
            float *runs[3];
            for (int t = 0; t < 3; t++) {
                tg_set_threads(t + 1);
                runs[t] = run_sparse_path(&p, path);
            }
            size_t bytes = p.M * p.ldc * sizeof(float);
            cr_assert(memcmp(runs[0], runs[1], bytes) == 0 && memcmp(runs[0], runs[2], bytes) == 0,
                      "%s sparse_a: thread counts differ (M=%zu N=%zu K=%zu ta=%d)", tg_simd_name(path), p.M, p.N, p.K, ta);
            for (int t = 0; t < 3; t++)
                free(runs[t]);
            free_problem(&p);
        }
    tg_set_threads(1);
}

TEST_EVERY_PATH(sparse_a_same_bits_for_1_2_3_threads, sparse_a_same_bits_for_any_thread_count)

/* A NaN in A is not a zero: it must reach C as in the dense product.  (Through the public
 * tg_gemm_sparse_a, which the other tests reach as tg_gemm_ex with skip_zeros_of_a.) */
Test(matmul, sparse_a_propagates_nan_in_a)
{
    problem p = make_problem(TG_NOTRANS, TG_NOTRANS, 4, 20, 40, 0, 1.0f, 0.0f, 5);
    sprinkle_zeros(&p, 1.0, false, 6);
    p.A[2 * p.lda + 17] = NAN;
    float *C = alloc_floats(p.M * p.ldc);
    memcpy(C, p.C0, p.M * p.ldc * sizeof(float));
    tg_gemm_sparse_a(p.ta, p.tb, p.M, p.N, p.K, p.alpha, p.A, p.lda, p.B, p.ldb, p.beta, C, p.ldc);
    for (size_t i = 0; i < p.M; i++)
        for (size_t j = 0; j < p.N; j++)
            cr_assert(i == 2 ? isnan(C[i * p.ldc + j]) : C[i * p.ldc + j] == 0.0f, "C[%zu,%zu] = %g", i, j,
                      (double)C[i * p.ldc + j]);
    free(C);
    free_problem(&p);
}

/* Zeros in the first `share` of each row of A [rows, cols] (row stride lda): every sampled row has
 * that share. */
static void zero_row_starts(float *A, size_t rows, size_t cols, size_t lda, double share)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < (size_t)(share * (double)cols); c++)
            A[r * lda + c] = 0.0f;
}

/* On a path with the zero-skipping kernel the choice follows the share of zeros, from this
 * processor's threshold on; on one without it (the scalar reference) the answer is always no,
 * whatever A holds. */
Test(matmul, prefers_sparse_a_from_the_share_of_zeros)
{
    const bool kernel = tg_gemm_skips_zeros(TG_PATH_AUTO);
    const double share = tg_gemm_sparse_min_zero_fraction(TG_PATH_AUTO);
    const char *path = tg_simd_name(tg_simd_active());
    cr_assert(kernel ? share > 0.3 && share < 0.9 : share > 1.0, "%s: threshold %g", path, share);
    problem p = make_problem(TG_NOTRANS, TG_NOTRANS, 256, 1, 784, 0, 1.0f, 0.0f, 8);
    cr_assert_not(tg_gemm_prefers_sparse_a(p.A, p.M, p.K, p.lda), "%s: no zeros", path);
    if (kernel) {
        zero_row_starts(p.A, p.M, p.K, p.lda, share - 0.02);
        cr_assert_not(tg_gemm_prefers_sparse_a(p.A, p.M, p.K, p.lda), "%s: just below %g zeros", path, share);
        zero_row_starts(p.A, p.M, p.K, p.lda, share + 0.02);
        cr_assert(tg_gemm_prefers_sparse_a(p.A, p.M, p.K, p.lda), "%s: just above %g zeros", path, share);
    }
    zero_row_starts(p.A, p.M, p.K, p.lda, 1.0);
    cr_assert_eq(tg_gemm_prefers_sparse_a(p.A, p.M, p.K, p.lda), kernel, "%s: all zeros", path);
    cr_assert_not(tg_gemm_prefers_sparse_a(p.A, 0, p.K, p.lda), "%s: empty", path);
    free_problem(&p);
}

/* AVX-512's threshold follows the processor: low where 512-bit FMAs run in two halves (Zen 4),
 * high where they run whole (Zen 5's server parts, Intel's), as tensor/cpu.h tells them apart. */
Test(matmul, avx512_sparse_threshold_follows_the_processor)
{
    /* real signatures (CPUID leaf 1's EAX): an EPYC 9004 (Zen 4), an EPYC 9005 (Zen 5), a Xeon 4th gen */
    const tg_x86_model zen4 = tg_x86_model_from("AuthenticAMD", 0x00A10F11u);
    const tg_x86_model zen5 = tg_x86_model_from("AuthenticAMD", 0x00B00F21u);
    const tg_x86_model intel = tg_x86_model_from("GenuineIntel", 0x000806F8u);
    const tg_x86_model other25 = {false, 25};
    cr_assert(zen4.amd && zen4.family == 25, "Zen 4: %u", zen4.family);
    cr_assert(zen5.amd && zen5.family == 26, "Zen 5: %u", zen5.family);
    cr_assert(!intel.amd && intel.family == 6, "Intel: %u", intel.family);
    cr_assert_not(tg_x86_fma512_whole(zen4), "Zen 4");
    cr_assert(tg_x86_fma512_whole(zen5), "Zen 5");
    cr_assert(tg_x86_fma512_whole(intel), "Intel");
    cr_assert(tg_x86_fma512_whole(other25), "another vendor's family 25");
    if (!tg_gemm_skips_zeros(TG_PATH_AVX512))
        cr_skip_test("this processor or build has no AVX-512 path");
    const double expected = tg_x86_fma512_whole(tg_x86_model_here()) ? 0.75 : 0.45;
    cr_assert_float_eq(tg_gemm_sparse_min_zero_fraction(TG_PATH_AVX512), expected, 1e-12);
}

/* The optimizers' 512-bit build (tensor/vmath.h) only where it was measured faster: Zen 5. */
Test(matmul, divides512_only_where_measured_faster)
{
    const tg_x86_model zen4 = {true, 25}, zen5 = {true, 26}, intel = {false, 6};
    cr_assert_not(tg_x86_divides512_faster(zen4), "Zen 4");
    cr_assert(tg_x86_divides512_faster(zen5), "Zen 5");
    cr_assert_not(tg_x86_divides512_faster(intel), "Intel");
}

/* ---- tg_gemm_options.row_bias: the product lands on a bias row ------------------------------ */

/* C = alpha·op(A)·op(B) + beta·bias in every row gives the bits of filling C's rows with the
 * bias and calling tg_gemm with the same beta, on every path, dense and skipping zeros; C's old
 * contents (NaN here) are never read, its padding never written. */
static void row_bias_same_bits_as_filled_rows(tg_simd_path path)
{
    require_path(path);
    static const float ab[][2] = {{1.0f, 1.0f}, {0.5f, -1.5f}, {2.0f, 0.0f}};
    for (size_t s = 0; s < sizeof SHAPES / sizeof SHAPES[0]; s++)
        for (int t = 0; t < 4; t++)
            for (int skip = 0; skip < 2; skip++) {
                size_t v = (s + (size_t)t + (size_t)skip) % 3, pad = (s + (size_t)t) % 2;
                problem p = make_problem((tg_trans)(t & 1), (tg_trans)(t >> 1), SHAPES[s][0], SHAPES[s][1],
                                         SHAPES[s][2], pad, ab[v][0], ab[v][1], 1300 + s * 4 + (size_t)t);
                sprinkle_zeros(&p, 0.5, false, 1301 + s);
                float *bias = alloc_floats(p.N);
                tg_rng rng;
                tg_rng_seed(&rng, 1302 + s, 3);
                tg_rng_fill_uniform(&rng, bias, p.N, -1.0f, 1.0f);
                for (size_t i = 0; i < p.M; i++) /* the reference run reads its C: the bias rows */
                    memcpy(p.C0 + i * p.ldc, bias, p.N * sizeof(float));
                float *filled = run_path(&p, path);
                fill_c_with_nan(&p); /* the bias run must not read C */
                float *C = alloc_floats(p.M * p.ldc);
                memcpy(C, p.C0, p.M * p.ldc * sizeof(float));
                const tg_gemm_options opt = {.row_bias = bias, .skip_zeros_of_a = skip, .path = path};
                tg_gemm_ex(p.ta, p.tb, p.M, p.N, p.K, p.alpha, p.A, p.lda, p.B, p.ldb, p.beta, C, p.ldc, &opt);
                cr_assert(memcmp(filled, C, p.M * p.ldc * sizeof(float)) == 0,
                          "%s: row_bias differs from filled rows: ta=%d tb=%d M=%zu N=%zu K=%zu beta=%g skip=%d",
                          tg_simd_name(path), p.ta, p.tb, p.M, p.N, p.K, (double)p.beta, skip);
                free(filled);
                free(C);
                free(bias);
                free_problem(&p);
            }
}

TEST_EVERY_PATH(row_bias_same_bits_as_filled_rows, row_bias_same_bits_as_filled_rows)

/* With nothing to multiply, C = beta·bias in every row. */
Test(matmul, row_bias_with_k_zero)
{
    float bias[3] = {1.0f, -2.0f, 0.5f}, C[2 * 3];
    for (size_t k = 0; k < 6; k++)
        C[k] = NAN;
    const tg_gemm_options opt = {.row_bias = bias};
    tg_gemm_ex(TG_NOTRANS, TG_NOTRANS, 2, 3, 0, 1.0f, NULL, 1, NULL, 3, 2.0f, C, 3, &opt);
    for (size_t k = 0; k < 6; k++)
        cr_assert_eq(C[k], 2.0f * bias[k % 3]);
}

/* Threaded: each thread's share of the columns takes its part of the bias row. */
Test(matmul, row_bias_same_bits_on_2_and_3_threads)
{
    static const size_t shapes[][3] = {{256, 784, 64}, {256, 64, 784}, {301, 259, 131}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        problem p = make_problem(TG_NOTRANS, TG_NOTRANS, shapes[s][0], shapes[s][1], shapes[s][2], 0, 1.0f,
                                 1.0f, 60 + s);
        float *bias = alloc_floats(p.N);
        for (size_t j = 0; j < p.N; j++)
            bias[j] = (float)j - 0.5f * (float)p.N;
        for (size_t i = 0; i < p.M; i++)
            memcpy(p.C0 + i * p.ldc, bias, p.N * sizeof(float));
        tg_set_threads(1);
        float *filled = run_path(&p, TG_PATH_AUTO);
        for (int threads = 2; threads <= 3; threads++) {
            tg_set_threads(threads);
            float *C = alloc_floats(p.M * p.ldc);
            const tg_gemm_options opt = {.row_bias = bias};
            tg_gemm_ex(p.ta, p.tb, p.M, p.N, p.K, p.alpha, p.A, p.lda, p.B, p.ldb, p.beta, C, p.ldc, &opt);
            cr_assert(memcmp(filled, C, p.M * p.ldc * sizeof(float)) == 0, "M=%zu N=%zu K=%zu on %d threads",
                      p.M, p.N, p.K, threads);
            free(C);
        }
        free(filled);
        free(bias);
        free_problem(&p);
    }
    tg_set_threads(1);
}

/* ---- tg_gemm_options.epilogue: a pass over each finished region of C ------------------------ */

typedef struct epilogue_record {
    size_t M, N;
    int *visits;        /* [M,N] how often the epilogue was given each element */
    float *seen;        /* [M,N] C's value when the epilogue was given it */
    atomic_bool misaligned; /* a region off the TG_GEMM_SPLIT grid or outside C */
    atomic_bool columns_cut; /* a region with only some of C's columns */
} epilogue_record;

/* Records what it is given, then negates it: the negation must survive (nothing rewrites a
 * region after its epilogue). */
static void record_and_negate(float *C, size_t ldc, size_t r0, size_t r1, size_t c0, size_t c1, void *ctx)
{
    epilogue_record *rec = ctx;
    bool on_grid = r0 % TG_GEMM_SPLIT == 0 && c0 % TG_GEMM_SPLIT == 0 && r0 < r1 && c0 < c1 && r1 <= rec->M &&
                   c1 <= rec->N && (r1 == rec->M || r1 % TG_GEMM_SPLIT == 0) &&
                   (c1 == rec->N || c1 % TG_GEMM_SPLIT == 0);
    if (!on_grid)
        atomic_store(&rec->misaligned, true);
    if (c0 != 0 || c1 != rec->N)
        atomic_store(&rec->columns_cut, true);
    for (size_t i = r0; i < r1 && on_grid; i++)
        for (size_t j = c0; j < c1; j++) {
            rec->visits[i * rec->N + j]++;
            rec->seen[i * rec->N + j] = C[i * ldc + j];
            C[i * ldc + j] = -C[i * ldc + j];
        }
}

/* Every element is given to the epilogue once, with its final value (the bits of the product
 * without an epilogue), on every path, with and without skipping zeros and a bias row, on 1-3
 * threads (row and column splits), and with nothing to multiply; with split_rows, in regions of
 * whole rows when there is a row block per thread. */
Test(matmul, epilogue_sees_each_final_element_once)
{
    static const size_t shapes[][3] = {{256, 784, 64}, {256, 64, 784}, {301, 259, 131}, {5, 3, 7}, {40, 33, 0}};
    for (size_t pi = 0; pi < sizeof ALL_PATHS / sizeof ALL_PATHS[0]; pi++) {
        tg_simd_path path = ALL_PATHS[pi];
        if (!tg_simd_supported(path))
            continue;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int run = 0; run < 6; run++) {
                const int threads = 1 + run % 3;
                const bool skip = (s + (size_t)threads) % 2 == 0, split_rows = run >= 3;
                problem p = make_problem(TG_NOTRANS, (tg_trans)(s % 2), shapes[s][0], shapes[s][1], shapes[s][2],
                                         (size_t)threads % 2, 1.0f, 0.5f, 70 + s);
                sprinkle_zeros(&p, 0.5, false, 71 + s);
                float *bias = alloc_floats(p.N);
                for (size_t j = 0; j < p.N; j++)
                    bias[j] = 0.25f * (float)j;
                tg_set_threads(threads);
                const tg_gemm_options plain_opt = {.row_bias = bias, .skip_zeros_of_a = skip, .path = path};
                float *plain = alloc_floats(p.M * p.ldc);
                tg_gemm_ex(p.ta, p.tb, p.M, p.N, p.K, p.alpha, p.A, p.lda, p.B, p.ldb, p.beta, plain, p.ldc,
                           &plain_opt);
                epilogue_record rec = {.M = p.M, .N = p.N, .visits = calloc(p.M * p.N, sizeof(int)), .seen = alloc_floats(p.M * p.N)};
                atomic_init(&rec.misaligned, false);
                atomic_init(&rec.columns_cut, false);
                cr_assert_not_null(rec.visits);
                tg_gemm_options opt = plain_opt;
                opt.epilogue = record_and_negate;
                opt.epilogue_ctx = &rec;
                opt.split_rows = split_rows;
                float *C = alloc_floats(p.M * p.ldc);
                tg_gemm_ex(p.ta, p.tb, p.M, p.N, p.K, p.alpha, p.A, p.lda, p.B, p.ldb, p.beta, C, p.ldc, &opt);
                cr_assert(!atomic_load(&rec.misaligned), "%s: a region off the grid (M=%zu N=%zu K=%zu, %d threads)",
                          tg_simd_name(path), p.M, p.N, p.K, threads);
                const bool rows_to_go_round = (p.M + TG_GEMM_SPLIT - 1) / TG_GEMM_SPLIT >= (size_t)threads;
                cr_assert(!(split_rows && rows_to_go_round) || !atomic_load(&rec.columns_cut),
                          "%s: split_rows, but a region with part of the columns (M=%zu N=%zu, %d threads)",
                          tg_simd_name(path), p.M, p.N, threads);
                for (size_t i = 0; i < p.M; i++)
                    for (size_t j = 0; j < p.N; j++) {
                        cr_assert_eq(rec.visits[i * p.N + j], 1, "%s: C[%zu,%zu] given %d times (M=%zu N=%zu, %d threads)",
                                     tg_simd_name(path), i, j, rec.visits[i * p.N + j], p.M, p.N, threads);
                        cr_assert(memcmp(&rec.seen[i * p.N + j], &plain[i * p.ldc + j], sizeof(float)) == 0,
                                  "%s: C[%zu,%zu] not final when given (M=%zu N=%zu K=%zu, %d threads)",
                                  tg_simd_name(path), i, j, p.M, p.N, p.K, threads);
                        cr_assert_eq(C[i * p.ldc + j], -plain[i * p.ldc + j], "%s: the epilogue's write was lost",
                                     tg_simd_name(path));
                    }
                free(rec.visits);
                free(rec.seen);
                free(C);
                free(plain);
                free(bias);
                free_problem(&p);
            }
    }
    tg_set_threads(1);
}

/* tg_transpose on each path (the packer's register transposes, 16×16 with AVX-512, 8×8 with
 * AVX2, 4×4 with NEON; plain loops on the scalar path) and its reference twin: every element lands at
 * dst[j*ldd + i] = src[i*lds + j] (values that name their place), the padding of dst's rows is
 * left alone, on shapes with and without whole 16-row groups, in one chunk or several (128
 * columns each), on 1 and 2 threads. */
static void transpose_puts_every_element_in_place(tg_simd_path path, bool ref)
{
    require_path(path);
    static const size_t shapes[][2] = {{1, 1},    {3, 5},    {16, 16}, {17, 33},  {64, 784},
                                       {784, 64}, {100, 7}, {48, 130}, {300, 300}, {40, 1000}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int threads = 1; threads <= 2; threads++) {
            tg_set_threads(threads);
            const size_t rows = shapes[s][0], cols = shapes[s][1], lds = cols + 3, ldd = rows + 5;
            float *src = alloc_floats(rows * lds), *dst = alloc_floats(cols * ldd);
            for (size_t i = 0; i < rows; i++)
                for (size_t j = 0; j < lds; j++)
                    src[i * lds + j] = (float)(i * 1000 + j);
            for (size_t k = 0; k < cols * ldd; k++)
                dst[k] = NAN;
            if (ref)
                tg_transpose_ref(dst, ldd, src, lds, rows, cols);
            else
                tg_transpose_path(path, dst, ldd, src, lds, rows, cols);
            const char *name = ref ? "ref" : tg_simd_name(path);
            for (size_t j = 0; j < cols; j++) {
                for (size_t i = 0; i < rows; i++)
                    cr_assert_eq(dst[j * ldd + i], (float)(i * 1000 + j), "%s %zux%zu: dst[%zu][%zu] = %g", name, rows,
                                 cols, j, i, dst[j * ldd + i]);
                for (size_t i = rows; i < ldd; i++)
                    cr_assert(isnan(dst[j * ldd + i]), "%s %zux%zu: padding dst[%zu][%zu] written", name, rows, cols, j, i);
            }
            free(src);
            free(dst);
        }
    tg_set_threads(1);
}

static void transpose_on_path(tg_simd_path path) { transpose_puts_every_element_in_place(path, false); }

Test(matmul, transpose_ref_puts_every_element_in_place) { transpose_puts_every_element_in_place(TG_PATH_SCALAR, true); }
TEST_EVERY_PATH(transpose_puts_every_element_in_place, transpose_on_path)
