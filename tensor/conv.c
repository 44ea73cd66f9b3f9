/* tensor/conv.c — convolution as products over panels of the unrolled patches (see conv.h).
 *
 * The virtual matrix col [K, B·P] (K = C·KH·KW, P = OH·OW) is walked in panels of `cols` columns:
 * column j is output position p = j mod P of image b = j / P.  Every helper below works on one
 * panel [j0, j1) and walks it in segments: the columns of one output row of one image, which are
 * contiguous in x, y and dy alike. */
#include "conv.h"

#include <string.h>

#include "parallel.h"
#include "vmath.h"

/* A parallel chunk should move at least this many floats: less and handing it to another thread
 * costs more than the copy. */
enum { CHUNK_FLOATS = 8192 };

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

size_t tg_conv_panel_cols(const tg_conv_geom *g)
{
    size_t K = g->C * g->KH * g->KW, all = g->B * g->OH * g->OW;
    size_t cols = TG_CONV_PANEL_FLOATS / K;
    if (cols < 16)
        cols = 16; /* a product needs some width; a huge K still gets a thin panel */
    return cols < all ? cols : all;
}

size_t tg_conv_scratch_floats(const tg_conv_geom *g)
{
    return (g->C * g->KH * g->KW + g->O) * tg_conv_panel_cols(g);
}

/* One segment of a panel: `len` columns starting at column j of the virtual matrix, all in output
 * row i of image b, from output column ow0.  segment_at finds the first; segment_next moves to the
 * one after it (the next output row, from its column 0), without a division. */
typedef struct segment {
    size_t j, b, i, ow0, len;
} segment;

static segment segment_at(const tg_conv_geom *g, size_t j, size_t j1)
{
    size_t P = g->OH * g->OW, p = j % P;
    segment s = {j, j / P, p / g->OW, p % g->OW, 0};
    s.len = g->OW - s.ow0 < j1 - j ? g->OW - s.ow0 : j1 - j;
    return s;
}

static void segment_next(const tg_conv_geom *g, segment *s, size_t j1)
{
    s->j += s->len, s->ow0 = 0;
    if (++s->i == g->OH)
        s->i = 0, s->b++;
    s->len = g->OW < j1 - s->j ? g->OW : j1 - s->j;
}

/* Where kernel column kw reads for a segment: input column iw = iw0 + q·stride_w for its outputs
 * q in [lo, hi) (inside the image); the rest read padding. */
typedef struct span {
    long iw0;
    size_t lo, hi;
} span;

static span span_of(const tg_conv_geom *g, size_t ow0, size_t len, size_t kw)
{
    long sw = (long)g->stride_w, W = (long)g->W;
    long base = (long)(ow0 * g->stride_w + kw * g->dil_w) - (long)g->pad_w; /* iw at q = 0 */
    long a = base >= 0 ? 0 : (-base + sw - 1) / sw;
    long z = base > W - 1 ? 0 : (W - 1 - base) / sw + 1;
    if (z > (long)len)
        z = (long)len;
    if (a > z)
        a = z;
    return (span){base, (size_t)a, (size_t)z};
}

/* The span of a segment: a whole output row's is computed once per kernel column (`full`). */
static span segment_span(const tg_conv_geom *g, const segment *s, size_t kw, const span *full)
{
    return s->ow0 == 0 && s->len == g->OW ? *full : span_of(g, s->ow0, s->len, kw);
}

/* The input row under output row i for kernel row kh, or -1 when it is padding. */
static long input_row(const tg_conv_geom *g, size_t i, size_t kh)
{
    long ih = (long)(i * g->stride_h + kh * g->dil_h) - (long)g->pad_h;
    return ih >= 0 && ih < (long)g->H ? ih : -1;
}

typedef struct panel_job {
    const tg_conv_geom *g;
    size_t j0, j1, cols;     /* the panel's columns [j0, j1) of the virtual matrix; cols = j1 - j0 */
    const float *src;        /* x (im2col), dy (gather), the output panel (scatter), dcol (col2im) */
    float *dst;              /* col, the dy panel, y, dx */
    const float *bias;       /* scatter: [O] or NULL */
} panel_job;

// d[0, len) <- the segment's taps of one input row (NULL: all padding)
static inline void fill_segment(float *d, const float *row, span sp, size_t len, size_t stride)
{
    if (!row)
        sp.lo = sp.hi = 0;
    for (size_t q = 0; q < sp.lo; q++)
        d[q] = 0.0f;
    if (stride == 1)
        for (size_t q = sp.lo; q < sp.hi; q++)
            d[q] = row[sp.iw0 + (long)q];
    else
        for (size_t q = sp.lo; q < sp.hi; q++)
            d[q] = row[sp.iw0 + (long)(q * stride)];
    for (size_t q = sp.hi; q < len; q++)
        d[q] = 0.0f;
}

