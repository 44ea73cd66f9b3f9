/* The training loop of both programs: see train_loop.h. */
#include "train_loop.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/io/atomic_file.h"
#include "tensor/parallel.h"
#include "tensor/rng.h"

#define PROGRESS_EVERY 16 /* steps between redraws of the progress bar */

static int load_best_state(tg_loop *loop, const tg_checkpoint *ck, const char *path, tg_error *err);

/* ---- open and close ---------------------------------------------------------------------- */

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
        /* second moments (Adam's, RMSprop's) are means of squares: a negative one makes a sqrt NaN */
        int rc = tg_ckpt_check_values(saved, path, name, tg_optim_state_nonnegative(opt, k), err);
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

/* Opens the CSV log (appended to when resuming) and writes its header to an empty one. */
static int open_log(tg_loop *loop, bool append, tg_error *err)
{
    int rc = tg_open_stream_output(loop->io.log_path, append, &loop->log, err);
    if (rc)
        return rc;
    fseek(loop->log, 0, SEEK_END);
    if (ftell(loop->log) == 0) {
        fprintf(loop->log, "step,epoch,loss");
        for (int k = 0; k < loop->model.n_figures; k++)
            fprintf(loop->log, ",%s", loop->model.figures[k].name);
        fprintf(loop->log, "\n");
    }
    return TG_OK;
}

/* With validation: copies of the starting weights as the best so far, and for a resume, the
 * current weights from `last/<param>` into the parameters (which hold the checkpoint's best). */
static int open_best(tg_loop *loop, const tg_checkpoint *resume, const char *path, tg_error *err)
{
    loop->result.best_loss = INFINITY;
    if (loop->s.valid == 0)
        return TG_OK;
    if (!loop->io.valid || !loop->model.evaluate)
        return tg_error_set(err, TG_ERR_ARG, "--valid: this run has no held-out images to evaluate");
    int n = loop->model.n_params;
    if (!(loop->best = calloc((size_t)n, sizeof *loop->best)))
        return tg_error_set(err, TG_ERR_NOMEM, "cannot allocate the best weights");
    int rc = TG_OK;
    for (int k = 0; k < n && !rc; k++)
        rc = tg_tensor_clone(&loop->best[k], &loop->model.params[k]->value, err);
    char name[TG_PARAM_NAME_MAX + 8];
    for (int k = 0; k < n && resume && !rc; k++) {
        snprintf(name, sizeof name, "last/%s", loop->model.params[k]->name);
        const tg_tensor *saved = tg_ckpt_find(resume, name);
        if (!saved || !tg_tensor_same_shape(saved, &loop->model.params[k]->value))
            return tg_file_error(err, TG_ERR_FORMAT, path, "not resumable: tensor %s is missing or has the wrong shape",
                                 name);
        if (!(rc = tg_ckpt_check_values(saved, path, name, false, err)))
            rc = tg_tensor_copy(&loop->model.params[k]->value, saved, err);
    }
    return rc;
}

/* The optimizer's settings beyond its configuration: no weight decay on biases (nor on any
 * parameter of one dimension), and the schedule, a bare cosine's length resolved to the steps of
 * the run's epochs (not of --steps, which one invocation alone has) after the warm-up. */
static int open_optimizer_settings(tg_loop *loop, tg_error *err)
{
    int rc = tg_optim_no_decay_1d(&loop->opt, err);
    tg_schedule *sched = &loop->s.schedule;
    if (rc || !tg_cli_schedule_active(sched))
        return rc;
    if (sched->kind == TG_SCHED_COSINE && sched->t_max == 0) {
        long per_epoch = (long)((loop->epoch_size + loop->s.batch - 1) / loop->s.batch);
        long total = loop->s.epochs * per_epoch - sched->warmup_steps;
        sched->t_max = total > 1 ? total : 1;
    }
    return tg_optim_set_schedule(&loop->opt, sched, err);
}

