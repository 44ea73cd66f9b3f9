/* models/variations/variations.c — the transforms of variations.h and the data sets made of them. */
#include "variations.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const NAMES[] = {"rot", "bg-rand", "bg-img", "rot-bg-img"};
static const double TWO_PI = 6.283185307179586476925;

const char *variation_name(variation_kind kind)
{
    return (unsigned)kind < sizeof NAMES / sizeof *NAMES ? NAMES[kind] : NULL;
}

bool variation_needs_backgrounds(variation_kind kind)
{
    return kind == VARIATION_BG_IMG || kind == VARIATION_ROT_BG_IMG;
}

static uint8_t to_byte(double v) { return (uint8_t)lrint(v < 0.0 ? 0.0 : v > 255.0 ? 255.0 : v); }

/* x [rows,cols] at the real position (r, c): bilinear between the four neighbours, 0 outside. */
static double bilinear(const uint8_t *x, size_t rows, size_t cols, double r, double c)
{
    const double r0 = floor(r), c0 = floor(c), fr = r - r0, fc = c - c0;
    double v = 0.0;
    for (int dr = 0; dr <= 1; dr++)
        for (int dc = 0; dc <= 1; dc++) {
            const double rr = r0 + dr, cc = c0 + dc;
            if (rr < 0 || cc < 0 || rr >= (double)rows || cc >= (double)cols)
                continue;
            const double w = (dr ? fr : 1.0 - fr) * (dc ? fc : 1.0 - fc);
            v += w * x[(size_t)rr * cols + (size_t)cc];
        }
    return v;
}

void variation_rotate(const uint8_t *x, size_t rows, size_t cols, double angle, uint8_t *out)
{
    /* rows grow downwards, so a counter-clockwise turn on screen maps (dx, dy) with dy = −dr */
    const double cr = 0.5 * (double)(rows - 1), cc = 0.5 * (double)(cols - 1), s = sin(angle), co = cos(angle);
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            const double dx = (double)c - cc, dy = cr - (double)r; /* p − centre, y up */
            const double sx = co * dx + s * dy, sy = -s * dx + co * dy; /* R(−angle)·(p − centre) */
            out[r * cols + c] = to_byte(bilinear(x, rows, cols, cr - sy, cc + sx));
        }
}

void variation_noise_background(uint8_t *img, size_t n, tg_rng *rng)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t u = (uint8_t)tg_rng_below(rng, 256);
        img[i] = img[i] > u ? img[i] : u;
    }
}

void variation_image_background(uint8_t *img, size_t rows, size_t cols, const uint8_t *bg, tg_rng *rng)
{
    /* the enlarged image's pixel (R, C) sits at bg's (R/2 − 1/4, C/2 − 1/4): centres aligned */
    const size_t top = tg_rng_below(rng, (uint32_t)rows + 1), left = tg_rng_below(rng, (uint32_t)cols + 1);
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            double sr = 0.5 * (double)(top + r) - 0.25, sc = 0.5 * (double)(left + c) - 0.25;
            sr = sr < 0.0 ? 0.0 : sr > (double)(rows - 1) ? (double)(rows - 1) : sr; /* clamp to the edge */
            sc = sc < 0.0 ? 0.0 : sc > (double)(cols - 1) ? (double)(cols - 1) : sc;
            const uint8_t b = to_byte(bilinear(bg, rows, cols, sr, sc));
            img[r * cols + c] = img[r * cols + c] > b ? img[r * cols + c] : b;
        }
}

/* The variation of one image (dim = rows·cols bytes) into out, with its own draws. */
static void vary_one(const tg_dataset *in, const tg_dataset *bgs, variation_kind kind, tg_rng *rng, size_t i,
                     uint8_t *out)
{
    const size_t dim = in->rows * in->cols;
    const uint8_t *x = in->images + i * dim;
    if (kind == VARIATION_ROT || kind == VARIATION_ROT_BG_IMG) /* the angle: a multiple of 2π/2²⁴ */
        variation_rotate(x, in->rows, in->cols, TWO_PI * (double)(tg_rng_u32(rng) >> 8) / 16777216.0, out);
    else
        memcpy(out, x, dim);
    if (kind == VARIATION_BG_RAND)
        variation_noise_background(out, dim, rng);
    if (variation_needs_backgrounds(kind)) {
        const uint8_t *bg = bgs->images + (size_t)tg_rng_below(rng, (uint32_t)bgs->n) * dim;
        variation_image_background(out, in->rows, in->cols, bg, rng);
    }
}

int variation_make(const tg_dataset *in, const tg_dataset *bgs, variation_kind kind, uint64_t seed,
                   bool test_split, tg_dataset *out, tg_error *err)
{
    memset(out, 0, sizeof *out);
    if (!variation_name(kind))
        return tg_error_set(err, TG_ERR_ARG, "unknown variation kind %d", (int)kind);
    if (variation_needs_backgrounds(kind) &&
        (!bgs || bgs->n == 0 || bgs->n > UINT32_MAX || bgs->rows != in->rows || bgs->cols != in->cols))
        return tg_error_set(err, TG_ERR_ARG, "%s needs background images of %zux%zu", variation_name(kind), in->rows,
                            in->cols);
    const size_t dim = in->rows * in->cols;
    void **blocks = calloc(2, sizeof *blocks);
    uint8_t *images = malloc(in->n * dim), *labels = in->labels ? malloc(in->n) : NULL;
    if (!blocks || !images || (in->labels && !labels)) {
        free(blocks), free(images), free(labels);
        return tg_error_set(err, TG_ERR_NOMEM, "cannot allocate %zu varied images", in->n);
    }
    for (size_t i = 0; i < in->n; i++) {
        tg_rng rng; /* one stream per image and split, as the synthetic set draws its images */
        tg_rng_seed(&rng, seed, 2 * (uint64_t)i + test_split);
        vary_one(in, bgs, kind, &rng, i, images + i * dim);
    }
    if (labels)
        memcpy(labels, in->labels, in->n);
    blocks[0] = images, blocks[1] = labels;
    *out = (tg_dataset){.images = images, .labels = labels, .n = in->n, .rows = in->rows, .cols = in->cols,
                        .n_classes = in->n_classes, .storage_ = blocks};
    return TG_OK;
}
