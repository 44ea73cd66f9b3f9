/* autograd/ops.h — the built-in ops' constructors, one line each.
 *
 * The formulas and gradients are the registry's, one line per op: autograd/ops.def (printed by
 * tg_op_formula).  Every constructor checks shapes when the node is created, computes the value
 * at once, and returns the new node, or NULL with the tape's sticky error set (see tape.h).
 * Shapes use the 2-D reading of tensor.h: [M,N] = M rows of N columns; a "row" is [1,N] or [N].
 * The fused ops of the CAE (affine_mse, the Jacobian penalties) are in autograd/fused/fused.h. */
#ifndef TG_OPS_H
#define TG_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "op.h"
#include "tape.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The registry: tg_op_matmul_nn, tg_op_add, ... (one tg_op_def per line of ops.def). */
#define TG_OP(name, formula) extern const tg_op_def tg_op_##name;
#include "ops.def"
#undef TG_OP

/* Activations: the kinds TG_ACT_SIGMOID, TG_ACT_TANH, ... one per line of activations.def. */
typedef enum tg_activation_kind {
#define TG_ACTIVATION(name, NAME, param_name, param_default, kink, formula) TG_ACT_##NAME,
#include "activations.def"
#undef TG_ACTIVATION
    TG_ACT_COUNT
} tg_activation_kind;

/* An activation with its parameter (leaky_relu's slope, elu's alpha; 0 for those without one). */
typedef struct tg_activation {
    tg_activation_kind kind;
    float param;
} tg_activation;

typedef enum tg_reduction {
    TG_REDUCE_MEAN = 0, /* mean over all elements (= per-row mean, then mean over rows) */
    TG_REDUCE_ROW_SUM,  /* sum over each row's elements, then mean over rows */
} tg_reduction;

/* Whether act is a known kind with, for those that take one, a finite parameter >= 0. */
bool tg_activation_valid(tg_activation act);
/* The activation `kind` with its default parameter. */
tg_activation tg_activation_of(tg_activation_kind kind);
/* "sigmoid", "leaky_relu", ... (the registry's names); "unknown" for any other value. */
const char *tg_activation_name(tg_activation_kind kind);
/* Whether f' or f'' jumps at 0 (relu, leaky_relu, elu): finite differences must not straddle it. */
bool tg_activation_has_kink(tg_activation_kind kind);
/* The name of its parameter ("slope", "alpha"), or NULL when it takes none. */
const char *tg_activation_param_name(tg_activation_kind kind);
/* Reads "NAME" or "NAME:PARAM" (e.g. "elu", "leaky_relu:0.2"; PARAM finite and >= 0, default from
 * the registry).  0 on success; -1 for an unknown name, -2 for a bad or unexpected parameter
 * (act is then unchanged). */
int tg_activation_parse(const char *text, tg_activation *act);
/* The text tg_activation_parse reads back to the same activation: "sigmoid", "leaky_relu:0.2"
 * (the shortest decimal that gives the same float).  Returns snprintf's count. */
int tg_activation_format(tg_activation act, char *buf, size_t cap);
/* Every accepted name, for help texts: "sigmoid|tanh|relu|softplus|leaky_relu[:slope]|elu[:alpha]". */
const char *tg_activation_choices(void);
/* f'(z) computed from the activation's value h = f(z) (sigmoid h(1-h), tanh 1-h², ...): the
 * Jacobian penalties use it; so can anyone who needs J = diag(f')·Wᵀ. */
double tg_activation_slope(tg_activation act, double h);

/* op(a)·op(b), op(x) = x or xᵀ: records matmul_nn, _nt, _tn or _tt */
tg_node *tg_matmul(tg_tape *t, tg_node *a, tg_node *b, bool trans_a, bool trans_b);
/* x·op(w) + b, op(w) = w or wᵀ, b a row of op(w)'s columns: a Dense layer in one op */
tg_node *tg_affine(tg_tape *t, tg_node *x, tg_node *w, tg_node *b, bool trans_w);
/* add, sub, mul (and div, max, min below) broadcast as numpy does: a and b aligned from the
 * right, each pair of sizes equal or one of them 1; y has the larger of each pair and the larger
 * number of dimensions ([2,3,4] + [3,1] -> [2,3,4]; [M,N] + a row [N] or a column [M,1] or a
 * scalar [1]; a column [M,1] + a row [1,N] -> [M,N]). */
