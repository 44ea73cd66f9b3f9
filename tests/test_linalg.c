/* tests/test_linalg.c — tensor/linalg.c: the Jacobi eigen-solver and the wide SVD against
 * decompositions built independently: A = Q·diag(λ)·Qᵀ and J = U·diag(σ)·Vᵀ with Q, U, V products
 * of Householder reflections (orthogonal by construction, not by the code under test). */
#include <criterion/criterion.h>

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "table_test.h"
#include "tensor/linalg.h"
#include "tensor/rng.h"

/* ---- helpers ---------------------------------------------------------------------------- */

/* Q [n,n] = H_1·H_2·…·H_r with H = I − 2wwᵀ/(wᵀw) for random w: an orthogonal matrix. */
static double *householder_product(size_t n, int reflections, uint64_t seed)
{
    double *q = calloc(n * n, sizeof(double));
    double *w = malloc(n * sizeof(double));
    double *qw = malloc(n * sizeof(double));
    cr_assert(q && w && qw);
    for (size_t i = 0; i < n; i++)
        q[i * n + i] = 1.0;
    tg_rng rng;
    tg_rng_seed(&rng, seed, 7);
    for (int r = 0; r < reflections; r++) {
        double ww = 0.0;
        for (size_t i = 0; i < n; i++) {
            w[i] = tg_rng_normal(&rng);
            ww += w[i] * w[i];
        }
        // Q ← Q·H = Q − (2/wᵀw)·(Q·w)·wᵀ
        for (size_t i = 0; i < n; i++) {
            double s = 0.0;
            for (size_t j = 0; j < n; j++)
                s += q[i * n + j] * w[j];
            qw[i] = s;
        }
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++)
                q[i * n + j] -= 2.0 / ww * qw[i] * w[j];
    }
    free(w);
    free(qw);
    return q;
}

/* Σ_{m<k} x[i,m]·s[m]·y[j,m] for row-major x and y with `x_cols` and `y_cols` columns: element
 * (i, j) of X·diag(s)·Yᵀ. */
static double scaled_dot(const double *x, size_t x_cols, size_t i, const double *s, const double *y, size_t y_cols,
                         size_t j, size_t k)
{
    double sum = 0.0;
    for (size_t m = 0; m < k; m++)
        sum += x[i * x_cols + m] * s[m] * y[j * y_cols + m];
    return sum;
}

/* A [n,n] = Q·diag(lambda)·Qᵀ. */
static double *compose(const double *q, const double *lambda, size_t n)
{
    double *a = calloc(n * n, sizeof(double));
    cr_assert(a);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            a[i * n + j] = scaled_dot(q, n, i, lambda, q, n, j, n);
    return a;
}

static int cmp_desc(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a < b) - (a > b);
}

/* max_i ‖A·v_i − λ_i·v_i‖ with the eigenvectors as rows. */
static double max_residual(const double *a, const double *values, const double *vectors, size_t n)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double *v = vectors + i * n;
        double r2 = 0.0;
        for (size_t row = 0; row < n; row++) {
            double s = 0.0;
            for (size_t c = 0; c < n; c++)
                s += a[row * n + c] * v[c];
            double r = s - values[i] * v[row];
            r2 += r * r;
        }
        if (sqrt(r2) > worst)
            worst = sqrt(r2);
    }
    return worst;
}

/* max |⟨v_i, v_j⟩ − δ_ij| over the rows of vectors [count,n]. */
static double orthonormality_error(const double *vectors, size_t count, size_t n)
{
    double worst = 0.0;
    for (size_t i = 0; i < count; i++)
        for (size_t j = 0; j < count; j++) {
            double s = 0.0;
            for (size_t c = 0; c < n; c++)
                s += vectors[i * n + c] * vectors[j * n + c];
            double e = fabs(s - (i == j ? 1.0 : 0.0));
            if (e > worst)
                worst = e;
        }
    return worst;
}

static double *copy_of(const double *a, size_t count)
{
    double *b = malloc(count * sizeof(double));
    cr_assert(b);
    memcpy(b, a, count * sizeof(double));
    return b;
}

