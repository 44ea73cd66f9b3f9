/* bench/bench_matmul.c — throughput of tg_gemm on the products of a CAE training step.
 *
 *   bench_matmul [--threads N] [--path auto|scalar|avx2|avx512|neon] [--batch N...] [--square N...]
 *                [--zeros F...] [--images DIR]
 *
 * For each batch size B (default 32 and 256) it times the five products of one training step of
 * the contractive autoencoder (D = 784 inputs, H = 64 hidden units), then the square products
 * (default 1024³), and prints one line per product:
 *
 *   M=256 K=784 N=64 op=NN path=avx512 threads=1 gflops=187.3
 *
 * With --zeros, it also times the two products that read the images (x·W1 and xᵀ·g) with that
 * fraction of A set to zero at random, through tg_gemm and through tg_gemm_sparse_a (GFLOP/s
 * count the dense product's flops, so the two are comparable):
 *
 *   M=256 K=784 N=64 op=NN path=avx512 threads=1 zeros=0.5 dense_gflops=110.2 sparse_gflops=121.0 speedup=1.10 threshold=0.45
 *
 * threshold: the share of zeros from which the library itself chooses the zero-skipping kernel on
 * this path and processor (tg_gemm_sparse_min_zero_fraction).
 * Independent random zeros are the harder case for the zero-skipping kernel: it skips a step
 * only when both rows of a pair are zero there, which in images (zeros in runs) happens more.
 * With --images DIR, A is a batch of real images instead (the first B training images of the IDX
 * set in DIR, as the CAE reads them), and `zeros=` is the share of their pixels that are zero:
 *
 *   M=256 K=784 N=64 op=NN path=avx2 threads=1 images=1 zeros=0.50 dense_gflops=... sparse_gflops=... speedup=... threshold=...
 * The timing mirrors the OpenBLAS peer (shared/peers/sgemm_openblas.py) so the two can be
 * compared line by line: inputs uniform in [0,1), 3 warm-up calls, then the best of 5 runs of a
 * loop that repeats the product until it has taken at least 0.06 s; C = op(A)·op(B) (beta = 0). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/io/data.h"
#include "tensor/convert.h"
#include "tensor/matmul.h"
#include "tensor/parallel.h"
#include "tensor/rng.h"
#include "tensor/tensor.h"

#include "bench_args.h"

enum { MAX_SIZES = 16, WARMUP_CALLS = 3, REPEATS = 5 };
static const double MIN_LOOP_SECONDS = 0.06;
/* The largest side a --batch or --square size may have (a 16384² product's three matrices take 3 GiB). */
#define MAX_SIDE 16384

#define USAGE_LINE                                                                                             \
    "usage: bench_matmul [--threads N] [--path auto|scalar|avx2|avx512|neon] [--batch N...] [--square N...] " \
    "[--zeros F...] [--images DIR]\n"

/* --help: the usage line and what each option does (a bad argument gets the line alone). */
static void help(void)
{
    printf(USAGE_LINE
           "  --threads N   worker threads (default: all cores)\n"
           "  --path P      kernel path (default: auto, the best this processor supports)\n"
           "  --batch N...  batch sizes for the CAE products, 1 to %d (default: 32 256)\n"
           "  --square N... sizes of the square NN products, 1 to %d (default: 1024)\n"
           "  --zeros F...  also time the products that read the images with a fraction F of zeros,\n"
           "                densely and skipping zeros (default: none)\n"
           "  --images DIR  also time them with real images as A: the first training images of the\n"
           "                IDX set in DIR (e.g. /usr/share/datasets/fashion-mnist)\n",
           MAX_SIDE, MAX_SIDE);
}

static float *random_matrix(tg_rng *rng, size_t n)
{
    float *x = tg_aligned_alloc(n * sizeof(float));
    if (x)
        tg_rng_fill_uniform(rng, x, n, 0.0f, 1.0f);
    return x;
}

/* Times C[M,N] = op(A)·op(B) with op given as "NN", "NT", "TN" or "TT", skipping A's zeros or
 * not, A being `given` (M·K floats, stored as op says) or, when it is NULL, random with a fraction
 * `zeros` set to 0; returns GFLOP/s (of the dense product), or a negative value when the matrices
 * cannot be allocated. */
