/* mlp_fit.c — a 2-layer MLP on Fashion-MNIST (or any IDX set) with the library's sequential model
 * and training loop:  mlp_fit [DIR] [EPOCHS]   (no DIR: the synthetic set, as the test suite runs
 * it, which must reach 90%).  docs/tutorial.md writes the same loop out by hand. */
#include <stdio.h>
#include <stdlib.h>

#include "nn/fit.h"
#include "nn/sequential.h"

int main(int argc, char **argv)
{
    tg_error err;
    tg_dataset train, test;
    tg_sequential net;
    tg_fit_config cfg = tg_fit_defaults(); /* Adam 1e-3, batch 64 */
    cfg.epochs = argc > 2 ? atol(argv[2]) : 3;
    cfg.valid = 1000, cfg.patience = 2;    /* keep the best epoch on 1000 held-out images */
    double acc = 0.0;
    int rc = argc > 1 ? tg_dataset_load(&train, argv[1], "train", true, 0, &err) ||
                            tg_dataset_load(&test, argv[1], "t10k", true, 0, &err)
                      : tg_dataset_synthetic(&train, "train", 4096, 28, 28, 1, &err) ||
                            tg_dataset_synthetic(&test, "t10k", 1024, 28, 28, 1, &err);
    if (rc || tg_seq_build(&net, NULL, train.rows * train.cols, "dense:128 relu dense:10", 1, &err) ||
        tg_fit(tg_seq_model(&net), &train, &cfg, NULL, &err) || tg_evaluate(tg_seq_model(&net), &test, &acc, &err))
        return fprintf(stderr, "mlp_fit: %s\n", err.msg), 1;
    printf("test_acc=%.4f\n", acc);
    tg_seq_free(&net), tg_dataset_free(&train), tg_dataset_free(&test);
    return argc == 1 && acc < 0.9;
}
