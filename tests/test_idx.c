/* tests/test_idx.c — the IDX reader of nn/io/idx.c: tg_idx_read and tg_idx_parse_mem on plain
 * and gzip files, and tg_dataset_load, which finds and checks a split's image and label files.
 *
 * Every file is written by the test itself into a fresh scratch directory; the malformed ones
 * are spelled out byte by byte from the format (magic 00 00 type ndim, big-endian dimensions,
 * the elements), never made by the code under test.  The decoder itself is tested in
 * test_inflate.c, the data sets and the batcher in test_dataset.c. */
#include <criterion/criterion.h>

#include "idx_bytes.h"
#include "nn/io/data.h"
#include "table_test.h"

TestSuite(idx, .init = scratch_make, .fini = scratch_drop, .timeout = 60);
TestSuite(load, .init = scratch_make, .fini = scratch_drop, .timeout = 60);
TestSuite(fashion, .timeout = 300);

static uint8_t *read_ok(const char *path, const uint8_t **data, int *ndim, size_t dims[4])
{
    uint8_t *buf;
    tg_error err;
    int rc = tg_idx_read(path, &buf, data, ndim, dims, &err);
    cr_assert_eq(rc, TG_OK, "%s", err.msg);
    return buf;
}

/* Reads path and expects a failure whose message names the file and contains fragment. */
static void assert_idx_error(const char *path, const char *fragment)
{
    uint8_t *buf = (uint8_t *)1;
    const uint8_t *data = (const uint8_t *)1;
    int ndim;
    size_t dims[4];
    tg_error err;
    tg_error_clear(&err);
    int rc = tg_idx_read(path, &buf, &data, &ndim, dims, &err);
    cr_assert_neq(rc, TG_OK, "%s: expected an error containing \"%s\"", path, fragment);
    cr_assert_eq(err.code, rc);
    cr_assert_null(buf);
    cr_assert_null(data);
    cr_assert_not_null(strstr(err.msg, fragment), "message \"%s\" lacks \"%s\"", err.msg, fragment);
    cr_assert_not_null(strstr(err.msg, path), "message \"%s\" does not name %s", err.msg, path);
}

/* ---- valid files ------------------------------------------------------------------------------ */

static const struct {
    const char *name;
    int ndim;
    uint32_t dims[4];
} valid[] = {
    {"one dimension", 1, {5}},
    {"three dimensions (images)", 3, {3, 2, 3}},
    {"four dimensions", 4, {2, 3, 1, 4}},
};

/* Each shape from a file and from memory: the dimensions (the unused ones 1), the data right
 * after the header inside the returned buffer, element k = 7k + 1. */
TABLE_TEST(idx, valid_file_round_trip, valid)
{
    const char *name = valid[*row].name;
    int nd = valid[*row].ndim;
    uint8_t values[24];
    size_t count = 1;
    for (int i = 0; i < nd; i++)
        count *= valid[*row].dims[i];
    for (size_t k = 0; k < count; k++)
        values[k] = (uint8_t)(7 * k + 1);
    bytes b;
    make_idx(&b, 0x08, (unsigned)nd, valid[*row].dims, values, count);
    for (int from_memory = 0; from_memory < 2; from_memory++) {
        const uint8_t *data;
        int ndim;
        size_t d[4];
        uint8_t *buf;
        if (from_memory) {
            tg_error err;
            cr_assert_eq(tg_idx_parse_mem(b.p, b.len, name, 0, &buf, &data, &ndim, d, &err), TG_OK, "%s", err.msg);
        } else {
            buf = read_ok(scratch_file("x-idx-ubyte", b.p, b.len), &data, &ndim, d);
        }
        cr_assert_eq(ndim, nd, "%s", name);
        for (int i = 0; i < 4; i++)
            cr_assert_eq(d[i], i < nd ? valid[*row].dims[i] : 1, "%s: dimension %d is %zu", name, i, d[i]);
        cr_assert_eq(data, buf + 4 + 4 * nd, "%s", name);
        cr_assert_arr_eq(data, values, count, "%s (from %s)", name, from_memory ? "memory" : "a file");
        free(buf);
    }
}

/* ---- every malformed variant is rejected with a message naming the file ----------------------- */