tg_node *tg_add(tg_tape *t, tg_node *a, tg_node *b);
tg_node *tg_sub(tg_tape *t, tg_node *a, tg_node *b);
tg_node *tg_mul(tg_tape *t, tg_node *a, tg_node *b);
/* Shapes and constants (dim: 0..ndim-1; shapes: 1..4 dimensions, none 0): */
tg_node *tg_reshape(tg_tape *t, tg_node *x, int ndim, const size_t *shape); /* same count; a view of x's value */
tg_node *tg_slice(tg_tape *t, tg_node *x, int dim, size_t start, size_t length); /* length >= 1 */
tg_node *tg_concat(tg_tape *t, tg_node *a, tg_node *b, int dim); /* other dimensions equal */
tg_node *tg_transpose_of(tg_tape *t, tg_node *x);             /* [M,N] -> [N,M]; [N] -> [N,1] */
tg_node *tg_const(tg_tape *t, float value, int ndim, const size_t *shape); /* a leaf; value finite */
tg_node *tg_add_scalar(tg_tape *t, tg_node *x, float c);      /* x + c, c finite (x - c: add -c) */
tg_node *tg_scale(tg_tape *t, tg_node *x, float c);           /* c finite */
tg_node *tg_sum(tg_tape *t, tg_node *x);                      /* -> [1] */
tg_node *tg_mean(tg_tape *t, tg_node *x);                     /* -> [1] */
tg_node *tg_sum_over_rows(tg_tape *t, tg_node *x);            /* [M,N] -> [1,N]: tg_sum_axis(t, x, 0) */
tg_node *tg_sum_over_cols(tg_tape *t, tg_node *x);            /* [M,N] -> [M,1]: tg_sum_axis(t, x, 1) */
tg_node *tg_square(tg_tape *t, tg_node *x);
tg_node *tg_exp(tg_tape *t, tg_node *x);
tg_node *tg_log(tg_tape *t, tg_node *x);                      /* no domain check: as logf */
/* Elementwise math and reductions along an axis (ops_math.c): */
tg_node *tg_div(tg_tape *t, tg_node *a, tg_node *b);          /* broadcast as add; no check of b = 0 */
tg_node *tg_max(tg_tape *t, tg_node *a, tg_node *b);          /* broadcast as add; ties: gradient to a */
tg_node *tg_min(tg_tape *t, tg_node *a, tg_node *b);          /* broadcast as add; ties: gradient to a */
tg_node *tg_sqrt(tg_tape *t, tg_node *x);                     /* no domain check: as sqrtf */
tg_node *tg_pow(tg_tape *t, tg_node *x, float p);             /* p finite; no domain check: as powf */
tg_node *tg_abs(tg_tape *t, tg_node *x);                      /* gradient 0 at x = 0 */
tg_node *tg_neg(tg_tape *t, tg_node *x);
tg_node *tg_clamp(tg_tape *t, tg_node *x, float lo, float hi); /* lo <= hi (either may be infinite) */
tg_node *tg_rsub(tg_tape *t, tg_node *x, float c);            /* c - x, c finite */
tg_node *tg_one_minus(tg_tape *t, tg_node *x);                /* 1 - x: records rsub */
tg_node *tg_softmax(tg_tape *t, tg_node *x);                  /* over the last dimension (each row) */
tg_node *tg_log_softmax(tg_tape *t, tg_node *x);              /* over the last dimension (each row) */
tg_node *tg_sum_axis(tg_tape *t, tg_node *x, int axis);       /* x [M,N]; axis 0 -> [1,N], 1 -> [M,1] */
tg_node *tg_mean_axis(tg_tape *t, tg_node *x, int axis);      /* x [M,N]; axis 0 -> [1,N], 1 -> [M,1] */
tg_node *tg_max_axis(tg_tape *t, tg_node *x, int axis);       /* x [M,N]; as sum_axis; ties: the first */
/* Not an op (no gradient): idx[i] = the index of the first maximum of row i of x, rows over the
 * last dimension (a NaN counts as the maximum); idx holds size/shape[ndim-1] entries.  Returns the
 * number of rows written (0 for an empty tensor).  For predictions: tg_argmax_rows(&logits->value, pred). */
size_t tg_argmax_rows(const tg_tensor *x, int32_t *idx);
/* Layers (ops_layers.c): */
/* training (tg_tape_training): zeroes each element with probability p in [0,1), scales the rest by
 * 1/(1-p); eval: the identity.  The mask depends on (seed, the node's position, the element) only:
 * the same bits on any thread count; pass a seed that changes each step for fresh masks. */
