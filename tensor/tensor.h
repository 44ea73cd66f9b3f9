/* tensor/tensor.h — float32 tensors: shape, 64-byte aligned storage, views.
 *
 * A tensor is a small struct held by value: a data pointer, 1..4 dimensions, row-major
 * (last dimension fastest), always contiguous.  It either owns its storage (created by
 * tg_tensor_create / tg_tensor_zeros, released by tg_tensor_free) or is a view of another
 * tensor's storage (tg_tensor_view, tg_tensor_reshape, tg_tensor_rows): a view owns nothing,
 * must not outlive the storage it looks at, and tg_tensor_free on it only clears the struct.
 *
 * Two-dimensional reading of any tensor (used by every op): rows = shape[0], cols = the product
 * of the remaining dimensions; a 1-D tensor [n] reads as one row [1, n].
 *
 * All size arithmetic is overflow-checked; failures are returned as tg_error values. */
#ifndef TG_TENSOR_H
#define TG_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TG_MAX_DIMS 4
#define TG_ALIGN 64 /* bytes: one cache line, one AVX-512 register */

typedef struct tg_tensor {
    float *data;
    int ndim;                   /* 1..TG_MAX_DIMS; 0 only for an empty (freed/unset) tensor */
    size_t shape[TG_MAX_DIMS];  /* unused trailing entries are 1 */
    size_t size;                /* number of elements: the product of shape */
    float *owned;               /* the storage this tensor must free, or NULL for a view */
} tg_tensor;

/* Product of `shape[0..ndim)` into *out; fails on ndim outside 1..4, a zero dimension or
 * overflow of size_t bytes (so elements * sizeof(float) is also safe). */
int tg_shape_numel(int ndim, const size_t *shape, size_t *out, tg_error *err);

/* Allocates owned, 64-byte aligned storage; contents uninitialized (create) or zero (zeros).
 * On failure *t is left empty. */
int tg_tensor_create(tg_tensor *t, int ndim, const size_t *shape, tg_error *err);
int tg_tensor_zeros(tg_tensor *t, int ndim, const size_t *shape, tg_error *err);
/* Shorthands for 1-D and 2-D zero tensors. */
int tg_tensor_zeros1(tg_tensor *t, size_t n, tg_error *err);
int tg_tensor_zeros2(tg_tensor *t, size_t rows, size_t cols, tg_error *err);

/* Releases owned storage (nothing for a view) and empties the struct. Safe on an empty tensor. */
void tg_tensor_free(tg_tensor *t);

/* Allocates `bytes` (rounded up to TG_ALIGN) aligned to TG_ALIGN; NULL on failure or bytes == 0.
 * Release with free(). */
void *tg_aligned_alloc(size_t bytes);

void tg_tensor_fill(tg_tensor *t, float value);
/* Copies src's elements into dst; both must hold the same number of elements. */
int tg_tensor_copy(tg_tensor *dst, const tg_tensor *src, tg_error *err);
/* A new owned tensor with src's shape and contents. */
int tg_tensor_clone(tg_tensor *dst, const tg_tensor *src, tg_error *err);

/* Views.  `view` gets a non-owning tensor over `src`'s storage. */
/* Same elements, another shape with the same number of elements (always possible: contiguous). */
int tg_tensor_reshape(tg_tensor *view, const tg_tensor *src, int ndim, const size_t *shape, tg_error *err);
/* Rows [row0, row0+nrows) of src (along shape[0]); the other dimensions are kept. */
int tg_tensor_rows(tg_tensor *view, const tg_tensor *src, size_t row0, size_t nrows, tg_error *err);
/* A view over caller-provided memory (for example an arena block); data must stay valid. */
int tg_tensor_wrap(tg_tensor *view, float *data, int ndim, const size_t *shape, tg_error *err);

/* Shape queries. */
static inline size_t tg_tensor_nrows(const tg_tensor *t) { return t->ndim == 1 ? 1 : t->shape[0]; }
static inline size_t tg_tensor_ncols(const tg_tensor *t) { return t->ndim == 1 ? t->shape[0] : t->size / t->shape[0]; }
bool tg_tensor_same_shape(const tg_tensor *a, const tg_tensor *b);
/* Whether every one of v[0..n) is finite (no infinity, no NaN): one branch-free pass that
 * vectorizes, for checks run on every step (the optimizer's gradients, a convolution's weights). */
bool tg_floats_finite(const float *v, size_t n);

/* Subnormal floats (nonzero, below FLT_MIN = 1.2e-38 in magnitude) count as zero on the calling
 * thread, read or produced, until tg_subnormals_restore(the returned mode).  For loops whose
 * values decay geometrically, as the optimizers' moments do once a gradient stops (a ReLU unit
 * dies): each passes hundreds of steps through the subnormal range, where x86 takes a microcode
 * assist per instruction that meets one and a whole update ran 7 times slower
 * (docs/performance.md).  x86-64: MXCSR's FTZ and DAZ; AArch64: FPCR.FZ (the same but for results
 * within half a unit of FLT_MIN, which it judges before rounding); elsewhere nothing changes. */
typedef unsigned long tg_fp_mode;
tg_fp_mode tg_subnormals_flush(void);
void tg_subnormals_restore(tg_fp_mode saved);

/* Writes "[32,784]" into buf (always NUL-terminated); returns buf. */
char *tg_shape_str(char *buf, size_t buflen, int ndim, const size_t *shape);
char *tg_tensor_shape_str(char *buf, size_t buflen, const tg_tensor *t);
/* Prints "name [2,3]" and the values (at most `max_values`, then "..."). */
void tg_tensor_print(FILE *f, const char *name, const tg_tensor *t, size_t max_values);

#ifdef __cplusplus
}
#endif

#endif
