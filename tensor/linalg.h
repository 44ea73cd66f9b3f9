/* tensor/linalg.h — small dense linear algebra for analysis (not for training): a symmetric
 * eigen-solver and the singular values / right singular vectors of a wide matrix.
 *
 * Used by the CAE's evaluation: the spectrum of the encoder Jacobian J [H,D] (H = 64 hidden
 * units, D = 784 pixels) and its leading right singular vectors (the "tangent" directions the
 * encoder is sensitive to).  Everything is computed in double; n is expected to be small
 * (64 typical, 256 fine, ~1024 works but is slow: the cost is O(n³) per sweep).
 *
 *   tg_sym_eigen(a, n, λ, V)      A = Vᵀ·diag(λ)·V,  λ sorted descending, V's rows orthonormal
 *   tg_sym_eigenvalues(a, n, λ)   λ alone, by tridiagonalization and bisection (large n)
 *   tg_svd_wide(J, h, d, σ, R, k) J = U·diag(σ)·Rᵀ,  σ descending (h values), R's first k rows
 */
#ifndef TG_LINALG_H
#define TG_LINALG_H

#include <stddef.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Sweep limit of tg_sym_eigen.  Cyclic Jacobi converges quadratically once the off-diagonal
 * part is small; typical matrices need 6-12 sweeps, so reaching 60 means something is wrong. */
#define TG_EIGEN_MAX_SWEEPS 60

/* Eigen-decomposition of the symmetric n×n row-major matrix `a` by cyclic Jacobi rotations.
 *
 *   a            [n,n]  input; only the upper triangle (j >= i) is read; destroyed (on return
 *                       it holds the rotated, numerically diagonal matrix)
 *   eigenvalues  [n]    out: sorted descending
 *   eigenvectors [n,n]  out, may be NULL: ROW i is the unit eigenvector of eigenvalues[i]
 *                       (so A·v_i = λ_i·v_i with v_i = eigenvectors + i*n), the rows are
 *                       orthonormal; each vector's sign is fixed so that its largest-magnitude
 *                       component (the first one, on a tie) is positive
 *
 * Converged means a full sweep found every off-diagonal element negligible: |a_pq| <=
 * eps·sqrt(|a_pp·a_qq|) or |a_pq| <= eps²·max|A| (eps = DBL_EPSILON), so eigenvalues are
 * accurate to a few eps·‖A‖.  The matrix is scaled by a power of two first, so huge or tiny
 * (but finite) entries neither overflow nor underflow.
 * Errors: TG_ERR_ARG (NULL pointer, n == 0, n·n overflow), TG_ERR_NUMERIC (a non-finite entry,
 * or no convergence within TG_EIGEN_MAX_SWEEPS sweeps), TG_ERR_NOMEM. */
int tg_sym_eigen(double *a, size_t n, double *eigenvalues, double *eigenvectors, tg_error *err);

/* The same with an explicit sweep limit; *sweeps_used (may be NULL) receives the number of
 * sweeps performed, including the last one that found nothing left to rotate. */
int tg_sym_eigen_sweeps(double *a, size_t n, double *eigenvalues, double *eigenvectors,
                        int max_sweeps, int *sweeps_used, tg_error *err);

/* The eigenvalues alone of the symmetric n×n row-major `a` (upper triangle read, destroyed),
 * sorted descending: Householder reduction to a tridiagonal matrix, then bisection on its Sturm
 * counts.  O(n³) once instead of per sweep, for spectra of large matrices; each eigenvalue is
 * accurate to a few eps·max|λ| (absolute: small eigenvalues less so than tg_sym_eigen's).
 * Errors: TG_ERR_ARG, TG_ERR_NUMERIC (a non-finite entry), TG_ERR_NOMEM. */
int tg_sym_eigenvalues(double *a, size_t n, double *eigenvalues, tg_error *err);
/* Singular values and leading right singular vectors of a wide matrix (h <= d), through the
 * eigen-decomposition of the Gram matrix G = J·Jᵀ [h,h], accumulated in double.
 *
 *   J              [h,d] float, row-major (the encoder Jacobian: J_ji = ∂h_j/∂x_i)
 *   sigma          [h]   out: σ_j = sqrt(max(λ_j(G), 0)), descending
 *   right_vectors  [k,d] out, may be NULL (then k is ignored and the values come from
 *                        tg_sym_eigenvalues, fast for large h): row j is the unit right
 *                        singular vector v_j = Jᵀu_j/σ_j of sigma[j], for j < k <= h; its sign
 *                        follows tg_sym_eigen's convention for u_j
 *
 * Squaring the matrix costs precision at the small end: singular values below about
 * sqrt(eps·h)·σ_max are only accurate in absolute terms (~1e-7·σ_max), which is plenty for a
 * spectrum plot.  For such a "numerically zero" σ_j the direction Jᵀu_j is rounding noise, so
 * v_j is instead a unit vector orthogonal to v_0..v_{j-1} (Gram-Schmidt on the coordinate axes
 * e_0, e_1, …): it spans J's null space together with the others, and nothing is divided by
 * zero.  Every returned vector is re-orthogonalized against the earlier ones.
 * Errors: TG_ERR_ARG (NULL pointer, h or d == 0, k > h), TG_ERR_SHAPE (h > d),
 * TG_ERR_NUMERIC (a non-finite entry in J or in G), TG_ERR_NOMEM. */
int tg_svd_wide(const float *J, size_t h, size_t d, float *sigma, float *right_vectors,
                size_t k, tg_error *err);

#ifdef __cplusplus
}
#endif

#endif
