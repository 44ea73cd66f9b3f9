/* tensor/conv.c — convolution as products over panels of the unrolled patches (see conv.h).
 *
 * The virtual matrix col [K, B·P] (K = C·KH·KW, P = OH·OW) is walked in panels of `cols` columns:
 * column j is output position p = j mod P of image b = j / P.  Every helper below works on one
 * panel [j0, j1), image part by image part (the panel's columns of one image), and within one
 * output row by output row: the columns of one output row are contiguous in x, y and dy alike.
 * Only the first and last rows of a part can be cut by the panel; the rows between are whole and
 * go through short loops (the bookkeeping per row, not the floats, was what the unrolling cost). */
#include "conv_internal.h"

#include "parallel.h"
#include "tensor.h"
#include "vmath.h"

bool tg_conv_geom_init(tg_conv_geom *g)
{
    if (!g->B || !g->C || !g->H || !g->W || !g->O || !g->KH || !g->KW || !g->stride_h || !g->stride_w || !g->dil_h ||
        !g->dil_w)
        return false;
    size_t span_h = g->dil_h * (g->KH - 1) + 1, span_w = g->dil_w * (g->KW - 1) + 1;
    if (g->H + 2 * g->pad_h < span_h || g->W + 2 * g->pad_w < span_w)
        return false;
    g->OH = (g->H + 2 * g->pad_h - span_h) / g->stride_h + 1;
    g->OW = (g->W + 2 * g->pad_w - span_w) / g->stride_w + 1;
    return true;
}

size_t tg_conv_panel_cols(const tg_conv_geom *g) { return panel_cols_of(g, g->B * g->OH * g->OW); }

size_t tg_conv_scratch_floats(const tg_conv_geom *g)
{
    size_t K = g->C * g->KH * g->KW, plain = tg_conv_panel_cols(g);
    size_t wide = use_wide(g) ? panel_cols_of(g, g->B * wide_cols(g)) : 0;
    return (K + 2 * g->O) * (wide > plain ? wide : plain) + K * g->O;
}

/* Where kernel column kw reads for a segment: input column iw = iw0 + q·stride_w for its outputs
 * q in [lo, hi) (inside the image); the rest read padding. */
typedef struct span {
    long iw0;
    size_t lo, hi;
} span;

static span span_of(const tg_conv_geom *g, size_t kw)
{
    long sw = (long)g->stride_w, W = (long)g->W, len = (long)g->OW;
    long base = (long)(kw * g->dil_w) - (long)g->pad_w; /* iw at q = 0 */
    long a, z;
    if (sw == 1) /* (no division: this runs once per kernel column of every item) */
        a = base >= 0 ? 0 : -base, z = base > W - 1 ? 0 : W - base;
    else
        a = base >= 0 ? 0 : (-base + sw - 1) / sw, z = base > W - 1 ? 0 : (W - 1 - base) / sw + 1;
    if (z > len)
        z = len;
    if (a > z)
        a = z;
    return (span){base, (size_t)a, (size_t)z};
}

/* The input row under output row i for kernel row kh, or -1 when it is padding. */
static long input_row(const tg_conv_geom *g, size_t i, size_t kh)
{
    long ih = (long)(i * g->stride_h + kh * g->dil_h) - (long)g->pad_h;
    return ih >= 0 && ih < (long)g->H ? ih : -1;
}

/* The part of image b's P columns inside the panel, [pa, pz), and the output rows it spans. */
typedef struct image_part {
    size_t b, pa, pz, i0, i1;
    long d;   /* column of the panel where image b's column 0 would be (may be negative) */
} image_part;

static image_part image_part_of(const panel_job *pj, size_t b)
{
    const tg_conv_geom *g = pj->g;
    size_t P = g->OH * g->OW, ja = b * P > pj->j0 ? b * P : pj->j0, jz = (b + 1) * P < pj->j1 ? (b + 1) * P : pj->j1;
    image_part ip = {b, ja - b * P, jz - b * P, 0, 0, (long)(b * P) - (long)pj->j0};
    ip.i0 = ip.pa / g->OW, ip.i1 = (ip.pz - 1) / g->OW + 1;
    return ip;
}

