/* models/common/cli.h — the command-line conventions shared by the programs (cae, mlp):
 * `PROGRAM COMMAND [options]`, strict option values, one stderr line per usage error, and the
 * data-directory rules of shared/spec/cli.md.
 *
 * Exit status: TG_EXIT_OK 0, TG_EXIT_INTERNAL 1, TG_EXIT_USAGE 2 (bad usage or bad input),
 * TG_EXIT_INTERRUPTED 130. */
#ifndef TG_CLI_H
#define TG_CLI_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "autograd/ops.h"
#include "nn/io/checkpoint.h"
#include "nn/io/data.h"
#include "nn/optim.h"
#include "optim_cli.h"

enum { TG_EXIT_OK = 0, TG_EXIT_INTERNAL = 1, TG_EXIT_USAGE = 2, TG_EXIT_INTERRUPTED = 130 };

#define TG_CLI_MAX_OPTIONS 64
#define TG_CLI_MAX_REPEATS 16

typedef struct tg_cli tg_cli;

typedef struct tg_cli_command {
    const char *name;
    unsigned bit;        /* distinct bit per command */
    const char *summary; /* one line for `PROGRAM help` */
    int (*run)(const tg_cli *c); /* the command, returning the exit status (tg_cli_main) */
} tg_cli_command;

typedef struct tg_cli_option {
    const char *name;    /* "--batch" */
    bool takes_value;
    unsigned commands;   /* bitwise OR of the commands that accept it */
    const char *help;    /* "N  mini-batch size (32)"; TG_CLI_ACTIVATIONS in it stands for the
                            activations' list, tg_activation_choices() */
} tg_cli_option;

#define TG_CLI_ACTIVATIONS "{activations}"

struct tg_cli {
    /* set by the caller before tg_cli_parse */
    const char *program;
    const tg_cli_command *commands;
    int n_commands;
    const tg_cli_option *options;
    int n_options;
    const char *repeatable; /* the one option that may be given several times (e.g. "--model"), or NULL */
    /* filled by tg_cli_parse */
    unsigned command;
    const char *command_name;
    const char *values[TG_CLI_MAX_OPTIONS]; /* last value given, or NULL */
    bool given[TG_CLI_MAX_OPTIONS];
    const char *repeats[TG_CLI_MAX_REPEATS]; /* every value of the repeatable option */
    int n_repeats;
};

/* Parses argv. Returns TG_EXIT_OK, TG_EXIT_USAGE (one line printed on stderr), or -1 when help
 * was asked for and printed on stdout. */
int tg_cli_parse(tg_cli *c, int argc, char **argv);
/* A program's main: parses argv, installs tg_cli_exit_on_stop_signals and runs the command;
 * returns the exit status (TG_EXIT_OK after help). */
int tg_cli_main(tg_cli *c, int argc, char **argv);

const char *tg_cli_value(const tg_cli *c, const char *name);
bool tg_cli_given(const tg_cli *c, const char *name);

/* Optional typed values: leave *out unchanged when the option is absent; on a bad value print
 * "PROGRAM: --batch: '0' is not a whole number in 1..1048576" and return false. */
bool tg_cli_long(const tg_cli *c, const char *name, long lo, long hi, long *out);
/* Finite, in [lo, hi] (lo excluded when lo_open). */
bool tg_cli_double(const tg_cli *c, const char *name, double lo, double hi, bool lo_open, double *out);
/* As tg_cli_double, for a value stored as a float: one that a float cannot hold (1e-50 would
 * become 0) is refused too. */
bool tg_cli_float(const tg_cli *c, const char *name, double lo, double hi, bool lo_open, float *out);
/* One of `choices`; *out receives its index. */
bool tg_cli_choice(const tg_cli *c, const char *name, const char *const *choices, int n, int *out);

/* When `anchor` is given, its file decides the settings: every other option given must be one of
 * `allowed` (an option beside it would be ignored); else prints "PROGRAM COMMAND: --x cannot be
 * combined with ANCHOR (WHY)" and returns false.  True when `anchor` is not given. */
bool tg_cli_only_with(const tg_cli *c, const char *anchor, const char *const *allowed, int n_allowed, const char *why);

/* --threads N (1..1024; default: all cores) applied with tg_set_threads. */
bool tg_cli_apply_threads(const tg_cli *c);

/* The data directory: --data, else $CAE_DATA, else /usr/share/datasets/fashion-mnist when
 * present; NULL (with a message saying how to get the data) otherwise. */
const char *tg_cli_data_dir(const tg_cli *c);

/* Loads split "train" or "t10k" from `path` (or the built-in data set when path is
 * "synthetic": always the same images, whatever --seed says, so a resumed run sees the same data).
 * Labels are loaded when their file exists (a broken one is an error, not skipped); with
 * need_labels they are required.  Returns TG_EXIT_OK, or an exit status after one stderr line. */
