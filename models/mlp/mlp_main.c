/* mlp — train and evaluate a multi-layer perceptron classifier: the framework's second client.
 *
 *   mlp train [--data PATH] [--layers 256,128] [--activation A] [--epochs 10] [--batch 64]
 *             [--optimizer adam|adamw|rmsprop|sgd] [--lr 1e-3] [--momentum X] [--weight-decay X]
 *             [--rms-alpha X] [--centered] [--schedule S] [--warmup N] [--seed 1] [--threads N]
 *             [--limit N] [--valid N [--patience K]] [--out mlp.ckpt] [--init-encoder CAE.ckpt]...
 *   mlp eval --model FILE [--data PATH] [--threads N]
 *
 * Conventions as for `cae` (shared/spec/cli.md): key=value results on stdout, messages on
 * stderr; exit 0 success, 1 internal failure (a diverged run), 2 bad usage or bad input with one
 * stderr line, 130 interrupted (the weights so far are saved). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "mlp_model.h"
#include "mlp_train.h"

#define DEFAULT_OUT "mlp.ckpt"
#define EVAL_BATCH 1000
#define INIT_STREAM 0x6d6c70 /* "mlp": the initialization's rng stream; shuffles use streams 0.. */

enum command { CMD_TRAIN = 1 << 0, CMD_EVAL = 1 << 1 };

static const tg_cli_option OPTIONS[] = {
    {"--data", true, CMD_TRAIN | CMD_EVAL, "PATH  IDX directory or 'synthetic'"},
    {"--layers", true, CMD_TRAIN, "W,W,..  hidden layer widths (256,128)"},
    {"--activation", true, CMD_TRAIN, "A  " TG_CLI_ACTIVATIONS " (relu)"},
    TG_CLI_OPTIMIZER_OPTIONS(CMD_TRAIN),
    {"--epochs", true, CMD_TRAIN, "N  passes over the data (10)"},
    {"--batch", true, CMD_TRAIN, "N  mini-batch size (64)"},
    {"--limit", true, CMD_TRAIN, "N  use only the first N training images"},
    {"--seed", true, CMD_TRAIN, "N  seeds initialization, shuffling and the --valid split (1)"},
    {"--valid", true, CMD_TRAIN, "N  hold out N training images (chosen by --seed); keep the best epoch on them"},
    {"--patience", true, CMD_TRAIN, "K  with --valid: stop after K epochs without a better validation loss"},
    {"--threads", true, CMD_TRAIN | CMD_EVAL, "N  worker threads (all cores); results do not depend on it"},
    {"--out", true, CMD_TRAIN, "FILE  checkpoint to write (" DEFAULT_OUT ")"},
    {"--model", true, CMD_EVAL, "FILE  checkpoint to evaluate"},
    {"--init-encoder", true, CMD_TRAIN,
     "FILE  first layer from this CAE checkpoint's encoder (pre-training; --activation defaults to the encoder's); "
     "repeat it for the next layers (a stacked CAE: --init-encoder L1.ckpt --init-encoder L2.ckpt); "
     "a deep CAE's (--encoder) fills as many layers as it has"},
};
#define N_OPTIONS (int)(sizeof OPTIONS / sizeof OPTIONS[0])

/* ---- train --------------------------------------------------------------------------------- */

typedef struct train_request {
    mlp_config model;          /* input and classes come from the data */
    tg_loop_settings train;
    const char *out_path;
    const char *encoder_path;  /* the first --init-encoder, or NULL */
    const char *const *encoder_paths; /* every --init-encoder, in order */
    int n_encoders;
} train_request;

/* Reads the train options; false after printing one line on stderr. */
static bool parse_train_request(const tg_cli *c, train_request *r)
{
    r->model.act = tg_activation_of(TG_ACT_RELU);
    r->train = (tg_loop_settings){.epochs = 10, .batch = 64, .limit = 0, .shuffle = true, .seed = 1};
    tg_error err;
    const char *layers = tg_cli_given(c, "--layers") ? tg_cli_value(c, "--layers") : "256,128";
    if (mlp_parse_layers(layers, &r->model, &err)) {
        tg_cli_say("mlp", "%s", err.msg);
        return false;
    }
    if (!tg_cli_activation(c, &r->model.act) || !tg_loop_parse_options(c, &r->train))
        return false;
    r->out_path = tg_cli_given(c, "--out") ? tg_cli_value(c, "--out") : DEFAULT_OUT;
    r->encoder_paths = c->repeats;
    r->n_encoders = c->n_repeats;
    r->encoder_path = r->n_encoders ? r->encoder_paths[0] : NULL;
    return true;
}

/* Reads the --init-encoder checkpoints into ck[0..n_encoders); without --activation, the MLP takes
 * the first encoder's.  TG_EXIT_OK, or an exit status after one stderr line (none left open). */