/* Output row i's columns inside the panel: [q0, q1) of [0, OW). */
static inline void row_columns(const tg_conv_geom *g, const image_part *ip, size_t i, size_t *q0, size_t *q1)
{
    *q0 = i == ip->i0 ? ip->pa - i * g->OW : 0;
    *q1 = i + 1 == ip->i1 ? ip->pz - i * g->OW : g->OW;
}

/* d[q] += s[q·stride] for q in [0, n) */
static inline void add_floats(float *restrict d, const float *restrict s, size_t n, size_t stride)
{
    if (stride != 1) {
        for (size_t q = 0; q < n; q++)
            d[q * stride] += s[q];
        return;
    }
    size_t q = 0;
    for (; q + 8 <= n; q += 8)
        for (size_t v = 0; v < 8; v++)
            d[q + v] += s[q + v];
    for (; q < n; q++)
        d[q] += s[q];
}

/* Output row i's columns [q0, q1) that read input row ih = input_row(i, kh) inside the image,
 * [a, z), for kernel column kw's span over a whole output row. */
static inline void inside(span full, size_t q0, size_t q1, size_t *a, size_t *z)
{
    *a = full.lo < q0 ? q0 : full.lo > q1 ? q1 : full.lo;
    *z = full.hi < *a ? *a : full.hi > q1 ? q1 : full.hi;
}

/* d[q - q0] for q in [q0, q1) <- output row i's taps of input row ih (< 0: padding), kernel
 * column span `full` (d points at column q0 of the row). */
static inline void fill_row(float *d, const float *plane, long ih, span full, size_t q0, size_t q1, size_t W,
                            size_t sw)
{
    size_t a, z;
    inside(full, q0, q1, &a, &z);
    if (ih < 0)
        a = z = q1;
    zero_floats(d, a - q0);
    const float *src = plane + (size_t)(ih < 0 ? 0 : ih) * W + full.iw0;
    if (sw == 1)
        copy_floats(d + (a - q0), src + a, z - a);
    else
        for (size_t q = a; q < z; q++)
            d[q - q0] = src[q * sw];
    zero_floats(d + (z - q0), q1 - z);
}

/* One col row (c, kh, kw) over image part ip: d points at the image's first column in the panel.
 * The first and last output rows may be cut by the panel; the rows between are whole, and go
 * through the short loop (the work per output row, not the floats, is what im2col costs). */
static void fill_col_row(const tg_conv_geom *g, const image_part *ip, float *d, const float *plane, size_t kh,
                         span full)
{
    size_t OW = g->OW, i = ip->i0, i1 = ip->i1, q0, q1;
    row_columns(g, ip, i, &q0, &q1);
    if (q0 != 0 || (q1 != OW && i + 1 == i1)) { /* a cut first row */
        fill_row(d, plane, input_row(g, i, kh), full, q0, q1, g->W, g->stride_w);
        d += q1 - q0, i++;
    }
    size_t last_cut = i < i1 && (ip->pz - (i1 - 1) * OW) != OW;
    for (; i + last_cut < i1; i++, d += OW) {
        long ih = input_row(g, i, kh);
        if (ih >= 0 && full.lo == 0 && full.hi == OW && g->stride_w == 1)
            copy_floats(d, plane + (size_t)ih * g->W + full.iw0, OW);
        else
            fill_row(d, plane, ih, full, 0, OW, g->W, g->stride_w);
    }
    if (i < i1) /* a cut last row */
        fill_row(d, plane, input_row(g, i, kh), full, 0, ip->pz - i * OW, g->W, g->stride_w);
}

/* Items (image, c, kh), counted from the panel's first image, for [lo, hi): col rows (c, kh, kw)
 * for every kw, over the image's columns in the panel, from x [B,C,H,W]. */
static void im2col_items(size_t lo, size_t hi, void *ctx)
{
    const panel_job *pj = ctx;
    const tg_conv_geom *g = pj->g;
    size_t P = g->OH * g->OW, b = pj->j0 / P + lo / (g->KH * g->C), kh = lo % g->KH, c = lo / g->KH % g->C;
    image_part ip = image_part_of(pj, b);
    for (size_t item = lo; item < hi; item++) {
        const float *plane = pj->src + (ip.b * g->C + c) * g->H * g->W;
        for (size_t kw = 0; kw < g->KW; kw++) {
            float *d = pj->dst + ((c * g->KH + kh) * g->KW + kw) * pj->cols + (size_t)(ip.d + (long)ip.pa);
            fill_col_row(g, &ip, d, plane, kh, span_of(g, kw));
        }
        if (++kh == g->KH && (kh = 0, ++c == g->C) && item + 1 < hi) /* the next item, without a division */
            c = 0, ip = image_part_of(pj, ++b);
    }
}

