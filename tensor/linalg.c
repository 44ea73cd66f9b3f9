/* tensor/linalg.c — cyclic Jacobi eigen-solver, an eigenvalues-only solver for large matrices,
 * and the wide-matrix SVD built on them.
 *
 * Jacobi in one paragraph: for an off-diagonal pair (p,q) choose the plane rotation R(p,q,θ)
 * that zeroes a_pq in A' = Rᵀ·A·R.  A' keeps A's eigenvalues and the off-diagonal mass drops by
 * 2·a_pq²; sweeping over all pairs again and again drives A to a diagonal matrix (quadratic
 * convergence at the end), and the product of the rotations holds the eigenvectors.  Slow
 * compared with tridiagonalization + QR, but short, robust and accurate, which is what an
 * analysis tool on 64×64 Gram matrices needs; spectra of 1000-unit encoders (784×784 Gram
 * matrices, a hundred of them) take tg_sym_eigenvalues instead. */
#include "linalg.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- tg_sym_eigen ---------------------------------------------------------------------- */

/* Whether a_pq can be left alone: tiny next to both diagonal entries (the relative test keeps
 * small eigenvalues accurate), or tiny next to the whole (already scaled to max|a| < 1) matrix,
 * which ends the work on rows whose diagonal is zero. */
static int off_diagonal_negligible(double apq, double app, double aqq)
{
    const double absolute_floor = DBL_EPSILON * DBL_EPSILON;
    double m = fabs(apq);
    return m <= DBL_EPSILON * sqrt(fabs(app)) * sqrt(fabs(aqq)) || m <= absolute_floor;
}

/* Applies the rotation that zeroes a[p,q] (p < q) to the full symmetric matrix a [n,n] and,
 * if v is not NULL, to the eigenvector rows v [n,n].
 *
 * With t = tan θ the root of t² + 2τt − 1 = 0 of smaller magnitude, τ = (a_qq − a_pp)/(2a_pq)
 * (the smaller root keeps |θ| <= π/4, which is what makes the iteration converge), c = cos θ,
 * s = sin θ, and R = I except R_pp = R_qq = c, R_pq = s, R_qp = −s:
 *     a'_pp = a_pp − t·a_pq,  a'_qq = a_qq + t·a_pq,  a'_pq = 0,
 *     a'_kp = c·a_kp − s·a_kq,  a'_kq = s·a_kp + c·a_kq   (k ≠ p,q; rows mirror columns)
 * The accumulated V ← V·R changes columns p and q of V the same way; we store Vᵀ (eigenvectors
 * as rows), so those columns are contiguous rows here. */
static void jacobi_rotate(double *a, double *v, size_t n, size_t p, size_t q)
{
    double apq = a[p * n + q];
    double app = a[p * n + p];
    double aqq = a[q * n + q];
    double tau = (aqq - app) / (2.0 * apq);
    /* hypot(1, τ) instead of sqrt(1 + τ²): no overflow for huge τ, t then ≈ 1/(2τ). */
    double t = (tau >= 0.0 ? 1.0 : -1.0) / (fabs(tau) + hypot(1.0, tau));
    double c = 1.0 / sqrt(1.0 + t * t);
    double s = t * c;

    a[p * n + p] = app - t * apq;
    a[q * n + q] = aqq + t * apq;
    a[p * n + q] = 0.0;
    a[q * n + p] = 0.0;
    for (size_t k = 0; k < n; k++) {
        if (k == p || k == q)
            continue;
        double akp = a[p * n + k];
        double akq = a[q * n + k];
        double new_kp = c * akp - s * akq;
        double new_kq = s * akp + c * akq;
        a[p * n + k] = new_kp;
        a[k * n + p] = new_kp;
        a[q * n + k] = new_kq;
        a[k * n + q] = new_kq;
    }
    if (v) {
        double *vp = v + p * n, *vq = v + q * n;
        for (size_t k = 0; k < n; k++) {
            double x = vp[k], y = vq[k];
            vp[k] = c * x - s * y;
            vq[k] = s * x + c * y;
        }
    }
}

/* Sorts eigenvalues descending, carrying the eigenvector rows along (selection sort with row
 * swaps: O(n²) work, no extra memory, and n is small). */
