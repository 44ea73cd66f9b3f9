/* cae — train, evaluate, draw and check a contractive autoencoder (shared/spec/cli.md).
 *
 * Results go to stdout as key=value lines; messages go to stderr.
 * Exit status: 0 success, 1 internal failure (or a failed gradient check, or a diverged run),
 * 2 bad usage or bad input, 130 interrupted after saving. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autograd/gradcheck.h"
#include "cli.h"
#include "cae_bench.h"
#include "cae_deep.h"
#include "cae_eval.h"
#include "cae_gradcheck.h"
#include "cae_model.h"
#include "cae_train.h"
#include "nn/io/atomic_file.h"
#include "nn/io/data.h"
#include "render.h"
#include "tensor/parallel.h"

#define MAX_MODELS TG_CLI_MAX_REPEATS

/* ---- command-line options --------------------------------------------------------------- */

enum command { CMD_TRAIN = 1 << 0, CMD_EVAL = 1 << 1, CMD_RENDER = 1 << 2, CMD_GRADCHECK = 1 << 3,
               CMD_COMPARE = 1 << 4, CMD_BENCH = 1 << 5 };
#define MODEL_OPTS (CMD_TRAIN | CMD_GRADCHECK)

static const tg_cli_option OPTIONS[] = {
    {"--data", true, CMD_TRAIN | CMD_EVAL | CMD_RENDER | CMD_COMPARE | CMD_BENCH, "PATH  IDX directory or 'synthetic'"},
    {"--preset", true, CMD_TRAIN,
     "P  " CAE_PRESET_RIFAI2011 ": Rifai et al. 2011 as run by its authors: --tied --decoder sigmoid --loss bce --lambda 0.1 "
     "(a per-image sum: the paper's λ) --optimizer sgd --lr 0.01 --hidden 1000, sigmoid units, weights U(±4·sqrt(6/(D+H))); "
     "options given override it"},
    {"--hidden", true, MODEL_OPTS | CMD_BENCH, "N  hidden units (64)"},
    {"--encoder", true, MODEL_OPTS, "D,W1,..,H  a deep encoder: the pixel count, then each layer's units (the last: the code)"},
    {"--penalty", true, MODEL_OPTS, "P  fused|hutchinson|exact (fused for one layer, hutchinson for a deep encoder)"},
    {"--probes", true, MODEL_OPTS, "K  Hutchinson probes per step (1)"},
    {"--lambda", true, MODEL_OPTS,
     "X  contractive penalty weight (1e-4); it weighs a per-pixel mean (mse) or sum (bce): the paper's summed-MSE λ is X·D"},
    {"--activation", true, MODEL_OPTS, "A  " TG_CLI_ACTIVATIONS " (sigmoid)"},
    {"--decoder", true, MODEL_OPTS, "D  linear|sigmoid (linear)"},
    {"--loss", true, MODEL_OPTS, "L  mse|bce (mse)"},
    {"--tied", false, MODEL_OPTS, "   decoder weights are the encoder's transposed"},
    {"--gamma", true, MODEL_OPTS, "X  weight of the higher-order (CAE+H) term E||J(x)-J(x+e)||^2 (0: off)"},
    {"--corruptions", true, MODEL_OPTS, "N  Gaussian corruptions of each input for that term (4)"},
    {"--sigma", true, MODEL_OPTS | CMD_EVAL | CMD_COMPARE,
     "X  standard deviation of the corruptions (0.1; eval, compare: of hess_fro2's, default the (first) model's)"},
    {"--noise", true, CMD_TRAIN | CMD_BENCH,
     "gaussian:SIGMA|mask:P  a denoising AE: the encoder sees x + N(0, SIGMA²) per pixel, or x with each "
     "pixel zeroed with probability P, and reconstructs the clean x; the penalty is taken there (none)"},
    TG_CLI_OPTIMIZER_OPTIONS(CMD_TRAIN | CMD_BENCH),
    TG_CLI_ADAM_EPS_OPTION(CMD_TRAIN | CMD_BENCH),
    {"--epochs", true, CMD_TRAIN | CMD_BENCH, "N  passes over the data (5; bench: 3)"},
    {"--batch", true, CMD_TRAIN | CMD_BENCH, "N  mini-batch size (32)"},
    {"--steps", true, CMD_TRAIN, "N  stop after N optimizer steps"},
    {"--limit", true, CMD_TRAIN | CMD_BENCH, "N  use only the first N training images"},
    {"--no-shuffle", false, CMD_TRAIN, "   visit images in file order"},
    {"--valid", true, CMD_TRAIN, "N  hold out N training images (chosen by --seed); keep the best epoch on them"},
    {"--patience", true, CMD_TRAIN, "K  with --valid: stop after K epochs without a better validation loss"},
    {"--seed", true, CMD_TRAIN | CMD_GRADCHECK | CMD_EVAL | CMD_COMPARE | CMD_BENCH, "N  seed (1)"},
    {"--radii", true, CMD_EVAL | CMD_COMPARE, "R,R,...  contraction radii, increasing, at most 64 (0.1,1,3)"},
    {"--directions", true, CMD_EVAL | CMD_COMPARE,
     "LIST  also measure the contraction along data|tangent|orthogonal directions, or all (random only)"},
    {"--threads", true, CMD_TRAIN | CMD_EVAL | CMD_RENDER | CMD_COMPARE | CMD_BENCH | CMD_GRADCHECK, "N  worker threads (all cores)"},
    {"--init", true, CMD_TRAIN, "FILE  start from this checkpoint's weights"},
    {"--stack-on", true, CMD_TRAIN,
     "FILE  a stacked CAE: train on the codes h(x) of this CAE's encoder (input = its hidden units); "
     "with --resume: the run's lower CAE, moved (default: the path it recorded)"},
    {"--resume", true, CMD_TRAIN, "FILE  continue this run exactly"},
    {"--out", true, CMD_TRAIN | CMD_RENDER | CMD_COMPARE, "FILE|DIR  output (train: cae.ckpt)"},
    {"--log", true, CMD_TRAIN | CMD_RENDER, "FILE  CSV of the training steps (render: draw loss.svg from it)"},
    {"--model", true, CMD_EVAL | CMD_RENDER | CMD_GRADCHECK | CMD_COMPARE, "FILE  checkpoint (compare: repeat)"},
    {"--all", false, CMD_GRADCHECK, "   check every parameter element (default: a seeded sample of 64 per parameter)"},
    {"--profile", false, CMD_TRAIN | CMD_BENCH, "   print a per-op time profile to stderr"},
};
#define N_OPTIONS (int)(sizeof OPTIONS / sizeof OPTIONS[0])