int tg_loop_open(tg_loop *loop, const tg_loop_model *model, const tg_loop_settings *s, const tg_loop_position *start,
                 const tg_dataset *data, const tg_loop_io *io, const tg_checkpoint *resume, const char *resume_path,
                 tg_error *err)
{
    *loop = (tg_loop){.model = *model, .s = *s, .pos = *start, .io = *io, .data = data};
    loop->epoch_size = s->limit > 0 && s->limit < data->n ? s->limit : data->n;
    int rc = tg_optim_init(&loop->opt, &s->opt, model->params, model->n_params, err);
    if (rc)
        return rc;
    loop->have_opt = true;
    if ((rc = open_optimizer_settings(loop, err)))
        return rc;
    loop->result.schedule = loop->s.schedule;
    if (resume && (rc = load_optimizer_state(resume, resume_path, &loop->opt, err)))
        return rc;
    if ((rc = open_best(loop, resume, resume_path, err)))
        return rc;
    if (resume && s->valid > 0 && (rc = load_best_state(loop, resume, resume_path, err)))
        return rc;
    if ((rc = tg_batcher_init(&loop->batcher, data, s->batch, s->limit, s->shuffle, s->seed, err)))
        return rc;
    loop->have_batcher = true;
    if (start->position > loop->epoch_size)
        return tg_error_set(err, TG_ERR_FORMAT, "%s: train_position %zu is past the epoch's %zu images", resume_path,
                            start->position, loop->epoch_size);
    if (!(loop->tape = tg_tape_new(err)))
        return err ? err->code : TG_ERR_NOMEM;
    tg_tape_set_profile(loop->tape, io->profile);
    if (io->log_path && (rc = open_log(loop, resume != NULL, err)))
        return rc;
    tg_params_zero_grad(model->params, model->n_params); /* from here on each update clears them */
    tg_batcher_seek(&loop->batcher, start->epoch, start->position);
    return TG_OK;
}

int tg_loop_close(tg_loop *loop, int rc, tg_error *err)
{
    if (loop->log && fclose(loop->log) != 0 && rc == TG_OK)
        rc = tg_file_error(err, TG_ERR_IO, loop->io.log_path, "cannot write the log");
    loop->log = NULL;
    tg_tape_free(loop->tape);
    loop->tape = NULL;
    if (loop->have_batcher)
        tg_batcher_free(&loop->batcher);
    if (loop->have_opt)
        tg_optim_free(&loop->opt);
    loop->have_batcher = loop->have_opt = false;
    for (int k = 0; loop->best && k < loop->model.n_params; k++)
        tg_tensor_free(&loop->best[k]);
    free(loop->best);
    loop->best = NULL;
    return rc;
}

/* ---- one step ------------------------------------------------------------------------------ */

typedef struct epoch_sums {
    double loss;                          /* Σ batch mean loss · batch size */
    double figures[TG_LOOP_MAX_FIGURES];  /* likewise, or Σ counts */
    size_t samples;
    double seconds;
    float lr; /* the rate of the last step */
} epoch_sums;

/* err's message as "step N: MESSAGE; STOPPING" (the message is copied first: tg_error_set must
 * not read the buffer it writes). */
static int step_error(tg_error *err, int rc, long step, const char *stopping)
{
    char why[TG_ERROR_MSG_MAX];
    snprintf(why, sizeof why, "%s", err ? err->msg : "");
    return tg_error_set(err, rc, "step %ld: %s; %s", step, why, stopping);
}

static double profile_clock(const tg_loop *loop)
{
    return loop->io.profile ? tg_now_seconds() : 0.0;
}

/* The model's step on the images idx[0..count), the optimizer's, and the step's share of the
 * epoch's figures and of the log. */
static int loop_step(tg_loop *loop, const uint32_t *idx, size_t count, epoch_sums *sums, tg_error *err)
{
    tg_loop_step st = {.idx = idx, .count = count, .number = loop->pos.step + 1, .first_loss = loop->pos.first_loss};
    int rc = loop->model.step(loop->model.ctx, loop, &st, err);
    if (rc)
        return rc;
    if (loop->pos.first_loss == 0)
        loop->pos.first_loss = st.loss;
    double start = profile_clock(loop);
    sums->lr = tg_optim_lr(&loop->opt, 0);
    if ((rc = tg_optim_step_zero_grad(&loop->opt, err)))
        return step_error(err, rc, st.number, loop->model.stopping);
    if (loop->io.profile)
        loop->optimizer_s += tg_now_seconds() - start;
    /* The next batch's images are asked for at the end of the step rather than right after this
     * batch's conversion: asked for earlier, they tended to be pushed out of the cache again by
     * the step's own data before their turn came. */
    start = profile_clock(loop);
    tg_batcher_prefetch_next(&loop->batcher, loop->data);
    if (loop->io.profile)
        loop->data_s += tg_now_seconds() - start;
    sums->loss += st.loss * (double)count;
    for (int k = 0; k < loop->model.n_figures; k++)
        sums->figures[k] += loop->model.figures[k].count ? st.figures[k] : st.figures[k] * (double)count;
    sums->samples += count;
    if (loop->log) {
        fprintf(loop->log, "%ld,%llu,%.9g", st.number, (unsigned long long)loop->pos.epoch + 1, st.loss);
        for (int k = 0; k < loop->model.n_figures; k++)
            fprintf(loop->log, ",%.9g", loop->model.figures[k].count ? st.figures[k] / (double)count : st.figures[k]);
        fprintf(loop->log, "\n");
    }
    return TG_OK;
}