static void sort_descending(double *values, double *vectors, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        size_t best = i;
        for (size_t j = i + 1; j < n; j++)
            if (values[j] > values[best])
                best = j;
        if (best == i)
            continue;
        double tmp = values[i];
        values[i] = values[best];
        values[best] = tmp;
        if (vectors) {
            double *ri = vectors + i * n, *rb = vectors + best * n;
            for (size_t k = 0; k < n; k++) {
                double x = ri[k];
                ri[k] = rb[k];
                rb[k] = x;
            }
        }
    }
}

/* Makes the largest-magnitude component (the first on a tie) of each row positive, so the
 * output does not depend on which of ±v the rotations happened to produce. */
static void fix_signs(double *vectors, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double *row = vectors + i * n;
        size_t big = 0;
        for (size_t k = 1; k < n; k++)
            if (fabs(row[k]) > fabs(row[big]))
                big = k;
        if (row[big] < 0.0)
            for (size_t k = 0; k < n; k++)
                row[k] = -row[k];
    }
}

int tg_sym_eigen_sweeps(double *a, size_t n, double *eigenvalues, double *eigenvectors,
                        int max_sweeps, int *sweeps_used, tg_error *err)
{
    if (sweeps_used)
        *sweeps_used = 0;
    if (!a || !eigenvalues)
        return tg_error_set(err, TG_ERR_ARG, "sym_eigen: NULL %s", !a ? "matrix" : "eigenvalues");
    if (n == 0)
        return tg_error_set(err, TG_ERR_ARG, "sym_eigen: n = 0");
    if (n > SIZE_MAX / sizeof(double) / n)
        return tg_error_set(err, TG_ERR_ARG, "sym_eigen: n = %zu: n*n overflows", n);
    if (max_sweeps < 1)
        return tg_error_set(err, TG_ERR_ARG, "sym_eigen: max_sweeps = %d", max_sweeps);

    /* Mirror the upper triangle (the only part we promise to read) and find max|a|. */
    double max_abs = 0.0;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i; j < n; j++) {
            double x = a[i * n + j];
            if (!isfinite(x))
                return tg_error_set(err, TG_ERR_NUMERIC, "sym_eigen: a[%zu,%zu] = %g is not finite",
                                    i, j, x);
            a[j * n + i] = x;
            if (fabs(x) > max_abs)
                max_abs = fabs(x);
        }
    }

    if (eigenvectors) {
        memset(eigenvectors, 0, n * n * sizeof(double));
        for (size_t i = 0; i < n; i++)
            eigenvectors[i * n + i] = 1.0;
    }

    /* Scale by a power of two (exact) so that max|a| lies in [0.5, 1): no overflow in the
     * rotation formulas, and the absolute floor in off_diagonal_negligible is meaningful. */
    int exponent = 0;
    if (max_abs > 0.0) {
        frexp(max_abs, &exponent);
        for (size_t i = 0; i < n * n; i++)
            a[i] = ldexp(a[i], -exponent);

        int converged = 0;
        for (int sweep = 1; sweep <= max_sweeps && !converged; sweep++) {
            size_t rotations = 0;
            for (size_t p = 0; p + 1 < n; p++) {
                for (size_t q = p + 1; q < n; q++) {
                    if (off_diagonal_negligible(a[p * n + q], a[p * n + p], a[q * n + q]))
                        continue;
                    jacobi_rotate(a, eigenvectors, n, p, q);
                    rotations++;
                }
            }
            if (sweeps_used)
                *sweeps_used = sweep;
            converged = rotations == 0;
        }
        if (!converged) {
            double off2 = 0.0;
            for (size_t p = 0; p < n; p++)
                for (size_t q = p + 1; q < n; q++)
                    off2 += a[p * n + q] * a[p * n + q];
            return tg_error_set(err, TG_ERR_NUMERIC,
                                "sym_eigen: n = %zu: not converged after %d sweeps "
                                "(off-diagonal norm %g of max|a| = %g)",
                                n, max_sweeps, ldexp(sqrt(2.0 * off2), exponent), max_abs);
        }
    } else if (sweeps_used) {
        *sweeps_used = 1; /* the zero matrix is diagonal: one (empty) sweep to see it */
    }

    for (size_t i = 0; i < n; i++)
        eigenvalues[i] = ldexp(a[i * n + i], exponent);
    sort_descending(eigenvalues, eigenvectors, n);
    if (eigenvectors)
        fix_signs(eigenvectors, n);
    return TG_OK;
}

