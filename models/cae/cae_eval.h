/* models/cae/cae_eval.h — measuring a trained CAE: the numbers of `cae eval` / `cae compare`. */
#ifndef CAE_EVAL_H
#define CAE_EVAL_H

#include <stdbool.h>
#include <stdint.h>

#include "cae_directions.h"
#include "cae_model.h"
#include "nn/io/data.h"

#define CAE_MAX_RADII 64
/* The largest contraction radius: the perturbed image x + r·u is made of floats, and far below
 * FLT_MAX so that x·W stays finite (a radius of 1e308 made every ratio NaN).  Pixels lie in
 * [0, 1]: at 1e6 every unit has long saturated. */
#define CAE_MAX_RADIUS 1e6

typedef struct cae_eval_options {
    double radii[CAE_MAX_RADII]; /* contraction radii: in (0, CAE_MAX_RADIUS], increasing (cae_eval_check_radii) */
    int n_radii;
    unsigned directions;         /* bit mask of 1u << cae_direction: kinds of contraction measured
                                    besides the random one, which always is */
    uint64_t seed;               /* for the directions, the corruptions and the probe */
    size_t max_images;           /* test images used (0: all) */
    double hess_sigma;           /* σ of the corruptions for hess_fro2; 0: the model's σ when it
                                    was trained with the γ term, else CAE_EVAL_HESS_SIGMA */
    size_t hess_corruptions;     /* corruptions per image for hess_fro2 */
} cae_eval_options;

#define CAE_EVAL_HESS_SIGMA 0.1

typedef struct cae_eval_result {
    size_t images;
    double test_mse;      /* mean over images of the per-pixel MSE of the reconstruction */
    double jac_fro2;      /* mean over images of ‖J_h(x)‖_F² */
    /* [kind][radius]: mean ‖h(x + r·u) − h(x)‖ / r over the images with a direction u of that kind
     * (cae_directions.h); NaN for a kind not measured.  [CAE_DIR_RANDOM]: ε = r·u uniform on the
     * sphere of radius r, over every image. */
    double contraction[CAE_N_DIRECTIONS][CAE_MAX_RADII];
    size_t direction_images[CAE_N_DIRECTIONS]; /* images in each kind's mean */
    double tangent_k;     /* mean dimension of the tangent subspace over tangent_images images */
    size_t tangent_images;
    double anisotropy;      /* contraction tangent ÷ orthogonal at the smallest radius (NaN if not measured) */
    double anisotropy_data; /* contraction data ÷ random at the smallest radius (NaN if not measured) */
    double jac_fro;       /* mean over images of ‖J_h(x)‖_F (not squared) */
    double saturated;     /* mean fraction of saturated hidden units (see cae_eval.c) */
    double dead;          /* fraction of units off (h < 0.01; relu-like: h <= 0) on > 99% of the images */
    double switching;     /* fraction of units saturated on some images and not on others */
    double probe_acc;     /* linear-probe test accuracy; NaN when no labels */
    double hess_fro2;     /* mean over images of E_ε ‖J_h(x) - J_h(x+ε)‖_F², ε ~ N(0, σ²I) (seeded) */
    double hess_sigma;    /* the σ used for it */
} cae_eval_result;

/* The σ hess_fro2 uses for model m under options o. */
double cae_eval_hess_sigma(const cae_model *m, const cae_eval_options *o);

/* The spec's radii 0.1, 1, 3, random directions only, and seed 1; hess_fro2 with 4 corruptions
 * per image. */
cae_eval_options cae_eval_options_default(void);

/* TG_OK when 1 <= n <= CAE_MAX_RADII radii are positive, at most CAE_MAX_RADIUS and increasing; else TG_ERR_ARG
 * with a message saying which is not. */
int cae_eval_check_radii(const double *radii, int n, tg_error *err);

/* radii [CAE_MAX_RADII] and *n from "R,R,..." (numbers separated by commas, as cae_eval_check_radii
 * wants them); left alone on an error (TG_ERR_ARG, its message without the option's name). */
int cae_eval_parse_radii(const char *text, double *radii, int *n, tg_error *err);

/* All metrics on `test`; the probe is trained on `train` features (skipped when either set has no
 * labels or train is NULL). */
int cae_evaluate(cae_model *m, const tg_dataset *test, const tg_dataset *train, const cae_eval_options *opts,
                 cae_eval_result *r, tg_error *err);

/* The encoder's Jacobian at one image: J [H,D], J_ji = f'(z_j)·W_ij. */
int cae_jacobian_at(cae_model *m, const float *x, float *J, tg_error *err);

/* Singular values (all min(H,D), descending) of J [H,D] and its leading k right singular vectors
 * (k×D, may be NULL with k = 0): the input directions the features respond to most. */
int cae_jacobian_svd(const float *J, size_t H, size_t D, float *sigma, float *vectors, size_t k, tg_error *err);

/* Mean singular values (descending, min(H,D) of them) of J over the first n test images. */
int cae_mean_spectrum(cae_model *m, const tg_dataset *test, size_t n, double *sigma, tg_error *err);

#endif