/* ---- tg_sym_eigen ----------------------------------------------------------------------- */

/* Matrices whose decomposition is known exactly: the eigenvalues in descending order, the
 * eigenvectors as rows (sign: largest component > 0, the first on a tie). */
static const struct {
    const char *name;
    size_t n;
    double a[16], values[4], vectors[16];
    double tol;
} exact[] = {
    /* λ = 3 with (1,1)/√2, λ = 1 with (1,−1)/√2; √½ = 0.7071067811865476 */
    {"[[2,1],[1,2]]", 2, {2, 1, 1, 2}, {3, 1},
     {0.70710678118654752, 0.70710678118654752, 0.70710678118654752, -0.70710678118654752}, 1e-15},
    {"1x1", 1, {-4.25}, {-4.25}, {1}, 0},
    {"diagonal: sorted, with unit axes", 4, {1, 0, 0, 0, 0, -3, 0, 0, 0, 0, 7, 0, 0, 0, 0, 2}, {7, 2, 1, -3},
     {0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0}, 0},
    {"zero 3x3: the unit axes", 3, {0}, {0, 0, 0}, {1, 0, 0, 0, 1, 0, 0, 0, 1}, 0},
};

TABLE_TEST(linalg, eigen_exact_cases, exact)
{
    const char *name = exact[*row].name;
    size_t n = exact[*row].n;
    double a[16], values[4], vectors[16];
    memcpy(a, exact[*row].a, sizeof a);
    cr_assert_eq(tg_sym_eigen(a, n, values, vectors, NULL), TG_OK, "%s", name);
    for (size_t i = 0; i < n; i++)
        cr_assert(fabs(values[i] - exact[*row].values[i]) <= exact[*row].tol, "%s: λ%zu = %.17g, want %.17g", name, i,
                  values[i], exact[*row].values[i]);
    for (size_t k = 0; k < n * n; k++)
        cr_assert(fabs(vectors[k] - exact[*row].vectors[k]) <= exact[*row].tol, "%s: vector %zu component %zu = %.17g",
                  name, k / n, k % n, vectors[k]);
}

Test(linalg, eigen_known_spectrum_distinct)
{
    enum { N = 8 };
    const double lambda[N] = {5.0, -2.0, 3.0, 1e-3, 2.5, 0.0, -0.5, 1.0};
    double *q = householder_product(N, 4, 11);
    double *a = compose(q, lambda, N);
    double *work = copy_of(a, N * N);
    double values[N], vectors[N * N];
    int sweeps = 0;
    tg_error err;
    cr_assert_eq(tg_sym_eigen_sweeps(work, N, values, vectors, TG_EIGEN_MAX_SWEEPS, &sweeps, &err),
                 TG_OK, "%s", err.msg);
    cr_assert(sweeps >= 2 && sweeps < 15, "sweeps %d", sweeps);

    double sorted[N];
    memcpy(sorted, lambda, sizeof sorted);
    qsort(sorted, N, sizeof(double), cmp_desc);
    for (size_t i = 0; i < N; i++)
        cr_assert(fabs(values[i] - sorted[i]) < 1e-14 * 5.0, "λ%zu = %.17g, want %g", i, values[i],
                  sorted[i]);
    cr_assert_lt(max_residual(a, values, vectors, N), 1e-13);
    cr_assert_lt(orthonormality_error(vectors, N, N), 1e-14);

    /* Distinct eigenvalues: each vector is ± the column of Q that carries its λ. */
    for (size_t i = 0; i < N; i++) {
        size_t m = 0;
        while (lambda[m] != sorted[i])
            m++;
        double dot = 0.0;
        for (size_t c = 0; c < N; c++)
            dot += vectors[i * N + c] * q[c * N + m];
        cr_assert(fabs(fabs(dot) - 1.0) < 1e-13, "|v%zu·q%zu| = %.17g", i, m, fabs(dot));
        /* sign convention: the largest component is positive */
        size_t big = 0;
        for (size_t c = 1; c < N; c++)
            if (fabs(vectors[i * N + c]) > fabs(vectors[i * N + big]))
                big = c;
        cr_assert_gt(vectors[i * N + big], 0.0);
    }
    free(q);
    free(a);
    free(work);
}

