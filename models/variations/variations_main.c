/* variations — MNIST-variations style data sets (variations.h) from any IDX set, written as IDX
 * files that `cae` and `mlp` read with --data:
 *
 *   variations KIND --out DIR [--data PATH] [--backgrounds PATH] [--seed N] [--limit N] [--preview FILE]
 *       KIND: rot | bg-rand | bg-img | rot-bg-img
 *
 * Both splits of --data (train and t10k, with their labels) are varied and written to DIR
 * (created if absent) as train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-... .  The bg-img
 * kinds take their patches from --backgrounds' images of the same size (default: the other
 * split of --data, so that no image is its own background).  Prints one key=value line per
 * split.  Exit status as for `cae`: 0, 2 for bad usage or input (one line), 1 internal. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "nn/io/atomic_file.h"
#include "nn/io/png.h"
#include "variations.h"

enum command { CMD_ROT = 1 << 0, CMD_BG_RAND = 1 << 1, CMD_BG_IMG = 1 << 2, CMD_ROT_BG_IMG = 1 << 3 };
#define ALL (CMD_ROT | CMD_BG_RAND | CMD_BG_IMG | CMD_ROT_BG_IMG)

static const tg_cli_option OPTIONS[] = {
    {"--data", true, ALL, "PATH  IDX directory or 'synthetic' (both splits are varied)"},
    {"--out", true, ALL, "DIR  where the four IDX files go (created if absent; required)"},
    {"--backgrounds", true, CMD_BG_IMG | CMD_ROT_BG_IMG,
     "PATH  IDX directory whose images give the patches (default: --data's other split)"},
    {"--seed", true, ALL, "N  seeds every angle, noise pixel and patch (1)"},
    {"--limit", true, ALL, "N  only the first N images of each split"},
    {"--preview", true, ALL, "FILE  a PNG of the first training images above their variations"},
};
#define N_OPTIONS (int)(sizeof OPTIONS / sizeof OPTIONS[0])

static const char *const SPLITS[2] = {"train", "t10k"};

/* --out DIR, an existing directory or one that can be made (tg_output_dir_check; run makes it
 * once the data are loaded), in *exists; NULL after one line. */
static const char *output_dir(const tg_cli *c, bool *exists)
{
    const char *dir = tg_cli_value(c, "--out");
    tg_error err;
    if (!dir)
        tg_cli_say(c->program, "--out DIR is required");
    else if (tg_output_dir_check(dir, exists, &err))
        tg_cli_say(c->program, "--out %s", err.msg);
    else
        return dir;
    return NULL;
}

enum { PREVIEW_COUNT = 10, PREVIEW_SCALE = 2 };

/* The first images of `in` (top row) above their variations in `out` (bottom row), as a PNG. */
static int write_preview(const char *path, const tg_dataset *in, const tg_dataset *out, tg_error *err)
{
    const size_t n = in->n < PREVIEW_COUNT ? in->n : PREVIEW_COUNT, dim = in->rows * in->cols;
    float tiles[2 * PREVIEW_COUNT * 28 * 28], *heap = NULL, *t = tiles;
    if (2 * n * dim > sizeof tiles / sizeof *tiles && !(t = heap = malloc(2 * n * dim * sizeof *t)))
        return tg_error_set(err, TG_ERR_NOMEM, "%s: cannot allocate the preview", path);
    for (size_t k = 0; k < n * dim; k++)
        t[k] = in->images[k] / 255.0f, t[n * dim + k] = out->images[k] / 255.0f;
    int rc = tg_png_write_grid(path, t, 2 * n, in->rows, in->cols, n, TG_PNG_UNIT, PREVIEW_SCALE, err);
    free(heap);
    return rc;
}

/* The name of data file k (0..3: images and labels of train, then of t10k). */
static void data_file_name(char name[64], int k)
{
    snprintf(name, 64, "%s-%s", SPLITS[k / 2], k % 2 ? "labels-idx1-ubyte" : "images-idx3-ubyte");
}

/* A --preview inside a --out DIR still to be made cannot have its directory checked yet (run makes
 * it first), so its name is checked instead.  1: it is there, and fine; 0: it is elsewhere (or
 * not asked for); -1: refused, after one line. */
static int preview_in_new_dir(const tg_cli *c, const char *dir)
{
    const char *preview = tg_cli_value(c, "--preview");
    const char *slash = preview ? strrchr(preview, '/') : NULL;
    char parent[4096], data[64];
    if (!slash || snprintf(parent, sizeof parent, "%.*s", (int)(slash - preview), preview) >= (int)sizeof parent ||
        !tg_same_file(parent, dir))
        return 0;
    const char *name = slash + 1;
    bool taken = false;
    for (int k = 0; k < 4; k++)
        data_file_name(data, k), taken |= !strcmp(name, data);
    if (!*name || strlen(name) > NAME_MAX || taken) {
        tg_cli_say(c->program, "--preview %s: not a file name of its own in --out %s", preview, dir);
        return -1;
    }
    return 1;
}

/* The four output paths (images and labels of each split) and the preview's, and their check;
 * false after one line.  The --backgrounds files are inputs like --data's (which
 * tg_cli_check_files knows): `--backgrounds D --out D` would replace the images it reads. */
