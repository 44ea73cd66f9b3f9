/* tests/test_crc32.c — the CRC-32 of nn/io/crc32.c (gzip trailers, PNG chunks, checkpoints).
 *
 * Expected values come from outside the code base: the CRC catalogue's check value, PNG's IEND
 * chunk, Python's zlib.crc32, the trailers the system gzip wrote, and io_test.h's bit-at-a-time
 * implementation of the definition. */
#include <criterion/criterion.h>

#include "idx_bytes.h"
#include "nn/io/crc32.h"
#include "table_test.h"
#include "tensor/rng.h"

/* The smallest checkpoint of tests/test_checkpoint.c without its CRC: 43 bytes whose CRC-32,
 * 0xE45043FA, was computed with Python's zlib.crc32. */
static const char tiny_checkpoint[] = "TGCK\1\0\0\0\4\0\0\0a=1\n\1\0\0\0\1\0x\2\0\0\0\1\0\0\0\2\0\0\0"
                                      "\0\0\x80\x3f\0\0\0\xc0";
_Static_assert(sizeof tiny_checkpoint == 43 + 1, "43 bytes and the literal's NUL");

static const struct {
    const char *name;
    const void *data;
    size_t len;
    uint32_t crc;
} known[] = {
    {"check value of CRC-32/ISO-HDLC (\"123456789\")", "123456789", 9, 0xCBF43926u},
    {"empty input", "", 0, 0x00000000u},
    {"PNG's IEND chunk type (the last 4 bytes of every PNG)", "IEND", 4, 0xAE426082u},
    {"a tiny checkpoint (Python zlib.crc32)", tiny_checkpoint, 43, 0xE45043FAu},
};

TestSuite(crc32, .timeout = 60);

/* Each value in one call, and in two calls split at every byte (the running form). */
TABLE_TEST(crc32, known_values_whole_and_split_anywhere, known)
{
    const uint8_t *p = known[*row].data;
    size_t n = known[*row].len;
    cr_assert_eq(tg_crc32(0, p, n), known[*row].crc, "%s: 0x%08x", known[*row].name, tg_crc32(0, p, n));
    for (size_t k = 0; k <= n; k++)
        cr_assert_eq(tg_crc32(tg_crc32(0, p, k), p + k, n - k), known[*row].crc, "%s: split at %zu", known[*row].name,
                     k);
}

/* gzip stores the CRC-32 of the uncompressed data in its trailer (RFC 1952 2.3.1). */
static uint32_t trailer_crc(const uint8_t *gz, size_t len)
{
    const uint8_t *t = gz + len - 8;
    return t[0] | (uint32_t)t[1] << 8 | (uint32_t)t[2] << 16 | (uint32_t)t[3] << 24;
}

Test(crc32, equals_the_trailers_gzip_wrote)
{
    cr_assert_eq(tg_crc32(0, fixed_idx, sizeof fixed_idx), trailer_crc(fixed_gz, sizeof fixed_gz));
    uint32_t c = tg_crc32(0, dyn_header, sizeof dyn_header);
    cr_assert_eq(tg_crc32(c, DYN_TEXT, strlen(DYN_TEXT)), trailer_crc(dyn_gz, sizeof dyn_gz));
}

/* Random bytes of every length up to 300, from every alignment: the bitwise definition agrees. */
Test(crc32, equals_the_bitwise_definition)
{
    static uint8_t buf[320];
    tg_rng rng;
    tg_rng_seed(&rng, 32, 0);
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)tg_rng_next_u32(&rng);
    for (size_t offset = 0; offset < 8; offset++)
        for (size_t n = 0; n <= 300; n++)
            cr_assert_eq(tg_crc32(0, buf + offset, n), bitwise_crc32(buf + offset, n), "offset %zu, %zu bytes",
                         offset, n);
}
