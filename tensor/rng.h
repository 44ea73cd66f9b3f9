/* tensor/rng.h — a seeded random number generator with explicit state (PCG32, O'Neill 2014).
 *
 * Integer arithmetic only for the raw stream, so the same seed gives the same sequence on every
 * machine.  Floats are derived from the top 24 bits, normals by Box-Muller (computed in double,
 * no cached spare, so every call consumes exactly two u32 draws). */
#ifndef TG_RNG_H
#define TG_RNG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_rng {
    uint64_t state;
    uint64_t inc; /* stream selector; always odd */
} tg_rng;

/* Seeds the generator; different `stream` values give independent sequences for one seed. */
void tg_rng_seed(tg_rng *rng, uint64_t seed, uint64_t stream);
uint32_t tg_rng_u32(tg_rng *rng);
/* tg_rng_u32 inlined, for loops that draw millions of numbers (the same sequence). */
static inline uint32_t tg_rng_next_u32(tg_rng *rng)
{
    uint64_t old = rng->state;
    rng->state = old * 6364136223846793005ULL + rng->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31u));
}
/* tg_rng_uniform inlined: the top 24 bits as a float in [0, 1), a multiple of 2^-24. */
static inline float tg_rng_next_uniform(tg_rng *rng)
{
    return (float)(tg_rng_next_u32(rng) >> 8) * (1.0f / 16777216.0f);
}
/* Uniform integer in [0, bound) without modulo bias; bound must be >= 1. */
uint32_t tg_rng_below(tg_rng *rng, uint32_t bound);
/* Uniform float in [0, 1). */
float tg_rng_uniform(tg_rng *rng);
/* Standard normal N(0, 1). */
float tg_rng_normal(tg_rng *rng);
void tg_rng_fill_uniform(tg_rng *rng, float *x, size_t n, float lo, float hi);
void tg_rng_fill_normal(tg_rng *rng, float *x, size_t n, float mean, float stddev);
/* Fisher-Yates shuffle of a[0..n). */
void tg_rng_shuffle_u32(tg_rng *rng, uint32_t *a, size_t n);

#ifdef __cplusplus
}
#endif

#endif
