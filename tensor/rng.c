#include "rng.h"

#include <math.h>

void tg_rng_seed(tg_rng *rng, uint64_t seed, uint64_t stream)
{
    /* The reference PCG32 seeding procedure. */
    rng->state = 0;
    rng->inc = (stream << 1u) | 1u;
    tg_rng_u32(rng);
    rng->state += seed;
    tg_rng_u32(rng);
}

uint32_t tg_rng_u32(tg_rng *rng)
{
    return tg_rng_next_u32(rng);
}

uint32_t tg_rng_below(tg_rng *rng, uint32_t bound)
{
    /* Reject the low values that would make some residues more likely than others. */
    uint32_t threshold = (-bound) % bound;
    for (;;) {
        uint32_t r = tg_rng_u32(rng);
        if (r >= threshold)
            return r % bound;
    }
}

float tg_rng_uniform(tg_rng *rng)
{
    return tg_rng_next_uniform(rng);
}

float tg_rng_normal(tg_rng *rng)
{
    /* u1 in (0, 1] so the log is finite. */
    double u1 = ((double)(tg_rng_u32(rng) >> 8) + 1.0) / 16777216.0;
    double u2 = (double)(tg_rng_u32(rng) >> 8) / 16777216.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void tg_rng_fill_uniform(tg_rng *rng, float *x, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * tg_rng_uniform(rng);
}

void tg_rng_fill_normal(tg_rng *rng, float *x, size_t n, float mean, float stddev)
{
    for (size_t i = 0; i < n; i++)
        x[i] = mean + stddev * tg_rng_normal(rng);
}

void tg_rng_shuffle_u32(tg_rng *rng, uint32_t *a, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = tg_rng_below(rng, (uint32_t)i);
        uint32_t tmp = a[i - 1];
        a[i - 1] = a[j];
        a[j] = tmp;
    }
}
