/* tests/test_cli.c — models/common, the program layer of `cae` and `mlp`: option parsing and
 * typed values (cli.c), their messages (one stderr line each), the error → exit status mapping,
 * the activation lists, and the training loop (train_loop.c): epoch lines, the log, a stop
 * signal, a failed step's message, and a resumed run that ends with the very same weights. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "train_loop.h"

/* ---- a program with two commands ---------------------------------------------------------- */

enum { CMD_A = 1 << 0, CMD_B = 1 << 1 };

/* Those of the test programs, the options of tg_cli_optimizer and of tg_loop_parse_options. */
static const tg_cli_option OPTIONS[] = {
    {"--n", true, CMD_A | CMD_B, "N  a count"}, {"--x", true, CMD_A, "X  a real"},
    {"--flag", false, CMD_A, "   a flag"},     {"--pick", true, CMD_A, "P  one|two|three"},
    {"--model", true, CMD_B, "FILE  (repeat)"}, {"--activation", true, CMD_A, "A  " TG_CLI_ACTIVATIONS " (relu)"},
    TG_CLI_OPTIMIZER_OPTIONS(CMD_A),
    TG_CLI_ADAM_EPS_OPTION(CMD_A),
    {"--epochs", true, CMD_A, "N"}, {"--batch", true, CMD_A, "N"}, {"--steps", true, CMD_A, "N"},
    {"--limit", true, CMD_A, "N"},  {"--seed", true, CMD_A, "N"},  {"--no-shuffle", false, CMD_A, ""},
};
#define N_OPTIONS (int)(sizeof OPTIONS / sizeof OPTIONS[0])

static int run_a(const tg_cli *c)
{
    return 40 + tg_cli_given(c, "--flag");
}

static int run_b(const tg_cli *c)
{
    return 50 + c->n_repeats;
}

static const tg_cli_command COMMANDS[] = {{"a", CMD_A, "the first", run_a}, {"b", CMD_B, "the second", run_b}};

static tg_cli program(void)
{
    return (tg_cli){.program = "prog", .commands = COMMANDS, .n_commands = 2, .options = OPTIONS,
                    .n_options = N_OPTIONS, .repeatable = "--model"};
}

/* Parses "prog" followed by the NULL-terminated words. */
#define PARSE(c, ...) parse_words((c), (char *[]){"prog", __VA_ARGS__, NULL})
static int parse_words(tg_cli *c, char **words)
{
    int argc = 0;
    while (words[argc])
        argc++;
    return tg_cli_parse(c, argc, words);
}

/* The captured stderr so far must be exactly `want`. */
static void stderr_is(const char *want)
{
    fflush(stderr);
    cr_assert_stderr_eq_str(want);
}

/* Appends to `text` the line `format` makes of each of values[0..n), then `last`. */
static void lines_of(char *text, size_t len, const char *format, const char *const *values, int n, const char *last)
{
    text[0] = '\0';
    for (int i = 0; i < n; i++)
        snprintf(text + strlen(text), len - strlen(text), format, values[i]);
    snprintf(text + strlen(text), len - strlen(text), "%s", last);
}

Test(cli_parse, values_flags_and_absent_options)
{
    tg_cli c = program();
    cr_assert_eq(PARSE(&c, "a", "--n", "3", "--flag", "--n", "4"), TG_EXIT_OK);
    cr_assert_eq(c.command, CMD_A);
    cr_assert_str_eq(c.command_name, "a");
    cr_assert_str_eq(tg_cli_value(&c, "--n"), "4", "the last value given counts");
    cr_assert(tg_cli_given(&c, "--flag"));
    cr_assert(!tg_cli_given(&c, "--x"));
    cr_assert_null(tg_cli_value(&c, "--x"));
    cr_assert_null(tg_cli_value(&c, "--not-an-option"));
    cr_assert(!tg_cli_given(&c, "--not-an-option"));
}

Test(cli_parse, the_repeatable_option_keeps_every_value)
{
    tg_cli c = program();
    cr_assert_eq(PARSE(&c, "b", "--model", "x", "--model", "y"), TG_EXIT_OK);
    cr_assert_eq(c.n_repeats, 2);
    cr_assert_str_eq(c.repeats[0], "x");
    cr_assert_str_eq(c.repeats[1], "y");
}

Test(cli_parse, usage_errors_are_one_line_each, .init = cr_redirect_stderr)
{
    tg_cli c = program();
    cr_assert_eq(parse_words(&c, (char *[]){"prog", NULL}), TG_EXIT_USAGE);
    cr_assert_eq(PARSE(&c, "c"), TG_EXIT_USAGE);
    cr_assert_eq(PARSE(&c, "a", "--model", "f"), TG_EXIT_USAGE, "an option of another command");
    cr_assert_eq(PARSE(&c, "a", "--n"), TG_EXIT_USAGE);
    cr_assert_eq(PARSE(&c, "a", "--n", "--flag"), TG_EXIT_USAGE, "an option is not a value");
    char *many[2 + 2 * (TG_CLI_MAX_REPEATS + 1) + 1] = {"prog", "b"};
    for (int i = 0; i <= TG_CLI_MAX_REPEATS; i++) {
        many[2 + 2 * i] = "--model";
        many[3 + 2 * i] = "m";
    }
    cr_assert_eq(parse_words(&c, many), TG_EXIT_USAGE);
    stderr_is("prog: no command given (try: prog help)\n"
              "prog: unknown command 'c' (try: prog help)\n"
              "prog: a: unknown option '--model' (try: prog a --help)\n"
              "prog: a: option --n needs a value\n"
              "prog: a: option --n needs a value\n"
              "prog: b: at most 16 --model options\n");
}

