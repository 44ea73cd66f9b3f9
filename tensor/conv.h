/* tensor/conv.h — 2-D convolution kernels in NCHW, built on tg_gemm, and their plain reference twins.
 *
 * Layout (the library's one choice, NCHW, as PyTorch's default and kann's):
 *   x [B,C,H,W]   input: B images of C channels of H rows of W pixels, row-major
 *   w [O,C,KH,KW] weight: O filters, each C channels of KH×KW taps
 *   b [O]         bias (optional)
 *   y [B,O,OH,OW] output, OH = (H + 2·pad_h − dil_h·(KH−1) − 1) / stride_h + 1 (floor), OW alike
 *   y[b,o,i,j] = b[o] + Σ_{c,kh,kw} w[o,c,kh,kw] · x[b, c, i·stride_h − pad_h + kh·dil_h,
 *                                                       j·stride_w − pad_w + kw·dil_w]
 * with x = 0 outside the image (zero padding).  NCHW keeps a channel's plane contiguous, so a
 * 1-D signal [B,C,L] is the same kernel with H = KH = 1 (conv1d), and y's per-image block
 * [O, OH·OW] is a product's output with no transpose.
 *
 * How (tensor/conv.c): the K = C·KH·KW unrolled patches ("im2col") of the batch form a virtual
 * matrix col [K, B·OH·OW] (column (b,i,j) holds the patch under y[b,·,i,j]).  It is never built
 * whole: a panel of its columns, at most TG_CONV_PANEL_FLOATS floats, is filled, used by the
 * products, and refilled for the next columns.  Then
 *   forward        Y_panel [O, cols] = W [O,K] · col_panel             then copied into y (+ bias)
 *   weight grad    dWᵀ [K,O] += col_panel · dY_panelᵀ [cols, O]          (the reduction over the batch
 *                                                 runs inside the product; dw += dWᵀ transposed at the end)
 *   input grad     dcol_panel [K, cols] = Wᵀ · dY_panel,  then scattered back ("col2im") into dx
 * Panels span image boundaries, so small images are batched into one product (LeNet's second layer:
 * 4.4 images of 10×10 outputs per panel of 436 columns) and large ones are cut.  The panel's size
 * bounds memory and keeps the panel in L2 while the product streams it (docs/performance.md has the
 * measurement).
 * With stride 1 and no padding the forward (when it keeps no patches) and the input gradient use
 * a "wide" col instead, whose output rows are W columns long (OW real ones and W − OW thrown away,
 * or fed zeros): each image's patch row (c, kh, kw) is then one contiguous run of its plane, so
 * im2col copies and col2im adds one run per (image, k) rather than one per output row, for up to
 * 3/2 the products' columns (conv_internal.h, wide_cols).  Its panels hold whole images when one fits.
 * The patches the forward keeps stay in the plain layout (the weight gradient's product over a wide
 * col would pay for its columns past OW); with stride 1 and no padding they are filled by a plain
 * copy per output row, none of the padding and stride bookkeeping (conv.c, im2col_dense_items).
 *
 * Determinism: panel boundaries depend on the geometry alone; every fill and scatter is split over
 * threads by disjoint output regions, each element's additions in a fixed order; the products are
 * tg_gemm's (the same bits for any thread count).  So results are the same bits on any thread count.
 * Accumulating: the backward ADDS into dx, dw and db (as every backward does). */
#ifndef TG_CONV_H
#define TG_CONV_H

#include <stdbool.h>
#include <stddef.h>

#include "matmul.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_conv_geom {
    size_t B, C, H, W;  /* input [B,C,H,W] */
    size_t O, KH, KW;   /* weight [O,C,KH,KW] */
    size_t OH, OW;      /* output [B,O,OH,OW] (tg_conv_geom_init computes them) */
    size_t stride_h, stride_w, pad_h, pad_w, dil_h, dil_w;
} tg_conv_geom;

/* The most floats one panel of col (K rows × its columns) may hold: 256 KB, half of the smallest
 * L2 cache seen here (Zen 1's), so the panel stays there between its fill and the products that
 * read it.  Fixed, not sized from the running machine: the weight gradient's rounding depends on
 * where the panels end, and every machine must compute the same bits.  (docs/performance.md has the
 * measurement: larger panels change little until they overflow L2.) */
#define TG_CONV_PANEL_FLOATS (64 * 1024)

/* Fills in OH and OW from the rest of *g; false when a stride or dilation is 0, a size is 0, or the
 * dilated kernel is larger than the padded input (no output). */
bool tg_conv_geom_init(tg_conv_geom *g);
/* Columns of col per panel: as many as fit TG_CONV_PANEL_FLOATS (at least 16), at most B·OH·OW. */
size_t tg_conv_panel_cols(const tg_conv_geom *g);
/* The scratch the fast kernels need: a col panel, an output panel and its transpose, and the
 * transposed weight gradient: (K + 2·O)·cols + K·O floats, cols the wider of the plain and the wide
 * panels (conv.c). */
size_t tg_conv_scratch_floats(const tg_conv_geom *g);

/* The floats of the whole batch's unrolled patches, col [K, B·OH·OW]: what `kept` holds. */
size_t tg_conv_cols_floats(const tg_conv_geom *g);
/* y = conv(x, w) + bias (bias may be NULL) on the matmul path `path` (TG_PATH_AUTO: the active one);
 * scratch: tg_conv_scratch_floats(g) floats.  kept: NULL, or tg_conv_cols_floats(g) floats where
 * the forward leaves every panel of col for the backward's dw (which then unrolls nothing: the
 * unrolling moves as many floats as the products read, so doing it once per step instead of
 * twice is most of what the weight gradient costs beyond its product).  A weight that is infinite
 * or NaN sends the pass to the reference loops (and leaves kept unfilled: the backward then runs
 * them too), so that y has exactly the definition's non-finite values (conv.c). */
void tg_conv2d_forward(tg_simd_path path, const tg_conv_geom *g, const float *x, const float *w, const float *bias,
                       float *y, float *scratch, float *kept);
/* The backward for dy [B,O,OH,OW]: dx += ∂/∂x, dw += ∂/∂w, db += Σ_{b,i,j} dy; each may be NULL
 * (not wanted).  x is read for dw (not with kept: the forward's panels, same x), w for dx; both
 * are read when w holds an infinity or NaN, or dy does and there is padding: then the reference
 * loops run, which give the definition's non-finite values (conv.c).  The same bits with kept or
 * without. */
void tg_conv2d_backward(tg_simd_path path, const tg_conv_geom *g, const float *x, const float *w, const float *dy,
                        float *dx, float *dw, float *db, float *scratch, const float *kept);

/* The reference twins: the direct 7-loop sums, one thread, in double.  Same contracts. */
void tg_conv2d_forward_ref(const tg_conv_geom *g, const float *x, const float *w, const float *bias, float *y);
void tg_conv2d_backward_ref(const tg_conv_geom *g, const float *x, const float *w, const float *dy, float *dx,
                            float *dw, float *db);

#ifdef __cplusplus
}
#endif

#endif
