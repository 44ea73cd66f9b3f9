/* nn/io/png.h — a small PNG writer (8-bit grayscale or RGB) and an image-grid helper for
 * the `cae render` pictures (filters.png, recon.png, tangents.png).  No libpng, no zlib.
 *
 * File layout written (PNG spec, ISO/IEC 15948):
 *   signature  89 50 4E 47 0D 0A 1A 0A
 *   IHDR       width, height (big-endian u32), bit depth 8, colour type 0 (gray) or 2 (RGB),
 *              compression 0, filter method 0, no interlace
 *   IDAT       one zlib stream (RFC 1950): header 78 01, deflate (RFC 1951) *stored* blocks of
 *              at most 65535 bytes each (no compression: the pictures are small and the code
 *              stays trivially checkable), Adler-32 of the raw data, big-endian
 *              raw data = for each row: filter type 0 (None), then the row's bytes
 *   IEND
 * Every chunk is length (u32 BE), type, data, CRC-32 of type+data (tg_crc32).
 *
 * Files are written atomically: to a temporary file "PATH.tmp-PID-N" in the same directory
 * first, then renamed over PATH, so a reader never sees half a file and a failure leaves any
 * previous PATH untouched.  Errors are values; messages name the file. */
#ifndef TG_PNG_H
#define TG_PNG_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The largest width or height PNG allows (2^31 − 1). */
#define TG_PNG_MAX_SIDE 2147483647u

/* Grayscale image, pixels [height,width] row-major, 0 = black, 255 = white. */
int tg_png_write_gray(const char *path, const uint8_t *pixels, size_t width, size_t height,
                      tg_error *err);

/* RGB image, pixels [height,width,3] row-major, channel order R, G, B. */
int tg_png_write_rgb(const char *path, const uint8_t *pixels, size_t width, size_t height,
                     tg_error *err);

/* How tg_png_write_grid maps a tile's float values to gray levels. */
enum tg_png_normalize {
    TG_PNG_UNIT = 0,      /* values are in [0,1]: gray = round(255·v), clamped */
    TG_PNG_MINMAX = 1,    /* per tile: min → 0, max → 255; a constant tile is mid-gray (128) */
    TG_PNG_SYMMETRIC = 2, /* per tile: −m → 0, 0 → 128, +m → 255 with m = max|v| (filters,
                             tangent vectors: the sign matters, the scale does not) */
};

/* Gray level of the gap between tiles and of the empty cells after the last tile. */
#define TG_PNG_GAP_GRAY 255

/* A grid of `count` grayscale tiles, images [count, img_rows, img_cols] float, row-major,
 * laid out left to right, top to bottom, min(grid_cols, count) tiles per row.  Each source
 * pixel becomes a scale×scale block, and tiles are separated by a 1-pixel gap (not scaled):
 *     width  = cols·img_cols·scale + (cols − 1),   cols = min(grid_cols, count)
 *     height = rows·img_rows·scale + (rows − 1),   rows = ceil(count / cols)
 * so tile (r, c) starts at x = c·(img_cols·scale + 1), y = r·(img_rows·scale + 1).
 * `normalize` is an enum tg_png_normalize.  Non-finite values are ignored when a tile's range
 * is measured; NaN is drawn black, ±Inf at the ends of the range. */
int tg_png_write_grid(const char *path, const float *images, size_t count, size_t img_rows,
                      size_t img_cols, size_t grid_cols, int normalize, size_t scale,
                      tg_error *err);


#ifdef __cplusplus
}
#endif

#endif
