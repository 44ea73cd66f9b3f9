/* nn/io/svg.c — the line-chart writer described in svg.h.
 *
 * The document is printed into a memory stream (open_memstream) and then written atomically
 * with tg_write_file_atomic from nn/io/atomic_file.h.  Geometry: a fixed margin on the left
 * (tick labels and the rotated y label), on top (title) and at the bottom (tick labels and the
 * x label); the legend sits to the right of the plot and widens the picture to fit the longest
 * name. */
#include "nn/io/svg.h"

#include "nn/io/atomic_file.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    DEFAULT_PLOT_W = 560,
    DEFAULT_PLOT_H = 360,
    MAX_SIDE = 100000,
    MARGIN_LEFT = 80,
    MARGIN_TOP = 44,
    MARGIN_BOTTOM = 56,
    LEGEND_GAP = 20,      /* between the plot frame and the legend */
    LEGEND_SWATCH = 24,   /* length of the line sample in front of a name */
    LEGEND_ROW = 18,      /* vertical distance between legend entries */
    CHAR_WIDTH = 7,       /* rough width of one character at font-size 12, for layout only */
    MAX_TICKS = 160,
};

/* Values beyond this are not drawn: keeps every range and pixel computation finite. */
#define DRAWABLE_MAX 1e300

/* Okabe-Ito colours (safe for colour-blind readers) without the yellow, which is unreadable on
 * white; after these run out the same colours come back dashed. */
static const char *const palette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                      "#E69F00", "#56B4E9", "#000000", "#999999"};
#define PALETTE_SIZE (sizeof palette / sizeof palette[0])
static const char *const dash_patterns[] = {NULL, "7 4", "2 3", "9 3 2 3"};
#define DASH_PATTERNS (sizeof dash_patterns / sizeof dash_patterns[0])

/* ---- axes ------------------------------------------------------------------------------- */

typedef struct axis {
    int log;
    double lo, hi; /* the axis ends in axis units: the value, or log10 of it on a log axis */
} axis;

typedef struct tick {
    double at;   /* position in axis units */
    int major;   /* labeled, with a grid line */
    char label[32];
} tick;

static int value_drawable(double v, int log_scale)
{
    return isfinite(v) && fabs(v) <= DRAWABLE_MAX && (!log_scale || v > 0.0);
}

static double to_axis_units(const axis *a, double v)
{
    return a->log ? log10(v) : v;
}

/* Position of v along the axis, 0 at lo and 1 at hi. */
static double axis_fraction(const axis *a, double v)
{
    return (to_axis_units(a, v) - a->lo) / (a->hi - a->lo);
}

/* The "nice" step for about `intervals` intervals over `range`: 1, 2 or 5 times a power of 10. */
static double nice_step(double range, int intervals)
{
    double raw = range / intervals;
    double magnitude = pow(10.0, floor(log10(raw)));
    double f = raw / magnitude;
    double nice = f < 1.5 ? 1.0 : f < 3.5 ? 2.0 : f < 7.5 ? 5.0 : 10.0;
    return nice * magnitude;
}

/* Label every this many decades on a log axis spanning `decades`: at most ~8 labels. */
static int decades_per_label(int decades)
{
    return decades <= 8 ? 1 : (decades + 7) / 8;
}

/* Sets the axis ends from the data range [dmin, dmax] (dmin > dmax: no data) and returns the
 * linear tick step (unused on a log axis). */
