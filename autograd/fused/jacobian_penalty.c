/* autograd/fused/jacobian_penalty.c — the contractive penalty of a CAE, fused.
 *
 * For an encoder h = f(z), z = x·W + b (x [B,D], W [D,H], h [B,H]), the Jacobian of sample b's
 * code with respect to its input is J_b = ∂h_b/∂x_b = diag(f'(z_b))·Wᵀ  [H,D], so
 *
 *     ‖J_b‖²_F = Σ_j Σ_i (f'(z_bj) W_ij)² = Σ_j f'(z_bj)² s_j,    s_j = Σ_i W_ij²
 *
 * and the penalty, averaged over the batch, is
 *
 *     P = (1/B) Σ_b Σ_j f'(z_bj)² s_j.
 *
 * The op never forms J (B·H·D numbers): one pass over W for s_j, one over h for f'², O(D·H + B·H).
 *
 * f' from h.  The op takes the activations h, not z: each f' is a function φ of h = f(z), given
 * with dφ/dh for every activation in activation_math.h, e.g.
 *     sigmoid   f' = h(1-h)            dφ/dh = 1 - 2h
 *     softplus  f' = σ(z) = 1 - e^{-h} dφ/dh = e^{-h}     (e^{-h} = 1/(1+eᶻ) = 1 - σ(z))
 *     elu       f' = h + α for h <= 0  dφ/dh = 1
 *
 * Backward.  As a function of the op's inputs, P(h, W) = (1/B) Σ_b Σ_j φ(h_bj)² s_j(W), so
 *
 *     ∂P/∂W_ij = 2 W_ij · (1/B) Σ_b φ(h_bj)²                (direct: through s_j)
 *     ∂P/∂h_bj = (1/B) · 2 φ(h_bj) φ'(h_bj) · s_j
 *
 * The tape carries ∂P/∂h on through the activation op (dh/dz = f'(z)), which gives
 * ∂P/∂z_bj = (2/B) f'(z_bj) f''(z_bj) s_j (as f'' = φ'(h)·f'), and from z the matmul brings it
 * to W a second time (indirect: through z), to b and to x.  W's gradient is the sum of both
 * paths.  A widely copied Keras CAE treats W as a constant here and loses the direct term; this
 * op takes W as an input so the tape cannot. */
#include "autograd/activation_math.h"

#include "tensor/parallel.h"

/* f' is read off the activations, so a node computed by an activation op must come from the one
 * named here, with the same parameter (a leaf holding such values is accepted as is).  Sets the
 * sticky error otherwise. */
static bool computed_by(tg_tape *t, const char *op_name, const char *what, const tg_node *h, tg_activation act)
{
    tg_activation made_by;
    if (tg_activation_of_node(h, &made_by) && (made_by.kind != act.kind || made_by.param != act.param)) {
        char made[48], told[48];
        tg_activation_format(made_by, made, sizeof made);
        tg_activation_format(act, told, sizeof told);
        tg_tape_fail(t, TG_ERR_ARG, "%s: %s was computed by %s, not %s", op_name, what, made, told);
        return false;
    }
    return true;
}

/* s_j = Σ_i W_ij² for the columns j0 .. j0+width of W [D,H], in double.  Both penalties need it:
 * ‖J‖² weighs each hidden unit's squared slope by the squared norm of its weights. */
static void column_square_sums(const float *W, size_t D, size_t H, size_t j0, size_t width, double *s)
{
    for (size_t j = 0; j < width; j++)
        s[j] = 0.0;
    for (size_t i = 0; i < D; i++)
        for (size_t j = 0; j < width; j++)
            s[j] += (double)W[i * H + j0 + j] * W[i * H + j0 + j];
}

typedef struct direct_gradient_job {
    const float *W, *weight;
    float *dW;
    size_t H;
    float g;
    bool assign; /* dW has not been written yet: = (0 + v, the bits of adding to zeros) */
} direct_gradient_job;

