/* tensor/convert.h — image bytes to floats in [0, 1].
 *
 *   dst[i] = src[i] / 255, correctly rounded (the bits of the float division)
 *
 * The division is the slow part of turning a batch of images into a tensor (a vector divide
 * holds the divider many times as long as a multiply takes), so the vector paths compute it
 * with a multiply and two fused multiply-adds instead:
 *     q = x·c  (c = 1/255 rounded),   r = x - 255·q  (exact, fused),   y = q + r·c  (fused)
 * the classic correction step of a reciprocal: it gives x/255 correctly rounded for every
 * byte x, which tests/test_convert.c checks for all 256.  The path is tg_simd_active()'s
 * (tensor/matmul.h), so TG_SIMD=scalar forces the reference. */
#ifndef TG_CONVERT_H
#define TG_CONVERT_H

#include <stddef.h>
#include <stdint.h>

#include "matmul.h"

void tg_bytes_to_unit_floats(const uint8_t *src, size_t n, float *dst);
/* On an explicit path (an unsupported one falls back to the reference). */
void tg_bytes_to_unit_floats_path(tg_simd_path path, const uint8_t *src, size_t n, float *dst);
/* The plain reference: one division per byte. */
void tg_bytes_to_unit_floats_ref(const uint8_t *src, size_t n, float *dst);

#endif
