/* tensor/matmul_avx512.c — the AVX-512 micro-kernel and transposing packer behind tg_gemm: their
 * vector layer, tile sizes and dispatch (the loops themselves are matmul_tile.h's, shared with
 * AVX2 and NEON; the blocking around them is in matmul.c), and the compressing list of the
 * zero-skipping kernel's steps.
 *
 * Compiled without -mavx512f: every function carries a target attribute, and matmul.c only calls
 * in here after checking the processor (so the library still runs on any x86-64).
 *
 * Register tiles (32 zmm registers of 16 floats):
 *   TG_A_KMAJOR  14×32: 28 accumulators + 2 vectors of a B row; the 14 values of op(A)[.,k] are
 *                contiguous, so they are broadcast straight from memory into the FMAs.
 *   TG_A_ROWS     6×64: 24 accumulators + 4 vectors of a B row; op(A)[r,k] comes from 6 separate
 *                rows of A (6 address streams), which is why this tile is shorter and wider.
 * Each step k loads one row of the B panel once and reuses it for every row of the tile, so the
 * loads per FMA stay well below one.  Partial tiles use the same code: a tile with fewer rows is
 * another instantiation, and missing columns are masked lanes (loads never touch them). */
#include "matmul_kernels.h"

#include "cpu.h"

#if defined(TG_HAVE_X86_SIMD)

#include <immintrin.h>
#include <stdint.h>

/* Where the zero-skipping kernel starts to pay.  Skipping a step saves that step's FMAs and costs
 * its share of the list (compress, permute, stores) and an indirect load of B's row.  Where a
 * 512-bit FMA runs as two 256-bit halves (Zen 4) the dense tile has AVX2's peak and skipping pays
 * from 45% zeros, as on the AVX2 path.  Where it runs whole (Zen 5, Intel's server cores) the
 * dense tile is twice as fast against the same list: with Fashion-MNIST's 50% zeros the two
 * kernels are even on a product and the dense one wins whole training runs, and with zeros
 * spread at random skipping pays from 70-80% (docs/performance.md).  Which processors count as
 * which, and the ones only guessed: tensor/cpu.h. */
static double sparse_min_zero_fraction(void) { return tg_x86_fma512_whole(tg_x86_model_here()) ? 0.75 : 0.45; }

#define TG_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq")))
#define TG_INLINE_AVX512 static inline __attribute__((always_inline, target("avx512f,avx512vl,avx512dq")))

enum { VW = 16 };                 /* floats per vector */
enum { KMAJOR_MR = 14, KMAJOR_NV = 2 };
enum { ROWS_MR = 6, ROWS_NV = 4 };
enum { MAX_MR = 14, MAX_NV = 4 };
enum { SPARSE_NV = 4 };          /* zero-skipping strips of 64 columns: 8 accumulators */

/* ---- the vector layer (matmul_tile.h says what each piece must do) ----------------------- */

#define TG_KERNEL_FN TG_AVX512
#define TG_KERNEL_INLINE TG_INLINE_AVX512

typedef __m512 vf;
typedef __mmask16 vmask;

TG_INLINE_AVX512 vf vf_zero(void) { return _mm512_setzero_ps(); }
TG_INLINE_AVX512 vf vf_set1(float x) { return _mm512_set1_ps(x); }
TG_INLINE_AVX512 vf vf_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
TG_INLINE_AVX512 vf vf_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
TG_INLINE_AVX512 vmask lanes(size_t n) { return n >= VW ? (vmask)0xFFFF : (vmask)((1u << n) - 1u); }
/* Masked either way: a full vector's mask is all ones (a constant where n is one). */
TG_INLINE_AVX512 vf vf_load_part(const float *p, size_t n, vmask m)
{
    (void)n;
    return _mm512_maskz_loadu_ps(m, p);
}
TG_INLINE_AVX512 void vf_store_part(float *p, vf v, size_t n, vmask m)
{
    (void)n;
    _mm512_mask_storeu_ps(p, m, v);
}
TG_INLINE_AVX512 void vf_store(float *p, vf v) { _mm512_storeu_ps(p, v); }
TG_INLINE_AVX512 void prefetch_c(const float *p) { _mm_prefetch((const char *)p, _MM_HINT_T0); }

/* In-register transpose of a 16×16 block: on return r[i] holds column i of the input rows.
 * Three shuffle stages: 2×2 blocks of floats, then of float pairs, then a 4×4 transpose of the
 * 128-bit lanes. */
