/* tests/test_checkpoint.c — the TGCK checkpoint format of nn/io/checkpoint.c (its description:
 * nn/io/checkpoint.h): reading, writing, parameters, atomic replacement, typed metadata.
 *
 * Files here are assembled byte by byte from the format by the helpers below, never by the
 * writer, so the tests prove the format and not just that the writer and reader agree with each
 * other.  Their CRC comes from io_test.h's bitwise CRC-32, not from nn/io/crc32.c (whose own
 * tests are in test_crc32.c). */
#include <criterion/criterion.h>

#include <float.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "autograd/param.h"
#include "io_test.h"
#include "nn/io/checkpoint.h"
#include "nn/io/checkpoint_internal.h"
#include "table_test.h"
#include "tensor/tensor.h"

TestSuite(checkpoint, .init = scratch_make, .fini = scratch_drop, .timeout = 120);

/* ---- files assembled by hand from the format ---- */

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* "TGCK", version, meta_len = strlen(meta), meta. */
static void put_header(bytes *b, uint32_t version, const char *meta)
{
    put(b, "TGCK", 4);
    put_le32(b, version);
    put_le32(b, (uint32_t)strlen(meta));
    put(b, meta, strlen(meta));
}

/* One tensor record whose data are the floats 0, 1, 2, ... (product of dims of them). */
static void put_tensor(bytes *b, const char *name, uint32_t ndim, const uint32_t *dims)
{
    put_le16(b, (unsigned)strlen(name));
    put(b, name, strlen(name));
    put_le32(b, ndim);
    size_t numel = 1;
    for (uint32_t d = 0; d < ndim; d++) {
        put_le32(b, dims[d]);
        numel *= dims[d];
    }
    for (size_t i = 0; i < numel; i++)
        put_le32(b, bits_of((float)i));
}

/* Appends the CRC of everything so far: defect files get a correct CRC, so the reader has to
 * find the defect itself rather than stop at the CRC. */
static void put_crc(bytes *b) { put_le32(b, bitwise_crc32(b->p, b->len)); }

/* The smallest interesting file, every byte written out from the format: metadata "a=1\n", one
 * tensor "x" of shape [1,2] holding 1.0f and -2.0f.  Its CRC, 0xE45043FA, was computed with
 * Python's zlib.crc32 over these 43 bytes, independently of this code base. */
static const unsigned char tiny_file[47] = {
    'T', 'G', 'C', 'K',     /* magic */
    1, 0, 0, 0,             /* version 1 */
    4, 0, 0, 0,             /* meta_len 4 */
    'a', '=', '1', '\n',    /* meta */
    1, 0, 0, 0,             /* count 1 */
    1, 0,                   /* name_len 1 */
    'x',                    /* name */
    2, 0, 0, 0,             /* ndim 2 */
    1, 0, 0, 0, 2, 0, 0, 0, /* dims [1,2] */
    0x00, 0x00, 0x80, 0x3F, /* 1.0f  = 0x3F800000 */
    0x00, 0x00, 0x00, 0xC0, /* -2.0f = 0xC0000000 */
    0xFA, 0x43, 0x50, 0xE4, /* CRC-32 0xE45043FA */
};

static const char *write_tiny(const char *name) { return scratch_file(name, tiny_file, sizeof tiny_file); }

/* Reads path and expects a rejection whose message names the file and contains fragment. */
static void expect_rejected(const char *path, int code, const char *fragment)
{
    tg_error err = {0};
    tg_checkpoint *ck = tg_ckpt_read(path, &err);
    cr_assert_null(ck, "%s was accepted (expected: %s)", path, fragment);
    cr_assert_eq(err.code, code, "code %s, expected %s: %s", tg_error_code_name(err.code), tg_error_code_name(code),
                 err.msg);
    cr_assert_eq(strncmp(err.msg, path, strlen(path)), 0, "message does not start with the file name: %s", err.msg);
    cr_assert_not_null(strstr(err.msg, fragment), "message \"%s\" lacks \"%s\"", err.msg, fragment);
}

/* The file at path holds exactly want[0..len). */
static void expect_file_bytes(const char *path, const uint8_t *want, size_t len)
{
    size_t got_len;
    uint8_t *got = read_bytes(path, &got_len);
    cr_assert_eq(got_len, len, "wrote %zu bytes, expected %zu", got_len, len);
    for (size_t i = 0; i < len; i++)
        cr_assert_eq(got[i], want[i], "byte %zu: wrote 0x%02x, expected 0x%02x", i, got[i], want[i]);
    free(got);
}

/* ---- the format itself ---- */

Test(checkpoint, reads_hand_built_file)
{
    const char *path = write_tiny("tiny.tgck");
    tg_error err = {0};
    tg_checkpoint *ck = tg_ckpt_read(path, &err);
    cr_assert_not_null(ck, "%s", err.msg);
    cr_assert_eq(tg_ckpt_meta_count(ck), 1);
    cr_assert_str_eq(tg_ckpt_get_meta(ck, "a"), "1");
    cr_assert_null(tg_ckpt_get_meta(ck, "b"));
    cr_assert_eq(tg_ckpt_count(ck), 1);
    cr_assert_str_eq(tg_ckpt_name(ck, 0), "x");
    const tg_tensor *x = tg_ckpt_find(ck, "x");
    cr_assert_eq(x, tg_ckpt_tensor(ck, 0));
    cr_assert_eq(x->ndim, 2);
    cr_assert_eq(x->shape[0], 1);
    cr_assert_eq(x->shape[1], 2);
    cr_assert_eq(x->size, 2);
    cr_assert_eq(bits_of(x->data[0]), 0x3F800000u);
    cr_assert_eq(bits_of(x->data[1]), 0xC0000000u);
    cr_assert_null(tg_ckpt_find(ck, "y"));
    cr_assert_null(tg_ckpt_name(ck, 1));
    cr_assert_null(tg_ckpt_tensor(ck, -1));
    tg_ckpt_free(ck);
}

