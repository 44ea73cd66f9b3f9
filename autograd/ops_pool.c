/* autograd/ops_pool.c — pooling over the planes of x [B,C,H,W] (NCHW, as conv2d).
 *
 * max_pool2d and avg_pool2d take a square window of `kernel` pixels a side, moved by `stride`
 * (0: the kernel, PyTorch's default), over x padded by `padding` on every side (at most kernel/2,
 * so every window holds a real pixel):  OH = (H + 2·padding − kernel) / stride + 1 (floor), OW alike.
 *   max: the padding never wins (it is −∞).  The backward routes dy to the arg-max; on a tie the
 *        first maximum in scan order (rows top to bottom, each left to right) takes it all, so the
 *        gradient is a deterministic choice of one element, as max_axis's.
 *   avg: the sum of the window's real pixels divided by kernel² (the padding counts as zeros,
 *        PyTorch's count_include_pad=True), so every window has the same divisor and dx = dy/kernel²
 *        on each real pixel of each window that holds it.
 * global_avg_pool2d: y[b,c] = mean of plane (b,c), dx = dy / (H·W).
 * max_pool2d_route: x read at a max_pool2d's saved arg-maxes (that op's tangent, for forward mode).
 *
 * Every loop is split over the threads by planes (b,c): a plane's outputs read only that plane and
 * its backward writes only that plane, each element in a fixed order, so the results are the same
 * bits on any thread count. */
#include "ops_internal.h"

#include <stdint.h>

#include "tensor/parallel.h"


/* A parallel chunk should hold at least this many outputs' work. */
enum { POOL_CHUNK = 4096 };

typedef struct pool_job {
    const tg_node *n;
    pool_params pp;
    size_t H, W, OH, OW;
} pool_job;

static pool_job pool_job_of(const tg_node *n)
{
    const size_t *xs = n->in[0]->value.shape, *ys = n->value.shape;
    return (pool_job){n, pool_params_of(n), xs[2], xs[3], ys[2], ys[3]};
}

/* The window of output (i, j) clipped to the image: rows [*h0, *h1), columns [*w0, *w1). */
static void window(const pool_job *pj, size_t i, size_t j, size_t *h0, size_t *h1, size_t *w0, size_t *w1)
{
    long top = (long)(i * pj->pp.stride) - (long)pj->pp.padding, left = (long)(j * pj->pp.stride) - (long)pj->pp.padding;
    long bottom = top + (long)pj->pp.kernel, right = left + (long)pj->pp.kernel;
    *h0 = top < 0 ? 0 : (size_t)top, *w0 = left < 0 ? 0 : (size_t)left;
    *h1 = bottom > (long)pj->H ? pj->H : (size_t)bottom, *w1 = right > (long)pj->W ? pj->W : (size_t)right;
}

static size_t plane_grain(const pool_job *pj)
{
    size_t work = pj->OH * pj->OW * pj->pp.kernel * pj->pp.kernel;
    return work >= POOL_CHUNK ? 1 : POOL_CHUNK / work;
}

/* fn over every plane (b,c) of node n's input, split over the threads */
static void for_planes(tg_node *n, void (*fn)(size_t, size_t, void *))
{
    pool_job pj = pool_job_of(n);
    tg_parallel_for(tg_rows(n) * n->value.shape[1], plane_grain(&pj), fn, &pj);
}

/* ---- max_pool2d --------------------------------------------------------------------------- */

/* One output row of max_pool_planes for kernel 2, stride 2, no padding: the same scan order
 * and strict test, with the window's four values in registers (selects, no data-dependent loads,
 * so the loop over j vectorizes).  top, bottom: the window rows' starts; base: top's index. */