Test(linalg, eigen_repeated_eigenvalues)
{
    enum { N = 6 };
    const double lambda[N] = {2.0, -1.0, 2.0, 2.0, -1.0, 0.5};
    double *q = householder_product(N, 3, 5);
    double *a = compose(q, lambda, N);
    double *work = copy_of(a, N * N);
    double values[N], vectors[N * N];
    cr_assert_eq(tg_sym_eigen(work, N, values, vectors, NULL), TG_OK);
    const double sorted[N] = {2.0, 2.0, 2.0, 0.5, -1.0, -1.0};
    for (size_t i = 0; i < N; i++)
        cr_assert(fabs(values[i] - sorted[i]) < 1e-14, "λ%zu = %.17g", i, values[i]);
    cr_assert_lt(max_residual(a, values, vectors, N), 1e-13);
    cr_assert_lt(orthonormality_error(vectors, N, N), 1e-14);

    /* The vectors of the triple eigenvalue are not unique, but the projector onto their span is:
     * Σ_{i<3} v_i v_iᵀ must equal Σ_{m: λ_m = 2} q_m q_mᵀ. */
    for (size_t r = 0; r < N; r++)
        for (size_t c = 0; c < N; c++) {
            double got = 0.0, want = 0.0;
            for (size_t i = 0; i < 3; i++)
                got += vectors[i * N + r] * vectors[i * N + c];
            for (size_t m = 0; m < N; m++)
                if (lambda[m] == 2.0)
                    want += q[r * N + m] * q[c * N + m];
            cr_assert(fabs(got - want) < 1e-13, "projector [%zu,%zu] %g vs %g", r, c, got, want);
        }
    free(q);
    free(a);
    free(work);
}

Test(linalg, eigen_reads_only_upper_triangle)
{
    /* Garbage below the diagonal must not matter. */
    double a[9] = {4, 1, 0, 99, 3, 1, -7, 1e30, 2};
    double b[9] = {4, 1, 0, 1, 3, 1, 0, 1, 2};
    double va[3], vb[3];
    cr_assert_eq(tg_sym_eigen(a, 3, va, NULL, NULL), TG_OK);
    cr_assert_eq(tg_sym_eigen(b, 3, vb, NULL, NULL), TG_OK);
    /* trace 9, and this tridiagonal matrix has eigenvalues 3 and 3 ± √3 */
    cr_assert_float_eq(va[0], 3.0 + sqrt(3.0), 1e-14);
    cr_assert_float_eq(va[1], 3.0, 1e-14);
    cr_assert_float_eq(va[2], 3.0 - sqrt(3.0), 1e-14);
    for (int i = 0; i < 3; i++)
        cr_assert_float_eq(va[i], vb[i], 1e-15);
}

Test(linalg, eigen_extreme_scales)
{
    /* Entries near the double limits: the power-of-two scaling keeps the rotations finite. */
    enum { N = 5 };
    const double lambda[N] = {3e300, -1e300, 2e299, 1e298, 5e300};
    double *q = householder_product(N, 2, 3);
    double *a = compose(q, lambda, N);
    double values[N];
    cr_assert_eq(tg_sym_eigen(a, N, values, NULL, NULL), TG_OK);
    const double sorted[N] = {5e300, 3e300, 2e299, 1e298, -1e300};
    for (size_t i = 0; i < N; i++)
        cr_assert(fabs(values[i] - sorted[i]) < 1e-13 * 5e300, "λ%zu = %g", i, values[i]);
    free(q);
    free(a);

    double tiny[4] = {3e-300, 1e-300, 1e-300, 3e-300}, tv[2];
    cr_assert_eq(tg_sym_eigen(tiny, 2, tv, NULL, NULL), TG_OK);
    cr_assert_float_eq(tv[0], 4e-300, 1e-313);
    cr_assert_float_eq(tv[1], 2e-300, 1e-313);
}

