/* autograd/ops_internal.h — what the built-in ops share (private to autograd/ops_*.c).
 *
 * The forward/backward prototypes of every registered op, and the few numeric helpers more
 * than one op needs.  Everything here is static inline: no calls through pointers in the
 * per-element loops. */
#ifndef TG_OPS_INTERNAL_H
#define TG_OPS_INTERNAL_H

#include <math.h>

#include "ops.h"
#include "tensor/matmul.h"
#include "tensor/vmath.h"

/* A loop body written once and inlined into callers that pass it constants (an activation kind,
 * a width), so each copy specializes and vectorizes. */
#define TG_ALWAYS_INLINE static inline __attribute__((always_inline))

#define TG_OP(name, formula)                 \
    void tg_op_##name##_forward(tg_node *n); \
    void tg_op_##name##_backward(tg_node *n);
#include "ops.def"
#undef TG_OP

/* ---- the two-input elementwise ops (ops_broadcast.c says how they broadcast) ---- */

typedef enum tg_binary_kind {
    TG_BINARY_ADD, TG_BINARY_SUB, TG_BINARY_MUL, TG_BINARY_DIV, TG_BINARY_MAX, TG_BINARY_MIN
} tg_binary_kind;

/* y = a ∘ b, shapes broadcast (aligned from the right, each pair of sizes equal or one of them
 * 1); records and runs op, or fails naming it, both shapes and the sizes that differ. */
tg_node *tg_binary_op(tg_tape *t, const tg_op_def *op, tg_node *a, tg_node *b);
/* Whether binary node n is the form with the ops' own loops: a has y's shape and b has it too or
 * is a row of it (2-D reading: b [1,N] or [N] over y [M,N]). */
bool tg_binary_a_full_b_row(const tg_node *n);
/* The general forward and backward of binary node n of `kind`: any broadcast, one strided walk
 * over y (single-threaded; the backward's sums over the repeats taken in double, in y's order). */
void tg_binary_general_forward(tg_node *n, tg_binary_kind kind);
void tg_binary_general_backward(tg_node *n, tg_binary_kind kind);

/* Whether max (is_max) or min takes a: a >= b (a <= b), ties to a, and a NaN a is taken too;
 * a NaN b fails the test and is taken. */
TG_ALWAYS_INLINE bool tg_picks_a(bool is_max, float a, float b)
{
    return (is_max ? a >= b : a <= b) || isnan(a);
}

/* a ∘ b for one element (inlined with a constant kind, the switch folds away). */
TG_ALWAYS_INLINE float tg_binary_value(tg_binary_kind kind, float a, float b)
{
    switch (kind) {
    case TG_BINARY_ADD: return a + b;
    case TG_BINARY_SUB: return a - b;
    case TG_BINARY_MUL: return a * b;
    case TG_BINARY_DIV: return a / b;
    case TG_BINARY_MAX: return tg_picks_a(true, a, b) ? a : b;
    default: return tg_picks_a(false, a, b) ? a : b;
    }
}

/* Whether an activation op computed node h, and if so which (kind and parameter) in *act. */
bool tg_activation_of_node(const tg_node *h, tg_activation *act);
/* Whether act is a known kind with a valid parameter; if not, fails the tape naming the op. */
bool tg_activation_check(tg_tape *t, const char *op_name, tg_activation act);

/* Shape strings for error messages: SHAPE(n) is "[32,784]" for node n.  The buffer is a
 * member of a returned struct, which C11 keeps alive until the end of the full expression,
 * so SHAPE() may be used (several times) inside one tg_tape_fail(...) call. */
typedef struct shape_buf {
    char s[64];
} shape_buf;
static inline shape_buf shape_of(const tg_node *n)
{
    shape_buf b;
    tg_tensor_shape_str(b.s, sizeof b.s, &n->value);
    return b;
}
#define SHAPE(n) (shape_of(n).s)

/* σ(x) = 1/(1+e⁻ˣ) without overflow: e^{-|x|} is in (0,1], so for x >= 0 it is 1/(1+e),
 * and for x < 0 it is e/(1+e) (the same fraction multiplied by eˣ/eˣ).  Exact limits 0 and 1
 * at ±1e4, never NaN. */
static inline float stable_sigmoidf(float x)
{
    float e = tg_expf(-fabsf(x)); /* inlined, so sigmoid loops vectorize (tensor/vmath.h) */
    float r = 1.0f / (1.0f + e);
    return x >= 0.0f ? r : e * r;
}

