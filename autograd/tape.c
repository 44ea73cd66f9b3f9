/* The tape: node recording, the arena, the reverse pass, introspection and profiling. */
#include "op.h"
#include "ops.h"
#include "tensor/parallel.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena: a chain of blocks, reset in O(1) ------------------------------------------- */

typedef struct arena_block {
    struct arena_block *next;
    size_t cap, used;
    unsigned char *mem; /* TG_ALIGN-aligned */
} arena_block;

#define ARENA_FIRST_BLOCK (1u << 20) /* 1 MiB: one CAE step at batch 32 fits in a few blocks */
#define PROFILE_MAX_OPS 64

typedef struct profile_entry {
    const tg_op_def *op;
    long calls;
    double forward_s, backward_s;
} profile_entry;

struct tg_tape {
    arena_block *first, *current;
    tg_node **nodes;
    int n_nodes, cap_nodes;
    bool grad_enabled;
    bool training; /* train (true) or eval mode, read by dropout */
    tg_error error; /* the sticky error: code TG_OK while all is well */
    bool profile;
    int n_profile;
    profile_entry profile_entries[PROFILE_MAX_OPS];
};

static const tg_op_def leaf_param_def = {"param", NULL, NULL};
static const tg_op_def leaf_input_def = {"input", NULL, NULL};

static arena_block *block_new(size_t cap)
{
    arena_block *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->mem = tg_aligned_alloc(cap);
    if (!b->mem) {
        free(b);
        return NULL;
    }
    b->cap = cap;
    return b;
}

static void block_free(arena_block *b)
{
    free(b->mem);
    free(b);
}

/* Bump allocation in the current block; when it is full, move on to the next block of the
 * chain (reusing it from the previous step), replacing a block that is too small. */
static void *arena_alloc(tg_tape *t, size_t bytes)
{
    if (bytes > SIZE_MAX / 2 - TG_ALIGN)
        return NULL;
    size_t need = (bytes + TG_ALIGN - 1) / TG_ALIGN * TG_ALIGN;
    arena_block *b = t->current;
    if (b->cap - b->used >= need) {
        void *p = b->mem + b->used;
        b->used += need;
        return p;
    }
    arena_block *next = b->next;
    if (!next || next->cap < need) {
        size_t cap = b->cap * 2 > need ? b->cap * 2 : need;
        arena_block *fresh = block_new(cap);
        if (!fresh)
            return NULL;
        fresh->next = next ? next->next : NULL;
        if (next)
            block_free(next);
        b->next = fresh;
        next = fresh;
    }
    next->used = need;
    t->current = next;
    return next->mem;
}

size_t tg_tape_arena_capacity(const tg_tape *t)
{
    size_t total = 0;
    for (const arena_block *b = t->first; b; b = b->next)
        total += b->cap;
    return total;
}

size_t tg_tape_arena_used(const tg_tape *t)
{
    size_t total = 0;
    for (const arena_block *b = t->first; b; b = b->next) {
        total += b->used;
        if (b == t->current)
            break;
    }
    return total;
}

/* ---- lifetime, modes, errors ----------------------------------------------------------- */

tg_tape *tg_tape_new(tg_error *err)
{
    tg_tape *t = calloc(1, sizeof *t);
    if (t)
        t->first = t->current = block_new(ARENA_FIRST_BLOCK);
    if (!t || !t->first) {
        free(t);
        tg_error_set(err, TG_ERR_NOMEM, "tape: out of memory");
        return NULL;
    }
    t->grad_enabled = true;
    t->training = true;
    return t;
}

void tg_tape_free(tg_tape *t)
{
    if (!t)
        return;
    for (arena_block *b = t->first, *next; b; b = next) {
        next = b->next;
        block_free(b);
    }
    free(t->nodes);
    free(t);
}

void tg_tape_reset(tg_tape *t)
{
    t->current = t->first;
    t->first->used = 0;
    t->n_nodes = 0;
    t->error.code = TG_OK;
    t->error.msg[0] = '\0';
}

void tg_tape_set_grad_enabled(tg_tape *t, bool enabled) { t->grad_enabled = enabled; }
bool tg_tape_grad_enabled(const tg_tape *t) { return t->grad_enabled; }
void tg_tape_set_training(tg_tape *t, bool training) { t->training = training; }
bool tg_tape_training(const tg_tape *t) { return t->training; }
int tg_tape_status(const tg_tape *t) { return t->error.code; }
const char *tg_tape_error(const tg_tape *t) { return t->error.msg; }

int tg_tape_get_error(const tg_tape *t, tg_error *err)
{
    if (t->error.code)
        tg_error_set(err, t->error.code, "%s", t->error.msg);
    return t->error.code;
}

