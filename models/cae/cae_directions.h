/* models/cae/cae_directions.h — the contraction ratio ‖h(x + r·u) − h(x)‖ / r along four kinds of
 * unit direction u, and the encoder's tangent subspace they are defined by (`cae eval
 * --directions`, docs/cli.md).
 *
 *   random      u uniform on the unit sphere of R^D (isotropic)
 *   data        u = (x_j − x)/‖x_j − x‖ towards another test image x_j, drawn by the seed
 *   tangent     u uniform on the unit sphere of the tangent subspace T(x): the span of the k
 *               leading right singular vectors of the encoder's Jacobian J(x) = diag(f'(z))·Wᵀ,
 *               k = the number of singular values >= CAE_TANGENT_FRACTION·σ_1, at most
 *               CAE_TANGENT_MAX: the input directions the code follows
 *   orthogonal  u uniform on the unit sphere of T(x)'s orthogonal complement: the directions the
 *               code is meant to ignore
 *
 * The anisotropy ratios compare them at the smallest radius: tangent ÷ orthogonal, and
 * data ÷ random. */
#ifndef CAE_DIRECTIONS_H
#define CAE_DIRECTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "cae_model.h"
#include "nn/io/data.h"
#include "tensor/rng.h"

typedef enum cae_direction {
    CAE_DIR_RANDOM,
    CAE_DIR_DATA,
    CAE_DIR_TANGENT,
    CAE_DIR_ORTHOGONAL,
    CAE_N_DIRECTIONS
} cae_direction;

#define CAE_DIRECTIONS_ALL ((1u << CAE_N_DIRECTIONS) - 1u)
#define CAE_TANGENT_MAX 16        /* tangent directions kept at most, per image */
#define CAE_TANGENT_FRACTION 0.1  /* kept: singular values at least this fraction of the largest */
/* Images of the tangent and orthogonal measurements (the first ones of the evaluation): each
 * needs the leading singular vectors of its own Jacobian, so they cost far more than the random
 * and data ones, which use every evaluated image. */
#define CAE_TANGENT_IMAGES 100

/* "random", "data", "tangent", "orthogonal". */
const char *cae_direction_name(cae_direction d);

/* *mask (bits 1u << cae_direction, random always set) from "KIND,KIND,..." or "all"; left alone
 * on an error (TG_ERR_ARG naming the unknown kind). */
int cae_directions_parse(const char *text, unsigned *mask, tg_error *err);

/* The direction kind named by the `len` characters at `name`, or -1. */
int cae_direction_of(const char *name, size_t len);

/* The tangent subspace of J [H,D] (row-major float): its leading right singular vectors
 * V [k,D] (orthonormal rows, in double) with their singular values sigma [k] (descending),
 * k = the number of singular values >= fraction·σ_1 among the first k_max (0 when J = 0).
 * V and sigma have room for k_max rows.  Found by subspace iteration on JᵀJ (k_max + 8
 * vectors, Rayleigh-Ritz each step) until the first k_max Ritz values change by at most 1e-10
 * of the largest, or after CAE_TANGENT_ITERATIONS steps; where the spectrum is flat around the
 * k-th value the last vectors are then only near the exact ones (any of them is as much "the
 * k-th direction" there).  Exact when k_max + 8 >= min(H,D).
 * Errors: TG_ERR_ARG (k_max == 0 or a zero size), TG_ERR_NUMERIC, TG_ERR_NOMEM. */
#define CAE_TANGENT_ITERATIONS 200
int cae_tangent_space(const float *J, size_t H, size_t D, size_t k_max, double fraction, double *V, double *sigma,
                      size_t *k, tg_error *err);

/* u [D] ← a unit direction of kind d at the image x [D]: `partner` is the other image for
 * CAE_DIR_DATA, V [k,D] the tangent subspace for CAE_DIR_TANGENT and CAE_DIR_ORTHOGONAL (else
 * unused, may be NULL); draws from rng (random, tangent, orthogonal), `scratch` has room for D
 * floats.  Returns false when there is no such direction (data: partner == x; tangent: k == 0;
 * orthogonal: V spans R^D), u then undefined. */
bool cae_unit_direction(cae_direction d, const float *x, const float *partner, const double *V, size_t k, size_t D,
                        tg_rng *rng, float *scratch, double *u);

struct cae_eval_options;
struct cae_eval_result;

/* Random contraction ratios, and data ones when o->directions has them, of the chunk's images
 * idx [count] among the n evaluated (numbered 0..n-1; h0 [count,H] their codes): sums into
 * r->contraction and image counts into r->direction_images.  rngs[0] draws the random
 * directions, rngs[1] the data partners (one per image, the same at every radius), so that
 * asking for data directions leaves the random ratios as they were. */
int cae_chunk_contractions(tg_tape *tape, cae_model *m, const tg_dataset *test, const uint32_t *idx, size_t count,
                           size_t n, const struct cae_eval_options *o, tg_rng *rngs, const float *h0,
                           struct cae_eval_result *r, tg_error *err);

/* Tangent and orthogonal contraction ratios (those of them in o->directions) over the first
 * min(n, CAE_TANGENT_IMAGES) images idx of `test`, at o->radii: sums into r->contraction and
 * counts into r->direction_images, Σk into r->tangent_k and the images into r->tangent_images.  Draws from the seed o->seed. */
int cae_tangent_contractions(cae_model *m, const tg_dataset *test, const uint32_t *idx, size_t n,
                             const struct cae_eval_options *o, struct cae_eval_result *r, tg_error *err);

#endif
