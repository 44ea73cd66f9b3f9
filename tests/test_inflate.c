/* tests/test_inflate.c — the DEFLATE decoder and gzip reader of nn/io/inflate.c (tg_inflate_mem,
 * tg_gunzip_mem, tg_gunzip_file_checked).
 *
 * Inputs come from three independent sources: stored blocks built by hand (idx_bytes.h), raw
 * DEFLATE bit streams assembled here from the RFC 1951 tables, and two members produced by the
 * system gzip.  Every gzip member, good or bad, goes through both the memory and the file entry
 * point. */
#include <criterion/criterion.h>

#include "idx_bytes.h"
#include "nn/io/inflate.h"
#include "table_test.h"

TestSuite(inflate, .init = scratch_make, .fini = scratch_drop, .timeout = 60);

/* ---- raw DEFLATE bit streams ------------------------------------------------------------------ */

/* Fields go least significant bit first, Huffman codes most significant bit first (RFC 1951
 * 3.1.1).  A stream is a list of steps ending with kind 0: */
typedef struct bit_step {
    char kind;      /* 'f' a field, 'c' a Huffman code, 'l' a symbol of the fixed literal/length code */
    unsigned value; /* the field, the code or the symbol */
    unsigned nbits; /* of the field or the code */
} bit_step;

#define FIELD(v, n) {'f', (v), (n)}
#define CODE(v, n) {'c', (v), (n)}
#define LIT(sym) {'l', (sym), 0}

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

/* Assembles the steps; returns the number of bytes (the last one padded with zeros). */
static size_t assemble(bit_writer *w, const bit_step *steps)
{
    w->nbits = 0;
    for (const bit_step *s = steps; s->kind; s++) {
        if (s->kind == 'f')
            for (unsigned i = 0; i < s->nbits; i++)
                put_bit(w, s->value >> i);
        else if (s->kind == 'c')
            put_code(w, s->value, s->nbits);
        else
            put_fixed_litlen(w, s->value);
    }
    return (w->nbits + 7) / 8;
}

Test(inflate, hand_written_fixed_block)
{
    /* "abcabcabca": literals a b c, then length 7 at distance 3 (symbol 261, distance code 2). */
    static const bit_step steps[] = {
        FIELD(1, 1), FIELD(1, 2), /* BFINAL, BTYPE 01: fixed codes */
        LIT('a'), LIT('b'), LIT('c'),
        LIT(261),   /* length 7, no extra bits */
        CODE(2, 5), /* distance 3, no extra bits */
        LIT(256), {0},
    };
    bit_writer w;
    size_t n = assemble(&w, steps);
    uint8_t out[16];
    size_t len, used;
    tg_error err;
    cr_assert_eq(tg_inflate_mem(w.bytes, n, out, sizeof out, &len, &used, "hand", &err), TG_OK, "%s", err.msg);
    cr_assert_eq(len, 10);
    cr_assert_arr_eq(out, "abcabcabca", 10);
    cr_assert_eq(used, n);

    /* The same stream into a buffer one byte too small is an error, not an overflow. */
    cr_assert_neq(tg_inflate_mem(w.bytes, n, out, 9, &len, &used, "hand", &err), TG_OK);
    cr_assert_not_null(strstr(err.msg, "exceeds the 9-byte output buffer"), "%s", err.msg);
}

/* Malformed raw streams.  The dynamic-block rows start with BFINAL 1, BTYPE 10, then HLIT (5
 * bits, 257 + n codes), HDIST (5 bits, 1 + n) and HCLEN (4 bits, 4 + n) — FIELD(0, 14) is all
 * three at their minimum — and then 3-bit code lengths for the code-length symbols 16, 17, 18,
 * 0 in that order. */