int tg_cli_load_split(const tg_cli *c, const char *path, const char *split, bool need_labels, size_t limit,
                      tg_dataset *ds);
/* tg_cli_data_dir and tg_cli_load_split in one: TG_EXIT_OK, or an exit status after one line. */
int tg_cli_load_data(const tg_cli *c, const char *split, bool need_labels, size_t limit, tg_dataset *ds);

/* Whether the images file of `split` is there (plain or .gz), or path is "synthetic". */
bool tg_cli_split_exists(const char *path, const char *split);

/* A file a command names, for tg_cli_check_files: the option that named it and its path. */
typedef struct tg_cli_file {
    const char *option; /* "--out" */
    const char *path;   /* NULL: not given (skipped) */
    /* output: written whole and atomically at the end (checkpoints, pictures); input: read whole
     * before any output is written and meant to be replaced by one (--resume, --init).  An
     * output may name the same file as an input only when both are. */
    bool whole;
} tg_cli_file;

/* The output-path policy, before any work starts: every output passes tg_output_check (a
 * writable directory, a short enough name, nothing there but a regular file), no two outputs
 * are the same file, and no output is an input (the data files included) unless both are
 * `whole`.  Prints one line naming the option and the file and returns false otherwise. */
bool tg_cli_check_files(const tg_cli *c, const tg_cli_file *outputs, int n_out, const tg_cli_file *inputs, int n_in);

/* Every output is written: a SIGINT or SIGTERM from now on is ignored, so a signal that comes
 * just after the work ends cannot turn a complete run into "interrupted" (exit 130, two lines). */
void tg_cli_outputs_complete(void);
/* Installs SIGINT/SIGTERM handlers that remove this process's temporary files, print one line
 * and exit 130 at once: for the work that has nothing to save (loading, evaluating, drawing).
 * Called first thing by each program; training switches to tg_cli_catch_stop_signals. */
void tg_cli_exit_on_stop_signals(const tg_cli *c);

/* Installs SIGINT/SIGTERM handlers (sigaction) that only set a flag, clears it, and returns it:
 * training loops poll it after each step, save, and the program exits 130.  Call it before the
 * training call, which may spend a while loading a checkpoint: a Ctrl-C then is not lost. */
const atomic_int *tg_cli_catch_stop_signals(void);

/* Prints "PROGRAM: MESSAGE" on stderr as exactly one line: control bytes (a newline in a path,
 * a CR or ESC in a checkpoint's metadata) are shown escaped (\n, \r, \x1b), so no file name or
 * file content can add a line of its own or drive the terminal. */
void tg_cli_say(const char *program, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Maps a library error code to an exit status: bad arguments, shapes, files and file contents
 * are the user's (TG_EXIT_USAGE); anything else, running out of memory and a diverged run
 * included, is an internal failure (TG_EXIT_INTERNAL). */
int tg_cli_exit_status(int error_code);
/* Prints "PROGRAM: MESSAGE" and returns tg_cli_exit_status(rc). */
int tg_cli_fail(const tg_cli *c, int rc, const tg_error *err);

/* ---- activations: every list of their names is made here, from tg_activation_name ---------- */

/* --activation NAME[:PARAM] (tg_activation_parse); *act unchanged when absent; false after one
 * line "PROGRAM: --activation: unknown value 'NAME' (one of: sigmoid|tanh|...)" or naming a bad
 * parameter. */
bool tg_cli_activation(const tg_cli *c, tg_activation *act);
/* Metadata key "activation" of a checkpoint read from `path`: *act unchanged when absent;
 * TG_ERR_FORMAT "PATH: metadata activation=NAME is not a known activation" when unknown. */
int tg_cli_meta_activation(const tg_checkpoint *ck, const char *path, tg_activation *act, tg_error *err);
/* Refuses, before anything is allocated, a model whose checkpoint would be over the format's size
 * limit (TG_CKPT_MAX_FILE_BYTES): `params` numbers, each saved `copies` times (the weights, and the
 * optimizer's moments when they are saved too).  TG_ERR_ARG naming the bytes, the limit and
 * `advice` ("use fewer --hidden units"); otherwise the run would train to the end and then fail. */
int tg_cli_check_checkpoint_fits(double params, double copies, const char *advice, tg_error *err);
/* Writes the metadata key "activation" as tg_activation_format's text ("elu:0.5"). */
int tg_cli_set_meta_activation(tg_checkpoint *ck, tg_activation act, tg_error *err);
/* TG_ERR_ARG naming the kind and parameter unless tg_activation_valid(act). */
int tg_cli_check_activation(tg_activation act, tg_error *err);

#endif
