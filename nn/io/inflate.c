/* nn/io/inflate.c — the DEFLATE decoder (RFC 1951); the gzip wrapper around it is gzip.c.
 *
 * Reading order: the byte source (memory or FILE chunks), the bit reader on top of it, canonical
 * Huffman codes (build + decode), the three block kinds, then raw DEFLATE's entry point.  Bits are
 * consumed least significant first as RFC 1951 section 3.1.1 says; Huffman codes are packed most
 * significant bit first, which is why the fast table is indexed by bit-reversed codes.  The state
 * shared with gzip.c is in inflate_internal.h. */
#include "inflate.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "inflate_internal.h"

#define DIST_SYMBOLS 32    /* 0..29 distances, 30/31 unused (only reachable in the fixed code) */
#define CODELEN_SYMBOLS 19

/* ------------------------------------------------------------------------------------------- */
/* Byte source. */

/* Makes more bytes available; false at end of input (or on a read error, see read_errno). */
static bool source_fill(byte_source *src)
{
    if (src->avail > 0)
        return true;
    if (!src->file)
        return false;
    size_t got = fread(src->chunk, 1, INPUT_CHUNK_BYTES, src->file);
    if (got == 0) {
        if (ferror(src->file))
            src->read_errno = errno ? errno : EIO;
        return false;
    }
    src->next = src->chunk;
    src->avail = got;
    return true;
}

/* ------------------------------------------------------------------------------------------- */
/* Error reporting and the output buffer. */

int tg_inflate_fail(inflater *s, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tg_error_vset(s->err, code, s->name, fmt, ap);
    va_end(ap);
    return code;
}

/* Running out of input is either a read error or a truncated stream. */
static int fail_input_ended(inflater *s)
{
    if (s->src.read_errno)
        return tg_inflate_fail(s, TG_ERR_IO, "read error: %s", strerror(s->src.read_errno));
    return tg_inflate_fail(s, TG_ERR_FORMAT, "truncated %s stream", s->gzip ? "gzip" : "deflate");
}

/* Makes room for n more output bytes; *store says whether to write them.  Raw deflate into a
 * caller's buffer fails when it is full.  In gzip mode the buffer was sized from the trailer's
 * ISIZE, which may be wrong (a truncated download ends in arbitrary bytes): the decoder then goes
 * on counting without storing, so that the final message can tell a truncated or corrupt stream
 * from a wrong ISIZE.  Counting needs no window: distances are checked against the count. */
static int reserve_output(inflater *s, size_t n, bool *store)
{
    *store = false;
    if (s->head_fn && !s->overflowed && s->out_len >= s->head_bytes) {
        /* The caller judges the data's own header against ISIZE before more is allocated. */
        tg_gunzip_head_fn fn = s->head_fn;
        s->head_fn = NULL;
        uint64_t announced = UINT64_MAX;
        int rc = fn(s->head_ctx, s->out, s->out_len, &announced, s->err);
        if (rc)
            return rc;
        /* Store no more than the data's header announces either: past it the decoder only
         * counts, so a stream longer than its header says (a bomb) costs no memory, and the end
         * of the stream still tells truncation, a wrong ISIZE and extra data apart. */
        if (announced < s->target) {
            s->target = (size_t)announced;
            s->head_limited = true;
            if (s->out_cap > s->target)
                s->out_cap = s->target < s->out_len ? s->out_len : s->target;
        }
    }
    if (!s->overflowed && n <= s->out_cap - s->out_len) {
        *store = true;
        return TG_OK;
    }
    if (s->gzip && !s->overflowed && n <= s->target - s->out_len) {
        /* Doubling: at most twice the data decoded so far, and never past the target. */
        size_t want = s->out_len + n, cap = s->out_cap > s->target / 2 ? s->target : 2 * s->out_cap;
        cap = cap < want ? want : cap;
        uint8_t *grown = realloc(s->out, cap);
        if (!grown)
            return tg_inflate_fail(s, TG_ERR_NOMEM, "cannot allocate %zu bytes for the decompressed data", cap);
        s->out = grown;
        s->out_cap = cap;
        *store = true;
        return TG_OK;
    }
    if (!s->gzip)
        return tg_inflate_fail(s, TG_ERR_FORMAT, "decompressed data exceeds the %zu-byte output buffer", s->out_cap);
    if (n > SIZE_MAX - s->out_len)
        return tg_inflate_fail(s, TG_ERR_FORMAT, "decompressed size overflows size_t");
    s->overflowed = true;
    return TG_OK;
}

