/* tests/test_idx.c — IDX files (plain and gzip), the inflate decoder, the synthetic data set,
 * byte -> float conversion and the mini-batch iterator (nn/io/data.h, nn/io/inflate.h).
 *
 * Every file is written by the test itself into a fresh mkdtemp directory.  Gzip inputs come
 * from three independent sources: stored blocks built here by hand, raw DEFLATE bit streams
 * assembled here from the RFC 1951 tables, and two members produced by the system gzip (pasted
 * below with the input they decode to). */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nn/io/crc32.h"
#include "nn/io/data.h"
#include "tensor/parallel.h"
#include "nn/io/inflate.h"

/* ------------------------------------------------------------------------------------------- */
/* Members made with the system gzip (GNU gzip 1.12):
 *     gzip -9 -n -c < fixed.idx > fixed.gz      (-n: no name, no time stamp: reproducible bytes)
 *     gzip -9 -n -c < dyn.idx   > dyn.gz
 *     xxd -i < fixed.gz
 * gzip chose a fixed-Huffman block for the 34-byte input (byte 10 = 0x63: BFINAL 1, BTYPE 01) and
 * a dynamic-Huffman block for the 245-byte one (byte 10 = 0x3d: BFINAL 1, BTYPE 10). */

/* fixed.idx: IDX images, 2 images of 3x3, pixel k (0..17 over both images) = 15*k. */
static const uint8_t fixed_idx[34] = {
    0x00, 0x00, 0x08, 0x03, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x03,
    0, 15, 30, 45, 60, 75, 90, 105, 120, 135, 150, 165, 180, 195, 210, 225, 240, 255,
};
static const uint8_t fixed_gz[50] = {
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
static const uint8_t dyn_header[8] = { 0x00, 0x00, 0x08, 0x01, 0x00, 0x00, 0x00, 0xed };
static const uint8_t dyn_gz[185] = {
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

/* ------------------------------------------------------------------------------------------- */
/* Temporary directory and files. */

static char tmpdir[64];

static void make_tmpdir(void)
{
    strcpy(tmpdir, "/tmp/tg_test_idx_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp: %s", strerror(errno));
}

static void remove_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    if (!d)
        return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
        if (unlink(path) != 0)
            rmdir(path); /* the test's own subdirectories are empty */
    }
    closedir(d);
    rmdir(tmpdir);
}

TestSuite(idx, .init = make_tmpdir, .fini = remove_tmpdir, .timeout = 60);
TestSuite(gzip, .init = make_tmpdir, .fini = remove_tmpdir, .timeout = 60);
TestSuite(dataset, .init = make_tmpdir, .fini = remove_tmpdir, .timeout = 120);
TestSuite(batcher, .timeout = 60);

/* Path of `name` inside the temporary directory (a few rotating buffers, so two can be alive). */
static const char *tmp_path(const char *name)
{
    static char paths[4][512];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, sizeof paths[0], "%s/%s", tmpdir, name);
    return p;
}

