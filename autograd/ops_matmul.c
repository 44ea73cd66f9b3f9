/* autograd/ops_matmul.c — the matrix product, one op per transpose combination.
 *
 * C = op(A)·op(B) with op(X) = X or Xᵀ.  Every product, forward and backward, goes through
 * tg_gemm (tensor/matmul.h), which never materializes a transpose; the backward passes
 * beta = 1 so the gemm itself accumulates (+=) into the input gradients.
 *
 * The backward of C = X·Y (X [M,K], Y [K,N]) is
 *     dX = dC·Yᵀ   [M,N]·[N,K]        dY = Xᵀ·dC   [K,M]·[M,N]
 * (each C_mn = Σ_k X_mk Y_kn, so ∂C_mn/∂X_mk = Y_kn: summing dC_mn·Y_kn over n is row m of
 * dC times column k of Yᵀ).  Each variant below substitutes X = op(A), Y = op(B) and, when A
 * (or B) is stored transposed, transposes the result back: d(Aᵀ) = (dA)ᵀ. */
#include "ops_internal.h"

#include <string.h>

#include "tensor/matmul.h"

/* Product sizes read off a node: C [M,N], inner dimension K, and A/B's row lengths. */
typedef struct gemm_dims {
    size_t M, N, K, lda, ldb;
} gemm_dims;

static gemm_dims dims_of(const tg_node *n, bool trans_a)
{
    const tg_node *a = n->in[0], *b = n->in[1];
    gemm_dims d;
    d.M = tg_rows(n);
    d.N = tg_cols(n);
    d.K = trans_a ? tg_rows(a) : tg_cols(a);
    d.lda = tg_cols(a);
    d.ldb = tg_cols(b);
    return d;
}

static tg_trans flag(bool transposed) { return transposed ? TG_TRANS : TG_NOTRANS; }

// A [M,K] or [K,M] (trans_a), B [K,N] or [N,K] (trans_b) -> C [M,N]
static void matmul_forward(tg_node *n, bool trans_a, bool trans_b)
{
    gemm_dims d = dims_of(n, trans_a);
    tg_gemm(flag(trans_a), flag(trans_b), d.M, d.N, d.K, 1.0f, n->in[0]->value.data, d.lda, n->in[1]->value.data,
            d.ldb, 0.0f, n->value.data, d.N);
}

/* With X = op(A), Y = op(B):  dX = dC·Yᵀ and dY = Xᵀ·dC, and where A (or B) is stored
 * transposed its gradient is the transpose, d(Aᵀ) = (dA)ᵀ:
 *     A [M,K]:  dA += dC·op(B)ᵀ            A [K,M]:  dA += (dC·op(B)ᵀ)ᵀ = op(B)·dCᵀ
 *     B [K,N]:  dB += op(A)ᵀ·dC            B [N,K]:  dB += (op(A)ᵀ·dC)ᵀ = dCᵀ·op(A)
 * each one product whose operands' transposes tg_gemm takes as flags. */
static void matmul_backward(tg_node *n, bool trans_a, bool trans_b)
{
    tg_node *a = n->in[0], *b = n->in[1];
    gemm_dims d = dims_of(n, trans_a);
    const float *dC = n->grad.data, *A = a->value.data, *B = b->value.data;
    if (tg_wants_grad(a)) {
        if (!trans_a)
            tg_gemm(TG_NOTRANS, flag(!trans_b), d.M, d.K, d.N, 1.0f, dC, d.N, B, d.ldb, 1.0f, a->grad.data, d.lda);
        else
            tg_gemm(flag(trans_b), TG_TRANS, d.K, d.M, d.N, 1.0f, B, d.ldb, dC, d.N, 1.0f, a->grad.data, d.lda);
    }
    if (tg_wants_grad(b)) {
        if (!trans_b)
            tg_gemm(flag(!trans_a), TG_NOTRANS, d.K, d.N, d.M, 1.0f, A, d.lda, dC, d.N, 1.0f, b->grad.data, d.ldb);
        else
            tg_gemm(TG_TRANS, flag(trans_a), d.N, d.K, d.M, 1.0f, dC, d.N, A, d.lda, 1.0f, b->grad.data, d.ldb);
    }
}

