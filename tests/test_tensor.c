/* tests/test_tensor.c — the tensors of tensor/tensor.c: shapes and their checks, aligned storage,
 * copies, views, shape strings and printing. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table_test.h"
#include "tensor/tensor.h"

static bool is_empty(const tg_tensor *t)
{
    return t->data == NULL && t->owned == NULL && t->ndim == 0 && t->size == 0;
}

/* A new tensor of `shape` holding 0, step, 2·step, ... in storage order. */
static void arange(tg_tensor *t, int ndim, const size_t *shape, float step)
{
    cr_assert_eq(tg_tensor_create(t, ndim, shape, NULL), TG_OK);
    for (size_t i = 0; i < t->size; i++)
        t->data[i] = (float)i * step;
}

/* ---- tg_shape_numel ---------------------------------------------------------------------- */

#define MAX_FLOATS (SIZE_MAX / sizeof(float)) /* the most floats whose byte size fits size_t */

/* tg_shape_numel: the product of the dimensions, or an error that leaves *out alone. */
static const struct {
    const char *name;
    int ndim;
    size_t shape[5];
    int rc;
    size_t n;            /* when rc is TG_OK */
    const char *message; /* NULL: not checked */
} numels[] = {
    {"[2,3,4]", 3, {2, 3, 4}, TG_OK, 24, NULL},
    {"[1,1,1,7]", 4, {1, 1, 1, 7}, TG_OK, 7, NULL},
    {"0 dimensions", 0, {2, 2, 2, 2, 2}, TG_ERR_SHAPE, 0, "tensor: 0 dimensions (must be 1..4)"},
    {"5 dimensions", 5, {2, 2, 2, 2, 2}, TG_ERR_SHAPE, 0, "tensor: 5 dimensions (must be 1..4)"},
    {"-1 dimensions", -1, {2, 2, 2, 2, 2}, TG_ERR_SHAPE, 0, NULL},
    {"a zero dimension", 3, {4, 0, 2}, TG_ERR_SHAPE, 0, "tensor: dimension 1 is 0"},
    /* the largest count whose byte size still fits in size_t is accepted ... */
    {"the most floats size_t can count in bytes", 1, {MAX_FLOATS}, TG_OK, MAX_FLOATS, NULL},
    /* ... one more element is not */
    {"one float more", 1, {MAX_FLOATS + 1}, TG_ERR_NOMEM, 0,
     "tensor: size overflows at dimension 0 (4611686018427387904)"},
    /* a product that wraps around size_t (2^32 · 2^32 = 2^64 ≡ 0) must not slip through */
    {"2^32 x 2^32", 2, {(size_t)1 << 32, (size_t)1 << 32}, TG_ERR_NOMEM, 0,
     "tensor: size overflows at dimension 1 (4294967296)"},
    {"65536^4", 4, {65536, 65536, 65536, 65536}, TG_ERR_NOMEM, 0, "tensor: size overflows at dimension 3 (65536)"},
};

TABLE_TEST(tensor, shape_numel, numels)
{
    const char *name = numels[*row].name;
    size_t n = 123;
    tg_error err = {0};
    int rc = tg_shape_numel(numels[*row].ndim, numels[*row].shape, &n, &err);
    cr_assert_eq(rc, numels[*row].rc, "%s: rc %d (%s)", name, rc, err.msg);
    if (rc == TG_OK) {
        cr_assert_eq(n, numels[*row].n, "%s: %zu", name, n);
    } else {
        cr_assert_eq(n, 123, "%s: a failed call must not write *out", name);
        cr_assert_eq(err.code, rc, "%s", name);
    }
    if (numels[*row].message)
        cr_assert_str_eq(err.msg, numels[*row].message, "%s", name);
    cr_assert_eq(tg_shape_numel(numels[*row].ndim, numels[*row].shape, &n, NULL), rc, "%s: without an error pointer",
                 name);
}

/* ---- creation and storage ---------------------------------------------------------------- */

Test(tensor, create_sets_shape_and_aligns_storage)
{
    static const size_t sizes[] = {1, 3, 16, 17, 1000, 12345};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        tg_tensor t;
        cr_assert_eq(tg_tensor_create(&t, 2, (size_t[]){sizes[s], 3}, NULL), TG_OK);
        cr_assert_not_null(t.data);
        cr_assert_eq(t.owned, t.data);
        cr_assert_eq((uintptr_t)t.data % 64, 0, "storage of %zu floats is not 64-byte aligned", t.size);
        cr_assert_eq(t.ndim, 2);
        cr_assert_eq(t.shape[0], sizes[s]);
        cr_assert_eq(t.shape[1], 3);
        cr_assert_eq(t.shape[2], 1, "unused dimensions are 1");
        cr_assert_eq(t.shape[3], 1);
        cr_assert_eq(t.size, sizes[s] * 3);
        t.data[t.size - 1] = 1.0f; /* the whole extent is writable (ASan checks) */
        tg_tensor_free(&t);
    }
}

