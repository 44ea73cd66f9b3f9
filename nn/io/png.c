/* nn/io/png.c — PNG with stored (uncompressed) deflate blocks and the image grid, written
 * with nn/io/atomic_file.h.  The file format is summarized in png.h. */
#include "nn/io/png.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/io/atomic_file.h"
#include "nn/io/crc32.h"

/* ---- PNG encoding ----------------------------------------------------------------------- */

static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

/* A deflate stored block carries at most 65535 bytes (its LEN field is 16 bits). */
#define STORED_BLOCK_MAX 65535u
/* A chunk's length field is limited to 2^31 − 1. */
#define CHUNK_DATA_MAX 2147483647u

static uint8_t *put_u32_be(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

/* Adler-32 (RFC 1950): a = 1 + Σ bytes, b = Σ a after each byte, both mod 65521, packed b·2^16+a.
 * Reducing every 5552 bytes is the largest run for which b cannot overflow 32 bits. */
static uint32_t adler32(const uint8_t *data, size_t len)
{
    const uint32_t mod = 65521u;
    uint32_t a = 1, b = 0;
    while (len > 0) {
        size_t run = len < 5552 ? len : 5552;
        len -= run;
        while (run--) {
            a += *data++;
            b += a;
        }
        a %= mod;
        b %= mod;
    }
    return (b << 16) | a;
}

/* Starts a chunk at p: length and type; returns where the data goes. */
static uint8_t *chunk_begin(uint8_t *p, uint32_t length, const char type[4])
{
    p = put_u32_be(p, length);
    memcpy(p, type, 4);
    return p + 4;
}

/* Ends the chunk whose type starts at `type_start` and whose data ends at `data_end`: appends
 * the CRC of type+data; returns the position after the chunk. */
static uint8_t *chunk_end(uint8_t *type_start, uint8_t *data_end)
{
    uint32_t crc = tg_crc32(0, type_start, (size_t)(data_end - type_start));
    return put_u32_be(data_end, crc);
}

/* Writes raw[0..raw_len) at p as one zlib stream (RFC 1950) of stored deflate blocks; returns the
 * position after it (2 + 5 per block + raw_len + 4 bytes). */
static uint8_t *put_zlib_stored(uint8_t *p, const uint8_t *raw, size_t raw_len)
{
    /* CMF 0x78: deflate, 32 KiB window; FLG 0x01: no dictionary, level 0, and the check bits
     * that make 0x7801 a multiple of 31. */
    *p++ = 0x78;
    *p++ = 0x01;
    for (size_t offset = 0; offset < raw_len; offset += STORED_BLOCK_MAX) {
        size_t n = raw_len - offset < STORED_BLOCK_MAX ? raw_len - offset : STORED_BLOCK_MAX;
        int final = offset + n == raw_len;
        /* BFINAL in bit 0, BTYPE 00 (stored) in bits 1-2, the rest of the byte is padding;
         * then LEN and its one's complement NLEN, little-endian. */
        *p++ = (uint8_t)final;
        *p++ = (uint8_t)(n & 0xFF);
        *p++ = (uint8_t)(n >> 8);
        *p++ = (uint8_t)(~n & 0xFF);
        *p++ = (uint8_t)((~n >> 8) & 0xFF);
        memcpy(p, raw + offset, n);
        p += n;
    }
    return put_u32_be(p, adler32(raw, raw_len));
}

/* Encodes an 8-bit image with `channels` 1 (gray) or 3 (RGB) into a freshly allocated PNG
 * file image *out of *out_len bytes. */
static int png_encode(const uint8_t *pixels, size_t width, size_t height, int channels,
                      uint8_t **out, size_t *out_len, const char *path, tg_error *err)
{
    *out = NULL;
    *out_len = 0;
    if (!pixels)
        return tg_error_set(err, TG_ERR_ARG, "png: %s: NULL pixels", path);
    if (width == 0 || height == 0 || width > TG_PNG_MAX_SIDE || height > TG_PNG_MAX_SIDE)
        return tg_error_set(err, TG_ERR_ARG, "png: %s: %zux%zu: sides must be in 1..%u", path, width,
                            height, TG_PNG_MAX_SIDE);

    // raw data [height, 1 + width·channels]: filter byte + row
    size_t row_bytes = width * (size_t)channels;
    if (row_bytes / (size_t)channels != width || row_bytes + 1 > SIZE_MAX / height)
        return tg_error_set(err, TG_ERR_ARG, "png: %s: %zux%zu: image too large", path, width, height);
    size_t raw_len = height * (row_bytes + 1);
    size_t blocks = (raw_len + STORED_BLOCK_MAX - 1) / STORED_BLOCK_MAX;
    /* zlib: 2 header bytes, 5 header bytes per stored block, the data, 4 Adler-32 bytes. */
    size_t zlib_len = 2 + 5 * blocks + raw_len + 4;
    if (raw_len > CHUNK_DATA_MAX || zlib_len > CHUNK_DATA_MAX)
        return tg_error_set(err, TG_ERR_ARG, "png: %s: %zux%zu: image too large for one IDAT chunk",
                            path, width, height);
    size_t file_len = sizeof png_signature + (12 + 13) + (12 + zlib_len) + 12;

    uint8_t *raw = malloc(raw_len);
    uint8_t *file = malloc(file_len);
    if (!raw || !file) {
        free(raw);
        free(file);
        return tg_error_set(err, TG_ERR_NOMEM, "png: %s: %zux%zu: out of memory", path, width, height);
    }
    for (size_t y = 0; y < height; y++) {
        raw[y * (row_bytes + 1)] = 0; /* filter type None: the bytes are stored as they are */
        memcpy(raw + y * (row_bytes + 1) + 1, pixels + y * row_bytes, row_bytes);
    }

    uint8_t *p = file;
    memcpy(p, png_signature, sizeof png_signature);
    p += sizeof png_signature;

    uint8_t *type = p + 4;
    p = chunk_begin(p, 13, "IHDR");
    p = put_u32_be(p, (uint32_t)width);
    p = put_u32_be(p, (uint32_t)height);
    *p++ = 8;                     /* bit depth */
    *p++ = channels == 1 ? 0 : 2; /* colour type: gray / truecolour */
    *p++ = 0;                     /* compression: deflate */
    *p++ = 0;                     /* filter method: adaptive, five types */
    *p++ = 0;                     /* no interlace */
    p = chunk_end(type, p);

    type = p + 4;
    p = chunk_begin(p, (uint32_t)zlib_len, "IDAT");
    p = put_zlib_stored(p, raw, raw_len);
    p = chunk_end(type, p);

    type = p + 4;
    p = chunk_begin(p, 0, "IEND");
    p = chunk_end(type, p);

    free(raw);
    *out = file;
    *out_len = (size_t)(p - file);
    return TG_OK;
}

static int png_write(const char *path, const uint8_t *pixels, size_t width, size_t height,
                     int channels, tg_error *err)
{
    if (!path || !*path)
        return tg_error_set(err, TG_ERR_ARG, "png: empty path");
    uint8_t *file;
    size_t file_len;
    int rc = png_encode(pixels, width, height, channels, &file, &file_len, path, err);
    if (rc != TG_OK)
        return rc;
    rc = tg_write_file_atomic(path, file, file_len, err);
    free(file);
    return rc;
}

int tg_png_write_gray(const char *path, const uint8_t *pixels, size_t width, size_t height,
                      tg_error *err)
{
    return png_write(path, pixels, width, height, 1, err);
}

int tg_png_write_rgb(const char *path, const uint8_t *pixels, size_t width, size_t height,
                     tg_error *err)
{
    return png_write(path, pixels, width, height, 3, err);
}

/* ---- image grid ------------------------------------------------------------------------- */

/* v in [0,1] (clamped) → 0..255, rounded; NaN → 0. */
static uint8_t unit_to_gray(double v)
{
    if (!(v > 0.0)) /* also catches NaN */
        return 0;
    if (v >= 1.0)
        return 255;
    return (uint8_t)lround(v * 255.0);
}

/* Converts one tile's values tile [n] to gray levels gray [n] according to `normalize`. */
static void tile_to_gray(const float *tile, size_t n, int normalize, uint8_t *gray)
{
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(tile[i]))
            continue;
        if (tile[i] < lo)
            lo = tile[i];
        if (tile[i] > hi)
            hi = tile[i];
    }
    int have_range = lo <= hi; /* at least one finite value */
    double max_abs = have_range ? fmax(fabs(lo), fabs(hi)) : 0.0;

    for (size_t i = 0; i < n; i++) {
        double v = tile[i];
        if (normalize == TG_PNG_MINMAX) {
            if (isnan(v))
                gray[i] = 0;
            else if (!have_range || hi == lo)
                gray[i] = isinf(v) ? (v > 0 ? 255 : 0) : 128;
            else
                gray[i] = unit_to_gray((v - lo) / (hi - lo));
        } else if (normalize == TG_PNG_SYMMETRIC) {
            if (isnan(v))
                gray[i] = 0;
            else if (max_abs == 0.0)
                gray[i] = isinf(v) ? (v > 0 ? 255 : 0) : 128;
            else
                gray[i] = unit_to_gray(0.5 * (v / max_abs + 1.0)); /* −m → 0, 0 → 128, m → 255 */
        } else {
            gray[i] = unit_to_gray(v);
        }
    }
}

