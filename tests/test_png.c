/* tests/test_png.c — the PNG writer and the image grid of nn/io/png.c.
 *
 * The PNG bytes are checked by a minimal reader written here, independently of the writer:
 * it walks the chunks (checking each CRC with io_test.h's bit-at-a-time CRC-32), checks IHDR,
 * concatenates IDAT, parses the zlib stream's stored blocks, checks the Adler-32 (again its own
 * implementation), un-filters the rows (type 0 only) and hands back the pixels. */
#include <criterion/criterion.h>

#include <math.h>

#include "io_test.h"
#include "nn/io/png.h"
#include "table_test.h"

TestSuite(png, .init = scratch_make, .fini = scratch_drop);

/* ---- the independent reader ------------------------------------------------------------- */

/* Adler-32, reduced after every byte: the textbook definition. */
static uint32_t plain_adler32(const uint8_t *p, size_t n)
{
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < n; i++) {
        a = (a + p[i]) % 65521u;
        b = (b + a) % 65521u;
    }
    return (b << 16) | a;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

typedef struct decoded {
    uint32_t width, height;
    int channels;
    uint8_t *pixels; /* [height, width, channels] */
    int idat_chunks;
    int stored_blocks;
} decoded;

static decoded read_png(const char *path)
{
    decoded img = {0};
    size_t len;
    uint8_t *file = read_bytes(path, &len);
    static const uint8_t sig[8] = {0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A};
    cr_assert(len >= 8 && memcmp(file, sig, 8) == 0, "%s: bad signature", path);

    uint8_t *zdata = NULL;
    size_t zlen = 0;
    size_t pos = 8;
    int chunk_index = 0, saw_iend = 0;
    while (pos < len) {
        cr_assert(!saw_iend, "data after IEND");
        cr_assert(pos + 12 <= len, "truncated chunk header at %zu", pos);
        uint32_t n = be32(file + pos);
        const uint8_t *type = file + pos + 4;
        cr_assert(pos + 12 + n <= len, "chunk %.4s runs past the end", (const char *)type);
        uint32_t stored_crc = be32(file + pos + 8 + n);
        cr_assert_eq(bitwise_crc32(type, 4 + n), stored_crc, "chunk %.4s: CRC mismatch", (const char *)type);
        const uint8_t *data = file + pos + 8;
        if (chunk_index == 0) {
            cr_assert(!memcmp(type, "IHDR", 4), "first chunk is %.4s", (const char *)type);
            cr_assert_eq(n, 13);
            img.width = be32(data);
            img.height = be32(data + 4);
            cr_assert_eq(data[8], 8, "bit depth");
            cr_assert(data[9] == 0 || data[9] == 2, "colour type %d", data[9]);
            img.channels = data[9] == 0 ? 1 : 3;
            cr_assert_eq(data[10], 0, "compression method");
            cr_assert_eq(data[11], 0, "filter method");
            cr_assert_eq(data[12], 0, "interlace");
        } else if (!memcmp(type, "IDAT", 4)) {
            zdata = realloc(zdata, zlen + n);
            cr_assert(zdata);
            memcpy(zdata + zlen, data, n);
            zlen += n;
            img.idat_chunks++;
        } else if (!memcmp(type, "IEND", 4)) {
            cr_assert_eq(n, 0);
            saw_iend = 1;
        } else {
            cr_assert_fail("unexpected chunk %.4s", (const char *)type);
        }
        pos += 12 + n;
        chunk_index++;
    }
    cr_assert(saw_iend, "no IEND");
    cr_assert_eq(pos, len);
    free(file);

    /* zlib header, then stored deflate blocks */
    cr_assert(zlen >= 2 + 5 + 4);
    cr_assert_eq(zdata[0] & 0x0F, 8, "CM must be deflate");
    cr_assert_eq((zdata[0] * 256 + zdata[1]) % 31, 0, "FCHECK");
    cr_assert_eq(zdata[1] & 0x20, 0, "no preset dictionary");
    size_t raw_cap = (size_t)img.height * (1 + (size_t)img.width * img.channels);
    uint8_t *raw = malloc(raw_cap);
    cr_assert(raw);
    size_t raw_len = 0, z = 2;
    int final = 0;
    while (!final) {
        cr_assert(z + 5 <= zlen, "truncated block header");
        uint8_t header = zdata[z];
        final = header & 1;
        cr_assert_eq((header >> 1) & 3, 0, "block type must be stored");
        uint32_t blen = zdata[z + 1] | (uint32_t)zdata[z + 2] << 8;
        uint32_t nlen = zdata[z + 3] | (uint32_t)zdata[z + 4] << 8;
        cr_assert_eq(blen ^ 0xFFFFu, nlen, "LEN/NLEN");
        z += 5;
        cr_assert(z + blen <= zlen && raw_len + blen <= raw_cap, "stored block too long");
        memcpy(raw + raw_len, zdata + z, blen);
        raw_len += blen;
        z += blen;
        img.stored_blocks++;
    }
    cr_assert_eq(z + 4, zlen, "the Adler-32 must end the stream");
    cr_assert_eq(be32(zdata + z), plain_adler32(raw, raw_len), "Adler-32 mismatch");
    cr_assert_eq(raw_len, raw_cap, "decompressed %zu bytes, expected %zu", raw_len, raw_cap);
    free(zdata);

    size_t row = (size_t)img.width * img.channels;
    img.pixels = malloc(row * img.height);
    cr_assert(img.pixels);
    for (size_t y = 0; y < img.height; y++) {
        cr_assert_eq(raw[y * (row + 1)], 0, "row %zu: filter type", y);
        memcpy(img.pixels + y * row, raw + y * (row + 1) + 1, row);
    }
    free(raw);
    return img;
}

