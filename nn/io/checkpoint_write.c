/* nn/io/checkpoint_write.c — the checkpoint file encoding (format: docs/checkpoint.md).
 *
 * A checkpoint goes out in the order of the format, as little-endian bytes through a buffered
 * sink that keeps the CRC-32 of everything it is handed, into an atomic file (temporary file,
 * fsync, rename: atomic_file.h), so a crash never leaves half a checkpoint at the path.  Kept
 * apart from the reader: the writer trusts the checkpoint it is given (the setters checked
 * every key, value, name and shape), the reader trusts nothing. */
#include "checkpoint.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "checkpoint_internal.h"
#include "crc32.h"


/* Bytes go to the file through a buffer; the CRC follows every byte handed to sink_put. */
#define SINK_BUFFER_BYTES (64 * 1024)

typedef struct byte_sink {
    tg_atomic_file *file;
    uint32_t crc;  /* CRC-32 of every byte passed to sink_put so far */
    int write_errno; /* the first write error, 0 while all is well; later writes are skipped */
    size_t used;
    unsigned char buf[SINK_BUFFER_BYTES];
} byte_sink;

static void sink_flush(byte_sink *s)
{
    if (s->used > 0 && s->write_errno == 0)
        s->write_errno = tg_atomic_write(s->file, s->buf, s->used);
    s->used = 0;
}

/* Buffers n bytes without touching the CRC (used for the CRC field itself). */
static void sink_put_raw(byte_sink *s, const void *bytes, size_t n)
{
    const unsigned char *p = bytes;
    while (n > 0) {
        if (s->used == sizeof s->buf)
            sink_flush(s);
        size_t room = sizeof s->buf - s->used;
        size_t take = n < room ? n : room;
        memcpy(s->buf + s->used, p, take);
        s->used += take;
        p += take;
        n -= take;
    }
}

static void sink_put(byte_sink *s, const void *bytes, size_t n)
{
    s->crc = tg_crc32(s->crc, bytes, n);
    sink_put_raw(s, bytes, n);
}

static void store_le16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)(v & 0xFF);
    p[1] = (unsigned char)(v >> 8);
}

static void store_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v & 0xFF);
    p[1] = (unsigned char)((v >> 8) & 0xFF);
    p[2] = (unsigned char)((v >> 16) & 0xFF);
    p[3] = (unsigned char)(v >> 24);
}

static void sink_put_u16(byte_sink *s, uint16_t v)
{
    unsigned char b[2];
    store_le16(b, v);
    sink_put(s, b, 2);
}

static void sink_put_u32(byte_sink *s, uint32_t v)
{
    unsigned char b[4];
    store_le32(b, v);
    sink_put(s, b, 4);
}

/* Floats go out as the little-endian bytes of their IEEE bit pattern (memcpy, never a float
 * conversion, so NaN payloads survive), in chunks to keep the per-byte overhead low. */
static void sink_put_floats(byte_sink *s, const float *data, size_t n)
{
    unsigned char chunk[4096];
    size_t per_chunk = sizeof chunk / 4;
    for (size_t start = 0; start < n; start += per_chunk) {
        size_t count = n - start < per_chunk ? n - start : per_chunk;
        for (size_t i = 0; i < count; i++) {
            uint32_t bits;
            memcpy(&bits, &data[start + i], 4);
            store_le32(chunk + 4 * i, bits);
        }
        sink_put(s, chunk, 4 * count);
    }
}

/* The size in bytes of ck's file (fits easily in 64 bits: every part is bounded). */
static uint64_t file_size_of(const tg_checkpoint *ck)
{
    uint64_t bytes = 4 + 4 + 4 + ck->meta_bytes + 4 + 4; /* magic, version, meta_len, meta, count, crc */
    for (int i = 0; i < ck->n_tensors; i++) {
        const tg_tensor *t = &ck->tensors[i].tensor;
        bytes += 2 + strlen(ck->tensors[i].name) + 4 + 4 * (uint64_t)t->ndim + 4 * (uint64_t)t->size;
    }
    return bytes;
}

/* The whole file, in the order of the format; returns the first write errno or 0. */
static int sink_put_checkpoint(byte_sink *s, const tg_checkpoint *ck)
{
    sink_put(s, TG_CKPT_MAGIC, 4);
    sink_put_u32(s, TG_CKPT_VERSION);
    sink_put_u32(s, (uint32_t)ck->meta_bytes); /* <= UINT32_MAX, kept so by tg_ckpt_set_meta */
    for (int i = 0; i < ck->n_meta; i++) {
        sink_put(s, ck->meta[i].key, strlen(ck->meta[i].key));
        sink_put(s, "=", 1);
        sink_put(s, ck->meta[i].value, strlen(ck->meta[i].value));
        sink_put(s, "\n", 1);
    }
    sink_put_u32(s, (uint32_t)ck->n_tensors);
    for (int i = 0; i < ck->n_tensors; i++) {
        const tensor_entry *e = &ck->tensors[i];
        size_t name_len = strlen(e->name); /* 1..255, checked by tg_ckpt_add */
        sink_put_u16(s, (uint16_t)name_len);
        sink_put(s, e->name, name_len);
        sink_put_u32(s, (uint32_t)e->tensor.ndim);
        for (int d = 0; d < e->tensor.ndim; d++)
            sink_put_u32(s, (uint32_t)e->tensor.shape[d]); /* <= UINT32_MAX, checked by tg_ckpt_add */
        sink_put_floats(s, e->tensor.data, e->tensor.size);
    }
    unsigned char crc[4];
    store_le32(crc, s->crc);
    sink_put_raw(s, crc, 4);
    sink_flush(s);
    return s->write_errno;
}

int tg_ckpt_write_stage(const tg_checkpoint *ck, const char *path, int stop_before_rename,
                        char *tmp_path_out, size_t tmp_path_cap, tg_error *err)
{
    if (!ck || !path || !*path)
        return tg_error_set(err, TG_ERR_ARG, "ckpt_write: NULL checkpoint or empty path");
    uint64_t size = file_size_of(ck);
    if (size > TG_CKPT_MAX_FILE_BYTES) /* never write a file that tg_ckpt_read refuses */
        return tg_file_error(err, TG_ERR_ARG, path, "checkpoint of %llu bytes exceeds the %llu-byte limit",
                            (unsigned long long)size, (unsigned long long)TG_CKPT_MAX_FILE_BYTES);
    byte_sink *sink = malloc(sizeof *sink);
    if (!sink)
        return tg_file_error(err, TG_ERR_NOMEM, path, "out of memory");
    tg_atomic_file file;
    int rc = tg_atomic_open(&file, path, err);
    if (rc != TG_OK) {
        free(sink);
        return rc;
    }
    if (tmp_path_out && tmp_path_cap > 0)
        snprintf(tmp_path_out, tmp_path_cap, "%s", file.tmp_path);
    sink->file = &file;
    sink->crc = 0;
    sink->write_errno = 0;
    sink->used = 0;
    int write_errno = sink_put_checkpoint(sink, ck);
    free(sink);
    /* stop_before_rename: the simulated crash; the complete temp file stays, path is untouched. */
    return tg_atomic_finish(&file, write_errno, !stop_before_rename, err);
}

int tg_ckpt_write(const tg_checkpoint *ck, const char *path, tg_error *err)
{
    return tg_ckpt_write_stage(ck, path, 0, NULL, 0, err);
}
