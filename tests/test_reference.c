/* tests/test_reference.c — tapegrad against float64 PyTorch reference trajectories (issue 25).
 *
 * tests/reference/make_reference.py (run by hand) replayed every variant of
 * tests/reference/problem.h in float64 PyTorch, from the very inputs and initial weights the C
 * code makes, and wrote reference.txt: the loss of each of 30 steps and the parameters after steps
 * 1 and 30.  Here tapegrad replays the same steps in float32 and must agree within
 *
 *     |tapegrad − reference| <= 1e-5 · max(1, |reference|)
 *
 * (absolute below 1, relative above: a BCE loss summed over 36 pixels is ~30).  Float32 rounding
 * over 30 steps stays under 1e-6 on these sizes (the largest ratio is printed as info), so the
 * bound has room; a changed definition (a loss averaged instead of summed, the penalty summed over
 * the batch, Adam's eps inside the square root, a wrong gradient in one route) moves the
 * trajectory by far more.
 *
 * If the problem itself changes (the synthetic images, an initializer, the variants' settings),
 * the checksums and settings recorded in reference.txt no longer match: the test says so, and the
 * reference is made again with make_reference.py. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/gradcheck.h"
#include "reference/problem.h"

#define REF_TOLERANCE 1e-5

/* ---- reading reference.txt ------------------------------------------------------------------ */

static char *read_reference(void)
{
    FILE *f = fopen(TG_REFERENCE_FILE, "rb");
    cr_assert_not_null(f, "cannot open %s", TG_REFERENCE_FILE);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    cr_assert_gt(size, 0);
    rewind(f);
    char *text = malloc((size_t)size + 1);
    cr_assert_not_null(text);
    cr_assert_eq(fread(text, 1, (size_t)size, f), (size_t)size);
    text[size] = '\0';
    fclose(f);
    return text;
}

/* The line after the one that starts with `prefix` (searched from `from`), or NULL; *line gets the
 * start of the matching line. */
static const char *find_line(const char *from, const char *prefix, const char **line)
{
    size_t n = strlen(prefix);
    for (const char *p = from; p && *p;) {
        if (strncmp(p, prefix, n) == 0) {
            *line = p;
            const char *eol = strchr(p, '\n');
            return eol ? eol + 1 : p + strlen(p);
        }
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    return NULL;
}

/* The number after "key=" on the line at `line`. */
static double keyed_number(const char *line, const char *key)
{
    const char *eol = strchr(line, '\n');
    const char *p = strstr(line, key);
    cr_assert(p && (!eol || p < eol), "no %s on the line %.60s", key, line);
    return strtod(p + strlen(key), NULL);
}

/* Reads `n` numbers following the line's `prefix` (e.g. "after 30 enc.weight 216"). */
static void read_numbers(const char *variant, const char *prefix, double *out, size_t n)
{
    const char *line;
    cr_assert_not_null(find_line(variant, prefix, &line), "reference.txt: no line '%s'", prefix);
    char *p = (char *)line + strlen(prefix), *end;
    for (size_t i = 0; i < n; i++, p = end) {
        out[i] = strtod(p, &end);
        cr_assert(end != p, "reference.txt: '%s' has fewer than %zu numbers", prefix, n);
    }
}

/* ---- comparing ----------------------------------------------------------------------------- */

typedef struct closeness {
    double worst_ratio; /* largest |got − want| / bound */
    char where[256];
} closeness;

static void compare(closeness *c, const char *what, const float *got, const double *want, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double bound = REF_TOLERANCE * fmax(1.0, fabs(want[i]));
        double ratio = fabs((double)got[i] - want[i]) / bound;
        if (!(ratio <= c->worst_ratio)) { /* NaN counts as the worst */
            c->worst_ratio = isnan(ratio) ? INFINITY : ratio;
            snprintf(c->where, sizeof c->where, "%s[%zu]: tapegrad %.9g, reference %.9g", what, i, (double)got[i],
                     want[i]);
        }
    }
}

static void compare_params(closeness *c, const ref_model *m, const char *variant, int step)
{
    for (int p = 0; p < m->n_params; p++) {
        const tg_tensor *t = &m->params[p]->value;
        char prefix[96], what[96];
        snprintf(prefix, sizeof prefix, "after %d %s %zu ", step, m->params[p]->name, t->size);
        snprintf(what, sizeof what, "step %d %s", step, m->params[p]->name);
        double *want = malloc(t->size * sizeof *want);
        cr_assert_not_null(want);
        read_numbers(variant, prefix, want, t->size);
        compare(c, what, t->data, want, t->size);
        free(want);
    }
}

/* ---- the replay ---------------------------------------------------------------------------- */

