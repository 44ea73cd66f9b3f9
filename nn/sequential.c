/* nn/sequential.c — tg_seq_build's parser and the forward pass of a layer stack. */
#include "sequential.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { WORD_MAX = 64 };

static const char SEPARATORS[] = " ,\t\n";

void tg_seq_free(tg_sequential *s)
{
    for (int k = 0; s && k < s->count; k++) {
        tg_seq_layer *l = &s->layers[k];
        if (l->kind == TG_SEQ_DENSE)
            tg_dense_free(&l->dense);
        else if (l->kind == TG_SEQ_LAYER_NORM)
            tg_param_free(&l->gamma), tg_param_free(&l->beta);
    }
    if (s) {
        tg_param_list_free(&s->params);
        free(s->layers);
        memset(s, 0, sizeof *s);
    }
}

/* The number after "name:" in word as a whole positive count, or 0. */
static size_t parse_count(const char *text)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    return errno || end == text || (*end && *end != ':') || v < 1 ? 0 : (size_t)v;
}

static bool next_is_relu_family(const char *rest)
{
    rest += strspn(rest, SEPARATORS);
    tg_activation act;
    char word[WORD_MAX];
    size_t len = strcspn(rest, SEPARATORS);
    if (len == 0 || len >= sizeof word)
        return false;
    memcpy(word, rest, len), word[len] = 0;
    return tg_activation_parse(word, &act) == TG_OK &&
           (act.kind == TG_ACT_RELU || act.kind == TG_ACT_LEAKY_RELU || act.kind == TG_ACT_ELU);
}

static int add_dense(tg_sequential *s, tg_seq_layer *l, const char *word, const char *rest, tg_rng *rng,
                     tg_error *err)
{
    size_t out = parse_count(word + 6);
    const char *opt = strchr(word + 6, ':');
    if (out == 0 || (opt && strcmp(opt, ":nobias")))
        return tg_error_set(err, TG_ERR_ARG, "sequential: \"%s\": expected dense:N or dense:N:nobias, N >= 1", word);
    char name[TG_PARAM_NAME_MAX];
    snprintf(name, sizeof name, "%s%d", s->name, s->count);
    tg_init_kind init = next_is_relu_family(rest) ? TG_INIT_HE_NORMAL : TG_INIT_GLOROT_UNIFORM;
    l->kind = TG_SEQ_DENSE;
    int rc = tg_dense_init_ex(&l->dense, name, s->width, out, !opt, init, rng, err);
    if (rc == TG_OK)
        s->width = out;
    return rc ? rc : tg_param_list_add_dense(&s->params, &l->dense, err);
}

static int add_layer_norm(tg_sequential *s, tg_seq_layer *l, tg_error *err)
{
    char name[2][TG_PARAM_NAME_MAX];
    snprintf(name[0], sizeof name[0], "%s%d.weight", s->name, s->count);
    snprintf(name[1], sizeof name[1], "%s%d.bias", s->name, s->count);
    l->kind = TG_SEQ_LAYER_NORM;
    int rc;
    if ((rc = tg_param_init(&l->gamma, name[0], 1, (size_t[]){s->width}, err)) ||
        (rc = tg_param_init(&l->beta, name[1], 1, (size_t[]){s->width}, err)) ||
        (rc = tg_param_list_add(&s->params, &l->gamma, err)) || (rc = tg_param_list_add(&s->params, &l->beta, err)))
        return rc;
    tg_tensor_fill(&l->gamma.value, 1.0f); /* β starts at 0 */
    return TG_OK;
}