static bool parse_model_options(const tg_cli *c, cae_config *cfg)
{
    static const char *const decoders[] = {"linear", "sigmoid"};
    static const char *const losses[] = {"mse", "bce"};
    long hidden = (long)cfg->hidden, corruptions = (long)cfg->corruptions;
    int dec = cfg->sigmoid_decoder, loss = cfg->loss;
    if (!tg_cli_long(c, "--hidden", 1, 65536, &hidden) ||
        !tg_cli_double(c, "--lambda", 0, CAE_MAX_LAMBDA, false, &cfg->lambda) ||
        !tg_cli_activation(c, &cfg->act) || !tg_cli_choice(c, "--decoder", decoders, 2, &dec) ||
        !tg_cli_choice(c, "--loss", losses, 2, &loss) || !tg_cli_double(c, "--gamma", 0, CAE_MAX_GAMMA, false, &cfg->gamma) ||
        !tg_cli_long(c, "--corruptions", 1, CAE_MAX_CORRUPTIONS, &corruptions) ||
        !tg_cli_double(c, "--sigma", 0, CAE_MAX_SIGMA, true, &cfg->sigma))
        return false;
    cfg->hidden = (size_t)hidden;
    cfg->corruptions = (size_t)corruptions;
    cfg->sigmoid_decoder = dec == 1;
    cfg->loss = (cae_loss_kind)loss;
    cfg->tied = cfg->tied || tg_cli_given(c, "--tied");
    tg_error err;
    if (!cae_cli_encoder_options(c, cfg))
        return false;
    if (tg_cli_given(c, "--noise") && cae_noise_parse(tg_cli_value(c, "--noise"), cfg, &err)) {
        tg_cli_say("cae", "%s", err.msg);
        return false;
    }
    if (cae_config_check(cfg, &err)) {
        tg_cli_say("cae", "%s", err.msg);
        return false;
    }
    return true;
}

/* ---- train and bench ----------------------------------------------------------------------- */

