/* autograd/fused/affine_mse_gram.c — affine_mse_gram: a Dense layer's MSE loss without forming its output.
 *
 * The op computes what affine_mse computes (mse(X·op(W) + b, T)), through the Gram matrix of the
 * layer's weights instead of the output Y [M,N].  Write V = op(W) [K,N], Wn = Vᵀ [N,K] (W itself
 * when trans_w: the layout every product below reads), R = Y − T the residual [M,N], and
 *     G = V·Vᵀ = Wnᵀ·Wn [K,K]      u = V·b [K]      P = T·Wn [M,K]      S = XᵀX [K,K]      s = Xᵀ·1 [K]
 * Expanding ‖R_i‖² = ‖X_i·V + b − T_i‖² = X_i·G·X_iᵀ + 2 X_i·u − 2 X_i·P_i + ‖T_i − b‖² gives
 *     ‖R_i‖² = X_i·(X_i·G + 2u − 2P_i) + ‖T_i − b‖²
 * and with A = R·Vᵀ = X·G + u − P [M,K] and g = 2·scale·dL the gradients are
 *     dX += g·A
 *     dV += g·XᵀR = g·(S·V + s·bᵀ − XᵀT),   so  dWn += g·(Wn·S + b·sᵀ − Tᵀ·X)   [N,K]
 *     db += g·Σ_i R_i = g·(Wn·s + M·b − Tᵀ·1)
 *     dT −= g·R     (formed with one product, only when T wants a gradient)
 *
 * Why: the products along the long dimension N are then T·Wn and Tᵀ·X, two instead of three
 * (X·V, dY·Vᵀ and Xᵀ·dY), and both read T as their first operand, so they skip its zeros (an
 * autoencoder's target is its input: images, half zeros).  The price is G and Wn·S, K²·N each,
 * and X·G and XᵀX, M·K² each: it pays when K < M·N / (2(M + N)) (tg_affine_mse_gram_pays), e.g.
 * the CAE's hidden 64 at batch 256 (K < 96), not at batch 32 or hidden 256.
 *
 * Numerics.  The terms of ‖R_i‖² are of the size of ‖T_i‖², their sum is ‖R_i‖²: the loss's value
 * has a relative error of about (‖T‖/‖R‖)²·1e-7, not affine_mse's 1e-7 (it is summed in double from
 * float products).  dX's and dV's absolute errors are those of affine_mse, whose R = Y − T cancels
 * the same way; db's three terms are summed in double from exact float inputs.  The results do not
 * depend on the thread count (fixed product and row blocks). */
#include "autograd/ops_internal.h"

#include <string.h>

#include "tensor/parallel.h"

enum { GRAM_ROW_BLOCK = 16 }; /* rows of X and T per chunk of the row pass, and per column partial of T */
/* target_sums takes whole row blocks from each region of the product's grid */
_Static_assert(TG_GEMM_SPLIT % GRAM_ROW_BLOCK == 0, "the gemm's regions start on row blocks");

bool tg_affine_mse_gram_pays(size_t M, size_t K, size_t N)
{
    /* flops: explicit 3·2MKN (X·V, dY·Vᵀ, Xᵀ·dY);  Gram 2·2MKN + 2·2NK² + 2·2MK² (see above; G is
     * computed as 3/4 of a product, which this leaves out: the test stays a simple one) */
    return 2.0 * (double)K * ((double)M + (double)N) < (double)M * (double)N;
}

static bool gram_trans_w(const tg_node *n) { return affine_params_of(n).trans_w; }
static int gram_reduction(const tg_node *n) { return (int)affine_params_of(n).reduction; }

static size_t aligned16(size_t floats) { return (floats + 15) / 16 * 16; } /* 64-byte steps */
static size_t row_blocks(size_t M) { return (M + GRAM_ROW_BLOCK - 1) / GRAM_ROW_BLOCK; }

/* n->saved, in 64-byte aligned pieces (offsets in floats; q, t_squares, t_sum and s_sum hold doubles):
 *   wn [N,K]     W transposed (unused when trans_w)
 *   a [M,K]      P, then A                     xg [M,K]   X·G
 *   g [K,K]      G                             u [K]      V·b
 *   q [blocks]   each row block's Σ_i X_i·(X_i·G + 2u − 2P_i)
 *   t_squares [blocks], t_cols [blocks, N]     each row block's Σ T² and column sums of T
 *   t_sum [N]    T's column sums
 * and for the backward:
 *   s_mat [K,K]  S          s [K]  Xᵀ·1          s_sum [K]  Xᵀ·1 summed in double (for db)
 *   f [N,K], ft [K,N]   Tᵀ·X and its transpose (when W is not transposed) */