/* ------------------------------------------------------------------------------------------- */
/* Bit reader. */

/* Tops the bit buffer up to at least 57 bits, or to whatever input is left. */
static void refill(inflater *s)
{
    while (s->bitcount <= 56) {
        if (s->src.avail == 0 && !source_fill(&s->src))
            return;
        s->bitbuf |= (uint64_t)*s->src.next << s->bitcount;
        s->src.next++;
        s->src.avail--;
        s->src.taken++;
        s->bitcount += 8;
    }
}

/* Takes n (0..32) bits, first bit lowest, into *value. */
static int read_bits(inflater *s, unsigned n, uint32_t *value)
{
    *value = 0;
    if (s->bitcount < n) {
        refill(s);
        if (s->bitcount < n)
            return fail_input_ended(s);
    }
    *value = (uint32_t)(s->bitbuf & ((UINT64_C(1) << n) - 1));
    s->bitbuf >>= n;
    s->bitcount -= n;
    return TG_OK;
}

/* Skips to the next byte boundary (stored blocks and the gzip trailer start there). */
void tg_inflate_align_to_byte(inflater *s)
{
    unsigned drop = s->bitcount % 8;
    s->bitbuf >>= drop;
    s->bitcount -= drop;
}

/* Reads one byte at a byte boundary: first from the bit buffer, then from the source. */
int tg_inflate_read_byte(inflater *s, uint8_t *byte)
{
    if (s->bitcount >= 8) {
        *byte = (uint8_t)s->bitbuf;
        s->bitbuf >>= 8;
        s->bitcount -= 8;
        return TG_OK;
    }
    if (s->src.avail == 0 && !source_fill(&s->src))
        return fail_input_ended(s);
    *byte = *s->src.next++;
    s->src.avail--;
    s->src.taken++;
    return TG_OK;
}

/* Position of the next unread byte in the input (valid at a byte boundary). */
uint64_t tg_inflate_input_position(const inflater *s)
{
    return s->src.taken - s->bitcount / 8;
}

/* ------------------------------------------------------------------------------------------- */
/* Canonical Huffman codes. */

enum code_role { CODE_CODELEN, CODE_LITLEN, CODE_DIST };

static const char *role_name(enum code_role role)
{
    return role == CODE_CODELEN ? "code-length" : role == CODE_LITLEN ? "literal/length" : "distance";
}

static unsigned reverse_bits(unsigned code, unsigned length)
{
    unsigned reversed = 0;
    for (unsigned i = 0; i < length; i++) {
        reversed = (reversed << 1) | (code & 1u);
        code >>= 1;
    }
    return reversed;
}

/* Builds the code for `n` symbols with the given code lengths (0 = symbol unused).
 * Over-subscribed sets (more codes than the bit lengths allow) are always rejected.  An incomplete
 * set is accepted only where a conforming encoder can produce one: a literal/length or distance
 * code with a single 1-bit code (RFC 1951 3.2.7), or no codes at all (then decoding any symbol
 * fails).  Patterns left unassigned are caught by huffman_decode. */
