/* tensor/matmul_avx2.c — the AVX2+FMA micro-kernel and transposing packer behind tg_gemm
 * (the blocking around them is in matmul.c).
 *
 * Compiled without -mavx2: every function carries a target attribute, and matmul.c only calls
 * in here after checking the processor (so the library still runs on any x86-64).
 *
 * Register tile (16 ymm registers of 8 floats), the same for both A layouts: 6×16, that is
 * 12 accumulators + 2 vectors of a B row + 1 broadcast of op(A)[r,k].  Each step k loads one row
 * of the B panel once and reuses it for the 6 rows of the tile.  Full vectors use plain loads and
 * stores; only a tile's last partial vector uses the (slower) masked forms. */
#include "matmul_kernels.h"

#if defined(TG_HAVE_X86_SIMD)

#include <immintrin.h>

#define TG_AVX2 __attribute__((target("avx2,fma")))
#define TG_INLINE_AVX2 static inline __attribute__((always_inline, target("avx2,fma")))

enum { VW = 8 }; /* floats per vector */
enum { MR = 6, NV = 2 };

/* ---- the vector layer ------------------------------------------------------------------- */

typedef __m256 vf;

TG_INLINE_AVX2 vf vf_zero(void) { return _mm256_setzero_ps(); }
TG_INLINE_AVX2 vf vf_set1(float x) { return _mm256_set1_ps(x); }
TG_INLINE_AVX2 vf vf_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
TG_INLINE_AVX2 vf vf_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
/* A lane mask selecting lanes [0, n), n in 0..8. */
TG_INLINE_AVX2 __m256i lanes(size_t n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
/* Loads lanes [0, n): a plain load for a full vector, otherwise a masked one that never touches
 * memory past lane n. */
TG_INLINE_AVX2 vf vf_load_n(const float *p, size_t n, __m256i m)
{
    return n >= VW ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m);
}
TG_INLINE_AVX2 void vf_store_n(float *p, vf v, size_t n, __m256i m)
{
    if (n >= VW)
        _mm256_storeu_ps(p, v);
    else
        _mm256_maskstore_ps(p, m, v);
}

/* ---- the micro-kernel ------------------------------------------------------------------- */

/* C tile [ROWS, nr] (nr <= COLS_V*8) over kc steps.
 *   op(A) tile [ROWS, kc]: KMAJOR ? a[k*a_stride + r] : a[r*a_stride + k]
 *   op(B) panel [kc, nr]:  b[k*b_stride + j]
 * ROWS, COLS_V and KMAJOR are compile-time constants at every call site.  The `unroll` pragmas
 * make GCC unroll the loops over r and v before it decides where acc lives: only then does every
 * acc[r][v] become its own register. */
TG_INLINE_AVX2 void tile_kernel(const int ROWS, const int COLS_V, const bool KMAJOR, const tg_tile *t)
{
    size_t n[NV];
    __m256i mask[NV];
    #pragma GCC unroll 2
    for (int v = 0; v < COLS_V; v++) {
        n[v] = t->nr > (size_t)v * VW ? t->nr - (size_t)v * VW : 0;
        mask[v] = lanes(n[v]);
    }

    vf acc[MR][NV];
    #pragma GCC unroll 8
    for (int r = 0; r < ROWS; r++) {
        #pragma GCC unroll 2
        for (int v = 0; v < COLS_V; v++)
            acc[r][v] = vf_zero();
    }

    const float *a = t->a, *b = t->b;
    const size_t as = t->a_stride, bs = t->b_stride;
    #pragma GCC unroll 4
    for (size_t k = 0; k < t->kc; k++) {
        vf brow[NV]; /* op(B)[k, 0..nr) */
        #pragma GCC unroll 2
        for (int v = 0; v < COLS_V; v++)
            brow[v] = vf_load_n(b + v * VW, n[v], mask[v]);
        #pragma GCC unroll 8
        for (int r = 0; r < ROWS; r++) {
            vf ar = vf_set1(KMAJOR ? a[r] : a[r * as]); /* op(A)[r, k] in every lane */
            #pragma GCC unroll 2
            for (int v = 0; v < COLS_V; v++)
                acc[r][v] = vf_fma(ar, brow[v], acc[r][v]);
        }
        a += KMAJOR ? as : 1;
        b += bs;
    }

    const vf alpha = vf_set1(t->alpha), beta = vf_set1(t->beta);
    const bool overwrite = t->first && t->beta == 0.0f;
    #pragma GCC unroll 8
    for (int r = 0; r < ROWS; r++) {
        float *c = t->c + r * t->ldc;
        const float *c0 = t->c0 + r * t->ldc0; /* beta's operand in the first K block */
        #pragma GCC unroll 2
        for (int v = 0; v < COLS_V; v++) {
            vf out;
            if (overwrite)
                out = vf_mul(alpha, acc[r][v]);
            else if (t->first)
                out = vf_fma(alpha, acc[r][v], vf_mul(beta, vf_load_n(c0 + v * VW, n[v], mask[v])));
            else
                out = vf_fma(alpha, acc[r][v], vf_load_n(c + v * VW, n[v], mask[v]));
            vf_store_n(c + v * VW, out, n[v], mask[v]);
        }
    }
}

