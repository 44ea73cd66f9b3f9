/* models/cae/cae_train.h — training the CAE: the loop behind `cae train` and `cae bench`. */
#ifndef CAE_TRAIN_H
#define CAE_TRAIN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cae_model.h"
#include "nn/io/data.h"
#include "nn/optim.h"

typedef struct cae_train_settings {
    cae_config model;
    tg_opt_config opt;
    long epochs;   /* passes over the data */
    long steps;    /* stop after this many optimizer steps (0: no limit) */
    size_t batch;
    size_t limit;  /* use only the first `limit` images (0: all) */
    bool shuffle;
    uint64_t seed;
} cae_train_settings;

typedef struct cae_train_io {
    const char *init_path;   /* start from these weights (shapes must match), or NULL */
    const char *resume_path; /* continue this run exactly, or NULL */
    const char *out_path;    /* checkpoint written at the end and on interrupt, or NULL (bench) */
    const char *log_path;    /* CSV, one row per step, or NULL */
    FILE *records;           /* key=value epoch lines (stdout), or NULL */
    bool progress;           /* draw a progress bar on stderr */
    bool profile;            /* print the tape's per-op profile to stderr at the end */
    const atomic_int *stop;  /* nonzero (a signal arrived): save after the current step
                                and return with result->interrupted; NULL: never */
} cae_train_io;

typedef struct cae_train_result {
    long steps_done;       /* optimizer steps taken by this invocation */
    long epochs_done;      /* full epochs completed by this invocation */
    double best_epoch_s;   /* fastest full epoch (0 if none completed) */
    double last_loss;
    bool interrupted;      /* SIGINT/SIGTERM: state saved, caller exits 130 */
} cae_train_result;

/* Sets defaults from shared/spec/cli.md (Adam 1e-3, batch 32, 5 epochs, seed 1, shuffle). */
cae_train_settings cae_train_settings_default(void);

/* Trains on `data` (train split). With resume_path, the model, the optimizer state, the
 * settings and the position in the data come from that checkpoint (`s` then only supplies
 * epochs/steps). Errors are returned with a message; a NaN/Inf loss or gradient stops the run
 * (TG_ERR_NUMERIC) before any checkpoint is written. */
int cae_train(const cae_train_settings *s, const tg_dataset *data, const cae_train_io *io,
              cae_train_result *result, tg_error *err);

#endif
