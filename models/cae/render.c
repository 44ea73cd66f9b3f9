/* Pictures of a trained CAE: filters, reconstructions, tangent directions, spectra, loss curve. */
#include "render.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/fit.h"
#include "nn/io/atomic_file.h"
#include "nn/io/png.h"
#include "nn/io/svg.h"

#define MAX_FILTER_TILES 256 /* filters.png shows at most this many hidden units */
#define RECON_IMAGES 16
#define TANGENT_IMAGES 4
#define TANGENT_VECTORS 7
/* Test images in a mean spectrum: each costs one eigen-decomposition of J·Jᵀ [H,H], O(H³), the
 * bulk of `render` for a wide model.  With 100 instead of 200 the drawn curve moves by at most 5
 * of the chart's 460 pixels (measured on a 256-unit CAE of Fashion-MNIST). */
#define SPECTRUM_IMAGES 100
#define TILE_SCALE 2 /* each pixel drawn as 2x2 */
#define MAX_COMPARE_MODELS 64

static void join_path(char *out, size_t n, const char *dir, const char *file)
{
    snprintf(out, n, "%s/%s", dir, file);
}

static size_t grid_columns(size_t count)
{
    size_t c = (size_t)ceil(sqrt((double)count));
    return c ? c : 1;
}

/* filters.png: each hidden unit's incoming weights W[:,j] as one image-shaped tile. */
static int render_filters(const cae_model *m, size_t rows, size_t cols, const char *path, tg_error *err)
{
    const size_t D = m->cfg.input, H = m->cfg.hidden;
    size_t count = H < MAX_FILTER_TILES ? H : MAX_FILTER_TILES;
    float *tiles = malloc(count * D * sizeof *tiles);
    if (!tiles)
        return tg_error_set(err, TG_ERR_NOMEM, "render: out of memory");
    const float *W = m->enc_w.value.data; /* [D,H] */
    for (size_t j = 0; j < count; j++)
        for (size_t i = 0; i < D; i++)
            tiles[j * D + i] = W[i * H + j];
    int rc = tg_png_write_grid(path, tiles, count, rows, cols, grid_columns(count), TG_PNG_SYMMETRIC, TILE_SCALE, err);
    free(tiles);
    return rc;
}

/* recon.png: the first test images (top row) above their reconstructions (bottom row). */
static int render_reconstructions(cae_model *m, const tg_dataset *test, const char *path, tg_error *err)
{
    const size_t D = m->cfg.input;
    size_t n = test->n < RECON_IMAGES ? test->n : RECON_IMAGES;
    tg_tape *tape = tg_tape_new(err);
    float *tiles = malloc(2 * n * D * sizeof *tiles);
    int rc = (!tape || !tiles) ? tg_error_set(err, TG_ERR_NOMEM, "render: out of memory") : TG_OK;
    if (rc == TG_OK) {
        tg_tape_set_grad_enabled(tape, false);
        uint32_t idx[RECON_IMAGES];
        tg_node *x = tg_images_input(tape, test, idx, tg_batch_in_order(test, 0, n, idx));
        cae_graph g; /* only y is used: RECON leaves the γ term's corruptions out */
        if (cae_build(tape, m, x, CAE_TERMS_RECON, &g))
            rc = tg_tape_get_error(tape, err);
        else {
            memcpy(tiles, x->value.data, n * D * sizeof *tiles);
            memcpy(tiles + n * D, g.y->value.data, n * D * sizeof *tiles);
            rc = tg_png_write_grid(path, tiles, 2 * n, test->rows, test->cols, n, TG_PNG_UNIT, TILE_SCALE, err);
        }
    }
    free(tiles);
    tg_tape_free(tape);
    return rc;
}

/* tangents.png: one row per test image: the image, then the leading right singular vectors of J
 * there. The image is mapped to [-1,1] so one symmetric gray scale serves the whole row. */
