/* models/examples/example_data.h — what the training examples (resmlp, vae, sparse_dae) share:
 * their command line and their data, so each file shows only its network; lenet, gru_adding and
 * mlp_fit read their own options' numbers with example_whole and example_real.
 *
 *   NAME [--data DIR|synthetic] [--epochs N] [--limit N] [--EXTRA X]
 *
 * --data: an IDX directory (Fashion-MNIST's layout) or the built-in synthetic set (the default,
 * what the test suite runs); --limit: the first N training images; --EXTRA: one real option of
 * the example's own (sparse_dae's --l1), when it names one. */
#ifndef TG_EXAMPLE_DATA_H
#define TG_EXAMPLE_DATA_H

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/tape.h"
#include "nn/fit.h"
#include "nn/io/data.h"

typedef struct example_args {
    const char *dir;
    long epochs, limit;
} example_args;

/* The number after `option` on the command line: `text` as a whole number in lo..hi (decimal
 * digits only), or as a finite real in [lo, hi].  Anything else ("abc", "3x", "-1", "1e999") is
 * said on one line naming the option and refused, so a typo never trains a model on a default. */
static inline bool example_whole(const char *program, const char *option, const char *text, long lo, long hi,
                                 long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (*text >= '0' && *text <= '9' && !errno && !*end && v >= lo && v <= hi)
        return *out = v, true;
    fprintf(stderr, "%s: %s: '%s' is not a whole number in %ld..%ld\n", program, option, text, lo, hi);
    return false;
}

static inline bool example_real(const char *program, const char *option, const char *text, double lo, double hi,
                                double *out)
{
    char *end;
    double v = strtod(text, &end); /* an overflow gives an infinity; an underflow is a real number */
    if (end != text && !*end && !isspace((unsigned char)*text) && isfinite(v) && v >= lo && v <= hi)
        return *out = v, true;
    fprintf(stderr, "%s: %s: '%s' is not a number in [%g, %g]\n", program, option, text, lo, hi);
    return false;
}

#define EXAMPLE_MAX_EPOCHS 1000000L

static inline bool example_usage(const char *name, const char *extra)
{
    fprintf(stderr, "usage: %s [--data DIR|synthetic] [--epochs N] [--limit N]%s%s%s\n", name, extra ? " [" : "",
            extra ? extra : "", extra ? " X]" : "");
    return false;
}

/* Reads the options into *a (defaults: synthetic, 2 epochs, every image), and `extra` (an option
 * name such as "--l1", or NULL) into *extra_value (a real in [0, 1e6]).  Prints the usage, or what
 * is wrong with a value, and returns false on anything else. */
static inline bool example_parse(int argc, char **argv, const char *name, const char *extra, double *extra_value,
                                 example_args *a)
{
    *a = (example_args){"synthetic", 2, 0};
    if (argc % 2 == 0) /* an option without its value */
        return example_usage(name, extra);
    for (int k = 1; k + 1 < argc; k += 2) {
        const char *option = argv[k], *value = argv[k + 1];
        bool ok = true;
        if (!strcmp(option, "--data"))
            a->dir = value;
        else if (!strcmp(option, "--epochs"))
            ok = example_whole(name, option, value, 1, EXAMPLE_MAX_EPOCHS, &a->epochs);
        else if (!strcmp(option, "--limit"))
            ok = example_whole(name, option, value, 1, LONG_MAX, &a->limit);
        else if (extra && !strcmp(option, extra))
            ok = example_real(name, option, value, 0.0, 1e6, extra_value);
        else
            return example_usage(name, extra);
        if (!ok)
            return false;
    }
    return true;
}

/* The training and test sets (with their labels when `labels`): 4096 and 1024 synthetic images,
 * or the IDX files' train-* (the first --limit) and t10k-*. */
static inline int example_load(const example_args *a, bool labels, tg_dataset *train, tg_dataset *test, tg_error *err)
{
    if (!strcmp(a->dir, "synthetic")) /* image i does not depend on the count: --limit takes a prefix */
        return tg_dataset_synthetic(train, "train", a->limit > 0 && a->limit < 4096 ? (size_t)a->limit : 4096, 28, 28, 1,
                                    err) ||
               tg_dataset_synthetic(test, "t10k", 1024, 28, 28, 1, err);
    return tg_dataset_load(train, a->dir, "train", labels, (size_t)a->limit, err) ||
           tg_dataset_load(test, a->dir, "t10k", labels, 0, err);
}

/* The test set is evaluated in batches of this many images (tg_batch_in_order, nn/fit.h). */
#define EXAMPLE_TEST_BATCH 1000

/* The baseline an autoencoder must beat: predict every test image as the training set's mean
 * image m.  *mse = mean over test pixels of (x − m)²; *bce = mean over test images of
 * Σ_pixels BCE(m, x) (the negative log-likelihood of the pixel-wise Bernoulli model with
 * means m, clamped to [1e-6, 1 − 1e-6]: the best ELBO a decoder that ignores its code can reach). */
static inline void example_mean_image_baseline(const tg_dataset *train, const tg_dataset *test, double *mse,
                                               double *bce)
{
    const size_t dim = train->rows * train->cols;
    double *mean = calloc(dim, sizeof *mean), se = 0.0, nll = 0.0;
    if (!mean) {
        *mse = *bce = NAN;
        return;
    }
    for (size_t i = 0; i < train->n; i++)
        for (size_t k = 0; k < dim; k++)
            mean[k] += train->images[i * dim + k] / 255.0 / (double)train->n;
    for (size_t i = 0; i < test->n; i++)
        for (size_t k = 0; k < dim; k++) {
            double x = test->images[i * dim + k] / 255.0, m = fmin(fmax(mean[k], 1e-6), 1.0 - 1e-6);
            se += (x - mean[k]) * (x - mean[k]);
            nll -= x * log(m) + (1.0 - x) * log(1.0 - m);
        }
    free(mean);
    *mse = se / (double)(test->n * dim);
    *bce = nll / (double)test->n;
}

/* One line "NAME: message" on stderr; exit status 1. */
static inline int example_fail(const char *name, const tg_error *err)
{
    fprintf(stderr, "%s: %s\n", name, err->msg);
    return 1;
}

/* The data could not be loaded: bad input, exit 2 like the programs (the message names the file). */
static inline int example_bad_data(const char *name, const tg_error *err)
{
    example_fail(name, err);
    return 2;
}

#endif