/* Where variant v's block starts in the reference text (after its "variant" line). */
static const char *variant_block(const char *text, const ref_variant *v)
{
    char head[128];
    snprintf(head, sizeof head, "variant %s\n", v->name);
    const char *line, *block = find_line(text, head, &line);
    cr_assert_not_null(block, "reference.txt has no variant %s: run tests/reference/make_reference.py", v->name);
    return block;
}

/* The recorded settings and initial-weight checksums must be this build's: otherwise the
 * reference is stale, not the library wrong. */
static void check_same_problem(const char *block, const ref_variant *v, const ref_model *m)
{
    char config[512], prefix[530];
    ref_config_line(v, config, sizeof config);
    snprintf(prefix, sizeof prefix, "config %s\n", config);
    const char *line;
    const char *found = find_line(block, "config ", &line);
    cr_assert(found && strncmp(line, prefix, strlen(prefix)) == 0,
              "%s: the settings in reference.txt differ from problem.h's (%s): run make_reference.py", v->name, config);
    double sum = 0.0, sumsq = 0.0;
    size_t n = 0;
    for (int p = 0; p < m->n_params; p++)
        for (size_t i = 0; i < m->params[p]->value.size; i++, n++) {
            sum += m->params[p]->value.data[i];
            sumsq += (double)m->params[p]->value.data[i] * m->params[p]->value.data[i];
        }
    cr_assert(find_line(block, "init ", &line));
    cr_assert(keyed_number(line, "n=") == (double)n && fabs(keyed_number(line, "sum=") - sum) <= 1e-9 * sumsq &&
                  fabs(keyed_number(line, "sumsq=") - sumsq) <= 1e-12 * sumsq,
              "%s: the initial weights differ from those reference.txt was made from (an initializer changed?): "
              "run make_reference.py", v->name);
}

static void replay(const ref_variant *v)
{
    static ref_data d;
    tg_error err = {0};
    cr_assert_eq(ref_data_load(&d, &err), TG_OK, "%s", err.msg);
    char *text = read_reference();
    const char *line;
    cr_assert(find_line(text, "problem ", &line), "reference.txt: no problem line");
    double x_sum = 0.0, x_sumsq = 0.0;
    for (size_t i = 0; i < REF_IMAGES * REF_D; i++) {
        x_sum += d.x[i];
        x_sumsq += (double)d.x[i] * d.x[i];
    }
    cr_assert(fabs(keyed_number(line, "x_sum=") - x_sum) <= 1e-12 * x_sumsq &&
                  fabs(keyed_number(line, "x_sumsq=") - x_sumsq) <= 1e-12 * x_sumsq,
              "the synthetic images differ from those reference.txt was made from: run make_reference.py");

    const char *block = variant_block(text, v);
    ref_model m;
    cr_assert_eq(ref_model_init(&m, v, &err), TG_OK, "%s: %s", v->name, err.msg);
    check_same_problem(block, v, &m);
    tg_optimizer opt;
    tg_opt_config oc = ref_opt_config(v);
    cr_assert_eq(tg_optim_init(&opt, &oc, m.params, m.n_params, &err), TG_OK, "%s", err.msg);
    tg_tape *tape = tg_tape_new(&err);
    cr_assert_not_null(tape);

    float losses[REF_STEPS];
    closeness c = {0};
    for (long s = 1; s <= REF_STEPS; s++) {
        tg_params_zero_grad(m.params, m.n_params);
        cr_assert_eq(ref_forward_backward(&m, tape, &d, s, &losses[s - 1], &err), TG_OK, "%s step %ld: %s", v->name,
                     s, err.msg);
        cr_assert_eq(tg_optim_step(&opt, &err), TG_OK, "%s step %ld: %s", v->name, s, err.msg);
        if (s == 1 || s == REF_STEPS)
            compare_params(&c, &m, block, (int)s);
    }
    double want[REF_STEPS];
    char prefix[32];
    snprintf(prefix, sizeof prefix, "loss %d ", REF_STEPS);
    read_numbers(block, prefix, want, REF_STEPS);
    compare(&c, "loss of step (from 0)", losses, want, REF_STEPS);

    cr_log_info("%-40s largest |difference| / bound = %.3f (%s)", v->name, c.worst_ratio, c.where);
    cr_expect_leq(c.worst_ratio, 1.0, "%s: %s, beyond 1e-5·max(1, |reference|)", v->name, c.where);
    tg_tape_free(tape);
    tg_optim_free(&opt);
    ref_model_free(&m);
    free(text);
}

ParameterizedTestParameters(reference, replay)
{
    static int index[REF_N_VARIANTS];
    for (int i = 0; i < REF_N_VARIANTS; i++)
        index[i] = i;
    return cr_make_param_array(int, index, REF_N_VARIANTS);
}

ParameterizedTest(int *i, reference, replay)
{
    replay(&ref_variants[*i]);
}