Test(png, reader_helpers_match_published_values)
{
    /* The CRC of the bare "IEND" chunk type is the 0xAE426082 at the end of every PNG;
     * Adler-32 of "Wikipedia" is RFC 1950's well-known example 0x11E60398. */
    cr_assert_eq(bitwise_crc32((const uint8_t *)"IEND", 4), 0xAE426082u);
    cr_assert_eq(plain_adler32((const uint8_t *)"Wikipedia", 9), 0x11E60398u);
}

/* ---- PNG writer ------------------------------------------------------------------------- */

/* Gray images of several sizes.  The raw size is h·(1 + w): 7x5 and 1x1 are small; 255·257 =
 * 65535 fits one stored block exactly, 256·256 = 65536 needs a second block of one byte;
 * 400·601 = 240400 needs four. */
static const struct {
    size_t w, h;
    int blocks;
} gray_sizes[] = {{7, 5, 1}, {1, 1, 1}, {256, 255, 1}, {255, 256, 2}, {600, 400, 4}};

TABLE_TEST(png, gray_round_trip, gray_sizes)
{
    size_t w = gray_sizes[*row].w, h = gray_sizes[*row].h;
    uint8_t *pix = malloc(w * h);
    cr_assert(pix);
    for (size_t i = 0; i < w * h; i++)
        pix[i] = (uint8_t)((i * 37 + i / w * 11) & 0xFF);
    tg_error err;
    const char *path = scratch_path("gray.png");
    cr_assert_eq(tg_png_write_gray(path, pix, w, h, &err), TG_OK, "%zux%zu: %s", w, h, err.msg);
    decoded img = read_png(path);
    cr_assert_eq(img.width, w, "%zux%zu", w, h);
    cr_assert_eq(img.height, h, "%zux%zu", w, h);
    cr_assert_eq(img.channels, 1, "%zux%zu", w, h);
    cr_assert_eq(memcmp(img.pixels, pix, w * h), 0, "%zux%zu: pixels differ", w, h);
    cr_assert_eq(img.stored_blocks, gray_sizes[*row].blocks, "%zux%zu: %d blocks", w, h, img.stored_blocks);
    free(img.pixels);
    free(pix);
}