static const struct {
    const char *name;
    uint8_t head[24];  /* magic and dimensions, as written */
    size_t head_len;
    size_t data_len;   /* elements after the head (any values) */
    const char *fragment;
} malformed[] = {
    {"element type 0x0D (float)", {0, 0, 0x0D, 1, 0, 0, 0, 2}, 8, 2, "element type 0x0d"},
    {"a nonzero magic prefix", {1, 0, 8, 3, 0, 0, 0, 5, 0, 0, 0, 4, 0, 0, 0, 4}, 16, 80, "bad magic 0x01000803"},
    {"0 dimensions", {0, 0, 8, 0}, 4, 1, "0 dimensions (expected 1..4)"},
    {"5 dimensions", {0, 0, 8, 5, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1}, 24, 1,
     "5 dimensions (expected 1..4)"},
    {"a zero dimension", {0, 0, 8, 3, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 3}, 16, 0, "dimension 2 of 3 is 0"},
    {"2^96 x 2 elements", {0, 0, 8, 4, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 2}, 20, 0,
     "overflows 64 bits"},
    /* 2^48 elements do fit 64 bits: that file is merely truncated, and must say so */
    {"2^48 elements", {0, 0, 8, 3, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0}, 16, 0,
     "truncated: header says 65536x65536x65536 values (281474976710672 bytes)"},
    {"3 bytes", {0, 0, 8}, 3, 0, "truncated header"},
    {"10 bytes: magic fine, dimensions cut", {0, 0, 8, 3, 0, 0, 0, 5, 0, 0}, 10, 0, "truncated header"},
    {"data one byte short", {0, 0, 8, 3, 0, 0, 0, 5, 0, 0, 0, 4, 0, 0, 0, 4}, 16, 79,
     "truncated: header says 5x4x4 values (96 bytes) but the file has 95 bytes"},
    {"12 trailing bytes", {0, 0, 8, 3, 0, 0, 0, 5, 0, 0, 0, 4, 0, 0, 0, 4}, 16, 92,
     "12 trailing bytes after the data"},
    {"an empty file", {0}, 0, 0, "empty file"},
};

/* From a file (the message names the path) and from memory (it names the label). */
TABLE_TEST(idx, malformed_file_is_rejected, malformed)
{
    bytes b = {.len = 0};
    put(&b, malformed[*row].head, malformed[*row].head_len);
    for (size_t k = 0; k < malformed[*row].data_len; k++)
        put_u8(&b, (unsigned)k);
    assert_idx_error(scratch_file("bad-idx-ubyte", b.p, b.len), malformed[*row].fragment);

    uint8_t *buf = (uint8_t *)1;
    const uint8_t *data;
    int ndim;
    size_t d[4];
    tg_error err;
    cr_assert_eq(tg_idx_parse_mem(b.p, b.len, "memory", 0, &buf, &data, &ndim, d, &err), TG_ERR_FORMAT, "%s",
                 malformed[*row].name);
    cr_assert_null(buf, "%s", malformed[*row].name);
    cr_assert_not_null(strstr(err.msg, malformed[*row].fragment), "%s: message \"%s\" lacks \"%s\"",
                       malformed[*row].name, err.msg, malformed[*row].fragment);
    cr_assert_eq(strncmp(err.msg, "memory: ", 8), 0, "%s: %s", malformed[*row].name, err.msg);
}

Test(idx, directory)
{
    const char *path = scratch_path("subdir");
    cr_assert_eq(mkdir(path, 0700), 0);
    assert_idx_error(path, "is a directory");
}

Test(idx, fifo_does_not_hang)
{
    const char *path = scratch_path("fifo");
    cr_assert_eq(mkfifo(path, 0600), 0, "mkfifo: %s", strerror(errno));
    assert_idx_error(path, "not a regular file"); /* no writer: a blocking open would hang here */
}

Test(idx, missing_file)
{
    assert_idx_error(scratch_path("nothing-here"), "No such file or directory");
}

Test(idx, unreadable_file)
{
    if (geteuid() == 0)
        scratch_skip_test("running as root: root reads files without read permission");
    bytes b;
    small_images(&b);
    const char *path = scratch_file("secret", b.p, b.len);
    cr_assert_eq(chmod(path, 0), 0);
    assert_idx_error(path, "Permission denied");
}

