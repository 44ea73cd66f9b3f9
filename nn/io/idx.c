/* nn/io/idx.c — IDX files (the MNIST container) and tg_dataset_load.
 *
 * IDX layout: 2 zero bytes, an element type byte (0x08 = unsigned byte, the only one accepted),
 * a dimension count byte, then one big-endian uint32 per dimension, then the elements.
 * Plain files are validated from their header and size before the data is read (so a huge or
 * broken file costs nothing), and only the kept images are read.  Gzip files are decompressed
 * whole by nn/io/gzip.c (tg_gunzip_file_checked, which stops at once when the decompressed
 * header is wrong), then validated the same way.  tg_idx_parse_mem takes a file image already
 * in memory (for the fuzzer) and runs the same header check (parse_header) and the same
 * decompressed-stream step (finish_decompressed); it does not replace the file path, which
 * streams: a plain file is never read past its header when the header is wrong, and a .gz file is
 * never held whole in its compressed form. */
#include "data.h"
#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "atomic_file.h"
#include "inflate.h"

#define IDX_TYPE_UBYTE 0x08
#define IDX_MAX_DIMS 4
#define IDX_MAX_HEADER (4 + 4 * IDX_MAX_DIMS)
#define HEADER_ONLY UINT64_MAX /* parse_header's total_len when only the header is at hand */

/* What the caller expects of a file: ndim 0 accepts any; `what` names the items in messages. */
typedef struct idx_expect {
    int ndim;
    const char *what;        /* "images", "labels" or NULL */
    uint64_t count;          /* dims[0] must be this (0: any): the labels' count, for the images */
    const char *count_path;  /* the file that gave `count`, which a mismatch names */
} idx_expect;

typedef struct idx_file {
    uint8_t *buffer;       /* malloc'ed: the header then the kept elements */
    const uint8_t *data;   /* buffer + header length */
    int ndim;
    size_t dims[IDX_MAX_DIMS];
    size_t kept;           /* leading items (along dims[0]) present in the buffer */
} idx_file;

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t ns = strlen(s), nx = strlen(suffix);
    return ns >= nx && strcmp(s + ns - nx, suffix) == 0;
}

/* "60000 images of 28x28", "60000 labels" or "60000x28x28 values" (for messages). */
static void describe_dims(char *buf, size_t len, const idx_expect *expect, int ndim, const uint64_t *dims)
{
    if (expect->what && ndim == 3) {
        snprintf(buf, len, "%llu %s of %llux%llu", (unsigned long long)dims[0], expect->what,
                 (unsigned long long)dims[1], (unsigned long long)dims[2]);
    } else if (expect->what && ndim == 1) {
        snprintf(buf, len, "%llu %s", (unsigned long long)dims[0], expect->what);
    } else {
        size_t used = 0;
        buf[0] = '\0';
        for (int i = 0; i < ndim && used < len; i++)
            used += (size_t)snprintf(buf + used, len - used, "%s%llu", i ? "x" : "", (unsigned long long)dims[i]);
        if (used < len)
            snprintf(buf + used, len - used, " values");
    }
}

/* Validates the header in bytes[0..avail) of a file (or decompressed stream) of total_len bytes,
 * fills f->ndim and f->dims and returns the header length in *header_len. */