/* Output row i's columns [q0, q1) of one dcol row (s: column q0) added onto the input row ih
 * under kernel column span `full` (taps in padding add nothing). */
static inline void add_row(float *plane, long ih, const float *s, span full, size_t q0, size_t q1, size_t W,
                           size_t sw)
{
    size_t a, z;
    inside(full, q0, q1, &a, &z);
    if (ih >= 0)
        add_floats(plane + (size_t)ih * W + (size_t)(full.iw0 + (long)(a * sw)), s + (a - q0), z - a, sw);
}

/* One dcol row (c, kh, kw) over image part ip added onto its plane of dx, output row after output
 * row (s points at the image's first column in the panel); the whole rows between the cut first
 * and last go through the short loop. */
static void add_col_row(const tg_conv_geom *g, const image_part *ip, const float *s, float *plane, size_t kh,
                        span full)
{
    size_t OW = g->OW, i = ip->i0, i1 = ip->i1, q0, q1;
    row_columns(g, ip, i, &q0, &q1);
    if (q0 != 0 || (q1 != OW && i + 1 == i1)) { /* a cut first row */
        add_row(plane, input_row(g, i, kh), s, full, q0, q1, g->W, g->stride_w);
        s += q1 - q0, i++;
    }
    size_t last_cut = i < i1 && (ip->pz - (i1 - 1) * OW) != OW;
    for (; i + last_cut < i1; i++, s += OW) {
        long ih = input_row(g, i, kh);
        if (ih >= 0 && full.lo == 0 && full.hi == OW && g->stride_w == 1)
            add_floats(plane + (size_t)ih * g->W + full.iw0, s, OW, 1);
        else
            add_row(plane, ih, s, full, 0, OW, g->W, g->stride_w);
    }
    if (i < i1) /* a cut last row */
        add_row(plane, input_row(g, i, kh), s, full, 0, ip->pz - i * OW, g->W, g->stride_w);
}

/* dx [B,C,H,W] += col2im(dcol [K, cols]) for planes [lo, hi), numbered channel-major (plane
 * c·images + n is channel c of the panel's n-th image).  Each dx element receives its taps in the
 * order k = (kh, kw) (one per k at most).  The loop over k is the outer one, so that dcol is read
 * row after row, each row across consecutive images, while the planes (a few KB) stay in L1;
 * planes go in groups of PLANES_AT_ONCE to keep their parts on the stack. */
enum { COL2IM_MIN_PLANES = 16 };
static void col2im_planes(size_t lo, size_t hi, void *ctx)
{
    enum { PLANES_AT_ONCE = 64 };
    const panel_job *pj = ctx;
    const tg_conv_geom *g = pj->g;
    size_t P = g->OH * g->OW, b_first = pj->j0 / P, KK = g->KH * g->KW;
    size_t images = (pj->j1 - 1) / P - b_first + 1;
    for (size_t p0 = lo; p0 < hi; p0 += PLANES_AT_ONCE) {
        size_t n = hi - p0 < PLANES_AT_ONCE ? hi - p0 : PLANES_AT_ONCE, c0 = p0 / images, n0 = p0 % images;
        image_part ip[PLANES_AT_ONCE];
        size_t chan[PLANES_AT_ONCE];
        for (size_t q = 0, c = c0, m = n0; q < n; q++) {
            ip[q] = image_part_of(pj, b_first + m), chan[q] = c;
            if (++m == images)
                m = 0, c++;
        }
        for (size_t kh = 0; kh < g->KH; kh++)
            for (size_t kw = 0; kw < g->KW; kw++) {
                span full = span_of(g, kw);
                for (size_t q = 0; q < n; q++) {
                    const float *s = pj->src + (chan[q] * KK + kh * g->KW + kw) * pj->cols +
                                     (size_t)(ip[q].d + (long)ip[q].pa);
                    float *dx = pj->dst + (ip[q].b * g->C + chan[q]) * g->H * g->W;
                    add_col_row(g, &ip[q], s, dx, kh, full);
                }
            }
    }
}

