/* nn/fit.c — tg_fit: shuffled mini-batches, softmax cross-entropy, an optimizer with a schedule,
 * and validation with early stopping, for an image classifier given as a forward function. */
#include "fit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "nn/metrics.h"
#include "tensor/parallel.h"

enum { EVAL_BATCH = 1000 };

tg_fit_config tg_fit_defaults(void)
{
    return (tg_fit_config){.epochs = 10, .batch = 64, .seed = 1, .opt = tg_opt_config_default(TG_OPT_ADAM),
                           .schedule = {.kind = TG_SCHED_CONSTANT}, .log = stdout};
}

static int check_setup(tg_model m, const tg_dataset *train, const tg_fit_config *cfg, tg_error *err)
{
    if (!m.forward || !m.params || m.params->count < 1)
        return tg_error_set(err, TG_ERR_ARG, "fit: the model needs a forward function and parameters");
    if (!train || !train->labels || train->n == 0)
        return tg_error_set(err, TG_ERR_ARG, "fit: the training set needs images and labels");
    if (cfg->epochs < 1)
        return tg_error_set(err, TG_ERR_ARG, "fit: epochs %ld: must be at least 1", cfg->epochs);
    if (cfg->batch < 1)
        return tg_error_set(err, TG_ERR_ARG, "fit: batch 0: must be at least 1");
    if (cfg->patience < 0 || (cfg->patience > 0 && cfg->valid == 0))
        return tg_error_set(err, TG_ERR_ARG, "fit: patience %ld needs a validation set (valid > 0)", cfg->patience);
    return TG_OK;
}

/* x [n, rows·cols] = the images idx[0..n) of data as floats in [0,1]. */
tg_node *tg_images_input(tg_tape *t, const tg_dataset *data, const uint32_t *idx, size_t n)
{
    tg_node *x = tg_input_new(t, 2, (size_t[]){n, data->rows * data->cols});
    if (x)
        tg_dataset_images_to_float(data, idx, n, x->value.data);
    return x;
}

size_t tg_batch_in_order(const tg_dataset *data, size_t start, size_t max, uint32_t *idx)
{
    size_t n = start >= data->n ? 0 : data->n - start < max ? data->n - start : max;
    for (size_t i = 0; i < n; i++)
        idx[i] = (uint32_t)(start + i);
    return n;
}

/* The accuracy of m on data, on tape t in eval mode; t is left in training mode. */
static int accuracy_on(tg_tape *t, tg_model m, const tg_dataset *data, double *accuracy, tg_error *err)
{
    double right = 0.0;
    int rc = TG_OK;
    uint32_t idx[EVAL_BATCH];
    tg_tape_set_training(t, false);
    tg_tape_set_grad_enabled(t, false);
    for (size_t start = 0; start < data->n && rc == TG_OK; start += EVAL_BATCH) {
        size_t n = tg_batch_in_order(data, start, EVAL_BATCH, idx);
        tg_tape_reset(t);
        tg_node *x = tg_images_input(t, data, idx, n);
        tg_node *logits = x ? m.forward(t, m.self, x, 0) : NULL;
        if (!logits || tg_tape_status(t) != TG_OK)
            rc = tg_error_set(err, tg_tape_status(t) ? tg_tape_status(t) : TG_ERR_ARG, "evaluate: %s",
                              tg_tape_error(t));
        else if (logits->value.ndim != 2 || logits->value.shape[0] != n)
            rc = tg_error_set(err, TG_ERR_ARG, "evaluate: the forward must give logits [%zu, classes]", n);
        else
            right += tg_accuracy_u8(&logits->value, data->labels + start, NULL) * (double)n;
    }
    tg_tape_set_training(t, true);
    tg_tape_set_grad_enabled(t, true);
    *accuracy = data->n ? right / (double)data->n : 0.0;
    return rc;
}