/* Appends the layer that `word` names; `rest` is the text after it. */
static int add_word(tg_sequential *s, const char *word, const char *rest, tg_rng *rng, tg_error *err)
{
    tg_seq_layer *l = &s->layers[s->count];
    memset(l, 0, sizeof *l);
    int rc;
    if (!strncmp(word, "dense:", 6))
        rc = add_dense(s, l, word, rest, rng, err);
    else if (!strcmp(word, "layer_norm"))
        rc = add_layer_norm(s, l, err);
    else if (!strncmp(word, "dropout:", 8)) {
        char *end;
        double rate = strtod(word + 8, &end);
        l->kind = TG_SEQ_DROPOUT, l->rate = (float)rate;
        rc = *end || end == word + 8 || !(rate >= 0.0 && rate < 1.0)
                 ? tg_error_set(err, TG_ERR_ARG, "sequential: \"%s\": the rate must be in [0,1)", word)
                 : TG_OK;
    } else {
        l->kind = TG_SEQ_ACTIVATION;
        rc = tg_activation_parse(word, &l->act)
                 ? tg_error_set(err, TG_ERR_ARG, "sequential: \"%s\": not a layer (dense:N, %s, dropout:P, layer_norm)",
                                word, tg_activation_choices())
                 : TG_OK;
    }
    if (rc == TG_OK)
        s->count++;
    else if (l->kind == TG_SEQ_DENSE) /* a half-built layer: the list holds none of its parameters */
        tg_dense_free(&l->dense);
    else if (l->kind == TG_SEQ_LAYER_NORM)
        tg_param_free(&l->gamma), tg_param_free(&l->beta);
    return rc;
}

int tg_seq_build(tg_sequential *s, const char *name, size_t inputs, const char *spec, uint64_t seed,
                 tg_error *err)
{
    memset(s, 0, sizeof *s);
    tg_param_list_init(&s->params);
    if (inputs == 0 || !spec)
        return tg_error_set(err, TG_ERR_ARG, "sequential: needs inputs >= 1 and a layer list");
    if (name && *name && strlen(name) + 1 >= sizeof s->name)
        return tg_error_set(err, TG_ERR_ARG, "sequential: the name \"%s\" is longer than %zu bytes", name,
                            sizeof s->name - 2);
    if (name && *name)
        snprintf(s->name, sizeof s->name, "%s.", name);
    const size_t words = strlen(spec) / 2 + 1; /* an upper bound: each word and separator is >= 1 byte */
    if (!(s->layers = calloc(words, sizeof *s->layers)))
        return tg_error_set(err, TG_ERR_NOMEM, "sequential: cannot allocate %zu layers", words);
    s->inputs = s->width = inputs;
    tg_rng rng;
    tg_rng_seed(&rng, seed, 0);
    int rc = TG_OK;
    for (const char *p = spec + strspn(spec, SEPARATORS); *p && rc == TG_OK; p += strspn(p, SEPARATORS)) {
        char word[WORD_MAX];
        size_t len = strcspn(p, SEPARATORS);
        if (len >= sizeof word)
            rc = tg_error_set(err, TG_ERR_ARG, "sequential: a layer word of %zu bytes (at most %d)", len, WORD_MAX - 1);
        else {
            memcpy(word, p, len), word[len] = 0;
            rc = add_word(s, word, p + len, &rng, err);
        }
        p += len;
    }
    if (rc == TG_OK && s->count == 0)
        rc = tg_error_set(err, TG_ERR_ARG, "sequential: \"%s\" names no layer", spec);
    if (rc)
        tg_seq_free(s);
    return rc;
}

tg_node *tg_seq_forward(tg_tape *t, void *self, tg_node *x, uint64_t step)
{
    tg_sequential *s = self;
    for (int k = 0; k < s->count && x; k++) {
        tg_seq_layer *l = &s->layers[k];
        switch (l->kind) {
        case TG_SEQ_DENSE:
            x = tg_dense_forward(t, &l->dense, x);
            break;
        case TG_SEQ_ACTIVATION:
            x = tg_activate(t, x, l->act);
            break;
        case TG_SEQ_DROPOUT: /* one mask per (step, layer): never the same twice in a run */
            x = tg_dropout(t, x, l->rate, step * (uint64_t)s->count + (uint64_t)k);
            break;
        case TG_SEQ_LAYER_NORM:
            x = tg_layer_norm(t, x, tg_param_leaf(t, &l->gamma), tg_param_leaf(t, &l->beta), 1e-5f);
            break;
        }
    }
    return x;
}

tg_model tg_seq_model(tg_sequential *s)
{
    return (tg_model){.self = s, .forward = tg_seq_forward, .params = &s->params};
}