typedef struct gram_layout {
    size_t wn, a, xg, g, u, q, t_squares, t_cols, t_sum, s_mat, s, s_sum, f, ft, total;
} gram_layout;

static gram_layout layout_of(size_t M, size_t K, size_t N, bool trans_w)
{
    gram_layout l;
    size_t at = 0;
    const size_t untied = trans_w ? 0 : 1; /* wn, f and ft are for W [K,N] only */
#define PIECE(name, floats) (l.name = at, at += aligned16(floats))
    PIECE(wn, untied * N * K);
    PIECE(a, M * K);
    PIECE(xg, M * K);
    PIECE(g, K * K);
    PIECE(u, K);
    PIECE(q, 2 * row_blocks(M));
    PIECE(t_squares, 2 * row_blocks(M));
    PIECE(t_cols, row_blocks(M) * N);
    PIECE(t_sum, 2 * N);
    PIECE(s_mat, K * K);
    PIECE(s, K);
    PIECE(s_sum, 2 * K);
    PIECE(f, untied * N * K);
    PIECE(ft, untied * K * N);
#undef PIECE
    l.total = at;
    return l;
}

typedef struct gram_dims {
    size_t M, K, N;
    gram_layout l;
} gram_dims;

static gram_dims dims_of(const tg_node *n)
{
    gram_dims d = {tg_rows(n->in[0]), tg_cols(n->in[0]), tg_cols(n->in[3]), {0}};
    d.l = layout_of(d.M, d.K, d.N, gram_trans_w(n));
    return d;
}

/* Wn [N,K] = Vᵀ for V [K,N]; W itself when trans_w */
static const float *weights_nk(const tg_node *n, const gram_dims *d)
{
    return gram_trans_w(n) ? n->in[1]->value.data : n->saved + d->l.wn;
}

/* ---- forward ------------------------------------------------------------------------------- */

/* T's sums, per block of GRAM_ROW_BLOCK rows: its column sums (floats, [row blocks, N]) and Σ T²
 * (a double per block).  Taken in the epilogue of P = T·Wn, which has just read those rows. */
typedef struct target_sums_job {
    const float *t;
    size_t N;
    float *t_cols;
    double *t_squares;
} target_sums_job;

// the epilogue on P's rows [r0, r1) × columns [c0, c1): the rows of T once, with the region at c0 = 0
TG_VECTORIZE static void target_sums(float *P, size_t ldp, size_t r0, size_t r1, size_t c0, size_t c1, void *ctx)
{
    (void)P, (void)ldp, (void)c1;
    const target_sums_job *job = ctx;
    const size_t N = job->N;
    if (c0 != 0)
        return;
    for (size_t i0 = r0; i0 < r1; i0 += GRAM_ROW_BLOCK) { /* r0 is on the grid (matmul.h) */
        const size_t i1 = r1 - i0 < GRAM_ROW_BLOCK ? r1 : i0 + GRAM_ROW_BLOCK;
        float *col = job->t_cols + i0 / GRAM_ROW_BLOCK * N;
        memset(col, 0, N * sizeof *col);
        double squares = 0.0;
        for (size_t i = i0; i < i1; i++) {
            const float *t = job->t + i * N;
            squares += lanes_sum_sq(t, N);
            for (size_t j = 0; j < N; j++)
                col[j] += t[j];
        }
        job->t_squares[i0 / GRAM_ROW_BLOCK] = squares;
    }
}

typedef struct gram_rows_job {
    const float *x, *u, *xg; /* X [M,K], u [K], X·G [M,K] */
    float *a;                /* in: P [M,K];  out: A = X·G + u − P */
    double *q;               /* [row blocks]: Σ_i X_i·(X_i·G + 2u − 2P_i) over the block */
    size_t M, K;
} gram_rows_job;

/* lane l of X_i·(X_i·G + 2u − 2P_i), element k, and A_ik (one body for the vector and the tail loop) */
TG_ALWAYS_INLINE void gram_term(const gram_rows_job *job, const float *x, const float *xg, float *a, size_t k,
                                double *lane)
{
    double xg_u = (double)xg[k] + (double)job->u[k], p = (double)a[k];
    *lane += (double)x[k] * (xg_u + (double)job->u[k] - 2.0 * p);
    a[k] = (float)(xg_u - p);
}

