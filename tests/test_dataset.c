/* tests/test_dataset.c — the data sets and the batcher of nn/io/dataset.c: the built-in synthetic
 * set, bytes to floats, and the (epoch, position) mini-batch iterator.  (Loading IDX files into
 * a data set, tg_dataset_load, is tested with the IDX reader in test_idx.c.) */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "nn/io/data.h"
#include "tensor/parallel.h"

TestSuite(dataset, .timeout = 120);
TestSuite(batcher, .timeout = 60);

/* ---- the synthetic data set ------------------------------------------------------------------- */

Test(dataset, synthetic_is_deterministic_and_labelled)
{
    tg_dataset a, b, c, t;
    tg_error err;
    cr_assert_eq(tg_dataset_synthetic(&a, "train", 500, 28, 28, 7, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(tg_dataset_synthetic(&b, "train", 500, 28, 28, 7, &err), TG_OK);
    cr_assert_eq(tg_dataset_synthetic(&c, "train", 500, 28, 28, 8, &err), TG_OK);
    cr_assert_eq(tg_dataset_synthetic(&t, "t10k", 500, 28, 28, 7, &err), TG_OK);
    size_t bytes = 500 * 28 * 28;
    cr_assert_arr_eq(a.images, b.images, bytes);
    cr_assert_arr_eq(a.labels, b.labels, 500);
    cr_assert_neq(memcmp(a.images, c.images, bytes), 0, "another seed, other images");
    cr_assert_neq(memcmp(a.images, t.images, bytes), 0, "t10k differs from train");
    cr_assert_eq(a.n_classes, 10);
    int histogram[10] = { 0 };
    for (int i = 0; i < 500; i++) {
        cr_assert_lt(a.labels[i], 10);
        histogram[a.labels[i]]++;
    }
    for (int k = 0; k < 10; k++)
        cr_assert_gt(histogram[k], 20, "class %d appears %d times in 500", k, histogram[k]);

    /* Image i depends only on (seed, split, i): a smaller set is a prefix. */
    tg_dataset p;
    cr_assert_eq(tg_dataset_synthetic(&p, "train", 50, 28, 28, 7, &err), TG_OK);
    cr_assert_arr_eq(p.images, a.images, 50 * 28 * 28);
    tg_dataset_free(&a);
    tg_dataset_free(&b);
    tg_dataset_free(&c);
    tg_dataset_free(&t);
    tg_dataset_free(&p);
}

Test(dataset, synthetic_has_learnable_class_structure)
{
    /* Each image has ink and background, and a nearest-class-mean classifier fitted on train
     * recognizes t10k images far above the 10% of chance. */
    enum { N = 2000, R = 20, C = 24, D = R * C };
    tg_dataset train, test;
    tg_error err;
    cr_assert_eq(tg_dataset_synthetic(&train, "train", N, R, C, 1, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(tg_dataset_synthetic(&test, "t10k", 500, R, C, 1, &err), TG_OK, "%s", err.msg);
    static double mean[10][D];
    int count[10] = { 0 };
    for (int i = 0; i < N; i++) {
        int y = train.labels[i];
        count[y]++;
        size_t ink = 0;
        for (int j = 0; j < D; j++) {
            mean[y][j] += train.images[i * D + j];
            ink += train.images[i * D + j] > 128;
        }
        cr_assert(ink > D / 50 && ink < D / 2, "image %d has %zu inked pixels of %d", i, ink, D);
    }
    for (int y = 0; y < 10; y++)
        for (int j = 0; j < D; j++)
            mean[y][j] /= count[y];
    int correct = 0;
    for (int i = 0; i < 500; i++) {
        int best = -1;
        double best_d = 0;
        for (int y = 0; y < 10; y++) {
            double d = 0;
            for (int j = 0; j < D; j++) {
                double e = test.images[i * D + j] - mean[y][j];
                d += e * e;
            }
            if (best < 0 || d < best_d) {
                best = y;
                best_d = d;
            }
        }
        correct += best == test.labels[i];
    }
    cr_assert_gt(correct, 350, "nearest class mean: %d / 500 correct", correct);
    tg_dataset_free(&train);
    tg_dataset_free(&test);
}

Test(dataset, synthetic_bad_arguments)
{
    tg_dataset ds;
    tg_error err;
    cr_assert_eq(tg_dataset_synthetic(&ds, "valid", 10, 28, 28, 1, &err), TG_ERR_ARG);
    cr_assert_eq(tg_dataset_synthetic(&ds, "train", 0, 28, 28, 1, &err), TG_ERR_ARG);
    cr_assert_eq(tg_dataset_synthetic(&ds, "train", 10, 0, 28, 1, &err), TG_ERR_ARG);
    cr_assert_eq(tg_dataset_synthetic(&ds, "train", SIZE_MAX / 2, 1 << 20, 1 << 20, 1, &err), TG_ERR_NOMEM);
    cr_assert_null(ds.images);
}

Test(dataset, images_to_float)
{
    uint8_t pixels[3 * 2] = { 0, 255, 51, 102, 1, 254 };
    tg_dataset ds = { .images = pixels, .n = 3, .rows = 1, .cols = 2 };
    const uint32_t pick[2] = { 2, 0 };
    float out[4];
    tg_dataset_images_to_float(&ds, pick, 2, out);
    cr_assert_float_eq(out[0], 1.0f / 255.0f, 1e-9f);
    cr_assert_float_eq(out[1], 254.0f / 255.0f, 1e-7f);
    cr_assert_eq(out[2], 0.0f);
    cr_assert_eq(out[3], 1.0f);
    float all[6];
    tg_dataset_images_to_float(&ds, NULL, 3, all);
    cr_assert_float_eq(all[2], 0.2f, 1e-7f);
    cr_assert_float_eq(all[3], 0.4f, 1e-7f);
    for (int k = 0; k < 6; k++)
        cr_assert(all[k] >= 0.0f && all[k] <= 1.0f);
}

/* ---- the batcher ------------------------------------------------------------------------------ */

/* A data set with n images of one pixel, for iterating only. */
static tg_dataset tiny_set(size_t n)
{
    static uint8_t pixels[1000];
    cr_assert_leq(n, sizeof pixels);
    return (tg_dataset){ .images = pixels, .n = n, .rows = 1, .cols = 1 };
}

/* Records one epoch's order by iterating it; checks batch sizes on the way. */
static void run_epoch(tg_batcher *b, uint32_t *order)
{
    size_t seen = 0, batches = 0, count;
    const uint32_t *idx;
    while ((count = tg_batcher_next(b, &idx)) > 0) {
        size_t expected = tg_batcher_size(b) - seen < b->batch ? tg_batcher_size(b) - seen : b->batch;
        cr_assert_eq(count, expected);
        memcpy(order + seen, idx, count * sizeof *idx);
        seen += count;
        batches++;
    }
    cr_assert_eq(seen, tg_batcher_size(b));
    cr_assert_eq(batches, tg_batcher_batches_per_epoch(b));
    cr_assert_eq(tg_batcher_next(b, &idx), 0, "stays at the end");
}

Test(batcher, every_index_once_per_epoch_with_short_last_batch)
{
    tg_dataset ds = tiny_set(103);
    tg_batcher b;
    tg_error err;
    cr_assert_eq(tg_batcher_init(&b, &ds, 10, 0, true, 42, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(tg_batcher_batches_per_epoch(&b), 11);
    for (int epoch = 0; epoch < 3; epoch++) {
        cr_assert_eq(tg_batcher_epoch(&b), (uint64_t)epoch);
        uint32_t order[103];
        size_t last = 0, count;
        const uint32_t *idx;
        int seen[103] = { 0 };
        size_t total = 0;
        while ((count = tg_batcher_next(&b, &idx)) > 0) {
            for (size_t k = 0; k < count; k++) {
                cr_assert_lt(idx[k], 103);
                seen[idx[k]]++;
                order[total + k] = idx[k];
            }
            total += count;
            last = count;
        }
        cr_assert_eq(last, 3, "the last batch holds the 3 left over");
        cr_assert_eq(total, 103);
        for (int i = 0; i < 103; i++)
            cr_assert_eq(seen[i], 1, "epoch %d: image %d seen %d times", epoch, i, seen[i]);
        size_t in_place = 0;
        for (int i = 0; i < 103; i++)
            in_place += order[i] == (uint32_t)i;
        cr_assert_lt(in_place, 20, "a shuffle moves most images");
        tg_batcher_next_epoch(&b);
    }
    tg_batcher_free(&b);
}

/* A prefetch is only a hint: an epoch with one after every batch (the last one at the end of the
 * epoch, where there is nothing left to fetch) hands out the same batches as one without.  The
 * ASan build checks that it reads no index past the epoch's end: with batch 10 (one chunk of
 * the prefetch loop) and 40 (three, on two threads; the last batch is short). */
static void prefetch_changes_nothing(size_t batch)
{
    tg_dataset ds = tiny_set(103);
    tg_batcher plain, hinted;
    tg_error err;
    cr_assert_eq(tg_batcher_init(&plain, &ds, batch, 0, true, 7, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(tg_batcher_init(&hinted, &ds, batch, 0, true, 7, &err), TG_OK, "%s", err.msg);
    const uint32_t *a, *b;
    size_t count;
    while ((count = tg_batcher_next(&plain, &a)) > 0) {
        cr_assert_eq(tg_batcher_next(&hinted, &b), count);
        tg_batcher_prefetch_next(&hinted, &ds);
        cr_assert_eq(tg_batcher_position(&hinted), tg_batcher_position(&plain));
        cr_assert_arr_eq(a, b, count * sizeof *a);
    }
    tg_batcher_prefetch_next(&hinted, &ds);
    cr_assert_eq(tg_batcher_next(&hinted, &b), 0);
    tg_batcher_free(&plain);
    tg_batcher_free(&hinted);
}

Test(batcher, prefetch_changes_nothing)
{
    prefetch_changes_nothing(10);
    tg_set_threads(2);
    prefetch_changes_nothing(40);
    tg_set_threads(1);
}

Test(batcher, order_depends_only_on_seed_and_epoch)
{
    tg_dataset ds = tiny_set(64);
    tg_batcher a, b, c;
    tg_error err;
    cr_assert_eq(tg_batcher_init(&a, &ds, 5, 0, true, 9, &err), TG_OK);
    cr_assert_eq(tg_batcher_init(&b, &ds, 7, 0, true, 9, &err), TG_OK); /* other batch size */
    cr_assert_eq(tg_batcher_init(&c, &ds, 5, 0, true, 10, &err), TG_OK);
    uint32_t oa[3][64], ob[3][64], oc[64];
    for (int e = 0; e < 3; e++) {
        run_epoch(&a, oa[e]);
        run_epoch(&b, ob[e]);
        tg_batcher_next_epoch(&a);
        tg_batcher_next_epoch(&b);
    }
    run_epoch(&c, oc);
    for (int e = 0; e < 3; e++)
        cr_assert_arr_eq(oa[e], ob[e], sizeof oa[e], "epoch %d", e);
    cr_assert_neq(memcmp(oa[0], oa[1], sizeof oa[0]), 0, "epochs 0 and 1 differ");
    cr_assert_neq(memcmp(oa[1], oa[2], sizeof oa[0]), 0, "epochs 1 and 2 differ");
    cr_assert_neq(memcmp(oa[0], oc, sizeof oc), 0, "seeds 9 and 10 differ");

    /* Jumping straight to epoch 2 gives the order epoch 2 had after two epochs of history. */
    uint32_t jumped[64];
    tg_batcher_seek(&c, 2, 0);
    tg_batcher_free(&c);
    cr_assert_eq(tg_batcher_init(&c, &ds, 5, 0, true, 9, &err), TG_OK);
    tg_batcher_seek(&c, 2, 0);
    run_epoch(&c, jumped);
    cr_assert_arr_eq(jumped, oa[2], sizeof jumped);
    tg_batcher_free(&a);
    tg_batcher_free(&b);
    tg_batcher_free(&c);
}

Test(batcher, no_shuffle_is_file_order_and_limit)
{
    tg_dataset ds = tiny_set(50);
    tg_batcher b;
    tg_error err;
    cr_assert_eq(tg_batcher_init(&b, &ds, 8, 20, false, 3, &err), TG_OK);
    cr_assert_eq(tg_batcher_size(&b), 20);
    cr_assert_eq(tg_batcher_batches_per_epoch(&b), 3);
    for (int e = 0; e < 2; e++) {
        uint32_t order[20];
        run_epoch(&b, order);
        for (uint32_t i = 0; i < 20; i++)
            cr_assert_eq(order[i], i);
        tg_batcher_next_epoch(&b);
    }
    tg_batcher_free(&b);

    cr_assert_eq(tg_batcher_init(&b, &ds, 8, 20, true, 3, &err), TG_OK);
    uint32_t order[20];
    run_epoch(&b, order);
    for (int i = 0; i < 20; i++)
        cr_assert_lt(order[i], 20, "the limit keeps the first 20 images");
    tg_batcher_free(&b);

    cr_assert_eq(tg_batcher_init(&b, &ds, 8, 500, false, 3, &err), TG_OK);
    cr_assert_eq(tg_batcher_size(&b), 50, "a limit above n is n");
    tg_batcher_free(&b);
}

Test(batcher, seek_resumes_exactly)
{
    /* An uninterrupted run over 3 epochs, recorded batch by batch ... */
    enum { N = 45, B = 10, PER_EPOCH = 5, EPOCHS = 3 };
    tg_dataset ds = tiny_set(N);
    tg_batcher b;
    tg_error err;
    cr_assert_eq(tg_batcher_init(&b, &ds, B, 0, true, 77, &err), TG_OK);
    uint32_t record[EPOCHS][PER_EPOCH][B];
    size_t counts[EPOCHS][PER_EPOCH];
    uint64_t epochs_at[EPOCHS][PER_EPOCH];
    size_t positions_at[EPOCHS][PER_EPOCH];
    for (int e = 0; e < EPOCHS; e++) {
        for (int k = 0; k < PER_EPOCH; k++) {
            epochs_at[e][k] = tg_batcher_epoch(&b);
            positions_at[e][k] = tg_batcher_position(&b);
            const uint32_t *idx;
            counts[e][k] = tg_batcher_next(&b, &idx);
            memcpy(record[e][k], idx, counts[e][k] * sizeof *idx);
        }
        const uint32_t *idx;
        cr_assert_eq(tg_batcher_next(&b, &idx), 0);
        tg_batcher_next_epoch(&b);
    }
    tg_batcher_free(&b);

    /* ... and, from every saved (epoch, position), a fresh batcher continues identically. */
    for (int e0 = 0; e0 < EPOCHS; e0++) {
        for (int k0 = 0; k0 < PER_EPOCH; k0++) {
            cr_assert_eq(tg_batcher_init(&b, &ds, B, 0, true, 77, &err), TG_OK);
            tg_batcher_seek(&b, epochs_at[e0][k0], positions_at[e0][k0]);
            for (int e = e0; e < EPOCHS; e++) {
                for (int k = e == e0 ? k0 : 0; k < PER_EPOCH; k++) {
                    const uint32_t *idx;
                    size_t count = tg_batcher_next(&b, &idx);
                    cr_assert_eq(count, counts[e][k]);
                    cr_assert_arr_eq(idx, record[e][k], count * sizeof *idx, "resumed at (%d,%d), batch (%d,%d)", e0, k0, e, k);
                }
                const uint32_t *idx;
                cr_assert_eq(tg_batcher_next(&b, &idx), 0);
                tg_batcher_next_epoch(&b);
            }
            tg_batcher_free(&b);
        }
    }

    /* A position between batch boundaries and one past the end. */
    cr_assert_eq(tg_batcher_init(&b, &ds, B, 0, true, 77, &err), TG_OK);
    tg_batcher_seek(&b, 1, 13);
    const uint32_t *idx;
    cr_assert_eq(tg_batcher_next(&b, &idx), B);
    cr_assert_arr_eq(idx, &record[1][1][3], 7 * sizeof *idx);
    cr_assert_arr_eq(idx + 7, record[1][2], 3 * sizeof *idx);
    tg_batcher_seek(&b, 1, 1000);
    cr_assert_eq(tg_batcher_position(&b), N);
    cr_assert_eq(tg_batcher_next(&b, &idx), 0);
    tg_batcher_free(&b);
}

Test(batcher, bad_arguments)
{
    tg_dataset ds = tiny_set(10), empty = tiny_set(0);
    tg_batcher b;
    tg_error err;
    cr_assert_eq(tg_batcher_init(&b, &ds, 0, 0, true, 1, &err), TG_ERR_ARG);
    cr_assert_not_null(strstr(err.msg, "batch size 0"), "%s", err.msg);
    cr_assert_eq(tg_batcher_init(&b, &empty, 4, 0, true, 1, &err), TG_ERR_ARG);
    cr_assert_null(b.order);
    tg_batcher_free(&b);
}
