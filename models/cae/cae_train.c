/* The CAE training loop: batches -> tape -> backward -> optimizer, with exact resume. */
#include "cae_train.h"

#include "cli.h"
#include "nn/io/atomic_file.h"
#include "tensor/parallel.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

cae_train_settings cae_train_settings_default(void)
{
    return (cae_train_settings){
        .model = cae_config_default(),
        .opt = tg_opt_config_default(TG_OPT_ADAM),
        .epochs = 5, .steps = 0, .batch = 32, .limit = 0, .shuffle = true, .seed = 1,
    };
}

/* ---- the run's state in a checkpoint ------------------------------------------------------ */

/* Where the run stands: what an exact resume needs besides weights and optimizer moments. */
typedef struct run_position {
    long step;       /* optimizer steps taken */
    uint64_t epoch;  /* current epoch, 0-based */
    size_t position; /* images of that epoch already used */
    double first_loss; /* the loss of the run's first step: what the divergence rule compares with
                          (0 until that step, and in checkpoints written before this key existed) */
} run_position;

static int save_run(const char *path, const cae_model *m, const tg_optimizer *opt,
                    const cae_train_settings *s, const run_position *pos, tg_error *err)
{
    tg_checkpoint *ck = tg_ckpt_new(err);
    if (!ck)
        return err ? err->code : TG_ERR_NOMEM;
    int rc;
    if ((rc = cae_model_to_checkpoint(m, ck, err)) ||
        (rc = tg_ckpt_set_meta(ck, "optimizer", tg_opt_kind_name(opt->cfg.kind), err)) ||
        (rc = tg_ckpt_set_meta_fmt(ck, "lr", err, "%.9g", (double)opt->cfg.lr)) ||
        (rc = tg_ckpt_set_meta_fmt(ck, "momentum", err, "%.9g", (double)opt->cfg.momentum)) ||
        (rc = tg_ckpt_set_meta_fmt(ck, "adam_eps", err, "%.9g", (double)opt->cfg.eps)) ||
        (rc = tg_ckpt_set_meta_fmt(ck, "batch", err, "%zu", s->batch)) ||
        (rc = tg_ckpt_set_meta_fmt(ck, "limit", err, "%zu", s->limit)) ||
        (rc = tg_ckpt_set_meta(ck, "shuffle", s->shuffle ? "1" : "0", err)) ||
        (rc = tg_ckpt_set_meta_fmt(ck, "seed", err, "%llu", (unsigned long long)s->seed)) ||
        (rc = tg_ckpt_set_meta_fmt(ck, "epochs", err, "%ld", s->epochs)) ||
        (rc = tg_ckpt_set_meta_fmt(ck, "train_step", err, "%ld", pos->step)) ||
        (rc = tg_ckpt_set_meta_fmt(ck, "train_epoch", err, "%llu", (unsigned long long)pos->epoch)) ||
        (rc = tg_ckpt_set_meta_fmt(ck, "train_position", err, "%zu", pos->position)) ||
        (rc = tg_ckpt_set_meta_fmt(ck, "first_loss", err, "%.17g", pos->first_loss)))
        goto done;
    /* Optimizer state: moments or momentum buffers under their own names, and the step count. */
    char name[TG_OPT_STATE_NAME_MAX];
    for (int k = 0; k < tg_optim_state_count(opt) && !rc; k++) {
        tg_tensor *t = tg_optim_state_tensor((tg_optimizer *)opt, k, name);
        rc = tg_ckpt_add(ck, name, t, err);
    }
    if (!rc) {
        float step = (float)opt->step; /* exact up to 2^24 steps */
        tg_tensor t;
        tg_tensor_wrap(&t, &step, 1, (size_t[]){1}, NULL);
        rc = tg_ckpt_add(ck, tg_optim_step_name(opt), &t, err);
    }
    if (!rc)
        rc = tg_ckpt_write(ck, path, err);
done:
    tg_ckpt_free(ck);
    return rc;
}

/* Refuses, before anything is allocated, a model whose checkpoint (weights plus optimizer state)
 * would exceed the format's size limit: otherwise the run would train to the end and then fail to
 * save.  Counted from the settings: D·H per weight matrix (one when tied), H + D biases, and per
 * parameter two Adam moments or one SGD momentum buffer. */
