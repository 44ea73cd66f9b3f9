/* autograd/ops_layers.c — the ops under the layers of nn/: dropout, layer_norm, embedding, batch_norm.
 *
 * Every loop is plain and sequential, so the results are the same bits for any thread count.
 * Backward functions accumulate (+=), as everywhere (op.h).
 *
 * Dropout's mask is not drawn from a generator with state: element k of the node at position
 * `index` on the tape keeps its value when hash(seed, index, k) >= p, a pure function of the
 * three (splitmix64's finalizer over them).  So the mask is the same for any thread count or
 * order of evaluation, the same in every rebuild of the same graph (a gradient check's repeated
 * evaluations see one mask), and two dropouts in one step differ (their positions differ).  A
 * training loop draws fresh masks each step by passing a seed that depends on the step. */
#include "ops_internal.h"

#include <stdint.h>

/* ---- dropout: y = x ⊙ mask / (1-p) in training, y = x in eval -------------------------------- */

typedef struct dropout_params {
    uint64_t seed;
    float p;
    bool training; /* the tape's mode when the node was recorded */
} dropout_params;
TG_OP_PARAMS(dropout_params)

/* splitmix64's finalizer: a bijection of 64-bit words that mixes every input bit into every
 * output bit. */
static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A uniform float in [0,1), a multiple of 2^-24, from (seed, stream, k) alone. */
static inline float counter_uniform(uint64_t seed, uint64_t stream, uint64_t k)
{
    uint64_t h = mix64(mix64(seed ^ 0x9e3779b97f4a7c15ULL) ^ mix64(stream + 0x632be59bd9b4e019ULL) ^ k);
    h = mix64(h);
    return (float)(h >> 40) * (1.0f / 16777216.0f);
}

// x [any] -> y [same]; saved = the mask (0 or 1/(1-p)) per element, training only
void tg_op_dropout_forward(tg_node *n)
{
    dropout_params dp = dropout_params_of(n);
    const float *x = n->in[0]->value.data;
    float *y = n->value.data, *mask = n->saved;
    if (!dp.training) {
        for (size_t k = 0; k < n->value.size; k++)
            y[k] = x[k];
        return;
    }
    float keep = (float)(1.0 / (1.0 - (double)dp.p));
    for (size_t k = 0; k < n->value.size; k++) {
        mask[k] = counter_uniform(dp.seed, (uint64_t)n->index, k) >= dp.p ? keep : 0.0f;
        y[k] = x[k] * mask[k];
    }
}

/* dy/dx = mask (a constant of the forward), 1 in eval */
void tg_op_dropout_backward(tg_node *n)
{
    const float *dy = n->grad.data, *mask = n->saved;
    float *dx = n->in[0]->grad.data;
    if (!dropout_params_of(n).training) {
        for (size_t k = 0; k < n->value.size; k++)
            dx[k] += dy[k];
        return;
    }
    for (size_t k = 0; k < n->value.size; k++)
        dx[k] += dy[k] * mask[k];
}

tg_node *tg_dropout(tg_tape *t, tg_node *x, float p, uint64_t seed)
{
    if (!tg_tape_check_inputs(t, "dropout", 1, x))
        return NULL;
    if (!(p >= 0.0f && p < 1.0f))
        return tg_tape_fail(t, TG_ERR_ARG, "dropout: p = %g outside [0, 1)", (double)p);
    bool training = tg_tape_training(t);
    tg_node *n = tg_tape_record(t, &tg_op_dropout, 1, &x, x->value.ndim, x->value.shape);
    if (n) {
        dropout_params_set(n, (dropout_params){.seed = seed, .p = p, .training = training});
        if (training)
            n->saved = tg_tape_scratch(t, n->value.size); /* the forward writes the mask there */
        if (training && !n->saved)
            return NULL;
    }
    return tg_tape_forward(t, n);
}

/* ---- layer_norm: each row of the last dimension to mean 0, variance 1, then ·γ + β ------------
 *
 * Rows x_i of N elements: μ = Σ x / N, σ² = Σ (x-μ)² / N (two passes in double: no cancellation
 * of E[x²] - μ²), r = 1/√(σ² + eps), x̂ = (x-μ)·r, y = x̂·γ + β.  With g = dy·γ, the backward is
 *     dx = r·(g - mean(g) - x̂·mean(g·x̂)),   dγ = Σ_rows dy·x̂,   dβ = Σ_rows dy
 * (x̂ depends on x directly and through μ and r: ∂μ/∂x_j = 1/N, ∂r/∂x_j = -r³(x_j-μ)/N, and
 * collecting terms gives the two means). */

static size_t last_dim(const tg_node *x) { return x->value.shape[x->value.ndim - 1]; }