TG_INLINE_AVX512 void transpose_block(vf r[16])
{
    vf t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);     /* per 128-bit lane: a0 b0 a1 b1 */
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]); /*                   a2 b2 a3 b3 */
    }
    for (int g = 0; g < 16; g += 4) { /* rows 4g'..4g'+3 -> u[g + x] lane l = column 4l+x */
        __m512d t0 = _mm512_castps_pd(t[g]), t1 = _mm512_castps_pd(t[g + 1]);
        __m512d t2 = _mm512_castps_pd(t[g + 2]), t3 = _mm512_castps_pd(t[g + 3]);
        u[g + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
        u[g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
        u[g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
        u[g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
    }
    for (int x = 0; x < 4; x++) { /* lane l of u[4g + x] is column 4l+x of rows 4g..4g+3 */
        vf s0 = _mm512_shuffle_f32x4(u[x], u[4 + x], 0x44);
        vf s1 = _mm512_shuffle_f32x4(u[x], u[4 + x], 0xEE);
        vf s2 = _mm512_shuffle_f32x4(u[8 + x], u[12 + x], 0x44);
        vf s3 = _mm512_shuffle_f32x4(u[8 + x], u[12 + x], 0xEE);
        r[x] = _mm512_shuffle_f32x4(s0, s2, 0x88);
        r[4 + x] = _mm512_shuffle_f32x4(s0, s2, 0xDD);
        r[8 + x] = _mm512_shuffle_f32x4(s1, s3, 0x88);
        r[12 + x] = _mm512_shuffle_f32x4(s1, s3, 0xDD);
    }
}

/* ---- the zero-skipping kernel's list of steps (the kernel itself is matmul_tile.h's) ---- */

/* Lists the steps k < kc at which either of the MR (1 or 2) rows of op(A) [MR, kc] (row stride
 * as) is non-zero:  off[e] = k·b_stride (where op(B)'s row k starts),  val[2e + r] = op(A)[r, k]
 * (0 for a row that is zero there; NaN counts as non-zero).  Whole vectors are stored, so both
 * arrays need room for kc rounded up to 16 entries (val twice that).  Returns the count.
 * Uses the register form of compress: the memory form is microcoded on Zen 4. */
#define LIST_NONZERO_STEPS
TG_INLINE_AVX512 size_t list_nonzero_steps(const int MR, const float *a, size_t as, size_t kc, size_t b_stride,
                                           int32_t *off, float *val)
{
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i stride = _mm512_set1_epi32((int)b_stride);
    /* interleave two compressed rows: (x0 y0 x1 y1 ...), low and high halves */
    const __m512i pick_lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i pick_hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    size_t n = 0;
    for (size_t k = 0; k < kc; k += VW) {
        const __mmask16 valid = lanes(kc - k);
        vf row[TG_SPARSE_MR] = {vf_zero(), vf_zero()};
        __mmask16 nonzero = 0;
        for (int r = 0; r < MR; r++) {
            row[r] = vf_load_part(a + r * as + k, kc - k, valid);
            nonzero |= _mm512_mask_cmp_ps_mask(valid, row[r], vf_zero(), _CMP_NEQ_UQ);
        }
        __m512i steps = _mm512_mullo_epi32(_mm512_add_epi32(lane, _mm512_set1_epi32((int)k)), stride);
        _mm512_storeu_si512(off + n, _mm512_maskz_compress_epi32(nonzero, steps));
        vf x = _mm512_maskz_compress_ps(nonzero, row[0]), y = _mm512_maskz_compress_ps(nonzero, row[1]);
        _mm512_storeu_ps(val + 2 * n, _mm512_permutex2var_ps(x, pick_lo, y));
        _mm512_storeu_ps(val + 2 * n + VW, _mm512_permutex2var_ps(x, pick_hi, y));
        n += (size_t)__builtin_popcount(nonzero);
    }
    return n;
}

/* ---- the micro-kernel and the packer (written once, for both instruction sets) ------------ */

#include "matmul_tile.h"

/* The tile with MR rows; picks the vector count from t->nr. */
TG_INLINE_AVX512 void tile_with_rows(const int MR, const bool KMAJOR, const tg_tile *t)
{
    switch ((t->nr + VW - 1) / VW) {
    case 1: tile_kernel(MR, 1, KMAJOR, t); break;
    case 2: tile_kernel(MR, 2, KMAJOR, t); break;
    case 3: if (!KMAJOR) tile_kernel(MR, 3, KMAJOR, t); break;
    case 4: if (!KMAJOR) tile_kernel(MR, 4, KMAJOR, t); break;
    default: break;
    }
}

static TG_AVX512 void tile_kmajor(const tg_tile *t)
{
    switch (t->mr) {
    case 1: tile_with_rows(1, true, t); break;
    case 2: tile_with_rows(2, true, t); break;
    case 3: tile_with_rows(3, true, t); break;
    case 4: tile_with_rows(4, true, t); break;
    case 5: tile_with_rows(5, true, t); break;
    case 6: tile_with_rows(6, true, t); break;
    case 7: tile_with_rows(7, true, t); break;
    case 8: tile_with_rows(8, true, t); break;
    case 9: tile_with_rows(9, true, t); break;
    case 10: tile_with_rows(10, true, t); break;
    case 11: tile_with_rows(11, true, t); break;
    case 12: tile_with_rows(12, true, t); break;
    case 13: tile_with_rows(13, true, t); break;
    case 14: tile_with_rows(14, true, t); break;
    default: break;
    }
}

static TG_AVX512 void tile_rows(const tg_tile *t)
{
    switch (t->mr) {
    case 1: tile_with_rows(1, false, t); break;
    case 2: tile_with_rows(2, false, t); break;
    case 3: tile_with_rows(3, false, t); break;
    case 4: tile_with_rows(4, false, t); break;
    case 5: tile_with_rows(5, false, t); break;
    case 6: tile_with_rows(6, false, t); break;
    default: break;
    }
}

static TG_AVX512 void tile_avx512(const tg_tile *t)
{
    if (t->a_layout == TG_A_KMAJOR)
        tile_kmajor(t);
    else
        tile_rows(t);
}

const tg_gemm_kernel tg_gemm_kernel_avx512 = {
    .mr_rows = ROWS_MR,
    .nr_rows = ROWS_NV * VW,
    .mr_kmajor = KMAJOR_MR,
    .nr_kmajor = KMAJOR_NV * VW,
    .tile = tile_avx512,
    .pack_transposed = pack_transposed,
    .sparse_tile = sparse_tile,
    .sparse_min_zero_fraction = sparse_min_zero_fraction,
};

#endif /* TG_HAVE_X86_SIMD */
