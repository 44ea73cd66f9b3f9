/* nn/io/checkpoint_internal.h — internal (not installed): what the three checkpoint files share.
 *
 * The checkpoint code is cut where its ideas part (format: docs/checkpoint.md; API: checkpoint.h):
 *   checkpoint.c        the in-memory checkpoint: its name index, the text rules, setters and
 *                       getters, typed metadata, and parameters in and out;
 *   checkpoint_write.c  the file encoding: little-endian bytes through a buffered, CRC-tracking
 *                       sink into an atomic file;
 *   checkpoint_read.c   reading and validation: the whole file into a buffer, then a
 *                       bounds-checked walk over it.
 * The writer reads the entries directly and the reader fills them through the append functions,
 * so the layout of a checkpoint and the rules its text obeys are written once, here and in
 * checkpoint.c.  Also here: tg_ckpt_write_stage, the crash hook only tests use. */
#ifndef TG_CHECKPOINT_INTERNAL_H
#define TG_CHECKPOINT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"

/* Open-addressing hash table from a name to the index of its entry.  Adding, finding and the
 * reader's duplicate check stay O(1) per name, so even a hostile file with millions of tiny
 * entries is checked in linear time (a scan per name would be quadratic). */
typedef struct name_slot {
    const char *name; /* owned by the entry; NULL marks an empty slot */
    size_t len;
    int entry;
} name_slot;

typedef struct name_index {
    name_slot *slots;
    size_t cap;  /* a power of two, or 0 before the first insert */
    size_t used; /* kept <= cap / 2 so probe sequences stay short */
} name_index;

typedef struct meta_entry {
    char *key;
    char *value;
} meta_entry;

typedef struct tensor_entry {
    char *name;
    tg_tensor tensor; /* owned copy */
} tensor_entry;

struct tg_checkpoint {
    meta_entry *meta; /* in the order keys were first set */
    int n_meta, cap_meta;
    name_index meta_index;
    uint64_t meta_bytes; /* sum over entries of len(key) + len(value) + 2: the file's meta_len */

    tensor_entry *tensors; /* in the order they were added */
    int n_tensors, cap_tensors;
    name_index tensor_index;
};

/* The entry index stored under name[0..len), or -1. */
int tg_ckpt_index_lookup(const name_index *ix, const char *name, size_t len);

/* Appends key=value (already checked, key not present).  False when memory runs out; then the
 * checkpoint is unchanged. */
bool tg_ckpt_append_meta(tg_checkpoint *ck, const char *key, size_t key_len, const char *value, size_t value_len);
/* Appends name -> *tensor, taking ownership of the tensor's storage on success.  The name is
 * checked and not present.  False when memory runs out; then nothing changed. */
bool tg_ckpt_append_tensor(tg_checkpoint *ck, const char *name, size_t name_len, tg_tensor *tensor);

/* The text rules, shared by the setters and the reader.  Each returns NULL when the text is
 * acceptable, else what is wrong ("is empty", "contains '='", "is not valid UTF-8", ...). */
const char *tg_ckpt_key_problem(const char *key, size_t len);
const char *tg_ckpt_value_problem(const char *value, size_t len);
const char *tg_ckpt_name_problem(const char *name, size_t len);

/* At most this many bytes of untrusted text are quoted in a message. */
#define QUOTE_MAX 48
/* A name or line from a file or a caller, fit for a one-line message: at most QUOTE_MAX bytes,
 * control bytes (< 0x20 and 0x7f, newlines included) shown as \xHH.  Use as
 * tg_ckpt_quoted(s, n).s (C11 keeps the returned struct alive to the end of the full expression). */
typedef struct quoted_text {
    char s[QUOTE_MAX * 4 + 4];
} quoted_text;

quoted_text tg_ckpt_quoted(const char *s, size_t len);

/* FOR TESTS: tg_ckpt_write, but with stop_before_rename != 0 it stops right before the rename,
 * as a crash would: the temporary file stays behind (complete and fsync'ed), path is untouched,
 * and TG_OK is returned.  The temporary file's path is copied to tmp_path (if not NULL and
 * tmp_path_cap > 0; truncated to fit).  With stop_before_rename == 0 it is tg_ckpt_write. */
int tg_ckpt_write_stage(const tg_checkpoint *ck, const char *path, int stop_before_rename,
                        char *tmp_path, size_t tmp_path_cap, tg_error *err);

#endif
