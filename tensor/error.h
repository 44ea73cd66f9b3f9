/* tensor/error.h — errors are values.
 *
 * Every fallible library function takes a `tg_error *err` (which may be NULL) and returns an
 * error code (TG_OK == 0 on success), or NULL for constructors.  On failure the message names
 * the function and the values involved, e.g.
 *     "matmul: [32,784] x [64,784]: inner dimensions differ"
 * Library code never aborts and never prints. */
#ifndef TG_ERROR_H
#define TG_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum tg_error_code {
    TG_OK = 0,
    TG_ERR_ARG,     /* a bad argument: negative size, unknown option, NaN where a number is needed */
    TG_ERR_SHAPE,   /* shapes that do not fit together */
    TG_ERR_NOMEM,   /* an allocation failed or a size overflowed */
    TG_ERR_IO,      /* a file could not be opened, read or written */
    TG_ERR_FORMAT,  /* a file's contents are malformed */
    TG_ERR_NUMERIC, /* a NaN or Inf where a finite value is required */
    TG_ERR_STATE,   /* an operation that the object's state does not allow */
};

#include <stdarg.h>

#define TG_ERROR_MSG_MAX 384

typedef struct tg_error {
    int code;
    char msg[TG_ERROR_MSG_MAX];
} tg_error;

/* Records an error in `err` (if not NULL) and returns `code`, so callers can write
 * `return tg_error_set(err, TG_ERR_ARG, "dense: in=%zu", in);` */
int tg_error_set(tg_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The same with the arguments as a va_list, and the message after "prefix: " when prefix is not
 * NULL (a decoder's or a file's name): every formatted error goes through here. */
int tg_error_vset(tg_error *err, int code, const char *prefix, const char *fmt, va_list ap);

/* Clears `err` to TG_OK with an empty message. */
void tg_error_clear(tg_error *err);

/* Name of an error code, e.g. "shape". */
const char *tg_error_code_name(int code);

#ifdef __cplusplus
}
#endif

#endif
