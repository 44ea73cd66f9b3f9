/* The optimizer and schedule options of the training commands: see optim_cli.h. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/io/atomic_file.h"

/* --optimizer's values, in the order help and messages list them. */
static const char *const KIND_CHOICES[] = {"adam", "adamw", "rmsprop", "sgd"};
#define N_KIND_CHOICES (int)(sizeof KIND_CHOICES / sizeof KIND_CHOICES[0])

#define KIND(k) (1u << (unsigned)(k))

/* Which option goes with which optimizer: the one place that decides it.  An option given with
 * an optimizer not in its row is refused (it would be ignored); options not listed here
 * (--lr, --weight-decay, --schedule, --warmup) apply to every optimizer. */
static const struct optimizer_option {
    const char *name;
    unsigned kinds;
} OPTIMIZER_OPTIONS[] = {
    {"--momentum", KIND(TG_OPT_SGD) | KIND(TG_OPT_RMSPROP)},
    {"--adam-eps", KIND(TG_OPT_ADAM) | KIND(TG_OPT_ADAMW)},
    {"--rms-alpha", KIND(TG_OPT_RMSPROP)},
    {"--centered", KIND(TG_OPT_RMSPROP)},
};
#define N_OPTIMIZER_OPTIONS (sizeof OPTIMIZER_OPTIONS / sizeof OPTIMIZER_OPTIONS[0])

/* One line "--momentum applies to --optimizer rmsprop|sgd only, not adam" for the first option
 * given that `kind` does not take. */
static bool refuse_foreign_options(const tg_cli *c, tg_opt_kind kind)
{
    for (size_t i = 0; i < N_OPTIMIZER_OPTIONS; i++) {
        const struct optimizer_option *o = &OPTIMIZER_OPTIONS[i];
        if ((o->kinds & KIND(kind)) || !tg_cli_given(c, o->name))
            continue;
        char list[64] = "";
        for (int k = 0; k < N_KIND_CHOICES; k++)
            if (o->kinds & KIND(tg_opt_kind_parse(KIND_CHOICES[k])))
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", *list ? "|" : "", KIND_CHOICES[k]);
        tg_cli_say(c->program, "%s applies to --optimizer %s only, not %s", o->name, list, tg_opt_kind_name(kind));
        return false;
    }
    return true;
}

bool tg_cli_optimizer(const tg_cli *c, tg_opt_config *out)
{
    return tg_cli_optimizer_or(c, TG_OPT_ADAM, 1e-3f, out);
}

bool tg_cli_optimizer_or(const tg_cli *c, tg_opt_kind default_kind, float default_lr, tg_opt_config *out)
{
    int choice = 0;
    for (int k = 0; k < N_KIND_CHOICES; k++)
        if (tg_opt_kind_parse(KIND_CHOICES[k]) == (int)default_kind)
            choice = k;
    if (!tg_cli_choice(c, "--optimizer", KIND_CHOICES, N_KIND_CHOICES, &choice))
        return false;
    tg_opt_kind kind = (tg_opt_kind)tg_opt_kind_parse(KIND_CHOICES[choice]);
    if (!refuse_foreign_options(c, kind))
        return false;
    *out = tg_opt_config_default(kind); /* AdamW's weight decay 0.01, RMSprop's alpha 0.99 */
    out->lr = default_lr; /* the programs' default: 1e-3 for every optimizer (SGD's and RMSprop's library default is 0.01) */
    out->centered = tg_cli_given(c, "--centered");
    return tg_cli_float(c, "--lr", TG_OPT_MIN_LR, TG_OPT_MAX_LR, false, &out->lr) &&
           tg_cli_float(c, "--momentum", 0, TG_OPT_MAX_MOMENTUM, false, &out->momentum) &&
           tg_cli_float(c, "--adam-eps", TG_OPT_MIN_EPS, TG_OPT_MAX_EPS, false, &out->eps) &&
           tg_cli_float(c, "--weight-decay", 0, TG_CLI_MAX_WEIGHT_DECAY, false, &out->weight_decay) &&
           tg_cli_float(c, "--rms-alpha", 0, TG_OPT_MAX_MOMENTUM, false, &out->alpha);
}