static int huffman_build(inflater *s, huffman_code *h, const uint8_t *lengths, unsigned n, enum code_role role)
{
    memset(h->count, 0, sizeof h->count);
    unsigned used = 0;
    for (unsigned sym = 0; sym < n; sym++) {
        if (lengths[sym] > MAX_CODE_BITS)
            return tg_inflate_fail(s, TG_ERR_FORMAT, "invalid %s code length %u", role_name(role), lengths[sym]);
        if (lengths[sym]) {
            h->count[lengths[sym]]++;
            used++;
        }
    }

    int unassigned = 1; /* code patterns of the current length not yet taken */
    for (unsigned len = 1; len <= MAX_CODE_BITS; len++) {
        unassigned = unassigned * 2 - h->count[len];
        if (unassigned < 0)
            return tg_inflate_fail(s, TG_ERR_FORMAT, "over-subscribed %s code", role_name(role));
    }
    if (unassigned > 0 && used > 0) {
        bool single_one_bit_code = used == 1 && h->count[1] == 1;
        if (role == CODE_CODELEN || !single_one_bit_code)
            return tg_inflate_fail(s, TG_ERR_FORMAT, "incomplete %s code", role_name(role));
    }

    /* Sort the symbols by code length (stable in symbol value): that is the canonical code order. */
    unsigned offset[MAX_CODE_BITS + 2];
    offset[1] = 0;
    for (unsigned len = 1; len <= MAX_CODE_BITS; len++)
        offset[len + 1] = offset[len] + h->count[len];
    for (unsigned sym = 0; sym < n; sym++)
        if (lengths[sym])
            h->symbol[offset[lengths[sym]]++] = (uint16_t)sym;

    /* Fast table: every FAST_BITS-bit pattern that starts with a short code maps to it. */
    memset(h->fast, 0, sizeof h->fast);
    unsigned code = 0, index = 0;
    for (unsigned len = 1; len <= FAST_BITS; len++) {
        for (unsigned k = 0; k < h->count[len]; k++, code++, index++) {
            unsigned pattern = reverse_bits(code, len);
            for (unsigned slot = pattern; slot < (1u << FAST_BITS); slot += 1u << len)
                h->fast[slot] = (fast_entry){ .symbol = h->symbol[index], .length = (uint8_t)len };
        }
        code <<= 1;
    }
    return TG_OK;
}

/* Decodes one symbol.  Short codes come from the fast table; longer ones walk the canonical code
 * one bit at a time: at each length, the codes of that length are the values
 * first .. first+count-1, and a code below `first` would have matched at a shorter length. */
static int huffman_decode(inflater *s, const huffman_code *h, enum code_role role, unsigned *symbol)
{
    if (s->bitcount < MAX_CODE_BITS)
        refill(s); /* may stay short near the end of input; checked below per code length */
    fast_entry e = h->fast[s->bitbuf & ((1u << FAST_BITS) - 1)];
    if (e.length) {
        if (e.length > s->bitcount) /* the code's tail lies past the end of the input */
            return fail_input_ended(s);
        s->bitbuf >>= e.length;
        s->bitcount -= e.length;
        *symbol = e.symbol;
        return TG_OK;
    }
    int code = 0, first = 0, index = 0;
    for (unsigned len = 1; len <= MAX_CODE_BITS; len++) {
        if (len > s->bitcount)
            return fail_input_ended(s);
        code |= (int)((s->bitbuf >> (len - 1)) & 1u);
        int count = h->count[len];
        if (code >= first && code - first < count) {
            s->bitbuf >>= len;
            s->bitcount -= len;
            *symbol = h->symbol[index + (code - first)];
            return TG_OK;
        }
        index += count;
        first = (first + count) << 1;
        code <<= 1;
    }
    return tg_inflate_fail(s, TG_ERR_FORMAT, "invalid %s code in the compressed data", role_name(role));
}

/* ------------------------------------------------------------------------------------------- */
/* Blocks. */

/* Length symbols 257..285 and distance symbols 0..29: base value and extra bits (RFC 1951 3.2.5). */
static const uint16_t length_base[29] = { 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
                                          35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258 };
static const uint8_t length_extra[29] = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
                                          3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0 };
static const uint16_t dist_base[30] = { 1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193,
                                        257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
                                        8193, 12289, 16385, 24577 };
static const uint8_t dist_extra[30] = { 0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6,
                                        7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13 };

/* Block type 0: byte-aligned LEN, NLEN (its one's complement), then LEN raw bytes. */
static int inflate_stored(inflater *s)
{
    tg_inflate_align_to_byte(s);
    uint8_t header[4];
    for (int i = 0; i < 4; i++) {
        int rc = tg_inflate_read_byte(s, &header[i]);
        if (rc)
            return rc;
    }
    unsigned len = header[0] | (unsigned)header[1] << 8;
    unsigned nlen = header[2] | (unsigned)header[3] << 8;
    if (len != (~nlen & 0xFFFFu))
        return tg_inflate_fail(s, TG_ERR_FORMAT, "stored block length check failed (LEN 0x%04x, NLEN 0x%04x)", len, nlen);
    bool store;
    int rc = reserve_output(s, len, &store);
    if (rc)
        return rc;

    size_t remaining = len;
    while (remaining > 0 && s->bitcount >= 8) { /* bytes already pulled into the bit buffer */
        if (store)
            s->out[s->out_len] = (uint8_t)s->bitbuf;
        s->out_len++;
        s->bitbuf >>= 8;
        s->bitcount -= 8;
        remaining--;
    }
    while (remaining > 0) {
        if (s->src.avail == 0 && !source_fill(&s->src))
            return fail_input_ended(s);
        size_t n = remaining < s->src.avail ? remaining : s->src.avail;
        if (store)
            memcpy(s->out + s->out_len, s->src.next, n);
        s->out_len += n;
        s->src.next += n;
        s->src.avail -= n;
        s->src.taken += n;
        remaining -= n;
    }
    return TG_OK;
}