Test(linalg, eigen_random_symmetric_64_and_200)
{
    const size_t sizes[2] = {64, 200};
    for (int s = 0; s < 2; s++) {
        size_t n = sizes[s];
        double *a = malloc(n * n * sizeof(double));
        double *values = malloc(n * sizeof(double));
        double *vectors = malloc(n * n * sizeof(double));
        cr_assert(a && values && vectors);
        tg_rng rng;
        tg_rng_seed(&rng, 42 + n, 1);
        double trace = 0.0, fro2 = 0.0;
        for (size_t i = 0; i < n; i++)
            for (size_t j = i; j < n; j++) {
                double x = tg_rng_normal(&rng);
                a[i * n + j] = a[j * n + i] = x;
                trace += i == j ? x : 0.0;
                fro2 += (i == j ? 1.0 : 2.0) * x * x;
            }
        double *work = copy_of(a, n * n);
        int sweeps = 0;
        tg_error err;
        cr_assert_eq(tg_sym_eigen_sweeps(work, n, values, vectors, TG_EIGEN_MAX_SWEEPS, &sweeps, &err),
                     TG_OK, "n=%zu: %s", n, err.msg);
        cr_assert_lt(sweeps, 20, "n=%zu sweeps %d", n, sweeps);
        double sum = 0.0, sum2 = 0.0;
        for (size_t i = 0; i < n; i++) {
            sum += values[i];
            sum2 += values[i] * values[i];
            if (i)
                cr_assert_geq(values[i - 1], values[i]);
        }
        /* invariants: trace = Σλ, ‖A‖_F² = Σλ² */
        cr_assert(fabs(sum - trace) < 1e-11 * n, "n=%zu trace %g vs %g", n, sum, trace);
        cr_assert(fabs(sum2 - fro2) < 1e-11 * fro2, "n=%zu fro %g vs %g", n, sum2, fro2);
        double scale = fabs(values[0]) > fabs(values[n - 1]) ? fabs(values[0]) : fabs(values[n - 1]);
        cr_assert_lt(max_residual(a, values, vectors, n), 1e-13 * scale * sqrt((double)n));
        cr_assert_lt(orthonormality_error(vectors, n, n), 1e-13);
        free(a);
        free(values);
        free(vectors);
        free(work);
    }
}

Test(linalg, eigen_errors)
{
    tg_error err;
    double a[4] = {1, NAN, NAN, 1}, v[2];
    cr_assert_eq(tg_sym_eigen(a, 2, v, NULL, &err), TG_ERR_NUMERIC);
    cr_assert(strstr(err.msg, "a[0,1]"), "%s", err.msg);
    double b[4] = {1, 0, 0, INFINITY};
    cr_assert_eq(tg_sym_eigen(b, 2, v, NULL, &err), TG_ERR_NUMERIC);
    cr_assert_eq(tg_sym_eigen(b, 0, v, NULL, &err), TG_ERR_ARG);
    cr_assert_eq(tg_sym_eigen(NULL, 2, v, NULL, &err), TG_ERR_ARG);
    cr_assert_eq(tg_sym_eigen(b, 2, NULL, NULL, NULL), TG_ERR_ARG);

    /* One sweep is not enough for a generic 8×8 matrix: a non-converged result is an error. */
    enum { N = 8 };
    const double lambda[N] = {1, 2, 3, 4, 5, 6, 7, 8};
    double *q = householder_product(N, 4, 9);
    double *c = compose(q, lambda, N);
    double values[N];
    int sweeps = 0;
    cr_assert_eq(tg_sym_eigen_sweeps(c, N, values, NULL, 1, &sweeps, &err), TG_ERR_NUMERIC);
    cr_assert(strstr(err.msg, "not converged"), "%s", err.msg);
    cr_assert_eq(sweeps, 1);
    free(q);
    free(c);
}

/* ---- tg_sym_eigenvalues: against the known spectrum and against Jacobi (its twin) ---------- */

/* Known spectra A = Q·diag(λ)·Qᵀ (repeated, zero, negative, graded values) and random symmetric
 * matrices: the values agree with the constructed ones and with tg_sym_eigen's to 1e-12·max|λ|. */
