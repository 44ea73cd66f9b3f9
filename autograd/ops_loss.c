/* autograd/ops_loss.c — losses, each a fused op returning [1]: mse, bce_logits, softmax_xent.
 *
 * Fusing keeps them stable where the composition would not be (log of a sigmoid that rounded
 * to 0, exp of a large logit) and gives short, exact gradients.  Sums accumulate in double so
 * a gradient check's finite differences are not drowned in float rounding noise.
 *
 * Reductions (mse, bce_logits): TG_REDUCE_MEAN divides the sum of the per-element losses by
 * the element count M·N; TG_REDUCE_ROW_SUM sums each row and averages over the M rows, i.e.
 * divides by M.  Either way the loss is (sum)·scale, and every gradient carries that scale. */
#include "ops_internal.h"

#include "tensor/parallel.h"

#include <string.h>

static double reduction_scale(const tg_node *pred, int red)
{
    return tg_reduction_scale(pred->value.size, tg_rows(pred), red);
}

/* Both inputs present, target shaped like the prediction, a known reduction. */
static bool check_loss_inputs(tg_tape *t, const char *name, tg_node *pred, const char *pred_name,
                              tg_node *target, tg_reduction red)
{
    if (!tg_tape_check_inputs(t, name, 2, pred, target))
        return false;
    if (!tg_tensor_same_shape(&pred->value, &target->value)) {
        tg_tape_fail(t, TG_ERR_SHAPE, "%s: %s %s vs target %s: shapes differ", name, pred_name,
                     SHAPE(pred), SHAPE(target));
        return false;
    }
    if (red != TG_REDUCE_MEAN && red != TG_REDUCE_ROW_SUM) {
        tg_tape_fail(t, TG_ERR_ARG, "%s: unknown reduction %d", name, (int)red);
        return false;
    }
    return true;
}

/* ---- mse: L = scale · Σ (y - t)² ----------------------------------------------------------- */

// y [M,N] (pred), t [M,N] (target) -> L [1]; params: the reduction
/* Elements per work chunk of the mse loops (fixed, so sums do not depend on the thread count),
 * and at most MSE_MAX_CHUNKS chunks, whose partial sums are added in order. */
enum { MSE_GRAIN = 8192, MSE_MAX_CHUNKS = 64 };

static size_t mse_grain(size_t n)
{
    size_t g = (n + MSE_MAX_CHUNKS - 1) / MSE_MAX_CHUNKS;
    return g > MSE_GRAIN ? g : MSE_GRAIN;
}

typedef struct mse_job {
    const float *y, *t;
    float *dy, *dt;           /* backward: gradients to write (NULL when not wanted) */
    bool assign_dy, assign_dt; /* backward: first write (=), else add */
    float g;                  /* backward: 2·dL·scale */
    size_t grain;
    double partial[MSE_MAX_CHUNKS]; /* forward: Σ (y−t)² of each chunk */
} mse_job;

TG_VECTORIZE static void mse_forward_chunk(size_t lo, size_t hi, void *ctx)
{
    mse_job *job = ctx;
    job->partial[lo / job->grain] = lanes_sum_sq_diff(job->y + lo, job->t + lo, hi - lo);
}

// y [M,N], t [M,N] -> L [1]
void tg_op_mse_forward(tg_node *n)
{
    const tg_tensor *y = &n->in[0]->value, *t = &n->in[1]->value;
    mse_job job = {.y = y->data, .t = t->data, .grain = mse_grain(y->size)};
    tg_parallel_for(y->size, job.grain, mse_forward_chunk, &job);
    double acc = 0.0;
    for (size_t c = 0; c * job.grain < y->size; c++)
        acc += job.partial[c];
    n->value.data[0] = (float)(acc * reduction_scale(n->in[0], loss_params_of(n).reduction));
}

TG_VECTORIZE static void mse_backward_chunk(size_t lo, size_t hi, void *ctx)
{
    const mse_job *job = ctx;
    const float *y = job->y, *t = job->t;
    /* an assignment writes 0 + v (0 - v), not v: the bits of adding into a zero-filled buffer,
     * -0 included */
    if (job->dy && job->assign_dy)
        for (size_t k = lo; k < hi; k++)
            job->dy[k] = 0.0f + job->g * (y[k] - t[k]);
    else if (job->dy)
        for (size_t k = lo; k < hi; k++)
            job->dy[k] += job->g * (y[k] - t[k]);
    if (job->dt && job->assign_dt)
        for (size_t k = lo; k < hi; k++)
            job->dt[k] = 0.0f - job->g * (y[k] - t[k]);
    else if (job->dt)
        for (size_t k = lo; k < hi; k++)
            job->dt[k] -= job->g * (y[k] - t[k]);
}

