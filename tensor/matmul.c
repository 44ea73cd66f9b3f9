/* tensor/matmul.c — tg_gemm: path selection, threads, blocking and packing, the tensor wrapper.
 *
 * Blocking strategy (the micro-kernels live in matmul_tile.h, over the vector layers of
 * matmul_avx2.c / matmul_avx512.c / matmul_neon.c):
 *
 *   threads   C is cut into blocks of TG_GEMM_SPLIT rows or columns (fixed boundaries); each
 *             thread takes a contiguous run of blocks and computes it as an independent product.
 *   K blocks  K is cut into ceil(K / KC_MAX) nearly equal blocks, a function of K alone.  The
 *             first block writes alpha·acc + beta·C, later ones add alpha·acc.  K is never split
 *             across threads.
 *   panels    per K block and per NC_MAX columns, op(B) is read in panels of nr columns: in place
 *             when B is not transposed (each row of a panel is contiguous), else transposed into a
 *             packed buffer once and reused by every row tile.
 *   tiles     row tiles of at most mr rows (sizes balanced so there is no sliver at the end) run
 *             over all panels: the A tile (mr × kc, a few KB) stays in L1 while the B block
 *             streams from L2.  op(A) is read in place (Aᵀ is already k-major; rows of A are
 *             broadcast from mr row pointers) unless it is reused by many panels, when it is
 *             packed k-major once per tile so the kernel can use its tallest tile.
 *
 * Per-element arithmetic is fixed by K alone (see matmul_kernels.h), so the result is bitwise the
 * same for any thread count, any split, and whether a product runs threaded or not. */
#include "matmul.h"
#include "matmul_kernels.h"
#include "parallel.h"
#include "vmath.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    KC_MAX = TG_GEMM_KC_MAX, /* the deepest K block: a packed A tile of 16×256 floats is 16 KB (L1) */
    NC_MAX = 512,          /* columns per B block: 256×512 floats = 512 KB (L2) */
    MR_MAX = 16,           /* no kernel has a taller tile */
};

/* Below this many flops (2·M·N·K) a product runs on the calling thread: under it the fork and
 * join of a second thread cost about as much as the half of the product it takes over.  The
 * crossing point was measured, and the threshold set a little above it for a margin
 * (docs/performance.md, "Figures that used to live in code comments"). */
static const double PARALLEL_MIN_FLOPS = 0.5e6;

/* ---- path selection ---------------------------------------------------------------------- */

const char *tg_simd_name(tg_simd_path path)
{
    switch (path) {
    case TG_PATH_SCALAR: return "scalar";
    case TG_PATH_AVX2: return "avx2";
    case TG_PATH_AVX512: return "avx512";
    case TG_PATH_NEON: return "neon";
    default: return "auto";
    }
}

int tg_simd_parse(const char *name)
{
    for (int i = 0; i < TG_PATH_COUNT; i++)
        if (strcmp(name, tg_simd_name((tg_simd_path)i)) == 0)
            return i;
    return -1;
}

bool tg_simd_supported(tg_simd_path path)
{
    switch (path) {
    case TG_PATH_AUTO:
    case TG_PATH_SCALAR:
        return true;
#if defined(TG_HAVE_X86_SIMD)
    case TG_PATH_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case TG_PATH_AVX512:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512dq");
#endif
#if defined(TG_HAVE_NEON)
    case TG_PATH_NEON:
        return true; /* Advanced SIMD is part of every AArch64 processor */
#endif
    default:
        return false;
    }
}

/* The fastest path this build and processor can run. */
static tg_simd_path best_supported_path(void)
{
    static const tg_simd_path fastest_first[] = {TG_PATH_AVX512, TG_PATH_AVX2, TG_PATH_NEON};
    for (size_t i = 0; i < sizeof fastest_first / sizeof fastest_first[0]; i++)
        if (tg_simd_supported(fastest_first[i]))
            return fastest_first[i];
    return TG_PATH_SCALAR;
}

