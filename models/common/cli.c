/* The command-line conventions shared by the programs: see cli.h. */
#include "cli.h"

#include <signal.h>

#include <errno.h>
#include <float.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nn/io/atomic_file.h"
#include "tensor/parallel.h"

#define DEFAULT_DATA_DIR "/usr/share/datasets/fashion-mnist"
#define SYNTHETIC_TRAIN 2048 /* images in the built-in data set */
#define SYNTHETIC_TEST 512
#define SYNTHETIC_SEED 2011 /* fixed: the data set is part of the program, not of a run */

static int option_index(const tg_cli *c, const char *name)
{
    for (int i = 0; i < c->n_options; i++)
        if (strcmp(c->options[i].name, name) == 0)
            return i;
    return -1;
}

const char *tg_cli_value(const tg_cli *c, const char *name)
{
    int i = option_index(c, name);
    return i < 0 ? NULL : c->values[i];
}

bool tg_cli_given(const tg_cli *c, const char *name)
{
    int i = option_index(c, name);
    return i >= 0 && c->given[i];
}

/* One line of a command's help, the name padded to `width`, with TG_CLI_ACTIVATIONS replaced by
 * the list. */
static void print_option(FILE *f, const tg_cli_option *o, int width)
{
    const char *slot = strstr(o->help, TG_CLI_ACTIVATIONS);
    if (!slot) {
        fprintf(f, "  %-*s %s\n", width, o->name, o->help);
        return;
    }
    fprintf(f, "  %-*s %.*s%s%s\n", width, o->name, (int)(slot - o->help), o->help, tg_activation_choices(),
            slot + strlen(TG_CLI_ACTIVATIONS));
}

static void print_usage(const tg_cli *c, FILE *f)
{
    if (!c->command) {
        fprintf(f, "usage: %s COMMAND [options]\n\ncommands:\n", c->program);
        for (int i = 0; i < c->n_commands; i++)
            fprintf(f, "  %-10s %s\n", c->commands[i].name, c->commands[i].summary);
        fprintf(f, "  %-10s %s\n", "help", "this text; `COMMAND --help` lists a command's options");
        return;
    }
    fprintf(f, "usage: %s %s [options]\noptions:\n", c->program, c->command_name);
    int width = 13; /* the names' column: the longest name of the program's options, at least 13 */
    for (int i = 0; i < c->n_options; i++)
        width = (int)strlen(c->options[i].name) > width ? (int)strlen(c->options[i].name) : width;
    for (int i = 0; i < c->n_options; i++)
        if (c->options[i].commands & c->command)
            print_option(f, &c->options[i], width);
}

int tg_cli_parse(tg_cli *c, int argc, char **argv)
{
    c->command = 0;
    c->command_name = NULL;
    c->n_repeats = 0;
    memset(c->values, 0, sizeof c->values);
    memset(c->given, 0, sizeof c->given);
    if (argc < 2) {
        tg_cli_say(c->program, "no command given (try: %s help)", c->program);
        return TG_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        print_usage(c, stdout);
        return -1;
    }
    for (int i = 0; i < c->n_commands; i++)
        if (!strcmp(argv[1], c->commands[i].name)) {
            c->command = c->commands[i].bit;
            c->command_name = c->commands[i].name;
        }
    if (!c->command) {
        tg_cli_say(c->program, "unknown command '%s' (try: %s help)", argv[1], c->program);
        return TG_EXIT_USAGE;
    }
    for (int a = 2; a < argc; a++) {
        if (!strcmp(argv[a], "--help") || !strcmp(argv[a], "-h")) {
            print_usage(c, stdout);
            return -1;
        }
        int i = option_index(c, argv[a]);
        if (i < 0 || !(c->options[i].commands & c->command)) {
            tg_cli_say(c->program, "%s: unknown option '%s' (try: %s %s --help)", c->command_name, argv[a],
                       c->program, c->command_name);
            return TG_EXIT_USAGE;
        }
        c->given[i] = true;
        if (!c->options[i].takes_value)
            continue;
        if (a + 1 >= argc || option_index(c, argv[a + 1]) >= 0) { /* `--log --steps 5`: no value */
            tg_cli_say(c->program, "%s: option %s needs a value", c->command_name, argv[a]);
            return TG_EXIT_USAGE;
        }
        c->values[i] = argv[++a];
        if (!*c->values[i]) { /* no option takes "": --data '' would read /train-images-idx3-ubyte */
            tg_cli_say(c->program, "%s: option %s has an empty value", c->command_name, argv[a - 1]);
            return TG_EXIT_USAGE;
        }
        if (c->repeatable && !strcmp(c->options[i].name, c->repeatable)) {
            if (c->n_repeats == TG_CLI_MAX_REPEATS) {
                tg_cli_say(c->program, "%s: at most %d %s options", c->command_name, TG_CLI_MAX_REPEATS,
                        c->repeatable);
                return TG_EXIT_USAGE;
            }
            c->repeats[c->n_repeats++] = argv[a];
        }
    }
    return TG_EXIT_OK;
}