static const struct {
    const char *name;
    bit_step steps[16];
    const char *fragment;
} bad_streams[] = {
    {"block type 3", {FIELD(1, 1), FIELD(3, 2)}, "invalid block type 3"},
    {"stored block whose NLEN is not ~LEN",
     {FIELD(1, 1), FIELD(0, 2), FIELD(0, 5) /* pad to the byte */, FIELD(5, 16), FIELD(0, 16)},
     "stored block length check failed"},
    {"fixed block that starts with a match: nothing to copy from",
     {FIELD(1, 1), FIELD(1, 2), LIT(257), CODE(0, 5), LIT(256)}, "distance 1 too far back"},
    {"fixed block using the reserved length symbol 286", {FIELD(1, 1), FIELD(1, 2), LIT('x'), LIT(286)},
     "invalid length symbol 286"},
    {"fixed block using the reserved distance symbol 30",
     {FIELD(1, 1), FIELD(1, 2), LIT('x'), LIT(257), CODE(30, 5)}, "invalid distance symbol 30"},
    {"dynamic block: four code-length codes of 1 bit are over-subscribed",
     {FIELD(1, 1), FIELD(2, 2), FIELD(0, 5), FIELD(0, 5), FIELD(0, 4), FIELD(1, 3), FIELD(1, 3), FIELD(1, 3),
      FIELD(1, 3)},
     "over-subscribed code-length code"},
    {"dynamic block: a single 1-bit code-length code is incomplete",
     {FIELD(1, 1), FIELD(2, 2), FIELD(0, 14), FIELD(0, 3), FIELD(0, 3), FIELD(1, 3), FIELD(0, 3)},
     "incomplete code-length code"},
    {"dynamic block: repeat (16) with no previous length; codes 16 -> 0, 17 -> 1",
     {FIELD(1, 1), FIELD(2, 2), FIELD(0, 14), FIELD(1, 3), FIELD(1, 3), FIELD(0, 3), FIELD(0, 3), CODE(0, 1),
      FIELD(0, 2)},
     "repeat with no previous length"},
    {"dynamic block: 138 + 120 zero lengths (codes 17 -> 0, 18 -> 1), no end-of-block code",
     {FIELD(1, 1), FIELD(2, 2), FIELD(0, 14), FIELD(0, 3), FIELD(1, 3), FIELD(1, 3), FIELD(0, 3), CODE(1, 1),
      FIELD(127, 7), CODE(1, 1), FIELD(109, 7)},
     "no end-of-block code"},
    {"dynamic block: 138 + 138 zero lengths run past the 258 declared",
     {FIELD(1, 1), FIELD(2, 2), FIELD(0, 14), FIELD(0, 3), FIELD(1, 3), FIELD(1, 3), FIELD(0, 3), CODE(1, 1),
      FIELD(127, 7), CODE(1, 1), FIELD(127, 7)},
     "runs past the 258 declared codes"},
    {"dynamic block declaring 287 literal/length codes", {FIELD(1, 1), FIELD(2, 2), FIELD(30, 5), FIELD(0, 9)},
     "287 literal/length codes"},
    {"an empty input", {{0}}, "truncated deflate stream"},
    {"a lone block header", {FIELD(0, 3)}, "truncated deflate stream"},
};

TABLE_TEST(inflate, malformed_deflate_stream_is_rejected, bad_streams)
{
    bit_writer w;
    size_t n = assemble(&w, bad_streams[*row].steps);
    uint8_t out[1024];
    size_t len;
    tg_error err;
    tg_error_clear(&err);
    int rc = tg_inflate_mem(w.bytes, n, out, sizeof out, &len, NULL, "raw", &err);
    cr_assert_eq(rc, TG_ERR_FORMAT, "%s: rc %d, expected \"%s\"", bad_streams[*row].name, rc,
                 bad_streams[*row].fragment);
    cr_assert_not_null(strstr(err.msg, bad_streams[*row].fragment), "%s: message \"%s\" lacks \"%s\"",
                       bad_streams[*row].name, err.msg, bad_streams[*row].fragment);
}

/* ---- gzip members: both entry points ---------------------------------------------------------- */

/* Decodes gz with tg_gunzip_mem and with tg_gunzip_file_checked (from a scratch file, no head check), expecting the same
 * result from both: TG_OK and `want`, or an error containing `fragment` and the member's name. */
static void gunzip_both(const uint8_t *gz, size_t len, size_t max_output, const uint8_t *want, size_t want_len,
                        const char *fragment, const char *what)
{
    const char *path = scratch_file("member.gz", gz, len);
    for (int from_file = 0; from_file < 2; from_file++) {
        const char *name = from_file ? path : "member";
        uint8_t *out = (uint8_t *)&out;
        size_t out_len;
        tg_error err;
        tg_error_clear(&err);
        int rc;
        if (from_file) {
            FILE *f = fopen(path, "rb");
            cr_assert_not_null(f);
            rc = tg_gunzip_file_checked(f, path, max_output, 0, NULL, NULL, &out, &out_len, &err);
            fclose(f);
        } else {
            rc = tg_gunzip_mem(gz, len, name, max_output, &out, &out_len, &err);
        }
        const char *via = from_file ? "tg_gunzip_file_checked" : "tg_gunzip_mem";
        if (!fragment) {
            cr_assert_eq(rc, TG_OK, "%s, %s: %s", what, via, err.msg);
            cr_assert_eq(out_len, want_len, "%s, %s: %zu bytes", what, via, out_len);
            cr_assert_arr_eq(out, want, want_len, "%s, %s: other bytes", what, via);
            free(out);
            continue;
        }
        cr_assert_eq(rc, TG_ERR_FORMAT, "%s, %s: rc %d (%s), expected \"%s\"", what, via, rc, err.msg, fragment);
        cr_assert_eq(err.code, rc, "%s, %s", what, via);
        cr_assert_null(out, "%s, %s: output left behind", what, via);
        cr_assert_not_null(strstr(err.msg, fragment), "%s, %s: message \"%s\" lacks \"%s\"", what, via, err.msg,
                           fragment);
        cr_assert_eq(strncmp(err.msg, name, strlen(name)), 0, "%s, %s: message \"%s\" does not start with %s", what,
                     via, err.msg, name);
    }
}

