/* tensor/matmul_avx2.c — the AVX2+FMA micro-kernel, transposing packer and zero-skipping kernel
 * behind tg_gemm: their vector layer, tile sizes and dispatch (the loops themselves are
 * matmul_tile.h's, shared with AVX-512 and NEON; the blocking around them is in matmul.c).
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
enum { SPARSE_NV = 4 }; /* zero-skipping strips of 32 columns: 8 accumulators + 4 B vectors */

/* ---- the vector layer (matmul_tile.h says what each piece must do) ----------------------- */

#define TG_KERNEL_FN TG_AVX2
#define TG_KERNEL_INLINE TG_INLINE_AVX2
enum { MAX_MR = MR, MAX_NV = NV };

typedef __m256 vf;
typedef __m256i vmask; /* AVX2 masks are vectors: lane i is all ones or all zeros */

TG_INLINE_AVX2 vf vf_zero(void) { return _mm256_setzero_ps(); }
TG_INLINE_AVX2 vf vf_set1(float x) { return _mm256_set1_ps(x); }
TG_INLINE_AVX2 vf vf_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
TG_INLINE_AVX2 vf vf_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
TG_INLINE_AVX2 vmask lanes(size_t n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)); /* n <= NV·VW */
}
/* A plain load or store for a full vector, otherwise a masked one (slower). */
TG_INLINE_AVX2 vf vf_load_part(const float *p, size_t n, vmask m)
{
    return n >= VW ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m);
}
TG_INLINE_AVX2 void vf_store_part(float *p, vf v, size_t n, vmask m)
{
    if (n >= VW)
        _mm256_storeu_ps(p, v);
    else
        _mm256_maskstore_ps(p, m, v);
}
TG_INLINE_AVX2 void vf_store(float *p, vf v) { _mm256_storeu_ps(p, v); }
/* No prefetch of C here: this kernel was tuned without it, and this project's machine, with
 * AVX-512, cannot measure a change to it. */
TG_INLINE_AVX2 void prefetch_c(const float *p) { (void)p; }

/* In-register transpose of an 8×8 block: on return r[i] holds column i of the input rows. */
TG_INLINE_AVX2 void transpose_block(vf r[8])
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

/* ---- the micro-kernel and the packer (written once, for both instruction sets) ------------ */

#include "matmul_tile.h"

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

const tg_gemm_kernel tg_gemm_kernel_avx2 = {
    .mr_rows = MR,
    .nr_rows = NV * VW,
    .mr_kmajor = MR,
    .nr_kmajor = NV * VW,
    .tile = tile_avx2,
    .pack_transposed = pack_transposed,
    .sparse_tile = sparse_tile,
    .sparse_min_zero_fraction = 0.45,
};

#endif /* TG_HAVE_X86_SIMD */
