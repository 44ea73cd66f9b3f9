/* tests/test_schedule.c — the learning-rate schedules of nn/schedule.c, against PyTorch's formulas
 * written out here in double (torch.optim.lr_scheduler: StepLR, CosineAnnealingLR, LinearLR and
 * SequentialLR's hand-over), both the closed forms its documentation gives and the recursive forms
 * its get_lr() steps with; and the optimizers applying a schedule (and groups) for 100 steps of the
 * fixed problem of optim_reference.h against the reference updates at the scheduled rates. */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include "nn/optim.h"
#include "optim_reference.h"
#include "table_test.h"

static const double PI = 3.14159265358979323846;

/* ---- PyTorch's formulas ------------------------------------------------------------------ */

/* StepLR: lr = base · gamma^(t // step_size). */
static double torch_step(double base, long t, long step_size, double gamma)
{
    double lr = base;
    for (long k = 0; k < t / step_size; k++)
        lr *= gamma;
    return lr;
}

/* CosineAnnealingLR, the closed form of its documentation, held at eta_min after t_max. */
static double torch_cosine(double base, long t, long t_max, double eta_min)
{
    if (t >= t_max)
        return eta_min;
    return eta_min + 0.5 * (base - eta_min) * (1.0 + cos(PI * (double)t / (double)t_max));
}

/* LinearLR(start_factor, end_factor 1, total_iters): base · (start + (1 − start)·min(t, W)/W). */
static double torch_linear(double base, long t, long total, double start)
{
    double done = t < total ? (double)t : (double)total;
    return base * (start + (1.0 - start) * done / (double)total);
}

/* ---- the pure functions, 100 steps each ------------------------------------------------------ */

static const struct {
    const char *name;
    tg_schedule s;
    double base;
} schedules[] = {
    {"step 30, gamma 0.1", {.kind = TG_SCHED_STEP, .step_size = 30, .gamma = 0.1f}, 0.1},
    {"step 7, gamma 0.5", {.kind = TG_SCHED_STEP, .step_size = 7, .gamma = 0.5f}, 1e-3},
    {"cosine 100", {.kind = TG_SCHED_COSINE, .t_max = 100}, 0.05},
    {"cosine 60 to 1e-3 (held after 60)", {.kind = TG_SCHED_COSINE, .t_max = 60, .eta_min = 1e-3f}, 0.1},
    {"warm-up 20 from 1/3", {.kind = TG_SCHED_CONSTANT, .warmup_steps = 20, .warmup_start = 1.0f / 3.0f}, 0.01},
    {"warm-up 10 from 0, then cosine 90",
     {.kind = TG_SCHED_COSINE, .warmup_steps = 10, .t_max = 90, .eta_min = 1e-5f}, 3e-4},
    {"warm-up 5 from 0.1, then step 25 gamma 0.3",
     {.kind = TG_SCHED_STEP, .warmup_steps = 5, .warmup_start = 0.1f, .step_size = 25, .gamma = 0.3f}, 0.2},
    {"constant", {.kind = TG_SCHED_CONSTANT}, 0.5},
};

/* The rate of step t + 1 from the formulas above: LinearLR until the milestone, then the schedule
 * counted from it (SequentialLR). */
static double torch_schedule(const tg_schedule *s, double base, long t)
{
    if (t < s->warmup_steps)
        return torch_linear(base, t, s->warmup_steps, s->warmup_start);
    t -= s->warmup_steps;
    if (s->kind == TG_SCHED_STEP)
        return torch_step(base, t, s->step_size, s->gamma);
    if (s->kind == TG_SCHED_COSINE)
        return torch_cosine(base, t, s->t_max, s->eta_min);
    return base;
}

static void assert_rel(double got, double want, double rel, const char *what, long t)
{
    double err = fabs(got - want);
    cr_assert(err <= rel * fabs(want), "%s: t = %ld: %.17g, expected %.17g", what, t, got, want);
}

TABLE_TEST(schedule, matches_pytorch_formulas_over_100_steps, schedules)
{
    const char *what = schedules[*row].name;
    const tg_schedule *s = &schedules[*row].s;
    cr_assert_eq(tg_schedule_check(s, NULL), TG_OK, "%s", what);
    for (long t = 0; t < 100; t++)
        assert_rel(tg_schedule_lr(s, schedules[*row].base, t), torch_schedule(s, schedules[*row].base, t), 1e-6, what,
                   t);
}

