/* autograd/gradcheck.c — finite-difference gradient check (see gradcheck.h). */
#include "gradcheck.h"

#include <math.h>
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

/* Central difference at element k of p: (L(θ+eps) - L(θ-eps)) / (step actually stored).
 * The value is put back bit for bit on every path. */
static int numeric_gradient(tg_tape *t, tg_loss_fn fn, void *ctx, tg_param *p, size_t k, double eps,
                            double *numeric, tg_error *err)
{
    float *theta = &p->value.data[k];
    float orig = *theta;
    float up = (float)((double)orig + eps), down = (float)((double)orig - eps);
    if (up == down)
        return tg_error_set(err, TG_ERR_ARG, "gradcheck: eps %g vanishes next to param '%s' element %zu = %g",
                            eps, param_name(p), k, (double)orig);
    tg_node *loss;
    double loss_up = 0.0, loss_down = 0.0;
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
    if (rc == TG_OK)
        *numeric = (loss_up - loss_down) / ((double)up - (double)down);
    return rc;
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

/* Steps 1 and 2 of tg_gradcheck (the caller restores the tape's state). */
static int check_all(tg_tape *t, tg_loss_fn fn, void *ctx, tg_param *const *params, int n_params,
                     const tg_gradcheck_opts *o, tg_gradcheck_result *r, tg_error *err)
{
    tg_params_zero_grad(params, n_params);
    tg_tape_set_grad_enabled(t, true);
    tg_node *loss;
    int rc = build_loss(t, fn, ctx, &loss, err);
    if (rc == TG_OK)
        rc = tg_backward(t, loss, err);
    if (rc)
        return rc;

    /* Perturbed losses need no gradient bookkeeping. */
    tg_tape_set_grad_enabled(t, false);
    tg_rng rng;
    tg_rng_seed(&rng, o->seed, 0x67726164u /* "grad" */);
    for (int pi = 0; pi < n_params; pi++) {
        tg_param *p = params[pi];
        size_t n = p->value.size;
        size_t want = o->max_per_param == 0 || o->max_per_param > n ? n : o->max_per_param;
        size_t taken = 0;
        for (size_t k = 0; k < n && taken < want; k++) {
            if (!sample_takes(&rng, k, n, want, taken))
                continue;
            taken++;
            double analytic = p->grad.data[k], numeric = 0.0;
            if (!isfinite(analytic))
                return tg_error_set(err, TG_ERR_NUMERIC,
                                    "gradcheck: param '%s' element %zu: analytic gradient is %g",
                                    param_name(p), k, analytic);
            if ((rc = numeric_gradient(t, fn, ctx, p, k, o->eps, &numeric, err)) != TG_OK)
                return rc;
            double scale = fmax(fmax(fabs(analytic), fabs(numeric)), o->floor);
            double rel = fabs(analytic - numeric) / scale;
            r->checked++;
            r->max_abs_grad = fmax(r->max_abs_grad, fmax(fabs(analytic), fabs(numeric)));
            if (r->worst_param < 0 || rel > r->max_rel_err) {
                r->max_rel_err = rel;
                r->worst_param = pi;
                r->worst_index = k;
                r->worst_analytic = analytic;
                r->worst_numeric = numeric;
            }
        }
    }

    /* Below tolerance·floor a gradient cannot be told apart from zero by this check. */
    if (r->max_abs_grad < o->tolerance * o->floor)
        return tg_error_set(err, TG_ERR_NUMERIC,
                            "gradcheck: every gradient is (near) zero (largest %g over %zu elements, "
                            "threshold %g): a check of zeros proves nothing",
                            r->max_abs_grad, r->checked, o->tolerance * o->floor);
    if (r->max_rel_err > o->tolerance)
        return tg_error_set(err, TG_ERR_NUMERIC,
                            "gradcheck: param '%s' element %zu: analytic %.6g vs numeric %.6g "
                            "(relative error %.3g > tolerance %g)",
                            param_name(params[r->worst_param]), r->worst_index, r->worst_analytic,
                            r->worst_numeric, r->max_rel_err, o->tolerance);
    return TG_OK;
}

int tg_gradcheck(tg_tape *tape, tg_loss_fn fn, void *ctx, tg_param *const *params, int n_params,
                 const tg_gradcheck_opts *opts, tg_gradcheck_result *res, tg_error *err)
{
    tg_gradcheck_result local;
    tg_gradcheck_result *r = res ? res : &local;
    memset(r, 0, sizeof *r);
    r->worst_param = -1;

    if (!tape || !fn || !params || n_params < 1)
        return tg_error_set(err, TG_ERR_ARG, "gradcheck: needs a tape, a loss function and at least one param");
    for (int i = 0; i < n_params; i++)
        if (!params[i] || !params[i]->value.data || !params[i]->grad.data)
            return tg_error_set(err, TG_ERR_ARG, "gradcheck: param %d is NULL or uninitialized", i);
    tg_gradcheck_opts o = with_defaults(opts);
    if (!(o.eps > 0.0) || !(o.floor > 0.0) || !(o.tolerance > 0.0))
        return tg_error_set(err, TG_ERR_ARG, "gradcheck: eps %g, floor %g and tolerance %g must be positive",
                            o.eps, o.floor, o.tolerance);

    bool grad_mode = tg_tape_grad_enabled(tape);
    int rc = check_all(tape, fn, ctx, params, n_params, &o, r, err);
    tg_tape_set_grad_enabled(tape, grad_mode);
    tg_tape_reset(tape);
    return rc;
}