/* Blocks [lo, hi) of GRAM_ROW_BLOCK rows: A and q. */
TG_VECTORIZE static void gram_rows(size_t lo, size_t hi, void *ctx)
{
    const gram_rows_job *job = ctx;
    const size_t K = job->K;
    for (size_t blk = lo; blk < hi; blk++) {
        double lane[TG_SUM_LANES] = {0};
        const size_t r1 = (blk + 1) * GRAM_ROW_BLOCK < job->M ? (blk + 1) * GRAM_ROW_BLOCK : job->M;
        for (size_t i = blk * GRAM_ROW_BLOCK; i < r1; i++) {
            const float *x = job->x + i * K, *xg = job->xg + i * K;
            float *a = job->a + i * K;
            size_t k = 0;
            for (; k + TG_SUM_LANES <= K; k += TG_SUM_LANES)
                for (int l = 0; l < TG_SUM_LANES; l++)
                    gram_term(job, x, xg, a, k + l, &lane[l]);
            for (; k < K; k++)
                gram_term(job, x, xg, a, k, &lane[k % TG_SUM_LANES]);
        }
        job->q[blk] = combine_lanes(lane);
    }
}

/* Σ_i ‖T_i − b‖² = Σ T² − 2 b·Σ_i T_i + M·‖b‖², from the blocks' sums (the blocks in order); t_sum = Σ_i T_i */
static double target_minus_bias_squares(const target_sums_job *job, size_t M, const float *b, double *t_sum)
{
    const size_t N = job->N, blocks = row_blocks(M);
    double squares = 0.0;
    for (size_t blk = 0; blk < blocks; blk++)
        squares += job->t_squares[blk];
    for (size_t j = 0; j < N; j++)
        t_sum[j] = 0.0;
    for (size_t blk = 0; blk < blocks; blk++)
        for (size_t j = 0; j < N; j++)
            t_sum[j] += (double)job->t_cols[blk * N + j];
    double b_dot = 0.0, b_squares = 0.0;
    for (size_t j = 0; j < N; j++) {
        b_dot += (double)b[j] * t_sum[j];
        b_squares += (double)b[j] * (double)b[j];
    }
    return squares + (double)M * b_squares - 2.0 * b_dot;
}

/* G [K,K] = Wnᵀ·Wn for Wn [N,K], symmetric: its first h rows and the block [h,K)×[h,K) are
 * products (3/4 of the flops of all of G, for h = K/2), the block below the first rows is their
 * transpose.  G_ij and G_ji are the same FMAs with the factors swapped, so the same bits. */
static void gram_of_columns(const float *wn, size_t N, size_t K, float *g)
{
    const size_t h = (K / 2 + TG_GEMM_SPLIT - 1) / TG_GEMM_SPLIT * TG_GEMM_SPLIT; /* whole thread blocks */
    if (h >= K) {
        tg_gemm(TG_TRANS, TG_NOTRANS, K, K, N, 1.0f, wn, K, wn, K, 0.0f, g, K);
        return;
    }
    tg_gemm(TG_TRANS, TG_NOTRANS, h, K, N, 1.0f, wn, K, wn, K, 0.0f, g, K);
    tg_gemm(TG_TRANS, TG_NOTRANS, K - h, K - h, N, 1.0f, wn + h, K, wn + h, K, 0.0f, g + h * K + h, K);
    tg_transpose(g + h * K, K, g + h, K, h, K - h);
}

// X [M,K], W [K,N] or [N,K], b [N], T [M,N] -> L [1]; saved: see gram_layout
void tg_op_affine_mse_gram_forward(tg_node *n)
{
    const tg_node *x = n->in[0], *w = n->in[1], *target = n->in[3];
    const gram_dims d = dims_of(n);
    const size_t M = d.M, K = d.K, N = d.N;
    float *saved = n->saved;
    if (!gram_trans_w(n))
        tg_transpose(saved + d.l.wn, K, w->value.data, N, K, N);
    const float *wn = weights_nk(n, &d), *t = target->value.data, *b = n->in[2]->value.data;
    /* whether T's zeros are skipped (the backward's Tᵀ·X does the same) */
    const bool skip = tg_gemm_prefers_sparse_a(t, M, N, N);
    n->skipped_zeros = skip;
    float *a = saved + d.l.a, *xg = saved + d.l.xg, *g = saved + d.l.g, *u = saved + d.l.u;
    target_sums_job sums = {
        .t = t, .N = N, .t_cols = saved + d.l.t_cols, .t_squares = (double *)(saved + d.l.t_squares),
    };
    const tg_gemm_options p_options = {.skip_zeros_of_a = skip, .epilogue = target_sums, .epilogue_ctx = &sums};
    tg_gemm_ex(TG_NOTRANS, TG_NOTRANS, M, K, N, 1.0f, t, N, wn, K, 0.0f, a, K, &p_options); /* P = T·Wn */
    gram_of_columns(wn, N, K, g);                                                            /* G = Wnᵀ·Wn */
    tg_gemm(TG_NOTRANS, TG_NOTRANS, 1, K, N, 1.0f, b, N, wn, K, 0.0f, u, K);                 /* u = bᵀ·Wn */
    tg_gemm(TG_NOTRANS, TG_NOTRANS, M, K, K, 1.0f, x->value.data, K, g, K, 0.0f, xg, K);     /* X·G */

    gram_rows_job rows = {.x = x->value.data, .u = u, .xg = xg, .a = a, .q = (double *)(saved + d.l.q), .M = M, .K = K};
    tg_parallel_for(row_blocks(M), 1, gram_rows, &rows);
    double sum = target_minus_bias_squares(&sums, M, b, (double *)(saved + d.l.t_sum));
    for (size_t blk = 0; blk < row_blocks(M); blk++)
        sum += rows.q[blk];
    n->value.data[0] = (float)(sum * tg_reduction_scale(M * N, M, gram_reduction(n)));
}

