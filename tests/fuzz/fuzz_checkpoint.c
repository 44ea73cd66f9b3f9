/* tests/fuzz/fuzz_checkpoint.c — libFuzzer target: the checkpoint reader, tg_ckpt_parse
 * (nn/io/checkpoint.h, format: shared/spec/checkpoint.md), on whole file images.
 *
 * Contract checked besides the sanitizers':
 *   - on failure: NULL and a one-line message naming the input (fuzz_common.h);
 *   - on success: every metadata entry is a non-empty key without '=' or '\n' and a value without
 *     '\n', and tg_ckpt_get_meta finds it; every tensor has a name of 1..255 bytes without NUL,
 *     ndim 1..4, size = product of its shape, every element readable (ASan checks the reads),
 *     and tg_ckpt_find returns it by name;
 *   - what the reader accepts, the writer accepts: rebuilding the checkpoint with tg_ckpt_new,
 *     tg_ckpt_set_meta and tg_ckpt_add succeeds (a file the program can load, it can save).
 *
 * The CRC hides every check behind it (metadata lines, names, duplicates) from a mutating fuzzer:
 * a random change almost never leaves it valid.  So each input is parsed twice: as it is, and
 * with its last 4 bytes replaced by the CRC-32 of the bytes before them. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_common.h"
#include "nn/io/checkpoint.h"
#include "nn/io/crc32.h"

#define LABEL "fuzz.ckpt"

static void check_metadata(const tg_checkpoint *ck, tg_checkpoint *copy)
{
    for (int i = 0; i < tg_ckpt_meta_count(ck); i++) {
        const char *key = tg_ckpt_meta_key(ck, i), *value = tg_ckpt_meta_value(ck, i);
        if (!key || !value || !key[0] || strchr(key, '=') || strchr(key, '\n') || strchr(value, '\n'))
            fuzz_fail("a malformed metadata entry was accepted", key);
        if (tg_ckpt_get_meta(ck, key) != value)
            fuzz_fail("tg_ckpt_get_meta does not find an entry", key);
        tg_error err = {0};
        if (tg_ckpt_set_meta(copy, key, value, &err) != TG_OK)
            fuzz_fail("the writer refuses metadata the reader accepted", err.msg);
    }
}

static void check_tensors(const tg_checkpoint *ck, tg_checkpoint *copy)
{
    for (int i = 0; i < tg_ckpt_count(ck); i++) {
        const char *name = tg_ckpt_name(ck, i);
        const tg_tensor *t = tg_ckpt_tensor(ck, i);
        if (!name || !t || strlen(name) < 1 || strlen(name) > TG_CKPT_NAME_MAX)
            fuzz_fail("a tensor with a bad name was accepted", name);
        if (t->ndim < 1 || t->ndim > TG_MAX_DIMS)
            fuzz_fail("a tensor with a bad ndim was accepted", name);
        size_t size = 1;
        for (int d = 0; d < t->ndim; d++)
            size *= t->shape[d];
        if (size != t->size || size == 0)
            fuzz_fail("a tensor's size is not the product of its shape", name);
        if (tg_ckpt_find(ck, name) != t)
            fuzz_fail("tg_ckpt_find does not find a tensor", name);
        float sum = 0.0f;
        for (size_t k = 0; k < t->size; k++)
            sum += t->data[k];
        volatile float sink = sum;
        (void)sink;
        tg_error err = {0};
        if (tg_ckpt_add(copy, name, t, &err) != TG_OK)
            fuzz_fail("the writer refuses a tensor the reader accepted", err.msg);
    }
}

static void parse_and_check(const uint8_t *bytes, size_t len)
{
    tg_error err = {0};
    tg_checkpoint *ck = tg_ckpt_parse(bytes, len, LABEL, &err);
    if (!ck) {
        if (err.code == TG_OK)
            fuzz_fail("NULL returned without an error code", err.msg);
        fuzz_check_error(err.code, &err, LABEL);
        return;
    }
    tg_checkpoint *copy = tg_ckpt_new(NULL);
    if (!copy)
        abort();
    check_metadata(ck, copy);
    check_tensors(ck, copy);
    tg_ckpt_free(copy);
    tg_ckpt_free(ck);
}

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t len)
{
    parse_and_check(bytes, len);
    if (len >= 4) {
        uint8_t *fixed = malloc(len);
        if (!fixed)
            abort();
        memcpy(fixed, bytes, len);
        uint32_t crc = tg_crc32(0, fixed, len - 4);
        for (int i = 0; i < 4; i++) /* little-endian, as the format stores it */
            fixed[len - 4 + i] = (uint8_t)(crc >> (8 * i));
        parse_and_check(fixed, len);
        free(fixed);
    }
    return 0;
}
