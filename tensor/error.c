#include "error.h"

#include <stdarg.h>
#include <stdio.h>

int tg_error_vset(tg_error *err, int code, const char *prefix, const char *fmt, va_list ap)
{
    if (err) {
        int used = prefix ? snprintf(err->msg, sizeof err->msg, "%s: ", prefix) : 0;
        if (used < 0 || (size_t)used >= sizeof err->msg)
            used = 0; /* a prefix that fills the message leaves room for nothing: drop it */
        vsnprintf(err->msg + used, sizeof err->msg - (size_t)used, fmt, ap);
        err->code = code;
    }
    return code;
}

int tg_error_set(tg_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tg_error_vset(err, code, NULL, fmt, ap);
    va_end(ap);
    return code;
}

void tg_error_clear(tg_error *err)
{
    if (err) {
        err->code = TG_OK;
        err->msg[0] = '\0';
    }
}

const char *tg_error_code_name(int code)
{
    switch (code) {
    case TG_OK: return "ok";
    case TG_ERR_ARG: return "argument";
    case TG_ERR_SHAPE: return "shape";
    case TG_ERR_NOMEM: return "memory";
    case TG_ERR_IO: return "io";
    case TG_ERR_FORMAT: return "format";
    case TG_ERR_NUMERIC: return "numeric";
    case TG_ERR_STATE: return "state";
    default: return "unknown";
    }
}
