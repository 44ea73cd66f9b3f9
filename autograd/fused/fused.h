/* autograd/fused/fused.h — the fused ops: compositions of generic ops computed in one pass, and
 * their reference compositions.
 *
 * The contractive autoencoder is their client: a decoder and its loss without the [M,N] output
 * (affine_mse, affine_mse_gram) and the Jacobian penalties without the Jacobians (B·H·D numbers).
 * Formulas and gradients: fused.def; derivations: beside each op's code in this folder.  Each
 * tg_<op>_reference builds the same loss from generic ops (slower, more memory, the same value
 * to rounding): what the fused op must match, and what to read first. */
#ifndef TG_FUSED_H
#define TG_FUSED_H

#include "autograd/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

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
 * target's zeros), plus four of K² by M or N (derivation in affine_mse_gram.c).  Faster when
 * tg_affine_mse_gram_pays(M, K, N).  Other bits than tg_affine_mse's, and less accurate where
 * Y − T is small against T (a trained autoencoder), because its terms cancel: the value to
 * ~(‖T‖/‖Y − T‖)²·1e-7 relative; w's gradient within ~3× of tg_affine_mse's error and b's the
 * same (x is centered first and the common parts summed in double); x's gradient ~(‖T‖/‖Y − T‖)
 * times tg_affine_mse's error (measurements in affine_mse_gram.c). */
tg_node *tg_affine_mse_gram(tg_tape *t, tg_node *x, tg_node *w, tg_node *b, bool trans_w, tg_node *target,
                            tg_reduction red);
/* Whether tg_affine_mse_gram does fewer flops than tg_affine_mse for x [M,K] and target [M,N]:
 * K < M·N / (2(M + N)), e.g. K = 64 at M = 256, N = 784.  For a target that needs no gradient
 * (an autoencoder's input); with one, the Gram route adds a product of M·K·N to form it. */
bool tg_affine_mse_gram_pays(size_t M, size_t K, size_t N);
/* The CAE's contractive penalty (fused.def) of h = f(x·W + b) [B,H] and W [D,H], with f' computed
 * from h (so h must be the output of `act`, or a leaf holding such values).  Gradient flows to h
 * (hence on to z, W, b, x through the ordinary ops) and directly to W through Σ_i W_ij²;
 * derivation in jacobian_penalty.c. */
tg_node *tg_jacobian_penalty(tg_tape *t, tg_node *h, tg_node *W, tg_activation act);
/* The higher-order (CAE+H) penalty (fused.def), the mean over r of ‖J(x) - J(x̃)‖_F²: how much
 * the encoder's Jacobian changes between x and corrupted copies x̃ = x + ε.  h = f(x·W + b)
 * [B,H]; h_tilde = f(x̃·W + b) [R,H] with R = k·B rows, row r a corruption of input r mod B (k
 * corruptions, stacked corruption-major); W [D,H].  f' is computed from h and h_tilde (both
 * must be outputs of `act`, or leaves holding such values).  Gradient flows to h and h_tilde
 * (hence on through the ordinary ops) and directly to W through Σ_i W_ij²; derivation in
 * jacobian_penalty.c. */
tg_node *tg_jacobian_diff_penalty(tg_tape *t, tg_node *h, tg_node *h_tilde, tg_node *W, tg_activation act);

/* ---- the reference compositions (fused/reference.c) ---- */

/* tg_mse(tg_affine(x, w, b, trans_w), target, red) */
tg_node *tg_affine_mse_reference(tg_tape *t, tg_node *x, tg_node *w, tg_node *b, bool trans_w, tg_node *target,
                                 tg_reduction red);
/* s = Σ_rows W² [1,H];  P = Σ (activation_slope(h)² ⊙ s) / B */
tg_node *tg_jacobian_penalty_reference(tg_tape *t, tg_node *h, tg_node *W, tg_activation act);
/* d = S·activation_slope(h) − activation_slope(h̃) [R,H] with S [R,B] the 0/1 matrix that picks
 * row r mod B;  P = Σ (d² ⊙ s) / R */
tg_node *tg_jacobian_diff_penalty_reference(tg_tape *t, tg_node *h, tg_node *h_tilde, tg_node *W, tg_activation act);

#ifdef __cplusplus
}
#endif

#endif