static int check_checkpoint_fits(const cae_train_settings *s, tg_error *err)
{
    double D = (double)s->model.input, H = (double)s->model.hidden;
    double params = D * H * (s->model.tied ? 1.0 : 2.0) + H + D;
    double copies = 1.0 + (s->opt.kind == TG_OPT_ADAM ? 2.0 : (s->opt.momentum > 0.0f ? 1.0 : 0.0));
    double bytes = 4.0 * params * copies; /* headers and metadata add a few kilobytes */
    if (bytes > (double)TG_CKPT_MAX_FILE_BYTES)
        return tg_error_set(err, TG_ERR_ARG,
                            "the model's checkpoint would take %.0f bytes (weights and optimizer state), over the format's "
                            "%llu-byte limit: use fewer --hidden units",
                            bytes, (unsigned long long)TG_CKPT_MAX_FILE_BYTES);
    return TG_OK;
}


/* Reads settings and position from a resumable checkpoint; epochs < 0 in `s` means "as stored",
 * steps < 0 means no limit. */
static int load_run_settings(const tg_checkpoint *ck, const char *path, cae_train_settings *s, run_position *pos,
                             tg_error *err)
{
    cae_train_settings r = *s;
    int rc = cae_config_from_checkpoint(ck, path, &r.model, err);
    if (rc)
        return rc;
    const char *opt = tg_ckpt_get_meta(ck, "optimizer");
    if (!opt || (strcmp(opt, "adam") && strcmp(opt, "sgd")))
        return tg_file_error(err, TG_ERR_FORMAT, path, "not resumable: no optimizer state (optimizer=%s)",
                            opt ? opt : "missing");
    r.opt = tg_opt_config_default(strcmp(opt, "sgd") == 0 ? TG_OPT_SGD : TG_OPT_ADAM);
    double lr = 0, mom = 0, eps = 0, first_loss = 0;
    uint64_t batch = 0, limit = 0, shuffle = 0, seed = 0, epochs = 0, step = 0, epoch = 0, position = 0;
    if ((rc = tg_ckpt_meta_real(ck, path, "lr", true, TG_OPT_MIN_LR, TG_OPT_MAX_LR, &lr, err)) ||
        (rc = tg_ckpt_meta_real(ck, path, "momentum", true, 0, TG_OPT_MAX_MOMENTUM, &mom, err)) ||
        (rc = tg_ckpt_meta_real(ck, path, "adam_eps", true, TG_OPT_MIN_EPS, TG_OPT_MAX_EPS, &eps, err)) ||
        (rc = tg_ckpt_meta_uint(ck, path, "batch", true, 1, 1000000000, &batch, err)) ||
        (rc = tg_ckpt_meta_uint(ck, path, "limit", true, 0, 1000000000000, &limit, err)) ||
        (rc = tg_ckpt_meta_uint(ck, path, "shuffle", true, 0, 1, &shuffle, err)) ||
        (rc = tg_ckpt_meta_uint(ck, path, "seed", true, 0, UINT64_MAX, &seed, err)) ||
        (rc = tg_ckpt_meta_uint(ck, path, "epochs", true, 0, 1000000000, &epochs, err)) ||
        (rc = tg_ckpt_meta_uint(ck, path, "train_step", true, 0, 1000000000000000, &step, err)) ||
        (rc = tg_ckpt_meta_uint(ck, path, "train_epoch", true, 0, 1000000000, &epoch, err)) ||
        (rc = tg_ckpt_meta_uint(ck, path, "train_position", true, 0, 1000000000000, &position, err)) ||
        /* optional: checkpoints written before the divergence reference was saved lack it */
        (rc = tg_ckpt_meta_real(ck, path, "first_loss", false, 0, INFINITY, &first_loss, err)))
        return rc;
    r.opt.lr = (float)lr;
    r.opt.momentum = (float)mom;
    r.opt.eps = (float)eps;
    r.batch = (size_t)batch;
    r.limit = (size_t)limit;
    r.shuffle = shuffle != 0;
    r.seed = seed;
    r.epochs = s->epochs >= 0 ? s->epochs : (long)epochs;
    r.steps = s->steps >= 0 ? s->steps : 0; /* a step limit belongs to one invocation, not to the run */
    pos->step = (long)step;
    pos->epoch = (uint64_t)epoch;
    pos->position = (size_t)position;
    pos->first_loss = first_loss;
    *s = r;
    return TG_OK;
}

