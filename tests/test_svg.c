/* tests/test_svg.c — the SVG line-chart writer of nn/io/svg.c: the document's structure,
 * escaping, the mapping of data to pixels, ticks on linear and log axes, gaps for values that
 * cannot be drawn, and writing the file. */
#include <criterion/criterion.h>

#include <math.h>

#include "io_test.h"
#include "nn/io/svg.h"

static size_t count_of(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* The d attribute of the k-th series path, copied into buf. */
static void path_data(const char *doc, size_t k, char *buf, size_t len)
{
    const char *p = doc;
    for (size_t i = 0; i <= k; i++) {
        p = strstr(p, "<path class=\"series\"");
        cr_assert(p, "series path %zu missing", k);
        p++;
    }
    const char *d = strstr(p, " d=\"");
    cr_assert(d);
    d += 4;
    const char *end = strchr(d, '"');
    cr_assert(end && (size_t)(end - d) < len);
    memcpy(buf, d, (size_t)(end - d));
    buf[end - d] = '\0';
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

Test(svg, three_series_with_legend_and_escaping)
{
    const double x[4] = {0, 1, 2, 3};
    const double y1[4] = {1.0, 0.5, 0.25, 0.125}, y2[4] = {0.9, 0.6, 0.4, 0.3}, y3[2] = {0.2, 0.1};
    const tg_chart_series series[3] = {
        {.name = "lambda=1e-4", .x = x, .y = y1, .n = 4},
        {.name = "tied <W> & co", .x = x, .y = y2, .n = 4},
        {.name = "short", .x = x, .y = y3, .n = 2},
    };
    tg_chart chart = {.title = "loss < 1 & falling", .x_label = "step", .y_label = "loss",
                      .series = series, .nseries = 3};
    char *doc;
    size_t len;
    tg_error err;
    cr_assert_eq(tg_svg_chart_string(&chart, &doc, &len, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(strlen(doc), len);
    cr_assert(!strncmp(doc, "<svg", 4));
    cr_assert(ends_with(doc, "</svg>\n"));
    cr_assert_eq(count_of(doc, "<path"), 3);
    cr_assert_eq(count_of(doc, "<svg"), 1);
    cr_assert(strstr(doc, ">lambda=1e-4</text>"));
    cr_assert(strstr(doc, ">tied &lt;W&gt; &amp; co</text>"));
    cr_assert(strstr(doc, ">short</text>"));
    cr_assert(strstr(doc, ">loss &lt; 1 &amp; falling</text>"));
    cr_assert(!strstr(doc, "loss < 1"));
    cr_assert(!strstr(doc, "& co"));
    cr_assert(strstr(doc, ">step</text>"));
    /* distinct colours */
    char d0[4096];
    path_data(doc, 0, d0, sizeof d0);
    cr_assert(strstr(doc, "stroke=\"#0072B2\"") && strstr(doc, "stroke=\"#D55E00\"") &&
              strstr(doc, "stroke=\"#009E73\""));
    /* every '<' opens a tag: escaping left no stray '<' in text */
    size_t opens = count_of(doc, "<"), closes = count_of(doc, ">");
    cr_assert_eq(opens, closes);
    free(doc);
}

Test(svg, pixel_mapping_and_linear_ticks)
{
    /* x in [0,10] and y in [0,1] are already "nice": the points map to the plot corners.
     * Plot area: left 80, top 44, 560×360 by default. */
    const double x[2] = {0, 10}, y[2] = {0, 1};
    const tg_chart_series s = {.name = "a", .x = x, .y = y, .n = 2};
    tg_chart chart = {.series = &s, .nseries = 1};
    char *doc, d[256];
    size_t len;
    cr_assert_eq(tg_svg_chart_string(&chart, &doc, &len, NULL), TG_OK);
    path_data(doc, 0, d, sizeof d);
    cr_assert_str_eq(d, "M80.00 404.00 L640.00 44.00");
    for (int t = 0; t <= 10; t += 2) {
        char label[32];
        snprintf(label, sizeof label, ">%d</text>", t);
        cr_assert(strstr(doc, label), "x tick %d missing", t);
    }
    cr_assert(strstr(doc, ">0.0</text>") && strstr(doc, ">0.4</text>") && strstr(doc, ">1.0</text>"));
    free(doc);

    /* a loss-like range 0.031..0.118 (0.087/6 = 0.0145 rounds to a step of 0.01): ticks
     * 0.03, 0.04, …, 0.12 and nothing outside */
    const double ly[3] = {0.118, 0.05, 0.031};
    const tg_chart_series ls = {.name = "loss", .y = ly, .n = 3};
    tg_chart loss = {.series = &ls, .nseries = 1};
    cr_assert_eq(tg_svg_chart_string(&loss, &doc, &len, NULL), TG_OK);
    cr_assert(strstr(doc, ">0.03</text>") && strstr(doc, ">0.12</text>") && strstr(doc, ">0.07</text>"));
    cr_assert(!strstr(doc, ">0.02</text>") && !strstr(doc, ">0.13</text>"));
    /* x NULL: x = 1, 2, 3 */
    cr_assert(strstr(doc, ">1.0</text>") && strstr(doc, ">3.0</text>"));
    free(doc);
}

Test(svg, nan_and_nonpositive_on_log_are_skipped)
{
    const double y[6] = {1.0, NAN, 3.0, 4.0, INFINITY, 5.0};
    const tg_chart_series s = {.name = "gaps", .y = y, .n = 6};
    tg_chart chart = {.series = &s, .nseries = 1};
    char *doc, d[512];
    size_t len;
    cr_assert_eq(tg_svg_chart_string(&chart, &doc, &len, NULL), TG_OK);
    path_data(doc, 0, d, sizeof d);
    /* subpaths: {1} {3,4} {5} — three M, one L; the two lonely points get markers */
    cr_assert_eq(count_of(d, "M"), 3, "%s", d);
    cr_assert_eq(count_of(d, "L"), 1, "%s", d);
    cr_assert_eq(count_of(doc, "<circle"), 2);
    cr_assert(!strstr(doc, "nan") && !strstr(doc, "inf"));
    free(doc);

    /* log y: 0 and −1 cannot be drawn */
    const double ly[5] = {10.0, 0.0, 1.0, -1.0, 0.01};
    const tg_chart_series logs = {.name = "spectrum", .y = ly, .n = 5};
    tg_chart logc = {.log_y = 1, .markers = 1, .series = &logs, .nseries = 1};
    cr_assert_eq(tg_svg_chart_string(&logc, &doc, &len, NULL), TG_OK);
    path_data(doc, 0, d, sizeof d);
    cr_assert_eq(count_of(d, "M"), 3, "%s", d);
    cr_assert_eq(count_of(d, "L"), 0, "%s", d);
    cr_assert_eq(count_of(doc, "<circle"), 3 + 1); /* the points and the legend's sample */
    cr_assert(strstr(doc, ">0.01</text>") && strstr(doc, ">0.1</text>") && strstr(doc, ">10</text>"));
    cr_assert(!strstr(doc, "nan") && !strstr(doc, "inf"));
    free(doc);
}

Test(svg, log_axis_wide_range_labels)
{
    const double y[3] = {1e-12, 1e-3, 50.0};
    const tg_chart_series s = {.name = "wide", .y = y, .n = 3};
    tg_chart chart = {.log_y = 1, .log_x = 1, .series = &s, .nseries = 1};
    char *doc;
    size_t len;
    cr_assert_eq(tg_svg_chart_string(&chart, &doc, &len, NULL), TG_OK);
    /* 14 decades, labeled every 2nd: 1e-12, 1e-10, …, 0.01, 1, 100 */
    cr_assert(strstr(doc, ">1e-12</text>") && strstr(doc, ">1e-10</text>"));
    cr_assert(strstr(doc, ">0.01</text>") && strstr(doc, ">100</text>"));
    cr_assert(!strstr(doc, ">1e-11</text>"));
    free(doc);
}

Test(svg, single_point_empty_series_and_no_data)
{
    const double one[1] = {2.5};
    const tg_chart_series s[2] = {{.name = "dot", .y = one, .n = 1}, {.name = "nothing", .n = 0}};
    tg_chart chart = {.title = "edge cases", .series = s, .nseries = 2};
    char *doc, d[256];
    size_t len;
    cr_assert_eq(tg_svg_chart_string(&chart, &doc, &len, NULL), TG_OK);
    cr_assert_eq(count_of(doc, "<path"), 2);
    path_data(doc, 0, d, sizeof d);
    cr_assert_eq(count_of(d, "M"), 1);
    path_data(doc, 1, d, sizeof d);
    cr_assert_str_eq(d, "");
    cr_assert_eq(count_of(doc, "<circle"), 1);
    cr_assert(strstr(doc, ">dot</text>") && strstr(doc, ">nothing</text>"));
    cr_assert(!strstr(doc, "nan") && !strstr(doc, "inf"));
    free(doc);

    tg_chart empty = {.log_y = 1};
    cr_assert_eq(tg_svg_chart_string(&empty, &doc, &len, NULL), TG_OK);
    cr_assert(!strncmp(doc, "<svg", 4) && ends_with(doc, "</svg>\n"));
    cr_assert_eq(count_of(doc, "<path"), 0);
    free(doc);
}

Test(svg, many_series_get_dashes_and_default_names)
{
    double y[10][2];
    tg_chart_series s[10];
    for (int k = 0; k < 10; k++) {
        y[k][0] = k;
        y[k][1] = k + 1;
        s[k] = (tg_chart_series){.y = y[k], .n = 2};
    }
    tg_chart chart = {.series = s, .nseries = 10};
    char *doc;
    size_t len;
    cr_assert_eq(tg_svg_chart_string(&chart, &doc, &len, NULL), TG_OK);
    cr_assert_eq(count_of(doc, "<path"), 10);
    cr_assert(strstr(doc, ">series 1</text>") && strstr(doc, ">series 10</text>"));
    cr_assert_geq(count_of(doc, "stroke-dasharray"), 2); /* series 9 and 10: path and legend */
    free(doc);
}

Test(svg, write_file_and_errors, .init = scratch_make, .fini = scratch_drop)
{
    const double y[3] = {3, 2, 1};
    const tg_chart_series s = {.name = "s", .y = y, .n = 3};
    tg_chart chart = {.title = "t", .series = &s, .nseries = 1};
    tg_error err;
    const char *path = scratch_path("c.svg");
    cr_assert_eq(tg_svg_write_chart(path, &chart, &err), TG_OK, "%s", err.msg);
    size_t len;
    char *doc = (char *)read_bytes(path, &len);
    cr_assert(!strncmp(doc, "<svg", 4) && ends_with(doc, "</svg>\n"));
    free(doc);
    cr_assert_eq(scratch_count(""), 1);

    const char *missing = "/nonexistent_dir_tg_test/c.svg";
    cr_assert_eq(tg_svg_write_chart(missing, &chart, &err), TG_ERR_IO);
    cr_assert(strstr(err.msg, missing), "%s", err.msg);

    tg_chart bad = {.nseries = 2};
    cr_assert_eq(tg_svg_write_chart(path, &bad, &err), TG_ERR_ARG);
    const tg_chart_series no_y = {.name = "x", .n = 3};
    tg_chart bad2 = {.series = &no_y, .nseries = 1};
    cr_assert_eq(tg_svg_write_chart(path, &bad2, &err), TG_ERR_ARG);
    cr_assert_eq(tg_svg_write_chart(path, NULL, &err), TG_ERR_ARG);
}