/* ---- validation and model selection ------------------------------------------------------ */

/* Scores the weights at the end of epoch pos.epoch on the held-out images and keeps them when
 * they are the best so far; sets result.stopped_early when --patience has run out. */
static int validate(tg_loop *loop, tg_loop_valid_result *out, tg_error *err)
{
    *out = (tg_loop_valid_result){.accuracy = -1.0};
    tg_tape_set_grad_enabled(loop->tape, false);
    int rc = loop->model.evaluate(loop->model.ctx, loop, loop->io.valid, out, err);
    tg_tape_set_grad_enabled(loop->tape, true);
    if (rc)
        return rc;
    tg_loop_result *r = &loop->result;
    long epoch = (long)loop->pos.epoch + 1;
    if (out->loss < r->best_loss) {
        r->best_loss = out->loss;
        r->best_epoch = epoch;
        for (int k = 0; k < loop->model.n_params; k++)
            tg_tensor_copy(&loop->best[k], &loop->model.params[k]->value, NULL);
    }
    r->stopped_early = loop->s.patience > 0 && epoch - r->best_epoch >= loop->s.patience;
    return TG_OK;
}

/* The best loss and epoch of a resumed run with validation (its weights: open_best). */
static int load_best_state(tg_loop *loop, const tg_checkpoint *ck, const char *path, tg_error *err)
{
    uint64_t best_epoch = 0;
    double best_loss = INFINITY;
    int rc;
    if ((rc = tg_ckpt_meta_uint(ck, path, "best_epoch", true, 0, loop->pos.epoch, &best_epoch, err)) ||
        (rc = tg_ckpt_meta_real(ck, path, "best_loss", true, -INFINITY, INFINITY, &best_loss, err)))
        return rc;
    tg_loop_result *r = &loop->result;
    r->best_epoch = (long)best_epoch;
    r->best_loss = best_loss;
    r->stopped_early = loop->s.patience > 0 && best_epoch > 0 &&
                       (long)loop->pos.epoch - r->best_epoch >= loop->s.patience;
    return TG_OK;
}

void tg_loop_select_best(tg_loop *loop)
{
    if (!loop->best || loop->best_in_params)
        return;
    for (int k = 0; k < loop->model.n_params; k++) {
        float *a = loop->model.params[k]->value.data, *b = loop->best[k].data;
        for (size_t i = 0; i < loop->best[k].size; i++) {
            float t = a[i];
            a[i] = b[i];
            b[i] = t;
        }
    }
    loop->best_in_params = true;
}

/* ---- one epoch ----------------------------------------------------------------------------- */

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

static void print_epoch_line(const tg_loop *loop, const epoch_sums *sums, bool complete,
                             const tg_loop_valid_result *valid)
{
    FILE *f = loop->io.records;
    double n = (double)sums->samples;
    fprintf(f, "epoch=%llu loss=%.6g", (unsigned long long)loop->pos.epoch + 1, sums->loss / n);
    for (int k = 0; k < loop->model.n_figures; k++) {
        const tg_loop_figure *fig = &loop->model.figures[k];
        fprintf(f, fig->fixed ? " %s=%.*f" : " %s=%.*g", fig->name, fig->digits, sums->figures[k] / n);
    }
    fprintf(f, " seconds=%.3f", sums->seconds);
    if (loop->model.rate_and_step)
        fprintf(f, " samples_per_s=%.0f step=%ld", n / sums->seconds, loop->pos.step);
    if (valid && valid->accuracy >= 0)
        fprintf(f, " valid_acc=%.4f", valid->accuracy);
    if (valid)
        fprintf(f, " valid_loss=%.6g", valid->loss);
    if (loop->opt.scheduled)
        fprintf(f, " lr=%.9g", (double)sums->lr);
    fprintf(f, "%s\n", complete ? "" : " partial=1");
}

static bool step_limit_reached(const tg_loop *loop)
{
    return loop->s.steps > 0 && loop->pos.step >= loop->s.steps;
}