Test(cli_parse, help_lists_the_command_options_with_the_activations, .init = cr_redirect_stdout)
{
    tg_cli c = program();
    cr_assert_eq(PARSE(&c, "b", "--help"), -1);
    cr_assert_eq(PARSE(&c, "help"), -1);
    cr_assert_eq(PARSE(&c, "a", "--n", "1", "-h"), -1);
    char want[4096];
    snprintf(want, sizeof want,
             "usage: prog b [options]\noptions:\n"
             "  --n            N  a count\n"
             "  --model        FILE  (repeat)\n"
             "usage: prog COMMAND [options]\n\ncommands:\n"
             "  a          the first\n"
             "  b          the second\n"
             "  help       this text; `COMMAND --help` lists a command's options\n"
             "usage: prog a [options]\noptions:\n"
             "  --n            N  a count\n"
             "  --x            X  a real\n"
             "  --flag            a flag\n"
             "  --pick         P  one|two|three\n"
             "  --activation   A  %s (relu)\n"
             "  --optimizer    O  adam|adamw|rmsprop|sgd (adam)\n"
             "  --lr           X  learning rate, 1e-30..1e9 (1e-3)\n"
             "  --momentum     X  momentum, 0..0.999999 (0; sgd, rmsprop)\n"
             "  --weight-decay X  weight decay of the weights (not biases), 0..1e6 (0; adamw: 0.01, decoupled; "
             "others: L2)\n"
             "  --rms-alpha    X  RMSprop smoothing constant, 0..0.999999 (0.99; rmsprop only)\n"
             "  --centered        centered RMSprop (rmsprop only)\n"
             "  --schedule     S  learning-rate schedule none|step:EVERY:GAMMA|cosine[:T_MAX[:ETA_MIN]] (none; bare "
             "cosine: T_MAX = the --epochs' steps after the warm-up, ETA_MIN 0)\n"
             "  --warmup       N  linear warm-up from 0 over the first N steps (0)\n"
             "  --adam-eps     X  Adam epsilon, 1e-30..1 (1e-8; adam, adamw)\n"
             "  --epochs       N\n  --batch        N\n  --steps        N\n  --limit        N\n  --seed         N\n"
             "  --no-shuffle   \n",
             "sigmoid|tanh|relu|softplus|leaky_relu[:slope]|elu[:alpha]");
    fflush(stdout);
    cr_assert_stdout_eq_str(want);
}

Test(cli_parse, main_runs_the_command)
{
    tg_cli c = program();
    cr_assert_eq(tg_cli_main(&c, 3, (char *[]){"prog", "a", "--flag", NULL}), 41);
    cr_assert_eq(tg_cli_main(&c, 4, (char *[]){"prog", "b", "--model", "m", NULL}), 51);
}

Test(cli_parse, main_after_help_or_a_usage_error, .init = cr_redirect_stdout)
{
    tg_cli c = program();
    cr_assert_eq(tg_cli_main(&c, 2, (char *[]){"prog", "help", NULL}), TG_EXIT_OK);
    cr_redirect_stderr();
    cr_assert_eq(tg_cli_main(&c, 2, (char *[]){"prog", "nope", NULL}), TG_EXIT_USAGE);
}

/* ---- typed values -------------------------------------------------------------------------- */

Test(cli_values, whole_numbers, .init = cr_redirect_stderr)
{
    tg_cli c = program();
    long v = 7;
    cr_assert_eq(PARSE(&c, "a", "--x", "1"), TG_EXIT_OK);
    cr_assert(tg_cli_long(&c, "--n", 1, 10, &v), "absent: fine");
    cr_assert_eq(v, 7, "absent: unchanged");
    static const char *const good[] = {"1", "10", "+5", "007"};
    static const long want[] = {1, 10, 5, 7};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(PARSE(&c, "a", "--n", (char *)good[i]), TG_EXIT_OK);
        cr_assert(tg_cli_long(&c, "--n", 1, 10, &v), "%s", good[i]);
        cr_assert_eq(v, want[i]);
    }
    static const char *const bad[] = {"0", "11", "3x", "1.5", "99999999999999999999999"};
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(PARSE(&c, "a", "--n", (char *)bad[i]), TG_EXIT_OK);
        cr_assert(!tg_cli_long(&c, "--n", 1, 10, &v), "'%s' refused", bad[i]);
        cr_assert_eq(v, 7, "a refused value changes nothing");
    }
    char said[1024];
    lines_of(said, sizeof said, "prog: --n: '%s' is not a whole number in 1..10\n", bad, 5, "");
    stderr_is(said);
}