static int parse_header(const char *path, const uint8_t *bytes, size_t avail, uint64_t total_len,
                        bool decompressed, const idx_expect *expect, idx_file *f, size_t *header_len,
                        tg_error *err)
{
    const char *whole = decompressed ? "the decompressed data" : "the file";
    if (avail < 4)
        return tg_file_error(err, TG_ERR_FORMAT, path, "truncated header: %s has %llu bytes", whole,
                         (unsigned long long)total_len);
    uint32_t magic = be32(bytes);
    unsigned type = bytes[2], ndim = bytes[3];
    if (expect->ndim) {
        uint32_t wanted = (uint32_t)IDX_TYPE_UBYTE << 8 | (uint32_t)expect->ndim;
        if (magic != wanted)
            return tg_file_error(err, TG_ERR_FORMAT, path, "bad magic 0x%08lx (expected 0x%08lx for %s)",
                             (unsigned long)magic, (unsigned long)wanted, expect->what ? expect->what : "this file");
    }
    if (bytes[0] != 0 || bytes[1] != 0)
        return tg_file_error(err, TG_ERR_FORMAT, path, "bad magic 0x%08lx (an IDX file starts with two zero bytes)",
                         (unsigned long)magic);
    if (type != IDX_TYPE_UBYTE)
        return tg_file_error(err, TG_ERR_FORMAT, path,
                         "bad magic 0x%08lx: element type 0x%02x is not supported (only unsigned byte, 0x08)",
                         (unsigned long)magic, type);
    if (ndim < 1 || ndim > IDX_MAX_DIMS)
        return tg_file_error(err, TG_ERR_FORMAT, path, "bad magic 0x%08lx: %u dimensions (expected 1..4)",
                         (unsigned long)magic, ndim);

    size_t header = 4 + 4 * (size_t)ndim;
    if (avail < header)
        return tg_file_error(err, TG_ERR_FORMAT, path, "truncated header: %s has %llu bytes, a %u-dimensional header needs %zu",
                         whole, (unsigned long long)total_len, ndim, header);
    uint64_t dims[IDX_MAX_DIMS];
    uint64_t count = 1;
    bool overflow = false;
    for (unsigned i = 0; i < ndim; i++) {
        dims[i] = be32(bytes + 4 + 4 * i);
        if (dims[i] == 0)
            return tg_file_error(err, TG_ERR_FORMAT, path, "dimension %u of %u is 0", i + 1, ndim);
        if (count > UINT64_MAX / dims[i])
            overflow = true;
        else
            count *= dims[i];
    }
    char described[160];
    describe_dims(described, sizeof described, expect, (int)ndim, dims);
    if (overflow || count > UINT64_MAX - header || count + header > SIZE_MAX)
        return tg_file_error(err, TG_ERR_FORMAT, path, "header says %s: the element count overflows 64 bits",
                         described);

    uint64_t expected_len = header + count;
    if (total_len == HEADER_ONLY)
        ; /* the caller compares the length itself */
    else if (total_len < expected_len)
        return tg_file_error(err, TG_ERR_FORMAT, path, "truncated: header says %s (%llu bytes) but %s has %llu bytes",
                         described, (unsigned long long)expected_len, whole, (unsigned long long)total_len);
    else if (total_len > expected_len)
        return tg_file_error(err, TG_ERR_FORMAT, path, "%llu trailing bytes after the data",
                         (unsigned long long)(total_len - expected_len));

    /* the header's own checks first, then this, still before the body is read (or inflated): a header that disagrees costs no memory */
    if (expect->count && dims[0] != expect->count)
        return tg_file_error(err, TG_ERR_FORMAT, expect->count_path, "images and labels disagree: %llu images, %llu labels",
                             (unsigned long long)dims[0], (unsigned long long)expect->count);
    f->ndim = (int)ndim;
    for (int i = 0; i < IDX_MAX_DIMS; i++)
        f->dims[i] = i < (int)ndim ? (size_t)dims[i] : 1;
    *header_len = header;
    return TG_OK;
}

/* Opens a regular, non-empty file for reading, without blocking on a FIFO (tg_open_regular).
 * *open_errno gets errno when open() itself fails (the caller falls back to ".gz" on ENOENT). */
static int open_regular_file(const char *path, FILE **out, off_t *size, int *open_errno, tg_error *err)
{
    *out = NULL;
    int fd;
    uint64_t bytes;
    int rc = tg_open_regular(path, "an IDX file", &fd, &bytes, open_errno, err);
    if (rc)
        return rc;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        rc = tg_file_error(err, TG_ERR_IO, path, "cannot open: %s", strerror(errno));
        close(fd);
        return rc;
    }
    *out = f;
    *size = (off_t)bytes;
    return TG_OK;
}

