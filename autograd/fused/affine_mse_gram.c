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
 * Numerics: centering.  Near an optimum R is small while the terms above are of the size of Y
 * and T: dV's XᵀX·V and XᵀT are sums of M same-sign products (activations and images are >= 0),
 * each ~‖X‖·‖T‖, whose float rounding is far larger than XᵀR (measured from trained CAEs at
 * batch 256, hidden 64: dV off by 1e-5–1.7e-5 of its largest element, explicit route ~8e-7).
 * So X is centered first: μ = X's column means (in double, rounded to float), Xc = X − 1·μᵀ, and
 * with ȳ = μᵀV + bᵀ (Y's mean row, in double) and r_sum = Rᵀ·1 (db's sum, in double)
 *     XᵀR = Sc·V − XcᵀT + (Xcᵀ1)·ȳᵀ + μ·r_sumᵀ        Sc = XcᵀXc
 *     A   = Xc·G + c − P,    c = ȳ·Vᵀ = μᵀG + uᵀ (in double)
 * The products then sum terms of both signs, the parts common to every row are computed in
 * double, and Xcᵀ1 (0 but for rounding) is kept rather than assumed: the same products and
 * flops as before, plus passes over [M,K] and [N,K].  Measured (tests/reference/gram_accuracy.c,
 * six Fashion-MNIST CAEs trained to MSE 0.012–0.030): dV within 1.8–2.7× of the explicit
 * route's error (was 15–18×); db the same; dX still 3–13× (its P = T·Vᵀ and Xc·G are sums of N
 * and K float products whose difference is A, ~(‖T‖/‖R‖)× smaller), which is why
 * tg_affine_mse_gram's card does not claim affine_mse's accuracy for it.  Over 30 Adam steps the
 * parameters stay as close to a float64 run as the explicit route's (tests/reference/gram_drift.py).
 * The loss's value has a relative error of about (‖T‖/‖R‖)²·1e-7 (its terms cancel the same way);
 * affine_mse's is 1e-7.  The results do not depend on the thread count (fixed product and row
 * blocks). */
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

/* n->saved, in 64-byte aligned pieces (offsets in floats; those marked (d) hold doubles):
 *   wn [N,K]     W transposed (unused when trans_w)
 *   a [M,K]      P, then A                     xcg [M,K]  Xc·G
 *   xc [M,K]     Xc = X − 1·μᵀ                 g [K,K]    G
 *   u [K]        V·b                           mu [K] (d) μ, X's column means (float values)
 *   x_sum, xc_sum [K] (d)   Xᵀ·1 and Xcᵀ·1     c [K] (d)  ȳ·Wn = μᵀG + uᵀ
 *   y_mean [N] (d)          ȳ = μᵀV + bᵀ, Y's mean row
 *   q [blocks] (d)   each row block's Σ_i X_i·(X_i·G + 2u − 2P_i)
 *   t_squares [blocks] (d), t_cols [blocks, N]   each row block's Σ T² and column sums of T
 *   t_sum [N] (d)    T's column sums
 * and for the backward:
 *   r_sum [N] (d)    R's column sums      s_mat [K,K]  Sc = XcᵀXc
 *   f [N,K], ft [K,N]   Tᵀ·Xc and its transpose (when W is not transposed) */
typedef struct gram_layout {
    size_t wn, a, xcg, xc, g, u, mu, x_sum, xc_sum, c, y_mean, q, t_squares, t_cols, t_sum, r_sum, s_mat, f, ft,
        total;
} gram_layout;

