/* nn/optim_rules.c — SGD, Adam (and AdamW) and RMSprop on a run of one parameter's elements. */
#include "optim_rules.h"

#include <math.h>

#include "tensor/cpu.h"
#include "tensor/vmath.h"

/* The variants of SGD's and RMSprop's loops.  Each loop below is written once with its variant's
 * flags as arguments and inlined with constant ones, so every variant compiles to a loop without
 * branches.  GCC (12) did not vectorize these loops while the flags were tested inside them: a
 * store under a flag (zeroing the gradient, the momentum buffer, the centered average) is control
 * flow it does not turn into a select, even when the flag holds for the whole run. */
typedef enum { SGD_PLAIN, SGD_MOMENTUM, SGD_NESTEROV } sgd_variant;

typedef struct sgd_args {
    float *restrict w, *restrict g, *restrict buf; /* [n] each; buf NULL for SGD_PLAIN */
    float lr, mu, wd, grad_scale;
} sgd_args;

static inline __attribute__((always_inline)) void sgd_run(const sgd_args *a, sgd_variant variant, bool zero_grad,
                                                          size_t lo, size_t hi)
{
    float *restrict w = a->w, *restrict g = a->g, *restrict b = a->buf;
    const float lr = a->lr, mu = a->mu, wd = a->wd, grad_scale = a->grad_scale;
    for (size_t i = lo; i < hi; i++) {
        float d = grad_scale * g[i] + wd * w[i];
        if (zero_grad)
            g[i] = 0.0f;
        if (variant != SGD_PLAIN) {
            b[i] = mu * b[i] + d;
            /* Nesterov: step along the gradient plus the look-ahead of the updated velocity. */
            d = variant == SGD_NESTEROV ? d + mu * b[i] : b[i];
        }
        w[i] -= lr * d;
    }
}

/* SGD on elements [lo, hi) of one parameter; buf is NULL without momentum.  w, g, buf: [n] (flat).
 * With zero_grad, also sets the gradient to zero once read (in the same pass, while in cache). */
TG_VECTORIZE void tg_sgd_update(const tg_opt_config *c, step_settings set, tg_param *p, tg_tensor *buf,
                                float grad_scale, bool zero_grad, size_t lo, size_t hi)
{
    const sgd_args a = {p->value.data, p->grad.data, buf ? buf->data : NULL, set.lr, c->momentum, set.wd, grad_scale};
    const sgd_variant variant = !buf ? SGD_PLAIN : c->nesterov ? SGD_NESTEROV : SGD_MOMENTUM;
    if (variant == SGD_PLAIN)
        zero_grad ? sgd_run(&a, SGD_PLAIN, true, lo, hi) : sgd_run(&a, SGD_PLAIN, false, lo, hi);
    else if (variant == SGD_MOMENTUM)
        zero_grad ? sgd_run(&a, SGD_MOMENTUM, true, lo, hi) : sgd_run(&a, SGD_MOMENTUM, false, lo, hi);
    else
        zero_grad ? sgd_run(&a, SGD_NESTEROV, true, lo, hi) : sgd_run(&a, SGD_NESTEROV, false, lo, hi);
}

adam_factors tg_adam_factors_for(tg_opt_kind kind, step_settings set, double bc1, double bc2)
{
    bool decoupled = kind == TG_OPT_ADAMW;
    return (adam_factors){.step_size = (float)((double)set.lr / bc1),
                          .inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2)),
                          .decay = decoupled ? (float)(1.0 - (double)set.lr * (double)set.wd) : 1.0f,
                          .wd = decoupled ? 0.0f : set.wd};
}

/* Adam or AdamW on elements [lo, hi) of one parameter, one fused pass over w, g, m, v: [n] (flat).
 * lr·m̂/(sqrt(v̂)+eps) is computed as (lr/bc1)·m / (sqrt(v)·(1/sqrt(bc2)) + eps), PyTorch's
 * arrangement except that its division by sqrt(bc2) is a multiplication by the inverse (within
 * an ulp of it): the divider is this loop's bottleneck, so one division fewer per element is a
 * fifth of the update (docs/performance.md).  AdamW's decay comes first, as in PyTorch.
 * Built twice (tg_adam_update picks): the loop is bound by the divider, whose best vector width
 * depends on the processor (tensor/vmath.h). */
