/* tests/test_vmath.c — the vectorizable tg_expf and tg_logf against their twins, libm's expf and logf. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "emulated.h"
#include "tensor/vmath.h"

static int64_t ulp_distance(float a, float b)
{
    int32_t ia, ib;
    memcpy(&ia, &a, sizeof ia);
    memcpy(&ib, &b, sizeof ib);
    return ia > ib ? (int64_t)ia - ib : (int64_t)ib - ia;
}

/* Keeps the largest ulp distance seen so far between got and want, and the x it was seen at. */
typedef struct worst_case {
    int64_t ulps;
    float x;
} worst_case;

static void note_distance(worst_case *w, float x, float got, float want)
{
    int64_t d = ulp_distance(got, want);
    if (d > w->ulps) {
        w->ulps = d;
        w->x = x;
    }
}

Test(vmath, expf_within_two_ulp_of_libm)
{
    /* Every 97th float from -103.9 to 88.7 (denormal results included): about 2e7 arguments;
     * under an emulator every 389th. */
    const uint32_t stride = tg_test_emulated() ? 389 : 97;
    worst_case worst = {0, 0.0f};
    uint32_t lo_bits, hi_bits;
    for (int sign = 0; sign < 2; sign++) {
        float limit = sign ? -103.9f : 88.7f;
        memcpy(&hi_bits, &limit, sizeof hi_bits);
        lo_bits = sign ? 0x80000000u : 0u;
        for (uint32_t bits = lo_bits; bits < hi_bits; bits += stride) {
            float x;
            memcpy(&x, &bits, sizeof x);
            note_distance(&worst, x, tg_expf(x), expf(x));
        }
    }
    cr_assert_leq(worst.ulps, 2, "tg_expf is %lld ulp from expf at x = %.9g", (long long)worst.ulps, (double)worst.x);
}

Test(vmath, expf_limits_and_special_values)
{
    cr_assert_eq(tg_expf(0.0f), 1.0f);
    cr_assert_eq(tg_expf(-0.0f), 1.0f);
    cr_assert(isinf(tg_expf(89.0f)) && tg_expf(89.0f) > 0);
    cr_assert(isinf(tg_expf(1e4f)));
    cr_assert(isinf(tg_expf(INFINITY)));
    cr_assert_gt(tg_expf(-100.0f), 0.0f, "e^-100 = 3.7e-44 is a positive denormal");
    cr_assert_eq(tg_expf(-104.0f), 0.0f);
    cr_assert_eq(tg_expf(-1e4f), 0.0f);
    cr_assert_eq(tg_expf(-INFINITY), 0.0f);
    cr_assert(isnan(tg_expf(NAN)));
    cr_assert(isfinite(tg_expf(88.72283f)), "the largest argument with a finite result");
    cr_assert_leq(ulp_distance(tg_expf(88.72283f), expf(88.72283f)), 2);
}

/* tg_logf's twin is libm's logf: every 13th positive normal float (1.6e8 arguments; under an
 * emulator every 101st), and the neighbourhoods of the range reduction's boundaries (powers of
 * two and their √½ multiples). */
Test(vmath, logf_within_two_ulp_of_libm)
{
    const uint32_t stride = tg_test_emulated() ? 101 : 13;
    worst_case worst = {0, 0.0f};
    for (uint32_t bits = 0x00800000u; bits < 0x7f800000u; bits += stride) {
        float x;
        memcpy(&x, &bits, sizeof x);
        note_distance(&worst, x, tg_logf(x), logf(x));
    }
    for (int e = -126; e < 128; e++)
        for (int side = 0; side < 2; side++) {
            float centre = ldexpf(side ? 0.70710678f : 1.0f, e);
            for (int k = -64; k <= 64; k++) {
                float x = centre;
                for (int s = 0; s < (k < 0 ? -k : k); s++)
                    x = nextafterf(x, k < 0 ? 0.0f : INFINITY);
                if (x >= 1.17549435e-38f && !isinf(x))
                    note_distance(&worst, x, tg_logf(x), logf(x));
            }
        }
    cr_assert_leq(worst.ulps, 2, "tg_logf is %lld ulp from logf at x = %.9g", (long long)worst.ulps, (double)worst.x);
}

Test(vmath, logf_special_values)
{
    cr_assert_eq(tg_logf(1.0f), 0.0f);
    cr_assert_eq(tg_logf(2.0f), logf(2.0f));
    cr_assert(isinf(tg_logf(0.0f)) && tg_logf(0.0f) < 0);
    cr_assert(isinf(tg_logf(-0.0f)) && tg_logf(-0.0f) < 0);
    cr_assert(isinf(tg_logf(1e-40f)) && tg_logf(1e-40f) < 0, "denormals count as 0");
    cr_assert(isinf(tg_logf(INFINITY)) && tg_logf(INFINITY) > 0);
    cr_assert(isnan(tg_logf(-1.0f)));
    cr_assert(isnan(tg_logf(-INFINITY)));
    cr_assert(isnan(tg_logf(NAN)));
    cr_assert_leq(ulp_distance(tg_logf(3.40282347e38f), logf(3.40282347e38f)), 2, "the largest float");
    cr_assert_leq(ulp_distance(tg_logf(1.17549435e-38f), logf(1.17549435e-38f)), 2, "the smallest normal");
}
