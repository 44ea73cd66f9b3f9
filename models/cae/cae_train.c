/* The CAE's side of the training loop (models/common/train_loop.h): its step, its run's
 * checkpoints, and where a run starts from (new, --init or --resume). */
#include "cae_train.h"

#include <math.h>
#include <string.h>

#include "nn/fit.h"
#include "nn/io/atomic_file.h"
#include "nn/io/crc32.h"
#include "tensor/parallel.h"

cae_train_settings cae_train_settings_default(void)
{
    return (cae_train_settings){
        .model = cae_config_default(),
        .run = {.opt = tg_opt_config_default(TG_OPT_ADAM), .epochs = 5, .steps = 0, .batch = 32, .limit = 0,
                .shuffle = true, .seed = 1},
    };
}

/* ---- the step ------------------------------------------------------------------------------- */

/* A run.  With --stack-on, `stack` is the lower CAE (L1) whose codes h(x) the model trains on,
 * encoded batch by batch on a tape of its own (stack_tape, without gradients). */
typedef struct cae_run {
    cae_model model; /* first: the steps' ctx is the run */
    bool have_model;
    tg_checkpoint *resume; /* the --resume checkpoint, until the optimizer state is restored */
    tg_loop loop;
    tg_dataset train, held; /* with --valid: the split of the data (tg_loop_split) */
    const char *stack_path; /* --stack-on (or the resumed run's stack_on), or NULL */
    cae_model stack;
    bool have_stack;
    uint32_t stack_crc;     /* cae_stack_checksum of stack */
    tg_tape *stack_tape;
} cae_run;

/* *x: the model's input for images idx[0..count) of ds on `tape`: the pixels as floats [count,D],
 * or with --stack-on their codes under the lower CAE [count,H1] (NULL when the tape is in error,
 * which cae_build then reports).  An error of the lower CAE's tape is returned. */
static int batch_input(cae_run *r, tg_tape *tape, const tg_dataset *ds, const uint32_t *idx, size_t count, tg_node **x,
                       tg_error *err)
{
    if (!r->have_stack) { /* open_run checked that the images have the model's input size */
        *x = tg_images_input(tape, ds, idx, count);
        return TG_OK;
    }
    *x = tg_input_new(tape, 2, (size_t[]){count, r->model.cfg.input});
    if (!*x)
        return TG_OK;
    tg_tape_reset(r->stack_tape);
    tg_node *h = cae_encode(r->stack_tape, &r->stack, tg_images_input(r->stack_tape, ds, idx, count));
    if (!h)
        return tg_tape_get_error(r->stack_tape, err);
    memcpy((*x)->value.data, h->value.data, h->value.size * sizeof *h->value.data);
    return TG_OK;
}

/* A loss this many times the run's first step's means the run has diverged (e.g. --lr 1e6 with Adam,
 * whose bounded steps give huge but finite weights rather than NaN). */
#define DIVERGENCE_FACTOR 1e4

/* The epoch line's figures besides the loss: the reconstruction's MSE and the penalty P. */
static const tg_loop_figure FIGURES[] = {{"mse", 6, false, false}, {"penalty", 6, false, false}};
#define N_FIGURES (int)(sizeof FIGURES / sizeof FIGURES[0])

/* Mean squared error of the reconstruction, for the epoch line when the loss is BCE. */
static double batch_mse(const tg_node *x, const tg_node *y)
{
    double sum = 0.0;
    for (size_t i = 0; i < x->value.size; i++) {
        double d = (double)x->value.data[i] - (double)y->value.data[i];
        sum += d * d;
    }
    return sum / (double)x->value.size;
}

/* The loss of the batch and its backward pass; the loop then runs the optimizer. */
static int cae_step(void *ctx, tg_loop *loop, tg_loop_step *st, tg_error *err)
{
    cae_run *r = ctx;
    cae_model *m = &r->model;
    double start = loop->io.profile ? tg_now_seconds() : 0.0;
    tg_tape_reset(loop->tape);
    tg_node *x;
    int rc = batch_input(r, loop->tape, loop->data, st->idx, st->count, &x, err); /* [B,D] */
    if (rc)
        return rc;
    if (loop->io.profile)
        loop->data_s += tg_now_seconds() - start;
    cae_model_set_step(m, (uint64_t)st->number); /* the γ term's corruptions come from (seed, step) */
    cae_graph g;
    if (cae_build(loop->tape, m, x, CAE_TERMS_ALL, &g))
        return tg_tape_get_error(loop->tape, err);
    /* The gradients are zero here: the previous step's optimizer update cleared them. */
    rc = tg_backward(loop->tape, g.loss, err);
    if (rc)
        return rc;
    double loss = g.loss->value.data[0], recon = g.recon->value.data[0], penalty = g.penalty->value.data[0];
    if (!isfinite(loss))
        return tg_error_set(err, TG_ERR_NUMERIC,
                            "step %ld: the loss became %g (reconstruction term %g, penalty term %g); stopping, no checkpoint written",
                            st->number, loss, recon, penalty);
    if (st->first_loss > 0 && loss > DIVERGENCE_FACTOR * st->first_loss)
        return tg_error_set(err, TG_ERR_NUMERIC,
                            "step %ld: the loss %g (reconstruction term %g, penalty term %g) is over %g times the first step's %g: "
                            "the run diverged (try a lower --lr); stopping, no checkpoint written",
                            st->number, loss, recon, penalty, DIVERGENCE_FACTOR, st->first_loss);
    st->loss = loss;
    st->figures[0] = m->cfg.loss == CAE_LOSS_MSE ? recon : batch_mse(x, g.y);
    st->figures[1] = penalty;
    return TG_OK;
}