/* --preset rifai2011: the model of Rifai et al. (ICML 2011) as the authors' code trains it; the
 * options given on the command line are read afterwards and override it.  The BCE is summed
 * over the pixels, so λ = 0.1 is the paper's λ as it stands (see docs/cli.md). */
static bool apply_preset(const tg_cli *c, cae_train_settings *s, tg_opt_kind *kind, float *lr)
{
    static const char *const presets[] = {CAE_PRESET_RIFAI2011};
    int preset = -1;
    if (!tg_cli_choice(c, "--preset", presets, 1, &preset) || preset < 0)
        return preset < 0 && !tg_cli_given(c, "--preset");
    cae_config *m = &s->model;
    m->tied = true;
    m->sigmoid_decoder = true;
    m->loss = CAE_LOSS_BCE;
    m->lambda = 0.1;
    m->hidden = 1000;
    m->act = tg_activation_of(TG_ACT_SIGMOID);
    m->init = CAE_INIT_GLOROT_X4;
    m->preset = presets[preset];
    *kind = TG_OPT_SGD;
    *lr = 0.01f;
    return true;
}

static bool parse_train_settings(const tg_cli *c, cae_train_settings *s)
{
    tg_opt_kind kind = TG_OPT_ADAM;
    float lr = 1e-3f;
    if (!apply_preset(c, s, &kind, &lr) || !parse_model_options(c, &s->model) ||
        !tg_loop_parse_options_or(c, kind, lr, &s->run))
        return false;
    s->model.noise_seed = s->run.seed; /* the corruptions of the γ term follow the run's seed too */
    return true;
}

/* With --resume, the run's settings come from the checkpoint; only where to read and write,
 * threads, and new epoch/step targets may be given. */
static bool check_resume_options(const tg_cli *c)
{
    static const char *const allowed[] = {"--data", "--threads", "--out", "--log", "--epochs",
                                          "--steps", "--profile", "--stack-on"};
    return tg_cli_only_with(c, "--resume", allowed, (int)(sizeof allowed / sizeof allowed[0]),
                            "the run's settings come from the checkpoint");
}

static int cmd_train(const tg_cli *c)
{
    cae_train_settings s = cae_train_settings_default();
    bool resume = tg_cli_given(c, "--resume");
    if (!check_resume_options(c))
        return TG_EXIT_USAGE;
    if (!parse_train_settings(c, &s) || !tg_cli_apply_threads(c))
        return TG_EXIT_USAGE;
    if (tg_cli_given(c, "--init") && resume) {
        tg_cli_say("cae train", "--init and --resume exclude each other");
        return TG_EXIT_USAGE;
    }
    if (tg_cli_given(c, "--stack-on") && tg_cli_given(c, "--encoder")) {
        tg_cli_say("cae train", "--stack-on takes a one-layer upper CAE (--hidden N), not --encoder");
        return TG_EXIT_USAGE;
    }
    if (resume) { /* targets not given on the command line come from the checkpoint */
        s.run.epochs = tg_cli_given(c, "--epochs") ? s.run.epochs : -1;
        s.run.steps = tg_cli_given(c, "--steps") ? s.run.steps : -1;
    }
    const char *out_path = tg_cli_value(c, "--out") ? tg_cli_value(c, "--out") : "cae.ckpt";
    const tg_cli_file outputs[] = {{"--out", out_path, true}, {"--log", tg_cli_value(c, "--log"), false}};
    /* --stack-on is not `whole`: the lower CAE outlives the run (its path and CRC are recorded
     * and a resume reads it again), so --out must not replace it. */
    const tg_cli_file inputs[] = {{"--init", tg_cli_value(c, "--init"), true},
                                  {"--resume", tg_cli_value(c, "--resume"), true},
                                  {"--stack-on", tg_cli_value(c, "--stack-on"), false}};
    if (!tg_cli_check_files(c, outputs, 2, inputs, 3))
        return TG_EXIT_USAGE;
    tg_dataset data;
    int status = tg_cli_load_data(c, "train", false, resume ? 0 : s.run.limit, &data);
    if (status)
        return status;
    if (tg_cli_given(c, "--encoder") && data.rows * data.cols != s.model.input) {
        tg_cli_say("cae train", "--encoder %s: the first number must be the data's pixel count, %zu (%zux%zu)",
                   tg_cli_value(c, "--encoder"), data.rows * data.cols, data.rows, data.cols);
        tg_dataset_free(&data);
        return TG_EXIT_USAGE;
    }
    if (data.rows * data.cols != s.model.input && !resume)
        s.model.input = data.rows * data.cols; /* other IDX image sizes than 28x28 work */
    cae_train_io io = {
        .init_path = tg_cli_value(c, "--init"), .resume_path = tg_cli_value(c, "--resume"), .out_path = out_path,
        .stack_path = tg_cli_value(c, "--stack-on"),
        .loop = {.records = stdout, .progress = isatty(STDERR_FILENO), .profile = tg_cli_given(c, "--profile"),
                 .log_path = tg_cli_value(c, "--log")},
    };
    io.loop.stop = tg_cli_catch_stop_signals();
    tg_loop_result result;
    tg_error err;
    int rc = cae_train(&s, &data, &io, &result, &err);
    tg_dataset_free(&data);
    if (rc)
        return tg_cli_fail(c, rc, &err);
    if (result.interrupted) {
        const tg_loop_position *end = &result.end;
        tg_cli_say("cae", "interrupted at step %ld (epoch %llu, image %zu of %zu); state saved to %s; continue with --resume %s",
                   end->step, (unsigned long long)end->epoch + 1, end->position, result.epoch_size, out_path, out_path);
        return TG_EXIT_INTERRUPTED;
    }
    tg_loop_say_end("cae", &result, io.out_path);
    return TG_EXIT_OK;
}