static double gflops(tg_simd_path path, bool skip_zeros, size_t M, size_t K, size_t N, const char *op,
                     double zeros, const float *given)
{
    const tg_gemm_options opt = {.skip_zeros_of_a = skip_zeros, .path = path};
    tg_trans ta = op[0] == 'T' ? TG_TRANS : TG_NOTRANS;
    tg_trans tb = op[1] == 'T' ? TG_TRANS : TG_NOTRANS;
    size_t lda = ta == TG_TRANS ? M : K; /* A stored K×M or M×K */
    size_t ldb = tb == TG_TRANS ? K : N; /* B stored N×K or K×N */
    tg_rng rng;
    tg_rng_seed(&rng, 0, 0);
    float *A = random_matrix(&rng, M * K), *B = random_matrix(&rng, K * N);
    float *C = tg_aligned_alloc(M * N * sizeof(float));
    double best = -1.0;
    if (A && B && C) {
        for (size_t k = 0; k < M * K; k++)
            if (given)
                A[k] = given[k];
            else if (tg_rng_uniform(&rng) < zeros)
                A[k] = 0.0f;
        for (int w = 0; w < WARMUP_CALLS; w++)
            tg_gemm_ex(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, N, &opt);
        for (int r = 0; r < REPEATS; r++) {
            long reps = 0;
            double t0 = tg_now_seconds(), dt;
            do {
                tg_gemm_ex(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, N, &opt);
                reps++;
                dt = tg_now_seconds() - t0;
            } while (dt <= MIN_LOOP_SECONDS);
            double per_call = dt / (double)reps;
            if (best < 0.0 || per_call < best)
                best = per_call;
        }
    }
    free(A);
    free(B);
    free(C);
    return best > 0.0 ? 2.0 * (double)M * (double)K * (double)N / best / 1e9 : -1.0;
}

/* Reads the sizes following option argv[*i] (there is at least one argument after it) into list:
 * that argument and every later one that starts with a digit, at most MAX_SIZES, each a whole
 * number from 1 to MAX_SIDE (else one line and exit 2, as bench_whole); returns how many. */
static int parse_sizes(int argc, char **argv, int *i, size_t *list)
{
    const char *option = argv[*i];
    int n = 0;
    do {
        if (n == MAX_SIZES) {
            fprintf(stderr, "bench_matmul: %s: at most %d sizes\n", option, MAX_SIZES);
            exit(2);
        }
        list[n++] = (size_t)bench_whole("bench_matmul", option, argv[++*i], 1, MAX_SIDE);
    } while (*i + 1 < argc && isdigit((unsigned char)argv[*i + 1][0]));
    return n;
}

static int cannot_allocate(size_t M, size_t K, size_t N)
{
    fprintf(stderr, "bench_matmul: cannot allocate M=%zu K=%zu N=%zu\n", M, K, N);
    return 1;
}

static int report(tg_simd_path path, int threads, size_t M, size_t K, size_t N, const char *op)
{
    double g = gflops(path, false, M, K, N, op, 0.0, NULL);
    if (g < 0.0)
        return cannot_allocate(M, K, N);
    printf("M=%zu K=%zu N=%zu op=%s path=%s threads=%d gflops=%.1f\n", M, K, N, op,
           tg_simd_name(path), threads, g);
    fflush(stdout);
    return 0;
}

/* The same product through tg_gemm and tg_gemm_sparse_a, A with a fraction `zeros` of zeros: at
 * random, or those of the images `given`. */
static int report_sparse(tg_simd_path path, int threads, size_t M, size_t K, size_t N, const char *op,
                         double zeros, const float *given)
{
    double dense = gflops(path, false, M, K, N, op, zeros, given);
    double sparse = gflops(path, true, M, K, N, op, zeros, given);
    if (dense < 0.0 || sparse < 0.0)
        return cannot_allocate(M, K, N);
    printf("M=%zu K=%zu N=%zu op=%s path=%s threads=%d %szeros=%.2f dense_gflops=%.1f sparse_gflops=%.1f "
           "speedup=%.2f threshold=%.2f\n", M, K, N, op, tg_simd_name(path), threads, given ? "images=1 " : "", zeros,
           dense, sparse, sparse / dense, tg_gemm_sparse_min_zero_fraction(path));
    fflush(stdout);
    return 0;
}

/* The first n images of ds as floats in [0, 1] (malloc'ed; NULL when ds has fewer), and the
 * share of them that is zero in *zeros. */
static float *image_batch(const tg_dataset *ds, size_t n, double *zeros)
{
    const size_t dim = ds->rows * ds->cols;
    float *x = n <= ds->n ? malloc(n * dim * sizeof(float)) : NULL;
    if (!x)
        return NULL;
    tg_bytes_to_unit_floats(ds->images, n * dim, x);
    size_t z = 0;
    for (size_t k = 0; k < n * dim; k++)
        z += x[k] == 0.0f;
    *zeros = (double)z / (double)(n * dim);
    return x;
}

/* Parses a fraction in [0, 1]; returns -1 for anything else. */
static double parse_fraction(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    return (*s && !*end && v >= 0.0 && v <= 1.0) ? v : -1.0;
}

