/* The op registry: one tg_op_def per line of ops.def. */
#include "ops.h"

#define TG_OP(name, formula)                                  \
    void tg_op_##name##_forward(tg_node *n);                  \
    void tg_op_##name##_backward(tg_node *n);                 \
    const tg_op_def tg_op_##name = {#name, tg_op_##name##_forward, tg_op_##name##_backward};
#include "ops.def"
#undef TG_OP

const tg_op_def *const tg_builtin_ops[] = {
#define TG_OP(name, formula) &tg_op_##name,
#include "ops.def"
#undef TG_OP
};
const int tg_builtin_op_count = (int)(sizeof tg_builtin_ops / sizeof tg_builtin_ops[0]);
