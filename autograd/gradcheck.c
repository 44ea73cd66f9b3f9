/* autograd/gradcheck.c — finite-difference gradient check (see gradcheck.h). */
#include "gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tensor/rng.h"

#define DEFAULT_EPS 1e-3
#define DEFAULT_FLOOR 1e-3
#define DEFAULT_TOLERANCE 1e-2

static tg_gradcheck_opts with_defaults(const tg_gradcheck_opts *given)
{
    tg_gradcheck_opts o = given ? *given : (tg_gradcheck_opts){0};
    if (o.eps == 0.0)
        o.eps = DEFAULT_EPS;
    if (o.floor == 0.0)
        o.floor = DEFAULT_FLOOR;
    if (o.tolerance == 0.0)
        o.tolerance = DEFAULT_TOLERANCE;
    return o;
}

static const char *param_name(const tg_param *p) { return p->name[0] ? p->name : "(unnamed)"; }

/* Builds the loss on a freshly reset tape; checks it is one finite number. */
static int build_loss(tg_tape *t, tg_loss_fn fn, void *ctx, tg_node **loss, tg_error *err)
{
    tg_tape_reset(t);
    *loss = fn(t, ctx);
    if (tg_tape_status(t))
        return tg_tape_get_error(t, err);
    if (!*loss)
        return tg_error_set(err, TG_ERR_ARG, "gradcheck: the loss function returned NULL");
    if ((*loss)->value.size != 1) {
        char s[64];
        return tg_error_set(err, TG_ERR_SHAPE, "gradcheck: the loss has shape %s, expected one element",
                            tg_tensor_shape_str(s, sizeof s, &(*loss)->value));
    }
    if (!isfinite((*loss)->value.data[0]))
        return tg_error_set(err, TG_ERR_NUMERIC, "gradcheck: the loss is %g",
                            (double)(*loss)->value.data[0]);
    return TG_OK;
}

/* The rounding allowance of a central difference, in units of the last place of the two losses:
 * a float loss is rounded at least once at the end, and usually a few times on the way (a sum
 * of terms each rounded to float, a scale), so two evaluations a step apart can differ from the
 * exact difference by a few of its ulps.  Divided by the step, that is the part of a numeric
 * gradient the check cannot resolve: it grows with the loss's magnitude, not with the gradient's. */
#define ROUNDING_ULPS 4.0

static double ulp_of(float v)
{
    float a = fabsf(v);
    return (double)nextafterf(a, INFINITY) - (double)a;
}

/* A numeric gradient and the part of it rounding may have made up. */
typedef struct estimate {
    double numeric, noise;
    double left, right; /* the one-sided slopes (L(θ) - L(θ-eps))/eps and (L(θ+eps) - L(θ))/eps */
} estimate;

/* What the whole check shares: the loss, the options with the floor scaled to the loss. */
typedef struct check_ctx {
    tg_tape *t;
    tg_loss_fn fn;
    void *ctx;
    tg_gradcheck_opts o; /* o.floor: the caller's floor times max(1, |L|) */
    float loss0;         /* L at the unperturbed point, grad mode off */
} check_ctx;

/* Central difference at element k of p: (L(θ+eps) - L(θ-eps)) / (step actually stored).
 * The value is put back bit for bit on every path. */