// x [.., N] -> y [.., N]; γ, β [N] (optional); saved = (μ, r) per row [M,2]
void tg_op_layer_norm_forward(tg_node *n)
{
    layer_norm_params lp = layer_norm_params_of(n);
    const float *x = n->in[0]->value.data;
    const float *gamma = lp.gamma_in >= 0 ? n->in[lp.gamma_in]->value.data : NULL;
    const float *beta = lp.beta_in >= 0 ? n->in[lp.beta_in]->value.data : NULL;
    size_t N = last_dim(n->in[0]), M = n->value.size / N;
    for (size_t i = 0; i < M; i++) {
        const float *xi = x + i * N;
        double mean = lanes_sum(xi, N) / (double)N, var = 0.0;
        for (size_t j = 0; j < N; j++)
            var += ((double)xi[j] - mean) * ((double)xi[j] - mean);
        double r = 1.0 / sqrt(var / (double)N + (double)lp.eps);
        for (size_t j = 0; j < N; j++) {
            double v = ((double)xi[j] - mean) * r;
            if (gamma)
                v *= gamma[j];
            if (beta)
                v += beta[j];
            n->value.data[i * N + j] = (float)v;
        }
        n->saved[2 * i] = (float)mean;
        n->saved[2 * i + 1] = (float)r;
    }
}

/* dx for row i (see the derivation above), sums in double */
static void layer_norm_row_dx(const float *x, const float *dy, const float *gamma, double mean, double r,
                              size_t N, float *dx)
{
    double sum_g = 0.0, sum_gx = 0.0;
    for (size_t j = 0; j < N; j++) {
        double g = (double)dy[j] * (gamma ? gamma[j] : 1.0f), xh = ((double)x[j] - mean) * r;
        sum_g += g;
        sum_gx += g * xh;
    }
    double mg = sum_g / (double)N, mgx = sum_gx / (double)N;
    for (size_t j = 0; j < N; j++) {
        double g = (double)dy[j] * (gamma ? gamma[j] : 1.0f), xh = ((double)x[j] - mean) * r;
        dx[j] += (float)(r * (g - mg - xh * mgx));
    }
}

void tg_op_layer_norm_backward(tg_node *n)
{
    layer_norm_params lp = layer_norm_params_of(n);
    tg_node *xn = n->in[0];
    tg_node *gn = lp.gamma_in >= 0 ? n->in[lp.gamma_in] : NULL, *bn = lp.beta_in >= 0 ? n->in[lp.beta_in] : NULL;
    const float *x = xn->value.data, *dy = n->grad.data, *gamma = gn ? gn->value.data : NULL;
    size_t N = last_dim(xn), M = n->value.size / N;
    for (size_t i = 0; i < M; i++) {
        double mean = n->saved[2 * i], r = n->saved[2 * i + 1];
        const float *xi = x + i * N, *dyi = dy + i * N;
        if (tg_wants_grad(xn))
            layer_norm_row_dx(xi, dyi, gamma, mean, r, N, xn->grad.data + i * N);
        if (gn && tg_wants_grad(gn))
            for (size_t j = 0; j < N; j++)
                gn->grad.data[j] += (float)((double)dyi[j] * (((double)xi[j] - mean) * r));
        if (bn && tg_wants_grad(bn))
            for (size_t j = 0; j < N; j++)
                bn->grad.data[j] += dyi[j];
    }
}

/* γ or β: absent, or N elements as [N] or [1,N] */
static bool check_row(tg_tape *t, const char *op, tg_node *x, tg_node *v, const char *what)
{
    if (!v)
        return true;
    size_t N = last_dim(x);
    bool row = v->value.size == N && (v->value.ndim == 1 || (v->value.ndim == 2 && v->value.shape[0] == 1));
    if (!row)
        tg_tape_fail(t, TG_ERR_SHAPE, "%s: x %s: %s %s must be a row [%zu]", op, SHAPE(x), what, SHAPE(v), N);
    return row;
}

tg_node *tg_layer_norm(tg_tape *t, tg_node *x, tg_node *gamma, tg_node *beta, float eps)
{
    if (!tg_tape_check_inputs(t, "layer_norm", 1, x))
        return NULL;
    if (!(eps > 0.0f) || !isfinite(eps))
        return tg_tape_fail(t, TG_ERR_ARG, "layer_norm: eps = %g must be finite and > 0", (double)eps);
    if (!check_row(t, "layer_norm", x, gamma, "gamma") || !check_row(t, "layer_norm", x, beta, "beta"))
        return NULL;
    tg_node *in[3] = {x, NULL, NULL};
    int n_in = 1;
    layer_norm_params lp = {.eps = eps, .gamma_in = -1, .beta_in = -1};
    if (gamma) {
        lp.gamma_in = (signed char)n_in;
        in[n_in++] = gamma;
    }
    if (beta) {
        lp.beta_in = (signed char)n_in;
        in[n_in++] = beta;
    }
    tg_node *n = tg_tape_record(t, &tg_op_layer_norm, n_in, in, x->value.ndim, x->value.shape);
    if (n) {
        layer_norm_params_set(n, lp);
        n->saved = tg_tape_scratch(t, 2 * (x->value.size / last_dim(x)));
        if (!n->saved)
            return NULL;
    }
    return tg_tape_forward(t, n);
}

