/* nn/io/gzip.c — the gzip member (RFC 1952) around the DEFLATE decoder of inflate.c.
 *
 * The header (flags, optional fields, header CRC), the trailer (CRC-32 and ISIZE) and the checks
 * after the stream, which tell truncation, trailing bytes, a second member and a wrong ISIZE
 * apart; and the entry points for a .gz image in memory or an open file.  The output is sized
 * from the trailer's ISIZE only as far as it is plausible, and grows with the data decoded. */
#include "inflate.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "atomic_file.h"
#include "crc32.h"
#include "inflate_internal.h"

#define INITIAL_OUTPUT_BYTES ((size_t)1 << 20) /* gzip output starts here and doubles as data arrives */
#define GZIP_MIN_BYTES 18  /* 10-byte header + 8-byte trailer: anything shorter is truncated */
#define DEFLATE_MAX_RATIO 1032 /* 4 matches of 258 bytes per input byte at 2 bits per match */

/* ------------------------------------------------------------------------------------------- */
/* gzip member (RFC 1952 2.3). */

enum { GZ_FTEXT = 1, GZ_FHCRC = 2, GZ_FEXTRA = 4, GZ_FNAME = 8, GZ_FCOMMENT = 16, GZ_RESERVED = 0xE0 };

/* Reads one header byte and folds it into the header CRC (for FHCRC). */
static int read_header_byte(inflater *s, uint32_t *crc, uint8_t *byte)
{
    int rc = tg_inflate_read_byte(s, byte);
    if (rc == TG_OK)
        *crc = tg_crc32(*crc, byte, 1);
    return rc;
}

/* Skips a zero-terminated header field (FNAME, FCOMMENT); ends at its NUL or the input's end. */
static int skip_zero_terminated(inflater *s, uint32_t *crc)
{
    uint8_t byte;
    do {
        int rc = read_header_byte(s, crc, &byte);
        if (rc)
            return rc;
    } while (byte != 0);
    return TG_OK;
}

static int read_gzip_header(inflater *s)
{
    uint8_t h[10];
    uint32_t crc = 0;
    for (int i = 0; i < 10; i++) {
        int rc = read_header_byte(s, &crc, &h[i]);
        if (rc)
            return rc;
    }
    if (h[0] != 0x1F || h[1] != 0x8B)
        return tg_inflate_fail(s, TG_ERR_FORMAT, "not a gzip file");
    if (h[2] != 8)
        return tg_inflate_fail(s, TG_ERR_FORMAT, "unsupported gzip compression method %u (only 8, deflate)", h[2]);
    unsigned flags = h[3];
    if (flags & GZ_RESERVED)
        return tg_inflate_fail(s, TG_ERR_FORMAT, "reserved gzip header flags set (0x%02x)", flags);
    int rc;
    if (flags & GZ_FEXTRA) {
        uint8_t lo, hi;
        if ((rc = read_header_byte(s, &crc, &lo)) || (rc = read_header_byte(s, &crc, &hi)))
            return rc;
        for (unsigned n = lo | (unsigned)hi << 8; n > 0; n--) {
            uint8_t skipped;
            if ((rc = read_header_byte(s, &crc, &skipped)))
                return rc;
        }
    }
    if ((flags & GZ_FNAME) && (rc = skip_zero_terminated(s, &crc)))
        return rc;
    if ((flags & GZ_FCOMMENT) && (rc = skip_zero_terminated(s, &crc)))
        return rc;
    if (flags & GZ_FHCRC) {
        uint8_t lo, hi;
        if ((rc = tg_inflate_read_byte(s, &lo)) || (rc = tg_inflate_read_byte(s, &hi)))
            return rc;
        unsigned stored = lo | (unsigned)hi << 8;
        if (stored != (crc & 0xFFFFu))
            return tg_inflate_fail(s, TG_ERR_FORMAT, "gzip header CRC mismatch (stored 0x%04x, computed 0x%04x)",
                                   stored, (unsigned)(crc & 0xFFFFu));
    }
    return TG_OK;
}