static double axis_fit(axis *a, double dmin, double dmax)
{
    if (a->log) {
        if (dmin > dmax) {
            a->lo = 0.0; /* [1, 10] */
            a->hi = 1.0;
            return 0.0;
        }
        a->lo = floor(log10(dmin));
        a->hi = ceil(log10(dmax));
        if (a->hi <= a->lo) { /* one exact power of ten: centre it */
            a->lo -= 1.0;
            a->hi += 1.0;
        }
        /* Extend the top so that both ends are labeled decades. */
        int every = decades_per_label((int)(a->hi - a->lo));
        a->hi = a->lo + ceil((a->hi - a->lo) / every) * every;
        return 0.0;
    }
    if (dmin > dmax) {
        dmin = 0.0;
        dmax = 1.0;
    } else if (dmin == dmax) { /* one value: give it some room around it */
        double pad = dmin == 0.0 ? 1.0 : 0.5 * fabs(dmin);
        dmin -= pad;
        dmax += pad;
    }
    /* A span too small for a tick step (5e-324 .. 5e-324 padded is still one denormal: the step
     * would round to 0 and every position become NaN): such values are all 0 to the eye. */
    if (!(dmax - dmin >= 1e-200)) {
        double mid = 0.5 * dmin + 0.5 * dmax;
        dmin = mid - 1.0;
        dmax = mid + 1.0;
    }
    double step = nice_step(dmax - dmin, 6);
    a->lo = floor(dmin / step) * step;
    a->hi = ceil(dmax / step) * step;
    return step;
}

/* Tick label of a linear-axis value, with as many decimals as the step needs. */
static void format_linear(char *buf, size_t len, double v, double step)
{
    if (fabs(v) < 1e-9 * step)
        v = 0.0; /* no "-0" and no 1e-17 from floor(lo/step)*step */
    int decimals = step >= 1.0 ? 0 : (int)ceil(-log10(step) - 1e-9);
    double max_shown = fabs(v) > step ? fabs(v) : step;
    if (decimals <= 6 && max_shown < 1e7)
        snprintf(buf, len, "%.*f", decimals, v);
    else
        snprintf(buf, len, "%.3g", v);
}

/* Label of the decade 10^e: plain for small exponents, else "1e-5". */
static void format_decade(char *buf, size_t len, int e)
{
    if (e >= -3 && e <= 4)
        snprintf(buf, len, "%g", pow(10.0, e));
    else
        snprintf(buf, len, "1e%d", e);
}

/* Fills ticks [MAX_TICKS]; returns how many. */
static size_t axis_ticks(const axis *a, double step, tick *ticks)
{
    size_t count = 0;
    if (a->log) {
        int first = (int)a->lo, last = (int)a->hi;
        int decades = last - first;
        int every = decades_per_label(decades);
        int minor = decades <= 6;
        for (int e = first; e <= last && count < MAX_TICKS; e++) {
            if ((e - first) % every == 0) {
                ticks[count].at = e;
                ticks[count].major = 1;
                format_decade(ticks[count].label, sizeof ticks[count].label, e);
                count++;
            }
            for (int m = 2; minor && e < last && m <= 9 && count < MAX_TICKS; m++) {
                ticks[count].at = e + log10((double)m);
                ticks[count].major = 0;
                ticks[count].label[0] = '\0';
                count++;
            }
        }
        return count;
    }
    /* Integer multiples of the step, so positions do not drift by accumulated rounding. */
    double i0 = round(a->lo / step), i1 = round(a->hi / step);
    for (double i = i0; i <= i1 && count < MAX_TICKS; i += 1.0) {
        ticks[count].at = i * step;
        ticks[count].major = 1;
        format_linear(ticks[count].label, sizeof ticks[count].label, i * step, step);
        count++;
    }
    return count;
}

/* ---- text ------------------------------------------------------------------------------- */

/* Writes s XML-escaped (for element text and attribute values alike). */
static void put_escaped(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default:
            /* control characters other than tab/newline are not allowed in XML 1.0 */
            fputc(c < 0x20 && c != '\t' && c != '\n' ? ' ' : c, f);
        }
    }
}

/* Number of characters (UTF-8 code points) of s, for layout estimates. */
static size_t text_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

static void series_label(char *buf, size_t len, const tg_chart_series *s, size_t index)
{
    if (s->name && *s->name)
        snprintf(buf, len, "%s", s->name);
    else
        snprintf(buf, len, "series %zu", index + 1);
}