tg_node *tg_dropout(tg_tape *t, tg_node *x, float p, uint64_t seed);
/* over the last dimension; gamma, beta: rows of its size, each may be NULL; eps finite, > 0 */
tg_node *tg_layer_norm(tg_tape *t, tg_node *x, tg_node *gamma, tg_node *beta, float eps);
/* x [B,N], rows = the batch; gamma, beta: rows [N], each may be NULL; eps finite, > 0.  Training
 * (tg_tape_training, B >= 2): each column by its batch mean and biased variance, and when batch_stats
 * is not NULL the forward writes there [2N] the batch means then the biased variances (the running
 * statistics are the caller's to update: nn/batch_norm.h does).  Eval: by running_mean and
 * running_var [N] (required; read when the forward runs, valid until the next reset). */
tg_node *tg_batch_norm(tg_tape *t, tg_node *x, tg_node *gamma, tg_node *beta, float eps, const float *running_mean,
                       const float *running_var, float *batch_stats);
/* w [V,D] -> [count,D]; idx[count] in 0..V-1 (checked here), valid until the next reset */
tg_node *tg_embedding(tg_tape *t, tg_node *w, const int32_t *idx, size_t count);
/* Convolution and pooling, NCHW (autograd/ops_conv.c, ops_pool.c).  stride, dilation >= 1 and
 * padding >= 0 apply to both spatial dimensions; b may be NULL. */
/* x [B,C,H,W], w [O,C,KH,KW], b [O] -> [B,O,OH,OW], OH = (H + 2·padding - dilation·(KH-1) - 1)/stride + 1 */
tg_node *tg_conv2d(tg_tape *t, tg_node *x, tg_node *w, tg_node *b, int stride, int padding, int dilation);
/* x [B,C,L], w [O,C,K], b [O] -> [B,O,OL], OL = (L + 2·padding - dilation·(K-1) - 1)/stride + 1 */
tg_node *tg_conv1d(tg_tape *t, tg_node *x, tg_node *w, tg_node *b, int stride, int padding, int dilation);
/* x [B,C,H,W] -> [B,C,OH,OW], OH = (H + 2·padding - kernel)/stride + 1; stride 0 = kernel; padding <= kernel/2 */
tg_node *tg_max_pool2d(tg_tape *t, tg_node *x, int kernel, int stride, int padding); /* ties: the first */
tg_node *tg_avg_pool2d(tg_tape *t, tg_node *x, int kernel, int stride, int padding); /* divisor kernel² */
tg_node *tg_global_avg_pool2d(tg_tape *t, tg_node *x);       /* [B,C,H,W] -> [B,C] */
/* x (the shape of max_pool2d node m's input) read at m's arg-maxes: m's tangent rule (forward mode) */
tg_node *tg_max_pool2d_route(tg_tape *t, tg_node *x, const tg_node *m);
/* The activations (activations.def): */
tg_node *tg_activate(tg_tape *t, tg_node *x, tg_activation act); /* any kind, with its parameter */
tg_node *tg_sigmoid(tg_tape *t, tg_node *x);
tg_node *tg_tanh(tg_tape *t, tg_node *x);
tg_node *tg_relu(tg_tape *t, tg_node *x);
tg_node *tg_softplus(tg_tape *t, tg_node *x);
tg_node *tg_leaky_relu(tg_tape *t, tg_node *x, float slope);  /* slope finite, >= 0 */
tg_node *tg_elu(tg_tape *t, tg_node *x, float alpha);         /* alpha finite, >= 0 */
/* f'(z) as a node, read off h = f(z) (h: act's output, or values it could output) */
tg_node *tg_activation_slope_of(tg_tape *t, tg_node *h, tg_activation act);
/* Losses -> [1].  target has pred's shape, and gets a gradient too when it requires one. */
tg_node *tg_mse(tg_tape *t, tg_node *pred, tg_node *target, tg_reduction red);
tg_node *tg_bce_logits(tg_tape *t, tg_node *logits, tg_node *target, tg_reduction red);
/* logits [M,C]; labels[M] in 0..C-1 (checked here), valid until the next reset */
tg_node *tg_softmax_xent(tg_tape *t, tg_node *logits, const int32_t *labels);
/* the same op on uint8_t labels (a tg_dataset's bytes, no copy); _gather: row i's label is
 * labels[idx[i]] (a batch of indices into the data set); checked and valid as above */
tg_node *tg_softmax_xent_u8(tg_tape *t, tg_node *logits, const uint8_t *labels);
tg_node *tg_softmax_xent_gather(tg_tape *t, tg_node *logits, const uint8_t *labels, const uint32_t *idx);

/* The formula of a built-in op (its ops.def line), or NULL for an op of the caller's own. */
const char *tg_op_formula(const tg_op_def *op);

#ifdef __cplusplus
}
#endif

#endif