static inline __attribute__((always_inline)) void adam_run(const tg_opt_config *c, tg_param *p, tg_tensor *m_t,
                                                           tg_tensor *v_t, float grad_scale, adam_factors f,
                                                           bool zero_grad, size_t lo, size_t hi)
{
    /* restrict: value, grad and the moments are distinct buffers, which lets the loop vectorize. */
    float *restrict w = p->value.data;
    float *restrict g = p->grad.data;
    float *restrict m = m_t->data, *restrict v = v_t->data;
    const float b1 = c->beta1, b2 = c->beta2, eps = c->eps, wd = f.wd, decay = f.decay;
    const float one_minus_b1 = 1.0f - b1, one_minus_b2 = 1.0f - b2;
    for (size_t i = lo; i < hi; i++) {
        float wi = w[i] * decay;
        float d = grad_scale * g[i] + wd * wi;
        if (zero_grad)
            g[i] = 0.0f;
        m[i] = b1 * m[i] + one_minus_b1 * d;
        v[i] = b2 * v[i] + one_minus_b2 * (d * d);
        float denom = sqrtf(v[i]) * f.inv_sqrt_bc2 + eps;
        w[i] = wi - f.step_size * m[i] / denom;
    }
}

TG_VECTORIZE_DIVIDES static void adam_update256(const tg_opt_config *c, tg_param *p, tg_tensor *m_t, tg_tensor *v_t,
                                                float grad_scale, adam_factors f, bool zero_grad, size_t lo, size_t hi)
{
    adam_run(c, p, m_t, v_t, grad_scale, f, zero_grad, lo, hi);
}

#if TG_HAVE_DIVIDES512
TG_VECTORIZE_DIVIDES512 static void adam_update512(const tg_opt_config *c, tg_param *p, tg_tensor *m_t,
                                                   tg_tensor *v_t, float grad_scale, adam_factors f, bool zero_grad,
                                                   size_t lo, size_t hi)
{
    adam_run(c, p, m_t, v_t, grad_scale, f, zero_grad, lo, hi);
}
#endif

/* Whether the build of a divider-bound loop for `bits`-wide vectors can run here: the 256-bit one
 * always; the 512-bit one where this build has it (a sanitizer build has none) and the processor
 * runs AVX-512. */
static bool divides_build_runs(int bits)
{
    if (bits == 256)
        return true;
#if TG_HAVE_DIVIDES512
    return bits == 512 && __builtin_cpu_supports("avx512f");
#else
    return false;
#endif
}

/* The build the optimizers use here: 512 bits where the processor gains from it and the build
 * can run, else 256 (tg_divides512_here, tensor/cpu.h). */
static int divides_bits_here(void) { return tg_divides512_here() && divides_build_runs(512) ? 512 : 256; }

/* The same bits from either build: +, −, ×, ÷ and sqrt are exactly rounded in any width.  (Not
 * a NaN's payload or sign, which may differ between widths; the step never gives these loops a
 * NaN: it refuses a non-finite gradient before updating anything.) */
bool tg_adam_update_built_for(int bits, const tg_opt_config *c, tg_param *p, tg_tensor *m_t, tg_tensor *v_t,
                              float grad_scale, adam_factors f, bool zero_grad, size_t lo, size_t hi)
{
    if (!divides_build_runs(bits))
        return false;
#if TG_HAVE_DIVIDES512
    if (bits == 512) {
        adam_update512(c, p, m_t, v_t, grad_scale, f, zero_grad, lo, hi);
        return true;
    }
#endif
    adam_update256(c, p, m_t, v_t, grad_scale, f, zero_grad, lo, hi);
    return true;
}

void tg_adam_update(const tg_opt_config *c, tg_param *p, tg_tensor *m_t, tg_tensor *v_t, float grad_scale,
                    adam_factors f, bool zero_grad, size_t lo, size_t hi)
{
    tg_adam_update_built_for(divides_bits_here(), c, p, m_t, v_t, grad_scale, f, zero_grad, lo, hi);
}