/* No option takes "": `--data ''` would otherwise name the root directory's files. */
Test(cli_parse, empty_values_refused, .init = cr_redirect_stderr)
{
    tg_cli c = program();
    cr_assert_eq(PARSE(&c, "a", "--n", ""), TG_EXIT_USAGE);
    cr_assert_eq(PARSE(&c, "b", "--model", "x", "--model", ""), TG_EXIT_USAGE);
    stderr_is("prog: a: option --n has an empty value\nprog: b: option --model has an empty value\n");
}

/* An option whose file decides the settings (--resume, gradcheck --model) refuses the others but
 * the allowed ones, naming the first refused; without it, anything goes. */
Test(cli_parse, only_with_an_anchor, .init = cr_redirect_stderr)
{
    static const char *const allowed[] = {"--n", "--seed"};
    tg_cli c = program();
    cr_assert_eq(PARSE(&c, "a", "--flag", "--x", "2"), TG_EXIT_OK);
    cr_assert(tg_cli_only_with(&c, "--pick", allowed, 2, "why"), "no anchor: no refusal");
    cr_assert_eq(PARSE(&c, "a", "--pick", "one", "--seed", "3", "--n", "2"), TG_EXIT_OK);
    cr_assert(tg_cli_only_with(&c, "--pick", allowed, 2, "why"), "the anchor and allowed options");
    cr_assert_eq(PARSE(&c, "a", "--n", "2", "--pick", "one", "--x", "2", "--flag"), TG_EXIT_OK);
    cr_assert(!tg_cli_only_with(&c, "--pick", allowed, 2, "it decides"));
    stderr_is("prog: a: --x cannot be combined with --pick (it decides)\n");
}

Test(cli_values, reals_and_floats, .init = cr_redirect_stderr)
{
    tg_cli c = program();
    double d = 0.5;
    float f = 0.5f;
    cr_assert_eq(PARSE(&c, "a", "--x", "0.25"), TG_EXIT_OK);
    cr_assert(tg_cli_double(&c, "--x", 0, 1, false, &d));
    cr_assert_eq(d, 0.25);
    cr_assert(tg_cli_float(&c, "--x", 0, 1, false, &f));
    cr_assert_eq(f, 0.25f);
    cr_assert_eq(PARSE(&c, "a", "--x", "1e-30"), TG_EXIT_OK);
    cr_assert(tg_cli_float(&c, "--x", 0, 1, false, &f));
    cr_assert_eq(f, 1e-30f);
    static const char *const bad[] = {"nan", "inf", "1e400", "2", "-0.5", "x", "0"};
    for (int i = 0; i < 7; i++) {
        d = 0.5;
        cr_assert_eq(PARSE(&c, "a", "--x", (char *)bad[i]), TG_EXIT_OK);
        cr_assert(!tg_cli_double(&c, "--x", 0, 1, true, &d), "'%s' refused", bad[i]);
        cr_assert_eq(d, 0.5);
    }
    cr_assert_eq(PARSE(&c, "a", "--x", "1e-50"), TG_EXIT_OK);
    cr_assert(tg_cli_double(&c, "--x", 0, 1, false, &d), "a double holds 1e-50");
    f = 0.5f;
    cr_assert(!tg_cli_float(&c, "--x", 0, 1, false, &f), "a float does not");
    cr_assert_eq(f, 0.5f);
    char want[1024];
    lines_of(want, sizeof want, "prog: --x: '%s' is not a number in (0, 1]\n", bad, 7,
             "prog: --x: '1e-50' is too small: a float holds no non-zero value below 1.17549e-38\n");
    stderr_is(want);
}

Test(cli_values, choices, .init = cr_redirect_stderr)
{
    static const char *const picks[] = {"one", "two", "three"};
    tg_cli c = program();
    int k = -1;
    cr_assert_eq(PARSE(&c, "a", "--pick", "three"), TG_EXIT_OK);
    cr_assert(tg_cli_choice(&c, "--pick", picks, 3, &k));
    cr_assert_eq(k, 2);
    cr_assert_eq(PARSE(&c, "a", "--pick", "four"), TG_EXIT_OK);
    cr_assert(!tg_cli_choice(&c, "--pick", picks, 3, &k));
    cr_assert_eq(k, 2);
    stderr_is("prog: --pick: unknown value 'four' (one of: one two three)\n");
}