/* The training loss's definition (CAE_TERMS_ALL, the γ term's corruptions drawn as for a step
 * 0, which training never takes) averaged over the held-out images, in chunks. */
#define VALID_CHUNK 256
static int cae_validate(void *ctx, tg_loop *loop, const tg_dataset *valid, tg_loop_valid_result *out, tg_error *err)
{
    cae_run *r = ctx;
    cae_model *m = &r->model;
    uint32_t idx[VALID_CHUNK];
    double sum = 0.0;
    cae_model_set_step(m, 0);
    for (size_t first = 0; first < valid->n; first += VALID_CHUNK) {
        size_t count = tg_batch_in_order(valid, first, VALID_CHUNK, idx);
        tg_tape_reset(loop->tape);
        tg_node *x;
        int rc = batch_input(r, loop->tape, valid, idx, count, &x, err);
        if (rc)
            return rc;
        cae_graph g;
        if (cae_build(loop->tape, m, x, CAE_TERMS_ALL, &g))
            return tg_tape_get_error(loop->tape, err);
        sum += (double)g.loss->value.data[0] * (double)count;
    }
    out->loss = sum / (double)valid->n;
    return TG_OK;
}

/* ---- a run: open, save, close ------------------------------------------------------------ */


/* Refuses, before anything is allocated, a model whose checkpoint (weights plus optimizer state)
 * would exceed the format's size limit: otherwise the run would train to the end and then fail to
 * save.  Counted from the settings: per encoder layer of `in` inputs and `out` units, in·out per
 * weight matrix (one when tied: the decoder's mirror layer shares it), out + in biases, each with
 * the optimizer's state (tg_cli_state_copies). */
static int check_checkpoint_fits(const cae_train_settings *s, tg_error *err)
{
    double params = 0.0;
    for (size_t k = 0; k < (s->model.depth > 1 ? s->model.depth : 1); k++) {
        double in = (double)cae_layer_inputs(&s->model, k), out = (double)cae_layer_width(&s->model, k);
        params += in * out * (s->model.tied ? 1.0 : 2.0) + out + in;
    }
    return tg_cli_check_checkpoint_fits(params, tg_cli_state_copies(&s->run.opt), "use fewer --hidden units", err);
}

/* The model of the run: initialized from the seed, then given the weights of --resume or --init. */
static int open_model(cae_run *r, const cae_train_settings *s, const cae_train_io *io, tg_error *err)
{
    tg_rng init_rng;
    tg_rng_seed(&init_rng, s->run.seed, 0x1417); /* initialization stream; shuffles use streams 0.. (epochs) */
    int rc = cae_model_init(&r->model, &s->model, &init_rng, err);
    if (rc)
        return rc;
    r->have_model = true;
    if (r->resume)
        return cae_model_load_weights(&r->model, r->resume, io->resume_path, err);
    if (!io->init_path)
        return TG_OK;
    tg_checkpoint *init = tg_ckpt_read(io->init_path, err);
    rc = init ? cae_model_load_weights(&r->model, init, io->init_path, err) : (err ? err->code : TG_ERR_IO);
    tg_ckpt_free(init);
    return rc;
}

/* The lower CAE's identity in a stacked run's checkpoint (stack_crc): the CRC-32 of its
 * parameters' float bytes, in checkpoint order. */
static uint32_t stack_checksum(const cae_model *m)
{
    uint32_t crc = 0;
    for (int k = 0; k < m->n_params; k++)
        crc = tg_crc32(crc, m->params[k]->value.data, m->params[k]->value.size * sizeof(float));
    return crc;
}

/* --stack-on (or the stack_on of the run being resumed): loads the lower CAE, which must take the
 * data's pixels; a new model takes its codes (model->input = its hidden units), a resumed one
 * must have been trained on this very CAE (its hidden count and stack_crc). */
