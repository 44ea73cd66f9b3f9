/* bench/bench_loop.c — a user's own training loop, on one thread and on the default threads,
 * on a quiet machine and beside a busy process.
 *
 *   bench_loop [--data DIR|synthetic] [--images N] [--epochs N]
 *
 * The loop is the tutorial's (docs/tutorial.md, models/examples/quickstart.c), written as a user
 * writes it: no tg_team_run, nothing about threads but tg_set_threads.  An MLP 784-256-128-10
 * (relu), Adam, softmax cross-entropy, batch 64, over the first N training images (default
 * 10,000).  For each load (quiet; busy: a child process the benchmark forks spins on one of the
 * cores this process may use, then is killed) and each thread setting (1; default: what the
 * library chooses, TG_THREADS / OMP_NUM_THREADS / the cores) it runs the epochs and prints the
 * median epoch time:
 *
 *   images=10000 epochs=3 batch=64 default_threads=2
 *   load=quiet threads=1 epoch_s=0.512
 *   load=quiet threads=default epoch_s=0.301
 *   ...
 *   ratio_quiet=1.70 ratio_busy=0.95     (one thread's time over the default's: > 1 is faster)
 *
 * Bad arguments and data that cannot be read exit 2 with one line, as the programs do. */
#define _GNU_SOURCE /* sched_setaffinity */
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "autograd/ops.h"
#include "nn/dense.h"
#include "nn/io/data.h"
#include "nn/optim.h"
#include "tensor/parallel.h"

#include "bench_args.h"
#include "bench_median.h"

enum { BATCH = 64, MAX_BATCH_LABELS = BATCH };

typedef struct model {
    tg_dense layer[3];
    tg_param *params[6];
    tg_optimizer opt;
} model;

static void die(const char *what, const tg_error *err)
{
    fprintf(stderr, "bench_loop: %s: %s\n", what, err ? err->msg : "failed");
    exit(1);
}

static void model_init(model *m)
{
    static const size_t width[4] = {784, 256, 128, 10};
    tg_error err;
    tg_rng rng;
    tg_rng_seed(&rng, 1, 0);
    for (int k = 0; k < 3; k++) {
        char name[8];
        snprintf(name, sizeof name, "l%d", k);
        if (tg_dense_init(&m->layer[k], name, width[k], width[k + 1], k < 2 ? TG_INIT_HE_NORMAL : TG_INIT_GLOROT_UNIFORM,
                          &rng, &err))
            die("dense", &err);
        tg_dense_params(&m->layer[k], m->params + 2 * k);
    }
    tg_opt_config cfg = tg_opt_config_default(TG_OPT_ADAM);
    if (tg_optim_init(&m->opt, &cfg, m->params, 6, &err))
        die("optimizer", &err);
}

static void model_free(model *m)
{
    tg_optim_free(&m->opt);
    for (int k = 0; k < 3; k++)
        tg_dense_free(&m->layer[k]);
}

/* One epoch of the tutorial's loop; returns its seconds. */
static double epoch(model *m, tg_tape *tape, const tg_dataset *data, tg_batcher *batches, uint64_t number)
{
    int32_t labels[MAX_BATCH_LABELS];
    const uint32_t *idx;
    size_t n;
    tg_error err;
    tg_batcher_seek(batches, number, 0);
    double start = tg_now_seconds();
    while ((n = tg_batcher_next(batches, &idx)) > 0) {
        tg_tape_reset(tape);
        tg_node *x = tg_input_new(tape, 2, (size_t[]){n, 784});
        if (x)
            tg_dataset_images_to_float(data, idx, n, x->value.data);
        for (size_t i = 0; i < n; i++)
            labels[i] = data->labels[idx[i]];
        tg_node *h = tg_relu(tape, tg_dense_forward(tape, &m->layer[0], x));
        h = tg_relu(tape, tg_dense_forward(tape, &m->layer[1], h));
        tg_node *loss = tg_softmax_xent(tape, tg_dense_forward(tape, &m->layer[2], h), labels);
        if (tg_backward(tape, loss, &err) || tg_optim_step_zero_grad(&m->opt, &err))
            die("step", &err);
    }
    return tg_now_seconds() - start;
}