Test(linalg, eigenvalues_alone_match_the_spectrum_and_jacobi)
{
    const size_t sizes[] = {1, 2, 3, 7, 64, 150};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        size_t n = sizes[s];
        double *lambda = malloc(n * sizeof(double)), *values = malloc(n * sizeof(double));
        double *twin = malloc(n * sizeof(double));
        cr_assert(lambda && values && twin);
        for (int kind = 0; kind < 3; kind++) {
            for (size_t i = 0; i < n; i++) /* graded with repeats and a zero; clustered; random sign */
                lambda[i] = kind == 0 ? (double)(i % 5) * pow(10.0, -(double)(i % 3)) - (i == 1 ? 3.0 : 0.0)
                          : kind == 1 ? 1.0 + 1e-9 * (double)i : (i % 2 ? -1.0 : 1.0) * (double)(i + 1);
            double *q = householder_product(n, 3, 17 + n + (uint64_t)kind);
            double *a = compose(q, lambda, n), *b = copy_of(a, n * n);
            tg_error err;
            cr_assert_eq(tg_sym_eigenvalues(a, n, values, &err), TG_OK, "n=%zu: %s", n, err.msg);
            cr_assert_eq(tg_sym_eigen(b, n, twin, NULL, &err), TG_OK, "n=%zu: %s", n, err.msg);
            qsort(lambda, n, sizeof(double), cmp_desc);
            double scale = 0.0;
            for (size_t i = 0; i < n; i++)
                scale = fmax(scale, fabs(lambda[i]));
            for (size_t i = 0; i < n; i++) {
                cr_assert(fabs(values[i] - lambda[i]) <= 1e-12 * scale + 1e-300, "n=%zu kind %d λ_%zu: %.17g, built %.17g",
                          n, kind, i, values[i], lambda[i]);
                cr_assert(fabs(values[i] - twin[i]) <= 1e-12 * scale + 1e-300, "n=%zu kind %d λ_%zu: %.17g, Jacobi %.17g",
                          n, kind, i, values[i], twin[i]);
            }
            free(q), free(a), free(b);
        }
        free(lambda), free(values), free(twin);
    }
}

Test(linalg, eigenvalues_alone_of_zero_diagonal_and_bad_input)
{
    double zero[9] = {0}, diag[9] = {2, 0, 0, 0, -1, 0, 0, 0, 2}, v[3];
    cr_assert_eq(tg_sym_eigenvalues(zero, 3, v, NULL), TG_OK);
    cr_assert(v[0] == 0 && v[1] == 0 && v[2] == 0);
    cr_assert_eq(tg_sym_eigenvalues(diag, 3, v, NULL), TG_OK);
    cr_assert(fabs(v[0] - 2) < 1e-15 && fabs(v[1] - 2) < 1e-15 && fabs(v[2] + 1) < 1e-15, "%g %g %g", v[0], v[1], v[2]);
    double bad[4] = {1, NAN, 0, 1};
    tg_error err;
    cr_assert_eq(tg_sym_eigenvalues(bad, 2, v, &err), TG_ERR_NUMERIC);
    cr_assert_eq(tg_sym_eigenvalues(bad, 0, v, &err), TG_ERR_ARG);
    cr_assert_eq(tg_sym_eigenvalues(NULL, 2, v, &err), TG_ERR_ARG);
}

/* ---- tg_svd_wide ------------------------------------------------------------------------ */

/* J [h,d] = U·diag(σ)·V_hᵀ in float, U [h,h] and V [d,d] from Householder products (V_h: the
 * first h columns of V).  Returns J; *v_out receives V (caller frees). */
static float *make_wide(size_t h, size_t d, const double *sigma, uint64_t seed, double **v_out)
{
    double *u = householder_product(h, 3, seed);
    double *v = householder_product(d, 4, seed + 100);
    float *j = malloc(h * d * sizeof(float));
    cr_assert(j);
    for (size_t r = 0; r < h; r++)
        for (size_t c = 0; c < d; c++)
            j[r * d + c] = (float)scaled_dot(u, h, r, sigma, v, d, c, h);
    free(u);
    *v_out = v;
    return j;
}

