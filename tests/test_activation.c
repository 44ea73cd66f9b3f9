/* tests/test_activation.c — the activation registry (autograd/ops_activation.c, activations.def):
 * names, parsing and formatting, the help list, and every activation's value, gradient and
 * slope-from-output against formulas written here in double from z (not the library's, which
 * read f' off the output).  Gradients against finite differences are in test_gradcheck.c. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "autograd/ops.h"

/* ---- names, parsing, formatting ------------------------------------------------------------ */

Test(activation, names_come_in_registry_order)
{
    static const char *const expected[] = {"sigmoid", "tanh", "relu", "softplus", "leaky_relu", "elu"};
    cr_assert_eq(TG_ACT_COUNT, 6);
    for (int k = 0; k < TG_ACT_COUNT; k++)
        cr_assert_str_eq(tg_activation_name((tg_activation_kind)k), expected[k]);
    cr_assert_str_eq(tg_activation_name(TG_ACT_COUNT), "unknown");
    cr_assert_str_eq(tg_activation_choices(), "sigmoid|tanh|relu|softplus|leaky_relu[:slope]|elu[:alpha]");
    cr_assert_str_eq(tg_activation_param_name(TG_ACT_LEAKY_RELU), "slope");
    cr_assert_str_eq(tg_activation_param_name(TG_ACT_ELU), "alpha");
    cr_assert_null(tg_activation_param_name(TG_ACT_SIGMOID));
    cr_assert_float_eq(tg_activation_of(TG_ACT_LEAKY_RELU).param, 0.01f, 0.0f);
    cr_assert_float_eq(tg_activation_of(TG_ACT_ELU).param, 1.0f, 0.0f);
}

Test(activation, kinks_are_where_f_prime_or_f_second_jumps)
{
    static const bool kinked[TG_ACT_COUNT] = {[TG_ACT_RELU] = true, [TG_ACT_LEAKY_RELU] = true, [TG_ACT_ELU] = true};
    for (int k = 0; k < TG_ACT_COUNT; k++)
        cr_assert_eq(tg_activation_has_kink((tg_activation_kind)k), kinked[k], "%s",
                     tg_activation_name((tg_activation_kind)k));
}

typedef struct parse_case {
    const char *text;
    int rc;
    tg_activation_kind kind;
    float param;
} parse_case;

