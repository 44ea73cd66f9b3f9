/* models/mlp/mlp_train.h — training and evaluating the MLP classifier (behind `mlp train/eval`). */
#ifndef MLP_TRAIN_H
#define MLP_TRAIN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "mlp_model.h"
#include "nn/io/data.h"
#include "nn/optim.h"

typedef struct mlp_train_settings {
    tg_opt_config opt;
    long epochs;  /* passes over the data */
    size_t batch; /* mini-batch size; the last, smaller batch of an epoch is used too */
    size_t limit; /* use only the first `limit` images (0: all) */
    uint64_t seed; /* seeds the per-epoch shuffles (the caller seeds the initialization) */
} mlp_train_settings;

typedef struct mlp_train_io {
    FILE *records;                     /* one key=value line per epoch (stdout), or NULL */
    bool progress;                     /* redraw a one-line progress note on stderr */
    const atomic_int *stop;            /* when it becomes nonzero (a signal), stop after the
                                          current step; may be NULL */
} mlp_train_io;

typedef struct mlp_train_result {
    long steps;        /* optimizer steps taken */
    long epochs_done;  /* complete epochs */
    bool interrupted;  /* *io->stop was seen: the model holds the weights of the last step */
} mlp_train_result;

/* Trains m in place on `data`, whose labels must be in 0..m->cfg.classes-1: per step, a batch
 * from the seeded batcher -> logits -> softmax cross-entropy -> backward -> optimizer.  A
 * non-finite loss or gradient stops the run with TG_ERR_NUMERIC and a message naming the step
 * (the model then holds the last finite weights). */
int mlp_train(mlp_model *m, const mlp_train_settings *s, const tg_dataset *data, const mlp_train_io *io,
              mlp_train_result *result, tg_error *err);

typedef struct mlp_scores {
    double loss;     /* mean softmax cross-entropy per example */
    double accuracy; /* fraction of examples whose largest logit is the label */
    size_t samples;
} mlp_scores;

/* Scores m on every image of `data` (labels required, in 0..classes-1), in file order, in
 * batches of `batch`, without gradient bookkeeping. */
int mlp_evaluate(mlp_model *m, const tg_dataset *data, size_t batch, mlp_scores *scores, tg_error *err);

/* Checks that data fits the model: labels present, images of m's input size, every label a
 * class of the model.  `what` names the data in the message ("t10k"). */
int mlp_check_data(const mlp_model *m, const tg_dataset *data, const char *what, tg_error *err);

#endif