/* Rows [lo, hi) of the direct gradient below. */
TG_VECTORIZE static void add_direct_weight_rows(size_t lo, size_t hi, void *ctx)
{
    const direct_gradient_job *job = ctx;
    const size_t H = job->H;
    for (size_t i = lo; i < hi; i++)
        for (size_t j = 0; j < H; j++) {
            float old = job->assign ? 0.0f : job->dW[i * H + j];
            job->dW[i * H + j] = old + 2.0f * job->g * job->W[i * H + j] * job->weight[j];
        }
}

/* The direct path to W, through s_j: dW_ij += g · 2 W_ij · weight_j (weight_j: the mean squared
 * slope, or slope difference, that multiplies s_j in the penalty), or = when `assign`.  W, dW
 * [D,H].  Split over threads by rows, as the optimizer and the products that write dW split it,
 * so each core updates rows already in its cache. */
static void add_direct_weight_gradient(const float *W, float *dW, size_t D, size_t H, float g, const float *weight,
                                       bool assign)
{
    enum { ELEMENTS_PER_CHUNK = 8192 };
    direct_gradient_job job = {W, weight, dW, H, g, assign};
    size_t rows_per_chunk = H < ELEMENTS_PER_CHUNK ? ELEMENTS_PER_CHUNK / H : 1;
    tg_parallel_for(D, rows_per_chunk, add_direct_weight_rows, &job);
}

/* A penalty's value: its per-column terms [H], added in column order, over `count` (the rows
 * the penalty averages). */
static float mean_of_terms(const double *terms, size_t H, size_t count)
{
    double P = 0.0;
    for (size_t j = 0; j < H; j++)
        P += terms[j];
    return (float)(P / (double)count);
}

/* Columns per work chunk of the penalty's forward: each chunk walks every row of W and h but
 * only its columns (two cache lines of each row), so the sums keep their serial order. */
enum { PENALTY_COLS_PER_CHUNK = 32 };
/* Rows of h per work chunk of the backward's dh: fixed, so the chunks never depend on the
 * thread count (each element is independent anyway). */
enum { PENALTY_ROWS_PER_CHUNK = 32 };

typedef struct penalty_job {
    const float *h, *W;
    float *dh;
    size_t B, H, D;
    tg_activation act;
    float *saved;  /* [s_j | (1/B) Σ_b φ(h_bj)²]  [2,H] */
    double *terms; /* forward: fp2_j·s_j per column, summed in order by the caller */
    double scale;  /* backward: 2·g/B */
    bool assign_dh; /* backward: dh has not been written yet (=, not +=) */
} penalty_job;

/* The two loops over h below are written once (TG_ALWAYS_INLINE) and specialized per
 * activation: each switch calls them with a constant kind, so the sigmoid, tanh and relu copies
 * hold no call (softplus calls expm1/exp) and vectorize over j.  The arithmetic per element is
 * the same either way. */

/* fp2[j] = Σ_b φ(h_b,lo+j)² for j < width, summed over b in order.  h [B,H]. */
TG_ALWAYS_INLINE void sum_squared_slopes(const tg_activation_kind kind, const double p, const float *h, size_t B, size_t H, size_t lo,
                                         size_t width, double *fp2)
{
    for (size_t b = 0; b < B; b++)
        for (size_t j = 0; j < width; j++) {
            double fp = activation_slope(kind, h[b * H + lo + j], p);
            fp2[j] += fp * fp;
        }
}

/* Columns [lo, hi) of the forward: s_j, the mean of φ(h_.j)², and their product. */
TG_VECTORIZE static void penalty_columns(size_t lo, size_t hi, void *ctx)
{
    const penalty_job *job = ctx;
    const size_t B = job->B, H = job->H, width = hi - lo;
    double s[PENALTY_COLS_PER_CHUNK], fp2[PENALTY_COLS_PER_CHUNK] = {0};
    column_square_sums(job->W, job->D, H, lo, width, s);
    switch (job->act.kind) {
#define TG_ACTIVATION(name, NAME, param_name, param_default, kink, formula) \
    case TG_ACT_##NAME: sum_squared_slopes(TG_ACT_##NAME, job->act.param, job->h, B, H, lo, width, fp2); break;
#include "autograd/activations.def"
#undef TG_ACTIVATION
    default: break;
    }
    for (size_t j = 0; j < width; j++) {
        job->terms[lo + j] = fp2[j] * s[j];
        job->saved[lo + j] = (float)s[j];
        job->saved[H + lo + j] = (float)(fp2[j] / (double)B);
    }
}