/* ---- the chart -------------------------------------------------------------------------- */

static double point_x(const tg_chart_series *s, size_t i)
{
    return s->x ? s->x[i] : (double)(i + 1);
}

static int point_drawable(const tg_chart *c, const tg_chart_series *s, size_t i)
{
    return value_drawable(point_x(s, i), c->log_x) && value_drawable(s->y[i], c->log_y);
}

static int check_chart(const tg_chart *c, tg_error *err)
{
    if (!c)
        return tg_error_set(err, TG_ERR_ARG, "svg: NULL chart");
    if (c->nseries > 0 && !c->series)
        return tg_error_set(err, TG_ERR_ARG, "svg: %zu series but series = NULL", c->nseries);
    for (size_t k = 0; k < c->nseries; k++)
        if (c->series[k].n > 0 && !c->series[k].y)
            return tg_error_set(err, TG_ERR_ARG, "svg: series %zu has n = %zu but y = NULL", k,
                                c->series[k].n);
    if (c->width > MAX_SIDE || c->height > MAX_SIDE)
        return tg_error_set(err, TG_ERR_ARG, "svg: plot %zux%zu larger than %d pixels", c->width,
                            c->height, MAX_SIDE);
    return TG_OK;
}

/* The geometry shared by the drawing steps. */
typedef struct layout {
    axis x, y;
    double left, top, plot_w, plot_h;
} layout;

/* Pixel position of a tick (given in axis units). */
static double tick_x(const layout *l, double at) { return l->left + (at - l->x.lo) / (l->x.hi - l->x.lo) * l->plot_w; }
static double tick_y(const layout *l, double at) { return l->top + l->plot_h - (at - l->y.lo) / (l->y.hi - l->y.lo) * l->plot_h; }
static double pixel_x(const layout *l, double v) { return l->left + axis_fraction(&l->x, v) * l->plot_w; }
static double pixel_y(const layout *l, double v) { return l->top + (1.0 - axis_fraction(&l->y, v)) * l->plot_h; }

static void draw_axes(FILE *f, const layout *l, const tick *xt, size_t nx, const tick *yt, size_t ny)
{
    double x0 = l->left, x1 = l->left + l->plot_w, y0 = l->top, y1 = l->top + l->plot_h;

    fputs("<g stroke=\"#e6e6e6\" stroke-width=\"1\">\n", f); /* grid at the major ticks */
    for (size_t i = 0; i < nx; i++) {
        double px = tick_x(l, xt[i].at);
        if (xt[i].major)
            fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", px, y0, px, y1);
    }
    for (size_t i = 0; i < ny; i++) {
        double py = tick_y(l, yt[i].at);
        if (yt[i].major)
            fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", x0, py, x1, py);
    }
    fputs("</g>\n", f);

    fputs("<g stroke=\"#000000\" stroke-width=\"1\">\n", f); /* tick marks, outside the frame */
    for (size_t i = 0; i < nx; i++) {
        double px = tick_x(l, xt[i].at);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", px, y1, px,
                y1 + (xt[i].major ? 6.0 : 3.0));
    }
    for (size_t i = 0; i < ny; i++) {
        double py = tick_y(l, yt[i].at);
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", x0 - (yt[i].major ? 6.0 : 3.0),
                py, x0, py);
    }
    fputs("</g>\n", f);
    fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" "
               "stroke=\"#000000\"/>\n", x0, y0, l->plot_w, l->plot_h);

    fputs("<g text-anchor=\"middle\">\n", f);
    for (size_t i = 0; i < nx; i++) {
        if (!xt[i].major)
            continue;
        double px = tick_x(l, xt[i].at);
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\">%s</text>\n", px, y1 + 20.0, xt[i].label);
    }
    fputs("</g>\n<g text-anchor=\"end\">\n", f);
    for (size_t i = 0; i < ny; i++) {
        if (!yt[i].major)
            continue;
        double py = tick_y(l, yt[i].at);
        fprintf(f, "<text x=\"%.2f\" y=\"%.2f\">%s</text>\n", x0 - 9.0, py + 4.0, yt[i].label);
    }
    fputs("</g>\n", f);
}

