/* tests/test_rng.c — the PCG32 generator: published reference outputs, reproducibility, and the
 * ranges and rough statistics of every derived distribution. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/rng.h"

enum { DRAWS = 100000 };

Test(rng, matches_the_published_pcg32_demo)
{
    /* The first outputs printed by the reference implementation's pcg32-demo (O'Neill's
     * pcg-c-basic), which seeds with pcg32_srandom_r(&rng, 42u, 54u). */
    static const uint32_t expected[] = {0xa15c02b7u, 0x7b47f409u, 0xba1d3330u,
                                        0x83d2f293u, 0xbfa4784bu, 0xcbed606eu};
    tg_rng rng;
    tg_rng_seed(&rng, 42, 54);
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        uint32_t got = tg_rng_u32(&rng);
        cr_assert_eq(got, expected[i], "output %zu: 0x%08x, expected 0x%08x", i, got, expected[i]);
    }
}

Test(rng, same_seed_same_sequence)
{
    tg_rng a, b;
    tg_rng_seed(&a, 1234, 5);
    tg_rng_seed(&b, 1234, 5);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(tg_rng_u32(&a), tg_rng_u32(&b), "draw %d", i);
    /* the derived draws follow the same stream */
    cr_assert(tg_rng_uniform(&a) == tg_rng_uniform(&b));
    cr_assert(tg_rng_normal(&a) == tg_rng_normal(&b));
    cr_assert_eq(tg_rng_below(&a, 1000), tg_rng_below(&b, 1000));
}

/* How many of the first n draws of two generators agree position by position. */
static int agreements(tg_rng *a, tg_rng *b, int n)
{
    int same = 0;
    for (int i = 0; i < n; i++)
        same += tg_rng_u32(a) == tg_rng_u32(b);
    return same;
}

Test(rng, different_streams_and_seeds_differ)
{
    tg_rng a, b;
    tg_rng_seed(&a, 1234, 5);
    tg_rng_seed(&b, 1234, 6);
    cr_assert_leq(agreements(&a, &b, 1000), 2, "streams 5 and 6 of one seed look alike");
    tg_rng_seed(&a, 1234, 5);
    tg_rng_seed(&b, 1235, 5);
    cr_assert_leq(agreements(&a, &b, 1000), 2, "seeds 1234 and 1235 look alike");
}

Test(rng, uniform_in_unit_interval)
{
    tg_rng rng;
    tg_rng_seed(&rng, 7, 0);
    double sum = 0.0, sum2 = 0.0;
    float lo = 1.0f, hi = 0.0f;
    for (int i = 0; i < DRAWS; i++) {
        float u = tg_rng_uniform(&rng);
        cr_assert(u >= 0.0f && u < 1.0f, "draw %d = %.9g outside [0,1)", i, (double)u);
        lo = fminf(lo, u);
        hi = fmaxf(hi, u);
        sum += u;
        sum2 += (double)u * u;
    }
    double mean = sum / DRAWS, var = sum2 / DRAWS - mean * mean;
    cr_assert(fabs(mean - 0.5) < 0.01, "mean %g", mean);
    cr_assert(fabs(var - 1.0 / 12.0) < 0.005, "variance %g (1/12 expected)", var);
    cr_assert(lo < 0.001f && hi > 0.999f, "the draws do not cover [0,1): [%g, %g]", (double)lo, (double)hi);
}

Test(rng, below_stays_in_bounds)
{
    static const uint32_t bounds[] = {1, 2, 3, 7, 1000, 0x80000001u, 0xFFFFFFFFu};
    tg_rng rng;
    tg_rng_seed(&rng, 99, 3);
    for (size_t b = 0; b < sizeof bounds / sizeof bounds[0]; b++)
        for (int i = 0; i < 10000; i++) {
            uint32_t x = tg_rng_below(&rng, bounds[b]);
            cr_assert_lt(x, bounds[b], "tg_rng_below(%u) = %u", bounds[b], x);
        }
    for (int i = 0; i < 100; i++)
        cr_assert_eq(tg_rng_below(&rng, 1), 0);
}