/* ---- embedding: y_i = W[idx_i], a gather of rows; dW[idx_i] += dy_i ------------------------- */

typedef struct embedding_params {
    const int32_t *idx; /* [n], the caller's: valid until the next reset */
} embedding_params;
TG_OP_PARAMS(embedding_params)

// W [V,D], idx int32 [n] (params) -> y [n,D]
void tg_op_embedding_forward(tg_node *n)
{
    const int32_t *idx = embedding_params_of(n).idx;
    const float *w = n->in[0]->value.data;
    size_t rows = tg_rows(n), D = tg_cols(n);
    for (size_t i = 0; i < rows; i++)
        memcpy(n->value.data + i * D, w + (size_t)idx[i] * D, D * sizeof(float));
}

/* scatter-add: a row used twice receives both gradients, in the order of idx */
void tg_op_embedding_backward(tg_node *n)
{
    const int32_t *idx = embedding_params_of(n).idx;
    float *dw = n->in[0]->grad.data;
    size_t rows = tg_rows(n), D = tg_cols(n);
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < D; j++)
            dw[(size_t)idx[i] * D + j] += n->grad.data[i * D + j];
}

tg_node *tg_embedding(tg_tape *t, tg_node *w, const int32_t *idx, size_t count)
{
    if (!tg_tape_check_inputs(t, "embedding", 1, w))
        return NULL;
    if (w->value.ndim != 2)
        return tg_tape_fail(t, TG_ERR_SHAPE, "embedding: table %s must be [V,D]", SHAPE(w));
    if (!idx || count == 0)
        return tg_tape_fail(t, TG_ERR_ARG, "embedding: %s indices", idx ? "no" : "NULL");
    size_t V = w->value.shape[0], D = w->value.shape[1];
    for (size_t i = 0; i < count; i++)
        if (idx[i] < 0 || (size_t)idx[i] >= V)
            return tg_tape_fail(t, TG_ERR_ARG, "embedding: index %d at %zu outside 0..%zu (table %s)", (int)idx[i],
                                i, V - 1, SHAPE(w));
    tg_node *n = tg_tape_record(t, &tg_op_embedding, 1, &w, 2, (size_t[]){count, D});
    if (n)
        embedding_params_set(n, (embedding_params){idx});
    return tg_tape_forward(t, n);
}

/* ---- batch_norm: each column of x [B,N] to mean 0, variance 1 over the batch, then ·γ + β -----
 *
 * Training: column j of B rows: μ_j = Σ_i x_ij / B, σ²_j = Σ_i (x_ij-μ_j)² / B (biased; two passes
 * in double, as layer_norm), r_j = 1/√(σ²_j + eps), x̂ = (x-μ)·r, y = x̂·γ + β.  The backward is
 * layer_norm's with rows and columns exchanged: with g = dy·γ, means over the batch,
 *     dx = r·(g - mean(g) - x̂·mean(g·x̂)),   dγ = Σ_rows dy·x̂,   dβ = Σ_rows dy.
 * Eval: μ and σ² are the caller's running statistics, constants: dx = r·g.
 *
 * The op has no state.  The running statistics belong to the layer (nn/batch_norm.h), which passes
 * them in eval and updates them itself once per training forward, from the batch statistics the
 * forward writes to `batch_stats` when asked.  So a gradient check's repeated evaluations of the
 * same node change nothing outside the tape. */