/* The registry's four variants (nn, nt, tn, tt: which operand is stored transposed), kept as
 * four ops so that profiles and printouts tell the products apart. */
#define MATMUL_VARIANT(name, trans_a, trans_b)                                                 \
    void tg_op_matmul_##name##_forward(tg_node *n) { matmul_forward(n, trans_a, trans_b); }   \
    void tg_op_matmul_##name##_backward(tg_node *n) { matmul_backward(n, trans_a, trans_b); }
MATMUL_VARIANT(nn, false, false)
MATMUL_VARIANT(nt, false, true)
MATMUL_VARIANT(tn, true, false)
MATMUL_VARIANT(tt, true, true)
#undef MATMUL_VARIANT

/* ---- constructor ----------------------------------------------------------------------- */

tg_node *tg_matmul(tg_tape *t, tg_node *a, tg_node *b, bool trans_a, bool trans_b)
{
    static const tg_op_def *const variant[2][2] = {
        {&tg_op_matmul_nn, &tg_op_matmul_nt},
        {&tg_op_matmul_tn, &tg_op_matmul_tt},
    };
    if (!tg_tape_check_inputs(t, "matmul", 2, a, b))
        return NULL;
    /* op(A) is [M,K], op(B) is [K,N], on the 2-D reading of each tensor. */
    size_t M = trans_a ? tg_cols(a) : tg_rows(a), K = trans_a ? tg_rows(a) : tg_cols(a);
    size_t Kb = trans_b ? tg_cols(b) : tg_rows(b), N = trans_b ? tg_rows(b) : tg_cols(b);
    if (K != Kb)
        return tg_tape_fail(t, TG_ERR_SHAPE, "matmul: %s%s x %s%s: inner dimensions differ",
                            SHAPE(a), trans_a ? "ᵀ" : "", SHAPE(b), trans_b ? "ᵀ" : "");
    tg_node *in[2] = {a, b};
    tg_node *n = tg_tape_record(t, variant[trans_a][trans_b], 2, in, 2, (size_t[]){M, N});
    return tg_tape_forward(t, n);
}

/* ---- affine: Y = X·W + b, or X·Wᵀ + b (a Dense layer) ---------------------------------------
 *
 * One op instead of matmul then add: the product lands on the bias row (tg_gemm_options.row_bias,
 * the bits of adding b after), so there is no separate [M,N] product node, no pass to add b or
 * to fill Y with it first, and in backward dY feeds both products directly instead of being
 * copied into the product node's gradient first.  The gradients are those of the two ops it
 * replaces:
 *     dX += dY·op(W)ᵀ      d op(W) += Xᵀ·dY      db_j += Σ_i dY_ij
 *
 * The products that take X as their first operand (Y = X·W, dW = Xᵀ·dY; with W [N,K] X is
 * the second operand of both) skip X's zeros when it has many (images, ReLU outputs): the
 * forward decides from a sample of X and records the choice in skipped_zeros for the backward.  For
 * finite W and dY the values are the same either way (tg_gemm_sparse_a; at most the sign of
 * a zero differs), only the time does; an infinity or NaN in W or dY then does not reach the
 * outputs of rows of X that are zero where it sits. */

bool tg_affine_product(const tg_node *x, const tg_node *w, const tg_node *b, bool trans_w, float *y,
                       tg_gemm_epilogue epilogue, void *epilogue_ctx)
{
    size_t M = tg_rows(x), K = tg_cols(x), N = tg_affine_cols(w, trans_w);
    const bool skip = !trans_w && tg_gemm_prefers_sparse_a(x->value.data, M, K, K);
    /* with an epilogue, threads split y by rows: an epilogue reads whole rows (affine_mse: of
     * its target too), and a thread's rows are then the ones it wrote */
    const tg_gemm_options opt = {
        .row_bias = b->value.data, .skip_zeros_of_a = skip, .epilogue = epilogue, .epilogue_ctx = epilogue_ctx,
        .split_rows = epilogue != NULL,
    };
    tg_gemm_ex(TG_NOTRANS, trans_w ? TG_TRANS : TG_NOTRANS, M, N, K, 1.0f, x->value.data, K, w->value.data,
               tg_cols(w), 1.0f, y, N, &opt);
    return skip;
}