/* ---- backward ------------------------------------------------------------------------------ */

typedef struct outer_add_job {
    float *dst;               /* [rows, cols] */
    const float *col, *row;   /* [rows], [cols] */
    const float *minus;       /* [rows, cols], or NULL */
    size_t cols;
    float g;
} outer_add_job;

/* dst rows [lo, hi) += g·(col·rowᵀ − minus) */
TG_VECTORIZE static void outer_add_rows(size_t lo, size_t hi, void *ctx)
{
    const outer_add_job *job = ctx;
    for (size_t i = lo; i < hi; i++) {
        float *dst = job->dst + i * job->cols;
        const float c = job->col[i];
        if (job->minus)
            for (size_t j = 0; j < job->cols; j++)
                dst[j] += job->g * (c * job->row[j] - job->minus[i * job->cols + j]);
        else
            for (size_t j = 0; j < job->cols; j++)
                dst[j] += job->g * (c * job->row[j]);
    }
}

/* dV += g·(S·V + s·bᵀ − XᵀT), or for W [N,K] (V = Wᵀ): dW += g·(W·S + b·sᵀ − Tᵀ·X).  Tᵀ·X is
 * the product that skips T's zeros; for V [K,N] it is transposed before it is added. */
static void add_weight_grad(tg_node *n, const gram_dims *d, float g)
{
    const size_t M = d->M, K = d->K, N = d->N;
    const tg_node *w = n->in[1];
    const float *x = n->in[0]->value.data, *b = n->in[2]->value.data, *t = n->in[3]->value.data;
    const float *s = n->saved + d->l.s;
    float *s_mat = n->saved + d->l.s_mat, *dw = w->grad.data;
    const tg_gemm_options skip = {.skip_zeros_of_a = n->skipped_zeros};
    tg_gemm(TG_TRANS, TG_NOTRANS, K, K, M, 1.0f, x, K, x, K, 0.0f, s_mat, K); /* S = XᵀX */
    if (gram_trans_w(n)) {
        tg_gemm(TG_NOTRANS, TG_NOTRANS, N, K, K, g, w->value.data, K, s_mat, K, 1.0f, dw, K);  /* += g·W·S */
        tg_gemm_ex(TG_TRANS, TG_NOTRANS, N, K, M, -g, t, N, x, K, 1.0f, dw, K, &skip);        /* −= g·Tᵀ·X */
        outer_add_job job = {.dst = dw, .col = b, .row = s, .cols = K, .g = g};
        tg_parallel_for(N, 64, outer_add_rows, &job);                                          /* += g·b·sᵀ */
        return;
    }
    float *f = n->saved + d->l.f, *ft = n->saved + d->l.ft;
    tg_gemm_ex(TG_TRANS, TG_NOTRANS, N, K, M, 1.0f, t, N, x, K, 0.0f, f, K, &skip); /* Tᵀ·X [N,K] */
    tg_transpose(ft, N, f, K, N, K);                                                /* XᵀT [K,N] */
    tg_gemm(TG_NOTRANS, TG_NOTRANS, K, N, K, g, s_mat, K, w->value.data, N, 1.0f, dw, N); /* += g·S·V */
    outer_add_job job = {.dst = dw, .col = s, .row = b, .cols = N, .g = g, .minus = ft};
    tg_parallel_for(K, 8, outer_add_rows, &job); /* += g·(s·bᵀ − XᵀT) */
}