Test(tensor, aligned_alloc_rounds_and_rejects_zero)
{
    cr_assert_null(tg_aligned_alloc(0));
    cr_assert_null(tg_aligned_alloc(SIZE_MAX));
    for (size_t bytes = 1; bytes < 300; bytes += 37) {
        unsigned char *p = tg_aligned_alloc(bytes);
        cr_assert_not_null(p);
        cr_assert_eq((uintptr_t)p % TG_ALIGN, 0);
        memset(p, 0xAB, bytes);
        free(p);
    }
}

Test(tensor, create_failure_leaves_tensor_empty)
{
    tg_tensor t;
    memset(&t, 0x5A, sizeof t); /* garbage, as in an uninitialized local */
    tg_error err = {0};
    cr_assert_eq(tg_tensor_create(&t, 2, (size_t[]){3, 0}, &err), TG_ERR_SHAPE);
    cr_assert(is_empty(&t));
    cr_assert_eq(tg_tensor_zeros(&t, 5, (size_t[]){1, 1, 1, 1, 1}, &err), TG_ERR_SHAPE);
    cr_assert(is_empty(&t));
    cr_assert_eq(tg_tensor_create(&t, 0, (size_t[]){1}, &err), TG_ERR_SHAPE);
    cr_assert(is_empty(&t));
    cr_assert_eq(tg_tensor_create(&t, 2, (size_t[]){(size_t)1 << 62, 8}, &err), TG_ERR_NOMEM);
    cr_assert(is_empty(&t));
    tg_tensor_free(&t); /* freeing the empty result is fine */
}

Test(tensor, zeros_and_shorthands)
{
    tg_tensor a, b, c;
    cr_assert_eq(tg_tensor_zeros(&a, 3, (size_t[]){2, 3, 5}, NULL), TG_OK);
    for (size_t i = 0; i < a.size; i++)
        cr_assert(a.data[i] == 0.0f);
    cr_assert_eq(tg_tensor_zeros1(&b, 7, NULL), TG_OK);
    cr_assert_eq(b.ndim, 1);
    cr_assert_eq(b.shape[0], 7);
    cr_assert_eq(b.size, 7);
    cr_assert_eq(tg_tensor_zeros2(&c, 4, 9, NULL), TG_OK);
    cr_assert_eq(c.ndim, 2);
    cr_assert_eq(c.size, 36);
    for (size_t i = 0; i < c.size; i++)
        cr_assert(c.data[i] == 0.0f);
    tg_tensor_free(&c);
    tg_error err = {0};
    cr_assert_eq(tg_tensor_zeros2(&c, 4, 0, &err), TG_ERR_SHAPE);
    cr_assert_str_eq(err.msg, "tensor: dimension 1 is 0");
    tg_tensor_free(&a);
    tg_tensor_free(&b);
}

Test(tensor, rows_and_cols_reading)
{
    tg_tensor v, m, t;
    tg_tensor_zeros1(&v, 5, NULL);
    tg_tensor_zeros2(&m, 3, 4, NULL);
    tg_tensor_zeros(&t, 3, (size_t[]){2, 3, 4}, NULL);
    cr_assert_eq(tg_tensor_nrows(&v), 1);
    cr_assert_eq(tg_tensor_ncols(&v), 5);
    cr_assert_eq(tg_tensor_nrows(&m), 3);
    cr_assert_eq(tg_tensor_ncols(&m), 4);
    cr_assert_eq(tg_tensor_nrows(&t), 2);
    cr_assert_eq(tg_tensor_ncols(&t), 12);
    tg_tensor_free(&v);
    tg_tensor_free(&m);
    tg_tensor_free(&t);
}

/* ---- fill, copy, clone ------------------------------------------------------------------- */

Test(tensor, fill_sets_every_element)
{
    tg_tensor t;
    tg_tensor_create(&t, 2, (size_t[]){3, 7}, NULL);
    tg_tensor_fill(&t, -2.5f);
    for (size_t i = 0; i < t.size; i++)
        cr_assert(t.data[i] == -2.5f);
    tg_tensor_free(&t);
}

