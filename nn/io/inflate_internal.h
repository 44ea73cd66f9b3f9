/* nn/io/inflate_internal.h — internal (not installed): the decoder state that the DEFLATE decoder
 * (inflate.c) and the gzip member wrapper (gzip.c) share.
 *
 * inflate.c owns the bit stream: the byte source, the bit reader, Huffman codes, the three block
 * kinds and the output buffer's growth.  gzip.c owns what RFC 1952 wraps around a DEFLATE stream:
 * the header, the trailer (CRC-32 and ISIZE), the checks after the stream, and the entry points
 * that size the output from ISIZE.  The output policy (reserve_output in inflate.c) knows about
 * gzip mode, because it runs once per decoded symbol and must stay next to the decoder. */
#ifndef TG_INFLATE_INTERNAL_H
#define TG_INFLATE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "inflate.h"

#define INPUT_CHUNK_BYTES 65536
#define MAX_CODE_BITS 15
#define FAST_BITS 9 /* codes up to this length decode with one table lookup */
#define LITLEN_SYMBOLS 288 /* 0..255 literals, 256 end of block, 257..285 lengths, 286/287 unused */

/* Byte source: the whole input in memory, or a FILE read INPUT_CHUNK_BYTES at a time. */
typedef struct byte_source {
    const uint8_t *next; /* unread bytes of the current chunk (or of the memory buffer) */
    size_t avail;        /* how many of them */
    FILE *file;          /* NULL in memory mode: when avail hits 0 the input is over */
    uint8_t *chunk;      /* file mode: the chunk buffer */
    int read_errno;      /* nonzero after a read error (distinguishes it from end of file) */
    uint64_t taken;      /* bytes handed to the reader so far */
} byte_source;

typedef struct fast_entry {
    uint16_t symbol;
    uint8_t length; /* code length in bits; 0: the code is longer than FAST_BITS (or invalid) */
} fast_entry;

/* A canonical Huffman code (RFC 1951 3.2.2) as counts per length plus symbols in code order. */
typedef struct huffman_code {
    uint16_t count[MAX_CODE_BITS + 1]; /* count[len]: number of codes of that length; [0] unused */
    uint16_t symbol[LITLEN_SYMBOLS];   /* symbols sorted by (code length, symbol value) */
    fast_entry fast[1u << FAST_BITS];  /* indexed by the next FAST_BITS input bits */
} huffman_code;

typedef struct inflater {
    byte_source src;
    uint64_t bitbuf;   /* pending input bits, next bit lowest; bits at and above bitcount are 0 */
    unsigned bitcount;
    uint8_t *out;      /* output buffer, also the window that distances point back into */
    size_t out_len;    /* bytes produced so far (also counts bytes not stored, see overflowed) */
    size_t out_cap;
    size_t target;     /* gzip mode: the size out may grow to (the plausible ISIZE); out_cap grows
                          toward it as data arrives, so memory follows the data, not the claim */
    tg_gunzip_head_fn head_fn; /* gzip mode: called once with the first head_bytes of output */
    void *head_ctx;
    size_t head_bytes;
    bool head_limited; /* target lowered to what the data's header announces */
    bool gzip;         /* gzip mode: output past out_cap is counted, not an immediate error */
    bool overflowed;   /* gzip mode: the data is longer than out_cap; nothing more is stored */
    const char *name;  /* message prefix */
    tg_error *err;
    huffman_code litlen, dist, codelen;
} inflater;

/* Resets s for a new stream; `name` (NULL: "gunzip" or "inflate") prefixes every message. */
void tg_inflater_init(inflater *s, const char *name, bool gzip, tg_error *err);
/* Sets "NAME: <message>" with the given code in s->err and returns the code. */
int tg_inflate_fail(inflater *s, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Decodes blocks until the one marked final, into s->out. */
int tg_inflate_blocks(inflater *s);
/* Skips to the next byte boundary (stored blocks and the gzip trailer start there). */
void tg_inflate_align_to_byte(inflater *s);
/* Reads one byte at a byte boundary: first from the bit buffer, then from the source. */
int tg_inflate_read_byte(inflater *s, uint8_t *byte);
/* Position of the next unread byte in the input (valid at a byte boundary). */
uint64_t tg_inflate_input_position(const inflater *s);

#endif