double tg_cli_state_copies(const tg_opt_config *cfg)
{
    double momentum = cfg->momentum > 0.0f ? 1.0 : 0.0;
    switch (cfg->kind) {
    case TG_OPT_ADAM:
    case TG_OPT_ADAMW: return 3.0;
    case TG_OPT_RMSPROP: return 2.0 + momentum + (cfg->centered ? 1.0 : 0.0);
    case TG_OPT_SGD:
    default: return 1.0 + momentum;
    }
}

/* ---- the schedule ------------------------------------------------------------------------- */

bool tg_cli_schedule_active(const tg_schedule *s)
{
    return s->kind != TG_SCHED_CONSTANT || s->warmup_steps > 0;
}

/* A whole number of decimal digits in lo..hi. */
static bool whole_field(const char *f, long lo, long hi, long *out)
{
    if (!isdigit((unsigned char)*f))
        return false;
    char *end;
    errno = 0;
    long v = strtol(f, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* A finite number in [lo, hi] ((lo, hi] when lo_open) that a float holds (non-zero stays non-zero). */
static bool float_field(const char *f, double lo, bool lo_open, double hi, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(f, &end);
    if (end == f || *end || errno == ERANGE || !isfinite(v) || v < lo || (lo_open && v == lo) || v > hi ||
        (v != 0.0 && fabs(v) < FLT_MIN))
        return false;
    *out = (float)v;
    return true;
}

bool tg_cli_schedule_parse(const char *text, tg_schedule *s)
{
    char buf[128];
    if (!text || strlen(text) >= sizeof buf)
        return false;
    strcpy(buf, text);
    char *field[3] = {buf, NULL, NULL};
    int n = 1;
    for (char *p = buf; *p; p++)
        if (*p == ':') {
            if (n == 3)
                return false;
            *p = '\0';
            field[n++] = p + 1;
        }
    tg_schedule r = *s;
    bool ok;
    if (!strcmp(field[0], "none") && n == 1) {
        r.kind = TG_SCHED_CONSTANT;
        ok = true;
    } else if (!strcmp(field[0], "step") && n == 3) {
        r.kind = TG_SCHED_STEP;
        ok = whole_field(field[1], 1, LONG_MAX, &r.step_size) && float_field(field[2], 0.0, true, 1.0, &r.gamma);
    } else if (!strcmp(field[0], "cosine")) {
        r.kind = TG_SCHED_COSINE;
        r.t_max = 0;
        r.eta_min = 0.0f;
        ok = (n < 2 || whole_field(field[1], 1, LONG_MAX, &r.t_max)) &&
             (n < 3 || float_field(field[2], 0.0, false, TG_OPT_MAX_LR, &r.eta_min));
    } else
        ok = false;
    if (ok)
        *s = r;
    return ok;
}

void tg_cli_schedule_format(const tg_schedule *s, char *text, size_t len)
{
    switch (s->kind) {
    case TG_SCHED_STEP: snprintf(text, len, "step:%ld:%.9g", s->step_size, (double)s->gamma); break;
    case TG_SCHED_COSINE: snprintf(text, len, "cosine:%ld:%.9g", s->t_max, (double)s->eta_min); break;
    case TG_SCHED_CONSTANT:
    default: snprintf(text, len, "none"); break;
    }
}

bool tg_cli_schedule(const tg_cli *c, tg_schedule *s)
{
    const char *text = tg_cli_value(c, "--schedule");
    if (text && !tg_cli_schedule_parse(text, s)) {
        tg_cli_say(c->program,
                   "--schedule: '%s' is not %s (EVERY and T_MAX whole numbers >= 1, GAMMA in (0, 1], ETA_MIN in [0, 1e9])",
                   text, TG_CLI_SCHEDULE_FORMAT);
        return false;
    }
    long warmup = s->warmup_steps;
    if (!tg_cli_long(c, "--warmup", 0, TG_CLI_MAX_WARMUP, &warmup))
        return false;
    s->warmup_steps = warmup;
    s->warmup_start = 0.0f; /* from a rate of 0, as Hugging Face's warm-up */
    return true;
}

/* ---- checkpoint metadata -------------------------------------------------------------------- */

int tg_cli_add_optimizer_meta(tg_checkpoint *ck, const tg_opt_config *cfg, const tg_schedule *s, tg_error *err)
{
    int rc = TG_OK;
    if (cfg->weight_decay > 0.0f)
        rc = tg_ckpt_set_meta_fmt(ck, "weight_decay", err, "%.9g", (double)cfg->weight_decay);
    if (!rc && cfg->kind == TG_OPT_RMSPROP &&
        !(rc = tg_ckpt_set_meta_fmt(ck, "rms_alpha", err, "%.9g", (double)cfg->alpha)))
        rc = tg_ckpt_set_meta(ck, "centered", cfg->centered ? "1" : "0", err);
    if (!rc && s->kind != TG_SCHED_CONSTANT) {
        char text[96];
        tg_cli_schedule_format(s, text, sizeof text);
        rc = tg_ckpt_set_meta(ck, "schedule", text, err);
    }
    if (!rc && s->warmup_steps > 0)
        rc = tg_ckpt_set_meta_fmt(ck, "warmup", err, "%ld", s->warmup_steps);
    return rc;
}

/* The schedule and warm-up keys (absent: none). */
static int schedule_from_checkpoint(const tg_checkpoint *ck, const char *path, tg_schedule *s, tg_error *err)
{
    tg_schedule r = {.kind = TG_SCHED_CONSTANT};
    uint64_t warmup = 0;
    int rc = tg_ckpt_meta_uint(ck, path, "warmup", false, 0, (uint64_t)TG_CLI_MAX_WARMUP, &warmup, err);
    if (rc)
        return rc;
    const char *text = tg_ckpt_get_meta(ck, "schedule");
    if (text && (!tg_cli_schedule_parse(text, &r) || (r.kind == TG_SCHED_COSINE && r.t_max == 0)))
        return tg_file_error(err, TG_ERR_FORMAT, path, "metadata schedule=%s is not %s (with cosine's T_MAX)", text,
                             TG_CLI_SCHEDULE_FORMAT);
    r.warmup_steps = (long)warmup;
    *s = r;
    return TG_OK;
}

int tg_cli_optimizer_from_checkpoint(const tg_checkpoint *ck, const char *path, tg_opt_config *cfg, tg_schedule *s,
                                     tg_error *err)
{
    const char *name = tg_ckpt_get_meta(ck, "optimizer");
    int kind = tg_opt_kind_parse(name);
    if (kind < 0)
        return tg_file_error(err, TG_ERR_FORMAT, path, "not resumable: no optimizer state (optimizer=%s)",
                             name ? name : "missing");
    tg_opt_config r = tg_opt_config_default((tg_opt_kind)kind);
    const bool rmsprop = kind == TG_OPT_RMSPROP;
    double lr = 0, mom = 0, eps = 0, wd = 0, alpha = r.alpha; /* absent weight_decay: none, AdamW's too */
    uint64_t centered = 0;
    int rc;
    if ((rc = tg_ckpt_meta_real(ck, path, "lr", true, TG_OPT_MIN_LR, TG_OPT_MAX_LR, &lr, err)) ||
        (rc = tg_ckpt_meta_real(ck, path, "momentum", true, 0, TG_OPT_MAX_MOMENTUM, &mom, err)) ||
        /* SGD has no epsilon and stores 0 */
        (rc = tg_ckpt_meta_real(ck, path, "adam_eps", true, kind == TG_OPT_SGD ? 0 : TG_OPT_MIN_EPS, TG_OPT_MAX_EPS,
                                &eps, err)) ||
        (rc = tg_ckpt_meta_real(ck, path, "weight_decay", false, 0, TG_CLI_MAX_WEIGHT_DECAY, &wd, err)) ||
        (rc = tg_ckpt_meta_real(ck, path, "rms_alpha", rmsprop, 0, TG_OPT_MAX_MOMENTUM, &alpha, err)) ||
        (rc = tg_ckpt_meta_uint(ck, path, "centered", false, 0, rmsprop ? 1 : 0, &centered, err)) ||
        (rc = schedule_from_checkpoint(ck, path, s, err)))
        return rc;
    r.lr = (float)lr;
    r.momentum = (float)mom;
    r.eps = (float)eps;
    r.weight_decay = (float)wd;
    r.alpha = (float)alpha;
    r.centered = centered != 0;
    *cfg = r;
    return TG_OK;
}
