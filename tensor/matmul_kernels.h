/* tensor/matmul_kernels.h — internal: what each instruction set contributes to tg_gemm.
 *
 * Split of the work (BLIS-style):
 *   matmul.c         threads (fixed output blocks), K blocking, packing decisions, the tile loops;
 *   matmul_tile.h    one micro-kernel (a register tile of C over one K block), a transposing
 *                    packer (for Bᵀ panels and A tiles) and the zero-skipping kernel, written
 *                    once over a vector layer;
 *   matmul_avx2.c    that layer for each instruction set (its vector width, masks, transpose),
 *   matmul_avx512.c  the tile sizes, and (AVX2, AVX-512) a vectorized list of the non-zero steps
 *   matmul_neon.c    for the zero-skipping kernel.
 *
 * A micro-kernel computes one tile of C, mr×nr, over kc steps of the reduction:
 *     acc[r][j]  = Σ_k op(A)[r,k]·op(B)[k,j]      (k = 0..kc-1, in order, one FMA per step)
 *     first K block:   C[r,j] = alpha·acc + beta·C0[r,j]  (beta == 0: C is written, never read)
 *     later K blocks:  C[r,j] = alpha·acc + C[r,j]
 * where C0 is C itself, or a bias row repeated for every r (tg_gemm_options.row_bias: the
 * product then lands on the bias without a pass that first fills C with it).
 * Every output element goes through exactly this sequence of operations whatever the tile size,
 * its position, or which thread runs it; only the K blocking (a function of K alone, chosen in
 * matmul.c) shapes the arithmetic.  That is what makes results bitwise identical for any thread
 * count, and a kernel must keep it so: no choice that changes the arithmetic may depend on M, N
 * or the tile. */
#ifndef TG_MATMUL_KERNELS_H
#define TG_MATMUL_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "matmul.h"

/* The deepest K block (matmul.c cuts K into ceil(K / TG_GEMM_KC_MAX) nearly equal blocks). */
enum { TG_GEMM_KC_MAX = 256 };

/* How a tile reads op(A). */
typedef enum tg_a_layout {
    TG_A_ROWS,   /* op(A)[r,k] = a[r*a_stride + k]: rows of A read in place (ta = NOTRANS) */
    TG_A_KMAJOR, /* op(A)[r,k] = a[k*a_stride + r]: Aᵀ read in place (ta = TRANS) or a packed panel */
} tg_a_layout;

typedef struct tg_tile {
    size_t mr, nr, kc;       /* rows (<= the kernel's mr for the layout), columns (<= its nr), depth */
    tg_a_layout a_layout;
    const float *a;
    size_t a_stride;
    const float *b;          /* op(B)[k,j] = b[k*b_stride + j], j < nr (never read beyond nr) */
    size_t b_stride;
    float *c;                /* C[r,j] = c[r*ldc + j] */
    size_t ldc;
    const float *c0;         /* C0[r,j] = c0[r*ldc0 + j]: c and ldc, or a bias row and 0 */
    size_t ldc0;
    float alpha, beta;
    bool first;              /* the first K block: apply beta (see above) */
} tg_tile;

typedef struct tg_gemm_kernel {
    size_t mr_rows, nr_rows;     /* the largest tile for TG_A_ROWS */
    size_t mr_kmajor, nr_kmajor; /* the largest tile for TG_A_KMAJOR */
    void (*tile)(const tg_tile *t);
    /* Transposes src [nc, kc] (row stride lds) into dst [kc, nc] (row stride dst_stride):
     *     dst[k*dst_stride + j] = src[j*lds + k]   for k < kc, j < nc.
     * Lanes j in [nc, round_up(nc, vector width)) may be written with anything; dst_stride must be at least
     * that rounded width.  Packs panels of op(B) for B stored N×K, and tiles of A (rows -> k-major). */
    void (*pack_transposed)(float *dst, size_t dst_stride, const float *src, size_t lds, size_t kc, size_t nc);
    /* Optional (NULL: tg_gemm_sparse_a computes densely).  The zero-skipping kernel: C rows
     * [mr <= TG_SPARSE_ROWS, nr] (any nr, in strips of its vector width) over one K block of
     * kc <= TG_GEMM_KC_MAX steps, op(A) read as TG_A_ROWS, op(B)[k,j] = b[k*b_stride + j] with
     * kc*b_stride < 2^31.  Rows go in pairs (TG_SPARSE_MR); the steps k at which both rows of a
     * pair of op(A) are zero are left out for that pair; the
     * others go through the arithmetic above, so the values are those of `tile` when B is
     * finite: an FMA with a zero factor adds ±0, which changes no non-zero accumulator.  The
     * bits too, but for one case: an accumulator that is -0 (a product that underflowed to -0
     * onto +0) and meets a zero step, which turns it into +0 in `tile` and not here.  And 0·inf
     * or 0·NaN would have been NaN. */
    void (*sparse_tile)(const tg_tile *t);
    /* The share of zeros in op(A) from which sparse_tile beats tile on this processor
     * (tg_gemm_prefers_sparse_a), measured with `bench_matmul --zeros` and `--images` and on
     * whole programs (docs/performance.md): per instruction set, and for AVX-512 per processor. */
    double (*sparse_min_zero_fraction)(void);
} tg_gemm_kernel;

enum { TG_SPARSE_MR = 2 };    /* rows that share a list of steps: the steps skipped are those where both are zero */
enum { TG_SPARSE_ROWS = 16 }; /* rows per zero-skipping tile: its pairs share each strip of B while it is in L1 */

#if defined(TG_HAVE_X86_SIMD)
extern const tg_gemm_kernel tg_gemm_kernel_avx2;
extern const tg_gemm_kernel tg_gemm_kernel_avx512;
#endif
#if defined(TG_HAVE_NEON)
extern const tg_gemm_kernel tg_gemm_kernel_neon;
#endif

#endif
