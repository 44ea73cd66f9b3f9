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
#include "cae_model.h"
#include "cae_train.h"
#include "nn/io/data.h"
#include "render.h"
#include "tensor/parallel.h"

#define MAX_MODELS TG_CLI_MAX_REPEATS
#define GRADCHECK_SAMPLE 64 /* elements checked per parameter by `gradcheck` without --all */

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
    {"--sigma", true, MODEL_OPTS, "X  standard deviation of the corruptions (0.1)"},
    TG_CLI_OPTIMIZER_OPTIONS(CMD_TRAIN),
    TG_CLI_ADAM_EPS_OPTION(CMD_TRAIN),
    {"--epochs", true, CMD_TRAIN | CMD_BENCH, "N  passes over the data (5; bench: 3)"},
    {"--batch", true, CMD_TRAIN | CMD_BENCH, "N  mini-batch size (32)"},
    {"--steps", true, CMD_TRAIN, "N  stop after N optimizer steps"},
    {"--limit", true, CMD_TRAIN | CMD_BENCH, "N  use only the first N training images"},
    {"--no-shuffle", false, CMD_TRAIN, "   visit images in file order"},
    {"--valid", true, CMD_TRAIN, "N  hold out N training images (chosen by --seed); keep the best epoch on them"},
    {"--patience", true, CMD_TRAIN, "K  with --valid: stop after K epochs without a better validation loss"},
    {"--seed", true, CMD_TRAIN | CMD_GRADCHECK | CMD_EVAL | CMD_BENCH, "N  seed (1)"},
    {"--threads", true, CMD_TRAIN | CMD_EVAL | CMD_RENDER | CMD_COMPARE | CMD_BENCH | CMD_GRADCHECK, "N  worker threads (all cores)"},
    {"--init", true, CMD_TRAIN, "FILE  start from this checkpoint's weights"},
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
    static const char *const allowed[] = {"--resume", "--data", "--threads", "--out", "--log", "--epochs",
                                          "--steps", "--profile"};
    for (int i = 0; i < N_OPTIONS; i++) {
        if (!c->given[i])
            continue;
        bool ok = false;
        for (size_t k = 0; k < sizeof allowed / sizeof allowed[0]; k++)
            ok = ok || !strcmp(c->options[i].name, allowed[k]);
        if (!ok) {
            tg_cli_say("cae train", "%s cannot be combined with --resume (the run's settings come from the checkpoint)",
                    c->options[i].name);
            return false;
        }
    }
    return true;
}

static int cmd_train(const tg_cli *c)
{
    cae_train_settings s = cae_train_settings_default();
    bool resume = tg_cli_given(c, "--resume");
    if (resume && !check_resume_options(c))
        return TG_EXIT_USAGE;
    if (!parse_train_settings(c, &s) || !tg_cli_apply_threads(c))
        return TG_EXIT_USAGE;
    if (tg_cli_given(c, "--init") && resume) {
        tg_cli_say("cae train", "--init and --resume exclude each other");
        return TG_EXIT_USAGE;
    }
    if (resume) { /* targets not given on the command line come from the checkpoint */
        s.run.epochs = tg_cli_given(c, "--epochs") ? s.run.epochs : -1;
        s.run.steps = tg_cli_given(c, "--steps") ? s.run.steps : -1;
    }
    const char *out_path = tg_cli_value(c, "--out") ? tg_cli_value(c, "--out") : "cae.ckpt";
    const tg_cli_file outputs[] = {{"--out", out_path, true}, {"--log", tg_cli_value(c, "--log"), false}};
    const tg_cli_file inputs[] = {{"--init", tg_cli_value(c, "--init"), true},
                                  {"--resume", tg_cli_value(c, "--resume"), true}};
    if (!tg_cli_check_files(c, outputs, 2, inputs, 2))
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
    printf("\n");
    return TG_EXIT_OK;
}

/* ---- eval, render, compare --------------------------------------------------------------- */

/* TG_EXIT_OK, or an exit status after one stderr line. */
static int load_model(const tg_cli *c, const char *path, cae_model *m)
{
    tg_error err;
    int rc = cae_model_load_file(m, path, &err);
    return rc ? tg_cli_fail(c, rc, &err) : TG_EXIT_OK;
}

