/* autograd/ops.h — the built-in ops, one line each (a reference card).
 *
 * Every constructor checks shapes when the node is created, computes the value at once, and
 * returns the new node, or NULL with the tape's sticky error set (see tape.h).  Shapes use the
 * 2-D reading of tensor.h: [M,N] = M rows of N columns; a "row" is [1,N] or [N].
 * Formulas and backward derivations are next to each op's code in autograd/ops_*.c. */
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
/* All built-in ops, in registry order, and their count. */
extern const tg_op_def *const tg_builtin_ops[];
extern const int tg_builtin_op_count;

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

/* Each line: the value; the gradients, with dy = d loss / d output. */
/* op(a)·op(b), op(x) = x or xᵀ (records matmul_nn/_nt/_tn/_tt); d op(a) = dy·op(b)ᵀ, d op(b) = op(a)ᵀ·dy */
tg_node *tg_matmul(tg_tape *t, tg_node *a, tg_node *b, bool trans_a, bool trans_b);
/* x·op(w) + b, op(w) = w or wᵀ, b a row (records affine); dx = dy·op(w)ᵀ, d op(w) = xᵀ·dy, db = Σ_rows dy */
tg_node *tg_affine(tg_tape *t, tg_node *x, tg_node *w, tg_node *b, bool trans_w);
tg_node *tg_add(tg_tape *t, tg_node *a, tg_node *b);          /* a + b (b may be a row); da = dy, db = dy */
tg_node *tg_sub(tg_tape *t, tg_node *a, tg_node *b);          /* a - b (b may be a row); da = dy, db = -dy */
tg_node *tg_mul(tg_tape *t, tg_node *a, tg_node *b);          /* a ⊙ b (b may be a row); da = dy⊙b, db = dy⊙a */
tg_node *tg_scale(tg_tape *t, tg_node *x, float c);           /* c·x (c finite); dx = c·dy */
tg_node *tg_sum(tg_tape *t, tg_node *x);                      /* Σ x -> [1]; dx = dy */
tg_node *tg_mean(tg_tape *t, tg_node *x);                     /* Σ x / size -> [1]; dx = dy/size */
tg_node *tg_sum_over_rows(tg_tape *t, tg_node *x);            /* [M,N] -> [1,N]; dx_ij = dy_j */
tg_node *tg_sum_over_cols(tg_tape *t, tg_node *x);            /* [M,N] -> [M,1]; dx_ij = dy_i */
tg_node *tg_square(tg_tape *t, tg_node *x);                   /* x²; dx = 2x·dy */
tg_node *tg_exp(tg_tape *t, tg_node *x);                      /* eˣ; dx = eˣ·dy */
tg_node *tg_log(tg_tape *t, tg_node *x);                      /* ln x (x<=0: -inf/NaN, as logf); dx = dy/x */
/* The activations (formulas in activations.def): */
tg_node *tg_activate(tg_tape *t, tg_node *x, tg_activation act); /* any kind, with its parameter */
tg_node *tg_sigmoid(tg_tape *t, tg_node *x);
tg_node *tg_tanh(tg_tape *t, tg_node *x);
tg_node *tg_relu(tg_tape *t, tg_node *x);
tg_node *tg_softplus(tg_tape *t, tg_node *x);
tg_node *tg_leaky_relu(tg_tape *t, tg_node *x, float slope);  /* slope finite, >= 0 */
tg_node *tg_elu(tg_tape *t, tg_node *x, float alpha);         /* alpha finite, >= 0 */
/* Losses -> [1].  `target` has pred's shape; it gets a gradient too when it requires one.
 * L = scale·Σ_ij ℓ_ij with scale = 1/(M·N) for TG_REDUCE_MEAN, 1/M for TG_REDUCE_ROW_SUM. */
