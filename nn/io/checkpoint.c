/* nn/io/checkpoint.c — the in-memory checkpoint (format: docs/checkpoint.md; API in checkpoint.h).
 *
 * Ordered metadata and named tensors behind a name index, the text rules every key, value and
 * name obeys (the reader applies the same ones, through checkpoint_internal.h), the setters and
 * getters, typed metadata, and parameters in and out.  The file encoding is in
 * checkpoint_write.c, reading and validation in checkpoint_read.c. */
#include "checkpoint.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "checkpoint_internal.h"

/* ====================================== the name index ====================================== */

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
int tg_ckpt_index_lookup(const name_index *ix, const char *name, size_t len)
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

/* ============================ text rules (setters and reader alike) ========================== */

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

/* What is wrong with text[0..len): the first byte of `forbidden` it contains (checked in order,
 * the string's terminating NUL last), else invalid UTF-8; NULL when nothing is. */
static const char *text_problem(const char *text, size_t len, const char *forbidden)
{
    for (const char *c = forbidden;; c++) {
        if (memchr(text, *c, len))
            return *c == '=' ? "contains '='" : *c == '\n' ? "contains a newline" : "contains a NUL byte";
        if (*c == '\0')
            break;
    }
    return utf8_valid(text, len) ? NULL : "is not valid UTF-8";
}

/* Each returns NULL when the text is acceptable, else what is wrong ("is empty", ...). */
const char *tg_ckpt_key_problem(const char *key, size_t len)
{
    return len == 0 ? "is empty" : text_problem(key, len, "=\n");
}

const char *tg_ckpt_value_problem(const char *value, size_t len) { return text_problem(value, len, "\n"); }

const char *tg_ckpt_name_problem(const char *name, size_t len)
{
    if (len == 0)
        return "is empty";
    if (len > TG_CKPT_NAME_MAX)
        return "is longer than 255 bytes";
    return text_problem(name, len, "");
}

/* See checkpoint_internal.h. */
quoted_text tg_ckpt_quoted(const char *s, size_t len)
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

/* ======================================== building ========================================== */

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
bool tg_ckpt_append_meta(tg_checkpoint *ck, const char *key, size_t key_len, const char *value, size_t value_len)
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
    const char *bad = tg_ckpt_key_problem(key, key_len);
    if (bad)
        return tg_error_set(err, TG_ERR_ARG, "ckpt_set_meta: key \"%s\" %s", tg_ckpt_quoted(key, key_len).s, bad);
    bad = tg_ckpt_value_problem(value, value_len);
    if (bad)
        return tg_error_set(err, TG_ERR_ARG, "ckpt_set_meta: value of key \"%s\" %s", tg_ckpt_quoted(key, key_len).s, bad);

    int i = tg_ckpt_index_lookup(&ck->meta_index, key, key_len);
    uint64_t new_total = i >= 0 ? ck->meta_bytes - strlen(ck->meta[i].value) + value_len
                                : ck->meta_bytes + key_len + value_len + 2;
    if (new_total > UINT32_MAX) /* meta_len is a u32 in the file */
        return tg_error_set(err, TG_ERR_ARG, "ckpt_set_meta: key \"%s\": metadata would exceed %u bytes",
                            tg_ckpt_quoted(key, key_len).s, (unsigned)UINT32_MAX);
    if (i < 0) {
        if (!tg_ckpt_append_meta(ck, key, key_len, value, value_len))
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
    int i = tg_ckpt_index_lookup(&ck->meta_index, key, strlen(key));
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
bool tg_ckpt_append_tensor(tg_checkpoint *ck, const char *name, size_t name_len, tg_tensor *tensor)
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
    const char *bad = tg_ckpt_name_problem(name, name_len);
    if (bad)
        return tg_error_set(err, TG_ERR_ARG, "ckpt_add: tensor name \"%s\" %s", tg_ckpt_quoted(name, name_len).s, bad);
    if (tg_ckpt_index_lookup(&ck->tensor_index, name, name_len) >= 0)
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
    if (!tg_ckpt_append_tensor(ck, name, name_len, &copy)) {
        tg_tensor_free(&copy);
        return tg_error_set(err, TG_ERR_NOMEM, "ckpt_add: out of memory");
    }
    return TG_OK;
}

const tg_tensor *tg_ckpt_find(const tg_checkpoint *ck, const char *name)
{
    if (!ck || !name)
        return NULL;
    int i = tg_ckpt_index_lookup(&ck->tensor_index, name, strlen(name));
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

/* ===================================== typed metadata ======================================= */

/* A whole number: decimal digits only, no sign, no overflow. */
static bool parse_whole(const char *v, uint64_t *n)
{
    *n = 0;
    bool ok = *v != '\0';
    for (const char *p = v; *p && ok; p++) {
        ok = *p >= '0' && *p <= '9' && *n <= (UINT64_MAX - (uint64_t)(*p - '0')) / 10;
        *n = ok ? *n * 10 + (uint64_t)(*p - '0') : *n;
    }
    return ok;
}

/* A metadata number and its range: whole (in ulo..uhi, into *u) or real (in [lo, hi], into *x). */
typedef struct number_rule {
    bool whole;
    uint64_t ulo, uhi;
    double lo, hi;
} number_rule;

/* Reads key under `rule`: TG_OK with the output unchanged when it is absent and optional, the
 * "missing" error when required, an error naming the file, key and range when out of it. */
static int meta_number(const tg_checkpoint *ck, const char *path, const char *key, bool required,
                       const number_rule *rule, uint64_t *u, double *x, tg_error *err)
{
    const char *v = tg_ckpt_get_meta(ck, key);
    if (!v)
        return required ? tg_file_error(err, TG_ERR_FORMAT, path, "metadata key '%s' is missing", key) : TG_OK;
    if (rule->whole) {
        uint64_t n;
        if (!parse_whole(v, &n) || n < rule->ulo || n > rule->uhi)
            return tg_file_error(err, TG_ERR_FORMAT, path, "metadata %s=%s is not a whole number in %llu..%llu", key,
                                 v, (unsigned long long)rule->ulo, (unsigned long long)rule->uhi);
        *u = n;
        return TG_OK;
    }
    char *end;
    double r = strtod(v, &end);
    if (end == v || *end || !(r >= rule->lo && r <= rule->hi))
        return tg_file_error(err, TG_ERR_FORMAT, path, "metadata %s=%s is not a number in [%g, %g]", key, v, rule->lo,
                             rule->hi);
    *x = r;
    return TG_OK;
}

int tg_ckpt_meta_uint(const tg_checkpoint *ck, const char *path, const char *key, bool required, uint64_t lo,
                      uint64_t hi, uint64_t *out, tg_error *err)
{
    return meta_number(ck, path, key, required, &(number_rule){.whole = true, .ulo = lo, .uhi = hi}, out, NULL, err);
}

int tg_ckpt_meta_real(const tg_checkpoint *ck, const char *path, const char *key, bool required, double lo,
                      double hi, double *out, tg_error *err)
{
    return meta_number(ck, path, key, required, &(number_rule){.lo = lo, .hi = hi}, NULL, out, err);
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
