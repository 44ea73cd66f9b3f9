#include "error.h"

#include <stdarg.h>
#include <stdio.h>

int tg_error_set(tg_error *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
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