/* dy += 2·(y − t)·dL·scale;  dt −= the same.  A first write assigns (the constructor sets
 * assigns_input_grads): the decoder output's gradient is then never zero-filled. */
void tg_op_mse_backward(tg_node *n)
{
    tg_node *pred = n->in[0], *target = n->in[1];
    mse_job job = {
        .y = pred->value.data, .t = target->value.data,
        .dy = tg_wants_grad(pred) ? pred->grad.data : NULL,
        .dt = tg_wants_grad(target) ? target->grad.data : NULL,
        .g = (float)(2.0 * n->grad.data[0] * reduction_scale(pred, loss_params_of(n).reduction)),
        .grain = mse_grain(pred->value.size),
    };
    /* in this order: for mse(y, y) the first write is dy's, then dt adds */
    job.assign_dy = job.dy && tg_grad_first_write(pred);
    job.assign_dt = job.dt && tg_grad_first_write(target);
    tg_parallel_for(pred->value.size, job.grain, mse_backward_chunk, &job);
}

/* A loss node [1] of op on (pred, target) with its reduction, after the checks; NULL (the tape
 * holds the error) when they fail.  The caller adds what its op needs, then runs it. */
static tg_node *record_loss(tg_tape *t, const tg_op_def *op, tg_node *pred, const char *pred_name, tg_node *target,
                            tg_reduction red)
{
    if (!check_loss_inputs(t, op->name, pred, pred_name, target, red))
        return NULL;
    tg_node *in[2] = {pred, target};
    tg_node *n = tg_tape_record(t, op, 2, in, 1, (size_t[]){1});
    if (n)
        loss_params_set(n, (loss_params){red});
    return n;
}

tg_node *tg_mse(tg_tape *t, tg_node *pred, tg_node *target, tg_reduction red)
{
    tg_node *n = record_loss(t, &tg_op_mse, pred, "pred", target, red);
    if (n)
        n->assigns_input_grads = true;
    return tg_tape_forward(t, n);
}

/* ---- bce_logits: L = scale · Σ [ softplus(z) - t·z ] ---------------------------------------
 *
 * Binary cross-entropy of p = σ(z) against t is -t·ln p - (1-t)·ln(1-p).  With ln σ(z) =
 * -softplus(-z) and ln(1-σ(z)) = -softplus(z), and softplus(z) - softplus(-z) = z, it becomes
 * softplus(z) - t·z = max(z,0) - t·z + ln(1 + e^{-|z|}): no exp overflows, and no log of a
 * probability that rounded to 0.  Gradients: ∂/∂z = σ(z) - t,  ∂/∂t = -z. */

// z [M,N] (logits), t [M,N] (targets in [0,1]) -> L [1]; params: the reduction; saved = σ(z) [M,N]
TG_VECTORIZE void tg_op_bce_logits_forward(tg_node *n)
{
    const float *z = n->in[0]->value.data, *t = n->in[1]->value.data;
    float *sigma = n->saved; /* NULL when no gradient is needed */
    double acc = 0.0;
    for (size_t k = 0; k < n->in[0]->value.size; k++) {
        float e = expf(-fabsf(z[k])); /* in (0,1]: shared by the loss and σ(z) */
        acc += (double)(fmaxf(z[k], 0.0f) - z[k] * t[k] + log1pf(e));
        if (sigma)
            sigma[k] = z[k] >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
    }
    n->value.data[0] = (float)(acc * reduction_scale(n->in[0], loss_params_of(n).reduction));
}

/* ∂L/∂z = scale·(σ(z) - t),  ∂L/∂t = -scale·z */
TG_VECTORIZE void tg_op_bce_logits_backward(tg_node *n)
{
    tg_node *logits = n->in[0], *target = n->in[1];
    const float *z = logits->value.data, *t = target->value.data, *sigma = n->saved;
    float g = (float)(n->grad.data[0] * reduction_scale(logits, loss_params_of(n).reduction));
    if (tg_wants_grad(logits))
        for (size_t k = 0; k < logits->value.size; k++)
            logits->grad.data[k] += g * (sigma[k] - t[k]);
    if (tg_wants_grad(target))
        for (size_t k = 0; k < logits->value.size; k++)
            target->grad.data[k] -= g * z[k];
}

tg_node *tg_bce_logits(tg_tape *t, tg_node *logits, tg_node *target, tg_reduction red)
{
    tg_node *n = record_loss(t, &tg_op_bce_logits, logits, "logits", target, red);
    /* σ(z) costs an exp; the forward has e^{-|z|} at hand, so it saves σ for the backward. */
    if (n && n->requires_grad)
        n->saved = tg_tape_scratch(t, logits->value.size);
    return tg_tape_forward(t, n);
}