Test(checkpoint, reads_hand_built_file_with_several_tensors)
{
    bytes b = {0};
    put_header(&b, 1, "model=cae\nlambda=0.0001\nnote=x=y\nempty=\n");
    put_le32(&b, 3);
    put_tensor(&b, "enc.weight", 2, (uint32_t[]){3, 2});
    put_tensor(&b, "enc.bias", 1, (uint32_t[]){2});
    put_tensor(&b, "t4", 4, (uint32_t[]){1, 2, 1, 3});
    put_crc(&b);
    const char *path = scratch_file("several.tgck", b.p, b.len);

    tg_error err = {0};
    tg_checkpoint *ck = tg_ckpt_read(path, &err);
    cr_assert_not_null(ck, "%s", err.msg);
    const char *keys[] = {"model", "lambda", "note", "empty"}, *values[] = {"cae", "0.0001", "x=y", ""};
    cr_assert_eq(tg_ckpt_meta_count(ck), 4);
    for (int i = 0; i < 4; i++) {
        cr_assert_str_eq(tg_ckpt_meta_key(ck, i), keys[i]);
        cr_assert_str_eq(tg_ckpt_meta_value(ck, i), values[i]);
    }
    cr_assert_eq(tg_ckpt_count(ck), 3);
    const char *names[] = {"enc.weight", "enc.bias", "t4"};
    const size_t sizes[] = {6, 2, 6};
    for (int i = 0; i < 3; i++) {
        cr_assert_str_eq(tg_ckpt_name(ck, i), names[i]);
        const tg_tensor *t = tg_ckpt_tensor(ck, i);
        cr_assert_eq(t->size, sizes[i]);
        for (size_t k = 0; k < t->size; k++)
            cr_assert_eq(t->data[k], (float)k);
    }
    const tg_tensor *t4 = tg_ckpt_find(ck, "t4");
    cr_assert_eq(t4->ndim, 4);
    cr_assert(t4->shape[0] == 1 && t4->shape[1] == 2 && t4->shape[2] == 1 && t4->shape[3] == 3);
    tg_ckpt_free(ck);
}

Test(checkpoint, empty_checkpoint_is_twenty_bytes)
{
    bytes b = {0};
    put_header(&b, 1, "");
    put_le32(&b, 0);
    put_crc(&b);
    cr_assert_eq(b.len, 20);
    const char *path = scratch_file("empty.tgck", b.p, b.len);
    tg_error err = {0};
    tg_checkpoint *ck = tg_ckpt_read(path, &err);
    cr_assert_not_null(ck, "%s", err.msg);
    cr_assert_eq(tg_ckpt_count(ck), 0);
    cr_assert_eq(tg_ckpt_meta_count(ck), 0);
    tg_ckpt_free(ck);

    /* and the writer writes exactly those bytes for an empty checkpoint */
    ck = tg_ckpt_new(&err);
    const char *out = scratch_path("written_empty.tgck");
    cr_assert_eq(tg_ckpt_write(ck, out, &err), TG_OK, "%s", err.msg);
    tg_ckpt_free(ck);
    expect_file_bytes(out, b.p, b.len);
}

Test(checkpoint, writer_output_equals_hand_built_bytes)
{
    tg_error err = {0};
    tg_checkpoint *ck = tg_ckpt_new(&err);
    cr_assert_eq(tg_ckpt_set_meta(ck, "a", "1", &err), TG_OK, "%s", err.msg);
    tg_tensor x;
    cr_assert_eq(tg_tensor_zeros2(&x, 1, 2, &err), TG_OK);
    x.data[0] = 1.0f;
    x.data[1] = -2.0f;
    cr_assert_eq(tg_ckpt_add(ck, "x", &x, &err), TG_OK, "%s", err.msg);
    tg_tensor_free(&x);
    const char *path = scratch_path("written.tgck");
    cr_assert_eq(tg_ckpt_write(ck, path, &err), TG_OK, "%s", err.msg);
    tg_ckpt_free(ck);
    expect_file_bytes(path, tiny_file, sizeof tiny_file);
}

Test(checkpoint, writer_output_equals_hand_built_bytes_for_several_tensors)
{
    bytes b = {0};
    put_header(&b, 1, "model=cae\nhidden=2\n");
    put_le32(&b, 2);
    put_tensor(&b, "enc.weight", 3, (uint32_t[]){2, 1, 3});
    put_tensor(&b, "enc.bias", 1, (uint32_t[]){2});
    put_crc(&b);

    tg_error err = {0};
    tg_checkpoint *ck = tg_ckpt_new(&err);
    cr_assert_eq(tg_ckpt_set_meta(ck, "model", "cae", &err), TG_OK);
    cr_assert_eq(tg_ckpt_set_meta_fmt(ck, "hidden", &err, "%d", 2), TG_OK);
    tg_tensor w, bias;
    cr_assert_eq(tg_tensor_zeros(&w, 3, (size_t[]){2, 1, 3}, &err), TG_OK);
    cr_assert_eq(tg_tensor_zeros1(&bias, 2, &err), TG_OK);
    for (size_t i = 0; i < w.size; i++)
        w.data[i] = (float)i;
    for (size_t i = 0; i < bias.size; i++)
        bias.data[i] = (float)i;
    cr_assert_eq(tg_ckpt_add(ck, "enc.weight", &w, &err), TG_OK);
    cr_assert_eq(tg_ckpt_add(ck, "enc.bias", &bias, &err), TG_OK);
    const char *path = scratch_path("several_written.tgck");
    cr_assert_eq(tg_ckpt_write(ck, path, &err), TG_OK, "%s", err.msg);
    tg_ckpt_free(ck);
    tg_tensor_free(&w);
    tg_tensor_free(&bias);
    expect_file_bytes(path, b.p, b.len);
}

/* ---- round trip ---- */

/* Bit patterns a float conversion could disturb: NaN payloads (quiet, signalling, negative),
 * signed zeros, denormals, infinities, extremes. */
static const uint32_t special_bits[] = {
    0x7FC12345u, 0x7F800001u, 0xFFC00001u, 0x7FFFFFFFu, 0x80000000u, 0x00000000u, 0x00000001u, 0x807FFFFFu,
    0x7F800000u, 0xFF800000u, 0x7F7FFFFFu, 0x00800000u, 0x3F800000u, 0xBEAAAAABu, 0x12345678u, 0xDEADBEEFu,
};

