/* tensor/vmath.h — elementwise math the compiler can vectorize.
 *
 * libm's expf is a function call, so a loop over expf runs one element at a time. tg_expf uses
 * only +, −, ×, comparisons and integer bit moves, all inlined, so loops over it vectorize; with
 * -ffp-contract=off every lane computes exactly the scalar bits. Its twin is libm's expf, and
 * tests/test_vmath.c compares them across the whole float range. */
#ifndef TG_VMATH_H
#define TG_VMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* TG_VECTORIZE on a function with a hot elementwise loop: the compiler builds it three times
 * (AVX-512, AVX2, baseline x86-64) and the loader picks the best one for the processor (GCC
 * function multiversioning), since the library itself is compiled for baseline x86-64.  Every
 * version computes the same bits: the loops use only +, −, ×, ÷, sqrt and selects, which are
 * exactly rounded in any vector width, and -ffp-contract=off forbids fusing them. */
/* (GCC only: clang 14 does not emit the dispatcher for clones referenced from other files.) */
#if defined(TG_HAVE_X86_SIMD) && defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__)
#define TG_VECTORIZE __attribute__((target_clones("avx512f", "avx2", "default")))
/* For loops bound by division and square root, two builds, chosen at run time by
 * tg_divides512_here() (tensor/cpu.h): TG_VECTORIZE_DIVIDES, AVX2 at most, and
 * TG_VECTORIZE_DIVIDES512, AVX-512.  Whether the dividers gain from 512-bit vectors depends on
 * the processor, not only its instruction set: Zen 4 splits a 512-bit division in two and its
 * Adam update measured slower built for 512 bits than for 256, Zen 5's measured faster
 * (docs/performance.md).  TG_HAVE_DIVIDES512 says whether the second build exists. */
#define TG_VECTORIZE_DIVIDES __attribute__((target_clones("avx2", "default")))
/* (prefer-vector-width: a -mtune for Intel's AVX-512 processors would otherwise make it 256 bits) */
#define TG_VECTORIZE_DIVIDES512 __attribute__((target("avx512f,prefer-vector-width=512")))
#define TG_HAVE_DIVIDES512 1
#else
#define TG_VECTORIZE
#define TG_VECTORIZE_DIVIDES
#define TG_HAVE_DIVIDES512 0
#endif

/* e^x within 2 ulp of libm (denormal results included); +inf above 88.72, exactly 0 below
 * -103.97 (where e^x is under half the smallest denormal), NaN for NaN.
 *
 * e^x = 2^n · e^r with n = round(x·log2 e) and r = x − n·ln 2 in [−ln2/2, ln2/2]; ln 2 is split
 * in two parts (Cody and Waite) so r is exact; e^r is a degree-7 Taylor-like polynomial with
 * Cephes' minimax coefficients; 2^n is applied as 2^n1 · 2^n2, each built in the exponent bits,
 * so results near overflow (n = 128) and in the denormal range (n < -126) round only once. */
static inline float tg_expf(float x)
{
    const float max_arg = 88.72283f, min_arg = -103.972084f;
    float clamped = x > max_arg ? max_arg : (x < min_arg ? min_arg : x);
    clamped = clamped == clamped ? clamped : 0.0f; /* NaN: compute on 0 (converting NaN to int is UB) */
    /* Round to nearest by adding and subtracting 1.5·2^23 (exact for |x·log2 e| < 2^22). */
    const float shifter = 12582912.0f;
    float n = (clamped * 1.44269504088896341f + shifter) - shifter;
    float r = (clamped - n * 0.693359375f) - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float er = (p * (r * r) + r) + 1.0f;
    int32_t n2 = n > 127.0f ? 1 : (n < -120.0f ? -64 : 0); /* keeps 2^n1 a normal float */
    int32_t n1 = (int32_t)n - n2;
    uint32_t bits1 = (uint32_t)(n1 + 127) << 23, bits2 = (uint32_t)(n2 + 127) << 23; /* both in 1..254 */
    float scale1, scale2;
    memcpy(&scale1, &bits1, sizeof scale1);
    memcpy(&scale2, &bits2, sizeof scale2);
    float y = (er * scale1) * scale2;
    y = x > max_arg ? (float)INFINITY : y;
    y = x < min_arg ? 0.0f : y;
    return x != x ? x : y; /* NaN in, NaN out */
}

/* ln x within 2 ulp of libm for positive normal x (NaN for x < 0 and NaN; -inf for ±0 and
 * denormals, which are treated as 0; +inf for +inf).  Cephes' logf: x = m·2^e with m in
 * [√½, √2), ln x = e·ln 2 + ln m, ln m = t − t²/2 + t³·P(t) for t = m − 1 (P of degree 8,
 * minimax), ln 2 split in two parts (Cody and Waite) so e·ln 2 adds without rounding error. */
static inline float tg_logf(float x)
{
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    int32_t e = (int32_t)((bits >> 23) & 0xffu) - 126; /* x = m·2^e, m in [0.5, 1) */
    uint32_t mbits = (bits & 0x007fffffu) | 0x3f000000u;
    float m;
    memcpy(&m, &mbits, sizeof m);
    const float sqrt_half = 0.707106781186547524f;
    e = m < sqrt_half ? e - 1 : e;
    float t = m < sqrt_half ? (m + m) - 1.0f : m - 1.0f; /* exact: m and 2m are within 2x of 1 */
    float p = 7.0376836292e-2f;
    p = p * t + -1.1514610310e-1f;
    p = p * t + 1.1676998740e-1f;
    p = p * t + -1.2420140846e-1f;
    p = p * t + 1.4249322787e-1f;
    p = p * t + -1.6668057665e-1f;
    p = p * t + 2.0000714765e-1f;
    p = p * t + -2.4999993993e-1f;
    p = p * t + 3.3333331174e-1f;
    float t2 = t * t;
    float fe = (float)e;
    float y = (t * t2) * p + fe * -2.12194440e-4f;
    y = y + -0.5f * t2;
    y = (t + y) + fe * 0.693359375f;
    y = x == (float)INFINITY ? x : y;
    y = (bits & 0x7fffffffu) < 0x00800000u ? -(float)INFINITY : y; /* ±0 and (positive) denormals */
    return x < 0.0f || x != x ? (float)NAN : y;
}

/* Sums in double over TG_SUM_LANES independent running sums, combined in a fixed order at
 * the end.  A single running sum cannot be vectorized without reassociating (which this
 * project never lets the compiler do); separate lanes can, and the order of every addition is
 * still fixed, so the result is the same bits on every machine and thread count. */
#define TG_SUM_LANES 8

static inline double combine_lanes(const double *lane)
{
    double total = 0.0;
    for (int l = 0; l < TG_SUM_LANES; l++)
        total += lane[l];
    return total;
}

/* Σ_k x_k */
static inline double lanes_sum(const float *x, size_t n)
{
    double lane[TG_SUM_LANES] = {0};
    size_t k = 0;
    for (; k + TG_SUM_LANES <= n; k += TG_SUM_LANES)
        for (int l = 0; l < TG_SUM_LANES; l++)
            lane[l] += (double)x[k + l];
    for (; k < n; k++)
        lane[k % TG_SUM_LANES] += (double)x[k];
    return combine_lanes(lane);
}

#endif
