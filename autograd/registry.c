/* autograd/registry.c — the op registry: one tg_op_def per line of ops.def, and its formula. */
#include "ops.h"

#define TG_OP(name, formula)                                  \
    void tg_op_##name##_forward(tg_node *n);                  \
    void tg_op_##name##_backward(tg_node *n);                 \
    const tg_op_def tg_op_##name = {#name, tg_op_##name##_forward, tg_op_##name##_backward};
#include "ops.def"
#undef TG_OP

typedef struct registry_entry {
    const tg_op_def *op;
    const char *formula;
} registry_entry;

static const registry_entry registry[] = {
#define TG_OP(name, formula) {&tg_op_##name, formula},
#include "ops.def"
#undef TG_OP
};

const char *tg_op_formula(const tg_op_def *op)
{
    for (size_t k = 0; k < sizeof registry / sizeof registry[0]; k++)
        if (registry[k].op == op)
            return registry[k].formula;
    return NULL;
}