Test(cli_values, the_optimizer_options, .init = cr_redirect_stderr)
{
    tg_cli c = program();
    tg_opt_config o;
    cr_assert_eq(PARSE(&c, "a"), TG_EXIT_OK);
    cr_assert(tg_cli_optimizer(&c, &o));
    cr_assert_eq(o.kind, TG_OPT_ADAM);
    cr_assert_eq(o.lr, 1e-3f, "the programs' default rate, for both optimizers");
    cr_assert_eq(PARSE(&c, "a", "--optimizer", "sgd", "--momentum", "0.9", "--lr", "0.5"), TG_EXIT_OK);
    cr_assert(tg_cli_optimizer(&c, &o));
    cr_assert_eq(o.kind, TG_OPT_SGD);
    cr_assert_eq(o.lr, 0.5f);
    cr_assert_eq(o.momentum, 0.9f);
    cr_assert_eq(PARSE(&c, "a", "--momentum", "0.9"), TG_EXIT_OK);
    cr_assert(!tg_cli_optimizer(&c, &o));
    cr_assert_eq(PARSE(&c, "a", "--optimizer", "sgd", "--adam-eps", "1e-6"), TG_EXIT_OK);
    cr_assert(!tg_cli_optimizer(&c, &o));
    stderr_is("prog: --momentum applies to --optimizer rmsprop|sgd only, not adam\n"
              "prog: --adam-eps applies to --optimizer adam|adamw only, not sgd\n");
}

Test(cli_values, the_training_options, .init = cr_redirect_stderr)
{
    tg_cli c = program();
    tg_loop_settings s = {.epochs = 5, .batch = 32, .shuffle = true, .seed = 1};
    cr_assert_eq(PARSE(&c, "a", "--epochs", "2", "--batch", "8", "--steps", "9", "--limit", "100", "--seed", "3",
                       "--no-shuffle"),
                 TG_EXIT_OK);
    cr_assert(tg_loop_parse_options(&c, &s));
    cr_assert_eq(s.epochs, 2);
    cr_assert_eq(s.batch, 8);
    cr_assert_eq(s.steps, 9);
    cr_assert_eq(s.limit, 100);
    cr_assert_eq(s.seed, 3);
    cr_assert(!s.shuffle);
    cr_assert_eq(s.opt.kind, TG_OPT_ADAM);
    tg_loop_settings kept = {.epochs = 5, .batch = 32, .shuffle = true, .seed = 1};
    cr_assert_eq(PARSE(&c, "a"), TG_EXIT_OK);
    cr_assert(tg_loop_parse_options(&c, &kept));
    cr_assert_eq(kept.epochs, 5);
    cr_assert_eq(kept.batch, 32);
    cr_assert(kept.shuffle);
    cr_assert_eq(PARSE(&c, "a", "--batch", "0"), TG_EXIT_OK);
    cr_assert(!tg_loop_parse_options(&c, &kept));
    stderr_is("prog: --batch: '0' is not a whole number in 1..1048576\n");
}

/* ---- messages and exit statuses ------------------------------------------------------------ */

Test(cli_messages, one_line_whatever_the_text, .init = cr_redirect_stderr)
{
    tg_cli_say("prog", "file %s: %d", "a\nb\rc\td\x1b[2K\x7f", 3);
    tg_cli_say("prog", "%s", "");
    stderr_is("prog: file a\\nb\\rc\\td\\x1b[2K\\x7f: 3\nprog: \n");
}

Test(cli_messages, error_codes_map_to_exit_statuses, .init = cr_redirect_stderr)
{
    cr_assert_eq(tg_cli_exit_status(TG_OK), TG_EXIT_OK);
    static const int users[] = {TG_ERR_ARG, TG_ERR_SHAPE, TG_ERR_IO, TG_ERR_FORMAT};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(tg_cli_exit_status(users[i]), TG_EXIT_USAGE, "%s is bad usage or bad input",
                     tg_error_code_name(users[i]));
    static const int internal[] = {TG_ERR_NOMEM, TG_ERR_NUMERIC, TG_ERR_STATE};
    for (int i = 0; i < 3; i++)
        cr_assert_eq(tg_cli_exit_status(internal[i]), TG_EXIT_INTERNAL, "%s is an internal failure",
                     tg_error_code_name(internal[i]));
    tg_cli c = program();
    tg_error err;
    tg_error_set(&err, TG_ERR_NOMEM, "cannot allocate %d bytes", 12);
    cr_assert_eq(tg_cli_fail(&c, err.code, &err), TG_EXIT_INTERNAL, "out of memory is not the user's input");
    tg_error_set(&err, TG_ERR_FORMAT, "x.ckpt: bad magic");
    cr_assert_eq(tg_cli_fail(&c, err.code, &err), TG_EXIT_USAGE);
    stderr_is("prog: cannot allocate 12 bytes\nprog: x.ckpt: bad magic\n");
}

/* ---- activations --------------------------------------------------------------------------- */

