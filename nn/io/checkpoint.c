/* nn/io/checkpoint.c — the version-1 "TGCK" checkpoint format (spec/checkpoint.md; API in checkpoint.h).
 *
 * Layout of this file: the in-memory checkpoint (a name index, text rules, setters and getters),
 * then the writer (little-endian bytes through a buffered, CRC-tracking sink; temp file + rename),
 * then the reader (whole file into a buffer, then a bounds-checked walk over it), then parameters. */
#include "checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "crc32.h"

/* ================================ the in-memory checkpoint ================================== */

/* Open-addressing hash table from a name to the index of its entry.  Adding, finding and the
 * reader's duplicate check stay O(1) per name, so even a hostile file with millions of tiny
 * entries is checked in linear time (a scan per name would be quadratic). */
typedef struct name_slot {
    const char *name; /* owned by the entry; NULL marks an empty slot */
    size_t len;
    int entry;
} name_slot;

typedef struct name_index {
    name_slot *slots;
    size_t cap;  /* a power of two, or 0 before the first insert */
    size_t used; /* kept <= cap / 2 so probe sequences stay short */
} name_index;

typedef struct meta_entry {
    char *key;
    char *value;
} meta_entry;

typedef struct tensor_entry {
    char *name;
    tg_tensor tensor; /* owned copy */
} tensor_entry;

struct tg_checkpoint {
    meta_entry *meta; /* in the order keys were first set */
    int n_meta, cap_meta;
    name_index meta_index;
    uint64_t meta_bytes; /* sum over entries of len(key) + len(value) + 2: the file's meta_len */

    tensor_entry *tensors; /* in the order they were added */
    int n_tensors, cap_tensors;
    name_index tensor_index;
};

static size_t hash_name(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a, 64 bit */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211u;
    }
    return (size_t)(h ^ (h >> 32));
}

/* The slot holding name, or the empty slot where it would go.  Requires cap > 0. */
static name_slot *index_slot(const name_index *ix, const char *name, size_t len)
{
    size_t mask = ix->cap - 1;
    for (size_t i = hash_name(name, len) & mask;; i = (i + 1) & mask) {
        name_slot *s = &ix->slots[i];
        if (!s->name || (s->len == len && memcmp(s->name, name, len) == 0))
            return s;
    }
}

/* The entry index stored under name[0..len), or -1. */
static int index_lookup(const name_index *ix, const char *name, size_t len)
{
    if (ix->cap == 0)
        return -1;
    const name_slot *s = index_slot(ix, name, len);
    return s->name ? s->entry : -1;
}

static bool index_grow(name_index *ix)
{
    size_t new_cap = ix->cap ? ix->cap * 2 : 16;
    if (new_cap < ix->cap || new_cap > SIZE_MAX / sizeof(name_slot))
        return false;
    name_slot *slots = calloc(new_cap, sizeof *slots);
    if (!slots)
        return false;
    name_index grown = {slots, new_cap, ix->used};
    for (size_t i = 0; i < ix->cap; i++)
        if (ix->slots[i].name)
            *index_slot(&grown, ix->slots[i].name, ix->slots[i].len) = ix->slots[i];
    free(ix->slots);
    *ix = grown;
    return true;
}

/* Records name (NUL-terminated, len bytes, not yet present; the pointer must stay valid) -> entry.
 * Fails only when memory runs out. */
static bool index_insert(name_index *ix, const char *name, size_t len, int entry)
{
    if ((ix->used + 1) * 2 > ix->cap && !index_grow(ix))
        return false;
    *index_slot(ix, name, len) = (name_slot){name, len, entry};
    ix->used++;
    return true;
}

/* Forgets every name and records names[0..n) again, in the same table.  Never allocates (the
 * table already held at least n names), so a rollback cannot fail. */
static void index_rebuild_tensors(name_index *ix, const tensor_entry *entries, int n)
{
    if (ix->cap == 0)
        return;
    memset(ix->slots, 0, ix->cap * sizeof *ix->slots);
    ix->used = 0;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(entries[i].name);
        *index_slot(ix, entries[i].name, len) = (name_slot){entries[i].name, len, i};
        ix->used++;
    }
}