// the dy panel [O, cols] <- dy [B,O,P], rows o in [lo, hi)
static void gather_rows(size_t lo, size_t hi, void *ctx)
{
    const panel_job *pj = ctx;
    size_t P = pj->g->OH * pj->g->OW, O = pj->g->O;
    for (size_t o = lo; o < hi; o++)
        for (size_t j = pj->j0; j < pj->j1;) {
            size_t b = j / P, p = j % P, len = P - p < pj->j1 - j ? P - p : pj->j1 - j;
            memcpy(pj->dst + o * pj->cols + (j - pj->j0), pj->src + (b * O + o) * P + p, len * sizeof(float));
            j += len;
        }
}

// y [B,O,P] <- the output panel [O, cols] + bias[o], rows o in [lo, hi)
static void scatter_rows(size_t lo, size_t hi, void *ctx)
{
    const panel_job *pj = ctx;
    size_t P = pj->g->OH * pj->g->OW, O = pj->g->O;
    for (size_t o = lo; o < hi; o++) {
        float bo = pj->bias ? pj->bias[o] : 0.0f;
        for (size_t j = pj->j0; j < pj->j1;) {
            size_t b = j / P, p = j % P, len = P - p < pj->j1 - j ? P - p : pj->j1 - j;
            const float *s = pj->src + o * pj->cols + (j - pj->j0);
            float *d = pj->dst + (b * O + o) * P + p;
            for (size_t q = 0; q < len; q++)
                d[q] = s[q] + bo;
            j += len;
        }
    }
}

/* d <- `len` columns of a patch row from output position q0 of its first output row on, one
 * input row (s, then s + W, ...) per output row: OW floats each, the first and last maybe cut. */
static inline void copy_patch_rows(float *d, const float *s, size_t q0, size_t len, size_t OW, size_t W)
{
    if (q0) { /* a cut first row */
        size_t n = OW - q0 < len ? OW - q0 : len;
        copy_floats(d, s + q0, n);
        d += n, len -= n, s += W;
    }
    for (; len >= OW; len -= OW, s += W, d += OW)
        copy_floats(d, s, OW);
    if (len) /* a cut last row */
        copy_floats(d, s, len);
}

/* Items (image of the panel)·K + k in [lo, hi), stride 1 and no padding: col row k over the image's
 * columns in the panel, output row after output row, each row OW floats of one input row (every
 * tap inside the image), from input row i + kh·dil_h, column kw·dil_w on.  The same copies as
 * im2col_items, without its per-row padding and stride bookkeeping. */
static void im2col_dense_items(size_t lo, size_t hi, void *ctx)
{
    const panel_job *pj = ctx;
    const tg_conv_geom *g = pj->g;
    size_t P = g->OH * g->OW, K = g->C * g->KH * g->KW, HW = g->H * g->W, W = g->W;
    for (size_t item = lo; item < hi;) { /* the items of one image at a time: (c, kh, kw) counted, not divided */
        size_t n = item / K, ka = item - n * K, kz = hi - n * K < K ? hi - n * K : K;
        image_part ip = image_part_of(pj, pj->j0 / P + n);
        size_t q0 = ip.pa - ip.i0 * g->OW, len = ip.pz - ip.pa;
        const float *x_b = pj->src + ip.b * g->C * HW + ip.i0 * W;
        float *d = pj->dst + ka * pj->cols + (size_t)(ip.d + (long)ip.pa);
        size_t c = ka / (g->KH * g->KW), kh = ka / g->KW % g->KH, kw = ka % g->KW;
        for (size_t k = ka; k < kz; k++, d += pj->cols) {
            copy_patch_rows(d, x_b + c * HW + kh * g->dil_h * W + kw * g->dil_w, q0, len, g->OW, W);
            if (++kw == g->KW && (kw = 0, ++kh == g->KH))
                kh = 0, c++;
        }
        item = n * K + kz;
    }
}

static void fill_col(panel_job pj, const float *x, float *col)
{
    pj.src = x, pj.dst = col;
    const tg_conv_geom *g = pj.g;
    size_t P = g->OH * g->OW, images = (pj.j1 - 1) / P - pj.j0 / P + 1;
    if (taps_inside(g)) { /* the forward that keeps its patches, and dw when it unrolls them */
        size_t K = g->C * g->KH * g->KW;
        tg_parallel_for(images * K, grain_rows(pj.cols < P ? pj.cols : P), im2col_dense_items, &pj);
        return;
    }
    size_t item_work = g->KW * (pj.cols < P ? pj.cols : P);
    tg_parallel_for(images * g->C * g->KH, grain_rows(item_work), im2col_items, &pj);
}