int tg_evaluate(tg_model m, const tg_dataset *data, double *accuracy, tg_error *err)
{
    *accuracy = 0.0;
    if (!m.forward || !data || !data->labels)
        return tg_error_set(err, TG_ERR_ARG, "evaluate: needs a forward function and a labelled data set");
    tg_tape *t = tg_tape_new(err);
    if (!t)
        return err ? err->code : TG_ERR_NOMEM;
    int rc = accuracy_on(t, m, data, accuracy, err);
    tg_tape_free(t);
    return rc;
}

/* What a run holds besides the model. */
typedef struct fit_run {
    tg_tape *tape;
    tg_optimizer opt;
    tg_batcher batches;
    tg_dataset train, held;  /* with validation: the split (else train is unused) */
    tg_tensor *best;         /* with validation: the best epoch's weights, one per parameter */
    uint64_t step;
} fit_run;

static void run_free(fit_run *r, int n_params)
{
    tg_tape_free(r->tape);
    tg_optim_free(&r->opt);
    tg_batcher_free(&r->batches);
    tg_dataset_free(&r->train);
    tg_dataset_free(&r->held);
    for (int k = 0; r->best && k < n_params; k++)
        tg_tensor_free(&r->best[k]);
    free(r->best);
}

static int run_open(fit_run *r, tg_model m, const tg_dataset **data, const tg_fit_config *cfg, tg_error *err)
{
    tg_param_list *ps = m.params;
    int rc = TG_OK;
    if (cfg->valid > 0) {
        if ((rc = tg_dataset_split(*data, 0, cfg->valid, cfg->seed, &r->train, &r->held, err)))
            return rc;
        *data = &r->train;
        if (!(r->best = calloc((size_t)ps->count, sizeof *r->best)))
            return tg_error_set(err, TG_ERR_NOMEM, "fit: cannot allocate the best weights' list");
        for (int k = 0; k < ps->count && rc == TG_OK; k++)
            rc = tg_tensor_clone(&r->best[k], &ps->items[k]->value, err);
        if (rc)
            return rc;
    }
    tg_schedule sched = cfg->schedule;
    const long steps_per_epoch = (long)(((*data)->n + cfg->batch - 1) / cfg->batch);
    if (sched.kind == TG_SCHED_COSINE && sched.t_max == 0)
        sched.t_max = cfg->epochs * steps_per_epoch;
    if (!(r->tape = tg_tape_new(err)))
        return err ? err->code : TG_ERR_NOMEM;
    if ((rc = tg_optim_init(&r->opt, &cfg->opt, ps->items, ps->count, err)) ||
        (cfg->opt.weight_decay > 0 && (rc = tg_optim_no_decay_1d(&r->opt, err))) ||
        (sched.kind != TG_SCHED_CONSTANT || sched.warmup_steps > 0 ? (rc = tg_optim_set_schedule(&r->opt, &sched, err))
                                                                   : TG_OK))
        return rc;
    return tg_batcher_init(&r->batches, *data, cfg->batch, 0, true, cfg->seed, err);
}

/* One epoch over data; *mean_loss is the mean of the images' losses. */
static int run_epoch(fit_run *r, tg_model m, const tg_dataset *data, long epoch, double *mean_loss, tg_error *err)
{
    const uint32_t *idx;
    size_t n;
    double sum = 0.0;
    tg_batcher_seek(&r->batches, (uint64_t)epoch, 0);
    while ((n = tg_batcher_next(&r->batches, &idx)) > 0) {
        tg_tape_reset(r->tape);
        tg_node *x = tg_images_input(r->tape, data, idx, n);
        tg_node *logits = x ? m.forward(r->tape, m.self, x, ++r->step) : NULL;
        tg_node *loss = tg_softmax_xent_gather(r->tape, logits, data->labels, idx);
        int rc = tg_backward(r->tape, loss, err);
        if (rc || (rc = tg_optim_step_zero_grad(&r->opt, err)))
            return rc;
        sum += loss->value.data[0] * (double)n;
    }
    *mean_loss = sum / (double)data->n;
    if (!isfinite(*mean_loss))
        return tg_error_set(err, TG_ERR_NUMERIC, "fit: the training loss is %g in epoch %ld (try a smaller lr)",
                            *mean_loss, epoch);
    return TG_OK;
}