static bool check_outputs(const tg_cli *c, const char *dir, bool dir_exists, char paths[4][4096])
{
    const char *bg = tg_cli_value(c, "--backgrounds");
    char bg_paths[4][4096];
    tg_cli_file outs[5], ins[4];
    for (int k = 0; k < 4; k++) {
        snprintf(bg_paths[k], sizeof bg_paths[k], "%s/train-%s%s", bg ? bg : "",
                 k / 2 ? "labels-idx1-ubyte" : "images-idx3-ubyte", k % 2 ? ".gz" : "");
        ins[k] = (tg_cli_file){"--backgrounds", bg ? bg_paths[k] : NULL, false};
    }
    for (int k = 0; k < 4; k++) {
        char name[64];
        data_file_name(name, k);
        int n = snprintf(paths[k], sizeof paths[k], "%s/%s", dir, name);
        if (n < 0 || (size_t)n >= sizeof paths[k]) {
            tg_cli_say(c->program, "--out %s: the path is too long", dir);
            return false;
        }
        outs[k] = (tg_cli_file){"--out", dir_exists ? paths[k] : NULL, true}; /* (none yet in a new one) */
    }
    outs[4] = (tg_cli_file){"--preview", tg_cli_value(c, "--preview"), true};
    int in_new_dir = dir_exists ? 0 : preview_in_new_dir(c, dir);
    if (in_new_dir < 0)
        return false;
    if (in_new_dir)
        outs[4].path = NULL;
    return tg_cli_check_files(c, outs, 5, ins, 4);
}

/* Varies one split and writes it; the backgrounds are `bgs` (or the other split, `other`). */
static int vary_split(const tg_cli *c, variation_kind kind, const tg_dataset *in, const tg_dataset *bgs,
                      uint64_t seed, int split, const char *dir)
{
    tg_dataset out;
    tg_error err;
    const char *preview = split == 0 ? tg_cli_value(c, "--preview") : NULL;
    int rc = variation_make(in, bgs, kind, seed, split == 1, &out, &err);
    if (rc == TG_OK && (rc = tg_make_output_dir(dir, &err)) == TG_OK)
        rc = tg_dataset_save(&out, dir, SPLITS[split], &err);
    if (rc == TG_OK && preview)
        rc = write_preview(preview, in, &out, &err);
    tg_dataset_free(&out);
    if (rc)
        return tg_cli_fail(c, rc, &err);
    printf("kind=%s split=%s images=%zu rows=%zu cols=%zu out=%s\n", variation_name(kind), SPLITS[split], in->n,
           in->rows, in->cols, dir);
    return TG_EXIT_OK;
}

static int run(const tg_cli *c, variation_kind kind)
{
    long seed = 1, limit = 0;
    char paths[4][4096];
    const char *dir;
    bool dir_exists;
    if (!tg_cli_long(c, "--seed", 0, 0x7fffffffL, &seed) || !tg_cli_long(c, "--limit", 1, 1L << 30, &limit) ||
        !(dir = output_dir(c, &dir_exists)) || !check_outputs(c, dir, dir_exists, paths))
        return TG_EXIT_USAGE;
    tg_dataset data[2] = {{0}}, backgrounds = {0};
    int status = TG_EXIT_OK;
    for (int s = 0; s < 2 && status == TG_EXIT_OK; s++)
        status = tg_cli_load_data(c, SPLITS[s], true, (size_t)limit, &data[s]);
    const char *bg_path = tg_cli_value(c, "--backgrounds");
    if (status == TG_EXIT_OK && bg_path && variation_needs_backgrounds(kind) &&
        (status = tg_cli_load_split(c, bg_path, "train", false, 0, &backgrounds)) == TG_EXIT_OK &&
        (backgrounds.rows != data[0].rows || backgrounds.cols != data[0].cols)) {
        tg_cli_say(c->program, "--backgrounds %s: images of %zux%zu, but --data's are %zux%zu", bg_path,
                   backgrounds.rows, backgrounds.cols, data[0].rows, data[0].cols);
        status = TG_EXIT_USAGE;
    }
    for (int s = 0; s < 2 && status == TG_EXIT_OK; s++)
        status = vary_split(c, kind, &data[s], bg_path ? &backgrounds : &data[1 - s], (uint64_t)seed, s, dir);
    tg_dataset_free(&data[0]), tg_dataset_free(&data[1]), tg_dataset_free(&backgrounds);
    return status;
}

static int cmd_rot(const tg_cli *c) { return run(c, VARIATION_ROT); }
static int cmd_bg_rand(const tg_cli *c) { return run(c, VARIATION_BG_RAND); }
static int cmd_bg_img(const tg_cli *c) { return run(c, VARIATION_BG_IMG); }
static int cmd_rot_bg_img(const tg_cli *c) { return run(c, VARIATION_ROT_BG_IMG); }

int main(int argc, char **argv)
{
    static const tg_cli_command commands[] = {
        {"rot", CMD_ROT, "rotate every image by a random angle in [0, 2π)", cmd_rot},
        {"bg-rand", CMD_BG_RAND, "a uniform-noise background: pixel = max(pixel, noise)", cmd_bg_rand},
        {"bg-img", CMD_BG_IMG, "an image background: pixel = max(pixel, a patch of a background image)", cmd_bg_img},
        {"rot-bg-img", CMD_ROT_BG_IMG, "rot, then bg-img", cmd_rot_bg_img},
    };
    tg_cli c = {.program = "variations", .commands = commands, .n_commands = 4, .options = OPTIONS,
                .n_options = N_OPTIONS};
    return tg_cli_main(&c, argc, argv);
}
