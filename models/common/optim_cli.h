/* models/common/optim_cli.h — the optimizer and learning-rate schedule options of the training
 * commands (cae train, mlp train), read the same way by both programs, and their metadata in a
 * checkpoint.  Included by cli.h.
 *
 * One table (optim_cli.c) says which option goes with which optimizer; an option of another
 * optimizer is refused, not ignored.  One parser reads the schedule, from --schedule and from a
 * checkpoint's metadata alike, in the format TG_CLI_SCHEDULE_FORMAT. */
#ifndef TG_OPTIM_CLI_H
#define TG_OPTIM_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "nn/io/checkpoint.h"
#include "nn/optim.h"

typedef struct tg_cli tg_cli;

/* --weight-decay's range (from an option or a checkpoint). */
#define TG_CLI_MAX_WEIGHT_DECAY 1e6
/* --warmup's range, in steps. */
#define TG_CLI_MAX_WARMUP 1000000000000L

/* The schedule's text, as --schedule takes it and a checkpoint stores it. */
#define TG_CLI_SCHEDULE_FORMAT "none|step:EVERY:GAMMA|cosine[:T_MAX[:ETA_MIN]]"

/* The rows of the options tg_cli_optimizer and tg_cli_schedule read, for a program's option table
 * (--adam-eps is a row of its own: TG_CLI_ADAM_EPS_OPTION). */
#define TG_CLI_OPTIMIZER_OPTIONS(commands)                                                               \
    {"--optimizer", true, (commands), "O  adam|adamw|rmsprop|sgd (adam)"},                               \
    {"--lr", true, (commands), "X  learning rate, 1e-30..1e9 (1e-3)"},                                   \
    {"--momentum", true, (commands), "X  momentum, 0..0.999999 (0; sgd, rmsprop)"},                      \
    {"--weight-decay", true, (commands),                                                                 \
     "X  weight decay of the weights (not biases), 0..1e6 (0; adamw: 0.01, decoupled; others: L2)"},     \
    {"--rms-alpha", true, (commands), "X  RMSprop smoothing constant, 0..0.999999 (0.99; rmsprop only)"}, \
    {"--centered", false, (commands), "   centered RMSprop (rmsprop only)"},                             \
    {"--schedule", true, (commands),                                                                     \
     "S  learning-rate schedule " TG_CLI_SCHEDULE_FORMAT " (none; bare cosine: T_MAX = the --epochs' steps after the warm-up, ETA_MIN 0)"}, \
    {"--warmup", true, (commands), "N  linear warm-up from 0 over the first N steps (0)"}
#define TG_CLI_ADAM_EPS_OPTION(commands) \
    {"--adam-eps", true, (commands), "X  Adam epsilon, 1e-30..1 (1e-8; adam, adamw)"}

/* The optimizer options: --optimizer adam|adamw|rmsprop|sgd (adam), --lr (1e-3 for all),
 * --momentum, --adam-eps, --weight-decay, --rms-alpha, --centered, in the ranges of nn/optim.h;
 * an option of another optimizer is refused with one line.  False after one stderr line. */
bool tg_cli_optimizer(const tg_cli *c, tg_opt_config *out);
/* The same with another optimizer and learning rate when --optimizer and --lr are not given (a
 * preset's, e.g. cae's rifai2011: sgd, 0.01). */
bool tg_cli_optimizer_or(const tg_cli *c, tg_opt_kind default_kind, float default_lr, tg_opt_config *out);

/* The weights and state copies a checkpoint of weights and optimizer state holds per parameter
 * element: 1 + Adam's and AdamW's two moments, RMSprop's square_avg (+ momentum, + grad_avg), SGD's
 * momentum buffer. */
double tg_cli_state_copies(const tg_opt_config *cfg);

/* Whether s changes the rates at all: a step or cosine schedule, or a warm-up.  A zeroed
 * tg_schedule is none. */
bool tg_cli_schedule_active(const tg_schedule *s);
/* Parses `text` (TG_CLI_SCHEDULE_FORMAT) into s's kind and its fields, leaving the warm-up as it
 * is; a bare "cosine" gives t_max 0 (the caller's run length) and eta_min 0.  False for a
 * malformed text or a value out of range (GAMMA must be in (0, 1], ETA_MIN in [0, 1e9]). */
bool tg_cli_schedule_parse(const char *text, tg_schedule *s);
/* The text of s's kind part, as tg_cli_schedule_parse reads it ("step:100:0.5", "cosine:900:0",
 * "none"), floats as %.9g (they read back exactly). */
void tg_cli_schedule_format(const tg_schedule *s, char *text, size_t len);
/* --schedule and --warmup (warm-up from a rate of 0) into *s; absent ones leave it as it is.  False after one stderr line naming the option and the format. */
bool tg_cli_schedule(const tg_cli *c, tg_schedule *s);

/* The optimizer's settings beyond optimizer, lr, momentum and adam_eps (the caller writes those,
 * where its format has them), as metadata, each only
 * when it is not the default of a checkpoint that lacks it (so a run with the old options writes
 * the old bytes): weight_decay (> 0), rms_alpha and centered (RMSprop), schedule (a step or cosine
 * schedule) and warmup (> 0). */
int tg_cli_add_optimizer_meta(tg_checkpoint *ck, const tg_opt_config *cfg, const tg_schedule *s, tg_error *err);
/* Reads optimizer, lr, momentum, adam_eps and those back (a checkpoint written before them has
 * none: adam or sgd, no weight decay, no schedule; a stored cosine schedule must give its T_MAX).  TG_ERR_FORMAT "PATH: not resumable: no
 * optimizer state (optimizer=X)" for a missing or unknown optimizer; others name the key. */
int tg_cli_optimizer_from_checkpoint(const tg_checkpoint *ck, const char *path, tg_opt_config *cfg, tg_schedule *s,
                                     tg_error *err);

#endif
