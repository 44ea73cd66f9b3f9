#include "tensor.h"

#include "vmath.h"

#if defined(__x86_64__) || (defined(__i386__) && defined(__SSE__))
#include <xmmintrin.h> /* _mm_getcsr, _mm_setcsr */
#endif

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int tg_shape_numel(int ndim, const size_t *shape, size_t *out, tg_error *err)
{
    if (ndim < 1 || ndim > TG_MAX_DIMS)
        return tg_error_set(err, TG_ERR_SHAPE, "tensor: %d dimensions (must be 1..%d)", ndim, TG_MAX_DIMS);
    size_t n = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 0)
            return tg_error_set(err, TG_ERR_SHAPE, "tensor: dimension %d is 0", d);
        /* Keep n * sizeof(float) representable, so byte counts never overflow either. */
        if (shape[d] > SIZE_MAX / sizeof(float) / n)
            return tg_error_set(err, TG_ERR_NOMEM, "tensor: size overflows at dimension %d (%zu)", d, shape[d]);
        n *= shape[d];
    }
    *out = n;
    return TG_OK;
}

void *tg_aligned_alloc(size_t bytes)
{
    if (bytes == 0 || bytes > SIZE_MAX - TG_ALIGN)
        return NULL;
    size_t rounded = (bytes + TG_ALIGN - 1) / TG_ALIGN * TG_ALIGN; /* aligned_alloc needs a multiple */
    return aligned_alloc(TG_ALIGN, rounded);
}

static void set_shape(tg_tensor *t, int ndim, const size_t *shape, size_t size)
{
    t->ndim = ndim;
    for (int d = 0; d < TG_MAX_DIMS; d++)
        t->shape[d] = d < ndim ? shape[d] : 1;
    t->size = size;
}

int tg_tensor_create(tg_tensor *t, int ndim, const size_t *shape, tg_error *err)
{
    memset(t, 0, sizeof *t);
    size_t n;
    int rc = tg_shape_numel(ndim, shape, &n, err);
    if (rc)
        return rc;
    float *data = tg_aligned_alloc(n * sizeof(float));
    if (!data)
        return tg_error_set(err, TG_ERR_NOMEM, "tensor: cannot allocate %zu floats", n);
    set_shape(t, ndim, shape, n);
    t->data = data;
    t->owned = data;
    return TG_OK;
}

int tg_tensor_zeros(tg_tensor *t, int ndim, const size_t *shape, tg_error *err)
{
    int rc = tg_tensor_create(t, ndim, shape, err);
    if (rc == TG_OK)
        memset(t->data, 0, t->size * sizeof(float));
    return rc;
}

int tg_tensor_zeros1(tg_tensor *t, size_t n, tg_error *err)
{
    return tg_tensor_zeros(t, 1, (size_t[]){n}, err);
}

int tg_tensor_zeros2(tg_tensor *t, size_t rows, size_t cols, tg_error *err)
{
    return tg_tensor_zeros(t, 2, (size_t[]){rows, cols}, err);
}

void tg_tensor_free(tg_tensor *t)
{
    if (!t)
        return;
    free(t->owned);
    memset(t, 0, sizeof *t);
}

void tg_tensor_fill(tg_tensor *t, float value)
{
    for (size_t i = 0; i < t->size; i++)
        t->data[i] = value;
}

int tg_tensor_copy(tg_tensor *dst, const tg_tensor *src, tg_error *err)
{
    if (dst->size != src->size) {
        char a[64], b[64];
        return tg_error_set(err, TG_ERR_SHAPE, "tensor_copy: %s <- %s: element counts differ",
                            tg_tensor_shape_str(a, sizeof a, dst), tg_tensor_shape_str(b, sizeof b, src));
    }
    if (dst->data != src->data)
        memmove(dst->data, src->data, src->size * sizeof(float));
    return TG_OK;
}

int tg_tensor_clone(tg_tensor *dst, const tg_tensor *src, tg_error *err)
{
    int rc = tg_tensor_create(dst, src->ndim, src->shape, err);
    if (rc == TG_OK)
        memcpy(dst->data, src->data, src->size * sizeof(float));
    return rc;
}

int tg_tensor_wrap(tg_tensor *view, float *data, int ndim, const size_t *shape, tg_error *err)
{
    size_t n;
    int rc = tg_shape_numel(ndim, shape, &n, err);
    if (rc)
        return rc;
    if (!data)
        return tg_error_set(err, TG_ERR_ARG, "tensor_wrap: data is NULL");
    memset(view, 0, sizeof *view);
    set_shape(view, ndim, shape, n);
    view->data = data;
    return TG_OK;
}