/* Reads exactly len bytes at the current position. */
static int read_exact(FILE *f, const char *path, uint8_t *buf, size_t len, tg_error *err)
{
    size_t got = fread(buf, 1, len, f);
    if (got == len)
        return TG_OK;
    if (ferror(f))
        return tg_file_error(err, TG_ERR_IO, path, "read error: %s", strerror(errno));
    return tg_file_error(err, TG_ERR_IO, path, "file shrank while being read");
}

static size_t item_bytes(const idx_file *f)
{
    size_t bytes = 1;
    for (int i = 1; i < f->ndim; i++)
        bytes *= f->dims[i];
    return bytes;
}

/* Plain file: header first, length check against the file size, then only the kept items. */
static int load_plain(FILE *file, const char *path, uint64_t size, const idx_expect *expect,
                      size_t keep_first, idx_file *f, tg_error *err)
{
    uint8_t header_bytes[IDX_MAX_HEADER];
    size_t avail = size < IDX_MAX_HEADER ? (size_t)size : IDX_MAX_HEADER;
    size_t header;
    int rc = read_exact(file, path, header_bytes, avail, err);
    if (rc || (rc = parse_header(path, header_bytes, avail, size, false, expect, f, &header, err)))
        return rc;
    f->kept = keep_first > 0 && keep_first < f->dims[0] ? keep_first : f->dims[0];
    size_t bytes = header + f->kept * item_bytes(f); /* <= size, so no overflow */
    f->buffer = malloc(bytes);
    if (!f->buffer)
        return tg_file_error(err, TG_ERR_NOMEM, path, "cannot allocate %zu bytes", bytes);
    memcpy(f->buffer, header_bytes, header);
    if (fseeko(file, (off_t)header, SEEK_SET) != 0)
        rc = tg_file_error(err, TG_ERR_IO, path, "cannot seek: %s", strerror(errno));
    else
        rc = read_exact(file, path, f->buffer + header, bytes - header, err);
    if (rc) {
        free(f->buffer);
        f->buffer = NULL;
        return rc;
    }
    f->data = f->buffer + header;
    return TG_OK;
}

/* Takes the whole decompressed stream `buffer` (len bytes, malloc'ed; owned from here on, freed
 * on failure): validates it, then gives back the memory of the items past keep_first.  Shared by
 * .gz files and gzip images in memory, so both run the same checks. */
static int finish_decompressed(const char *path, uint8_t *buffer, size_t len, const idx_expect *expect,
                               size_t keep_first, idx_file *f, tg_error *err)
{
    size_t header;
    int rc = parse_header(path, buffer, len, len, true, expect, f, &header, err);
    if (rc) {
        free(buffer);
        return rc;
    }
    f->kept = keep_first > 0 && keep_first < f->dims[0] ? keep_first : f->dims[0];
    size_t bytes = header + f->kept * item_bytes(f);
    if (bytes < len) {
        uint8_t *smaller = realloc(buffer, bytes);
        if (smaller) /* on failure the larger block simply stays */
            buffer = smaller;
    }
    f->buffer = buffer;
    f->data = buffer + header;
    return TG_OK;
}

typedef struct head_check {
    const char *path;
    const idx_expect *expect;
} head_check;

/* The IDX header, as soon as the decompressed stream holds it, against the trailer's ISIZE: a
 * header that disagrees (a bomb announcing 60000x28x28 in a stream of 1 GiB) is refused before
 * the output grows past its first megabyte. */
static int check_gzip_head(void *ctx, const uint8_t *head, size_t n, uint64_t *announced, tg_error *err)
{
    const head_check *h = ctx;
    idx_file f = {0};
    size_t header = 0;
    int rc = parse_header(h->path, head, n < IDX_MAX_HEADER ? n : IDX_MAX_HEADER, HEADER_ONLY, true, h->expect, &f,
                          &header, err);
    if (rc == TG_OK) {
        uint64_t count = 1;
        for (int i = 0; i < f.ndim; i++)
            count *= f.dims[i]; /* parse_header proved the product does not overflow */
        *announced = header + count;
    }
    return rc;
}