tg_node *tg_tape_fail(tg_tape *t, int code, const char *fmt, ...)
{
    if (t->error.code == TG_OK) { /* keep the first error: later ones are consequences */
        va_list ap;
        va_start(ap, fmt);
        tg_error_vset(&t->error, code, NULL, fmt, ap);
        va_end(ap);
    }
    return NULL;
}

bool tg_tape_check_inputs(tg_tape *t, const char *name, int n_in, ...)
{
    if (t->error.code)
        return false;
    va_list ap;
    va_start(ap, n_in);
    bool ok = true;
    for (int i = 0; i < n_in && ok; i++) {
        if (va_arg(ap, tg_node *) == NULL) {
            tg_tape_fail(t, TG_ERR_ARG, "%s: input %d is NULL", name, i);
            ok = false;
        }
    }
    va_end(ap);
    return ok;
}

float *tg_tape_scratch(tg_tape *t, size_t count)
{
    if (count > SIZE_MAX / sizeof(float))
        return (float *)tg_tape_fail(t, TG_ERR_NOMEM, "tape: scratch of %zu floats overflows", count);
    float *p = arena_alloc(t, count * sizeof(float));
    if (!p)
        tg_tape_fail(t, TG_ERR_NOMEM, "tape: out of memory (%zu floats of scratch)", count);
    return p;
}

/* ---- recording ------------------------------------------------------------------------- */

static tg_node *append_node(tg_tape *t, const tg_op_def *op)
{
    if (t->n_nodes == t->cap_nodes) {
        int cap = t->cap_nodes ? t->cap_nodes * 2 : 64;
        tg_node **grown = realloc(t->nodes, (size_t)cap * sizeof *grown);
        if (!grown)
            return tg_tape_fail(t, TG_ERR_NOMEM, "%s: out of memory (tape of %d nodes)", op->name, t->n_nodes);
        t->nodes = grown;
        t->cap_nodes = cap;
    }
    tg_node *n = arena_alloc(t, sizeof *n);
    if (!n)
        return tg_tape_fail(t, TG_ERR_NOMEM, "%s: out of memory", op->name);
    memset(n, 0, sizeof *n);
    n->op = op;
    n->index = t->n_nodes;
    t->nodes[t->n_nodes++] = n;
    return n;
}

tg_node *tg_tape_record(tg_tape *t, const tg_op_def *op, int n_in, tg_node *const *in,
                        int ndim, const size_t *shape)
{
    if (t->error.code)
        return NULL;
    if (n_in < 0 || n_in > TG_MAX_INPUTS)
        return tg_tape_fail(t, TG_ERR_ARG, "%s: %d inputs (at most %d)", op->name, n_in, TG_MAX_INPUTS);
    size_t count;
    tg_error err;
    if (tg_shape_numel(ndim, shape, &count, &err))
        return tg_tape_fail(t, err.code, "%s: %s", op->name, err.msg);
    float *data = arena_alloc(t, count * sizeof(float));
    if (!data)
        return tg_tape_fail(t, TG_ERR_NOMEM, "%s: out of memory (%zu floats)", op->name, count);
    tg_node *n = append_node(t, op);
    if (!n)
        return NULL;
    tg_tensor_wrap(&n->value, data, ndim, shape, NULL);
    n->n_in = n_in;
    for (int i = 0; i < n_in; i++) {
        n->in[i] = in[i];
        n->requires_grad |= in[i]->requires_grad;
    }
    n->requires_grad &= t->grad_enabled;
    return n;
}

tg_node *tg_tape_record_view(tg_tape *t, const tg_op_def *op, tg_node *x, int ndim, const size_t *shape)
{
    if (t->error.code)
        return NULL;
    tg_tensor view;
    tg_error err;
    if (tg_tensor_reshape(&view, &x->value, ndim, shape, &err))
        return tg_tape_fail(t, err.code, "%s: %s", op->name, err.msg);
    tg_node *n = append_node(t, op);
    if (!n)
        return NULL;
    n->value = view; /* owned = NULL: nothing to free, ever */
    n->is_view = true;
    n->n_in = 1;
    n->in[0] = x;
    n->requires_grad = x->requires_grad && t->grad_enabled;
    return n;
}

static profile_entry *profile_slot(tg_tape *t, const tg_op_def *op)
{
    for (int i = 0; i < t->n_profile; i++)
        if (t->profile_entries[i].op == op)
            return &t->profile_entries[i];
    if (t->n_profile == PROFILE_MAX_OPS)
        return NULL; /* more op kinds than slots: the rest go unprofiled */
    profile_entry *e = &t->profile_entries[t->n_profile++];
    memset(e, 0, sizeof *e);
    e->op = op;
    return e;
}