int tg_sym_eigen(double *a, size_t n, double *eigenvalues, double *eigenvectors, tg_error *err)
{
    return tg_sym_eigen_sweeps(a, n, eigenvalues, eigenvectors, TG_EIGEN_MAX_SWEEPS, NULL, err);
}

/* ---- tg_sym_eigenvalues ------------------------------------------------------------------ */

/* Householder reduction of the symmetric a [n,n] (both triangles filled, destroyed) to the
 * tridiagonal matrix with diagonal d [n] and off-diagonal e [n-1] that has its eigenvalues.
 * Step k reflects the part of column k below the diagonal onto its first entry, with the unit
 * vector v of H = I − 2·v·vᵀ; the trailing block B becomes H·B·H = B − 2(v·wᵀ + w·vᵀ), where
 * p = B·v and w = p − (vᵀp)·v.  p [n] is scratch. */
static void tridiagonalize(double *a, size_t n, double *d, double *e, double *v, double *p)
{
    for (size_t k = 0; k + 2 < n; k++) {
        size_t m = n - k - 1; /* the trailing block's order */
        const double *col = a + (k + 1) * n + k;
        double norm2x = 0.0;
        for (size_t i = 0; i < m; i++)
            norm2x += col[i * n] * col[i * n];
        d[k] = a[k * n + k];
        if (norm2x == 0.0) {
            e[k] = 0.0;
            continue;
        }
        double normx = sqrt(norm2x), x0 = col[0];
        double alpha = x0 > 0 ? -normx : normx; /* the sign that avoids cancellation in v0 */
        double vnorm = sqrt(2.0 * normx * (normx + fabs(x0)));
        for (size_t i = 0; i < m; i++)
            v[i] = col[i * n] / vnorm;
        v[0] = (x0 - alpha) / vnorm;
        e[k] = alpha;
        double *b = a + (k + 1) * n + (k + 1);
        double vp = 0.0;
        for (size_t i = 0; i < m; i++) {
            double s = 0.0;
            for (size_t j = 0; j < m; j++)
                s += b[i * n + j] * v[j];
            p[i] = s;
            vp += v[i] * s;
        }
        for (size_t i = 0; i < m; i++)
            p[i] -= vp * v[i]; /* p is now w */
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < m; j++)
                b[i * n + j] -= 2.0 * (v[i] * p[j] + p[i] * v[j]);
    }
    if (n >= 2) {
        d[n - 2] = a[(n - 2) * n + (n - 2)];
        e[n - 2] = a[(n - 1) * n + (n - 2)];
    }
    d[n - 1] = a[(n - 1) * n + (n - 1)];
}

/* How many eigenvalues of the tridiagonal (d, e) lie below x: the number of negative pivots of
 * the LDLᵀ factorization of T − x·I (Sylvester's law of inertia).  A zero pivot is nudged to a
 * tiny negative number, which counts the eigenvalue at x as below it by rounding only. */
static size_t count_below(const double *d, const double *e, size_t n, double x, double tiny)
{
    size_t count = 0;
    double q = d[0] - x;
    for (size_t i = 0;; i++) {
        if (q == 0.0)
            q = -tiny;
        count += q < 0.0;
        if (i + 1 == n)
            return count;
        q = d[i + 1] - x - e[i] * e[i] / q;
    }
}