Test(png, rgb_roundtrip)
{
    enum { W = 4, H = 3 };
    uint8_t pix[W * H * 3];
    for (size_t i = 0; i < sizeof pix; i++)
        pix[i] = (uint8_t)(255 - i * 7);
    const char *path = scratch_path("rgb.png");
    cr_assert_eq(tg_png_write_rgb(path, pix, W, H, NULL), TG_OK);
    decoded img = read_png(path);
    cr_assert_eq(img.channels, 3);
    cr_assert_eq(img.width, W);
    cr_assert_eq(img.height, H);
    cr_assert_eq(memcmp(img.pixels, pix, sizeof pix), 0);
    free(img.pixels);
}

Test(png, overwrite_is_atomic_and_leaves_no_temporary)
{
    uint8_t a[4] = {1, 2, 3, 4}, b[6] = {9, 8, 7, 6, 5, 4};
    const char *path = scratch_path("x.png");
    cr_assert_eq(tg_png_write_gray(path, a, 2, 2, NULL), TG_OK);
    cr_assert_eq(tg_png_write_gray(path, b, 3, 2, NULL), TG_OK);
    decoded img = read_png(path);
    cr_assert_eq(img.width, 3);
    cr_assert_eq(memcmp(img.pixels, b, 6), 0);
    free(img.pixels);
    cr_assert_eq(scratch_count(""), 1, "temporary files left behind");
}

Test(png, errors)
{
    uint8_t px[4] = {0};
    tg_error err;
    const char *missing = "/nonexistent_dir_tg_test/sub/out.png";
    cr_assert_eq(tg_png_write_gray(missing, px, 2, 2, &err), TG_ERR_IO);
    cr_assert(strstr(err.msg, missing), "message does not name the file: %s", err.msg);
    cr_assert_eq(access(missing, F_OK), -1);

    cr_assert_eq(tg_png_write_gray("/tmp/never.png", px, 0, 2, &err), TG_ERR_ARG);
    cr_assert_eq(tg_png_write_gray("/tmp/never.png", NULL, 2, 2, &err), TG_ERR_ARG);
    cr_assert_eq(tg_png_write_gray("", px, 2, 2, &err), TG_ERR_ARG);
    cr_assert_eq(tg_png_write_gray("/tmp/never.png", px, (size_t)1 << 31, 1, &err), TG_ERR_ARG);
    cr_assert_eq(access("/tmp/never.png", F_OK), -1);

    float img[4] = {0};
    cr_assert_eq(tg_png_write_grid(missing, img, 1, 2, 2, 1, TG_PNG_UNIT, 1, &err), TG_ERR_IO);
    cr_assert(strstr(err.msg, missing), "%s", err.msg);
    cr_assert_eq(tg_png_write_grid("/tmp/never.png", img, 1, 2, 2, 1, 3, 1, &err), TG_ERR_ARG);
    cr_assert_eq(tg_png_write_grid("/tmp/never.png", img, 1, 2, 2, 0, TG_PNG_UNIT, 1, &err), TG_ERR_ARG);
    cr_assert_eq(tg_png_write_grid("/tmp/never.png", img, 1, 2, 2, 1, TG_PNG_UNIT, 0, &err), TG_ERR_ARG);
    cr_assert_eq(access("/tmp/never.png", F_OK), -1);
}

/* ---- grid ------------------------------------------------------------------------------- */

Test(png, grid_layout_gaps_and_scale)
{
    /* 5 tiles of 2×3 pixels, 3 per row, scale 2: tiles 6 wide and 4 high plus 1-pixel gaps:
     * width 3·7 − 1 = 20, height 2·5 − 1 = 9; the sixth cell is empty. Values k/255 so that the
     * expected gray level of tile t, pixel i is exactly 6t + i + 10. */
    enum { COUNT = 5, R = 2, C = 3, COLS = 3, S = 2 };
    float tiles[COUNT * R * C];
    for (int t = 0; t < COUNT; t++)
        for (int i = 0; i < R * C; i++)
            tiles[t * R * C + i] = (float)(6 * t + i + 10) / 255.0f;
    const char *path = scratch_path("grid.png");
    tg_error err;
    cr_assert_eq(tg_png_write_grid(path, tiles, COUNT, R, C, COLS, TG_PNG_UNIT, S, &err), TG_OK, "%s",
                 err.msg);
    decoded img = read_png(path);
    cr_assert_eq(img.width, 20);
    cr_assert_eq(img.height, 9);
    for (uint32_t y = 0; y < img.height; y++)
        for (uint32_t x = 0; x < img.width; x++) {
            int got = img.pixels[y * img.width + x];
            int in_gap = x % 7 == 6 || y % 5 == 4;
            int tile = (int)(y / 5) * COLS + (int)(x / 7);
            int want;
            if (in_gap || tile >= COUNT)
                want = TG_PNG_GAP_GRAY;
            else
                want = 6 * tile + (int)((y % 5) / S) * C + (int)((x % 7) / S) + 10;
            cr_assert_eq(got, want, "pixel (%u,%u): %d, want %d", x, y, got, want);
        }
    free(img.pixels);
}

