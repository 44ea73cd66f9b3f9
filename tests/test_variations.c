/* tests/test_variations.c — the MNIST-variations transforms (models/variations): rotation against
 * index arithmetic, backgrounds that never darken a pixel, per-image draws independent of the
 * set's size, and IDX files written and read back. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "variations.h"

enum { N = 5 };

static void pattern(uint8_t *x, size_t n) /* distinct values 0, 7, 14, ... */
{
    for (size_t k = 0; k < n; k++)
        x[k] = (uint8_t)(7 * k);
}

Test(variations, rotation_by_zero_is_the_identity)
{
    uint8_t x[N * N], y[N * N];
    pattern(x, N * N);
    variation_rotate(x, N, N, 0.0, y);
    cr_assert(!memcmp(x, y, sizeof x));
}

/* Counter-clockwise by a quarter turn: the top row comes from the right column, read downwards. */
Test(variations, rotation_by_a_quarter_turn_moves_pixels_as_indices_say)
{
    uint8_t x[N * N], y[N * N], z[N * N];
    pattern(x, N * N);
    variation_rotate(x, N, N, 1.5707963267948966, y);
    for (size_t r = 0; r < N; r++)
        for (size_t c = 0; c < N; c++)
            cr_assert_eq(y[r * N + c], x[c * N + (N - 1 - r)], "out(%zu,%zu) = %d", r, c, y[r * N + c]);
    variation_rotate(y, N, N, -1.5707963267948966, z);
    cr_assert(!memcmp(x, z, sizeof x), "a quarter turn back is not the identity");
}

Test(variations, a_half_turn_of_a_non_square_image_reverses_it)
{
    uint8_t x[3 * 4], y[3 * 4];
    pattern(x, 12);
    variation_rotate(x, 3, 4, 3.141592653589793, y);
    for (size_t k = 0; k < 12; k++)
        cr_assert_eq(y[k], x[11 - k]);
}

Test(variations, backgrounds_never_darken_a_pixel)
{
    uint8_t x[28 * 28], y[28 * 28], bg[28 * 28];
    tg_rng rng;
    tg_rng_seed(&rng, 3, 0);
    for (size_t k = 0; k < sizeof x; k++)
        x[k] = k % 3 ? 0 : 200, bg[k] = (uint8_t)(k % 251);
    memcpy(y, x, sizeof x);
    variation_noise_background(y, sizeof y, &rng);
    double sum = 0.0;
    for (size_t k = 0; k < sizeof x; k++) {
        cr_assert_geq(y[k], x[k]);
        if (x[k] == 0)
            sum += y[k];
    }
    double mean = sum / (2.0 * 28 * 28 / 3.0);
    cr_assert(mean > 110 && mean < 145, "noise on black pixels has mean %g (uniform 0..255: 127.5)", mean);
    memset(bg, 90, sizeof bg); /* a flat background shows through exactly where x is darker */
    memcpy(y, x, sizeof x);
    variation_image_background(y, 28, 28, bg, &rng);
    for (size_t k = 0; k < sizeof x; k++)
        cr_assert_eq(y[k], x[k] ? x[k] : 90);
}

Test(variations, an_image_depends_on_seed_split_and_index_only)
{
    tg_dataset small, big, a, b, c, d;
    tg_error err;
    cr_assert_eq(tg_dataset_synthetic(&small, "train", 5, 28, 28, 1, &err), TG_OK);
    cr_assert_eq(tg_dataset_synthetic(&big, "train", 40, 28, 28, 1, &err), TG_OK);
    cr_assert_eq(variation_make(&small, &big, VARIATION_ROT_BG_IMG, 9, false, &a, &err), TG_OK);
    cr_assert_eq(variation_make(&big, &big, VARIATION_ROT_BG_IMG, 9, false, &b, &err), TG_OK);
    cr_assert(!memcmp(a.images, b.images, 5 * 784), "the first images change with the set's size");
    cr_assert(!memcmp(a.labels, small.labels, 5));
    cr_assert_eq(variation_make(&small, &big, VARIATION_ROT_BG_IMG, 9, true, &c, &err), TG_OK);
    cr_assert_eq(variation_make(&small, &big, VARIATION_ROT_BG_IMG, 10, false, &d, &err), TG_OK);
    cr_assert(memcmp(a.images, c.images, 784), "the test split draws what the training split draws");
    cr_assert(memcmp(a.images, d.images, 784), "the seed is ignored");
    tg_dataset none;
    cr_assert_eq(variation_make(&small, NULL, VARIATION_BG_IMG, 9, false, &none, &err), TG_ERR_ARG);
    cr_assert(strstr(err.msg, "background"), "%s", err.msg);
    tg_dataset_free(&a), tg_dataset_free(&b), tg_dataset_free(&c), tg_dataset_free(&d);
    tg_dataset_free(&small), tg_dataset_free(&big);
}

Test(variations, idx_files_read_back_the_same)
{
    char dir[] = "/tmp/tg_variations_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    tg_dataset in, out;
    tg_error err;
    cr_assert_eq(tg_dataset_synthetic(&in, "t10k", 17, 28, 28, 1, &err), TG_OK);
    cr_assert_eq(tg_dataset_save(&in, dir, "t10k", &err), TG_OK, "%s", err.msg);
    cr_assert_eq(tg_dataset_load(&out, dir, "t10k", true, 0, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(out.n, 17);
    cr_assert_eq(out.rows, 28);
    cr_assert(!memcmp(in.images, out.images, 17 * 784));
    cr_assert(!memcmp(in.labels, out.labels, 17));
    char path[128];
    snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte", dir);
    FILE *f = fopen(path, "rb");
    unsigned char head[8];
    cr_assert_eq(fread(head, 1, 8, f), 8);
    fclose(f);
    const unsigned char want[8] = {0, 0, 8, 1, 0, 0, 0, 17}; /* magic 0x00000801, count 17 big-endian */
    cr_assert(!memcmp(head, want, 8));
    cr_assert_eq(tg_idx_write(path, 5, (size_t[]){1, 1, 1, 1, 1}, in.labels, &err), TG_ERR_ARG);
    unlink(path);
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte", dir);
    unlink(path);
    rmdir(dir);
    tg_dataset_free(&in), tg_dataset_free(&out);
}
