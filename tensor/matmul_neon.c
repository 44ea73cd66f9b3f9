/* tensor/matmul_neon.c — the AArch64 NEON (Advanced SIMD) micro-kernel, transposing packer and
 * zero-skipping kernel behind tg_gemm: their vector layer, tile sizes and dispatch (the loops
 * themselves are matmul_tile.h's, shared with AVX2 and AVX-512; the blocking around them is in
 * matmul.c).
 *
 * Every AArch64 processor has NEON, so nothing here is chosen at run time beyond TG_SIMD.
 *
 * Register tile (32 q registers of 4 floats), the same for both A layouts: 8×12, that is
 * 24 accumulators + 3 vectors of a B row + 1 broadcast of op(A)[r,k].  Each step k loads one row
 * of the B panel once and reuses it for the 8 rows of the tile.  NEON has no masked loads or
 * stores: a tile's last partial vector goes through a small buffer, so memory past the tile's
 * columns is never touched (as the masked forms of the x86 layers guarantee). */
#include "matmul_kernels.h"

#if defined(TG_HAVE_NEON)

#include <arm_neon.h>

#define TG_KERNEL_FN
#define TG_KERNEL_INLINE static inline __attribute__((always_inline))

enum { VW = 4 }; /* floats per vector */
enum { MR = 8, NV = 3 };
enum { MAX_MR = MR, MAX_NV = NV };
enum { SPARSE_NV = 8 }; /* zero-skipping strips of 32 columns: 16 accumulators + 8 B vectors */

/* ---- the vector layer (matmul_tile.h says what each piece must do) ----------------------- */

typedef float32x4_t vf;
typedef size_t vmask; /* the number of valid lanes: NEON loads and stores are all or nothing */

TG_KERNEL_INLINE vf vf_zero(void) { return vdupq_n_f32(0.0f); }
TG_KERNEL_INLINE vf vf_set1(float x) { return vdupq_n_f32(x); }
TG_KERNEL_INLINE vf vf_fma(vf a, vf b, vf c) { return vfmaq_f32(c, a, b); } /* c + a·b, one rounding */
TG_KERNEL_INLINE vf vf_mul(vf a, vf b) { return vmulq_f32(a, b); }
TG_KERNEL_INLINE vmask lanes(size_t n) { return n < VW ? n : VW; }
/* A plain load for a full vector; otherwise the valid lanes through a zeroed buffer. */
TG_KERNEL_INLINE vf vf_load_part(const float *p, size_t n, vmask m)
{
    (void)m;
    if (n >= VW)
        return vld1q_f32(p);
    float part[VW] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (size_t i = 0; i < n; i++)
        part[i] = p[i];
    return vld1q_f32(part);
}
TG_KERNEL_INLINE void vf_store_part(float *p, vf v, size_t n, vmask m)
{
    (void)m;
    if (n >= VW) {
        vst1q_f32(p, v);
        return;
    }
    float part[VW];
    vst1q_f32(part, v);
    for (size_t i = 0; i < n; i++)
        p[i] = part[i];
}
TG_KERNEL_INLINE void vf_store(float *p, vf v) { vst1q_f32(p, v); }
TG_KERNEL_INLINE void prefetch_c(const float *p) { __builtin_prefetch(p, 1, 3); }

/* In-register transpose of a 4×4 block: on return r[i] holds column i of the input rows.
 * trn1/trn2 on floats pair up rows (0,1) and (2,3), then on 64-bit halves join the pairs. */
TG_KERNEL_INLINE void transpose_block(vf r[4])
{
    const vf t0 = vtrn1q_f32(r[0], r[1]); /* a0 b0 a2 b2 */
    const vf t1 = vtrn2q_f32(r[0], r[1]); /* a1 b1 a3 b3 */
    const vf t2 = vtrn1q_f32(r[2], r[3]); /* c0 d0 c2 d2 */
    const vf t3 = vtrn2q_f32(r[2], r[3]); /* c1 d1 c3 d3 */
    r[0] = vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(t0), vreinterpretq_f64_f32(t2)));
    r[1] = vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(t1), vreinterpretq_f64_f32(t3)));
    r[2] = vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(t0), vreinterpretq_f64_f32(t2)));
    r[3] = vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(t1), vreinterpretq_f64_f32(t3)));
}

/* ---- the micro-kernel, the packer and the zero-skipping kernel (written once) -------------- */

#include "matmul_tile.h"

TG_KERNEL_INLINE void tile_with_rows(const int ROWS, const bool KMAJOR, const tg_tile *t)
{
    switch ((t->nr + VW - 1) / VW) {
    case 1: tile_kernel(ROWS, 1, KMAJOR, t); break;
    case 2: tile_kernel(ROWS, 2, KMAJOR, t); break;
    case 3: tile_kernel(ROWS, 3, KMAJOR, t); break;
    default: break;
    }
}

TG_KERNEL_INLINE void tile_layout(const bool KMAJOR, const tg_tile *t)
{
    switch (t->mr) {
    case 1: tile_with_rows(1, KMAJOR, t); break;
    case 2: tile_with_rows(2, KMAJOR, t); break;
    case 3: tile_with_rows(3, KMAJOR, t); break;
    case 4: tile_with_rows(4, KMAJOR, t); break;
    case 5: tile_with_rows(5, KMAJOR, t); break;
    case 6: tile_with_rows(6, KMAJOR, t); break;
    case 7: tile_with_rows(7, KMAJOR, t); break;
    case 8: tile_with_rows(8, KMAJOR, t); break;
    default: break;
    }
}

static void tile_neon(const tg_tile *t)
{
    if (t->a_layout == TG_A_KMAJOR)
        tile_layout(true, t);
    else
        tile_layout(false, t);
}

/* No AArch64 processor was at hand to measure the break-even share of zeros (the emulator's
 * timings mean nothing): AVX2's value, a kernel with as many FMAs per cycle for its width.  (On
 * x86-64 the share depends on how fast the dense tile's FMAs are: matmul_avx512.c.) */
static double sparse_min_zero_fraction(void) { return 0.45; }

const tg_gemm_kernel tg_gemm_kernel_neon = {
    .mr_rows = MR,
    .nr_rows = NV * VW,
    .mr_kmajor = MR,
    .nr_kmajor = NV * VW,
    .tile = tile_neon,
    .pack_transposed = pack_transposed,
    .sparse_tile = sparse_tile,
    .sparse_min_zero_fraction = sparse_min_zero_fraction,
};

#endif /* TG_HAVE_NEON */
