/* autograd/fused/affine_mse.c — affine_mse: a Dense layer and its MSE loss as one op.
 * Its reference composition is mse(affine(...)) (tg_affine_mse_reference, fused/reference.c). */
#include "autograd/ops_internal.h"

#include "tensor/parallel.h"

/* ---- affine_mse: L = scale · Σ (X·op(W) + b − T)² -----------------------------------------
 *
 * mse(affine(X, W, b), T) as one op.  The two ops make four passes over [M,N] arrays after the
 * product writes Y (mse's forward reads Y and T, its backward reads them again and writes dY),
 * each from memory rather than cache at the CAE's sizes.  Here the product's epilogue (tg_gemm_options)
 * takes each thread's block of Y while it is still in that core's cache, adds its (Y − T)² to
 * the loss and overwrites it with D = 2·scale·(Y − T): mse's dY for dL = 1, the same bits.
 * The backward is then the affine's with dY = dL·D, the factor dL going into the products'
 * alpha: no pass scales D (the products read it as it is), and nothing writes it, so a second
 * backward finds D as the first did.  dT (when the target wants a gradient) is written before
 * the products, as in the two ops, where mse's backward runs before the affine's: with the
 * target also the layer's input (an autoencoder trained through its input) the bits match.
 *
 * The loss is summed per square of the product's TG_GEMM_SPLIT grid (in double, from the float
 * Y, like mse), the squares then in order: the same bits on any thread count, though not
 * mse's bits (mse sums in other chunks).
 *
 * The epilogue also sums D's columns per square (its 16 rows in order, in float), and the
 * backward adds the squares down each column in order for db = dL·Σ_rows D: db's pass over all
 * of D (tg_add_column_sums) becomes one over M/16 rows.  The
 * same bits on any thread count; not the pass's (it adds the rows one by one into db).
 *
 * The product is split among threads by rows (tg_affine_product with an epilogue): each thread
 * then reads whole rows of T, which in the CAE are the images it converted itself at the start
 * of the step, still in its cache (docs/performance.md has the measurement against the column
 * split). */

typedef struct residual_job {
    const float *t;  /* the target [M,N] */
    size_t N;
    size_t grid_cols; /* squares per row of the grid */
    float g;          /* 2·scale: D = g·(Y − T) */
    double *partial;  /* per square of the grid: Σ (Y − T)² */
    float *col_partial; /* [M/16 rounded up, N]: per row of squares, Σ of D over its rows */
} residual_job;

enum { RESIDUAL_SQUARE = TG_GEMM_SPLIT };

/* One square (rows × width, width <= RESIDUAL_SQUARE) of Y at y (rows ldy apart), of T at t
 * (rows N apart): returns Σ (y − t)², leaves g·(y − t) in y and its sum down the rows in
 * col_partial [width].  The plain form: the epilogue uses it for the last strip of a Y whose
 * width is not a multiple of the square, residual_strip (below) for the others. */
static double residual_square(float *y, size_t ldy, const float *t, size_t N, size_t rows, size_t width, float g,
                              float *col_partial)
{
    double lane[RESIDUAL_SQUARE] = {0};
    float col[RESIDUAL_SQUARE] = {0};
    for (size_t i = 0; i < rows; i++)
        for (size_t l = 0; l < width; l++) {
            double d = (double)y[i * ldy + l] - (double)t[i * N + l];
            lane[l] += d * d;
            /* 0 + v, as mse writes a gradient nothing has written (its bits, -0 included) */
            float dy = 0.0f + g * (y[i * ldy + l] - t[i * N + l]);
            y[i * ldy + l] = dy;
            col[l] += dy;
        }
    for (size_t l = 0; l < width; l++)
        col_partial[l] = col[l];
    double sum = 0.0;
    for (size_t l = 0; l < width; l++)
        sum += lane[l];
    return sum;
}

/* Sixteen floats, eight doubles: GCC vector types, lowered to the instruction set of each clone
 * of the epilogue (AVX-512: one register each).  An f64x8 is built element by element from 8
 * floats in memory: GCC makes that one widening load, where __builtin_convertvector of a float
 * vector took three instructions. */
typedef float f32x16 __attribute__((vector_size(64)));
typedef double f64x8 __attribute__((vector_size(64)));
_Static_assert(RESIDUAL_SQUARE == 16, "residual_strip works on squares one f32x16 wide");
#define WIDEN8(p) ((f64x8){(p)[0], (p)[1], (p)[2], (p)[3], (p)[4], (p)[5], (p)[6], (p)[7]})

