/* nn/io/crc32.h — CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), the value zlib's crc32()
 * gives.  Running form: start with crc = 0 and feed consecutive buffers:
 *     uint32_t c = tg_crc32(0, a, na); c = tg_crc32(c, b, nb);   // == CRC of a||b
 * Internal (not installed): the checkpoint, gzip and PNG code share it. */
#ifndef TG_CRC32_H
#define TG_CRC32_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

uint32_t tg_crc32(uint32_t crc, const void *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
