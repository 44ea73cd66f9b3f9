/* tensor/matmul_tile.h — internal: the micro-kernel and the transposing packer, written once
 * over a thin vector layer.  matmul_avx2.c and matmul_avx512.c each define that layer and then
 * include this file, so both instruction sets run the same loops (what a tile computes, and why
 * its arithmetic must not depend on the tile, is in matmul_kernels.h).
 *
 * What the including file defines first:
 *   VW, MAX_MR, MAX_NV         floats per vector; the tallest tile and its most column vectors
 *   TG_KERNEL_INLINE           static inline, always_inline, with the file's target attribute
 *   TG_KERNEL_FN               the file's target attribute (for functions called by pointer)
 *   vf, vmask                  a vector of floats; a mask of its lanes
 *   vf_zero(), vf_set1(x), vf_fma(a, b, c) = a·b + c (one rounding), vf_mul(a, b)
 *   lanes(n)                   the mask of lanes [0, n), for any n (n >= VW: all)
 *   vf_load_part(p, n, m)      lanes [0, n) of p (m = lanes(n)), the others 0; memory past
 *                              lane n is never touched
 *   vf_store_part(p, v, n, m)  stores lanes [0, n) of v, and nothing past them
 *   vf_store(p, v)             stores all VW lanes
 *   prefetch_c(p)              a hint that the C row at p is read soon (or nothing)
 *   transpose_block(r)         vf r[VW] in registers: r[i] becomes column i of the VW rows
 *
 * It defines static functions, so no other file includes it. */

/* C row c[0..nr) from the accumulators of one tile row (matmul_kernels.h):
 *   first K block: alpha·acc + beta·C0 (beta == 0: nothing read);  later blocks: alpha·acc + C.
 * c0 is the same row of C0; n[v] and mask[v] are the lanes of column vector v.  Every kernel
 * (the zero-skipping one too) ends here, so they all round the same way. */
TG_KERNEL_INLINE void store_row(const int NV, const tg_tile *t, float *c, const float *c0, const vf acc[],
                                const size_t n[], const vmask mask[])
{
    const vf alpha = vf_set1(t->alpha), beta = vf_set1(t->beta);
    const bool overwrite = t->first && t->beta == 0.0f;
    #pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
        vf out;
        if (overwrite)
            out = vf_mul(alpha, acc[v]);
        else if (t->first)
            out = vf_fma(alpha, acc[v], vf_mul(beta, vf_load_part(c0 + v * VW, n[v], mask[v])));
        else
            out = vf_fma(alpha, acc[v], vf_load_part(c + v * VW, n[v], mask[v]));
        vf_store_part(c + v * VW, out, n[v], mask[v]);
    }
}

/* acc[r][v] = 0 for the tile's MR rows and NV column vectors. */
TG_KERNEL_INLINE void zero_tile(const int MR, const int NV, vf acc[][MAX_NV])
{
    #pragma GCC unroll 16
    for (int r = 0; r < MR; r++) {
        #pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            acc[r][v] = vf_zero();
    }
}

/* C tile [MR, nr] (nr <= NV·VW) over kc steps.
 *   op(A) tile [MR, kc]:  KMAJOR ? a[k*a_stride + r] : a[r*a_stride + k]
 *   op(B) panel [kc, nr]: b[k*b_stride + j]
 * MR, NV and KMAJOR are compile-time constants at every call site.  Each step k loads one row of
 * the B panel once and reuses it for every row of the tile.  The `unroll` pragmas make GCC
 * unroll the loops over r and v before it decides where acc lives: only then does every
 * acc[r][v] become its own register (otherwise the array is kept in memory, at a third of the
 * speed). */
TG_KERNEL_INLINE void tile_kernel(const int MR, const int NV, const bool KMAJOR, const tg_tile *t)
{
    size_t n[MAX_NV];
    vmask mask[MAX_NV];
    #pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
        n[v] = t->nr > (size_t)v * VW ? t->nr - (size_t)v * VW : 0;
        mask[v] = lanes(n[v]);
    }

    /* The C tile is only touched after the k loop; fetching it now hides the misses (its rows
     * are ldc apart, often a page) behind the FMAs. */
    #pragma GCC unroll 16
    for (int r = 0; r < MR; r++) {
        #pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            prefetch_c(t->c + r * t->ldc + v * VW);
    }

    vf acc[MAX_MR][MAX_NV];
    zero_tile(MR, NV, acc);

    const float *a = t->a, *b = t->b;
    const size_t as = t->a_stride, bs = t->b_stride;
    #pragma GCC unroll 4
    for (size_t k = 0; k < t->kc; k++) {
        vf brow[MAX_NV]; /* op(B)[k, 0..nr) */
        #pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            brow[v] = vf_load_part(b + v * VW, n[v], mask[v]);
        #pragma GCC unroll 16
        for (int r = 0; r < MR; r++) {
            vf ar = vf_set1(KMAJOR ? a[r] : a[r * as]); /* op(A)[r, k] in every lane */
            #pragma GCC unroll 4
            for (int v = 0; v < NV; v++)
                acc[r][v] = vf_fma(ar, brow[v], acc[r][v]);
        }
        a += KMAJOR ? as : 1;
        b += bs;
    }

    #pragma GCC unroll 16
    for (int r = 0; r < MR; r++)
        store_row(NV, t, t->c + r * t->ldc, t->c0 + r * t->ldc0, acc[r], n, mask);
}

/* dst [kc, nc] (row stride dst_stride) = the transpose of b [nc, kc] (row stride ldb), in
 * VW×VW blocks; partial blocks load only the valid part and store only valid rows. */
static TG_KERNEL_FN void pack_transposed(float *dst, size_t dst_stride, const float *b, size_t ldb, size_t kc,
                                         size_t nc)
{
    for (size_t j0 = 0; j0 < nc; j0 += VW) {
        size_t nj = nc - j0 < VW ? nc - j0 : VW;
        for (size_t k0 = 0; k0 < kc; k0 += VW) {
            size_t nk = kc - k0 < VW ? kc - k0 : VW;
            vmask km = lanes(nk);
            vf r[VW];
            for (size_t j = 0; j < VW; j++)
                r[j] = j < nj ? vf_load_part(b + (j0 + j) * ldb + k0, nk, km) : vf_zero();
            transpose_block(r);
            for (size_t k = 0; k < nk; k++)
                vf_store(dst + (k0 + k) * dst_stride + j0, r[k]);
        }
    }
}