/* Gzip file: decompress everything (so the CRC covers it all), then validate. */
static int load_gzip(FILE *file, const char *path, const idx_expect *expect, size_t keep_first,
                     idx_file *f, tg_error *err)
{
    uint8_t *buffer;
    size_t len;
    head_check h = {path, expect};
    int rc = tg_gunzip_file_checked(file, path, TG_IDX_MAX_BYTES, IDX_MAX_HEADER, check_gzip_head, &h, &buffer, &len,
                                    err);
    if (rc)
        return rc;
    return finish_decompressed(path, buffer, len, expect, keep_first, f, err);
}

/* Opens and reads one IDX file, plain or gzip (by its magic). */
static int idx_load(const char *path, const idx_expect *expect, size_t keep_first, idx_file *f,
                    int *open_errno, tg_error *err)
{
    memset(f, 0, sizeof *f);
    FILE *file;
    off_t size = 0;
    int rc = open_regular_file(path, &file, &size, open_errno, err);
    if (rc)
        return rc;
    uint8_t magic[2] = { 0, 0 };
    size_t got = fread(magic, 1, 2, file);
    if (ferror(file)) {
        rc = tg_file_error(err, TG_ERR_IO, path, "read error: %s", strerror(errno));
    } else {
        bool is_gzip = got == 2 && magic[0] == 0x1F && magic[1] == 0x8B;
        rewind(file);
        if (is_gzip)
            rc = load_gzip(file, path, expect, keep_first, f, err);
        else if (ends_with(path, ".gz"))
            rc = tg_file_error(err, TG_ERR_FORMAT, path, "not a gzip file");
        else
            rc = load_plain(file, path, (uint64_t)size, expect, keep_first, f, err);
    }
    fclose(file);
    return rc;
}

/* Hands a loaded file to the caller of tg_idx_read / tg_idx_parse_mem. */
static void export_file(const idx_file *f, uint8_t **buffer_out, const uint8_t **data_out, int *ndim_out,
                        size_t dims_out[4])
{
    *buffer_out = f->buffer;
    *data_out = f->data;
    *ndim_out = f->ndim;
    for (int i = 0; i < IDX_MAX_DIMS; i++)
        dims_out[i] = f->dims[i];
}

int tg_idx_read(const char *path, uint8_t **buffer_out, const uint8_t **data_out, int *ndim_out,
                size_t dims_out[4], tg_error *err)
{
    *buffer_out = NULL;
    *data_out = NULL;
    if (!path)
        return tg_error_set(err, TG_ERR_ARG, "idx_read: path is NULL");
    idx_expect any = {0, NULL, 0, NULL};
    idx_file f;
    int open_errno;
    int rc = idx_load(path, &any, 0, &f, &open_errno, err);
    if (rc)
        return rc;
    export_file(&f, buffer_out, data_out, ndim_out, dims_out);
    return TG_OK;
}

/* ------------------------------------------------------------------------------------------- */
/* A file image in memory: the mirror of idx_load, with the bytes already at hand. */

/* Plain image: the header is checked against len exactly as load_plain checks it against the
 * file size, then header and data are copied into a buffer of their own. */
static int load_plain_mem(const uint8_t *bytes, size_t len, const char *label, const idx_expect *expect,
                          idx_file *f, tg_error *err)
{
    size_t avail = len < IDX_MAX_HEADER ? len : IDX_MAX_HEADER;
    size_t header;
    int rc = parse_header(label, bytes, avail, len, false, expect, f, &header, err);
    if (rc)
        return rc;
    f->kept = f->dims[0];
    f->buffer = malloc(len); /* parse_header proved len == header + every element */
    if (!f->buffer)
        return tg_file_error(err, TG_ERR_NOMEM, label, "cannot allocate %zu bytes", len);
    memcpy(f->buffer, bytes, len);
    f->data = f->buffer + header;
    return TG_OK;
}