static gram_layout layout_of(size_t M, size_t K, size_t N, bool trans_w)
{
    gram_layout l;
    size_t at = 0;
    const size_t untied = trans_w ? 0 : 1; /* wn, f and ft are for W [K,N] only */
#define PIECE(name, floats) (l.name = at, at += aligned16(floats))
    PIECE(wn, untied * N * K);
    PIECE(a, M * K);
    PIECE(xcg, M * K);
    PIECE(xc, M * K);
    PIECE(g, K * K);
    PIECE(u, K);
    PIECE(mu, 2 * K);
    PIECE(x_sum, 2 * K);
    PIECE(xc_sum, 2 * K);
    PIECE(c, 2 * K);
    PIECE(y_mean, 2 * N);
    PIECE(q, 2 * row_blocks(M));
    PIECE(t_squares, 2 * row_blocks(M));
    PIECE(t_cols, row_blocks(M) * N);
    PIECE(t_sum, 2 * N);
    PIECE(r_sum, 2 * N);
    PIECE(s_mat, K * K);
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

static double *saved_doubles(const tg_node *n, size_t offset) { return (double *)(n->saved + offset); }

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

/* μ = X's column means (summed in double, rows in order; rounded to float, kept as doubles),
 * Xc = X − 1·μᵀ in float, and the column sums of X and of Xc in double.  Xcᵀ·1 is 0 but for
 * rounding: the backward keeps it rather than assume it. */
TG_VECTORIZE static void center_columns(const float *x, size_t M, size_t K, double *x_sum, double *mu, float *xc,
                                        double *xc_sum)
{
    for (size_t k = 0; k < K; k++)
        x_sum[k] = xc_sum[k] = 0.0;
    for (size_t i = 0; i < M; i++)
        for (size_t k = 0; k < K; k++)
            x_sum[k] += (double)x[i * K + k];
    for (size_t k = 0; k < K; k++)
        mu[k] = (float)(x_sum[k] / (double)M);
    for (size_t i = 0; i < M; i++)
        for (size_t k = 0; k < K; k++) {
            xc[i * K + k] = x[i * K + k] - (float)mu[k];
            xc_sum[k] += (double)xc[i * K + k];
        }
}

/* ȳ_j = Wn_j·μ + b_j (Y's mean row, for the μ Xc was centered with) and c = ȳᵀ·Wn [K], in
 * double: the part of X·G + u common to every row, which is what cancels against P. */
TG_VECTORIZE static void mean_row_terms(const float *wn, const double *mu, const float *b, size_t N, size_t K,
                                        double *y_mean, double *c)
{
    for (size_t k = 0; k < K; k++)
        c[k] = 0.0;
    for (size_t j = 0; j < N; j++) {
        const float *w = wn + j * K;
        const double y = lanes_dot(w, mu, K) + (double)b[j];
        y_mean[j] = y;
        for (size_t k = 0; k < K; k++)
            c[k] += y * (double)w[k];
    }
}

typedef struct gram_rows_job {
    const float *x, *u, *xcg; /* X [M,K], u [K], Xc·G [M,K] */
    const double *c;          /* [K]: μᵀG + uᵀ */
    float *a;                 /* in: P [M,K];  out: A = Xc·G + c − P */
    double *q;                /* [row blocks]: Σ_i X_i·(X_i·G + 2u − 2P_i) over the block */
    size_t M, K;
} gram_rows_job;

/* lane l of X_i·(X_i·G + 2u − 2P_i), element k, and A_ik (one body for the vector and the tail
 * loop); X_i·G + u = Xc_i·G + c */
TG_ALWAYS_INLINE void gram_term(const gram_rows_job *job, const float *x, const float *xcg, float *a, size_t k,
                                double *lane)
{
    double xg_u = (double)xcg[k] + job->c[k], p = (double)a[k];
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
            const float *x = job->x + i * K, *xcg = job->xcg + i * K;
            float *a = job->a + i * K;
            size_t k = 0;
            for (; k + TG_SUM_LANES <= K; k += TG_SUM_LANES)
                for (int l = 0; l < TG_SUM_LANES; l++)
                    gram_term(job, x, xcg, a, k + l, &lane[l]);
            for (; k < K; k++)
                gram_term(job, x, xcg, a, k, &lane[k % TG_SUM_LANES]);
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
    /* whether T's zeros are skipped (the backward's Tᵀ·Xc does the same) */
    const bool skip = tg_gemm_prefers_sparse_a(t, M, N, N);
    n->skipped_zeros = skip;
    float *a = saved + d.l.a, *xcg = saved + d.l.xcg, *xc = saved + d.l.xc, *g = saved + d.l.g, *u = saved + d.l.u;
    target_sums_job sums = {
        .t = t, .N = N, .t_cols = saved + d.l.t_cols, .t_squares = saved_doubles(n, d.l.t_squares),
    };
    const tg_gemm_options p_options = {.skip_zeros_of_a = skip, .epilogue = target_sums, .epilogue_ctx = &sums};
    tg_gemm_ex(TG_NOTRANS, TG_NOTRANS, M, K, N, 1.0f, t, N, wn, K, 0.0f, a, K, &p_options); /* P = T·Wn */
    gram_of_columns(wn, N, K, g);                                                            /* G = Wnᵀ·Wn */
    tg_gemm(TG_NOTRANS, TG_NOTRANS, 1, K, N, 1.0f, b, N, wn, K, 0.0f, u, K);                 /* u = bᵀ·Wn */
    center_columns(x->value.data, M, K, saved_doubles(n, d.l.x_sum), saved_doubles(n, d.l.mu), xc,
                   saved_doubles(n, d.l.xc_sum));
    tg_gemm(TG_NOTRANS, TG_NOTRANS, M, K, K, 1.0f, xc, K, g, K, 0.0f, xcg, K);               /* Xc·G */
    mean_row_terms(wn, saved_doubles(n, d.l.mu), b, N, K, saved_doubles(n, d.l.y_mean), saved_doubles(n, d.l.c));

    gram_rows_job rows = {.x = x->value.data, .u = u, .xcg = xcg, .c = saved_doubles(n, d.l.c), .a = a,
                          .q = saved_doubles(n, d.l.q), .M = M, .K = K};
    tg_parallel_for(row_blocks(M), 1, gram_rows, &rows);
    double sum = target_minus_bias_squares(&sums, M, b, saved_doubles(n, d.l.t_sum));
    for (size_t blk = 0; blk < row_blocks(M); blk++)
        sum += rows.q[blk];
    n->value.data[0] = (float)(sum * tg_reduction_scale(M * N, M, gram_reduction(n)));
}

/* ---- backward ------------------------------------------------------------------------------ */

/* The two terms of rank one in dV (or dW), in double: rows [lo, hi) of
 *     dst += g·(col_a·row_aᵀ + col_b·row_bᵀ − minus)     (minus [rows, cols], or NULL) */
typedef struct outer_add_job {
    float *dst;                      /* [rows, cols] */
    const double *col_a, *col_b;     /* [rows] */
    const double *row_a, *row_b;     /* [cols] */
    const float *minus;
    size_t cols;
    float g;
} outer_add_job;

TG_VECTORIZE static void outer_add_rows(size_t lo, size_t hi, void *ctx)
{
    const outer_add_job *job = ctx;
    for (size_t i = lo; i < hi; i++) {
        float *dst = job->dst + i * job->cols;
        const double ca = job->col_a[i], cb = job->col_b[i];
        const float *minus = job->minus ? job->minus + i * job->cols : NULL;
        for (size_t j = 0; j < job->cols; j++) {
            double v = ca * job->row_a[j] + cb * job->row_b[j] - (minus ? (double)minus[j] : 0.0);
            dst[j] += job->g * (float)v;
        }
    }
}

/* XᵀR with X = Xc + 1·μᵀ and Y = Xc·V + 1·ȳᵀ:
 *     XᵀR = Xcᵀ(Xc·V − T) + (Xcᵀ1)·ȳᵀ + μ·(1ᵀR)  =  Sc·V − XcᵀT + xc_sum·ȳᵀ + μ·r_sumᵀ
 * so dV += g·(Sc·V + xc_sum·ȳᵀ + μ·r_sumᵀ − XcᵀT), or for W [N,K] (V = Wᵀ):
 *     dW += g·(W·Sc + ȳ·xc_sumᵀ + r_sum·μᵀ − Tᵀ·Xc).
 * Tᵀ·Xc is the product that skips T's zeros; for V [K,N] it is transposed before it is added. */
static void add_weight_grad(tg_node *n, const gram_dims *d, float g)
{
    const size_t M = d->M, K = d->K, N = d->N;
    const tg_node *w = n->in[1];
    const float *t = n->in[3]->value.data, *xc = n->saved + d->l.xc;
    const double *xc_sum = saved_doubles(n, d->l.xc_sum), *y_mean = saved_doubles(n, d->l.y_mean);
    const double *r_sum = saved_doubles(n, d->l.r_sum), *mu = saved_doubles(n, d->l.mu);
    float *s_mat = n->saved + d->l.s_mat, *dw = w->grad.data;
    const tg_gemm_options skip = {.skip_zeros_of_a = n->skipped_zeros};
    tg_gemm(TG_TRANS, TG_NOTRANS, K, K, M, 1.0f, xc, K, xc, K, 0.0f, s_mat, K); /* Sc = XcᵀXc */
    if (gram_trans_w(n)) {
        tg_gemm(TG_NOTRANS, TG_NOTRANS, N, K, K, g, w->value.data, K, s_mat, K, 1.0f, dw, K); /* += g·W·Sc */
        tg_gemm_ex(TG_TRANS, TG_NOTRANS, N, K, M, -g, t, N, xc, K, 1.0f, dw, K, &skip);      /* −= g·Tᵀ·Xc */
        outer_add_job job = {.dst = dw, .col_a = y_mean, .row_a = xc_sum, .col_b = r_sum, .row_b = mu, .cols = K, .g = g};
        tg_parallel_for(N, 64, outer_add_rows, &job);
        return;
    }
    float *f = n->saved + d->l.f, *ft = n->saved + d->l.ft;
    tg_gemm_ex(TG_TRANS, TG_NOTRANS, N, K, M, 1.0f, t, N, xc, K, 0.0f, f, K, &skip); /* Tᵀ·Xc [N,K] */
    tg_transpose(ft, N, f, K, N, K);                                                 /* XcᵀT [K,N] */
    tg_gemm(TG_NOTRANS, TG_NOTRANS, K, N, K, g, s_mat, K, w->value.data, N, 1.0f, dw, N); /* += g·Sc·V */
    outer_add_job job = {.dst = dw, .col_a = xc_sum, .row_a = y_mean, .col_b = mu, .row_b = r_sum, .cols = N, .g = g,
                         .minus = ft};
    tg_parallel_for(K, 8, outer_add_rows, &job);
}

/* r_sum_j = Σ_i R_ij = Wn_j·(Xᵀ1) + M·b_j − Σ_i T_ij, in double: the terms are of the size of
 * Σ_i Y_ij and cancel down to Σ_i R_ij.  db = g·r_sum; dV's term μ·r_sumᵀ. */
typedef struct residual_sums_job {
    const float *wn, *b;
    const double *x_sum, *t_sum;
    double *r_sum;
    size_t M, K;
} residual_sums_job;

/* r_sum_j for j in [lo, hi) */
TG_VECTORIZE static void residual_column_sums(size_t lo, size_t hi, void *ctx)
{
    const residual_sums_job *job = ctx;
    for (size_t j = lo; j < hi; j++)
        job->r_sum[j] = lanes_dot(job->wn + j * job->K, job->x_sum, job->K) + (double)job->M * (double)job->b[j] -
                        job->t_sum[j];
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
    const double *r_sum = saved_doubles(n, d.l.r_sum);
    if (tg_wants_grad(w) || tg_wants_grad(b)) {
        residual_sums_job job = {
            .wn = weights_nk(n, &d), .b = b->value.data, .x_sum = saved_doubles(n, d.l.x_sum),
            .t_sum = saved_doubles(n, d.l.t_sum), .r_sum = saved_doubles(n, d.l.r_sum), .M = d.M, .K = d.K,
        };
        tg_parallel_for(d.N, 256, residual_column_sums, &job);
    }
    if (tg_wants_grad(w))
        add_weight_grad(n, &d, g);
    if (tg_wants_grad(b))
        for (size_t j = 0; j < d.N; j++)
            b->grad.data[j] += g * (float)r_sum[j];
    if (tg_wants_grad(x)) /* dX += g·A (after the products above, which read X's value only) */
        tg_add_scaled(x->grad.data, n->saved + d.l.a, g, d.M * d.K);
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