TG_VECTORIZE static void max_pool_2x2_row(const float *top, const float *bottom, size_t base, size_t W, size_t OW,
                                          float *y, int32_t *arg)
{
    for (size_t j = 0; j < OW; j++) {
        float m = top[2 * j];
        int32_t a = (int32_t)(base + 2 * j);
        a = top[2 * j + 1] > m ? (int32_t)(base + 2 * j + 1) : a, m = top[2 * j + 1] > m ? top[2 * j + 1] : m;
        a = bottom[2 * j] > m ? (int32_t)(base + W + 2 * j) : a, m = bottom[2 * j] > m ? bottom[2 * j] : m;
        a = bottom[2 * j + 1] > m ? (int32_t)(base + W + 2 * j + 1) : a, m = bottom[2 * j + 1] > m ? bottom[2 * j + 1] : m;
        y[j] = m, arg[j] = a;
    }
}

static void max_pool_2x2_planes(const pool_job *pj, size_t lo, size_t hi)
{
    int32_t *arg = (int32_t *)pj->n->saved;
    const size_t W = pj->W;
    for (size_t plane = lo; plane < hi; plane++) {
        const float *x = pj->n->in[0]->value.data + plane * pj->H * W;
        size_t out = plane * pj->OH * pj->OW;
        for (size_t i = 0; i < pj->OH; i++, out += pj->OW)
            max_pool_2x2_row(x + 2 * i * W, x + (2 * i + 1) * W, 2 * i * W, W, pj->OW, pj->n->value.data + out,
                             arg + out);
    }
}

// planes [lo, hi) of x [B,C,H,W] -> y [B,C,OH,OW]; saved = the arg-max's index in its plane (int32)
static void max_pool_planes(size_t lo, size_t hi, void *ctx)
{
    const pool_job *pj = ctx;
    int32_t *arg = (int32_t *)pj->n->saved;
    if (pj->pp.kernel == 2 && pj->pp.stride == 2 && pj->pp.padding == 0) { /* the common case, unrolled */
        max_pool_2x2_planes(pj, lo, hi);
        return;
    }
    for (size_t plane = lo; plane < hi; plane++) {
        const float *x = pj->n->in[0]->value.data + plane * pj->H * pj->W;
        size_t out = plane * pj->OH * pj->OW;
        for (size_t i = 0; i < pj->OH; i++)
            for (size_t j = 0; j < pj->OW; j++, out++) {
                size_t h0, h1, w0, w1;
                window(pj, i, j, &h0, &h1, &w0, &w1);
                size_t best = h0 * pj->W + w0;
                for (size_t h = h0; h < h1; h++)
                    for (size_t w = w0; w < w1; w++)
                        if (x[h * pj->W + w] > x[best]) /* strict: a tie keeps the first */
                            best = h * pj->W + w;
                pj->n->value.data[out] = x[best];
                arg[out] = (int32_t)best;
            }
    }
}

// dx[plane][arg] += dy, planes [lo, hi)
static void max_pool_back_planes(size_t lo, size_t hi, void *ctx)
{
    const pool_job *pj = ctx;
    const int32_t *arg = (const int32_t *)pj->n->saved;
    const float *dy = pj->n->grad.data;
    for (size_t plane = lo; plane < hi; plane++) {
        float *dx = pj->n->in[0]->grad.data + plane * pj->H * pj->W;
        for (size_t k = plane * pj->OH * pj->OW; k < (plane + 1) * pj->OH * pj->OW; k++)
            dx[arg[k]] += dy[k];
    }
}

void tg_op_max_pool2d_forward(tg_node *n) { for_planes(n, max_pool_planes); }

void tg_op_max_pool2d_backward(tg_node *n) { for_planes(n, max_pool_back_planes); }

/* ---- max_pool2d_route: x gathered at an earlier max_pool2d's arg-maxes ----------------------
 * The tangent of max_pool2d (ẏ = ẋ at the arg-max of each window, which the forward saved) is
 * this op on ẋ; it is linear in x, and its backward is max_pool2d's: n->saved is the source's
 * arg-max array (the source lives on the same tape, so its scratch outlives this node). */

