/* autograd/ops_conv.c — conv2d and conv1d, in NCHW: the ops over tensor/conv.h's kernels.
 *
 * conv2d:  x [B,C,H,W] ⊛ w [O,C,KH,KW] + b [O] -> y [B,O,OH,OW]
 * conv1d:  x [B,C,L]   ⊛ w [O,C,K]     + b [O] -> y [B,O,OL]      (conv2d with H = KH = 1)
 * Both are cross-correlations (no kernel flip), as in every deep-learning library.  With
 * y[b,o,i,j] = b[o] + Σ_{c,kh,kw} w[o,c,kh,kw]·x[b,c,i·s−p+kh·d, j·s−p+kw·d] (zero outside x),
 * each output's gradient reaches every term of its sum:
 *     dx[b,c,ih,iw] += Σ over the (o,kh,kw,i,j) whose tap lands on (ih,iw) of w[o,c,kh,kw]·dy[b,o,i,j]
 *     dw[o,c,kh,kw] += Σ_{b,i,j} x[b,c,tap]·dy[b,o,i,j],    db[o] += Σ_{b,i,j} dy[b,o,i,j]
 * tensor/conv.c computes the three as products over panels of the unrolled patches. */
#include "ops_internal.h"

#include <stdint.h>

#include "tensor/conv.h"


/* The kernels' geometry from the node's inputs (conv1d: H = KH = 1, no padding along H). */
static tg_conv_geom geometry(const tg_node *x, const tg_node *w, conv_params cp)
{
    const size_t *xs = x->value.shape, *ws = w->value.shape;
    tg_conv_geom g = {.B = xs[0], .C = xs[1], .O = ws[0], .stride_h = cp.stride, .stride_w = cp.stride,
                      .pad_h = cp.padding, .pad_w = cp.padding, .dil_h = cp.dilation, .dil_w = cp.dilation};
    if (cp.one_d) {
        g.H = 1, g.W = xs[2], g.KH = 1, g.KW = ws[2];
        g.stride_h = 1, g.pad_h = 0, g.dil_h = 1;
    } else {
        g.H = xs[2], g.W = xs[3], g.KH = ws[2], g.KW = ws[3];
    }
    tg_conv_geom_init(&g);
    return g;
}

// x [B,C,H,W], w [O,C,KH,KW], b [O] (optional) -> y [B,O,OH,OW]
static void conv_forward(tg_node *n)
{
    conv_params cp = conv_params_of(n);
    tg_conv_geom g = geometry(n->in[0], n->in[1], cp);
    tg_conv2d_forward(TG_PATH_AUTO, &g, n->in[0]->value.data, n->in[1]->value.data,
                      cp.has_bias ? n->in[2]->value.data : NULL, n->value.data, cp.scratch, cp.kept);
}

static void conv_backward(tg_node *n)
{
    conv_params cp = conv_params_of(n);
    tg_node *x = n->in[0], *w = n->in[1], *b = cp.has_bias ? n->in[2] : NULL;
    tg_conv_geom g = geometry(x, w, cp);
    tg_conv2d_backward(TG_PATH_AUTO, &g, x->value.data, w->value.data, n->grad.data,
                       tg_wants_grad(x) ? x->grad.data : NULL, tg_wants_grad(w) ? w->grad.data : NULL,
                       b && tg_wants_grad(b) ? b->grad.data : NULL, cp.scratch, cp.kept);
}

void tg_op_conv2d_forward(tg_node *n) { conv_forward(n); }
void tg_op_conv2d_backward(tg_node *n) { conv_backward(n); }
void tg_op_conv1d_forward(tg_node *n) { conv_forward(n); }
void tg_op_conv1d_backward(tg_node *n) { conv_backward(n); }

/* The shape checks of both ops (dims: 4 for conv2d, 3 for conv1d); the geometry in *g. */
static bool conv_check(tg_tape *t, const char *op, int dims, tg_node *x, tg_node *w, tg_node *b, conv_params cp,
                       tg_conv_geom *g)
{
    const char *layout = dims == 4 ? "x [B,C,H,W], w [O,C,KH,KW]" : "x [B,C,L], w [O,C,K]";
    if (x->value.ndim != dims || w->value.ndim != dims)
        return tg_tape_fail(t, TG_ERR_SHAPE, "%s: x %s, w %s: must be %s", op, SHAPE(x), SHAPE(w), layout), false;
    if (x->value.shape[1] != w->value.shape[1])
        return tg_tape_fail(t, TG_ERR_SHAPE, "%s: x %s, w %s: x has %zu channels, w expects %zu", op, SHAPE(x),
                            SHAPE(w), x->value.shape[1], w->value.shape[1]), false;
    if (b && !(b->value.ndim == 1 && b->value.shape[0] == w->value.shape[0]))
        return tg_tape_fail(t, TG_ERR_SHAPE, "%s: w %s, b %s: the bias must be [%zu]", op, SHAPE(w), SHAPE(b),
                            w->value.shape[0]), false;
    if (cp.stride < 1 || cp.dilation < 1)
        return tg_tape_fail(t, TG_ERR_ARG, "%s: stride %u, dilation %u: both must be >= 1", op, cp.stride,
                            cp.dilation), false;
    *g = geometry(x, w, cp);
    if (!g->OW)
        return tg_tape_fail(t, TG_ERR_SHAPE, "%s: x %s, w %s, padding %u, dilation %u: the kernel is larger than the "
                            "padded input", op, SHAPE(x), SHAPE(w), cp.padding, cp.dilation), false;
    return true;
}

static tg_node *conv_record(tg_tape *t, const tg_op_def *op, int dims, tg_node *x, tg_node *w, tg_node *b,
                            int stride, int padding, int dilation)
{
    if (!tg_tape_check_inputs(t, op->name, 2, x, w))
        return NULL;
    if (stride < 1 || padding < 0 || dilation < 1)
        return tg_tape_fail(t, TG_ERR_ARG, "%s: stride %d, padding %d, dilation %d: stride and dilation must be >= 1, "
                            "padding >= 0", op->name, stride, padding, dilation);
    conv_params cp = {.stride = (uint32_t)stride, .padding = (uint32_t)padding, .dilation = (uint32_t)dilation,
                      .has_bias = b != NULL, .one_d = dims == 3};
    tg_conv_geom g;
    if (!conv_check(t, op->name, dims, x, w, b, cp, &g))
        return NULL;
    tg_node *in[3] = {x, w, b};
    size_t y4[4] = {g.B, g.O, g.OH, g.OW}, y3[3] = {g.B, g.O, g.OW};
    tg_node *n = tg_tape_record(t, op, b ? 3 : 2, in, dims, dims == 4 ? y4 : y3);
    if (n) {
        cp.scratch = tg_tape_scratch(t, tg_conv_scratch_floats(&g));
        cp.kept = w->requires_grad ? tg_tape_scratch(t, tg_conv_cols_floats(&g)) : NULL;
        if (!cp.scratch || (w->requires_grad && !cp.kept))
            return NULL;
        conv_params_set(n, cp);
    }
    return tg_tape_forward(t, n);
}

tg_node *tg_conv2d(tg_tape *t, tg_node *x, tg_node *w, tg_node *b, int stride, int padding, int dilation)
{
    return conv_record(t, &tg_op_conv2d, 4, x, w, b, stride, padding, dilation);
}

tg_node *tg_conv1d(tg_tape *t, tg_node *x, tg_node *w, tg_node *b, int stride, int padding, int dilation)
{
    return conv_record(t, &tg_op_conv1d, 3, x, w, b, stride, padding, dilation);
}