Test(cli_activations, the_option, .init = cr_redirect_stderr)
{
    tg_cli c = program();
    for (int k = 0; k < TG_ACT_COUNT; k++) {
        tg_activation act = tg_activation_of((tg_activation_kind)((k + 1) % TG_ACT_COUNT));
        cr_assert_eq(PARSE(&c, "a", "--activation", (char *)tg_activation_name((tg_activation_kind)k)), TG_EXIT_OK);
        cr_assert(tg_cli_activation(&c, &act));
        cr_assert_eq(act.kind, (tg_activation_kind)k);
        cr_assert_float_eq(act.param, tg_activation_of((tg_activation_kind)k).param, 0.0f, "the default parameter");
    }
    tg_activation act = tg_activation_of(TG_ACT_TANH);
    cr_assert_eq(PARSE(&c, "a", "--activation", "leaky_relu:0.2"), TG_EXIT_OK);
    cr_assert(tg_cli_activation(&c, &act));
    cr_assert(act.kind == TG_ACT_LEAKY_RELU && act.param == 0.2f, "a parameter after ':'");
    act = tg_activation_of(TG_ACT_TANH);
    cr_assert_eq(PARSE(&c, "a"), TG_EXIT_OK);
    cr_assert(tg_cli_activation(&c, &act));
    cr_assert_eq(act.kind, TG_ACT_TANH, "absent: unchanged");
    cr_assert_eq(PARSE(&c, "a", "--activation", "Sigmoid"), TG_EXIT_OK);
    cr_assert(!tg_cli_activation(&c, &act));
    cr_assert_eq(act.kind, TG_ACT_TANH);
    cr_assert_eq(PARSE(&c, "a", "--activation", "elu:-1"), TG_EXIT_OK);
    cr_assert(!tg_cli_activation(&c, &act));
    cr_assert_eq(act.kind, TG_ACT_TANH);
    stderr_is("prog: --activation: unknown value 'Sigmoid' (one of: sigmoid|tanh|relu|softplus|leaky_relu[:slope]|elu[:alpha])\n"
              "prog: --activation: bad parameter in 'elu:-1' (choices: sigmoid|tanh|relu|softplus|leaky_relu[:slope]|elu[:alpha]; "
              "a parameter is a finite number >= 0)\n");
}

Test(cli_activations, checkpoint_metadata)
{
    tg_error err;
    tg_checkpoint *ck = tg_ckpt_new(&err);
    cr_assert_not_null(ck);
    tg_activation act = tg_activation_of(TG_ACT_RELU);
    cr_assert_eq(tg_cli_meta_activation(ck, "m.ckpt", &act, &err), TG_OK, "absent: fine");
    cr_assert_eq(act.kind, TG_ACT_RELU, "absent: unchanged");
    cr_assert_eq(tg_ckpt_set_meta(ck, "activation", "softplus", &err), TG_OK);
    cr_assert_eq(tg_cli_meta_activation(ck, "m.ckpt", &act, &err), TG_OK);
    cr_assert_eq(act.kind, TG_ACT_SOFTPLUS);
    cr_assert_eq(tg_cli_set_meta_activation(ck, (tg_activation){TG_ACT_ELU, 0.5f}, &err), TG_OK);
    cr_assert_str_eq(tg_ckpt_get_meta(ck, "activation"), "elu:0.5", "written as the option reads it");
    cr_assert_eq(tg_cli_meta_activation(ck, "m.ckpt", &act, &err), TG_OK);
    cr_assert(act.kind == TG_ACT_ELU && act.param == 0.5f);
    cr_assert_eq(tg_ckpt_set_meta(ck, "activation", "sigmuid", &err), TG_OK);
    cr_assert_eq(tg_cli_meta_activation(ck, "m.ckpt", &act, &err), TG_ERR_FORMAT);
    cr_assert_eq(act.kind, TG_ACT_ELU);
    cr_assert_str_eq(err.msg, "m.ckpt: metadata activation=sigmuid is not a known activation");
    tg_ckpt_free(ck);
    cr_assert_eq(tg_cli_check_activation(tg_activation_of(TG_ACT_SIGMOID), &err), TG_OK);
    cr_assert_eq(tg_cli_check_activation((tg_activation){TG_ACT_COUNT, 0.0f}, &err), TG_ERR_ARG);
    cr_assert_eq(tg_cli_check_activation((tg_activation){(tg_activation_kind)-1, 0.0f}, &err), TG_ERR_ARG);
    cr_assert_eq(tg_cli_check_activation((tg_activation){TG_ACT_LEAKY_RELU, -0.5f}, &err), TG_ERR_ARG);
}

/* ---- the training loop ---------------------------------------------------------------------- */

/* 10 images of 2x2 pixels; the model is y = x·W + b, W [4,1], trained to predict 0.5 (MSE). */
enum { IMAGES = 10, PIXELS = 4 };
static uint8_t g_pixels[IMAGES * PIXELS];

static tg_dataset tiny_data(void)
{
    for (int i = 0; i < IMAGES * PIXELS; i++)
        g_pixels[i] = (uint8_t)((i * 37 + 11) % 256);
    return (tg_dataset){.images = g_pixels, .n = IMAGES, .rows = 2, .cols = 2};
}

typedef struct tiny_model {
    tg_param w, b;
    tg_param *params[2];
    bool poison; /* a NaN weight: the optimizer refuses the gradient */
} tiny_model;

