/* mlp_fit.c — a 2-layer MLP on Fashion-MNIST (or any IDX set) with the library's sequential model
 * and training loop:  mlp_fit [DIR|synthetic] [EPOCHS]   (no DIR: the synthetic set, as the test
 * suite runs it, which must reach 90%).  docs/tutorial.md writes the same loop out by hand. */
#include "nn/fit.h"
#include "nn/sequential.h"

#include "example_data.h" /* the data's loading and the EPOCHS check that the other examples use */

int main(int argc, char **argv)
{
    example_args data = {argc > 1 ? argv[1] : "synthetic", 3, 0};
    if (argc > 3)
        return fprintf(stderr, "usage: mlp_fit [DIR|synthetic] [EPOCHS]\n"), 2;
    if (argc > 2 && !example_whole("mlp_fit", "EPOCHS", argv[2], 1, EXAMPLE_MAX_EPOCHS, &data.epochs))
        return 2;
    tg_error err;
    tg_dataset train, test;
    tg_sequential net;
    if (example_load(&data, true, &train, &test, &err))
        return example_bad_data("mlp_fit", &err);
    tg_fit_config cfg = tg_fit_defaults(); /* Adam 1e-3, batch 64 */
    cfg.epochs = data.epochs;
    cfg.valid = 1000, cfg.patience = 2; /* keep the best epoch on 1000 held-out images */
    double acc = 0.0;
    if (tg_seq_build(&net, NULL, train.rows * train.cols, "dense:128 relu dense:10", 1, &err) ||
        tg_fit(tg_seq_model(&net), &train, &cfg, NULL, &err) || tg_evaluate(tg_seq_model(&net), &test, &acc, &err))
        return example_fail("mlp_fit", &err);
    printf("test_acc=%.4f\n", acc);
    tg_seq_free(&net), tg_dataset_free(&train), tg_dataset_free(&test);
    return !strcmp(data.dir, "synthetic") && acc < 0.9;
}