// col rows [lo, hi) of the panel [K, cols] <- x [B,C,H,W]: row r = (c, kh, kw)
static void im2col_rows(size_t lo, size_t hi, void *ctx)
{
    const panel_job *pj = ctx;
    const tg_conv_geom *g = pj->g;
    for (size_t r = lo; r < hi; r++) {
        size_t c = r / (g->KH * g->KW), kh = r / g->KW % g->KH, kw = r % g->KW;
        span full = span_of(g, 0, g->OW, kw);
        float *d = pj->dst + r * pj->cols;
        for (segment s = segment_at(g, pj->j0, pj->j1); s.j < pj->j1; segment_next(g, &s, pj->j1)) {
            long ih = input_row(g, s.i, kh);
            const float *row = ih < 0 ? NULL : pj->src + ((s.b * g->C + c) * g->H + (size_t)ih) * g->W;
            fill_segment(d, row, segment_span(g, &s, kw, &full), s.len, g->stride_w);
            d += s.len;
        }
    }
}

// dx [B,C,H,W] += col2im(dcol [K, cols]), planes (b, c) = [lo, hi) counted from the panel's first image
static void col2im_planes(size_t lo, size_t hi, void *ctx)
{
    const panel_job *pj = ctx;
    const tg_conv_geom *g = pj->g;
    size_t P = g->OH * g->OW, b_first = pj->j0 / P, KK = g->KH * g->KW;
    for (size_t plane = lo; plane < hi; plane++) {
        size_t b = b_first + plane / g->C, c = plane % g->C;
        size_t ja = b * P > pj->j0 ? b * P : pj->j0, jz = (b + 1) * P < pj->j1 ? (b + 1) * P : pj->j1;
        float *dx = pj->dst + (b * g->C + c) * g->H * g->W;
        for (size_t k = 0; k < KK; k++) {
            size_t kh = k / g->KW, kw = k % g->KW;
            span full = span_of(g, 0, g->OW, kw);
            const float *d = pj->src + (c * KK + k) * pj->cols + (ja - pj->j0);
            for (segment s = segment_at(g, ja, jz); s.j < jz; segment_next(g, &s, jz)) {
                long ih = input_row(g, s.i, kh);
                span sp = segment_span(g, &s, kw, &full);
                float *row = dx + (size_t)(ih < 0 ? 0 : ih) * g->W;
                for (size_t q = sp.lo; q < sp.hi && ih >= 0; q++)
                    row[sp.iw0 + (long)(q * g->stride_w)] += d[q];
                d += s.len;
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

/* Rows per parallel chunk for rows of `width` floats. */
static size_t grain_rows(size_t width) { return width >= CHUNK_FLOATS ? 1 : CHUNK_FLOATS / width; }

static void fill_col(panel_job pj, const float *x, float *col)
{
    pj.src = x, pj.dst = col;
    tg_parallel_for(pj.g->C * pj.g->KH * pj.g->KW, grain_rows(pj.cols), im2col_rows, &pj);
}

size_t tg_conv_cols_floats(const tg_conv_geom *g) { return g->C * g->KH * g->KW * g->B * g->OH * g->OW; }

void tg_conv2d_forward(tg_simd_path path, const tg_conv_geom *g, const float *x, const float *w, const float *bias,
                       float *y, float *scratch, float *kept)
{
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

void tg_conv2d_backward(tg_simd_path path, const tg_conv_geom *g, const float *x, const float *w, const float *dy,
                        float *dx, float *dw, float *db, float *scratch, const float *kept)
{
    size_t K = g->C * g->KH * g->KW, P = g->OH * g->OW, all = g->B * P, panel = tg_conv_panel_cols(g);
    float *col = scratch, *dyp = scratch + K * panel;
    if (db) {
        bias_job bj = {g, dy, db};
        tg_parallel_for(g->O, 1, bias_rows, &bj);
    }
    for (size_t j0 = 0; j0 < all && (dx || dw); j0 += panel) {
        panel_job pj = {g, j0, j0 + panel < all ? j0 + panel : all, 0, dy, dyp, NULL};
        pj.cols = pj.j1 - pj.j0;
        tg_parallel_for(g->O, grain_rows(pj.cols), gather_rows, &pj);
        if (dw) {
            const float *patches = kept ? kept + K * j0 : col;
            if (!kept)
                fill_col(pj, x, col);
            // dW [O,K] += dY [O, cols] · col [K, cols]ᵀ: the batch's share in this panel
            tg_gemm_path(path, TG_NOTRANS, TG_TRANS, g->O, K, pj.cols, 1.0f, dyp, pj.cols, patches, pj.cols, 1.0f, dw,
                         K);
        }
        if (dx) {
            // dcol [K, cols] = W [O,K]ᵀ · dY [O, cols]; then each patch adds back into its pixels
            tg_gemm_path(path, TG_TRANS, TG_NOTRANS, K, pj.cols, g->O, 1.0f, w, K, dyp, pj.cols, 0.0f, col, pj.cols);
            size_t b_first = pj.j0 / P, b_last = (pj.j1 - 1) / P;
            pj.src = col, pj.dst = dx;
            size_t plane_work = g->KH * g->KW * (pj.cols < P ? pj.cols : P);
            tg_parallel_for((b_last - b_first + 1) * g->C, grain_rows(plane_work), col2im_planes, &pj);
        }
    }
}