int tg_idx_parse_mem(const uint8_t *bytes, size_t len, const char *label, int expect_ndim,
                     uint8_t **buffer_out, const uint8_t **data_out, int *ndim_out, size_t dims_out[4],
                     tg_error *err)
{
    *buffer_out = NULL;
    *data_out = NULL;
    if (!label)
        label = "idx";
    if (!bytes && len > 0)
        return tg_file_error(err, TG_ERR_ARG, label, "idx_parse_mem: NULL bytes");
    idx_expect expect = {0, NULL, 0, NULL};
    if (expect_ndim == 3)
        expect = (idx_expect){3, "images", 0, NULL};
    else if (expect_ndim == 1)
        expect = (idx_expect){1, "labels", 0, NULL};
    else if (expect_ndim != 0)
        return tg_file_error(err, TG_ERR_ARG, label, "idx_parse_mem: expect_ndim %d (expected 0, 1 or 3)",
                            expect_ndim);
    idx_file f;
    memset(&f, 0, sizeof f);
    int rc;
    if (len == 0) {
        rc = tg_file_error(err, TG_ERR_FORMAT, label, "empty file");
    } else if (len >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B) {
        uint8_t *buffer;
        size_t decompressed;
        rc = tg_gunzip_mem(bytes, len, label, TG_IDX_MAX_BYTES, &buffer, &decompressed, err);
        if (rc == TG_OK)
            rc = finish_decompressed(label, buffer, decompressed, &expect, 0, &f, err);
    } else if (ends_with(label, ".gz")) {
        rc = tg_file_error(err, TG_ERR_FORMAT, label, "not a gzip file");
    } else {
        rc = load_plain_mem(bytes, len, label, &expect, &f, err);
    }
    if (rc)
        return rc;
    export_file(&f, buffer_out, data_out, ndim_out, dims_out);
    return TG_OK;
}

/* ------------------------------------------------------------------------------------------- */
/* tg_dataset_load */

/* malloc'ed "<dir>/<split>-<stem><ext>", or NULL when out of memory. */
static char *join_path(const char *dir, const char *split, const char *stem, const char *ext)
{
    size_t len = strlen(dir) + strlen(split) + strlen(stem) + strlen(ext) + 3;
    char *path = malloc(len);
    if (path)
        snprintf(path, len, "%s/%s-%s%s", dir, split, stem, ext);
    return path;
}

/* Loads `<dir>/<split>-<stem>`, or `...<stem>.gz` when the first does not exist. */
static int load_plain_or_gz(const char *dir, const char *split, const char *stem, const idx_expect *expect,
                            size_t keep_first, idx_file *f, char **path_out, tg_error *err)
{
    *path_out = NULL;
    char *plain = join_path(dir, split, stem, "");
    char *gz = join_path(dir, split, stem, ".gz");
    int rc, open_errno;
    if (!plain || !gz) {
        rc = tg_error_set(err, TG_ERR_NOMEM, "dataset: out of memory");
    } else if ((rc = idx_load(plain, expect, keep_first, f, &open_errno, err)) == TG_OK || open_errno != ENOENT) {
        *path_out = plain;
        plain = NULL;
    } else if ((rc = idx_load(gz, expect, keep_first, f, &open_errno, err)) == TG_OK || open_errno != ENOENT) {
        *path_out = gz;
        gz = NULL;
    } else {
        /* The problem first: with long paths the message's end may be cut. */
        rc = tg_error_set(err, TG_ERR_IO, "no %s file (neither exists): tried %s and %s", expect->what, plain, gz);
    }
    free(plain);
    free(gz);
    return rc;
}