Test(png, grid_columns_clamped_to_count)
{
    float tiles[2 * 4] = {0, 0, 0, 0, 1, 1, 1, 1};
    const char *path = scratch_path("g.png");
    cr_assert_eq(tg_png_write_grid(path, tiles, 2, 2, 2, 10, TG_PNG_UNIT, 1, NULL), TG_OK);
    decoded img = read_png(path);
    cr_assert_eq(img.width, 5); /* 2 tiles of 2 + 1 gap, not 10 columns */
    cr_assert_eq(img.height, 2);
    const uint8_t want[10] = {0, 0, 255, 255, 255, 0, 0, 255, 255, 255};
    cr_assert_eq(memcmp(img.pixels, want, 10), 0);
    free(img.pixels);
}

/* One 1×6 tile in each normalization, its six gray levels worked out by hand. */
static const struct {
    const char *name;
    int normalize;
    float values[6];
    uint8_t gray[6];
} tiles[] = {
    /* clamped, rounded, NaN black */
    {"unit", TG_PNG_UNIT, {-0.5f, 0.0f, 0.5f, 1.0f, 1.5f, NAN}, {0, 0, 128, 255, 255, 0}},
    /* (v − 2)/4·255 → 0, 127.5, 255, 63.75, 191.25, 127.5 */
    {"minmax", TG_PNG_MINMAX, {2, 4, 6, 3, 5, 4}, {0, 128, 255, 64, 191, 128}},
    /* m = 2: (v/2 + 1)/2·255 → 0, 127.5, 191.25, 255, 63.75, 159.375 */
    {"symmetric", TG_PNG_SYMMETRIC, {-2, 0, 1, 2, -1, 0.5f}, {0, 128, 191, 255, 64, 159}},
    /* 0 stays mid-gray even when the values are all positive */
    {"symmetric positive", TG_PNG_SYMMETRIC, {0, 1, 2, 3, 4, 4}, {128, 159, 191, 223, 255, 255}},
    /* constant tiles: mid-gray */
    {"minmax constant", TG_PNG_MINMAX, {3, 3, 3, 3, 3, 3}, {128, 128, 128, 128, 128, 128}},
    {"symmetric zero", TG_PNG_SYMMETRIC, {0, 0, 0, 0, 0, 0}, {128, 128, 128, 128, 128, 128}},
    /* non-finite values do not stretch the range */
    {"minmax with inf", TG_PNG_MINMAX, {0, 1, 2, INFINITY, -INFINITY, NAN}, {0, 128, 255, 255, 0, 0}},
};

TABLE_TEST(png, grid_normalization, tiles)
{
    const char *path = scratch_path("tile.png"), *what = tiles[*row].name;
    tg_error err;
    cr_assert_eq(tg_png_write_grid(path, tiles[*row].values, 1, 1, 6, 1, tiles[*row].normalize, 1, &err), TG_OK,
                 "%s: %s", what, err.msg);
    decoded img = read_png(path);
    cr_assert_eq(img.width, 6, "%s", what);
    cr_assert_eq(img.height, 1, "%s", what);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(img.pixels[i], tiles[*row].gray[i], "%s: pixel %d = %d, want %d", what, i, img.pixels[i],
                     tiles[*row].gray[i]);
    free(img.pixels);
}
