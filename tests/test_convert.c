/* tests/test_convert.c — bytes to unit floats: every path gives the division's bits. */
#include <criterion/criterion.h>
#include <string.h>

#include "tensor/convert.h"

static const tg_simd_path PATHS[] = {TG_PATH_SCALAR, TG_PATH_AVX2, TG_PATH_AVX512, TG_PATH_NEON, TG_PATH_AUTO};

/* All 256 byte values, at every start offset and length up to 40 past them (vector bodies and
 * tails), against x / 255.0f computed here. */
Test(convert, every_byte_on_every_path_is_the_division)
{
    uint8_t src[256 + 64];
    float dst[256 + 64];
    for (size_t i = 0; i < sizeof src; i++)
        src[i] = (uint8_t)(i * 7 + 3); /* every value, not in order */
    for (size_t p = 0; p < sizeof PATHS / sizeof PATHS[0]; p++) {
        if (!tg_simd_supported(PATHS[p]))
            continue;
        for (size_t offset = 0; offset < 17; offset++)
            for (size_t n = 256; n <= 256 + 40; n += 13) {
                memset(dst, 0xff, sizeof dst);
                tg_bytes_to_unit_floats_path(PATHS[p], src + offset, n, dst);
                for (size_t i = 0; i < n; i++) {
                    float want = (float)src[offset + i] / 255.0f;
                    cr_assert(memcmp(&dst[i], &want, sizeof want) == 0, "%s: %u / 255 = %.9g, got %.9g",
                              tg_simd_name(PATHS[p]), src[offset + i], (double)want, (double)dst[i]);
                }
                static const uint8_t untouched[4] = {0xff, 0xff, 0xff, 0xff};
                for (size_t i = n; i < sizeof dst / sizeof dst[0]; i++)
                    cr_assert(memcmp(&dst[i], untouched, 4) == 0, "%s: wrote past n", tg_simd_name(PATHS[p]));
            }
    }
}

Test(convert, short_inputs)
{
    uint8_t src[3] = {0, 128, 255};
    float dst[3] = {-1.0f, -1.0f, -1.0f};
    tg_bytes_to_unit_floats(src, 0, dst);
    cr_assert_eq(dst[0], -1.0f);
    tg_bytes_to_unit_floats(src, 3, dst);
    cr_assert(dst[0] == 0.0f && dst[1] == 128.0f / 255.0f && dst[2] == 1.0f);
}