/* One series: a <path> whose subpaths restart after every skipped point, then its markers
 * (every point if asked for, else only points with no drawable neighbour). */
static void draw_series(FILE *f, const tg_chart *c, const layout *l, size_t k)
{
    const tg_chart_series *s = &c->series[k];
    const char *colour = palette[k % PALETTE_SIZE];
    const char *dash = dash_patterns[(k / PALETTE_SIZE) % DASH_PATTERNS];

    fprintf(f, "<path class=\"series\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" "
               "stroke-linejoin=\"round\"", colour);
    if (dash)
        fprintf(f, " stroke-dasharray=\"%s\"", dash);
    fputs(" d=\"", f);
    int previous_drawn = 0;
    for (size_t i = 0; i < s->n; i++) {
        int drawn = point_drawable(c, s, i);
        if (drawn)
            fprintf(f, "%s%.2f %.2f", previous_drawn ? " L" : (i ? " M" : "M"),
                    pixel_x(l, point_x(s, i)), pixel_y(l, s->y[i]));
        previous_drawn = drawn;
    }
    fputs("\"/>\n", f);

    fprintf(f, "<g fill=\"%s\">\n", colour);
    for (size_t i = 0; i < s->n; i++) {
        if (!point_drawable(c, s, i))
            continue;
        int isolated = (i == 0 || !point_drawable(c, s, i - 1)) &&
                       (i + 1 == s->n || !point_drawable(c, s, i + 1));
        if (c->markers || isolated)
            fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"2.5\"/>\n", pixel_x(l, point_x(s, i)),
                    pixel_y(l, s->y[i]));
    }
    fputs("</g>\n", f);
}

static void draw_legend(FILE *f, const tg_chart *c, double x0, double y0)
{
    char name[512];
    for (size_t k = 0; k < c->nseries; k++) {
        double y = y0 + (double)k * LEGEND_ROW;
        const char *dash = dash_patterns[(k / PALETTE_SIZE) % DASH_PATTERNS];
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" "
                   "stroke-width=\"1.5\"", x0, y, x0 + LEGEND_SWATCH, y, palette[k % PALETTE_SIZE]);
        if (dash)
            fprintf(f, " stroke-dasharray=\"%s\"", dash);
        fputs("/>\n", f);
        if (c->markers)
            fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"2.5\" fill=\"%s\"/>\n",
                    x0 + LEGEND_SWATCH / 2.0, y, palette[k % PALETTE_SIZE]);
        series_label(name, sizeof name, &c->series[k], k);
        fprintf(f, "<text class=\"legend\" x=\"%.2f\" y=\"%.2f\">", x0 + LEGEND_SWATCH + 6.0, y + 4.0);
        put_escaped(f, name);
        fputs("</text>\n", f);
    }
}

