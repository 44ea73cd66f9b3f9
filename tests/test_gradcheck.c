/* tests/test_gradcheck.c — every registered op's backward against finite differences.
 *
 * The suite `gradcheck` has one test per line of autograd/ops.def, generated with the
 * registry's X-macro at the bottom of this file: an op without a gc_case_<name> function
 * below makes this file fail to compile.  Each case builds the op on parameters (so every
 * input's gradient is checked) over several seeded random shapes, reduces its output to a
 * scalar with a fixed random weighting (the `probe` op below) and runs tg_gradcheck with
 * tolerance 1e-2.  The suite `gradcheck_api` tests tg_gradcheck itself. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "autograd/gradcheck.h"
#include "autograd/fused/fused.h"
#include "autograd/ops.h"
#include "emulated.h"
#include "tensor/rng.h"

#define MAX_PARAMS 4
#define PROBE_MAX 4096
#define TOLERANCE 1e-2

/* ---- the probe: L = Σ_k y_k·w_k - offset, a test-only op written with op.h ------------------
 *
 * Fixed random weights w give every output element its own weight, so a gradient sent to the
 * wrong element (a transposed matmul, a swapped broadcast) cannot hide behind a uniform sum.
 * The constant offset is the probe's value at the unperturbed point: subtracting it (in
 * double, before rounding to float) keeps the probe's output near 0, where float resolves the
 * tiny differences of a finite-difference step.  A constant changes no gradient. */
typedef struct probe_weights {
    float w[PROBE_MAX];
    double offset; /* NAN until the first evaluation sets it */
} probe_weights;

/* The probe op's parameters: a user op's struct in the node (op.h). */
typedef struct probe_params {
    probe_weights *weights;
} probe_params;
TG_OP_PARAMS(probe_params)

static void probe_forward(tg_node *n)
{
    probe_weights *pw = probe_params_of(n).weights;
    const float *y = n->in[0]->value.data;
    double acc = 0.0;
    for (size_t k = 0; k < n->in[0]->value.size; k++)
        acc += (double)y[k] * pw->w[k];
    if (isnan(pw->offset))
        pw->offset = acc;
    n->value.data[0] = (float)(acc - pw->offset);
}

static void probe_backward(tg_node *n)
{
    const probe_weights *pw = probe_params_of(n).weights;
    if (tg_wants_grad(n->in[0]))
        for (size_t k = 0; k < n->in[0]->value.size; k++)
            n->in[0]->grad.data[k] += n->grad.data[0] * pw->w[k];
}

static const tg_op_def probe_def = {"probe", probe_forward, probe_backward};

static tg_node *probe(tg_tape *t, tg_node *y, probe_weights *pw)
{
    if (!tg_tape_check_inputs(t, "probe", 1, y))
        return NULL;
    cr_assert_leq(y->value.size, PROBE_MAX, "probe: output too large for the weights");
    tg_node *n = tg_tape_record(t, &probe_def, 1, &y, 1, (size_t[]){1});
    if (n)
        probe_params_set(n, (probe_params){pw});
    return tg_tape_forward(t, n);
}

/* ---- a case: params, op attributes, and how to apply the op --------------------------------- */

typedef struct gc_case gc_case;
typedef tg_node *(*gc_apply_fn)(tg_tape *t, gc_case *c, tg_node *const *in);

struct gc_case {
    char label[160];         /* what is being checked, for failure messages */
    const tg_op_def *expect; /* the op the outermost node must have recorded */
    gc_apply_fn apply;
    tg_param p[MAX_PARAMS];
    int n_params;
    tg_rng rng;
    /* op attributes */
    bool trans_a, trans_b;
    float factor;
    tg_activation act;
    tg_reduction red;
    int32_t labels[64];
    tg_tensor consts[2]; /* constant inputs of a case (freed by the case) */
    probe_weights probe;
};

static void gc_begin(gc_case *c, uint64_t seed)
{
    memset(c, 0, sizeof *c);
    tg_rng_seed(&c->rng, seed, 7);
}

/* A param of the given shape with values uniform in [lo, hi). */
static tg_param *gc_param(gc_case *c, const char *name, int ndim, const size_t *shape, float lo, float hi)
{
    cr_assert_lt(c->n_params, MAX_PARAMS);
    tg_param *p = &c->p[c->n_params];
    cr_assert_eq(tg_param_init(p, name, ndim, shape, NULL), TG_OK);
    tg_rng_fill_uniform(&c->rng, p->value.data, p->value.size, lo, hi);
    c->n_params++;
    return p;
}

static tg_param *gc_param2(gc_case *c, const char *name, size_t rows, size_t cols, float lo, float hi)
{
    return gc_param(c, name, 2, (size_t[]){rows, cols}, lo, hi);
}

/* Replaces p's values by ones with |v| in [margin, hi) and a random sign: away from a kink
 * at 0 by more than any step the check takes. */
static tg_param *away_from_zero(gc_case *c, tg_param *p, float margin, float hi)
{
    for (size_t k = 0; k < p->value.size; k++) {
        float v = margin + (hi - margin) * tg_rng_uniform(&c->rng);
        p->value.data[k] = tg_rng_uniform(&c->rng) < 0.5f ? -v : v;
    }
    return p;
}

static size_t gc_dim(gc_case *c, size_t lo, size_t hi) /* uniform in lo..hi */
{
    return lo + tg_rng_below(&c->rng, (uint32_t)(hi - lo + 1));
}

/* The largest side of the large trials, whose sides from 17 up cross every path's tile edges.
 * Under an emulator 24, not 40: a check's cost grows as the side's fifth power (elements times
 * the product's flops), and 17..24 still crosses NEON's 8×12 tile and its edges. */
static size_t gc_large_side(void) { return tg_test_emulated() ? 24 : 40; }

static tg_node *gc_loss(tg_tape *t, void *ctx)
{
    gc_case *c = ctx;
    tg_node *in[MAX_PARAMS] = {0};
    for (int i = 0; i < c->n_params; i++)
        in[i] = tg_param_leaf(t, &c->p[i]);
    tg_node *y = c->apply(t, c, in);
    if (y)
        cr_assert_eq(y->op, c->expect, "%s: recorded op %s, expected %s", c->label, y->op->name, c->expect->name);
    return probe(t, y, &c->probe);
}

/* ---- jvp::<op>: every op's tangent rule, on the same cases ------------------------------------
 *
 * The suite `jvp` has one test per line of ops.def too, generated below; each runs the op's
 * gc_case_<name> (its inputs, shapes and step, written once) with gc_run switched to jvp_run,
 * which moves every param of the case along a seeded random direction v and checks the tangent
 * tg_jvp_many records (autograd/jvp.h) three ways:
 *   1. against central differences of the forward, (y(θ + eps·v) - y(θ - eps·v)) / (2·eps);
 *   2. against the Jacobian built by backward passes, Σ_i J_i·v_i with the rows of each J_i from
 *      tg_jacobian(..., TG_JACOBIAN_ROWS): J·v = (Jᵀ)ᵀ·v;
 *   3. differentiated in turn: tg_gradcheck of the probe of the tangent, so the tangent nodes
 *      carry correct gradients (what Hessian-vector products and the penalties' gradients use).
 *      A tangent constant in θ (a linear op, a piecewise-constant derivative) has zero gradients,
 *      analytic and numeric, which the check reports as "every gradient is (near) zero": that
 *      counts as a pass. */
#include <stdlib.h>

#include "autograd/jvp.h"

static bool gc_jvp_mode; /* the tests of the `jvp` suite set it: gc_run runs jvp_run */

#define TG_OP(name, formula) static void gc_case_##name(void);
#include "autograd/ops.def"
#undef TG_OP