tg_simd_path tg_simd_active(void)
{
    static _Atomic int active = TG_PATH_AUTO; /* decided at first use */
    int path = atomic_load_explicit(&active, memory_order_relaxed);
    if (path != TG_PATH_AUTO)
        return (tg_simd_path)path;
    const char *env = getenv("TG_SIMD");
    int forced = env && *env ? tg_simd_parse(env) : TG_PATH_AUTO;
    if (forced > TG_PATH_AUTO && tg_simd_supported((tg_simd_path)forced)) {
        path = forced;
    } else {
        path = best_supported_path();
        /* A forced path that cannot run is a setting the user should hear about once: results
         * and speed differ between paths.  (Racing first callers may each say it.) */
        if (forced != TG_PATH_AUTO)
            fprintf(stderr, "tapegrad: TG_SIMD=%s is %s; using %s\n", env,
                    forced < 0 ? "not scalar, avx2, avx512, neon or auto" : "not supported by this processor or build",
                    tg_simd_name((tg_simd_path)path));
    }
    /* threads that race here all compute the same value */
    atomic_store_explicit(&active, path, memory_order_relaxed);
    return (tg_simd_path)path;
}

tg_simd_path tg_simd_resolve(tg_simd_path path)
{
    if (path == TG_PATH_AUTO)
        path = tg_simd_active();
    return tg_simd_supported(path) ? path : TG_PATH_SCALAR;
}

/* ---- per-thread packing buffer ----------------------------------------------------------- */

/* One fixed-size buffer per thread, allocated at its first product, so no product allocates in
 * its hot path.  The thread-local pointer is the fast way to it; a thread-specific key with a
 * destructor frees it when the thread exits (OpenMP retires workers when the team shrinks).  The
 * main thread's buffer stays reachable until the process ends. */
enum { PACK_B_FLOATS = KC_MAX * NC_MAX, PACK_A_FLOATS = MR_MAX * KC_MAX };

static _Thread_local float *tls_pack_buffer;
static pthread_key_t pack_buffer_key;
static pthread_once_t pack_buffer_key_once = PTHREAD_ONCE_INIT;
static bool pack_buffer_key_ok;

static void create_pack_buffer_key(void)
{
    pack_buffer_key_ok = pthread_key_create(&pack_buffer_key, free) == 0;
}

static float *pack_buffer(void)
{
    if (tls_pack_buffer)
        return tls_pack_buffer;
    pthread_once(&pack_buffer_key_once, create_pack_buffer_key);
    float *buf = tg_aligned_alloc((PACK_B_FLOATS + PACK_A_FLOATS) * sizeof(float));
    if (buf && pack_buffer_key_ok && pthread_setspecific(pack_buffer_key, buf) != 0) {
        free(buf); /* could not arrange its release: do without (the caller uses the spare) */
        buf = NULL;
    }
    tls_pack_buffer = buf;
    return buf;
}

/* ---- the single-threaded blocked product ------------------------------------------------- */

/* One product as the blocked loops see it (a whole tg_gemm or one thread's block of it). */
typedef struct gemm_args {
    tg_trans ta, tb;
    size_t M, N, K;
    float alpha;
    const float *A;
    size_t lda;
    const float *B;
    size_t ldb;
    float beta;
    float *C;
    size_t ldc;
    const float *row_bias; /* tg_gemm_options: beta's operand in place of C, when not NULL */
    bool skip_zeros;       /* tg_gemm_options: leave out the steps where op(A) is zero */
    tg_gemm_epilogue epilogue; /* tg_gemm_options: called on each finished region of C */
    void *epilogue_ctx;
    bool split_rows;           /* tg_gemm_options: threads split rows when there are enough */
} gemm_args;

/* C = beta·C0 when there is nothing to multiply (K == 0 or alpha == 0); beta == 0 writes zeros.
 * C0 is C, or the bias row in every row. */
static void scale_c(const gemm_args *g)
{
    for (size_t i = 0; i < g->M; i++) {
        float *c = g->C + i * g->ldc;
        const float *c0 = g->row_bias ? g->row_bias : c;
        for (size_t j = 0; j < g->N; j++)
            c[j] = g->beta == 0.0f ? 0.0f : g->beta * c0[j];
    }
}

/* Where a tile starting at C row i, column j finds beta's operand (matmul_kernels.h: C0). */
static void set_tile_c0(tg_tile *tile, const gemm_args *g, size_t j)
{
    tile->c0 = g->row_bias ? g->row_bias + j : tile->c;
    tile->ldc0 = g->row_bias ? 0 : g->ldc;
}