Test(checkpoint, round_trip_is_bit_exact)
{
    tg_error err = {0};
    tg_checkpoint *ck = tg_ckpt_new(&err);
    cr_assert_eq(tg_ckpt_set_meta(ck, "z", "first", &err), TG_OK);
    cr_assert_eq(tg_ckpt_set_meta(ck, "a", "placeholder", &err), TG_OK);
    cr_assert_eq(tg_ckpt_set_meta(ck, "m", "x=y=z", &err), TG_OK);
    cr_assert_eq(tg_ckpt_set_meta(ck, "empty", "", &err), TG_OK);
    cr_assert_eq(tg_ckpt_set_meta(ck, "utf8", "λ=0.1 \xE2\x9C\x93", &err), TG_OK, "%s", err.msg);
    cr_assert_eq(tg_ckpt_set_meta(ck, "a", "replaced", &err), TG_OK); /* keeps its place */
    cr_assert_eq(tg_ckpt_set_meta_fmt(ck, "lambda", &err, "%.9g", 1e-4), TG_OK);

    const int nshapes = 4;
    const size_t shapes[4][4] = {{16}, {4, 4}, {2, 4, 2}, {2, 2, 2, 2}};
    const char *names[4] = {"v", "enc.weight", "t3", "adam.m/enc.weight"};
    tg_tensor src[4];
    for (int s = 0; s < nshapes; s++) {
        cr_assert_eq(tg_tensor_create(&src[s], s + 1, shapes[s], &err), TG_OK);
        for (size_t i = 0; i < 16; i++) /* each tensor holds the specials in a different order */
            memcpy(&src[s].data[i], &special_bits[(i * (size_t)(2 * s + 1) + (size_t)s) % 16], 4);
        cr_assert_eq(tg_ckpt_add(ck, names[s], &src[s], &err), TG_OK, "%s", err.msg);
    }
    const char *path = scratch_path("round.tgck");
    cr_assert_eq(tg_ckpt_write(ck, path, &err), TG_OK, "%s", err.msg);
    tg_ckpt_free(ck);

    tg_checkpoint *back = tg_ckpt_read(path, &err);
    cr_assert_not_null(back, "%s", err.msg);
    const char *keys[] = {"z", "a", "m", "empty", "utf8", "lambda"};
    const char *values[] = {"first", "replaced", "x=y=z", "", "λ=0.1 \xE2\x9C\x93", "0.0001"};
    cr_assert_eq(tg_ckpt_meta_count(back), 6);
    for (int i = 0; i < 6; i++) {
        cr_assert_str_eq(tg_ckpt_meta_key(back, i), keys[i]);
        cr_assert_str_eq(tg_ckpt_meta_value(back, i), values[i]);
    }
    cr_assert_eq(tg_ckpt_count(back), nshapes);
    for (int s = 0; s < nshapes; s++) {
        cr_assert_str_eq(tg_ckpt_name(back, s), names[s]);
        const tg_tensor *t = tg_ckpt_tensor(back, s);
        cr_assert(tg_tensor_same_shape(t, &src[s]), "tensor %s: shape differs", names[s]);
        cr_assert_eq(memcmp(t->data, src[s].data, 16 * sizeof(float)), 0, "tensor %s: bits differ", names[s]);
        tg_tensor_free(&src[s]);
    }
    tg_ckpt_free(back);
}

