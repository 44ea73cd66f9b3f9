/* tests/idx_bytes.h — IDX files and gzip members for the tests of nn/io/ (idx, inflate, crc32,
 * dataset loading): builders that write them byte by byte from the formats' specifications
 * (never with the code under test: the gzip CRC comes from io_test.h's bitwise_crc32), and two
 * members made by the system gzip, pasted with the input they decode to. */
#ifndef TG_TESTS_IDX_BYTES_H
#define TG_TESTS_IDX_BYTES_H

#include "io_test.h"

/* ---- members made with the system gzip (GNU gzip 1.12) ------------------------------------------
 *     gzip -9 -n -c < fixed.idx > fixed.gz      (-n: no name, no time stamp: reproducible bytes)
 *     gzip -9 -n -c < dyn.idx   > dyn.gz
 *     xxd -i < fixed.gz
 * gzip chose a fixed-Huffman block for the 34-byte input (byte 10 = 0x63: BFINAL 1, BTYPE 01) and
 * a dynamic-Huffman block for the 245-byte one (byte 10 = 0x3d: BFINAL 1, BTYPE 10). */

#define TG_TEST_UNUSED __attribute__((unused)) /* not every test file uses every sample */

/* fixed.idx: IDX images, 2 images of 3x3, pixel k (0..17 over both images) = 15*k. */
static const uint8_t fixed_idx[34] TG_TEST_UNUSED = {
    0x00, 0x00, 0x08, 0x03, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x03,
    0, 15, 30, 45, 60, 75, 90, 105, 120, 135, 150, 165, 180, 195, 210, 225, 240, 255,
};
static const uint8_t fixed_gz[50] TG_TEST_UNUSED = {
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x63, 0x60,
    0xe0, 0x60, 0x66, 0x60, 0x60, 0x60, 0x02, 0x62, 0x66, 0x30, 0xe6, 0x97,
    0xd3, 0xb5, 0xf1, 0x8e, 0xca, 0xac, 0x68, 0x9f, 0xb6, 0x74, 0xcb, 0xe1,
    0x4b, 0x0f, 0x3f, 0xfc, 0x07, 0x00, 0xa0, 0x51, 0x43, 0xc2, 0x22, 0x00,
    0x00, 0x00,
};

/* dyn.idx: a 1-D IDX file of 237 bytes holding this text. */
#define DYN_TEXT \
    "Sphinx of black quartz, judge my vow. The five boxing wizards jump quickly. " \
    "Pack my box with five dozen liquor jugs. How vexingly quick daft zebras jump! " \
    "Jackdaws love my big sphinx of quartz. The quick brown fox jumps over the lazy dog."
static const uint8_t dyn_header[8] TG_TEST_UNUSED = { 0x00, 0x00, 0x08, 0x01, 0x00, 0x00, 0x00, 0xed };
static const uint8_t dyn_gz[185] TG_TEST_UNUSED = {
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x3d, 0x8e,
    0x41, 0x0e, 0xc2, 0x20, 0x10, 0x45, 0x71, 0xe7, 0x31, 0xbe, 0x7b, 0xc3,
    0x39, 0x8c, 0x2b, 0x13, 0xbd, 0x00, 0x14, 0x4a, 0xb1, 0xb4, 0xb4, 0xd0,
    0x96, 0xc2, 0x9d, 0xbd, 0x83, 0x53, 0x49, 0x5c, 0xcf, 0x7f, 0x6f, 0x1e,
    0x63, 0xe7, 0x13, 0x63, 0xec, 0xf3, 0x9c, 0x3a, 0x3b, 0xee, 0xf0, 0x2d,
    0xa4, 0x13, 0x4d, 0x8f, 0x79, 0x15, 0x61, 0x29, 0x57, 0xbc, 0x57, 0x65,
    0x34, 0x86, 0x8c, 0xcd, 0x27, 0x8e, 0x57, 0xa7, 0xd1, 0xda, 0x4d, 0x43,
    0xfa, 0xdd, 0x8e, 0x06, 0xc9, 0x16, 0x11, 0x54, 0xa4, 0xd5, 0x30, 0x11,
    0x62, 0x9b, 0xde, 0x65, 0x8e, 0xc7, 0x21, 0x20, 0x84, 0x46, 0xb4, 0x58,
    0xba, 0x8a, 0x28, 0x5f, 0xf4, 0x08, 0x67, 0xe7, 0xd5, 0x07, 0x02, 0x4c,
    0xe4, 0xb8, 0xf9, 0x84, 0x4d, 0x1f, 0x26, 0x97, 0x2b, 0x0e, 0x25, 0xda,
    0x05, 0x45, 0xcb, 0x20, 0xaa, 0xf5, 0x82, 0x3b, 0xd9, 0x94, 0x48, 0x11,
    0xce, 0x6f, 0xbf, 0x12, 0x69, 0x0d, 0xe2, 0x3f, 0xb7, 0x86, 0xd6, 0xb4,
    0xaa, 0x90, 0xc1, 0xa7, 0x11, 0x2d, 0x3d, 0x3f, 0x04, 0x11, 0x84, 0x05,
    0x2c, 0x74, 0x76, 0xa2, 0x64, 0xca, 0x30, 0xfc, 0x0b, 0x5d, 0x18, 0x22,
    0x4d, 0xf5, 0x00, 0x00, 0x00,
};

