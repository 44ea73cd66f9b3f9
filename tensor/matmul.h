/* tensor/matmul.h — C = alpha·op(A)·op(B) + beta·C, float32, row-major.
 *
 *   op(A) is M×K: A itself (ta = TG_NOTRANS, A stored M×K, lda >= K)
 *                 or Aᵀ    (ta = TG_TRANS,   A stored K×M, lda >= M)
 *   op(B) is K×N: B itself (tb = TG_NOTRANS, B stored K×N, ldb >= N)
 *                 or Bᵀ    (tb = TG_TRANS,   B stored N×K, ldb >= K)
 *   C is M×N, ldc >= N.
 *
 * BLAS conventions: beta == 0 overwrites C without reading it (NaNs in C do not propagate);
 * K == 0 or alpha == 0 scales C by beta only.  Transposes are never materialized for the
 * four combinations.
 *
 * Paths: a plain scalar reference kernel (kept forever, the tests' yardstick), AVX2+FMA and
 * AVX-512 on x86-64, NEON on AArch64.  The path is chosen once from what the processor supports
 * and can be forced with the environment variable TG_SIMD=scalar|avx2|avx512|neon (read once, at
 * first use; a path this build or processor cannot run is ignored with a warning).
 * Work is split across tg_get_threads() OpenMP threads by output rows/columns on fixed
 * boundaries, so the result is bitwise identical for any thread count; small products run on
 * one thread. */
#ifndef TG_MATMUL_H
#define TG_MATMUL_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tg_trans { TG_NOTRANS = 0, TG_TRANS = 1 } tg_trans;

typedef enum tg_simd_path {
    TG_PATH_AUTO = 0, /* whatever tg_simd_active() says */
    TG_PATH_SCALAR,
    TG_PATH_AVX2,
    TG_PATH_AVX512,
    TG_PATH_NEON,     /* AArch64 Advanced SIMD (every AArch64 processor has it) */
    TG_PATH_COUNT     /* not a path: one past the last, for loops over paths */
} tg_simd_path;

/* The path tg_gemm uses: TG_SIMD if set and supported, else the best supported path. */
tg_simd_path tg_simd_active(void);
/* Whether this build and this processor can run `path`. */
bool tg_simd_supported(tg_simd_path path);
/* The path a kernel asked for `path` runs on: TG_PATH_AUTO is tg_simd_active(), a path this
 * build or processor cannot run falls back to the scalar reference. */
tg_simd_path tg_simd_resolve(tg_simd_path path);
const char *tg_simd_name(tg_simd_path path);
/* Parses "auto", "scalar", "avx2", "avx512", "neon"; returns -1 for anything else. */
int tg_simd_parse(const char *name);

/* The dispatched product (preconditions above; no checks, no errors). */
void tg_gemm(tg_trans ta, tg_trans tb, size_t M, size_t N, size_t K,
             float alpha, const float *A, size_t lda, const float *B, size_t ldb,
             float beta, float *C, size_t ldc);

/* The same product on an explicit path (TG_PATH_AUTO = tg_simd_active()); an unsupported path
 * falls back to the scalar reference. Used by tests and benchmarks. */
void tg_gemm_path(tg_simd_path path, tg_trans ta, tg_trans tb, size_t M, size_t N, size_t K,
                  float alpha, const float *A, size_t lda, const float *B, size_t ldb,
                  float beta, float *C, size_t ldc);

/* tg_gemm for an op(A) with many zeros (images, ReLU outputs): the same product, skipping the
 * steps of the reduction at which A is zero.  The same bits as tg_gemm when B holds no infinity
 * or NaN (a zero of A times one then contributes nothing rather than NaN, as in reference BLAS),
 * except that a zero result can come out as -0 instead of +0 when products underflow
 * (matmul_kernels.h).  The AVX2, AVX-512 and NEON paths have the kernel (tg_gemm_skips_zeros),
 * for B not transposed; otherwise this is tg_gemm.  It pays when about half of A is zero, as in
 * images, and costs when A has few zeros (tg_gemm_prefers_sparse_a decides; docs/performance.md
 * has the measurements). */
void tg_gemm_sparse_a(tg_trans ta, tg_trans tb, size_t M, size_t N, size_t K,
                      float alpha, const float *A, size_t lda, const float *B, size_t ldb,
                      float beta, float *C, size_t ldc);

/* Rows or columns of C per thread work block: threads split C on multiples of this (matmul.c). */
#define TG_GEMM_SPLIT 16