int tg_sym_eigenvalues(double *a, size_t n, double *eigenvalues, tg_error *err)
{
    if (!a || !eigenvalues)
        return tg_error_set(err, TG_ERR_ARG, "sym_eigenvalues: NULL %s", !a ? "matrix" : "eigenvalues");
    if (n == 0 || n > SIZE_MAX / sizeof(double) / n)
        return tg_error_set(err, TG_ERR_ARG, "sym_eigenvalues: n = %zu", n);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i; j < n; j++) {
            if (!isfinite(a[i * n + j]))
                return tg_error_set(err, TG_ERR_NUMERIC, "sym_eigenvalues: a[%zu,%zu] = %g is not finite", i, j,
                                    a[i * n + j]);
            a[j * n + i] = a[i * n + j];
        }
    double *scratch = malloc(4 * n * sizeof(double));
    if (!scratch)
        return tg_error_set(err, TG_ERR_NOMEM, "sym_eigenvalues: n = %zu: out of memory", n);
    double *d = scratch, *e = d + n, *v = e + n, *p = v + n;
    tridiagonalize(a, n, d, e, v, p);
    /* Gershgorin: every eigenvalue lies in [lo, hi]. */
    double lo = d[0], hi = d[0];
    for (size_t i = 0; i < n; i++) {
        double r = (i > 0 ? fabs(e[i - 1]) : 0.0) + (i + 1 < n ? fabs(e[i]) : 0.0);
        lo = fmin(lo, d[i] - r);
        hi = fmax(hi, d[i] + r);
    }
    double scale = fmax(fabs(lo), fabs(hi)), tiny = DBL_MIN + DBL_EPSILON * scale * DBL_EPSILON;
    /* The j-th largest eigenvalue by bisection: the point where n − j eigenvalues lie below. */
    for (size_t j = 0; j < n; j++) {
        double l = lo, h = hi;
        for (int it = 0; it < 200 && h - l > 2.0 * DBL_EPSILON * scale; it++) {
            double mid = 0.5 * (l + h);
            if (mid <= l || mid >= h)
                break;
            if (count_below(d, e, n, mid, tiny) >= n - j)
                h = mid;
            else
                l = mid;
        }
        eigenvalues[j] = 0.5 * (l + h);
    }
    free(scratch);
    return TG_OK;
}

/* ---- tg_svd_wide ----------------------------------------------------------------------- */

/* Removes from v [d] its components along the unit rows basis[0..count) [count,d]
 * (modified Gram-Schmidt: each projection uses the already-reduced v). */
static void orthogonalize(double *v, const double *basis, size_t count, size_t d)
{
    for (size_t i = 0; i < count; i++) {
        const double *b = basis + i * d;
        double dot = 0.0;
        for (size_t c = 0; c < d; c++)
            dot += v[c] * b[c];
        for (size_t c = 0; c < d; c++)
            v[c] -= dot * b[c];
    }
}

static double norm2(const double *v, size_t d)
{
    double s = 0.0;
    for (size_t c = 0; c < d; c++)
        s += v[c] * v[c];
    return sqrt(s);
}

/* A unit vector orthogonal to basis[0..count) (count < d): the coordinate axis that sticks out
 * of their span the most (residual² of e_a is 1 − Σ_i basis[i][a]², which sums to d − count
 * over the axes, so the best is at least 1/d — never zero), orthogonalized twice so rounding
 * leaves no trace of the basis.  Written into v [d]. */
static void complement_vector(double *v, const double *basis, size_t count, size_t d)
{
    size_t best_axis = 0;
    double best_residual = -1.0;
    for (size_t axis = 0; axis < d; axis++) {
        double inside = 0.0;
        for (size_t i = 0; i < count; i++)
            inside += basis[i * d + axis] * basis[i * d + axis];
        if (1.0 - inside > best_residual) {
            best_residual = 1.0 - inside;
            best_axis = axis;
        }
    }
    memset(v, 0, d * sizeof(double));
    v[best_axis] = 1.0;
    orthogonalize(v, basis, count, d);
    orthogonalize(v, basis, count, d);
    double norm = norm2(v, d);
    for (size_t c = 0; c < d; c++)
        v[c] /= norm;
}

/* Upper triangle of G = J·Jᵀ: gram[i,j] = Σ_c J[i,c]·J[j,c] for j >= i, J [h,d] float.
 * Products of floats are exact in double, only the sums round.  Four dot products run side by
 * side (rows j..j+3 against row i): four independent add chains keep the FPU busy where one
 * chain would wait on each add's latency, while every sum still adds its terms in order c =
 * 0, 1, …, so the result is the same as the plain loop's. */
static void gram_upper(const float *J, size_t h, size_t d, double *gram)
{
    for (size_t i = 0; i < h; i++) {
        const float *ri = J + i * d;
        size_t j = i;
        for (; j + 4 <= h; j += 4) {
            const float *r0 = J + j * d, *r1 = r0 + d, *r2 = r1 + d, *r3 = r2 + d;
            double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
            for (size_t c = 0; c < d; c++) {
                double x = ri[c];
                s0 += x * (double)r0[c];
                s1 += x * (double)r1[c];
                s2 += x * (double)r2[c];
                s3 += x * (double)r3[c];
            }
            gram[i * h + j] = s0;
            gram[i * h + j + 1] = s1;
            gram[i * h + j + 2] = s2;
            gram[i * h + j + 3] = s3;
        }
        for (; j < h; j++) {
            const float *rj = J + j * d;
            double s = 0.0;
            for (size_t c = 0; c < d; c++)
                s += (double)ri[c] * (double)rj[c];
            gram[i * h + j] = s;
        }
    }
}