static bool stop_requested(const tg_loop *loop)
{
    return loop->io.stop && *loop->io.stop;
}

int tg_loop_epoch(tg_loop *loop, tg_error *err)
{
    epoch_sums sums = {0};
    tg_loop_position *pos = &loop->pos;
    tg_loop_result *result = &loop->result;
    double start = tg_now_seconds();
    bool started_fresh = pos->position == 0;
    const uint32_t *idx;
    size_t count;
    while (!step_limit_reached(loop) && (count = tg_batcher_next(&loop->batcher, &idx)) > 0) {
        int rc = loop_step(loop, idx, count, &sums, err);
        if (rc)
            return rc;
        pos->step++;
        pos->position += count;
        result->steps_done++;
        result->last_loss = sums.loss / (double)sums.samples;
        if (loop->io.progress && (pos->step % PROGRESS_EVERY == 0 || pos->position == loop->epoch_size))
            draw_progress(pos->epoch, pos->position, loop->epoch_size, tg_now_seconds() - start, result->last_loss);
        if (stop_requested(loop))
            break;
    }
    sums.seconds = tg_now_seconds() - start;
    if (loop->io.progress)
        fprintf(stderr, "\n");
    bool complete = pos->position == loop->epoch_size;
    if (!complete && sums.samples == 0 && !step_limit_reached(loop))
        /* the batcher and the position disagree: without this, the run would never end */
        return tg_error_set(err, TG_ERR_STATE, "epoch %llu: no images left at image %zu of %zu",
                            (unsigned long long)pos->epoch + 1, pos->position, loop->epoch_size);
    tg_loop_valid_result valid;
    bool validated = complete && loop->s.valid > 0;
    if (validated) {
        int rc = validate(loop, &valid, err);
        if (rc)
            return rc;
    }
    if (loop->io.records && sums.samples > 0)
        print_epoch_line(loop, &sums, complete, validated ? &valid : NULL);
    if (loop->io.records)
        fflush(loop->io.records);
    if (complete) {
        if (started_fresh && (result->best_epoch_s == 0 || sums.seconds < result->best_epoch_s))
            result->best_epoch_s = sums.seconds;
        result->epochs_done++;
        pos->epoch++;
        pos->position = 0;
        tg_batcher_seek(&loop->batcher, pos->epoch, 0);
    }
    result->interrupted = stop_requested(loop);
    return TG_OK;
}

/* ---- the run --------------------------------------------------------------------------------- */

typedef struct run_call {
    tg_loop *loop;
    tg_error *err;
    int rc;
} run_call;

static void run_epochs(void *ctx)
{
    run_call *c = ctx;
    tg_loop *loop = c->loop;
    while (c->rc == TG_OK && (long)loop->pos.epoch < loop->s.epochs && !step_limit_reached(loop) &&
           !loop->result.interrupted && !loop->result.stopped_early)
        c->rc = tg_loop_epoch(loop, c->err);
}

int tg_loop_run(tg_loop *loop, tg_error *err)
{
    run_call c = {loop, err, TG_OK};
    tg_team_run(run_epochs, &c);
    loop->result.end = loop->pos;
    loop->result.epoch_size = loop->epoch_size;
    if (c.rc == TG_OK && loop->io.profile) {
        tg_tape_profile_print(loop->tape, stderr);
        fprintf(stderr, "op=(batch conversion) forward_s=%.6f\nop=(optimizer) forward_s=%.6f\n", loop->data_s,
                loop->optimizer_s);
    }
    return c.rc;
}

/* ---- the run's state in a checkpoint ------------------------------------------------------ */

/* With validation: the split, the best epoch and loss, and the current weights (the model's own
 * tensors hold the best once tg_loop_select_best has run). */
static int add_valid_state(const tg_loop *loop, tg_checkpoint *ck, tg_error *err)
{
    const tg_loop_result *r = &loop->result;
    int rc;
    if ((rc = tg_ckpt_set_meta_fmt(ck, "valid", err, "%zu", loop->s.valid)) ||
        (rc = tg_ckpt_set_meta_fmt(ck, "patience", err, "%ld", loop->s.patience)) ||
        (rc = tg_ckpt_set_meta_fmt(ck, "best_epoch", err, "%ld", r->best_epoch)) ||
        (rc = tg_ckpt_set_meta_fmt(ck, "best_loss", err, "%.17g", r->best_loss)))
        return rc;
    char name[TG_PARAM_NAME_MAX + 8];
    for (int k = 0; k < loop->model.n_params && !rc; k++) {
        snprintf(name, sizeof name, "last/%s", loop->model.params[k]->name);
        rc = tg_ckpt_add(ck, name, loop->best_in_params ? &loop->best[k] : &loop->model.params[k]->value, err);
    }
    return rc;
}