/* ---- builders ---------------------------------------------------------------------------------- */

/* IDX file: magic 00 00 type ndim, big-endian dims, then `data`. */
static inline void make_idx(bytes *b, unsigned type, unsigned ndim, const uint32_t *dims, const uint8_t *data,
                            size_t len)
{
    b->len = 0;
    put(b, (uint8_t[]){0, 0, (uint8_t)type, (uint8_t)ndim}, 4);
    for (unsigned i = 0; i < ndim; i++)
        put_be32(b, dims[i]);
    put(b, data, len);
}

enum { GZ_WITH_EXTRA = 1, GZ_WITH_NAME = 2, GZ_WITH_COMMENT = 4, GZ_WITH_HCRC = 8 };

/* A gzip member whose DEFLATE data is stored blocks of at most `block` bytes (RFC 1951 3.2.4:
 * a 3-bit block header padded to a byte, LEN, NLEN = ~LEN, the bytes).  `options` adds the
 * optional header fields of RFC 1952 2.3.1. */
static inline void make_gzip_stored(bytes *b, const uint8_t *data, size_t len, size_t block, unsigned options)
{
    b->len = 0;
    unsigned flags = (options & GZ_WITH_HCRC ? 2 : 0) | (options & GZ_WITH_EXTRA ? 4 : 0) |
                     (options & GZ_WITH_NAME ? 8 : 0) | (options & GZ_WITH_COMMENT ? 16 : 0);
    const uint8_t fixed_part[10] = { 0x1f, 0x8b, 8, (uint8_t)flags, 0x12, 0x34, 0x56, 0x78, 0, 3 };
    put(b, fixed_part, 10);
    if (options & GZ_WITH_EXTRA) {
        const uint8_t extra[6] = { 'A', 'p', 2, 0, 'x', 'y' }; /* one subfield: id "Ap", 2 bytes */
        put_le16(b, sizeof extra);
        put(b, extra, sizeof extra);
    }
    if (options & GZ_WITH_NAME)
        put(b, "images.idx", 11); /* with its NUL */
    if (options & GZ_WITH_COMMENT)
        put(b, "made by test_idx", 17);
    if (options & GZ_WITH_HCRC)
        put_le16(b, bitwise_crc32(b->p, b->len) & 0xFFFF);
    size_t done = 0;
    do {
        size_t n = len - done < block ? len - done : block;
        bool last = done + n == len;
        put_u8(b, last ? 1 : 0); /* BFINAL, BTYPE 00, then padding to the byte boundary */
        put_le16(b, (unsigned)n);
        put_le16(b, (unsigned)(~n & 0xFFFF));
        put(b, data + done, n);
        done += n;
    } while (done < len);
    put_le32(b, bitwise_crc32(data, len));
    put_le32(b, (uint32_t)len);
}

/* Five 4x4 images with pixel (i, k) = 10*i + k, and labels 3 1 4 1 5. */
#define SMALL_N 5
#define SMALL_DIM 16
static const uint8_t small_labels[SMALL_N] TG_TEST_UNUSED = { 3, 1, 4, 1, 5 };

static inline void small_images(bytes *b)
{
    uint8_t pixels[SMALL_N * SMALL_DIM];
    for (int i = 0; i < SMALL_N; i++)
        for (int k = 0; k < SMALL_DIM; k++)
            pixels[i * SMALL_DIM + k] = (uint8_t)(10 * i + k);
    const uint32_t dims[3] = { SMALL_N, 4, 4 };
    make_idx(b, 0x08, 3, dims, pixels, sizeof pixels);
}

static inline void small_labels_idx(bytes *b, uint32_t count)
{
    const uint32_t dims[1] = { count };
    make_idx(b, 0x08, 1, dims, small_labels, count);
}

#endif
