/* autograd/fused/reference.c — the fused ops as compositions of generic ops (fused.h).
 *
 * Each builds the same loss as its fused op from the ordinary ops, so every gradient comes from
 * ops checked on their own: slower and hungrier (the [M,N] output, the [R,B] picking matrix),
 * but short enough to read as the definition.  tests/test_fused.c compares each pair. */
#include "fused.h"

tg_node *tg_affine_mse_reference(tg_tape *t, tg_node *x, tg_node *w, tg_node *b, bool trans_w, tg_node *target,
                                 tg_reduction red)
{
    return tg_mse(t, tg_affine(t, x, w, b, trans_w), target, red);
}

/* s_j = Σ_i W_ij², as a row [1,H] */
static tg_node *column_square_sums(tg_tape *t, tg_node *W) { return tg_sum_over_rows(t, tg_square(t, W)); }

/* Σ_rj weight_rj² s_j / rows, for weight [rows,H] */
static tg_node *weighted_mean(tg_tape *t, tg_node *weight, tg_node *W)
{
    if (!weight)
        return NULL;
    float inverse_rows = 1.0f / (float)tg_rows(weight);
    return tg_scale(t, tg_sum(t, tg_mul(t, tg_square(t, weight), column_square_sums(t, W))), inverse_rows);
}

tg_node *tg_jacobian_penalty_reference(tg_tape *t, tg_node *h, tg_node *W, tg_activation act)
{
    return weighted_mean(t, tg_activation_slope_of(t, h, act), W); /* f'(z) [B,H] */
}

tg_node *tg_jacobian_diff_penalty_reference(tg_tape *t, tg_node *h, tg_node *h_tilde, tg_node *W, tg_activation act)
{
    if (!tg_tape_check_inputs(t, "jacobian_diff_penalty_reference", 3, h, h_tilde, W))
        return NULL;
    size_t B = tg_rows(h), R = tg_rows(h_tilde);
    tg_node *pick = tg_input_new(t, 2, (size_t[]){R, B}); /* row r picks row r mod B */
    if (!pick)
        return NULL;
    for (size_t r = 0; r < R; r++)
        for (size_t c = 0; c < B; c++)
            pick->value.data[r * B + c] = c == r % B ? 1.0f : 0.0f;
    tg_node *slope_of_x = tg_matmul(t, pick, tg_activation_slope_of(t, h, act), false, false); // [R,H]
    tg_node *difference = tg_sub(t, slope_of_x, tg_activation_slope_of(t, h_tilde, act));      // [R,H]
    return weighted_mean(t, difference, W);
}