static void tiny_init(tiny_model *m)
{
    *m = (tiny_model){0};
    cr_assert_eq(tg_param_init(&m->w, "w", 2, (size_t[]){PIXELS, 1}, NULL), TG_OK);
    cr_assert_eq(tg_param_init(&m->b, "b", 1, (size_t[]){1}, NULL), TG_OK);
    for (int i = 0; i < PIXELS; i++)
        m->w.value.data[i] = 0.1f * (float)(i + 1);
    m->params[0] = &m->w;
    m->params[1] = &m->b;
}

static void tiny_free(tiny_model *m)
{
    tg_param_free(&m->w);
    tg_param_free(&m->b);
}

static int tiny_step(void *ctx, tg_loop *loop, tg_loop_step *st, tg_error *err)
{
    tiny_model *m = ctx;
    if (m->poison)
        m->w.value.data[0] = NAN;
    tg_tape_reset(loop->tape);
    tg_node *x = tg_input_new(loop->tape, 2, (size_t[]){st->count, PIXELS});
    tg_node *target = tg_input_new(loop->tape, 2, (size_t[]){st->count, 1});
    if (x && target) {
        tg_dataset_images_to_float(loop->data, st->idx, st->count, x->value.data);
        for (size_t i = 0; i < st->count; i++)
            target->value.data[i] = 0.5f;
    }
    tg_node *y = tg_affine(loop->tape, x, tg_param_leaf(loop->tape, &m->w), tg_param_leaf(loop->tape, &m->b), false);
    tg_node *loss = tg_mse(loop->tape, y, target, TG_REDUCE_MEAN);
    int rc = loss ? tg_backward(loop->tape, loss, err) : tg_tape_get_error(loop->tape, err);
    if (rc)
        return rc;
    st->loss = loss->value.data[0];
    st->figures[0] = y->value.data[0];
    st->figures[1] = (double)st->count; /* a count: the epoch shows Σ / images = 1 */
    return TG_OK;
}

static const tg_loop_figure TINY_FIGURES[] = {{"first_y", 5, false, false}, {"one", 2, true, true}};

static tg_loop_model tiny_hooks(tiny_model *m)
{
    return (tg_loop_model){.ctx = m, .params = m->params, .n_params = 2, .step = tiny_step, .figures = TINY_FIGURES,
                           .n_figures = 2, .stopping = "stopping here"};
}

static tg_loop_settings tiny_settings(long epochs, long steps)
{
    tg_loop_settings s = {.opt = tg_opt_config_default(TG_OPT_ADAM), .epochs = epochs, .steps = steps, .batch = 4,
                          .shuffle = true, .seed = 7};
    s.opt.lr = 0.01f;
    return s;
}

/* Runs a whole loop; the epoch lines go to `records` (may be NULL). */
static int run_loop(tiny_model *m, const tg_loop_settings *s, const tg_loop_position *start, const tg_dataset *data,
                    const tg_loop_io *io, const tg_checkpoint *resume, tg_loop *loop, tg_error *err)
{
    tg_loop_model hooks = tiny_hooks(m);
    int rc = tg_loop_open(loop, &hooks, s, start, data, io, resume, "run.ckpt", err);
    if (rc == TG_OK)
        rc = tg_loop_run(loop, err);
    return rc;
}

Test(train_loop, epoch_lines_and_the_log)
{
    tg_dataset data = tiny_data();
    tiny_model m;
    tiny_init(&m);
    char *text = NULL, log_path[] = "/tmp/test_cli_log_XXXXXX";
    size_t len = 0;
    int fd = mkstemp(log_path);
    cr_assert(fd >= 0);
    close(fd);
    unlink(log_path);
    FILE *records = open_memstream(&text, &len);
    tg_loop_io io = {.records = records, .log_path = log_path};
    tg_loop_settings s = tiny_settings(2, 0);
    tg_loop loop;
    tg_error err;
    int rc = run_loop(&m, &s, &(tg_loop_position){0}, &data, &io, NULL, &loop, &err);
    cr_assert_eq(rc, TG_OK, "%s", err.msg);
    cr_assert_eq(tg_loop_close(&loop, rc, &err), TG_OK);
    fclose(records);
    cr_assert_eq(loop.result.steps_done, 6, "3 batches an epoch (4, 4, 2)");
    cr_assert_eq(loop.result.epochs_done, 2);
    cr_assert(!loop.result.interrupted);
    cr_assert_eq(loop.result.end.epoch, 2);
    cr_assert_eq(loop.result.end.position, 0);
    cr_assert_eq(loop.result.epoch_size, IMAGES);
    double loss, first_y, one, seconds;
    int epoch, used;
    const char *line = text;
    for (int e = 1; e <= 2; e++) {
        cr_assert_eq(sscanf(line, "epoch=%d loss=%lf first_y=%lf one=%lf seconds=%lf\n%n", &epoch, &loss, &first_y,
                            &one, &seconds, &used),
                     5, "line %d: %s", e, line);
        cr_assert_eq(epoch, e);
        cr_assert(loss > 0 && isfinite(first_y) && seconds >= 0);
        cr_assert(!strncmp(strstr(line, " one="), " one=1.00 seconds=", 18), "a count shown as Σ / images: %s", line);
        line += used;
    }
    cr_assert_eq(*line, '\0', "one line per epoch, no samples_per_s= unless asked for");
    FILE *log = fopen(log_path, "r");
    cr_assert_not_null(log);
    char row[256];
    cr_assert_not_null(fgets(row, sizeof row, log));
    cr_assert_str_eq(row, "step,epoch,loss,first_y,one\n");
    int rows = 0;
    while (fgets(row, sizeof row, log)) {
        long step;
        unsigned e;
        cr_assert_eq(sscanf(row, "%ld,%u,%lf,%lf,%lf", &step, &e, &loss, &first_y, &one), 5, "%s", row);
        cr_assert_eq(step, ++rows);
        cr_assert_eq(e, (unsigned)(rows + 2) / 3);
        cr_assert_eq(one, 1.0, "a count's row shows it per image");
    }
    cr_assert_eq(rows, 6);
    fclose(log);
    unlink(log_path);
    free(text);
    tiny_free(&m);
}