Test(checkpoint, add_copies_and_rejects_bad_tensors)
{
    tg_error err = {0};
    tg_checkpoint *ck = tg_ckpt_new(&err);
    tg_tensor t;
    cr_assert_eq(tg_tensor_zeros1(&t, 3, &err), TG_OK);
    t.data[0] = 5.0f;
    cr_assert_eq(tg_ckpt_add(ck, "t", &t, &err), TG_OK);
    t.data[0] = 6.0f; /* the checkpoint holds a copy */
    cr_assert_eq(tg_ckpt_find(ck, "t")->data[0], 5.0f);

    cr_assert_eq(tg_ckpt_add(ck, "t", &t, &err), TG_ERR_ARG);
    cr_assert_not_null(strstr(err.msg, "duplicate"), "%s", err.msg);
    cr_assert_eq(tg_ckpt_add(ck, "", &t, &err), TG_ERR_ARG);
    cr_assert_not_null(strstr(err.msg, "empty"), "%s", err.msg);

    char name[300];
    memset(name, 'n', 256);
    name[256] = '\0';
    cr_assert_eq(tg_ckpt_add(ck, name, &t, &err), TG_ERR_ARG);
    cr_assert_not_null(strstr(err.msg, "255"), "%s", err.msg);
    name[255] = '\0'; /* exactly 255 bytes is allowed */
    cr_assert_eq(tg_ckpt_add(ck, name, &t, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(tg_ckpt_add(ck, "\xC3\x28", &t, &err), TG_ERR_ARG); /* broken UTF-8 */

    tg_tensor bad = t;
    bad.ndim = 0;
    cr_assert_eq(tg_ckpt_add(ck, "ndim0", &bad, &err), TG_ERR_SHAPE);
    bad.ndim = 5;
    cr_assert_eq(tg_ckpt_add(ck, "ndim5", &bad, &err), TG_ERR_SHAPE);
    cr_assert_not_null(strstr(err.msg, "5 dimensions"), "%s", err.msg);
    cr_assert_eq(tg_ckpt_count(ck), 2);

    /* a 255-byte name survives the file */
    const char *path = scratch_path("longname.tgck");
    cr_assert_eq(tg_ckpt_write(ck, path, &err), TG_OK, "%s", err.msg);
    tg_checkpoint *back = tg_ckpt_read(path, &err);
    cr_assert_not_null(back, "%s", err.msg);
    cr_assert_not_null(tg_ckpt_find(back, name));
    tg_ckpt_free(back);
    tg_ckpt_free(ck);
    tg_tensor_free(&t);
}

/* Metadata a checkpoint cannot hold: each is refused (naming the problem where it says), and
 * nothing is added. */
static const struct {
    const char *name, *key, *value;
    const char *fragment; /* NULL: any message */
} bad_meta[] = {
    {"'=' in the key", "a=b", "1", "'='"},
    {"a newline in the key", "a\nb", "1", NULL},
    {"an empty key", "", "1", "empty"},
    {"a newline in the value", "a", "1\n2", "newline"},
    {"a value that is not UTF-8", "a", "\xFF", "UTF-8"},
    {"a UTF-16 surrogate in the key", "\xED\xA0\x80", "1", NULL},
    {"an overlong '/' in the value", "a", "\xC0\xAF", NULL},
};

TABLE_TEST(checkpoint, set_meta_rejects_bad_text, bad_meta)
{
    tg_error err = {0};
    tg_checkpoint *ck = tg_ckpt_new(&err);
    const char *name = bad_meta[*row].name, *fragment = bad_meta[*row].fragment;
    cr_assert_eq(tg_ckpt_set_meta(ck, bad_meta[*row].key, bad_meta[*row].value, &err), TG_ERR_ARG, "%s", name);
    if (fragment)
        cr_assert_not_null(strstr(err.msg, fragment), "%s: \"%s\" lacks \"%s\"", name, err.msg, fragment);
    cr_assert_eq(tg_ckpt_meta_count(ck), 0, "%s", name);
    tg_ckpt_free(ck);
}

Test(checkpoint, a_rejected_value_changes_nothing)
{
    tg_error err = {0};
    tg_checkpoint *ck = tg_ckpt_new(&err);
    cr_assert_eq(tg_ckpt_set_meta(ck, "a", "1", &err), TG_OK);
    cr_assert_eq(tg_ckpt_set_meta(ck, "a", "2\n", &err), TG_ERR_ARG);
    cr_assert_str_eq(tg_ckpt_get_meta(ck, "a"), "1");
    tg_ckpt_free(ck);
}

/* ---- every defect of the format, each with its own message ---- */

/* A defect file is a list of steps ending with op 0 (see build below). */
typedef struct step {
    char op;          /* 'H' header, 'u' u32, 'h' u16, 'r' raw bytes, 'R' n copies of a byte, 't' tensor, 'c' CRC */
    uint32_t v;       /* the version, the integer, the count of 'R', the tensor's ndim */
    const char *s;    /* the metadata, the raw bytes (the first one for 'R'), the tensor's name */
    size_t n;         /* the number of raw bytes */
    uint32_t dims[5];
} step;

#define HEADER(version, meta) {'H', (version), (meta), 0, {0}}
#define U32(x) {'u', (x), NULL, 0, {0}}
#define U16(x) {'h', (x), NULL, 0, {0}}
#define RAW(str, len) {'r', 0, (str), (len), {0}}
#define REPEAT(byte, count) {'R', (count), (byte), 1, {0}}
#define TENSOR(name, ndim, ...) {'t', (ndim), (name), 0, {__VA_ARGS__}}
#define CRC {'c', 0, NULL, 0, {0}}

static void build(bytes *b, const step *steps)
{
    b->len = 0;
    for (const step *s = steps; s->op; s++)
        switch (s->op) {
        case 'H': put_header(b, s->v, s->s); break;
        case 'u': put_le32(b, s->v); break;
        case 'h': put_le16(b, s->v); break;
        case 'r': put(b, s->s, s->n); break;
        case 'R': for (uint32_t i = 0; i < s->v; i++) put(b, s->s, 1); break;
        case 't': put_tensor(b, s->s, s->v, s->dims); break;
        case 'c': put_crc(b); break;
        }
}

static const struct {
    const char *name;
    step steps[12];
    const char *fragment;
} defects[] = {
    {"bad magic", {RAW("TGCX", 4), U32(1), U32(0), U32(0), CRC}, "bad magic"},
    {"version 2", {HEADER(2, ""), U32(0), CRC}, "unsupported version 2"},
    {"meta_len past the end", {RAW("TGCK", 4), U32(1), U32(1000), RAW("a=1\n", 4), U32(0), CRC},
     "metadata length 1000"},
    {"metadata line without '='", {HEADER(1, "novalue\n"), U32(0), CRC}, "line 1 (\"novalue\") is not key=value"},
    {"second metadata line without '='", {HEADER(1, "a=1\nnovalue\n"), U32(0), CRC}, "line 2"},
    {"empty metadata key", {HEADER(1, "=v\n"), U32(0), CRC}, "key is empty"},
    {"metadata without the final newline", {HEADER(1, "a=1"), U32(0), CRC}, "does not end with a newline"},
    {"an empty metadata line", {HEADER(1, "a=1\n\n"), U32(0), CRC}, "line 2 (\"\") is not key=value"},
    {"a metadata key twice", {HEADER(1, "a=1\na=2\n"), U32(0), CRC}, "duplicate key \"a\""},
    {"a metadata key that is not UTF-8", {HEADER(1, "\xFF=1\n"), U32(0), CRC}, "not valid UTF-8"},
    {"a metadata value that is not UTF-8", {HEADER(1, "k=\xC3\n"), U32(0), CRC}, "value is not valid UTF-8"},
    /* strlen cannot build this one */
    {"a NUL inside a metadata line", {RAW("TGCK", 4), U32(1), U32(4), RAW("a=\0\n", 4), U32(0), CRC}, "NUL"},
    {"tensor count 1000 for one tensor", {HEADER(1, ""), U32(1000), TENSOR("x", 1, 1), CRC}, "tensor count 1000"},
    /* as long as the smallest valid record, so only name_len is wrong */
    {"name_len 0", {HEADER(1, ""), U32(1), U16(0), U32(1), U32(1), U32(0), U32(0), CRC}, "name length 0"},
    {"200 name bytes announced, 20 present",
     {HEADER(1, ""), U32(1), U16(200), RAW("abcdefghijklmnopqrst", 20), CRC}, "the name of tensor 0"},
    /* name_len 256 cannot be valid, whatever follows */
    {"name_len 256", {HEADER(1, ""), U32(1), U16(256), REPEAT("n", 300), CRC}, "name length 256"},
    {"a NUL in a name", {HEADER(1, ""), U32(1), U16(3), RAW("a\0b", 3), U32(1), U32(1), U32(0), CRC}, "NUL"},
    {"a name that is not UTF-8", {HEADER(1, ""), U32(1), TENSOR("\xC3\x28", 1, 1), CRC}, "not valid UTF-8"},
    /* enough bytes for a tensor, so only ndim is wrong */
    {"ndim 0", {HEADER(1, ""), U32(1), U16(1), RAW("x", 1), U32(0), U32(0), U32(0), CRC}, "ndim 0"},
    {"ndim 5", {HEADER(1, ""), U32(1), TENSOR("x", 5, 1, 1, 1, 1, 1), CRC}, "ndim 5"},
    {"a zero dimension", {HEADER(1, ""), U32(1), TENSOR("x", 3, 2, 0, 3), U32(0), CRC}, "dimension 1 is 0"},
    /* (2^32-1)^4: ~2^128 elements, overflows any integer type */
    {"dims whose product overflows",
     {HEADER(1, ""), U32(1), U16(1), RAW("x", 1), U32(4), U32(0xFFFFFFFFu), U32(0xFFFFFFFFu), U32(0xFFFFFFFFu),
      U32(0xFFFFFFFFu), U32(0), CRC},
     "overflows"},
    /* 2^31 x 2^31 = 2^62 elements: fits in 64 bits, but not as a byte count (x4) */
    {"a byte count that overflows",
     {HEADER(1, ""), U32(1), U16(1), RAW("x", 1), U32(2), U32(0x80000000u), U32(0x80000000u), U32(0), CRC},
     "overflows"},
    {"1000 floats announced, 3 present",
     {HEADER(1, ""), U32(1), U16(1), RAW("x", 1), U32(1), U32(1000), U32(0), U32(0), U32(0), CRC},
     "the data of tensor 0 (shape [1000])"},
    {"the data exactly fills the file: no CRC", {HEADER(1, ""), U32(1), TENSOR("x", 1, 4)}, "the CRC"},
    /* the valid tiny file with its CRC's first byte changed (0xFA ^ 0x01) */
    {"a wrong CRC", {RAW((const char *)tiny_file, 43), U32(0xE45043FBu)}, "CRC mismatch"},
    {"trailing bytes", {RAW((const char *)tiny_file, sizeof tiny_file), RAW("xyz", 3)},
     "3 trailing bytes after the CRC"},
    {"a tensor name twice",
     {HEADER(1, ""), U32(3), TENSOR("w", 1, 2), TENSOR("b", 1, 1), TENSOR("w", 2, 1, 1), CRC},
     "duplicate tensor name \"w\""},
};

/* Rejected from a file (the message starts with its path) and from memory (with the label). */
TABLE_TEST(checkpoint, defect_is_rejected, defects)
{
    bytes b;
    build(&b, defects[*row].steps);
    const char *name = defects[*row].name, *fragment = defects[*row].fragment;
    expect_rejected(scratch_file("defect.tgck", b.p, b.len), TG_ERR_FORMAT, fragment);
    tg_error err = {0};
    cr_assert_null(tg_ckpt_parse(b.p, b.len, "memory", &err), "%s: accepted from memory", name);
    cr_assert_eq(err.code, TG_ERR_FORMAT, "%s: %s", name, err.msg);
    cr_assert_eq(strncmp(err.msg, "memory", 6), 0, "%s: %s", name, err.msg);
    cr_assert_not_null(strstr(err.msg, fragment), "%s: message \"%s\" lacks \"%s\"", name, err.msg, fragment);
}

/* A valid file of two tensors, w [2,2] and b [2], with the metadata `meta`. */
static void two_tensor_file(bytes *b, const char *meta)
{
    b->len = 0;
    put_header(b, 1, meta);
    put_le32(b, 2);
    put_tensor(b, "w", 2, (uint32_t[]){2, 2});
    put_tensor(b, "b", 1, (uint32_t[]){2});
    put_crc(b);
}

/* Every single-byte change of a valid file is caught (the CRC catches any error burst up to 32
 * bits; structure checks catch the rest), and none of them crashes the reader. */
Test(checkpoint, any_single_byte_flip_is_rejected)
{
    bytes b;
    two_tensor_file(&b, "a=1\nmodel=cae\n");
    const char *path = scratch_file("flip.tgck", b.p, b.len);
    tg_error err = {0};
    tg_checkpoint *ok = tg_ckpt_read(path, &err);
    cr_assert_not_null(ok, "base file: %s", err.msg);
    tg_ckpt_free(ok);

    const unsigned masks[] = {0xFF, 0x01, 0x80, 0x10};
    for (size_t pos = 0; pos < b.len; pos++) {
        for (size_t m = 0; m < sizeof masks / sizeof masks[0]; m++) {
            bytes flipped = b;
            flipped.p[pos] ^= (unsigned char)masks[m];
            write_bytes(path, flipped.p, flipped.len);
            tg_error e = {0};
            tg_checkpoint *ck = tg_ckpt_read(path, &e);
            cr_assert_null(ck, "byte %zu ^ 0x%02x was accepted", pos, masks[m]);
            cr_assert_neq(e.code, TG_OK);
            cr_assert_eq(strncmp(e.msg, path, strlen(path)), 0, "byte %zu: %s", pos, e.msg);
        }
    }
}

Test(checkpoint, truncation_at_every_length_is_rejected)
{
    bytes b;
    two_tensor_file(&b, "a=1\n");
    const char *path = scratch_path("cut.tgck");
    for (size_t len = 0; len < b.len; len++) {
        write_bytes(path, b.p, len);
        tg_error e = {0};
        tg_checkpoint *ck = tg_ckpt_read(path, &e);
        cr_assert_null(ck, "a file cut to %zu of %zu bytes was accepted", len, b.len);
        cr_assert_neq(e.code, TG_OK);
        /* in memory too, with the buffer cut exactly (ASan flags any read past it) */
        unsigned char *exact = malloc(len ? len : 1);
        memcpy(exact, b.p, len);
        cr_assert_null(tg_ckpt_parse(exact, len, "mem", NULL));
        free(exact);
    }
    write_bytes(path, b.p, b.len);
    tg_checkpoint *ck = tg_ckpt_read(path, NULL);
    cr_assert_not_null(ck);
    tg_ckpt_free(ck);
}

/* ---- files that are not checkpoints ---- */

Test(checkpoint, rejects_empty_file_directory_and_missing_file)
{
    const char *empty = scratch_file("empty", "", 0);
    expect_rejected(empty, TG_ERR_FORMAT, "empty file");
    expect_rejected(scratch, TG_ERR_IO, "is a directory");
    expect_rejected(scratch_path("missing.tgck"), TG_ERR_IO, "No such file");
}

Test(checkpoint, rejects_a_fifo_without_hanging, .timeout = 10)
{
    const char *fifo = scratch_path("fifo");
    cr_assert_eq(mkfifo(fifo, 0600), 0, "mkfifo: %s", strerror(errno));
    expect_rejected(fifo, TG_ERR_IO, "not a regular file");
}

Test(checkpoint, rejects_an_unreadable_file)
{
    if (geteuid() == 0)
        scratch_skip_test("root can read a file with mode 000");
    const char *path = write_tiny("locked.tgck");
    cr_assert_eq(chmod(path, 0), 0);
    expect_rejected(path, TG_ERR_IO, "Permission denied");
}

Test(checkpoint, rejects_a_file_over_the_size_limit)
{
    const char *path = write_tiny("tiny.tgck");
    tg_error err = {0};
    cr_assert_null(tg_ckpt_read_limited(path, sizeof tiny_file - 1, &err));
    cr_assert_not_null(strstr(err.msg, "limit"), "%s", err.msg);
    tg_checkpoint *ck = tg_ckpt_read_limited(path, sizeof tiny_file, &err);
    cr_assert_not_null(ck, "%s", err.msg);
    tg_ckpt_free(ck);
}

/* ---- parameters ---- */

/* Two parameters, enc.weight [3,2] = 100, 101, ... and enc.bias [2] = 7, 8, for the tests below
 * (each runs in its own process). */
static tg_param w, bias;
static tg_param *params[] = {&w, &bias};

/* Sets the parameters up and returns an empty checkpoint. */
static tg_checkpoint *params_and_checkpoint(void)
{
    tg_error err = {0};
    cr_assert_eq(tg_param_init(&w, "enc.weight", 2, (size_t[]){3, 2}, &err), TG_OK);
    cr_assert_eq(tg_param_init(&bias, "enc.bias", 1, (size_t[]){2}, &err), TG_OK);
    for (size_t i = 0; i < 6; i++)
        w.value.data[i] = 100.0f + (float)i;
    bias.value.data[0] = 7.0f;
    bias.value.data[1] = 8.0f;
    tg_checkpoint *ck = tg_ckpt_new(&err);
    cr_assert_not_null(ck, "%s", err.msg);
    return ck;
}

static void expect_params_untouched(void)
{
    for (size_t i = 0; i < 6; i++)
        cr_assert_eq(w.value.data[i], 100.0f + (float)i, "enc.weight[%zu] changed", i);
    cr_assert_eq(bias.value.data[0], 7.0f);
    cr_assert_eq(bias.value.data[1], 8.0f);
}

static void free_params_and(tg_checkpoint *ck)
{
    tg_ckpt_free(ck);
    tg_param_free(&w);
    tg_param_free(&bias);
}

Test(checkpoint, params_round_trip_through_a_file)
{
    tg_checkpoint *ck = params_and_checkpoint();
    tg_error err = {0};
    cr_assert_eq(tg_ckpt_add_params(ck, params, 2, &err), TG_OK, "%s", err.msg);
    const char *path = scratch_path("params.tgck");
    cr_assert_eq(tg_ckpt_write(ck, path, &err), TG_OK, "%s", err.msg);
    tg_ckpt_free(ck);

    tg_param_free(&w);
    tg_param_free(&bias);
    cr_assert_eq(tg_param_init(&w, "enc.weight", 2, (size_t[]){3, 2}, &err), TG_OK); /* zeros */
    cr_assert_eq(tg_param_init(&bias, "enc.bias", 1, (size_t[]){2}, &err), TG_OK);
    ck = tg_ckpt_read(path, &err);
    cr_assert_not_null(ck, "%s", err.msg);
    cr_assert_eq(tg_ckpt_load_params(ck, path, params, 2, &err), TG_OK, "%s", err.msg);
    expect_params_untouched(); /* i.e. the values saved */
    free_params_and(ck);
}

/* A failed load changes no parameter: one row per checkpoint that does not fit the two
 * parameters enc.weight [3,2] and enc.bias [2] (a tensor that fits would be copied first). */
static const struct {
    const char *name;
    struct {
        const char *name;
        size_t rows, cols; /* cols 0: a vector */
    } tensors[2];
    int nparams;
    int code;
    const char *message;
} bad_loads[] = {
    {"a bias of 3", {{"enc.weight", 3, 2}, {"enc.bias", 3, 0}}, 2, TG_ERR_SHAPE,
     "model.tgck: tensor enc.bias has shape [3], expected [2]"},
    /* the same number of elements in another shape is a mismatch too */
    {"the weight transposed", {{"enc.weight", 2, 3}}, 1, TG_ERR_SHAPE,
     "model.tgck: tensor enc.weight has shape [2,3], expected [3,2]"},
    {"no bias", {{"enc.weight", 3, 2}}, 2, TG_ERR_FORMAT, "model.tgck: missing tensor enc.bias"},
};

TABLE_TEST(checkpoint, failed_load_params_changes_nothing, bad_loads)
{
    tg_checkpoint *ck = params_and_checkpoint();
    tg_error err = {0};
    for (int i = 0; i < 2 && bad_loads[*row].tensors[i].name; i++) {
        tg_tensor t;
        size_t rows = bad_loads[*row].tensors[i].rows, cols = bad_loads[*row].tensors[i].cols;
        cr_assert_eq(cols ? tg_tensor_zeros2(&t, rows, cols, &err) : tg_tensor_zeros1(&t, rows, &err), TG_OK);
        cr_assert_eq(tg_ckpt_add(ck, bad_loads[*row].tensors[i].name, &t, &err), TG_OK);
        tg_tensor_free(&t);
    }
    cr_assert_eq(tg_ckpt_load_params(ck, "model.tgck", params, bad_loads[*row].nparams, &err), bad_loads[*row].code,
                 "%s: %s", bad_loads[*row].name, err.msg);
    cr_assert_str_eq(err.msg, bad_loads[*row].message, "%s", bad_loads[*row].name);
    expect_params_untouched();
    free_params_and(ck);
}

Test(checkpoint, add_params_is_all_or_nothing)
{
    tg_checkpoint *ck = params_and_checkpoint();
    tg_error err = {0};
    cr_assert_eq(tg_ckpt_add(ck, "enc.bias", &bias.value, &err), TG_OK);
    cr_assert_eq(tg_ckpt_add_params(ck, params, 2, &err), TG_ERR_ARG); /* enc.bias is taken */
    cr_assert_eq(tg_ckpt_count(ck), 1);
    cr_assert_null(tg_ckpt_find(ck, "enc.weight"), "enc.weight was left behind");
    cr_assert_not_null(tg_ckpt_find(ck, "enc.bias"));
    cr_assert_eq(tg_ckpt_add_params(ck, params, 1, &err), TG_OK, "%s", err.msg); /* the rollback was clean */
    cr_assert_str_eq(tg_ckpt_name(ck, 1), "enc.weight");
    cr_assert_eq(tg_ckpt_find(ck, "enc.weight"), tg_ckpt_tensor(ck, 1));
    free_params_and(ck);
}

/* ---- atomic writes ---- */

static tg_checkpoint *versioned_checkpoint(const char *version, float fill)
{
    tg_error err = {0};
    tg_checkpoint *ck = tg_ckpt_new(&err);
    cr_assert_eq(tg_ckpt_set_meta(ck, "version", version, &err), TG_OK);
    tg_tensor t;
    cr_assert_eq(tg_tensor_zeros2(&t, 8, 8, &err), TG_OK);
    tg_tensor_fill(&t, fill);
    cr_assert_eq(tg_ckpt_add(ck, "w", &t, &err), TG_OK);
    tg_tensor_free(&t);
    return ck;
}

static void expect_version(const char *path, const char *version, float fill)
{
    tg_error err = {0};
    tg_checkpoint *ck = tg_ckpt_read(path, &err);
    cr_assert_not_null(ck, "%s", err.msg);
    cr_assert_str_eq(tg_ckpt_get_meta(ck, "version"), version);
    cr_assert_eq(tg_ckpt_find(ck, "w")->data[63], fill);
    tg_ckpt_free(ck);
}

Test(checkpoint, crash_before_rename_leaves_the_old_file)
{
    const char *path = scratch_path("model.tgck");
    tg_error err = {0};
    tg_checkpoint *v1 = versioned_checkpoint("1", 1.0f), *v2 = versioned_checkpoint("2", 2.0f),
                  *v3 = versioned_checkpoint("3", 3.0f);
    cr_assert_eq(tg_ckpt_write(v1, path, &err), TG_OK, "%s", err.msg);

    char tmp_a[PATH_MAX + 64], tmp_b[PATH_MAX + 64];
    cr_assert_eq(tg_ckpt_write_stage(v2, path, 1, tmp_a, sizeof tmp_a, &err), TG_OK, "%s", err.msg);
    expect_version(path, "1", 1.0f); /* the target is the old file, intact */
    cr_assert_str_neq(tmp_a, path);
    cr_assert(file_exists(tmp_a), "the crash left no temp file");
    expect_version(tmp_a, "2", 2.0f); /* the temp file was complete */

    /* the next write finds the first temp file stale (no writer has it open: this process's id,
     * but not one of its open temporaries, as after a crash of an earlier process with the same
     * id) and removes it; a second crash leaves its own complete temp file */
    cr_assert_eq(tg_ckpt_write_stage(v3, path, 1, tmp_b, sizeof tmp_b, &err), TG_OK, "%s", err.msg);
    expect_version(tmp_b, "3", 3.0f);
    cr_assert_eq(scratch_count(".tmp-"), 1, "the stale temp file was not removed");
    expect_version(path, "1", 1.0f);

    /* a later real write replaces the target and removes the temp files no live writer owns
     * (these carry this process's id but it no longer has them open, as after a crash of an
     * earlier process with the same id) */
    cr_assert_eq(tg_ckpt_write(v3, path, &err), TG_OK, "%s", err.msg);
    expect_version(path, "3", 3.0f);
    cr_assert_eq(scratch_count(".tmp-"), 0, "stale temp files were left");
    tg_ckpt_free(v1);
    tg_ckpt_free(v2);
    tg_ckpt_free(v3);
}

Test(checkpoint, write_to_missing_directory_fails_cleanly)
{
    tg_checkpoint *ck = versioned_checkpoint("1", 1.0f);
    const char *path = scratch_path("no/such/dir/model.tgck");
    tg_error err = {0};
    cr_assert_eq(tg_ckpt_write(ck, path, &err), TG_ERR_IO);
    cr_assert_not_null(strstr(err.msg, path), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "No such file or directory"), "%s", err.msg);
    cr_assert_eq(scratch_count("model"), 0);
    tg_ckpt_free(ck);
}

Test(checkpoint, failed_rename_removes_the_temp_file)
{
    /* the target is a non-empty directory: refused before or after the file was written */
    const char *path = scratch_path("model.tgck");
    cr_assert_eq(mkdir(path, 0700), 0);
    write_bytes(scratch_path("model.tgck/keep"), "x", 1);
    tg_checkpoint *ck = versioned_checkpoint("1", 1.0f);
    tg_error err = {0};
    cr_assert_eq(tg_ckpt_write(ck, path, &err), TG_ERR_IO);
    cr_assert_not_null(strstr(err.msg, "directory"), "%s", err.msg); /* refused: only files are replaced */
    cr_assert_eq(scratch_count(".tmp-"), 0, "a temp file was left behind");
    cr_assert(file_exists(scratch_path("model.tgck/keep")));
    tg_ckpt_free(ck);
}

Test(checkpoint, failed_write_keeps_the_old_file_and_removes_the_temp_file)
{
    const char *path = scratch_path("model.tgck");
    tg_error err = {0};
    tg_checkpoint *small = versioned_checkpoint("1", 1.0f);
    cr_assert_eq(tg_ckpt_write(small, path, &err), TG_OK, "%s", err.msg);
    size_t old_len;
    uint8_t *old = read_bytes(path, &old_len);

    tg_checkpoint *big = tg_ckpt_new(&err);
    tg_tensor t;
    cr_assert_eq(tg_tensor_zeros2(&t, 256, 256, &err), TG_OK); /* 256 KiB: more than the limit below */
    cr_assert_eq(tg_ckpt_add(big, "w", &t, &err), TG_OK);
    tg_tensor_free(&t);

    /* Files in this process may not grow past 64 KiB: write() fails with EFBIG mid-file.  (This
     * test runs in its own process, so the limit ends with it.) */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit limit = {64 * 1024, 64 * 1024};
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &limit), 0);
    cr_assert_eq(tg_ckpt_write(big, path, &err), TG_ERR_IO);
    cr_assert_not_null(strstr(err.msg, "cannot write"), "%s", err.msg);

    size_t now_len;
    uint8_t *now = read_bytes(path, &now_len);
    cr_assert_eq(now_len, old_len);
    cr_assert_eq(memcmp(now, old, old_len), 0, "the target changed");
    cr_assert_eq(scratch_count(".tmp-"), 0, "a temp file was left behind");
    free(old);
    free(now);
    tg_ckpt_free(small);
    tg_ckpt_free(big);
}