Test(schedule, pure_functions_match_the_formulas)
{
    for (long t = 0; t < 100; t++) {
        assert_rel(tg_lr_step(0.1, t, 30, 0.1), torch_step(0.1, t, 30, 0.1), 1e-12, "tg_lr_step", t);
        assert_rel(tg_lr_cosine(0.1, t, 70, 0.002), torch_cosine(0.1, t, 70, 0.002), 1e-12, "tg_lr_cosine", t);
        assert_rel(tg_lr_warmup(0.1, t, 40, 0.25), torch_linear(0.1, t, 40, 0.25), 1e-12, "tg_lr_warmup", t);
    }
    /* Landmarks: the first step at the base rate (or the warm-up's start), halfway down the cosine
     * at t_max/2, the floor at t_max; the step decays exactly at multiples of step_size. */
    cr_assert_eq(tg_lr_cosine(0.1, 0, 100, 0.0), 0.1);
    assert_rel(tg_lr_cosine(0.1, 50, 100, 0.0), 0.05, 1e-15, "cosine halfway", 50);
    cr_assert_eq(tg_lr_cosine(0.1, 100, 100, 0.01), 0.01);
    cr_assert_eq(tg_lr_cosine(0.1, 1000, 100, 0.01), 0.01, "held at eta_min after t_max");
    cr_assert_eq(tg_lr_step(1.0, 29, 30, 0.5), 1.0);
    cr_assert_eq(tg_lr_step(1.0, 30, 30, 0.5), 0.5);
    cr_assert_eq(tg_lr_warmup(0.1, 0, 10, 0.0), 0.0, "a warm-up from 0 starts at 0");
    cr_assert_eq(tg_lr_warmup(0.1, 10, 10, 0.0), 0.1);
}

/* PyTorch's schedulers step recursively (get_lr from the previous rate); its closed forms are the
 * documented solutions.  The library's rates follow the recursions too. */
Test(schedule, follows_pytorch_recursive_forms)
{
    /* CosineAnnealingLR.get_lr for 0 < t <= T_max (no restart within it):
     *   η_t = (1 + cos(π t/T)) / (1 + cos(π (t−1)/T)) · (η_{t−1} − η_min) + η_min */
    const double base = 0.1, eta_min = 1e-3;
    const long T = 100;
    double eta = base;
    for (long t = 1; t < T; t++) {
        eta = (1 + cos(PI * (double)t / (double)T)) / (1 + cos(PI * (double)(t - 1) / (double)T)) * (eta - eta_min) +
              eta_min;
        assert_rel(tg_lr_cosine(base, t, T, eta_min), eta, 1e-6, "cosine, recursive", t);
    }
    /* LinearLR.get_lr for 0 < t <= total:
     *   η_t = η_{t−1} · (1 + (end − start) / (total·start + (t − 1)·(end − start))) */
    const double start = 1.0 / 3.0;
    const long total = 50;
    double lr = base * start;
    for (long t = 1; t < 100; t++) {
        if (t <= total)
            lr *= 1 + (1 - start) / ((double)total * start + (double)(t - 1) * (1 - start));
        assert_rel(tg_lr_warmup(base, t, total, start), lr, 1e-6, "linear, recursive", t);
    }
    /* StepLR.get_lr: η_t = η_{t−1}·γ when t % step_size == 0, else η_{t−1}. */
    lr = base;
    for (long t = 1; t < 100; t++) {
        if (t % 30 == 0)
            lr *= 0.1;
        assert_rel(tg_lr_step(base, t, 30, 0.1), lr, 1e-6, "step, recursive", t);
    }
}

