/* tests/fuzz/fuzz_gzip.c — libFuzzer target: the DEFLATE decoder and gzip reader (nn/io/inflate.h).
 *
 * Each input is decoded as a whole gzip image (tg_gunzip_mem) and as a raw DEFLATE stream
 * (tg_inflate_mem, into a 64 KiB buffer of exactly that size, so ASan sees any write past it).
 * Contract checked besides the sanitizers':
 *   - raw DEFLATE: out_len <= cap and in_used <= input length; when a stream decodes to n bytes,
 *     a buffer of exactly n bytes gives the same bytes and the same in_used, and one of n-1 bytes
 *     is an error (the output cap is exact, neither early nor late);
 *   - gzip: on success the member's DEFLATE body (after a plain 10-byte header, FLG = 0) decodes
 *     with tg_inflate_mem to the same bytes: the two entry points agree;
 *   - every failure: NULL output and a one-line message naming the input (fuzz_common.h). */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_common.h"
#include "nn/io/inflate.h"

#define RAW_CAP 65536
#define GUNZIP_MAX ((size_t)1 << 24) /* bounds the memory one input can ask for */

/* Decodes in[0..len) into exactly `cap` malloc'ed bytes; the buffer is returned (free it). */
static uint8_t *inflate_capped(const uint8_t *in, size_t len, size_t cap, int *rc, size_t *out_len,
                               size_t *in_used, tg_error *err)
{
    uint8_t *out = malloc(cap ? cap : 1);
    if (!out)
        abort();
    *out_len = (size_t)-1;
    *in_used = (size_t)-1;
    *rc = tg_inflate_mem(in, len, out, cap, out_len, in_used, "fuzz.deflate", err);
    return out;
}

static void check_raw(const uint8_t *in, size_t len)
{
    tg_error err = {0};
    int rc;
    size_t n, used;
    uint8_t *out = inflate_capped(in, len, RAW_CAP, &rc, &n, &used, &err);
    if (rc != TG_OK) {
        fuzz_check_error(rc, &err, "fuzz.deflate");
        free(out);
        return;
    }
    if (n > RAW_CAP || used > len)
        fuzz_fail("out_len or in_used out of range", "");
    int rc2;
    size_t n2, used2;
    uint8_t *exact = inflate_capped(in, len, n, &rc2, &n2, &used2, &err);
    if (rc2 != TG_OK || n2 != n || used2 != used || (n && memcmp(exact, out, n) != 0))
        fuzz_fail("a buffer of exactly the output size decodes differently", err.msg);
    free(exact);
    if (n > 0) {
        uint8_t *small = inflate_capped(in, len, n - 1, &rc2, &n2, &used2, &err);
        if (rc2 == TG_OK)
            fuzz_fail("output one byte larger than the buffer was accepted", "");
        fuzz_check_error(rc2, &err, "fuzz.deflate");
        free(small);
    }
    free(out);
}

static void check_gzip(const uint8_t *in, size_t len)
{
    tg_error err = {0};
    uint8_t *out = (uint8_t *)1;
    size_t n = (size_t)-1;
    int rc = tg_gunzip_mem(in, len, "fuzz.gz", GUNZIP_MAX, &out, &n, &err);
    if (rc != TG_OK) {
        if (out)
            fuzz_fail("output not NULL after a failure", err.msg);
        fuzz_check_error(rc, &err, "fuzz.gz");
        return;
    }
    if (n > GUNZIP_MAX)
        fuzz_fail("more output than max_output", "");
    if (len >= 18 && in[3] == 0) { /* FLG = 0: the DEFLATE body starts at byte 10 */
        uint8_t *again = malloc(n ? n : 1);
        size_t n2, used;
        tg_error err2 = {0};
        if (!again)
            abort();
        int rc2 = tg_inflate_mem(in + 10, len - 10, again, n, &n2, &used, "fuzz.gz-body", &err2);
        if (rc2 != TG_OK || n2 != n || (n && memcmp(again, out, n) != 0))
            fuzz_fail("tg_gunzip_mem and tg_inflate_mem disagree on a member's body", err2.msg);
        if (10 + used + 8 != len)
            fuzz_fail("the member's body does not end 8 bytes before the end", "");
        free(again);
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t len)
{
    check_gzip(bytes, len);
    check_raw(bytes, len);
    return 0;
}