/* Decodes literal/length + distance symbols with the codes in s->litlen and s->dist until the
 * end-of-block symbol.  Each symbol consumes at least one bit, so the loop ends with the input. */
static int inflate_codes(inflater *s)
{
    for (;;) {
        unsigned sym;
        int rc = huffman_decode(s, &s->litlen, CODE_LITLEN, &sym);
        if (rc)
            return rc;
        bool store;
        if (sym < 256) {
            if ((rc = reserve_output(s, 1, &store)))
                return rc;
            if (store)
                s->out[s->out_len] = (uint8_t)sym;
            s->out_len++;
            continue;
        }
        if (sym == 256)
            return TG_OK;
        if (sym > 285)
            return tg_inflate_fail(s, TG_ERR_FORMAT, "invalid length symbol %u", sym);

        uint32_t extra = 0;
        if ((rc = read_bits(s, length_extra[sym - 257], &extra)))
            return rc;
        size_t length = length_base[sym - 257] + extra;

        unsigned dsym;
        if ((rc = huffman_decode(s, &s->dist, CODE_DIST, &dsym)))
            return rc;
        if (dsym > 29)
            return tg_inflate_fail(s, TG_ERR_FORMAT, "invalid distance symbol %u", dsym);
        if ((rc = read_bits(s, dist_extra[dsym], &extra)))
            return rc;
        size_t distance = dist_base[dsym] + extra;

        if (distance > s->out_len)
            return tg_inflate_fail(s, TG_ERR_FORMAT, "distance %zu too far back (only %zu bytes decoded)",
                                   distance, s->out_len);
        if ((rc = reserve_output(s, length, &store)))
            return rc;
        if (store) {
            /* Byte by byte when source and destination overlap (distance < length repeats a pattern). */
            uint8_t *dst = s->out + s->out_len;
            const uint8_t *from = dst - distance;
            if (distance >= length)
                memcpy(dst, from, length);
            else
                for (size_t i = 0; i < length; i++)
                    dst[i] = from[i];
        }
        s->out_len += length;
    }
}

/* Block type 1: the fixed codes of RFC 1951 3.2.6. */
static int inflate_fixed(inflater *s)
{
    uint8_t lengths[LITLEN_SYMBOLS];
    unsigned sym = 0;
    for (; sym < 144; sym++) lengths[sym] = 8;
    for (; sym < 256; sym++) lengths[sym] = 9;
    for (; sym < 280; sym++) lengths[sym] = 7;
    for (; sym < 288; sym++) lengths[sym] = 8;
    int rc = huffman_build(s, &s->litlen, lengths, LITLEN_SYMBOLS, CODE_LITLEN);
    if (rc)
        return rc;
    for (sym = 0; sym < DIST_SYMBOLS; sym++)
        lengths[sym] = 5;
    if ((rc = huffman_build(s, &s->dist, lengths, DIST_SYMBOLS, CODE_DIST)))
        return rc;
    return inflate_codes(s);
}

/* Block type 2: the codes are sent first, themselves compressed with a code-length code
 * (RFC 1951 3.2.7). */