int tg_loop_add_state(const tg_loop *loop, tg_checkpoint *ck, tg_error *err)
{
    const tg_optimizer *opt = &loop->opt;
    const tg_loop_settings *s = &loop->s;
    const tg_loop_position *pos = &loop->pos;
    int rc;
    if ((rc = tg_ckpt_set_meta(ck, "optimizer", tg_opt_kind_name(opt->cfg.kind), err)) ||
        (rc = tg_ckpt_set_meta_fmt(ck, "lr", err, "%.9g", (double)opt->cfg.lr)) ||
        (rc = tg_ckpt_set_meta_fmt(ck, "momentum", err, "%.9g", (double)opt->cfg.momentum)) ||
        (rc = tg_ckpt_set_meta_fmt(ck, "adam_eps", err, "%.9g", (double)opt->cfg.eps)) ||
        (rc = tg_cli_add_optimizer_meta(ck, &opt->cfg, &s->schedule, err)) ||
        (rc = tg_ckpt_set_meta_fmt(ck, "batch", err, "%zu", s->batch)) ||
        (rc = tg_ckpt_set_meta_fmt(ck, "limit", err, "%zu", s->limit)) ||
        (rc = tg_ckpt_set_meta(ck, "shuffle", s->shuffle ? "1" : "0", err)) ||
        (rc = tg_ckpt_set_meta_fmt(ck, "seed", err, "%llu", (unsigned long long)s->seed)) ||
        (rc = tg_ckpt_set_meta_fmt(ck, "epochs", err, "%ld", s->epochs)) ||
        (rc = tg_ckpt_set_meta_fmt(ck, "train_step", err, "%ld", pos->step)) ||
        (rc = tg_ckpt_set_meta_fmt(ck, "train_epoch", err, "%llu", (unsigned long long)pos->epoch)) ||
        (rc = tg_ckpt_set_meta_fmt(ck, "train_position", err, "%zu", pos->position)) ||
        (rc = tg_ckpt_set_meta_fmt(ck, "first_loss", err, "%.17g", pos->first_loss)))
        return rc;
    /* Optimizer state: moments or momentum buffers under their own names, and the step count. */
    char name[TG_OPT_STATE_NAME_MAX];
    for (int k = 0; k < tg_optim_state_count(opt) && !rc; k++) {
        tg_tensor *t = tg_optim_state_tensor((tg_optimizer *)opt, k, name);
        rc = tg_ckpt_add(ck, name, t, err);
    }
    if (rc)
        return rc;
    float step = (float)opt->step; /* exact up to 2^24 steps */
    tg_tensor t;
    tg_tensor_wrap(&t, &step, 1, (size_t[]){1}, NULL);
    if ((rc = tg_ckpt_add(ck, tg_optim_step_name(opt), &t, err)) || s->valid == 0)
        return rc;
    return add_valid_state(loop, ck, err);
}

int tg_loop_settings_from_checkpoint(const tg_checkpoint *ck, const char *path, tg_loop_settings *s,
                                     tg_loop_position *pos, tg_error *err)
{
    tg_loop_settings r = *s;
    double first_loss = 0;
    uint64_t batch = 0, limit = 0, shuffle = 0, seed = 0, epochs = 0, step = 0, epoch = 0, position = 0;
    uint64_t valid = 0, patience = 0;
    int rc;
    if ((rc = tg_cli_optimizer_from_checkpoint(ck, path, &r.opt, &r.schedule, err)) ||
        (rc = tg_ckpt_meta_uint(ck, path, "batch", true, 1, 1000000000, &batch, err)) ||
        (rc = tg_ckpt_meta_uint(ck, path, "limit", true, 0, 1000000000000, &limit, err)) ||
        (rc = tg_ckpt_meta_uint(ck, path, "shuffle", true, 0, 1, &shuffle, err)) ||
        (rc = tg_ckpt_meta_uint(ck, path, "seed", true, 0, UINT64_MAX, &seed, err)) ||
        (rc = tg_ckpt_meta_uint(ck, path, "epochs", true, 0, 1000000000, &epochs, err)) ||
        (rc = tg_ckpt_meta_uint(ck, path, "train_step", true, 0, 1000000000000000, &step, err)) ||
        (rc = tg_ckpt_meta_uint(ck, path, "train_epoch", true, 0, 1000000000, &epoch, err)) ||
        (rc = tg_ckpt_meta_uint(ck, path, "train_position", true, 0, 1000000000000, &position, err)) ||
        /* optional: checkpoints written before the divergence reference was saved lack it */
        (rc = tg_ckpt_meta_real(ck, path, "first_loss", false, 0, INFINITY, &first_loss, err)) ||
        /* optional: only a run with validation has them */
        (rc = tg_ckpt_meta_uint(ck, path, "valid", false, 0, UINT32_MAX, &valid, err)) ||
        (rc = tg_ckpt_meta_uint(ck, path, "patience", false, 0, LONG_MAX, &patience, err)))
        return rc;
    r.valid = (size_t)valid;
    r.patience = (long)patience;
    r.batch = (size_t)batch;
    r.limit = (size_t)limit;
    r.shuffle = shuffle != 0;
    r.seed = seed;
    r.epochs = s->epochs >= 0 ? s->epochs : (long)epochs;
    r.steps = s->steps >= 0 ? s->steps : 0;
    *pos = (tg_loop_position){.step = (long)step, .epoch = epoch, .position = (size_t)position, .first_loss = first_loss};
    *s = r;
    return TG_OK;
}

