/* tests/fuzz/fuzz_idx.c — libFuzzer target: IDX file images, plain or gzip, through
 * tg_idx_parse_mem (nn/io/data.h), which runs the same header checks and gzip decoder as
 * tg_idx_read.  Every input is parsed four ways: any IDX file, as images (ndim 3), as labels
 * (ndim 1), and under a ".gz" name (where non-gzip bytes are an error).  Then once more wrapped
 * by the harness in a valid gzip member (stored blocks, right CRC and size): a mutated .gz
 * almost never keeps its CRC, so without this the IDX checks after decompression would hardly
 * ever see fuzzed bytes.
 *
 * Contract checked on success: ndim 1..4 with the unused dims 1; data right after the header
 * (buffer + 4 + 4*ndim); every element readable (ASan checks the reads); a plain input is exactly
 * header + elements long; the expected ndim when one was asked for.  On failure: both outputs
 * NULL and a one-line message naming the input (fuzz_common.h). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fuzz_common.h"
#include "nn/io/crc32.h"
#include "nn/io/data.h"

#define UNKNOWN_LEN SIZE_MAX

/* idx_len: the length of the IDX image itself (len for plain bytes, the wrapped length for
 * gzip_stored output, UNKNOWN_LEN for other gzip input): on success it must be exactly the
 * header plus the elements. */
static void parse_one(const uint8_t *bytes, size_t len, const char *label, int expect_ndim, size_t idx_len)
{
    uint8_t *buffer = (uint8_t *)1; /* not NULL: the call must set it */
    const uint8_t *data = (const uint8_t *)1;
    int ndim = -1;
    size_t dims[4] = {0, 0, 0, 0};
    tg_error err = {0};
    int rc = tg_idx_parse_mem(bytes, len, label, expect_ndim, &buffer, &data, &ndim, dims, &err);
    if (rc != TG_OK) {
        if (buffer || data)
            fuzz_fail("outputs not NULL after a failure", err.msg);
        fuzz_check_error(rc, &err, label);
        return;
    }
    if (ndim < 1 || ndim > 4 || (expect_ndim && ndim != expect_ndim))
        fuzz_fail("bad ndim on success", label);
    if (data != buffer + 4 + 4 * (size_t)ndim)
        fuzz_fail("data does not follow the header", label);
    size_t count = 1;
    for (int i = 0; i < 4; i++) {
        if (i >= ndim && dims[i] != 1)
            fuzz_fail("an unused dimension is not 1", label);
        if (dims[i] == 0)
            fuzz_fail("a zero dimension accepted", label);
        count *= dims[i]; /* cannot overflow: the parser checked it against the bytes it holds */
    }
    if (idx_len != UNKNOWN_LEN && idx_len != 4 + 4 * (size_t)ndim + count)
        fuzz_fail("an IDX image whose length is not header + elements was accepted", label);
    /* Touch every element, so ASan sees a buffer shorter than the dims claim. */
    unsigned sum = 0;
    for (size_t i = 0; i < count; i++)
        sum += data[i];
    volatile unsigned sink = sum;
    (void)sink;
    free(buffer);
}

static uint8_t *put_le(uint8_t *p, uint32_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        *p++ = (uint8_t)(v >> (8 * i));
    return p;
}

/* A gzip member holding in[0..len) in stored DEFLATE blocks (at most 65535 bytes each): a
 * 10-byte header (no flags), the blocks, then CRC-32 and size.  *out_len gets its length. */
static uint8_t *gzip_stored(const uint8_t *in, size_t len, size_t *out_len)
{
    size_t blocks = len / 65535 + 1;
    uint8_t *out = malloc(10 + 5 * blocks + len + 8);
    if (!out)
        abort();
    static const uint8_t header[10] = {0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF};
    memcpy(out, header, 10);
    uint8_t *p = out + 10;
    size_t done = 0;
    for (size_t b = 0; b < blocks; b++) {
        size_t n = len - done < 65535 ? len - done : 65535;
        *p++ = b + 1 == blocks; /* BFINAL on the last, BTYPE 00 = stored */
        p = put_le(p, (uint32_t)n, 2);
        p = put_le(p, (uint32_t)n ^ 0xFFFF, 2);
        memcpy(p, in + done, n);
        p += n;
        done += n;
    }
    p = put_le(p, tg_crc32(0, in, len), 4);
    p = put_le(p, (uint32_t)len, 4);
    *out_len = (size_t)(p - out);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t len)
{
    bool gzip = len >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B;
    size_t idx_len = gzip ? UNKNOWN_LEN : len;
    parse_one(bytes, len, "fuzz.idx", 0, idx_len);
    parse_one(bytes, len, "fuzz-images.idx", 3, idx_len);
    parse_one(bytes, len, "fuzz-labels.idx", 1, idx_len);
    parse_one(bytes, len, "fuzz.idx.gz", 0, idx_len);
    size_t wrapped_len;
    uint8_t *wrapped = gzip_stored(bytes, len, &wrapped_len);
    parse_one(wrapped, wrapped_len, "fuzz-wrapped.idx.gz", 0, len);
    parse_one(wrapped, wrapped_len, "fuzz-wrapped-images.idx.gz", 3, len);
    free(wrapped);
    return 0;
}