// h [B,H], W [D,H] -> P [1]; params: the activation;
// saved = [s_j | (1/B) Σ_b φ(h_bj)² | fp2_j·s_j as H doubles]  [4,H] floats
void tg_op_jacobian_penalty_forward(tg_node *n)
{
    size_t H = tg_cols(n->in[0]);
    penalty_job job = {
        .h = n->in[0]->value.data, .W = n->in[1]->value.data,
        .B = tg_rows(n->in[0]), .H = H, .D = tg_rows(n->in[1]),
        .act = activation_params_of(n).act, .saved = n->saved, .terms = (double *)(n->saved + 2 * H),
    };
    /* Both sums run down the columns; each chunk reads its columns of every row (contiguous
     * runs) with its double accumulators on the stack. */
    tg_parallel_for(H, PENALTY_COLS_PER_CHUNK, penalty_columns, &job);
    n->value.data[0] = mean_of_terms(job.terms, H, job.B);
}

/* Rows [lo, hi) of dh += scale · φ(h) φ'(h) s_j, or = when `assign` (0 + v: the bits of adding
 * to zeros).  h, dh [B,H]; s [H]. */
TG_ALWAYS_INLINE void add_slope_gradient_rows(const tg_activation_kind kind, const double p, const float *h, float *dh, const float *s,
                                              double scale, size_t H, size_t lo, size_t hi, bool assign)
{
    for (size_t b = lo; b < hi; b++)
        for (size_t j = 0; j < H; j++) {
            double hv = h[b * H + j];
            float old = assign ? 0.0f : dh[b * H + j];
            dh[b * H + j] = old + (float)(scale * activation_slope(kind, hv, p) * activation_slope_change(kind, hv, p) * s[j]);
        }
}

/* Rows [lo, hi) of dh += (2g/B) φ(h) φ'(h) s_j (= when assign_dh). */
TG_VECTORIZE static void penalty_dh_rows(size_t lo, size_t hi, void *ctx)
{
    const penalty_job *job = ctx;
    const float *h = job->h, *s = job->saved;
    float *dh = job->dh;
    const bool a = job->assign_dh;
    switch (job->act.kind) {
#define TG_ACTIVATION(name, NAME, param_name, param_default, kink, formula) \
    case TG_ACT_##NAME: add_slope_gradient_rows(TG_ACT_##NAME, job->act.param, h, dh, s, job->scale, job->H, lo, hi, a); break;
#include "autograd/activations.def"
#undef TG_ACTIVATION
    default: break;
    }
}

/* dW_ij += g · 2 W_ij · (1/B) Σ_b φ(h_bj)²        dh_bj += g · (2/B) φ(h_bj) φ'(h_bj) s_j
 * Each gradient nothing has written yet is assigned instead (tg_jacobian_penalty sets
 * assigns_input_grads): in the CAE this op is the first to reach dh, which the tape otherwise
 * zero-filled first, a pass over [B,H] for nothing.  When h and W are one node, the second write
 * adds to the first. */
void tg_op_jacobian_penalty_backward(tg_node *n)
{
    tg_node *hn = n->in[0], *Wn = n->in[1];
    size_t B = tg_rows(hn), H = tg_cols(hn), D = tg_rows(Wn);
    float g = n->grad.data[0];
    if (tg_wants_grad(Wn))
        add_direct_weight_gradient(Wn->value.data, Wn->grad.data, D, H, g, n->saved + H, tg_grad_first_write(Wn));
    if (tg_wants_grad(hn)) {
        penalty_job job = {
            .h = hn->value.data, .dh = hn->grad.data, .B = B, .H = H,
            .act = activation_params_of(n).act, .saved = n->saved, .scale = 2.0 * g / (double)B,
            .assign_dh = tg_grad_first_write(hn),
        };
        tg_parallel_for(B, PENALTY_ROWS_PER_CHUNK, penalty_dh_rows, &job);
    }
}

