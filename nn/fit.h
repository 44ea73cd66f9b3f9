/* nn/fit.h — the training loop of the common case, an image classifier, in one call:
 *
 *     tg_fit_config cfg = tg_fit_defaults();        // Adam 1e-3, batch 64, 10 epochs
 *     cfg.valid = 5000, cfg.patience = 3;           // hold out 5000 images, stop early
 *     tg_fit(model, &train, &cfg, &result, err);    // the model ends with its best weights
 *     tg_evaluate(model, &test, &acc, err);
 *
 * A model is any forward function with its parameters: a tg_sequential (tg_seq_model) or your
 * own struct.  Each step is what you would write by hand, and docs/tutorial.md writes it out:
 * reset the tape, x [B, rows·cols] = the batch's bytes / 255, logits = forward(x), loss =
 * tg_softmax_xent_gather(logits, labels, batch), tg_backward, tg_optim_step_zero_grad.
 *
 * Defined choices:
 * - Batches: tg_batcher, shuffled from cfg.seed (epoch e sees the same order on every run).
 * - Weight decay (cfg.opt.weight_decay > 0) skips 1-d parameters (biases, norms' γ and β).
 * - Schedule: cfg.schedule as tg_optim_set_schedule; a COSINE one with t_max 0 runs over every
 *   step of the run.
 * - Validation (cfg.valid > 0): tg_dataset_split holds that many training images out (seeded by
 *   cfg.seed); after each epoch the model is scored on them in eval mode; the weights of the
 *   epoch with the highest accuracy (the first on a tie) are kept and put back at the end;
 *   cfg.patience > 0 stops after that many epochs without a better one.
 * - Test set (cfg.test, optional): scored after each epoch in eval mode and reported, never
 *   used to choose anything (that is what validation is for).
 * - Log: one line per epoch on cfg.log (NULL: silent),
 *       epoch=3 loss=0.3121 valid_acc=0.8890 test_acc=0.8850 seconds=1.42
 *   (valid_acc with validation, test_acc with a test set; seconds: the epoch's training alone).
 * - Threads: the epochs run inside tg_team_run (tensor/parallel.h), the library's thread team
 *   held for the whole run; the bits are the same on any thread count.
 * A loss that turns NaN or infinite stops the run with TG_ERR_NUMERIC naming the epoch. */
#ifndef TG_NN_FIT_H
#define TG_NN_FIT_H

#include <stdint.h>
#include <stdio.h>

#include "autograd/tape.h"
#include "nn/io/data.h"
#include "nn/optim.h"
#include "nn/params.h"

#ifdef __cplusplus
extern "C" {
#endif

/* logits [B,classes] of x [B,inputs]; step (1, 2, ... while training) seeds anything random,
 * such as dropout masks. */
typedef tg_node *(*tg_model_forward_fn)(tg_tape *t, void *self, tg_node *x, uint64_t step);

typedef struct tg_model {
    void *self;                /* handed to forward */
    tg_model_forward_fn forward;
    tg_param_list *params;     /* what the optimizer steps and validation keeps */
} tg_model;

typedef struct tg_fit_config {
    long epochs;           /* >= 1 */
    size_t batch;          /* >= 1 */
    uint64_t seed;         /* the shuffles and the held-out split */
    tg_opt_config opt;     /* any optimizer of nn/optim.h */
    tg_schedule schedule;  /* the learning rate over the steps */
    size_t valid;          /* training images held out for validation (0: none) */
    long patience;         /* with valid: stop after this many epochs without a better accuracy (0: never) */
    const tg_dataset *test; /* scored and logged after each epoch, or NULL */
    FILE *log;             /* one line per epoch, or NULL */
} tg_fit_config;

typedef struct tg_fit_result {
    long epochs;       /* epochs run */
    double loss;       /* the last epoch's mean training loss */
    long best_epoch;   /* with validation: the epoch whose weights the model holds (else 0) */
    double valid_acc;  /* with validation: its accuracy (else 0) */
    double test_acc;   /* with a test set: the returned model's accuracy on it (else 0) */
    double best_epoch_s; /* the fastest epoch's training seconds (a throughput figure) */
} tg_fit_result;

/* 10 epochs, batch 64, seed 1, Adam with lr 1e-3, a constant rate, no validation, no test set,
 * log on stdout. */
tg_fit_config tg_fit_defaults(void);
/* Trains m on the labelled images of train (see above).  TG_ERR_ARG for a data set without
 * labels, a bad config (naming the field), a forward whose output is not [B, classes]; the
 * model's, optimizer's and tape's own errors as they come.  result may be NULL. */
int tg_fit(tg_model m, const tg_dataset *train, const tg_fit_config *cfg, tg_fit_result *result, tg_error *err);
/* The fraction of data's images whose argmax of m's logits is their label, in eval mode (no
 * dropout, no gradients), in batches of 1000. */
int tg_evaluate(tg_model m, const tg_dataset *data, double *accuracy, tg_error *err);

/* The images idx[0..n) of data as a new input node [n, rows·cols] of t, pixels scaled to
 * [0, 1]; NULL (the tape's error set) when out of memory. */
tg_node *tg_images_input(tg_tape *t, const tg_dataset *data, const uint32_t *idx, size_t n);
/* The batch of data that starts at image `start`, in file order: its indices into idx (room for
 * max), their count back (0 at or past the end). */
size_t tg_batch_in_order(const tg_dataset *data, size_t start, size_t max, uint32_t *idx);

#ifdef __cplusplus
}
#endif

#endif
