/* nn/io/dataset.c — the synthetic data set, byte -> float conversion, and the mini-batch iterator.
 * (IDX file loading lives in nn/io/idx.c.) */
#include "data.h"

#include <stdlib.h>
#include <string.h>
#include <math.h>

#include "tensor/convert.h"
#include "tensor/parallel.h"
#include "tensor/rng.h"

void tg_dataset_free(tg_dataset *ds)
{
    if (!ds)
        return;
    void **blocks = ds->storage_;
    if (blocks) {
        free(blocks[0]);
        free(blocks[1]);
        free(blocks);
    }
    memset(ds, 0, sizeof *ds);
}

/* Images per chunk of the conversion and of the prefetch: ~50 KB of floats for 28x28, so a
 * batch of 32 uses both cores. */
enum { IMAGES_PER_CHUNK = 16 };

typedef struct convert_job {
    const tg_dataset *ds;
    const uint32_t *indices;
    float *out;
} convert_job;

/* byte / 255 (correctly rounded, so the same bits on every path: tensor/convert.h) for the
 * images [lo, hi) of the batch. */
static void convert_images(size_t lo, size_t hi, void *ctx)
{
    const convert_job *job = ctx;
    size_t dim = job->ds->rows * job->ds->cols;
    for (size_t k = lo; k < hi; k++) {
        size_t image = job->indices ? job->indices[k] : k;
        tg_bytes_to_unit_floats(job->ds->images + image * dim, dim, job->out + k * dim); // out [count, dim]
    }
}

void tg_dataset_images_to_float(const tg_dataset *ds, const uint32_t *indices, size_t count, float *out)
{
    convert_job job = {ds, indices, out};
    tg_parallel_for(count, IMAGES_PER_CHUNK, convert_images, &job);
}

/* ------------------------------------------------------------------------------------------- */
/* Synthetic images.
 *
 * Shapes live in a unit frame (x right, y down, the image spanning -1..1 before jitter); each
 * class is a union of strokes (segments, a ring, a disc).  A pixel's ink is a soft function of
 * its distance d to the nearest stroke, 1 / (1 + (d/w)^4), which is flat near the stroke and falls
 * off smoothly: a blurred pen.  Only +, -, *, / and sqrt (all correctly rounded in IEEE 754) are
 * used, so the bytes do not depend on the machine's libm. */

#define SYNTHETIC_CLASSES 10
#define MAX_STROKES 4

typedef struct stroke {
    enum { SEGMENT, RING, DISC } kind;
    float x0, y0, x1, y1; /* segment end points; for RING/DISC (x0, y0) is the centre, x1 the radius */
} stroke;

typedef struct shape {
    int n;
    stroke strokes[MAX_STROKES];
} shape;

#define SEG(a, b, c, d) { SEGMENT, a, b, c, d }

static const shape class_shapes[SYNTHETIC_CLASSES] = {
    { 1, { { RING, 0, 0, 0.55f, 0 } } },                                    /* 0: ring */
    { 1, { SEG(0, -0.6f, 0, 0.6f) } },                                      /* 1: vertical bar */
    { 1, { SEG(-0.6f, 0, 0.6f, 0) } },                                      /* 2: horizontal bar */
    { 1, { SEG(-0.5f, 0.5f, 0.5f, -0.5f) } },                               /* 3: "/" */
    { 1, { SEG(-0.5f, -0.5f, 0.5f, 0.5f) } },                               /* 4: "\" */
    { 2, { SEG(0, -0.5f, 0, 0.5f), SEG(-0.5f, 0, 0.5f, 0) } },              /* 5: plus */
    { 1, { { DISC, 0, 0, 0.3f, 0 } } },                                     /* 6: blob */
    { 4, { SEG(-0.45f, -0.45f, 0.45f, -0.45f), SEG(0.45f, -0.45f, 0.45f, 0.45f),
           SEG(0.45f, 0.45f, -0.45f, 0.45f), SEG(-0.45f, 0.45f, -0.45f, -0.45f) } }, /* 7: square */
    { 2, { SEG(-0.5f, -0.5f, 0.5f, 0.5f), SEG(-0.5f, 0.5f, 0.5f, -0.5f) } }, /* 8: X */
    { 2, { SEG(-0.5f, -0.5f, 0.5f, -0.5f), SEG(0, -0.5f, 0, 0.6f) } },      /* 9: T */
};

