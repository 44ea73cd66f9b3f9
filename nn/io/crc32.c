/* nn/io/crc32.c — CRC-32 for checkpoints, gzip members and PNG chunks (see crc32.h). */
#include "crc32.h"

#include <pthread.h>

/* Table-driven, eight bytes a step ("slicing-by-8"): table[k][b] is the CRC register after byte
 * b followed by k zero bytes, so the eight lookups of a step are independent and the processor
 * overlaps them, where the byte-at-a-time loop waits on each lookup before the next (a
 * Fashion-MNIST training file is 47 MB whose CRC gzip makes us check at every start).  The
 * tables are built once, on first use.  pthread_once, not a plain flag: two threads' first
 * checksums may run at once (a checkpoint saved while a PNG is written), and without the
 * barrier one could see the flag before the tables on a weakly ordered processor (AArch64).
 * tests/test_crc32.c holds the bit-at-a-time definition this must equal, at every length and
 * alignment. */
static uint32_t crc_table[8][256];
static pthread_once_t crc_table_once = PTHREAD_ONCE_INIT;

static void build_tables(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[0][n] = c;
    }
    for (int k = 1; k < 8; k++)
        for (uint32_t n = 0; n < 256; n++)
            crc_table[k][n] = (crc_table[k - 1][n] >> 8) ^ crc_table[0][crc_table[k - 1][n] & 0xFFu];
}

/* Four bytes as a little-endian word, on any processor (the compiler makes it one load). */
static inline uint32_t le32(const unsigned char *p)
{
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint32_t tg_crc32(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&crc_table_once, build_tables);
    const unsigned char *p = buf;
    crc = ~crc; /* init 0xFFFFFFFF on the first call, and undo the final xor on later ones */
    for (; len >= 8; p += 8, len -= 8) {
        const uint32_t lo = crc ^ le32(p), hi = le32(p + 4);
        crc = crc_table[7][lo & 0xFFu] ^ crc_table[6][(lo >> 8) & 0xFFu] ^ crc_table[5][(lo >> 16) & 0xFFu] ^
              crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xFFu] ^ crc_table[2][(hi >> 8) & 0xFFu] ^
              crc_table[1][(hi >> 16) & 0xFFu] ^ crc_table[0][hi >> 24];
    }
    for (; len > 0; p++, len--)
        crc = crc_table[0][(crc ^ *p) & 0xFFu] ^ (crc >> 8);
    return ~crc;
}