static int cmd_bench(const tg_cli *c)
{
    cae_train_settings s = cae_train_settings_default();
    s.run.epochs = 3;
    if (!parse_train_settings(c, &s) || !tg_cli_apply_threads(c))
        return TG_EXIT_USAGE;
    tg_dataset data;
    int status = tg_cli_load_data(c, "train", false, s.run.limit, &data);
    if (status)
        return status;
    s.model.input = data.rows * data.cols;
    cae_train_io io = {.loop = {.records = stderr, .profile = tg_cli_given(c, "--profile")}};
    tg_loop_result result;
    tg_error err;
    int rc = cae_train(&s, &data, &io, &result, &err);
    size_t n = result.epoch_size;
    tg_dataset_free(&data);
    if (rc)
        return tg_cli_fail(c, rc, &err);
    printf("batch=%zu threads=%d hidden=%zu best_epoch_s=%.6g samples_per_s=%.0f", s.run.batch, tg_get_threads(),
           s.model.hidden, result.best_epoch_s, result.best_epoch_s > 0 ? (double)n / result.best_epoch_s : 0.0);
    /* How close the epoch came to the time its matrix products alone take at the rate this build
     * reaches on them, measured now (the γ term adds products of its own: no figure then). */
    double gflops = s.model.gamma == 0 ? cae_step_matmul_gflops(s.run.batch, s.model.input, s.model.hidden) : 0.0;
    if (gflops > 0 && result.best_epoch_s > 0) {
        double epoch_gflop = cae_matmul_gflop(n, s.model.input, s.model.hidden);
        printf(" matmul_gflops=%.1f flop_limit_s=%.4g flop_fraction=%.3f", gflops, epoch_gflop / gflops,
               epoch_gflop / gflops / result.best_epoch_s);
    }
    /* new keys go last: scripts may read the line by position */
    printf(" optimizer=%s\n", tg_opt_kind_name(s.run.opt.kind));
    return TG_EXIT_OK;
}

/* ---- eval, render, compare --------------------------------------------------------------- */

/* A model on pixels: a stacked CAE (cae train --stack-on) takes a lower CAE's codes, which eval,
 * render and compare do not compute. */
static int load_pixel_model(const tg_checkpoint *ck, const char *path, void *m, tg_error *err)
{
    const char *lower = tg_ckpt_get_meta(ck, "stack_on");
    if (lower)
        return tg_error_set(err, TG_ERR_ARG, "%s: a stacked CAE (trained on the codes of %s); this command takes models on pixels",
                            path, lower);
    return cae_model_from_checkpoint(m, ck, path, err);
}

/* TG_EXIT_OK, or an exit status after one stderr line. */
static int load_model(const tg_cli *c, const char *path, cae_model *m)
{
    tg_error err;
    int rc = tg_ckpt_read_with(path, load_pixel_model, m, &err);
    return rc ? tg_cli_fail(c, rc, &err) : TG_EXIT_OK;
}

