/* nn/schedule.c — learning-rate schedules: pure functions of the step count (formulas in optim.h),
 * in double, as PyTorch's closed forms compute them. */
#include "optim.h"

#include <math.h>

static const double PI = 3.14159265358979323846;

double tg_lr_step(double base_lr, long t, long step_size, double gamma)
{
    if (t <= 0 || step_size < 1)
        return base_lr;
    return base_lr * pow(gamma, (double)(t / step_size));
}

double tg_lr_cosine(double base_lr, long t, long t_max, double eta_min)
{
    if (t <= 0 || t_max < 1)
        return base_lr;
    if (t >= t_max)
        return eta_min;
    return eta_min + (base_lr - eta_min) * (1.0 + cos(PI * (double)t / (double)t_max)) / 2.0;
}

double tg_lr_warmup(double base_lr, long t, long warmup_steps, double start)
{
    if (t >= warmup_steps || warmup_steps < 1)
        return base_lr;
    if (t <= 0)
        return base_lr * start;
    return base_lr * (start + (1.0 - start) * (double)t / (double)warmup_steps);
}

double tg_schedule_lr(const tg_schedule *s, double base_lr, long t)
{
    if (t < 0)
        return base_lr;
    if (t < s->warmup_steps)
        return tg_lr_warmup(base_lr, t, s->warmup_steps, s->warmup_start);
    t -= s->warmup_steps;
    switch (s->kind) {
    case TG_SCHED_STEP: return tg_lr_step(base_lr, t, s->step_size, s->gamma);
    case TG_SCHED_COSINE: return tg_lr_cosine(base_lr, t, s->t_max, s->eta_min);
    case TG_SCHED_CONSTANT: break;
    }
    return base_lr;
}

int tg_schedule_check(const tg_schedule *s, tg_error *err)
{
    if (!s)
        return tg_error_set(err, TG_ERR_ARG, "schedule: NULL");
    if (s->kind != TG_SCHED_CONSTANT && s->kind != TG_SCHED_STEP && s->kind != TG_SCHED_COSINE)
        return tg_error_set(err, TG_ERR_ARG, "schedule: kind = %d is not constant (%d), step (%d) or cosine (%d)",
                            (int)s->kind, TG_SCHED_CONSTANT, TG_SCHED_STEP, TG_SCHED_COSINE);
    if (s->warmup_steps < 0)
        return tg_error_set(err, TG_ERR_ARG, "schedule: warmup_steps = %ld (must be >= 0)", s->warmup_steps);
    if (s->warmup_steps > 0 && !(s->warmup_start >= 0.0f && s->warmup_start <= 1.0f))
        return tg_error_set(err, TG_ERR_ARG, "schedule: warmup_start = %g (must be in [0, 1])", s->warmup_start);
    if (s->kind == TG_SCHED_STEP) {
        if (s->step_size < 1)
            return tg_error_set(err, TG_ERR_ARG, "schedule step: step_size = %ld (must be >= 1)", s->step_size);
        if (!(isfinite(s->gamma) && s->gamma > 0.0f))
            return tg_error_set(err, TG_ERR_ARG, "schedule step: gamma = %g (must be finite and > 0)", s->gamma);
    }
    if (s->kind == TG_SCHED_COSINE) {
        if (s->t_max < 1)
            return tg_error_set(err, TG_ERR_ARG, "schedule cosine: t_max = %ld (must be >= 1)", s->t_max);
        if (!(isfinite(s->eta_min) && s->eta_min >= 0.0f))
            return tg_error_set(err, TG_ERR_ARG, "schedule cosine: eta_min = %g (must be finite and >= 0)",
                                s->eta_min);
    }
    return TG_OK;
}