/* Restores optimizer moments and step count (all or nothing: checked before copying). */
static int load_optimizer_state(const tg_checkpoint *ck, const char *path, tg_optimizer *opt, tg_error *err)
{
    char name[TG_OPT_STATE_NAME_MAX];
    int n = tg_optim_state_count(opt);
    for (int k = 0; k < n; k++) {
        const tg_tensor *mine = tg_optim_state_tensor(opt, k, name);
        const tg_tensor *saved = tg_ckpt_find(ck, name);
        if (!saved || !tg_tensor_same_shape(saved, mine))
            return tg_error_set(err, TG_ERR_FORMAT, "%s: not resumable: optimizer state %s is missing or has the wrong shape",
                                path, name);
        /* Adam's second moments are means of squares: a negative one makes sqrt(v) NaN. */
        int rc = tg_ckpt_check_values(saved, path, name, strncmp(name, "adam.v/", 7) == 0, err);
        if (rc)
            return rc;
    }
    const tg_tensor *step = tg_ckpt_find(ck, tg_optim_step_name(opt));
    if (!step || step->size != 1 || !(step->data[0] >= 0 && step->data[0] <= 1e15)) /* (long) of more is UB */
        return tg_file_error(err, TG_ERR_FORMAT, path, "not resumable: %s is missing or invalid",
                            tg_optim_step_name(opt));
    for (int k = 0; k < n; k++) {
        tg_tensor *mine = tg_optim_state_tensor(opt, k, name);
        tg_tensor_copy(mine, tg_ckpt_find(ck, name), NULL);
    }
    opt->step = (long)step->data[0];
    return TG_OK;
}

/* ---- progress ------------------------------------------------------------------------------ */

