/* nn/io/data.h — data sets for training: IDX files (MNIST / Fashion-MNIST layout), a built-in
 * synthetic set, and a mini-batch iterator.
 *
 * Images stay bytes in memory (the 60000 Fashion-MNIST training images cost their 47 MB, nothing
 * more) and become floats in [0,1] one batch at a time with tg_dataset_images_to_float.
 *
 *   tg_idx_read                  one IDX file (plain or gzip) -> dims + bytes
 *   tg_idx_parse_mem             the same for a file image in memory (the fuzzing entry point)
 *   tg_dataset_load              <dir>/<split>-images-idx3-ubyte[.gz] (+ labels) -> tg_dataset
 *   tg_dataset_synthetic         n generated images with labels 0..9, no files needed
 *   tg_dataset_split             a seeded held-out split (validation) and the rest
 *   tg_idx_write, tg_dataset_save   IDX files out (generated data sets)
 *   tg_dataset_images_to_float   selected images -> out [count, rows*cols], byte / 255
 *   tg_batcher_*                 (epoch, position) iterator over shuffled or ordered indices
 *
 * Every loading failure is returned as a tg_error whose message starts with the file's path:
 *     "data/train-images-idx3-ubyte: bad magic 0x00000903 (expected 0x00000803 for images)" */
#ifndef TG_DATA_H
#define TG_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest decompressed .gz accepted by the IDX reader (a guard against decompression bombs). */
#define TG_IDX_MAX_BYTES ((size_t)2 << 30)

typedef struct tg_dataset {
    uint8_t *images;      /* n * rows * cols bytes, image-major: image i at images + i*rows*cols */
    uint8_t *labels;      /* n bytes, or NULL when no labels were loaded */
    size_t n, rows, cols; /* dim = rows * cols; any image size, not only 28x28 */
    int n_classes;        /* max label + 1 over the label file (0 without labels) */
    void *storage_;       /* private: a malloc'ed array of 2 blocks that tg_dataset_free releases */
} tg_dataset;

/* Reads one IDX file into a freshly malloc'ed *buffer_out (free() it); *data_out points at the
 * element data inside it, dims_out[0..*ndim_out) are the dimensions (the rest set to 1).
 * Gzip is recognized by the 0x1f 0x8b magic, not by the name; a name ending in ".gz" whose
 * contents are not gzip is an error.  Validated: the magic (two zero bytes, element type 0x08 =
 * unsigned byte, ndim 1..4), each dimension >= 1, the element count not overflowing 64 bits, and
 * the length exactly header + data (truncated data and trailing bytes are both errors).  Also
 * rejected with a message: a missing or unreadable path (strerror), a directory, a FIFO or other
 * non-regular file (never blocks on it), an empty file, a malformed .gz.  On failure
 * *buffer_out and *data_out are NULL. */
int tg_idx_read(const char *path, uint8_t **buffer_out, const uint8_t **data_out, int *ndim_out,
                size_t dims_out[4], tg_error *err);

/* tg_idx_read for a whole file image held in memory, bytes[0..len): the same validation (the
 * header checks and the gzip decoder are the very code tg_idx_read runs) and the same messages,
 * with `label` in place of the path (NULL means "idx"); a label ending in ".gz" whose bytes are
 * not gzip is an error, as for a file.  expect_ndim 0 accepts any IDX file; 3 requires the
 * images magic 0x00000803 and 1 the labels magic 0x00000801, as tg_dataset_load does (any other
 * value is TG_ERR_ARG).  Never reads outside [bytes, bytes+len): the entry point for fuzzing.
 * On success *buffer_out (free() it) holds the header and all the elements. */
int tg_idx_parse_mem(const uint8_t *bytes, size_t len, const char *label, int expect_ndim,
                     uint8_t **buffer_out, const uint8_t **data_out, int *ndim_out, size_t dims_out[4],
                     tg_error *err);

/* Loads `<dir>/<split>-images-idx3-ubyte` and, when want_labels, `<split>-labels-idx1-ubyte`;
 * each is tried as named, then with a ".gz" suffix (a file that exists but is broken is reported,
 * not skipped).  split is "train" or "t10k".  limit > 0 keeps only the first `limit` images (and
 * labels); the whole file is still validated (its length, and for .gz its CRC).  limit 0 or above
 * the file's count keeps all.  n_classes is computed over the whole label file, so it does not
 * depend on limit.  On failure returns an error naming the file and the problem and leaves *ds
 * empty (all zero). */
int tg_dataset_load(tg_dataset *ds, const char *dir, const char *split, bool want_labels,
                    size_t limit, tg_error *err);

/* The built-in `synthetic` data set: n images of rows x cols with labels 0..9 (n_classes 10).
 * Each class is a stroke pattern (ring, bar, cross, ...) drawn with soft edges at a jittered
 * position and scale, plus pixel noise, so an autoencoder has real structure to learn.  Image i
 * depends only on (seed, split, i): a smaller n gives a prefix of a larger one, and "train" and
 * "t10k" give different images.  Only basic float arithmetic and sqrt are used, so the bytes are
 * the same on every IEEE-754 machine.  n, rows, cols >= 1. */
