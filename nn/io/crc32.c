/* nn/io/crc32.c — CRC-32 for checkpoints, gzip members and PNG chunks (see crc32.h). */
#include "crc32.h"

#include <pthread.h>

/* Table-driven, one byte at a time; the table is built once, on first use (256 entries).
 * pthread_once, not a plain flag: two threads' first checksums may run at once (a checkpoint
 * saved while a PNG is written), and without the barrier one could see the flag before the
 * table on a weakly ordered processor (AArch64). */
static uint32_t crc_table[256];
static pthread_once_t crc_table_once = PTHREAD_ONCE_INIT;

static void build_table(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[n] = c;
    }
}

uint32_t tg_crc32(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&crc_table_once, build_table);
    const unsigned char *p = buf;
    crc = ~crc; /* init 0xFFFFFFFF on the first call, and undo the final xor on later ones */
    for (size_t i = 0; i < len; i++)
        crc = crc_table[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
    return ~crc;
}
