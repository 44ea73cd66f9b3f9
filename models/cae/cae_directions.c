/* The contraction ratio along random, data, tangent and orthogonal directions, and the tangent
 * subspace of the encoder's Jacobian (cae_directions.h). */
#include "cae_directions.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cae_eval.h"
#include "tensor/linalg.h"
#include "tensor/vmath.h"

#define OVERSAMPLE 8           /* subspace-iteration vectors beyond k_max: the gap they open speeds it up */
#define RITZ_TOLERANCE 1e-10   /* relative to the largest Ritz value */
#define START_SEED 0x7a9e47u   /* fixed: the tangent subspace is the model's, not the evaluation seed's */

static const char *const NAMES[CAE_N_DIRECTIONS] = {"random", "data", "tangent", "orthogonal"};

const char *cae_direction_name(cae_direction d)
{
    return d >= 0 && d < CAE_N_DIRECTIONS ? NAMES[d] : "?";
}

int cae_direction_of(const char *name, size_t len)
{
    for (int d = 0; d < CAE_N_DIRECTIONS; d++)
        if (strlen(NAMES[d]) == len && !strncmp(NAMES[d], name, len))
            return d;
    return -1;
}

int cae_directions_parse(const char *text, unsigned *mask, tg_error *err)
{
    unsigned kinds = 1u << CAE_DIR_RANDOM;
    for (const char *p = text;;) {
        size_t len = strcspn(p, ",");
        int d = cae_direction_of(p, len);
        if (d < 0 && !(len == 3 && !strncmp(p, "all", 3)))
            return tg_error_set(err, TG_ERR_ARG, "unknown value '%.*s' (one of: random data tangent orthogonal all)",
                                (int)len, p);
        kinds |= d < 0 ? CAE_DIRECTIONS_ALL : 1u << d;
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    *mask = kinds;
    return TG_OK;
}

/* ---- the tangent subspace ----------------------------------------------------------------- */

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* The block products of the subspace iteration, over all p vectors in one pass over J (J [H,D]
 * is megabytes: read once per iteration, not once per vector), each element's sum taken in the
 * same order as a vector at a time (so the same bits).
 *
 * Z [p,H] = V·Jᵀ, V [p,D]: the vectors go GROUP at a time, transposed into vt [D,GROUP] (zeros
 * past p), so that one row of J feeds GROUP dots whose running sums sit side by side in three
 * registers of eight: they vectorize across the vectors, three independent chains of additions
 * (a single dot waits on its own previous addition at every step).  vt: D·GROUP doubles. */
enum { GROUP = 24 };
typedef double f64x8 __attribute__((vector_size(64))); /* (lowered to what each clone has) */
_Static_assert(GROUP == 3 * sizeof(f64x8) / sizeof(double), "three vectors of running sums");

TG_VECTORIZE static void j_times_block(const float *J, size_t H, size_t D, const double *V, size_t p, double *Z,
                                       double *vt)
{
    for (size_t a0 = 0; a0 < p; a0 += GROUP) {
        size_t n = p - a0 < GROUP ? p - a0 : GROUP;
        for (size_t i = 0; i < D; i++)
            for (size_t a = 0; a < GROUP; a++)
                vt[i * GROUP + a] = a < n ? V[(a0 + a) * D + i] : 0.0;
        for (size_t j = 0; j < H; j++) {
            const float *row = J + j * D;
            f64x8 s0 = {0}, s1 = {0}, s2 = {0}, v0, v1, v2;
            for (size_t i = 0; i < D; i++) {
                const double r = (double)row[i];
                memcpy(&v0, vt + i * GROUP, sizeof v0);
                memcpy(&v1, vt + i * GROUP + 8, sizeof v1);
                memcpy(&v2, vt + i * GROUP + 16, sizeof v2);
                s0 += r * v0, s1 += r * v1, s2 += r * v2;
            }
            double s[GROUP];
            memcpy(s, &s0, sizeof s0), memcpy(s + 8, &s1, sizeof s1), memcpy(s + 16, &s2, sizeof s2);
            for (size_t a = 0; a < n; a++)
                Z[(a0 + a) * H + j] = s[a];
        }
    }
}

/* Y [p,D] = Z·J, Z [p,H]: the rows of J added in order into all p rows of Y, COLS columns at a
 * time so that those columns of Y stay in the L1 cache while J's rows stream past. */
enum { COLS = 128 };
TG_VECTORIZE static void jt_times_block(const float *J, size_t H, size_t D, const double *Z, size_t p, double *Y)
{
    memset(Y, 0, p * D * sizeof *Y);
    for (size_t i0 = 0; i0 < D; i0 += COLS) {
        size_t i1 = D - i0 < COLS ? D : i0 + COLS;
        for (size_t j = 0; j < H; j++) {
            const float *row = J + j * D;
            for (size_t a = 0; a < p; a++) {
                double *y = Y + a * D, z = Z[a * H + j];
                for (size_t i = i0; i < i1; i++)
                    y[i] += z * (double)row[i];
            }
        }
    }
}

/* Removes from v [n] its components along the q orthonormal rows of V (twice: one pass leaves
 * rounding-sized components when v was nearly in their span). */
static void project_out(double *v, const double *V, size_t q, size_t n)
{
    for (int pass = 0; pass < 2; pass++)
        for (size_t a = 0; a < q; a++) {
            double c = dot(v, V + a * n, n);
            for (size_t i = 0; i < n; i++)
                v[i] -= c * V[a * n + i];
        }
}

/* Orthonormal rows for V [p,D] (p <= D) by Gram-Schmidt; a row (numerically) in the span of the
 * earlier ones, a zero row included, is replaced by the next coordinate axis e_0, e_1, … that
 * is not. */
static void orthonormalize(double *V, size_t p, size_t D)
{
    size_t axis = 0;
    for (size_t q = 0; q < p; q++) {
        double *v = V + q * D;
        for (;;) {
            double before = sqrt(dot(v, v, D));
            project_out(v, V, q, D);
            double after = sqrt(dot(v, v, D));
            if (after > 0 && after > 1e-10 * before) {
                for (size_t i = 0; i < D; i++)
                    v[i] /= after;
                break;
            }
            memset(v, 0, D * sizeof *v);
            v[axis++ % D] = 1.0; /* at most q + 1 of the D axes can fail: p <= D */
        }
    }
}

/* X [p,n] ← E·X, E [p,p]; tmp has room for p·n doubles. */
static void rotate(double *X, const double *E, size_t p, size_t n, double *tmp)
{
    memset(tmp, 0, p * n * sizeof *tmp);
    for (size_t a = 0; a < p; a++)
        for (size_t b = 0; b < p; b++)
            for (size_t i = 0; i < n; i++)
                tmp[a * n + i] += E[a * p + b] * X[b * n + i];
    memcpy(X, tmp, p * n * sizeof *X);
}

/* Rayleigh-Ritz: with V [p,D] orthonormal and Z [p,H] its rows' images J·v_a, the eigenpairs of
 * M = Z·Zᵀ = V·JᵀJ·Vᵀ rotate both, so that v_a are the Ritz vectors of JᵀJ in span(V) and
 * lambda [p] (descending) their Ritz values.  work: 2·p² + p·max(H,D) doubles. */
static int rayleigh_ritz(double *V, double *Z, size_t p, size_t H, size_t D, double *lambda, double *work,
                         tg_error *err)
{
    double *M = work, *E = work + p * p, *tmp = E + p * p;
    for (size_t a = 0; a < p; a++)
        for (size_t b = a; b < p; b++)
            M[a * p + b] = M[b * p + a] = dot(Z + a * H, Z + b * H, H);
    int rc = tg_sym_eigen(M, p, lambda, E, err);
    if (rc == TG_OK) {
        rotate(V, E, p, D, tmp);
        rotate(Z, E, p, H, tmp);
    }
    return rc;
}

/* Subspace iteration for the p leading Ritz pairs of JᵀJ: V [p,D], lambda [p]. */
static int iterate_subspace(const float *J, size_t H, size_t D, size_t p, size_t k_check, double *V, double *lambda,
                            tg_error *err)
{
    size_t big = H > D ? H : D;
    double *Z = malloc(p * H * sizeof *Z), *prev = malloc(p * sizeof *prev);
    double *work = malloc((2 * p * p + p * big) * sizeof *work);
    float *start = malloc(p * D * sizeof *start);
    double *vt = malloc(D * GROUP * sizeof *vt);
    int rc = (!Z || !prev || !work || !start || !vt) ? tg_error_set(err, TG_ERR_NOMEM, "tangent space: out of memory")
                                                     : TG_OK;
    if (rc == TG_OK) {
        tg_rng rng;
        tg_rng_seed(&rng, START_SEED, 1);
        tg_rng_fill_normal(&rng, start, p * D, 0.0f, 1.0f);
        for (size_t i = 0; i < p * D; i++)
            V[i] = start[i];
        orthonormalize(V, p, D);
    }
    for (int it = 0; rc == TG_OK; it++) {
        j_times_block(J, H, D, V, p, Z, vt);
        if ((rc = rayleigh_ritz(V, Z, p, H, D, lambda, work, err)))
            break;
        bool settled = it > 0;
        for (size_t a = 0; a < k_check && settled; a++)
            settled = fabs(lambda[a] - prev[a]) <= RITZ_TOLERANCE * lambda[0];
        if (settled || it == CAE_TANGENT_ITERATIONS)
            break;
        memcpy(prev, lambda, p * sizeof *prev);
        jt_times_block(J, H, D, Z, p, V);
        orthonormalize(V, p, D);
    }
    free(Z);
    free(prev);
    free(work);
    free(start);
    free(vt);
    return rc;
}

int cae_tangent_space(const float *J, size_t H, size_t D, size_t k_max, double fraction, double *V, double *sigma,
                      size_t *k, tg_error *err)
{
    *k = 0;
    if (k_max == 0 || H == 0 || D == 0)
        return tg_error_set(err, TG_ERR_ARG, "tangent space: k_max %zu, J %zux%zu", k_max, H, D);
    size_t rank = H < D ? H : D, p = k_max + OVERSAMPLE < rank ? k_max + OVERSAMPLE : rank;
    size_t kept = k_max < p ? k_max : p;
    double *W = malloc(p * D * sizeof *W), *lambda = malloc(p * sizeof *lambda);
    int rc = (!W || !lambda) ? tg_error_set(err, TG_ERR_NOMEM, "tangent space: out of memory")
                             : iterate_subspace(J, H, D, p, kept, W, lambda, err);
    if (rc == TG_OK) {
        for (size_t a = 0; a < k_max; a++)
            sigma[a] = a < kept ? sqrt(lambda[a] > 0 ? lambda[a] : 0.0) : 0.0;
        while (*k < kept && sigma[*k] > 0 && sigma[*k] >= fraction * sigma[0])
            (*k)++;
        memcpy(V, W, kept * D * sizeof *V);
    }
    free(W);
    free(lambda);
    return rc;
}

/* ---- directions --------------------------------------------------------------------------- */

bool cae_unit_direction(cae_direction d, const float *x, const float *partner, const double *V, size_t k, size_t D,
                        tg_rng *rng, float *scratch, double *u)
{
    switch (d) {
    case CAE_DIR_RANDOM:
    case CAE_DIR_ORTHOGONAL:
        tg_rng_fill_normal(rng, scratch, D, 0.0f, 1.0f);
        for (size_t i = 0; i < D; i++)
            u[i] = scratch[i];
        break;
    case CAE_DIR_DATA:
        for (size_t i = 0; i < D; i++)
            u[i] = (double)partner[i] - (double)x[i];
        break;
    case CAE_DIR_TANGENT:
        if (k == 0)
            return false;
        tg_rng_fill_normal(rng, scratch, k, 0.0f, 1.0f); /* isotropic in the subspace's basis */
        memset(u, 0, D * sizeof *u);
        for (size_t a = 0; a < k; a++)
            for (size_t i = 0; i < D; i++)
                u[i] += scratch[a] * V[a * D + i];
        break;
    default: return false;
    }
    double before = sqrt(dot(u, u, D));
    if (d == CAE_DIR_ORTHOGONAL)
        project_out(u, V, k, D);
    double norm = sqrt(dot(u, u, D));
    if (!(norm > 0) || norm <= 1e-9 * before) /* nothing left: V spans R^D, or x_j = x */
        return false;
    for (size_t i = 0; i < D; i++)
        u[i] /= norm;
    return true;
}

/* ‖hp − h0‖ / radius for two codes of H units. */
static double ratio(const float *hp, const float *h0, size_t H, double radius)
{
    double d2 = 0.0;
    for (size_t j = 0; j < H; j++) {
        double d = (double)hp[j] - (double)h0[j];
        d2 += d * d;
    }
    return sqrt(d2) / radius;
}

/* Row b of xp ← x + radius·u. */
static void step_row(float *row, const float *x, const double *u, double radius, size_t D)
{
    for (size_t i = 0; i < D; i++)
        row[i] = x[i] + (float)(radius * u[i]);
}

/* ---- random and data directions: every evaluated image ------------------------------------ */

/* The data direction of each of the chunk's images x [count,D] (global numbers idx) towards a
 * partner drawn uniformly among the other n - 1 evaluated images: u [count,D]; has[b] false
 * when there is none (n == 1, or the partner is the same image). */
static void data_directions(const tg_dataset *test, const uint32_t *idx, size_t count, size_t n, const float *x,
                            tg_rng *rng, float *partner, double *u, bool *has, size_t D)
{
    for (size_t b = 0; b < count; b++) {
        has[b] = n > 1;
        if (!has[b])
            continue;
        uint32_t j = tg_rng_below(rng, (uint32_t)(n - 1));
        j += j >= idx[b]; /* any image but this one */
        tg_dataset_images_to_float(test, &j, 1, partner);
        has[b] = cae_unit_direction(CAE_DIR_DATA, x + b * D, partner, NULL, 0, D, NULL, NULL, u + b * D);
    }
}

int cae_chunk_contractions(tg_tape *tape, cae_model *m, const tg_dataset *test, const uint32_t *idx, size_t count,
                           size_t n, const struct cae_eval_options *o, tg_rng *rngs, const float *h0,
                           struct cae_eval_result *sums, tg_error *err)
{
    const size_t D = m->cfg.input, H = m->cfg.hidden;
    bool data = o->directions & (1u << CAE_DIR_DATA);
    float *x = malloc(count * D * sizeof *x), *scratch = malloc(D * sizeof *scratch);
    double *u = malloc(D * sizeof *u), *udata = data ? malloc(count * D * sizeof *udata) : NULL;
    bool *has = data ? calloc(count, sizeof *has) : NULL;
    if (!x || !scratch || !u || (data && (!udata || !has))) {
        free(x), free(scratch), free(u), free(udata), free(has);
        return tg_error_set(err, TG_ERR_NOMEM, "eval: out of memory");
    }
    tg_dataset_images_to_float(test, idx, count, x);
    size_t with_data = 0;
    if (data)
        data_directions(test, idx, count, n, x, &rngs[1], scratch, udata, has, D);
    for (size_t b = 0; data && b < count; b++)
        with_data += has[b];
    int rc = TG_OK;
    for (int r = 0; r < o->n_radii && rc == TG_OK; r++) {
        tg_tape_reset(tape);
        tg_node *xp = tg_input_new(tape, 2, (size_t[]){count + with_data, D});
        size_t row = count;
        for (size_t b = 0; xp && b < count; b++) {
            cae_unit_direction(CAE_DIR_RANDOM, NULL, NULL, NULL, 0, D, &rngs[0], scratch, u);
            step_row(xp->value.data + b * D, x + b * D, u, o->radii[r], D);
            if (data && has[b])
                step_row(xp->value.data + row++ * D, x + b * D, udata + b * D, o->radii[r], D);
        }
        tg_node *hp = xp ? cae_encode(tape, m, xp) : NULL;
        if (!hp) {
            rc = tg_tape_get_error(tape, err);
            break;
        }
        row = count;
        for (size_t b = 0; b < count; b++) {
            sums->contraction[CAE_DIR_RANDOM][r] += ratio(hp->value.data + b * H, h0 + b * H, H, o->radii[r]);
            if (data && has[b])
                sums->contraction[CAE_DIR_DATA][r] +=
                    ratio(hp->value.data + row++ * H, h0 + b * H, H, o->radii[r]);
        }
    }
    sums->direction_images[CAE_DIR_RANDOM] += count;
    sums->direction_images[CAE_DIR_DATA] += with_data;
    free(x), free(scratch), free(u), free(udata), free(has);
    return rc;
}

/* ---- tangent and orthogonal directions: the first CAE_TANGENT_IMAGES images ---------------- */

typedef struct tangent_work {
    float *x, *J, *scratch; /* [D], [H,D], [max(D, CAE_TANGENT_MAX)] */
    double *V, *sigma, *u;  /* [CAE_TANGENT_MAX,D], [CAE_TANGENT_MAX], [D] */
} tangent_work;

/* One image x with its tangent subspace V [k,D]: encodes x and x + r·u for each wanted kind and
 * radius in one batch, and adds the ratios to r (an image whose kind has no direction is left
 * out of that kind's mean). */
static int tangent_image(tg_tape *tape, cae_model *m, tangent_work *w, size_t k, unsigned want,
                         const struct cae_eval_options *o, tg_rng *rng, struct cae_eval_result *r, tg_error *err)
{
    static const cae_direction kinds[2] = {CAE_DIR_TANGENT, CAE_DIR_ORTHOGONAL};
    const size_t D = m->cfg.input, H = m->cfg.hidden, R = (size_t)o->n_radii;
    bool has[2] = {false, false};
    tg_tape_reset(tape);
    tg_node *xp = tg_input_new(tape, 2, (size_t[]){1 + 2 * R, D}); /* x, then R rows per kind */
    if (!xp)
        return tg_tape_get_error(tape, err);
    memcpy(xp->value.data, w->x, D * sizeof *w->x);
    for (int t = 0; t < 2; t++) {
        has[t] = want & (1u << kinds[t]);
        for (size_t q = 0; q < R; q++) {
            float *row = xp->value.data + (1 + t * R + q) * D;
            has[t] = has[t] && cae_unit_direction(kinds[t], w->x, NULL, w->V, k, D, rng, w->scratch, w->u);
            if (has[t])
                step_row(row, w->x, w->u, o->radii[q], D);
            else
                memcpy(row, w->x, D * sizeof *row);
        }
    }
    tg_node *hp = cae_encode(tape, m, xp);
    if (!hp)
        return tg_tape_get_error(tape, err);
    for (int t = 0; t < 2; t++) {
        for (size_t q = 0; q < R && has[t]; q++)
            r->contraction[kinds[t]][q] += ratio(hp->value.data + (1 + t * R + q) * H, hp->value.data, H, o->radii[q]);
        r->direction_images[kinds[t]] += has[t];
    }
    return TG_OK;
}

int cae_tangent_contractions(cae_model *m, const tg_dataset *test, const uint32_t *idx, size_t n,
                             const struct cae_eval_options *o, struct cae_eval_result *r, tg_error *err)
{
    unsigned want = o->directions & (1u << CAE_DIR_TANGENT | 1u << CAE_DIR_ORTHOGONAL);
    if (!want)
        return TG_OK;
    const size_t D = m->cfg.input, H = m->cfg.hidden, K = CAE_TANGENT_MAX;
    size_t images = n < CAE_TANGENT_IMAGES ? n : CAE_TANGENT_IMAGES;
    tangent_work w = {malloc(D * sizeof(float)), malloc(H * D * sizeof(float)), malloc((D > K ? D : K) * sizeof(float)),
                      malloc(K * D * sizeof(double)), malloc(K * sizeof(double)), malloc(D * sizeof(double))};
    tg_tape *tape = tg_tape_new(err);
    int rc = tape ? TG_OK : (err ? err->code : TG_ERR_NOMEM);
    if (rc == TG_OK && (!w.x || !w.J || !w.scratch || !w.V || !w.sigma || !w.u))
        rc = tg_error_set(err, TG_ERR_NOMEM, "eval: out of memory");
    if (tape)
        tg_tape_set_grad_enabled(tape, false);
    tg_rng rng;
    tg_rng_seed(&rng, o->seed, 0x7a9e);
    for (size_t i = 0; i < images && rc == TG_OK; i++) {
        size_t k = 0;
        tg_dataset_images_to_float(test, &idx[i], 1, w.x);
        if ((rc = cae_jacobian_at(m, w.x, w.J, err)) == TG_OK &&
            (rc = cae_tangent_space(w.J, H, D, K, CAE_TANGENT_FRACTION, w.V, w.sigma, &k, err)) == TG_OK)
            rc = tangent_image(tape, m, &w, k, want, o, &rng, r, err);
        r->tangent_k += (double)k;
    }
    r->tangent_images = images;
    tg_tape_free(tape);
    free(w.x), free(w.J), free(w.scratch), free(w.V), free(w.sigma), free(w.u);
    return rc;
}