int tg_cli_main(tg_cli *c, int argc, char **argv)
{
    int rc = tg_cli_parse(c, argc, argv);
    if (rc)
        return rc < 0 ? TG_EXIT_OK : rc;
    tg_cli_exit_on_stop_signals(c);
    for (int i = 0; i < c->n_commands; i++)
        if (c->commands[i].bit == c->command)
            return c->commands[i].run(c);
    return TG_EXIT_USAGE;
}

/* ---- typed values ------------------------------------------------------------------------- */

bool tg_cli_long(const tg_cli *c, const char *name, long lo, long hi, long *out)
{
    const char *s = tg_cli_value(c, name);
    if (!s)
        return true;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        tg_cli_say(c->program, "%s: '%s' is not a whole number in %ld..%ld", name, s, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

bool tg_cli_double(const tg_cli *c, const char *name, double lo, double hi, bool lo_open, double *out)
{
    const char *s = tg_cli_value(c, name);
    if (!s)
        return true;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno == ERANGE || end == s || *end || !isfinite(v) || v < lo || v > hi || (lo_open && v == lo)) {
        tg_cli_say(c->program, "%s: '%s' is not a number in %s%g, %g]", name, s, lo_open ? "(" : "[", lo, hi);
        return false;
    }
    *out = v;
    return true;
}

bool tg_cli_float(const tg_cli *c, const char *name, double lo, double hi, bool lo_open, float *out)
{
    double v = *out;
    if (!tg_cli_double(c, name, lo, hi, lo_open, &v))
        return false;
    if (v != 0.0 && (fabs(v) < FLT_MIN || (float)v == 0.0f)) {
        tg_cli_say(c->program, "%s: '%s' is too small: a float holds no non-zero value below %g", name,
                   tg_cli_value(c, name), (double)FLT_MIN);
        return false;
    }
    *out = (float)v;
    return true;
}

bool tg_cli_choice(const tg_cli *c, const char *name, const char *const *choices, int n, int *out)
{
    const char *s = tg_cli_value(c, name);
    if (!s)
        return true;
    for (int i = 0; i < n; i++)
        if (!strcmp(s, choices[i])) {
            *out = i;
            return true;
        }
    char list[256] = "";
    for (int i = 0; i < n; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), " %s", choices[i]);
    tg_cli_say(c->program, "%s: unknown value '%s' (one of:%s)", name, s, list);
    return false;
}

bool tg_cli_only_with(const tg_cli *c, const char *anchor, const char *const *allowed, int n_allowed, const char *why)
{
    if (!tg_cli_given(c, anchor))
        return true;
    for (int i = 0; i < c->n_options; i++) {
        bool ok = !c->given[i] || !strcmp(c->options[i].name, anchor);
        for (int k = 0; k < n_allowed && !ok; k++)
            ok = !strcmp(c->options[i].name, allowed[k]);
        if (!ok) {
            tg_cli_say(c->program, "%s: %s cannot be combined with %s (%s)", c->command_name, c->options[i].name, anchor,
                       why);
            return false;
        }
    }
    return true;
}

bool tg_cli_apply_threads(const tg_cli *c)
{
    /* The library's default (TG_THREADS, OMP_NUM_THREADS, the cores) only without --threads:
     * reading it warns about a malformed variable, a second stderr line about a value unused. */
    long threads = tg_cli_given(c, "--threads") ? 1 : tg_get_threads();
    if (!tg_cli_long(c, "--threads", 1, TG_MAX_THREADS, &threads))
        return false;
    tg_set_threads((int)threads);
    return true;
}

/* ---- data ---------------------------------------------------------------------------------- */

/* --data, $CAE_DATA or the default directory; NULL when none applies. */
static const char *find_data_dir(const tg_cli *c)
{
    const char *path = tg_cli_value(c, "--data");
    if (path)
        return path;
    path = getenv("CAE_DATA");
    if (path && *path)
        return path;
    struct stat st;
    if (stat(DEFAULT_DATA_DIR, &st) == 0 && S_ISDIR(st.st_mode))
        return DEFAULT_DATA_DIR;
    return NULL;
}

