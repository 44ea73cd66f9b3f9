/* The MLP's training (its step on the shared loop, models/common/train_loop.h) and its
 * evaluation: both run the same forward pass (see mlp_train.h); training adds the backward pass,
 * and the loop the optimizer step. */
#include "mlp_train.h"

#include <math.h>
#include <stdlib.h>

#include "nn/io/atomic_file.h"

int mlp_check_data(const mlp_model *m, const tg_dataset *data, const char *what, tg_error *err)
{
    if (!data->labels)
        return tg_file_error(err, TG_ERR_ARG, what, "no labels (a classifier needs the labels file)");
    if (data->rows * data->cols != m->cfg.input)
        return tg_file_error(err, TG_ERR_ARG, what, "images have %zu pixels (%zux%zu) but the model expects %zu",
                            data->rows * data->cols, data->rows, data->cols, m->cfg.input);
    if ((size_t)data->n_classes > m->cfg.classes)
        return tg_file_error(err, TG_ERR_ARG, what, "labels go up to %d but the model has %zu classes",
                            data->n_classes - 1, m->cfg.classes);
    return TG_OK;
}

/* What one batch gave: its loss node, the loss's value (the batch mean) and how many
 * predictions were right. */
typedef struct batch_outcome {
    tg_node *loss;
    double mean_loss;
    size_t correct;
} batch_outcome;

/* Builds the loss of the images idx[0..count) on a reset tape, and counts right predictions.
 * `labels` [count] receives the batch's labels as int32, the type tg_softmax_xent reads. */
static int forward_batch(tg_tape *tape, mlp_model *m, const tg_dataset *data, const uint32_t *idx, size_t count,
                         int32_t *labels, batch_outcome *out, tg_error *err)
{
    tg_tape_reset(tape);
    tg_node *x = tg_input_new(tape, 2, (size_t[]){count, m->cfg.input}); // [B,D]
    if (x)
        tg_dataset_images_to_float(data, idx, count, x->value.data);
    for (size_t k = 0; k < count; k++)
        labels[k] = data->labels[idx[k]];
    tg_node *logits = mlp_logits(tape, m, x);                           // [B,C]
    out->loss = tg_softmax_xent(tape, logits, labels);                  // [1]
    int rc = tg_tape_get_error(tape, err);
    if (rc)
        return rc;
    out->mean_loss = out->loss->value.data[0];
    out->correct = 0;
    for (size_t k = 0; k < count; k++)
        out->correct += mlp_argmax(logits->value.data + k * m->cfg.classes, m->cfg.classes) == (size_t)labels[k];
    return TG_OK;
}

/* ---- training ------------------------------------------------------------------------------ */

typedef struct mlp_trainer {
    mlp_model *m;
    int32_t *labels; /* [batch] */
} mlp_trainer;

/* The epoch line's figure besides the loss: the fraction of right predictions. */
static const tg_loop_figure FIGURES[] = {{"train_acc", 4, true, true}};

/* The loss of the batch and its backward pass; the loop then runs the optimizer.  Reads the
 * loss before the update, so it is the loss the batch was trained on. */
static int mlp_step(void *ctx, tg_loop *loop, tg_loop_step *st, tg_error *err)
{
    mlp_trainer *t = ctx;
    batch_outcome b;
    int rc = forward_batch(loop->tape, t->m, loop->data, st->idx, st->count, t->labels, &b, err);
    if (rc)
        return rc;
    if (!isfinite(b.mean_loss))
        return tg_error_set(err, TG_ERR_NUMERIC,
                            "step %ld: the loss became %g; stopping (try a smaller --lr); no checkpoint written",
                            st->number, b.mean_loss);
    if ((rc = tg_backward(loop->tape, b.loss, err)))
        return rc;
    st->loss = b.mean_loss;
    st->figures[0] = (double)b.correct;
    return TG_OK;
}

#define VALID_BATCH 1000