int tg_svd_wide(const float *J, size_t h, size_t d, float *sigma, float *right_vectors,
                size_t k, tg_error *err)
{
    if (!J || !sigma)
        return tg_error_set(err, TG_ERR_ARG, "svd_wide: NULL %s", !J ? "matrix" : "sigma");
    if (h == 0 || d == 0)
        return tg_error_set(err, TG_ERR_ARG, "svd_wide: [%zu,%zu]: empty matrix", h, d);
    if (h > d)
        return tg_error_set(err, TG_ERR_SHAPE, "svd_wide: [%zu,%zu]: needs rows <= columns", h, d);
    if (!right_vectors)
        k = 0;
    if (k > h)
        return tg_error_set(err, TG_ERR_ARG, "svd_wide: [%zu,%zu]: k = %zu right vectors > %zu rows",
                            h, d, k, h);
    if (h > SIZE_MAX / sizeof(double) / d)
        return tg_error_set(err, TG_ERR_ARG, "svd_wide: [%zu,%zu]: size overflows", h, d);
    for (size_t i = 0; i < h * d; i++)
        if (!isfinite(J[i]))
            return tg_error_set(err, TG_ERR_NUMERIC, "svd_wide: J[%zu,%zu] = %g is not finite",
                                i / d, i % d, (double)J[i]);

    double *gram = malloc(h * h * sizeof(double));          // G = J·Jᵀ [h,h]
    double *lambda = malloc(h * sizeof(double));            // eigenvalues of G [h]
    double *u = malloc(h * h * sizeof(double));             // left vectors, rows [h,h]
    double *v = k ? malloc(k * d * sizeof(double)) : NULL;  // right vectors, rows [k,d]
    int rc = TG_OK;
    if (!gram || !lambda || !u || (k && !v)) {
        rc = tg_error_set(err, TG_ERR_NOMEM, "svd_wide: [%zu,%zu]: out of memory", h, d);
        goto done;
    }

    gram_upper(J, h, d, gram);
    rc = k ? tg_sym_eigen(gram, h, lambda, u, err) : tg_sym_eigenvalues(gram, h, lambda, err);
    if (rc != TG_OK)
        goto done;

    for (size_t j = 0; j < h; j++)
        sigma[j] = (float)sqrt(lambda[j] > 0.0 ? lambda[j] : 0.0);

    /* Below this, λ_j = σ_j² is within G's rounding (~h·eps·σ_max²) and Jᵀu_j has no
     * reliable direction. */
    double sigma_max = sqrt(lambda[0] > 0.0 ? lambda[0] : 0.0);
    double null_tol = sqrt((double)h * DBL_EPSILON) * sigma_max;
    for (size_t j = 0; j < k; j++) {
        double *vj = v + j * d;
        double sigma_j = sqrt(lambda[j] > 0.0 ? lambda[j] : 0.0);
        int determined = sigma_j > null_tol;
        if (determined) {
            // v_j = Jᵀ·u_j [d]: a combination of J's rows
            memset(vj, 0, d * sizeof(double));
            for (size_t r = 0; r < h; r++) {
                double coef = u[j * h + r];
                const float *row = J + r * d;
                for (size_t c = 0; c < d; c++)
                    vj[c] += coef * (double)row[c];
            }
            orthogonalize(vj, v, j, d);
            /* ‖Jᵀu_j‖ = σ_j in exact arithmetic; much less means the direction was lost. */
            double norm = norm2(vj, d);
            determined = norm > 0.5 * sigma_j;
            if (determined)
                for (size_t c = 0; c < d; c++)
                    vj[c] /= norm;
        }
        if (!determined)
            complement_vector(vj, v, j, d);
        for (size_t c = 0; c < d; c++)
            right_vectors[j * d + c] = (float)vj[c];
    }

done:
    free(gram);
    free(lambda);
    free(u);
    free(v);
    return rc;
}
