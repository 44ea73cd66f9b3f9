/* autograd/jvp_rules_layers.c — the tangent rules of the layers' ops, the activations, the losses
 * and the fused ops (jvp_internal.h says what a rule is; the formulas are ops.def's).
 *
 * The normalizations are differentiated as their compositions (x̂ = (x-μ)·r, r = (σ²+eps)^-½)
 * recorded with ordinary ops, so that their tangents stay differentiable in x; the fused ops
 * take the tangent of their reference compositions (fused/reference.c). */
#include "activation_math.h"
#include "fused/fused.h"
#include "jvp_internal.h"

/* ---- dropout, embedding: linear in their input --------------------------------------------- */

/* ẋ⊙mask (the mask the forward saved: 0 or 1/(1-p)); eval: ẋ */
tg_node *tg_op_dropout_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    if (!n->saved)
        return dx[0];
    tg_node *mask = jvp_constant_like(t, n);
    if (!mask)
        return NULL;
    memcpy(mask->value.data, n->saved, n->value.size * sizeof(float));
    return tg_mul(t, mask, dx[0]);
}

tg_node *tg_op_embedding_jvp(tg_tape *t, tg_node *n, tg_node *const *dx) { return jvp_reapply(t, n, dx); }

/* ---- layer_norm and batch_norm ---------------------------------------------------------------
 *
 * Along `axis` of x [R,N] (1: each row, layer_norm; 0: each column over the batch, batch_norm):
 *     x̂ = (x-μ)·r,  ẋ̂ = r⊙(ẋ - mean(ẋ) - x̂⊙mean(x̂⊙ẋ))
 * (μ̇ = mean(ẋ), ṙ = -r³·mean((x-μ)⊙ẋ)), then ẏ = ẋ̂⊙γ + x̂⊙γ̇ + β̇. */

typedef struct normalized {
    tg_node *x_hat, *dx_hat; /* dx_hat NULL when x has no tangent */
} normalized;

static normalized normalize_with_tangent(tg_tape *t, tg_node *x, tg_node *dx, float eps, int axis)
{
    tg_node *centered = tg_sub(t, x, tg_mean_axis(t, x, axis));
    tg_node *r = tg_pow(t, tg_add_scalar(t, tg_mean_axis(t, tg_square(t, centered), axis), eps), -0.5f);
    normalized out = {tg_mul(t, centered, r), NULL};
    if (dx) {
        tg_node *inner = tg_sub(t, dx, tg_mean_axis(t, dx, axis));
        tg_node *along = tg_mul(t, out.x_hat, tg_mean_axis(t, tg_mul(t, out.x_hat, dx), axis));
        out.dx_hat = tg_mul(t, r, tg_sub(t, inner, along));
    }
    return out;
}

/* ẋ̂⊙γ + x̂⊙γ̇ + β̇ for the normalized [R,N] x̂ and its tangent (γ, β and their tangents may be absent) */
static tg_node *scale_shift_jvp(tg_tape *t, normalized xn, tg_node *gamma, tg_node *dgamma, tg_node *dbeta)
{
    tg_node *d = xn.dx_hat && gamma ? tg_mul(t, xn.dx_hat, gamma) : xn.dx_hat;
    d = jvp_sum(t, d, dgamma ? tg_mul(t, xn.x_hat, dgamma) : NULL);
    return dbeta ? jvp_as_shape_of(t, jvp_sum(t, d, dbeta), xn.x_hat) : d;
}

tg_node *tg_op_layer_norm_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    layer_norm_params lp = layer_norm_params_of(n);
    tg_node *x = n->in[0];
    size_t N = x->value.shape[x->value.ndim - 1];
    const size_t rows[2] = {x->value.size / N, N};
    tg_node *x2 = x->value.ndim == 2 ? x : tg_reshape(t, x, 2, rows);
    tg_node *dx2 = !dx[0] || x->value.ndim == 2 ? dx[0] : tg_reshape(t, dx[0], 2, rows);
    normalized xn = normalize_with_tangent(t, x2, dx2, lp.eps, 1);
    tg_node *d = scale_shift_jvp(t, xn, lp.gamma_in >= 0 ? n->in[lp.gamma_in] : NULL,
                                 lp.gamma_in >= 0 ? dx[lp.gamma_in] : NULL, lp.beta_in >= 0 ? dx[lp.beta_in] : NULL);
    return x->value.ndim == 2 || !d ? d : tg_reshape(t, d, x->value.ndim, x->value.shape);
}

