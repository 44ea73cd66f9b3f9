/* autograd/ops_activation.c — the activation ops, one per line of activations.def, and the
 * registry's lookups (names, parameters, parsing).
 *
 * Every activation is the same op in shape: y = f(x) elementwise, dx += dy·f'(x).  One forward
 * and one backward serve them all; the kind and its parameter sit in the node's params, and each
 * loop is specialized per kind (a switch over constant kinds around an inlined loop body) so it
 * calls no function per element and vectorizes where f allows.  The arithmetic itself is in
 * activation_math.h. */
#include "activation_math.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/parallel.h"

/* ---- the registry's table ---------------------------------------------------------------------- */

typedef struct activation_entry {
    const char *name;
    const char *param_name; /* "" when the activation takes none */
    float param_default;
    bool kink;
    const tg_op_def *op;
} activation_entry;

static const activation_entry activations[TG_ACT_COUNT] = {
#define TG_ACTIVATION(name, NAME, param_name, param_default, kink, formula) \
    [TG_ACT_##NAME] = {#name, param_name, param_default, kink, &tg_op_##name},
#include "activations.def"
#undef TG_ACTIVATION
};

static bool known_kind(tg_activation_kind kind) { return (unsigned)kind < TG_ACT_COUNT; }
static bool takes_param(tg_activation_kind kind) { return activations[kind].param_name[0] != '\0'; }
/* Every parameter so far is a slope-like factor: finite and >= 0 keeps f' readable off f. */
static bool param_ok(float p) { return isfinite(p) && p >= 0.0f; }

bool tg_activation_valid(tg_activation act)
{
    return known_kind(act.kind) && (!takes_param(act.kind) || param_ok(act.param));
}

tg_activation tg_activation_of(tg_activation_kind kind)
{
    return (tg_activation){kind, known_kind(kind) ? activations[kind].param_default : 0.0f};
}

const char *tg_activation_name(tg_activation_kind kind) { return known_kind(kind) ? activations[kind].name : "unknown"; }

bool tg_activation_has_kink(tg_activation_kind kind) { return known_kind(kind) && activations[kind].kink; }

const char *tg_activation_param_name(tg_activation_kind kind)
{
    return known_kind(kind) && takes_param(kind) ? activations[kind].param_name : NULL;
}

int tg_activation_parse(const char *text, tg_activation *act)
{
    if (!text)
        return -1;
    const char *colon = strchr(text, ':');
    size_t name_len = colon ? (size_t)(colon - text) : strlen(text);
    for (int k = 0; k < TG_ACT_COUNT; k++) {
        if (strlen(activations[k].name) != name_len || strncmp(text, activations[k].name, name_len) != 0)
            continue;
        tg_activation parsed = tg_activation_of((tg_activation_kind)k);
        if (colon) {
            char *end;
            errno = 0;
            parsed.param = strtof(colon + 1, &end);
            if (!takes_param(parsed.kind) || end == colon + 1 || *end != '\0' || errno || !param_ok(parsed.param))
                return -2;
        }
        *act = parsed;
        return 0;
    }
    return -1;
}

int tg_activation_format(tg_activation act, char *buf, size_t cap)
{
    if (!known_kind(act.kind) || !takes_param(act.kind))
        return snprintf(buf, cap, "%s", tg_activation_name(act.kind));
    /* the fewest digits that read back as the same float: 0.01f prints as 0.01 */
    char digits[32];
    for (int precision = 6; precision <= 9; precision++) {
        snprintf(digits, sizeof digits, "%.*g", precision, (double)act.param);
        if (strtof(digits, NULL) == act.param)
            break;
    }
    return snprintf(buf, cap, "%s:%s", activations[act.kind].name, digits);
}

/* "sigmoid|tanh|...|leaky_relu[:slope]|elu[:alpha]", built once from the table. */
static char choices[256];
static pthread_once_t choices_once = PTHREAD_ONCE_INIT;

static void build_choices(void)
{
    size_t used = 0;
    for (int k = 0; k < TG_ACT_COUNT && used < sizeof choices; k++) {
        const char *sep = k ? "|" : "";
        if (takes_param((tg_activation_kind)k))
            used += (size_t)snprintf(choices + used, sizeof choices - used, "%s%s[:%s]", sep, activations[k].name,
                                     activations[k].param_name);
        else
            used += (size_t)snprintf(choices + used, sizeof choices - used, "%s%s", sep, activations[k].name);
    }
}

const char *tg_activation_choices(void)
{
    pthread_once(&choices_once, build_choices);
    return choices;
}

double tg_activation_slope(tg_activation act, double h)
{
    return known_kind(act.kind) ? activation_slope(act.kind, h, act.param) : 0.0;
}

/* ---- the ops: forward and backward ------------------------------------------------------------ */

/* Elements per work chunk: the CAE's code [256,64] is four chunks, so each thread takes the rows
 * its encoder product wrote.  Small for a plain fork, right for a training loop's team
 * (tg_team_run), where handing a chunk over is cheap (parallel.h). */
enum { ACTIVATION_ELEMENTS_PER_CHUNK = 4096 };

typedef struct activation_job {
    tg_activation act;
    const float *x, *y, *dy; /* forward: x; backward: x, y and dy */
    float *out;              /* forward: y; backward: dx */
    bool assign;             /* backward: dx has not been written yet, = instead of += */
} activation_job;

TG_ALWAYS_INLINE void value_loop(const tg_activation_kind kind, const activation_job *job, size_t lo, size_t hi)
{
    for (size_t k = lo; k < hi; k++)
        job->out[k] = activation_value(kind, job->x[k], job->act.param);
}

/* 0 + v when assigning: the bits of adding into a zero-filled buffer, -0 included. */
TG_ALWAYS_INLINE void grad_loop(const tg_activation_kind kind, const activation_job *job, size_t lo, size_t hi)
{
    const float p = job->act.param;
    if (job->assign)
        for (size_t k = lo; k < hi; k++)
            job->out[k] = 0.0f + activation_grad(kind, job->dy[k], job->x[k], job->y[k], p);
    else
        for (size_t k = lo; k < hi; k++)
            job->out[k] += activation_grad(kind, job->dy[k], job->x[k], job->y[k], p);
}

/* A chunk of the forward (job->dy NULL) or of the backward, specialized per kind. */
TG_VECTORIZE static void activation_range(size_t lo, size_t hi, void *ctx)
{
    const activation_job *job = ctx;
    const bool backward = job->dy != NULL;
    switch (job->act.kind) {
#define TG_ACTIVATION(name, NAME, param_name, param_default, kink, formula)                        \
    case TG_ACT_##NAME:                                                                           \
        backward ? grad_loop(TG_ACT_##NAME, job, lo, hi) : value_loop(TG_ACT_##NAME, job, lo, hi); \
        break;
#include "activations.def"
#undef TG_ACTIVATION
    default: break;
    }
}

// x [M,N] -> y [M,N]
static void activation_forward(tg_node *n)
{
    activation_job job = {.act = activation_params_of(n).act, .x = n->in[0]->value.data, .out = n->value.data};
    tg_parallel_for(n->value.size, ACTIVATION_ELEMENTS_PER_CHUNK, activation_range, &job);
}

/* dx += dy·f'(x), on the forward's chunks (mostly the rows each thread computed); the first write
 * assigns (the constructor sets assigns_input_grads), which spares the tape a zero-fill of dx. */
static void activation_backward(tg_node *n)
{
    activation_job job = {
        .act = activation_params_of(n).act, .x = n->in[0]->value.data, .y = n->value.data, .dy = n->grad.data,
        .out = n->in[0]->grad.data, .assign = tg_grad_first_write(n->in[0]),
    };
    tg_parallel_for(n->value.size, ACTIVATION_ELEMENTS_PER_CHUNK, activation_range, &job);
}

/* The registry's ops (ops.def) all run the two functions above. */
#define TG_ACTIVATION(name, NAME, param_name, param_default, kink, formula)   \
    void tg_op_##name##_forward(tg_node *n) { activation_forward(n); }   \
    void tg_op_##name##_backward(tg_node *n) { activation_backward(n); }
#include "activations.def"
#undef TG_ACTIVATION

/* ---- constructors ----------------------------------------------------------------------------- */

bool tg_activation_check(tg_tape *t, const char *op_name, tg_activation act)
{
    if (!known_kind(act.kind)) {
        tg_tape_fail(t, TG_ERR_ARG, "%s: unknown activation %d (expected 0..%d)", op_name, (int)act.kind,
                     TG_ACT_COUNT - 1);
        return false;
    }
    if (!tg_activation_valid(act)) {
        tg_tape_fail(t, TG_ERR_ARG, "%s: %s's %s %g must be finite and >= 0", op_name, activations[act.kind].name,
                     activations[act.kind].param_name, (double)act.param);
        return false;
    }
    return true;
}

tg_node *tg_activate(tg_tape *t, tg_node *x, tg_activation act)
{
    /* tg_tape_fail keeps an earlier error, if any: it is the cause */
    if (!tg_activation_check(t, "activate", act))
        return NULL;
    const activation_entry *e = &activations[act.kind];
    if (!tg_tape_check_inputs(t, e->name, 1, x))
        return NULL;
    if (!takes_param(act.kind))
        act.param = 0.0f; /* one value per kind, so two nodes of one activation compare equal */
    tg_node *n = tg_tape_record(t, e->op, 1, &x, x->value.ndim, x->value.shape);
    if (n) {
        activation_params_set(n, (activation_params){act});
        n->assigns_input_grads = true; /* its backward assigns a first write (tg_grad_first_write) */
    }
    return tg_tape_forward(t, n);
}

tg_node *tg_sigmoid(tg_tape *t, tg_node *x) { return tg_activate(t, x, tg_activation_of(TG_ACT_SIGMOID)); }
tg_node *tg_tanh(tg_tape *t, tg_node *x) { return tg_activate(t, x, tg_activation_of(TG_ACT_TANH)); }
tg_node *tg_relu(tg_tape *t, tg_node *x) { return tg_activate(t, x, tg_activation_of(TG_ACT_RELU)); }
tg_node *tg_softplus(tg_tape *t, tg_node *x) { return tg_activate(t, x, tg_activation_of(TG_ACT_SOFTPLUS)); }
tg_node *tg_leaky_relu(tg_tape *t, tg_node *x, float slope)
{
    return tg_activate(t, x, (tg_activation){TG_ACT_LEAKY_RELU, slope});
}
tg_node *tg_elu(tg_tape *t, tg_node *x, float alpha) { return tg_activate(t, x, (tg_activation){TG_ACT_ELU, alpha}); }

/* The activation that computed node h (kind and parameter), if an activation op did. */
bool tg_activation_of_node(const tg_node *h, tg_activation *act)
{
    for (int k = 0; k < TG_ACT_COUNT; k++)
        if (h->op == activations[k].op) {
            *act = activation_params_of(h).act;
            return true;
        }
    return false;
}

/* ---- activation_slope: f'(z) read off h = f(z), as a node ------------------------------------
 *
 * The Jacobian penalties' reference compositions (fused/reference.c) need f' as an ordinary op:
 * y = φ(h), dh = φ'(h)·dy, with φ and φ' the registry's (activation_math.h).  Not a hot path:
 * the kind is switched on per element. */

// h [M,N] -> y [M,N]; params: the activation
void tg_op_activation_slope_forward(tg_node *n)
{
    const tg_activation act = activation_params_of(n).act;
    const float *h = n->in[0]->value.data;
    for (size_t k = 0; k < n->value.size; k++)
        n->value.data[k] = (float)activation_slope(act.kind, h[k], act.param);
}

/* dh += φ'(h)·dy */
void tg_op_activation_slope_backward(tg_node *n)
{
    const tg_activation act = activation_params_of(n).act;
    const float *h = n->in[0]->value.data, *dy = n->grad.data;
    float *dh = n->in[0]->grad.data;
    for (size_t k = 0; k < n->value.size; k++)
        dh[k] += (float)(activation_slope_change(act.kind, h[k], act.param) * dy[k]);
}

tg_node *tg_activation_slope_of(tg_tape *t, tg_node *h, tg_activation act)
{
    if (!tg_tape_check_inputs(t, "activation_slope", 1, h) || !tg_activation_check(t, "activation_slope", act))
        return NULL;
    tg_node *n = tg_tape_record(t, &tg_op_activation_slope, 1, &h, h->value.ndim, h->value.shape);
    if (n)
        activation_params_set(n, (activation_params){act});
    return tg_tape_forward(t, n);
}
