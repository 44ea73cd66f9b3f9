/* autograd/jvp_penalty.c — the contractive penalty of any encoder, by forward mode (jvp.h).
 *
 * For an encoder h = E(x) that maps each row x_b of a batch x [B,D] to a row h_b [B,H] on its own,
 * the Jacobian of the whole batch is block-diagonal, blocks J_b = ∂h_b/∂x_b.  A tangent v [B,D]
 * moves every row at once, and the sweep returns J v = (J_b v_b)_b [B,H], so
 *
 *     Σ_b ‖J_b‖²_F = Σ_i ‖J E_i‖²       (E_i [B,D]: column i all ones: D sweeps, not B·D)
 *                  = E_v ‖J v‖²          (v with independent entries of mean 0, variance 1)
 *
 * The second is Hutchinson's estimator of the trace of JᵀJ; with Rademacher entries (±1) its
 * variance is the smallest of the i.i.d. choices.  Both are recorded as ops (sum of squares of
 * tangents), so tg_backward differentiates them to E's parameters, through the tangents
 * (reverse-over-forward).  The fused tg_jacobian_penalty computes the same mean for one layer
 * f(x·W + b) in one pass, from Σ_i W_ij² and f' alone. */
#include "jvp_internal.h"
#include "tensor/rng.h"

static bool penalty_args(tg_tape *t, const char *name, tg_node *h, tg_node *x)
{
    if (!tg_tape_check_inputs(t, name, 2, h, x))
        return false;
    if (x->value.ndim != 2 || tg_rows(h) != tg_rows(x)) {
        char a[64], b[64];
        tg_tape_fail(t, TG_ERR_SHAPE, "%s: h %s and x %s: x must be [B,D] and h have its B rows", name,
                     tg_tensor_shape_str(a, sizeof a, &h->value), tg_tensor_shape_str(b, sizeof b, &x->value));
        return false;
    }
    return true;
}

/* v[0..n) = ±1, 32 signs per draw (a batch of images is 10⁵ of them per probe): bit j of the
 * draw for element 32·k + j, 1 giving +1.  Written as the float's bits (the sign bit set for a
 * 0 bit over 1.0f's pattern), with no branch, so that a block of 32 is one vector loop. */
static TG_VECTORIZE void rademacher_fill(tg_rng *rng, float *v, size_t n)
{
    enum { ONE = 0x3f800000u };
    for (size_t e0 = 0; e0 < n; e0 += 32) {
        uint32_t bits = ~tg_rng_next_u32(rng), block[32];
        for (uint32_t j = 0; j < 32; j++)
            block[j] = ONE | ((bits >> j) & 1u) << 31;
        memcpy(v + e0, block, (n - e0 < 32 ? n - e0 : 32) * sizeof *v);
    }
}

/* ‖J v‖² summed over the batch, as a node */
static tg_node *squared_tangent(tg_tape *t, tg_node *h, tg_node *x, tg_node *v)
{
    return tg_sum(t, tg_square(t, tg_jvp(t, h, x, v)));
}

tg_node *tg_contractive_exact(tg_tape *t, tg_node *h, tg_node *x)
{
    if (!penalty_args(t, "contractive_exact", h, x))
        return NULL;
    size_t B = tg_rows(x), D = tg_cols(x);
    tg_node *total = NULL;
    for (size_t i = 0; i < D && !tg_tape_status(t); i++) {
        tg_node *e = jvp_constant_like(t, x);
        if (!e)
            return NULL;
        for (size_t k = 0; k < B * D; k++)
            e->value.data[k] = k % D == i ? 1.0f : 0.0f;
        total = jvp_sum(t, total, squared_tangent(t, h, x, e));
    }
    return tg_scale(t, total, 1.0f / (float)B);
}

tg_node *tg_contractive_hutchinson(tg_tape *t, tg_node *h, tg_node *x, int k, uint64_t seed)
{
    if (!penalty_args(t, "contractive_hutchinson", h, x))
        return NULL;
    if (k < 1)
        return tg_tape_fail(t, TG_ERR_ARG, "contractive_hutchinson: %d probes (at least 1)", k);
    size_t B = tg_rows(x);
    tg_node *total = NULL;
    for (int p = 0; p < k && !tg_tape_status(t); p++) {
        tg_node *v = jvp_constant_like(t, x);
        if (!v)
            return NULL;
        tg_rng rng; /* one stream per probe, drawn in order on this thread: the same bits always */
        tg_rng_seed(&rng, seed, 0x68757463u + (uint64_t)p); /* "hutc" */
        rademacher_fill(&rng, v->value.data, x->value.size);
        total = jvp_sum(t, total, squared_tangent(t, h, x, v));
    }
    return tg_scale(t, total, 1.0f / ((float)k * (float)B));
}
