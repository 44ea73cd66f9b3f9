/* tensor/conv_ref.c — the reference twins of conv.c: the convolution's definition, written as the
 * direct loops over (b, o, i, j) and (c, kh, kw), one thread, sums in double.  The tests hold the
 * fast kernels to these on every matmul path. */
#include "conv.h"

/* x's index under output (i, j) for tap (kh, kw), or -1 in the padding. */
static long tap_index(const tg_conv_geom *g, size_t b, size_t c, size_t i, size_t j, size_t kh, size_t kw)
{
    long ih = (long)(i * g->stride_h + kh * g->dil_h) - (long)g->pad_h;
    long iw = (long)(j * g->stride_w + kw * g->dil_w) - (long)g->pad_w;
    if (ih < 0 || ih >= (long)g->H || iw < 0 || iw >= (long)g->W)
        return -1;
    return (long)(((b * g->C + c) * g->H + (size_t)ih) * g->W + (size_t)iw);
}

/* The output index i whose tap k reads input index e (i·stride − pad + k·dil = e), or -1. */
static long output_of(size_t e, size_t k, size_t stride, size_t pad, size_t dil, size_t n_out)
{
    long num = (long)(e + pad) - (long)(k * dil);
    if (num < 0 || num % (long)stride != 0 || num / (long)stride >= (long)n_out)
        return -1;
    return num / (long)stride;
}

// y [B,O,OH,OW] = Σ_{c,kh,kw} w[o,c,kh,kw]·x[b,c,ih,iw] + bias[o]
void tg_conv2d_forward_ref(const tg_conv_geom *g, const float *x, const float *w, const float *bias, float *y)
{
    for (size_t b = 0; b < g->B; b++)
        for (size_t o = 0; o < g->O; o++)
            for (size_t i = 0; i < g->OH; i++)
                for (size_t j = 0; j < g->OW; j++) {
                    double acc = bias ? bias[o] : 0.0;
                    for (size_t c = 0; c < g->C; c++)
                        for (size_t kh = 0; kh < g->KH; kh++)
                            for (size_t kw = 0; kw < g->KW; kw++) {
                                long at = tap_index(g, b, c, i, j, kh, kw);
                                if (at >= 0)
                                    acc += (double)w[((o * g->C + c) * g->KH + kh) * g->KW + kw] * x[at];
                            }
                    y[((b * g->O + o) * g->OH + i) * g->OW + j] = (float)acc;
                }
}

/* Each output's gradient dy[b,o,i,j] reaches every term of its sum: the tap's pixel gets w·dy, the
 * tap's weight gets x·dy, the bias gets dy.  Summed in double over the whole batch, then added. */
void tg_conv2d_backward_ref(const tg_conv_geom *g, const float *x, const float *w, const float *dy, float *dx,
                            float *dw, float *db)
{
    for (size_t o = 0; o < g->O; o++) {
        double sum_b = 0.0;
        for (size_t c = 0; c < g->C; c++)
            for (size_t kh = 0; kh < g->KH; kh++)
                for (size_t kw = 0; kw < g->KW; kw++) {
                    double sum_w = 0.0;
                    for (size_t b = 0; b < g->B; b++)
                        for (size_t i = 0; i < g->OH; i++)
                            for (size_t j = 0; j < g->OW; j++) {
                                long at = tap_index(g, b, c, i, j, kh, kw);
                                if (at >= 0)
                                    sum_w += (double)dy[((b * g->O + o) * g->OH + i) * g->OW + j] * x[at];
                            }
                    if (dw)
                        dw[((o * g->C + c) * g->KH + kh) * g->KW + kw] += (float)sum_w;
                }
        for (size_t b = 0; b < g->B; b++)
            for (size_t p = 0; p < g->OH * g->OW; p++)
                sum_b += dy[(b * g->O + o) * g->OH * g->OW + p];
        if (db)
            db[o] += (float)sum_b;
    }
    if (!dx)
        return;
    for (size_t b = 0; b < g->B; b++)
        for (size_t c = 0; c < g->C; c++)
            for (size_t ih = 0; ih < g->H; ih++)
                for (size_t iw = 0; iw < g->W; iw++) {
                    double acc = 0.0; /* every (o, kh, kw) and the output (i, j) whose tap lands here */
                    for (size_t o = 0; o < g->O; o++)
                        for (size_t kh = 0; kh < g->KH; kh++)
                            for (size_t kw = 0; kw < g->KW; kw++) {
                                long i = output_of(ih, kh, g->stride_h, g->pad_h, g->dil_h, g->OH);
                                long j = output_of(iw, kw, g->stride_w, g->pad_w, g->dil_w, g->OW);
                                if (i >= 0 && j >= 0)
                                    acc += (double)w[((o * g->C + c) * g->KH + kh) * g->KW + kw] *
                                           dy[((b * g->O + o) * g->OH + (size_t)i) * g->OW + (size_t)j];
                            }
                    dx[((b * g->C + c) * g->H + ih) * g->W + iw] += (float)acc;
                }
}