static int central_difference(const check_ctx *c, tg_param *p, size_t k, double eps, estimate *e, tg_error *err)
{
    tg_tape *t = c->t;
    tg_loss_fn fn = c->fn;
    void *ctx = c->ctx;
    float *theta = &p->value.data[k];
    float orig = *theta;
    float up = (float)((double)orig + eps), down = (float)((double)orig - eps);
    if (up == down)
        return tg_error_set(err, TG_ERR_ARG, "gradcheck: eps %g vanishes next to param '%s' element %zu = %g",
                            eps, param_name(p), k, (double)orig);
    tg_node *loss;
    float loss_up = 0.0f, loss_down = 0.0f;
    *theta = up;
    int rc = build_loss(t, fn, ctx, &loss, err);
    if (rc == TG_OK) {
        loss_up = loss->value.data[0];
        *theta = down;
        rc = build_loss(t, fn, ctx, &loss, err);
        if (rc == TG_OK)
            loss_down = loss->value.data[0];
    }
    *theta = orig;
    if (rc == TG_OK) {
        double step = (double)up - (double)down;
        e->numeric = ((double)loss_up - (double)loss_down) / step;
        e->noise = ROUNDING_ULPS * 0.5 * (ulp_of(loss_up) + ulp_of(loss_down)) / step;
        e->left = ((double)c->loss0 - (double)loss_down) / ((double)orig - (double)down);
        e->right = ((double)loss_up - (double)c->loss0) / ((double)up - (double)orig);
    }
    return rc;
}

/* How far the analytic gradient is from an estimate, beyond the estimate's rounding allowance,
 * relative to the larger of the two (or the floor). */
static double excess_error(double analytic, const estimate *e, double floor)
{
    double scale = fmax(fmax(fabs(analytic), fabs(e->numeric)), floor);
    return fmax(0.0, fabs(analytic - e->numeric) - e->noise) / scale;
}

/* An element the first central difference failed: the steps 2·eps and eps/2, and Richardson's
 * extrapolations (4·D(h) − D(2h))/3 of each pair, which cancel the eps² term of the truncation
 * error.  Rounding (a large loss) is what the longer step beats, truncation (large third
 * derivatives) what the shorter one and the extrapolations beat; a wrong backward is wrong by the
 * same amount for every step.  Of these estimates, the one with the smallest rounding allowance
 * that the analytic gradient passes replaces *best; if none does, *best (the step eps) stays, and
 * so does the failure.  A step that
 * cannot be taken here (it vanishes, or the loss is not finite there) is left out. */
static int retry_element(const check_ctx *c, tg_param *p, size_t k, double analytic, estimate *best, tg_error *err)
{
    const tg_gradcheck_opts *o = &c->o;
    const estimate mid = *best;
    estimate est[4];
    int n = 0;
    const double steps[2] = {2.0 * o->eps, 0.5 * o->eps}, floor = o->floor, tolerance = o->tolerance;
    estimate other[2];
    bool have[2] = {false, false};
    for (int s = 0; s < 2; s++) {
        tg_error why;
        int rc = central_difference(c, p, k, steps[s], &other[s], &why);
        if (rc == TG_ERR_ARG || rc == TG_ERR_NUMERIC)
            continue;
        if (rc) {
            if (err)
                *err = why;
            return rc;
        }
        have[s] = true;
        est[n++] = other[s];
    }
    if (have[0]) /* long step 2h, short h */
        est[n++] = (estimate){(4.0 * mid.numeric - other[0].numeric) / 3.0, (4.0 * mid.noise + other[0].noise) / 3.0,
                              mid.left, mid.right};
    if (have[1]) /* long step h, short h/2 */
        est[n++] = (estimate){(4.0 * other[1].numeric - mid.numeric) / 3.0, (4.0 * other[1].noise + mid.noise) / 3.0,
                              mid.left, mid.right};
    int pick = -1; /* of the estimates that pass, the one with the smallest rounding allowance */
    for (int i = 0; i < n; i++)
        if (excess_error(analytic, &est[i], floor) <= tolerance && (pick < 0 || est[i].noise < est[pick].noise))
            pick = i;
    if (pick >= 0)
        *best = est[pick];
    best->left = mid.left, best->right = mid.right; /* the step eps's slopes: what a kink report reads */
    return TG_OK;
}

/* A failing element sits on a kink (relu at 0, a max tie) when its one-sided slopes disagree
 * with each other beyond rounding (a one-sided slope carries twice the central difference's
 * rounding allowance) while the analytic gradient matches one of them: the backward chose a
 * side, and the central difference averaged the two. */