/* ‖J·x‖ for x [d] float. */
static double apply_norm(const float *j, size_t h, size_t d, const float *x)
{
    double n2 = 0.0;
    for (size_t r = 0; r < h; r++) {
        double s = 0.0;
        for (size_t c = 0; c < d; c++)
            s += (double)j[r * d + c] * x[c];
        n2 += s * s;
    }
    return sqrt(n2);
}

/* orthonormality_error of float rows, in double. */
static double float_rows_orthonormality(const float *rows, size_t count, size_t d)
{
    double *wide = malloc(count * d * sizeof(double));
    cr_assert(wide);
    for (size_t k = 0; k < count * d; k++)
        wide[k] = rows[k];
    double e = orthonormality_error(wide, count, d);
    free(wide);
    return e;
}

Test(linalg, svd_recovers_known_factors)
{
    enum { H = 6, D = 20, K = 4 };
    const double sigma_true[H] = {10.0, 5.0, 3.0, 1.0, 0.5, 0.1};
    double *v;
    float *j = make_wide(H, D, sigma_true, 21, &v);
    float sigma[H], right[K * D];
    tg_error err;
    cr_assert_eq(tg_svd_wide(j, H, D, sigma, right, K, &err), TG_OK, "%s", err.msg);
    for (size_t i = 0; i < H; i++)
        cr_assert(fabs(sigma[i] - sigma_true[i]) < 1e-5 * 10.0, "σ%zu = %.9g", i, (double)sigma[i]);
    for (size_t i = 0; i < K; i++) {
        double dot = 0.0;
        for (size_t c = 0; c < D; c++)
            dot += right[i * D + c] * v[c * D + i];
        cr_assert(fabs(fabs(dot) - 1.0) < 1e-5, "|v%zu·V%zu| = %.9g", i, i, fabs(dot));
        cr_assert(fabs(apply_norm(j, H, D, right + i * D) - sigma_true[i]) < 1e-5 * 10.0);
    }
    cr_assert_lt(float_rows_orthonormality(right, K, D), 1e-6);
    free(v);
    free(j);
}

Test(linalg, svd_rank_deficient)
{
    enum { H = 5, D = 12 };
    const double sigma_true[H] = {4.0, 0.0, 2.0, 0.0, 0.0};
    double *v;
    float *j = make_wide(H, D, sigma_true, 33, &v);
    float sigma[H], right[H * D];
    tg_error err;
    cr_assert_eq(tg_svd_wide(j, H, D, sigma, right, H, &err), TG_OK, "%s", err.msg);
    cr_assert(fabs(sigma[0] - 4.0) < 1e-5);
    cr_assert(fabs(sigma[1] - 2.0) < 1e-5);
    for (size_t i = 2; i < H; i++) {
        cr_assert(isfinite(sigma[i]));
        cr_assert_lt(sigma[i], 1e-5, "σ%zu = %g", i, (double)sigma[i]);
    }
    for (size_t i = 0; i < H * D; i++)
        cr_assert(isfinite(right[i]));
    /* all vectors unit and orthogonal; the ones of σ ≈ 0 lie in J's null space */
    cr_assert_lt(float_rows_orthonormality(right, H, D), 1e-6);
    for (size_t i = 2; i < H; i++)
        cr_assert_lt(apply_norm(j, H, D, right + i * D), 1e-5);
    /* the two determined ones match V's columns 0 and 2 */
    for (size_t i = 0; i < 2; i++) {
        size_t col = i == 0 ? 0 : 2;
        double dot = 0.0;
        for (size_t c = 0; c < D; c++)
            dot += right[i * D + c] * v[c * D + col];
        cr_assert(fabs(fabs(dot) - 1.0) < 1e-5, "|v%zu·V%zu| = %.9g", i, col, fabs(dot));
    }
    free(v);
    free(j);
}