typedef struct rmsprop_args {
    float *restrict w, *restrict g, *restrict sq, *restrict buf, *restrict avg; /* [n] each (optim_rules.h) */
    float lr, wd, alpha, eps, mu, grad_scale;
} rmsprop_args;

static inline __attribute__((always_inline)) void rmsprop_run(const rmsprop_args *a, bool momentum, bool centered,
                                                              bool zero_grad, size_t lo, size_t hi)
{
    float *restrict w = a->w, *restrict g = a->g, *restrict sq = a->sq, *restrict buf = a->buf, *restrict avg = a->avg;
    const float lr = a->lr, wd = a->wd, alpha = a->alpha, eps = a->eps, mu = a->mu, grad_scale = a->grad_scale;
    const float one_minus_alpha = 1.0f - alpha;
    for (size_t i = lo; i < hi; i++) {
        float d = grad_scale * g[i] + wd * w[i];
        if (zero_grad)
            g[i] = 0.0f;
        sq[i] = alpha * sq[i] + one_minus_alpha * (d * d);
        float var = sq[i];
        if (centered) {
            avg[i] = alpha * avg[i] + one_minus_alpha * d;
            var = sq[i] - avg[i] * avg[i];
            var = var > 0.0f ? var : 0.0f;
        }
        float denom = sqrtf(var) + eps;
        if (momentum) {
            buf[i] = mu * buf[i] + d / denom;
            w[i] -= lr * buf[i];
        } else {
            w[i] -= lr * d / denom;
        }
    }
}

/* RMSprop's eight variants (momentum, centered, zero_grad: bits 2, 1, 0 of `variant`), each its
 * own loop with its flags constant, so that each vectorizes. */
static inline __attribute__((always_inline)) void rmsprop_variant(const rmsprop_args *a, int variant, size_t lo,
                                                                  size_t hi)
{
    switch (variant) {
    case 0: rmsprop_run(a, false, false, false, lo, hi); break;
    case 1: rmsprop_run(a, false, false, true, lo, hi); break;
    case 2: rmsprop_run(a, false, true, false, lo, hi); break;
    case 3: rmsprop_run(a, false, true, true, lo, hi); break;
    case 4: rmsprop_run(a, true, false, false, lo, hi); break;
    case 5: rmsprop_run(a, true, false, true, lo, hi); break;
    case 6: rmsprop_run(a, true, true, false, lo, hi); break;
    default: rmsprop_run(a, true, true, true, lo, hi); break;
    }
}

/* Built twice like Adam's update, and for the same reason: the divider bounds it. */
TG_VECTORIZE_DIVIDES static void rmsprop_update256(const rmsprop_args *a, int variant, size_t lo, size_t hi)
{
    rmsprop_variant(a, variant, lo, hi);
}

#if TG_HAVE_DIVIDES512
TG_VECTORIZE_DIVIDES512 static void rmsprop_update512(const rmsprop_args *a, int variant, size_t lo, size_t hi)
{
    rmsprop_variant(a, variant, lo, hi);
}
#endif

bool tg_rmsprop_update_built_for(int bits, const tg_opt_config *c, step_settings set, tg_param *p, float *sq,
                                 float *buf, float *avg, float grad_scale, bool zero_grad, size_t lo, size_t hi)
{
    if (!divides_build_runs(bits))
        return false;
    const rmsprop_args a = {p->value.data, p->grad.data, sq, buf, avg, set.lr, set.wd, c->alpha, c->eps, c->momentum,
                            grad_scale};
    const int variant = (buf != NULL) * 4 + (avg != NULL) * 2 + zero_grad;
#if TG_HAVE_DIVIDES512
    if (bits == 512) {
        rmsprop_update512(&a, variant, lo, hi);
        return true;
    }
#endif
    rmsprop_update256(&a, variant, lo, hi);
    return true;
}

void tg_rmsprop_update(const tg_opt_config *c, step_settings set, tg_param *p, float *sq, float *buf, float *avg,
                       float grad_scale, bool zero_grad, size_t lo, size_t hi)
{
    tg_rmsprop_update_built_for(divides_bits_here(), c, set, p, sq, buf, avg, grad_scale, zero_grad, lo, hi);
}