/* The held-out images' cross-entropy and accuracy (mlp_evaluate, on its own tape). */
static int mlp_validate(void *ctx, tg_loop *loop, const tg_dataset *valid, tg_loop_valid_result *out, tg_error *err)
{
    (void)loop;
    mlp_trainer *t = ctx;
    mlp_scores scores;
    int rc = mlp_evaluate(t->m, valid, VALID_BATCH, &scores, err);
    out->loss = scores.loss;
    out->accuracy = scores.accuracy;
    return rc;
}

/* The loop on data (or, with s->valid, on its split), ending with the best weights in m. */
static int run_loop(mlp_trainer *t, const tg_loop_settings *s, const tg_dataset *data, const tg_loop_io *io,
                    tg_loop_result *result, tg_error *err)
{
    tg_dataset train = {0}, held = {0};
    tg_loop_io loop_io = *io;
    int rc = TG_OK;
    if (s->valid > 0 && !(rc = tg_loop_split(data, s->limit, s->valid, s->seed, &train, &held, err))) {
        data = &train;
        loop_io.valid = &held;
    }
    const tg_loop_model model = {.ctx = t, .params = t->m->params, .n_params = t->m->n_params, .step = mlp_step,
                                 .figures = FIGURES, .n_figures = 1, .evaluate = mlp_validate,
                                 .stopping = "stopping (try a smaller --lr); no checkpoint written"};
    tg_loop loop = {0};
    if (rc == TG_OK && (rc = tg_loop_open(&loop, &model, s, &(tg_loop_position){0}, data, &loop_io, NULL, NULL, err)) ==
                           TG_OK)
        rc = tg_loop_run(&loop, err);
    if (rc == TG_OK)
        tg_loop_select_best(&loop);
    *result = loop.result;
    rc = tg_loop_close(&loop, rc, err);
    tg_dataset_free(&train);
    tg_dataset_free(&held);
    return rc;
}

int mlp_train(mlp_model *m, const tg_loop_settings *s, const tg_dataset *data, const tg_loop_io *io,
              tg_loop_result *result, tg_error *err)
{
    *result = (tg_loop_result){0};
    int rc = mlp_check_data(m, data, "train", err);
    if (rc)
        return rc;
    mlp_trainer t = {m, malloc((s->batch < data->n ? s->batch : data->n) * sizeof *t.labels)};
    if (!t.labels)
        return tg_error_set(err, TG_ERR_NOMEM, "cannot allocate labels for a batch of %zu", s->batch);
    rc = run_loop(&t, s, data, io, result, err);
    free(t.labels);
    return rc;
}

/* ---- evaluation ---------------------------------------------------------------------------- */

int mlp_evaluate(mlp_model *m, const tg_dataset *data, size_t batch, mlp_scores *scores, tg_error *err)
{
    *scores = (mlp_scores){0};
    int rc = mlp_check_data(m, data, "test", err);
    if (rc)
        return rc;
    tg_batcher batcher;
    if ((rc = tg_batcher_init(&batcher, data, batch, 0, false, 0, err)))
        return rc;
    int32_t *labels = malloc((batch < data->n ? batch : data->n) * sizeof *labels);
    tg_tape *tape = NULL;
    if (!labels)
        rc = tg_error_set(err, TG_ERR_NOMEM, "cannot allocate labels for a batch of %zu", batch);
    else if (!(tape = tg_tape_new(err)))
        rc = TG_ERR_NOMEM;
    else
        tg_tape_set_grad_enabled(tape, false); /* no gradients: nothing is kept for a backward */
    const uint32_t *idx;
    size_t count, correct = 0;
    double loss_sum = 0.0;
    while (rc == TG_OK && (count = tg_batcher_next(&batcher, &idx)) > 0) {
        batch_outcome b;
        if ((rc = forward_batch(tape, m, data, idx, count, labels, &b, err)))
            break;
        tg_batcher_prefetch_next(&batcher, data); /* a hint: the next batch's images start loading */
        loss_sum += b.mean_loss * (double)count;
        correct += b.correct;
        scores->samples += count;
    }
    if (rc == TG_OK) {
        scores->loss = loss_sum / (double)scores->samples;
        scores->accuracy = (double)correct / (double)scores->samples;
    }
    tg_tape_free(tape);
    free(labels);
    tg_batcher_free(&batcher);
    return rc;
}