const char *tg_cli_data_dir(const tg_cli *c)
{
    const char *path = find_data_dir(c);
    if (path)
        return path;
    tg_cli_say(c->program, "no data: pass --data DIR (IDX files) or --data synthetic, set CAE_DATA, or install "
                           "Fashion-MNIST with: apt-get install dataset-fashion-mnist");
    return NULL;
}

/* Whether `dir/name` or `dir/name.gz` exists (of any kind: a broken one is still an error). */
static bool exists_plain_or_gz(const char *dir, const char *name)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (lstat(path, &st) == 0)
        return true;
    snprintf(path, sizeof path, "%s/%s.gz", dir, name);
    return lstat(path, &st) == 0;
}

bool tg_cli_split_exists(const char *path, const char *split)
{
    char name[64];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", split);
    return !strcmp(path, "synthetic") || exists_plain_or_gz(path, name);
}

int tg_cli_load_split(const tg_cli *c, const char *path, const char *split, bool need_labels, size_t limit,
                      tg_dataset *ds)
{
    tg_error err;
    int rc;
    if (!strcmp(path, "synthetic")) {
        size_t n = !strcmp(split, "train") ? SYNTHETIC_TRAIN : SYNTHETIC_TEST;
        if (limit && limit < n)
            n = limit;
        rc = tg_dataset_synthetic(ds, split, n, 28, 28, SYNTHETIC_SEED, &err);
    } else {
        /* Labels are optional unless asked for, but only an absent label file is skipped: a
         * label file that exists and is broken is an error like any other bad input. */
        char labels[64];
        snprintf(labels, sizeof labels, "%s-labels-idx1-ubyte", split);
        bool want_labels = need_labels || exists_plain_or_gz(path, labels);
        rc = tg_dataset_load(ds, path, split, want_labels, limit, &err);
    }
    return rc ? tg_cli_fail(c, rc, &err) : TG_EXIT_OK;
}

int tg_cli_load_data(const tg_cli *c, const char *split, bool need_labels, size_t limit, tg_dataset *ds)
{
    const char *path = tg_cli_data_dir(c);
    return path ? tg_cli_load_split(c, path, split, need_labels, limit, ds) : TG_EXIT_USAGE;
}

/* ---- files ----------------------------------------------------------------------------------- */

/* Whether output `out` collides with `other`; prints the line if so. */
static bool collides(const tg_cli *c, const tg_cli_file *out, const tg_cli_file *other, bool other_is_input)
{
    if (!other->path || !tg_same_file(out->path, other->path))
        return false;
    if (other_is_input && out->whole && other->whole)
        return false; /* e.g. --resume X --out X: X is read whole, then replaced atomically */
    tg_cli_say(c->program, "%s %s: the same file as %s%s: every output needs a file of its own", out->option, out->path,
               other->option, other_is_input ? " (an input)" : "");
    return true;
}

