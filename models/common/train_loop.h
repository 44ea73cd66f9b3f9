/* models/common/train_loop.h — the training loop both programs (cae, mlp) run: mini-batches from
 * a seeded batcher, the model's step on a tape, the optimizer, one key=value line per epoch, a
 * progress bar, a CSV log of the steps, a stop on SIGINT/SIGTERM, and an exact resume.
 *
 * A program describes its model as a tg_loop_model (its parameters, its step, the figures of its
 * epoch line) and drives the loop:
 *
 *     tg_loop_open(&loop, &model, &settings, &start, data, &io, resume, resume_path, err);
 *     rc = tg_loop_run(&loop, err);         // epochs on one team of threads, until done or stopped
 *     ... tg_loop_add_state(&loop, ck, err) // to save: the run's settings, position, optimizer
 *     rc = tg_loop_close(&loop, rc, err);   // closes the log (its write error is an error too)
 *
 * Epoch line: `epoch=N loss=… FIGURE=… seconds=…` (plus `samples_per_s=… step=…` when the
 * model asks for them, `lr=…`, the rate of the epoch's last step, with a schedule, and
 * ` partial=1` for an epoch cut short). */
#ifndef TG_TRAIN_LOOP_H
#define TG_TRAIN_LOOP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "autograd/tape.h"
#include "nn/io/checkpoint.h"
#include "nn/io/data.h"
#include "nn/optim.h"

/* How a run trains, whatever the model. */
typedef struct tg_loop_settings {
    tg_opt_config opt;
    tg_schedule schedule; /* the learning rate's (zeroed: none, tg_cli_schedule_active); a cosine
                             schedule's t_max 0 means the steps of `epochs` epochs after the warm-up */
    long epochs;   /* passes over the data */
    long steps;    /* stop after this many optimizer steps of the run (0: no limit) */
    size_t batch;  /* mini-batch size; the last, smaller batch of an epoch is used too */
    size_t limit;  /* use only the first `limit` images (0: all) */
    bool shuffle;  /* a seeded shuffle per epoch; otherwise file order */
    uint64_t seed; /* seeds the shuffles (stream k for epoch k) and the held-out split */
    size_t valid;  /* images held out of the training set for validation (0: none; see tg_loop_split) */
    long patience; /* with valid: stop after this many epochs without a better validation loss (0: never) */
} tg_loop_settings;

/* Where a run stands: what an exact resume needs besides weights and optimizer state. */
typedef struct tg_loop_position {
    long step;         /* optimizer steps taken */
    uint64_t epoch;    /* current epoch, 0-based */
    size_t position;   /* images of that epoch already used */
    double first_loss; /* the loss of the run's first step, which a model may compare later losses
                          with to see a run diverge (0 until that step) */
} tg_loop_position;

#define TG_LOOP_MAX_FIGURES 4

/* A figure of the epoch line (and a column of the log) besides the loss. */
typedef struct tg_loop_figure {
    const char *name; /* "mse" */
    int digits;       /* printed with %.*g, or %.*f when `fixed` */
    bool fixed;
    bool count;       /* a step reports a count (of right predictions), summed as it is, and the
                         epoch shows sum / images; otherwise a batch mean, weighted by the batch size */
} tg_loop_figure;

/* One step, as the loop hands it to the model. */
typedef struct tg_loop_step {
    const uint32_t *idx; /* the batch: images idx[0..count) of the data */
    size_t count;
    long number;         /* the step's number in the run, from 1 */
    double first_loss;   /* the run's first step's loss; 0 when this is that step */
    /* filled by the model's step */
    double loss;         /* the batch's mean loss */
    double figures[TG_LOOP_MAX_FIGURES];
} tg_loop_step;

typedef struct tg_loop tg_loop;

/* A model's evaluation on the held-out images. */
typedef struct tg_loop_valid_result {
    double loss;     /* the training loss's definition, averaged over the images */
    double accuracy; /* fraction of right predictions, or < 0 when the model has none */
} tg_loop_valid_result;

typedef struct tg_loop_model {
    void *ctx;
    tg_param **params; /* what the optimizer updates */
    int n_params;
    /* Builds the batch's loss on loop->tape (reset it first), runs the backward pass into the
     * parameters' gradients (zero on entry), and fills step->loss and step->figures.  A loss the
     * model will not go on from (not finite, diverged) is an error with the model's message.
     * The optimizer step is the loop's. */
    int (*step)(void *ctx, tg_loop *loop, tg_loop_step *step, tg_error *err);
    const tg_loop_figure *figures;
    int n_figures;
    bool rate_and_step;   /* the epoch line also says samples_per_s= and step= */
    /* With settings.valid: scores the current weights on io.valid (after each full epoch, on
     * loop->tape with gradients off; the model's step resets it).  NULL: no validation. */
    int (*evaluate)(void *ctx, tg_loop *loop, const tg_dataset *valid, tg_loop_valid_result *out, tg_error *err);
    const char *stopping; /* ends the message of a failed optimizer step: "stopping, no checkpoint written" */
} tg_loop_model;

typedef struct tg_loop_io {
    FILE *records;          /* the line of each epoch (stdout), or NULL */
    bool progress;          /* draw a progress bar on stderr */
    bool profile;           /* print the tape's per-op profile to stderr at the end */
    const char *log_path;   /* CSV, one row per step (appended to when resuming), or NULL */
    const atomic_int *stop; /* nonzero (a signal arrived): stop after the current step; NULL: never */
    const tg_dataset *valid; /* the held-out images (settings.valid of them), or NULL */
} tg_loop_io;

