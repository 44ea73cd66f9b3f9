/* tests/test_png.c — the PNG writer, the image grid and the SVG chart writer.
 *
 * The PNG bytes are checked by a minimal reader written here, independently of the writer:
 * it walks the chunks (checking each CRC with its own bit-at-a-time CRC-32), checks IHDR,
 * concatenates IDAT, parses the zlib stream's stored blocks, checks the Adler-32 (again its own
 * implementation), un-filters the rows (type 0 only) and hands back the pixels. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nn/io/png.h"
#include "nn/io/svg.h"

/* ---- a scratch directory per test ------------------------------------------------------- */

static char scratch[256];

static void make_scratch(void)
{
    snprintf(scratch, sizeof scratch, "/tmp/tg_test_png_XXXXXX");
    cr_assert(mkdtemp(scratch), "mkdtemp failed");
}

static void remove_scratch(void)
{
    DIR *d = opendir(scratch);
    if (!d)
        return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", scratch, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(scratch);
}

static const char *scratch_path(const char *name)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", scratch, name);
    return p;
}

static size_t scratch_entries(void)
{
    DIR *d = opendir(scratch);
    cr_assert(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static uint8_t *read_whole(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n + 1);
    cr_assert(buf);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = 0;
    *len = (size_t)n;
    return buf;
}

/* ---- the independent reader ------------------------------------------------------------- */

/* CRC-32 (IEEE, reflected), one bit at a time: no table, nothing shared with nn/io/crc32.c. */
static uint32_t bitwise_crc32(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}

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
    uint8_t *file = read_whole(path, &len);
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

static void roundtrip_gray(size_t w, size_t h, int expect_blocks)
{
    uint8_t *pix = malloc(w * h);
    cr_assert(pix);
    for (size_t i = 0; i < w * h; i++)
        pix[i] = (uint8_t)((i * 37 + i / w * 11) & 0xFF);
    tg_error err;
    const char *path = scratch_path("gray.png");
    cr_assert_eq(tg_png_write_gray(path, pix, w, h, &err), TG_OK, "%s", err.msg);
    decoded img = read_png(path);
    cr_assert_eq(img.width, w);
    cr_assert_eq(img.height, h);
    cr_assert_eq(img.channels, 1);
    cr_assert_eq(memcmp(img.pixels, pix, w * h), 0, "%zux%zu: pixels differ", w, h);
    if (expect_blocks)
        cr_assert_eq(img.stored_blocks, expect_blocks, "%zux%zu: %d blocks", w, h, img.stored_blocks);
    free(img.pixels);
    free(pix);
}

Test(png, gray_roundtrip_small, .init = make_scratch, .fini = remove_scratch)
{
    roundtrip_gray(7, 5, 1);
    roundtrip_gray(1, 1, 1);
}

Test(png, gray_roundtrip_multiple_stored_blocks, .init = make_scratch, .fini = remove_scratch)
{
    /* raw size = h·(1 + w): 255·257 = 65535 fits one block exactly, 256·256 = 65536 needs a
     * second block of one byte; 400·601 = 240400 needs four. */
    roundtrip_gray(256, 255, 1);
    roundtrip_gray(255, 256, 2);
    roundtrip_gray(600, 400, 4);
}

Test(png, rgb_roundtrip, .init = make_scratch, .fini = remove_scratch)
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

Test(png, overwrite_is_atomic_and_leaves_no_temporary, .init = make_scratch, .fini = remove_scratch)
{
    uint8_t a[4] = {1, 2, 3, 4}, b[6] = {9, 8, 7, 6, 5, 4};
    const char *path = scratch_path("x.png");
    cr_assert_eq(tg_png_write_gray(path, a, 2, 2, NULL), TG_OK);
    cr_assert_eq(tg_png_write_gray(path, b, 3, 2, NULL), TG_OK);
    decoded img = read_png(path);
    cr_assert_eq(img.width, 3);
    cr_assert_eq(memcmp(img.pixels, b, 6), 0);
    free(img.pixels);
    cr_assert_eq(scratch_entries(), 1, "temporary files left behind");
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

Test(png, grid_layout_gaps_and_scale, .init = make_scratch, .fini = remove_scratch)
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

Test(png, grid_columns_clamped_to_count, .init = make_scratch, .fini = remove_scratch)
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

/* Grid of one 1×6 tile, returns its six gray levels. */
static void one_tile(const float v[6], int normalize, uint8_t out[6])
{
    const char *path = scratch_path("tile.png");
    tg_error err;
    cr_assert_eq(tg_png_write_grid(path, v, 1, 1, 6, 1, normalize, 1, &err), TG_OK, "%s", err.msg);
    decoded img = read_png(path);
    cr_assert_eq(img.width, 6);
    cr_assert_eq(img.height, 1);
    memcpy(out, img.pixels, 6);
    free(img.pixels);
}

static void assert_gray(const uint8_t got[6], const uint8_t want[6], const char *what)
{
    for (int i = 0; i < 6; i++)
        cr_assert_eq(got[i], want[i], "%s: pixel %d = %d, want %d", what, i, got[i], want[i]);
}

Test(png, grid_normalization, .init = make_scratch, .fini = remove_scratch)
{
    uint8_t g[6];
    /* unit: clamped, rounded, NaN black */
    const float unit[6] = {-0.5f, 0.0f, 0.5f, 1.0f, 1.5f, NAN};
    one_tile(unit, TG_PNG_UNIT, g);
    assert_gray(g, (const uint8_t[6]){0, 0, 128, 255, 255, 0}, "unit");

    /* min-max: (v − 2)/4·255 → 0, 127.5, 255, 63.75, 191.25, 127.5 */
    const float mm[6] = {2, 4, 6, 3, 5, 4};
    one_tile(mm, TG_PNG_MINMAX, g);
    assert_gray(g, (const uint8_t[6]){0, 128, 255, 64, 191, 128}, "minmax");

    /* symmetric with m = 2: (v/2 + 1)/2·255 → 0, 127.5, 191.25, 255, 63.75, 159.375 */
    const float sym[6] = {-2, 0, 1, 2, -1, 0.5f};
    one_tile(sym, TG_PNG_SYMMETRIC, g);
    assert_gray(g, (const uint8_t[6]){0, 128, 191, 255, 64, 159}, "symmetric");

    /* symmetric keeps 0 at mid-gray even when the values are all positive */
    const float pos[6] = {0, 1, 2, 3, 4, 4};
    one_tile(pos, TG_PNG_SYMMETRIC, g);
    assert_gray(g, (const uint8_t[6]){128, 159, 191, 223, 255, 255}, "symmetric positive");

    /* constant tiles: mid-gray; non-finite values do not stretch the range */
    const float flat[6] = {3, 3, 3, 3, 3, 3};
    one_tile(flat, TG_PNG_MINMAX, g);
    assert_gray(g, (const uint8_t[6]){128, 128, 128, 128, 128, 128}, "minmax constant");
    const float zero[6] = {0, 0, 0, 0, 0, 0};
    one_tile(zero, TG_PNG_SYMMETRIC, g);
    assert_gray(g, (const uint8_t[6]){128, 128, 128, 128, 128, 128}, "symmetric zero");
    const float inf[6] = {0, 1, 2, INFINITY, -INFINITY, NAN};
    one_tile(inf, TG_PNG_MINMAX, g);
    assert_gray(g, (const uint8_t[6]){0, 128, 255, 255, 0, 0}, "minmax with inf");
}

/* ---- SVG -------------------------------------------------------------------------------- */

static size_t count_of(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* The d attribute of the k-th series path, copied into buf. */
static void path_data(const char *doc, size_t k, char *buf, size_t len)
{
    const char *p = doc;
    for (size_t i = 0; i <= k; i++) {
        p = strstr(p, "<path class=\"series\"");
        cr_assert(p, "series path %zu missing", k);
        p++;
    }
    const char *d = strstr(p, " d=\"");
    cr_assert(d);
    d += 4;
    const char *end = strchr(d, '"');
    cr_assert(end && (size_t)(end - d) < len);
    memcpy(buf, d, (size_t)(end - d));
    buf[end - d] = '\0';
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

Test(svg, three_series_with_legend_and_escaping)
{
    const double x[4] = {0, 1, 2, 3};
    const double y1[4] = {1.0, 0.5, 0.25, 0.125}, y2[4] = {0.9, 0.6, 0.4, 0.3}, y3[2] = {0.2, 0.1};
    const tg_chart_series series[3] = {
        {.name = "lambda=1e-4", .x = x, .y = y1, .n = 4},
        {.name = "tied <W> & co", .x = x, .y = y2, .n = 4},
        {.name = "short", .x = x, .y = y3, .n = 2},
    };
    tg_chart chart = {.title = "loss < 1 & falling", .x_label = "step", .y_label = "loss",
                      .series = series, .nseries = 3};
    char *doc;
    size_t len;
    tg_error err;
    cr_assert_eq(tg_svg_chart_string(&chart, &doc, &len, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(strlen(doc), len);
    cr_assert(!strncmp(doc, "<svg", 4));
    cr_assert(ends_with(doc, "</svg>\n"));
    cr_assert_eq(count_of(doc, "<path"), 3);
    cr_assert_eq(count_of(doc, "<svg"), 1);
    cr_assert(strstr(doc, ">lambda=1e-4</text>"));
    cr_assert(strstr(doc, ">tied &lt;W&gt; &amp; co</text>"));
    cr_assert(strstr(doc, ">short</text>"));
    cr_assert(strstr(doc, ">loss &lt; 1 &amp; falling</text>"));
    cr_assert(!strstr(doc, "loss < 1"));
    cr_assert(!strstr(doc, "& co"));
    cr_assert(strstr(doc, ">step</text>"));
    /* distinct colours */
    char d0[4096];
    path_data(doc, 0, d0, sizeof d0);
    cr_assert(strstr(doc, "stroke=\"#0072B2\"") && strstr(doc, "stroke=\"#D55E00\"") &&
              strstr(doc, "stroke=\"#009E73\""));
    /* every '<' opens a tag: escaping left no stray '<' in text */
    size_t opens = count_of(doc, "<"), closes = count_of(doc, ">");
    cr_assert_eq(opens, closes);
    free(doc);
}

Test(svg, pixel_mapping_and_linear_ticks)
{
    /* x in [0,10] and y in [0,1] are already "nice": the points map to the plot corners.
     * Plot area: left 80, top 44, 560×360 by default. */
    const double x[2] = {0, 10}, y[2] = {0, 1};
    const tg_chart_series s = {.name = "a", .x = x, .y = y, .n = 2};
    tg_chart chart = {.series = &s, .nseries = 1};
    char *doc, d[256];
    size_t len;
    cr_assert_eq(tg_svg_chart_string(&chart, &doc, &len, NULL), TG_OK);
    path_data(doc, 0, d, sizeof d);
    cr_assert_str_eq(d, "M80.00 404.00 L640.00 44.00");
    for (int t = 0; t <= 10; t += 2) {
        char label[32];
        snprintf(label, sizeof label, ">%d</text>", t);
        cr_assert(strstr(doc, label), "x tick %d missing", t);
    }
    cr_assert(strstr(doc, ">0.0</text>") && strstr(doc, ">0.4</text>") && strstr(doc, ">1.0</text>"));
    free(doc);

    /* a loss-like range 0.031..0.118 (0.087/6 = 0.0145 rounds to a step of 0.01): ticks
     * 0.03, 0.04, …, 0.12 and nothing outside */
    const double ly[3] = {0.118, 0.05, 0.031};
    const tg_chart_series ls = {.name = "loss", .y = ly, .n = 3};
    tg_chart loss = {.series = &ls, .nseries = 1};
    cr_assert_eq(tg_svg_chart_string(&loss, &doc, &len, NULL), TG_OK);
    cr_assert(strstr(doc, ">0.03</text>") && strstr(doc, ">0.12</text>") && strstr(doc, ">0.07</text>"));
    cr_assert(!strstr(doc, ">0.02</text>") && !strstr(doc, ">0.13</text>"));
    /* x NULL: x = 1, 2, 3 */
    cr_assert(strstr(doc, ">1.0</text>") && strstr(doc, ">3.0</text>"));
    free(doc);
}

Test(svg, nan_and_nonpositive_on_log_are_skipped)
{
    const double y[6] = {1.0, NAN, 3.0, 4.0, INFINITY, 5.0};
    const tg_chart_series s = {.name = "gaps", .y = y, .n = 6};
    tg_chart chart = {.series = &s, .nseries = 1};
    char *doc, d[512];
    size_t len;
    cr_assert_eq(tg_svg_chart_string(&chart, &doc, &len, NULL), TG_OK);
    path_data(doc, 0, d, sizeof d);
    /* subpaths: {1} {3,4} {5} — three M, one L; the two lonely points get markers */
    cr_assert_eq(count_of(d, "M"), 3, "%s", d);
    cr_assert_eq(count_of(d, "L"), 1, "%s", d);
    cr_assert_eq(count_of(doc, "<circle"), 2);
    cr_assert(!strstr(doc, "nan") && !strstr(doc, "inf"));
    free(doc);

    /* log y: 0 and −1 cannot be drawn */
    const double ly[5] = {10.0, 0.0, 1.0, -1.0, 0.01};
    const tg_chart_series logs = {.name = "spectrum", .y = ly, .n = 5};
    tg_chart logc = {.log_y = 1, .markers = 1, .series = &logs, .nseries = 1};
    cr_assert_eq(tg_svg_chart_string(&logc, &doc, &len, NULL), TG_OK);
    path_data(doc, 0, d, sizeof d);
    cr_assert_eq(count_of(d, "M"), 3, "%s", d);
    cr_assert_eq(count_of(d, "L"), 0, "%s", d);
    cr_assert_eq(count_of(doc, "<circle"), 3 + 1); /* the points and the legend's sample */
    cr_assert(strstr(doc, ">0.01</text>") && strstr(doc, ">0.1</text>") && strstr(doc, ">10</text>"));
    cr_assert(!strstr(doc, "nan") && !strstr(doc, "inf"));
    free(doc);
}

Test(svg, log_axis_wide_range_labels)
{
    const double y[3] = {1e-12, 1e-3, 50.0};
    const tg_chart_series s = {.name = "wide", .y = y, .n = 3};
    tg_chart chart = {.log_y = 1, .log_x = 1, .series = &s, .nseries = 1};
    char *doc;
    size_t len;
    cr_assert_eq(tg_svg_chart_string(&chart, &doc, &len, NULL), TG_OK);
    /* 14 decades, labeled every 2nd: 1e-12, 1e-10, …, 0.01, 1, 100 */
    cr_assert(strstr(doc, ">1e-12</text>") && strstr(doc, ">1e-10</text>"));
    cr_assert(strstr(doc, ">0.01</text>") && strstr(doc, ">100</text>"));
    cr_assert(!strstr(doc, ">1e-11</text>"));
    free(doc);
}

Test(svg, single_point_empty_series_and_no_data)
{
    const double one[1] = {2.5};
    const tg_chart_series s[2] = {{.name = "dot", .y = one, .n = 1}, {.name = "nothing", .n = 0}};
    tg_chart chart = {.title = "edge cases", .series = s, .nseries = 2};
    char *doc, d[256];
    size_t len;
    cr_assert_eq(tg_svg_chart_string(&chart, &doc, &len, NULL), TG_OK);
    cr_assert_eq(count_of(doc, "<path"), 2);
    path_data(doc, 0, d, sizeof d);
    cr_assert_eq(count_of(d, "M"), 1);
    path_data(doc, 1, d, sizeof d);
    cr_assert_str_eq(d, "");
    cr_assert_eq(count_of(doc, "<circle"), 1);
    cr_assert(strstr(doc, ">dot</text>") && strstr(doc, ">nothing</text>"));
    cr_assert(!strstr(doc, "nan") && !strstr(doc, "inf"));
    free(doc);

    tg_chart empty = {.log_y = 1};
    cr_assert_eq(tg_svg_chart_string(&empty, &doc, &len, NULL), TG_OK);
    cr_assert(!strncmp(doc, "<svg", 4) && ends_with(doc, "</svg>\n"));
    cr_assert_eq(count_of(doc, "<path"), 0);
    free(doc);
}

Test(svg, many_series_get_dashes_and_default_names)
{
    double y[10][2];
    tg_chart_series s[10];
    for (int k = 0; k < 10; k++) {
        y[k][0] = k;
        y[k][1] = k + 1;
        s[k] = (tg_chart_series){.y = y[k], .n = 2};
    }
    tg_chart chart = {.series = s, .nseries = 10};
    char *doc;
    size_t len;
    cr_assert_eq(tg_svg_chart_string(&chart, &doc, &len, NULL), TG_OK);
    cr_assert_eq(count_of(doc, "<path"), 10);
    cr_assert(strstr(doc, ">series 1</text>") && strstr(doc, ">series 10</text>"));
    cr_assert_geq(count_of(doc, "stroke-dasharray"), 2); /* series 9 and 10: path and legend */
    free(doc);
}

Test(svg, write_file_and_errors, .init = make_scratch, .fini = remove_scratch)
{
    const double y[3] = {3, 2, 1};
    const tg_chart_series s = {.name = "s", .y = y, .n = 3};
    tg_chart chart = {.title = "t", .series = &s, .nseries = 1};
    tg_error err;
    const char *path = scratch_path("c.svg");
    cr_assert_eq(tg_svg_write_chart(path, &chart, &err), TG_OK, "%s", err.msg);
    size_t len;
    char *doc = (char *)read_whole(path, &len);
    cr_assert(!strncmp(doc, "<svg", 4) && ends_with(doc, "</svg>\n"));
    free(doc);
    cr_assert_eq(scratch_entries(), 1);

    const char *missing = "/nonexistent_dir_tg_test/c.svg";
    cr_assert_eq(tg_svg_write_chart(missing, &chart, &err), TG_ERR_IO);
    cr_assert(strstr(err.msg, missing), "%s", err.msg);

    tg_chart bad = {.nseries = 2};
    cr_assert_eq(tg_svg_write_chart(path, &bad, &err), TG_ERR_ARG);
    const tg_chart_series no_y = {.name = "x", .n = 3};
    tg_chart bad2 = {.series = &no_y, .nseries = 1};
    cr_assert_eq(tg_svg_write_chart(path, &bad2, &err), TG_ERR_ARG);
    cr_assert_eq(tg_svg_write_chart(path, NULL, &err), TG_ERR_ARG);
}