/* ---- softmax_xent: L = (1/M) Σ_i [ lse(z_i) - z_i,label_i ] -----------------------------------
 *
 * -ln softmax(z_i)_label = lse(z_i) - z_i,label with lse(z) = ln Σ_j e^{z_j} computed as
 * m + ln Σ_j e^{z_j - m}, m = max_j z_j: every exponent is <= 0 and the largest term is 1, so
 * the sum neither overflows nor underflows to 0.  ∂L/∂z_ij = (softmax(z_i)_j - [j = label_i]) / M,
 * with softmax(z_i)_j = e^{(z_ij - m_i) - ln s_i}.  The forward saves m_i and ln s_i apart
 * rather than their sum: for large logits a float lse would lose the digits the difference
 * z_ij - lse_i needs. */

/* (softmax_xent_params, the labels' reading: ops_internal.h) */
// z [M,C] (logits), labels [M] (params) -> L [1]; saved = (m_i, ln s_i) per row [M,2]
TG_VECTORIZE void tg_op_softmax_xent_forward(tg_node *n)
{
    const float *z = n->in[0]->value.data;
    const softmax_xent_params p = softmax_xent_params_of(n);
    size_t M = tg_rows(n->in[0]), C = tg_cols(n->in[0]);
    double total = 0.0;
    for (size_t i = 0; i < M; i++) {
        const float *row = z + i * C;
        double log_s;
        float m = row_max_log_sum(row, C, &log_s);
        if (n->saved) {
            n->saved[2 * i] = m;
            n->saved[2 * i + 1] = (float)log_s;
        }
        total += ((double)m + log_s) - (double)row[xent_label(&p, i)];
    }
    n->value.data[0] = (float)(total / (double)M);
}

/* dz_ij += (g/M)·(softmax(z_i)_j - [j = label_i]) */
TG_VECTORIZE void tg_op_softmax_xent_backward(tg_node *n)
{
    tg_node *logits = n->in[0];
    const float *z = logits->value.data, *saved = n->saved;
    const softmax_xent_params p = softmax_xent_params_of(n);
    size_t M = tg_rows(logits), C = tg_cols(logits);
    float g = (float)((double)n->grad.data[0] / (double)M);
    for (size_t i = 0; i < M; i++) {
        float m = saved[2 * i], log_s = saved[2 * i + 1];
        float *dz = logits->grad.data + i * C;
        for (size_t j = 0; j < C; j++)
            dz[j] += g * expf((z[i * C + j] - m) - log_s);
        dz[xent_label(&p, i)] -= g;
    }
}

/* Checks every label (the caller's, through p) lies in 0..C-1, then records and runs the op. */
static tg_node *record_softmax_xent(tg_tape *t, tg_node *logits, softmax_xent_params p)
{
    if (!tg_tape_check_inputs(t, "softmax_xent", 1, logits))
        return NULL;
    if (!p.labels)
        return tg_tape_fail(t, TG_ERR_ARG, "softmax_xent: labels are NULL");
    size_t M = tg_rows(logits), C = tg_cols(logits);
    for (size_t i = 0; i < M; i++) {
        long long label = p.width == XENT_LABELS_U8 ? (long long)xent_label(&p, i)
                                                    : (long long)((const int32_t *)p.labels)[p.idx ? p.idx[i] : i];
        if (label < 0 || (size_t)label >= C)
            return tg_tape_fail(t, TG_ERR_ARG, "softmax_xent: label %lld at row %zu outside 0..%zu", label, i,
                                C - 1);
    }
    tg_node *n = tg_tape_record(t, &tg_op_softmax_xent, 1, &logits, 1, (size_t[]){1});
    if (n) {
        softmax_xent_params_set(n, p);
        if (n->requires_grad)
            n->saved = tg_tape_scratch(t, 2 * M);
    }
    return tg_tape_forward(t, n);
}

tg_node *tg_softmax_xent(tg_tape *t, tg_node *logits, const int32_t *labels)
{
    return record_softmax_xent(t, logits, (softmax_xent_params){labels, NULL, XENT_LABELS_I32});
}

tg_node *tg_softmax_xent_u8(tg_tape *t, tg_node *logits, const uint8_t *labels)
{
    return record_softmax_xent(t, logits, (softmax_xent_params){labels, NULL, XENT_LABELS_U8});
}

tg_node *tg_softmax_xent_gather(tg_tape *t, tg_node *logits, const uint8_t *labels, const uint32_t *idx)
{
    if (!idx)
        return tg_tape_fail(t, TG_ERR_ARG, "softmax_xent: idx is NULL");
    return record_softmax_xent(t, logits, (softmax_xent_params){labels, idx, XENT_LABELS_U8});
}