tg_node *tg_jacobian_penalty(tg_tape *t, tg_node *h, tg_node *W, tg_activation act)
{
    if (!tg_tape_check_inputs(t, "jacobian_penalty", 2, h, W))
        return NULL;
    if (!tg_activation_check(t, "jacobian_penalty", act))
        return NULL;
    if (tg_cols(h) != tg_cols(W))
        return tg_tape_fail(t, TG_ERR_SHAPE,
                            "jacobian_penalty: h %s vs W %s: hidden sizes differ (h must be [B,H], W [D,H])",
                            SHAPE(h), SHAPE(W));
    if (!computed_by(t, "jacobian_penalty", "h", h, act))
        return NULL;
    tg_node *in[2] = {h, W};
    tg_node *n = tg_tape_record(t, &tg_op_jacobian_penalty, 2, in, 1, (size_t[]){1});
    if (n) {
        activation_params_set(n, (activation_params){act});
        n->assigns_input_grads = true; /* its backward assigns first writes (tg_grad_first_write) */
        n->saved = tg_tape_scratch(t, 4 * tg_cols(h)); /* the forward's work area too */
        if (!n->saved)
            return NULL; /* the tape holds the error */
    }
    return tg_tape_forward(t, n);
}

/* ---- the higher-order penalty of CAE+H ---------------------------------------------------------
 *
 * The higher-order CAE (Rifai, Mesnil et al., ECML 2011) also penalizes how fast the Jacobian
 * changes around each input, estimated with k Gaussian corruptions x̃ = x + ε, ε ~ N(0, σ²I):
 *
 *     E_ε ‖J(x) - J(x̃)‖²_F,       for small σ about σ² times the norm of the Hessian ∂²h/∂x².
 *
 * Both Jacobians share W: J(x) = diag(f'(z))·Wᵀ and J(x̃) = diag(f'(z̃))·Wᵀ with z̃ = x̃·W + b, so
 *
 *     J(x) - J(x̃) = diag(f'(z) - f'(z̃))·Wᵀ,     ‖J(x) - J(x̃)‖²_F = Σ_j (f'(z_j) - f'(z̃_j))² s_j
 *
 * again with s_j = Σ_i W_ij², and again nothing of size H·D per sample is formed.  The op takes
 * h [B,H] and h̃ [R,H], R = k·B, where row r of h̃ is a corruption of input b(r) = r mod B (the
 * corruptions stacked corruption-major: rows 0..B-1 are the first corruption of every input).
 * With φ as above (f' from h) and d_rj = φ(h_{b(r),j}) - φ(h̃_rj):
 *
 *     P = (1/R) Σ_r Σ_j d_rj² s_j                       (the mean over the R pairs (x, x̃))
 *
 * Backward.  P(h, h̃, W) depends on W directly through s_j, on h through every d_rj of its
 * corruptions, and on h̃ through its own d_rj:
 *
 *     ∂P/∂W_ij = 2 W_ij · (1/R) Σ_r d_rj²                   (direct: through s_j)
 *     ∂P/∂h_bj = (2/R) · φ'(h_bj) · s_j · Σ_{r: b(r)=b} d_rj
 *     ∂P/∂h̃_rj = -(2/R) · φ'(h̃_rj) · s_j · d_rj
 *
 * The ordinary ops carry ∂P/∂h and ∂P/∂h̃ on through the two activation nodes and the two
 * matmuls to W (a second and a third path), b and the inputs.  The caller builds h̃ on the tape
 * from the same W and b leaves as h, so all of them reach the parameters. */