Test(linalg, svd_zero_matrix_gives_orthonormal_axes)
{
    enum { H = 3, D = 4 };
    float j[H * D] = {0}, sigma[H], right[H * D];
    cr_assert_eq(tg_svd_wide(j, H, D, sigma, right, H, NULL), TG_OK);
    for (size_t i = 0; i < H; i++)
        cr_assert_eq(sigma[i], 0.0f);
    cr_assert_lt(float_rows_orthonormality(right, H, D), 1e-7);
}

Test(linalg, svd_single_row_and_square)
{
    /* One row: σ = ‖row‖, v = row/‖row‖ (sign: largest component of u = (1) positive). */
    float row[4] = {3, 0, -4, 0}, s1, v1[4];
    cr_assert_eq(tg_svd_wide(row, 1, 4, &s1, v1, 1, NULL), TG_OK);
    cr_assert_float_eq(s1, 5.0f, 1e-6);
    const float want[4] = {0.6f, 0.0f, -0.8f, 0.0f};
    for (int c = 0; c < 4; c++)
        cr_assert_float_eq(v1[c], want[c], 1e-7);

    /* Square diagonal: the singular values are the |diagonal| entries. */
    float sq[9] = {0, 0, 0, 0, -2, 0, 0, 0, 0.5f}, s3[3];
    cr_assert_eq(tg_svd_wide(sq, 3, 3, s3, NULL, 0, NULL), TG_OK);
    cr_assert_float_eq(s3[0], 2.0f, 1e-7);
    cr_assert_float_eq(s3[1], 0.5f, 1e-7);
    cr_assert_float_eq(s3[2], 0.0f, 1e-7);
}

Test(linalg, svd_jacobian_sized_random)
{
    /* H = 64, D = 784 as in the CAE: Σσ² = ‖J‖_F², ‖J·v_k‖ = σ_k, v orthonormal. */
    enum { H = 64, D = 784, K = 8 };
    float *j = malloc(H * D * sizeof(float));
    float sigma[H], *right = malloc(K * D * sizeof(float));
    cr_assert(j && right);
    tg_rng rng;
    tg_rng_seed(&rng, 1234, 3);
    tg_rng_fill_normal(&rng, j, H * D, 0.0f, 0.1f);
    double fro2 = 0.0;
    for (size_t i = 0; i < H * D; i++)
        fro2 += (double)j[i] * j[i];
    tg_error err;
    cr_assert_eq(tg_svd_wide(j, H, D, sigma, right, K, &err), TG_OK, "%s", err.msg);
    double sum2 = 0.0;
    for (size_t i = 0; i < H; i++) {
        sum2 += (double)sigma[i] * sigma[i];
        if (i)
            cr_assert_geq(sigma[i - 1], sigma[i]);
    }
    cr_assert(fabs(sum2 - fro2) < 1e-5 * fro2, "Σσ² %g vs ‖J‖² %g", sum2, fro2);
    for (size_t k = 0; k < K; k++)
        cr_assert(fabs(apply_norm(j, H, D, right + k * D) - sigma[k]) < 1e-5 * sigma[0]);
    cr_assert_lt(float_rows_orthonormality(right, K, D), 1e-6);
    free(j);
    free(right);
}

Test(linalg, svd_errors)
{
    float j[6] = {1, 2, 3, 4, 5, 6}, s[3], r[18];
    tg_error err;
    cr_assert_eq(tg_svd_wide(j, 3, 2, s, NULL, 0, &err), TG_ERR_SHAPE);
    cr_assert(strstr(err.msg, "[3,2]"), "%s", err.msg);
    cr_assert_eq(tg_svd_wide(j, 2, 3, s, r, 3, &err), TG_ERR_ARG);
    cr_assert_eq(tg_svd_wide(j, 0, 3, s, NULL, 0, &err), TG_ERR_ARG);
    cr_assert_eq(tg_svd_wide(NULL, 2, 3, s, NULL, 0, &err), TG_ERR_ARG);
    j[4] = NAN;
    cr_assert_eq(tg_svd_wide(j, 2, 3, s, r, 2, &err), TG_ERR_NUMERIC);
    cr_assert(strstr(err.msg, "J[1,1]"), "%s", err.msg);
}