/* What to time: the command line's choices, or the defaults. */
typedef struct bench_settings {
    size_t batches[MAX_SIZES], squares[MAX_SIZES];
    int nbatch, nsquare, nzeros;
    double zeros[MAX_SIZES];
    int threads;
    tg_simd_path path;
    const char *images_dir; /* NULL: no --images */
} bench_settings;

/* Reads the command line into *o: -1 to go on, else the exit status (0 after --help). */
static int parse_args(int argc, char **argv, bench_settings *o)
{
    *o = (bench_settings){.batches = {32, 256}, .squares = {1024}, .nbatch = 2, .nsquare = 1,
                          .threads = tg_get_threads(), .path = TG_PATH_AUTO};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            o->threads = (int)bench_whole("bench_matmul", argv[i], argv[i + 1], 1, TG_MAX_THREADS), i++;
        } else if (strcmp(argv[i], "--path") == 0 && i + 1 < argc && tg_simd_parse(argv[i + 1]) >= 0) {
            o->path = (tg_simd_path)tg_simd_parse(argv[++i]);
        } else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
            o->nbatch = parse_sizes(argc, argv, &i, o->batches);
        } else if (strcmp(argv[i], "--square") == 0 && i + 1 < argc) {
            o->nsquare = parse_sizes(argc, argv, &i, o->squares);
        } else if (strcmp(argv[i], "--zeros") == 0 && i + 1 < argc && parse_fraction(argv[i + 1]) >= 0.0) {
            while (i + 1 < argc && o->nzeros < MAX_SIZES && parse_fraction(argv[i + 1]) >= 0.0)
                o->zeros[o->nzeros++] = parse_fraction(argv[++i]);
        } else if (strcmp(argv[i], "--images") == 0 && i + 1 < argc) {
            o->images_dir = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            help();
            return 0;
        } else {
            fprintf(stderr, "bench_matmul: %s: not an option here; " USAGE_LINE, argv[i]);
            return 2;
        }
    }
    return -1;
}

int main(int argc, char **argv)
{
    bench_settings o;
    int status = parse_args(argc, argv, &o);
    if (status >= 0)
        return status;
    const tg_simd_path path = o.path == TG_PATH_AUTO ? tg_simd_active() : o.path;
    const int threads = o.threads;
    if (!tg_simd_supported(path)) {
        fprintf(stderr, "bench_matmul: path %s is not supported by this build or processor\n",
                tg_simd_name(path));
        return 1;
    }
    tg_set_threads(threads);

    const size_t D = 784, H = 64;
    tg_dataset images = {0};
    if (o.images_dir) {
        tg_error err = {0};
        if (tg_dataset_load(&images, o.images_dir, "train", false, 0, &err) != TG_OK) {
            fprintf(stderr, "bench_matmul: --images: %s\n", err.msg);
            return 2;
        }
        if (images.rows * images.cols != D) {
            fprintf(stderr, "bench_matmul: --images: %s holds %zux%zu images, not 28x28\n", o.images_dir, images.rows,
                    images.cols);
            tg_dataset_free(&images);
            return 2;
        }
    }
    int rc = 0;
    for (int b = 0; b < o.nbatch; b++) {
        const size_t B = o.batches[b];
        /* forward h = x·W1 [B,784]·[784,64], reconstruction [B,64]·[64,784]; backward: the
         * decoder weight gradient hᵀ·g, the gradient into h through Wᵀ, the encoder weight
         * gradient xᵀ·g */
        const struct { size_t M, K, N; const char *op; } step[] = {
            {B, D, H, "NN"}, {B, H, D, "NN"}, {H, B, D, "TN"}, {B, D, H, "NT"}, {D, B, H, "TN"},
        };
        for (size_t s = 0; s < sizeof step / sizeof step[0] && !rc; s++)
            rc = report(path, threads, step[s].M, step[s].K, step[s].N, step[s].op);
        for (int z = 0; z < o.nzeros && !rc; z++) /* the products whose A is the images: x·W1, xᵀ·g */
            rc = report_sparse(path, threads, B, D, H, "NN", o.zeros[z], NULL) ||
                 report_sparse(path, threads, D, B, H, "TN", o.zeros[z], NULL);
        if (o.images_dir && !rc) { /* the same two products on a batch of real images: x [B,784] */
            double share = 0.0;
            float *x = image_batch(&images, B, &share);
            rc = !x ? cannot_allocate(B, D, H)
                    : report_sparse(path, threads, B, D, H, "NN", share, x) ||
                          report_sparse(path, threads, D, B, H, "TN", share, x);
            free(x);
        }
    }
    for (int s = 0; s < o.nsquare && !rc; s++)
        rc = report(path, threads, o.squares[s], o.squares[s], o.squares[s], "NN");
    tg_dataset_free(&images);
    return rc;
}