static int render_tangents(cae_model *m, const tg_dataset *test, const char *path, tg_error *err)
{
    const size_t D = m->cfg.input, H = m->cfg.hidden;
    size_t n = test->n < TANGENT_IMAGES ? test->n : TANGENT_IMAGES;
    size_t k = TANGENT_VECTORS < (H < D ? H : D) ? TANGENT_VECTORS : (H < D ? H : D);
    size_t per_row = 1 + k;
    float *tiles = malloc(n * per_row * D * sizeof *tiles), *J = malloc(H * D * sizeof *J);
    float *sigma = malloc((H > D ? H : D) * sizeof *sigma);
    int rc = (!tiles || !J || !sigma) ? tg_error_set(err, TG_ERR_NOMEM, "render: out of memory") : TG_OK;
    for (size_t r = 0; r < n && rc == TG_OK; r++) {
        float *row = tiles + r * per_row * D;
        uint32_t one = (uint32_t)r;
        tg_dataset_images_to_float(test, &one, 1, row);
        if ((rc = cae_jacobian_at(m, row, J, err)) == TG_OK)
            rc = cae_jacobian_svd(J, H, D, sigma, row + D, k, err);
        for (size_t i = 0; i < D; i++)
            row[i] = 2.0f * row[i] - 1.0f;
    }
    if (rc == TG_OK)
        rc = tg_png_write_grid(path, tiles, n * per_row, test->rows, test->cols, per_row, TG_PNG_SYMMETRIC,
                               TILE_SCALE, err);
    free(tiles);
    free(J);
    free(sigma);
    return rc;
}

/* spectrum.svg / compare: mean singular values σ_k against k, log scale. */
static int write_spectrum_chart(const char *path, const tg_chart_series *series, size_t n, tg_error *err)
{
    tg_chart chart = {.title = "Mean singular values of the encoder's Jacobian", .x_label = "k",
                      .y_label = "mean sigma_k", .log_y = 1, .markers = 1, .series = series, .nseries = n};
    return tg_svg_write_chart(path, &chart, err);
}

static size_t spectrum_length(const cae_model *m)
{
    return m->cfg.hidden < m->cfg.input ? m->cfg.hidden : m->cfg.input;
}

/* loss.svg from the training CSV (step,epoch,loss,mse,penalty). */
static int render_loss(const char *csv, const char *path, tg_error *err)
{
    int fd, open_errno;
    uint64_t size;
    int rc = tg_open_regular(csv, "a training log (CSV)", &fd, &size, &open_errno, err);
    if (rc)
        return rc;
    FILE *f = fdopen(fd, "r");
    if (!f) {
        close(fd);
        return tg_file_error(err, TG_ERR_IO, csv, "cannot open: %s", strerror(errno));
    }
    size_t cap = 1024, n = 0;
    double *step = malloc(cap * sizeof *step), *loss = malloc(cap * sizeof *loss), *mse = malloc(cap * sizeof *mse);
    rc = (!step || !loss || !mse) ? tg_error_set(err, TG_ERR_NOMEM, "render: out of memory") : TG_OK;
    char line[512];
    long line_no = 0;
    while (rc == TG_OK && fgets(line, sizeof line, f)) {
        line_no++;
        if (line_no == 1 && strncmp(line, "step,", 5) == 0)
            continue; /* the header */
        double s, e, l, q, p;
        if (sscanf(line, "%lf,%lf,%lf,%lf,%lf", &s, &e, &l, &q, &p) != 5) {
            rc = tg_error_set(err, TG_ERR_FORMAT, "%s:%ld: not a row of step,epoch,loss,mse,penalty", csv, line_no);
            break;
        }
        if (n == cap) {
            cap *= 2;
            double *a = realloc(step, cap * sizeof *a);
            step = a ? a : step;
            double *b = realloc(loss, cap * sizeof *b);
            loss = b ? b : loss;
            double *c = realloc(mse, cap * sizeof *c);
            mse = c ? c : mse;
            if (!a || !b || !c) {
                rc = tg_error_set(err, TG_ERR_NOMEM, "render: out of memory");
                break;
            }
        }
        step[n] = s;
        loss[n] = l;
        mse[n] = q;
        n++;
    }
    fclose(f);
    if (rc == TG_OK && n == 0)
        rc = tg_file_error(err, TG_ERR_FORMAT, csv, "no rows");
    /* Thin long logs to at most ~2000 points per series: the chart cannot show more. */
    size_t stride = n > 2000 ? (n + 1999) / 2000 : 1, kept = 0;
    for (size_t i = 0; i < n; i += stride, kept++) {
        step[kept] = step[i];
        loss[kept] = loss[i];
        mse[kept] = mse[i];
    }
    n = kept;
    if (rc == TG_OK) {
        tg_chart_series series[2] = {{.name = "loss", .x = step, .y = loss, .n = n},
                                     {.name = "mse", .x = step, .y = mse, .n = n}};
        tg_chart chart = {.title = "Training loss", .x_label = "step", .y_label = "loss (per batch)",
                          .log_y = 1, .series = series, .nseries = 2};
        rc = tg_svg_write_chart(path, &chart, err);
    }
    free(step);
    free(loss);
    free(mse);
    return rc;
}