/* Every variant of reference.txt is one of problem.h's (a renamed or dropped variant leaves a stale
 * block behind otherwise), and the coverage: at least 14 CAE and 3 MLP variants, the Gram
 * route among them. */
Test(reference, covers_every_variant_and_no_other)
{
    char *text = read_reference();
    int cae = 0, mlp = 0, gram = 0, blocks = 0;
    for (int i = 0; i < REF_N_VARIANTS; i++) {
        const ref_variant *v = &ref_variants[i];
        variant_block(text, v);
        cae += v->model == REF_CAE;
        mlp += v->model == REF_MLP;
        gram += v->model == REF_CAE && !v->sigmoid_decoder && !v->bce &&
                tg_affine_mse_gram_pays(v->batch, REF_HIDDEN, REF_D);
    }
    for (const char *p = text; (p = strstr(p, "\nvariant ")); p++)
        blocks++;
    cr_assert_eq(blocks, REF_N_VARIANTS, "reference.txt has %d variants, problem.h %d", blocks, REF_N_VARIANTS);
    cr_assert_geq(cae, 14);
    cr_assert_geq(mlp, 3);
    cr_assert_geq(gram, 2, "variants through the Gram route: %d", gram);
    free(text);
}

/* ---- a gradient check where the Gram route is taken ------------------------------------------
 *
 * `cae gradcheck` checks batches of 4, where the decoder's loss is tg_affine_mse (explicit); the
 * Gram route (tg_affine_mse_gram) is taken from batch 64 on at this problem's 36 pixels and 6
 * hidden units.  So the whole CAE loss is checked here at that shape, untied and tied, through
 * cae_build as training builds it. */
typedef struct gram_check {
    cae_model *model;
    tg_tensor x;
    cae_terms terms;
} gram_check;

static tg_node *gram_check_loss(tg_tape *tape, void *ctx)
{
    gram_check *c = ctx;
    cae_graph g;
    cae_build(tape, c->model, tg_input(tape, &c->x), c->terms, &g);
    if (g.recon && tg_tape_grad_enabled(tape)) /* (the perturbed losses, without gradients, go through mse) */
        cr_assert_eq(g.recon->op, &tg_op_affine_mse_gram, "the reconstruction went through %s", g.recon->op->name);
    return g.loss;
}

static void gradcheck_gram_route(const ref_variant *v)
{
    static ref_data d;
    tg_error err = {0};
    cr_assert_eq(ref_data_load(&d, &err), TG_OK, "%s", err.msg);
    cr_assert(tg_affine_mse_gram_pays(v->batch, REF_HIDDEN, REF_D), "%s: batch %zu does not take the Gram route",
              v->name, v->batch);
    ref_model m;
    cr_assert_eq(ref_model_init(&m, v, &err), TG_OK, "%s", err.msg);
    gram_check c = {.model = &m.cae};
    /* non-zero biases: not a special point */
    tg_rng rng;
    tg_rng_seed(&rng, v->seed, 0x6c);
    tg_rng_fill_uniform(&rng, c.model->enc_b.value.data, REF_HIDDEN, -0.5f, 0.5f);
    tg_rng_fill_uniform(&rng, c.model->dec_b.value.data, REF_D, -0.2f, 0.2f);
    tg_tensor_wrap(&c.x, d.x, 2, (size_t[]){v->batch, REF_D}, NULL);
    tg_tape *tape = tg_tape_new(&err);
    cr_assert_not_null(tape);
    const tg_gradcheck_opts opts = {.eps = 1e-2, .floor = 1e-4, .max_per_param = 64, .seed = v->seed};
    for (int t = 0; t < 2; t++) {
        c.terms = t == 0 ? CAE_TERMS_RECON : CAE_TERMS_ALL;
        tg_gradcheck_result res;
        int rc = tg_gradcheck(tape, gram_check_loss, &c, c.model->params, c.model->n_params, &opts, &res, &err);
        cr_log_info("%s terms=%s: max_rel_err %.3g over %zu elements (largest gradient %.3g), %zu measured again",
                    v->name, t == 0 ? "recon" : "all", res.max_rel_err, res.checked, res.max_abs_grad, res.retried);
        cr_expect_eq(rc, TG_OK, "%s: %s", v->name, err.msg);
    }
    tg_tape_free(tape);
    ref_model_free(&m);
}

static const ref_variant *variant_named(const char *name)
{
    for (int i = 0; i < REF_N_VARIANTS; i++)
        if (strcmp(ref_variants[i].name, name) == 0)
            return &ref_variants[i];
    cr_assert_fail("no variant %s in problem.h", name);
    return NULL;
}

Test(reference, gradcheck_through_the_gram_route)
{
    gradcheck_gram_route(variant_named("cae_gram_sigmoid_linear_mse_adam"));
    gradcheck_gram_route(variant_named("cae_gram_tanh_linear_mse_tied_sgdm"));
}
