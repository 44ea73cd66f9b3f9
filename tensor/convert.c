/* tensor/convert.c — bytes to floats in [0, 1]: the reference and the AVX2/AVX-512 paths (see
 * convert.h for why a multiply and two FMAs give the division's bits). */
#include "convert.h"

#if defined(TG_HAVE_X86_SIMD)
#include <immintrin.h>
#endif

void tg_bytes_to_unit_floats_ref(const uint8_t *src, size_t n, float *dst)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (float)src[i] / 255.0f;
}

#if defined(TG_HAVE_X86_SIMD)

static const float RECIPROCAL_255 = 1.0f / 255.0f;

// src [n] bytes -> dst [n] floats, 16 at a time; the tail through the reference
__attribute__((target("avx512f"))) static void bytes_to_unit_floats_avx512(const uint8_t *src, size_t n, float *dst)
{
    const __m512 c = _mm512_set1_ps(RECIPROCAL_255), k = _mm512_set1_ps(255.0f);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 x = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(src + i))));
        __m512 q = _mm512_mul_ps(x, c);
        __m512 r = _mm512_fnmadd_ps(q, k, x); /* x - 255·q, exact */
        _mm512_storeu_ps(dst + i, _mm512_fmadd_ps(r, c, q));
    }
    tg_bytes_to_unit_floats_ref(src + i, n - i, dst + i);
}

// the same, 8 at a time
__attribute__((target("avx2,fma"))) static void bytes_to_unit_floats_avx2(const uint8_t *src, size_t n, float *dst)
{
    const __m256 c = _mm256_set1_ps(RECIPROCAL_255), k = _mm256_set1_ps(255.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(src + i))));
        __m256 q = _mm256_mul_ps(x, c);
        __m256 r = _mm256_fnmadd_ps(q, k, x);
        _mm256_storeu_ps(dst + i, _mm256_fmadd_ps(r, c, q));
    }
    tg_bytes_to_unit_floats_ref(src + i, n - i, dst + i);
}

#endif

void tg_bytes_to_unit_floats_path(tg_simd_path path, const uint8_t *src, size_t n, float *dst)
{
    path = tg_simd_resolve(path);
#if defined(TG_HAVE_X86_SIMD)
    if (path == TG_PATH_AVX512) {
        bytes_to_unit_floats_avx512(src, n, dst);
        return;
    }
    if (path == TG_PATH_AVX2) {
        bytes_to_unit_floats_avx2(src, n, dst);
        return;
    }
#endif
    tg_bytes_to_unit_floats_ref(src, n, dst);
}

void tg_bytes_to_unit_floats(const uint8_t *src, size_t n, float *dst)
{
    tg_bytes_to_unit_floats_path(TG_PATH_AUTO, src, n, dst);
}