int tg_dataset_load(tg_dataset *ds, const char *dir, const char *split, bool want_labels,
                    size_t limit, tg_error *err)
{
    memset(ds, 0, sizeof *ds);
    if (!dir || !split)
        return tg_error_set(err, TG_ERR_ARG, "dataset: directory or split is NULL");
    if (strcmp(split, "train") != 0 && strcmp(split, "t10k") != 0)
        return tg_error_set(err, TG_ERR_ARG, "dataset: unknown split \"%s\" (expected train or t10k)", split);
    /* A mistyped directory is named as such, not as its first missing file. */
    struct stat dir_st;
    if (stat(dir, &dir_st) != 0)
        return tg_file_error(err, TG_ERR_IO, dir, "not a data directory: %s", strerror(errno));
    if (!S_ISDIR(dir_st.st_mode))
        return tg_file_error(err, TG_ERR_IO, dir, "not a directory (the data are a directory of IDX files)");

    idx_expect image_kind = {3, "images", 0, NULL}, label_kind = {1, "labels", 0, NULL};
    idx_file images, labels;
    memset(&images, 0, sizeof images);
    memset(&labels, 0, sizeof labels);
    char *image_path = NULL, *label_path = NULL;
    void **blocks = NULL;
    int rc = TG_OK;
    /* Labels first: they are small (one byte an image), always read whole, so n_classes does not
     * depend on limit; and their count then bounds the images before the images' body is read. */
    if (want_labels) {
        if ((rc = load_plain_or_gz(dir, split, "labels-idx1-ubyte", &label_kind, 0, &labels, &label_path, err)))
            goto done;
        image_kind.count = labels.dims[0];
        image_kind.count_path = label_path;
    }
    if ((rc = load_plain_or_gz(dir, split, "images-idx3-ubyte", &image_kind, limit, &images, &image_path, err)))
        goto done;
    blocks = malloc(2 * sizeof *blocks);
    if (!blocks) {
        rc = tg_error_set(err, TG_ERR_NOMEM, "dataset: out of memory");
        goto done;
    }
    blocks[0] = images.buffer;
    blocks[1] = labels.buffer;
    ds->storage_ = blocks;
    ds->images = (uint8_t *)images.data;
    ds->n = images.kept;
    ds->rows = images.dims[1];
    ds->cols = images.dims[2];
    if (want_labels) {
        ds->labels = (uint8_t *)labels.data;
        int max_label = 0;
        for (size_t i = 0; i < labels.dims[0]; i++)
            if (labels.data[i] > max_label)
                max_label = labels.data[i];
        ds->n_classes = max_label + 1;
    }
done:
    if (rc) {
        free(images.buffer);
        free(labels.buffer);
    }
    free(image_path);
    free(label_path);
    return rc;
}

/* ------------------------------------------------------------------------------------------- */
/* Writing. */

int tg_idx_write(const char *path, int ndim, const size_t *dims, const uint8_t *data, tg_error *err)
{
    if (ndim < 1 || ndim > 4)
        return tg_error_set(err, TG_ERR_ARG, "%s: %d dimensions (an IDX file has 1..4)", path, ndim);
    uint8_t header[4 + 4 * 4] = {0, 0, 0x08, (uint8_t)ndim}; /* magic: unsigned bytes, ndim */
    size_t count = 1;
    for (int d = 0; d < ndim; d++) {
        if (dims[d] == 0 || dims[d] > UINT32_MAX || count > SIZE_MAX / dims[d])
            return tg_error_set(err, TG_ERR_ARG, "%s: dimension %d is %zu (1..4294967295)", path, d, dims[d]);
        count *= dims[d];
        for (int k = 0; k < 4; k++)
            header[4 + 4 * d + k] = (uint8_t)(dims[d] >> (24 - 8 * k)); /* big-endian */
    }
    tg_atomic_file f;
    int rc = tg_atomic_open(&f, path, err);
    if (rc)
        return rc;
    int e = tg_atomic_write(&f, header, 4 + 4 * (size_t)ndim);
    if (e == 0)
        e = tg_atomic_write(&f, data, count);
    return tg_atomic_finish(&f, e, true, err);
}

int tg_dataset_save(const tg_dataset *ds, const char *dir, const char *split, tg_error *err)
{
    char *path = malloc(strlen(dir) + 64);
    if (!path)
        return tg_error_set(err, TG_ERR_NOMEM, "dataset: out of memory");
    sprintf(path, "%s/%s-images-idx3-ubyte", dir, split);
    int rc = tg_idx_write(path, 3, (size_t[]){ds->n, ds->rows, ds->cols}, ds->images, err);
    if (rc == TG_OK && ds->labels) {
        sprintf(path, "%s/%s-labels-idx1-ubyte", dir, split);
        rc = tg_idx_write(path, 1, (size_t[]){ds->n}, ds->labels, err);
    }
    free(path);
    return rc;
}