// planes [lo, hi): y[plane][k] = x[plane][arg[k]]
static void route_planes(size_t lo, size_t hi, void *ctx)
{
    const pool_job *pj = ctx;
    const int32_t *arg = (const int32_t *)pj->n->saved;
    for (size_t plane = lo; plane < hi; plane++) {
        const float *x = pj->n->in[0]->value.data + plane * pj->H * pj->W;
        for (size_t k = plane * pj->OH * pj->OW; k < (plane + 1) * pj->OH * pj->OW; k++)
            pj->n->value.data[k] = x[arg[k]];
    }
}

void tg_op_max_pool2d_route_forward(tg_node *n) { for_planes(n, route_planes); }

void tg_op_max_pool2d_route_backward(tg_node *n) { tg_op_max_pool2d_backward(n); }

tg_node *tg_max_pool2d_route(tg_tape *t, tg_node *x, const tg_node *source)
{
    if (!tg_tape_check_inputs(t, "max_pool2d_route", 1, x))
        return NULL;
    if (!source || source->op != &tg_op_max_pool2d)
        return tg_tape_fail(t, TG_ERR_ARG, "max_pool2d_route: the source is not a max_pool2d node");
    if (!tg_tensor_same_shape(&x->value, &source->in[0]->value))
        return tg_tape_fail(t, TG_ERR_SHAPE, "max_pool2d_route: x %s, but the max_pool2d's input is %s", SHAPE(x),
                            SHAPE(source->in[0]));
    tg_node *n = tg_tape_record(t, &tg_op_max_pool2d_route, 1, &x, 4, source->value.shape);
    if (n) {
        pool_params pp = pool_params_of(source);
        pp.source = source;
        pool_params_set(n, pp);
        n->saved = source->saved;
    }
    return tg_tape_forward(t, n);
}

/* ---- avg_pool2d --------------------------------------------------------------------------- */

// planes [lo, hi): y = Σ window / kernel²
static void avg_pool_planes(size_t lo, size_t hi, void *ctx)
{
    const pool_job *pj = ctx;
    double inv = 1.0 / ((double)pj->pp.kernel * pj->pp.kernel);
    for (size_t plane = lo; plane < hi; plane++) {
        const float *x = pj->n->in[0]->value.data + plane * pj->H * pj->W;
        size_t out = plane * pj->OH * pj->OW;
        for (size_t i = 0; i < pj->OH; i++)
            for (size_t j = 0; j < pj->OW; j++, out++) {
                size_t h0, h1, w0, w1;
                window(pj, i, j, &h0, &h1, &w0, &w1);
                double sum = 0.0;
                for (size_t h = h0; h < h1; h++)
                    for (size_t w = w0; w < w1; w++)
                        sum += x[h * pj->W + w];
                pj->n->value.data[out] = (float)(sum * inv);
            }
    }
}

// planes [lo, hi): dx += dy / kernel² over each window's real pixels
static void avg_pool_back_planes(size_t lo, size_t hi, void *ctx)
{
    const pool_job *pj = ctx;
    float inv = (float)(1.0 / ((double)pj->pp.kernel * pj->pp.kernel));
    for (size_t plane = lo; plane < hi; plane++) {
        float *dx = pj->n->in[0]->grad.data + plane * pj->H * pj->W;
        const float *dy = pj->n->grad.data + plane * pj->OH * pj->OW;
        for (size_t i = 0; i < pj->OH; i++)
            for (size_t j = 0; j < pj->OW; j++) {
                size_t h0, h1, w0, w1;
                window(pj, i, j, &h0, &h1, &w0, &w1);
                float g = dy[i * pj->OW + j] * inv;
                for (size_t h = h0; h < h1; h++)
                    for (size_t w = w0; w < w1; w++)
                        dx[h * pj->W + w] += g;
            }
    }
}