size_t tg_conv_cols_floats(const tg_conv_geom *g) { return g->C * g->KH * g->KW * g->B * g->OH * g->OW; }

/* Non-finite values.  The kernels feed zeros through where the definition has no term at all (a
 * tap in the padding, the wide layout's columns past OW), and 0·inf is NaN: an infinite weight
 * would turn outputs and input gradients into NaN that the definition leaves finite, and an
 * infinite dy would do the same to dw through the padding.  The reference loops skip those taps,
 * so a pass with a non-finite weight (or, for dw with padding, a non-finite dy) runs them: the
 * definition's infinities and NaNs, at the reference's speed, on a step the optimizer refuses
 * anyway.  The checks cost one pass over w (and over dy, with padding). */
static bool weights_finite(const tg_conv_geom *g, const float *w)
{
    return tg_floats_finite(w, g->O * g->C * g->KH * g->KW);
}

static bool padding_meets(const tg_conv_geom *g, const float *dy)
{
    return (g->pad_h || g->pad_w) && !tg_floats_finite(dy, g->B * g->O * g->OH * g->OW);
}

void tg_conv2d_forward(tg_simd_path path, const tg_conv_geom *g, const float *x, const float *w, const float *bias,
                       float *y, float *scratch, float *kept)
{
    if (!weights_finite(g, w)) { /* (kept stays unfilled: the backward sees the same w) */
        tg_conv2d_forward_ref(g, x, w, bias, y);
        return;
    }
    if (!kept && use_wide(g)) {
        tg_conv_forward_wide(path, g, x, w, bias, y, scratch);
        return;
    }
    size_t K = g->C * g->KH * g->KW, all = g->B * g->OH * g->OW, panel = tg_conv_panel_cols(g);
    float *out = scratch + K * panel;
    for (size_t j0 = 0; j0 < all; j0 += panel) {
        panel_job pj = {g, j0, j0 + panel < all ? j0 + panel : all, 0, NULL, NULL, bias};
        pj.cols = pj.j1 - pj.j0;
        float *col = kept ? kept + K * j0 : scratch; /* kept: panel after panel, each [K, cols] */
        fill_col(pj, x, col);
        // out [O, cols] = W [O,K] · col [K, cols]
        tg_gemm_path(path, TG_NOTRANS, TG_NOTRANS, g->O, pj.cols, K, 1.0f, w, K, col, pj.cols, 0.0f, out, pj.cols);
        pj.src = out, pj.dst = y;
        tg_parallel_for(g->O, grain_rows(pj.cols), scatter_rows, &pj);
    }
}

/* db[o] += Σ_{b,p} dy[b,o,p], in double, for o in [lo, hi) */
typedef struct bias_job {
    const tg_conv_geom *g;
    const float *dy;
    float *db;
} bias_job;

static void bias_rows(size_t lo, size_t hi, void *ctx)
{
    const bias_job *bj = ctx;
    size_t P = bj->g->OH * bj->g->OW, O = bj->g->O;
    for (size_t o = lo; o < hi; o++) {
        double sum = 0.0; /* each image's plane over lanes (one serial sum waits on every addition) */
        for (size_t b = 0; b < bj->g->B; b++)
            sum += lanes_sum(bj->dy + (b * O + o) * P, P);
        bj->db[o] += (float)sum;
    }
}

/* dyT [cols, O] <- the panel's columns of dy [B,O,P], transposed: image part after image part. */
static void gather_transposed(tg_simd_path path, const panel_job *pj, const float *dy, float *dyT)
{
    const tg_conv_geom *g = pj->g;
    size_t P = g->OH * g->OW;
    for (size_t b = pj->j0 / P; b * P < pj->j1; b++) {
        image_part ip = image_part_of(pj, b);
        tg_transpose_path(path, dyT + (size_t)(ip.d + (long)ip.pa) * g->O, g->O, dy + b * g->O * P + ip.pa, P, g->O,
                          ip.pz - ip.pa);
    }
}

