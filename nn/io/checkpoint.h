/* nn/io/checkpoint.h — checkpoint files: metadata + named float32 tensors (format: docs/checkpoint.md).
 *
 * A tg_checkpoint is an in-memory checkpoint: ordered metadata (key=value text pairs, in the order
 * they were first set) and named float32 tensors (in the order they were added).  It owns copies of
 * everything put into it.  On disk it is the version-1 "TGCK" format:
 *
 *     "TGCK" | u32 version=1 | u32 meta_len | meta ("key=value\n" lines) | u32 count |
 *     count x { u16 name_len (1..255) | name | u32 ndim (1..4) | u32 dims[ndim] (each >= 1) |
 *               float32 data[product of dims], row-major } | u32 CRC-32 of every byte before it
 *
 * all integers and floats little-endian whatever the host; floats are stored as their IEEE 754 bit
 * pattern, so NaN payloads, -0.0 and denormals survive a round trip bit for bit.  Names, keys and
 * values must be valid UTF-8 (the format says the text is UTF-8; both the setters and the reader check).
 *
 * Typical save / load of a model:
 *     tg_checkpoint *ck = tg_ckpt_new(err);
 *     tg_ckpt_set_meta(ck, "model", "cae", err);   tg_ckpt_set_meta_fmt(ck, "hidden", err, "%d", 64);
 *     tg_ckpt_add_params(ck, params, n, err);
 *     tg_ckpt_write(ck, "model.tgck", err);         tg_ckpt_free(ck);
 *   later:
 *     tg_checkpoint *ck = tg_ckpt_read("model.tgck", err);        // NULL + message on any defect
 *     tg_ckpt_load_params(ck, "model.tgck", params, n, err);     // all-or-nothing
 *     tg_ckpt_free(ck);
 *
 * Every fallible function returns TG_OK / a tg_error_code (or NULL) and fills `err` (may be NULL).
 * A failed call changes nothing: not the checkpoint, not the caller's tensors, not the target file.
 * A checkpoint object is not thread-safe; distinct objects may be used from distinct threads. */
#ifndef TG_CHECKPOINT_H
#define TG_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "autograd/param.h"
#include "tensor/error.h"
#include "tensor/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TG_CKPT_MAGIC "TGCK"
#define TG_CKPT_VERSION 1u
#define TG_CKPT_NAME_MAX 255 /* bytes in a tensor name (the u16 name_len field allows 1..255) */
/* tg_ckpt_read refuses larger files: the whole file is read into memory before parsing. */
#define TG_CKPT_MAX_FILE_BYTES ((uint64_t)1 << 32)

typedef struct tg_checkpoint tg_checkpoint; /* opaque */

/* ---- building and querying --------------------------------------------------------------- */

/* A new empty checkpoint (no metadata, no tensors); NULL + TG_ERR_NOMEM on failure. */
tg_checkpoint *tg_ckpt_new(tg_error *err);
/* Releases the checkpoint and every copy it holds. Safe on NULL. */
void tg_ckpt_free(tg_checkpoint *ck);

/* Sets key=value.  A new key goes to the end of the metadata order; an existing key keeps its
 * place and gets the new value.  Rejected (TG_ERR_ARG): empty key, '=' or '\n' in the key,
 * '\n' in the value, text that is not valid UTF-8, a metadata block that would exceed 4 GiB. */