/* db_j += g·((Vᵀ·s)_j + M·b_j − Σ_i T_ij) = g·(Wn_j·s + M·b_j − Σ_i T_ij), in double: the terms
 * are of the size of Σ_i Y_ij and cancel down to Σ_i R_ij */
typedef struct bias_grad_job {
    const float *wn, *b;
    const double *s, *t_sum;
    float *db;
    size_t M, K;
    float g;
} bias_grad_job;

/* db_j for j in [lo, hi) */
TG_VECTORIZE static void bias_grad_columns(size_t lo, size_t hi, void *ctx)
{
    const bias_grad_job *job = ctx;
    const size_t K = job->K;
    for (size_t j = lo; j < hi; j++) {
        double wn_s = lanes_dot(job->wn + j * K, job->s, K);
        job->db[j] += job->g * (float)(wn_s + (double)job->M * (double)job->b[j] - job->t_sum[j]);
    }
}

static void add_bias_grad(tg_node *n, const gram_dims *d, float g)
{
    bias_grad_job job = {
        .wn = weights_nk(n, d), .b = n->in[2]->value.data, .s = (const double *)(n->saved + d->l.s_sum),
        .t_sum = (const double *)(n->saved + d->l.t_sum), .db = n->in[2]->grad.data, .M = d->M, .K = d->K, .g = g,
    };
    tg_parallel_for(d->N, 256, bias_grad_columns, &job);
}

/* s [K] = Xᵀ·1 in float (for dV's outer product, as the products' inputs) and s_sum in double
 * (for db), each column's rows added in order */
TG_VECTORIZE static void column_sums_of_x(tg_node *n, const gram_dims *d)
{
    const float *x = n->in[0]->value.data;
    float *s = n->saved + d->l.s;
    double *s_sum = (double *)(n->saved + d->l.s_sum);
    for (size_t k = 0; k < d->K; k++)
        s_sum[k] = 0.0;
    for (size_t i = 0; i < d->M; i++)
        for (size_t k = 0; k < d->K; k++)
            s_sum[k] += (double)x[i * d->K + k];
    for (size_t k = 0; k < d->K; k++)
        s[k] = (float)s_sum[k];
}

/* dT −= g·R = g·(T − b) − g·X·op(W): R formed here, with a product of its own */
static void add_target_grad(tg_node *n, const gram_dims *d, float g)
{
    const size_t M = d->M, K = d->K, N = d->N;
    const tg_node *w = n->in[1];
    const float *b = n->in[2]->value.data, *t = n->in[3]->value.data;
    float *dt = n->in[3]->grad.data;
    tg_gemm(TG_NOTRANS, gram_trans_w(n) ? TG_TRANS : TG_NOTRANS, M, N, K, -g, n->in[0]->value.data, K,
            w->value.data, tg_cols(w), 1.0f, dt, N);
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++)
            dt[i * N + j] += g * (t[i * N + j] - b[j]);
}

void tg_op_affine_mse_gram_backward(tg_node *n)
{
    tg_node *x = n->in[0], *w = n->in[1], *b = n->in[2], *target = n->in[3];
    const gram_dims d = dims_of(n);
    const float g = (float)(2.0 * tg_reduction_scale(d.M * d.N, d.M, gram_reduction(n)) * (double)n->grad.data[0]);
    if (tg_wants_grad(w) || tg_wants_grad(b))
        column_sums_of_x(n, &d);
    if (tg_wants_grad(w))
        add_weight_grad(n, &d, g);
    if (tg_wants_grad(b))
        add_bias_grad(n, &d, g);
    if (tg_wants_grad(x)) { /* dX += g·A (after the products above, which read X's value only) */
        tg_add_scaled(x->grad.data, n->saved + d.l.a, g, d.M * d.K);
    }
    if (tg_wants_grad(target))
        add_target_grad(n, &d, g);
}

tg_node *tg_affine_mse_gram(tg_tape *t, tg_node *x, tg_node *w, tg_node *b, bool trans_w, tg_node *target,
                            tg_reduction red)
{
    if (!tg_affine_mse_check(t, "affine_mse_gram", x, w, b, trans_w, target, red))
        return NULL;
    size_t M = tg_rows(x), K = tg_cols(x), N = tg_affine_cols(w, trans_w);
    tg_node *in[4] = {x, w, b, target};
    tg_node *n = tg_tape_record(t, &tg_op_affine_mse_gram, 4, in, 1, (size_t[]){1});
    if (!n)
        return NULL;
    affine_params_set(n, (affine_params){trans_w, red});
    n->saved = tg_tape_scratch(t, layout_of(M, K, N, trans_w).total);
    if (!n->saved)
        return NULL;
    return tg_tape_forward(t, n);
}
