/* bench/bench_median.h — the median the benchmarks report: one of repeated timings, robust to
 * the spikes a shared machine adds. */
#ifndef TG_BENCH_MEDIAN_H
#define TG_BENCH_MEDIAN_H

#include <stddef.h>
#include <stdlib.h>

static inline int bench_compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of values[0..n) (n >= 1; the upper one of the middle two for even n), sorting
 * them in place. */
static inline double bench_median(double *values, size_t n)
{
    qsort(values, n, sizeof *values, bench_compare_doubles);
    return values[n / 2];
}

#endif