Test(tensor, copy_needs_equal_element_counts)
{
    tg_tensor a, b, c;
    arange(&a, 2, (size_t[]){2, 3}, 1.5f);
    tg_tensor_zeros1(&b, 6, NULL);
    tg_tensor_zeros1(&c, 4, NULL);
    tg_error err = {0};
    cr_assert_eq(tg_tensor_copy(&b, &a, &err), TG_OK, "a [2,3] -> [6] copy keeps the element order");
    for (size_t i = 0; i < b.size; i++)
        cr_assert(b.data[i] == (float)i * 1.5f);
    cr_assert_eq(tg_tensor_copy(&c, &a, &err), TG_ERR_SHAPE);
    cr_assert_str_eq(err.msg, "tensor_copy: [4] <- [2,3]: element counts differ");
    for (size_t i = 0; i < c.size; i++)
        cr_assert(c.data[i] == 0.0f, "a failed copy must not write");
    cr_assert_eq(tg_tensor_copy(&a, &a, NULL), TG_OK, "copying a tensor onto itself is allowed");
    cr_assert(a.data[5] == 7.5f);
    tg_tensor_free(&a);
    tg_tensor_free(&b);
    tg_tensor_free(&c);
}

Test(tensor, clone_owns_independent_storage)
{
    tg_tensor a, b;
    arange(&a, 3, (size_t[]){2, 2, 3}, 1.0f);
    cr_assert_eq(tg_tensor_clone(&b, &a, NULL), TG_OK);
    cr_assert(tg_tensor_same_shape(&a, &b));
    cr_assert_neq(b.data, a.data);
    cr_assert_eq(b.owned, b.data);
    cr_assert_eq((uintptr_t)b.data % 64, 0);
    for (size_t i = 0; i < a.size; i++)
        cr_assert(b.data[i] == (float)i);
    b.data[0] = 100.0f;
    cr_assert(a.data[0] == 0.0f, "writing the clone changed the source");
    tg_tensor_free(&a);
    cr_assert(b.data[11] == 11.0f, "the clone outlives its source");
    tg_tensor_free(&b);
}

/* ---- views ------------------------------------------------------------------------------- */

Test(tensor, reshape_is_a_view)
{
    tg_tensor a, v;
    arange(&a, 2, (size_t[]){4, 6}, 1.0f);
    cr_assert_eq(tg_tensor_reshape(&v, &a, 3, (size_t[]){2, 3, 4}, NULL), TG_OK);
    cr_assert_eq(v.data, a.data);
    cr_assert_null(v.owned);
    cr_assert_eq(v.ndim, 3);
    cr_assert_eq(v.shape[2], 4);
    cr_assert_eq(v.size, 24);
    v.data[23] = -1.0f;
    cr_assert(a.data[23] == -1.0f, "a view shares storage");
    tg_error err = {0};
    cr_assert_eq(tg_tensor_reshape(&v, &a, 2, (size_t[]){4, 2}, &err), TG_ERR_SHAPE);
    cr_assert_str_eq(err.msg, "reshape: [4,6] -> [4,2]: element counts differ");
    cr_assert_eq(tg_tensor_reshape(&v, &a, 2, (size_t[]){4, 0}, &err), TG_ERR_SHAPE);
    cr_assert_str_eq(err.msg, "tensor: dimension 1 is 0");
    /* a view onto itself: reshape in place */
    cr_assert_eq(tg_tensor_reshape(&v, &v, 1, (size_t[]){24}, NULL), TG_OK);
    cr_assert_eq(v.ndim, 1);
    cr_assert_eq(v.data, a.data);
    tg_tensor_free(&v);
    cr_assert(is_empty(&v));
    cr_assert(a.data[23] == -1.0f, "freeing a view leaves the storage alone");
    tg_tensor_free(&a);
}

Test(tensor, rows_view)
{
    tg_tensor a, v;
    arange(&a, 3, (size_t[]){5, 2, 3}, 1.0f);
    cr_assert_eq(tg_tensor_rows(&v, &a, 1, 3, NULL), TG_OK);
    cr_assert_eq(v.data, a.data + 6, "rows of [5,2,3] are 6 floats long");
    cr_assert_null(v.owned);
    cr_assert_eq(v.ndim, 3);
    cr_assert_eq(v.shape[0], 3);
    cr_assert_eq(v.shape[1], 2);
    cr_assert_eq(v.shape[2], 3);
    cr_assert_eq(v.size, 18);
    cr_assert(v.data[0] == 6.0f && v.data[17] == 23.0f);
    cr_assert_eq(tg_tensor_rows(&v, &a, 4, 1, NULL), TG_OK, "the last row alone");
    cr_assert(v.data[5] == 29.0f);

    tg_error err = {0};
    cr_assert_eq(tg_tensor_rows(&v, &a, 3, 3, &err), TG_ERR_ARG);
    cr_assert_str_eq(err.msg, "tensor_rows: rows [3, 3+3) outside [5,2,3]");
    cr_assert_eq(tg_tensor_rows(&v, &a, 2, 0, &err), TG_ERR_ARG, "an empty view is not a tensor");
    cr_assert_eq(tg_tensor_rows(&v, &a, 6, 1, &err), TG_ERR_ARG);
    cr_assert_eq(tg_tensor_rows(&v, &a, 1, SIZE_MAX, &err), TG_ERR_ARG, "row0 + nrows must not wrap around");
    tg_tensor_free(&v);
    tg_tensor_free(&a);
}