/* ---- gzip files ------------------------------------------------------------------------------- */

/* Gzip is recognized by its magic, not by a ".gz" name; every optional header field is skipped. */
Test(idx, gzip_file_with_every_header_field)
{
    uint8_t pixels[300];
    for (int k = 0; k < 300; k++)
        pixels[k] = (uint8_t)(k * 37 + 11);
    const uint32_t dims[2] = { 30, 10 };
    bytes idx, gz;
    make_idx(&idx, 0x08, 2, dims, pixels, sizeof pixels);
    for (unsigned options = 0; options < 16; options++) {
        make_gzip_stored(&gz, idx.p, idx.len, 100, options); /* 4 blocks, the last one short */
        const char *path = scratch_file(options % 2 ? "stored.gz" : "stored-no-suffix", gz.p, gz.len);
        const uint8_t *data;
        int ndim;
        size_t d[4];
        uint8_t *buf = read_ok(path, &data, &ndim, d);
        cr_assert_eq(ndim, 2);
        cr_assert(d[0] == 30 && d[1] == 10, "options %u", options);
        cr_assert_arr_eq(data, pixels, sizeof pixels, "options %u", options);
        free(buf);
    }
}

Test(idx, gzip_files_made_by_gzip)
{
    const uint8_t *data;
    int ndim;
    size_t d[4];
    uint8_t *buf = read_ok(scratch_file("fixed.gz", fixed_gz, sizeof fixed_gz), &data, &ndim, d);
    cr_assert(ndim == 3 && d[0] == 2 && d[1] == 3 && d[2] == 3);
    for (int k = 0; k < 18; k++)
        cr_assert_eq(data[k], 15 * k);
    free(buf);

    buf = read_ok(scratch_file("dyn.gz", dyn_gz, sizeof dyn_gz), &data, &ndim, d);
    cr_assert_eq(ndim, 1);
    cr_assert_eq(d[0], strlen(DYN_TEXT));
    cr_assert_arr_eq(data, DYN_TEXT, d[0]);
    free(buf);
}

/* A ".gz" name promises gzip; and the decoder's errors reach the caller with the file's name. */
Test(idx, gzip_errors_name_the_file)
{
    bytes b;
    small_images(&b);
    assert_idx_error(scratch_file("plain-named.gz", b.p, b.len), "not a gzip file");
    assert_idx_error(scratch_file("fixed-cut.gz", fixed_gz, 30), "truncated gzip stream");
    assert_idx_error(scratch_file("dyn-cut.gz", dyn_gz, 100), "truncated gzip stream");
    assert_idx_error(scratch_file("dyn-cut2.gz", dyn_gz, 20), "truncated gzip stream");
    b.len = 0;
    put(&b, dyn_gz, sizeof dyn_gz);
    b.p[b.len - 6] ^= 0x10; /* the trailer's CRC */
    assert_idx_error(scratch_file("dyn-crc.gz", b.p, b.len), "CRC-32 mismatch");
}

/* ---- tg_dataset_load -------------------------------------------------------------------------- */

#define IMG "train-images-idx3-ubyte"
#define LBL "train-labels-idx1-ubyte"
#define T10K_IMG "t10k-images-idx3-ubyte"
#define T10K_LBL "t10k-labels-idx1-ubyte"

/* What a split's files can hold (the rows of the two tables below write them). */
enum content {
    IMAGES,          /* the five small images */
    IMAGES_GZ,       /* the same, gzip */
    EMPTY,
    SIGNED_BYTES,    /* the images with element type 0x09 */
    LABELS,          /* the five labels */
    LABELS_GZ,
    FOUR_LABELS,
    IMAGES_CUT,      /* the images cut to 50 bytes */
    IMAGES_CUT_GZ,   /* the same, gzip */
    IMAGES_TRAILING, /* the images and 12 more bytes */
    IMAGES_OVERFLOW, /* a header of 3 dimensions 2^32 - 1 */
};