/* Many names (the name tables grow several times) and a tensor larger than the writer's
 * buffer, through a file and back. */
Test(checkpoint, many_entries_and_a_large_tensor_round_trip)
{
    tg_error err = {0};
    tg_checkpoint *ck = tg_ckpt_new(&err);
    char name[32];
    for (int i = 0; i < 600; i++) {
        snprintf(name, sizeof name, "k%d", i);
        cr_assert_eq(tg_ckpt_set_meta_fmt(ck, name, &err, "%d", i * 7), TG_OK, "%s", err.msg);
    }
    tg_tensor one;
    cr_assert_eq(tg_tensor_zeros1(&one, 1, &err), TG_OK);
    for (int i = 0; i < 600; i++) {
        snprintf(name, sizeof name, "t/%d", i);
        one.data[0] = (float)i;
        cr_assert_eq(tg_ckpt_add(ck, name, &one, &err), TG_OK, "%s", err.msg);
    }
    tg_tensor big;
    cr_assert_eq(tg_tensor_create(&big, 2, (size_t[]){301, 299}, &err), TG_OK); /* ~352 KiB */
    for (size_t i = 0; i < big.size; i++) {
        uint32_t bits = (uint32_t)(i * 2654435761u); /* every kind of bit pattern, NaNs included */
        memcpy(&big.data[i], &bits, 4);
    }
    cr_assert_eq(tg_ckpt_add(ck, "big", &big, &err), TG_OK, "%s", err.msg);
    const char *path = scratch_path("many.tgck");
    cr_assert_eq(tg_ckpt_write(ck, path, &err), TG_OK, "%s", err.msg);
    tg_ckpt_free(ck);

    ck = tg_ckpt_read(path, &err);
    cr_assert_not_null(ck, "%s", err.msg);
    cr_assert_eq(tg_ckpt_meta_count(ck), 600);
    cr_assert_eq(tg_ckpt_count(ck), 601);
    for (int i = 0; i < 600; i++) {
        snprintf(name, sizeof name, "k%d", i);
        char want[16];
        snprintf(want, sizeof want, "%d", i * 7);
        cr_assert_str_eq(tg_ckpt_get_meta(ck, name), want);
        cr_assert_str_eq(tg_ckpt_meta_key(ck, i), name);
        snprintf(name, sizeof name, "t/%d", i);
        cr_assert_eq(tg_ckpt_find(ck, name)->data[0], (float)i);
        cr_assert_str_eq(tg_ckpt_name(ck, i), name);
    }
    const tg_tensor *back = tg_ckpt_find(ck, "big");
    cr_assert_not_null(back);
    cr_assert(tg_tensor_same_shape(back, &big));
    cr_assert_eq(memcmp(back->data, big.data, big.size * sizeof(float)), 0);
    cr_assert_null(tg_ckpt_find(ck, "t/600"));
    tg_ckpt_free(ck);
    tg_tensor_free(&one);
    tg_tensor_free(&big);
}

