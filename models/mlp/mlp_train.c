/* The MLP's training loop and its evaluation: both run the same batch function (see
 * mlp_train.h); training adds the backward pass and the optimizer step. */
#include "mlp_train.h"

#include "nn/io/atomic_file.h"
#include "tensor/parallel.h"

#include <math.h>
#include <stdlib.h>

/* What one batch contributed: its mean loss and how many predictions were right. */
typedef struct batch_outcome {
    double loss;
    size_t correct;
} batch_outcome;

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

/* Builds the loss of the images idx[0..count) on a reset tape, and counts right predictions.
 * `labels` [count] receives the batch's labels as int32, the type tg_softmax_xent reads.
 * With `opt`, also runs the backward pass and one optimizer step; `step` (1-based) names the
 * step in messages.  `batcher` (which handed out idx) gets the next batch prefetched.  Reads
 * the loss before the update, so it is the loss the batch was trained on. */
static int run_batch(tg_tape *tape, mlp_model *m, const tg_dataset *data, const uint32_t *idx, size_t count,
                     const tg_batcher *batcher, int32_t *labels, tg_optimizer *opt, long step, batch_outcome *out,
                     tg_error *err)
{
    tg_tape_reset(tape);
    tg_node *x = tg_input_new(tape, 2, (size_t[]){count, m->cfg.input}); // [B,D]
    if (x)
        tg_dataset_images_to_float(data, idx, count, x->value.data);
    tg_batcher_prefetch_next(batcher, data); /* the next batch loads while this one runs */
    for (size_t k = 0; k < count; k++)
        labels[k] = data->labels[idx[k]];
    tg_node *logits = mlp_logits(tape, m, x);                           // [B,C]
    tg_node *loss = tg_softmax_xent(tape, logits, labels);              // [1]
    int rc = tg_tape_get_error(tape, err);
    if (rc)
        return rc;
    out->loss = loss->value.data[0];
    out->correct = 0;
    for (size_t k = 0; k < count; k++)
        out->correct += mlp_argmax(logits->value.data + k * m->cfg.classes, m->cfg.classes) == (size_t)labels[k];
    if (!opt)
        return TG_OK;
    if (!isfinite(out->loss))
        return tg_error_set(err, TG_ERR_NUMERIC, "step %ld: the loss became %g; stopping (try a smaller --lr)", step,
                            out->loss);
    tg_params_zero_grad(m->params, m->n_params);
    if ((rc = tg_backward(tape, loss, err)))
        return rc;
    if ((rc = tg_optim_step(opt, err))) {
        char why[TG_ERROR_MSG_MAX];
        snprintf(why, sizeof why, "%s", err ? err->msg : "");
        return tg_error_set(err, rc, "step %ld: %s; stopping (try a smaller --lr)", step, why);
    }
    return TG_OK;
}

/* The tape, the label buffer and the batcher of a run; freed together. */
typedef struct batch_run {
    tg_tape *tape;
    int32_t *labels; /* [batch] */
    tg_batcher batcher;
    bool have_batcher;
} batch_run;

static int batch_run_init(batch_run *r, const tg_dataset *data, size_t batch, size_t limit, bool shuffle,
                          uint64_t seed, tg_error *err)
{
    *r = (batch_run){0};
    int rc = tg_batcher_init(&r->batcher, data, batch, limit, shuffle, seed, err);
    if (rc)
        return rc;
    r->have_batcher = true;
    r->labels = malloc((batch < data->n ? batch : data->n) * sizeof *r->labels);
    if (!r->labels)
        return tg_error_set(err, TG_ERR_NOMEM, "cannot allocate labels for a batch of %zu", batch);
    r->tape = tg_tape_new(err);
    return r->tape ? TG_OK : TG_ERR_NOMEM;
}

static void batch_run_free(batch_run *r)
{
    tg_tape_free(r->tape);
    free(r->labels);
    if (r->have_batcher)
        tg_batcher_free(&r->batcher);
    *r = (batch_run){0};
}

