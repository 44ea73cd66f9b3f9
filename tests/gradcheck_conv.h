/* tests/gradcheck_conv.h — the gradcheck cases of the convolution and pooling ops, included by
 * test_gradcheck.c before its suite (they use its gc_case machinery).
 *
 * conv2d and conv1d are linear in x and in w separately, avg pooling linear in x: the central
 * difference is exact for any step, so eps is large (it only shrinks rounding noise).  max_pool2d
 * gets distinct values 0.05 apart, so a step of 1e-2 never changes a window's arg-max. */

static struct conv_args {
    int stride, padding, dilation, kernel;
} conv_args;

static tg_node *apply_conv(tg_tape *t, gc_case *c, tg_node *const *in)
{
    tg_node *b = c->n_params == 3 ? in[2] : NULL;
    const struct conv_args *a = &conv_args;
    if (c->expect == &tg_op_conv1d)
        return tg_conv1d(t, in[0], in[1], b, a->stride, a->padding, a->dilation);
    if (c->expect == &tg_op_conv2d)
        return tg_conv2d(t, in[0], in[1], b, a->stride, a->padding, a->dilation);
    if (c->expect == &tg_op_max_pool2d)
        return tg_max_pool2d(t, in[0], a->kernel, a->stride, a->padding);
    if (c->expect == &tg_op_avg_pool2d)
        return tg_avg_pool2d(t, in[0], a->kernel, a->stride, a->padding);
    if (c->expect == &tg_op_max_pool2d_route) { /* the arg-maxes of another image, its values a permutation */
        tg_node *src = tg_input_new(t, 4, in[0]->value.shape);
        for (size_t k = 0; src && k < src->value.size; k++)
            src->value.data[k] = (float)((k * 37 + 11) % src->value.size);
        return tg_max_pool2d_route(t, in[0], tg_max_pool2d(t, src, a->kernel, a->stride, a->padding));
    }
    return tg_global_avg_pool2d(t, in[0]);
}

/* Random geometries: stride 1..2, padding 0..2, dilation 1..2, kernels 1..3, with and without bias;
 * sizes are drawn until the output is not empty. */
static void gc_conv(const tg_op_def *op, bool one_d)
{
    for (int trial = 0; trial < 8; trial++) {
        gc_case c;
        gc_begin(&c, 1900 + (uint64_t)trial + (one_d ? 50 : 0));
        c.expect = op;
        c.apply = apply_conv;
        size_t B = gc_dim(&c, 1, 2), C = gc_dim(&c, 1, 3), O = gc_dim(&c, 1, 3), H, W, KH, KW;
        bool fits;
        do { /* conv1d: no padding or dilation along its H = KH = 1 */
            conv_args.stride = (int)gc_dim(&c, 1, 2);
            conv_args.padding = (int)gc_dim(&c, 0, 2);
            conv_args.dilation = (int)gc_dim(&c, 1, 2);
            H = one_d ? 1 : gc_dim(&c, 2, 7), W = gc_dim(&c, 2, 9);
            KH = one_d ? 1 : gc_dim(&c, 1, 3), KW = gc_dim(&c, 1, 3);
            size_t pad = (size_t)conv_args.padding, dil = (size_t)conv_args.dilation;
            fits = (one_d || H + 2 * pad >= dil * (KH - 1) + 1) && W + 2 * pad >= dil * (KW - 1) + 1;
        } while (!fits);
        if (one_d) {
            gc_param(&c, "x", 3, (size_t[]){B, C, W}, -1.0f, 1.0f);
            gc_param(&c, "w", 3, (size_t[]){O, C, KW}, -1.0f, 1.0f);
        } else {
            gc_param(&c, "x", 4, (size_t[]){B, C, H, W}, -1.0f, 1.0f);
            gc_param(&c, "w", 4, (size_t[]){O, C, KH, KW}, -1.0f, 1.0f);
        }
        if (trial % 2 == 0)
            gc_param(&c, "b", 1, (size_t[]){O}, -1.0f, 1.0f);
        char xs[64], ws[64];
        snprintf(c.label, sizeof c.label, "%s x %s w %s%s stride %d pad %d dil %d", op->name,
                 tg_tensor_shape_str(xs, sizeof xs, &c.p[0].value), tg_tensor_shape_str(ws, sizeof ws, &c.p[1].value),
                 trial % 2 == 0 ? " +b" : "", conv_args.stride, conv_args.padding, conv_args.dilation);
        gc_run(&c, 0.5);
    }
}

static void gc_case_conv2d(void) { gc_conv(&tg_op_conv2d, false); }
static void gc_case_conv1d(void) { gc_conv(&tg_op_conv1d, true); }

/* kernel 1..3, stride 0 (= kernel) ..2, padding 0..kernel/2 on x [B,C,H,W] */
static void gc_pool(const tg_op_def *op, void (*fix)(gc_case *, tg_param *), double eps)
{
    for (int trial = 0; trial < 8; trial++) {
        gc_case c;
        gc_begin(&c, 1960 + (uint64_t)trial);
        c.expect = op;
        c.apply = apply_conv;
        conv_args.kernel = (int)gc_dim(&c, 1, 3);
        conv_args.stride = (int)gc_dim(&c, 0, 2);
        conv_args.padding = (int)gc_dim(&c, 0, (size_t)conv_args.kernel / 2);
        size_t B = gc_dim(&c, 1, 2), C = gc_dim(&c, 1, 3), H = gc_dim(&c, 3, 7), W = gc_dim(&c, 3, 7);
        tg_param *x = gc_param(&c, "x", 4, (size_t[]){B, C, H, W}, -1.0f, 1.0f);
        if (fix)
            fix(&c, x);
        char xs[64];
        tg_tensor_shape_str(xs, sizeof xs, &x->value);
        if (op == &tg_op_global_avg_pool2d)
            snprintf(c.label, sizeof c.label, "%s x %s", op->name, xs);
        else
            snprintf(c.label, sizeof c.label, "%s x %s kernel %d stride %d pad %d", op->name, xs, conv_args.kernel,
                     conv_args.stride, conv_args.padding);
        gc_run(&c, eps);
    }
}

static void gc_case_max_pool2d(void) { gc_pool(&tg_op_max_pool2d, distinct, 1e-2); }
static void gc_case_avg_pool2d(void) { gc_pool(&tg_op_avg_pool2d, NULL, 0.5); }
static void gc_case_global_avg_pool2d(void) { gc_pool(&tg_op_global_avg_pool2d, NULL, 0.5); }
static void gc_case_max_pool2d_route(void) { gc_pool(&tg_op_max_pool2d_route, NULL, 0.5); } /* linear in x */