typedef struct diff_penalty_job {
    const float *h, *ht, *W;
    float *dh, *dht;      /* backward: NULL when not wanted */
    size_t B, R, H, D;
    tg_activation act;
    float *saved;         /* [s_j | (1/R) Σ_r d_rj²]  [2,H] */
    double *terms;        /* forward: d2_j·s_j per column, summed in order by the caller */
    double scale;         /* backward: 2·g/R */
} diff_penalty_job;

/* d2[j] = Σ_r (φ(h_b(r),lo+j) − φ(h̃_r,lo+j))² for j < width, summed over r in order. */
TG_ALWAYS_INLINE void sum_squared_slope_differences(const tg_activation_kind kind, const double p, const diff_penalty_job *job, size_t lo,
                                                    size_t width, double *d2)
{
    const size_t B = job->B, H = job->H;
    for (size_t r = 0; r < job->R; r++) {
        const float *hb = job->h + (r % B) * H + lo, *hr = job->ht + r * H + lo;
        for (size_t j = 0; j < width; j++) {
            double d = activation_slope(kind, hb[j], p) - activation_slope(kind, hr[j], p);
            d2[j] += d * d;
        }
    }
}

/* Columns [lo, hi) of the forward: s_j, the sum of d_rj², and their product. */
TG_VECTORIZE static void diff_penalty_columns(size_t lo, size_t hi, void *ctx)
{
    const diff_penalty_job *job = ctx;
    const size_t H = job->H, width = hi - lo;
    double s[PENALTY_COLS_PER_CHUNK], d2[PENALTY_COLS_PER_CHUNK] = {0};
    column_square_sums(job->W, job->D, H, lo, width, s);
    switch (job->act.kind) {
#define TG_ACTIVATION(name, NAME, param_name, param_default, kink, formula) \
    case TG_ACT_##NAME: sum_squared_slope_differences(TG_ACT_##NAME, job->act.param, job, lo, width, d2); break;
#include "autograd/activations.def"
#undef TG_ACTIVATION
    default: break;
    }
    for (size_t j = 0; j < width; j++) {
        job->terms[lo + j] = d2[j] * s[j];
        job->saved[lo + j] = (float)s[j];
        job->saved[H + lo + j] = (float)(d2[j] / (double)job->R);
    }
}

// h [B,H], h̃ [R,H], W [D,H] -> P [1]; params: the activation;
// saved = [s_j | (1/R) Σ_r d_rj² | d2_j·s_j as H doubles]  [4,H] floats
void tg_op_jacobian_diff_penalty_forward(tg_node *n)
{
    const size_t H = tg_cols(n->in[0]);
    diff_penalty_job job = {
        .h = n->in[0]->value.data, .ht = n->in[1]->value.data, .W = n->in[2]->value.data,
        .B = tg_rows(n->in[0]), .R = tg_rows(n->in[1]), .H = H, .D = tg_rows(n->in[2]),
        .act = activation_params_of(n).act, .saved = n->saved, .terms = (double *)(n->saved + 2 * H),
    };
    /* Column chunks, as in jacobian_penalty: each sum keeps its serial order. */
    tg_parallel_for(H, PENALTY_COLS_PER_CHUNK, diff_penalty_columns, &job);
    n->value.data[0] = mean_of_terms(job.terms, H, job.R);
}

/* Rows [lo, hi) of h and, for each, its k corruptions r = c·B + b (c in order, as a serial walk
 * over r adds them): dh_bj += scale φ'(h_bj) s_j d_rj,  dh̃_rj −= scale φ'(h̃_rj) s_j d_rj. */
TG_ALWAYS_INLINE void add_slope_difference_gradient_rows(const tg_activation_kind kind, const double p, const diff_penalty_job *job,
                                                         size_t lo, size_t hi)
{
    const size_t B = job->B, H = job->H;
    const float *s = job->saved;
    for (size_t b = lo; b < hi; b++)
        for (size_t r = b; r < job->R; r += B)
            for (size_t j = 0; j < H; j++) {
                double hv = job->h[b * H + j], htv = job->ht[r * H + j];
                double d = activation_slope(kind, hv, p) - activation_slope(kind, htv, p);
                if (job->dh)
                    job->dh[b * H + j] += (float)(job->scale * activation_slope_change(kind, hv, p) * s[j] * d);
                if (job->dht)
                    job->dht[r * H + j] -= (float)(job->scale * activation_slope_change(kind, htv, p) * s[j] * d);
            }
}