typedef struct tg_loop_result {
    long steps_done;     /* optimizer steps taken by this invocation */
    long epochs_done;    /* full epochs completed by this invocation */
    double best_epoch_s; /* fastest full epoch begun at its start (0 if none) */
    double last_loss;    /* mean loss of the last epoch so far */
    bool interrupted;    /* *io.stop was seen: the caller saves and exits 130 */
    tg_loop_position end; /* where the run stopped */
    size_t epoch_size;   /* images per epoch */
    long best_epoch;     /* with validation: the epoch (from 1) of the lowest validation loss (0: none yet) */
    double best_loss;    /* its validation loss (INFINITY: none yet) */
    bool stopped_early;  /* --patience ran out */
    tg_schedule schedule; /* the run's schedule, a cosine's t_max 0 replaced by the run's length */
} tg_loop_result;

struct tg_loop {
    tg_loop_model model;
    tg_loop_settings s;
    tg_loop_position pos;
    tg_loop_io io;
    const tg_dataset *data;
    size_t epoch_size;
    tg_tape *tape;
    tg_optimizer opt;
    tg_batcher batcher;
    FILE *log;
    tg_loop_result result;
    double data_s, optimizer_s; /* time spent outside the tape, when profiling (a step adds its
                                   batch conversion to data_s) */
    bool have_opt, have_batcher;
    tg_tensor *best;      /* with validation: the best weights so far, one per parameter (at the
                             start: the starting weights) */
    bool best_in_params;  /* tg_loop_select_best swapped them into the parameters */
};

/* Opens a run of `model` on `data`, from `start` (all zero: a new run): the optimizer, with no
 * weight decay on the parameters of one dimension (biases; tg_optim_no_decay_1d) and the schedule
 * of the settings, whose state comes from `resume` when given (the checkpoint read from `resume_path`, which messages
 * name; with validation the parameters hold its model tensors, the best weights, on entry, and
 * the current ones are read from its `last/<param>`), the batcher at start's epoch and position,
 * the tape and the log.  On failure tg_loop_close frees what was opened. */
int tg_loop_open(tg_loop *loop, const tg_loop_model *model, const tg_loop_settings *s, const tg_loop_position *start,
                 const tg_dataset *data, const tg_loop_io *io, const tg_checkpoint *resume, const char *resume_path,
                 tg_error *err);
/* One epoch, or what is left of it: steps until the epoch ends, the step limit is reached or a
 * stop signal arrives; then its line. */
int tg_loop_epoch(tg_loop *loop, tg_error *err);
/* Epochs until the run's target, its step limit or a stop signal, on one team of threads (a step
 * runs many short parallel kernels, and a team shares them without a fork/join each); then the
 * profile, when asked for.  loop->result says how it went. */
int tg_loop_run(tg_loop *loop, tg_error *err);
/* Closes the log (a failed write of it becomes the error when rc is TG_OK) and frees the rest;
 * returns rc or that error. */
int tg_loop_close(tg_loop *loop, int rc, tg_error *err);

/* With validation: swaps the best weights into the parameters (the run's current ones go where
 * the best were, and tg_loop_add_state still saves them as the current ones).  Call it after the
 * run, before saving the model.  Nothing without validation or when already swapped. */
void tg_loop_select_best(tg_loop *loop);

/* tg_dataset_split for --valid: `valid` of the first `limit` images (0: all) held out, the rest
 * to train on; TG_ERR_ARG naming --valid when valid is 0 or not below the images.  Free both
 * with tg_dataset_free. */
int tg_loop_split(const tg_dataset *all, size_t limit, size_t valid, uint64_t seed, tg_dataset *train,
                  tg_dataset *held, tg_error *err);

/* Adds to ck what a resume needs besides the model: the settings and the position as metadata
 * (optimizer, lr, momentum, adam_eps, those of tg_cli_add_optimizer_meta, batch, limit, shuffle, seed, epochs, train_step,
 * train_epoch, train_position, first_loss) and the optimizer's state tensors and step count;
 * with validation also valid, patience, best_epoch, best_loss and the current weights as
 * `last/<param>` (the model's own tensors then hold the best, see tg_loop_select_best). */
int tg_loop_add_state(const tg_loop *loop, tg_checkpoint *ck, tg_error *err);
/* Reads them back from a checkpoint of tg_loop_add_state.  s->epochs < 0 on entry means the
 * stored target, >= 0 a new one; s->steps < 0 means no limit (a limit belongs to one invocation,
 * not to the run). */
int tg_loop_settings_from_checkpoint(const tg_checkpoint *ck, const char *path, tg_loop_settings *s,
                                     tg_loop_position *pos, tg_error *err);

/* The options every training command reads the same way: the optimizer (tg_cli_optimizer), the
 * schedule (tg_cli_schedule),
 * --epochs 1..1000000, --batch 1..2^20, --steps, --limit, --seed, --no-shuffle, --valid N,
 * --patience K (needs --valid) (each only
 * when the program has it); absent ones leave *s as it is.  False after one stderr line. */
bool tg_loop_parse_options(const tg_cli *c, tg_loop_settings *s);
/* The same with tg_cli_optimizer_or's defaults for the optimizer. */
bool tg_loop_parse_options_or(const tg_cli *c, tg_opt_kind default_kind, float default_lr, tg_loop_settings *s);

/* The end of a finished run on stderr: an early stop, the best epoch (with --valid), "wrote FILE". */
void tg_loop_say_end(const char *program, const tg_loop_result *result, const char *out_path);

#endif