int tg_ckpt_set_meta(tg_checkpoint *ck, const char *key, const char *value, tg_error *err);
/* Same, with a printf-style value: tg_ckpt_set_meta_fmt(ck, "lambda", err, "%.9g", lambda). */
int tg_ckpt_set_meta_fmt(tg_checkpoint *ck, const char *key, tg_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The value stored under key, or NULL when absent.  Valid until the key is set again or the
 * checkpoint is freed. */
const char *tg_ckpt_get_meta(const tg_checkpoint *ck, const char *key);
/* Typed metadata, with messages naming `path` (used only in messages) and the key.  An absent
 * key is TG_OK with *out unchanged unless `required` ("PATH: metadata key 'K' is missing").
 * Whole numbers are decimal digits only (no sign, exponent or hex) in lo..hi; reals are finite
 * or +inf per strtod, in [lo, hi].  Anything else: TG_ERR_FORMAT "PATH: metadata K=V is not ...". */
int tg_ckpt_meta_uint(const tg_checkpoint *ck, const char *path, const char *key, bool required, uint64_t lo,
                      uint64_t hi, uint64_t *out, tg_error *err);
int tg_ckpt_meta_real(const tg_checkpoint *ck, const char *path, const char *key, bool required, double lo,
                      double hi, double *out, tg_error *err);
/* Metadata in order: count, then key/value of entry i (0 <= i < count; NULL outside). */
int tg_ckpt_meta_count(const tg_checkpoint *ck);
const char *tg_ckpt_meta_key(const tg_checkpoint *ck, int i);
const char *tg_ckpt_meta_value(const tg_checkpoint *ck, int i);

/* Adds a copy of t (shape and values) under name, after the tensors already present.
 * Rejected: a duplicate or empty name, a name over 255 bytes or not valid UTF-8 (TG_ERR_ARG);
 * ndim outside 1..4, a zero dimension, a dimension over 2^32-1 (TG_ERR_SHAPE). */
int tg_ckpt_add(tg_checkpoint *ck, const char *name, const tg_tensor *t, tg_error *err);
/* The tensor stored under name, or NULL.  Owned by the checkpoint; do not free or resize it. */
const tg_tensor *tg_ckpt_find(const tg_checkpoint *ck, const char *name);
/* Tensors in order: count, then name / tensor of entry i (0 <= i < count; NULL outside). */
int tg_ckpt_count(const tg_checkpoint *ck);
const char *tg_ckpt_name(const tg_checkpoint *ck, int i);
const tg_tensor *tg_ckpt_tensor(const tg_checkpoint *ck, int i);

/* ---- files --------------------------------------------------------------------------------- */

/* Writes ck to path atomically: a new temporary file "PATH.tmp-PID-N" in the same directory
 * (created exclusively, so a stale one is never reused), written, fsync'ed, closed, then renamed
 * over path; the directory is then fsync'ed (best effort: the new file is already in place, so a
 * failure there is not reported).  On any failure the temporary file is removed, path is
 * untouched and the message names the file and the system error. */
int tg_ckpt_write(const tg_checkpoint *ck, const char *path, tg_error *err);

/* Reads and checks a checkpoint file; a new checkpoint, or NULL + a message "PATH: problem" on
 * any defect: not a regular file (directory, FIFO: opened non-blocking, never hangs), unreadable,
 * empty, over TG_CKPT_MAX_FILE_BYTES, or any violation of the format (see tg_ckpt_parse). */
tg_checkpoint *tg_ckpt_read(const char *path, tg_error *err);
/* Reads the checkpoint at path and hands it to use(ck, path, ctx, err) (a model's loader), then
 * frees it; returns use's result, or the read's error. */
typedef int (*tg_ckpt_use_fn)(const tg_checkpoint *ck, const char *path, void *ctx, tg_error *err);
int tg_ckpt_read_with(const char *path, tg_ckpt_use_fn use, void *ctx, tg_error *err);
/* tg_ckpt_read with another size limit in bytes (files larger than max_bytes are rejected). */
tg_checkpoint *tg_ckpt_read_limited(const char *path, uint64_t max_bytes, tg_error *err);

/* Parses a checkpoint held in memory (the whole file: len bytes at bytes); `label` names it in
 * messages (e.g. the path; NULL means "checkpoint").  Never reads outside [bytes, bytes+len):
 * this is the entry point for fuzzing.  Checks, in this order, each with its own message:
 *   structure: magic "TGCK", version 1, meta_len inside the file, tensor count possible for the
 *     bytes left, per tensor name_len 1..255 and inside the file, ndim 1..4, dims >= 1, a dims
 *     product that does not overflow, data inside the file; then 4 CRC bytes present;
 *   integrity: the CRC-32 of every byte before it; no trailing bytes after the CRC;
 *   content: metadata is "key=value\n" lines (each newline-terminated, non-empty key, no NUL,
 *     UTF-8, no duplicate keys); names without NUL, UTF-8, no duplicate names.
 * (Structure first, because only the structure says where the CRC is; content after the CRC, so
 * a damaged byte is reported as damage rather than as, say, a strange name.) */
tg_checkpoint *tg_ckpt_parse(const void *bytes, size_t len, const char *label, tg_error *err);

/* ---- parameters ----------------------------------------------------------------------------- */

/* Adds params[i]->value under params[i]->name for every i, all or nothing: on failure (for
 * example a duplicate name) the checkpoint is left as it was. */
int tg_ckpt_add_params(tg_checkpoint *ck, tg_param *const *params, int n, tg_error *err);

/* Checks that every element of tensor `name` (from the checkpoint at path) is finite, and with
 * non_negative that none is below 0 (Adam's second moments): "PATH: tensor NAME element K is
 * nan".  A CRC proves only that the file is what its writer wrote, not that the numbers make a
 * model; tg_ckpt_load_params runs it on every parameter. */
int tg_ckpt_check_values(const tg_tensor *t, const char *path, const char *name, bool non_negative, tg_error *err);

/* Copies checkpoint tensors into params[i]->value by name, all or nothing: first checks that
 * every param's name is present with exactly the param's shape and finite values
 * (tg_ckpt_check_values), only then copies.  Messages (path is used only in them):
 *     "PATH: missing tensor dec.bias",
 *     "PATH: tensor enc.weight has shape [784,32], expected [784,64]"   (file shape, param shape)
 * Tensors in the checkpoint that no param asks for are ignored.  Gradients are not touched. */
int tg_ckpt_load_params(const tg_checkpoint *ck, const char *path, tg_param *const *params, int n,
                        tg_error *err);

#ifdef __cplusplus
}
#endif

#endif