/* An elementwise pass fused onto a product (tg_gemm_options.epilogue): called with a region of
 * C, rows [r0, r1) × columns [c0, c1) in C's own coordinates (C is the whole output, ldc its
 * row stride), once its values are final, on the thread that computed it, while the region is
 * still in that core's cache.  Every element of C is in exactly one region.  r0 and c0 are
 * multiples of TG_GEMM_SPLIT and r1, c1 are too unless they are M, N: regions are unions of
 * the squares of a TG_GEMM_SPLIT grid over C.  How C is cut into regions depends on the
 * thread count, the grid does not: a reduction that keeps one partial result per grid square
 * and adds them in a fixed order gets the same bits on any number of threads. */
typedef void (*tg_gemm_epilogue)(float *C, size_t ldc, size_t r0, size_t r1, size_t c0, size_t c1, void *ctx);

/* What tg_gemm_ex may do beyond tg_gemm (zero-initialize it, then set what you need). */
typedef struct tg_gemm_options {
    /* [N]: C = alpha·op(A)·op(B) + beta·row_bias in every row; C's old values are not read.
     * The same bits as filling C's rows with row_bias first (a Dense layer's bias), one pass
     * over C fewer. */
    const float *row_bias;
    bool skip_zeros_of_a; /* the zero-skipping kernel of tg_gemm_sparse_a */
    tg_simd_path path;    /* TG_PATH_AUTO (0): tg_simd_active() */
    tg_gemm_epilogue epilogue; /* NULL: none */
    void *epilogue_ctx;
    /* Split C among threads by rows even when it has more column blocks than row blocks (the
     * default then splits columns), if it has a row block per thread at least.  For an
     * epilogue that also reads row-major arrays beside C: each thread then reads whole rows,
     * and those it wrote itself earlier stay in its cache. */
    bool split_rows;
} tg_gemm_options;

/* tg_gemm with options (NULL: none, which is tg_gemm). */
void tg_gemm_ex(tg_trans ta, tg_trans tb, size_t M, size_t N, size_t K, float alpha, const float *A,
                size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc,
                const tg_gemm_options *opt);

/* Whether `path` (TG_PATH_AUTO: the active one) has a zero-skipping kernel for tg_gemm_sparse_a;
 * false for the scalar reference and for a path this build or processor cannot run. */
bool tg_gemm_skips_zeros(tg_simd_path path);

/* The share of zeros in op(A) from which tg_gemm_sparse_a pays on `path` (TG_PATH_AUTO: the active
 * one) on this processor: measured per instruction set and, for AVX-512, per processor (45% where
 * the 512-bit FMAs run in halves, as on AMD's Zen 4, 75% where they run whole); above 1 for a
 * path without the zero-skipping kernel. */
double tg_gemm_sparse_min_zero_fraction(tg_simd_path path);

/* Whether A [rows, cols] (row stride lda) has that share of zeros on the active path, judged from
 * a sample of about 16K elements in whole rows spread over A; false at once on a path without
 * the zero-skipping kernel. */
bool tg_gemm_prefers_sparse_a(const float *A, size_t rows, size_t cols, size_t lda);

/* dst [cols, rows] (row stride ldd >= rows) = src [rows, cols] (row stride lds) transposed:
 * dst[j*ldd + i] = src[i*lds + j]; src and dst do not overlap.  Nothing else of dst is written.
 * Square blocks of the vector width (16×16 with AVX-512, 8×8 with AVX2) are transposed in
 * registers (the products' packer), split over the threads by columns when large. */
void tg_transpose(float *dst, size_t ldd, const float *src, size_t lds, size_t rows, size_t cols);
/* tg_transpose on an explicit path (TG_PATH_AUTO = tg_simd_active(); an unsupported path and
 * the scalar one run the reference loops).  For tests and benchmarks. */
void tg_transpose_path(tg_simd_path path, float *dst, size_t ldd, const float *src, size_t lds, size_t rows,
                       size_t cols);
/* The same with two plain loops: the reference twin. */
void tg_transpose_ref(float *dst, size_t ldd, const float *src, size_t lds, size_t rows, size_t cols);

/* The plain reference kernel: three loops, single thread, no SIMD. */
void tg_gemm_ref(tg_trans ta, tg_trans tb, size_t M, size_t N, size_t K,
                 float alpha, const float *A, size_t lda, const float *B, size_t ldb,
                 float beta, float *C, size_t ldc);

/* Checked tensor form: C[M,N] = alpha·op(A)·op(B) + beta·C on 2-D readings of the tensors
 * (see tensor.h).  Reports shape mismatches, e.g.
 * "matmul: [32,784] x [64,784]: inner dimensions differ". */
int tg_tensor_matmul(tg_tensor *C, const tg_tensor *A, tg_trans ta, const tg_tensor *B, tg_trans tb,
              float alpha, float beta, tg_error *err);

#ifdef __cplusplus
}
#endif

#endif
