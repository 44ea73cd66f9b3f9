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
#include <pthread.h>

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

/* ---- the zero-skipping kernel's list of steps (the kernel itself is matmul_tile.h's) ---- */

/* compress_lanes[m]: the lanes set in the 8-bit mask m, in order, one byte each (the rest 0):
 * AVX2 has no compress instruction, so a permutation from this table packs the chosen lanes to
 * the front.  Built once, at the first zero-skipping product. */
static uint64_t compress_lanes[256];
static pthread_once_t compress_lanes_once = PTHREAD_ONCE_INIT;

static void build_compress_lanes(void)
{
    for (unsigned m = 0; m < 256; m++) {
        uint64_t entry = 0;
        unsigned out = 0;
        for (unsigned lane = 0; lane < 8; lane++)
            if (m & (1u << lane))
                entry |= (uint64_t)lane << (8 * out++);
        compress_lanes[m] = entry;
    }
}

/* The contract of matmul_tile.h's plain list, eight steps at a time: compare, pack the non-zero
 * steps' offsets and values to the front with one permutation, store whole vectors, advance by
 * the count.  (The plain loop costs a compare and a branch-free update per step, as much as
 * the FMAs it saves at 50% zeros.) */
#define LIST_NONZERO_STEPS
TG_INLINE_AVX2 size_t list_nonzero_steps(const int MR, const float *a, size_t as, size_t kc, size_t b_stride,
                                         int32_t *off, float *val)
{
    const __m256i lane_offsets = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                                    _mm256_set1_epi32((int)b_stride));
    size_t n = 0;
    for (size_t k = 0; k < kc; k += VW) {
        const vmask valid = lanes(kc - k);
        const vf x = vf_load_part(a + k, kc - k, valid);
        const vf y = MR == 2 ? vf_load_part(a + as + k, kc - k, valid) : vf_zero();
        const vf nonzero = _mm256_or_ps(_mm256_cmp_ps(x, vf_zero(), _CMP_NEQ_UQ), _mm256_cmp_ps(y, vf_zero(), _CMP_NEQ_UQ));
        const unsigned m = (unsigned)_mm256_movemask_ps(nonzero);
        const __m256i pack = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)compress_lanes[m]));
        const __m256i steps = _mm256_add_epi32(lane_offsets, _mm256_set1_epi32((int)(k * b_stride)));
        _mm256_storeu_si256((__m256i *)(off + n), _mm256_permutevar8x32_epi32(steps, pack));
        const vf xs = _mm256_permutevar8x32_ps(x, pack), ys = _mm256_permutevar8x32_ps(y, pack);
        const vf lo = _mm256_unpacklo_ps(xs, ys); /* x0 y0 x1 y1 | x4 y4 x5 y5 */
        const vf hi = _mm256_unpackhi_ps(xs, ys); /* x2 y2 x3 y3 | x6 y6 x7 y7 */
        _mm256_storeu_ps(val + 2 * n, _mm256_permute2f128_ps(lo, hi, 0x20));
        _mm256_storeu_ps(val + 2 * n + VW, _mm256_permute2f128_ps(lo, hi, 0x31));
        n += (size_t)__builtin_popcount(m);
    }
    return n;
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

/* sparse_tile with the table of lane permutations in place. */
static TG_AVX2 void sparse_tile_avx2(const tg_tile *t)
{
    pthread_once(&compress_lanes_once, build_compress_lanes);
    sparse_tile(t);
}

static TG_AVX2 void tile_avx2(const tg_tile *t)
{
    if (t->a_layout == TG_A_KMAJOR)
        tile_layout(true, t);
    else
        tile_layout(false, t);
}

/* Measured on the Xeon's AVX2 path and on Zen 5: AVX2's dense tile is slow enough that skipping
 * half the steps pays (docs/performance.md). */
static double sparse_min_zero_fraction(void) { return 0.45; }

const tg_gemm_kernel tg_gemm_kernel_avx2 = {
    .mr_rows = MR,
    .nr_rows = NV * VW,
    .mr_kmajor = MR,
    .nr_kmajor = NV * VW,
    .tile = tile_avx2,
    .pack_transposed = pack_transposed,
    .sparse_tile = sparse_tile_avx2,
    .sparse_min_zero_fraction = sparse_min_zero_fraction,
};

#endif /* TG_HAVE_X86_SIMD */