Test(train_loop, a_stop_signal_ends_the_run_after_the_step)
{
    tg_dataset data = tiny_data();
    tiny_model m;
    tiny_init(&m);
    atomic_int stop = 1;
    char *text = NULL;
    size_t len = 0;
    FILE *records = open_memstream(&text, &len);
    tg_loop_io io = {.records = records, .stop = &stop};
    tg_loop_settings s = tiny_settings(3, 0);
    tg_loop loop;
    tg_error err;
    int rc = run_loop(&m, &s, &(tg_loop_position){0}, &data, &io, NULL, &loop, &err);
    cr_assert_eq(tg_loop_close(&loop, rc, &err), TG_OK);
    fclose(records);
    cr_assert(loop.result.interrupted);
    cr_assert_eq(loop.result.steps_done, 1);
    cr_assert_eq(loop.result.end.step, 1);
    cr_assert_eq(loop.result.end.position, 4);
    cr_assert_not_null(strstr(text, " partial=1\n"), "%s", text);
    cr_assert_eq(strchr(text, '\n')[1], '\0', "one line");
    free(text);
    tiny_free(&m);
}

Test(train_loop, a_failed_optimizer_step_names_the_step)
{
    tg_dataset data = tiny_data();
    tiny_model m;
    tiny_init(&m);
    m.poison = true;
    tg_loop_io io = {0};
    tg_loop_settings s = tiny_settings(1, 0);
    tg_loop loop;
    tg_error err;
    int rc = run_loop(&m, &s, &(tg_loop_position){0}, &data, &io, NULL, &loop, &err);
    cr_assert_eq(tg_loop_close(&loop, rc, &err), TG_ERR_NUMERIC);
    cr_assert(!strncmp(err.msg, "step 1: ", 8), "%s", err.msg);
    const char *end = "; stopping here";
    size_t n = strlen(err.msg), k = strlen(end);
    cr_assert(n > k && !strcmp(err.msg + n - k, end), "%s", err.msg);
    cr_assert_eq(loop.result.steps_done, 0);
    tiny_free(&m);
}

/* Saves a run stopped by a step limit, resumes it from the checkpoint, and ends where the run
 * without a stop ends: the same weights, bit for bit (optimizer state, step count, position in
 * the shuffled epoch and first loss all restored). */
