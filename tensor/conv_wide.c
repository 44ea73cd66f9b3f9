/* tensor/conv_wide.c — the wide layout of the unrolled patches (stride 1, no padding; see
 * wide_cols in conv_internal.h): the forward and the input gradient over its panels. */
#include "conv_internal.h"

#include "parallel.h"
#include "vmath.h"

/* Image b's columns of the wide panel [j0, j1): its runs t in [ta, tz) of [0, Q), which start at
 * column `at` of the panel. */
typedef struct wide_part {
    size_t b, ta, tz, at;
} wide_part;

static wide_part wide_part_of(const panel_job *pj, size_t b)
{
    size_t Q = wide_cols(pj->g), ja = b * Q > pj->j0 ? b * Q : pj->j0;
    size_t jz = (b + 1) * Q < pj->j1 ? (b + 1) * Q : pj->j1;
    return (wide_part){b, ja - b * Q, jz - b * Q, ja - pj->j0};
}

/* Offset in its channel's plane of patch row k = (c, kh, kw)'s run. */
static size_t wide_offset(const tg_conv_geom *g, size_t k)
{
    size_t kh = k / g->KW % g->KH, kw = k % g->KW;
    return kh * g->dil_h * g->W + kw * g->dil_w;
}

// col_wide rows k in [lo, hi) of the panel <- x [B,C,H,W]: one copy per image
static void wide_im2col_rows(size_t lo, size_t hi, void *ctx)
{
    const panel_job *pj = ctx;
    const tg_conv_geom *g = pj->g;
    size_t HW = g->H * g->W, KK = g->KH * g->KW, b0 = pj->j0 / wide_cols(g), b1 = (pj->j1 - 1) / wide_cols(g);
    for (size_t k = lo; k < hi; k++) {
        size_t off = k / KK * HW + wide_offset(g, k);
        for (size_t b = b0; b <= b1; b++) {
            wide_part wp = wide_part_of(pj, b);
            memcpy(pj->dst + k * pj->cols + wp.at, pj->src + b * g->C * HW + off + wp.ta,
                   (wp.tz - wp.ta) * sizeof(float));
        }
    }
}

/* Walks the wide output rows of an image part [ta, tz): for each, its real columns (q < OW) and
 * those past OW, from output (i, q); only the first row may start at q > 0.  (No division per
 * row: these loops move 10-float pieces, and a division costs as much as moving one.) */
typedef struct wide_rows {
    size_t t, tz, i, q, real, extra;
} wide_rows;

static inline wide_rows wide_rows_start(const tg_conv_geom *g, const wide_part *wp)
{
    return (wide_rows){wp->ta, wp->tz, wp->ta / g->W, wp->ta % g->W, 0, 0};
}

/* The next row's piece into r->real, r->extra; false at the part's end. */
static inline bool wide_rows_next(const tg_conv_geom *g, wide_rows *r)
{
    if (r->real + r->extra) /* past the row just walked */
        r->t += r->real + r->extra, r->i++, r->q = 0;
    if (r->t >= r->tz)
        return false;
    size_t left = r->tz - r->t, row = g->W - r->q < left ? g->W - r->q : left;
    r->real = r->q < g->OW ? (g->OW - r->q < row ? g->OW - r->q : row) : 0;
    r->extra = row - r->real;
    return true;
}

// the wide dy panel [O, cols] <- dy [B,O,P] (zeros in the columns past OW), rows o in [lo, hi)
static void wide_gather_rows(size_t lo, size_t hi, void *ctx)
{
    const panel_job *pj = ctx;
    const tg_conv_geom *g = pj->g;
    size_t P = g->OH * g->OW, Q = wide_cols(g), b0 = pj->j0 / Q, b1 = (pj->j1 - 1) / Q;
    for (size_t b = b0; b <= b1; b++) {
        wide_part wp = wide_part_of(pj, b);
        for (size_t o = lo; o < hi; o++) {
            float *d = pj->dst + o * pj->cols + wp.at;
            const float *s = pj->src + (b * g->O + o) * P;
            if (wp.tz - wp.ta == Q) { /* a whole image: every row but the last OW real, W - OW zeros */
                for (size_t i = 0; i + 1 < g->OH; i++, d += g->W, s += g->OW) {
                    copy_floats(d, s, g->OW);
                    zero_floats(d + g->OW, g->W - g->OW);
                }
                copy_floats(d, s, g->OW);
                continue;
            }
            for (wide_rows r = wide_rows_start(g, &wp); wide_rows_next(g, &r); d += r.real + r.extra) {
                copy_floats(d, s + r.i * g->OW + r.q, r.real);
                zero_floats(d + r.real, r.extra);
            }
        }
    }
}