bool tg_cli_check_files(const tg_cli *c, const tg_cli_file *outputs, int n_out, const tg_cli_file *inputs, int n_in)
{
    /* The data files are inputs too: a --log naming one would empty it. */
    static const char *const data_names[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
    const char *data_dir = find_data_dir(c);
    for (int i = 0; i < n_out; i++) {
        const tg_cli_file *o = &outputs[i];
        if (!o->path)
            continue;
        tg_error err;
        if (tg_output_check(o->path, &err)) {
            tg_cli_say(c->program, "%s %s", o->option, err.msg);
            return false;
        }
        for (int j = 0; j < i; j++)
            if (collides(c, o, &outputs[j], false))
                return false;
        for (int j = 0; j < n_in; j++)
            if (collides(c, o, &inputs[j], true))
                return false;
        for (int k = 0; data_dir && strcmp(data_dir, "synthetic") && k < 8; k++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s%s", data_dir, data_names[k / 2], k % 2 ? ".gz" : "");
            tg_cli_file data = {"--data", path, false};
            if (collides(c, o, &data, true))
                return false;
        }
    }
    return true;
}

/* ---- signals ------------------------------------------------------------------------------- */

static const char *g_program = "program";

static void on_stop_signal_exit(int sig)
{
    (void)sig;
    tg_atomic_remove_temporaries();
    static const char said[] = ": interrupted\n";
    /* write(2) and strlen only: the handler may run in the middle of anything */
    ssize_t ignored = write(STDERR_FILENO, g_program, strlen(g_program));
    ignored = write(STDERR_FILENO, said, sizeof said - 1);
    (void)ignored;
    _exit(TG_EXIT_INTERRUPTED);
}

void tg_cli_outputs_complete(void)
{
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
}

void tg_cli_exit_on_stop_signals(const tg_cli *c)
{
    g_program = c->program;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal_exit;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* An atomic (lock-free, so safe in a handler) rather than a volatile sig_atomic_t: the signal
 * may be delivered to any thread of a training team, and the training loop reads the flag on
 * another. */
static atomic_int g_stop_requested;
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the stop flag must be lock-free to be set in a signal handler");

static void on_stop_signal(int sig)
{
    atomic_store(&g_stop_requested, sig);
}

const atomic_int *tg_cli_catch_stop_signals(void)
{
    atomic_store(&g_stop_requested, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESTART; /* a write of the checkpoint in progress goes on, not fails with EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return &g_stop_requested;
}

int tg_cli_exit_status(int rc)
{
    switch (rc) {
    case TG_OK: return TG_EXIT_OK;
    case TG_ERR_ARG: case TG_ERR_SHAPE: case TG_ERR_IO: case TG_ERR_FORMAT: return TG_EXIT_USAGE;
    default: return TG_EXIT_INTERNAL;
    }
}

void tg_cli_say(const char *program, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *text = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (text) {
        va_start(ap, fmt);
        vsnprintf(text, (size_t)len + 1, fmt, ap);
        va_end(ap);
    }
    /* One fputs of the whole line, so lines of two threads or processes do not interleave. */
    char *line = malloc(strlen(program) + 3 + (text ? 4 * (size_t)len : 32) + 2);
    if (!line) {
        fprintf(stderr, "%s: (out of memory while writing a message)\n", program);
        free(text);
        return;
    }
    size_t n = (size_t)sprintf(line, "%s: ", program);
    for (const unsigned char *p = (const unsigned char *)(text ? text : "(out of memory)"); *p; p++) {
        if (*p >= 0x20 && *p != 0x7f)
            line[n++] = (char)*p;
        else if (*p == '\n' || *p == '\r' || *p == '\t')
            n += (size_t)sprintf(line + n, "\\%c", *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't');
        else
            n += (size_t)sprintf(line + n, "\\x%02x", *p);
    }
    line[n++] = '\n';
    line[n] = '\0';
    fputs(line, stderr);
    free(line);
    free(text);
}

int tg_cli_fail(const tg_cli *c, int rc, const tg_error *err)
{
    tg_cli_say(c->program, "%s", err->msg);
    return tg_cli_exit_status(rc);
}

/* ---- activations ----------------------------------------------------------------------------- */

bool tg_cli_activation(const tg_cli *c, tg_activation *act)
{
    const char *text = tg_cli_value(c, "--activation");
    if (!text)
        return true;
    int rc = tg_activation_parse(text, act);
    if (rc == -1)
        tg_cli_say(c->program, "--activation: unknown value '%s' (one of: %s)", text, tg_activation_choices());
    else if (rc != 0)
        tg_cli_say(c->program, "--activation: bad parameter in '%s' (choices: %s; a parameter is a finite number >= 0)",
                   text, tg_activation_choices());
    return rc == 0;
}

int tg_cli_meta_activation(const tg_checkpoint *ck, const char *path, tg_activation *act, tg_error *err)
{
    const char *name = tg_ckpt_get_meta(ck, "activation");
    if (!name)
        return TG_OK;
    if (tg_activation_parse(name, act) != 0)
        return tg_file_error(err, TG_ERR_FORMAT, path, "metadata activation=%s is not a known activation", name);
    return TG_OK;
}

int tg_cli_check_checkpoint_fits(double params, double copies, const char *advice, tg_error *err)
{
    double bytes = 4.0 * params * copies; /* headers and metadata add a few kilobytes */
    if (bytes > (double)TG_CKPT_MAX_FILE_BYTES)
        return tg_error_set(err, TG_ERR_ARG,
                            "the model's checkpoint would take %.0f bytes (weights and optimizer state), over the format's "
                            "%llu-byte limit: %s",
                            bytes, (unsigned long long)TG_CKPT_MAX_FILE_BYTES, advice);
    return TG_OK;
}

int tg_cli_set_meta_activation(tg_checkpoint *ck, tg_activation act, tg_error *err)
{
    char text[64];
    tg_activation_format(act, text, sizeof text);
    return tg_ckpt_set_meta(ck, "activation", text, err);
}

int tg_cli_check_activation(tg_activation act, tg_error *err)
{
    if (!tg_activation_valid(act))
        return tg_error_set(err, TG_ERR_ARG, "--activation: kind %d with parameter %g is not a valid activation",
                            (int)act.kind, (double)act.param);
    return TG_OK;
}