/* Depth of K block p out of nk: nearly equal blocks, depending on K only. */
static size_t k_block_depth(size_t K, size_t nk, size_t p)
{
    return K / nk + (p < K % nk ? 1 : 0);
}

/* Rows of row tile t out of ntiles covering M rows: balanced, the larger tiles first. */
static size_t tile_rows(size_t M, size_t ntiles, size_t t)
{
    return M / ntiles + (t < M % ntiles ? 1 : 0);
}

/* dst [kc, w] (row stride dst_stride) = B[k0.., j0..] for B not transposed: a plain copy, used
 * when B's rows are so far apart that reading the panel in place would touch a page per row. */
static void pack_b_rows(float *dst, size_t dst_stride, const float *b, size_t ldb, size_t kc, size_t w)
{
    for (size_t k = 0; k < kc; k++)
        memcpy(dst + k * dst_stride, b + k * ldb, w * sizeof(float));
}

/* Whether to copy panels of a non-transposed B: only when its rows are at least a page apart
 * (TLB misses) and enough row tiles reuse the copy to repay it. */
static bool want_pack_b_rows(const gemm_args *g, size_t mr)
{
    return g->ldb * sizeof(float) >= 4096 && g->M >= 8 * mr;
}

static void gemm_blocked(const tg_gemm_kernel *kern, const gemm_args *g, float *buf)
{
    const bool pack_b = g->tb == TG_TRANS || want_pack_b_rows(g, kern->mr_kmajor);
    /* Rows of A broadcast in place need one address stream per row, so that tile is short; when
     * many panels reuse the tile, packing it k-major pays for itself with the tall tile. */
    const bool pack_a = g->ta == TG_NOTRANS && g->N > 2 * kern->nr_rows;
    const tg_a_layout layout = (g->ta == TG_TRANS || pack_a) ? TG_A_KMAJOR : TG_A_ROWS;
    const size_t mr_max = layout == TG_A_KMAJOR ? kern->mr_kmajor : kern->mr_rows;
    const size_t nr = layout == TG_A_KMAJOR ? kern->nr_kmajor : kern->nr_rows;
    const size_t nc_max = NC_MAX / nr * nr;
    const size_t nk = (g->K + KC_MAX - 1) / KC_MAX;
    const size_t ntiles = (g->M + mr_max - 1) / mr_max;
    float *b_pack = buf, *a_pack = buf + PACK_B_FLOATS;

    for (size_t jc = 0; jc < g->N; jc += nc_max) {
        const size_t nc = g->N - jc < nc_max ? g->N - jc : nc_max;
        size_t k0 = 0;
        for (size_t p = 0; p < nk; p++) {
            const size_t kc = k_block_depth(g->K, nk, p);
            /* B block [kc, nc]: panel jr starts at b_block + jr*b_panel_step, rows b_stride apart */
            const float *b_block;
            size_t b_stride, b_panel_step;
            if (pack_b) {
                for (size_t jr = 0; jr < nc; jr += nr) {
                    const size_t w = nc - jr < nr ? nc - jr : nr;
                    float *dst = b_pack + jr * kc; /* panel jr/nr, kc*nr floats each */
                    if (g->tb == TG_TRANS)
                        kern->pack_transposed(dst, nr, g->B + (jc + jr) * g->ldb + k0, g->ldb, kc, w);
                    else
                        pack_b_rows(dst, nr, g->B + k0 * g->ldb + jc + jr, g->ldb, kc, w);
                }
                b_block = b_pack, b_stride = nr, b_panel_step = kc;
            } else {
                b_block = g->B + k0 * g->ldb + jc, b_stride = g->ldb, b_panel_step = 1;
            }

            size_t i = 0;
            for (size_t t = 0; t < ntiles; t++) {
                const size_t mr = tile_rows(g->M, ntiles, t);
                tg_tile tile = {
                    .mr = mr, .kc = kc, .a_layout = layout,
                    .b_stride = b_stride, .ldc = g->ldc,
                    .alpha = g->alpha, .beta = g->beta, .first = p == 0,
                };
                if (g->ta == TG_TRANS) {
                    tile.a = g->A + k0 * g->lda + i, tile.a_stride = g->lda;
                } else if (pack_a) {
                    /* rows of A transposed to k-major; one 64-byte line per step k */
                    kern->pack_transposed(a_pack, MR_MAX, g->A + i * g->lda + k0, g->lda, kc, mr);
                    tile.a = a_pack, tile.a_stride = MR_MAX;
                } else {
                    tile.a = g->A + i * g->lda + k0, tile.a_stride = g->lda;
                }
                for (size_t jr = 0; jr < nc; jr += nr) {
                    tile.nr = nc - jr < nr ? nc - jr : nr;
                    tile.b = b_block + jr * b_panel_step;
                    tile.c = g->C + i * g->ldc + jc + jr;
                    set_tile_c0(&tile, g, jc + jr);
                    kern->tile(&tile);
                }
                i += mr;
            }
            k0 += kc;
        }
    }
}