/* Copies the parameters' values into the kept weights (to_params false) or back. */
static void copy_best(fit_run *r, tg_param_list *ps, bool to_params)
{
    for (int k = 0; k < ps->count; k++) {
        float *value = ps->items[k]->value.data;
        memcpy(to_params ? value : r->best[k].data, to_params ? r->best[k].data : value,
               r->best[k].size * sizeof(float));
    }
}

/* Everything tg_fit works with, for the function the thread team runs. */
typedef struct fit_call {
    tg_model m;
    const tg_dataset *data;
    const tg_fit_config *cfg;
    fit_run *run;
    tg_fit_result res;
    int rc;
    tg_error *err;
} fit_call;

static void log_epoch(const tg_fit_config *cfg, long epoch, const tg_fit_result *res, double valid_acc,
                      double seconds)
{
    if (!cfg->log)
        return;
    fprintf(cfg->log, "epoch=%ld loss=%.4f", epoch, res->loss);
    if (cfg->valid > 0)
        fprintf(cfg->log, " valid_acc=%.4f", valid_acc);
    if (cfg->test)
        fprintf(cfg->log, " test_acc=%.4f", res->test_acc);
    fprintf(cfg->log, " seconds=%.2f\n", seconds);
    fflush(cfg->log);
}

/* The epochs (the team runs this). */
static void fit_epochs(void *ctx)
{
    fit_call *f = ctx;
    const tg_fit_config *cfg = f->cfg;
    fit_run *r = f->run;
    double best_acc = -1.0;
    for (long epoch = 1; f->rc == TG_OK && epoch <= cfg->epochs; epoch++) {
        double start = tg_now_seconds(), acc = 0.0;
        if ((f->rc = run_epoch(r, f->m, f->data, epoch, &f->res.loss, f->err)))
            break;
        double seconds = tg_now_seconds() - start;
        f->res.best_epoch_s = epoch == 1 || seconds < f->res.best_epoch_s ? seconds : f->res.best_epoch_s;
        if ((cfg->valid > 0 && (f->rc = accuracy_on(r->tape, f->m, &r->held, &acc, f->err))) ||
            (cfg->test && (f->rc = accuracy_on(r->tape, f->m, cfg->test, &f->res.test_acc, f->err))))
            break;
        f->res.epochs = epoch;
        if (cfg->valid > 0 && acc > best_acc) {
            best_acc = f->res.valid_acc = acc, f->res.best_epoch = epoch;
            copy_best(r, f->m.params, false);
        }
        log_epoch(cfg, epoch, &f->res, acc, seconds);
        if (cfg->patience > 0 && epoch - f->res.best_epoch >= cfg->patience)
            break;
    }
}

int tg_fit(tg_model m, const tg_dataset *train, const tg_fit_config *cfg, tg_fit_result *result, tg_error *err)
{
    fit_run r = {0};
    fit_call f = {.m = m, .data = train, .cfg = cfg, .run = &r, .err = err};
    f.rc = check_setup(m, train, cfg, err);
    if (f.rc == TG_OK)
        f.rc = run_open(&r, m, &f.data, cfg, err);
    if (f.rc == TG_OK)
        tg_team_run(fit_epochs, &f);
    if (f.rc == TG_OK && cfg->valid > 0 && f.res.best_epoch < f.res.epochs) {
        copy_best(&r, m.params, true);
        if (cfg->test) /* the result describes the model as it is returned */
            f.rc = accuracy_on(r.tape, m, cfg->test, &f.res.test_acc, err);
    }
    if (result)
        *result = f.res;
    run_free(&r, m.params ? m.params->count : 0);
    return f.rc;
}