static int train(mlp_model *m, const mlp_train_settings *s, const tg_dataset *data, const mlp_train_io *io,
                 mlp_train_result *result, tg_error *err)
{
    *result = (mlp_train_result){0};
    int rc = mlp_check_data(m, data, "train", err);
    if (rc)
        return rc;
    tg_optimizer opt;
    if ((rc = tg_optim_init(&opt, &s->opt, m->params, m->n_params, err)))
        return rc;
    batch_run run;
    if ((rc = batch_run_init(&run, data, s->batch, s->limit, true, s->seed, err)))
        goto done;
    const size_t epoch_size = tg_batcher_size(&run.batcher), batches = tg_batcher_batches_per_epoch(&run.batcher);
    for (long epoch = 0; epoch < s->epochs && !result->interrupted; epoch++) {
        tg_batcher_seek(&run.batcher, (uint64_t)epoch, 0);
        double start = tg_now_seconds();
        double loss_sum = 0.0; /* Σ batch mean loss · batch size, so the epoch mean weighs every image once */
        size_t correct = 0, seen = 0;
        const uint32_t *idx;
        size_t count;
        while ((count = tg_batcher_next(&run.batcher, &idx)) > 0) {
            batch_outcome b;
            if ((rc = run_batch(run.tape, m, data, idx, count, &run.batcher, run.labels, &opt, result->steps + 1, &b,
                                err)))
                goto done;
            result->steps++;
            loss_sum += b.loss * (double)count;
            correct += b.correct;
            seen += count;
            if (io->progress && (result->steps % 25 == 0 || seen == epoch_size))
                fprintf(stderr, "\repoch %ld: batch %zu/%zu loss %.4f ", epoch + 1, (seen + s->batch - 1) / s->batch,
                        batches, loss_sum / (double)seen);
            if (io->stop && *io->stop) {
                result->interrupted = true;
                break;
            }
        }
        if (io->progress)
            fputc('\n', stderr);
        result->epochs_done += seen == epoch_size;
        if (io->records) {
            fprintf(io->records, "epoch=%ld loss=%.6g train_acc=%.4f seconds=%.3f%s\n", epoch + 1,
                    loss_sum / (double)seen, (double)correct / (double)seen, tg_now_seconds() - start,
                    seen == epoch_size ? "" : " partial=1");
            fflush(io->records);
        }
    }
done:
    batch_run_free(&run);
    tg_optim_free(&opt);
    return rc;
}

typedef struct train_call {
    mlp_model *m;
    const mlp_train_settings *s;
    const tg_dataset *data;
    const mlp_train_io *io;
    mlp_train_result *result;
    tg_error *err;
    int rc;
} train_call;

static void run_train_call(void *ctx)
{
    train_call *c = ctx;
    c->rc = train(c->m, c->s, c->data, c->io, c->result, c->err);
}

/* The whole run on one team of threads (tensor/parallel.h), as the CAE's. */
int mlp_train(mlp_model *m, const mlp_train_settings *s, const tg_dataset *data, const mlp_train_io *io,
              mlp_train_result *result, tg_error *err)
{
    train_call c = {m, s, data, io, result, err, TG_OK};
    tg_team_run(run_train_call, &c);
    return c.rc;
}

int mlp_evaluate(mlp_model *m, const tg_dataset *data, size_t batch, mlp_scores *scores, tg_error *err)
{
    *scores = (mlp_scores){0};
    int rc = mlp_check_data(m, data, "test", err);
    batch_run run = {0};
    if (rc || (rc = batch_run_init(&run, data, batch, 0, false, 0, err)))
        goto done;
    tg_tape_set_grad_enabled(run.tape, false); /* no gradients: nothing is kept for a backward */
    const uint32_t *idx;
    size_t count, correct = 0;
    double loss_sum = 0.0;
    while ((count = tg_batcher_next(&run.batcher, &idx)) > 0) {
        batch_outcome b;
        if ((rc = run_batch(run.tape, m, data, idx, count, &run.batcher, run.labels, NULL, 0, &b, err)))
            goto done;
        loss_sum += b.loss * (double)count;
        correct += b.correct;
        scores->samples += count;
    }
    scores->loss = loss_sum / (double)scores->samples;
    scores->accuracy = (double)correct / (double)scores->samples;
done:
    batch_run_free(&run);
    return rc;
}