static uint32_t le32(const uint8_t *p)
{
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Whether the ISIZE read from the end of the file can be believed enough to allocate it: not
 * over the caller's cap and not more than DEFLATE could expand the file's bytes to. */
static bool announced_size_plausible(uint32_t isize, uint64_t total_bytes, size_t max_output)
{
    uint64_t deflate_bytes = total_bytes - GZIP_MIN_BYTES + 1; /* caller ensured total >= minimum */
    return isize <= max_output && (uint64_t)isize <= deflate_bytes * DEFLATE_MAX_RATIO;
}

/* Header, deflate data into s->out, trailer, and nothing after it.  The checks after the stream
 * go from the most to the least fundamental: a stream that ends early says "truncated" (from
 * the decoder), bytes after the member, then the size (the data did not fit the buffer sized from
 * ISIZE, or ISIZE disagrees), then the CRC of the stored data. */
static int gunzip_member(inflater *s, uint64_t total_bytes, size_t max_output)
{
    int rc;
    if ((rc = read_gzip_header(s)) || (rc = tg_inflate_blocks(s)))
        return rc;
    tg_inflate_align_to_byte(s);
    uint8_t trailer[8];
    for (int i = 0; i < 8; i++)
        if ((rc = tg_inflate_read_byte(s, &trailer[i])))
            return rc;
    uint32_t stored_crc = le32(trailer), stored_isize = le32(trailer + 4);

    uint64_t after = tg_inflate_input_position(s);
    if (after < total_bytes) {
        uint8_t b0 = 0, b1 = 0;
        if (total_bytes - after >= 2 && tg_inflate_read_byte(s, &b0) == TG_OK &&
            tg_inflate_read_byte(s, &b1) == TG_OK && b0 == 0x1F && b1 == 0x8B)
            return tg_inflate_fail(s, TG_ERR_FORMAT,
                                   "more than one gzip member (concatenated .gz files are not supported)");
        return tg_inflate_fail(s, TG_ERR_FORMAT, "%llu trailing bytes after the gzip stream",
                               (unsigned long long)(total_bytes - after));
    }
    if (s->out_len > max_output)
        return tg_inflate_fail(s, TG_ERR_FORMAT, "decompressed size %zu bytes is over the limit of %zu bytes",
                               s->out_len, max_output);
    if (s->overflowed && s->head_limited && stored_isize == (uint32_t)s->out_len)
        return tg_inflate_fail(s, TG_ERR_FORMAT,
                               "%zu trailing bytes after the data: its header announces %zu bytes, the stream has %zu",
                               s->out_len - s->target, s->target, s->out_len);
    if (s->overflowed || stored_isize != (uint32_t)s->out_len || s->out_len != s->target)
        return tg_inflate_fail(s, TG_ERR_FORMAT, "ISIZE mismatch: the trailer says %lu bytes but the data has %zu",
                               (unsigned long)stored_isize, s->out_len);
    uint32_t crc = tg_crc32(0, s->out, s->out_len);
    if (crc != stored_crc)
        return tg_inflate_fail(s, TG_ERR_FORMAT, "gzip CRC-32 mismatch (trailer 0x%08lx, data 0x%08lx)",
                               (unsigned long)stored_crc, (unsigned long)crc);
    return TG_OK;
}

/* Shared by the memory and file entry points: src is positioned at the start of the member and
 * `isize` was read from the input's last 4 bytes.  An implausible ISIZE gets a zero-byte buffer:
 * the stream is then decoded in counting mode only, to report what is actually wrong. */
static int gunzip_with_source(inflater *s, uint32_t isize, uint64_t total_bytes, size_t max_output,
                              uint8_t **out, size_t *out_len)
{
    s->target = announced_size_plausible(isize, total_bytes, max_output) ? isize : 0;
    s->out_cap = s->target < INITIAL_OUTPUT_BYTES ? s->target : INITIAL_OUTPUT_BYTES;
    s->out = malloc(s->out_cap ? s->out_cap : 1);
    if (!s->out)
        return tg_inflate_fail(s, TG_ERR_NOMEM, "cannot allocate %zu bytes for the decompressed data", s->out_cap);
    int rc = gunzip_member(s, total_bytes, max_output);
    if (rc) {
        free(s->out);
        return rc;
    }
    *out = s->out;
    *out_len = s->out_len;
    return TG_OK;
}


/* ------------------------------------------------------------------------------------------- */
/* Entry points. */

int tg_gunzip_mem(const uint8_t *in, size_t in_len, const char *name, size_t max_output,
                  uint8_t **out, size_t *out_len, tg_error *err)
{
    *out = NULL;
    *out_len = 0;
    const char *label = name ? name : "gunzip";
    if (!in || in_len < 2 || in[0] != 0x1F || in[1] != 0x8B)
        return tg_file_error(err, TG_ERR_FORMAT, label, "not a gzip file");
    if (in_len < GZIP_MIN_BYTES)
        return tg_file_error(err, TG_ERR_FORMAT, label, "truncated gzip stream");
    inflater *s = malloc(sizeof *s);
    if (!s)
        return tg_file_error(err, TG_ERR_NOMEM, label, "out of memory");
    tg_inflater_init(s, name, true, err);
    s->src.next = in;
    s->src.avail = in_len;
    int rc = gunzip_with_source(s, le32(in + in_len - 4), in_len, max_output, out, out_len);
    free(s);
    return rc;
}

int tg_gunzip_file_checked(FILE *f, const char *name, size_t max_output, size_t head_bytes, tg_gunzip_head_fn head_fn,
                           void *head_ctx, uint8_t **out, size_t *out_len, tg_error *err)
{
    *out = NULL;
    *out_len = 0;
    const char *label = name ? name : "gunzip";
    if (fseeko(f, 0, SEEK_END) != 0)
        return tg_file_error(err, TG_ERR_IO, label, "cannot seek: %s", strerror(errno));
    off_t size = ftello(f);
    if (size < 0)
        return tg_file_error(err, TG_ERR_IO, label, "cannot tell the file size: %s", strerror(errno));

    /* The magic first (so a non-gzip file is called that), then ISIZE from the last 4 bytes. */
    uint8_t head[2] = { 0, 0 }, tail[4];
    rewind(f);
    size_t got = fread(head, 1, 2, f);
    if (ferror(f))
        return tg_file_error(err, TG_ERR_IO, label, "read error: %s", strerror(errno));
    if (got < 2 || head[0] != 0x1F || head[1] != 0x8B)
        return tg_file_error(err, TG_ERR_FORMAT, label, "not a gzip file");
    if (size < GZIP_MIN_BYTES)
        return tg_file_error(err, TG_ERR_FORMAT, label, "truncated gzip stream");
    if (fseeko(f, size - 4, SEEK_SET) != 0 || fread(tail, 1, 4, f) != 4)
        return tg_file_error(err, TG_ERR_IO, label, "cannot read the gzip trailer: %s",
                            ferror(f) ? strerror(errno) : "file shrank");
    rewind(f);

    inflater *s = malloc(sizeof *s);
    uint8_t *chunk = malloc(INPUT_CHUNK_BYTES);
    int rc;
    if (!s || !chunk) {
        rc = tg_file_error(err, TG_ERR_NOMEM, label, "out of memory");
    } else {
        tg_inflater_init(s, name, true, err);
        s->head_fn = head_fn;
        s->head_ctx = head_ctx;
        s->head_bytes = head_bytes;
        s->src.file = f;
        s->src.chunk = chunk;
        rc = gunzip_with_source(s, le32(tail), (uint64_t)size, max_output, out, out_len);
    }
    free(chunk);
    free(s);
    return rc;
}