/* ℓ = (y-t)²;  dy = 2(y-t)·scale, dt = -dy */
tg_node *tg_mse(tg_tape *t, tg_node *pred, tg_node *target, tg_reduction red);
/* mse(affine(x, w, b, trans_w), target, red) in one op, for a Dense layer that feeds only this
 * loss (an autoencoder's decoder): no [M,N] output node, the residual is formed while the
 * product's blocks are in cache, and the backward writes no dy.  target must be [M,N] as the
 * layer's output.  The value is mse's to rounding (summed in other chunks), and so is b's
 * gradient (summed per square of a 16×16 grid: the same bits on any thread count).  When the
 * loss's own gradient dL is 1 (it is summed into the training loss) the gradients of x, w and
 * target have the two ops' bits; otherwise dL scales the products' results (their alpha)
 * rather than dy. */
tg_node *tg_affine_mse(tg_tape *t, tg_node *x, tg_node *w, tg_node *b, bool trans_w, tg_node *target,
                       tg_reduction red);
/* The same loss as tg_affine_mse, computed through the Gram matrix G = op(w)·op(w)ᵀ [K,K] instead of
 * the layer's output: the products along N become target·op(w)ᵀ and targetᵀ·x (both skip the
 * target's zeros), plus four of K² by M or N (derivation in ops_gram.c).  Faster when
 * tg_affine_mse_gram_pays(M, K, N); the value is exact to ~(‖T‖/‖Y − T‖)²·1e-7 relative (its
 * terms cancel), the gradients as accurate as tg_affine_mse's, with other bits. */
tg_node *tg_affine_mse_gram(tg_tape *t, tg_node *x, tg_node *w, tg_node *b, bool trans_w, tg_node *target,
                            tg_reduction red);
/* Whether tg_affine_mse_gram does fewer flops than tg_affine_mse for x [M,K] and target [M,N]:
 * K < M·N / (2(M + N)), e.g. K = 64 at M = 256, N = 784.  For a target that needs no gradient
 * (an autoencoder's input); with one, the Gram route adds a product of M·K·N to form it. */
bool tg_affine_mse_gram_pays(size_t M, size_t K, size_t N);
/* ℓ = BCE(σ(z), t) = max(z,0) - z·t + ln(1+e^{-|z|}), fused;  dz = (σ(z)-t)·scale, dt = -z·scale */
tg_node *tg_bce_logits(tg_tape *t, tg_node *logits, tg_node *target, tg_reduction red);
/* logits [M,C]; labels[M] in 0..C-1 (checked here); mean over rows of lse(z_i) - z_i,label.
 * dz = (softmax(z) - onehot(label))/M.  `labels` must stay valid until the next reset. */
tg_node *tg_softmax_xent(tg_tape *t, tg_node *logits, const int32_t *labels);
/* The CAE's contractive penalty, fused: h = f(x·W + b) [B,H] (activations), W [D,H].
 * P = (1/B) Σ_b Σ_j f'(z_bj)² Σ_i W_ij², with f' computed from h (so h must be the output of
 * `act`, or a leaf holding such values).  Gradient flows to h (hence on to z, W, b, x through
 * the ordinary ops) and directly to W through Σ_i W_ij²; derivation in ops_jacobian.c. */
tg_node *tg_jacobian_penalty(tg_tape *t, tg_node *h, tg_node *W, tg_activation act);
/* The higher-order (CAE+H) penalty, fused: how much the encoder's Jacobian changes between x and
 * corrupted copies x̃ = x + ε.  h = f(x·W + b) [B,H]; h_tilde = f(x̃·W + b) [R,H] with R = k·B
 * rows, row r a corruption of input r mod B (k corruptions, stacked corruption-major); W [D,H].
 *     P = (1/R) Σ_r Σ_j (f'(z_{r mod B, j}) - f'(z̃_rj))² Σ_i W_ij²  = mean over r of ‖J(x) - J(x̃)‖_F²
 * f' is computed from h and h_tilde (both must be outputs of `act`, or leaves holding such
 * values).  Gradient flows to h and h_tilde (hence on through the ordinary ops) and directly to
 * W through Σ_i W_ij²; derivation in ops_jacobian.c. */
tg_node *tg_jacobian_diff_penalty(tg_tape *t, tg_node *h, tg_node *h_tilde, tg_node *W, tg_activation act);

#ifdef __cplusplus
}
#endif

#endif