#define TG_OP(name, formula) \
    Test(jvp, name) { gc_jvp_mode = true; gc_case_##name(); }
#include "autograd/ops.def"
#undef TG_OP

typedef struct jvp_case {
    gc_case *c;
    tg_tensor v[MAX_PARAMS]; /* the direction of each param */
} jvp_case;

/* y = the case's op on its params (no probe), with the tangent Σ_i J_i·v_i when `tangent` */
static tg_node *jvp_build(tg_tape *t, jvp_case *j, tg_node **tangent)
{
    gc_case *c = j->c;
    tg_node *in[MAX_PARAMS] = {0}, *v[MAX_PARAMS] = {0};
    for (int i = 0; i < c->n_params; i++) {
        in[i] = tg_param_leaf(t, &c->p[i]);
        v[i] = tg_input(t, &j->v[i]);
    }
    tg_node *y = c->apply(t, c, in);
    if (tangent)
        *tangent = tg_jvp_many(t, y, c->n_params, in, v);
    return y;
}

static tg_node *jvp_probe_loss(tg_tape *t, void *ctx)
{
    jvp_case *j = ctx;
    tg_node *tangent = NULL;
    jvp_build(t, j, &tangent);
    /* + 0·Σθ_0: the loss depends on a param even when the tangent does not (a linear op's), so the
     * check runs, and a tangent that wrongly ignores θ (a value copied into a constant) fails */
    tg_node *anchor = tg_scale(t, tg_sum(t, tg_tape_node(t, 0)), 0.0f);
    return tg_add(t, probe(t, tangent, &j->c->probe), anchor);
}

/* y(θ + s·v) into out */
static void jvp_shifted(tg_tape *t, jvp_case *j, double s, float *out, size_t size)
{
    gc_case *c = j->c;
    float *keep[MAX_PARAMS];
    for (int i = 0; i < c->n_params; i++) {
        keep[i] = malloc(c->p[i].value.size * sizeof(float));
        memcpy(keep[i], c->p[i].value.data, c->p[i].value.size * sizeof(float));
        for (size_t k = 0; k < c->p[i].value.size; k++)
            c->p[i].value.data[k] = (float)((double)keep[i][k] + s * j->v[i].data[k]);
    }
    tg_tape_reset(t);
    tg_node *y = jvp_build(t, j, NULL);
    cr_assert_not_null(y, "%s: %s", c->label, tg_tape_error(t));
    memcpy(out, y->value.data, size * sizeof(float));
    for (int i = 0; i < c->n_params; i++) {
        memcpy(c->p[i].value.data, keep[i], c->p[i].value.size * sizeof(float));
        free(keep[i]);
    }
}

/* max_k |a_k - b_k| over max(max |a|, max |b|, floor), after an absolute allowance `noise` */
static double jvp_rel_err(const float *a, const float *b, size_t n, double noise, size_t *worst)
{
    double scale = 1e-3, err = 0.0;
    for (size_t k = 0; k < n; k++)
        scale = fmax(scale, fmax(fabs(a[k]), fabs(b[k])));
    for (size_t k = 0; k < n; k++) {
        double e = fmax(0.0, fabs((double)a[k] - (double)b[k]) - noise) / scale;
        if (e > err)
            err = e, *worst = k;
    }
    return err;
}

/* 1: the tangent against central differences of y at steps eps, eps/4, eps/16, and Richardson's
 * extrapolation (16·D(h/4) - D(h))/15 of each pair, which cancels the h² term; the best of them
 * counts (as gradcheck's retries: a wrong rule is wrong at every step).  The cases' steps are
 * chosen for one element at a time; along v every param moves at once, so y can be of a higher
 * degree in the step (affine_mse: quartic), and the shorter steps are there for that. */
static void jvp_check_differences(tg_tape *t, jvp_case *j, const float *jv, size_t size, double eps)
{
    float *up = malloc(size * sizeof(float)), *down = malloc(size * sizeof(float));
    float *fd = malloc(size * sizeof(float)), *prev = malloc(size * sizeof(float)), *rich = malloc(size * sizeof(float));
    double best = INFINITY, prev_noise = 0.0;
    size_t worst = 0;
    const float *worst_fd = fd;
    float y_max = 0.0f;
    for (int s = 0; s < 3 && best > TOLERANCE; s++) {
        double h = eps / (double)(1 << (2 * s));
        jvp_shifted(t, j, h, up, size);
        jvp_shifted(t, j, -h, down, size);
        for (size_t k = 0; k < size; k++) {
            fd[k] = (float)(((double)up[k] - (double)down[k]) / (2 * h));
            y_max = fmaxf(y_max, fmaxf(fabsf(up[k]), fabsf(down[k])));
        }
        double noise = 8.0 * ((double)nextafterf(y_max, INFINITY) - (double)y_max) / (2 * h);
        size_t at = 0;
        double e = jvp_rel_err(jv, fd, size, noise, &at);
        if (e < best)
            best = e, worst = at, worst_fd = fd;
        if (s > 0) {
            for (size_t k = 0; k < size; k++)
                rich[k] = (float)((16.0 * fd[k] - prev[k]) / 15.0);
            e = jvp_rel_err(jv, rich, size, (16.0 * noise + prev_noise) / 15.0, &at);
            if (e < best)
                best = e, worst = at, worst_fd = rich;
        }
        memcpy(prev, fd, size * sizeof(float));
        prev_noise = noise;
    }
    cr_assert_leq(best, TOLERANCE, "%s: tangent vs central differences: element %zu: %g vs %g (rel err %.3g)",
                  j->c->label, worst, (double)jv[worst], (double)worst_fd[worst], best);
    free(up), free(down), free(fd), free(prev), free(rich);
}

/* 2: the tangent against Σ_i J_i·v_i, the J_i built row by row by backward passes */
static void jvp_check_rows(tg_tape *t, jvp_case *j, const float *jv, size_t size)
{
    gc_case *c = j->c;
    tg_tape_reset(t);
    tg_node *y = jvp_build(t, j, NULL); /* the nodes at the same positions (dropout's mask depends on them) */
    cr_assert_not_null(y, "%s: %s", c->label, tg_tape_error(t));
    tg_node *in[MAX_PARAMS] = {0};
    for (int i = 0; i < c->n_params; i++)
        in[i] = tg_tape_node(t, 2 * i); /* jvp_build records each param's leaf, then its direction */
    double *acc = calloc(size, sizeof(double));
    for (int i = 0; i < c->n_params; i++) {
        tg_tensor J = {0};
        tg_error err = {0};
        if (!y->requires_grad)
            break;
        cr_assert_eq(tg_jacobian(t, y, in[i], TG_JACOBIAN_ROWS, &J, &err), TG_OK, "%s: %s", c->label, err.msg);
        size_t D = c->p[i].value.size;
        for (size_t r = 0; r < size; r++)
            for (size_t k = 0; k < D; k++)
                acc[r] += (double)J.data[r * D + k] * j->v[i].data[k];
        tg_tensor_free(&J);
    }
    float *rows = malloc(size * sizeof(float));
    for (size_t r = 0; r < size; r++)
        rows[r] = (float)acc[r];
    size_t worst = 0;
    double err = jvp_rel_err(jv, rows, size, 0.0, &worst);
    cr_assert_leq(err, 1e-4, "%s: tangent vs the rows of J built by backward passes: element %zu: %g vs %g (%.3g)",
                  c->label, worst, (double)jv[worst], (double)rows[worst], err);
    free(rows), free(acc);
}

/* 3: the tangent's own gradients (reverse over forward) against finite differences */
static void jvp_check_second_order(tg_tape *t, jvp_case *j, double eps)
{
    gc_case *c = j->c;
    tg_rng_fill_uniform(&c->rng, c->probe.w, PROBE_MAX, -1.0f, 1.0f);
    c->probe.offset = NAN;
    tg_param *params[MAX_PARAMS] = {&c->p[0], &c->p[1], &c->p[2], &c->p[3]};
    tg_gradcheck_opts opts = {.eps = eps, .tolerance = TOLERANCE};
    tg_gradcheck_result res;
    tg_error err = {0};
    int rc = tg_gradcheck(t, jvp_probe_loss, j, params, c->n_params, &opts, &res, &err);
    bool linear = rc == TG_ERR_NUMERIC && strstr(err.msg, "every gradient is (near) zero");
    cr_assert(rc == TG_OK || linear, "%s: the tangent's gradient: %s", c->label, err.msg);
}

static void jvp_run(gc_case *c, double eps)
{
    jvp_case j = {.c = c};
    tg_rng rng;
    tg_rng_seed(&rng, 0x6a7670, (uint64_t)c->n_params); /* "jvp" */
    for (int i = 0; i < c->n_params; i++) {
        cr_assert_eq(tg_tensor_create(&j.v[i], c->p[i].value.ndim, c->p[i].value.shape, NULL), TG_OK);
        tg_rng_fill_uniform(&rng, j.v[i].data, j.v[i].size, -1.0f, 1.0f);
    }
    tg_tape *t = tg_tape_new(NULL);
    tg_node *tangent = NULL;
    tg_node *y = jvp_build(t, &j, &tangent);
    cr_assert(y && tangent, "%s: %s", c->label, tg_tape_error(t));
    cr_assert(tg_tensor_same_shape(&y->value, &tangent->value), "%s: the tangent's shape is not y's", c->label);
    size_t size = y->value.size;
    float *jv = malloc(size * sizeof(float));
    memcpy(jv, tangent->value.data, size * sizeof(float));

    jvp_check_differences(t, &j, jv, size, eps);
    jvp_check_rows(t, &j, jv, size);
    jvp_check_second_order(t, &j, eps);
    cr_log_info("%-44s tangent checked (%zu elements)", c->label, size);

    free(jv);
    tg_tape_free(t);
    for (int i = 0; i < c->n_params; i++) {
        tg_tensor_free(&j.v[i]);
        tg_param_free(&c->p[i]);
    }
}

/* Checks every element of every param, then frees the params. */
static void gc_run(gc_case *c, double eps)
{
    if (gc_jvp_mode) {
        jvp_run(c, eps);
        return;
    }
    tg_rng_fill_uniform(&c->rng, c->probe.w, PROBE_MAX, -1.0f, 1.0f);
    c->probe.offset = NAN;
    tg_tape *t = tg_tape_new(NULL);
    cr_assert_not_null(t);
    tg_param *params[MAX_PARAMS] = {&c->p[0], &c->p[1], &c->p[2], &c->p[3]};
    size_t total = 0;
    for (int i = 0; i < c->n_params; i++)
        total += c->p[i].value.size;

    tg_gradcheck_opts opts = {.eps = eps, .tolerance = TOLERANCE};
    tg_gradcheck_result res;
    tg_error err = {0};
    int rc = tg_gradcheck(t, gc_loss, c, params, c->n_params, &opts, &res, &err);
    cr_assert_eq(rc, TG_OK, "%s: %s", c->label, err.msg);
    cr_assert_eq(res.checked, total, "%s: checked %zu of %zu elements", c->label, res.checked, total);
    cr_log_info("%-44s max rel err %.2e over %zu elements", c->label, res.max_rel_err, res.checked);

    tg_tape_free(t);
    for (int i = 0; i < c->n_params; i++)
        tg_param_free(&c->p[i]);
}

/* ---- matmul: one op per transpose combination ------------------------------------------------ */

static tg_node *apply_matmul(tg_tape *t, gc_case *c, tg_node *const *in)
{
    return tg_matmul(t, in[0], in[1], c->trans_a, c->trans_b);
}

/* op(A) [M,K] · op(B) [K,N], each stored as the transpose flag says.  The last trial is large
 * enough (17..gc_large_side()) for tg_gemm's vector kernels, not just its edge handling. */
static void gc_matmul(bool trans_a, bool trans_b, const tg_op_def *expect)
{
    for (int trial = 0; trial < 5; trial++) {
        gc_case c;
        gc_begin(&c, 100 + (uint64_t)trial);
        size_t lo = trial == 4 ? 17 : 1, hi = trial == 4 ? gc_large_side() : 6;
        size_t M = gc_dim(&c, lo, hi), K = gc_dim(&c, lo, hi), N = gc_dim(&c, lo, hi);
        c.trans_a = trans_a;
        c.trans_b = trans_b;
        c.expect = expect;
        c.apply = apply_matmul;
        gc_param2(&c, "A", trans_a ? K : M, trans_a ? M : K, -1.0f, 1.0f);
        gc_param2(&c, "B", trans_b ? N : K, trans_b ? K : N, -1.0f, 1.0f);
        snprintf(c.label, sizeof c.label, "%s M=%zu K=%zu N=%zu", expect->name, M, K, N);
        gc_run(&c, 0.5); /* linear in each element: the difference is exact for any step, and a
                              large one shrinks the rounding noise (measured: 4.5e-3 -> 1.3e-3) */
    }
}

static void gc_case_matmul_nn(void) { gc_matmul(false, false, &tg_op_matmul_nn); }
static void gc_case_matmul_nt(void) { gc_matmul(false, true, &tg_op_matmul_nt); }
static void gc_case_matmul_tn(void) { gc_matmul(true, false, &tg_op_matmul_tn); }
static void gc_case_matmul_tt(void) { gc_matmul(true, true, &tg_op_matmul_tt); }

/* ---- affine: X·W + b and X·Wᵀ + b, with a 1-D and a [1,N] bias ------------------------------
 *
 * The last trials make each input's gradient arrive from two places, so an affine backward that
 * wrote (=) instead of adding (+=) would fail: X, W and b also feed adds after the affine (its
 * gradient then lands second), and X·X + b uses one node as both operands.  The two after them
 * give X mostly zeros, so the products that read X take the zero-skipping path. */

static tg_node *apply_affine(tg_tape *t, gc_case *c, tg_node *const *in)
{
    return tg_affine(t, in[0], in[1], in[2], c->trans_b);
}

/* affine(X, W, b) + X + W + b, all [n,n] (b a row): every input's gradient has two sources. */
static tg_node *apply_affine_shared(tg_tape *t, gc_case *c, tg_node *const *in)
{
    tg_node *y = tg_affine(t, in[0], in[1], in[2], c->trans_b);
    return tg_add(t, tg_add(t, tg_add(t, y, in[0]), in[1]), in[2]);
}

/* affine(X, X, b): one node as input and weight. */
static tg_node *apply_affine_self(tg_tape *t, gc_case *c, tg_node *const *in)
{
    return tg_affine(t, in[0], in[0], in[1], c->trans_b);
}

static void gc_case_affine(void)
{
    for (int trial = 0; trial < 12; trial++) {
        gc_case c;
        gc_begin(&c, 150 + (uint64_t)trial);
        size_t lo = trial >= 4 ? 17 : 1, hi = trial >= 4 ? gc_large_side() : 6;
        size_t M = gc_dim(&c, lo, hi), K = gc_dim(&c, lo, hi), N = gc_dim(&c, lo, hi);
        const char *kind = "";
        c.trans_b = trial % 2 == 1 && trial < 10;
        c.expect = &tg_op_affine;
        c.apply = apply_affine;
        if (trial >= 6 && trial < 10) { /* square: M = K = N */
            M = K = N = gc_dim(&c, 3, 8);
            kind = trial < 8 ? " + X + W + b" : " (X as W)";
            c.apply = trial < 8 ? apply_affine_shared : apply_affine_self;
            if (trial < 8)
                c.expect = &tg_op_add;
        }
        tg_param *x = gc_param2(&c, "X", M, K, -1.0f, 1.0f);
        if (trial >= 10) { /* mostly zeros, like images: X·W and Xᵀ·dY skip them */
            kind = " (X 70% zeros)";
            for (size_t k = 0; k < x->value.size; k++)
                if (tg_rng_uniform(&c.rng) < 0.7f)
                    x->value.data[k] = 0.0f;
        }
        if (trial < 8 || trial >= 10)
            gc_param2(&c, "W", c.trans_b ? N : K, c.trans_b ? K : N, -1.0f, 1.0f);
        if (trial % 4 < 2)
            gc_param(&c, "b", 1, (size_t[]){N}, -1.0f, 1.0f);
        else
            gc_param2(&c, "b", 1, N, -1.0f, 1.0f);
        snprintf(c.label, sizeof c.label, "affine%s%s M=%zu K=%zu N=%zu", c.trans_b ? " (Wᵀ)" : "", kind, M, K, N);
        gc_run(&c, 0.5); /* linear in X, W and b separately, quadratic in X as W: central
                              differences are exact for both, whatever the step */
    }
}

/* ---- add, sub, mul: same shape, broadcast row [1,N], 1-D row [N], 3-D a, and (x, x) -------- */

static tg_node *apply_binary(tg_tape *t, gc_case *c, tg_node *const *in)
{
    tg_node *b = c->n_params == 1 ? in[0] : in[1]; /* one param: the op applied to (x, x) */
    if (c->expect == &tg_op_add)
        return tg_add(t, in[0], b);
    if (c->expect == &tg_op_sub)
        return tg_sub(t, in[0], b);
    return tg_mul(t, in[0], b);
}

static void gc_binary(const tg_op_def *op)
{
    enum { SAME, ROW, ROW_1D, A_3D, SELF, N_FORMS };
    static const char *const form_name[N_FORMS] = {"same shape", "row [1,N]", "row [N]", "a 3-D", "(x, x)"};
    for (int form = 0; form < N_FORMS; form++) {
        if (form == SELF && op == &tg_op_sub)
            continue; /* x - x is constant: nothing to check (the check would refuse it) */
        for (int trial = 0; trial < 2; trial++) {
            gc_case c;
            gc_begin(&c, 200 + (uint64_t)(10 * form + trial));
            size_t M = gc_dim(&c, 1, 5), N = gc_dim(&c, 1, 5);
            c.expect = op;
            c.apply = apply_binary;
            if (form == A_3D) {
                gc_param(&c, "a", 3, (size_t[]){M, 2, N}, -1.0f, 1.0f);
                gc_param(&c, "b", 3, (size_t[]){1, 2, N}, -1.0f, 1.0f); /* a row in the 2-D reading */
            } else {
                gc_param2(&c, "a", M, N, -1.0f, 1.0f);
                if (form == SAME)
                    gc_param2(&c, "b", M, N, -1.0f, 1.0f);
                else if (form == ROW)
                    gc_param2(&c, "b", 1, N, -1.0f, 1.0f);
                else if (form == ROW_1D)
                    gc_param(&c, "b", 1, (size_t[]){N}, -1.0f, 1.0f);
            }
            snprintf(c.label, sizeof c.label, "%s %s M=%zu N=%zu", op->name, form_name[form], M, N);
            gc_run(&c, 1e-1); /* linear or quadratic in each element: the difference is exact */
        }
    }
}

/* ---- the two-input ops (add, sub, mul, div, max, min) in broadcasts of 3 and 4 dimensions -----
 *
 * Shapes aligned from the right that are none of the 2-D forms (y's shape, a row, a column, a
 * scalar), so the general walk of ops_broadcast.c computes them: b repeated along y's first and
 * last dimensions, both operands repeated, a of fewer dimensions, four dimensions with repeats
 * on both sides.  div's b is in ±[0.5, 1.5); for max and min a's values are odd multiples of 0.1
 * and b's even ones, so no pair they compare is closer than 0.1 (no kink within a step). */
static const struct {
    int a_ndim, b_ndim;
    size_t a[4], b[4];
} nd_forms[] = {
    {3, 2, {2, 3, 4}, {3, 1}},       /* -> [2,3,4] */
    {3, 2, {2, 1, 4}, {3, 1}},       /* -> [2,3,4] */
    {1, 3, {4}, {2, 3, 4}},          /* -> [2,3,4] */
    {3, 3, {3, 1, 5}, {1, 4, 1}},    /* -> [3,4,5] */
    {4, 3, {2, 1, 3, 1}, {4, 1, 5}}, /* -> [2,4,3,5] */
};

static tg_node *apply_nd(tg_tape *t, gc_case *c, tg_node *const *in)
{
    const tg_op_def *op = c->expect;
    tg_node *(*f)(tg_tape *, tg_node *, tg_node *) = op == &tg_op_add ? tg_add : op == &tg_op_sub ? tg_sub
                                                    : op == &tg_op_mul ? tg_mul : op == &tg_op_div ? tg_div
                                                    : op == &tg_op_max ? tg_max : tg_min;
    return f(t, in[0], in[1]);
}

/* p's values rounded to multiples of 0.2, plus `shift` */
static void on_grid(tg_param *p, float shift)
{
    for (size_t k = 0; k < p->value.size; k++)
        p->value.data[k] = 0.2f * roundf(p->value.data[k] / 0.2f) + shift;
}

static void gc_broadcast_nd(const tg_op_def *op)
{
    for (size_t form = 0; form < sizeof nd_forms / sizeof nd_forms[0]; form++) {
        gc_case c;
        gc_begin(&c, 900 + (uint64_t)form);
        tg_param *a = gc_param(&c, "a", nd_forms[form].a_ndim, nd_forms[form].a, -1.0f, 1.0f);
        tg_param *b = gc_param(&c, "b", nd_forms[form].b_ndim, nd_forms[form].b, -1.0f, 1.0f);
        if (op == &tg_op_div)
            away_from_zero(&c, b, 0.5f, 1.5f);
        if (op == &tg_op_max || op == &tg_op_min) {
            on_grid(a, 0.1f);
            on_grid(b, 0.0f);
        }
        c.expect = op;
        c.apply = apply_nd;
        char sa[64], sb[64];
        snprintf(c.label, sizeof c.label, "%s %s and %s", op->name, tg_tensor_shape_str(sa, sizeof sa, &a->value),
                 tg_tensor_shape_str(sb, sizeof sb, &b->value));
        gc_run(&c, op == &tg_op_div ? 1e-2 : 5e-2);
    }
}

static void gc_case_add(void) { gc_binary(&tg_op_add); gc_broadcast_nd(&tg_op_add); }
static void gc_case_sub(void) { gc_binary(&tg_op_sub); gc_broadcast_nd(&tg_op_sub); }
static void gc_case_mul(void) { gc_binary(&tg_op_mul); gc_broadcast_nd(&tg_op_mul); }

/* ---- one-input ops ------------------------------------------------------------------------ */

static tg_node *apply_unary(tg_tape *t, gc_case *c, tg_node *const *in)
{
    const tg_op_def *op = c->expect;
    if (op == &tg_op_scale)
        return tg_scale(t, in[0], c->factor);
    if (op == &tg_op_sum)
        return tg_sum(t, in[0]);
    if (op == &tg_op_mean)
        return tg_mean(t, in[0]);
    if (op == &tg_op_square)
        return tg_square(t, in[0]);
    if (op == &tg_op_exp)
        return tg_exp(t, in[0]);
    if (op == &tg_op_log)
        return tg_log(t, in[0]);
    return tg_activate(t, in[0], c->act); /* the activations: c->act says which */
}

/* Several shapes of x, values uniform in [lo, hi), or away from 0 by `margin` when margin > 0.
 * The last trial is wide (70 columns) to cross the 64-column blocks of the reductions. */
static void gc_unary_of(const tg_op_def *op, tg_activation act, float lo, float hi, float margin, double eps)
{
    for (int trial = 0; trial < 4; trial++) {
        gc_case c;
        gc_begin(&c, 300 + (uint64_t)trial);
        c.act = act;
        size_t M = gc_dim(&c, 1, 6), N = trial == 3 ? 70 : gc_dim(&c, 1, 6);
        c.expect = op;
        c.apply = apply_unary;
        c.factor = (tg_rng_uniform(&c.rng) < 0.5f ? -1.0f : 1.0f) * (0.5f + tg_rng_uniform(&c.rng));
        tg_param *x = trial == 1 ? gc_param(&c, "x", 1, (size_t[]){N}, lo, hi) /* 1-D: one row */
                                 : gc_param2(&c, "x", M, N, lo, hi);
        if (margin > 0.0f)
            away_from_zero(&c, x, margin, hi);
        char s[64], a[48];
        if (act.kind == TG_ACT_COUNT)
            snprintf(a, sizeof a, "%s", op->name);
        else
            tg_activation_format(act, a, sizeof a);
        snprintf(c.label, sizeof c.label, "%s x %s", a, tg_tensor_shape_str(s, sizeof s, &c.p[0].value));
        gc_run(&c, eps);
    }
}

static void gc_unary(const tg_op_def *op, float lo, float hi, float margin, double eps)
{
    gc_unary_of(op, (tg_activation){TG_ACT_COUNT, 0.0f}, lo, hi, margin, eps);
}

/* The parameters an activation is checked with: its default, and 1.7 for those that take one
 * (far from every default, so a rule that drops or misplaces the parameter fails). */
static tg_activation activation_under_test(tg_activation_kind kind, int variant)
{
    tg_activation act = tg_activation_of(kind);
    if (variant == 1)
        act.param = 1.7f;
    return act;
}
static int activation_variants(tg_activation_kind kind) { return tg_activation_param_name(kind) ? 2 : 1; }

/* The op an activation kind records (its name is the kind's: the registry makes both). */
static const tg_op_def *activation_op(tg_activation act)
{
    tg_tape *tape = tg_tape_new(NULL);
    tg_tensor one = {0};
    cr_assert_eq(tg_tensor_zeros2(&one, 1, 1, NULL), TG_OK);
    tg_node *y = tg_activate(tape, tg_input(tape, &one), act);
    cr_assert(y, "%s: %s", tg_activation_name(act.kind), tg_tape_error(tape));
    const tg_op_def *op = y->op;
    cr_assert_str_eq(op->name, tg_activation_name(act.kind));
    tg_tape_free(tape);
    tg_tensor_free(&one);
    return op;
}

/* An activation op on x in [lo, hi); where f' jumps (relu's kink), |x| >= 0.1 so that x ± eps
 * never crosses it. */
static void gc_activation(tg_activation_kind kind, float lo, float hi, double eps)
{
    for (int variant = 0; variant < activation_variants(kind); variant++) {
        tg_activation act = activation_under_test(kind, variant);
        gc_unary_of(activation_op(act), act, lo, hi, tg_activation_has_kink(kind) ? 0.1f : 0.0f, eps);
    }
}

/* Linear ops: eps 0.1 (the difference is exact; a larger step only shrinks rounding noise). */
static void gc_case_scale(void) { gc_unary(&tg_op_scale, -2.0f, 2.0f, 0.0f, 1e-1); }
static void gc_case_sum(void) { gc_unary(&tg_op_sum, -2.0f, 2.0f, 0.0f, 1e-1); }
static void gc_case_mean(void) { gc_unary(&tg_op_mean, -2.0f, 2.0f, 0.0f, 1e-1); }
static void gc_case_square(void) { gc_unary(&tg_op_square, -2.0f, 2.0f, 0.0f, 1e-1); }
/* Smooth ops: eps 1e-2 (truncation error ~eps², far below the tolerance). */
static void gc_case_exp(void) { gc_unary(&tg_op_exp, -2.0f, 2.0f, 0.0f, 1e-2); }
static void gc_case_log(void) { gc_unary(&tg_op_log, 0.5f, 3.0f, 0.0f, 1e-2); } /* away from 0 */
/* ---- ops whose backward assigns a gradient nothing has written yet (sigmoid, mse, penalty) --
 *
 * Such a backward assigns (=) a first write and adds otherwise.  With param inputs it always
 * adds; these cases give the op intermediates (2P, T/2: their gradients are the tape's), alone,
 * and with 2P's gradient also coming through mean, recorded after the op (its backward runs
 * first: the op must add) or before (the op writes first: mean adds). */
enum { FIRST_WRITE_ALONE, FIRST_WRITE_THEN_MEAN, MEAN_THEN_FIRST_WRITE, FIRST_WRITE_KINDS };

/* The three kinds on P (and T when `with_target`) [M,N] in [lo, hi), seeds seed.. */
static void gc_first_write_kinds(const tg_op_def *op, gc_apply_fn apply, const char *const kind_name[FIRST_WRITE_KINDS],
                                 bool with_target, uint64_t seed, float lo, float hi, double eps)
{
    for (int kind = 0; kind < FIRST_WRITE_KINDS; kind++) {
        gc_case c;
        gc_begin(&c, seed + (uint64_t)kind);
        size_t M = gc_dim(&c, 2, 6), N = gc_dim(&c, 2, 6);
        c.factor = (float)kind;
        c.red = TG_REDUCE_MEAN;
        c.expect = kind == FIRST_WRITE_ALONE ? op : &tg_op_add;
        c.apply = apply;
        gc_param2(&c, "P", M, N, lo, hi);
        if (with_target)
            gc_param2(&c, "T", M, N, lo, hi);
        snprintf(c.label, sizeof c.label, "%s [%zu,%zu]", kind_name[kind], M, N);
        gc_run(&c, eps);
    }
}

/* (sigmoid's parallel chunks, 4096 elements, are tested in test_tape.c: a sum over that many
 * outputs drowns a finite difference in the loss's rounding) */

static tg_node *apply_sigmoid_of_intermediate(tg_tape *t, gc_case *c, tg_node *const *in)
{
    tg_node *p2 = tg_scale(t, in[0], 2.0f);
    switch ((int)c->factor) {
    case FIRST_WRITE_THEN_MEAN: {
        tg_node *s = tg_sum(t, tg_sigmoid(t, p2));
        return tg_add(t, s, tg_mean(t, p2));
    }
    case MEAN_THEN_FIRST_WRITE: {
        tg_node *mean = tg_mean(t, p2);
        return tg_add(t, mean, tg_sum(t, tg_sigmoid(t, p2)));
    }
    default:
        return tg_sigmoid(t, p2);
    }
}

static void gc_case_sigmoid(void)
{
    gc_activation(TG_ACT_SIGMOID, -4.0f, 4.0f, 1e-2);
    static const char *const kind_name[] = {"sigmoid(2P)", "sum sigmoid(2P) + mean(2P)", "mean(2P) + sum sigmoid(2P)"};
    gc_first_write_kinds(&tg_op_sigmoid, apply_sigmoid_of_intermediate, kind_name, false, 460, -2.0f, 2.0f, 1e-2);
}
static void gc_case_tanh(void) { gc_activation(TG_ACT_TANH, -2.5f, 2.5f, 1e-2); }
static void gc_case_softplus(void) { gc_activation(TG_ACT_SOFTPLUS, -4.0f, 4.0f, 1e-2); }
static void gc_case_relu(void) { gc_activation(TG_ACT_RELU, -2.0f, 2.0f, 1e-2); }
static void gc_case_leaky_relu(void) { gc_activation(TG_ACT_LEAKY_RELU, -2.0f, 2.0f, 1e-2); }
static void gc_case_elu(void) { gc_activation(TG_ACT_ELU, -3.0f, 2.0f, 1e-2); }

/* ---- shapes and constants: reshape, slice, concat, transpose, const, scalar ops, broadcasting --
 *
 * A shape_case is a gc_case (its first member, so the apply functions get it back from the
 * gc_case pointer) with the shape ops' own attributes.  Each op is also checked where its input's
 * gradient has two sources (two slices of x, concat(x, x), ...): a backward that wrote (=)
 * instead of adding would fail.  Every case is linear or quadratic in each element: the central
 * difference is exact for any step, so eps is large (it only shrinks the rounding noise). */

typedef struct shape_case {
    gc_case c;
    int dim, variant;
    size_t start, length;
    int ndim;
    size_t shape[TG_MAX_DIMS];
} shape_case;

/* A param of `ndim` random dimensions in 1..hi. */
static tg_param *gc_param_dims(gc_case *c, const char *name, int ndim, size_t hi, size_t shape[TG_MAX_DIMS])
{
    for (int d = 0; d < ndim; d++)
        shape[d] = gc_dim(c, 1, hi);
    return gc_param(c, name, ndim, shape, -1.0f, 1.0f);
}

static tg_node *apply_reshape(tg_tape *t, gc_case *c, tg_node *const *in)
{
    const shape_case *s = (const shape_case *)c;
    if (s->variant == 1) /* x through two reshapes, added: two sources for x's gradient */
        return tg_add(t, tg_reshape(t, in[0], s->ndim, s->shape),
                      tg_reshape(t, tg_scale(t, in[0], 2.0f), s->ndim, s->shape));
    return tg_reshape(t, in[0], s->ndim, s->shape);
}

/* [M,N] -> [M·N], [N,M] (not a transpose: the order is kept), [M,1,N] and back from 3-D. */
static void gc_case_reshape(void)
{
    for (int trial = 0; trial < 5; trial++) {
        shape_case s = {0};
        gc_begin(&s.c, 600 + (uint64_t)trial);
        size_t x_shape[TG_MAX_DIMS];
        tg_param *x = gc_param_dims(&s.c, "x", trial == 3 ? 3 : 2, 6, x_shape);
        size_t size = x->value.size, M = x_shape[0], N = size / M;
        s.c.expect = &tg_op_reshape;
        s.c.apply = apply_reshape;
        s.ndim = trial == 2 ? 3 : trial == 0 ? 1 : 2;
        size_t shapes[5][3] = {{size}, {N, M}, {M, 1, N}, {M, N}, {N, M}};
        memcpy(s.shape, shapes[trial], sizeof shapes[trial]);
        if (trial == 4) {
            s.variant = 1;
            s.c.expect = &tg_op_add;
        }
        char a[64], b[64];
        snprintf(s.c.label, sizeof s.c.label, "reshape %s -> %s%s", tg_tensor_shape_str(a, sizeof a, &x->value),
                 tg_shape_str(b, sizeof b, s.ndim, s.shape), s.variant ? " (twice, added)" : "");
        gc_run(&s.c, 0.5);
    }
}

static tg_node *apply_slice(tg_tape *t, gc_case *c, tg_node *const *in)
{
    const shape_case *s = (const shape_case *)c;
    tg_node *y = tg_slice(t, in[0], s->dim, s->start, s->length);
    if (s->variant == 1) /* a second slice of x over the same range, added */
        return tg_add(t, y, tg_slice(t, tg_scale(t, in[0], -3.0f), s->dim, s->start, s->length));
    return y;
}

/* Every dimension of 1-D, 2-D (rows, columns) and 3-D x, at a random start and length. */
static void gc_case_slice(void)
{
    static const struct { int ndim, dim; } form[] = {{1, 0}, {2, 0}, {2, 1}, {3, 0}, {3, 1}, {3, 2}, {4, 3}};
    enum { N_FORMS = sizeof form / sizeof form[0] };
    for (int trial = 0; trial < N_FORMS + 2; trial++) { /* then two 3-D ones at a random dimension */
        shape_case s = {0};
        gc_begin(&s.c, 620 + (uint64_t)trial);
        int ndim = trial < N_FORMS ? form[trial].ndim : 3;
        size_t shape[TG_MAX_DIMS];
        tg_param *x = gc_param_dims(&s.c, "x", ndim, 6, shape);
        s.dim = trial < N_FORMS ? form[trial].dim : (int)gc_dim(&s.c, 0, 2);
        size_t D = shape[s.dim];
        s.start = gc_dim(&s.c, 0, D - 1);
        s.length = gc_dim(&s.c, 1, D - s.start);
        s.variant = trial == N_FORMS + 1;
        s.c.expect = s.variant ? &tg_op_add : &tg_op_slice;
        s.c.apply = apply_slice;
        char a[64];
        snprintf(s.c.label, sizeof s.c.label, "slice %s dim %d [%zu,+%zu)%s",
                 tg_tensor_shape_str(a, sizeof a, &x->value), s.dim, s.start, s.length, s.variant ? " twice" : "");
        gc_run(&s.c, 0.5);
    }
}

static tg_node *apply_concat(tg_tape *t, gc_case *c, tg_node *const *in)
{
    const shape_case *s = (const shape_case *)c;
    return tg_concat(t, in[0], c->n_params == 1 ? in[0] : in[1], s->dim); /* one param: concat(x, x) */
}

/* a and b of 1..3 dimensions, differing along dim; and concat(x, x). */
static void gc_case_concat(void)
{
    for (int trial = 0; trial < 8; trial++) {
        shape_case s = {0};
        gc_begin(&s.c, 640 + (uint64_t)trial);
        int ndim = trial < 1 ? 1 : trial < 3 ? 2 : 3;
        s.dim = trial < 1 ? 0 : trial < 3 ? trial - 1 : (int)gc_dim(&s.c, 0, 2);
        size_t a_shape[TG_MAX_DIMS], b_shape[TG_MAX_DIMS];
        gc_param_dims(&s.c, "a", ndim, 5, a_shape);
        if (trial < 7) {
            memcpy(b_shape, a_shape, sizeof b_shape);
            b_shape[s.dim] = gc_dim(&s.c, 1, 5);
            gc_param(&s.c, "b", ndim, b_shape, -1.0f, 1.0f);
        }
        s.c.expect = &tg_op_concat;
        s.c.apply = apply_concat;
        char a[64], b[64];
        snprintf(s.c.label, sizeof s.c.label, "concat %s, %s dim %d", tg_tensor_shape_str(a, sizeof a, &s.c.p[0].value),
                 trial < 7 ? tg_tensor_shape_str(b, sizeof b, &s.c.p[1].value) : "itself", s.dim);
        gc_run(&s.c, 0.5);
    }
}

static tg_node *apply_transpose(tg_tape *t, gc_case *c, tg_node *const *in)
{
    const shape_case *s = (const shape_case *)c;
    if (s->variant == 1) /* x ⊙ (xᵀ)ᵀ: two sources for x's gradient, one through two transposes */
        return tg_mul(t, in[0], tg_transpose_of(t, tg_transpose_of(t, in[0])));
    return tg_transpose_of(t, in[0]);
}

/* [M,N], [N] (-> [N,1]), [37,45] (more than one 32-tile each way), and x ⊙ (xᵀ)ᵀ. */
static void gc_case_transpose(void)
{
    for (int trial = 0; trial < 5; trial++) {
        shape_case s = {0};
        gc_begin(&s.c, 660 + (uint64_t)trial);
        size_t M = trial == 3 ? 37 : gc_dim(&s.c, 1, 6), N = trial == 3 ? 45 : gc_dim(&s.c, 1, 6);
        tg_param *x = trial == 2 ? gc_param(&s.c, "x", 1, (size_t[]){N}, -1.0f, 1.0f)
                                 : gc_param2(&s.c, "x", M, N, -1.0f, 1.0f);
        s.variant = trial == 4;
        s.c.expect = s.variant ? &tg_op_mul : &tg_op_transpose;
        s.c.apply = apply_transpose;
        char a[64];
        snprintf(s.c.label, sizeof s.c.label, "transpose %s%s", tg_tensor_shape_str(a, sizeof a, &x->value),
                 s.variant ? " (x * (x^T)^T)" : "");
        gc_run(&s.c, s.variant ? 1e-1 : 0.5);
    }
}

/* x combined with a constant of x's shape, a scalar [1], or a column [M,1]: the constant's value
 * reaches x's gradient (mul), or its shape the broadcast (add). */
static tg_node *apply_const(tg_tape *t, gc_case *c, tg_node *const *in)
{
    const shape_case *s = (const shape_case *)c;
    tg_node *k = tg_const(t, c->factor, s->ndim, s->shape);
    if (k)
        cr_assert_eq(k->op, &tg_op_const, "%s: recorded %s", c->label, k->op->name);
    return s->variant == 1 ? tg_add(t, in[0], k) : tg_mul(t, k, in[0]);
}

static void gc_case_const(void)
{
    static const char *const form_name[] = {"x's shape", "a scalar [1]", "a column [M,1]"};
    for (int trial = 0; trial < 6; trial++) {
        shape_case s = {0};
        gc_begin(&s.c, 680 + (uint64_t)trial);
        size_t M = gc_dim(&s.c, 1, 5), N = gc_dim(&s.c, 1, 5);
        gc_param2(&s.c, "x", M, N, -1.0f, 1.0f);
        int form = trial % 3;
        s.variant = trial >= 3; /* 0: const ⊙ x, 1: x + const */
        s.ndim = form == 1 ? 1 : 2;
        size_t shapes[3][2] = {{M, N}, {1}, {M, 1}};
        memcpy(s.shape, shapes[form], sizeof shapes[form]);
        s.c.factor = -0.5f - 2.0f * tg_rng_uniform(&s.c.rng);
        s.c.expect = s.variant ? &tg_op_add : &tg_op_mul;
        s.c.apply = apply_const;
        snprintf(s.c.label, sizeof s.c.label, "x [%zu,%zu] %s const %g of %s", M, N, s.variant ? "+" : "*",
                 (double)s.c.factor, form_name[form]);
        gc_run(&s.c, 1e-1);
    }
}

static tg_node *apply_scalar(tg_tape *t, gc_case *c, tg_node *const *in)
{
    return tg_add_scalar(t, in[0], c->factor);
}

static void gc_scalar_op(const tg_op_def *op)
{
    for (int trial = 0; trial < 3; trial++) {
        gc_case c;
        gc_begin(&c, 700 + (uint64_t)trial);
        tg_param *x = trial == 1 ? gc_param(&c, "x", 1, (size_t[]){gc_dim(&c, 1, 6)}, -2.0f, 2.0f)
                                 : gc_param2(&c, "x", gc_dim(&c, 1, 6), gc_dim(&c, 1, 6), -2.0f, 2.0f);
        c.factor = 4.0f * tg_rng_uniform(&c.rng) - 2.0f;
        c.expect = op;
        c.apply = apply_scalar;
        char a[64];
        snprintf(c.label, sizeof c.label, "%s x %s c %g", op->name, tg_tensor_shape_str(a, sizeof a, &x->value),
                 (double)c.factor);
        gc_run(&c, 0.5);
    }
}

static void gc_case_add_scalar(void) { gc_scalar_op(&tg_op_add_scalar); }

/* add, sub and mul in the forms of broadcasting other than "b a's shape or a row" (gc_binary):
 * b a column or a scalar, a the row, column or scalar, a column with a row, 3-D a with a column;
 * N up to 70 crosses the 64-column blocks of the row sums. */
static tg_node *apply_broadcast(tg_tape *t, gc_case *c, tg_node *const *in)
{
    if (c->expect == &tg_op_add)
        return tg_add(t, in[0], in[1]);
    if (c->expect == &tg_op_sub)
        return tg_sub(t, in[0], in[1]);
    return tg_mul(t, in[0], in[1]);
}

static void gc_broadcast(const tg_op_def *op)
{
    enum { B_COL, B_SCALAR, B_SCALAR_2D, A_ROW, A_COL, A_SCALAR, COL_ROW, ROW_COL, A_3D_B_COL, N_FORMS };
    static const char *const form_name[N_FORMS] = {"b column",  "b scalar [1]",  "b scalar [1,1]",
                                                   "a row",     "a column",      "a scalar",
                                                   "a column, b row", "a row, b column", "a 3-D, b column [M,1,1]"};
    for (int form = 0; form < N_FORMS; form++)
        for (int trial = 0; trial < 2; trial++) {
            gc_case c;
            gc_begin(&c, 720 + (uint64_t)(10 * form + trial));
            size_t M = gc_dim(&c, 2, 5), N = trial == 1 ? 70 : gc_dim(&c, 2, 5); /* M, N >= 2: no form degenerates */
            size_t full[2] = {M, N}, row[2] = {1, N}, col[2] = {M, 1}, one[2] = {1, 1}, a_3d[3] = {M, 2, N},
                   col_3d[3] = {M, 1, 1};
            const size_t *a = full, *b = full;
            int a_ndim = 2, b_ndim = 2;
            switch (form) {
            case B_COL: b = col; break;
            case B_SCALAR: b = one, b_ndim = 1; break;
            case B_SCALAR_2D: b = one; break;
            case A_ROW: a = row; break;
            case A_COL: a = col; break;
            case A_SCALAR: a = one, a_ndim = 1; break;
            case COL_ROW: a = col, b = row; break;
            case ROW_COL: a = row, b = col; break;
            default: a = a_3d, a_ndim = 3, b = col_3d, b_ndim = 3; break;
            }
            gc_param(&c, "a", a_ndim, a, -1.0f, 1.0f);
            gc_param(&c, "b", b_ndim, b, -1.0f, 1.0f);
            c.expect = op;
            c.apply = apply_broadcast;
            char sa[64], sb[64];
            tg_tensor_shape_str(sa, sizeof sa, &c.p[0].value);
            tg_tensor_shape_str(sb, sizeof sb, &c.p[1].value);
            snprintf(c.label, sizeof c.label, "%s %s: %s, %s", op->name, form_name[form], sa, sb);
            gc_run(&c, 1e-1);
        }
}

Test(gradcheck_broadcast, add) { gc_broadcast(&tg_op_add); }
Test(gradcheck_broadcast, sub) { gc_broadcast(&tg_op_sub); }
Test(gradcheck_broadcast, mul) { gc_broadcast(&tg_op_mul); }

/* ---- losses ------------------------------------------------------------------------------- */

static tg_node *apply_loss(tg_tape *t, gc_case *c, tg_node *const *in)
{
    if (c->expect == &tg_op_mse)
        return tg_mse(t, in[0], in[1], c->red);
    if (c->expect == &tg_op_bce_logits)
        return tg_bce_logits(t, in[0], in[1], c->red);
    return tg_softmax_xent(t, in[0], c->labels);
}

/* pred and target are both params: the target's gradient is checked too. */
static void gc_pair_loss(const tg_op_def *op, float lo, float hi, float target_lo, float target_hi, double eps)
{
    static const char *const red_name[] = {"mean", "row_sum"};
    for (int red = TG_REDUCE_MEAN; red <= TG_REDUCE_ROW_SUM; red++) {
        for (int trial = 0; trial < 3; trial++) {
            gc_case c;
            gc_begin(&c, 400 + (uint64_t)(10 * red + trial));
            size_t M = gc_dim(&c, 1, 5), N = gc_dim(&c, 1, 5);
            c.expect = op;
            c.apply = apply_loss;
            c.red = (tg_reduction)red;
            gc_param2(&c, "pred", M, N, lo, hi);
            gc_param2(&c, "target", M, N, target_lo, target_hi);
            snprintf(c.label, sizeof c.label, "%s %s [%zu,%zu]", op->name, red_name[red], M, N);
            gc_run(&c, eps);
        }
    }
}

/* A loss is one float: its rounding (~1e-7 for L ~ 1) divided by 2·eps is the numeric
 * gradient's noise, so the smooth losses take eps 3e-2 (measured: max error 1e-3 instead of
 * 4e-3 at eps 1e-2; the truncation error, ~eps², stays below the noise). */
/* mse of intermediates: see gc_first_write_kinds */

static tg_node *apply_mse_of_intermediates(tg_tape *t, gc_case *c, tg_node *const *in)
{
    tg_node *pred = tg_scale(t, in[0], 2.0f), *target = tg_scale(t, in[1], 0.5f);
    switch ((int)c->factor) {
    case FIRST_WRITE_THEN_MEAN: {
        tg_node *loss = tg_mse(t, pred, target, c->red);
        return tg_add(t, loss, tg_mean(t, pred));
    }
    case MEAN_THEN_FIRST_WRITE: {
        tg_node *mean = tg_mean(t, pred);
        return tg_add(t, mean, tg_mse(t, pred, target, c->red));
    }
    default:
        return tg_mse(t, pred, target, c->red);
    }
}

static void gc_case_mse(void)
{
    gc_pair_loss(&tg_op_mse, -1.0f, 1.0f, -1.0f, 1.0f, 1e-1); /* quadratic */
    static const char *const kind_name[] = {"mse(2P, T/2)", "mse(2P, T/2) + mean(2P)", "mean(2P) + mse(2P, T/2)"};
    gc_first_write_kinds(&tg_op_mse, apply_mse_of_intermediates, kind_name, true, 450, -1.0f, 1.0f, 1e-1);
}
/* ---- affine_mse: mse(X·op(W) + b, T), fused ---------------------------------------------------
 *
 * Both reductions, W and Wᵀ, sizes up to gc_large_side() (the vector kernels and more than one
 * square of the loss's grid), X and T with 70% zeros (the zero-skipping products: X's in
 * affine_mse, T's in affine_mse_gram), and X as its own target (an autoencoder: X's gradient
 * arrives from the product and from the target).  The probe after the loss makes dL ≠ 1, the
 * path where dL scales the products.  The same trials run on both ops. */
static tg_node *apply_affine_mse(tg_tape *t, gc_case *c, tg_node *const *in)
{
    if (c->factor != 0.0f) /* X is the target */
        return tg_affine_mse(t, in[0], in[1], in[2], c->trans_b, in[0], c->red);
    return tg_affine_mse(t, in[0], in[1], in[2], c->trans_b, in[3], c->red);
}

static tg_node *apply_affine_mse_gram(tg_tape *t, gc_case *c, tg_node *const *in)
{
    if (c->factor != 0.0f)
        return tg_affine_mse_gram(t, in[0], in[1], in[2], c->trans_b, in[0], c->red);
    return tg_affine_mse_gram(t, in[0], in[1], in[2], c->trans_b, in[3], c->red);
}

/* The trials of both fused decoder losses (the explicit one and the Gram one). */
static void affine_mse_trials(const tg_op_def *op, gc_apply_fn apply)
{
    static const char *const red_name[] = {"mean", "row_sum"};
    for (int trial = 0; trial < 10; trial++) {
        gc_case c;
        gc_begin(&c, 470 + (uint64_t)trial);
        size_t lo = trial >= 4 ? 17 : 1, hi = trial >= 4 ? gc_large_side() : 6;
        size_t M = gc_dim(&c, lo, hi), K = gc_dim(&c, lo, hi), N = gc_dim(&c, lo, hi);
        const bool self_target = trial >= 8;
        if (self_target)
            N = K;
        c.trans_b = trial % 2 == 1;
        c.red = (tg_reduction)(trial / 2 % 2);
        c.factor = self_target ? 1.0f : 0.0f;
        c.expect = op;
        c.apply = apply;
        tg_param *x = gc_param2(&c, "X", M, K, -1.0f, 1.0f);
        if (trial == 6 || trial == 7)
            for (size_t k = 0; k < x->value.size; k++)
                if (tg_rng_uniform(&c.rng) < 0.7f)
                    x->value.data[k] = 0.0f;
        gc_param2(&c, "W", c.trans_b ? N : K, c.trans_b ? K : N, -1.0f, 1.0f);
        gc_param(&c, "b", 1, (size_t[]){N}, -1.0f, 1.0f);
        if (!self_target) {
            tg_param *target = gc_param2(&c, "T", M, N, -1.0f, 1.0f);
            for (size_t k = 0; (trial == 6 || trial == 7) && k < target->value.size; k++)
                if (tg_rng_uniform(&c.rng) < 0.7f) /* the Gram route skips T's zeros */
                    target->value.data[k] = 0.0f;
        }
        snprintf(c.label, sizeof c.label, "%s %s%s%s%s M=%zu K=%zu N=%zu", op->name, red_name[c.red],
                 c.trans_b ? " (Wᵀ)" : "", trial == 6 || trial == 7 ? " (X, T 70% zeros)" : "",
                 self_target ? " (X as T)" : "", M, K, N);
        gc_run(&c, 0.5); /* quadratic in each input: central differences are exact for any step, and a
                              large one shrinks the rounding noise */
    }
}

static void gc_case_affine_mse(void) { affine_mse_trials(&tg_op_affine_mse, apply_affine_mse); }

/* The caller chooses the Gram route (tg_affine_mse_gram_pays), so the op runs at any size. */
static void gc_case_affine_mse_gram(void) { affine_mse_trials(&tg_op_affine_mse_gram, apply_affine_mse_gram); }

static void gc_case_bce_logits(void) { gc_pair_loss(&tg_op_bce_logits, -3.0f, 3.0f, 0.0f, 1.0f, 3e-2); }

static void gc_case_softmax_xent(void)
{
    for (int trial = 0; trial < 4; trial++) {
        gc_case c;
        gc_begin(&c, 500 + (uint64_t)trial);
        size_t M = gc_dim(&c, 1, 6), C = gc_dim(&c, 2, 7);
        c.expect = &tg_op_softmax_xent;
        c.apply = apply_loss;
        tg_param *z = gc_param2(&c, "logits", M, C, 0.0f, 1.0f);
        tg_rng_fill_normal(&c.rng, z->value.data, z->value.size, 0.0f, 2.0f);
        for (size_t i = 0; i < M; i++)
            c.labels[i] = (int32_t)tg_rng_below(&c.rng, (uint32_t)C);
        snprintf(c.label, sizeof c.label, "softmax_xent [%zu,%zu]", M, C);
        gc_run(&c, 3e-2);
    }
}

/* ---- the Jacobian penalty: every activation, alone and inside an encoder ------------------- */

static tg_node *apply_penalty_alone(tg_tape *t, gc_case *c, tg_node *const *in)
{
    return tg_jacobian_penalty(t, in[0], in[1], c->act); /* h [B,H], W [D,H] */
}

/* z = x·W + b, h = act(z), P(h, W): gradients reach W by both paths, and b and x through h. */
static tg_node *apply_penalty_encoder(tg_tape *t, gc_case *c, tg_node *const *in)
{
    tg_node *x = in[0], *W = in[1], *b = in[2];
    tg_node *h = tg_activate(t, tg_add(t, tg_matmul(t, x, W, false, false), b), c->act);
    return tg_jacobian_penalty(t, h, W, c->act);
}

/* h as a param, with values an activation `act` can output, at least 0.1 away from a kink at 0. */
static void fill_activation_values(gc_case *c, tg_param *h, tg_activation act)
{
    for (size_t k = 0; k < h->value.size; k++) {
        float u = tg_rng_uniform(&c->rng), sign = k % 3 == 1 ? -1.0f : 1.0f; /* element 0 > 0 */
        switch (act.kind) {
        case TG_ACT_SIGMOID: h->value.data[k] = 0.05f + 0.9f * u; break;
        case TG_ACT_TANH: h->value.data[k] = -0.9f + 1.8f * u; break;
        case TG_ACT_SOFTPLUS: h->value.data[k] = 0.05f + 2.0f * u; break; /* h > 0 */
        case TG_ACT_ELU: /* h > -alpha */
            h->value.data[k] = sign > 0 ? 0.1f + 0.9f * u : -(0.1f + 0.8f * u) * act.param;
            break;
        default: h->value.data[k] = sign * (0.1f + 0.9f * u); break; /* relu, leaky_relu */
        }
    }
}

static void gc_penalty_every_activation(void)
{
    for (int test = 0; test < 2 * TG_ACT_COUNT; test++) {
        tg_activation_kind kind = (tg_activation_kind)(test / 2);
        if (test % 2 >= activation_variants(kind))
            continue;
        tg_activation act = activation_under_test(kind, test % 2);
        /* With a kink (relu, leaky_relu, elu), P is quadratic in W and quadratic or flat in h on
         * each side of it: central differences are exact, so a larger step only cuts rounding. */
        double eps = tg_activation_has_kink(kind) ? 5e-2 : 1e-2;
        for (int trial = 0; trial < 3; trial++) {
            gc_case c;
            gc_begin(&c, 600 + (uint64_t)(10 * kind + 5 * (test % 2) + trial));
            bool wide = trial == 2; /* H = 70 crosses the op's 64-column blocks */
            size_t B = gc_dim(&c, 1, 4), D = gc_dim(&c, 1, 4), H = wide ? 70 : gc_dim(&c, 1, 4);
            c.expect = &tg_op_jacobian_penalty;
            c.apply = apply_penalty_alone;
            c.act = act;
            fill_activation_values(&c, gc_param2(&c, "h", B, H, 0.0f, 1.0f), c.act);
            gc_param2(&c, "W", D, H, wide ? -0.2f : -0.7f, wide ? 0.2f : 0.7f);
            snprintf(c.label, sizeof c.label, "jacobian_penalty %s h [%zu,%zu] W [%zu,%zu]",
                     tg_activation_name(c.act.kind), B, H, D, H);
            gc_run(&c, eps);
        }
        for (int trial = 0; trial < 3; trial++) {
            gc_case c;
            gc_begin(&c, 700 + (uint64_t)(10 * kind + 5 * (test % 2) + trial));
            size_t B = gc_dim(&c, 1, 4), D = gc_dim(&c, 1, 4), H = gc_dim(&c, 1, 4);
            c.expect = &tg_op_jacobian_penalty;
            c.apply = apply_penalty_encoder;
            c.act = act;
            gc_param2(&c, "x", B, D, -0.5f, 0.5f);
            gc_param2(&c, "W", D, H, -0.5f, 0.5f);
            tg_param *b = gc_param2(&c, "b", 1, H, -1.0f, 1.0f);
            if (tg_activation_has_kink(kind)) { /* |b| > 0.2 + max |x·W| = 0.2 + D/4: z stays off the kink */
                away_from_zero(&c, b, 0.2f + 0.25f * (float)D, 0.5f + 0.25f * (float)D);
                b->value.data[0] = fabsf(b->value.data[0]); /* unit 0 active: a nonzero penalty */
            }
            snprintf(c.label, sizeof c.label, "jacobian_penalty %s encoder B=%zu D=%zu H=%zu",
                     tg_activation_name(c.act.kind), B, D, H);
            gc_run(&c, eps);
        }
    }
}

/* The penalty assigns first writes: h = sigmoid(2P) and W = T/2 are intermediates (their
 * gradients are the tape's), P(h, W) alone, with h and W also in mean(h) + mean(W) recorded
 * after the penalty (their backwards run first: the penalty must add) or before; and P(h, h),
 * where the penalty's second write (dh) must add to its first (dW). */
static tg_node *apply_penalty_of_intermediates(tg_tape *t, gc_case *c, tg_node *const *in)
{
    tg_node *h = tg_sigmoid(t, tg_scale(t, in[0], 2.0f)), *W = tg_scale(t, in[1], 0.5f);
    switch ((int)c->factor) {
    case FIRST_WRITE_THEN_MEAN: {
        tg_node *p = tg_jacobian_penalty(t, h, W, tg_activation_of(TG_ACT_SIGMOID));
        return tg_add(t, p, tg_add(t, tg_mean(t, h), tg_mean(t, W)));
    }
    case MEAN_THEN_FIRST_WRITE: {
        tg_node *means = tg_add(t, tg_mean(t, h), tg_mean(t, W));
        return tg_add(t, means, tg_jacobian_penalty(t, h, W, tg_activation_of(TG_ACT_SIGMOID)));
    }
    default:
        return tg_jacobian_penalty(t, h, W, tg_activation_of(TG_ACT_SIGMOID));
    }
}

static tg_node *apply_penalty_of_itself(tg_tape *t, gc_case *c, tg_node *const *in)
{
    (void)c;
    tg_node *h = tg_sigmoid(t, tg_scale(t, in[0], 2.0f));
    return tg_jacobian_penalty(t, h, h, tg_activation_of(TG_ACT_SIGMOID));
}

static void gc_penalty_first_writes(void)
{
    static const char *const kind_name[] = {"P(sigmoid(2P), T/2)", "P(sigmoid(2P), T/2) + means",
                                            "mean(h) + mean(W) + P(sigmoid(2P), T/2)"};
    gc_first_write_kinds(&tg_op_jacobian_penalty, apply_penalty_of_intermediates, kind_name, true, 690, -1.0f, 1.0f,
                         1e-2);
    gc_case c;
    gc_begin(&c, 695);
    size_t B = gc_dim(&c, 2, 6);
    c.expect = &tg_op_jacobian_penalty;
    c.apply = apply_penalty_of_itself;
    gc_param2(&c, "P", B, B, -1.0f, 1.0f);
    snprintf(c.label, sizeof c.label, "P(h, h), h = sigmoid(2P) [%zu,%zu]", B, B);
    gc_run(&c, 1e-2);
}

static void gc_case_jacobian_penalty(void)
{
    gc_penalty_every_activation();
    gc_penalty_first_writes();
}

/* ---- the higher-order (CAE+H) penalty: every activation, alone and inside an encoder -------- */

static tg_node *apply_diff_penalty_alone(tg_tape *t, gc_case *c, tg_node *const *in)
{
    return tg_jacobian_diff_penalty(t, in[0], in[1], in[2], c->act); /* h [B,H], h̃ [k·B,H], W [D,H] */
}

/* h = act(x·W + b), x̃ = T·x + E (T [k·B,B] stacks k copies of x, E a fixed corruption),
 * h̃ = act(x̃·W + b), P(h, h̃, W): W gets the direct term and the paths through h and h̃, b both
 * activation paths, and x its k+1 uses. */
static tg_node *apply_diff_penalty_encoder(tg_tape *t, gc_case *c, tg_node *const *in)
{
    tg_node *x = in[0], *W = in[1], *b = in[2];
    tg_node *h = tg_activate(t, tg_add(t, tg_matmul(t, x, W, false, false), b), c->act);
    tg_node *x_tilde = tg_add(t, tg_matmul(t, tg_input(t, &c->consts[0]), x, false, false), tg_input(t, &c->consts[1]));
    tg_node *h_tilde = tg_activate(t, tg_add(t, tg_matmul(t, x_tilde, W, false, false), b), c->act);
    return tg_jacobian_diff_penalty(t, h, h_tilde, W, c->act);
}

/* For relu: the smallest |z| over the clean and corrupted pre-activations, and how many
 * (corruption, unit) pairs change sides of the kink (where the penalty is nonzero). */
static double relu_margin(const gc_case *c, size_t B, size_t k, size_t D, size_t H, size_t *flips)
{
    const float *x = c->p[0].value.data, *W = c->p[1].value.data, *b = c->p[2].value.data, *E = c->consts[1].data;
    double smallest = INFINITY;
    *flips = 0;
    for (size_t r = 0; r < k * B; r++)
        for (size_t j = 0; j < H; j++) {
            double z = b[j], zt = b[j];
            for (size_t i = 0; i < D; i++) {
                z += (double)x[(r % B) * D + i] * W[i * H + j];
                zt += ((double)x[(r % B) * D + i] + E[r * D + i]) * W[i * H + j];
            }
            smallest = fmin(smallest, fmin(fabs(z), fabs(zt)));
            *flips += (z > 0) != (zt > 0);
        }
    return smallest;
}

static void gc_case_jacobian_diff_penalty(void)
{
    for (int test = 0; test < 2 * TG_ACT_COUNT; test++) {
        tg_activation_kind kind = (tg_activation_kind)(test / 2);
        if (test % 2 >= activation_variants(kind))
            continue;
        tg_activation act = activation_under_test(kind, test % 2);
        const bool kink = tg_activation_has_kink(kind);
        /* (φ(h) - φ(h̃))² is a polynomial of degree 4 in h̃ for sigmoid and tanh: the central
         * difference's error eps²/6·P''' is larger than for jacobian_penalty, so a smaller step
         * (measured at eps 1e-2: 1.2e-2 relative on a gradient of 1e-3).  With a kink (relu,
         * leaky_relu, elu): quadratic in W, quadratic or flat in h, so a large step is exact. */
        double eps = kink ? 5e-2 : 3e-3;
        for (int trial = 0; trial < 3; trial++) {
            gc_case c;
            gc_begin(&c, 800 + (uint64_t)(10 * kind + 5 * (test % 2) + trial));
            bool wide = trial == 2; /* H = 70 crosses the op's 64-column blocks */
            size_t B = gc_dim(&c, 1, 4), k = gc_dim(&c, 1, 3), D = gc_dim(&c, 1, 4), H = wide ? 70 : gc_dim(&c, 1, 4);
            c.expect = &tg_op_jacobian_diff_penalty;
            c.apply = apply_diff_penalty_alone;
            c.act = act;
            fill_activation_values(&c, gc_param2(&c, "h", B, H, 0.0f, 1.0f), c.act);
            tg_param *ht = gc_param2(&c, "h_tilde", k * B, H, 0.0f, 1.0f);
            fill_activation_values(&c, ht, c.act);
            if (kink) { /* random signs, and unit 0 of row 0 on the other side of h's */
                for (size_t e = 0; e < ht->value.size; e++)
                    ht->value.data[e] *= tg_rng_uniform(&c.rng) < 0.5f ? -1.0f : 1.0f;
                ht->value.data[0] = copysignf(ht->value.data[0], -c.p[0].value.data[0]);
            }
            gc_param2(&c, "W", D, H, wide ? -0.2f : -0.7f, wide ? 0.2f : 0.7f);
            snprintf(c.label, sizeof c.label, "jacobian_diff_penalty %s h [%zu,%zu] h_tilde [%zu,%zu] W [%zu,%zu]",
                     tg_activation_name(c.act.kind), B, H, k * B, H, D, H);
            gc_run(&c, eps);
        }
        for (int trial = 0; trial < 3; trial++) {
            gc_case c;
            gc_begin(&c, 900 + (uint64_t)(10 * kind + 5 * (test % 2) + trial));
            size_t B = gc_dim(&c, 1, 4), k = gc_dim(&c, 1, 3), D = gc_dim(&c, 1, 4), H = gc_dim(&c, 1, 4);
            c.expect = &tg_op_jacobian_diff_penalty;
            c.apply = apply_diff_penalty_encoder;
            c.act = act;
            cr_assert_eq(tg_tensor_zeros2(&c.consts[0], k * B, B, NULL), TG_OK);
            for (size_t r = 0; r < k * B; r++)
                c.consts[0].data[r * B + r % B] = 1.0f; /* row r of T·x is x_{r mod B} */
            cr_assert_eq(tg_tensor_zeros2(&c.consts[1], k * B, D, NULL), TG_OK);
            tg_param *x = gc_param2(&c, "x", B, D, -0.5f, 0.5f);
            tg_param *W = gc_param2(&c, "W", D, H, -0.5f, 0.5f);
            tg_param *b = gc_param2(&c, "b", 1, H, -1.0f, 1.0f);
            tg_rng_fill_normal(&c.rng, c.consts[1].data, k * B * D, 0.0f, 0.3f);
            if (kink) {
                /* Redraw until every z and z̃ is 0.1 away from the kink (a step of eps = 1e-2
                 * moves them by at most eps·max(|x̃_i|, |W_ij|, 1) < 0.05) and some unit changes
                 * sides, so that P and dP/dW are not 0. */
                size_t flips = 0;
                for (int tries = 0; relu_margin(&c, B, k, D, H, &flips) < 0.1 || flips == 0; tries++) {
                    cr_assert_lt(tries, 100000, "no relu configuration found");
                    tg_rng_fill_uniform(&c.rng, x->value.data, B * D, -0.5f, 0.5f);
                    tg_rng_fill_uniform(&c.rng, W->value.data, D * H, -0.5f, 0.5f);
                    tg_rng_fill_uniform(&c.rng, b->value.data, H, -1.0f, 1.0f);
                    tg_rng_fill_normal(&c.rng, c.consts[1].data, k * B * D, 0.0f, 0.3f + 0.3f * (float)(tries % 4));
                }
            }
            snprintf(c.label, sizeof c.label, "jacobian_diff_penalty %s encoder B=%zu k=%zu D=%zu H=%zu",
                     tg_activation_name(c.act.kind), B, k, D, H);
            gc_run(&c, kink ? 1e-2 : eps);
            tg_tensor_free(&c.consts[0]);
            tg_tensor_free(&c.consts[1]);
        }
    }
}

/* ---- layers (ops_layers.c): dropout, layer_norm, batch_norm, embedding ------------------------
 *
 * Dropout is checked in training mode: its mask depends on (seed, node position, element) only,
 * so every evaluation of the check sees the same mask and the op is linear in x; and in eval
 * mode (the identity).  layer_norm: with no affine, γ only, and γ and β, on 2-D and 3-D x.
 * batch_norm: in training mode (batch statistics) with no affine, γ, γ and β, some trials asking for
 * the batch statistics (the op writes them, the same each evaluation, and keeps no state: the
 * running statistics live in nn/batch_norm.h's layer, which updates them after the forward, so the
 * check's repeated evaluations disturb nothing); one trial in eval mode (running statistics given).
 * embedding: indices with repeats, so the scatter-add sums. */
static struct {
    float p, eps;
    bool eval;
    size_t count;
    float run_mean[8], run_var[8], batch_stats[16];
    bool want_stats;
} layer_args;

static tg_node *apply_layer(tg_tape *t, gc_case *c, tg_node *const *in)
{
    const tg_op_def *op = c->expect;
    if (op == &tg_op_dropout) {
        tg_tape_set_training(t, !layer_args.eval);
        tg_node *y = tg_dropout(t, in[0], layer_args.p, 1234);
        tg_tape_set_training(t, true);
        return y;
    }
    if (op == &tg_op_layer_norm)
        return tg_layer_norm(t, in[0], c->n_params > 1 ? in[1] : NULL, c->n_params > 2 ? in[2] : NULL, layer_args.eps);
    if (op == &tg_op_batch_norm) {
        tg_tape_set_training(t, !layer_args.eval);
        tg_node *y = tg_batch_norm(t, in[0], c->n_params > 1 ? in[1] : NULL, c->n_params > 2 ? in[2] : NULL,
                                   layer_args.eps, layer_args.run_mean, layer_args.run_var,
                                   layer_args.want_stats ? layer_args.batch_stats : NULL);
        tg_tape_set_training(t, true);
        return y;
    }
    return tg_embedding(t, in[0], c->labels, layer_args.count);
}

static void gc_case_dropout(void)
{
    for (int trial = 0; trial < 4; trial++) {
        gc_case c;
        gc_begin(&c, 1400 + (uint64_t)trial);
        c.expect = &tg_op_dropout;
        c.apply = apply_layer;
        layer_args.p = trial % 2 ? 0.5f : 0.2f;
        layer_args.eval = trial == 3;
        size_t M = gc_dim(&c, 2, 6), N = gc_dim(&c, 3, 7);
        gc_param2(&c, "x", M, N, -2.0f, 2.0f);
        snprintf(c.label, sizeof c.label, "dropout p=%g %s [%zu,%zu]", (double)layer_args.p,
                 layer_args.eval ? "eval" : "training", M, N);
        gc_run(&c, 1e-1); /* linear in x: the difference is exact */
    }
}

static void gc_case_layer_norm(void)
{
    for (int trial = 0; trial < 6; trial++) {
        gc_case c;
        gc_begin(&c, 1500 + (uint64_t)trial);
        c.expect = &tg_op_layer_norm;
        c.apply = apply_layer;
        layer_args.eps = trial % 2 ? 1e-5f : 0.1f;
        size_t M = gc_dim(&c, 1, 4), N = gc_dim(&c, 2, 7);
        if (trial >= 4)
            gc_param(&c, "x", 3, (size_t[]){2, M, N}, -1.0f, 1.0f);
        else
            gc_param2(&c, "x", M, N, -1.0f, 1.0f);
        tg_rng_fill_normal(&c.rng, c.p[0].value.data, c.p[0].value.size, 0.5f, 2.0f);
        int affine = trial % 3; /* 0: none, 1: γ, 2: γ and β */
        if (affine >= 1)
            gc_param(&c, "gamma", 1, (size_t[]){N}, 0.5f, 1.5f);
        if (affine >= 2)
            gc_param2(&c, "beta", 1, N, -1.0f, 1.0f);
        snprintf(c.label, sizeof c.label, "layer_norm %s x %zu rows of %zu, eps %g, affine %d",
                 trial >= 4 ? "3-D" : "2-D", c.p[0].value.size / N, N, (double)layer_args.eps, affine);
        gc_run(&c, 1e-2);
    }
}

static void gc_case_batch_norm(void)
{
    for (int trial = 0; trial < 7; trial++) {
        gc_case c;
        gc_begin(&c, 1700 + (uint64_t)trial);
        c.expect = &tg_op_batch_norm;
        c.apply = apply_layer;
        layer_args.eps = trial % 2 ? 1e-5f : 0.1f;
        layer_args.eval = trial == 6;
        layer_args.want_stats = trial >= 3;
        size_t B = gc_dim(&c, 2, 6), N = gc_dim(&c, 1, 8);
        gc_param2(&c, "x", B, N, -1.0f, 1.0f);
        tg_rng_fill_normal(&c.rng, c.p[0].value.data, c.p[0].value.size, 0.5f, 2.0f);
        for (size_t j = 0; j < N; j++) {
            layer_args.run_mean[j] = 2.0f * tg_rng_uniform(&c.rng) - 1.0f;
            layer_args.run_var[j] = 0.5f + 1.5f * tg_rng_uniform(&c.rng);
        }
        int affine = trial % 3; /* 0: none, 1: γ, 2: γ and β */
        if (affine >= 1)
            gc_param(&c, "gamma", 1, (size_t[]){N}, 0.5f, 1.5f);
        if (affine >= 2)
            gc_param2(&c, "beta", 1, N, -1.0f, 1.0f);
        snprintf(c.label, sizeof c.label, "batch_norm %s x [%zu,%zu], eps %g, affine %d%s",
                 layer_args.eval ? "eval" : "training", B, N, (double)layer_args.eps, affine,
                 layer_args.want_stats ? ", batch stats out" : "");
        gc_run(&c, 1e-2);
    }
    layer_args.eval = false;
}

static void gc_case_embedding(void)
{
    for (int trial = 0; trial < 4; trial++) {
        gc_case c;
        gc_begin(&c, 1600 + (uint64_t)trial);
        c.expect = &tg_op_embedding;
        c.apply = apply_layer;
        size_t V = gc_dim(&c, 1, 6), D = gc_dim(&c, 1, 5);
        layer_args.count = gc_dim(&c, 1, 12);
        for (size_t i = 0; i < layer_args.count; i++)
            c.labels[i] = (int32_t)tg_rng_below(&c.rng, (uint32_t)V);
        c.labels[0] = (int32_t)(V - 1); /* the last row, and with count > V, repeats */
        gc_param2(&c, "W", V, D, -1.0f, 1.0f);
        snprintf(c.label, sizeof c.label, "embedding W [%zu,%zu], %zu indices", V, D, layer_args.count);
        gc_run(&c, 1e-1); /* linear in W */
    }
}

/* ---- activation_slope: f' read off h, for each activation ---------------------------------- */

static tg_node *apply_activation_slope(tg_tape *t, gc_case *c, tg_node *const *in)
{
    return tg_activation_slope_of(t, in[0], c->act);
}

static void gc_case_activation_slope(void)
{
    for (int test = 0; test < 2 * TG_ACT_COUNT; test++) {
        tg_activation_kind kind = (tg_activation_kind)(test / 2);
        /* relu's and leaky_relu's φ is piecewise constant: a zero gradient, nothing to compare
         * (their φ is checked against f'(z) in test_activation.c) */
        if (test % 2 >= activation_variants(kind) || kind == TG_ACT_RELU || kind == TG_ACT_LEAKY_RELU)
            continue;
        gc_case c;
        gc_begin(&c, 1000 + (uint64_t)test);
        c.act = activation_under_test(kind, test % 2);
        c.expect = &tg_op_activation_slope;
        c.apply = apply_activation_slope;
        size_t M = gc_dim(&c, 1, 5), N = gc_dim(&c, 1, 5);
        fill_activation_values(&c, gc_param2(&c, "h", M, N, 0.0f, 1.0f), c.act);
        char a[48];
        tg_activation_format(c.act, a, sizeof a);
        snprintf(c.label, sizeof c.label, "activation_slope %s h [%zu,%zu]", a, M, N);
        /* φ is piecewise linear or quadratic in h for all but softplus: the difference is exact there */
        gc_run(&c, kind == TG_ACT_SOFTPLUS ? 1e-2 : 5e-2);
    }
}

/* ---- elementwise math and reductions along an axis (ops_math.c) ------------------------------
 *
 * The ops' constants (pow's p, clamp's bounds, rsub's c, the axis) are in math_args, set by each
 * case before its runs.  Inputs stay away from every kink by more than the step: |x| >= 0.1 for
 * abs, |a - b| >= 0.1 for max and min, 0.1 from clamp's bounds, and max_axis's values 0.05
 * apart (no ties). */
static struct {
    float c0, c1; /* pow: p; clamp: lo, hi; rsub: c */
    int axis;
} math_args;

static tg_node *apply_math(tg_tape *t, gc_case *c, tg_node *const *in)
{
    const tg_op_def *op = c->expect;
    if (op == &tg_op_div)
        return tg_div(t, in[0], in[1]);
    if (op == &tg_op_max)
        return tg_max(t, in[0], in[1]);
    if (op == &tg_op_min)
        return tg_min(t, in[0], in[1]);
    if (op == &tg_op_sqrt)
        return tg_sqrt(t, in[0]);
    if (op == &tg_op_pow)
        return tg_pow(t, in[0], math_args.c0);
    if (op == &tg_op_abs)
        return tg_abs(t, in[0]);
    if (op == &tg_op_neg)
        return tg_neg(t, in[0]);
    if (op == &tg_op_clamp)
        return tg_clamp(t, in[0], math_args.c0, math_args.c1);
    if (op == &tg_op_rsub)
        return tg_rsub(t, in[0], math_args.c0);
    if (op == &tg_op_softmax)
        return tg_softmax(t, in[0]);
    if (op == &tg_op_log_softmax)
        return tg_log_softmax(t, in[0]);
    if (op == &tg_op_sum_axis)
        return tg_sum_axis(t, in[0], math_args.axis);
    if (op == &tg_op_mean_axis)
        return tg_mean_axis(t, in[0], math_args.axis);
    return tg_max_axis(t, in[0], math_args.axis);
}

/* a's elements moved to at least `margin` from the b they meet (b a's shape or a broadcast row). */
static void apart_from_b(tg_param *a, const tg_param *b, float margin)
{
    size_t bs = b->value.size == a->value.size ? 1 : 0, N = tg_tensor_ncols(&a->value);
    for (size_t k = 0; k < a->value.size; k++) {
        float bk = b->value.data[bs ? k : k % N];
        if (fabsf(a->value.data[k] - bk) < margin)
            a->value.data[k] = bk + (a->value.data[k] >= bk ? margin : -margin);
    }
}

/* div, max, min: b of a's shape, a row [1,N], a row [N], and a 3-D a with a row b [1,2,N].  div's b is
 * in ±[0.5, 1.5) (1/b stays smooth); max's and min's a is 0.1 from b. */
static void gc_math_binary(const tg_op_def *op, double eps)
{
    enum { SAME, ROW, ROW_1D, A_3D, N_FORMS };
    static const char *const form_name[N_FORMS] = {"same shape", "row [1,N]", "row [N]", "a 3-D"};
    for (int form = 0; form < N_FORMS; form++)
        for (int trial = 0; trial < 2; trial++) {
            gc_case c;
            gc_begin(&c, 1100 + (uint64_t)(10 * form + trial));
            size_t M = gc_dim(&c, 1, 5), N = gc_dim(&c, 1, 5);
            c.expect = op;
            c.apply = apply_math;
            tg_param *a = form == A_3D ? gc_param(&c, "a", 3, (size_t[]){M, 2, N}, -1.0f, 1.0f)
                                       : gc_param2(&c, "a", M, N, -1.0f, 1.0f);
            tg_param *b = form == SAME     ? gc_param2(&c, "b", M, N, -1.0f, 1.0f)
                          : form == ROW_1D ? gc_param(&c, "b", 1, (size_t[]){N}, -1.0f, 1.0f)
                          : form == A_3D   ? gc_param(&c, "b", 3, (size_t[]){1, 2, N}, -1.0f, 1.0f)
                                           : gc_param2(&c, "b", 1, N, -1.0f, 1.0f);
            if (op == &tg_op_div)
                away_from_zero(&c, b, 0.5f, 1.5f);
            else
                apart_from_b(a, b, 0.1f);
            snprintf(c.label, sizeof c.label, "%s %s M=%zu N=%zu", op->name, form_name[form], M, N);
            gc_run(&c, eps);
        }
}

static void gc_case_div(void) { gc_math_binary(&tg_op_div, 1e-2); gc_broadcast_nd(&tg_op_div); }
static void gc_case_max(void) { gc_math_binary(&tg_op_max, 5e-2); gc_broadcast_nd(&tg_op_max); } /* piecewise linear: exact */
static void gc_case_min(void) { gc_math_binary(&tg_op_min, 5e-2); gc_broadcast_nd(&tg_op_min); }

/* A one-input op with constants (c0, c1) on x [M,N] (a 1-D x on trial 1, 70 columns on trial 3)
 * in [lo, hi); `fix` (may be NULL) then moves x off the op's kinks. */
static void gc_math_unary(const tg_op_def *op, float c0, float c1, float lo, float hi, void (*fix)(gc_case *, tg_param *),
                          double eps)
{
    math_args.c0 = c0;
    math_args.c1 = c1;
    for (int trial = 0; trial < 4; trial++) {
        gc_case c;
        gc_begin(&c, 1200 + (uint64_t)trial);
        size_t M = gc_dim(&c, 1, 6), N = trial == 3 ? 70 : gc_dim(&c, 1, 6);
        c.expect = op;
        c.apply = apply_math;
        tg_param *x = trial == 1 ? gc_param(&c, "x", 1, (size_t[]){N}, lo, hi) : gc_param2(&c, "x", M, N, lo, hi);
        if (fix)
            fix(&c, x);
        char s[64];
        snprintf(c.label, sizeof c.label, "%s (%g, %g) x %s", op->name, (double)c0, (double)c1,
                 tg_tensor_shape_str(s, sizeof s, &x->value));
        gc_run(&c, eps);
    }
}

static void off_zero(gc_case *c, tg_param *x) { away_from_zero(c, x, 0.1f, 2.0f); }

/* x 0.1 from clamp's bounds (math_args.c0, c1) */
static void off_bounds(gc_case *c, tg_param *x)
{
    (void)c;
    for (size_t k = 0; k < x->value.size; k++)
        for (int bound = 0; bound < 2; bound++) {
            float v = x->value.data[k], at = bound ? math_args.c1 : math_args.c0;
            if (fabsf(v - at) < 0.1f)
                x->value.data[k] = at + (v >= at ? 0.1f : -0.1f);
        }
}

/* x normal with σ 2: softmax's rows then hold both large and small probabilities */
static void spread(gc_case *c, tg_param *x) { tg_rng_fill_normal(&c->rng, x->value.data, x->value.size, 0.0f, 2.0f); }

static void gc_case_sqrt(void) { gc_math_unary(&tg_op_sqrt, 0.0f, 0.0f, 0.5f, 3.0f, NULL, 1e-2); }
static void gc_case_pow(void)
{
    /* an integer p: any sign of x; the step's error is eps² itself ((x±e)³), large beside 3x² near 0 */
    gc_math_unary(&tg_op_pow, 3.0f, 0.0f, -1.5f, 1.5f, NULL, 3e-3);
    gc_math_unary(&tg_op_pow, 0.5f, 0.0f, 0.5f, 3.0f, NULL, 1e-2);
    gc_math_unary(&tg_op_pow, -1.5f, 0.0f, 0.5f, 3.0f, NULL, 1e-2);
    gc_math_unary(&tg_op_pow, 2.7f, 0.0f, 0.5f, 2.0f, NULL, 1e-2);
}
static void gc_case_abs(void) { gc_math_unary(&tg_op_abs, 0.0f, 0.0f, -2.0f, 2.0f, off_zero, 5e-2); }
static void gc_case_neg(void) { gc_math_unary(&tg_op_neg, 0.0f, 0.0f, -2.0f, 2.0f, NULL, 1e-1); }
static void gc_case_clamp(void) { gc_math_unary(&tg_op_clamp, -0.5f, 0.7f, -1.5f, 1.5f, off_bounds, 5e-2); }
static void gc_case_rsub(void)
{
    gc_math_unary(&tg_op_rsub, 1.0f, 0.0f, -2.0f, 2.0f, NULL, 1e-1);
    gc_math_unary(&tg_op_rsub, -2.5f, 0.0f, -2.0f, 2.0f, NULL, 1e-1);
}
static void gc_case_softmax(void) { gc_math_unary(&tg_op_softmax, 0.0f, 0.0f, 0.0f, 1.0f, spread, 1e-2); }
static void gc_case_log_softmax(void) { gc_math_unary(&tg_op_log_softmax, 0.0f, 0.0f, 0.0f, 1.0f, spread, 1e-2); }

/* Distinct values 0.05 apart, shuffled: no ties for max_axis to break, even after a step. */
static void distinct(gc_case *c, tg_param *x)
{
    size_t n = x->value.size;
    for (size_t k = 0; k < n; k++)
        x->value.data[k] = 0.05f * ((float)k - 0.5f * (float)n);
    for (size_t k = n; k > 1; k--) {
        size_t r = tg_rng_below(&c->rng, (uint32_t)k);
        float v = x->value.data[k - 1];
        x->value.data[k - 1] = x->value.data[r];
        x->value.data[r] = v;
    }
}

/* Both axes; linear (and piecewise linear for max_axis away from ties): the difference is exact. */
static void gc_axis(const tg_op_def *op, void (*fix)(gc_case *, tg_param *))
{
    for (int axis = 0; axis <= 1; axis++) {
        math_args.axis = axis;
        for (int trial = 0; trial < 3; trial++) {
            gc_case c;
            gc_begin(&c, 1300 + (uint64_t)(10 * axis + trial));
            size_t M = gc_dim(&c, 1, 6), N = trial == 2 ? 70 : gc_dim(&c, 1, 6);
            c.expect = op;
            c.apply = apply_math;
            tg_param *x = gc_param2(&c, "x", M, N, -2.0f, 2.0f);
            if (fix)
                fix(&c, x);
            snprintf(c.label, sizeof c.label, "%s axis %d x [%zu,%zu]", op->name, axis, M, N);
            gc_run(&c, fix ? 2e-2 : 1e-1);
        }
    }
}

static void gc_case_sum_axis(void) { gc_axis(&tg_op_sum_axis, NULL); }
static void gc_case_mean_axis(void) { gc_axis(&tg_op_mean_axis, NULL); }
static void gc_case_max_axis(void) { gc_axis(&tg_op_max_axis, distinct); }

/* convolution and pooling (issue 21) */
#include "gradcheck_conv.h"

/* ---- the suite: one test per registered op ------------------------------------------------- */

#define TG_OP(name, formula) \
    Test(gradcheck, name) { gc_case_##name(); }
#include "autograd/ops.def"
#undef TG_OP

/* ---- tg_gradcheck itself ---------------------------------------------------------------------- */

/* A deliberately wrong op: y = x², but the backward claims dy/dx = 3x. */
static void bad_square_forward(tg_node *n)
{
    for (size_t k = 0; k < n->value.size; k++)
        n->value.data[k] = n->in[0]->value.data[k] * n->in[0]->value.data[k];
}
static void bad_square_backward(tg_node *n)
{
    for (size_t k = 0; k < n->value.size; k++)
        n->in[0]->grad.data[k] += 3.0f * n->in[0]->value.data[k] * n->grad.data[k];
}
static const tg_op_def bad_square_def = {"bad_square", bad_square_forward, bad_square_backward};

typedef struct api_ctx {
    tg_param x;
    int mode; /* which loss: see api_loss */
} api_ctx;

enum { LOSS_SUM_SQUARE, LOSS_BAD_SQUARE, LOSS_DEAD_RELU, LOSS_SHAPE_ERROR, LOSS_LARGE, LOSS_BAD_LARGE, LOSS_STEEP };

/* The loss plus 1000: its float value then has ulps of 6e-5, which a step of 2e-3 turns into 3e-2
 * of the gradients (of 1..4). */
static tg_node *plus_1000(tg_tape *t, tg_node *loss)
{
    tg_node *c = tg_input_new(t, 1, (size_t[]){1});
    if (c)
        c->value.data[0] = 1000.0f;
    return tg_add(t, loss, c);
}

static tg_node *api_loss(tg_tape *t, void *ctx)
{
    api_ctx *a = ctx;
    tg_node *x = tg_param_leaf(t, &a->x);
    switch (a->mode) {
    case LOSS_SUM_SQUARE: return tg_sum(t, tg_square(t, x));
    case LOSS_BAD_SQUARE: {
        tg_node *y = tg_tape_record(t, &bad_square_def, 1, &x, x->value.ndim, x->value.shape);
        return tg_sum(t, tg_tape_forward(t, y));
    }
    case LOSS_DEAD_RELU: return tg_sum(t, tg_relu(t, x)); /* x < 0: every gradient is 0 */
    case LOSS_LARGE: return plus_1000(t, tg_sum(t, tg_square(t, x)));
    case LOSS_BAD_LARGE: {
        tg_node *y = tg_tape_record(t, &bad_square_def, 1, &x, x->value.ndim, x->value.shape);
        return plus_1000(t, tg_sum(t, tg_tape_forward(t, y)));
    }
    case LOSS_STEEP: return tg_sum(t, tg_tanh(t, tg_scale(t, x, 20.0f))); /* third derivatives ~1e4 */
    default: return tg_sum(t, tg_matmul(t, x, x, false, false)); /* [2,5]·[2,5]: an error */
    }
}

static void api_init(api_ctx *a, int mode, float lo, float hi)
{
    memset(a, 0, sizeof *a);
    a->mode = mode;
    cr_assert_eq(tg_param_init(&a->x, "x", 2, (size_t[]){2, 5}, NULL), TG_OK);
    tg_rng rng;
    tg_rng_seed(&rng, 42, 1);
    tg_rng_fill_uniform(&rng, a->x.value.data, a->x.value.size, lo, hi);
}

/* One check of api_loss in `mode` over x in [lo, hi): a fresh tape, tg_gradcheck, the tape freed;
 * a->x stays for the caller (to free).  Returns tg_gradcheck's code. */
static int api_check(api_ctx *a, int mode, float lo, float hi, const tg_gradcheck_opts *opts, tg_gradcheck_result *res,
                     tg_error *err)
{
    api_init(a, mode, lo, hi);
    tg_tape *t = tg_tape_new(NULL);
    tg_param *params[] = {&a->x};
    int rc = tg_gradcheck(t, api_loss, a, params, 1, opts, res, err);
    tg_tape_free(t);
    return rc;
}

Test(gradcheck_api, passes_and_leaves_analytic_gradient_and_values)
{
    api_ctx a;
    api_init(&a, LOSS_SUM_SQUARE, 0.5f, 2.0f);
    float before[10];
    memcpy(before, a.x.value.data, sizeof before);
    a.x.grad.data[3] = 123.0f; /* stale: tg_gradcheck must zero it first */
    tg_tape *t = tg_tape_new(NULL);
    tg_param *params[] = {&a.x};
    tg_gradcheck_result res;
    tg_error err = {0};
    cr_assert_eq(tg_gradcheck(t, api_loss, &a, params, 1, NULL, &res, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(res.checked, 10);
    cr_assert_lt(res.max_rel_err, 1e-2);
    cr_assert_eq(memcmp(before, a.x.value.data, sizeof before), 0, "values not restored bit for bit");
    for (int k = 0; k < 10; k++) /* d/dx Σx² = 2x */
        cr_assert_float_eq(a.x.grad.data[k], 2.0f * before[k], 1e-6f, "grad[%d]", k);
    cr_assert_eq(tg_tape_node_count(t), 0, "the tape is reset afterwards");
    cr_assert(tg_tape_grad_enabled(t), "grad mode restored");
    tg_tape_free(t);
    tg_param_free(&a.x);
}

Test(gradcheck_api, detects_a_wrong_backward)
{
    api_ctx a;
    tg_gradcheck_result res;
    tg_error err = {0};
    cr_assert_eq(api_check(&a, LOSS_BAD_SQUARE, 0.5f, 2.0f, NULL, &res, &err), TG_ERR_NUMERIC);
    /* |3x - 2x| / 3x = 1/3 at every element */
    cr_assert_float_eq(res.max_rel_err, 1.0 / 3.0, 1e-3);
    cr_assert_eq(res.worst_param, 0);
    char expect[96];
    snprintf(expect, sizeof expect, "gradcheck: param 'x' element %zu: analytic ", res.worst_index);
    cr_assert_eq(strncmp(err.msg, expect, strlen(expect)), 0, "message: %s", err.msg);
    cr_assert(strstr(err.msg, "vs numeric") && strstr(err.msg, "> tolerance 0.01"), "message: %s", err.msg);
    cr_assert_eq(res.retried, 10, "every element was measured again before failing");
    tg_param_free(&a.x);
}

/* A loss of ~1000: its rounding alone puts errors of ~3% into the central differences at eps 1e-3,
 * which the check allows for (issue 25: `cae gradcheck` failed correct code on BCE losses) ... */
Test(gradcheck_api, allows_for_the_rounding_of_a_large_loss)
{
    api_ctx a;
    tg_gradcheck_result res;
    tg_error err = {0};
    cr_assert_eq(api_check(&a, LOSS_LARGE, 0.5f, 2.0f, NULL, &res, &err), TG_OK, "%s", err.msg);
    cr_assert_leq(res.max_rel_err, 1e-2);
    tg_param_free(&a.x);
}

/* ... and still fails a wrong backward in the same loss. */
Test(gradcheck_api, detects_a_wrong_backward_in_a_large_loss)
{
    api_ctx a;
    tg_gradcheck_result res;
    tg_error err = {0};
    cr_assert_eq(api_check(&a, LOSS_BAD_LARGE, 0.5f, 2.0f, NULL, &res, &err), TG_ERR_NUMERIC);
    cr_assert_gt(res.max_rel_err, 0.25, "3x against 2x, less the rounding allowance: %g", res.max_rel_err);
    tg_param_free(&a.x);
}

/* tanh(20x) at a step of 2e-2: truncation errors of a few percent, which the shorter step and
 * Richardson's extrapolation remove; the elements are measured again, and pass. */
Test(gradcheck_api, measures_again_where_truncation_fails_the_step)
{
    api_ctx a;
    tg_gradcheck_opts opts = {.eps = 2e-2};
    tg_gradcheck_result res;
    tg_error err = {0};
    cr_assert_eq(api_check(&a, LOSS_STEEP, -0.1f, 0.1f, &opts, &res, &err), TG_OK, "%s", err.msg);
    cr_assert_gt(res.retried, 0, "no element needed a second step: the test does not test retries");
    tg_param_free(&a.x);
}

Test(gradcheck_api, refuses_a_check_of_zeros)
{
    api_ctx a;
    tg_error err = {0};
    cr_assert_eq(api_check(&a, LOSS_DEAD_RELU, -2.0f, -0.5f, NULL, NULL, &err), TG_ERR_NUMERIC);
    cr_assert(strstr(err.msg, "gradcheck: every gradient is (near) zero") == err.msg, "message: %s", err.msg);
    tg_param_free(&a.x);
}

Test(gradcheck_api, samples_max_per_param)
{
    api_ctx a;
    api_init(&a, LOSS_SUM_SQUARE, 0.5f, 2.0f);
    tg_tape *t = tg_tape_new(NULL);
    tg_param *params[] = {&a.x};
    tg_gradcheck_result res;
    tg_gradcheck_opts opts = {.max_per_param = 4, .seed = 9};
    cr_assert_eq(tg_gradcheck(t, api_loss, &a, params, 1, &opts, &res, NULL), TG_OK);
    cr_assert_eq(res.checked, 4);
    opts.max_per_param = 1000; /* more than the param holds: all of them */
    cr_assert_eq(tg_gradcheck(t, api_loss, &a, params, 1, &opts, &res, NULL), TG_OK);
    cr_assert_eq(res.checked, 10);
    tg_tape_free(t);
    tg_param_free(&a.x);
}

Test(gradcheck_api, returns_tape_errors_and_rejects_bad_arguments)
{
    api_ctx a;
    tg_error err = {0};
    cr_assert_eq(api_check(&a, LOSS_SHAPE_ERROR, -1.0f, 1.0f, NULL, NULL, &err), TG_ERR_SHAPE);
    cr_assert_str_eq(err.msg, "matmul: [2,5] x [2,5]: inner dimensions differ");
    tg_tape *t = tg_tape_new(NULL);
    tg_param *params[] = {&a.x};
    cr_assert_eq(tg_gradcheck(t, api_loss, &a, params, 0, NULL, NULL, &err), TG_ERR_ARG);
    tg_gradcheck_opts negative = {.eps = -1.0};
    a.mode = LOSS_SUM_SQUARE;
    cr_assert_eq(tg_gradcheck(t, api_loss, &a, params, 1, &negative, NULL, &err), TG_ERR_ARG);
    tg_tape_free(t);
    tg_param_free(&a.x);
}

/* ---- inputs, a floor scaled with the loss, kinks (issue 20 part 6) ----------------------------- */

/* An input's gradient is checked directly: x held in a tg_param, listed in opts.inputs (no params). */
Test(gradcheck_api, checks_input_leaves)
{
    api_ctx a;
    api_init(&a, LOSS_SUM_SQUARE, 0.5f, 2.0f);
    tg_tape *t = tg_tape_new(NULL);
    tg_param *inputs[] = {&a.x};
    tg_gradcheck_opts opts = {.inputs = inputs, .n_inputs = 1};
    tg_gradcheck_result res;
    tg_error err = {0};
    cr_assert_eq(tg_gradcheck(t, api_loss, &a, NULL, 0, &opts, &res, &err), TG_OK, "%s", err.msg);
    cr_assert_eq(res.checked, 10);
    a.mode = LOSS_BAD_SQUARE;
    cr_assert_eq(tg_gradcheck(t, api_loss, &a, NULL, 0, &opts, &res, &err), TG_ERR_NUMERIC);
    cr_assert_eq(res.worst_param, 0);
    cr_assert(strstr(err.msg, "gradcheck: input 'x' element ") == err.msg, "message: %s", err.msg);
    cr_assert_null(strstr(err.msg, "kink"), "no kink away from one: %s", err.msg);
    tg_tape_free(t);
    tg_param_free(&a.x);
}

/* A test-only op y = x whose backward adds a constant 5e-4 to the true gradient: an absolute
 * error, as float rounding inside a large loss makes. */
static void nudge_forward(tg_node *n)
{
    memcpy(n->value.data, n->in[0]->value.data, n->value.size * sizeof(float));
}
static void nudge_backward(tg_node *n)
{
    for (size_t k = 0; k < n->value.size; k++)
        n->in[0]->grad.data[k] += n->grad.data[k] + 5e-4f;
}
static const tg_op_def nudge_def = {"nudge", nudge_forward, nudge_backward};

typedef struct nudge_ctx {
    tg_param x;
    float level; /* the loss's value: level + 0·Σ nudge(x) */
} nudge_ctx;

static tg_node *nudge_loss(tg_tape *t, void *ctx)
{
    nudge_ctx *c = ctx;
    tg_node *x = tg_param_leaf(t, &c->x);
    tg_node *y = tg_tape_forward(t, tg_tape_record(t, &nudge_def, 1, &x, x->value.ndim, x->value.shape));
    return tg_add_scalar(t, tg_sum(t, tg_scale(t, y, 0.0f)), c->level);
}

/* The same absolute error of 5e-4 (analytic 5e-4, numeric 0) passes under a loss of 100, whose
 * floor is 0.1, and fails under a loss of 0.5, whose floor stays 1e-3.  eps 0.1 keeps the
 * rounding allowance (4 ulps of L / 0.2) below the error, so only the floor decides. */
Test(gradcheck_api, scales_the_floor_with_the_loss)
{
    nudge_ctx c = {.level = 100.0f};
    cr_assert_eq(tg_param_init(&c.x, "x", 1, (size_t[]){4}, NULL), TG_OK);
    for (int k = 0; k < 4; k++)
        c.x.value.data[k] = 0.25f * (float)(k + 1);
    tg_tape *t = tg_tape_new(NULL);
    tg_param *params[] = {&c.x};
    tg_gradcheck_opts opts = {.eps = 0.1};
    tg_gradcheck_result res;
    tg_error err = {0};
    cr_assert_eq(tg_gradcheck(t, nudge_loss, &c, params, 1, &opts, &res, &err), TG_OK, "%s", err.msg);
    cr_assert_float_eq(res.floor, 0.1, 1e-9);
    cr_assert_float_eq(res.loss, 100.0, 1e-9);
    c.level = 0.5f;
    cr_assert_eq(tg_gradcheck(t, nudge_loss, &c, params, 1, &opts, &res, &err), TG_ERR_NUMERIC);
    cr_assert_float_eq(res.floor, 1e-3, 1e-12);
    tg_tape_free(t);
    tg_param_free(&c.x);
}

typedef struct kink_ctx {
    tg_param x; /* [2,3] */
    bool max_axis; /* Σ max over each row's columns, else Σ relu(x) */
} kink_ctx;

static tg_node *kink_loss(tg_tape *t, void *ctx)
{
    kink_ctx *c = ctx;
    tg_node *x = tg_param_leaf(t, &c->x);
    return tg_sum(t, c->max_axis ? tg_max_axis(t, x, 1) : tg_relu(t, x));
}

static void expect_kink(kink_ctx *c, const float v[6], size_t where)
{
    memcpy(c->x.value.data, v, 6 * sizeof(float));
    tg_tape *t = tg_tape_new(NULL);
    tg_param *inputs[] = {&c->x};
    tg_gradcheck_opts opts = {.inputs = inputs, .n_inputs = 1};
    tg_gradcheck_result res;
    tg_error err = {0};
    cr_assert_eq(tg_gradcheck(t, kink_loss, c, NULL, 0, &opts, &res, &err), TG_ERR_NUMERIC);
    cr_assert_eq(res.worst_index, where, "worst %zu: %s", res.worst_index, err.msg);
    cr_assert(res.worst_at_kink);
    cr_assert(strstr(err.msg, "at a kink: the left and right slopes differ"), "message: %s", err.msg);
    cr_assert_float_eq(fabs(res.worst_right - res.worst_left), 1.0, 1e-2);
    tg_tape_free(t);
}

/* relu at exactly 0, and a tie of a row's maximum: the failure says it sits on a kink. */
Test(gradcheck_api, reports_a_kink)
{
    kink_ctx c = {0};
    cr_assert_eq(tg_param_init(&c.x, "x", 2, (size_t[]){2, 3}, NULL), TG_OK);
    expect_kink(&c, (const float[6]){0.5f, -0.75f, 1.25f, 0.0f, 2.0f, -1.5f}, 3);
    c.max_axis = true;
    expect_kink(&c, (const float[6]){0.5f, -0.75f, 0.25f, 1.5f, 1.5f, -1.5f}, 4); /* 4 gets no gradient: rel 1 */
    tg_param_free(&c.x);
}
