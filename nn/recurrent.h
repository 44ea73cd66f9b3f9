/* nn/recurrent.h — recurrent layers: the Elman RNN (tanh), the GRU and the LSTM, an unroll over a
 * sequence, and truncated backpropagation through time (TBPTT) with the tape's memory bounded by
 * the window, not by the sequence.
 *
 * The equations are PyTorch's (torch.nn.RNNCell, GRUCell, LSTMCell), for one step with input
 * x [B,in] and state h [B,H] (and the LSTM's cell c [B,H]); σ is the logistic sigmoid, ⊙ the
 * elementwise product:
 *
 *   RNN   h' = tanh(x·W_ih + b_ih + h·W_hh + b_hh)
 *
 *   GRU   r  = σ(x·W_ir + b_ir + h·W_hr + b_hr)                 (reset gate)
 *         z  = σ(x·W_iz + b_iz + h·W_hz + b_hz)                 (update gate)
 *         n  = tanh(x·W_in + b_in + r ⊙ (h·W_hn + b_hn))        (candidate: r multiplies the
 *                                                                hidden product with its bias)
 *         h' = (1 - z) ⊙ n + z ⊙ h, computed as n + z ⊙ (h - n) (two ops fewer, same function)
 *
 *   LSTM  i  = σ(x·W_ii + b_ii + h·W_hi + b_hi)                 (input gate)
 *         f  = σ(x·W_if + b_if + h·W_hf + b_hf)                 (forget gate)
 *         g  = tanh(x·W_ig + b_ig + h·W_hg + b_hg)              (cell candidate)
 *         o  = σ(x·W_io + b_io + h·W_ho + b_ho)                 (output gate)
 *         c' = f ⊙ c + i ⊙ g          h' = o ⊙ tanh(c')
 *
 * Fused gates: each step makes one product with the input and one with the state,
 *     x·W_ih + b_ih [B,G·H]  and  h·W_hh + b_hh [B,G·H]          (tg_affine each)
 * and tg_slice cuts the gates out of them, in PyTorch's order: the RNN's G = 1; the GRU's G = 3,
 * columns [r | z | n]; the LSTM's G = 4, columns [i | f | g | o].  The cells are compositions of
 * tape ops (tg_affine, tg_slice, tg_add, tg_mul, tg_sub, tg_sigmoid, tg_tanh), so their backward
 * is the ops' backward and nothing here is hand-differentiated.
 *
 * Parameters, named after the layer as PyTorch names them (one layer, so without its "_l0"):
 *     "<name>.weight_ih" [in, G·H]   "<name>.weight_hh" [H, G·H]
 *     "<name>.bias_ih"   [G·H]       "<name>.bias_hh"   [G·H]
 * The weights are stored transposed against PyTorch's [G·H, in] and [G·H, H] (a row of x times
 * the weight, as nn/dense.h does): copy a PyTorch state dict in with a transpose.  Every value
 * starts uniform in [-1/√H, 1/√H], PyTorch's initialisation.
 *
 * TBPTT (tg_recurrent_tbptt): the sequence's T steps run in windows of K.  Each window starts on a
 * reset tape from the state carried from the previous one as a plain input (its value, not its
 * graph), unrolls K steps, adds up their losses and runs tg_backward over the window: gradients
 * flow back at most K steps, and the tape holds one window's nodes whatever T is.  With K >= T it
 * is full backpropagation through time, the same bits as the plain unroll. */
#ifndef TG_NN_RECURRENT_H
#define TG_NN_RECURRENT_H

#include <stddef.h>

#include "autograd/param.h"
#include "autograd/tape.h"
#include "nn/params.h"
#include "tensor/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tg_cell_kind { TG_CELL_RNN = 0, TG_CELL_GRU, TG_CELL_LSTM } tg_cell_kind;

typedef struct tg_recurrent {
    tg_cell_kind kind;
    size_t in, hidden, gates; /* gates G: 1 (RNN), 3 (GRU), 4 (LSTM) */
    tg_param weight_ih;       /* [in, G·H] */
    tg_param weight_hh;       /* [H, G·H] */
    tg_param bias_ih;         /* [G·H] */
    tg_param bias_hh;         /* [G·H] */
} tg_recurrent;

/* A state on the tape: h [B,H], and the LSTM's cell c [B,H] (NULL for the RNN and the GRU). */
typedef struct tg_rnn_state {
    tg_node *h, *c;
} tg_rnn_state;

/* A state off the tape, carried between windows (or batches): values only. */
typedef struct tg_rnn_carry {
    tg_tensor h, c; /* [B,H] each; c empty unless LSTM */
} tg_rnn_carry;

/* "rnn", "gru", "lstm" ("unknown" otherwise). */
const char *tg_cell_name(tg_cell_kind kind);