/* training: the batch statistics, as layer_norm over columns; eval: the running ones, constants,
 * so ẋ̂ = r⊙ẋ with r = (running σ² + eps)^-½ and x̂ = (x - running μ)·r */
tg_node *tg_op_batch_norm_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    batch_norm_params bp = batch_norm_params_of(n);
    tg_node *x = n->in[0];
    normalized xn;
    if (bp.training) {
        xn = normalize_with_tangent(t, x, dx[0], bp.eps, 0);
    } else {
        size_t N = tg_cols(x);
        tg_node *r = tg_input_new(t, 2, (size_t[]){1, N}), *mu = tg_input_new(t, 2, (size_t[]){1, N});
        if (!r || !mu)
            return NULL;
        for (size_t j = 0; j < N; j++) {
            r->value.data[j] = (float)(1.0 / sqrt((double)bp.run_var[j] + (double)bp.eps));
            mu->value.data[j] = bp.run_mean[j];
        }
        xn = (normalized){tg_mul(t, tg_sub(t, x, mu), r), dx[0] ? tg_mul(t, dx[0], r) : NULL};
    }
    return scale_shift_jvp(t, xn, bp.gamma_in >= 0 ? n->in[bp.gamma_in] : NULL,
                           bp.gamma_in >= 0 ? dx[bp.gamma_in] : NULL, bp.beta_in >= 0 ? dx[bp.beta_in] : NULL);
}

/* ---- the activations: ẏ = f'(x)⊙ẋ, f' read off y by activation_slope ----------------------- */

static tg_node *activation_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    return tg_mul(t, tg_activation_slope_of(t, n, activation_params_of(n).act), dx[0]);
}

#define TG_ACTIVATION(name, NAME, param_name, param_default, kink, formula) \
    tg_node *tg_op_##name##_jvp(tg_tape *t, tg_node *n, tg_node *const *dx) { return activation_jvp(t, n, dx); }
#include "activations.def"
#undef TG_ACTIVATION

/* activation_slope: ẏ = φ'(h)⊙ḣ, with φ' = dφ/dh (activation_math.h's slope_change) as a node of
 * h, one function per activation (declared from the registry: an activation without one fails
 * to link).  NULL where φ' is zero (φ piecewise constant). */
#define TG_ACTIVATION(name, NAME, param_name, param_default, kink, formula) \
    tg_node *tg_jvp_slope_change_##name(tg_tape *t, tg_node *h, float p);
#include "activations.def"
#undef TG_ACTIVATION

/* sigmoid: φ = h(1-h), φ' = 1 - 2h */
tg_node *tg_jvp_slope_change_sigmoid(tg_tape *t, tg_node *h, float p)
{
    (void)p;
    return tg_rsub(t, tg_scale(t, h, 2.0f), 1.0f);
}

/* tanh: φ = 1 - h², φ' = -2h */
tg_node *tg_jvp_slope_change_tanh(tg_tape *t, tg_node *h, float p)
{
    (void)p;
    return tg_scale(t, h, -2.0f);
}

/* relu, leaky_relu: φ piecewise constant, φ' = 0 */
tg_node *tg_jvp_slope_change_relu(tg_tape *t, tg_node *h, float p)
{
    (void)t, (void)h, (void)p;
    return NULL;
}

tg_node *tg_jvp_slope_change_leaky_relu(tg_tape *t, tg_node *h, float p)
{
    (void)t, (void)h, (void)p;
    return NULL;
}

/* softplus: φ = 1 - e^{-h}, φ' = e^{-h} */
tg_node *tg_jvp_slope_change_softplus(tg_tape *t, tg_node *h, float p)
{
    (void)p;
    return tg_exp(t, tg_neg(t, h));
}