Test(activation, parse_reads_names_and_parameters)
{
    static const parse_case cases[] = {
        {"sigmoid", 0, TG_ACT_SIGMOID, 0.0f},      {"elu", 0, TG_ACT_ELU, 1.0f},
        {"leaky_relu", 0, TG_ACT_LEAKY_RELU, 0.01f}, {"leaky_relu:0.2", 0, TG_ACT_LEAKY_RELU, 0.2f},
        {"elu:0", 0, TG_ACT_ELU, 0.0f},             {"elu:1e3", 0, TG_ACT_ELU, 1000.0f},
        {"", -1, 0, 0},                             {"Sigmoid", -1, 0, 0},
        {"relu6", -1, 0, 0},                        {":0.2", -1, 0, 0},
        {"sigmoid:1", -2, 0, 0},                    {"leaky_relu:", -2, 0, 0},
        {"leaky_relu:-0.1", -2, 0, 0},              {"leaky_relu:nan", -2, 0, 0},
        {"elu:inf", -2, 0, 0},                      {"elu:1e40", -2, 0, 0}, /* overflows a float */
        {"elu:0.5x", -2, 0, 0},                     {"elu: 0.5 ", -2, 0, 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        tg_activation act = {TG_ACT_TANH, 7.0f};
        int rc = tg_activation_parse(cases[c].text, &act);
        cr_assert_eq(rc, cases[c].rc, "'%s': rc %d, expected %d", cases[c].text, rc, cases[c].rc);
        if (rc == 0) {
            cr_assert_eq(act.kind, cases[c].kind, "'%s'", cases[c].text);
            cr_assert_float_eq(act.param, cases[c].param, 0.0f, "'%s'", cases[c].text);
        } else {
            cr_assert(act.kind == TG_ACT_TANH && act.param == 7.0f, "'%s': a failed parse changed act", cases[c].text);
        }
    }
    tg_activation act;
    cr_assert_eq(tg_activation_parse(NULL, &act), -1);
}

Test(activation, format_reads_back_to_the_same_activation)
{
    static const float params[] = {0.0f, 0.01f, 0.2f, 1.0f, 1.7f, 1.0f / 3.0f, 123456.789f, 1e-20f};
    char text[48];
    for (int k = 0; k < TG_ACT_COUNT; k++)
        for (size_t p = 0; p < sizeof params / sizeof params[0]; p++) {
            tg_activation act = {(tg_activation_kind)k, tg_activation_param_name((tg_activation_kind)k) ? params[p] : 0.0f};
            tg_activation_format(act, text, sizeof text);
            tg_activation back;
            cr_assert_eq(tg_activation_parse(text, &back), 0, "'%s' does not parse", text);
            cr_assert(back.kind == act.kind && back.param == act.param, "'%s' reads back as %d:%.9g", text,
                      (int)back.kind, (double)back.param);
        }
    tg_activation_format((tg_activation){TG_ACT_LEAKY_RELU, 0.01f}, text, sizeof text);
    cr_assert_str_eq(text, "leaky_relu:0.01", "the shortest digits, not 0.00999999978");
    tg_activation_format(tg_activation_of(TG_ACT_SIGMOID), text, sizeof text);
    cr_assert_str_eq(text, "sigmoid", "no parameter for an activation without one");
}

/* ---- the arithmetic against formulas in double from z --------------------------------------- */

static double f_double(tg_activation a, double z)
{
    switch (a.kind) {
    case TG_ACT_SIGMOID: return 1.0 / (1.0 + exp(-z));
    case TG_ACT_TANH: return tanh(z);
    case TG_ACT_RELU: return z > 0 ? z : 0.0;
    case TG_ACT_SOFTPLUS: return log(1.0 + exp(z));
    case TG_ACT_LEAKY_RELU: return z > 0 ? z : a.param * z;
    default: return z > 0 ? z : a.param * (exp(z) - 1.0); /* elu */
    }
}

static double fprime_double(tg_activation a, double z)
{
    switch (a.kind) {
    case TG_ACT_SIGMOID: return exp(-z) / ((1.0 + exp(-z)) * (1.0 + exp(-z)));
    case TG_ACT_TANH: return 1.0 / (cosh(z) * cosh(z));
    case TG_ACT_RELU: return z > 0 ? 1.0 : 0.0;
    case TG_ACT_SOFTPLUS: return 1.0 / (1.0 + exp(-z));
    case TG_ACT_LEAKY_RELU: return z > 0 ? 1.0 : a.param;
    default: return z > 0 ? 1.0 : a.param * exp(z);
    }
}

#define N_POINTS 41 /* z from -6 to 6, 0 excluded (the kinks) */

static float grid(int k) { return -6.0f + 12.0f * (float)k / (N_POINTS - 1) + 0.0137f; }

/* y = act(z) and dL/dz for L = Σ w·y, against the double formulas. */
static void check_value_and_gradient(tg_activation act)
{
    char name[48];
    tg_activation_format(act, name, sizeof name);
    tg_tape *t = tg_tape_new(NULL);
    tg_param z, w;
    cr_assert_eq(tg_param_init(&z, "z", 2, (size_t[]){1, N_POINTS}, NULL), TG_OK);
    cr_assert_eq(tg_param_init(&w, "w", 2, (size_t[]){1, N_POINTS}, NULL), TG_OK);
    for (int k = 0; k < N_POINTS; k++) {
        z.value.data[k] = grid(k);
        w.value.data[k] = 0.5f + 0.01f * (float)k;
    }
    tg_node *y = tg_activate(t, tg_param_leaf(t, &z), act);
    cr_assert(y, "%s: %s", name, tg_tape_error(t));
    cr_assert_str_eq(y->op->name, tg_activation_name(act.kind), "each kind records its own op");
    tg_node *loss = tg_sum(t, tg_mul(t, y, tg_param_leaf(t, &w)));
    cr_assert_eq(tg_backward(t, loss, NULL), TG_OK, "%s: %s", name, tg_tape_error(t));
    for (int k = 0; k < N_POINTS; k++) {
        double zk = z.value.data[k], want = f_double(act, zk), got = y->value.data[k];
        cr_assert_float_eq(got, want, 2e-6 * fmax(1.0, fabs(want)), "%s(%g) = %.9g, expected %.9g", name, zk, got, want);
        double dwant = w.value.data[k] * fprime_double(act, zk), dgot = z.grad.data[k];
        cr_assert_float_eq(dgot, dwant, 2e-6 * fmax(1.0, fabs(dwant)), "%s'(%g)·w = %.9g, expected %.9g", name, zk,
                           dgot, dwant);
        /* f' read off the output, as the Jacobian penalties read it: the output's float rounding
         * (~6e-8·|h|) is all the error, hence the absolute term (tanh near ±1: 1 - h² is tiny) */
        double slope = tg_activation_slope(act, got), swant = fprime_double(act, zk);
        cr_assert_float_eq(slope, swant, 1e-5 * fabs(swant) + 3e-7, "%s slope from h(%g) = %.9g, expected %.9g", name,
                           zk, slope, swant);
    }
    tg_param_free(&z);
    tg_param_free(&w);
    tg_tape_free(t);
}

Test(activation, values_gradients_and_slopes_match_the_formulas)
{
    for (int k = 0; k < TG_ACT_COUNT; k++) {
        check_value_and_gradient(tg_activation_of((tg_activation_kind)k));
        if (tg_activation_param_name((tg_activation_kind)k))
            check_value_and_gradient((tg_activation){(tg_activation_kind)k, 0.35f});
    }
}

Test(activation, the_named_constructors_are_the_registry_kinds)
{
    tg_tape *t = tg_tape_new(NULL);
    tg_tensor x = {0};
    cr_assert_eq(tg_tensor_zeros2(&x, 1, 2, NULL), TG_OK);
    x.data[0] = -2.0f;
    x.data[1] = 3.0f;
    tg_node *in = tg_input(t, &x);
    tg_node *leaky = tg_leaky_relu(t, in, 0.25f), *elu = tg_elu(t, in, 0.5f);
    cr_assert_float_eq(leaky->value.data[0], -0.5f, 0.0f);
    cr_assert_float_eq(leaky->value.data[1], 3.0f, 0.0f);
    cr_assert_float_eq(elu->value.data[0], (float)(0.5 * expm1(-2.0)), 1e-7f);
    cr_assert_float_eq(elu->value.data[1], 3.0f, 0.0f);
    cr_assert_float_eq(tg_relu(t, in)->value.data[0], 0.0f, 0.0f);
    cr_assert_float_eq(tg_tanh(t, in)->value.data[1], (float)tanh(3.0), 1e-7f);
    cr_assert_float_eq(tg_sigmoid(t, in)->value.data[1], (float)(1.0 / (1.0 + exp(-3.0))), 1e-7f);
    cr_assert_float_eq(tg_softplus(t, in)->value.data[0], (float)log1p(exp(-2.0)), 1e-7f);
    tg_tape_free(t);
    tg_tensor_free(&x);
}
