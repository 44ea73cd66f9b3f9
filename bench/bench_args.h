/* bench/bench_args.h — how the benchmarks read a number from their command lines: one check, one
 * message, so a typo ("--threads -1", "--batch 64x") stops the run instead of timing a default. */
#ifndef TG_BENCH_ARGS_H
#define TG_BENCH_ARGS_H

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

/* Whether `text` is a whole decimal number (digits only) from lo to hi; if so, *n is it. */
static inline bool bench_is_whole(const char *text, long lo, long hi, long *n)
{
    char *end = NULL;
    errno = 0;
    long v = isdigit((unsigned char)text[0]) ? strtol(text, &end, 10) : -1;
    if (errno || !end || *end != '\0' || v < lo || v > hi)
        return false;
    *n = v;
    return true;
}

/* The value `text` of option `option`: a whole number from lo to hi (bench_is_whole); else
 * one line naming the program and the option on stderr, and exit 2 (docs/cli.md's bad usage). */
static inline long bench_whole(const char *program, const char *option, const char *text, long lo, long hi)
{
    long n;
    if (!bench_is_whole(text, lo, hi, &n)) {
        fprintf(stderr, "%s: %s %s: must be a whole number from %ld to %ld\n", program, option, text, lo, hi);
        exit(2);
    }
    return n;
}

#endif