/* elu: φ = h + alpha for h <= 0, else 1: φ' = [h <= 0], a constant */
tg_node *tg_jvp_slope_change_elu(tg_tape *t, tg_node *h, float p)
{
    (void)p;
    tg_node *below = jvp_constant_like(t, h);
    if (below)
        for (size_t k = 0; k < h->value.size; k++)
            below->value.data[k] = h->value.data[k] > 0.0f ? 0.0f : 1.0f;
    return below;
}

tg_node *tg_op_activation_slope_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    tg_activation act = activation_params_of(n).act;
    tg_node *change = NULL;
    switch (act.kind) {
#define TG_ACTIVATION(name, NAME, param_name, param_default, kink, formula) \
    case TG_ACT_##NAME: change = tg_jvp_slope_change_##name(t, n->in[0], act.param); break;
#include "activations.def"
#undef TG_ACTIVATION
    default: break;
    }
    return change ? tg_mul(t, change, dx[0]) : NULL;
}

/* ---- losses ------------------------------------------------------------------------------------ */

static float scale_of(const tg_node *n)
{
    const tg_node *pred = n->in[0];
    return (float)tg_reduction_scale(pred->value.size, tg_rows(pred), loss_params_of(n).reduction);
}

/* L̇ = 2·scale·Σ (y-t)⊙(ẏ - ṫ) */
tg_node *tg_op_mse_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    tg_node *residual = tg_sub(t, n->in[0], n->in[1]);
    return tg_scale(t, tg_sum(t, tg_mul(t, residual, jvp_diff(t, dx[0], dx[1]))), 2.0f * scale_of(n));
}

/* L̇ = scale·Σ [(σ(z) - t)⊙ż - z⊙ṫ] */
tg_node *tg_op_bce_logits_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    tg_node *z = n->in[0], *target = n->in[1];
    tg_node *d = dx[0] ? tg_mul(t, tg_sub(t, tg_sigmoid(t, z), target), dx[0]) : NULL;
    d = jvp_diff(t, d, dx[1] ? tg_mul(t, z, dx[1]) : NULL);
    return tg_scale(t, tg_sum(t, d), scale_of(n));
}

/* L̇ = (1/M)·Σ (softmax(z) - onehot(label))⊙ż, the one-hot a constant */
tg_node *tg_op_softmax_xent_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    tg_node *z = n->in[0], *onehot = jvp_constant_like(t, z);
    if (!onehot)
        return NULL;
    softmax_xent_params p = softmax_xent_params_of(n);
    size_t M = tg_rows(z), C = tg_cols(z);
    memset(onehot->value.data, 0, z->value.size * sizeof(float));
    for (size_t i = 0; i < M; i++)
        onehot->value.data[i * C + xent_label(&p, i)] = 1.0f;
    tg_node *d = tg_mul(t, tg_sub(t, tg_softmax(t, z), onehot), dx[0]);
    return tg_scale(t, tg_sum(t, d), 1.0f / (float)M);
}

/* ---- the fused ops: the tangents of their reference compositions ------------------------------- */

static tg_node *affine_mse_reference(tg_tape *t, const tg_node *n)
{
    affine_params p = affine_params_of(n);
    return tg_affine_mse_reference(t, n->in[0], n->in[1], n->in[2], p.trans_w, n->in[3], p.reduction);
}

static tg_node *jacobian_penalty_reference(tg_tape *t, const tg_node *n)
{
    return tg_jacobian_penalty_reference(t, n->in[0], n->in[1], activation_params_of(n).act);
}

static tg_node *jacobian_diff_penalty_reference(tg_tape *t, const tg_node *n)
{
    return tg_jacobian_diff_penalty_reference(t, n->in[0], n->in[1], n->in[2], activation_params_of(n).act);
}

tg_node *tg_op_affine_mse_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    return tg_jvp_by_reference(t, n, dx, affine_mse_reference);
}

tg_node *tg_op_affine_mse_gram_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    return tg_jvp_by_reference(t, n, dx, affine_mse_reference);
}

tg_node *tg_op_jacobian_penalty_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    return tg_jvp_by_reference(t, n, dx, jacobian_penalty_reference);
}

tg_node *tg_op_jacobian_diff_penalty_jvp(tg_tape *t, tg_node *n, tg_node *const *dx)
{
    return tg_jvp_by_reference(t, n, dx, jacobian_diff_penalty_reference);
}
