/* nn/io/checkpoint_read.c — reading and validating checkpoint files (format: docs/checkpoint.md).
 *
 * The whole file is read into a buffer (never following a FIFO or a directory, and noticing a
 * file that changes meanwhile), then walked with a cursor that checks every length against the
 * bytes left before it reads.  The walk runs twice: once for the structure (to find the CRC),
 * then, after the CRC has vouched for the bytes, for the content, filling a new checkpoint
 * through the same text rules the setters use (checkpoint_internal.h).  Every defect is a
 * message saying what is wrong and where; a file is accepted whole or not at all. */
#include "checkpoint.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic_file.h"
#include "checkpoint_internal.h"
#include "crc32.h"

/* Reads the whole regular file at path into *out (malloc'ed, *len bytes > 0). */
static int read_whole_file(const char *path, uint64_t max_bytes, unsigned char **out, size_t *len, tg_error *err)
{
    int fd, open_errno;
    uint64_t file_size = 0;
    int rc = tg_open_regular(path, "a checkpoint file", &fd, &file_size, &open_errno, err);
    if (rc)
        return rc;
    unsigned char *buf = NULL;
    if (file_size > max_bytes || file_size > SIZE_MAX) {
        rc = tg_file_error(err, TG_ERR_FORMAT, path, "file is %llu bytes, over the %llu-byte limit for checkpoints",
                           (unsigned long long)file_size, (unsigned long long)max_bytes);
    } else if (!(buf = malloc((size_t)file_size))) {
        rc = tg_file_error(err, TG_ERR_NOMEM, path, "cannot allocate %llu bytes to read it", (unsigned long long)file_size);
    }
    size_t size = rc == TG_OK ? (size_t)file_size : 0, got = 0;
    while (rc == TG_OK && got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            rc = tg_file_error(err, TG_ERR_IO, path, "read failed: %s", strerror(errno));
        else if (r == 0)
            rc = tg_file_error(err, TG_ERR_IO, path, "file shrank while being read (%zu of %zu bytes)", got, size);
        else
            got += (size_t)r;
    }
    if (rc == TG_OK) { /* the size came from fstat: make sure nothing was appended meanwhile */
        unsigned char extra;
        ssize_t r;
        do
            r = read(fd, &extra, 1);
        while (r < 0 && errno == EINTR);
        if (r != 0)
            rc = tg_file_error(err, TG_ERR_IO, path, "file changed while being read");
    }
    close(fd);
    if (rc != TG_OK) {
        free(buf);
        return rc;
    }
    *out = buf;
    *len = size;
    return TG_OK;
}

/* A position in the file's bytes.  Every read goes through cursor_need first, which compares
 * against the bytes remaining (len - pos, never pos + n, so nothing can overflow). */
typedef struct cursor {
    const unsigned char *buf;
    size_t len, pos;
    const char *label; /* the file, for messages */
    tg_error *err;
} cursor;