/* residual_square on a strip of full squares: Y's rows [r0, r1) (r0 on the grid) × 16 columns,
 * one square's sums per 16 rows into partial[0], partial[grid_cols], ... and col_partial[0],
 * col_partial[N], ...  Every lane gets residual_square's operations in its order, so the bits
 * are the same; but with the accumulators in registers (residual_square's arrays stay on the
 * stack, and the epilogue then cost a large share of the decoder's product: docs/performance.md). */
TG_ALWAYS_INLINE void residual_strip(float *Y, size_t ldy, const float *T, size_t N, size_t r0, size_t r1, float g,
                                     float *col_partial, double *partial, size_t grid_cols)
{
    const f32x16 zero = {0};
    for (size_t i0 = r0; i0 < r1; i0 += RESIDUAL_SQUARE) {
        const size_t i1 = r1 - i0 < RESIDUAL_SQUARE ? r1 : i0 + RESIDUAL_SQUARE;
        f64x8 lane_lo = {0}, lane_hi = {0};
        f32x16 col = {0};
        for (size_t i = i0; i < i1; i++) {
            float *y = Y + i * ldy;
            const float *t = T + i * N;
            f64x8 d_lo = WIDEN8(y) - WIDEN8(t), d_hi = WIDEN8(y + 8) - WIDEN8(t + 8);
            lane_lo += d_lo * d_lo;
            lane_hi += d_hi * d_hi;
            f32x16 yv, tv;
            memcpy(&yv, y, sizeof yv);
            memcpy(&tv, t, sizeof tv);
            f32x16 dy = zero + g * (yv - tv); /* (a scalar operand applies to every lane) */
            memcpy(y, &dy, sizeof dy);
            col += dy;
        }
        double sum = 0.0; /* lanes 0..15 in order, as residual_square */
        for (int l = 0; l < 8; l++)
            sum += lane_lo[l];
        for (int l = 0; l < 8; l++)
            sum += lane_hi[l];
        partial[(i0 - r0) / RESIDUAL_SQUARE * grid_cols] = sum;
        memcpy(col_partial + (i0 - r0) / RESIDUAL_SQUARE * N, &col, sizeof col);
    }
}
#undef WIDEN8

// the epilogue on Y's rows [r0, r1) × columns [c0, c1): whole squares of the grid (matmul.h), so
// c0 is on the grid and only a last strip at c1 = N can be narrower than a square
TG_VECTORIZE static void residual_epilogue(float *Y, size_t ldy, size_t r0, size_t r1, size_t c0, size_t c1,
                                           void *ctx)
{
    const residual_job *job = ctx;
    const size_t N = job->N;
    double *partial = job->partial + (r0 / RESIDUAL_SQUARE) * job->grid_cols;
    float *col_partial = job->col_partial + (r0 / RESIDUAL_SQUARE) * N;
    size_t j0 = c0;
    for (; c1 - j0 >= RESIDUAL_SQUARE; j0 += RESIDUAL_SQUARE)
        residual_strip(Y + j0, ldy, job->t + j0, N, r0, r1, job->g, col_partial + j0, partial + j0 / RESIDUAL_SQUARE,
                       job->grid_cols);
    if (j0 == c1)
        return;
    for (size_t i0 = r0; i0 < r1; i0 += RESIDUAL_SQUARE) {
        size_t rows = r1 - i0 < RESIDUAL_SQUARE ? r1 - i0 : RESIDUAL_SQUARE, square_row = (i0 - r0) / RESIDUAL_SQUARE;
        partial[square_row * job->grid_cols + j0 / RESIDUAL_SQUARE] =
            residual_square(Y + i0 * ldy + j0, ldy, job->t + i0 * N + j0, N, rows, c1 - j0, job->g,
                            col_partial + square_row * N + j0);
    }
}

/* saved = [D [M,N] | the squares' partial sums (doubles, 64-byte aligned) | D's column sums per
 * row of squares [M/16 rounded up, N]] */
static size_t squares_along(size_t n) { return (n + RESIDUAL_SQUARE - 1) / RESIDUAL_SQUARE; } /* of the grid */
static size_t residual_squares(size_t M, size_t N) { return squares_along(M) * squares_along(N); }
static size_t partials_offset(size_t M, size_t N) { return (M * N + 15) / 16 * 16; }
static size_t col_partials_offset(size_t M, size_t N) { return partials_offset(M, N) + 2 * residual_squares(M, N); }
static size_t saved_floats(size_t M, size_t N) { return col_partials_offset(M, N) + squares_along(M) * N; }