// x [B,N]; γ, β [N] (optional) -> y [B,N]; saved = (μ_j, r_j) per column [2,N]
void tg_op_batch_norm_forward(tg_node *n)
{
    batch_norm_params bp = batch_norm_params_of(n);
    const float *x = n->in[0]->value.data;
    const float *gamma = bp.gamma_in >= 0 ? n->in[bp.gamma_in]->value.data : NULL;
    const float *beta = bp.beta_in >= 0 ? n->in[bp.beta_in]->value.data : NULL;
    size_t B = tg_rows(n), N = tg_cols(n);
    float *mean_of = n->saved, *r_of = n->saved + N;
    for (size_t j = 0; j < N; j++) {
        double mean, var;
        if (bp.training) {
            mean = 0.0;
            for (size_t i = 0; i < B; i++)
                mean += x[i * N + j];
            mean /= (double)B;
            var = 0.0;
            for (size_t i = 0; i < B; i++)
                var += ((double)x[i * N + j] - mean) * ((double)x[i * N + j] - mean);
            var /= (double)B;
            if (bp.batch_stats) {
                bp.batch_stats[j] = (float)mean;
                bp.batch_stats[N + j] = (float)var;
            }
        } else {
            mean = bp.run_mean[j];
            var = bp.run_var[j];
        }
        double r = 1.0 / sqrt(var + (double)bp.eps);
        for (size_t i = 0; i < B; i++) {
            double v = ((double)x[i * N + j] - mean) * r;
            if (gamma)
                v *= gamma[j];
            if (beta)
                v += beta[j];
            n->value.data[i * N + j] = (float)v;
        }
        mean_of[j] = (float)mean;
        r_of[j] = (float)r;
    }
}

void tg_op_batch_norm_backward(tg_node *n)
{
    batch_norm_params bp = batch_norm_params_of(n);
    tg_node *xn = n->in[0];
    tg_node *gn = bp.gamma_in >= 0 ? n->in[bp.gamma_in] : NULL, *bn = bp.beta_in >= 0 ? n->in[bp.beta_in] : NULL;
    const float *x = xn->value.data, *dy = n->grad.data, *gamma = gn ? gn->value.data : NULL;
    size_t B = tg_rows(n), N = tg_cols(n);
    for (size_t j = 0; j < N; j++) {
        double mean = n->saved[j], r = n->saved[N + j], gj = gamma ? gamma[j] : 1.0;
        double sum_dy = 0.0, sum_dyx = 0.0; /* Σ_i dy, Σ_i dy·x̂ */
        for (size_t i = 0; i < B; i++) {
            sum_dy += dy[i * N + j];
            sum_dyx += (double)dy[i * N + j] * (((double)x[i * N + j] - mean) * r);
        }
        if (tg_wants_grad(xn)) {
            double mg = bp.training ? gj * sum_dy / (double)B : 0.0;
            double mgx = bp.training ? gj * sum_dyx / (double)B : 0.0;
            for (size_t i = 0; i < B; i++) {
                double g = (double)dy[i * N + j] * gj, xh = ((double)x[i * N + j] - mean) * r;
                xn->grad.data[i * N + j] += (float)(r * (g - mg - xh * mgx));
            }
        }
        if (gn && tg_wants_grad(gn))
            gn->grad.data[j] += (float)sum_dyx;
        if (bn && tg_wants_grad(bn))
            bn->grad.data[j] += (float)sum_dy;
    }
}

tg_node *tg_batch_norm(tg_tape *t, tg_node *x, tg_node *gamma, tg_node *beta, float eps, const float *running_mean,
                       const float *running_var, float *batch_stats)
{
    if (!tg_tape_check_inputs(t, "batch_norm", 1, x))
        return NULL;
    if (!(eps > 0.0f) || !isfinite(eps))
        return tg_tape_fail(t, TG_ERR_ARG, "batch_norm: eps = %g must be finite and > 0", (double)eps);
    bool training = tg_tape_training(t);
    if (x->value.ndim != 2)
        return tg_tape_fail(t, TG_ERR_SHAPE, "batch_norm: x %s must be [B,N]", SHAPE(x));
    if (training && x->value.shape[0] < 2)
        return tg_tape_fail(t, TG_ERR_SHAPE, "batch_norm: x %s: training needs a batch of 2 rows or more", SHAPE(x));
    if (!training && (!running_mean || !running_var))
        return tg_tape_fail(t, TG_ERR_ARG, "batch_norm: eval mode needs the running mean and variance");
    if (!check_row(t, "batch_norm", x, gamma, "gamma") || !check_row(t, "batch_norm", x, beta, "beta"))
        return NULL;
    tg_node *in[3] = {x, NULL, NULL};
    int n_in = 1;
    batch_norm_params bp = {.run_mean = running_mean, .run_var = running_var, .batch_stats = batch_stats,
                            .eps = eps, .training = training, .gamma_in = -1, .beta_in = -1};
    if (gamma) {
        bp.gamma_in = (signed char)n_in;
        in[n_in++] = gamma;
    }
    if (beta) {
        bp.beta_in = (signed char)n_in;
        in[n_in++] = beta;
    }
    tg_node *n = tg_tape_record(t, &tg_op_batch_norm, n_in, in, 2, x->value.shape);
    if (n) {
        batch_norm_params_set(n, bp);
        n->saved = tg_tape_scratch(t, 2 * x->value.shape[1]);
        if (!n->saved)
            return NULL;
    }
    return tg_tape_forward(t, n);
}
