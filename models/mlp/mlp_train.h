/* models/mlp/mlp_train.h — training and evaluating the MLP classifier (behind `mlp train/eval`). */
#ifndef MLP_TRAIN_H
#define MLP_TRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "mlp_model.h"
#include "nn/io/data.h"
#include "train_loop.h"

/* Trains m in place on `data`, whose labels must be in 0..m->cfg.classes-1, with the shared
 * loop (train_loop.h; s->seed seeds the shuffles, the caller seeds the initialization): per
 * step, a batch -> logits -> softmax cross-entropy -> backward -> optimizer; the epoch line
 * reports train_acc.  A non-finite loss or gradient stops the run with TG_ERR_NUMERIC and a
 * message naming the step (the model then holds the last finite weights).  After a stop signal,
 * result->interrupted is set and m holds the last step's weights. */
int mlp_train(mlp_model *m, const tg_loop_settings *s, const tg_dataset *data, const tg_loop_io *io,
              tg_loop_result *result, tg_error *err);

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