/* Makes room for one more element in a growing array of `elem`-byte items. */
static bool array_reserve_one(void **array, int *cap, int count, size_t elem)
{
    if (count < *cap)
        return true;
    if (count == INT_MAX)
        return false;
    int new_cap = *cap ? (*cap > INT_MAX / 2 ? INT_MAX : *cap * 2) : 8;
    if ((size_t)new_cap > SIZE_MAX / elem)
        return false;
    void *grown = realloc(*array, (size_t)new_cap * elem);
    if (!grown)
        return false;
    *array = grown;
    *cap = new_cap;
    return true;
}

static char *copy_text(const char *s, size_t len)
{
    char *copy = malloc(len + 1);
    if (copy) {
        memcpy(copy, s, len);
        copy[len] = '\0';
    }
    return copy;
}

/* ---- text rules, shared by the setters and the reader ---- */

/* True when s[0..n) is well-formed UTF-8: no stray continuation bytes, no truncated sequences,
 * no overlong forms, no UTF-16 surrogates, nothing above U+10FFFF. */
static bool utf8_valid(const char *text, size_t n)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < n) {
        unsigned lead = s[i];
        size_t len;
        uint32_t cp, min;
        if (lead < 0x80) {
            i++;
            continue;
        } else if ((lead & 0xE0) == 0xC0) {
            len = 2, cp = lead & 0x1F, min = 0x80;
        } else if ((lead & 0xF0) == 0xE0) {
            len = 3, cp = lead & 0x0F, min = 0x800;
        } else if ((lead & 0xF8) == 0xF0) {
            len = 4, cp = lead & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

/* Each returns NULL when the text is acceptable, else what is wrong ("is empty", ...). */
static const char *key_problem(const char *key, size_t len)
{
    if (len == 0)
        return "is empty";
    if (memchr(key, '=', len))
        return "contains '='";
    if (memchr(key, '\n', len))
        return "contains a newline";
    if (memchr(key, '\0', len))
        return "contains a NUL byte";
    if (!utf8_valid(key, len))
        return "is not valid UTF-8";
    return NULL;
}

static const char *value_problem(const char *value, size_t len)
{
    if (memchr(value, '\n', len))
        return "contains a newline";
    if (memchr(value, '\0', len))
        return "contains a NUL byte";
    if (!utf8_valid(value, len))
        return "is not valid UTF-8";
    return NULL;
}

static const char *name_problem(const char *name, size_t len)
{
    if (len == 0)
        return "is empty";
    if (len > TG_CKPT_NAME_MAX)
        return "is longer than 255 bytes";
    if (memchr(name, '\0', len))
        return "contains a NUL byte";
    if (!utf8_valid(name, len))
        return "is not valid UTF-8";
    return NULL;
}

/* At most this many bytes of untrusted text are quoted in a message. */
#define QUOTE_MAX 48
/* A name or line from a file or a caller, fit for a one-line message: at most QUOTE_MAX bytes,
 * control bytes (< 0x20 and 0x7f, newlines included) shown as \xHH.  Use as quoted(s, n).s. */
typedef struct quoted_text {
    char s[QUOTE_MAX * 4 + 4];
} quoted_text;

static quoted_text quoted(const char *s, size_t len)
{
    quoted_text q;
    size_t out = 0;
    for (size_t i = 0; i < len && i < QUOTE_MAX; i++) {
        unsigned char b = (unsigned char)s[i];
        if (b < 0x20 || b == 0x7f)
            out += (size_t)snprintf(q.s + out, sizeof q.s - out, "\\x%02x", b);
        else
            q.s[out++] = (char)b;
    }
    q.s[out] = '\0';
    return q;
}

/* ---- building ---- */

tg_checkpoint *tg_ckpt_new(tg_error *err)
{
    tg_checkpoint *ck = calloc(1, sizeof *ck);
    if (!ck)
        tg_error_set(err, TG_ERR_NOMEM, "ckpt_new: out of memory");
    return ck;
}

void tg_ckpt_free(tg_checkpoint *ck)
{
    if (!ck)
        return;
    for (int i = 0; i < ck->n_meta; i++) {
        free(ck->meta[i].key);
        free(ck->meta[i].value);
    }
    for (int i = 0; i < ck->n_tensors; i++) {
        free(ck->tensors[i].name);
        tg_tensor_free(&ck->tensors[i].tensor);
    }
    free(ck->meta);
    free(ck->tensors);
    free(ck->meta_index.slots);
    free(ck->tensor_index.slots);
    free(ck);
}

/* Appends key=value (already checked, key not present).  False when memory runs out; then the
 * checkpoint is unchanged. */
static bool meta_append(tg_checkpoint *ck, const char *key, size_t key_len, const char *value, size_t value_len)
{
    if (!array_reserve_one((void **)&ck->meta, &ck->cap_meta, ck->n_meta, sizeof *ck->meta))
        return false;
    char *k = copy_text(key, key_len);
    char *v = copy_text(value, value_len);
    if (!k || !v || !index_insert(&ck->meta_index, k, key_len, ck->n_meta)) {
        free(k);
        free(v);
        return false;
    }
    ck->meta[ck->n_meta++] = (meta_entry){k, v};
    ck->meta_bytes += (uint64_t)key_len + value_len + 2; /* '=' and '\n' */
    return true;
}

int tg_ckpt_set_meta(tg_checkpoint *ck, const char *key, const char *value, tg_error *err)
{
    if (!ck || !key || !value)
        return tg_error_set(err, TG_ERR_ARG, "ckpt_set_meta: NULL argument");
    size_t key_len = strlen(key), value_len = strlen(value);
    const char *bad = key_problem(key, key_len);
    if (bad)
        return tg_error_set(err, TG_ERR_ARG, "ckpt_set_meta: key \"%s\" %s", quoted(key, key_len).s, bad);
    bad = value_problem(value, value_len);
    if (bad)
        return tg_error_set(err, TG_ERR_ARG, "ckpt_set_meta: value of key \"%s\" %s", quoted(key, key_len).s, bad);

    int i = index_lookup(&ck->meta_index, key, key_len);
    uint64_t new_total = i >= 0 ? ck->meta_bytes - strlen(ck->meta[i].value) + value_len
                                : ck->meta_bytes + key_len + value_len + 2;
    if (new_total > UINT32_MAX) /* meta_len is a u32 in the file */
        return tg_error_set(err, TG_ERR_ARG, "ckpt_set_meta: key \"%s\": metadata would exceed %u bytes",
                            quoted(key, key_len).s, (unsigned)UINT32_MAX);
    if (i < 0) {
        if (!meta_append(ck, key, key_len, value, value_len))
            return tg_error_set(err, TG_ERR_NOMEM, "ckpt_set_meta: out of memory");
        return TG_OK;
    }
    char *v = copy_text(value, value_len);
    if (!v)
        return tg_error_set(err, TG_ERR_NOMEM, "ckpt_set_meta: out of memory");
    ck->meta_bytes = new_total;
    free(ck->meta[i].value);
    ck->meta[i].value = v;
    return TG_OK;
}

int tg_ckpt_set_meta_fmt(tg_checkpoint *ck, const char *key, tg_error *err, const char *fmt, ...)
{
    if (!fmt)
        return tg_error_set(err, TG_ERR_ARG, "ckpt_set_meta_fmt: NULL format");
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return tg_error_set(err, TG_ERR_ARG, "ckpt_set_meta_fmt: cannot format \"%s\"", fmt);
    char *value = malloc((size_t)n + 1);
    if (!value)
        return tg_error_set(err, TG_ERR_NOMEM, "ckpt_set_meta_fmt: out of memory");
    va_start(ap, fmt);
    vsnprintf(value, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = tg_ckpt_set_meta(ck, key, value, err);
    free(value);
    return rc;
}

const char *tg_ckpt_get_meta(const tg_checkpoint *ck, const char *key)
{
    if (!ck || !key)
        return NULL;
    int i = index_lookup(&ck->meta_index, key, strlen(key));
    return i >= 0 ? ck->meta[i].value : NULL;
}

int tg_ckpt_meta_count(const tg_checkpoint *ck) { return ck ? ck->n_meta : 0; }

const char *tg_ckpt_meta_key(const tg_checkpoint *ck, int i)
{
    return ck && i >= 0 && i < ck->n_meta ? ck->meta[i].key : NULL;
}

const char *tg_ckpt_meta_value(const tg_checkpoint *ck, int i)
{
    return ck && i >= 0 && i < ck->n_meta ? ck->meta[i].value : NULL;
}

/* Appends name -> *tensor, taking ownership of the tensor's storage on success.  The name is
 * checked and not present.  False when memory runs out; then nothing changed. */
static bool tensor_append(tg_checkpoint *ck, const char *name, size_t name_len, tg_tensor *tensor)
{
    if (!array_reserve_one((void **)&ck->tensors, &ck->cap_tensors, ck->n_tensors, sizeof *ck->tensors))
        return false;
    char *n = copy_text(name, name_len);
    if (!n || !index_insert(&ck->tensor_index, n, name_len, ck->n_tensors)) {
        free(n);
        return false;
    }
    ck->tensors[ck->n_tensors++] = (tensor_entry){n, *tensor};
    memset(tensor, 0, sizeof *tensor);
    return true;
}

int tg_ckpt_add(tg_checkpoint *ck, const char *name, const tg_tensor *t, tg_error *err)
{
    if (!ck || !name || !t)
        return tg_error_set(err, TG_ERR_ARG, "ckpt_add: NULL argument");
    size_t name_len = strlen(name);
    const char *bad = name_problem(name, name_len);
    if (bad)
        return tg_error_set(err, TG_ERR_ARG, "ckpt_add: tensor name \"%s\" %s", quoted(name, name_len).s, bad);
    if (index_lookup(&ck->tensor_index, name, name_len) >= 0)
        return tg_error_set(err, TG_ERR_ARG, "ckpt_add: duplicate tensor name \"%s\"", name);
    if (t->ndim < 1 || t->ndim > TG_MAX_DIMS)
        return tg_error_set(err, TG_ERR_SHAPE, "ckpt_add: tensor \"%s\" has %d dimensions (must be 1..%d)",
                            name, t->ndim, TG_MAX_DIMS);
    for (int d = 0; d < t->ndim; d++)
        if (t->shape[d] > UINT32_MAX) /* dims are u32 in the file */
            return tg_error_set(err, TG_ERR_SHAPE, "ckpt_add: tensor \"%s\": dimension %d is %zu (the format allows up to %u)",
                                name, d, t->shape[d], (unsigned)UINT32_MAX);
    size_t numel;
    int rc = tg_shape_numel(t->ndim, t->shape, &numel, err); /* rejects a zero dimension */
    if (rc)
        return rc;
    if (numel != t->size || !t->data)
        return tg_error_set(err, TG_ERR_ARG, "ckpt_add: tensor \"%s\" is not a valid tensor (size %zu, data %s)",
                            name, t->size, t->data ? "set" : "NULL");
    tg_tensor copy;
    if ((rc = tg_tensor_clone(&copy, t, err)) != TG_OK)
        return rc;
    if (!tensor_append(ck, name, name_len, &copy)) {
        tg_tensor_free(&copy);
        return tg_error_set(err, TG_ERR_NOMEM, "ckpt_add: out of memory");
    }
    return TG_OK;
}

const tg_tensor *tg_ckpt_find(const tg_checkpoint *ck, const char *name)
{
    if (!ck || !name)
        return NULL;
    int i = index_lookup(&ck->tensor_index, name, strlen(name));
    return i >= 0 ? &ck->tensors[i].tensor : NULL;
}

int tg_ckpt_count(const tg_checkpoint *ck) { return ck ? ck->n_tensors : 0; }

const char *tg_ckpt_name(const tg_checkpoint *ck, int i)
{
    return ck && i >= 0 && i < ck->n_tensors ? ck->tensors[i].name : NULL;
}

const tg_tensor *tg_ckpt_tensor(const tg_checkpoint *ck, int i)
{
    return ck && i >= 0 && i < ck->n_tensors ? &ck->tensors[i].tensor : NULL;
}

/* ---- typed metadata ---- */

/* The value of key, or NULL: TG_OK when absent and optional, the "missing" error when required. */
static const char *meta_value(const tg_checkpoint *ck, const char *path, const char *key, bool required, int *rc,
                              tg_error *err)
{
    const char *v = tg_ckpt_get_meta(ck, key);
    *rc = !v && required ? tg_file_error(err, TG_ERR_FORMAT, path, "metadata key '%s' is missing", key) : TG_OK;
    return v;
}

int tg_ckpt_meta_uint(const tg_checkpoint *ck, const char *path, const char *key, bool required, uint64_t lo,
                      uint64_t hi, uint64_t *out, tg_error *err)
{
    int rc;
    const char *v = meta_value(ck, path, key, required, &rc, err);
    if (!v)
        return rc;
    uint64_t n = 0;
    bool ok = *v != '\0';
    for (const char *p = v; *p && ok; p++) {
        ok = *p >= '0' && *p <= '9' && n <= (UINT64_MAX - (uint64_t)(*p - '0')) / 10;
        n = ok ? n * 10 + (uint64_t)(*p - '0') : n;
    }
    if (!ok || n < lo || n > hi)
        return tg_file_error(err, TG_ERR_FORMAT, path, "metadata %s=%s is not a whole number in %llu..%llu", key, v,
                            (unsigned long long)lo, (unsigned long long)hi);
    *out = n;
    return TG_OK;
}

int tg_ckpt_meta_real(const tg_checkpoint *ck, const char *path, const char *key, bool required, double lo,
                      double hi, double *out, tg_error *err)
{
    int rc;
    const char *v = meta_value(ck, path, key, required, &rc, err);
    if (!v)
        return rc;
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || !(x >= lo && x <= hi))
        return tg_file_error(err, TG_ERR_FORMAT, path, "metadata %s=%s is not a number in [%g, %g]", key, v, lo, hi);
    *out = x;
    return TG_OK;
}

/* ====================================== the writer ========================================== */

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

/* The whole file, in the order of the spec; returns the first write errno or 0. */
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

/* ====================================== the reader ========================================== */

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
    char what[TG_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return tg_error_set(c->err, TG_ERR_FORMAT, "%s: %s", c->label, what);
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
                                quoted(text, left).s);
        size_t line_len = (size_t)(newline - text);
        const char *eq = memchr(text, '=', line_len);
        if (!eq)
            return format_error(c, "metadata line %zu (\"%s\") is not key=value: no '='", line,
                                quoted(text, line_len).s);
        size_t key_len = (size_t)(eq - text), value_len = line_len - key_len - 1;
        const char *bad = key_problem(text, key_len);
        if (bad)
            return format_error(c, "metadata line %zu (\"%s\"): the key %s", line, quoted(text, line_len).s, bad);
        if ((bad = value_problem(eq + 1, value_len)))
            return format_error(c, "metadata line %zu (\"%s\"): the value %s", line, quoted(text, line_len).s, bad);
        if (index_lookup(&ck->meta_index, text, key_len) >= 0) /* which one would count? refuse */
            return format_error(c, "metadata line %zu: duplicate key \"%s\"", line, quoted(text, key_len).s);
        if (!meta_append(ck, text, key_len, eq + 1, value_len))
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
        return format_error(c, "tensor %u (\"%s\"): ndim %u (must be 1..%d)", index, quoted(name, name_len).s, ndim, TG_MAX_DIMS);
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
                                quoted(name, name_len).s, shape_text, d);
        if (shape[d] > MAX_ELEMENTS / numel) /* numel * shape[d] would pass the limit (or overflow) */
            return format_error(c, "tensor %u (\"%s\"): shape %s: the product of the dims overflows", index,
                                quoted(name, name_len).s, shape_text);
        numel *= shape[d];
    }
    snprintf(what, sizeof what, "the data of tensor %u (shape %s)", index, shape_text);
    if ((rc = cursor_need(c, 4 * numel, what))) /* 4 * numel <= SIZE_MAX by MAX_ELEMENTS */
        return rc;
    const unsigned char *data = c->buf + c->pos;
    c->pos += 4 * (size_t)numel;
    if (!ck)
        return TG_OK;

    const char *bad = name_problem(name, name_len);
    if (bad)
        return format_error(c, "tensor %u: name \"%s\" %s", index, quoted(name, name_len).s, bad);
    if (index_lookup(&ck->tensor_index, name, name_len) >= 0)
        return format_error(c, "duplicate tensor name \"%s\" (tensor %u)", quoted(name, name_len).s, index);
    tg_tensor t;
    if (tg_tensor_create(&t, (int)ndim, shape, NULL) != TG_OK)
        return tg_error_set(c->err, TG_ERR_NOMEM, "%s: cannot allocate tensor \"%s\" of shape %s", c->label,
                            quoted(name, name_len).s, shape_text);
    for (size_t i = 0; i < (size_t)numel; i++) {
        uint32_t bits = load_le32(data + 4 * i);
        memcpy(&t.data[i], &bits, 4); /* the bit pattern, not a conversion: NaN payloads survive */
    }
    if (!tensor_append(ck, name, name_len, &t)) {
        tg_tensor_free(&t);
        return tg_error_set(c->err, TG_ERR_NOMEM, "%s: out of memory reading tensor \"%s\"", c->label, quoted(name, name_len).s);
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

/* ===================================== parameters =========================================== */

int tg_ckpt_add_params(tg_checkpoint *ck, tg_param *const *params, int n, tg_error *err)
{
    if (!ck || n < 0 || (n > 0 && !params))
        return tg_error_set(err, TG_ERR_ARG, "ckpt_add_params: NULL checkpoint or params, or n = %d", n);
    int before = ck->n_tensors;
    for (int i = 0; i < n; i++) {
        int rc = params[i] ? tg_ckpt_add(ck, params[i]->name, &params[i]->value, err)
                           : tg_error_set(err, TG_ERR_ARG, "ckpt_add_params: params[%d] is NULL", i);
        if (rc != TG_OK) { /* all or nothing: drop what this call added */
            for (int k = before; k < ck->n_tensors; k++) {
                free(ck->tensors[k].name);
                tg_tensor_free(&ck->tensors[k].tensor);
            }
            ck->n_tensors = before;
            index_rebuild_tensors(&ck->tensor_index, ck->tensors, before);
            return rc;
        }
    }
    return TG_OK;
}

int tg_ckpt_check_values(const tg_tensor *t, const char *path, const char *name, bool non_negative, tg_error *err)
{
    for (size_t i = 0; i < t->size; i++) {
        float v = t->data[i];
        if (!isfinite(v) || (non_negative && v < 0.0f))
            return tg_file_error(err, TG_ERR_FORMAT, path, "tensor %s element %zu is %g: %s", name, i, (double)v,
                                 isfinite(v) ? "must not be negative" : "values must be finite");
    }
    return TG_OK;
}

int tg_ckpt_load_params(const tg_checkpoint *ck, const char *path, tg_param *const *params, int n, tg_error *err)
{
    const char *label = path ? path : "checkpoint";
    if (!ck || n < 0 || (n > 0 && !params))
        return tg_file_error(err, TG_ERR_ARG, label, "load_params: NULL checkpoint or params, or n = %d", n);
    /* Check everything first, so a failure leaves every param as it was. */
    for (int i = 0; i < n; i++) {
        const tg_param *p = params[i];
        if (!p || !p->value.data)
            return tg_file_error(err, TG_ERR_ARG, label, "load_params: params[%d] is NULL or has no storage", i);
        const tg_tensor *t = tg_ckpt_find(ck, p->name);
        if (!t)
            return tg_file_error(err, TG_ERR_FORMAT, label, "missing tensor %s", p->name);
        if (!tg_tensor_same_shape(t, &p->value)) {
            char have[64], want[64];
            return tg_file_error(err, TG_ERR_SHAPE, label, "tensor %s has shape %s, expected %s", p->name,
                                tg_tensor_shape_str(have, sizeof have, t),
                                tg_tensor_shape_str(want, sizeof want, &p->value));
        }
        int rc = tg_ckpt_check_values(t, label, p->name, false, err);
        if (rc)
            return rc;
    }
    for (int i = 0; i < n; i++) {
        const tg_tensor *t = tg_ckpt_find(ck, params[i]->name);
        memcpy(params[i]->value.data, t->data, t->size * sizeof(float));
    }
    return TG_OK;
}