static int open_stack(cae_run *r, cae_config *model, const cae_train_io *io, const tg_dataset *data, tg_error *err)
{
    const char *recorded = r->resume ? tg_ckpt_get_meta(r->resume, "stack_on") : NULL;
    r->stack_path = io->stack_path ? io->stack_path : recorded;
    if (!r->stack_path)
        return TG_OK;
    if (r->resume && !recorded)
        return tg_error_set(err, TG_ERR_ARG, "--stack-on %s: %s was not trained on a lower CAE's codes", r->stack_path,
                            io->resume_path);
    int rc = cae_model_load_file(&r->stack, r->stack_path, err);
    if (rc)
        return rc;
    r->have_stack = true;
    r->stack_crc = stack_checksum(&r->stack);
    const cae_config *lower = &r->stack.cfg;
    if (data->rows * data->cols != lower->input)
        return tg_error_set(err, TG_ERR_ARG, "--stack-on %s: its encoder takes %zu inputs but the data's images have %zu pixels",
                            r->stack_path, lower->input, data->rows * data->cols);
    if (r->resume) {
        const char *crc = tg_ckpt_get_meta(r->resume, "stack_crc");
        char mine[16];
        snprintf(mine, sizeof mine, "%08x", (unsigned)r->stack_crc);
        if (model->input != lower->hidden || !crc || strcmp(crc, mine) != 0)
            return tg_error_set(err, TG_ERR_ARG,
                                "--stack-on %s: not the CAE %s was trained on (hidden %zu, weights' CRC-32 %s; the run: input %zu, stack_crc %s)",
                                r->stack_path, io->resume_path, lower->hidden, mine, model->input, crc ? crc : "(missing)");
    }
    model->input = lower->hidden;
    if (!(r->stack_tape = tg_tape_new(err)))
        return err ? err->code : TG_ERR_NOMEM;
    tg_tape_set_grad_enabled(r->stack_tape, false);
    return TG_OK;
}

static int open_run(cae_run *r, const cae_train_settings *settings, const tg_dataset *data, const cae_train_io *io,
                    tg_error *err)
{
    cae_train_settings s = *settings;
    tg_loop_position start = {0};
    int rc = TG_OK;
    if (io->resume_path) {
        if (!(r->resume = tg_ckpt_read(io->resume_path, err)))
            return err ? err->code : TG_ERR_IO;
        if ((rc = cae_config_from_checkpoint(r->resume, io->resume_path, &s.model, err)) ||
            (rc = tg_loop_settings_from_checkpoint(r->resume, io->resume_path, &s.run, &start, err)))
            return rc;
    }
    if (s.run.epochs < 0)
        s.run.epochs = 5;
    if (s.run.steps < 0)
        s.run.steps = 0;
    if ((rc = open_stack(r, &s.model, io, data, err)))
        return rc;
    /* Only a resumed run's model can differ from the data (a new one takes the data's size):
     * the message names its checkpoint. */
    if (!r->have_stack && data->rows * data->cols != s.model.input)
        return tg_file_error(err, TG_ERR_ARG, io->resume_path ? io->resume_path : "the model",
                             "its model takes %zu inputs but the data's images have %zu pixels (%zux%zu)",
                             s.model.input, data->rows * data->cols, data->rows, data->cols);
    if ((io->out_path && (rc = check_checkpoint_fits(&s, err))) || (rc = open_model(r, &s, io, err)))
        return rc;
    tg_loop_io loop_io = io->loop;
    if (s.run.valid > 0) {
        if ((rc = tg_loop_split(data, s.run.limit, s.run.valid, s.run.seed, &r->train, &r->held, err)))
            return rc;
        data = &r->train;
        loop_io.valid = &r->held;
    }
    const tg_loop_model model = {.ctx = r, .params = r->model.params, .n_params = r->model.n_params,
                                 .step = cae_step, .figures = FIGURES, .n_figures = N_FIGURES, .rate_and_step = true,
                                 .evaluate = cae_validate, .stopping = "stopping, no checkpoint written"};
    return tg_loop_open(&r->loop, &model, &s.run, &start, data, &loop_io, r->resume, io->resume_path, err);
}

/* The model (with --valid: the best weights), then what a resume needs (tg_loop_add_state),
 * written atomically. */
static int save_run(cae_run *r, const char *path, tg_error *err)
{
    tg_loop_select_best(&r->loop);
    tg_checkpoint *ck = tg_ckpt_new(err);
    if (!ck)
        return err ? err->code : TG_ERR_NOMEM;
    int rc;
    if (!(rc = cae_model_to_checkpoint(&r->model, ck, err)) &&
        !(rc = r->have_stack ? tg_ckpt_set_meta(ck, "stack_on", r->stack_path, err) : TG_OK) &&
        !(rc = r->have_stack ? tg_ckpt_set_meta_fmt(ck, "stack_crc", err, "%08x", (unsigned)r->stack_crc) : TG_OK) &&
        !(rc = tg_loop_add_state(&r->loop, ck, err)))
        rc = tg_ckpt_write(ck, path, err);
    tg_ckpt_free(ck);
    return rc;
}

int cae_train(const cae_train_settings *settings, const tg_dataset *data, const cae_train_io *io,
              tg_loop_result *result, tg_error *err)
{
    cae_run r = {0};
    int rc = open_run(&r, settings, data, io, err);
    if (rc == TG_OK)
        rc = tg_loop_run(&r.loop, err);
    if (rc == TG_OK && io->out_path)
        rc = save_run(&r, io->out_path, err);
    *result = r.loop.result;
    rc = tg_loop_close(&r.loop, rc, err);
    if (r.have_model)
        cae_model_free(&r.model);
    if (r.have_stack)
        cae_model_free(&r.stack);
    tg_tape_free(r.stack_tape);
    tg_ckpt_free(r.resume);
    tg_dataset_free(&r.train);
    tg_dataset_free(&r.held);
    return rc;
}