Test(schedule, bad_schedules_rejected_naming_the_field)
{
    struct {
        tg_schedule s;
        const char *field;
    } cases[] = {
        {{.kind = (tg_sched_kind)9}, "kind"},
        {{.kind = TG_SCHED_CONSTANT, .warmup_steps = -1}, "warmup_steps"},
        {{.kind = TG_SCHED_CONSTANT, .warmup_steps = 5, .warmup_start = 1.5f}, "warmup_start"},
        {{.kind = TG_SCHED_CONSTANT, .warmup_steps = 5, .warmup_start = NAN}, "warmup_start"},
        {{.kind = TG_SCHED_STEP, .step_size = 0, .gamma = 0.5f}, "step_size"},
        {{.kind = TG_SCHED_STEP, .step_size = 10, .gamma = 0}, "gamma"},
        {{.kind = TG_SCHED_STEP, .step_size = 10, .gamma = INFINITY}, "gamma"},
        {{.kind = TG_SCHED_COSINE, .t_max = 0}, "t_max"},
        {{.kind = TG_SCHED_COSINE, .t_max = 10, .eta_min = -1e-3f}, "eta_min"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        tg_error err = {0};
        cr_assert_eq(tg_schedule_check(&cases[k].s, &err), TG_ERR_ARG, "case %zu accepted", k);
        cr_assert(strstr(err.msg, cases[k].field) != NULL, "case %zu: '%s' does not name %s", k, err.msg,
                  cases[k].field);
    }
    /* Fields of other kinds are not looked at; a warm-up of 0 steps needs no start. */
    cr_assert_eq(tg_schedule_check(&(tg_schedule){.kind = TG_SCHED_COSINE, .t_max = 5, .gamma = -1}, NULL), TG_OK);
    cr_assert_eq(tg_schedule_check(&(tg_schedule){.kind = TG_SCHED_CONSTANT, .warmup_start = 7}, NULL), TG_OK);
}

/* ---- an optimizer applying a schedule --------------------------------------------------------- */

/* Each run's schedule, and the same schedule from the formulas above for the reference. */
#define COSINE_WARM {.kind = TG_SCHED_COSINE, .warmup_steps = 10, .warmup_start = 0.1f, .t_max = 90, .eta_min = 1e-4f}
#define STEP_WARM {.kind = TG_SCHED_STEP, .warmup_steps = 5, .step_size = 20, .gamma = 0.5f}
#define WARM_ONLY {.kind = TG_SCHED_CONSTANT, .warmup_steps = 30, .warmup_start = 1.0f / 3.0f}
static const tg_schedule cosine_warm = COSINE_WARM, step_warm = STEP_WARM, warm_only = WARM_ONLY;
static double ref_cosine_warm(double base, long t) { return torch_schedule(&(tg_schedule)COSINE_WARM, base, t); }
static double ref_step_warm(double base, long t) { return torch_schedule(&(tg_schedule)STEP_WARM, base, t); }
static double ref_warm_only(double base, long t) { return torch_schedule(&(tg_schedule)WARM_ONLY, base, t); }

static const struct {
    const char *name;
    ref_setup setup;
} scheduled_runs[] = {
    {"sgd momentum, warm-up then cosine",
     {.cfg = {.kind = TG_OPT_SGD, .lr = 0.02f, .momentum = 0.9f}, .schedule = &cosine_warm,
      .ref_lr = ref_cosine_warm}},
    {"adamw, warm-up then step",
     {.cfg = {.kind = TG_OPT_ADAMW, .lr = 0.03125f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
              .weight_decay = 0.25f},
      .schedule = &step_warm, .ref_lr = ref_step_warm}},
    {"adam, warm-up then cosine",
     {.cfg = {.kind = TG_OPT_ADAM, .lr = 0.03f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f}, .schedule = &cosine_warm,
      .ref_lr = ref_cosine_warm}},
    {"rmsprop centered, warm-up",
     {.cfg = {.kind = TG_OPT_RMSPROP, .lr = 0.01f, .alpha = 0.99f, .eps = 1e-8f, .centered = true},
      .schedule = &warm_only, .ref_lr = ref_warm_only}},
    /* groups: each group's base rate is scheduled; eta_min is the same absolute floor for both */
    {"adamw with b at a quarter of the rate and no decay, warm-up then cosine",
     {.cfg = {.kind = TG_OPT_ADAMW, .lr = 0.0625f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
              .weight_decay = 0.125f},
      .bias_group = true, .group = {.lr_scale = 0.25f, .weight_decay = 0.0f}, .schedule = &cosine_warm,
      .ref_lr = ref_cosine_warm}},
    {"sgd with b at twice the rate, warm-up then step",
     {.cfg = {.kind = TG_OPT_SGD, .lr = 0.01f, .momentum = 0.5f, .weight_decay = 0.01f}, .bias_group = true,
      .group = {.lr_scale = 2.0f, .weight_decay = 0.0f}, .schedule = &step_warm, .ref_lr = ref_step_warm}},
};

/* 100 steps, each at the scheduled rate (tg_optim_lr reports it beforehand), every parameter
 * within 1e-6 of the reference. */
TABLE_TEST(schedule, optimizer_applies_it_over_100_steps, scheduled_runs)
{
    double worst = ref_compare_run(&scheduled_runs[*row].setup, 100, 1e-6, scheduled_runs[*row].name);
    cr_log_info("%-72s max relative error %.2e", scheduled_runs[*row].name, worst);
}

Test(schedule, set_and_cleared_on_the_optimizer)
{
    ref_setup s = {.cfg = {.kind = TG_OPT_SGD, .lr = 0.1f}};
    ref_lib l;
    ref_lib_init(&l, &s);
    tg_error err = {0};
    cr_assert_eq(tg_optim_set_schedule(&l.o, &(tg_schedule){.kind = TG_SCHED_STEP, .step_size = 0}, &err),
                 TG_ERR_ARG);
    cr_assert(!l.o.scheduled, "a refused schedule is not applied");
    cr_assert_eq(tg_optim_set_schedule(&l.o, &warm_only, &err), TG_OK, "%s", err.msg);
    cr_assert_float_eq(tg_optim_lr(&l.o, 0), 0.1f / 3.0f, 1e-9);
    l.o.step = 30;
    cr_assert_eq(tg_optim_lr(&l.o, 0), 0.1f, "the warm-up is over at its last step");
    l.o.step = 3;
    cr_assert_eq(tg_optim_set_schedule(&l.o, NULL, &err), TG_OK);
    cr_assert_eq(tg_optim_lr(&l.o, 0), 0.1f, "without a schedule, cfg.lr");
    ref_lib_free(&l);
    tg_optimizer empty = {0};
    cr_assert_eq(tg_optim_set_schedule(&empty, &warm_only, &err), TG_ERR_STATE);
    cr_assert_eq(tg_optim_lr(&empty, 0), -1.0f);
}