int tg_png_write_grid(const char *path, const float *images, size_t count, size_t img_rows,
                      size_t img_cols, size_t grid_cols, int normalize, size_t scale,
                      tg_error *err)
{
    const char *name = path ? path : "(null)";
    if (!images || count == 0 || img_rows == 0 || img_cols == 0 || grid_cols == 0 || scale == 0)
        return tg_error_set(err, TG_ERR_ARG,
                            "png grid: %s: count=%zu tile=%zux%zu grid_cols=%zu scale=%zu%s: "
                            "all must be positive",
                            name, count, img_rows, img_cols, grid_cols, scale,
                            images ? "" : " images=NULL");
    if (normalize != TG_PNG_UNIT && normalize != TG_PNG_MINMAX && normalize != TG_PNG_SYMMETRIC)
        return tg_error_set(err, TG_ERR_ARG, "png grid: %s: normalize=%d: expected 0, 1 or 2", name,
                            normalize);

    size_t cols = grid_cols < count ? grid_cols : count;
    size_t rows = (count + cols - 1) / cols;
    /* Sizes are bounded by PNG's 2^31 − 1 per side, checked step by step against overflow. */
    const size_t limit = TG_PNG_MAX_SIDE;
    if (img_rows > limit / scale || img_cols > limit / scale || img_rows > SIZE_MAX / img_cols)
        return tg_error_set(err, TG_ERR_ARG, "png grid: %s: tile %zux%zu at scale %zu is too large",
                            name, img_rows, img_cols, scale);
    size_t tile_w = img_cols * scale, tile_h = img_rows * scale;
    if (cols > (limit + 1) / (tile_w + 1) || rows > (limit + 1) / (tile_h + 1))
        return tg_error_set(err, TG_ERR_ARG, "png grid: %s: %zux%zu tiles of %zux%zu are too large",
                            name, rows, cols, tile_h, tile_w);
    size_t width = cols * (tile_w + 1) - 1;
    size_t height = rows * (tile_h + 1) - 1;
    size_t tile_len = img_rows * img_cols;
    if (width > SIZE_MAX / height || count > SIZE_MAX / sizeof(float) / tile_len)
        return tg_error_set(err, TG_ERR_ARG, "png grid: %s: %zux%zu pixels are too many", name, width,
                            height);

    uint8_t *canvas = malloc(width * height);
    uint8_t *gray = malloc(tile_len);
    if (!canvas || !gray) {
        free(canvas);
        free(gray);
        return tg_error_set(err, TG_ERR_NOMEM, "png grid: %s: %zux%zu: out of memory", name, width,
                            height);
    }
    memset(canvas, TG_PNG_GAP_GRAY, width * height);
    for (size_t t = 0; t < count; t++) {
        tile_to_gray(images + t * tile_len, tile_len, normalize, gray);
        size_t x0 = (t % cols) * (tile_w + 1), y0 = (t / cols) * (tile_h + 1);
        for (size_t y = 0; y < tile_h; y++) {
            uint8_t *dst = canvas + (y0 + y) * width + x0;
            const uint8_t *src = gray + (y / scale) * img_cols;
            for (size_t x = 0; x < tile_w; x++)
                dst[x] = src[x / scale];
        }
    }
    free(gray);
    int rc = tg_png_write_gray(path, canvas, width, height, err);
    free(canvas);
    return rc;
}