/* Squared distance from (x, y) to one stroke. */
static float stroke_distance2(const stroke *s, float x, float y)
{
    if (s->kind == SEGMENT) {
        float dx = s->x1 - s->x0, dy = s->y1 - s->y0;
        float px = x - s->x0, py = y - s->y0;
        float t = (px * dx + py * dy) / (dx * dx + dy * dy); /* projection onto the segment */
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        float ex = px - t * dx, ey = py - t * dy;
        return ex * ex + ey * ey;
    }
    float px = x - s->x0, py = y - s->y0;
    float r = sqrtf(px * px + py * py);
    float d = s->kind == RING ? fabsf(r - s->x1) : (r > s->x1 ? r - s->x1 : 0);
    return d * d;
}

/* The per-image random draws: they make every image of a class a little different. */
typedef struct pose {
    float cx, cy;   /* centre offset */
    float scale;    /* shape size */
    float shear;    /* slant: x shifts in proportion to y */
    float width;    /* pen width */
    float peak;     /* ink brightness */
} pose;

static float uniform_in(tg_rng *rng, float lo, float hi)
{
    return lo + (hi - lo) * tg_rng_uniform(rng);
}

static void draw_image(uint8_t *img, size_t rows, size_t cols, const shape *sh, const pose *p, tg_rng *rng)
{
    const float noise = 0.06f;
    for (size_t r = 0; r < rows; r++) {
        float v = ((float)r + 0.5f) / (float)rows * 2.0f - 1.0f;
        for (size_t c = 0; c < cols; c++) {
            float u = ((float)c + 0.5f) / (float)cols * 2.0f - 1.0f;
            /* Image coordinates -> the shape's frame. */
            float y = (v - p->cy) / p->scale;
            float x = (u - p->cx) / p->scale - p->shear * y;
            float d2 = 1e30f;
            for (int k = 0; k < sh->n; k++) {
                float dk = stroke_distance2(&sh->strokes[k], x, y);
                d2 = dk < d2 ? dk : d2;
            }
            float t2 = d2 / (p->width * p->width);
            float ink = p->peak / (1.0f + t2 * t2);
            float value = ink + uniform_in(rng, -noise, noise);
            value = value < 0 ? 0 : value > 1 ? 1 : value;
            img[r * cols + c] = (uint8_t)(value * 255.0f + 0.5f);
        }
    }
}

int tg_dataset_synthetic(tg_dataset *ds, const char *split, size_t n, size_t rows, size_t cols,
                         uint64_t seed, tg_error *err)
{
    memset(ds, 0, sizeof *ds);
    if (!split || (strcmp(split, "train") != 0 && strcmp(split, "t10k") != 0))
        return tg_error_set(err, TG_ERR_ARG, "synthetic: unknown split \"%s\" (expected train or t10k)",
                            split ? split : "(null)");
    if (n == 0 || rows == 0 || cols == 0)
        return tg_error_set(err, TG_ERR_ARG, "synthetic: n=%zu rows=%zu cols=%zu (each must be >= 1)", n, rows, cols);
    if (rows > SIZE_MAX / cols || n > SIZE_MAX / (rows * cols))
        return tg_error_set(err, TG_ERR_NOMEM, "synthetic: %zu images of %zux%zu overflow size_t", n, rows, cols);
    size_t dim = rows * cols;
    void **blocks = malloc(2 * sizeof *blocks);
    uint8_t *images = malloc(n * dim);
    uint8_t *labels = malloc(n);
    if (!blocks || !images || !labels) {
        free(blocks);
        free(images);
        free(labels);
        return tg_error_set(err, TG_ERR_NOMEM, "synthetic: cannot allocate %zu images of %zux%zu", n, rows, cols);
    }
    /* One PCG stream per image (and split), so image i does not depend on n. */
    uint64_t split_bit = strcmp(split, "t10k") == 0;
    for (size_t i = 0; i < n; i++) {
        tg_rng rng;
        tg_rng_seed(&rng, seed, 2 * (uint64_t)i + split_bit);
        int label = (int)tg_rng_below(&rng, SYNTHETIC_CLASSES);
        pose p;
        p.cx = uniform_in(&rng, -0.2f, 0.2f);
        p.cy = uniform_in(&rng, -0.2f, 0.2f);
        p.scale = uniform_in(&rng, 0.75f, 1.1f);
        p.shear = uniform_in(&rng, -0.25f, 0.25f);
        p.width = uniform_in(&rng, 0.10f, 0.16f);
        p.peak = uniform_in(&rng, 0.75f, 1.0f);
        labels[i] = (uint8_t)label;
        draw_image(images + i * dim, rows, cols, &class_shapes[label], &p, &rng);
    }
    blocks[0] = images;
    blocks[1] = labels;
    ds->storage_ = blocks;
    ds->images = images;
    ds->labels = labels;
    ds->n = n;
    ds->rows = rows;
    ds->cols = cols;
    ds->n_classes = SYNTHETIC_CLASSES;
    return TG_OK;
}