/* The zero-skipping product (tg_gemm_sparse_a): the K blocks of gemm_blocked, rows of C in
 * tiles of TG_SPARSE_ROWS.  The kernel lists, for each pair of rows, the steps where either row of
 * op(A) is non-zero and runs only those, on B in place (not transposed).  Rows of Aᵀ are columns
 * of A: a tile of them is first transposed into a_pack. */
static void gemm_sparse_blocked(const tg_gemm_kernel *kern, const gemm_args *g, float *buf)
{
    _Static_assert((int)TG_SPARSE_ROWS <= (int)MR_MAX, "a_pack holds MR_MAX rows");
    float *a_pack = buf + PACK_B_FLOATS; /* [MR_MAX, KC_MAX] */
    const size_t nk = (g->K + KC_MAX - 1) / KC_MAX;
    size_t k0 = 0;
    for (size_t p = 0; p < nk; p++) {
        const size_t kc = k_block_depth(g->K, nk, p);
        for (size_t i = 0; i < g->M; i += TG_SPARSE_ROWS) {
            const size_t rows = g->M - i < TG_SPARSE_ROWS ? g->M - i : TG_SPARSE_ROWS;
            tg_tile tile = {
                .mr = rows, .kc = kc, .a_layout = TG_A_ROWS, .nr = g->N,
                .b = g->B + k0 * g->ldb, .b_stride = g->ldb, .c = g->C + i * g->ldc, .ldc = g->ldc,
                .alpha = g->alpha, .beta = g->beta, .first = p == 0,
            };
            if (g->ta == TG_TRANS) { /* op(A) rows i.. = columns of A: [rows, kc] at stride KC_MAX */
                kern->pack_transposed(a_pack, KC_MAX, g->A + k0 * g->lda + i, g->lda, rows, kc);
                tile.a = a_pack, tile.a_stride = KC_MAX;
            } else {
                tile.a = g->A + i * g->lda + k0, tile.a_stride = g->lda;
            }
            set_tile_c0(&tile, g, 0);
            kern->sparse_tile(&tile);
        }
        k0 += kc;
    }
}

/* Whether the zero-skipping kernel can run this product: B in place, and its step offsets
 * (k·ldb within a K block) fit the kernel's 32-bit lists. */
static bool can_skip_zeros(const tg_gemm_kernel *kern, const gemm_args *g)
{
    return kern && g->skip_zeros && kern->sparse_tile && g->tb == TG_NOTRANS && g->ldb <= INT32_MAX / KC_MAX;
}

/* ---- one thread's share ------------------------------------------------------------------ */

static const tg_gemm_kernel *kernel_for(tg_simd_path path)
{
    (void)path;
#if defined(TG_HAVE_X86_SIMD)
    if (path == TG_PATH_AVX512)
        return &tg_gemm_kernel_avx512;
    if (path == TG_PATH_AVX2)
        return &tg_gemm_kernel_avx2;
#endif
#if defined(TG_HAVE_NEON)
    if (path == TG_PATH_NEON)
        return &tg_gemm_kernel_neon;
#endif
    return NULL;
}

/* For a thread that cannot allocate its own packing buffer: one shared buffer, taken in turn.
 * Falling back to the reference kernel instead would compute that thread's share with other
 * arithmetic (no FMA, no K blocks), and the result would depend on which thread ran out of
 * memory.  Static storage: the system only gives it pages if it is ever used. */
static _Alignas(64) float spare_pack_buffer[PACK_B_FLOATS + PACK_A_FLOATS];
static pthread_mutex_t spare_pack_lock = PTHREAD_MUTEX_INITIALIZER;