static void write_content(const char *name, enum content c)
{
    bytes b, gz;
    small_images(&b);
    const uint32_t huge[3] = { 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu };
    switch (c) {
    case IMAGES: break;
    case EMPTY: b.len = 0; break;
    case SIGNED_BYTES: b.p[2] = 0x09; break;
    case IMAGES_CUT: case IMAGES_CUT_GZ: b.len = 50; break;
    case IMAGES_TRAILING: put(&b, "0123456789ab", 12); break;
    case IMAGES_OVERFLOW: make_idx(&b, 0x08, 3, huge, NULL, 0); break;
    case LABELS: case LABELS_GZ: small_labels_idx(&b, SMALL_N); break;
    case FOUR_LABELS: small_labels_idx(&b, SMALL_N - 1); break;
    case IMAGES_GZ: break;
    }
    if (c == IMAGES_GZ || c == IMAGES_CUT_GZ || c == LABELS_GZ) {
        make_gzip_stored(&gz, b.p, b.len, 30, GZ_WITH_NAME);
        b = gz;
    }
    scratch_file(name, b.p, b.len);
}

/* A split's files, as the rows below write them. */
typedef struct split_file {
    const char *file;
    enum content content;
} split_file;

static void write_split(const split_file files[3])
{
    for (int f = 0; f < 3 && files[f].file; f++)
        write_content(files[f].file, files[f].content);
}

/* A split loads with the right images, labels and number of classes; the limit keeps the first
 * images (n_classes still counts the whole label file); tg_dataset_free empties the set and may
 * be called again. */
static const struct {
    const char *name;
    split_file files[3];
    const char *split;
    bool want_labels;
    size_t limit, n;
} loads[] = {
    {"plain files", {{IMG, IMAGES}, {LBL, LABELS}}, "train", true, 0, SMALL_N},
    {"plain files, labels not wanted", {{IMG, IMAGES}, {LBL, LABELS}}, "train", false, 0, SMALL_N},
    {"plain files, limit 2", {{IMG, IMAGES}, {LBL, LABELS}}, "train", true, 2, 2},
    {"plain files, a limit above the count: all", {{IMG, IMAGES}, {LBL, LABELS}}, "train", true, 99, SMALL_N},
    {"images alone, labels not wanted", {{IMG, IMAGES}}, "train", false, 0, SMALL_N},
    {"gzip files", {{T10K_IMG ".gz", IMAGES_GZ}, {T10K_LBL ".gz", LABELS_GZ}}, "t10k", true, 0, SMALL_N},
    {"gzip files, limit 3", {{T10K_IMG ".gz", IMAGES_GZ}, {T10K_LBL ".gz", LABELS_GZ}}, "t10k", true, 3, 3},
};

TABLE_TEST(load, good_split_loads, loads)
{
    const char *name = loads[*row].name;
    write_split(loads[*row].files);
    tg_dataset ds;
    tg_error err;
    cr_assert_eq(tg_dataset_load(&ds, scratch, loads[*row].split, loads[*row].want_labels, loads[*row].limit, &err),
                 TG_OK, "%s: %s", name, err.msg);
    size_t n = loads[*row].n;
    cr_assert(ds.n == n && ds.rows == 4 && ds.cols == 4, "%s: %zu images of %zux%zu", name, ds.n, ds.rows, ds.cols);
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < SMALL_DIM; k++)
            cr_assert_eq(ds.images[i * SMALL_DIM + k], 10 * i + k, "%s: image %zu, pixel %d", name, i, k);
    if (loads[*row].want_labels) {
        cr_assert_arr_eq(ds.labels, small_labels, n, "%s", name);
        cr_assert_eq(ds.n_classes, 6, "%s: max label 5 over the whole file, whatever the limit", name);
    } else {
        cr_assert_null(ds.labels, "%s", name);
        cr_assert_eq(ds.n_classes, 0, "%s", name);
    }
    tg_dataset_free(&ds);
    cr_assert_null(ds.storage_, "%s", name);
    tg_dataset_free(&ds); /* twice is harmless */
}

Test(load, plain_is_tried_before_gz)
{
    write_content(IMG ".gz", IMAGES_GZ);
    write_content(LBL ".gz", LABELS_GZ);
    /* A plain labels file with other values next to the .gz one wins. */
    const uint8_t other[SMALL_N] = { 0, 0, 2, 0, 0 };
    const uint32_t dims[1] = { SMALL_N };
    bytes b;
    make_idx(&b, 0x08, 1, dims, other, SMALL_N);
    scratch_file(LBL, b.p, b.len);
    tg_dataset ds;
    tg_error err;
    cr_assert_eq(tg_dataset_load(&ds, scratch, "train", true, 0, &err), TG_OK, "%s", err.msg);
    cr_assert_arr_eq(ds.labels, other, SMALL_N);
    cr_assert_eq(ds.n_classes, 3);
    tg_dataset_free(&ds);
}