static int read_encoders(const tg_cli *c, train_request *r, tg_checkpoint **ck)
{
    tg_error err;
    tg_activation act = r->model.act;
    int rc = TG_OK, k = 0;
    for (; k < r->n_encoders && rc == TG_OK; k++) {
        tg_activation kind = act;
        ck[k] = tg_ckpt_read(r->encoder_paths[k], &err);
        rc = ck[k] ? mlp_encoder_activation(ck[k], r->encoder_paths[k], &kind, &err) : err.code;
        if (k == 0)
            act = kind;
    }
    if (rc) {
        for (; k > 0; k--) {
            tg_ckpt_free(ck[k - 1]);
            ck[k - 1] = NULL;
        }
        return tg_cli_fail(c, rc, &err);
    }
    if (!tg_cli_given(c, "--activation"))
        r->model.act = act;
    return TG_EXIT_OK;
}

/* The second and later --init-encoder files: init_encoder_1=..., init_encoder_2=... (the first is
 * init_encoder, as with one). */
static int add_encoder_meta(tg_checkpoint *ck, const train_request *r, tg_error *err)
{
    int rc = TG_OK;
    for (int k = 1; k < r->n_encoders && rc == TG_OK; k++) {
        char key[32];
        snprintf(key, sizeof key, "init_encoder_%d", k);
        rc = tg_ckpt_set_meta(ck, key, r->encoder_paths[k], err);
    }
    return rc;
}

/* The model plus how it was trained (informational metadata; the schedule as the run used it),
 * written atomically. */
static int save_model(const mlp_model *m, const train_request *r, const tg_loop_result *result, tg_error *err)
{
    tg_checkpoint *ck = tg_ckpt_new(err);
    if (!ck)
        return TG_ERR_NOMEM;
    const tg_opt_config *o = &r->train.opt;
    int rc;
    if (!(rc = mlp_model_to_checkpoint(m, ck, err)) &&
        !(rc = tg_ckpt_set_meta(ck, "optimizer", tg_opt_kind_name(o->kind), err)) &&
        !(rc = tg_ckpt_set_meta_fmt(ck, "lr", err, "%.9g", (double)o->lr)) &&
        !(rc = tg_ckpt_set_meta_fmt(ck, "momentum", err, "%.9g", (double)o->momentum)) &&
        !(rc = tg_cli_add_optimizer_meta(ck, o, &result->schedule, err)) &&
        !(rc = tg_ckpt_set_meta_fmt(ck, "epochs", err, "%ld", r->train.epochs)) &&
        !(rc = tg_ckpt_set_meta_fmt(ck, "batch", err, "%zu", r->train.batch)) &&
        !(rc = tg_ckpt_set_meta_fmt(ck, "limit", err, "%zu", r->train.limit)) &&
        !(rc = tg_ckpt_set_meta_fmt(ck, "seed", err, "%llu", (unsigned long long)r->train.seed)) &&
        !(rc = r->encoder_path ? tg_ckpt_set_meta(ck, "init_encoder", r->encoder_path, err) : TG_OK) &&
        !(rc = add_encoder_meta(ck, r, err)) &&
        !(rc = r->train.valid ? tg_ckpt_set_meta_fmt(ck, "valid", err, "%zu", r->train.valid) : TG_OK) &&
        !(rc = r->train.valid ? tg_ckpt_set_meta_fmt(ck, "best_epoch", err, "%ld", result->best_epoch) : TG_OK))
        rc = tg_ckpt_write(ck, r->out_path, err);
    tg_ckpt_free(ck);
    return rc;
}

/* The train split, labels required, with at least two classes.  TG_EXIT_OK or an exit status
 * after one stderr line. */
static int load_train_data(const tg_cli *c, size_t limit, tg_dataset *data)
{
    const char *data_path = tg_cli_data_dir(c);
    if (!data_path)
        return TG_EXIT_USAGE;
    int status = tg_cli_load_split(c, data_path, "train", true, limit, data);
    if (status || data->n_classes >= 2)
        return status;
    /* checked here, where the file is known, not as "1 classes" later */
    char labels[4096];
    snprintf(labels, sizeof labels, "%s/train-labels-idx1-ubyte", data_path);
    if (strcmp(data_path, "synthetic") && access(labels, F_OK) != 0)
        strncat(labels, ".gz", sizeof labels - strlen(labels) - 1);
    tg_cli_say(c->program, "%s: every label is %d: a classifier needs at least 2 classes", labels, data->n_classes - 1);
    tg_dataset_free(data);
    return TG_EXIT_USAGE;
}

/* The model for the data (which decide the input and output sizes: other image sizes and class
 * counts work), seeded, with its first layer from the encoder when there is one. */