Test(train_loop, a_resumed_run_ends_with_the_same_weights)
{
    tg_dataset data = tiny_data();
    tg_loop_io io = {0};
    tg_error err;
    tg_loop loop;

    tiny_model whole;
    tiny_init(&whole);
    tg_loop_settings s = tiny_settings(3, 0);
    cr_assert_eq(run_loop(&whole, &s, &(tg_loop_position){0}, &data, &io, NULL, &loop, &err), TG_OK, "%s", err.msg);
    double whole_first_loss = loop.pos.first_loss;
    tg_loop_close(&loop, TG_OK, &err);

    tiny_model part;
    tiny_init(&part);
    s = tiny_settings(3, 4); /* stops in the second epoch, after its first batch */
    cr_assert_eq(run_loop(&part, &s, &(tg_loop_position){0}, &data, &io, NULL, &loop, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(loop.result.end.step, 4);
    cr_assert_eq(loop.result.end.epoch, 1);
    cr_assert_eq(loop.result.end.position, 4);
    tg_checkpoint *ck = tg_ckpt_new(&err);
    cr_assert_eq(tg_ckpt_add_params(ck, part.params, 2, &err), TG_OK);
    cr_assert_eq(tg_loop_add_state(&loop, ck, &err), TG_OK, "%s", err.msg);
    tg_loop_close(&loop, TG_OK, &err);
    tiny_free(&part);

    tiny_model resumed;
    tiny_init(&resumed);
    cr_assert_eq(tg_ckpt_load_params(ck, "run.ckpt", resumed.params, 2, &err), TG_OK, "%s", err.msg);
    tg_loop_settings r = {.epochs = -1, .steps = -1};
    tg_loop_position start;
    cr_assert_eq(tg_loop_settings_from_checkpoint(ck, "run.ckpt", &r, &start, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(r.epochs, 3, "the stored target");
    cr_assert_eq(r.steps, 0, "a step limit is not stored");
    cr_assert_eq(r.batch, 4);
    cr_assert_eq(r.seed, 7);
    cr_assert(r.shuffle);
    cr_assert_eq(r.opt.kind, TG_OPT_ADAM);
    cr_assert_eq(r.opt.lr, 0.01f);
    cr_assert_eq(start.step, 4);
    cr_assert_eq(start.position, 4);
    cr_assert_eq(start.first_loss, whole_first_loss);
    cr_assert_eq(run_loop(&resumed, &r, &start, &data, &io, ck, &loop, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(loop.result.steps_done, 5);
    cr_assert_eq(loop.result.end.step, 9);
    tg_loop_close(&loop, TG_OK, &err);
    for (int i = 0; i < PIXELS; i++)
        cr_assert_eq(resumed.w.value.data[i], whole.w.value.data[i], "w[%d]: %.9g vs %.9g", i,
                     resumed.w.value.data[i], whole.w.value.data[i]);
    cr_assert_eq(resumed.b.value.data[0], whole.b.value.data[0]);

    /* A checkpoint without the run's state is not resumable. */
    tg_checkpoint *bare = tg_ckpt_new(&err);
    cr_assert_eq(tg_loop_settings_from_checkpoint(bare, "bare.ckpt", &r, &start, &err), TG_ERR_FORMAT);
    cr_assert_str_eq(err.msg, "bare.ckpt: not resumable: no optimizer state (optimizer=missing)");
    tg_ckpt_free(bare);
    tg_ckpt_free(ck);
    tiny_free(&whole);
    tiny_free(&resumed);
}

/* The schedule's text, from an option or a checkpoint: one parser, and its format reads back. */
Test(cli_schedule, parse_and_format)
{
    tg_schedule s = {0};
    char text[64];
    cr_assert(tg_cli_schedule_parse("step:3:0.5", &s) && s.kind == TG_SCHED_STEP && s.step_size == 3 && s.gamma == 0.5f);
    tg_cli_schedule_format(&s, text, sizeof text);
    cr_assert_str_eq(text, "step:3:0.5");
    cr_assert(tg_cli_schedule_parse("cosine", &s) && s.kind == TG_SCHED_COSINE && s.t_max == 0 && s.eta_min == 0.0f);
    cr_assert(tg_cli_schedule_parse("none", &s) && !tg_cli_schedule_active(&s));
    const char *bad[] = {"step:0:0.5", "step:3:0", "step:3:1.5", "step:3", "cosine:0", "cosine:5:-1", "cosine:5:0:1",
                         "step:3:0.5x", "linear", "", "none:1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert(!tg_cli_schedule_parse(bad[i], &s), "'%s' was accepted", bad[i]);
}

/* A run's optimizer settings: no weight decay on the 1-d bias (its own group), a bare cosine
 * resolved to the epochs' steps after the warm-up, and all of it back from the checkpoint. */
Test(train_loop, weight_decay_spares_the_biases_and_the_schedule_is_saved)
{
    tg_dataset data = tiny_data();
    tg_loop_io io = {0};
    tg_error err;
    tg_loop loop;
    tiny_model m;
    tiny_init(&m);
    tg_loop_settings s = tiny_settings(2, 0); /* 3 steps an epoch */
    s.opt = tg_opt_config_default(TG_OPT_ADAMW);
    s.opt.weight_decay = 0.5f;
    s.schedule = (tg_schedule){.kind = TG_SCHED_COSINE, .warmup_steps = 1};
    cr_assert_eq(run_loop(&m, &s, &(tg_loop_position){0}, &data, &io, NULL, &loop, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(loop.opt.group_of[0], 0, "the weights decay at cfg's rate");
    cr_assert(loop.opt.group_of[1] > 0 && loop.opt.groups[loop.opt.group_of[1] - 1].weight_decay == 0.0f, "the bias");
    cr_assert(loop.opt.scheduled && loop.opt.schedule.t_max == 5 && loop.result.schedule.t_max == 5);
    tg_checkpoint *ck = tg_ckpt_new(&err);
    cr_assert_eq(tg_loop_add_state(&loop, ck, &err), TG_OK, "%s", err.msg);
    tg_loop_close(&loop, TG_OK, &err);
    tg_loop_settings r = {.epochs = -1, .steps = -1};
    tg_loop_position start;
    cr_assert_eq(tg_loop_settings_from_checkpoint(ck, "run.ckpt", &r, &start, &err), TG_OK, "%s", err.msg);
    cr_assert(r.opt.kind == TG_OPT_ADAMW && r.opt.weight_decay == 0.5f);
    cr_assert(r.schedule.kind == TG_SCHED_COSINE && r.schedule.t_max == 5 && r.schedule.warmup_steps == 1);
    tg_ckpt_free(ck);
    tiny_free(&m);
}