static void print_eval(const char *model_name, const cae_eval_options *o, const cae_eval_result *r)
{
    if (model_name)
        printf("model=%s ", model_name);
    printf("test_mse=%.6g jac_fro2=%.6g", r->test_mse, r->jac_fro2);
    for (int k = 0; k < o->n_radii; k++)
        printf(" contraction_%g=%.6g", o->radii[k], r->contraction[CAE_DIR_RANDOM][k]);
    /* new keys go last: scripts may read the line by position */
    printf(" saturated=%.4f probe_acc=%.4f hess_fro2=%.6g hess_sigma=%g jac_fro=%.6g dead=%.4f switching=%.4f",
           r->saturated, r->probe_acc, r->hess_fro2, r->hess_sigma, r->jac_fro, r->dead, r->switching);
    for (int d = CAE_DIR_DATA; d < CAE_N_DIRECTIONS; d++)
        for (int k = 0; o->directions & (1u << d) && k < o->n_radii; k++)
            printf(" contraction_%s_%g=%.6g", cae_direction_name((cae_direction)d), o->radii[k], r->contraction[d][k]);
    if (o->directions & (1u << CAE_DIR_TANGENT | 1u << CAE_DIR_ORTHOGONAL))
        printf(" tangent_k=%.4g", r->tangent_k);
    if ((o->directions & (1u << CAE_DIR_TANGENT)) && (o->directions & (1u << CAE_DIR_ORTHOGONAL)))
        printf(" anisotropy=%.6g", r->anisotropy);
    if (o->directions & (1u << CAE_DIR_DATA))
        printf(" anisotropy_data=%.6g", r->anisotropy_data);
    putchar('\n');
}

/* The output-path policy for --out DIR (tg_output_dir_check) and the files `names`
 * (NULL-terminated) that render or compare write into it; the --model and --log files are
 * inputs. */
static bool check_output_dir(const tg_cli *c, const char *dir, const char *const *names)
{
    tg_error err;
    bool exists;
    if (tg_output_dir_check(dir, &exists, &err)) {
        tg_cli_say(c->program, "--out %s", err.msg);
        return false;
    }
    if (!exists)
        return true; /* made when the outputs are written; nothing in it to collide with */
    enum { MAX_OUTPUTS = 8 };
    char paths[MAX_OUTPUTS][4096];
    tg_cli_file outputs[MAX_OUTPUTS], inputs[MAX_MODELS + 1];
    int n_out = 0, n_in = 0;
    for (; names[n_out] && n_out < MAX_OUTPUTS; n_out++) {
        snprintf(paths[n_out], sizeof paths[n_out], "%s/%s", dir, names[n_out]);
        outputs[n_out] = (tg_cli_file){"--out", paths[n_out], true};
    }
    for (int i = 0; i < c->n_repeats; i++)
        inputs[n_in++] = (tg_cli_file){"--model", c->repeats[i], false};
    inputs[n_in++] = (tg_cli_file){"--log", tg_cli_value(c, "--log"), false};
    return tg_cli_check_files(c, outputs, n_out, inputs, n_in);
}

/* The test split and, for the probe, the train split when it is there and the test images have
 * labels (an absent train split is skipped, a broken one is an error).  TG_EXIT_OK (then both
 * are the caller's to free, train when *have_train) or an exit status after one stderr line. */
static int load_eval_data(const tg_cli *c, tg_dataset *test, tg_dataset *train, bool *have_train)
{
    *have_train = false;
    const char *data_path = tg_cli_data_dir(c);
    if (!data_path)
        return TG_EXIT_USAGE;
    int status = tg_cli_load_split(c, data_path, "t10k", false, 0, test);
    if (status || !test->labels || !tg_cli_split_exists(data_path, "train"))
        return status;
    if ((status = tg_cli_load_split(c, data_path, "train", false, 0, train)))
        tg_dataset_free(test);
    *have_train = status == TG_EXIT_OK;
    return status;
}

/* Whether the model at `path` takes the test images' pixels; else one line naming the file (the
 * library's message names neither it nor, among several --model, which one). */
static bool model_fits_test(const tg_cli *c, const char *path, const cae_model *m, const tg_dataset *test)
{
    if (test->rows * test->cols == m->cfg.input)
        return true;
    tg_cli_say(c->program, "--model %s: the model takes %zu inputs but the test images of --data have %zu pixels (%zux%zu)",
               path, m->cfg.input, test->rows * test->cols, test->rows, test->cols);
    return false;
}