/* Runs n's forward or backward, and when profiling adds its time to the op's entry (a forward
 * also counts a call). */
static void run_timed(tg_tape *t, tg_node *n, bool backward)
{
    void (*run)(tg_node *) = backward ? n->op->backward : n->op->forward;
    if (!t->profile) {
        run(n);
        return;
    }
    double start = tg_now_seconds();
    run(n);
    profile_entry *e = profile_slot(t, n->op);
    if (!e)
        return;
    double seconds = tg_now_seconds() - start;
    if (backward) {
        e->backward_s += seconds;
    } else {
        e->calls++;
        e->forward_s += seconds;
    }
}

tg_node *tg_tape_forward(tg_tape *t, tg_node *n)
{
    if (!n || t->error.code)
        return NULL;
    run_timed(t, n, false);
    return t->error.code ? NULL : n;
}

tg_node *tg_param_leaf(tg_tape *t, tg_param *p)
{
    if (t->error.code)
        return NULL;
    if (!p || !p->value.data)
        return tg_tape_fail(t, TG_ERR_ARG, "param: parameter is NULL or uninitialized");
    tg_node *n = append_node(t, &leaf_param_def);
    if (!n)
        return NULL;
    n->value = p->value;
    n->value.owned = NULL; /* a view: the parameter keeps ownership */
    n->param = p;
    n->requires_grad = t->grad_enabled;
    return n;
}

tg_node *tg_input(tg_tape *t, const tg_tensor *x)
{
    if (t->error.code)
        return NULL;
    if (!x || !x->data)
        return tg_tape_fail(t, TG_ERR_ARG, "input: tensor is NULL or empty");
    tg_node *n = append_node(t, &leaf_input_def);
    if (!n)
        return NULL;
    n->value = *x;
    n->value.owned = NULL;
    return n;
}

tg_node *tg_input_new(tg_tape *t, int ndim, const size_t *shape)
{
    return tg_tape_record(t, &leaf_input_def, 0, NULL, ndim, shape);
}

/* ---- the reverse pass ------------------------------------------------------------------ */

static void zero_if_unwritten(tg_node *n)
{
    if (n->grad_unwritten) {
        memset(n->grad.data, 0, n->grad.size * sizeof(float));
        n->grad_unwritten = false;
    }
}

int tg_backward(tg_tape *t, tg_node *loss, tg_error *err)
{
    if (t->error.code)
        return tg_tape_get_error(t, err);
    if (!loss)
        return tg_error_set(err, TG_ERR_ARG, "backward: loss is NULL");
    if (!t->grad_enabled)
        return tg_error_set(err, TG_ERR_STATE, "backward: gradients are disabled on this tape (no-grad mode)");
    if (loss->index >= t->n_nodes || t->nodes[loss->index] != loss)
        return tg_error_set(err, TG_ERR_ARG, "backward: loss is not a node of this tape's current step");
    if (loss->value.size != 1) {
        char s[64];
        return tg_error_set(err, TG_ERR_SHAPE, "backward: loss has shape %s, expected one element",
                            tg_tensor_shape_str(s, sizeof s, &loss->value));
    }
    if (!loss->requires_grad)
        return tg_error_set(err, TG_ERR_ARG, "backward: the loss does not depend on any parameter");

    /* Which nodes lie on a path to the loss: only their backward needs to run. */
    int last = loss->index;
    unsigned char *needed = arena_alloc(t, (size_t)last + 1);
    if (!needed)
        return tg_error_set(err, TG_ERR_NOMEM, "backward: out of memory");
    memset(needed, 0, (size_t)last + 1);
    needed[last] = 1;
    for (int i = last; i >= 0; i--)
        if (needed[i])
            for (int k = 0; k < t->nodes[i]->n_in; k++)
                needed[t->nodes[i]->in[k]->index] = 1;

    /* Gradient buffers: parameters accumulate into their own; intermediates start from zero,
     * zero-filled lazily (zero_if_unwritten): a big one, such as the decoder output's, is then
     * filled just before it is used, or not at all when its first writer assigns it. */
    for (int i = 0; i <= last; i++) {
        tg_node *n = t->nodes[i];
        if (!n->requires_grad)
            continue;
        if (n->param) {
            n->grad = n->param->grad;
            n->grad.owned = NULL;
            continue;
        }
        if (!n->grad.data) {
            float *g = arena_alloc(t, n->value.size * sizeof(float));
            if (!g)
                return tg_error_set(err, TG_ERR_NOMEM, "backward: out of memory (%s gradient)", n->op->name);
            tg_tensor_wrap(&n->grad, g, n->value.ndim, n->value.shape, NULL);
        }
        n->grad_unwritten = true;
    }

    zero_if_unwritten(loss);
    loss->grad.data[0] += 1.0f; /* d loss / d loss */
    for (int i = last; i >= 0; i--) {
        tg_node *n = t->nodes[i];
        if (!needed[i] || !n->requires_grad || !n->op->backward)
            continue;
        zero_if_unwritten(n); /* no gradient reached it: zeros, not stale data */
        if (!n->assigns_input_grads)
            for (int k = 0; k < n->n_in; k++)
                zero_if_unwritten(n->in[k]);
        run_timed(t, n, true);
    }
    for (int i = 0; i <= last; i++) /* what no backward wrote reads as zero, as documented */
        zero_if_unwritten(t->nodes[i]);
    return TG_OK;
}