/* The median epoch time of a fresh model trained `epochs` epochs on `threads` threads. */
static double median_epoch(const tg_dataset *data, int threads, int epochs)
{
    tg_set_threads(threads);
    model m;
    model_init(&m);
    tg_error err;
    tg_tape *tape = tg_tape_new(&err);
    tg_batcher batches;
    if (!tape || tg_batcher_init(&batches, data, BATCH, 0, true, 1, &err))
        die("setup", &err);
    double seconds[64];
    for (int e = 0; e < epochs; e++)
        seconds[e] = epoch(&m, tape, data, &batches, (uint64_t)e + 1);
    tg_batcher_free(&batches);
    tg_tape_free(tape);
    model_free(&m);
    return bench_median(seconds, (size_t)epochs);
}

/* A child that spins on the last core this process may use, until killed. */
static pid_t start_busy_process(void)
{
    cpu_set_t allowed;
    int core = -1;
    if (sched_getaffinity(0, sizeof allowed, &allowed) == 0)
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &allowed))
                core = c;
    const pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* never outlive the benchmark (interrupted, killed, crashed): a core left spinning */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
            _exit(0);
        if (core >= 0) {
            cpu_set_t one;
            CPU_ZERO(&one);
            CPU_SET(core, &one);
            sched_setaffinity(0, sizeof one, &one);
        }
        volatile unsigned long spin = 0;
        for (;;)
            spin++;
    }
    if (pid < 0)
        die("fork", NULL);
    usleep(100000); /* let it start spinning */
    return pid;
}

static void stop_busy_process(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

int main(int argc, char **argv)
{
    const char *env_data = getenv("CAE_DATA");
    const char *dir = env_data && *env_data ? env_data : "/usr/share/datasets/fashion-mnist";
    long images = 10000, epochs = 3;
    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--data") && a + 1 < argc)
            dir = argv[++a];
        else if (!strcmp(argv[a], "--images") && a + 1 < argc)
            images = bench_whole("bench_loop", "--images", argv[++a], BATCH, 100000000);
        else if (!strcmp(argv[a], "--epochs") && a + 1 < argc)
            epochs = bench_whole("bench_loop", "--epochs", argv[++a], 1, 64);
        else {
            fprintf(stderr, "usage: bench_loop [--data DIR|synthetic] [--images N] [--epochs N (1..64)]\n");
            return 2;
        }
    }
    int default_threads = tg_get_threads(); /* before any tg_set_threads: the library's own choice */
    tg_dataset data;
    tg_error err;
    int rc = !strcmp(dir, "synthetic") ? tg_dataset_synthetic(&data, "train", (size_t)images, 28, 28, 1, &err)
                                       : tg_dataset_load(&data, dir, "train", true, (size_t)images, &err);
    if (rc) {
        fprintf(stderr, "bench_loop: %s\n", err.msg); /* names the file */
        return 2;
    }
    printf("images=%zu epochs=%ld batch=%d default_threads=%d\n", data.n, epochs, BATCH, default_threads);
    double quiet_one = median_epoch(&data, 1, (int)epochs);
    printf("load=quiet threads=1 epoch_s=%.3f\n", quiet_one);
    double quiet_default = median_epoch(&data, default_threads, (int)epochs);
    printf("load=quiet threads=default epoch_s=%.3f\n", quiet_default);
    fflush(stdout);
    pid_t busy = start_busy_process();
    double busy_one = median_epoch(&data, 1, (int)epochs);
    printf("load=busy threads=1 epoch_s=%.3f\n", busy_one);
    double busy_default = median_epoch(&data, default_threads, (int)epochs);
    printf("load=busy threads=default epoch_s=%.3f\n", busy_default);
    stop_busy_process(busy);
    printf("ratio_quiet=%.2f ratio_busy=%.2f\n", quiet_one / quiet_default, busy_one / busy_default);
    tg_dataset_free(&data);
    return 0;
}