/* --radii and --directions, parsed by cae_eval_parse_radii and cae_directions_parse. */
static bool parse_list(const tg_cli *c, const char *name, cae_eval_options *o)
{
    const char *text = tg_cli_value(c, name);
    tg_error err;
    int rc = !text ? TG_OK
             : !strcmp(name, "--radii") ? cae_eval_parse_radii(text, o->radii, &o->n_radii, &err)
                              : cae_directions_parse(text, &o->directions, &err);
    if (rc)
        tg_cli_say(c->program, "%s: %s", name, err.msg);
    return rc == TG_OK;
}

/* The options of `cae eval` and `cae compare`: --seed, --radii, --directions, --sigma. */
static bool parse_eval_options(const tg_cli *c, cae_eval_options *o)
{
    long seed = 1;
    if (!tg_cli_long(c, "--seed", 0, LONG_MAX, &seed) || !parse_list(c, "--radii", o) ||
        !parse_list(c, "--directions", o) ||
        !tg_cli_double(c, "--sigma", 0, CAE_MAX_SIGMA, true, &o->hess_sigma))
        return false;
    o->seed = (uint64_t)seed;
    return true;
}

/* Evaluates each model (one eval line each, named by its file when comparing) and, when
 * comparing, draws the charts into out_dir.  A comparison measures hess_fro2 with one σ for
 * every model: --sigma, else the first model's (cae_eval_hess_sigma). */
static int report_models(const tg_cli *c, cae_model *models, int n, const tg_dataset *test, const tg_dataset *train,
                         cae_eval_options opts, const char *out_dir)
{
    bool compare = c->command == CMD_COMPARE;
    for (int i = 0; i < n; i++) /* all of them before any line is printed */
        if (!model_fits_test(c, c->repeats[i], &models[i], test))
            return TG_EXIT_USAGE;
    if (compare)
        opts.hess_sigma = cae_eval_hess_sigma(&models[0], &opts);
    tg_error err;
    for (int i = 0; i < n; i++) {
        cae_eval_result r;
        int rc = cae_evaluate(&models[i], test, train, &opts, &r, &err);
        if (rc)
            return tg_cli_fail(c, rc, &err);
        print_eval(compare ? c->repeats[i] : NULL, &opts, &r);
    }
    if (!compare)
        return TG_EXIT_OK;
    int rc = cae_compare_charts(models, c->repeats, n, test, &opts, tg_cli_given(c, "--radii"), out_dir, &err);
    if (rc)
        return tg_cli_fail(c, rc, &err);
    tg_cli_outputs_complete();
    bool more = opts.directions & ~(1u << CAE_DIR_RANDOM);
    tg_cli_say("cae", "wrote contraction.svg, spectrum.svg and their numbers (contraction.csv, %sspectrum.csv) into %s",
               more ? "directions.csv, " : "", out_dir);
    return TG_EXIT_OK;
}

/* `cae eval` (one --model) and `cae compare` (several, and --out DIR for the charts). */
static int cmd_eval_or_compare(const tg_cli *c)
{
    bool compare = c->command == CMD_COMPARE;
    if (c->n_repeats == 0 || (!compare && c->n_repeats > 1)) {
        tg_cli_say(c->program, "%s: %s", c->command_name, c->n_repeats ? "give one --model" : "--model FILE is required");
        return TG_EXIT_USAGE;
    }
    cae_eval_options opts = cae_eval_options_default();
    if (!tg_cli_apply_threads(c) || !parse_eval_options(c, &opts))
        return TG_EXIT_USAGE;
    const char *out_dir = tg_cli_value(c, "--out");
    if (compare && !out_dir) {
        tg_cli_say("cae compare", "--out DIR is required");
        return TG_EXIT_USAGE;
    }
    bool more = opts.directions & ~(1u << CAE_DIR_RANDOM);
    if (compare && !check_output_dir(c, out_dir, (const char *const[]){"contraction.svg", "spectrum.svg", "contraction.csv",
                                                                      "spectrum.csv", more ? "directions.csv" : NULL, NULL}))
        return TG_EXIT_USAGE;
    cae_model models[MAX_MODELS];
    int loaded = 0, status = TG_EXIT_OK;
    while (status == TG_EXIT_OK && loaded < c->n_repeats)
        if ((status = load_model(c, c->repeats[loaded], &models[loaded])) == TG_EXIT_OK)
            loaded++;
    tg_dataset test, train;
    bool have_train = false;
    if (status == TG_EXIT_OK && (status = load_eval_data(c, &test, &train, &have_train)) == TG_EXIT_OK) {
        status = report_models(c, models, loaded, &test, have_train ? &train : NULL, opts, out_dir);
        tg_dataset_free(&test);
        if (have_train)
            tg_dataset_free(&train);
    }
    for (int i = 0; i < loaded; i++)
        cae_model_free(&models[i]);
    return status;
}