static void gemm_on_this_thread(tg_simd_path path, const gemm_args *g)
{
    const tg_gemm_kernel *kern = kernel_for(path);
    if (!kern) { /* the scalar path: the reference kernel, on C filled with the bias rows */
        for (size_t i = 0; g->row_bias && g->beta != 0.0f && i < g->M; i++)
            memcpy(g->C + i * g->ldc, g->row_bias, g->N * sizeof(float));
        tg_gemm_ref(g->ta, g->tb, g->M, g->N, g->K, g->alpha, g->A, g->lda, g->B, g->ldb,
                    g->beta, g->C, g->ldc);
        return;
    }
    void (*blocked)(const tg_gemm_kernel *, const gemm_args *, float *) =
        can_skip_zeros(kern, g) ? gemm_sparse_blocked : gemm_blocked;
    float *buf = pack_buffer();
    if (buf) {
        blocked(kern, g, buf);
        return;
    }
    pthread_mutex_lock(&spare_pack_lock);
    blocked(kern, g, spare_pack_buffer);
    pthread_mutex_unlock(&spare_pack_lock);
}

/* The product restricted to rows [r0, r1) or columns [r0, r1) of C. */
static gemm_args sub_product(const gemm_args *g, bool by_cols, size_t r0, size_t r1)
{
    gemm_args s = *g;
    if (by_cols) {
        s.N = r1 - r0;
        s.B = g->tb == TG_TRANS ? g->B + r0 * g->ldb : g->B + r0;
        s.C = g->C + r0;
        s.row_bias = g->row_bias ? g->row_bias + r0 : NULL;
    } else {
        s.M = r1 - r0;
        s.A = g->ta == TG_TRANS ? g->A + r0 : g->A + r0 * g->lda;
        s.C = g->C + r0 * g->ldc;
    }
    return s;
}

typedef struct gemm_job {
    tg_simd_path path;
    const gemm_args *g;
    bool by_cols;
    size_t extent; /* rows or columns of C, whichever is split */
} gemm_job;

/* The epilogue (if any) on rows [r0, r1) × columns [c0, c1) of g's C. */
static void run_epilogue(const gemm_args *g, size_t r0, size_t r1, size_t c0, size_t c1)
{
    if (g->epilogue)
        g->epilogue(g->C, g->ldc, r0, r1, c0, c1, g->epilogue_ctx);
}

/* Blocks [b0, b1) of C, computed as a product of their own, then their epilogue. */
static void gemm_blocks(size_t b0, size_t b1, void *ctx)
{
    const gemm_job *job = ctx;
    const gemm_args *g = job->g;
    const size_t r0 = b0 * TG_GEMM_SPLIT, r1 = b1 * TG_GEMM_SPLIT < job->extent ? b1 * TG_GEMM_SPLIT : job->extent;
    gemm_args share = sub_product(g, job->by_cols, r0, r1);
    gemm_on_this_thread(job->path, &share);
    if (job->by_cols)
        run_epilogue(g, 0, g->M, r0, r1);
    else
        run_epilogue(g, r0, r1, 0, g->N);
}

/* Splits C into TG_GEMM_SPLIT-wide blocks along the dimension that has more of them (columns on a
 * tie: threads then share A, which is usually read in place, and pack disjoint parts of B), and
 * gives each thread a contiguous run of blocks (one chunk of tg_parallel_for: a longer run packs
 * B or A fewer times).  The zero-skipping product splits rows, one block per chunk, when there
 * are enough of them; split_rows asks for rows as well, when there are enough to go round. */
