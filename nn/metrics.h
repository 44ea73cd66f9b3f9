/* nn/metrics.h — accuracy, and L1/L2 penalties over a list of parameters.
 *
 *   tg_accuracy(logits, labels)          fraction of rows whose argmax equals labels[i] (int32)
 *   tg_accuracy_u8(logits, labels, idx)  the same with uint8_t labels: labels[i], or labels[idx[i]]
 *                                        when idx is not NULL (a batch of indices into a data set)
 *   tg_l1_penalty(t, params, n)          Σ_p Σ_k |p_k|   -> [1]  (tg_abs, tg_sum, tg_add)
 *   tg_l2_penalty(t, params, n)          Σ_p Σ_k p_k²    -> [1]  (tg_square, tg_sum, tg_add)
 *
 * Accuracy is a plain function (no node, no gradient), read from a value after the forward pass;
 * rows are over the last dimension, the first maximum wins a tie (as tg_argmax_rows), a NaN
 * counts as the maximum.  It returns 0 for an empty tensor.
 *
 * The penalties are compositions of existing ops, so their backward is the ops' own: d|p|/dp =
 * sign(p) (0 at 0, as tg_abs), dp²/dp = 2p.  Scale them yourself (tg_scale(t, pen, λ)) and add
 * them to the loss.  Pass the parameters to penalize (usually weights, not biases).  Each
 * parameter enters the tape as its own leaf (tg_param_leaf), so one already used by the model
 * accumulates both gradients into its grad, as it should.  On an error (NULL params, n < 1) the
 * tape takes a sticky TG_ERR_ARG and NULL is returned. */
#ifndef TG_NN_METRICS_H
#define TG_NN_METRICS_H

#include <stdint.h>

#include "autograd/param.h"
#include "autograd/tape.h"

#ifdef __cplusplus
extern "C" {
#endif

double tg_accuracy(const tg_tensor *logits, const int32_t *labels);
double tg_accuracy_u8(const tg_tensor *logits, const uint8_t *labels, const uint32_t *idx);
tg_node *tg_l1_penalty(tg_tape *t, tg_param *const *params, int n);
tg_node *tg_l2_penalty(tg_tape *t, tg_param *const *params, int n);

#ifdef __cplusplus
}
#endif

#endif