TG_INLINE_AVX2 void tile_with_rows(const int ROWS, const bool KMAJOR, const tg_tile *t)
{
    if (t->nr > VW)
        tile_kernel(ROWS, 2, KMAJOR, t);
    else
        tile_kernel(ROWS, 1, KMAJOR, t);
}

TG_INLINE_AVX2 void tile_layout(const bool KMAJOR, const tg_tile *t)
{
    switch (t->mr) {
    case 1: tile_with_rows(1, KMAJOR, t); break;
    case 2: tile_with_rows(2, KMAJOR, t); break;
    case 3: tile_with_rows(3, KMAJOR, t); break;
    case 4: tile_with_rows(4, KMAJOR, t); break;
    case 5: tile_with_rows(5, KMAJOR, t); break;
    case 6: tile_with_rows(6, KMAJOR, t); break;
    default: break;
    }
}

static TG_AVX2 void tile_avx2(const tg_tile *t)
{
    if (t->a_layout == TG_A_KMAJOR)
        tile_layout(true, t);
    else
        tile_layout(false, t);
}

/* ---- packing: Bᵀ panels and A tiles ----------------------------------------------------- */

/* In-register transpose of an 8×8 block: on return r[i] holds column i of the input rows. */
TG_INLINE_AVX2 void transpose8(vf r[8])
{
    vf t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);     /* per 128-bit lane: a0 b0 a1 b1 */
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]); /*                   a2 b2 a3 b3 */
    }
    for (int g = 0; g < 8; g += 4) { /* lane l of u[g + x] = column 4l+x of rows g..g+3 */
        u[g + 0] = _mm256_shuffle_ps(t[g], t[g + 2], 0x44);
        u[g + 1] = _mm256_shuffle_ps(t[g], t[g + 2], 0xEE);
        u[g + 2] = _mm256_shuffle_ps(t[g + 1], t[g + 3], 0x44);
        u[g + 3] = _mm256_shuffle_ps(t[g + 1], t[g + 3], 0xEE);
    }
    for (int x = 0; x < 4; x++) {
        r[x] = _mm256_permute2f128_ps(u[x], u[4 + x], 0x20);
        r[4 + x] = _mm256_permute2f128_ps(u[x], u[4 + x], 0x31);
    }
}

/* dst [kc, nc] (row stride dst_stride) = the transpose of b [nc, kc] (row stride ldb), in 8×8
 * blocks; partial blocks load only the valid part and store only valid rows. */
static TG_AVX2 void pack_transposed_avx2(float *dst, size_t dst_stride, const float *b, size_t ldb,
                                 size_t kc, size_t nc)
{
    for (size_t j0 = 0; j0 < nc; j0 += VW) {
        size_t nj = nc - j0 < VW ? nc - j0 : VW;
        for (size_t k0 = 0; k0 < kc; k0 += VW) {
            size_t nk = kc - k0 < VW ? kc - k0 : VW;
            __m256i km = lanes(nk);
            vf r[8];
            for (size_t j = 0; j < VW; j++)
                r[j] = j < nj ? vf_load_n(b + (j0 + j) * ldb + k0, nk, km) : vf_zero();
            transpose8(r);
            for (size_t k = 0; k < nk; k++)
                _mm256_storeu_ps(dst + (k0 + k) * dst_stride + j0, r[k]);
        }
    }
}

const tg_gemm_kernel tg_gemm_kernel_avx2 = {
    .mr_rows = MR,
    .nr_rows = NV * VW,
    .mr_kmajor = MR,
    .nr_kmajor = NV * VW,
    .tile = tile_avx2,
    .pack_transposed = pack_transposed_avx2,
};

#endif /* TG_HAVE_X86_SIMD */