TG_VECTORIZE static void diff_penalty_dh_rows(size_t lo, size_t hi, void *ctx)
{
    const diff_penalty_job *job = ctx;
    switch (job->act.kind) {
#define TG_ACTIVATION(name, NAME, param_name, param_default, kink, formula) \
    case TG_ACT_##NAME: add_slope_difference_gradient_rows(TG_ACT_##NAME, job->act.param, job, lo, hi); break;
#include "autograd/activations.def"
#undef TG_ACTIVATION
    default: break;
    }
}

/* dW_ij += g · 2 W_ij · (1/R) Σ_r d_rj²
 * dh_bj += g · (2/R) φ'(h_bj) s_j Σ_{r: b(r)=b} d_rj        dh̃_rj -= g · (2/R) φ'(h̃_rj) s_j d_rj */
void tg_op_jacobian_diff_penalty_backward(tg_node *n)
{
    tg_node *hn = n->in[0], *htn = n->in[1], *Wn = n->in[2];
    size_t B = tg_rows(hn), R = tg_rows(htn), H = tg_cols(hn), D = tg_rows(Wn);
    float g = n->grad.data[0];
    if (tg_wants_grad(Wn))
        add_direct_weight_gradient(Wn->value.data, Wn->grad.data, D, H, g, n->saved + H, false);
    if (!tg_wants_grad(hn) && !tg_wants_grad(htn))
        return;
    diff_penalty_job job = {
        .h = hn->value.data, .ht = htn->value.data,
        .dh = tg_wants_grad(hn) ? hn->grad.data : NULL, .dht = tg_wants_grad(htn) ? htn->grad.data : NULL,
        .B = B, .R = R, .H = H, .act = activation_params_of(n).act, .saved = n->saved,
        .scale = 2.0 * g / (double)R,
    };
    /* by rows of h: each chunk owns its rows of dh and their corruptions' rows of dh̃ */
    tg_parallel_for(B, PENALTY_ROWS_PER_CHUNK, diff_penalty_dh_rows, &job);
}

tg_node *tg_jacobian_diff_penalty(tg_tape *t, tg_node *h, tg_node *h_tilde, tg_node *W, tg_activation act)
{
    static const char *const name = "jacobian_diff_penalty";
    if (!tg_tape_check_inputs(t, name, 3, h, h_tilde, W))
        return NULL;
    if (!tg_activation_check(t, name, act))
        return NULL;
    if (tg_cols(h) != tg_cols(W) || tg_cols(h_tilde) != tg_cols(W))
        return tg_tape_fail(t, TG_ERR_SHAPE, "%s: h %s, h_tilde %s vs W %s: hidden sizes differ (h [B,H], h_tilde [k·B,H], W [D,H])",
                            name, SHAPE(h), SHAPE(h_tilde), SHAPE(W));
    if (tg_rows(h_tilde) % tg_rows(h) != 0)
        return tg_tape_fail(t, TG_ERR_SHAPE, "%s: h_tilde %s has no whole number of corruptions of h %s (rows must be k·B)",
                            name, SHAPE(h_tilde), SHAPE(h));
    if (!computed_by(t, name, "h", h, act) || !computed_by(t, name, "h_tilde", h_tilde, act))
        return NULL;
    tg_node *in[3] = {h, h_tilde, W};
    tg_node *n = tg_tape_record(t, &tg_op_jacobian_diff_penalty, 3, in, 1, (size_t[]){1});
    if (n) {
        activation_params_set(n, (activation_params){act});
        n->saved = tg_tape_scratch(t, 4 * tg_cols(h)); /* the forward's work area too */
        if (!n->saved)
            return NULL; /* the tape holds the error */
    }
    return tg_tape_forward(t, n);
}