static void gemm_threaded(tg_simd_path path, const gemm_args *g, int threads)
{
    const size_t row_blocks = (g->M + TG_GEMM_SPLIT - 1) / TG_GEMM_SPLIT;
    const size_t col_blocks = (g->N + TG_GEMM_SPLIT - 1) / TG_GEMM_SPLIT;
    /* the zero-skipping kernel lists each row's non-zero steps: split rows, so no list is
     * made twice (unless there are too few rows to go round) */
    const bool enough_rows = row_blocks >= (size_t)threads;
    const bool sparse_rows = can_skip_zeros(kernel_for(path), g) && enough_rows;
    const bool by_cols = !sparse_rows && !(g->split_rows && enough_rows) && col_blocks >= row_blocks;
    const size_t blocks = by_cols ? col_blocks : row_blocks;
    if ((size_t)threads > blocks)
        threads = (int)blocks;
    if (threads < 2) {
        gemm_on_this_thread(path, g);
        run_epilogue(g, 0, g->M, 0, g->N);
        return;
    }
    gemm_job job = {path, g, by_cols, by_cols ? g->N : g->M};
    /* The zero-skipping kernel packs nothing that a longer run would reuse, and its rows cost
     * what their zeros leave: one block per chunk, so that in a team (tg_team_run) a thread
     * that finishes early takes blocks of the other's share.  (Outside a team OpenMP's static
     * schedule gives each thread the same contiguous share either way.) */
    const size_t grain = sparse_rows ? 1 : (blocks + (size_t)threads - 1) / (size_t)threads;
    tg_parallel_for(blocks, grain, gemm_blocks, &job);
}

/* Every entry point ends here: the trivial cases, then the threaded product on `path`. */
static void gemm_run(tg_simd_path path, const gemm_args *g)
{
    path = tg_simd_resolve(path);
    if (g->M == 0 || g->N == 0)
        return;
    if (g->K == 0 || g->alpha == 0.0f) {
        scale_c(g); /* BLAS: A and B are not read */
        run_epilogue(g, 0, g->M, 0, g->N);
        return;
    }
    const double flops = 2.0 * (double)g->M * (double)g->N * (double)g->K;
    const int threads = flops >= PARALLEL_MIN_FLOPS ? tg_get_threads() : 1;
    gemm_threaded(path, g, threads);
}

void tg_gemm_path(tg_simd_path path, tg_trans ta, tg_trans tb, size_t M, size_t N, size_t K,
                  float alpha, const float *A, size_t lda, const float *B, size_t ldb,
                  float beta, float *C, size_t ldc)
{
    const gemm_args g = {ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL, false, NULL, NULL, false};
    gemm_run(path, &g);
}

void tg_gemm_ex(tg_trans ta, tg_trans tb, size_t M, size_t N, size_t K, float alpha, const float *A,
                size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc,
                const tg_gemm_options *opt)
{
    const tg_gemm_options defaults = {0};
    if (!opt)
        opt = &defaults;
    const gemm_args g = {ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc,
                         opt->row_bias, opt->skip_zeros_of_a, opt->epilogue, opt->epilogue_ctx, opt->split_rows};
    gemm_run(opt->path, &g);
}

void tg_gemm_sparse_a(tg_trans ta, tg_trans tb, size_t M, size_t N, size_t K,
                      float alpha, const float *A, size_t lda, const float *B, size_t ldb,
                      float beta, float *C, size_t ldc)
{
    const tg_gemm_options opt = {.skip_zeros_of_a = true};
    tg_gemm_ex(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, &opt);
}