int tg_dataset_synthetic(tg_dataset *ds, const char *split, size_t n, size_t rows, size_t cols,
                         uint64_t seed, tg_error *err);

/* Splits the first `limit` images of `all` (0: all) into `held_count` images held out (for
 * validation), chosen by a permutation seeded by `seed` (the same images for the same seed and
 * data), and the rest.  Both keep file order and the labels; free both with tg_dataset_free.
 * TG_ERR_ARG when held_count is 0 or not below the images; on failure both are empty. */
int tg_dataset_split(const tg_dataset *all, size_t limit, size_t held_count, uint64_t seed, tg_dataset *rest,
                     tg_dataset *held_out, tg_error *err);

/* Writes an IDX file of unsigned bytes (magic 0x0000080N, N = ndim; big-endian dimensions;
 * the data), atomically: a crash never leaves half a file at path.  TG_ERR_ARG for ndim outside
 * 1..4 or a dimension outside 1..2³²−1; the writer's TG_ERR_IO naming the path. */
int tg_idx_write(const char *path, int ndim, const size_t *dims, const uint8_t *data, tg_error *err);
/* Writes ds as <dir>/<split>-images-idx3-ubyte and, when it has labels, <split>-labels-idx1-ubyte
 * (plain, what tg_dataset_load reads back). */
int tg_dataset_save(const tg_dataset *ds, const char *dir, const char *split, tg_error *err);

/* Releases what a loader allocated and empties *ds.  Safe on an empty (zeroed) data set. */
void tg_dataset_free(tg_dataset *ds);

/* out [count, rows*cols] = images[indices[k]] / 255 as floats in [0,1].  indices NULL means the
 * images 0..count-1.  Indices must be < ds->n (the batcher only hands out such indices). */
void tg_dataset_images_to_float(const tg_dataset *ds, const uint32_t *indices, size_t count, float *out);

/* Mini-batches over the first `limit` images of a data set.  The whole iteration state is
 * (epoch, position): epoch e visits the images in the order of a shuffle seeded by
 * tg_rng_seed(seed, stream = e) applied to 0..n-1 (or in file order without shuffle), and
 * position is how many images of that order were handed out already.  A resumed run that seeks
 * to the saved (epoch, position) gets exactly the batches an uninterrupted run would have got. */
typedef struct tg_batcher {
    size_t n;          /* images per epoch */
    size_t batch;      /* batch size; the last batch of an epoch may be smaller */
    bool shuffle;
    uint64_t seed;
    uint64_t epoch;
    size_t position;   /* index into order[] of the next batch's first image */
    uint32_t *order;   /* n indices: this epoch's visiting order */
} tg_batcher;

/* limit 0 means all images; a limit above ds->n is clamped to ds->n.  Fails on batch 0, an empty
 * data set, or more than 2^32-1 images (indices are uint32_t).  Starts at (epoch 0, position 0). */
int tg_batcher_init(tg_batcher *b, const tg_dataset *ds, size_t batch, size_t limit, bool shuffle,
                    uint64_t seed, tg_error *err);
/* Releases the order array and empties *b.  Safe on an empty batcher. */
void tg_batcher_free(tg_batcher *b);
/* Moves to (epoch, position), building that epoch's order; a position past n is clamped to n
 * (the end of the epoch). */
void tg_batcher_seek(tg_batcher *b, uint64_t epoch, size_t position);
/* Next batch of the current epoch: *indices points at `count` entries (valid until the next
 * seek), the return value is count; 0 at the end of the epoch, after which call
 * tg_batcher_next_epoch (or tg_batcher_seek(b, epoch + 1, 0)). */
size_t tg_batcher_next(tg_batcher *b, const uint32_t **indices);
/* Hints the CPU to start loading the images of the batch that tg_batcher_next will hand out next
 * (nothing at the end of an epoch).  Call it once the current batch has been read: shuffled
 * images lie anywhere in the data set, so without it each batch waits on main memory.  Changes
 * no result. */
void tg_batcher_prefetch_next(const tg_batcher *b, const tg_dataset *ds);
/* Same as tg_batcher_seek(b, epoch + 1, 0). */
void tg_batcher_next_epoch(tg_batcher *b);
/* ceil(n / batch): the batches of one whole epoch, the smaller last one included. */
size_t tg_batcher_batches_per_epoch(const tg_batcher *b);
/* The current state, to save in a checkpoint and give back to tg_batcher_seek. */
uint64_t tg_batcher_epoch(const tg_batcher *b);
size_t tg_batcher_position(const tg_batcher *b);
/* Images per epoch (after the limit). */
size_t tg_batcher_size(const tg_batcher *b);

#ifdef __cplusplus
}
#endif

#endif