/* Creates the four parameters ("enc" -> "enc.weight_ih", ...) and draws them from rng.
 * TG_ERR_ARG for in or hidden of 0, an unknown kind, a NULL rng, an empty name or one too long for
 * "<name>.weight_ih" to fit TG_PARAM_NAME_MAX-1 bytes.  On failure *r is left empty (safe to free). */
int tg_recurrent_init(tg_recurrent *r, tg_cell_kind kind, const char *name, size_t in, size_t hidden,
                      tg_rng *rng, tg_error *err);
void tg_recurrent_free(tg_recurrent *r);
/* out[0..4) = weight_ih, weight_hh, bias_ih, bias_hh; returns 4. */
int tg_recurrent_params(tg_recurrent *r, tg_param **out);
/* Appends the four to a parameter list, all or nothing. */
int tg_param_list_add_recurrent(tg_param_list *l, tg_recurrent *r, tg_error *err);

/* The zero state for a batch of B: constants on the tape. */
tg_rnn_state tg_recurrent_zero_state(tg_tape *t, const tg_recurrent *r, size_t batch);
/* One step: x [B,in] (its 2-D reading: [B,1,in] is fine) and state s -> the next state.  A shape
 * error (x without `in` columns, a state not [B,H]) is the tape's sticky error, naming the layer;
 * the returned state's nodes are then NULL. */
tg_rnn_state tg_recurrent_step(tg_tape *t, tg_recurrent *r, tg_node *x, tg_rnn_state s);
/* Steps xs[0..steps) from s; outs (may be NULL) gets each step's h.  Returns the last state. */
tg_rnn_state tg_recurrent_unroll(tg_tape *t, tg_recurrent *r, tg_node *const *xs, int steps, tg_rnn_state s,
                                 tg_node **outs);
/* Step `step` of a sequence node [B,T,in], as [B,1,in] (a tg_slice: gradients flow back to seq). */
tg_node *tg_sequence_step(tg_tape *t, tg_node *seq, int step);
/* Step `step` of a sequence tensor [B,T,in] (data, no gradient) copied into a new input node
 * [B,in]; NULL with the tape's error when the tensor is not 3-D or step is outside 0..T-1. */
tg_node *tg_sequence_input(tg_tape *t, const tg_tensor *seq, int step);

/* A zero carry for a batch of B (h, and c for an LSTM).  tg_rnn_carry_zero starts a new sequence. */
int tg_rnn_carry_init(tg_rnn_carry *carry, const tg_recurrent *r, size_t batch, tg_error *err);
void tg_rnn_carry_zero(tg_rnn_carry *carry);
void tg_rnn_carry_free(tg_rnn_carry *carry);
/* The carry as a state on the tape: copies into new input nodes (no gradient flows into them, and
 * the carry may be overwritten while the tape still needs the values). */
tg_rnn_state tg_rnn_carry_load(tg_tape *t, const tg_rnn_carry *carry);
/* Copies the state's values into the carry (shapes must match: TG_ERR_SHAPE otherwise). */
int tg_rnn_carry_store(tg_rnn_carry *carry, tg_rnn_state s, tg_error *err);

/* Truncated BPTT over one sequence: see the header comment. */
typedef struct tg_tbptt {
    int steps;  /* T >= 1 */
    int window; /* K >= 1; K >= T: full backpropagation through time */
    /* x_t [B,in] on the tape (tg_sequence_input, say) */
    tg_node *(*input)(tg_tape *t, void *ctx, int step);
    /* step t's loss [1] from the state after it (a head on s.h, say), or NULL: no loss at t.  A
     * window's loss is the sum of its steps' losses, in step order. */
    tg_node *(*loss)(tg_tape *t, void *ctx, int step, tg_rnn_state s);
    /* after each window's backward (an optimizer step, say), or NULL; its error stops the run */
    int (*window_done)(void *ctx, int first_step, int count, tg_error *err);
    void *ctx;
} tg_tbptt;

typedef struct tg_tbptt_stats {
    int windows;
    double loss;            /* Σ over the sequence of the steps' losses */
    int max_nodes;          /* the most nodes one window put on the tape */
    size_t max_arena_used;  /* the most arena bytes one window used (values and gradients) */
    size_t arena_capacity;  /* the arena's capacity at the end */
} tg_tbptt_stats;

/* Runs the windows from the state in carry (left holding the state after the last step).  Each
 * window: tg_tape_reset, load the carry, unroll, sum the losses, tg_backward (when the tape's
 * gradient mode is on and a loss depends on a parameter: gradients ADD into the parameters',
 * zero them in window_done or before), store the carry, window_done.  stats may be NULL.
 * Returns TG_OK, a tape error, or window_done's error. */
int tg_recurrent_tbptt(tg_tape *t, tg_recurrent *r, const tg_tbptt *cfg, tg_rnn_carry *carry, tg_tbptt_stats *stats,
                       tg_error *err);

#ifdef __cplusplus
}
#endif

#endif