void tg_gemm(tg_trans ta, tg_trans tb, size_t M, size_t N, size_t K,
             float alpha, const float *A, size_t lda, const float *B, size_t ldb,
             float beta, float *C, size_t ldc)
{
    tg_gemm_path(TG_PATH_AUTO, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* How many of x[0..n) are ±0.  Counted in 32-bit blocks because GCC vectorizes a 32-bit count
 * per lane and keeps a 64-bit one scalar; the sample runs on the training thread every step. */
static TG_VECTORIZE size_t count_zeros(const float *x, size_t n)
{
    size_t zeros = 0;
    for (size_t k0 = 0; k0 < n; k0 += UINT32_MAX) { /* (a 32-bit count cannot overflow) */
        size_t k1 = n - k0 < UINT32_MAX ? n : k0 + UINT32_MAX;
        uint32_t block = 0;
        for (size_t k = k0; k < k1; k++)
            block += x[k] == 0.0f;
        zeros += block;
    }
    return zeros;
}

bool tg_gemm_skips_zeros(tg_simd_path path)
{
    const tg_gemm_kernel *kern = kernel_for(tg_simd_resolve(path));
    return kern && kern->sparse_tile;
}

double tg_gemm_sparse_min_zero_fraction(tg_simd_path path)
{
    const tg_gemm_kernel *kern = kernel_for(tg_simd_resolve(path));
    return kern && kern->sparse_tile ? kern->sparse_min_zero_fraction() : 2.0;
}

bool tg_gemm_prefers_sparse_a(const float *A, size_t rows, size_t cols, size_t lda)
{
    enum { SAMPLE_ELEMENTS = 16384 };
    const tg_gemm_kernel *kern = kernel_for(tg_simd_active());
    if (rows == 0 || cols == 0 || !kern || !kern->sparse_tile)
        return false; /* no kernel to skip zeros with: not worth the look */
    size_t sample_rows = SAMPLE_ELEMENTS / cols;
    if (sample_rows < 1)
        sample_rows = 1;
    if (sample_rows > rows)
        sample_rows = rows;
    size_t zeros = 0;
    for (size_t s = 0; s < sample_rows; s++)
        zeros += count_zeros(A + (s * rows / sample_rows) * lda, cols); /* rows spread evenly over A */
    return (double)zeros >= kern->sparse_min_zero_fraction() * (double)(sample_rows * cols);
}

/* ---- the checked tensor form ------------------------------------------------------------- */

int tg_tensor_matmul(tg_tensor *C, const tg_tensor *A, tg_trans ta, const tg_tensor *B, tg_trans tb,
              float alpha, float beta, tg_error *err)
{
    size_t ar = tg_tensor_nrows(A), ac = tg_tensor_ncols(A);
    size_t br = tg_tensor_nrows(B), bc = tg_tensor_ncols(B);
    size_t M = ta ? ac : ar, K = ta ? ar : ac;
    size_t Kb = tb ? bc : br, N = tb ? br : bc;
    char sa[64], sb[64], sc[64];
    if (K != Kb)
        return tg_error_set(err, TG_ERR_SHAPE, "matmul: %s%s x %s%s: inner dimensions differ",
                            tg_tensor_shape_str(sa, sizeof sa, A), ta ? "ᵀ" : "",
                            tg_tensor_shape_str(sb, sizeof sb, B), tb ? "ᵀ" : "");
    if (tg_tensor_nrows(C) != M || tg_tensor_ncols(C) != N)
        return tg_error_set(err, TG_ERR_SHAPE, "matmul: output %s, expected [%zu,%zu]",
                            tg_tensor_shape_str(sc, sizeof sc, C), M, N);
    tg_gemm(ta, tb, M, N, K, alpha, A->data, ac, B->data, bc, beta, C->data, N);
    return TG_OK;
}

/* ---- transposes ------------------------------------------------------------------------------ */

void tg_transpose_ref(float *dst, size_t ldd, const float *src, size_t lds, size_t rows, size_t cols)
{
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            dst[j * ldd + i] = src[i * lds + j];
}

typedef struct transpose_job {
    const tg_gemm_kernel *kern; /* NULL: the reference loops */
    float *dst;
    size_t ldd;
    const float *src;
    size_t lds, rows;
} transpose_job;

/* Columns [c0, c1) of src: its rows in whole groups of 16 (a multiple of either vector width)
 * through the packer, which stores whole vectors, so a partial group would write past the rows;
 * the rest with the plain loops. */
static void transpose_columns(size_t c0, size_t c1, void *ctx)
{
    const transpose_job *job = ctx;
    const size_t grouped = job->kern ? job->rows / 16 * 16 : 0;
    if (grouped)
        job->kern->pack_transposed(job->dst + c0 * job->ldd, job->ldd, job->src + c0, job->lds, c1 - c0, grouped);
    tg_transpose_ref(job->dst + c0 * job->ldd + grouped, job->ldd, job->src + grouped * job->lds + c0, job->lds,
                     job->rows - grouped, c1 - c0);
}

void tg_transpose_path(tg_simd_path path, float *dst, size_t ldd, const float *src, size_t lds, size_t rows,
                       size_t cols)
{
    enum { COLS_PER_CHUNK = 128, MIN_PARALLEL_ELEMENTS = 32768 };
    transpose_job job = {kernel_for(tg_simd_resolve(path)), dst, ldd, src, lds, rows};
    if (rows * cols >= MIN_PARALLEL_ELEMENTS)
        tg_parallel_for(cols, COLS_PER_CHUNK, transpose_columns, &job);
    else
        transpose_columns(0, cols, &job);
}

void tg_transpose(float *dst, size_t ldd, const float *src, size_t lds, size_t rows, size_t cols)
{
    tg_transpose_path(TG_PATH_AUTO, dst, ldd, src, lds, rows, cols);
}