static int inflate_dynamic(inflater *s)
{
    static const uint8_t codelen_order[CODELEN_SYMBOLS] = { 16, 17, 18, 0, 8, 7, 9, 6, 10, 5,
                                                            11, 4, 12, 3, 13, 2, 14, 1, 15 };
    uint32_t hlit = 0, hdist = 0, hclen = 0;
    int rc;
    if ((rc = read_bits(s, 5, &hlit)) || (rc = read_bits(s, 5, &hdist)) || (rc = read_bits(s, 4, &hclen)))
        return rc;
    unsigned nlit = hlit + 257, ndist = hdist + 1, ncodelen = hclen + 4;
    if (nlit > 286)
        return tg_inflate_fail(s, TG_ERR_FORMAT, "dynamic block declares %u literal/length codes (at most 286)", nlit);
    if (ndist > 30)
        return tg_inflate_fail(s, TG_ERR_FORMAT, "dynamic block declares %u distance codes (at most 30)", ndist);

    uint8_t codelen_lengths[CODELEN_SYMBOLS] = { 0 };
    for (unsigned i = 0; i < ncodelen; i++) {
        uint32_t v;
        if ((rc = read_bits(s, 3, &v)))
            return rc;
        codelen_lengths[codelen_order[i]] = (uint8_t)v;
    }
    if ((rc = huffman_build(s, &s->codelen, codelen_lengths, CODELEN_SYMBOLS, CODE_CODELEN)))
        return rc;

    /* Literal/length and distance code lengths form one sequence; repeats may cross between them. */
    uint8_t lengths[286 + 30];
    unsigned total = nlit + ndist, have = 0;
    while (have < total) {
        unsigned sym;
        if ((rc = huffman_decode(s, &s->codelen, CODE_CODELEN, &sym)))
            return rc;
        if (sym < 16) {
            lengths[have++] = (uint8_t)sym;
            continue;
        }
        uint8_t value = 0;
        uint32_t repeat = 0;
        if (sym == 16) {
            if (have == 0)
                return tg_inflate_fail(s, TG_ERR_FORMAT, "code-length repeat with no previous length");
            value = lengths[have - 1];
            rc = read_bits(s, 2, &repeat);
            repeat += 3;
        } else if (sym == 17) {
            rc = read_bits(s, 3, &repeat);
            repeat += 3;
        } else {
            rc = read_bits(s, 7, &repeat);
            repeat += 11;
        }
        if (rc)
            return rc;
        if (repeat > total - have)
            return tg_inflate_fail(s, TG_ERR_FORMAT, "code-length repeat runs past the %u declared codes", total);
        memset(lengths + have, value, repeat);
        have += repeat;
    }
    if (lengths[256] == 0)
        return tg_inflate_fail(s, TG_ERR_FORMAT, "dynamic block has no end-of-block code");
    if ((rc = huffman_build(s, &s->litlen, lengths, nlit, CODE_LITLEN)) ||
        (rc = huffman_build(s, &s->dist, lengths + nlit, ndist, CODE_DIST)))
        return rc;
    return inflate_codes(s);
}

/* Decodes blocks until the one marked final.  Each block consumes at least 3 bits. */
int tg_inflate_blocks(inflater *s)
{
    uint32_t final = 0;
    while (!final) {
        uint32_t type = 0;
        int rc;
        if ((rc = read_bits(s, 1, &final)) || (rc = read_bits(s, 2, &type)))
            return rc;
        switch (type) {
        case 0: rc = inflate_stored(s); break;
        case 1: rc = inflate_fixed(s); break;
        case 2: rc = inflate_dynamic(s); break;
        default: rc = tg_inflate_fail(s, TG_ERR_FORMAT, "invalid block type 3"); break;
        }
        if (rc)
            return rc;
    }
    return TG_OK;
}

/* ------------------------------------------------------------------------------------------- */
/* Raw DEFLATE. */

void tg_inflater_init(inflater *s, const char *name, bool gzip, tg_error *err)
{
    memset(s, 0, sizeof *s);
    s->name = name ? name : (gzip ? "gunzip" : "inflate");
    s->gzip = gzip;
    s->err = err;
}

int tg_inflate_mem(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap,
                   size_t *out_len, size_t *in_used, const char *name, tg_error *err)
{
    inflater *s = malloc(sizeof *s); /* ~8 KB of tables: keep it off small stacks */
    if (!s)
        return tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", name ? name : "inflate");
    tg_inflater_init(s, name, false, err);
    s->src.next = in;
    s->src.avail = in ? in_len : 0;
    s->out = out;
    s->out_cap = out ? out_cap : 0;
    int rc = tg_inflate_blocks(s);
    if (rc == TG_OK) {
        *out_len = s->out_len;
        if (in_used)
            *in_used = (size_t)(s->src.taken - s->bitcount / 8);
    }
    free(s);
    return rc;
}