Test(tensor, wrap_views_caller_memory)
{
    float buf[12];
    for (int i = 0; i < 12; i++)
        buf[i] = (float)i;
    tg_tensor v;
    cr_assert_eq(tg_tensor_wrap(&v, buf, 2, (size_t[]){3, 4}, NULL), TG_OK);
    cr_assert_eq(v.data, buf);
    cr_assert_null(v.owned);
    cr_assert_eq(v.size, 12);
    cr_assert_eq(tg_tensor_ncols(&v), 4);
    tg_tensor_free(&v); /* must not free stack memory */
    cr_assert(is_empty(&v));
    cr_assert(buf[11] == 11.0f);

    tg_error err = {0};
    cr_assert_eq(tg_tensor_wrap(&v, NULL, 1, (size_t[]){3}, &err), TG_ERR_ARG);
    cr_assert_str_eq(err.msg, "tensor_wrap: data is NULL");
    cr_assert_eq(tg_tensor_wrap(&v, buf, 0, (size_t[]){3}, &err), TG_ERR_SHAPE);
    cr_assert_eq(tg_tensor_wrap(&v, buf, 2, (size_t[]){0, 3}, &err), TG_ERR_SHAPE);
    cr_assert_str_eq(err.msg, "tensor: dimension 0 is 0");
}

Test(tensor, free_is_safe_on_empty_and_null)
{
    tg_tensor t;
    memset(&t, 0, sizeof t);
    tg_tensor_free(&t);
    cr_assert(is_empty(&t));
    tg_tensor_free(NULL);
    tg_tensor_zeros1(&t, 3, NULL);
    tg_tensor_free(&t);
    tg_tensor_free(&t); /* a second free sees an empty tensor */
    cr_assert(is_empty(&t));
}

/* ---- shape strings and printing ---------------------------------------------------------- */

Test(tensor, shape_strings)
{
    char buf[64];
    cr_assert_str_eq(tg_shape_str(buf, sizeof buf, 2, (size_t[]){32, 784}), "[32,784]");
    cr_assert_str_eq(tg_shape_str(buf, sizeof buf, 1, (size_t[]){5}), "[5]");
    cr_assert_str_eq(tg_shape_str(buf, sizeof buf, 4, (size_t[]){1, 2, 3, 4}), "[1,2,3,4]");
    cr_assert_str_eq(tg_shape_str(buf, sizeof buf, 0, NULL), "[]");
    tg_tensor t;
    tg_tensor_zeros(&t, 3, (size_t[]){7, 1, 9}, NULL);
    cr_assert_str_eq(tg_tensor_shape_str(buf, sizeof buf, &t), "[7,1,9]");
    tg_tensor_free(&t);
}

Test(tensor, shape_string_truncates_safely)
{
    char buf[8];
    memset(buf, 'x', sizeof buf);
    tg_shape_str(buf, 5, 2, (size_t[]){32, 784});
    cr_assert_eq(strlen(buf), 4, "truncated to the buffer, always NUL-terminated");
    cr_assert(strncmp(buf, "[32,", 4) == 0);
    cr_assert_eq(buf[5], 'x', "nothing written past buflen");
    char one = 'q';
    tg_shape_str(&one, 1, 2, (size_t[]){3, 4});
    cr_assert_eq(one, '\0');
    tg_shape_str(&one, 0, 2, (size_t[]){3, 4}); /* buflen 0: nothing written */
}

Test(tensor, same_shape)
{
    tg_tensor a, b, c;
    tg_tensor_zeros2(&a, 2, 3, NULL);
    tg_tensor_zeros2(&b, 2, 3, NULL);
    tg_tensor_zeros1(&c, 6, NULL);
    cr_assert(tg_tensor_same_shape(&a, &b));
    cr_assert(!tg_tensor_same_shape(&a, &c), "same element count is not the same shape");
    tg_tensor_free(&a);
    tg_tensor_free(&b);
    tg_tensor_free(&c);
}

Test(tensor, print_shows_shape_and_values)
{
    char out[256] = {0};
    FILE *f = fmemopen(out, sizeof out - 1, "w");
    cr_assert_not_null(f);
    float v[] = {1, 2, 3, 4.5f};
    tg_tensor t;
    tg_tensor_wrap(&t, v, 2, (size_t[]){2, 2}, NULL);
    tg_tensor_print(f, "x", &t, 10);
    tg_tensor_print(f, NULL, &t, 3);
    fclose(f);
    cr_assert_str_eq(out, "x [2,2]\n  1 2\n  3 4.5\ntensor [2,2]\n  1 2\n  3 ...\n");
}