/* The lane sums (TG_SUM_LANES, combine_lanes, lanes_sum) are in tensor/vmath.h; more of them: */

/* Σ_k x_k² */
static inline double lanes_sum_sq(const float *x, size_t n)
{
    double lane[TG_SUM_LANES] = {0};
    size_t k = 0;
    for (; k + TG_SUM_LANES <= n; k += TG_SUM_LANES)
        for (int l = 0; l < TG_SUM_LANES; l++)
            lane[l] += (double)x[k + l] * (double)x[k + l];
    for (; k < n; k++)
        lane[k % TG_SUM_LANES] += (double)x[k] * (double)x[k];
    return combine_lanes(lane);
}

/* Σ_k a_k·b_k, a in float, b in double (whole lanes first: the loop vectorizes) */
static inline double lanes_dot(const float *a, const double *b, size_t n)
{
    double lane[TG_SUM_LANES] = {0};
    size_t k = 0;
    for (; k + TG_SUM_LANES <= n; k += TG_SUM_LANES)
        for (int l = 0; l < TG_SUM_LANES; l++)
            lane[l] += (double)a[k + l] * b[k + l];
    for (; k < n; k++)
        lane[k % TG_SUM_LANES] += (double)a[k] * b[k];
    return combine_lanes(lane);
}

/* Σ_k (a_k − b_k)² */
static inline double lanes_sum_sq_diff(const float *a, const float *b, size_t n)
{
    double lane[TG_SUM_LANES] = {0};
    size_t k = 0;
    for (; k + TG_SUM_LANES <= n; k += TG_SUM_LANES)
        for (int l = 0; l < TG_SUM_LANES; l++) {
            double d = (double)a[k + l] - (double)b[k + l];
            lane[l] += d * d;
        }
    for (; k < n; k++) {
        double d = (double)a[k] - (double)b[k];
        lane[k % TG_SUM_LANES] += d * d;
    }
    return combine_lanes(lane);
}

/* db_j += Σ_i dy_ij over dy [M,N], each column's rows added in order, split over threads by
 * columns: the bias gradient of add (a broadcast row) and of affine. */
void tg_add_column_sums(const float *dy, size_t M, size_t N, float *db);
/* dst[k] += alpha·src[k] for k < n, in fixed chunks over the threads (elementwise: the same bits
 * on any thread count; with alpha = −a it is dst − a·src exactly). */
void tg_add_scaled(float *dst, const float *src, float alpha, size_t n);

/* ---- the affine op's parts, for ops that fuse a Dense layer with what follows (affine_mse) ---- */

/* N, the columns of x·op(w): w is [K,N], or [N,K] when trans_w. */
static inline size_t tg_affine_cols(const tg_node *w, bool trans_w) { return trans_w ? tg_rows(w) : tg_cols(w); }
/* Whether x·op(w) + b is well-formed (b a row of N); if not, fails the tape with a message
 * naming the op `name` and the shapes. */
bool tg_affine_check(tg_tape *t, const char *name, tg_node *x, tg_node *w, tg_node *b, bool trans_w);
/* y [M,N] = x [M,K]·op(w) + b, with an epilogue (tg_gemm_options; NULL: none; with one, the
 * threads split y by rows); x's zeros are skipped when it has many, and the return value says
 * whether they were (the backward's skip_zeros_of_x). */
bool tg_affine_product(const tg_node *x, const tg_node *w, const tg_node *b, bool trans_w, float *y,
                       tg_gemm_epilogue epilogue, void *epilogue_ctx);
/* The products of the backward of y = x·op(w) + b, for its gradient dY [M,N] scaled by alpha
 * (the products' alpha: no scaled copy of dY is made):  dx += alpha·dY·op(w)ᵀ and
 * d op(w) += alpha·xᵀ·dY, each for an input that wants its gradient.  b's gradient is the
 * caller's (affine: tg_add_column_sums; affine_mse: its epilogue's column sums). */
void tg_affine_backward_products(tg_node *x, tg_node *w, bool trans_w, bool skip_zeros_of_x, const float *dY,
                                 float alpha);

/* The parameters of affine, affine_mse and affine_mse_gram: W is [N,K], used transposed, when
 * trans_w; the reduction of the two losses. */
typedef struct affine_params {
    bool trans_w;
    tg_reduction reduction;
} affine_params;
TG_OP_PARAMS(affine_params)

