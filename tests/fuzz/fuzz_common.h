/* tests/fuzz/fuzz_common.h — what every fuzz target checks about a returned error.
 *
 * The sanitizers catch crashes, out-of-bounds accesses, leaks and undefined behaviour; these
 * checks catch broken contracts, by aborting (the only way to report to libFuzzer).  A failed
 * call must leave a message that `cae` can print as the ONE stderr line of shared/spec/cli.md:
 * not empty, starting with the label that names the input, with no newline in it, and with the
 * code the function returned.
 *
 * FUZZ_ALLOW_NEWLINE_IN_MESSAGES (define it only to look past a known, reported finding): skips
 * the newline check. */
#ifndef TG_FUZZ_COMMON_H
#define TG_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/error.h"

/* Aborts with a reason on stderr: libFuzzer then saves the input as a crash artifact. */
static inline void fuzz_fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz contract broken: %s: %s\n", what, detail ? detail : "");
    abort();
}

/* The checks on a failure (rc != TG_OK) of a call given `label`. */
static inline void fuzz_check_error(int rc, const tg_error *err, const char *label)
{
    if (err->code != rc)
        fuzz_fail("tg_error.code differs from the returned code", err->msg);
    if (err->msg[0] == '\0')
        fuzz_fail("empty error message", label);
    if (strncmp(err->msg, label, strlen(label)) != 0)
        fuzz_fail("the message does not start with the input's name", err->msg);
#ifndef FUZZ_ALLOW_NEWLINE_IN_MESSAGES
    if (strchr(err->msg, '\n'))
        fuzz_fail("newline in an error message (cae would print two lines)", err->msg);
#endif
}

#endif
