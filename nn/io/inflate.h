/* nn/io/inflate.h — a small, strict DEFLATE decoder (RFC 1951) and gzip reader (RFC 1952).
 *
 * Written for the data loader (IDX files shipped as .gz) so the project needs no zlib.  Decodes
 * stored, fixed-Huffman and dynamic-Huffman blocks into ONE caller-sized output buffer, which
 * is also the sliding window (back-references read the output itself).  The decoder is meant to
 * meet hostile input: every length, distance, code table and repeat count is checked before it is
 * used, every loop consumes input or is bounded by a count, and any malformed stream is an error
 * with a message; it never reads or writes out of bounds and never loops forever.
 *
 * Not supported (rejected with a message): gzip files of more than one member (`cat a.gz b.gz`),
 * and output larger than the caller's cap.
 *
 *   tg_inflate_mem           raw DEFLATE from memory into a fixed buffer
 *   tg_gunzip_mem            a whole .gz image held in memory (handy for fuzzing)
 *   tg_gunzip_file_checked   a .gz FILE, streamed in chunks, its data's header checked early
 *
 * inflate.c is the DEFLATE decoder, gzip.c the gzip member around it (inflate_internal.h holds
 * the state they share).  Internal: not installed. */
#ifndef TG_INFLATE_H
#define TG_INFLATE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tensor/error.h"

/* Default cap on decompressed output against decompression bombs: 2 GiB. */
#define TG_GUNZIP_DEFAULT_MAX ((size_t)2 << 30)

/* Decodes the raw DEFLATE stream in[0..in_len) into out[0..out_cap).  On success *out_len is the
 * number of bytes produced and *in_used (may be NULL) the number of input bytes the stream took,
 * counting its last partial byte.  Output that would pass out_cap is an error (TG_ERR_FORMAT).
 * `name` (may be NULL) prefixes the error message, e.g. the file name. */
int tg_inflate_mem(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap,
                   size_t *out_len, size_t *in_used, const char *name, tg_error *err);

/* Decompresses a complete one-member gzip image in[0..in_len).  The output is malloc'ed; it
 * starts small and doubles as data is decoded, up to the size the trailer's ISIZE announces (an
 * ISIZE over max_output, or more than DEFLATE could possibly expand the input to, is not
 * believed: the stream is then only decoded to say what is wrong), so memory follows the data,
 * not the claim.  The CRC-32 and ISIZE are checked; bytes after the member are an error.  On
 * success *out (free() it) holds *out_len bytes; on failure *out is NULL. */
int tg_gunzip_mem(const uint8_t *in, size_t in_len, const char *name, size_t max_output,
                  uint8_t **out, size_t *out_len, tg_error *err);

/* Called once by tg_gunzip_file_checked with the first bytes of the decompressed data (n >=
 * head_bytes), before the output grows further: returns TG_OK and, in *announced, the whole
 * size those bytes announce (the IDX header's), or an error (with a message in err) that stops
 * the decoding at once.  No more than *announced bytes are then stored: a bomb whose header
 * announces 47 MB costs at most that, however long its stream. */
typedef int (*tg_gunzip_head_fn)(void *ctx, const uint8_t *head, size_t n, uint64_t *announced, tg_error *err);

/* As tg_gunzip_mem, for an open, seekable file read from its start in fixed-size chunks (the
 * compressed data is never held whole), with that check of the data's header (head_fn may be
 * NULL: no check).  It seeks to the end first to read ISIZE.  `name` is used in messages:
 * "NAME: truncated gzip stream". */
int tg_gunzip_file_checked(FILE *f, const char *name, size_t max_output, size_t head_bytes, tg_gunzip_head_fn head_fn,
                           void *head_ctx, uint8_t **out, size_t *out_len, tg_error *err);

#endif