/* Prints the whole document into f. */
static void print_chart(FILE *f, const tg_chart *c)
{
    layout l = {.x = {.log = c->log_x != 0}, .y = {.log = c->log_y != 0}};
    l.plot_w = c->width ? (double)c->width : DEFAULT_PLOT_W;
    l.plot_h = c->height ? (double)c->height : DEFAULT_PLOT_H;
    l.left = MARGIN_LEFT;
    l.top = MARGIN_TOP;

    /* Data ranges over the drawable points of all series. */
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (size_t k = 0; k < c->nseries; k++) {
        const tg_chart_series *s = &c->series[k];
        for (size_t i = 0; i < s->n; i++) {
            if (!point_drawable(c, s, i))
                continue;
            double x = point_x(s, i), y = s->y[i];
            xmin = fmin(xmin, x);
            xmax = fmax(xmax, x);
            ymin = fmin(ymin, y);
            ymax = fmax(ymax, y);
        }
    }
    tick xt[MAX_TICKS], yt[MAX_TICKS];
    double xstep = axis_fit(&l.x, xmin, xmax);
    double ystep = axis_fit(&l.y, ymin, ymax);
    size_t nx = axis_ticks(&l.x, xstep, xt);
    size_t ny = axis_ticks(&l.y, ystep, yt);

    /* Legend width from the longest name; the picture grows to hold it. */
    char name[512];
    size_t longest = 0;
    for (size_t k = 0; k < c->nseries; k++) {
        series_label(name, sizeof name, &c->series[k], k);
        size_t n = text_chars(name);
        longest = n > longest ? n : longest;
    }
    double legend_w = c->nseries ? LEGEND_SWATCH + 6.0 + (double)(longest * CHAR_WIDTH) + 10.0 : 0.0;
    double width = l.left + l.plot_w + LEGEND_GAP + legend_w;
    double legend_h = (double)c->nseries * LEGEND_ROW + 10.0;
    double height = l.top + fmax(l.plot_h, legend_h) + MARGIN_BOTTOM;

    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" "
               "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" "
               "font-size=\"12\">\n", width, height, width, height);
    fputs("<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n", f);
    if (c->title && *c->title) {
        fprintf(f, "<text class=\"title\" x=\"%.2f\" y=\"26\" text-anchor=\"middle\" "
                   "font-size=\"16\">", l.left + l.plot_w / 2.0);
        put_escaped(f, c->title);
        fputs("</text>\n", f);
    }
    draw_axes(f, &l, xt, nx, yt, ny);
    if (c->x_label && *c->x_label) {
        fprintf(f, "<text class=\"xlabel\" x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">",
                l.left + l.plot_w / 2.0, l.top + l.plot_h + 44.0);
        put_escaped(f, c->x_label);
        fputs("</text>\n", f);
    }
    if (c->y_label && *c->y_label) {
        double cx = 18.0, cy = l.top + l.plot_h / 2.0;
        fprintf(f, "<text class=\"ylabel\" x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\" "
                   "transform=\"rotate(-90 %.2f %.2f)\">", cx, cy, cx, cy);
        put_escaped(f, c->y_label);
        fputs("</text>\n", f);
    }
    for (size_t k = 0; k < c->nseries; k++)
        draw_series(f, c, &l, k);
    draw_legend(f, c, l.left + l.plot_w + LEGEND_GAP, l.top + 10.0);
    fputs("</svg>\n", f);
}

int tg_svg_chart_string(const tg_chart *chart, char **out, size_t *len, tg_error *err)
{
    if (!out || !len)
        return tg_error_set(err, TG_ERR_ARG, "svg: NULL output pointer");
    *out = NULL;
    *len = 0;
    int rc = check_chart(chart, err);
    if (rc != TG_OK)
        return rc;
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f)
        return tg_error_set(err, TG_ERR_NOMEM, "svg: cannot open a memory stream");
    print_chart(f, chart);
    int failed = ferror(f);
    if (fclose(f) != 0 || failed) {
        free(buf);
        return tg_error_set(err, TG_ERR_NOMEM, "svg: out of memory while printing the chart");
    }
    *out = buf;
    *len = size;
    return TG_OK;
}

int tg_svg_write_chart(const char *path, const tg_chart *chart, tg_error *err)
{
    if (!path || !*path)
        return tg_error_set(err, TG_ERR_ARG, "svg: empty path");
    char *doc;
    size_t len;
    int rc = tg_svg_chart_string(chart, &doc, &len, err);
    if (rc != TG_OK)
        return rc;
    rc = tg_write_file_atomic(path, doc, len, err);
    free(doc);
    return rc;
}