/* ---- introspection --------------------------------------------------------------------- */

int tg_tape_node_count(const tg_tape *t) { return t->n_nodes; }

tg_node *tg_tape_node(const tg_tape *t, int index)
{
    return index >= 0 && index < t->n_nodes ? t->nodes[index] : NULL;
}

void tg_tape_print(const tg_tape *t, FILE *f)
{
    for (int i = 0; i < t->n_nodes; i++) {
        const tg_node *n = t->nodes[i];
        char s[64], inputs[64] = "";
        size_t used = 0;
        for (int k = 0; k < n->n_in && used < sizeof inputs; k++)
            used += (size_t)snprintf(inputs + used, sizeof inputs - used, "%s%d", k ? "," : "", n->in[k]->index);
        size_t bytes = ((n->is_view ? 0 : n->value.size) + (n->grad.data ? n->grad.size : 0)) * sizeof(float);
        /* the op's formula from the registry, its value part (before the gradients' ';') */
        const char *formula = tg_op_formula(n->op), *end = formula ? strchr(formula, ';') : NULL;
        int formula_len = formula ? (end ? (int)(end - formula) : (int)strlen(formula)) : 0;
        fprintf(f, "%3d %-16s %-12s in=[%s] bytes=%zu%s%s%s%s%.*s\n", i, n->op->name,
                tg_tensor_shape_str(s, sizeof s, &n->value), inputs, bytes,
                n->requires_grad ? " grad" : "", n->param ? " param=" : "", n->param ? n->param->name : "",
                formula ? "   " : "", formula_len, formula ? formula : "");
    }
}

void tg_tape_write_dot(const tg_tape *t, FILE *f)
{
    fprintf(f, "digraph tape {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n");
    for (int i = 0; i < t->n_nodes; i++) {
        const tg_node *n = t->nodes[i];
        char s[64];
        fprintf(f, "  n%d [label=\"%d: %s\\n%s%s%s\"%s];\n", i, i, n->op->name,
                tg_tensor_shape_str(s, sizeof s, &n->value), n->param ? "\\n" : "",
                n->param ? n->param->name : "", n->param ? ", style=filled, fillcolor=lightblue" : "");
        for (int k = 0; k < n->n_in; k++)
            fprintf(f, "  n%d -> n%d;\n", n->in[k]->index, i);
    }
    fprintf(f, "}\n");
}

void tg_tape_set_profile(tg_tape *t, bool enabled) { t->profile = enabled; }
void tg_tape_profile_reset(tg_tape *t) { t->n_profile = 0; }

double tg_tape_profile_seconds(const tg_tape *t, const char *op_name, bool backward)
{
    for (int i = 0; i < t->n_profile; i++)
        if (strcmp(t->profile_entries[i].op->name, op_name) == 0)
            return backward ? t->profile_entries[i].backward_s : t->profile_entries[i].forward_s;
    return 0.0;
}

static int by_total_time_desc(const void *a, const void *b)
{
    const profile_entry *x = a, *y = b;
    double tx = x->forward_s + x->backward_s, ty = y->forward_s + y->backward_s;
    return (tx < ty) - (tx > ty);
}

void tg_tape_profile_print(const tg_tape *t, FILE *f)
{
    profile_entry sorted[PROFILE_MAX_OPS];
    memcpy(sorted, t->profile_entries, (size_t)t->n_profile * sizeof *sorted);
    qsort(sorted, (size_t)t->n_profile, sizeof *sorted, by_total_time_desc);
    for (int i = 0; i < t->n_profile; i++)
        fprintf(f, "op=%s calls=%ld forward_s=%.6f backward_s=%.6f\n", sorted[i].op->name,
                sorted[i].calls, sorted[i].forward_s, sorted[i].backward_s);
}