void tg_affine_backward_products(tg_node *x, tg_node *w, bool trans_w, bool skip_zeros_of_x, const float *dY,
                                 float alpha)
{
    size_t M = tg_rows(x), K = tg_cols(x), N = tg_affine_cols(w, trans_w);
    if (tg_wants_grad(x))
        tg_gemm(TG_NOTRANS, trans_w ? TG_NOTRANS : TG_TRANS, M, K, N, alpha, dY, N, w->value.data, tg_cols(w),
                1.0f, x->grad.data, K);
    if (tg_wants_grad(w)) {
        if (trans_w)
            tg_gemm(TG_TRANS, TG_NOTRANS, N, K, M, alpha, dY, N, x->value.data, K, 1.0f, w->grad.data, K);
        else
            tg_gemm_ex(TG_TRANS, TG_NOTRANS, K, N, M, alpha, x->value.data, K, dY, N, 1.0f, w->grad.data, N,
                       &(tg_gemm_options){.skip_zeros_of_a = skip_zeros_of_x});
    }
}

// X [M,K], W [K,N] or [N,K] (params: trans_w), b [N] or [1,N] -> Y [M,N]
void tg_op_affine_forward(tg_node *n)
{
    /* the forward decides whether to skip X's zeros and records it for the backward */
    n->skipped_zeros = tg_affine_product(n->in[0], n->in[1], n->in[2], affine_params_of(n).trans_w, n->value.data,
                                         NULL, NULL);
}

/* dX[M,K] += dY·op(W)ᵀ;  dW += Xᵀ·dY (or, for W [N,K], dW += dYᵀ·X);  db_j += Σ_i dY_ij */
void tg_op_affine_backward(tg_node *n)
{
    tg_affine_backward_products(n->in[0], n->in[1], affine_params_of(n).trans_w, n->skipped_zeros, n->grad.data,
                                1.0f);
    if (tg_wants_grad(n->in[2]))
        tg_add_column_sums(n->grad.data, tg_rows(n), tg_cols(n), n->in[2]->grad.data);
}

bool tg_affine_check(tg_tape *t, const char *name, tg_node *x, tg_node *w, tg_node *b, bool trans_w)
{
    /* On the 2-D reading of each tensor: op(W) is [K,N], b one row of N. */
    size_t K = tg_cols(x);
    size_t Kw = trans_w ? tg_cols(w) : tg_rows(w), N = tg_affine_cols(w, trans_w);
    if (K != Kw) {
        tg_tape_fail(t, TG_ERR_SHAPE, "%s: %s x %s%s: inner dimensions differ", name, SHAPE(x), SHAPE(w),
                     trans_w ? "ᵀ" : "");
        return false;
    }
    if (tg_rows(b) != 1 || tg_cols(b) != N) {
        tg_tape_fail(t, TG_ERR_SHAPE, "%s: bias %s, expected [%zu] or [1,%zu]", name, SHAPE(b), N, N);
        return false;
    }
    return true;
}

tg_node *tg_affine(tg_tape *t, tg_node *x, tg_node *w, tg_node *b, bool trans_w)
{
    if (!tg_tape_check_inputs(t, "affine", 3, x, w, b) || !tg_affine_check(t, "affine", x, w, b, trans_w))
        return NULL;
    size_t M = tg_rows(x), N = tg_affine_cols(w, trans_w);
    tg_node *in[3] = {x, w, b};
    tg_node *n = tg_tape_record(t, &tg_op_affine, 3, in, 2, (size_t[]){M, N});
    if (n)
        affine_params_set(n, (affine_params){.trans_w = trans_w});
    return tg_tape_forward(t, n);
}