Test(load, missing_images_lists_both_paths)
{
    char plain[PATH_MAX + 64], gz[PATH_MAX + 64];
    snprintf(plain, sizeof plain, "%s/" IMG, scratch);
    snprintf(gz, sizeof gz, "%s/" IMG ".gz", scratch);
    tg_dataset ds;
    tg_error err;
    cr_assert_eq(tg_dataset_load(&ds, scratch, "train", false, 0, &err), TG_ERR_IO);
    cr_assert_not_null(strstr(err.msg, plain), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, gz), "%s", err.msg);
}

Test(load, unknown_split)
{
    tg_dataset ds;
    tg_error err;
    cr_assert_eq(tg_dataset_load(&ds, scratch, "test", false, 0, &err), TG_ERR_ARG);
    cr_assert_not_null(strstr(err.msg, "unknown split \"test\""), "%s", err.msg);
}

Test(load, a_limit_does_not_excuse_a_short_file)
{
    bytes b;
    small_images(&b);
    b.len -= 1;
    scratch_file(IMG, b.p, b.len);
    tg_dataset ds;
    tg_error err;
    cr_assert_eq(tg_dataset_load(&ds, scratch, "train", false, 1, &err), TG_ERR_FORMAT);
    cr_assert_not_null(strstr(err.msg, "truncated"), "%s", err.msg);
}

static const struct {
    const char *name;
    split_file files[3];
    bool want_labels;
    const char *fragment;
} load_errors[] = {
    {"a broken plain file is reported, not skipped", {{IMG ".gz", IMAGES_GZ}, {LBL ".gz", LABELS_GZ}, {IMG, EMPTY}},
     true, IMG ": empty file"},
    {"missing labels: both names", {{IMG, IMAGES}}, true, LBL ".gz"},
    {"signed bytes for images", {{IMG, SIGNED_BYTES}}, false,
     IMG ": bad magic 0x00000903 (expected 0x00000803 for images)"},
    {"a labels file where the images should be", {{IMG, LABELS}}, false,
     "bad magic 0x00000801 (expected 0x00000803 for images)"},
    {"an images file where the labels should be", {{IMG, IMAGES}, {LBL, IMAGES}}, true,
     LBL ": bad magic 0x00000803 (expected 0x00000801 for labels)"},
    {"truncated images", {{IMG, IMAGES_CUT}}, false,
     "truncated: header says 5 images of 4x4 (96 bytes) but the file has 50 bytes"},
    {"truncated images in a .gz", {{IMG ".gz", IMAGES_CUT_GZ}}, false,
     "truncated: header says 5 images of 4x4 (96 bytes) but the decompressed data has 50 bytes"},
    {"trailing bytes after the images", {{IMG, IMAGES_TRAILING}}, false, IMG ": 12 trailing bytes after the data"},
    {"5 images, 4 labels", {{IMG, IMAGES}, {LBL, FOUR_LABELS}}, true,
     "images and labels disagree: 5 images, 4 labels"},
    {"images whose size overflows", {{IMG, IMAGES_OVERFLOW}}, false, "overflows 64 bits"},
};

/* The message says what is wrong, and the data set comes back empty. */
TABLE_TEST(load, bad_split_is_rejected, load_errors)
{
    const char *name = load_errors[*row].name, *fragment = load_errors[*row].fragment;
    write_split(load_errors[*row].files);
    tg_dataset ds;
    memset(&ds, 0x55, sizeof ds);
    tg_error err;
    tg_error_clear(&err);
    int rc = tg_dataset_load(&ds, scratch, "train", load_errors[*row].want_labels, 0, &err);
    cr_assert_neq(rc, TG_OK, "%s: expected an error containing \"%s\"", name, fragment);
    cr_assert_not_null(strstr(err.msg, fragment), "%s: message \"%s\" lacks \"%s\"", name, err.msg, fragment);
    cr_assert_null(ds.images, "%s", name);
    cr_assert_null(ds.labels, "%s", name);
    cr_assert_null(ds.storage_, "%s", name);
    cr_assert_eq(ds.n, 0, "%s", name);
}

