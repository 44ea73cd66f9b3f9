/* models/cae/cae_train.h — training the CAE: the loop behind `cae train` and `cae bench`. */
#ifndef CAE_TRAIN_H
#define CAE_TRAIN_H

#include "cae_model.h"
#include "nn/io/data.h"
#include "train_loop.h"

typedef struct cae_train_settings {
    cae_config model;
    tg_loop_settings run; /* epochs < 0: as a resumed run's checkpoint says (else 5); steps < 0: no limit */
} cae_train_settings;

typedef struct cae_train_io {
    const char *init_path;   /* start from these weights (shapes must match), or NULL */
    const char *resume_path; /* continue this run exactly, or NULL */
    const char *out_path;    /* checkpoint written at the end and on interrupt, or NULL (bench) */
    const char *stack_path;  /* --stack-on: train on the codes of this CAE's encoder, or NULL (a
                                resumed run: the checkpoint's stack_on; given, it must be that CAE) */
    tg_loop_io loop;         /* epoch lines, progress bar, profile, log, stop flag */
} cae_train_io;

/* Sets defaults from shared/spec/cli.md (Adam 1e-3, batch 32, 5 epochs, seed 1, shuffle). */
cae_train_settings cae_train_settings_default(void);

/* Trains on `data` (train split). With resume_path, the model, the optimizer state, the
 * settings and the position in the data come from that checkpoint (`s` then only supplies
 * epochs/steps). Errors are returned with a message; a NaN/Inf loss or gradient, or a loss
 * that has grown far past the first step's, stops the run (TG_ERR_NUMERIC) before any
 * checkpoint is written.  On an interrupt the state is saved to out_path and
 * result->interrupted is set. */
int cae_train(const cae_train_settings *s, const tg_dataset *data, const cae_train_io *io,
              tg_loop_result *result, tg_error *err);

#endif