static void draw_progress(uint64_t epoch, size_t done, size_t total, double elapsed, double loss)
{
    double frac = total ? (double)done / (double)total : 1.0;
    double rate = elapsed > 0 ? (double)done / elapsed : 0.0;
    double eta = rate > 0 ? (double)(total - done) / rate : 0.0;
    char bar[31];
    int filled = (int)(frac * 30.0);
    for (int i = 0; i < 30; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[30] = '\0';
    fprintf(stderr, "\repoch %llu [%s] %5.1f%% %8.0f samples/s ETA %5.1fs loss %.5f ",
            (unsigned long long)epoch + 1, bar, 100.0 * frac, rate, eta, loss);
    fflush(stderr);
}

/* ---- the loop ----------------------------------------------------------------------------- */

typedef struct epoch_sums {
    double loss, mse, penalty; /* weighted by batch size */
    size_t samples;
    double seconds;
} epoch_sums;

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

/* A loss this many times the run's first step's means the run has diverged (e.g. --lr 1e6 with Adam,
 * whose bounded steps give huge but finite weights rather than NaN). */
#define DIVERGENCE_FACTOR 1e4

/* What one step needs besides the batch. */
typedef struct trainer {
    tg_tape *tape;
    cae_model *model;
    tg_optimizer *opt;
    const tg_dataset *data;
    const tg_batcher *batcher; /* to prefetch the next batch */
    FILE *log;
    double first_loss;  /* of the run's first step (restored on resume); 0 before it */
    bool profile;
    double data_s, optimizer_s; /* time outside the tape, when profiling */
} trainer;

/* One optimizer step on the images `idx[0..count)`; `step_number` counts from 1. */
static int train_step(trainer *t, const uint32_t *idx, size_t count, long step_number, uint64_t epoch,
                      epoch_sums *sums, tg_error *err)
{
    cae_model *m = t->model;
    double start = t->profile ? tg_now_seconds() : 0.0;
    tg_tape_reset(t->tape);
    tg_node *x = tg_input_new(t->tape, 2, (size_t[]){count, m->cfg.input}); /* [B,D] */
    if (x)
        tg_dataset_images_to_float(t->data, idx, count, x->value.data);
    if (t->profile)
        t->data_s += tg_now_seconds() - start;
    cae_model_set_step(m, (uint64_t)step_number); /* the γ term's corruptions come from (seed, step) */
    cae_graph g;
    int rc = cae_build(t->tape, m, x, CAE_TERMS_ALL, &g);
    if (rc)
        return tg_tape_get_error(t->tape, err);
    /* The gradients are zero here: the previous step's optimizer update cleared them. */
    if ((rc = tg_backward(t->tape, g.loss, err)))
        return rc;
    double loss = g.loss->value.data[0], recon = g.recon->value.data[0], penalty = g.penalty->value.data[0];
    if (!isfinite(loss))
        return tg_error_set(err, TG_ERR_NUMERIC,
                            "step %ld: the loss became %g (reconstruction term %g, penalty term %g); stopping, no checkpoint written",
                            step_number, loss, recon, penalty);
    if (t->first_loss > 0 && loss > DIVERGENCE_FACTOR * t->first_loss)
        return tg_error_set(err, TG_ERR_NUMERIC,
                            "step %ld: the loss %g (reconstruction term %g, penalty term %g) is over %g times the first step's %g: "
                            "the run diverged (try a lower --lr); stopping, no checkpoint written",
                            step_number, loss, recon, penalty, DIVERGENCE_FACTOR, t->first_loss);
    if (t->first_loss == 0)
        t->first_loss = loss;
    start = t->profile ? tg_now_seconds() : 0.0;
    if ((rc = tg_optim_step_zero_grad(t->opt, err))) {
        char why[TG_ERROR_MSG_MAX];
        snprintf(why, sizeof why, "%s", err ? err->msg : "");
        return tg_error_set(err, rc, "step %ld: %s; stopping, no checkpoint written", step_number, why);
    }
    if (t->profile)
        t->optimizer_s += tg_now_seconds() - start;
    /* The next batch's images are asked for at the end of the step rather than right after this
     * batch's conversion: asked for earlier, they tended to be pushed out of the cache again by
     * the step's own data before their turn came. */
    start = t->profile ? tg_now_seconds() : 0.0;
    tg_batcher_prefetch_next(t->batcher, t->data);
    if (t->profile)
        t->data_s += tg_now_seconds() - start;
    double mse = m->cfg.loss == CAE_LOSS_MSE ? recon : batch_mse(x, g.y);
    sums->loss += loss * (double)count;
    sums->mse += mse * (double)count;
    sums->penalty += penalty * (double)count;
    sums->samples += count;
    if (t->log)
        fprintf(t->log, "%ld,%llu,%.9g,%.9g,%.9g\n", step_number, (unsigned long long)epoch + 1, loss, mse, penalty);
    return TG_OK;
}

static int train(const cae_train_settings *settings, const tg_dataset *data, const cae_train_io *io,
                 cae_train_result *result, tg_error *err)
{
    memset(result, 0, sizeof *result);
    cae_train_settings s = *settings;
    run_position pos = {0};
    tg_checkpoint *resume = NULL;
    cae_model model;
    tg_optimizer opt;
    tg_batcher batcher;
    tg_tape *tape = NULL;
    FILE *log = NULL;
    bool have_model = false, have_opt = false, have_batcher = false;
    int rc = TG_OK;

    if (io->resume_path) {
        if (!(resume = tg_ckpt_read(io->resume_path, err)))
            return err ? err->code : TG_ERR_IO;
        if ((rc = load_run_settings(resume, io->resume_path, &s, &pos, err)))
            goto done;
    }
    if (s.epochs < 0)
        s.epochs = 5;
    if (s.steps < 0)
        s.steps = 0;
    if (data->rows * data->cols != s.model.input) {
        rc = tg_error_set(err, TG_ERR_ARG, "the data's images have %zu pixels (%zux%zu) but the model expects %zu",
                          data->rows * data->cols, data->rows, data->cols, s.model.input);
        goto done;
    }
    if (io->out_path && (rc = check_checkpoint_fits(&s, err)))
        goto done;
    tg_rng init_rng;
    tg_rng_seed(&init_rng, s.seed, 0x1417); /* initialization stream; shuffles use streams 0.. (epochs) */
    if ((rc = cae_model_init(&model, &s.model, &init_rng, err)))
        goto done;
    have_model = true;
    if (resume)
        rc = cae_model_load_weights(&model, resume, io->resume_path, err);
    else if (io->init_path) {
        tg_checkpoint *init = tg_ckpt_read(io->init_path, err);
        rc = init ? cae_model_load_weights(&model, init, io->init_path, err) : (err ? err->code : TG_ERR_IO);
        tg_ckpt_free(init);
    }
    if (rc)
        goto done;
    if ((rc = tg_optim_init(&opt, &s.opt, model.params, model.n_params, err)))
        goto done;
    have_opt = true;
    if (resume && (rc = load_optimizer_state(resume, io->resume_path, &opt, err)))
        goto done;
    if ((rc = tg_batcher_init(&batcher, data, s.batch, s.limit, s.shuffle, s.seed, err)))
        goto done;
    have_batcher = true;
    size_t epoch_size = s.limit > 0 && s.limit < data->n ? s.limit : data->n;
    if (pos.position > epoch_size) {
        rc = tg_error_set(err, TG_ERR_FORMAT, "%s: train_position %zu is past the epoch's %zu images",
                          io->resume_path, pos.position, epoch_size);
        goto done;
    }
    if (!(tape = tg_tape_new(err))) {
        rc = err ? err->code : TG_ERR_NOMEM;
        goto done;
    }
    tg_tape_set_profile(tape, io->profile);
    if (io->log_path) {
        if ((rc = tg_open_stream_output(io->log_path, resume != NULL, &log, err)))
            goto done;
        fseek(log, 0, SEEK_END);
        if (ftell(log) == 0)
            fprintf(log, "step,epoch,loss,mse,penalty\n");
    }

    trainer tr = {.tape = tape, .model = &model, .opt = &opt, .data = data, .batcher = &batcher, .log = log, .profile = io->profile,
                  .first_loss = pos.first_loss};
    tg_params_zero_grad(model.params, model.n_params); /* from here on each update clears them */
    tg_batcher_seek(&batcher, pos.epoch, pos.position);
    while ((long)pos.epoch < s.epochs && !(s.steps > 0 && pos.step >= s.steps)) {
        epoch_sums sums = {0};
        double start = tg_now_seconds();
        bool started_fresh = pos.position == 0;
        const uint32_t *idx;
        size_t count;
        while (!(s.steps > 0 && pos.step >= s.steps) && (count = tg_batcher_next(&batcher, &idx)) > 0) {
            if ((rc = train_step(&tr, idx, count, pos.step + 1, pos.epoch, &sums, err)))
                goto done;
            pos.step++;
            pos.position += count;
            result->steps_done++;
            result->last_loss = sums.loss / (double)sums.samples;
            if (io->progress && (pos.step % 16 == 0 || pos.position == epoch_size))
                draw_progress(pos.epoch, pos.position, epoch_size, tg_now_seconds() - start, result->last_loss);
            if (io->stop && *io->stop)
                break;
        }
        sums.seconds = tg_now_seconds() - start;
        if (io->progress)
            fprintf(stderr, "\n");
        bool epoch_complete = pos.position == epoch_size;
        if (io->records && sums.samples > 0)
            fprintf(io->records, "epoch=%llu loss=%.6g mse=%.6g penalty=%.6g seconds=%.3f samples_per_s=%.0f step=%ld%s\n",
                    (unsigned long long)pos.epoch + 1, sums.loss / (double)sums.samples,
                    sums.mse / (double)sums.samples, sums.penalty / (double)sums.samples, sums.seconds,
                    (double)sums.samples / sums.seconds, pos.step, epoch_complete ? "" : " partial=1");
        if (io->records)
            fflush(io->records);
        if (epoch_complete) {
            if (started_fresh && (result->best_epoch_s == 0 || sums.seconds < result->best_epoch_s))
                result->best_epoch_s = sums.seconds;
            result->epochs_done++;
            pos.epoch++;
            pos.position = 0;
            tg_batcher_seek(&batcher, pos.epoch, 0);
        }
        if (io->stop && *io->stop) {
            result->interrupted = true;
            break;
        }
    }
    if (io->profile) {
        tg_tape_profile_print(tape, stderr);
        fprintf(stderr, "op=(batch conversion) forward_s=%.6f\nop=(optimizer) forward_s=%.6f\n", tr.data_s, tr.optimizer_s);
    }
    pos.first_loss = tr.first_loss;
    if (io->out_path && (rc = save_run(io->out_path, &model, &opt, &s, &pos, err)))
        goto done;
    if (result->interrupted)
        tg_cli_say("cae", "interrupted at step %ld (epoch %llu, image %zu of %zu); state saved to %s; continue with --resume %s",
                pos.step, (unsigned long long)pos.epoch + 1, pos.position, epoch_size,
                io->out_path ? io->out_path : "(nowhere)", io->out_path ? io->out_path : "FILE");
done:
    if (log && fclose(log) != 0 && rc == TG_OK)
        rc = tg_file_error(err, TG_ERR_IO, io->log_path, "cannot write the log");
    tg_tape_free(tape);
    if (have_batcher)
        tg_batcher_free(&batcher);
    if (have_opt)
        tg_optim_free(&opt);
    if (have_model)
        cae_model_free(&model);
    tg_ckpt_free(resume);
    return rc;
}

typedef struct train_call {
    const cae_train_settings *settings;
    const tg_dataset *data;
    const cae_train_io *io;
    cae_train_result *result;
    tg_error *err;
    int rc;
} train_call;

static void run_train_call(void *ctx)
{
    train_call *c = ctx;
    c->rc = train(c->settings, c->data, c->io, c->result, c->err);
}

/* The whole run on one team of threads (tensor/parallel.h): a step runs some twenty short
 * parallel kernels, and a team shares them without a fork/join each. */
int cae_train(const cae_train_settings *settings, const tg_dataset *data, const cae_train_io *io,
              cae_train_result *result, tg_error *err)
{
    train_call c = {settings, data, io, result, err, TG_OK};
    tg_team_run(run_train_call, &c);
    return c.rc;
}