// X [M,K], W [K,N] or [N,K], b [N], T [M,N] -> L [1]; saved: D [M,N], the squares' loss and column sums
void tg_op_affine_mse_forward(tg_node *n)
{
    const tg_node *x = n->in[0], *target = n->in[3];
    size_t M = tg_rows(target), N = tg_cols(target);
    double scale = tg_reduction_scale(M * N, M, affine_params_of(n).reduction);
    residual_job job = {
        .t = target->value.data, .N = N, .grid_cols = squares_along(N),
        .g = (float)(2.0 * scale), .partial = (double *)(n->saved + partials_offset(M, N)),
        .col_partial = n->saved + col_partials_offset(M, N),
    };
    /* whether the product skipped X's zeros (the backward's products do as well) */
    n->skipped_zeros =
        tg_affine_product(x, n->in[1], n->in[2], affine_params_of(n).trans_w, n->saved, residual_epilogue, &job);
    const size_t squares = residual_squares(M, N);
    double acc = 0.0;
    for (size_t s = 0; s < squares; s++)
        acc += job.partial[s];
    n->value.data[0] = (float)(acc * scale);
}

/* db_j += dL · Σ_s p_sj, the rows s of the grid's squares in order (the sum from 0).  p [rows, N]. */
TG_VECTORIZE static void add_column_partials(const float *p, size_t rows, size_t N, float dL, float *db)
{
    size_t j0 = 0;
    for (; N - j0 >= 16; j0 += 16) {
        f32x16 sum = {0}, part, d;
        for (size_t s = 0; s < rows; s++) {
            memcpy(&part, p + s * N + j0, sizeof part);
            sum += part;
        }
        memcpy(&d, db + j0, sizeof d);
        d += dL * sum;
        memcpy(db + j0, &d, sizeof d);
    }
    for (; j0 < N; j0++) { /* the same operations, one column at a time */
        float sum = 0.0f;
        for (size_t s = 0; s < rows; s++)
            sum += p[s * N + j0];
        db[j0] += dL * sum;
    }
}

/* dY = dL·D:  dT −= dY (first, see above),  dX += dY·op(W)ᵀ,  d op(W) += Xᵀ·dY,  db += Σ_rows dY
 * (from the epilogue's column sums) */
void tg_op_affine_mse_backward(tg_node *n)
{
    tg_node *target = n->in[3], *b = n->in[2];
    const float dL = n->grad.data[0];
    if (tg_wants_grad(target))
        tg_add_scaled(target->grad.data, n->saved, -dL, target->value.size);
    tg_affine_backward_products(n->in[0], n->in[1], affine_params_of(n).trans_w, n->skipped_zeros, n->saved, dL);
    if (tg_wants_grad(b)) {
        const size_t M = tg_rows(target), N = tg_cols(target);
        add_column_partials(n->saved + col_partials_offset(M, N), squares_along(M), N, dL, b->grad.data);
    }
}

bool tg_affine_mse_check(tg_tape *t, const char *name, tg_node *x, tg_node *w, tg_node *b, bool trans_w,
                         tg_node *target, tg_reduction red)
{
    if (!tg_tape_check_inputs(t, name, 4, x, w, b, target) || !tg_affine_check(t, name, x, w, b, trans_w))
        return false;
    size_t M = tg_rows(x), N = tg_affine_cols(w, trans_w);
    /* exactly the layer's output shape (affine's [M,N]), as mse would require of it */
    if (target->value.ndim != 2 || target->value.shape[0] != M || target->value.shape[1] != N) {
        tg_tape_fail(t, TG_ERR_SHAPE, "%s: target %s, expected [%zu,%zu] (the layer's output)", name, SHAPE(target),
                     M, N);
        return false;
    }
    if (red != TG_REDUCE_MEAN && red != TG_REDUCE_ROW_SUM) {
        tg_tape_fail(t, TG_ERR_ARG, "%s: unknown reduction %d", name, (int)red);
        return false;
    }
    return true;
}

tg_node *tg_affine_mse(tg_tape *t, tg_node *x, tg_node *w, tg_node *b, bool trans_w, tg_node *target,
                       tg_reduction red)
{
    if (!tg_affine_mse_check(t, "affine_mse", x, w, b, trans_w, target, red))
        return NULL;
    size_t M = tg_rows(x), N = tg_affine_cols(w, trans_w);
    tg_node *in[4] = {x, w, b, target};
    tg_node *n = tg_tape_record(t, &tg_op_affine_mse, 4, in, 1, (size_t[]){1});
    if (!n)
        return NULL;
    affine_params_set(n, (affine_params){trans_w, red});
    n->saved = tg_tape_scratch(t, saved_floats(M, N));
    if (!n->saved)
        return NULL;
    return tg_tape_forward(t, n);
}