int cae_render(cae_model *m, const tg_dataset *test, const char *out_dir, const char *log_csv, tg_error *err)
{
    if (test->rows * test->cols != m->cfg.input)
        return tg_error_set(err, TG_ERR_ARG, "the test images have %zu pixels (%zux%zu) but the model expects %zu",
                            test->rows * test->cols, test->rows, test->cols, m->cfg.input);
    char path[4096];
    int rc = tg_make_output_dir(out_dir, err);
    if (rc)
        return rc;
    join_path(path, sizeof path, out_dir, "filters.png");
    if ((rc = render_filters(m, test->rows, test->cols, path, err)))
        return rc;
    join_path(path, sizeof path, out_dir, "recon.png");
    if ((rc = render_reconstructions(m, test, path, err)))
        return rc;
    join_path(path, sizeof path, out_dir, "tangents.png");
    if ((rc = render_tangents(m, test, path, err)))
        return rc;
    size_t k = spectrum_length(m);
    double *sigma = malloc(k * sizeof *sigma);
    if (!sigma)
        return tg_error_set(err, TG_ERR_NOMEM, "render: out of memory");
    rc = cae_mean_spectrum(m, test, SPECTRUM_IMAGES, sigma, err);
    if (rc == TG_OK) {
        join_path(path, sizeof path, out_dir, "spectrum.svg");
        tg_chart_series one = {.name = "model", .y = sigma, .n = k};
        rc = write_spectrum_chart(path, &one, 1, err);
    }
    free(sigma);
    if (rc == TG_OK && log_csv) {
        join_path(path, sizeof path, out_dir, "loss.svg");
        rc = render_loss(log_csv, path, err);
    }
    return rc;
}

/* A long-format CSV "model,<columns>": for each model either the shared x values with its row
 * of `table` [n,cols] (contraction: radius, ratio), or k = 1.. with its own series (spectrum). */
static int write_compare_csv(const char *path, const char *columns, const char *const *names, int n, const double *x,
                             const double *table, size_t cols, const double *const *series, const size_t *lengths,
                             tg_error *err)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len); /* then written atomically, as the charts are */
    if (!f)
        return tg_error_set(err, TG_ERR_NOMEM, "compare: cannot open a memory stream");
    fprintf(f, "model,%s\n", columns);
    for (int i = 0; i < n; i++) {
        size_t count = series ? lengths[i] : cols;
        for (size_t k = 0; k < count; k++) {
            if (series)
                fprintf(f, "%s,%zu,%.9g\n", names[i], k + 1, series[i][k]);
            else
                fprintf(f, "%s,%.9g,%.9g\n", names[i], x[k], table[(size_t)i * cols + k]);
        }
    }
    int rc = ferror(f) | (fclose(f) != 0) ? tg_error_set(err, TG_ERR_NOMEM, "compare: out of memory")
                                          : tg_write_file_atomic(path, text, len, err);
    free(text);
    return rc;
}

/* directions.csv: model,direction,radius,ratio for the kinds besides random; ratios
 * [kind][model][radius]. */
static int write_directions_csv(const char *path, const char *const *names, int n, const cae_eval_options *o,
                                const double *ratios, tg_error *err)
{
    char *text = NULL;
    size_t len = 0, R = (size_t)o->n_radii;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return tg_error_set(err, TG_ERR_NOMEM, "compare: cannot open a memory stream");
    fputs("model,direction,radius,ratio\n", f);
    for (int i = 0; i < n; i++)
        for (int d = CAE_DIR_DATA; d < CAE_N_DIRECTIONS; d++)
            for (size_t k = 0; o->directions & (1u << d) && k < R; k++)
                fprintf(f, "%s,%s,%.9g,%.9g\n", names[i], cae_direction_name((cae_direction)d), o->radii[k],
                        ratios[((size_t)d * (size_t)n + (size_t)i) * R + k]);
    int rc = ferror(f) | (fclose(f) != 0) ? tg_error_set(err, TG_ERR_NOMEM, "compare: out of memory")
                                          : tg_write_file_atomic(path, text, len, err);
    free(text);
    return rc;
}

