/* autograd/activation_math.h — the arithmetic of each activation in activations.def, written once
 * (private to autograd/).
 *
 * Four functions per activation f with parameter p (ignored by those without one):
 *     act_<name>_value(x, p)           y = f(x)
 *     act_<name>_grad(dy, x, y, p)     dy·f'(x), from the input x or the output y, whichever is
 *                                      stable and cheap (σ' = y(1-y) needs no exp)
 *     act_<name>_slope(h, p)           φ(h) = f'(z) read off the output h = f(z): the Jacobian
 *                                      penalties see h, not z (ops_jacobian.c)
 *     act_<name>_slope_change(h, p)    dφ/dh, so the penalty's backward has f'' = φ'(h)·f'(z)
 * The slopes run in double (the penalties sum them in double).  Reading f' off h needs f to be
 * invertible where it is not flat, which every activation here is for p >= 0. */
#ifndef TG_ACTIVATION_MATH_H
#define TG_ACTIVATION_MATH_H

#include "ops_internal.h"

/* The parameters of an activation node, and of the penalties that read f' off one. */
typedef struct activation_params {
    tg_activation act;
} activation_params;
TG_OP_PARAMS(activation_params)

/* sigmoid: σ' = σ(1-σ) = h(1-h), dφ/dh = 1 - 2h */
static inline float act_sigmoid_value(float x, float p) { (void)p; return stable_sigmoidf(x); }
static inline float act_sigmoid_grad(float dy, float x, float y, float p) { (void)x, (void)p; return dy * y * (1.0f - y); }
static inline double act_sigmoid_slope(double h, double p) { (void)p; return h * (1.0 - h); }
static inline double act_sigmoid_slope_change(double h, double p) { (void)p; return 1.0 - 2.0 * h; }

/* tanh: tanh' = 1 - h², dφ/dh = -2h;  tanhf saturates to ±1 without overflow */
static inline float act_tanh_value(float x, float p) { (void)p; return tanhf(x); }
static inline float act_tanh_grad(float dy, float x, float y, float p) { (void)x, (void)p; return dy * (1.0f - y * y); }
static inline double act_tanh_slope(double h, double p) { (void)p; return 1.0 - h * h; }
static inline double act_tanh_slope_change(double h, double p) { (void)p; return -2.0 * h; }

/* relu: relu' = [x > 0] (0 at the kink, by convention), dφ/dh = 0.  The gradient selects dy
 * (loaded unconditionally), so the loop vectorizes. */
static inline float act_relu_value(float x, float p) { (void)p; return x > 0.0f ? x : 0.0f; }
static inline float act_relu_grad(float dy, float x, float y, float p) { (void)y, (void)p; return x > 0.0f ? dy : 0.0f; }
static inline double act_relu_slope(double h, double p) { (void)p; return h > 0.0 ? 1.0 : 0.0; }
static inline double act_relu_slope_change(double h, double p) { (void)h, (void)p; return 0.0; }

/* softplus: ln(1+eˣ) = max(x,0) + ln(1+e^{-|x|}): the exponent is never positive, and log1p keeps
 * the tail accurate (softplus(-30) = 9.4e-14, not 0).  softplus' = σ(x) = 1 - e^{-h}, computed as
 * -expm1(-h) without cancellation for small h; dφ/dh = e^{-h}. */
static inline float act_softplus_value(float x, float p) { (void)p; return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x))); }
static inline float act_softplus_grad(float dy, float x, float y, float p) { (void)y, (void)p; return dy * stable_sigmoidf(x); }
static inline double act_softplus_slope(double h, double p) { (void)p; return -expm1(-h); }
static inline double act_softplus_slope_change(double h, double p) { (void)p; return exp(-h); }

/* leaky_relu with slope p >= 0: f' = 1 for x > 0, else p (the kink takes p, as relu takes 0);
 * h has x's sign, so φ(h) = [h > 0] + [h <= 0]·p, and dφ/dh = 0. */
static inline float act_leaky_relu_value(float x, float p) { return x > 0.0f ? x : p * x; }
static inline float act_leaky_relu_grad(float dy, float x, float y, float p) { (void)y; return x > 0.0f ? dy : dy * p; }
static inline double act_leaky_relu_slope(double h, double p) { return h > 0.0 ? 1.0 : p; }
static inline double act_leaky_relu_slope_change(double h, double p) { (void)h, (void)p; return 0.0; }

/* elu with alpha p >= 0: f = p(eˣ - 1) for x <= 0, whose slope p·eˣ is h + p (PyTorch's backward
 * reads it off the output the same way); dφ/dh = 1 there, 0 for x > 0.  expm1f keeps small |x|
 * accurate. */
static inline float act_elu_value(float x, float p) { return x > 0.0f ? x : p * expm1f(x); }
static inline float act_elu_grad(float dy, float x, float y, float p) { return x > 0.0f ? dy : dy * (y + p); }
static inline double act_elu_slope(double h, double p) { return h > 0.0 ? 1.0 : h + p; }
static inline double act_elu_slope_change(double h, double p) { (void)p; return h > 0.0 ? 0.0 : 1.0; }

/* The same, by kind.  Called with a constant kind inside a loop (TG_ALWAYS_INLINE), the switch
 * folds away and the loop specializes to one activation. */
TG_ALWAYS_INLINE float activation_value(tg_activation_kind kind, float x, float p)
{
    switch (kind) {
#define TG_ACTIVATION(name, NAME, param_name, param_default, kink, formula) \
    case TG_ACT_##NAME: return act_##name##_value(x, p);
#include "activations.def"
#undef TG_ACTIVATION
    default: return x; /* unreachable: constructors check the kind */
    }
}

TG_ALWAYS_INLINE float activation_grad(tg_activation_kind kind, float dy, float x, float y, float p)
{
    switch (kind) {
#define TG_ACTIVATION(name, NAME, param_name, param_default, kink, formula) \
    case TG_ACT_##NAME: return act_##name##_grad(dy, x, y, p);
#include "activations.def"
#undef TG_ACTIVATION
    default: return dy;
    }
}

/* f' read off h and its slope dφ/dh together (a caller that uses one leaves the other to the
 * compiler to drop: both are pure). */
typedef struct activation_slopes {
    double slope, change;
} activation_slopes;

TG_ALWAYS_INLINE activation_slopes activation_slopes_at(tg_activation_kind kind, double h, double p)
{
    switch (kind) {
#define TG_ACTIVATION(name, NAME, param_name, param_default, kink, formula) \
    case TG_ACT_##NAME: return (activation_slopes){act_##name##_slope(h, p), act_##name##_slope_change(h, p)};
#include "activations.def"
#undef TG_ACTIVATION
    default: return (activation_slopes){0.0, 0.0};
    }
}

/* φ(h) = f'(z) */
TG_ALWAYS_INLINE double activation_slope(tg_activation_kind kind, double h, double p)
{
    return activation_slopes_at(kind, h, p).slope;
}

/* dφ/dh */
TG_ALWAYS_INLINE double activation_slope_change(tg_activation_kind kind, double h, double p)
{
    return activation_slopes_at(kind, h, p).change;
}

#endif