Test(checkpoint, typed_metadata_is_strict)
{
    tg_error err;
    tg_checkpoint *ck = tg_ckpt_new(&err);
    static const char *const bad_whole[] = {"1e3", "-5", "0x10", " 7", "7 ", "", "18446744073709551616", "12a"};
    for (size_t i = 0; i < sizeof bad_whole / sizeof bad_whole[0]; i++) {
        cr_assert_eq(tg_ckpt_set_meta(ck, "seed", bad_whole[i], &err), TG_OK, "%s", err.msg);
        uint64_t v = 42;
        cr_assert_eq(tg_ckpt_meta_uint(ck, "f.ckpt", "seed", true, 0, UINT64_MAX, &v, &err), TG_ERR_FORMAT,
                     "seed=%s accepted", bad_whole[i]);
        cr_assert_not_null(strstr(err.msg, "f.ckpt: metadata seed="), "%s", err.msg);
        cr_assert_eq(v, 42, "a rejected value changed the output");
    }
    uint64_t v = 0;
    cr_assert_eq(tg_ckpt_set_meta(ck, "seed", "18446744073709551615", &err), TG_OK);
    cr_assert_eq(tg_ckpt_meta_uint(ck, "f.ckpt", "seed", true, 0, UINT64_MAX, &v, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(v, UINT64_MAX);
    cr_assert_eq(tg_ckpt_meta_uint(ck, "f.ckpt", "seed", true, 0, 100, &v, &err), TG_ERR_FORMAT, "out of range");

    double x = 3.0;
    cr_assert_eq(tg_ckpt_meta_real(ck, "f.ckpt", "lambda", false, 0, 1, &x, &err), TG_OK, "absent and optional");
    cr_assert_eq(x, 3.0);
    cr_assert_eq(tg_ckpt_meta_real(ck, "f.ckpt", "lambda", true, 0, 1, &x, &err), TG_ERR_FORMAT);
    cr_assert_not_null(strstr(err.msg, "metadata key 'lambda' is missing"), "%s", err.msg);
    static const char *const bad_real[] = {"nan", "abc", "0.5x", "2"};
    for (size_t i = 0; i < sizeof bad_real / sizeof bad_real[0]; i++) {
        cr_assert_eq(tg_ckpt_set_meta(ck, "lambda", bad_real[i], &err), TG_OK);
        cr_assert_eq(tg_ckpt_meta_real(ck, "f.ckpt", "lambda", true, 0, 1, &x, &err), TG_ERR_FORMAT,
                     "lambda=%s accepted", bad_real[i]);
    }
    cr_assert_eq(tg_ckpt_set_meta(ck, "lambda", "0.0001", &err), TG_OK);
    cr_assert_eq(tg_ckpt_meta_real(ck, "f.ckpt", "lambda", true, 0, 1, &x, &err), TG_OK);
    cr_assert_eq(x, 0.0001);
    tg_ckpt_free(ck);
}