// y [B,O,P] <- the real columns of the wide output panel [O, cols] + bias[o], rows o in [lo, hi)
static void wide_scatter_rows(size_t lo, size_t hi, void *ctx)
{
    const panel_job *pj = ctx;
    const tg_conv_geom *g = pj->g;
    size_t P = g->OH * g->OW, Q = wide_cols(g), b0 = pj->j0 / Q, b1 = (pj->j1 - 1) / Q;
    for (size_t b = b0; b <= b1; b++) {
        wide_part wp = wide_part_of(pj, b);
        for (size_t o = lo; o < hi; o++) {
            float bo = pj->bias ? pj->bias[o] : 0.0f;
            const float *s = pj->src + o * pj->cols + wp.at;
            float *d = pj->dst + (b * g->O + o) * P;
            if (wp.tz - wp.ta == Q) { /* a whole image: row i's OW real columns start at i·W */
                for (size_t i = 0; i < g->OH; i++, d += g->OW, s += g->W)
                    for (size_t q = 0; q < g->OW; q++)
                        d[q] = s[q] + bo;
                continue;
            }
            for (wide_rows r = wide_rows_start(g, &wp); wide_rows_next(g, &r); s += r.real + r.extra) {
                float *dr = d + r.i * g->OW + r.q;
                for (size_t q = 0; q < r.real; q++)
                    dr[q] = s[q] + bo;
            }
        }
    }
}

/* d[v] += Σ_kw s[kw][v − kw·dw] over the kw in [0, KW) with 0 <= v − kw·dw < n, added in the
 * order of kw, for v in [0, n + (KW − 1)·dw): one kernel row's KW runs of a plane, each run
 * shifted dw floats from the last.  Every d[v] is loaded and stored once, its sum built in a
 * register (added run after run, each load of d would wait on the store of the run before, which
 * overlaps it shifted by a float); same additions in the same order, so the same bits. */
/* Sixteen floats: a GCC vector type, lowered to the instruction set of each clone (AVX-512: one
 * register; baseline x86-64 and NEON: four). */
typedef float f32x16 __attribute__((vector_size(64)));

static TG_VECTORIZE void add_kernel_row(float *restrict d, const float *const *s, size_t KW, size_t dw, size_t n)
{
    enum { LANES = sizeof(f32x16) / sizeof(float) };
    size_t span = (KW - 1) * dw, end = n + span, mid0 = span < n ? span : n;
    size_t mid1 = mid0 + (n - mid0) / LANES * LANES;
    /* the head [0, mid0) and the tail [mid1, end), which not every run covers: run after run
     * (each element still gets its runs in the order of kw) */
    for (size_t kw = 0; kw < KW; kw++)
        for (size_t v = kw * dw; v < mid0; v++)
            d[v] += s[kw][v - kw * dw];
    size_t v = mid0;
    /* the interior [mid0, mid1), where every run covers v: two vectors at a time, two chains of
     * additions (one vector's chain of KW additions waited on itself, docs/performance.md) */
    for (; v + 2 * LANES <= mid1; v += 2 * LANES) {
        f32x16 acc0, acc1, run0, run1;
        memcpy(&acc0, d + v, sizeof acc0);
        memcpy(&acc1, d + v + LANES, sizeof acc1);
        for (size_t kw = 0; kw < KW; kw++) {
            memcpy(&run0, s[kw] + v - kw * dw, sizeof run0);
            memcpy(&run1, s[kw] + v + LANES - kw * dw, sizeof run1);
            acc0 += run0;
            acc1 += run1;
        }
        memcpy(d + v, &acc0, sizeof acc0);
        memcpy(d + v + LANES, &acc1, sizeof acc1);
    }
    for (; v < mid1; v += LANES) { /* the interior's last vector */
        f32x16 acc, run;
        memcpy(&acc, d + v, sizeof acc);
        for (size_t kw = 0; kw < KW; kw++) {
            memcpy(&run, s[kw] + v - kw * dw, sizeof run);
            acc += run;
        }
        memcpy(d + v, &acc, sizeof acc);
    }
    for (size_t kw = 0; kw < KW; kw++)
        for (size_t t = mid1 > kw * dw ? mid1 : kw * dw; t < n + kw * dw; t++)
            d[t] += s[kw][t - kw * dw];
    (void)end;
}