/* dw [O,K] += dwT [K,O] transposed */
static void add_transposed(float *dw, const float *dwT, size_t O, size_t K)
{
    for (size_t o = 0; o < O; o++)
        for (size_t k = 0; k < K; k++)
            dw[o * K + k] += dwT[k * O + o];
}

/* With O >= DW_TRANSPOSED_MIN_O filters the weight gradient is computed transposed,
 * dWᵀ [K,O] = Σ_panels col [K, cols] · dYᵀ [cols, O], into scratch, and added onto dw at the end:
 * that product reads col as it lies and dYᵀ (a small transposed gather), where dW = dY · colᵀ has
 * the product transpose all of col to pack it.  With fewer filters dYᵀ is too narrow for the
 * kernels' tiles and dW = dY · colᵀ is the faster (docs/performance.md, "Convolution").  The
 * choice depends on the geometry alone, so the bits do not depend on the machine. */
enum { DW_TRANSPOSED_MIN_O = 12 };

void tg_conv2d_backward(tg_simd_path path, const tg_conv_geom *g, const float *x, const float *w, const float *dy,
                        float *dx, float *dw, float *db, float *scratch, const float *kept)
{
    size_t K = g->C * g->KH * g->KW, P = g->OH * g->OW, all = g->B * P, panel = tg_conv_panel_cols(g);
    float *col = scratch, *dyp = col + K * panel, *dyT = dyp + g->O * panel, *dwT = dyT + g->O * panel;
    const bool transposed = g->O >= DW_TRANSPOSED_MIN_O;
    if (!weights_finite(g, w) || (dw && padding_meets(g, dy))) {
        tg_conv2d_backward_ref(g, x, w, dy, dx, dw, db);
        return;
    }
    if (db) {
        bias_job bj = {g, dy, db};
        tg_parallel_for(g->O, 1, bias_rows, &bj);
    }
    if (dx && use_wide(g)) { /* before the weight gradient's loop: dwT lives in the scratch it uses */
        tg_conv_input_grad_wide(path, g, w, dy, dx, scratch);
        dx = NULL;
    }
    for (size_t j0 = 0; j0 < all && (dx || dw); j0 += panel) {
        panel_job pj = {g, j0, j0 + panel < all ? j0 + panel : all, 0, dy, dyp, NULL};
        pj.cols = pj.j1 - pj.j0;
        if (dw) {
            const float *patches = kept ? kept + K * j0 : col;
            if (!kept)
                fill_col(pj, x, col);
            if (transposed) {
                gather_transposed(path, &pj, dy, dyT);
                // dWᵀ [K,O] (+)= col [K, cols] · dYᵀ [cols, O]: the batch's share in this panel
                tg_gemm_path(path, TG_NOTRANS, TG_NOTRANS, K, g->O, pj.cols, 1.0f, patches, pj.cols, dyT, g->O,
                             j0 == 0 ? 0.0f : 1.0f, dwT, g->O);
            } else {
                tg_parallel_for(g->O, grain_rows(pj.cols), gather_rows, &pj);
                // dW [O,K] += dY [O, cols] · col [K, cols]ᵀ
                tg_gemm_path(path, TG_NOTRANS, TG_TRANS, g->O, K, pj.cols, 1.0f, dyp, pj.cols, patches, pj.cols, 1.0f,
                             dw, K);
            }
        }
        if (dx) {
            if (!dw || transposed)
                tg_parallel_for(g->O, grain_rows(pj.cols), gather_rows, &pj);
            // dcol [K, cols] = W [O,K]ᵀ · dY [O, cols]; then each patch adds back into its pixels
            tg_gemm_path(path, TG_TRANS, TG_NOTRANS, K, pj.cols, g->O, 1.0f, w, K, dyp, pj.cols, 0.0f, col, pj.cols);
            size_t b_first = pj.j0 / P, b_last = (pj.j1 - 1) / P;
            pj.src = col, pj.dst = dx;
            size_t plane_work = g->KH * g->KW * (pj.cols < P ? pj.cols : P);
            size_t grain = grain_rows(plane_work) > COL2IM_MIN_PLANES ? grain_rows(plane_work) : COL2IM_MIN_PLANES;
            tg_parallel_for((b_last - b_first + 1) * g->C, grain, col2im_planes, &pj);
        }
    }
    if (dw && transposed)
        add_transposed(dw, dwT, g->O, K);
}