/* Stored blocks with every combination of the optional header fields (RFC 1952 2.3.1), in blocks
 * of 1 byte, 100 bytes (4 blocks, the last one short) and one block. */
Test(inflate, stored_blocks_with_every_header_field)
{
    uint8_t data[316];
    for (size_t k = 0; k < sizeof data; k++)
        data[k] = (uint8_t)(k * 37 + 11);
    static const size_t blocks[] = {1, 100, 65535};
    bytes gz;
    for (unsigned options = 0; options < 16; options++)
        for (size_t b = 0; b < TABLE_ROWS(blocks); b++) {
            make_gzip_stored(&gz, data, sizeof data, blocks[b], options);
            char what[64];
            snprintf(what, sizeof what, "options %u, blocks of %zu", options, blocks[b]);
            gunzip_both(gz.p, gz.len, TG_GUNZIP_DEFAULT_MAX, data, sizeof data, NULL, what);
        }
}

Test(inflate, members_made_by_gzip)
{
    gunzip_both(fixed_gz, sizeof fixed_gz, TG_GUNZIP_DEFAULT_MAX, fixed_idx, sizeof fixed_idx, NULL,
                "fixed-Huffman member");
    uint8_t dyn_idx[8 + sizeof DYN_TEXT - 1];
    memcpy(dyn_idx, dyn_header, 8);
    memcpy(dyn_idx + 8, DYN_TEXT, sizeof DYN_TEXT - 1);
    gunzip_both(dyn_gz, sizeof dyn_gz, TG_GUNZIP_DEFAULT_MAX, dyn_idx, sizeof dyn_idx, NULL,
                "dynamic-Huffman member");
}

/* The members the defects below start from. */
enum member {
    PLAIN,      /* the small IDX images, not gzip at all */
    STORED,     /* the small IDX images (96 bytes) in one stored block */
    STORED_40,  /* the same in blocks of 40, with a file name */
    STORED_HCRC,/* one block, with a file name and the header CRC */
    ZEROS,      /* 3000 zero bytes in one block */
    FIXED,      /* fixed_gz, made by gzip */
    DYN,        /* dyn_gz, made by gzip */
};

/* A defect: the member, then up to two byte edits (offsets < 0 count from the end), then a cut
 * and something appended. */
typedef struct edit {
    char op;     /* 'x': byte ^= value, 's': byte = value, 'i': ISIZE (the last 4 bytes) = value */
    long at;
    uint32_t value;
} edit;

