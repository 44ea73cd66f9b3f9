/* models/variations/variations.h — data sets in the style of the MNIST variations of Larochelle
 * et al. (2007), the benchmarks of the CAE paper (Rifai et al. 2011), made from any IDX set:
 *
 *   rot         each image rotated by an angle uniform in [0, 2π) about its centre (bilinear
 *               interpolation, 0 outside the source)
 *   bg-rand     every pixel becomes max(pixel, u) with u uniform in 0..255: a noise background
 *               (the object's own pixels keep at least their value)
 *   bg-img      every pixel becomes max(pixel, b) with b a patch of a background image: a random
 *               rows×cols window of one background image enlarged 2× (bilinear), so a patch is a
 *               part of an image, not a whole object, as the paper's patches of photographs were
 *   rot-bg-img  rot, then bg-img
 *
 * Everything random is drawn from (seed, split, image index) alone, so image i is the same for
 * any --limit, and a split's images never share draws with the other split's.  Labels are copied. */
#ifndef TG_VARIATIONS_H
#define TG_VARIATIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "nn/io/data.h"
#include "tensor/rng.h"

typedef enum variation_kind { VARIATION_ROT, VARIATION_BG_RAND, VARIATION_BG_IMG, VARIATION_ROT_BG_IMG } variation_kind;

/* "rot", "bg-rand", "bg-img", "rot-bg-img"; NULL for another value. */
const char *variation_name(variation_kind kind);
/* Whether the kind draws patches from background images. */
bool variation_needs_backgrounds(variation_kind kind);

/* out [rows,cols] = x [rows,cols] rotated counter-clockwise by `angle` radians about the image's
 * centre: out(p) = x(c + R(−angle)(p − c)), bilinear, 0 outside x; rounded to the nearest byte. */
void variation_rotate(const uint8_t *x, size_t rows, size_t cols, double angle, uint8_t *out);
/* img [n] = max(img, u), u uniform in 0..255 from rng. */
void variation_noise_background(uint8_t *img, size_t n, tg_rng *rng);
/* img [rows,cols] = max(img, patch): the patch is the window at a random (top, left) of the
 * background bg [rows,cols] enlarged 2× to [2·rows, 2·cols] by bilinear interpolation. */
void variation_image_background(uint8_t *img, size_t rows, size_t cols, const uint8_t *bg, tg_rng *rng);

/* out = the variation `kind` of every image of `in`; backgrounds (images of in's size) is needed
 * by the bg-img kinds; test_split picks the draws of the "t10k" split.  Free out with
 * tg_dataset_free.  TG_ERR_ARG for backgrounds missing, empty or of another image size. */
int variation_make(const tg_dataset *in, const tg_dataset *backgrounds, variation_kind kind, uint64_t seed,
                   bool test_split, tg_dataset *out, tg_error *err);

#endif