static bool at_kink(double analytic, const estimate *e, const tg_gradcheck_opts *o)
{
    estimate l = {e->left, 2.0 * e->noise, 0, 0}, r = {e->right, 2.0 * e->noise, 0, 0};
    double gap = fmax(0.0, fabs(e->left - e->right) - 4.0 * e->noise);
    bool disagree = gap > o->tolerance * fmax(fmax(fabs(e->left), fabs(e->right)), o->floor);
    return disagree && (excess_error(analytic, &l, o->floor) <= o->tolerance ||
                        excess_error(analytic, &r, o->floor) <= o->tolerance);
}

/* Selection sampling (Knuth's Algorithm S): walking i = 0..n-1, take i with probability
 * (still wanted)/(still left).  Exactly `want` distinct indices, uniformly, nothing stored. */
static bool sample_takes(tg_rng *rng, size_t i, size_t n, size_t want, size_t taken)
{
    if (want >= n)
        return true;
    double u = (double)tg_rng_u32(rng) / 4294967296.0; /* [0,1) */
    return u * (double)(n - i) < (double)(want - taken);
}

/* Leaf i of the check: params[0..n_params), then the options' inputs. */
static tg_param *leaf_at(tg_param *const *params, int n_params, const tg_gradcheck_opts *o, int i)
{
    return i < n_params ? params[i] : o->inputs[i - n_params];
}

/* Checks element k of leaf p (leaf index li), folding it into r. */
static int check_element(const check_ctx *c, tg_param *p, int li, size_t k, tg_gradcheck_result *r, tg_error *err)
{
    const tg_gradcheck_opts *o = &c->o;
    double analytic = p->grad.data[k];
    if (!isfinite(analytic))
        return tg_error_set(err, TG_ERR_NUMERIC, "gradcheck: %s '%s' element %zu: analytic gradient is %g",
                            li < r->n_params ? "param" : "input", param_name(p), k, analytic);
    estimate e;
    int rc = central_difference(c, p, k, o->eps, &e, err);
    if (rc != TG_OK)
        return rc;
    if (excess_error(analytic, &e, o->floor) > o->tolerance) {
        r->retried++;
        if ((rc = retry_element(c, p, k, analytic, &e, err)) != TG_OK)
            return rc;
    }
    double numeric = e.numeric, rel = excess_error(analytic, &e, o->floor);
    r->checked++;
    r->max_abs_grad = fmax(r->max_abs_grad, fmax(fabs(analytic), fabs(numeric)));
    if (r->worst_param < 0 || rel > r->max_rel_err) {
        r->max_rel_err = rel;
        r->worst_param = li;
        r->worst_index = k;
        r->worst_analytic = analytic;
        r->worst_numeric = numeric;
        r->worst_at_kink = rel > o->tolerance && at_kink(analytic, &e, o);
        r->worst_left = e.left;
        r->worst_right = e.right;
    }
    return TG_OK;
}

