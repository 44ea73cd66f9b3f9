/* nn/recurrent.c — RNN, GRU and LSTM cells, the unroll and truncated BPTT (see recurrent.h). */
#include "recurrent.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "autograd/op.h"
#include "autograd/ops.h"

static const size_t gates_of[] = {[TG_CELL_RNN] = 1, [TG_CELL_GRU] = 3, [TG_CELL_LSTM] = 4};

const char *tg_cell_name(tg_cell_kind kind)
{
    switch (kind) {
    case TG_CELL_RNN: return "rnn";
    case TG_CELL_GRU: return "gru";
    case TG_CELL_LSTM: return "lstm";
    }
    return "unknown";
}

/* ---- parameters ------------------------------------------------------------------------------ */

static bool param_name(char out[TG_PARAM_NAME_MAX], const char *layer, const char *suffix)
{
    int n = snprintf(out, TG_PARAM_NAME_MAX, "%s.%s", layer, suffix);
    return n > 0 && n < TG_PARAM_NAME_MAX;
}

int tg_recurrent_init(tg_recurrent *r, tg_cell_kind kind, const char *name, size_t in, size_t hidden,
                      tg_rng *rng, tg_error *err)
{
    memset(r, 0, sizeof *r);
    if (!name || !name[0])
        return tg_error_set(err, TG_ERR_ARG, "recurrent: layer name is empty");
    if ((unsigned)kind > TG_CELL_LSTM)
        return tg_error_set(err, TG_ERR_ARG, "recurrent %s: unknown cell kind %d", name, (int)kind);
    if (in == 0 || hidden == 0)
        return tg_error_set(err, TG_ERR_ARG, "%s %s: in=%zu hidden=%zu (both must be >= 1)", tg_cell_name(kind), name,
                            in, hidden);
    if (!rng)
        return tg_error_set(err, TG_ERR_ARG, "%s %s: rng is NULL", tg_cell_name(kind), name);
    static const char *const suffix[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
    char names[4][TG_PARAM_NAME_MAX];
    for (int k = 0; k < 4; k++)
        if (!param_name(names[k], name, suffix[k]))
            return tg_error_set(err, TG_ERR_ARG, "%s %s: name too long (\"%s.weight_ih\" must fit %d bytes)",
                                tg_cell_name(kind), name, name, TG_PARAM_NAME_MAX - 1);
    size_t gh = gates_of[kind] * hidden;
    tg_param *ps[4];
    tg_recurrent_params(r, ps);
    const size_t rows[4] = {in, hidden, 0, 0};
    int rc = TG_OK;
    for (int k = 0; k < 4 && rc == TG_OK; k++)
        rc = k < 2 ? tg_param_init(ps[k], names[k], 2, (size_t[]){rows[k], gh}, err)
                   : tg_param_init(ps[k], names[k], 1, (size_t[]){gh}, err);
    if (rc != TG_OK) {
        tg_recurrent_free(r);
        return rc;
    }
    /* PyTorch's RNN/GRU/LSTM reset_parameters: every value uniform in [-1/sqrt(H), 1/sqrt(H)]. */
    float bound = (float)(1.0 / sqrt((double)hidden));
    for (int k = 0; k < 4; k++)
        tg_rng_fill_uniform(rng, ps[k]->value.data, ps[k]->value.size, -bound, bound);
    r->kind = kind;
    r->in = in;
    r->hidden = hidden;
    r->gates = gates_of[kind];
    return TG_OK;
}

void tg_recurrent_free(tg_recurrent *r)
{
    if (!r)
        return;
    tg_param *ps[4];
    tg_recurrent_params(r, ps);
    for (int k = 0; k < 4; k++)
        tg_param_free(ps[k]);
    memset(r, 0, sizeof *r);
}

int tg_recurrent_params(tg_recurrent *r, tg_param **out)
{
    out[0] = &r->weight_ih;
    out[1] = &r->weight_hh;
    out[2] = &r->bias_ih;
    out[3] = &r->bias_hh;
    return 4;
}

int tg_param_list_add_recurrent(tg_param_list *l, tg_recurrent *r, tg_error *err)
{
    tg_param *ps[4];
    tg_recurrent_params(r, ps);
    int before = l->count, rc = TG_OK;
    for (int k = 0; k < 4 && rc == TG_OK; k++)
        rc = tg_param_list_add(l, ps[k], err);
    if (rc != TG_OK)
        l->count = before; /* all or nothing: the entries appended so far are dropped */
    return rc;
}

/* ---- one step -------------------------------------------------------------------------------- */

/* Columns [k·H, (k+n)·H) of a fused gate product: gates k..k+n-1. */
static tg_node *gates(tg_tape *t, tg_node *g, size_t hidden, size_t k, size_t n)
{
    return tg_slice(t, g, 1, k * hidden, n * hidden);
}

// gi = x·W_ih + b_ih, gh = h·W_hh + b_hh, both [B,H]
static tg_rnn_state rnn_cell(tg_tape *t, tg_node *gi, tg_node *gh)
{
    return (tg_rnn_state){tg_tanh(t, tg_add(t, gi, gh)), NULL};
}

// gi, gh [B,3H], columns [r | z | n]
static tg_rnn_state gru_cell(tg_tape *t, size_t H, tg_node *gi, tg_node *gh, tg_node *h)
{
    tg_node *rz = tg_sigmoid(t, tg_add(t, gates(t, gi, H, 0, 2), gates(t, gh, H, 0, 2))); // [B,2H]
    tg_node *r = gates(t, rz, H, 0, 1), *z = gates(t, rz, H, 1, 1);                     // [B,H] each
    tg_node *n = tg_tanh(t, tg_add(t, gates(t, gi, H, 2, 1), tg_mul(t, r, gates(t, gh, H, 2, 1))));
    return (tg_rnn_state){tg_add(t, n, tg_mul(t, z, tg_sub(t, h, n))), NULL}; // (1-z)⊙n + z⊙h
}

// gi, gh [B,4H], columns [i | f | g | o]
static tg_rnn_state lstm_cell(tg_tape *t, size_t H, tg_node *gi, tg_node *gh, tg_node *c)
{
    tg_node *pre = tg_add(t, gi, gh);                                       // [B,4H]
    tg_node *i_f = tg_sigmoid(t, gates(t, pre, H, 0, 2));                   // [B,2H]: i, f
    tg_node *g = tg_tanh(t, gates(t, pre, H, 2, 1));                        // [B,H]
    tg_node *o = tg_sigmoid(t, gates(t, pre, H, 3, 1));                     // [B,H]
    tg_node *c2 = tg_add(t, tg_mul(t, gates(t, i_f, H, 1, 1), c), tg_mul(t, gates(t, i_f, H, 0, 1), g));
    return (tg_rnn_state){tg_mul(t, o, tg_tanh(t, c2)), c2};
}

/* The layer's name, from its first parameter's ("enc.weight_ih" -> "enc"). */
static int layer_name_len(const tg_recurrent *r)
{
    return (int)(strlen(r->weight_ih.name) - strlen(".weight_ih"));
}

static bool state_ok(tg_tape *t, const tg_recurrent *r, tg_node *x, tg_rnn_state s)
{
    const char *what = tg_cell_name(r->kind);
    int len = layer_name_len(r);
    char xs[64], hs[64];
    if (tg_cols(x) != r->in) {
        tg_tape_fail(t, TG_ERR_SHAPE, "%s %.*s: input %s has %zu features, the layer expects %zu", what, len,
                     r->weight_ih.name, tg_tensor_shape_str(xs, sizeof xs, &x->value), tg_cols(x), r->in);
        return false;
    }
    tg_node *parts[2] = {s.h, s.c};
    for (int k = 0; k < (r->kind == TG_CELL_LSTM ? 2 : 1); k++)
        if (tg_rows(parts[k]) != tg_rows(x) || tg_cols(parts[k]) != r->hidden || parts[k]->value.ndim != 2) {
            tg_tape_fail(t, TG_ERR_SHAPE, "%s %.*s: state %s %s is not [%zu,%zu] (input %s)", what, len,
                         r->weight_ih.name, k ? "c" : "h", tg_tensor_shape_str(hs, sizeof hs, &parts[k]->value),
                         tg_rows(x), r->hidden, tg_tensor_shape_str(xs, sizeof xs, &x->value));
            return false;
        }
    return true;
}

tg_rnn_state tg_recurrent_step(tg_tape *t, tg_recurrent *r, tg_node *x, tg_rnn_state s)
{
    tg_rnn_state none = {NULL, NULL};
    bool lstm = r && r->kind == TG_CELL_LSTM;
    if (!tg_tape_check_inputs(t, "recurrent", lstm ? 3 : 2, x, s.h, s.c))
        return none;
    if (!r || !r->weight_ih.value.data) {
        tg_tape_fail(t, TG_ERR_ARG, "recurrent: layer is not initialized");
        return none;
    }
    if (!state_ok(t, r, x, s))
        return none;
    tg_node *gi = tg_affine(t, x, tg_param_leaf(t, &r->weight_ih), tg_param_leaf(t, &r->bias_ih), false);
    tg_node *gh = tg_affine(t, s.h, tg_param_leaf(t, &r->weight_hh), tg_param_leaf(t, &r->bias_hh), false);
    tg_rnn_state next = r->kind == TG_CELL_RNN   ? rnn_cell(t, gi, gh)
                        : r->kind == TG_CELL_GRU ? gru_cell(t, r->hidden, gi, gh, s.h)
                                                 : lstm_cell(t, r->hidden, gi, gh, s.c);
    return tg_tape_status(t) ? none : next;
}

tg_rnn_state tg_recurrent_zero_state(tg_tape *t, const tg_recurrent *r, size_t batch)
{
    size_t shape[2] = {batch, r->hidden};
    tg_rnn_state s = {tg_const(t, 0.0f, 2, shape), NULL};
    if (r->kind == TG_CELL_LSTM)
        s.c = tg_const(t, 0.0f, 2, shape);
    return s;
}

tg_rnn_state tg_recurrent_unroll(tg_tape *t, tg_recurrent *r, tg_node *const *xs, int steps, tg_rnn_state s,
                                 tg_node **outs)
{
    for (int k = 0; k < steps; k++) {
        s = tg_recurrent_step(t, r, xs[k], s);
        if (outs)
            outs[k] = s.h;
    }
    return s;
}

tg_node *tg_sequence_step(tg_tape *t, tg_node *seq, int step)
{
    if (!tg_tape_check_inputs(t, "sequence_step", 1, seq))
        return NULL;
    if (seq->value.ndim != 3) {
        char s[64];
        return tg_tape_fail(t, TG_ERR_SHAPE, "sequence_step: %s is not [B,T,in]",
                            tg_tensor_shape_str(s, sizeof s, &seq->value));
    }
    return tg_slice(t, seq, 1, (size_t)(step < 0 ? -1 : step), 1); /* slice reports a bad step */
}

tg_node *tg_sequence_input(tg_tape *t, const tg_tensor *seq, int step)
{
    if (tg_tape_status(t))
        return NULL;
    if (!seq || seq->ndim != 3 || step < 0 || (size_t)step >= seq->shape[1]) {
        char s[64];
        return tg_tape_fail(t, TG_ERR_SHAPE, "sequence_input: step %d of %s (a [B,T,in] tensor)", step,
                            seq ? tg_tensor_shape_str(s, sizeof s, seq) : "NULL");
    }
    size_t B = seq->shape[0], T = seq->shape[1], in = seq->shape[2];
    tg_node *x = tg_input_new(t, 2, (size_t[]){B, in});
    for (size_t b = 0; x && b < B; b++)
        memcpy(x->value.data + b * in, seq->data + (b * T + (size_t)step) * in, in * sizeof(float));
    return x;
}

/* ---- carry and TBPTT ------------------------------------------------------------------------- */

int tg_rnn_carry_init(tg_rnn_carry *carry, const tg_recurrent *r, size_t batch, tg_error *err)
{
    memset(carry, 0, sizeof *carry);
    int rc = tg_tensor_zeros2(&carry->h, batch, r->hidden, err);
    if (rc == TG_OK && r->kind == TG_CELL_LSTM)
        rc = tg_tensor_zeros2(&carry->c, batch, r->hidden, err);
    if (rc != TG_OK)
        tg_rnn_carry_free(carry);
    return rc;
}

void tg_rnn_carry_zero(tg_rnn_carry *carry)
{
    tg_tensor_fill(&carry->h, 0.0f);
    if (carry->c.data)
        tg_tensor_fill(&carry->c, 0.0f);
}

void tg_rnn_carry_free(tg_rnn_carry *carry)
{
    tg_tensor_free(&carry->h);
    tg_tensor_free(&carry->c);
}

static tg_node *copy_in(tg_tape *t, const tg_tensor *v)
{
    tg_node *n = tg_input_new(t, v->ndim, v->shape);
    if (n)
        memcpy(n->value.data, v->data, v->size * sizeof(float));
    return n;
}

tg_rnn_state tg_rnn_carry_load(tg_tape *t, const tg_rnn_carry *carry)
{
    return (tg_rnn_state){copy_in(t, &carry->h), carry->c.data ? copy_in(t, &carry->c) : NULL};
}

int tg_rnn_carry_store(tg_rnn_carry *carry, tg_rnn_state s, tg_error *err)
{
    if (!s.h || (carry->c.data && !s.c))
        return tg_error_set(err, TG_ERR_ARG, "rnn carry: the state to store is missing a part");
    int rc = tg_tensor_copy(&carry->h, &s.h->value, err);
    return rc == TG_OK && carry->c.data ? tg_tensor_copy(&carry->c, &s.c->value, err) : rc;
}

/* Steps [first, first+count) from the carry, on a reset tape; *loss: the sum of their losses
 * (NULL when none).  Returns the state after the last step. */
static tg_rnn_state run_window(tg_tape *t, tg_recurrent *r, const tg_tbptt *cfg, const tg_rnn_carry *carry,
                               int first, int count, tg_node **loss)
{
    tg_tape_reset(t);
    tg_rnn_state s = tg_rnn_carry_load(t, carry);
    *loss = NULL;
    for (int k = first; k < first + count; k++) {
        s = tg_recurrent_step(t, r, cfg->input(t, cfg->ctx, k), s);
        tg_node *l = cfg->loss ? cfg->loss(t, cfg->ctx, k, s) : NULL;
        if (l)
            *loss = *loss ? tg_add(t, *loss, l) : l;
    }
    return s;
}

int tg_recurrent_tbptt(tg_tape *t, tg_recurrent *r, const tg_tbptt *cfg, tg_rnn_carry *carry, tg_tbptt_stats *stats,
                       tg_error *err)
{
    tg_tbptt_stats st = {0};
    if (!t || !r || !cfg || !carry || !cfg->input || cfg->steps < 1 || cfg->window < 1)
        return tg_error_set(err, TG_ERR_ARG, "tbptt: %s", !t || !r || !cfg || !carry ? "a NULL argument"
                                                         : !cfg->input ? "no input function"
                                                                       : "steps and window must be >= 1");
    int rc = TG_OK;
    for (int first = 0; first < cfg->steps && rc == TG_OK; first += cfg->window) {
        int count = cfg->steps - first < cfg->window ? cfg->steps - first : cfg->window;
        tg_node *loss;
        tg_rnn_state s = run_window(t, r, cfg, carry, first, count, &loss);
        if ((rc = tg_tape_get_error(t, err)) != TG_OK)
            break;
        if (loss && loss->requires_grad)
            rc = tg_backward(t, loss, err);
        if (rc == TG_OK)
            rc = tg_rnn_carry_store(carry, s, err);
        st.windows++;
        st.loss += loss ? loss->value.data[0] : 0.0;
        st.max_nodes = tg_tape_node_count(t) > st.max_nodes ? tg_tape_node_count(t) : st.max_nodes;
        st.max_arena_used = tg_tape_arena_used(t) > st.max_arena_used ? tg_tape_arena_used(t) : st.max_arena_used;
        if (rc == TG_OK && cfg->window_done)
            rc = cfg->window_done(cfg->ctx, first, count, err);
    }
    st.arena_capacity = tg_tape_arena_capacity(t);
    if (stats)
        *stats = st;
    return rc;
}