/* The width and height attributes of the <svg> element of a chart document. */
static void svg_size(const char *doc, double *w, double *h)
{
    const char *root = strstr(doc, "<svg"), *a = root ? strstr(root, " width=\"") : NULL;
    const char *b = root ? strstr(root, " height=\"") : NULL;
    *w = a ? strtod(a + 8, NULL) : 0.0;
    *h = b ? strtod(b + 9, NULL) : 0.0;
}

/* One SVG document holding the `n` charts as panels, two to a row (each a nested <svg>). */
static int write_panels(const char *path, const tg_chart *charts, size_t n, tg_error *err)
{
    char *docs[CAE_N_DIRECTIONS] = {0}, *text = NULL;
    size_t lens[CAE_N_DIRECTIONS], len = 0;
    double w[CAE_N_DIRECTIONS], h[CAE_N_DIRECTIONS], col_w = 0.0, total_h = 0.0;
    int rc = TG_OK;
    for (size_t p = 0; p < n && rc == TG_OK; p++) {
        if ((rc = tg_svg_chart_string(&charts[p], &docs[p], &lens[p], err)) == TG_OK)
            svg_size(docs[p], &w[p], &h[p]);
        col_w = rc == TG_OK && w[p] > col_w ? w[p] : col_w;
    }
    for (size_t p = 0; p < n && rc == TG_OK; p += 2)
        total_h += p + 1 < n && h[p + 1] > h[p] ? h[p + 1] : h[p];
    FILE *f = rc == TG_OK ? open_memstream(&text, &len) : NULL;
    if (rc == TG_OK && !f)
        rc = tg_error_set(err, TG_ERR_NOMEM, "compare: cannot open a memory stream");
    if (f) {
        double width = n > 1 ? 2 * col_w : col_w, y = 0.0;
        fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" height=\"%.0f\" "
                   "viewBox=\"0 0 %.0f %.0f\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n",
                width, total_h, width, total_h);
        for (size_t p = 0; p < n; p++) {
            fprintf(f, "<g transform=\"translate(%.0f,%.0f)\">\n", p % 2 ? col_w : 0.0, y);
            fwrite(docs[p], 1, lens[p], f);
            fputs("</g>\n", f);
            if (p % 2 || p + 1 == n)
                y += p % 2 && h[p - 1] > h[p] ? h[p - 1] : h[p];
        }
        fputs("</svg>\n", f);
        rc = ferror(f) | (fclose(f) != 0) ? tg_error_set(err, TG_ERR_NOMEM, "compare: out of memory")
                                          : tg_write_file_atomic(path, text, len, err);
    }
    for (size_t p = 0; p < n; p++)
        free(docs[p]);
    free(text);
    return rc;
}

/* contraction.svg: the ratio against the radius, every model a series; with kinds of direction
 * besides random, one panel per kind (random, data, tangent, orthogonal, those measured). */
static int write_contraction_chart(const char *path, const char *const *names, int n, const cae_eval_options *o,
                                   const double *ratios, tg_error *err)
{
    static const char *const titles[CAE_N_DIRECTIONS] = {
        "Contraction ratio ||h(x+e) - h(x)|| / ||e||", "Contraction along data directions (towards other images)",
        "Contraction along tangent directions (leading singular vectors of J)",
        "Contraction orthogonal to the tangent directions"};
    tg_chart charts[CAE_N_DIRECTIONS];
    tg_chart_series *series = calloc((size_t)n * CAE_N_DIRECTIONS, sizeof *series);
    if (!series)
        return tg_error_set(err, TG_ERR_NOMEM, "compare: out of memory");
    size_t panels = 0, R = (size_t)o->n_radii;
    for (int d = 0; d < CAE_N_DIRECTIONS; d++) {
        if (!(o->directions & (1u << d)))
            continue;
        tg_chart_series *s = series + panels * (size_t)n;
        for (int i = 0; i < n; i++)
            s[i] = (tg_chart_series){.name = names[i], .x = o->radii, .y = ratios + ((size_t)d * (size_t)n + (size_t)i) * R,
                                     .n = R};
        charts[panels++] = (tg_chart){.title = titles[d], .x_label = "radius ||e||", .y_label = "mean contraction ratio",
                                      .log_x = 1, .log_y = 1, .markers = 1, .series = s, .nseries = (size_t)n};
    }
    int rc = panels == 1 ? tg_svg_write_chart(path, &charts[0], err) : write_panels(path, charts, panels, err);
    free(series);
    return rc;
}