/* ---- options -------------------------------------------------------------------------------- */

bool tg_loop_parse_options(const tg_cli *c, tg_loop_settings *s)
{
    return tg_loop_parse_options_or(c, TG_OPT_ADAM, 1e-3f, s);
}

bool tg_loop_parse_options_or(const tg_cli *c, tg_opt_kind default_kind, float default_lr, tg_loop_settings *s)
{
    if (!tg_cli_optimizer_or(c, default_kind, default_lr, &s->opt) || !tg_cli_schedule(c, &s->schedule))
        return false;
    long epochs = s->epochs, batch = (long)s->batch, steps = s->steps, limit = (long)s->limit, seed = (long)s->seed;
    long valid = (long)s->valid;
    if (!tg_cli_long(c, "--epochs", 1, 1000000, &epochs) || !tg_cli_long(c, "--batch", 1, 1 << 20, &batch) ||
        !tg_cli_long(c, "--steps", 1, LONG_MAX, &steps) || !tg_cli_long(c, "--limit", 1, LONG_MAX, &limit) ||
        !tg_cli_long(c, "--seed", 0, LONG_MAX, &seed) || !tg_cli_long(c, "--valid", 1, UINT32_MAX, &valid) ||
        !tg_cli_long(c, "--patience", 1, 1000000, &s->patience))
        return false;
    if (tg_cli_given(c, "--patience") && !tg_cli_given(c, "--valid")) {
        tg_cli_say(c->program, "--patience needs --valid N (it counts epochs without a better validation loss)");
        return false;
    }
    s->valid = (size_t)valid;
    s->epochs = epochs;
    s->batch = (size_t)batch;
    s->steps = steps;
    s->limit = (size_t)limit;
    s->seed = (uint64_t)seed;
    if (tg_cli_given(c, "--no-shuffle"))
        s->shuffle = false;
    return true;
}

/* ---- the held-out split ------------------------------------------------------------------- */

int tg_loop_split(const tg_dataset *all, size_t limit, size_t valid, uint64_t seed, tg_dataset *train,
                  tg_dataset *held_out, tg_error *err)
{
    const size_t n = limit > 0 && limit < all->n ? limit : all->n;
    if (valid == 0 || valid >= n || n > UINT32_MAX) { /* the library's check, worded for the option */
        *train = *held_out = (tg_dataset){0};
        return tg_error_set(err, TG_ERR_ARG, "--valid %zu: must be 1 to %zu (below the %zu training images)", valid,
                            n > 0 ? n - 1 : 0, n);
    }
    return tg_dataset_split(all, limit, valid, seed, train, held_out, err);
}

void tg_loop_say_end(const char *program, const tg_loop_result *result, const char *out_path)
{
    tg_cli_outputs_complete();
    if (result->stopped_early)
        tg_cli_say(program, "stopped after epoch %llu: no better validation loss for %llu epochs",
                   (unsigned long long)result->end.epoch, (unsigned long long)result->end.epoch - result->best_epoch);
    if (result->best_epoch > 0)
        tg_cli_say(program, "best epoch %ld (valid_loss=%.6g): its weights are in %s", result->best_epoch,
                   result->best_loss, out_path);
    tg_cli_say(program, "wrote %s", out_path);
}