static void print_eval(const char *model_name, const cae_eval_options *o, const cae_eval_result *r)
{
    if (model_name)
        printf("model=%s ", model_name);
    printf("test_mse=%.6g jac_fro2=%.6g", r->test_mse, r->jac_fro2);
    for (int k = 0; k < o->n_radii; k++)
        printf(" contraction_%g=%.6g", o->radii[k], r->contraction[k]);
    /* new keys go last: scripts may read the line by position */
    printf(" saturated=%.4f probe_acc=%.4f hess_fro2=%.6g hess_sigma=%g jac_fro=%.6g dead=%.4f switching=%.4f\n",
           r->saturated, r->probe_acc, r->hess_fro2, r->hess_sigma, r->jac_fro, r->dead, r->switching);
}

/* The output-path policy for the files `names` (NULL-terminated) that render or compare write
 * into --out DIR, which is created first; the --model and --log files are inputs. */
static bool check_output_dir(const tg_cli *c, const char *dir, const char *const *names)
{
    tg_error err;
    if (cae_ensure_dir(dir, &err)) {
        tg_cli_say(c->program, "--out %s", err.msg);
        return false;
    }
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

/* Evaluates each model (one eval line each, named by its file when comparing) and, when
 * comparing, draws the charts into out_dir. */
static int report_models(const tg_cli *c, cae_model *models, int n, const tg_dataset *test, const tg_dataset *train,
                         uint64_t seed, const char *out_dir)
{
    bool compare = c->command == CMD_COMPARE;
    cae_eval_options opts = cae_eval_options_default();
    opts.seed = seed;
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
    int rc = cae_compare_charts(models, c->repeats, n, test, out_dir, &err);
    if (rc)
        return tg_cli_fail(c, rc, &err);
    tg_cli_outputs_complete();
    tg_cli_say("cae", "wrote contraction.svg, spectrum.svg and their numbers (contraction.csv, spectrum.csv) into %s", out_dir);
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
    long seed = 1;
    if (!tg_cli_apply_threads(c) || !tg_cli_long(c, "--seed", 0, LONG_MAX, &seed))
        return TG_EXIT_USAGE;
    const char *out_dir = tg_cli_value(c, "--out");
    if (compare && !out_dir) {
        tg_cli_say("cae compare", "--out DIR is required");
        return TG_EXIT_USAGE;
    }
    if (compare && !check_output_dir(c, out_dir, (const char *const[]){"contraction.svg", "spectrum.svg",
                                                                      "contraction.csv", "spectrum.csv", NULL}))
        return TG_EXIT_USAGE;
    cae_model models[MAX_MODELS];
    int loaded = 0, status = TG_EXIT_OK;
    while (status == TG_EXIT_OK && loaded < c->n_repeats)
        if ((status = load_model(c, c->repeats[loaded], &models[loaded])) == TG_EXIT_OK)
            loaded++;
    tg_dataset test, train;
    bool have_train = false;
    if (status == TG_EXIT_OK && (status = load_eval_data(c, &test, &train, &have_train)) == TG_EXIT_OK) {
        status = report_models(c, models, loaded, &test, have_train ? &train : NULL, (uint64_t)seed, out_dir);
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
    int rc = cae_render(&m, &test, out_dir, tg_cli_value(c, "--log"), &err);
    tg_dataset_free(&test);
    cae_model_free(&m);
    if (rc)
        return tg_cli_fail(c, rc, &err);
    tg_cli_outputs_complete();
    tg_cli_say("cae", "wrote filters.png recon.png tangents.png spectrum.svg%s into %s",
            tg_cli_value(c, "--log") ? " loss.svg" : "", out_dir);
    return TG_EXIT_OK;
}

/* ---- gradcheck ----------------------------------------------------------------------------- */

typedef struct gradcheck_ctx {
    cae_model *model;
    tg_tensor x; /* [B,D] */
    cae_terms terms;
    float scale; /* the loss is multiplied by this constant (1: as built) */
} gradcheck_ctx;

static tg_node *gradcheck_loss(tg_tape *tape, void *ctx)
{
    gradcheck_ctx *g = ctx;
    cae_graph graph;
    cae_build(tape, g->model, tg_input(tape, &g->x), g->terms, &graph);
    return g->scale == 1.0f ? graph.loss : tg_scale(tape, graph.loss, g->scale);
}

/* The higher-order term is small (~1e-3 for σ = 0.1), so its gradients would sit below the
 * check's floor, where errors are measured in absolute terms and a wrong gradient could pass.
 * Checking Q/Q₀ instead, with Q₀ its value at the checked point (a constant), puts it near 1:
 * the relative errors are the same, and the floor no longer hides them. */
static float unit_scale(tg_tape *tape, gradcheck_ctx *g)
{
    g->scale = 1.0f;
    bool grad = tg_tape_grad_enabled(tape);
    tg_tape_set_grad_enabled(tape, false);
    tg_tape_reset(tape);
    tg_node *loss = gradcheck_loss(tape, g);
    float value = loss ? fabsf(loss->value.data[0]) : 0.0f;
    tg_tape_reset(tape);
    tg_tape_set_grad_enabled(tape, grad);
    return value > 0.0f && isfinite(1.0f / value) ? 1.0f / value : 1.0f;
}

/* The pre-activations z_j = x·W_j + b_j of one input row: z [H]. */
static void preactivations(const cae_model *m, const float *x, double *z)
{
    const size_t D = m->cfg.input, H = m->cfg.hidden;
    for (size_t j = 0; j < H; j++) {
        z[j] = m->enc_b.value.data[j];
        for (size_t i = 0; i < D; i++)
            z[j] += (double)x[i] * m->enc_w.value.data[i * H + j];
    }
}

/* How row b sits against relu's kink: the smallest |z| of the row and, when the model has the
 * γ term, of its corrupted copies x_b + noise[c·B + b] (noise [k·B,D]: the fixed corruptions of
 * the check); how many units are active (z > 0: the penalty is zero without any); and how many
 * (copy, unit) pairs have z and z̃ on opposite sides, the only places where relu's γ term is
 * not zero.  copy: room for D floats; z: for 2·H doubles. */
typedef struct kink_position {
    double nearest;
    size_t active, crossings;
} kink_position;

static kink_position row_kink_position(const cae_model *m, const float *row, const float *noise, size_t b, size_t B,
                                       float *copy, double *z)
{
    const size_t D = m->cfg.input, H = m->cfg.hidden;
    double *zc = z + H;
    preactivations(m, row, z);
    kink_position k = {INFINITY, 0, 0};
    for (size_t j = 0; j < H; j++) {
        k.nearest = fmin(k.nearest, fabs(z[j]));
        k.active += z[j] > 0;
    }
    for (size_t c = 0; noise && c < m->cfg.corruptions; c++) {
        for (size_t i = 0; i < D; i++)
            copy[i] = row[i] + noise[(c * B + b) * D + i];
        preactivations(m, copy, zc);
        for (size_t j = 0; j < H; j++) {
            k.nearest = fmin(k.nearest, fabs(zc[j]));
            k.crossings += (z[j] > 0) != (zc[j] > 0);
        }
    }
    return k;
}

/* Redraws input rows until no pre-activation (of the inputs, and of their corrupted copies when
 * there is a γ term) lies within `margin` of relu's kink at 0, so that a step of ±eps on any
 * parameter cannot cross it (a finite difference across a kink measures nothing).  Also until
 * some unit is active and, with a γ term, some copy lies across the kink from its input:
 * otherwise the penalty (or the γ term) and all its gradients are zero, and its check would
 * test nothing.  Returns false if the inputs cannot be placed. */
static bool keep_away_from_kink(const cae_model *m, tg_tensor *x, double margin, tg_rng *rng)
{
    const size_t D = m->cfg.input, B = tg_tensor_nrows(x);
    bool copies = m->cfg.gamma > 0;
    /* The corruptions do not depend on x: those of zero inputs are the noise itself. */
    float *zeros = copies ? calloc(B * D, sizeof *zeros) : NULL;
    float *noise = copies ? malloc(m->cfg.corruptions * B * D * sizeof *noise) : NULL;
    float *copy = malloc(D * sizeof *copy);
    double *z = malloc(2 * m->cfg.hidden * sizeof *z);
    bool ok = copy && z && (!copies || (zeros && noise));
    if (ok && copies)
        cae_corrupt(&m->cfg, m->noise_step, zeros, B, noise);
    for (int round = 0; ok; round++) {
        size_t active = 0, crossings = 0;
        for (size_t b = 0; b < B && ok; b++) {
            float *row = x->data + b * D;
            kink_position k;
            int tries = 0;
            while (ok && (k = row_kink_position(m, row, noise, b, B, copy, z)).nearest < margin) {
                ok = ++tries <= 10000;
                tg_rng_fill_uniform(rng, row, D, 0.05f, 0.95f);
            }
            active += k.active;
            crossings += k.crossings;
        }
        if (active > 0 && (!copies || crossings > 0))
            break;
        ok = ok && round < 100;
        tg_rng_fill_uniform(rng, x->data, B * D, 0.05f, 0.95f);
    }
    free(zeros);
    free(noise);
    free(copy);
    free(z);
    return ok;
}

/* The model to check: --model FILE, or a small random one with the model options and non-zero
 * biases (so that the check does not sit at a special point).  TG_EXIT_OK or an exit status. */
static int gradcheck_model(const tg_cli *c, const cae_config *cfg, tg_rng *rng, cae_model *m)
{
    if (c->n_repeats == 1)
        return load_model(c, c->repeats[0], m);
    if (c->n_repeats > 1) {
        tg_cli_say("cae gradcheck", "give at most one --model");
        return TG_EXIT_USAGE;
    }
    tg_error err;
    int rc = cae_model_init(m, cfg, rng, &err);
    if (rc) {
        tg_cli_say("cae gradcheck", "%s", err.msg);
        return tg_cli_exit_status(rc);
    }
    tg_rng_fill_uniform(rng, m->enc_b.value.data, m->enc_b.value.size, -0.5f, 0.5f);
    tg_rng_fill_uniform(rng, m->dec_b.value.data, m->dec_b.value.size, -0.2f, 0.2f);
    return TG_EXIT_OK;
}

/* The check's settings for one term: the higher-order term is checked as Q/Q₀ (see unit_scale),
 * with a step and a floor of its own. */
static tg_gradcheck_opts term_options(tg_tape *tape, gradcheck_ctx *ctx, const tg_gradcheck_opts *opts)
{
    tg_gradcheck_opts term_opts = *opts;
    ctx->scale = 1.0f;
    if (ctx->terms == CAE_TERMS_HESSIAN) {
        ctx->scale = unit_scale(tape, ctx);
        /* Q is made of differences f'(z) - f'(z̃) of float activations, so its value is
         * noisier (relative to its changes) than the other terms', and its third
         * derivatives are larger: eps 1e-2 gives truncation errors up to 9.7e-3 (tanh),
         * eps 3e-3 rounding noise up to 2.3e-2 on gradients ~3e-3.  A middle step, and a
         * floor of 3e-2 (about 4e-4 of the largest gradient, ~0.5..1 after the scaling),
         * measured over every activation, decoder, tying and seeds 1..6: at most 3.2e-3. */
        term_opts.eps = 5e-3;
        term_opts.floor = 3e-2;
    }
    return term_opts;
}

/* Checks every loss term separately (so a small λ cannot hide a wrong penalty gradient), then
 * the whole loss, one stderr line each; prints the largest error over all of them. */
static int check_terms(tg_tape *tape, gradcheck_ctx *ctx, const tg_gradcheck_opts *opts)
{
    static const char *const term_names[] = {"all", "reconstruction", "penalty", "hessian"};
    /* The higher-order term alone too when the model has one (γ > 0). */
    static const cae_terms order[] = {CAE_TERMS_RECON, CAE_TERMS_PENALTY, CAE_TERMS_HESSIAN, CAE_TERMS_ALL};
    cae_model *m = ctx->model;
    double worst = 0.0;
    size_t checked = 0;
    int status = TG_EXIT_OK;
    for (int t = 0; t < 4 && status == TG_EXIT_OK; t++) {
        if (order[t] == CAE_TERMS_HESSIAN && !(m->cfg.gamma > 0))
            continue;
        ctx->terms = order[t];
        tg_gradcheck_opts term_opts = term_options(tape, ctx, opts);
        tg_gradcheck_result res;
        tg_error err;
        int rc = tg_gradcheck(tape, gradcheck_loss, ctx, m->params, m->n_params, &term_opts, &res, &err);
        checked += res.checked;
        if (res.max_rel_err > worst)
            worst = res.max_rel_err;
        tg_cli_say("cae gradcheck", "term=%s max_rel_err=%.3g checked=%zu retried=%zu largest_grad=%.3g",
                   term_names[ctx->terms], res.max_rel_err, res.checked, res.retried, res.max_abs_grad);
        if (rc) {
            tg_cli_say("cae gradcheck", "term=%s: %s", term_names[ctx->terms], err.msg);
            status = TG_EXIT_INTERNAL;
        }
    }
    printf("max_rel_err=%.3g checked=%zu\n", worst, checked);
    return status;
}

static int cmd_gradcheck(const tg_cli *c)
{
    enum { SMALL_D = 16, SMALL_H = 6, BATCH = 4 };
    long seed = 1;
    cae_config cfg = cae_config_default();
    cfg.input = SMALL_D;
    cfg.hidden = SMALL_H;
    cfg.lambda = 0.1;
    if (!parse_model_options(c, &cfg) || !tg_cli_long(c, "--seed", 0, LONG_MAX, &seed) || !tg_cli_apply_threads(c))
        return TG_EXIT_USAGE;
    tg_rng rng;
    tg_rng_seed(&rng, (uint64_t)seed, 0x6c);
    cae_model m;
    int status = gradcheck_model(c, &cfg, &rng, &m);
    if (status)
        return status;
    m.noise_held = true; /* fixed corruptions: the loss must be the same function at every evaluation */
    gradcheck_ctx ctx = {.model = &m, .scale = 1.0f};
    tg_error err;
    int rc = tg_tensor_create(&ctx.x, 2, (size_t[]){BATCH, m.cfg.input}, &err);
    tg_tape *tape = rc ? NULL : tg_tape_new(&err);
    if (!tape) {
        tg_tensor_free(&ctx.x);
        cae_model_free(&m);
        return tg_cli_fail(c, TG_ERR_NOMEM, &err);
    }
    tg_rng_fill_uniform(&rng, ctx.x.data, ctx.x.size, 0.05f, 0.95f);
    /* float32 losses: eps 1e-2 keeps rounding noise (~6e-8·|L|/eps) well under the tolerance,
     * and gradients below the floor are compared in absolute terms (see gradcheck.h).
     * A seeded sample of each parameter by default: every element costs two evaluations of the
     * whole loss, so checking all of a wide model (--hidden 65536) would never end. */
    tg_gradcheck_opts opts = {.eps = 1e-2, .floor = 1e-2, .max_per_param = tg_cli_given(c, "--all") ? 0 : GRADCHECK_SAMPLE,
                              .seed = (uint64_t)seed};
    if (tg_activation_has_kink(m.cfg.act.kind) && cae_model_depth(&m) > 1) { /* the placement is one layer's */
        tg_cli_say("cae gradcheck", "a deep encoder with %s: the check places inputs away from the kink of one layer only",
                   tg_activation_name(m.cfg.act.kind));
        status = TG_EXIT_USAGE;
    } else if (tg_activation_has_kink(m.cfg.act.kind) && !keep_away_from_kink(&m, &ctx.x, 2.0 * opts.eps, &rng)) {
        tg_cli_say("cae gradcheck", "cannot place inputs away from relu's kink for this model");
        status = TG_EXIT_INTERNAL;
    } else {
        status = check_terms(tape, &ctx, &opts);
    }
    tg_tape_free(tape);
    tg_tensor_free(&ctx.x);
    cae_model_free(&m);
    return status;
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
