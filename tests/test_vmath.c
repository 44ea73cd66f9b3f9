/* tests/test_vmath.c — the vectorizable tg_expf against its twin, libm's expf. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "tensor/vmath.h"

static int64_t ulp_distance(float a, float b)
{
    int32_t ia, ib;
    memcpy(&ia, &a, sizeof ia);
    memcpy(&ib, &b, sizeof ib);
    return ia > ib ? (int64_t)ia - ib : (int64_t)ib - ia;
}

Test(vmath, expf_within_two_ulp_of_libm)
{
    /* Every 97th float from -103.9 to 88.7 (denormal results included): about 2e7 arguments. */
    int64_t worst = 0;
    float worst_x = 0.0f;
    uint32_t lo_bits, hi_bits;
    for (int sign = 0; sign < 2; sign++) {
        float limit = sign ? -103.9f : 88.7f;
        memcpy(&hi_bits, &limit, sizeof hi_bits);
        lo_bits = sign ? 0x80000000u : 0u;
        for (uint32_t bits = lo_bits; bits < hi_bits; bits += 97) {
            float x;
            memcpy(&x, &bits, sizeof x);
            int64_t d = ulp_distance(tg_expf(x), expf(x));
            if (d > worst) {
                worst = d;
                worst_x = x;
            }
        }
    }
    cr_assert_leq(worst, 2, "tg_expf is %lld ulp from expf at x = %.9g", (long long)worst, (double)worst_x);
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