void tg_op_avg_pool2d_forward(tg_node *n) { for_planes(n, avg_pool_planes); }

void tg_op_avg_pool2d_backward(tg_node *n) { for_planes(n, avg_pool_back_planes); }

static tg_node *pool_record(tg_tape *t, const tg_op_def *op, tg_node *x, int kernel, int stride, int padding)
{
    if (!tg_tape_check_inputs(t, op->name, 1, x))
        return NULL;
    if (x->value.ndim != 4)
        return tg_tape_fail(t, TG_ERR_SHAPE, "%s: x %s must be [B,C,H,W]", op->name, SHAPE(x));
    if (stride == 0)
        stride = kernel;
    if (kernel < 1 || stride < 1 || padding < 0 || padding > kernel / 2)
        return tg_tape_fail(t, TG_ERR_ARG, "%s: kernel %d, stride %d, padding %d: kernel and stride must be >= 1, "
                            "padding in 0..kernel/2", op->name, kernel, stride, padding);
    size_t H = x->value.shape[2], W = x->value.shape[3], k = (size_t)kernel, p = (size_t)padding;
    if (H + 2 * p < k || W + 2 * p < k)
        return tg_tape_fail(t, TG_ERR_SHAPE, "%s: x %s, kernel %d, padding %d: the window is larger than the padded "
                            "image", op->name, SHAPE(x), kernel, padding);
    size_t y[4] = {x->value.shape[0], x->value.shape[1], (H + 2 * p - k) / (size_t)stride + 1,
                   (W + 2 * p - k) / (size_t)stride + 1};
    tg_node *n = tg_tape_record(t, op, 1, &x, 4, y);
    if (n) {
        pool_params_set(n, (pool_params){(uint32_t)kernel, (uint32_t)stride, (uint32_t)padding, NULL});
        if (op == &tg_op_max_pool2d && !(n->saved = tg_tape_scratch(t, n->value.size))) /* the arg-maxes */
            return NULL;
    }
    return tg_tape_forward(t, n);
}

tg_node *tg_max_pool2d(tg_tape *t, tg_node *x, int kernel, int stride, int padding)
{
    return pool_record(t, &tg_op_max_pool2d, x, kernel, stride, padding);
}

tg_node *tg_avg_pool2d(tg_tape *t, tg_node *x, int kernel, int stride, int padding)
{
    return pool_record(t, &tg_op_avg_pool2d, x, kernel, stride, padding);
}

/* ---- global_avg_pool2d: [B,C,H,W] -> [B,C] ----------------------------------------------- */

// y[b,c] = Σ plane / (H·W), in double over lanes (ops_internal.h)
void tg_op_global_avg_pool2d_forward(tg_node *n)
{
    const tg_node *x = n->in[0];
    size_t planes = n->value.size, area = x->value.size / planes;
    for (size_t k = 0; k < planes; k++)
        n->value.data[k] = (float)(lanes_sum(x->value.data + k * area, area) / (double)area);
}

void tg_op_global_avg_pool2d_backward(tg_node *n)
{
    tg_node *x = n->in[0];
    size_t planes = n->value.size, area = x->value.size / planes;
    for (size_t k = 0; k < planes; k++) {
        float g = (float)((double)n->grad.data[k] / (double)area);
        for (size_t e = 0; e < area; e++)
            x->grad.data[k * area + e] += g;
    }
}

tg_node *tg_global_avg_pool2d(tg_tape *t, tg_node *x)
{
    if (!tg_tape_check_inputs(t, "global_avg_pool2d", 1, x))
        return NULL;
    if (x->value.ndim != 4)
        return tg_tape_fail(t, TG_ERR_SHAPE, "global_avg_pool2d: x %s must be [B,C,H,W]", SHAPE(x));
    tg_node *n = tg_tape_record(t, &tg_op_global_avg_pool2d, 1, &x, 2, x->value.shape);
    return tg_tape_forward(t, n);
}