static int format_error(cursor *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sets "LABEL: <message>" as a TG_ERR_FORMAT error. */
static int format_error(cursor *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int code = tg_error_vset(c->err, TG_ERR_FORMAT, c->label, fmt, ap);
    va_end(ap);
    return code;
}

static size_t cursor_remaining(const cursor *c) { return c->len - c->pos; }

/* TG_OK when n more bytes exist at the cursor, else a "truncated" error naming the field. */
static int cursor_need(cursor *c, uint64_t n, const char *what)
{
    if ((uint64_t)cursor_remaining(c) >= n)
        return TG_OK;
    return format_error(c, "truncated: %s at offset %zu needs %llu bytes, only %zu remain", what, c->pos,
                        (unsigned long long)n, cursor_remaining(c));
}

static uint32_t load_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Callers have checked cursor_need for these. */
static uint32_t cursor_u32(cursor *c)
{
    uint32_t v = load_le32(c->buf + c->pos);
    c->pos += 4;
    return v;
}

static uint16_t cursor_u16(cursor *c)
{
    uint16_t v = (uint16_t)(c->buf[c->pos] | c->buf[c->pos + 1] << 8);
    c->pos += 2;
    return v;
}

/* The file is walked twice by the same code: first with ck == NULL, checking only the structure
 * (lengths, ndim, dims) to find where the CRC is; then, once the CRC has vouched for the bytes,
 * with ck != NULL, also checking the content (text, names, duplicates) and filling ck. */

static int walk_header(cursor *c, uint32_t *meta_len)
{
    int rc;
    if ((rc = cursor_need(c, 4, "the magic")))
        return rc;
    if (memcmp(c->buf, TG_CKPT_MAGIC, 4) != 0)
        return format_error(c, "bad magic %02x %02x %02x %02x (expected \"TGCK\"): not a tapegrad checkpoint",
                            c->buf[0], c->buf[1], c->buf[2], c->buf[3]);
    c->pos += 4;
    if ((rc = cursor_need(c, 4, "the version")))
        return rc;
    uint32_t version = cursor_u32(c);
    if (version != TG_CKPT_VERSION)
        return format_error(c, "unsupported version %u (this reader knows version %u)", version, TG_CKPT_VERSION);
    if ((rc = cursor_need(c, 4, "the metadata length")))
        return rc;
    *meta_len = cursor_u32(c);
    if (*meta_len > cursor_remaining(c))
        return format_error(c, "metadata length %u at offset 8 runs past the end of the file (%zu bytes remain)",
                            *meta_len, cursor_remaining(c));
    return TG_OK;
}

/* The metadata block [c->pos, c->pos + meta_len): "key=value\n" lines.  Content pass only. */
static int parse_metadata(cursor *c, uint32_t meta_len, tg_checkpoint *ck)
{
    const char *block = (const char *)c->buf + c->pos;
    size_t at = 0, line = 1;
    while (at < meta_len) {
        const char *text = block + at;
        size_t left = meta_len - at;
        const char *newline = memchr(text, '\n', left);
        if (!newline)
            return format_error(c, "metadata line %zu (\"%s\") does not end with a newline", line,
                                tg_ckpt_quoted(text, left).s);
        size_t line_len = (size_t)(newline - text);
        const char *eq = memchr(text, '=', line_len);
        if (!eq)
            return format_error(c, "metadata line %zu (\"%s\") is not key=value: no '='", line,
                                tg_ckpt_quoted(text, line_len).s);
        size_t key_len = (size_t)(eq - text), value_len = line_len - key_len - 1;
        const char *bad = tg_ckpt_key_problem(text, key_len);
        if (bad)
            return format_error(c, "metadata line %zu (\"%s\"): the key %s", line, tg_ckpt_quoted(text, line_len).s, bad);
        if ((bad = tg_ckpt_value_problem(eq + 1, value_len)))
            return format_error(c, "metadata line %zu (\"%s\"): the value %s", line, tg_ckpt_quoted(text, line_len).s, bad);
        if (tg_ckpt_index_lookup(&ck->meta_index, text, key_len) >= 0) /* which one would count? refuse */
            return format_error(c, "metadata line %zu: duplicate key \"%s\"", line, tg_ckpt_quoted(text, key_len).s);
        if (!tg_ckpt_append_meta(ck, text, key_len, eq + 1, value_len))
            return tg_error_set(c->err, TG_ERR_NOMEM, "%s: out of memory reading the metadata", c->label);
        at += line_len + 1;
        line++;
    }
    return TG_OK;
}

/* The largest element count whose byte size (x4) fits in a size_t. */
#define MAX_ELEMENTS ((uint64_t)(SIZE_MAX / sizeof(float)))

/* One tensor record.  Structure always; with ck, also the name's content and the values. */
static int walk_tensor(cursor *c, uint32_t index, tg_checkpoint *ck)
{
    char what[128];
    int rc;
    snprintf(what, sizeof what, "the name length of tensor %u", index);
    if ((rc = cursor_need(c, 2, what)))
        return rc;
    size_t name_len = cursor_u16(c);
    if (name_len < 1 || name_len > TG_CKPT_NAME_MAX)
        return format_error(c, "tensor %u: name length %zu at offset %zu (must be 1..%d)", index, name_len,
                            c->pos - 2, TG_CKPT_NAME_MAX);
    snprintf(what, sizeof what, "the name of tensor %u", index);
    if ((rc = cursor_need(c, name_len, what)))
        return rc;
    const char *name = (const char *)c->buf + c->pos;
    c->pos += name_len;

    snprintf(what, sizeof what, "the ndim of tensor %u", index);
    if ((rc = cursor_need(c, 4, what)))
        return rc;
    uint32_t ndim = cursor_u32(c);
    if (ndim < 1 || ndim > TG_MAX_DIMS)
        return format_error(c, "tensor %u (\"%s\"): ndim %u (must be 1..%d)", index, tg_ckpt_quoted(name, name_len).s,
                            ndim, TG_MAX_DIMS);
    snprintf(what, sizeof what, "the dims of tensor %u", index);
    if ((rc = cursor_need(c, 4 * (uint64_t)ndim, what)))
        return rc;
    size_t shape[TG_MAX_DIMS];
    for (uint32_t d = 0; d < ndim; d++)
        shape[d] = cursor_u32(c);
    char shape_text[64];
    tg_shape_str(shape_text, sizeof shape_text, (int)ndim, shape);
    uint64_t numel = 1;
    for (uint32_t d = 0; d < ndim; d++) {
        if (shape[d] == 0)
            return format_error(c, "tensor %u (\"%s\"): shape %s: dimension %u is 0 (must be >= 1)", index,
                                tg_ckpt_quoted(name, name_len).s, shape_text, d);
        if (shape[d] > MAX_ELEMENTS / numel) /* numel * shape[d] would pass the limit (or overflow) */
            return format_error(c, "tensor %u (\"%s\"): shape %s: the product of the dims overflows", index,
                                tg_ckpt_quoted(name, name_len).s, shape_text);
        numel *= shape[d];
    }
    snprintf(what, sizeof what, "the data of tensor %u (shape %s)", index, shape_text);
    if ((rc = cursor_need(c, 4 * numel, what))) /* 4 * numel <= SIZE_MAX by MAX_ELEMENTS */
        return rc;
    const unsigned char *data = c->buf + c->pos;
    c->pos += 4 * (size_t)numel;
    if (!ck)
        return TG_OK;

    const char *bad = tg_ckpt_name_problem(name, name_len);
    if (bad)
        return format_error(c, "tensor %u: name \"%s\" %s", index, tg_ckpt_quoted(name, name_len).s, bad);
    if (tg_ckpt_index_lookup(&ck->tensor_index, name, name_len) >= 0)
        return format_error(c, "duplicate tensor name \"%s\" (tensor %u)", tg_ckpt_quoted(name, name_len).s, index);
    tg_tensor t;
    if (tg_tensor_create(&t, (int)ndim, shape, NULL) != TG_OK)
        return tg_error_set(c->err, TG_ERR_NOMEM, "%s: cannot allocate tensor \"%s\" of shape %s", c->label,
                            tg_ckpt_quoted(name, name_len).s, shape_text);
    for (size_t i = 0; i < (size_t)numel; i++) {
        uint32_t bits = load_le32(data + 4 * i);
        memcpy(&t.data[i], &bits, 4); /* the bit pattern, not a conversion: NaN payloads survive */
    }
    if (!tg_ckpt_append_tensor(ck, name, name_len, &t)) {
        tg_tensor_free(&t);
        return tg_error_set(c->err, TG_ERR_NOMEM, "%s: out of memory reading tensor \"%s\"", c->label,
                            tg_ckpt_quoted(name, name_len).s);
    }
    return TG_OK;
}

/* Everything before the CRC; leaves the cursor at the CRC. */
static int walk_file(cursor *c, tg_checkpoint *ck)
{
    uint32_t meta_len = 0;
    int rc = walk_header(c, &meta_len);
    if (rc)
        return rc;
    if (ck && (rc = parse_metadata(c, meta_len, ck)))
        return rc;
    c->pos += meta_len;
    if ((rc = cursor_need(c, 4, "the tensor count")))
        return rc;
    uint32_t count = cursor_u32(c);
    /* Smallest tensor record: name_len 2 + name 1 + ndim 4 + one dim 4 + one float 4. */
    uint64_t at_least = 15 * (uint64_t)count + 4;
    if (at_least > cursor_remaining(c) || count > INT_MAX)
        return format_error(c, "tensor count %u at offset %zu is impossible: it needs at least %llu more bytes, "
                               "only %zu remain", count, c->pos - 4, (unsigned long long)at_least, cursor_remaining(c));
    for (uint32_t i = 0; i < count; i++)
        if ((rc = walk_tensor(c, i, ck)))
            return rc;
    return TG_OK;
}

/* The CRC at the cursor covers every byte before it, and nothing follows it. */
static int check_crc_and_end(cursor *c)
{
    int rc = cursor_need(c, 4, "the CRC");
    if (rc)
        return rc;
    size_t crc_at = c->pos;
    uint32_t stored = cursor_u32(c);
    uint32_t computed = tg_crc32(0, c->buf, crc_at);
    if (stored != computed)
        return format_error(c, "CRC mismatch: stored 0x%08x at offset %zu, computed 0x%08x: the file is damaged",
                            stored, crc_at, computed);
    if (cursor_remaining(c) > 0)
        return format_error(c, "%zu trailing bytes after the CRC at offset %zu", cursor_remaining(c), crc_at);
    return TG_OK;
}

tg_checkpoint *tg_ckpt_parse(const void *bytes, size_t len, const char *label, tg_error *err)
{
    cursor c = {bytes, len, 0, label ? label : "checkpoint", err};
    if (!bytes && len > 0) {
        tg_file_error(err, TG_ERR_ARG, c.label, "NULL buffer");
        return NULL;
    }
    if (len == 0) {
        tg_file_error(err, TG_ERR_FORMAT, c.label, "empty file, not a checkpoint");
        return NULL;
    }
    if (walk_file(&c, NULL) || check_crc_and_end(&c))
        return NULL;
    tg_checkpoint *ck = tg_ckpt_new(err);
    if (!ck)
        return NULL;
    c.pos = 0;
    if (walk_file(&c, ck)) {
        tg_ckpt_free(ck);
        return NULL;
    }
    return ck;
}

tg_checkpoint *tg_ckpt_read_limited(const char *path, uint64_t max_bytes, tg_error *err)
{
    if (!path) {
        tg_error_set(err, TG_ERR_ARG, "ckpt_read: NULL path");
        return NULL;
    }
    unsigned char *buf = NULL;
    size_t len = 0;
    if (read_whole_file(path, max_bytes, &buf, &len, err) != TG_OK)
        return NULL;
    tg_checkpoint *ck = tg_ckpt_parse(buf, len, path, err);
    free(buf);
    return ck;
}

tg_checkpoint *tg_ckpt_read(const char *path, tg_error *err)
{
    return tg_ckpt_read_limited(path, TG_CKPT_MAX_FILE_BYTES, err);
}

int tg_ckpt_read_with(const char *path, tg_ckpt_use_fn use, void *ctx, tg_error *err)
{
    tg_checkpoint *ck = tg_ckpt_read(path, err);
    if (!ck)
        return err ? err->code : TG_ERR_IO;
    int rc = use(ck, path, ctx, err);
    tg_ckpt_free(ck);
    return rc;
}