/* The parameters of mse and bce_logits. */
typedef struct loss_params {
    tg_reduction reduction;
} loss_params;
TG_OP_PARAMS(loss_params)

/* A row's maximum m, and ln Σ_j e^{x_j - m} in *log_s (in [0, ln C]: the largest term is e⁰ = 1),
 * for x [C]: what softmax, log_softmax and softmax_xent shift and normalize by. */
static inline float row_max_log_sum(const float *x, size_t C, double *log_s)
{
    float m = x[0];
    for (size_t j = 1; j < C; j++)
        m = fmaxf(m, x[j]);
    double s = 0.0;
    for (size_t j = 0; j < C; j++)
        s += expf(x[j] - m);
    *log_s = log(s);
    return m;
}

/* The scale of a loss reduction (ops.h): 1/elements for TG_REDUCE_MEAN, 1/rows for TG_REDUCE_ROW_SUM. */
static inline double tg_reduction_scale(size_t elements, size_t rows, int red)
{
    return 1.0 / (double)(red == TG_REDUCE_MEAN ? elements : rows);
}

/* The checks of tg_affine_mse and tg_affine_mse_gram (the op named `name`): the affine's, target
 * [M,N] as the layer's output, a known reduction.  On failure the tape holds the error. */
bool tg_affine_mse_check(tg_tape *t, const char *name, tg_node *x, tg_node *w, tg_node *b, bool trans_w,
                         tg_node *target, tg_reduction red);

/* ---- parameters the tangent rules (jvp_rules*.c) read besides their own ops ---- */

typedef struct pow_params {
    float p;
} pow_params;
TG_OP_PARAMS(pow_params)

/* conv2d's and conv1d's geometry (ops_conv.c) */
typedef struct conv_params {
    float *scratch;               /* tg_conv_scratch_floats of the geometry, arena: forward and backward */
    float *kept;                  /* when w wants a gradient: the forward's unrolled patches (arena) */
    uint32_t stride, padding, dilation;
    bool has_bias, one_d;         /* b is in[2]; conv1d (3-D tensors) */
} conv_params;
TG_OP_PARAMS(conv_params)

/* the pooling ops' window (ops_pool.c) */
typedef struct pool_params {
    uint32_t kernel, stride, padding;
    const tg_node *source; /* max_pool2d_route: the max_pool2d whose arg-maxes it follows */
} pool_params;
TG_OP_PARAMS(pool_params)

/* layer_norm's and batch_norm's: eps, and which inputs are γ and β */
typedef struct layer_norm_params {
    float eps;
    signed char gamma_in, beta_in; /* the input index of γ and β, -1 when absent */
} layer_norm_params;
TG_OP_PARAMS(layer_norm_params)

typedef struct batch_norm_params {
    const float *run_mean, *run_var; /* eval: [N], the caller's, valid until the next reset */
    float *batch_stats;              /* training, optional: [2N] <- batch means, biased variances */
    float eps;
    bool training;                   /* the tape's mode when the node was recorded */
    signed char gamma_in, beta_in;   /* the input index of γ and β, -1 when absent */
} batch_norm_params;
TG_OP_PARAMS(batch_norm_params)

/* softmax_xent's labels stay the caller's (valid until the next reset), read where they are: int32
 * or uint8 (a data set's own bytes), either row i's label at labels[i] or, with idx, at
 * labels[idx[i]] (a batch of indices into the data set).  No copy either way. */
typedef enum xent_label_width { XENT_LABELS_I32, XENT_LABELS_U8 } xent_label_width;
typedef struct softmax_xent_params {
    const void *labels;   /* [M] (or indexed by idx): int32_t or uint8_t, as width says */
    const uint32_t *idx;  /* [M] or NULL: row i's label is labels[idx[i]] */
    xent_label_width width;
} softmax_xent_params;
TG_OP_PARAMS(softmax_xent_params)

static inline size_t xent_label(const softmax_xent_params *p, size_t i)
{
    size_t k = p->idx ? p->idx[i] : i;
    if (p->width == XENT_LABELS_U8)
        return ((const uint8_t *)p->labels)[k];
    return (size_t)((const int32_t *)p->labels)[k];
}

/* Columns are processed in blocks of this many when a reduction walks a matrix row by row
 * and keeps one double accumulator per column on the stack. */
#define TG_COL_BLOCK 64

#endif