Test(rng, below_is_roughly_uniform)
{
    enum { BINS = 10 };
    int count[BINS] = {0};
    tg_rng rng;
    tg_rng_seed(&rng, 2024, 1);
    for (int i = 0; i < DRAWS; i++)
        count[tg_rng_below(&rng, BINS)]++;
    /* chi-square with 9 degrees of freedom: 27.9 is its 0.999 quantile */
    double expected = (double)DRAWS / BINS, chi2 = 0.0;
    for (int k = 0; k < BINS; k++)
        chi2 += (count[k] - expected) * (count[k] - expected) / expected;
    cr_assert_lt(chi2, 27.9, "chi-square %g over %d bins", chi2, BINS);

    /* bound 3·2^30: plain modulo of a u32 would put 62.5% of the draws in the lower half */
    int lower = 0;
    for (int i = 0; i < 30000; i++)
        lower += tg_rng_below(&rng, 0xC0000000u) < 0x60000000u;
    cr_assert(fabs(lower / 30000.0 - 0.5) < 0.02, "lower half share %g", lower / 30000.0);
}

Test(rng, normal_mean_and_variance)
{
    tg_rng rng;
    tg_rng_seed(&rng, 3, 14);
    double sum = 0.0, sum2 = 0.0;
    int beyond3 = 0;
    for (int i = 0; i < DRAWS; i++) {
        float z = tg_rng_normal(&rng);
        cr_assert(isfinite(z), "draw %d is not finite", i);
        sum += z;
        sum2 += (double)z * z;
        beyond3 += fabsf(z) > 3.0f;
    }
    double mean = sum / DRAWS, var = sum2 / DRAWS - mean * mean;
    cr_assert(fabs(mean) < 0.02, "mean %g", mean);
    cr_assert(fabs(var - 1.0) < 0.03, "variance %g", var);
    /* P(|z| > 3) = 0.0027: about 270 of 100000 */
    cr_assert(beyond3 > 150 && beyond3 < 400, "%d draws beyond 3 sigma", beyond3);
}

Test(rng, fills_respect_range_and_scale)
{
    enum { N = 50000 };
    float *x = malloc(N * sizeof(float));
    cr_assert_not_null(x);
    tg_rng rng;
    tg_rng_seed(&rng, 11, 11);
    tg_rng_fill_uniform(&rng, x, N, -3.0f, 5.0f);
    double sum = 0.0;
    for (int i = 0; i < N; i++) {
        cr_assert(x[i] >= -3.0f && x[i] < 5.0f, "x[%d] = %g", i, (double)x[i]);
        sum += x[i];
    }
    cr_assert(fabs(sum / N - 1.0) < 0.05, "mean %g", sum / N);

    tg_rng_fill_normal(&rng, x, N, 10.0f, 0.5f);
    double s = 0.0, s2 = 0.0;
    for (int i = 0; i < N; i++) {
        s += x[i];
        s2 += (double)x[i] * x[i];
    }
    double mean = s / N, sd = sqrt(s2 / N - mean * mean);
    cr_assert(fabs(mean - 10.0) < 0.02, "mean %g", mean);
    cr_assert(fabs(sd - 0.5) < 0.02, "standard deviation %g", sd);
    free(x);
}

static int compare_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

Test(rng, shuffle_is_a_reproducible_permutation)
{
    enum { N = 100 };
    uint32_t a[N], b[N], sorted[N];
    for (uint32_t i = 0; i < N; i++)
        a[i] = b[i] = i;
    tg_rng r1, r2;
    tg_rng_seed(&r1, 5, 5);
    tg_rng_seed(&r2, 5, 5);
    tg_rng_shuffle_u32(&r1, a, N);
    tg_rng_shuffle_u32(&r2, b, N);
    cr_assert(memcmp(a, b, sizeof a) == 0, "same seed, different shuffle");
    int fixed = 0;
    for (uint32_t i = 0; i < N; i++)
        fixed += a[i] == i;
    cr_assert_lt(fixed, 10, "%d of %d elements did not move", fixed, N); /* about 1 expected */
    memcpy(sorted, a, sizeof a);
    qsort(sorted, N, sizeof sorted[0], compare_u32);
    for (uint32_t i = 0; i < N; i++)
        cr_assert_eq(sorted[i], i, "not a permutation: %u missing", i);

    /* every element can land anywhere: position 0 over many shuffles of 4 */
    int first[4] = {0};
    for (int t = 0; t < 4000; t++) {
        uint32_t s[4] = {0, 1, 2, 3};
        tg_rng_shuffle_u32(&r1, s, 4);
        first[s[0]]++;
    }
    for (int k = 0; k < 4; k++)
        cr_assert(first[k] > 800 && first[k] < 1200, "element %d first %d times of 4000", k, first[k]);

    uint32_t one = 42;
    tg_rng_shuffle_u32(&r1, &one, 1);
    cr_assert_eq(one, 42);
    tg_rng_shuffle_u32(&r1, NULL, 0); /* nothing to do */
}