/* A data directory that is missing or a file is named as such, before any file in it. */
Test(load, a_missing_or_file_directory_is_named)
{
    char missing[4200], file[4200];
    snprintf(missing, sizeof missing, "%s/no-such-dir", scratch);
    snprintf(file, sizeof file, "%s/plain", scratch);
    FILE *f = fopen(file, "w");
    cr_assert(f && fputs("x", f) >= 0 && fclose(f) == 0);
    const struct { const char *dir, *fragment; } cases[] = {
        {missing, "not a data directory: No such file or directory"},
        {file, "not a directory (the data are a directory of IDX files)"},
    };
    for (int i = 0; i < 2; i++) {
        tg_dataset ds;
        tg_error err;
        cr_assert_eq(tg_dataset_load(&ds, cases[i].dir, "train", true, 0, &err), TG_ERR_IO, "%s", cases[i].dir);
        cr_assert_not_null(strstr(err.msg, cases[i].dir), "\"%s\" does not name the directory", err.msg);
        cr_assert_not_null(strstr(err.msg, cases[i].fragment), "\"%s\" lacks \"%s\"", err.msg, cases[i].fragment);
        cr_assert_null(ds.images);
    }
}

/* ---- the real Fashion-MNIST, when the Debian package dataset-fashion-mnist is installed -------- */

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

static bool fashion_present(void)
{
    return file_exists(FASHION_DIR "/train-images-idx3-ubyte.gz") ||
           file_exists(FASHION_DIR "/train-images-idx3-ubyte");
}

static uint64_t pixel_sum(const tg_dataset *ds, size_t image)
{
    uint64_t sum = 0;
    for (size_t j = 0; j < 784; j++)
        sum += ds->images[image * 784 + j];
    return sum;
}

/* Reference values computed independently with Python's gzip module: the first labels, the pixel
 * sums of the first and last image; every class is equally frequent. */
static const struct {
    const char *split;
    size_t n, limit;
    uint8_t first_labels[10];
    uint64_t first_sum, last_sum;
} fashion_splits[] = {
    {"train", 60000, 0, {9, 0, 0, 3, 0, 2, 7, 2, 5, 5}, 76247, 16684},
    {"t10k", 10000, 0, {9, 2, 1, 1, 6, 1, 4, 6, 5, 7}, 33456, 24390},
    {"t10k", 100, 100, {9, 2, 1, 1, 6, 1, 4, 6, 5, 7}, 33456, 0 /* with a limit: not checked */},
};

TABLE_TEST(fashion, fashion_mnist_splits, fashion_splits)
{
    if (!fashion_present())
        cr_skip_test(FASHION_DIR " not installed (Debian package dataset-fashion-mnist)");
    const char *split = fashion_splits[*row].split;
    size_t n = fashion_splits[*row].n;
    tg_dataset ds;
    tg_error err;
    cr_assert_eq(tg_dataset_load(&ds, FASHION_DIR, split, true, fashion_splits[*row].limit, &err), TG_OK, "%s",
                 err.msg);
    cr_assert(ds.n == n && ds.rows == 28 && ds.cols == 28, "%s: %zu images of %zux%zu", split, ds.n, ds.rows, ds.cols);
    cr_assert_eq(ds.n_classes, 10, "%s", split);
    cr_assert_arr_eq(ds.labels, fashion_splits[*row].first_labels, 10, "%s: the first labels", split);
    cr_assert_eq(pixel_sum(&ds, 0), fashion_splits[*row].first_sum, "%s: image 0", split);
    if (fashion_splits[*row].limit == 0) {
        int histogram[10] = { 0 };
        for (size_t i = 0; i < ds.n; i++) {
            cr_assert_lt(ds.labels[i], 10, "%s: label %zu", split, i);
            histogram[ds.labels[i]]++;
        }
        for (int k = 0; k < 10; k++)
            cr_assert_eq(histogram[k], (int)n / 10, "%s: class %d appears %d times", split, k, histogram[k]);
        cr_assert_eq(pixel_sum(&ds, n - 1), fashion_splits[*row].last_sum, "%s: the last image", split);
    }
    tg_dataset_free(&ds);
}
