/* autograd/jvp_rules_conv.c — the tangent rules of convolution and pooling (see jvp_internal.h).
 *
 * conv is bilinear in (x, w) and affine in b:  ẏ = conv(ẋ, w) + conv(x, ẇ) + ḃ over [B,O,..].
 * avg and global-average pooling are linear: ẏ = pool(ẋ).  max pooling is linear wherever the
 * arg-maxes stay put: ẏ = ẋ read at the forward's arg-maxes (max_pool2d_route), which is also
 * linear, so its own tangent is itself. */
#include "jvp_internal.h"

/* ḃ [O] spread over y's shape [B,O,...] as [1,O,1(,1)], or NULL. */
static tg_node *bias_tangent(tg_tape *t, tg_node *db, const tg_node *n)
{
    if (!db)
        return NULL;
    size_t shape[4] = {1, db->value.size, 1, 1};
    return jvp_as_shape_of(t, tg_reshape(t, db, n->value.ndim, shape), n);
}

static tg_node *conv_tangent(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    conv_params cp = conv_params_of(n);
    tg_node *(*conv)(tg_tape *, tg_node *, tg_node *, tg_node *, int, int, int) = cp.one_d ? tg_conv1d : tg_conv2d;
    const int s = (int)cp.stride, p = (int)cp.padding, d = (int)cp.dilation;
    tg_node *y = dx[0] ? conv(t, dx[0], n->in[1], NULL, s, p, d) : NULL;
    y = jvp_sum(t, y, dx[1] ? conv(t, n->in[0], dx[1], NULL, s, p, d) : NULL);
    return jvp_sum(t, y, cp.has_bias ? bias_tangent(t, dx[2], n) : NULL);
}

tg_node *tg_op_conv2d_jvp(tg_tape *t, tg_node *n, tg_node *const *dx) { return conv_tangent(t, n, dx); }
tg_node *tg_op_conv1d_jvp(tg_tape *t, tg_node *n, tg_node *const *dx) { return conv_tangent(t, n, dx); }

tg_node *tg_op_max_pool2d_jvp(tg_tape *t, tg_node *n, tg_node *const *dx) { return tg_max_pool2d_route(t, dx[0], n); }

tg_node *tg_op_max_pool2d_route_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    return tg_max_pool2d_route(t, dx[0], pool_params_of(n).source);
}

tg_node *tg_op_avg_pool2d_jvp(tg_tape *t, tg_node *n, tg_node *const *dx) { return jvp_reapply(t, n, dx); }
tg_node *tg_op_global_avg_pool2d_jvp(tg_tape *t, tg_node *n, tg_node *const *dx) { return jvp_reapply(t, n, dx); }
