/* nn/io/svg.h — line charts as hand-written SVG, for `cae render` and `cae compare`:
 * loss.svg (loss vs step), spectrum.svg (σ_k vs k, log y, several models) and contraction
 * ratio vs radius (several models).
 *
 *     const double k[3] = {1, 2, 3}, s[3] = {4.0, 0.5, 0.01};
 *     tg_chart_series one = {.name = "lambda=1e-4", .x = k, .y = s, .n = 3};
 *     tg_chart chart = {.title = "Singular values of J", .x_label = "k", .y_label = "sigma_k",
 *                       .log_y = 1, .series = &one, .nseries = 1};
 *     rc = tg_svg_write_chart("spectrum.svg", &chart, &err);
 *
 * What is drawn: a title, a frame with "nice" ticks (1, 2, 5 × 10^k on linear axes, decades
 * with unlabeled 2..9 minor ticks on log axes) and light grid lines, axis labels, one <path>
 * per series (class="series", colours from a colour-blind-safe palette, dashed after the 8th
 * series), optional point markers, and a legend to the right of the plot.
 *
 * Points that cannot be drawn (a non-finite x or y, or x <= 0 / y <= 0 on a log axis) are
 * skipped and break the line there; a point with no drawable neighbour gets a marker so it
 * stays visible (a one-point series shows as a dot).  An empty series still gets its legend
 * entry and an empty path.  The axis ranges cover all drawable points; with none at all they
 * are [0,1] (linear) or [1,10] (log).  Text is XML-escaped.  The file is written atomically;
 * errors are values. */
#ifndef TG_SVG_H
#define TG_SVG_H

#include <stddef.h>

#include "tensor/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_chart_series {
    const char *name; /* legend text; NULL or "" shows as "series N" */
    const double *x;  /* [n]; NULL means x_i = i + 1 (a 1-based index, e.g. k for σ_k) */
    const double *y;  /* [n]; may be NULL only when n == 0 */
    size_t n;
} tg_chart_series;

typedef struct tg_chart {
    const char *title;   /* may be NULL */
    const char *x_label; /* may be NULL */
    const char *y_label; /* may be NULL */
    int log_x, log_y;    /* nonzero: base-10 logarithmic axis */
    int markers;         /* nonzero: a small circle at every drawn point */
    size_t width;        /* plot area in pixels; 0 → 560 (the legend adds to the file's width) */
    size_t height;       /* plot area in pixels; 0 → 360 */
    const tg_chart_series *series; /* [nseries] */
    size_t nseries;
} tg_chart;

/* Writes the chart to `path` as an SVG 1.1 document.
 * Errors: TG_ERR_ARG (NULL chart or path, series NULL with nseries > 0, y NULL with n > 0,
 * a size above 100000 pixels), TG_ERR_NOMEM, TG_ERR_IO (the message names the file). */
int tg_svg_write_chart(const char *path, const tg_chart *chart, tg_error *err);

/* The same document into a malloc'ed, NUL-terminated string *out (free() it) of *len bytes;
 * for callers that embed or test the SVG. */
int tg_svg_chart_string(const tg_chart *chart, char **out, size_t *len, tg_error *err);

#ifdef __cplusplus
}
#endif

#endif