/* ------------------------------------------------------------------------------------------- */
/* A held-out split. */

#define HELD_OUT_STREAM 0x76616c6964ULL /* "valid": the split's rng stream (the batcher's shuffles use 0..) */

/* The images of `all` (the first n) whose held[i] is `which`, in file order, into a data set
 * that tg_dataset_free releases. */
static int split_part(const tg_dataset *all, size_t n, const bool *held, bool which, size_t count, tg_dataset *out,
                      tg_error *err)
{
    const size_t dim = all->rows * all->cols;
    void **blocks = calloc(2, sizeof *blocks);
    uint8_t *images = malloc(count * dim);
    uint8_t *labels = all->labels ? malloc(count) : NULL;
    if (!blocks || !images || (all->labels && !labels)) {
        free(blocks), free(images), free(labels);
        return tg_error_set(err, TG_ERR_NOMEM, "cannot allocate %zu images for a held-out split", count);
    }
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (held[i] != which)
            continue;
        memcpy(images + j * dim, all->images + i * dim, dim);
        if (labels)
            labels[j] = all->labels[i];
        j++;
    }
    blocks[0] = images, blocks[1] = labels;
    *out = (tg_dataset){.images = images, .labels = labels, .n = count, .rows = all->rows, .cols = all->cols,
                        .n_classes = all->n_classes, .storage_ = blocks};
    return TG_OK;
}

int tg_dataset_split(const tg_dataset *all, size_t limit, size_t held_count, uint64_t seed, tg_dataset *rest,
                     tg_dataset *held_out, tg_error *err)
{
    *rest = *held_out = (tg_dataset){0};
    const size_t n = limit > 0 && limit < all->n ? limit : all->n;
    if (held_count == 0 || held_count >= n || n > UINT32_MAX)
        return tg_error_set(err, TG_ERR_ARG, "held-out split of %zu images: must be 1 to %zu (below the %zu images)",
                            held_count, n > 0 ? n - 1 : 0, n);
    uint32_t *perm = malloc(n * sizeof *perm);
    bool *held = calloc(n, sizeof *held);
    int rc = TG_OK;
    if (!perm || !held)
        rc = tg_error_set(err, TG_ERR_NOMEM, "cannot allocate the held-out split of %zu images", n);
    else {
        tg_rng rng; /* a partial Fisher-Yates shuffle: its first `held_count` entries are held out */
        tg_rng_seed(&rng, seed, HELD_OUT_STREAM);
        for (size_t i = 0; i < n; i++)
            perm[i] = (uint32_t)i;
        for (size_t i = 0; i < held_count; i++) {
            size_t j = i + tg_rng_below(&rng, (uint32_t)(n - i));
            uint32_t t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
            held[perm[i]] = true;
        }
        if (!(rc = split_part(all, n, held, false, n - held_count, rest, err)) &&
            (rc = split_part(all, n, held, true, held_count, held_out, err)))
            tg_dataset_free(rest);
    }
    free(perm);
    free(held);
    return rc;
}

/* ------------------------------------------------------------------------------------------- */
/* Mini-batch iterator. */

