/* tensor/conv_internal.h — internal: what conv.c (the plain layout) and conv_wide.c (the wide
 * layout) share: the panel a helper works on, the copy helpers, and the choice of layout. */
#ifndef TG_CONV_INTERNAL_H
#define TG_CONV_INTERNAL_H

#include <string.h>

#include "conv.h"

/* A parallel chunk should move at least this many floats: less and handing it to another thread
 * costs more than the copy. */
enum { CHUNK_FLOATS = 8192 };

/* Columns per panel of a virtual matrix of `all` columns and K = C·KH·KW rows. */
static inline size_t panel_cols_of(const tg_conv_geom *g, size_t all)
{
    size_t K = g->C * g->KH * g->KW;
    size_t cols = TG_CONV_PANEL_FLOATS / K;
    if (cols < 16)
        cols = 16; /* a product needs some width; a huge K still gets a thin panel */
    return cols < all ? cols : all;
}

static inline size_t grain_rows(size_t width) { return width >= CHUNK_FLOATS ? 1 : CHUNK_FLOATS / width; }

typedef struct panel_job {
    const tg_conv_geom *g;
    size_t j0, j1, cols;     /* the panel's columns [j0, j1) of the virtual matrix; cols = j1 - j0 */
    const float *src;        /* x (im2col), dy (gather), the output panel (scatter), dcol (col2im) */
    float *dst;              /* col, the dy panel, y, dx */
    const float *bias;       /* scatter: [O] or NULL */
} panel_job;

static inline void zero_floats(float *d, size_t n)
{
    for (size_t q = 0; q < n; q++)
        d[q] = 0.0f;
}

/* d[0, n) <- s[0, n): 8 floats at a time (one inlined move each, not a call), the tail as a last
 * 8 (or 4) that overlaps what is already copied. */
static inline void copy_floats(float *restrict d, const float *restrict s, size_t n)
{
    if (n >= 8) {
        for (size_t q = 0; q + 8 <= n; q += 8)
            memcpy(d + q, s + q, 8 * sizeof(float));
        memcpy(d + n - 8, s + n - 8, 8 * sizeof(float));
    } else if (n >= 4) {
        memcpy(d, s, 4 * sizeof(float));
        memcpy(d + n - 4, s + n - 4, 4 * sizeof(float));
    } else {
        for (size_t q = 0; q < n; q++)
            d[q] = s[q];
    }
}

/* The wide layout (stride 1, no padding).  Output row i's patch row (c, kh, kw) then reads input
 * row i + kh·dil_h from column kw·dil_w on, so if every output row but the last is given W columns
 * instead of OW (its OW real ones, then W − OW that the forward throws away and the input gradient
 * feeds zeros through), image b's patch row (c, kh, kw) over all its outputs is ONE run of its
 * plane: x[b, c][kh·dil_h·W + kw·dil_w + t] for t in [0, Q), Q = (OH − 1)·W + OW, every index
 * inside the plane.  The virtual matrix col_wide [K, B·Q] (column b·Q + t) is then unrolled with
 * one copy per (image, k), and col2im adds one run per (image, k), instead of one per output row
 * each: the price is Q/P times the products' columns, taken when it is at most 3/2.  The products
 * compute each real column with the same operations as in the plain layout, so y has the same bits
 * either way; dx adds its taps in the same order, with the panels cut elsewhere. */
static inline size_t wide_cols(const tg_conv_geom *g) { return (g->OH - 1) * g->W + g->OW; }

/* Stride 1 and no padding: every tap of output row i, kernel row kh, kernel column kw reads inside
 * the image, OW consecutive floats of input row i + kh·dil_h from column kw·dil_w (what both the
 * wide layout and the plain layout's dense fill, conv.c, rest on). */
static inline bool taps_inside(const tg_conv_geom *g)
{
    return g->stride_h == 1 && g->stride_w == 1 && g->pad_h == 0 && g->pad_w == 0;
}

static inline bool use_wide(const tg_conv_geom *g)
{
    return taps_inside(g) && 2 * wide_cols(g) <= 3 * g->OH * g->OW;
}

/* Columns per wide panel: whole images when one fits (a cut image's runs go through the edge
 * code of both panels: whole images measured faster, docs/performance.md), else a cut as plain. */
static inline size_t wide_panel_cols(const tg_conv_geom *g)
{
    size_t Q = wide_cols(g), cols = panel_cols_of(g, g->B * Q);
    return cols >= Q ? cols / Q * Q : cols;
}

/* conv_wide.c: the forward (no kept patches) and the input gradient in the wide layout, for a
 * geometry use_wide accepts; same contracts as tg_conv2d_forward and the dx of tg_conv2d_backward. */
void tg_conv_forward_wide(tg_simd_path path, const tg_conv_geom *g, const float *x, const float *w, const float *bias,
                          float *y, float *scratch);
void tg_conv_input_grad_wide(tg_simd_path path, const tg_conv_geom *g, const float *w, const float *dy, float *dx,
                             float *scratch);

#endif