/* dx += col2im(dcol_wide [K, cols]) for planes [lo, hi) numbered (image of the panel)·C + c: each
 * of the plane's patch rows adds its run, in the order k = (kh, kw), a kernel row's runs at once
 * (the columns past OW carry zeros, from the zero columns of dY). */
static void wide_col2im_planes(size_t lo, size_t hi, void *ctx)
{
    enum { KW_AT_ONCE = 16 };
    const panel_job *pj = ctx;
    const tg_conv_geom *g = pj->g;
    size_t KK = g->KH * g->KW, b0 = pj->j0 / wide_cols(g);
    for (size_t plane = lo; plane < hi; plane++) {
        size_t c = plane % g->C;
        wide_part wp = wide_part_of(pj, b0 + plane / g->C);
        float *dx = pj->dst + (wp.b * g->C + c) * g->H * g->W + wp.ta;
        for (size_t kh = 0; kh < g->KH; kh++)
            for (size_t kw0 = 0; kw0 < g->KW; kw0 += KW_AT_ONCE) {
                size_t nkw = g->KW - kw0 < KW_AT_ONCE ? g->KW - kw0 : KW_AT_ONCE, k0 = c * KK + kh * g->KW + kw0;
                const float *runs[KW_AT_ONCE];
                for (size_t q = 0; q < nkw; q++)
                    runs[q] = pj->src + (k0 + q) * pj->cols + wp.at;
                add_kernel_row(dx + wide_offset(g, k0), runs, nkw, g->dil_w, wp.tz - wp.ta);
            }
    }
}

void tg_conv_forward_wide(tg_simd_path path, const tg_conv_geom *g, const float *x, const float *w, const float *bias,
                          float *y, float *scratch)
{
    size_t K = g->C * g->KH * g->KW, all = g->B * wide_cols(g), panel = wide_panel_cols(g);
    float *col = scratch, *out = scratch + K * panel;
    for (size_t j0 = 0; j0 < all; j0 += panel) {
        panel_job pj = {g, j0, j0 + panel < all ? j0 + panel : all, 0, x, col, bias};
        pj.cols = pj.j1 - pj.j0;
        tg_parallel_for(K, grain_rows(pj.cols), wide_im2col_rows, &pj);
        // out [O, cols] = W [O,K] · col_wide [K, cols]
        tg_gemm_path(path, TG_NOTRANS, TG_NOTRANS, g->O, pj.cols, K, 1.0f, w, K, col, pj.cols, 0.0f, out, pj.cols);
        pj.src = out, pj.dst = y;
        tg_parallel_for(g->O, grain_rows(pj.cols), wide_scatter_rows, &pj);
    }
}

void tg_conv_input_grad_wide(tg_simd_path path, const tg_conv_geom *g, const float *w, const float *dy, float *dx,
                             float *scratch)
{
    size_t K = g->C * g->KH * g->KW, Q = wide_cols(g), all = g->B * Q, panel = wide_panel_cols(g);
    float *dcol = scratch, *dyp = scratch + K * panel;
    for (size_t j0 = 0; j0 < all; j0 += panel) {
        panel_job pj = {g, j0, j0 + panel < all ? j0 + panel : all, 0, dy, dyp, NULL};
        pj.cols = pj.j1 - pj.j0;
        tg_parallel_for(g->O, grain_rows(pj.cols), wide_gather_rows, &pj);
        // dcol_wide [K, cols] = W [O,K]ᵀ · dY_wide [O, cols]
        tg_gemm_path(path, TG_TRANS, TG_NOTRANS, K, pj.cols, g->O, 1.0f, w, K, dyp, pj.cols, 0.0f, dcol, pj.cols);
        pj.src = dcol, pj.dst = dx;
        size_t images = (pj.j1 - 1) / Q - j0 / Q + 1, plane_work = g->KH * g->KW * (pj.cols < Q ? pj.cols : Q);
        tg_parallel_for(images * g->C, grain_rows(plane_work), wide_col2im_planes, &pj);
    }
}