static int build_model(const tg_cli *c, train_request *r, tg_checkpoint *const *encoders, const tg_dataset *data,
                       mlp_model *m)
{
    r->model.input = data->rows * data->cols;
    r->model.classes = (size_t)data->n_classes;
    tg_rng rng;
    tg_rng_seed(&rng, r->train.seed, INIT_STREAM);
    tg_error err;
    /* the checkpoint holds the weights alone: refused up front when it could never be written */
    if (tg_cli_check_checkpoint_fits(mlp_param_count(&r->model), 1.0, "use narrower or fewer --layers", &err))
        return tg_cli_fail(c, TG_ERR_ARG, &err);
    /* The random initialization is drawn either way, so the other layers start from the same
     * weights as the randomly initialized MLP with this seed: the runs differ only in layer 0. */
    int rc = mlp_model_init(m, &r->model, &rng, &err);
    for (int k = 0, layer = 0, used = 0; rc == TG_OK && k < r->n_encoders; k++, layer += used)
        if ((rc = mlp_init_from_encoder(m, layer, encoders[k], r->encoder_paths[k], &used, &err)))
            mlp_model_free(m);
    return rc ? tg_cli_fail(c, rc, &err) : TG_EXIT_OK;
}

/* Trains m and writes it, also after an interrupt (the weights so far), not after a failure. */
static int train_and_save(const tg_cli *c, const train_request *r, mlp_model *m, const tg_dataset *data)
{
    tg_loop_io io = {.records = stdout, .progress = isatty(STDERR_FILENO), .stop = tg_cli_catch_stop_signals()};
    tg_loop_result result;
    tg_error err;
    int rc = mlp_train(m, &r->train, data, &io, &result, &err);
    if (rc || (rc = save_model(m, r, &result, &err)))
        return tg_cli_fail(c, rc, &err);
    if (result.interrupted) {
        tg_cli_say("mlp", "interrupted after step %ld; the weights so far are in %s", result.steps_done, r->out_path);
        return TG_EXIT_INTERRUPTED;
    }
    tg_loop_say_end("mlp", &result, r->out_path);
    return TG_EXIT_OK;
}

static int cmd_train(const tg_cli *c)
{
    train_request r = {0};
    if (!parse_train_request(c, &r) || !tg_cli_apply_threads(c))
        return TG_EXIT_USAGE;
    /* Before any training: a checkpoint that could not be written would waste the run. */
    const tg_cli_file output = {"--out", r.out_path, true};
    tg_cli_file inputs[TG_CLI_MAX_REPEATS];
    /* Not `whole`: an MLP replacing the CAE it was initialized from would destroy the
     * pre-trained model (only --resume X and --init X may be replaced by --out X). */
    for (int k = 0; k < r.n_encoders; k++)
        inputs[k] = (tg_cli_file){"--init-encoder", r.encoder_paths[k], false};
    if (!tg_cli_check_files(c, &output, 1, inputs, r.n_encoders))
        return TG_EXIT_USAGE;
    tg_checkpoint *encoders[TG_CLI_MAX_REPEATS] = {0};
    int status = read_encoders(c, &r, encoders);
    tg_dataset data;
    if (status == TG_EXIT_OK && (status = load_train_data(c, r.train.limit, &data)) == TG_EXIT_OK) {
        mlp_model m;
        if ((status = build_model(c, &r, encoders, &data, &m)) == TG_EXIT_OK) {
            status = train_and_save(c, &r, &m, &data);
            mlp_model_free(&m);
        }
        tg_dataset_free(&data);
    }
    for (int k = 0; k < r.n_encoders; k++)
        tg_ckpt_free(encoders[k]);
    return status;
}

/* ---- eval ---------------------------------------------------------------------------------- */

static int cmd_eval(const tg_cli *c)
{
    const char *model_path = tg_cli_value(c, "--model");
    if (!model_path) {
        tg_cli_say("mlp eval", "--model FILE is required");
        return TG_EXIT_USAGE;
    }
    if (!tg_cli_apply_threads(c))
        return TG_EXIT_USAGE;
    mlp_model m;
    tg_error err;
    int rc = mlp_model_load_file(&m, model_path, &err);
    if (rc)
        return tg_cli_fail(c, rc, &err);
    tg_dataset test;
    int status = tg_cli_load_data(c, "t10k", true, 0, &test);
    if (status) {
        mlp_model_free(&m);
        return status;
    }
    mlp_scores scores;
    rc = mlp_evaluate(&m, &test, EVAL_BATCH, &scores, &err);
    tg_dataset_free(&test);
    mlp_model_free(&m);
    if (rc) { /* the model and the data disagree: the message names the model's file */
        tg_cli_say(c->program, "--model %s: %s", model_path, err.msg);
        return tg_cli_exit_status(rc);
    }
    printf("test_acc=%.4f test_loss=%.6f\n", scores.accuracy, scores.loss);
    return TG_EXIT_OK;
}

int main(int argc, char **argv)
{
    static const tg_cli_command commands[] = {
        {"train", CMD_TRAIN, "train a classifier and write a checkpoint (one key=value line per epoch)", cmd_train},
        {"eval", CMD_EVAL, "test accuracy and loss of a checkpoint on the t10k split", cmd_eval},
    };
    tg_cli c = {.program = "mlp", .commands = commands, .n_commands = 2, .options = OPTIONS, .n_options = N_OPTIONS,
                .repeatable = "--init-encoder"};
    return tg_cli_main(&c, argc, argv);
}