static int cmd_render(const tg_cli *c)
{
    const char *out_dir = tg_cli_value(c, "--out");
    if (c->n_repeats != 1 || !out_dir) {
        tg_cli_say("cae render", "--model FILE and --out DIR are required (one model)");
        return TG_EXIT_USAGE;
    }
    bool with_log = tg_cli_given(c, "--log");
    if (!tg_cli_apply_threads(c) ||
        !check_output_dir(c, out_dir, (const char *const[]){"filters.png", "recon.png", "tangents.png", "spectrum.svg",
                                                             with_log ? "loss.svg" : NULL, NULL}))
        return TG_EXIT_USAGE;
    cae_model m;
    int status = load_model(c, c->repeats[0], &m);
    if (status)
        return status;
    if (cae_model_depth(&m) > 1) { /* filters.png draws one layer's weights */
        tg_cli_say("cae render", "%s: a deep encoder (--encoder); render draws one-layer models (cae eval and compare take it)",
                   c->repeats[0]);
        cae_model_free(&m);
        return TG_EXIT_USAGE;
    }
    tg_dataset test;
    if ((status = tg_cli_load_data(c, "t10k", false, 0, &test))) {
        cae_model_free(&m);
        return status;
    }
    tg_error err;
    int rc;
    if (!model_fits_test(c, c->repeats[0], &m, &test))
        status = TG_EXIT_USAGE;
    else if ((rc = cae_render(&m, &test, out_dir, tg_cli_value(c, "--log"), &err)))
        status = tg_cli_fail(c, rc, &err);
    tg_dataset_free(&test);
    cae_model_free(&m);
    if (status)
        return status;
    tg_cli_outputs_complete();
    tg_cli_say("cae", "wrote filters.png recon.png tangents.png spectrum.svg%s into %s",
            tg_cli_value(c, "--log") ? " loss.svg" : "", out_dir);
    return TG_EXIT_OK;
}

/* ---- gradcheck (cae_gradcheck.c) ------------------------------------------------------------ */

/* With --model the model comes from the file: a model option beside it would be ignored, so it
 * is refused (as with train --resume). */
static bool check_gradcheck_options(const tg_cli *c)
{
    static const char *const allowed[] = {"--seed", "--threads", "--all"};
    return tg_cli_only_with(c, "--model", allowed, (int)(sizeof allowed / sizeof allowed[0]),
                            "the model's settings come from the checkpoint");
}

static int cmd_gradcheck(const tg_cli *c)
{
    long seed = 1;
    cae_config cfg = cae_gradcheck_config();
    if (!check_gradcheck_options(c) || !parse_model_options(c, &cfg) || !tg_cli_long(c, "--seed", 0, LONG_MAX, &seed) ||
        !tg_cli_apply_threads(c))
        return TG_EXIT_USAGE;
    return cae_gradcheck(c, &cfg, (uint64_t)seed);
}

int main(int argc, char **argv)
{
    static const tg_cli_command commands[] = {
        {"train", CMD_TRAIN, "train a contractive autoencoder and write a checkpoint", cmd_train},
        {"eval", CMD_EVAL, "test-set metrics of a checkpoint (one key=value line)", cmd_eval_or_compare},
        {"render", CMD_RENDER, "PNG pictures and SVG plots of a checkpoint", cmd_render},
        {"gradcheck", CMD_GRADCHECK, "compare the model's analytic gradient with finite differences", cmd_gradcheck},
        {"compare", CMD_COMPARE, "evaluate several checkpoints side by side, with charts", cmd_eval_or_compare},
        {"bench", CMD_BENCH, "time training epochs", cmd_bench},
    };
    tg_cli c = {.program = "cae", .commands = commands, .n_commands = 6, .options = OPTIONS,
                .n_options = N_OPTIONS, .repeatable = "--model"};
    return tg_cli_main(&c, argc, argv);
}