/* The charts' evaluation: the lines' seed and kinds of direction, over at most 1000 images, no
 * Hessian term; the lines' radii when given, else 12 from 0.01 to 10, log-spaced. */
static cae_eval_options chart_options(const cae_eval_options *lines, bool keep_radii)
{
    enum { N_RADII = 12 };
    cae_eval_options o = *lines;
    o.max_images = 1000;
    o.hess_corruptions = 0;
    if (!keep_radii) {
        o.n_radii = N_RADII;
        for (int r = 0; r < N_RADII; r++)
            o.radii[r] = 0.01 * pow(10.0, 3.0 * r / (N_RADII - 1));
    }
    return o;
}

int cae_compare_charts(cae_model *models, const char *const *names, int n, const tg_dataset *test,
                       const cae_eval_options *lines, bool keep_radii, const char *out_dir, tg_error *err)
{
    if (n < 1 || n > MAX_COMPARE_MODELS)
        return tg_error_set(err, TG_ERR_ARG, "compare: %d models (1..%d)", n, MAX_COMPARE_MODELS);
    char path[4096];
    int rc = TG_OK;
    cae_eval_options opts = chart_options(lines, keep_radii);
    size_t R = (size_t)opts.n_radii;
    double *ratios = calloc((size_t)n * CAE_N_DIRECTIONS * R, sizeof *ratios); /* [kind][model][radius] */
    double **spectra = calloc((size_t)n, sizeof *spectra);
    tg_chart_series *series = calloc((size_t)n, sizeof *series);
    if (!ratios || !spectra || !series)
        rc = tg_error_set(err, TG_ERR_NOMEM, "compare: out of memory");
    for (int i = 0; i < n && rc == TG_OK; i++) {
        cae_eval_result res;
        if ((rc = cae_evaluate(&models[i], test, NULL, &opts, &res, err)))
            break;
        for (int d = 0; d < CAE_N_DIRECTIONS; d++)
            memcpy(ratios + ((size_t)d * (size_t)n + (size_t)i) * R, res.contraction[d], R * sizeof *ratios);
        if (!(spectra[i] = malloc(spectrum_length(&models[i]) * sizeof(double))))
            rc = tg_error_set(err, TG_ERR_NOMEM, "compare: out of memory");
        else
            rc = cae_mean_spectrum(&models[i], test, SPECTRUM_IMAGES, spectra[i], err);
    }
    if (rc == TG_OK && (rc = tg_make_output_dir(out_dir, err)) == TG_OK) { /* (after the work: see docs/cli.md) */
        join_path(path, sizeof path, out_dir, "contraction.svg");
        rc = write_contraction_chart(path, names, n, &opts, ratios, err);
    }
    if (rc == TG_OK) {
        for (int i = 0; i < n; i++)
            series[i] = (tg_chart_series){.name = names[i], .y = spectra[i], .n = spectrum_length(&models[i])};
        join_path(path, sizeof path, out_dir, "spectrum.svg");
        rc = write_spectrum_chart(path, series, (size_t)n, err);
    }
    if (rc == TG_OK) { /* the charts' numbers, for reports and scripts */
        join_path(path, sizeof path, out_dir, "contraction.csv");
        rc = write_compare_csv(path, "radius,ratio", names, n, opts.radii, ratios, R, NULL, NULL, err);
    }
    if (rc == TG_OK && opts.directions & ~(1u << CAE_DIR_RANDOM)) {
        join_path(path, sizeof path, out_dir, "directions.csv");
        rc = write_directions_csv(path, names, n, &opts, ratios, err);
    }
    if (rc == TG_OK) {
        size_t lengths[MAX_COMPARE_MODELS];
        for (int i = 0; i < n; i++)
            lengths[i] = spectrum_length(&models[i]);
        join_path(path, sizeof path, out_dir, "spectrum.csv");
        rc = write_compare_csv(path, "k,mean_sigma", names, n, NULL, NULL, 0, (const double *const *)spectra, lengths, err);
    }
    for (int i = 0; spectra && i < n; i++)
        free(spectra[i]);
    free(spectra);
    free(ratios);
    free(series);
    return rc;
}