/* Steps 1 and 2 of tg_gradcheck (the caller restores the tape's state). */
static int check_all(check_ctx *c, tg_param *const *params, int n_params, double floor, tg_gradcheck_result *r,
                     tg_error *err)
{
    const int n_leaves = n_params + c->o.n_inputs;
    for (int i = 0; i < n_leaves; i++)
        tg_param_zero_grad(leaf_at(params, n_params, &c->o, i));
    tg_tape_set_grad_enabled(c->t, true);
    tg_node *loss;
    int rc = build_loss(c->t, c->fn, c->ctx, &loss, err);
    if (rc == TG_OK)
        rc = tg_backward(c->t, loss, err);
    /* Perturbed losses need no gradient bookkeeping; L(θ), for the one-sided slopes, is built the same way. */
    tg_tape_set_grad_enabled(c->t, false);
    if (rc == TG_OK)
        rc = build_loss(c->t, c->fn, c->ctx, &loss, err);
    if (rc)
        return rc;
    c->loss0 = loss->value.data[0];
    c->o.floor = floor * fmax(1.0, fabs((double)c->loss0));
    r->loss = c->loss0;
    r->floor = c->o.floor;

    tg_rng rng;
    tg_rng_seed(&rng, c->o.seed, 0x67726164u /* "grad" */);
    for (int li = 0; li < n_leaves; li++) {
        tg_param *p = leaf_at(params, n_params, &c->o, li);
        size_t n = p->value.size, max = c->o.max_per_param;
        size_t want = max == 0 || max > n ? n : max, taken = 0;
        for (size_t k = 0; k < n && taken < want; k++) {
            if (!sample_takes(&rng, k, n, want, taken))
                continue;
            taken++;
            if ((rc = check_element(c, p, li, k, r, err)) != TG_OK)
                return rc;
        }
    }

    /* Below tolerance·floor a gradient cannot be told apart from zero by this check (the caller's
     * floor: a large loss does not make a zero gradient more meaningful). */
    if (r->max_abs_grad < c->o.tolerance * floor)
        return tg_error_set(err, TG_ERR_NUMERIC,
                            "gradcheck: every gradient is (near) zero (largest %g over %zu elements, "
                            "threshold %g): a check of zeros proves nothing",
                            r->max_abs_grad, r->checked, c->o.tolerance * floor);
    if (r->max_rel_err > c->o.tolerance) {
        char kink[160] = "";
        if (r->worst_at_kink)
            snprintf(kink, sizeof kink, " at a kink: the left and right slopes differ (left %.6g, right %.6g)",
                     r->worst_left, r->worst_right);
        return tg_error_set(err, TG_ERR_NUMERIC,
                            "gradcheck: %s '%s' element %zu: analytic %.6g vs numeric %.6g "
                            "(relative error %.3g > tolerance %g)%s",
                            r->worst_param < n_params ? "param" : "input",
                            param_name(leaf_at(params, n_params, &c->o, r->worst_param)), r->worst_index,
                            r->worst_analytic, r->worst_numeric, r->max_rel_err, c->o.tolerance, kink);
    }
    return TG_OK;
}

int tg_gradcheck(tg_tape *tape, tg_loss_fn fn, void *ctx, tg_param *const *params, int n_params,
                 const tg_gradcheck_opts *opts, tg_gradcheck_result *res, tg_error *err)
{
    tg_gradcheck_result local;
    tg_gradcheck_result *r = res ? res : &local;
    memset(r, 0, sizeof *r);
    r->worst_param = -1;
    r->n_params = n_params;

    tg_gradcheck_opts o = with_defaults(opts);
    if (!tape || !fn || n_params < 0 || (n_params > 0 && !params) || o.n_inputs < 0 ||
        (o.n_inputs > 0 && !o.inputs) || n_params + o.n_inputs < 1)
        return tg_error_set(err, TG_ERR_ARG,
                            "gradcheck: needs a tape, a loss function and at least one param or input");
    for (int i = 0; i < n_params + o.n_inputs; i++) {
        const tg_param *p = leaf_at(params, n_params, &o, i);
        if (!p || !p->value.data || !p->grad.data)
            return tg_error_set(err, TG_ERR_ARG, "gradcheck: %s %d is NULL or uninitialized",
                                i < n_params ? "param" : "input", i < n_params ? i : i - n_params);
    }
    if (!(o.eps > 0.0) || !(o.floor > 0.0) || !(o.tolerance > 0.0))
        return tg_error_set(err, TG_ERR_ARG, "gradcheck: eps %g, floor %g and tolerance %g must be positive",
                            o.eps, o.floor, o.tolerance);

    bool grad_mode = tg_tape_grad_enabled(tape);
    check_ctx c = {.t = tape, .fn = fn, .ctx = ctx, .o = o};
    int rc = check_all(&c, params, n_params, o.floor, r, err);
    tg_tape_set_grad_enabled(tape, grad_mode);
    tg_tape_reset(tape);
    return rc;
}