static const struct {
    const char *name;
    enum member member;
    edit edits[2];
    long cut;         /* keep this many bytes (< 0: drop -cut from the end; 0: keep all) */
    const char *tail; /* appended; "SELF" appends a copy of the member */
    size_t max_output;
    const char *fragment;
} defects[] = {
    {"plain bytes", PLAIN, {{0}}, 0, NULL, 0, "not a gzip file"},
    /* cut inside the header, the name, a block header, block data and the trailer */
    {"cut at 3: the fixed header", STORED_40, {{0}}, 3, NULL, 0, "truncated gzip stream"},
    {"cut at 12: the name", STORED_40, {{0}}, 12, NULL, 0, "truncated gzip stream"},
    {"cut at 17", STORED_40, {{0}}, 17, NULL, 0, "truncated gzip stream"},
    {"cut at 21: a block header", STORED_40, {{0}}, 21, NULL, 0, "truncated gzip stream"},
    {"cut at 22", STORED_40, {{0}}, 22, NULL, 0, "truncated gzip stream"},
    {"cut at 30: block data", STORED_40, {{0}}, 30, NULL, 0, "truncated gzip stream"},
    {"cut at 60", STORED_40, {{0}}, 60, NULL, 0, "truncated gzip stream"},
    {"cut at 100", STORED_40, {{0}}, 100, NULL, 0, "truncated gzip stream"},
    {"cut before the trailer", STORED_40, {{0}}, -8, NULL, 0, "truncated gzip stream"},
    {"cut in the trailer", STORED_40, {{0}}, -5, NULL, 0, "truncated gzip stream"},
    {"last byte cut", STORED_40, {{0}}, -1, NULL, 0, "truncated gzip stream"},
    {"gzip's fixed member cut in its Huffman data", FIXED, {{0}}, 30, NULL, 0, "truncated gzip stream"},
    {"gzip's dynamic member cut at 100", DYN, {{0}}, 100, NULL, 0, "truncated gzip stream"},
    {"gzip's dynamic member cut at 20", DYN, {{0}}, 20, NULL, 0, "truncated gzip stream"},
    {"the trailer's CRC changed", STORED, {{'x', -8, 0x01}}, 0, NULL, 0, "CRC-32 mismatch"},
    {"a data byte of the stored block changed", STORED, {{'x', 40, 0x80}}, 0, NULL, 0, "CRC-32 mismatch"},
    {"gzip's dynamic member with its CRC changed", DYN, {{'x', -6, 0x10}}, 0, NULL, 0, "CRC-32 mismatch"},
    {"ISIZE one more", STORED, {{'i', 0, 97}}, 0, NULL, 0, "ISIZE mismatch"},
    {"ISIZE one less", STORED, {{'i', 0, 95}}, 0, NULL, 0, "ISIZE mismatch"},
    {"ISIZE 0", STORED, {{'i', 0, 0}}, 0, NULL, 0, "ISIZE mismatch"},
    {"ISIZE near 4 GiB", STORED, {{'i', 0, 0xFFFFFFF0u}}, 0, NULL, 0, "ISIZE mismatch"},
    {"a letter of the name, covered by the header CRC", STORED_HCRC, {{'x', 12, 0x20}}, 0, NULL, 0,
     "header CRC mismatch"},
    {"a reserved flag bit", STORED, {{'s', 3, 0x20}}, 0, NULL, 0, "reserved gzip header flags"},
    {"compression method 7, not deflate", STORED, {{'s', 2, 7}}, 0, NULL, 0, "compression method 7"},
    {"junk after the member", STORED, {{0}}, 0, "junk", 0, "trailing bytes after the gzip stream"},
    {"a second member", STORED, {{0}}, 0, "SELF", 0, "more than one gzip member"},
    /* a decompression bomb: refused, and nothing that size is allocated */
    {"3000 zero bytes against a 1000-byte cap", ZEROS, {{0}}, 0, NULL, 1000, "over the limit of 1000 bytes"},
};

static void make_member(bytes *gz, enum member m)
{
    bytes idx;
    small_images(&idx);
    static const uint8_t zeros[3000];
    gz->len = 0;
    switch (m) {
    case PLAIN: put(gz, idx.p, idx.len); break;
    case STORED: make_gzip_stored(gz, idx.p, idx.len, 1000, 0); break;
    case STORED_40: make_gzip_stored(gz, idx.p, idx.len, 40, GZ_WITH_NAME); break;
    case STORED_HCRC: make_gzip_stored(gz, idx.p, idx.len, 1000, GZ_WITH_NAME | GZ_WITH_HCRC); break;
    case ZEROS: make_gzip_stored(gz, zeros, sizeof zeros, 65535, 0); break;
    case FIXED: put(gz, fixed_gz, sizeof fixed_gz); break;
    case DYN: put(gz, dyn_gz, sizeof dyn_gz); break;
    }
}

TABLE_TEST(inflate, malformed_gzip_member_is_rejected, defects)
{
    bytes gz;
    make_member(&gz, defects[*row].member);
    size_t whole = gz.len;
    for (int e = 0; e < 2 && defects[*row].edits[e].op; e++) {
        const edit *d = &defects[*row].edits[e];
        size_t at = d->at < 0 ? whole - (size_t)-d->at : (size_t)d->at;
        if (d->op == 'x')
            gz.p[at] ^= (uint8_t)d->value;
        else if (d->op == 's')
            gz.p[at] = (uint8_t)d->value;
        else
            for (int k = 0; k < 4; k++)
                gz.p[whole - 4 + k] = (uint8_t)(d->value >> (8 * k));
    }
    long cut = defects[*row].cut;
    if (cut != 0) {
        size_t keep = cut < 0 ? whole - (size_t)-cut : (size_t)cut;
        cr_assert_lt(keep, whole, "%s: the cut is past the end", defects[*row].name);
        gz.len = keep;
    }
    const char *tail = defects[*row].tail;
    if (tail && !strcmp(tail, "SELF"))
        put(&gz, gz.p, whole);
    else if (tail)
        put(&gz, tail, strlen(tail));
    size_t max = defects[*row].max_output ? defects[*row].max_output : TG_GUNZIP_DEFAULT_MAX;
    gunzip_both(gz.p, gz.len, max, NULL, 0, defects[*row].fragment, defects[*row].name);
}
