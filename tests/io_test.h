/* tests/io_test.h — what the tests of nn/io/ share: a fresh scratch directory per test, whole
 * files written and read back, a byte buffer with little- and big-endian writers, and a CRC-32
 * computed one bit at a time (no table, nothing shared with nn/io/crc32.c), so that files the
 * tests assemble by hand do not depend on the code under test.
 *
 * Criterion runs every test in its own process, so one directory name per process is enough: a
 * suite sets .init = scratch_make, .fini = scratch_drop.  Everything here is static inline, so a
 * test file uses what it needs without warnings about the rest. */
#ifndef TG_TESTS_IO_TEST_H
#define TG_TESTS_IO_TEST_H

#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the scratch directory ------------------------------------------------------------------ */

static char scratch[PATH_MAX];

static inline void scratch_make(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(scratch, sizeof scratch, "%s/tg_test.XXXXXX", base && *base ? base : "/tmp");
    cr_assert_not_null(mkdtemp(scratch), "mkdtemp: %s", strerror(errno));
}

/* Removes dir and everything below it. */
static inline void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char *p = malloc(strlen(dir) + strlen(e->d_name) + 2);
        if (!p)
            break;
        sprintf(p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(p);
        else
            unlink(p);
        free(p);
    }
    closedir(d);
    rmdir(dir);
}

static inline void scratch_drop(void)
{
    if (scratch[0])
        remove_tree(scratch);
}

/* A skipped test does not reach its suite's .fini: this one cleans up first. */
#define scratch_skip_test(...)                                                                       \
    do {                                                                                             \
        scratch_drop();                                                                              \
        cr_skip_test(__VA_ARGS__);                                                                   \
    } while (0)

/* "<scratch>/name" in a rotating static buffer (four can be alive at once). */
static inline const char *scratch_path(const char *name)
{
    static char paths[4][PATH_MAX + 300];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, sizeof paths[0], "%s/%s", scratch, name);
    return p;
}

/* Entries of the scratch directory whose name contains `part` ("" counts them all). */
static inline int scratch_count(const char *part)
{
    DIR *d = opendir(scratch);
    cr_assert_not_null(d, "opendir %s: %s", scratch, strerror(errno));
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strstr(e->d_name, part))
            n++;
    closedir(d);
    return n;
}

/* ---- whole files ------------------------------------------------------------------------------ */

static inline void write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "fopen %s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(data, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

/* Writes `name` in the scratch directory; returns its path. */
static inline const char *scratch_file(const char *name, const void *data, size_t len)
{
    const char *path = scratch_path(name);
    write_bytes(path, data, len);
    return path;
}

/* The whole file, malloc'ed, with a NUL after its *len bytes (so a text file is a string). */
static inline unsigned char *read_bytes(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "fopen %s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0, got;
    unsigned char *buf = malloc(cap + 1);
    cr_assert_not_null(buf);
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            buf = realloc(buf, (cap *= 2) + 1);
            cr_assert_not_null(buf);
        }
    }
    fclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}

static inline bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- a byte buffer ---------------------------------------------------------------------------- */

typedef struct bytes {
    uint8_t p[16384];
    size_t len;
} bytes;

static inline void put(bytes *b, const void *data, size_t n)
{
    cr_assert_leq(n, sizeof b->p - b->len, "test buffer too small");
    if (n > 0) /* data may be NULL then */
        memcpy(b->p + b->len, data, n);
    b->len += n;
}

static inline void put_u8(bytes *b, unsigned v) { put(b, (uint8_t[]){(uint8_t)v}, 1); }

/* The low `nbytes` bytes of v, least significant first. */
static inline void put_le(bytes *b, uint32_t v, int nbytes)
{
    for (int i = 0; i < nbytes; i++)
        put_u8(b, (v >> (8 * i)) & 0xFF);
}

static inline void put_le16(bytes *b, unsigned v) { put_le(b, v, 2); }
static inline void put_le32(bytes *b, uint32_t v) { put_le(b, v, 4); }

static inline void put_be32(bytes *b, uint32_t v)
{
    for (int shift = 24; shift >= 0; shift -= 8)
        put_u8(b, (v >> shift) & 0xFF);
}

/* ---- CRC-32 (IEEE 802.3, reflected), one bit at a time: the textbook definition -------------- */

static inline uint32_t bitwise_crc32(const void *data, size_t n)
{
    const uint8_t *p = data;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}

#endif