static const char *write_file(const char *name, const void *data, size_t len)
{
    const char *path = tmp_path(name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(data, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
    return path;
}

/* ------------------------------------------------------------------------------------------- */
/* Builders: IDX files and stored-block gzip members. */

typedef struct buffer {
    uint8_t bytes[8192];
    size_t len;
} buffer;

static void put_u8(buffer *b, unsigned v)
{
    cr_assert_lt(b->len, sizeof b->bytes);
    b->bytes[b->len++] = (uint8_t)v;
}

static void put_be32(buffer *b, uint32_t v)
{
    for (int shift = 24; shift >= 0; shift -= 8)
        put_u8(b, (v >> shift) & 0xFF);
}

static void put_le(buffer *b, uint32_t v, int nbytes)
{
    for (int i = 0; i < nbytes; i++)
        put_u8(b, (v >> (8 * i)) & 0xFF);
}

static void put_bytes(buffer *b, const void *data, size_t len)
{
    cr_assert_leq(len, sizeof b->bytes - b->len);
    if (len > 0) /* data may be NULL then */
        memcpy(b->bytes + b->len, data, len);
    b->len += len;
}

/* IDX file: magic 00 00 type ndim, big-endian dims, then `data`. */
static void make_idx(buffer *b, unsigned type, unsigned ndim, const uint32_t *dims, const uint8_t *data, size_t len)
{
    b->len = 0;
    put_u8(b, 0);
    put_u8(b, 0);
    put_u8(b, type);
    put_u8(b, ndim);
    for (unsigned i = 0; i < ndim; i++)
        put_be32(b, dims[i]);
    put_bytes(b, data, len);
}

enum { GZ_WITH_EXTRA = 1, GZ_WITH_NAME = 2, GZ_WITH_COMMENT = 4, GZ_WITH_HCRC = 8 };

/* A gzip member whose DEFLATE data is stored blocks of at most `block` bytes (RFC 1951 3.2.4:
 * a 3-bit block header padded to a byte, LEN, NLEN = ~LEN, the bytes).  `options` adds the
 * optional header fields of RFC 1952 2.3.1. */
static void make_gzip_stored(buffer *b, const uint8_t *data, size_t len, size_t block, unsigned options)
{
    b->len = 0;
    unsigned flags = (options & GZ_WITH_HCRC ? 2 : 0) | (options & GZ_WITH_EXTRA ? 4 : 0) |
                     (options & GZ_WITH_NAME ? 8 : 0) | (options & GZ_WITH_COMMENT ? 16 : 0);
    const uint8_t fixed_part[10] = { 0x1f, 0x8b, 8, (uint8_t)flags, 0x12, 0x34, 0x56, 0x78, 0, 3 };
    put_bytes(b, fixed_part, 10);
    if (options & GZ_WITH_EXTRA) {
        const uint8_t extra[6] = { 'A', 'p', 2, 0, 'x', 'y' }; /* one subfield: id "Ap", 2 bytes */
        put_le(b, sizeof extra, 2);
        put_bytes(b, extra, sizeof extra);
    }
    if (options & GZ_WITH_NAME)
        put_bytes(b, "images.idx", 11); /* with its NUL */
    if (options & GZ_WITH_COMMENT)
        put_bytes(b, "made by test_idx", 17);
    if (options & GZ_WITH_HCRC)
        put_le(b, tg_crc32(0, b->bytes, b->len) & 0xFFFF, 2);
    size_t done = 0;
    do {
        size_t n = len - done < block ? len - done : block;
        bool last = done + n == len;
        put_u8(b, last ? 1 : 0); /* BFINAL, BTYPE 00, then padding to the byte boundary */
        put_le(b, (uint32_t)n, 2);
        put_le(b, (uint32_t)(~n & 0xFFFF), 2);
        put_bytes(b, data + done, n);
        done += n;
    } while (done < len);
    put_le(b, tg_crc32(0, data, len), 4);
    put_le(b, (uint32_t)len, 4);
}

/* Writes DEFLATE bit streams by hand: fields least significant bit first, Huffman codes most
 * significant bit first (RFC 1951 3.1.1). */
typedef struct bit_writer {
    uint8_t bytes[256];
    size_t nbits;
} bit_writer;

static void put_bit(bit_writer *w, unsigned bit)
{
    cr_assert_lt(w->nbits / 8, sizeof w->bytes);
    if (w->nbits % 8 == 0)
        w->bytes[w->nbits / 8] = 0;
    w->bytes[w->nbits / 8] |= (uint8_t)((bit & 1u) << (w->nbits % 8));
    w->nbits++;
}

static void put_field(bit_writer *w, unsigned value, unsigned nbits)
{
    for (unsigned i = 0; i < nbits; i++)
        put_bit(w, value >> i);
}

static void put_code(bit_writer *w, unsigned code, unsigned nbits)
{
    for (unsigned i = nbits; i-- > 0;)
        put_bit(w, code >> i);
}

/* The fixed literal/length code of RFC 1951 3.2.6. */
static void put_fixed_litlen(bit_writer *w, unsigned sym)
{
    if (sym < 144)
        put_code(w, 0x30 + sym, 8);
    else if (sym < 256)
        put_code(w, 0x190 + sym - 144, 9);
    else if (sym < 280)
        put_code(w, sym - 256, 7);
    else
        put_code(w, 0xC0 + sym - 280, 8);
}

static size_t writer_bytes(const bit_writer *w)
{
    return (w->nbits + 7) / 8;
}

/* ------------------------------------------------------------------------------------------- */
/* Assertions on errors. */

static void assert_idx_error(const char *path, const char *fragment)
{
    uint8_t *buf = (uint8_t *)1;
    const uint8_t *data = (const uint8_t *)1;
    int ndim;
    size_t dims[4];
    tg_error err;
    tg_error_clear(&err);
    int rc = tg_idx_read(path, &buf, &data, &ndim, dims, &err);
    cr_assert_neq(rc, TG_OK, "%s: expected an error containing \"%s\"", path, fragment);
    cr_assert_eq(err.code, rc);
    cr_assert_null(buf);
    cr_assert_null(data);
    cr_assert_not_null(strstr(err.msg, fragment), "message \"%s\" lacks \"%s\"", err.msg, fragment);
    cr_assert_not_null(strstr(err.msg, path), "message \"%s\" does not name %s", err.msg, path);
}

static void assert_idx_bytes_error(const char *name, const buffer *b, const char *fragment)
{
    assert_idx_error(write_file(name, b->bytes, b->len), fragment);
}

static void assert_load_error(bool want_labels, const char *fragment)
{
    tg_dataset ds;
    memset(&ds, 0x55, sizeof ds); /* must come back emptied */
    tg_error err;
    tg_error_clear(&err);
    int rc = tg_dataset_load(&ds, tmpdir, "train", want_labels, 0, &err);
    cr_assert_neq(rc, TG_OK, "expected an error containing \"%s\"", fragment);
    cr_assert_not_null(strstr(err.msg, fragment), "message \"%s\" lacks \"%s\"", err.msg, fragment);
    cr_assert_null(ds.images);
    cr_assert_null(ds.labels);
    cr_assert_null(ds.storage_);
    cr_assert_eq(ds.n, 0);
}

static uint8_t *read_ok(const char *path, const uint8_t **data, int *ndim, size_t dims[4])
{
    uint8_t *buf;
    tg_error err;
    int rc = tg_idx_read(path, &buf, data, ndim, dims, &err);
    cr_assert_eq(rc, TG_OK, "%s", err.msg);
    return buf;
}

/* Five 4x4 images with pixel (i, k) = 10*i + k, and labels 3 1 4 1 5. */
#define SMALL_N 5
#define SMALL_DIM 16
static const uint8_t small_labels[SMALL_N] = { 3, 1, 4, 1, 5 };

static void small_images(buffer *b)
{
    uint8_t pixels[SMALL_N * SMALL_DIM];
    for (int i = 0; i < SMALL_N; i++)
        for (int k = 0; k < SMALL_DIM; k++)
            pixels[i * SMALL_DIM + k] = (uint8_t)(10 * i + k);
    const uint32_t dims[3] = { SMALL_N, 4, 4 };
    make_idx(b, 0x08, 3, dims, pixels, sizeof pixels);
}

static void small_labels_idx(buffer *b, uint32_t count)
{
    const uint32_t dims[1] = { count };
    make_idx(b, 0x08, 1, dims, small_labels, count);
}

/* ------------------------------------------------------------------------------------------- */
/* IDX: valid files. */

Test(idx, plain_round_trip)
{
    uint8_t pixels[18];
    for (int k = 0; k < 18; k++)
        pixels[k] = (uint8_t)(7 * k + 1);
    const uint32_t dims[3] = { 3, 2, 3 };
    buffer b;
    make_idx(&b, 0x08, 3, dims, pixels, sizeof pixels);
    const uint8_t *data;
    int ndim;
    size_t d[4];
    uint8_t *buf = read_ok(write_file("x-idx3-ubyte", b.bytes, b.len), &data, &ndim, d);
    cr_assert_eq(ndim, 3);
    cr_assert_eq(d[0], 3);
    cr_assert_eq(d[1], 2);
    cr_assert_eq(d[2], 3);
    cr_assert_eq(d[3], 1);
    cr_assert_eq(data, buf + 16);
    cr_assert_arr_eq(data, pixels, sizeof pixels);
    free(buf);
}

Test(idx, one_and_four_dimensions)
{
    const uint8_t values[24] = { 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24 };
    const uint32_t dims1[1] = { 5 }, dims4[4] = { 2, 3, 1, 4 };
    buffer b;
    const uint8_t *data;
    int ndim;
    size_t d[4];

    make_idx(&b, 0x08, 1, dims1, values, 5);
    uint8_t *buf = read_ok(write_file("one", b.bytes, b.len), &data, &ndim, d);
    cr_assert_eq(ndim, 1);
    cr_assert_eq(d[0], 5);
    cr_assert_arr_eq(data, values, 5);
    free(buf);

    make_idx(&b, 0x08, 4, dims4, values, 24);
    buf = read_ok(write_file("four", b.bytes, b.len), &data, &ndim, d);
    cr_assert_eq(ndim, 4);
    cr_assert(d[0] == 2 && d[1] == 3 && d[2] == 1 && d[3] == 4);
    cr_assert_arr_eq(data, values, 24);
    free(buf);
}

/* ------------------------------------------------------------------------------------------- */
/* IDX: every malformed variant is rejected with a message naming the file. */

Test(idx, wrong_element_type)
{
    const uint8_t v[2] = { 1, 2 };
    const uint32_t dims[1] = { 2 };
    buffer b;
    make_idx(&b, 0x0D, 1, dims, v, 2); /* 0x0D = float */
    assert_idx_bytes_error("float", &b, "element type 0x0d");
}

Test(idx, nonzero_magic_prefix)
{
    buffer b;
    small_images(&b);
    b.bytes[0] = 0x01;
    assert_idx_bytes_error("prefix", &b, "bad magic 0x01000803");
}

Test(idx, zero_and_five_dimensions)
{
    const uint8_t v[1] = { 1 };
    const uint32_t dims[5] = { 1, 1, 1, 1, 1 };
    buffer b;
    make_idx(&b, 0x08, 0, dims, v, 1);
    assert_idx_bytes_error("ndim0", &b, "0 dimensions (expected 1..4)");
    make_idx(&b, 0x08, 5, dims, v, 1);
    assert_idx_bytes_error("ndim5", &b, "5 dimensions (expected 1..4)");
}

Test(idx, zero_dimension)
{
    const uint32_t dims[3] = { 4, 0, 3 };
    buffer b;
    make_idx(&b, 0x08, 3, dims, NULL, 0);
    assert_idx_bytes_error("zero", &b, "dimension 2 of 3 is 0");
}

Test(idx, dimension_product_overflows_64_bits)
{
    const uint32_t dims[4] = { 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 2 };
    buffer b;
    make_idx(&b, 0x08, 4, dims, NULL, 0);
    assert_idx_bytes_error("overflow", &b, "overflows 64 bits");
    /* 2^48 elements do fit 64 bits: that file is merely truncated, and must say so. */
    const uint32_t big[3] = { 65536, 65536, 65536 };
    make_idx(&b, 0x08, 3, big, NULL, 0);
    assert_idx_bytes_error("big", &b, "truncated: header says 65536x65536x65536 values (281474976710672 bytes)");
}

Test(idx, truncated_header)
{
    buffer b;
    small_images(&b);
    b.len = 3;
    assert_idx_bytes_error("three", &b, "truncated header");
    b.len = 10; /* magic fine, dimensions cut */
    assert_idx_bytes_error("ten", &b, "truncated header");
}

Test(idx, truncated_data)
{
    buffer b;
    small_images(&b);
    b.len -= 1;
    assert_idx_bytes_error("short", &b, "truncated: header says 5x4x4 values (96 bytes) but the file has 95 bytes");
}

Test(idx, trailing_garbage)
{
    buffer b;
    small_images(&b);
    put_bytes(&b, "twelve bytes", 12);
    assert_idx_bytes_error("long", &b, "12 trailing bytes after the data");
}

Test(idx, empty_file)
{
    assert_idx_error(write_file("empty", "", 0), "empty file");
}

Test(idx, directory)
{
    const char *path = tmp_path("subdir");
    cr_assert_eq(mkdir(path, 0700), 0);
    assert_idx_error(path, "is a directory");
}

Test(idx, fifo_does_not_hang)
{
    const char *path = tmp_path("fifo");
    cr_assert_eq(mkfifo(path, 0600), 0, "mkfifo: %s", strerror(errno));
    assert_idx_error(path, "not a regular file"); /* no writer: a blocking open would hang here */
}

Test(idx, missing_file)
{
    assert_idx_error(tmp_path("nothing-here"), "No such file or directory");
}

Test(idx, unreadable_file)
{
    if (geteuid() == 0) {
        remove_tmpdir(); /* a skipped test does not reach the suite's .fini */
        cr_skip_test("running as root: root reads files without read permission");
    }
    buffer b;
    small_images(&b);
    const char *path = write_file("secret", b.bytes, b.len);
    cr_assert_eq(chmod(path, 0), 0);
    assert_idx_error(path, "Permission denied");
}

/* ------------------------------------------------------------------------------------------- */
/* gzip: valid members from three sources. */

Test(gzip, stored_blocks_with_every_header_field)
{
    uint8_t pixels[300];
    for (int k = 0; k < 300; k++)
        pixels[k] = (uint8_t)(k * 37 + 11);
    const uint32_t dims[2] = { 30, 10 };
    buffer idx, gz;
    make_idx(&idx, 0x08, 2, dims, pixels, sizeof pixels);
    for (unsigned options = 0; options < 16; options++) {
        make_gzip_stored(&gz, idx.bytes, idx.len, 100, options); /* 4 blocks, the last one short */
        /* A name without ".gz": gzip is recognized by its magic. */
        const char *path = write_file(options % 2 ? "stored.gz" : "stored-no-suffix", gz.bytes, gz.len);
        const uint8_t *data;
        int ndim;
        size_t d[4];
        uint8_t *buf = read_ok(path, &data, &ndim, d);
        cr_assert_eq(ndim, 2);
        cr_assert(d[0] == 30 && d[1] == 10, "options %u", options);
        cr_assert_arr_eq(data, pixels, sizeof pixels, "options %u", options);
        free(buf);
    }
}

Test(gzip, fixed_huffman_member_from_gzip)
{
    /* The trailer gzip wrote holds the CRC-32 of the input: an independent check of tg_crc32. */
    uint32_t trailer_crc = fixed_gz[42] | (uint32_t)fixed_gz[43] << 8 | (uint32_t)fixed_gz[44] << 16 |
                           (uint32_t)fixed_gz[45] << 24;
    cr_assert_eq(tg_crc32(0, fixed_idx, sizeof fixed_idx), trailer_crc);

    uint8_t *out;
    size_t len;
    tg_error err;
    cr_assert_eq(tg_gunzip_mem(fixed_gz, sizeof fixed_gz, "fixed", TG_GUNZIP_DEFAULT_MAX, &out, &len, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(len, sizeof fixed_idx);
    cr_assert_arr_eq(out, fixed_idx, len);
    free(out);

    const uint8_t *data;
    int ndim;
    size_t d[4];
    uint8_t *buf = read_ok(write_file("fixed.gz", fixed_gz, sizeof fixed_gz), &data, &ndim, d);
    cr_assert(ndim == 3 && d[0] == 2 && d[1] == 3 && d[2] == 3);
    for (int k = 0; k < 18; k++)
        cr_assert_eq(data[k], 15 * k);
    free(buf);
}

Test(gzip, dynamic_huffman_member_from_gzip)
{
    uint8_t *out;
    size_t len;
    tg_error err;
    cr_assert_eq(tg_gunzip_mem(dyn_gz, sizeof dyn_gz, "dyn", TG_GUNZIP_DEFAULT_MAX, &out, &len, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(len, 8 + strlen(DYN_TEXT));
    cr_assert_arr_eq(out, dyn_header, 8);
    cr_assert_arr_eq(out + 8, DYN_TEXT, strlen(DYN_TEXT));
    free(out);

    const uint8_t *data;
    int ndim;
    size_t d[4];
    uint8_t *buf = read_ok(write_file("dyn.gz", dyn_gz, sizeof dyn_gz), &data, &ndim, d);
    cr_assert_eq(ndim, 1);
    cr_assert_eq(d[0], strlen(DYN_TEXT));
    cr_assert_arr_eq(data, DYN_TEXT, d[0]);
    free(buf);
}

Test(gzip, hand_written_fixed_block)
{
    /* "abcabcabca": literals a b c, then length 7 at distance 3 (symbol 261, distance code 2). */
    bit_writer w = { .nbits = 0 };
    put_field(&w, 1, 1); /* BFINAL */
    put_field(&w, 1, 2); /* BTYPE 01: fixed codes */
    put_fixed_litlen(&w, 'a');
    put_fixed_litlen(&w, 'b');
    put_fixed_litlen(&w, 'c');
    put_fixed_litlen(&w, 261); /* length 7, no extra bits */
    put_code(&w, 2, 5);        /* distance 3, no extra bits */
    put_fixed_litlen(&w, 256);
    uint8_t out[16];
    size_t len, used;
    tg_error err;
    cr_assert_eq(tg_inflate_mem(w.bytes, writer_bytes(&w), out, sizeof out, &len, &used, "hand", &err), TG_OK, "%s", err.msg);
    cr_assert_eq(len, 10);
    cr_assert_arr_eq(out, "abcabcabca", 10);
    cr_assert_eq(used, writer_bytes(&w));

    /* The same stream into a buffer one byte too small is an error, not an overflow. */
    cr_assert_neq(tg_inflate_mem(w.bytes, writer_bytes(&w), out, 9, &len, &used, "hand", &err), TG_OK);
    cr_assert_not_null(strstr(err.msg, "exceeds the 9-byte output buffer"), "%s", err.msg);
}

/* ------------------------------------------------------------------------------------------- */
/* gzip / inflate: malformed input. */

static void assert_inflate_error(const bit_writer *w, const char *fragment)
{
    uint8_t out[1024];
    size_t len;
    tg_error err;
    tg_error_clear(&err);
    int rc = tg_inflate_mem(w->bytes, writer_bytes(w), out, sizeof out, &len, NULL, "raw", &err);
    cr_assert_eq(rc, TG_ERR_FORMAT, "expected \"%s\", got rc %d", fragment, rc);
    cr_assert_not_null(strstr(err.msg, fragment), "message \"%s\" lacks \"%s\"", err.msg, fragment);
}

Test(gzip, not_gzip)
{
    buffer b;
    small_images(&b);
    assert_idx_bytes_error("plain-named.gz", &b, "not a gzip file");
    uint8_t *out;
    size_t len;
    tg_error err;
    cr_assert_eq(tg_gunzip_mem(b.bytes, b.len, "mem", TG_GUNZIP_DEFAULT_MAX, &out, &len, &err), TG_ERR_FORMAT);
    cr_assert_not_null(strstr(err.msg, "mem: not a gzip file"), "%s", err.msg);
}

Test(gzip, truncated_anywhere)
{
    buffer idx, gz;
    small_images(&idx);
    make_gzip_stored(&gz, idx.bytes, idx.len, 40, GZ_WITH_NAME);
    /* Cut inside the header, the name, a block header, block data and the trailer. */
    const size_t cuts[] = { 3, 12, 17, 21, 22, 30, 60, 100, gz.len - 8, gz.len - 5, gz.len - 1 };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        cr_assert_lt(cuts[i], gz.len);
        assert_idx_error(write_file("cut.gz", gz.bytes, cuts[i]), "truncated gzip stream");
    }
    /* The members made by gzip, cut in their Huffman data. */
    assert_idx_error(write_file("fixed-cut.gz", fixed_gz, 30), "truncated gzip stream");
    assert_idx_error(write_file("dyn-cut.gz", dyn_gz, 100), "truncated gzip stream");
    assert_idx_error(write_file("dyn-cut2.gz", dyn_gz, 20), "truncated gzip stream");
}

Test(gzip, bad_crc)
{
    buffer idx, gz;
    small_images(&idx);
    make_gzip_stored(&gz, idx.bytes, idx.len, 1000, 0);
    gz.bytes[gz.len - 8] ^= 0x01; /* the trailer's CRC */
    assert_idx_bytes_error("crc.gz", &gz, "CRC-32 mismatch");

    make_gzip_stored(&gz, idx.bytes, idx.len, 1000, 0);
    gz.bytes[40] ^= 0x80; /* a data byte in the stored block */
    assert_idx_bytes_error("data.gz", &gz, "CRC-32 mismatch");

    uint8_t copy[sizeof dyn_gz];
    memcpy(copy, dyn_gz, sizeof copy);
    copy[sizeof copy - 6] ^= 0x10;
    assert_idx_error(write_file("dyn-crc.gz", copy, sizeof copy), "CRC-32 mismatch");
}

Test(gzip, bad_isize)
{
    buffer idx, gz;
    small_images(&idx);
    const uint32_t wrong[] = { (uint32_t)idx.len + 1, (uint32_t)idx.len - 1, 0, 0xFFFFFFF0u };
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        make_gzip_stored(&gz, idx.bytes, idx.len, 1000, 0);
        for (int k = 0; k < 4; k++)
            gz.bytes[gz.len - 4 + k] = (uint8_t)(wrong[i] >> (8 * k));
        assert_idx_bytes_error("isize.gz", &gz, "ISIZE mismatch");
    }
}

Test(gzip, bad_header_crc_and_flags)
{
    buffer idx, gz;
    small_images(&idx);
    make_gzip_stored(&gz, idx.bytes, idx.len, 1000, GZ_WITH_NAME | GZ_WITH_HCRC);
    gz.bytes[12] ^= 0x20; /* a letter of the name, covered by the header CRC */
    assert_idx_bytes_error("hcrc.gz", &gz, "header CRC mismatch");

    make_gzip_stored(&gz, idx.bytes, idx.len, 1000, 0);
    gz.bytes[3] = 0x20; /* a reserved flag bit */
    assert_idx_bytes_error("flags.gz", &gz, "reserved gzip header flags");

    make_gzip_stored(&gz, idx.bytes, idx.len, 1000, 0);
    gz.bytes[2] = 7; /* compression method other than deflate */
    assert_idx_bytes_error("method.gz", &gz, "compression method 7");
}

Test(gzip, trailing_bytes_and_second_member)
{
    buffer idx, gz;
    small_images(&idx);
    make_gzip_stored(&gz, idx.bytes, idx.len, 1000, 0);
    size_t one = gz.len;
    put_bytes(&gz, "junk", 4);
    assert_idx_bytes_error("junk.gz", &gz, "trailing bytes after the gzip stream");
    gz.len = one;
    put_bytes(&gz, gz.bytes, one);
    assert_idx_bytes_error("two.gz", &gz, "more than one gzip member");
}

Test(gzip, decompression_bomb_cap)
{
    /* 3000 bytes of zeros against a 1000-byte cap: refused, and nothing that size is allocated. */
    uint8_t zeros[3000] = { 0 };
    buffer gz;
    make_gzip_stored(&gz, zeros, sizeof zeros, 65535, 0);
    uint8_t *out;
    size_t len;
    tg_error err;
    cr_assert_eq(tg_gunzip_mem(gz.bytes, gz.len, "bomb", 1000, &out, &len, &err), TG_ERR_FORMAT);
    cr_assert_not_null(strstr(err.msg, "over the limit of 1000 bytes"), "%s", err.msg);
    cr_assert_null(out);
}

Test(gzip, invalid_deflate_streams)
{
    bit_writer w;

    w.nbits = 0; /* block type 3 */
    put_field(&w, 1, 1);
    put_field(&w, 3, 2);
    assert_inflate_error(&w, "invalid block type 3");

    w.nbits = 0; /* stored block whose NLEN is not ~LEN */
    put_field(&w, 1, 1);
    put_field(&w, 0, 2);
    put_field(&w, 0, 5); /* pad to the byte */
    put_field(&w, 5, 16);
    put_field(&w, 0, 16);
    assert_inflate_error(&w, "stored block length check failed");

    w.nbits = 0; /* fixed block that starts with a match: nothing to copy from */
    put_field(&w, 1, 1);
    put_field(&w, 1, 2);
    put_fixed_litlen(&w, 257);
    put_code(&w, 0, 5);
    put_fixed_litlen(&w, 256);
    assert_inflate_error(&w, "distance 1 too far back");

    w.nbits = 0; /* fixed block using the reserved length symbol 286 */
    put_field(&w, 1, 1);
    put_field(&w, 1, 2);
    put_fixed_litlen(&w, 'x');
    put_fixed_litlen(&w, 286);
    assert_inflate_error(&w, "invalid length symbol 286");

    w.nbits = 0; /* fixed block using the reserved distance symbol 30 */
    put_field(&w, 1, 1);
    put_field(&w, 1, 2);
    put_fixed_litlen(&w, 'x');
    put_fixed_litlen(&w, 257);
    put_code(&w, 30, 5);
    assert_inflate_error(&w, "invalid distance symbol 30");

    w.nbits = 0; /* dynamic block: four code-length codes of 1 bit are over-subscribed */
    put_field(&w, 1, 1);
    put_field(&w, 2, 2);
    put_field(&w, 0, 5); /* HLIT: 257 */
    put_field(&w, 0, 5); /* HDIST: 1 */
    put_field(&w, 0, 4); /* HCLEN: 4 code-length codes (for 16, 17, 18, 0) */
    for (int i = 0; i < 4; i++)
        put_field(&w, 1, 3);
    assert_inflate_error(&w, "over-subscribed code-length code");

    w.nbits = 0; /* dynamic block: a single 1-bit code-length code is incomplete */
    put_field(&w, 1, 1);
    put_field(&w, 2, 2);
    put_field(&w, 0, 14);
    put_field(&w, 0, 3);
    put_field(&w, 0, 3);
    put_field(&w, 1, 3);
    put_field(&w, 0, 3);
    assert_inflate_error(&w, "incomplete code-length code");

    w.nbits = 0; /* dynamic block: repeat (16) with no previous length; codes 16 -> 0, 17 -> 1 */
    put_field(&w, 1, 1);
    put_field(&w, 2, 2);
    put_field(&w, 0, 14);
    put_field(&w, 1, 3);
    put_field(&w, 1, 3);
    put_field(&w, 0, 3);
    put_field(&w, 0, 3);
    put_code(&w, 0, 1);
    put_field(&w, 0, 2);
    assert_inflate_error(&w, "repeat with no previous length");

    w.nbits = 0; /* dynamic block: 258 zero lengths (codes 17 -> 0, 18 -> 1): no end-of-block code */
    put_field(&w, 1, 1);
    put_field(&w, 2, 2);
    put_field(&w, 0, 14);
    put_field(&w, 0, 3);
    put_field(&w, 1, 3);
    put_field(&w, 1, 3);
    put_field(&w, 0, 3);
    put_code(&w, 1, 1);
    put_field(&w, 127, 7); /* 138 zeros */
    put_code(&w, 1, 1);
    put_field(&w, 109, 7); /* 120 zeros */
    assert_inflate_error(&w, "no end-of-block code");

    w.nbits = 0; /* dynamic block: a zero run past the 258 declared lengths */
    put_field(&w, 1, 1);
    put_field(&w, 2, 2);
    put_field(&w, 0, 14);
    put_field(&w, 0, 3);
    put_field(&w, 1, 3);
    put_field(&w, 1, 3);
    put_field(&w, 0, 3);
    put_code(&w, 1, 1);
    put_field(&w, 127, 7);
    put_code(&w, 1, 1);
    put_field(&w, 127, 7);
    assert_inflate_error(&w, "runs past the 258 declared codes");

    w.nbits = 0; /* dynamic block declaring 287 literal/length codes */
    put_field(&w, 1, 1);
    put_field(&w, 2, 2);
    put_field(&w, 30, 5);
    put_field(&w, 0, 9);
    assert_inflate_error(&w, "287 literal/length codes");

    w.nbits = 0; /* an empty input and a lone block header are truncated streams */
    assert_inflate_error(&w, "truncated deflate stream");
    put_field(&w, 0, 3);
    assert_inflate_error(&w, "truncated deflate stream");
}

/* ------------------------------------------------------------------------------------------- */
/* tg_dataset_load */

static void write_small_set(const char *image_name, const char *label_name)
{
    buffer b;
    small_images(&b);
    write_file(image_name, b.bytes, b.len);
    if (label_name) {
        small_labels_idx(&b, SMALL_N);
        write_file(label_name, b.bytes, b.len);
    }
}

static void write_small_set_gz(const char *image_name, const char *label_name)
{
    buffer idx, gz;
    small_images(&idx);
    make_gzip_stored(&gz, idx.bytes, idx.len, 30, GZ_WITH_NAME);
    write_file(image_name, gz.bytes, gz.len);
    small_labels_idx(&idx, SMALL_N);
    make_gzip_stored(&gz, idx.bytes, idx.len, 30, 0);
    write_file(label_name, gz.bytes, gz.len);
}

static void check_small_set(const tg_dataset *ds, size_t n, bool with_labels)
{
    cr_assert_eq(ds->n, n);
    cr_assert_eq(ds->rows, 4);
    cr_assert_eq(ds->cols, 4);
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < SMALL_DIM; k++)
            cr_assert_eq(ds->images[i * SMALL_DIM + k], 10 * i + k);
    if (with_labels) {
        cr_assert_arr_eq(ds->labels, small_labels, n);
        cr_assert_eq(ds->n_classes, 6, "max label 5 over the whole file, whatever the limit");
    } else {
        cr_assert_null(ds->labels);
        cr_assert_eq(ds->n_classes, 0);
    }
}

static void load_ok(tg_dataset *ds, const char *split, bool want_labels, size_t limit)
{
    tg_error err;
    cr_assert_eq(tg_dataset_load(ds, tmpdir, split, want_labels, limit, &err), TG_OK, "%s", err.msg);
}

Test(dataset, plain_files_with_and_without_labels_and_limit)
{
    write_small_set("train-images-idx3-ubyte", "train-labels-idx1-ubyte");
    tg_dataset ds;
    load_ok(&ds, "train", true, 0);
    check_small_set(&ds, SMALL_N, true);
    tg_dataset_free(&ds);
    cr_assert_null(ds.storage_);
    tg_dataset_free(&ds); /* twice is harmless */

    load_ok(&ds, "train", false, 0);
    check_small_set(&ds, SMALL_N, false);
    tg_dataset_free(&ds);

    load_ok(&ds, "train", true, 2);
    check_small_set(&ds, 2, true);
    tg_dataset_free(&ds);

    load_ok(&ds, "train", true, 99); /* above the count: all */
    check_small_set(&ds, SMALL_N, true);
    tg_dataset_free(&ds);
}

Test(dataset, gz_files_and_limit)
{
    write_small_set_gz("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz");
    tg_dataset ds;
    load_ok(&ds, "t10k", true, 0);
    check_small_set(&ds, SMALL_N, true);
    tg_dataset_free(&ds);
    load_ok(&ds, "t10k", true, 3);
    check_small_set(&ds, 3, true);
    tg_dataset_free(&ds);
}

Test(dataset, plain_is_tried_before_gz)
{
    write_small_set_gz("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz");
    /* A plain labels file with other values next to the .gz one wins. */
    const uint8_t other[SMALL_N] = { 0, 0, 2, 0, 0 };
    const uint32_t dims[1] = { SMALL_N };
    buffer b;
    make_idx(&b, 0x08, 1, dims, other, SMALL_N);
    write_file("train-labels-idx1-ubyte", b.bytes, b.len);
    tg_dataset ds;
    load_ok(&ds, "train", true, 0);
    cr_assert_arr_eq(ds.labels, other, SMALL_N);
    cr_assert_eq(ds.n_classes, 3);
    tg_dataset_free(&ds);
}

Test(dataset, broken_plain_file_is_reported_not_skipped)
{
    write_small_set_gz("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz");
    write_file("train-images-idx3-ubyte", "", 0);
    assert_load_error(true, "train-images-idx3-ubyte: empty file");
}

Test(dataset, missing_images_lists_both_paths)
{
    char plain[512], gz[512];
    snprintf(plain, sizeof plain, "%s/train-images-idx3-ubyte", tmpdir);
    snprintf(gz, sizeof gz, "%s/train-images-idx3-ubyte.gz", tmpdir);
    tg_dataset ds;
    tg_error err;
    cr_assert_eq(tg_dataset_load(&ds, tmpdir, "train", false, 0, &err), TG_ERR_IO);
    cr_assert_not_null(strstr(err.msg, plain), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, gz), "%s", err.msg);
}

Test(dataset, missing_labels_lists_both_paths)
{
    write_small_set("train-images-idx3-ubyte", NULL);
    assert_load_error(true, "train-labels-idx1-ubyte.gz");
    /* Without labels the images alone load. */
    tg_dataset ds;
    load_ok(&ds, "train", false, 0);
    tg_dataset_free(&ds);
}

Test(dataset, unknown_split)
{
    tg_dataset ds;
    tg_error err;
    cr_assert_eq(tg_dataset_load(&ds, tmpdir, "test", false, 0, &err), TG_ERR_ARG);
    cr_assert_not_null(strstr(err.msg, "unknown split \"test\""), "%s", err.msg);
}

Test(dataset, bad_magic_for_images)
{
    buffer b;
    small_images(&b);
    b.bytes[2] = 0x09; /* signed byte */
    write_file("train-images-idx3-ubyte", b.bytes, b.len);
    assert_load_error(false, "train-images-idx3-ubyte: bad magic 0x00000903 (expected 0x00000803 for images)");

    small_labels_idx(&b, SMALL_N); /* a labels file where the images should be */
    write_file("train-images-idx3-ubyte", b.bytes, b.len);
    assert_load_error(false, "bad magic 0x00000801 (expected 0x00000803 for images)");
}

Test(dataset, bad_magic_for_labels)
{
    write_small_set("train-images-idx3-ubyte", "train-labels-idx1-ubyte");
    buffer b;
    small_images(&b);
    write_file("train-labels-idx1-ubyte", b.bytes, b.len);
    assert_load_error(true, "train-labels-idx1-ubyte: bad magic 0x00000803 (expected 0x00000801 for labels)");
}

Test(dataset, truncated_and_trailing_images)
{
    buffer b;
    small_images(&b);
    b.len = 50;
    write_file("train-images-idx3-ubyte", b.bytes, b.len);
    assert_load_error(false, "truncated: header says 5 images of 4x4 (96 bytes) but the file has 50 bytes");

    small_images(&b);
    put_bytes(&b, "0123456789ab", 12);
    write_file("train-images-idx3-ubyte", b.bytes, b.len);
    assert_load_error(false, "train-images-idx3-ubyte: 12 trailing bytes after the data");

    /* A limit does not excuse a short file: the whole length is still checked. */
    small_images(&b);
    b.len -= 1;
    write_file("train-images-idx3-ubyte", b.bytes, b.len);
    tg_dataset ds;
    tg_error err;
    cr_assert_eq(tg_dataset_load(&ds, tmpdir, "train", false, 1, &err), TG_ERR_FORMAT);
    cr_assert_not_null(strstr(err.msg, "truncated"), "%s", err.msg);
}

Test(dataset, truncated_images_gz_says_decompressed)
{
    buffer idx, gz;
    small_images(&idx);
    idx.len = 50;
    make_gzip_stored(&gz, idx.bytes, idx.len, 1000, 0);
    write_file("train-images-idx3-ubyte.gz", gz.bytes, gz.len);
    assert_load_error(false, "truncated: header says 5 images of 4x4 (96 bytes) but the decompressed data has 50 bytes");
}

Test(dataset, image_and_label_counts_disagree)
{
    write_small_set("train-images-idx3-ubyte", NULL);
    buffer b;
    small_labels_idx(&b, SMALL_N - 1);
    write_file("train-labels-idx1-ubyte", b.bytes, b.len);
    assert_load_error(true, "images and labels disagree: 5 images, 4 labels");
}

Test(dataset, dimension_overflow_in_images)
{
    const uint32_t dims[3] = { 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu };
    buffer b;
    make_idx(&b, 0x08, 3, dims, NULL, 0);
    write_file("train-images-idx3-ubyte", b.bytes, b.len);
    assert_load_error(false, "overflows 64 bits");
}

/* ------------------------------------------------------------------------------------------- */
/* Synthetic data set. */

Test(dataset, synthetic_is_deterministic_and_labelled)
{
    tg_dataset a, b, c, t;
    tg_error err;
    cr_assert_eq(tg_dataset_synthetic(&a, "train", 500, 28, 28, 7, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(tg_dataset_synthetic(&b, "train", 500, 28, 28, 7, &err), TG_OK);
    cr_assert_eq(tg_dataset_synthetic(&c, "train", 500, 28, 28, 8, &err), TG_OK);
    cr_assert_eq(tg_dataset_synthetic(&t, "t10k", 500, 28, 28, 7, &err), TG_OK);
    size_t bytes = 500 * 28 * 28;
    cr_assert_arr_eq(a.images, b.images, bytes);
    cr_assert_arr_eq(a.labels, b.labels, 500);
    cr_assert_neq(memcmp(a.images, c.images, bytes), 0, "another seed, other images");
    cr_assert_neq(memcmp(a.images, t.images, bytes), 0, "t10k differs from train");
    cr_assert_eq(a.n_classes, 10);
    int histogram[10] = { 0 };
    for (int i = 0; i < 500; i++) {
        cr_assert_lt(a.labels[i], 10);
        histogram[a.labels[i]]++;
    }
    for (int k = 0; k < 10; k++)
        cr_assert_gt(histogram[k], 20, "class %d appears %d times in 500", k, histogram[k]);

    /* Image i depends only on (seed, split, i): a smaller set is a prefix. */
    tg_dataset p;
    cr_assert_eq(tg_dataset_synthetic(&p, "train", 50, 28, 28, 7, &err), TG_OK);
    cr_assert_arr_eq(p.images, a.images, 50 * 28 * 28);
    tg_dataset_free(&a);
    tg_dataset_free(&b);
    tg_dataset_free(&c);
    tg_dataset_free(&t);
    tg_dataset_free(&p);
}

Test(dataset, synthetic_has_learnable_class_structure)
{
    /* Each image has ink and background, and a nearest-class-mean classifier fitted on train
     * recognizes t10k images far above the 10% of chance. */
    enum { N = 2000, R = 20, C = 24, D = R * C };
    tg_dataset train, test;
    tg_error err;
    cr_assert_eq(tg_dataset_synthetic(&train, "train", N, R, C, 1, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(tg_dataset_synthetic(&test, "t10k", 500, R, C, 1, &err), TG_OK, "%s", err.msg);
    static double mean[10][D];
    int count[10] = { 0 };
    for (int i = 0; i < N; i++) {
        int y = train.labels[i];
        count[y]++;
        size_t ink = 0;
        for (int j = 0; j < D; j++) {
            mean[y][j] += train.images[i * D + j];
            ink += train.images[i * D + j] > 128;
        }
        cr_assert(ink > D / 50 && ink < D / 2, "image %d has %zu inked pixels of %d", i, ink, D);
    }
    for (int y = 0; y < 10; y++)
        for (int j = 0; j < D; j++)
            mean[y][j] /= count[y];
    int correct = 0;
    for (int i = 0; i < 500; i++) {
        int best = -1;
        double best_d = 0;
        for (int y = 0; y < 10; y++) {
            double d = 0;
            for (int j = 0; j < D; j++) {
                double e = test.images[i * D + j] - mean[y][j];
                d += e * e;
            }
            if (best < 0 || d < best_d) {
                best = y;
                best_d = d;
            }
        }
        correct += best == test.labels[i];
    }
    cr_assert_gt(correct, 350, "nearest class mean: %d / 500 correct", correct);
    tg_dataset_free(&train);
    tg_dataset_free(&test);
}

Test(dataset, synthetic_bad_arguments)
{
    tg_dataset ds;
    tg_error err;
    cr_assert_eq(tg_dataset_synthetic(&ds, "valid", 10, 28, 28, 1, &err), TG_ERR_ARG);
    cr_assert_eq(tg_dataset_synthetic(&ds, "train", 0, 28, 28, 1, &err), TG_ERR_ARG);
    cr_assert_eq(tg_dataset_synthetic(&ds, "train", 10, 0, 28, 1, &err), TG_ERR_ARG);
    cr_assert_eq(tg_dataset_synthetic(&ds, "train", SIZE_MAX / 2, 1 << 20, 1 << 20, 1, &err), TG_ERR_NOMEM);
    cr_assert_null(ds.images);
}

Test(dataset, images_to_float)
{
    uint8_t pixels[3 * 2] = { 0, 255, 51, 102, 1, 254 };
    tg_dataset ds = { .images = pixels, .n = 3, .rows = 1, .cols = 2 };
    const uint32_t pick[2] = { 2, 0 };
    float out[4];
    tg_dataset_images_to_float(&ds, pick, 2, out);
    cr_assert_float_eq(out[0], 1.0f / 255.0f, 1e-9f);
    cr_assert_float_eq(out[1], 254.0f / 255.0f, 1e-7f);
    cr_assert_eq(out[2], 0.0f);
    cr_assert_eq(out[3], 1.0f);
    float all[6];
    tg_dataset_images_to_float(&ds, NULL, 3, all);
    cr_assert_float_eq(all[2], 0.2f, 1e-7f);
    cr_assert_float_eq(all[3], 0.4f, 1e-7f);
    for (int k = 0; k < 6; k++)
        cr_assert(all[k] >= 0.0f && all[k] <= 1.0f);
}

/* ------------------------------------------------------------------------------------------- */
/* Batcher. */

/* A data set with n images of one pixel, for iterating only. */
static tg_dataset tiny_set(size_t n)
{
    static uint8_t pixels[1000];
    cr_assert_leq(n, sizeof pixels);
    return (tg_dataset){ .images = pixels, .n = n, .rows = 1, .cols = 1 };
}

/* Records one epoch's order by iterating it; checks batch sizes on the way. */
static void run_epoch(tg_batcher *b, uint32_t *order)
{
    size_t seen = 0, batches = 0, count;
    const uint32_t *idx;
    while ((count = tg_batcher_next(b, &idx)) > 0) {
        size_t expected = tg_batcher_size(b) - seen < b->batch ? tg_batcher_size(b) - seen : b->batch;
        cr_assert_eq(count, expected);
        memcpy(order + seen, idx, count * sizeof *idx);
        seen += count;
        batches++;
    }
    cr_assert_eq(seen, tg_batcher_size(b));
    cr_assert_eq(batches, tg_batcher_batches_per_epoch(b));
    cr_assert_eq(tg_batcher_next(b, &idx), 0, "stays at the end");
}

Test(batcher, every_index_once_per_epoch_with_short_last_batch)
{
    tg_dataset ds = tiny_set(103);
    tg_batcher b;
    tg_error err;
    cr_assert_eq(tg_batcher_init(&b, &ds, 10, 0, true, 42, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(tg_batcher_batches_per_epoch(&b), 11);
    for (int epoch = 0; epoch < 3; epoch++) {
        cr_assert_eq(tg_batcher_epoch(&b), (uint64_t)epoch);
        uint32_t order[103];
        size_t last = 0, count;
        const uint32_t *idx;
        int seen[103] = { 0 };
        size_t total = 0;
        while ((count = tg_batcher_next(&b, &idx)) > 0) {
            for (size_t k = 0; k < count; k++) {
                cr_assert_lt(idx[k], 103);
                seen[idx[k]]++;
                order[total + k] = idx[k];
            }
            total += count;
            last = count;
        }
        cr_assert_eq(last, 3, "the last batch holds the 3 left over");
        cr_assert_eq(total, 103);
        for (int i = 0; i < 103; i++)
            cr_assert_eq(seen[i], 1, "epoch %d: image %d seen %d times", epoch, i, seen[i]);
        size_t in_place = 0;
        for (int i = 0; i < 103; i++)
            in_place += order[i] == (uint32_t)i;
        cr_assert_lt(in_place, 20, "a shuffle moves most images");
        tg_batcher_next_epoch(&b);
    }
    tg_batcher_free(&b);
}

/* A prefetch is only a hint: an epoch with one after every batch (the last one at the end of the
 * epoch, where there is nothing left to fetch) hands out the same batches as one without.  The
 * ASan build checks that it reads no index past the epoch's end: with batch 10 (one chunk of
 * the prefetch loop) and 40 (three, on two threads; the last batch is short). */
static void prefetch_changes_nothing(size_t batch)
{
    tg_dataset ds = tiny_set(103);
    tg_batcher plain, hinted;
    tg_error err;
    cr_assert_eq(tg_batcher_init(&plain, &ds, batch, 0, true, 7, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(tg_batcher_init(&hinted, &ds, batch, 0, true, 7, &err), TG_OK, "%s", err.msg);
    const uint32_t *a, *b;
    size_t count;
    while ((count = tg_batcher_next(&plain, &a)) > 0) {
        cr_assert_eq(tg_batcher_next(&hinted, &b), count);
        tg_batcher_prefetch_next(&hinted, &ds);
        cr_assert_eq(tg_batcher_position(&hinted), tg_batcher_position(&plain));
        cr_assert_arr_eq(a, b, count * sizeof *a);
    }
    tg_batcher_prefetch_next(&hinted, &ds);
    cr_assert_eq(tg_batcher_next(&hinted, &b), 0);
    tg_batcher_free(&plain);
    tg_batcher_free(&hinted);
}

Test(batcher, prefetch_changes_nothing)
{
    prefetch_changes_nothing(10);
    tg_set_threads(2);
    prefetch_changes_nothing(40);
    tg_set_threads(1);
}

Test(batcher, order_depends_only_on_seed_and_epoch)
{
    tg_dataset ds = tiny_set(64);
    tg_batcher a, b, c;
    tg_error err;
    cr_assert_eq(tg_batcher_init(&a, &ds, 5, 0, true, 9, &err), TG_OK);
    cr_assert_eq(tg_batcher_init(&b, &ds, 7, 0, true, 9, &err), TG_OK); /* other batch size */
    cr_assert_eq(tg_batcher_init(&c, &ds, 5, 0, true, 10, &err), TG_OK);
    uint32_t oa[3][64], ob[3][64], oc[64];
    for (int e = 0; e < 3; e++) {
        run_epoch(&a, oa[e]);
        run_epoch(&b, ob[e]);
        tg_batcher_next_epoch(&a);
        tg_batcher_next_epoch(&b);
    }
    run_epoch(&c, oc);
    for (int e = 0; e < 3; e++)
        cr_assert_arr_eq(oa[e], ob[e], sizeof oa[e], "epoch %d", e);
    cr_assert_neq(memcmp(oa[0], oa[1], sizeof oa[0]), 0, "epochs 0 and 1 differ");
    cr_assert_neq(memcmp(oa[1], oa[2], sizeof oa[0]), 0, "epochs 1 and 2 differ");
    cr_assert_neq(memcmp(oa[0], oc, sizeof oc), 0, "seeds 9 and 10 differ");

    /* Jumping straight to epoch 2 gives the order epoch 2 had after two epochs of history. */
    uint32_t jumped[64];
    tg_batcher_seek(&c, 2, 0);
    tg_batcher_free(&c);
    cr_assert_eq(tg_batcher_init(&c, &ds, 5, 0, true, 9, &err), TG_OK);
    tg_batcher_seek(&c, 2, 0);
    run_epoch(&c, jumped);
    cr_assert_arr_eq(jumped, oa[2], sizeof jumped);
    tg_batcher_free(&a);
    tg_batcher_free(&b);
    tg_batcher_free(&c);
}

Test(batcher, no_shuffle_is_file_order_and_limit)
{
    tg_dataset ds = tiny_set(50);
    tg_batcher b;
    tg_error err;
    cr_assert_eq(tg_batcher_init(&b, &ds, 8, 20, false, 3, &err), TG_OK);
    cr_assert_eq(tg_batcher_size(&b), 20);
    cr_assert_eq(tg_batcher_batches_per_epoch(&b), 3);
    for (int e = 0; e < 2; e++) {
        uint32_t order[20];
        run_epoch(&b, order);
        for (uint32_t i = 0; i < 20; i++)
            cr_assert_eq(order[i], i);
        tg_batcher_next_epoch(&b);
    }
    tg_batcher_free(&b);

    cr_assert_eq(tg_batcher_init(&b, &ds, 8, 20, true, 3, &err), TG_OK);
    uint32_t order[20];
    run_epoch(&b, order);
    for (int i = 0; i < 20; i++)
        cr_assert_lt(order[i], 20, "the limit keeps the first 20 images");
    tg_batcher_free(&b);

    cr_assert_eq(tg_batcher_init(&b, &ds, 8, 500, false, 3, &err), TG_OK);
    cr_assert_eq(tg_batcher_size(&b), 50, "a limit above n is n");
    tg_batcher_free(&b);
}

Test(batcher, seek_resumes_exactly)
{
    /* An uninterrupted run over 3 epochs, recorded batch by batch ... */
    enum { N = 45, B = 10, PER_EPOCH = 5, EPOCHS = 3 };
    tg_dataset ds = tiny_set(N);
    tg_batcher b;
    tg_error err;
    cr_assert_eq(tg_batcher_init(&b, &ds, B, 0, true, 77, &err), TG_OK);
    uint32_t record[EPOCHS][PER_EPOCH][B];
    size_t counts[EPOCHS][PER_EPOCH];
    uint64_t epochs_at[EPOCHS][PER_EPOCH];
    size_t positions_at[EPOCHS][PER_EPOCH];
    for (int e = 0; e < EPOCHS; e++) {
        for (int k = 0; k < PER_EPOCH; k++) {
            epochs_at[e][k] = tg_batcher_epoch(&b);
            positions_at[e][k] = tg_batcher_position(&b);
            const uint32_t *idx;
            counts[e][k] = tg_batcher_next(&b, &idx);
            memcpy(record[e][k], idx, counts[e][k] * sizeof *idx);
        }
        const uint32_t *idx;
        cr_assert_eq(tg_batcher_next(&b, &idx), 0);
        tg_batcher_next_epoch(&b);
    }
    tg_batcher_free(&b);

    /* ... and, from every saved (epoch, position), a fresh batcher continues identically. */
    for (int e0 = 0; e0 < EPOCHS; e0++) {
        for (int k0 = 0; k0 < PER_EPOCH; k0++) {
            cr_assert_eq(tg_batcher_init(&b, &ds, B, 0, true, 77, &err), TG_OK);
            tg_batcher_seek(&b, epochs_at[e0][k0], positions_at[e0][k0]);
            for (int e = e0; e < EPOCHS; e++) {
                for (int k = e == e0 ? k0 : 0; k < PER_EPOCH; k++) {
                    const uint32_t *idx;
                    size_t count = tg_batcher_next(&b, &idx);
                    cr_assert_eq(count, counts[e][k]);
                    cr_assert_arr_eq(idx, record[e][k], count * sizeof *idx, "resumed at (%d,%d), batch (%d,%d)", e0, k0, e, k);
                }
                const uint32_t *idx;
                cr_assert_eq(tg_batcher_next(&b, &idx), 0);
                tg_batcher_next_epoch(&b);
            }
            tg_batcher_free(&b);
        }
    }

    /* A position between batch boundaries and one past the end. */
    cr_assert_eq(tg_batcher_init(&b, &ds, B, 0, true, 77, &err), TG_OK);
    tg_batcher_seek(&b, 1, 13);
    const uint32_t *idx;
    cr_assert_eq(tg_batcher_next(&b, &idx), B);
    cr_assert_arr_eq(idx, &record[1][1][3], 7 * sizeof *idx);
    cr_assert_arr_eq(idx + 7, record[1][2], 3 * sizeof *idx);
    tg_batcher_seek(&b, 1, 1000);
    cr_assert_eq(tg_batcher_position(&b), N);
    cr_assert_eq(tg_batcher_next(&b, &idx), 0);
    tg_batcher_free(&b);
}

Test(batcher, bad_arguments)
{
    tg_dataset ds = tiny_set(10), empty = tiny_set(0);
    tg_batcher b;
    tg_error err;
    cr_assert_eq(tg_batcher_init(&b, &ds, 0, 0, true, 1, &err), TG_ERR_ARG);
    cr_assert_not_null(strstr(err.msg, "batch size 0"), "%s", err.msg);
    cr_assert_eq(tg_batcher_init(&b, &empty, 4, 0, true, 1, &err), TG_ERR_ARG);
    cr_assert_null(b.order);
    tg_batcher_free(&b);
}

/* ------------------------------------------------------------------------------------------- */
/* The real Fashion-MNIST, when the Debian package dataset-fashion-mnist is installed. */

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

static bool fashion_present(void)
{
    struct stat st;
    return stat(FASHION_DIR "/train-images-idx3-ubyte.gz", &st) == 0 ||
           stat(FASHION_DIR "/train-images-idx3-ubyte", &st) == 0;
}

static uint64_t pixel_sum(const tg_dataset *ds, size_t image)
{
    uint64_t sum = 0;
    for (size_t j = 0; j < 784; j++)
        sum += ds->images[image * 784 + j];
    return sum;
}

Test(dataset, fashion_mnist_train_and_t10k, .timeout = 300)
{
    if (!fashion_present()) {
        remove_tmpdir(); /* a skipped test does not reach the suite's .fini */
        cr_skip_test(FASHION_DIR " not installed (Debian package dataset-fashion-mnist)");
    }
    /* Reference values computed independently with Python's gzip module:
     * first labels, pixel sums of the first and last image. */
    static const uint8_t train_first[10] = { 9, 0, 0, 3, 0, 2, 7, 2, 5, 5 };
    static const uint8_t t10k_first[10] = { 9, 2, 1, 1, 6, 1, 4, 6, 5, 7 };
    tg_dataset ds;
    tg_error err;
    cr_assert_eq(tg_dataset_load(&ds, FASHION_DIR, "train", true, 0, &err), TG_OK, "%s", err.msg);
    cr_assert(ds.n == 60000 && ds.rows == 28 && ds.cols == 28);
    cr_assert_eq(ds.n_classes, 10);
    int histogram[10] = { 0 };
    for (size_t i = 0; i < ds.n; i++) {
        cr_assert_lt(ds.labels[i], 10);
        histogram[ds.labels[i]]++;
    }
    for (int k = 0; k < 10; k++)
        cr_assert_eq(histogram[k], 6000, "class %d: %d", k, histogram[k]);
    cr_assert_arr_eq(ds.labels, train_first, 10);
    cr_assert_eq(pixel_sum(&ds, 0), 76247);
    cr_assert_eq(pixel_sum(&ds, 59999), 16684);
    tg_dataset_free(&ds);

    cr_assert_eq(tg_dataset_load(&ds, FASHION_DIR, "t10k", true, 0, &err), TG_OK, "%s", err.msg);
    cr_assert(ds.n == 10000 && ds.rows == 28 && ds.cols == 28);
    int test_histogram[10] = { 0 };
    for (size_t i = 0; i < ds.n; i++)
        test_histogram[ds.labels[i]]++;
    for (int k = 0; k < 10; k++)
        cr_assert_eq(test_histogram[k], 1000, "class %d: %d", k, test_histogram[k]);
    cr_assert_arr_eq(ds.labels, t10k_first, 10);
    cr_assert_eq(pixel_sum(&ds, 0), 33456);
    cr_assert_eq(pixel_sum(&ds, 9999), 24390);
    tg_dataset_free(&ds);

    cr_assert_eq(tg_dataset_load(&ds, FASHION_DIR, "t10k", true, 100, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(ds.n, 100);
    cr_assert_arr_eq(ds.labels, t10k_first, 10);
    cr_assert_eq(pixel_sum(&ds, 0), 33456);
    tg_dataset_free(&ds);
}