int tg_tensor_reshape(tg_tensor *view, const tg_tensor *src, int ndim, const size_t *shape, tg_error *err)
{
    size_t n;
    int rc = tg_shape_numel(ndim, shape, &n, err);
    if (rc)
        return rc;
    if (n != src->size) {
        char a[64], b[64];
        return tg_error_set(err, TG_ERR_SHAPE, "reshape: %s -> %s: element counts differ",
                            tg_tensor_shape_str(a, sizeof a, src), tg_shape_str(b, sizeof b, ndim, shape));
    }
    float *data = src->data;
    memset(view, 0, sizeof *view);
    set_shape(view, ndim, shape, n);
    view->data = data;
    return TG_OK;
}

int tg_tensor_rows(tg_tensor *view, const tg_tensor *src, size_t row0, size_t nrows, tg_error *err)
{
    size_t total = src->shape[0];
    if (nrows == 0 || row0 > total || nrows > total - row0) {
        char a[64];
        return tg_error_set(err, TG_ERR_ARG, "tensor_rows: rows [%zu, %zu+%zu) outside %s",
                            row0, row0, nrows, tg_tensor_shape_str(a, sizeof a, src));
    }
    size_t row_len = src->size / total;
    size_t shape[TG_MAX_DIMS];
    memcpy(shape, src->shape, sizeof shape);
    shape[0] = nrows;
    float *data = src->data + row0 * row_len;
    int ndim = src->ndim;
    memset(view, 0, sizeof *view);
    set_shape(view, ndim, shape, nrows * row_len);
    view->data = data;
    return TG_OK;
}

bool tg_tensor_same_shape(const tg_tensor *a, const tg_tensor *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d])
            return false;
    return true;
}

char *tg_shape_str(char *buf, size_t buflen, int ndim, const size_t *shape)
{
    size_t used = 0;
    if (buflen == 0)
        return buf;
    buf[0] = '\0';
    for (int d = 0; d < ndim && used < buflen; d++) {
        int n = snprintf(buf + used, buflen - used, "%s%zu", d ? "," : "[", shape[d]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    if (used < buflen)
        snprintf(buf + used, buflen - used, ndim > 0 ? "]" : "[]");
    return buf;
}

char *tg_tensor_shape_str(char *buf, size_t buflen, const tg_tensor *t)
{
    return tg_shape_str(buf, buflen, t->ndim, t->shape);
}

void tg_tensor_print(FILE *f, const char *name, const tg_tensor *t, size_t max_values)
{
    char s[64];
    fprintf(f, "%s %s", name ? name : "tensor", tg_tensor_shape_str(s, sizeof s, t));
    size_t n = t->size < max_values ? t->size : max_values;
    size_t cols = t->ndim ? tg_tensor_ncols(t) : 0;
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s%g", (cols && i % cols == 0) ? "\n  " : " ", (double)t->data[i]);
    fprintf(f, "%s\n", n < t->size ? " ..." : "");
}

/* An OR of "exponent all ones" over the bits instead of an early-exit isfinite() loop, which does
 * not vectorize. */
TG_VECTORIZE bool tg_floats_finite(const float *v, size_t n)
{
    uint32_t all_ones_seen = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &v[i], sizeof bits);
        all_ones_seen |= (uint32_t)((bits & 0x7f800000u) == 0x7f800000u);
    }
    return all_ones_seen == 0;
}

/* Out of line on purpose: a call the compiler cannot see into keeps the loads and arithmetic of
 * the caller's loop on the right side of the mode switch. */
#if defined(__x86_64__) || (defined(__i386__) && defined(__SSE__))
enum { MXCSR_DAZ = 1u << 6, MXCSR_FTZ = 1u << 15 };
tg_fp_mode tg_subnormals_flush(void)
{
    unsigned saved = _mm_getcsr();
    _mm_setcsr(saved | MXCSR_DAZ | MXCSR_FTZ);
    return saved;
}
/* Only the two mode bits: the exception flags the update raised stay raised, as they would have. */
void tg_subnormals_restore(tg_fp_mode saved)
{
    unsigned mode = MXCSR_DAZ | MXCSR_FTZ;
    _mm_setcsr((_mm_getcsr() & ~mode) | ((unsigned)saved & mode));
}
#elif defined(__aarch64__)
enum { FPCR_FZ = 1u << 24 };
tg_fp_mode tg_subnormals_flush(void)
{
    unsigned long saved;
    __asm__ volatile("mrs %0, fpcr" : "=r"(saved));
    __asm__ volatile("msr fpcr, %0" : : "r"(saved | FPCR_FZ) : "memory");
    return saved;
}
void tg_subnormals_restore(tg_fp_mode saved)
{
    unsigned long now;
    __asm__ volatile("mrs %0, fpcr" : "=r"(now));
    __asm__ volatile("msr fpcr, %0" : : "r"((now & ~(unsigned long)FPCR_FZ) | (saved & FPCR_FZ)) : "memory");
}
#else
tg_fp_mode tg_subnormals_flush(void) { return 0; }
void tg_subnormals_restore(tg_fp_mode saved) { (void)saved; }
#endif
