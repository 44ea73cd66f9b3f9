/* tensor/matmul_tile.h — internal: the micro-kernel, the transposing packer and the zero-skipping
 * kernel, written once over a thin vector layer.  matmul_avx2.c, matmul_avx512.c and
 * matmul_neon.c each define that layer and then include this file, so every instruction set runs
 * the same loops (what a tile computes, and why its arithmetic must not depend on the tile, is in
 * matmul_kernels.h).
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
 *   SPARSE_NV                  column vectors per strip of the zero-skipping kernel (2 rows of
 *                              accumulators, SPARSE_NV·2 of them, must fit in registers)
 *   LIST_NONZERO_STEPS         optional: defined when the file brings its own list_nonzero_steps
 *                              (same contract as the plain one below), e.g. with a compress
 *                              instruction
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

/* ---- the zero-skipping kernel (tg_gemm_sparse_a) -------------------------------------- */

#if !defined(LIST_NONZERO_STEPS)
/* Lists the steps k < kc at which either of the MR (1 or 2) rows of op(A) [MR, kc] (row stride
 * as) is non-zero:  off[e] = k·b_stride (where op(B)'s row k starts),  val[2e + r] = op(A)[r, k]
 * (0 for a row that is zero there; NaN counts as non-zero).  Returns the count.  Branch-free:
 * every step is written and the count advances only past the non-zero ones, since in images
 * zeros and non-zeros alternate too irregularly for a branch to be predicted. */
TG_KERNEL_INLINE size_t list_nonzero_steps(const int MR, const float *a, size_t as, size_t kc, size_t b_stride,
                                           int32_t *off, float *val)
{
    size_t n = 0;
    for (size_t k = 0; k < kc; k++) {
        const float x = a[k], y = MR == 2 ? a[as + k] : 0.0f;
        off[n] = (int32_t)(k * b_stride);
        val[2 * n] = x;
        val[2 * n + 1] = y;
        n += (x != 0.0f) | (y != 0.0f);
    }
    return n;
}
#endif

/* Columns [j0, j0 + NV·VW) (masked to nr) of the MR C rows from `row` on, from their listed
 * steps: the tile kernel's arithmetic with the all-zero steps left out.  Each step loads one row
 * of B for both rows of A, which halves the loads per FMA of a one-row kernel (it was
 * load-bound). */
TG_KERNEL_INLINE void sparse_strip(const int MR, const int NV, const bool FULL, const tg_tile *t, size_t row,
                                   size_t j0, size_t steps, const int32_t *off, const float *val)
{
    size_t n[SPARSE_NV];   /* the lanes of each column vector */
    vmask mask[SPARSE_NV]; /* FULL: constant masks, so the loads need none (masks spill) */
    #pragma GCC unroll 8
    for (int v = 0; v < NV; v++) {
        n[v] = FULL ? VW : t->nr > j0 + (size_t)v * VW ? t->nr - j0 - (size_t)v * VW : 0;
        mask[v] = lanes(n[v]);
    }
    vf acc[TG_SPARSE_MR][SPARSE_NV];
    #pragma GCC unroll 2
    for (int r = 0; r < MR; r++) {
        #pragma GCC unroll 8
        for (int v = 0; v < NV; v++)
            acc[r][v] = vf_zero();
    }
    const float *b = t->b + j0;
    for (size_t e = 0; e < steps; e++) {
        const float *b_row = b + off[e]; /* op(B)[k, j0..] for the e-th listed step k */
        vf brow[SPARSE_NV];
        #pragma GCC unroll 8
        for (int v = 0; v < NV; v++)
            brow[v] = vf_load_part(b_row + v * VW, n[v], mask[v]);
        #pragma GCC unroll 2
        for (int r = 0; r < MR; r++) {
            vf ar = vf_set1(val[2 * e + r]);
            #pragma GCC unroll 8
            for (int v = 0; v < NV; v++)
                acc[r][v] = vf_fma(ar, brow[v], acc[r][v]);
        }
    }
    #pragma GCC unroll 2
    for (int r = 0; r < MR; r++)
        store_row(NV, t, t->c + (row + r) * t->ldc + j0, t->c0 + (row + r) * t->ldc0 + j0, acc[r], n, mask);
}

/* The pair of rows from `row` on, columns [j0, j0 + NV·VW): MR and NV constants at every call. */
TG_KERNEL_INLINE void sparse_pair_strip(const int NV, const bool FULL, const tg_tile *t, size_t row, size_t j0,
                                        size_t steps, const int32_t *off, const float *val)
{
    if (t->mr - row >= 2)
        sparse_strip(2, NV, FULL, t, row, j0, steps, off, val);
    else
        sparse_strip(1, NV, FULL, t, row, j0, steps, off, val);
}

/* The strip for the columns left after the full strips. */
#define SPARSE_TAIL_CASE(V) \
    case V: sparse_pair_strip((V) < SPARSE_NV ? (V) : SPARSE_NV, false, t, row, j0, steps, off, val); break

TG_KERNEL_INLINE void sparse_tail_strip(const tg_tile *t, size_t row, size_t j0, size_t steps, const int32_t *off,
                                        const float *val)
{
    switch ((t->nr - j0 + VW - 1) / VW) {
    SPARSE_TAIL_CASE(1);
    SPARSE_TAIL_CASE(2);
    SPARSE_TAIL_CASE(3);
    SPARSE_TAIL_CASE(4);
    SPARSE_TAIL_CASE(5);
    SPARSE_TAIL_CASE(6);
    SPARSE_TAIL_CASE(7);
    default: sparse_pair_strip(SPARSE_NV, false, t, row, j0, steps, off, val); break;
    }
}
#undef SPARSE_TAIL_CASE

/* sparse_tile of tg_gemm_kernel: up to TG_SPARSE_ROWS rows of C.  Every pair of rows lists its
 * steps first; then each strip of B's columns (SPARSE_NV vectors wide) serves all the pairs in
 * turn, so it is read into L1 once per tile rather than once per pair. */
static TG_KERNEL_FN void sparse_tile(const tg_tile *t)
{
    enum { STRIP = SPARSE_NV * VW, PAIRS = TG_SPARSE_ROWS / TG_SPARSE_MR };
    /* whole vectors may be stored past the count (a compressing list): room for one more */
    int32_t off[PAIRS][TG_GEMM_KC_MAX + VW];
    float val[PAIRS][2 * (TG_GEMM_KC_MAX + VW)];
    size_t steps[PAIRS];
    const size_t pairs = (t->mr + 1) / 2;
    for (size_t p = 0; p < pairs; p++) {
        const float *a = t->a + 2 * p * t->a_stride;
        steps[p] = t->mr - 2 * p >= 2 ? list_nonzero_steps(2, a, t->a_stride, t->kc, t->b_stride, off[p], val[p])
                                      : list_nonzero_steps(1, a, t->a_stride, t->kc, t->b_stride, off[p], val[p]);
    }
    for (size_t j0 = 0; j0 < t->nr; j0 += STRIP)
        for (size_t p = 0; p < pairs; p++) {
            if (t->nr - j0 >= STRIP)
                sparse_pair_strip(SPARSE_NV, true, t, 2 * p, j0, steps[p], off[p], val[p]);
            else
                sparse_tail_strip(t, 2 * p, j0, steps[p], off[p], val[p]);
        }
}