int tg_batcher_init(tg_batcher *b, const tg_dataset *ds, size_t batch, size_t limit, bool shuffle,
                    uint64_t seed, tg_error *err)
{
    memset(b, 0, sizeof *b);
    if (!ds || ds->n == 0)
        return tg_error_set(err, TG_ERR_ARG, "batcher: the data set is empty");
    if (batch == 0)
        return tg_error_set(err, TG_ERR_ARG, "batcher: batch size 0");
    size_t n = limit > 0 && limit < ds->n ? limit : ds->n;
    if (n > UINT32_MAX)
        return tg_error_set(err, TG_ERR_ARG, "batcher: %zu images (at most %lu: indices are 32-bit)", n,
                            (unsigned long)UINT32_MAX);
    b->order = malloc(n * sizeof *b->order);
    if (!b->order)
        return tg_error_set(err, TG_ERR_NOMEM, "batcher: cannot allocate %zu indices", n);
    b->n = n;
    b->batch = batch;
    b->shuffle = shuffle;
    b->seed = seed;
    for (size_t i = 0; i < n; i++)
        b->order[i] = (uint32_t)i;
    tg_batcher_seek(b, 0, 0);
    return TG_OK;
}

void tg_batcher_free(tg_batcher *b)
{
    if (!b)
        return;
    free(b->order);
    memset(b, 0, sizeof *b);
}

void tg_batcher_seek(tg_batcher *b, uint64_t epoch, size_t position)
{
    if (b->shuffle) {
        /* Always from the identity, so the order depends on (seed, epoch) only, not on history. */
        for (size_t i = 0; i < b->n; i++)
            b->order[i] = (uint32_t)i;
        tg_rng rng;
        tg_rng_seed(&rng, b->seed, epoch);
        tg_rng_shuffle_u32(&rng, b->order, b->n);
    }
    b->epoch = epoch;
    b->position = position < b->n ? position : b->n;
}

size_t tg_batcher_next(tg_batcher *b, const uint32_t **indices)
{
    size_t left = b->n - b->position;
    size_t count = left < b->batch ? left : b->batch;
    *indices = b->order + b->position;
    b->position += count;
    return count;
}

typedef struct prefetch_job {
    const uint8_t *images;
    const uint32_t *order; /* the next batch's images */
    size_t dim;
} prefetch_job;

/* Prefetches images [lo, hi) of the next batch, line by line. */
static void prefetch_images(size_t lo, size_t hi, void *ctx)
{
    enum { CACHE_LINE = 64 };
    const prefetch_job *job = ctx;
    for (size_t k = lo; k < hi; k++) {
        const uint8_t *image = job->images + (size_t)job->order[k] * job->dim;
        for (size_t offset = 0; offset < job->dim; offset += CACHE_LINE)
            __builtin_prefetch(image + offset, 0 /* read */, 2 /* keep in L2 and beyond */);
        __builtin_prefetch(image + job->dim - 1, 0, 2); /* the last line, when the image starts mid-line */
    }
}

/* On all threads: issuing a batch's prefetches is not free, because the core stalls once its
 * queue of outstanding misses is full (batch 256 is 3,300 lines from anywhere in memory), so
 * one thread issuing them all would keep the others waiting; split, each issues its share
 * (docs/performance.md has the measurement).  The chunks are the conversion's, so a thread
 * mostly prefetches the positions it will convert (not always: in a team a thread that is
 * done takes the other's chunks; then the lines come from the other core's cache). */
void tg_batcher_prefetch_next(const tg_batcher *b, const tg_dataset *ds)
{
    size_t left = b->n - b->position, count = left < b->batch ? left : b->batch;
    prefetch_job job = {ds->images, b->order + b->position, ds->rows * ds->cols};
    tg_parallel_for(count, IMAGES_PER_CHUNK, prefetch_images, &job);
}

void tg_batcher_next_epoch(tg_batcher *b)
{
    tg_batcher_seek(b, b->epoch + 1, 0);
}

size_t tg_batcher_batches_per_epoch(const tg_batcher *b)
{
    return b->batch ? (b->n + b->batch - 1) / b->batch : 0;
}

uint64_t tg_batcher_epoch(const tg_batcher *b) { return b->epoch; }
size_t tg_batcher_position(const tg_batcher *b) { return b->position; }
size_t tg_batcher_size(const tg_batcher *b) { return b->n; }
